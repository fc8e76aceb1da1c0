//! `lore eval ...`: retrieval, grounded answers and support dialogues
//! measured on evaluation sets (the scoring lives in `crate::eval`).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::args::{FormatArg, GenArgs};
use super::progress::{self, Stderr};
use super::require_files;
use super::stdio::{with_interrupt, with_model};
use crate::app::Root;
use crate::error::{task_error, AppError};
use crate::eval::{self, grounding, qa, retrieval};
use crate::index::Boosts;
use crate::settings::{FlagValue, OutputFormat, Sources};
use crate::tasks::ask::Ask;
use crate::tasks::grounded::TemplatePrompt;
use crate::tasks::policy::eval_params;

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Retrieval quality on a BEIR-layout set (corpus.jsonl, queries.jsonl, qrels.tsv)
    Retrieval(EvalRetrievalArgs),
    /// Answer quality of `ask` on a SQuAD-layout set (queries carry `answers`)
    Qa(EvalQaArgs),
    /// Retrieval, hand-over and citations of `support` on scripted dialogues
    Support(super::support::EvalSupportArgs),
    /// The not-found rule on answerable and unanswerable questions, and
    /// with --answer whether the answers given are supported
    Grounding(EvalGroundingArgs),
}

#[derive(Debug, Args)]
pub struct EvalGroundingArgs {
    /// Questions the index answers (TSV: question, article, answer)
    #[arg(long, value_name = "FILE")]
    pub on: PathBuf,
    /// Questions it cannot answer (TSV: question, lang, kind)
    #[arg(long, value_name = "FILE")]
    pub off: PathBuf,
    /// Index to search [setting: index.name]
    #[arg(long, short = 'i', value_name = "NAME")]
    pub index: Option<String>,
    /// Passages per question [setting: retrieval.top_k]
    #[arg(short = 'k', long, value_name = "N")]
    pub top_k: Option<u32>,
    /// Also answer every question with the model and check the answers
    #[arg(long)]
    pub answer: bool,
    #[command(flatten)]
    pub gen: GenArgs,
}

#[derive(Debug, Args)]
pub struct EvalRetrievalArgs {
    #[arg(long)]
    pub corpus: PathBuf,
    #[arg(long)]
    pub queries: PathBuf,
    #[arg(long)]
    pub qrels: PathBuf,
    /// Documents ranked per query
    #[arg(short = 'k', long, default_value_t = 10)]
    pub k: usize,
    /// Evaluate only the first N queries
    #[arg(long)]
    pub limit: Option<usize>,
    /// Title weight
    #[arg(long, default_value_t = Boosts::default().title)]
    pub title_boost: f32,
    /// Heading weight
    #[arg(long, default_value_t = Boosts::default().headings)]
    pub headings_boost: f32,
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<FormatArg>,
}

#[derive(Debug, Args)]
pub struct EvalQaArgs {
    #[arg(long)]
    pub corpus: PathBuf,
    #[arg(long)]
    pub queries: PathBuf,
    /// Relevance judgements; without them a retrieved passage counts as a
    /// hit when it contains a gold answer
    #[arg(long)]
    pub qrels: Option<PathBuf>,
    /// Evaluate only the first N questions
    #[arg(long)]
    pub limit: Option<usize>,
    /// Passages per question [setting: retrieval.top_k]
    #[arg(short = 'k', long, value_name = "N")]
    pub top_k: Option<u32>,
    #[command(flatten)]
    pub gen: GenArgs,
}

impl EvalCommand {
    pub fn layer(&self, sources: &mut Sources) {
        match self {
            EvalCommand::Support(a) => a.layer(sources),
            EvalCommand::Qa(a) => {
                a.gen.layer(sources);
                if let Some(k) = a.top_k {
                    sources.flag("retrieval.top_k", FlagValue::Int(k.into()), "--top-k");
                }
            }
            EvalCommand::Grounding(a) => {
                a.gen.layer(sources);
                if let Some(k) = a.top_k {
                    sources.flag("retrieval.top_k", FlagValue::Int(k.into()), "--top-k");
                }
                if let Some(i) = &a.index {
                    sources.flag("index.name", FlagValue::Str(i.clone()), "--index");
                }
            }
            EvalCommand::Retrieval(_) => {}
        }
    }
}

pub async fn run(root: &Root, cmd: EvalCommand) -> anyhow::Result<()> {
    match cmd {
        EvalCommand::Retrieval(args) => run_retrieval(root, args),
        EvalCommand::Qa(args) => run_qa(root, args).await,
        EvalCommand::Support(args) => super::support::eval(root, args).await,
        EvalCommand::Grounding(args) => run_grounding(root, args).await,
    }
}

