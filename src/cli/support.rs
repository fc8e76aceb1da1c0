//! `lore support`: the support agent on a terminal (the TUI in support
//! mode), from a script or stdin (non-interactive replay), its tickets,
//! and `lore eval support`.

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;

use super::{gen_params, task_error, GlobalArgs};
use crate::error::AppError;
use crate::output::Sink;
use crate::prompts;
use crate::settings::{Loaded, OutputFormat};
use crate::tasks::chat::ChatContext;
use crate::tasks::support::{self, Agent, Dialogue, Ticket, TicketStore, TurnClassifier};
use crate::tasks::{classify, NullSink};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SupportArgs {
    #[command(subcommand)]
    pub command: Option<SupportCommand>,
    /// Replay a dialogue: one customer turn per line, or a JSON/YAML list
    /// (piped stdin is read the same way)
    #[arg(long, value_name = "FILE")]
    pub script: Option<PathBuf>,
    /// Index to answer from [setting: index.name]
    #[arg(long, short = 'i', value_name = "NAME")]
    pub index: Option<String>,
    /// Generation flags; --format picks the scripted dialogue's output: the
    /// transcript as text, or the turns and the ticket as JSON
    #[command(flatten)]
    pub gen: super::GenArgs,
}

#[derive(Debug, Subcommand)]
pub enum SupportCommand {
    /// List the tickets written at hand-over or at the end of a dialogue
    Tickets {
        #[arg(long, short = 'f', value_enum)]
        format: Option<OutputFormat>,
    },
}

#[derive(Debug, Args)]
pub struct EvalSupportArgs {
    /// Directory of scripted dialogues (*.json: turns with the expected
    /// article, and whether a hand-over is expected)
    pub dir: PathBuf,
    /// Only the first N dialogues
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Most tokens per reply [setting: generation.max_tokens]
    #[arg(long, short = 'n', value_name = "N")]
    pub max_tokens: Option<u32>,
    #[arg(long, short = 'f', value_enum)]
    pub format: Option<OutputFormat>,
}

fn examples(setting: &str, builtin: &'static str, name: &str) -> anyhow::Result<(String, String)> {
    if setting.is_empty() {
        return Ok((builtin.to_string(), format!("built-in {name} examples")));
    }
    let text = std::fs::read_to_string(setting).map_err(|e| {
        AppError::usage(format!(
            "cannot read support.{name}_examples {setting}: {e}"
        ))
    })?;
    Ok((text, setting.to_string()))
}

/// The turn classifier from the settings.
pub fn turn_classifier(loaded: &Loaded) -> anyhow::Result<TurnClassifier> {
    let s = &loaded.settings;
    let intents = classify::labels_from_list(&s.support.intents)
        .map_err(|e| AppError::usage(format!("support.intents: {e}")))?;
    let library = prompts::Library::new(&s.prompts_dir());
    let template = library
        .get("classify")
        .map_err(|e| AppError::usage(e.to_string()))?;
    let (it, ifrom) = examples(
        &s.support.intent_examples,
        support::INTENT_EXAMPLES,
        "intent",
    )?;
    let (st, sfrom) = examples(
        &s.support.sentiment_examples,
        support::SENTIMENT_EXAMPLES,
        "sentiment",
    )?;
    TurnClassifier::new(intents, (&it, &ifrom), (&st, &sfrom), template).map_err(task_error)
}

async fn agent(loaded: &Loaded, global: &GlobalArgs) -> anyhow::Result<Agent> {
    let s = &loaded.settings;
    let classifier = turn_classifier(loaded)?;
    let index = super::index::open_for_ask(loaded, &s.index.name)?;
    let engine = super::with_interrupt(super::load_engine(loaded, global.verbose)).await??;
    let library = prompts::Library::new(&s.prompts_dir());
    let get = |name: &str| {
        library
            .get(name)
            .map_err(|e| AppError::usage(e.to_string()))
    };
    let mut params = gen_params(loaded)?;
    // Support answers should not wander from policy.
    params.temperature = params.temperature.min(0.3);
    Ok(Agent {
        ctx: ChatContext {
            engine,
            index: Some(std::sync::Arc::new(index)),
            qa: get("qa")?,
            top_k: s.retrieval.top_k as usize,
            min_score: s.retrieval.min_score as f32,
            not_found: s.support.not_found.clone(),
            chunking: super::index::chunking(loaded),
        },
        template: get("support")?,
        policy: loaded.settings.support.clone(),
        classifier: std::sync::Arc::new(classifier),
        params,
    })
}

