//! `lore eval retrieval`: recall, MRR and nDCG on a BEIR-layout data set.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use crate::grounding::Relevance;
use crate::index::chunk::ChunkOptions;
use crate::index::dense::{Dense, Fusion, Mode};
use crate::index::loaders::{self, RowFields};
use crate::index::store::{Boosts, KnowledgeIndex, SearchOptions};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{path}: {message}")]
    Input { path: String, message: String },
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
}

pub(crate) fn input_err(path: &Path, message: impl Into<String>) -> EvalError {
    EvalError::Input {
        path: path.display().to_string(),
        message: message.into(),
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RetrievalReport {
    pub mode: Mode,
    /// Hybrid's dense weight where it differs from the settings' (a
    /// `--dense-weights` column).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense_weight: Option<f32>,
    /// That column's fusion method.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fusion: Option<&'static str>,
    pub corpus_documents: usize,
    pub chunks: u64,
    pub queries: usize,
    pub k: usize,
    pub recall_at_1: f64,
    pub recall_at_5: f64,
    pub recall_at_10: f64,
    pub mrr_at_10: f64,
    pub ndcg_at_10: f64,
    /// Share of queries the not-found rule refuses (every query has an
    /// answer in the corpus): the configured rule, and `min_score` alone.
    pub not_found_rate: f64,
    pub not_found_rate_score_only: f64,
    pub latency_p50_ms: f64,
    pub latency_p99_ms: f64,
    pub index_seconds: f64,
    /// Chunks embedded per second while indexing, with vectors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub embedded_per_second: Option<f64>,
}

impl super::Report for RetrievalReport {
    fn rows(&self) -> Vec<(String, String)> {
        let mut rows = vec![
            (
                "mode".into(),
                match (self.fusion, self.dense_weight) {
                    (Some(f), Some(w)) => format!("{} {f} d={w}", self.mode.as_str()),
                    _ => self.mode.as_str().to_string(),
                },
            ),
            ("corpus documents".into(), self.corpus_documents.to_string()),
            ("chunks".into(), self.chunks.to_string()),
            ("queries".into(), self.queries.to_string()),
            ("recall@1".into(), format!("{:.3}", self.recall_at_1)),
            ("recall@5".into(), format!("{:.3}", self.recall_at_5)),
            ("recall@10".into(), format!("{:.3}", self.recall_at_10)),
            ("MRR@10".into(), format!("{:.3}", self.mrr_at_10)),
            ("nDCG@10".into(), format!("{:.3}", self.ndcg_at_10)),
            ("not found".into(), format!("{:.3}", self.not_found_rate)),
            (
                "  by score only".into(),
                format!("{:.3}", self.not_found_rate_score_only),
            ),
            (
                "latency p50".into(),
                format!("{:.2} ms", self.latency_p50_ms),
            ),
            (
                "latency p99".into(),
                format!("{:.2} ms", self.latency_p99_ms),
            ),
            ("indexing".into(), format!("{:.2} s", self.index_seconds)),
        ];
        if let Some(r) = self.embedded_per_second {
            rows.push(("  embedding".into(), format!("{r:.1} chunks/s")));
        }
        rows
    }
}

/// Reports of several modes on one corpus, printed side by side.
#[derive(Debug, Clone, Serialize)]
pub struct ModeReports {
    pub modes: Vec<RetrievalReport>,
}

impl super::ReportValue for ModeReports {
    fn value(&self) -> std::io::Result<serde_json::Value> {
        // One mode: the report itself, as before modes existed.
        match self.modes.as_slice() {
            [one] => serde_json::to_value(one),
            _ => serde_json::to_value(self),
        }
        .map_err(std::io::Error::other)
    }

    fn table(&self) -> Vec<(String, String)> {
        use super::Report;
        let columns: Vec<Vec<(String, String)>> = self.modes.iter().map(|r| r.rows()).collect();
        let Some(first) = columns.first() else {
            return Vec::new();
        };
        let width = columns
            .iter()
            .flatten()
            .map(|(_, v)| v.chars().count() + 2)
            .max()
            .unwrap_or(0)
            .max(12);
        (0..first.len())
            .map(|i| {
                let cells: Vec<String> = columns
                    .iter()
                    .map(|c| format!("{:<width$}", c.get(i).map_or("", |r| r.1.as_str())))
                    .collect();
                (first[i].0.clone(), cells.join("").trim_end().to_string())
            })
            .collect()
    }
}

/// Reads `queries.jsonl` (`_id`, `text`) into id -> text.
pub fn read_queries(path: &Path) -> Result<Vec<(String, String)>, EvalError> {
    Ok(query_rows(path)?
        .into_iter()
        .map(|q| (q.id, q.text))
        .collect())
}

/// One parsed line of `queries.jsonl`, keeping the whole row for fields
/// beyond `_id` and `text`.
pub(crate) struct QueryRow {
    pub line: usize,
    pub id: String,
    pub text: String,
    pub row: serde_json::Value,
}

pub(crate) fn query_rows(path: &Path) -> Result<Vec<QueryRow>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| input_err(path, e.to_string()))?;
    let mut out = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| input_err(path, format!("line {}: {e}", n + 1)))?;
        let id = v["_id"]
            .as_str()
            .map(String::from)
            .or_else(|| v["_id"].as_i64().map(|i| i.to_string()));
        match (id, v["text"].as_str().map(String::from)) {
            (Some(id), Some(text)) => out.push(QueryRow {
                line: n + 1,
                id,
                text,
                row: v,
            }),
            _ => {
                return Err(input_err(
                    path,
                    format!("line {}: needs \"_id\" and \"text\"", n + 1),
                ))
            }
        }
    }
    Ok(out)
}

