//! `lore agent` end to end on the machinery model, offline: the event
//! stream, exit codes and confinement of what a real model's calls reach.

mod common;

use common::{stderr_of, stdout_of, TestEnv};

fn workspace(env: &TestEnv) -> std::path::PathBuf {
    env.write(
        "ws/config.toml",
        "[client]\nmax_retries = 5\ntimeout_s = 30\n",
    );
    env.write(
        "ws/src/dates.py",
        "def parse_date(text):\n    return text.split('-')\n",
    );
    env.write("ws/README.md", "# Demo\nA tiny project for agent tests.\n");
    env.path("ws")
}

#[test]
fn an_empty_request_is_a_usage_error() {
    let env = TestEnv::new();
    let out = env
        .lore()
        .args(["agent"])
        .write_stdin("  \n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("nothing to do"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn a_missing_workspace_is_a_usage_error() {
    let env = TestEnv::new();
    let out = env
        .lore()
        .args(["agent", "--cd", "/no/such/dir", "hello"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("workspace /no/such/dir"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn json_events_run_from_turn_started_to_turn_completed_with_real_paths() {
    let env = TestEnv::new();
    let ws = workspace(&env);
    let out = env
        .lore()
        .args(["agent", "-f", "json", "-t", "0", "--max-steps", "3", "--cd"])
        .arg(&ws)
        .arg("What is max_retries in config.toml?")
        .output()
        .unwrap();
    let stdout = stdout_of(&out);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(events.first().unwrap()["type"], "turn.started", "{stdout}");
    let last = events.last().unwrap();
    assert_eq!(last["type"], "turn.completed", "{stdout}");
    let code = match last["stop"].as_str().unwrap() {
        "answered" => 0,
        "step_limit" => 6,
        "loop_detected" => 7,
        other => panic!("stop {other}: {}", stderr_of(&out)),
    };
    assert_eq!(out.status.code(), Some(code), "{}", stderr_of(&out));
    assert!(last["steps"].as_u64().unwrap() <= 3);
    for e in events.iter().filter(|e| e["type"] == "tool.started") {
        assert_eq!(e["risk"], "read");
        if let Some(path) = e["args"]["path"].as_str() {
            if e["tool"] == "read" {
                assert!(ws.join(path).is_file(), "a made-up path: {path}");
            }
        }
    }
    let started = events
        .iter()
        .filter(|e| e["type"] == "tool.started")
        .count();
    let completed = events
        .iter()
        .filter(|e| e["type"] == "tool.completed")
        .count();
    assert_eq!(started, completed, "{stdout}");
}

#[test]
fn text_output_is_plain_and_progress_names_the_workspace() {
    let env = TestEnv::new();
    let ws = workspace(&env);
    let out = env
        .lore()
        .args(["agent", "-t", "0", "--max-steps", "2", "--cd"])
        .arg(&ws)
        .write_stdin("Which file defines parse_date?")
        .output()
        .unwrap();
    let stderr = stderr_of(&out);
    assert!(
        stderr.contains(&format!(
            "agent in {} (read-only mode, 2 steps at most, constrained tool calls)",
            ws.canonicalize().unwrap().display()
        )),
        "{stderr}"
    );
    assert!(matches!(out.status.code(), Some(0 | 6 | 7)), "{stderr}");
    assert!(!stdout_of(&out).contains('\x1b'));
    if out.status.code() == Some(6) {
        assert!(stderr.contains("step limit (2) reached"), "{stderr}");
    }
}

#[test]
fn a_session_is_logged_and_resumes_as_the_next_turn() {
    let env = TestEnv::new();
    let ws = workspace(&env);
    let run = |extra: &[&str], request: &str| {
        env.lore()
            .args(["agent", "-f", "json", "-t", "0", "--max-steps", "1", "--cd"])
            .arg(&ws)
            .args(extra)
            .arg(request)
            .output()
            .unwrap()
    };
    let first = run(&[], "Which file defines parse_date?");
    assert!(
        stderr_of(&first).contains("lore: agent session "),
        "{}",
        stderr_of(&first)
    );
    let logs: Vec<_> = std::fs::read_dir(env.path("data/lore/sessions/agent"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(logs.len(), 1);
    let log = std::fs::read_to_string(&logs[0]).unwrap();
    let meta: serde_json::Value = serde_json::from_str(log.lines().next().unwrap()).unwrap();
    assert_eq!(meta["type"], "session_meta");
    assert_eq!(meta["mode"], "read-only");
    assert_eq!(meta["tool_format"], "constrained");
    assert!(
        log.lines().nth(1).unwrap().contains("\"kind\":\"request\""),
        "{log}"
    );

    let second = run(&["--resume", "last"], "And where is main?");
    assert!(
        stderr_of(&second).contains("resuming agent session"),
        "{}",
        stderr_of(&second)
    );
    let started: serde_json::Value =
        serde_json::from_str(stdout_of(&second).lines().next().unwrap()).unwrap();
    assert_eq!(started["turn"], 2);
    let grown = std::fs::read_to_string(&logs[0]).unwrap();
    assert!(grown.lines().count() > log.lines().count());
    assert_eq!(
        std::fs::read_dir(env.path("data/lore/sessions/agent"))
            .unwrap()
            .count(),
        1
    );

    // The subcommand form, from elsewhere: the session keeps its workspace.
    let third = env
        .lore()
        .args([
            "agent",
            "resume",
            "--last",
            "-f",
            "json",
            "-t",
            "0",
            "--max-steps",
            "1",
        ])
        .arg("Which file is the README?")
        .current_dir(env.path("."))
        .output()
        .unwrap();
    let err = stderr_of(&third);
    assert!(err.contains(&format!("agent in {}", ws.display())), "{err}");
    let started: serde_json::Value =
        serde_json::from_str(stdout_of(&third).lines().next().unwrap()).unwrap();
    assert_eq!(started["turn"], 3, "{err}");
    let bare = env.lore().args(["agent", "resume"]).output().unwrap();
    assert_eq!(bare.status.code(), Some(2));
    assert!(
        stderr_of(&bare).contains("needs a session ID or --last"),
        "{}",
        stderr_of(&bare)
    );

    let missing = run(&["--resume", "nope"], "hi");
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr_of(&missing).contains("no agent session nope"),
        "{}",
        stderr_of(&missing)
    );
}

#[test]
fn native_tool_calls_need_a_template_that_renders_tools() {
    let env = TestEnv::new();
    let ws = workspace(&env);
    let out = env
        .lore()
        .args(["agent", "--format-tools", "native", "--cd"])
        .arg(&ws)
        .arg("hello")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    let err = stderr_of(&out);
    assert!(
        err.contains("agent.tool_format is native (flag --format-tools)"),
        "{err}"
    );
    assert!(err.contains("renders no tools"), "{err}");
}
