//! The approval prompt: synthetic approval events fed to `update` as the
//! worker feeds them, the keys that answer (and those that must not),
//! the outcome in the transcript, the status bar, `/approvals` and
//! `/undo`, and snapshots of the prompt.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::*;
use crate::agent::policy::{Isolation, Mode as AgentMode};
use crate::agent::protocol::{
    ApprovalRequest, DecidedBy, Decision, Event as AgentEvent, Preview, Risk, StopReason,
};
use crate::tasks::conversation::AgentUpdate;

/// An agent-mode app whose clock the test moves.
fn approval_app(mode: ColorMode, w: u16, h: u16, isolation: Isolation) -> (App, Rc<Cell<Instant>>) {
    let mut app = app_with(mode, w, h);
    app.status.workspace = Some("~/proj".into());
    app.status.policy = Some(PolicyView {
        mode: AgentMode::Ask,
        isolation,
    });
    let now = Rc::new(Cell::new(Instant::now()));
    let clock = now.clone();
    app.clock = Rc::new(move || clock.get());
    type_text(&mut app, "/mode agent");
    press(&mut app, KeyCode::Enter);
    (app, now)
}

fn later(now: &Cell<Instant>, ms: u64) {
    now.set(now.get() + Duration::from_millis(ms));
}

fn feed(app: &mut App, turn: u64, event: AgentEvent) -> Vec<Effect> {
    update(
        app,
        Event::Worker(WorkerEvent::Agent {
            turn,
            update: AgentUpdate::Event(event),
        }),
    )
}

fn shell_request(command: &str, grant: Option<&str>) -> ApprovalRequest {
    ApprovalRequest {
        call_id: "call_1".into(),
        tool: "shell".into(),
        subject: command.into(),
        cwd: "~/proj".into(),
        sandbox: Isolation::Isolated.label(),
        reason: Some("run the tests to see what fails".into()),
        diff: None,
        grant: grant.map(str::to_string),
    }
}

const DIFF: &str = "--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,4 +1,5 @@\n pub fn run() {\n-    old();\n+    new();\n+    log(\"ran\");\n }\n \n";

fn edit_request() -> ApprovalRequest {
    ApprovalRequest {
        call_id: "call_1".into(),
        tool: "edit".into(),
        subject: "src/lib.rs".into(),
        cwd: "~/proj".into(),
        sandbox: Isolation::Isolated.label(),
        reason: Some("call new() instead of old()".into()),
        diff: Some(Preview {
            unified: DIFF.into(),
            added: 2,
            removed: 1,
        }),
        grant: Some("edits to src/lib.rs for this session".into()),
    }
}

/// Starts an agent turn and brings `request` up; returns the turn and
/// the prompt's effects.
fn ask(app: &mut App, request: ApprovalRequest) -> (u64, Vec<Effect>) {
    ask_with_draft(app, request, "")
}

/// As [`ask`], with `draft` typed into the input while the agent works.
fn ask_with_draft(app: &mut App, request: ApprovalRequest, draft: &str) -> (u64, Vec<Effect>) {
    type_text(app, "Run the tests");
    let turn = sent(&press(app, KeyCode::Enter)).turn;
    update(
        app,
        Event::Worker(WorkerEvent::Agent {
            turn,
            update: AgentUpdate::Started {
                root: "/home/u/proj".into(),
                max_steps: 8,
            },
        }),
    );
    type_text(app, draft);
    let (key, value) = if request.tool == "shell" {
        ("command", request.subject.clone())
    } else {
        ("path", request.subject.clone())
    };
    feed(
        app,
        turn,
        AgentEvent::ToolStarted {
            call_id: request.call_id.clone(),
            tool: request.tool.clone(),
            args: serde_json::json!({ key: value }),
            risk: if request.tool == "shell" {
                Risk::Exec
            } else {
                Risk::Write
            },
        },
    );
    let effects = feed(app, turn, AgentEvent::ApprovalRequested(request));
    (turn, effects)
}

fn decided(effects: &[Effect]) -> Option<Decision> {
    effects.iter().find_map(|e| match e {
        Effect::Decide { call_id, decision } if call_id == "call_1" => Some(*decision),
        _ => None,
    })
}

