//! `lore models pull` against a local server that answers the way the
//! Hugging Face hub does (`HF_ENDPOINT` points lore at it): a `HEAD` of
//! `/{repo}/resolve/main/{file}` redirects with the sha256 in
//! `X-Linked-Etag` and the size in `X-Linked-Size`, the `GET` redirects to
//! the bytes (which honour `Range`), and `/api/models/{repo}` lists the
//! files. No test reaches the internet.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{stderr_of, stdout_of, TestEnv};
use sha2::{Digest, Sha256};

const TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone, Default)]
struct Behaviour {
    /// Send only this many body bytes, then close (an interrupted download).
    cut_after: Option<usize>,
    /// Publish this sha256 instead of the real one.
    wrong_sha: bool,
    /// Ignore `Range` (always send the whole file).
    no_range: bool,
}

struct Hub {
    url: String,
    behaviour: Arc<Mutex<Behaviour>>,
    /// Byte offsets of the Range requests seen.
    ranges: Arc<Mutex<Vec<u64>>>,
}

fn sha_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A hub serving `files` (repo, file name, bytes).
fn hub(files: Vec<(&str, &str, Vec<u8>)>) -> Hub {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let behaviour = Arc::new(Mutex::new(Behaviour::default()));
    let ranges = Arc::new(Mutex::new(Vec::new()));
    let files: Arc<HashMap<(String, String), Vec<u8>>> = Arc::new(
        files
            .into_iter()
            .map(|(r, f, d)| ((r.to_string(), f.to_string()), d))
            .collect(),
    );
    let (b, rg) = (behaviour.clone(), ranges.clone());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (files, b, rg) = (files.clone(), b.clone(), rg.clone());
            std::thread::spawn(move || {
                let _ = handle(stream, &files, &b.lock().unwrap().clone(), &rg);
            });
        }
    });
    Hub {
        url,
        behaviour,
        ranges,
    }
}

fn handle(
    mut stream: TcpStream,
    files: &HashMap<(String, String), Vec<u8>>,
    behaviour: &Behaviour,
    ranges: &Mutex<Vec<u64>>,
) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let _method = parts.next();
    let path = parts.next().unwrap_or("").to_string();
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
            range = v.trim().trim_end_matches('-').parse::<u64>().ok();
        }
    }
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let respond =
        |stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]| {
            let mut head = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            stream.write_all(head.as_bytes())?;
            stream.write_all(body)?;
            stream.flush()
        };
    match segments.as_slice() {
        ["api", "models", owner, repo] => {
            let repo = format!("{owner}/{repo}");
            let names: Vec<String> = files
                .keys()
                .filter(|(r, _)| *r == repo)
                .map(|(_, f)| format!("{{\"rfilename\":\"{f}\"}}"))
                .collect();
            if names.is_empty() {
                return respond(&mut stream, "404 Not Found", &[], b"");
            }
            let body = format!(
                "{{\"siblings\":[{},{{\"rfilename\":\"README.md\"}}]}}",
                names.join(",")
            );
            respond(
                &mut stream,
                "200 OK",
                &[("Content-Length", body.len().to_string())],
                body.as_bytes(),
            )
        }
        [owner, repo, "resolve", "main", file] => {
            let key = (format!("{owner}/{repo}"), file.to_string());
            let Some(data) = files.get(&key) else {
                return respond(
                    &mut stream,
                    "404 Not Found",
                    &[("Content-Length", "0".into())],
                    b"",
                );
            };
            let sha = if behaviour.wrong_sha {
                "0".repeat(64)
            } else {
                sha_hex(data)
            };
            let location = format!("/cdn/{owner}/{repo}/{file}");
            let headers = [
                ("Location", location),
                ("X-Linked-Etag", format!("\"{sha}\"")),
                ("X-Linked-Size", data.len().to_string()),
                ("Content-Length", "0".into()),
            ];
            respond(&mut stream, "302 Found", &headers, b"")
        }
        ["cdn", owner, repo, file] => {
            let key = (format!("{owner}/{repo}"), file.to_string());
            let Some(data) = files.get(&key) else {
                return respond(&mut stream, "404 Not Found", &[], b"");
            };
            let start = if behaviour.no_range { None } else { range };
            if let Some(s) = range {
                ranges.lock().unwrap().push(s);
            }
            let start_at = start.unwrap_or(0) as usize;
            let body = &data[start_at.min(data.len())..];
            let mut headers = vec![("Content-Length", body.len().to_string())];
            let status = if start.is_some() {
                headers.push((
                    "Content-Range",
                    format!("bytes {start_at}-{}/{}", data.len() - 1, data.len()),
                ));
                "206 Partial Content"
            } else {
                "200 OK"
            };
            let sent = behaviour
                .cut_after
                .map_or(body, |n| &body[..n.min(body.len())]);
            respond(&mut stream, status, &headers, sent)
        }
        _ => respond(&mut stream, "404 Not Found", &[], b""),
    }
}

fn payload(n: usize) -> Vec<u8> {
    let mut v = b"GGUF".to_vec();
    v.extend((0..n).map(|i| (i * 31 % 251) as u8));
    v
}

