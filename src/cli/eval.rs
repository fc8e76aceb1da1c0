//! `lore eval ...`: retrieval, grounded answers, support dialogues and
//! the agent measured on evaluation sets (the scoring lives in
//! `crate::eval`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::{Args, Subcommand};

use super::args::{FormatArg, GenArgs};
use super::progress::{self, Stderr};
use super::require_files;
use super::stdio::{read_text_file, with_interrupt, with_model};
use crate::agent::fsroot::Root as Workspace;
use crate::agent::policy::{Interaction, Isolation, Mode, Policy};
use crate::app::Root;
use crate::error::{task_error, AppError};
use crate::eval::agent::{self as agent_eval, Task, TaskResult};
use crate::eval::{self, act, grounding, qa, retrieval};
use crate::index::dense::Mode as SearchMode;
use crate::index::Boosts;
use crate::settings::{FlagValue, OutputFormat, Sources};
use crate::tasks::ask::Ask;
use crate::tasks::grounded::TemplatePrompt;
use crate::tasks::policy::eval_params;

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Retrieval quality on a BEIR-layout set (corpus.jsonl, queries.jsonl, qrels.tsv)
    Retrieval(EvalRetrievalArgs),
    /// Answer quality of `ask` on a SQuAD-layout set (queries carry `answers`)
    Qa(EvalQaArgs),
    /// Retrieval, hand-over and citations of `support` on scripted dialogues
    Support(super::support::EvalSupportArgs),
    /// The not-found rule on answerable and unanswerable questions, and
    /// with --answer whether the answers given are supported
    Grounding(EvalGroundingArgs),
    /// The agent on requests over a workspace, each answer checked by a
    /// regex, or each acting task by a command on the files it leaves:
    /// success, call validity, real paths, steps, stops, edits, tokens
    Agent(EvalAgentArgs),
}

