//! The re-chunking proxy's routes, in front of an OpenAI-compatible upstream (one that speaks
//! chat completions): `POST /v1/chat/completions` forwarded as it is, and `POST /v1/responses`
//! and `POST /v1/messages` translated into chat completion requests ([`translate`]).
//!
//! The streamed answer goes through three calls of the library and nothing else: the
//! upstream's events become typed items (`parse_items` with `OpenAiChat`), the text is
//! re-chunked by the request's flush policy (`try_flush_with`), and the items are rendered in
//! the format of the client's route (`encode_sse_as`: `OpenAiChat`, `OpenAiResponses` or
//! `AnthropicMessages`). Role, reasoning, tool calls, the finish reason and usage pass through
//! in order; only text of one kind is merged.
//!
//! The upstream is not trusted to be quick or complete ([`Timeouts`]): connecting, its response
//! headers and every silence of its body are bounded; while it is silent the client gets
//! keep-alive comments; when a bound passes, or the upstream's stream ends without its last
//! event (`[DONE]`), the client gets an error event in its API's format after the text that
//! came, never a clean end. A streaming request whose upstream headers take longer than the
//! keep-alive interval gets its response started at once, with keep-alive comments, and any
//! later failure as an error event. Client-chosen policies are capped ([`crate::policy`]);
//! the adapter's byte cap (64 KiB) bounds the text a request holds, and a Responses answer,
//! which its format holds until its last event, is cut with an error event past
//! [`MAX_WHOLE_BYTES`] (8 MiB), as a whole answer is.
//!
//! The tests include this file (and its modules) to run the proxy in-process.

pub mod translate;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::future::BoxFuture;
use futures::stream::{self, BoxStream};
use futures::{FutureExt, Stream, StreamExt};
use http_body_util::{BodyDataStream, BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Map, Value};
use tokenflush::llm::Item;
use tokenflush::sse::{
    AnthropicMessages, DecodeError, EncodeSseExt, Format, KeepAlive, OpenAiChat, OpenAiResponses,
    ParseError, ParseSseExt, Parser,
};
use tokenflush::TryFlushExt;
use tokio::time::{Instant, Sleep};

use crate::chat_server::MAX_MODEL_NAME;
use crate::policy::PolicyConfig;
use crate::whole::{Whole, MAX_WHOLE_BYTES};

/// How long the proxy waits for its upstream, and how often it tells its client it is still
/// there.
///
/// The defaults suit slow reasoning models, which may think for minutes before their first
/// token and stream nothing meanwhile: the idle bound is long, and keep-alive comments keep
/// the client's connection (and the proxies on its way) open while the upstream is silent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Connecting to the upstream. 10 s by default.
    pub connect: Duration,
    /// From sending the request to the upstream's response headers, for a streamed answer.
    /// 120 s by default (a server that queues requests answers late). A whole (non-streaming)
    /// answer's headers come when it is done: they get [`idle`](Self::idle) instead.
    pub response_headers: Duration,
    /// The longest silence of the upstream's body: 600 s by default.
    pub idle: Duration,
    /// Silence towards the client after which a keep-alive comment goes out (Anthropic's
    /// `ping` event on `/v1/messages`). 15 s by default.
    pub keep_alive: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            response_headers: Duration::from_secs(120),
            idle: Duration::from_secs(600),
            keep_alive: Duration::from_secs(15),
        }
    }
}

/// The longest any of the [`Timeouts`] may be.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// The proxy's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The upstream's base URL as OpenAI's SDKs take it, e.g. `http://127.0.0.1:3000/v1`;
    /// requests go to `{upstream}/chat/completions`. Plain HTTP only.
    pub upstream: String,
    /// The flush policy of requests without a `"tokenflush"` field.
    pub policy: PolicyConfig,
    pub timeouts: Timeouts,
}

