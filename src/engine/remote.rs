//! A remote engine: any OpenAI-compatible server (`lore serve`, llama.cpp's
//! server, vLLM, mistral.rs, ollama) behind [`LanguageModel`], so that
//! every task runs against it unchanged.
//!
//! What such a server cannot give is handled openly: token counts come from
//! the server's tokenizer where it has an endpoint for one and are an
//! estimate otherwise ([`ModelInfo::exact_tokens`]); first-token
//! distributions come from `logprobs` where the server returns them, and
//! are empty otherwise, which sends classify to constrained or free
//! generation ([`ModelInfo::constraints`]).

use std::time::{Duration, Instant};

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::model::{
    ChatMessage, Constraint, DeviceKind, Event, Finished, GenParams, Generation, LanguageModel,
    ModelError, ModelInfo, Role, Timings, ToolCall, ToolSpec, Usage,
};

/// How to reach the server.
#[derive(Debug, Clone)]
pub struct RemoteOptions {
    /// Base URL, with or without a trailing `/v1`.
    pub endpoint: String,
    pub api_key: Option<String>,
    /// The model to request; `None`: the first one the server lists.
    pub model: Option<String>,
    /// The context to assume (`model.context`); `None`: what the server
    /// says, else [`ASSUMED_CONTEXT`].
    pub context: Option<usize>,
    /// Connecting, and each piece of a reply, may take at most this long.
    pub timeout: Duration,
}

/// The context assumed for a server that does not say its own.
pub const ASSUMED_CONTEXT: usize = 4096;

/// Bytes of text per token in the estimate used where the server has no
/// tokenizer endpoint: about right for English BPE vocabularies, an
/// overestimate of tokens for code and an underestimate for Chinese.
const ESTIMATE_BYTES_PER_TOKEN: usize = 3;

/// Tokens a chat template adds per message (role markers) in the estimate.
const ESTIMATE_TOKENS_PER_MESSAGE: usize = 4;

/// What the server offers for counting tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tokenizer {
    /// `lore serve`: exact counts of whole chat prompts.
    Lore,
    /// llama-cpp-python: `POST /extras/tokenize {"input"}`.
    Extras,
    /// llama.cpp's own server: `POST /tokenize {"content"}`.
    LlamaCpp,
    None,
}

pub struct RemoteModel {
    http: reqwest::Client,
    base: String,
    key: Option<String>,
    model: String,
    tokenizer: Tokenizer,
    /// mistral.rs (so `lore serve`) reports log10 probabilities.
    log10: bool,
    timeout: Duration,
    info: ModelInfo,
}

fn load_err(endpoint: &str, message: impl Into<String>) -> ModelError {
    ModelError::Load {
        path: endpoint.to_string(),
        message: message.into(),
    }
}

