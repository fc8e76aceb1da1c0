//! `lore completions`, the dynamic values shells get on TAB, and `lore man`,
//! in isolated environments (no model needed).

mod common;

use common::{stderr_of, stdout_of, TestEnv};

const SHELLS: [&str; 5] = ["bash", "zsh", "fish", "elvish", "powershell"];

/// What `lore` offers on TAB after `words`, the last being the word under
/// the cursor, asked the way the bash script asks.
fn complete(env: &TestEnv, words: &[&str]) -> Vec<String> {
    let out = env
        .bare()
        .env("COMPLETE", "bash")
        // The index of the word under the cursor, counting `lore` as 0.
        .env("_CLAP_COMPLETE_INDEX", words.len().to_string())
        .args(["--", "lore"])
        .args(words)
        .output()
        .unwrap();
    assert!(out.status.success(), "{words:?}: {}", stderr_of(&out));
    assert_eq!(stderr_of(&out), "", "{words:?}: completion must be silent");
    stdout_of(&out).lines().map(str::to_string).collect()
}

/// The values among `complete`'s candidates: on an empty word after a
/// positional argument, clap also offers the flags.
fn values(env: &TestEnv, words: &[&str]) -> Vec<String> {
    let mut all = complete(env, words);
    all.retain(|c| !c.starts_with('-'));
    all
}

fn has(candidates: &[String], want: &str) -> bool {
    candidates.iter().any(|c| c == want)
}

/// An environment with index `notes`, built by `lore index add`.
fn env_with_index() -> TestEnv {
    let env = TestEnv::new();
    let doc = env.write("kb/notes.md", "# Notes\n\nThe warehouse is in Rotterdam.\n");
    let out = env
        .bare()
        .args(["index", "--index", "notes", "add"])
        .arg(&doc)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    env
}

#[test]
fn every_shell_gets_a_script() {
    let env = TestEnv::new();
    for shell in SHELLS {
        let out = env.bare().args(["completions", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}: {}", stderr_of(&out));
        let script = stdout_of(&out);
        assert!(!script.trim().is_empty(), "{shell}: empty script");
        // The script calls lore back with the variable set.
        assert!(script.contains("COMPLETE"), "{shell}: {script}");
        assert!(script.contains("lore"), "{shell}: {script}");
    }
}

#[test]
fn completions_prints_what_complete_env_registers() {
    let env = TestEnv::new();
    for shell in SHELLS {
        let script = env.bare().args(["completions", shell]).output().unwrap();
        let registered = env.bare().env("COMPLETE", shell).output().unwrap();
        assert!(registered.status.success(), "{}", stderr_of(&registered));
        assert_eq!(stdout_of(&script), stdout_of(&registered), "{shell}");
    }
}

#[test]
fn an_unknown_shell_is_a_usage_error_on_one_line() {
    let env = TestEnv::new();
    let out = env.bare().args(["completions", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stdout_of(&out), "");
    let err = stderr_of(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("tcsh") && err.contains("bash"), "{err}");
}

#[test]
fn shell_names_complete() {
    let env = TestEnv::new();
    assert_eq!(complete(&env, &["completions", "fi"]), ["fish"]);
}

#[test]
fn index_names_complete() {
    let env = env_with_index();
    assert!(has(&complete(&env, &["ask", "--index", ""]), "notes"));
    assert_eq!(complete(&env, &["ask", "--index", "no"]), ["notes"]);
    assert_eq!(complete(&env, &["ask", "-i", "no"]), ["notes"]);
    assert_eq!(complete(&env, &["chat", "--index", "no"]), ["notes"]);
    assert_eq!(complete(&env, &["support", "--index", "no"]), ["notes"]);
    assert_eq!(complete(&env, &["index", "--index", "no"]), ["notes"]);
    assert_eq!(
        complete(&env, &["index", "stats", "--index", "no"]),
        ["notes"]
    );
    assert_eq!(
        complete(&env, &["classify", "--examples-index", "no"]),
        ["notes"]
    );
    assert!(complete(&env, &["ask", "--index", "zz"]).is_empty());
}

#[test]
fn index_names_follow_the_settings() {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.path("elsewhere/kb-other")).unwrap();
    let out = env
        .bare()
        .env("LORE_INDEX__DIR", env.path("elsewhere"))
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "3")
        .args(["--", "lore", "ask", "--index", ""])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out).trim(), "kb-other");
}

