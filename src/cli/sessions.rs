//! `lore sessions ...`: the conversations `lore chat` saved, and the
//! sessions `lore agent` logged, outside the chat.
//!
//! Chat sessions come first, as they always did; agent sessions (the
//! JSONL logs in `agent/` under the sessions directory) follow in their
//! own table, and in JSON as objects with `"kind": "agent"`. `show`,
//! `export` and `rm` take an agent session's id (or a unique start of it)
//! when no chat session has it.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Subcommand, ValueEnum};
use serde::Serialize;

use crate::agent::rollout::{self, Meta};
use crate::agent::Item;
use crate::error::AppError;
use crate::sessions::{self, SessionError, Store, Summary};
use crate::settings::{Loaded, OutputFormat};

/// Longest first request shown in the text table, in characters.
const REQUEST_CHARS: usize = 60;

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List saved chat sessions, then logged agent sessions, newest first
    List {
        /// Output format [setting: output.format]
        #[arg(long, short = 'f', value_enum)]
        format: Option<super::FormatArg>,
    },
    /// Print a session as Markdown (the same as export --format md)
    Show {
        /// Session id, or enough of its start to be unique
        #[arg(add = clap_complete::ArgValueCandidates::new(super::completions::sessions))]
        id: String,
    },
    /// Delete a session
    Rm {
        /// Session id, or enough of its start to be unique
        #[arg(add = clap_complete::ArgValueCandidates::new(super::completions::sessions))]
        id: String,
    },
    /// Write a session as Markdown or JSON to stdout or a file
    Export {
        /// Session id, or enough of its start to be unique
        #[arg(add = clap_complete::ArgValueCandidates::new(super::completions::sessions))]
        id: String,
        #[arg(long, short = 'f', value_enum, default_value = "md")]
        format: ExportFormat,
        /// Write to this file (replaced atomically) instead of stdout; '-' is stdout
        #[arg(long, short = 'o', value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Markdown, for reading and sharing
    #[value(alias = "markdown")]
    Md,
    /// The saved JSON, which `lore chat --session` can load again
    Json,
}

/// Where sessions are saved: setting `chat.sessions_dir`, by default
/// `$XDG_DATA_HOME/lore/sessions`, the same place `lore chat` writes.
pub fn sessions_dir(loaded: &Loaded) -> PathBuf {
    loaded.settings.sessions_dir()
}

/// Where `lore agent` logs its sessions: `agent/` under the sessions
/// directory (the same place as `app::Root::agent_logs_dir`).
fn agent_dir(loaded: &Loaded) -> PathBuf {
    sessions_dir(loaded).join("agent")
}

