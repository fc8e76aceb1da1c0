//! Where things go on the screen and how tall the transcript is: the
//! screen's areas, each message's rendered lines and the line offsets that
//! scrolling works in. Both `update` (to scroll) and the view (to draw)
//! read it, so they agree on the geometry without `app` depending on the
//! view.

use std::rc::Rc;

use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthStr;

use super::app::{App, Message, Speaker};
use super::markdown;
use super::steps;
use super::theme::Theme;

/// Where each part of the screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Areas {
    pub transcript: Rect,
    pub sources: Option<Rect>,
    pub input: Rect,
    pub status: Rect,
}

/// Most input lines shown before the input scrolls.
const MAX_INPUT_LINES: u16 = 8;

/// The areas of a `width` x `height` screen for the current state (the
/// input grows with its text, or is the approval prompt while one waits;
/// the sources pane takes part of the transcript when shown).
pub fn areas(app: &App, width: u16, height: u16) -> Areas {
    let screen = Rect::new(0, 0, width, height);
    // Wrapped rows of the input (word wrapping may need a few more; the
    // text area scrolls to the cursor then).
    let inner = width.saturating_sub(2).max(1) as usize;
    let rows: usize = app
        .input
        .lines()
        .iter()
        .map(|l| l.width() / inner + 1)
        .sum();
    let input_lines = (rows.min(MAX_INPUT_LINES as usize) as u16).max(1);
    // A pending approval prompt takes the input's place.
    let input_h = super::approval::pane_height(app, width, height).unwrap_or(input_lines + 2);
    let input_h = input_h.min(height.saturating_sub(2).max(1));
    let [main, input, status] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Min(1),
            Constraint::Length(input_h),
            Constraint::Length(1),
        ])
        .areas(screen);
    let (transcript, sources) = if !app.show_sources {
        (main, None)
    } else if width >= 100 {
        let [t, s] = Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Percentage(60), Constraint::Percentage(40)])
            .areas(main);
        (t, Some(s))
    } else {
        let [t, s] = Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Percentage(55), Constraint::Percentage(45)])
            .areas(main);
        (t, Some(s))
    };
    Areas {
        transcript,
        sources,
        input,
        status,
    }
}

/// The rendered lines of one message at `width`, header and trailing
/// blank line included.
pub fn message_lines(m: &Message, width: u16, theme: &Theme) -> Vec<Line<'static>> {
    let width = width.max(1);
    let mut out = Vec::new();
    match m.speaker {
        Speaker::User => {
            out.push(Line::from(Span::styled("▌ You", theme.user_label)));
            for line in m.content.split('\n') {
                out.extend(markdown::wrap(
                    Line::from(Span::styled(line.to_string(), theme.text)),
                    width,
                    &[],
                ));
            }
        }
        Speaker::Assistant => {
            let mut header = vec![Span::styled("▌ lore", theme.assistant_label)];
            if let Some(why) = &m.stopped {
                header.push(Span::styled(format!(" · {why}"), theme.error));
            } else if m.cancelled {
                header.push(Span::styled(" · cancelled", theme.error));
            }
            out.extend(markdown::wrap(
                Line::from(header),
                width,
                &[Span::raw("  ")],
            ));
            out.extend(steps::step_lines(&m.steps, m.expanded, width, theme));
            if m.content.is_empty() && (!m.steps.is_empty() || m.stopped.is_some()) {
                // An agent turn at work, or one that ended without an
                // answer: the steps say it all.
            } else if m.content.is_empty() && m.streaming {
                out.push(Line::from(Span::styled("…", theme.dim)));
            } else {
                out.extend(markdown::render(&m.content, width, theme, m.streaming));
            }
            let cited: Vec<_> = m.sources.iter().filter(|s| s.cited).collect();
            if !cited.is_empty() && !m.streaming {
                for s in cited {
                    let mut text = format!("[{}] {}", s.n, s.label());
                    if !s.heading.is_empty() {
                        text.push_str(" > ");
                        text.push_str(&s.heading);
                    }
                    out.extend(markdown::wrap(
                        Line::from(Span::styled(text, theme.dim)),
                        width,
                        &[Span::raw("    ")],
                    ));
                }
            }
        }
        Speaker::Note | Speaker::Error => {
            let style = if m.speaker == Speaker::Note {
                theme.system_note
            } else {
                theme.error
            };
            let prefix = if m.speaker == Speaker::Note {
                "· "
            } else {
                "! "
            };
            for (i, line) in m.content.split('\n').enumerate() {
                let lead = if i == 0 { prefix } else { "  " };
                out.extend(markdown::wrap(
                    Line::from(vec![
                        Span::styled(lead, style),
                        Span::styled(line.to_string(), style),
                    ]),
                    width,
                    &[Span::raw("  ")],
                ));
            }
        }
    }
    out.push(Line::default());
    out
}

/// The lines of message `m` at `width`, from its cache when it is current.
pub fn lines_of(app: &App, m: &Message, width: u16) -> Rc<Vec<Line<'static>>> {
    m.lines(width, |m| message_lines(m, width, &app.theme))
}

/// Lines of the whole transcript at `width`.
pub fn total_lines(app: &App, width: u16) -> usize {
    app.messages
        .iter()
        .map(|m| lines_of(app, m, width).len())
        .sum()
}

/// The first line of message `idx` at `width`.
pub fn message_offset(app: &App, idx: usize, width: u16) -> usize {
    app.messages[..idx.min(app.messages.len())]
        .iter()
        .map(|m| lines_of(app, m, width).len())
        .sum()
}