fn pull(env: &TestEnv, hub: &Hub, models: &Path, args: &[&str]) -> std::process::Output {
    env.bare()
        .env("HF_ENDPOINT", &hub.url)
        .env("LORE_MODELS_DIR", models)
        .args(["models", "pull"])
        .args(args)
        .timeout(TIMEOUT)
        .output()
        .unwrap()
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn pull_downloads_verifies_and_renames_into_place() {
    let data = payload(300_000);
    let hub = hub(vec![("owner/tiny-GGUF", "tiny.Q8_0.gguf", data.clone())]);
    let env = TestEnv::new();
    let models = env.path("models");
    let out = pull(&env, &hub, &models, &["owner/tiny-GGUF:tiny.Q8_0.gguf"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let file = models.join("tiny.Q8_0.gguf");
    assert_eq!(std::fs::read(&file).unwrap(), data);
    assert_eq!(stdout_of(&out).trim(), file.display().to_string());
    assert!(
        stderr_of(&out).contains("sha256 verified"),
        "{}",
        stderr_of(&out)
    );
    assert_eq!(leftovers(&models), ["tiny.Q8_0.gguf"]);

    // Again: nothing is downloaded.
    let out = pull(&env, &hub, &models, &["owner/tiny-GGUF:tiny.Q8_0.gguf"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("present and verified"),
        "{}",
        stderr_of(&out)
    );

    // `lore models rm` takes it away again.
    let out = env
        .bare()
        .env("LORE_MODELS_DIR", &models)
        .args(["models", "rm", "tiny.Q8_0.gguf"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!file.exists());
}

#[test]
fn pull_without_a_file_takes_the_only_gguf_or_asks() {
    let hub = hub(vec![
        ("one/repo", "only.gguf", payload(1000)),
        ("two/repo", "a.Q4_K_M.gguf", payload(10)),
        ("two/repo", "b.Q8_0.gguf", payload(20)),
    ]);
    let env = TestEnv::new();
    let models = env.path("models");
    let out = pull(&env, &hub, &models, &["one/repo"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(models.join("only.gguf").is_file());

    let out = pull(&env, &hub, &models, &["two/repo"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("a.Q4_K_M.gguf") && err.contains("b.Q8_0.gguf"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn a_checksum_mismatch_leaves_nothing_behind() {
    let hub = hub(vec![("owner/repo", "m.gguf", payload(50_000))]);
    hub.behaviour.lock().unwrap().wrong_sha = true;
    let env = TestEnv::new();
    let models = env.path("models");
    let out = pull(&env, &hub, &models, &["owner/repo:m.gguf"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("checksum") && err.contains(&"0".repeat(64)),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(leftovers(&models).is_empty(), "{:?}", leftovers(&models));

    // A --sha256 of the user's own is checked the same way.
    hub.behaviour.lock().unwrap().wrong_sha = false;
    let out = pull(
        &env,
        &hub,
        &models,
        &["owner/repo:m.gguf", "--sha256", &"a".repeat(64)],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr_of(&out));
    assert!(leftovers(&models).is_empty());
}

#[test]
fn an_interrupted_download_resumes_where_it_stopped() {
    let data = payload(400_000);
    let hub = hub(vec![("owner/repo", "big.gguf", data.clone())]);
    hub.behaviour.lock().unwrap().cut_after = Some(150_000);
    let env = TestEnv::new();
    let models = env.path("models");
    let out = pull(&env, &hub, &models, &["owner/repo:big.gguf"]);
    assert_eq!(out.status.code(), Some(5), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(err.contains("again to resume"), "{err}");
    assert!(!models.join("big.gguf").exists());

    hub.behaviour.lock().unwrap().cut_after = None;
    let out = pull(&env, &hub, &models, &["owner/repo:big.gguf"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("resuming"), "{}", stderr_of(&out));
    assert_eq!(std::fs::read(models.join("big.gguf")).unwrap(), data);
    assert_eq!(hub.ranges.lock().unwrap().as_slice(), [150_000]);
    assert_eq!(leftovers(&models), ["big.gguf"]);
}

#[test]
fn a_server_that_ignores_range_still_gives_the_right_file() {
    let data = payload(200_000);
    let hub = hub(vec![("owner/repo", "m.gguf", data.clone())]);
    hub.behaviour.lock().unwrap().cut_after = Some(60_000);
    let env = TestEnv::new();
    let models = env.path("models");
    assert_eq!(
        pull(&env, &hub, &models, &["owner/repo:m.gguf"])
            .status
            .code(),
        Some(5)
    );
    *hub.behaviour.lock().unwrap() = Behaviour {
        no_range: true,
        ..Behaviour::default()
    };
    let out = pull(&env, &hub, &models, &["owner/repo:m.gguf"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(std::fs::read(models.join("m.gguf")).unwrap(), data);
}

#[test]
fn bad_sources_are_one_line_errors() {
    let hub = hub(vec![("owner/repo", "m.gguf", payload(10))]);
    let env = TestEnv::new();
    let models = env.path("models");
    for (args, code, needle) in [
        (vec!["owner/repo:missing.gguf"], 2, "not found"),
        (vec!["nobody/none"], 2, "not found"),
        (vec!["owner/repo:../x.gguf"], 2, "not a GGUF file name"),
        (vec!["a/b/c"], 2, "not a Hugging Face repository"),
        (vec!["qwen2.5-coder-0.5"], 2, "qwen2.5-coder-0.5b"),
        (
            vec!["owner/repo:m.gguf", "--sha256", "xyz"],
            2,
            "64 hex digits",
        ),
    ] {
        let out = pull(&env, &hub, &models, &args);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
    }
    // Nothing listening: a network error, exit 5.
    let dead = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", dead.local_addr().unwrap());
    drop(dead);
    let out = env
        .bare()
        .env("HF_ENDPOINT", &url)
        .env("LORE_MODELS_DIR", &models)
        .args(["models", "pull", "owner/repo:m.gguf"])
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("cannot reach"),
        "{}",
        stderr_of(&out)
    );
}
