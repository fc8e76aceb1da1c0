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

use std::borrow::Cow;
use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Range;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use pulldown_cmark::{Alignment, CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, Style as CodeStyle, Theme as CodeTheme, ThemeSet};
use syntect::parsing::SyntaxSet;
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::tui::theme::{ColorMode, Theme};

/// The grammars take milliseconds to load, so they are loaded once, on
/// the first code block, and shared by every render after it.
static SYNTAXES: LazyLock<SyntaxSet> = LazyLock::new(SyntaxSet::load_defaults_newlines);

/// Only one of syntect's bundled themes is used; keeping just that one
/// drops the others from memory. `None` (never expected) means plain code.
static CODE_THEME: LazyLock<Option<CodeTheme>> =
    LazyLock::new(|| ThemeSet::load_defaults().themes.remove("base16-ocean.dark"));

/// Syntect's styles for each line of a code block, as byte ranges of the
/// block's text.
type Highlights = Arc<Vec<Vec<(CodeStyle, Range<usize>)>>>;

/// Recently highlighted code blocks by a hash of language and text.
/// Highlighting costs tens of microseconds a line (syntect on a
/// backtracking regex engine) while everything else costs well under one,
/// and the same blocks come back on every streamed token and every
/// resize, so they are highlighted once. The styles do not depend on the
/// width or the colour depth.
static HIGHLIGHTS: Mutex<VecDeque<(u64, Highlights)>> = Mutex::new(VecDeque::new());
const HIGHLIGHTS_KEPT: usize = 64;
/// Bounds on one block's first highlighting (tens of milliseconds at most).
const HIGHLIGHT_MAX_BYTES: usize = 32 * 1024;
const HIGHLIGHT_MAX_LINE: usize = 1000;

/// Indentation is sliced from here so most prefixes need no allocation.
const BLANKS: &str = "                                                                ";
const HASHES: &str = "######";

/// Wide punctuation that must not begin a line, so it stays with the
/// character before it (a light form of CJK line-breaking rules).
const NO_BREAK_BEFORE: &str = "，。、；：？！）」』】〉》〕］｝”’…";

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

