//! What every command shares at the process edge: reading piped stdin and
//! input files (binary data and oversized input refused), size bounds
//! before exact token counts, a note when a reply is slow to begin,
//! Ctrl-C, and the model facts added to JSON reports.

use std::io::{IsTerminal, Read};
use std::path::Path;
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use crate::error::{task_error, AppError, Exit};
use crate::index::loaders::{looks_binary, SNIFF_BYTES};
use crate::model::{min_tokens_over, ModelInfo};
use crate::output::Sink;
use crate::tasks::TaskError;

/// The most input text lore reads from a pipe or an input file: 64 MiB,
/// far more than any model's context holds (a million tokens of text is
/// about 4 MB), and a stop for endless streams (`yes | lore run`), which
/// would otherwise be read until memory runs out.
pub const MAX_INPUT_BYTES: usize = 64 << 20;

/// Reads piped stdin, if any (none on a terminal): see [`read_text`].
pub fn read_stdin() -> anyhow::Result<Option<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        return Ok(None);
    }
    read_text(stdin.lock(), "stdin").map(Some)
}

/// Reads an input file (`classify --input`, `support --script`): see
/// [`read_text`]. A file that cannot be read is a usage error.
pub fn read_text_file(path: &Path) -> anyhow::Result<String> {
    let from = path.display().to_string();
    let file = std::fs::File::open(path)
        .map_err(|e| AppError::usage(format!("cannot read {from}: {e}")))?;
    if let Ok(meta) = file.metadata() {
        if meta.is_file() && meta.len() > MAX_INPUT_BYTES as u64 {
            return Err(too_large(&from, Some(meta.len())).into());
        }
    }
    read_text(file, &from).map_err(|e| match e.downcast::<std::io::Error>() {
        Ok(io) => AppError::usage(format!("cannot read {from}: {io}")).into(),
        Err(other) => other,
    })
}

/// Reads text from `input`, which `from` names in messages. The start is
/// read first, so that binary data is refused (exit 2) before the rest
/// is (`cat /dev/urandom | lore run` ends at once); more than
/// [`MAX_INPUT_BYTES`] is refused (exit 4) without reading further;
/// invalid UTF-8 is replaced, with one warning.
pub fn read_text(mut input: impl Read, from: &str) -> anyhow::Result<String> {
    let mut bytes = Vec::new();
    let cannot = |e: std::io::Error| anyhow::Error::new(e).context(format!("cannot read {from}"));
    input
        .by_ref()
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    refuse_binary(&bytes, from)?;
    let rest = (MAX_INPUT_BYTES + 1).saturating_sub(bytes.len()) as u64;
    input.take(rest).read_to_end(&mut bytes).map_err(cannot)?;
    if bytes.len() > MAX_INPUT_BYTES {
        return Err(too_large(from, None).into());
    }
    decode_text(bytes, from).map_err(Into::into)
}

/// Exit 4: `from` holds more than [`MAX_INPUT_BYTES`] (`size` bytes,
/// when known).
fn too_large(from: &str, size: Option<u64>) -> AppError {
    let size = size.map_or(String::new(), |n| format!("{n} bytes, "));
    AppError::new(
        Exit::TooLarge,
        format!(
            "{from} is {size}more than {} MiB, the most text lore reads as input (more than any model's context holds)",
            MAX_INPUT_BYTES >> 20
        ),
    )
}

/// Exit 2 when `bytes` look like binary data (the index's rule,
/// [`looks_binary`]).
fn refuse_binary(bytes: &[u8], from: &str) -> Result<(), AppError> {
    match looks_binary(bytes) {
        Some(evidence) => Err(AppError::usage(format!(
            "{from} looks like binary data ({evidence}); lore reads text"
        ))),
        None => Ok(()),
    }
}

/// Text from `bytes`: binary data is refused (exit 2); invalid UTF-8 is
/// replaced, with one warning naming where the bytes came from.
pub fn decode_text(bytes: Vec<u8>, from: &str) -> Result<String, AppError> {
    refuse_binary(&bytes, from)?;
    Ok(String::from_utf8(bytes).unwrap_or_else(|e| {
        eprintln!(
            "lore: warning: {from} is not valid UTF-8; invalid bytes were replaced with U+FFFD"
        );
        String::from_utf8_lossy(e.as_bytes()).into_owned()
    }))
}

/// Exit 4, without tokenizing, when `bytes` of text (`what`) cannot fit
/// the model's context even at [`crate::model::MAX_BYTES_PER_TOKEN`]:
/// counting tokens exactly takes about a second per megabyte (100 MB took
/// over three minutes and 8 GB of memory), so a huge input is refused from
/// its length. Below the bound the exact count decides.
pub fn check_fits_bytes(what: &str, bytes: usize, info: &ModelInfo) -> Result<(), AppError> {
    let limit = info.context_length;
    match min_tokens_over(bytes, limit) {
        Some(least) => Err(AppError::new(
            Exit::TooLarge,
            format!(
                "{what} is {bytes} bytes, at least {least} tokens, but the model's context holds {limit}; shorten the input"
            ),
        )),
        None => Ok(()),
    }
}