impl RemoteModel {
    /// Connects: lists the server's models and finds how it counts tokens.
    pub async fn connect(opts: &RemoteOptions) -> Result<RemoteModel, ModelError> {
        let started = Instant::now();
        let endpoint = opts.endpoint.trim();
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(ModelError::Spec(format!(
                "the engine URL must start with http:// or https://, got {endpoint:?}"
            )));
        }
        let base = endpoint.trim_end_matches('/');
        let base = base.strip_suffix("/v1").unwrap_or(base).to_string();
        let http = reqwest::Client::builder()
            .connect_timeout(opts.timeout.min(Duration::from_secs(10)))
            .build()
            .map_err(|e| load_err(endpoint, e.to_string()))?;
        let mut remote = RemoteModel {
            http,
            base,
            key: opts.api_key.clone(),
            model: String::new(),
            tokenizer: Tokenizer::None,
            log10: false,
            timeout: opts.timeout,
            info: ModelInfo {
                path: endpoint.to_string(),
                name: String::new(),
                device: DeviceKind::Remote,
                context_length: ASSUMED_CONTEXT,
                native_tools: false,
                load_time: Duration::ZERO,
                exact_tokens: false,
                constraints: false,
            },
        };
        let listed = remote
            .get_json("/v1/models")
            .await
            .map_err(|e| load_err(endpoint, e))?;
        let ids: Vec<String> = listed["data"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| m["id"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        remote.model = match &opts.model {
            Some(m) if ids.is_empty() || ids.contains(m) => m.clone(),
            Some(m) => {
                return Err(load_err(
                    endpoint,
                    format!(
                        "the server does not serve model {m:?}; it lists {}",
                        ids.join(", ")
                    ),
                ))
            }
            None => ids.first().cloned().ok_or_else(|| {
                load_err(
                    endpoint,
                    "the server's /v1/models lists no model; name one with model.remote_model",
                )
            })?,
        };
        remote.info.name = remote.model.clone();
        // `lore serve` says what it is, its context and its template's
        // tool support; other servers are probed for a tokenizer.
        let health = remote.get_json("/health").await.ok();
        let mut known_context = false;
        if let Some(h) = health.filter(|h| h["engine"] == "lore") {
            remote.tokenizer = Tokenizer::Lore;
            remote.log10 = true;
            remote.info.constraints = true;
            remote.info.exact_tokens = true;
            remote.info.native_tools = h["native_tools"].as_bool().unwrap_or(false);
            if let Some(n) = h["context_length"].as_u64() {
                remote.info.context_length = n as usize;
                known_context = true;
            }
        } else {
            for t in [Tokenizer::Extras, Tokenizer::LlamaCpp] {
                remote.tokenizer = t;
                if remote.text_tokens("hi").await.is_ok() {
                    break;
                }
                remote.tokenizer = Tokenizer::None;
            }
        }
        if let Some(c) = opts.context {
            remote.info.context_length = if known_context {
                c.min(remote.info.context_length)
            } else {
                c
            };
        }
        remote.info.load_time = started.elapsed();
        Ok(remote)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, self.url(path));
        match &self.key {
            Some(k) => r.bearer_auth(k),
            None => r,
        }
    }

    /// A JSON reply, or a one-line reason why none came.
    async fn send_json(&self, request: reqwest::RequestBuilder) -> Result<Value, String> {
        let response = tokio::time::timeout(self.timeout, request.send())
            .await
            .map_err(|_| format!("no answer within {} s", self.timeout.as_secs()))?
            .map_err(|e| reach_error(&e))?;
        let status = response.status();
        let body = tokio::time::timeout(self.timeout, response.text())
            .await
            .map_err(|_| format!("no answer within {} s", self.timeout.as_secs()))?
            .map_err(|e| e.to_string())?;
        if !status.is_success() {
            return Err(status_error(status, &body));
        }
        serde_json::from_str(&body).map_err(|_| {
            format!(
                "the server's reply is not JSON: {}",
                super::gguf::one_line(&body.chars().take(120).collect::<String>())
            )
        })
    }

    async fn get_json(&self, path: &str) -> Result<Value, String> {
        self.send_json(self.request(reqwest::Method::GET, path))
            .await
    }

    async fn post_json(&self, path: &str, body: &Value) -> Result<Value, String> {
        self.send_json(self.request(reqwest::Method::POST, path).json(body))
            .await
    }

    /// Tokens of `text` by the server's tokenizer.
    async fn text_tokens(&self, text: &str) -> Result<usize, String> {
        let (path, body) = match self.tokenizer {
            Tokenizer::Lore => ("/v1/lore/tokenize", json!({ "text": text })),
            Tokenizer::Extras => ("/extras/tokenize", json!({ "input": text })),
            Tokenizer::LlamaCpp => ("/tokenize", json!({ "content": text })),
            Tokenizer::None => return Ok(estimate(text)),
        };
        let reply = self.post_json(path, &body).await?;
        match &reply["tokens"] {
            Value::Array(a) => Ok(a.len()),
            Value::Number(n) => Ok(n.as_u64().unwrap_or(0) as usize),
            _ => Err("the tokenize reply holds no tokens".into()),
        }
    }