pub fn run(loaded: &Loaded, cmd: SessionsCommand) -> anyhow::Result<()> {
    let store = Store::new(sessions_dir(loaded));
    let agents = agent_dir(loaded);
    match cmd {
        SessionsCommand::List { format } => {
            let (list, mut warnings) = store.list_with_warnings().map_err(session_error)?;
            let (agent_list, agent_warnings) = agent_summaries(&agents);
            warnings.extend(agent_warnings);
            for w in &warnings {
                eprintln!("lore: warning: skipped {w}");
            }
            print_list(
                &list,
                &agent_list,
                format.map_or(loaded.settings.output.format, Into::into),
            )
        }
        SessionsCommand::Show { id } => {
            let text = match find(&store, &agents, &id)? {
                Found::Chat(session) => sessions::export_markdown(&session),
                Found::Agent(path) => {
                    let (meta, items) = read_agent(&path)?;
                    agent_markdown(&meta, &items)
                }
            };
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
            Ok(())
        }
        SessionsCommand::Rm { id } => {
            // Removing never reads the file, so a damaged one can go too.
            let removed = match store.remove(&id) {
                Ok(full) => full,
                Err(e @ SessionError::NotFound { .. }) => {
                    let path = agent_path(&agents, &id, e)?;
                    std::fs::remove_file(&path)
                        .with_context(|| format!("cannot delete {}", path.display()))?;
                    file_stem(&path)
                }
                Err(e) => return Err(session_error(e)),
            };
            eprintln!("lore: removed {removed}");
            Ok(())
        }
        SessionsCommand::Export { id, format, output } => {
            let (name, text) = match find(&store, &agents, &id)? {
                Found::Chat(session) => {
                    let text = match format {
                        ExportFormat::Md => sessions::export_markdown(&session),
                        ExportFormat::Json => pretty(&session)?,
                    };
                    (session.id, text)
                }
                Found::Agent(path) => {
                    let (meta, items) = read_agent(&path)?;
                    let text = match format {
                        ExportFormat::Md => agent_markdown(&meta, &items),
                        ExportFormat::Json => {
                            pretty(&serde_json::json!({"meta": meta, "items": items}))?
                        }
                    };
                    (meta.id, text)
                }
            };
            match output.filter(|p| p.as_os_str() != "-") {
                Some(path) => {
                    sessions::write_atomic(&path, text.as_bytes())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("lore: wrote {name} to {}", path.display());
                }
                None => {
                    let mut out = std::io::stdout().lock();
                    out.write_all(text.as_bytes())?;
                    out.flush()?;
                }
            }
            Ok(())
        }
    }
}

fn pretty(value: &impl Serialize) -> anyhow::Result<String> {
    let mut json = serde_json::to_string_pretty(value)?;
    json.push('\n');
    Ok(json)
}

/// A session `show`, `export` or `rm` names.
enum Found {
    Chat(sessions::Session),
    /// The log file of an agent session.
    Agent(PathBuf),
}

/// The chat session `id` names, else the agent session it names exactly
/// or by a unique start; when neither has it, the chat store's error.
fn find(store: &Store, agents: &Path, id: &str) -> anyhow::Result<Found> {
    match store.load(id) {
        Ok(session) => Ok(Found::Chat(session)),
        Err(e @ SessionError::NotFound { .. }) => agent_path(agents, id, e).map(Found::Agent),
        Err(e) => Err(session_error(e)),
    }
}

/// The log in `agents` of the agent session `id` names, or `not_found`
/// (the chat store's error) when none does.
fn agent_path(agents: &Path, id: &str, not_found: SessionError) -> anyhow::Result<PathBuf> {
    let stems: Vec<String> = rollout::list(agents).iter().map(|p| file_stem(p)).collect();
    match agent_match(&stems, id) {
        Ok(Some(full)) => Ok(agents.join(format!("{full}.jsonl"))),
        Ok(None) => Err(session_error(not_found)),
        Err(candidates) => Err(AppError::usage(format!(
            "agent session id '{id}' is ambiguous: it matches {}; give more of it",
            candidates.join(", ")
        ))
        .into()),
    }
}

/// The agent session among `ids` that `id` names: exactly, else as the
/// start of exactly one; `Err` with the candidates when several start so.
fn agent_match(ids: &[String], id: &str) -> Result<Option<String>, Vec<String>> {
    if ids.iter().any(|s| s == id) {
        return Ok(Some(id.to_string()));
    }
    let mut starts: Vec<String> = ids.iter().filter(|s| s.starts_with(id)).cloned().collect();
    starts.sort();
    match starts.len() {
        0 => Ok(None),
        1 => Ok(starts.pop()),
        _ => Err(starts),
    }
}

/// An agent log that does not read is bad input (exit 2), like a damaged
/// chat session.
fn read_agent(path: &Path) -> anyhow::Result<(Meta, Vec<Item>)> {
    rollout::read(path).map_err(|e| AppError::usage(format!("agent session {e}")).into())
}

fn file_stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// What the list shows of an agent session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentSummary {
    /// Always "agent": what tells these apart from chat sessions in JSON.
    pub kind: &'static str,
    pub id: String,
    /// When the session started (RFC 3339).
    pub time: String,
    /// The workspace root.
    pub root: String,
    pub model: String,
    pub requests: usize,
    /// The first request, whole (the table shows its first line).
    pub first_request: String,
}

