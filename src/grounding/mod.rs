//! Grounding: the one passage type, from the index to the session file,
//! and the citation rules that tie an answer to the passages it came from.
//! Pure functions over text; no model.

pub mod support;

use serde::{Deserialize, Serialize};

use crate::index::{Hit, IndexError, KnowledgeIndex, SearchOptions};

/// A retrieved passage as the model sees it: numbered from 1. The same
/// type travels from retrieval through the prompt, the reports, the TUI's
/// sources pane and the session and ticket files.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Passage {
    pub n: usize,
    pub path: String,
    /// First and last line, 1-based, inclusive.
    pub lines: (u64, u64),
    #[serde(default)]
    pub heading: String,
    /// Files written before passages carried scores read as 0.
    #[serde(default)]
    pub score: f32,
    /// Left out of files when empty (sessions saved before passages
    /// carried their text).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    #[serde(default)]
    pub snippet: String,
    /// Byte ranges of matched query terms inside `snippet` (for display).
    #[serde(skip)]
    pub highlights: Vec<std::ops::Range<usize>>,
}

impl Passage {
    /// `path:Lstart-Lend > heading`, the label in the prompt and footnotes.
    pub fn label(&self) -> String {
        label(&self.path, self.lines, &self.heading)
    }
}

/// `path:Lstart-Lend > heading`, how passages and citations are named.
fn label(path: &str, lines: (u64, u64), heading: &str) -> String {
    let mut s = format!("{path}:L{}-L{}", lines.0, lines.1);
    if !heading.is_empty() {
        s.push_str(" > ");
        s.push_str(heading);
    }
    s
}

/// How a citation was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Via {
    /// The answer wrote `[n]`.
    Marker,
    /// The answer wrote no marker; asked which passages support it, the
    /// model chose this one (the citation step).
    Chosen,
    /// The answer wrote no marker; lore attributed it to the passage it
    /// shares most words with.
    Overlap,
}

/// A citation in the answer that points at a passage.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Citation {
    pub n: usize,
    pub via: Via,
    pub path: String,
    #[serde(default)]
    pub lines: (u64, u64),
    #[serde(default)]
    pub heading: String,
    #[serde(default)]
    pub snippet: String,
}

impl Citation {
    pub fn label(&self) -> String {
        label(&self.path, self.lines, &self.heading)
    }

    pub fn of(p: &Passage, via: Via) -> Citation {
        Citation {
            n: p.n,
            via,
            path: p.path.clone(),
            lines: p.lines,
            heading: p.heading.clone(),
            snippet: p.snippet.clone(),
        }
    }
}

/// The path of passages cut from text given on stdin (or attached to a
/// chat turn).
pub const STDIN: &str = "<stdin>";

/// When retrieval has found something relevant. When nothing is, the
/// question is not found and no model is asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Relevance {
    /// The lowest BM25 score a passage needs (`retrieval.min_score`).
    pub min_score: f32,
    /// The share of the query's idf weight (everyday question words left
    /// out) that the best passage must hold (`retrieval.min_coverage`).
    /// Unlike a BM25 score it does not grow with the question's length or
    /// the index, so one threshold means the same everywhere.
    pub min_coverage: f32,
    /// Where the search used vectors: the cosine similarity that makes a
    /// passage relevant on its own (`retrieval.min_similarity`), which
    /// finds paraphrases that share no rare word with the question.
    pub min_similarity: f32,
}

impl Relevance {
    /// Every hit counts (text given on stdin, tests).
    pub const ANY: Relevance = Relevance {
        min_score: f32::MIN,
        min_coverage: 0.0,
        min_similarity: f32::MIN,
    };

    /// The hits kept: none unless one of them covers enough of the
    /// question; then every hit scoring at least `min_score`, so the
    /// passages that answer a part of the question stay with the one that
    /// matched most of it. A hybrid search's hits are all kept then: their
    /// fused rank already weighs the words against the meaning, and a
    /// paraphrase that shares no word has no BM25 score to pass.
    pub fn admit(&self, hits: Vec<Hit>) -> Vec<Hit> {
        if !self.found(&hits) {
            return Vec::new();
        }
        hits.into_iter()
            .filter(|h| h.score >= self.min_score || h.fused.is_some() || self.similar(h))
            .collect()
    }

    /// Whether `hits` hold anything relevant: a hit scoring `min_score`
    /// that covers `min_coverage` of the question, or one whose vector is
    /// `min_similarity` close to the question's.
    pub fn found(&self, hits: &[Hit]) -> bool {
        hits.iter().any(|h| {
            (h.score >= self.min_score && h.coverage >= self.min_coverage) || self.similar(h)
        })
    }

    fn similar(&self, h: &Hit) -> bool {
        h.similarity.is_some_and(|s| s >= self.min_similarity)
    }
}

