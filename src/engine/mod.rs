//! The local model: mistral.rs behind [`crate::model::LanguageModel`].
//!
//! Everything mistral.rs- and candle-specific stays in this module (and
//! `gguf`): the rest of lore sends [`ChatMessage`]s with [`GenParams`] and
//! reads [`Event`]s.

pub mod embed;
pub mod gguf;
pub mod remote;
pub mod serve;
pub mod spec;

use std::sync::Arc;
use std::time::Instant;

use either::Either;
use mistralrs::{
    GgufModelBuilder, MistralRs, ModelDType, RequestBuilder, Response, SamplingParams, StopTokens,
    TextMessageRole, TextMessages, TextModelBuilder, TokenSource,
};
use tokio::sync::mpsc;

use crate::model::{
    ChatMessage, Constraint, DeviceKind, Event, Finished, GenParams, Generation, ModelError,
    ModelInfo, Role, Timings, ToolCall, ToolSpec, Usage,
};
pub use spec::{ModelSpec, SpecError};

impl From<SpecError> for ModelError {
    fn from(e: SpecError) -> ModelError {
        ModelError::Spec(e.to_string())
    }
}

/// Options of [`Engine::load`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Run on the CPU even when a GPU backend is compiled in.
    pub force_cpu: bool,
    /// A `.jinja` or tokenizer_config-shaped `.json` chat template file.
    pub chat_template: Option<std::path::PathBuf>,
    /// Let mistral.rs log to stderr (never in the TUI).
    pub verbose: bool,
    /// Use at most this much of the model's context (`model.context`).
    pub context: Option<usize>,
}

/// A loaded model. Cheap to clone; clones share the model.
#[derive(Clone)]
pub struct Engine {
    model: Arc<mistralrs::Model>,
    /// The engine under `model`, which `lore serve` hands to mistral.rs's
    /// own OpenAI-compatible routes.
    runner: Arc<MistralRs>,
    info: ModelInfo,
}

/// Sends mistral.rs's log to stderr. Its own `with_logging` is never used:
/// it installs a subscriber writing to stdout and prints GGUF metadata
/// with `println!`, which would corrupt piped answers and, while an output
/// sink holds the stdout lock, deadlock.
fn init_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::builder()
        .with_default_directive(tracing_subscriber::filter::LevelFilter::INFO.into())
        .from_env_lossy();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

