//! `lore support`: the support agent on a terminal (the TUI in support
//! mode), from a script or stdin (a replay through the same conversation
//! service the TUI uses), its tickets, and `lore eval support`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::json;
use tokio::sync::mpsc;

use super::args::{FormatArg, GenArgs};
use super::progress::{self, Stderr};
use super::stdio::{check_fits_bytes, read_stdin, read_text_file, with_interrupt};
use crate::app::Root;
use crate::error::{task_error, AppError, Exit};
use crate::eval;
use crate::model::{ChatMessage, Role};
use crate::output::{Sink, TextSink};
use crate::settings::{FlagValue, OutputFormat, Sources};
use crate::tasks::chat::Mode;
use crate::tasks::conversation::{
    ConversationService, FirstModel, Notification, TurnOutcome, TurnRequest,
};
use crate::tasks::policy::eval_params;
use crate::tasks::support::{self, TurnRecord};

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
    #[arg(long, short = 'i', value_name = "NAME", add = clap_complete::ArgValueCandidates::new(super::completions::indexes))]
    pub index: Option<String>,
    /// Generation flags; --format picks the scripted dialogue's output: the
    /// transcript as text, or the turns and the ticket as JSON
    #[command(flatten)]
    pub gen: GenArgs,
}

impl SupportArgs {
    /// Adds these flags to the settings layers; support mode on a terminal
    /// is the chat in support mode.
    pub fn layer(&self, sources: &mut Sources) {
        sources.flag(
            "chat.mode",
            FlagValue::Str("support".into()),
            "lore support",
        );
        if let Some(i) = &self.index {
            sources.flag("index.name", FlagValue::Str(i.clone()), "--index");
        }
        self.gen.layer(sources);
    }
}

