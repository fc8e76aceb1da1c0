//! The approval prompt's state: a call that needs consent replaces the
//! input with the prompt until the user answers with `y`, `a`, `n` or
//! `Esc` (Ctrl+C is Esc). Keys are ignored for [`APPROVAL_GUARD`] after it
//! appears and input already queued is thrown away, so nothing typed
//! before the user could read the prompt answers it; pastes never do.
//! The bell and the title tell a user looking elsewhere.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::{App, Effect, Overlay, PendingApproval, Speaker, APPROVAL_GUARD, APPROVAL_TITLE};
use crate::agent::policy::Isolation;
use crate::agent::protocol::{ApprovalRequest, DecidedBy, Decision};
use crate::tui::steps::{Approval, ToolStep};

impl App {
    /// A call waits: show the prompt, ring, retitle, and drop the input
    /// typed ahead of it.
    pub(super) fn approval_requested(&mut self, mut request: ApprovalRequest) -> Vec<Effect> {
        let already = self.approval.is_some();
        // The workspace root reads as the status bar shows it (`~/proj`).
        let root = self.agent_run.as_ref().map(|r| r.root.as_path());
        if let (Some(root), Some(shown)) = (root, &self.status.workspace) {
            if std::path::Path::new(&request.cwd) == root {
                request.cwd = shown.clone();
            }
        }
        self.approval = Some(PendingApproval {
            request,
            shown_at: (self.clock)(),
            scroll: 0,
        });
        // An overlay would hide the question.
        self.overlay = Overlay::None;
        self.quit_armed = false;
        self.hint = None;
        let mut effects = vec![Effect::DrainInput, Effect::Bell];
        if !already {
            effects.push(Effect::Title(Some(APPROVAL_TITLE.into())));
        }
        effects
    }

    /// The prompt goes (answered, or its turn ended); the title is put
    /// back.
    pub(super) fn close_approval(&mut self) -> Vec<Effect> {
        match self.approval.take() {
            Some(_) => vec![Effect::Title(None)],
            None => Vec::new(),
        }
    }

