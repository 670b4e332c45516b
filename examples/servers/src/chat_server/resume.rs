//! Resumable streams for the chat server: a request with `"resume": true` (and `"stream":
//! true`) runs its generation detached from the connection through a [`Relay`], and
//! `GET /v1/resume` (with `Last-Event-ID`, or `?last_event_id=` for clients that cannot set
//! headers) picks it up again — on this server or another one sharing its Redis.
//!
//! - **Stores**: the in-memory store by default (one process), Redis with `--redis URL`
//!   (several processes behind a balancer; set the same `--resume-key` on all of them).
//! - **Ids are capabilities**: the stream id in every event id is 128 random bits, and so is
//!   the completion's (`chatcmpl-<32 hex>`, `msg_<32 hex>`) when resume is on.
//! - **Owners**: a stream is bound to its caller: the owner tag is HMAC-SHA-256, under the
//!   server's key, of the request's `Authorization` header (of the empty string without one),
//!   so an id alone does not read another caller's stream. All callers without the header are
//!   one caller. Whatever the reason (unknown, expired, malformed, another caller's), a
//!   resume that finds nothing gets the same `404` response, byte for byte.
//! - **The demo's drop**: `POST /v1/resume/drop` aborts every resumable response open on
//!   this server, as a network that fails does; readers (the page's `EventSource`) reconnect
//!   by themselves with `Last-Event-ID`.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use futures::{FutureExt, Stream};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokenflush::llm::Item;
use tokenflush::resume::{last_event_id, MemoryStore, Relay, ResumeError, ResumeSse};
use tokenflush::sse::{AnthropicMessages, Format, KeepAlive, OpenAiChat, OpenAiResponses};
use tokenflush::Chunk;
use tokio::sync::watch;

use super::model::ModelError;
use super::AppState;

/// The chat server's resumable streams: the relay, the key of the owner tags, and the
/// demo's drop signal.
#[derive(Clone)]
pub struct Resume {
    relay: Relay,
    key: Arc<[u8; 32]>,
    drops: Arc<watch::Sender<u64>>,
}

impl fmt::Debug for Resume {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the key.
        f.debug_struct("Resume")
            .field("relay", &self.relay)
            .finish_non_exhaustive()
    }
}

impl Default for Resume {
    /// The in-memory store, a random key.
    fn default() -> Self {
        Self::new(Relay::new(Arc::new(MemoryStore::new())), random_key())
    }
}

impl Resume {
    /// Resumable streams through `relay`, owner tags under `key`.
    pub fn new(relay: Relay, key: [u8; 32]) -> Self {
        Self {
            relay,
            key: Arc::new(key),
            drops: Arc::new(watch::channel(0).0),
        }
    }

    /// The owner tag of a request: HMAC-SHA-256 of its `Authorization` header under the key.
    fn owner(&self, headers: &HeaderMap) -> [u8; 32] {
        let credential = headers
            .get("authorization")
            .map_or(&b""[..], HeaderValue::as_bytes);
        let mut mac =
            <Hmac<Sha256>>::new_from_slice(&self.key[..]).expect("HMAC takes a key of any length");
        mac.update(credential);
        mac.finalize().into_bytes().into()
    }
}

/// 32 bytes from the operating system's random source.
pub fn random_key() -> [u8; 32] {
    let mut key = [0; 32];
    getrandom::fill(&mut key).expect("the operating system's random source works");
    key
}

/// A key from 64 hexadecimal digits (`--resume-key`).
pub fn parse_key(text: &str) -> Result<[u8; 32], String> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return Err("a resume key is 64 hexadecimal digits".into());
    }
    let mut key = [0; 32];
    for (byte, pair) in key.iter_mut().zip(bytes.chunks(2)) {
        let pair = std::str::from_utf8(pair).map_err(|_| "not hexadecimal")?;
        *byte = u8::from_str_radix(pair, 16).map_err(|_| "not hexadecimal")?;
    }
    Ok(key)
}