/// Word-wraps one styled line to `width` display columns (unicode-width:
/// CJK characters are 2 columns and may break anywhere; words break at
/// spaces; a word longer than the width is split by grapheme). Keeps
/// span styles. An empty line stays one empty line. `indent` is prefixed
/// (as its own spans) to continuation lines.
pub fn wrap(line: Line<'static>, width: u16, indent: &[Span<'static>]) -> Vec<Line<'static>> {
    let mut out = Vec::new();
    wrap_into(
        &mut out,
        Vec::new(),
        line.spans,
        line.style,
        usize::from(width.max(1)),
        indent,
    );
    if let Some(alignment) = line.alignment {
        for l in &mut out {
            l.alignment = Some(alignment);
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

/// Tabs become four spaces and other control characters are dropped: both
/// would otherwise make the measured width disagree with the screen.
fn clean(s: &str) -> Cow<'_, str> {
    if !s.contains(|c: char| c.is_control()) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c == '\t' {
            out.push_str("    ");
        } else if !c.is_control() {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn blanks(n: usize) -> Span<'static> {
    match BLANKS.get(..n) {
        Some(s) => Span::raw(s),
        None => Span::raw(" ".repeat(n)),
    }
}

fn spans_width(spans: &[Span<'_>]) -> usize {
    spans.iter().map(Span::width).sum()
}

/// Appends a grapheme to the last span when the style matches, so wrapped
/// lines keep few spans.
fn push_str(cur: &mut Vec<Span<'static>>, s: &str, style: Style) {
    if let Some(last) = cur.last_mut() {
        if last.style == style {
            last.content.to_mut().push_str(s);
            return;
        }
    }
    cur.push(Span::styled(s.to_string(), style));
}

/// Wraps `spans` into `out`. `first` starts the first line and `rest` the
/// others; neither counts as content, so a marker never ends up alone on
/// a line and no line is only indentation. Prefixes that leave no room
/// for content are dropped.
fn wrap_into(
    out: &mut Vec<Line<'static>>,
    first: Vec<Span<'static>>,
    spans: Vec<Span<'static>>,
    style: Style,
    width: usize,
    rest: &[Span<'static>],
) {
    let first_w = spans_width(&first);
    let rest_w = spans_width(rest);
    let (first, first_w, rest, rest_w) = if first_w < width && rest_w < width {
        (first, first_w, rest, rest_w)
    } else {
        (Vec::new(), 0, &[][..], 0)
    };
    let content_w = spans_width(&spans);
    // Most lines fit as they are: no need to walk their graphemes.
    if first_w + content_w <= width {
        let mut line = first;
        line.extend(spans);
        out.push(Line::from(line).style(style));
        return;
    }
    let mut w = Wrapper {
        out,
        width,
        rest,
        rest_w,
        style,
        cur: first,
        cur_w: first_w,
        content: false,
        first_line: true,
        pushed: false,
        gap: Vec::new(),
        gap_w: 0,
    };
    let mut word: Vec<Glyph<'_>> = Vec::new();
    // Whether the word so far is one wide character, which may break after.
    let mut word_wide = false;
    for span in &spans {
        for g in span.content.graphemes(true) {
            if g == " " {
                w.place(&mut word);
                w.space(span.style);
                word_wide = false;
                continue;
            }
            let gw = g.width();
            let sticky = !g.is_ascii() && NO_BREAK_BEFORE.contains(g);
            if gw > 1 && !sticky {
                w.place(&mut word);
                word_wide = true;
            } else if word_wide && !sticky {
                w.place(&mut word);
                word_wide = false;
            }
            word.push((g, span.style, gw));
        }
    }
    w.place(&mut word);
    w.finish();
}

/// A grapheme with its style and display width.
type Glyph<'a> = (&'a str, Style, usize);

/// Line-filling state of [`wrap_into`].
struct Wrapper<'o, 'r> {
    out: &'o mut Vec<Line<'static>>,
    width: usize,
    rest: &'r [Span<'static>],
    rest_w: usize,
    style: Style,
    cur: Vec<Span<'static>>,
    cur_w: usize,
    /// Whether `cur` holds more than its prefix.
    content: bool,
    first_line: bool,
    pushed: bool,
    /// Spaces after the last word, written only if another word follows
    /// on the same line.
    gap: Vec<Style>,
    gap_w: usize,
}

impl Wrapper<'_, '_> {
    fn space(&mut self, style: Style) {
        if self.content {
            self.gap.push(style);
            self.gap_w += 1;
        } else if self.first_line && self.cur_w < self.width {
            // Leading spaces of the first line are indentation: keep them.
            push_str(&mut self.cur, " ", style);
            self.cur_w += 1;
        }
    }

    fn place(&mut self, word: &mut Vec<Glyph<'_>>) {
        if word.is_empty() {
            return;
        }
        let word_w: usize = word.iter().map(|g| g.2).sum();
        if self.content {
            if self.cur_w + self.gap_w + word_w <= self.width {
                self.write_gap();
                for &(g, style, gw) in word.iter() {
                    self.glyph(g, style, gw);
                }
                word.clear();
                return;
            }
            if word_w <= self.width - self.rest_w || self.cur_w + self.gap_w >= self.width {
                self.new_line();
            } else {
                // Longer than any line: start it here rather than waste the room.
                self.write_gap();
            }
        }
        if self.cur_w + word_w <= self.width {
            for &(g, style, gw) in word.iter() {
                self.glyph(g, style, gw);
            }
        } else {
            for &(g, style, gw) in word.iter() {
                if self.cur_w + gw > self.width {
                    if self.content {
                        self.new_line();
                    }
                    if self.cur_w + gw > self.width {
                        // The prefix leaves too little room for this one:
                        // give the line to the grapheme, or skip one wider
                        // than the whole width.
                        if gw > self.width {
                            continue;
                        }
                        self.cur.clear();
                        self.cur_w = 0;
                    }
                }
                self.glyph(g, style, gw);
            }
        }
        word.clear();
    }

    fn glyph(&mut self, g: &str, style: Style, gw: usize) {
        push_str(&mut self.cur, g, style);
        self.cur_w += gw;
        self.content = true;
    }

    fn write_gap(&mut self) {
        for i in 0..self.gap.len() {
            push_str(&mut self.cur, " ", self.gap[i]);
        }
        self.cur_w += self.gap_w;
        self.gap.clear();
        self.gap_w = 0;
    }

    fn new_line(&mut self) {
        let spans = std::mem::take(&mut self.cur);
        self.out.push(Line::from(spans).style(self.style));
        self.pushed = true;
        self.cur.extend(self.rest.iter().cloned());
        self.cur_w = self.rest_w;
        self.content = false;
        self.first_line = false;
        self.gap.clear();
        self.gap_w = 0;
    }

    fn finish(mut self) {
        if self.content || !self.pushed {
            let spans = std::mem::take(&mut self.cur);
            self.out.push(Line::from(spans).style(self.style));
        }
    }
}

/// The highlighting of `code` as `lang`, from the cache when it is there;
/// `None` when syntect does not know the language or the block is too big
/// to highlight without stalling the screen.
fn highlighted(lang: &str, code: &str) -> Option<Highlights> {
    if code.len() > HIGHLIGHT_MAX_BYTES {
        return None;
    }
    let syntax = SYNTAXES.find_syntax_by_token(lang)?;
    let theme = CODE_THEME.as_ref()?;
    let mut hasher = DefaultHasher::new();
    (lang, code).hash(&mut hasher);
    let key = hasher.finish();
    let cache = || HIGHLIGHTS.lock().unwrap_or_else(PoisonError::into_inner);
    {
        let mut kept = cache();
        if let Some(i) = kept.iter().position(|(k, _)| *k == key) {
            let hit = kept.remove(i)?;
            kept.push_front(hit.clone());
            return Some(hit.1);
        }
    }
    // Highlighted without the lock, so other threads are not held up.
    let mut h = HighlightLines::new(syntax, theme);
    let mut lines = Vec::new();
    let mut start = 0;
    for line in code.split_inclusive('\n') {
        // Backtracking makes very long lines (minified code) slow. A line
        // not highlighted, or one that failed, leaves the highlighter's
        // state unknown, so the rest of the block stays plain.
        if line.len() > HIGHLIGHT_MAX_LINE {
            break;
        }
        let Ok(parts) = h.highlight_line(line, &SYNTAXES) else {
            break;
        };
        let mut at = start;
        let mut ranges = Vec::with_capacity(parts.len());
        for (st, piece) in parts {
            ranges.push((st, at..at + piece.len()));
            at += piece.len();
        }
        lines.push(ranges);
        start += line.len();
    }
    let lines = Arc::new(lines);
    let mut kept = cache();
    kept.push_front((key, lines.clone()));
    kept.truncate(HIGHLIGHTS_KEPT);
    Some(lines)
}

/// Hard-wraps one code line at `width` columns: code keeps its spaces and
/// is never re-flowed at them.
fn push_code_line(
    out: &mut Vec<Line<'static>>,
    rest: &[Span<'static>],
    spans: Vec<Span<'static>>,
    width: usize,
) {
    let mut cur: Vec<Span<'static>> = rest.to_vec();
    let mut w = 0;
    for span in spans {
        let sw = span.width();
        if w + sw <= width {
            w += sw;
            cur.push(span);
            continue;
        }
        let style = span.style;
        let mut piece = String::new();
        for g in span.content.graphemes(true) {
            let gw = g.width();
            if gw > width {
                continue;
            }
            if w + gw > width {
                if !piece.is_empty() {
                    cur.push(Span::styled(std::mem::take(&mut piece), style));
                }
                out.push(Line::from(std::mem::replace(&mut cur, rest.to_vec())));
                w = 0;
            }
            piece.push_str(g);
            w += gw;
        }
        if !piece.is_empty() {
            cur.push(Span::styled(piece, style));
        }
    }
    out.push(Line::from(cur));
}

/// Cuts `s` to at most `width` columns.
fn truncate(s: &str, width: usize) -> String {
    let mut out = String::new();
    let mut w = 0;
    for g in s.graphemes(true) {
        let gw = g.width();
        if w + gw > width {
            break;
        }
        out.push_str(g);
        w += gw;
    }
    out
}

/// Column widths that fit `room` (at least one column for each).
/// Each column first gets its longest word, so words are not broken while
/// there is any way around it, then the rest of the room in proportion to
/// how much more the column wants; with too little room even for the
/// words, columns shrink in proportion to their longest words.
fn fit_columns(natural: &[usize], words: &[usize], room: usize) -> Vec<usize> {
    if natural.iter().sum::<usize>() <= room {
        return natural.to_vec();
    }
    let min: Vec<usize> = natural
        .iter()
        .zip(words)
        .map(|(&n, &w)| w.min(n).max(1))
        .collect();
    let min_total: usize = min.iter().sum();
    let mut widths: Vec<usize> = if min_total <= room {
        let extra = room - min_total;
        let flex_total: usize = natural.iter().zip(&min).map(|(n, m)| n - m).sum();
        natural
            .iter()
            .zip(&min)
            .map(|(&n, &m)| m + (n - m) * extra / flex_total.max(1))
            .collect()
    } else {
        min.iter().map(|&m| (m * room / min_total).max(1)).collect()
    };
    while widths.iter().sum::<usize>() > room {
        match widths.iter_mut().filter(|w| **w > 1).max() {
            Some(w) => *w -= 1,
            None => break,
        }
    }
    // Rounding leaves a few columns spare: give them to the most cut.
    let mut spare = room.saturating_sub(widths.iter().sum());
    while spare > 0 {
        let most_cut = (0..widths.len())
            .filter(|&i| widths[i] < natural[i])
            .max_by_key(|&i| natural[i] - widths[i]);
        match most_cut {
            Some(i) => widths[i] += 1,
            None => break,
        }
        spare -= 1;
    }
    widths
}

/// The widest run a cell cannot break: its longest word, or one wide
/// character of a CJK run (those break anywhere).
fn longest_word(cell: &[Span<'_>]) -> usize {
    let mut longest = 0;
    for span in cell {
        for word in span.content.split(' ') {
            let w = if word.is_ascii() {
                word.len()
            } else if word.chars().any(|c| c.width().unwrap_or(0) > 1) {
                2
            } else {
                word.width()
            };
            longest = longest.max(w);
        }
    }
    longest
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

struct Table {
    aligns: Vec<Alignment>,
    rows: Vec<Vec<Vec<Span<'static>>>>,
    head: usize,
}

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
        match self
            .table
            .as_mut()
            .and_then(|t| t.rows.last_mut())
            .and_then(|r| r.last_mut())
        {
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
            Tag::Paragraph | Tag::HtmlBlock => {
                if matches!(self.containers.last(), Some(Container::Item { .. })) {
                    if let Some(list) = self.lists.last_mut() {
                        list.loose = true;
                    }
                }
                self.flush();
                self.block_start();
            }
            Tag::Heading { level, .. } => {
                self.flush();
                self.block_start();
                self.push_style(t.heading);
                let style = self.style();
                let hashes = HASHES.get(..level as usize).unwrap_or(HASHES);
                self.cur.push(Span::styled(hashes, style));
                self.cur.push(Span::styled(" ", style));
            }
            Tag::BlockQuote(_) => {
                self.flush();
                self.block_start();
                self.containers.push(Container::Quote);
                self.push_style(t.quote);
            }
            Tag::CodeBlock(kind) => {
                self.flush();
                self.block_start();
                let lang = match kind {
                    CodeBlockKind::Fenced(info) => info
                        .split(|c: char| c == ',' || c.is_whitespace())
                        .next()
                        .unwrap_or("")
                        .to_string(),
                    CodeBlockKind::Indented => String::new(),
                };
                self.code = Some((lang, String::new()));
            }
            Tag::List(start) => {
                self.flush();
                self.block_start();
                self.lists.push(List {
                    next: start,
                    loose: false,
                });
            }
            Tag::Item => {
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
            Tag::Emphasis => self.push_style(t.emphasis),
            Tag::Strong => self.push_style(t.strong),
            Tag::Strikethrough => self.push_style(t.strike),
            Tag::Superscript | Tag::Subscript => self.push_style(Style::default()),
            Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. } => {
                self.push_style(t.link);
                let start = self.target().len();
                self.links.push((dest_url.into_string(), start));
            }
            Tag::Table(aligns) => {
                self.flush();
                self.block_start();
                self.table = Some(Table {
                    aligns,
                    rows: Vec::new(),
                    head: 0,
                });
            }
            Tag::TableHead | Tag::TableRow => {
                if let Some(tb) = &mut self.table {
                    tb.rows.push(Vec::new());
                }
            }
            Tag::TableCell => {
                if let Some(row) = self.table.as_mut().and_then(|tb| tb.rows.last_mut()) {
                    row.push(Vec::new());
                }
            }
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

    fn end(&mut self, tag: TagEnd) {
        let t = self.theme;
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
            TagEnd::CodeBlock => {
                if let Some((lang, code)) = self.code.take() {
                    self.code_block(&lang, &code);
                }
                self.need_blank = true;
            }
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
            TagEnd::Link | TagEnd::Image => {
                self.pop_style();
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
                        target.push(Span::styled(format!(" ({})", clean(&url)), t.dim));
                    }
                }
            }
            TagEnd::TableHead => {
                if let Some(tb) = &mut self.table {
                    tb.head = tb.rows.len();
                }
            }
            TagEnd::Table => {
                if let Some(tb) = self.table.take() {
                    self.table_block(tb);
                }
                self.need_blank = true;
            }
            TagEnd::TableRow | TagEnd::TableCell => {}
        }
    }

    fn code_style(&self, st: CodeStyle) -> Style {
        let fg = st.foreground;
        let mut style = match self.theme.color(fg.r, fg.g, fg.b) {
            Some(c) => Style::new().fg(c),
            None => self.theme.code_block,
        };
        if st.font_style.contains(FontStyle::BOLD) {
            style = style.add_modifier(Modifier::BOLD);
        }
        if st.font_style.contains(FontStyle::ITALIC) {
            style = style.add_modifier(Modifier::ITALIC);
        }
        style
    }

    fn code_block(&mut self, lang: &str, code: &str) {
        let t = self.theme;
        let (mut header, rest) = self.block_prefixes();
        let avail = self.width - spans_width(&rest);
        // The header keeps code blocks recognisable without colour.
        let label = if lang.is_empty() { "code" } else { lang };
        header.push(Span::styled(
            truncate(&format!("─ {label} ─"), avail),
            t.dim,
        ));
        self.out.push(Line::from(header));

        let highlighted = if t.mode == ColorMode::Mono || lang.is_empty() {
            None
        } else {
            highlighted(lang, code)
        };
        for (i, raw) in code.split_inclusive('\n').enumerate() {
            let parts = highlighted.as_ref().and_then(|h| h.get(i));
            let spans: Vec<Span<'static>> = match parts {
                Some(parts) => parts
                    .iter()
                    .filter_map(|(st, range)| {
                        let s = code.get(range.clone())?.trim_end_matches(['\n', '\r']);
                        (!s.is_empty())
                            .then(|| Span::styled(clean(s).into_owned(), self.code_style(*st)))
                    })
                    .collect(),
                None => {
                    let s = raw.trim_end_matches(['\n', '\r']);
                    vec![Span::styled(clean(s).into_owned(), t.code_block)]
                }
            };
            push_code_line(&mut self.out, &rest, spans, avail);
        }
    }

    fn table_block(&mut self, tb: Table) {
        let t = self.theme;
        let cols = tb.rows.iter().map(Vec::len).max().unwrap_or(0);
        if cols == 0 {
            return;
        }
        let (first, rest) = self.block_prefixes();
        let avail = self.width - spans_width(&rest);
        let head = tb.head;
        let rows: Vec<Vec<Vec<Span<'static>>>> = tb
            .rows
            .into_iter()
            .enumerate()
            .map(|(i, row)| {
                if i >= head {
                    return row;
                }
                row.into_iter()
                    .map(|cell| {
                        cell.into_iter()
                            .map(|s| {
                                let style = s.style.patch(t.strong);
                                s.style(style)
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect();

        // Too narrow for a grid: one wrapped line per row.
        if avail < 2 * cols + 1 {
            let mut lead = Some(first);
            for row in rows {
                let mut spans = Vec::new();
                for (i, cell) in row.into_iter().enumerate() {
                    if i > 0 {
                        spans.push(Span::styled(" │ ", t.table_border));
                    }
                    spans.extend(cell);
                }
                let f = lead.take().unwrap_or_else(|| rest.clone());
                wrap_into(&mut self.out, f, spans, Style::default(), self.width, &rest);
            }
            return;
        }

        let column = |i: usize, measure: fn(&[Span<'static>]) -> usize| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| measure(c))
                .max()
                .unwrap_or(0)
                .max(1)
        };
        let natural: Vec<usize> = (0..cols).map(|i| column(i, spans_width)).collect();
        let words: Vec<usize> = (0..cols).map(|i| column(i, longest_word)).collect();
        let natural_total: usize = natural.iter().sum();
        let words_total: usize = words.iter().sum();
        // Cell padding only while it costs no broken words.
        let pad = usize::from(natural_total.min(words_total) + 3 * cols < avail);
        let room = avail - (cols + 1) - 2 * pad * cols;
        let widths = fit_columns(&natural, &words, room);

        let border = |l: &str, m: &str, r: &str| {
            let mut s = String::from(l);
            for (i, w) in widths.iter().enumerate() {
                s.push_str(&"─".repeat(w + 2 * pad));
                s.push_str(if i + 1 == widths.len() { r } else { m });
            }
            Span::styled(s, t.table_border)
        };
        let mut lead = Some(first);
        let mut push = |out: &mut Vec<Line<'static>>, spans: Vec<Span<'static>>| {
            let mut line = lead.take().unwrap_or_else(|| rest.clone());
            line.extend(spans);
            out.push(Line::from(line));
        };
        push(&mut self.out, vec![border("┌", "┬", "┐")]);
        let bar = Span::styled("│", t.table_border);
        let row_count = rows.len();
        for (ri, row) in rows.into_iter().enumerate() {
            let mut cells: Vec<Vec<Line<'static>>> = Vec::with_capacity(cols);
            let mut row = row.into_iter();
            for &w in &widths {
                let mut lines = Vec::new();
                if let Some(cell) = row.next() {
                    wrap_into(&mut lines, Vec::new(), cell, Style::default(), w, &[]);
                }
                cells.push(lines);
            }
            let height = cells.iter().map(Vec::len).max().unwrap_or(0).max(1);
            for y in 0..height {
                let mut spans = vec![bar.clone()];
                for (i, cell) in cells.iter_mut().enumerate() {
                    let line = cell.get_mut(y).map(std::mem::take).unwrap_or_default();
                    let slack = widths[i].saturating_sub(line.width());
                    let left = match tb.aligns.get(i) {
                        Some(Alignment::Right) => slack,
                        Some(Alignment::Center) => slack / 2,
                        _ => 0,
                    };
                    spans.push(blanks(pad + left));
                    spans.extend(line.spans);
                    spans.push(blanks(slack - left + pad));
                    spans.push(bar.clone());
                }
                push(&mut self.out, spans);
            }
            if ri + 1 == head && ri + 1 < row_count {
                push(&mut self.out, vec![border("├", "┼", "┤")]);
            }
        }
        push(&mut self.out, vec![border("└", "┴", "┘")]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Color;

    fn texts(lines: &[Line]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    fn true_color() -> Theme {
        Theme::new(ColorMode::TrueColor)
    }

    const RICH: &str = "# Title\n\nSome *emphasis*, **strong**, ~~gone~~, `code` and a [link](https://x.example).\n\n- one\n- two with a long line that needs wrapping across several lines of output\n  1. nested\n  2. items with a wrapped continuation line of text\n     - deeper still\n\n> quoted text that is long enough to wrap at small widths\n> > and a nested quote\n\n```rust\nfn main() {\n\tlet x = \"s\"; // a long comment that runs past the edge of a narrow screen\n}\n```\n\n    indented code\n\n| Method | Time | Notes |\n|:---|---:|:-:|\n| PayPal | within 24 hours | `fast` |\n| 信用卡 | 3 to 10 business days | **slow** and a long note that wraps |\n\n---\n\n中文字符测试，这是一段很长的中文文本。 averyveryverylongwordwithoutanyspacesatall\n\n<div>html</div>\n\nA line with a hard  \nbreak and emoji 👨‍👩‍👧 e\u{301}.";

    #[test]
    fn no_line_is_wider_than_the_width() {
        let inputs = [
            RICH,
            "",
            "\n\n\n",
            "plain",
            "你好世界你好世界你好世界",
            "- a\n  - b\n    - c\n      - d\n        - e with words",
            "> > > > deep quote with words",
            "1. ```\n   code in a list\n   ```",
            "| a |\n|---|\n| 你好你好 |",
            "| a | b | c | d | e | f | g | h |\n|-|-|-|-|-|-|-|-|\n|1|2|3|4|5|6|7|8|",
            "```\n\t\ttabs\there\n```",
            "```rust\nfn main() {\n```",
            "x\ty\u{1b}[31mz",
        ];
        for theme in [true_color(), Theme::new(ColorMode::Mono)] {
            for input in inputs {
                for width in [1u16, 2, 3, 5, 7, 20, 40, 80] {
                    for streaming in [false, true] {
                        for line in render(input, width, &theme, streaming) {
                            assert!(
                                line.width() <= usize::from(width),
                                "width {width}, {input:?}: {:?} is {} wide",
                                texts(std::slice::from_ref(&line)),
                                line.width()
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn wrapped_fragments_of_every_prefix_fit() {
        // Every prefix of a rich reply is a plausible streaming state.
        let theme = true_color();
        let cuts: Vec<usize> = RICH.char_indices().map(|(i, _)| i).step_by(7).collect();
        for &cut in &cuts {
            for width in [1u16, 5, 20, 40] {
                for line in render(&RICH[..cut], width, &theme, true) {
                    assert!(
                        line.width() <= usize::from(width),
                        "cut {cut} width {width}"
                    );
                }
            }
        }
    }

    #[test]
    fn random_documents_fit_and_do_not_panic() {
        const PIECES: [&str; 24] = [
            "word ",
            "longerwordthanmostlines",
            "你好",
            "，",
            "\n",
            "\n\n",
            "- ",
            "1. ",
            "  ",
            "> ",
            "**",
            "*",
            "`",
            "```rust\n",
            "```\n",
            "| a | b |\n|---|---|\n",
            "| 信 | x |\n",
            "[l](http://u) ",
            "\t",
            "# ",
            "---\n",
            "<b>",
            "👍🏽",
            "e\u{301}",
        ];
        let theme = true_color();
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..300 {
            let mut doc = String::new();
            for _ in 0..40 {
                seed = seed
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                doc.push_str(PIECES[(seed >> 33) as usize % PIECES.len()]);
            }
            for width in [1u16, 4, 13, 40] {
                for streaming in [false, true] {
                    for line in render(&doc, width, &theme, streaming) {
                        assert!(line.width() <= usize::from(width), "{doc:?} at {width}");
                    }
                }
            }
        }
    }

    #[test]
    fn cjk_wraps_by_display_width() {
        let lines = wrap(Line::from("你好世界"), 4, &[]);
        assert_eq!(texts(&lines), ["你好", "世界"]);
        let lines = wrap(Line::from("ab你好"), 3, &[]);
        assert_eq!(texts(&lines), ["ab", "你", "好"]);
        // Closing punctuation stays with the character before it.
        let lines = wrap(Line::from("你好。"), 4, &[]);
        assert_eq!(texts(&lines), ["你", "好。"]);
    }

    #[test]
    fn wrap_breaks_at_spaces_splits_long_words_and_indents() {
        let lines = wrap(Line::from("hello wide world"), 10, &[Span::raw("  ")]);
        assert_eq!(texts(&lines), ["hello wide", "  world"]);
        let lines = wrap(Line::from("hello world"), 8, &[]);
        assert_eq!(texts(&lines), ["hello", "world"], "no trailing space");
        let lines = wrap(Line::from("abcdefghij"), 4, &[]);
        assert_eq!(texts(&lines), ["abcd", "efgh", "ij"]);
        let lines = wrap(Line::from("  lead"), 4, &[]);
        assert_eq!(texts(&lines), ["  le", "ad"]);
        let lines = wrap(Line::from(""), 10, &[Span::raw("  ")]);
        assert_eq!(texts(&lines), [""]);
        // An indent as wide as the line is dropped, not overflowed.
        let lines = wrap(Line::from("aa bb"), 2, &[Span::raw("    ")]);
        assert_eq!(texts(&lines), ["aa", "bb"]);
    }

    #[test]
    fn wrap_keeps_span_styles_and_line_style() {
        let bold = Style::new().add_modifier(Modifier::BOLD);
        let dim = Style::new().add_modifier(Modifier::DIM);
        let line =
            Line::from(vec![Span::styled("bold words ", bold), Span::raw("plain")]).style(dim);
        let lines = wrap(line.clone(), 7, &[Span::styled("> ", dim)]);
        assert_eq!(texts(&lines), ["bold", "> words", "> plain"]);
        assert_eq!(lines[0].spans[0].style, bold);
        assert_eq!(lines[1].spans[0].style, dim);
        assert_eq!(lines[1].spans[1].style, bold);
        assert_eq!(lines[2].spans[1].style, Style::default());
        assert!(lines.iter().all(|l| l.style == dim));
        // A word too long for any line starts where there is room left.
        let lines = wrap(line, 6, &[Span::styled("> ", dim)]);
        assert_eq!(texts(&lines), ["bold w", "> ords", "> plai", "> n"]);
    }

    #[test]
    fn an_open_fence_stays_raw_while_streaming() {
        let theme = true_color();
        let text = "Intro.\n\n```rust\nfn main() {";
        let live = texts(&render(text, 40, &theme, true));
        assert_eq!(live, ["Intro.", "", "```rust", "fn main() {"]);
        let done = texts(&render(&format!("{text}\n}}\n```"), 40, &theme, false));
        assert!(!done.iter().any(|l| l.contains("```")), "{done:?}");
        assert_eq!(done, ["Intro.", "", "─ rust ─", "fn main() {", "}"]);
    }

    #[test]
    fn an_unfinished_paragraph_stays_raw_while_streaming() {
        let theme = true_color();
        let lines = render("# Title\n\nsome *unfinished", 40, &theme, true);
        let all = texts(&lines);
        assert_eq!(all, ["# Title", "", "some *unfinished"]);
        assert_eq!(lines[0].spans[0].style, theme.heading);
        // Once the block closes it renders.
        let all = texts(&render("# Title\n\nsome *done*\n\n", 40, &theme, true));
        assert_eq!(all, ["# Title", "", "some done"]);
    }

    #[test]
    fn the_stable_part_ends_at_blank_lines_and_closed_fences() {
        assert_eq!(stable_end("a\n\nb"), 3);
        assert_eq!(stable_end("a\nb"), 0);
        assert_eq!(stable_end("a\n\n```\nx\n\ny"), 3, "blank inside a fence");
        assert_eq!(stable_end("```\nx\n```\ny"), 10, "closed fence");
        assert_eq!(
            stable_end("````\nx\n```\n"),
            0,
            "shorter fence does not close"
        );
        assert_eq!(stable_end("~~~\nx\n~~~~\n"), 11, "tildes");
        assert_eq!(stable_end("```\nx\n```"), 0, "closing line may still grow");
        assert_eq!(stable_end("```x```\n\n"), 9, "inline code is no fence");
        assert_eq!(stable_end("    ```\n\nz"), 9, "indented code is no fence");
    }

    #[test]
    fn lists_have_markers_and_aligned_continuations() {
        let theme = true_color();
        let text = "- one\n- two words that wrap\n  1. nested\n  2. more\n\n3. three\n4. four";
        let lines = render(text, 14, &theme, false);
        assert_eq!(
            texts(&lines),
            [
                "• one",
                "• two words",
                "  that wrap",
                "  1. nested",
                "  2. more",
                "",
                "3. three",
                "4. four",
            ]
        );
        let marker = &lines[0].spans[0];
        assert_eq!(
            (marker.content.as_ref(), marker.style),
            ("• ", theme.list_marker)
        );
        let nested = &lines[3].spans[1];
        assert_eq!(
            (nested.content.as_ref(), nested.style),
            ("1. ", theme.list_marker)
        );
    }

    #[test]
    fn loose_lists_keep_their_blank_lines() {
        let theme = true_color();
        let all = texts(&render("- a\n\n- b\n\n  more b\n- c", 20, &theme, false));
        assert_eq!(all, ["• a", "", "• b", "", "  more b", "", "• c"]);
    }

    #[test]
    fn quotes_prefix_every_wrapped_line() {
        let theme = true_color();
        let lines = render("> quoted words that wrap\n>\n> again", 10, &theme, false);
        let all = texts(&lines);
        assert_eq!(
            all,
            ["│ quoted", "│ words", "│ that", "│ wrap", "│ ", "│ again"]
        );
        for line in &lines {
            assert!(
                line.spans.iter().all(|s| s.style == theme.quote),
                "{line:?}"
            );
        }
    }

    #[test]
    fn blocks_are_separated_by_one_blank_line_and_none_trails() {
        let theme = true_color();
        let text = "# H\n\npara\n\n- a\n- b\n\n---\n\n```\nx\n```\n\n";
        let all = texts(&render(text, 8, &theme, false));
        assert_eq!(
            all,
            [
                "# H",
                "",
                "para",
                "",
                "• a",
                "• b",
                "",
                "────────",
                "",
                "─ code ─",
                "x"
            ]
        );
    }

    #[test]
    fn inline_styles_and_links() {
        let theme = true_color();
        let text = "*em* **st** ~~del~~ `co` [site](https://a.b) <https://c.d> <x@y.z>";
        let lines = render(text, 80, &theme, false);
        assert_eq!(
            texts(&lines),
            ["em st del co site (https://a.b) https://c.d x@y.z"]
        );
        let style_of = |word: &str| {
            lines[0]
                .spans
                .iter()
                .find(|s| s.content == word)
                .map(|s| s.style)
        };
        assert_eq!(style_of("em"), Some(theme.emphasis));
        assert_eq!(style_of("st"), Some(theme.strong));
        assert_eq!(style_of("del"), Some(theme.strike));
        assert_eq!(style_of("co"), Some(theme.inline_code));
        assert_eq!(style_of("site"), Some(theme.link));
        assert_eq!(style_of(" (https://a.b)"), Some(theme.dim));
    }

    #[test]
    fn tables_have_borders_and_fit_the_width() {
        let theme = true_color();
        let text =
            "| Method | Time |\n|---|--:|\n| PayPal | 1 day |\n| Card | 3 to 10 business days |";
        let lines = render(text, 80, &theme, false);
        assert_eq!(
            texts(&lines),
            [
                "┌────────┬───────────────────────┐",
                "│ Method │                  Time │",
                "├────────┼───────────────────────┤",
                "│ PayPal │                 1 day │",
                "│ Card   │ 3 to 10 business days │",
                "└────────┴───────────────────────┘",
            ]
        );
        let header = lines[1].spans.iter().find(|s| s.content == "Method");
        assert_eq!(header.map(|s| s.style), Some(theme.strong));
        assert_eq!(lines[0].spans[0].style, theme.table_border);

        let narrow = render(text, 22, &theme, false);
        assert!(narrow.iter().all(|l| l.width() <= 22));
        let all = texts(&narrow).join("\n");
        assert!(all.contains("│ PayPal │"), "{all}");
        assert!(all.contains("business"), "cells wrap: {all}");
    }

    #[test]
    fn tables_too_narrow_for_a_grid_become_lines() {
        let theme = true_color();
        let text = "| a | b | c |\n|-|-|-|\n| 1 | 2 | 3 |";
        let lines = render(text, 6, &theme, false);
        assert_eq!(texts(&lines), ["a │ b", "│ c", "1 │ 2", "│ 3"]);
        // Wide enough for a grid but not for padding.
        let all = texts(&render(text, 7, &theme, false));
        assert_eq!(all, ["┌─┬─┬─┐", "│a│b│c│", "├─┼─┼─┤", "│1│2│3│", "└─┴─┴─┘"]);
    }

    #[test]
    fn column_widths_keep_words_whole_while_they_can() {
        assert_eq!(fit_columns(&[6, 21, 31], &[6, 8, 5], 100), [6, 21, 31]);
        let w = fit_columns(&[6, 21, 31], &[6, 8, 5], 30);
        assert_eq!(w.iter().sum::<usize>(), 30);
        assert!(w[0] == 6 && w[1] >= 8 && w[2] >= 5, "{w:?}");
        let w = fit_columns(&[6, 21, 31], &[6, 8, 5], 12);
        assert_eq!(w.iter().sum::<usize>(), 12);
        assert!(w.iter().all(|&c| c >= 3), "{w:?}");
        assert_eq!(fit_columns(&[9, 9, 9], &[9, 9, 9], 3), [1, 1, 1]);
    }

    #[test]
    fn rules_span_the_width_and_html_is_dim() {
        let theme = true_color();
        let lines = render("a\n\n***\n\n<br>", 12, &theme, false);
        assert_eq!(
            texts(&lines),
            ["a", "", "─".repeat(12).as_str(), "", "<br>"]
        );
        assert_eq!(lines[2].spans[0].style, theme.rule);
        assert_eq!(lines[4].spans[0].style, theme.dim);
    }

    #[test]
    fn the_mono_theme_uses_no_colour() {
        let theme = Theme::new(ColorMode::Mono);
        let lines = render(RICH, 50, &theme, false);
        assert!(lines.len() > 30);
        for line in &lines {
            assert_eq!((line.style.fg, line.style.bg), (None, None));
            for s in &line.spans {
                assert_eq!((s.style.fg, s.style.bg), (None, None), "{:?}", s.content);
            }
        }
    }

    #[test]
    fn code_is_highlighted_in_colour() {
        let theme = true_color();
        let lines = render(
            "```rust\nfn main() { let x = \"s\"; }\n```",
            60,
            &theme,
            false,
        );
        let colours: std::collections::BTreeSet<String> = lines
            .iter()
            .flat_map(|l| l.spans.iter())
            .filter_map(|s| match s.style.fg {
                Some(Color::Rgb(r, g, b)) => Some(format!("{r},{g},{b}")),
                _ => None,
            })
            .collect();
        assert!(colours.len() >= 2, "{colours:?}");
        // 256 colours get palette entries.
        let lines = render(
            "```rust\nfn main() {}\n```",
            60,
            &Theme::new(ColorMode::Ansi256),
            false,
        );
        assert!(lines[1]
            .spans
            .iter()
            .all(|s| matches!(s.style.fg, Some(Color::Indexed(_)))));
    }

    #[test]
    fn highlighting_is_cached_and_bounded() {
        let theme = true_color();
        let text = "```python\ndef f(x):\n    return x + 1\n```";
        let first = render(text, 30, &theme, false);
        assert_eq!(render(text, 30, &theme, false), first);
        // Narrower: the cached styles are wrapped again, not re-parsed.
        let narrow = render(text, 10, &theme, false);
        assert_eq!(texts(&narrow)[1..], ["def f(x):", "    return", " x + 1"]);
        // A minified line is not worth stalling the screen for.
        let long = format!("```js\nvar a = 1;\n{}\nvar b = 2;\n```", "x+".repeat(600));
        let lines = render(&long, 2000, &theme, false);
        assert_ne!(lines[1].spans[0].style, theme.code_block);
        for line in &lines[2..] {
            assert!(line.spans.iter().all(|s| s.style == theme.code_block));
        }
    }

    #[test]
    fn unknown_code_is_plain_hard_wrapped_and_keeps_indentation() {
        let theme = true_color();
        let text = "```nosuchlang\n\tab cd ef\n        deep\n```";
        let lines = render(text, 8, &theme, false);
        assert_eq!(
            texts(&lines),
            ["─ nosuch", "    ab c", "d ef", "        ", "deep"]
        );
        for line in &lines[1..] {
            assert!(line.spans.iter().all(|s| s.style == theme.code_block));
        }
        assert_eq!(lines[0].spans[0].style, theme.dim);
    }

    #[test]
    fn code_in_a_list_item_is_indented_under_it() {
        let theme = true_color();
        let lines = render("1. run:\n\n   ```sh\n   ls -l\n   ```", 40, &theme, false);
        assert_eq!(texts(&lines), ["1. run:", "", "   ─ sh ─", "   ls -l"]);
    }
}