/// The summary of one agent log.
fn agent_summary(meta: &Meta, items: &[Item]) -> AgentSummary {
    let mut requests = items.iter().filter_map(|i| match i {
        Item::Request(text) => Some(text.as_str()),
        Item::Call(_) | Item::Result { .. } | Item::Answer(_) | Item::Decision { .. } => None,
    });
    let first_request = requests.next().unwrap_or_default().to_string();
    AgentSummary {
        kind: "agent",
        id: meta.id.clone(),
        time: meta.time.clone(),
        root: meta.root.clone(),
        model: meta.model.clone(),
        requests: usize::from(!first_request.is_empty()) + requests.count(),
        first_request,
    }
}

/// Every readable agent log in `dir`, newest first, and one "reason" line
/// per log that was skipped.
fn agent_summaries(dir: &Path) -> (Vec<AgentSummary>, Vec<String>) {
    let mut list = Vec::new();
    let mut warnings = Vec::new();
    for path in rollout::list(dir) {
        match rollout::read(&path) {
            Ok((meta, items)) => list.push(agent_summary(&meta, &items)),
            Err(e) => warnings.push(e),
        }
    }
    (list, warnings)
}

/// The first non-blank line of `text`, cut to `max` characters (the last
/// one an ellipsis when cut).
fn first_line(text: &str, max: usize) -> String {
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("");
    if line.chars().count() <= max {
        return line.to_string();
    }
    let mut cut: String = line.chars().take(max.saturating_sub(1)).collect();
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// An agent session as Markdown: its facts, then each request, call,
/// result and answer as the model saw them.
fn agent_markdown(meta: &Meta, items: &[Item]) -> String {
    let mut md = format!("# Agent session {}\n\n", meta.id);
    for (key, value) in [
        ("id", meta.id.clone()),
        ("started", meta.time.clone()),
        ("workspace", meta.root.clone()),
        (
            "model",
            format!("{} (context {})", meta.model, meta.context),
        ),
        ("tool calls", meta.tool_format.clone()),
        ("mode", meta.mode.clone()),
    ] {
        md.push_str(&format!("- {key}: {value}\n"));
    }
    for item in items {
        md.push('\n');
        match item {
            Item::Request(text) => md.push_str(&format!("## You\n\n{}\n", text.trim_end())),
            Item::Call(call) => {
                md.push_str(&format!("## Call\n\n{}", fenced(call.trim(), "json")));
            }
            Item::Result {
                text,
                summary,
                elided,
            } => {
                md.push_str(&format!("## Result: {summary}\n\n"));
                if *elided {
                    md.push_str("*(later elided from the model's context)*\n\n");
                }
                md.push_str(&fenced(text.trim_end(), "text"));
            }
            Item::Answer(reply) => {
                md.push_str(&format!("## lore\n\n{}\n", answer_text(reply).trim_end()));
            }
            Item::Decision {
                tool,
                subject,
                decision,
                by,
                mode,
                ..
            } => {
                let decision = serde_json::to_string(decision).unwrap_or_default();
                let by = serde_json::to_string(by).unwrap_or_default();
                md.push_str(&format!(
                    "*{tool} `{subject}`: {} by {} ({mode} mode)*\n",
                    decision.trim_matches('"'),
                    by.trim_matches('"')
                ));
            }
        }
    }
    md
}

/// The text of an answer step (`{"tool": "answer", "text": ...}`), or the
/// reply itself when it is not one.
fn answer_text(reply: &str) -> String {
    serde_json::from_str::<serde_json::Value>(reply.trim())
        .ok()
        .and_then(|v| v.get("text").and_then(|t| t.as_str()).map(str::to_string))
        .unwrap_or_else(|| reply.to_string())
}

/// `text` in a code fence longer than any run of backticks inside it.
fn fenced(text: &str, lang: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{lang}\n{text}\n{fence}\n")
}

/// Naming a session wrongly or a damaged file is bad input (exit 2); a
/// failing disk is not.
fn session_error(e: SessionError) -> anyhow::Error {
    if e.is_usage() {
        AppError::usage(e.to_string()).into()
    } else {
        e.into()
    }
}

fn print_list(
    list: &[Summary],
    agents: &[AgentSummary],
    format: OutputFormat,
) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Text => {
            if list.is_empty() && agents.is_empty() {
                eprintln!(
                    "lore: no saved sessions (they are written by `lore chat` and `lore agent`)"
                );
                return Ok(());
            }
            print_chat_table(&mut out, list)?;
            if !agents.is_empty() {
                if !list.is_empty() {
                    writeln!(out)?;
                }
                print_agent_table(&mut out, agents)?;
            }
        }
        OutputFormat::Json => {
            let mut all = serde_json::to_value(list)?;
            if let Some(a) = all.as_array_mut() {
                a.extend(agents.iter().map(|s| serde_json::json!(s)));
            }
            writeln!(out, "{all}")?
        }
        OutputFormat::Jsonl => {
            for s in list {
                writeln!(out, "{}", serde_json::to_string(s)?)?;
            }
            for s in agents {
                writeln!(out, "{}", serde_json::to_string(s)?)?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// `ID  STARTED  KIND  REQUESTS  MODEL  ROOT  FIRST REQUEST`, one agent
/// session a line.
fn print_agent_table(out: &mut dyn Write, list: &[AgentSummary]) -> std::io::Result<()> {
    let width = |f: fn(&AgentSummary) -> &str, min: usize| {
        list.iter()
            .map(|s| f(s).chars().count())
            .max()
            .unwrap_or(0)
            .max(min)
    };
    let (w_id, w_model, w_root) = (
        width(|s| &s.id, 2),
        width(|s| &s.model, 5),
        width(|s| &s.root, 4),
    );
    writeln!(
        out,
        "{:<w_id$}  {:<16}  KIND   {:>9}  {:<w_model$}  {:<w_root$}  FIRST REQUEST",
        "ID", "STARTED", "REQUESTS", "MODEL", "ROOT"
    )?;
    for s in list {
        writeln!(
            out,
            "{:<w_id$}  {:<16}  agent  {:>4} reqs  {:<w_model$}  {:<w_root$}  {}",
            s.id,
            short_time(&s.time),
            s.requests,
            s.model,
            s.root,
            first_line(&s.first_request, REQUEST_CHARS)
        )?;
    }
    Ok(())
}

/// `ID  UPDATED  MESSAGES  TITLE`, one chat session a line.
fn print_chat_table(out: &mut dyn Write, list: &[Summary]) -> std::io::Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    let width = list.iter().map(|s| s.id.len()).max().unwrap_or(0).max(2);
    writeln!(
        out,
        "{:<width$}  {:<16}  {:>9}  TITLE",
        "ID", "UPDATED", "MESSAGES"
    )?;
    for s in list {
        let title = if s.title.is_empty() {
            "(untitled)"
        } else {
            &s.title
        };
        writeln!(
            out,
            "{:<width$}  {:<16}  {:>4} msgs  {title}",
            s.id,
            short_time(&s.updated),
            s.messages
        )?;
    }
    Ok(())
}

/// `yyyy-mm-dd hh:mm` in the offset the session was saved with (the local
/// time of whoever saved it).
fn short_time(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t.format("%Y-%m-%d %H:%M").to_string(),
        Err(_) => rfc3339
            .chars()
            .take(16)
            .collect::<String>()
            .replace('T', " "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_time_keeps_the_saved_offset_and_tolerates_junk() {
        assert_eq!(short_time("2026-11-23T20:56:12+01:00"), "2026-11-23 20:56");
        assert_eq!(short_time("2026-11-23T20:56"), "2026-11-23 20:56");
        assert_eq!(short_time(""), "");
    }

    fn meta() -> Meta {
        Meta {
            id: "20261202-101500-4242".into(),
            time: "2026-12-02T10:15:00+00:00".into(),
            root: "/work/ws".into(),
            model: "SmolLM2-135M-Instruct.Q8_0.gguf".into(),
            context: 8192,
            tool_format: "constrained".into(),
            mode: "read-only".into(),
            lore_version: "0.1.0".into(),
        }
    }

    fn items() -> Vec<Item> {
        vec![
            Item::Request("What is max_retries?\n\n```\npiped\n```".into()),
            Item::Call(r#"{"tool": "read", "path": "config.toml"}"#.into()),
            Item::Result {
                text: "Result of read(config.toml):\nL1: max_retries = 5 ```".into(),
                summary: "read config.toml (1 lines)".into(),
                elided: true,
            },
            Item::Answer(r#"{"tool": "answer", "text": "5, in config.toml"}"#.into()),
            Item::Request("And the timeout?".into()),
        ]
    }

    #[test]
    fn an_agent_summary_counts_requests_and_keeps_the_first() {
        let s = agent_summary(&meta(), &items());
        assert_eq!(s.kind, "agent");
        assert_eq!(s.requests, 2);
        assert_eq!(s.root, "/work/ws");
        assert!(s.first_request.starts_with("What is max_retries?\n"));
        assert_eq!(first_line(&s.first_request, 60), "What is max_retries?");
        assert_eq!(first_line("  \n abcdefgh", 5), "abcd…");
        assert_eq!(agent_summary(&meta(), &[]).requests, 0);
    }

    #[test]
    fn agent_ids_match_exactly_or_by_a_unique_start() {
        let ids = vec!["20261202-1015-1".to_string(), "20261202-1016-2".to_string()];
        assert_eq!(agent_match(&ids, "20261202-1016"), Ok(Some(ids[1].clone())));
        assert_eq!(
            agent_match(&ids, "20261202-1015-1"),
            Ok(Some(ids[0].clone()))
        );
        assert_eq!(agent_match(&ids, "1999"), Ok(None));
        assert_eq!(agent_match(&ids, "20261202"), Err(ids.clone()));
    }

    #[test]
    fn an_agent_session_reads_as_markdown_with_safe_fences() {
        let md = agent_markdown(&meta(), &items());
        for part in [
            "# Agent session 20261202-101500-4242\n",
            "- workspace: /work/ws\n",
            "- model: SmolLM2-135M-Instruct.Q8_0.gguf (context 8192)\n",
            "## You\n\nWhat is max_retries?",
            "## Call\n\n```json\n{\"tool\": \"read\", \"path\": \"config.toml\"}\n```\n",
            "## Result: read config.toml (1 lines)\n\n*(later elided",
            "````text\nResult of read(config.toml):\nL1: max_retries = 5 ```\n````\n",
            "## lore\n\n5, in config.toml\n",
            "## You\n\nAnd the timeout?\n",
        ] {
            assert!(md.contains(part), "missing {part:?} in:\n{md}");
        }
        assert_eq!(answer_text("not json"), "not json");
    }

    #[test]
    fn naming_and_damaged_file_errors_are_usage_errors() {
        use crate::error::{exit_for, Exit};
        let usage = session_error(SessionError::InvalidId { id: "../x".into() });
        assert_eq!(exit_for(&usage), Exit::Usage);
        let damaged = session_error(SessionError::Corrupt {
            path: "/s/x.json".into(),
            message: "EOF".into(),
        });
        assert_eq!(exit_for(&damaged), Exit::Usage);
        let disk = session_error(SessionError::Read {
            path: "/s/x.json".into(),
            cause: std::io::Error::other("I/O error"),
        });
        assert_eq!(exit_for(&disk), Exit::Failure);
    }
}
