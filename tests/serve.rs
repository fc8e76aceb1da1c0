//! `lore serve` over loopback: the official OpenAI Python client, lore's
//! endpoints, bad requests, the bounded queue under 32 streaming clients,
//! disconnects and SIGTERM. Every wait has a deadline.

mod common;

use std::time::{Duration, Instant};

use common::serve::{test_venv, Served};
use common::{stderr_of, TestEnv, MACHINERY_MODEL};
use serde_json::{json, Value};

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap()
}

async fn post(url: &str, body: &Value) -> (u16, Value) {
    let r = client().post(url).json(body).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, v)
}

/// A streaming chat request's parsed chunks, or its status and body.
async fn stream_chat(
    url: &str,
    prompt: &str,
    max_tokens: u32,
) -> Result<Vec<Value>, (u16, String)> {
    let body = json!({"model": MACHINERY_MODEL, "stream": true, "max_tokens": max_tokens,
        "temperature": 0, "messages": [{"role": "user", "content": prompt}]});
    let r = client()
        .post(format!("{url}/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let retry = r.headers().get("retry-after").is_some();
    let text = r.text().await.unwrap_or_default();
    if status != 200 {
        assert!(status != 503 || retry, "a 503 without Retry-After: {text}");
        return Err((status, text));
    }
    let mut chunks = Vec::new();
    let mut done = false;
    for line in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if line.trim() == "[DONE]" {
            done = true;
            continue;
        }
        assert!(!done, "data after [DONE]: {text}");
        chunks.push(serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")));
    }
    assert!(done, "the stream did not end with [DONE]: {text}");
    Ok(chunks)
}

#[test]
fn the_openai_python_client_works_against_lore_serve() {
    let venv = test_venv();
    let env = TestEnv::new();
    let served = Served::lore(&env, &[], &[]);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/serve/openai_client.py");
    let out = std::process::Command::new(venv.join("bin/python"))
        .args([script, &served.url, MACHINERY_MODEL])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        stderr_of(&out),
        served.log()
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["models"], json!([MACHINERY_MODEL]), "{v}");
    assert!(!v["text"].as_str().unwrap().trim().is_empty(), "{v}");
    assert_eq!(v["finish_reason"], "length", "{v}");
    assert_eq!(v["completion_tokens"], 8, "{v}");
    // Greedy: the stream says what the plain reply said.
    assert_eq!(v["streamed"], v["text"], "{v}");
    assert!(v["stream_chunks"].as_u64().unwrap() >= 2, "{v}");
    assert_eq!(v["stream_finish_reason"], "length", "{v}");
    assert_eq!(v["unknown_model"]["status"], 404, "{v}");
    assert!(
        v["unknown_model"]["message"]
            .as_str()
            .unwrap()
            .contains("not served here"),
        "{v}"
    );
    // One log line per request: method, path, status, tokens, time.
    let log = served.log();
    assert!(
        log.lines()
            .any(|l| l.starts_with("lore: POST /v1/chat/completions 200 8 tokens ")),
        "{log}"
    );
    assert!(log.contains("lore: GET /v1/models 200"), "{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lores_endpoints_answer_as_the_cli_does() {
    let env = TestEnv::new();
    let served = Served::lore(&env, &[], &[]);
    let url = &served.url;

    let h = health(url).await;
    assert_eq!(h["engine"], "lore");
    assert_eq!(h["model"], MACHINERY_MODEL);
    assert_eq!(h["in_flight"], 0);
    assert!(h["context_length"].as_u64().unwrap() > 0);

    let (status, hits) = post(
        &format!("{url}/v1/lore/search"),
        &json!({"query": "How long do I have to return an item?", "k": 3}),
    )
    .await;
    assert_eq!(status, 200, "{hits}");
    assert_eq!(hits["index"], "default");
    let first = hits["hits"][0]["path"].as_str().unwrap();
    assert!(first.ends_with("returns/return-policy.md"), "{hits}");

    let (status, answer) = post(
        &format!("{url}/v1/lore/ask"),
        &json!({"question": "How long do I have to return an item?", "max_tokens": 24}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["found"], true, "{answer}");
    assert!(answer["passages"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("returns/return-policy.md"));
    assert!(answer["citations_valid"].is_boolean());
    assert!(answer["model"]["name"].is_string(), "{answer}");

    let (status, off) = post(
        &format!("{url}/v1/lore/ask"),
        &json!({"question": "How do I bake sourdough bread?"}),
    )
    .await;
    assert_eq!(status, 200, "{off}");
    assert_eq!(off["found"], false, "{off}");

    let (status, labels) = post(
        &format!("{url}/v1/lore/classify"),
        &json!({"items": ["I was charged twice this month", {"id": "t2", "text": "the app crashes on start"}],
                "labels": ["billing", "bug"]}),
    )
    .await;
    assert_eq!(status, 200, "{labels}");
    let rows = labels.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["id"], "t2");
    for r in rows {
        assert!(
            ["billing", "bug"].contains(&r["label"].as_str().unwrap()),
            "{r}"
        );
        assert!(["first-token", "constrained"].contains(&r["decided_by"].as_str().unwrap()));
    }

    let (status, n) = post(
        &format!("{url}/v1/lore/tokenize"),
        &json!({"text": "hello world"}),
    )
    .await;
    assert_eq!(status, 200);
    assert!(n["tokens"].as_u64().unwrap() >= 2, "{n}");
    let (_, chat) = post(
        &format!("{url}/v1/lore/tokenize"),
        &json!({"messages": [{"role": "user", "content": "hello world"}]}),
    )
    .await;
    assert!(chat["tokens"].as_u64() > n["tokens"].as_u64(), "{chat}");

    // Field errors name the field; a missing index is 404.
    let (status, e) = post(&format!("{url}/v1/lore/ask"), &json!({"questoin": "x"})).await;
    assert_eq!(status, 400, "{e}");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("questoin"),
        "{e}"
    );
    let (status, e) = post(
        &format!("{url}/v1/lore/search"),
        &json!({"query": "x", "index": "nope"}),
    )
    .await;
    assert_eq!(status, 404, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_one_clear_error_each() {
    let env = TestEnv::new();
    let served = Served::lore(&env, &[], &[("LORE_SERVE__MAX_BODY_KB", "1")]);
    let url = &served.url;
    let chat = format!("{url}/v1/chat/completions");

    let r = client()
        .post(&chat)
        .header("content-type", "application/json")
        .body("{\"messages\": [")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("the request body is not valid JSON"),
        "{e}"
    );

    let big = "x".repeat(4096);
    let (status, e) = post(
        &chat,
        &json!({"messages": [{"role": "user", "content": big}]}),
    )
    .await;
    assert_eq!(status, 413, "{e}");
    assert!(e["error"]["message"]
        .as_str()
        .unwrap()
        .contains("serve.max_body_kb"));

    let r = client()
        .get(format!("{url}/v1/models/unload"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let r = client().post(format!("{url}/re_isq")).send().await.unwrap();
    assert_eq!(r.status(), 404);

    // The server is still fine.
    let r = client().get(format!("{url}/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn off_loopback_the_api_key_is_required() {
    let env = TestEnv::new();
    // Without a key, a network address is refused before the model loads.
    let out = env
        .lore()
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("needs an API key"), "{err}");
    let out = env
        .lore()
        .args(["serve", "--api-key-env", "LORE_TEST_NO_SUCH_VAR"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    // Serving a remote engine is not a thing; a busy port fails at once.
    let out = env
        .lore()
        .args(["serve", "--engine", "http://127.0.0.1:1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = env
        .lore()
        .args(["serve", "--listen", &addr])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");

    let mut cmd = env.lore_std();
    cmd.args([
        "serve",
        "--listen",
        "0.0.0.0:0",
        "--api-key-env",
        "LORE_TEST_KEY",
    ])
    .env("LORE_TEST_KEY", "s3cret");
    let served = Served::spawn(cmd, |line| {
        let port = line
            .strip_prefix("lore: serving ")?
            .split("0.0.0.0:")
            .nth(1)?;
        let port = port.split_whitespace().next()?;
        Some(format!("http://127.0.0.1:{port}"))
    });
    let health = format!("{}/health", served.url);
    for (key, status) in [(None, 401), (Some("wrong"), 401), (Some("s3cret"), 200)] {
        let mut request = client().get(&health);
        if let Some(k) = key {
            request = request.bearer_auth(k);
        }
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), status, "key {key:?}");
        assert_eq!(r.headers().get("www-authenticate").is_some(), status == 401);
    }
    let r = client()
        .post(format!("{}/v1/chat/completions", served.url))
        .json(&json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// 32 streaming clients at once; each either completes with a whole,
/// unmixed stream or gets 503. Returns (completed, refused, latencies,
/// seconds).
async fn burst(url: &str, clients: usize) -> (usize, usize, Vec<f64>, f64) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let url = url.to_string();
            tokio::spawn(async move {
                let t = Instant::now();
                let prompt = format!("Count from {i} to {}.", i + 3);
                (
                    stream_chat(&url, &prompt, 8).await,
                    t.elapsed().as_secs_f64(),
                )
            })
        })
        .collect();
    let (mut done, mut busy) = (0usize, 0usize);
    let mut latencies = Vec::new();
    for t in tasks {
        let (result, secs) = tokio::time::timeout(Duration::from_secs(300), t)
            .await
            .expect("every request ends within the deadline")
            .unwrap();
        match result {
            Ok(chunks) => {
                done += 1;
                latencies.push(secs);
                // One response's chunks all belong to it.
                let id = &chunks[0]["id"];
                assert!(
                    chunks.iter().all(|c| &c["id"] == id),
                    "mixed ids: {chunks:?}"
                );
                let text: String = chunks
                    .iter()
                    .filter_map(|c| c["choices"][0]["delta"]["content"].as_str())
                    .collect();
                assert!(!text.is_empty());
            }
            Err((503, body)) => {
                busy += 1;
                assert!(body.contains("serve.max_queue"), "{body}");
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    (done, busy, latencies, started.elapsed().as_secs_f64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_streaming_clients_complete_or_get_503() {
    let env = TestEnv::new();
    let served = Served::lore(&env, &["--parallel", "4", "--max-queue", "8"], &[]);
    let url = served.url.clone();
    const CLIENTS: usize = 32;
    let mut rss = vec![served.rss_kb()];
    for round in 1..=4 {
        let (done, busy, latencies, wall) = burst(&url, CLIENTS).await;
        assert_eq!(done + busy, CLIENTS);
        // 12 fit (4 running + 8 queued); 32 at once cannot all fit.
        assert!(done >= 12, "{done} done, {busy} busy");
        assert!(
            busy >= 1,
            "{done} done, {busy} busy: the queue is not bounded"
        );
        rss.push(served.rss_kb());
        eprintln!(
            "load round {round}: {done} completed, {busy} got 503, {:.2} completed requests/s, latency p50 {:.2} s p99 {:.2} s, RSS {} MiB",
            done as f64 / wall,
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            rss[round] / 1024
        );
    }
    // The first rounds grow the engine's working set: a KV cache per
    // running sequence, and the prefix cache's 16 finished ones (vendor
    // patch 0004: on a CPU these were never evicted). After 24 requests
    // that is full, and two more rounds add nothing like a backlog
    // (without the patch: about 300 MB a round).
    assert!(
        rss[4] < rss[2] + 128 * 1024,
        "RSS grew from {} to {} KiB over two more equal rounds",
        rss[2],
        rss[4]
    );
    let h = health(&url).await;
    assert_eq!(h["in_flight"], 0, "{h}");
}

/// A long streaming reply, once its first chunk has arrived: a request
/// that holds its slot for seconds.
async fn long_stream(url: &str) -> reqwest::Response {
    let body = json!({"stream": true, "max_tokens": 400, "temperature": 0,
        "messages": [{"role": "user", "content": "Write a long story about a dragon."}]});
    let mut r = client()
        .post(format!("{url}/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.chunk().await.unwrap().is_some());
    r
}

async fn health(url: &str) -> Value {
    let r = client().get(format!("{url}/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// Polls /health until nothing is in flight.
async fn wait_idle(url: &str, deadline: Duration) {
    let started = Instant::now();
    loop {
        let h = health(url).await;
        if h["in_flight"] == 0 {
            return;
        }
        assert!(started.elapsed() < deadline, "still in flight: {h}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_mid_stream_frees_its_slot() {
    let env = TestEnv::new();
    // One slot, no queue: the next request fits only once the slot is free.
    let served = Served::lore(&env, &["--parallel", "1", "--max-queue", "0"], &[]);
    let url = served.url.clone();
    let r = long_stream(&url).await;
    // While it streams, the one slot is taken.
    let (status, _) = post(
        &format!("{url}/v1/chat/completions"),
        &json!({"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}),
    )
    .await;
    assert_eq!(status, 503);
    drop(r);
    wait_idle(&url, Duration::from_secs(20)).await;
    let chunks = stream_chat(&url, "Say hello.", 4)
        .await
        .expect("the slot is free again");
    assert!(!chunks.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_during_a_stream_ends_it_cleanly_and_exits_0() {
    let env = TestEnv::new();
    let mut served = Served::lore(&env, &[], &[("LORE_SERVE__GRACE_S", "2")]);
    let url = served.url.clone();
    let mut r = long_stream(&url).await;
    let pid = served.pid().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    // The client sees the stream end (finished within the grace period,
    // or cut when it ran out), never hangs.
    let end = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match r.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) => return "end",
                Err(_) => return "error",
            }
        }
    })
    .await
    .expect("the stream ends after SIGTERM");
    assert!(["end", "error"].contains(&end));
    let code = served.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{}", served.log());
    assert!(served.log().contains("lore: stopping"), "{}", served.log());
}
