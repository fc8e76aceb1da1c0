//! `update` for every key path, and snapshots of the screen.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::app::*;
use super::keys;
use super::theme::{ColorMode, Theme};
use super::view;
use crate::grounding::Passage;
use crate::sessions::{ReplyStats, Store, Summary};
use crate::tasks::chat::Mode;

fn app_with(mode: ColorMode, w: u16, h: u16) -> App {
    let store = Store::new("/nonexistent/lore-test-sessions");
    let session = store.new_session("model.gguf", "chat", "default", "Be brief.");
    let status = Status {
        model: Some(ModelView {
            name: "SmolLM2-135M-Instruct".into(),
            device: "CPU".into(),
            context_length: 8192,
        }),
        index: "default".into(),
        ..Status::default()
    };
    let mut app = App::new(Theme::new(mode), store, session, status);
    update(&mut app, Event::Resize(w, h));
    app
}

fn app() -> App {
    app_with(ColorMode::TrueColor, 80, 24)
}

fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
    update(app, Event::Key(KeyEvent::new(code, KeyModifiers::NONE)))
}

fn chord(app: &mut App, code: KeyCode, m: KeyModifiers) -> Vec<Effect> {
    update(app, Event::Key(KeyEvent::new(code, m)))
}

fn ctrl_c(app: &mut App) -> Vec<Effect> {
    chord(app, KeyCode::Char('c'), KeyModifiers::CONTROL)
}

fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn sent(effects: &[Effect]) -> &Request {
    effects
        .iter()
        .find_map(|e| match e {
            Effect::Send(r) => Some(r),
            _ => None,
        })
        .expect("a Send effect")
}

/// Sends `text` and finishes the reply with `reply`.
fn exchange(app: &mut App, text: &str, reply: &str) -> u64 {
    type_text(app, text);
    let turn = sent(&press(app, KeyCode::Enter)).turn;
    update(
        app,
        Event::Worker(WorkerEvent::Delta {
            turn,
            text: reply.into(),
        }),
    );
    update(
        app,
        Event::Worker(WorkerEvent::Done {
            turn,
            reply: ReplyDone {
                stats: Some(ReplyStats {
                    prompt_tokens: 100,
                    completion_tokens: 20,
                    time_to_first_token_s: 0.25,
                    tokens_per_s: 48.5,
                }),
                context_used: 120,
                citations_valid: true,
                ..ReplyDone::default()
            },
        }),
    );
    turn
}

#[test]
fn enter_sends_the_message_and_saves() {
    let mut app = app();
    type_text(&mut app, "hello");
    let effects = press(&mut app, KeyCode::Enter);
    let req = sent(&effects);
    assert_eq!(req.user, "hello");
    assert!(req.history.is_empty());
    assert_eq!(req.system, "Be brief.");
    assert!(effects.iter().any(|e| matches!(e, Effect::Save(_))));
    assert_eq!(app.input_text(), "");
    assert_eq!(app.messages.len(), 2);
    assert!(app.messages[1].streaming);
    assert!(app.generating.is_some());
    // Enter on an empty input does nothing.
    assert!(press(&mut app, KeyCode::Enter).is_empty());
}

#[test]
fn alt_enter_and_ctrl_j_insert_newlines() {
    let mut app = app();
    type_text(&mut app, "a");
    chord(&mut app, KeyCode::Enter, KeyModifiers::ALT);
    type_text(&mut app, "b");
    chord(&mut app, KeyCode::Char('j'), KeyModifiers::CONTROL);
    type_text(&mut app, "c");
    assert_eq!(app.input_text(), "a\nb\nc");
    assert_eq!(sent(&press(&mut app, KeyCode::Enter)).user, "a\nb\nc");
}

#[test]
fn paste_inserts_multiline_text_as_is_without_sending() {
    let mut app = app();
    let effects = update(
        &mut app,
        Event::Paste("line one\r\n  line two\r\nfn x() {}\n".into()),
    );
    assert!(effects.is_empty());
    assert_eq!(app.input_text(), "line one\n  line two\nfn x() {}\n");
    assert!(app.messages.is_empty());
}

