//! Structure-aware chunking: sections at headings, then paragraphs, then
//! sentences, then words, packed to a target size with overlap.
//!
//! Every chunk is a byte range of the original text that starts and ends on
//! character boundaries, so `&text[chunk.start..chunk.end]` is always valid
//! and line ranges can be derived from it.

use std::ops::Range;

use unicode_segmentation::UnicodeSegmentation;

/// How a document's structure is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Markup {
    Markdown,
    Rst,
    Plain,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkOptions {
    /// Target size in approximate tokens (see [`approx_tokens`]).
    pub target_tokens: usize,
    /// Approximate tokens repeated from the end of the previous chunk.
    pub overlap_tokens: usize,
}

impl Default for ChunkOptions {
    fn default() -> Self {
        ChunkOptions {
            target_tokens: 200,
            overlap_tokens: 30,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Byte range in the document.
    pub range: Range<usize>,
    /// Headings above the chunk, outermost first.
    pub headings: Vec<String>,
}

/// A cheap token estimate: words, with each CJK character counting as one.
/// Model tokenizers give about 1.3 tokens per English word; chunk sizes are
/// targets, so the estimate only needs to be monotonic and fast.
pub fn approx_tokens(text: &str) -> usize {
    let mut count = 0;
    let mut in_word = false;
    for c in text.chars() {
        if is_cjk(c) {
            count += 1;
            in_word = false;
        } else if c.is_whitespace() {
            in_word = false;
        } else if !in_word {
            count += 1;
            in_word = true;
        }
    }
    count
}

/// Han, Hiragana, Katakana, Hangul and CJK punctuation/compatibility blocks.
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF   // Hiragana, Katakana
        | 0x3100..=0x312F // Bopomofo
        | 0x3400..=0x4DBF // CJK Extension A
        | 0x4E00..=0x9FFF // CJK Unified Ideographs
        | 0xAC00..=0xD7AF // Hangul syllables
        | 0xF900..=0xFAFF // CJK Compatibility Ideographs
        | 0x20000..=0x2FA1F)
}

/// Splits `text` into chunks.
pub fn chunk(text: &str, markup: Markup, opts: ChunkOptions) -> Vec<Chunk> {
    let target = opts.target_tokens.max(8);
    let overlap = opts.overlap_tokens.min(target / 2);
    let mut chunks = Vec::new();
    for section in sections(text, markup) {
        let pieces = pieces(text, section.range.clone(), target);
        pack(&pieces, target, overlap, &section.headings, &mut chunks);
    }
    chunks
}

struct Section {
    range: Range<usize>,
    headings: Vec<String>,
}

/// Cuts the text at headings; each section carries its heading path.
fn sections(text: &str, markup: Markup) -> Vec<Section> {
    let headings = match markup {
        Markup::Markdown => markdown_headings(text),
        Markup::Rst => rst_headings(text),
        Markup::Plain => Vec::new(),
    };
    let mut out = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut start = 0;
    let mut path: Vec<String> = Vec::new();
    for (at, level, title) in headings {
        if at > start {
            out.push(Section {
                range: start..at,
                headings: path.clone(),
            });
        }
        while stack.last().is_some_and(|(l, _)| *l >= level) {
            stack.pop();
        }
        stack.push((level, title));
        path = stack.iter().map(|(_, t)| t.clone()).collect();
        start = at;
    }
    if start < text.len() {
        out.push(Section {
            range: start..text.len(),
            headings: path,
        });
    }
    // A heading directly followed by a sub-heading would be a chunk of one
    // title line: a useless passage. Fold it into the section below.
    let mut merged: Vec<Section> = Vec::with_capacity(out.len());
    let mut carry: Option<usize> = None;
    let count = out.len();
    for (i, mut section) in out.into_iter().enumerate() {
        if let Some(start) = carry.take() {
            section.range.start = start;
        }
        let body = &text[section.range.clone()];
        let after_first_line = body.split_once('\n').map(|(_, rest)| rest).unwrap_or("");
        // Blank lines and RST underlines do not count as a body.
        let empty = after_first_line
            .lines()
            .all(|l| l.trim().chars().all(|c| c.is_ascii_punctuation()));
        if i + 1 < count && !section.headings.is_empty() && empty {
            carry = Some(section.range.start);
            continue;
        }
        merged.push(section);
    }
    merged
}

