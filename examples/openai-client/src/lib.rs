//! tokenflush in front of a real Rust OpenAI client, `async-openai`: a relay that serves
//! `POST /v1/chat/completions` by sending the request on with `create_stream` and re-chunking
//! the model's stream with a flush policy, carrying the finish reason, tool calls and usage
//! through, in order. The code between the `recipe` markers is the README's recipe, word for
//! word (a test checks it).
//!
//! A Python user writes `async for chunk in llm.astream(...)`; in Rust that stream is a
//! `Stream` (here `create_stream`'s), read with `while let Some(chunk) = stream.next().await`
//! or handed to adapters, which is what `try_flush_with` is: `items` says what each of its
//! chunks holds, the adapter merges the text and passes the rest through.

use async_openai::config::OpenAIConfig;
use async_openai::Client;

// recipe: start
use std::time::Duration;

use async_openai::error::OpenAIError;
use async_openai::types::chat::CreateChatCompletionStreamResponse as Chunk;
use async_openai::types::chat::FinishReason as Reason;
use async_openai::types::chat::{CompletionUsage, CreateChatCompletionRequest};
use axum::{extract::State, http::StatusCode, response::IntoResponse, response::Response, Json};
use futures::{stream, TryStreamExt};
use tokenflush::llm::{FinishReason, Item, ToolCall, Usage};
use tokenflush::sse::{EncodeSseExt, KeepAlive, OpenAiChat};
use tokenflush::{policy::TimeBounded, TryFlushExt};

/// Why async-openai's stream stopped, in tokenflush's terms.
fn finish(reason: Reason) -> FinishReason {
    match reason {
        Reason::Stop => FinishReason::Stop,
        Reason::Length => FinishReason::Length,
        Reason::ContentFilter => FinishReason::ContentFilter,
        Reason::ToolCalls | Reason::FunctionCall => FinishReason::ToolCalls,
    }
}

/// What one chunk of async-openai's stream holds, as typed items (choice 0).
fn items(chunk: Chunk) -> Vec<Item> {
    let mut items = Vec::new();
    for choice in chunk.choices.into_iter().filter(|choice| choice.index == 0) {
        let delta = choice.delta;
        items.extend(delta.content.map(Item::Content));
        for call in delta.tool_calls.unwrap_or_default() {
            let function = call.function.unwrap_or_default();
            let arguments = function.arguments.unwrap_or_default();
            let mut fragment = ToolCall::new(call.index).with_arguments(arguments);
            if let Some(id) = call.id {
                fragment = fragment.with_id(id);
            }
            if let Some(name) = function.name {
                fragment = fragment.with_name(name);
            }
            items.push(Item::ToolCall(fragment));
        }
        let reason = choice.finish_reason;
        items.extend(reason.map(|reason| Item::Finish(finish(reason))));
    }
    let usage = |u: CompletionUsage| Usage::new(u.prompt_tokens.into(), u.completion_tokens.into());
    items.extend(chunk.usage.map(usage).map(Item::Usage));
    items
}

/// `POST /v1/chat/completions`: the request sent on by async-openai, its stream re-chunked.
pub async fn chat(
    State(client): State<Client<OpenAIConfig>>,
    Json(request): Json<CreateChatCompletionRequest>,
) -> Response {
    let model = request.model.clone();
    let options = request.stream_options.as_ref();
    let include_usage = options.and_then(|options| options.include_usage) == Some(true);
    let upstream = match client.chat().create_stream(request).await {
        Ok(upstream) => upstream,
        Err(error) => return (StatusCode::BAD_GATEWAY, error.to_string()).into_response(),
    };
    upstream
        .map_ok(|chunk| stream::iter(items(chunk).into_iter().map(Ok::<_, OpenAIError>)))
        .try_flatten()
        .try_flush_with(TimeBounded::new(4, Duration::from_millis(100)))
        .encode_sse_as(OpenAiChat::new("chatcmpl-relay", model).with_include_usage(include_usage))
        .with_keep_alive(KeepAlive::new())
        .into_response()
}
// recipe: end

/// An async-openai client for the OpenAI-compatible API at `base` (`https://api.openai.com/v1`,
/// `http://127.0.0.1:3000/v1`, …) with `key`.
///
/// async-openai is built here with rustls but no crypto provider of its own: this installs
/// *ring* as the process's provider, once.
pub fn client(base: &str, key: &str) -> Client<OpenAIConfig> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::with_config(OpenAIConfig::new().with_api_base(base).with_api_key(key))
}

/// The relay's routes: [`chat`] on `client`.
pub fn app(client: Client<OpenAIConfig>) -> axum::Router {
    axum::Router::new()
        .route("/v1/chat/completions", axum::routing::post(chat))
        .with_state(client)
}
