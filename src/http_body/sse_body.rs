//! [`SseBody`]: a chunk stream as an HTTP body of SSE frames.

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use ::http_body::{Body, Frame, SizeHint};
use bytes::{Bytes, BytesMut};
use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use super::SseItem;
use crate::sse::{Format, KeepAlive, SseExt, TextEvents, TryEncodeSse};
use crate::Chunk;

pin_project! {
    /// An HTTP body of Server-Sent Events: one frame per chunk of `S`, in the format `F`.
    ///
    /// `S` is a stream of [`Chunk`]s or of `Result<Chunk, E>` ([`SseItem`]). The body yields
    /// each chunk as one data frame, framed by the [`sse`](crate::sse) encoder for `F`
    /// ([`TextEvents`] unless [`with_format`](Self::with_format) says otherwise), with the
    /// format's opening and closing events, and keep-alive comments if
    /// [`with_keep_alive`](Self::with_keep_alive) is on. An `Err` from upstream becomes the
    /// format's [error event](Format::error) and ends the body (see the
    /// [module docs](super#errors-become-a-last-event)), so the body itself never fails.
    ///
    /// It is an [`http_body::Body`] for hyper (the length is unknown, so HTTP/1.1 sends it
    /// chunked; [`is_end_stream`](Body::is_end_stream) turns true once it has ended) and a
    /// `Stream` of the same frames as [`Bytes`], for servers that take a stream.
    /// [`into_response`](Self::into_response) adds the status and headers. Dropping the body
    /// drops `S` at once.
    ///
    /// # Cancel safety
    ///
    /// Polling is cancel safe: a chunk is framed only in the poll that returns its frame.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::http_body::SseBody;
    /// use tokenflush::{policy::Immediate, TryFlushExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let tokens = futures::stream::iter([Ok("Hel"), Ok("lo"), Err("model overloaded")]);
    /// let body = SseBody::new(tokens.try_flush_with(Immediate::new())).with_event_ids(1);
    /// let frames: Vec<_> = body.collect().await;
    /// assert_eq!(
    ///     frames,
    ///     [
    ///         "id: 1\ndata: Hel\n\n",
    ///         "id: 2\ndata: lo\n\n",
    ///         "event: error\ndata: {\"message\":\"model overloaded\"}\n\n",
    ///     ],
    /// );
    /// # }
    /// ```
    #[must_use = "bodies do nothing unless polled"]
    pub struct SseBody<S, F = TextEvents> {
        #[pin]
        frames: TryEncodeSse<Items<S>, F>,
    }
}

impl<S> SseBody<S>
where
    S: Stream,
    S::Item: SseItem,
{
    /// A body that frames each chunk of `chunks` as one plain `data:` event ([`TextEvents`]),
    /// without keep-alive.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::http_body::SseBody;
    /// use tokenflush::{policy::FixedBatch, FlushExt};
    ///
    /// # futures::executor::block_on(async {
    /// let chunks = futures::stream::iter(["a", "b", "c"]).flush_with(FixedBatch::new(2));
    /// let frames: Vec<_> = SseBody::new(chunks).collect().await;
    /// assert_eq!(frames, ["data: ab\n\n", "data: c\n\n"]);
    /// # });
    /// ```
    pub fn new(chunks: S) -> Self {
        Self {
            frames: Items { upstream: chunks }.try_encode_sse(),
        }
    }
}

impl<S> SseBody<S, TextEvents> {
    /// Gives the events ids counting up from `first`, so a client that reconnects can say
    /// which chunk it saw last (`Last-Event-ID`); see [`TextEvents::with_event_ids`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::http_body::SseBody;
    /// use tokenflush::Chunk;
    ///
    /// let body = SseBody::new(futures::stream::empty::<Chunk>()).with_event_ids(10);
    /// assert_eq!(body.format().next_id(), Some(10));
    /// ```
    pub fn with_event_ids(mut self, first: u64) -> Self {
        *self.frames.format_mut() = TextEvents::new().with_event_ids(first);
        self
    }
}

