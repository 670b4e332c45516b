//! Server-Sent Events: framing that no model output can forge, keep-alive, response headers,
//! LLM wire formats, and an incremental parser.
//!
//! | item | what it does |
//! |---|---|
//! | [`SseExt::encode_sse`] | `Stream<Item = Chunk>` → `Stream<Item = Bytes>`: one frame per chunk, optional ids and [`KeepAlive`] (also `&Chunk`, `Arc<Chunk>`: anything that borrows as a chunk) |
//! | [`SseExt::try_encode_sse`] | the same for `Stream<Item = Result<Chunk, E>>` (from [`try_flush_with`](crate::TryFlushExt::try_flush_with)) |
//! | [`Event`] | one event, built like axum's; [`to_bytes`](Event::to_bytes) or [`write_to`](Event::write_to) a buffer |
//! | [`headers`] | the response headers an event stream needs to get through proxies unbuffered |
//! | [`OpenAiChat`], [`AnthropicMessages`] | the streaming formats of those APIs (feature `serde_json`) |
//! | [`Parser`], [`SseExt::parse_sse`] | an incremental parser by the WHATWG rules, for clients and tests |
//!
//! # Framing
//!
//! An event stream is lines of `field: value`, and a blank line ends an event. Text from a
//! model is hostile to that format: a line break inside it would end the `data:` line, and
//! whatever follows (`event: admin`, a blank line, `id: 0`) would be read as fields or as a new
//! event. The encoder therefore splits data at every line break — CRLF counts once, a lone CR
//! and a lone LF each count, as they do for every client — and writes each line as its own
//! `data: ` line, always with the space so that leading spaces survive. Any model output comes
//! out of a conforming client as exactly one event with exactly that text, its line breaks as
//! LF. Empty data is one empty `data:` line (the client receives `""`). U+2028, U+2029,
//! U+0085, NUL, VT and FF are not line breaks in this format and pass through.
//!
//! Fields that cannot be split — the event type, the id, a comment — are rejected with an
//! [`EventError`] when they hold CR or LF (or, for an id, NUL, which makes clients ignore it):
//! never a panic, never a frame that a parser reads differently.
//!
//! ```
//! use futures::StreamExt;
//! use tokenflush::sse::{SseExt, TextEvents};
//! use tokenflush::Chunk;
//!
//! # futures::executor::block_on(async {
//! let chunks = ["Hello", "\r\nevent: admin\n\ndata: forged"].map(|text| Chunk::new(text).unwrap());
//! let frames: Vec<_> = futures::stream::iter(chunks)
//!     .encode_sse_as(TextEvents::new().with_event_ids(1))
//!     .collect()
//!     .await;
//! assert_eq!(frames[0], "id: 1\ndata: Hello\n\n");
//! assert_eq!(
//!     frames[1],
//!     "id: 2\ndata:\ndata: event: admin\ndata:\ndata: data: forged\n\n",
//! );
//! # });
//! ```
//!
//! # Serving: headers, proxies and compression
//!
//! Send [`headers`] with the response: `Content-Type: text/event-stream`,
//! `Cache-Control: no-cache, no-transform` (no cache may store or rewrite the stream) and
//! `X-Accel-Buffering: no` (nginx then passes each frame on at once, without
//! `proxy_buffering off` in its configuration). There is no `Connection` header — it is
//! illegal in HTTP/2 and HTTP/3, where a server that sends it breaks the response — and no
//! `Content-Length`: the length of a stream is not known in advance, and the server's
//! chunked encoding (HTTP/1.1) or DATA frames (HTTP/2) delimit it.
//!
//! Proxies buffer by default. For nginx, `X-Accel-Buffering: no` is enough for one location;
//! to configure it, use `proxy_buffering off;` (and `proxy_cache off;`) on the SSE location,
//! `proxy_http_version 1.1;`, and a `proxy_read_timeout` longer than the keep-alive interval
//! (nginx closes upstream connections silent for 60 s by default; the default keep-alive
//! sends a comment every 15 s). Load balancers and CDNs have similar idle timeouts and
//! response buffering switches.
//!
//! Compression must stay off SSE responses. A compressor (gzip, brotli, zstd — in the
//! server, as tower-http's `CompressionLayer`, or in a proxy, as nginx's `gzip on`) collects
//! its input until it has a block worth compressing, so tokens sit in its buffer for seconds —
//! exactly the lag this crate removes — and flushing it after every frame makes the output
//! larger than the input. tower-http's default predicate already skips `text/event-stream`;
//! `no-transform` asks intermediaries not to compress either. Compressing secrets together
//! with text an attacker can influence also leaks them (BREACH), and model output often
//! echoes user input.
//!
//! ```
//! use tokenflush::sse;
//!
//! assert_eq!(
//!     sse::headers(),
//!     [
//!         ("content-type", "text/event-stream"),
//!         ("cache-control", "no-cache, no-transform"),
//!         ("x-accel-buffering", "no"),
//!     ],
//! );
//! ```
//!
//! # Parsing
//!
//! [`Parser`] reads event streams by the WHATWG rules, fed bytes in pieces of any size. It is
//! what the tests here check the encoder against, and what a Rust client of an LLM API can use
//! to read one; see its documentation for the rules.
#![cfg_attr(
    feature = "serde_json",
    doc = "\n\n[`OpenAiChat`]: crate::sse::OpenAiChat\n[`AnthropicMessages`]: crate::sse::AnthropicMessages"
)]
#![cfg_attr(
    not(feature = "serde_json"),
    doc = "\n\n[`OpenAiChat`]: https://docs.rs/tokenflush/latest/tokenflush/sse/struct.OpenAiChat.html\n[`AnthropicMessages`]: https://docs.rs/tokenflush/latest/tokenflush/sse/struct.AnthropicMessages.html"
)]