/// Retrieves up to `k` passages that `relevance` admits.
pub fn retrieve(
    index: &KnowledgeIndex,
    question: &str,
    k: usize,
    relevance: Relevance,
) -> Result<Vec<Passage>, IndexError> {
    let opts = SearchOptions {
        limit: k.max(1),
        ..SearchOptions::default()
    };
    let hits = index.search(question, &opts)?;
    Ok(passages_from(hits, relevance))
}

/// The hits `relevance` admits, as passages numbered from 1.
pub fn passages_from(hits: Vec<Hit>, relevance: Relevance) -> Vec<Passage> {
    relevance
        .admit(hits)
        .into_iter()
        .enumerate()
        .map(|(i, h)| Passage {
            n: i + 1,
            path: if h.key != h.path { h.key } else { h.path },
            lines: h.lines,
            heading: h.headings,
            score: h.score,
            text: h.text,
            snippet: h.snippet,
            highlights: h.highlights,
        })
        .collect()
}

/// Passage numbers cited as `[n]`, `[n, m]` or `[n][m]`, in order of first
/// appearance.
pub fn cited_numbers(answer: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut rest = answer;
    while let Some(open) = rest.find('[') {
        let after = &rest[open + 1..];
        let Some(close) = after.find(']') else { break };
        let inside = &after[..close];
        let numbers: Vec<Option<usize>> = inside
            .split([',', ';'])
            .map(|s| s.trim().parse::<usize>().ok())
            .collect();
        if !inside.is_empty() && numbers.iter().all(Option::is_some) {
            for n in numbers.into_iter().flatten() {
                if !out.contains(&n) {
                    out.push(n);
                }
            }
        }
        rest = &after[close + 1..];
    }
    out
}

/// Checks the answer's markers against the passages: valid citations, and
/// whether every marker pointed at a passage.
pub fn check_citations(answer: &str, passages: &[Passage]) -> (Vec<Citation>, bool) {
    let numbers = cited_numbers(answer);
    let valid = numbers.iter().all(|n| (1..=passages.len()).contains(n));
    let citations = numbers
        .into_iter()
        .filter_map(|n| passages.get(n.wrapping_sub(1)))
        .map(|p| Citation::of(p, Via::Marker))
        .collect();
    (citations, valid)
}

fn content_words(text: &str) -> Vec<String> {
    use unicode_segmentation::UnicodeSegmentation;
    text.unicode_words()
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() > 2 || w.chars().any(|c| c.is_ascii_digit()))
        .filter(|w| !ATTRIBUTION_STOP_WORDS.contains(&w.as_str()))
        .collect()
}

const ATTRIBUTION_STOP_WORDS: &[&str] = &[
    "the", "and", "for", "are", "you", "your", "with", "that", "this", "from", "can", "have",
    "has", "not", "but", "our", "was", "were", "will", "what", "how", "which", "who", "when",
    "answer", "question", "passage", "passages",
];

/// Small models often answer from a passage without writing its marker.
/// When the answer has no marker, it is attributed to the passage holding
/// most of its content words, if that passage holds at least half of them:
/// the footnote then points at where the answer came from, and says so
/// (`via: overlap`), rather than showing no source at all.
pub fn attribute(answer: &str, passages: &[Passage]) -> Option<Citation> {
    let words = content_words(answer);
    let unique: std::collections::HashSet<&String> = words.iter().collect();
    if unique.len() < 2 {
        return None;
    }
    let (best, share) = passages
        .iter()
        .map(|p| {
            let have: std::collections::HashSet<String> =
                content_words(&p.text).into_iter().collect();
            let shared = unique.iter().filter(|w| have.contains(**w)).count();
            (p, shared as f64 / unique.len() as f64)
        })
        // Earlier passages ranked higher: keep the first of equal shares.
        .fold(None::<(&Passage, f64)>, |acc, x| match acc {
            Some(a) if a.1 >= x.1 => Some(a),
            _ => Some(x),
        })?;
    (share >= 0.5).then(|| Citation::of(best, Via::Overlap))
}

