//! Remote engines (`--engine URL`): lore's tasks against `lore serve` and
//! against a server lore did not write (llama.cpp's, from
//! llama-cpp-python), and clear errors from servers that are down, refuse
//! or stream garbage.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::time::Duration;

use common::serve::{free_port, test_venv, Served};
use common::{models_dir, stderr_of, stdout_of, TestEnv, MACHINERY_MODEL};
use serde_json::Value;

const RUN: [&str; 8] = [
    "run",
    "-n",
    "8",
    "-t",
    "0",
    "--format",
    "json",
    "Say hello.",
];
const ASK: [&str; 6] = [
    "ask",
    "-n",
    "24",
    "--format",
    "json",
    "How long do I have to return an item?",
];

/// Two tickets through `lore classify` (billing or bug), one row each.
fn classify_two(cmd: &mut assert_cmd::Command) -> Vec<Value> {
    let out = cmd
        .args(["classify", "--labels", "billing,bug", "--format", "jsonl"])
        .write_stdin("I was charged twice\nthe app crashes on start\n")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let rows: Vec<Value> = stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 2);
    for r in &rows {
        assert!(
            ["billing", "bug"].contains(&r["label"].as_str().unwrap()),
            "{r}"
        );
    }
    rows
}

fn json_of(out: &std::process::Output) -> Value {
    assert!(out.status.success(), "{}", stderr_of(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout_of(out)))
}

#[test]
fn tasks_run_against_lore_serve() {
    let env = TestEnv::new();
    let served = Served::lore(&env, &[], &[]);
    // No models directory on the client side: the model is the server's.
    let client = || {
        let mut c = env.bare();
        c.env("LORE_MODELS_DIR", env.path("no-models"))
            .args(["--engine", &served.url]);
        c
    };
    let v = json_of(&client().args(RUN).output().unwrap());
    assert!(!v["text"].as_str().unwrap().trim().is_empty(), "{v}");
    assert_eq!(v["model"]["name"], MACHINERY_MODEL);
    assert_eq!(v["device"], "remote");
    // lore serve counts tokens exactly, so nothing is marked estimated.
    assert!(v["model"].get("token_counts").is_none(), "{v}");
    let n = v["usage"]["completion_tokens"].as_u64().unwrap();
    assert!((1..=8).contains(&n), "{v}");
    assert!(v["usage"]["prompt_tokens"].as_u64().unwrap() > 0, "{v}");

    let v = json_of(&client().args(ASK).output().unwrap());
    assert_eq!(v["found"], true, "{v}");

    for r in &classify_two(&mut client()) {
        // lore serve returns logprobs (as log10, which the client knows)
        // and enforces constraints.
        assert!(r["scores"].is_object(), "{r}");
        let by = r["decided_by"].as_str().unwrap();
        assert!(["first-token", "constrained"].contains(&by), "{r}");
    }
}

#[test]
fn an_unreachable_or_wrong_server_is_one_clear_error() {
    let env = TestEnv::new();
    let port = free_port();
    let out = env
        .bare()
        .args(["--engine", &format!("http://127.0.0.1:{port}"), "run", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("cannot reach the server"), "{err}");

    let out = env
        .bare()
        .args(["--engine", "ftp://example", "run", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("http:// or https://"));
}

/// A server that lists a model and then streams HTML: lore says so in
/// one line and exits 1.
#[test]
fn a_server_that_streams_garbage_is_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(8) {
            let Ok(mut s) = stream else { continue };
            let mut reader = BufReader::new(s.try_clone().unwrap());
            let mut first = String::new();
            let _ = reader.read_line(&mut first);
            let mut length = 0usize;
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let (kind, reply) = if first.starts_with("GET /v1/models") {
                (
                    "application/json",
                    r#"{"object":"list","data":[{"id":"fake"}]}"#.to_string(),
                )
            } else if first.starts_with("POST /v1/chat/completions") {
                (
                    "text/event-stream",
                    "data: <html>oops</html>\n\n".to_string(),
                )
            } else {
                ("text/plain", "no".to_string())
            };
            let status = if kind == "text/plain" {
                "404 Not Found"
            } else {
                "200 OK"
            };
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            );
        }
    });
    let env = TestEnv::new();
    let out = env
        .bare()
        .args([
            "--engine",
            &format!("http://127.0.0.1:{port}"),
            "run",
            "-n",
            "4",
            "hi",
        ])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("not an OpenAI chat chunk: <html>oops</html>"),
        "{err}"
    );
}

#[test]
fn tasks_run_against_llama_cpp_server() {
    let venv = test_venv();
    let env = TestEnv::new();
    let port = free_port();
    let model = models_dir().join("SmolLM2-135M-Instruct.Q8_0.gguf");
    let mut cmd = std::process::Command::new(venv.join("bin/python"));
    cmd.args(["-m", "llama_cpp.server", "--model"])
        .arg(&model)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--n_ctx",
            "2048",
            "--n_threads",
            "2",
            "--n_threads_batch",
            "2",
        ])
        .args(["--model_alias", "smollm2"]);
    let url = format!("http://127.0.0.1:{port}");
    let ready = url.clone();
    // uvicorn says it is running once it accepts connections.
    let _server = Served::spawn(cmd, move |line| {
        line.contains("Uvicorn running on").then(|| ready.clone())
    });
    let client = || {
        let mut c = env.bare();
        c.env("LORE_MODELS_DIR", env.path("no-models"))
            .args(["--engine", &url]);
        c
    };
    let v = json_of(&client().args(RUN).output().unwrap());
    assert!(!v["text"].as_str().unwrap().trim().is_empty(), "{v}");
    assert_eq!(v["model"]["name"], "smollm2");
    // llama.cpp's server tokenizes text but not chat prompts: the prompt
    // count is an estimate, and the report says so.
    assert_eq!(v["model"]["token_counts"], "estimated", "{v}");

    let v = json_of(&client().args(ASK).output().unwrap());
    assert_eq!(v["found"], true, "{v}");
    assert!(!v["answer"].as_str().unwrap().trim().is_empty(), "{v}");

    for r in &classify_two(&mut client()) {
        assert!(
            ["first-token", "generated"].contains(&r["decided_by"].as_str().unwrap()),
            "{r}"
        );
    }
}
