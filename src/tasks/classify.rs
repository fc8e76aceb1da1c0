//! `lore classify`: put each text under one label of a fixed set.
//!
//! The label is always one of the set: it is picked from the model's
//! first-token probabilities over the labels, or, when those cannot
//! separate the labels (shared prefixes, no label among the likely
//! tokens), by generation constrained to the label set.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::json;

use super::TaskError;
use crate::engine::{ChatMessage, Constraint, Engine, GenParams, Role};
use crate::index::{KnowledgeIndex, SearchOptions};
use crate::prompts::Template;

#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("{0}")]
    Labels(String),
    #[error("{path}: {message}")]
    Input { path: String, message: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Label {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

fn check_labels(labels: Vec<Label>, from: &str) -> Result<Vec<Label>, ClassifyError> {
    let mut out: Vec<Label> = Vec::new();
    for l in labels {
        if l.name.contains(['\n', '\t']) {
            return Err(ClassifyError::Labels(format!(
                "{from}: label {:?} contains a tab or newline",
                l.name
            )));
        }
        if !out.iter().any(|o| o.name == l.name) {
            out.push(l);
        }
    }
    if out.len() < 2 {
        return Err(ClassifyError::Labels(format!(
            "{from}: needs at least two distinct labels, got {}",
            out.len()
        )));
    }
    Ok(out)
}

/// Labels from `a,b,c`.
pub fn labels_from_list(list: &str) -> Result<Vec<Label>, ClassifyError> {
    let labels = list
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Label {
            name: s.to_string(),
            description: None,
        })
        .collect();
    check_labels(labels, "--labels")
}

/// Labels from a file: `.toml` (`[labels]` table of name = "description",
/// or `labels = ["a", "b"]`), or text with one label per line, optionally
/// `name: description`; `#` starts a comment line.
pub fn labels_from_file(path: &Path) -> Result<Vec<Label>, ClassifyError> {
    let from = path.display().to_string();
    let err = |message: String| ClassifyError::Input {
        path: from.clone(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    let labels = if path.extension().is_some_and(|e| e == "toml") {
        let v: toml::Table = toml::from_str(&text).map_err(|e| {
            err(e
                .to_string()
                .lines()
                .next()
                .unwrap_or("invalid TOML")
                .to_string())
        })?;
        match v.get("labels") {
            Some(toml::Value::Array(a)) => a
                .iter()
                .map(|x| {
                    x.as_str()
                        .map(|s| Label {
                            name: s.trim().to_string(),
                            description: None,
                        })
                        .ok_or_else(|| err("labels must be strings".into()))
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(toml::Value::Table(t)) => t
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|d| Label {
                            name: k.trim().to_string(),
                            description: Some(d.trim().to_string()).filter(|d| !d.is_empty()),
                        })
                        .ok_or_else(|| err(format!("labels.{k} must be a description string")))
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(err(
                "expected `labels = [\"a\", \"b\"]` or a [labels] table of name = \"description\""
                    .into(),
            )),
        }
    } else {
        text.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| match l.split_once(':') {
                Some((n, d)) => Label {
                    name: n.trim().to_string(),
                    description: Some(d.trim().to_string()).filter(|d| !d.is_empty()),
                },
                None => Label {
                    name: l.to_string(),
                    description: None,
                },
            })
            .collect()
    };
    check_labels(labels, &from)
}

/// One text to classify.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub text: String,
    pub gold: Option<String>,
}

/// How input lines become items.
#[derive(Debug, Clone, Default)]
pub struct InputSpec {
    /// JSONL field or CSV/TSV column (header required) holding the text.
    pub field: Option<String>,
    /// Field or column holding the gold label (for `--eval`).
    pub gold_field: Option<String>,
    /// Gold labels are wanted: without `gold_field`, lines are
    /// `label<TAB>text`.
    pub eval: bool,
}

/// Items read from `text`, and the number of empty lines skipped.
pub fn read_items(
    text: &str,
    spec: &InputSpec,
    from: &str,
) -> Result<(Vec<Item>, usize), ClassifyError> {
    let err = |message: String| ClassifyError::Input {
        path: from.to_string(),
        message,
    };
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let mut items = Vec::new();
    let mut empty = 0;
    if spec.field.is_some() || spec.gold_field.is_some() {
        let text_field = spec.field.as_deref().unwrap_or("text");
        if first.trim_start().starts_with('{') {
            for (n, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    empty += 1;
                    continue;
                }
                let v: serde_json::Value =
                    serde_json::from_str(line).map_err(|e| err(format!("line {}: {e}", n + 1)))?;
                let get = |f: &str| -> Result<String, ClassifyError> {
                    match v.get(f) {
                        Some(serde_json::Value::String(s)) => Ok(s.clone()),
                        Some(serde_json::Value::Null) | None => Err(err(format!(
                            "line {}: no field {f:?} (fields: {})",
                            n + 1,
                            v.as_object()
                                .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                                .unwrap_or_default()
                        ))),
                        Some(other) => Ok(other.to_string()),
                    }
                };
                let body = get(text_field)?;
                if body.trim().is_empty() {
                    empty += 1;
                    continue;
                }
                let id = v
                    .get("id")
                    .or_else(|| v.get("_id"))
                    .map(|x| {
                        x.as_str()
                            .map(String::from)
                            .unwrap_or_else(|| x.to_string())
                    })
                    .unwrap_or_else(|| (n + 1).to_string());
                let gold = match &spec.gold_field {
                    Some(g) => Some(get(g)?),
                    None => None,
                };
                items.push(Item {
                    id,
                    text: body,
                    gold,
                });
            }
        } else {
            let delimiter = if first.contains('\t') { b'\t' } else { b',' };
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .flexible(true)
                .from_reader(text.as_bytes());
            let headers = reader.headers().map_err(|e| err(e.to_string()))?.clone();
            let column = |f: &str| {
                headers.iter().position(|h| h.trim() == f).ok_or_else(|| {
                    err(format!(
                        "no column {f:?} in the header (columns: {})",
                        headers.iter().collect::<Vec<_>>().join(", ")
                    ))
                })
            };
            let text_col = column(text_field)?;
            let gold_col = spec.gold_field.as_deref().map(column).transpose()?;
            let id_col = headers.iter().position(|h| h == "id" || h == "_id");
            for (n, record) in reader.records().enumerate() {
                let record = record.map_err(|e| err(format!("row {}: {e}", n + 2)))?;
                let body = record.get(text_col).unwrap_or("").to_string();
                if body.trim().is_empty() {
                    empty += 1;
                    continue;
                }
                items.push(Item {
                    id: id_col
                        .and_then(|c| record.get(c))
                        .map(String::from)
                        .unwrap_or_else(|| (n + 1).to_string()),
                    text: body,
                    gold: gold_col.and_then(|c| record.get(c)).map(String::from),
                });
            }
        }
        return Ok((items, empty));
    }
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            empty += 1;
            continue;
        }
        if spec.eval {
            if n == 0 && line.trim().eq_ignore_ascii_case("label\ttext") {
                continue;
            }
            let Some((gold, body)) = line.split_once('\t') else {
                return Err(err(format!(
                    "line {}: --eval expects `label<TAB>text` (or --gold-field)",
                    n + 1
                )));
            };
            items.push(Item {
                id: (n + 1).to_string(),
                text: body.to_string(),
                gold: Some(gold.trim().to_string()),
            });
        } else {
            items.push(Item {
                id: (n + 1).to_string(),
                text: line.to_string(),
                gold: None,
            });
        }
    }
    Ok((items, empty))
}

