//! Draws the state: transcript, sources pane, input, status bar and
//! overlays. Reads [`App`] only (message lines are memoised inside it), so
//! the same state always draws the same screen. Where things go comes from
//! [`super::layout`].

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;
use unicode_width::UnicodeWidthStr;

use super::app::{App, Overlay, Speaker};
use super::keys;
use super::layout::{areas, lines_of};
use super::markdown;
use super::theme::Theme;
use crate::agent::policy::Isolation;
use crate::tasks::chat::Mode;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

/// Draws the whole screen.
pub fn view(app: &App, frame: &mut Frame) {
    let size = frame.area();
    if size.width < 4 || size.height < 3 {
        // Too small for anything useful; say so rather than draw garbage.
        frame.render_widget(Paragraph::new("lore").style(app.theme.dim), size);
        return;
    }
    let a = areas(app, size.width, size.height);
    draw_transcript(app, frame, a.transcript);
    if let Some(area) = a.sources {
        draw_sources(app, frame, area);
    }
    if app.approval.is_some() {
        super::approval::draw(app, frame, a.input);
    } else {
        draw_input(app, frame, a.input);
        draw_completions(app, frame, a.input);
    }
    draw_status(app, frame, a.status);
    match &app.overlay {
        Overlay::None => {}
        Overlay::Help { scroll } => draw_help(app, frame, size, *scroll),
        Overlay::Sessions { items, selected } => draw_sessions(app, frame, size, items, *selected),
    }
}

fn draw_transcript(app: &App, frame: &mut Frame, area: Rect) {
    if area.height == 0 || area.width == 0 {
        return;
    }
    if app.messages.is_empty() {
        draw_welcome(app, frame, area);
        return;
    }
    let width = area.width;
    let height = area.height as usize;
    // Heights come from the per-message cache; only the visible messages'
    // lines are copied to the screen.
    let heights: Vec<usize> = app
        .messages
        .iter()
        .map(|m| lines_of(app, m, width).len())
        .collect();
    let total: usize = heights.iter().sum();
    let max_top = total.saturating_sub(height);
    let top = app.scroll.unwrap_or(max_top).min(max_top);
    let selected = app.selected;
    let buf = frame.buffer_mut();
    let mut y = 0usize;
    let mut line_no = 0usize;
    for (i, m) in app.messages.iter().enumerate() {
        let h = heights[i];
        if line_no + h <= top {
            line_no += h;
            continue;
        }
        let lines = lines_of(app, m, width);
        let skip = top.saturating_sub(line_no);
        for (j, line) in lines.iter().enumerate().skip(skip) {
            if y >= height {
                break;
            }
            let row = area.y + y as u16;
            buf.set_line(area.x, row, line, width);
            if j == 0 && selected == Some(i) {
                buf.set_style(Rect::new(area.x, row, width, 1), app.theme.selected);
            }
            y += 1;
        }
        line_no += h;
        if y >= height {
            break;
        }
    }
    if app.scroll.is_some() && top < max_top {
        let more = format!(" ↓ {} more ", max_top - top);
        let w = more.width() as u16;
        if w < width {
            buf.set_string(
                area.x + width - w,
                area.y + area.height - 1,
                more,
                app.theme.status,
            );
        }
    }
}

fn draw_welcome(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let mode = app.status.mode;
    let mut lines = vec![
        Line::from(Span::styled("lore", t.title)),
        Line::default(),
        Line::from(Span::styled(
            match mode {
                Mode::Chat => {
                    "Chat with the local model. /mode ask answers from your documents.".to_string()
                }
                Mode::Agent => {
                    let root = app.status.workspace.as_deref().unwrap_or("(no workspace)");
                    match app.status.policy.as_ref().filter(|p| p.mode.acts()) {
                        Some(p) => format!(
                            "The agent works in {root}: it reads files, and edits or runs commands as approvals {} allows.",
                            p.mode
                        ),
                        None => format!(
                            "The agent reads the files under {root} to answer; it changes nothing."
                        ),
                    }
                }
                _ => format!(
                    "Questions are answered from index '{}', with sources.",
                    app.status.index
                ),
            },
            t.text,
        )),
        Line::from(Span::styled(
            "Enter sends · Alt+Enter new line · F1 help · Ctrl+C twice quits",
            t.dim,
        )),
    ];
    if app.attachment.is_some() {
        lines.push(Line::default());
        lines.push(Line::from(Span::styled(
            "The text piped on stdin goes with your first message.",
            t.system_note,
        )));
    }
    let h = lines.len() as u16;
    let y = area.y + area.height.saturating_sub(h) / 2;
    let rect = Rect::new(area.x, y, area.width, h.min(area.height));
    frame.render_widget(
        Paragraph::new(lines)
            .alignment(ratatui::layout::Alignment::Center)
            .wrap(Wrap { trim: true }),
        rect,
    );
}

