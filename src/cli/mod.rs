//! Command-line interface: flags, settings layers and dispatch to tasks.
//! Everything here is wiring; the work lives in `tasks`, `engine`, `index`,
//! `models`.

mod chat;
mod classify;
mod index;
mod sessions;
mod support;

use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::engine::{
    self, ChatMessage, Constraint, Engine, EngineError, GenParams, LoadOptions, Role,
};
use crate::error::{exit_for, AppError, Exit};
use crate::models::{self, QuantType};
use crate::output::sink_for;
use crate::prompts;
use crate::settings::{self, FlagValue, Loaded, OutputFormat, Sources};
use crate::tasks::{self, run::RunInput, TaskError};

const AFTER_HELP: &str = "\
Exit codes: 0 ok, 1 other failure, 2 usage or settings error, 3 model could not be
loaded, 4 input too large for the model's context, 130 interrupted.

Settings: `lore config show` prints them with their origin; see config/default.toml.";

#[derive(Debug, Parser)]
#[command(name = "lore", version, about = "Ask, chat and classify with a local LLM grounded in your documents", after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// With none, `lore` opens the chat on a terminal
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Model: a GGUF file, a model directory, a name in the models directory,
    /// or a Hugging Face id [setting: model.path]
    #[arg(long, short = 'm', global = true, value_name = "SPEC")]
    pub model: Option<String>,
    /// Run on the CPU even when a GPU is available [setting: model.cpu]
    #[arg(long, global = true)]
    pub cpu: bool,
    /// Print timings and engine logs on stderr
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Full-screen chat (the default on a terminal); piped stdin is context
    Chat(chat::ChatArgs),
    /// Answer a question from the knowledge base, citing sources
    Ask(AskArgs),
    /// Customer-service agent over the knowledge base (TUI, or a script)
    Support(support::SupportArgs),
    /// Send one prompt (argument and/or stdin) and print the reply
    Run(RunArgs),
    /// Put each input line under one label of a set
    Classify(classify::ClassifyArgs),
    /// List and convert model files
    #[command(subcommand)]
    Models(ModelsCommand),
    /// List and show prompt templates
    #[command(subcommand)]
    Prompts(PromptsCommand),
    /// Build and search knowledge indexes
    Index(index::IndexArgs),
    /// Measure retrieval and answer quality on evaluation sets
    #[command(subcommand)]
    Eval(index::EvalCommand),
    /// List, show, export and delete saved chat conversations
    #[command(subcommand)]
    Sessions(sessions::SessionsCommand),
    /// Show the effective settings and where they come from
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question; with none, stdin is the question
    #[arg(allow_hyphen_values = true)]
    pub question: Option<String>,
    /// Index to search [setting: index.name]
    #[arg(long, short = 'i', value_name = "NAME")]
    pub index: Option<String>,
    /// Passages to retrieve [setting: retrieval.top_k]
    #[arg(short = 'k', long, value_name = "N")]
    pub top_k: Option<u32>,
    /// Answer from stdin only, without searching the index
    #[arg(long)]
    pub no_index: bool,
    #[command(flatten)]
    pub gen: GenArgs,
}

