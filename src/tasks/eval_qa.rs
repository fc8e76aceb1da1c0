//! `lore eval qa`: the whole `ask` path (retrieve, pack, generate, cite)
//! scored against gold answers.

use std::collections::HashMap;

use serde::Serialize;

use super::ask::{self, AskReport};
use super::TaskError;
use crate::engine::{Engine, GenParams};
use crate::index::eval::{contains_answer, exact_match, token_f1, QaQuery};
use crate::index::KnowledgeIndex;
use crate::prompts::Template;

#[derive(Debug, Clone, Default, Serialize)]
pub struct QaReport {
    pub queries: usize,
    pub k: usize,
    /// Share of questions where a passage given to the model came from a
    /// relevant document (with qrels) or contains a gold answer (without).
    pub retrieval_hit_rate: f64,
    /// Share of questions where nothing passed the score threshold.
    pub not_found_rate: f64,
    pub exact_match: f64,
    pub token_f1: f64,
    /// Share of answers containing a gold answer.
    pub answer_contains_gold: f64,
    /// Share of answers with at least one citation and no marker that
    /// points at a missing passage.
    pub valid_citations: f64,
    /// Of those, the share whose citation the model wrote as `[n]` itself.
    pub marker_citations: f64,
    /// Share of cited answers whose first citation is a relevant passage
    /// (a relevant document with qrels, a passage holding the answer
    /// without).
    pub citation_precision: f64,
    pub mean_ttft_s: f64,
    pub mean_generated_tokens_per_s: f64,
}

pub struct QaSetup<'a> {
    pub engine: &'a Engine,
    pub template: &'a Template,
    pub index: &'a KnowledgeIndex,
    /// Hit keys are this prefix plus the corpus `_id`.
    pub key_prefix: &'a str,
    pub qrels: Option<&'a HashMap<String, HashMap<String, f64>>>,
    pub k: usize,
    pub min_score: f32,
    pub params: GenParams,
}

/// Runs every query through `ask` and averages the scores. `progress` is
/// called after each query with (done, total).
pub async fn run(
    setup: &QaSetup<'_>,
    queries: &[QaQuery],
    mut progress: impl FnMut(usize, usize),
) -> Result<QaReport, TaskError> {
    let mut r = QaReport {
        k: setup.k,
        ..QaReport::default()
    };
    let (mut cited, mut timed) = (0usize, 0usize);
    for (i, q) in queries.iter().enumerate() {
        let report = ask_one(setup, q).await?;
        let relevant = |p: &ask::Passage| match setup.qrels.and_then(|m| m.get(&q.id)) {
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
            if first.via == "marker" {
                r.marker_citations += 1.0;
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
            r.mean_ttft_s += f.timings.time_to_first_token_s;
            r.mean_generated_tokens_per_s += f.timings.generated_tokens_per_s;
        }
        progress(i + 1, queries.len());
    }
    let avg = |x: f64, n: usize| if n > 0 { x / n as f64 } else { 0.0 };
    let n = r.queries;
    r.valid_citations = avg(cited as f64, n);
    r.marker_citations = avg(r.marker_citations, cited);
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
    let mut passages = ask::retrieve(setup.index, &q.text, setup.k, setup.min_score)?;
    if passages.is_empty() {
        return ask::not_found(&q.text, "", &mut super::NullSink);
    }
    let (messages, dropped) = ask::pack(
        setup.engine,
        setup.template,
        &q.text,
        &mut passages,
        setup.params.max_tokens,
    )
    .await?;
    ask::answer(
        setup.engine,
        &q.text,
        &messages,
        passages,
        dropped,
        &setup.params,
        &mut super::NullSink,
    )
    .await
}
