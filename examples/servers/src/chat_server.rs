//! The chat server's routes: an OpenAI-compatible `POST /v1/chat/completions` and an
//! Anthropic-compatible `POST /v1/messages` backed by the simulated model, the demo page
//! at `/`, and resumable streams (`"resume": true`, `GET /v1/resume`; see [`resume`]).
//!
//! The tests include this file (and its modules) to run the server in-process.

mod messages;
pub mod model;
pub mod resume;

use crate::policy;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use tokenflush::policy::FlushPolicy;
use tokenflush::sse::{EncodeSseExt, Format, KeepAlive, OpenAiChat};
use tokenflush::TryFlushExt;

use model::{Generations, ModelError, Simulation};
use policy::PolicyConfig;

/// The page at `/`: three panes streaming the same answer under three policies.
const PAGE: &str = include_str!("chat_server/page.html");

/// The server's settings: what a request gets when it does not choose.
#[derive(Clone, Debug)]
pub struct Config {
    /// The flush policy of requests without a `"tokenflush"` field.
    pub policy: PolicyConfig,
    /// The model's speed for requests without a `"simulation"` field (each field of it
    /// overrides one of these).
    pub simulation: Simulation,
    /// Time without a frame after which a keep-alive comment goes out.
    pub keep_alive: Duration,
    /// Resumable streams, for requests that ask (`"resume": true`).
    pub resume: resume::Resume,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            policy: PolicyConfig::default(),
            simulation: Simulation::default(),
            keep_alive: Duration::from_secs(15),
            resume: resume::Resume::default(),
        }
    }
}

#[derive(Clone)]
struct AppState {
    config: Arc<Config>,
    generations: Arc<Generations>,
    next_id: Arc<AtomicU64>,
}

/// The routes, and the counter of the model's generations (how many run, how many were
/// abandoned by their readers).
pub fn app(config: Config) -> (Router, Arc<Generations>) {
    let generations = Arc::new(Generations::default());
    let state = AppState {
        config: Arc::new(config),
        generations: Arc::clone(&generations),
        next_id: Arc::new(AtomicU64::new(1)),
    };
    let router = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/messages", post(messages::messages))
        .route("/v1/resume", get(resume::resume_stream))
        .route("/v1/resume/drop", post(resume::drop_connections))
        .with_state(state);
    (router, generations)
}

/// The part of OpenAI's chat completion request the simulated model reads; other fields
/// (temperature, tools, …) are accepted and ignored.
#[derive(Debug, Deserialize)]
struct ChatRequest {
    #[serde(default = "default_model")]
    model: String,
    messages: Vec<Message>,
    #[serde(default)]
    stream: bool,
    max_tokens: Option<usize>,
    max_completion_tokens: Option<usize>,
    /// This server's extension: the flush policy for this request.
    tokenflush: Option<PolicyConfig>,
    /// This server's extension: the model's speed for this request.
    simulation: Option<serde_json::Map<String, Value>>,
    /// This server's extension: a resumable stream (see [`resume`]).
    #[serde(default)]
    resume: bool,
}

fn default_model() -> String {
    "tokenflush-sim".to_owned()
}

#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Value,
}

/// The text of a message's content: a string, or the text parts of an array of parts.
fn text_of(content: &Value) -> String {
    match content {
        Value::String(text) => text.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|part| part.get("text").and_then(Value::as_str))
            .collect(),
        _ => String::new(),
    }
}

/// An error response in OpenAI's shape, which the SDKs raise with its message.
pub(crate) fn api_error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body =
        json!({"error": {"message": message.into(), "type": kind, "param": null, "code": null}});
    (status, Json(body)).into_response()
}

