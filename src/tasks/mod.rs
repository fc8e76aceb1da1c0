//! The jobs lore does. A task takes its input, talks to the engine and
//! writes to a [`crate::output::Sink`]; it never knows whether that is a
//! terminal, a pipe or the TUI.

pub mod ask;
pub mod chat;
pub mod classify;
pub mod conversation;
pub mod grounded;
pub mod policy;
pub mod run;
pub mod support;
#[cfg(test)]
pub(crate) mod testkit;

use crate::model::{Event, Finished, Generation, ModelError};
use crate::output::Sink;

/// Forwards a generation's text to `sink` and returns the full reply with
/// how it finished.
pub async fn stream_to_sink<S: Sink + ?Sized>(
    mut generation: Generation,
    sink: &mut S,
) -> Result<(String, Finished), TaskError> {
    let mut text = String::new();
    while let Some(event) = generation.next().await {
        match event {
            Event::Delta(delta) => {
                text.push_str(&delta);
                sink.text(&delta).map_err(TaskError::Output)?;
            }
            Event::Finished(finished) => return Ok((text, finished)),
            Event::Error(message) => return Err(TaskError::Engine(ModelError::Request(message))),
            Event::Reasoning(_) | Event::ToolCall(_) => {}
        }
    }
    Err(TaskError::Engine(ModelError::Request(
        "the engine stopped without finishing the reply".into(),
    )))
}

/// Discards text: for tasks whose replies are consumed, not shown.
pub struct NullSink;

impl Sink for NullSink {
    fn text(&mut self, _: &str) -> std::io::Result<()> {
        Ok(())
    }
    fn end(&mut self, _: &serde_json::Value, _: Option<&str>) -> std::io::Result<()> {
        Ok(())
    }
    fn interrupted(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TaskError {
    #[error(transparent)]
    Engine(#[from] ModelError),
    #[error("cannot write output: {0}")]
    Output(std::io::Error),
    #[error(transparent)]
    Prompt(crate::prompts::PromptError),
    #[error(transparent)]
    Index(#[from] crate::index::IndexError),
    #[error("{0}")]
    Input(String),
}