pub async fn run(loaded: &Loaded, global: &GlobalArgs, args: SupportArgs) -> anyhow::Result<()> {
    if let Some(SupportCommand::Tickets { format }) = args.command {
        return tickets(loaded, format.unwrap_or(loaded.settings.output.format));
    }
    let script = match &args.script {
        Some(path) => Some((
            std::fs::read_to_string(path)
                .map_err(|e| AppError::usage(format!("cannot read {}: {e}", path.display())))?,
            path.clone(),
        )),
        None if !std::io::stdin().is_terminal() => {
            let mut bytes = Vec::new();
            std::io::stdin().read_to_end(&mut bytes)?;
            Some((super::lossy_utf8(bytes, "stdin"), PathBuf::from("<stdin>")))
        }
        None => None,
    };
    let Some((text, from)) = script else {
        // The settings already hold chat.mode = support (see dispatch).
        return super::chat::run(loaded, global, super::chat::ChatArgs::default()).await;
    };
    let turns = support::read_script(&text, &from).map_err(task_error)?;
    scripted(loaded, global, &turns).await
}

async fn scripted(loaded: &Loaded, global: &GlobalArgs, turns: &[String]) -> anyhow::Result<()> {
    let agent = agent(loaded, global).await?;
    let store = TicketStore {
        dir: loaded.settings.tickets_dir(),
    };
    let format = loaded.settings.output.format;
    let mut dialogue = Dialogue::new();
    let greeting = agent.policy.greeting.clone();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let text = format == OutputFormat::Text;
    if text {
        writeln!(out, "agent: {greeting}")?;
    }
    let mut records = Vec::new();
    let mut left = 0;
    for (i, turn) in turns.iter().enumerate() {
        if dialogue.handover.is_some() {
            left = turns.len() - i;
            break;
        }
        let record = if text {
            writeln!(out, "\ncustomer: {turn}")?;
            write!(out, "agent: ")?;
            out.flush()?;
            let mut sink = crate::output::TextSink::new(&mut out);
            let record =
                super::with_interrupt(support::respond(&agent, &mut dialogue, turn, &mut sink))
                    .await?
                    .map_err(task_error)?;
            sink.end(&serde_json::Value::Null, None)?;
            let cited: Vec<String> = record
                .citations
                .iter()
                .filter_map(|c| record.passages.iter().find(|p| p.n == c.n))
                .map(|p| format!("[{}] {}:L{}-L{}", p.n, p.path, p.lines.0, p.lines.1))
                .collect();
            if !cited.is_empty() {
                writeln!(out, "  sources: {}", cited.join("; "))?;
            }
            writeln!(
                out,
                "  (intent {}, sentiment {})",
                record.intent, record.sentiment
            )?;
            record
        } else {
            super::with_interrupt(support::respond(&agent, &mut dialogue, turn, &mut NullSink))
                .await?
                .map_err(task_error)?
        };
        records.push(record);
        // Written after every turn: a crash mid-dialogue keeps what was said.
        store
            .save(&Ticket::from_dialogue(&dialogue, "open", &greeting))
            .map_err(|e| anyhow::anyhow!("cannot write ticket in {}: {e}", store.dir.display()))?;
    }
    let status = if dialogue.handover.is_some() {
        "handed_over"
    } else {
        "closed"
    };
    let ticket = Ticket::from_dialogue(&dialogue, status, &greeting);
    let path = store
        .save(&ticket)
        .map_err(|e| anyhow::anyhow!("cannot write ticket in {}: {e}", store.dir.display()))?;
    if left > 0 {
        eprintln!("lore: handed over; the {left} remaining scripted turn(s) were not sent");
    }
    match format {
        OutputFormat::Text => {
            writeln!(out, "\nticket {} ({status}): {}", ticket.id, path.display())?;
        }
        OutputFormat::Json | OutputFormat::Jsonl => {
            let v = json!({
                "turns": records,
                "ticket": ticket,
                "ticket_path": path,
                "model": agent.ctx.engine.info().name,
            });
            if format == OutputFormat::Json {
                serde_json::to_writer_pretty(&mut out, &v)?;
            } else {
                serde_json::to_writer(&mut out, &v)?;
            }
            writeln!(out)?;
        }
    }
    Ok(())
}

fn tickets(loaded: &Loaded, format: OutputFormat) -> anyhow::Result<()> {
    let store = TicketStore {
        dir: loaded.settings.tickets_dir(),
    };
    let (list, warnings) = store.list();
    for w in warnings {
        eprintln!("lore: warning: {w}");
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        OutputFormat::Json => {
            serde_json::to_writer_pretty(&mut out, &list)?;
            writeln!(out)?;
        }
        OutputFormat::Jsonl => {
            for t in &list {
                serde_json::to_writer(&mut out, t)?;
                writeln!(out)?;
            }
        }
        OutputFormat::Text => {
            if list.is_empty() {
                eprintln!(
                    "lore: no tickets in {} (they are written by `lore support`)",
                    store.dir.display()
                );
            }
            for t in &list {
                writeln!(
                    out,
                    "{}  {:<11}  {:<15}  {}",
                    t.id, t.status, t.intent, t.summary
                )?;
            }
        }
    }
    Ok(())
}

