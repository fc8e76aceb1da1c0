//! `lore run`: one prompt (argument and/or stdin), optionally through a
//! template, streamed to stdout.

use std::collections::BTreeMap;

use clap::Args;

use super::args::GenArgs;
use super::completions;
use super::progress::Stderr;
use super::stdio::{
    check_fits_bytes, finish, read_stdin, with_interrupt, with_model, SlowStart, SLOW_START,
};
use crate::app::Root;
use crate::error::AppError;
use crate::model::{conversation, ChatMessage, Constraint, GenParams};
use crate::output::sink_for;
use crate::settings::{FlagValue, Sources};
use crate::tasks::run::{self, RunInput};

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The prompt. Piped stdin is appended after it as a fenced block; with
    /// no prompt, stdin is the prompt.
    pub prompt: Option<String>,
    /// System prompt [setting: generation.system]
    #[arg(long, short = 's')]
    pub system: Option<String>,
    /// Nucleus sampling threshold [setting: generation.top_p]
    #[arg(long, value_name = "P")]
    pub top_p: Option<f64>,
    #[command(flatten)]
    pub gen: GenArgs,
    /// Render the input through a prompt template (see `lore prompts list`);
    /// the input is available to it as {{ input }}
    #[arg(long, short = 'T', value_name = "NAME", add = clap_complete::ArgValueCandidates::new(completions::templates))]
    pub template: Option<String>,
    /// A template variable, KEY=VALUE (repeatable)
    #[arg(long = "var", value_name = "KEY=VALUE", requires = "template")]
    pub vars: Vec<String>,
    /// Target language for `--template translate` (same as --var to=LANG)
    #[arg(long, value_name = "LANG", requires = "template")]
    pub to: Option<String>,
}

impl RunArgs {
    pub fn layer(&self, sources: &mut Sources) {
        if let Some(s) = &self.system {
            sources.flag("generation.system", FlagValue::Str(s.clone()), "--system");
        }
        if let Some(p) = self.top_p {
            sources.flag("generation.top_p", FlagValue::Float(p), "--top-p");
        }
        self.gen.layer(sources);
    }
}

pub async fn run(root: &Root, args: RunArgs) -> anyhow::Result<()> {
    let params = root.gen_params()?;
    let input = RunInput {
        prompt: args.prompt.clone(),
        stdin: read_stdin()?,
        system: Some(root.settings.settings.generation.system.clone()),
    };
    let Some(user) = run::user_message(&input) else {
        return Err(AppError::usage(
            "nothing to send: give a prompt argument or pipe text on stdin (e.g. echo hi | lore run)",
        )
        .into());
    };
    let (messages, params) = match &args.template {
        Some(name) => templated(root, name, &args, &input, user, params)?,
        None => (run::messages(&input, user), params),
    };
    let format = root.settings.settings.output.format;
    let model = with_interrupt(root.load_model(&Stderr::new()))
        .await?
        .map_err(AppError::from)?;
    // The engine counts the prompt exactly; one far past the context is
    // refused from its length first, without tokenizing it all.
    let bytes = messages.iter().map(|m| m.content.len()).sum();
    check_fits_bytes("the prompt", bytes, model.info())?;

    let stdout = std::io::stdout();
    let mut sink = sink_for(format, stdout.lock());
    let slow = SlowStart::new(
        "lore: the model is still reading the prompt; on a CPU a long prompt takes a while before the first token",
    );
    slow.arm(SLOW_START);
    let outcome = {
        let mut watched = slow.sink(sink.as_mut());
        with_interrupt(run::execute(
            model.as_ref(),
            &messages,
            &params,
            &mut watched,
        ))
        .await
    };
    drop(slow);
    let report = finish(outcome, sink.as_mut())?;
    let info = model.info();
    sink.end(&with_model(info, serde_json::to_value(&report)?), None)?;
    if root.verbose {
        let t = &report.finished.timings;
        eprintln!(
            "lore: {} prompt + {} generated tokens on {}; load {:.2} s, first token {:.2} s, prompt {:.1} tok/s, generation {:.1} tok/s",
            report.finished.usage.prompt_tokens,
            report.finished.usage.completion_tokens,
            info.device,
            info.load_time.as_secs_f64(),
            t.time_to_first_token_s,
            t.prompt_tokens_per_s,
            t.generated_tokens_per_s
        );
    }
    Ok(())
}

/// Renders the input through a template: its system prompt (or the
/// configured one), its user message, and its output constraint.
fn templated(
    root: &Root,
    name: &str,
    args: &RunArgs,
    input: &RunInput,
    user: String,
    params: GenParams,
) -> anyhow::Result<(Vec<ChatMessage>, GenParams)> {
    let mut vars = BTreeMap::new();
    vars.insert("input".to_string(), user);
    if let Some(to) = &args.to {
        vars.insert("to".to_string(), to.to_string());
    }
    for v in &args.vars {
        let Some((k, val)) = v.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
            return Err(AppError::usage(format!("--var expects KEY=VALUE, got {v:?}")).into());
        };
        vars.insert(k.trim().to_string(), val.to_string());
    }
    let rendered = root.template(name)?.render(&vars).map_err(AppError::from)?;
    let system = rendered.system.or_else(|| input.system.clone());
    let messages = conversation(system.as_deref(), &[], rendered.user);
    let constraint = if let Some(schema) = rendered.schema {
        Some(Constraint::JsonSchema(schema))
    } else if !rendered.choices.is_empty() {
        Some(Constraint::one_of(&rendered.choices))
    } else {
        None
    };
    Ok((
        messages,
        GenParams {
            constraint,
            ..params
        },
    ))
}
