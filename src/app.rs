//! The composition root: settings become working objects here, once
//! (ripgrep's low-level args → high-level args). Front ends ask the
//! [`Root`] for a model, an index, the `ask` set-up, the support agent or
//! the conversation service and hand them down; nothing below this module
//! reads settings or knows about flags.
//!
//! Slow steps report through [`Progress`] (`src/progress.rs`), so the CLI
//! can draw a spinner or a bar while the TUI (which owns the screen) stays
//! silent.

use std::path::{Path, PathBuf};
use std::sync::Arc;

mod dense;

use crate::catalogue::{self, Catalogue};
use crate::engine::gguf::{self, QuantType};
use crate::engine::remote::{RemoteModel, RemoteOptions};
use crate::engine::spec::SpecError;
use crate::engine::{Engine, LoadOptions, ModelSpec};
use crate::error::{AppError, Exit};
use crate::index::chunk::ChunkOptions;
use crate::index::dense::Mode;
use crate::index::ingest::{self, AddOptions};
use crate::index::loaders::RowFields;
use crate::index::KnowledgeIndex;
use crate::model::{GenParams, Model, ModelError, ModelInfo};
use crate::prompts::{Library, Template};
use crate::sessions::Store;
use crate::settings::{Layer, Loaded};
use crate::tasks::ask::Ask;
use crate::tasks::classify;
use crate::tasks::conversation::SupportParts;
use crate::tasks::conversation::{FirstModel, LoadModel, OpenIndex, PendingLoad, Services};
use crate::tasks::grounded::{Retrieval, TemplatePrompt};
use crate::tasks::support::{
    self, Agent, HandoverRules, Persona, SupportPolicy, TicketStore, TurnClassifier,
};

pub use crate::progress::{Progress, Silent};

/// The settings, turned into lore's working parts on request.
#[derive(Clone)]
pub struct Root {
    pub settings: Loaded,
    /// Engine logs on stderr (`-v`).
    pub verbose: bool,
}

impl Root {
    /// The settings with the catalogue's values for the configured model
    /// beneath the user's own (a file, variable or flag still wins).
    pub fn new(settings: Loaded, verbose: bool) -> Root {
        let settings = match catalogue_entry(&settings.settings.model.path) {
            Some(entry) => {
                let layer = Layer {
                    name: format!("model catalogue ({})", entry.name),
                    values: entry.settings_values(),
                    setters: Default::default(),
                };
                // The catalogue's values are checked by the test suite; a
                // merge failure would leave the user's settings as they are.
                settings.with_defaults_layer(layer).unwrap_or(settings)
            }
            None => settings,
        };
        Root { settings, verbose }
    }

    /// The generation settings, checked once: a bad value is a usage error
    /// naming where it was set.
    pub fn gen_params(&self) -> Result<GenParams, AppError> {
        let g = &self.settings.settings.generation;
        let origin = |key: &str| self.settings.origin(key);
        if !(0.0..=2.0).contains(&g.temperature) {
            return Err(AppError::usage(format!(
                "temperature must be between 0 and 2, got {} (from {})",
                g.temperature,
                origin("generation.temperature")
            )));
        }
        if !(g.top_p > 0.0 && g.top_p <= 1.0) {
            return Err(AppError::usage(format!(
                "top_p must be in (0, 1], got {} (from {})",
                g.top_p,
                origin("generation.top_p")
            )));
        }
        if g.max_tokens == 0 {
            return Err(AppError::usage(format!(
                "max_tokens must be at least 1 (from {})",
                origin("generation.max_tokens")
            )));
        }
        if !(1.0..=2.0).contains(&g.repeat_penalty) {
            return Err(AppError::usage(format!(
                "repeat_penalty must be between 1 (none) and 2, got {} (from {})",
                g.repeat_penalty,
                origin("generation.repeat_penalty")
            )));
        }
        Ok(GenParams {
            max_tokens: g.max_tokens as usize,
            temperature: g.temperature,
            top_p: g.top_p,
            repeat_penalty: g.repeat_penalty,
            ..GenParams::default()
        })
    }