impl<S, F> SseBody<S, F> {
    /// Frames the chunks in `format` instead: an LLM API's format (`OpenAiChat`,
    /// `AnthropicMessages`, feature `serde_json`) or your own [`Format`]. Keep-alive settings
    /// are kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use futures::StreamExt;
    /// use tokenflush::http_body::SseBody;
    /// use tokenflush::sse::{Event, Format};
    /// use tokenflush::Chunk;
    ///
    /// /// Each chunk as an `event: token`.
    /// #[derive(Debug)]
    /// struct Tokens;
    ///
    /// impl Format for Tokens {
    ///     fn chunk(&mut self, chunk: &Chunk, out: &mut BytesMut) {
    ///         let _ = Event::default().event("token").data(chunk.as_str()).write_to(out);
    ///     }
    /// }
    ///
    /// # futures::executor::block_on(async {
    /// let chunks = futures::stream::iter([Chunk::new("Hi").unwrap()]);
    /// let frames: Vec<_> = SseBody::new(chunks).with_format(Tokens).collect().await;
    /// assert_eq!(frames, ["event: token\ndata: Hi\n\n"]);
    /// # });
    /// ```
    pub fn with_format<G: Format>(self, format: G) -> SseBody<S, G>
    where
        S: Stream,
        S::Item: SseItem,
    {
        let keep_alive = self.frames.keep_alive().cloned();
        let mut frames = self.frames.into_inner().try_encode_sse_as(format);
        if let Some(keep_alive) = keep_alive {
            frames = frames.with_keep_alive(keep_alive);
        }
        SseBody { frames }
    }

    /// Sends keep-alive comments (or the format's keep-alive events) while upstream is quiet;
    /// see [`KeepAlive`]. Off by default.
    ///
    /// # Panics
    ///
    /// With keep-alive on, the body needs a Tokio runtime with the time driver enabled when it
    /// is first polled while upstream is quiet (hyper and axum servers on Tokio have one);
    /// polled outside one, it panics as [`tokio::time::sleep`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use tokenflush::http_body::SseBody;
    /// use tokenflush::sse::KeepAlive;
    /// use tokenflush::Chunk;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // A model that thinks for 20 s before its only chunk.
    /// let chunks = futures::stream::once(async {
    ///     tokio::time::sleep(Duration::from_secs(20)).await;
    ///     Chunk::new("42").unwrap()
    /// });
    /// let body = SseBody::new(chunks).with_keep_alive(KeepAlive::new());
    /// assert_eq!(body.collect::<Vec<_>>().await, [": ping\n\n", "data: 42\n\n"]);
    /// # }
    /// ```
    pub fn with_keep_alive(self, keep_alive: KeepAlive) -> Self {
        Self {
            frames: self.frames.with_keep_alive(keep_alive),
        }
    }

    /// The keep-alive settings, if keep-alive is on.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::http_body::SseBody;
    /// use tokenflush::Chunk;
    ///
    /// assert!(SseBody::new(futures::stream::empty::<Chunk>()).keep_alive().is_none());
    /// ```
    pub fn keep_alive(&self) -> Option<&KeepAlive> {
        self.frames.keep_alive()
    }

    /// The format.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::http_body::SseBody;
    /// use tokenflush::Chunk;
    ///
    /// let body = SseBody::new(futures::stream::empty::<Chunk>());
    /// assert_eq!(body.format().next_id(), None);
    /// ```
    pub fn format(&self) -> &F {
        self.frames.format()
    }

    /// The format, mutably: a format with settings for the end (a finish reason) can be told
    /// while the body streams.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::http_body::SseBody;
    /// use tokenflush::sse::TextEvents;
    /// use tokenflush::Chunk;
    ///
    /// let mut body = SseBody::new(futures::stream::empty::<Chunk>());
    /// *body.format_mut() = TextEvents::new().with_event_ids(3);
    /// assert_eq!(body.format().next_id(), Some(3));
    /// ```
    pub fn format_mut(&mut self) -> &mut F {
        self.frames.format_mut()
    }

