//! Carries out the effects `update` returns, off the UI's path: turns run
//! in their own tasks and report back through the event channel, so the
//! screen never waits for the model, the index or the disk.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::app::{Effect, Event, ModelView, ReplyDone, Request, Source, SupportView, WorkerEvent};
use crate::engine::{Engine, GenParams, LoadOptions, ModelSpec};
use crate::index::chunk::ChunkOptions;
use crate::index::KnowledgeIndex;
use crate::output::Sink;
use crate::prompts::Template;
use crate::sessions::{ReplyStats, Store};
use crate::tasks::chat::{self, ChatContext, Mode, Turn, TurnReport};
use crate::tasks::support::{self, Dialogue, PassageRef, Ticket, TurnRecord};

/// Resolves a model setting (`/model SPEC`) into what to load.
pub type ResolveModel = Box<dyn Fn(&str) -> Result<(ModelSpec, LoadOptions), String> + Send>;
/// Opens a named index (`/index NAME`).
pub type OpenIndex = Box<dyn Fn(&str) -> Result<KnowledgeIndex, String> + Send>;

/// Everything the TUI's turns need, prepared by the CLI.
pub struct Backend {
    pub model: (ModelSpec, LoadOptions),
    pub resolve_model: ResolveModel,
    pub index: Option<KnowledgeIndex>,
    pub open_index: OpenIndex,
    pub qa: Template,
    pub top_k: usize,
    pub min_score: f32,
    pub not_found: String,
    pub chunking: ChunkOptions,
    pub params: GenParams,
    pub store: Store,
    /// Support mode's persona, classifiers and ticket store.
    pub support: Option<SupportParts>,
}

/// What support mode needs besides the chat context.
#[derive(Clone)]
pub struct SupportParts {
    pub template: Template,
    pub policy: support::Policy,
    pub classifier: Arc<support::TurnClassifier>,
    pub tickets: support::TicketStore,
}

#[derive(Clone)]
enum EngineState {
    Loading,
    Ready(Engine),
    Failed(String),
}

pub struct Worker {
    backend: Backend,
    index: Option<Arc<KnowledgeIndex>>,
    tx: mpsc::UnboundedSender<Event>,
    engine: watch::Sender<EngineState>,
    current: Option<JoinHandle<()>>,
    loader: Option<JoinHandle<()>>,
    dialogue: Arc<tokio::sync::Mutex<Dialogue>>,
}

fn send(tx: &mpsc::UnboundedSender<Event>, ev: WorkerEvent) {
    // The UI gone means we are quitting; nothing to tell.
    let _ = tx.send(Event::Worker(ev));
}

/// Waits for the model; when there is none, fails turn `id` in the UI.
async fn ready(
    ctx: impl std::future::Future<Output = Result<ChatContext, String>>,
    tx: &mpsc::UnboundedSender<Event>,
    id: u64,
) -> Option<ChatContext> {
    match ctx.await {
        Ok(c) => Some(c),
        Err(message) => {
            send(tx, WorkerEvent::Failed { turn: id, message });
            None
        }
    }
}

/// Streams a turn's text to the UI.
struct ChannelSink {
    turn: u64,
    tx: mpsc::UnboundedSender<Event>,
}

