//! A support dialogue in progress: its turns as recorded, the history the
//! model sees, and the hand-over rules.

use serde::{Deserialize, Serialize};

use super::classifier::Sentiment;
use crate::grounding::support::SentenceSupport;
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
    /// Whether the passages back the reply (see
    /// [`crate::grounding::support`]); true in records written before the
    /// check existed.
    #[serde(default = "yes")]
    pub supported: bool,
    /// Each sentence of the reply and the passage supporting it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub support: Vec<SentenceSupport>,
    /// The answer held back as unsupported (strict checks); `reply` is
    /// then the not-found reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withheld: Option<String>,
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

fn yes() -> bool {
    true
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
            supported: true,
            support: Vec::new(),
            withheld: None,
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
        self.supported = reply.supported;
        self.support = reply.support;
        self.withheld = reply.withheld;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grounding::support::Verdict;

    #[test]
    fn records_written_before_the_support_check_still_load() {
        let old = r#"{
            "customer": "How long can I return?",
            "query": "return",
            "intent": "returns",
            "sentiment": "neutral",
            "reply": "Within 30 days [1].",
            "found": true,
            "passages": [],
            "citations": [],
            "citations_valid": true
        }"#;
        let r: TurnRecord = serde_json::from_str(old).unwrap();
        assert!(r.supported, "an unchecked record counts as supported");
        assert!(r.support.is_empty() && r.withheld.is_none());
        let d: Dialogue = serde_json::from_str(&format!(
            r#"{{"ticket": "T-1", "started": "2026-01-01T00:00:00Z", "turns": [{old}], "handover": null}}"#
        ))
        .unwrap();
        assert_eq!(d.turns.len(), 1);
    }

    #[test]
    fn the_support_check_round_trips_and_is_left_out_when_empty() {
        let mut r = TurnRecord::new("q", "q".into(), "other".into(), Sentiment::Neutral);
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["supported"], true);
        assert!(json.get("support").is_none() && json.get("withheld").is_none());
        r.supported = false;
        r.withheld = Some("It costs €59.".into());
        r.support = vec![SentenceSupport {
            text: "It costs €59.".into(),
            verdict: Verdict::Unsupported,
            passage: None,
            missing: vec!["59".into()],
        }];
        let back: TurnRecord = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert!(!back.supported);
        assert_eq!(back.support, r.support);
        assert_eq!(back.withheld.as_deref(), Some("It costs €59."));
    }
}
