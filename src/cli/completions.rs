//! `lore completions SHELL`, `lore man`, and the values shells offer on TAB
//! for index names, session ids, models and prompt templates.
//!
//! Completion is dynamic in every supported shell: the script a shell
//! sources calls `lore` back (`COMPLETE=SHELL lore -- WORDS...`) on each TAB,
//! so index names or session ids are read when they are asked for, never
//! baked into the script. [`complete_if_asked`] answers those calls.

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, CommandFactory};
use clap_complete::engine::ValueCompleter;
use clap_complete::env::Shells;
use clap_complete::{ArgValueCandidates, CompleteEnv, CompletionCandidate, PathCompleter};

use super::Cli;
use crate::error::AppError;
use crate::prompts;
use crate::sessions::Store;
use crate::settings::{self, Settings, Sources};

/// The environment variable that turns a `lore` run into a completion
/// request; the registration scripts set it when they call `lore` back.
const COMPLETE_VAR: &str = "COMPLETE";

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell
    #[arg(value_name = "SHELL", add = ArgValueCandidates::new(shells))]
    pub shell: String,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Print this subcommand's page instead (for example: index add)
    #[arg(value_name = "SUBCOMMAND", conflicts_with = "dir", add = ArgValueCandidates::new(subcommands))]
    pub subcommand: Vec<String>,
    /// Write every page (lore.1, lore-ask.1, lore-index-add.1, ...) into DIR
    #[arg(long, value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub dir: Option<PathBuf>,
}

/// Answers a shell's completion request and exits when `COMPLETE` is set;
/// otherwise returns at once, having only looked at the environment.
/// Must run before anything is written to stdout.
pub fn complete_if_asked() {
    CompleteEnv::with_factory(Cli::command)
        .var(COMPLETE_VAR)
        .complete();
}

/// `lore completions SHELL`: the same registration script that
/// `COMPLETE=SHELL lore` prints.
pub fn print_script(args: &CompletionsArgs) -> anyhow::Result<()> {
    let all = Shells::builtins();
    let Some(shell) = all.completer(&args.shell) else {
        let names: Vec<&str> = all.names().collect();
        return Err(AppError::usage(format!(
            "unknown shell '{}': expected one of {}",
            args.shell,
            names.join(", ")
        ))
        .into());
    };
    let cmd = Cli::command();
    let name = cmd.get_name();
    let mut script = Vec::new();
    shell.write_registration(COMPLETE_VAR, name, name, &completer(), &mut script)?;
    std::io::stdout().lock().write_all(&script)?;
    Ok(())
}

/// How the script calls `lore` back: as it was invoked, like `CompleteEnv`
/// does. A bare name stays a `PATH` lookup, so the script survives
/// reinstalls; a relative path is made absolute, so it works from any
/// directory.
fn completer() -> String {
    let arg0 = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("lore"));
    let path = match std::env::current_dir() {
        Ok(cwd) if arg0.components().count() > 1 => cwd.join(arg0),
        _ => arg0,
    };
    path.to_string_lossy().into_owned()
}

/// `lore man [SUBCOMMAND...]` prints one roff page; `lore man --dir DIR`
/// writes them all.
pub fn print_man(args: &ManArgs) -> anyhow::Result<()> {
    // The `help` pseudo-subcommand has no page of its own worth reading.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    if let Some(dir) = &args.dir {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut written = 0;
        write_pages(&cmd, dir, &mut written)?;
        eprintln!("lore: wrote {written} man pages to {}", dir.display());
        return Ok(());
    }
    let mut page = &cmd;
    let mut path = String::from("lore");
    for word in &args.subcommand {
        page = page
            .find_subcommand(word)
            .filter(|c| !c.is_hide_set())
            .ok_or_else(|| {
                AppError::usage(format!(
                    "`{path}` has no subcommand '{word}'; `{path} --help` lists them"
                ))
            })?;
        path = format!("{path} {}", page.get_name());
    }
    let mut roff = Vec::new();
    clap_mangen::Man::new(page.clone()).render(&mut roff)?;
    std::io::stdout().lock().write_all(&roff)?;
    Ok(())
}

fn write_pages(cmd: &clap::Command, dir: &Path, written: &mut usize) -> anyhow::Result<()> {
    let man = clap_mangen::Man::new(cmd.clone());
    let file = dir.join(man.get_filename());
    man.generate_to(dir)
        .with_context(|| format!("cannot write {}", file.display()))?;
    *written += 1;
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, written)?;
    }
    Ok(())
}

// Candidate functions run inside a shell's TAB: they must be quick, never
// panic and never print. Anything unreadable just offers nothing.

