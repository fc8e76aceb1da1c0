//! `lore classify`: reads the items, builds the classifier, and writes
//! each result (or the evaluation) in the chosen format; the batch itself
//! runs in [`crate::tasks::classify::classify_all`].

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use clap::Args;

use super::progress::{self, Stderr};
use super::stdio::{read_stdin, read_text_file, with_interrupt};
use crate::app::Root;
use crate::error::{task_error, AppError};
use crate::model::MAX_BYTES_PER_TOKEN;
use crate::tasks::classify::{
    self, BatchError, BatchOptions, BatchSummary, Classified, Classifier, Examples, InputSpec,
    Item, Label, Method,
};

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

/// `--method`: [`Method`] as a flag value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CliMethod {
    /// Ask the model (with retrieved examples when given)
    Model,
    /// Vote of the nearest labelled examples, no model call
    Knn,
}

impl From<CliMethod> for Method {
    fn from(m: CliMethod) -> Method {
        match m {
            CliMethod::Model => Method::Model,
            CliMethod::Knn => Method::Knn,
        }
    }
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
    #[arg(long, value_name = "NAME", add = clap_complete::ArgValueCandidates::new(super::completions::indexes))]
    pub examples_index: Option<String>,
    /// Examples retrieved per item [setting: classify.shots]
    #[arg(long, short = 'k', value_name = "N")]
    pub shots: Option<u32>,
    /// model: ask the model; knn: vote of the retrieved examples, no model
    #[arg(long, value_enum, default_value = "model")]
    pub method: CliMethod,
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

pub async fn run(root: &Root, args: ClassifyArgs) -> anyhow::Result<()> {
    let settings = &root.settings.settings;
    let labels = read_labels(&args)?;
    let eval = args.eval || args.gold_field.is_some();
    let mut items = read_input(&args, eval)?;
    precut(
        &mut items,
        settings.classify.max_item_tokens.max(1) as usize,
    );
    let examples = read_examples(root, &args)?;
    let method = Method::from(args.method);
    if method == Method::Knn && examples.is_none() {
        return Err(usage(
            "--method knn needs labelled examples: --examples FILE or --examples-index NAME",
        ));
    }
    let model = match method {
        Method::Model => Some(
            with_interrupt(root.load_model(&Stderr::new()))
                .await?
                .map_err(AppError::from)?,
        ),
        Method::Knn => None,
    };
    let template = root.template("classify")?;
    let mut classifier = Classifier {
        model: model.as_deref(),
        template: &template,
        labels: &labels,
        examples: examples.as_ref(),
        k: args.shots.unwrap_or(settings.classify.shots) as usize,
        method,
        max_item_tokens: settings.classify.max_item_tokens.max(1) as usize,
        calibration: None,
    };
    let options = BatchOptions {
        concurrency: args.concurrency.unwrap_or(settings.classify.concurrency),
        calibrate: !args.no_calibration,
    };

    let stdout = std::io::stdout();
    let format = args.format.unwrap_or(if stdout.is_terminal() {
        ClassifyFormat::Text
    } else {
        ClassifyFormat::Jsonl
    });
    let bar = progress::bar(items.len() as u64, "items");
    let mut out = stdout.lock();
    let on_retry = |item: &Item, message: &str| {
        eprintln!("lore: warning: item {}: {message}; retrying once", item.id);
    };
    let on_result = |r: &Classified| {
        if r.truncated {
            eprintln!(
                "lore: warning: item {} was too long for the context and was cut",
                r.id
            );
        }
        bar.inc(1);
        if !eval {
            write_one(&mut out, format, r)?;
        }
        anyhow::Ok(())
    };
    let batch = classify::classify_all(&mut classifier, &items, options, on_retry, on_result);
    let batch = with_interrupt(batch).await?.map_err(|e| match e {
        BatchError::Task(e) => task_error(e),
        BatchError::Stopped(e) => e,
    })?;
    bar.finish_and_clear();
    eprintln!("{}", summary_line(&batch));
    if eval {
        write_eval(&mut out, format, &batch, &labels, method)?;
    } else if format == ClassifyFormat::Json {
        writeln!(out, "{}", serde_json::to_string(&batch.results)?)?;
    }
    out.flush()?;
    Ok(())
}

fn read_labels(args: &ClassifyArgs) -> anyhow::Result<Vec<Label>> {
    match (&args.labels, &args.labels_file) {
        (Some(list), _) => classify::labels_from_list(list),
        (None, Some(path)) => classify::labels_from_file(path),
        (None, None) => {
            return Err(usage(
                "give the labels with --labels A,B or --labels-file FILE",
            ))
        }
    }
    .map_err(|e| usage(e.to_string()))
}

/// The items of `--input` or stdin; empty lines are skipped (and said so).
/// Binary input is refused (see `stdio::read_text`).
fn read_input(args: &ClassifyArgs, eval: bool) -> anyhow::Result<Vec<Item>> {
    let (input, from) = match &args.input {
        Some(p) => (read_text_file(p)?, p.display().to_string()),
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
    if items.is_empty() {
        // One line for one failure: the skipped count goes into it.
        let skipped = match empty {
            0 => String::new(),
            n => format!(" ({n} empty line(s) skipped)"),
        };
        return Err(usage(format!("no items to classify in {from}{skipped}")));
    }
    if empty > 0 {
        eprintln!("lore: skipped {empty} empty line(s)");
    }
    Ok(items)
}

/// Cuts items so long that no count is needed to know they pass
/// `max_item_tokens` to one token more than that can hold, so the exact
/// count and cut that follow (with their warning) never tokenize megabytes.
fn precut(items: &mut [Item], max_item_tokens: usize) {
    let keep = (max_item_tokens + 1).saturating_mul(MAX_BYTES_PER_TOKEN);
    for item in items {
        if item.text.len() > keep {
            let mut end = keep;
            while !item.text.is_char_boundary(end) {
                end -= 1;
            }
            item.text.truncate(end);
        }
    }
}

fn read_examples(root: &Root, args: &ClassifyArgs) -> anyhow::Result<Option<Examples>> {
    Ok(match (&args.examples, &args.examples_index) {
        (Some(p), _) => {
            let text =
                std::fs::read_to_string(p).map_err(|e| usage(format!("{}: {e}", p.display())))?;
            Some(Examples::from_tsv(&text, &p.display().to_string()).map_err(task_error)?)
        }
        (None, Some(name)) => {
            let idx = crate::index::KnowledgeIndex::open(
                &root.settings.settings.indexes_dir(),
                name,
                false,
            )
            .map_err(AppError::from)?;
            Some(Examples::from_index(idx))
        }
        (None, None) => None,
    })
}

fn summary_line(batch: &BatchSummary) -> String {
    let truncated = batch.truncated();
    format!(
        "lore: classified {} item(s) in {:.1} s ({:.2} items/s, concurrency {}){}",
        batch.results.len(),
        batch.seconds,
        batch.items_per_s(),
        batch.concurrency,
        if truncated > 0 {
            format!(", {truncated} cut to fit the context")
        } else {
            String::new()
        }
    )
}

/// The metrics of `batch` against its gold labels.
fn write_eval(
    out: &mut impl Write,
    format: ClassifyFormat,
    batch: &BatchSummary,
    labels: &[Label],
    method: Method,
) -> anyhow::Result<()> {
    let report = crate::eval::classify::evaluate(&batch.results, labels);
    if report.unknown_gold > 0 {
        eprintln!(
            "lore: warning: {} gold label(s) are not in the label set; counted as errors",
            report.unknown_gold
        );
    }
    let rate = batch.items_per_s();
    match format {
        ClassifyFormat::Json | ClassifyFormat::Jsonl => {
            let mut v = serde_json::to_value(&report)?;
            v["items_per_s"] = serde_json::json!(rate);
            v["method"] = serde_json::json!(method);
            v["concurrency"] = serde_json::json!(batch.concurrency);
            writeln!(out, "{v}")?;
        }
        ClassifyFormat::Text | ClassifyFormat::Tsv => write_report(out, &report, rate)?,
    }
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

fn write_report(
    out: &mut impl Write,
    r: &crate::eval::classify::EvalReport,
    rate: f64,
) -> anyhow::Result<()> {
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

#[cfg(test)]
mod precut_tests {
    use super::*;

    #[test]
    fn items_past_any_count_are_cut_at_a_char_boundary() {
        let item = |text: String| Item {
            id: "1".into(),
            text,
            gold: None,
        };
        let mut items = vec![item("é".repeat(2000)), item("short".into())];
        precut(&mut items, 4);
        // 5 tokens × 128 bytes = 640 bytes, and 640 is a boundary of "é".
        assert_eq!(items[0].text.len(), 640);
        assert_eq!(items[1].text, "short");
        let mut odd = vec![item(format!("a{}", "é".repeat(2000)))];
        precut(&mut odd, 4);
        assert_eq!(odd[0].text.len(), 639);
    }
}