#[test]
fn the_prompt_rings_retitles_drains_the_input_and_replaces_the_input_box() {
    let (mut app, _) = approval_app(ColorMode::TrueColor, 80, 24, Isolation::Isolated);
    let mut request = shell_request("cargo test", Some("`cargo test …` for this session"));
    request.cwd = "/home/u/proj".into();
    let (_, effects) = ask(&mut app, request);
    assert!(effects.contains(&Effect::DrainInput), "{effects:?}");
    assert!(effects.contains(&Effect::Bell), "{effects:?}");
    assert!(effects.contains(&Effect::Title(Some("lore: approval needed".into()))));
    assert!(app.approval.is_some());
    let screen = draw(&app).backend().to_string();
    assert!(screen.contains("$ cargo test"), "{screen}");
    assert!(
        screen.contains("in ~/proj · sandbox: landlock"),
        "the root as the status bar shows it: {screen}"
    );
    assert!(
        !screen.contains("Type a message"),
        "the input is hidden: {screen}"
    );
    let status = view::status_text(&app).join(" | ");
    assert!(status.contains("approval needed"), "{status}");
}

#[test]
fn keys_are_ignored_for_250_ms_after_the_prompt_appears() {
    let (mut app, now) = approval_app(ColorMode::TrueColor, 80, 24, Isolation::Isolated);
    ask(&mut app, shell_request("cargo test", None));
    later(&now, 100);
    for code in [KeyCode::Char('y'), KeyCode::Esc, KeyCode::Char('n')] {
        assert!(press(&mut app, code).is_empty(), "{code:?} too soon");
    }
    assert!(ctrl_c(&mut app).is_empty());
    later(&now, 149);
    assert!(
        press(&mut app, KeyCode::Char('y')).is_empty(),
        "249 ms is still too soon"
    );
    assert!(app.approval.is_some());
    later(&now, 1);
    let effects = press(&mut app, KeyCode::Char('y'));
    assert_eq!(decided(&effects), Some(Decision::Once));
}

#[test]
fn each_key_answers_and_closes_the_prompt() {
    let cases = [
        (KeyCode::Char('y'), KeyModifiers::NONE, Decision::Once),
        (KeyCode::Char('a'), KeyModifiers::NONE, Decision::Session),
        (KeyCode::Char('n'), KeyModifiers::NONE, Decision::Deny),
        (KeyCode::Esc, KeyModifiers::NONE, Decision::Abort),
        (KeyCode::Char('c'), KeyModifiers::CONTROL, Decision::Abort),
    ];
    for (code, mods, want) in cases {
        let (mut app, now) = approval_app(ColorMode::TrueColor, 80, 24, Isolation::Isolated);
        ask_with_draft(
            &mut app,
            shell_request("cargo test", Some("`cargo test …` for this session")),
            "next question",
        );
        later(&now, 300);
        let effects = chord(&mut app, code, mods);
        assert_eq!(decided(&effects), Some(want), "{code:?}");
        assert!(effects.contains(&Effect::Title(None)), "{effects:?}");
        assert!(app.approval.is_none());
        assert!(
            app.generating.is_some(),
            "the turn goes on until the agent ends it"
        );
        assert!(
            !effects.contains(&Effect::Interrupt) && !effects.contains(&Effect::Cancel),
            "the decision alone ends the turn: {effects:?}"
        );
        assert_eq!(app.input_text(), "next question", "the draft is back");
    }
}

#[test]
fn a_cannot_grant_what_cannot_be_granted_and_other_keys_do_nothing() {
    let (mut app, now) = approval_app(ColorMode::TrueColor, 80, 24, Isolation::Isolated);
    ask(&mut app, shell_request("make | sh", None));
    later(&now, 300);
    assert!(press(&mut app, KeyCode::Char('a')).is_empty());
    assert!(app.hint.as_ref().unwrap().0.contains("cannot be allowed"));
    for code in [
        KeyCode::Enter,
        KeyCode::Char(' '),
        KeyCode::Char('x'),
        KeyCode::F(1),
    ] {
        assert!(press(&mut app, code).is_empty(), "{code:?}");
    }
    assert!(chord(&mut app, KeyCode::Char('y'), KeyModifiers::ALT).is_empty());
    assert!(app.approval.is_some() && app.overlay == Overlay::None);
    assert_eq!(
        decided(&press(&mut app, KeyCode::Char('n'))),
        Some(Decision::Deny)
    );
}

