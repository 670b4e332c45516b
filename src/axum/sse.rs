//! [`Sse`]: a chunk stream as an axum response.

use std::fmt;

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use futures_core::Stream;

use crate::http_body::{SseBody, SseItem};
use crate::sse::{Format, KeepAlive, TextEvents};

/// An axum response streaming a chunk stream as Server-Sent Events: the event-stream headers
/// and an [`SseBody`] of one frame per chunk.
///
/// `S` yields [`Chunk`](crate::Chunk)s or `Result<Chunk, E>` with `E: Display`
/// ([`SseItem`]); an `Err` becomes the format's error event, the last one of the response.
/// Frames are plain `data:` events ([`TextEvents`]) unless [`with_format`](Self::with_format)
/// picks another format; [`with_event_ids`](Self::with_event_ids) numbers them and
/// [`with_keep_alive`](Self::with_keep_alive) sends comments while the model is quiet.
///
/// The response has status `200 OK` and the headers of [`sse::headers`](crate::sse::headers):
/// `content-type: text/event-stream`, `cache-control: no-cache, no-transform`,
/// `x-accel-buffering: no`. Wrap it in a tuple to add more, as with any axum response.
///
/// # Examples
///
/// A fallible model stream, in OpenAI's streaming format (feature `serde_json`):
///
#[cfg_attr(feature = "serde_json", doc = "```")]
#[cfg_attr(not(feature = "serde_json"), doc = "```ignore")]
/// use axum::response::IntoResponse;
/// use http_body_util::BodyExt;
/// use tokenflush::axum::Sse;
/// use tokenflush::sse::OpenAiChat;
/// use tokenflush::{policy::Immediate, TryFlushExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let tokens = futures::stream::iter([Ok("Hi"), Err("model overloaded")]);
/// let response = Sse::new(tokens.try_flush_with(Immediate::new()))
///     .with_format(OpenAiChat::new("chatcmpl-1", "gpt-4o").with_created(1_700_000_000))
///     .into_response();
/// assert_eq!(response.headers()["content-type"], "text/event-stream");
///
/// let body = response.into_body().collect().await.unwrap().to_bytes();
/// let body = std::str::from_utf8(&body).unwrap();
/// assert!(body.contains(r#""delta":{"content":"Hi"}"#));
/// assert!(body.ends_with("data: {\"error\":{\"message\":\"model overloaded\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n"));
/// # }
/// ```
#[must_use = "a response does nothing unless returned"]
pub struct Sse<S, F = TextEvents> {
    body: SseBody<S, F>,
}

impl<S> Sse<S>
where
    S: Stream,
    S::Item: SseItem,
{
    /// A response that frames each chunk of `chunks` as one plain `data:` event, without
    /// keep-alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// use http_body_util::BodyExt;
    /// use tokenflush::axum::Sse;
    /// use tokenflush::{policy::FixedBatch, FlushExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let chunks = futures::stream::iter(["a", "b", "c"]).flush_with(FixedBatch::new(2));
    /// let body = Sse::new(chunks).into_response().into_body().collect().await.unwrap();
    /// assert_eq!(body.to_bytes(), "data: ab\n\ndata: c\n\n");
    /// # }
    /// ```
    pub fn new(chunks: S) -> Self {
        Self {
            body: SseBody::new(chunks),
        }
    }
}

impl<S> Sse<S, TextEvents> {
    /// Gives the events ids counting up from `first` ([`TextEvents::with_event_ids`]): a
    /// browser's `EventSource` that reconnects sends the last one it saw as `Last-Event-ID`.
    ///
    /// # Examples
    ///
    /// ```
    /// use axum::response::IntoResponse;
    /// use http_body_util::BodyExt;
    /// use tokenflush::axum::Sse;
    /// use tokenflush::{policy::Immediate, FlushExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let chunks = futures::stream::iter(["a", "b"]).flush_with(Immediate::new());
    /// let response = Sse::new(chunks).with_event_ids(1).into_response();
    /// let body = response.into_body().collect().await.unwrap().to_bytes();
    /// assert_eq!(body, "id: 1\ndata: a\n\nid: 2\ndata: b\n\n");
    /// # }
    /// ```
    pub fn with_event_ids(self, first: u64) -> Self {
        Self {
            body: self.body.with_event_ids(first),
        }
    }
}

