//! The conversation service: everything an interactive front end drives
//! that is not the screen. It owns the model's lifecycle (the first load,
//! `/model`), the index (`/index`), the support dialogue and its ticket,
//! and runs each turn in its own task, reporting back as plain
//! [`Notification`]s. The TUI is a thin bridge onto it; `lore support
//! --script` drives the very same service, so the two cannot differ.
//! Agent turns ([`Mode::Agent`]) are run by [`agent`], which keeps the
//! conversation's agent between turns.

mod agent;

use std::path::PathBuf;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, watch, Mutex};
use tokio::task::JoinHandle;

pub use self::agent::{AgentConfig, AgentParts, AgentUpdate};
use super::chat::{self, ChatContext, Mode, Turn};
use super::grounded::{GroundedReply, Retrieval, TemplatePrompt};
use super::support::TurnClassifier;
use super::support::{self, Dialogue, SupportPolicy, Ticket, TicketStore, TurnRecord};
use crate::index::KnowledgeIndex;
use crate::model::{ChatMessage, GenParams, Model, ModelInfo};
use crate::output::Sink;
use crate::prompts::Template;

/// A model load about to start: what it will be called, and the load.
pub struct PendingLoad {
    pub name: String,
    pub load: BoxFuture<'static, Result<Model, String>>,
}

/// Turns a model setting (`/model SPEC`) into a load, or says why not.
pub type LoadModel = Arc<dyn Fn(&str) -> Result<PendingLoad, String> + Send + Sync>;
/// Opens a named index (`/index NAME`).
pub type OpenIndex = Arc<dyn Fn(&str) -> Result<KnowledgeIndex, String> + Send + Sync>;

/// The model a service starts with.
pub enum FirstModel {
    /// Already loaded (the scripted driver loads it first, for its exit
    /// codes).
    Loaded(Model),
    /// Loaded in the background from this setting (the TUI draws at once).
    Load(String),
}

/// What support mode needs besides the chat context.
#[derive(Clone)]
pub struct SupportParts {
    pub prompt: TemplatePrompt,
    pub policy: SupportPolicy,
    pub classifier: Arc<TurnClassifier>,
    pub tickets: TicketStore,
}

/// Everything the service is built from (by the application root).
pub struct Services {
    pub model: FirstModel,
    pub load_model: LoadModel,
    pub open_index: OpenIndex,
    pub retrieval: Retrieval,
    /// The `qa` template of grounded turns.
    pub qa: Template,
    /// The reply of a grounded turn that finds nothing.
    pub not_found: String,
    pub params: GenParams,
    pub support: Option<SupportParts>,
}

/// One user turn, as a front end asks for it.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnRequest {
    /// The front end's id for the turn; notifications carry it back.
    pub turn: u64,
    pub mode: Mode,
    pub system: String,
    /// Earlier user and assistant messages as the user sees them.
    pub history: Vec<ChatMessage>,
    pub user: String,
    pub attachment: Option<String>,
}

/// How a turn ended.
#[derive(Debug, Clone)]
pub enum TurnOutcome {
    Chat(GroundedReply),
    Support {
        record: TurnRecord,
        ticket: String,
        /// Where the ticket was written, or why it could not be.
        ticket_path: Result<PathBuf, String>,
    },
}

/// What the service tells its front end.
#[derive(Debug, Clone)]
pub enum Notification {
    ModelLoading {
        name: String,
    },
    ModelReady {
        info: ModelInfo,
    },
    ModelFailed {
        message: String,
    },
    IndexReady {
        name: String,
    },
    Delta {
        turn: u64,
        text: String,
    },
    Done {
        turn: u64,
        outcome: Box<TurnOutcome>,
    },
    Failed {
        turn: u64,
        message: String,
    },
    /// How an agent turn is going: its start, then each of the agent's
    /// events, the last a `TurnCompleted` (a turn that cannot start ends
    /// with `Failed` instead).
    Agent {
        turn: u64,
        update: AgentUpdate,
    },
    /// Information for the user (the answer to `/tokens`).
    Note(String),
    Error(String),
}

#[derive(Clone)]
enum ModelState {
    Loading,
    Ready(Model),
    Failed(String),
}

pub struct ConversationService {
    load_model: LoadModel,
    open_index: OpenIndex,
    retrieval: Retrieval,
    qa: Template,
    not_found: String,
    params: GenParams,
    support: Option<SupportParts>,
    tx: mpsc::UnboundedSender<Notification>,
    model: watch::Sender<ModelState>,
    current: Option<JoinHandle<()>>,
    loader: Option<JoinHandle<()>>,
    dialogue: Arc<Mutex<Dialogue>>,
    agents: agent::AgentTurns,
}

fn notify(tx: &mpsc::UnboundedSender<Notification>, n: Notification) {
    // The front end gone means we are quitting; nothing to tell.
    let _ = tx.send(n);
}

/// Streams a turn's text to the front end.
struct ChannelSink {
    turn: u64,
    tx: mpsc::UnboundedSender<Notification>,
}

