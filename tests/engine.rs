//! The engine API with the real model: cancellation and reuse.

mod common;

use lore::engine::{spec, Engine, LoadOptions};
use lore::model::{ChatMessage, Event, GenParams, LanguageModel, Role};

async fn load() -> Engine {
    // Loads the Q4_1 original directly: no dependence on the Q8_0 file
    // that other tests may be creating at the same moment.
    let dir = common::models_dir();
    let spec = spec::resolve("SmolLM2-135M-Instruct.Q4_1.gguf", &dir, "").unwrap();
    Engine::load(
        &spec,
        &LoadOptions {
            force_cpu: true,
            ..Default::default()
        },
    )
    .await
    .unwrap()
}

fn ask(text: &str) -> Vec<ChatMessage> {
    vec![
        ChatMessage::new(
            Role::System,
            "You are a helpful assistant. Answer concisely.",
        ),
        ChatMessage::new(Role::User, text),
    ]
}

async fn collect(engine: &Engine, text: &str, max_tokens: usize) -> (String, String) {
    let params = GenParams {
        max_tokens,
        ..GenParams::default()
    };
    let mut generation = engine.generate(&ask(text), &params).await.unwrap();
    let mut out = String::new();
    while let Some(event) = generation.next().await {
        match event {
            Event::Delta(d) => out.push_str(&d),
            Event::Finished(f) => return (out, f.finish_reason),
            Event::Error(e) => panic!("engine error: {e}"),
            _ => {}
        }
    }
    panic!("no Finished event");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_stream_leaves_the_model_usable() {
    let engine = load().await;
    let params = GenParams {
        max_tokens: 300,
        ..GenParams::default()
    };
    let mut generation = engine
        .generate(&ask("Count from 1 to 200."), &params)
        .await
        .unwrap();
    let mut deltas = 0;
    while let Some(Event::Delta(_)) = generation.next().await {
        deltas += 1;
        if deltas == 3 {
            break;
        }
    }
    assert_eq!(deltas, 3);
    drop(generation);

    let (text, reason) = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        collect(&engine, "What is the capital of France?", 12),
    )
    .await
    .expect("second request finished");
    assert!(text.contains("Paris"), "{text:?}");
    assert!(reason == "stop" || reason == "length");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_counts_are_exact_and_greedy_is_deterministic() {
    let engine = load().await;
    assert_eq!(engine.info().context_length, 8192);
    let n = engine.count_tokens(&ask("Hello")).await.unwrap();
    let params = GenParams {
        max_tokens: 4,
        ..GenParams::default()
    };
    let mut generation = engine.generate(&ask("Hello"), &params).await.unwrap();
    let mut usage = None;
    while let Some(e) = generation.next().await {
        if let Event::Finished(f) = e {
            usage = Some(f.usage);
        }
    }
    assert_eq!(usage.unwrap().prompt_tokens, n);
    assert!(engine.count_text_tokens("hello world").await.unwrap() >= 2);

    let a = collect(&engine, "Name a colour.", 8).await.0;
    let b = collect(&engine, "Name a colour.", 8).await.0;
    assert_eq!(a, b);
}