#[test]
fn ctrl_c_cancels_then_clears_then_quits_on_the_second_press() {
    let mut app = app();
    type_text(&mut app, "tell me a story");
    let turn = sent(&press(&mut app, KeyCode::Enter)).turn;
    update(
        &mut app,
        Event::Worker(WorkerEvent::Delta {
            turn,
            text: "Once upon".into(),
        }),
    );
    let effects = ctrl_c(&mut app);
    assert!(effects.contains(&Effect::Cancel));
    assert!(effects.iter().any(|e| matches!(e, Effect::Save(_))));
    assert!(app.generating.is_none());
    let reply = &app.messages[1];
    assert!(reply.cancelled && !reply.streaming);
    assert_eq!(reply.content, "Once upon", "the partial reply stays");
    // A late delta of the cancelled turn is ignored.
    update(
        &mut app,
        Event::Worker(WorkerEvent::Delta {
            turn,
            text: " a time".into(),
        }),
    );
    assert_eq!(app.messages[1].content, "Once upon");
    // The app stays usable: typing, then Ctrl+C clears the input.
    type_text(&mut app, "draft");
    assert!(ctrl_c(&mut app).is_empty());
    assert_eq!(app.input_text(), "");
    assert!(!app.quit);
    // Empty input: the first Ctrl+C arms, the second quits.
    assert!(ctrl_c(&mut app).is_empty());
    assert!(app.quit_armed && !app.quit);
    assert_eq!(ctrl_c(&mut app), vec![Effect::Quit]);
    assert!(app.quit);
}

#[test]
fn another_key_disarms_the_quit() {
    let mut app = app();
    ctrl_c(&mut app);
    assert!(app.quit_armed);
    press(&mut app, KeyCode::Char('x'));
    assert!(!app.quit_armed);
    ctrl_c(&mut app); // clears "x"
    assert!(ctrl_c(&mut app).is_empty());
    assert!(!app.quit);
}

#[test]
fn ctrl_d_quits_only_on_an_empty_input() {
    let mut app = app();
    type_text(&mut app, "x");
    assert!(chord(&mut app, KeyCode::Char('d'), KeyModifiers::CONTROL).is_empty());
    assert!(!app.quit);
    ctrl_c(&mut app);
    assert_eq!(
        chord(&mut app, KeyCode::Char('d'), KeyModifiers::CONTROL),
        vec![Effect::Quit]
    );
}

#[test]
fn up_and_down_walk_the_prompt_history_when_the_input_is_empty() {
    let mut app = app();
    exchange(&mut app, "first", "one");
    exchange(&mut app, "second", "two");
    press(&mut app, KeyCode::Up);
    assert_eq!(app.input_text(), "second");
    press(&mut app, KeyCode::Up);
    assert_eq!(app.input_text(), "first");
    press(&mut app, KeyCode::Up);
    assert_eq!(app.input_text(), "first", "stops at the oldest");
    press(&mut app, KeyCode::Down);
    assert_eq!(app.input_text(), "second");
    press(&mut app, KeyCode::Down);
    assert_eq!(app.input_text(), "", "past the newest is a fresh input");
    // With text typed, Up moves the cursor instead of replacing the text.
    type_text(&mut app, "new");
    press(&mut app, KeyCode::Up);
    assert_eq!(app.input_text(), "new");
}

#[test]
fn a_finished_reply_updates_the_status_and_joins_the_history() {
    let mut app = app();
    exchange(&mut app, "hi", "Hello!");
    assert_eq!(app.status.context_used, 120);
    assert_eq!(app.status.last.as_ref().unwrap().tokens_per_s, 48.5);
    assert!(view::status_text(&app)
        .iter()
        .any(|s| s.contains("48.5 tok/s")));
    type_text(&mut app, "again");
    let effects = press(&mut app, KeyCode::Enter);
    let req = sent(&effects);
    assert_eq!(req.history.len(), 2);
    assert_eq!(req.history[1].content, "Hello!");
}

#[test]
fn cancelled_and_failed_replies_stay_out_of_the_history() {
    let mut app = app();
    type_text(&mut app, "q1");
    press(&mut app, KeyCode::Enter);
    ctrl_c(&mut app);
    type_text(&mut app, "q2");
    let turn = sent(&press(&mut app, KeyCode::Enter)).turn;
    update(
        &mut app,
        Event::Worker(WorkerEvent::Failed {
            turn,
            message: "model request failed: boom".into(),
        }),
    );
    assert!(app.generating.is_none());
    assert_eq!(app.messages.last().unwrap().speaker, Speaker::Error);
    type_text(&mut app, "q3");
    assert!(sent(&press(&mut app, KeyCode::Enter)).history.is_empty());
}

#[test]
fn enter_while_generating_keeps_the_text_and_says_why() {
    let mut app = app();
    type_text(&mut app, "q");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "next");
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    assert_eq!(app.input_text(), "next");
    assert!(app.hint.as_ref().unwrap().0.contains("Ctrl+C"));
}

