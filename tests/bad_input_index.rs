//! Bad input for `lore index`: unknown and invalid index names, paths that
//! do not exist, files that cannot be read or change while read, huge
//! files, symbolic link loops, permissions, and two writers at once.
//!
//! Every failure must be one `lore: error:` line with the documented exit
//! code, no panic, and leave the index as it was; every file that cannot be
//! indexed must be skipped with a warning naming it.

#[path = "common/bad_input.rs"]
mod bad_input;
mod common;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{stderr_of, stdout_of, TestEnv};

/// Generous: a run that takes this long has hung.
const TIMEOUT: Duration = Duration::from_secs(60);

fn lore(env: &TestEnv, args: &[&str]) -> Output {
    env.bare()
        .args(args)
        .timeout(TIMEOUT)
        .output()
        .expect("lore runs")
}

fn no_panic(err: &str) {
    for bad in ["panicked", "stack backtrace", "RUST_BACKTRACE"] {
        assert!(!err.contains(bad), "{bad}: {err}");
    }
}

/// Exactly one stderr line, `lore: error: ...` containing `needle`, and
/// exit `code`.
fn assert_error(out: &Output, code: i32, needle: &str, what: &str) {
    let err = stderr_of(out);
    no_panic(&err);
    assert_eq!(out.status.code(), Some(code), "{what}: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{what}: one line on stderr: {err}");
    assert!(
        lines[0].starts_with("lore: error: ") && lines[0].contains(needle),
        "{what}: expected {needle:?} in {err}"
    );
}

/// Succeeded with a warning that names `path` and gives `reason`.
fn assert_skipped(out: &Output, path: &Path, reason: &str, what: &str) {
    let err = stderr_of(out);
    no_panic(&err);
    assert_eq!(out.status.code(), Some(0), "{what}: {err}");
    let want = format!("lore: warning: skipped {}: {reason}", path.display());
    assert!(err.contains(&want), "{what}: expected {want:?} in {err}");
    assert!(
        err.contains("lore: added "),
        "{what}: the summary line: {err}"
    );
}

fn index_root(env: &TestEnv, name: &str) -> PathBuf {
    env.path("data/lore/indexes").join(name)
}

/// Every file under an index directory with its bytes, to show that a
/// failed command wrote nothing.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    bad_input::files_under(dir)
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_default();
            (p, bytes)
        })
        .collect()
}