#[derive(Debug, Args)]
pub struct EvalAgentArgs {
    /// The workspace (the fixtures: eval/agent-ws, eval/agent-act-ws);
    /// acting tasks get a fresh copy each, never DIR itself
    pub dir: PathBuf,
    /// Tasks, one `id<TAB>request<TAB>answer regex` line each, or
    /// `id<TAB>request<TAB>$ check command` for an acting task (`#`
    /// comments); it must lie outside DIR, where the agent could read the
    /// answers [default: NAME-tasks.tsv beside a DIR named NAME-ws, else
    /// agent-tasks.tsv beside DIR]
    #[arg(long, value_name = "FILE")]
    pub tasks: Option<PathBuf>,
    /// What the agent may do on acting tasks: read-only, ask, auto-edit or
    /// auto; nobody is asked in an evaluation, so what would be asked is
    /// denied (questions are always read-only) [default: auto]
    #[arg(long, value_name = "MODE", value_parser = ["read-only", "ask", "auto-edit", "auto"])]
    pub mode: Option<String>,
    /// Run acting tasks' commands and checks without the sandbox, with
    /// your full permissions and network
    #[arg(long)]
    pub no_sandbox: bool,
    /// Only the first N tasks
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Most model steps per task [setting: agent.max_steps; default: 8
    /// for models up to 1B parameters, 24 above]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=200))]
    pub max_steps: Option<u32>,
    /// How the model calls tools: auto, native or constrained [setting:
    /// agent.tool_format]
    #[arg(long, value_name = "FORMAT", value_parser = ["auto", "native", "constrained"])]
    pub format_tools: Option<String>,
    /// Output format: text (a line per task as it ends, then the totals),
    /// json (one object at the end) or jsonl (a line per task, then the
    /// totals) [setting: output.format]
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<FormatArg>,
}

impl EvalAgentArgs {
    /// The agent's flags; evaluations are greedy whatever the settings say.
    pub fn layer(&self, sources: &mut Sources) {
        if let Some(n) = self.max_steps {
            sources.flag("agent.max_steps", FlagValue::Int(n.into()), "--max-steps");
        }
        if let Some(f) = &self.format_tools {
            sources.flag(
                "agent.tool_format",
                FlagValue::Str(f.clone()),
                "--format-tools",
            );
        }
    }
}

#[derive(Debug, Args)]
pub struct EvalGroundingArgs {
    /// Questions the index answers (TSV: question, article, answer)
    #[arg(long, value_name = "FILE")]
    pub on: PathBuf,
    /// Questions it cannot answer (TSV: question, lang, kind)
    #[arg(long, value_name = "FILE")]
    pub off: PathBuf,
    /// Index to search [setting: index.name]
    #[arg(long, short = 'i', value_name = "NAME")]
    pub index: Option<String>,
    /// Passages per question [setting: retrieval.top_k]
    #[arg(short = 'k', long, value_name = "N")]
    pub top_k: Option<u32>,
    /// Also answer every question with the model and check the answers
    #[arg(long)]
    pub answer: bool,
    #[command(flatten)]
    pub gen: GenArgs,
}

#[derive(Debug, Args)]
pub struct EvalRetrievalArgs {
    #[arg(long)]
    pub corpus: PathBuf,
    #[arg(long)]
    pub queries: PathBuf,
    #[arg(long)]
    pub qrels: PathBuf,
    /// Documents ranked per query
    #[arg(short = 'k', long, default_value_t = 10)]
    pub k: usize,
    /// Evaluate only the first N queries
    #[arg(long)]
    pub limit: Option<usize>,
    /// Title weight
    #[arg(long, default_value_t = Boosts::default().title)]
    pub title_boost: f32,
    /// Heading weight
    #[arg(long, default_value_t = Boosts::default().headings)]
    pub headings_boost: f32,
    /// Ranking modes to report side by side, comma-separated: lexical,
    /// dense, hybrid, or all. With dense or hybrid the corpus is embedded
    /// by index.embedding_model first (minutes on a CPU)
    #[arg(long, value_name = "MODES", default_value = "lexical", value_parser = parse_modes)]
    pub mode: Modes,
    /// Also report hybrid with each of these dense weights (lexical weight
    /// and fusion k from the settings), comma-separated: to choose
    /// retrieval.dense_weight
    #[arg(long, value_name = "W,...", value_delimiter = ',', value_parser = parse_weight)]
    pub dense_weights: Vec<f32>,
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<FormatArg>,
}

/// The modes of `lore eval retrieval --mode`.
#[derive(Debug, Clone)]
pub struct Modes(pub Vec<SearchMode>);

/// A fusion weight: a finite number of at least 0.
fn parse_weight(s: &str) -> Result<f32, String> {
    match s.trim().parse::<f32>() {
        Ok(w) if w.is_finite() && w >= 0.0 => Ok(w),
        _ => Err(format!("{s:?} is not a weight (a number of at least 0)")),
    }
}

/// `--mode lexical,hybrid` or `all`.
fn parse_modes(s: &str) -> Result<Modes, String> {
    if s == "all" {
        return Ok(Modes(vec![
            SearchMode::Lexical,
            SearchMode::Dense,
            SearchMode::Hybrid,
        ]));
    }
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim) {
        match SearchMode::parse(part) {
            Some(SearchMode::Auto) | None => {
                return Err(format!(
                    "unknown mode {part:?}; use lexical, dense, hybrid or all"
                ))
            }
            Some(m) if !out.contains(&m) => out.push(m),
            Some(_) => {}
        }
    }
    Ok(Modes(out))
}

#[derive(Debug, Args)]
pub struct EvalQaArgs {
    #[arg(long)]
    pub corpus: PathBuf,
    #[arg(long)]
    pub queries: PathBuf,
    /// Relevance judgements; without them a retrieved passage counts as a
    /// hit when it contains a gold answer
    #[arg(long)]
    pub qrels: Option<PathBuf>,
    /// Evaluate only the first N questions
    #[arg(long)]
    pub limit: Option<usize>,
    /// Passages per question [setting: retrieval.top_k]
    #[arg(short = 'k', long, value_name = "N")]
    pub top_k: Option<u32>,
    #[command(flatten)]
    pub gen: GenArgs,
}

impl EvalCommand {
    pub fn layer(&self, sources: &mut Sources) {
        match self {
            EvalCommand::Support(a) => a.layer(sources),
            EvalCommand::Qa(a) => {
                a.gen.layer(sources);
                if let Some(k) = a.top_k {
                    sources.flag("retrieval.top_k", FlagValue::Int(k.into()), "--top-k");
                }
            }
            EvalCommand::Grounding(a) => {
                a.gen.layer(sources);
                if let Some(k) = a.top_k {
                    sources.flag("retrieval.top_k", FlagValue::Int(k.into()), "--top-k");
                }
                if let Some(i) = &a.index {
                    sources.flag("index.name", FlagValue::Str(i.clone()), "--index");
                }
            }
            EvalCommand::Agent(a) => a.layer(sources),
            EvalCommand::Retrieval(_) => {}
        }
    }
}

