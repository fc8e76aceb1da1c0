//! `lore index ...` and `lore eval retrieval`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::error::{AppError, Exit};
use crate::index::chunk::ChunkOptions;
use crate::index::eval::EvalError;
use crate::index::ingest::{self, AddOptions, IngestError, Summary};
use crate::index::loaders::RowFields;
use crate::index::{Boosts, Hit, IndexError, KnowledgeIndex, SearchOptions};
use crate::settings::{Loaded, OutputFormat};

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Index name [setting: index.name]
    #[arg(long, short = 'i', global = true, value_name = "NAME")]
    pub index: Option<String>,
    #[command(subcommand)]
    pub command: IndexCommand,
}

#[derive(Debug, Subcommand)]
pub enum IndexCommand {
    /// Add or update files, directories (walked, honouring .gitignore) and globs
    Add {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also remove indexed files under the given directories that no longer exist
        #[arg(long)]
        prune: bool,
        #[command(flatten)]
        rows: RowFields,
    },
    /// Remove files, or everything under directories, from the index
    Rm {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List indexed files with their document and chunk counts
    List {
        #[arg(long, short = 'f', value_enum)]
        format: Option<OutputFormat>,
    },
    /// Show documents, chunks, bytes and size on disk
    Stats {
        #[arg(long, short = 'f', value_enum)]
        format: Option<OutputFormat>,
    },
    /// Search the index
    Search {
        /// Plain text; may start with '-'
        #[arg(allow_hyphen_values = true)]
        query: String,
        /// Number of results
        #[arg(short = 'k', long, default_value_t = 5)]
        k: usize,
        /// Parse QUERY with tantivy's query syntax (fields, phrases, +/-)
        #[arg(long)]
        syntax: bool,
        #[arg(long, short = 'f', value_enum)]
        format: Option<OutputFormat>,
    },
    /// Re-read every indexed file into a fresh index (after a lore upgrade)
    Rebuild,
}

#[derive(Debug, Subcommand)]
pub enum EvalCommand {
    /// Retrieval quality on a BEIR-layout set (corpus.jsonl, queries.jsonl, qrels.tsv)
    Retrieval(EvalRetrievalArgs),
    /// Answer quality of `ask` on a SQuAD-layout set (queries carry `answers`)
    Qa(EvalQaArgs),
    /// Retrieval, hand-over and citations of `support` on scripted dialogues
    Support(super::support::EvalSupportArgs),
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
    pub format: Option<OutputFormat>,
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
    pub gen: crate::cli::GenArgs,
}

/// Opens the index `ask` reads. The first time, the index named "default"
/// is filled with the built-in sample knowledge base (setting
/// `index.sample_on_empty`), written out under the data directory so
/// citations point at real files.
pub fn open_for_ask(loaded: &Loaded, name: &str) -> anyhow::Result<KnowledgeIndex> {
    let root = loaded.settings.indexes_dir();
    let exists = KnowledgeIndex::dir_for(&root, name)
        .join("meta.json")
        .exists();
    if !exists && name == "default" && loaded.settings.index.sample_on_empty {
        let dir = crate::settings::user_data_dir().join("sample-kb");
        for (rel, text) in crate::sample_kb::FILES {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, text)?;
        }
        eprintln!(
            "lore: indexing the sample knowledge base ({} articles in {}) into index 'default'",
            crate::sample_kb::FILES.len(),
            dir.display()
        );
        let idx = KnowledgeIndex::open(&root, name, true).map_err(index_error)?;
        let files = ingest::expand(std::slice::from_ref(&dir)).map_err(ingest_error)?;
        let opts = add_options(loaded, RowFields::default(), false);
        ingest::add(&idx, &files, &[], &opts, &mut |_, _, _, _| {}).map_err(ingest_error)?;
        return Ok(idx);
    }
    KnowledgeIndex::open(&root, name, false).map_err(index_error)
}

