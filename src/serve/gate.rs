//! What every request passes before a handler sees it, in this order: the
//! request log, the route allow-list, the API key, the body limit and JSON
//! check (and the `model` name of OpenAI requests), and for generation the
//! bounded queue to the engine.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use subtle::ConstantTimeEq;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::State as Shared;
use crate::engine::serve::OPENAI_PATHS;

/// The routes served; mistral.rs's others (unloading the model, ISQ,
/// images, speech) answer 404.
const ROUTES: [&str; 8] = [
    "/health",
    "/v1/models",
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/lore/ask",
    "/v1/lore/classify",
    "/v1/lore/search",
    "/v1/lore/tokenize",
];

/// Routes that run the model, and so wait their turn for it.
const GENERATION: [&str; 4] = [
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/lore/ask",
    "/v1/lore/classify",
];

/// Seconds a client told 503 is asked to wait.
const RETRY_AFTER_S: &str = "1";

/// Admission to the engine: `parallel` requests run, `max_queue` more
/// wait, the rest are turned away.
pub(crate) struct Gate {
    slots: Arc<Semaphore>,
    limit: usize,
    admitted: AtomicUsize,
    running: AtomicUsize,
}

impl Gate {
    pub fn new(parallel: usize, max_queue: usize) -> Gate {
        Gate {
            slots: Arc::new(Semaphore::new(parallel)),
            limit: parallel + max_queue,
            admitted: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
        }
    }

    /// Generation requests admitted and not yet answered in full.
    pub fn in_flight(&self) -> usize {
        self.admitted.load(Ordering::SeqCst)
    }

    /// Of those, the ones waiting for a slot.
    pub fn queued(&self) -> usize {
        self.in_flight()
            .saturating_sub(self.running.load(Ordering::SeqCst))
    }
}

/// A request's place in the gate, given back when it is dropped: when its
/// response body ends, or when the client leaves.
struct Ticket {
    state: Arc<Shared>,
    running: bool,
    _slot: Option<OwnedSemaphorePermit>,
}

impl Ticket {
    fn admit(state: &Arc<Shared>) -> Option<Ticket> {
        let gate = &state.gate;
        if gate.admitted.fetch_add(1, Ordering::SeqCst) >= gate.limit {
            gate.admitted.fetch_sub(1, Ordering::SeqCst);
            return None;
        }
        Some(Ticket {
            state: state.clone(),
            running: false,
            _slot: None,
        })
    }

    async fn wait_for_slot(&mut self) {
        let slots = self.state.gate.slots.clone();
        // The semaphore is never closed.
        if let Ok(permit) = slots.acquire_owned().await {
            self._slot = Some(permit);
            self.running = true;
            self.state.gate.running.fetch_add(1, Ordering::SeqCst);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let gate = &self.state.gate;
        if self.running {
            gate.running.fetch_sub(1, Ordering::SeqCst);
        }
        gate.admitted.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One line on stderr per request, written when its response has been
/// sent in full (or the client left): method, path, status, tokens, time.
struct RequestLog {
    method: Method,
    path: String,
    status: u16,
    started: Instant,
    queued: Duration,
    tokens: Option<u64>,
    verbose: bool,
}

impl RequestLog {
    /// The last `"completion_tokens":N` a response carries (the usage of
    /// OpenAI replies and stream ends, and of lore's reports).
    fn scan(&mut self, bytes: &[u8]) {
        const KEY: &[u8] = b"\"completion_tokens\":";
        let mut rest = bytes;
        while let Some(at) = rest.windows(KEY.len()).position(|w| w == KEY) {
            rest = &rest[at + KEY.len()..];
            let digits: Vec<u8> = rest
                .iter()
                .copied()
                .skip_while(|b| *b == b' ')
                .take_while(u8::is_ascii_digit)
                .collect();
            if let Ok(n) = std::str::from_utf8(&digits).unwrap_or("").parse() {
                self.tokens = Some(n);
            }
        }
    }
}

impl Drop for RequestLog {
    fn drop(&mut self) {
        let tokens = self
            .tokens
            .map_or(String::new(), |n| format!(" {n} tokens"));
        let queued = if self.verbose {
            format!(" (queued {} ms)", self.queued.as_millis())
        } else {
            String::new()
        };
        eprintln!(
            "lore: {} {} {}{tokens} {} ms{queued}",
            self.method,
            self.path,
            self.status,
            self.started.elapsed().as_millis()
        );
    }
}

/// A refusal: status and message, sent as an error in OpenAI's shape.
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = match self.status.as_u16() {
            401 => "authentication_error",
            404 => "not_found_error",
            413 | 400 | 422 => "invalid_request_error",
            503 => "overloaded_error",
            _ => "server_error",
        };
        let body = serde_json::json!({"error": {
            "message": self.message, "type": kind, "code": self.status.as_u16()}});
        let mut response = (self.status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match self.status {
            StatusCode::UNAUTHORIZED => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static(RETRY_AFTER_S));
            }
            _ => {}
        }
        response
    }
}

