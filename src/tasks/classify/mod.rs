//! `lore classify`: put each text under one label of a fixed set.
//!
//! The label is always one of the set: it is picked from the model's
//! first-token probabilities over the labels, or, when those cannot
//! separate the labels (shared prefixes, no label among the likely
//! tokens), by generation constrained to the label set.
//!
//! Every model call of the classifier is in this file's `impl Classifier`;
//! the other modules only read, retrieve, schedule and score.

mod batch;
mod examples;
mod input;
pub(crate) mod labels;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

pub use batch::{classify_all, BatchError, BatchOptions, BatchSummary};
pub use examples::{Example, Examples};
pub use input::{read_items, InputSpec, Item};
pub use labels::{labels_from_file, labels_from_list, Label};

use super::TaskError;
use crate::model::{
    ChatMessage, Constraint, DeviceKind, GenParams, LanguageModel, ModelError, Role,
};
use crate::prompts::Template;

#[derive(Debug, thiserror::Error)]
pub enum ClassifyError {
    #[error("{0}")]
    Labels(String),
    #[error("{path}: {message}")]
    Input { path: String, message: String },
}

/// How to pick a label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Ask the model (with retrieved examples when given)
    Model,
    /// Vote of the nearest labelled examples, no model call
    Knn,
}

pub struct Classifier<'a> {
    pub model: Option<&'a dyn LanguageModel>,
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

