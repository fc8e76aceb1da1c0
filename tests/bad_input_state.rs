//! Bad state on disk: damaged session and ticket files among good ones,
//! two writers of one file, and a writer killed mid-way. Listing skips a
//! damaged file with one warning naming it; naming one is one error line
//! and exit 2; a file lore writes is always a whole version, never a mix
//! or a prefix. No row here loads the model.

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{stderr_of, stdout_of, TestEnv};
use lore::model::Role;
use lore::sessions::{Session, SessionMessage, Store};

const GOOD_OLD: &str = "20261123-205612-3fa2";
const GOOD_NEW: &str = "20261124-080000-0001";

/// Damaged session files, by id: what a crash, a full disk or a careless
/// edit leaves behind.
fn damaged_sessions() -> Vec<(&'static str, Vec<u8>)> {
    let whole = session_json(GOOD_OLD, "whole").to_string().into_bytes();
    vec![
        // Cut in the middle of a string, as a torn write would leave it.
        ("20261120-000000-0001", whole[..whole.len() / 2].to_vec()),
        ("20261120-000000-0002", Vec::new()),
        ("20261120-000000-0003", b"\xff\xfe\x00garbage\x00".to_vec()),
        (
            "20261120-000000-0004",
            b"[\"not\", \"a\", \"session\"]".to_vec(),
        ),
        (
            "20261120-000000-0005",
            b"{\"messages\": [{\"role\": \"user\", \"content\": \"caf\xc3\"}]}".to_vec(),
        ),
    ]
}

fn session_json(id: &str, title: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "title": title,
        "created": "2026-11-23T20:56:12+01:00",
        "updated": if id == GOOD_NEW { "2026-11-24T08:00:00+01:00" } else { "2026-11-23T21:00:00+01:00" },
        "model": "SmolLM2-135M-Instruct.Q8_0.gguf",
        "mode": "chat",
        "index": "default",
        "system": "",
        "messages": [
            {"role": "user", "content": "How do I reset the router?"},
            {"role": "assistant", "content": "Hold the reset button for ten seconds."}
        ]
    })
}

fn sessions_dir(env: &TestEnv) -> PathBuf {
    env.path("data/lore/sessions")
}

fn tickets_dir(env: &TestEnv) -> PathBuf {
    env.path("data/lore/tickets")
}

