//! The key map and the slash commands, in one table each: the help overlay
//! and the completion popup read them, and `update` parses commands from
//! [`COMMANDS`], so they cannot disagree with what it does (each entry's
//! [`CommandKind`] must be matched, and a test runs every documented
//! command).

/// Keys, as shown in the help overlay.
pub const KEYS: &[(&str, &str)] = &[
    ("Enter", "send the message (or run a /command)"),
    ("Alt+Enter, Ctrl+J", "insert a new line"),
    (
        "Up / Down",
        "previous / next prompt (when the input is empty)",
    ),
    ("PgUp / PgDn", "scroll the transcript by a page"),
    (
        "Home / End",
        "scroll to the top / bottom (when the input is empty)",
    ),
    ("Ctrl+Home / Ctrl+End", "scroll to the top / bottom"),
    ("Alt+Up / Alt+Down", "select the previous / next reply"),
    (
        "F2, Alt+S",
        "show or hide the sources of the selected reply",
    ),
    (
        "F3, Alt+O",
        "expand or fold the selected reply's tool steps (agent)",
    ),
    ("Tab", "complete a /command"),
    (
        "Ctrl+C",
        "cancel or interrupt the reply; else clear; twice to quit",
    ),
    ("Ctrl+D", "quit (on an empty input)"),
    (
        "y / a / n / Esc",
        "approval prompt: once / session / decline / stop the turn",
    ),
    (
        "↑↓ PgUp PgDn",
        "approval prompt: scroll the command or diff",
    ),
    ("Esc", "close an overlay"),
    ("F1, ? (empty input)", "this help"),
];

/// Which command a [`COMMANDS`] entry is; `app` turns it and the
/// argument into its typed command, so every entry must be handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandKind {
    Help,
    Clear,
    Mode,
    Index,
    Model,
    System,
    Retry,
    Copy,
    Save,
    Sessions,
    Load,
    Tokens,
    Undo,
    Approvals,
    Quit,
}

/// A slash command: name, argument synopsis, what it does.
pub struct Command {
    pub kind: CommandKind,
    pub name: &'static str,
    /// Other names it answers to; not shown or completed.
    pub aliases: &'static [&'static str],
    pub args: &'static str,
    pub help: &'static str,
    /// Refused while a reply is generating: it would change or replace
    /// the conversation the reply belongs to, or the model producing it.
    pub needs_idle: bool,
}

/// Every slash command, in the order the help overlay lists them.
pub const COMMANDS: &[Command] = &[
    Command {
        kind: CommandKind::Help,
        name: "/help",
        aliases: &[],
        args: "",
        help: "show keys and commands",
        needs_idle: false,
    },
    Command {
        kind: CommandKind::Clear,
        name: "/clear",
        aliases: &[],
        args: "",
        help: "start a new conversation (the old one stays saved)",
        needs_idle: true,
    },
    Command {
        kind: CommandKind::Mode,
        name: "/mode",
        aliases: &[],
        args: "MODE",
        help: "chat, ask (the index), support, agent (tools on files)",
        needs_idle: false,
    },
    Command {
        kind: CommandKind::Index,
        name: "/index",
        aliases: &[],
        args: "NAME",
        help: "search another index",
        needs_idle: false,
    },
    Command {
        kind: CommandKind::Model,
        name: "/model",
        aliases: &[],
        args: "SPEC",
        help: "load another model (file, directory, name or hub id)",
        needs_idle: true,
    },
    Command {
        kind: CommandKind::System,
        name: "/system",
        aliases: &[],
        args: "[TEXT]",
        help: "set the system prompt (show it without TEXT)",
        needs_idle: false,
    },
    Command {
        kind: CommandKind::Retry,
        name: "/retry",
        aliases: &[],
        args: "",
        help: "generate the last reply again",
        needs_idle: true,
    },
    Command {
        kind: CommandKind::Copy,
        name: "/copy",
        aliases: &[],
        args: "",
        help: "copy the selected reply to the clipboard (OSC 52)",
        needs_idle: false,
    },
    Command {
        kind: CommandKind::Save,
        name: "/save",
        aliases: &[],
        args: "NAME",
        help: "name this conversation",
        needs_idle: false,
    },
    Command {
        kind: CommandKind::Sessions,
        name: "/sessions",
        aliases: &[],
        args: "",
        help: "list saved conversations",
        needs_idle: false,
    },
    Command {
        kind: CommandKind::Load,
        name: "/load",
        aliases: &[],
        args: "ID",
        help: "open a saved conversation",
        needs_idle: true,
    },
    Command {
        kind: CommandKind::Tokens,
        name: "/tokens",
        aliases: &[],
        args: "",
        help: "count the tokens the next prompt would use",
        needs_idle: false,
    },
    Command {
        kind: CommandKind::Undo,
        name: "/undo",
        aliases: &[],
        args: "",
        help: "revert the agent's last edit",
        needs_idle: true,
    },
    Command {
        kind: CommandKind::Approvals,
        name: "/approvals",
        aliases: &[],
        args: "[MODE]",
        help: "show or set what the agent may do unasked",
        needs_idle: false,
    },
    Command {
        kind: CommandKind::Quit,
        name: "/quit",
        aliases: &["/exit"],
        args: "",
        help: "leave lore",
        needs_idle: false,
    },
];

