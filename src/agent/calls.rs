//! One tool call of a step, from the model's call to its result: the
//! policy's verdict (and the user's, when asked), the loop guard, the run
//! and what the model is told. Every decision on a call that acts is
//! reported and logged with who made it.

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{Map, Value};
use tokio::sync::watch;

use super::policy::{Call, Verdict, DECLINED_NOTE};
use super::protocol::{ApprovalRequest, DecidedBy, Decision, Event, Risk, StopReason, ToolStatus};
use super::step::Parsed;
use super::tools::{self, Context};
use super::{call_label, truncate, Agent, Item, Outcome, ToolFormat, REPEAT_NOTE};

/// Results of earlier calls this turn, by call, with how often each ran.
pub(super) type Seen = HashMap<String, (usize, String)>;

/// What the policy and the user made of a call.
enum Gate {
    Run,
    /// Not run; the model is told `message`.
    Refused(ToolStatus, String),
    /// Not run, and the turn ends.
    Stop(StopReason, ToolStatus, String),
}

impl Agent {
    /// Handles one call; `Some` when it ends the turn.
    pub(super) fn call(
        &mut self,
        reply: &str,
        tool: String,
        args: Map<String, Value>,
        seen: &mut Seen,
        cancel: &watch::Receiver<bool>,
        emit: &mut dyn FnMut(Event),
    ) -> Option<Outcome> {
        let record = match self.config.tool_format {
            ToolFormat::Native => Parsed::call_record(&tool, &args),
            ToolFormat::Constrained => reply.trim().to_string(),
        };
        self.push(Item::Call(record));
        let args = Value::Object(args);
        let key = format!("{tool} {args}");
        let Some(risk) = self.risk_of(&tool) else {
            let e = format!("the model called an unknown tool: {tool}");
            return Some(Outcome::new(StopReason::Error, 0, String::new(), Some(e)));
        };
        let call_id = self.next_call_id();
        emit(Event::ToolStarted {
            call_id: call_id.clone(),
            tool: tool.clone(),
            args: args.clone(),
            risk,
        });
        match self.authorize(&call_id, &tool, risk, &args, cancel, emit) {
            Gate::Run => {
                if !self.execute(seen, &key, call_id, &tool, &args, cancel, emit) {
                    return Some(Outcome::new(
                        StopReason::LoopDetected,
                        0,
                        String::new(),
                        None,
                    ));
                }
                if risk != Risk::Read {
                    // What was read may have changed: only the call itself
                    // still counts as a repeat.
                    seen.retain(|k, _| k == &key);
                }
                None
            }
            Gate::Refused(status, message) => {
                self.refused(call_id, &tool, &args, status, message, emit);
                None
            }
            Gate::Stop(stop, status, message) => {
                if stop == StopReason::Declined {
                    self.stopped = Some(format!(
                        "(In the previous turn the user declined {} and stopped the turn.)",
                        call_label(&tool, &args)
                    ));
                }
                self.refused(call_id, &tool, &args, status, message, emit);
                Some(Outcome::new(stop, 0, String::new(), None))
            }
        }
    }

    /// The risk of `tool`: offered tools by their own, and `edit` and
    /// `shell` even when the mode does not offer them, so a call of one is
    /// refused with the mode's reason rather than as unknown.
    fn risk_of(&self, tool: &str) -> Option<Risk> {
        if let Some(t) = self.registry.get(tool) {
            return Some(t.risk());
        }
        tools::Registry::read_only()
            .with_actions()
            .get(tool)
            .map(|t| t.risk())
    }

