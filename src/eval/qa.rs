//! `lore eval qa`: the whole `ask` path (retrieve, pack, generate, cite)
//! scored against gold answers.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::retrieval::{input_err, query_rows, EvalError};
use crate::grounding::{Passage, Via};
use crate::model::Model;
use crate::tasks::ask::{self, Ask, AskReport, Question};
use crate::tasks::TaskError;

#[derive(Debug, Clone, Default, Serialize)]
pub struct QaReport {
    pub queries: usize,
    pub k: usize,
    /// Share of questions where a passage given to the model came from a
    /// relevant document (with qrels) or contains a gold answer (without).
    pub retrieval_hit_rate: f64,
    /// Share of questions answered not found: nothing relevant retrieved,
    /// or an answer with no citation and no supported sentence.
    pub not_found_rate: f64,
    /// Of the answers the model gave, the share the support check marked
    /// unsupported (what strict checks would refuse).
    pub unsupported_rate: f64,
    pub exact_match: f64,
    pub token_f1: f64,
    /// Share of answers containing a gold answer.
    pub answer_contains_gold: f64,
    /// Share of answers with at least one citation and no marker that
    /// points at a missing passage.
    pub valid_citations: f64,
    /// Of those, the share whose citation the model wrote as `[n]` itself,
    /// and the share it chose in the citation step.
    pub marker_citations: f64,
    pub chosen_citations: f64,
    /// Share of cited answers whose first citation is a relevant passage
    /// (a relevant document with qrels, a passage holding the answer
    /// without).
    pub citation_precision: f64,
    pub mean_ttft_s: f64,
    pub mean_generated_tokens_per_s: f64,
}

impl super::Report for QaReport {
    fn rows(&self) -> Vec<(String, String)> {
        let f3 = |x: f64| format!("{x:.3}");
        vec![
            ("questions".into(), self.queries.to_string()),
            ("passages (k)".into(), self.k.to_string()),
            ("retrieval hit rate".into(), f3(self.retrieval_hit_rate)),
            ("not found".into(), f3(self.not_found_rate)),
            ("answers unsupported".into(), f3(self.unsupported_rate)),
            ("exact match".into(), f3(self.exact_match)),
            ("token F1".into(), f3(self.token_f1)),
            ("answer has gold".into(), f3(self.answer_contains_gold)),
            ("valid citations".into(), f3(self.valid_citations)),
            ("  written as [n]".into(), f3(self.marker_citations)),
            ("  chosen in the step".into(), f3(self.chosen_citations)),
            ("  citing relevant".into(), f3(self.citation_precision)),
            ("mean TTFT".into(), format!("{:.3} s", self.mean_ttft_s)),
            (
                "mean generation".into(),
                format!("{:.1} tok/s", self.mean_generated_tokens_per_s),
            ),
        ]
    }
}

pub struct QaSetup<'a> {
    pub model: Model,
    /// The `ask` set-up over the corpus index, with evaluation parameters
    /// (`policy::eval_params`).
    pub ask: Ask,
    /// Hit keys are this prefix plus the corpus `_id`.
    pub key_prefix: &'a str,
    pub qrels: Option<&'a HashMap<String, HashMap<String, f64>>>,
}

/// Runs every query through `ask` and averages the scores. `progress` is
/// called after each query with (done, total).
pub async fn run(
    setup: &QaSetup<'_>,
    queries: &[QaQuery],
    mut progress: impl FnMut(usize, usize),
) -> Result<QaReport, TaskError> {
    let mut r = QaReport {
        k: setup.ask.retrieval.top_k,
        ..QaReport::default()
    };
    let (mut cited, mut timed, mut unsupported) = (0usize, 0usize, 0usize);
    for (i, q) in queries.iter().enumerate() {
        let report = ask_one(setup, q).await?.reply;
        let relevant = |p: &Passage| match setup.qrels.and_then(|m| m.get(&q.id)) {
            Some(rel) => {
                let id = p.path.strip_prefix(setup.key_prefix).unwrap_or(&p.path);
                rel.get(id).is_some_and(|s| *s > 0.0)
            }
            None => contains_answer(&p.text, &q.answers) > 0.0,
        };
        r.queries += 1;
        if !report.found {
            r.not_found_rate += 1.0;
        }
        if report.passages.iter().any(relevant) {
            r.retrieval_hit_rate += 1.0;
        }
        r.exact_match += exact_match(&report.answer, &q.answers);
        r.token_f1 += token_f1(&report.answer, &q.answers);
        r.answer_contains_gold += contains_answer(&report.answer, &q.answers);
        if let Some(first) = report.citations.first().filter(|_| report.citations_valid) {
            cited += 1;
            match first.via {
                Via::Marker => r.marker_citations += 1.0,
                Via::Chosen => r.chosen_citations += 1.0,
                Via::Overlap => {}
            }
            if report
                .passages
                .iter()
                .find(|p| p.n == first.n)
                .is_some_and(relevant)
            {
                r.citation_precision += 1.0;
            }
        }
        if let Some(f) = &report.finished {
            timed += 1;
            unsupported += !report.supported as usize;
            r.mean_ttft_s += f.timings.time_to_first_token_s;
            r.mean_generated_tokens_per_s += f.timings.generated_tokens_per_s;
        }
        progress(i + 1, queries.len());
    }
    let avg = |x: f64, n: usize| if n > 0 { x / n as f64 } else { 0.0 };
    let n = r.queries;
    r.valid_citations = avg(cited as f64, n);
    r.marker_citations = avg(r.marker_citations, cited);
    r.chosen_citations = avg(r.chosen_citations, cited);
    r.unsupported_rate = avg(unsupported as f64, timed);
    r.citation_precision = avg(r.citation_precision, cited);
    r.retrieval_hit_rate = avg(r.retrieval_hit_rate, n);
    r.not_found_rate = avg(r.not_found_rate, n);
    r.exact_match = avg(r.exact_match, n);
    r.token_f1 = avg(r.token_f1, n);
    r.answer_contains_gold = avg(r.answer_contains_gold, n);
    r.mean_ttft_s = avg(r.mean_ttft_s, timed);
    r.mean_generated_tokens_per_s = avg(r.mean_generated_tokens_per_s, timed);
    Ok(r)
}