    /// Built-in templates and the user's.
    /// The agent's configuration for `info`'s model, from the `agent.*`
    /// and generation settings.
    pub fn agent_config(&self, info: &ModelInfo) -> Result<crate::agent::Config, AppError> {
        let params = self.gen_params()?;
        let a = &self.settings.settings.agent;
        if a.tool_format == crate::agent::ToolChoiceSetting::Native && !info.native_tools {
            return Err(AppError::usage(format!(
                "agent.tool_format is native ({}) but the chat template of {} renders no tools; use constrained or auto",
                self.settings.origin("agent.tool_format"),
                info.name
            )));
        }
        Ok(crate::agent::Config::resolve(
            info,
            a.max_steps,
            a.tool_format,
            &params,
        ))
    }

    /// What the agent may do unasked: `agent.mode` (empty: read-only in
    /// pipes, ask in the TUI), the allow/deny rules and the sandbox probe's
    /// result, or off with `--no-sandbox`.
    pub fn agent_policy(
        &self,
        interaction: crate::agent::policy::Interaction,
        no_sandbox: bool,
    ) -> Result<crate::agent::policy::Policy, AppError> {
        use crate::agent::policy::{Interaction, Isolation, Mode, Policy, Rules};
        let a = &self.settings.settings.agent;
        let mode = match a.mode.as_str() {
            "" if interaction == Interaction::Terminal => Mode::Ask,
            "" => Mode::ReadOnly,
            m => Mode::parse(m).ok_or_else(|| {
                AppError::usage(format!(
                    "agent.mode ({}) is {m:?}; use read-only, ask, auto-edit or auto",
                    self.settings.origin("agent.mode")
                ))
            })?,
        };
        let isolation = if no_sandbox {
            Isolation::Disabled
        } else {
            crate::agent::sandbox::probe()
        };
        let rules = Rules {
            allow: a.allow.clone(),
            deny: a.deny.clone(),
        };
        Ok(Policy::new(mode, interaction, isolation, rules))
    }

    /// Where the agent's `search` reads: the index named by `index.name`
    /// when it exists (the agent does not create one, nor the sample), or
    /// none. An index that exists but cannot be opened is an error.
    pub fn agent_retrieval(&self, progress: &dyn Progress) -> Result<Option<Retrieval>, AppError> {
        let s = &self.settings.settings;
        let dir = KnowledgeIndex::dir_for(&s.indexes_dir(), &s.index.name);
        if !dir.join("meta.json").exists() {
            return Ok(None);
        }
        let mut index = KnowledgeIndex::open(&s.indexes_dir(), &s.index.name, false)?;
        self.prepare_search(&mut index, None, progress)?;
        Ok(Some(self.retrieval(Some(index))?))
    }

    /// Where agent sessions are logged: `agent/` under the sessions
    /// directory.
    pub fn agent_logs_dir(&self) -> PathBuf {
        self.settings.settings.sessions_dir().join("agent")
    }

    pub fn library(&self) -> Library {
        Library::new(&self.settings.settings.prompts_dir())
    }

    pub fn template(&self, name: &str) -> Result<Template, AppError> {
        Ok(self.library().get(name)?)
    }

    pub fn chunking(&self) -> ChunkOptions {
        let i = &self.settings.settings.index;
        ChunkOptions {
            target_tokens: i.chunk_tokens as usize,
            overlap_tokens: i.chunk_overlap as usize,
        }
    }

    /// How `lore index add` reads files.
    pub fn add_options(&self, rows: RowFields, prune: bool) -> AddOptions {
        AddOptions {
            rows,
            prune,
            max_file_bytes: self
                .settings
                .settings
                .index
                .max_file_mb
                .saturating_mul(1_000_000),
            chunking: self.chunking(),
            dense: None,
        }
    }

    /// Opens the index grounded answers read. The first time, the index
    /// named "default" is filled with the built-in sample knowledge base
    /// (setting `index.sample_on_empty`), written out under the data
    /// directory so citations point at real files.
    pub fn open_index(
        &self,
        name: &str,
        progress: &dyn Progress,
    ) -> Result<KnowledgeIndex, AppError> {
        self.open_index_as(name, None, progress)
    }

