//! Word wrapping by display width: [`wrap`] for one styled line, and
//! [`wrap_into`] under the prefixes (quote bars, list markers) the
//! renderer supplies, with the small width helpers both use.

use std::borrow::Cow;

use ratatui::style::Style;
use ratatui::text::{Line, Span};
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

/// Indentation is sliced from here so most prefixes need no allocation.
const BLANKS: &str = "                                                                ";

/// Wide punctuation that must not begin a line, so it stays with the
/// character before it (a light form of CJK line-breaking rules).
const NO_BREAK_BEFORE: &str = "，。、；：？！）」』】〉》〕］｝”’…";

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

/// Tabs become four spaces and other control characters are dropped: both
/// would otherwise make the measured width disagree with the screen.
pub(super) fn clean(s: &str) -> Cow<'_, str> {
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

/// `n` spaces, borrowed when they fit [`BLANKS`].
pub(super) fn blanks(n: usize) -> Span<'static> {
    match BLANKS.get(..n) {
        Some(s) => Span::raw(s),
        None => Span::raw(" ".repeat(n)),
    }
}

/// The display width of `spans` together.
pub(super) fn spans_width(spans: &[Span<'_>]) -> usize {
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
pub(super) fn wrap_into(
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

/// Cuts `s` to at most `width` columns.
pub(crate) fn truncate(s: &str, width: usize) -> String {
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