pub async fn run(root: &Root, cmd: EvalCommand) -> anyhow::Result<()> {
    match cmd {
        EvalCommand::Retrieval(args) => run_retrieval(root, args),
        EvalCommand::Qa(args) => run_qa(root, args).await,
        EvalCommand::Support(args) => super::support::eval(root, args).await,
        EvalCommand::Grounding(args) => run_grounding(root, args).await,
        EvalCommand::Agent(args) => run_agent(root, args).await,
    }
}

/// The workspace, the tasks file and its tasks, checked before the model
/// loads: every problem is a usage error (exit 2).
fn agent_inputs(args: &EvalAgentArgs) -> anyhow::Result<(Workspace, PathBuf, Vec<Task>)> {
    let workspace = Workspace::new(&args.dir)
        .map_err(|e| AppError::usage(format!("workspace {}: {e}", args.dir.display())))?;
    let path = match &args.tasks {
        Some(p) => p.clone(),
        None => default_tasks(workspace.path())?,
    };
    if !path.is_file() {
        let hint = if args.tasks.is_none() {
            " (the default, beside the workspace; give --tasks FILE)"
        } else {
            ""
        };
        return Err(
            AppError::usage(format!("no such tasks file: {}{hint}", path.display())).into(),
        );
    }
    let inside = path
        .canonicalize()
        .is_ok_and(|p| p.starts_with(workspace.path()));
    if inside {
        return Err(AppError::usage(format!(
            "the tasks file {} is inside the workspace {}, where the agent could read the answers; keep it outside",
            path.display(),
            workspace.path().display()
        ))
        .into());
    }
    let text = read_text_file(&path)?;
    let tasks =
        agent_eval::parse_tasks(&text, &path.display().to_string()).map_err(AppError::usage)?;
    Ok((workspace, path, tasks))
}

/// The default tasks file in the directory that holds the workspace.
fn default_tasks(workspace: &Path) -> anyhow::Result<PathBuf> {
    let name = workspace
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let file = agent_eval::default_tasks_file(&name);
    match workspace.parent() {
        Some(parent) => Ok(parent.join(file)),
        None => Err(AppError::usage(format!(
            "workspace {} has no parent directory for {file}; give --tasks FILE",
            workspace.display(),
        ))
        .into()),
    }
}

/// The policy of acting tasks: `--mode` (auto unless given; the setting
/// `agent.mode` is a user's, not a benchmark's), the sandbox probe and
/// the allow and deny rules, with nobody to ask. Says on stderr what the
/// mode and the sandbox leave the agent, when that is less than `auto`.
fn acting_policy(root: &Root, args: &EvalAgentArgs) -> anyhow::Result<Policy> {
    let mut policy = root.agent_policy(Interaction::NoTty, args.no_sandbox)?;
    policy.mode = args
        .mode
        .as_deref()
        .and_then(Mode::parse)
        .unwrap_or(Mode::Auto);
    let denied = match (policy.mode, &policy.isolation) {
        (Mode::ReadOnly, _) => Some("read-only mode: every edit and command is refused".to_string()),
        (Mode::Ask, _) => Some("ask mode: nobody can be asked, so every edit and command is denied".into()),
        (Mode::AutoEdit, _) => Some("auto-edit mode: nobody can be asked, so every command is denied".into()),
        (Mode::Auto, Isolation::Unavailable(why)) => Some(format!(
            "the sandbox is unavailable ({why}): with nobody to ask, every command is denied and ends its task's turn (--no-sandbox runs them unconfined)"
        )),
        (Mode::Auto, _) => None,
    };
    if let Some(d) = denied {
        eprintln!("lore: warning: acting tasks: {d}");
    }
    if args.no_sandbox {
        eprintln!(
            "{}",
            progress::red("lore: warning: --no-sandbox: commands and checks run with your full permissions and network")
        );
    }
    Ok(policy)
}

