//! The grounding rules end to end on the sample knowledge base: the
//! not-found rule on the calibration sets in `tests/grounding/`, and the
//! support check on real answers.

mod common;

use common::{stderr_of, TestEnv};

fn set(name: &str) -> String {
    format!("{}/tests/grounding/{name}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn the_not_found_rule_refuses_off_topic_questions_and_keeps_on_topic_ones() {
    let env = TestEnv::new();
    // Retrieval only: no model is needed (none is installed here).
    let out = env
        .bare()
        .env("LORE_MODELS_DIR", env.path("no-models"))
        .args(["eval", "grounding", "--format", "json", "--on"])
        .arg(set("on-topic.tsv"))
        .arg("--off")
        .arg(set("off-topic.tsv"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["on_topic"].as_u64().unwrap() >= 60, "{v}");
    assert!(v["off_topic"].as_u64().unwrap() >= 100, "{v}");
    let rate = |rule: &str, key: &str| v[rule][key].as_f64().unwrap();
    // Measured with the Chinese articles in the knowledge base: 0.108
    // overall, 0.06 of the Chinese questions (3 of 50 near misses such as
    // 你们有会员积分吗？, which shares 会员 with the membership article).
    assert!(rate("configured", "false_found") <= 0.11, "{v}");
    assert!(rate("configured", "false_found_zh") <= 0.06, "{v}");
    assert!(rate("configured", "miss") <= 0.05, "{v}");
    assert!(rate("configured", "article_found") >= 0.9, "{v}");
    // The score threshold alone lets far more through.
    assert!(rate("score_only", "false_found") >= 2.0 * rate("configured", "false_found"));
}

#[test]
fn the_tungsten_question_is_not_found_without_loading_a_model() {
    let env = TestEnv::new();
    let out = env
        .bare()
        .env("LORE_MODELS_DIR", env.path("no-models"))
        .args(["ask", "--format", "json"])
        .arg("What is the boiling point of liquid tungsten on Neptune?")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["found"], false, "{v}");
    assert_eq!(v["passages"].as_array().unwrap().len(), 0);
}

#[test]
fn a_bitcoin_answer_is_refused_or_marked_unsupported() {
    let env = TestEnv::new();
    let q = "Can I pay with bitcoin?";
    let out = env
        .lore()
        .args(["ask", "-t", "0", "-n", "24", q])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let (text, err) = (String::from_utf8_lossy(&out.stdout), stderr_of(&out));
    let refused = text.starts_with("I could not find an answer");
    assert!(
        refused || err.contains("(not supported by the sources: "),
        "neither refused nor marked:\n{text}\n{err}"
    );

    // Strict: an answer is found only when its passages support it.
    let out = env
        .lore()
        .args([
            "ask", "--strict", "-t", "0", "-n", "24", "--format", "json", q,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["found"] == false || v["supported"] == true, "{v}");
    if v["found"] == false && v["withheld"].is_string() {
        assert_eq!(
            v["answer"],
            "I could not find an answer to that in the knowledge base."
        );
        assert!(v["citations"].as_array().unwrap().is_empty());
    }
}

#[test]
fn a_found_answer_reports_its_support_per_sentence() {
    let env = TestEnv::new();
    // On the default model, which answers this one from the table.
    let out = env
        .lore_default()
        .args(["ask", "-t", "0", "-n", "32", "--format", "json"])
        .arg("How much does express shipping cost?")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["found"], true, "{v}");
    assert!(v["supported"].is_boolean());
    let sentences = v["support"].as_array().expect("support array");
    assert!(!sentences.is_empty(), "{v}");
    for s in sentences {
        let verdict = s["verdict"].as_str().unwrap();
        assert!(
            ["supported", "unsupported", "neutral"].contains(&verdict),
            "{s}"
        );
        assert_eq!(s["passage"].is_u64(), verdict == "supported", "{s}");
    }
    // The answer quotes the express price, which the article holds.
    assert!(v["answer"].as_str().unwrap().contains("9.95"), "{v}");
    assert!(
        sentences
            .iter()
            .any(|s| s["text"].as_str().unwrap().contains("9.95") && s["verdict"] == "supported"),
        "{v}"
    );
}