#[test]
fn slash_commands_change_state_or_return_effects() {
    let mut app = app();
    let run = |app: &mut App, line: &str| {
        type_text(app, line);
        press(app, KeyCode::Enter)
    };
    assert!(run(&mut app, "/mode ask").is_empty());
    assert_eq!(app.status.mode, Mode::Ask);
    run(&mut app, "/mode shouting");
    assert_eq!(app.messages.last().unwrap().speaker, Speaker::Error);
    assert_eq!(app.status.mode, Mode::Ask);
    assert_eq!(
        run(&mut app, "/index manuals"),
        vec![Effect::SwitchIndex("manuals".into())]
    );
    assert_eq!(
        run(&mut app, "/model other.gguf"),
        vec![Effect::LoadModel("other.gguf".into())]
    );
    assert_eq!(app.status.loading.as_deref(), Some("other.gguf"));
    run(&mut app, "/system Talk like a pirate.");
    assert_eq!(app.session.system, "Talk like a pirate.");
    assert!(matches!(run(&mut app, "/save trip")[..], [Effect::Save(ref s)] if s.title == "trip"));
    assert_eq!(run(&mut app, "/sessions"), vec![Effect::ListSessions]);
    assert_eq!(
        run(&mut app, "/load 2026"),
        vec![Effect::LoadSession("2026".into())]
    );
    assert!(matches!(
        run(&mut app, "/tokens")[..],
        [Effect::CountTokens(_)]
    ));
    run(&mut app, "/help");
    assert_eq!(app.overlay, Overlay::Help { scroll: 0 });
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.overlay, Overlay::None);
    run(&mut app, "/frobnicate");
    assert!(app
        .messages
        .last()
        .unwrap()
        .content
        .contains("unknown command /frobnicate"));
    assert_eq!(run(&mut app, "/quit"), vec![Effect::Quit]);
}

#[test]
fn every_documented_command_is_handled() {
    for c in keys::COMMANDS {
        let mut app = app();
        let line = if c.args.is_empty() {
            c.name.to_string()
        } else {
            format!("{} x", c.name)
        };
        assert!(SlashCommand::parse(&line).is_ok(), "{line} does not parse");
        type_text(&mut app, &line);
        press(&mut app, KeyCode::Enter);
        let unknown = app
            .messages
            .iter()
            .any(|m| m.content.contains("unknown command"));
        assert!(!unknown, "{} is documented but not handled", c.name);
    }
}

#[test]
fn needs_idle_commands_wait_for_the_reply() {
    let mut app = app();
    type_text(&mut app, "q");
    press(&mut app, KeyCode::Enter);
    let idle_only: Vec<_> = keys::COMMANDS.iter().filter(|c| c.needs_idle).collect();
    assert!(idle_only.len() >= 4);
    for c in idle_only {
        let line = if c.args.is_empty() {
            c.name.to_string()
        } else {
            format!("{} x", c.name)
        };
        type_text(&mut app, &line);
        assert!(press(&mut app, KeyCode::Enter).is_empty(), "{line}");
        let hint = app.hint.as_ref().map(|h| h.0.clone()).unwrap_or_default();
        let expected = if c.name == "/retry" {
            "a reply is on its way: Ctrl+C cancels it".to_string()
        } else {
            format!("wait for the reply (or Ctrl+C) before {}", c.name)
        };
        assert_eq!(hint, expected, "{line}");
    }
    assert_eq!(app.messages.len(), 2, "nothing was cleared or retried");
    assert!(app.generating.is_some() && app.status.loading.is_none());
    // The bare forms only report, so they still answer.
    type_text(&mut app, "/model");
    press(&mut app, KeyCode::Enter);
    let last = &app.messages.last().unwrap().content;
    assert!(
        last.starts_with("model: SmolLM2-135M-Instruct on CPU"),
        "{last}"
    );
    type_text(&mut app, "/load");
    press(&mut app, KeyCode::Enter);
    assert!(app
        .messages
        .last()
        .unwrap()
        .content
        .starts_with("usage: /load ID"));
    // Commands that leave the reply alone run as usual.
    type_text(&mut app, "/sessions");
    assert_eq!(press(&mut app, KeyCode::Enter), vec![Effect::ListSessions]);
    type_text(&mut app, "/exit");
    assert_eq!(press(&mut app, KeyCode::Enter), vec![Effect::Quit]);
}

#[test]
fn clear_starts_a_new_session_and_retry_resends_the_last_question() {
    let mut app = app();
    exchange(&mut app, "what is lore?", "A tool.");
    let effects = {
        type_text(&mut app, "/retry");
        press(&mut app, KeyCode::Enter)
    };
    let req = sent(&effects);
    assert_eq!(req.user, "what is lore?");
    assert!(req.history.is_empty(), "the retried reply is not history");
    assert_eq!(app.messages.len(), 2);
    ctrl_c(&mut app);
    let old = app.session.id.clone();
    type_text(&mut app, "/clear");
    press(&mut app, KeyCode::Enter);
    assert!(app.messages.is_empty());
    assert_ne!(app.session.id, old);
}