pub fn index_error(e: IndexError) -> anyhow::Error {
    let exit = match e {
        IndexError::Missing { .. } | IndexError::Version { .. } | IndexError::Query(_) => {
            Exit::Usage
        }
        IndexError::Locked { .. } | IndexError::Tantivy { .. } => Exit::Failure,
    };
    AppError::new(exit, e.to_string()).into()
}

pub fn eval_error(e: EvalError) -> anyhow::Error {
    match e {
        EvalError::Index(e) => index_error(e),
        other => AppError::usage(other.to_string()).into(),
    }
}

/// A usage error naming the first of `paths` that is not a file.
pub fn require_files(paths: &[&std::path::Path]) -> anyhow::Result<()> {
    match paths.iter().find(|p| !p.is_file()) {
        Some(p) => Err(AppError::usage(format!("no such file: {}", p.display())).into()),
        None => Ok(()),
    }
}

fn ingest_error(e: IngestError) -> anyhow::Error {
    match e {
        IngestError::Index(e) => index_error(e),
        other => AppError::usage(other.to_string()).into(),
    }
}

pub(crate) fn chunking(loaded: &Loaded) -> ChunkOptions {
    ChunkOptions {
        target_tokens: loaded.settings.index.chunk_tokens as usize,
        overlap_tokens: loaded.settings.index.chunk_overlap as usize,
    }
}

fn add_options(loaded: &Loaded, rows: RowFields, prune: bool) -> AddOptions {
    AddOptions {
        rows,
        prune,
        max_file_bytes: loaded.settings.index.max_file_mb.saturating_mul(1_000_000),
        chunking: chunking(loaded),
    }
}

/// A progress bar on stderr when it is a terminal, counting `unit`.
pub fn progress_bar(len: u64, unit: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "[{{bar:30}}] {{pos}}/{{len}} {unit} {{per_sec}} ETA {{eta}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// A progress bar on stderr when it is a terminal: files, MB, chunks/s.
fn ingest_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} files {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    bar
}

fn report_summary(summary: &Summary, verbose_skips: bool) {
    for (path, reason) in &summary.skipped {
        if verbose_skips {
            eprintln!("lore: warning: skipped {}: {reason}", path.display());
        }
    }
    eprintln!("lore: {}", summary.line());
}

