//! The model catalogue (`config/models.toml`, embedded): the models lore
//! knows by name, where each comes from, how it is verified and converted,
//! and the settings that suit it.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::Deserialize;

/// The catalogue file, as shipped.
pub const CATALOGUE_TOML: &str = include_str!("../config/models.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    pub models: Vec<Entry>,
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
        for m in &Catalogue::builtin().models {
            let text = root.join("LICENSES").join(format!("{}.txt", m.licence));
            assert!(text.is_file(), "{}: no {}", m.name, text.display());
            assert!(
                notice.contains(&m.credit),
                "{}: NOTICE lacks '{}'",
                m.name,
                m.credit
            );
        }
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
