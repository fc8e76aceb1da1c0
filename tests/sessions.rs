//! `lore sessions`: list, show, export and rm on session files written
//! straight into the sessions directory of an isolated data home, chat
//! sessions and agent logs, and an agent session a real `lore agent` run
//! logged.

mod common;

use common::{stderr_of, stdout_of, TestEnv};

const ID: &str = "20261123-205612-3fa2";

/// Where `lore` looks for sessions in `env`: `$XDG_DATA_HOME/lore/sessions`.
fn session_file(id: &str) -> String {
    format!("data/lore/sessions/{id}.json")
}

fn session_json(id: &str, title: &str, updated: &str) -> serde_json::Value {
    serde_json::json!({
        "id": id,
        "title": title,
        "created": "2026-11-23T20:56:12+01:00",
        "updated": updated,
        "model": "SmolLM2-135M-Instruct.Q8_0.gguf",
        "mode": "ask",
        "index": "default",
        "system": "Be brief.",
        "messages": [
            {"role": "user", "content": "How do I reset the router?"},
            {
                "role": "assistant",
                "content": "Hold the reset button for ten seconds [1].",
                "sources": [{
                    "n": 1, "path": "kb/router.md", "lines": [3, 9],
                    "heading": "Resetting", "snippet": "Hold the button"
                }],
                "stats": {
                    "prompt_tokens": 120, "completion_tokens": 12,
                    "time_to_first_token_s": 0.25, "tokens_per_s": 40.0
                }
            },
            {"role": "user", "content": "And after that?"},
            {"role": "assistant", "content": "Wait for", "cancelled": true}
        ]
    })
}

/// An environment holding one saved session, [`ID`].
fn env_with_session() -> TestEnv {
    let env = TestEnv::new();
    let json = session_json(ID, "Router reset", "2026-11-23T21:00:00+01:00");
    env.write(
        &session_file(ID),
        &serde_json::to_string_pretty(&json).unwrap(),
    );
    env
}

