//! Chunk streams as axum responses (feature `axum`, for axum 0.8).
//!
//! [`Sse`] wraps a stream of [`Chunk`](crate::Chunk)s — or of `Result<Chunk, E>`, from
//! [`try_flush_with`](crate::TryFlushExt::try_flush_with) — and implements
//! [`IntoResponse`](axum_core::response::IntoResponse): the event-stream
//! [headers](crate::sse::headers) that get it through proxies unbuffered, and a body of one
//! frame per chunk ([`SseBody`](crate::http_body::SseBody)) with optional keep-alive, event ids
//! or an LLM API's format. An upstream error becomes the format's last error event, not a
//! stream silently cut short; see
//! [the `http_body` module](crate::http_body#errors-become-a-last-event) for the exact events.
//!
//! When the client goes away, axum drops the response body and with it the chunk stream and
//! the token stream under it, so the model stops generating.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//!
//! use axum::{routing::get, Router};
//! use tokenflush::axum::Sse;
//! use tokenflush::{policy::TimeBounded, sse::KeepAlive, FlushExt};
//!
//! async fn answer() -> Sse<impl futures::Stream<Item = tokenflush::Chunk>> {
//!     # let model_tokens = futures::stream::iter(["Hello", ",", " world"]);
//!     // `model_tokens`: any Stream of tokens, e.g. from a model client.
//!     let chunks = model_tokens.flush_with(TimeBounded::new(4, Duration::from_millis(100)));
//!     Sse::new(chunks).with_keep_alive(KeepAlive::new())
//! }
//!
//! let app: Router = Router::new().route("/answer", get(answer));
//! # let _ = app;
//! ```

mod sse;

pub use sse::Sse;