impl Default for Config {
    /// The chat server example on its default port, the default policy and timeouts.
    fn default() -> Self {
        Self {
            upstream: "http://127.0.0.1:3000/v1".to_owned(),
            policy: PolicyConfig::default(),
            timeouts: Timeouts::default(),
        }
    }
}

/// The parser's limits for the upstream's events: a chat chunk is a few hundred bytes, so a
/// megabyte is generous, and bounds what one request holds.
const MAX_UPSTREAM_EVENT: usize = 1 << 20;

/// The most of an upstream's error body read for its message.
const MAX_ERROR_BODY: usize = 64 << 10;

struct AppState {
    target: Uri,
    policy: PolicyConfig,
    timeouts: Timeouts,
    client: Client<HttpConnector, Full<Bytes>>,
    next_id: AtomicU64,
}

/// The routes, or why the settings cannot be used.
pub fn app(config: Config) -> Result<Router, String> {
    let target = format!("{}/chat/completions", config.upstream.trim_end_matches('/'));
    let target: Uri = target
        .parse()
        .map_err(|error| format!("upstream {:?}: {error}", config.upstream))?;
    if target.scheme_str() != Some("http") {
        return Err(format!(
            "upstream {:?}: only http:// upstreams are supported",
            config.upstream
        ));
    }
    let Timeouts {
        connect,
        response_headers,
        idle,
        keep_alive,
    } = config.timeouts;
    for timeout in [connect, response_headers, idle, keep_alive] {
        if timeout.is_zero() || timeout > MAX_TIMEOUT {
            return Err("timeouts must be longer than 0 and at most a day".to_owned());
        }
    }
    config.policy.build()?;
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(connect));
    let client = Client::builder(TokioExecutor::new()).build(connector);
    let state = Arc::new(AppState {
        target,
        policy: config.policy,
        timeouts: config.timeouts,
        client,
        next_id: AtomicU64::new(1),
    });
    let route = |api: Api| {
        post(
            move |State(state): State<Arc<AppState>>, headers: HeaderMap, body: Bytes| {
                forward(state, api, headers, body)
            },
        )
    };
    Ok(Router::new()
        .route("/v1/chat/completions", route(Api::Chat))
        .route("/v1/responses", route(Api::Responses))
        .route("/v1/messages", route(Api::Messages))
        .with_state(state))
}

/// The API a client speaks to the proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    Chat,
    Responses,
    Messages,
}

impl Api {
    /// An error response in the API's shape, which its SDKs raise with the message.
    fn error(self, status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
        match self {
            Api::Chat | Api::Responses => crate::chat_server::api_error(status, kind, message),
            Api::Messages => {
                let body =
                    json!({"type": "error", "error": {"type": kind, "message": message.into()}});
                (status, Json(body)).into_response()
            }
        }
    }

    fn invalid(self, message: impl Into<String>) -> Response {
        self.error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
    }

    /// The response for an upstream that failed before its answer began.
    fn failure(self, error: &ProxyError) -> Response {
        let status = match error {
            ProxyError::HeaderTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::Status { status, .. } => *status,
            _ => StatusCode::BAD_GATEWAY,
        };
        let kind = match self {
            Api::Chat | Api::Responses => "upstream_error",
            Api::Messages => "api_error",
        };
        self.error(status, kind, error.to_string())
    }

    /// The client's format. Only chat completions keep the upstream's response id (from
    /// its `Item::Start`); the others get ids of their own kind.
    fn format(self, id: u64, model: &str, include_usage: bool) -> Box<dyn Format + Send> {
        match self {
            Api::Chat => Box::new(
                OpenAiChat::new(format!("chatcmpl-proxy{id}"), model)
                    .with_include_usage(include_usage),
            ),
            Api::Responses => Box::new(OpenAiResponses::new(format!("resp_proxy{id}"), model)),
            // The input tokens come with the usage at the end (`message_delta`).
            Api::Messages => Box::new(AnthropicMessages::new(format!("msg_proxy{id}"), model)),
        }
    }
}

