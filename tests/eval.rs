//! `lore eval retrieval` on a tiny fixture with known answers, and on the
//! shared development set when it is present; `lore eval qa`; `lore eval
//! agent` on bad input and on the fixture workspace.

mod common;

use std::path::PathBuf;

use common::{stderr_of, TestEnv};

/// `lore eval retrieval` on the BEIR files in `dir`.
fn retrieval(
    mut cmd: assert_cmd::Command,
    dir: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    cmd.args(["eval", "retrieval", "--corpus"])
        .arg(dir.join("corpus.jsonl"))
        .arg("--queries")
        .arg(dir.join("queries.jsonl"))
        .arg("--qrels")
        .arg(dir.join("qrels.tsv"))
        .args(extra)
        .output()
        .unwrap()
}

fn eval(env: &TestEnv, dir: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let out = retrieval(env.bare(), dir, &[&["--format", "json"], extra].concat());
    assert!(out.status.success(), "{}", stderr_of(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Three one-line articles in `set/corpus.jsonl`.
fn animals(env: &TestEnv) {
    env.write(
        "set/corpus.jsonl",
        "{\"_id\": \"d1\", \"title\": \"Cats\", \"text\": \"Cats purr when they are content.\"}\n\
         {\"_id\": \"d2\", \"title\": \"Dogs\", \"text\": \"Dogs bark at the mail carrier.\"}\n\
         {\"_id\": \"d3\", \"title\": \"Birds\", \"text\": \"Birds migrate south for the winter.\"}\n",
    );
}

#[test]
fn metrics_on_a_fixture_with_known_answers() {
    let env = TestEnv::new();
    animals(&env);
    env.write(
        "set/queries.jsonl",
        "{\"_id\": \"q1\", \"text\": \"Why do cats purr?\"}\n\
         {\"_id\": \"q2\", \"text\": \"Where do birds go in winter?\"}\n\
         {\"_id\": \"q3\", \"text\": \"zebra stripes\"}\n\
         {\"_id\": \"q4\", \"text\": \"no judgement for this one\"}\n",
    );
    env.write(
        "set/qrels.tsv",
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\nq3\td2\t1\n",
    );
    let r = eval(&env, &env.path("set"), &[]);
    assert_eq!(r["queries"], 3, "queries without judgements are not scored");
    let close = |k: &str, v: f64| assert!((r[k].as_f64().unwrap() - v).abs() < 1e-9, "{k}: {r}");
    // q1 and q2 are found first; q3 matches nothing.
    close("recall_at_1", 2.0 / 3.0);
    close("recall_at_10", 2.0 / 3.0);
    close("mrr_at_10", 2.0 / 3.0);
    close("ndcg_at_10", 2.0 / 3.0);
}

#[test]
fn modes_are_reported_side_by_side() {
    let env = TestEnv::new();
    animals(&env);
    env.write(
        "set/queries.jsonl",
        "{\"_id\": \"q1\", \"text\": \"Why do cats purr?\"}\n\
         {\"_id\": \"q2\", \"text\": \"which animal flies to warmer places when it gets cold\"}\n",
    );
    env.write(
        "set/qrels.tsv",
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\n",
    );
    let dir = env.path("set");
    let run = |extra: &[&str]| retrieval(env.lore(), &dir, extra);
    let out = run(&[
        "--mode",
        "all",
        "--dense-weights",
        "0.5",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let modes = r["modes"].as_array().unwrap();
    let names: Vec<&str> = modes.iter().map(|m| m["mode"].as_str().unwrap()).collect();
    assert_eq!(names, ["lexical", "dense", "hybrid", "hybrid"], "{r}");
    assert_eq!(modes[3]["dense_weight"], 0.5);
    assert_eq!(modes[3]["fusion"], "convex");
    assert!(modes[0].get("dense_weight").is_none());
    // The paraphrase shares no word with its article: only vectors find it.
    assert_eq!(modes[1]["recall_at_1"], 1.0, "{r}");
    assert!(modes[0]["recall_at_1"].as_f64().unwrap() < 1.0, "{r}");
    assert!(modes[1]["embedded_per_second"].as_f64().unwrap() > 0.0);

    let out = run(&["--mode", "lexical,dense"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.lines().next().unwrap().contains("lexical"), "{table}");
    assert!(table.lines().next().unwrap().contains("dense"), "{table}");
    assert!(table.contains("embedding"), "{table}");

    for bad in [
        &["--mode", "sideways"][..],
        &["--dense-weights", "-1"][..],
        &["--mode", "auto"][..],
    ] {
        let out = run(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {}", stderr_of(&out));
    }
}

#[test]
fn bad_qrels_is_a_clear_error() {
    let env = TestEnv::new();
    env.write("set/corpus.jsonl", "{\"_id\": \"d1\", \"text\": \"x\"}\n");
    env.write("set/queries.jsonl", "{\"_id\": \"q1\", \"text\": \"x\"}\n");
    env.write("set/qrels.tsv", "query-id\tcorpus-id\tscore\nq1 d1\n");
    let out = env
        .bare()
        .args([
            "eval",
            "retrieval",
            "--corpus",
            "../set/corpus.jsonl",
            "--queries",
            "../set/queries.jsonl",
            "--qrels",
            "../set/qrels.tsv",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("qrels.tsv: line 2"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn squad_nyt_beats_the_bm25_reference() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/squad_nyt");
    if !dir.join("corpus.jsonl").exists() {
        eprintln!(
            "skipping: {} is absent (development data lives beside the repository)",
            dir.display()
        );
        return;
    }
    let env = TestEnv::new();
    let r = eval(&env, &dir, &[]);
    // Reference from shared/data/README.md: Lucene-style BM25.
    assert!(r["recall_at_5"].as_f64().unwrap() >= 0.888, "{r}");
    assert!(r["ndcg_at_10"].as_f64().unwrap() >= 0.836, "{r}");
    assert!(r["recall_at_1"].as_f64().unwrap() >= 0.750, "{r}");
}

#[test]
fn qa_scores_answers_retrieval_and_citations() {
    let env = TestEnv::new();
    env.write(
        "qa/corpus.jsonl",
        "{\"_id\": \"d1\", \"title\": \"France\", \"text\": \"The capital of France is Paris. Paris lies on the Seine.\"}\n\
         {\"_id\": \"d2\", \"title\": \"Dogs\", \"text\": \"Dogs bark at the mail carrier every morning.\"}\n",
    );
    env.write(
        "qa/queries.jsonl",
        "{\"_id\": \"q1\", \"text\": \"What is the capital of France?\", \"answers\": [\"Paris\"]}\n\
         {\"_id\": \"q2\", \"text\": \"Who do dogs bark at?\", \"answers\": {\"text\": [\"the mail carrier\"]}}\n\
         {\"_id\": \"q3\", \"text\": \"zebra stripes\", \"answers\": [\"none\"]}\n",
    );
    let out = env
        .lore()
        .env("LORE_RETRIEVAL__MIN_SCORE", "0.1")
        .args(["eval", "qa", "-n", "16", "-f", "json", "--corpus"])
        .arg(env.path("qa/corpus.jsonl"))
        .arg("--queries")
        .arg(env.path("qa/queries.jsonl"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["queries"], 3);
    let get = |k: &str| r[k].as_f64().unwrap();
    // Without qrels a hit is a passage holding a gold answer: q1 and q2.
    assert!((get("retrieval_hit_rate") - 2.0 / 3.0).abs() < 1e-9, "{r}");
    // Not found: q3 retrieves nothing; an answer its passages do not back
    // counts too (the support check).
    assert!(get("not_found_rate") >= 1.0 / 3.0 - 1e-9, "{r}");
    // Greedy SmolLM2 names Paris from the passage.
    assert!(get("answer_contains_gold") >= 1.0 / 3.0, "{r}");
    for k in [
        "exact_match",
        "token_f1",
        "valid_citations",
        "citation_precision",
        "unsupported_rate",
        "chosen_citations",
    ] {
        assert!((0.0..=1.0).contains(&get(k)), "{k}: {r}");
    }
    assert!(get("mean_ttft_s") > 0.0);

    let bad = env
        .bare()
        .args(["eval", "qa", "--corpus"])
        .arg(env.path("qa/corpus.jsonl"))
        .arg("--queries")
        .arg(env.write("qa/noanswers.jsonl", "{\"_id\": \"q1\", \"text\": \"x\"}\n"))
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr_of(&bad).contains("line 1: needs \"answers\""),
        "{}",
        stderr_of(&bad)
    );
}

/// The fixture workspace of `lore eval agent` and its tasks beside it.
fn agent_fixture() -> (PathBuf, PathBuf) {
    let eval = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("eval");
    (eval.join("agent-ws"), eval.join("agent-tasks.tsv"))
}

#[test]
fn eval_agent_refuses_bad_input_in_one_line_before_loading_a_model() {
    let env = TestEnv::new();
    env.write("ws/app.toml", "port = 8443\n");
    env.write("ws/answers.tsv", "port\tWhich port?\t8443\n");
    env.write(
        "bad-fields.tsv",
        "# id\trequest\tanswer\nport\tWhich port?\n",
    );
    env.write("bad-regex.tsv", "port\tWhich port?\t(8443\n");
    let ws = env.path("ws");
    let cases: Vec<(Vec<std::ffi::OsString>, &str)> = vec![
        (vec!["/no/such/ws".into()], "workspace /no/such/ws"),
        (
            vec![ws.clone().into()],
            "no such tasks file: ", // agent-tasks.tsv beside ws, absent
        ),
        (
            vec![
                ws.clone().into(),
                "--tasks".into(),
                env.path("ws/answers.tsv").into(),
            ],
            "is inside the workspace",
        ),
        (
            vec![
                ws.clone().into(),
                "--tasks".into(),
                env.path("bad-fields.tsv").into(),
            ],
            "bad-fields.tsv: line 2: expected 3 or 4 tab-separated fields",
        ),
        (
            vec![
                ws.clone().into(),
                "--tasks".into(),
                env.path("bad-regex.tsv").into(),
            ],
            "bad-regex.tsv: line 1: bad answer regex \"(8443\"",
        ),
        (
            vec![
                ws.clone().into(),
                "--tasks".into(),
                env.path("missing.tsv").into(),
            ],
            "no such tasks file",
        ),
    ];
    for (args, expected) in cases {
        // No models directory: a model load would fail with exit 3.
        let out = env
            .bare()
            .args(["eval", "agent"])
            .args(&args)
            .output()
            .unwrap();
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
    let ok = env.write("ok.tsv", "port\tWhich port?\t8443\n");
    let out = env
        .bare()
        .args(["eval", "agent", "--limit", "0", "--tasks"])
        .arg(ok)
        .arg(&ws)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(
        stderr_of(&out).contains("no tasks to run"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn eval_agent_reports_tasks_as_they_end_then_totals_with_valid_calls() {
    let env = TestEnv::new();
    let (ws, tasks) = agent_fixture();
    assert!(
        tasks.is_file(),
        "the default tasks file sits beside the workspace"
    );
    let out = env
        .lore()
        .args([
            "eval",
            "agent",
            "--limit",
            "2",
            "--max-steps",
            "2",
            "-f",
            "jsonl",
        ])
        .arg(&ws)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let lines: Vec<serde_json::Value> = common::stdout_of(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    assert_eq!(lines.len(), 3, "two tasks, then the totals: {lines:?}");
    for (task, id) in lines.iter().zip(["retries", "timeout"]) {
        assert_eq!(task["type"], "task");
        assert_eq!(task["id"], id);
        assert!(task["steps"].as_u64().unwrap() <= 2, "{task}");
        for k in [
            "success",
            "stop",
            "calls",
            "prompt_tokens",
            "completion_tokens",
            "seconds",
        ] {
            assert!(!task[k].is_null(), "{k}: {task}");
        }
    }
    let totals = &lines[2];
    assert_eq!(totals["type"], "totals");
    assert_eq!(totals["tasks"], 2);
    assert_eq!(totals["max_steps"], 2);
    assert_eq!(totals["tool_format"], "constrained");
    for k in [
        "success_rate",
        "mean_steps",
        "loop_stops",
        "step_limit_stops",
        "mean_tokens",
        "wall_s",
        "model",
    ] {
        assert!(!totals[k].is_null(), "{k}: {totals}");
    }
    assert!(totals["mean_tokens"].as_f64().unwrap() > 0.0, "{totals}");
    // Constrained steps always parse: no call is invalid.
    assert!(totals["calls"].as_u64().unwrap() > 0, "{totals}");
    assert_eq!(totals["call_validity"], 1.0, "{totals}");
    let paths = &totals["existing_path_rate"];
    assert!(
        paths.is_null() || (0.0..=1.0).contains(&paths.as_f64().unwrap()),
        "{totals}"
    );
}
