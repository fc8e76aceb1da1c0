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
    /// Refused by the mode or a deny rule; the model is told why.
    Denied,
    /// Declined by the user at an approval prompt.
    Declined,
    /// A command that ran past its timeout and was killed.
    TimedOut,
}

/// Who decided whether a call runs, as the session log records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DecidedBy {
    /// The user, at a prompt.
    User,
    /// A grant the user gave earlier in the session (`a` at a prompt).
    Grant,
    /// An `agent.allow` or `agent.deny` rule.
    Rule,
    /// The mode (`agent.mode`).
    Mode,
}

/// A call waiting for the user's consent, with everything the prompt
/// shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalRequest {
    pub call_id: String,
    pub tool: String,
    /// The command for `shell`; the file for `edit`.
    pub subject: String,
    /// The directory a command runs in.
    pub cwd: String,
    /// `sandbox: landlock + seccomp`, `sandbox: unavailable (reason)` or
    /// `sandbox: off (--no-sandbox)`.
    pub sandbox: String,
    /// Why the model wants it, when it said.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    /// For edits: the unified diff and its line counts.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub diff: Option<Preview>,
    /// What `a` grants for the rest of the session, as the prompt shows it
    /// (`cargo test …`); `None` when this call cannot be granted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub grant: Option<String>,
}

/// An edit's unified diff, for the prompt and the transcript.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    pub unified: String,
    pub added: usize,
    pub removed: usize,
}

/// Answers approval requests. The agent calls it from its turn and blocks
/// on the answer; the TUI's waits for a key, a pipe's reads `/dev/tty`.
pub trait Approver: Send {
    fn decide(&mut self, request: &ApprovalRequest) -> Decision;
}

/// The approver where nobody can answer: every request is declined and
/// the turn ends.
pub struct NoApprover;

impl Approver for NoApprover {
    fn decide(&mut self, _request: &ApprovalRequest) -> Decision {
        Decision::Abort
    }
}

/// Why a turn ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    Answered,
    StepLimit,
    LoopDetected,
    Aborted,
    /// A call needed the user's approval and nobody could give it.
    NeedsApproval,
    /// The user declined a call and stopped the turn (Esc at a prompt).
    Declined,
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
            StopReason::Declined => {
                Some("declined: the user stopped the turn at an approval".into())
            }
            StopReason::NeedsApproval => {
                Some("a call needed approval and there is no terminal to ask; see --mode".into())
            }
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
    /// A call waits for the user: the front end asks and the approver
    /// answers.
    #[serde(rename = "approval.requested")]
    ApprovalRequested(ApprovalRequest),
    /// Whether a call runs, and who decided.
    #[serde(rename = "approval.decided")]
    ApprovalDecided {
        call_id: String,
        tool: String,
        decision: Decision,
        by: DecidedBy,
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