#[test]
fn a_paste_never_answers_nor_lands_in_the_hidden_input() {
    let (mut app, now) = approval_app(ColorMode::TrueColor, 80, 24, Isolation::Isolated);
    ask(
        &mut app,
        shell_request("cargo test", Some("`cargo test …` for this session")),
    );
    later(&now, 1000);
    for text in ["y", "a\r", "yes\n", "\x1b"] {
        assert!(update(&mut app, Event::Paste(text.into())).is_empty());
    }
    assert!(app.approval.is_some());
    assert_eq!(app.input_text(), "");
}

#[test]
fn the_diff_scrolls_with_up_down_and_the_page_keys() {
    let (mut app, now) = approval_app(ColorMode::TrueColor, 80, 24, Isolation::Isolated);
    let mut request = edit_request();
    let long: String = (1..=60).map(|i| format!("+line {i}\n")).collect();
    request.diff = Some(Preview {
        unified: format!("@@ -0,0 +1,60 @@\n{long}"),
        added: 60,
        removed: 0,
    });
    ask(&mut app, request);
    later(&now, 300);
    let scroll = |app: &App| app.approval.as_ref().unwrap().scroll;
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Down);
    assert_eq!(scroll(&app), 2);
    press(&mut app, KeyCode::Up);
    assert_eq!(scroll(&app), 1);
    press(&mut app, KeyCode::PageDown);
    let page = scroll(&app) - 1;
    assert!(page >= 5, "a page is most of the visible rows: {page}");
    press(&mut app, KeyCode::End);
    let max = scroll(&app);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(scroll(&app), max, "clamped at the end");
    let screen = draw(&app).backend().to_string();
    assert!(screen.contains("+line 60"), "{screen}");
    assert!(screen.contains("/62"), "the position shows: {screen}");
    press(&mut app, KeyCode::PageUp);
    assert_eq!(scroll(&app), max - page);
    press(&mut app, KeyCode::Home);
    assert_eq!(scroll(&app), 0);
    press(&mut app, KeyCode::Up);
    assert_eq!(scroll(&app), 0, "clamped at the top");
}

#[test]
fn the_outcome_shows_in_the_steps() {
    let (mut app, now) = approval_app(ColorMode::TrueColor, 80, 24, Isolation::Isolated);
    let (turn, _) = ask(&mut app, shell_request("rm -rf x", None));
    later(&now, 300);
    press(&mut app, KeyCode::Char('n'));
    feed(
        &mut app,
        turn,
        AgentEvent::ApprovalDecided {
            call_id: "call_1".into(),
            tool: "shell".into(),
            decision: Decision::Deny,
            by: DecidedBy::User,
        },
    );
    feed(
        &mut app,
        turn,
        AgentEvent::ToolCompleted {
            call_id: "call_1".into(),
            tool: "shell".into(),
            status: crate::agent::protocol::ToolStatus::Declined,
            wall_ms: 0,
            summary: "shell rm -rf x (declined)".into(),
            output: String::new(),
        },
    );
    let mut request = shell_request("cargo test -q", Some("`cargo test …` for this session"));
    request.call_id = "call_2".into();
    feed(
        &mut app,
        turn,
        AgentEvent::ToolStarted {
            call_id: "call_2".into(),
            tool: "shell".into(),
            args: serde_json::json!({"command": "cargo test -q"}),
            risk: Risk::Exec,
        },
    );
    feed(&mut app, turn, AgentEvent::ApprovalRequested(request));
    later(&now, 300);
    let effects = press(&mut app, KeyCode::Char('a'));
    assert!(effects.contains(&Effect::Decide {
        call_id: "call_2".into(),
        decision: Decision::Session
    }));
    feed(
        &mut app,
        turn,
        AgentEvent::ApprovalDecided {
            call_id: "call_2".into(),
            tool: "shell".into(),
            decision: Decision::Session,
            by: DecidedBy::User,
        },
    );
    let screen = draw(&app).backend().to_string();
    assert!(screen.contains("✗ declined: shell rm -rf x"), "{screen}");
    assert!(
        !screen.contains("(declined)"),
        "one line for a declined call: {screen}"
    );
    assert!(
        screen.contains("✓ approved (session): shell cargo test -q"),
        "{screen}"
    );
    assert!(
        screen.contains("◦ shell cargo test -q…"),
        "then the call runs: {screen}"
    );
}

