//! The slash commands: parsed from [`keys::COMMANDS`] into a
//! [`SlashCommand`], refused in one place while a reply is generating when
//! their entry says `needs_idle`, then run.

use super::{App, Effect, Overlay, Speaker};
use crate::tasks::chat::Mode;
use crate::tui::keys::{self, CommandKind};

/// A slash command with its argument. An empty argument is `None` where
/// the bare command does something else (shows the current value, or
/// says how to use it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlashCommand {
    Help,
    Clear,
    /// The mode's name as typed; a bad one is reported when run.
    Mode(String),
    Index(Option<String>),
    Model(Option<String>),
    System(Option<String>),
    Retry,
    Copy,
    Save(Option<String>),
    Sessions,
    Load(Option<String>),
    Tokens,
    Undo,
    /// `/approvals [MODE]`: show or set the agent's approval mode.
    Approvals(Option<String>),
    Quit,
}

impl SlashCommand {
    /// Parses a command line (`/name args...`): the command's table entry
    /// and the typed command, or the unknown name.
    pub fn parse(line: &str) -> Result<(&'static keys::Command, SlashCommand), &str> {
        let (name, arg) = match line.split_once(char::is_whitespace) {
            Some((n, a)) => (n, a.trim()),
            None => (line, ""),
        };
        let entry = keys::find_command(name).ok_or(name)?;
        let given = (!arg.is_empty()).then(|| arg.to_string());
        let cmd = match entry.kind {
            CommandKind::Help => SlashCommand::Help,
            CommandKind::Clear => SlashCommand::Clear,
            CommandKind::Mode => SlashCommand::Mode(arg.to_string()),
            CommandKind::Index => SlashCommand::Index(given),
            CommandKind::Model => SlashCommand::Model(given),
            CommandKind::System => SlashCommand::System(given),
            CommandKind::Retry => SlashCommand::Retry,
            CommandKind::Copy => SlashCommand::Copy,
            CommandKind::Save => SlashCommand::Save(given),
            CommandKind::Sessions => SlashCommand::Sessions,
            CommandKind::Load => SlashCommand::Load(given),
            CommandKind::Tokens => SlashCommand::Tokens,
            CommandKind::Undo => SlashCommand::Undo,
            CommandKind::Approvals => SlashCommand::Approvals(given),
            CommandKind::Quit => SlashCommand::Quit,
        };
        Ok((entry, cmd))
    }

    /// Whether it only reports (the current model, a usage line), which is
    /// harmless while a reply is generating even for a `needs_idle` command.
    fn reports_only(&self) -> bool {
        matches!(self, SlashCommand::Model(None) | SlashCommand::Load(None))
    }

    /// What a refused `needs_idle` command says.
    fn busy_hint(&self, name: &str) -> String {
        match self {
            SlashCommand::Retry => "a reply is on its way: Ctrl+C cancels it".to_string(),
            _ => format!("wait for the reply (or Ctrl+C) before {name}"),
        }
    }
}

impl App {
    /// Runs a command line typed into the input.
    pub(super) fn command(&mut self, line: &str) -> Vec<Effect> {
        let (entry, cmd) = match SlashCommand::parse(line) {
            Ok(parsed) => parsed,
            Err(name) => {
                let text = format!("unknown command {name}; /help lists the commands");
                self.note(Speaker::Error, text);
                return Vec::new();
            }
        };
        if entry.needs_idle && !cmd.reports_only() && self.generating.is_some() {
            self.hint(cmd.busy_hint(entry.name));
            return Vec::new();
        }
        match cmd {
            SlashCommand::Help => self.overlay = Overlay::Help { scroll: 0 },
            SlashCommand::Quit => {
                self.quit = true;
                return vec![Effect::Quit];
            }
            SlashCommand::Clear => self.clear(),
            SlashCommand::Mode(name) => self.switch_mode(&name),
            SlashCommand::Index(None) => self.note(
                Speaker::Note,
                format!("index: {} (/index NAME to switch)", self.status.index),
            ),
            SlashCommand::Index(Some(name)) => return vec![Effect::SwitchIndex(name)],
            SlashCommand::Model(None) => self.show_model(),
            SlashCommand::Model(Some(spec)) => {
                self.status.loading = Some(spec.clone());
                return vec![Effect::LoadModel(spec)];
            }
            SlashCommand::System(None) => self.show_system(),
            SlashCommand::System(Some(text)) => {
                self.note(Speaker::Note, format!("system prompt set: {text}"));
                self.session.system = text;
                return vec![self.save()];
            }
            SlashCommand::Retry => return self.retry(),
            SlashCommand::Copy => return self.copy(),
            SlashCommand::Save(None) => self.note(Speaker::Error, "usage: /save NAME"),
            SlashCommand::Save(Some(title)) => {
                self.hint(format!("saved as '{title}' ({})", self.session.id));
                self.session.title = title;
                return vec![self.save()];
            }
            SlashCommand::Sessions => return vec![Effect::ListSessions],
            SlashCommand::Load(None) => {
                self.note(Speaker::Error, "usage: /load ID (/sessions lists them)")
            }
            SlashCommand::Load(Some(id)) => return vec![Effect::LoadSession(id)],
            SlashCommand::Tokens => {
                let req = self.request(0, self.input_text(), self.attachment.clone());
                return vec![Effect::CountTokens(req)];
            }
            SlashCommand::Undo => return vec![Effect::Undo],
            SlashCommand::Approvals(mode) => return self.approvals(mode),
        }
        Vec::new()
    }

