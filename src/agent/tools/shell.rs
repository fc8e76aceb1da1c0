//! The `shell` tool: one command in the workspace root, in its own process
//! group and session, with a scrubbed environment, a timeout, capped
//! output and, where the kernel allows, the sandbox.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Context, ToolOutput};
use crate::agent::policy::Isolation;
use crate::agent::protocol::ToolStatus;
use crate::agent::sandbox::{Access, Sandbox, TOOLCHAIN_VARS};

/// How long a command runs when the model names no timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest timeout the model may ask for.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(120);
/// How often the loop looks at the command, the clock and `cancel()`.
pub const POLL: Duration = Duration::from_millis(20);
/// Between SIGTERM and SIGKILL to a timed-out or aborted command.
pub const GRACE: Duration = Duration::from_secs(1);
/// How long output is still read after the shell has exited and its
/// group is killed: only a process that left the group holds the pipes
/// longer, and it must not hold lore.
pub const DRAIN: Duration = Duration::from_secs(2);
/// Bytes kept from the start of each stream.
pub const HEAD_KEEP: usize = 512 << 10;
/// Bytes kept from the end of each stream.
pub const TAIL_KEEP: usize = 512 << 10;

/// Variables a command inherits from lore, when set. Everything else
/// (tokens, keys, secrets, proxies) stays behind.
pub const KEEP_VARS: &[&str] = &["PATH", "HOME", "USER", "LANG", "LC_ALL"];

/// Set for every command: no pagers, colours or prompts waiting on a
/// terminal nobody watches.
const FIXED_VARS: &[(&str, &str)] = &[
    ("TERM", "dumb"),
    ("NO_COLOR", "1"),
    ("PAGER", "cat"),
    ("GIT_PAGER", "cat"),
    ("GIT_TERMINAL_PROMPT", "0"),
];

/// How this session runs commands.
pub struct ShellEnv {
    pub isolation: Isolation,
    /// The session's temporary directory: commands may write there.
    pub tmp: PathBuf,
    /// Removes `tmp` when the session ends.
    _dir: tempfile::TempDir,
    /// The environment lore started with: the sandbox finds toolchains in it.
    source: Vec<(OsString, OsString)>,
    /// The environment commands get.
    vars: Vec<(OsString, OsString)>,
}

/// Without the environments: lore's holds the very tokens commands must
/// not see, and a debug print must not show them either.
impl std::fmt::Debug for ShellEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShellEnv")
            .field("isolation", &self.isolation)
            .field("tmp", &self.tmp)
            .finish_non_exhaustive()
    }
}

impl ShellEnv {
    /// A session with lore's own environment.
    pub fn new(isolation: Isolation) -> io::Result<ShellEnv> {
        ShellEnv::with_env(isolation, std::env::vars_os())
    }

    /// A session whose commands inherit from `source` instead of lore's
    /// environment (tests give a fake `HOME`).
    pub fn with_env(
        isolation: Isolation,
        source: impl IntoIterator<Item = (OsString, OsString)>,
    ) -> io::Result<ShellEnv> {
        let dir = tempfile::Builder::new().prefix("lore-shell-").tempdir()?;
        let tmp = dir.path().canonicalize()?;
        let source: Vec<(OsString, OsString)> = source.into_iter().collect();
        let vars = child_env(&source, &tmp, isolation == Isolation::Isolated);
        Ok(ShellEnv {
            isolation,
            tmp,
            _dir: dir,
            source,
            vars,
        })
    }

    /// The environment a command gets.
    pub fn vars(&self) -> &[(OsString, OsString)] {
        &self.vars
    }

    /// What a command in `root` may touch, when isolated.
    pub fn access(&self, root: &Path) -> Access {
        Access::new(root, &self.tmp, &self.source)
    }
}

/// A keep-list, not a deny-list: a variable nobody thought of does not
/// leak. Toolchain locations stay so tools find what the sandbox allows.
fn child_env(
    source: &[(OsString, OsString)],
    tmp: &Path,
    isolated: bool,
) -> Vec<(OsString, OsString)> {
    let toolchains = TOOLCHAIN_VARS
        .iter()
        .map(|(name, _)| *name)
        .chain(["CARGO_HOME"]);
    let mut vars: Vec<(OsString, OsString)> = KEEP_VARS
        .iter()
        .copied()
        .chain(toolchains)
        .filter_map(|name| {
            let value = source.iter().rev().find(|(k, _)| k == name)?.1.clone();
            Some((OsString::from(name), value))
        })
        .collect();
    vars.push(("TMPDIR".into(), tmp.into()));
    if isolated {
        // HOME is read-only in the sandbox: caches (go build, pip) go to
        // the session's directory instead of failing.
        vars.push(("XDG_CACHE_HOME".into(), tmp.join("cache").into()));
    }
    vars.extend(
        FIXED_VARS
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v))),
    );
    vars
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Exited(i32),
    Signaled(i32),
    /// Killed after running past its timeout.
    TimedOut,
    /// Killed because `cancel()` said so.
    Aborted,
}