/// Why the upstream's answer could not be passed on.
#[derive(Debug, thiserror::Error)]
enum ProxyError {
    #[error("the upstream is unreachable: {0}")]
    Unreachable(String),
    #[error("the upstream sent no response headers within {} s", .0.as_secs_f64())]
    HeaderTimeout(Duration),
    #[error("the upstream answered {status}: {message}")]
    Status { status: StatusCode, message: String },
    #[error("the upstream did not answer with an event stream")]
    NotEventStream,
    #[error(transparent)]
    Body(BodyError),
    #[error("{0}")]
    Stream(String),
}

impl From<DecodeError<BodyError>> for ProxyError {
    fn from(error: DecodeError<BodyError>) -> Self {
        let message = match error {
            DecodeError::Parse(ParseError::Body(error)) => return Self::Body(error),
            DecodeError::Unterminated => {
                "the upstream's stream ended before its last event: the answer may be cut short"
                    .to_owned()
            }
            DecodeError::Parse(ParseError::Truncated) => {
                "the upstream's stream ended inside an event".to_owned()
            }
            DecodeError::Parse(error) => format!("the upstream's event stream: {error}"),
            // The upstream's own error event, or data that is not a chat chunk.
            other => other.to_string(),
        };
        Self::Stream(message)
    }
}

/// Reading the upstream's body failed, or it fell silent.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the upstream sent nothing for {} s", .0.as_secs_f64())]
    Idle(Duration),
    #[error("reading the upstream failed: {0}")]
    Read(hyper::Error),
}

type Items = BoxStream<'static, Result<Item, ProxyError>>;

/// Seconds since the Unix epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

async fn forward(state: Arc<AppState>, api: Api, headers: HeaderMap, body: Bytes) -> Response {
    let mut request: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return api.invalid(format!("invalid request body: {error}")),
    };
    // Our extension is not the upstream's business (OpenAI rejects unknown fields).
    let policy = match request.remove("tokenflush") {
        None => state.policy,
        Some(value) => match serde_json::from_value::<PolicyConfig>(value) {
            Ok(policy) => policy,
            Err(error) => return api.invalid(format!("tokenflush: {error}")),
        },
    };
    let flush_policy = match policy.build() {
        Ok(policy) => policy,
        Err(error) => return api.invalid(format!("tokenflush: {error}")),
    };
    let model = request
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if model.len() > MAX_MODEL_NAME {
        return api.invalid(format!("model must be at most {MAX_MODEL_NAME} bytes"));
    }
    let client_streams = request.get("stream") == Some(&Value::Bool(true));
    let include_usage = request
        .get("stream_options")
        .is_some_and(|options| options["include_usage"] == true);
    let chat = match api {
        Api::Chat => Ok(request),
        Api::Responses => translate::from_responses(&request),
        Api::Messages => translate::from_messages(&request),
    };
    let chat = match chat {
        Ok(chat) => chat,
        Err(message) => return api.invalid(message),
    };
    let upstream_streams = chat.get("stream") == Some(&Value::Bool(true));
    let timeouts = state.timeouts;

    let sent = send(&state, &headers, chat, upstream_streams);
    if !upstream_streams {
        // A whole chat completion, passed through as it comes.
        return match sent.await {
            Ok(response) => pass_through(response, timeouts.idle),
            Err(error) => api.failure(&error),
        };
    }
    let id = state.next_id.fetch_add(1, Ordering::Relaxed);
    if !client_streams {
        // A whole Responses or messages answer: the upstream's stream, collected.
        let response = match sent.await {
            Ok(response) => response,
            Err(error) => return api.failure(&error),
        };
        let items = match answer_items(response, api, timeouts.idle).await {
            Ok(items) => items,
            Err(error) => return api.failure(&error),
        };
        return match Whole::collect(items).await {
            Ok(whole) if api == Api::Responses => {
                Json(whole.response(&format!("resp_proxy{id}"), &model, now())).into_response()
            }
            Ok(whole) => Json(whole.message(&format!("msg_proxy{id}"), &model)).into_response(),
            Err(message) => api.error(StatusCode::BAD_GATEWAY, "upstream_error", message),
        };
    }

    let mut sent = sent;
    let items = match tokio::time::timeout(timeouts.keep_alive, &mut sent).await {
        Ok(Ok(response)) => {
            if api == Api::Chat && !is_event_stream(&response) {
                // The upstream's refusal (401, 400, …) as it came, status and all.
                return pass_through(response, timeouts.idle);
            }
            match answer_items(response, api, timeouts.idle).await {
                Ok(items) => items,
                Err(error) => return api.failure(&error),
            }
        }
        Ok(Err(error)) => return api.failure(&error),
        // The upstream is slow to answer: start the response now, so that keep-alive comments
        // reach the client while it waits; a failure from here on is an error event.
        Err(_) => stream::once(async move {
            match sent.await {
                Ok(response) => answer_items(response, api, timeouts.idle)
                    .await
                    .unwrap_or_else(|error| stream::iter([Err(error)]).boxed()),
                Err(error) => stream::iter([Err(error)]).boxed(),
            }
        })
        .flatten()
        .boxed(),
    };
    eprintln!("proxy: re-chunking a stream with {policy} for {api:?}");
    items
        .try_flush_with(flush_policy)
        .encode_sse_as(api.format(id, &model, include_usage))
        .with_keep_alive(KeepAlive::new().with_interval(timeouts.keep_alive))
        .into_response()
}