    /// `/clear`: a new, empty session with the same settings.
    fn clear(&mut self) {
        self.messages.clear();
        self.session = self.store.new_session(
            &self.session.model,
            self.status.mode.name(),
            &self.status.index,
            &self.session.system,
        );
        self.selected = None;
        self.scroll = None;
        self.status.context_used = 0;
        self.agent_fresh = true;
        self.hint("new conversation");
        self.greet();
    }

    /// `/mode NAME`: says what the new mode does, or greets when support
    /// mode starts an empty conversation.
    fn switch_mode(&mut self, name: &str) {
        let mode = match name.parse::<Mode>() {
            Ok(mode) => mode,
            Err(e) => {
                self.note(Speaker::Error, e);
                return;
            }
        };
        self.status.mode = mode;
        self.session.mode = mode.name().to_string();
        let what = match mode {
            Mode::Chat => "plain conversation, no retrieval".to_string(),
            Mode::Ask => format!(
                "each question is answered from index '{}', with sources",
                self.status.index
            ),
            Mode::Support => format!("customer support over index '{}'", self.status.index),
            Mode::Agent => match &self.status.workspace {
                Some(root) => match self.status.policy.as_ref().filter(|p| p.mode.acts()) {
                    Some(p) => format!(
                        "the model works in {root} with tools: it reads files, and edits or runs commands as approvals {} allows (/approvals); F3 shows each step's output",
                        p.mode
                    ),
                    None => format!(
                        "the model reads the files under {root} with tools to answer (read-only); F3 shows each step's output"
                    ),
                },
                None => "no workspace: start lore chat in a readable directory, or give --cd DIR"
                    .to_string(),
            },
        };
        if self.messages.is_empty() && mode == Mode::Support {
            self.greet();
        } else {
            self.note(Speaker::Note, format!("mode {mode}: {what}"));
        }
    }

    fn show_model(&mut self) {
        let model = self
            .status
            .model
            .as_ref()
            .map(|m| format!("{} on {}", m.name, m.device))
            .unwrap_or_else(|| "none loaded".into());
        self.note(
            Speaker::Note,
            format!("model: {model} (/model SPEC to load another)"),
        );
    }

    fn show_system(&mut self) {
        let current = if self.session.system.is_empty() {
            "(none)".to_string()
        } else {
            self.session.system.clone()
        };
        self.note(Speaker::Note, format!("system prompt: {current}"));
    }

    /// `/retry`: drops the last reply and asks for it again.
    fn retry(&mut self) -> Vec<Effect> {
        let Some(last_user) = self
            .messages
            .iter()
            .rposition(|m| m.speaker == Speaker::User)
        else {
            self.hint("nothing to retry yet");
            return Vec::new();
        };
        self.messages.truncate(last_user + 1);
        let user = self.messages[last_user].content.clone();
        self.start_turn(user)
    }

    /// `/copy`: the selected reply, to the clipboard.
    fn copy(&mut self) -> Vec<Effect> {
        let reply = self
            .selected_reply()
            .map(|i| self.messages[i].content.clone())
            .filter(|c| !c.is_empty());
        match reply {
            Some(text) => {
                self.hint(format!(
                    "copied {} characters to the clipboard (OSC 52)",
                    text.chars().count()
                ));
                vec![Effect::Copy(text)]
            }
            None => {
                self.hint("no reply to copy yet");
                Vec::new()
            }
        }
    }
}
