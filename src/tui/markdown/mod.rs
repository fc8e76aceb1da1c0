//! Markdown replies as styled, wrapped lines for the transcript.
//!
//! Replies stream, so their last block is often unfinished. While a reply
//! streams, everything up to the last closed block is rendered as Markdown
//! and the rest is shown raw until it closes: a half-written `**bold` or an
//! open code fence would otherwise restyle and re-flow the lines above it
//! on every token.
//!
//! Every line that leaves this module fits the width it was asked for, by
//! display width (CJK characters take two columns), so the transcript
//! never depends on the terminal to clip.
//!
//! This module reads the Markdown ([`Renderer`]) and finds where a
//! streaming reply's stable part ends; [`wrap`] wraps by display width,
//! `code` highlights code blocks and `table` lays out tables.

mod code;
mod table;
#[cfg(test)]
mod tests;
mod wrap;

use std::borrow::Cow;

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_width::UnicodeWidthStr;

use self::table::Table;
use self::wrap::{blanks, clean, spans_width, wrap_into};
use crate::tui::theme::Theme;

pub(crate) use self::wrap::truncate;
pub use self::wrap::wrap;

const HASHES: &str = "######";

/// Renders `text` as Markdown wrapped to `width` columns (width >= 1).
/// When `streaming` is true the reply is still arriving: the last,
/// unfinished block (text after the last blank line outside a code fence,
/// or an unclosed `` ``` `` fence and everything after it) is shown raw (plain
/// text, wrapped) so nothing jumps when it closes; closed blocks are
/// rendered as Markdown.
pub fn render(text: &str, width: u16, theme: &Theme, streaming: bool) -> Vec<Line<'static>> {
    let width = usize::from(width.max(1));
    let (done, tail) = if streaming {
        text.split_at(stable_end(text))
    } else {
        (text, "")
    };
    let mut r = Renderer::new(width, theme);
    r.run(done);
    let mut out = r.finish();
    let tail = tail.trim_matches(['\n', '\r']);
    if !tail.trim().is_empty() {
        if !out.is_empty() {
            out.push(Line::default());
        }
        for raw in tail.lines() {
            let spans = vec![Span::styled(clean(raw).into_owned(), theme.text)];
            wrap_into(&mut out, Vec::new(), spans, Style::default(), width, &[]);
        }
    }
    out
}

/// The byte offset where the unfinished tail of a streaming reply begins:
/// after the last blank line or closing fence, or at a fence still open.
fn stable_end(text: &str) -> usize {
    // (byte offset of the opening line, fence character, fence length)
    let mut open: Option<(usize, u8, usize)> = None;
    let mut end = 0;
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let start = at;
        at += line.len();
        let complete = line.ends_with('\n');
        match open {
            None => {
                if let Some((ch, len, info)) = fence(line) {
                    // A backtick "fence" with a backtick after it is inline code.
                    if ch != b'`' || !info.contains('`') {
                        open = Some((start, ch, len));
                    }
                } else if complete && line.trim().is_empty() {
                    end = at;
                }
            }
            Some((_, ch, len)) => {
                // An unterminated closing line may still grow ("``" -> "```x").
                let closes = complete
                    && fence(line)
                        .is_some_and(|(c, l, info)| c == ch && l >= len && info.trim().is_empty());
                if closes {
                    open = None;
                    end = at;
                }
            }
        }
    }
    open.map_or(end, |(start, ..)| start)
}

/// A fence line: up to three spaces, then three or more backticks or
/// tildes. Returns the character, the run length and what follows.
fn fence(line: &str) -> Option<(u8, usize, &str)> {
    let body = line.trim_start_matches(' ');
    if line.len() - body.len() > 3 {
        return None;
    }
    let ch = *body.as_bytes().first()?;
    if ch != b'`' && ch != b'~' {
        return None;
    }
    let len = body.bytes().take_while(|&b| b == ch).count();
    (len >= 3).then(|| (ch, len, &body[len..]))
}

/// What encloses the current block, outermost first.
enum Container {
    Quote,
    /// A list item: its marker and whether the marker is still to be
    /// written (on the item's first line).
    Item {
        marker: String,
        pending: bool,
    },
}

struct List {
    /// Next number (`None` for bullets).
    next: Option<u64>,
    /// Items hold paragraphs: CommonMark's loose list, shown with blank
    /// lines between items as its author spaced it.
    loose: bool,
}

/// Turns pulldown-cmark's events into wrapped, styled lines.
struct Renderer<'t> {
    width: usize,
    theme: &'t Theme,
    out: Vec<Line<'static>>,
    /// Inline content of the block being read.
    cur: Vec<Span<'static>>,
    styles: Vec<Style>,
    containers: Vec<Container>,
    lists: Vec<List>,
    /// Language token and text of the code block being read.
    code: Option<(String, String)>,
    /// Open links: destination and where their text starts.
    links: Vec<(String, usize)>,
    table: Option<Table>,
    need_blank: bool,
}

