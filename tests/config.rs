//! Settings layers as seen through `lore config`.

mod common;

use common::{stderr_of, stdout_of, TestEnv};

fn show(env: &TestEnv, extra: &[&str]) -> String {
    let out = env
        .bare()
        .args(extra)
        .args(["config", "show"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    stdout_of(&out)
}

fn line<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("{key} ")))
        .unwrap_or_else(|| panic!("{key} not shown in {text}"))
}

#[test]
fn config_show_names_the_layer_of_each_value() {
    let env = TestEnv::new();
    let out = show(&env, &[]);
    assert!(
        line(&out, "generation.max_tokens").contains("= 512  # default"),
        "{out}"
    );

    env.write(
        "config/lore/config.toml",
        "[generation]\nmax_tokens = 100\n",
    );
    let out = show(&env, &[]);
    assert!(
        line(&out, "generation.max_tokens").contains("= 100  # user file"),
        "{out}"
    );

    env.write("work/lore.toml", "[generation]\nmax_tokens = 200\n");
    let out = show(&env, &[]);
    assert!(
        line(&out, "generation.max_tokens").contains("= 200  # project file"),
        "{out}"
    );

    let out = env
        .bare()
        .env("LORE_GENERATION__MAX_TOKENS", "300")
        .env("LORE_MODEL__PATH", "/x/y.gguf")
        .args(["config", "show"])
        .output()
        .unwrap();
    let out = stdout_of(&out);
    assert!(
        line(&out, "generation.max_tokens").contains("= 300  # env LORE_GENERATION__MAX_TOKENS"),
        "{out}"
    );
    assert!(line(&out, "model.path").contains("\"/x/y.gguf\""), "{out}");

    let out = show(&env, &["--model", "flagged.gguf"]);
    assert!(line(&out, "model.path").contains("# flag --model"), "{out}");
}

#[test]
fn config_path_lists_user_and_project_files() {
    let env = TestEnv::new();
    env.write("work/lore.toml", "");
    let out = env.bare().args(["config", "path"]).output().unwrap();
    let text = stdout_of(&out);
    let user = env.path("config/lore/config.toml");
    assert!(
        text.contains(&format!("{} (not present)", user.display())),
        "{text}"
    );
    assert!(text.lines().any(|l| l == "lore.toml"), "{text}");
}

#[test]
fn unknown_key_warns_and_continues() {
    let env = TestEnv::new();
    env.write("work/lore.toml", "[generation]\ntemprature = 0.5\n");
    let out = env.bare().args(["config", "show"]).output().unwrap();
    assert!(out.status.success());
    let err = stderr_of(&out);
    assert!(
        err.contains("warning") && err.contains("generation.temprature"),
        "{err}"
    );
}

#[test]
fn wrong_type_is_an_error_naming_file_key_and_type() {
    let env = TestEnv::new();
    env.write("config/lore/config.toml", "[model]\ncpu = \"yes please\"\n");
    let out = env.bare().args(["config", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(err.contains("config/lore/config.toml"), "{err}");
    assert!(err.contains("model.cpu"), "{err}");
    assert!(err.contains("boolean"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn wrong_type_from_env_names_the_variable() {
    let env = TestEnv::new();
    let out = env
        .bare()
        .env("LORE_GENERATION__MAX_TOKENS", "many")
        .args(["config", "show"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr_of(&out).contains("LORE_GENERATION__MAX_TOKENS"),
        "{}",
        stderr_of(&out)
    );
}

#[test]
fn unknown_command_and_flag_are_usage_errors() {
    let env = TestEnv::new();
    assert_eq!(
        env.bare().arg("frobnicate").output().unwrap().status.code(),
        Some(2)
    );
    assert_eq!(
        env.bare()
            .args(["run", "--nope"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn an_unknown_citation_mode_is_one_line_naming_the_choices() {
    let env = TestEnv::new();
    let out = env
        .bare()
        .env("LORE_GROUNDING__CITATIONS", "footnotes")
        .args(["config", "show"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr_of(&out);
    assert!(err.contains("LORE_GROUNDING__CITATIONS"), "{err}");
    assert!(err.contains("step") && err.contains("inline"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = env
        .bare()
        .env("LORE_GROUNDING__CITATIONS", "inline")
        .args(["config", "show"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("grounding.citations"));
}

#[test]
fn a_coverage_outside_zero_to_one_is_a_usage_error_naming_its_origin() {
    let env = TestEnv::new();
    for value in ["1.5", "-0.2"] {
        let out = env
            .bare()
            .env("LORE_RETRIEVAL__MIN_COVERAGE", value)
            .env("LORE_MODELS_DIR", env.path("no-models"))
            .args(["ask", "How long do I have to return an item?"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{value}");
        let err = stderr_of(&out);
        assert!(err.contains("min_coverage"), "{err}");
        assert!(err.contains("LORE_RETRIEVAL__MIN_COVERAGE"), "{err}");
        // The first run also says it indexed the sample knowledge base.
        assert_eq!(
            err.lines().filter(|l| l.contains("error")).count(),
            1,
            "{err}"
        );
    }
}
