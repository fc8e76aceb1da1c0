//! `lore eval grounding`: how well lore tells questions its knowledge base
//! answers from questions it cannot answer (the not-found rule, measured
//! for a grid of thresholds), and with `--answer`, whether the answers it
//! then gives are supported by their passages.

use std::path::Path;

use serde::Serialize;

use super::ratio;
use super::retrieval::{input_err, EvalError};
use crate::grounding::Relevance;
use crate::index::{Hit, KnowledgeIndex, SearchOptions};

/// One question of the calibration set.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    pub text: String,
    /// False for a question the knowledge base cannot answer.
    pub on_topic: bool,
    /// `en`, `zh`, ... (off-topic rows).
    pub lang: String,
    /// `general` or `near` (off-topic rows).
    pub kind: String,
    /// The article that answers it (on-topic rows).
    pub article: Option<String>,
    /// A phrase of that article holding the answer (on-topic rows).
    pub answer: Option<String>,
}

/// Reads a tab-separated file with a header line naming its columns; a
/// `question` column is required.
fn read_tsv(path: &Path) -> Result<Vec<Vec<(String, String)>>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| input_err(path, e.to_string()))?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(input_err(path, "empty file"));
    };
    let columns: Vec<&str> = header.split('\t').map(str::trim).collect();
    if !columns.contains(&"question") {
        return Err(input_err(path, "the header line needs a `question` column"));
    }
    lines
        .map(|(n, line)| {
            let cells: Vec<&str> = line.split('\t').collect();
            if cells.len() != columns.len() {
                return Err(input_err(
                    path,
                    format!(
                        "line {}: {} fields, the header has {}",
                        n + 1,
                        cells.len(),
                        columns.len()
                    ),
                ));
            }
            Ok(columns
                .iter()
                .zip(cells)
                .map(|(c, v)| (c.to_string(), v.trim().to_string()))
                .collect())
        })
        .collect()
}

/// The on-topic (`question`, `article`, `answer`) and off-topic
/// (`question`, `lang`, `kind`) sets.
pub fn read_probes(on: &Path, off: &Path) -> Result<Vec<Probe>, EvalError> {
    let mut out = Vec::new();
    for (path, on_topic) in [(on, true), (off, false)] {
        for row in read_tsv(path)? {
            let get = |k: &str| {
                row.iter()
                    .find(|(c, _)| c == k)
                    .map(|(_, v)| v.clone())
                    .filter(|v| !v.is_empty())
            };
            out.push(Probe {
                text: get("question").unwrap_or_default(),
                on_topic,
                lang: get("lang").unwrap_or_else(|| "en".into()),
                kind: get("kind").unwrap_or_default(),
                article: get("article"),
                answer: get("answer"),
            });
        }
    }
    out.retain(|p| !p.text.is_empty());
    Ok(out)
}

/// How one not-found rule does on the set.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleRow {
    pub min_score: f32,
    pub min_coverage: f32,
    /// Absent where similarity plays no part (a lexical index, or a rule
    /// that leaves it out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_similarity: Option<f32>,
    /// Off-topic questions that passages were found for (and a model would
    /// have been asked).
    pub false_found: f64,
    /// The same, for the Chinese off-topic questions only.
    pub false_found_zh: f64,
    /// On-topic questions refused as not found.
    pub miss: f64,
    /// On-topic questions whose admitted passages include their article.
    pub article_found: f64,
}

/// Retrieves once per question and scores every rule on those hits.
pub fn sweep(
    index: &KnowledgeIndex,
    probes: &[Probe],
    k: usize,
    rules: &[Relevance],
) -> Result<Vec<RuleRow>, EvalError> {
    let opts = SearchOptions {
        limit: k.max(1),
        ..SearchOptions::default()
    };
    let hits: Vec<Vec<Hit>> = probes
        .iter()
        .map(|p| index.search(&p.text, &opts))
        .collect::<Result<_, _>>()?;
    let count = |f: &dyn Fn(&Probe) -> bool| probes.iter().filter(|p| f(p)).count();
    let on = count(&|p| p.on_topic);
    let off = count(&|p| !p.on_topic);
    let off_zh = count(&|p| !p.on_topic && p.lang == "zh");
    Ok(rules
        .iter()
        .map(|rule| {
            let (mut ff, mut ff_zh, mut miss, mut article) = (0, 0, 0, 0);
            for (p, h) in probes.iter().zip(&hits) {
                match (p.on_topic, !rule.found(h)) {
                    (true, true) => miss += 1,
                    (true, false) => {
                        let want = p.article.as_deref().unwrap_or("\u{0}");
                        article +=
                            rule.admit(h.clone()).iter().any(|x| x.path.ends_with(want)) as usize;
                    }
                    (false, false) => {
                        ff += 1;
                        ff_zh += (p.lang == "zh") as usize;
                    }
                    (false, true) => {}
                }
            }
            RuleRow {
                min_score: rule.min_score,
                min_coverage: rule.min_coverage,
                min_similarity: Some(rule.min_similarity).filter(|s| s.is_finite()),
                false_found: ratio(ff, off),
                false_found_zh: ratio(ff_zh, off_zh),
                miss: ratio(miss, on),
                article_found: ratio(article, on),
            }
        })
        .collect())
}

