//! An HTTP body of Server-Sent Events for hyper and other servers built on the `http` crates
//! (feature `http-body`).
//!
//! [`SseBody`] turns a stream of [`Chunk`]s — from
//! [`flush_with`](crate::FlushExt::flush_with), or `Result`s from
//! [`try_flush_with`](crate::TryFlushExt::try_flush_with) — into an [`http_body::Body`] that
//! yields one frame per chunk, framed by the [`sse`](crate::sse) encoders (plain events, event
//! ids, or an LLM API's format), with optional [`KeepAlive`](crate::sse::KeepAlive) comments.
//! [`SseBody::into_response`] wraps it in an `http::Response` with the
//! [headers](crate::sse::headers) that get an event stream through proxies unbuffered.
//!
//! # Errors become a last event
//!
//! When upstream yields `Err(error)`, the body sends the text buffered before it (the flush
//! adapter already flushed it), then one last event carrying `error`'s `Display` text, and
//! ends cleanly: the client learns why the answer stops instead of seeing a connection cut
//! short. The event is the format's ([`Format::error`](crate::sse::Format::error)):
//!
//! | format | the last event |
//! |---|---|
//! | [`TextEvents`](crate::sse::TextEvents) (the default) | `event: error` and `data: {"message":"…"}` |
//! | `OpenAiChat` | `data: {"error":{"message":"…","type":"server_error","param":null,"code":null}}`, which OpenAI's SDKs raise |
//! | `AnthropicMessages` | `event: error` and `data: {"type":"error","error":{"type":"api_error","message":"…"}}`, which Anthropic's SDKs raise |
//!
//! The message reaches the client verbatim: map errors that may hold secrets (upstream URLs,
//! keys, internal paths) to something fit to show before they reach the body, for example
//! with `futures::TryStreamExt::map_err`.
//!
//! # Cancellation
//!
//! The body owns the chunk stream, which owns the token stream. When the client goes away,
//! the server drops the response body, and with it the token stream, at once: a model client
//! that stops generating when dropped (a cancelled request to the model server, a dropped
//! channel) stops when the reader does.
//!
//! # Examples
//!
//! A hyper server that streams a model's tokens:
//!
//! ```
//! use std::convert::Infallible;
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use hyper::body::{Body, Incoming};
//! use hyper::{server::conn::http1, service::service_fn, Request};
//! use hyper_util::rt::TokioIo;
//! use tokenflush::http_body::SseBody;
//! use tokenflush::{policy::TimeBounded, sse::KeepAlive, FlushExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! async fn answer(
//!     _request: Request<Incoming>,
//! ) -> Result<hyper::Response<impl Body<Data = Bytes, Error = Infallible>>, Infallible> {
//!     # let model_tokens = futures::stream::iter(["Hello", ",", " world"]);
//!     // `model_tokens`: any Stream of tokens, e.g. from a model client.
//!     let chunks = model_tokens.flush_with(TimeBounded::new(4, Duration::from_millis(100)));
//!     Ok(SseBody::new(chunks).with_keep_alive(KeepAlive::new()).into_response())
//! }
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! # let address = listener.local_addr()?;
//! tokio::spawn(async move {
//!     loop {
//!         let Ok((socket, _)) = listener.accept().await else { continue };
//!         tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(socket), service_fn(answer)));
//!     }
//! });
//! # let socket = tokio::net::TcpStream::connect(address).await?;
//! # let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(socket)).await?;
//! # tokio::spawn(connection);
//! # let request = Request::get("/").body(http_body_util::Empty::<bytes::Bytes>::new())?;
//! # let response = sender.send_request(request).await?;
//! # assert_eq!(response.headers()["content-type"], "text/event-stream");
//! # use http_body_util::BodyExt;
//! # let body = response.into_body().collect().await?.to_bytes();
//! # assert_eq!(body, "data: Hello\n\ndata: , world\n\n");
//! # Ok(())
//! # }
//! ```

mod sse_body;

pub use sse_body::SseBody;

use std::convert::Infallible;
use std::fmt::Display;

use crate::Chunk;

/// An item of a chunk stream that an [`SseBody`] serves: a [`Chunk`], or a `Result<Chunk, E>`
/// whose error ends the stream with an error event (see the
/// [module docs](self#errors-become-a-last-event)).
///
/// Implemented for `Chunk` (what [`flush_with`](crate::FlushExt::flush_with) yields) and
/// `Result<Chunk, E>` for any `E: Display` (what
/// [`try_flush_with`](crate::TryFlushExt::try_flush_with) yields); it is sealed.
///
/// # Examples
///
/// ```
/// use tokenflush::http_body::SseItem;
/// use tokenflush::Chunk;
///
/// fn servable<T: SseItem>() {}
/// servable::<Chunk>();
/// servable::<Result<Chunk, std::io::Error>>();
/// ```
pub trait SseItem: sealed::Sealed {
    /// The error the item may carry: [`Infallible`] for a plain `Chunk`.
    type Error: Display;

    /// The chunk, or the error that ends the stream.
    ///
    /// # Errors
    ///
    /// The error the item carried.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::http_body::SseItem;
    /// use tokenflush::Chunk;
    ///
    /// let item: Result<Chunk, &str> = Err("model overloaded");
    /// assert_eq!(item.into_result().unwrap_err(), "model overloaded");
    /// ```
    fn into_result(self) -> Result<Chunk, Self::Error>;
}

impl SseItem for Chunk {
    type Error = Infallible;

    fn into_result(self) -> Result<Chunk, Infallible> {
        Ok(self)
    }
}

impl<E: Display> SseItem for Result<Chunk, E> {
    type Error = E;

    fn into_result(self) -> Result<Chunk, E> {
        self
    }
}

mod sealed {
    pub trait Sealed {}

    impl Sealed for crate::Chunk {}

    impl<E> Sealed for Result<crate::Chunk, E> {}
}