    /// The chunk stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::Stream as _;
    /// use tokenflush::http_body::SseBody;
    /// use tokenflush::Chunk;
    ///
    /// let body = SseBody::new(futures::stream::iter([Chunk::new("a").unwrap()]));
    /// assert_eq!(body.get_ref().size_hint(), (1, Some(1)));
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.frames.get_ref().upstream
    }

    /// The chunk stream, mutably. Chunks pulled from it directly are not sent.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::http_body::SseBody;
    /// use tokenflush::Chunk;
    ///
    /// let mut body = SseBody::new(futures::stream::iter([Chunk::new("a").unwrap()]));
    /// let _chunks = body.get_mut();
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.frames.get_mut().upstream
    }

    /// The pinned chunk stream, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::http_body::SseBody;
    /// use tokenflush::Chunk;
    ///
    /// let mut body = Box::pin(SseBody::new(futures::stream::iter([Chunk::new("a").unwrap()])));
    /// let _chunks = body.as_mut().get_pin_mut();
    /// ```
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut S> {
        self.project().frames.get_pin_mut().project().upstream
    }

    /// The chunk stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::http_body::SseBody;
    /// use tokenflush::Chunk;
    ///
    /// let chunks = SseBody::new(futures::stream::iter([Chunk::new("a").unwrap()])).into_inner();
    /// # drop(chunks);
    /// ```
    pub fn into_inner(self) -> S {
        self.frames.into_inner().upstream
    }

    /// The body in a `200 OK` response with the event-stream [headers](crate::sse::headers):
    /// `content-type: text/event-stream`, `cache-control: no-cache, no-transform` and
    /// `x-accel-buffering: no`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::http_body::SseBody;
    /// use tokenflush::Chunk;
    ///
    /// let response = SseBody::new(futures::stream::empty::<Chunk>()).into_response();
    /// assert_eq!(response.status(), 200);
    /// assert_eq!(response.headers()["content-type"], "text/event-stream");
    /// assert_eq!(response.headers()["cache-control"], "no-cache, no-transform");
    /// assert_eq!(response.headers()["x-accel-buffering"], "no");
    /// assert!(response.headers().get("content-length").is_none());
    /// ```
    pub fn into_response(self) -> http::Response<Self> {
        let mut response = http::Response::new(self);
        let headers = response.headers_mut();
        for (name, value) in crate::sse::headers() {
            headers.insert(
                http::HeaderName::from_static(name),
                http::HeaderValue::from_static(value),
            );
        }
        response
    }
}

impl<S, F> Stream for SseBody<S, F>
where
    S: Stream,
    S::Item: SseItem,
    F: Format,
{
    type Item = Bytes;

    // State table (the encoder's own table is on its `poll_encode`):
    //
    // | encoder yields     | then                                                      |
    // |--------------------|-----------------------------------------------------------|
    // | Ready(Some(Ok))    | Ready(frame)                                              |
    // | Ready(Some(Err(e)))| the encoder is done; Ready(format's error event for e)    |
    // | Ready(None)        | Ready(None) (the encoder wrote the closing events before) |
    // | Pending            | Pending                                                   |
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut frames = self.project().frames;
        match ready!(frames.as_mut().poll_next(cx)) {
            Some(Ok(frame)) => Poll::Ready(Some(frame)),
            Some(Err(error)) => {
                let mut out = BytesMut::new();
                frames.format_pin_mut().error(&error.to_string(), &mut out);
                // A format may choose to write nothing: then the body just ends.
                Poll::Ready((!out.is_empty()).then(|| out.freeze()))
            }
            None => Poll::Ready(None),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        // The encoder counts an error as one item, and it becomes one frame here.
        self.frames.size_hint()
    }
}

impl<S, F> FusedStream for SseBody<S, F>
where
    S: Stream,
    S::Item: SseItem,
    F: Format,
{
    fn is_terminated(&self) -> bool {
        self.frames.is_terminated()
    }
}

impl<S, F> Body for SseBody<S, F>
where
    S: Stream,
    S::Item: SseItem,
    F: Format,
{
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.poll_next(cx)
            .map(|frame| frame.map(|frame| Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.frames.is_terminated()
    }

    fn size_hint(&self) -> SizeHint {
        if self.frames.is_terminated() {
            SizeHint::with_exact(0)
        } else {
            // The length of a stream is not known in advance.
            SizeHint::default()
        }
    }
}

impl<S: fmt::Debug, F: fmt::Debug> fmt::Debug for SseBody<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SseBody")
            .field("chunks", &self.frames.get_ref().upstream)
            .field("format", self.frames.format())
            .field("keep_alive", &self.frames.keep_alive())
            .finish()
    }
}

pin_project! {
    /// The chunk stream as the fallible stream the encoder takes.
    pub(crate) struct Items<S> {
        #[pin]
        upstream: S,
    }
}

impl<S> Stream for Items<S>
where
    S: Stream,
    S::Item: SseItem,
{
    type Item = Result<Chunk, <S::Item as SseItem>::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.project()
            .upstream
            .poll_next(cx)
            .map(|item| item.map(SseItem::into_result))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.upstream.size_hint()
    }
}