/// The thresholds `lore eval grounding` reports beside the configured
/// one: BM25 score and coverage alone, and where the index has vectors,
/// the configured pair with each similarity threshold.
pub fn grid(configured: Relevance, dense: bool) -> Vec<Relevance> {
    let mut out = Vec::new();
    for min_score in [0.0, 2.0, 3.0, 4.0] {
        for min_coverage in [0.0, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6] {
            out.push(Relevance {
                min_score,
                min_coverage,
                min_similarity: f32::INFINITY,
            });
        }
    }
    if dense {
        for min_similarity in [0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 2.0] {
            out.push(Relevance {
                min_similarity,
                ..configured
            });
        }
    }
    out
}

/// The retrieval half of the report.
#[derive(Debug, Clone, Serialize)]
pub struct GroundingReport {
    pub on_topic: usize,
    pub off_topic: usize,
    pub k: usize,
    /// The configured rule.
    pub configured: RuleRow,
    /// The rule before coverage existed: `min_score` 3.0 alone.
    pub score_only: RuleRow,
    pub grid: Vec<RuleRow>,
}

impl super::Report for GroundingReport {
    fn rows(&self) -> Vec<(String, String)> {
        let row = |r: &RuleRow| {
            format!(
                "false found {:.3} (zh {:.3})  miss {:.3}  article found {:.3}",
                r.false_found, r.false_found_zh, r.miss, r.article_found
            )
        };
        let label = |r: &RuleRow| {
            let sim = r
                .min_similarity
                .map_or(String::new(), |s| format!(" or similarity>={s:.2}"));
            format!(
                "score>={:.1} coverage>={:.2}{sim}",
                r.min_score, r.min_coverage
            )
        };
        let mut rows = vec![
            ("on-topic questions".into(), self.on_topic.to_string()),
            ("off-topic questions".into(), self.off_topic.to_string()),
            ("passages (k)".into(), self.k.to_string()),
            (
                format!("configured: {}", label(&self.configured)),
                row(&self.configured),
            ),
            (
                format!("score only: {}", label(&self.score_only)),
                row(&self.score_only),
            ),
        ];
        rows.extend(
            self.grid
                .iter()
                .map(|r| (format!("  {}", label(r)), row(r))),
        );
        rows
    }
}

/// Scores the configured rule, the score-only rule and the grid.
pub fn report(
    index: &KnowledgeIndex,
    probes: &[Probe],
    k: usize,
    configured: Relevance,
) -> Result<GroundingReport, EvalError> {
    let old = Relevance {
        min_score: 3.0,
        min_coverage: 0.0,
        min_similarity: f32::INFINITY,
    };
    let dense = index.has_embedder();
    let configured = if dense {
        configured
    } else {
        // Without vectors no hit has a similarity: the threshold is moot.
        Relevance {
            min_similarity: f32::INFINITY,
            ..configured
        }
    };
    let mut rules = vec![configured, old];
    rules.extend(grid(configured, dense));
    let mut rows = sweep(index, probes, k, &rules)?;
    let grid = rows.split_off(2);
    Ok(GroundingReport {
        on_topic: probes.iter().filter(|p| p.on_topic).count(),
        off_topic: probes.iter().filter(|p| !p.on_topic).count(),
        k,
        score_only: rows.pop().expect("two rows"),
        configured: rows.pop().expect("one row"),
        grid,
    })
}

/// The answering half (`--answer`): every question through `ask` with the
/// model, checked. Run without strict checks; what strict checks would
/// have refused is worked out from the same answers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AnswerReport {
    /// Questions the model was asked (retrieval found something).
    pub answered: usize,
    /// Off-topic questions presented as found: by retrieval alone, after
    /// the support check (no citation and no supported sentence is not
    /// found), and with strict checks (unsupported is not found).
    pub false_found_retrieval: f64,
    pub false_found_checked: f64,
    pub false_found_strict: f64,
    /// On-topic questions refused, in the same three steps.
    pub miss_retrieval: f64,
    pub miss_checked: f64,
    pub miss_strict: f64,
    /// Of the answers given, the share the support check marked
    /// unsupported (what would have gone out as found before the check).
    pub unsupported: f64,
    /// Of cited answers, the share whose citation the model wrote as `[n]`
    /// or chose in the citation step (not attributed by overlap)...
    pub model_cited: f64,
    /// ... and of those, chosen in the citation step.
    pub chosen: f64,
    /// Of model-cited answers, the share whose first citation is a passage
    /// the support check found supporting a sentence.
    pub citations_agree: f64,
    /// On-topic answers containing the article's answer phrase.
    pub contains_answer: f64,
    pub mean_seconds: f64,
}

