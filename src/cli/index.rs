//! `lore index ...`: build, inspect and search knowledge indexes.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;

use super::args::FormatArg;
use super::progress;
use crate::app::Root;
use crate::error::AppError;
use crate::index::dense::Mode;
use crate::index::ingest::{self, Summary};
use crate::index::loaders::RowFields;
use crate::index::{Hit, KnowledgeIndex, SearchOptions};
use crate::settings::OutputFormat;

#[derive(Debug, Args)]
pub struct IndexArgs {
    /// Index name [setting: index.name]
    #[arg(long, short = 'i', global = true, value_name = "NAME", add = clap_complete::ArgValueCandidates::new(super::completions::indexes))]
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
        /// Give every chunk an embedding vector (dense retrieval), embedding
        /// the chunks already indexed too; once on, later adds keep it on
        /// [setting: index.embeddings]
        #[arg(long)]
        embeddings: bool,
        #[command(flatten)]
        rows: CliRowFields,
    },
    /// Remove files, or everything under directories, from the index
    Rm {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// List indexed files with their document and chunk counts
    List {
        #[arg(long, short = 'f', value_enum)]
        format: Option<FormatArg>,
    },
    /// Show documents, chunks, bytes and size on disk
    Stats {
        #[arg(long, short = 'f', value_enum)]
        format: Option<FormatArg>,
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
        /// Ranking: auto (hybrid where the index has vectors), lexical (BM25),
        /// dense (vectors) or hybrid (both, fused) [setting: retrieval.mode]
        #[arg(long, value_name = "MODE", value_parser = ["auto", "lexical", "dense", "hybrid"])]
        mode: Option<String>,
        #[arg(long, short = 'f', value_enum)]
        format: Option<FormatArg>,
    },
    /// Re-read every indexed file into a fresh index (after a lore upgrade, or when it is damaged)
    Rebuild {
        /// Give the rebuilt index embedding vectors, by index.embedding_model
        /// (also the way to change an index's embedding model)
        #[arg(long)]
        embeddings: bool,
    },
}

/// `--text-field/--id-field/--title-field/--label-field`: [`RowFields`]
/// as flags.
#[derive(Debug, Clone, Args)]
pub struct CliRowFields {
    /// JSONL/CSV/TSV: the field holding the text (default: text)
    #[arg(long = "text-field", value_name = "FIELD")]
    pub text: Option<String>,
    /// JSONL/CSV/TSV: the field holding a row id (default: _id or id, else the row number)
    #[arg(long = "id-field", value_name = "FIELD")]
    pub id: Option<String>,
    /// JSONL/CSV/TSV: the field holding a title (default: title when present)
    #[arg(long = "title-field", value_name = "FIELD")]
    pub title: Option<String>,
    /// JSONL/CSV/TSV: the field holding a label (labelled examples)
    #[arg(long = "label-field", value_name = "FIELD")]
    pub label: Option<String>,
}

impl From<CliRowFields> for RowFields {
    fn from(r: CliRowFields) -> RowFields {
        RowFields {
            text: r.text,
            id: r.id,
            title: r.title,
            label: r.label,
        }
    }
}

fn report_summary(summary: &Summary, verbose_skips: bool) {
    for (path, reason) in &summary.skipped {
        if verbose_skips {
            eprintln!("lore: warning: skipped {}: {reason}", path.display());
        }
    }
    eprintln!("lore: {}", summary.line());
}