    /// The policy's verdict, and the user's where it asks.
    fn authorize(
        &mut self,
        call_id: &str,
        tool: &str,
        risk: Risk,
        args: &Value,
        cancel: &watch::Receiver<bool>,
        emit: &mut dyn FnMut(Event),
    ) -> Gate {
        if risk == Risk::Read {
            return Gate::Run;
        }
        let subject = subject(tool, args);
        let call = Call {
            tool,
            risk,
            subject: &subject,
        };
        let grant = match self.policy.decide(call) {
            Verdict::Allow(by) => {
                self.decided(call_id, tool, &subject, Decision::Once, by, emit);
                return Gate::Run;
            }
            Verdict::Deny { by, message } => {
                self.decided(call_id, tool, &subject, Decision::Deny, by, emit);
                return Gate::Refused(ToolStatus::Denied, message);
            }
            Verdict::Unasked { message } => {
                self.decided(
                    call_id,
                    tool,
                    &subject,
                    Decision::Abort,
                    DecidedBy::Mode,
                    emit,
                );
                return Gate::Stop(StopReason::NeedsApproval, ToolStatus::Denied, message);
            }
            Verdict::Ask { grant } => grant,
        };
        // An edit that would fail is not worth asking about.
        let diff = match self.preview(tool, args) {
            Ok(d) => d,
            Err(e) => return Gate::Refused(ToolStatus::Failed, format!("error: {e}")),
        };
        let request = ApprovalRequest {
            call_id: call_id.to_string(),
            tool: tool.to_string(),
            subject: subject.clone(),
            cwd: self.root.path().display().to_string(),
            sandbox: self.policy.isolation.label(),
            reason: args
                .get("reason")
                .and_then(Value::as_str)
                .filter(|r| !r.trim().is_empty())
                .map(str::to_string),
            diff,
            grant,
        };
        emit(Event::ApprovalRequested(request.clone()));
        let decision = self.approver.decide(&request);
        self.decided(call_id, tool, &subject, decision, DecidedBy::User, emit);
        match decision {
            Decision::Once => Gate::Run,
            Decision::Session => {
                self.policy.grant(call);
                Gate::Run
            }
            Decision::Deny => Gate::Refused(ToolStatus::Declined, DECLINED_NOTE.into()),
            Decision::Abort if *cancel.borrow() => Gate::Stop(
                StopReason::Aborted,
                ToolStatus::Aborted,
                "interrupted".into(),
            ),
            Decision::Abort => Gate::Stop(
                StopReason::Declined,
                ToolStatus::Declined,
                DECLINED_NOTE.into(),
            ),
        }
    }

    fn preview(
        &self,
        tool: &str,
        args: &Value,
    ) -> Result<Option<super::protocol::Preview>, String> {
        let Some(t) = self.registry.get(tool) else {
            return Ok(None);
        };
        let never = || false;
        let cx = self.context(&never);
        t.preview(args, &cx)
    }

    fn decided(
        &mut self,
        call_id: &str,
        tool: &str,
        subject: &str,
        decision: Decision,
        by: DecidedBy,
        emit: &mut dyn FnMut(Event),
    ) {
        emit(Event::ApprovalDecided {
            call_id: call_id.to_string(),
            tool: tool.to_string(),
            decision,
            by,
        });
        self.push(Item::Decision {
            call_id: call_id.to_string(),
            tool: tool.to_string(),
            subject: subject.to_string(),
            decision,
            by,
            mode: self.policy.mode,
        });
    }

    /// A call that did not run: reported, and the model told why.
    fn refused(
        &mut self,
        call_id: String,
        tool: &str,
        args: &Value,
        status: ToolStatus,
        message: String,
        emit: &mut dyn FnMut(Event),
    ) {
        let summary = format!("{}: {}", call_label(tool, args), short(&message));
        emit(Event::ToolCompleted {
            call_id,
            tool: tool.to_string(),
            status,
            wall_ms: 0,
            summary: summary.clone(),
            output: message.clone(),
        });
        self.push(Item::Result {
            text: format!("Result of {}:\n{message}", call_label(tool, args)),
            summary,
            elided: false,
        });
    }

    pub(super) fn context<'a>(&'a self, cancel: &'a dyn Fn() -> bool) -> Context<'a> {
        Context {
            root: &self.root,
            search: self.search.as_ref(),
            next_passage: self.passages.len() + 1,
            ledger: Some(&self.ledger),
            shell: self.shell.as_ref(),
            cancel,
        }
    }
}

