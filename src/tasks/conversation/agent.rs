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
//!
//! A call that needs consent blocks the turn's thread in
//! [`ChannelApprover`] until the front end answers through
//! [`AgentTurns::decide`]; an interrupt, or the front end going away,
//! answers it with [`Decision::Abort`].

use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex, PoisonError, TryLockError};
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use super::{notify, Notification};
use crate::agent::fsroot::Root as Workspace;
use crate::agent::policy::{Mode, Policy};
use crate::agent::protocol::{ApprovalRequest, Approver, Decision, Event};
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
    /// What the agent may do unasked; each new agent session starts from
    /// it (grants are the session's own).
    pub policy: Policy,
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
    /// The running turn's answers to its approval requests.
    decisions: Option<std_mpsc::Sender<(String, Decision)>>,
}

/// One agent turn, ready to run once the model is known.
pub(super) struct AgentJob {
    id: u64,
    request: String,
    parts: AgentParts,
    session: Arc<Mutex<Option<Session>>>,
    fresh: bool,
    cancel: watch::Receiver<bool>,
    decisions: std_mpsc::Receiver<(String, Decision)>,
}

/// How often a waiting approval looks at the turn's interrupt: often
/// enough that Ctrl-C feels immediate, rarely enough to cost nothing.
const APPROVAL_POLL: Duration = Duration::from_millis(50);

/// Answers the agent's approval requests with the front end's decisions.
/// It runs on the turn's blocking thread, so it may block; it must not
/// outlive an interrupt, hence the polling of `cancel`.
pub(super) struct ChannelApprover {
    pub(super) decisions: std_mpsc::Receiver<(String, Decision)>,
    pub(super) cancel: watch::Receiver<bool>,
}

impl Approver for ChannelApprover {
    fn decide(&mut self, request: &ApprovalRequest) -> Decision {
        loop {
            if *self.cancel.borrow() {
                return Decision::Abort;
            }
            match self.decisions.recv_timeout(APPROVAL_POLL) {
                Ok((id, d)) if id == request.call_id => return d,
                // A late answer to an earlier prompt must not answer this one.
                Ok(_) | Err(std_mpsc::RecvTimeoutError::Timeout) => {}
                Err(std_mpsc::RecvTimeoutError::Disconnected) => return Decision::Abort,
            }
        }
    }
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
        let (dtx, decisions) = std_mpsc::channel();
        self.decisions = Some(dtx);
        Ok(AgentJob {
            id,
            request,
            parts,
            session: self.session.clone(),
            fresh: std::mem::take(&mut self.fresh),
            cancel,
            decisions,
        })
    }

    /// Asks the running turn to stop; it then ends as aborted.
    pub(super) fn interrupt(&mut self) {
        if let Some(tx) = self.interrupt.take() {
            let _ = tx.send(true);
        }
        // A prompt still waiting is answered with Abort at once.
        self.decisions = None;
    }

    /// The user's answer to the running turn's approval request `call_id`.
    pub(super) fn decide(&mut self, call_id: String, decision: Decision) {
        if let Some(tx) = &self.decisions {
            // The turn gone means nobody is asking any more.
            let _ = tx.send((call_id, decision));
        }
    }

    /// Reverts the kept agent's last edit off the caller's thread and
    /// reports a `Note` or an `Error`. A turn holds the agent to its very
    /// end, after its last event, so the revert waits for it rather than
    /// losing to it (front ends ask only once the turn has ended).
    pub(super) fn undo(&self, tx: mpsc::UnboundedSender<Notification>) {
        let session = self.session.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = session.lock().unwrap_or_else(PoisonError::into_inner);
            let done = match guard.as_mut() {
                Some(s) => s.agent.undo(),
                None => Err("nothing to undo: the agent has not edited anything yet".into()),
            };
            notify(
                &tx,
                match done {
                    Ok(text) => Notification::Note(text),
                    Err(e) => Notification::Error(e),
                },
            );
        });
    }

    /// The mode for the turns to come: new sessions start in it, and the
    /// kept agent takes it now when idle, else at its next turn.
    pub(super) fn set_mode(&mut self, mode: Mode) -> Result<(), String> {
        if let Some(p) = &mut self.parts {
            p.policy.mode = mode;
        }
        let mut guard = match self.session.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return Ok(()),
        };
        match guard.as_mut() {
            Some(s) => s.agent.set_mode(mode),
            None => Ok(()),
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
            // A mode set while the previous turn ran applies from this one.
            let mode = self.parts.policy.mode;
            if s.agent.policy().mode != mode {
                if let Err(message) = s.agent.set_mode(mode) {
                    return notify(&tx, Notification::Failed { turn: id, message });
                }
            }
            s.agent.set_approver(Box::new(ChannelApprover {
                decisions: self.decisions,
                cancel: self.cancel.clone(),
            }));
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
    agent.set_policy(parts.policy.clone())?;
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
