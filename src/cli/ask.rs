//! `lore ask`: reads the question (and any document on stdin), runs the
//! `ask` task and ends the output.

use clap::Args;

use super::progress::Stderr;
use super::stdio::{finish, read_stdin, with_interrupt, with_model};
use super::GenArgs;
use crate::app::Root;
use crate::error::AppError;
use crate::grounding::footnotes;
use crate::output::sink_for;
use crate::settings::{FlagValue, Sources};
use crate::tasks::ask::{self, Question};
use crate::tasks::TaskError;

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question; with none, stdin is the question
    #[arg(allow_hyphen_values = true)]
    pub question: Option<String>,
    /// Index to search [setting: index.name]
    #[arg(long, short = 'i', value_name = "NAME", add = clap_complete::ArgValueCandidates::new(super::completions::indexes))]
    pub index: Option<String>,
    /// Passages to retrieve [setting: retrieval.top_k]
    #[arg(short = 'k', long, value_name = "N")]
    pub top_k: Option<u32>,
    /// Answer from stdin only, without searching the index
    #[arg(long)]
    pub no_index: bool,
    #[command(flatten)]
    pub gen: GenArgs,
}

impl AskArgs {
    /// Adds these flags to the settings layers.
    pub fn layer(&self, sources: &mut Sources) {
        self.gen.layer(sources);
        if let Some(k) = self.top_k {
            sources.flag("retrieval.top_k", FlagValue::Int(k.into()), "--top-k");
        }
        if let Some(i) = &self.index {
            sources.flag("index.name", FlagValue::Str(i.clone()), "--index");
        }
    }
}

pub async fn run(root: &Root, args: AskArgs) -> anyhow::Result<()> {
    // With a question argument, piped stdin is a document to answer from;
    // without one, stdin is the question.
    let (question, document) = match args.question.filter(|q| !q.trim().is_empty()) {
        Some(q) => (q, read_stdin()?.filter(|d| !d.trim().is_empty())),
        None => (read_stdin()?.unwrap_or_default(), None),
    };
    let question = question.trim().to_string();
    if question.is_empty() {
        return Err(AppError::usage("no question: give one as an argument or on stdin").into());
    }
    if args.no_index && document.is_none() {
        return Err(AppError::usage(
            "--no-index answers from stdin only, but no text came on stdin (try: cat FILE | lore ask --no-index QUESTION)",
        )
        .into());
    }
    let progress = Stderr::new();
    let index = if args.no_index {
        None
    } else {
        Some(root.open_index(&root.settings.settings.index.name, &progress)?)
    };
    let ask = root.ask(index)?;
    let format = root.settings.settings.output.format;
    let stdout = std::io::stdout();
    let mut sink = sink_for(format, stdout.lock());
    let q = Question {
        text: &question,
        document: document.as_deref(),
        search_index: !args.no_index,
    };
    let model = async { root.load_model(&progress).await.map_err(TaskError::Engine) };
    let outcome = with_interrupt(ask::run(&ask, &q, model, sink.as_mut())).await;
    let report = finish(outcome, sink.as_mut())?;
    let reply = &report.reply;
    if root.verbose && reply.found {
        eprintln!(
            "lore: {} passage(s) in the prompt, {} left out because they did not fit the context",
            reply.passages.len(),
            reply.dropped_passages
        );
    }
    let json = serde_json::to_value(&report)?;
    let json = match &reply.model {
        Some(info) => with_model(info, json),
        None => json,
    };
    if !reply.citations_valid {
        eprintln!("lore: warning: the answer cites passages that do not exist; they were left out of the sources");
    }
    let footer = footnotes(&reply.citations, &reply.passages);
    sink.end(&json, footer.as_deref())?;
    Ok(())
}