/// What was kept of one output stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captured {
    /// The head and the tail, with a marker of what was dropped between.
    pub text: String,
    /// Every byte the command wrote.
    pub bytes: u64,
    /// Lines the command wrote (a last line without newline counts).
    pub lines: u64,
    /// Bytes between head and tail that were not kept.
    pub dropped: u64,
}

/// What running a command gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub end: End,
    /// The timeout it ran under.
    pub timeout: Duration,
    pub wall: Duration,
    /// The process group (and session) it ran in: the shell's pid.
    pub pgid: i32,
    pub stdout: Captured,
    pub stderr: Captured,
    /// Output was still open at the drain deadline: a process that left
    /// the group holds the pipes, and lore stopped reading.
    pub unclosed: bool,
}

/// Runs `sh -c command` in `root`; blocks until it ends, is timed out or
/// `cancel()` turns true. An error means it never ran.
pub fn run(
    env: &ShellEnv,
    root: &Path,
    command: &str,
    timeout: Duration,
    cancel: &dyn Fn() -> bool,
) -> io::Result<Outcome> {
    let timeout = timeout.clamp(Duration::from_secs(1), MAX_TIMEOUT);
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg(command)
        .current_dir(root)
        .env_clear()
        .envs(env.vars.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let sandbox = Sandbox::new(&env.isolation, &env.access(root))
        .map_err(|e| io::Error::other(format!("sandbox: {e}; the command did not run")))?;
    let report = sandbox.attach(&mut cmd)?;
    let started = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => return Err(report.explain(e)),
    };
    drop(report);
    let pgid = child.id() as i32;
    let mut pipes = Pipes::new(child.stdout.take(), child.stderr.take())?;
    let end = supervise(&mut child, pgid, &mut pipes, started, timeout, cancel);
    // Whatever the shell left behind (`cmd &`) goes with it, before the
    // shell is reaped: until then its pid, the group's id, cannot be reused.
    kill_group(pgid, libc::SIGKILL);
    let status = child.wait()?;
    let wall = started.elapsed();
    let unclosed = !pipes.drain(Instant::now() + DRAIN);
    let end = end.unwrap_or_else(|| match status.code() {
        Some(code) => End::Exited(code),
        None => End::Signaled(status.signal().unwrap_or(0)),
    });
    let (stdout, stderr) = pipes.finish();
    Ok(Outcome {
        end,
        timeout,
        wall,
        pgid,
        stdout,
        stderr,
        unclosed,
    })
}

/// Reads output while the shell runs; on timeout or cancel, SIGTERM to
/// the group, then SIGKILL after [`GRACE`]. Returns once the shell has
/// exited (not yet reaped), with why it was stopped, if it was.
fn supervise(
    child: &mut std::process::Child,
    pgid: i32,
    pipes: &mut Pipes,
    started: Instant,
    timeout: Duration,
    cancel: &dyn Fn() -> bool,
) -> Option<End> {
    let mut stopped: Option<(End, Instant)> = None;
    let mut killed = false;
    loop {
        pipes.pump(POLL);
        if exited(child.id() as libc::pid_t) {
            return stopped.map(|(end, _)| end);
        }
        match stopped {
            None => {
                let why = if cancel() {
                    Some(End::Aborted)
                } else if started.elapsed() >= timeout {
                    Some(End::TimedOut)
                } else {
                    None
                };
                if let Some(end) = why {
                    kill_group(pgid, libc::SIGTERM);
                    stopped = Some((end, Instant::now()));
                }
            }
            Some((_, since)) if !killed && since.elapsed() >= GRACE => {
                kill_group(pgid, libc::SIGKILL);
                killed = true;
            }
            Some(_) => {}
        }
    }
}

