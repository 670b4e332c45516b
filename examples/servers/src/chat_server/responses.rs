//! OpenAI's Responses API on the same simulated model: `POST /v1/responses`, streaming in the
//! `OpenAiResponses` format (which OpenAI's SDKs and the Vercel AI SDK's default OpenAI
//! provider read) or whole (the `response` object the stream ends with), with the same
//! `"tokenflush"` and `"simulation"` extensions as the chat completions route. `reasoning:
//! {"effort": …}` makes the model reason first (a reasoning item); function `tools` make it call
//! the first one (a `function_call` item).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;
use tokenflush::sse::OpenAiResponses;

use super::{
    api_error, first_tool, invalid_request, now, resume, streamed, text_of, AppState, Ask,
    Generation, Whole,
};
use crate::policy::PolicyConfig;

/// The part of a Responses request the simulated model reads; other fields (instructions,
/// temperature, store, …) are accepted and ignored.
#[derive(Debug, Deserialize)]
struct ResponsesRequest {
    #[serde(default = "super::default_model")]
    model: String,
    /// A string, or a list of input items (`{"role", "content"}` messages).
    input: Value,
    #[serde(default)]
    stream: bool,
    max_output_tokens: Option<usize>,
    /// `{"effort": …}`: any effort but `"none"` makes the model reason first.
    reasoning: Option<Value>,
    /// `[{"type": "function", "name", "parameters"}]`: the model calls the first function.
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

/// The question: the input string, or the last user message's text.
fn prompt_of(input: &Value) -> Result<String, String> {
    match input {
        Value::String(text) => Ok(text.clone()),
        Value::Array(items) => items
            .iter()
            .rev()
            .find(|item| item["role"] == "user")
            .map(|item| text_of(&item["content"]))
            .ok_or_else(|| "input must hold a user message".to_owned()),
        _ => Err("input must be a string or a list of input items".to_owned()),
    }
}

pub(super) async fn responses(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request: ResponsesRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return invalid_request(format!("invalid request body: {error}")),
    };
    let tool = first_tool(&request.tools, |tool| {
        if tool["type"] != "function" {
            return None;
        }
        let name = tool.get("name")?.as_str()?;
        Some((name, tool.get("parameters").cloned().unwrap_or_default()))
    });
    let ask = prompt_of(&request.input).and_then(|prompt| {
        Ok(Ask {
            prompt,
            reasoning: request
                .reasoning
                .as_ref()
                .is_some_and(|reasoning| reasoning["effort"] != "none"),
            tool: tool?,
            max_tokens: request.max_output_tokens,
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
    let id = state.id("resp_", resumable);
    let created_at = now();
    let (items, policy) = generation.start(&state, &id, request.stream);

    if request.stream {
        let format = OpenAiResponses::new(id, request.model).with_created_at(created_at);
        if resumable {
            let meta = resume::responses_meta(&format);
            let chunks = resume::flushed(items, policy);
            return resume::start(&state, &headers, chunks, meta, format).await;
        }
        return streamed(&state, items, policy, format);
    }
    match Whole::collect(items).await {
        Ok(whole) => Json(whole.response(&id, &request.model, created_at)).into_response(),
        Err(error) => api_error(StatusCode::INTERNAL_SERVER_ERROR, "server_error", error),
    }
}