fn draw_sources(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let reply = app.selected_reply();
    let title = match reply {
        Some(i) => {
            let n = app.messages[..=i]
                .iter()
                .filter(|m| m.speaker == Speaker::Assistant)
                .count();
            format!(" Sources · reply {n} ")
        }
        None => " Sources ".to_string(),
    };
    let block = framed(t, Span::styled(title, t.title));
    let inner = block.inner(area);
    frame.render_widget(Clear, area);
    frame.render_widget(block, area);
    let sources = reply.map(|i| &app.messages[i].sources[..]).unwrap_or(&[]);
    let unsupported = reply
        .map(|i| &app.messages[i].unsupported[..])
        .unwrap_or(&[]);
    let width = inner.width.max(1);
    let mut lines: Vec<Line<'static>> = Vec::new();
    if !unsupported.is_empty() {
        // The mark and the quotes say it without colour (NO_COLOR).
        lines.extend(markdown::wrap(
            Line::from(Span::styled("! Not supported by these passages:", t.error)),
            width,
            &[Span::raw("  ")],
        ));
        for sentence in unsupported {
            let text = sentence.split_whitespace().collect::<Vec<_>>().join(" ");
            lines.extend(markdown::wrap(
                Line::from(vec![
                    Span::raw("  "),
                    Span::styled(format!("\"{text}\""), t.quote),
                ]),
                width,
                &[Span::raw("   ")],
            ));
        }
        lines.push(Line::default());
    }
    if sources.is_empty() {
        lines.push(Line::from(Span::styled(
            "No passages for this reply (chat mode does not search the index).",
            t.dim,
        )));
    }
    for s in sources {
        let mark = if s.cited { "●" } else { "○" };
        lines.extend(markdown::wrap(
            Line::from(vec![
                Span::styled(format!("{mark} [{}] ", s.n), t.key),
                Span::styled(s.label(), t.title),
            ]),
            width,
            &[Span::raw("  ")],
        ));
        if !s.heading.is_empty() {
            lines.extend(markdown::wrap(
                Line::from(Span::styled(format!("  {}", s.heading), t.dim)),
                width,
                &[Span::raw("  ")],
            ));
        }
        lines.extend(markdown::wrap(
            snippet_line(&s.snippet, &s.highlights, t),
            width,
            &[Span::raw("  ")],
        ));
        lines.push(Line::default());
    }
    let buf = frame.buffer_mut();
    for (y, line) in lines.iter().take(inner.height as usize).enumerate() {
        buf.set_line(inner.x, inner.y + y as u16, line, inner.width);
    }
}

/// A snippet with its matched terms highlighted; newlines become spaces.
fn snippet_line(snippet: &str, highlights: &[std::ops::Range<usize>], t: &Theme) -> Line<'static> {
    let clean = |s: &str| s.replace(['\n', '\r', '\t'], " ");
    let mut spans = vec![Span::raw("  ")];
    let mut at = 0;
    for r in highlights {
        if r.start < at
            || r.end > snippet.len()
            || !snippet.is_char_boundary(r.start)
            || !snippet.is_char_boundary(r.end)
        {
            continue;
        }
        spans.push(Span::styled(clean(&snippet[at..r.start]), t.text));
        spans.push(Span::styled(clean(&snippet[r.clone()]), t.highlight));
        at = r.end;
    }
    spans.push(Span::styled(clean(&snippet[at..]), t.text));
    Line::from(spans)
}

fn draw_input(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let title = match app.status.mode {
        crate::tasks::chat::Mode::Chat => " message ".to_string(),
        m => format!(" message · {m} "),
    };
    let block = framed(t, Span::styled(title, t.dim));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    frame.render_widget(&app.input, inner);
}