/// How long a reply may take to begin before [`SlowStart`] says why.
pub const SLOW_START: Duration = Duration::from_secs(3);

/// One line on stderr when a reply has not begun some time after
/// [`arm`](SlowStart::arm): a long prompt can take minutes to read on a
/// CPU, and a silent wait looks like a hang. The first piece of text
/// ([`SlowStart::sink`]) or dropping it cancels the line.
pub struct SlowStart {
    line: String,
    state: Mutex<Timer>,
}

enum Timer {
    Unarmed,
    /// Dropping the sender wakes the waiting thread without the line.
    Armed {
        _cancel: mpsc::Sender<()>,
    },
    Done,
}

impl SlowStart {
    pub fn new(line: impl Into<String>) -> SlowStart {
        SlowStart {
            line: line.into(),
            state: Mutex::new(Timer::Unarmed),
        }
    }

    /// Prints the line after `after` unless the reply has begun by then.
    /// Only the first call counts.
    pub fn arm(&self, after: Duration) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if !matches!(*state, Timer::Unarmed) {
            return;
        }
        let (tx, rx) = mpsc::channel::<()>();
        let line = self.line.clone();
        // A thread rather than a task: the wait may be a synchronous step
        // (ranking a document) that holds the async worker.
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(after) {
                eprintln!("{line}");
            }
        });
        *state = Timer::Armed { _cancel: tx };
    }

    /// The reply has begun: no line.
    fn done(&self) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = Timer::Done;
    }

    /// `sink`, telling this notice when the first text arrives.
    pub fn sink<'a>(&'a self, sink: &'a mut dyn Sink) -> impl Sink + 'a {
        FirstText { sink, notice: self }
    }
}

struct FirstText<'a> {
    sink: &'a mut dyn Sink,
    notice: &'a SlowStart,
}

impl Sink for FirstText<'_> {
    fn text(&mut self, delta: &str) -> std::io::Result<()> {
        self.notice.done();
        self.sink.text(delta)
    }
    fn end(&mut self, report: &serde_json::Value, footer: Option<&str>) -> std::io::Result<()> {
        self.notice.done();
        self.sink.end(report, footer)
    }
    fn interrupted(&mut self) -> std::io::Result<()> {
        self.notice.done();
        self.sink.interrupted()
    }
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

pub use crate::output::with_model;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_for;
    use crate::model::DeviceKind;

    fn exit_of(r: anyhow::Result<String>) -> (Exit, String) {
        let e = r.unwrap_err();
        (exit_for(&e), format!("{e:#}"))
    }

    #[test]
    fn text_passes_and_invalid_utf8_is_replaced() {
        let ok = read_text(&b"caf\xc3\xa9\n"[..], "stdin").unwrap();
        assert_eq!(ok, "café\n");
        let lossy = read_text(&b"caf\xe9 au lait\n"[..], "stdin").unwrap();
        assert_eq!(lossy, "caf\u{fffd} au lait\n");
    }

    #[test]
    fn binary_is_refused_before_the_rest_is_read() {
        let (exit, msg) = exit_of(read_text(&b"GIF89a\x01\x00\x00"[..], "stdin"));
        assert_eq!(exit, Exit::Usage);
        assert_eq!(
            msg,
            "stdin looks like binary data (a NUL byte at offset 7); lore reads text"
        );
        // An endless binary stream ends at the first look.
        let endless = std::io::repeat(0x9f);
        let (exit, msg) = exit_of(read_text(endless, "stdin"));
        assert_eq!(exit, Exit::Usage);
        assert!(msg.contains("100% of the first 8000 bytes"), "{msg}");
    }

    #[test]
    fn an_endless_text_stream_stops_at_the_input_limit() {
        let (exit, msg) = exit_of(read_text(std::io::repeat(b'a'), "stdin"));
        assert_eq!(exit, Exit::TooLarge);
        assert!(msg.starts_with("stdin is more than 64 MiB"), "{msg}");
    }

    #[test]
    fn a_size_far_past_the_context_is_refused_without_counting() {
        let info = ModelInfo {
            path: "m.gguf".into(),
            name: "m".into(),
            device: DeviceKind::Cpu,
            context_length: 100,
            native_tools: false,
            load_time: Duration::ZERO,
            exact_tokens: true,
            constraints: true,
        };
        // 99 tokens could fit; 100 leave no room for a reply.
        assert!(check_fits_bytes("the prompt", 99 * 128, &info).is_ok());
        let e = check_fits_bytes("the prompt", 99 * 128 + 1, &info).unwrap_err();
        assert_eq!(e.exit, Exit::TooLarge);
        assert_eq!(
            e.message,
            "the prompt is 12673 bytes, at least 100 tokens, but the model's context holds 100; shorten the input"
        );
    }

    #[test]
    fn slow_start_prints_nothing_once_text_arrives() {
        let slow = SlowStart::new("lore: slow");
        slow.arm(Duration::from_secs(3600));
        let mut inner = crate::tasks::NullSink;
        let mut sink = slow.sink(&mut inner);
        sink.text("hi").unwrap();
        let state = slow.state.lock().unwrap();
        assert!(matches!(*state, Timer::Done), "the timer was cancelled");
    }
}
