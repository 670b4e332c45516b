//! Server side: chunks in, SSE frames out — the framing, keep-alive, the response headers and
//! the HTTP body. The user-facing story is in the `sse` module's docs.

#[cfg(feature = "axum")]
mod axum;
mod encode_sse;
mod event;
#[cfg(feature = "http-body")]
mod http_body;
mod keep_alive;
mod sse_item;

pub use encode_sse::EncodeSse;
pub(crate) use event::{write_data, write_decimal, write_field, write_json_string};
pub use event::{Event, EventError};
#[cfg(all(feature = "http-body", feature = "resume"))]
pub(crate) use http_body::{frames_body, insert_headers};
pub use keep_alive::KeepAlive;
pub use sse_item::SseItem;

use futures_core::Stream;

use crate::sse::{Format, TextEvents};

/// The response headers of an event stream, as lowercase `(name, value)` pairs: content type,
/// cache control and `x-accel-buffering` (see [Serving](crate::sse#serving-headers-proxies-and-compression)).
///
/// The names are lowercase, as HTTP/2 requires and as `http::HeaderName::from_static`
/// accepts. There is deliberately no `Connection` and no `Content-Length`.
///
/// # Examples
///
/// ```
/// assert_eq!(
///     tokenflush::sse::headers(),
///     [
///         ("content-type", "text/event-stream"),
///         ("cache-control", "no-cache, no-transform"),
///         ("x-accel-buffering", "no"),
///     ],
/// );
/// ```
#[must_use]
pub const fn headers() -> [(&'static str, &'static str); 3] {
    [
        ("content-type", "text/event-stream"),
        ("cache-control", "no-cache, no-transform"),
        ("x-accel-buffering", "no"),
    ]
}

/// Adds SSE encoding to streams of chunks ([`SseItem`]s).
pub trait EncodeSseExt: Stream {
    /// Frames each chunk as one plain `data:` event ([`TextEvents`]).
    ///
    /// The frames are [`Bytes`](bytes::Bytes), ready for an HTTP body; the chunk's text is
    /// copied once, into the frame. Add [`with_keep_alive`](EncodeSse::with_keep_alive) for
    /// comments while the model is quiet. Dropping the stream drops the upstream stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use tokenflush::sse::EncodeSseExt;
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
        Self::Item: SseItem,
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
    /// use tokenflush::sse::{EncodeSseExt, TextEvents};
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
        Self::Item: SseItem,
    {
        EncodeSse::new(self, format)
    }
}

impl<S: Stream + ?Sized> EncodeSseExt for S {}
