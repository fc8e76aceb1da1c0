//! Flag groups several commands share, each adding itself to the settings
//! layers, and the CLI's own spellings of lower-level enums (so nothing
//! below the CLI knows clap).

use clap::{Args, ValueEnum};

use super::completions;
use crate::settings::{FlagValue, OutputFormat, Sources};

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Model: a catalogue name (`lore models list`), a GGUF file, a model
    /// directory, a name in the models directory, or a Hugging Face id
    /// [setting: model.path]
    #[arg(long, short = 'm', global = true, value_name = "SPEC", add = clap_complete::ArgValueCompleter::new(completions::models))]
    pub model: Option<String>,
    /// Run on the CPU even when a GPU is available [setting: model.cpu]
    #[arg(long, global = true)]
    pub cpu: bool,
    /// Run against an OpenAI-compatible server at URL (`lore serve`,
    /// llama.cpp, vLLM, ollama) instead of a local model [setting:
    /// model.endpoint]
    #[arg(long, global = true, value_name = "URL")]
    pub engine: Option<String>,
    /// Print timings and engine logs on stderr
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,
}

impl GlobalArgs {
    pub fn layer(&self, sources: &mut Sources) {
        if let Some(m) = &self.model {
            sources.flag("model.path", FlagValue::Str(m.clone()), "--model");
        }
        if self.cpu {
            sources.flag("model.cpu", FlagValue::Bool(true), "--cpu");
        }
        if let Some(url) = &self.engine {
            sources.flag("model.endpoint", FlagValue::Str(url.clone()), "--engine");
        }
    }
}

/// Length and temperature of generated replies.
#[derive(Debug, Args, Default)]
pub struct SamplingArgs {
    /// Most tokens to generate [setting: generation.max_tokens]
    #[arg(long, short = 'n', value_name = "N")]
    pub max_tokens: Option<u32>,
    /// Sampling temperature, 0 for greedy [setting: generation.temperature]
    #[arg(long, short = 't', value_name = "T")]
    pub temperature: Option<f64>,
}

impl SamplingArgs {
    pub fn layer(&self, sources: &mut Sources) {
        if let Some(n) = self.max_tokens {
            sources.flag(
                "generation.max_tokens",
                FlagValue::Int(n.into()),
                "--max-tokens",
            );
        }
        if let Some(t) = self.temperature {
            sources.flag(
                "generation.temperature",
                FlagValue::Float(t),
                "--temperature",
            );
        }
    }
}

/// Flags shared by the commands that generate text.
#[derive(Debug, Args)]
pub struct GenArgs {
    #[command(flatten)]
    pub sampling: SamplingArgs,
    /// Output format [setting: output.format]
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<FormatArg>,
}

impl GenArgs {
    pub fn layer(&self, sources: &mut Sources) {
        self.sampling.layer(sources);
        if let Some(f) = self.format {
            sources.flag("output.format", FlagValue::Str(f.name().into()), "--format");
        }
    }
}

/// `--format text|json|jsonl`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Text,
    Json,
    Jsonl,
}

impl FormatArg {
    fn name(self) -> &'static str {
        match self {
            FormatArg::Text => "text",
            FormatArg::Json => "json",
            FormatArg::Jsonl => "jsonl",
        }
    }
}

impl From<FormatArg> for OutputFormat {
    fn from(f: FormatArg) -> OutputFormat {
        match f {
            FormatArg::Text => OutputFormat::Text,
            FormatArg::Json => OutputFormat::Json,
            FormatArg::Jsonl => OutputFormat::Jsonl,
        }
    }
}
