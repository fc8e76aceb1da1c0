//! The stdin and stdout rows of the bad-input matrix: `run`, `ask` (stdin
//! is the question), `ask --no-index QUESTION` (stdin is the document),
//! `classify`, `support` (a piped script) and `chat`, each with stdin
//! empty, whitespace only, invalid UTF-8, binary, 100 MB, and closed after
//! half a line; and stdout closed after one byte.
//!
//! Every process runs in a new session (`setsid`), so that no terminal is
//! reachable whoever runs the tests: `lore chat` then exits 2 whatever its
//! stdin. Rows that load the model generate 4 tokens greedily; the ask
//! rows with a question on stdin ask about something the sample knowledge
//! base does not hold, so they answer "not found" without a model.

#[path = "common/bad_input.rs"]
mod bad_input;
mod common;

use std::io::{Read, Write};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bad_input::{assert_no_panic, assert_one_error, TIMEOUT};
use common::TestEnv;

const RUN: &[&str] = &["run", "-n", "4", "-t", "0"];
const ASK: &[&str] = &["ask", "-n", "4", "-t", "0"];
const ASK_DOC: &[&str] = &[
    "ask",
    "--no-index",
    "What is the door code?",
    "-n",
    "4",
    "-t",
    "0",
];
const CLASSIFY: &[&str] = &["classify", "--labels", "billing,other"];
const SUPPORT: &[&str] = &["support", "-n", "4", "-t", "0"];
const CHAT: &[&str] = &["chat"];

