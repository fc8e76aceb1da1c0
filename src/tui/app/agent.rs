//! Agent turns in the app: the agent's events become tool steps on the
//! reply, the answer becomes its text, and a turn that ends without an
//! answer says why. Ctrl+C first interrupts (the agent ends the turn as
//! aborted); a second Ctrl+C drops the turn at once. A call that needs
//! consent opens the approval prompt (see `approval`), and its outcome
//! shows with its step.

use super::{App, Effect, Source, Speaker};
use crate::agent::protocol::{Event as AgentEvent, StopReason, ToolStatus};
use crate::tasks::conversation::AgentUpdate;
use crate::tui::steps::ToolStep;

impl App {
    /// One update of agent turn `turn`; those of any other turn (one
    /// cancelled earlier) are ignored.
    pub(super) fn agent_update(&mut self, turn: u64, update: AgentUpdate) -> Vec<Effect> {
        let Some((t, idx)) = self.generating else {
            return Vec::new();
        };
        if t != turn || idx >= self.messages.len() {
            return Vec::new();
        }
        let event = match update {
            AgentUpdate::Started { max_steps, root } => {
                let run = self.agent_run.get_or_insert_with(Default::default);
                run.max_steps = max_steps;
                run.root = root;
                return Vec::new();
            }
            AgentUpdate::Event(e) => e,
        };
        let event = match event {
            AgentEvent::ApprovalRequested(request) => return self.approval_requested(request),
            AgentEvent::ApprovalDecided {
                call_id,
                tool,
                decision,
                by,
            } => {
                self.approval_decided(idx, &call_id, &tool, decision, by);
                return Vec::new();
            }
            other => other,
        };
        let m = &mut self.messages[idx];
        match event {
            // Approvals were handled above.
            AgentEvent::TurnStarted { .. }
            | AgentEvent::ApprovalRequested(_)
            | AgentEvent::ApprovalDecided { .. } => {}
            AgentEvent::Delta { text } => m.content.push_str(&text),
            AgentEvent::ToolStarted {
                call_id,
                tool,
                args,
                ..
            } => m.steps.push(ToolStep::started(&call_id, &tool, &args)),
            AgentEvent::ToolCompleted {
                call_id,
                tool,
                status,
                wall_ms,
                summary,
                output,
            } => {
                let at = m.steps.iter().rposition(|s| s.call_id == call_id);
                let step = match at {
                    Some(i) => &mut m.steps[i],
                    None => {
                        m.steps
                            .push(ToolStep::started(&call_id, &tool, &Default::default()));
                        m.steps.last_mut().expect("just pushed")
                    }
                };
                step.status = Some(status);
                step.wall_ms = wall_ms;
                step.summary = summary;
                step.output = output;
                if let Some(run) = &mut self.agent_run {
                    run.done += 1;
                }
            }
            AgentEvent::Warning { message } => {
                m.touch();
                self.note(Speaker::Note, message);
                return Vec::new();
            }
            AgentEvent::TurnCompleted {
                stop,
                answer,
                error,
                ..
            } => return self.agent_done(idx, stop, answer, error),
            // The passages the answer cites, for the sources pane (F2).
            AgentEvent::Sources { citations, .. } => {
                m.sources = citations
                    .into_iter()
                    .map(|c| Source {
                        passage: crate::grounding::Passage {
                            n: c.n,
                            path: c.path,
                            lines: c.lines,
                            heading: c.heading,
                            score: 0.0,
                            text: c.snippet.clone(),
                            snippet: c.snippet,
                            highlights: Vec::new(),
                        },
                        cited: true,
                    })
                    .collect();
            }
        }
        m.touch();
        Vec::new()
    }

    fn agent_done(
        &mut self,
        idx: usize,
        stop: StopReason,
        answer: String,
        error: Option<String>,
    ) -> Vec<Effect> {
        self.generating = None;
        // A prompt the turn no longer waits for goes with it.
        let mut effects = self.close_approval();
        let max_steps = self.agent_run.take().map(|r| r.max_steps).unwrap_or(0);
        let m = &mut self.messages[idx];
        m.streaming = false;
        if m.content.is_empty() {
            m.content = answer;
        }
        // A step cut off by the end of the turn is no longer running.
        for s in m.steps.iter_mut().filter(|s| s.status.is_none()) {
            s.status = Some(ToolStatus::Aborted);
            s.summary = format!("{} {} (interrupted)", s.tool, s.target);
        }
        m.stopped = stop.explain(max_steps);
        m.cancelled = stop == StopReason::Aborted;
        m.touch();
        if stop == StopReason::Aborted {
            self.hint("agent turn interrupted");
        }
        if let Some(e) = error {
            self.note(Speaker::Error, e);
        }
        effects.push(self.save());
        effects
    }

    /// The first Ctrl+C of an agent turn: ask the agent to stop.
    pub(super) fn interrupt(&mut self) -> Vec<Effect> {
        if let Some(run) = &mut self.agent_run {
            run.interrupting = true;
        }
        self.hint("interrupting the agent (one more Ctrl+C drops the turn)");
        vec![Effect::Interrupt]
    }

    /// F3: shows the selected reply's tool steps one by one with their
    /// output, or folds them again.
    pub(super) fn toggle_steps(&mut self) {
        let Some(i) = self.selected_reply() else {
            self.hint("no reply yet");
            return;
        };
        let m = &mut self.messages[i];
        if m.steps.is_empty() {
            self.hint("this reply has no tool steps");
            return;
        }
        m.expanded = !m.expanded;
        m.touch();
        if self.selected.is_some() {
            self.scroll_to_selected();
        }
    }
}