pub fn run_index(loaded: &Loaded, args: IndexArgs) -> anyhow::Result<()> {
    let root = loaded.settings.indexes_dir();
    let name = args
        .index
        .unwrap_or_else(|| loaded.settings.index.name.clone());
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(AppError::usage(format!(
            "invalid index name '{name}': use letters, digits, '-' or '_'"
        ))
        .into());
    }
    match args.command {
        IndexCommand::Add { paths, prune, rows } => {
            let files = ingest::expand(&paths).map_err(ingest_error)?;
            let idx = KnowledgeIndex::open(&root, &name, true).map_err(index_error)?;
            let opts = add_options(loaded, rows, prune);
            let prune_under: Vec<PathBuf> = paths
                .iter()
                .filter(|p| p.is_dir())
                .map(|p| ingest::absolute(p))
                .collect();
            let bar = ingest_bar();
            let started = std::time::Instant::now();
            let mut progress = |done: usize, total: usize, bytes: u64, chunks: usize| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
                let secs = started.elapsed().as_secs_f64().max(1e-3);
                bar.set_message(format!(
                    "{:.1} MB, {:.0} chunks/s",
                    bytes as f64 / 1e6,
                    chunks as f64 / secs
                ));
            };
            let summary = ingest::add(&idx, &files, &prune_under, &opts, &mut progress)
                .map_err(ingest_error)?;
            bar.finish_and_clear();
            report_summary(&summary, true);
            Ok(())
        }
        IndexCommand::Rm { paths } => {
            let idx = KnowledgeIndex::open(&root, &name, false).map_err(index_error)?;
            let gone = ingest::remove(&idx, &paths).map_err(ingest_error)?;
            if gone.is_empty() {
                eprintln!(
                    "lore: warning: nothing indexed under {}",
                    paths
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            eprintln!("lore: removed {} file(s) from index '{name}'", gone.len());
            Ok(())
        }
        IndexCommand::List { format } => {
            let idx = KnowledgeIndex::open(&root, &name, false).map_err(index_error)?;
            let manifest = idx.manifest();
            let mut out = std::io::stdout().lock();
            match format.unwrap_or(OutputFormat::Text) {
                OutputFormat::Text => {
                    for (path, e) in &manifest.files {
                        writeln!(out, "{:>6} {:>7}  {}", e.docs, e.chunks, path)?;
                    }
                }
                OutputFormat::Json => {
                    let files: Vec<_> = manifest
                        .files
                        .iter()
                        .map(|(p, e)| json!({"path": p, "documents": e.docs, "chunks": e.chunks, "bytes": e.size}))
                        .collect();
                    writeln!(out, "{}", json!({"index": name, "files": files}))?;
                }
                OutputFormat::Jsonl => {
                    for (p, e) in &manifest.files {
                        writeln!(
                            out,
                            "{}",
                            json!({"path": p, "documents": e.docs, "chunks": e.chunks, "bytes": e.size})
                        )?;
                    }
                }
            }
            Ok(())
        }
        IndexCommand::Stats { format } => {
            let idx = KnowledgeIndex::open(&root, &name, false).map_err(index_error)?;
            let s = idx.stats();
            let mut out = std::io::stdout().lock();
            if format.unwrap_or(OutputFormat::Text) == OutputFormat::Text {
                writeln!(out, "index:          {}", s.name)?;
                writeln!(out, "path:           {}", s.path.display())?;
                writeln!(out, "files:          {}", s.files)?;
                writeln!(out, "documents:      {}", s.documents)?;
                writeln!(out, "chunks:         {}", s.chunks)?;
                writeln!(out, "text:           {:.1} MB", s.text_bytes as f64 / 1e6)?;
                writeln!(out, "on disk:        {:.1} MB", s.disk_bytes as f64 / 1e6)?;
                writeln!(out, "schema version: {}", s.schema_version)?;
            } else {
                writeln!(out, "{}", serde_json::to_string(&s)?)?;
            }
            Ok(())
        }
        IndexCommand::Search {
            query,
            k,
            syntax,
            format,
        } => {
            let idx = KnowledgeIndex::open(&root, &name, false).map_err(index_error)?;
            let opts = SearchOptions {
                limit: k,
                syntax,
                ..SearchOptions::default()
            };
            let hits = idx.search(&query, &opts).map_err(index_error)?;
            print_hits(&name, &query, &hits, format.unwrap_or(OutputFormat::Text))
        }
        IndexCommand::Rebuild => {
            let bar = ingest_bar();
            let mut progress = |done: usize, total: usize, _bytes: u64, _chunks: usize| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            };
            let opts = add_options(loaded, RowFields::default(), false);
            let summary =
                ingest::rebuild(&root, &name, &opts, &mut progress).map_err(ingest_error)?;
            bar.finish_and_clear();
            report_summary(&summary, true);
            Ok(())
        }
    }
}

/// Wraps the highlighted byte ranges of a snippet in bold, for terminals.
pub fn bold_highlights(snippet: &str, ranges: &[std::ops::Range<usize>]) -> String {
    let mut out = String::with_capacity(snippet.len() + ranges.len() * 8);
    let mut at = 0;
    for r in ranges {
        if r.start < at || r.end > snippet.len() {
            continue;
        }
        out.push_str(&snippet[at..r.start]);
        out.push_str("\x1b[1m");
        out.push_str(&snippet[r.clone()]);
        out.push_str("\x1b[0m");
        at = r.end;
    }
    out.push_str(&snippet[at..]);
    out
}

