//! lore's own endpoints. Each runs the same task as its CLI command and
//! answers with the JSON that command's `--format json` prints.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::gate::{error, ApiError};
use super::State as Shared;
use crate::error::{AppError, Exit};
use crate::model::{ChatMessage, ModelError, Role, ToolCall, ToolSpec};
use crate::output::with_model;
use crate::progress::Silent;
use crate::tasks::classify::{
    self, labels_from_list, BatchOptions, Classifier, Examples, Item, Method,
};
use crate::tasks::{ask, NullSink, TaskError};

type ServeState = State<Arc<Shared>>;

fn app_error(e: AppError) -> ApiError {
    let status = match e.exit {
        Exit::Usage => StatusCode::BAD_REQUEST,
        Exit::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Exit::ModelLoad => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.message)
}

fn task_error(e: TaskError) -> ApiError {
    let status = match &e {
        TaskError::Input(_) => StatusCode::BAD_REQUEST,
        TaskError::Engine(ModelError::TooLarge { .. }) => StatusCode::PAYLOAD_TOO_LARGE,
        TaskError::Index(crate::index::IndexError::Missing { .. }) => StatusCode::NOT_FOUND,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.to_string())
}

/// 404 for an index that does not exist, before opening it (whose error
/// would be a usage error, 400).
fn missing_index(root: &crate::app::Root, name: &str) -> Option<Response> {
    (!root.index_available(name)).then(|| {
        let e = crate::index::IndexError::Missing { name: name.into() };
        error(StatusCode::NOT_FOUND, e.to_string())
    })
}

/// A body that is JSON but not the endpoint's shape: 400 naming the field.
fn parse<T: serde::de::DeserializeOwned>(body: Value) -> Result<T, ApiError> {
    serde_json::from_value(body).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the request does not fit this endpoint: {e}"),
        )
    })
}

pub(crate) async fn health(State(state): ServeState) -> Json<Value> {
    let info = state.model.info();
    Json(json!({
        "status": "ok",
        "engine": "lore",
        "version": env!("CARGO_PKG_VERSION"),
        "model": state.model_names[0],
        "device": info.device,
        "context_length": info.context_length,
        "native_tools": info.native_tools,
        "uptime_s": state.started.elapsed().as_secs(),
        "in_flight": state.gate.in_flight(),
        "queued": state.gate.queued(),
        "parallel": state.config.parallel,
        "max_queue": state.config.max_queue,
    }))
}

pub(crate) async fn models(State(state): ServeState) -> Json<Value> {
    Json(json!({
        "object": "list",
        "data": [{
            "id": state.model_names[0],
            "object": "model",
            "created": state.created_unix,
            "owned_by": "lore",
        }],
    }))
}

/// Messages in OpenAI's shape (what remote engines send) as lore's.
fn messages_from_wire(list: &[Value]) -> Result<Vec<ChatMessage>, String> {
    list.iter()
        .map(|m| {
            let role = match m["role"].as_str() {
                Some("system") | Some("developer") => Role::System,
                Some("user") => Role::User,
                Some("assistant") => Role::Assistant,
                Some("tool") => Role::Tool,
                other => return Err(format!("unknown message role {other:?}")),
            };
            let mut msg = ChatMessage::new(role, m["content"].as_str().unwrap_or(""));
            for call in m["tool_calls"].as_array().into_iter().flatten() {
                msg.tool_calls.push(ToolCall {
                    name: call["function"]["name"].as_str().unwrap_or("").into(),
                    arguments: call["function"]["arguments"].as_str().unwrap_or("").into(),
                });
            }
            Ok(msg)
        })
        .collect()
}

