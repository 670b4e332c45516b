//! Anthropic's messages API on the same simulated model: `POST /v1/messages`, streaming in the
//! `AnthropicMessages` format (which Anthropic's SDKs read) or whole, with the same
//! `"tokenflush"` and `"simulation"` extensions as the chat completions route. `thinking:
//! {"type": "enabled", …}` makes the model think first (a thinking block); `tools` make it call
//! the first one (a `tool_use` block, stop reason `tool_use`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tokenflush::sse::AnthropicMessages;

use super::{first_tool, prompt_of, resume, streamed, AppState, Ask, Generation, Message, Whole};
use crate::policy::PolicyConfig;

/// The part of a messages request the simulated model reads; other fields (system,
/// temperature, …) are accepted and ignored.
#[derive(Debug, Deserialize)]
struct MessagesRequest {
    model: String,
    max_tokens: usize,
    messages: Vec<Message>,
    #[serde(default)]
    stream: bool,
    /// `{"type": "enabled", "budget_tokens": N}` makes the model think first.
    thinking: Option<Value>,
    /// `[{"name", "input_schema"}]`: the model calls the first (server tools, which have a
    /// `type` of their own, are ignored).
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

/// An error response in Anthropic's shape, which the SDKs raise with its message.
fn api_error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body = json!({"type": "error", "error": {"type": kind, "message": message.into()}});
    (status, Json(body)).into_response()
}

fn invalid_request(message: impl Into<String>) -> Response {
    api_error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

pub(super) async fn messages(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: MessagesRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return invalid_request(format!("invalid request body: {error}")),
    };
    let tool = first_tool(&request.tools, |tool| {
        if tool.get("type").is_some_and(|kind| kind != "custom") {
            return None;
        }
        let name = tool.get("name")?.as_str()?;
        Some((name, tool.get("input_schema").cloned().unwrap_or_default()))
    });
    let ask = prompt_of(&request.messages).and_then(|prompt| {
        Ok(Ask {
            prompt,
            reasoning: request
                .thinking
                .as_ref()
                .is_some_and(|thinking| thinking["type"] == "enabled"),
            tool: tool?,
            max_tokens: Some(request.max_tokens),
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
    let id = state.id("msg_", resumable);
    // Known before the first token: `message_start` carries it, as Anthropic's does.
    let input_tokens = super::model::count_tokens(&generation.ask.prompt) as u64;
    let (items, policy) = generation.start(&state, &id, request.stream);

    if request.stream {
        let format = AnthropicMessages::new(id, request.model).with_input_tokens(input_tokens);
        if resumable {
            let meta = resume::anthropic_meta(&format);
            let chunks = resume::flushed(items, policy);
            return resume::start(&state, &headers, chunks, meta, format).await;
        }
        return streamed(&state, items, policy, format);
    }
    match Whole::collect(items).await {
        Ok(whole) => Json(whole.message(&id, &request.model)).into_response(),
        Err(error) => api_error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", error),
    }
}
