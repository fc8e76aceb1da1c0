//! Whether a call runs: the one place that turns the mode, the rules, the
//! session's grants, the sandbox and who can be asked into allow, ask or
//! deny. Pure: the table test covers every combination.

use serde::{Deserialize, Serialize};

use super::protocol::{DecidedBy, Risk};

/// `agent.mode`: what the agent may do without asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Look only: edits and commands are refused.
    ReadOnly,
    /// Edits and commands wait for the user's consent.
    Ask,
    /// Edits apply (their diff is still shown); commands ask.
    AutoEdit,
    /// Edits apply; commands run while the sandbox isolates them, else ask.
    Auto,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::ReadOnly, Mode::Ask, Mode::AutoEdit, Mode::Auto];

    pub fn as_str(self) -> &'static str {
        match self {
            Mode::ReadOnly => "read-only",
            Mode::Ask => "ask",
            Mode::AutoEdit => "auto-edit",
            Mode::Auto => "auto",
        }
    }

    pub fn parse(s: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether the model is offered `edit` and `shell` at all.
    pub fn acts(self) -> bool {
        self != Mode::ReadOnly
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who can be asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interaction {
    /// The TUI.
    Terminal,
    /// A pipe with a controlling terminal: asked on `/dev/tty`.
    PipeTty,
    /// Nobody (cron, CI): what would be asked is denied.
    NoTty,
}

/// What the sandbox probe found, or that the user turned it off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolation {
    /// Commands run under Landlock and seccomp.
    Isolated,
    /// The kernel lacks what the sandbox needs: the probe's reason.
    Unavailable(String),
    /// `--no-sandbox`.
    Disabled,
}

impl Isolation {
    /// How the status bar and every prompt show it.
    pub fn label(&self) -> String {
        match self {
            Isolation::Isolated => "sandbox: landlock + seccomp".into(),
            Isolation::Unavailable(why) => format!("sandbox: unavailable ({why})"),
            Isolation::Disabled => "sandbox: off (--no-sandbox)".into(),
        }
    }

    /// Whether commands may run without the user watching: isolated, or
    /// the user said so with `--no-sandbox`. An unavailable sandbox fails
    /// closed.
    fn unattended(&self) -> bool {
        !matches!(self, Isolation::Unavailable(_))
    }
}

/// Command prefixes from `agent.allow` and `agent.deny`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rules {
    pub allow: Vec<String>,
    pub deny: Vec<String>,
}

/// The verdict on one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allow(DecidedBy),
    /// Ask the user; `grant` is what `a` would grant, when it can.
    Ask {
        grant: Option<String>,
    },
    /// Refused; the model is told `message`.
    Deny {
        by: DecidedBy,
        message: String,
    },
    /// It needs consent and nobody can be asked: refused, and the turn
    /// ends so a pipe exits with its own code.
    Unasked {
        message: String,
    },
}

/// What one call asks for, as the policy sees it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    pub tool: &'a str,
    pub risk: Risk,
    /// The command line for `shell`, the relative path for `edit`.
    pub subject: &'a str,
}

pub const DECLINED_NOTE: &str =
    "Declined by the user: do not run it again; choose another approach or ask the user.";

#[derive(Debug, Clone)]
pub struct Policy {
    pub mode: Mode,
    pub interaction: Interaction,
    pub isolation: Isolation,
    pub rules: Rules,
    /// Session grants: `shell cargo test`, `edit src/a.rs`.
    grants: Vec<String>,
}

impl Policy {
    pub fn new(mode: Mode, interaction: Interaction, isolation: Isolation, rules: Rules) -> Policy {
        Policy {
            mode,
            interaction,
            isolation,
            rules,
            grants: Vec::new(),
        }
    }

    /// The policy of part 1: look only, nobody to ask.
    pub fn read_only() -> Policy {
        Policy::new(
            Mode::ReadOnly,
            Interaction::NoTty,
            Isolation::Unavailable("not probed".into()),
            Rules::default(),
        )
    }

    pub fn decide(&self, call: Call) -> Verdict {
        if call.risk == Risk::Read {
            return Verdict::Allow(DecidedBy::Mode);
        }
        let exec = call.risk == Risk::Exec;
        if exec {
            if let Some(rule) = self.rules.deny.iter().find(|p| denies(p, call.subject)) {
                return Verdict::Deny {
                    by: DecidedBy::Rule,
                    message: format!("Denied by the rule agent.deny = \"{rule}\": {}.", call.tool),
                };
            }
        }
        if self.mode == Mode::ReadOnly {
            return Verdict::Deny {
                by: DecidedBy::Mode,
                message: format!("Not allowed in read-only mode: {}.", call.tool),
            };
        }
        let grant = grant_key(call);
        if grant.as_ref().is_some_and(|g| self.grants.contains(g)) {
            return Verdict::Allow(DecidedBy::Grant);
        }
        let unattended = self.isolation.unattended();
        let by_mode = match (self.mode, exec) {
            (Mode::AutoEdit | Mode::Auto, false) => true,
            (Mode::Auto, true) => unattended,
            _ => false,
        };
        if by_mode {
            return Verdict::Allow(DecidedBy::Mode);
        }
        if exec
            && unattended
            && simple(call.subject)
            && self.rules.allow.iter().any(|p| prefixed(p, call.subject))
        {
            return Verdict::Allow(DecidedBy::Rule);
        }
        match self.interaction {
            Interaction::Terminal | Interaction::PipeTty => Verdict::Ask {
                grant: grant.map(|g| grant_label(call.tool, &g)),
            },
            Interaction::NoTty => Verdict::Unasked {
                message: format!(
                    "Not allowed without approval, and there is no terminal to ask: {} ({}; {} allows it).",
                    call.tool,
                    self.mode,
                    if exec { "--mode auto" } else { "--mode auto-edit" }
                ),
            },
        }
    }

