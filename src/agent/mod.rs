//! The agent: a loop that lets the model call read-only tools on a
//! workspace until it answers, within a step limit, a loop guard and the
//! model's context. Front ends drive it with [`Agent::turn`] and render
//! the [`protocol::Event`]s it emits; nothing here knows about terminals.
//!
//! Tool calls are *constrained*: every step is generated under a JSON
//! schema whose branches are the tools plus `answer`, with the path of
//! `read` an enum of the workspace's real files, so any model (SmolLM2's
//! template has no tool support) produces a call that parses and names a
//! file that exists.

pub mod fsroot;
pub mod protocol;
pub mod rollout;
mod step;
pub mod tools;
pub mod truncate;

use std::collections::HashMap;
use std::time::Instant;

use serde_json::{json, Value};
use tokio::sync::watch;

use crate::model::{
    ChatMessage, Constraint, Event as ModelEvent, GenParams, Model, Role, ToolCall, ToolSpec,
};
use fsroot::Root;
use protocol::{Event, StopReason, ToolStatus, TurnUsage};
use step::Parsed;
use tools::{Context, Registry};

/// Steps per user turn for models of at most about 1B parameters.
pub const SMALL_MODEL_STEPS: usize = 8;
/// Steps per user turn for larger models.
pub const LARGE_MODEL_STEPS: usize = 24;
/// Files named in the system prompt, so a small model knows where to look.
const PROMPT_FILES: usize = 60;
/// The share of the context the prompt may fill before old tool output is
/// elided.
const SHRINK_AT: f64 = 0.8;
/// Longest final answer, in characters.
const ANSWER_MAX_CHARS: usize = 1500;

pub const REPEAT_NOTE: &str =
    "You already ran this and the result is unchanged; do something else or answer.";
pub const INTERRUPTED_NOTE: &str =
    "(The previous turn was interrupted by the user before it finished.)";

/// How the model calls tools.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolFormat {
    /// Through the chat template's tool support; the engine parses calls.
    Native,
    /// Every step under a JSON schema of the tools and real paths.
    Constrained,
}

impl ToolFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolFormat::Native => "native",
            ToolFormat::Constrained => "constrained",
        }
    }
}

/// The `agent.tool_format` setting: a format, or `auto`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ToolChoiceSetting {
    Auto,
    Native,
    Constrained,
}

