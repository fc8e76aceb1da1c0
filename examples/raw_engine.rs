//! The baseline of `scripts/bench-e2e.sh`: a minimal mistral.rs program that
//! loads a GGUF file, streams one greedy reply and prints its timings as
//! JSON, measured the same way lore measures them.
//!
//! cargo run --example raw_engine -- MODEL.gguf "PROMPT" MAX_TOKENS

use std::time::Instant;

use mistralrs::{GgufModelBuilder, RequestBuilder, Response, TextMessageRole, TokenSource};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, model, prompt, max_tokens] = args.as_slice() else {
        anyhow::bail!("usage: raw_engine MODEL.gguf PROMPT MAX_TOKENS");
    };
    let max_tokens: usize = max_tokens.parse()?;
    let path = std::path::Path::new(model);
    let dir = path
        .parent()
        .map(|p| p.display().to_string())
        .unwrap_or(".".into());
    let file = path.file_name().unwrap().to_string_lossy().into_owned();

    let load_start = Instant::now();
    let model = GgufModelBuilder::new(dir, vec![file])
        .with_token_source(TokenSource::None)
        .build()
        .await?;
    let load_s = load_start.elapsed().as_secs_f64();

    let request = RequestBuilder::new()
        .add_message(TextMessageRole::User, prompt)
        .set_sampler_max_len(max_tokens);
    let started = Instant::now();
    let mut first = None;
    let mut text = String::new();
    let mut usage = None;
    let mut stream = model.stream_chat_request(request).await?;
    while let Some(response) = stream.next().await {
        if let Response::Chunk(chunk) = response {
            first.get_or_insert_with(Instant::now);
            for choice in &chunk.choices {
                text.push_str(choice.delta.content.as_deref().unwrap_or(""));
            }
            if let Some(u) = chunk.usage {
                usage = Some((u.prompt_tokens, u.completion_tokens));
            }
            if chunk.choices.iter().any(|c| c.finish_reason.is_some()) {
                break;
            }
        }
    }
    let end = Instant::now();
    let first = first.unwrap_or(end);
    let (prompt_tokens, completion_tokens) = usage.unwrap_or((0, 0));
    let ttft = first.duration_since(started).as_secs_f64();
    let after_first = end.duration_since(first).as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "text": text,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
            "timings": {
                "load_s": load_s,
                "time_to_first_token_s": ttft,
                "prompt_tokens_per_s": prompt_tokens as f64 / ttft.max(1e-9),
                "generated_tokens_per_s": completion_tokens.saturating_sub(1) as f64 / after_first.max(1e-9),
            }
        })
    );
    Ok(())
}
