//! `lore models` on the real default model.

mod common;

use common::{models_dir, stderr_of, stdout_of, TestEnv};

#[test]
fn quantize_then_list_shows_architecture_quantization_and_context() {
    let env = TestEnv::new();
    let src = models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(src.exists(), "run scripts/fetch-model.sh");
    let dir = env.path("models");
    std::fs::create_dir_all(&dir).unwrap();
    let out_file = dir.join("small.Q4_0.gguf");
    let out = env
        .bare()
        .args(["models", "quantize", "--type", "q4_0"])
        .arg(&src)
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("Q4_0"));

    // Refuses to overwrite without --force, and leaves the file alone.
    let before = std::fs::metadata(&out_file).unwrap().len();
    let out = env
        .bare()
        .args(["models", "quantize", "--type", "q8_0"])
        .arg(&src)
        .arg(&out_file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("--force"), "{}", stderr_of(&out));
    assert_eq!(std::fs::metadata(&out_file).unwrap().len(), before);

    let out = env
        .bare()
        .env("LORE_MODELS_DIR", &dir)
        .args(["models", "list"])
        .output()
        .unwrap();
    let text = stdout_of(&out);
    let row = text
        .lines()
        .find(|l| l.starts_with("small.Q4_0.gguf"))
        .expect(&text);
    assert!(
        row.contains("llama") && row.contains("Q4_0") && row.contains("8192"),
        "{row}"
    );

    // The re-quantized model loads and answers.
    let out = env
        .bare()
        .args(["run", "-n", "8", "-t", "0", "--model"])
        .arg(&out_file)
        .arg("What is the capital of France?")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(!stdout_of(&out).trim().is_empty());
}

#[test]
fn list_json_includes_the_default_model() {
    let env = TestEnv::new();
    let out = env
        .lore()
        .args(["models", "list", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let models = v["models"].as_array().unwrap();
    assert!(models.iter().any(|m| m["path"]
        .as_str()
        .unwrap()
        .ends_with("SmolLM2-135M-Instruct.Q4_1.gguf")
        && m["quantization"] == "Q4_1"));
}

#[test]
fn quantize_missing_input_is_a_usage_error() {
    let env = TestEnv::new();
    let out = env
        .bare()
        .args(["models", "quantize", "/nope.gguf", "out.gguf"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("/nope.gguf"));
}
