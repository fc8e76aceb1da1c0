//! Each job end to end on the default model (the rest of the suite checks
//! machinery on `common::MACHINERY_MODEL`): an English and a Chinese
//! question over the sample knowledge base, a support turn and a
//! classification. A chat turn in the TUI is in `tests/tui.rs`. Greedy and
//! short, so each takes seconds on a CPU.

mod common;

use std::time::Duration;

use common::{stderr_of, stdout_of, TestEnv};

const TIMEOUT: Duration = Duration::from_secs(600);

fn json_of(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}", stderr_of(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout_of(out)))
}

fn cited_paths(v: &serde_json::Value) -> Vec<String> {
    v["citations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn the_default_model_is_a_catalogue_model_that_renders_tools() {
    let env = TestEnv::new();
    let out = env
        .lore_default()
        .args(["models", "list", "-f", "json"])
        .output()
        .unwrap();
    let v = json_of(&out);
    let default: Vec<&serde_json::Value> = v["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["default"] == true)
        .collect();
    assert_eq!(default.len(), 1, "{v}");
    assert_eq!(default[0]["catalogue"], true, "{v}");
    assert_eq!(default[0]["tools"], true, "{v}");
    assert!(default[0]["installed"] != "no", "{v}");
}

#[test]
fn ask_answers_from_the_return_policy_with_a_citation() {
    let env = TestEnv::new();
    let out = env
        .lore_default()
        .args(["ask", "-t", "0", "-n", "32", "-f", "json"])
        .arg("How long do I have to return an item?")
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_eq!(v["found"], true, "{v}");
    assert!(v["answer"].as_str().unwrap().contains("30"), "{v}");
    assert!(
        cited_paths(&v)
            .iter()
            .any(|p| p.ends_with("help-centre/returns/return-policy.md")),
        "{v}"
    );
    assert_eq!(v["citations_valid"], true, "{v}");
}

#[test]
fn a_chinese_question_is_answered_in_chinese_from_the_chinese_article() {
    let env = TestEnv::new();
    let out = env
        .lore_default()
        .args([
            "ask",
            "-t",
            "0",
            "-n",
            "48",
            "-f",
            "json",
            "退货期限是多久？",
        ])
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    let v = json_of(&out);
    assert_eq!(v["found"], true, "{v}");
    let answer = v["answer"].as_str().unwrap();
    let cjk = answer
        .chars()
        .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
        .count();
    let letters = answer.chars().filter(|c| c.is_alphabetic()).count();
    assert!(cjk * 2 >= letters && cjk > 0, "not Chinese: {answer}");
    assert!(answer.contains("30"), "{answer}");
    assert!(
        cited_paths(&v)
            .iter()
            .any(|p| p.ends_with("help-centre/zh/returns/return-policy.md")),
        "{v}"
    );
}

#[test]
fn a_support_turn_answers_with_a_source() {
    let env = TestEnv::new();
    let script = env.write("work/dialog.txt", "How much does standard shipping cost?\n");
    let out = env
        .lore_default()
        .args(["support", "-t", "0", "-n", "48", "-f", "json", "--script"])
        .arg(&script)
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    let v = json_of(&out);
    let turn = &v["turns"][0];
    let passages: Vec<&str> = turn["passages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["path"].as_str())
        .collect();
    assert!(
        passages
            .iter()
            .any(|p| p.ends_with("shipping/shipping-options-and-costs.md")),
        "{turn}"
    );
    assert_eq!(turn["intent"], "shipping", "{turn}");
    assert!(turn["handover"].is_null(), "{turn}");
}

#[test]
fn classify_labels_a_piped_ticket() {
    let env = TestEnv::new();
    let out = env
        .lore_default()
        .args(["classify", "--labels", "billing,bug,other", "-f", "jsonl"])
        .write_stdin("I was charged twice for the same order and want my money back.\n")
        .timeout(TIMEOUT)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    let v: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(v["label"], "billing", "{v}");
}