impl Sink for ChannelSink {
    fn text(&mut self, delta: &str) -> std::io::Result<()> {
        notify(
            &self.tx,
            Notification::Delta {
                turn: self.turn,
                text: delta.to_string(),
            },
        );
        Ok(())
    }
    fn end(&mut self, _: &serde_json::Value, _: Option<&str>) -> std::io::Result<()> {
        Ok(())
    }
    fn interrupted(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl ConversationService {
    /// Starts the service (and the first model load, when there is one)
    /// and returns at once. Needs a tokio runtime.
    pub fn start(s: Services, tx: mpsc::UnboundedSender<Notification>) -> ConversationService {
        let (model, _) = watch::channel(ModelState::Loading);
        let mut service = ConversationService {
            load_model: s.load_model,
            open_index: s.open_index,
            retrieval: s.retrieval,
            qa: s.qa,
            not_found: s.not_found,
            params: s.params,
            support: s.support,
            tx,
            model,
            current: None,
            loader: None,
            dialogue: Arc::new(Mutex::new(Dialogue::new())),
            agents: agent::AgentTurns::default(),
        };
        match s.model {
            FirstModel::Loaded(m) => {
                let info = m.info().clone();
                service.model.send_replace(ModelState::Ready(m));
                notify(&service.tx, Notification::ModelReady { info });
            }
            FirstModel::Load(setting) => service.load(&setting, true),
        }
        service
    }

    /// Loads another model in the background; the current one stays in
    /// use until it is ready, and stays if the load fails.
    pub fn load_model(&mut self, setting: &str) {
        self.load(setting, false);
    }

    fn load(&mut self, setting: &str, first: bool) {
        let tx = self.tx.clone();
        let pending = match (self.load_model)(setting) {
            Ok(p) => p,
            Err(message) => {
                if first {
                    self.model.send_replace(ModelState::Failed(message.clone()));
                }
                notify(&tx, Notification::ModelFailed { message });
                return;
            }
        };
        notify(
            &tx,
            Notification::ModelLoading {
                name: pending.name.clone(),
            },
        );
        if let Some(old) = self.loader.take() {
            old.abort();
        }
        let state = self.model.clone();
        self.loader = Some(tokio::spawn(async move {
            match pending.load.await {
                Ok(m) => {
                    let info = m.info().clone();
                    state.send_replace(ModelState::Ready(m));
                    notify(&tx, Notification::ModelReady { info });
                }
                Err(message) => {
                    if first {
                        state.send_replace(ModelState::Failed(message.clone()));
                    }
                    notify(&tx, Notification::ModelFailed { message });
                }
            }
        }));
    }

    /// Searches another index from the next turn on.
    pub fn switch_index(&mut self, name: &str) {
        match (self.open_index)(name) {
            Ok(index) => {
                self.retrieval.index = Some(Arc::new(index));
                notify(
                    &self.tx,
                    Notification::IndexReady {
                        name: name.to_string(),
                    },
                );
            }
            Err(e) => notify(&self.tx, Notification::Error(e)),
        }
    }

    /// The chat context once the model is ready (waiting for a load in
    /// progress).
    fn context(&self) -> impl std::future::Future<Output = Result<ChatContext, String>> + Send {
        let mut rx = self.model.subscribe();
        let retrieval = self.retrieval.clone();
        let qa = self.qa.clone();
        let not_found = self.not_found.clone();
        async move {
            let state = rx
                .wait_for(|s| !matches!(s, ModelState::Loading))
                .await
                .map(|s| s.clone())
                .map_err(|_| "the model loader stopped".to_string())?;
            let model = match state {
                ModelState::Ready(m) => m,
                ModelState::Failed(m) => {
                    return Err(format!("no model is loaded ({m}); /model SPEC loads one"))
                }
                ModelState::Loading => return Err("the model is still loading".into()),
            };
            Ok(ChatContext {
                model,
                retrieval,
                qa,
                not_found,
            })
        }
    }

    fn turn(&self, req: TurnRequest) -> Turn {
        Turn {
            mode: req.mode,
            system: req.system,
            history: req.history,
            user: req.user,
            attachment: req.attachment,
            params: self.params.clone(),
        }
    }

    /// Makes agent mode available: turns in [`Mode::Agent`] run the
    /// read-only agent over `parts.workspace`.
    pub fn set_agent(&mut self, parts: AgentParts) {
        self.agents.set_parts(parts);
    }

    /// The next agent turn starts a new agent session (a new
    /// conversation); the current one keeps its log.
    pub fn reset_agent(&mut self) {
        self.agents.reset();
    }

    /// Runs a turn in the background; its text arrives as `Delta`s, then
    /// one `Done` or `Failed` (agent turns report as `Agent`).
    pub fn send(&mut self, req: TurnRequest) {
        if req.mode == Mode::Agent {
            return self.agent_turn(req);
        }
        if req.mode == Mode::Support {
            if let Some(parts) = self.support.clone() {
                return self.support_turn(req, parts);
            }
        }
        let id = req.turn;
        let tx = self.tx.clone();
        let turn = self.turn(req);
        let ctx = self.context();
        self.current = Some(tokio::spawn(async move {
            let ctx = match ctx.await {
                Ok(c) => c,
                Err(message) => return notify(&tx, Notification::Failed { turn: id, message }),
            };
            let mut sink = ChannelSink {
                turn: id,
                tx: tx.clone(),
            };
            notify(
                &tx,
                match chat::turn(&ctx, &turn, &mut sink).await {
                    Ok(reply) => Notification::Done {
                        turn: id,
                        outcome: Box::new(TurnOutcome::Chat(reply)),
                    },
                    Err(e) => Notification::Failed {
                        turn: id,
                        message: e.to_string(),
                    },
                },
            );
        }));
    }

    fn agent_turn(&mut self, req: TurnRequest) {
        let id = req.turn;
        let tx = self.tx.clone();
        let job = match self.agents.job(id, &req.user, req.attachment.as_deref()) {
            Ok(job) => job,
            Err(message) => return notify(&tx, Notification::Failed { turn: id, message }),
        };
        let ctx = self.context();
        self.current = Some(tokio::spawn(async move {
            match ctx.await {
                Ok(c) => job.run(c.model, tx).await,
                Err(message) => notify(&tx, Notification::Failed { turn: id, message }),
            }
        }));
    }

    /// Asks the running agent turn to stop: it ends as aborted, with its
    /// steps so far reported. Other turns are not affected ([`Self::cancel`]
    /// stops those).
    pub fn interrupt(&mut self) {
        self.agents.interrupt();
    }

    /// Answers the running agent turn's approval request `call_id`; an
    /// answer nobody waits for any more is dropped.
    pub fn decide(&mut self, call_id: String, decision: crate::agent::protocol::Decision) {
        self.agents.decide(call_id, decision);
    }

    /// Reverts the agent's last edit of this conversation, reporting what
    /// it did (a `Note`) or why it could not (an `Error`).
    pub fn undo(&mut self) {
        self.agents.undo(self.tx.clone());
    }

    /// What the agent may do unasked, from now on (`/approvals MODE`).
    pub fn set_agent_mode(&mut self, mode: crate::agent::policy::Mode) {
        if let Err(e) = self.agents.set_mode(mode) {
            notify(&self.tx, Notification::Error(e));
        }
    }

    fn support_turn(&mut self, req: TurnRequest, parts: SupportParts) {
        let id = req.turn;
        let tx = self.tx.clone();
        let ctx = self.context();
        let params = self.params.clone();
        // A conversation that starts over (no history) is a new dialogue.
        if req.history.is_empty() {
            self.dialogue = Arc::new(Mutex::new(Dialogue::new()));
        }
        let dialogue = self.dialogue.clone();
        self.current = Some(tokio::spawn(async move {
            let ctx = match ctx.await {
                Ok(c) => c,
                Err(message) => return notify(&tx, Notification::Failed { turn: id, message }),
            };
            let agent = support::Agent {
                model: ctx.model,
                retrieval: ctx.retrieval,
                prompt: parts.prompt.clone(),
                policy: parts.policy.clone(),
                classifier: parts.classifier.clone(),
                params,
            };
            let mut sink = ChannelSink {
                turn: id,
                tx: tx.clone(),
            };
            let mut d = dialogue.lock().await;
            // Keep the dialogue in step with the front end's history:
            // /retry and cancelled replies leave turns nobody sees any more.
            d.turns.truncate(req.history.len() / 2);
            let n = match support::respond(&agent, &mut d, &req.user, &mut sink).await {
                Ok(record) => {
                    // Written after every turn: a crash keeps what was said.
                    let ticket = d.ticket(d.running_status(), &parts.policy.greeting);
                    let ticket_path = parts.tickets.save(&ticket).map_err(|e| {
                        format!(
                            "could not write the ticket in {}: {e}",
                            parts.tickets.dir.display()
                        )
                    });
                    Notification::Done {
                        turn: id,
                        outcome: Box::new(TurnOutcome::Support {
                            record,
                            ticket: d.ticket.clone(),
                            ticket_path,
                        }),
                    }
                }
                Err(e) => Notification::Failed {
                    turn: id,
                    message: e.to_string(),
                },
            };
            notify(&tx, n);
        }));
    }

    /// Ends the support dialogue: its ticket is written as handed over or
    /// closed. Returns the ticket and where it went; `None` when no
    /// support turn was taken.
    pub async fn finish_dialogue(&self) -> Option<Result<(Ticket, PathBuf), String>> {
        let parts = self.support.as_ref()?;
        let d = self.dialogue.lock().await;
        if d.turns.is_empty() {
            return None;
        }
        let ticket = d.ticket(d.final_status(), &parts.policy.greeting);
        Some(
            parts
                .tickets
                .save(&ticket)
                .map(|p| (ticket, p))
                .map_err(|e| {
                    format!(
                        "cannot write ticket in {}: {e}",
                        parts.tickets.dir.display()
                    )
                }),
        )
    }

    /// Counts what the next turn's prompt would be, before retrieval, and
    /// answers with a `Note`.
    pub fn count_tokens(&self, req: TurnRequest) {
        let tx = self.tx.clone();
        let turn = self.turn(req);
        let ctx = self.context();
        tokio::spawn(async move {
            let result = async {
                let ctx = ctx.await?;
                let msgs = chat::messages(&ctx, &turn, &[]).map_err(|e| e.to_string())?;
                let n = ctx
                    .model
                    .count_tokens(&msgs)
                    .await
                    .map_err(|e| e.to_string())?;
                let info = ctx.model.info();
                // A remote server without a chat tokenizer gives an estimate.
                let about = if info.exact_tokens { "" } else { "about " };
                Ok::<_, String>(format!(
                    "the next prompt would be {about}{n} tokens ({} earlier messages, system prompt and input) of the model's {}-token context, before any retrieved passages{}",
                    turn.history.len(),
                    info.context_length,
                    if info.exact_tokens { "" } else { " (estimated: the server has no chat tokenizer)" }
                ))
            }
            .await;
            notify(
                &tx,
                match result {
                    Ok(note) => Notification::Note(note),
                    Err(e) => Notification::Error(e),
                },
            );
        });
    }

    /// Cancels the running turn: dropping its generation cancels it in the
    /// model (an agent turn is interrupted, and its late events are the
    /// front end's to ignore).
    pub fn cancel(&mut self) {
        self.agents.interrupt();
        if let Some(task) = self.current.take() {
            task.abort();
        }
    }

    /// Stops everything in flight.
    pub fn stop(&mut self) {
        self.cancel();
        if let Some(task) = self.loader.take() {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::model::scripted::ScriptedModel;
    use crate::model::Role;
    use crate::tasks::support::{HandoverRules, Persona};
    use crate::tasks::testkit;

    fn parts(dir: &std::path::Path) -> SupportParts {
        let intents = crate::tasks::classify::labels_from_list(
            "account,billing,shipping,returns,troubleshooting,privacy,contact,human,other",
        )
        .unwrap();
        let policy = SupportPolicy {
            persona: Persona::default(),
            greeting: "Hi!".into(),
            not_found: "I could not find that.".into(),
            handover_message: "A colleague takes over {ticket}.".into(),
            handover: HandoverRules {
                negative_turns: 2,
                not_found_turns: 2,
            },
            strict: false,
        };
        SupportParts {
            prompt: policy.prompt(testkit::template("support")),
            policy,
            classifier: Arc::new(
                TurnClassifier::new(
                    intents,
                    (support::INTENT_EXAMPLES, "intents"),
                    (support::SENTIMENT_EXAMPLES, "sentiment"),
                    testkit::template("classify"),
                )
                .unwrap(),
            ),
            tickets: TicketStore {
                dir: dir.to_path_buf(),
            },
        }
    }

    fn services(model: FirstModel, dir: &std::path::Path) -> Services {
        Services {
            model,
            load_model: Arc::new(|s: &str| Err(format!("no model named {s}"))),
            open_index: Arc::new(|n: &str| Err(format!("no index {n}"))),
            retrieval: testkit::retrieval(),
            qa: testkit::template("qa"),
            not_found: "Not found.".into(),
            params: GenParams {
                max_tokens: 16,
                ..GenParams::default()
            },
            support: Some(parts(dir)),
        }
    }

    /// The notifications of turn `id` up to its end, within a deadline.
    async fn until_end(
        rx: &mut mpsc::UnboundedReceiver<Notification>,
        id: u64,
    ) -> (String, Notification) {
        let mut text = String::new();
        loop {
            let n = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("the turn ends within 10 s")
                .expect("the service is running");
            match n {
                Notification::Delta { turn, text: t } if turn == id => text.push_str(&t),
                Notification::Done { turn, .. } | Notification::Failed { turn, .. }
                    if turn == id =>
                {
                    return (text, n)
                }
                _ => {}
            }
        }
    }

    fn request(id: u64, mode: Mode, history: Vec<ChatMessage>, user: &str) -> TurnRequest {
        TurnRequest {
            turn: id,
            mode,
            system: String::new(),
            history,
            user: user.into(),
            attachment: None,
        }
    }

    #[tokio::test]
    async fn support_turns_through_the_service_equal_direct_replies_and_write_tickets() {
        let tmp = tempfile::tempdir().unwrap();
        let replies = ["Within 30 days [1].", "Refunds take 5 days [1]."];
        let turns = ["How do I return an item?", "and how long does that take?"];
        let scripted = || {
            replies
                .iter()
                .fold(ScriptedModel::new(4096), |m, r| m.reply(*r))
        };

        let (_, direct_model) = testkit::model(scripted());
        let p = parts(tmp.path());
        let agent = support::Agent {
            model: direct_model,
            retrieval: testkit::retrieval(),
            prompt: p.prompt.clone(),
            policy: p.policy.clone(),
            classifier: p.classifier.clone(),
            params: services(FirstModel::Load(String::new()), tmp.path()).params,
        };
        let mut d = Dialogue::new();
        let mut direct = Vec::new();
        for t in turns {
            let mut sink = crate::tasks::testkit::Collect::default();
            direct.push(
                support::respond(&agent, &mut d, t, &mut sink)
                    .await
                    .unwrap(),
            );
        }

        let (_, model) = testkit::model(scripted());
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut service =
            ConversationService::start(services(FirstModel::Loaded(model), tmp.path()), tx);
        let mut history = Vec::new();
        for (i, t) in turns.iter().enumerate() {
            let id = i as u64 + 1;
            service.send(request(id, Mode::Support, history.clone(), t));
            let (text, end) = until_end(&mut rx, id).await;
            let Notification::Done { outcome, .. } = end else {
                panic!("turn failed: {end:?}")
            };
            let TurnOutcome::Support {
                record,
                ticket_path,
                ..
            } = *outcome
            else {
                panic!("not a support turn")
            };
            let path = ticket_path.unwrap();
            let ticket: Ticket = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            assert_eq!(ticket.status, support::TicketStatus::Open);
            assert_eq!(ticket.transcript.len(), 1 + 2 * (i + 1));
            assert_eq!(text, record.reply);
            assert_eq!(record.reply, direct[i].reply);
            assert_eq!(record.query, direct[i].query);
            assert_eq!(record.passages, direct[i].passages);
            assert_eq!(record.citations, direct[i].citations);
            history.push(ChatMessage::new(Role::User, *t));
            history.push(ChatMessage::new(Role::Assistant, record.reply));
        }
        let (ticket, _) = service.finish_dialogue().await.unwrap().unwrap();
        assert_eq!(ticket.status, support::TicketStatus::Closed);
    }

    #[tokio::test]
    async fn a_cancelled_reply_stops_and_the_service_stays_usable() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, model) = testkit::model(
            ScriptedModel::new(4096)
                .reply("one two three")
                .stall_after(1),
        );
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut service =
            ConversationService::start(services(FirstModel::Loaded(model), tmp.path()), tx);
        service.send(request(1, Mode::Chat, vec![], "hello"));
        let first = loop {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some(Notification::Delta { text, .. })) => break text,
                Ok(Some(_)) => continue,
                other => panic!("no delta: {other:?}"),
            }
        };
        assert_eq!(first, "one ");
        service.cancel();
        service.count_tokens(request(2, Mode::Chat, vec![], "hello again"));
        loop {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some(Notification::Note(n))) => {
                    assert!(n.contains("tokens"), "{n}");
                    break;
                }
                Ok(Some(Notification::Done { turn: 1, .. })) => {
                    panic!("a cancelled turn must not finish")
                }
                Ok(Some(_)) => continue,
                other => panic!("no note: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn tokens_says_when_the_count_is_an_estimate() {
        let tmp = tempfile::tempdir().unwrap();
        for (model, estimated) in [
            (ScriptedModel::new(4096), false),
            (ScriptedModel::new(4096).estimated(), true),
        ] {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let (_, model) = testkit::model(model);
            let service =
                ConversationService::start(services(FirstModel::Loaded(model), tmp.path()), tx);
            service.count_tokens(request(1, Mode::Chat, vec![], "hello"));
            let note = loop {
                match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                    Ok(Some(Notification::Note(n))) => break n,
                    Ok(Some(_)) => continue,
                    other => panic!("no note: {other:?}"),
                }
            };
            assert_eq!(note.contains("about "), estimated, "{note}");
            assert_eq!(note.contains("(estimated"), estimated, "{note}");
        }
    }

