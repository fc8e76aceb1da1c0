//! The agent's protocol: plain types with no I/O. Front ends send [`Op`]s
//! and render [`Event`]s; the TUI and the pipe consume exactly the same
//! stream, so every behaviour is testable without a terminal.

use serde::{Deserialize, Serialize};

/// What a front end asks of the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    UserTurn {
        text: String,
    },
    /// The user's answer to a pending call (part 2: approvals).
    Decide {
        call_id: String,
        decision: Decision,
    },
    /// Stop the current step; the next turn is told about it.
    Interrupt,
    Shutdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Once,
    Session,
    Deny,
    Abort,
}

/// What a tool may do to the workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Read,
    Write,
    Exec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolStatus {
    Completed,
    Failed,
    /// A repeat of an earlier identical call, answered from its result.
    Repeated,
    /// A native call naming no tool, or with arguments that are not a JSON
    /// object of the tool's parameters; the model is told and may retry.
    Invalid,
    Aborted,
}

/// Why a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Answered,
    StepLimit,
    LoopDetected,
    Aborted,
    Error,
}

impl StopReason {
    /// The message a user sees when the turn ended without an answer.
    pub fn explain(self, max_steps: usize) -> Option<String> {
        match self {
            StopReason::Answered => None,
            StopReason::StepLimit => Some(format!(
                "step limit ({max_steps}) reached; send another message to continue"
            )),
            StopReason::LoopDetected => {
                Some("loop detected: the model repeated the same call three times".into())
            }
            StopReason::Aborted => Some("interrupted".into()),
            StopReason::Error => Some("the turn ended on an error".into()),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnUsage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

/// What the agent reports, in order, for each turn: `TurnStarted`, then per
/// step either text deltas or `ToolStarted` + `ToolCompleted`, then one
/// `TurnCompleted`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    #[serde(rename = "turn.started")]
    TurnStarted { turn: usize },
    #[serde(rename = "text.delta")]
    Delta { text: String },
    #[serde(rename = "tool.started")]
    ToolStarted {
        call_id: String,
        tool: String,
        args: serde_json::Value,
        risk: Risk,
    },
    #[serde(rename = "tool.completed")]
    ToolCompleted {
        call_id: String,
        tool: String,
        status: ToolStatus,
        wall_ms: u64,
        /// One line for compact rendering: `read src/a.rs (120 lines)`.
        summary: String,
        /// The text the model was given.
        output: String,
    },
    #[serde(rename = "warning")]
    Warning { message: String },
    /// After an answer, when the session has searched the knowledge base:
    /// the passages the answer cites (checked as in `lore ask`), whether
    /// every `[n]` names a passage a search returned, and whether the
    /// passages support the answer.
    #[serde(rename = "answer.sources")]
    Sources {
        citations: Vec<crate::grounding::Citation>,
        valid: bool,
        supported: bool,
    },
    #[serde(rename = "turn.completed")]
    TurnCompleted {
        turn: usize,
        steps: usize,
        stop: StopReason,
        answer: String,
        usage: TurnUsage,
        #[serde(skip_serializing_if = "Option::is_none", default)]
        error: Option<String>,
    },
}