fn styled_output() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn print_hits(index: &str, query: &str, hits: &[Hit], format: OutputFormat) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let hit_json = |h: &Hit| {
        json!({
            "score": h.score, "path": h.path, "key": h.key, "title": h.title,
            "headings": h.headings, "lines": [h.lines.0, h.lines.1],
            "bytes": [h.bytes.0, h.bytes.1], "snippet": h.snippet,
            "highlights": h.highlights.iter().map(|r| [r.start, r.end]).collect::<Vec<_>>(),
            "label": h.label,
        })
    };
    match format {
        OutputFormat::Json => {
            let hits: Vec<_> = hits.iter().map(hit_json).collect();
            writeln!(
                out,
                "{}",
                json!({"index": index, "query": query, "hits": hits})
            )?;
        }
        OutputFormat::Jsonl => {
            for h in hits {
                writeln!(out, "{}", hit_json(h))?;
            }
        }
        OutputFormat::Text => {
            if hits.is_empty() {
                eprintln!("lore: no results for {query:?} in index '{index}'");
            }
            let styled = styled_output();
            for (i, h) in hits.iter().enumerate() {
                let location = if h.key != h.path {
                    h.key.clone()
                } else {
                    format!("{}:{}-{}", display_path(&h.path), h.lines.0, h.lines.1)
                };
                let heading = if h.headings.is_empty() {
                    String::new()
                } else {
                    format!("  > {}", h.headings)
                };
                writeln!(out, "{}. [{:.2}] {location}{heading}", i + 1, h.score)?;
                let snippet = if styled {
                    bold_highlights(&h.snippet, &h.highlights)
                } else {
                    h.snippet.clone()
                };
                for line in snippet.lines().filter(|l| !l.trim().is_empty()) {
                    writeln!(out, "   {}", line.trim_end())?;
                }
            }
        }
    }
    Ok(())
}

/// A path relative to the current directory when it is under it.
pub fn display_path(path: &str) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| {
            std::path::Path::new(path)
                .strip_prefix(cwd)
                .ok()
                .map(|p| p.display().to_string())
        })
        .unwrap_or_else(|| path.to_string())
}

pub fn run_eval(loaded: &Loaded, args: EvalRetrievalArgs) -> anyhow::Result<()> {
    let EvalRetrievalArgs {
        corpus,
        queries,
        qrels,
        k,
        limit,
        title_boost,
        headings_boost,
        format,
    } = args;
    require_files(&[&corpus, &queries, &qrels])?;
    let boosts = Boosts {
        title: title_boost,
        headings: headings_boost,
        ..Boosts::default()
    };
    let report = crate::index::eval::retrieval(
        &corpus,
        &queries,
        &qrels,
        k.max(1),
        limit,
        boosts,
        chunking(loaded),
    )
    .map_err(eval_error)?;
    let mut out = std::io::stdout().lock();
    if format.unwrap_or(OutputFormat::Text) == OutputFormat::Text {
        writeln!(out, "corpus documents  {}", report.corpus_documents)?;
        writeln!(out, "chunks            {}", report.chunks)?;
        writeln!(out, "queries           {}", report.queries)?;
        writeln!(out, "recall@1          {:.3}", report.recall_at_1)?;
        writeln!(out, "recall@5          {:.3}", report.recall_at_5)?;
        writeln!(out, "recall@10         {:.3}", report.recall_at_10)?;
        writeln!(out, "MRR@10            {:.3}", report.mrr_at_10)?;
        writeln!(out, "nDCG@10           {:.3}", report.ndcg_at_10)?;
        writeln!(out, "latency p50       {:.2} ms", report.latency_p50_ms)?;
        writeln!(out, "latency p99       {:.2} ms", report.latency_p99_ms)?;
        writeln!(out, "indexing          {:.2} s", report.index_seconds)?;
    } else {
        writeln!(out, "{}", serde_json::to_string(&report)?)?;
    }
    Ok(())
}