/// What stdin carries.
#[derive(Clone, Copy)]
enum Fault {
    /// Closed at once.
    Empty,
    /// Spaces, tabs and newlines only.
    Blank,
    /// Text with a few bytes that are not UTF-8 (Latin-1 accents, 0xff).
    InvalidUtf8(&'static [u8]),
    /// Pseudo-random bytes (fixed seed), NULs among them.
    Binary,
    /// Bytes 0x80-0xff without a NUL: undecodable as UTF-8.
    BinaryNoNul,
    /// 100 MB of lines of text, streamed from a thread.
    Huge,
    /// The writer sends half a line, no newline, and closes.
    HalfLine(&'static str),
}

impl Fault {
    fn name(&self) -> &'static str {
        match self {
            Fault::Empty => "empty",
            Fault::Blank => "whitespace only",
            Fault::InvalidUtf8(_) => "invalid UTF-8",
            Fault::Binary => "binary",
            Fault::BinaryNoNul => "binary without NUL",
            Fault::Huge => "100 MB",
            Fault::HalfLine(_) => "closed after half a line",
        }
    }
}

const HUGE_BYTES: usize = 100_000_000;

/// 5,000 bytes from a xorshift generator: about 20 NULs, mostly invalid
/// UTF-8, like `head -c 5000 /dev/urandom`.
fn binary() -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..5000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// What a row must end with.
enum Expect {
    /// Exit code and a piece of the one `lore: error:` line.
    Error(i32, &'static str),
    /// Success; with `Some`, exactly one warning holding that text.
    Ok(Option<&'static str>),
}

struct Row {
    args: &'static [&'static str],
    fault: Fault,
    expect: Expect,
}

const NO_TERMINAL: &str = "lore chat needs a terminal and none is attached";
const BINARY: &str = "stdin looks like binary data (a NUL byte at offset";
const NOT_TEXT: &str = "invalid UTF-8 or control characters); lore reads text";
const TOO_LARGE: &str = "stdin is more than 64 MiB, the most text lore reads as input";
const REPLACED: &str = "stdin is not valid UTF-8; invalid bytes were replaced";

/// Rows that end before any model is loaded.
const FAST_ROWS: &[Row] = &[
    // lore run
    Row {
        args: RUN,
        fault: Fault::Empty,
        expect: Expect::Error(2, "nothing to send: give a prompt argument or pipe text"),
    },
    Row {
        args: RUN,
        fault: Fault::Blank,
        expect: Expect::Error(2, "nothing to send"),
    },
    Row {
        args: RUN,
        fault: Fault::Binary,
        expect: Expect::Error(2, BINARY),
    },
    Row {
        args: RUN,
        fault: Fault::BinaryNoNul,
        expect: Expect::Error(2, NOT_TEXT),
    },
    Row {
        args: RUN,
        fault: Fault::Huge,
        expect: Expect::Error(4, TOO_LARGE),
    },
    // lore ask, the question on stdin
    Row {
        args: ASK,
        fault: Fault::Empty,
        expect: Expect::Error(2, "no question: give one as an argument or on stdin"),
    },
    Row {
        args: ASK,
        fault: Fault::Blank,
        expect: Expect::Error(2, "no question"),
    },
    Row {
        args: ASK,
        fault: Fault::InvalidUtf8(b"zebra quantum \xff\xfe flux caf\xe9?\n"),
        expect: Expect::Ok(Some(REPLACED)),
    },
    Row {
        args: ASK,
        fault: Fault::Binary,
        expect: Expect::Error(2, BINARY),
    },
    Row {
        args: ASK,
        fault: Fault::Huge,
        expect: Expect::Error(4, TOO_LARGE),
    },
    Row {
        args: ASK,
        fault: Fault::HalfLine("zebra quantum fl"),
        expect: Expect::Ok(None),
    },
    // lore ask --no-index QUESTION, the document on stdin
    Row {
        args: ASK_DOC,
        fault: Fault::Empty,
        expect: Expect::Error(2, "--no-index answers from stdin only, but no text came"),
    },
    Row {
        args: ASK_DOC,
        fault: Fault::Blank,
        expect: Expect::Error(2, "--no-index answers from stdin only"),
    },
    Row {
        args: ASK_DOC,
        fault: Fault::Binary,
        expect: Expect::Error(2, BINARY),
    },
    Row {
        args: ASK_DOC,
        fault: Fault::Huge,
        expect: Expect::Error(4, TOO_LARGE),
    },
    // lore classify
    Row {
        args: CLASSIFY,
        fault: Fault::Empty,
        expect: Expect::Error(2, "no items to classify in <stdin>"),
    },
    Row {
        args: CLASSIFY,
        fault: Fault::Blank,
        expect: Expect::Error(
            2,
            "no items to classify in <stdin> (2 empty line(s) skipped)",
        ),
    },
    Row {
        args: CLASSIFY,
        fault: Fault::Binary,
        expect: Expect::Error(2, BINARY),
    },
    Row {
        args: CLASSIFY,
        fault: Fault::Huge,
        expect: Expect::Error(4, TOO_LARGE),
    },
    // lore support, the script piped
    Row {
        args: SUPPORT,
        fault: Fault::Empty,
        expect: Expect::Error(2, "<stdin>: no customer turns"),
    },
    Row {
        args: SUPPORT,
        fault: Fault::Blank,
        expect: Expect::Error(2, "<stdin>: no customer turns"),
    },
    Row {
        args: SUPPORT,
        fault: Fault::Binary,
        expect: Expect::Error(2, BINARY),
    },
    Row {
        args: SUPPORT,
        fault: Fault::Huge,
        expect: Expect::Error(4, TOO_LARGE),
    },
    // lore chat: no terminal in a new session, whatever stdin holds
    Row {
        args: CHAT,
        fault: Fault::Empty,
        expect: Expect::Error(2, NO_TERMINAL),
    },
    Row {
        args: CHAT,
        fault: Fault::Blank,
        expect: Expect::Error(2, NO_TERMINAL),
    },
    Row {
        args: CHAT,
        fault: Fault::InvalidUtf8(b"caf\xe9\n"),
        expect: Expect::Error(2, NO_TERMINAL),
    },
    Row {
        args: CHAT,
        fault: Fault::Binary,
        expect: Expect::Error(2, NO_TERMINAL),
    },
    Row {
        args: CHAT,
        fault: Fault::Huge,
        expect: Expect::Error(2, NO_TERMINAL),
    },
    Row {
        args: CHAT,
        fault: Fault::HalfLine("hello th"),
        expect: Expect::Error(2, NO_TERMINAL),
    },
];

/// `lore ARGS` in a new session, with lore's isolated environment.
fn lore(env: &TestEnv, args: &[&str]) -> Command {
    let lore = env.lore_std();
    let mut cmd = Command::new("setsid");
    cmd.arg(lore.get_program()).args(args);
    for (k, v) in lore.get_envs() {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    if let Some(dir) = lore.get_current_dir() {
        cmd.current_dir(dir);
    }
    cmd.env("RUST_BACKTRACE", "1").env("NO_COLOR", "1");
    cmd
}

/// Writes `fault` into `stdin` from a thread. A write that fails because
/// lore stopped reading (broken pipe) ends the writer quietly.
fn feed(mut stdin: std::process::ChildStdin, fault: Fault) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let _ = match fault {
            Fault::Empty => Ok(()),
            Fault::Blank => stdin.write_all(b"  \n\t \n"),
            Fault::InvalidUtf8(bytes) => stdin.write_all(bytes),
            Fault::Binary => stdin.write_all(&binary()),
            Fault::BinaryNoNul => {
                let noise: Vec<u8> = (0..5000u32).map(|i| 0x80 | (i * 31 % 128) as u8).collect();
                stdin.write_all(&noise)
            }
            Fault::Huge => {
                let line = format!("{}\n", "all work and no play ".repeat(4));
                let block = line.repeat(1_000_000 / line.len());
                let mut sent = 0;
                let mut result = Ok(());
                while sent < HUGE_BYTES && result.is_ok() {
                    result = stdin.write_all(block.as_bytes());
                    sent += block.len();
                }
                result
            }
            Fault::HalfLine(text) => stdin.write_all(text.as_bytes()),
        };
        // Dropping stdin closes the pipe.
    })
}