/// The table entry for a command name (or alias) as typed.
pub fn find_command(name: &str) -> Option<&'static Command> {
    COMMANDS
        .iter()
        .find(|c| c.name == name || c.aliases.contains(&name))
}

/// Completions for a partial input: command names for `/mo`, and the
/// arguments of `/mode` and `/approvals` once the name is typed.
pub fn completions(input: &str) -> Vec<String> {
    if !input.starts_with('/') || input.contains('\n') {
        return Vec::new();
    }
    match input.split_once(' ') {
        None => COMMANDS
            .iter()
            .filter(|c| c.name.starts_with(input))
            .map(|c| c.name.to_string())
            .collect(),
        Some(("/mode", arg)) => arguments("/mode", &["chat", "ask", "support", "agent"], arg),
        Some(("/approvals", arg)) => arguments(
            "/approvals",
            &crate::agent::policy::Mode::ALL.map(|m| m.as_str()),
            arg,
        ),
        Some(_) => Vec::new(),
    }
}

/// `command choice` for each choice that `arg` begins and is not yet.
fn arguments(command: &str, choices: &[&str], arg: &str) -> Vec<String> {
    choices
        .iter()
        .filter(|m| m.starts_with(arg.trim_start()) && **m != arg.trim())
        .map(|m| format!("{command} {m}"))
        .collect()
}

/// The longest prefix shared by all `items`.
pub fn common_prefix(items: &[String]) -> String {
    let Some(first) = items.first() else {
        return String::new();
    };
    let mut end = first.len();
    for item in &items[1..] {
        end = first
            .char_indices()
            .zip(item.chars())
            .take_while(|((_, a), b)| a == b)
            .map(|((i, a), _)| i + a.len_utf8())
            .last()
            .unwrap_or(0)
            .min(end);
    }
    first[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_names_complete_by_prefix() {
        assert_eq!(completions("/s"), ["/system", "/save", "/sessions"]);
        assert_eq!(completions("/mode a"), ["/mode ask", "/mode agent"]);
        assert_eq!(completions("/mode ag"), ["/mode agent"]);
        assert_eq!(
            completions("/mode "),
            ["/mode chat", "/mode ask", "/mode support", "/mode agent"]
        );
        assert!(completions("hello").is_empty());
        assert!(completions("/index foo").is_empty());
        assert_eq!(common_prefix(&["/save".into(), "/sessions".into()]), "/s");
        assert_eq!(common_prefix(&["/load".into()]), "/load");
    }

    #[test]
    fn commands_are_found_by_name_or_alias() {
        assert_eq!(
            find_command("/quit").map(|c| c.kind),
            Some(CommandKind::Quit)
        );
        assert_eq!(
            find_command("/exit").map(|c| c.kind),
            Some(CommandKind::Quit)
        );
        assert!(find_command("/qui").is_none());
        for c in COMMANDS {
            let found = find_command(c.name).map(|f| (f.name, f.kind));
            assert_eq!(found, Some((c.name, c.kind)), "names are unique");
        }
    }
}
