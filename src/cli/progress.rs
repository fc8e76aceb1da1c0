//! Progress on stderr: spinners and bars when stderr is a terminal,
//! nothing otherwise (pipes and logs get only the one-line notes).

use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::app::Progress;

/// The CLI's [`Progress`]: notes as `lore: …` lines, slow steps as a
/// spinner or a bar.
#[derive(Default)]
pub struct Stderr {
    bar: Mutex<Option<ProgressBar>>,
}

impl Stderr {
    pub fn new() -> Stderr {
        Stderr::default()
    }

    fn with_bar(&self, f: impl FnOnce(&mut Option<ProgressBar>)) {
        let mut guard = self.bar.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard);
    }
}

impl Progress for Stderr {
    fn note(&self, message: &str) {
        self.with_bar(|bar| match bar {
            Some(b) => b.suspend(|| eprintln!("lore: {message}")),
            None => eprintln!("lore: {message}"),
        });
    }

    fn start(&self, what: &str, _total: u64) {
        let b = spinner(what);
        self.with_bar(|bar| *bar = Some(b));
    }

    fn start_bytes(&self, what: &str, total: u64) {
        if !std::io::stderr().is_terminal() {
            return;
        }
        let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        b.set_style(bar_style(
            "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}",
        ));
        b.set_message(what.to_string());
        self.with_bar(|bar| *bar = Some(b));
    }

    fn advance(&self, done: u64, total: u64) {
        self.with_bar(|bar| {
            if let Some(b) = bar {
                if b.length().is_none() || b.length() == Some(0) {
                    b.set_style(bar_style(
                        "{spinner} {msg} [{bar:30}] {pos}/{len} {elapsed}",
                    ));
                }
                b.set_length(total);
                b.set_position(done);
            }
        });
    }

    fn finish(&self) {
        self.with_bar(|bar| {
            if let Some(b) = bar.take() {
                b.finish_and_clear();
            }
        });
    }
}

fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

/// A spinner with `message` on stderr when it is a terminal.
pub fn spinner(message: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(message.to_string());
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

/// A progress bar on stderr when it is a terminal, counting `unit`.
pub fn bar(len: u64, unit: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    bar.set_style(bar_style(&format!(
        "[{{bar:30}}] {{pos}}/{{len}} {unit} {{per_sec}} ETA {{eta}}"
    )));
    bar
}

/// A progress bar on stderr when it is a terminal: files, MB, chunks/s.
pub fn ingest_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    bar.set_style(bar_style(
        "{spinner} [{bar:30}] {pos}/{len} files {msg} {elapsed}",
    ));
    bar
}

/// `text` in red when stderr is a terminal and NO_COLOR is unset: for the
/// warnings that must stand out (`--no-sandbox`).
pub fn red(text: &str) -> String {
    let color = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    if color {
        format!("\x1b[31m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}