#[test]
fn the_end_of_the_turn_closes_a_waiting_prompt() {
    let (mut app, _) = approval_app(ColorMode::TrueColor, 80, 24, Isolation::Isolated);
    let (turn, _) = ask(&mut app, shell_request("cargo test", None));
    let effects = feed(
        &mut app,
        turn,
        AgentEvent::TurnCompleted {
            turn: 1,
            steps: 1,
            stop: StopReason::Aborted,
            answer: String::new(),
            usage: Default::default(),
            error: None,
        },
    );
    assert!(effects.contains(&Effect::Title(None)), "{effects:?}");
    assert!(app.approval.is_none() && app.generating.is_none());
    // A failed turn does the same.
    let (turn, _) = ask(&mut app, shell_request("cargo test", None));
    let effects = update(
        &mut app,
        Event::Worker(WorkerEvent::Failed {
            turn,
            message: "boom".into(),
        }),
    );
    assert!(effects.contains(&Effect::Title(None)), "{effects:?}");
    assert!(app.approval.is_none());
}

#[test]
fn the_status_bar_shows_the_mode_and_sandbox_and_fits_40_columns() {
    let (mut app, _) = approval_app(ColorMode::TrueColor, 100, 24, Isolation::Isolated);
    type_text(&mut app, "go");
    let turn = sent(&press(&mut app, KeyCode::Enter)).turn;
    update(
        &mut app,
        Event::Worker(WorkerEvent::Agent {
            turn,
            update: AgentUpdate::Started {
                root: "/home/u/proj".into(),
                max_steps: 8,
            },
        }),
    );
    let status = view::status_text(&app).join(" | ");
    assert!(
        status.contains("agent · ask · sandbox: landlock + seccomp · ~/proj · step 1/8"),
        "{status}"
    );
    update(&mut app, Event::Resize(40, 12));
    let screen = draw(&app).backend().to_string();
    let bar = screen.lines().last().unwrap();
    assert!(bar.contains("ask · sandboxed · 1/8"), "{bar}");
}

#[test]
fn an_unprotected_sandbox_is_red_in_the_status_bar() {
    for (iso, label) in [
        (Isolation::Disabled, "sandbox: off (--no-sandbox)"),
        (
            Isolation::Unavailable("no landlock".into()),
            "sandbox: unavailable (no landlock)",
        ),
    ] {
        let (app, _) = approval_app(ColorMode::TrueColor, 120, 24, iso);
        let t = draw(&app);
        let buf = t.backend().buffer();
        let row = buf.area.height - 1;
        let line: String = (0..buf.area.width)
            .map(|x| buf[(x, row)].symbol().to_string())
            .collect();
        let at = line
            .find(label)
            .unwrap_or_else(|| panic!("{label} in {line}"));
        let x = line[..at].chars().count() as u16;
        assert_eq!(
            buf[(x, row)].bg,
            app.theme.status_alert.bg.unwrap(),
            "{label}"
        );
        assert_ne!(buf[(0, row)].bg, app.theme.status_alert.bg.unwrap());
    }
    let (app, _) = approval_app(ColorMode::TrueColor, 120, 24, Isolation::Isolated);
    let t = draw(&app);
    let buf = t.backend().buffer();
    let row = buf.area.height - 1;
    let alert = app.theme.status_alert.bg.unwrap();
    assert!((0..buf.area.width).all(|x| buf[(x, row)].bg != alert));
}