/// What a call acts on, as the policy and the prompt name it.
fn subject(tool: &str, args: &Value) -> String {
    let key = if tool == "shell" { "command" } else { "path" };
    args.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// The first sentence of a refusal, for the one-line summary.
fn short(message: &str) -> String {
    let first = message.split(": do not").next().unwrap_or(message);
    first.trim_end_matches('.').to_lowercase()
}

impl Agent {
    /// Reports a native call that cannot run and tells the model why, so
    /// the next step can correct it.
    pub(super) fn invalid(&mut self, raw: String, error: String, emit: &mut dyn FnMut(Event)) {
        let call_id = self.next_call_id();
        let tool = raw.split_whitespace().next().unwrap_or("").to_string();
        emit(Event::ToolStarted {
            call_id: call_id.clone(),
            tool: tool.clone(),
            args: Value::Null,
            risk: Risk::Read,
        });
        let text = format!("error: {error}");
        emit(Event::ToolCompleted {
            call_id,
            tool,
            status: ToolStatus::Invalid,
            wall_ms: 0,
            summary: format!("invalid call: {error}"),
            output: text.clone(),
        });
        self.push(Item::Call(raw));
        self.push(Item::Result {
            text,
            summary: "invalid call".into(),
            elided: false,
        });
    }

    /// Runs a call through the loop guard, reporting it; `false` when it
    /// is the third identical call, which ends the turn.
    #[allow(clippy::too_many_arguments)]
    fn execute(
        &mut self,
        seen: &mut Seen,
        key: &str,
        call_id: String,
        tool: &str,
        args: &Value,
        cancel: &watch::Receiver<bool>,
        emit: &mut dyn FnMut(Event),
    ) -> bool {
        let started = Instant::now();
        let seen_before = seen.get(key).cloned();
        let (status, text, summary) = match seen_before {
            Some((count, _)) if count >= 2 => {
                emit(Event::ToolCompleted {
                    call_id,
                    tool: tool.to_string(),
                    status: ToolStatus::Repeated,
                    wall_ms: 0,
                    summary: format!("{tool}: third identical call"),
                    output: String::new(),
                });
                return false;
            }
            Some((count, earlier)) => {
                seen.insert(key.to_string(), (count + 1, earlier.clone()));
                (
                    ToolStatus::Repeated,
                    format!("{earlier}\n{REPEAT_NOTE}"),
                    format!("{tool} (repeated)"),
                )
            }
            None => {
                let t = self.registry.get(tool).expect("checked by the caller");
                let (status, text, summary, passages) = self.run_tool(t, tool, args, cancel);
                self.passages.extend(passages);
                seen.insert(key.to_string(), (1, text.clone()));
                (status, text, summary)
            }
        };
        emit(Event::ToolCompleted {
            call_id,
            tool: tool.to_string(),
            status,
            wall_ms: started.elapsed().as_millis() as u64,
            summary: summary.clone(),
            output: text.clone(),
        });
        self.push(Item::Result {
            text,
            summary,
            elided: false,
        });
        true
    }

    /// Runs one call: the status, the text the model gets (cut to the
    /// context's budget) and a one-line summary.
    fn run_tool(
        &self,
        t: &dyn tools::Tool,
        tool: &str,
        args: &Value,
        cancel: &watch::Receiver<bool>,
    ) -> (ToolStatus, String, String, Vec<crate::grounding::Passage>) {
        let cancelled = || *cancel.borrow();
        let cx = self.context(&cancelled);
        let budget = truncate::budget(self.model.info().context_length);
        let (status, body, summary, passages) = match t.run(args, &cx) {
            Ok(out) => (
                out.status.unwrap_or(ToolStatus::Completed),
                truncate::head_tail(&out.text, budget),
                out.summary,
                out.passages,
            ),
            Err(e) => (
                ToolStatus::Failed,
                format!("error: {e}"),
                format!("{tool} failed: {e}"),
                Vec::new(),
            ),
        };
        let text = format!("Result of {}:\n{body}", call_label(tool, args));
        (status, text, summary, passages)
    }
}
