//! `lore eval retrieval` on a tiny fixture with known answers, and on the
//! shared development set when it is present.

mod common;

use std::path::PathBuf;

use common::{stderr_of, TestEnv};

fn eval(env: &TestEnv, dir: &std::path::Path, extra: &[&str]) -> serde_json::Value {
    let out = env
        .bare()
        .args(["eval", "retrieval", "--format", "json", "--corpus"])
        .arg(dir.join("corpus.jsonl"))
        .arg("--queries")
        .arg(dir.join("queries.jsonl"))
        .arg("--qrels")
        .arg(dir.join("qrels.tsv"))
        .args(extra)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn metrics_on_a_fixture_with_known_answers() {
    let env = TestEnv::new();
    env.write(
        "set/corpus.jsonl",
        "{\"_id\": \"d1\", \"title\": \"Cats\", \"text\": \"Cats purr when they are content.\"}\n\
         {\"_id\": \"d2\", \"title\": \"Dogs\", \"text\": \"Dogs bark at the mail carrier.\"}\n\
         {\"_id\": \"d3\", \"title\": \"Birds\", \"text\": \"Birds migrate south for the winter.\"}\n",
    );
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
