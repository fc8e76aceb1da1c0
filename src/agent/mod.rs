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

mod calls;
pub mod fsroot;
pub mod policy;
pub mod protocol;
pub mod rollout;
#[cfg(target_os = "linux")]
pub mod sandbox;
#[cfg(not(target_os = "linux"))]
#[path = "sandbox_none.rs"]
pub mod sandbox;
mod step;
mod toolchain;
pub mod tools;
pub mod truncate;

pub use tools::{edit, shell};

use serde_json::{json, Value};
use tokio::sync::watch;

use crate::model::{
    ChatMessage, Constraint, Event as ModelEvent, GenParams, Model, Role, ToolCall, ToolSpec,
};
use fsroot::Root;
use protocol::{Event, StopReason, TurnUsage};
use step::Parsed;
use tools::Registry;

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
    /// Whether a call that acts ran, who decided and in which mode; for
    /// the record only, the model never sees it.
    Decision {
        call_id: String,
        tool: String,
        subject: String,
        decision: protocol::Decision,
        by: protocol::DecidedBy,
        mode: policy::Mode,
    },
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
    /// Why the last turn was stopped at an approval, for the next request.
    stopped: Option<String>,
    calls: usize,
    log: Option<rollout::Writer>,
    log_error: Option<String>,
    policy: policy::Policy,
    approver: Box<dyn protocol::Approver>,
    /// Reads and edits of this session, for `edit` and undo.
    ledger: std::cell::RefCell<edit::Ledger>,
    /// How commands run, once the mode lets the agent act.
    shell: Option<shell::ShellEnv>,
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
            stopped: None,
            calls: 0,
            log: None,
            log_error: None,
            policy: policy::Policy::read_only(),
            approver: Box::new(protocol::NoApprover),
            ledger: Default::default(),
            shell: None,
        }
    }

    /// What the agent may do unasked. A mode that acts offers `edit` and
    /// `shell` and prepares the session's command environment.
    pub fn set_policy(&mut self, policy: policy::Policy) -> Result<(), String> {
        if policy.mode.acts() && self.shell.is_none() {
            let env = shell::ShellEnv::new(policy.isolation.clone())
                .map_err(|e| format!("cannot prepare the command environment: {e}"))?;
            self.shell = Some(env);
        }
        self.policy = policy;
        self.rebuild_registry();
        Ok(())
    }

    /// Changes the mode for the turns to come (the TUI's `/approvals`);
    /// grants stay.
    pub fn set_mode(&mut self, mode: policy::Mode) -> Result<(), String> {
        let mut p = self.policy.clone();
        p.mode = mode;
        self.set_policy(p)
    }

    pub fn policy(&self) -> &policy::Policy {
        &self.policy
    }

    /// Who answers approval requests (default: nobody, so the turn ends).
    pub fn set_approver(&mut self, approver: Box<dyn protocol::Approver>) {
        self.approver = approver;
    }

    /// Reverts the last edit of the session.
    pub fn undo(&mut self) -> Result<String, String> {
        self.ledger.borrow_mut().undo(&self.root)
    }

    fn rebuild_registry(&mut self) {
        let mut registry = Registry::read_only();
        if self.policy.mode.acts() {
            registry = registry.with_actions();
        }
        if self.search.is_some() {
            registry = registry.with_search();
        }
        self.registry = registry;
        if self.config.tool_format == ToolFormat::Native {
            self.specs = step::specs(&self.registry);
        }
        self.system = system_prompt(&self.registry, &self.paths, self.config.tool_format);
    }

    /// Offers `search` over `retrieval`'s index; answers that use it are
    /// checked against the passages it showed.
    pub fn with_search(mut self, retrieval: crate::tasks::grounded::Retrieval) -> Agent {
        if retrieval.index.is_none() {
            return self;
        }
        self.search = Some(retrieval);
        self.rebuild_registry();
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
                Item::Decision { .. } => continue,
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
                required.extend(tools::required(t, &params).into_iter().map(Value::String));
                if let Value::Object(p) = params {
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
        let request = match (std::mem::take(&mut self.interrupted), self.stopped.take()) {
            (_, Some(note)) => format!("{note}\n\n{text}"),
            (true, None) => format!("{INTERRUPTED_NOTE}\n\n{text}"),
            (false, None) => text.to_string(),
        };
        self.offer_files(text);
        self.push(Item::Request(request));
        let request_at = self.items.len() - 1;
        let mut usage = TurnUsage::default();
        let mut seen = calls::Seen::new();
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
                    if let Some(outcome) = self.call(&reply, tool, args, &mut seen, cancel, emit) {
                        break Outcome { steps, ..outcome };
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
    let main = ["path", "pattern", "query", "command"]
        .iter()
        .find_map(|k| args.get(*k).and_then(Value::as_str))
        .unwrap_or_default();
    format!("{tool}({main})")
}

fn system_prompt(registry: &Registry, paths: &[String], format: ToolFormat) -> String {
    let acts = registry.get("shell").is_some();
    let mut s = String::from(if acts {
        "You work on the files of a workspace: you can read them, edit them and run shell commands in its root (no network). Read a file before you edit it; edit replaces the exact text old with new. After a change, run the command that checks it.\n"
    } else {
        "You answer questions about the files of a workspace. You can look but not change anything.\n"
    });
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
#[cfg(test)]
mod tests_act;