/// An error response in OpenAI's shape.
pub(crate) fn error(status: StatusCode, message: impl Into<String>) -> Response {
    ApiError::new(status, message).into_response()
}

pub(crate) async fn gate(State(state): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let mut log = RequestLog {
        method: req.method().clone(),
        path: req.uri().path().to_string(),
        status: 0,
        started: Instant::now(),
        queued: Duration::ZERO,
        tokens: None,
        verbose: state.config.verbose,
    };
    let (response, ticket) = match screen(&state, req).await {
        Err(refused) => (refused.into_response(), None),
        Ok(req) if GENERATION.contains(&log.path.as_str()) => match Ticket::admit(&state) {
            None => {
                let busy = error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "the server is busy: {} request(s) in progress or queued (serve.max_queue); retry shortly",
                        state.gate.in_flight()
                    ),
                );
                (busy, None)
            }
            Some(mut ticket) => {
                // A client that leaves while queued drops this future, and
                // with it the ticket.
                ticket.wait_for_slot().await;
                log.queued = log.started.elapsed();
                (next.run(req).await, Some(ticket))
            }
        },
        Ok(req) => (next.run(req).await, None),
    };
    log.status = response.status().as_u16();
    let (parts, body) = response.into_parts();
    let body = body.into_data_stream().map(move |chunk| {
        let _held = &ticket;
        if let Ok(bytes) = &chunk {
            log.scan(bytes);
        }
        chunk
    });
    Response::from_parts(parts, Body::from_stream(body))
}

/// The checks before admission; a refusal is the response to send.
async fn screen(state: &Shared, req: Request) -> Result<Request, ApiError> {
    let path = req.uri().path().to_string();
    if !ROUTES.contains(&path.as_str()) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no such endpoint: {path}"),
        ));
    }
    if let Some(key) = &state.config.api_key {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(given.as_bytes().ct_eq(key.as_bytes())) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or wrong API key: send Authorization: Bearer KEY",
            ));
        }
    }
    if req.method() != Method::POST {
        return Ok(req);
    }
    let limit = state.config.max_body;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {limit} bytes (serve.max_body_kb)"),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let (mut parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;
    let mut json: serde_json::Value = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("the request body is not valid JSON: {e}"),
        )
    })?;
    if !json.is_object() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "the request body must be a JSON object",
        ));
    }
    let bytes = if OPENAI_PATHS.contains(&path.as_str()) {
        served_model(state, &mut json)?;
        Bytes::from(serde_json::to_vec(&json).unwrap_or_default())
    } else {
        bytes
    };
    // The body is now known to be JSON, whatever the client called it.
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    parts.headers.remove(header::CONTENT_LENGTH);
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Accepts the `model` of an OpenAI request when it names the loaded model
/// by any of its names, and hands it on as mistral.rs's "default".
fn served_model(state: &Shared, json: &mut serde_json::Value) -> Result<(), ApiError> {
    let asked = match &json["model"] {
        serde_json::Value::Null => return Ok(()),
        serde_json::Value::String(s) => s.clone(),
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "`model` must be a string",
            ))
        }
    };
    if !state.model_names.contains(&asked) {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!(
                "the model {asked:?} is not served here; this server serves {:?} (GET /v1/models)",
                state.model_names[0]
            ),
        ));
    }
    json["model"] = "default".into();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_finds_the_last_token_count() {
        let mut log = RequestLog {
            method: Method::POST,
            path: "/x".into(),
            status: 200,
            started: Instant::now(),
            queued: Duration::ZERO,
            tokens: None,
            verbose: false,
        };
        log.scan(br#"data: {"usage":{"prompt_tokens":5,"completion_tokens": 12}}"#);
        assert_eq!(log.tokens, Some(12));
        log.scan(b"data: [DONE]");
        assert_eq!(log.tokens, Some(12));
        log.scan(br#"{"completion_tokens":3},{"completion_tokens":4}"#);
        assert_eq!(log.tokens, Some(4));
    }

    #[test]
    fn errors_have_openais_shape() {
        let r = error(StatusCode::SERVICE_UNAVAILABLE, "busy");
        assert_eq!(r.status(), 503);
    }
}