#[test]
fn list_shows_a_saved_session_with_a_header() {
    let env = env_with_session();
    let out = env.bare().args(["sessions", "list"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("TITLE"),
        "{text}"
    );
    assert!(lines[1].starts_with(ID), "{text}");
    assert!(lines[1].contains("2026-11-23 21:00"), "{text}");
    assert!(lines[1].contains("4 msgs"), "{text}");
    assert!(lines[1].ends_with("Router reset"), "{text}");
}

#[test]
fn list_is_newest_first_and_warns_about_a_damaged_file() {
    let env = env_with_session();
    let newer = "20261124-080000-0001";
    let json = session_json(newer, "", "2026-11-24T08:00:00+01:00");
    env.write(&session_file(newer), &json.to_string());
    env.write(&session_file("20261120-000000-dead"), "{ truncated");
    let out = env.bare().args(["sessions", "list"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    let ids: Vec<&str> = text
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(ids, [newer, ID], "{text}");
    assert!(
        text.contains("How do I reset the router?"),
        "an untitled session shows its first question: {text}"
    );
    let err = stderr_of(&out);
    assert!(
        err.contains("lore: warning: skipped") && err.contains("20261120-000000-dead.json"),
        "{err}"
    );
}

#[test]
fn list_as_json_is_an_array_of_summaries() {
    let env = env_with_session();
    let out = env
        .bare()
        .args(["sessions", "list", "-f", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(
        v,
        serde_json::json!([{
            "id": ID,
            "title": "Router reset",
            "updated": "2026-11-23T21:00:00+01:00",
            "messages": 4,
            "model": "SmolLM2-135M-Instruct.Q8_0.gguf",
        }])
    );
    let out = env
        .bare()
        .args(["sessions", "list", "--format", "jsonl"])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    assert_eq!(text.lines().count(), 1, "{text}");
    let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    assert_eq!(line["id"], ID);
}

#[test]
fn list_with_no_sessions_succeeds_and_says_where_they_come_from() {
    let env = TestEnv::new();
    let out = env.bare().args(["sessions", "list"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "");
    assert!(
        stderr_of(&out).contains("no saved sessions"),
        "{}",
        stderr_of(&out)
    );
    let out = env
        .bare()
        .args(["sessions", "list", "-f", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(stdout_of(&out).trim(), "[]");
}

#[test]
fn show_prints_the_conversation_as_markdown() {
    let env = env_with_session();
    let out = env.bare().args(["sessions", "show", ID]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let md = stdout_of(&out);
    assert!(md.starts_with("# Router reset\n"), "{md}");
    for part in [
        &format!("- id: {ID}") as &str,
        "- model: SmolLM2-135M-Instruct.Q8_0.gguf",
        "- mode: ask",
        "## System\n\nBe brief.",
        "## You\n\nHow do I reset the router?",
        "## lore\n\nHold the reset button for ten seconds [1].",
        "- [1] kb/router.md:L3-L9 > Resetting",
        "Wait for\n\n*(cancelled)*",
    ] {
        assert!(md.contains(part), "missing {part:?} in:\n{md}");
    }
}

#[test]
fn a_unique_prefix_names_a_session() {
    let env = env_with_session();
    let out = env
        .bare()
        .args(["sessions", "show", "20261123-2056"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stdout_of(&out).starts_with("# Router reset"));
}

#[test]
fn export_json_round_trips_the_file() {
    let env = env_with_session();
    let out = env
        .bare()
        .args(["sessions", "export", ID, "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let exported: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    let original = session_json(ID, "Router reset", "2026-11-23T21:00:00+01:00");
    assert_eq!(exported, original);
}

#[test]
fn export_to_a_file_writes_it_and_nothing_on_stdout() {
    let env = env_with_session();
    let target = env.path("work/out/router.md");
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, "old contents").unwrap();
    let out = env
        .bare()
        .args(["sessions", "export", ID, "-o"])
        .arg(&target)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "");
    let md = std::fs::read_to_string(&target).unwrap();
    assert!(md.starts_with("# Router reset\n"), "{md}");
    let names: Vec<_> = std::fs::read_dir(target.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["router.md"], "no temporary file is left behind");

    let json_target = env.path("work/router.json");
    let out = env
        .bare()
        .args(["sessions", "export", ID, "-f", "json", "-o", "router.json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(json_target).unwrap()).unwrap();
    assert_eq!(v["messages"].as_array().unwrap().len(), 4);
}

#[test]
fn export_into_a_missing_directory_fails_naming_the_path() {
    let env = env_with_session();
    let out = env
        .bare()
        .args(["sessions", "export", ID, "-o", "no/such/dir/x.md"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr_of(&out);
    assert!(err.contains("no/such/dir/x.md"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn rm_deletes_the_session_and_a_second_rm_is_a_usage_error() {
    let env = env_with_session();
    let out = env.bare().args(["sessions", "rm", ID]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains(&format!("removed {ID}")),
        "{}",
        stderr_of(&out)
    );
    assert!(!env.path(&session_file(ID)).exists());

    let out = env.bare().args(["sessions", "rm", ID]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(ID) && err.contains("lore sessions list"),
        "{err}"
    );
}

#[test]
fn an_unknown_id_exits_2() {
    let env = env_with_session();
    for cmd in ["show", "export", "rm"] {
        let out = env
            .bare()
            .args(["sessions", cmd, "19990101"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd}: {}", stderr_of(&out));
        assert!(stderr_of(&out).contains("no saved session '19990101'"));
    }
    assert!(env.path(&session_file(ID)).exists());
}

#[test]
fn an_ambiguous_prefix_exits_2_listing_the_candidates() {
    let env = env_with_session();
    let other = "20261123-230000-beef";
    let json = session_json(other, "Other", "2026-11-23T23:00:00+01:00");
    env.write(&session_file(other), &json.to_string());
    let out = env
        .bare()
        .args(["sessions", "show", "20261123"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(err.contains(ID) && err.contains(other), "{err}");
}

#[test]
fn an_id_with_a_path_in_it_is_refused() {
    let env = env_with_session();
    env.write(
        "data/lore/secret.json",
        &session_json("x", "", "").to_string(),
    );
    for id in ["../secret", "/etc/passwd", "a.b"] {
        let out = env.bare().args(["sessions", "show", id]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{id}");
        assert!(stderr_of(&out).contains("invalid session id"), "{id}");
        assert_eq!(stdout_of(&out), "");
    }
    let out = env
        .bare()
        .args(["sessions", "rm", "../secret"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(env.path("data/lore/secret.json").exists());
}

#[test]
fn the_sessions_dir_setting_is_honoured() {
    let env = TestEnv::new();
    let json = session_json(ID, "Elsewhere", "2026-11-23T21:00:00+01:00");
    env.write(&format!("work/kept/{ID}.json"), &json.to_string());
    let out = env
        .bare()
        .env("LORE_CHAT__SESSIONS_DIR", env.path("work/kept"))
        .args(["sessions", "list"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stdout_of(&out).contains("Elsewhere"), "{}", stdout_of(&out));
}

const AGENT_ID: &str = "20261202-101500-4242";

/// An agent session log as `lore agent` writes it, in `env`'s data home.
fn write_agent_log(env: &TestEnv, id: &str) {
    let lines = [
        serde_json::json!({
            "type": "session_meta", "id": id, "time": "2026-12-02T10:15:00+00:00",
            "root": "/work/ws", "model": "SmolLM2-135M-Instruct.Q8_0.gguf",
            "context": 8192, "tool_format": "constrained", "mode": "read-only",
            "lore_version": "0.1.0"
        }),
        serde_json::json!({"type": "item", "item": {"kind": "request", "content": "What is max_retries?"}}),
        serde_json::json!({"type": "item", "item": {"kind": "call", "content": "{\"tool\": \"read\", \"path\": \"config.toml\"}"}}),
        serde_json::json!({"type": "item", "item": {"kind": "result", "content": {
            "text": "Result of read(config.toml):\nL1: max_retries = 5",
            "summary": "read config.toml (1 lines)", "elided": false}}}),
        serde_json::json!({"type": "item", "item": {"kind": "answer", "content": "{\"tool\": \"answer\", \"text\": \"5\"}"}}),
        serde_json::json!({"type": "item", "item": {"kind": "request", "content": "And timeout_s?"}}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    env.write(&format!("data/lore/sessions/agent/{id}.jsonl"), &text);
}

#[test]
fn agent_sessions_follow_chat_sessions_in_their_own_table() {
    let env = env_with_session();
    write_agent_log(&env, AGENT_ID);
    env.write(
        "data/lore/sessions/agent/20261201-000000-1.jsonl",
        "not a log\n{}\n",
    );
    let out = env.bare().args(["sessions", "list"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[1].starts_with(ID),
        "the chat table is unchanged: {text}"
    );
    assert_eq!(lines[2], "", "{text}");
    assert!(
        lines[3].starts_with("ID") && lines[3].contains("KIND") && lines[3].contains("ROOT"),
        "{text}"
    );
    for part in [
        AGENT_ID,
        "2026-12-02 10:15",
        " agent ",
        "2 reqs",
        "SmolLM2-135M-Instruct.Q8_0.gguf",
        "/work/ws",
    ] {
        assert!(lines[4].contains(part), "{part:?} in {text}");
    }
    assert!(lines[4].ends_with("What is max_retries?"), "{text}");
    let err = stderr_of(&out);
    assert!(
        err.contains("lore: warning: skipped") && err.contains("20261201-000000-1.jsonl"),
        "{err}"
    );

    let out = env
        .bare()
        .args(["sessions", "list", "-f", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2, "{v}");
    assert!(
        v[0].get("kind").is_none(),
        "chat entries are unchanged: {v}"
    );
    assert_eq!(
        v[1],
        serde_json::json!({
            "kind": "agent", "id": AGENT_ID, "time": "2026-12-02T10:15:00+00:00",
            "root": "/work/ws", "model": "SmolLM2-135M-Instruct.Q8_0.gguf",
            "requests": 2, "first_request": "What is max_retries?"
        })
    );
}

#[test]
fn show_export_and_rm_take_an_agent_session_id() {
    let env = TestEnv::new();
    write_agent_log(&env, AGENT_ID);
    let out = env
        .bare()
        .args(["sessions", "show", "20261202-1015"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let md = stdout_of(&out);
    for part in [
        &format!("# Agent session {AGENT_ID}\n") as &str,
        "- workspace: /work/ws",
        "## You\n\nWhat is max_retries?",
        "## Result: read config.toml (1 lines)",
        "## lore\n\n5\n",
    ] {
        assert!(md.contains(part), "missing {part:?} in:\n{md}");
    }
    let out = env
        .bare()
        .args(["sessions", "export", AGENT_ID, "-f", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    assert_eq!(v["meta"]["id"], AGENT_ID);
    assert_eq!(v["items"].as_array().unwrap().len(), 5);

    let out = env
        .bare()
        .args(["sessions", "rm", AGENT_ID])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains(&format!("removed {AGENT_ID}")));
    assert!(!env
        .path(&format!("data/lore/sessions/agent/{AGENT_ID}.jsonl"))
        .exists());
    let out = env
        .bare()
        .args(["sessions", "show", AGENT_ID])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("no saved session"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn a_real_agent_run_is_listed_as_an_agent_session() {
    let env = TestEnv::new();
    env.write("ws/config.toml", "[client]\nmax_retries = 5\n");
    env.write("ws/README.md", "# Demo\n");
    let ws = env.path("ws");
    let out = env
        .lore()
        .args(["agent", "-t", "0", "--max-steps", "1", "--cd"])
        .arg(&ws)
        .arg("What is max_retries in config.toml?")
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 6)),
        "{}",
        stderr_of(&out)
    );
    let out = env
        .bare()
        .args(["sessions", "list", "-f", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout_of(&out)).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 1, "{v}");
    let s = &list[0];
    assert_eq!(s["kind"], "agent");
    assert_eq!(s["root"], ws.canonicalize().unwrap().display().to_string());
    assert_eq!(s["requests"], 1);
    assert_eq!(s["first_request"], "What is max_retries in config.toml?");
    assert!(s["model"].as_str().unwrap().contains("SmolLM2"), "{s}");
    let text = stdout_of(&env.bare().args(["sessions", "list"]).output().unwrap());
    assert!(
        text.contains(s["id"].as_str().unwrap()) && text.contains(" agent "),
        "{text}"
    );
}
