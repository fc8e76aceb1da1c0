//! `lore agent [PROMPT]`: one agent turn over the workspace, for pipes.
//! The answer goes to stdout; tool steps go to stderr as one line each
//! (text), or every event goes to stdout as JSON lines (`--format json`).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;
use tokio::sync::watch;

use super::args::GenArgs;
use super::progress::Stderr;
use super::stdio::{read_stdin, with_interrupt};
use crate::agent::fsroot::Root as Workspace;
use crate::agent::protocol::{Event, StopReason};
use crate::agent::rollout::{Meta, Writer};
use crate::agent::{Agent, Config};
use crate::app::Root;
use crate::error::{AppError, Exit};
use crate::output::OutputFormat;
use crate::settings::Sources;

#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The request. Piped stdin is appended after it; with no prompt,
    /// stdin is the request.
    pub prompt: Option<String>,
    /// Workspace root [default: the git top level above the current
    /// directory, else the current directory]
    #[arg(long = "cd", short = 'C', value_name = "DIR")]
    pub cd: Option<PathBuf>,
    /// Most model steps (tool calls plus the answer) for this request
    /// [default: 8 for models up to 1B parameters, 24 above]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=200))]
    pub max_steps: Option<u32>,
    /// Continue a logged agent session: its id, or `last`
    #[arg(long, value_name = "ID|last")]
    pub resume: Option<String>,
    /// Write no session log
    #[arg(long, conflicts_with = "resume")]
    pub ephemeral: bool,
    #[command(flatten)]
    pub gen: GenArgs,
}

impl AgentArgs {
    pub fn layer(&self, sources: &mut Sources) {
        self.gen.layer(sources);
    }
}

pub async fn run(root: &Root, args: AgentArgs) -> anyhow::Result<()> {
    let request = match (args.prompt.clone(), read_stdin()?) {
        (Some(p), Some(s)) if !s.trim().is_empty() => format!("{p}\n\n```\n{}\n```", s.trim_end()),
        (Some(p), _) => p,
        (None, Some(s)) => s,
        (None, None) => String::new(),
    };
    if request.trim().is_empty() {
        return Err(AppError::usage(
            "nothing to do: give a request argument or pipe it on stdin (e.g. lore agent \"which file defines main?\")",
        )
        .into());
    }
    let workspace = match &args.cd {
        Some(dir) => Workspace::new(dir),
        None => Workspace::discover(&std::env::current_dir()?),
    }
    .map_err(|e| {
        let dir = args.cd.clone().unwrap_or_else(|| PathBuf::from("."));
        AppError::usage(format!("workspace {}: {e}", dir.display()))
    })?;
    root.gen_params()?;
    let model = with_interrupt(root.load_model(&Stderr::new()))
        .await?
        .map_err(AppError::from)?;
    let file_size = std::fs::metadata(&model.info().path)
        .map(|m| m.len())
        .unwrap_or(0);
    let params = root.gen_params()?;
    let mut config = Config::for_model_file(file_size);
    config.repeat_penalty = params.repeat_penalty;
    config.temperature = params.temperature;
    if let Some(n) = args.max_steps {
        config.max_steps = n as usize;
    }
    let max_steps = config.max_steps;
    let json = root.settings.settings.output.format != OutputFormat::Text;
    eprintln!(
        "lore: agent in {} (read-only, {} steps at most)",
        workspace.path().display(),
        max_steps
    );
    let mut agent = Agent::new(model.as_ref(), workspace, config);
    open_log(root, &args, &mut agent)?;
    let (cancel_tx, mut cancel) = watch::channel(false);
    // Ctrl-C stops the step in progress; the turn then ends as aborted.
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = cancel_tx.send(true);
        }
    });
    let stdout = std::io::stdout();
    let mut write_err = None;
    let mut emit = |event: Event| {
        let mut out = stdout.lock();
        let r = if json {
            serde_json::to_string(&event)
                .map_err(std::io::Error::other)
                .and_then(|line| writeln!(out, "{line}"))
        } else {
            match &event {
                Event::ToolCompleted { summary, .. } => {
                    eprintln!("• {summary}");
                    Ok(())
                }
                Event::TurnCompleted { answer, .. } if !answer.is_empty() => {
                    writeln!(out, "{answer}")
                }
                _ => Ok(()),
            }
        };
        if let Err(e) = r.and_then(|_| out.flush()) {
            write_err.get_or_insert(e);
        }
    };
    let stop = agent.turn(&request, &mut cancel, &mut emit).await;
    watcher.abort();
    if let Some(e) = agent.log_error() {
        eprintln!("lore: warning: the session log stopped: {e}");
    }
    if let Some(e) = write_err {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(
                AppError::new(Exit::Failure, format!("cannot write the output: {e}")).into(),
            );
        }
    }
    let explain = stop.explain(max_steps).unwrap_or_default();
    match stop {
        StopReason::Answered => Ok(()),
        StopReason::StepLimit => Err(AppError::new(Exit::StepLimit, explain).into()),
        StopReason::LoopDetected => Err(AppError::new(Exit::LoopDetected, explain).into()),
        StopReason::Aborted => Err(AppError::new(Exit::Interrupted, explain).into()),
        StopReason::Error => Err(AppError::new(Exit::Failure, explain).into()),
    }
}

/// The log of session `id` (or the newest, for `last`) in `dir`.
fn find_log(dir: &std::path::Path, id: &str) -> Result<PathBuf, AppError> {
    if id == "last" {
        let newest = std::fs::read_dir(dir)
            .ok()
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
            .max_by_key(|p| std::fs::metadata(p).and_then(|m| m.modified()).ok());
        return newest
            .ok_or_else(|| AppError::usage(format!("no agent sessions in {}", dir.display())));
    }
    if id.is_empty() || id.contains(['/', '\\']) || id.starts_with('.') {
        return Err(AppError::usage(format!("bad session id {id:?}")));
    }
    let path = dir.join(format!("{id}.jsonl"));
    if !path.is_file() {
        return Err(AppError::usage(format!(
            "no agent session {id} in {}",
            dir.display()
        )));
    }
    Ok(path)
}

/// Starts the session log, or continues the one `--resume` names.
fn open_log(root: &Root, args: &AgentArgs, agent: &mut Agent) -> Result<(), AppError> {
    let logs = root.settings.settings.sessions_dir().join("agent");
    let resume_path = match &args.resume {
        Some(id) => Some(find_log(&logs, id)?),
        None => None,
    };
    let info = agent.model_info().clone();
    if let Some(path) = &resume_path {
        let meta = agent.resume(path).map_err(AppError::usage)?;
        eprintln!("lore: resuming agent session {}", meta.id);
    } else if !args.ephemeral {
        let meta = Meta {
            id: chrono::Utc::now().format("%Y%m%d-%H%M%S").to_string()
                + &format!("-{}", std::process::id()),
            time: chrono::Utc::now().to_rfc3339(),
            root: agent.root().path().display().to_string(),
            model: info.name.clone(),
            context: info.context_length,
            tool_format: "constrained".into(),
            mode: "read-only".into(),
            lore_version: env!("CARGO_PKG_VERSION").into(),
        };
        match Writer::create(&logs, &meta) {
            Ok(w) => {
                eprintln!("lore: agent session {} ({})", meta.id, w.path().display());
                agent.record(w);
            }
            Err(e) => eprintln!("lore: warning: no session log ({}: {e})", logs.display()),
        }
    }
    Ok(())
}