/// A labelled example.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Example {
    pub text: String,
    pub label: String,
}

/// Where few-shot examples come from.
pub struct Examples {
    index: KnowledgeIndex,
    /// Label frequencies among the examples: the prior when no example
    /// matches an item.
    prior: BTreeMap<String, usize>,
}

impl Examples {
    /// Examples from `label<TAB>text` lines (a `label<TAB>text` header is
    /// skipped), indexed in memory.
    pub fn from_tsv(text: &str, from: &str) -> Result<Examples, TaskError> {
        let spec = InputSpec {
            eval: true,
            ..InputSpec::default()
        };
        let (items, _) =
            read_items(text, &spec, from).map_err(|e| TaskError::Input(e.to_string()))?;
        let mut prior = BTreeMap::new();
        let docs: Vec<crate::index::loaders::Document> = items
            .iter()
            .map(|i| {
                *prior.entry(i.gold.clone().unwrap_or_default()).or_insert(0) += 1;
                crate::index::loaders::Document {
                    key: format!("{from}#{}", i.id),
                    title: String::new(),
                    text: i.text.clone(),
                    markup: crate::index::chunk::Markup::Plain,
                    label: i.gold.clone(),
                }
            })
            .collect();
        // One chunk per example, however long.
        let chunking = crate::index::chunk::ChunkOptions {
            target_tokens: usize::MAX / 4,
            overlap_tokens: 0,
        };
        let index = KnowledgeIndex::in_memory("examples", from, &docs, chunking)?;
        Ok(Examples { index, prior })
    }