/// Reads `qrels.tsv` (`query-id corpus-id score`, with a header line).
pub fn read_qrels(path: &Path) -> Result<HashMap<String, HashMap<String, f64>>, EvalError> {
    let text = std::fs::read_to_string(path).map_err(|e| input_err(path, e.to_string()))?;
    let mut out: HashMap<String, HashMap<String, f64>> = HashMap::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .skip(1)
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let cols: Vec<&str> = line.split('\t').collect();
        let [q, d, score] = cols.as_slice() else {
            return Err(input_err(
                path,
                format!("line {}: expected 3 tab-separated columns", n + 1),
            ));
        };
        let score: f64 = score.trim().parse().map_err(|_| {
            input_err(
                path,
                format!("line {}: score {score:?} is not a number", n + 1),
            )
        })?;
        if score > 0.0 {
            out.entry(q.to_string())
                .or_default()
                .insert(d.to_string(), score);
        }
    }
    Ok(out)
}

/// Metrics of one ranked list against graded relevance.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Metrics {
    pub recall_at_1: f64,
    pub recall_at_5: f64,
    pub recall_at_10: f64,
    pub mrr_at_10: f64,
    pub ndcg_at_10: f64,
}

pub fn metrics(ranked: &[String], relevant: &HashMap<String, f64>) -> Metrics {
    let total = relevant.len().max(1) as f64;
    let recall = |n: usize| {
        ranked
            .iter()
            .take(n)
            .filter(|d| relevant.contains_key(*d))
            .count() as f64
            / total
    };
    let mrr = ranked
        .iter()
        .take(10)
        .position(|d| relevant.contains_key(d))
        .map(|p| 1.0 / (p as f64 + 1.0))
        .unwrap_or(0.0);
    let dcg: f64 = ranked
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, d)| relevant.get(d).copied().unwrap_or(0.0) / (i as f64 + 2.0).log2())
        .sum();
    let mut ideal: Vec<f64> = relevant.values().copied().collect();
    ideal.sort_by(|a, b| b.total_cmp(a));
    let idcg: f64 = ideal
        .iter()
        .take(10)
        .enumerate()
        .map(|(i, r)| r / (i as f64 + 2.0).log2())
        .sum();
    Metrics {
        recall_at_1: recall(1),
        recall_at_5: recall(5),
        recall_at_10: recall(10),
        mrr_at_10: mrr,
        ndcg_at_10: if idcg > 0.0 { dcg / idcg } else { 0.0 },
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Indexes a BEIR `corpus.jsonl` (`_id`, `title`, `text`) in memory.
/// Returns the index, the number of documents and the prefix of hit keys
/// (`prefix` + `_id`).
pub fn corpus_index(
    corpus: &Path,
    chunking: ChunkOptions,
    dense: Option<Dense>,
) -> Result<(KnowledgeIndex, usize, String), EvalError> {
    let bytes = std::fs::read(corpus).map_err(|e| input_err(corpus, e.to_string()))?;
    let rows = RowFields {
        text: Some("text".into()),
        id: Some("_id".into()),
        title: Some("title".into()),
        label: None,
    };
    let docs =
        loaders::load(corpus, &bytes, &rows).map_err(|e| input_err(corpus, e.to_string()))?;
    let source = corpus.display().to_string();
    let idx = KnowledgeIndex::in_memory_with("eval", &source, &docs, chunking, dense)?;
    Ok((idx, docs.len(), format!("{source}#")))
}

/// How hits are ranked and when they count as found.
#[derive(Debug, Clone, Copy)]
pub struct Scoring {
    pub boosts: Boosts,
    pub relevance: Relevance,
}

/// What to evaluate: the data set's files and how much of it.
pub struct DataSet<'a> {
    pub corpus: &'a Path,
    pub queries: &'a Path,
    pub qrels: &'a Path,
    pub k: usize,
    pub limit: Option<usize>,
}

/// A column of the report: a mode, and for hybrid a fusion other than
/// the index's.
pub type Variant = (Mode, Option<Fusion>);