    /// Whether [`Root::open_index`] finds `name`: an index on disk, or the
    /// sample knowledge base it makes on first use.
    pub fn index_available(&self, name: &str) -> bool {
        let s = &self.settings.settings;
        self.index_on_disk(name) || (name == "default" && s.index.sample_on_empty)
    }

    fn index_on_disk(&self, name: &str) -> bool {
        let root = self.settings.settings.indexes_dir();
        KnowledgeIndex::dir_for(&root, name)
            .join("meta.json")
            .exists()
    }

    /// [`Root::open_index`], searching in `mode` (`None`: `retrieval.mode`).
    pub fn open_index_as(
        &self,
        name: &str,
        mode: Option<Mode>,
        progress: &dyn Progress,
    ) -> Result<KnowledgeIndex, AppError> {
        let s = &self.settings.settings;
        let root = s.indexes_dir();
        let make_sample = name == "default" && s.index.sample_on_empty && !self.index_on_disk(name);
        if !make_sample {
            let mut idx = KnowledgeIndex::open(&root, name, false)?;
            self.prepare_search(&mut idx, mode, progress)?;
            return Ok(idx);
        }
        let dir = crate::settings::user_data_dir().join("sample-kb");
        let write_err = |e: std::io::Error| {
            AppError::new(
                Exit::Failure,
                format!(
                    "cannot write the sample knowledge base in {}: {e}",
                    dir.display()
                ),
            )
        };
        for (rel, text) in crate::sample_kb::FILES {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(write_err)?;
            }
            std::fs::write(&path, text).map_err(write_err)?;
        }
        progress.note(&format!(
            "indexing the sample knowledge base ({} articles in {}) into index 'default'",
            crate::sample_kb::FILES.len(),
            dir.display()
        ));
        let mut idx = KnowledgeIndex::open(&root, name, true)?;
        self.prepare_write(&mut idx, false)?;
        let files = ingest::expand(std::slice::from_ref(&dir))?;
        let opts = self.add_options(RowFields::default(), false);
        ingest::add(&idx, &files, &[], &opts, &mut |_, _, _, _| {})?;
        self.prepare_search(&mut idx, mode, progress)?;
        Ok(idx)
    }

    /// Opens the configured index for an interactive front end: a failure
    /// is a warning (grounded turns then find nothing until `/index`).
    pub fn open_index_or_warn(&self, progress: &dyn Progress) -> Option<KnowledgeIndex> {
        let name = &self.settings.settings.index.name;
        match self.open_index(name, progress) {
            Ok(i) => Some(i),
            Err(e) => {
                progress.note(&format!(
                    "warning: {e}; ask and support modes will find nothing until /index NAME"
                ));
                None
            }
        }
    }

    /// Where passages come from, for `index` (none: nothing is found).
    pub fn retrieval(&self, index: Option<KnowledgeIndex>) -> Result<Retrieval, AppError> {
        let r = &self.settings.settings.retrieval;
        if !(0.0..=1.0).contains(&r.min_coverage) {
            return Err(AppError::usage(format!(
                "min_coverage is a share of the question, between 0 and 1, got {} (from {})",
                r.min_coverage,
                self.settings.origin("retrieval.min_coverage")
            )));
        }
        Ok(Retrieval {
            index: index.map(Arc::new),
            top_k: r.top_k as usize,
            relevance: crate::grounding::Relevance {
                min_score: r.min_score as f32,
                min_coverage: r.min_coverage as f32,
                min_similarity: r.min_similarity as f32,
            },
            checks: crate::tasks::policy::Checks {
                strict: self.settings.settings.grounding.strict,
                citations: self.settings.settings.grounding.citations,
            },
            chunking: self.chunking(),
        })
    }

    /// What to load for the model setting `setting` (the configured one,
    /// or a `/model SPEC` in the chat), with a hint on how to fix it.
    pub fn resolve_model(&self, setting: &str) -> Result<(ModelSpec, LoadOptions), ModelError> {
        let s = &self.settings.settings;
        let models_dir = s.models_dir();
        let set_by = if setting == s.model.path {
            format!("set by {}; ", self.settings.origin("model.path"))
        } else {
            String::new()
        };
        let entry = Catalogue::builtin().get(setting.trim());
        let spec = match entry {
            Some(entry) => {
                let file = models_dir.join(entry.run_file());
                if !file.is_file() {
                    return Err(SpecError::NotFound {
                        path: file,
                        hint: format!(
                            " ({set_by}{} is not installed: scripts/fetch-model.sh {} installs it)",
                            entry.name, entry.name
                        ),
                    }
                    .into());
                }
                ModelSpec::Gguf {
                    dir: models_dir.clone(),
                    file: entry.run_file().to_string(),
                }
            }
            None => {
                let looks_like_name = !setting.contains(['/', '\\', '.'])
                    || Catalogue::builtin().closest(setting).is_some()
                        && !setting.to_ascii_lowercase().ends_with(".gguf");
                let hint = if looks_like_name {
                    format!(" ({set_by}{})", catalogue::suggestion(setting))
                } else {
                    format!(
                        " ({set_by}`lore models list` shows the catalogue and the models in {})",
                        models_dir.display()
                    )
                };
                crate::engine::spec::resolve(setting, &models_dir, &hint)?
            }
        };
        let context = match s.model.context {
            0 => entry
                .or_else(|| spec_entry(&spec))
                .map(|e| e.settings.context as usize),
            n => Some(n as usize),
        };
        let opts = LoadOptions {
            force_cpu: s.model.cpu,
            chat_template: Some(&s.model.chat_template)
                .filter(|t| !t.is_empty())
                .map(PathBuf::from),
            verbose: self.verbose,
            context,
        };
        Ok((spec, opts))
    }

    /// Makes a catalogue model's converted file from the file as published,
    /// on first use (SmolLM2's Q4_1 becomes Q8_0, since candle's CPU kernels
    /// are fastest on Q8_0).
    pub fn prepare_model(&self, setting: &str, progress: &dyn Progress) -> Result<(), ModelError> {
        let Some(entry) = catalogue_entry(setting) else {
            return Ok(());
        };
        let Some(convert) = &entry.convert else {
            return Ok(());
        };
        let models_dir = self.settings.settings.models_dir();
        let target = models_dir.join(&convert.file);
        let source = models_dir.join(&entry.file);
        if target.exists() || !source.exists() {
            return Ok(());
        }
        let load_err = |message: String| ModelError::Load {
            path: source.display().to_string(),
            message,
        };
        let quant = QuantType::parse(&convert.to).ok_or_else(|| {
            load_err(format!(
                "the catalogue names an unknown type {}",
                convert.to
            ))
        })?;
        let only = gguf::parse_types(&convert.types).map_err(load_err)?;
        progress.note(&format!(
            "preparing {} once: {} -> {}",
            entry.name,
            source.display(),
            quant.name()
        ));
        quantize(&source, &target, quant, Some(&only), false, progress)
            .map_err(|e| load_err(format!("cannot make {}: {e}", target.display())))
    }

    /// The configured model's first-use conversion, if any.
    pub fn prepare_default_model(&self, progress: &dyn Progress) -> Result<(), ModelError> {
        self.prepare_model(&self.settings.settings.model.path, progress)
    }

    /// Loads the configured model (making the default model first when
    /// needed).
    /// With `model.endpoint` set, connects to that server instead.
    pub async fn load_model(&self, progress: &dyn Progress) -> Result<Model, ModelError> {
        if let Some(opts) = self.remote_options()? {
            progress.start(&format!("connecting to {}", opts.endpoint), 0);
            let result = RemoteModel::connect(&opts).await;
            progress.finish();
            return Ok(Arc::new(result?));
        }
        Ok(Arc::new(self.load_engine(progress).await?))
    }

    /// Loads the configured local model (`lore serve` needs the engine
    /// itself, not only the model interface).
    pub async fn load_engine(&self, progress: &dyn Progress) -> Result<Engine, ModelError> {
        self.prepare_default_model(progress)?;
        let (spec, opts) = self.resolve_model(&self.settings.settings.model.path)?;
        progress.start(&format!("loading {}", spec.name()), 0);
        let result = Engine::load(&spec, &opts).await;
        progress.finish();
        result
    }

    /// The remote engine's settings, when `model.endpoint` names one.
    pub fn remote_options(&self) -> Result<Option<RemoteOptions>, ModelError> {
        let m = &self.settings.settings.model;
        let endpoint = m.endpoint.trim();
        if endpoint.is_empty() {
            return Ok(None);
        }
        let api_key = match m.api_key_env.trim() {
            "" => None,
            var => Some(std::env::var(var).map_err(|_| {
                ModelError::Spec(format!(
                    "model.api_key_env names {var}, which is not set in the environment"
                ))
            })?),
        };
        Ok(Some(RemoteOptions {
            endpoint: endpoint.to_string(),
            api_key,
            model: Some(m.remote_model.trim())
                .filter(|s| !s.is_empty())
                .map(str::to_string),
            context: (m.context > 0).then_some(m.context as usize),
            timeout: std::time::Duration::from_secs(m.timeout_s.max(1)),
        }))
    }

    /// `/model SPEC` in the chat: resolves now, loads in the background,
    /// never prints (the screen is the TUI's).
    pub fn model_loader(&self) -> LoadModel {
        let root = Root {
            verbose: false,
            ..self.clone()
        };
        Arc::new(move |setting: &str| {
            // The configured model is the remote engine when one is set;
            // `/model NAME` still loads a local one.
            let remote = root.remote_options().map_err(|e| e.to_string())?;
            if let Some(opts) = remote.filter(|_| setting == root.settings.settings.model.path) {
                let load = async move {
                    RemoteModel::connect(&opts)
                        .await
                        .map(|m| Arc::new(m) as Model)
                        .map_err(|e| e.to_string())
                };
                return Ok(PendingLoad {
                    name: root.settings.settings.model.endpoint.clone(),
                    load: Box::pin(load),
                });
            }
            root.prepare_model(setting, &Silent)
                .map_err(|e| e.to_string())?;
            let (spec, opts) = root.resolve_model(setting).map_err(|e| e.to_string())?;
            let name = spec.name();
            let load = async move {
                Engine::load(&spec, &opts)
                    .await
                    .map(|e| Arc::new(e) as Model)
                    .map_err(|e| e.to_string())
            };
            Ok(PendingLoad {
                name,
                load: Box::pin(load),
            })
        })
    }

    /// `/index NAME` in the chat.
    pub fn index_opener(&self) -> OpenIndex {
        let root = self.settings.settings.indexes_dir();
        let app = self.clone();
        Arc::new(move |name: &str| {
            let mut idx = KnowledgeIndex::open(&root, name, false).map_err(|e| e.to_string())?;
            // The TUI owns the screen: a model that cannot be loaded
            // leaves the search lexical without a word on stderr.
            app.prepare_search(&mut idx, None, &crate::progress::Silent)
                .map_err(|e| e.message)?;
            Ok(idx)
        })
    }

    /// `lore ask` over `index` (none with `--no-index`).
    pub fn ask(&self, index: Option<KnowledgeIndex>) -> Result<Ask, AppError> {
        Ok(Ask {
            retrieval: self.retrieval(index)?,
            prompt: TemplatePrompt::qa(self.template("qa")?),
            not_found: self.settings.settings.retrieval.not_found.clone(),
            params: self.gen_params()?,
        })
    }

    /// The `[support]` settings as the agent's policy.
    pub fn support_policy(&self) -> SupportPolicy {
        let s = &self.settings.settings.support;
        SupportPolicy {
            persona: Persona {
                company: s.company.clone(),
                tone: s.tone.clone(),
                may_promise: s.may_promise.clone(),
                must_not_promise: s.must_not_promise.clone(),
                languages: s.languages.clone(),
            },
            greeting: s.greeting.clone(),
            not_found: s.not_found.clone(),
            handover_message: s.handover_message.clone(),
            handover: HandoverRules {
                negative_turns: s.handover_negative_turns as usize,
                not_found_turns: s.handover_not_found_turns as usize,
            },
            strict: s.strict,
        }
    }

    /// The intent and sentiment classifier of support turns.
    pub fn turn_classifier(&self) -> Result<TurnClassifier, AppError> {
        let s = &self.settings.settings.support;
        let intents = classify::labels_from_list(&s.intents)
            .map_err(|e| AppError::usage(format!("support.intents: {e}")))?;
        let (it, ifrom) = examples(&s.intent_examples, support::INTENT_EXAMPLES, "intent")?;
        let (st, sfrom) = examples(
            &s.sentiment_examples,
            support::SENTIMENT_EXAMPLES,
            "sentiment",
        )?;
        TurnClassifier::new(
            intents,
            (&it, &ifrom),
            (&st, &sfrom),
            self.template("classify")?,
        )
        .map_err(|e| AppError::usage(e.to_string()))
    }

    pub fn tickets(&self) -> TicketStore {
        TicketStore {
            dir: self.settings.settings.tickets_dir(),
        }
    }

    pub fn sessions(&self) -> Store {
        Store::new(self.settings.settings.sessions_dir())
    }

    /// Support mode's persona, classifier and ticket store.
    pub fn support_parts(&self) -> Result<SupportParts, AppError> {
        let policy = self.support_policy();
        Ok(SupportParts {
            prompt: policy.prompt(self.template("support")?),
            policy,
            classifier: Arc::new(self.turn_classifier()?),
            tickets: self.tickets(),
        })
    }

    /// The support agent over `index`, answering with `model`.
    pub fn agent(&self, model: Model, index: Option<KnowledgeIndex>) -> Result<Agent, AppError> {
        let parts = self.support_parts()?;
        Ok(Agent {
            model,
            retrieval: self.retrieval(index)?,
            prompt: parts.prompt,
            policy: parts.policy,
            classifier: parts.classifier,
            params: self.gen_params()?,
        })
    }

    /// The conversation service's parts. Support turns use the support
    /// policy's not-found reply; the others use `retrieval.not_found`.
    pub fn services(
        &self,
        model: FirstModel,
        index: Option<KnowledgeIndex>,
    ) -> Result<Services, AppError> {
        Ok(Services {
            model,
            load_model: self.model_loader(),
            open_index: self.index_opener(),
            retrieval: self.retrieval(index)?,
            qa: self.template("qa")?,
            not_found: self.settings.settings.retrieval.not_found.clone(),
            params: self.gen_params()?,
            support: Some(self.support_parts()?),
        })
    }
}

