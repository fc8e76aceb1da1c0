//! Code blocks: syntect highlighting behind a small bounded cache, and
//! hard wrapping that keeps code's spaces.

use std::collections::VecDeque;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::ops::Range;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use pulldown_cmark::CodeBlockKind;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use syntect::easy::HighlightLines;
use syntect::highlighting::{FontStyle, Style as CodeStyle, Theme as CodeTheme, ThemeSet};
use syntect::parsing::SyntaxSet;
use unicode_segmentation::UnicodeSegmentation;
use unicode_width::UnicodeWidthStr;

use super::wrap::{clean, spans_width, truncate};
use super::Renderer;
use crate::tui::theme::ColorMode;

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

impl Renderer<'_> {
    /// Opens a code block; its text collects in `code` until it ends.
    pub(super) fn start_code(&mut self, kind: CodeBlockKind<'_>) {
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

    /// Closes the code block and lays it out.
    pub(super) fn end_code(&mut self) {
        if let Some((lang, code)) = self.code.take() {
            self.code_block(&lang, &code);
        }
        self.need_blank = true;
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
}