/// Reads a pipe to the end on a thread.
fn drain(mut r: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = r.read_to_end(&mut buf);
        buf
    })
}

/// Waits for `child` until the deadline; a child still running then is
/// killed and the row fails.
fn wait(child: &mut Child, what: &str) -> ExitStatus {
    let deadline = Instant::now() + TIMEOUT;
    loop {
        if let Some(status) = child.try_wait().expect("wait for lore") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: still running after {TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs `args` with `fault` on stdin; returns the output and how long it
/// took.
fn run_row(
    env: &TestEnv,
    args: &[&str],
    fault: Fault,
    what: &str,
) -> (std::process::Output, Duration) {
    let start = Instant::now();
    let mut child = lore(env, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lore");
    let writer = feed(child.stdin.take().unwrap(), fault);
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let status = wait(&mut child, what);
    let took = start.elapsed();
    writer.join().expect("the writer ends once lore has exited");
    let output = std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    (output, took)
}

fn check(env: &TestEnv, row: &Row) {
    let what = format!(
        "lore {} with stdin {}",
        row.args.join(" "),
        row.fault.name()
    );
    let (out, took) = run_row(env, row.args, row.fault, &what);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    match row.expect {
        Expect::Error(code, text) => assert_one_error(&what, &out, code, &[text]),
        Expect::Ok(warning) => {
            assert_no_panic(&what, &err);
            assert_eq!(out.status.code(), Some(0), "{what}: {err}");
            assert!(!err.contains("lore: error"), "{what}: {err}");
            assert!(!out.stdout.is_empty(), "{what}: no output");
            let warnings: Vec<&str> = err
                .lines()
                .filter(|l| l.starts_with("lore: warning:"))
                .collect();
            match warning {
                Some(w) => {
                    assert_eq!(warnings.len(), 1, "{what}: {err}");
                    assert!(warnings[0].contains(w), "{what}: {err}");
                }
                None => assert!(warnings.is_empty(), "{what}: {err}"),
            }
        }
    }
    if matches!(row.fault, Fault::Huge) {
        // 100 MB must be refused from its size, not worked through.
        assert!(
            took < Duration::from_secs(20),
            "{what}: took {took:?} to refuse"
        );
        eprintln!("{what}: refused in {:.2} s", took.as_secs_f64());
    }
}

#[test]
fn rows_that_end_before_a_model_loads() {
    let env = TestEnv::new();
    for row in FAST_ROWS {
        check(&env, row);
    }
}

// Rows that load the model: one test per command, so they run side by
// side.

#[test]
fn run_accepts_damaged_and_cut_text() {
    let env = TestEnv::new();
    for fault in [
        Fault::InvalidUtf8(b"Say hello to caf\xe9 \xff\xfe.\n"),
        Fault::HalfLine("What is the capi"),
    ] {
        let warning = matches!(fault, Fault::InvalidUtf8(_)).then_some(REPLACED);
        check(
            &env,
            &Row {
                args: RUN,
                fault,
                expect: Expect::Ok(warning),
            },
        );
    }
}

#[test]
fn ask_with_a_document_accepts_damaged_and_cut_text() {
    let env = TestEnv::new();
    for fault in [
        Fault::InvalidUtf8(b"The door code is 4711. Caf\xe9 \xff opens at 9.\n"),
        Fault::HalfLine("The door code is 47"),
    ] {
        let warning = matches!(fault, Fault::InvalidUtf8(_)).then_some(REPLACED);
        check(
            &env,
            &Row {
                args: ASK_DOC,
                fault,
                expect: Expect::Ok(warning),
            },
        );
    }
}

#[test]
fn classify_accepts_damaged_and_cut_text() {
    let env = TestEnv::new();
    for fault in [
        Fault::InvalidUtf8(b"my bill is wrong, caf\xe9 \xff\nthe weather is nice\n"),
        Fault::HalfLine("I was charged twi"),
    ] {
        let warning = matches!(fault, Fault::InvalidUtf8(_)).then_some(REPLACED);
        check(
            &env,
            &Row {
                args: CLASSIFY,
                fault,
                expect: Expect::Ok(warning),
            },
        );
    }
}

#[test]
fn support_accepts_damaged_and_cut_scripts() {
    let env = TestEnv::new();
    for fault in [
        Fault::InvalidUtf8(b"zebra quantum \xff\xfe flux caf\xe9?\n"),
        Fault::HalfLine("zebra quantum fl"),
    ] {
        let warning = matches!(fault, Fault::InvalidUtf8(_)).then_some(REPLACED);
        check(
            &env,
            &Row {
                args: SUPPORT,
                fault,
                expect: Expect::Ok(warning),
            },
        );
    }
}

/// Reads one byte of stdout, closes the pipe, and expects lore to end
/// quietly: exit 0, or 141 (killed by SIGPIPE), and nothing on stderr
/// but warnings and notes.
fn stdout_closed_after_one_byte(env: &TestEnv, args: &[&str], stdin: &'static str) {
    use std::os::unix::process::ExitStatusExt;
    let what = format!("lore {} | head -c 1", args.join(" "));
    let mut child = lore(env, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lore");
    let writer = feed(child.stdin.take().unwrap(), Fault::HalfLine(stdin));
    let err = drain(child.stderr.take().unwrap());
    let mut stdout = child.stdout.take().unwrap();
    // Read one byte on a thread, so that a lore that never writes fails
    // at the deadline instead of blocking here.
    let reader = std::thread::spawn(move || {
        let mut one = [0u8; 1];
        let n = stdout.read(&mut one).unwrap_or(0);
        drop(stdout);
        n
    });
    let status = wait(&mut child, &what);
    writer.join().unwrap();
    assert_eq!(reader.join().unwrap(), 1, "{what}: no byte on stdout");
    let err = String::from_utf8_lossy(&err.join().unwrap()).into_owned();
    assert_no_panic(&what, &err);
    let code = status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap();
    assert!(code == 0 || code == 141, "{what}: exit {code}: {err}");
    for line in err.lines() {
        assert!(
            !line.contains("error") && !line.contains("Broken pipe"),
            "{what}: {err}"
        );
    }
}

#[test]
fn stdout_closed_early() {
    let env = TestEnv::new();
    // Not found: written without a model, then lore ends.
    stdout_closed_after_one_byte(&env, &["ask", "zebra quantum flux"], "");
    stdout_closed_after_one_byte(&env, &["run", "-n", "16", "-t", "0", "hi"], "");
    stdout_closed_after_one_byte(&env, CLASSIFY, "my bill is wrong\nnice weather\n");
}

/// Runs `args` with `stdin` (fed from a thread), `envs` set.
fn run_with(
    env: &TestEnv,
    args: &[&str],
    envs: &[(&str, &str)],
    stdin: Vec<u8>,
) -> (std::process::Output, Duration) {
    let what = format!("lore {}", args.join(" "));
    let start = Instant::now();
    let mut cmd = lore(env, args);
    cmd.envs(envs.iter().copied());
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn lore");
    let mut input = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let out = drain(child.stdout.take().unwrap());
    let err = drain(child.stderr.take().unwrap());
    let status = wait(&mut child, &what);
    let took = start.elapsed();
    writer.join().unwrap();
    let output = std::process::Output {
        status,
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    (output, took)
}

/// Lines of plain words, `bytes` long.
fn words(bytes: usize) -> Vec<u8> {
    let line = b"the parcel left the warehouse on monday and the refund is on its way\n";
    line.iter().copied().cycle().take(bytes).collect()
}

#[test]
fn a_prompt_far_past_the_context_is_refused_from_its_size() {
    // 2 MB is over 8,192 tokens × 128 bytes: no exact count is needed.
    let env = TestEnv::new();
    let (out, took) = run_with(&env, RUN, &[], vec![b'a'; 2_000_000]);
    assert_one_error(
        "run with 2 MB",
        &out,
        4,
        &[
            "the prompt is 2000",
            "bytes, at least ",
            "tokens, but the model's context holds 8192",
        ],
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn a_document_over_the_file_limit_is_refused_before_anything_loads() {
    let env = TestEnv::new();
    let (out, took) = run_with(
        &env,
        ASK_DOC,
        &[("LORE_INDEX__MAX_FILE_MB", "1")],
        words(1_500_000),
    );
    assert_one_error(
        "ask with 1.5 MB over index.max_file_mb = 1",
        &out,
        4,
        &["stdin is 1500000 bytes, more than index.max_file_mb (1 MB)"],
    );
    assert!(took < Duration::from_secs(10), "took {took:?}");
}

#[test]
fn ranking_a_big_document_says_so_on_stderr() {
    let env = TestEnv::new();
    let (out, _) = run_with(
        &env,
        &[
            "ask",
            "--no-index",
            "When did the parcel leave?",
            "-n",
            "4",
            "-t",
            "0",
            "-k",
            "1",
        ],
        &[],
        words(1_200_000),
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_no_panic("ask with 1.2 MB", &err);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("lore: ranking about ")
            && err.contains(" chunk(s) of stdin (1.2 MB) against the question..."),
        "{err}"
    );
}

#[test]
fn a_script_turn_far_past_the_context_is_refused_from_its_size() {
    let env = TestEnv::new();
    let mut script = b"Hello\n".to_vec();
    script.extend(std::iter::repeat_n(b'a', 2_000_000));
    script.push(b'\n');
    let (out, took) = run_with(&env, SUPPORT, &[], script);
    // The first use fills the default index with the sample knowledge
    // base, and says so; the error is then the one other line.
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let rest: Vec<&str> = err
        .lines()
        .filter(|l| !l.starts_with("lore: indexing the sample knowledge base"))
        .collect();
    let only = rest.join("\n");
    let out = std::process::Output {
        stderr: only.into_bytes(),
        ..out
    };
    assert_one_error(
        "support with a 2 MB turn",
        &out,
        4,
        &["turn 2 of the script is 2000000 bytes, at least 15625 tokens"],
    );
    assert!(took < Duration::from_secs(60), "took {took:?}");
}
