use std::time::Duration;

use super::*;
use crate::model::scripted::ScriptedModel;

fn workspace() -> (tempfile::TempDir, Root) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("config.toml"), "max_retries = 5\n").unwrap();
    let big: String = (1..=3000)
        .map(|i| format!("row {i} of the data file\n"))
        .collect();
    std::fs::write(dir.path().join("src/big.txt"), big).unwrap();
    for i in 0..12 {
        std::fs::write(
            dir.path().join(format!("src/f{i}.rs")),
            format!("fn f{i}() {{}}\n"),
        )
        .unwrap();
    }
    let root = Root::new(dir.path()).unwrap();
    (dir, root)
}

fn config(max_steps: usize) -> Config {
    Config {
        max_steps,
        ..Config::for_model_file(0)
    }
}

async fn turn(agent: &mut Agent<'_>, text: &str) -> (StopReason, Vec<Event>) {
    let (_tx, mut rx) = watch::channel(false);
    let mut events = Vec::new();
    let stop = agent.turn(text, &mut rx, &mut |e| events.push(e)).await;
    (stop, events)
}

fn last(events: &[Event]) -> &Event {
    events.last().unwrap()
}

#[tokio::test]
async fn a_call_then_an_answer_ends_the_turn_answered() {
    let (_d, root) = workspace();
    let model = ScriptedModel::new(4000)
        .reply(r#"{"tool": "read", "path": "config.toml"}"#)
        .reply(r#"{"tool": "answer", "text": "5, from config.toml"}"#);
    let mut agent = Agent::new(&model, root, config(8));
    let (stop, events) = turn(&mut agent, "What is max_retries?").await;
    assert_eq!(stop, StopReason::Answered);
    assert!(matches!(&events[0], Event::TurnStarted { turn: 1 }));
    let Event::ToolCompleted {
        status,
        summary,
        output,
        ..
    } = &events[2]
    else {
        panic!("{events:?}")
    };
    assert_eq!(*status, ToolStatus::Completed);
    assert_eq!(summary, "read config.toml (1 lines)");
    assert_eq!(output, "Result of read(config.toml):\nL1: max_retries = 5");
    let Event::TurnCompleted { steps, answer, .. } = last(&events) else {
        panic!()
    };
    assert_eq!((*steps, answer.as_str()), (2, "5, from config.toml"));
    // The second step saw the result as a user message after the call.
    let sent = model.requests();
    let second = &sent[1].messages;
    assert_eq!(second[second.len() - 1].content, *output);
    assert_eq!(second[second.len() - 2].role, Role::Assistant);
}

#[tokio::test]
async fn every_step_is_constrained_to_the_tools_and_real_paths() {
    let (_d, root) = workspace();
    let model = ScriptedModel::new(4000).reply(r#"{"tool": "answer", "text": "hi"}"#);
    let mut agent = Agent::new(&model, root, config(8));
    turn(&mut agent, "hello").await;
    let Some(Constraint::JsonSchema(schema)) = &model.requests()[0].params.constraint else {
        panic!("no schema")
    };
    let branches = schema["anyOf"].as_array().unwrap();
    let names: Vec<&str> = branches
        .iter()
        .map(|b| b["properties"]["tool"]["enum"][0].as_str().unwrap())
        .collect();
    assert_eq!(names, ["list", "read", "grep", "answer"]);
    let paths = branches[1]["properties"]["path"]["enum"]
        .as_array()
        .unwrap();
    assert!(paths.contains(&json!("config.toml")));
    assert!(paths.contains(&json!("src/f3.rs")));
    assert!(branches
        .iter()
        .all(|b| b["additionalProperties"] == json!(false)));
    assert_eq!(branches[1]["required"], json!(["tool", "path"]));
}

#[tokio::test]
async fn the_turn_stops_at_the_step_limit() {
    let (_d, root) = workspace();
    let mut model = ScriptedModel::new(100_000);
    for i in 0..9 {
        model = model.reply(format!(r#"{{"tool": "read", "path": "src/f{i}.rs"}}"#));
    }
    let mut agent = Agent::new(&model, root, config(8));
    let (stop, events) = turn(&mut agent, "look around").await;
    assert_eq!(stop, StopReason::StepLimit);
    assert!(matches!(
        last(&events),
        Event::TurnCompleted {
            steps: 8,
            stop: StopReason::StepLimit,
            ..
        }
    ));
    assert_eq!(model.requests().len(), 8);
}

#[tokio::test]
async fn a_repeat_gets_the_earlier_result_and_the_third_stops_the_turn() {
    let (_d, root) = workspace();
    let call = r#"{"tool": "grep", "pattern": "max_retries"}"#;
    let model = ScriptedModel::new(100_000)
        .reply(call)
        .reply(call)
        .reply(call);
    let mut agent = Agent::new(&model, root, config(8));
    let (stop, events) = turn(&mut agent, "find it").await;
    assert_eq!(stop, StopReason::LoopDetected);
    let statuses: Vec<ToolStatus> = events
        .iter()
        .filter_map(|e| match e {
            Event::ToolCompleted { status, .. } => Some(*status),
            _ => None,
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ToolStatus::Completed,
            ToolStatus::Repeated,
            ToolStatus::Repeated
        ]
    );
    let third = &model.requests()[2].messages;
    let note = &third.last().unwrap().content;
    assert!(note.starts_with("Result of grep(max_retries):\nconfig.toml:1: max_retries = 5"));
    assert!(note.ends_with(REPEAT_NOTE));
}

#[tokio::test]
async fn big_output_is_cut_to_the_budget_with_head_and_tail() {
    let (_d, root) = workspace();
    let model = ScriptedModel::new(2048)
        .reply(r#"{"tool": "grep", "pattern": "row"}"#)
        .reply(r#"{"tool": "answer", "text": "many"}"#);
    let mut agent = Agent::new(&model, root, config(8));
    let (_, events) = turn(&mut agent, "rows?").await;
    let Event::ToolCompleted { output, .. } = &events[2] else {
        panic!()
    };
    assert!(
        output.chars().count() <= truncate::budget(2048) + 100,
        "{}",
        output.len()
    );
    assert!(output.contains("lines truncated"), "{output}");
    assert!(output.contains("…2950 more matches"));
}

#[tokio::test]
async fn shrinking_keeps_the_system_prompt_and_the_request() {
    let (_d, root) = workspace();
    let mut model = ScriptedModel::new(1200);
    for i in 0..6 {
        model = model.reply(format!(
            r#"{{"tool": "read", "path": "src/big.txt", "offset": {}}}"#,
            1 + i * 200
        ));
    }
    let model = model.reply(r#"{"tool": "answer", "text": "done"}"#);
    let mut agent = Agent::new(&model, root, config(8));
    let (stop, _) = turn(&mut agent, "Summarise src/big.txt please").await;
    assert_eq!(stop, StopReason::Answered);
    for request in model.requests() {
        let m = &request.messages;
        assert_eq!(m[0].role, Role::System);
        assert!(m
            .iter()
            .any(|x| x.content == "Summarise src/big.txt please"));
        let words: usize = m
            .iter()
            .map(|x| x.content.split_whitespace().count() + 2)
            .sum();
        assert!(words <= 1200 * 8 / 10 + 1, "{words} word-tokens sent");
    }
    let final_prompt = &model.requests()[6].messages;
    assert!(final_prompt
        .iter()
        .any(|x| x.content.ends_with(": output elided]")));
}

#[tokio::test]
async fn an_interrupt_ends_the_turn_aborted_and_the_next_turn_is_told() {
    let (_d, root) = workspace();
    let model = ScriptedModel::new(4000)
        .reply(r#"{"tool": "read", "path": "config.toml"}"#)
        .stall_after(1);
    let mut agent = Agent::new(&model, root, config(8));
    let (tx, mut rx) = watch::channel(false);
    let mut events = Vec::new();
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        tx.send(true).unwrap();
        tx
    });
    let stop = tokio::time::timeout(
        Duration::from_secs(10),
        agent.turn("read it", &mut rx, &mut |e| events.push(e)),
    )
    .await
    .expect("an interrupt must end the turn");
    assert_eq!(stop, StopReason::Aborted);
    assert!(matches!(
        last(&events),
        Event::TurnCompleted {
            stop: StopReason::Aborted,
            ..
        }
    ));
    let tx = stopper.await.unwrap();
    tx.send(false).unwrap();
    let model2 = ScriptedModel::new(4000).reply(r#"{"tool": "answer", "text": "ok"}"#);
    agent.model = &model2;
    let stop = agent.turn("again", &mut rx, &mut |_| {}).await;
    assert_eq!(stop, StopReason::Answered);
    let sent = &model2.requests()[0].messages;
    assert_eq!(
        sent.last().unwrap().content,
        format!("{INTERRUPTED_NOTE}\n\nagain")
    );
}

#[tokio::test]
async fn a_failed_tool_tells_the_model_why() {
    let (_d, root) = workspace();
    let model = ScriptedModel::new(4000)
        .reply(r#"{"tool": "list", "path": "../.."}"#)
        .reply(r#"{"tool": "answer", "text": "cannot"}"#);
    let mut agent = Agent::new(&model, root, config(8));
    let (_, events) = turn(&mut agent, "what is above?").await;
    let Event::ToolCompleted { status, output, .. } = &events[2] else {
        panic!()
    };
    assert_eq!(*status, ToolStatus::Failed);
    assert_eq!(
        output,
        "Result of list(../..):\nerror: ../..: leaves the workspace root"
    );
}

#[test]
fn events_serialise_with_dotted_type_names() {
    let e = Event::TurnCompleted {
        turn: 1,
        steps: 2,
        stop: StopReason::StepLimit,
        answer: String::new(),
        usage: TurnUsage::default(),
        error: None,
    };
    let v = serde_json::to_value(&e).unwrap();
    assert_eq!(v["type"], "turn.completed");
    assert_eq!(v["stop"], "step_limit");
}

#[tokio::test]
async fn a_rollout_truncated_mid_line_resumes_to_the_same_transcript() {
    let (_d, root) = workspace();
    let logs = tempfile::tempdir().unwrap();
    let model = ScriptedModel::new(4000)
        .reply(r#"{"tool": "read", "path": "config.toml"}"#)
        .reply(r#"{"tool": "answer", "text": "5"}"#);
    let mut agent = Agent::new(&model, root.clone(), config(8));
    let meta = rollout::Meta {
        id: "s1".into(),
        time: "2026-12-02T12:00:00Z".into(),
        root: root.path().display().to_string(),
        model: "scripted".into(),
        context: 4000,
        tool_format: "constrained".into(),
        mode: "read-only".into(),
        lore_version: env!("CARGO_PKG_VERSION").into(),
    };
    agent.record(rollout::Writer::create(logs.path(), &meta).unwrap());
    turn(&mut agent, "What is max_retries?").await;
    let before = agent.messages();
    let path = logs.path().join("s1.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 5, "{text}");
    // A crash mid-write leaves half a line behind.
    std::fs::write(&path, format!("{text}{{\"type\":\"item\",\"item\":{{\"ki")).unwrap();

    let model2 = ScriptedModel::new(4000).reply(r#"{"tool": "answer", "text": "still 5"}"#);
    let mut resumed = Agent::new(&model2, root, config(8));
    assert_eq!(resumed.resume(&path).unwrap(), meta);
    assert_eq!(resumed.messages(), before);
    let (_, events) = turn(&mut resumed, "Sure?").await;
    assert!(matches!(
        last(&events),
        Event::TurnCompleted { turn: 2, .. }
    ));
    // The torn line was cut off and the new items follow the old ones.
    let (m, items) = rollout::read(&path).unwrap();
    assert_eq!(m.id, "s1");
    assert_eq!(items.len(), 6);
    assert!(resumed.log_error().is_none());
}