/// Builds a temporary index of the corpus (with vectors by `dense`'s
/// model, when given) and scores every query that has relevance
/// judgements, once per variant.
pub fn retrieval(
    data: &DataSet<'_>,
    modes: &[Variant],
    scoring: Scoring,
    chunking: ChunkOptions,
    dense: Option<Dense>,
) -> Result<ModeReports, EvalError> {
    let queries = read_queries(data.queries)?;
    let qrels = read_qrels(data.qrels)?;
    let with_vectors = dense.is_some();
    let started = Instant::now();
    let (idx, documents, prefix) = corpus_index(data.corpus, chunking, dense)?;
    let index_seconds = started.elapsed().as_secs_f64();
    let embedded_per_second =
        with_vectors.then(|| idx.num_chunks() as f64 / index_seconds.max(1e-9));
    let corpus = Corpus {
        idx: &idx,
        documents,
        prefix: &prefix,
        index_seconds,
        embedded_per_second,
    };
    let modes = modes
        .iter()
        .map(|v| score_mode(&corpus, *v, &queries, &qrels, data, scoring))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(ModeReports { modes })
}

/// The corpus's index and how it was built.
struct Corpus<'a> {
    idx: &'a KnowledgeIndex,
    documents: usize,
    prefix: &'a str,
    index_seconds: f64,
    embedded_per_second: Option<f64>,
}

fn score_mode(
    corpus: &Corpus<'_>,
    (mode, fusion): Variant,
    queries: &[(String, String)],
    qrels: &HashMap<String, HashMap<String, f64>>,
    data: &DataSet<'_>,
    scoring: Scoring,
) -> Result<RetrievalReport, EvalError> {
    let Scoring { boosts, relevance } = scoring;
    let (idx, prefix, k) = (corpus.idx, corpus.prefix, data.k);
    let score_only = Relevance {
        min_coverage: 0.0,
        ..relevance
    };
    let (mut refused, mut refused_by_score) = (0usize, 0usize);
    let opts = SearchOptions {
        mode,
        fusion,
        // Several chunks may come from one document; fetch more, keep the
        // best chunk of each.
        limit: k * 3,
        boosts,
        snippet_chars: 0,
        ..SearchOptions::default()
    };
    let mut sum = Metrics::default();
    let mut latencies = Vec::new();
    let mut n = 0usize;
    for (id, text) in queries
        .iter()
        .filter(|(id, _)| qrels.contains_key(id))
        .take(data.limit.unwrap_or(usize::MAX))
    {
        let t = Instant::now();
        let hits = idx.search(text, &opts)?;
        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
        refused += !relevance.found(&hits) as usize;
        refused_by_score += !score_only.found(&hits) as usize;
        let mut seen = HashSet::new();
        let ranked: Vec<String> = hits
            .iter()
            .map(|h| h.key.strip_prefix(prefix).unwrap_or(&h.key).to_string())
            .filter(|d| seen.insert(d.clone()))
            .take(k)
            .collect();
        let m = metrics(&ranked, &qrels[id]);
        sum.recall_at_1 += m.recall_at_1;
        sum.recall_at_5 += m.recall_at_5;
        sum.recall_at_10 += m.recall_at_10;
        sum.mrr_at_10 += m.mrr_at_10;
        sum.ndcg_at_10 += m.ndcg_at_10;
        n += 1;
    }
    latencies.sort_by(|a, b| a.total_cmp(b));
    let avg = |x: f64| if n > 0 { x / n as f64 } else { 0.0 };
    Ok(RetrievalReport {
        mode: idx.resolve_mode(mode)?,
        dense_weight: fusion.map(|f| f.dense),
        fusion: fusion.map(|f| f.method.as_str()),
        corpus_documents: corpus.documents,
        chunks: idx.num_chunks(),
        queries: n,
        k,
        recall_at_1: avg(sum.recall_at_1),
        recall_at_5: avg(sum.recall_at_5),
        recall_at_10: avg(sum.recall_at_10),
        mrr_at_10: avg(sum.mrr_at_10),
        ndcg_at_10: avg(sum.ndcg_at_10),
        not_found_rate: super::ratio(refused, n),
        not_found_rate_score_only: super::ratio(refused_by_score, n),
        latency_p50_ms: percentile(&latencies, 50.0),
        latency_p99_ms: percentile(&latencies, 99.0),
        index_seconds: corpus.index_seconds,
        embedded_per_second: corpus.embedded_per_second,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_on_known_rankings() {
        let rel: HashMap<String, f64> = [("b".to_string(), 1.0)].into();
        let ranked: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let m = metrics(&ranked, &rel);
        assert_eq!(m.recall_at_1, 0.0);
        assert_eq!(m.recall_at_5, 1.0);
        assert_eq!(m.mrr_at_10, 0.5);
        assert!((m.ndcg_at_10 - 1.0 / 3f64.log2()).abs() < 1e-9);
        let perfect = metrics(&["b".to_string()], &rel);
        assert_eq!(perfect.ndcg_at_10, 1.0);
        assert_eq!(metrics(&[], &rel), Metrics::default());
    }

    #[test]
    fn percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 51.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
