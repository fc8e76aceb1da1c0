//! mistral.rs's own OpenAI-compatible routes over a loaded [`Engine`], for
//! `lore serve`. lore adds its endpoints, admission and logging around
//! them (`crate::serve`); the protocol itself is mistral.rs's.

use super::Engine;

/// The routes `lore serve` takes from mistral.rs (the rest of its router,
/// model unloading, ISQ, images and speech, stays unreachable).
pub const OPENAI_PATHS: [&str; 2] = ["/v1/chat/completions", "/v1/completions"];

impl Engine {
    /// mistral.rs's OpenAI-compatible router over this engine's model. Its
    /// own body limit is set to `max_body` so that it agrees with lore's.
    pub async fn openai_router(&self, max_body: usize) -> anyhow::Result<axum::Router> {
        mistralrs_server_core::mistralrs_server_router_builder::MistralRsServerRouterBuilder::new()
            .with_mistralrs(self.runner.clone())
            .with_max_body_limit(max_body)
            .build()
            .await
    }

    /// The ids mistral.rs knows the model by, which its routes accept in a
    /// request's `model` field besides "default".
    pub fn engine_model_ids(&self) -> Vec<String> {
        self.runner.list_models().unwrap_or_default()
    }
}
