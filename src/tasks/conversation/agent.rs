//! Agent turns of the conversation service. The agent of a conversation
//! lives here across turns (its tool calls and results are its memory)
//! and each turn runs off the caller's task: [`crate::agent::Agent::turn`]
//! reports through a callback that is not `Send`, so the turn is driven on
//! a blocking thread with the runtime's handle, and its events go to the
//! front end as plain [`Notification::Agent`] data.
//!
//! A turn is interrupted through its watch channel ([`AgentTurns::interrupt`]):
//! the agent stops the step in progress and reports the turn as aborted, as
//! `lore agent` does on Ctrl-C.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, watch};

use super::{notify, Notification};
use crate::agent::fsroot::Root as Workspace;
use crate::agent::protocol::Event;
use crate::agent::rollout::{Meta, Writer};
use crate::agent::{Agent, Config};
use crate::model::{Model, ModelInfo};

/// The agent's configuration for a model (the `agent.*` settings).
pub type AgentConfig = Arc<dyn Fn(&ModelInfo) -> Result<Config, String> + Send + Sync>;

/// What agent mode needs, prepared by the application root.
#[derive(Clone)]
pub struct AgentParts {
    /// The directory the agent reads: the git top level, or `--cd`.
    pub workspace: Workspace,
    pub config: AgentConfig,
    /// Where each agent session is logged (JSONL, as `lore agent` logs);
    /// `None` logs nothing.
    pub logs_dir: Option<PathBuf>,
    /// lore's index for the agent's `search`, when one exists.
    pub search: Option<crate::tasks::grounded::Retrieval>,
}

/// What an agent turn reports besides the agent's own events.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentUpdate {
    /// The turn begins, in this workspace, with this step limit.
    Started { root: PathBuf, max_steps: usize },
    /// One of the agent's events; `TurnCompleted` ends the turn.
    Event(Event),
}

/// The agent of the conversation and the model it was made with.
struct Session {
    agent: Agent,
    model: Model,
}

/// The agent side of the service: the parts, the kept agent and the
/// running turn's interrupt.
#[derive(Default)]
pub(super) struct AgentTurns {
    parts: Option<AgentParts>,
    session: Arc<Mutex<Option<Session>>>,
    /// The next turn starts a new agent (a new conversation).
    fresh: bool,
    interrupt: Option<watch::Sender<bool>>,
}

/// One agent turn, ready to run once the model is known.
pub(super) struct AgentJob {
    id: u64,
    request: String,
    parts: AgentParts,
    session: Arc<Mutex<Option<Session>>>,
    fresh: bool,
    cancel: watch::Receiver<bool>,
}

impl AgentTurns {
    pub(super) fn set_parts(&mut self, parts: AgentParts) {
        self.parts = Some(parts);
        self.fresh = true;
    }

    /// The next turn starts a new agent session.
    pub(super) fn reset(&mut self) {
        self.fresh = true;
    }

    /// A turn for `user` (with the piped `attachment`, if any), or why
    /// agent mode cannot run here.
    pub(super) fn job(
        &mut self,
        id: u64,
        user: &str,
        attachment: Option<&str>,
    ) -> Result<AgentJob, String> {
        let parts = self.parts.clone().ok_or_else(|| {
            "agent mode needs a workspace: start lore chat in a directory it can read, or give --cd DIR"
                .to_string()
        })?;
        let request = match attachment {
            Some(a) => format!("{user}\n\n```\n{}\n```", a.trim_end()),
            None => user.to_string(),
        };
        let (tx, cancel) = watch::channel(false);
        self.interrupt = Some(tx);
        Ok(AgentJob {
            id,
            request,
            parts,
            session: self.session.clone(),
            fresh: std::mem::take(&mut self.fresh),
            cancel,
        })
    }

    /// Asks the running turn to stop; it then ends as aborted.
    pub(super) fn interrupt(&mut self) {
        if let Some(tx) = self.interrupt.take() {
            let _ = tx.send(true);
        }
    }
}

impl AgentJob {
    /// Runs the turn with `model` to its end, reporting on `tx`.
    pub(super) async fn run(self, model: Model, tx: mpsc::UnboundedSender<Notification>) {
        let handle = tokio::runtime::Handle::current();
        let id = self.id;
        let failed = tx.clone();
        let joined = tokio::task::spawn_blocking(move || {
            // Held for the whole turn: the next turn waits for this one.
            let mut session = self.session.lock().unwrap_or_else(PoisonError::into_inner);
            let same_model = session
                .as_ref()
                .is_some_and(|s| same(&s.model, &model) && !self.fresh);
            if !same_model {
                match new_session(&self.parts, model, &tx) {
                    Ok(s) => *session = Some(s),
                    Err(message) => return notify(&tx, Notification::Failed { turn: id, message }),
                }
            }
            let Some(s) = session.as_mut() else { return };
            notify(
                &tx,
                Notification::Agent {
                    turn: id,
                    update: AgentUpdate::Started {
                        root: s.agent.root().path().to_path_buf(),
                        max_steps: s.agent.config().max_steps,
                    },
                },
            );
            let mut cancel = self.cancel;
            let events = tx.clone();
            let mut emit = move |event: Event| {
                let update = AgentUpdate::Event(event);
                notify(&events, Notification::Agent { turn: id, update });
            };
            handle.block_on(s.agent.turn(&self.request, &mut cancel, &mut emit));
            if let Some(e) = s.agent.log_error() {
                notify(
                    &tx,
                    Notification::Error(format!("the agent session log stopped: {e}")),
                );
            }
        })
        .await;
        if let Err(e) = joined {
            let message = format!("the agent stopped: {e}");
            notify(&failed, Notification::Failed { turn: id, message });
        }
    }
}

/// Whether two handles are the same loaded model.
fn same(a: &Model, b: &Model) -> bool {
    std::ptr::eq(Arc::as_ptr(a) as *const u8, Arc::as_ptr(b) as *const u8)
}

/// A new agent for `model`, logging to a new session file when logs are
/// kept (a log that cannot be created is a warning, not a failure).
fn new_session(
    parts: &AgentParts,
    model: Model,
    tx: &mpsc::UnboundedSender<Notification>,
) -> Result<Session, String> {
    let config = (parts.config)(model.info())?;
    let mut agent = Agent::new(model.clone(), parts.workspace.clone(), config);
    if let Some(r) = &parts.search {
        agent = agent.with_search(r.clone());
    }
    if let Some(dir) = &parts.logs_dir {
        match create_log(dir, Meta::new(&agent)) {
            Ok(w) => agent.record(w),
            Err(e) => notify(
                tx,
                Notification::Error(format!("no agent session log ({}: {e})", dir.display())),
            ),
        }
    }
    Ok(Session { agent, model })
}

/// Creates the session's log; a second session in the same second of the
/// same process gets a suffix rather than no log.
fn create_log(dir: &Path, mut meta: Meta) -> std::io::Result<Writer> {
    let base = meta.id.clone();
    let mut n = 1;
    loop {
        match Writer::create(dir, &meta) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 100 => {
                n += 1;
                meta.id = format!("{base}-{n}");
            }
            other => return other,
        }
    }
}