/// `{"text"}`: tokens of a plain text. `{"messages", "tools"?}`: the exact
/// prompt size after the chat template, as generation counts it.
pub(crate) async fn tokenize(State(state): ServeState, Json(body): Json<Value>) -> Response {
    let counted = if let Some(text) = body["text"].as_str() {
        state.model.count_text_tokens(text).await
    } else if let Some(list) = body["messages"].as_array() {
        let messages = match messages_from_wire(list) {
            Ok(m) => m,
            Err(e) => return error(StatusCode::BAD_REQUEST, e),
        };
        let tools: Vec<ToolSpec> = body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| ToolSpec {
                name: t["name"].as_str().unwrap_or("").into(),
                description: t["description"].as_str().unwrap_or("").into(),
                parameters: t["parameters"].clone(),
            })
            .collect();
        state.model.count_tokens_with_tools(&messages, &tools).await
    } else {
        return error(
            StatusCode::BAD_REQUEST,
            "give \"text\" (a string) or \"messages\" (a list)",
        );
    };
    match counted {
        Ok(n) => Json(json!({ "tokens": n })).into_response(),
        Err(e) => task_error(e.into()).into_response(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AskRequest {
    question: String,
    index: Option<String>,
    k: Option<u32>,
    strict: Option<bool>,
    max_tokens: Option<u32>,
    /// Text to answer from first, as piped stdin is for `lore ask`.
    document: Option<String>,
}

/// `lore ask` over an index: the answer with its checked citations.
pub(crate) async fn ask(State(state): ServeState, Json(body): Json<Value>) -> Response {
    let req: AskRequest = match parse(body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if req.question.trim().is_empty() {
        return error(StatusCode::BAD_REQUEST, "the question is empty");
    }
    let mut root = state.root.clone();
    let s = &mut root.settings.settings;
    if let Some(k) = req.k {
        s.retrieval.top_k = k;
    }
    if let Some(strict) = req.strict {
        s.grounding.strict = strict;
    }
    if let Some(n) = req.max_tokens {
        s.generation.max_tokens = n;
    }
    let name = req.index.unwrap_or_else(|| s.index.name.clone());
    if let Some(missing) = missing_index(&root, &name) {
        return missing;
    }
    let index = match root.open_index(&name, &Silent) {
        Ok(i) => i,
        Err(e) => return app_error(e).into_response(),
    };
    let task = match root.ask(Some(index)) {
        Ok(a) => a,
        Err(e) => return app_error(e).into_response(),
    };
    let question = ask::Question {
        text: req.question.trim(),
        document: req.document.as_deref().filter(|d| !d.trim().is_empty()),
        search_index: true,
    };
    let model = state.model.clone();
    let report = ask::run(&task, &question, async { Ok(model) }, &mut NullSink).await;
    let report = match report {
        Ok(r) => r,
        Err(e) => return task_error(e).into_response(),
    };
    let mut out = serde_json::to_value(&report).unwrap_or_default();
    if let Some(info) = &report.reply.model {
        out = with_model(info, out);
    }
    Json(out).into_response()
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ItemIn {
    Text(String),
    Row { id: Option<String>, text: String },
}

#[derive(Deserialize)]
struct ExampleIn {
    text: String,
    label: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassifyRequest {
    items: Vec<ItemIn>,
    labels: Vec<String>,
    #[serde(default)]
    examples: Vec<ExampleIn>,
    shots: Option<u32>,
    /// "model" (default) or "knn".
    method: Option<String>,
    #[serde(default = "yes")]
    calibrate: bool,
}

fn yes() -> bool {
    true
}

/// `lore classify`: one label of the set per item, with scores and what
/// decided it.
pub(crate) async fn classify(State(state): ServeState, Json(body): Json<Value>) -> Response {
    let req: ClassifyRequest = match parse(body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    // The batch's future is not `Send` (its stream borrows the items), so
    // it runs to completion on a blocking thread of the same runtime.
    let handle = tokio::runtime::Handle::current();
    let work = tokio::task::spawn_blocking(move || handle.block_on(classify_items(&state, req)));
    match work.await {
        Ok(Ok(v)) => Json(v).into_response(),
        Ok(Err(e)) => e.into_response(),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn classify_items(state: &Shared, req: ClassifyRequest) -> Result<Value, ApiError> {
    let bad = |m: String| ApiError::new(StatusCode::BAD_REQUEST, m);
    if req.items.is_empty() {
        return Err(bad("no items to classify".into()));
    }
    if let Some(l) = req.labels.iter().find(|l| l.contains(',')) {
        return Err(bad(format!("label {l:?} contains a comma")));
    }
    let labels = labels_from_list(&req.labels.join(",")).map_err(|e| bad(e.to_string()))?;
    let method = match req.method.as_deref() {
        None | Some("model") => Method::Model,
        Some("knn") => Method::Knn,
        Some(m) => return Err(bad(format!("unknown method {m:?}: model or knn"))),
    };
    let examples = if req.examples.is_empty() {
        None
    } else {
        let clean = |s: &str| s.replace(['\t', '\n', '\r'], " ");
        let tsv: String = req
            .examples
            .iter()
            .map(|e| format!("{}\t{}\n", clean(&e.label), clean(&e.text)))
            .collect();
        Some(Examples::from_tsv(&tsv, "request").map_err(task_error)?)
    };
    if method == Method::Knn && examples.is_none() {
        return Err(bad("method knn needs labelled examples".into()));
    }
    let items: Vec<Item> = req
        .items
        .into_iter()
        .enumerate()
        .map(|(i, it)| match it {
            ItemIn::Text(text) => Item {
                id: (i + 1).to_string(),
                text,
                gold: None,
            },
            ItemIn::Row { id, text } => Item {
                id: id.unwrap_or_else(|| (i + 1).to_string()),
                text,
                gold: None,
            },
        })
        .collect();
    let settings = &state.root.settings.settings;
    let template = state.root.template("classify").map_err(app_error)?;
    let mut classifier = Classifier {
        model: (method == Method::Model).then_some(state.model.as_ref()),
        template: &template,
        labels: &labels,
        examples: examples.as_ref(),
        k: req.shots.unwrap_or(settings.classify.shots) as usize,
        method,
        max_item_tokens: settings.classify.max_item_tokens.max(1) as usize,
        calibration: None,
    };
    let options = BatchOptions {
        concurrency: settings.classify.concurrency,
        calibrate: req.calibrate,
    };
    let batch = classify::classify_all(
        &mut classifier,
        &items,
        options,
        |_, _| {},
        |_| Ok::<(), ()>(()),
    )
    .await
    .map_err(|e| match e {
        classify::BatchError::Task(e) => task_error(e),
        classify::BatchError::Stopped(()) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "stopped")
        }
    })?;
    Ok(serde_json::to_value(&batch.results).unwrap_or_default())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchRequest {
    query: String,
    index: Option<String>,
    k: Option<usize>,
    /// lexical, dense, hybrid or auto.
    mode: Option<String>,
}

/// `lore index search`: the hits, without generation.
pub(crate) async fn search(State(state): ServeState, Json(body): Json<Value>) -> Response {
    let req: SearchRequest = match parse(body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let root = &state.root;
    let name = req
        .index
        .unwrap_or_else(|| root.settings.settings.index.name.clone());
    let mode = match req.mode.as_deref() {
        None => None,
        Some(m) => match crate::index::dense::Mode::parse(m) {
            Some(mode) => Some(mode),
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    format!("unknown mode {m:?}: lexical, dense, hybrid or auto"),
                )
            }
        },
    };
    if let Some(missing) = missing_index(root, &name) {
        return missing;
    }
    // As ask opens it: the sample knowledge base is made on first use.
    let idx = match root.open_index_as(&name, mode, &Silent) {
        Ok(i) => i,
        Err(e) => return app_error(e).into_response(),
    };
    let opts = crate::index::SearchOptions {
        limit: req
            .k
            .unwrap_or(root.settings.settings.retrieval.top_k as usize),
        ..crate::index::SearchOptions::default()
    };
    match idx.search(&req.query, &opts) {
        Ok(hits) => {
            let hits: Vec<Value> = hits.iter().map(crate::index::Hit::report_json).collect();
            Json(json!({"index": name, "query": req.query, "hits": hits})).into_response()
        }
        Err(e) => task_error(e.into()).into_response(),
    }
}