fn draw_completions(app: &App, frame: &mut Frame, input: Rect) {
    let text = app.input_text();
    let options = keys::completions(&text);
    if options.is_empty() || app.overlay != Overlay::None {
        return;
    }
    let t = &app.theme;
    let lines: Vec<Line> = options
        .iter()
        .take(8)
        .map(|o| {
            let name = o.split(' ').next().unwrap_or(o);
            let cmd = keys::COMMANDS.iter().find(|c| c.name == name);
            let (args, help) = cmd.map(|c| (c.args, c.help)).unwrap_or(("", ""));
            let shown = if o.contains(' ') { o.as_str() } else { name };
            Line::from(vec![
                Span::styled(format!(" {shown}"), t.key),
                Span::styled(
                    if o.contains(' ') {
                        String::new()
                    } else {
                        format!(" {args}")
                    },
                    t.text,
                ),
                Span::styled(format!("  {help}"), t.dim),
            ])
        })
        .collect();
    let h = lines.len() as u16 + 2;
    let w = input.width.min(72);
    if input.y < h {
        return;
    }
    let rect = Rect::new(input.x, input.y - h, w, h);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(framed(t, Span::styled(" Tab completes ", t.dim))),
        rect,
    );
}

/// The status bar's text, most important first; cut to `width`.
pub fn status_text(app: &App) -> Vec<String> {
    status_parts(app, 0)
}

/// The status bar's segments. Where the agent's mode and sandbox would
/// fall off the end, `squeeze` 1 puts them first, 2 in short words, and 3
/// also shortens the busy segment to its symbol.
fn status_parts(app: &App, squeeze: u8) -> Vec<String> {
    let first = squeeze > 0;
    let compact = squeeze > 1;
    let terse = squeeze > 2;
    let s = &app.status;
    let mut parts = Vec::new();
    let spin = SPINNER[(app.tick % SPINNER.len() as u64) as usize];
    if let Some(name) = &s.loading {
        parts.push(format!("{spin} loading {name}"));
    } else if app.approval.is_some() {
        parts.push(if terse { "⏸" } else { "⏸ approval needed" }.to_string());
    } else if app.generating.is_some() {
        let what = match &app.agent_run {
            Some(r) if r.interrupting => "interrupting",
            _ => "generating",
        };
        parts.push(if terse {
            spin.to_string()
        } else {
            format!("{spin} {what}")
        });
    }
    if first {
        parts.push(mode_text(app, compact));
    }
    if let Some((hint, _)) = &app.hint {
        parts.push(hint.clone());
    }
    match &s.model {
        Some(m) => parts.push(format!("{} · {}", m.name, m.device)),
        None if s.loading.is_none() => parts.push("no model".into()),
        None => {}
    }
    if !first {
        parts.push(mode_text(app, false));
    }
    if s.mode.grounded() {
        parts.push(format!("index {}", s.index));
    }
    if let (crate::tasks::chat::Mode::Support, Some(sv)) = (s.mode, &s.support) {
        parts.push(format!("intent {} · {}", sv.intent, sv.sentiment));
    }
    let limit = s.model.as_ref().map(|m| m.context_length).unwrap_or(0);
    parts.push(format!("ctx {}/{}", s.context_used, limit));
    if let Some(last) = &s.last {
        parts.push(format!(
            "TTFT {:.2}s · {:.1} tok/s",
            last.time_to_first_token_s, last.tokens_per_s
        ));
    }
    parts
}

/// The sandbox as the status bar names it: the prompt's label, or a
/// short word on a narrow screen.
fn sandbox_text(isolation: &Isolation, compact: bool) -> String {
    match (isolation, compact) {
        (_, false) => isolation.label(),
        (Isolation::Isolated, true) => "sandboxed".into(),
        (Isolation::Unavailable(_), true) => "no sandbox".into(),
        (Isolation::Disabled, true) => "sandbox off".into(),
    }
}

/// The mode's segment; in agent mode with the approval mode, the sandbox,
/// the workspace and, during a turn, its step:
/// `agent · ask · sandbox: landlock + seccomp · ~/proj · step 3/8`
/// (compact: `ask · sandboxed · 3/8`).
fn mode_text(app: &App, compact: bool) -> String {
    let s = &app.status;
    if s.mode != Mode::Agent {
        return s.mode.name().to_string();
    }
    let step = app
        .agent_run
        .as_ref()
        .filter(|r| r.max_steps > 0)
        .map(|run| format!("{}/{}", run.step(), run.max_steps));
    let mut items = Vec::new();
    if !compact {
        items.push("agent".to_string());
    }
    if let Some(p) = &s.policy {
        items.push(p.mode.to_string());
        items.push(sandbox_text(&p.isolation, compact));
    }
    if !compact || s.policy.is_none() {
        items.push(s.workspace.clone().unwrap_or_else(|| "no workspace".into()));
    }
    if let Some(step) = step {
        items.push(if compact {
            step
        } else {
            format!("step {step}")
        });
    }
    items.join(" · ")
}