/// What picked an item's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecidedBy {
    /// The model's first-token probabilities (logprobs).
    FirstToken,
    /// Generation constrained to the label set.
    Constrained,
    /// Free generation mapped to a label: a remote server that returns no
    /// logprobs and enforces no constraint.
    Generated,
    /// The nearest labelled examples' vote (`--method knn`).
    Knn,
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
    pub decided_by: DecidedBy,
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

    /// The result for `item` labelled `label`, with the distribution
    /// `scores` over the labels (in label order).
    fn result(
        &self,
        item: &Item,
        label: String,
        scores: Option<Vec<f64>>,
        truncated: bool,
        decided_by: DecidedBy,
    ) -> Classified {
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
            decided_by,
        }
    }

    /// Labels one item.
    pub async fn classify(&self, item: &Item) -> Result<Classified, TaskError> {
        let nearest = match self.examples {
            Some(ex) if self.k > 0 => ex.nearest(&item.text, self.k)?,
            _ => Vec::new(),
        };
        if self.method == Method::Knn {
            let (label, scores) = self.vote(&nearest);
            return Ok(self.result(item, label, Some(scores), false, DecidedBy::Knn));
        }
        let examples: Vec<Example> = nearest.iter().map(|(e, _)| e.clone()).collect();
        let (label, scores, truncated, by) = self.ask(&item.text, &examples).await?;
        // A model that gave no usable first-token probabilities and cannot
        // be constrained (a remote server without logprobs or guided
        // decoding) only guessed; with labelled examples at hand, their
        // vote is the better answer.
        if by == DecidedBy::Generated && !nearest.is_empty() {
            let (label, scores) = self.vote(&nearest);
            return Ok(self.result(item, label, Some(scores), truncated, DecidedBy::Knn));
        }
        Ok(self.result(item, label, scores, truncated, by))
    }

    /// The label the `nearest` examples vote for, weighted by their scores,
    /// and the vote shares; the examples' prior when none votes.
    fn vote(&self, nearest: &[(Example, f32)]) -> (String, Vec<f64>) {
        let mut votes = vec![0.0; self.labels.len()];
        for (ex, score) in nearest {
            if let Some(i) = self.labels.iter().position(|l| l.name == ex.label) {
                votes[i] += f64::from(*score);
            }
        }
        if votes.iter().sum::<f64>() <= 0.0 {
            if let Some(ex) = self.examples {
                for (i, l) in self.labels.iter().enumerate() {
                    votes[i] = ex.prior(&l.name) as f64;
                }
            }
        }
        let total: f64 = votes.iter().sum();
        if total <= 0.0 {
            let uniform = vec![1.0 / self.labels.len() as f64; self.labels.len()];
            return (self.labels[0].name.clone(), uniform);
        }
        let scores: Vec<f64> = votes.iter().map(|v| v / total).collect();
        let best = argmax(&scores);
        (self.labels[best].name.clone(), scores)
    }

    /// The model's label for `text`: from its first-token distribution when
    /// that decides, else by constrained generation. Returns the label, the
    /// distribution (when any label was among the likely tokens), whether
    /// the text was cut to fit, and what decided.
    async fn ask(
        &self,
        text: &str,
        examples: &[Example],
    ) -> Result<(String, Option<Vec<f64>>, bool, DecidedBy), TaskError> {
        let Some(engine) = self.model else {
            return Err(TaskError::Input("the model method needs a model".into()));
        };
        let (messages, truncated) = self.fit(engine, text, examples).await?;
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
                return Ok((
                    self.labels[best].name.clone(),
                    Some(scores.clone()),
                    truncated,
                    DecidedBy::FirstToken,
                ));
            }
        }
        let label = self
            .constrained(engine, &messages, scored.as_ref().map(|s| &s.0))
            .await?;
        let by = if engine.info().constraints {
            DecidedBy::Constrained
        } else {
            DecidedBy::Generated
        };
        Ok((label, scored.map(|s| s.0), truncated, by))
    }

    /// Whether the model runs on a GPU (false without a model).
    pub fn on_gpu(&self) -> bool {
        self.model
            .is_some_and(|e| e.info().device != DeviceKind::Cpu)
    }

    /// Measures the model's bias towards each label with a content-free
    /// text ("N/A"), as in contextual calibration (Zhao et al., 2021):
    /// small models otherwise put most of their mass on whichever label
    /// starts like a common first word ("A..." for Abbreviation).
    pub async fn calibrate(&mut self) -> Result<(), TaskError> {
        let Some(engine) = self.model else {
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
        engine: &dyn LanguageModel,
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
        engine: &dyn LanguageModel,
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
        Err(TaskError::Engine(ModelError::TooLarge {
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

#[cfg(test)]
mod tests {
    use super::labels::labels;
    use super::*;

    fn item(text: &str) -> Item {
        Item {
            id: "1".into(),
            text: text.into(),
            gold: None,
        }
    }

    fn classifier<'a>(
        model: &'a dyn LanguageModel,
        template: &'a Template,
        labels: &'a [Label],
    ) -> Classifier<'a> {
        Classifier {
            model: Some(model),
            template,
            labels,
            examples: None,
            k: 0,
            method: Method::Model,
            max_item_tokens: 64,
            calibration: None,
        }
    }

    #[tokio::test]
    async fn a_decisive_first_token_picks_the_label_with_its_probability() {
        use crate::model::scripted::ScriptedModel;
        let l = labels(&["billing", "bug", "other"]);
        let t = crate::tasks::testkit::template("classify");
        let m = ScriptedModel::new(4096).distribution(&[("bill", 0.6), ("other", 0.3), ("x", 0.1)]);
        let r = classifier(&m, &t, &l)
            .classify(&item("I was charged twice"))
            .await
            .unwrap();
        assert_eq!(r.label, "billing");
        assert!((r.score.unwrap() - 0.6 / 0.9).abs() < 1e-9, "{:?}", r.score);
        assert_eq!(m.requests().len(), 1, "no generation was needed");
    }

    #[tokio::test]
    async fn a_shared_prefix_is_settled_by_constrained_generation() {
        use crate::model::scripted::ScriptedModel;
        let l = labels(&["billing", "bug", "other"]);
        let t = crate::tasks::testkit::template("classify");
        let m = ScriptedModel::new(4096)
            .distribution(&[("b", 0.9), ("other", 0.1)])
            .reply("bug");
        let r = classifier(&m, &t, &l)
            .classify(&item("It crashes"))
            .await
            .unwrap();
        assert_eq!(r.label, "bug");
        let sent = m.requests();
        assert_eq!(sent.len(), 2);
        assert!(
            sent[1].params.constraint.is_some(),
            "the fallback is constrained"
        );
    }

    #[tokio::test]
    async fn without_logprobs_or_constraints_the_examples_vote() {
        use crate::model::scripted::ScriptedModel;
        let l = labels(&["billing", "bug"]);
        let t = crate::tasks::testkit::template("classify");
        // No distribution, and generation that ignores the label set.
        let m = ScriptedModel::new(4096).unconstrained().reply("hmm");
        let r = classifier(&m, &t, &l)
            .classify(&item("charged twice"))
            .await
            .unwrap();
        assert_eq!(r.decided_by, DecidedBy::Generated);
        let ex =
            Examples::from_tsv("billing\tI was charged twice\nbug\tit crashes\n", "t").unwrap();
        let mut c = classifier(&m, &t, &l);
        c.examples = Some(&ex);
        c.k = 2;
        let r = c.classify(&item("charged twice")).await.unwrap();
        assert_eq!(r.decided_by, DecidedBy::Knn);
        assert_eq!(r.label, "billing");
    }

    #[tokio::test]
    async fn a_long_item_is_cut_to_fit_and_reported() {
        use crate::model::scripted::ScriptedModel;
        let l = labels(&["billing", "bug", "other"]);
        let t = crate::tasks::testkit::template("classify");
        let m = ScriptedModel::new(4096).distribution(&[("other", 1.0)]);
        let long = "word ".repeat(500);
        let r = classifier(&m, &t, &l).classify(&item(&long)).await.unwrap();
        assert!(r.truncated);
        assert_eq!(r.label, "other");
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
}