    /// Examples from an index built with `lore index add --label-field`.
    pub fn from_index(index: KnowledgeIndex) -> Examples {
        Examples {
            index,
            prior: BTreeMap::new(),
        }
    }

    /// The `k` examples most similar to `text`, with their BM25 scores.
    pub fn nearest(&self, text: &str, k: usize) -> Result<Vec<(Example, f32)>, TaskError> {
        let hits = self.index.search(
            text,
            &SearchOptions {
                limit: k,
                snippet_chars: 0,
                ..SearchOptions::default()
            },
        )?;
        Ok(hits
            .into_iter()
            .filter_map(|h| {
                let label = h.label?;
                // Examples show what the labels mean; they need not be read
                // in full, and k long ones would crowd out the item.
                let keep = (400.0 / 0.95) / h.text.len().max(1) as f64;
                let text = cut(&h.text, keep).to_string();
                Some((Example { text, label }, h.score))
            })
            .collect())
    }
}

/// How to pick a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Ask the model (with retrieved examples when given)
    Model,
    /// Vote of the nearest labelled examples, no model call
    Knn,
}

pub struct Classifier<'a> {
    pub engine: Option<&'a Engine>,
    pub template: &'a Template,
    pub labels: &'a [Label],
    pub examples: Option<&'a Examples>,
    /// Examples per item.
    pub k: usize,
    pub method: Method,
    /// Longer items are cut to this many tokens (and reported).
    pub max_item_tokens: usize,
    /// The label distribution for a content-free text (see
    /// [`Classifier::calibrate`]); item scores are divided by it.
    pub calibration: Option<Vec<f64>>,
}

/// The result for one item.
#[derive(Debug, Clone, Serialize)]
pub struct Classified {
    pub id: String,
    pub text: String,
    pub label: String,
    /// Probability of `label`; null when the model gave no label among its
    /// likely first tokens and the label came from constrained generation.
    pub score: Option<f64>,
    /// Distribution over all labels (same caveat as `score`).
    pub scores: Option<BTreeMap<String, f64>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gold: Option<String>,
    /// The text was cut to fit the context.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// Tokens of the model's first-token distribution looked at.
const TOP_TOKENS: usize = 200;

/// Spreads first-token probabilities over the labels each token can begin
/// (case-insensitive, leading spaces ignored), normalised to sum to 1.
/// Returns the distribution and, per label, the share of tokens that begin
/// only that label (on the same scale); `None` when no likely token begins
/// any label.
pub fn label_scores(dist: &[(String, f64)], labels: &[Label]) -> Option<(Vec<f64>, Vec<f64>)> {
    let names: Vec<String> = labels.iter().map(|l| l.name.to_lowercase()).collect();
    let mut mass = vec![0.0; labels.len()];
    let mut exclusive = vec![0.0; labels.len()];
    for (token, p) in dist {
        let t = token.trim_start().to_lowercase();
        if t.is_empty() {
            continue;
        }
        let matching: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.starts_with(&t) || t.starts_with(n.as_str()))
            .map(|(i, _)| i)
            .collect();
        for &i in &matching {
            mass[i] += p / matching.len() as f64;
        }
        if let [only] = matching[..] {
            exclusive[only] += p;
        }
    }
    let total: f64 = mass.iter().sum();
    if total <= 0.0 {
        return None;
    }
    Some((
        mass.iter().map(|m| m / total).collect(),
        exclusive.iter().map(|m| m / total).collect(),
    ))
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold(
            (0, f64::MIN),
            |best, (i, &x)| if x > best.1 { (i, x) } else { best },
        )
        .0
}