#[test]
fn copy_sends_the_selected_reply() {
    let mut app = app();
    exchange(&mut app, "a", "first reply");
    exchange(&mut app, "b", "second reply");
    type_text(&mut app, "/copy");
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Effect::Copy("second reply".into())]
    );
    chord(&mut app, KeyCode::Up, KeyModifiers::ALT);
    type_text(&mut app, "/copy");
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Effect::Copy("first reply".into())]
    );
}

#[test]
fn tab_completes_commands_and_mode_names() {
    let mut app = app();
    type_text(&mut app, "/cl");
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.input_text(), "/clear", "no arguments: no space");
    ctrl_c(&mut app);
    type_text(&mut app, "/mo");
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.input_text(), "/mode", "the prefix of /mode and /model");
    ctrl_c(&mut app);
    type_text(&mut app, "/ind");
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.input_text(), "/index ", "takes an argument");
    ctrl_c(&mut app);
    type_text(&mut app, "/mode su");
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.input_text(), "/mode support");
}

#[test]
fn sessions_overlay_opens_the_chosen_session() {
    let mut app = app();
    let summary = |id: &str| Summary {
        id: id.into(),
        title: "t".into(),
        updated: "2026-11-23T10:00:00+00:00".into(),
        messages: 2,
        model: "m".into(),
    };
    update(
        &mut app,
        Event::Worker(WorkerEvent::Sessions(vec![summary("a1"), summary("b2")])),
    );
    press(&mut app, KeyCode::Down);
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Effect::LoadSession("b2".into())]
    );
    assert_eq!(app.overlay, Overlay::None);
}

#[test]
fn scrolling_moves_up_and_end_follows_the_reply_again() {
    let mut app = app();
    for i in 0..30 {
        exchange(&mut app, &format!("question {i}"), "answer\n\nmore");
    }
    assert_eq!(app.scroll, None);
    press(&mut app, KeyCode::PageUp);
    let top = app.scroll.expect("scrolled");
    press(&mut app, KeyCode::PageUp);
    assert!(app.scroll.unwrap() < top);
    update(&mut app, Event::Scroll(3));
    press(&mut app, KeyCode::Home);
    assert_eq!(app.scroll, Some(0));
    press(&mut app, KeyCode::End);
    assert_eq!(app.scroll, None);
}

#[test]
fn sources_pane_toggles_and_esc_closes_it() {
    let mut app = app();
    press(&mut app, KeyCode::F(2));
    assert!(app.show_sources);
    press(&mut app, KeyCode::Esc);
    assert!(!app.show_sources);
    chord(&mut app, KeyCode::Char('s'), KeyModifiers::ALT);
    assert!(app.show_sources);
}

#[test]
fn a_saved_session_round_trips_through_the_snapshot() {
    let mut app = app();
    exchange(&mut app, "hi", "hello");
    let snap = app.snapshot();
    assert_eq!(snap.messages.len(), 2);
    let mut other = app_with(ColorMode::Mono, 80, 24);
    update(
        &mut other,
        Event::Worker(WorkerEvent::SessionLoaded(Box::new(snap))),
    );
    assert_eq!(other.messages.len(), 2);
    assert_eq!(other.messages[1].content, "hello");
    assert_eq!(other.prompt_history, vec!["hi".to_string()]);
}

// ----- snapshots -----

/// Asserts that no cell has a colour (NO_COLOR); the number of cells whose
/// emphasis is bold or reverse instead.
fn assert_no_colour(t: &Terminal<TestBackend>) -> usize {
    let mut styled = 0;
    for cell in t.backend().buffer().content() {
        assert_eq!(
            cell.fg,
            ratatui::style::Color::Reset,
            "no foreground colour"
        );
        assert_eq!(
            cell.bg,
            ratatui::style::Color::Reset,
            "no background colour"
        );
        styled += usize::from(!cell.modifier.is_empty());
    }
    styled
}

fn draw(app: &App) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(app.width, app.height)).expect("test terminal");
    t.draw(|f| view::view(app, f)).expect("draw");
    t
}

fn stream(app: &mut App, user: &str, reply: &str) {
    type_text(app, user);
    let turn = sent(&press(app, KeyCode::Enter)).turn;
    update(
        app,
        Event::Worker(WorkerEvent::Delta {
            turn,
            text: reply.into(),
        }),
    );
}