impl super::Report for AnswerReport {
    fn rows(&self) -> Vec<(String, String)> {
        let f3 = |x: f64| format!("{x:.3}");
        let three =
            |a: f64, b: f64, c: f64| format!("retrieval {a:.3}  checked {b:.3}  strict {c:.3}");
        vec![
            ("answered by the model".into(), self.answered.to_string()),
            (
                "off-topic found".into(),
                three(
                    self.false_found_retrieval,
                    self.false_found_checked,
                    self.false_found_strict,
                ),
            ),
            (
                "on-topic refused".into(),
                three(self.miss_retrieval, self.miss_checked, self.miss_strict),
            ),
            ("answers unsupported".into(), f3(self.unsupported)),
            ("citations by the model".into(), f3(self.model_cited)),
            ("  chosen in the step".into(), f3(self.chosen)),
            ("  agreeing with check".into(), f3(self.citations_agree)),
            ("on-topic answer phrase".into(), f3(self.contains_answer)),
            ("mean time".into(), format!("{:.2} s", self.mean_seconds)),
        ]
    }
}

/// Answers every probe with `ask` (its checks forced to non-strict).
pub async fn answers(
    ask: &crate::tasks::ask::Ask,
    model: crate::model::Model,
    probes: &[Probe],
    mut progress: impl FnMut(usize, usize),
) -> Result<AnswerReport, crate::tasks::TaskError> {
    use crate::grounding::support::Verdict;
    use crate::grounding::Via;
    let mut ask = ask.clone();
    ask.retrieval.checks.strict = false;
    let mut r = AnswerReport::default();
    let (mut ff, mut ffc, mut ffs, mut miss, mut missc, mut misss) = (0, 0, 0, 0, 0, 0);
    let (mut unsupported, mut cited, mut by_model, mut chosen, mut agree, mut phrase) =
        (0, 0, 0, 0, 0, 0);
    let mut seconds = 0.0;
    for (i, p) in probes.iter().enumerate() {
        let question = crate::tasks::ask::Question {
            text: &p.text,
            document: None,
            search_index: true,
        };
        let m = model.clone();
        let started = std::time::Instant::now();
        let reply = crate::tasks::ask::run(
            &ask,
            &question,
            async move { Ok(m) },
            &mut crate::tasks::NullSink,
        )
        .await?
        .reply;
        let retrieved = reply.finished.is_some();
        let checked = reply.found;
        let strict = checked && reply.supported;
        if retrieved {
            r.answered += 1;
            seconds += started.elapsed().as_secs_f64();
            unsupported += !reply.supported as usize;
            if let Some(first) = reply.citations.first() {
                cited += 1;
                if first.via != Via::Overlap {
                    by_model += 1;
                    chosen += (first.via == Via::Chosen) as usize;
                    agree += reply
                        .support
                        .iter()
                        .any(|s| s.verdict == Verdict::Supported && s.passage == Some(first.n))
                        as usize;
                }
            }
        }
        if p.on_topic {
            miss += !retrieved as usize;
            missc += !checked as usize;
            misss += !strict as usize;
            if let Some(a) = &p.answer {
                phrase += (retrieved
                    && super::qa::contains_answer(&reply.answer, std::slice::from_ref(a)) > 0.0)
                    as usize;
            }
        } else {
            ff += retrieved as usize;
            ffc += checked as usize;
            ffs += strict as usize;
        }
        progress(i + 1, probes.len());
    }
    let on = probes.iter().filter(|p| p.on_topic).count();
    let off = probes.len() - on;
    r.false_found_retrieval = ratio(ff, off);
    r.false_found_checked = ratio(ffc, off);
    r.false_found_strict = ratio(ffs, off);
    r.miss_retrieval = ratio(miss, on);
    r.miss_checked = ratio(missc, on);
    r.miss_strict = ratio(misss, on);
    r.unsupported = ratio(unsupported, r.answered);
    r.model_cited = ratio(by_model, cited);
    r.chosen = ratio(chosen, by_model);
    r.citations_agree = ratio(agree, by_model);
    r.contains_answer = ratio(phrase, on);
    r.mean_seconds = if r.answered > 0 {
        seconds / r.answered as f64
    } else {
        0.0
    };
    Ok(r)
}
