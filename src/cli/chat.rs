//! `lore chat` (and `lore` alone on a terminal): prepares the model, the
//! index, the session store and piped context, then hands over to the TUI.

use std::io::{IsTerminal, Read};

use clap::Args;

use super::{gen_params, model_to_load, GlobalArgs};
use crate::error::AppError;
use crate::index::KnowledgeIndex;
use crate::prompts;
use crate::sessions::Store;
use crate::settings::{FlagValue, Loaded, Sources};
use crate::tasks::chat::Mode;
use crate::tui::{self, app::App, app::Status, theme};

#[derive(Debug, Args, Default)]
pub struct ChatArgs {
    /// Resume the most recent conversation
    #[arg(long, short = 'c', conflicts_with = "session")]
    pub r#continue: bool,
    /// Resume a saved conversation by id (or a unique prefix of one)
    #[arg(long, value_name = "ID")]
    pub session: Option<String>,
    /// Start in this mode: chat, ask or support [setting: chat.mode]
    #[arg(long, value_name = "MODE")]
    pub mode: Option<String>,
    /// Index for ask and support modes [setting: index.name]
    #[arg(long, short = 'i', value_name = "NAME")]
    pub index: Option<String>,
    /// System prompt of chat mode [setting: generation.system]
    #[arg(long, short = 's')]
    pub system: Option<String>,
    /// Most tokens per reply [setting: generation.max_tokens]
    #[arg(long, short = 'n', value_name = "N")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature, 0 for greedy [setting: generation.temperature]
    #[arg(long, short = 't', value_name = "T")]
    pub temperature: Option<f64>,
}

/// Adds the chat flags to the settings layers.
pub fn flags(a: &ChatArgs, sources: &mut Sources) {
    if let Some(m) = &a.mode {
        sources.flag("chat.mode", FlagValue::Str(m.clone()), "--mode");
    }
    if let Some(i) = &a.index {
        sources.flag("index.name", FlagValue::Str(i.clone()), "--index");
    }
    if let Some(s) = &a.system {
        sources.flag("generation.system", FlagValue::Str(s.clone()), "--system");
    }
    if let Some(n) = a.max_tokens {
        sources.flag(
            "generation.max_tokens",
            FlagValue::Int(n.into()),
            "--max-tokens",
        );
    }
    if let Some(t) = a.temperature {
        sources.flag(
            "generation.temperature",
            FlagValue::Float(t),
            "--temperature",
        );
    }
}

pub async fn run(loaded: &Loaded, _global: &GlobalArgs, args: ChatArgs) -> anyhow::Result<()> {
    if !tui::terminal_available() {
        return Err(AppError::usage(
            "lore chat needs a terminal and none is attached; for scripts use `lore run PROMPT` or `lore ask QUESTION`",
        )
        .into());
    }
    let s = &loaded.settings;
    let mode: Mode = s.chat.mode.parse().map_err(|e: String| {
        AppError::usage(format!("{e} (set by {})", loaded.origin("chat.mode")))
    })?;
    // Piped text is read before the screen takes the terminal over.
    let attachment = if std::io::stdin().is_terminal() {
        None
    } else {
        let mut bytes = Vec::new();
        std::io::stdin().read_to_end(&mut bytes)?;
        Some(super::lossy_utf8(bytes, "stdin")).filter(|t| !t.trim().is_empty())
    };
    let store = Store::new(s.sessions_dir());
    let session = if args.r#continue {
        store
            .latest()
            .map_err(|e| AppError::usage(e.to_string()))?
            .ok_or_else(|| {
                AppError::usage("no saved conversation to continue; start one with `lore chat`")
            })?
    } else if let Some(id) = &args.session {
        store.load(id).map_err(|e| AppError::usage(e.to_string()))?
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
    super::prepare_default_model(&s.model.path, &s.models_dir())?;
    let model = model_to_load(loaded, &s.model.path)?;
    let index = match super::index::open_for_ask(loaded, &s.index.name) {
        Ok(i) => Some(i),
        Err(e) => {
            eprintln!(
                "lore: warning: {e:#}; ask and support modes will find nothing until /index NAME"
            );
            None
        }
    };
    let library = prompts::Library::new(&s.prompts_dir());
    let qa = library
        .get("qa")
        .map_err(|e| AppError::usage(e.to_string()))?;
    let params = gen_params(loaded)?;

    let resolve_loaded = loaded.clone();
    let index_root = s.indexes_dir();
    let backend = tui::Backend {
        model,
        resolve_model: Box::new(move |setting| {
            model_to_load(&resolve_loaded, setting).map_err(|e| format!("{e:#}"))
        }),
        index,
        open_index: Box::new(move |name| {
            KnowledgeIndex::open(&index_root, name, false).map_err(|e| e.to_string())
        }),
        qa,
        top_k: s.retrieval.top_k as usize,
        min_score: s.retrieval.min_score as f32,
        not_found: s.retrieval.not_found.clone(),
        chunking: super::index::chunking(loaded),
        params,
        store: store.clone(),
        support: Some(tui::worker::SupportParts {
            template: library
                .get("support")
                .map_err(|e| AppError::usage(e.to_string()))?,
            policy: s.support.clone(),
            classifier: std::sync::Arc::new(super::support::turn_classifier(loaded)?),
            tickets: crate::tasks::support::TicketStore {
                dir: s.tickets_dir(),
            },
        }),
    };
    let status = Status {
        mode,
        index: s.index.name.clone(),
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
