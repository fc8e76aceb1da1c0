//! Bad model files, for every command that loads a model: a missing file,
//! a truncated GGUF, a file that is not GGUF, an empty file, a GGUF cut
//! inside its tensor table and one cut inside its tensor data. Each must
//! exit 3 with one error line naming the file (no backtrace, even with
//! `RUST_BACKTRACE` set), before any model is loaded. Also `lore models
//! list` beside corrupt files, `lore models quantize` on them, and the
//! panic hook on a file that passes the checks but crashes the loader.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use common::{models_dir, stderr_of, stdout_of, TestEnv};
use tempfile::TempDir;

const TIMEOUT: Duration = Duration::from_secs(60);
const QUESTION: &str = "How long do I have to return an item?";

/// The real model: its Q4_1 original, or the Q8_0 made from it (the same
/// header layout up to the tensor table).
fn real_model() -> PathBuf {
    let dir = models_dir();
    let q4 = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    if q4.exists() {
        q4
    } else {
        dir.join("SmolLM2-135M-Instruct.Q8_0.gguf")
    }
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Missing,
    /// `head -c 1000000`: cut inside the metadata (the tokenizer).
    Truncated,
    NotGguf,
    Empty,
    /// The metadata is whole, the tensor table is cut.
    TableCut,
    /// Header and tensor table whole, the tensor data cut (an interrupted
    /// download).
    DataCut,
}

const FAULTS: [Fault; 6] = [
    Fault::Missing,
    Fault::Truncated,
    Fault::NotGguf,
    Fault::Empty,
    Fault::TableCut,
    Fault::DataCut,
];

impl Fault {
    fn file_name(self) -> &'static str {
        match self {
            Fault::Missing => "absent.gguf",
            Fault::Truncated => "truncated.gguf",
            Fault::NotGguf => "notes.gguf",
            Fault::Empty => "empty.gguf",
            Fault::TableCut => "table-cut.gguf",
            Fault::DataCut => "data-cut.gguf",
        }
    }

    /// What the error line must say about the file.
    fn expect(self) -> &'static str {
        match self {
            Fault::Missing => "model not found",
            Fault::Truncated => "truncated: the file ends at byte 1000000 inside the metadata",
            Fault::NotGguf => "not a GGUF file (bad magic)",
            Fault::Empty => "empty file (0 bytes)",
            Fault::TableCut => "inside the tensor table",
            Fault::DataCut => "needs bytes",
        }
    }

    fn path(self) -> PathBuf {
        faults_dir().join(self.file_name())
    }
}

/// The faulty files, made once for all tests (they are only read).
fn faults_dir() -> &'static Path {
    static DIR: OnceLock<TempDir> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let model = std::fs::read(real_model()).unwrap();
        let put = |f: Fault, bytes: &[u8]| std::fs::write(dir.path().join(f.file_name()), bytes);
        put(Fault::Truncated, &model[..1_000_000]).unwrap();
        put(
            Fault::NotGguf,
            b"These are my notes, not a model.\nq8Zt0xP1 k2mV9wR4\n",
        )
        .unwrap();
        put(Fault::Empty, b"").unwrap();
        // The first tensor names mark the table; cut a few bytes into it.
        let table = model
            .windows(6)
            .take(8_000_000)
            .position(|w| w == b"blk.0.")
            .expect("no tensor table in the first 8 MB of the model");
        put(Fault::TableCut, &model[..table + 8]).unwrap();
        put(Fault::DataCut, &model[..model.len() / 2]).unwrap();
        dir
    })
    .path()
}

/// Exit 3 (or `code`), nothing on stdout, and besides `lore: warning:`
/// lines exactly one stderr line: `lore: error: ...` naming the file and
/// saying `want`.
fn assert_one_error(out: &std::process::Output, code: i32, file: &str, want: &str, row: &str) {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(code), "{row}: {err}");
    for bad in ["panicked", "stack backtrace", "RUST_BACKTRACE"] {
        assert!(!err.contains(bad), "{row}: {bad} in stderr:\n{err}");
    }
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("lore: warning:"))
        .collect();
    assert_eq!(lines.len(), 1, "{row}: not one error line:\n{err}");
    let line = lines[0];
    assert!(line.starts_with("lore: error: "), "{row}: {line}");
    assert!(line.contains(file), "{row}: does not name {file}: {line}");
    assert!(line.contains(want), "{row}: does not say '{want}': {line}");
    assert!(
        stdout_of(out).trim().is_empty(),
        "{row}: stdout: {}",
        stdout_of(out)
    );
}