/// Whether `pid` has exited, without reaping it.
fn exited(pid: libc::pid_t) -> bool {
    // SAFETY: waitid fills a zeroed siginfo_t we own.
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
        let rc = libc::waitid(libc::P_PID, pid as libc::id_t, &mut info, flags);
        rc != 0 || info.si_pid() != 0
    }
}

fn kill_group(pgid: i32, signal: i32) {
    // SAFETY: a signal to a process group we created.
    unsafe { libc::kill(-pgid, signal) };
}

/// One output stream: head and tail kept, the rest counted.
struct Capture {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    bytes: u64,
    newlines: u64,
    last: Option<u8>,
}

impl Capture {
    fn new() -> Capture {
        Capture {
            head: Vec::new(),
            tail: VecDeque::new(),
            bytes: 0,
            newlines: 0,
            last: None,
        }
    }

    fn push(&mut self, chunk: &[u8]) {
        if chunk.is_empty() {
            return;
        }
        self.bytes += chunk.len() as u64;
        self.newlines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        self.last = chunk.last().copied();
        let take = (HEAD_KEEP - self.head.len()).min(chunk.len());
        self.head.extend_from_slice(&chunk[..take]);
        let rest = &chunk[take..];
        if rest.len() >= TAIL_KEEP {
            self.tail.clear();
            self.tail.extend(&rest[rest.len() - TAIL_KEEP..]);
        } else {
            let over = (self.tail.len() + rest.len()).saturating_sub(TAIL_KEEP);
            self.tail.drain(..over);
            self.tail.extend(rest);
        }
    }

    fn finish(mut self) -> Captured {
        let kept = (self.head.len() + self.tail.len()) as u64;
        let dropped = self.bytes - kept;
        let tail = self.tail.make_contiguous();
        let text = if dropped == 0 {
            let mut all = std::mem::take(&mut self.head);
            all.extend_from_slice(tail);
            String::from_utf8_lossy(&all).into_owned()
        } else {
            // Cut at whole characters on both sides of the gap.
            format!(
                "{}\n…[{dropped} bytes dropped]…\n{}",
                String::from_utf8_lossy(whole_end(&self.head)),
                String::from_utf8_lossy(&tail[whole_start(tail)..])
            )
        };
        let unterminated = self.bytes > 0 && self.last != Some(b'\n');
        Captured {
            text,
            bytes: self.bytes,
            lines: self.newlines + unterminated as u64,
            dropped,
        }
    }
}

/// `b` without a UTF-8 sequence cut at its end.
fn whole_end(b: &[u8]) -> &[u8] {
    match std::str::from_utf8(b) {
        Err(e) if e.error_len().is_none() => &b[..e.valid_up_to()],
        _ => b,
    }
}

/// Where `b` starts after continuation bytes of a character cut at its
/// start.
fn whole_start(b: &[u8]) -> usize {
    b.iter().take(3).take_while(|&&c| c & 0xC0 == 0x80).count()
}

/// Both output pipes, read without blocking.
struct Pipes {
    out: Option<std::process::ChildStdout>,
    err: Option<std::process::ChildStderr>,
    captures: [Capture; 2],
    buf: Vec<u8>,
}

fn nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: flag changes on a descriptor we own.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 || libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

impl Pipes {
    fn new(
        out: Option<std::process::ChildStdout>,
        err: Option<std::process::ChildStderr>,
    ) -> io::Result<Pipes> {
        for fd in out
            .iter()
            .map(|o| o.as_raw_fd())
            .chain(err.iter().map(|e| e.as_raw_fd()))
        {
            nonblocking(fd)?;
        }
        Ok(Pipes {
            out,
            err,
            captures: [Capture::new(), Capture::new()],
            buf: vec![0; 64 << 10],
        })
    }

    fn fds(&self) -> [Option<RawFd>; 2] {
        [
            self.out.as_ref().map(|o| o.as_raw_fd()),
            self.err.as_ref().map(|e| e.as_raw_fd()),
        ]
    }

    fn open(&self) -> bool {
        self.out.is_some() || self.err.is_some()
    }

