//! lore: a terminal chatbot and agent that runs LLMs in-process through
//! mistral.rs and grounds them in your documents.
//!
//! Data flows one way:
//!
//! ```text
//! cli / tui / serve ──> app (settings → working objects, once)
//!           ──> tasks (ask, chat, support, classify, run; the conversation service)
//!           ──> grounding + index (passages, citations) and prompts (templates)
//!           ──> model (the LanguageModel interface; engine = mistral.rs behind it)
//!           ──> output sinks (text, JSON, JSON lines, the TUI's channel)
//! ```
//!
//! Only `engine` knows mistral.rs or candle; nothing below `app` reads
//! settings or knows clap; the policies every front end shares are in
//! `tasks::policy`.

pub mod agent;
pub mod app;
pub mod catalogue;
pub mod cli;
pub mod download;
pub mod engine;
pub mod error;
pub mod eval;
pub mod fs;
pub mod grounding;
pub mod index;
pub mod model;
pub mod output;
pub mod progress;
pub mod prompts;
pub mod sample_kb;
pub mod serve;
pub mod sessions;
pub mod settings;
pub mod tasks;
#[cfg(test)]
pub(crate) mod testrng;
pub mod tui;
