use std::time::Duration;

use super::*;
use crate::agent::protocol::ToolStatus;
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

pub(super) async fn turn(agent: &mut Agent, text: &str) -> (StopReason, Vec<Event>) {
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
    let model = std::sync::Arc::new(model);
    let mut agent = Agent::new(model.clone(), root, config(8));
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
    let model = ScriptedModel::new(4000)
        .reply(r#"{"tool": "list", "path": "."}"#)
        .reply(r#"{"tool": "answer", "text": "hi"}"#);
    let model = std::sync::Arc::new(model);
    let mut agent = Agent::new(model.clone(), root, config(8));
    turn(&mut agent, "hello").await;
    let Some(Constraint::JsonSchema(schema)) = &model.requests()[0].params.constraint else {
        panic!("no schema")
    };
    let branches = schema["anyOf"].as_array().unwrap();
    let names: Vec<&str> = branches
        .iter()
        .map(|b| b["properties"]["tool"]["enum"][0].as_str().unwrap())
        .collect();
    // The first step must look; later ones may answer.
    assert_eq!(names, ["list", "read", "grep"]);
    let Some(Constraint::JsonSchema(later)) = &model.requests()[1].params.constraint else {
        panic!("the second step is not constrained")
    };
    assert_eq!(later["anyOf"].as_array().unwrap().len(), 4);
    assert_eq!(later["anyOf"][3]["properties"]["tool"]["enum"][0], "answer");
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
    let model = std::sync::Arc::new(model);
    let mut agent = Agent::new(model.clone(), root, config(8));
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
    let model = std::sync::Arc::new(model);
    let mut agent = Agent::new(model.clone(), root, config(8));
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
    let model = std::sync::Arc::new(model);
    let mut agent = Agent::new(model.clone(), root, config(8));
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
    let model = std::sync::Arc::new(model);
    let mut agent = Agent::new(model.clone(), root, config(8));
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
    let model = std::sync::Arc::new(model);
    let mut agent = Agent::new(model.clone(), root, config(8));
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
    let model2 =
        std::sync::Arc::new(ScriptedModel::new(4000).reply(r#"{"tool": "answer", "text": "ok"}"#));
    agent.model = model2.clone();
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
    let model = std::sync::Arc::new(model);
    let mut agent = Agent::new(model.clone(), root, config(8));
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
    let model = std::sync::Arc::new(model);
    let mut agent = Agent::new(model.clone(), root.clone(), config(8));
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
    let mut resumed = Agent::new(std::sync::Arc::new(model2), root, config(8));
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

fn native(max_steps: usize) -> Config {
    Config {
        tool_format: ToolFormat::Native,
        ..config(max_steps)
    }
}

#[tokio::test]
async fn native_calls_go_through_the_template_and_results_come_back_as_tool_messages() {
    let (_d, root) = workspace();
    let model = std::sync::Arc::new(
        ScriptedModel::new(4000)
            .reply(
                r#"<tool_call>{"name": "read", "arguments": {"path": "config.toml"}}</tool_call>"#,
            )
            .reply("max_retries is 5 (config.toml)."),
    );
    let mut agent = Agent::new(model.clone(), root, native(8));
    let (stop, events) = turn(&mut agent, "What is max_retries?").await;
    assert_eq!(stop, StopReason::Answered);
    let Event::ToolStarted { tool, args, .. } = &events[1] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (tool.as_str(), &args["path"]),
        ("read", &json!("config.toml"))
    );
    let Event::TurnCompleted { answer, steps, .. } = last(&events) else {
        panic!()
    };
    assert_eq!(
        (answer.as_str(), *steps),
        ("max_retries is 5 (config.toml).", 2)
    );
    let sent = model.requests();
    // Native steps offer the tools and are not constrained.
    let names: Vec<&str> = sent[0]
        .params
        .tools
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(names, ["list", "read", "grep"]);
    assert!(sent[0].params.constraint.is_none());
    assert!(!sent[0].messages[0]
        .content
        .contains("exactly one JSON object"));
    let second = &sent[1].messages;
    let call = &second[second.len() - 2];
    assert_eq!(call.role, Role::Assistant);
    assert_eq!(call.tool_calls[0].name, "read");
    assert_eq!(call.tool_calls[0].arguments, r#"{"path":"config.toml"}"#);
    let result = &second[second.len() - 1];
    assert_eq!(result.role, Role::Tool);
    assert!(
        result.content.ends_with("L1: max_retries = 5"),
        "{}",
        result.content
    );
}

#[tokio::test]
async fn an_invalid_native_call_is_reported_and_the_model_may_retry() {
    let (_d, root) = workspace();
    let model = std::sync::Arc::new(
        ScriptedModel::new(4000)
            .reply(
                r#"<tool_call>{"name": "cat", "arguments": {"path": "config.toml"}}</tool_call>"#,
            )
            .reply(
                r#"<tool_call>{"name": "read", "arguments": {"path": "config.toml"}}</tool_call>"#,
            )
            .reply("5"),
    );
    let mut agent = Agent::new(model.clone(), root, native(8));
    let (stop, events) = turn(&mut agent, "max_retries?").await;
    assert_eq!(stop, StopReason::Answered);
    let statuses: Vec<ToolStatus> = events
        .iter()
        .filter_map(|e| match e {
            Event::ToolCompleted { status, .. } => Some(*status),
            _ => None,
        })
        .collect();
    assert_eq!(statuses, [ToolStatus::Invalid, ToolStatus::Completed]);
    let second = &model.requests()[1].messages;
    let told = &second[second.len() - 1];
    assert!(
        told.content.contains("no tool named \"cat\""),
        "{}",
        told.content
    );
}

#[test]
fn the_format_follows_the_template_unless_forced() {
    assert_eq!(ToolChoiceSetting::Auto.resolve(true), ToolFormat::Native);
    assert_eq!(
        ToolChoiceSetting::Auto.resolve(false),
        ToolFormat::Constrained
    );
    assert_eq!(
        ToolChoiceSetting::Constrained.resolve(true),
        ToolFormat::Constrained
    );
    assert_eq!(ToolChoiceSetting::Native.resolve(false), ToolFormat::Native);
}

#[tokio::test]
async fn search_hits_are_numbered_and_the_answer_citations_checked() {
    let (_d, root) = workspace();
    let model = std::sync::Arc::new(
        ScriptedModel::new(4000)
            .reply(r#"{"tool": "search", "query": "return an item"}"#)
            .reply(r#"{"tool": "search", "query": "parcels tracking"}"#)
            .reply(
                r#"{"tool": "answer", "text": "Within 30 days of delivery [1]; see also [9]."}"#,
            ),
    );
    let agent = Agent::new(model.clone(), root, config(8));
    let mut agent = agent.with_search(crate::tasks::testkit::retrieval());
    let (stop, events) = turn(&mut agent, "How long do I have to return an item?").await;
    assert_eq!(stop, StopReason::Answered);
    let outputs: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::ToolCompleted { output, .. } => Some(output.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        outputs[0].contains("[1] returns.md:L1-L1"),
        "{}",
        outputs[0]
    );
    // Numbers run on from the first search (one hit).
    assert!(!outputs[0].contains("[2]"), "{}", outputs[0]);
    assert!(
        outputs[1].contains("[2] shipping.md:L1-L1"),
        "{}",
        outputs[1]
    );
    assert!(events.iter().any(
        |e| matches!(e, Event::Warning { message } if message.contains("no search returned"))
    ));
    let Some(Event::Sources {
        citations, valid, ..
    }) = events.iter().find(|e| matches!(e, Event::Sources { .. }))
    else {
        panic!("{events:?}")
    };
    assert!(!valid);
    assert_eq!(citations.len(), 1);
    assert_eq!(citations[0].path, "returns.md");
    // The tool is offered in the schema and named in the prompt.
    let first = &model.requests()[0];
    assert!(first.messages[0].content.contains("- search:"));
    let Some(Constraint::JsonSchema(schema)) = &first.params.constraint else {
        panic!()
    };
    assert!(
        schema.to_string().contains(r#""enum":["search"]"#),
        "{schema}"
    );
}

#[tokio::test]
async fn without_an_index_there_is_no_search_and_no_sources() {
    let (_d, root) = workspace();
    let model = std::sync::Arc::new(
        ScriptedModel::new(4000).reply(r#"{"tool": "answer", "text": "hi [1]"}"#),
    );
    let mut retrieval = crate::tasks::testkit::retrieval();
    retrieval.index = None;
    let mut agent = Agent::new(model.clone(), root, config(8)).with_search(retrieval);
    let (_, events) = turn(&mut agent, "hello").await;
    assert!(!events.iter().any(|e| matches!(e, Event::Sources { .. })));
    assert!(!model.requests()[0].messages[0]
        .content
        .contains("- search:"));
}