/// Flags shared by the commands that generate text.
#[derive(Debug, Args)]
pub struct GenArgs {
    /// Most tokens to generate [setting: generation.max_tokens]
    #[arg(long, short = 'n', value_name = "N")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature, 0 for greedy [setting: generation.temperature]
    #[arg(long, short = 't', value_name = "T")]
    pub temperature: Option<f64>,
    /// Output format [setting: output.format]
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<OutputFormat>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The prompt. Piped stdin is appended after it as a fenced block; with
    /// no prompt, stdin is the prompt.
    pub prompt: Option<String>,
    /// System prompt [setting: generation.system]
    #[arg(long, short = 's')]
    pub system: Option<String>,
    /// Nucleus sampling threshold [setting: generation.top_p]
    #[arg(long, value_name = "P")]
    pub top_p: Option<f64>,
    #[command(flatten)]
    pub gen: GenArgs,
    /// Render the input through a prompt template (see `lore prompts list`);
    /// the input is available to it as {{ input }}
    #[arg(long, short = 'T', value_name = "NAME")]
    pub template: Option<String>,
    /// A template variable, KEY=VALUE (repeatable)
    #[arg(long = "var", value_name = "KEY=VALUE", requires = "template")]
    pub vars: Vec<String>,
    /// Target language for `--template translate` (same as --var to=LANG)
    #[arg(long, value_name = "LANG", requires = "template")]
    pub to: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Show the GGUF models in the models directory
    List {
        #[arg(long, short = 'f', value_enum)]
        format: Option<OutputFormat>,
    },
    /// Re-quantize a GGUF file (Q8_0 and Q4_0 have fast CPU kernels)
    Quantize {
        input: PathBuf,
        output: PathBuf,
        #[arg(long = "type", value_enum, default_value = "q8_0")]
        quant: QuantType,
        /// Overwrite OUTPUT if it exists
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum PromptsCommand {
    /// List templates: built-in and yours, with where each comes from
    List,
    /// Print a template's source
    Show { name: String },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every effective setting and the layer it came from
    Show,
    /// Print the settings files consulted, in order
    Path,
}

/// Entry point: returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.code()
            } else {
                0
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lore: error: cannot start the async runtime: {e}");
            return Exit::Failure.code();
        }
    };
    let result = runtime.block_on(dispatch(cli));
    // mistral.rs keeps engine threads; do not wait for them on exit.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => 0,
        Err(e) => {
            if is_broken_pipe(&e) {
                return 0;
            }
            let exit = exit_for(&e);
            if exit != Exit::Interrupted {
                eprintln!("lore: error: {e:#}");
            }
            exit.code()
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<TaskError>().is_some_and(|t| {
                matches!(t, TaskError::Output(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
            })
    })
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let command = match cli.command {
        Some(c) => c,
        // `lore` alone opens the chat, but only where someone can see it:
        // in a pipe or a script it prints usage instead.
        None if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() => {
            Command::Chat(chat::ChatArgs::default())
        }
        None => {
            use clap::CommandFactory;
            let _ = Cli::command().print_help();
            return Err(AppError::usage(
                "no command given; `lore chat` opens the chat on a terminal, `lore run` answers one prompt",
            )
            .into());
        }
    };
    let mut sources = Sources::discover();
    if let Command::Chat(a) = &command {
        chat::flags(a, &mut sources);
    }
    if let Command::Support(a) = &command {
        let chat_flags = chat::ChatArgs {
            mode: Some("support".into()),
            index: a.index.clone(),
            ..chat::ChatArgs::default()
        };
        chat::flags(&chat_flags, &mut sources);
        gen_flags(&a.gen, &mut sources);
    }
    if let Command::Eval(index::EvalCommand::Support(a)) = &command {
        if let Some(n) = a.max_tokens {
            sources.flag(
                "generation.max_tokens",
                FlagValue::Int(n.into()),
                "--max-tokens",
            );
        }
    }
    global_flags(&cli.global, &mut sources);
    if let Command::Run(args) = &command {
        run_flags(args, &mut sources);
    }
    if let Command::Ask(a) = &command {
        gen_flags(&a.gen, &mut sources);
        if let Some(k) = a.top_k {
            sources.flag("retrieval.top_k", FlagValue::Int(k.into()), "--top-k");
        }
        if let Some(i) = &a.index {
            sources.flag("index.name", FlagValue::Str(i.clone()), "--index");
        }
    }
    if let Command::Eval(index::EvalCommand::Qa(a)) = &command {
        gen_flags(&a.gen, &mut sources);
        if let Some(k) = a.top_k {
            sources.flag("retrieval.top_k", FlagValue::Int(k.into()), "--top-k");
        }
    }
    let loaded = settings::load(&sources).map_err(AppError::from)?;
    for warning in &loaded.warnings {
        eprintln!("lore: warning: {warning}");
    }
    match command {
        Command::Chat(args) => chat::run(&loaded, &cli.global, args).await,
        Command::Support(args) => support::run(&loaded, &cli.global, args).await,
        Command::Eval(index::EvalCommand::Support(args)) => {
            support::eval(&loaded, &cli.global, args).await
        }
        Command::Sessions(cmd) => sessions::run(&loaded, cmd),
        Command::Run(args) => cmd_run(&loaded, &cli.global, args).await,
        Command::Ask(args) => cmd_ask(&loaded, &cli.global, args).await,
        Command::Classify(args) => classify::run(&loaded, &cli.global, args).await,
        Command::Models(ModelsCommand::List { format }) => {
            cmd_models_list(&loaded, format.unwrap_or(loaded.settings.output.format))
        }
        Command::Models(ModelsCommand::Quantize {
            input,
            output,
            quant,
            force,
        }) => cmd_quantize(&input, &output, quant, force),
        Command::Prompts(cmd) => cmd_prompts(&loaded, cmd),
        Command::Index(args) => index::run_index(&loaded, args),
        Command::Eval(index::EvalCommand::Qa(args)) => {
            cmd_eval_qa(&loaded, &cli.global, args).await
        }
        Command::Eval(index::EvalCommand::Retrieval(args)) => index::run_eval(&loaded, args),
        Command::Config(ConfigCommand::Show) => {
            print!("{}", settings::render_show(&loaded));
            Ok(())
        }
        Command::Config(ConfigCommand::Path) => {
            println!("built-in defaults (config/default.toml, embedded)");
            for (path, exists) in &loaded.files {
                let state = if *exists { "" } else { " (not present)" };
                println!("{}{state}", path.display());
            }
            Ok(())
        }
    }
}