/// Settings loaded as a normal run loads them (files and `LORE_*`), or
/// `None` when they are invalid.
fn settings() -> Option<Settings> {
    settings::load(&Sources::discover())
        .ok()
        .map(|l| l.settings)
}

/// Index names: the directories under the indexes directory.
pub fn indexes() -> Vec<CompletionCandidate> {
    let Some(s) = settings() else {
        return Vec::new();
    };
    names_in(&s.indexes_dir(), |p| p.is_dir())
        .into_iter()
        .map(CompletionCandidate::new)
        .collect()
}

/// Saved session ids, newest first, each with its title.
pub fn sessions() -> Vec<CompletionCandidate> {
    let Some(s) = settings() else {
        return Vec::new();
    };
    let Ok(list) = Store::new(s.sessions_dir()).list() else {
        return Vec::new();
    };
    list.into_iter()
        .enumerate()
        .map(|(i, summary)| {
            let help = Some(summary.title).filter(|t| !t.is_empty());
            CompletionCandidate::new(summary.id)
                .help(help.map(Into::into))
                .display_order(Some(i))
        })
        .collect()
}

/// Agent session ids, newest first.
pub fn agent_sessions() -> Vec<CompletionCandidate> {
    let Some(s) = settings() else {
        return Vec::new();
    };
    crate::agent::rollout::list(&s.sessions_dir().join("agent"))
        .into_iter()
        .filter_map(|p| Some(p.file_stem()?.to_string_lossy().into_owned()))
        .enumerate()
        .map(|(i, id)| CompletionCandidate::new(id).display_order(Some(i)))
        .collect()
}

/// Prompt template names, built-in and the user's, with their descriptions.
/// The built-ins are offered even when the settings cannot be read.
pub fn templates() -> Vec<CompletionCandidate> {
    let dir = settings().map(|s| s.prompts_dir()).unwrap_or_default();
    let library = prompts::Library::new(&dir);
    library
        .names()
        .into_iter()
        .map(|name| {
            let help = library
                .get(&name)
                .ok()
                .map(|t| t.description)
                .filter(|d| !d.is_empty());
            CompletionCandidate::new(name).help(help.map(Into::into))
        })
        .collect()
}

/// `--model`: the catalogue's names and the GGUF files in the models
/// directory (what `lore models list` shows), and file paths once the word
/// looks like one.
pub fn models(current: &OsStr) -> Vec<CompletionCandidate> {
    let typed = current.to_string_lossy();
    let mut out: Vec<CompletionCandidate> = crate::catalogue::Catalogue::builtin()
        .models
        .iter()
        .filter(|m| m.name.starts_with(typed.as_ref()))
        .map(|m| CompletionCandidate::new(&m.name).help(Some(m.description.clone().into())))
        .collect();
    out.extend(
        settings()
            .map(|s| {
                names_in(&s.models_dir(), |p| {
                    p.is_file()
                        && p.extension()
                            .is_some_and(|x| x.eq_ignore_ascii_case("gguf"))
                })
            })
            .unwrap_or_default()
            .into_iter()
            .filter(|n| n.starts_with(typed.as_ref()))
            .map(CompletionCandidate::new),
    );
    if typed.starts_with(['.', '~', '/']) || typed.contains(std::path::MAIN_SEPARATOR) {
        out.extend(PathCompleter::any().complete(current));
    }
    out
}

/// The shells `lore completions` knows.
fn shells() -> Vec<CompletionCandidate> {
    Shells::builtins()
        .names()
        .map(CompletionCandidate::new)
        .collect()
}

/// The subcommands `lore man` has pages for.
fn subcommands() -> Vec<CompletionCandidate> {
    Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| CompletionCandidate::new(c.get_name()).help(c.get_about().cloned()))
        .collect()
}

/// Sorted names of the entries of `dir` that `keep` accepts, leaving out
/// hidden ones and names that are not UTF-8 (no flag could take them).
fn names_in(dir: &Path, keep: impl Fn(&Path) -> bool) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter(|e| keep(&e.path()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_a_missing_directory_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(names_in(&dir.path().join("nope"), |_| true).is_empty());
    }

    #[test]
    fn names_in_skips_hidden_entries_and_sorts() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["b", "a", ".hidden"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
        }
        std::fs::write(dir.path().join("file"), "").unwrap();
        assert_eq!(names_in(dir.path(), |p| p.is_dir()), ["a", "b"]);
    }

    #[test]
    fn every_builtin_shell_is_offered() {
        let offered: Vec<String> = shells()
            .iter()
            .map(|c| c.get_value().to_string_lossy().into_owned())
            .collect();
        for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
            assert!(offered.iter().any(|o| o == shell), "{shell}: {offered:?}");
        }
    }
}