mod encode_sse;
mod encoder;
mod event;
mod format;
mod keep_alive;
mod lines;
mod parse;
mod parse_sse;
mod try_encode_sse;

#[cfg(feature = "serde_json")]
mod anthropic;
#[cfg(feature = "serde_json")]
mod openai;

#[cfg(feature = "serde_json")]
pub use anthropic::AnthropicMessages;
pub use encode_sse::EncodeSse;
pub use event::{Event, EventError};
pub use format::{Format, TextEvents};
pub use keep_alive::{KeepAlive, KeepAliveError};
#[cfg(feature = "serde_json")]
pub use openai::OpenAiChat;
pub use parse::{Frame, ParseError, ParsedEvent, Parser};
pub use parse_sse::{ParseSse, ParseSseError};
pub use try_encode_sse::TryEncodeSse;

use std::borrow::Borrow;

use futures_core::{Stream, TryStream};

use crate::Chunk;

/// The `Content-Type` of an event stream: `text/event-stream` (always UTF-8; no charset
/// parameter is needed).
///
/// # Examples
///
/// ```
/// assert_eq!(tokenflush::sse::CONTENT_TYPE, "text/event-stream");
/// ```
pub const CONTENT_TYPE: &str = "text/event-stream";

/// The `Cache-Control` of an event stream: `no-cache, no-transform` — no cache stores it, and
/// no intermediary rewrites (compresses) it.
///
/// # Examples
///
/// ```
/// assert_eq!(tokenflush::sse::CACHE_CONTROL, "no-cache, no-transform");
/// ```
pub const CACHE_CONTROL: &str = "no-cache, no-transform";

/// The `X-Accel-Buffering` of an event stream: `no`, which makes nginx pass each frame on
/// at once instead of buffering the response.
///
/// # Examples
///
/// ```
/// assert_eq!(tokenflush::sse::X_ACCEL_BUFFERING, "no");
/// ```
pub const X_ACCEL_BUFFERING: &str = "no";

/// The response headers of an event stream, as lowercase `(name, value)` pairs: content type,
/// cache control and `x-accel-buffering` (see the [module docs](self#serving-headers-proxies-and-compression)).
///
/// The names are lowercase, as HTTP/2 requires and as `http::HeaderName::from_static`
/// accepts. There is deliberately no `Connection` and no `Content-Length`.
///
/// # Examples
///
/// ```
/// use axum::http::{HeaderName, HeaderValue, Response};
///
/// let mut response = Response::new(());
/// for (name, value) in tokenflush::sse::headers() {
///     response
///         .headers_mut()
///         .insert(HeaderName::from_static(name), HeaderValue::from_static(value));
/// }
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
/// ```
#[must_use]
pub const fn headers() -> [(&'static str, &'static str); 3] {
    [
        ("content-type", CONTENT_TYPE),
        ("cache-control", CACHE_CONTROL),
        ("x-accel-buffering", X_ACCEL_BUFFERING),
    ]
}

/// Adds SSE encoding to streams of [`Chunk`]s and SSE parsing to streams of bytes.
pub trait SseExt: Stream {
    /// Frames each chunk as one plain `data:` event ([`TextEvents`]).
    ///
    /// The frames are [`Bytes`](bytes::Bytes), ready for an HTTP body; the chunk's text is
    /// copied once, into the frame. Add [`with_keep_alive`](EncodeSse::with_keep_alive) for
    /// comments while the model is quiet. Dropping the adapter drops the upstream stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use tokenflush::sse::SseExt;
    /// use tokenflush::{policy::TimeBounded, FlushExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let tokens = futures::stream::iter(["The", " answer", " is", " 42"]);
    /// let frames: Vec<_> = tokens
    ///     .flush_with(TimeBounded::new(2, Duration::from_millis(50)))
    ///     .encode_sse()
    ///     .collect()
    ///     .await;
    /// assert_eq!(frames, ["data: The\n\n", "data:  answer is\n\n", "data:  42\n\n"]);
    /// # }
    /// ```
    fn encode_sse(self) -> EncodeSse<Self, TextEvents>
    where
        Self: Sized,
        Self::Item: Borrow<Chunk>,
    {
        EncodeSse::new(self, TextEvents::new())
    }

