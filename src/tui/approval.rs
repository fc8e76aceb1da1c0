//! The approval prompt as drawn, in the input's place at the bottom: the
//! command (`$ cargo test`) or the file and its coloured diff, which
//! scroll, above what stays in view whatever the scroll: where it runs,
//! the sandbox, the model's reason, what `a` grants and the keys. The
//! layout reads [`pane_height`] and `update` reads [`body_geometry`], so
//! the three agree on the geometry.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::app::{App, PendingApproval};
use super::markdown;
use super::theme::Theme;
use crate::agent::policy::Isolation;
use crate::agent::protocol::ApprovalRequest;

/// The prompt at one size: the lines that scroll, how many of them show,
/// and the lines that stay.
struct Pane {
    body: Vec<Line<'static>>,
    body_rows: usize,
    fixed: Vec<Line<'static>>,
    /// With its frame.
    height: u16,
}

/// Rows the transcript keeps above the prompt, so the conversation that
/// led to the question stays in sight where the screen allows.
fn transcript_rows(screen_h: u16) -> u16 {
    if screen_h >= 20 {
        4
    } else {
        1
    }
}

fn pane(app: &App, p: &PendingApproval, width: u16, screen_h: u16) -> Pane {
    let inner_w = width.saturating_sub(2).max(1);
    let t = &app.theme;
    let body = body_lines(&p.request, inner_w, t);
    let max_outer = screen_h
        .saturating_sub(1 + transcript_rows(screen_h))
        .max(3);
    let avail = usize::from(max_outer - 2);
    // A few rows of a diff are worth more than the facts' second lines.
    let fixed = fixed_lines(
        &p.request,
        inner_w,
        t,
        avail.saturating_sub(body.len().clamp(1, 4)),
    );
    let body_rows = body.len().min(avail.saturating_sub(fixed.len()));
    Pane {
        height: (body_rows + fixed.len() + 2) as u16,
        body,
        body_rows,
        fixed,
    }
}

/// The prompt's height on a `width`×`height` screen, while one shows.
pub fn pane_height(app: &App, width: u16, height: u16) -> Option<u16> {
    let p = app.approval.as_ref()?;
    Some(pane(app, p, width, height).height)
}

/// Lines of the command or diff, and how many show at once.
pub fn body_geometry(app: &App, width: u16, height: u16) -> (usize, usize) {
    match &app.approval {
        Some(p) => {
            let pane = pane(app, p, width, height);
            (pane.body.len(), pane.body_rows)
        }
        None => (0, 0),
    }
}

/// `$ COMMAND` for a command; the file with `+N -M` and its diff for an
/// edit.
fn body_lines(r: &ApprovalRequest, width: u16, t: &Theme) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    let Some(diff) = &r.diff else {
        let lead = if r.tool == "shell" { "$ " } else { "" };
        for (i, line) in r.subject.split('\n').enumerate() {
            let prefix = if i == 0 { lead } else { "  " };
            let line = Line::from(vec![
                Span::styled(prefix, t.dim),
                Span::styled(line.replace('\t', "    "), t.inline_code),
            ]);
            out.extend(markdown::wrap(line, width, &[Span::raw("  ")]));
        }
        return out;
    };
    let header = Line::from(vec![
        Span::styled(r.subject.clone(), t.title),
        Span::raw("  "),
        Span::styled(format!("+{}", diff.added), t.diff_add),
        Span::raw(" "),
        Span::styled(format!("-{}", diff.removed), t.diff_del),
    ]);
    out.extend(markdown::wrap(header, width, &[Span::raw("  ")]));
    for line in diff.unified.lines() {
        // The header above names the file already.
        if line.starts_with("--- ") || line.starts_with("+++ ") || line.starts_with("diff ") {
            continue;
        }
        let style = match line.chars().next() {
            Some('+') => t.diff_add,
            Some('-') => t.diff_del,
            Some('@') => t.diff_hunk,
            _ => t.text,
        };
        let line = Line::from(Span::styled(line.replace('\t', "    "), style));
        out.extend(markdown::wrap(line, width, &[Span::raw(" ")]));
    }
    out
}

/// What stays in view, cut to `budget` rows least-needed first; the keys
/// always stay.
fn fixed_lines(r: &ApprovalRequest, width: u16, t: &Theme, budget: usize) -> Vec<Line<'static>> {
    let w = usize::from(width);
    let sandbox_style = if r.sandbox == Isolation::Isolated.label() {
        t.text
    } else {
        t.error
    };
    let place = format!("in {}", r.cwd);
    let mut location = if place.width() + 3 + r.sandbox.width() <= w {
        vec![Line::from(vec![
            Span::styled(place.clone(), t.dim),
            Span::styled(" · ", t.dim),
            Span::styled(r.sandbox.clone(), sandbox_style),
        ])]
    } else {
        vec![
            clipped(&place, w, t.dim),
            clipped(&r.sandbox, w, sandbox_style),
        ]
    };
    let mut reason = match &r.reason {
        Some(why) => {
            let why = why.split_whitespace().collect::<Vec<_>>().join(" ");
            let line = Line::from(Span::styled(format!("why: {why}"), t.quote));
            let mut lines = markdown::wrap(line, width, &[Span::raw("     ")]);
            cut_to(&mut lines, 2, w, t.quote);
            lines
        }
        None => Vec::new(),
    };
    let grant_line = match &r.grant {
        Some(g) => Line::from(vec![
            Span::styled("a", t.key),
            Span::styled(format!(" allows {g}"), t.text),
        ]),
        None => Line::from(Span::styled(
            "this call cannot be allowed for the session, only once",
            t.dim,
        )),
    };
    let mut grant = markdown::wrap(grant_line, width, &[Span::raw("  ")]);
    let keys = keys_line(r.grant.is_some(), w, t);
    let rows = |l: &[Line], r: &[Line], g: &[Line]| l.len() + r.len() + g.len() + 1;
    if rows(&location, &reason, &grant) > budget {
        cut_to(&mut reason, 1, w, t.quote);
        cut_to(&mut grant, 1, w, t.text);
    }
    if rows(&location, &reason, &grant) > budget && location.len() > 1 {
        let both = format!("{} · {place}", r.sandbox);
        location = vec![clipped(&both, w, sandbox_style)];
    }
    if rows(&location, &reason, &grant) > budget {
        reason.clear();
    }
    if rows(&location, &reason, &grant) > budget {
        grant.clear();
    }
    if rows(&location, &reason, &grant) > budget {
        location.clear();
    }
    let mut out = location;
    out.extend(reason);
    out.extend(grant);
    out.push(keys);
    out
}

