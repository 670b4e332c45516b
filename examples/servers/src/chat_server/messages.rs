//! Anthropic's messages API on the same simulated model: `POST /v1/messages`, streaming in the
//! `AnthropicMessages` format (which Anthropic's SDKs read) or whole, with the same
//! `"tokenflush"` and `"simulation"` extensions as the chat completions route.

use std::sync::atomic::Ordering;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use tokenflush::sse::AnthropicMessages;

use super::{model, resume, streamed, whole_text, AppState, Generation, Message};
use crate::policy::PolicyConfig;

/// The part of a messages request the simulated model reads; other fields (system, tools,
/// temperature, …) are accepted and ignored.
#[derive(Debug, Deserialize)]
struct MessagesRequest {
    model: String,
    max_tokens: usize,
    messages: Vec<Message>,
    #[serde(default)]
    stream: bool,
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
        resume::random_id("msg_")
    } else {
        format!("msg_{:06}", state.next_id.fetch_add(1, Ordering::Relaxed))
    };
    let (tokens, cut) = model::truncate(
        model::tokenize(&model::answer(&generation.prompt)),
        Some(request.max_tokens),
    );
    let output_tokens = tokens.len();
    let input_tokens = model::tokenize(&generation.prompt).len() as u64;
    let stop_reason = if cut { "max_tokens" } else { "end_turn" };
    let tokens = model::generate(
        id.clone(),
        tokens,
        &generation.simulation,
        &state.generations,
    );
    eprintln!(
        "{id}: {output_tokens} tokens at {} tokens/s, {}, {}",
        generation.simulation.tokens_per_second,
        generation.policy_config,
        if request.stream { "streaming" } else { "whole" }
    );

    if request.stream {
        let format = AnthropicMessages::new(id, request.model)
            .with_input_tokens(input_tokens)
            .with_stop_reason(stop_reason);
        if resumable {
            let meta = resume::anthropic_meta(&format);
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
                "api_error",
                error.to_string(),
            )
        }
    };
    Json(json!({
        "id": id,
        "type": "message",
        "role": "assistant",
        "model": request.model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": null,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }))
    .into_response()
}
