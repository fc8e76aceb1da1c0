//! How text becomes terms: the analyzers the index is built with, and the
//! same terms reused wherever lore asks "do these two texts say the same
//! words" (the not-found rule's query coverage, the support check), so
//! there is one definition of a word.

use std::collections::HashSet;

use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer,
};

use super::chunk::is_cjk;

/// English: lower-cased, folded, stop words out, stemmed. Built once:
/// every search and every support check analyses text with it.
pub fn english() -> TextAnalyzer {
    static EN: std::sync::OnceLock<TextAnalyzer> = std::sync::OnceLock::new();
    EN.get_or_init(build_english).clone()
}

fn build_english() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(StopWordFilter::remove(stop_words()))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// Chinese, Japanese and Korean runs, cut into words by jieba.
pub fn cjk() -> TextAnalyzer {
    static CJK: std::sync::OnceLock<TextAnalyzer> = std::sync::OnceLock::new();
    CJK.get_or_init(build_cjk).clone()
}

fn build_cjk() -> TextAnalyzer {
    // jieba emits the spaces between runs as tokens; they would match
    // every chunk.
    TextAnalyzer::builder(tantivy_jieba::JiebaTokenizer::new())
        .filter(LowerCaser)
        .filter(StopWordFilter::remove([" ".to_string()]))
        .build()
}

fn stop_words() -> Vec<String> {
    const EXTRA: &[&str] = &[
        "what", "which", "who", "whom", "whose", "when", "where", "why", "how", "do", "does",
        "did", "can", "could", "would", "should", "i", "me", "my", "you", "your", "we", "our",
        "us", "he", "she", "him", "her", "his", "its", "have", "has", "had", "am", "were", "from",
        "about", "so", "some", "any",
    ];
    let mut words: Vec<String> = LUCENE_ENGLISH
        .iter()
        .chain(EXTRA)
        .map(|w| w.to_string())
        .collect();
    words.sort();
    words.dedup();
    words
}

/// Lucene's English stop word list (tantivy's `Language::English` list).
const LUCENE_ENGLISH: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these",
    "they", "this", "to", "was", "will", "with",
];

/// Keeps only CJK characters (others become spaces), so the CJK field
/// does not count Latin words a second time.
pub fn cjk_only(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if is_cjk(c) {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with(' ') {
            out.push(' ');
        }
    }
    out
}

/// The text with its CJK characters turned into spaces: the English
/// analyzer would otherwise keep a whole Chinese run as one word.
pub fn latin_only(text: &str) -> String {
    text.chars()
        .map(|c| if is_cjk(c) { ' ' } else { c })
        .collect()
}

fn run(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// A text's terms, English and CJK apart, in order of appearance.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Terms {
    pub en: Vec<String>,
    pub cjk: Vec<String>,
}

impl Terms {
    pub fn of(text: &str) -> Terms {
        Terms {
            en: run(&mut english(), &latin_only(text)),
            cjk: run(&mut cjk(), &cjk_only(text)),
        }
    }

    /// Each term once, with whether it is a CJK term.
    pub fn unique(&self) -> Vec<(bool, &str)> {
        let mut seen = HashSet::new();
        self.en
            .iter()
            .map(|t| (false, t.as_str()))
            .chain(self.cjk.iter().map(|t| (true, t.as_str())))
            .filter(|t| seen.insert(*t))
            .collect()
    }

    pub fn set(&self) -> TermSet {
        TermSet {
            en: self.en.iter().cloned().collect(),
            cjk: self.cjk.iter().cloned().collect(),
        }
    }
}

/// Terms for membership tests.
#[derive(Debug, Clone, Default)]
pub struct TermSet {
    en: HashSet<String>,
    cjk: HashSet<String>,
}

impl TermSet {
    pub fn contains(&self, cjk: bool, term: &str) -> bool {
        if cjk {
            self.cjk.contains(term)
        } else {
            self.en.contains(term)
        }
    }

    /// Holds `term`, or for an English word of five letters or more, a
    /// word one typing slip away ("adress", "pasword", "warrenty").
    pub fn holds(&self, cjk: bool, term: &str) -> bool {
        self.contains(cjk, term)
            || (!cjk && term.chars().count() >= 5 && self.en.iter().any(|t| one_slip(term, t)))
    }
}

/// True when `a` and `b` differ by one inserted, deleted, replaced or
/// swapped neighbouring character.
fn one_slip(a: &str, b: &str) -> bool {
    if a.len().abs_diff(b.len()) > 4 {
        return false;
    }
    if a.is_ascii() && b.is_ascii() {
        return slip(a.as_bytes(), b.as_bytes());
    }
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    slip(&a, &b)
}

fn slip<T: PartialEq>(a: &[T], b: &[T]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    match long.len() - short.len() {
        0 => {
            let mut diff = (0..a.len()).filter(|&i| a[i] != b[i]);
            match (diff.next(), diff.next(), diff.next()) {
                (Some(_), None, _) => true,
                (Some(i), Some(j), None) => j == i + 1 && a[i] == b[j] && a[j] == b[i],
                _ => false,
            }
        }
        1 => {
            let i = (0..short.len())
                .find(|&i| short[i] != long[i])
                .unwrap_or(short.len());
            short[i..] == long[i + 1..]
        }
        _ => false,
    }
}

