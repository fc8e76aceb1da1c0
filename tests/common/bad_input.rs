//! What every bad-input row checks, shared by `tests/bad_input_*.rs`
//! (included with `#[path]`, next to `mod common`).
#![allow(dead_code)]

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use crate::common::{stderr_of, stdout_of, TestEnv};

/// Longest any row may run: a row that hangs fails instead of blocking
/// the suite.
pub const TIMEOUT: Duration = Duration::from_secs(120);

/// Asserts the documented failure: exit `code`, no output on stdout, and
/// exactly one line on stderr, `lore: error: ...`, holding every one of
/// `expect`; no panic or backtrace.
pub fn assert_one_error(row: &str, out: &Output, code: i32, expect: &[&str]) {
    let err = stderr_of(out);
    assert_no_panic(row, &err);
    assert_eq!(out.status.code(), Some(code), "{row}: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{row}: not one line on stderr:\n{err}");
    assert!(lines[0].starts_with("lore: error: "), "{row}: {err}");
    for e in expect {
        assert!(lines[0].contains(e), "{row}: {e:?} not in {err}");
    }
    assert_eq!(stdout_of(out), "", "{row}: stdout");
}

/// Asserts success with exactly one `lore: warning:` line on stderr holding
/// every one of `expect`.
pub fn assert_one_warning(row: &str, out: &Output, expect: &[&str]) {
    let err = stderr_of(out);
    assert_no_panic(row, &err);
    assert_eq!(out.status.code(), Some(0), "{row}: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{row}: not one line on stderr:\n{err}");
    assert!(lines[0].starts_with("lore: warning: "), "{row}: {err}");
    for e in expect {
        assert!(lines[0].contains(e), "{row}: {e:?} not in {err}");
    }
}

pub fn assert_no_panic(row: &str, stderr: &str) {
    for bad in ["panicked", "stack backtrace", "RUST_BACKTRACE"] {
        assert!(!stderr.contains(bad), "{row}: {bad:?} on stderr:\n{stderr}");
    }
}

/// Every file (not directory) under `dir`, sorted; none when it is absent.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `lore ARGS` in `env` run through `wrapper` (`sh -c '...' lore`,
/// `setpriv ...`): the wrapper gets lore's isolated environment and
/// working directory, and lore's path as its next argument. A panic in
/// lore would print a backtrace (RUST_BACKTRACE=1), which the checks
/// reject.
pub fn wrapped(env: &TestEnv, wrapper: &[&str], args: &[&str]) -> assert_cmd::Command {
    let lore = env.lore_std();
    let mut cmd = std::process::Command::new(wrapper[0]);
    cmd.args(&wrapper[1..]).arg(lore.get_program()).args(args);
    for (k, v) in lore.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    if let Some(dir) = lore.get_current_dir() {
        cmd.current_dir(dir);
    }
    cmd.env("RUST_BACKTRACE", "1")
        .env("NO_COLOR", "1")
        .stdin(std::process::Stdio::null());
    let mut cmd = assert_cmd::Command::from_std(cmd);
    cmd.timeout(TIMEOUT);
    cmd
}

/// `sh -c` that runs lore with files limited to 32 KiB (`ulimit -f` counts
/// 512-byte blocks in POSIX sh) and SIGXFSZ ignored, so that a write past
/// the limit fails with EFBIG ("File too large") the way a full disk fails
/// with ENOSPC, instead of killing the process.
pub const FULL_DISK: &[&str] = &["sh", "-c", "ulimit -f 64; trap '' XFSZ; exec \"$0\" \"$@\""];

/// The same limit with SIGXFSZ left at its default, which kills the
/// process at the write that crosses it.
pub const FILE_LIMIT_KILLS: &[&str] = &["sh", "-c", "ulimit -f 64; exec \"$0\" \"$@\""];

/// Runs as the unprivileged user `nobody`.
pub const AS_NOBODY: &[&str] = &[
    "setpriv",
    "--reuid=65534",
    "--regid=65534",
    "--clear-groups",
];

/// Whether this process runs as root (file permissions do not apply).
pub fn running_as_root(env: &TestEnv) -> bool {
    let probe = env.write("uid-probe", "");
    std::fs::metadata(probe)
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// Makes `env`'s directories reachable for `nobody` and checks that lore
/// runs as `nobody` at all; the reason when it cannot.
pub fn prepare_for_nobody(env: &TestEnv) -> Result<(), String> {
    for d in ["", "config", "work", "hf", "data"] {
        let p = env.path(d);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", p.display()))?;
    }
    let out = wrapped(env, AS_NOBODY, &["--version"])
        .output()
        .map_err(|e| format!("setpriv: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "lore does not run as nobody through setpriv: {}",
            stderr_of(&out).trim()
        ));
    }
    Ok(())
}
