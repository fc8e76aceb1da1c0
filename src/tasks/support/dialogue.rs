//! A support dialogue in progress: its turns as recorded, the history the
//! model sees, and the hand-over rules.

use serde::{Deserialize, Serialize};

use super::classifier::Sentiment;
use crate::grounding::{Citation, Passage};
use crate::model::{ChatMessage, Role};
use crate::tasks::grounded::GroundedReply;

/// One customer turn and the agent's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TurnRecord {
    pub customer: String,
    /// The search query, rewritten from the dialogue.
    pub query: String,
    pub intent: String,
    pub sentiment: Sentiment,
    pub reply: String,
    /// False when the knowledge base held nothing relevant.
    pub found: bool,
    pub passages: Vec<Passage>,
    pub citations: Vec<Citation>,
    pub citations_valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handover: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_to_first_token_s: Option<f64>,
    /// Generated tokens per second after the first (generated replies only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_s: Option<f64>,
    /// Prompt plus reply tokens (generated replies only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_tokens: Option<usize>,
}

impl TurnRecord {
    /// A turn not answered yet.
    pub fn new(customer: &str, query: String, intent: String, sentiment: Sentiment) -> TurnRecord {
        TurnRecord {
            customer: customer.to_string(),
            query,
            intent,
            sentiment,
            reply: String::new(),
            found: false,
            passages: Vec::new(),
            citations: Vec::new(),
            citations_valid: true,
            handover: None,
            time_to_first_token_s: None,
            tokens_per_s: None,
            context_tokens: None,
        }
    }

    /// Records the grounded answer.
    pub fn answered(&mut self, reply: GroundedReply) {
        if let Some(f) = &reply.finished {
            self.time_to_first_token_s = Some(f.timings.time_to_first_token_s);
            self.tokens_per_s = Some(f.timings.generated_tokens_per_s);
            self.context_tokens = Some(f.usage.prompt_tokens + f.usage.completion_tokens);
        }
        self.reply = reply.answer;
        self.found = reply.found;
        self.passages = reply.passages;
        self.citations = reply.citations;
        self.citations_valid = reply.citations_valid;
    }
}

/// The thresholds of hand-over: a person takes over after this many
/// turns in a row that were negative, or that found nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandoverRules {
    pub negative_turns: usize,
    pub not_found_turns: usize,
}

/// A dialogue in progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dialogue {
    pub ticket: String,
    pub started: String,
    pub turns: Vec<TurnRecord>,
    /// Why and at which turn the agent handed over.
    pub handover: Option<String>,
}

impl Dialogue {
    pub fn new() -> Dialogue {
        Dialogue {
            ticket: format!("T-{}", crate::fs::new_id()),
            started: chrono::Local::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            turns: Vec::new(),
            handover: None,
        }
    }

    /// The conversation as chat history, without retrieved passages.
    pub fn history(&self) -> Vec<ChatMessage> {
        self.turns
            .iter()
            .flat_map(|t| {
                [
                    ChatMessage::new(Role::User, t.customer.clone()),
                    ChatMessage::new(Role::Assistant, t.reply.clone()),
                ]
            })
            .collect()
    }

    /// The customer's earlier turns, oldest first.
    pub fn customer_turns(&self) -> Vec<String> {
        self.turns.iter().map(|t| t.customer.clone()).collect()
    }

    fn streak(&self, pred: impl Fn(&TurnRecord) -> bool) -> usize {
        self.turns.iter().rev().take_while(|t| pred(t)).count()
    }

    /// Why `record` (not yet pushed) ends the dialogue with a hand-over,
    /// if it does.
    pub fn handover_reason(&self, record: &TurnRecord, rules: HandoverRules) -> Option<String> {
        if !record.found {
            let misses = 1 + self.streak(|t| !t.found);
            return (misses >= rules.not_found_turns.max(1))
                .then(|| format!("{misses} turns in a row found nothing in the knowledge base"));
        }
        if record.sentiment != Sentiment::Negative {
            return None;
        }
        let negative = 1 + self.streak(|t| t.sentiment == Sentiment::Negative);
        (negative >= rules.negative_turns.max(1))
            .then(|| format!("the customer was unhappy {negative} turns in a row"))
    }
}

impl Default for Dialogue {
    fn default() -> Dialogue {
        Dialogue::new()
    }
}