    /// Remembers the user's `a` for `call`: later calls with the same key
    /// run without asking. False when the call cannot be granted.
    pub fn grant(&mut self, call: Call) -> bool {
        match grant_key(call) {
            Some(k) => {
                if !self.grants.contains(&k) {
                    self.grants.push(k);
                }
                true
            }
            None => false,
        }
    }
}

/// Characters that make a command more than one program with arguments:
/// a grant or an allow rule for `cargo test` must not cover
/// `cargo test; rm -rf ~`.
const SHELL_META: &[char] = &[
    ';', '|', '&', '$', '`', '<', '>', '(', ')', '\n', '\r', '\\', '*', '?', '[', '{', '~', '#',
    '"', '\'',
];

fn simple(command: &str) -> bool {
    !command.trim().is_empty() && !command.contains(SHELL_META)
}

/// `prefix` matches whole words at the start of `command`.
fn prefixed(prefix: &str, command: &str) -> bool {
    let want: Vec<&str> = prefix.split_whitespace().collect();
    let have: Vec<&str> = command.split_whitespace().collect();
    !want.is_empty() && have.len() >= want.len() && have[..want.len()] == want[..]
}

/// A deny rule matches any part of a compound command, so `a && rm -rf x`
/// is caught by `rm`.
fn denies(prefix: &str, command: &str) -> bool {
    command
        .split([';', '|', '&', '\n', '(', ')', '`'])
        .map(|part| part.trim_start_matches(|c: char| c == '$' || c.is_whitespace()))
        .any(|part| prefixed(prefix, part))
}

/// The session-grant key: for `shell`, the command name plus its first
/// argument that is not a flag (`cargo test`), only for a simple command;
/// for `edit`, the file.
fn grant_key(call: Call) -> Option<String> {
    match call.risk {
        Risk::Read => None,
        Risk::Write => Some(format!("{} {}", call.tool, call.subject)),
        Risk::Exec => {
            if !simple(call.subject) {
                return None;
            }
            let mut words = call.subject.split_whitespace();
            let name = words.next()?;
            // `FOO=1 cmd` sets a variable: no grant covers that.
            if name.contains('=') {
                return None;
            }
            let mut key = format!("{} {name}", call.tool);
            if let Some(arg) = words.find(|w| !w.starts_with('-')) {
                key.push(' ');
                key.push_str(arg);
            }
            Some(key)
        }
    }
}

