//! The model interface: what lore asks of a language model, with no
//! mistral.rs type in sight.
//!
//! Tasks, the TUI and sessions speak this vocabulary ([`ChatMessage`],
//! [`GenParams`], [`Event`]) and hold a [`Model`] (`Arc<dyn
//! LanguageModel>`). `engine::Engine` implements it over mistral.rs;
//! [`scripted::ScriptedModel`] implements it with canned replies so that
//! the tasks' budget, hand-over and citation rules have fast,
//! deterministic unit tests.

pub mod scripted;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
    /// A tool's result, answering the assistant's call before it.
    Tool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: Role,
    pub content: String,
    /// Calls the assistant made in this message (native tool calls).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

impl ChatMessage {
    pub fn new(role: Role, content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role,
            content: content.into(),
            tool_calls: Vec::new(),
        }
    }

    /// An assistant message that calls `call`.
    pub fn tool_call(call: ToolCall) -> ChatMessage {
        ChatMessage {
            role: Role::Assistant,
            content: String::new(),
            tool_calls: vec![call],
        }
    }
}

/// A function the model may call natively (through its chat template).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    pub name: String,
    pub description: String,
    /// JSON schema of the arguments object.
    pub parameters: serde_json::Value,
}

/// A call the model made: the function's name and its arguments as the
/// JSON text the model wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ToolCall {
    pub name: String,
    pub arguments: String,
}

/// `[system?] + history + user`: the shape of every prompt lore sends. An
/// empty or blank system prompt is left out rather than sent empty.
pub fn conversation(
    system: Option<&str>,
    history: &[ChatMessage],
    user: impl Into<String>,
) -> Vec<ChatMessage> {
    let mut out = Vec::with_capacity(history.len() + 2);
    if let Some(system) = system.filter(|s| !s.trim().is_empty()) {
        out.push(ChatMessage::new(Role::System, system));
    }
    out.extend(history.iter().cloned());
    out.push(ChatMessage::new(Role::User, user));
    out
}

/// Restricts what the model may generate.
#[derive(Debug, Clone, PartialEq)]
pub enum Constraint {
    Regex(String),
    JsonSchema(serde_json::Value),
}

impl Constraint {
    /// Exactly one of `choices`, written as given.
    pub fn one_of<S: AsRef<str>>(choices: &[S]) -> Constraint {
        let escaped: Vec<String> = choices.iter().map(|c| regex_escape(c.as_ref())).collect();
        Constraint::Regex(format!("({})", escaped.join("|")))
    }
}

fn regex_escape(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$#&-~".contains(c);
            special
                .then_some('\\')
                .into_iter()
                .chain(std::iter::once(c))
        })
        .collect()
}

/// Sampling and length settings of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenParams {
    pub max_tokens: usize,
    /// 0 is greedy.
    pub temperature: f64,
    pub top_p: f64,
    /// 1.0 is none; see `generation.repeat_penalty`.
    pub repeat_penalty: f64,
    pub stop: Vec<String>,
    pub constraint: Option<Constraint>,
    /// Functions offered for native tool calls; the calls come back as
    /// [`Event::ToolCall`].
    pub tools: Vec<ToolSpec>,
}

impl Default for GenParams {
    fn default() -> GenParams {
        GenParams {
            max_tokens: 512,
            temperature: 0.0,
            top_p: 1.0,
            repeat_penalty: 1.0,
            stop: Vec::new(),
            constraint: None,
            tools: Vec::new(),
        }
    }
}

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    Cpu,
    Cuda,
    Metal,
    /// An OpenAI-compatible server (`--engine URL`).
    Remote,
}

impl std::fmt::Display for DeviceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeviceKind::Cpu => "CPU",
            DeviceKind::Cuda => "CUDA",
            DeviceKind::Metal => "Metal",
            DeviceKind::Remote => "remote",
        })
    }
}

/// Facts about the loaded model.
#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    /// File path, directory or hub id.
    pub path: String,
    pub name: String,
    pub device: DeviceKind,
    /// Most tokens one sequence (prompt plus reply) may hold.
    pub context_length: usize,
    /// Whether the chat template renders a tool list, so the model can
    /// call tools natively.
    #[serde(skip)]
    pub native_tools: bool,
    #[serde(skip)]
    pub load_time: Duration,
    /// Whether token counts are the model's own tokenizer's. A remote
    /// server without a tokenize endpoint gets an estimate, and reports
    /// say so.
    #[serde(skip)]
    pub exact_tokens: bool,
    /// Whether [`GenParams::constraint`] is enforced. A remote server may
    /// not support guided decoding; classify then says its label came from
    /// free generation.
    #[serde(skip)]
    pub constraints: bool,
}

impl ModelInfo {
    /// The model facts that `--format json` reports carry.
    pub fn report_json(&self) -> serde_json::Value {
        let mut json = serde_json::json!({
            "path": self.path,
            "name": self.name,
            "context_length": self.context_length,
        });
        if !self.exact_tokens {
            json["token_counts"] = "estimated".into();
        }
        json
    }
}

