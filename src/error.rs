//! Exit codes and the error type that carries one to `main`.
//!
//! Every failure a user can cause maps to a documented exit code (README,
//! "Exit codes"); anything else is 1.

use std::fmt;

/// Documented process exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Ok = 0,
    Failure = 1,
    Usage = 2,
    ModelLoad = 3,
    TooLarge = 4,
    Download = 5,
    /// `lore agent` stopped at its step limit before answering.
    StepLimit = 6,
    /// `lore agent` stopped because the model repeated a call.
    LoopDetected = 7,
    /// `lore agent` needed the user's approval and had no terminal to ask,
    /// or the user stopped the turn at an approval prompt.
    NeedsApproval = 8,
    Interrupted = 130,
}

impl Exit {
    pub fn code(self) -> i32 {
        self as i32
    }
}

/// An error with the exit code it should end the process with.
#[derive(Debug)]
pub struct AppError {
    pub exit: Exit,
    pub message: String,
}

impl AppError {
    pub fn new(exit: Exit, message: impl Into<String>) -> AppError {
        AppError {
            exit,
            message: message.into(),
        }
    }

    pub fn usage(message: impl Into<String>) -> AppError {
        AppError::new(Exit::Usage, message)
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AppError {}

impl From<crate::settings::SettingsError> for AppError {
    fn from(e: crate::settings::SettingsError) -> AppError {
        AppError::usage(e.to_string())
    }
}

/// The exit code for any error: an [`AppError`] anywhere in the chain
/// decides, else 1.
pub fn exit_for(err: &anyhow::Error) -> Exit {
    err.chain()
        .find_map(|e| e.downcast_ref::<AppError>().map(|a| a.exit))
        .unwrap_or(Exit::Failure)
}

// Every layer's error maps to its exit code here, once: the CLI just uses
// `?`.

impl From<crate::model::ModelError> for AppError {
    fn from(e: crate::model::ModelError) -> AppError {
        use crate::model::ModelError;
        let exit = match &e {
            ModelError::Spec(_) | ModelError::Load { .. } => Exit::ModelLoad,
            ModelError::TooLarge { .. } => Exit::TooLarge,
            ModelError::Request(_) => Exit::Failure,
        };
        AppError::new(exit, e.to_string())
    }
}

impl From<crate::index::IndexError> for AppError {
    fn from(e: crate::index::IndexError) -> AppError {
        use crate::index::IndexError;
        let exit = match e {
            IndexError::Missing { .. }
            | IndexError::Version { .. }
            | IndexError::InvalidName { .. }
            | IndexError::Query(_)
            | IndexError::NoVectors { .. }
            | IndexError::OtherModel { .. } => Exit::Usage,
            IndexError::Locked { .. }
            | IndexError::Damaged { .. }
            | IndexError::Tantivy { .. }
            | IndexError::Embedding { .. } => Exit::Failure,
        };
        AppError::new(exit, e.to_string())
    }
}

impl From<crate::eval::retrieval::EvalError> for AppError {
    fn from(e: crate::eval::retrieval::EvalError) -> AppError {
        match e {
            crate::eval::retrieval::EvalError::Index(e) => e.into(),
            other => AppError::usage(other.to_string()),
        }
    }
}

impl From<crate::index::ingest::IngestError> for AppError {
    fn from(e: crate::index::ingest::IngestError) -> AppError {
        match e {
            crate::index::ingest::IngestError::Index(e) => e.into(),
            other => AppError::usage(other.to_string()),
        }
    }
}

impl From<crate::prompts::PromptError> for AppError {
    fn from(e: crate::prompts::PromptError) -> AppError {
        AppError::usage(e.to_string())
    }
}

impl From<crate::sessions::SessionError> for AppError {
    fn from(e: crate::sessions::SessionError) -> AppError {
        let exit = if e.is_usage() {
            Exit::Usage
        } else {
            Exit::Failure
        };
        AppError::new(exit, e.to_string())
    }
}

impl From<crate::engine::gguf::ModelFileError> for AppError {
    fn from(e: crate::engine::gguf::ModelFileError) -> AppError {
        let exit = match e {
            crate::engine::gguf::ModelFileError::Write { .. } => Exit::Failure,
            _ => Exit::Usage,
        };
        AppError::new(exit, e.to_string())
    }
}

/// A task's failure with its exit code. Output errors keep their
/// `io::Error` in the chain, so that a closed pipe is recognised as such.
pub fn task_error(e: crate::tasks::TaskError) -> anyhow::Error {
    use crate::tasks::TaskError;
    match e {
        TaskError::Engine(e) => AppError::from(e).into(),
        TaskError::Output(io) => anyhow::Error::new(io).context("cannot write output"),
        TaskError::Prompt(e) => AppError::from(e).into(),
        TaskError::Index(e) => AppError::from(e).into(),
        TaskError::Input(m) => AppError::usage(m).into(),
    }
}

impl From<crate::download::DownloadError> for AppError {
    fn from(e: crate::download::DownloadError) -> AppError {
        use crate::download::DownloadError;
        let exit = match &e {
            DownloadError::Usage(_)
            | DownloadError::NotFound { .. }
            | DownloadError::Ambiguous { .. }
            | DownloadError::NoGguf { .. } => Exit::Usage,
            DownloadError::Write { .. } => Exit::Failure,
            DownloadError::Network { .. }
            | DownloadError::Denied { .. }
            | DownloadError::Http { .. }
            | DownloadError::Interrupted { .. }
            | DownloadError::Checksum { .. } => Exit::Download,
        };
        AppError::new(exit, e.to_string())
    }
}