impl Sink for ChannelSink {
    fn text(&mut self, delta: &str) -> std::io::Result<()> {
        send(
            &self.tx,
            WorkerEvent::Delta {
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

impl Worker {
    /// Starts loading the model in the background and returns at once.
    pub fn start(mut backend: Backend, tx: mpsc::UnboundedSender<Event>) -> Worker {
        let (engine, _) = watch::channel(EngineState::Loading);
        let index = backend.index.take().map(Arc::new);
        let mut worker = Worker {
            backend,
            index,
            tx,
            engine,
            current: None,
            loader: None,
            dialogue: Arc::new(tokio::sync::Mutex::new(Dialogue::new())),
        };
        let (spec, opts) = worker.backend.model.clone();
        worker.load(spec, opts, true);
        worker
    }

    fn load(&mut self, spec: ModelSpec, opts: LoadOptions, first: bool) {
        let tx = self.tx.clone();
        let engine = self.engine.clone();
        send(&tx, WorkerEvent::ModelLoading { name: spec.name() });
        if let Some(old) = self.loader.take() {
            old.abort();
        }
        self.loader = Some(tokio::spawn(async move {
            match Engine::load(&spec, &opts).await {
                Ok(e) => {
                    let info = e.info();
                    let model = ModelView {
                        name: info.name.clone(),
                        device: info.device.to_string(),
                        context_length: info.context_length,
                    };
                    engine.send_replace(EngineState::Ready(e));
                    send(&tx, WorkerEvent::ModelReady { model });
                }
                Err(e) => {
                    if first {
                        engine.send_replace(EngineState::Failed(e.to_string()));
                    }
                    send(
                        &tx,
                        WorkerEvent::ModelFailed {
                            message: e.to_string(),
                        },
                    );
                }
            }
        }));
    }

    fn context(&self) -> impl std::future::Future<Output = Result<ChatContext, String>> + Send {
        let mut rx = self.engine.subscribe();
        let index = self.index.clone();
        let qa = self.backend.qa.clone();
        let (top_k, min_score, chunking) = (
            self.backend.top_k,
            self.backend.min_score,
            self.backend.chunking,
        );
        let not_found = self.backend.not_found.clone();
        async move {
            let state = rx
                .wait_for(|s| !matches!(s, EngineState::Loading))
                .await
                .map(|s| s.clone())
                .map_err(|_| "the model loader stopped".to_string())?;
            let engine = match state {
                EngineState::Ready(e) => e,
                EngineState::Failed(m) => {
                    return Err(format!("no model is loaded ({m}); /model SPEC loads one"))
                }
                EngineState::Loading => unreachable!("waited for the load to end"),
            };
            Ok(ChatContext {
                engine,
                index,
                qa,
                top_k,
                min_score,
                not_found,
                chunking,
            })
        }
    }

    fn turn(&self, req: Request) -> Turn {
        Turn {
            mode: req.mode,
            system: req.system,
            history: req.history,
            user: req.user,
            attachment: req.attachment,
            params: self.backend.params.clone(),
        }
    }

    pub fn apply(&mut self, effect: Effect) {
        let tx = self.tx.clone();
        match effect {
            Effect::Send(req) if req.mode == Mode::Support && self.backend.support.is_some() => {
                self.support_turn(req);
            }
            Effect::Send(req) => {
                let id = req.turn;
                let turn = self.turn(req);
                let ctx = self.context();
                self.current = Some(tokio::spawn(async move {
                    let Some(ctx) = ready(ctx, &tx, id).await else {
                        return;
                    };
                    let mut sink = ChannelSink {
                        turn: id,
                        tx: tx.clone(),
                    };
                    match chat::turn(&ctx, &turn, &mut sink).await {
                        Ok(report) => send(
                            &tx,
                            WorkerEvent::Done {
                                turn: id,
                                reply: reply_done(report),
                            },
                        ),
                        Err(e) => send(
                            &tx,
                            WorkerEvent::Failed {
                                turn: id,
                                message: e.to_string(),
                            },
                        ),
                    }
                }));
            }
            Effect::Cancel => {
                // Aborting drops the generation, which cancels it in the engine.
                if let Some(task) = self.current.take() {
                    task.abort();
                }
            }
            Effect::CountTokens(req) => {
                let turn = self.turn(req);
                let ctx = self.context();
                tokio::spawn(async move {
                    let result = async {
                        let ctx = ctx.await?;
                        let msgs = chat::messages(&ctx, &turn, &[]).map_err(|e| e.to_string())?;
                        let n = ctx
                            .engine
                            .count_tokens(&msgs)
                            .await
                            .map_err(|e| e.to_string())?;
                        Ok::<_, String>(format!(
                            "the next prompt would be {n} tokens ({} earlier messages, system prompt and input) of the model's {}-token context, before any retrieved passages",
                            turn.history.len(),
                            ctx.engine.info().context_length
                        ))
                    }
                    .await;
                    send(
                        &tx,
                        match result {
                            Ok(note) => WorkerEvent::Note(note),
                            Err(e) => WorkerEvent::Error(e),
                        },
                    );
                });
            }
            Effect::LoadModel(setting) => match (self.backend.resolve_model)(&setting) {
                Ok((spec, opts)) => self.load(spec, opts, false),
                Err(message) => send(&tx, WorkerEvent::ModelFailed { message }),
            },
            Effect::SwitchIndex(name) => match (self.backend.open_index)(&name) {
                Ok(index) => {
                    self.index = Some(Arc::new(index));
                    send(&tx, WorkerEvent::IndexReady { name });
                }
                Err(e) => send(&tx, WorkerEvent::Error(e)),
            },
            Effect::Save(mut session) => {
                if let Err(e) = self.backend.store.save(&mut session) {
                    send(
                        &tx,
                        WorkerEvent::Error(format!("could not save the conversation: {e}")),
                    );
                }
            }
            Effect::ListSessions => match self.backend.store.list() {
                Ok(items) => send(&tx, WorkerEvent::Sessions(items)),
                Err(e) => send(&tx, WorkerEvent::Error(e.to_string())),
            },
            Effect::LoadSession(id) => match self.backend.store.load(&id) {
                Ok(s) => send(&tx, WorkerEvent::SessionLoaded(Box::new(s))),
                Err(e) => send(&tx, WorkerEvent::Error(e.to_string())),
            },
            Effect::Quit | Effect::Copy(_) => {}
        }
    }

    fn support_turn(&mut self, req: Request) {
        let Some(parts) = self.backend.support.clone() else {
            return;
        };
        let id = req.turn;
        let tx = self.tx.clone();
        let ctx = self.context();
        let params = self.backend.params.clone();
        // A conversation that starts over (no history) is a new dialogue.
        if req.history.is_empty() {
            self.dialogue = Arc::new(tokio::sync::Mutex::new(Dialogue::new()));
        }
        let dialogue = self.dialogue.clone();
        self.current = Some(tokio::spawn(async move {
            let Some(ctx) = ready(ctx, &tx, id).await else {
                return;
            };
            let agent = support::Agent {
                ctx,
                template: parts.template.clone(),
                policy: parts.policy.clone(),
                classifier: parts.classifier.clone(),
                params,
            };
            let mut sink = ChannelSink {
                turn: id,
                tx: tx.clone(),
            };
            let mut d = dialogue.lock().await;
            // Keep the dialogue in step with the screen's history: /retry
            // and cancelled replies leave turns the customer no longer sees.
            d.turns.truncate(req.history.len() / 2);
            match support::respond(&agent, &mut d, &req.user, &mut sink).await {
                Ok(record) => {
                    let status = if d.handover.is_some() {
                        "handed_over"
                    } else {
                        "open"
                    };
                    let ticket = Ticket::from_dialogue(&d, status, &parts.policy.greeting);
                    if let Err(e) = parts.tickets.save(&ticket) {
                        send(
                            &tx,
                            WorkerEvent::Error(format!("could not write the ticket: {e}")),
                        );
                    }
                    send(
                        &tx,
                        WorkerEvent::Done {
                            turn: id,
                            reply: support_done(record, &d.ticket),
                        },
                    );
                }
                Err(e) => send(
                    &tx,
                    WorkerEvent::Failed {
                        turn: id,
                        message: e.to_string(),
                    },
                ),
            }
        }));
    }

    pub fn stop(&mut self) {
        if let Some(task) = self.current.take() {
            task.abort();
        }
        if let Some(task) = self.loader.take() {
            task.abort();
        }
    }
}

fn support_done(r: TurnRecord, ticket: &str) -> ReplyDone {
    let cited: Vec<usize> = r.citations.iter().map(|c| c.n).collect();
    ReplyDone {
        sources: sources(r.passages, &cited),
        stats: r.time_to_first_token_s.map(|t| ReplyStats {
            time_to_first_token_s: t,
            tokens_per_s: r.tokens_per_s.unwrap_or_default(),
            ..ReplyStats::default()
        }),
        context_used: r.context_tokens.unwrap_or_default(),
        dropped_messages: 0,
        citations_valid: r.citations_valid,
        support: Some(SupportView {
            intent: r.intent,
            sentiment: r.sentiment,
            handover: r.handover,
            ticket: ticket.to_string(),
        }),
    }
}

fn sources(passages: Vec<PassageRef>, cited: &[usize]) -> Vec<Source> {
    passages
        .into_iter()
        .map(|p| Source {
            cited: cited.contains(&p.n),
            n: p.n,
            path: p.path,
            lines: p.lines,
            heading: p.heading,
            snippet: p.snippet,
            highlights: p.highlights,
        })
        .collect()
}

/// What the UI needs from a finished turn.
pub fn reply_done(report: TurnReport) -> ReplyDone {
    let cited: Vec<usize> = report.citations.iter().map(|c| c.n).collect();
    let stats = report.finished.as_ref().map(|f| ReplyStats {
        prompt_tokens: f.usage.prompt_tokens,
        completion_tokens: f.usage.completion_tokens,
        time_to_first_token_s: f.timings.time_to_first_token_s,
        tokens_per_s: f.timings.generated_tokens_per_s,
    });
    ReplyDone {
        sources: sources(
            report.passages.iter().map(PassageRef::from).collect(),
            &cited,
        ),
        context_used: stats
            .as_ref()
            .map(|s| s.prompt_tokens + s.completion_tokens)
            .unwrap_or(0),
        stats,
        dropped_messages: report.dropped_messages,
        citations_valid: report.citations_valid,
        support: None,
    }
}