#[test]
fn approvals_shows_and_sets_the_mode_and_undo_asks_the_service() {
    let (mut app, _) = approval_app(ColorMode::TrueColor, 80, 24, Isolation::Isolated);
    type_text(&mut app, "/approvals");
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    let note = &app.messages.last().unwrap().content;
    assert!(
        note.contains("approvals: ask") && note.contains("landlock"),
        "{note}"
    );
    type_text(&mut app, "/approvals auto-edit");
    assert_eq!(
        press(&mut app, KeyCode::Enter),
        vec![Effect::SetAgentMode(AgentMode::AutoEdit)]
    );
    assert_eq!(
        app.status.policy.as_ref().unwrap().mode,
        AgentMode::AutoEdit
    );
    assert!(view::status_text(&app)
        .join(" | ")
        .contains("agent · auto-edit ·"));
    type_text(&mut app, "/approvals yolo");
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    assert_eq!(app.messages.last().unwrap().speaker, Speaker::Error);
    assert_eq!(
        keys::completions("/approvals a"),
        ["/approvals ask", "/approvals auto-edit", "/approvals auto"]
    );
    assert_eq!(keys::completions("/approvals r"), ["/approvals read-only"]);
    type_text(&mut app, "/undo");
    assert_eq!(press(&mut app, KeyCode::Enter), vec![Effect::Undo]);
    // Not while the agent works.
    type_text(&mut app, "go");
    press(&mut app, KeyCode::Enter);
    type_text(&mut app, "/undo");
    assert!(press(&mut app, KeyCode::Enter).is_empty());
    assert!(app.hint.as_ref().unwrap().0.contains("/undo"));
    // Without agent mode there is nothing to set.
    let mut plain = app_with(ColorMode::TrueColor, 80, 24);
    type_text(&mut plain, "/approvals auto");
    assert!(press(&mut plain, KeyCode::Enter).is_empty());
    assert_eq!(plain.messages.last().unwrap().speaker, Speaker::Error);
}

#[test]
fn the_help_lists_the_prompt_keys_and_the_new_commands() {
    assert!(keys::KEYS
        .iter()
        .any(|(k, what)| k.contains("y / a / n / Esc") && what.contains("approval")));
    for name in ["/undo", "/approvals"] {
        assert!(keys::find_command(name).is_some(), "{name}");
    }
}

// ----- snapshots -----

fn prompt_screen(
    mode: ColorMode,
    w: u16,
    h: u16,
    request: ApprovalRequest,
) -> Terminal<TestBackend> {
    let (mut app, _) = approval_app(mode, w, h, Isolation::Isolated);
    ask(&mut app, request);
    draw(&app)
}

fn long_command() -> ApprovalRequest {
    shell_request(
        "cargo test --workspace -- --test-threads 1 agent::",
        Some("`cargo test …` for this session"),
    )
}

#[test]
fn snapshot_approval_command_80x24() {
    insta::assert_snapshot!(prompt_screen(ColorMode::TrueColor, 80, 24, long_command()).backend());
}

#[test]
fn snapshot_approval_command_40x12() {
    insta::assert_snapshot!(prompt_screen(ColorMode::TrueColor, 40, 12, long_command()).backend());
}

#[test]
fn snapshot_approval_diff_80x24() {
    insta::assert_snapshot!(prompt_screen(ColorMode::TrueColor, 80, 24, edit_request()).backend());
}

#[test]
fn snapshot_approval_diff_40x12() {
    insta::assert_snapshot!(prompt_screen(ColorMode::TrueColor, 40, 12, edit_request()).backend());
}

#[test]
fn snapshot_approval_no_color() {
    let mut request = shell_request("rm -rf build && make", None);
    request.sandbox = Isolation::Disabled.label();
    let (mut app, _) = approval_app(ColorMode::Mono, 80, 24, Isolation::Disabled);
    ask(&mut app, request);
    let t = draw(&app);
    let styled = assert_no_colour(&t);
    assert!(styled > 0, "bold and reverse carry the emphasis");
    insta::assert_snapshot!(t.backend());
}