/// The catalogue entry a model setting names: by name, or by the file
/// it points at.
pub fn catalogue_entry(setting: &str) -> Option<&'static catalogue::Entry> {
    let catalogue = Catalogue::builtin();
    let setting = setting.trim();
    catalogue.get(setting).or_else(|| {
        let file = Path::new(setting).file_name()?.to_str()?;
        catalogue.by_file(file)
    })
}

fn spec_entry(spec: &ModelSpec) -> Option<&'static catalogue::Entry> {
    match spec {
        ModelSpec::Gguf { file, .. } => Catalogue::builtin().by_file(file),
        _ => None,
    }
}

/// Re-quantizes a GGUF file (only the matrices of the types in `only`,
/// when given), reporting tensors done.
pub fn quantize(
    input: &Path,
    output: &Path,
    quant: QuantType,
    only: Option<&[gguf::TensorType]>,
    force: bool,
    progress: &dyn Progress,
) -> Result<(), gguf::ModelFileError> {
    let started = std::time::Instant::now();
    progress.start("quantizing", 0);
    let result = gguf::quantize(input, output, quant, only, force, |done, total| {
        progress.advance(done as u64, total as u64)
    });
    progress.finish();
    result?;
    let size = std::fs::metadata(output).map(|m| m.len()).unwrap_or(0);
    progress.note(&format!(
        "wrote {} ({}, {:.1} MB) in {:.1} s",
        output.display(),
        quant.name(),
        size as f64 / 1e6,
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// Labelled examples from a settings file, or the built-in ones.
fn examples(
    setting: &str,
    builtin: &'static str,
    name: &str,
) -> Result<(String, String), AppError> {
    if setting.is_empty() {
        return Ok((builtin.to_string(), format!("built-in {name} examples")));
    }
    let text = std::fs::read_to_string(setting).map_err(|e| {
        AppError::usage(format!(
            "cannot read support.{name}_examples {setting}: {e}"
        ))
    })?;
    Ok((text, setting.to_string()))
}