#[derive(Debug, Subcommand)]
pub enum SupportCommand {
    /// List the tickets written at hand-over or at the end of a dialogue
    Tickets {
        #[arg(long, short = 'f', value_enum)]
        format: Option<FormatArg>,
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
    pub format: Option<FormatArg>,
}

impl EvalSupportArgs {
    /// Only the length: evaluations are greedy whatever the settings say.
    pub fn layer(&self, sources: &mut Sources) {
        let sampling = super::SamplingArgs {
            max_tokens: self.max_tokens,
            temperature: None,
        };
        sampling.layer(sources);
    }
}

pub async fn run(root: &Root, args: SupportArgs) -> anyhow::Result<()> {
    if let Some(SupportCommand::Tickets { format }) = args.command {
        let format = format.map_or(root.settings.settings.output.format, Into::into);
        return tickets(root, format);
    }
    // Binary data is refused and invalid UTF-8 replaced, as for every input.
    let script = match &args.script {
        Some(path) => Some((read_text_file(path)?, path.clone())),
        None => read_stdin()?.map(|text| (text, PathBuf::from("<stdin>"))),
    };
    let Some((text, from)) = script else {
        // The settings already hold chat.mode = support (see `layer`).
        return super::chat::run(root, super::chat::ChatArgs::default()).await;
    };
    let turns = support::read_script(&text, &from).map_err(task_error)?;
    scripted(root, &turns).await
}

/// Replays `turns` through the conversation service, exactly as the TUI
/// in support mode would send them.
async fn scripted(root: &Root, turns: &[String]) -> anyhow::Result<()> {
    let progress = Stderr::new();
    let index = root.open_index(&root.settings.settings.index.name, &progress)?;
    let model = with_interrupt(root.load_model(&progress))
        .await?
        .map_err(AppError::from)?;
    // A turn far past the context is refused from its length, before it
    // is classified, searched for and counted.
    for (i, turn) in turns.iter().enumerate() {
        check_fits_bytes(
            &format!("turn {} of the script", i + 1),
            turn.len(),
            model.info(),
        )?;
    }
    let model_name = model.info().name.clone();
    let greeting = root.support_policy().greeting;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let service =
        ConversationService::start(root.services(FirstModel::Loaded(model), Some(index))?, tx);
    let mut driver = Script {
        service,
        history: Vec::new(),
        records: Vec::new(),
    };
    let format = root.settings.settings.output.format;
    let text = format == OutputFormat::Text;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if text {
        writeln!(out, "agent: {greeting}")?;
    }
    let mut left = 0;
    for (i, turn) in turns.iter().enumerate() {
        if driver.records.last().is_some_and(|r| r.handover.is_some()) {
            left = turns.len() - i;
            break;
        }
        let record = if text {
            writeln!(out, "\ncustomer: {turn}")?;
            write!(out, "agent: ")?;
            out.flush()?;
            let mut sink = TextSink::new(&mut out);
            let record = with_interrupt(driver.turn(turn, &mut rx, &mut sink)).await??;
            sink.end(&serde_json::Value::Null, None)?;
            print_turn(&mut out, &record)?;
            record
        } else {
            with_interrupt(driver.turn(turn, &mut rx, &mut crate::tasks::NullSink)).await??
        };
        driver.records.push(record);
    }
    let (ticket, path) = match driver.service.finish_dialogue().await {
        Some(result) => result.map_err(|e| AppError::new(Exit::Failure, e))?,
        None => return Err(AppError::usage("the script had no customer turns").into()),
    };
    if left > 0 {
        eprintln!("lore: handed over; the {left} remaining scripted turn(s) were not sent");
    }
    match format {
        OutputFormat::Text => {
            writeln!(
                out,
                "\nticket {} ({}): {}",
                ticket.id,
                ticket.status,
                path.display()
            )?;
        }
        OutputFormat::Json | OutputFormat::Jsonl => {
            let v = json!({
                "turns": driver.records,
                "ticket": ticket,
                "ticket_path": path,
                "model": model_name,
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

/// The scripted side of a support dialogue: what the TUI's screen would
/// hold, turn by turn.
struct Script {
    service: ConversationService,
    history: Vec<ChatMessage>,
    records: Vec<TurnRecord>,
}

impl Script {
    /// Sends one customer turn and waits for its end, streaming the reply
    /// into `sink`.
    async fn turn(
        &mut self,
        customer: &str,
        rx: &mut mpsc::UnboundedReceiver<Notification>,
        sink: &mut dyn Sink,
    ) -> anyhow::Result<TurnRecord> {
        let id = self.records.len() as u64 + 1;
        self.service.send(TurnRequest {
            turn: id,
            mode: Mode::Support,
            system: String::new(),
            history: self.history.clone(),
            user: customer.to_string(),
            attachment: None,
        });
        while let Some(n) = rx.recv().await {
            match n {
                Notification::Delta { turn, text } if turn == id => sink.text(&text)?,
                Notification::Done { turn, outcome } if turn == id => {
                    let TurnOutcome::Support {
                        record,
                        ticket_path,
                        ..
                    } = *outcome
                    else {
                        return Err(anyhow::anyhow!("the support turn ended as a chat turn"));
                    };
                    ticket_path.map_err(|e| AppError::new(Exit::Failure, e))?;
                    self.history.push(ChatMessage::new(Role::User, customer));
                    self.history
                        .push(ChatMessage::new(Role::Assistant, record.reply.clone()));
                    return Ok(record);
                }
                Notification::Failed { turn, message } if turn == id => {
                    return Err(AppError::new(Exit::Failure, message).into())
                }
                Notification::Error(e) => eprintln!("lore: warning: {e}"),
                _ => {}
            }
        }
        Err(anyhow::anyhow!("the conversation service stopped"))
    }
}

fn print_turn(out: &mut dyn Write, record: &TurnRecord) -> std::io::Result<()> {
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
    )
}

fn tickets(root: &Root, format: OutputFormat) -> anyhow::Result<()> {
    let store = root.tickets();
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

/// `lore eval support DIR`: greedy, like every evaluation.
pub async fn eval(root: &Root, args: EvalSupportArgs) -> anyhow::Result<()> {
    let mut dialogues = eval::support::read_dialogues(&args.dir).map_err(AppError::usage)?;
    if let Some(n) = args.limit {
        dialogues.truncate(n);
    }
    let progress = Stderr::new();
    let index = root.open_index(&root.settings.settings.index.name, &progress)?;
    let model = with_interrupt(root.load_model(&progress))
        .await?
        .map_err(AppError::from)?;
    let mut agent = root.agent(model, Some(index))?;
    agent.params = eval_params(&agent.params);
    let format = args
        .format
        .map_or(root.settings.settings.output.format, Into::into);
    let bar = progress::bar(dialogues.len() as u64, "dialogues");
    let report = with_interrupt(eval::support::run(&agent, &dialogues, |done| {
        bar.set_position(done as u64)
    }))
    .await?
    .map_err(task_error)?;
    bar.finish_and_clear();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let name = agent.model.info().name.clone();
    eval::print(
        &mut out,
        &report,
        format != OutputFormat::Text,
        31,
        |mut v| {
            v["model"] = json!(name);
            v
        },
    )?;
    if format == OutputFormat::Text {
        for m in &report.misses {
            eprintln!("lore: retrieval miss: {m}");
        }
    }
    Ok(())
}
