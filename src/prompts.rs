//! Prompt templates: minijinja files with a small front matter, embedded in
//! the binary and overridable by name from the user's prompts directory.
//!
//! ```text
//! ---
//! description: one line for `lore prompts list`
//! system: the system prompt
//! choices: a, b, c          (optional: the reply must be one of these)
//! schema: entities          (optional: the reply must match a JSON schema)
//! ---
//! The user message, with {{ input }} and any --var key=value.
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Built-in templates, from `prompts/`.
const BUILT_IN: &[(&str, &str)] = &[
    ("classify", include_str!("../prompts/classify.jinja")),
    ("extract", include_str!("../prompts/extract.jinja")),
    ("qa", include_str!("../prompts/qa.jinja")),
    ("sentiment", include_str!("../prompts/sentiment.jinja")),
    ("summarize", include_str!("../prompts/summarize.jinja")),
    ("support", include_str!("../prompts/support.jinja")),
    ("translate", include_str!("../prompts/translate.jinja")),
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PromptError {
    #[error("no prompt template named '{name}' (see `lore prompts list`)")]
    Unknown { name: String },
    #[error("{file}:{line}: {message}")]
    Template {
        file: String,
        line: usize,
        message: String,
    },
    #[error("cannot read prompt template {path}: {message}")]
    Read { path: PathBuf, message: String },
}

/// Where a template came from.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    BuiltIn,
    User(PathBuf),
}

impl Origin {
    /// The file name shown in error messages.
    fn file(&self, name: &str) -> String {
        match self {
            Origin::BuiltIn => format!("prompts/{name}.jinja (built-in)"),
            Origin::User(p) => p.display().to_string(),
        }
    }
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    pub name: String,
    pub origin: Origin,
    pub description: String,
    pub system: Option<String>,
    /// The reply must be exactly one of these.
    pub choices: Vec<String>,
    /// Name of a built-in JSON schema the reply must match.
    pub schema: Option<String>,
    /// The template body (after the front matter).
    pub body: String,
    /// Lines taken by the front matter, to report body errors by file line.
    body_line_offset: usize,
    /// The full file text, for `lore prompts show`.
    pub source: String,
}

/// What a template renders to.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub system: Option<String>,
    pub user: String,
    pub choices: Vec<String>,
    pub schema: Option<serde_json::Value>,
}

/// The JSON schemas that templates may name.
pub fn schema(name: &str) -> Option<serde_json::Value> {
    match name {
        "entities" => Some(serde_json::json!({
            "type": "object",
            "properties": {
                "entities": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "text": {"type": "string"},
                            "type": {"type": "string", "enum": ["person", "organization", "location", "date", "other"]}
                        },
                        "required": ["text", "type"],
                        "additionalProperties": false
                    }
                }
            },
            "required": ["entities"],
            "additionalProperties": false,
            // Without this llguidance lets the model pad with whitespace
            // until max_tokens.
            "x-guidance": {"whitespace_flexible": false}
        })),
        _ => None,
    }
}