fn global_flags(g: &GlobalArgs, sources: &mut Sources) {
    if let Some(m) = &g.model {
        sources.flag("model.path", FlagValue::Str(m.clone()), "--model");
    }
    if g.cpu {
        sources.flag("model.cpu", FlagValue::Bool(true), "--cpu");
    }
}

fn run_flags(a: &RunArgs, sources: &mut Sources) {
    if let Some(s) = &a.system {
        sources.flag("generation.system", FlagValue::Str(s.clone()), "--system");
    }
    if let Some(p) = a.top_p {
        sources.flag("generation.top_p", FlagValue::Float(p), "--top-p");
    }
    gen_flags(&a.gen, sources);
}

fn gen_flags(g: &GenArgs, sources: &mut Sources) {
    if let Some(n) = g.max_tokens {
        sources.flag(
            "generation.max_tokens",
            FlagValue::Int(n.into()),
            "--max-tokens",
        );
    }
    if let Some(t) = g.temperature {
        sources.flag(
            "generation.temperature",
            FlagValue::Float(t),
            "--temperature",
        );
    }
    if let Some(f) = g.format {
        sources.flag(
            "output.format",
            FlagValue::Str(format_name(f).into()),
            "--format",
        );
    }
}

fn format_name(f: OutputFormat) -> &'static str {
    match f {
        OutputFormat::Text => "text",
        OutputFormat::Json => "json",
        OutputFormat::Jsonl => "jsonl",
    }
}

/// Reads piped stdin, if any. Invalid UTF-8 is replaced, with one warning.
fn read_stdin() -> anyhow::Result<Option<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    stdin
        .lock()
        .read_to_end(&mut bytes)
        .context("cannot read stdin")?;
    Ok(Some(lossy_utf8(bytes, "stdin")))
}

/// Text from `bytes`; invalid UTF-8 is replaced, with one warning naming
/// where the bytes came from.
fn lossy_utf8(bytes: Vec<u8>, from: &str) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| {
        eprintln!(
            "lore: warning: {from} is not valid UTF-8; invalid bytes were replaced with U+FFFD"
        );
        String::from_utf8_lossy(e.as_bytes()).into_owned()
    })
}

