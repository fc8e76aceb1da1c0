//! An agent reply's tool steps as the transcript shows them: one line per
//! step (`• read src/a.rs (120 lines)`, the agent's own summary), with a
//! run of reads folded into one `• Explored: a.rs, b.rs` line. Expanded
//! (F3), every step is listed on its own, numbered, with the full output
//! the model was given beneath it.

use std::path::Path;

use ratatui::text::{Line, Span};
use serde_json::Value;

use super::markdown;
use super::theme::Theme;
use crate::agent::protocol::{DecidedBy, Decision, ToolStatus};

/// One tool call of an agent turn.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolStep {
    pub call_id: String,
    pub tool: String,
    /// What the call names: its path, pattern or query.
    pub target: String,
    /// `None` while the tool runs.
    pub status: Option<ToolStatus>,
    /// The agent's one-line summary, once done.
    pub summary: String,
    pub wall_ms: u64,
    /// The text the model was given.
    pub output: String,
    /// Whether the call was allowed to run, and who said so; `None` for
    /// calls that needed nobody's consent.
    pub approval: Option<Approval>,
}

/// The outcome of a call's approval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Approval {
    pub decision: Decision,
    pub by: DecidedBy,
}

impl Approval {
    pub fn allowed(&self) -> bool {
        matches!(self.decision, Decision::Once | Decision::Session)
    }

    /// `approved (session)`, `declined`, `allowed by agent.allow`...
    pub fn label(&self) -> &'static str {
        match (self.by, self.decision) {
            (DecidedBy::User, Decision::Once) => "approved (once)",
            (DecidedBy::User, Decision::Session) => "approved (session)",
            (DecidedBy::User, Decision::Deny) => "declined",
            (DecidedBy::User, Decision::Abort) => "declined, turn stopped",
            (DecidedBy::Grant, _) if self.allowed() => "allowed by a session grant",
            (DecidedBy::Rule, _) if self.allowed() => "allowed by agent.allow",
            (DecidedBy::Rule, _) => "denied by agent.deny",
            (DecidedBy::Mode, _) if self.allowed() => "allowed by the mode",
            (DecidedBy::Mode | DecidedBy::Grant, _) => "refused by the mode",
        }
    }
}

impl ToolStep {
    /// A call that has just started.
    pub fn started(call_id: &str, tool: &str, args: &Value) -> ToolStep {
        let target = ["path", "pattern", "query", "command"]
            .iter()
            .find_map(|k| args.get(*k).and_then(Value::as_str))
            .unwrap_or_default();
        ToolStep {
            call_id: call_id.to_string(),
            tool: tool.to_string(),
            target: target.to_string(),
            status: None,
            summary: String::new(),
            wall_ms: 0,
            output: String::new(),
            approval: None,
        }
    }

    /// `✓ approved (once): shell echo hi`, for a call the user answered
    /// or an earlier grant or a rule let through. What the mode allowed
    /// needs no line (the status bar names the mode), and a refusal by the
    /// mode or a rule is its step's own summary.
    fn approval_line(&self, t: &Theme) -> Option<Line<'static>> {
        let a = self.approval?;
        if a.by == DecidedBy::Mode || (a.by != DecidedBy::User && !a.allowed()) {
            return None;
        }
        let (mark, style) = if a.allowed() {
            ("✓ ", t.approved)
        } else {
            ("✗ ", t.error)
        };
        let what = format!("{}: {} {}", a.label(), self.tool, self.target);
        Some(Line::from(vec![
            Span::styled(mark, style),
            Span::styled(what.trim_end().to_string(), style),
        ]))
    }

    /// A call the user declined never ran: its approval line says all
    /// there is.
    fn refused(&self) -> bool {
        self.approval
            .is_some_and(|a| a.by == DecidedBy::User && !a.allowed())
    }

    /// The step's line without its mark: the summary, or the call while
    /// it runs.
    pub fn label(&self) -> String {
        match self.status {
            None => format!("{} {}…", self.tool, self.target).replace(" …", "…"),
            Some(_) if self.summary.is_empty() => format!("{} {}", self.tool, self.target),
            Some(_) => self.summary.clone(),
        }
    }

    fn groups(&self) -> bool {
        self.tool == "read" && self.status == Some(ToolStatus::Completed)
    }
}

/// A line of the collapsed view: one step, or a run of reads (indices into
/// the steps).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepLine {
    One(usize),
    Explored(Vec<usize>),
}

/// Folds each run of two or more completed reads into one `Explored` line;
/// every other step (a failed or repeated read, a list, a grep, one still
/// running) stands on its own line.
pub fn group(steps: &[ToolStep]) -> Vec<StepLine> {
    let mut out = Vec::new();
    let mut run: Vec<usize> = Vec::new();
    let flush = |run: &mut Vec<usize>, out: &mut Vec<StepLine>| match run.len() {
        0 => {}
        1 => out.push(StepLine::One(run[0])),
        _ => out.push(StepLine::Explored(std::mem::take(run))),
    };
    for (i, s) in steps.iter().enumerate() {
        if s.groups() {
            run.push(i);
        } else {
            flush(&mut run, &mut out);
            run.clear();
            out.push(StepLine::One(i));
        }
    }
    flush(&mut run, &mut out);
    out
}

/// `Explored: a.rs, b.rs` for the reads at `run`, each path once.
pub fn explored(steps: &[ToolStep], run: &[usize]) -> String {
    let mut paths: Vec<&str> = Vec::new();
    for &i in run {
        let p = steps[i].target.as_str();
        if !paths.contains(&p) {
            paths.push(p);
        }
    }
    format!("Explored: {}", paths.join(", "))
}