impl Classifier<'_> {
    fn messages(&self, text: &str, examples: &[Example]) -> Result<Vec<ChatMessage>, TaskError> {
        let rendered = self
            .template
            .render_with(minijinja::Value::from_serialize(json!({
                "labels": self.labels,
                "examples": examples,
                "text": text,
            })))
            .map_err(TaskError::Prompt)?;
        let mut out = Vec::new();
        if let Some(system) = rendered.system {
            out.push(ChatMessage::new(Role::System, system));
        }
        out.push(ChatMessage::new(Role::User, rendered.user));
        Ok(out)
    }

    /// Labels one item.
    pub async fn classify(&self, item: &Item) -> Result<Classified, TaskError> {
        let nearest = match self.examples {
            Some(ex) if self.k > 0 => ex.nearest(&item.text, self.k)?,
            _ => Vec::new(),
        };
        let done = |label: String, scores: Option<Vec<f64>>, truncated: bool| {
            let i = self.labels.iter().position(|l| l.name == label);
            Classified {
                id: item.id.clone(),
                text: item.text.clone(),
                score: scores.as_ref().zip(i).map(|(s, i)| s[i]),
                scores: scores.map(|s| {
                    self.labels
                        .iter()
                        .zip(s)
                        .map(|(l, p)| (l.name.clone(), p))
                        .collect()
                }),
                label,
                gold: item.gold.clone(),
                truncated,
            }
        };
        if self.method == Method::Knn {
            let mut votes = vec![0.0; self.labels.len()];
            for (ex, score) in &nearest {
                if let Some(i) = self.labels.iter().position(|l| l.name == ex.label) {
                    votes[i] += f64::from(*score);
                }
            }
            if votes.iter().sum::<f64>() <= 0.0 {
                if let Some(ex) = self.examples {
                    for (i, l) in self.labels.iter().enumerate() {
                        votes[i] = *ex.prior.get(&l.name).unwrap_or(&0) as f64;
                    }
                }
            }
            let total: f64 = votes.iter().sum();
            if total <= 0.0 {
                let uniform = vec![1.0 / self.labels.len() as f64; self.labels.len()];
                return Ok(done(self.labels[0].name.clone(), Some(uniform), false));
            }
            let scores: Vec<f64> = votes.iter().map(|v| v / total).collect();
            let best = argmax(&scores);
            return Ok(done(self.labels[best].name.clone(), Some(scores), false));
        }
        let Some(engine) = self.engine else {
            return Err(TaskError::Input("the model method needs a model".into()));
        };
        let examples: Vec<Example> = nearest.into_iter().map(|(e, _)| e).collect();
        let (messages, truncated) = self.fit(engine, &item.text, &examples).await?;
        let dist = engine
            .first_token_distribution(&messages, TOP_TOKENS)
            .await?;
        let scored = label_scores(&dist, self.labels).map(|(s, e)| self.calibrated(s, e));
        if let Some((scores, exclusive)) = &scored {
            // Decided by tokens that begin only the winner: no split of a
            // shared prefix ("b" for billing and bug) could change it.
            let best = argmax(exclusive);
            let decided = (0..scores.len())
                .filter(|&i| i != best)
                .all(|i| exclusive[best] > scores[i]);
            if exclusive[best] > 0.0 && decided {
                return Ok(done(
                    self.labels[best].name.clone(),
                    Some(scores.clone()),
                    truncated,
                ));
            }
        }
        let label = self
            .constrained(engine, &messages, scored.as_ref().map(|s| &s.0))
            .await?;
        Ok(done(label, scored.map(|s| s.0), truncated))
    }

    /// Measures the model's bias towards each label with a content-free
    /// text ("N/A"), as in contextual calibration (Zhao et al., 2021):
    /// small models otherwise put most of their mass on whichever label
    /// starts like a common first word ("A..." for Abbreviation).
    pub async fn calibrate(&mut self) -> Result<(), TaskError> {
        let Some(engine) = self.engine else {
            return Ok(());
        };
        let messages = self.messages("N/A", &[])?;
        let dist = engine
            .first_token_distribution(&messages, TOP_TOKENS)
            .await?;
        self.calibration = label_scores(&dist, self.labels)
            // A label the model never starts has no bias to remove.
            .map(|(s, _)| s.into_iter().map(|p| p.max(1e-3)).collect());
        Ok(())
    }

    fn calibrated(&self, scores: Vec<f64>, exclusive: Vec<f64>) -> (Vec<f64>, Vec<f64>) {
        let Some(c) = &self.calibration else {
            return (scores, exclusive);
        };
        let s: Vec<f64> = scores.iter().zip(c).map(|(p, c)| p / c).collect();
        let e: Vec<f64> = exclusive.iter().zip(c).map(|(p, c)| p / c).collect();
        let total: f64 = s.iter().sum();
        if total <= 0.0 {
            return (scores, exclusive);
        }
        (
            s.iter().map(|x| x / total).collect(),
            e.iter().map(|x| x / total).collect(),
        )
    }

    /// Generation constrained to the label set: always a label.
    async fn constrained(
        &self,
        engine: &Engine,
        messages: &[ChatMessage],
        scores: Option<&Vec<f64>>,
    ) -> Result<String, TaskError> {
        let names: Vec<&str> = self.labels.iter().map(|l| l.name.as_str()).collect();
        let params = GenParams {
            max_tokens: 32,
            temperature: 0.0,
            constraint: Some(Constraint::one_of(&names)),
            ..GenParams::default()
        };
        let generation = engine.generate(messages, &params).await?;
        let (text, _) = super::stream_to_sink(generation, &mut super::NullSink).await?;
        let text = text.trim();
        if let Some(l) = self.labels.iter().find(|l| l.name == text) {
            return Ok(l.name.clone());
        }
        // Cut short: the longest label the output begins, else the best
        // scored label.
        let by_prefix = self
            .labels
            .iter()
            .filter(|l| !text.is_empty() && l.name.starts_with(text))
            .max_by_key(|l| l.name.len());
        Ok(match (by_prefix, scores) {
            (Some(l), _) => l.name.clone(),
            (None, Some(s)) => self.labels[argmax(s)].name.clone(),
            (None, None) => self.labels[0].name.clone(),
        })
    }

    /// The prompt for `text`, with the text cut (and reported) when the
    /// prompt would not fit the context.
    async fn fit(
        &self,
        engine: &Engine,
        text: &str,
        examples: &[Example],
    ) -> Result<(Vec<ChatMessage>, bool), TaskError> {
        let mut text = text;
        let mut truncated = false;
        let tokens = engine.count_text_tokens(text).await?;
        if tokens > self.max_item_tokens {
            text = cut(text, self.max_item_tokens as f64 / tokens as f64);
            truncated = true;
        }
        // Room for the label and a little slack.
        let limit = engine.info().context_length.saturating_sub(40);
        let mut messages = self.messages(text, examples)?;
        let mut tokens = engine.count_tokens(&messages).await?;
        for _ in 0..8 {
            if tokens <= limit {
                return Ok((messages, truncated));
            }
            text = cut(text, limit as f64 / tokens as f64);
            truncated = true;
            messages = self.messages(text, examples)?;
            tokens = engine.count_tokens(&messages).await?;
        }
        Err(TaskError::Engine(crate::engine::EngineError::TooLarge {
            prompt: tokens,
            limit,
        }))
    }
}

