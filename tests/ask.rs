//! `lore ask` on the sample knowledge base (indexed on first use).

mod common;

use common::{stderr_of, TestEnv};

fn ask_json(cmd: &mut assert_cmd::Command, question: &str) -> serde_json::Value {
    let out = cmd
        .args(["ask", "-t", "0", "-n", "24", "--format", "json", question])
        .output()
        .unwrap();
    assert!(out.status.success(), "{question}: {}", stderr_of(&out));
    serde_json::from_slice(&out.stdout).expect("valid JSON")
}

#[test]
fn retrieves_the_article_and_answers() {
    let env = TestEnv::new();
    let v = ask_json(&mut env.lore(), "How long do I have to return an item?");
    assert_eq!(v["found"], true);
    assert!(
        v["passages"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("returns/return-policy.md"),
        "{v}"
    );
    assert!(!v["answer"].as_str().unwrap().trim().is_empty());
    assert!(v["usage"]["completion_tokens"].as_u64().unwrap() > 0);
    assert!(v["citations"].is_array() && v["citations_valid"].is_boolean());
    // The first use indexed the sample knowledge base into 'default'.
    assert!(env
        .path("data/lore/sample-kb/help-centre/returns/return-policy.md")
        .exists());
}

#[test]
fn unanswerable_question_gives_found_false_without_a_model() {
    let env = TestEnv::new();
    // No models directory: a model call would fail with exit 3.
    let mut cmd = env.bare();
    cmd.env("LORE_MODELS_DIR", env.path("no-models"));
    for q in [
        "What is the capital of Mongolia?",
        "How do I bake sourdough bread?",
        "\"unterminated -x C:\\ title:[a TO",
    ] {
        let v = ask_json(env.bare().env("LORE_MODELS_DIR", env.path("no-models")), q);
        assert_eq!(v["found"], false, "{q}: {v}");
        assert_eq!(
            v["answer"],
            "I could not find an answer to that in the knowledge base."
        );
        assert_eq!(v["passages"].as_array().unwrap().len(), 0);
    }
    let out = cmd.args(["ask"]).write_stdin("").output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "empty question is a usage error"
    );
}
