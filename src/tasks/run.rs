//! `lore run`: one prompt in, one reply out.

use serde::Serialize;

use super::{stream_to_sink, TaskError};
use crate::model::{conversation, ChatMessage, Finished, GenParams, LanguageModel};
use crate::output::Sink;

/// What to send: the prompt argument and/or piped text.
#[derive(Debug, Clone, Default)]
pub struct RunInput {
    pub prompt: Option<String>,
    pub stdin: Option<String>,
    pub system: Option<String>,
}

/// The structured result (`--format json`).
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub text: String,
    #[serde(flatten)]
    pub finished: Finished,
}

/// Joins the prompt and piped text into the user message: the prompt first,
/// then the piped text as a fenced block. Piped text alone is the prompt as
/// is. Returns `None` when both are empty.
pub fn user_message(input: &RunInput) -> Option<String> {
    let prompt = input
        .prompt
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let stdin = input
        .stdin
        .as_deref()
        .map(|s| s.trim_end_matches(['\n', '\r']))
        .filter(|s| !s.trim().is_empty());
    match (prompt, stdin) {
        (None, None) => None,
        (Some(p), None) => Some(p.to_string()),
        (None, Some(s)) => Some(s.to_string()),
        (Some(p), Some(s)) => {
            // A fence longer than any backtick run inside the text.
            let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
            let fence = "`".repeat(longest.max(2) + 1);
            Some(format!("{p}\n\n{fence}\n{s}\n{fence}"))
        }
    }
}

/// The chat sent to the model.
pub fn messages(input: &RunInput, user: String) -> Vec<ChatMessage> {
    conversation(input.system.as_deref(), &[], user)
}

/// Runs the prompt and streams the reply to `sink`.
pub async fn execute(
    model: &dyn LanguageModel,
    messages: &[ChatMessage],
    params: &GenParams,
    sink: &mut dyn Sink,
) -> Result<RunReport, TaskError> {
    let generation = model.generate(messages, params).await?;
    let (text, finished) = stream_to_sink(generation, sink).await?;
    Ok(RunReport { text, finished })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(prompt: Option<&str>, stdin: Option<&str>) -> RunInput {
        RunInput {
            prompt: prompt.map(String::from),
            stdin: stdin.map(String::from),
            system: None,
        }
    }

    #[test]
    fn prompt_then_stdin_as_fenced_block() {
        assert_eq!(
            user_message(&input(Some("Summarize"), Some("a\nb\n"))).unwrap(),
            "Summarize\n\n```\na\nb\n```"
        );
        assert_eq!(user_message(&input(None, Some("hi\n"))).unwrap(), "hi");
        assert_eq!(user_message(&input(Some("hi"), Some(""))).unwrap(), "hi");
        assert_eq!(user_message(&input(Some("  "), Some("\n\n"))), None);
        assert_eq!(user_message(&input(None, None)), None);
    }

    #[test]
    fn fence_is_longer_than_any_backticks_inside() {
        let msg = user_message(&input(Some("p"), Some("```rust\nx\n```"))).unwrap();
        assert!(msg.starts_with("p\n\n````\n"), "{msg}");
        assert!(msg.ends_with("\n````"), "{msg}");
    }

    #[test]
    fn system_prompt_comes_first_when_set() {
        let i = RunInput {
            system: Some("be brief".into()),
            ..input(Some("q"), None)
        };
        let m = messages(&i, "q".into());
        assert_eq!(m[0].role, crate::model::Role::System);
        assert_eq!(m[1].content, "q");
        assert_eq!(messages(&input(Some("q"), None), "q".into()).len(), 1);
    }
}
