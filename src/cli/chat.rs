//! `lore chat` (and `lore` alone on a terminal): prepares the model, the
//! index, the session store, agent mode's workspace and piped context,
//! then hands over to the TUI.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;

use super::progress::Stderr;
use super::stdio::read_stdin;
use super::SamplingArgs;
use crate::agent::fsroot::Root as Workspace;
use crate::agent::policy::Interaction;
use crate::app::Root;
use crate::error::AppError;
use crate::settings::{FlagValue, Sources};
use crate::tasks::chat::Mode;
use crate::tasks::conversation::{AgentParts, FirstModel};
use crate::tui::app::{App, PolicyView, Status};
use crate::tui::{self, steps, theme};

#[derive(Debug, Args, Default)]
pub struct ChatArgs {
    /// Resume the most recent conversation
    #[arg(long, short = 'c', conflicts_with = "session")]
    pub r#continue: bool,
    /// Resume a saved conversation by id (or a unique prefix of one)
    #[arg(long, value_name = "ID", add = clap_complete::ArgValueCandidates::new(super::completions::sessions))]
    pub session: Option<String>,
    /// Start in this mode: chat, ask, support or agent [setting: chat.mode]
    #[arg(long, value_name = "MODE")]
    pub mode: Option<String>,
    /// Agent mode's workspace root [default: the git top level above the
    /// current directory, else the current directory]
    #[arg(long = "cd", short = 'C', value_name = "DIR")]
    pub cd: Option<PathBuf>,
    /// What agent mode may do without asking: read-only, ask (edits and
    /// commands wait for a key), auto-edit or auto [setting: agent.mode;
    /// default: ask]
    #[arg(long, value_name = "MODE", value_parser = ["read-only", "ask", "auto-edit", "auto"])]
    pub agent_mode: Option<String>,
    /// Run the agent's commands without the sandbox (the status bar says
    /// so in red)
    #[arg(long)]
    pub no_sandbox: bool,
    /// Index for ask and support modes [setting: index.name]
    #[arg(long, short = 'i', value_name = "NAME", add = clap_complete::ArgValueCandidates::new(super::completions::indexes))]
    pub index: Option<String>,
    /// System prompt of chat mode [setting: generation.system]
    #[arg(long, short = 's')]
    pub system: Option<String>,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

impl ChatArgs {
    /// Adds these flags to the settings layers.
    pub fn layer(&self, sources: &mut Sources) {
        if let Some(m) = &self.mode {
            sources.flag("chat.mode", FlagValue::Str(m.clone()), "--mode");
        }
        if let Some(i) = &self.index {
            sources.flag("index.name", FlagValue::Str(i.clone()), "--index");
        }
        if let Some(s) = &self.system {
            sources.flag("generation.system", FlagValue::Str(s.clone()), "--system");
        }
        if let Some(m) = &self.agent_mode {
            sources.flag("agent.mode", FlagValue::Str(m.clone()), "--agent-mode");
        }
        self.sampling.layer(sources);
    }
}

pub async fn run(root: &Root, args: ChatArgs) -> anyhow::Result<()> {
    if !tui::terminal_available() {
        return Err(AppError::usage(
            "lore chat needs a terminal and none is attached; for scripts use `lore run PROMPT` or `lore ask QUESTION`",
        )
        .into());
    }
    let s = &root.settings.settings;
    let mode: Mode = s.chat.mode.parse().map_err(|e: String| {
        AppError::usage(format!(
            "{e} (set by {})",
            root.settings.origin("chat.mode")
        ))
    })?;
    // Piped text is read before the screen takes the terminal over.
    // Binary data is refused and invalid UTF-8 replaced, as for `lore run`.
    let attachment = read_stdin()?.filter(|t| !t.trim().is_empty());
    let store = root.sessions();
    let session = if args.r#continue {
        store.latest().map_err(AppError::from)?.ok_or_else(|| {
            AppError::usage("no saved conversation to continue; start one with `lore chat`")
        })?
    } else if let Some(id) = &args.session {
        store.load(id).map_err(AppError::from)?
    } else {
        store.new_session(
            &s.model.path,
            mode.name(),
            &s.index.name,
            &s.generation.system,
        )
    };

    // Everything that may print (quantizing the default model, indexing the
    // sample knowledge base) happens now, before the screen is drawn.
    let progress = Stderr::new();
    // A remote engine is connected to inside the screen, like a local
    // model is loaded there; its settings are checked now.
    if root.remote_options().map_err(AppError::from)?.is_none() {
        root.prepare_default_model(&progress)
            .map_err(AppError::from)?;
        // A model setting that names nothing fails now, with its exit
        // code, rather than inside the screen.
        root.resolve_model(&s.model.path).map_err(AppError::from)?;
    }
    let index = root.open_index_or_warn(&progress);
    let services = root.services(FirstModel::Load(s.model.path.clone()), index)?;
    let agent = agent_parts(root, &args)?;
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let workspace = agent
        .as_ref()
        .map(|a| steps::tilde(a.workspace.path(), home.as_deref()));
    let policy = agent.as_ref().map(|a| PolicyView {
        mode: a.policy.mode,
        isolation: a.policy.isolation.clone(),
    });
    let backend = tui::Backend {
        services,
        store: store.clone(),
        agent,
    };
    let status = Status {
        mode,
        index: s.index.name.clone(),
        workspace,
        policy,
        ..Status::default()
    };
    let mut app = App::new(
        theme::Theme::new(theme::ColorMode::detect()),
        store,
        session,
        status,
    );
    app.attachment = attachment;
    app.set_greeting(&s.support.greeting);
    tui::run(app, backend, s.chat.mouse).await
}

/// Agent mode's parts: the workspace (`--cd`, else the git top level of
/// the current directory), the `agent.*` settings, the session logs and
/// the approval policy (`agent.mode`, `--no-sandbox`).
/// A `--cd` that names no directory is a usage error; without `--cd`, a
/// current directory that cannot be read leaves agent mode unavailable.
fn agent_parts(root: &Root, args: &ChatArgs) -> Result<Option<AgentParts>, AppError> {
    let workspace = match &args.cd {
        Some(dir) => Some(
            Workspace::new(dir)
                .map_err(|e| AppError::usage(format!("workspace {}: {e}", dir.display())))?,
        ),
        None => std::env::current_dir()
            .and_then(|d| Workspace::discover(&d))
            .ok(),
    };
    let settings = root.clone();
    let search = match workspace {
        Some(_) => root.agent_retrieval(&crate::progress::Silent)?,
        None => None,
    };
    let policy = root.agent_policy(Interaction::Terminal, args.no_sandbox)?;
    Ok(workspace.map(|workspace| AgentParts {
        workspace,
        config: Arc::new(move |info: &crate::model::ModelInfo| {
            settings.agent_config(info).map_err(|e| e.to_string())
        }),
        logs_dir: Some(root.agent_logs_dir()),
        search,
        policy,
    }))
}