/// Sends the chat request upstream; its response, once its headers came within the bound.
fn send(
    state: &AppState,
    headers: &HeaderMap,
    chat: Map<String, Value>,
    streams: bool,
) -> BoxFuture<'static, Result<hyper::Response<Incoming>, ProxyError>> {
    let mut forward = Request::post(state.target.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::ACCEPT,
            if streams {
                "text/event-stream"
            } else {
                "application/json"
            },
        );
    // OpenAI's SDKs send `Authorization`, Anthropic's `x-api-key`: an OpenAI-compatible
    // upstream takes a bearer token.
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        forward = forward.header(header::AUTHORIZATION, authorization);
    } else if let Some(key) = headers.get("x-api-key").and_then(|key| key.to_str().ok()) {
        if let Ok(bearer) = HeaderValue::from_str(&format!("Bearer {key}")) {
            forward = forward.header(header::AUTHORIZATION, bearer);
        }
    }
    let body = Value::Object(chat).to_string();
    let forward = forward
        .body(Full::new(Bytes::from(body)))
        .expect("a request from valid parts");
    // A whole answer's headers come when it is done: the upstream is silent until then.
    let bound = if streams {
        state.timeouts.response_headers
    } else {
        state.timeouts.idle
    };
    let response = state.client.request(forward);
    async move {
        match tokio::time::timeout(bound, response).await {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(error)) => Err(ProxyError::Unreachable(error.to_string())),
            Err(_) => Err(ProxyError::HeaderTimeout(bound)),
        }
    }
    .boxed()
}

fn is_event_stream(response: &hyper::Response<Incoming>) -> bool {
    response.status() == StatusCode::OK
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .is_some_and(|value| value.starts_with("text/event-stream"))
}