fn gen_params(loaded: &Loaded) -> anyhow::Result<GenParams> {
    let g = &loaded.settings.generation;
    if !(0.0..=2.0).contains(&g.temperature) {
        return Err(AppError::usage(format!(
            "temperature must be between 0 and 2, got {} (from {})",
            g.temperature,
            loaded.origin("generation.temperature")
        ))
        .into());
    }
    if !(g.top_p > 0.0 && g.top_p <= 1.0) {
        return Err(AppError::usage(format!(
            "top_p must be in (0, 1], got {} (from {})",
            g.top_p,
            loaded.origin("generation.top_p")
        ))
        .into());
    }
    if g.max_tokens == 0 {
        return Err(AppError::usage(format!(
            "max_tokens must be at least 1 (from {})",
            loaded.origin("generation.max_tokens")
        ))
        .into());
    }
    Ok(GenParams {
        max_tokens: g.max_tokens as usize,
        temperature: g.temperature,
        top_p: g.top_p,
        ..GenParams::default()
    })
}

async fn cmd_run(loaded: &Loaded, global: &GlobalArgs, args: RunArgs) -> anyhow::Result<()> {
    let params = gen_params(loaded)?;
    let input = RunInput {
        prompt: args.prompt,
        stdin: read_stdin()?,
        system: Some(loaded.settings.generation.system.clone()),
    };
    let Some(user) = tasks::run::user_message(&input) else {
        return Err(AppError::usage(
            "nothing to send: give a prompt argument or pipe text on stdin (e.g. echo hi | lore run)",
        )
        .into());
    };
    let (messages, params) = match &args.template {
        Some(name) => templated(
            loaded,
            name,
            &args.vars,
            args.to.as_deref(),
            &input,
            user,
            params,
        )?,
        None => (tasks::run::messages(&input, user), params),
    };
    let format = loaded.settings.output.format;

    let engine = with_interrupt(load_engine(loaded, global.verbose)).await??;

    let stdout = std::io::stdout();
    let mut sink = sink_for(format, stdout.lock());
    let outcome = {
        let task = tasks::run::execute(&engine, &messages, &params, sink.as_mut());
        with_interrupt(task).await
    };
    let report = finish(outcome, sink.as_mut())?;
    sink.end(&with_model(&engine, serde_json::to_value(&report)?), None)?;
    if global.verbose {
        let t = &report.finished.timings;
        eprintln!(
            "lore: {} prompt + {} generated tokens on {}; load {:.2} s, first token {:.2} s, prompt {:.1} tok/s, generation {:.1} tok/s",
            report.finished.usage.prompt_tokens,
            report.finished.usage.completion_tokens,
            engine.info().device,
            engine.info().load_time.as_secs_f64(),
            t.time_to_first_token_s,
            t.prompt_tokens_per_s,
            t.generated_tokens_per_s
        );
    }
    Ok(())
}