/// The files index `name` lists.
fn listed(env: &TestEnv, name: &str) -> Vec<String> {
    let out = lore(env, &["index", "list", "--index", name, "--format", "json"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

/// A small knowledge base in the default index.
fn indexed(env: &TestEnv) -> PathBuf {
    env.write(
        "kb/returns.md",
        "# Returns\n\nYou can return an item within 30 days of delivery.\n",
    );
    env.write("kb/shipping.txt", "Standard shipping takes 3 to 5 days.\n");
    let kb = env.path("kb");
    let out = lore(env, &["index", "add", kb.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    kb
}

#[test]
fn unknown_and_invalid_index_names() {
    let env = TestEnv::new();
    let kb = indexed(&env);
    let kb = kb.to_str().unwrap();
    let before = snapshot(&env.path("data"));
    // (arguments, exit code, text of the one error line)
    let mut rows: Vec<(Vec<&str>, i32, &str)> = Vec::new();
    for cmd in [
        &["index", "search", "refunds"][..],
        &["index", "list"],
        &["index", "stats"],
        &["index", "rm", kb],
        &["index", "rebuild"],
        &["ask", "-n", "4", "-t", "0", "how long do refunds take"],
    ] {
        let mut args = cmd.to_vec();
        args.extend(["--index", "nope"]);
        rows.push((args, 2, "index 'nope' does not exist"));
    }
    for name in [
        "../escape",
        ".hidden",
        "a/b",
        "a\\b",
        "",
        "two words",
        "tab\there",
    ] {
        for cmd in [
            &["index", "search", "refunds"][..],
            &["index", "list"],
            &["index", "stats"],
            &["index", "rm", kb],
            &["index", "rebuild"],
            &["index", "add", kb],
            &["ask", "-n", "4", "-t", "0", "how long do refunds take"],
        ] {
            let mut args = cmd.to_vec();
            args.extend(["--index", name]);
            rows.push((args, 2, "invalid index name"));
        }
    }
    for (args, code, needle) in &rows {
        let out = lore(&env, args);
        assert_error(&out, *code, needle, &args.join(" "));
    }
    // Nothing was created or changed: no `nope` index, nothing outside
    // the indexes directory, the default index as it was.
    assert_eq!(snapshot(&env.path("data")), before);
    assert!(!index_root(&env, "nope").exists());
    assert!(!env.path("escape").exists() && !env.path("data/lore/escape").exists());
}

#[test]
fn paths_that_do_not_exist() {
    let env = TestEnv::new();
    let kb = indexed(&env);
    let broken = env.path("kb-links/broken.md");
    std::fs::create_dir_all(broken.parent().unwrap()).unwrap();
    std::os::unix::fs::symlink(env.path("nowhere.md"), &broken).unwrap();
    let before = snapshot(&env.path("data"));
    let kb = kb.to_str().unwrap();
    let rows: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["index", "add", "/definitely/missing"],
            "no such file or directory: /definitely/missing",
        ),
        // One bad path fails the run before anything is added.
        (
            vec!["index", "add", kb, "/definitely/missing"],
            "no such file or directory: /definitely/missing",
        ),
        (
            vec!["index", "add", "--index", "fresh", "/definitely/missing"],
            "no such file or directory",
        ),
        (
            vec!["index", "add", "../kb/*.nothing"],
            "no such file or directory",
        ),
        (
            vec!["index", "add", broken.to_str().unwrap()],
            "no such file or directory",
        ),
        (vec!["index", "add", "../kb/[unclosed*"], "invalid glob"),
    ];
    for (args, needle) in &rows {
        let out = lore(&env, args);
        assert_error(&out, 2, needle, &args.join(" "));
    }
    assert_eq!(snapshot(&env.path("data")), before);
    assert!(!index_root(&env, "fresh").exists(), "no index was created");
}

#[test]
fn files_that_cannot_be_read_are_skipped_by_name() {
    let env = TestEnv::new();
    let dir = env.path("odd");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    env.write("odd/good.txt", "The warehouse is in Rotterdam.\n");
    // Listed by the walk, gone when read: a link whose target was deleted.
    std::os::unix::fs::symlink(dir.join("deleted.txt"), dir.join("broken.txt")).unwrap();
    // A directory loop through a link, and two links pointing at each other.
    std::os::unix::fs::symlink("..", dir.join("sub/loop")).unwrap();
    std::os::unix::fs::symlink("ping", dir.join("pong")).unwrap();
    std::os::unix::fs::symlink("pong", dir.join("ping")).unwrap();
    // Reading a pipe would wait for a writer forever.
    let fifo = dir.join("pipe");
    let made = Command::new("mkfifo").arg(&fifo).status();
    let have_fifo = made.is_ok_and(|s| s.success());
    if !have_fifo {
        eprintln!("skipped: the pipe rows: mkfifo is not available");
    }

    let started = Instant::now();
    let out = lore(&env, &["index", "add", dir.to_str().unwrap()]);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the walk terminates"
    );
    let rows: Vec<(PathBuf, String)> = vec![
        (
            dir.join("broken.txt"),
            "broken symbolic link: its target does not exist".into(),
        ),
        (
            dir.join("sub/loop"),
            format!("symbolic link loop: it leads back to {}", dir.display()),
        ),
        (dir.join("ping"), "unreadable: ".into()),
        (dir.join("pong"), "unreadable: ".into()),
    ];
    for (path, reason) in &rows {
        assert_skipped(&out, path, reason, &path.display().to_string());
    }
    if have_fifo {
        assert_skipped(&out, &fifo, "not a regular file", "pipe in a directory");
    }
    let err = stderr_of(&out);
    assert!(err.contains("added 1,"), "{err}");
    assert_eq!(
        listed(&env, "default"),
        [dir.join("good.txt").display().to_string()]
    );

    if have_fifo {
        // Named on the command line, a pipe is skipped too, without
        // waiting for a writer.
        let out = lore(&env, &["index", "add", fifo.to_str().unwrap()]);
        assert_skipped(&out, &fifo, "not a regular file", "pipe as an argument");
    }
    let out = lore(&env, &["index", "add", "/dev/null"]);
    assert_skipped(
        &out,
        Path::new("/dev/null"),
        "not a regular file",
        "a device",
    );
    assert_eq!(listed(&env, "default").len(), 1);
}

#[test]
fn a_two_gigabyte_file_is_skipped_quickly() {
    let env = TestEnv::new();
    env.write("big/small.txt", "Gift cards never expire.\n");
    let huge = env.path("big/huge.txt");
    // Sparse: no disk space, no time to write.
    std::fs::File::create(&huge)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    for target in [env.path("big"), huge.clone()] {
        let started = Instant::now();
        let out = lore(&env, &["index", "add", target.to_str().unwrap()]);
        let took = started.elapsed();
        assert_skipped(&out, &huge, "larger than 20 MB", "index.max_file_mb");
        assert!(took < Duration::from_secs(10), "took {took:?}");
    }
    assert_eq!(
        listed(&env, "default"),
        [env.path("big/small.txt").display().to_string()]
    );
}

#[test]
fn a_file_growing_while_it_is_added() {
    let env = TestEnv::new();
    let grow = env.write(
        "grow/log.txt",
        &"An early line of the log.\n".repeat(20_000),
    );
    env.write("grow/other.txt", "The warehouse is in Rotterdam.\n");
    let stop = Arc::new(AtomicBool::new(false));
    let appender = {
        let (stop, grow) = (stop.clone(), grow.clone());
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&grow)
                .unwrap();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                writeln!(f, "appended line {i} while lore reads the file").unwrap();
                i += 1;
                if i % 64 == 0 {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        })
    };
    let dir = env.path("grow");
    let out = lore(&env, &["index", "add", dir.to_str().unwrap()]);
    stop.store(true, Ordering::Relaxed);
    appender.join().unwrap();
    let err = stderr_of(&out);
    no_panic(&err);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("added 2,"), "{err}");
    // The entry records what was read, never more than the file holds.
    let out = lore(&env, &["index", "list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let entry = v["files"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"] == grow.display().to_string())
        .cloned()
        .unwrap();
    let size = std::fs::metadata(&grow).unwrap().len();
    assert!(
        entry["bytes"].as_u64().unwrap() <= size,
        "{entry} vs {size}"
    );

    // The file changed after it was read, so the next run reads it again
    // and the index then holds its last line; then nothing is left to do.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&grow)
        .and_then(|mut f| std::io::Write::write_all(&mut f, b"zanzibarword closes the log\n"))
        .unwrap();
    let out = lore(&env, &["index", "add", dir.to_str().unwrap()]);
    assert!(
        stderr_of(&out).contains("updated 1, unchanged 1"),
        "{}",
        stderr_of(&out)
    );
    let out = lore(
        &env,
        &["index", "search", "zanzibarword", "--format", "json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["hits"][0]["path"], grow.display().to_string(), "{v}");
    let out = lore(&env, &["index", "add", dir.to_str().unwrap()]);
    assert!(
        stderr_of(&out).contains("unchanged 2"),
        "{}",
        stderr_of(&out)
    );
}

/// The effective user id: the owner of this process's /proc entry.
fn euid() -> Option<u32> {
    std::fs::metadata("/proc/self").ok().map(|m| m.uid())
}

/// How to run `lore` as a user that file permissions apply to: as root,
/// through setpriv as nobody, with a copy of the binary that user may run
/// (the build directory may be private); else directly. None, with the
/// reason, when that cannot be arranged.
fn unprivileged(env: &TestEnv) -> Result<Vec<String>, String> {
    let bin = assert_cmd::cargo::cargo_bin("lore");
    match euid() {
        None => Err("cannot tell which user the tests run as (/proc/self)".into()),
        Some(0) => {
            let setpriv = Command::new("setpriv")
                .arg("--version")
                .stdout(Stdio::null())
                .status();
            if !setpriv.is_ok_and(|s| s.success()) {
                return Err("running as root and setpriv is not available".into());
            }
            let local = env.path("lore");
            std::fs::hard_link(&bin, &local)
                .or_else(|_| std::fs::copy(&bin, &local).map(|_| ()))
                .map_err(|e| format!("cannot place the lore binary for user nobody: {e}"))?;
            Ok([
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                local.to_str().unwrap(),
            ]
            .map(String::from)
            .to_vec())
        }
        Some(_) => Ok(vec![bin.display().to_string()]),
    }
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn permission_denied() {
    let env = TestEnv::new();
    let prefix = match unprivileged(&env) {
        Ok(p) => p,
        Err(why) => {
            eprintln!("skipped: permission_denied: {why}");
            return;
        }
    };
    // Everything the other user needs: the temporary directory, a data
    // directory it may write, and the knowledge base.
    for d in ["", "work", "config", "data", "hf"] {
        chmod(&env.path(d), 0o777);
    }
    let run = |args: &[&str]| -> Output {
        let mut cmd = assert_cmd::Command::new(&prefix[0]);
        cmd.args(&prefix[1..]).args(args);
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("LORE_")) {
            cmd.env_remove(k);
        }
        cmd.env("XDG_CONFIG_HOME", env.path("config"))
            .env("XDG_DATA_HOME", env.path("data"))
            .env("HF_HOME", env.path("hf"))
            .env("HOME", env.path("work"))
            .env("NO_COLOR", "1")
            .current_dir(env.work())
            .timeout(TIMEOUT)
            .output()
            .unwrap()
    };
    let kb = env.path("kb");
    env.write("kb/open.txt", "The warehouse is in Rotterdam.\n");
    env.write("kb/secret.txt", "The safe code is 1234.\n");
    env.write("kb/closed/inside.txt", "Nobody may read this folder.\n");
    chmod(&kb, 0o755);
    chmod(&env.path("kb/open.txt"), 0o644);
    chmod(&env.path("kb/secret.txt"), 0o000);
    chmod(&env.path("kb/closed"), 0o000);

    let out = run(&["index", "add", kb.to_str().unwrap()]);
    assert_skipped(
        &out,
        &env.path("kb/secret.txt"),
        "unreadable: Permission denied",
        "unreadable file",
    );
    assert_skipped(
        &out,
        &env.path("kb/closed"),
        "unreadable: Permission denied",
        "unreadable directory",
    );
    assert!(stderr_of(&out).contains("added 1,"), "{}", stderr_of(&out));

    // An index directory this user may not write: a clear error, and
    // the index as it was.
    let out = run(&["index", "add", "--index", "locked", kb.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let locked = index_root(&env, "locked");
    let before = snapshot(&locked);
    let mut dirs = vec![locked.clone()];
    dirs.extend(
        std::fs::read_dir(&locked)
            .unwrap()
            .flatten()
            .map(|e| e.path()),
    );
    // Readable, not writable: as root, hand it back to root (nobody is
    // then "other"); as another user, the owner's write bits go.
    let files: Vec<PathBuf> = snapshot(&locked).into_keys().collect();
    for (p, mode) in dirs
        .iter()
        .map(|d| (d, 0o555))
        .chain(files.iter().map(|f| (f, 0o444)))
    {
        if euid() == Some(0) {
            std::os::unix::fs::chown(p, Some(0), Some(0)).unwrap();
        }
        chmod(p, mode);
    }
    env.write("kb/new.txt", "A new article.\n");
    chmod(&env.path("kb/new.txt"), 0o644);
    let out = run(&["index", "add", "--index", "locked", kb.to_str().unwrap()]);
    assert_error(&out, 1, "Permission denied", "index directory not writable");
    assert!(
        stderr_of(&out).contains("index 'locked'"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(snapshot(&locked), before);
    // Put permissions back so the temporary directory can be removed.
    for d in &dirs {
        chmod(d, 0o755);
    }
    chmod(&env.path("kb/closed"), 0o755);
}

/// Whether process `pid` holds a flock on the file with inode `ino`.
fn holds_flock(pid: u32, ino: u64) -> Option<bool> {
    let locks = std::fs::read_to_string("/proc/locks").ok()?;
    Some(locks.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // "1: FLOCK ADVISORY WRITE PID MAJ:MIN:INODE START END"; waiting
        // requests are marked "->".
        f.len() >= 6
            && f[1] == "FLOCK"
            && f[4] == pid.to_string()
            && f[5].rsplit(':').next() == Some(&ino.to_string())
    }))
}

#[test]
fn two_writers_at_once() {
    let env = TestEnv::new();
    indexed(&env);
    let lock = index_root(&env, "default/v2/.tantivy-writer.lock");
    let ino = std::fs::metadata(&lock).unwrap().ino();
    if holds_flock(std::process::id(), ino).is_none() {
        eprintln!("skipped: two_writers_at_once: /proc/locks is not readable here");
        return;
    }
    // A batch that takes a few seconds to ingest.
    let big = env.path("big");
    std::fs::create_dir_all(&big).unwrap();
    let para = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do. ".repeat(1000);
    const FILES: usize = 400;
    for i in 0..FILES {
        std::fs::write(
            big.join(format!("f{i}.txt")),
            format!("{para}\nunique{i}\n"),
        )
        .unwrap();
    }
    let mut first = env
        .lore_std()
        .args(["index", "add"])
        .arg(&big)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + TIMEOUT;
    while holds_flock(first.id(), ino) != Some(true) {
        if Instant::now() > deadline || first.try_wait().unwrap().is_some() {
            let _ = first.kill();
            panic!("the first writer never held the lock");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let before = snapshot(&index_root(&env, "default"));
    env.write("kb/late.txt", "A late article.\n");
    let late = env.path("kb/late.txt");
    let kb = env.path("kb");
    let rows: [&[&str]; 3] = [
        &["index", "add", late.to_str().unwrap()],
        &["index", "rm", kb.to_str().unwrap()],
        &["index", "rebuild"],
    ];
    let mut outs = Vec::new();
    for args in rows {
        outs.push((args, lore(&env, args)));
    }
    // Readers keep working meanwhile.
    let search = lore(&env, &["index", "search", "refunds"]);
    let still_running = first.try_wait().unwrap().is_none();
    for (args, out) in &outs {
        assert_error(
            out,
            1,
            "index 'default' is being written by another lore process",
            &args.join(" "),
        );
    }
    assert!(search.status.success(), "{}", stderr_of(&search));
    assert!(still_running, "the first writer finished too early to test");
    // The refused writers wrote nothing (the first may have committed
    // nothing yet either, but files of its own may appear).
    let after = snapshot(&index_root(&env, "default"));
    for (path, bytes) in &before {
        if path.ends_with("meta.json") || path.ends_with("manifest.json") {
            assert_eq!(after.get(path), Some(bytes), "{}", path.display());
        }
    }

    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(s) = first.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = first.kill();
            panic!("the first writer did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(first.stderr.as_mut().unwrap(), &mut err).unwrap();
    no_panic(&err);
    assert!(status.success(), "{err}");
    assert!(err.contains(&format!("added {FILES},")), "{err}");
    // No corruption: everything is there once, and adding again changes
    // nothing.
    assert_eq!(listed(&env, "default").len(), FILES + 2);
    let out = lore(&env, &["index", "search", "unique7", "--format", "json"]);
    assert!(stdout_of(&out).contains("f7.txt"), "{}", stdout_of(&out));
    let out = lore(&env, &["index", "add", big.to_str().unwrap()]);
    assert!(
        stderr_of(&out).contains(&format!("unchanged {FILES}")),
        "{}",
        stderr_of(&out)
    );
}