/// What the prompt says `a` grants.
fn grant_label(tool: &str, key: &str) -> String {
    let rest = key.strip_prefix(tool).unwrap_or(key).trim();
    match tool {
        "shell" => format!("`{rest} …` for this session"),
        _ => format!("edits to {rest} for this session"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call<'a>(tool: &'a str, subject: &'a str) -> Call<'a> {
        let risk = match tool {
            "edit" => Risk::Write,
            "shell" => Risk::Exec,
            _ => Risk::Read,
        };
        Call {
            tool,
            risk,
            subject,
        }
    }

    #[derive(Debug, PartialEq)]
    enum V {
        Allow,
        Ask,
        Deny,
    }

    fn short(v: &Verdict) -> V {
        match v {
            Verdict::Allow(_) => V::Allow,
            Verdict::Ask { .. } => V::Ask,
            Verdict::Deny { .. } | Verdict::Unasked { .. } => V::Deny,
        }
    }

    /// Every mode × tool × sandbox × who can be asked, against the table
    /// of the README.
    #[test]
    fn the_policy_table() {
        use Interaction::*;
        let tools = ["list", "read", "grep", "search", "edit", "shell"];
        let isolations = [
            Isolation::Isolated,
            Isolation::Unavailable("no landlock".into()),
            Isolation::Disabled,
        ];
        let mut checked = 0;
        for mode in Mode::ALL {
            for tool in tools {
                for iso in &isolations {
                    for who in [Terminal, PipeTty, NoTty] {
                        let p = Policy::new(mode, who, iso.clone(), Rules::default());
                        let c = call(tool, if tool == "edit" { "a.txt" } else { "make test" });
                        let asked = if who == NoTty { V::Deny } else { V::Ask };
                        let want = match (mode, c.risk) {
                            (_, Risk::Read) => V::Allow,
                            (Mode::ReadOnly, _) => V::Deny,
                            (Mode::Ask, _) => asked,
                            (Mode::AutoEdit, Risk::Write) => V::Allow,
                            (Mode::AutoEdit, _) => asked,
                            (Mode::Auto, Risk::Write) => V::Allow,
                            (Mode::Auto, _) if matches!(iso, Isolation::Unavailable(_)) => asked,
                            (Mode::Auto, _) => V::Allow,
                        };
                        let got = p.decide(c);
                        assert_eq!(short(&got), want, "{mode} {tool} {iso:?} {who:?}: {got:?}");
                        checked += 1;
                    }
                }
            }
        }
        assert_eq!(checked, 4 * 6 * 3 * 3);
    }

    #[test]
    fn denials_tell_the_model_plainly() {
        let p = Policy::read_only();
        assert_eq!(
            p.decide(call("shell", "ls")),
            Verdict::Deny {
                by: DecidedBy::Mode,
                message: "Not allowed in read-only mode: shell.".into()
            }
        );
        let p = Policy::new(
            Mode::Ask,
            Interaction::NoTty,
            Isolation::Isolated,
            Rules::default(),
        );
        let Verdict::Unasked { message } = p.decide(call("shell", "ls")) else {
            panic!()
        };
        assert!(message.contains("--mode auto"), "{message}");
        let Verdict::Unasked { message } = p.decide(call("edit", "a.txt")) else {
            panic!()
        };
        assert!(message.contains("--mode auto-edit"), "{message}");
    }

    #[test]
    fn deny_rules_win_over_every_mode_and_catch_compound_commands() {
        let rules = Rules {
            allow: vec!["rm".into()],
            deny: vec!["rm".into(), "git push".into()],
        };
        for mode in Mode::ALL {
            let p = Policy::new(
                mode,
                Interaction::Terminal,
                Isolation::Disabled,
                rules.clone(),
            );
            for cmd in [
                "rm -rf x",
                "make && rm -rf x",
                "echo $(rm x)",
                "git push origin",
            ] {
                assert!(
                    matches!(
                        p.decide(call("shell", cmd)),
                        Verdict::Deny {
                            by: DecidedBy::Rule,
                            ..
                        }
                    ),
                    "{mode} {cmd}"
                );
            }
            assert!(
                !matches!(p.decide(call("shell", "git status")), Verdict::Deny { .. })
                    || mode == Mode::ReadOnly
            );
        }
    }

    #[test]
    fn allow_rules_cover_simple_commands_only_and_only_when_isolated() {
        let rules = Rules {
            allow: vec!["cargo test".into()],
            deny: vec![],
        };
        let p = Policy::new(
            Mode::Ask,
            Interaction::Terminal,
            Isolation::Isolated,
            rules.clone(),
        );
        assert_eq!(
            p.decide(call("shell", "cargo test -q")),
            Verdict::Allow(DecidedBy::Rule)
        );
        assert!(matches!(
            p.decide(call("shell", "cargo test; curl x")),
            Verdict::Ask { grant: None }
        ));
        assert!(matches!(
            p.decide(call("shell", "cargo build")),
            Verdict::Ask { .. }
        ));
        let unsandboxed = Policy::new(
            Mode::Ask,
            Interaction::Terminal,
            Isolation::Unavailable("old kernel".into()),
            rules,
        );
        assert!(matches!(
            unsandboxed.decide(call("shell", "cargo test")),
            Verdict::Ask { .. }
        ));
    }

    #[test]
    fn a_session_grant_covers_the_command_and_its_first_argument() {
        let mut p = Policy::new(
            Mode::Ask,
            Interaction::Terminal,
            Isolation::Isolated,
            Rules::default(),
        );
        let Verdict::Ask { grant } = p.decide(call("shell", "cargo --locked test -q")) else {
            panic!()
        };
        assert_eq!(grant.as_deref(), Some("`cargo test …` for this session"));
        assert!(p.grant(call("shell", "cargo --locked test -q")));
        assert_eq!(
            p.decide(call("shell", "cargo test other")),
            Verdict::Allow(DecidedBy::Grant)
        );
        assert!(matches!(
            p.decide(call("shell", "cargo build")),
            Verdict::Ask { .. }
        ));
        assert!(matches!(
            p.decide(call("shell", "cargo test && curl x")),
            Verdict::Ask { .. }
        ));
        // Compound commands and variable assignments cannot be granted.
        assert!(!p.grant(call("shell", "make | sh")));
        assert!(!p.grant(call("shell", "PATH=/tmp cargo test")));
        assert!(p.grant(call("edit", "src/a.rs")));
        assert_eq!(
            p.decide(call("edit", "src/a.rs")),
            Verdict::Allow(DecidedBy::Grant)
        );
        assert!(matches!(
            p.decide(call("edit", "src/b.rs")),
            Verdict::Ask { .. }
        ));
        // Grants never reach past read-only.
        p.mode = Mode::ReadOnly;
        assert!(matches!(
            p.decide(call("shell", "cargo test")),
            Verdict::Deny { .. }
        ));
    }
}
