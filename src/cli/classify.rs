//! `lore classify`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use futures::StreamExt;

use super::{index, load_engine, lossy_utf8, read_stdin, task_error, with_interrupt, GlobalArgs};
use crate::engine::EngineError;
use crate::error::AppError;
use crate::prompts;
use crate::settings::Loaded;
use crate::tasks::classify::{
    self, Classified, Classifier, EvalReport, Examples, InputSpec, Label, Method,
};
use crate::tasks::TaskError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClassifyFormat {
    /// `{"id", "text", "label", "score", "scores"}` per line (default when piped)
    Jsonl,
    /// `label<TAB>text`
    Tsv,
    /// `label  text` for people (default on a terminal)
    Text,
    /// One JSON document (with --eval: the metrics)
    Json,
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    /// Comma-separated labels
    #[arg(long, value_name = "A,B,..", required_unless_present = "labels_file")]
    pub labels: Option<String>,
    /// Labels from a .toml file ([labels] name = "description") or a text
    /// file (one `name[: description]` per line)
    #[arg(long, value_name = "FILE", conflicts_with = "labels")]
    pub labels_file: Option<PathBuf>,
    /// Read items from FILE instead of stdin (one per line)
    #[arg(long, short = 'i', value_name = "FILE")]
    pub input: Option<PathBuf>,
    /// Take the text from this JSONL field or CSV/TSV column (with a header)
    #[arg(long, value_name = "NAME")]
    pub field: Option<String>,
    /// Score against gold labels: `label<TAB>text` lines, or --gold-field
    #[arg(long)]
    pub eval: bool,
    /// JSONL field or CSV/TSV column holding the gold label (implies --eval)
    #[arg(long, value_name = "NAME")]
    pub gold_field: Option<String>,
    /// Labelled examples (`label<TAB>text` lines) to retrieve few-shot examples from
    #[arg(long, value_name = "FILE", conflicts_with = "examples_index")]
    pub examples: Option<PathBuf>,
    /// An index of labelled examples (built with `lore index add --label-field`)
    #[arg(long, value_name = "NAME")]
    pub examples_index: Option<String>,
    /// Examples retrieved per item [setting: classify.shots]
    #[arg(long, short = 'k', value_name = "N")]
    pub shots: Option<u32>,
    /// model: ask the model; knn: vote of the retrieved examples, no model
    #[arg(long, value_enum, default_value = "model")]
    pub method: Method,
    /// Items in flight at once [setting: classify.concurrency]
    #[arg(long, short = 'j', value_name = "N")]
    pub concurrency: Option<u32>,
    /// Use the model's raw label probabilities, without dividing by its
    /// bias on a content-free text
    #[arg(long)]
    pub no_calibration: bool,
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<ClassifyFormat>,
}

fn usage(message: impl Into<String>) -> anyhow::Error {
    AppError::usage(message.into()).into()
}

