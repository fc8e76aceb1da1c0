//! Dense retrieval's set-up: which embedding model an index uses, loaded
//! once per process, and the search mode and fusion from the settings.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::Root;
use crate::catalogue::Catalogue;
use crate::engine::embed::SentenceEncoder;
use crate::error::{AppError, Exit};
use crate::index::dense::{Dense, Embedder, Fusion, FusionMethod, Mode};
use crate::index::ingest::DenseSpec;
use crate::index::KnowledgeIndex;
use crate::progress::Progress;

/// Models loaded so far, by directory: the chat's indexes share one.
fn loaded() -> &'static Mutex<HashMap<PathBuf, Arc<SentenceEncoder>>> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<SentenceEncoder>>>> = OnceLock::new();
    LOADED.get_or_init(Default::default)
}

impl Root {
    /// `retrieval.mode`, checked.
    pub fn search_mode(&self) -> Result<Mode, AppError> {
        let m = &self.settings.settings.retrieval.mode;
        Mode::parse(m).ok_or_else(|| {
            AppError::usage(format!(
                "retrieval.mode ({}) is {m:?}; use auto, lexical, dense or hybrid",
                self.settings.origin("retrieval.mode")
            ))
        })
    }

    /// Hybrid search's fusion settings, checked.
    pub fn fusion(&self) -> Result<Fusion, AppError> {
        let r = &self.settings.settings.retrieval;
        for (key, v, min) in [
            ("retrieval.fusion_k", r.fusion_k, 0.0),
            ("retrieval.lexical_weight", r.lexical_weight, 0.0),
            ("retrieval.dense_weight", r.dense_weight, 0.0),
        ] {
            if !(v.is_finite() && v >= min) {
                return Err(AppError::usage(format!(
                    "{key} must be a number of at least {min}, got {v} (from {})",
                    self.settings.origin(key)
                )));
            }
        }
        let method = FusionMethod::parse(&r.fusion).ok_or_else(|| {
            AppError::usage(format!(
                "retrieval.fusion ({}) is {:?}; use rrf or convex",
                self.settings.origin("retrieval.fusion"),
                r.fusion
            ))
        })?;
        Ok(Fusion {
            method,
            k: r.fusion_k as f32,
            lexical: r.lexical_weight as f32,
            dense: r.dense_weight as f32,
        })
    }

    /// Where embedding model `model` (a catalogue name or a directory)
    /// lives, and the name an index records for it.
    fn embedding_dir(&self, model: &str) -> Result<(String, PathBuf), AppError> {
        if let Some(entry) = Catalogue::builtin().embedding(model) {
            let models = self.settings.settings.models_dir();
            let dir = entry.path(&models);
            if !entry.is_installed(&models) {
                return Err(AppError::new(
                    Exit::ModelLoad,
                    format!(
                        "embedding model '{model}' is not installed in {}; install it with `scripts/fetch-model.sh {model}`",
                        dir.display()
                    ),
                ));
            }
            return Ok((model.to_string(), dir));
        }
        let dir = Path::new(model);
        if dir.is_dir() {
            let abs = crate::index::ingest::absolute(dir);
            return Ok((abs.display().to_string(), abs));
        }
        let names: Vec<&str> = Catalogue::builtin()
            .embeddings
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        Err(AppError::new(
            Exit::ModelLoad,
            format!(
                "embedding model '{model}' is neither a catalogue name ({}) nor a directory",
                names.join(", ")
            ),
        ))
    }

    /// Embedding model `model`, loaded once per process.
    pub fn embedder(&self, model: &str) -> Result<Arc<dyn Embedder>, AppError> {
        let (name, dir) = self.embedding_dir(model)?;
        let mut cache = loaded().lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = cache.get(&dir) {
            return Ok(e.clone());
        }
        let e = SentenceEncoder::load(&name, &dir, self.settings.settings.model.cpu)
            .map(Arc::new)
            .map_err(|m| {
                AppError::new(Exit::ModelLoad, format!("embedding model '{name}': {m}"))
            })?;
        cache.insert(dir, e.clone());
        Ok(e)
    }

    /// The model an index's vectors come from: the one it records, else
    /// `index.embedding_model`.
    fn model_for(&self, idx_model: Option<String>) -> String {
        idx_model.unwrap_or_else(|| self.settings.settings.index.embedding_model.clone())
    }

    /// Gets `idx` ready to search in `mode` (None: `retrieval.mode`):
    /// loads its embedding model when it has vectors and the mode may use
    /// them. In auto mode a model that cannot be loaded is a warning and
    /// the search is lexical; a mode that asks for vectors fails instead.
    pub fn prepare_search(
        &self,
        idx: &mut KnowledgeIndex,
        mode: Option<Mode>,
        progress: &dyn Progress,
    ) -> Result<(), AppError> {
        let mode = match mode {
            Some(m) => m,
            None => self.search_mode()?,
        };
        idx.set_default_mode(mode);
        let Some(rec) = idx.manifest().embeddings else {
            return Ok(());
        };
        if mode == Mode::Lexical || idx.has_embedder() {
            return Ok(());
        }
        let attach = self.embedder(&rec.model).and_then(|e| {
            idx.set_embedder(Dense::new(e, self.fusion()?))
                .map_err(AppError::from)
        });
        match attach {
            Err(e) if mode == Mode::Auto => {
                progress.note(&format!(
                    "warning: {}; index '{}' is searched by its text only",
                    e.message, idx.name
                ));
                Ok(())
            }
            other => other,
        }
    }

    /// Gets `idx` ready to be written: its embedding model is loaded when
    /// it has vectors (so new chunks get theirs too) or when `embeddings`
    /// (`--embeddings`, else `index.embeddings`) asks for them.
    pub fn prepare_write(
        &self,
        idx: &mut KnowledgeIndex,
        embeddings: bool,
    ) -> Result<(), AppError> {
        if let Some(spec) =
            self.dense_spec(idx.manifest().embeddings.map(|r| r.model), embeddings)?
        {
            if !idx.has_embedder() {
                idx.set_embedder(spec.build())?;
            }
        }
        Ok(())
    }

    /// The embedding model of an index that records `recorded` (or none),
    /// when it needs one.
    pub fn dense_spec(
        &self,
        recorded: Option<String>,
        embeddings: bool,
    ) -> Result<Option<DenseSpec>, AppError> {
        let wanted = embeddings || self.settings.settings.index.embeddings;
        if recorded.is_none() && !wanted {
            return Ok(None);
        }
        let embedder = self.embedder(&self.model_for(recorded))?;
        Ok(Some(DenseSpec {
            embedder,
            fusion: self.fusion()?,
        }))
    }
}
