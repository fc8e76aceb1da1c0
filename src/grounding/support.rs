//! The support check: is what an answer says in the passages it came
//! from? Run after every grounded answer (ask, the chat's ask mode,
//! support), so `found: true` never stands for an answer the sources do
//! not back.
//!
//! The rule, per sentence (markers taken out first):
//! - its content terms are the index analyzer's terms (stemmed, stop words
//!   and everyday question words left out, Chinese cut by jieba);
//! - every number or code in it (`30`, `4.99`, `TB-204`) and every name
//!   written with a capital inside the sentence (`Bitcoin`, `PayPal`) must
//!   appear in the passage;
//! - and the passage must hold at least [`SUPPORT_SHARE`] of its content
//!   terms.
//!
//! A sentence that cites `[n]` must be supported by a passage it cites; an
//! uncited one by any passage given to the model. A sentence with no
//! content terms, numbers or names ("Yes.", "Thanks!") is neutral. An
//! answer is supported when at least one sentence is and none is not.

use serde::{Deserialize, Serialize};
use unicode_segmentation::UnicodeSegmentation;

use super::{cited_numbers, Passage};
use crate::index::analysis::{is_general, Terms};

/// The least share of a sentence's content terms its passage must hold.
pub const SUPPORT_SHARE: f64 = 0.6;

/// What the check says of one sentence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Supported,
    Unsupported,
    /// Nothing to check ("Yes.", "I hope this helps!").
    Neutral,
}

/// One sentence of an answer and what supports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SentenceSupport {
    pub text: String,
    pub verdict: Verdict,
    /// The passage that supports it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passage: Option<usize>,
    /// Numbers, codes and names in it that the best passage lacks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<String>,
}

/// The check of a whole answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Support {
    pub supported: bool,
    pub sentences: Vec<SentenceSupport>,
}

impl Support {
    /// The sentences no passage supports.
    pub fn unsupported(&self) -> impl Iterator<Item = &SentenceSupport> {
        self.sentences
            .iter()
            .filter(|s| s.verdict == Verdict::Unsupported)
    }

    /// Whether any sentence is supported.
    pub fn any_supported(&self) -> bool {
        self.sentences
            .iter()
            .any(|s| s.verdict == Verdict::Supported)
    }
}

/// `(not supported by the sources: "…" "…")` for the unsupported sentences,
/// or none when there are none.
pub fn warning(sentences: &[SentenceSupport]) -> Option<String> {
    let quoted: Vec<String> = sentences
        .iter()
        .filter(|s| s.verdict == Verdict::Unsupported)
        .map(|s| format!("\"{}\"", s.text))
        .collect();
    (!quoted.is_empty()).then(|| format!("(not supported by the sources: {})", quoted.join(" ")))
}

/// Checks `answer` against the passages it was written from. `cut` says
/// the answer was stopped by the token limit: its last sentence, when it
/// has no closing punctuation, is a fragment ("members have **6") and is
/// left neutral rather than judged.
pub fn check(answer: &str, passages: &[Passage], cut: bool) -> Support {
    let held: Vec<(usize, Held)> = passages.iter().map(|p| (p.n, Held::of(&p.text))).collect();
    let all = sentences(answer);
    let last = all.len().saturating_sub(1);
    let sentences: Vec<SentenceSupport> = all
        .into_iter()
        .enumerate()
        .map(|(i, s)| {
            let fragment = cut
                && i == last
                && !s
                    .trim_end_matches(['*', '_', ')', '"', '”', '\'', ' '])
                    .ends_with(['.', '!', '?', '。', '！', '？', ']']);
            if fragment {
                SentenceSupport {
                    text: s,
                    verdict: Verdict::Neutral,
                    passage: None,
                    missing: Vec::new(),
                }
            } else {
                check_sentence(&s, &held)
            }
        })
        .collect();
    let supported = sentences.iter().any(|s| s.verdict == Verdict::Supported)
        && !sentences.iter().any(|s| s.verdict == Verdict::Unsupported);
    Support {
        supported,
        sentences,
    }
}

/// A passage's terms and its lower-cased text (numbers and codes are
/// looked up in the text, names among the terms).
struct Held {
    terms: crate::index::analysis::TermSet,
    lower: String,
}

impl Held {
    fn of(text: &str) -> Held {
        Held {
            terms: Terms::of(text).set(),
            lower: text.to_lowercase(),
        }
    }

    fn has_number(&self, number: &str) -> bool {
        let digit = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
        self.lower.match_indices(number).any(|(i, m)| {
            !digit(self.lower[..i].chars().next_back())
                && !digit(self.lower[i + m.len()..].chars().next())
        })
    }
}

