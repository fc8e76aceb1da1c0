//! The key map and the slash commands, in one table each: the help overlay
//! and the completion popup read them, so they cannot disagree with what
//! `update` does (a test checks every documented command is handled).

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
    ("Tab", "complete a /command"),
    (
        "Ctrl+C",
        "cancel the reply; else clear the input; twice to quit",
    ),
    ("Ctrl+D", "quit (on an empty input)"),
    ("Esc", "close an overlay"),
    ("F1, ? (empty input)", "this help"),
];

/// A slash command: name, argument synopsis, what it does.
pub struct Command {
    pub name: &'static str,
    pub args: &'static str,
    pub help: &'static str,
}

pub const COMMANDS: &[Command] = &[
    Command {
        name: "/help",
        args: "",
        help: "show keys and commands",
    },
    Command {
        name: "/clear",
        args: "",
        help: "start a new conversation (the old one stays saved)",
    },
    Command {
        name: "/mode",
        args: "chat|ask|support",
        help: "plain chat, answers from the index, or support",
    },
    Command {
        name: "/index",
        args: "NAME",
        help: "search another index",
    },
    Command {
        name: "/model",
        args: "SPEC",
        help: "load another model (file, directory, name or hub id)",
    },
    Command {
        name: "/system",
        args: "[TEXT]",
        help: "set the system prompt (show it without TEXT)",
    },
    Command {
        name: "/retry",
        args: "",
        help: "generate the last reply again",
    },
    Command {
        name: "/copy",
        args: "",
        help: "copy the selected reply to the clipboard (OSC 52)",
    },
    Command {
        name: "/save",
        args: "NAME",
        help: "name this conversation",
    },
    Command {
        name: "/sessions",
        args: "",
        help: "list saved conversations",
    },
    Command {
        name: "/load",
        args: "ID",
        help: "open a saved conversation",
    },
    Command {
        name: "/tokens",
        args: "",
        help: "count the tokens the next prompt would use",
    },
    Command {
        name: "/quit",
        args: "",
        help: "leave lore",
    },
];

/// Completions for a partial input: command names for `/mo`, and the
/// arguments of `/mode` once its name is typed.
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
        Some(("/mode", arg)) => ["chat", "ask", "support"]
            .iter()
            .filter(|m| m.starts_with(arg.trim_start()) && *m != &arg.trim())
            .map(|m| format!("/mode {m}"))
            .collect(),
        Some(_) => Vec::new(),
    }
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
        assert_eq!(completions("/mode a"), ["/mode ask"]);
        assert_eq!(
            completions("/mode "),
            ["/mode chat", "/mode ask", "/mode support"]
        );
        assert!(completions("hello").is_empty());
        assert!(completions("/index foo").is_empty());
        assert_eq!(common_prefix(&["/save".into(), "/sessions".into()]), "/s");
        assert_eq!(common_prefix(&["/load".into()]), "/load");
    }
}