    #[tokio::test]
    async fn without_a_model_a_turn_fails_with_the_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut service = ConversationService::start(
            services(FirstModel::Load("missing.gguf".into()), tmp.path()),
            tx,
        );
        service.send(request(1, Mode::Chat, vec![], "hello"));
        let (_, end) = until_end(&mut rx, 1).await;
        let Notification::Failed { message, .. } = end else {
            panic!("expected a failure: {end:?}")
        };
        assert!(message.contains("no model named missing.gguf"), "{message}");
        service.switch_index("other");
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some(Notification::Error(e))) => assert_eq!(e, "no index other"),
            other => panic!("expected the index error: {other:?}"),
        }
    }
    fn agent_parts(workspace: &std::path::Path, logs: &std::path::Path) -> AgentParts {
        std::fs::write(workspace.join("config.toml"), "max_retries = 5\n").unwrap();
        AgentParts {
            workspace: crate::agent::fsroot::Root::new(workspace).unwrap(),
            config: Arc::new(|_: &ModelInfo| {
                Ok(crate::agent::Config {
                    max_steps: 4,
                    ..crate::agent::Config::for_model_file(0)
                })
            }),
            logs_dir: Some(logs.to_path_buf()),
            search: None,
            policy: crate::agent::policy::Policy::read_only(),
        }
    }

    /// The agent updates of turn `id` up to its `TurnCompleted`.
    async fn agent_updates(
        rx: &mut mpsc::UnboundedReceiver<Notification>,
        id: u64,
    ) -> Vec<AgentUpdate> {
        use crate::agent::protocol::Event;
        let mut out = Vec::new();
        loop {
            let n = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("the agent turn ends within 10 s")
                .expect("the service is running");
            match n {
                Notification::Agent { turn, update } if turn == id => {
                    let end = matches!(update, AgentUpdate::Event(Event::TurnCompleted { .. }));
                    out.push(update);
                    if end {
                        return out;
                    }
                }
                Notification::Failed { turn, message } if turn == id => panic!("{message}"),
                _ => {}
            }
        }
    }

    #[tokio::test]
    async fn agent_turns_run_tools_keep_the_agent_and_log_the_session() {
        use crate::agent::protocol::{Event, StopReason};
        let tmp = tempfile::tempdir().unwrap();
        let (ws, logs) = (tmp.path().join("ws"), tmp.path().join("logs"));
        std::fs::create_dir_all(&ws).unwrap();
        let (scripted, model) = testkit::model(
            ScriptedModel::new(4096)
                .reply(r#"{"tool": "read", "path": "config.toml"}"#)
                .reply(r#"{"tool": "answer", "text": "5, from config.toml"}"#)
                .reply(r#"{"tool": "answer", "text": "still 5"}"#)
                .reply(r#"{"tool": "answer", "text": "new"}"#),
        );
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut service =
            ConversationService::start(services(FirstModel::Loaded(model), tmp.path()), tx);
        service.set_agent(agent_parts(&ws, &logs));
        service.send(request(1, Mode::Agent, vec![], "What is max_retries?"));
        let updates = agent_updates(&mut rx, 1).await;
        let AgentUpdate::Started { root, max_steps } = &updates[0] else {
            panic!("{updates:?}")
        };
        assert_eq!((root, *max_steps), (&ws.canonicalize().unwrap(), 4));
        assert!(updates.iter().any(|u| matches!(
            u,
            AgentUpdate::Event(Event::ToolCompleted { summary, .. }) if summary == "read config.toml (1 lines)"
        )));
        let Some(AgentUpdate::Event(Event::TurnCompleted { stop, answer, .. })) = updates.last()
        else {
            panic!("{updates:?}")
        };
        assert_eq!(
            (*stop, answer.as_str()),
            (StopReason::Answered, "5, from config.toml")
        );
        // The second turn continues the same agent: its prompt holds the
        // first turn's call and result.
        service.send(request(2, Mode::Agent, vec![], "Sure?"));
        agent_updates(&mut rx, 2).await;
        let prompt = &scripted.requests()[2].messages;
        assert!(prompt.iter().any(|m| m.content.contains("max_retries = 5")));
        // After a reset, a new agent starts with a new log.
        service.reset_agent();
        service.send(request(3, Mode::Agent, vec![], "Again"));
        agent_updates(&mut rx, 3).await;
        let prompt = &scripted.requests()[3].messages;
        assert!(!prompt.iter().any(|m| m.content.contains("max_retries = 5")));
        let logs: Vec<_> = std::fs::read_dir(&logs).unwrap().flatten().collect();
        assert_eq!(logs.len(), 2, "one log per agent session");
    }

    #[tokio::test]
    async fn an_interrupted_agent_turn_ends_aborted() {
        use crate::agent::protocol::{Event, StopReason};
        let tmp = tempfile::tempdir().unwrap();
        let (ws, logs) = (tmp.path().join("ws"), tmp.path().join("logs"));
        std::fs::create_dir_all(&ws).unwrap();
        let (_, model) = testkit::model(
            ScriptedModel::new(4096)
                .reply(r#"{"tool": "read", "path": "config.toml"}"#)
                .stall_after(1),
        );
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut service =
            ConversationService::start(services(FirstModel::Loaded(model), tmp.path()), tx);
        service.set_agent(agent_parts(&ws, &logs));
        service.send(request(1, Mode::Agent, vec![], "What is max_retries?"));
        loop {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some(Notification::Agent {
                    update: AgentUpdate::Started { .. },
                    ..
                })) => break,
                Ok(Some(_)) => {}
                other => panic!("the turn did not start: {other:?}"),
            }
        }
        service.interrupt();
        let updates = agent_updates(&mut rx, 1).await;
        let Some(AgentUpdate::Event(Event::TurnCompleted { stop, .. })) = updates.last() else {
            panic!("{updates:?}")
        };
        assert_eq!(*stop, StopReason::Aborted);
    }

    #[tokio::test]
    async fn without_a_workspace_an_agent_turn_fails_with_the_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let (_, model) = testkit::model(ScriptedModel::new(4096));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut service =
            ConversationService::start(services(FirstModel::Loaded(model), tmp.path()), tx);
        service.send(request(1, Mode::Agent, vec![], "hello"));
        let (_, end) = until_end(&mut rx, 1).await;
        let Notification::Failed { message, .. } = end else {
            panic!("expected a failure: {end:?}")
        };
        assert!(message.contains("--cd DIR"), "{message}");
    }

    /// Parts whose agent may act in `mode`, asking the terminal; commands
    /// run unsandboxed, so the tests' commands are harmless ones.
    fn acting_parts(
        workspace: &std::path::Path,
        logs: &std::path::Path,
        mode: crate::agent::policy::Mode,
    ) -> AgentParts {
        use crate::agent::policy::{Interaction, Isolation, Policy, Rules};
        AgentParts {
            policy: Policy::new(
                mode,
                Interaction::Terminal,
                Isolation::Disabled,
                Rules::default(),
            ),
            ..agent_parts(workspace, logs)
        }
    }

    /// A service with an agent in `mode` on `replies`, and its workspace.
    fn acting_service(
        tmp: &std::path::Path,
        mode: crate::agent::policy::Mode,
        replies: &[&str],
    ) -> (
        ConversationService,
        mpsc::UnboundedReceiver<Notification>,
        std::path::PathBuf,
        Arc<ScriptedModel>,
    ) {
        let (ws, logs) = (tmp.join("ws"), tmp.join("logs"));
        std::fs::create_dir_all(&ws).unwrap();
        let scripted = replies
            .iter()
            .fold(ScriptedModel::new(4096), |m, r| m.reply(*r));
        let (scripted, model) = testkit::model(scripted);
        let (tx, rx) = mpsc::unbounded_channel();
        let mut service = ConversationService::start(services(FirstModel::Loaded(model), tmp), tx);
        service.set_agent(acting_parts(&ws, &logs, mode));
        (service, rx, ws, scripted)
    }

    /// The updates of turn `id` up to its first approval request.
    async fn until_asked(
        rx: &mut mpsc::UnboundedReceiver<Notification>,
        id: u64,
    ) -> crate::agent::protocol::ApprovalRequest {
        use crate::agent::protocol::Event;
        loop {
            let n = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("an approval request within 10 s")
                .expect("the service is running");
            match n {
                Notification::Agent {
                    turn,
                    update: AgentUpdate::Event(Event::ApprovalRequested(r)),
                } if turn == id => return r,
                Notification::Agent {
                    turn,
                    update: AgentUpdate::Event(e @ Event::TurnCompleted { .. }),
                } if turn == id => panic!("the turn ended unasked: {e:?}"),
                Notification::Failed { turn, message } if turn == id => panic!("{message}"),
                _ => {}
            }
        }
    }

    fn decisions(updates: &[AgentUpdate]) -> Vec<crate::agent::protocol::Decision> {
        use crate::agent::protocol::Event;
        updates
            .iter()
            .filter_map(|u| match u {
                AgentUpdate::Event(Event::ApprovalDecided { decision, .. }) => Some(*decision),
                _ => None,
            })
            .collect()
    }

    fn stop_of(updates: &[AgentUpdate]) -> crate::agent::protocol::StopReason {
        match updates.last() {
            Some(AgentUpdate::Event(crate::agent::protocol::Event::TurnCompleted {
                stop, ..
            })) => *stop,
            other => panic!("no end: {other:?}"),
        }
    }

    #[test]
    fn the_channel_approver_answers_its_own_call_and_aborts_on_interrupt_or_hangup() {
        use crate::agent::protocol::{ApprovalRequest, Approver, Decision};
        let request = |id: &str| ApprovalRequest {
            call_id: id.into(),
            tool: "shell".into(),
            subject: "ls".into(),
            cwd: "/w".into(),
            sandbox: "sandbox: off (--no-sandbox)".into(),
            reason: None,
            diff: None,
            grant: None,
        };
        let (tx, decisions) = std::sync::mpsc::channel();
        let (interrupt, cancel) = watch::channel(false);
        let mut approver = agent::ChannelApprover { decisions, cancel };
        tx.send(("call_9".to_string(), Decision::Once)).unwrap();
        tx.send(("call_1".to_string(), Decision::Deny)).unwrap();
        assert_eq!(
            approver.decide(&request("call_1")),
            Decision::Deny,
            "call_9's answer is not call_1's"
        );
        let started = std::time::Instant::now();
        let stopper = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(120));
            interrupt.send(true).unwrap();
            interrupt
        });
        assert_eq!(approver.decide(&request("call_2")), Decision::Abort);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(100) && waited < Duration::from_secs(2),
            "{waited:?}"
        );
        drop(stopper.join().unwrap());
        let (tx, decisions) = std::sync::mpsc::channel::<(String, Decision)>();
        let (_interrupt, cancel) = watch::channel(false);
        let mut approver = agent::ChannelApprover { decisions, cancel };
        drop(tx);
        assert_eq!(
            approver.decide(&request("call_3")),
            Decision::Abort,
            "nobody left to answer"
        );
    }

    #[tokio::test]
    async fn an_approved_command_runs_after_the_decision_and_others_calls_answers_are_ignored() {
        use crate::agent::protocol::{Decision, Event, StopReason, ToolStatus};
        let tmp = tempfile::tempdir().unwrap();
        let (mut service, mut rx, ws, _) = acting_service(
            tmp.path(),
            crate::agent::policy::Mode::Ask,
            &[
                r#"{"tool": "shell", "command": "touch made.txt", "reason": "to check"}"#,
                r#"{"tool": "answer", "text": "made it"}"#,
            ],
        );
        service.send(request(1, Mode::Agent, vec![], "Make a file"));
        let asked = until_asked(&mut rx, 1).await;
        assert_eq!(asked.subject, "touch made.txt");
        assert_eq!(asked.reason.as_deref(), Some("to check"));
        assert_eq!(asked.sandbox, "sandbox: off (--no-sandbox)");
        service.decide("call_99".into(), Decision::Once);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !ws.join("made.txt").exists(),
            "an answer for another call runs nothing"
        );
        service.decide(asked.call_id.clone(), Decision::Once);
        let updates = agent_updates(&mut rx, 1).await;
        assert_eq!(decisions(&updates), vec![Decision::Once]);
        assert!(updates.iter().any(|u| matches!(
            u,
            AgentUpdate::Event(Event::ToolCompleted { status: ToolStatus::Completed, tool, .. }) if tool == "shell"
        )), "{updates:?}");
        assert_eq!(stop_of(&updates), StopReason::Answered);
        assert!(ws.join("made.txt").exists());
    }

    #[tokio::test]
    async fn a_declined_command_does_not_run_and_an_interrupt_ends_a_waiting_turn() {
        use crate::agent::protocol::{Decision, Event, StopReason, ToolStatus};
        let tmp = tempfile::tempdir().unwrap();
        let touch = r#"{"tool": "shell", "command": "touch made.txt"}"#;
        let (mut service, mut rx, ws, _) = acting_service(
            tmp.path(),
            crate::agent::policy::Mode::Ask,
            &[touch, r#"{"tool": "answer", "text": "fine"}"#, touch],
        );
        service.send(request(1, Mode::Agent, vec![], "Make a file"));
        let asked = until_asked(&mut rx, 1).await;
        service.decide(asked.call_id, Decision::Deny);
        let updates = agent_updates(&mut rx, 1).await;
        assert!(
            updates.iter().any(|u| matches!(
                u,
                AgentUpdate::Event(Event::ToolCompleted {
                    status: ToolStatus::Declined,
                    ..
                })
            )),
            "{updates:?}"
        );
        assert_eq!(stop_of(&updates), StopReason::Answered);
        // Asked again in the next turn, the user interrupts instead.
        service.send(request(2, Mode::Agent, vec![], "Make it anyway"));
        until_asked(&mut rx, 2).await;
        service.interrupt();
        let updates = agent_updates(&mut rx, 2).await;
        assert_eq!(decisions(&updates), vec![Decision::Abort]);
        assert_eq!(stop_of(&updates), StopReason::Aborted);
        assert!(!ws.join("made.txt").exists());
    }

    #[tokio::test]
    async fn undo_reverts_the_last_edit_and_reports_back() {
        let tmp = tempfile::tempdir().unwrap();
        let (mut service, mut rx, ws, _) = acting_service(
            tmp.path(),
            crate::agent::policy::Mode::AutoEdit,
            &[
                r#"{"tool": "read", "path": "config.toml"}"#,
                r#"{"tool": "edit", "path": "config.toml", "old": "max_retries = 5", "new": "max_retries = 7"}"#,
                r#"{"tool": "answer", "text": "set to 7"}"#,
            ],
        );
        service.undo();
        let note = |n: Notification| match n {
            Notification::Note(t) => Ok(t),
            Notification::Error(e) => Err(e),
            other => panic!("{other:?}"),
        };
        async fn next_note(rx: &mut mpsc::UnboundedReceiver<Notification>) -> Notification {
            loop {
                let n = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                    .await
                    .expect("an answer within 10 s")
                    .expect("the service is running");
                if matches!(n, Notification::Note(_) | Notification::Error(_)) {
                    return n;
                }
            }
        }
        let first = next_note(&mut rx).await;
        assert!(note(first).unwrap_err().contains("nothing to undo"));
        service.send(request(1, Mode::Agent, vec![], "Set max_retries to 7"));
        agent_updates(&mut rx, 1).await;
        let edited = std::fs::read_to_string(ws.join("config.toml")).unwrap();
        assert_eq!(edited, "max_retries = 7\n");
        service.undo();
        let done = note(next_note(&mut rx).await).expect("the edit is reverted");
        assert!(done.contains("config.toml"), "{done}");
        let reverted = std::fs::read_to_string(ws.join("config.toml")).unwrap();
        assert_eq!(reverted, "max_retries = 5\n");
    }

    #[tokio::test]
    async fn the_agent_mode_applies_to_the_kept_agent_and_to_new_sessions() {
        let tmp = tempfile::tempdir().unwrap();
        let answer = r#"{"tool": "answer", "text": "ok"}"#;
        let read = r#"{"tool": "read", "path": "config.toml"}"#;
        let (mut service, mut rx, _, scripted) = acting_service(
            tmp.path(),
            crate::agent::policy::Mode::ReadOnly,
            &[read, answer, read, answer, read, answer],
        );
        let offers_shell = |n: usize| {
            let system = &scripted.requests()[n].messages[0].content;
            system.contains("- shell")
        };
        service.send(request(1, Mode::Agent, vec![], "Look"));
        agent_updates(&mut rx, 1).await;
        assert!(!offers_shell(0), "read-only offers no shell");
        service.set_agent_mode(crate::agent::policy::Mode::Ask);
        service.send(request(2, Mode::Agent, vec![], "Look again"));
        agent_updates(&mut rx, 2).await;
        assert!(offers_shell(2), "the kept agent acts now");
        service.reset_agent();
        service.send(request(3, Mode::Agent, vec![], "Once more"));
        agent_updates(&mut rx, 3).await;
        assert!(offers_shell(4), "and so does a new one");
    }
}