impl<'t> Renderer<'t> {
    fn new(width: usize, theme: &'t Theme) -> Renderer<'t> {
        Renderer {
            width,
            theme,
            out: Vec::new(),
            cur: Vec::new(),
            styles: vec![theme.text],
            containers: Vec::new(),
            lists: Vec::new(),
            code: None,
            links: Vec::new(),
            table: None,
            need_blank: false,
        }
    }

    fn run(&mut self, text: &str) {
        let options = Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH;
        for event in Parser::new_ext(text, options) {
            self.event(event);
        }
    }

    fn finish(mut self) -> Vec<Line<'static>> {
        self.flush();
        while self.out.last().is_some_and(|l| l.width() == 0) {
            self.out.pop();
        }
        self.out
    }

    fn style(&self) -> Style {
        self.styles.last().copied().unwrap_or(self.theme.text)
    }

    fn push_style(&mut self, s: Style) {
        let merged = self.style().patch(s);
        self.styles.push(merged);
    }

    fn pop_style(&mut self) {
        if self.styles.len() > 1 {
            self.styles.pop();
        }
    }

    /// Where inline content goes: the open table cell, else the block.
    fn target(&mut self) -> &mut Vec<Span<'static>> {
        match self.table.as_mut().and_then(Table::cell) {
            Some(cell) => cell,
            None => &mut self.cur,
        }
    }

    fn inline(&mut self, span: Span<'static>) {
        self.target().push(span);
    }

    /// The prefixes of the next line and of the lines after it (quote bars
    /// and list indentation). Pending list markers go into the first and
    /// are then spent.
    fn prefixes(&mut self) -> (Vec<Span<'static>>, Vec<Span<'static>>) {
        let mut first = Vec::new();
        let mut rest = Vec::new();
        for c in &mut self.containers {
            match c {
                Container::Quote => {
                    let bar = Span::styled("│ ", self.theme.quote);
                    first.push(bar.clone());
                    rest.push(bar);
                }
                Container::Item { marker, pending } => {
                    let w = marker.width();
                    if *pending {
                        first.push(Span::styled(marker.clone(), self.theme.list_marker));
                        *pending = false;
                    } else {
                        first.push(blanks(w));
                    }
                    rest.push(blanks(w));
                }
            }
        }
        (first, rest)
    }

    /// The prefixes for a block that lays out its own lines (code, tables,
    /// rules): empty when they would leave no room.
    fn block_prefixes(&mut self) -> (Vec<Span<'static>>, Vec<Span<'static>>) {
        let (first, rest) = self.prefixes();
        if spans_width(&first) < self.width && spans_width(&rest) < self.width {
            (first, rest)
        } else {
            (Vec::new(), Vec::new())
        }
    }

    /// Writes inline content as wrapped lines under the current prefixes.
    fn emit(&mut self, content: Vec<Span<'static>>) {
        let (first, rest) = self.prefixes();
        wrap_into(
            &mut self.out,
            first,
            content,
            Style::default(),
            self.width,
            &rest,
        );
    }

    fn flush(&mut self) {
        if self.cur.is_empty() {
            return;
        }
        let content = std::mem::take(&mut self.cur);
        self.emit(content);
    }

    /// Separates a block from the one before it by a blank line, which
    /// keeps the bars of enclosing quotes.
    fn block_start(&mut self) {
        if self.need_blank && !self.out.is_empty() {
            let bars: Vec<Span<'static>> = self
                .containers
                .iter()
                .filter(|c| matches!(c, Container::Quote))
                .map(|_| Span::styled("│ ", self.theme.quote))
                .collect();
            let fits = spans_width(&bars) <= self.width;
            self.out
                .push(Line::from(if fits { bars } else { Vec::new() }));
        }
        self.need_blank = false;
    }

    fn event(&mut self, event: Event<'_>) {
        let t = self.theme;
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(tag) => self.end(tag),
            Event::Text(s) => {
                if let Some((_, code)) = &mut self.code {
                    code.push_str(&s);
                } else {
                    let style = self.style();
                    let s = match clean(&s) {
                        Cow::Borrowed(_) => s.into_string(),
                        Cow::Owned(o) => o,
                    };
                    self.inline(Span::styled(s, style));
                }
            }
            Event::Code(s) => {
                let style = self.style().patch(t.inline_code);
                self.inline(Span::styled(clean(&s).into_owned(), style));
            }
            Event::InlineHtml(s) | Event::InlineMath(s) | Event::DisplayMath(s) => {
                self.inline(Span::styled(clean(&s).into_owned(), t.dim));
            }
            Event::Html(s) => {
                for line in s.lines() {
                    self.emit(vec![Span::styled(clean(line).into_owned(), t.dim)]);
                }
            }
            Event::FootnoteReference(s) => {
                self.inline(Span::styled(format!("[^{s}]"), t.dim));
            }
            Event::SoftBreak => {
                let style = self.style();
                self.inline(Span::styled(" ", style));
            }
            Event::HardBreak => {
                if self.table.is_some() {
                    let style = self.style();
                    self.inline(Span::styled(" ", style));
                } else {
                    self.flush();
                }
            }
            Event::Rule => {
                self.flush();
                self.block_start();
                let (mut line, _) = self.block_prefixes();
                let n = self.width - spans_width(&line);
                line.push(Span::styled("─".repeat(n), t.rule));
                self.out.push(Line::from(line));
                self.need_blank = true;
            }
            Event::TaskListMarker(done) => {
                let style = self.style();
                self.inline(Span::styled(if done { "[x] " } else { "[ ] " }, style));
            }
        }
    }

    fn start(&mut self, tag: Tag<'_>) {
        let t = self.theme;
        match tag {
            Tag::Paragraph | Tag::HtmlBlock => self.start_paragraph(),
            Tag::Heading { level, .. } => self.start_heading(level),
            Tag::BlockQuote(_) => {
                self.flush();
                self.block_start();
                self.containers.push(Container::Quote);
                self.push_style(t.quote);
            }
            Tag::CodeBlock(kind) => self.start_code(kind),
            Tag::List(start) => {
                self.flush();
                self.block_start();
                self.lists.push(List {
                    next: start,
                    loose: false,
                });
            }
            Tag::Item => self.start_item(),
            Tag::Emphasis => self.push_style(t.emphasis),
            Tag::Strong => self.push_style(t.strong),
            Tag::Strikethrough => self.push_style(t.strike),
            Tag::Superscript | Tag::Subscript => self.push_style(Style::default()),
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                self.push_style(t.link);
                let start = self.target().len();
                self.links.push((dest_url.into_string(), start));
            }
            Tag::Table(aligns) => self.start_table(aligns),
            Tag::TableHead | Tag::TableRow => self.start_table_row(),
            Tag::TableCell => self.start_table_cell(),
            Tag::FootnoteDefinition(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::MetadataBlock(_) => {
                self.flush();
                self.block_start();
            }
        }
    }

    fn start_paragraph(&mut self) {
        if matches!(self.containers.last(), Some(Container::Item { .. })) {
            if let Some(list) = self.lists.last_mut() {
                list.loose = true;
            }
        }
        self.flush();
        self.block_start();
    }

    fn start_heading(&mut self, level: HeadingLevel) {
        self.flush();
        self.block_start();
        self.push_style(self.theme.heading);
        let style = self.style();
        let hashes = HASHES.get(..level as usize).unwrap_or(HASHES);
        self.cur.push(Span::styled(hashes, style));
        self.cur.push(Span::styled(" ", style));
    }

    fn start_item(&mut self) {
        self.flush();
        let marker = match self.lists.last_mut().and_then(|l| l.next.as_mut()) {
            Some(n) => {
                let m = format!("{n}. ");
                *n += 1;
                m
            }
            None => "• ".to_string(),
        };
        self.containers.push(Container::Item {
            marker,
            pending: true,
        });
        // Items of a tight list sit on consecutive lines.
        if !self.lists.last().is_some_and(|l| l.loose) {
            self.need_blank = false;
        }
    }

    fn end(&mut self, tag: TagEnd) {
        match tag {
            TagEnd::Paragraph
            | TagEnd::HtmlBlock
            | TagEnd::FootnoteDefinition
            | TagEnd::DefinitionList
            | TagEnd::DefinitionListTitle
            | TagEnd::DefinitionListDefinition
            | TagEnd::MetadataBlock(_) => {
                self.flush();
                self.need_blank = true;
            }
            TagEnd::Heading(_) => {
                self.flush();
                self.pop_style();
                self.need_blank = true;
            }
            TagEnd::BlockQuote(_) => {
                self.flush();
                self.containers.pop();
                self.pop_style();
                self.need_blank = true;
            }
            TagEnd::CodeBlock => self.end_code(),
            TagEnd::List(_) => {
                self.flush();
                self.lists.pop();
                self.need_blank = true;
            }
            TagEnd::Item => {
                self.flush();
                // An empty item still shows its marker.
                if matches!(
                    self.containers.last(),
                    Some(Container::Item { pending: true, .. })
                ) {
                    self.emit(Vec::new());
                }
                self.containers.pop();
            }
            TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript => self.pop_style(),
            TagEnd::Link | TagEnd::Image => self.end_link(),
            TagEnd::TableHead => self.end_table_head(),
            TagEnd::Table => self.end_table(),
            TagEnd::TableRow | TagEnd::TableCell => {}
        }
    }

    /// Closes a link; its destination follows its text unless the text
    /// already shows it.
    fn end_link(&mut self) {
        self.pop_style();
        let dim = self.theme.dim;
        if let Some((url, start)) = self.links.pop() {
            let target = self.target();
            let shown: String = target
                .get(start..)
                .unwrap_or_default()
                .iter()
                .map(|s| s.content.as_ref())
                .collect();
            let same = url == shown || url.strip_prefix("mailto:") == Some(&shown);
            if !url.is_empty() && !same {
                target.push(Span::styled(format!(" ({})", clean(&url)), dim));
            }
        }
    }
}
