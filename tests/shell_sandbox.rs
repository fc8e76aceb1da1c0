//! The `shell` tool's command runner and its sandbox, in a process of
//! their own: what a confined command can and cannot reach, and that no
//! command outlives its timeout, floods lore's memory or waits on stdin.
//! Where the kernel lacks the sandbox, its tests say `skipped: <reason>`
//! and check what holds then.

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use lore::agent::policy::Isolation;
use lore::agent::sandbox::probe;
use lore::agent::shell::{run, End, Outcome, ShellEnv};

fn sh(env: &ShellEnv, root: &Path, command: &str) -> Outcome {
    run(env, root, command, Duration::from_secs(30), &|| false).unwrap()
}

/// The probed isolation, or `None` after saying why the test is skipped
/// and checking the reason reaches the label users see.
fn isolated() -> Option<ShellEnv> {
    match probe() {
        Isolation::Isolated => Some(ShellEnv::new(Isolation::Isolated).unwrap()),
        Isolation::Unavailable(why) => {
            eprintln!("skipped: {why}");
            assert!(!why.is_empty());
            assert!(probe().label().contains(&why), "{}", probe().label());
            None
        }
        Isolation::Disabled => panic!("the probe never disables the sandbox"),
    }
}

/// lore's environment with `HOME` replaced.
fn with_home(home: &Path) -> Vec<(OsString, OsString)> {
    let mut vars: Vec<_> = std::env::vars_os().filter(|(k, _)| k != "HOME").collect();
    vars.push(("HOME".into(), home.into()));
    vars
}

#[test]
fn writes_land_in_the_root_and_the_session_directory_only() {
    let Some(env) = isolated() else { return };
    let root = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let inside = sh(&env, root.path(), "echo a > inside.txt && mkdir d && echo b > d/f && echo c > \"$TMPDIR/t\" && echo d > /dev/null");
    assert_eq!(inside.end, End::Exited(0), "{}", inside.render());
    assert!(root.path().join("d/f").exists());
    assert!(env.tmp.join("t").exists());
    let target = outside.path().join("outside.txt");
    let out = sh(
        &env,
        root.path(),
        &format!("echo x > '{}'", target.display()),
    );
    assert_ne!(out.end, End::Exited(0), "{}", out.render());
    assert!(
        out.stderr.text.contains("ermission denied"),
        "{}",
        out.render()
    );
    assert!(!target.exists());
    for cmd in [
        format!("rm -rf '{}'", outside.path().display()),
        "touch /tmp/lore-sandbox-escape".into(),
    ] {
        let out = sh(&env, root.path(), &cmd);
        assert_ne!(out.end, End::Exited(0), "{cmd}: {}", out.render());
    }
    assert!(outside.path().exists());
    assert!(!Path::new("/tmp/lore-sandbox-escape").exists());
}

#[test]
fn secrets_outside_the_root_stay_unreadable() {
    let Some(_) = isolated() else { return };
    let base = tempfile::tempdir().unwrap();
    let home = base.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/id_rsa"), "FAKE-PRIVATE-KEY").unwrap();
    let root = base.path().join("ws");
    std::fs::create_dir(&root).unwrap();
    let env = ShellEnv::with_env(Isolation::Isolated, with_home(&home)).unwrap();
    let out = sh(&env, &root, "cat \"$HOME/.ssh/id_rsa\"; ls \"$HOME\"");
    assert!(
        !out.stdout.text.contains("FAKE-PRIVATE-KEY"),
        "{}",
        out.render()
    );
    assert!(!out.stdout.text.contains(".ssh"), "{}", out.render());
    assert!(
        out.stderr.text.contains("ermission denied"),
        "{}",
        out.render()
    );
    // lore's own environment, through /proc: Landlock refuses ptrace-class
    // access to processes outside the sandbox.
    let pid = std::process::id();
    let out = sh(&env, &root, &format!("cat /proc/{pid}/environ"));
    assert_ne!(out.end, End::Exited(0), "{}", out.render());
    assert!(!out.stdout.text.contains("PATH="), "{}", out.render());
}

