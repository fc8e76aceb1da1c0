//! A stand-in model with canned replies, a word-count tokenizer and a
//! record of every request: the tasks' unit tests run on it in
//! milliseconds and assert exactly what was sent.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{
    check_fits, ChatMessage, DeviceKind, Event, Finished, GenParams, Generation, LanguageModel,
    ModelError, ModelInfo, Timings, ToolCall, Usage,
};

/// Tokens the scripted template adds around each message (role marker and
/// end of turn), and once for the generation prompt.
pub const MESSAGE_OVERHEAD: usize = 2;

/// One request as the model received it.
#[derive(Debug, Clone)]
pub struct Request {
    pub messages: Vec<ChatMessage>,
    pub params: GenParams,
}

/// Replies from a queue (then `default_reply`), streamed one word per
/// delta. A token is a whitespace-separated word.
pub struct ScriptedModel {
    info: ModelInfo,
    replies: Mutex<VecDeque<String>>,
    default_reply: String,
    distribution: Vec<(String, f64)>,
    stall_after: Option<usize>,
    requests: Mutex<Vec<Request>>,
}

impl ScriptedModel {
    /// A model with a context of `context_length` word-tokens that replies
    /// "ok" until given replies.
    pub fn new(context_length: usize) -> ScriptedModel {
        ScriptedModel {
            info: ModelInfo {
                path: "scripted".into(),
                name: "scripted".into(),
                device: DeviceKind::Cpu,
                context_length,
                native_tools: false,
                load_time: Duration::ZERO,
                exact_tokens: true,
                constraints: true,
            },
            replies: Mutex::new(VecDeque::new()),
            default_reply: "ok".into(),
            distribution: Vec::new(),
            stall_after: None,
            requests: Mutex::new(Vec::new()),
        }
    }

    /// Counts tokens as a remote server without a chat tokenizer does:
    /// reported as estimates.
    pub fn estimated(mut self) -> ScriptedModel {
        self.info.exact_tokens = false;
        self
    }

    /// Ignores constraints, as a remote server without guided decoding.
    pub fn unconstrained(mut self) -> ScriptedModel {
        self.info.constraints = false;
        self
    }

    /// Queues the next reply.
    pub fn reply(self, text: impl Into<String>) -> ScriptedModel {
        lock(&self.replies).push_back(text.into());
        self
    }

    /// The reply once the queue is empty.
    pub fn default_reply(mut self, text: impl Into<String>) -> ScriptedModel {
        self.default_reply = text.into();
        self
    }

    /// What `first_token_distribution` returns (cut to `top_n`).
    pub fn distribution(mut self, tokens: &[(&str, f64)]) -> ScriptedModel {
        self.distribution = tokens.iter().map(|(t, p)| (t.to_string(), *p)).collect();
        self
    }

    /// Every generation sends `n` deltas and then waits, never finishing,
    /// until it is dropped: a reply to cancel mid-way.
    pub fn stall_after(mut self, n: usize) -> ScriptedModel {
        self.stall_after = Some(n);
        self
    }

    /// The requests received so far (generations and distributions).
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.requests).clone()
    }

    fn tokens(messages: &[ChatMessage]) -> usize {
        messages
            .iter()
            .map(|m| words(&m.content) + MESSAGE_OVERHEAD)
            .sum::<usize>()
            + MESSAGE_OVERHEAD
    }

    fn record(&self, messages: &[ChatMessage], params: &GenParams) {
        lock(&self.requests).push(Request {
            messages: messages.to_vec(),
            params: params.clone(),
        });
    }
}

fn finished(reason: &str, prompt: usize, completion: usize) -> Finished {
    Finished {
        finish_reason: reason.into(),
        usage: Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
        },
        timings: Timings {
            time_to_first_token_s: 0.001,
            prompt_tokens_per_s: prompt as f64 / 0.001,
            generated_tokens_per_s: 1000.0,
            total_s: 0.002,
        },
    }
}

