//! The chat server's routes, backed by the simulated model: an OpenAI-compatible
//! `POST /v1/chat/completions` and `POST /v1/responses`, an Anthropic-compatible
//! `POST /v1/messages`, the demo page at `/`, and resumable streams (`"resume": true`,
//! `GET /v1/resume`; see [`resume`]).
//!
//! Every route streams typed items ([`tokenflush::llm::Item`]) through the request's flush
//! policy into its API's format: reasoning when the request asks for it, the answer, a call of
//! the first tool the request offers, the finish reason, and usage. A whole (non-streaming)
//! answer is the same items collected ([`crate::whole`]).
//!
//! What a request can make the server hold or repeat is bounded: the model name (echoed in
//! every chunk) is at most [`MAX_MODEL_NAME`] bytes, tools are checked as the APIs check them,
//! the answer is bounded whatever the prompt (see [`model`]), the simulation's settings are
//! checked to finite ranges, and policies to [`crate::policy`]'s caps. Serve the routes with
//! [`crate::serve`] for the header- and body-read timeouts and the body size limit.
//!
//! The tests include this file (and its modules) to run the server in-process.

mod messages;
pub mod model;
mod responses;
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
use futures::Stream;
use serde::Deserialize;
use serde_json::{json, Value};
use tokenflush::llm::Item;
use tokenflush::policy::FlushPolicy;
use tokenflush::sse::{EncodeSseExt, Format, KeepAlive, OpenAiChat};
use tokenflush::TryFlushExt;

use crate::whole::Whole;
use model::{Ask, Generations, ModelError, Simulation, Tool};
use policy::PolicyConfig;

/// The page at `/`: three panes streaming the same answer under three policies.
const PAGE: &str = include_str!("chat_server/page.html");

/// The longest model name a request may give: it is repeated in every chunk.
pub const MAX_MODEL_NAME: usize = 256;

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

impl AppState {
    /// A response id: `<prefix><6 digits>`, or 32 random hex digits for a resumable stream
    /// (its id is a capability).
    fn id(&self, prefix: &str, resumable: bool) -> String {
        if resumable {
            resume::random_id(prefix)
        } else {
            format!(
                "{prefix}{:06}",
                self.next_id.fetch_add(1, Ordering::Relaxed)
            )
        }
    }
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
        .route("/v1/responses", post(responses::responses))
        .route("/v1/messages", post(messages::messages))
        .route("/v1/resume", get(resume::resume_stream))
        .route("/v1/resume/drop", post(resume::drop_connections))
        .with_state(state);
    (router, generations)
}

/// The part of OpenAI's chat completion request the simulated model reads; other fields
/// (temperature, …) are accepted and ignored.
#[derive(Debug, Deserialize)]
struct ChatRequest {
    #[serde(default = "default_model")]
    model: String,
    messages: Vec<Message>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    max_tokens: Option<usize>,
    max_completion_tokens: Option<usize>,
    /// Any effort but `"none"` makes the model reason first (`reasoning_content`).
    reasoning_effort: Option<String>,
    /// `[{"type": "function", "function": {"name", "parameters"}}]`: the model calls the
    /// first.
    #[serde(default)]
    tools: Vec<Value>,
    /// This server's extension: the flush policy for this request.
    tokenflush: Option<PolicyConfig>,
    /// This server's extension: the model's speed for this request.
    simulation: Option<serde_json::Map<String, Value>>,
    /// This server's extension: a resumable stream (see [`resume`]).
    #[serde(default)]
    resume: bool,
}

#[derive(Debug, Default, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
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

/// The last user message's text.
fn prompt_of(messages: &[Message]) -> Result<String, String> {
    messages
        .iter()
        .rev()
        .find(|message| message.role == "user")
        .map(|message| text_of(&message.content))
        .ok_or_else(|| "messages must hold a user message".to_owned())
}