/// A completion or message id that is a capability too: `<prefix><32 hex digits>`.
pub(super) fn random_id(prefix: &str) -> String {
    let key = random_key();
    let mut id = prefix.to_owned();
    for byte in &key[..16] {
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

/// What another instance needs to build the same format: stored with the stream. (The
/// finish reason and usage are items of the stream itself.)
#[derive(Debug, Deserialize, Serialize)]
#[serde(tag = "api", rename_all = "snake_case")]
enum Meta {
    Openai {
        id: String,
        model: String,
        created: u64,
        #[serde(default)]
        include_usage: bool,
    },
    Anthropic {
        id: String,
        model: String,
        input_tokens: u64,
    },
    Responses {
        id: String,
        model: String,
        created_at: u64,
    },
}

impl Meta {
    fn format(self) -> Box<dyn Format + Send> {
        match self {
            Meta::Openai {
                id,
                model,
                created,
                include_usage,
            } => Box::new(
                OpenAiChat::new(id, model)
                    .with_created(created)
                    .with_include_usage(include_usage),
            ),
            Meta::Anthropic {
                id,
                model,
                input_tokens,
            } => Box::new(AnthropicMessages::new(id, model).with_input_tokens(input_tokens)),
            Meta::Responses {
                id,
                model,
                created_at,
            } => Box::new(OpenAiResponses::new(id, model).with_created_at(created_at)),
        }
    }
}

/// The format of a stored stream, from its meta; OpenAI's when the store lost it (the
/// reader then gets only an error event).
fn format_of(meta: Option<&[u8]>) -> Box<dyn Format + Send> {
    meta.and_then(|meta| serde_json::from_slice::<Meta>(meta).ok())
        .map_or_else(
            || Box::new(OpenAiChat::new("chatcmpl-unknown", "unknown").with_created(0)) as _,
            Meta::format,
        )
}

/// The meta of a chat completions stream (`OpenAiChat` does not say whether it includes
/// usage: the request does).
pub(super) fn openai_meta(format: &OpenAiChat, include_usage: bool) -> String {
    let meta = Meta::Openai {
        id: format.id().to_owned(),
        model: format.model().to_owned(),
        created: format.created(),
        include_usage,
    };
    serde_json::to_string(&meta).expect("the meta serialises")
}

pub(super) fn anthropic_meta(format: &AnthropicMessages) -> String {
    let meta = Meta::Anthropic {
        id: format.id().to_owned(),
        model: format.model().to_owned(),
        input_tokens: format.input_tokens(),
    };
    serde_json::to_string(&meta).expect("the meta serialises")
}

pub(super) fn responses_meta(format: &OpenAiResponses) -> String {
    let meta = Meta::Responses {
        id: format.id().to_owned(),
        model: format.model().to_owned(),
        created_at: format.created_at(),
    };
    serde_json::to_string(&meta).expect("the meta serialises")
}

/// Starts a resumable generation of `chunks` and answers with its first reader.
pub(super) async fn start<F>(
    state: &AppState,
    headers: &HeaderMap,
    chunks: impl Stream<Item = Result<Item<Chunk>, ModelError>> + Send + 'static,
    meta: String,
    format: F,
) -> Response
where
    F: Format + Send + 'static,
{
    let resume = &state.config.resume;
    let owner = resume.owner(headers);
    match resume.relay.start(Some(&owner), meta, chunks, format).await {
        Ok(events) => respond(state, events),
        Err(error) => unavailable(&error),
    }
}

/// `GET /v1/resume`: the events after `Last-Event-ID` (header, or `?last_event_id=`).
pub(super) async fn resume_stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let Some(last_event_id) = last_event_id(&headers, &uri) else {
        return not_found();
    };
    let resume = &state.config.resume;
    let owner = resume.owner(&headers);
    match resume
        .relay
        .resume(last_event_id, Some(&owner), format_of)
        .await
    {
        Ok(events) => respond(&state, events),
        Err(ResumeError::NotFound) => not_found(),
        Err(error) => unavailable(&error),
    }
}

/// `POST /v1/resume/drop`: aborts every resumable response open now (the demo's "drop
/// connection").
pub(super) async fn drop_connections(State(state): State<AppState>) -> StatusCode {
    state.config.resume.drops.send_modify(|drops| *drops += 1);
    StatusCode::NO_CONTENT
}

/// The one answer to a resume that finds nothing: the same bytes whatever the reason.
fn not_found() -> Response {
    let body = r#"{"error":{"message":"unknown stream","type":"not_found_error","param":null,"code":null}}"#;
    (
        StatusCode::NOT_FOUND,
        [("content-type", "application/json")],
        body,
    )
        .into_response()
}

fn unavailable(error: &ResumeError) -> Response {
    super::api_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "server_error",
        format!("resumable streams are unavailable: {error}"),
    )
}

/// The reader's events as the response, with the server's keep-alive; aborted when the
/// demo drops connections. A reader that has seen everything gets `204 No Content`.
fn respond<F>(state: &AppState, events: ResumeSse<F>) -> Response
where
    F: Format + Send + 'static,
{
    if events.seen_everything() {
        return StatusCode::NO_CONTENT.into_response();
    }
    let events = events.with_keep_alive(KeepAlive::new().with_interval(state.config.keep_alive));
    let mut drops = state.config.resume.drops.subscribe();
    drops.mark_unchanged();
    let dropped = async move {
        let _ = drops.changed().await;
    }
    .boxed();
    let mut response = Body::from_stream(Droppable {
        events,
        dropped: Some(dropped),
    })
    .into_response();
    for (name, value) in tokenflush::sse::headers() {
        response.headers_mut().insert(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    response
}

/// A response body that fails (and so aborts the connection) when `dropped` completes.
struct Droppable<F> {
    events: ResumeSse<F>,
    dropped: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl<F: Format> Stream for Droppable<F> {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(dropped) = self.dropped.as_mut() {
            if dropped.as_mut().poll(cx).is_ready() {
                self.dropped = None;
                return Poll::Ready(Some(Err(std::io::Error::other("connection dropped"))));
            }
        } else {
            return Poll::Ready(None);
        }
        Pin::new(&mut self.events)
            .poll_next(cx)
            .map(|frame| frame.map(Ok))
    }
}

/// The flushed items of the model, for the relay (it stores each and sends it on).
pub(super) fn flushed(
    items: impl Stream<Item = Result<Item<Bytes>, ModelError>> + Send + 'static,
    policy: Box<dyn tokenflush::policy::FlushPolicy + Send>,
) -> impl Stream<Item = Result<Item<Chunk>, ModelError>> + Send + 'static {
    use tokenflush::TryFlushExt;
    items.try_flush_with(policy)
}