/// The start of `text`, about `ratio` of it (a little less, so a token
/// estimate from the ratio lands under the limit), on a char boundary.
fn cut(text: &str, ratio: f64) -> &str {
    let mut keep = ((text.len() as f64) * ratio.min(1.0) * 0.95) as usize;
    while keep > 0 && !text.is_char_boundary(keep) {
        keep -= 1;
    }
    &text[..keep]
}

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

#[derive(Debug, Clone, Serialize)]
pub struct LabelMetrics {
    pub label: String,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

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
    let per_label: Vec<LabelMetrics> = (0..n)
        .map(|i| {
            let tp = confusion[i][i] as f64;
            let predicted: usize = (0..n).map(|g| confusion[g][i]).sum();
            let support: usize = confusion[i].iter().sum();
            let precision = if predicted > 0 {
                tp / predicted as f64
            } else {
                0.0
            };
            let recall = if support > 0 {
                tp / support as f64
            } else {
                0.0
            };
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            LabelMetrics {
                label: names[i].clone(),
                precision,
                recall,
                f1,
                support,
            }
        })
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
        accuracy: if scored > 0 {
            correct as f64 / scored as f64
        } else {
            0.0
        },
        macro_f1,
        per_label,
        labels: names,
        confusion,
        unknown_gold,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<Label> {
        names
            .iter()
            .map(|n| Label {
                name: n.to_string(),
                description: None,
            })
            .collect()
    }