#[test]
fn snapshot_empty_screen() {
    let app = app();
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn snapshot_reply_mid_stream_with_a_code_block() {
    let mut app = app();
    stream(
        &mut app,
        "How do I print in Rust?",
        "Use `println!`:\n\n```rust\nfn main() {\n    println!(\"hi\");\n}\n```\n\nIt writes to **stdout** and adds a new",
    );
    insta::assert_snapshot!(draw(&app).backend());
}

fn with_sources(app: &mut App) {
    exchange(
        app,
        "How long do I have to return an item?",
        "You can return an item within 30 days of delivery.",
    );
    let idx = app.messages.len() - 1;
    app.messages[idx].sources = vec![
        Source {
            passage: Passage {
                n: 1,
                path: "help-centre/returns/return-policy.md".into(),
                lines: (1, 5),
                heading: "Return policy > How long you have".into(),
                score: 4.0,
                text: String::new(),
                snippet: "You can return most items within 30 days of the delivery date.".into(),
                highlights: vec![8..14, 43..47],
            },
            cited: true,
        },
        Source {
            passage: Passage {
                n: 2,
                path: "help-centre/returns/refunds.md".into(),
                lines: (3, 9),
                heading: "Refunds".into(),
                score: 3.5,
                text: String::new(),
                snippet: "Refunds reach your card within 5 working days.".into(),
                highlights: vec![],
            },
            cited: false,
        },
    ];
    app.messages[idx].touch();
}

#[test]
fn snapshot_sources_pane() {
    let mut app = app_with(ColorMode::TrueColor, 120, 24);
    with_sources(&mut app);
    press(&mut app, KeyCode::F(2));
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn snapshot_help_overlay() {
    let mut app = app_with(ColorMode::TrueColor, 100, 36);
    press(&mut app, KeyCode::F(1));
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn snapshot_forty_columns() {
    let mut app = app_with(ColorMode::TrueColor, 40, 20);
    with_sources(&mut app);
    type_text(&mut app, "a draft that is longer than forty columns wide");
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn snapshot_cjk_text_wraps_by_display_width() {
    let mut app = app_with(ColorMode::TrueColor, 30, 16);
    exchange(
        &mut app,
        "退货政策是什么？",
        "您可以在收货后三十天内退回大多数商品，退款将在五个工作日内到账。",
    );
    let t = draw(&app);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn snapshot_no_color_theme_uses_no_colours() {
    let mut app = app_with(ColorMode::Mono, 80, 20);
    stream(
        &mut app,
        "Show code",
        "```rust\nlet x = 1;\n```\n\n**Done**",
    );
    press(&mut app, KeyCode::F(2));
    let t = draw(&app);
    let styled = assert_no_colour(&t);
    assert!(styled > 0, "bold/reverse carry the emphasis instead");
    insta::assert_snapshot!(t.backend());
}

#[test]
fn layout_survives_tiny_and_resized_terminals() {
    let mut app = app();
    exchange(&mut app, "hi", "hello\n\n| a | b |\n|---|---|\n| 1 | 2 |");
    for (w, h) in [(1, 1), (10, 3), (20, 5), (200, 60), (80, 24)] {
        update(&mut app, Event::Resize(w, h));
        let t = draw(&app);
        assert_eq!(t.backend().buffer().area.width, w);
    }
}

#[test]
fn support_turns_show_intent_sentiment_and_hand_over() {
    let mut app = app();
    app.set_greeting("Hi! How can I help?");
    assert!(app.messages.is_empty(), "no greeting in chat mode");
    type_text(&mut app, "/mode support");
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.messages.len(), 1);
    assert_eq!(app.messages[0].content, "Hi! How can I help?");
    type_text(&mut app, "I want to talk to a human");
    let turn = sent(&press(&mut app, KeyCode::Enter)).turn;
    update(
        &mut app,
        Event::Worker(WorkerEvent::Done {
            turn,
            reply: ReplyDone {
                citations_valid: true,
                support: Some(SupportView {
                    intent: "human".into(),
                    sentiment: "neutral".into(),
                    handover: Some("the customer asked for a person".into()),
                    ticket: "T-1".into(),
                }),
                ..ReplyDone::default()
            },
        }),
    );
    let status = view::status_text(&app).join(" | ");
    assert!(status.contains("intent human · neutral"), "{status}");
    assert!(
        status.contains("handed over") && status.contains("T-1"),
        "{status}"
    );
}

/// The support check in the TUI.
mod grounding;

/// Agent mode in the TUI.
mod agent;

/// The agent's approval prompt.
mod approval;