/// The answer's sentences, markers and list bullets left in place; each
/// line is split on its own (lists and paragraphs end sentences).
fn sentences(answer: &str) -> Vec<String> {
    answer
        .lines()
        .map(strip_bullet)
        .flat_map(|line| line.unicode_sentences())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// The line without a leading list bullet, list number or heading mark
/// (`- `, `3. `, `2) `, `## `): a list number is not a claim to check.
fn strip_bullet(line: &str) -> &str {
    let t = line.trim_start();
    let digits = t.len() - t.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = &t[digits..];
    let rest = if digits > 0 && (rest.starts_with(". ") || rest.starts_with(") ")) {
        &rest[1..]
    } else if digits == 0 && t.starts_with(['-', '*', '+', '•']) {
        &t[t.chars().next().map_or(0, char::len_utf8)..]
    } else if t.starts_with('#') {
        t.trim_start_matches('#')
    } else {
        t
    };
    rest.trim_start()
}

/// Numbers and codes as written, lower-cased, without currency signs or
/// trailing punctuation: `30`, `4.99`, `tb-204`, `2fa`.
fn numbers(text: &str) -> Vec<String> {
    // Runs of ASCII letters, digits and inner `.,-`: any other character
    // (a space, a currency sign, a Chinese character) ends a run.
    text.split(|c: char| !(c.is_ascii_alphanumeric() || ".,-".contains(c)))
        .map(|w| w.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
        .filter(|w| w.chars().any(|c| c.is_ascii_digit()))
        .map(str::to_lowercase)
        .collect()
}

/// Words written with a capital that do not start the sentence (after a
/// bullet or number), as analyzer terms: `Bitcoin` -> `bitcoin`.
fn names(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut first = true;
    for word in text.unicode_words() {
        let starts_upper = word.chars().next().is_some_and(char::is_uppercase);
        let lettered = word.chars().any(char::is_alphabetic);
        if starts_upper && !first && word != "I" {
            out.extend(Terms::of(word).en);
        }
        if lettered {
            first = false;
        }
    }
    out
}

fn check_sentence(sentence: &str, held: &[(usize, Held)]) -> SentenceSupport {
    let cited = cited_numbers(sentence);
    let text = strip_markers(sentence);
    let terms: Vec<(bool, String)> = Terms::of(&text)
        .unique()
        .into_iter()
        .filter(|(cjk, t)| !is_general(*cjk, t))
        .map(|(cjk, t)| (cjk, t.to_string()))
        .collect();
    let numbers = numbers(&text);
    let names = names(&text);
    let mut out = SentenceSupport {
        text: sentence.to_string(),
        verdict: Verdict::Neutral,
        passage: None,
        missing: Vec::new(),
    };
    if terms.is_empty() && numbers.is_empty() && names.is_empty() {
        return out;
    }
    let may_use: Vec<&(usize, Held)> = held
        .iter()
        .filter(|(n, _)| cited.is_empty() || cited.contains(n))
        .collect();
    // The passage holding most of the sentence: all its numbers and names
    // first, then the most content terms; earlier (better ranked) on ties.
    let mut best: Option<(usize, Vec<String>, f64)> = None;
    for (n, h) in may_use {
        let missing: Vec<String> = numbers
            .iter()
            .filter(|x| !h.has_number(x))
            .chain(names.iter().filter(|x| !h.terms.holds(false, x)))
            .cloned()
            .collect();
        let share = if terms.is_empty() {
            1.0
        } else {
            terms.iter().filter(|(c, t)| h.terms.holds(*c, t)).count() as f64 / terms.len() as f64
        };
        let better = match &best {
            None => true,
            Some((_, m, s)) => (missing.len(), -share) < (m.len(), -*s),
        };
        if better {
            best = Some((*n, missing, share));
        }
    }
    out.verdict = Verdict::Unsupported;
    if let Some((n, missing, share)) = best {
        if missing.is_empty() && share >= SUPPORT_SHARE {
            out.verdict = Verdict::Supported;
            out.passage = Some(n);
        }
        out.missing = missing;
    }
    out
}

/// The sentence without its `[n]` markers.
fn strip_markers(sentence: &str) -> String {
    let mut out = String::new();
    let mut rest = sentence;
    while let Some(open) = rest.find('[') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find(']') {
            Some(close) if !cited_numbers(&rest[open..open + close + 2]).is_empty() => {
                rest = &after[close + 1..];
            }
            _ => {
                out.push('[');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passages(texts: &[&str]) -> Vec<Passage> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| Passage {
                n: i + 1,
                path: format!("p{}.md", i + 1),
                lines: (1, 1),
                heading: String::new(),
                score: 1.0,
                text: t.to_string(),
                snippet: String::new(),
                highlights: Vec::new(),
            })
            .collect()
    }

    const KB: &[&str] = &[
        "You can return most items within 30 days of delivery for a full refund.",
        "We accept Visa, Mastercard, PayPal and Klarna. Tallybird Plus costs €49 a year. Error TB-204 means the card was declined.",
    ];

    #[test]
    fn a_correct_cited_answer_is_supported() {
        let s = check(
            "You can return items within 30 days of delivery [1].",
            &passages(KB),
            false,
        );
        assert!(s.supported, "{s:?}");
        assert_eq!(s.sentences[0].passage, Some(1));
        let s = check(
            "Plus costs €49 a year. TB-204 means your card was declined.",
            &passages(KB),
            false,
        );
        assert!(s.supported, "{s:?}");
    }

    #[test]
    fn a_price_or_code_not_in_any_passage_is_unsupported() {
        let s = check("Tallybird Plus costs €59 a year [2].", &passages(KB), false);
        assert!(!s.supported);
        assert_eq!(s.sentences[0].missing, ["59"]);
        let s = check(
            "Error TB-209 means the card was declined.",
            &passages(KB),
            false,
        );
        assert!(!s.supported, "{s:?}");
        let s = check(
            "It boils at approximately 4,120 degrees Celsius.",
            &passages(KB),
            false,
        );
        assert!(!s.supported);
        assert!(warning(&s.sentences).unwrap().contains("4,120 degrees"));
    }

    #[test]
    fn words_the_passages_lack_are_unsupported_and_names_must_match() {
        let s = check("Yes, you can pay with bitcoin.", &passages(KB), false);
        assert!(!s.supported, "{s:?}");
        let s = check("We also accept Bitcoin and cards.", &passages(KB), false);
        assert!(!s.supported, "{s:?}");
        assert!(s.sentences[0].missing.contains(&"bitcoin".to_string()));
    }

    #[test]
    fn a_sentence_citing_the_wrong_passage_is_unsupported() {
        let s = check(
            "You can return items within 30 days of delivery [2].",
            &passages(KB),
            false,
        );
        assert!(!s.supported);
        let s = check("Return items within 30 days [1][2].", &passages(KB), false);
        assert!(s.supported);
    }

    #[test]
    fn neutral_sentences_neither_support_nor_spoil() {
        let s = check("Yes. I hope this helps!", &passages(KB), false);
        assert!(!s.supported && !s.any_supported());
        assert!(s.sentences.iter().all(|x| x.verdict == Verdict::Neutral));
        let s = check(
            "Yes. Returns are accepted within 30 days. Thanks!",
            &passages(KB),
            false,
        );
        assert!(s.supported, "{s:?}");
        assert_eq!(warning(&s.sentences), None);
    }

    #[test]
    fn chinese_sentences_are_checked_by_their_words() {
        let ps = passages(&["退货期限是收货后30天。"]);
        assert!(check("退货期限是30天。", &ps, false).supported);
        assert!(!check("退货期限是60天。", &ps, false).supported);
        assert!(!check("我们接受比特币付款。", &ps, false).supported);
    }

    #[test]
    fn a_sentence_cut_by_the_token_limit_is_not_judged() {
        let answer = "Returns are accepted within 30 days [1]. Plus members have **6";
        assert!(!check(answer, &passages(KB), false).supported);
        let s = check(answer, &passages(KB), true);
        assert!(s.supported, "{s:?}");
        assert_eq!(s.sentences[1].verdict, Verdict::Neutral);
        // A finished last sentence is still judged.
        let s = check("Plus costs €99 a year.", &passages(KB), true);
        assert!(!s.supported);
    }

    #[test]
    fn markers_are_stripped_but_other_brackets_stay() {
        assert_eq!(strip_markers("A [1] b [x] c [2, 3]."), "A  b [x] c .");
        assert_eq!(
            numbers("Costs €4.99, code TB-204 (2FA)."),
            ["4.99", "tb-204", "2fa"]
        );
        assert_eq!(names("Pay with PayPal or Klarna"), ["paypal", "klarna"]);
        assert_eq!(
            sentences("1. Visa and PayPal.\n2) Klarna\n- Cards\n## Pay\n3.5 kg max."),
            ["Visa and PayPal.", "Klarna", "Cards", "Pay", "3.5 kg max."]
        );
    }
}
