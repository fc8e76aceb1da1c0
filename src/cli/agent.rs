//! `lore agent [PROMPT]`: one agent turn over the workspace, for pipes.
//! The answer goes to stdout; tool steps go to stderr as one line each
//! (text), or every event goes to stdout as JSON lines (`--format json`).

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use tokio::sync::watch;

use super::args::GenArgs;
use super::progress::Stderr;
use super::stdio::{read_stdin, with_interrupt};
use crate::agent::fsroot::Root as Workspace;
use crate::agent::policy::{Interaction, Mode};
use crate::agent::protocol::{Event, StopReason};
use crate::agent::rollout::{self, Meta, Writer};
use crate::agent::Agent;
use crate::app::Root;
use crate::error::{AppError, Exit};
use crate::output::OutputFormat;
use crate::settings::{FlagValue, Sources};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AgentArgs {
    #[command(subcommand)]
    pub action: Option<AgentAction>,
    /// Continue a logged agent session: its id, or `last` (the same as
    /// `lore agent resume`)
    #[arg(long, value_name = "ID|last", add = clap_complete::ArgValueCandidates::new(super::completions::agent_sessions))]
    pub resume: Option<String>,
    #[command(flatten)]
    pub opts: AgentOpts,
}

#[derive(Debug, Subcommand)]
pub enum AgentAction {
    /// Continue a logged agent session (`lore sessions` lists them) with
    /// the next request
    Resume(ResumeArgs),
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// The session's id
    #[arg(value_name = "ID", add = clap_complete::ArgValueCandidates::new(super::completions::agent_sessions))]
    pub id: Option<String>,
    /// The newest session
    #[arg(long)]
    pub last: bool,
    #[command(flatten)]
    pub opts: AgentOpts,
}

#[derive(Debug, Args)]
pub struct AgentOpts {
    /// The request. Piped stdin is appended after it; with no prompt,
    /// stdin is the request.
    pub prompt: Option<String>,
    /// Workspace root [default: the git top level above the current
    /// directory, else the current directory]
    #[arg(long = "cd", short = 'C', value_name = "DIR")]
    pub cd: Option<PathBuf>,
    /// Most model steps (tool calls plus the answer) for this request
    /// [setting: agent.max_steps; default: 8 for models up to 1B
    /// parameters, 24 above]
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=200))]
    pub max_steps: Option<u32>,
    /// How the model calls tools: native (its chat template's tool calls),
    /// constrained (JSON-schema steps, any model) or auto [setting:
    /// agent.tool_format]
    #[arg(long, value_name = "FORMAT", value_parser = ["auto", "native", "constrained"])]
    pub format_tools: Option<String>,
    /// What the agent may do without asking: read-only (edits and commands
    /// refused), ask (each asked on the terminal), auto-edit (edits apply,
    /// commands ask) or auto (commands run unasked while sandboxed)
    /// [setting: agent.mode; default: read-only]
    #[arg(long, value_name = "MODE", value_parser = ["read-only", "ask", "auto-edit", "auto"])]
    pub mode: Option<String>,
    /// Run commands without the sandbox (Landlock + seccomp), with your
    /// full permissions and network. Never the default.
    #[arg(long)]
    pub no_sandbox: bool,
    /// Write no session log
    #[arg(long)]
    pub ephemeral: bool,
    #[command(flatten)]
    pub gen: GenArgs,
}

impl AgentArgs {
    pub fn layer(&self, sources: &mut Sources) {
        let opts = match &self.action {
            Some(AgentAction::Resume(r)) => &r.opts,
            None => &self.opts,
        };
        opts.gen.layer(sources);
        if let Some(n) = opts.max_steps {
            sources.flag("agent.max_steps", FlagValue::Int(n.into()), "--max-steps");
        }
        if let Some(m) = &opts.mode {
            sources.flag("agent.mode", FlagValue::Str(m.clone()), "--mode");
        }
        if let Some(f) = &opts.format_tools {
            sources.flag(
                "agent.tool_format",
                FlagValue::Str(f.clone()),
                "--format-tools",
            );
        }
    }

    /// The options and the session to resume, whichever form was used.
    fn split(self) -> Result<(AgentOpts, Option<String>), AppError> {
        match self.action {
            Some(AgentAction::Resume(mut r)) => {
                let id = match (r.id.take(), r.last) {
                    (None, true) => "last".to_string(),
                    // `resume --last "next request"`: the one positional is
                    // the request.
                    (Some(p), true) if r.opts.prompt.is_none() => {
                        r.opts.prompt = Some(p);
                        "last".to_string()
                    }
                    (Some(_), true) => {
                        return Err(AppError::usage(
                            "lore agent resume takes an ID or --last, not both",
                        ))
                    }
                    (Some(id), false) => id,
                    (None, false) => return Err(AppError::usage(
                        "lore agent resume needs a session ID or --last (lore sessions lists them)",
                    )),
                };
                Ok((r.opts, Some(id)))
            }
            None => Ok((self.opts, self.resume)),
        }
    }
}