/// (byte offset of the heading line, level, text) for Markdown headings,
/// found by a real parser so `#` inside code blocks is not a heading.
fn markdown_headings(text: &str) -> Vec<(usize, usize, String)> {
    use pulldown_cmark::{Event, Parser, Tag, TagEnd};
    let mut out = Vec::new();
    let mut current: Option<(usize, usize, String)> = None;
    for (event, range) in Parser::new(text).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                current = Some((range.start, level as usize, String::new()));
            }
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, _, s)) = current.as_mut() {
                    s.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((at, level, title)) = current.take() {
                    let title = title.trim().to_string();
                    if !title.is_empty() {
                        out.push((line_start(text, at), level, title));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// reStructuredText section titles: a line underlined (and maybe
/// overlined) with one punctuation character repeated. Levels follow the
/// order in which adornment styles first appear, as in docutils.
fn rst_headings(text: &str) -> Vec<(usize, usize, String)> {
    let lines: Vec<(usize, &str)> = line_spans(text);
    let adornment = |s: &str| -> Option<char> {
        let s = s.trim_end();
        let c = s.chars().next()?;
        (s.len() >= 3 && c.is_ascii_punctuation() && s.chars().all(|x| x == c)).then_some(c)
    };
    let mut styles: Vec<(char, bool)> = Vec::new();
    let mut out = Vec::new();
    let mut i = 0;
    while i + 1 < lines.len() {
        let (at, line) = lines[i];
        let title = line.trim();
        let under = adornment(lines[i + 1].1);
        if !title.is_empty() && adornment(line).is_none() {
            if let Some(c) = under {
                if lines[i + 1].1.trim_end().chars().count() >= title.chars().count() {
                    let over = i > 0 && adornment(lines[i - 1].1) == Some(c);
                    let start = if over { lines[i - 1].0 } else { at };
                    let style = (c, over);
                    let level = match styles.iter().position(|s| *s == style) {
                        Some(p) => p + 1,
                        None => {
                            styles.push(style);
                            styles.len()
                        }
                    };
                    out.push((start, level, title.to_string()));
                    i += 2;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

fn line_start(text: &str, at: usize) -> usize {
    text[..at].rfind('\n').map(|p| p + 1).unwrap_or(0)
}

/// (start offset, line without its newline) for each line.
fn line_spans(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        out.push((start, line.trim_end_matches(['\n', '\r'])));
        start += line.len();
    }
    out
}

/// A unit that packing never splits, with its token estimate.
struct Piece {
    range: Range<usize>,
    tokens: usize,
}

/// Paragraphs of a section; a paragraph over the target becomes sentences,
/// a sentence over the target becomes runs of words.
fn pieces(text: &str, section: Range<usize>, target: usize) -> Vec<Piece> {
    let mut out = Vec::new();
    for para in paragraphs(text, section) {
        let tokens = approx_tokens(&text[para.clone()]);
        if tokens <= target {
            out.push(Piece {
                range: para,
                tokens,
            });
            continue;
        }
        for (off, sentence) in text[para.clone()].split_sentence_bound_indices() {
            let start = para.start + off;
            let range = trim_range(text, start..start + sentence.len());
            if range.is_empty() {
                continue;
            }
            let tokens = approx_tokens(&text[range.clone()]);
            if tokens <= target {
                out.push(Piece { range, tokens });
            } else {
                split_words(text, range, target, &mut out);
            }
        }
    }
    out
}

/// Splits a long run at word boundaries into pieces of at most `target`.
fn split_words(text: &str, range: Range<usize>, target: usize, out: &mut Vec<Piece>) {
    let mut start = range.start;
    let mut tokens = 0;
    let mut end = range.start;
    for (off, word) in text[range.clone()].split_word_bound_indices() {
        let w = approx_tokens(word);
        if tokens + w > target && tokens > 0 {
            out.push(Piece {
                range: trim_range(text, start..end),
                tokens,
            });
            start = range.start + off;
            tokens = 0;
        }
        tokens += w;
        end = range.start + off + word.len();
    }
    let last = trim_range(text, start..end);
    if !last.is_empty() {
        out.push(Piece {
            range: last,
            tokens,
        });
    }
}

/// Non-blank runs of lines separated by blank lines.
fn paragraphs(text: &str, section: Range<usize>) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut end = section.start;
    let mut pos = section.start;
    for line in text[section.clone()].split_inclusive('\n') {
        let blank = line.trim().is_empty();
        if blank {
            if let Some(s) = start.take() {
                out.push(trim_range(text, s..end));
            }
        } else {
            start.get_or_insert(pos);
            end = pos + line.len();
        }
        pos += line.len();
    }
    if let Some(s) = start {
        out.push(trim_range(text, s..end));
    }
    out.retain(|r| !r.is_empty());
    out
}

/// Shrinks a range to exclude surrounding whitespace.
fn trim_range(text: &str, r: Range<usize>) -> Range<usize> {
    let s = &text[r.clone()];
    let lead = s.len() - s.trim_start().len();
    let trail = s.len() - s.trim_end().len();
    if lead == s.len() {
        return r.start..r.start;
    }
    r.start + lead..r.end - trail
}

fn pack(
    pieces: &[Piece],
    target: usize,
    overlap: usize,
    headings: &[String],
    out: &mut Vec<Chunk>,
) {
    let mut i = 0;
    while i < pieces.len() {
        let mut j = i;
        let mut tokens = 0;
        while j < pieces.len() && (j == i || tokens + pieces[j].tokens <= target) {
            tokens += pieces[j].tokens;
            j += 1;
        }
        out.push(Chunk {
            range: pieces[i].range.start..pieces[j - 1].range.end,
            headings: headings.to_vec(),
        });
        if j >= pieces.len() {
            break;
        }
        // Start the next chunk with trailing pieces worth up to `overlap`
        // tokens, but always move forward.
        let mut next = j;
        let mut carried = 0;
        while next > i + 1 && carried + pieces[next - 1].tokens <= overlap {
            carried += pieces[next - 1].tokens;
            next -= 1;
        }
        i = next;
    }
}

/// Maps byte offsets to 1-based line numbers.
pub struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        LineIndex { starts }
    }

    /// The 1-based line holding byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    /// 1-based inclusive line range of a non-empty byte range.
    pub fn lines(&self, range: &Range<usize>) -> (usize, usize) {
        let end = range.end.max(range.start + 1) - 1;
        (self.line(range.start), self.line(end))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(target: usize, overlap: usize) -> ChunkOptions {
        ChunkOptions {
            target_tokens: target,
            overlap_tokens: overlap,
        }
    }

    #[test]
    fn markdown_headings_make_sections_with_paths() {
        let doc = "Intro line.\n\n# Billing\n\nPay monthly.\n\n## Refunds\n\nWithin 30 days.\n\n```\n# not a heading\n```\n\n# Shipping\n\nTwo days.\n";
        let chunks = chunk(doc, Markup::Markdown, opts(200, 0));
        let paths: Vec<String> = chunks.iter().map(|c| c.headings.join(" > ")).collect();
        assert_eq!(paths, ["", "Billing", "Billing > Refunds", "Shipping"]);
        assert!(doc[chunks[2].range.clone()].starts_with("## Refunds"));
        assert!(doc[chunks[2].range.clone()].contains("# not a heading"));
    }

    #[test]
    fn heading_without_body_joins_the_next_section() {
        let doc = "# Parcels\n\n## Missing\n\nReport within 14 days.\n";
        let chunks = chunk(doc, Markup::Markdown, opts(200, 0));
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].headings, ["Parcels", "Missing"]);
        assert!(doc[chunks[0].range.clone()].starts_with("# Parcels"));
        let rst = "Parcels\n=======\n\nMissing\n-------\n\nReport within 14 days.\n";
        let chunks = chunk(rst, Markup::Rst, opts(200, 0));
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].headings, ["Parcels", "Missing"]);
    }

    #[test]
    fn rst_titles_are_headings() {
        let doc = "=====\nGuide\n=====\n\nHello.\n\nRefunds\n-------\n\nWithin 30 days.\n";
        let chunks = chunk(doc, Markup::Rst, opts(200, 0));
        assert_eq!(chunks.last().unwrap().headings, ["Guide", "Refunds"]);
        assert_eq!(chunks[0].headings, ["Guide"]);
    }

    #[test]
    fn long_text_is_packed_to_target_with_overlap() {
        let para = |n: usize| format!("Sentence number {n} is here. ");
        let doc: String = (0..100).map(para).collect();
        let chunks = chunk(&doc, Markup::Plain, opts(50, 10));
        assert!(chunks.len() > 5);
        for c in &chunks {
            assert!(approx_tokens(&doc[c.range.clone()]) <= 50);
        }
        // Consecutive chunks overlap.
        assert!(chunks[1].range.start < chunks[0].range.end);
    }

    #[test]
    fn cjk_text_chunks_on_char_boundaries() {
        let doc = "退货政策。您可以在三十天内退货。".repeat(40);
        let chunks = chunk(&doc, Markup::Plain, opts(30, 5));
        assert!(chunks.len() > 3);
        for c in &chunks {
            assert!(doc.is_char_boundary(c.range.start) && doc.is_char_boundary(c.range.end));
            assert!(approx_tokens(&doc[c.range.clone()]) <= 30);
        }
    }

    #[test]
    fn one_giant_word_is_still_chunked() {
        let doc = "x".repeat(10_000);
        let chunks = chunk(&doc, Markup::Plain, opts(20, 0));
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].range, 0..10_000);
    }

    #[test]
    fn line_index_maps_offsets() {
        let text = "a\nbc\n\nd";
        let idx = LineIndex::new(text);
        assert_eq!(idx.line(0), 1);
        assert_eq!(idx.line(2), 2);
        assert_eq!(idx.line(6), 4);
        assert_eq!(idx.lines(&(2..4)), (2, 2));
        assert_eq!(idx.lines(&(0..7)), (1, 4));
    }

    /// Every non-whitespace character lies in some chunk, chunks are in
    /// order, and each is within the target unless it is one word.
    fn check_coverage(doc: &str, markup: Markup, o: ChunkOptions) {
        let chunks = chunk(doc, markup, o);
        let mut covered = vec![false; doc.len()];
        let mut last_start = 0;
        for c in &chunks {
            assert!(c.range.start >= last_start, "chunks out of order");
            last_start = c.range.start;
            assert!(doc.is_char_boundary(c.range.start) && doc.is_char_boundary(c.range.end));
            covered[c.range.clone()].iter_mut().for_each(|b| *b = true);
        }
        for (i, ch) in doc.char_indices() {
            if !ch.is_whitespace() {
                assert!(covered[i], "char {ch:?} at {i} not in any chunk of {doc:?}");
            }
        }
        let idx = LineIndex::new(doc);
        for c in &chunks {
            let (a, b) = idx.lines(&c.range);
            assert!(a <= b);
        }
    }

    #[test]
    fn coverage_property_on_generated_documents() {
        // A small deterministic generator (xorshift) instead of a property
        // testing crate: thousands of documents mixing headings, blank
        // lines, CJK, long words and sentences.
        let parts = [
            "# Title\n",
            "## Sub\n",
            "\n",
            "\n\n",
            "word ",
            "Sentence ends. ",
            "退货政策。",
            "語",
            "x".repeat(70).leak(),
            "Title\n=====\n",
            "```\n# code\n```\n",
            "- item\n",
            "  ",
            "é",
            "\r\n",
        ];
        let mut state: u64 = 0x2545F4914F6CDD1D;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..2000 {
            let len = (next() % 60) as usize;
            let doc: String = (0..len)
                .map(|_| parts[(next() % parts.len() as u64) as usize])
                .collect();
            let target = 5 + (next() % 40) as usize;
            let o = opts(target, (next() % 10) as usize);
            for markup in [Markup::Markdown, Markup::Rst, Markup::Plain] {
                check_coverage(&doc, markup, o);
            }
        }
    }

    /// Cases of [`coverage_property_on_random_unicode_text`].
    const UNICODE_CASES: u64 = 5000;

    #[test]
    fn coverage_property_on_random_unicode_text() {
        // Random characters of many scripts (CJK, Hangul, kana, Arabic,
        // Devanagari, Thai, emoji, combining marks, zero-width and odd
        // whitespace, any code point), in runs of one script and mixed,
        // with some lines made headings or underlined.
        let mut rng = crate::testrng::Rng::new(18);
        for case in 0..UNICODE_CASES {
            let mut doc = String::new();
            for _ in 0..rng.below(12) {
                match rng.below(6) {
                    0 => {
                        let mark: &&str = rng.pick(&["# ", "## ", "\n\n", "\n", "```\n", "  "]);
                        doc.push_str(mark)
                    }
                    1 => {
                        // A run of one character repeated: a long "word"
                        // or a long run of ideographs.
                        let c = rng.char();
                        let n = rng.range(1, 120);
                        doc.extend(std::iter::repeat_n(c, n));
                    }
                    2 => {
                        let line = rng.text(20).replace(['\n', '\r'], " ");
                        let under = rng
                            .pick(&["=", "-", "~"])
                            .repeat(line.chars().count().max(3));
                        doc.push_str(&format!("\n{line}\n{under}\n"));
                    }
                    _ => doc.push_str(&rng.text(80)),
                }
            }
            let o = opts(rng.range(1, 60), rng.below(20));
            let markup = *rng.pick(&[Markup::Markdown, Markup::Rst, Markup::Plain]);
            let caught = std::panic::catch_unwind(|| check_coverage(&doc, markup, o));
            assert!(caught.is_ok(), "case {case}: {markup:?} {o:?} on {doc:?}");
        }
    }
}
