//! The full-screen chat. [`app`] holds the state and its pure `update`,
//! [`view`] draws it, and this module runs the loop: one channel merges
//! terminal input, worker messages and a tick; the runtime carries out the
//! effects `update` returns; redraws are coalesced to at most ~60 a second
//! so typing stays responsive while a reply streams.
//!
//! The TUI talks to the model only through [`crate::tasks::chat`] and
//! lore's model interface ([`crate::model`]); no mistral.rs type appears here.

pub mod app;
pub mod approval;
pub mod keys;
pub mod layout;
pub mod markdown;
pub mod steps;
#[cfg(test)]
mod tests;
pub mod theme;
pub mod view;
pub mod worker;

use std::collections::VecDeque;
use std::io::{self, IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossterm::event::{
    DisableBracketedPaste, DisableMouseCapture, EnableBracketedPaste, EnableMouseCapture,
    Event as TermEvent, MouseEventKind,
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
    let drain = Arc::new(AtomicBool::new(false));
    spawn_input_thread(tx.clone(), drain.clone());
    let mut title_pushed = false;
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
        let mut events = VecDeque::from([first]);
        while events.len() < 512 {
            match rx.try_recv() {
                Ok(ev) => events.push_back(ev),
                Err(_) => break,
            }
        }
        while let Some(ev) = events.pop_front() {
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
                    Effect::Bell => write_now(terminal.backend_mut(), "\x07")?,
                    Effect::Title(title) => {
                        title_pushed = title.is_some();
                        write_now(terminal.backend_mut(), &title_sequence(title.as_deref()))?;
                    }
                    Effect::DrainInput => {
                        drain.store(true, Ordering::SeqCst);
                        drain_queued(&mut events, &mut rx);
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
    if title_pushed {
        write_now(terminal.backend_mut(), &title_sequence(None))?;
    }
    drop(terminal);
    drop(guard);
    Ok(())
}

fn write_now(out: &mut impl Write, bytes: &str) -> io::Result<()> {
    out.write_all(bytes.as_bytes())?;
    out.flush()
}

/// Sets the terminal's title, keeping the old one on the terminal's title
/// stack (xterm's XTWINOPS 22/23, which tmux keeps too), or pops it back.
pub fn title_sequence(title: Option<&str>) -> String {
    match title {
        Some(t) => {
            let t: String = t.chars().filter(|c| !c.is_control()).collect();
            format!("\x1b[22;0t\x1b]2;{t}\x07")
        }
        None => "\x1b[23;0t".to_string(),
    }
}

/// Keys and pastes, which the approval prompt must not take from before
/// it showed.
fn is_input(ev: &Event) -> bool {
    matches!(ev, Event::Key(_) | Event::Paste(_))
}

/// Throws away the keys and pastes waiting in the batch and the channel;
/// everything else (the worker's news, resizes) is kept, in order.
fn drain_queued(events: &mut VecDeque<Event>, rx: &mut mpsc::UnboundedReceiver<Event>) {
    events.retain(|e| !is_input(e));
    while let Ok(ev) = rx.try_recv() {
        if !is_input(&ev) {
            events.push_back(ev);
        }
    }
}

/// How long the input thread waits for the terminal before it looks at
/// `drain` again.
const INPUT_POLL: Duration = Duration::from_millis(50);

/// Reads the terminal on a thread of its own. When `drain` is set, what the
/// terminal has buffered is read and thrown away (keys and pastes), so
/// type-ahead cannot answer the approval prompt that asked for it.
fn spawn_input_thread(tx: mpsc::UnboundedSender<Event>, drain: Arc<AtomicBool>) {
    use crossterm::event::{poll, read};
    std::thread::spawn(move || loop {
        match poll(INPUT_POLL) {
            Ok(true) => {}
            Ok(false) => {
                // Nothing was waiting: nothing to throw away.
                drain.store(false, Ordering::SeqCst);
                continue;
            }
            Err(_) => break,
        }
        let Ok(ev) = read() else { break };
        let mut batch = vec![ev];
        if drain.swap(false, Ordering::SeqCst) {
            while matches!(poll(Duration::ZERO), Ok(true)) {
                match read() {
                    Ok(ev) => batch.push(ev),
                    Err(_) => break,
                }
            }
            batch.retain(|ev| !matches!(ev, TermEvent::Key(_) | TermEvent::Paste(_)));
        }
        for ev in batch {
            let Some(mapped) = map_event(ev) else {
                continue;
            };
            if tx.send(mapped).is_err() {
                return;
            }
        }
    });
}

fn map_event(ev: TermEvent) -> Option<Event> {
    Some(match ev {
        TermEvent::Key(k) => Event::Key(k),
        TermEvent::Paste(s) => Event::Paste(s),
        TermEvent::Resize(w, h) => Event::Resize(w, h),
        TermEvent::Mouse(m) => match m.kind {
            MouseEventKind::ScrollUp => Event::Scroll(-3),
            MouseEventKind::ScrollDown => Event::Scroll(3),
            _ => return None,
        },
        _ => return None,
    })
}

#[cfg(test)]
mod osc52_tests {
    use super::*;

    #[test]
    fn the_title_is_pushed_set_and_popped() {
        assert_eq!(
            title_sequence(Some("lore: approval needed\x07")),
            "\x1b[22;0t\x1b]2;lore: approval needed\x07"
        );
        assert_eq!(title_sequence(None), "\x1b[23;0t");
    }

    #[test]
    fn draining_drops_queued_keys_and_pastes_and_keeps_the_rest() {
        use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
        let key = |c| Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        let (tx, mut rx) = mpsc::unbounded_channel();
        for ev in [
            key('y'),
            Event::Resize(80, 24),
            Event::Paste("a".into()),
            Event::Tick,
        ] {
            tx.send(ev).unwrap();
        }
        let mut events = VecDeque::from([key('a'), Event::Scroll(3)]);
        drain_queued(&mut events, &mut rx);
        let kept: Vec<String> = events.iter().map(|e| format!("{e:?}")).collect();
        assert_eq!(kept, ["Scroll(3)", "Resize(80, 24)", "Tick"]);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn osc52_encodes_and_wraps_for_tmux() {
        assert_eq!(osc52("hi", false), "\x1b]52;c;aGk=\x07");
        assert_eq!(osc52("hi", true), "\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\");
    }
}
