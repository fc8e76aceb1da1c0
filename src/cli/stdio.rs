//! What every command shares at the process edge: reading piped stdin,
//! Ctrl-C, and the model facts added to JSON reports.

use std::io::{IsTerminal, Read};

use anyhow::Context;
use serde_json::json;

use crate::error::{task_error, AppError, Exit};
use crate::model::ModelInfo;
use crate::output::Sink;
use crate::tasks::TaskError;

/// Reads piped stdin, if any. Invalid UTF-8 is replaced, with one warning.
pub fn read_stdin() -> anyhow::Result<Option<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    let mut bytes = Vec::new();
    stdin
        .lock()
        .read_to_end(&mut bytes)
        .context("cannot read stdin")?;
    Ok(Some(lossy_utf8(bytes, "stdin")))
}

/// Text from `bytes`; invalid UTF-8 is replaced, with one warning naming
/// where the bytes came from.
pub fn lossy_utf8(bytes: Vec<u8>, from: &str) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| {
        eprintln!(
            "lore: warning: {from} is not valid UTF-8; invalid bytes were replaced with U+FFFD"
        );
        String::from_utf8_lossy(e.as_bytes()).into_owned()
    })
}

/// Runs `fut`, turning Ctrl-C into exit code 130.
pub async fn with_interrupt<T>(fut: impl std::future::Future<Output = T>) -> anyhow::Result<T> {
    tokio::select! {
        r = fut => Ok(r),
        _ = tokio::signal::ctrl_c() => Err(AppError::new(Exit::Interrupted, "interrupted").into()),
    }
}

/// The result of a generating task: on Ctrl-C, what was produced is
/// flushed and the error carries exit code 130.
pub fn finish<T>(
    outcome: anyhow::Result<Result<T, TaskError>>,
    sink: &mut dyn Sink,
) -> anyhow::Result<T> {
    match outcome {
        Ok(result) => result.map_err(task_error),
        Err(interrupted) => {
            sink.interrupted()?;
            Err(interrupted)
        }
    }
}

/// A JSON report with the model facts added.
pub fn with_model(info: &ModelInfo, mut json: serde_json::Value) -> serde_json::Value {
    json["model"] = info.report_json();
    json["device"] = json!(info.device);
    json["timings"]["load_s"] = json!(info.load_time.as_secs_f64());
    json
}
