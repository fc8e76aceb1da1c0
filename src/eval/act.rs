//! The acting tasks of `lore eval agent`: the agent may edit files and run
//! commands, so it never gets the fixture itself, only a fresh copy per
//! task, and its work is judged by the files it leaves: a check command
//! run in that copy after the turn.
//!
//! The check runs like the agent's own commands (`sh -c`, the scrubbed
//! environment, a timeout, and the sandbox where the kernel has one),
//! because it executes code the model may have written.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::agent::policy::Isolation;
use crate::agent::shell::{self, End, ShellEnv};

/// How long a check may run.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(60);
/// Characters kept from the end of a check's output: enough for the
/// assertion or test failure that explains a FAIL.
const OUTPUT_KEEP: usize = 800;

/// What a task's check command gave.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckRun {
    /// It exited 0.
    pub passed: bool,
    /// `exit 0`, `exit 1`, `timed out after 60 s`, or why it did not run.
    pub verdict: String,
    /// The end of its stdout, then of its stderr.
    pub output: String,
    pub seconds: f64,
}

/// A copy of a workspace in a temporary directory, removed on drop.
pub struct Scratch {
    _dir: tempfile::TempDir,
    root: PathBuf,
}

impl Scratch {
    /// Copies `src` (files, directories and symlinks as they are; other
    /// kinds of file are left out) into a new temporary directory.
    pub fn copy(src: &Path) -> io::Result<Scratch> {
        let dir = tempfile::Builder::new().prefix("lore-eval-").tempdir()?;
        let root = dir.path().canonicalize()?.join("ws");
        std::fs::create_dir(&root)?;
        copy_tree(src, &root)?;
        Ok(Scratch { _dir: dir, root })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }
}

fn sorted_entries(dir: &Path) -> io::Result<Vec<std::fs::DirEntry>> {
    let mut entries = std::fs::read_dir(dir)?.collect::<io::Result<Vec<_>>>()?;
    entries.sort_by_key(|e| e.file_name());
    Ok(entries)
}

fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    for entry in sorted_entries(from)? {
        let kind = entry.file_type()?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if kind.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst)?;
        } else if kind.is_symlink() {
            // Kept as a link: the agent's confinement has to refuse one
            // that leads out, exactly as in a real workspace.
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        }
    }
    Ok(())
}

/// A SHA-256 over every path, kind and content under `dir`, in name
/// order: equal digests before and after a run show that nothing in the
/// fixture changed.
pub fn digest(dir: &Path) -> io::Result<String> {
    fn walk(dir: &Path, rel: &str, h: &mut Sha256) -> io::Result<()> {
        for entry in sorted_entries(dir)? {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = format!("{rel}/{name}");
            let kind = entry.file_type()?;
            h.update(rel.as_bytes());
            if kind.is_dir() {
                h.update(b"\0d\0");
                walk(&entry.path(), &rel, h)?;
            } else if kind.is_symlink() {
                h.update(b"\0l\0");
                h.update(
                    std::fs::read_link(entry.path())?
                        .as_os_str()
                        .as_encoded_bytes(),
                );
            } else if kind.is_file() {
                let bytes = std::fs::read(entry.path())?;
                h.update(format!("\0f{}\0", bytes.len()).as_bytes());
                h.update(&bytes);
            } else {
                h.update(b"\0o\0");
            }
        }
        Ok(())
    }
    let mut h = Sha256::new();
    walk(dir, "", &mut h)?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Runs `command` with `sh -c` in `root` for at most [`CHECK_TIMEOUT`],
/// isolated as `isolation` says.
pub fn run_check(isolation: &Isolation, root: &Path, command: &str) -> CheckRun {
    let started = std::time::Instant::now();
    let ran = ShellEnv::new(isolation.clone())
        .and_then(|env| shell::run(&env, root, command, CHECK_TIMEOUT, &|| false));
    let outcome = match ran {
        Ok(o) => o,
        Err(e) => {
            return CheckRun {
                passed: false,
                verdict: format!("did not run: {e}"),
                output: String::new(),
                seconds: started.elapsed().as_secs_f64(),
            }
        }
    };
    let both = format!("{}{}", outcome.stdout.text, outcome.stderr.text);
    let skip = both.chars().count().saturating_sub(OUTPUT_KEEP);
    CheckRun {
        passed: outcome.end == End::Exited(0),
        verdict: outcome.verdict(),
        output: both.chars().skip(skip).collect(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

#[cfg(test)]
mod tests;
