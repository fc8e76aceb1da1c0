//! Agent mode in the TUI: a real agent on the scripted model runs over a
//! small workspace and its events are fed to `update`, as the worker
//! feeds them; then the screen shows the steps, the answer, the status
//! bar's step count, interrupts and expanded steps.

use super::*;
use crate::agent::fsroot::Root as Workspace;
use crate::agent::protocol::{Event as AgentEvent, StopReason};
use crate::agent::{Agent, Config};
use crate::model::scripted::ScriptedModel;
use crate::tasks::conversation::AgentUpdate;

/// A workspace of a few files.
fn workspace() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("config.toml"), "max_retries = 5\n").unwrap();
    std::fs::write(
        dir.path().join("src/main.rs"),
        "fn main() {\n    lore::run();\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), "pub fn run() {}\n").unwrap();
    dir
}

/// The events of one agent turn on `replies` (times zeroed, so screens
/// do not depend on the machine's speed).
fn agent_events(replies: &[&str], max_steps: usize) -> Vec<AgentEvent> {
    let dir = workspace();
    let model = replies
        .iter()
        .fold(ScriptedModel::new(8192), |m, r| m.reply(*r));
    let config = Config {
        max_steps,
        ..Config::for_model_file(0)
    };
    let mut agent = Agent::new(
        std::sync::Arc::new(model),
        Workspace::new(dir.path()).unwrap(),
        config,
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut events = Vec::new();
    let (_tx, mut rx) = tokio::sync::watch::channel(false);
    runtime.block_on(agent.turn("Where is main?", &mut rx, &mut |e| events.push(e)));
    for e in &mut events {
        if let AgentEvent::ToolCompleted { wall_ms, .. } = e {
            *wall_ms = 0;
        }
    }
    events
}

const EXPLORE: &[&str] = &[
    r#"{"tool": "read", "path": "config.toml"}"#,
    r#"{"tool": "read", "path": "src/main.rs"}"#,
    r#"{"tool": "read", "path": "src/lib.rs"}"#,
    r#"{"tool": "grep", "pattern": "fn main"}"#,
    r#"{"tool": "answer", "text": "`main` is in **src/main.rs**; it calls `lore::run`."}"#,
];

fn agent_app(mode: ColorMode) -> App {
    let mut app = app_with(mode, 80, 24);
    app.status.workspace = Some("~/proj".into());
    type_text(&mut app, "/mode agent");
    press(&mut app, KeyCode::Enter);
    app
}

/// Sends `text` in agent mode; returns the turn and the effects.
fn send_agent(app: &mut App, text: &str) -> (u64, Vec<Effect>) {
    type_text(app, text);
    let effects = press(app, KeyCode::Enter);
    let req = sent(&effects);
    assert_eq!(req.mode, Mode::Agent);
    (req.turn, effects)
}

fn feed(app: &mut App, turn: u64, update: AgentUpdate) -> Vec<Effect> {
    update_app(app, WorkerEvent::Agent { turn, update })
}

fn update_app(app: &mut App, ev: WorkerEvent) -> Vec<Effect> {
    update(app, Event::Worker(ev))
}

fn start(app: &mut App, turn: u64, max_steps: usize) {
    feed(
        app,
        turn,
        AgentUpdate::Started {
            root: "/home/u/proj".into(),
            max_steps,
        },
    );
}

/// Runs a whole turn of `events` through the app.
fn run_turn(app: &mut App, events: Vec<AgentEvent>) -> u64 {
    let (turn, _) = send_agent(app, "Where is main?");
    start(app, turn, 8);
    for e in events {
        feed(app, turn, AgentUpdate::Event(e));
    }
    turn
}

#[test]
fn mode_agent_names_the_workspace_in_the_note_and_the_status_bar() {
    let app = agent_app(ColorMode::TrueColor);
    assert_eq!(app.status.mode, Mode::Agent);
    let note = &app.messages.last().unwrap().content;
    assert!(
        note.contains("mode agent") && note.contains("~/proj"),
        "{note}"
    );
    let status = view::status_text(&app).join(" | ");
    assert!(status.contains("agent · ~/proj"), "{status}");
    assert!(
        !status.contains("index"),
        "agent mode does not search: {status}"
    );
}

#[test]
fn steps_count_in_the_status_bar_and_the_answer_becomes_the_reply() {
    let mut app = agent_app(ColorMode::TrueColor);
    let (turn, effects) = send_agent(&mut app, "Where is main?");
    assert!(
        effects.contains(&Effect::ResetAgent),
        "the first agent turn of a conversation starts a new agent"
    );
    start(&mut app, turn, 8);
    let events = agent_events(EXPLORE, 8);
    let status = || view::status_text(&app).join(" | ");
    assert!(
        status().contains("agent · ~/proj · step 1/8"),
        "{}",
        status()
    );
    let mut events = events.into_iter();
    for e in events.by_ref() {
        let completed = matches!(e, AgentEvent::ToolCompleted { .. });
        feed(&mut app, turn, AgentUpdate::Event(e));
        if completed {
            break;
        }
    }
    assert!(
        view::status_text(&app).join(" | ").contains("step 2/8"),
        "{}",
        view::status_text(&app).join(" | ")
    );
    let mut last = Vec::new();
    for e in events {
        last = feed(&mut app, turn, AgentUpdate::Event(e));
    }
    assert!(last.iter().any(|e| matches!(e, Effect::Save(_))));
    assert!(app.generating.is_none() && app.agent_run.is_none());
    let reply = app.messages.last().unwrap();
    assert_eq!(
        reply.content,
        "`main` is in **src/main.rs**; it calls `lore::run`."
    );
    assert_eq!(reply.steps.len(), 4);
    assert_eq!(reply.stopped, None);
    let status = view::status_text(&app).join(" | ");
    assert!(!status.contains("step"), "{status}");
    // The answer is the conversation's reply: saved, and the history of
    // the next turn, which continues the same agent.
    let saved = app.snapshot();
    assert_eq!(saved.messages.last().unwrap().content, reply.content);
    assert!(!saved.messages.last().unwrap().cancelled);
    let (_, effects) = send_agent(&mut app, "And lib?");
    assert!(!effects.contains(&Effect::ResetAgent));
    assert_eq!(sent(&effects).history.len(), 2);
}

#[test]
fn clear_starts_a_new_agent_session() {
    let mut app = agent_app(ColorMode::TrueColor);
    run_turn(&mut app, agent_events(EXPLORE, 8));
    type_text(&mut app, "/clear");
    press(&mut app, KeyCode::Enter);
    let (_, effects) = send_agent(&mut app, "Where is main?");
    assert!(effects.contains(&Effect::ResetAgent));
}

#[test]
fn ctrl_c_interrupts_the_agent_then_a_second_drops_the_turn() {
    let mut app = agent_app(ColorMode::TrueColor);
    let (turn, _) = send_agent(&mut app, "Where is main?");
    start(&mut app, turn, 8);
    assert_eq!(ctrl_c(&mut app), vec![Effect::Interrupt]);
    assert!(
        app.generating.is_some(),
        "the turn runs until the agent stops"
    );
    let status = view::status_text(&app).join(" | ");
    assert!(status.contains("interrupting"), "{status}");
    // The agent reports the turn as aborted.
    let events = agent_events(&[r#"{"tool": "read", "path": "config.toml"}"#], 8);
    let tool_events: Vec<_> = events
        .into_iter()
        .filter(|e| matches!(e, AgentEvent::ToolStarted { .. }))
        .collect();
    for e in tool_events {
        feed(&mut app, turn, AgentUpdate::Event(e));
    }
    let effects = feed(
        &mut app,
        turn,
        AgentUpdate::Event(AgentEvent::TurnCompleted {
            turn: 1,
            steps: 2,
            stop: StopReason::Aborted,
            answer: String::new(),
            usage: Default::default(),
            error: None,
        }),
    );
    assert!(effects.iter().any(|e| matches!(e, Effect::Save(_))));
    assert!(app.generating.is_none());
    let reply = app.messages.last().unwrap();
    assert!(reply.cancelled);
    assert_eq!(reply.stopped.as_deref(), Some("interrupted"));
    assert_eq!(reply.steps[0].label(), "read config.toml (interrupted)");
    assert!(app.hint.as_ref().unwrap().0.contains("interrupted"));
    let screen = draw(&app).backend().to_string();
    assert!(screen.contains("▌ lore · interrupted"), "{screen}");
    // A second Ctrl+C while the agent is still stopping drops the turn.
    let (_, _) = send_agent(&mut app, "Again");
    assert_eq!(ctrl_c(&mut app), vec![Effect::Interrupt]);
    let effects = ctrl_c(&mut app);
    assert!(effects.contains(&Effect::Cancel), "{effects:?}");
    assert!(app.generating.is_none() && app.agent_run.is_none());
}

#[test]
fn a_turn_without_an_answer_says_why() {
    let mut app = agent_app(ColorMode::TrueColor);
    let events = agent_events(
        &[
            r#"{"tool": "read", "path": "config.toml"}"#,
            r#"{"tool": "read", "path": "src/main.rs"}"#,
        ],
        2,
    );
    run_turn(&mut app, events);
    let reply = app.messages.last().unwrap();
    let why = StopReason::StepLimit.explain(8).unwrap();
    assert_eq!(reply.stopped.as_deref(), Some(why.as_str()));
    assert!(!reply.cancelled && reply.content.is_empty());
    let saved = app.snapshot();
    assert!(
        saved.messages.last().unwrap().cancelled,
        "no answer: not a reply"
    );
    // The failed turn is not history for the next one.
    let (_, effects) = send_agent(&mut app, "Go on");
    assert!(sent(&effects).history.is_empty());
}

#[test]
fn f3_expands_the_selected_replys_steps_and_folds_them_again() {
    let mut app = agent_app(ColorMode::TrueColor);
    press(&mut app, KeyCode::F(3));
    assert!(app.hint.as_ref().unwrap().0.contains("no reply"));
    run_turn(&mut app, agent_events(EXPLORE, 8));
    let idx = app.messages.len() - 1;
    press(&mut app, KeyCode::F(3));
    assert!(app.messages[idx].expanded);
    chord(&mut app, KeyCode::Char('o'), KeyModifiers::ALT);
    assert!(!app.messages[idx].expanded);
    // A reply without steps has nothing to expand.
    type_text(&mut app, "/mode chat");
    press(&mut app, KeyCode::Enter);
    exchange(&mut app, "hi", "hello");
    press(&mut app, KeyCode::F(3));
    assert!(app.hint.as_ref().unwrap().0.contains("no tool steps"));
}

#[test]
fn the_help_lists_the_expand_key() {
    assert!(keys::KEYS
        .iter()
        .any(|(k, what)| k.contains("F3") && what.contains("tool steps")));
    assert!(keys::completions("/mode a").contains(&"/mode agent".to_string()));
}

// ----- snapshots -----

#[test]
fn snapshot_agent_steps_explored_and_answer() {
    let mut app = agent_app(ColorMode::TrueColor);
    run_turn(&mut app, agent_events(EXPLORE, 8));
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn snapshot_agent_step_running_mid_turn() {
    let mut app = agent_app(ColorMode::TrueColor);
    let (turn, _) = send_agent(&mut app, "Where is main?");
    start(&mut app, turn, 8);
    let events = agent_events(EXPLORE, 8);
    // Up to the start of the grep: two reads done, one running.
    for e in events.into_iter().take(6) {
        feed(&mut app, turn, AgentUpdate::Event(e));
    }
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn snapshot_agent_expanded_step() {
    let mut app = agent_app(ColorMode::TrueColor);
    run_turn(
        &mut app,
        agent_events(
            &[
                r#"{"tool": "read", "path": "src/main.rs"}"#,
                r#"{"tool": "answer", "text": "In src/main.rs."}"#,
            ],
            8,
        ),
    );
    press(&mut app, KeyCode::F(3));
    insta::assert_snapshot!(draw(&app).backend());
}

#[test]
fn snapshot_agent_steps_no_color() {
    let mut app = agent_app(ColorMode::Mono);
    run_turn(&mut app, agent_events(EXPLORE, 8));
    let t = draw(&app);
    assert_no_colour(&t);
    insta::assert_snapshot!(t.backend());
}

#[test]
fn an_answers_search_citations_fill_the_sources_pane() {
    let mut app = agent_app(ColorMode::TrueColor);
    let cited = crate::grounding::Citation {
        n: 1,
        via: crate::grounding::Via::Marker,
        path: "help/refunds.md".into(),
        lines: (3, 5),
        heading: "Refunds".into(),
        snippet: "within 5 business days".into(),
    };
    let events = vec![
        AgentEvent::TurnStarted { turn: 1 },
        AgentEvent::Delta {
            text: "Within 5 business days [1].".into(),
        },
        AgentEvent::Sources {
            citations: vec![cited],
            valid: true,
            supported: true,
        },
        AgentEvent::TurnCompleted {
            turn: 1,
            steps: 2,
            stop: StopReason::Answered,
            answer: "Within 5 business days [1].".into(),
            usage: Default::default(),
            error: None,
        },
    ];
    run_turn(&mut app, events);
    let reply = app.messages.last().unwrap();
    assert_eq!(reply.sources.len(), 1);
    assert_eq!(reply.sources[0].label(), "help/refunds.md:L3-L5");
    assert!(reply.sources[0].cited);
}