#[test]
fn inet_sockets_fail_and_nothing_connects() {
    let Some(env) = isolated() else { return };
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let root = tempfile::tempdir().unwrap();
    let python = format!(
        "python3 -c \"import socket; a, b = socket.socketpair(); a.send(b'unix ok'); print(b.recv(9).decode()); s = socket.create_connection(('127.0.0.1', {port}), 3); print('connected')\""
    );
    let plain = ShellEnv::new(Isolation::Disabled).unwrap();
    let has_python = sh(&plain, root.path(), "python3 -c 'print(1)'").end == End::Exited(0);
    let command = if has_python {
        python
    } else {
        format!("bash -c 'echo > /dev/tcp/127.0.0.1/{port}' && echo connected")
    };
    let out = sh(&env, root.path(), &command);
    assert_ne!(out.end, End::Exited(0), "{}", out.render());
    assert!(!out.stdout.text.contains("connected"), "{}", out.render());
    assert!(
        out.stderr.text.contains("ermission") || out.stderr.text.contains("not permitted"),
        "{}",
        out.render()
    );
    if has_python {
        // UNIX sockets between the command's own processes still work.
        assert!(out.stdout.text.contains("unix ok"), "{}", out.render());
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(listener.accept().is_err(), "the listener was reached");
}

#[test]
fn a_sandboxed_command_runs_confined() {
    let root = tempfile::tempdir().unwrap();
    let show = "grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status";
    let plain = sh(
        &ShellEnv::new(Isolation::Disabled).unwrap(),
        root.path(),
        show,
    );
    assert!(
        plain.stdout.text.contains("NoNewPrivs:\t1"),
        "{}",
        plain.render()
    );
    // Unsandboxed, the command gets no filter of lore's making: the same
    // seccomp mode as this process.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let ours = status.lines().find(|l| l.starts_with("Seccomp:")).unwrap();
    assert!(plain.stdout.text.contains(ours), "{}", plain.render());
    match probe() {
        Isolation::Isolated => {
            let env = ShellEnv::new(Isolation::Isolated).unwrap();
            // System-wide /proc and harmless devices stay; per-process
            // /proc, other devices and capabilities go.
            let ok = "head -c 9 /proc/cpuinfo >/dev/null && head -c 1 /dev/urandom | wc -c && echo to-stderr > /dev/stderr && cat /proc/sys/kernel/ostype";
            let out = sh(&env, root.path(), ok);
            assert_eq!(out.end, End::Exited(0), "{}", out.render());
            assert_eq!(out.stderr.text, "to-stderr\n");
            for denied in [
                "cat /proc/self/status",
                "ls /dev",
                "ls /proc/1",
                "touch f && chown 1:1 f",
            ] {
                let out = sh(&env, root.path(), denied);
                assert_ne!(out.end, End::Exited(0), "{denied}: {}", out.render());
            }
        }
        Isolation::Unavailable(why) => {
            eprintln!("skipped: {why}");
            // Asked for isolation the kernel lacks, it fails closed.
            let env = ShellEnv::new(Isolation::Isolated).unwrap();
            let err = run(
                &env,
                root.path(),
                "touch ran",
                Duration::from_secs(5),
                &|| false,
            );
            assert!(err.unwrap_err().to_string().contains("did not run"));
            assert!(!root.path().join("ran").exists());
        }
        Isolation::Disabled => unreachable!(),
    }
}

#[test]
fn toolchains_that_work_outside_work_inside() {
    let Some(env) = isolated() else { return };
    let plain = ShellEnv::new(Isolation::Disabled).unwrap();
    let root = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for tool in [
        "git --version",
        "git init -q g && git -C g status && git -C g config user.name",
        "python3 -c 'import json; print(1)'",
        "cargo --version",
        "rustc --version",
        "ls /usr/bin",
    ] {
        if sh(&plain, root.path(), tool).end != End::Exited(0) {
            continue;
        }
        let out = sh(&env, root.path(), tool);
        assert_eq!(out.end, End::Exited(0), "{tool}: {}", out.render());
        checked += 1;
    }
    assert!(checked >= 1);
    // Cargo builds and tests offline with CARGO_HOME read-only.
    if sh(&plain, root.path(), "cargo --version").end == End::Exited(0) {
        std::fs::create_dir_all(root.path().join("p/src")).unwrap();
        let manifest = "[package]\nname = \"p\"\nversion = \"0.1.0\"\nedition = \"2021\"\n";
        std::fs::write(root.path().join("p/Cargo.toml"), manifest).unwrap();
        std::fs::write(root.path().join("p/src/lib.rs"), "#[test]\nfn t() {}\n").unwrap();
        let out = run(
            &env,
            root.path(),
            "cd p && cargo test --offline -q",
            Duration::from_secs(120),
            &|| false,
        )
        .unwrap();
        assert_eq!(out.end, End::Exited(0), "{}", out.render());
        assert!(out.stdout.text.contains("1 passed"), "{}", out.render());
    }
}

fn group_gone(pgid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        // SAFETY: signal 0 only asks whether the group exists.
        let rc = unsafe { libc::kill(-pgid, 0) };
        if rc != 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_timeout_kills_the_whole_group() {
    let env = ShellEnv::new(probe()).unwrap();
    let root = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = run(
        &env,
        root.path(),
        "sleep 100 & sleep 100",
        Duration::from_secs(1),
        &|| false,
    )
    .unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.end, End::TimedOut);
    assert!(
        out.render().starts_with("timed out after 1 s"),
        "{}",
        out.render()
    );
    assert!(
        group_gone(out.pgid),
        "processes remain in group {}",
        out.pgid
    );
}

#[test]
fn background_jobs_do_not_outlive_the_shell() {
    let env = ShellEnv::new(probe()).unwrap();
    let root = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = sh(&env, root.path(), "sleep 100 & echo started");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.end, End::Exited(0));
    assert_eq!(out.stdout.text, "started\n");
    assert!(!out.unclosed);
    assert!(
        group_gone(out.pgid),
        "processes remain in group {}",
        out.pgid
    );
}

