//! `lore sessions ...`: the conversations `lore chat` saved, outside the chat.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Subcommand, ValueEnum};

use crate::error::AppError;
use crate::sessions::{self, SessionError, Store, Summary};
use crate::settings::{Loaded, OutputFormat};

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List saved chat sessions, newest first
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

pub fn run(loaded: &Loaded, cmd: SessionsCommand) -> anyhow::Result<()> {
    let store = Store::new(sessions_dir(loaded));
    match cmd {
        SessionsCommand::List { format } => {
            let (list, warnings) = store.list_with_warnings().map_err(session_error)?;
            for w in &warnings {
                eprintln!("lore: warning: skipped {w}");
            }
            print_list(
                &list,
                format.map_or(loaded.settings.output.format, Into::into),
            )
        }
        SessionsCommand::Show { id } => {
            let session = store.load(&id).map_err(session_error)?;
            let mut out = std::io::stdout().lock();
            out.write_all(sessions::export_markdown(&session).as_bytes())?;
            out.flush()?;
            Ok(())
        }
        SessionsCommand::Rm { id } => {
            let removed = store.remove(&id).map_err(session_error)?;
            eprintln!("lore: removed {removed}");
            Ok(())
        }
        SessionsCommand::Export { id, format, output } => {
            let session = store.load(&id).map_err(session_error)?;
            let text = match format {
                ExportFormat::Md => sessions::export_markdown(&session),
                ExportFormat::Json => {
                    let mut json = serde_json::to_string_pretty(&session)?;
                    json.push('\n');
                    json
                }
            };
            match output.filter(|p| p.as_os_str() != "-") {
                Some(path) => {
                    sessions::write_atomic(&path, text.as_bytes())
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    eprintln!("lore: wrote {} to {}", session.id, path.display());
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

/// Naming a session wrongly or a damaged file is bad input (exit 2); a
/// failing disk is not.
fn session_error(e: SessionError) -> anyhow::Error {
    if e.is_usage() {
        AppError::usage(e.to_string()).into()
    } else {
        e.into()
    }
}

fn print_list(list: &[Summary], format: OutputFormat) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Text => {
            if list.is_empty() {
                eprintln!("lore: no saved sessions (they are written by `lore chat`)");
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
        }
        OutputFormat::Json => writeln!(out, "{}", serde_json::to_string(list)?)?,
        OutputFormat::Jsonl => {
            for s in list {
                writeln!(out, "{}", serde_json::to_string(s)?)?;
            }
        }
    }
    out.flush()?;
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