/// A command that loads a model: its arguments and stdin.
struct Row {
    name: &'static str,
    args: Vec<String>,
    stdin: &'static str,
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

/// Runs `row` with each fault's file as `--model`.
fn run_matrix(env: &TestEnv, row: &Row) {
    for fault in FAULTS {
        let model = fault.path();
        let out = env
            .lore()
            // The worst case: candle attaches backtraces to its errors then.
            .env("RUST_BACKTRACE", "1")
            .env("LORE_RETRIEVAL__MIN_SCORE", "0.1")
            .args(&row.args)
            .arg("--model")
            .arg(&model)
            .write_stdin(row.stdin)
            .timeout(TIMEOUT)
            .output()
            .unwrap();
        let label = format!("{} / {fault:?}", row.name);
        assert_one_error(&out, 3, fault.file_name(), fault.expect(), &label);
    }
}

/// Indexes the sample knowledge base (done on first use, with a note on
/// stderr) by a question that finds nothing and so loads no model.
fn prime_index(env: &TestEnv) {
    let out = env
        .lore()
        .args(["ask", "zebra quantum xylophone"])
        .write_stdin("")
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
}

#[test]
fn run_with_bad_model_files() {
    let env = TestEnv::new();
    let row = Row {
        name: "run",
        args: strings(&["run", "-n", "4", "-t", "0"]),
        stdin: "hi\n",
    };
    run_matrix(&env, &row);
}

#[test]
fn ask_with_bad_model_files() {
    let env = TestEnv::new();
    prime_index(&env);
    let row = Row {
        name: "ask",
        args: strings(&["ask", "-n", "4", "-t", "0", QUESTION]),
        stdin: "",
    };
    run_matrix(&env, &row);
}

#[test]
fn support_script_with_bad_model_files() {
    let env = TestEnv::new();
    prime_index(&env);
    let script = env.write("dialogue.txt", &format!("{QUESTION}\n"));
    let row = Row {
        name: "support --script",
        args: vec![
            "support".into(),
            "-n".into(),
            "4".into(),
            "-t".into(),
            "0".into(),
            "--script".into(),
            script.display().to_string(),
        ],
        stdin: "",
    };
    run_matrix(&env, &row);
}

#[test]
fn classify_with_bad_model_files() {
    let env = TestEnv::new();
    let row = Row {
        name: "classify",
        args: strings(&["classify", "--labels", "a,b"]),
        stdin: "x\n",
    };
    run_matrix(&env, &row);
}

#[test]
fn eval_qa_with_bad_model_files() {
    let env = TestEnv::new();
    let corpus = env.write(
        "qa/corpus.jsonl",
        "{\"_id\": \"d1\", \"title\": \"France\", \"text\": \"The capital of France is Paris.\"}\n",
    );
    let queries = env.write(
        "qa/queries.jsonl",
        "{\"_id\": \"q1\", \"text\": \"What is the capital of France?\", \"answers\": [\"Paris\"]}\n",
    );
    let row = Row {
        name: "eval qa",
        args: vec![
            "eval".into(),
            "qa".into(),
            "-n".into(),
            "4".into(),
            "-t".into(),
            "0".into(),
            "--corpus".into(),
            corpus.display().to_string(),
            "--queries".into(),
            queries.display().to_string(),
        ],
        stdin: "",
    };
    run_matrix(&env, &row);
}

#[test]
fn eval_support_with_bad_model_files() {
    let env = TestEnv::new();
    prime_index(&env);
    env.write(
        "dialogues/return-window.json",
        &format!(
            "{{\"name\": \"return-window\", \"turns\": [{{\"customer\": \"{QUESTION}\", \
             \"article\": \"returns/return-policy.md\"}}], \"handover\": false}}\n"
        ),
    );
    let row = Row {
        name: "eval support",
        args: vec![
            "eval".into(),
            "support".into(),
            "-n".into(),
            "4".into(),
            env.path("dialogues").display().to_string(),
        ],
        stdin: "",
    };
    run_matrix(&env, &row);
}

/// Defect 1 exactly as reported: `head -c 1000000 model.gguf > t.gguf;
/// echo hi | lore run --model t.gguf` gave a 138-line backtrace.
#[test]
fn truncated_model_in_the_working_directory_is_one_line() {
    let env = TestEnv::new();
    let mut head = Vec::new();
    let model = std::fs::File::open(real_model()).unwrap();
    std::io::Read::read_to_end(&mut std::io::Read::take(model, 1_000_000), &mut head).unwrap();
    std::fs::write(env.work().join("t.gguf"), head).unwrap();
    let out = env
        .lore()
        .env("RUST_BACKTRACE", "1")
        .args(["run", "--model", "t.gguf"])
        .write_stdin("hi\n")
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_one_error(&out, 3, "t.gguf", "truncated", "reproduction");
}

/// A header that parses but lacks what mistral.rs needs makes its loader
/// panic ("no entry found for key" in mistral.rs 0.8.1): the panic is one
/// error line, and `-v` adds only the panic's message and location.
#[test]
fn a_loader_panic_is_one_line_and_verbose_adds_its_location() {
    let env = TestEnv::new();
    let model = env.path("bare.gguf");
    std::fs::write(&model, gguf_without_tensors()).unwrap();
    let out = env
        .lore()
        .env_remove("RUST_BACKTRACE")
        .args(["run", "-n", "4", "--model"])
        .arg(&model)
        .write_stdin("hi\n")
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    assert_one_error(&out, 3, "bare.gguf", "could not load model", "loader panic");

    let out = env
        .lore()
        .env_remove("RUST_BACKTRACE")
        .args(["-v", "run", "-n", "4", "--model"])
        .arg(&model)
        .write_stdin("hi\n")
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(!err.contains("stack backtrace"), "{err}");
    let panic = err.lines().find(|l| l.starts_with("lore: panic: "));
    let panic = panic.unwrap_or_else(|| panic!("no panic line with -v:\n{err}"));
    assert!(panic.contains("(at ") && panic.contains(".rs:"), "{panic}");
    let errors: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("lore: error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains("bare.gguf"), "{err}");
}

/// GGUF v3 with an architecture and a context length, and no tensors.
fn gguf_without_tensors() -> Vec<u8> {
    let string = |s: &str| {
        let mut b = (s.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(s.as_bytes());
        b
    };
    let mut out = b"GGUF".to_vec();
    out.extend_from_slice(&3u32.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes()); // tensors
    out.extend_from_slice(&2u64.to_le_bytes()); // metadata entries
    out.extend(string("general.architecture"));
    out.extend_from_slice(&8u32.to_le_bytes()); // string
    out.extend(string("llama"));
    out.extend(string("llama.context_length"));
    out.extend_from_slice(&4u32.to_le_bytes()); // u32
    out.extend_from_slice(&2048u32.to_le_bytes());
    out
}

/// `lore models list` lists the good models and warns once per bad file.
#[test]
fn models_list_shows_good_files_and_warns_about_bad_ones() {
    let env = TestEnv::new();
    let dir = env.path("models");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(real_model(), dir.join("good.gguf")).unwrap();
    let bad = [
        Fault::Truncated,
        Fault::NotGguf,
        Fault::Empty,
        Fault::TableCut,
    ];
    for f in bad {
        std::fs::copy(f.path(), dir.join(f.file_name())).unwrap();
    }
    let out = env
        .bare()
        .env("RUST_BACKTRACE", "1")
        .env("LORE_MODELS_DIR", &dir)
        .args(["models", "list"])
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("stack backtrace"), "{err}");
    let text = stdout_of(&out);
    let good = text.lines().find(|l| l.starts_with("good.gguf"));
    assert!(good.is_some_and(|l| l.contains("llama")), "{text}");
    let warnings: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(warnings.len(), bad.len(), "{err}");
    for f in bad {
        let w = warnings
            .iter()
            .find(|w| w.contains(f.file_name()))
            .unwrap_or_else(|| panic!("no warning for {}:\n{err}", f.file_name()));
        assert!(
            w.starts_with("lore: warning: ") && w.contains(f.expect()),
            "{w}"
        );
    }

    // JSON lists every file, the bad ones as errors.
    let out = env
        .bare()
        .env("LORE_MODELS_DIR", &dir)
        .args(["models", "list", "--format", "json"])
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let models = v["models"].as_array().unwrap();
    let files: Vec<_> = models.iter().filter(|m| m["catalogue"] == false).collect();
    assert_eq!(files.len(), bad.len() + 1, "{v}");
    let errors = models.iter().filter(|m| m["error"].is_string()).count();
    assert_eq!(errors, bad.len(), "{v}");
}

/// `lore models quantize` on a bad input: exit 2, one line naming it, and
/// no output file or partial file left behind.
#[test]
fn models_quantize_rejects_bad_inputs_without_leaving_files() {
    let env = TestEnv::new();
    for fault in FAULTS {
        let out_dir = env.path(&format!("out-{}", fault.file_name()));
        std::fs::create_dir_all(&out_dir).unwrap();
        let output = out_dir.join("out.gguf");
        let out = env
            .bare()
            .env("RUST_BACKTRACE", "1")
            .args(["models", "quantize"])
            .arg(fault.path())
            .arg(&output)
            .timeout(TIMEOUT)
            .output()
            .unwrap();
        let want = match fault {
            Fault::Missing => "no such file",
            f => f.expect(),
        };
        let row = format!("quantize / {fault:?}");
        assert_one_error(&out, 2, fault.file_name(), want, &row);
        let left: Vec<_> = std::fs::read_dir(&out_dir).unwrap().collect();
        assert!(left.is_empty(), "{row}: left {left:?}");
    }
}