/// The lines of `steps` at `width`: grouped, or each with its output when
/// `expanded`.
pub fn step_lines(steps: &[ToolStep], expanded: bool, width: u16, t: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let indent = [Span::raw("  ")];
    if expanded {
        for (n, s) in steps.iter().enumerate() {
            if let Some(line) = s.approval_line(t) {
                out.extend(markdown::wrap(line, width, &indent));
            }
            let mut spans = mark(s, t);
            spans.push(Span::styled(format!("{} ", n + 1), t.key));
            spans.push(Span::styled(s.label(), text_style(s, t)));
            // Only a slow step's time is worth a look.
            if s.wall_ms >= 100 {
                let secs = s.wall_ms as f64 / 1000.0;
                spans.push(Span::styled(format!(" · {secs:.1} s"), t.dim));
            }
            out.extend(markdown::wrap(Line::from(spans), width, &indent));
            for line in s.output.lines() {
                let line = line.replace('\t', "    ");
                out.extend(markdown::wrap(
                    Line::from(vec![Span::raw("    "), Span::styled(line, t.code_block)]),
                    width,
                    &[Span::raw("    ")],
                ));
            }
        }
        return out;
    }
    for g in group(steps) {
        if let StepLine::One(i) = &g {
            if let Some(line) = steps[*i].approval_line(t) {
                out.extend(markdown::wrap(line, width, &indent));
            }
            if steps[*i].refused() {
                continue;
            }
        }
        let (spans, style) = match &g {
            StepLine::One(i) => (mark(&steps[*i], t), text_style(&steps[*i], t)),
            StepLine::Explored(_) => (vec![Span::styled("• ", t.list_marker)], t.text),
        };
        let text = match &g {
            StepLine::One(i) => steps[*i].label(),
            StepLine::Explored(run) => explored(steps, run),
        };
        let mut spans = spans;
        spans.push(Span::styled(text, style));
        out.extend(markdown::wrap(Line::from(spans), width, &indent));
    }
    out
}

/// `•` for a finished step, `◦` for one still running; a failed one's
/// text is drawn as an error (and says "failed" without colour).
fn mark(s: &ToolStep, t: &Theme) -> Vec<Span<'static>> {
    let m = if s.status.is_none() { "◦ " } else { "• " };
    vec![Span::styled(m, t.list_marker)]
}

fn text_style(s: &ToolStep, t: &Theme) -> ratatui::style::Style {
    match s.status {
        None => t.dim,
        Some(ToolStatus::Completed) | Some(ToolStatus::Repeated) => t.text,
        Some(_) => t.error,
    }
}

/// `path` with the home directory written as `~`, for the status bar.
pub fn tilde(path: &Path, home: Option<&Path>) -> String {
    match home.and_then(|h| path.strip_prefix(h).ok()) {
        Some(rest) if rest.as_os_str().is_empty() => "~".to_string(),
        Some(rest) => format!("~/{}", rest.display()),
        None => path.display().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn done(tool: &str, target: &str, status: ToolStatus) -> ToolStep {
        let key = if tool == "grep" { "pattern" } else { "path" };
        ToolStep {
            status: Some(status),
            summary: format!("{tool} {target}"),
            ..ToolStep::started("c", tool, &json!({ key: target }))
        }
    }

    fn read(path: &str) -> ToolStep {
        done("read", path, ToolStatus::Completed)
    }

    #[test]
    fn runs_of_two_or_more_reads_fold_into_one_line() {
        let steps = vec![
            read("a.rs"),
            read("b.rs"),
            read("c.rs"),
            done("grep", "fn main", ToolStatus::Completed),
            read("d.rs"),
            done("list", ".", ToolStatus::Completed),
            read("e.rs"),
            read("e.rs"),
        ];
        assert_eq!(
            group(&steps),
            vec![
                StepLine::Explored(vec![0, 1, 2]),
                StepLine::One(3),
                StepLine::One(4),
                StepLine::One(5),
                StepLine::Explored(vec![6, 7]),
            ]
        );
        assert_eq!(explored(&steps, &[0, 1, 2]), "Explored: a.rs, b.rs, c.rs");
        assert_eq!(
            explored(&steps, &[6, 7]),
            "Explored: e.rs",
            "each path once"
        );
    }

    #[test]
    fn failed_repeated_and_running_reads_stand_alone() {
        let mut running = ToolStep::started("c9", "read", &json!({"path": "z.rs"}));
        assert_eq!(running.label(), "read z.rs…");
        let steps = vec![
            read("a.rs"),
            done("read", "gone.rs", ToolStatus::Failed),
            read("b.rs"),
            done("read", "b.rs", ToolStatus::Repeated),
            read("c.rs"),
            running.clone(),
        ];
        assert_eq!(group(&steps), (0..6).map(StepLine::One).collect::<Vec<_>>());
        running.status = Some(ToolStatus::Completed);
        running.summary = "read z.rs (3 lines)".into();
        assert_eq!(running.label(), "read z.rs (3 lines)");
        assert!(group(&[]).is_empty());
    }

    #[test]
    fn the_home_directory_shows_as_a_tilde() {
        let home = Path::new("/home/ann");
        assert_eq!(
            tilde(Path::new("/home/ann/src/lore"), Some(home)),
            "~/src/lore"
        );
        assert_eq!(tilde(Path::new("/home/ann"), Some(home)), "~");
        assert_eq!(
            tilde(Path::new("/home/annie/x"), Some(home)),
            "/home/annie/x"
        );
        assert_eq!(tilde(Path::new("/srv/x"), None), "/srv/x");
    }
}
