//! Server-Sent Events, in three parts: [encoding](EncodeSseExt) chunks into frames that no model
//! output can forge (server side), the wire formats of LLM APIs ([`Format`]), and a
//! [parser](Parser) by the WHATWG rules (client side).
//!
//! | part | items | for |
//! |---|---|---|
//! | encode | [`EncodeSseExt::encode_sse`] → [`EncodeSse`] (a `Stream` of frames, an HTTP body, a response), [`Event`], [`KeepAlive`], [`headers`] | servers: one frame per chunk, keep-alive comments, the headers that get events through proxies unbuffered |
//! | format | [`Format`], [`TextEvents`], [`OpenAiChat`], [`OpenAiResponses`], [`AnthropicMessages`]; `Decode` (feature `llm-parse`) | what events a stream of chunks or typed items becomes: plain `data:` events, or an LLM API's streaming format; and back, items from an API's events |
//! | parse | [`Parser`], [`ParseSseExt::parse_sse`] → [`ParseSse`] | clients and proxies: events from a body fed in pieces of any size |
//!
//! ```
//! use std::time::Duration;
//! use futures::StreamExt;
//! use tokenflush::sse::{EncodeSseExt, KeepAlive, ParseSseExt, Parser};
//! use tokenflush::{policy::TimeBounded, FlushExt};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let tokens = futures::stream::iter(["Hello", ",\nworld"]);
//! let frames: Vec<_> = tokens
//!     .flush_with(TimeBounded::new(4, Duration::from_millis(100)))
//!     .encode_sse()
//!     .with_keep_alive(KeepAlive::new())
//!     .collect()
//!     .await;
//! assert_eq!(frames, ["data: Hello\n\n", "data: ,\ndata: world\n\n"]);
//!
//! // A client reads the same text back, line breaks and all.
//! let body = futures::stream::iter(frames.into_iter().map(Ok::<_, std::io::Error>));
//! let events: Vec<_> = body.parse_sse(Parser::new()).collect().await;
//! assert_eq!(events[1].as_ref().unwrap().data(), ",\nworld");
//! # }
//! ```
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
//! use tokenflush::sse::{EncodeSseExt, TextEvents};
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
//! [`EncodeSse`] is the response body: an `http_body::Body` (feature `http-body`; its
//! `into_http_response` adds the headers) and an axum `IntoResponse` (feature `axum`). For another
//! framework, send [`headers`] with the frames: `Content-Type: text/event-stream`,
//! `Cache-Control: no-cache, no-transform` (no cache may store or rewrite the stream) and
//! `X-Accel-Buffering: no` (nginx then passes each frame on at once, without
//! `proxy_buffering off` in its configuration). There is no `Connection` header — it is
//! illegal in HTTP/2 and HTTP/3, where a server that sends it breaks the response — and no
//! `Content-Length`: the length of a stream is not known in advance.
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
//! # Errors become a last event
//!
//! When upstream yields `Err(error)` (from [`try_flush_with`](crate::TryFlushExt::try_flush_with)),
//! the stream sends the text buffered before it (the flush adapter already flushed it), then
//! one last event carrying `error`'s `Display` text, and ends cleanly: the client learns why
//! the answer stops instead of seeing a connection cut short. The event is the format's
//! ([`Format::error`]): `event: error` with `{"message": …}` for
//! [`TextEvents`], the API's own error event for the LLM formats.
//!
//! # Cancellation
//!
//! The body owns the chunk stream, which owns the token stream. When the client goes away,
//! the server drops the response body, and with it the token stream, at once: a model client
//! that stops generating when dropped (a cancelled request to the model server, a dropped
//! channel) stops when the reader does.
//!
//! # Parsing
//!
//! [`Parser`] reads event streams by the WHATWG rules, fed bytes in pieces of any size. It is
//! what the tests here check the encoder against, and what a Rust client of an LLM API or a
//! proxy uses to read one; see its documentation for the rules and the bounds it keeps. With
//! the `llm-parse` feature, `Decode` turns the events of the LLM formats into typed items
//! ([`llm::Item`](crate::llm::Item)): the client side of [`OpenAiChat`], [`OpenAiResponses`]
//! and [`AnthropicMessages`].

mod encode;
mod format;
mod lines;
mod parse;

#[cfg(all(feature = "http-body", feature = "resume"))]
pub(crate) use encode::{frames_body, insert_headers};
pub use encode::{headers, EncodeSse, EncodeSseExt, Event, EventError, KeepAlive, SseItem};
pub use format::{AnthropicMessages, Format, OpenAiChat, OpenAiResponses, TextEvents};
#[cfg(feature = "llm-parse")]
pub use format::{Decode, DecodeError};
#[cfg(feature = "llm-parse")]
pub use parse::ParseItems;
pub use parse::{ParseError, ParseSse, ParseSseExt, ParsedEvent, Parser};