#[test]
fn nothing_to_offer_is_silent() {
    // No indexes directory, no sessions directory, no models directory.
    let env = TestEnv::new();
    assert!(complete(&env, &["ask", "--index", ""]).is_empty());
    assert!(values(&env, &["sessions", "show", ""]).is_empty());
    // Only the catalogue's names, which need no directory.
    assert_eq!(
        complete(&env, &["run", "--model", ""]),
        ["smollm2-135m", "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
    );
}

#[test]
fn invalid_settings_give_no_candidates_and_no_errors() {
    let env = env_with_index();
    env.write("work/lore.toml", "[retrieval]\ntop_k = \"many\"\n");
    assert!(complete(&env, &["ask", "--index", ""]).is_empty());
    // Built-in templates need no settings.
    assert!(has(
        &complete(&env, &["run", "--template", ""]),
        "summarize"
    ));
}

#[test]
fn session_ids_complete() {
    let env = TestEnv::new();
    let id = "20261123-205612-3fa2";
    let session = serde_json::json!({
        "id": id,
        "title": "Router reset",
        "created": "2026-11-23T20:56:12+01:00",
        "updated": "2026-11-23T21:00:00+01:00",
        "model": "SmolLM2-135M-Instruct.Q8_0.gguf",
        "mode": "chat",
        "index": "default",
        "system": "",
        "messages": [{"role": "user", "content": "How do I reset the router?"}]
    });
    env.write(
        &format!("data/lore/sessions/{id}.json"),
        &session.to_string(),
    );
    for words in [
        &["sessions", "show", ""][..],
        &["sessions", "rm", "2026"],
        &["sessions", "export", ""],
        &["chat", "--session", ""],
    ] {
        assert_eq!(values(&env, words), [id], "{words:?}");
    }
}

#[test]
fn template_names_complete() {
    let env = TestEnv::new();
    env.write("config/lore/prompts/mine.jinja", "Say {{ input }}\n");
    let names = complete(&env, &["run", "--template", ""]);
    assert!(has(&names, "summarize"), "{names:?}");
    assert!(has(&names, "mine"), "{names:?}");
    assert_eq!(complete(&env, &["run", "-T", "summ"]), ["summarize"]);
    assert_eq!(complete(&env, &["prompts", "show", "summ"]), ["summarize"]);
}

#[test]
fn model_files_complete() {
    let env = TestEnv::new();
    env.write("data/lore/models/tiny.Q8_0.gguf", "");
    env.write("data/lore/models/notes.txt", "");
    assert_eq!(
        complete(&env, &["run", "--model", ""]),
        [
            "smollm2-135m",
            "qwen2.5-coder-0.5b",
            "qwen2.5-coder-1.5b",
            "tiny.Q8_0.gguf"
        ]
    );
    assert_eq!(complete(&env, &["ask", "-m", "ti"]), ["tiny.Q8_0.gguf"]);
    assert_eq!(
        complete(&env, &["ask", "-m", "qwen"]),
        ["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]
    );
    // A word that looks like a path completes as one.
    env.write("work/local.gguf", "");
    assert!(has(
        &complete(&env, &["run", "--model", "./lo"]),
        "./local.gguf"
    ));
}

#[test]
fn man_prints_the_roff_page_of_lore() {
    let env = TestEnv::new();
    let out = env.bare().arg("man").output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let page = stdout_of(&out);
    assert!(page.starts_with('.'), "{page}");
    assert!(page.lines().any(|l| l.starts_with(".TH lore 1")), "{page}");
    assert!(page.contains("ask"), "{page}");
    assert!(page.contains("completions"), "{page}");
}

#[test]
fn man_prints_a_subcommand_page() {
    let env = TestEnv::new();
    let out = env.bare().args(["man", "index", "add"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    let page = stdout_of(&out);
    assert!(page.lines().any(|l| l.starts_with(".TH ")), "{page}");
    assert!(page.contains("prune"), "{page}");

    let out = env.bare().args(["man", "nope"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(stderr_of(&out).lines().count(), 1, "{}", stderr_of(&out));
}

#[test]
fn man_dir_writes_one_page_per_subcommand() {
    let env = TestEnv::new();
    let dir = env.path("man");
    let out = env
        .bare()
        .arg("man")
        .arg("--dir")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(stdout_of(&out), "");
    for page in ["lore.1", "lore-ask.1", "lore-index-add.1", "lore-man.1"] {
        assert!(dir.join(page).is_file(), "{page} missing");
    }
    assert!(!dir.join("lore-help.1").exists());
}
