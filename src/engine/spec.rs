//! Turning a model setting into something loadable: a GGUF file, a local
//! safetensors directory or a Hugging Face id.

use std::path::{Path, PathBuf};

/// A resolved model to load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSpec {
    /// A local GGUF file (tokenizer and chat template come from its metadata).
    Gguf { dir: PathBuf, file: String },
    /// A local directory with config.json, tokenizer.json and safetensors.
    Safetensors { dir: PathBuf },
    /// A Hugging Face repository, fetched by mistral.rs where the network
    /// allows. `file` selects a GGUF file inside it (`owner/repo:file.gguf`).
    Hub { id: String, file: Option<String> },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SpecError {
    #[error("model not found: {path}{hint}")]
    NotFound { path: PathBuf, hint: String },
    #[error("{path} is not a model: {reason}")]
    NotAModel { path: PathBuf, reason: String },
}

impl ModelSpec {
    /// Where the model lives, as shown to people.
    pub fn display_path(&self) -> String {
        match self {
            ModelSpec::Gguf { dir, file } => dir.join(file).display().to_string(),
            ModelSpec::Safetensors { dir } => dir.display().to_string(),
            ModelSpec::Hub { id, file: Some(f) } => format!("{id}:{f}"),
            ModelSpec::Hub { id, file: None } => id.clone(),
        }
    }

    /// A short name: the file name without extension, or the repo name.
    pub fn name(&self) -> String {
        match self {
            ModelSpec::Gguf { file, .. } => file.trim_end_matches(".gguf").to_string(),
            ModelSpec::Safetensors { dir } => dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string()),
            ModelSpec::Hub { id, file } => file
                .as_deref()
                .map(|f| f.trim_end_matches(".gguf").to_string())
                .unwrap_or_else(|| id.rsplit('/').next().unwrap_or(id).to_string()),
        }
    }
}

/// Resolves a model setting. Order: an existing path; a bare name inside
/// `models_dir`; something shaped like a path (which then does not exist);
/// else `owner/repo[:file.gguf]` as a Hugging Face id.
pub fn resolve(setting: &str, models_dir: &Path, fix_hint: &str) -> Result<ModelSpec, SpecError> {
    let setting = setting.trim();
    let expanded = expand_tilde(setting);
    if expanded.exists() {
        return from_path(&expanded);
    }
    let in_models_dir = models_dir.join(setting);
    let bare = !setting.contains('/') && !setting.contains('\\');
    if bare && !setting.is_empty() && in_models_dir.exists() {
        return from_path(&in_models_dir);
    }

    let looks_like_path = setting.is_empty()
        || setting.starts_with(['/', '.', '~'])
        || setting.contains('\\')
        || setting.to_ascii_lowercase().ends_with(".gguf") && !setting.contains(':')
        || setting.matches('/').count() != 1;
    if looks_like_path {
        let path = if bare && !setting.is_empty() {
            in_models_dir
        } else {
            expanded
        };
        return Err(SpecError::NotFound {
            path,
            hint: fix_hint.to_string(),
        });
    }
    let (id, file) = match setting.split_once(':') {
        Some((id, file)) => (id.to_string(), Some(file.to_string())),
        None => (setting.to_string(), None),
    };
    Ok(ModelSpec::Hub { id, file })
}

fn expand_tilde(s: &str) -> PathBuf {
    if let Some(rest) = s.strip_prefix("~/") {
        if let Some(home) = directories::BaseDirs::new() {
            return home.home_dir().join(rest);
        }
    }
    PathBuf::from(s)
}