/// Whether `part` is the agent's segment, in either form.
fn is_mode_segment(app: &App, part: &str) -> bool {
    part == mode_text(app, false) || part == mode_text(app, true)
}

fn draw_status(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let busy = app.generating.is_some() || app.status.loading.is_some() || app.approval.is_some();
    let text_of = |parts: &[String]| format!(" {} ", parts.join(" │ "));
    let mut squeeze = 0;
    let mut parts = status_parts(app, 0);
    // Only the agent's policy is worth reordering the bar for, and only
    // until its segment is in view.
    let squeezable = app.status.mode == Mode::Agent && app.status.policy.is_some();
    let shown_to = |parts: &[String]| {
        let agent = parts
            .iter()
            .position(|p| p.contains(" · ") && is_mode_segment(app, p));
        agent.map_or(0, |i| text_of(&parts[..=i]).width())
    };
    while squeezable && squeeze < 3 && shown_to(&parts) > usize::from(area.width) {
        squeeze += 1;
        parts = status_parts(app, squeeze);
    }
    let compact = squeeze > 1;
    let text = text_of(&parts);
    let buf = frame.buffer_mut();
    buf.set_style(area, t.status);
    buf.set_stringn(area.x, area.y, &text, area.width as usize, t.status);
    if busy {
        // The spinner's segment stands out while work is under way.
        let first = parts.first().map(|s| s.width() + 2).unwrap_or(0) as u16;
        buf.set_style(
            Rect::new(area.x, area.y, first.min(area.width), 1),
            t.status_busy,
        );
    }
    // Commands that would run unprotected are shown in red.
    let exposed = app.status.policy.as_ref().filter(|p| p.exposed());
    if let (Mode::Agent, Some(p)) = (app.status.mode, exposed) {
        let label = sandbox_text(&p.isolation, compact);
        if let Some(at) = text.find(&label) {
            let x = text[..at].width() as u16;
            if x < area.width {
                let w = (label.width() as u16).min(area.width - x);
                buf.set_style(Rect::new(area.x + x, area.y, w, 1), t.status_alert);
            }
        }
    }
}

/// A bordered panel with a title.
fn framed<'a>(t: &Theme, title: Span<'a>) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(t.border)
        .title(title)
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// The help overlay's lines, from the key and command tables.
pub fn help_lines(t: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(Span::styled("Keys", t.heading))];
    for (key, what) in keys::KEYS {
        lines.push(Line::from(vec![
            Span::styled(format!("  {key:<22}"), t.key),
            Span::styled(what.to_string(), t.text),
        ]));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled("Commands", t.heading)));
    for c in keys::COMMANDS {
        let synopsis = if c.args.is_empty() {
            c.name.to_string()
        } else {
            format!("{} {}", c.name, c.args)
        };
        lines.push(Line::from(vec![
            Span::styled(format!("  {synopsis:<26}"), t.key),
            Span::styled(c.help.to_string(), t.text),
        ]));
    }
    lines.push(Line::default());
    lines.push(Line::from(Span::styled(
        "Esc closes · ↑↓ PgUp PgDn scroll",
        t.dim,
    )));
    lines
}

fn draw_help(app: &App, frame: &mut Frame, size: Rect, scroll: u16) {
    let t = &app.theme;
    let lines = help_lines(t);
    let rect = centered(size, 84, lines.len() as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .block(framed(t, Span::styled(" Help ", t.title))),
        rect,
    );
}

fn draw_sessions(
    app: &App,
    frame: &mut Frame,
    size: Rect,
    items: &[crate::sessions::Summary],
    selected: usize,
) {
    let t = &app.theme;
    let rect = centered(size, 90, items.len() as u16 + 4);
    let inner_h = rect.height.saturating_sub(3) as usize;
    let first = selected.saturating_sub(inner_h.saturating_sub(1));
    let mut lines: Vec<Line> = items
        .iter()
        .enumerate()
        .skip(first)
        .take(inner_h)
        .map(|(i, s)| {
            let style = if i == selected { t.selected } else { t.text };
            let updated: String = s
                .updated
                .chars()
                .take(16)
                .collect::<String>()
                .replace('T', " ");
            Line::from(Span::styled(
                format!(
                    " {}  {}  {:>3} msgs  {}",
                    s.id, updated, s.messages, s.title
                ),
                style,
            ))
        })
        .collect();
    lines.push(Line::from(Span::styled(" Enter opens · Esc closes", t.dim)));
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(framed(t, Span::styled(" Saved conversations ", t.title))),
        rect,
    );
}