impl ToolChoiceSetting {
    /// Native when the model's template renders tools, unless forced.
    pub fn resolve(self, native_tools: bool) -> ToolFormat {
        match self {
            ToolChoiceSetting::Native => ToolFormat::Native,
            ToolChoiceSetting::Constrained => ToolFormat::Constrained,
            ToolChoiceSetting::Auto if native_tools => ToolFormat::Native,
            ToolChoiceSetting::Auto => ToolFormat::Constrained,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub max_steps: usize,
    /// Tokens one step may generate.
    pub step_tokens: usize,
    pub temperature: f64,
    pub repeat_penalty: f64,
    pub tool_format: ToolFormat,
}

impl Config {
    /// Step limits by model size: the file size stands in for the parameter
    /// count (a 1B model is under 1 GB at Q8_0 or smaller).
    pub fn for_model_file(bytes: u64) -> Config {
        Config {
            max_steps: if bytes > 1_000_000_000 {
                LARGE_MODEL_STEPS
            } else {
                SMALL_MODEL_STEPS
            },
            step_tokens: 400,
            temperature: 0.0,
            repeat_penalty: 1.0,
            tool_format: ToolFormat::Constrained,
        }
    }

    /// The agent's settings for `info`'s model: step limit (`max_steps`, 0
    /// by model size), tool format, and the sampling of `params` with the
    /// temperature capped as for grounded answers.
    pub fn resolve(
        info: &crate::model::ModelInfo,
        max_steps: u32,
        tool_format: ToolChoiceSetting,
        params: &GenParams,
    ) -> Config {
        let bytes = std::fs::metadata(&info.path).map(|m| m.len()).unwrap_or(0);
        let mut config = Config::for_model_file(bytes);
        if max_steps > 0 {
            config.max_steps = max_steps as usize;
        }
        config.tool_format = tool_format.resolve(info.native_tools);
        config.temperature = params
            .temperature
            .min(crate::tasks::policy::GROUNDED_TEMPERATURE_CAP);
        config.repeat_penalty = params.repeat_penalty;
        config
    }
}

/// One entry of the conversation as the agent keeps it; the model sees it
/// through [`Agent::messages`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", content = "content", rename_all = "snake_case")]
pub(crate) enum Item {
    /// A user's request; never dropped.
    Request(String),
    /// A step's call as the model wrote it.
    Call(String),
    /// A tool's result as the model was given it; `elided` once shrunk.
    Result {
        text: String,
        summary: String,
        elided: bool,
    },
    Answer(String),
}

/// How a turn ended, before it is reported.
struct Outcome {
    stop: StopReason,
    steps: usize,
    answer: String,
    error: Option<String>,
}

impl Outcome {
    fn new(stop: StopReason, steps: usize, answer: String, error: Option<String>) -> Outcome {
        Outcome {
            stop,
            steps,
            answer,
            error,
        }
    }
}

/// What ended a step.
enum Step {
    /// The reply's text and, in the native format, the engine's calls.
    Reply(String, Vec<ToolCall>, TurnUsage),
    Aborted,
    Failed(String),
}

pub struct Agent {
    model: Model,
    root: Root,
    registry: Registry,
    config: Config,
    system: String,
    /// The native tool specs (empty when calls are constrained).
    specs: Vec<ToolSpec>,
    paths: Vec<String>,
    search: Option<crate::tasks::grounded::Retrieval>,
    /// Every passage a search showed this session, numbered from 1.
    passages: Vec<crate::grounding::Passage>,
    items: Vec<Item>,
    turns: usize,
    interrupted: bool,
    calls: usize,
    log: Option<rollout::Writer>,
    log_error: Option<String>,
}

impl Agent {
    pub fn new(model: Model, root: Root, config: Config) -> Agent {
        let registry = Registry::read_only();
        let specs = match config.tool_format {
            ToolFormat::Native => step::specs(&registry),
            ToolFormat::Constrained => Vec::new(),
        };
        // The file list follows each request (see `turn`).
        Agent {
            model,
            root,
            registry,
            config,
            system: String::new(),
            specs,
            paths: Vec::new(),
            search: None,
            passages: Vec::new(),
            items: Vec::new(),
            turns: 0,
            interrupted: false,
            calls: 0,
            log: None,
            log_error: None,
        }
    }

    /// Offers `search` over `retrieval`'s index; answers that use it are
    /// checked against the passages it showed.
    pub fn with_search(mut self, retrieval: crate::tasks::grounded::Retrieval) -> Agent {
        if retrieval.index.is_none() {
            return self;
        }
        self.registry = Registry::read_only().with_search();
        if self.config.tool_format == ToolFormat::Native {
            self.specs = step::specs(&self.registry);
        }
        self.search = Some(retrieval);
        self
    }

    /// Records every item to `log` from now on.
    pub fn record(&mut self, log: rollout::Writer) {
        self.log = Some(log);
    }

    /// Continues the session logged at `path`: its items become the
    /// conversation and new ones are appended to the same file.
    pub fn resume(&mut self, path: &std::path::Path) -> Result<rollout::Meta, String> {
        let (meta, items) = rollout::read(path)?;
        self.turns = items
            .iter()
            .filter(|i| matches!(i, Item::Request(_)))
            .count();
        let last_request = items.iter().rev().find_map(|i| match i {
            Item::Request(t) => Some(t.clone()),
            _ => None,
        });
        self.items = items;
        self.offer_files(last_request.as_deref().unwrap_or(""));
        self.log =
            Some(rollout::Writer::append(path).map_err(|e| format!("{}: {e}", path.display()))?);
        Ok(meta)
    }

    /// The first error writing the session log, if any: the agent goes on
    /// without it rather than losing the turn.
    pub fn log_error(&self) -> Option<&str> {
        self.log_error.as_deref()
    }

    fn push(&mut self, item: Item) {
        if let Some(log) = &mut self.log {
            if let Err(e) = log.item(&item) {
                self.log_error
                    .get_or_insert_with(|| format!("{}: {e}", log.path().display()));
                self.log = None;
            }
        }
        self.items.push(item);
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    pub fn model_info(&self) -> &crate::model::ModelInfo {
        self.model.info()
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The prompt of the next step: the system prompt, then every item, in
    /// the shape the tool-call format expects.
    pub fn messages(&self) -> Vec<ChatMessage> {
        let native = self.config.tool_format == ToolFormat::Native;
        let mut out = vec![ChatMessage::new(Role::System, self.system.clone())];
        for item in &self.items {
            out.push(match item {
                Item::Request(t) => ChatMessage::new(Role::User, t.clone()),
                Item::Call(t) if native => match step::constrained(t) {
                    Ok(Parsed::Call { tool, args }) => ChatMessage::tool_call(ToolCall {
                        name: tool,
                        arguments: Value::Object(args).to_string(),
                    }),
                    _ => ChatMessage::new(Role::Assistant, t.clone()),
                },
                Item::Answer(t) if native => match step::constrained(t) {
                    Ok(Parsed::Answer(text)) => ChatMessage::new(Role::Assistant, text),
                    _ => ChatMessage::new(Role::Assistant, t.clone()),
                },
                Item::Call(t) | Item::Answer(t) => ChatMessage::new(Role::Assistant, t.clone()),
                Item::Result {
                    text,
                    summary,
                    elided,
                } => ChatMessage::new(
                    if native { Role::Tool } else { Role::User },
                    if *elided {
                        format!("[{summary}: output elided]")
                    } else {
                        text.clone()
                    },
                ),
            });
        }
        out
    }

    /// The schema a step is generated under: a call of one of the tools,
    /// or, when `may_answer`, the answer. The first step of a turn may not
    /// answer: small models otherwise answer from memory without looking.
    pub fn step_schema(&self, may_answer: bool) -> Value {
        let mut branches: Vec<Value> = self
            .registry
            .iter()
            .map(|t| {
                let mut props = serde_json::Map::new();
                props.insert("tool".into(), json!({"enum": [t.name()]}));
                let params = t.parameters(&self.paths);
                let mut required = vec![json!("tool")];
                if let Value::Object(p) = params {
                    // The first parameter is the one each tool needs.
                    if let Some(first) = p.keys().next() {
                        required.push(json!(first));
                    }
                    props.extend(p);
                }
                json!({"type": "object", "properties": props, "required": required, "additionalProperties": false})
            })
            .collect();
        if may_answer {
            branches.push(json!({
                "type": "object",
                "properties": {"tool": {"enum": ["answer"]}, "text": {"type": "string", "minLength": 1, "maxLength": ANSWER_MAX_CHARS}},
                "required": ["tool", "text"],
                "additionalProperties": false
            }));
        }
        // Without this, a small model pads a finished call with whitespace
        // until it runs out of tokens.
        json!({
            "anyOf": branches,
            "x-guidance": {"whitespace_flexible": false, "item_separator": ", ", "key_separator": ": "}
        })
    }

    /// Runs one user turn to its end, emitting events through `emit`. A
    /// `true` on `cancel` interrupts the step in progress.
    pub async fn turn(
        &mut self,
        text: &str,
        cancel: &mut watch::Receiver<bool>,
        emit: &mut dyn FnMut(Event),
    ) -> StopReason {
        self.turns += 1;
        let turn = self.turns;
        emit(Event::TurnStarted { turn });
        let request = if std::mem::take(&mut self.interrupted) {
            format!("{INTERRUPTED_NOTE}\n\n{text}")
        } else {
            text.to_string()
        };
        self.offer_files(text);
        self.push(Item::Request(request));
        let request_at = self.items.len() - 1;
        let mut usage = TurnUsage::default();
        let mut seen: HashMap<String, (usize, String)> = HashMap::new();
        let mut steps = 0;
        let outcome = loop {
            if steps >= self.config.max_steps {
                break Outcome::new(StopReason::StepLimit, steps, String::new(), None);
            }
            if let Err(e) = self.shrink(request_at).await {
                break Outcome::new(StopReason::Error, steps, String::new(), Some(e));
            }
            steps += 1;
            let may_answer = steps > 1 || self.config.max_steps == 1;
            let (reply, calls) = match self.step(cancel, may_answer).await {
                Step::Reply(r, calls, u) => {
                    usage.prompt_tokens += u.prompt_tokens;
                    usage.completion_tokens += u.completion_tokens;
                    (r, calls)
                }
                Step::Aborted => {
                    self.interrupted = true;
                    break Outcome::new(StopReason::Aborted, steps, String::new(), None);
                }
                Step::Failed(e) => {
                    break Outcome::new(StopReason::Error, steps, String::new(), Some(e));
                }
            };
            let parsed = match self.config.tool_format {
                ToolFormat::Native => step::native(&reply, &calls, &self.registry),
                ToolFormat::Constrained => match step::constrained(&reply) {
                    Ok(p) => p,
                    Err(e) => break Outcome::new(StopReason::Error, steps, String::new(), Some(e)),
                },
            };
            match parsed {
                Parsed::Answer(answer) => {
                    let record = match self.config.tool_format {
                        ToolFormat::Native => answer.clone(),
                        ToolFormat::Constrained => reply.trim().to_string(),
                    };
                    self.push(Item::Answer(record));
                    emit(Event::Delta {
                        text: answer.clone(),
                    });
                    self.check_sources(&answer, emit);
                    break Outcome::new(StopReason::Answered, steps, answer, None);
                }
                Parsed::Invalid { raw, error } => self.invalid(raw, error, emit),
                Parsed::Call { tool, args } => {
                    let record = match self.config.tool_format {
                        ToolFormat::Native => Parsed::call_record(&tool, &args),
                        ToolFormat::Constrained => reply.trim().to_string(),
                    };
                    self.push(Item::Call(record));
                    let args = Value::Object(args);
                    let key = format!("{tool} {args}");
                    let Some(t) = self.registry.get(&tool) else {
                        let e = format!("the model called an unknown tool: {tool}");
                        break Outcome::new(StopReason::Error, steps, String::new(), Some(e));
                    };
                    let risk = t.risk();
                    let call_id = self.next_call_id();
                    emit(Event::ToolStarted {
                        call_id: call_id.clone(),
                        tool: tool.clone(),
                        args: args.clone(),
                        risk,
                    });
                    if !self.execute(&mut seen, &key, call_id, &tool, &args, emit) {
                        break Outcome::new(StopReason::LoopDetected, steps, String::new(), None);
                    }
                }
            }
        };
        emit(Event::TurnCompleted {
            turn,
            steps: outcome.steps,
            stop: outcome.stop,
            answer: outcome.answer,
            usage,
            error: outcome.error,
        });
        outcome.stop
    }

    /// Path choices and the prompt's file list follow the request, so the
    /// likely files come first.
    fn offer_files(&mut self, request: &str) {
        self.paths = tools::ranked_files(&self.root, request, tools::PATH_CHOICES);
        self.system = system_prompt(&self.registry, &self.paths, self.config.tool_format);
    }

    /// Checks an answer's `[n]` markers against the passages searches
    /// showed, as `lore ask` does; reported only once a search has run.
    fn check_sources(&self, answer: &str, emit: &mut dyn FnMut(Event)) {
        if self.passages.is_empty() {
            return;
        }
        let (mut citations, valid) = crate::grounding::check_citations(answer, &self.passages);
        if citations.is_empty() {
            citations.extend(crate::grounding::attribute(answer, &self.passages));
        }
        if !valid {
            emit(Event::Warning {
                message: "the answer cites a passage number no search returned".into(),
            });
        }
        let supported = crate::grounding::support::check(answer, &self.passages, false).supported;
        emit(Event::Sources {
            citations,
            valid,
            supported,
        });
    }

    fn next_call_id(&mut self) -> String {
        self.calls += 1;
        format!("call_{}", self.calls)
    }

    /// Reports a native call that cannot run and tells the model why, so
    /// the next step can correct it.
    fn invalid(&mut self, raw: String, error: String, emit: &mut dyn FnMut(Event)) {
        let call_id = self.next_call_id();
        let tool = raw.split_whitespace().next().unwrap_or("").to_string();
        emit(Event::ToolStarted {
            call_id: call_id.clone(),
            tool: tool.clone(),
            args: Value::Null,
            risk: protocol::Risk::Read,
        });
        let text = format!("error: {error}");
        emit(Event::ToolCompleted {
            call_id,
            tool,
            status: ToolStatus::Invalid,
            wall_ms: 0,
            summary: format!("invalid call: {error}"),
            output: text.clone(),
        });
        self.push(Item::Call(raw));
        self.push(Item::Result {
            text,
            summary: "invalid call".into(),
            elided: false,
        });
    }

    /// Runs a call through the loop guard, reporting it; `false` when it
    /// is the third identical call, which ends the turn.
    fn execute(
        &mut self,
        seen: &mut HashMap<String, (usize, String)>,
        key: &str,
        call_id: String,
        tool: &str,
        args: &Value,
        emit: &mut dyn FnMut(Event),
    ) -> bool {
        let started = Instant::now();
        let seen_before = seen.get(key).cloned();
        let (status, text, summary) = match seen_before {
            Some((count, _)) if count >= 2 => {
                emit(Event::ToolCompleted {
                    call_id,
                    tool: tool.to_string(),
                    status: ToolStatus::Repeated,
                    wall_ms: 0,
                    summary: format!("{tool}: third identical call"),
                    output: String::new(),
                });
                return false;
            }
            Some((count, earlier)) => {
                seen.insert(key.to_string(), (count + 1, earlier.clone()));
                (
                    ToolStatus::Repeated,
                    format!("{earlier}\n{REPEAT_NOTE}"),
                    format!("{tool} (repeated)"),
                )
            }
            None => {
                let t = self.registry.get(tool).expect("checked by the caller");
                let (status, text, summary, passages) = self.run_tool(t, tool, args);
                self.passages.extend(passages);
                seen.insert(key.to_string(), (1, text.clone()));
                (status, text, summary)
            }
        };
        emit(Event::ToolCompleted {
            call_id,
            tool: tool.to_string(),
            status,
            wall_ms: started.elapsed().as_millis() as u64,
            summary: summary.clone(),
            output: text.clone(),
        });
        self.push(Item::Result {
            text,
            summary,
            elided: false,
        });
        true
    }

    /// Runs one call: the status, the text the model gets (cut to the
    /// context's budget) and a one-line summary.
    fn run_tool(
        &self,
        t: &dyn tools::Tool,
        tool: &str,
        args: &Value,
    ) -> (ToolStatus, String, String, Vec<crate::grounding::Passage>) {
        let cx = Context {
            root: &self.root,
            search: self.search.as_ref(),
            next_passage: self.passages.len() + 1,
        };
        let budget = truncate::budget(self.model.info().context_length);
        let (status, body, summary, passages) = match t.run(args, &cx) {
            Ok(out) => (
                ToolStatus::Completed,
                truncate::head_tail(&out.text, budget),
                out.summary,
                out.passages,
            ),
            Err(e) => (
                ToolStatus::Failed,
                format!("error: {e}"),
                format!("{tool} failed: {e}"),
                Vec::new(),
            ),
        };
        let text = format!("Result of {}:\n{body}", call_label(tool, args));
        (status, text, summary, passages)
    }

    /// Generates one step under the schema, or stops on `cancel`.
    async fn step(&self, cancel: &mut watch::Receiver<bool>, may_answer: bool) -> Step {
        if *cancel.borrow() {
            return Step::Aborted;
        }
        let native = self.config.tool_format == ToolFormat::Native;
        let params = GenParams {
            max_tokens: self.config.step_tokens,
            temperature: self.config.temperature,
            repeat_penalty: self.config.repeat_penalty,
            constraint: (!native).then(|| Constraint::JsonSchema(self.step_schema(may_answer))),
            tools: self.specs.clone(),
            ..GenParams::default()
        };
        let messages = self.messages();
        let mut generation = tokio::select! {
            g = self.model.generate(&messages, &params) => match g {
                Ok(g) => g,
                Err(e) => return Step::Failed(e.to_string()),
            },
            _ = cancelled(cancel) => return Step::Aborted,
        };
        let mut reply = String::new();
        let mut calls = Vec::new();
        loop {
            let event = tokio::select! {
                e = generation.next() => e,
                _ = cancelled(cancel) => return Step::Aborted,
            };
            match event {
                Some(ModelEvent::Delta(t)) => reply.push_str(&t),
                Some(ModelEvent::ToolCall(c)) => calls.push(c),
                Some(ModelEvent::Finished(f)) => {
                    // Under a constraint mistral.rs reports max_tokens as
                    // the completion count; the text's own count is exact.
                    let completion = if native {
                        f.usage.completion_tokens
                    } else {
                        self.model
                            .count_text_tokens(&reply)
                            .await
                            .unwrap_or(f.usage.completion_tokens)
                    };
                    let usage = TurnUsage {
                        prompt_tokens: f.usage.prompt_tokens,
                        completion_tokens: completion,
                    };
                    return Step::Reply(reply, calls, usage);
                }
                Some(ModelEvent::Error(e)) => return Step::Failed(e),
                Some(_) => {}
                None => return Step::Failed("the model stopped without finishing".into()),
            }
        }
    }

    /// Keeps the next prompt under [`SHRINK_AT`] of the context: first the
    /// oldest tool outputs become one-line stubs, then the oldest exchanges
    /// go. The system prompt and the current request always stay.
    async fn shrink(&mut self, request_at: usize) -> Result<(), String> {
        let limit = self.model.info().context_length;
        let target = (limit as f64 * SHRINK_AT) as usize;
        let mut request_at = request_at;
        loop {
            let tokens = self
                .model
                .count_tokens_with_tools(&self.messages(), &self.specs)
                .await
                .map_err(|e| e.to_string())?;
            if tokens <= target {
                return Ok(());
            }
            let stub = self
                .items
                .iter_mut()
                .find(|i| matches!(i, Item::Result { elided: false, .. }));
            if let Some(Item::Result { elided, .. }) = stub {
                *elided = true;
                continue;
            }
            // Drop the oldest item that is not the current request.
            match (0..self.items.len()).find(|&i| i != request_at) {
                Some(i) => {
                    self.items.remove(i);
                    if i < request_at {
                        request_at -= 1;
                    }
                }
                None => {
                    return Err(format!(
                        "the request and system prompt take {tokens} tokens, more than {target} of the model's {limit}"
                    ))
                }
            }
        }
    }
}

async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    loop {
        if *cancel.borrow_and_update() {
            return;
        }
        if cancel.changed().await.is_err() {
            // The sender is gone: nobody can cancel any more.
            std::future::pending::<()>().await;
        }
    }
}

/// `read(src/a.rs)`, `grep("fn main")`: how results are labelled.
fn call_label(tool: &str, args: &Value) -> String {
    let main = ["path", "pattern", "query"]
        .iter()
        .find_map(|k| args.get(*k).and_then(Value::as_str))
        .unwrap_or_default();
    format!("{tool}({main})")
}

fn system_prompt(registry: &Registry, paths: &[String], format: ToolFormat) -> String {
    let mut s = String::from(
        "You answer questions about the files of a workspace. You can look but not change anything.\n",
    );
    match format {
        ToolFormat::Native => s.push_str(
            "You do not know what the files say until you read them: your first reply is always a tool call. Answer in plain text only after a tool result shows the answer, and name the file it comes from.\n",
        ),
        ToolFormat::Constrained => {
            s.push_str(
                "Reply with exactly one JSON object per message: a tool call, or {\"tool\": \"answer\", \"text\": \"...\"} once you know the answer.\n\
                 Tools:\n",
            );
            for t in registry.iter() {
                s.push_str(&format!("- {}: {}\n", t.name(), t.description()));
            }
            s.push_str("- answer {text}: your final answer; name the file it comes from\n");
        }
    }
    s.push_str("Look at the files before answering; never guess.\n");
    if registry.get("search").is_some() {
        s.push_str(
            "Questions about the product, its documents or policies: use search and cite the hits you use as [n].\n",
        );
    }
    if !paths.is_empty() {
        s.push_str("Files:\n");
        for p in paths.iter().take(PROMPT_FILES) {
            s.push_str(p);
            s.push('\n');
        }
        if paths.len() > PROMPT_FILES {
            s.push_str(&format!(
                "…and {} more (use list)\n",
                paths.len() - PROMPT_FILES
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests;
