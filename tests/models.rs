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

    let out = in_dir(&env, &dir, &["models", "list"]);
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
    let smol = models
        .iter()
        .find(|m| m["name"] == "smollm2-135m")
        .unwrap_or_else(|| panic!("{v}"));
    assert_eq!(smol["default"], true, "{smol}");
    assert_eq!(smol["catalogue"], true, "{smol}");
    assert!(smol["installed"] != "no", "{smol}");
    assert_eq!(smol["licence"], "Apache-2.0");
    // Every catalogue model is listed, installed or not.
    for name in ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"] {
        assert!(models.iter().any(|m| m["name"] == name), "{v}");
    }
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

/// `lore ARGS` with `dir` as the models directory.
fn in_dir(env: &TestEnv, dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    env.bare()
        .env("LORE_MODELS_DIR", dir)
        .args(args)
        .output()
        .unwrap()
}

/// The line of `lore config show` for `key`.
fn show_line(env: &TestEnv, vars: &[(&str, &str)], args: &[&str], key: &str) -> String {
    let mut cmd = env.bare();
    for (k, v) in vars {
        cmd.env(k, v);
    }
    let out = cmd.args(args).args(["config", "show"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    stdout_of(&out)
        .lines()
        .find(|l| l.starts_with(&format!("{key} ")))
        .unwrap_or_else(|| panic!("no {key} in config show"))
        .to_string()
}

#[test]
fn catalogue_models_bring_their_settings_and_the_users_win() {
    let env = TestEnv::new();
    let line = show_line(
        &env,
        &[],
        &["--model", "qwen2.5-coder-1.5b"],
        "generation.repeat_penalty",
    );
    assert!(
        line.contains("= 1.1") && line.contains("model catalogue (qwen2.5-coder-1.5b)"),
        "{line}"
    );
    let line = show_line(
        &env,
        &[],
        &["--model", "qwen2.5-coder-1.5b"],
        "model.context",
    );
    assert!(line.contains("= 8192"), "{line}");
    // A value the user sets wins over the catalogue's.
    let line = show_line(
        &env,
        &[("LORE_GENERATION__REPEAT_PENALTY", "1.3")],
        &["--model", "qwen2.5-coder-1.5b"],
        "generation.repeat_penalty",
    );
    assert!(
        line.contains("= 1.3") && line.contains("LORE_GENERATION__REPEAT_PENALTY"),
        "{line}"
    );
    // A file of the catalogue, named by its file name, is the same model.
    let line = show_line(
        &env,
        &[],
        &["--model", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"],
        "generation.repeat_penalty",
    );
    assert!(
        line.contains("model catalogue (qwen2.5-coder-0.5b)"),
        "{line}"
    );
    // Any other model keeps the built-in defaults.
    let line = show_line(
        &env,
        &[],
        &["--model", "/x/other.gguf"],
        "generation.repeat_penalty",
    );
    assert!(
        line.contains("= 1.0") && line.ends_with("# default"),
        "{line}"
    );
}

#[test]
fn catalogue_names_that_are_not_installed_or_do_not_exist() {
    let env = TestEnv::new();
    let empty = env.path("no-models");
    std::fs::create_dir_all(&empty).unwrap();
    let out = in_dir(
        &env,
        &empty,
        &["run", "-n", "4", "--model", "qwen2.5-coder-1.5b", "hi"],
    );
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("qwen2.5-coder-1.5b is not installed")
            && err.contains("scripts/fetch-model.sh qwen2.5-coder-1.5b"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");

    let out = in_dir(
        &env,
        &empty,
        &["run", "-n", "4", "--model", "qwen2.5-coder-0.5", "hi"],
    );
    let err = stderr_of(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("did you mean qwen2.5-coder-0.5b?"), "{err}");

    for args in [
        ["models", "info", "qwen2.5-coder-0.5"],
        ["models", "rm", "qwen2.5-coder-0.5"],
    ] {
        let out = in_dir(&env, &empty, &args);
        let err = stderr_of(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("did you mean qwen2.5-coder-0.5b?"), "{err}");
    }
    let out = in_dir(&env, &empty, &["models", "info", "smollm2-135m"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
    assert!(stderr_of(&out).contains("not installed"));
}

#[test]
fn list_marks_installed_and_default_and_info_shows_the_facts() {
    let env = TestEnv::new();
    let out = env.lore().args(["models", "list"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = stdout_of(&out);
    let smol = text
        .lines()
        .find(|l| l.starts_with("smollm2-135m "))
        .expect(&text);
    assert!(
        smol.contains("installed") && !smol.contains("not installed") && smol.contains("(default)"),
        "{smol}"
    );
    for name in ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"] {
        assert!(text.lines().any(|l| l.starts_with(name)), "{text}");
    }

    let out = env
        .lore()
        .args(["models", "info", "smollm2-135m"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let info = stdout_of(&out);
    for needle in [
        "architecture:  llama",
        "Q8_0 x",
        "context:       8192 tokens",
        "chat template: yes, no tools",
        "licence:       Apache-2.0",
        "by:            SmolLM2 by Hugging Face",
    ] {
        assert!(info.contains(needle), "{needle}: {info}");
    }
    let out = env
        .lore()
        .args(["models", "info", "smollm2-135m", "--format", "json"])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["catalogue"]["name"], "smollm2-135m");
    assert_eq!(v["gguf"]["architecture"], "llama");
    assert_eq!(v["gguf"]["template_tools"], false);
    assert_eq!(v["licence"], "Apache-2.0");
}

#[test]
fn rm_removes_a_catalogue_models_files_only() {
    let env = TestEnv::new();
    let dir = env.path("models");
    std::fs::create_dir_all(&dir).unwrap();
    for f in [
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "SmolLM2-135M-Instruct.Q8_0.gguf",
        "keep.gguf",
    ] {
        std::fs::write(dir.join(f), b"x").unwrap();
    }
    let out = in_dir(&env, &dir, &["models", "rm", "smollm2-135m"]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let mut left: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["keep.gguf"]);
    let out = in_dir(&env, &dir, &["models", "rm", "smollm2-135m"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_of(&out).contains("not installed"));
    // Nothing outside the models directory can be named.
    let out = in_dir(&env, &dir, &["models", "rm", "../models/keep.gguf"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(dir.join("keep.gguf").exists());
}

#[test]
fn a_catalogue_model_is_converted_on_first_use() {
    let env = TestEnv::new();
    let dir = env.path("models");
    std::fs::create_dir_all(&dir).unwrap();
    let src = models_dir().join("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(src.exists(), "run scripts/fetch-model.sh");
    std::fs::copy(&src, dir.join("SmolLM2-135M-Instruct.Q4_1.gguf")).unwrap();
    let out = in_dir(
        &env,
        &dir,
        &["run", "-n", "4", "-t", "0", "--model", "smollm2-135m", "Hi"],
    );
    let err = stderr_of(&out);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("preparing smollm2-135m once"), "{err}");
    assert!(!stdout_of(&out).trim().is_empty());
    let converted = dir.join("SmolLM2-135M-Instruct.Q8_0.gguf");
    assert!(converted.is_file());
    // Only the catalogue's types were converted; the rest kept as they were.
    let out = in_dir(
        &env,
        &dir,
        &["models", "info", "smollm2-135m", "-f", "json"],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let types: Vec<&str> = v["gguf"]["tensor_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[0].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"Q8_0") && !types.contains(&"Q4_1"),
        "{types:?}"
    );
    // The next run uses the converted file without converting again.
    let out = in_dir(
        &env,
        &dir,
        &["run", "-n", "4", "-t", "0", "--model", "smollm2-135m", "Hi"],
    );
    assert!(out.status.success());
    assert!(!stderr_of(&out).contains("preparing"));
}