async fn cmd_ask(loaded: &Loaded, global: &GlobalArgs, args: AskArgs) -> anyhow::Result<()> {
    let mut params = gen_params(loaded)?;
    // With a question argument, piped stdin is a document to answer from;
    // without one, stdin is the question.
    let (question, document) = match args.question.filter(|q| !q.trim().is_empty()) {
        Some(q) => (q, read_stdin()?.filter(|d| !d.trim().is_empty())),
        None => (read_stdin()?.unwrap_or_default(), None),
    };
    let question = question.trim().to_string();
    if question.is_empty() {
        return Err(AppError::usage("no question: give one as an argument or on stdin").into());
    }
    if args.no_index && document.is_none() {
        return Err(AppError::usage(
            "--no-index answers from stdin only, but no text came on stdin (try: cat FILE | lore ask --no-index QUESTION)",
        )
        .into());
    }
    let r = &loaded.settings.retrieval;
    let k = r.top_k as usize;
    let mut passages = if args.no_index {
        Vec::new()
    } else {
        let idx = index::open_for_ask(loaded, &loaded.settings.index.name)?;
        tasks::ask::retrieve(&idx, &question, k, r.min_score as f32).map_err(index::index_error)?
    };
    let format = loaded.settings.output.format;
    let stdout = std::io::stdout();
    let mut sink = sink_for(format, stdout.lock());
    if passages.is_empty() && document.is_none() {
        let report =
            tasks::ask::not_found(&question, &r.not_found, sink.as_mut()).map_err(task_error)?;
        sink.end(&serde_json::to_value(&report)?, None)?;
        return Ok(());
    }
    let engine = with_interrupt(load_engine(loaded, global.verbose)).await??;
    let library = prompts::Library::new(&loaded.settings.prompts_dir());
    let template = library
        .get("qa")
        .map_err(|e| AppError::usage(e.to_string()))?;
    let kb = std::mem::take(&mut passages);
    let gather = |budget: usize| -> anyhow::Result<Vec<tasks::ask::Passage>> {
        let mut all = match &document {
            Some(text) => {
                tasks::ask::stdin_passages(text, &question, k, budget, index::chunking(loaded))
                    .map_err(index::index_error)?
            }
            None => Vec::new(),
        };
        all.extend(kb.iter().cloned());
        tasks::ask::renumber(&mut all);
        Ok(all)
    };
    // Room for the stdin text: the context less the answer and about 200
    // tokens of template and question; packing below checks exactly.
    let room = engine.info().context_length.saturating_sub(
        params.max_tokens
            + 200
            + engine
                .count_text_tokens(&question)
                .await
                .map_err(engine_error)?,
    );
    // The estimate may let the whole stdin text through when it does not
    // fit after all; the second round (budget 0) chunks and ranks it.
    let mut budgets = [room, 0].into_iter();
    let (messages, dropped) = loop {
        let budget = budgets.next().unwrap_or(0);
        passages = gather(budget)?;
        let round = tasks::ask::pack(
            &engine,
            &template,
            &question,
            &mut passages,
            params.max_tokens,
        )
        .await
        .map_err(task_error)?;
        let kept_stdin = passages.iter().any(|p| p.path == "<stdin>");
        if budget == 0 || document.is_none() || kept_stdin {
            break round;
        }
    };
    if global.verbose {
        eprintln!(
            "lore: {} passage(s) in the prompt, {dropped} left out because they did not fit the context",
            passages.len()
        );
    }
    // Grounded answers should not wander: cap the temperature.
    params.temperature = params.temperature.min(0.3);
    let outcome = {
        let task = tasks::ask::answer(
            &engine,
            &question,
            &messages,
            passages,
            dropped,
            &params,
            sink.as_mut(),
        );
        with_interrupt(task).await
    };
    let report = finish(outcome, sink.as_mut())?;
    let json = with_model(&engine, serde_json::to_value(&report)?);
    if !report.citations_valid {
        eprintln!("lore: warning: the answer cites passages that do not exist; they were left out of the sources");
    }
    let footer = tasks::ask::footnotes(&report.citations, &report.passages);
    sink.end(&json, footer.as_deref())?;
    Ok(())
}