async fn ask_one(setup: &QaSetup<'_>, q: &QaQuery) -> Result<AskReport, TaskError> {
    let question = Question {
        text: &q.text,
        document: None,
        search_index: true,
    };
    let model = setup.model.clone();
    ask::run(
        &setup.ask,
        &question,
        async move { Ok(model) },
        &mut crate::tasks::NullSink,
    )
    .await
}

/// A question with its gold answers (SQuAD layout: `answers` is a list of
/// strings, or `{"text": [...]}`).
#[derive(Debug, Clone, PartialEq)]
pub struct QaQuery {
    pub id: String,
    pub text: String,
    pub answers: Vec<String>,
}

/// Reads `queries.jsonl` with `answers`; queries without answers are an
/// error naming the line, since they cannot be scored.
pub fn read_qa_queries(path: &Path) -> Result<Vec<QaQuery>, EvalError> {
    let mut out = Vec::new();
    for q in query_rows(path)? {
        let list = match &q.row["answers"] {
            serde_json::Value::Object(o) => o.get("text").cloned().unwrap_or_default(),
            other => other.clone(),
        };
        let answers: Vec<String> = list
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if answers.is_empty() {
            return Err(input_err(
                path,
                format!("line {}: needs \"answers\" (a list of strings)", q.line),
            ));
        }
        out.push(QaQuery {
            id: q.id,
            text: q.text,
            answers,
        });
    }
    Ok(out)
}

/// SQuAD answer normalisation: lower case, no punctuation, no articles,
/// single spaces.
pub fn normalize_answer(s: &str) -> String {
    let lower: String = s
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c.is_whitespace() {
                c
            } else {
                ' '
            }
        })
        .collect();
    lower
        .split_whitespace()
        .filter(|w| !matches!(*w, "a" | "an" | "the"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// 1.0 when the normalised prediction equals a normalised gold answer.
pub fn exact_match(prediction: &str, golds: &[String]) -> f64 {
    let p = normalize_answer(prediction);
    f64::from(golds.iter().any(|g| normalize_answer(g) == p))
}

/// The best SQuAD token F1 of the prediction against the gold answers.
pub fn token_f1(prediction: &str, golds: &[String]) -> f64 {
    let p = normalize_answer(prediction);
    let pt: Vec<&str> = p.split_whitespace().collect();
    golds
        .iter()
        .map(|g| {
            let g = normalize_answer(g);
            let gt: Vec<&str> = g.split_whitespace().collect();
            let mut left: HashMap<&str, usize> = HashMap::new();
            for t in &gt {
                *left.entry(t).or_default() += 1;
            }
            let mut common = 0usize;
            for t in &pt {
                if let Some(c) = left.get_mut(t).filter(|c| **c > 0) {
                    *c -= 1;
                    common += 1;
                }
            }
            if common == 0 {
                return 0.0;
            }
            let precision = common as f64 / pt.len() as f64;
            let recall = common as f64 / gt.len() as f64;
            2.0 * precision * recall / (precision + recall)
        })
        .fold(0.0, f64::max)
}

/// 1.0 when a normalised gold answer appears inside the normalised
/// prediction: fairer than exact match to chatty models.
pub fn contains_answer(prediction: &str, golds: &[String]) -> f64 {
    let p = format!(" {} ", normalize_answer(prediction));
    f64::from(golds.iter().any(|g| {
        let g = normalize_answer(g);
        !g.is_empty() && p.contains(&format!(" {g} "))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squad_answer_metrics() {
        let golds = vec!["the Yankees".to_string(), "New York Yankees".to_string()];
        assert_eq!(normalize_answer("The  Yankees!"), "yankees");
        assert_eq!(exact_match("Yankees.", &golds), 1.0);
        assert_eq!(exact_match("He played for the Yankees", &golds), 0.0);
        assert_eq!(contains_answer("He played for the Yankees", &golds), 1.0);
        assert_eq!(contains_answer("Yankeesville", &golds), 0.0);
        // "new york" against "new york yankees": p = 1, r = 2/3.
        assert!((token_f1("New York", &golds) - 0.8).abs() < 1e-9);
        assert_eq!(token_f1("Boston", &golds), 0.0);
    }
}
