//! `lore eval support`: scripted dialogues replayed through the support
//! agent, scored on retrieval (the expected article per turn), hand-over
//! precision and recall, valid citations and time to first token.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{ratio, Report};
use crate::tasks::support::{self, Agent, Dialogue};
use crate::tasks::{NullSink, TaskError};

/// A scripted dialogue of the evaluation set.
#[derive(Debug, Deserialize)]
pub struct EvalDialogue {
    #[serde(default)]
    pub name: String,
    pub turns: Vec<EvalTurn>,
    /// Whether the dialogue should end with a hand-over.
    pub handover: bool,
}

#[derive(Debug, Deserialize)]
pub struct EvalTurn {
    pub customer: String,
    /// Path suffix of the article that answers this turn; null when none does.
    pub article: Option<String>,
}

/// Hand-over decisions against the expected ones.
#[derive(Debug, Clone, Default, Serialize)]
pub struct HandoverCounts {
    pub true_positive: usize,
    pub false_positive: usize,
    pub false_negative: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SupportReport {
    pub dialogues: usize,
    pub turns_with_expected_article: usize,
    #[serde(skip)]
    pub hits: usize,
    pub retrieval_hit_rate: f64,
    pub handover_precision: f64,
    pub handover_recall: f64,
    pub handover: HandoverCounts,
    pub generated_turns: usize,
    #[serde(skip)]
    pub valid: usize,
    pub valid_citation_rate: f64,
    pub mean_time_to_first_token_s: f64,
    pub wall_s: f64,
    /// Turns whose retrieval missed the expected article (path, customer
    /// text, query).
    #[serde(skip)]
    pub misses: Vec<String>,
}

impl Report for SupportReport {
    fn rows(&self) -> Vec<(String, String)> {
        let h = &self.handover;
        vec![
            ("dialogues".into(), self.dialogues.to_string()),
            (
                "retrieval hit rate".into(),
                format!(
                    "{:.3}  ({}/{} turns include the expected article)",
                    self.retrieval_hit_rate, self.hits, self.turns_with_expected_article
                ),
            ),
            (
                "hand-over precision".into(),
                format!(
                    "{:.3}  ({} right, {} unexpected)",
                    self.handover_precision, h.true_positive, h.false_positive
                ),
            ),
            (
                "hand-over recall".into(),
                format!(
                    "{:.3}  ({} of {} expected)",
                    self.handover_recall,
                    h.true_positive,
                    h.true_positive + h.false_negative
                ),
            ),
            (
                "valid citations".into(),
                format!(
                    "{:.3}  ({}/{} generated replies)",
                    self.valid_citation_rate, self.valid, self.generated_turns
                ),
            ),
            (
                "mean time to first token".into(),
                format!("{:.2} s", self.mean_time_to_first_token_s),
            ),
        ]
    }
}

/// Reads every `*.json` dialogue in `dir`, in name order.
pub fn read_dialogues(dir: &Path) -> Result<Vec<(PathBuf, EvalDialogue)>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(format!("{}: no *.json dialogues", dir.display()));
    }
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| format!("cannot read {}: {e}", p.display()))?;
            let d: EvalDialogue =
                serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))?;
            Ok((p, d))
        })
        .collect()
}

/// Replays every dialogue through `agent` (with evaluation parameters)
/// and scores it. `progress` is called after each dialogue.
pub async fn run(
    agent: &Agent,
    dialogues: &[(PathBuf, EvalDialogue)],
    mut progress: impl FnMut(usize),
) -> Result<SupportReport, TaskError> {
    let started = std::time::Instant::now();
    let mut r = SupportReport {
        dialogues: dialogues.len(),
        ..SupportReport::default()
    };
    let mut ttft = Vec::new();
    for (i, (path, d)) in dialogues.iter().enumerate() {
        let mut dialogue = Dialogue::new();
        for t in &d.turns {
            if dialogue.handover.is_some() {
                break;
            }
            let rec = support::respond(agent, &mut dialogue, &t.customer, &mut NullSink).await?;
            if let Some(article) = &t.article {
                r.turns_with_expected_article += 1;
                if rec
                    .passages
                    .iter()
                    .any(|p| p.path.ends_with(article.as_str()))
                {
                    r.hits += 1;
                } else {
                    r.misses.push(format!(
                        "{}: {:?} (query {:?})",
                        path.display(),
                        t.customer,
                        rec.query
                    ));
                }
            }
            if let Some(s) = rec.time_to_first_token_s {
                r.generated_turns += 1;
                ttft.push(s);
                if rec.citations_valid && !rec.citations.is_empty() {
                    r.valid += 1;
                }
            }
        }
        let h = &mut r.handover;
        match (dialogue.handover.is_some(), d.handover) {
            (true, true) => h.true_positive += 1,
            (true, false) => h.false_positive += 1,
            (false, true) => h.false_negative += 1,
            (false, false) => {}
        }
        progress(i + 1);
    }
    let h = &r.handover;
    r.retrieval_hit_rate = ratio(r.hits, r.turns_with_expected_article);
    r.handover_precision = ratio(h.true_positive, h.true_positive + h.false_positive);
    r.handover_recall = ratio(h.true_positive, h.true_positive + h.false_negative);
    r.valid_citation_rate = ratio(r.valid, r.generated_turns);
    r.mean_time_to_first_token_s = if ttft.is_empty() {
        0.0
    } else {
        ttft.iter().sum::<f64>() / ttft.len() as f64
    };
    r.wall_s = started.elapsed().as_secs_f64();
    Ok(r)
}