async fn cmd_eval_qa(
    loaded: &Loaded,
    global: &GlobalArgs,
    args: index::EvalQaArgs,
) -> anyhow::Result<()> {
    use crate::index::eval;
    let mut files = vec![args.corpus.as_path(), args.queries.as_path()];
    files.extend(args.qrels.as_deref());
    index::require_files(&files)?;
    let mut queries = eval::read_qa_queries(&args.queries).map_err(index::eval_error)?;
    let qrels = match &args.qrels {
        Some(p) => Some(eval::read_qrels(p).map_err(index::eval_error)?),
        None => None,
    };
    if let Some(q) = &qrels {
        queries.retain(|x| q.contains_key(&x.id));
    }
    queries.truncate(args.limit.unwrap_or(usize::MAX));
    if queries.is_empty() {
        return Err(AppError::usage("no queries to evaluate").into());
    }
    let (idx, _, prefix) =
        eval::corpus_index(&args.corpus, index::chunking(loaded)).map_err(index::eval_error)?;
    let engine = with_interrupt(load_engine(loaded, global.verbose)).await??;
    let library = prompts::Library::new(&loaded.settings.prompts_dir());
    let template = library
        .get("qa")
        .map_err(|e| AppError::usage(e.to_string()))?;
    let mut params = gen_params(loaded)?;
    params.temperature = 0.0;
    let setup = tasks::eval_qa::QaSetup {
        engine: &engine,
        template: &template,
        index: &idx,
        key_prefix: &prefix,
        qrels: qrels.as_ref(),
        k: loaded.settings.retrieval.top_k as usize,
        min_score: loaded.settings.retrieval.min_score as f32,
        params,
    };
    let bar = index::progress_bar(queries.len() as u64, "questions");
    let task = tasks::eval_qa::run(&setup, &queries, |done, _| bar.set_position(done as u64));
    let report = with_interrupt(task).await?.map_err(task_error)?;
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    if loaded.settings.output.format == OutputFormat::Text {
        let rows = [
            ("questions", format!("{}", report.queries)),
            ("passages (k)", format!("{}", report.k)),
            (
                "retrieval hit rate",
                format!("{:.3}", report.retrieval_hit_rate),
            ),
            ("not found", format!("{:.3}", report.not_found_rate)),
            ("exact match", format!("{:.3}", report.exact_match)),
            ("token F1", format!("{:.3}", report.token_f1)),
            (
                "answer has gold",
                format!("{:.3}", report.answer_contains_gold),
            ),
            ("valid citations", format!("{:.3}", report.valid_citations)),
            (
                "  written as [n]",
                format!("{:.3}", report.marker_citations),
            ),
            (
                "  citing relevant",
                format!("{:.3}", report.citation_precision),
            ),
            ("mean TTFT", format!("{:.3} s", report.mean_ttft_s)),
            (
                "mean generation",
                format!("{:.1} tok/s", report.mean_generated_tokens_per_s),
            ),
        ];
        for (k, v) in rows {
            writeln!(out, "{k:<20}{v}")?;
        }
    } else {
        writeln!(
            out,
            "{}",
            with_model(&engine, serde_json::to_value(&report)?)
        )?;
    }
    Ok(())
}

/// Renders the input through a template: its system prompt (or the
/// configured one), its user message, and its output constraint.
fn templated(
    loaded: &Loaded,
    name: &str,
    raw_vars: &[String],
    to: Option<&str>,
    input: &RunInput,
    user: String,
    params: GenParams,
) -> anyhow::Result<(Vec<ChatMessage>, GenParams)> {
    let mut vars = std::collections::BTreeMap::new();
    vars.insert("input".to_string(), user);
    if let Some(to) = to {
        vars.insert("to".to_string(), to.to_string());
    }
    for v in raw_vars {
        let Some((k, val)) = v.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
            return Err(AppError::usage(format!("--var expects KEY=VALUE, got {v:?}")).into());
        };
        vars.insert(k.trim().to_string(), val.to_string());
    }
    let library = prompts::Library::new(&loaded.settings.prompts_dir());
    let rendered = library
        .get(name)
        .and_then(|t| t.render(&vars))
        .map_err(|e| AppError::usage(e.to_string()))?;
    let system = rendered.system.or_else(|| input.system.clone());
    let mut messages = Vec::new();
    if let Some(system) = system.filter(|s| !s.trim().is_empty()) {
        messages.push(ChatMessage::new(Role::System, system));
    }
    messages.push(ChatMessage::new(Role::User, rendered.user));
    let constraint = if let Some(schema) = rendered.schema {
        Some(Constraint::JsonSchema(schema))
    } else if !rendered.choices.is_empty() {
        Some(Constraint::one_of(&rendered.choices))
    } else {
        None
    };
    Ok((
        messages,
        GenParams {
            constraint,
            ..params
        },
    ))
}