/// Token counts of one reply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
}

/// Speed of one reply, measured by lore rather than taken from the engine
/// (mistral.rs's figures have millisecond resolution).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Timings {
    /// Seconds from sending the request to the first token.
    pub time_to_first_token_s: f64,
    /// Prompt tokens divided by the time to first token.
    pub prompt_tokens_per_s: f64,
    /// Tokens after the first, divided by the time since the first.
    pub generated_tokens_per_s: f64,
    pub total_s: f64,
}

/// How a reply ended.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finished {
    /// "stop" (end of turn or a stop sequence), "length" (max tokens), or
    /// another reason reported by the engine.
    pub finish_reason: String,
    pub usage: Usage,
    pub timings: Timings,
}

/// What a generation emits, in order: deltas, then one `Finished` or `Error`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Delta(String),
    Reasoning(String),
    ToolCall(ToolCall),
    Finished(Finished),
    Error(String),
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The model setting names nothing loadable.
    #[error("{0}")]
    Spec(String),
    #[error("could not load model {path}: {message}")]
    Load { path: String, message: String },
    #[error(
        "the prompt is {prompt} tokens but the model's context holds {limit}; shorten the input"
    )]
    TooLarge { prompt: usize, limit: usize },
    #[error("model request failed: {0}")]
    Request(String),
}

/// A reply being generated. Read events with [`Generation::next`]; drop it
/// to cancel.
pub struct Generation {
    rx: mpsc::Receiver<Event>,
    on_drop: Option<Box<dyn FnOnce() + Send>>,
}

impl Generation {
    /// A generation fed through `rx`; `on_drop` runs when the reader drops
    /// it (the engine cancels the sequence there).
    pub fn new(rx: mpsc::Receiver<Event>, on_drop: impl FnOnce() + Send + 'static) -> Generation {
        Generation {
            rx,
            on_drop: Some(Box::new(on_drop)),
        }
    }

    /// The next event, or `None` after `Finished` or `Error`.
    pub async fn next(&mut self) -> Option<Event> {
        self.rx.recv().await
    }
}

impl Drop for Generation {
    fn drop(&mut self) {
        if let Some(f) = self.on_drop.take() {
            f();
        }
    }
}

/// A language model: local (mistral.rs), scripted (tests), and later
/// remote. Every method is cancel-safe in the sense that dropping the
/// future or the [`Generation`] leaves the model usable.
#[async_trait::async_trait]
pub trait LanguageModel: Send + Sync {
    fn info(&self) -> &ModelInfo;

    /// Exact prompt size of `messages` after the chat template, including
    /// the generation prompt, as the model will count it.
    async fn count_tokens(&self, messages: &[ChatMessage]) -> Result<usize, ModelError>;

    /// Exact prompt size of `messages` with `tools` offered to the chat
    /// template. Models without native tools ignore them.
    async fn count_tokens_with_tools(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
    ) -> Result<usize, ModelError> {
        let _ = tools;
        self.count_tokens(messages).await
    }

    /// Tokens of a plain text, without chat template or special tokens.
    async fn count_text_tokens(&self, text: &str) -> Result<usize, ModelError>;

    /// Starts generating a reply. A prompt that does not fit the context
    /// is [`ModelError::TooLarge`], never truncated; the reply's length is
    /// capped at what the context has left.
    async fn generate(
        &self,
        messages: &[ChatMessage],
        params: &GenParams,
    ) -> Result<Generation, ModelError>;

    /// The `top_n` most likely first tokens of the reply as (text,
    /// probability), most likely first. Classification scores labels with
    /// these.
    async fn first_token_distribution(
        &self,
        messages: &[ChatMessage],
        top_n: usize,
    ) -> Result<Vec<(String, f64)>, ModelError>;
}

/// A shared handle on a loaded model.
pub type Model = Arc<dyn LanguageModel>;

/// At most how many bytes of text one token stands for. The longest token
/// of SmolLM2's vocabulary is 81 bytes (a newline and 80 spaces), and BPE
/// vocabularies rarely hold longer ones; this leaves room for them. Text of
/// more than `context × MAX_BYTES_PER_TOKEN` bytes cannot fit, which is
/// known without tokenizing it (tokenizing 100 MB takes minutes).
pub const MAX_BYTES_PER_TOKEN: usize = 128;

/// The fewest tokens `bytes` of text can take, when that is already at
/// least `limit` (so the text cannot fit a context of `limit`); `None`
/// when only an exact count can tell.
pub fn min_tokens_over(bytes: usize, limit: usize) -> Option<usize> {
    let least = bytes.div_ceil(MAX_BYTES_PER_TOKEN);
    (least >= limit).then_some(least)
}

/// `TooLarge` when a prompt of `prompt` tokens leaves no room for a single
/// generated token in a context of `limit`.
pub fn check_fits(prompt: usize, limit: usize) -> Result<usize, ModelError> {
    if prompt >= limit {
        return Err(ModelError::TooLarge { prompt, limit });
    }
    Ok(prompt)
}
