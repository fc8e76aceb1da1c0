//! The bridge between the screen and the conversation service: effects
//! that `update` returns become service calls, and the service's
//! notifications become the screen's events. Session files are the
//! screen's own and are saved here, off the UI's path.

use tokio::sync::mpsc;

use super::app::{Effect, Event, ModelView, ReplyDone, Source, SupportView, WorkerEvent};
use crate::grounding::support::{SentenceSupport, Verdict};
use crate::grounding::{Citation, Passage};
use crate::sessions::{ReplyStats, Store};
use crate::tasks::conversation::{
    AgentParts, ConversationService, Notification, Services, TurnOutcome,
};
use crate::tasks::grounded::GroundedReply;
use crate::tasks::support::TurnRecord;

/// Everything the TUI's turns need, prepared by the application root.
pub struct Backend {
    pub services: Services,
    pub store: Store,
    /// Agent mode's workspace and settings; without them agent turns
    /// fail with the reason.
    pub agent: Option<AgentParts>,
}

pub struct Worker {
    service: ConversationService,
    store: Store,
    tx: mpsc::UnboundedSender<Event>,
    forward: tokio::task::JoinHandle<()>,
}

fn send(tx: &mpsc::UnboundedSender<Event>, ev: WorkerEvent) {
    // The UI gone means we are quitting; nothing to tell.
    let _ = tx.send(Event::Worker(ev));
}

impl Worker {
    /// Starts the service (the model loads in the background) and returns
    /// at once.
    pub fn start(backend: Backend, tx: mpsc::UnboundedSender<Event>) -> Worker {
        let (ntx, mut nrx) = mpsc::unbounded_channel();
        let mut service = ConversationService::start(backend.services, ntx);
        if let Some(parts) = backend.agent {
            service.set_agent(parts);
        }
        let events = tx.clone();
        let forward = tokio::spawn(async move {
            while let Some(n) = nrx.recv().await {
                for ev in worker_events(n) {
                    send(&events, ev);
                }
            }
        });
        Worker {
            service,
            store: backend.store,
            tx,
            forward,
        }
    }

    pub fn apply(&mut self, effect: Effect) {
        let tx = &self.tx;
        match effect {
            Effect::Send(req) => self.service.send(req),
            Effect::Cancel => self.service.cancel(),
            Effect::Interrupt => self.service.interrupt(),
            Effect::ResetAgent => self.service.reset_agent(),
            Effect::CountTokens(req) => self.service.count_tokens(req),
            Effect::LoadModel(setting) => self.service.load_model(&setting),
            Effect::SwitchIndex(name) => self.service.switch_index(&name),
            Effect::Decide { call_id, decision } => self.service.decide(call_id, decision),
            Effect::Undo => self.service.undo(),
            Effect::SetAgentMode(mode) => self.service.set_agent_mode(mode),
            Effect::Save(mut session) => {
                if let Err(e) = self.store.save(&mut session) {
                    send(
                        tx,
                        WorkerEvent::Error(format!("could not save the conversation: {e}")),
                    );
                }
            }
            Effect::ListSessions => match self.store.list() {
                Ok(items) => send(tx, WorkerEvent::Sessions(items)),
                Err(e) => send(tx, WorkerEvent::Error(e.to_string())),
            },
            Effect::LoadSession(id) => match self.store.load(&id) {
                Ok(s) => send(tx, WorkerEvent::SessionLoaded(Box::new(s))),
                Err(e) => send(tx, WorkerEvent::Error(e.to_string())),
            },
            // The terminal's own: the runtime writes them.
            Effect::Quit
            | Effect::Copy(_)
            | Effect::Bell
            | Effect::Title(_)
            | Effect::DrainInput => {}
        }
    }

    /// Stops what is in flight and closes the support dialogue's ticket.
    pub async fn stop(&mut self) {
        self.service.stop();
        if let Some(Err(e)) = self.service.finish_dialogue().await {
            eprintln!("lore: warning: {e}");
        }
        self.forward.abort();
    }
}

fn worker_events(n: Notification) -> Vec<WorkerEvent> {
    let ev = match n {
        Notification::ModelLoading { name } => WorkerEvent::ModelLoading { name },
        Notification::ModelReady { info } => WorkerEvent::ModelReady {
            model: ModelView {
                name: info.name,
                device: info.device.to_string(),
                context_length: info.context_length,
            },
        },
        Notification::ModelFailed { message } => WorkerEvent::ModelFailed { message },
        Notification::IndexReady { name } => WorkerEvent::IndexReady { name },
        Notification::Delta { turn, text } => WorkerEvent::Delta { turn, text },
        Notification::Done { turn, outcome } => match *outcome {
            TurnOutcome::Chat(reply) => WorkerEvent::Done {
                turn,
                reply: reply_done(reply),
            },
            TurnOutcome::Support {
                record,
                ticket,
                ticket_path,
            } => {
                let done = WorkerEvent::Done {
                    turn,
                    reply: support_done(record, &ticket),
                };
                return match ticket_path {
                    Ok(_) => vec![done],
                    Err(e) => vec![WorkerEvent::Error(e), done],
                };
            }
        },
        Notification::Failed { turn, message } => WorkerEvent::Failed { turn, message },
        Notification::Agent { turn, update } => WorkerEvent::Agent { turn, update },
        Notification::Note(note) => WorkerEvent::Note(note),
        Notification::Error(e) => WorkerEvent::Error(e),
    };
    vec![ev]
}

fn support_done(r: TurnRecord, ticket: &str) -> ReplyDone {
    ReplyDone {
        sources: sources(r.passages, &r.citations),
        stats: r.time_to_first_token_s.map(|t| ReplyStats {
            time_to_first_token_s: t,
            tokens_per_s: r.tokens_per_s.unwrap_or_default(),
            ..ReplyStats::default()
        }),
        context_used: r.context_tokens.unwrap_or_default(),
        dropped_messages: 0,
        citations_valid: r.citations_valid,
        unsupported: unsupported(&r.support),
        withheld: r.withheld.is_some(),
        support: Some(SupportView {
            intent: r.intent,
            sentiment: r.sentiment.to_string(),
            handover: r.handover,
            ticket: ticket.to_string(),
        }),
    }
}

/// The text of the sentences the support check marked unsupported.
fn unsupported(support: &[SentenceSupport]) -> Vec<String> {
    support
        .iter()
        .filter(|s| s.verdict == Verdict::Unsupported)
        .map(|s| s.text.clone())
        .collect()
}

fn sources(passages: Vec<Passage>, citations: &[Citation]) -> Vec<Source> {
    passages
        .into_iter()
        .map(|p| Source {
            cited: citations.iter().any(|c| c.n == p.n),
            passage: p,
        })
        .collect()
}

/// What the UI needs from a finished turn.
pub fn reply_done(report: GroundedReply) -> ReplyDone {
    let stats = report.finished.as_ref().map(|f| ReplyStats {
        prompt_tokens: f.usage.prompt_tokens,
        completion_tokens: f.usage.completion_tokens,
        time_to_first_token_s: f.timings.time_to_first_token_s,
        tokens_per_s: f.timings.generated_tokens_per_s,
    });
    ReplyDone {
        sources: sources(report.passages, &report.citations),
        context_used: stats
            .as_ref()
            .map(|s| s.prompt_tokens + s.completion_tokens)
            .unwrap_or(0),
        stats,
        dropped_messages: report.dropped_messages,
        citations_valid: report.citations_valid,
        unsupported: unsupported(&report.support),
        withheld: report.withheld.is_some(),
        support: None,
    }
}
