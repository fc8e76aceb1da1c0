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