    /// Waits up to `wait` for output and reads what is there; closes a
    /// stream at its end.
    fn pump(&mut self, wait: Duration) {
        let fds = self.fds();
        let idle = libc::pollfd {
            fd: -1,
            events: 0,
            revents: 0,
        };
        let mut polled = [idle; 2];
        let mut n = 0;
        for &fd in fds.iter().flatten() {
            polled[n] = libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            n += 1;
        }
        if n == 0 {
            std::thread::sleep(wait);
            return;
        }
        let ms = wait.as_millis() as libc::c_int;
        // SAFETY: a valid array of pollfd, `n` long.
        if unsafe { libc::poll(polled.as_mut_ptr(), n as libc::nfds_t, ms) } <= 0 {
            return;
        }
        for p in polled[..n].iter().filter(|p| p.revents != 0) {
            let which = if Some(p.fd) == fds[0] { 0 } else { 1 };
            self.read_some(which);
        }
    }

    /// Reads what one stream has now, a bounded number of chunks so the
    /// loop still looks at the clock under a flood of output.
    fn read_some(&mut self, which: usize) {
        let Some(fd) = self.fds()[which] else { return };
        for _ in 0..16 {
            // SAFETY: reads into our buffer, within its length.
            let n = unsafe { libc::read(fd, self.buf.as_mut_ptr().cast(), self.buf.len()) };
            if n > 0 {
                self.captures[which].push(&self.buf[..n as usize]);
                continue;
            }
            let e = io::Error::last_os_error();
            if n < 0 && matches!(e.kind(), io::ErrorKind::Interrupted) {
                continue;
            }
            if n == 0 || e.kind() != io::ErrorKind::WouldBlock {
                self.close(which);
            }
            return;
        }
    }

    fn close(&mut self, which: usize) {
        if which == 0 {
            self.out = None;
        } else {
            self.err = None;
        }
    }

    /// Reads to the end of both streams or until `deadline`; true when
    /// both ended.
    fn drain(&mut self, deadline: Instant) -> bool {
        while self.open() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.out = None;
                self.err = None;
                return false;
            }
            self.pump(left.min(POLL));
        }
        true
    }

    fn finish(self) -> (Captured, Captured) {
        let [out, err] = self.captures;
        (out.finish(), err.finish())
    }
}

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 10.0 {
        format!("{s:.2} s")
    } else {
        format!("{s:.1} s")
    }
}

fn plural(n: u64, one: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {one}s")
    }
}

impl Outcome {
    /// Lines of both streams.
    pub fn lines(&self) -> u64 {
        self.stdout.lines + self.stderr.lines
    }

    /// How it ended, for the summary: `exit 0`, `killed by signal 9`...
    pub fn verdict(&self) -> String {
        match self.end {
            End::Exited(code) => format!("exit {code}"),
            End::Signaled(sig) => format!("killed by signal {sig}"),
            End::TimedOut => format!("timed out after {} s", self.timeout.as_secs()),
            End::Aborted => "aborted".into(),
        }
    }

    /// The first line the model sees: `exit 0 · 0.31 s · 12 lines`.
    pub fn headline(&self) -> String {
        let lines = plural(self.lines(), "line");
        match self.end {
            End::TimedOut => format!("{} · {lines}", self.verdict()),
            _ => format!("{} · {} · {lines}", self.verdict(), seconds(self.wall)),
        }
    }

    /// The text the model sees: the headline, then each stream that
    /// wrote something.
    pub fn render(&self) -> String {
        let mut parts = vec![self.headline()];
        for (name, c) in [("stdout", &self.stdout), ("stderr", &self.stderr)] {
            if c.bytes > 0 {
                parts.push(format!("{name}:\n{}", c.text.trim_end_matches('\n')));
            }
        }
        if parts.len() == 1 {
            parts.push("(no output)".into());
        }
        if self.unclosed {
            parts.push(format!(
                "(output still open {} s after the command ended: a process it started outside its process group holds it; lore stopped reading)",
                DRAIN.as_secs()
            ));
        }
        parts.join("\n")
    }
}

/// The command as a summary shows it: its first line, at most 60
/// characters.
fn short(command: &str) -> String {
    let line = command.trim().lines().next().unwrap_or("");
    let mut s: String = line.chars().take(60).collect();
    if s.len() < line.len() || command.trim().lines().nth(1).is_some() {
        s.push('…');
    }
    s
}

/// The `shell` tool.
pub struct Shell;