/// The upstream's answer as typed items, or why there is none: its error status (with its
/// message), or a body that is not an event stream.
async fn answer_items(
    response: hyper::Response<Incoming>,
    api: Api,
    idle: Duration,
) -> Result<Items, ProxyError> {
    if response.status() != StatusCode::OK {
        return Err(status_error(response, idle).await);
    }
    if !is_event_stream(&response) {
        return Err(ProxyError::NotEventStream);
    }
    let body = IdleTimeout::new(response.into_body().into_data_stream(), idle);
    let parser = Parser::new()
        .with_max_line_len(MAX_UPSTREAM_EVENT)
        .with_max_event_size(MAX_UPSTREAM_EVENT);
    // The Responses format holds the whole answer until its last event repeats it: bound it.
    let mut held = 0_usize;
    let items = body
        .parse_items(parser, OpenAiChat::default())
        .map(move |item| match item {
            // A chat completion id is no Responses or message id: those keep their own.
            Ok(Item::Start { id: _, model }) if api != Api::Chat => {
                Ok(Item::Start { id: None, model })
            }
            Ok(item) if api == Api::Responses => {
                held = held.saturating_add(item_size(&item));
                if held > MAX_WHOLE_BYTES {
                    return Err(ProxyError::Stream(format!(
                        "the upstream's answer is larger than {MAX_WHOLE_BYTES} bytes"
                    )));
                }
                Ok(item)
            }
            Ok(item) => Ok(item),
            Err(error) => Err(ProxyError::from(error)),
        });
    Ok(items.boxed())
}

/// The bytes of text an item adds to an answer.
fn item_size(item: &Item) -> usize {
    match item {
        Item::Content(text) | Item::Reasoning(text) | Item::Refusal(text) => text.len(),
        Item::ToolCall(call) => {
            call.arguments().len() + call.id().map_or(0, str::len) + call.name().map_or(0, str::len)
        }
        Item::Logprobs(json) => json.len(),
        Item::Other { data, .. } => data.len(),
        _ => 0,
    }
}

/// The upstream's error status, with the message of its error body (OpenAI's or Anthropic's
/// `error.message`, else the start of the body).
async fn status_error(response: hyper::Response<Incoming>, idle: Duration) -> ProxyError {
    let status = response.status();
    let mut body = IdleTimeout::new(response.into_body().into_data_stream(), idle);
    let mut bytes = Vec::new();
    while let Some(Ok(piece)) = body.next().await {
        bytes.extend_from_slice(&piece[..piece.len().min(MAX_ERROR_BODY - bytes.len())]);
        if bytes.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    let message = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|error| error["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(512).collect());
    ProxyError::Status { status, message }
}

/// The upstream's response as it came, its body bounded by the idle timeout.
fn pass_through(response: hyper::Response<Incoming>, idle: Duration) -> Response {
    let (parts, body) = response.into_parts();
    let body = IdleTimeout::new(body.into_data_stream(), idle);
    let mut passed = Response::new(Body::from_stream(body));
    *passed.status_mut() = parts.status;
    if let Some(content_type) = parts.headers.get(header::CONTENT_TYPE) {
        passed
            .headers_mut()
            .insert(header::CONTENT_TYPE, content_type.clone());
    }
    passed
}

/// An upstream body that fails with [`BodyError::Idle`] when no data comes for `idle`, and
/// ends after its first error. One timer, reset on every piece.
struct IdleTimeout {
    body: BodyDataStream<Incoming>,
    idle: Duration,
    sleep: Pin<Box<Sleep>>,
    done: bool,
}

impl IdleTimeout {
    fn new(body: BodyDataStream<Incoming>, idle: Duration) -> Self {
        Self {
            body,
            idle,
            // Timeouts are at most a day: no overflow.
            sleep: Box::pin(tokio::time::sleep(idle)),
            done: false,
        }
    }
}

impl fmt::Debug for IdleTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdleTimeout")
            .field("idle", &self.idle)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}

impl Stream for IdleTimeout {
    type Item = Result<Bytes, BodyError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match this.body.poll_next_unpin(cx) {
            Poll::Ready(Some(Ok(piece))) => {
                let next = Instant::now() + this.idle;
                this.sleep.as_mut().reset(next);
                Poll::Ready(Some(Ok(piece)))
            }
            Poll::Ready(Some(Err(error))) => {
                this.done = true;
                Poll::Ready(Some(Err(BodyError::Read(error))))
            }
            Poll::Ready(None) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Pending => match this.sleep.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    this.done = true;
                    Poll::Ready(Some(Err(BodyError::Idle(this.idle))))
                }
                Poll::Pending => Poll::Pending,
            },
        }
    }
}
