//! Layered settings: built-in defaults < user file < project file < `LORE_*`
//! environment < command-line flags.
//!
//! Each layer is read on its own first, so that `lore config show` can say
//! which layer a value came from and unknown keys can be reported with the
//! file that holds them. The merged result is then deserialized once into
//! [`Settings`]; a type error names the layer, the key and the expected type.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use serde::{Deserialize, Serialize};

/// The documented defaults, embedded so the binary needs no file on disk.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// Name of the project settings file looked up in the current directory.
pub const PROJECT_FILE: &str = "lore.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Settings {
    pub models_dir: String,
    pub model: ModelSettings,
    pub generation: GenerationSettings,
    pub output: OutputSettings,
    pub index: IndexSettings,
    pub prompts: PromptSettings,
    pub retrieval: RetrievalSettings,
    pub grounding: GroundingSettings,
    pub classify: ClassifySettings,
    pub chat: ChatSettings,
    pub support: SupportSettings,
    pub agent: AgentSettings,
    pub serve: ServeSettings,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServeSettings {
    pub listen: String,
    pub api_key_env: String,
    pub parallel: u32,
    pub max_queue: u32,
    pub max_body_kb: u64,
    pub grace_s: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentSettings {
    /// 0: by model size.
    pub max_steps: u32,
    pub tool_format: crate::agent::ToolChoiceSetting,
    /// "": read-only in pipes, ask in the TUI.
    pub mode: String,
    /// Command prefixes that run without asking (while sandboxed).
    pub allow: Vec<String>,
    /// Command prefixes that never run, in any mode.
    pub deny: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SupportSettings {
    pub company: String,
    pub tone: String,
    pub may_promise: String,
    pub must_not_promise: String,
    pub languages: String,
    pub greeting: String,
    pub not_found: String,
    pub handover_message: String,
    pub handover_negative_turns: u32,
    pub handover_not_found_turns: u32,
    pub strict: bool,
    pub intents: String,
    pub intent_examples: String,
    pub sentiment_examples: String,
    pub tickets_dir: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChatSettings {
    pub mode: String,
    pub mouse: bool,
    pub sessions_dir: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PromptSettings {
    pub dir: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexSettings {
    pub dir: String,
    pub name: String,
    pub chunk_tokens: u32,
    pub chunk_overlap: u32,
    pub max_file_mb: u64,
    pub sample_on_empty: bool,
    pub embeddings: bool,
    pub embedding_model: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GroundingSettings {
    pub strict: bool,
    pub citations: crate::tasks::policy::Citations,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RetrievalSettings {
    pub top_k: u32,
    pub min_score: f64,
    pub min_coverage: f64,
    pub not_found: String,
    pub mode: String,
    pub min_similarity: f64,
    pub fusion: String,
    pub fusion_k: f64,
    pub lexical_weight: f64,
    pub dense_weight: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClassifySettings {
    pub concurrency: u32,
    pub shots: u32,
    pub max_item_tokens: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelSettings {
    pub path: String,
    pub cpu: bool,
    pub chat_template: String,
    pub context: u32,
    pub endpoint: String,
    pub api_key_env: String,
    pub remote_model: String,
    pub timeout_s: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GenerationSettings {
    pub max_tokens: u32,
    pub temperature: f64,
    pub top_p: f64,
    pub repeat_penalty: f64,
    pub system: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutputSettings {
    pub format: OutputFormat,
}

pub use crate::output::OutputFormat;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("invalid settings in {layer}: {message}")]
    Invalid { layer: String, message: String },
    #[error("cannot read settings file {path}: {message}")]
    Read { path: PathBuf, message: String },
}

/// Where settings come from. [`Sources::discover`] fills it from the process
/// environment; tests build it by hand.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub user_file: Option<PathBuf>,
    pub project_file: Option<PathBuf>,
    /// `None` reads the process environment.
    pub env: Option<HashMap<String, String>>,
    /// Values from command-line flags: (dotted key, value, flag name).
    pub flags: Vec<(String, FlagValue, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FlagValue {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
}

impl Sources {
    /// The standard locations: the user file under `$XDG_CONFIG_HOME` and
    /// `./lore.toml`; both are optional.
    pub fn discover() -> Sources {
        Sources {
            user_file: Some(user_config_dir().join("config.toml")),
            project_file: Some(PathBuf::from(PROJECT_FILE)),
            env: None,
            flags: Vec::new(),
        }
    }

    pub fn flag(&mut self, key: &str, value: FlagValue, flag: &str) {
        self.flags.push((key.to_string(), value, flag.to_string()));
    }
}

/// One settings layer, flattened to dotted keys.
#[derive(Debug, Clone)]
pub struct Layer {
    /// Shown to people: "default", "user file /x/config.toml", "env", "flags".
    pub name: String,
    pub values: BTreeMap<String, serde_json::Value>,
    /// For env and flag layers: the variable or flag that set each key.
    pub setters: BTreeMap<String, String>,
}

/// The merged settings with everything needed to explain them.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub settings: Settings,
    pub layers: Vec<Layer>,
    pub warnings: Vec<String>,
    /// Files consulted, with whether each exists.
    pub files: Vec<(PathBuf, bool)>,
}

impl Loaded {
    /// The layer that gave `key` its effective value, as shown to people.
    pub fn origin(&self, key: &str) -> String {
        self.layers
            .iter()
            .rev()
            .find(|l| l.values.contains_key(key))
            .map(|l| match l.setters.get(key) {
                Some(setter) => format!("{} {}", l.name, setter),
                None => l.name.clone(),
            })
            .unwrap_or_else(|| "default".to_string())
    }

    /// Puts `layer` right above the built-in defaults, so that every file,
    /// variable and flag still wins over it: the model catalogue's
    /// per-model settings.
    pub fn with_defaults_layer(&self, layer: Layer) -> Result<Loaded, SettingsError> {
        let mut layers = self.layers.clone();
        layers.retain(|l| l.name != layer.name);
        layers.insert(1, layer);
        Ok(Loaded {
            settings: merge(&layers)?,
            layers,
            warnings: self.warnings.clone(),
            files: self.files.clone(),
        })
    }

    /// Effective values flattened to dotted keys, in key order.
    pub fn effective(&self) -> BTreeMap<String, serde_json::Value> {
        let mut out = BTreeMap::new();
        let json = serde_json::to_value(&self.settings).unwrap_or_default();
        flatten("", &json, &mut out);
        out
    }
}

/// `$XDG_CONFIG_HOME/lore`, falling back to `~/.config/lore`, the usual home
/// of command-line tools' settings on every Unix including macOS.
pub fn user_config_dir() -> PathBuf {
    xdg_dir("XDG_CONFIG_HOME", ".config").join("lore")
}

/// `$XDG_DATA_HOME/lore`, falling back to `~/.local/share/lore`.
pub fn user_data_dir() -> PathBuf {
    xdg_dir("XDG_DATA_HOME", ".local/share").join("lore")
}

fn xdg_dir(var: &str, fallback: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => directories::BaseDirs::new()
            .map(|b| b.home_dir().join(fallback))
            .unwrap_or_else(|| PathBuf::from(fallback)),
    }
}

/// A directory setting: its value, or `default` when empty.
fn dir_or(setting: &str, default: impl FnOnce() -> PathBuf) -> PathBuf {
    if setting.is_empty() {
        default()
    } else {
        PathBuf::from(setting)
    }
}

impl Settings {
    /// The user's prompt templates directory with its default applied.
    pub fn prompts_dir(&self) -> PathBuf {
        dir_or(&self.prompts.dir, || user_config_dir().join("prompts"))
    }

    /// The indexes directory with its default applied.
    pub fn indexes_dir(&self) -> PathBuf {
        dir_or(&self.index.dir, || user_data_dir().join("indexes"))
    }

    /// Where `lore support` writes tickets.
    pub fn tickets_dir(&self) -> PathBuf {
        dir_or(&self.support.tickets_dir, || {
            user_data_dir().join("tickets")
        })
    }

    /// Where `lore chat` saves conversations.
    pub fn sessions_dir(&self) -> PathBuf {
        dir_or(&self.chat.sessions_dir, || user_data_dir().join("sessions"))
    }

    /// The models directory with its default applied.
    pub fn models_dir(&self) -> PathBuf {
        dir_or(&self.models_dir, || user_data_dir().join("models"))
    }
}

/// Reads and merges every layer.
pub fn load(sources: &Sources) -> Result<Loaded, SettingsError> {
    let mut files = Vec::new();
    let mut layers = vec![default_layer()?];
    for (label, path) in [
        ("user file", &sources.user_file),
        ("project file", &sources.project_file),
    ] {
        let Some(path) = path else { continue };
        let exists = settings_file_exists(path)?;
        files.push((path.clone(), exists));
        if exists {
            layers.push(file_layer(label, path)?);
        }
    }
    let env = env_layer(sources.env.as_ref(), &layers[0])?;
    layers.push(env);
    layers.push(flag_layer(&sources.flags));
    let warnings = unknown_keys(&layers);
    let settings = merge(&layers)?;
    Ok(Loaded {
        settings,
        layers,
        warnings,
        files,
    })
}

/// The built-in defaults ([`DEFAULT_TOML`]): also the list of known keys
/// and their types.
fn default_layer() -> Result<Layer, SettingsError> {
    let default = Config::builder()
        .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
        .build()
        .map_err(|e| invalid("built-in defaults", e))?;
    layer_from("default", &default)
}

/// Whether the optional settings file `path` is there. Only a missing file
/// (or a missing directory above it) counts as absent: a directory in its
/// place, or one that cannot be looked at, is an error rather than
/// settings silently ignored.
fn settings_file_exists(path: &Path) -> Result<bool, SettingsError> {
    let read_err = |message: String| SettingsError::Read {
        path: path.to_path_buf(),
        message,
    };
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(read_err("it is a directory, not a file".into())),
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(read_err(e.to_string())),
    }
}

/// A settings file that exists: the user file or the project file, named
/// `label`.
fn file_layer(label: &str, path: &Path) -> Result<Layer, SettingsError> {
    let text = std::fs::read_to_string(path).map_err(|e| SettingsError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let name = format!("{label} {}", path.display());
    // The config crate's TOML errors span several lines (a source excerpt
    // with a caret); parsing first gives one line with the position.
    if let Err(e) = toml::from_str::<toml::Table>(&text) {
        return Err(SettingsError::Invalid {
            layer: name,
            message: toml_error_line(&text, &e),
        });
    }
    let config = Config::builder()
        .add_source(File::from_str(&text, FileFormat::Toml))
        .build()
        .map_err(|e| invalid(&name, e))?;
    layer_from(&name, &config)
}

/// `TOML syntax error at line L, column C: message`, on one line.
fn toml_error_line(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let mut start = span.start.min(text.len());
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let before = &text[..start];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            format!("TOML syntax error at line {line}, column {column}: {message}")
        }
        None => format!("TOML syntax error: {message}"),
    }
}

/// `LORE_SECTION__KEY` variables, from `vars` or else the process
/// environment.
fn env_layer(
    vars: Option<&HashMap<String, String>>,
    defaults: &Layer,
) -> Result<Layer, SettingsError> {
    let env_vars: HashMap<String, String> = match vars {
        Some(map) => map.clone(),
        None => std::env::vars().collect(),
    };
    let lore_vars: HashMap<String, String> = env_vars
        .into_iter()
        .filter(|(k, _)| k.starts_with("LORE_"))
        .collect();
    let env = Config::builder()
        .add_source(
            Environment::with_prefix("LORE")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(lore_vars.clone())),
        )
        .build()
        .map_err(|e| invalid("environment", e))?;
    let mut env_layer = layer_from("env", &env)?;
    let raw: HashMap<String, &String> = lore_vars
        .iter()
        .map(|(var, value)| (env_key(var), value))
        .collect();
    // Environment values are parsed as numbers or booleans where they look
    // like one. A string setting such as model.path must still take the
    // text as written ("007", "1e5", "true"), and a value that parses to
    // no JSON number ("nan", "inf") stays text so that an error can show
    // it.
    for (key, value) in env_layer.values.iter_mut() {
        let Some(text) = raw.get(key) else { continue };
        let string_key = matches!(defaults.values.get(key), Some(serde_json::Value::String(_)));
        if string_key || value.is_null() {
            *value = serde_json::Value::String(text.to_string());
        }
    }
    for var in lore_vars.keys() {
        env_layer.setters.insert(env_key(var), var.clone());
    }
    Ok(env_layer)
}

/// The dotted key of a `LORE_SECTION__KEY` variable.
fn env_key(var: &str) -> String {
    var["LORE_".len()..].to_lowercase().replace("__", ".")
}

/// Values from command-line flags.
fn flag_layer(flags: &[(String, FlagValue, String)]) -> Layer {
    let mut flag_layer = Layer {
        name: "flag".into(),
        values: BTreeMap::new(),
        setters: BTreeMap::new(),
    };
    for (key, value, flag) in flags {
        let json = match value {
            FlagValue::Str(s) => serde_json::Value::from(s.clone()),
            FlagValue::Int(i) => serde_json::Value::from(*i),
            FlagValue::Float(f) => serde_json::Value::from(*f),
            FlagValue::Bool(b) => serde_json::Value::from(*b),
        };
        flag_layer.values.insert(key.clone(), json);
        flag_layer.setters.insert(key.clone(), flag.clone());
    }
    flag_layer
}

/// A warning for each key of a layer above the defaults that the defaults
/// do not have.
fn unknown_keys(layers: &[Layer]) -> Vec<String> {
    let known = &layers[0].values;
    let mut warnings = Vec::new();
    for layer in &layers[1..] {
        for key in layer.values.keys() {
            if !known.contains_key(key) {
                let what = match layer.setters.get(key) {
                    Some(setter) => format!("{} {setter}", layer.name),
                    None => layer.name.clone(),
                };
                warnings.push(format!("unknown settings key '{key}' in {what} (ignored)"));
            }
        }
    }
    warnings
}

/// The known keys of `layers`, later layers winning, as [`Settings`].
fn merge(layers: &[Layer]) -> Result<Settings, SettingsError> {
    let known = &layers[0].values;
    // Type errors are found layer by layer so the message can name the file.
    let mut merged = serde_json::Value::Object(Default::default());
    for layer in layers {
        for (key, value) in &layer.values {
            if known.contains_key(key) {
                set_dotted(&mut merged, key, value.clone());
            }
        }
        let checked: Result<Settings, _> = serde_json::from_value(merged.clone());
        if let Err(e) = checked {
            if layer.name == "default" {
                continue;
            }
            return Err(type_error(&layers[0], layer, &e));
        }
    }
    serde_json::from_value(merged).map_err(|e| SettingsError::Invalid {
        layer: "merged settings".into(),
        message: e.to_string(),
    })
}

/// Explains `e`, found once `layer` was merged: the first key of `layer`
/// that breaks the defaults on its own, and what it should have been.
fn type_error(defaults: &Layer, layer: &Layer, e: &serde_json::Error) -> SettingsError {
    let key = layer
        .values
        .keys()
        .find(|k| {
            let mut probe = defaults_only(defaults);
            set_dotted(&mut probe, k, layer.values[*k].clone());
            serde_json::from_value::<Settings>(probe).is_err()
        })
        .cloned()
        .unwrap_or_default();
    let setter = layer
        .setters
        .get(&key)
        .map(|s| format!(" {s}"))
        .unwrap_or_default();
    let default = &defaults.values[&key];
    let found = &layer.values[&key];
    let message = if same_kind(default, found) {
        format!("invalid value {} for key '{key}': {e}", describe(found))
    } else {
        format!(
            "key '{key}' must be {}, found {}",
            expected_type(default),
            describe(found)
        )
    };
    SettingsError::Invalid {
        layer: format!("{}{setter}", layer.name),
        message,
    }
}

fn defaults_only(layer: &Layer) -> serde_json::Value {
    let mut v = serde_json::Value::Object(Default::default());
    for (k, val) in &layer.values {
        set_dotted(&mut v, k, val.clone());
    }
    v
}

fn same_kind(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn expected_type(default: &serde_json::Value) -> &'static str {
    match default {
        serde_json::Value::Bool(_) => "a boolean (true or false)",
        serde_json::Value::Number(n) if n.is_f64() => "a number",
        serde_json::Value::Number(_) => "a non-negative integer",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a table",
        serde_json::Value::Null => "a value",
    }
}

fn describe(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => format!("string {s:?}"),
        other => other.to_string(),
    }
}

fn invalid(layer: &str, e: config::ConfigError) -> SettingsError {
    SettingsError::Invalid {
        layer: layer.to_string(),
        message: e.to_string(),
    }
}

fn layer_from(name: &str, config: &Config) -> Result<Layer, SettingsError> {
    let json: serde_json::Value = config
        .clone()
        .try_deserialize()
        .map_err(|e| invalid(name, e))?;
    let mut values = BTreeMap::new();
    flatten("", &json, &mut values);
    Ok(Layer {
        name: name.to_string(),
        values,
        setters: BTreeMap::new(),
    })
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, serde_json::Value>) {
    match v {
        serde_json::Value::Object(map) => {
            for (k, child) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, child, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

fn set_dotted(root: &mut serde_json::Value, key: &str, value: serde_json::Value) {
    let mut node = root;
    let parts: Vec<&str> = key.split('.').collect();
    for (i, part) in parts.iter().enumerate() {
        let map = match node {
            serde_json::Value::Object(map) => map,
            _ => return,
        };
        if i == parts.len() - 1 {
            // Numbers from the environment arrive as integers; a float
            // setting such as temperature must accept them.
            map.insert(part.to_string(), value);
            return;
        }
        node = map
            .entry(part.to_string())
            .or_insert_with(|| serde_json::Value::Object(Default::default()));
    }
}

/// Renders the effective settings as `key = value  # origin` lines.
pub fn render_show(loaded: &Loaded) -> String {
    let mut out = String::new();
    let effective = loaded.effective();
    let width = effective.keys().map(|k| k.len()).max().unwrap_or(0);
    for (key, value) in &effective {
        let value = value.to_string();
        out.push_str(&format!(
            "{key:<width$} = {value}  # {}\n",
            loaded.origin(key)
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn sources(dir: &Path) -> Sources {
        Sources {
            user_file: Some(dir.join("user.toml")),
            project_file: Some(dir.join("lore.toml")),
            env: Some(HashMap::new()),
            flags: Vec::new(),
        }
    }

    #[test]
    fn defaults_parse_and_every_key_is_documented() {
        let dir = tempfile::tempdir().unwrap();
        let loaded = load(&sources(dir.path())).unwrap();
        assert_eq!(loaded.settings.generation.max_tokens, 512);
        assert!(loaded.warnings.is_empty());
        for key in loaded.effective().keys() {
            let leaf = key.rsplit('.').next().unwrap();
            let line = DEFAULT_TOML
                .lines()
                .position(|l| l.starts_with(&format!("{leaf} =")))
                .unwrap_or_else(|| panic!("{key} missing from default.toml"));
            let above = DEFAULT_TOML.lines().nth(line - 1).unwrap();
            assert!(above.starts_with('#'), "{key} has no comment above it");
        }
    }

    #[test]
    fn precedence_default_user_project_env_flag() {
        let dir = tempfile::tempdir().unwrap();
        let mut src = sources(dir.path());
        let origin = |src: &Sources| {
            let l = load(src).unwrap();
            (
                l.settings.generation.max_tokens,
                l.origin("generation.max_tokens"),
            )
        };
        assert_eq!(origin(&src), (512, "default".to_string()));
        std::fs::write(
            dir.path().join("user.toml"),
            "[generation]\nmax_tokens = 1\n",
        )
        .unwrap();
        assert_eq!(origin(&src).0, 1);
        assert!(origin(&src).1.starts_with("user file"));
        std::fs::write(
            dir.path().join("lore.toml"),
            "[generation]\nmax_tokens = 2\n",
        )
        .unwrap();
        assert_eq!(origin(&src).0, 2);
        assert!(origin(&src).1.starts_with("project file"));
        src.env = Some(HashMap::from([(
            "LORE_GENERATION__MAX_TOKENS".to_string(),
            "3".to_string(),
        )]));
        assert_eq!(
            origin(&src),
            (3, "env LORE_GENERATION__MAX_TOKENS".to_string())
        );
        src.flag("generation.max_tokens", FlagValue::Int(4), "--max-tokens");
        assert_eq!(origin(&src), (4, "flag --max-tokens".to_string()));
    }

    #[test]
    fn env_integer_is_accepted_for_float_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut src = sources(dir.path());
        src.env = Some(HashMap::from([(
            "LORE_GENERATION__TEMPERATURE".to_string(),
            "0".to_string(),
        )]));
        assert_eq!(load(&src).unwrap().settings.generation.temperature, 0.0);
    }

    #[test]
    fn unknown_key_is_a_warning_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("lore.toml"),
            "[generation]\nmax_tokenz = 1\n",
        )
        .unwrap();
        let loaded = load(&sources(dir.path())).unwrap();
        assert_eq!(loaded.warnings.len(), 1);
        assert!(loaded.warnings[0].contains("generation.max_tokenz"));
        assert!(loaded.warnings[0].contains("lore.toml"));
    }

    #[test]
    fn wrong_type_names_file_key_and_type() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("user.toml"),
            "[generation]\nmax_tokens = \"many\"\n",
        )
        .unwrap();
        let err = load(&sources(dir.path())).unwrap_err().to_string();
        assert!(err.contains("user.toml"), "{err}");
        assert!(err.contains("generation.max_tokens"), "{err}");
        assert!(err.contains("integer"), "{err}");
    }

    #[test]
    fn bad_enum_value_says_what_is_allowed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lore.toml"), "[output]\nformat = \"xml\"\n").unwrap();
        let err = load(&sources(dir.path())).unwrap_err().to_string();
        assert!(
            err.contains("output.format") && err.contains("jsonl"),
            "{err}"
        );
    }

    #[test]
    fn numeric_env_value_for_string_key_stays_a_string() {
        let dir = tempfile::tempdir().unwrap();
        let mut src = sources(dir.path());
        src.env = Some(HashMap::from([(
            "LORE_MODEL__PATH".to_string(),
            "123".to_string(),
        )]));
        assert_eq!(load(&src).unwrap().settings.model.path, "123");
    }

    #[test]
    fn malformed_toml_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("lore.toml"), "[generation\n").unwrap();
        let err = load(&sources(dir.path())).unwrap_err().to_string();
        assert!(err.contains("lore.toml"), "{err}");
    }

    #[test]
    fn malformed_toml_is_one_line_with_the_position() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("user.toml"),
            "# é\n[generation]\nmax_tokens = 3\ntemperature = [\n",
        )
        .unwrap();
        let err = load(&sources(dir.path())).unwrap_err().to_string();
        assert!(
            err.starts_with("invalid settings in user file ")
                && err.contains("user.toml: TOML syntax error at line 4, column 16: "),
            "{err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }

    #[test]
    fn a_directory_in_place_of_a_settings_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("lore.toml")).unwrap();
        let err = load(&sources(dir.path())).unwrap_err().to_string();
        assert!(
            err.contains("lore.toml") && err.contains("is a directory"),
            "{err}"
        );
        // A missing directory above the file is only a missing file.
        let mut src = sources(dir.path());
        src.user_file = Some(dir.path().join("no/such/dir/config.toml"));
        src.project_file = None;
        assert!(load(&src).is_ok());
    }

    #[test]
    fn env_text_for_string_keys_is_kept_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut src = sources(dir.path());
        for text in ["007", "1e5", "true", "-0", " spaced ", "nan", "1.50"] {
            src.env = Some(HashMap::from([(
                "LORE_MODEL__PATH".to_string(),
                text.to_string(),
            )]));
            assert_eq!(load(&src).unwrap().settings.model.path, text);
        }
    }

    #[test]
    fn env_value_that_is_no_number_is_shown_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut src = sources(dir.path());
        for text in ["nan", "inf", "-infinity"] {
            src.env = Some(HashMap::from([(
                "LORE_GENERATION__TEMPERATURE".to_string(),
                text.to_string(),
            )]));
            let err = load(&src).unwrap_err().to_string();
            assert!(
                err.contains("env LORE_GENERATION__TEMPERATURE")
                    && err.contains("must be a number")
                    && err.contains(&format!("{text:?}")),
                "{err}"
            );
        }
    }

    /// A value of a settings key, as a layer writes it.
    #[derive(Debug, Clone)]
    enum Val {
        Int(u32),
        Float(f64),
        Bool(bool),
        Str(String),
    }

    /// (key, how to draw a value): a key of every type and section,
    /// including the top-level `models_dir`.
    fn draw(rng: &mut Rng, key: &str) -> Val {
        match key {
            "generation.max_tokens" | "retrieval.top_k" | "index.max_file_mb" => {
                Val::Int(rng.next_u64() as u32 >> rng.below(32))
            }
            // Floats written as integers too: files and the environment
            // give whole numbers as integers.
            "generation.temperature"
            | "generation.top_p"
            | "retrieval.min_score"
            | "retrieval.min_coverage" => {
                if rng.chance(30) {
                    Val::Int(rng.below(3) as u32)
                } else {
                    Val::Float((rng.unit() * 2000.0).round() / 1000.0)
                }
            }
            "model.cpu" | "chat.mouse" | "index.sample_on_empty" | "grounding.strict" => {
                Val::Bool(rng.chance(50))
            }
            "output.format" => Val::Str(rng.pick(&["text", "json", "jsonl"]).to_string()),
            _ => Val::Str(match rng.below(4) {
                0 => rng
                    .pick(&["007", "1e5", "true", "-1", "3.0", "", " x "])
                    .to_string(),
                // Environment variables cannot hold NUL.
                _ => rng.text(30).replace('\0', ""),
            }),
        }
    }

    const KEYS: &[&str] = &[
        "generation.max_tokens",
        "generation.temperature",
        "generation.top_p",
        "generation.system",
        "model.path",
        "model.cpu",
        "model.chat_template",
        "output.format",
        "retrieval.top_k",
        "retrieval.min_score",
        "retrieval.min_coverage",
        "retrieval.not_found",
        "grounding.strict",
        "index.max_file_mb",
        "index.sample_on_empty",
        "chat.mouse",
        "support.company",
        "models_dir",
    ];

    fn toml_value(v: &Val) -> toml::Value {
        match v {
            Val::Int(i) => toml::Value::Integer(i64::from(*i)),
            Val::Float(f) => toml::Value::Float(*f),
            Val::Bool(b) => toml::Value::Boolean(*b),
            Val::Str(s) => toml::Value::String(s.clone()),
        }
    }

    fn env_text(v: &Val) -> String {
        match v {
            Val::Int(i) => i.to_string(),
            // Display writes the shortest text that reads back the same.
            Val::Float(f) => f.to_string(),
            Val::Bool(b) => b.to_string(),
            Val::Str(s) => s.clone(),
        }
    }

    fn flag_value(v: &Val) -> FlagValue {
        match v {
            Val::Int(i) => FlagValue::Int(i64::from(*i)),
            Val::Float(f) => FlagValue::Float(*f),
            Val::Bool(b) => FlagValue::Bool(*b),
            Val::Str(s) => FlagValue::Str(s.clone()),
        }
    }

    fn same(v: &Val, effective: &serde_json::Value) -> bool {
        match v {
            Val::Int(i) => effective.as_f64() == Some(f64::from(*i)),
            Val::Float(f) => effective.as_f64() == Some(*f),
            Val::Bool(b) => effective.as_bool() == Some(*b),
            Val::Str(s) => effective.as_str() == Some(s.as_str()),
        }
    }

    /// Cases of [`later_layers_win_for_every_key`].
    const LAYER_CASES: usize = 150;

    use crate::testrng::Rng;

    #[test]
    fn later_layers_win_for_every_key() {
        // Random contents for the user file, the project file, the
        // environment and the flags: each key is set by any subset of the
        // layers, and the effective value and its origin must be those of
        // the last layer that set it, whichever ones those are.
        let dir = tempfile::tempdir().unwrap();
        let defaults = load(&sources(dir.path())).unwrap().effective();
        let mut rng = Rng::new(18);
        for case in 0..LAYER_CASES {
            // (layer, key) -> value; layers 0 user, 1 project, 2 env, 3 flag.
            let mut set: Vec<Vec<Option<Val>>> = vec![vec![None; KEYS.len()]; 4];
            for layer in set.iter_mut() {
                for (k, slot) in layer.iter_mut().enumerate() {
                    if rng.chance(35) {
                        *slot = Some(draw(&mut rng, KEYS[k]));
                    }
                }
            }
            let mut src = sources(dir.path());
            for (layer, file) in [(0, "user.toml"), (1, "lore.toml")] {
                let mut table = toml::Table::new();
                for (k, v) in set[layer].iter().enumerate() {
                    let Some(v) = v else { continue };
                    match KEYS[k].split_once('.') {
                        Some((section, leaf)) => {
                            table
                                .entry(section)
                                .or_insert_with(|| toml::Value::Table(Default::default()))
                                .as_table_mut()
                                .unwrap()
                                .insert(leaf.to_string(), toml_value(v));
                        }
                        None => {
                            table.insert(KEYS[k].to_string(), toml_value(v));
                        }
                    }
                }
                let text = toml::to_string(&table).unwrap();
                // Top-level keys must come before any table in TOML;
                // toml::to_string writes them first.
                std::fs::write(dir.path().join(file), text).unwrap();
            }
            let mut env = HashMap::new();
            for (k, v) in set[2].iter().enumerate() {
                if let Some(v) = v {
                    let var = format!("LORE_{}", KEYS[k].to_uppercase().replace('.', "__"));
                    env.insert(var, env_text(v));
                }
            }
            src.env = Some(env);
            for (k, v) in set[3].iter().enumerate() {
                if let Some(v) = v {
                    src.flag(KEYS[k], flag_value(v), &format!("--flag-{k}"));
                }
            }
            let loaded = load(&src).unwrap_or_else(|e| panic!("case {case}: {e}\n{set:?}"));
            let effective = loaded.effective();
            for (k, key) in KEYS.iter().enumerate() {
                let last = (0..4).rev().find(|&l| set[l][k].is_some());
                let origin = loaded.origin(key);
                match last {
                    Some(l) => {
                        let v = set[l][k].as_ref().unwrap();
                        assert!(
                            same(v, &effective[*key]),
                            "case {case}: {key} is {} but layer {l} set {v:?}",
                            effective[*key]
                        );
                        let want = ["user file", "project file", "env LORE_", "flag --flag-"][l];
                        assert!(
                            origin.starts_with(want),
                            "case {case}: {key} from {origin:?}, expected {want}"
                        );
                    }
                    None => {
                        assert_eq!(effective[*key], defaults[*key], "case {case}: {key}");
                        assert_eq!(origin, "default", "case {case}: {key}");
                    }
                }
            }
            assert!(
                loaded.warnings.is_empty(),
                "case {case}: {:?}",
                loaded.warnings
            );
        }
    }
}
