//! `lore chat`: one turn of a multi-turn conversation, in one of three
//! modes. The TUI drives it; it streams into a [`Sink`] like every task and
//! knows nothing of the screen.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::ask::{self, Citation, Passage};
use super::{stream_to_sink, TaskError};
use crate::engine::{ChatMessage, Engine, Finished, GenParams, Role};
use crate::index::chunk::ChunkOptions;
use crate::index::KnowledgeIndex;
use crate::output::Sink;
use crate::prompts::Template;

/// How a turn uses the knowledge base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Plain conversation; no retrieval.
    #[default]
    Chat,
    /// Every question is answered from retrieved passages, with citations.
    Ask,
    /// Customer-service dialogue over the knowledge base.
    Support,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Chat, Mode::Ask, Mode::Support];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Chat => "chat",
            Mode::Ask => "ask",
            Mode::Support => "support",
        }
    }

    /// Whether turns in this mode retrieve from the index.
    pub fn grounded(self) -> bool {
        self != Mode::Chat
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Mode {
    type Err = String;
    fn from_str(s: &str) -> Result<Mode, String> {
        Mode::ALL
            .into_iter()
            .find(|m| m.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown mode '{s}': use chat, ask or support"))
    }
}

/// What a turn needs besides the conversation: the model, the index and
/// the settings of grounded answers.
#[derive(Clone)]
pub struct ChatContext {
    pub engine: Engine,
    pub index: Option<std::sync::Arc<KnowledgeIndex>>,
    /// The `qa` template: renders the newest question with its passages.
    pub qa: Template,
    pub top_k: usize,
    pub min_score: f32,
    pub not_found: String,
    pub chunking: ChunkOptions,
}

/// One user turn.
#[derive(Debug, Clone)]
pub struct Turn {
    pub mode: Mode,
    /// System prompt of chat mode (grounded modes use their template's).
    pub system: String,
    /// Earlier user and assistant messages, oldest first. Passages are never
    /// stored in them: they go into the newest turn only, which keeps the
    /// prompt's prefix stable from turn to turn.
    pub history: Vec<ChatMessage>,
    pub user: String,
    /// A document given with this turn (text piped into `lore chat`).
    pub attachment: Option<String>,
    pub params: GenParams,
}

/// The result of one turn.
#[derive(Debug, Clone, Serialize)]
pub struct TurnReport {
    pub reply: String,
    /// False when a grounded turn retrieved nothing relevant (no model call).
    pub found: bool,
    pub passages: Vec<Passage>,
    pub citations: Vec<Citation>,
    pub citations_valid: bool,
    /// Oldest messages left out because the conversation outgrew the context.
    pub dropped_messages: usize,
    pub finished: Option<Finished>,
}

/// Runs one turn: retrieves when the mode says so, fits the conversation
/// into the context (dropping the oldest exchanges first), and streams the
/// reply into `sink`.
pub async fn turn<S: Sink + ?Sized>(
    ctx: &ChatContext,
    turn: &Turn,
    sink: &mut S,
) -> Result<TurnReport, TaskError> {
    let budget = ctx.engine.info().context_length.saturating_sub(
        turn.params
            .max_tokens
            .min(ctx.engine.info().context_length / 2),
    );
    let mut passages = match &turn.attachment {
        Some(doc) => ask::stdin_passages(doc, &turn.user, ctx.top_k, budget / 2, ctx.chunking)?,
        None => Vec::new(),
    };
    if turn.mode.grounded() {
        if let Some(index) = &ctx.index {
            passages.extend(ask::retrieve(index, &turn.user, ctx.top_k, ctx.min_score)?);
        }
        ask::renumber(&mut passages);
        if passages.is_empty() {
            sink.text(&ctx.not_found).map_err(TaskError::Output)?;
            return Ok(TurnReport {
                reply: ctx.not_found.clone(),
                found: false,
                passages,
                citations: Vec::new(),
                citations_valid: true,
                dropped_messages: 0,
                finished: None,
            });
        }
    }
    let (messages, dropped) = fit(ctx, turn, &mut passages, budget).await?;
    let generation = ctx.engine.generate(&messages, &turn.params).await?;
    let (reply, finished) = stream_to_sink(generation, sink).await?;
    let (citations, citations_valid) = ask::cite(&reply, &passages);
    Ok(TurnReport {
        reply,
        found: true,
        passages,
        citations,
        citations_valid,
        dropped_messages: dropped,
        finished: Some(finished),
    })
}

/// The messages of a turn as they would be sent, without retrieval: what
/// `/tokens` counts.
pub fn messages(
    ctx: &ChatContext,
    turn: &Turn,
    passages: &[Passage],
) -> Result<Vec<ChatMessage>, TaskError> {
    // Grounded turns (and any turn with passages) render the newest
    // question through the qa template; grounded modes also take its
    // system prompt, chat mode keeps its own.
    let (template_system, newest) = if turn.mode.grounded() || !passages.is_empty() {
        let rendered = ask::messages(&ctx.qa, &turn.user, passages).map_err(TaskError::Prompt)?;
        let system = rendered
            .iter()
            .find(|m| m.role == Role::System)
            .map(|m| m.content.clone());
        let user = rendered
            .into_iter()
            .rfind(|m| m.role == Role::User)
            .map_or_else(|| turn.user.clone(), |m| m.content);
        (system, user)
    } else {
        (None, turn.user.clone())
    };
    let system = match (turn.mode, template_system) {
        (Mode::Chat, _) | (_, None) => turn.system.clone(),
        (_, Some(t)) => t,
    };
    let mut out = Vec::new();
    if !system.is_empty() {
        out.push(ChatMessage::new(Role::System, system));
    }
    out.extend(turn.history.iter().cloned());
    out.push(ChatMessage::new(Role::User, newest));
    Ok(out)
}

/// Drops the oldest exchanges, then the weakest passages, until the prompt
/// fits `budget` tokens.
async fn fit(
    ctx: &ChatContext,
    turn: &Turn,
    passages: &mut Vec<Passage>,
    budget: usize,
) -> Result<(Vec<ChatMessage>, usize), TaskError> {
    let mut trimmed = turn.clone();
    let mut dropped = 0;
    loop {
        let msgs = messages(ctx, &trimmed, passages)?;
        let tokens = ctx.engine.count_tokens(&msgs).await?;
        if tokens <= budget {
            return Ok((msgs, dropped));
        }
        if !trimmed.history.is_empty() {
            // Whole exchanges go, so the history never starts with a reply.
            let n = trimmed.history.len().min(2);
            trimmed.history.drain(..n);
            dropped += n;
        } else if !passages.is_empty() {
            passages.pop();
        } else {
            return Err(TaskError::Engine(crate::engine::EngineError::TooLarge {
                prompt: tokens,
                limit: budget,
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_print() {
        assert_eq!("ASK".parse::<Mode>(), Ok(Mode::Ask));
        assert_eq!(" support ".parse::<Mode>(), Ok(Mode::Support));
        assert!("voice"
            .parse::<Mode>()
            .unwrap_err()
            .contains("chat, ask or support"));
        assert_eq!(Mode::Chat.to_string(), "chat");
        assert!(!Mode::Chat.grounded() && Mode::Ask.grounded());
    }
}
