//! Scoring predictions against gold labels (`lore classify --eval`).

use serde::Serialize;

use crate::tasks::classify::{Classified, Label};

/// Accuracy, macro-F1, per-label precision/recall and the confusion
/// matrix of predictions against gold labels.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    pub items: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    pub per_label: Vec<LabelMetrics>,
    /// `confusion[gold][predicted]`, in label order.
    pub labels: Vec<String>,
    pub confusion: Vec<Vec<usize>>,
    /// Gold labels outside the label set (counted as errors).
    pub unknown_gold: usize,
}

/// Precision, recall and F1 of one label.
#[derive(Debug, Clone, Serialize)]
pub struct LabelMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

/// Scores the results that have a gold label; the others are left out.
pub fn evaluate(results: &[Classified], labels: &[Label]) -> EvalReport {
    let names: Vec<String> = labels.iter().map(|l| l.name.clone()).collect();
    let n = names.len();
    let mut confusion = vec![vec![0usize; n]; n];
    let mut correct = 0;
    let mut unknown_gold = 0;
    let mut scored = 0;
    for r in results {
        let Some(gold) = &r.gold else { continue };
        scored += 1;
        let p = names.iter().position(|l| *l == r.label);
        match (names.iter().position(|l| l == gold), p) {
            (Some(g), Some(p)) => {
                confusion[g][p] += 1;
                if g == p {
                    correct += 1;
                }
            }
            _ => unknown_gold += 1,
        }
    }
    let per_label: Vec<LabelMetrics> = names
        .iter()
        .enumerate()
        .map(|(i, name)| label_metrics(&confusion, i, name))
        .collect();
    // Macro-F1 over labels that occur in the gold data, as scikit-learn
    // does with `labels=` the observed classes.
    let present: Vec<&LabelMetrics> = per_label.iter().filter(|m| m.support > 0).collect();
    let macro_f1 = if present.is_empty() {
        0.0
    } else {
        present.iter().map(|m| m.f1).sum::<f64>() / present.len() as f64
    };
    EvalReport {
        items: scored,
        accuracy: ratio(correct, scored),
        macro_f1,
        per_label,
        labels: names,
        confusion,
        unknown_gold,
    }
}

/// The metrics of label `i` from `confusion[gold][predicted]`.
fn label_metrics(confusion: &[Vec<usize>], i: usize, name: &str) -> LabelMetrics {
    let tp = confusion[i][i];
    let predicted: usize = confusion.iter().map(|row| row[i]).sum();
    let support: usize = confusion[i].iter().sum();
    let precision = ratio(tp, predicted);
    let recall = ratio(tp, support);
    let f1 = if precision + recall > 0.0 {
        2.0 * precision * recall / (precision + recall)
    } else {
        0.0
    };
    LabelMetrics {
        label: name.to_string(),
        precision,
        recall,
        f1,
        support,
    }
}

/// `part / whole`, 0 when there is nothing to divide.
fn ratio(part: usize, whole: usize) -> f64 {
    if whole > 0 {
        part as f64 / whole as f64
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tasks::classify::labels::labels;

    #[test]
    fn metrics_on_known_predictions() {
        let l = labels(&["a", "b"]);
        let r = |label: &str, gold: &str| Classified {
            id: String::new(),
            text: String::new(),
            label: label.into(),
            score: None,
            scores: None,
            gold: Some(gold.into()),
            truncated: false,
            decided_by: crate::tasks::classify::DecidedBy::FirstToken,
        };
        let e = evaluate(&[r("a", "a"), r("a", "b"), r("b", "b"), r("b", "b")], &l);
        assert_eq!(e.accuracy, 0.75);
        assert_eq!(e.confusion, vec![vec![1, 0], vec![1, 2]]);
        // a: p 0.5 r 1 f 2/3; b: p 1 r 2/3 f 0.8.
        assert!((e.macro_f1 - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-9);
    }
}