pub fn run(app: &Root, args: IndexArgs) -> anyhow::Result<()> {
    let root = app.settings.settings.indexes_dir();
    let name = args
        .index
        .unwrap_or_else(|| app.settings.settings.index.name.clone());
    crate::index::store::check_name(&name).map_err(AppError::from)?;
    match args.command {
        IndexCommand::Add {
            paths,
            prune,
            embeddings,
            rows,
        } => add(app, &name, &paths, prune, embeddings, rows.into()),
        IndexCommand::Rm { paths } => {
            let idx = KnowledgeIndex::open(&root, &name, false).map_err(AppError::from)?;
            let gone = ingest::remove(&idx, &paths).map_err(AppError::from)?;
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
        IndexCommand::List { format } => list(&root, &name, format),
        IndexCommand::Stats { format } => stats(&root, &name, format),
        IndexCommand::Search {
            query,
            k,
            syntax,
            mode,
            format,
        } => {
            let mut idx = KnowledgeIndex::open(&root, &name, false).map_err(AppError::from)?;
            let mode = mode.as_deref().and_then(Mode::parse);
            app.prepare_search(&mut idx, mode, &progress::Stderr::new())?;
            let opts = SearchOptions {
                limit: k,
                syntax,
                ..SearchOptions::default()
            };
            let hits = idx.search(&query, &opts).map_err(AppError::from)?;
            print_hits(
                &name,
                &query,
                &hits,
                format.map_or(OutputFormat::Text, Into::into),
            )
        }
        IndexCommand::Rebuild { embeddings } => {
            let bar = progress::ingest_bar();
            let mut progress = |done: usize, total: usize, _bytes: u64, _chunks: usize| {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            };
            let mut opts = app.add_options(RowFields::default(), false);
            // The model the index records, unless asked for vectors anew
            // (which may change the model).
            let recorded =
                crate::index::store::recorded_manifest(&KnowledgeIndex::dir_for(&root, &name))
                    .and_then(|m| m.embeddings)
                    .map(|e| e.model)
                    .filter(|_| !embeddings);
            opts.dense = app.dense_spec(recorded, embeddings)?;
            let summary =
                ingest::rebuild(&root, &name, &opts, &mut progress).map_err(AppError::from)?;
            bar.finish_and_clear();
            report_summary(&summary, true);
            Ok(())
        }
    }
}

fn add(
    app: &Root,
    name: &str,
    paths: &[PathBuf],
    prune: bool,
    embeddings: bool,
    rows: RowFields,
) -> anyhow::Result<()> {
    let root = app.settings.settings.indexes_dir();
    let (files, walk_skips) = ingest::expand_all(paths).map_err(AppError::from)?;
    let mut idx = KnowledgeIndex::open(&root, name, true).map_err(AppError::from)?;
    app.prepare_write(&mut idx, embeddings)?;
    let opts = app.add_options(rows, prune);
    let prune_under: Vec<PathBuf> = paths
        .iter()
        .filter(|p| p.is_dir())
        .map(|p| ingest::absolute(p))
        .collect();
    let bar = progress::ingest_bar();
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
    let mut summary =
        ingest::add(&idx, &files, &prune_under, &opts, &mut progress).map_err(AppError::from)?;
    summary.skipped.splice(0..0, walk_skips);
    bar.finish_and_clear();
    report_summary(&summary, true);
    Ok(())
}

fn list(root: &std::path::Path, name: &str, format: Option<FormatArg>) -> anyhow::Result<()> {
    let idx = KnowledgeIndex::open(root, name, false).map_err(AppError::from)?;
    let manifest = idx.manifest();
    let mut out = std::io::stdout().lock();
    match format.map_or(OutputFormat::Text, Into::into) {
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

fn stats(root: &std::path::Path, name: &str, format: Option<FormatArg>) -> anyhow::Result<()> {
    let idx = KnowledgeIndex::open(root, name, false).map_err(AppError::from)?;
    let s = idx.stats();
    let mut out = std::io::stdout().lock();
    if format.map_or(OutputFormat::Text, Into::into) == OutputFormat::Text {
        writeln!(out, "index:          {}", s.name)?;
        writeln!(out, "path:           {}", s.path.display())?;
        writeln!(out, "files:          {}", s.files)?;
        writeln!(out, "documents:      {}", s.documents)?;
        writeln!(out, "chunks:         {}", s.chunks)?;
        writeln!(out, "text:           {:.1} MB", s.text_bytes as f64 / 1e6)?;
        writeln!(out, "on disk:        {:.1} MB", s.disk_bytes as f64 / 1e6)?;
        writeln!(out, "schema version: {}", s.schema_version)?;
        match &s.embedding_model {
            Some(m) => {
                let share = s.vectors as f64 / (s.chunks.max(1)) as f64;
                writeln!(out, "embeddings:     {m}")?;
                writeln!(
                    out,
                    "vectors:        {} of {} chunks ({:.0}%)",
                    s.vectors,
                    s.chunks,
                    share * 100.0
                )?;
            }
            None => writeln!(out, "embeddings:     none (lexical search only)")?,
        }
    } else {
        writeln!(out, "{}", serde_json::to_string(&s)?)?;
    }
    Ok(())
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
    let hit_json = Hit::report_json;
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
                let score = match h.similarity {
                    Some(sim) => format!("{:.2} sim {sim:.2}", h.score),
                    None => format!("{:.2}", h.score),
                };
                writeln!(out, "{}. [{score}] {location}{heading}", i + 1)?;
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
