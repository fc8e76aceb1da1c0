//! Command-line interface: flags, their settings layers, and dispatch.
//! Each command's file reads its input, asks the application root
//! ([`crate::app::Root`]) for what it needs, runs the task and writes the
//! output; the work itself lives in `tasks`.

mod agent;
mod approve;
mod args;
mod ask;
mod chat;
mod classify;
mod completions;
mod eval;
mod index;
mod models;
mod panic;
mod progress;
mod prompts;
mod run;
mod serve;
mod sessions;
mod stdio;
mod support;

use std::io::IsTerminal;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::app::Root;
use crate::error::{exit_for, AppError, Exit};
use crate::settings::{self, Sources};
use crate::tasks::TaskError;
pub use args::{FormatArg, GenArgs, GlobalArgs, SamplingArgs};

const AFTER_HELP: &str = "\
Exit codes: 0 ok, 1 other failure, 2 usage or settings error, 3 model could not be
loaded, 4 input too large for the model's context, 5 download failed, 6 agent step
limit reached, 7 agent loop detected, 130 interrupted.

Settings: `lore config show` prints them with their origin; see config/default.toml.";

#[derive(Debug, Parser)]
#[command(name = "lore", version, about = "Ask, chat and classify with a local LLM grounded in your documents", after_help = AFTER_HELP)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    /// With none, `lore` opens the chat on a terminal
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Full-screen chat (the default on a terminal); piped stdin is context
    Chat(chat::ChatArgs),
    /// Answer a question from the knowledge base, citing sources
    Ask(ask::AskArgs),
    /// Customer-service agent over the knowledge base (TUI, or a script)
    Support(support::SupportArgs),
    /// Send one prompt (argument and/or stdin) and print the reply
    Run(run::RunArgs),
    /// Let the model answer a request by reading the workspace's files
    Agent(agent::AgentArgs),
    /// Put each input line under one label of a set
    Classify(classify::ClassifyArgs),
    /// Serve the model over HTTP: OpenAI-compatible API and lore's tasks
    Serve(serve::ServeArgs),
    /// List and convert model files
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// List and show prompt templates
    #[command(subcommand)]
    Prompts(prompts::PromptsCommand),
    /// Build and search knowledge indexes
    Index(index::IndexArgs),
    /// Measure retrieval and answer quality on evaluation sets
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// List, show, export and delete saved chat and agent sessions
    #[command(subcommand)]
    Sessions(sessions::SessionsCommand),
    /// Show the effective settings and where they come from
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script (see the README for installing it)
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff): `lore man | man -l -`
    Man(completions::ManArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print every effective setting and the layer it came from
    Show,
    /// Print the settings files consulted, in order
    Path,
}

impl Command {
    /// Adds this command's flags to the settings layers.
    fn layer(&self, sources: &mut Sources) {
        match self {
            Command::Chat(a) => a.layer(sources),
            Command::Ask(a) => a.layer(sources),
            Command::Support(a) => a.layer(sources),
            Command::Run(a) => a.layer(sources),
            Command::Agent(a) => a.layer(sources),
            Command::Eval(e) => e.layer(sources),
            Command::Serve(a) => a.layer(sources),
            _ => {}
        }
    }
}

/// Entry point: returns the process exit code.
pub fn main() -> i32 {
    // Panics print nothing; one that escapes is reported when this drops.
    let _panic_guard = panic::install();
    // A shell asking for completions is answered here, before parsing.
    completions::complete_if_asked();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::Usage.code()
            } else {
                0
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("lore: error: cannot start the async runtime: {e}");
            return Exit::Failure.code();
        }
    };
    let result = runtime.block_on(dispatch(cli));
    // mistral.rs keeps engine threads; do not wait for them on exit.
    runtime.shutdown_timeout(Duration::from_millis(100));
    match result {
        Ok(()) => 0,
        Err(e) => {
            if is_broken_pipe(&e) {
                return 0;
            }
            let exit = exit_for(&e);
            if exit != Exit::Interrupted {
                eprintln!("lore: error: {e:#}");
            }
            exit.code()
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.downcast_ref::<TaskError>().is_some_and(|t| {
                matches!(t, TaskError::Output(io) if io.kind() == std::io::ErrorKind::BrokenPipe)
            })
    })
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let command = match cli.command {
        Some(c) => c,
        // `lore` alone opens the chat, but only where someone can see it:
        // in a pipe or a script it prints usage instead.
        None if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() => {
            Command::Chat(chat::ChatArgs::default())
        }
        None => {
            use clap::CommandFactory;
            let _ = Cli::command().print_help();
            return Err(AppError::usage(
                "no command given; `lore chat` opens the chat on a terminal, `lore run` answers one prompt",
            )
            .into());
        }
    };
    let mut sources = Sources::discover();
    command.layer(&mut sources);
    cli.global.layer(&mut sources);
    let loaded = settings::load(&sources).map_err(AppError::from)?;
    for warning in &loaded.warnings {
        eprintln!("lore: warning: {warning}");
    }
    let root = Root::new(loaded, cli.global.verbose);
    match command {
        Command::Chat(args) => chat::run(&root, args).await,
        Command::Support(args) => support::run(&root, args).await,
        Command::Sessions(cmd) => sessions::run(&root.settings, cmd),
        Command::Run(args) => run::run(&root, args).await,
        Command::Agent(args) => agent::run(&root, args).await,
        Command::Ask(args) => ask::run(&root, args).await,
        Command::Classify(args) => classify::run(&root, args).await,
        Command::Serve(args) => serve::run(&root, args).await,
        Command::Models(cmd) => models::run(&root, cmd),
        Command::Prompts(cmd) => prompts::run(&root, cmd),
        Command::Index(args) => index::run(&root, args),
        Command::Eval(cmd) => eval::run(&root, cmd).await,
        Command::Config(cmd) => config(&root, cmd),
        Command::Completions(args) => completions::print_script(&args),
        Command::Man(args) => completions::print_man(&args),
    }
}

fn config(root: &Root, cmd: ConfigCommand) -> anyhow::Result<()> {
    let loaded = &root.settings;
    match cmd {
        ConfigCommand::Show => print!("{}", settings::render_show(loaded)),
        ConfigCommand::Path => {
            println!("built-in defaults (config/default.toml, embedded)");
            for (path, exists) in &loaded.files {
                let state = if *exists { "" } else { " (not present)" };
                println!("{}{state}", path.display());
            }
        }
    }
    Ok(())
}

/// A usage error naming the first of `paths` that is not a file.
pub fn require_files(paths: &[&std::path::Path]) -> anyhow::Result<()> {
    match paths.iter().find(|p| !p.is_file()) {
        Some(p) => Err(AppError::usage(format!("no such file: {}", p.display())).into()),
        None => Ok(()),
    }
}
