//! Labelled examples, retrieved by similarity to the item: shown to the
//! model as few shots, or voting on their own (`--method knn`).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{cut, read_items, InputSpec};
use crate::index::chunk::{ChunkOptions, Markup};
use crate::index::loaders::Document;
use crate::index::{KnowledgeIndex, SearchOptions};
use crate::tasks::TaskError;

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
        if items.is_empty() {
            return Err(TaskError::Input(format!(
                "{from}: no labelled examples (`label<TAB>text` lines)"
            )));
        }
        let mut prior = BTreeMap::new();
        let docs: Vec<Document> = items
            .iter()
            .map(|i| {
                *prior.entry(i.gold.clone().unwrap_or_default()).or_insert(0) += 1;
                Document {
                    key: format!("{from}#{}", i.id),
                    title: String::new(),
                    text: i.text.clone(),
                    markup: Markup::Plain,
                    label: i.gold.clone(),
                }
            })
            .collect();
        // One chunk per example, however long.
        let chunking = ChunkOptions {
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

    /// How many examples carry `label` (0 for examples from an index,
    /// whose labels are not counted).
    pub fn prior(&self, label: &str) -> usize {
        self.prior.get(label).copied().unwrap_or(0)
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
