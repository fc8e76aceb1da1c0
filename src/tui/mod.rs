//! The full-screen chat. [`app`] holds the state and its pure `update`,
//! [`view`] draws it, and this module runs the loop: one channel merges
//! terminal input, worker messages and a tick; the runtime carries out the
//! effects `update` returns; redraws are coalesced to at most ~60 a second
//! so typing stays responsive while a reply streams.
//!
//! The TUI talks to the model only through [`crate::tasks::chat`] and
//! lore's model interface ([`crate::model`]); no mistral.rs type appears here.

pub mod app;
pub mod keys;
pub mod layout;
pub mod markdown;
pub mod steps;
#[cfg(test)]
mod tests;
pub mod theme;
pub mod view;
pub mod worker;

use std::io::{self, IsTerminal, Write};
use std::time::{Duration, Instant};

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    MouseEventKind,
};
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;
use tokio::sync::mpsc;

pub use worker::Backend;

use app::{update, App, Effect, Event};

/// Where the UI is drawn: stdout when it is a terminal, else /dev/tty (so
/// `cat notes.txt | lore chat` and `lore chat > log` still get a screen).
pub fn terminal_writer() -> io::Result<Box<dyn Write + Send>> {
    if io::stdout().is_terminal() {
        Ok(Box::new(io::stdout()))
    } else {
        let tty = std::fs::OpenOptions::new().write(true).open("/dev/tty")?;
        Ok(Box::new(tty))
    }
}

/// Whether a terminal is reachable at all (stdin, stdout or /dev/tty).
pub fn terminal_available() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .is_ok()
}

/// Puts the terminal back however the TUI ends: return, error or panic.
struct Restore {
    mouse: bool,
}

impl Restore {
    fn restore(mouse: bool) {
        let _ = disable_raw_mode();
        if let Ok(mut out) = terminal_writer() {
            if mouse {
                let _ = crossterm::execute!(out, DisableMouseCapture);
            }
            let _ = crossterm::execute!(
                out,
                DisableBracketedPaste,
                LeaveAlternateScreen,
                crossterm::cursor::Show
            );
        }
    }
}

impl Drop for Restore {
    fn drop(&mut self) {
        Restore::restore(self.mouse);
    }
}

/// OSC 52 asks the terminal to set its clipboard; it travels through SSH.
/// Inside tmux it is wrapped for passthrough (`set -g allow-passthrough on`);
/// tmux's own `set-clipboard on` also accepts the plain form.
pub fn osc52(text: &str, in_tmux: bool) -> String {
    use base64::Engine as _;
    let payload = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    let seq = format!("\x1b]52;c;{payload}\x07");
    if in_tmux {
        format!("\x1bPtmux;{}\x1b\\", seq.replace('\x1b', "\x1b\x1b"))
    } else {
        seq
    }
}

/// Runs the TUI until the user quits.
pub async fn run(mut app: App, backend: Backend, mouse: bool) -> anyhow::Result<()> {
    let out = terminal_writer()?;
    enable_raw_mode()?;
    let guard = Restore { mouse };
    let previous_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        Restore::restore(mouse);
        previous_hook(info);
    }));
    let mut terminal = Terminal::new(CrosstermBackend::new(out))?;
    crossterm::execute!(
        terminal.backend_mut(),
        EnterAlternateScreen,
        EnableBracketedPaste
    )?;
    if mouse {
        crossterm::execute!(terminal.backend_mut(), EnableMouseCapture)?;
    }
    terminal.clear()?;
    let size = terminal.size()?;
    update(&mut app, Event::Resize(size.width, size.height));

    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    spawn_input_thread(tx.clone());
    let mut worker = worker::Worker::start(backend, tx.clone());

    let frame_gap = Duration::from_millis(16);
    let mut last_draw = Instant::now() - frame_gap;
    let mut dirty = true;
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let in_tmux = std::env::var_os("TMUX").is_some();
    loop {
        if dirty && last_draw.elapsed() >= frame_gap {
            terminal.draw(|f| view::view(&app, f))?;
            last_draw = Instant::now();
            dirty = false;
        }
        let deadline = tokio::time::Instant::from_std(last_draw + frame_gap);
        let first = tokio::select! {
            ev = rx.recv() => match ev {
                Some(ev) => Some(ev),
                None => break,
            },
            _ = ticker.tick() => Some(Event::Tick),
            _ = tokio::time::sleep_until(deadline), if dirty => None,
        };
        let Some(first) = first else { continue };
        // Everything already queued is applied before the next frame: a
        // burst of deltas or a paste costs one redraw, not one each.
        let mut events = vec![first];
        while events.len() < 512 {
            match rx.try_recv() {
                Ok(ev) => events.push(ev),
                Err(_) => break,
            }
        }
        for ev in events {
            let is_tick = matches!(ev, Event::Tick);
            let had_hint = app.hint.is_some();
            let effects = update(&mut app, ev);
            let animating = app.generating.is_some() || app.status.loading.is_some();
            if !is_tick || animating || had_hint != app.hint.is_some() {
                dirty = true;
            }
            for effect in effects {
                match effect {
                    Effect::Quit => app.quit = true,
                    Effect::Copy(text) => {
                        let backend = terminal.backend_mut();
                        backend.write_all(osc52(&text, in_tmux).as_bytes())?;
                        backend.flush()?;
                    }
                    other => worker.apply(other),
                }
            }
        }
        if app.quit {
            break;
        }
    }
    worker.stop().await;
    drop(terminal);
    drop(guard);
    Ok(())
}

fn spawn_input_thread(tx: mpsc::UnboundedSender<Event>) {
    std::thread::spawn(move || {
        while let Ok(ev) = crossterm::event::read() {
            let mapped = match ev {
                crossterm::event::Event::Key(k) => Event::Key(k),
                crossterm::event::Event::Paste(s) => Event::Paste(s),
                crossterm::event::Event::Resize(w, h) => Event::Resize(w, h),
                crossterm::event::Event::Mouse(m) => match m.kind {
                    MouseEventKind::ScrollUp => Event::Scroll(-3),
                    MouseEventKind::ScrollDown => Event::Scroll(3),
                    _ => continue,
                },
                _ => continue,
            };
            if tx.send(mapped).is_err() {
                break;
            }
        }
    });
}

#[cfg(test)]
mod osc52_tests {
    use super::*;

    #[test]
    fn osc52_encodes_and_wraps_for_tmux() {
        assert_eq!(osc52("hi", false), "\x1b]52;c;aGk=\x07");
        assert_eq!(osc52("hi", true), "\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\");
    }
}