async fn run_agent(root: &Root, args: EvalAgentArgs) -> anyhow::Result<()> {
    let (workspace, tasks_path, mut tasks) = agent_inputs(&args)?;
    tasks.truncate(args.limit.unwrap_or(usize::MAX));
    if tasks.is_empty() {
        return Err(AppError::usage("no tasks to run (--limit 0)").into());
    }
    let format = args
        .format
        .map_or(root.settings.settings.output.format, Into::into);
    let model = with_interrupt(root.load_model(&Stderr::new()))
        .await?
        .map_err(AppError::from)?;
    let config = root.agent_config(model.info())?;
    let policy = if tasks.iter().any(|t| t.check().is_some()) {
        acting_policy(root, &args)?
    } else {
        Policy::read_only()
    };
    let facts = announce(&workspace, &tasks_path, &tasks, &config, &policy);
    // Acting tasks never get the fixture, only copies: this proves it.
    let before = act::digest(workspace.path())?;
    // The knowledge-base tasks search the configured index; the first run
    // fills "default" with the sample knowledge base, as `lore ask` does.
    let search = match root.open_index(&root.settings.settings.index.name, &Stderr::new()) {
        Ok(index) => Some(root.retrieval(Some(index))?),
        Err(e) => {
            eprintln!("lore: warning: {e}; the agent has no search tool");
            None
        }
    };
    let setup = agent_eval::Setup {
        model: model.clone(),
        workspace,
        search,
        config,
        policy,
    };
    let width = tasks.iter().map(|t| t.id.len()).max().unwrap_or(0).max(4);
    let stdout = std::io::stdout();
    if format == OutputFormat::Text {
        writeln!(stdout.lock(), "{}", agent_eval::task_header(width))?;
    }
    let bar = match format {
        OutputFormat::Json => progress::bar(tasks.len() as u64, "tasks"),
        _ => indicatif::ProgressBar::hidden(),
    };
    let mut write_err = None;
    let started = Instant::now();
    let task = agent_eval::run(&setup, &tasks, |r| {
        bar.inc(1);
        let mut out = stdout.lock();
        let written = match format {
            OutputFormat::Text => writeln!(out, "{}", agent_eval::task_line(r, width)),
            OutputFormat::Jsonl => writeln!(out, "{}", task_json(r)),
            OutputFormat::Json => Ok(()),
        };
        if let Err(e) = written.and_then(|_| out.flush()) {
            write_err.get_or_insert(e);
        }
    });
    let results = with_interrupt(task).await?;
    bar.finish_and_clear();
    if let Some(e) = write_err {
        return Err(e.into());
    }
    if act::digest(setup.workspace.path())? != before {
        eprintln!(
            "{}",
            progress::red(&format!(
                "lore: warning: the workspace {} changed during the run",
                setup.workspace.path().display()
            ))
        );
    }
    let totals = agent_eval::totals(&results, started.elapsed().as_secs_f64());
    let mut out = stdout.lock();
    let add = |mut v: serde_json::Value| {
        for (k, x) in facts.as_object().into_iter().flatten() {
            v[k] = x.clone();
        }
        with_model(model.info(), v)
    };
    match format {
        OutputFormat::Text => {
            writeln!(out)?;
            eval::print(&mut out, &totals, false, 22, |v| v)?;
        }
        OutputFormat::Json => eval::print(&mut out, &totals, true, 0, |v| {
            let mut v = add(v);
            v["results"] = serde_json::json!(results);
            v
        })?,
        OutputFormat::Jsonl => {
            let mut v = add(serde_json::to_value(&totals)?);
            v["type"] = "totals".into();
            writeln!(out, "{v}")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// Says on stderr what the run is, and returns the same facts for the
/// JSON output.
fn announce(
    workspace: &Workspace,
    tasks_path: &Path,
    tasks: &[Task],
    config: &crate::agent::Config,
    policy: &Policy,
) -> serde_json::Value {
    let acting = tasks.iter().filter(|t| t.check().is_some()).count();
    let acts = if acting > 0 {
        format!(
            "; {acting} acting, each on a copy, in {} mode, {}",
            policy.mode,
            policy.isolation.label()
        )
    } else {
        String::new()
    };
    eprintln!(
        "lore: agent eval: {} tasks of {} in {} ({} steps at most, {} tool calls, greedy{acts})",
        tasks.len(),
        tasks_path.display(),
        workspace.path().display(),
        config.max_steps,
        config.tool_format.as_str()
    );
    let mut facts = serde_json::json!({
        "workspace": workspace.path().display().to_string(),
        "tasks_file": tasks_path.display().to_string(),
        "max_steps": config.max_steps,
        "tool_format": config.tool_format.as_str(),
    });
    if acting > 0 {
        facts["mode"] = policy.mode.as_str().into();
        facts["sandbox"] = policy.isolation.label().into();
    }
    facts
}

/// One task as a JSON line: `{"type": "task", ...}`.
fn task_json(r: &TaskResult) -> serde_json::Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    v["type"] = "task".into();
    v
}

async fn run_grounding(root: &Root, args: EvalGroundingArgs) -> anyhow::Result<()> {
    require_files(&[&args.on, &args.off])?;
    let probes = grounding::read_probes(&args.on, &args.off).map_err(AppError::from)?;
    let progress = Stderr::new();
    let index = root.open_index(&root.settings.settings.index.name, &progress)?;
    let retrieval = root.retrieval(None)?;
    let report = grounding::report(&index, &probes, retrieval.top_k, retrieval.relevance)
        .map_err(AppError::from)?;
    let json = root.settings.settings.output.format != OutputFormat::Text;
    if !args.answer {
        let mut out = std::io::stdout().lock();
        eval::print(&mut out, &report, json, 44, |v| v)?;
        return Ok(());
    }
    let model = with_interrupt(root.load_model(&progress))
        .await?
        .map_err(AppError::from)?;
    let mut ask = root.ask(Some(index))?;
    ask.params = eval_params(&ask.params);
    let bar = progress::bar(probes.len() as u64, "questions");
    let task = grounding::answers(&ask, model.clone(), &probes, |done, _| {
        bar.set_position(done as u64)
    });
    let answers = with_interrupt(task).await?.map_err(task_error)?;
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({"retrieval": report, "answers": answers});
        eval::print(&mut out, &answers, true, 0, |_| {
            with_model(model.info(), value)
        })?;
    } else {
        eval::print(&mut out, &report, false, 44, |v| v)?;
        eval::print(&mut out, &answers, false, 44, |v| v)?;
    }
    Ok(())
}

fn run_retrieval(root: &Root, args: EvalRetrievalArgs) -> anyhow::Result<()> {
    require_files(&[&args.corpus, &args.queries, &args.qrels])?;
    let boosts = Boosts {
        title: args.title_boost,
        headings: args.headings_boost,
        ..Boosts::default()
    };
    let fusion = root.fusion()?;
    let mut modes: Vec<retrieval::Variant> = args.mode.0.iter().map(|m| (*m, None)).collect();
    modes.extend(args.dense_weights.iter().map(|w| {
        let f = crate::index::dense::Fusion {
            dense: *w,
            ..fusion
        };
        (SearchMode::Hybrid, Some(f))
    }));
    let dense = if modes.iter().any(|(m, _)| *m != SearchMode::Lexical) {
        root.dense_spec(None, true)?.map(|d| d.build())
    } else {
        None
    };
    let data = retrieval::DataSet {
        corpus: &args.corpus,
        queries: &args.queries,
        qrels: &args.qrels,
        k: args.k.max(1),
        limit: args.limit,
    };
    let scoring = retrieval::Scoring {
        boosts,
        relevance: root.retrieval(None)?.relevance,
    };
    if dense.is_some() {
        eprintln!(
            "lore: embedding the corpus with {} (slow on a CPU)",
            root.settings.settings.index.embedding_model
        );
    }
    let report = retrieval::retrieval(&data, &modes, scoring, root.chunking(), dense)
        .map_err(AppError::from)?;
    let json = args.format.is_some_and(|f| f != FormatArg::Text);
    let mut out = std::io::stdout().lock();
    eval::print(&mut out, &report, json, 18, |v| v)?;
    Ok(())
}

async fn run_qa(root: &Root, args: EvalQaArgs) -> anyhow::Result<()> {
    let mut files = vec![args.corpus.as_path(), args.queries.as_path()];
    files.extend(args.qrels.as_deref());
    require_files(&files)?;
    let mut queries = qa::read_qa_queries(&args.queries).map_err(AppError::from)?;
    let qrels = match &args.qrels {
        Some(p) => Some(retrieval::read_qrels(p).map_err(AppError::from)?),
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
        retrieval::corpus_index(&args.corpus, root.chunking(), None).map_err(AppError::from)?;
    let model = with_interrupt(root.load_model(&Stderr::new()))
        .await?
        .map_err(AppError::from)?;
    let ask = Ask {
        retrieval: root.retrieval(Some(idx))?,
        prompt: TemplatePrompt::qa(root.template("qa")?),
        not_found: String::new(),
        params: eval_params(&root.gen_params()?),
    };
    let setup = qa::QaSetup {
        model: model.clone(),
        ask,
        key_prefix: &prefix,
        qrels: qrels.as_ref(),
    };
    let bar = progress::bar(queries.len() as u64, "questions");
    let task = qa::run(&setup, &queries, |done, _| bar.set_position(done as u64));
    let report = with_interrupt(task).await?.map_err(task_error)?;
    bar.finish_and_clear();
    let json = root.settings.settings.output.format != OutputFormat::Text;
    let mut out = std::io::stdout().lock();
    eval::print(&mut out, &report, json, 20, |v| with_model(model.info(), v))?;
    Ok(())
}