/// Parses a template file.
pub fn parse(name: &str, origin: Origin, text: &str) -> Result<Template, PromptError> {
    let file = origin.file(name);
    let err = |line: usize, message: String| PromptError::Template {
        file: file.clone(),
        line,
        message,
    };
    let mut meta = BTreeMap::new();
    let (body, offset) = match text.strip_prefix("---\n") {
        Some(rest) => {
            let Some(end) = rest.find("\n---\n") else {
                return Err(err(
                    1,
                    "front matter opened with '---' is never closed".into(),
                ));
            };
            for (i, line) in rest[..end].lines().enumerate() {
                if line.trim().is_empty() || line.trim_start().starts_with('#') {
                    continue;
                }
                let Some((k, v)) = line.split_once(':') else {
                    return Err(err(i + 2, format!("expected 'key: value', found {line:?}")));
                };
                let key = k.trim().to_string();
                if !["description", "system", "choices", "schema"].contains(&key.as_str()) {
                    return Err(err(i + 2, format!("unknown front matter key '{key}' (known: description, system, choices, schema)")));
                }
                meta.insert(key, (i + 2, v.trim().to_string()));
            }
            let lines = rest[..end].lines().count() + 2;
            (&rest[end + 5..], lines)
        }
        None => (text, 0),
    };
    let schema = match meta.get("schema") {
        Some((line, s)) if schema(s).is_none() => {
            return Err(err(
                *line,
                format!("unknown schema '{s}' (known: entities)"),
            ));
        }
        Some((_, s)) => Some(s.clone()),
        None => None,
    };
    let template = Template {
        name: name.to_string(),
        description: meta
            .get("description")
            .map(|(_, v)| v.clone())
            .unwrap_or_default(),
        system: meta
            .get("system")
            .map(|(_, v)| v.clone())
            .filter(|s| !s.is_empty()),
        choices: meta
            .get("choices")
            .map(|(_, v)| {
                v.split(',')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        schema,
        body: body.to_string(),
        body_line_offset: offset,
        source: text.to_string(),
        origin,
    };
    // Compile once now so syntax errors surface with their line.
    template.environment()?;
    Ok(template)
}

impl Template {
    fn environment(&self) -> Result<minijinja::Environment<'static>, PromptError> {
        let mut env = minijinja::Environment::new();
        env.set_keep_trailing_newline(false);
        env.add_template_owned(self.name.clone(), self.body.clone())
            .map_err(|e| self.error(e))?;
        Ok(env)
    }

    fn error(&self, e: minijinja::Error) -> PromptError {
        PromptError::Template {
            file: self.origin.file(&self.name),
            line: e.line().unwrap_or(1) + self.body_line_offset,
            message: e
                .detail()
                .map(str::to_string)
                .unwrap_or_else(|| e.kind().to_string()),
        }
    }

    /// Renders the user message with `vars` (which hold `input`).
    pub fn render(&self, vars: &BTreeMap<String, String>) -> Result<Rendered, PromptError> {
        self.render_with(minijinja::Value::from_serialize(vars))
    }

    /// Renders with any serializable context (lists of passages, say).
    pub fn render_with(&self, context: minijinja::Value) -> Result<Rendered, PromptError> {
        let env = self.environment()?;
        let tmpl = env.get_template(&self.name).map_err(|e| self.error(e))?;
        let user = tmpl.render(&context).map_err(|e| self.error(e))?;
        // The system line may use the same variables (a persona's name).
        let system = match &self.system {
            Some(s) if s.contains("{{") || s.contains("{%") => Some(
                env.render_str(s, &context)
                    .map_err(|e| self.error(e))?
                    .trim()
                    .to_string(),
            ),
            other => other.clone(),
        };
        Ok(Rendered {
            system,
            user: user.trim().to_string(),
            choices: self.choices.clone(),
            schema: self.schema.as_deref().and_then(schema),
        })
    }
}

/// The templates: built-ins, overridden by `NAME.jinja` files in `user_dir`.
pub struct Library {
    user_dir: PathBuf,
}

impl Library {
    pub fn new(user_dir: &Path) -> Library {
        Library {
            user_dir: user_dir.to_path_buf(),
        }
    }

    fn user_file(&self, name: &str) -> PathBuf {
        self.user_dir.join(format!("{name}.jinja"))
    }

    /// Loads template `name`, preferring the user's file.
    pub fn get(&self, name: &str) -> Result<Template, PromptError> {
        let path = self.user_file(name);
        if !name.contains(['/', '\\']) && path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| PromptError::Read {
                path: path.clone(),
                message: e.to_string(),
            })?;
            return parse(name, Origin::User(path), &text);
        }
        match BUILT_IN.iter().find(|(n, _)| *n == name) {
            Some((n, text)) => parse(n, Origin::BuiltIn, text),
            None => Err(PromptError::Unknown {
                name: name.to_string(),
            }),
        }
    }

    /// All template names, built-in and user, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = BUILT_IN.iter().map(|(n, _)| n.to_string()).collect();
        if let Ok(entries) = std::fs::read_dir(&self.user_dir) {
            for e in entries.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "jinja") {
                    if let Some(stem) = p.file_stem() {
                        names.push(stem.to_string_lossy().into_owned());
                    }
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn built_ins_parse_and_render() {
        let lib = Library::new(Path::new("/nonexistent"));
        assert_eq!(
            lib.names(),
            [
                "classify",
                "extract",
                "qa",
                "sentiment",
                "summarize",
                "support",
                "translate"
            ]
        );
        let t = lib.get("translate").unwrap();
        let r = t
            .render(&vars(&[("input", "Hallo"), ("to", "French")]))
            .unwrap();
        assert!(
            r.user.contains("into French") && r.user.ends_with("Hallo"),
            "{}",
            r.user
        );
        assert!(r.system.is_some());
        let r = t.render(&vars(&[("input", "Hallo")])).unwrap();
        assert!(r.user.contains("into English"));
        let s = lib.get("sentiment").unwrap();
        assert_eq!(s.choices, ["positive", "negative", "neutral"]);
        let e = lib
            .get("extract")
            .unwrap()
            .render(&vars(&[("input", "x")]))
            .unwrap();
        assert_eq!(e.schema.unwrap()["required"][0], "entities");
    }

    #[test]
    fn user_file_overrides_and_adds() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("summarize.jinja"), "Short: {{ input }}").unwrap();
        std::fs::write(
            dir.path().join("haiku.jinja"),
            "---\ndescription: a haiku\n---\nHaiku about {{ topic }}",
        )
        .unwrap();
        let lib = Library::new(dir.path());
        let t = lib.get("summarize").unwrap();
        assert!(matches!(t.origin, Origin::User(_)));
        assert_eq!(t.render(&vars(&[("input", "x")])).unwrap().user, "Short: x");
        assert!(lib.names().contains(&"haiku".to_string()));
        let h = lib.get("haiku").unwrap();
        assert_eq!(h.description, "a haiku");
        assert_eq!(
            h.render(&vars(&[("topic", "rain")])).unwrap().user,
            "Haiku about rain"
        );
    }

    #[test]
    fn errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.jinja");
        std::fs::write(
            &path,
            "---\ndescription: broken\n---\nline one\n{{ input | nosuchfilter }}\n",
        )
        .unwrap();
        let lib = Library::new(dir.path());
        let err = match lib.get("bad") {
            Ok(t) => t.render(&vars(&[("input", "x")])).unwrap_err(),
            Err(e) => e,
        }
        .to_string();
        assert!(err.starts_with(&format!("{}:5:", path.display())), "{err}");
        std::fs::write(&path, "line one\n{% if %}\n").unwrap();
        let err = lib.get("bad").unwrap_err().to_string();
        assert!(err.contains("bad.jinja:2:"), "{err}");
        std::fs::write(&path, "---\nsytem: x\n---\nhi").unwrap();
        let err = lib.get("bad").unwrap_err().to_string();
        assert!(
            err.contains("bad.jinja:2:") && err.contains("sytem"),
            "{err}"
        );
        assert_eq!(
            lib.get("nope").unwrap_err(),
            PromptError::Unknown {
                name: "nope".into()
            }
        );
    }
}