fn write_bytes(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Two good sessions and every kind of damaged one.
fn env_with_damaged_sessions() -> TestEnv {
    let env = TestEnv::new();
    let dir = sessions_dir(&env);
    for (id, title) in [(GOOD_OLD, "Old one"), (GOOD_NEW, "New one")] {
        let json = session_json(id, title).to_string();
        write_bytes(&dir.join(format!("{id}.json")), json.as_bytes());
    }
    for (id, bytes) in damaged_sessions() {
        write_bytes(&dir.join(format!("{id}.json")), &bytes);
    }
    env
}

fn assert_no_panic(err: &str) {
    for bad in ["panicked", "stack backtrace", "RUST_BACKTRACE"] {
        assert!(!err.contains(bad), "stderr mentions {bad:?}:\n{err}");
    }
}

/// The run failed with exactly one `lore: error:` line and exit `code`.
fn assert_one_error_line(out: &std::process::Output, code: i32) -> String {
    let err = stderr_of(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert_no_panic(&err);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr:\n{err}");
    assert!(lines[0].starts_with("lore: error: "), "{err}");
    err
}

#[test]
fn sessions_list_shows_the_good_ones_and_warns_once_per_damaged_file() {
    let env = env_with_damaged_sessions();
    for format in ["text", "json"] {
        let out = env
            .bare()
            .args(["sessions", "list", "-f", format])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert!(out.status.success(), "{err}");
        assert_no_panic(&err);
        let text = stdout_of(&out);
        let ids: Vec<String> = if format == "json" {
            let list: serde_json::Value = serde_json::from_str(&text).unwrap();
            list.as_array()
                .unwrap()
                .iter()
                .map(|s| s["id"].as_str().unwrap().to_string())
                .collect()
        } else {
            text.lines()
                .skip(1)
                .filter_map(|l| l.split_whitespace().next())
                .map(String::from)
                .collect()
        };
        assert_eq!(ids, [GOOD_NEW, GOOD_OLD], "{text}");
        let warnings: Vec<&str> = err.lines().collect();
        let damaged = damaged_sessions();
        assert_eq!(warnings.len(), damaged.len(), "{err}");
        for (id, _) in &damaged {
            let named: Vec<&&str> = warnings
                .iter()
                .filter(|w| w.contains(&format!("{id}.json")))
                .collect();
            assert_eq!(named.len(), 1, "one warning for {id}:\n{err}");
            assert!(named[0].starts_with("lore: warning: skipped"), "{err}");
        }
    }
}

#[test]
fn naming_a_damaged_session_is_one_error_line_and_exit_2() {
    let env = env_with_damaged_sessions();
    for (id, _) in damaged_sessions() {
        let out_file = env.path(&format!("work/{id}.md"));
        let runs: [&[&str]; 3] = [
            &["sessions", "show", id],
            &["sessions", "export", id, "-f", "json"],
            &["sessions", "export", id, "-o", out_file.to_str().unwrap()],
        ];
        for args in runs {
            let out = env
                .bare()
                .args(args)
                .timeout(Duration::from_secs(60))
                .output()
                .unwrap();
            let err = assert_one_error_line(&out, 2);
            assert!(err.contains(&format!("{id}.json")), "names the file: {err}");
            assert!(out.stdout.is_empty(), "{args:?}: {}", stdout_of(&out));
        }
        assert!(!out_file.exists(), "no partial export of {id}");
        // What to do about it works: the damaged file can be removed.
        let out = env
            .bare()
            .args(["sessions", "rm", id])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        assert!(out.status.success(), "rm {id}: {}", stderr_of(&out));
        assert!(!sessions_dir(&env).join(format!("{id}.json")).exists());
    }
    // With the damaged files gone, nothing is left to warn about.
    let out = env.bare().args(["sessions", "list"]).output().unwrap();
    assert!(out.status.success());
    assert_eq!(stderr_of(&out), "");
}

fn ticket_json(id: &str, updated: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "time": "2026-11-23T20:56:12+01:00",
        "updated": updated,
        "status": "closed",
        "intent": "returns",
        "sentiment_trend": ["neutral"],
        "summary": "1 customer turn(s) about returns; 1 answered from the help centre, 0 not found.",
        "customer_needs": "How long do I have to return an item?",
        "answered": [],
        "open_questions": [],
        "transcript": [
            {"role": "agent", "text": "Hi!"},
            {"role": "customer", "text": "How long do I have to return an item?"}
        ]
    })
}

#[test]
fn support_tickets_lists_the_good_ones_and_warns_once_per_damaged_file() {
    let env = TestEnv::new();
    let dir = tickets_dir(&env);
    let old = ("T-20261123-205612-3fa2", "2026-11-23T21:00:00+01:00");
    let new = ("T-20261124-080000-0001", "2026-11-24T08:00:00+01:00");
    for (id, updated) in [old, new] {
        let json = serde_json::to_string_pretty(&ticket_json(id, updated)).unwrap();
        write_bytes(&dir.join(format!("{id}.json")), json.as_bytes());
    }
    let whole = ticket_json("T-torn", "2026-11-25T08:00:00+01:00").to_string();
    let damaged: [(&str, &[u8]); 4] = [
        ("T-torn", &whole.as_bytes()[..whole.len() / 2]),
        ("T-empty", b""),
        ("T-binary", b"\xff\xfe\x00garbage"),
        ("T-shape", b"{\"id\": 5}"),
    ];
    for (id, bytes) in damaged {
        write_bytes(&dir.join(format!("{id}.json")), bytes);
    }
    // What a save killed mid-way leaves: a hidden temporary file, ignored.
    write_bytes(&dir.join(".T-x.json.tmp"), &whole.as_bytes()[..10]);
    for format in ["text", "json"] {
        let out = env
            .bare()
            .args(["support", "tickets", "-f", format])
            .timeout(Duration::from_secs(60))
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert!(out.status.success(), "{err}");
        assert_no_panic(&err);
        let text = stdout_of(&out);
        let ids: Vec<String> = if format == "json" {
            let list: serde_json::Value = serde_json::from_str(&text).unwrap();
            list.as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_string())
                .collect()
        } else {
            text.lines()
                .filter_map(|l| l.split_whitespace().next())
                .map(String::from)
                .collect()
        };
        assert_eq!(ids, [new.0, old.0], "{text}");
        let warnings: Vec<&str> = err.lines().collect();
        assert_eq!(warnings.len(), damaged.len(), "{err}");
        for (id, _) in damaged {
            let named: Vec<&&str> = warnings
                .iter()
                .filter(|w| w.contains(&format!("{id}.json")))
                .collect();
            assert_eq!(named.len(), 1, "one warning for {id}:\n{err}");
            assert!(named[0].starts_with("lore: warning: skipped"), "{err}");
        }
    }
}

