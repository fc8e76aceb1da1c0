//! `lore models ...`: the models directory and GGUF conversion.

use std::io::Write;
use std::path::PathBuf;

use clap::{Subcommand, ValueEnum};
use serde_json::json;

use super::args::FormatArg;
use super::progress::Stderr;
use crate::app::{self, Root};
use crate::engine::gguf::{self, QuantType};
use crate::error::AppError;
use crate::settings::OutputFormat;

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Show the GGUF models in the models directory
    List {
        #[arg(long, short = 'f', value_enum)]
        format: Option<FormatArg>,
    },
    /// Re-quantize a GGUF file (Q8_0 and Q4_0 have fast CPU kernels)
    Quantize {
        input: PathBuf,
        output: PathBuf,
        #[arg(long = "type", value_enum, default_value = "q8_0")]
        quant: QuantArg,
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
    match cmd {
        ModelsCommand::List { format } => {
            let format = format.map_or(root.settings.settings.output.format, Into::into);
            list(root, format)
        }
        ModelsCommand::Quantize {
            input,
            output,
            quant,
            force,
        } => {
            super::require_files(&[&input])?;
            app::quantize(&input, &output, quant.into(), force, &Stderr::new())
                .map_err(AppError::from)?;
            Ok(())
        }
    }
}

fn list(root: &Root, format: OutputFormat) -> anyhow::Result<()> {
    let dir = root.settings.settings.models_dir();
    let entries = gguf::list(&dir);
    let mut out = std::io::stdout().lock();
    if format != OutputFormat::Text {
        let items: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| match e {
                Ok(info) => serde_json::to_value(info).unwrap_or_default(),
                Err(err) => json!({"error": err.to_string()}),
            })
            .collect();
        if format == OutputFormat::Json {
            writeln!(out, "{}", json!({"models_dir": dir, "models": items}))?;
        } else {
            for item in items {
                writeln!(out, "{item}")?;
            }
        }
        return Ok(());
    }
    if entries.is_empty() {
        eprintln!(
            "lore: no GGUF models in {} (scripts/fetch-model.sh installs the default)",
            dir.display()
        );
        return Ok(());
    }
    writeln!(
        out,
        "{:<44} {:>9} {:<8} {:<6} {:>8}",
        "NAME", "SIZE", "ARCH", "QUANT", "CONTEXT"
    )?;
    for entry in entries {
        match entry {
            Ok(info) => {
                let name = info
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let default = if name == root.settings.settings.model.path {
                    " *"
                } else {
                    ""
                };
                writeln!(
                    out,
                    "{:<44} {:>9} {:<8} {:<6} {:>8}{default}",
                    name,
                    format!("{:.1} MB", info.size_bytes as f64 / 1e6),
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
    Ok(())
}
