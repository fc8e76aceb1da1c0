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
    draw_input(app, frame, a.input);
    draw_completions(app, frame, a.input);
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
                Mode::Agent => format!(
                    "The agent reads the files under {} to answer; it changes nothing.",
                    app.status.workspace.as_deref().unwrap_or("(no workspace)")
                ),
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
    let s = &app.status;
    let mut parts = Vec::new();
    if let Some(name) = &s.loading {
        let spin = SPINNER[(app.tick % SPINNER.len() as u64) as usize];
        parts.push(format!("{spin} loading {name}"));
    } else if app.generating.is_some() {
        let spin = SPINNER[(app.tick % SPINNER.len() as u64) as usize];
        let what = match &app.agent_run {
            Some(r) if r.interrupting => "interrupting",
            _ => "generating",
        };
        parts.push(format!("{spin} {what}"));
    }
    if let Some((hint, _)) = &app.hint {
        parts.push(hint.clone());
    }
    match &s.model {
        Some(m) => parts.push(format!("{} · {}", m.name, m.device)),
        None if s.loading.is_none() => parts.push("no model".into()),
        None => {}
    }
    parts.push(mode_text(app));
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

/// The mode's segment; in agent mode with the workspace and, during a
/// turn, its step: `agent · ~/proj · step 3/8`.
fn mode_text(app: &App) -> String {
    let s = &app.status;
    if s.mode != Mode::Agent {
        return s.mode.name().to_string();
    }
    let mut text = format!(
        "agent · {}",
        s.workspace.as_deref().unwrap_or("no workspace")
    );
    if let Some(run) = app.agent_run.as_ref().filter(|r| r.max_steps > 0) {
        text.push_str(&format!(" · step {}/{}", run.step(), run.max_steps));
    }
    text
}

fn draw_status(app: &App, frame: &mut Frame, area: Rect) {
    let t = &app.theme;
    let busy = app.generating.is_some() || app.status.loading.is_some();
    let parts = status_text(app);
    let text = format!(" {} ", parts.join(" │ "));
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