fn from_path(path: &Path) -> Result<ModelSpec, SpecError> {
    let not_a_model = |reason: &str| SpecError::NotAModel {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    if path.is_file() {
        let is_gguf = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
        if !is_gguf {
            return Err(not_a_model(
                "a model file must be GGUF (.gguf); for safetensors give the directory",
            ));
        }
        let dir = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        let file = path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .ok_or_else(|| not_a_model("no file name"))?;
        return Ok(ModelSpec::Gguf { dir, file });
    }
    let entries: Vec<PathBuf> = std::fs::read_dir(path)
        .map_err(|e| not_a_model(&e.to_string()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    let mut ggufs: Vec<&PathBuf> = entries
        .iter()
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        })
        .collect();
    ggufs.sort();
    let has = |name: &str| {
        entries
            .iter()
            .any(|p| p.file_name().is_some_and(|f| f == name))
    };
    let has_safetensors = entries
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "safetensors"));
    if has("config.json") && has_safetensors {
        if !has("tokenizer.json") {
            return Err(not_a_model("safetensors model without tokenizer.json"));
        }
        return Ok(ModelSpec::Safetensors {
            dir: path.to_path_buf(),
        });
    }
    match ggufs.as_slice() {
        [one] => from_path(one),
        [] => Err(not_a_model(
            "no .gguf file, and not a safetensors model (config.json, tokenizer.json, *.safetensors)",
        )),
        many => Err(not_a_model(&format!(
            "it holds {} GGUF files; name one: {}",
            many.len(),
            many.iter()
                .filter_map(|p| p.file_name())
                .map(|f| f.to_string_lossy())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_files_dirs_bare_names_and_hub_ids() {
        let dir = tempfile::tempdir().unwrap();
        let models = dir.path().join("models");
        std::fs::create_dir(&models).unwrap();
        std::fs::write(models.join("m.gguf"), b"x").unwrap();

        let gguf = ModelSpec::Gguf {
            dir: models.clone(),
            file: "m.gguf".into(),
        };
        assert_eq!(resolve("m.gguf", &models, "").unwrap(), gguf);
        assert_eq!(
            resolve(models.join("m.gguf").to_str().unwrap(), &models, "").unwrap(),
            gguf
        );
        assert_eq!(
            resolve(models.to_str().unwrap(), &models, "").unwrap(),
            gguf
        );
        assert_eq!(
            resolve("HuggingFaceTB/SmolLM2-135M-Instruct", &models, "").unwrap(),
            ModelSpec::Hub {
                id: "HuggingFaceTB/SmolLM2-135M-Instruct".into(),
                file: None
            }
        );
        assert_eq!(
            resolve("owner/repo:x.Q4_K_M.gguf", &models, "").unwrap(),
            ModelSpec::Hub {
                id: "owner/repo".into(),
                file: Some("x.Q4_K_M.gguf".into())
            }
        );
    }

    #[test]
    fn missing_local_model_is_not_sent_to_the_hub() {
        let dir = tempfile::tempdir().unwrap();
        for s in ["missing.gguf", "/no/such/model.gguf", "./rel/dir", "a/b/c"] {
            let err = resolve(s, dir.path(), " (fix: x)").unwrap_err();
            assert!(matches!(err, SpecError::NotFound { .. }), "{s}: {err}");
            assert!(err.to_string().ends_with("(fix: x)"));
        }
        let err = resolve("missing.gguf", dir.path(), "").unwrap_err();
        assert!(err
            .to_string()
            .contains(&dir.path().join("missing.gguf").display().to_string()));
    }

    #[test]
    fn directories_must_hold_one_model() {
        let dir = tempfile::tempdir().unwrap();
        assert!(resolve(dir.path().to_str().unwrap(), dir.path(), "").is_err());
        std::fs::write(dir.path().join("a.gguf"), b"x").unwrap();
        std::fs::write(dir.path().join("b.gguf"), b"x").unwrap();
        let err = resolve(dir.path().to_str().unwrap(), dir.path(), "").unwrap_err();
        assert!(err.to_string().contains("a.gguf, b.gguf"), "{err}");
        let txt = dir.path().join("notes.txt");
        std::fs::write(&txt, b"x").unwrap();
        assert!(resolve(txt.to_str().unwrap(), dir.path(), "").is_err());
    }

    #[test]
    fn safetensors_directory() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["config.json", "tokenizer.json", "model.safetensors"] {
            std::fs::write(dir.path().join(f), b"{}").unwrap();
        }
        assert_eq!(
            resolve(dir.path().to_str().unwrap(), dir.path(), "").unwrap(),
            ModelSpec::Safetensors {
                dir: dir.path().to_path_buf()
            }
        );
    }
}
