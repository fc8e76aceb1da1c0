//! Shared set-up for tests that drive the real `lore` binary.
#![allow(dead_code)]

use std::path::PathBuf;

use assert_cmd::Command;
use tempfile::TempDir;

/// Where the default model lives; the tests fail (never skip) without it.
pub fn models_dir() -> PathBuf {
    let dir = match std::env::var_os("LORE_MODELS_DIR") {
        Some(d) => PathBuf::from(d),
        None => {
            let data = std::env::var_os("XDG_DATA_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(std::env::var("HOME").unwrap()).join(".local/share")
                });
            data.join("lore/models")
        }
    };
    let q8 = dir.join("SmolLM2-135M-Instruct.Q8_0.gguf");
    let q4 = dir.join("SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(
        q8.exists() || q4.exists(),
        "the test model {MACHINERY_MODEL} is not in {}: run scripts/fetch-model.sh first",
        dir.display()
    );
    dir
}

/// The model of the tests that check machinery (streaming, budgets,
/// formats, exit codes, the TUI) rather than the quality of answers:
/// SmolLM2-135M loads in a second and answers several times faster than
/// the default model, which keeps the suite fast. `tests/default_model.rs`
/// runs each job end to end on the default model itself
/// ([`TestEnv::lore_default`]).
pub const MACHINERY_MODEL: &str = "smollm2-135m";

/// An isolated environment: its own config home, working directory and
/// Hugging Face cache, the real models directory, no LORE_* from outside.
pub struct TestEnv {
    pub root: TempDir,
}

impl TestEnv {
    pub fn new() -> TestEnv {
        let root = tempfile::tempdir().unwrap();
        for d in ["config", "work", "hf", "data"] {
            std::fs::create_dir_all(root.path().join(d)).unwrap();
        }
        TestEnv { root }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    pub fn work(&self) -> PathBuf {
        self.path("work")
    }

    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `lore` in this environment, with the model directory set.
    pub fn lore(&self) -> Command {
        let mut cmd = self.bare();
        cmd.env("LORE_MODELS_DIR", models_dir());
        cmd
    }

    /// `lore` on the default model, with the model directory set.
    pub fn lore_default(&self) -> Command {
        let mut cmd = self.lore();
        cmd.env_remove("LORE_MODEL__PATH");
        cmd
    }

    /// `lore` with no models directory set (it points into the temp dir).
    pub fn bare(&self) -> Command {
        let mut cmd = Command::new(assert_cmd::cargo::cargo_bin("lore"));
        self.isolate(cmd.env("NO_COLOR", "1"));
        cmd
    }

    /// A std `Command` for tests that manage the child process themselves.
    pub fn lore_std(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("lore"));
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("LORE_")) {
            cmd.env_remove(k);
        }
        cmd.env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("HF_HOME", self.path("hf"))
            .env("LORE_MODELS_DIR", models_dir())
            .env("LORE_MODEL__PATH", MACHINERY_MODEL)
            .current_dir(self.work());
        cmd
    }

    fn isolate(&self, cmd: &mut Command) {
        for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("LORE_")) {
            cmd.env_remove(k);
        }
        cmd.env("XDG_CONFIG_HOME", self.path("config"))
            .env("XDG_DATA_HOME", self.path("data"))
            .env("HF_HOME", self.path("hf"))
            .env("LORE_MODEL__PATH", MACHINERY_MODEL)
            .current_dir(self.work());
    }
}

pub fn stdout_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub mod serve;