fn cmd_prompts(loaded: &Loaded, cmd: PromptsCommand) -> anyhow::Result<()> {
    let library = prompts::Library::new(&loaded.settings.prompts_dir());
    let mut out = std::io::stdout().lock();
    match cmd {
        PromptsCommand::List => {
            for name in library.names() {
                match library.get(&name) {
                    Ok(t) => {
                        let origin = match &t.origin {
                            prompts::Origin::BuiltIn => "built-in".to_string(),
                            prompts::Origin::User(p) => p.display().to_string(),
                        };
                        writeln!(out, "{name:<12} {:<60} {origin}", t.description)?;
                    }
                    Err(e) => eprintln!("lore: warning: {e}"),
                }
            }
        }
        PromptsCommand::Show { name } => {
            let t = library
                .get(&name)
                .map_err(|e| AppError::usage(e.to_string()))?;
            write!(out, "{}", t.source)?;
            if !t.source.ends_with('\n') {
                writeln!(out)?;
            }
        }
    }
    Ok(())
}

/// The result of a generating task: on Ctrl-C, what was produced is
/// flushed and the error carries exit code 130.
fn finish<T>(
    outcome: anyhow::Result<Result<T, TaskError>>,
    sink: &mut dyn crate::output::Sink,
) -> anyhow::Result<T> {
    match outcome {
        Ok(result) => result.map_err(task_error),
        Err(interrupted) => {
            sink.interrupted()?;
            Err(interrupted)
        }
    }
}

/// A JSON report with the model facts added.
fn with_model(engine: &Engine, mut json: serde_json::Value) -> serde_json::Value {
    let info = engine.info();
    json["model"] =
        json!({"path": info.path, "name": info.name, "context_length": info.context_length});
    json["device"] = json!(info.device);
    json["timings"]["load_s"] = json!(info.load_time.as_secs_f64());
    json
}

/// Runs `fut`, turning Ctrl-C into exit code 130.
async fn with_interrupt<T>(fut: impl std::future::Future<Output = T>) -> anyhow::Result<T> {
    tokio::select! {
        r = fut => Ok(r),
        _ = tokio::signal::ctrl_c() => Err(AppError::new(Exit::Interrupted, "interrupted").into()),
    }
}

fn task_error(e: TaskError) -> anyhow::Error {
    match e {
        TaskError::Engine(e) => engine_error(e),
        TaskError::Output(io) => anyhow::Error::new(io).context("cannot write output"),
        TaskError::Prompt(e) => AppError::usage(e.to_string()).into(),
        TaskError::Index(e) => index::index_error(e),
        TaskError::Input(m) => AppError::usage(m).into(),
    }
}

fn engine_error(e: EngineError) -> anyhow::Error {
    let exit = match &e {
        EngineError::Spec(_) | EngineError::Load { .. } => Exit::ModelLoad,
        EngineError::TooLarge { .. } => Exit::TooLarge,
        EngineError::Request(_) => Exit::Failure,
    };
    AppError::new(exit, e.to_string()).into()
}

/// Resolves and loads the configured model, with a spinner on a terminal.
pub async fn load_engine(loaded: &Loaded, verbose: bool) -> anyhow::Result<Engine> {
    let s = &loaded.settings;
    prepare_default_model(&s.model.path, &s.models_dir())?;
    let (spec, mut opts) = model_to_load(loaded, &s.model.path)?;
    opts.verbose = verbose;
    let spinner = spinner(&format!("loading {}", spec.name()));
    let result = Engine::load(&spec, &opts).await;
    spinner.finish_and_clear();
    result.map_err(engine_error)
}

/// What to load for model setting `setting` (the configured one, or a
/// `/model SPEC` in the chat), with an error hint on how to fix it.
fn model_to_load(
    loaded: &Loaded,
    setting: &str,
) -> anyhow::Result<(engine::ModelSpec, LoadOptions)> {
    let s = &loaded.settings;
    let models_dir = s.models_dir();
    let hint = if setting == models::DEFAULT_MODEL {
        " (install the default model with scripts/fetch-model.sh)".to_string()
    } else if setting == s.model.path {
        format!(
            " (set by {}; `lore models list` shows the models in {})",
            loaded.origin("model.path"),
            models_dir.display()
        )
    } else {
        format!(
            " (`lore models list` shows the models in {})",
            models_dir.display()
        )
    };
    let spec =
        engine::spec::resolve(setting, &models_dir, &hint).map_err(|e| engine_error(e.into()))?;
    let opts = LoadOptions {
        force_cpu: s.model.cpu,
        chat_template: Some(&s.model.chat_template)
            .filter(|t| !t.is_empty())
            .map(PathBuf::from),
        verbose: false,
    };
    Ok((spec, opts))
}