/// A process that leaves the group (`setsid`) keeps the pipes open: lore
/// stops reading at the drain deadline instead of waiting on it.
#[test]
fn a_process_that_escapes_the_group_cannot_hold_lore() {
    let env = ShellEnv::new(probe()).unwrap();
    let root = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = sh(&env, root.path(), "setsid sh -c 'echo $$ > escaped.pid; exec sleep 60' & while [ ! -s escaped.pid ]; do sleep 0.05; done; echo hi");
    let took = started.elapsed();
    if let Ok(pid) = std::fs::read_to_string(root.path().join("escaped.pid")) {
        // SAFETY: a signal to the process this test started.
        unsafe { libc::kill(pid.trim().parse().unwrap(), libc::SIGKILL) };
    }
    assert!(took < Duration::from_secs(8), "{took:?}");
    assert_eq!(out.end, End::Exited(0), "{}", out.render());
    assert!(out.unclosed);
    assert!(
        out.render().contains("stdout:\nhi\n(output still open"),
        "{}",
        out.render()
    );
}

#[test]
fn cancel_aborts_a_running_command() {
    let env = ShellEnv::new(probe()).unwrap();
    let root = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let cancel = || started.elapsed() > Duration::from_millis(200);
    let out = run(
        &env,
        root.path(),
        "sleep 100",
        Duration::from_secs(60),
        &cancel,
    )
    .unwrap();
    assert_eq!(out.end, End::Aborted);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(out.render().starts_with("aborted · "), "{}", out.render());
    assert!(group_gone(out.pgid));
}

#[test]
fn stdin_is_empty() {
    let env = ShellEnv::new(probe()).unwrap();
    let root = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let out = sh(&env, root.path(), "cat");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(out.end, End::Exited(0));
    assert!(out.render().ends_with("(no output)"), "{}", out.render());
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn a_flood_of_output_is_capped_not_buffered() {
    let env = ShellEnv::new(probe()).unwrap();
    let root = tempfile::tempdir().unwrap();
    let before = peak_rss_kib();
    let out = run(
        &env,
        root.path(),
        "yes | head -c 200M",
        Duration::from_secs(120),
        &|| false,
    )
    .unwrap();
    let grown = peak_rss_kib().saturating_sub(before);
    assert_eq!(out.end, End::Exited(0), "{}", out.headline());
    assert_eq!(out.stdout.bytes, 200 << 20);
    assert_eq!(out.stdout.lines, 100 << 20);
    let text = out.render();
    assert!(text.len() < 2 << 20, "{} bytes kept", text.len());
    assert!(text.contains("bytes dropped]"));
    assert!(grown < 16 << 10, "peak RSS grew by {grown} KiB");
}