#[test]
fn support_tickets_with_an_unreadable_directory_says_so() {
    let env = TestEnv::new();
    // A file where the directory should be.
    let file = env.write("work/not-a-dir", "x");
    let out = env
        .bare()
        .env("LORE_SUPPORT__TICKETS_DIR", &file)
        .args(["support", "tickets"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert_no_panic(&err);
    assert!(
        err.lines().any(
            |l| l.starts_with("lore: warning: cannot read the tickets directory")
                && l.contains("not-a-dir")
        ),
        "{err}"
    );
}

/// A session whose every message is `letter` repeated, so a mix of two
/// versions shows as two letters.
fn version(id: &str, letter: char, messages: usize) -> Session {
    Session {
        id: id.to_string(),
        title: letter.to_string(),
        messages: (0..messages)
            .map(|i| {
                let role = if i % 2 == 0 {
                    Role::User
                } else {
                    Role::Assistant
                };
                SessionMessage::new(role, letter.to_string().repeat(200 + i))
            })
            .collect(),
        ..Session::default()
    }
}

/// Which version `s` is, or a description of the damage.
fn which_version(s: &Session) -> Result<char, String> {
    let letters: std::collections::BTreeSet<char> =
        s.messages.iter().flat_map(|m| m.content.chars()).collect();
    match (letters.len(), s.title.chars().next()) {
        (1, Some(t)) if letters.contains(&t) => Ok(t),
        _ => Err(format!(
            "a mix: title {:?}, letters {letters:?}, {} messages",
            s.title,
            s.messages.len()
        )),
    }
}

#[test]
fn two_threads_saving_one_session_leave_one_whole_version() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::new(tmp.path().join("sessions"));
    let id = "20261123-205612-beef";
    store.save(&mut version(id, 'a', 40)).unwrap();
    let rounds = 150;
    let done = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for (letter, count) in [('a', 40), ('b', 41)] {
            let (store, done) = (&store, &done);
            scope.spawn(move || {
                for _ in 0..rounds {
                    store.save(&mut version(id, letter, count)).unwrap();
                }
                done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            });
        }
        // A reader all the while: every load is whole and one version.
        let mut loads = 0;
        while done.load(std::sync::atomic::Ordering::SeqCst) < 2 {
            let s = store.load(id).expect("every read is a whole session");
            which_version(&s).unwrap();
            loads += 1;
        }
        assert!(loads > 0);
    });
    let s = store.load(id).unwrap();
    let v = which_version(&s).unwrap();
    assert_eq!(s.messages.len(), if v == 'a' { 40 } else { 41 });
    let names: Vec<String> = std::fs::read_dir(store.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, [format!("{id}.json")], "no temporary file is left");
}