/// `<tool_call>{"name": "read", "arguments": {...}}</tool_call>` as a call.
fn native_call(reply: &str) -> Option<ToolCall> {
    let inner = reply.trim().strip_prefix("<tool_call>")?;
    let inner = inner.trim().trim_end_matches("</tool_call>");
    let v: serde_json::Value = serde_json::from_str(inner).ok()?;
    Some(ToolCall {
        name: v.get("name")?.as_str()?.to_string(),
        arguments: v
            .get("arguments")
            .map(|a| a.to_string())
            .unwrap_or_default(),
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A test that panicked while holding the lock has failed already.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn words(text: &str) -> usize {
    text.split_whitespace().count()
}

#[async_trait::async_trait]
impl LanguageModel for ScriptedModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    async fn count_tokens(&self, messages: &[ChatMessage]) -> Result<usize, ModelError> {
        Ok(ScriptedModel::tokens(messages))
    }

    async fn count_text_tokens(&self, text: &str) -> Result<usize, ModelError> {
        Ok(words(text))
    }

    async fn generate(
        &self,
        messages: &[ChatMessage],
        params: &GenParams,
    ) -> Result<Generation, ModelError> {
        let prompt = check_fits(ScriptedModel::tokens(messages), self.info.context_length)?;
        self.record(messages, params);
        let reply = lock(&self.replies)
            .pop_front()
            .unwrap_or_else(|| self.default_reply.clone());
        let room = params
            .max_tokens
            .min(self.info.context_length - prompt)
            .max(1);
        let pieces: Vec<String> = reply
            .split_inclusive(char::is_whitespace)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect();
        // With tools offered, a `<tool_call>{"name": .., "arguments": ..}`
        // reply is a native call, as mistral.rs parses it.
        if !params.tools.is_empty() {
            if let Some(call) = native_call(&reply) {
                let (tx, rx) = mpsc::channel(2);
                let _ = tx.try_send(Event::ToolCall(call));
                let _ = tx.try_send(Event::Finished(finished("tool_calls", prompt, 1)));
                return Ok(Generation::new(rx, || {}));
            }
        }
        let cut = pieces.len() > room;
        let pieces: Vec<String> = pieces.into_iter().take(room).collect();
        let (tx, rx) = mpsc::channel(pieces.len() + 1);
        let sent = self.stall_after.unwrap_or(usize::MAX).min(pieces.len());
        for p in &pieces[..sent] {
            // The channel has room for every piece: sending cannot fail.
            let _ = tx.try_send(Event::Delta(p.clone()));
        }
        if self.stall_after.is_some() {
            // Holding the sender keeps the stream open until it is dropped.
            return Ok(Generation::new(rx, move || drop(tx)));
        }
        let reason = if cut { "length" } else { "stop" };
        let _ = tx.try_send(Event::Finished(finished(reason, prompt, pieces.len())));
        Ok(Generation::new(rx, || {}))
    }

    async fn first_token_distribution(
        &self,
        messages: &[ChatMessage],
        top_n: usize,
    ) -> Result<Vec<(String, f64)>, ModelError> {
        check_fits(ScriptedModel::tokens(messages), self.info.context_length)?;
        self.record(messages, &GenParams::default());
        Ok(self.distribution.iter().take(top_n).cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Role;

    #[tokio::test]
    async fn replies_stream_in_order_then_the_default() {
        let m = ScriptedModel::new(100).reply("one two three").reply("four");
        let msgs = [ChatMessage::new(Role::User, "hi there")];
        assert_eq!(m.count_tokens(&msgs).await.unwrap(), 2 + 2 + 2);
        for want in ["one two three", "four", "ok"] {
            let mut g = m.generate(&msgs, &GenParams::default()).await.unwrap();
            let mut text = String::new();
            let finished = loop {
                match g.next().await.unwrap() {
                    Event::Delta(d) => text.push_str(&d),
                    Event::Finished(f) => break f,
                    other => panic!("unexpected {other:?}"),
                }
            };
            assert_eq!(text, want);
            assert_eq!(finished.finish_reason, "stop");
        }
        assert_eq!(m.requests().len(), 3);
    }

    #[tokio::test]
    async fn prompts_that_fill_the_context_are_too_large() {
        let m = ScriptedModel::new(8);
        let msgs = [ChatMessage::new(Role::User, "a b c d")];
        assert!(matches!(
            m.generate(&msgs, &GenParams::default()).await,
            Err(ModelError::TooLarge {
                prompt: 8,
                limit: 8
            })
        ));
    }

    #[tokio::test]
    async fn a_stalled_reply_stays_open_until_dropped() {
        let m = ScriptedModel::new(100).reply("a b c").stall_after(1);
        let msgs = [ChatMessage::new(Role::User, "x")];
        let mut g = m.generate(&msgs, &GenParams::default()).await.unwrap();
        assert_eq!(g.next().await, Some(Event::Delta("a ".into())));
        let waited = tokio::time::timeout(Duration::from_millis(50), g.next()).await;
        assert!(waited.is_err(), "a stalled reply must not finish");
    }
}
