//! lore: a terminal chatbot and agent that runs LLMs in-process through
//! mistral.rs and grounds them in your documents.
//!
//! Data flows one way: `cli` -> `tasks` -> `engine` -> `output` sinks.

pub mod cli;
pub mod engine;
pub mod error;
pub mod index;
pub mod models;
pub mod output;
pub mod prompts;
pub mod sample_kb;
pub mod sessions;
pub mod settings;
pub mod tasks;
pub mod tui;