impl super::Tool for Shell {
    fn name(&self) -> &'static str {
        "shell"
    }
    fn description(&self) -> &'static str {
        "run a shell command in the workspace root (timeout in seconds, default 10, at most 120; reason: why)"
    }
    fn risk(&self) -> crate::agent::protocol::Risk {
        crate::agent::protocol::Risk::Exec
    }
    fn required(&self) -> &'static [&'static str] {
        &["command"]
    }
    fn parameters(&self, _paths: &[String]) -> serde_json::Value {
        serde_json::json!({"command": {"type": "string", "minLength": 1, "maxLength": 2000}, "timeout": {"type": "integer", "minimum": 1, "maximum": 120}, "reason": {"type": "string", "maxLength": 300}})
    }
    fn run(&self, args: &Value, cx: &Context) -> Result<ToolOutput, String> {
        let env = cx
            .shell
            .ok_or("shell is not available in this session: no command environment was set up")?;
        let command = args
            .get("command")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .ok_or("missing command")?;
        let secs = args
            .get("timeout")
            .and_then(|t| t.as_f64())
            .map_or(DEFAULT_TIMEOUT.as_secs(), |t| t.ceil().max(1.0) as u64)
            .min(MAX_TIMEOUT.as_secs());
        let outcome = run(
            env,
            cx.root.path(),
            command,
            Duration::from_secs(secs),
            cx.cancel,
        )
        .map_err(|e| format!("could not run the command: {e}"))?;
        let status = match outcome.end {
            End::TimedOut => Some(ToolStatus::TimedOut),
            End::Aborted => Some(ToolStatus::Aborted),
            End::Exited(_) | End::Signaled(_) => None,
        };
        let brief = match outcome.end {
            End::TimedOut => outcome.verdict(),
            _ => format!("{}, {:.1} s", outcome.verdict(), outcome.wall.as_secs_f64()),
        };
        Ok(ToolOutput {
            text: outcome.render(),
            summary: format!("shell: {} ({brief})", short(command)),
            passages: Vec::new(),
            status,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::fsroot::Root;
    use crate::agent::tools::Tool;
    use serde_json::json;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs
            .iter()
            .map(|(k, v)| (OsString::from(k), OsString::from(v)))
            .collect()
    }

    fn plain() -> ShellEnv {
        ShellEnv::new(Isolation::Disabled).unwrap()
    }

    fn sh(env: &ShellEnv, root: &Path, command: &str) -> Outcome {
        run(env, root, command, DEFAULT_TIMEOUT, &|| false).unwrap()
    }

    #[test]
    fn tokens_and_keys_do_not_reach_the_command() {
        let path = std::env::var("PATH").unwrap();
        let source = vars(&[
            ("PATH", &path),
            ("HOME", "/nonexistent-home"),
            ("LANG", "C.UTF-8"),
            ("OPENAI_API_KEY", "sk-test-openai"),
            ("GITHUB_TOKEN", "ghp_test_token"),
            ("AWS_SECRET_ACCESS_KEY", "aws-secret"),
            ("HTTPS_PROXY", "http://proxy.invalid"),
            ("PYENV_ROOT", "/opt/pyenv"),
        ]);
        let env = ShellEnv::with_env(Isolation::Disabled, source).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = sh(&env, dir.path(), "env");
        assert_eq!(out.end, End::Exited(0), "{}", out.render());
        let text = &out.stdout.text;
        for secret in [
            "OPENAI_API_KEY",
            "sk-test",
            "GITHUB_TOKEN",
            "ghp_",
            "AWS_SECRET",
            "PROXY",
        ] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
        for kept in [
            "HOME=/nonexistent-home",
            "LANG=C.UTF-8",
            "TERM=dumb",
            "NO_COLOR=1",
            "PAGER=cat",
            "GIT_PAGER=cat",
            "GIT_TERMINAL_PROMPT=0",
            "PYENV_ROOT=/opt/pyenv",
        ] {
            assert!(text.lines().any(|l| l == kept), "{kept} missing:\n{text}");
        }
        assert!(!format!("{env:?}").contains("sk-test"));
        let tmpdir = format!("TMPDIR={}", env.tmp.display());
        assert!(text.lines().any(|l| l == tmpdir), "{text}");
    }

    #[test]
    fn the_keep_list_sets_cache_home_only_when_isolated() {
        let source = vars(&[("HOME", "/h"), ("GITHUB_TOKEN", "x")]);
        let open = child_env(&source, Path::new("/t"), false);
        let names: Vec<_> = open.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "HOME",
                "TMPDIR",
                "TERM",
                "NO_COLOR",
                "PAGER",
                "GIT_PAGER",
                "GIT_TERMINAL_PROMPT"
            ]
        );
        let closed = child_env(&source, Path::new("/t"), true);
        assert!(closed.contains(&("XDG_CACHE_HOME".into(), "/t/cache".into())));
    }

    #[test]
    fn the_session_directory_goes_with_the_session() {
        let env = plain();
        let tmp = env.tmp.clone();
        assert!(tmp.is_dir());
        drop(env);
        assert!(!tmp.exists());
    }

    #[test]
    fn exit_codes_signals_and_both_streams_are_reported() {
        let env = plain();
        let dir = tempfile::tempdir().unwrap();
        let out = sh(
            &env,
            dir.path(),
            "echo out; echo err >&2; printf 'no newline'; exit 3",
        );
        assert_eq!(out.end, End::Exited(3));
        assert_eq!(out.stdout.text, "out\nno newline");
        assert_eq!((out.stdout.lines, out.stderr.lines, out.lines()), (2, 1, 3));
        let text = out.render();
        assert!(text.starts_with("exit 3 · "), "{text}");
        assert!(
            text.lines().next().unwrap().ends_with(" s · 3 lines"),
            "{text}"
        );
        assert!(
            text.ends_with("stdout:\nout\nno newline\nstderr:\nerr"),
            "{text}"
        );
        let killed = sh(&env, dir.path(), "kill -9 $$");
        assert_eq!(killed.end, End::Signaled(9));
        assert!(killed.render().starts_with("killed by signal 9 · "));
        assert!(killed.render().ends_with("(no output)"));
        let pwd = sh(&env, dir.path(), "pwd");
        assert_eq!(
            pwd.stdout.text.trim(),
            dir.path().canonicalize().unwrap().to_str().unwrap()
        );
    }

    #[test]
    fn a_stream_keeps_its_head_and_tail() {
        let mut c = Capture::new();
        for _ in 0..3000 {
            c.push(&[b'x'; 1000]);
            c.push(b"\n");
        }
        c.push("é".as_bytes());
        let got = c.finish();
        assert_eq!(got.bytes, 3000 * 1001 + 2);
        assert_eq!(got.lines, 3001);
        assert_eq!(got.dropped, got.bytes - (HEAD_KEEP + TAIL_KEEP) as u64);
        assert!(got.text.len() < HEAD_KEEP + TAIL_KEEP + 100);
        assert!(got
            .text
            .contains(&format!("…[{} bytes dropped]…", got.dropped)));
        assert!(got.text.ends_with("xx\né"));
        // A character cut at either side of the gap is dropped whole.
        let mut c = Capture::new();
        c.push(&vec![b'a'; HEAD_KEEP - 1]);
        c.push("é".repeat(TAIL_KEEP).as_bytes());
        let got = c.finish();
        assert!(!got.text.contains('\u{FFFD}'));
        let mut small = Capture::new();
        small.push("héllo".as_bytes());
        assert_eq!(small.finish().text, "héllo");
    }

    #[test]
    fn the_tool_reports_and_summarises() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::new(dir.path()).unwrap();
        let env = plain();
        let mut cx = Context::new(&root);
        let no_shell = Shell.run(&json!({"command": "true"}), &cx).unwrap_err();
        assert!(no_shell.contains("not available"), "{no_shell}");
        cx.shell = Some(&env);
        assert_eq!(
            Shell.run(&json!({"command": "  "}), &cx).unwrap_err(),
            "missing command"
        );
        let out = Shell
            .run(&json!({"command": "echo hi; false"}), &cx)
            .unwrap();
        assert_eq!(out.status, None);
        assert!(
            out.text.starts_with("exit 1 · ") && out.text.ends_with("stdout:\nhi"),
            "{}",
            out.text
        );
        assert!(
            out.summary.starts_with("shell: echo hi; false (exit 1, "),
            "{}",
            out.summary
        );
        let slow = Shell
            .run(&json!({"command": "sleep 30", "timeout": 1}), &cx)
            .unwrap();
        assert_eq!(slow.status, Some(ToolStatus::TimedOut));
        assert_eq!(slow.summary, "shell: sleep 30 (timed out after 1 s)");
        assert!(
            slow.text.starts_with("timed out after 1 s · 0 lines"),
            "{}",
            slow.text
        );
    }

    #[test]
    fn a_long_command_is_cut_in_the_summary() {
        assert_eq!(short("cargo test"), "cargo test");
        assert_eq!(short("a\nb"), "a…");
        assert_eq!(short(&"x".repeat(80)).chars().count(), 61);
    }
}
