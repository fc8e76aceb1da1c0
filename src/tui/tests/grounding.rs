//! The support check as the TUI shows it: the hint after a reply and the
//! warning in the sources pane.

use super::*;

/// Sends `text` and finishes the reply with `reply` and `done`.
fn exchange_with(app: &mut App, text: &str, reply: &str, done: ReplyDone) {
    type_text(app, text);
    let turn = sent(&press(app, KeyCode::Enter)).turn;
    update(
        app,
        Event::Worker(WorkerEvent::Delta {
            turn,
            text: reply.into(),
        }),
    );
    update(app, Event::Worker(WorkerEvent::Done { turn, reply: done }));
}

fn payment_sources() -> Vec<Source> {
    vec![Source {
        passage: Passage {
            n: 1,
            path: "help-centre/billing/payment-methods.md".into(),
            lines: (1, 4),
            heading: "Payment methods".into(),
            score: 4.0,
            text: String::new(),
            snippet: "We accept Visa, Mastercard, PayPal and Klarna.".into(),
            highlights: vec![10..14, 28..34],
        },
        cited: true,
    }]
}

fn hint(app: &App) -> String {
    app.hint.as_ref().map(|h| h.0.clone()).unwrap_or_default()
}

#[test]
fn snapshot_unsupported_sentences_show_in_the_hint_and_the_sources_pane() {
    let mut app = app();
    exchange_with(
        &mut app,
        "Can I pay with Bitcoin?",
        "Yes, we also accept Bitcoin. You can pay with Visa or PayPal [1].",
        ReplyDone {
            sources: payment_sources(),
            context_used: 120,
            citations_valid: true,
            unsupported: vec!["Yes, we also accept Bitcoin.".into()],
            ..ReplyDone::default()
        },
    );
    assert_eq!(
        hint(&app),
        "not supported by the sources: \"Yes, we also accept Bitcoin.\""
    );
    assert_eq!(
        app.messages[1].unsupported,
        ["Yes, we also accept Bitcoin."]
    );
    press(&mut app, KeyCode::F(2));
    let t = draw(&app);
    let screen = format!("{:?}", t.backend());
    assert!(
        screen.contains("! Not supported by these passages:"),
        "{screen}"
    );
    assert!(
        screen.contains("\"Yes, we also accept Bitcoin.\""),
        "{screen}"
    );
    insta::assert_snapshot!(t.backend());
}

#[test]
fn the_unsupported_warning_does_not_rely_on_colour() {
    let mut app = app_with(ColorMode::Mono, 80, 24);
    exchange_with(
        &mut app,
        "Can I pay with Bitcoin?",
        "Yes, we also accept Bitcoin.",
        ReplyDone {
            sources: payment_sources(),
            citations_valid: true,
            unsupported: vec![
                "Yes, we also accept Bitcoin, Ethereum, Dogecoin and most other cryptocurrencies at checkout.".into(),
            ],
            ..ReplyDone::default()
        },
    );
    press(&mut app, KeyCode::F(2));
    let t = draw(&app);
    let buf = t.backend().buffer();
    let area = buf.area;
    let rows: Vec<String> = (0..area.height)
        .map(|y| {
            (0..area.width)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect()
        })
        .collect();
    let row = rows
        .iter()
        .position(|l| l.contains("! Not supported"))
        .expect("the warning line") as u16;
    // The long sentence wraps inside the pane, under its opening quote.
    let first = &rows[row as usize + 1];
    let second = &rows[row as usize + 2];
    assert!(first.starts_with("│  \"Yes, we also accept"), "{first}");
    assert!(
        second.starts_with("│   ") && second.contains("checkout.\""),
        "{second}"
    );
    let x = (0..area.width)
        .find(|&x| buf[(x, row)].symbol() == "!")
        .unwrap();
    let cell = &buf[(x, row)];
    assert_eq!(cell.fg, ratatui::style::Color::Reset);
    assert!(
        cell.modifier.contains(ratatui::style::Modifier::BOLD),
        "the warning stands out without colour"
    );
}

#[test]
fn long_and_many_unsupported_sentences_make_a_one_line_hint() {
    let mut app = app();
    let long = "Tungsten boils at approximately 5,930 degrees Celsius,\nwhich is hotter than the surface of the Sun.";
    exchange_with(
        &mut app,
        "q",
        long,
        ReplyDone {
            citations_valid: true,
            unsupported: vec![long.into(), "It is also used in light bulbs.".into()],
            ..ReplyDone::default()
        },
    );
    let h = hint(&app);
    assert!(!h.contains('\n'), "{h}");
    assert!(
        h.starts_with("not supported by the sources: \"Tungsten boils at approximately"),
        "{h}"
    );
    assert!(h.contains("…\" +1 more"), "{h}");
    assert!(h.len() < 100, "{h}");
    // A supported reply leaves no hint.
    exchange(&mut app, "again", "fine");
    assert!(app.messages.last().unwrap().unsupported.is_empty());
}

#[test]
fn a_withheld_draft_says_it_was_held_back() {
    let mut app = app();
    exchange_with(
        &mut app,
        "How much is Plus?",
        "I could not find that in the help centre.",
        ReplyDone {
            sources: payment_sources(),
            citations_valid: true,
            unsupported: vec!["Plus costs €59 a year.".into()],
            withheld: true,
            ..ReplyDone::default()
        },
    );
    let h = hint(&app);
    assert!(h.contains("held back as unsupported"), "{h}");
    assert!(h.contains("\"Plus costs €59 a year.\""), "{h}");
    // Held back with no sentence to quote (nothing was supported).
    exchange_with(
        &mut app,
        "Hello?",
        "I could not find that in the help centre.",
        ReplyDone {
            citations_valid: true,
            withheld: true,
            ..ReplyDone::default()
        },
    );
    assert_eq!(
        hint(&app),
        "the draft answer was held back as unsupported by the sources"
    );
}

#[test]
fn the_worker_passes_on_the_unsupported_sentences() {
    use crate::grounding::support::{SentenceSupport, Verdict};
    use crate::tasks::grounded::GroundedReply;
    let sentence = |text: &str, verdict| SentenceSupport {
        text: text.into(),
        verdict,
        passage: None,
        missing: Vec::new(),
    };
    let mut reply = GroundedReply::not_found("Sorry.");
    reply.supported = false;
    reply.support = vec![
        sentence("Returns take 30 days.", Verdict::Supported),
        sentence("Yes.", Verdict::Neutral),
        sentence("We accept Bitcoin.", Verdict::Unsupported),
    ];
    reply.withheld = Some("Returns take 30 days. Yes. We accept Bitcoin.".into());
    let done = crate::tui::worker::reply_done(reply);
    assert_eq!(done.unsupported, ["We accept Bitcoin."]);
    assert!(done.withheld);
    let done = crate::tui::worker::reply_done(GroundedReply::not_found("Sorry."));
    assert!(done.unsupported.is_empty() && !done.withheld);
}
