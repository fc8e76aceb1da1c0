//! `lore ask`: reads the question (and any document on stdin), runs the
//! `ask` task and ends the output.

use clap::Args;

use super::progress::Stderr;
use super::stdio::{
    check_fits_bytes, finish, read_stdin, with_interrupt, with_model, SlowStart, SLOW_START,
};
use super::GenArgs;
use crate::app::{Progress, Root};
use crate::error::{AppError, Exit};
use crate::grounding::footnotes;
use crate::index::chunk::{approx_tokens, ChunkOptions};
use crate::model::min_tokens_over;
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
    /// Hold the answer back until it is checked against its passages, and
    /// reply not found when they do not support it [setting: grounding.strict]
    #[arg(long)]
    pub strict: bool,
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
        if self.strict {
            sources.flag("grounding.strict", FlagValue::Bool(true), "--strict");
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
    if let Some(doc) = &document {
        check_document(root, doc)?;
    }
    let progress = Stderr::new();
    // A long question is measured against the model's context before the
    // index is searched for it, so the model loads first.
    let preloaded = if question.len() > LONG_QUESTION_BYTES {
        let model = with_interrupt(root.load_model(&progress))
            .await?
            .map_err(AppError::from)?;
        check_fits_bytes("the question", question.len(), model.info())?;
        Some(model)
    } else {
        None
    };
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
    let slow = SlowStart::new(
        "lore: still working on the answer; on a CPU a long prompt takes a while before the first token",
    );
    let chunking = root.chunking();
    let model = async {
        let model = match preloaded {
            Some(model) => model,
            None => root
                .load_model(&progress)
                .await
                .map_err(TaskError::Engine)?,
        };
        // The model is loaded only when something was found; what follows
        // is ranking the document (when it cannot fit whole) and reading
        // the prompt, both slow for big inputs.
        if let Some(doc) = q.document {
            let context = model.info().context_length;
            if doc.len() > RANK_NOTE_BYTES && min_tokens_over(doc.len(), context).is_some() {
                progress.note(&ranking_note(doc, chunking));
            }
        }
        slow.arm(SLOW_START);
        Ok(model)
    };
    let outcome = {
        let mut watched = slow.sink(sink.as_mut());
        with_interrupt(ask::run(&ask, &q, model, &mut watched)).await
    };
    drop(slow);
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
    // Also when the answer counts as not found: it was still shown.
    if let Some(w) = crate::grounding::support::warning(&reply.support) {
        eprintln!("lore: {w}");
    }
    let footer = footnotes(&reply.citations, &reply.passages);
    sink.end(&json, footer.as_deref())?;
    Ok(())
}

/// Questions longer than this are checked against the model's context
/// before they are searched for (a search for megabytes of words is slow).
const LONG_QUESTION_BYTES: usize = 64 * 1024;

/// A document bigger than this takes about a second or more to chunk and
/// rank, so a line on stderr says that it is being done.
const RANK_NOTE_BYTES: usize = 1_000_000;

/// Exit 4 for a document larger than `lore index add` would take
/// (`index.max_file_mb`): it is chunked and ranked in memory, which takes
/// about a second per megabyte.
fn check_document(root: &Root, doc: &str) -> Result<(), AppError> {
    let mb = root.settings.settings.index.max_file_mb;
    if doc.len() as u64 <= mb.saturating_mul(1_000_000) {
        return Ok(());
    }
    Err(AppError::new(
        Exit::TooLarge,
        format!(
            "stdin is {} bytes, more than index.max_file_mb ({mb} MB), the largest document lore ask ranks; add it to an index with `lore index add` and ask without piping it",
            doc.len()
        ),
    ))
}

/// "ranking about 12,345 chunks of stdin (24.1 MB) against the question".
fn ranking_note(doc: &str, chunking: ChunkOptions) -> String {
    let target = chunking.target_tokens.max(8);
    let step = target - chunking.overlap_tokens.min(target / 2);
    let chunks = approx_tokens(doc).div_ceil(step).max(1);
    format!(
        "ranking about {} chunk(s) of stdin ({:.1} MB) against the question...",
        thousands(chunks),
        doc.len() as f64 / 1e6
    )
}

/// `12345` as "12,345".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranking_note_estimates_chunks() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1234567), "1,234,567");
        let doc = "word ".repeat(1700);
        let opts = ChunkOptions {
            target_tokens: 200,
            overlap_tokens: 30,
        };
        assert_eq!(
            ranking_note(&doc, opts),
            "ranking about 10 chunk(s) of stdin (0.0 MB) against the question..."
        );
    }
}
