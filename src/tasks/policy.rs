//! The policies every front end shares, in one place: how hot a grounded
//! answer may sample, how much of the context the answer keeps, what a
//! prompt may drop to fit, and how evaluations are made deterministic.

use crate::model::GenParams;

/// Grounded answers (ask, the chat's ask mode, support) should not wander
/// from their passages: their temperature is capped at this.
pub const GROUNDED_TEMPERATURE_CAP: f64 = 0.3;

/// Tokens set aside for the template and the question when deciding
/// whether an attached document fits whole; the fit step then checks
/// exactly.
pub const TEMPLATE_ALLOWANCE_TOKENS: usize = 200;

/// How the model is made to cite its passages (`grounding.citations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Citations {
    /// When the answer cites no passage, ask the model which passages
    /// support it, under a constraint that admits only `[1]`..`[k]` or
    /// `none`.
    Step,
    /// Generate the answer under a constraint that ends every sentence
    /// with a marker.
    Inline,
    /// Markers the model writes on its own, else overlap attribution.
    Off,
}

/// How a grounded answer is checked after it is generated (settings
/// `grounding.strict`, `grounding.citations`, `support.strict`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    /// Hold the answer back until it is checked, and reply not found
    /// instead when the sources do not support it.
    pub strict: bool,
    pub citations: Citations,
}

impl Checks {
    pub const NONE: Checks = Checks {
        strict: false,
        citations: Citations::Off,
    };
}

/// What a turn's prompt may give up to fit the context, and how it samples.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnPolicy {
    /// Passages that must stay in the prompt: with fewer, the turn is
    /// too large rather than answered from nothing.
    pub min_passages: usize,
    /// The highest temperature the turn samples at.
    pub max_temperature: Option<f64>,
    /// How the answer is checked against its passages; none for plain
    /// conversation, which has no sources to answer from.
    pub checks: Option<Checks>,
}

impl TurnPolicy {
    /// Answers from retrieved passages. Earlier exchanges go first (oldest
    /// whole exchange first), then the weakest passages, down to one.
    pub const GROUNDED: TurnPolicy = TurnPolicy {
        min_passages: 1,
        max_temperature: Some(GROUNDED_TEMPERATURE_CAP),
        checks: Some(Checks::NONE),
    };

    /// Plain conversation: history goes first, then any attached passages.
    pub const CHAT: TurnPolicy = TurnPolicy {
        min_passages: 0,
        max_temperature: None,
        checks: None,
    };

    /// [`TurnPolicy::GROUNDED`] with these checks.
    pub fn grounded(checks: Checks) -> TurnPolicy {
        TurnPolicy {
            checks: Some(checks),
            ..TurnPolicy::GROUNDED
        }
    }

    /// `params` with this policy's temperature cap applied.
    pub fn params(&self, params: &GenParams) -> GenParams {
        let mut p = params.clone();
        if let Some(cap) = self.max_temperature {
            p.temperature = p.temperature.min(cap);
        }
        p
    }
}

/// Tokens kept free for the answer: the requested length, but never more
/// than half the context, so a long `--max-tokens` cannot crowd out the
/// question (the engine caps the reply at what is left anyway).
pub fn answer_room(context_length: usize, max_tokens: usize) -> usize {
    max_tokens.min(context_length / 2)
}

/// Evaluations sample greedily, so two runs of one set agree.
pub fn eval_params(params: &GenParams) -> GenParams {
    GenParams {
        temperature: 0.0,
        ..params.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grounded_turns_cap_the_temperature_and_chat_does_not() {
        let hot = GenParams {
            temperature: 1.2,
            ..GenParams::default()
        };
        assert_eq!(TurnPolicy::GROUNDED.params(&hot).temperature, 0.3);
        assert_eq!(TurnPolicy::CHAT.params(&hot).temperature, 1.2);
        assert_eq!(eval_params(&hot).temperature, 0.0);
        assert_eq!(answer_room(8192, 512), 512);
        assert_eq!(answer_room(100, 512), 50);
    }
}