pub async fn run(loaded: &Loaded, global: &GlobalArgs, args: ClassifyArgs) -> anyhow::Result<()> {
    let labels: Vec<Label> = match (&args.labels, &args.labels_file) {
        (Some(list), _) => classify::labels_from_list(list),
        (None, Some(path)) => classify::labels_from_file(path),
        (None, None) => {
            return Err(usage(
                "give the labels with --labels A,B or --labels-file FILE",
            ))
        }
    }
    .map_err(|e| usage(e.to_string()))?;
    let eval = args.eval || args.gold_field.is_some();
    let (input, from) = match &args.input {
        Some(p) => {
            let bytes = std::fs::read(p).map_err(|e| usage(format!("{}: {e}", p.display())))?;
            let from = p.display().to_string();
            (lossy_utf8(bytes, &from), from)
        }
        None => (
            read_stdin()?.ok_or_else(|| {
                usage("no input: pipe items on stdin (one per line) or give --input FILE")
            })?,
            "<stdin>".to_string(),
        ),
    };
    let spec = InputSpec {
        field: args.field.clone(),
        gold_field: args.gold_field.clone(),
        eval,
    };
    let (items, empty) =
        classify::read_items(&input, &spec, &from).map_err(|e| usage(e.to_string()))?;
    if empty > 0 {
        eprintln!("lore: skipped {empty} empty line(s)");
    }
    if items.is_empty() {
        return Err(usage(format!("no items to classify in {from}")));
    }

    let examples = match (&args.examples, &args.examples_index) {
        (Some(p), _) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| usage(format!("{}: {e}", p.display())))?;
            Some(Examples::from_tsv(&text, &p.display().to_string()).map_err(task_error)?)
        }
        (None, Some(name)) => {
            let idx =
                crate::index::KnowledgeIndex::open(&loaded.settings.indexes_dir(), name, false)
                    .map_err(index::index_error)?;
            Some(Examples::from_index(idx))
        }
        (None, None) => None,
    };
    if args.method == Method::Knn && examples.is_none() {
        return Err(usage(
            "--method knn needs labelled examples: --examples FILE or --examples-index NAME",
        ));
    }
    let engine = match args.method {
        Method::Model => Some(with_interrupt(load_engine(loaded, global.verbose)).await??),
        Method::Knn => None,
    };
    let library = prompts::Library::new(&loaded.settings.prompts_dir());
    let template = library.get("classify").map_err(|e| usage(e.to_string()))?;
    let mut classifier = Classifier {
        engine: engine.as_ref(),
        template: &template,
        labels: &labels,
        examples: examples.as_ref(),
        k: args.shots.unwrap_or(loaded.settings.classify.shots) as usize,
        method: args.method,
        max_item_tokens: loaded.settings.classify.max_item_tokens.max(1) as usize,
        calibration: None,
    };
    if !args.no_calibration {
        classifier.calibrate().await.map_err(task_error)?;
    }
    // 0 is automatic: on a CPU, batched requests ran about 3x slower than
    // one at a time in mistral.rs 0.8.1 (12 items: 1.32 items/s at 1,
    // 0.45 at 4), so only GPUs get several in flight.
    let on_gpu = engine
        .as_ref()
        .is_some_and(|e| e.info().device != crate::engine::DeviceKind::Cpu);
    let concurrency = match args
        .concurrency
        .unwrap_or(loaded.settings.classify.concurrency)
    {
        0 if on_gpu => 4,
        0 => 1,
        n => n as usize,
    };

    let stdout = std::io::stdout();
    let format = args.format.unwrap_or(if stdout.is_terminal() {
        ClassifyFormat::Text
    } else {
        ClassifyFormat::Jsonl
    });
    let bar = index::progress_bar(items.len() as u64, "items");
    let started = Instant::now();
    let mut out = stdout.lock();
    let mut results: Vec<Classified> = Vec::with_capacity(items.len());
    let mut truncated = 0usize;
    let work = async {
        // `buffered` keeps `concurrency` requests in flight (mistral.rs
        // batches them) and yields results in input order.
        let mut stream = futures::stream::iter(items.iter())
            .map(|item| async {
                match classifier.classify(item).await {
                    // mistral.rs 0.8.1 now and then drops a request from a
                    // batch ("channel closed unexpectedly"); the engine
                    // stays up, so one retry recovers it.
                    Err(TaskError::Engine(EngineError::Request(m))) => {
                        eprintln!("lore: warning: item {}: {m}; retrying once", item.id);
                        classifier.classify(item).await
                    }
                    other => other,
                }
            })
            .buffered(concurrency);
        while let Some(result) = stream.next().await {
            let r = result.map_err(task_error)?;
            if r.truncated {
                truncated += 1;
                eprintln!(
                    "lore: warning: item {} was too long for the context and was cut",
                    r.id
                );
            }
            bar.inc(1);
            if !eval {
                write_one(&mut out, format, &r)?;
            }
            results.push(r);
        }
        anyhow::Ok(())
    };
    with_interrupt(work).await??;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    let rate = results.len() as f64 / seconds.max(1e-9);
    eprintln!(
        "lore: classified {} item(s) in {seconds:.1} s ({rate:.2} items/s, concurrency {concurrency}){}",
        results.len(),
        if truncated > 0 {
            format!(", {truncated} cut to fit the context")
        } else {
            String::new()
        }
    );
    if eval {
        let report = classify::evaluate(&results, &labels);
        if report.unknown_gold > 0 {
            eprintln!(
                "lore: warning: {} gold label(s) are not in the label set; counted as errors",
                report.unknown_gold
            );
        }
        match format {
            ClassifyFormat::Json | ClassifyFormat::Jsonl => {
                let mut v = serde_json::to_value(&report)?;
                v["items_per_s"] = serde_json::json!(rate);
                v["method"] = serde_json::json!(args.method);
                v["concurrency"] = serde_json::json!(concurrency);
                writeln!(out, "{v}")?;
            }
            ClassifyFormat::Text | ClassifyFormat::Tsv => write_report(&mut out, &report, rate)?,
        }
    } else if format == ClassifyFormat::Json {
        writeln!(out, "{}", serde_json::to_string(&results)?)?;
    }
    out.flush()?;
    Ok(())
}

fn write_one(out: &mut impl Write, format: ClassifyFormat, r: &Classified) -> anyhow::Result<()> {
    let one_line = |s: &str| s.replace(['\t', '\n', '\r'], " ");
    match format {
        ClassifyFormat::Jsonl => writeln!(out, "{}", serde_json::to_string(r)?)?,
        ClassifyFormat::Tsv => writeln!(out, "{}\t{}", r.label, one_line(&r.text))?,
        ClassifyFormat::Text => match r.score {
            Some(s) => writeln!(
                out,
                "{:<14} {:>4.0}%  {}",
                r.label,
                s * 100.0,
                one_line(&r.text)
            )?,
            None => writeln!(out, "{:<14}    -   {}", r.label, one_line(&r.text))?,
        },
        // Written whole at the end.
        ClassifyFormat::Json => {}
    }
    Ok(())
}

fn write_report(out: &mut impl Write, r: &EvalReport, rate: f64) -> anyhow::Result<()> {
    writeln!(out, "items      {}", r.items)?;
    writeln!(out, "accuracy   {:.3}", r.accuracy)?;
    writeln!(out, "macro-F1   {:.3}", r.macro_f1)?;
    writeln!(out, "items/s    {rate:.2}")?;
    writeln!(out)?;
    let width = r.labels.iter().map(|l| l.len()).max().unwrap_or(5).max(5) + 4;
    writeln!(
        out,
        "{:<width$}  precision  recall     f1  support",
        "label"
    )?;
    for m in &r.per_label {
        writeln!(
            out,
            "{:<width$}  {:>9.3}  {:>6.3}  {:>5.3}  {:>7}",
            m.label, m.precision, m.recall, m.f1, m.support
        )?;
    }
    writeln!(out)?;
    writeln!(out, "confusion (rows: gold, columns: predicted)")?;
    write!(out, "{:<width$}", "")?;
    for i in 0..r.labels.len() {
        write!(out, " {:>5}", i + 1)?;
    }
    writeln!(out)?;
    for (i, row) in r.confusion.iter().enumerate() {
        write!(out, "{:<width$}", format!("{} {}", i + 1, r.labels[i]))?;
        for c in row {
            write!(out, " {c:>5}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}