    /// Frames the chunks in `format`: [`TextEvents`] with ids, an LLM API's format, or your
    /// own [`Format`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::sse::{SseExt, TextEvents};
    /// use tokenflush::Chunk;
    ///
    /// # futures::executor::block_on(async {
    /// let chunks = futures::stream::iter([Chunk::new("a").unwrap()]);
    /// let frames: Vec<_> = chunks.encode_sse_as(TextEvents::new().with_event_ids(0)).collect().await;
    /// assert_eq!(frames, ["id: 0\ndata: a\n\n"]);
    /// # });
    /// ```
    fn encode_sse_as<F: Format>(self, format: F) -> EncodeSse<Self, F>
    where
        Self: Sized,
        Self::Item: Borrow<Chunk>,
    {
        EncodeSse::new(self, format)
    }

    /// Like [`encode_sse`](Self::encode_sse), for a fallible stream: yields `Ok(frame)`s,
    /// and ends after the first upstream error, which it yields as `Err`.
    ///
    /// Nothing follows an error: no closing events, no keep-alive. As an HTTP body (for
    /// example axum's `Body::from_stream`), the `Err` aborts the response, which a client sees
    /// as a stream cut short ([`Parser::finish`] reports [`ParseError::Truncated`]), never as a
    /// complete answer. To tell the client why instead, turn the error into a last event; the
    /// stream still ends after it:
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::sse::{Event, SseExt};
    /// use tokenflush::{policy::Immediate, TryFlushExt};
    ///
    /// # futures::executor::block_on(async {
    /// let tokens = futures::stream::iter([Ok("Hel"), Ok("lo"), Err("model overloaded")]);
    /// let frames: Vec<_> = tokens
    ///     .try_flush_with(Immediate::new())
    ///     .try_encode_sse()
    ///     .map(|frame| {
    ///         frame.or_else(|error| Event::default().event("error").data(error).to_bytes())
    ///     })
    ///     .collect()
    ///     .await;
    /// assert_eq!(frames[2].as_ref().unwrap(), "event: error\ndata: model overloaded\n\n");
    /// assert_eq!(frames.len(), 3);
    /// # });
    /// ```
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::sse::SseExt;
    /// use tokenflush::Chunk;
    ///
    /// # futures::executor::block_on(async {
    /// let chunks = futures::stream::iter([Err("boom"), Ok(Chunk::new("never sent").unwrap())]);
    /// let frames: Vec<_> = chunks.try_encode_sse().collect().await;
    /// assert_eq!(frames, [Err("boom")]);
    /// # });
    /// ```
    fn try_encode_sse(self) -> TryEncodeSse<Self, TextEvents>
    where
        Self: Sized + TryStream,
        Self::Ok: Borrow<Chunk>,
    {
        TryEncodeSse::new(self, TextEvents::new())
    }

    /// Like [`encode_sse_as`](Self::encode_sse_as), for a fallible stream; see
    /// [`try_encode_sse`](Self::try_encode_sse).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::sse::{SseExt, TextEvents};
    /// use tokenflush::Chunk;
    ///
    /// # futures::executor::block_on(async {
    /// let chunks = futures::stream::iter([Ok::<_, ()>(Chunk::new("a").unwrap())]);
    /// let frames: Vec<_> = chunks
    ///     .try_encode_sse_as(TextEvents::new().with_event_ids(9))
    ///     .collect()
    ///     .await;
    /// assert_eq!(frames, [Ok("id: 9\ndata: a\n\n".into())]);
    /// # });
    /// ```
    fn try_encode_sse_as<F: Format>(self, format: F) -> TryEncodeSse<Self, F>
    where
        Self: Sized + TryStream,
        Self::Ok: Borrow<Chunk>,
    {
        TryEncodeSse::new(self, format)
    }

    /// Parses a stream of byte pieces (an HTTP response body) into events with `parser`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::sse::{Parser, SseExt};
    ///
    /// # futures::executor::block_on(async {
    /// let body = futures::stream::iter(["data: Hel", "lo\n", "\n"].map(Ok::<_, std::io::Error>));
    /// let events: Vec<_> = body.parse_sse(Parser::new()).collect().await;
    /// assert_eq!(events.len(), 1);
    /// assert_eq!(events[0].as_ref().unwrap().data(), "Hello");
    /// # });
    /// ```
    fn parse_sse<B, E>(self, parser: Parser) -> ParseSse<Self>
    where
        Self: Sized + Stream<Item = Result<B, E>>,
        B: AsRef<[u8]>,
    {
        ParseSse::new(self, parser)
    }
}

impl<S: Stream + ?Sized> SseExt for S {}
