//! `lore prompts ...`: the built-in and user templates.

use std::io::Write;

use clap::Subcommand;

use super::completions;
use crate::app::Root;
use crate::error::AppError;
use crate::prompts;

#[derive(Debug, Subcommand)]
pub enum PromptsCommand {
    /// List templates: built-in and yours, with where each comes from
    List,
    /// Print a template's source
    Show {
        #[arg(add = clap_complete::ArgValueCandidates::new(completions::templates))]
        name: String,
    },
}

pub fn run(root: &Root, cmd: PromptsCommand) -> anyhow::Result<()> {
    let library = root.library();
    let mut out = std::io::stdout().lock();
    match cmd {
        PromptsCommand::List => {
            for name in library.names() {
                match library.get(&name) {
                    Ok(t) => {
                        let origin = match &t.origin {
                            prompts::Origin::BuiltIn => "built-in".to_string(),
                            prompts::Origin::User(p) => p.display().to_string(),
                        };
                        writeln!(out, "{name:<12} {:<60} {origin}", t.description)?;
                    }
                    Err(e) => eprintln!("lore: warning: {e}"),
                }
            }
        }
        PromptsCommand::Show { name } => {
            let t = library.get(&name).map_err(AppError::from)?;
            write!(out, "{}", t.source)?;
            if !t.source.ends_with('\n') {
                writeln!(out)?;
            }
        }
    }
    Ok(())
}