impl Engine {
    /// Loads a model. The load runs in its own task so that a panic inside
    /// mistral.rs (it panics on some malformed inputs) becomes an error.
    pub async fn load(spec: &ModelSpec, opts: &LoadOptions) -> Result<Engine, ModelError> {
        let started = Instant::now();
        if opts.verbose {
            init_logging();
        }
        let path = spec.display_path();
        let load_err = |message: String| ModelError::Load {
            path: path.clone(),
            message,
        };
        if let Some(t) = &opts.chat_template {
            let ok_ext = t.extension().is_some_and(|e| e == "jinja" || e == "json");
            if !ok_ext || !t.is_file() {
                return Err(load_err(format!(
                    "chat template {} must be an existing .jinja or .json file",
                    t.display()
                )));
            }
        }
        if let ModelSpec::Gguf { dir, file } = spec {
            // mistral.rs fails on a truncated or corrupt file with a
            // multi-line error or a panic; check the header first.
            gguf::validate(&dir.join(file)).map_err(|e| match e {
                gguf::ModelFileError::Read { message, .. } => load_err(message),
                other => load_err(other.to_string()),
            })?;
        }
        let task_spec = spec.clone();
        let task_opts = opts.clone();
        let handle = tokio::spawn(async move { build(&task_spec, &task_opts).await });
        let runner = match handle.await {
            Ok(Ok(runner)) => runner,
            Ok(Err(e)) => return Err(load_err(gguf::one_line(&format!("{e:#}")))),
            Err(join) => {
                let message = if join.is_panic() {
                    panic_message(join.into_panic())
                } else {
                    "loading was cancelled".to_string()
                };
                return Err(load_err(message));
            }
        };
        let model = mistralrs::Model::new(runner.clone());
        let device = match model.config() {
            Ok(c) if c.device.is_cuda() => DeviceKind::Cuda,
            Ok(c) if c.device.is_metal() => DeviceKind::Metal,
            _ => DeviceKind::Cpu,
        };
        let own = model.max_sequence_length().ok().flatten().unwrap_or(4096);
        let context_length = opts.context.map_or(own, |cap| cap.min(own));
        Ok(Engine {
            model: Arc::new(model),
            runner,
            info: ModelInfo {
                path: spec.display_path(),
                name: spec.name(),
                device,
                context_length,
                native_tools: template_renders_tools(spec, opts),
                load_time: started.elapsed(),
                exact_tokens: true,
                constraints: true,
            },
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Exact prompt size of `messages` after the chat template, including
    /// the generation prompt, as the engine will count it.
    async fn count_tokens(&self, messages: &[ChatMessage]) -> Result<usize, ModelError> {
        self.count_tokens_with_tools(messages, &[]).await
    }

    /// Exact prompt size with `tools` rendered by the chat template.
    pub async fn count_tokens_with_tools(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
    ) -> Result<usize, ModelError> {
        let tools = (!tools.is_empty()).then(|| tool_defs(tools));
        // The tokenize future must not be dropped early: mistral.rs 0.8.1
        // panics in its engine thread if the reply finds no receiver.
        let tokens = self
            .model
            .tokenize(
                Either::Left(text_messages(messages)),
                tools,
                true,
                true,
                None,
            )
            .await
            .map_err(|e| ModelError::Request(e.to_string()))?;
        Ok(tokens.len())
    }

    /// Tokens of a plain text, without chat template or special tokens.
    async fn count_text_tokens(&self, text: &str) -> Result<usize, ModelError> {
        let tokens = self
            .model
            .tokenize(Either::Right(text.to_string()), None, false, false, None)
            .await
            .map_err(|e| ModelError::Request(e.to_string()))?;
        Ok(tokens.len())
    }

    /// Starts generating a reply. The prompt is checked against the context
    /// first: one that does not fit is an error, never truncated. The
    /// reply's length is capped at what the context has left.
    ///
    /// Dropping the returned [`Generation`] cancels it; the engine stays
    /// usable for the next request.
    async fn generate(
        &self,
        messages: &[ChatMessage],
        params: &GenParams,
    ) -> Result<Generation, ModelError> {
        let prompt_tokens = self.prompt_tokens(messages, &params.tools).await?;
        let max_tokens = params
            .max_tokens
            .min(self.info.context_length - prompt_tokens)
            .max(1);
        let request = build_request(messages, params, max_tokens);

        let (tx, rx) = mpsc::channel(256);
        let model = self.model.clone();
        // The mistral.rs stream must be drained continuously: its channel
        // holds one item and an unread stream stalls the whole engine.
        let task = tokio::spawn(async move {
            drain(&model, request, prompt_tokens, tx).await;
        });
        // Aborting drops the mistral.rs stream, which cancels the sequence.
        Ok(Generation::new(rx, move || task.abort()))
    }
}

impl Engine {
    /// The prompt's size in tokens, or `TooLarge` when it leaves no room
    /// for a single generated token.
    async fn prompt_tokens(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
    ) -> Result<usize, ModelError> {
        let prompt = self.count_tokens_with_tools(messages, tools).await?;
        crate::model::check_fits(prompt, self.info.context_length)
    }

    /// The model's probabilities for the first token of its reply: the
    /// `top_n` most likely tokens as (text, probability), most likely
    /// first. Classification scores labels with these.
    async fn first_token_distribution(
        &self,
        messages: &[ChatMessage],
        top_n: usize,
    ) -> Result<Vec<(String, f64)>, ModelError> {
        self.prompt_tokens(messages, &[]).await?;
        // Temperature 1 with no top-k/top-p filter: mistral.rs then reports
        // the softmax of the raw logits. (Greedy requests report logits,
        // not probabilities.)
        let unfiltered = GenParams {
            temperature: 1.0,
            top_p: 1.0,
            ..GenParams::default()
        };
        let request = build_request(messages, &unfiltered, 1)
            .return_logprobs(true)
            .set_sampler_topn_logprobs(top_n);
        let response = self
            .model
            .send_chat_request(request)
            .await
            .map_err(|e| ModelError::Request(e.to_string()))?;
        let top = response
            .choices
            .into_iter()
            .next()
            .and_then(|c| c.logprobs)
            .and_then(|l| l.content)
            .and_then(|c| c.into_iter().next())
            .map(|first| first.top_logprobs)
            .unwrap_or_default();
        Ok(top
            .into_iter()
            // mistral.rs reports log10 probabilities.
            .map(|t| {
                (
                    t.bytes.unwrap_or_default(),
                    10f64.powf(f64::from(t.logprob)),
                )
            })
            .collect())
    }
}

async fn drain(
    model: &mistralrs::Model,
    request: RequestBuilder,
    prompt_tokens: usize,
    tx: mpsc::Sender<Event>,
) {
    let started = Instant::now();
    let mut stream = match model.stream_chat_request(request).await {
        Ok(s) => s,
        Err(e) => {
            let _ = tx.send(Event::Error(e.to_string())).await;
            return;
        }
    };
    let mut first_token: Option<Instant> = None;
    let mut chunks = 0usize;
    let finish = |reason: String, usage: Usage, first: Option<Instant>| {
        let now = Instant::now();
        let total = now.duration_since(started).as_secs_f64();
        let ttft = first.map(|f| f.duration_since(started).as_secs_f64());
        let after_first = first.map(|f| now.duration_since(f).as_secs_f64());
        let rate = |n: usize, secs: Option<f64>| match secs {
            Some(s) if s > 0.0 => n as f64 / s,
            _ => 0.0,
        };
        Event::Finished(Finished {
            finish_reason: reason,
            usage,
            timings: Timings {
                time_to_first_token_s: ttft.unwrap_or(total),
                prompt_tokens_per_s: rate(usage.prompt_tokens, ttft),
                generated_tokens_per_s: rate(
                    usage.completion_tokens.saturating_sub(1),
                    after_first,
                ),
                total_s: total,
            },
        })
    };
    while let Some(response) = stream.next().await {
        match response {
            Response::Chunk(chunk) => {
                chunks += 1;
                first_token.get_or_insert_with(Instant::now);
                let mut reason = None;
                for choice in chunk.choices {
                    if let Some(text) = choice.delta.reasoning_content.filter(|t| !t.is_empty()) {
                        if tx.send(Event::Reasoning(text)).await.is_err() {
                            return;
                        }
                    }
                    if let Some(text) = choice.delta.content.filter(|t| !t.is_empty()) {
                        if tx.send(Event::Delta(text)).await.is_err() {
                            return;
                        }
                    }
                    for call in choice.delta.tool_calls.unwrap_or_default() {
                        let event = Event::ToolCall(ToolCall {
                            name: call.function.name,
                            arguments: call.function.arguments,
                        });
                        if tx.send(event).await.is_err() {
                            return;
                        }
                    }
                    reason = reason.or(choice.finish_reason);
                }
                if let Some(reason) = reason {
                    let usage = match chunk.usage {
                        Some(u) => Usage {
                            prompt_tokens: u.prompt_tokens,
                            completion_tokens: u.completion_tokens,
                        },
                        None => Usage {
                            prompt_tokens,
                            completion_tokens: chunks,
                        },
                    };
                    let _ = tx.send(finish(reason, usage, first_token)).await;
                    return;
                }
            }
            Response::ModelError(message, _) => {
                let _ = tx.send(Event::Error(message)).await;
                return;
            }
            Response::InternalError(e) | Response::ValidationError(e) => {
                let _ = tx.send(Event::Error(e.to_string())).await;
                return;
            }
            _ => {}
        }
    }
    // mistral.rs ends the stream without a final chunk when generation
    // stops inside an incomplete UTF-8 sequence; report what was produced.
    let usage = Usage {
        prompt_tokens,
        completion_tokens: chunks,
    };
    let _ = tx.send(finish("length".into(), usage, first_token)).await;
}

fn text_messages(messages: &[ChatMessage]) -> TextMessages {
    messages.iter().fold(TextMessages::new(), |acc, m| {
        acc.add_message(role(m.role), content(m))
    })
}

/// A message's text as the chat template gets it. A past tool call is
/// written the way the Qwen/Hermes templates render `tool_calls` (and the
/// model wrote it), so the prompt matches what was generated and the prefix
/// cache holds; mistral.rs 0.8.1's structured form is stored under a key
/// those templates do not read.
fn content(m: &ChatMessage) -> String {
    let mut out = m.content.clone();
    for call in &m.tool_calls {
        if !out.is_empty() {
            out.push('\n');
        }
        let args = if call.arguments.trim().is_empty() {
            "{}"
        } else {
            call.arguments.trim()
        };
        out.push_str(&format!(
            "<tool_call>\n{{\"name\": {}, \"arguments\": {args}}}\n</tool_call>",
            serde_json::Value::String(call.name.clone())
        ));
    }
    out
}

fn tool_defs(tools: &[ToolSpec]) -> Vec<mistralrs::Tool> {
    tools
        .iter()
        .filter_map(|t| {
            serde_json::from_value(serde_json::json!({
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
            }))
            .ok()
        })
        .collect()
}

/// Whether the chat template in use renders a tool list: the override
/// file's, else the GGUF file's own.
fn template_renders_tools(spec: &ModelSpec, opts: &LoadOptions) -> bool {
    if let Some(t) = &opts.chat_template {
        return std::fs::read_to_string(t).is_ok_and(|s| gguf::renders_tools(&s));
    }
    match spec {
        ModelSpec::Gguf { dir, file } => {
            gguf::details(&dir.join(file)).is_ok_and(|d| d.template_tools)
        }
        ModelSpec::Safetensors { dir } => {
            std::fs::read_to_string(dir.join("tokenizer_config.json"))
                .is_ok_and(|s| gguf::renders_tools(&s))
        }
        ModelSpec::Hub { .. } => false,
    }
}

fn role(r: Role) -> TextMessageRole {
    match r {
        Role::System => TextMessageRole::System,
        Role::User => TextMessageRole::User,
        Role::Assistant => TextMessageRole::Assistant,
        Role::Tool => TextMessageRole::Tool,
    }
}

fn build_request(
    messages: &[ChatMessage],
    params: &GenParams,
    max_tokens: usize,
) -> RequestBuilder {
    let mut request = messages.iter().fold(RequestBuilder::new(), |acc, m| {
        acc.add_message(role(m.role), content(m))
    });
    if !params.tools.is_empty() {
        request = request
            .set_tools(tool_defs(&params.tools))
            .set_tool_choice(mistralrs::ToolChoice::Auto);
    }
    let repetition_penalty = (params.repeat_penalty != 1.0).then_some(params.repeat_penalty as f32);
    if params.temperature > 0.0 {
        // The builder's default sampler is greedy (top_k = 1), which would
        // ignore the temperature.
        request = request.set_sampling(SamplingParams {
            temperature: Some(params.temperature),
            top_p: Some(params.top_p),
            repetition_penalty,
            ..SamplingParams::neutral()
        });
    } else if repetition_penalty.is_some() {
        request = request.set_sampling(SamplingParams {
            repetition_penalty,
            ..SamplingParams::deterministic()
        });
    }
    request = request.set_sampler_max_len(max_tokens);
    if !params.stop.is_empty() {
        request = request.set_sampler_stop_toks(StopTokens::Seqs(params.stop.clone()));
    }
    match &params.constraint {
        Some(Constraint::Regex(r)) => {
            request = request.set_constraint(mistralrs::Constraint::Regex(r.clone()))
        }
        Some(Constraint::JsonSchema(s)) => {
            request = request.set_constraint(mistralrs::Constraint::JsonSchema(s.clone()))
        }
        None => {}
    }
    request
}

/// The engine for `spec`. Built from the builders' pipelines rather than
/// with their `build()`, which keeps the engine inside a `Model` where no
/// server can reach it; this is the same assembly without callbacks.
async fn build(spec: &ModelSpec, opts: &LoadOptions) -> anyhow::Result<Arc<MistralRs>> {
    use mistralrs::model_builder_trait::{build_gguf_pipeline, build_text_pipeline};
    let (pipeline, scheduler, add) = match builder(spec, opts) {
        Either::Left(gguf) => build_gguf_pipeline(gguf).await?,
        Either::Right(text) => build_text_pipeline(text).await?,
    };
    let engine = add.engine_config;
    Ok(mistralrs::core::MistralRsBuilder::new(
        pipeline,
        scheduler,
        engine.throughput_logging_enabled,
        engine.search_embedding_model,
    )
    .with_no_kv_cache(engine.no_kv_cache)
    .with_no_prefix_cache(engine.no_prefix_cache)
    .with_prefix_cache_n(engine.prefix_cache_n)
    .build()
    .await)
}

fn builder(spec: &ModelSpec, opts: &LoadOptions) -> Either<GgufModelBuilder, TextModelBuilder> {
    let template = opts.chat_template.as_ref().map(|p| p.display().to_string());
    match spec {
        ModelSpec::Gguf { dir, file } => {
            let mut b = GgufModelBuilder::new(dir.display().to_string(), vec![file.clone()])
                // Local files need no token; reading one could reach the network.
                .with_token_source(TokenSource::None)
                .with_max_num_seqs(4);
            if opts.force_cpu {
                b = b.with_force_cpu();
            }
            if let Some(t) = template {
                b = b.with_chat_template(t);
            }
            Either::Left(b)
        }
        ModelSpec::Hub {
            id,
            file: Some(file),
        } => {
            let mut b = GgufModelBuilder::new(id, vec![file.clone()]).with_max_num_seqs(4);
            if opts.force_cpu {
                b = b.with_force_cpu();
            }
            if let Some(t) = template {
                b = b.with_chat_template(t);
            }
            Either::Left(b)
        }
        ModelSpec::Safetensors { .. } | ModelSpec::Hub { file: None, .. } => {
            let (id, local) = match spec {
                ModelSpec::Safetensors { dir } => (dir.display().to_string(), true),
                ModelSpec::Hub { id, .. } => (id.clone(), false),
                ModelSpec::Gguf { .. } => unreachable!("handled above"),
            };
            let cpu = opts.force_cpu || mistralrs::best_device(false).is_ok_and(|d| d.is_cpu());
            let mut b = TextModelBuilder::new(id).with_max_num_seqs(4);
            if local {
                b = b.with_token_source(TokenSource::None);
            }
            if opts.force_cpu {
                b = b.with_force_cpu();
            }
            if cpu {
                // Auto picks BF16, which is very slow on CPUs.
                b = b.with_dtype(ModelDType::F32);
            }
            if let Some(t) = template {
                b = b.with_chat_template(t);
            }
            Either::Right(b)
        }
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".to_string());
    format!("the model loader crashed: {}", gguf::one_line(&text))
}

#[async_trait::async_trait]
impl crate::model::LanguageModel for Engine {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    async fn count_tokens(&self, messages: &[ChatMessage]) -> Result<usize, ModelError> {
        Engine::count_tokens(self, messages).await
    }

    async fn count_tokens_with_tools(
        &self,
        messages: &[ChatMessage],
        tools: &[ToolSpec],
    ) -> Result<usize, ModelError> {
        Engine::count_tokens_with_tools(self, messages, tools).await
    }

    async fn count_text_tokens(&self, text: &str) -> Result<usize, ModelError> {
        Engine::count_text_tokens(self, text).await
    }

    async fn generate(
        &self,
        messages: &[ChatMessage],
        params: &GenParams,
    ) -> Result<Generation, ModelError> {
        Engine::generate(self, messages, params).await
    }

    async fn first_token_distribution(
        &self,
        messages: &[ChatMessage],
        top_n: usize,
    ) -> Result<Vec<(String, f64)>, ModelError> {
        Engine::first_token_distribution(self, messages, top_n).await
    }
}