    /// A key while the prompt shows: it answers, scrolls, or is ignored.
    pub(super) fn approval_key(&mut self, key: KeyEvent) -> Vec<Effect> {
        let Some(p) = &self.approval else {
            return Vec::new();
        };
        if (self.clock)() < p.shown_at + APPROVAL_GUARD {
            return Vec::new();
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let decision = match key.code {
            KeyCode::Char('c') if ctrl => Decision::Abort,
            _ if ctrl || key.modifiers.contains(KeyModifiers::ALT) => return Vec::new(),
            KeyCode::Char('y') | KeyCode::Char('Y') => Decision::Once,
            KeyCode::Char('a') | KeyCode::Char('A') if p.request.grant.is_some() => {
                Decision::Session
            }
            KeyCode::Char('a') | KeyCode::Char('A') => {
                self.hint("this call cannot be allowed for the session: y runs it once");
                return Vec::new();
            }
            KeyCode::Char('n') | KeyCode::Char('N') => Decision::Deny,
            KeyCode::Esc => Decision::Abort,
            KeyCode::Up => return self.scroll_approval(-1),
            KeyCode::Down => return self.scroll_approval(1),
            KeyCode::PageUp => return self.scroll_approval(-page(self)),
            KeyCode::PageDown => return self.scroll_approval(page(self)),
            KeyCode::Home => return self.scroll_approval(i64::MIN / 2),
            KeyCode::End => return self.scroll_approval(i64::MAX / 2),
            _ => return Vec::new(),
        };
        let call_id = p.request.call_id.clone();
        let mut effects = vec![Effect::Decide { call_id, decision }];
        effects.extend(self.close_approval());
        effects
    }

    fn scroll_approval(&mut self, delta: i64) -> Vec<Effect> {
        let (total, rows) = crate::tui::approval::body_geometry(self, self.width, self.height);
        let max = total.saturating_sub(rows) as i64;
        if let Some(p) = &mut self.approval {
            p.scroll = (p.scroll as i64).saturating_add(delta).clamp(0, max) as usize;
        }
        Vec::new()
    }

    /// The outcome of a call's approval, shown with its step:
    /// `✓ approved (session): shell cargo test`.
    pub(super) fn approval_decided(
        &mut self,
        idx: usize,
        call_id: &str,
        tool: &str,
        decision: Decision,
        by: DecidedBy,
    ) {
        let subject = self
            .approval
            .as_ref()
            .filter(|p| p.request.call_id == call_id)
            .map(|p| p.request.subject.clone());
        let m = &mut self.messages[idx];
        let at = m.steps.iter().rposition(|s| s.call_id == call_id);
        let step = match at {
            Some(i) => &mut m.steps[i],
            None => {
                let mut s = ToolStep::started(call_id, tool, &Default::default());
                s.target = subject.clone().unwrap_or_default();
                m.steps.push(s);
                m.steps.last_mut().expect("just pushed")
            }
        };
        if step.target.is_empty() {
            step.target = subject.unwrap_or_default();
        }
        step.approval = Some(Approval { decision, by });
        m.touch();
        if decision == Decision::Abort && by == DecidedBy::User {
            self.hint("declined; the agent stops this turn");
        }
    }

    /// `/approvals [MODE]`: shows the agent's approval mode, or sets it
    /// for the turns to come.
    pub(super) fn approvals(&mut self, arg: Option<String>) -> Vec<Effect> {
        use crate::agent::policy::Mode as AgentMode;
        let Some(view) = self.status.policy.clone() else {
            self.note(
                Speaker::Error,
                "no agent here: start lore chat in a readable directory, or give --cd DIR",
            );
            return Vec::new();
        };
        let Some(name) = arg else {
            let text = format!(
                "approvals: {} ({}) · {} · /approvals read-only|ask|auto-edit|auto",
                view.mode,
                mode_help(view.mode, &view.isolation),
                view.isolation.label()
            );
            self.note(Speaker::Note, text);
            return Vec::new();
        };
        let Some(mode) = AgentMode::parse(&name) else {
            self.note(
                Speaker::Error,
                format!("unknown approval mode {name:?}; use read-only, ask, auto-edit or auto"),
            );
            return Vec::new();
        };
        let when = if self.generating.is_some() {
            " from the next turn"
        } else {
            ""
        };
        let text = format!(
            "approvals: {mode}{when}: {}",
            mode_help(mode, &view.isolation)
        );
        self.note(Speaker::Note, text);
        if let Some(p) = &mut self.status.policy {
            p.mode = mode;
        }
        vec![Effect::SetAgentMode(mode)]
    }
}

/// What a mode lets the agent do, as `/approvals` says it (the sandbox
/// decides whether `auto` asks before commands).
fn mode_help(mode: crate::agent::policy::Mode, isolation: &Isolation) -> &'static str {
    use crate::agent::policy::Mode as AgentMode;
    match (mode, isolation) {
        (AgentMode::ReadOnly, _) => "the agent only looks; edits and commands are refused",
        (AgentMode::Ask, _) => "every edit and command waits for your y",
        (AgentMode::AutoEdit, _) => "edits apply (their diff is shown); commands wait for your y",
        (AgentMode::Auto, Isolation::Isolated) => {
            "edits apply; commands run in the sandbox without asking"
        }
        (AgentMode::Auto, Isolation::Disabled) => {
            "edits apply; commands run without asking and without the sandbox"
        }
        (AgentMode::Auto, Isolation::Unavailable(_)) => {
            "edits apply; commands wait for your y, since the sandbox is unavailable"
        }
    }
}

/// A page of the prompt's command or diff.
fn page(app: &App) -> i64 {
    let (_, rows) = crate::tui::approval::body_geometry(app, app.width, app.height);
    rows.saturating_sub(1).max(1) as i64
}