/// Makes the Q8_0 default model from its Q4_1 original on first use.
fn prepare_default_model(setting: &str, models_dir: &std::path::Path) -> anyhow::Result<()> {
    let target = models_dir.join(models::DEFAULT_MODEL);
    let source = models_dir.join(models::DEFAULT_SOURCE);
    if setting != models::DEFAULT_MODEL || target.exists() || !source.exists() {
        return Ok(());
    }
    eprintln!(
        "lore: preparing the default model once: {} -> Q8_0",
        source.display()
    );
    quantize_with_progress(&source, &target, QuantType::Q8_0, false)
}

fn quantize_with_progress(
    input: &std::path::Path,
    output: &std::path::Path,
    quant: QuantType,
    force: bool,
) -> anyhow::Result<()> {
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} quantizing [{bar:30}] {pos}/{len} tensors {elapsed}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    let started = Instant::now();
    let result = models::quantize(input, output, quant, force, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    });
    bar.finish_and_clear();
    result.map_err(|e| {
        let exit = match e {
            models::ModelFileError::Write { .. } => Exit::Failure,
            _ => Exit::Usage,
        };
        AppError::new(exit, e.to_string())
    })?;
    let size = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    eprintln!(
        "lore: wrote {} ({}, {:.1} MB) in {:.1} s",
        output.display(),
        quant.name(),
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn spinner(message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(message.to_string());
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

fn cmd_quantize(
    input: &std::path::Path,
    output: &std::path::Path,
    quant: QuantType,
    force: bool,
) -> anyhow::Result<()> {
    index::require_files(&[input])?;
    quantize_with_progress(input, output, quant, force)
}

fn cmd_models_list(loaded: &Loaded, format: OutputFormat) -> anyhow::Result<()> {
    let dir = loaded.settings.models_dir();
    let entries = models::list(&dir);
    let mut out = std::io::stdout().lock();
    if format != OutputFormat::Text {
        let items: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| match e {
                Ok(info) => serde_json::to_value(info).unwrap_or_default(),
                Err(err) => json!({"error": err.to_string()}),
            })
            .collect();
        if format == OutputFormat::Json {
            writeln!(out, "{}", json!({"models_dir": dir, "models": items}))?;
        } else {
            for item in items {
                writeln!(out, "{item}")?;
            }
        }
        return Ok(());
    }
    if entries.is_empty() {
        eprintln!(
            "lore: no GGUF models in {} (scripts/fetch-model.sh installs the default)",
            dir.display()
        );
        return Ok(());
    }
    writeln!(
        out,
        "{:<44} {:>9} {:<8} {:<6} {:>8}",
        "NAME", "SIZE", "ARCH", "QUANT", "CONTEXT"
    )?;
    for entry in entries {
        match entry {
            Ok(info) => {
                let name = info
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let default = if name == loaded.settings.model.path {
                    " *"
                } else {
                    ""
                };
                writeln!(
                    out,
                    "{:<44} {:>9} {:<8} {:<6} {:>8}{default}",
                    name,
                    format!("{:.1} MB", info.size_bytes as f64 / 1e6),
                    info.architecture.as_deref().unwrap_or("?"),
                    info.quantization.as_deref().unwrap_or("?"),
                    info.context_length
                        .map(|c| c.to_string())
                        .unwrap_or("?".into()),
                )?;
            }
            Err(e) => eprintln!("lore: warning: {e}"),
        }
    }
    Ok(())
}