/// A scripted dialogue of the evaluation set.
#[derive(Debug, serde::Deserialize)]
struct EvalDialogue {
    #[serde(default)]
    name: String,
    turns: Vec<EvalTurn>,
    handover: bool,
}

#[derive(Debug, serde::Deserialize)]
struct EvalTurn {
    customer: String,
    /// Path suffix of the article that answers this turn; null when none does.
    article: Option<String>,
}

fn read_dialogues(dir: &Path) -> anyhow::Result<Vec<(PathBuf, EvalDialogue)>> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| AppError::usage(format!("cannot read {}: {e}", dir.display())))?;
    let mut paths: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Err(AppError::usage(format!("{}: no *.json dialogues", dir.display())).into());
    }
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .map_err(|e| AppError::usage(format!("cannot read {}: {e}", p.display())))?;
            let d: EvalDialogue = serde_json::from_str(&text)
                .map_err(|e| AppError::usage(format!("{}: {e}", p.display())))?;
            Ok((p, d))
        })
        .collect()
}

pub async fn eval(
    loaded: &Loaded,
    global: &GlobalArgs,
    args: EvalSupportArgs,
) -> anyhow::Result<()> {
    let mut dialogues = read_dialogues(&args.dir)?;
    if let Some(n) = args.limit {
        dialogues.truncate(n);
    }
    let agent = agent(loaded, global).await?;
    let format = args.format.unwrap_or(loaded.settings.output.format);
    let bar = super::index::progress_bar(dialogues.len() as u64, "dialogues");
    let (mut expected_turns, mut hits, mut generated, mut valid) = (0usize, 0usize, 0usize, 0usize);
    let (mut tp, mut fp, mut fneg) = (0usize, 0usize, 0usize);
    let mut ttft = Vec::new();
    let mut misses = Vec::new();
    let started = std::time::Instant::now();
    for (path, d) in &dialogues {
        let mut dialogue = Dialogue::new();
        for t in &d.turns {
            if dialogue.handover.is_some() {
                break;
            }
            let r = super::with_interrupt(support::respond(
                &agent,
                &mut dialogue,
                &t.customer,
                &mut NullSink,
            ))
            .await?
            .map_err(task_error)?;
            if let Some(article) = &t.article {
                expected_turns += 1;
                if r.passages
                    .iter()
                    .any(|p| p.path.ends_with(article.as_str()))
                {
                    hits += 1;
                } else {
                    misses.push(format!(
                        "{}: {:?} (query {:?})",
                        path.display(),
                        t.customer,
                        r.query
                    ));
                }
            }
            if let Some(s) = r.time_to_first_token_s {
                generated += 1;
                ttft.push(s);
                if r.citations_valid && !r.citations.is_empty() {
                    valid += 1;
                }
            }
        }
        match (dialogue.handover.is_some(), d.handover) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fneg += 1,
            (false, false) => {}
        }
        let _ = &d.name;
        bar.inc(1);
    }
    bar.finish_and_clear();
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let mean_ttft = if ttft.is_empty() {
        0.0
    } else {
        ttft.iter().sum::<f64>() / ttft.len() as f64
    };
    let report = json!({
        "dialogues": dialogues.len(),
        "turns_with_expected_article": expected_turns,
        "retrieval_hit_rate": ratio(hits, expected_turns),
        "handover_precision": ratio(tp, tp + fp),
        "handover_recall": ratio(tp, tp + fneg),
        "handover": {"true_positive": tp, "false_positive": fp, "false_negative": fneg},
        "generated_turns": generated,
        "valid_citation_rate": ratio(valid, generated),
        "mean_time_to_first_token_s": mean_ttft,
        "wall_s": started.elapsed().as_secs_f64(),
        "model": agent.ctx.engine.info().name,
    });
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match format {
        OutputFormat::Text => {
            writeln!(out, "dialogues                      {}", dialogues.len())?;
            writeln!(
                out,
                "retrieval hit rate             {:.3}  ({hits}/{expected_turns} turns include the expected article)",
                ratio(hits, expected_turns)
            )?;
            writeln!(
                out,
                "hand-over precision            {:.3}  ({tp} right, {fp} unexpected)",
                ratio(tp, tp + fp)
            )?;
            writeln!(
                out,
                "hand-over recall               {:.3}  ({tp} of {} expected)",
                ratio(tp, tp + fneg),
                tp + fneg
            )?;
            writeln!(
                out,
                "valid citations                {:.3}  ({valid}/{generated} generated replies)",
                ratio(valid, generated)
            )?;
            writeln!(out, "mean time to first token       {mean_ttft:.2} s")?;
            for m in &misses {
                eprintln!("lore: retrieval miss: {m}");
            }
        }
        _ => {
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
    }
    Ok(())
}