fn invalid_request(message: impl Into<String>) -> Response {
    api_error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

async fn chat_completions(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: ChatRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return invalid_request(format!("invalid request body: {error}")),
    };
    let generation = match Generation::of(
        &state,
        &request.messages,
        request.tokenflush,
        request.simulation,
    ) {
        Ok(generation) => generation,
        Err(error) => return invalid_request(error),
    };

    let resumable = request.resume && request.stream;
    let id = if resumable {
        resume::random_id("chatcmpl-")
    } else {
        format!(
            "chatcmpl-{:06}",
            state.next_id.fetch_add(1, Ordering::Relaxed)
        )
    };
    let max_tokens = request.max_completion_tokens.or(request.max_tokens);
    let (tokens, cut) = model::truncate(
        model::tokenize(&model::answer(&generation.prompt)),
        max_tokens,
    );
    let completion_tokens = tokens.len();
    let finish_reason = if cut { "length" } else { "stop" };
    let tokens = model::generate(
        id.clone(),
        tokens,
        &generation.simulation,
        &state.generations,
    );
    eprintln!(
        "{id}: {} tokens at {} tokens/s, {}, {}",
        completion_tokens,
        generation.simulation.tokens_per_second,
        generation.policy_config,
        if request.stream { "streaming" } else { "whole" }
    );

    if request.stream {
        let format = OpenAiChat::new(id, request.model).with_finish_reason(finish_reason);
        if resumable {
            let meta = resume::openai_meta(&format);
            let chunks = resume::flushed(tokens, generation.policy);
            return resume::start(&state, &headers, chunks, meta, format).await;
        }
        return streamed(&state, tokens, generation.policy, format);
    }

    let text = match whole_text(tokens).await {
        Ok(text) => text,
        Err(error) => {
            return api_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "server_error",
                error.to_string(),
            )
        }
    };
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    let prompt_tokens = model::tokenize(&generation.prompt).len();
    Json(json!({
        "id": id,
        "object": "chat.completion",
        "created": created,
        "model": request.model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": text},
            "logprobs": null,
            "finish_reason": finish_reason,
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }))
    .into_response()
}

/// What a request of either API asks of the simulated model, checked.
struct Generation {
    /// The last user message's text.
    prompt: String,
    policy_config: PolicyConfig,
    policy: Box<dyn FlushPolicy + Send>,
    simulation: Simulation,
}

impl Generation {
    /// The prompt, flush policy and simulation of a request, or why they are invalid.
    fn of(
        state: &AppState,
        messages: &[Message],
        tokenflush: Option<PolicyConfig>,
        overrides: Option<serde_json::Map<String, Value>>,
    ) -> Result<Self, String> {
        let prompt = messages
            .iter()
            .rev()
            .find(|message| message.role == "user")
            .map(|message| text_of(&message.content))
            .ok_or("messages must hold a user message")?;
        let policy_config = tokenflush.unwrap_or(state.config.policy);
        let policy = policy_config
            .build()
            .map_err(|error| format!("tokenflush: {error}"))?;
        let simulation = simulation(&state.config.simulation, overrides)?;
        Ok(Self {
            prompt,
            policy_config,
            policy,
            simulation,
        })
    }
}

/// The tokens as an SSE response in `format`, through the request's flush policy, with the
/// server's keep-alive.
fn streamed<F>(
    state: &AppState,
    tokens: impl Stream<Item = Result<Bytes, ModelError>> + Send + 'static,
    policy: Box<dyn FlushPolicy + Send>,
    format: F,
) -> Response
where
    F: Format + Send + 'static,
{
    tokens
        .try_flush_with(policy)
        .encode_sse_as(format)
        .with_keep_alive(KeepAlive::new().with_interval(state.config.keep_alive))
        .into_response()
}

/// The whole text of `tokens` (byte pieces joined, then decoded), or the model's failure.
async fn whole_text(
    tokens: impl Stream<Item = Result<Bytes, ModelError>>,
) -> Result<String, ModelError> {
    let mut text = Vec::new();
    let mut tokens = std::pin::pin!(tokens);
    while let Some(token) = tokens.next().await {
        text.extend_from_slice(&token?);
    }
    Ok(String::from_utf8_lossy(&text).into_owned())
}

/// The server's simulation with the request's fields laid over it.
fn simulation(
    defaults: &Simulation,
    overrides: Option<serde_json::Map<String, Value>>,
) -> Result<Simulation, String> {
    let mut merged = serde_json::to_value(defaults).map_err(|error| error.to_string())?;
    for (key, value) in overrides.unwrap_or_default() {
        merged[key] = value;
    }
    let simulation: Simulation =
        serde_json::from_value(merged).map_err(|error| format!("simulation: {error}"))?;
    simulation.validate()?;
    Ok(simulation)
}