/// Passages from text given on stdin. Text that fits `budget_tokens`
/// (approximate) is one passage; longer text is chunked and the chunks
/// ranked against the question in an in-memory index, keeping `k`. When
/// no chunk matches the question, the first `k` chunks stand in: the user
/// gave this text on purpose, so it is never dropped as irrelevant.
pub fn stdin_passages(
    text: &str,
    question: &str,
    k: usize,
    budget_tokens: usize,
    chunking: crate::index::chunk::ChunkOptions,
) -> Result<Vec<Passage>, IndexError> {
    use crate::index::chunk::{approx_tokens, chunk, LineIndex, Markup};
    let lines = LineIndex::new(text);
    let whole = |range: std::ops::Range<usize>, headings: String, n: usize| {
        let (l0, l1) = lines.lines(&range);
        let body = text[range].to_string();
        Passage {
            n,
            path: STDIN.into(),
            lines: (l0 as u64, l1 as u64),
            heading: headings,
            score: 0.0,
            snippet: body.chars().take(160).collect(),
            text: body,
            highlights: Vec::new(),
        }
    };
    // The word estimate misses text with few spaces; its length in bytes
    // bounds what could fit without tokenizing it.
    let could_fit = text.len() <= budget_tokens.saturating_mul(crate::model::MAX_BYTES_PER_TOKEN);
    if could_fit && approx_tokens(text) * 3 / 2 <= budget_tokens {
        return Ok(vec![whole(0..text.len(), String::new(), 1)]);
    }
    let doc = crate::index::loaders::Document {
        key: STDIN.into(),
        title: String::new(),
        text: text.to_string(),
        markup: Markup::Plain,
        label: None,
    };
    let idx = KnowledgeIndex::in_memory("stdin", STDIN, &[doc], chunking)?;
    let hits = idx.search(
        question,
        &SearchOptions {
            limit: k.max(1),
            ..SearchOptions::default()
        },
    )?;
    if hits.is_empty() {
        return Ok(chunk(text, Markup::Plain, chunking)
            .into_iter()
            .take(k.max(1))
            .enumerate()
            .map(|(i, c)| whole(c.range, c.headings.join(" > "), i + 1))
            .collect());
    }
    Ok(passages_from(hits, Relevance::ANY))
}

/// Numbers passages 1.. in order after lists from several sources are
/// joined.
pub fn renumber(passages: &mut [Passage]) {
    for (i, p) in passages.iter_mut().enumerate() {
        p.n = i + 1;
    }
}

/// The footnotes printed after a text answer.
pub fn footnotes(citations: &[Citation], passages: &[Passage]) -> Option<String> {
    if citations.is_empty() {
        return None;
    }
    let lines: Vec<String> = citations
        .iter()
        .filter_map(|c| passages.iter().find(|p| p.n == c.n))
        .map(|p| format!("[{}] {}", p.n, p.label()))
        .collect();
    Some(format!("Sources:\n{}", lines.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(n: usize) -> Passage {
        Passage {
            n,
            path: format!("p{n}.md"),
            lines: (1, 2),
            heading: "H".into(),
            score: 1.0,
            text: "t".into(),
            snippet: "s".into(),
            highlights: Vec::new(),
        }
    }

    #[test]
    fn citation_markers_are_parsed_in_order() {
        assert_eq!(cited_numbers("A [2] and B [1, 3][2]."), [2, 1, 3]);
        assert_eq!(cited_numbers("no markers [x] [] [1a]"), Vec::<usize>::new());
        assert_eq!(cited_numbers("unclosed [1"), Vec::<usize>::new());
    }

    #[test]
    fn invalid_markers_are_flagged_and_dropped() {
        let ps = vec![passage(1), passage(2)];
        let (c, valid) = check_citations("See [2] and [7].", &ps);
        assert!(!valid);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].path, "p2.md");
        let (c, valid) = check_citations("See [1].", &ps);
        assert!(valid);
        assert_eq!(footnotes(&c, &ps).unwrap(), "Sources:\n[1] p1.md:L1-L2 > H");
        assert_eq!(footnotes(&[], &ps), None);
    }

    #[test]
    fn unmarked_answers_are_attributed_by_overlap() {
        let mut ps = vec![passage(1), passage(2)];
        ps[0].text = "Shipping takes 2 to 4 days.".into();
        ps[1].text = "You can return items within 30 days of delivery.".into();
        let c = attribute("Items can be returned within 30 days.", &ps).unwrap();
        assert_eq!((c.n, c.via), (2, Via::Overlap));
        assert!(attribute("I do not know anything about that topic.", &ps).is_none());
        assert!(attribute("Yes.", &ps).is_none());
    }

    #[test]
    fn stdin_text_is_one_passage_or_ranked_chunks() {
        let opts = crate::index::chunk::ChunkOptions {
            target_tokens: 20,
            overlap_tokens: 0,
        };
        let small = stdin_passages("The door code is 4711.", "door code?", 3, 1000, opts).unwrap();
        assert_eq!(small.len(), 1);
        assert_eq!(small[0].path, "<stdin>");
        let mut big = String::new();
        for i in 0..200 {
            big.push_str(&format!(
                "Line {i} talks about weather and nothing else at all.\n"
            ));
        }
        big.push_str("The secret door code for the warehouse is 4711.\n");
        let ranked =
            stdin_passages(&big, "What is the warehouse door code?", 2, 100, opts).unwrap();
        assert!(ranked.len() <= 2);
        assert!(ranked[0].text.contains("4711"), "{:?}", ranked[0]);
        let fallback = stdin_passages(&big, "zzzz qqqq", 2, 100, opts).unwrap();
        assert_eq!(fallback.len(), 2);
        assert_eq!(fallback[0].lines.0, 1);
    }
}