    async fn prompt_tokens(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
    ) -> Result<usize, ModelError> {
        if self.tokenizer == Tokenizer::Lore {
            let body = json!({ "messages": wire_messages(messages), "tools": tools });
            let reply = self
                .post_json("/v1/lore/tokenize", &body)
                .await
                .map_err(ModelError::Request)?;
            return reply["tokens"]
                .as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| ModelError::Request("the tokenize reply holds no count".into()));
        }
        // One tokenize request for the whole prompt, not one per message.
        let text: Vec<&str> = messages.iter().map(|m| m.content.as_str()).collect();
        let mut total = self
            .text_tokens(&text.join("\n"))
            .await
            .map_err(ModelError::Request)?;
        total += ESTIMATE_TOKENS_PER_MESSAGE * (messages.len() + 1);
        if !tools.is_empty() {
            total += estimate(&serde_json::to_string(tools).unwrap_or_default());
        }
        Ok(total)
    }

    fn chat_body(&self, messages: &[ChatMessage], params: &GenParams, max_tokens: usize) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": wire_messages(messages),
            "max_tokens": max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
        });
        if !params.stop.is_empty() {
            body["stop"] = json!(params.stop);
        }
        if params.repeat_penalty != 1.0 {
            // mistral.rs and vLLM spell it one way, llama.cpp the other;
            // servers ignore the spelling they do not know.
            body["repetition_penalty"] = json!(params.repeat_penalty);
            body["repeat_penalty"] = json!(params.repeat_penalty);
        }
        if !params.tools.is_empty() {
            body["tools"] = params
                .tools
                .iter()
                .map(|t| {
                    json!({"type": "function", "function": {
                        "name": t.name, "description": t.description, "parameters": t.parameters}})
                })
                .collect();
            body["tool_choice"] = json!("auto");
        }
        match &params.constraint {
            Some(Constraint::JsonSchema(schema)) => {
                body["response_format"] = json!({"type": "json_schema",
                    "json_schema": {"name": "reply", "schema": schema, "strict": true}});
            }
            Some(Constraint::Regex(r)) if self.info.constraints => {
                body["grammar"] = json!({"type": "regex", "value": r});
            }
            _ => {}
        }
        body
    }
}

/// The estimate used where the server has no tokenizer endpoint.
fn estimate(text: &str) -> usize {
    text.len().div_ceil(ESTIMATE_BYTES_PER_TOKEN)
}

fn reach_error(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if e.is_connect() {
        format!("cannot reach the server: {cause}")
    } else if e.is_timeout() {
        "the server did not answer in time".to_string()
    } else {
        format!("the request failed: {cause}")
    }
}