async fn run_grounding(root: &Root, args: EvalGroundingArgs) -> anyhow::Result<()> {
    require_files(&[&args.on, &args.off])?;
    let probes = grounding::read_probes(&args.on, &args.off).map_err(AppError::from)?;
    let progress = Stderr::new();
    let index = root.open_index(&root.settings.settings.index.name, &progress)?;
    let retrieval = root.retrieval(None)?;
    let report = grounding::report(&index, &probes, retrieval.top_k, retrieval.relevance)
        .map_err(AppError::from)?;
    let json = root.settings.settings.output.format != OutputFormat::Text;
    if !args.answer {
        let mut out = std::io::stdout().lock();
        eval::print(&mut out, &report, json, 44, |v| v)?;
        return Ok(());
    }
    let model = with_interrupt(root.load_model(&progress))
        .await?
        .map_err(AppError::from)?;
    let mut ask = root.ask(Some(index))?;
    ask.params = eval_params(&ask.params);
    let bar = progress::bar(probes.len() as u64, "questions");
    let task = grounding::answers(&ask, model.clone(), &probes, |done, _| {
        bar.set_position(done as u64)
    });
    let answers = with_interrupt(task).await?.map_err(task_error)?;
    bar.finish_and_clear();
    let mut out = std::io::stdout().lock();
    if json {
        let value = serde_json::json!({"retrieval": report, "answers": answers});
        eval::print(&mut out, &answers, true, 0, |_| {
            with_model(model.info(), value)
        })?;
    } else {
        eval::print(&mut out, &report, false, 44, |v| v)?;
        eval::print(&mut out, &answers, false, 44, |v| v)?;
    }
    Ok(())
}

fn run_retrieval(root: &Root, args: EvalRetrievalArgs) -> anyhow::Result<()> {
    require_files(&[&args.corpus, &args.queries, &args.qrels])?;
    let boosts = Boosts {
        title: args.title_boost,
        headings: args.headings_boost,
        ..Boosts::default()
    };
    let report = retrieval::retrieval(
        &args.corpus,
        &args.queries,
        &args.qrels,
        args.k.max(1),
        args.limit,
        retrieval::Scoring {
            boosts,
            relevance: root.retrieval(None)?.relevance,
        },
        root.chunking(),
    )
    .map_err(AppError::from)?;
    let json = args.format.is_some_and(|f| f != FormatArg::Text);
    let mut out = std::io::stdout().lock();
    eval::print(&mut out, &report, json, 18, |v| v)?;
    Ok(())
}

async fn run_qa(root: &Root, args: EvalQaArgs) -> anyhow::Result<()> {
    let mut files = vec![args.corpus.as_path(), args.queries.as_path()];
    files.extend(args.qrels.as_deref());
    require_files(&files)?;
    let mut queries = qa::read_qa_queries(&args.queries).map_err(AppError::from)?;
    let qrels = match &args.qrels {
        Some(p) => Some(retrieval::read_qrels(p).map_err(AppError::from)?),
        None => None,
    };
    if let Some(q) = &qrels {
        queries.retain(|x| q.contains_key(&x.id));
    }
    queries.truncate(args.limit.unwrap_or(usize::MAX));
    if queries.is_empty() {
        return Err(AppError::usage("no queries to evaluate").into());
    }
    let (idx, _, prefix) =
        retrieval::corpus_index(&args.corpus, root.chunking()).map_err(AppError::from)?;
    let model = with_interrupt(root.load_model(&Stderr::new()))
        .await?
        .map_err(AppError::from)?;
    let ask = Ask {
        retrieval: root.retrieval(Some(idx))?,
        prompt: TemplatePrompt::qa(root.template("qa")?),
        not_found: String::new(),
        params: eval_params(&root.gen_params()?),
    };
    let setup = qa::QaSetup {
        model: model.clone(),
        ask,
        key_prefix: &prefix,
        qrels: qrels.as_ref(),
    };
    let bar = progress::bar(queries.len() as u64, "questions");
    let task = qa::run(&setup, &queries, |done, _| bar.set_position(done as u64));
    let report = with_interrupt(task).await?.map_err(task_error)?;
    bar.finish_and_clear();
    let json = root.settings.settings.output.format != OutputFormat::Text;
    let mut out = std::io::stdout().lock();
    eval::print(&mut out, &report, json, 20, |v| with_model(model.info(), v))?;
    Ok(())
}