pub async fn run(root: &Root, args: AgentArgs) -> anyhow::Result<()> {
    let (args, resume) = args.split()?;
    if args.ephemeral && resume.is_some() {
        return Err(AppError::usage(
            "--ephemeral writes no log, so it cannot continue a logged session",
        )
        .into());
    }
    let request = request_text(args.prompt.clone())?;
    let resume_path = match &resume {
        Some(id) => Some(rollout::find(&root.agent_logs_dir(), id).map_err(AppError::usage)?),
        None => None,
    };
    let workspace = workspace_for(args.cd.clone(), resume_path.as_deref())?;
    root.gen_params()?;
    let model = with_interrupt(root.load_model(&Stderr::new()))
        .await?
        .map_err(AppError::from)?;
    let config = root.agent_config(model.info())?;
    let max_steps = config.max_steps;
    let json = root.settings.settings.output.format != OutputFormat::Text;

    let retrieval = root.agent_retrieval(&Stderr::new())?;
    let searches = retrieval.is_some();
    let mut agent = Agent::new(model.clone(), workspace, config);
    if let Some(r) = retrieval {
        agent = agent.with_search(r);
    }
    set_policy(root, &args, &mut agent, max_steps, searches)?;
    open_log(root, &args, resume_path.as_deref(), &mut agent)?;
    let (cancel_tx, mut cancel) = watch::channel(false);
    // Ctrl-C stops the step in progress; the turn then ends as aborted.
    let watcher = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = cancel_tx.send(true);
        }
    });
    let stdout = std::io::stdout();
    let mut write_err = None;
    let mut sources = None;
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
                Event::Warning { message } => {
                    eprintln!("lore: warning: {message}");
                    Ok(())
                }
                Event::Sources { citations, .. } => {
                    sources = footnotes(citations);
                    Ok(())
                }
                Event::TurnCompleted { answer, .. } if !answer.is_empty() => {
                    writeln!(out, "{answer}").and_then(|_| match sources.take() {
                        Some(f) => writeln!(out, "\n{f}"),
                        None => Ok(()),
                    })
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
        StopReason::NeedsApproval | StopReason::Declined => {
            Err(AppError::new(Exit::NeedsApproval, explain).into())
        }
        StopReason::Error => Err(AppError::new(Exit::Failure, explain).into()),
    }
}

/// The mode, the sandbox and who answers approvals: the controlling
/// terminal when there is one, else nobody. Says on stderr what was chosen.
fn set_policy(
    root: &Root,
    args: &AgentOpts,
    agent: &mut Agent,
    max_steps: usize,
    searches: bool,
) -> Result<(), AppError> {
    let approver = super::approve::TtyApprover::open();
    let interaction = match approver {
        Some(_) => Interaction::PipeTty,
        None => Interaction::NoTty,
    };
    let policy = root.agent_policy(interaction, args.no_sandbox)?;
    let mode = policy.mode;
    agent
        .set_policy(policy)
        .map_err(|e| AppError::new(Exit::Failure, e))?;
    if let Some(a) = approver {
        agent.set_approver(Box::new(a));
    }
    if args.no_sandbox {
        eprintln!(
            "{}",
            super::progress::red(
                "lore: warning: --no-sandbox: commands run with your full permissions and network"
            )
        );
    }
    eprintln!(
        "lore: agent in {} ({} mode{}, {} steps at most, {} tool calls{})",
        agent.root().path().display(),
        mode,
        if mode.acts() {
            format!(", {}", agent.policy().isolation.label())
        } else {
            String::new()
        },
        max_steps,
        agent.config().tool_format.as_str(),
        if searches {
            format!(
                ", search over index '{}'",
                root.settings.settings.index.name
            )
        } else {
            String::new()
        }
    );
    Ok(())
}

/// The request: the argument, stdin, or both (stdin as a fenced block).
fn request_text(prompt: Option<String>) -> anyhow::Result<String> {
    let request = match (prompt, read_stdin()?) {
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
    Ok(request)
}

/// `--cd DIR`, else a resumed session's own workspace, else the git top
/// level above the current directory.
fn workspace_for(
    cd: Option<PathBuf>,
    resume_path: Option<&std::path::Path>,
) -> Result<Workspace, AppError> {
    let cd = cd.or_else(|| {
        let (meta, _) = rollout::read(resume_path?).ok()?;
        Some(PathBuf::from(meta.root))
    });
    let here = std::env::current_dir()
        .map_err(|e| AppError::usage(format!("the current directory: {e}")))?;
    match &cd {
        Some(dir) => Workspace::new(dir),
        None => Workspace::discover(&here),
    }
    .map_err(|e| {
        let dir = cd.clone().unwrap_or_else(|| PathBuf::from("."));
        AppError::usage(format!("workspace {}: {e}", dir.display()))
    })
}

/// Starts the session log, or continues the one `--resume` names.
fn open_log(
    root: &Root,
    args: &AgentOpts,
    resume_path: Option<&std::path::Path>,
    agent: &mut Agent,
) -> Result<(), AppError> {
    let logs = root.agent_logs_dir();
    if let Some(path) = resume_path {
        let meta = agent.resume(path).map_err(AppError::usage)?;
        eprintln!("lore: resuming agent session {}", meta.id);
        // A resumed session never gets back a more permissive mode unasked.
        let now = agent.policy().mode;
        if let Some(then) = Mode::parse(&meta.mode).filter(|m| *m > now) {
            eprintln!("lore: note: the session ran in {then} mode; it continues in {now} mode (--mode {then} to allow the same)");
        }
    } else if !args.ephemeral {
        let meta = Meta::new(agent);
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

/// `Sources:` then `[n] path:Lstart-Lend > heading`, as `lore ask` ends.
fn footnotes(citations: &[crate::grounding::Citation]) -> Option<String> {
    if citations.is_empty() {
        return None;
    }
    let lines: Vec<String> = citations
        .iter()
        .map(|c| format!("[{}] {}", c.n, c.label()))
        .collect();
    Some(format!("Sources:\n{}", lines.join("\n")))
}