/// The keys, in words that fit: `y run once · a allow for the session ·
/// n decline · Esc decline and stop`, shorter on narrow screens.
fn keys_line(grantable: bool, width: usize, t: &Theme) -> Line<'static> {
    let sets: [[(&str, &str); 4]; 3] = [
        [
            ("y", "run once"),
            ("a", "allow for the session"),
            ("n", "decline"),
            ("Esc", "decline and stop"),
        ],
        [
            ("y", "once"),
            ("a", "session"),
            ("n", "decline"),
            ("Esc", "stop"),
        ],
        [
            ("y", "once"),
            ("a", "session"),
            ("n", "no"),
            ("Esc", "stop"),
        ],
    ];
    let chosen = |set: &[(&'static str, &'static str); 4]| -> Vec<(&'static str, &'static str)> {
        set.iter()
            .copied()
            .filter(|(k, _)| grantable || *k != "a")
            .collect()
    };
    let len = |items: &[(&str, &str)]| -> usize {
        items
            .iter()
            .map(|(k, l)| k.width() + 1 + l.width())
            .sum::<usize>()
            + 3 * items.len().saturating_sub(1)
    };
    let items = sets
        .iter()
        .map(chosen)
        .find(|items| len(items) <= width)
        .unwrap_or_else(|| chosen(&sets[2]));
    let mut spans = Vec::new();
    for (i, (k, label)) in items.into_iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", t.dim));
        }
        spans.push(Span::styled(k, t.key));
        spans.push(Span::styled(format!(" {label}"), t.text));
    }
    Line::from(spans)
}

/// Keeps the first `n` of `lines`, the last of them ending in an
/// ellipsis when some were cut, so a cut sentence never reads whole.
fn cut_to(lines: &mut Vec<Line<'static>>, n: usize, width: usize, style: Style) {
    if lines.len() <= n {
        return;
    }
    lines.truncate(n);
    if let Some(last) = lines.last_mut() {
        *last = clipped(&(plain(last) + "…"), width, style);
    }
}

fn plain(line: &Line) -> String {
    line.spans.iter().map(|s| s.content.as_ref()).collect()
}

/// One line of `text`, cut with an ellipsis to `width` columns.
fn clipped(text: &str, width: usize, style: Style) -> Line<'static> {
    if text.width() <= width {
        return Line::from(Span::styled(text.to_string(), style));
    }
    let mut cut = markdown::truncate(text, width.saturating_sub(1));
    cut.push('…');
    Line::from(Span::styled(cut, style))
}

/// Draws the prompt in `area` (the input's place): the command or diff
/// from its scroll, the rest pinned to the bottom.
pub fn draw(app: &App, frame: &mut Frame, area: Rect) {
    let Some(p) = &app.approval else {
        return;
    };
    let t = &app.theme;
    let pane = pane(app, p, area.width, app.height);
    let total = pane.body.len();
    let scroll = p.scroll.min(total.saturating_sub(pane.body_rows));
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.attention)
        .title(Span::styled(
            format!(" Approve {}? ", p.request.tool),
            t.attention,
        ));
    if total > pane.body_rows && pane.body_rows > 0 {
        let last = (scroll + pane.body_rows).min(total);
        let at = format!(" ↑↓ {}-{last}/{total} ", scroll + 1);
        block = block.title_bottom(Line::from(Span::styled(at, t.dim)).right_aligned());
    }
    let inner = block.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    if inner.height == 0 || inner.width == 0 {
        return;
    }
    let buf = frame.buffer_mut();
    let fixed_rows = pane.fixed.len().min(usize::from(inner.height));
    let fixed_top = inner.y + inner.height - fixed_rows as u16;
    let body_rows = usize::from(fixed_top - inner.y).min(pane.body_rows);
    for (i, line) in pane.body.iter().skip(scroll).take(body_rows).enumerate() {
        buf.set_line(inner.x, inner.y + i as u16, line, inner.width);
    }
    let skip = pane.fixed.len() - fixed_rows;
    for (i, line) in pane.fixed.iter().skip(skip).enumerate() {
        buf.set_line(inner.x, fixed_top + i as u16, line, inner.width);
    }
}