/// The first function tool of a request, checked with the others: at most
/// [`model::MAX_TOOLS`], each name as the APIs allow. `function` reads a tool: its name and
/// parameters, or `None` for a tool that is not a function (a server tool).
fn first_tool(
    tools: &[Value],
    function: impl Fn(&Value) -> Option<(&str, Value)>,
) -> Result<Option<Tool>, String> {
    if tools.len() > model::MAX_TOOLS {
        return Err(format!("at most {} tools", model::MAX_TOOLS));
    }
    let mut first = None;
    for tool in tools {
        if let Some((name, parameters)) = function(tool) {
            let tool = Tool::new(name, parameters)?;
            first.get_or_insert(tool);
        }
    }
    Ok(first)
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

/// Seconds since the Unix epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
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
    let tool = first_tool(&request.tools, |tool| {
        let function = tool.get("function")?;
        let name = function.get("name")?.as_str()?;
        Some((
            name,
            function.get("parameters").cloned().unwrap_or_default(),
        ))
    });
    let ask = prompt_of(&request.messages).and_then(|prompt| {
        Ok(Ask {
            prompt,
            reasoning: request
                .reasoning_effort
                .as_deref()
                .is_some_and(|effort| effort != "none"),
            tool: tool?,
            max_tokens: request.max_completion_tokens.or(request.max_tokens),
        })
    });
    let generation = match Generation::of(
        &state,
        &request.model,
        ask,
        request.tokenflush,
        request.simulation,
    ) {
        Ok(generation) => generation,
        Err(error) => return invalid_request(error),
    };

    let resumable = request.resume && request.stream;
    let id = state.id("chatcmpl-", resumable);
    let include_usage = request.stream_options.unwrap_or_default().include_usage;
    let (items, policy) = generation.start(&state, &id, request.stream);

    if request.stream {
        let format = OpenAiChat::new(id, request.model).with_include_usage(include_usage);
        if resumable {
            let meta = resume::openai_meta(&format, include_usage);
            let chunks = resume::flushed(items, policy);
            return resume::start(&state, &headers, chunks, meta, format).await;
        }
        return streamed(&state, items, policy, format);
    }
    match Whole::collect(items).await {
        Ok(whole) => Json(whole.chat_completion(&id, &request.model, now())).into_response(),
        Err(error) => api_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", error),
    }
}

/// What a request of any API asks of the simulated model, checked.
struct Generation {
    ask: Ask,
    policy_config: PolicyConfig,
    policy: Box<dyn FlushPolicy + Send>,
    simulation: Simulation,
}

impl Generation {
    /// The model name, question, flush policy and simulation of a request, or why they are
    /// invalid.
    fn of(
        state: &AppState,
        model_name: &str,
        ask: Result<Ask, String>,
        tokenflush: Option<PolicyConfig>,
        overrides: Option<serde_json::Map<String, Value>>,
    ) -> Result<Self, String> {
        if model_name.len() > MAX_MODEL_NAME {
            return Err(format!("model must be at most {MAX_MODEL_NAME} bytes"));
        }
        let ask = ask?;
        let policy_config = tokenflush.unwrap_or(state.config.policy);
        let policy = policy_config
            .build()
            .map_err(|error| format!("tokenflush: {error}"))?;
        let simulation = simulation(&state.config.simulation, overrides)?;
        Ok(Self {
            ask,
            policy_config,
            policy,
            simulation,
        })
    }

    /// Starts the model on response `id`: its items, and the policy to flush them with.
    #[allow(clippy::type_complexity)]
    fn start(
        self,
        state: &AppState,
        id: &str,
        stream: bool,
    ) -> (
        impl Stream<Item = Result<Item<Bytes>, ModelError>> + Send + 'static,
        Box<dyn FlushPolicy + Send>,
    ) {
        // The call id, from the response id: `call_<the id's tail>`.
        let tail = id.rsplit(['-', '_']).next().unwrap_or(id);
        let plan = model::plan(&self.ask, &format!("call_{tail}"));
        eprintln!(
            "{id}: {} tokens at {} tokens/s, {}, {}",
            plan.tokens.len(),
            self.simulation.tokens_per_second,
            self.policy_config,
            if stream { "streaming" } else { "whole" }
        );
        let items = model::generate(id.to_owned(), plan, &self.simulation, &state.generations);
        (items, self.policy)
    }
}

/// The items as an SSE response in `format`, through the request's flush policy, with the
/// server's keep-alive.
fn streamed<F>(
    state: &AppState,
    items: impl Stream<Item = Result<Item<Bytes>, ModelError>> + Send + 'static,
    policy: Box<dyn FlushPolicy + Send>,
    format: F,
) -> Response
where
    F: Format + Send + 'static,
{
    items
        .try_flush_with(policy)
        .encode_sse_as(format)
        .with_keep_alive(KeepAlive::new().with_interval(state.config.keep_alive))
        .into_response()
}

/// The server's simulation with the request's fields laid over it, checked.
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
