//! Shared set-up of the tasks' unit tests: a small in-memory knowledge
//! base, the built-in templates, and the scripted model.

use std::sync::Arc;

use super::grounded::{Retrieval, TemplatePrompt};
use crate::index::chunk::{ChunkOptions, Markup};
use crate::index::loaders::Document;
use crate::index::KnowledgeIndex;
use crate::model::scripted::ScriptedModel;
use crate::model::Model;
use crate::prompts::{Library, Template};

pub const RETURNS: &str =
    "Returns: you can return an item within 30 days of delivery for a full refund.";
pub const SHIPPING: &str =
    "Shipping: parcels arrive in 3 to 5 working days; tracking links come by email.";
pub const BILLING: &str = "Billing: we accept cards and PayPal; invoices are in your account page.";

pub fn chunking() -> ChunkOptions {
    ChunkOptions {
        target_tokens: 200,
        overlap_tokens: 0,
    }
}

/// Three one-paragraph articles.
pub fn kb() -> KnowledgeIndex {
    let doc = |key: &str, text: &str| Document {
        key: key.into(),
        title: String::new(),
        text: text.into(),
        markup: Markup::Plain,
        label: None,
    };
    let docs = [
        doc("returns.md", RETURNS),
        doc("shipping.md", SHIPPING),
        doc("billing.md", BILLING),
    ];
    KnowledgeIndex::in_memory("kb", "kb", &docs, chunking()).expect("in-memory index")
}

pub fn retrieval() -> Retrieval {
    Retrieval {
        index: Some(Arc::new(kb())),
        top_k: 3,
        relevance: crate::grounding::Relevance::ANY,
        checks: crate::tasks::policy::Checks::NONE,
        chunking: chunking(),
    }
}

pub fn template(name: &str) -> Template {
    Library::new(std::path::Path::new("/nonexistent"))
        .get(name)
        .expect("built-in template")
}

pub fn qa() -> TemplatePrompt {
    TemplatePrompt::qa(template("qa"))
}

/// A scripted model and the same model as a [`Model`] handle.
pub fn model(m: ScriptedModel) -> (Arc<ScriptedModel>, Model) {
    let m = Arc::new(m);
    (m.clone(), m)
}

/// Keeps the streamed text.
#[derive(Default)]
pub struct Collect(pub String);

impl crate::output::Sink for Collect {
    fn text(&mut self, delta: &str) -> std::io::Result<()> {
        self.0.push_str(delta);
        Ok(())
    }
    fn end(&mut self, _: &serde_json::Value, _: Option<&str>) -> std::io::Result<()> {
        Ok(())
    }
    fn interrupted(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