/// "the server answered 404 Not Found: model x is not served" from an
/// error reply in OpenAI's shape or any other.
fn status_error(status: reqwest::StatusCode, body: &str) -> String {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let message = parsed
        .as_ref()
        .and_then(|v| {
            v["error"]["message"]
                .as_str()
                .or(v["error"].as_str())
                .or(v["message"].as_str())
                .or(v["detail"].as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| body.chars().take(200).collect());
    let message = super::gguf::one_line(&message.trim());
    if message.is_empty() {
        format!("the server answered {status}")
    } else {
        format!("the server answered {status}: {message}")
    }
}

/// Messages in OpenAI's shape. lore keeps no call ids, so each call gets
/// one by position and the tool result after it answers that id.
fn wire_messages(messages: &[ChatMessage]) -> Vec<Value> {
    let mut last_call = String::new();
    let mut calls = 0usize;
    messages
        .iter()
        .map(|m| {
            let role = match m.role {
                Role::System => "system",
                Role::User => "user",
                Role::Assistant => "assistant",
                Role::Tool => "tool",
            };
            let mut out = json!({ "role": role, "content": m.content.clone() });
            if !m.tool_calls.is_empty() {
                let list: Vec<Value> = m
                    .tool_calls
                    .iter()
                    .map(|c| {
                        calls += 1;
                        last_call = format!("call_{calls}");
                        json!({"id": last_call, "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments}})
                    })
                    .collect();
                out["tool_calls"] = Value::Array(list);
            }
            if m.role == Role::Tool {
                out["tool_call_id"] = json!(last_call);
            }
            out
        })
        .collect()
}

/// Reads the server's SSE stream into events.
struct StreamReader {
    tx: mpsc::Sender<Event>,
    started: Instant,
    first: Option<Instant>,
    chunks: usize,
    prompt_tokens: usize,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    /// Tool calls being streamed, by index: (name, arguments).
    calls: Vec<(String, String)>,
}

impl StreamReader {
    /// Handles one event's data; `Ok(true)` once the stream is done.
    async fn on_data(&mut self, data: &str) -> Result<bool, String> {
        let data = data.trim();
        if data == "[DONE]" {
            return Ok(true);
        }
        if data.is_empty() {
            return Ok(false);
        }
        let chunk: Value = serde_json::from_str(data).map_err(|_| garbage(data))?;
        if let Some(e) = chunk.get("error") {
            let message = e["message"].as_str().or(e.as_str()).unwrap_or("unknown");
            return Err(format!("the server reported an error: {message}"));
        }
        let Some(choices) = chunk["choices"].as_array() else {
            return Err(garbage(data));
        };
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            self.usage = Some(Usage {
                prompt_tokens: u["prompt_tokens"].as_u64().unwrap_or(0) as usize,
                completion_tokens: u["completion_tokens"].as_u64().unwrap_or(0) as usize,
            });
        }
        for choice in choices {
            let delta = &choice["delta"];
            if let Some(t) = delta["reasoning_content"]
                .as_str()
                .filter(|t| !t.is_empty())
            {
                self.emit(Event::Reasoning(t.to_string())).await?;
            }
            if let Some(t) = delta["content"].as_str().filter(|t| !t.is_empty()) {
                self.emit(Event::Delta(t.to_string())).await?;
            }
            for call in delta["tool_calls"].as_array().into_iter().flatten() {
                let i = call["index"].as_u64().unwrap_or(self.calls.len() as u64) as usize;
                if self.calls.len() <= i {
                    self.calls.resize(i + 1, (String::new(), String::new()));
                }
                let f = &call["function"];
                self.calls[i].0.push_str(f["name"].as_str().unwrap_or(""));
                self.calls[i]
                    .1
                    .push_str(f["arguments"].as_str().unwrap_or(""));
            }
            if let Some(r) = choice["finish_reason"].as_str() {
                self.finish_reason = Some(r.to_string());
            }
        }
        Ok(false)
    }

    async fn emit(&mut self, event: Event) -> Result<(), String> {
        self.chunks += 1;
        self.first.get_or_insert_with(Instant::now);
        // The reader went away: the generation was cancelled.
        self.tx.send(event).await.map_err(|_| String::new())
    }

    async fn finish(mut self) {
        for (name, arguments) in std::mem::take(&mut self.calls) {
            if !name.is_empty() {
                let _ = self
                    .tx
                    .send(Event::ToolCall(ToolCall { name, arguments }))
                    .await;
            }
        }
        let usage = self.usage.unwrap_or(Usage {
            prompt_tokens: self.prompt_tokens,
            completion_tokens: self.chunks,
        });
        let now = Instant::now();
        let total = now.duration_since(self.started).as_secs_f64();
        let ttft = self
            .first
            .map(|f| f.duration_since(self.started).as_secs_f64());
        let after = self.first.map(|f| now.duration_since(f).as_secs_f64());
        let rate = |n: usize, s: Option<f64>| match s {
            Some(s) if s > 0.0 => n as f64 / s,
            _ => 0.0,
        };
        let finished = Finished {
            finish_reason: self.finish_reason.unwrap_or_else(|| "stop".into()),
            usage,
            timings: Timings {
                time_to_first_token_s: ttft.unwrap_or(total),
                prompt_tokens_per_s: rate(usage.prompt_tokens, ttft),
                generated_tokens_per_s: rate(usage.completion_tokens.saturating_sub(1), after),
                total_s: total,
            },
        };
        let _ = self.tx.send(Event::Finished(finished)).await;
    }
}

fn garbage(data: &str) -> String {
    let head: String = data.chars().take(80).collect();
    format!(
        "the server streamed something that is not an OpenAI chat chunk: {}",
        super::gguf::one_line(&head)
    )
}

async fn read_stream(response: reqwest::Response, mut reader: StreamReader, timeout: Duration) {
    let mut events = response.bytes_stream().eventsource();
    loop {
        let next = match tokio::time::timeout(timeout, events.next()).await {
            Ok(next) => next,
            Err(_) => {
                let message = format!("the server sent nothing for {} s", timeout.as_secs());
                let _ = reader.tx.send(Event::Error(message)).await;
                return;
            }
        };
        let failure = match next {
            Some(Ok(event)) => match reader.on_data(&event.data).await {
                Ok(false) => continue,
                Ok(true) => break,
                Err(e) if e.is_empty() => return,
                Err(e) => e,
            },
            Some(Err(e)) => format!("the server's stream broke off: {e}"),
            None if reader.finish_reason.is_some() => break,
            None => "the server closed the stream before the reply was finished".to_string(),
        };
        let _ = reader.tx.send(Event::Error(failure)).await;
        return;
    }
    reader.finish().await;
}

/// Probabilities from one token's `top_logprobs`, whichever way the server
/// spells the token (OpenAI: `token` text; mistral.rs: `bytes` text).
fn top_tokens(top: &[Value], log10: bool) -> Vec<(String, f64)> {
    top.iter()
        .filter_map(|t| {
            let text = match (&t["token"], &t["bytes"]) {
                (Value::String(s), _) => s.clone(),
                (_, Value::String(s)) => s.clone(),
                (_, Value::Array(b)) => {
                    let bytes: Vec<u8> = b
                        .iter()
                        .filter_map(|x| x.as_u64())
                        .map(|x| x as u8)
                        .collect();
                    String::from_utf8_lossy(&bytes).into_owned()
                }
                _ => return None,
            };
            let lp = t["logprob"].as_f64()?;
            let p = if log10 { 10f64.powf(lp) } else { lp.exp() };
            Some((text, p))
        })
        .collect()
}

#[async_trait::async_trait]
impl LanguageModel for RemoteModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    async fn count_tokens(&self, messages: &[ChatMessage]) -> Result<usize, ModelError> {
        self.prompt_tokens(messages, &[]).await
    }

    async fn count_tokens_with_tools(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
    ) -> Result<usize, ModelError> {
        self.prompt_tokens(messages, tools).await
    }

    async fn count_text_tokens(&self, text: &str) -> Result<usize, ModelError> {
        self.text_tokens(text).await.map_err(ModelError::Request)
    }

    async fn generate(
        &self,
        messages: &[ChatMessage],
        params: &GenParams,
    ) -> Result<Generation, ModelError> {
        let prompt = self.prompt_tokens(messages, &params.tools).await?;
        // An estimate must not refuse a prompt the server would take.
        let max_tokens = if self.info.exact_tokens {
            crate::model::check_fits(prompt, self.info.context_length)?;
            params.max_tokens.min(self.info.context_length - prompt)
        } else {
            params.max_tokens
        }
        .max(1);
        let mut body = self.chat_body(messages, params, max_tokens);
        body["stream"] = json!(true);
        body["stream_options"] = json!({"include_usage": true});
        let send = self
            .request(reqwest::Method::POST, "/v1/chat/completions")
            .json(&body)
            .send();
        let response = tokio::time::timeout(self.timeout, send)
            .await
            .map_err(|_| ModelError::Request("the server did not answer in time".into()))?
            .map_err(|e| ModelError::Request(reach_error(&e)))?;
        let status = response.status();
        if !status.is_success() {
            let text = response.text().await.unwrap_or_default();
            return Err(ModelError::Request(status_error(status, &text)));
        }
        let (tx, rx) = mpsc::channel(256);
        let reader = StreamReader {
            tx,
            started: Instant::now(),
            first: None,
            chunks: 0,
            prompt_tokens: prompt,
            finish_reason: None,
            usage: None,
            calls: Vec::new(),
        };
        // Aborting drops the response, which closes the connection: the
        // server cancels the generation.
        let task = tokio::spawn(read_stream(response, reader, self.timeout));
        Ok(Generation::new(rx, move || task.abort()))
    }

    async fn first_token_distribution(
        &self,
        messages: &[ChatMessage],
        top_n: usize,
    ) -> Result<Vec<(String, f64)>, ModelError> {
        let unfiltered = GenParams {
            temperature: 1.0,
            top_p: 1.0,
            ..GenParams::default()
        };
        let mut body = self.chat_body(messages, &unfiltered, 1);
        body["logprobs"] = json!(true);
        // OpenAI's own limit.
        body["top_logprobs"] = json!(top_n.min(20));
        let reply = self
            .post_json("/v1/chat/completions", &body)
            .await
            .map_err(ModelError::Request)?;
        let first = &reply["choices"][0]["logprobs"]["content"][0]["top_logprobs"];
        Ok(first
            .as_array()
            .map(|top| top_tokens(top, self.log10))
            .unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_results_answer_the_call_before_them() {
        let call = ToolCall {
            name: "read".into(),
            arguments: "{\"path\":\"a\"}".into(),
        };
        let wire = wire_messages(&[
            ChatMessage::new(Role::User, "hi"),
            ChatMessage::tool_call(call),
            ChatMessage::new(Role::Tool, "contents"),
        ]);
        assert_eq!(wire[1]["tool_calls"][0]["id"], "call_1");
        assert_eq!(wire[1]["tool_calls"][0]["function"]["name"], "read");
        assert_eq!(wire[2]["role"], "tool");
        assert_eq!(wire[2]["tool_call_id"], "call_1");
    }

    #[test]
    fn error_replies_become_one_line() {
        let s = reqwest::StatusCode::NOT_FOUND;
        assert_eq!(
            status_error(s, r#"{"error":{"message":"no such\nmodel"}}"#),
            "the server answered 404 Not Found: no such model"
        );
        assert_eq!(
            status_error(s, r#"{"message":"gone"}"#),
            "the server answered 404 Not Found: gone"
        );
        assert_eq!(
            status_error(s, "plain text"),
            "the server answered 404 Not Found: plain text"
        );
    }

    #[test]
    fn top_logprobs_read_in_either_spelling_and_base() {
        let openai = json!([{"token": "bug", "logprob": 0.0, "bytes": [98, 117, 103]}]);
        let mistral = json!([{"token": 7, "logprob": -1.0, "bytes": "bill"}]);
        let a = top_tokens(openai.as_array().unwrap(), false);
        assert_eq!(a, vec![("bug".to_string(), 1.0)]);
        let b = top_tokens(mistral.as_array().unwrap(), true);
        assert_eq!(b[0].0, "bill");
        assert!((b[0].1 - 0.1).abs() < 1e-12);
    }

    #[tokio::test]
    async fn a_stream_of_garbage_is_an_error_event() {
        let (tx, mut rx) = mpsc::channel(8);
        let mut reader = StreamReader {
            tx,
            started: Instant::now(),
            first: None,
            chunks: 0,
            prompt_tokens: 3,
            finish_reason: None,
            usage: None,
            calls: Vec::new(),
        };
        assert!(reader
            .on_data(r#"{"choices":[{"delta":{"content":"he"}}]}"#)
            .await
            .is_ok());
        assert_eq!(rx.recv().await, Some(Event::Delta("he".into())));
        let e = reader.on_data("<html>oops</html>").await.unwrap_err();
        assert!(
            e.contains("not an OpenAI chat chunk: <html>oops</html>"),
            "{e}"
        );
        let e = reader
            .on_data(r#"{"error":{"message":"overloaded"}}"#)
            .await
            .unwrap_err();
        assert_eq!(e, "the server reported an error: overloaded");
    }
}