/// Words of everyday English and Chinese questions that say nothing about
/// the topic ("just", "still", "get", "可以", "吗"). A small index has
/// never seen most of them, so its idf would rank them with the rarest
/// topic words; the coverage rule leaves them out instead. Analysed like
/// every other text (stemmed, stop words already gone).
const GENERAL: &str = "just got get gets getting gotten say says said still now much many long \
    want wanted need needs needed use used using put make makes made own one ones other others \
    same than until before after too big small yet last week weeks time times right possible \
    happen happens happened really already again anything something anyone someone everything \
    nothing back know knew think thought like way thing things help please thanks thank hi hello \
    hey ok okay sure also even ever never always very quite lot lots bit little more most less \
    only well good bad new old first next take takes took give gave go goes going went gone come \
    came see saw look looks tell told ask asked try tried let keep kept today tomorrow yesterday \
    morning tonight day days find found work works show shows mean means isn don didn doesn \
    hasn haven won wasn aren couldn wouldn shouldn ll ve re t s m d able anyway actually maybe \
    probably there here via etc yes yeah hmm guys instead somewhere else anymore hope glad \
    assist assistance welcome great further questions question sorry apologies apologise \
    apologize unfortunately \
    可以 吗 呢 吧 啊 什么 怎么 怎样 如何 多少 多久 哪里 哪儿 哪个 为什么 是 的 了 我 你 您 我们 \
    你们 他 她 它 有 没有 能 能否 会 要 想 请 在 和 与 或 这 那 这个 那个 一个 就 都 也 还 很 \
    需要 应该 是否 一下 知道 告诉 问 问题 谢谢 你好";

fn general() -> &'static TermSet {
    static SET: std::sync::OnceLock<TermSet> = std::sync::OnceLock::new();
    SET.get_or_init(|| {
        let mut terms = Terms::of(GENERAL);
        // jieba joins neighbours like "可以吗"; each word is one entry.
        terms
            .cjk
            .extend(cjk_only(GENERAL).split_whitespace().map(String::from));
        terms.set()
    })
}

/// Whether `term` is an everyday question word ([`GENERAL`]).
pub fn is_general(cjk: bool, term: &str) -> bool {
    general().contains(cjk, term)
}

/// A query term with its weight: BM25's inverse document frequency, so a
/// word the index has never seen weighs most.
#[derive(Debug, Clone, PartialEq)]
pub struct Weighted {
    pub cjk: bool,
    pub term: String,
    pub idf: f32,
}

/// BM25's idf of a term found in `df` of `docs` documents.
pub fn idf(df: u64, docs: u64) -> f32 {
    let (n, d) = (df as f32, docs as f32);
    (1.0 + (d - n + 0.5) / (n + 0.5)).ln()
}

/// The share of the query's weight that `passage` holds: 1.0 when every
/// query term is in it, 0.0 when none is (or the query has no terms).
/// Unlike a BM25 score it does not grow with the query's length, so one
/// threshold means the same for a two-word and a twenty-word question,
/// on any index.
pub fn coverage(query: &[Weighted], passage: &TermSet) -> f32 {
    let total: f32 = query.iter().map(|w| w.idf).sum();
    if total <= 0.0 {
        return 0.0;
    }
    let held: f32 = query
        .iter()
        .filter(|w| passage.holds(w.cjk, &w.term))
        .map(|w| w.idf)
        .sum();
    held / total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terms_are_stemmed_without_stop_words_and_cjk_apart() {
        let t = Terms::of("How do I return my parcels? 退货期限是多久");
        assert_eq!(t.en, ["return", "parcel"]);
        assert!(t.cjk.contains(&"退货".to_string()), "{:?}", t.cjk);
        assert!(!t.en.iter().any(|w| w.contains('退')));
    }

    #[test]
    fn coverage_weighs_rare_terms_most() {
        let w = |term: &str, idf: f32| Weighted {
            cjk: false,
            term: term.into(),
            idf,
        };
        let query = [w("pay", 1.0), w("bitcoin", 3.0)];
        let passage = Terms::of("You can pay by card.").set();
        assert!((coverage(&query, &passage) - 0.25).abs() < 1e-6);
        assert_eq!(coverage(&[], &passage), 0.0);
        assert!(idf(0, 100) > idf(10, 100) && idf(10, 100) > idf(90, 100));
        let typo = [w("adress", 1.0)];
        assert_eq!(coverage(&typo, &Terms::of("your address").set()), 1.0);
        assert!(one_slip("warrenti", "warranti") && one_slip("teh", "the"));
        assert!(!one_slip("bitcoin", "bitcoins!") && !one_slip("abcd", "dcba"));
        assert!(is_general(false, "still") && is_general(true, "吗"));
        assert!(!is_general(false, "refund") && !is_general(true, "退货"));
    }
}