impl<S, F> Sse<S, F> {
    /// Frames the chunks in `format`: `OpenAiChat` or `AnthropicMessages` (feature
    /// `serde_json`), or your own [`Format`]. Keep-alive settings are kept.
    ///
    /// # Examples
    ///
    #[cfg_attr(feature = "serde_json", doc = "```")]
    #[cfg_attr(not(feature = "serde_json"), doc = "```ignore")]
    /// use tokenflush::axum::Sse;
    /// use tokenflush::sse::AnthropicMessages;
    /// use tokenflush::Chunk;
    ///
    /// let sse = Sse::new(futures::stream::empty::<Chunk>())
    ///     .with_format(AnthropicMessages::new("msg_1", "claude-sonnet-4-5"));
    /// assert_eq!(sse.format().id(), "msg_1");
    /// ```
    pub fn with_format<G: Format>(self, format: G) -> Sse<S, G>
    where
        S: Stream,
        S::Item: SseItem,
    {
        Sse {
            body: self.body.with_format(format),
        }
    }

    /// Sends keep-alive comments (or the format's keep-alive events) after an idle interval;
    /// see [`KeepAlive`]. Off by default; proxies and load balancers close connections that
    /// stay silent for about a minute, so turn it on for models that may think that long.
    ///
    /// # Panics
    ///
    /// The body needs a Tokio runtime with the time driver enabled when it waits for the
    /// interval; `axum::serve` provides one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenflush::axum::Sse;
    /// use tokenflush::sse::KeepAlive;
    /// use tokenflush::Chunk;
    ///
    /// let sse = Sse::new(futures::stream::empty::<Chunk>())
    ///     .with_keep_alive(KeepAlive::new().with_interval(Duration::from_secs(10)));
    /// assert_eq!(sse.keep_alive().unwrap().interval(), Duration::from_secs(10));
    /// ```
    pub fn with_keep_alive(self, keep_alive: KeepAlive) -> Self {
        Self {
            body: self.body.with_keep_alive(keep_alive),
        }
    }

    /// The keep-alive settings, if keep-alive is on.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::axum::Sse;
    /// use tokenflush::Chunk;
    ///
    /// assert!(Sse::new(futures::stream::empty::<Chunk>()).keep_alive().is_none());
    /// ```
    pub fn keep_alive(&self) -> Option<&KeepAlive> {
        self.body.keep_alive()
    }

    /// The format.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::axum::Sse;
    /// use tokenflush::Chunk;
    ///
    /// let sse = Sse::new(futures::stream::empty::<Chunk>()).with_event_ids(4);
    /// assert_eq!(sse.format().next_id(), Some(4));
    /// ```
    pub fn format(&self) -> &F {
        self.body.format()
    }

    /// The format, mutably.
    ///
    /// # Examples
    ///
    #[cfg_attr(feature = "serde_json", doc = "```")]
    #[cfg_attr(not(feature = "serde_json"), doc = "```ignore")]
    /// use tokenflush::axum::Sse;
    /// use tokenflush::sse::OpenAiChat;
    /// use tokenflush::Chunk;
    ///
    /// let mut sse = Sse::new(futures::stream::empty::<Chunk>()).with_format(OpenAiChat::new("c", "m"));
    /// sse.format_mut().set_finish_reason("length");
    /// assert_eq!(sse.format().finish_reason(), "length");
    /// ```
    pub fn format_mut(&mut self) -> &mut F {
        self.body.format_mut()
    }

    /// The body, without the headers.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::axum::Sse;
    /// use tokenflush::Chunk;
    ///
    /// let body = Sse::new(futures::stream::empty::<Chunk>()).into_body();
    /// assert!(body.keep_alive().is_none());
    /// ```
    pub fn into_body(self) -> SseBody<S, F> {
        self.body
    }
}

impl<S, F> From<SseBody<S, F>> for Sse<S, F> {
    /// The response for `body`, with its settings.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::axum::Sse;
    /// use tokenflush::http_body::SseBody;
    /// use tokenflush::Chunk;
    ///
    /// let body = SseBody::new(futures::stream::empty::<Chunk>()).with_event_ids(7);
    /// assert_eq!(Sse::from(body).format().next_id(), Some(7));
    /// ```
    fn from(body: SseBody<S, F>) -> Self {
        Self { body }
    }
}

impl<S, F> IntoResponse for Sse<S, F>
where
    S: Stream + Send + 'static,
    S::Item: SseItem,
    F: Format + Send + 'static,
{
    fn into_response(self) -> Response {
        self.body.into_response().map(Body::new)
    }
}

impl<S: fmt::Debug, F: fmt::Debug> fmt::Debug for Sse<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sse").field("body", &self.body).finish()
    }
}
