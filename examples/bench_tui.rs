//! Frame time of the chat screen with a long transcript.
//!
//! Renders a 2,000-message transcript (every other reply with a code block)
//! at 200x60 while scrolling through it, and prints frame-time p50/p99. The
//! baseline in the same run is a 20-message transcript: the ratio shows
//! whether a frame's cost grows with the transcript (it should not: only
//! the visible lines are drawn and wrapped lines are cached).
//!
//!     cargo run --example bench_tui

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lore::sessions::{ReplyStats, Store};
use lore::tui::app::{update, App, Event, ReplyDone, Status, WorkerEvent};
use lore::tui::theme::{ColorMode, Theme};
use lore::tui::view;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const WIDTH: u16 = 200;
const HEIGHT: u16 = 60;

fn reply(i: usize) -> String {
    if i % 2 == 0 {
        format!(
            "Here is how to do **step {i}**:\n\n```rust\nfn step_{i}(x: u32) -> u32 {{\n    // keep it simple\n    let y = x * {i};\n    y + 1\n}}\n```\n\nThen call `step_{i}` from `main`, and check the result with a *test*."
        )
    } else {
        format!(
            "Reply {i}: the return window is 30 days from delivery.\n\n- keep the receipt\n- pack the item\n- print the label\n\n> Refunds take up to 5 working days."
        )
    }
}

fn transcript(messages: usize) -> App {
    let store = Store::new(std::env::temp_dir().join("lore-bench-sessions"));
    let session = store.new_session("bench", "chat", "default", "");
    let mut app = App::new(
        Theme::new(ColorMode::TrueColor),
        store,
        session,
        Status::default(),
    );
    update(&mut app, Event::Resize(WIDTH, HEIGHT));
    for i in 0..messages / 2 {
        for c in format!("Question number {i}: how do I do step {i}?").chars() {
            update(&mut app, key(KeyCode::Char(c)));
        }
        update(&mut app, key(KeyCode::Enter));
        let turn = app.generating.map(|(t, _)| t).unwrap_or_default();
        update(
            &mut app,
            Event::Worker(WorkerEvent::Delta {
                turn,
                text: reply(i),
            }),
        );
        update(
            &mut app,
            Event::Worker(WorkerEvent::Done {
                turn,
                reply: ReplyDone {
                    stats: Some(ReplyStats::default()),
                    citations_valid: true,
                    ..ReplyDone::default()
                },
            }),
        );
    }
    app
}

fn key(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

/// Frame times while paging up through the transcript and back down.
fn frames(app: &mut App, n: usize) -> (Duration, Vec<Duration>) {
    let mut term = Terminal::new(TestBackend::new(WIDTH, HEIGHT)).expect("terminal");
    let cold = Instant::now();
    term.draw(|f| view::view(app, f)).expect("draw");
    let cold = cold.elapsed();
    let mut times = Vec::with_capacity(n);
    for i in 0..n {
        let code = if (i / 40) % 2 == 0 {
            KeyCode::PageUp
        } else {
            KeyCode::PageDown
        };
        update(app, key(code));
        let t = Instant::now();
        term.draw(|f| view::view(app, f)).expect("draw");
        times.push(t.elapsed());
    }
    times.sort();
    (cold, times)
}

fn pct(times: &[Duration], p: f64) -> Duration {
    times[((times.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let n = 400;
    let mut small = transcript(20);
    let mut large = transcript(2000);
    let (_, base) = frames(&mut small, n);
    let (cold, big) = frames(&mut large, n);
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!("bench_tui: {WIDTH}x{HEIGHT}, {n} frames each, paging up and down");
    println!(
        "  20 messages     p50 {:.3} ms  p99 {:.3} ms",
        ms(pct(&base, 0.5)),
        ms(pct(&base, 0.99))
    );
    println!(
        "  2000 messages   p50 {:.3} ms  p99 {:.3} ms  (first frame, wrapping everything: {:.1} ms)",
        ms(pct(&big, 0.5)),
        ms(pct(&big, 0.99)),
        ms(cold)
    );
    println!(
        "  ratio 2000/20   p50 {:.2}x  p99 {:.2}x",
        ms(pct(&big, 0.5)) / ms(pct(&base, 0.5)),
        ms(pct(&big, 0.99)) / ms(pct(&base, 0.99))
    );
    let target = Duration::from_millis(4);
    if pct(&big, 0.99) > target {
        println!("  p99 is over the 4 ms target");
    }
}