    #[test]
    fn label_lists_need_two_distinct_labels() {
        assert_eq!(labels_from_list("a, b,,a").unwrap().len(), 2);
        assert!(labels_from_list("a,a")
            .unwrap_err()
            .to_string()
            .contains("at least two"));
    }

    #[test]
    fn label_files_in_toml_and_text() {
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("l.toml");
        std::fs::write(&toml, "[labels]\nbilling = \"money\"\nbug = \"\"\n").unwrap();
        let l = labels_from_file(&toml).unwrap();
        assert_eq!(l[0].description.as_deref(), Some("money"));
        assert_eq!(l[1].description, None);
        std::fs::write(&toml, "labels = [\"x\", \"y\"]\n").unwrap();
        assert_eq!(labels_from_file(&toml).unwrap().len(), 2);
        std::fs::write(&toml, "labels = [").unwrap();
        assert!(labels_from_file(&toml)
            .unwrap_err()
            .to_string()
            .contains("l.toml"));
        let txt = dir.path().join("l.txt");
        std::fs::write(&txt, "# c\npos: happy\nneg\n\n").unwrap();
        assert_eq!(labels_from_file(&txt).unwrap(), {
            let mut l = labels(&["pos", "neg"]);
            l[0].description = Some("happy".into());
            l
        });
    }

    #[test]
    fn first_token_mass_goes_to_the_labels_it_begins() {
        let l = labels(&["billing", "bug", "other"]);
        let dist = vec![
            ("The".to_string(), 0.5),
            (" bill".to_string(), 0.2),
            ("b".to_string(), 0.1),
            ("Other".to_string(), 0.1),
        ];
        let (s, ex) = label_scores(&dist, &l).unwrap();
        // billing 0.2 + 0.05, bug 0.05, other 0.1, over 0.4.
        assert!((s[0] - 0.625).abs() < 1e-9 && (s[1] - 0.125).abs() < 1e-9);
        assert_eq!(ex, vec![0.5, 0.0, 0.25]);
        assert!(label_scores(&[("The".into(), 1.0)], &l).is_none());
    }

    #[test]
    fn inputs_from_lines_jsonl_and_csv() {
        let spec = InputSpec::default();
        let (items, empty) = read_items("a\n\nb\n", &spec, "-").unwrap();
        assert_eq!((items.len(), empty, items[1].id.as_str()), (2, 1, "3"));
        let spec = InputSpec {
            field: Some("body".into()),
            gold_field: Some("y".into()),
            eval: true,
        };
        let (items, _) =
            read_items("{\"id\":7,\"body\":\"hi\",\"y\":\"pos\"}\n", &spec, "-").unwrap();
        assert_eq!(
            items[0],
            Item {
                id: "7".into(),
                text: "hi".into(),
                gold: Some("pos".into())
            }
        );
        let (items, _) = read_items("y,body\npos,\"hi, there\"\n", &spec, "-").unwrap();
        assert_eq!(items[0].text, "hi, there");
        let e = read_items("y\tother\npos\thi\n", &spec, "f.tsv")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no column \"body\"") && e.contains("y, other"),
            "{e}"
        );
        let e = read_items("{\"x\":1}\n", &spec, "f")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 1: no field \"body\""), "{e}");
        let eval = InputSpec {
            eval: true,
            ..InputSpec::default()
        };
        let (items, _) = read_items("label\ttext\npos\tgreat\n", &eval, "-").unwrap();
        assert_eq!(items.len(), 1);
        assert!(read_items("no tab here\n", &eval, "-").is_err());
    }

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
        };
        let e = evaluate(&[r("a", "a"), r("a", "b"), r("b", "b"), r("b", "b")], &l);
        assert_eq!(e.accuracy, 0.75);
        assert_eq!(e.confusion, vec![vec![1, 0], vec![1, 2]]);
        // a: p 0.5 r 1 f 2/3; b: p 1 r 2/3 f 0.8.
        assert!((e.macro_f1 - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-9);
    }
}