#[test]
fn two_processes_writing_one_file_leave_one_whole_version() {
    let env = TestEnv::new();
    let dir = sessions_dir(&env);
    let (a, b) = ("20261123-100000-aaaa", "20261123-100000-bbbb");
    for (id, letter) in [(a, 'a'), (b, 'b')] {
        let mut json = serde_json::to_value(version(id, letter, 30)).unwrap();
        json["updated"] = "2026-11-23T10:00:00+00:00".into();
        write_bytes(
            &dir.join(format!("{id}.json")),
            serde_json::to_string_pretty(&json).unwrap().as_bytes(),
        );
    }
    let expected: Vec<Vec<u8>> = [a, b]
        .iter()
        .map(|id| {
            let out = env
                .bare()
                .args(["sessions", "export", id, "-f", "json"])
                .timeout(Duration::from_secs(60))
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", stderr_of(&out));
            out.stdout
        })
        .collect();
    // Two lore processes export to the same file, ten times each, while
    // this thread reads it.
    let target = env.path("work/out.json");
    let lore = assert_cmd::cargo::cargo_bin("lore");
    let template = env.lore_std();
    let mut writers: Vec<std::process::Child> = [a, b]
        .iter()
        .map(|id| {
            let script = format!(
                "for i in 1 2 3 4 5 6 7 8 9 10; do '{}' sessions export {id} -f json -o '{}' || exit 1; done",
                lore.display(),
                target.display()
            );
            let mut cmd = std::process::Command::new("timeout");
            cmd.args(["120", "sh", "-c", &script]);
            for (k, v) in template.get_envs() {
                match v {
                    Some(v) => cmd.env(k, v),
                    None => cmd.env_remove(k),
                };
            }
            cmd.current_dir(env.work())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut reads = 0;
    loop {
        let running = writers
            .iter_mut()
            .map(|c| c.try_wait().unwrap().is_none())
            .filter(|&alive| alive)
            .count();
        if let Ok(bytes) = std::fs::read(&target) {
            assert!(
                expected.contains(&bytes),
                "read {} bytes that are neither version",
                bytes.len()
            );
            reads += 1;
        }
        if running == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    for mut w in writers {
        assert!(w.wait().unwrap().success(), "a writer failed");
    }
    assert!(reads > 0);
    assert!(expected.contains(&std::fs::read(&target).unwrap()));
    let leftovers: Vec<String> = std::fs::read_dir(env.work())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "out.json")
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

/// Every `*.json` ticket in `dir` parses as a whole ticket; returns how
/// many there are and how many hidden temporary files a kill left.
fn check_tickets(dir: &Path) -> (usize, usize) {
    let (mut tickets, mut temporary) = (0, 0);
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            temporary += 1;
            continue;
        }
        assert!(name.ends_with(".json"), "{name}");
        let bytes = std::fs::read(e.path()).unwrap();
        let ticket: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|err| {
            panic!(
                "{name} is not whole JSON after a kill ({err}); {} bytes",
                bytes.len()
            )
        });
        assert_eq!(
            ticket["id"].as_str().map(|id| format!("{id}.json")),
            Some(name.clone())
        );
        assert!(ticket["transcript"].is_array(), "{name}");
        tickets += 1;
    }
    (tickets, temporary)
}

/// Tickets (not temporary files) in `dir`.
fn count_tickets(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn sigkill_during_a_support_script_leaves_whole_tickets() {
    let env = TestEnv::new();
    // Turns that find nothing call no model, so turns (each rewriting the
    // ticket, which grows with the transcript) follow each other quickly;
    // the hand-over rules are pushed out of reach so the dialogue runs on.
    let script = "zqxv wrbl plonk\n".repeat(2000);
    let script_path = env.write("work/dialogue.txt", &script);
    let dir = tickets_dir(&env);
    // Each run loads the model (support --script does, up front), so three.
    let delays_ms = [0u64, 50, 250];
    for (run, delay) in delays_ms.iter().enumerate() {
        let mut child = env
            .lore_std()
            .args(["support", "--script"])
            .arg(&script_path)
            .args(["-n", "4", "-t", "0"])
            .env("LORE_SUPPORT__HANDOVER_NOT_FOUND_TURNS", "100000")
            .env("LORE_SUPPORT__HANDOVER_NEGATIVE_TURNS", "100000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // This run's ticket exists once its first turn is done (the first
        // run also indexes the sample knowledge base).
        let deadline = Instant::now() + Duration::from_secs(180);
        while count_tickets(&dir) <= run {
            if Instant::now() > deadline || child.try_wait().unwrap().is_some() {
                let _ = child.kill();
                let _ = child.wait();
                panic!("run {run}: no ticket appeared in {}", dir.display());
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // A moment that differs from run to run.
        let jitter = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos() as u64
            % 20;
        std::thread::sleep(Duration::from_millis(delay + jitter));
        let still_running = child.try_wait().unwrap().is_none();
        child.kill().unwrap(); // SIGKILL: no handler, no clean-up
        child.wait().unwrap();
        let (tickets, temporary) = check_tickets(&dir);
        eprintln!(
            "run {run}: killed after {} ms (still running: {still_running}); {tickets} whole tickets, {temporary} temporary files",
            delay + jitter
        );
        assert_eq!(tickets, run + 1, "one ticket per run");
    }
    // Whatever the kills left, the listing has every ticket and no warning.
    let out = env
        .bare()
        .args(["support", "tickets", "-f", "json"])
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("warning"), "{err}");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), delays_ms.len());
}
