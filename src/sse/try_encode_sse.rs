use std::borrow::Borrow;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::{FusedStream, Stream, TryStream};
use pin_project_lite::pin_project;

use super::encoder::Encoder;
use super::{Format, KeepAlive};
use crate::Chunk;

pin_project! {
    /// Stream for [`try_encode_sse`](super::SseExt::try_encode_sse) and
    /// [`try_encode_sse_as`](super::SseExt::try_encode_sse_as): yields `Ok(frame)` per chunk
    /// like [`EncodeSse`](super::EncodeSse), and ends after the first upstream error, which it
    /// yields as `Err`.
    ///
    /// # Cancel safety
    ///
    /// `next()` on this stream is cancel safe: a chunk is framed only in the poll that returns
    /// its frame.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::sse::SseExt;
    /// use tokenflush::Chunk;
    ///
    /// # futures::executor::block_on(async {
    /// let chunks = futures::stream::iter([Ok(Chunk::new("Hi").unwrap()), Err("model crashed")]);
    /// let mut frames = chunks.try_encode_sse();
    /// assert_eq!(frames.next().await.unwrap().unwrap(), "data: Hi\n\n");
    /// assert_eq!(frames.next().await.unwrap(), Err("model crashed"));
    /// assert!(frames.next().await.is_none());
    /// # });
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct TryEncodeSse<S, F> {
        #[pin]
        upstream: S,
        encoder: Encoder<F>,
    }
}

impl<S, F> TryEncodeSse<S, F> {
    pub(super) fn new(upstream: S, format: F) -> Self {
        Self {
            upstream,
            encoder: Encoder::new(format),
        }
    }

    /// Sends keep-alive comments while upstream is quiet (see [`KeepAlive`]); none after an
    /// error.
    ///
    /// # Panics
    ///
    /// With keep-alive on, the stream needs a Tokio runtime with the time driver enabled when
    /// it is first polled while upstream is quiet; polled outside one, it panics as
    /// [`tokio::time::sleep`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::{KeepAlive, SseExt};
    /// use tokenflush::Chunk;
    ///
    /// let frames = futures::stream::empty::<Result<Chunk, ()>>()
    ///     .try_encode_sse()
    ///     .with_keep_alive(KeepAlive::new());
    /// assert!(frames.keep_alive().is_some());
    /// ```
    pub fn with_keep_alive(mut self, keep_alive: KeepAlive) -> Self {
        self.encoder.set_keep_alive(Some(keep_alive));
        self
    }

    /// The keep-alive settings, if keep-alive is on.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::SseExt;
    /// use tokenflush::Chunk;
    ///
    /// let frames = futures::stream::empty::<Result<Chunk, ()>>().try_encode_sse();
    /// assert!(frames.keep_alive().is_none());
    /// ```
    pub fn keep_alive(&self) -> Option<&KeepAlive> {
        self.encoder.keep_alive()
    }

    /// The format.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::{SseExt, TextEvents};
    /// use tokenflush::Chunk;
    ///
    /// let frames = futures::stream::empty::<Result<Chunk, ()>>()
    ///     .try_encode_sse_as(TextEvents::new().with_event_ids(1));
    /// assert_eq!(frames.format().next_id(), Some(1));
    /// ```
    pub fn format(&self) -> &F {
        self.encoder.format()
    }

    /// The format, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::{SseExt, TextEvents};
    /// use tokenflush::Chunk;
    ///
    /// let mut frames = futures::stream::empty::<Result<Chunk, ()>>().try_encode_sse();
    /// *frames.format_mut() = TextEvents::new().with_event_ids(1);
    /// ```
    pub fn format_mut(&mut self) -> &mut F {
        self.encoder.format_mut()
    }

    /// The format, through a pin: what the HTTP bodies use to write the error event after the
    /// stream ended with an error.
    #[cfg(feature = "http-body")]
    pub(crate) fn format_pin_mut(self: Pin<&mut Self>) -> &mut F {
        self.project().encoder.format_mut()
    }

    /// The upstream stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::Stream as _;
    /// use tokenflush::sse::SseExt;
    /// use tokenflush::Chunk;
    ///
    /// let frames = futures::stream::iter([Ok::<_, ()>(Chunk::new("a").unwrap())]).try_encode_sse();
    /// assert_eq!(frames.get_ref().size_hint(), (1, Some(1)));
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.upstream
    }

    /// The upstream stream, mutably. Chunks pulled from it directly are not framed.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::SseExt;
    /// use tokenflush::Chunk;
    ///
    /// let mut frames = futures::stream::iter([Ok::<_, ()>(Chunk::new("a").unwrap())]).try_encode_sse();
    /// let _upstream = frames.get_mut();
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.upstream
    }

    /// The pinned upstream stream, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::SseExt;
    /// use tokenflush::Chunk;
    ///
    /// let chunks = futures::stream::iter([Ok::<_, ()>(Chunk::new("a").unwrap())]);
    /// let mut frames = Box::pin(chunks.try_encode_sse());
    /// let _upstream = frames.as_mut().get_pin_mut();
    /// ```
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut S> {
        self.project().upstream
    }

    /// The upstream stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::SseExt;
    /// use tokenflush::Chunk;
    ///
    /// let chunks = futures::stream::iter([Ok::<_, ()>(Chunk::new("a").unwrap())]);
    /// let upstream = chunks.try_encode_sse().into_inner();
    /// # drop(upstream);
    /// ```
    pub fn into_inner(self) -> S {
        self.upstream
    }
}

impl<S, F> Stream for TryEncodeSse<S, F>
where
    S: TryStream,
    S::Ok: Borrow<Chunk>,
    F: Format,
{
    type Item = Result<Bytes, S::Error>;

    // The state table is on `Encoder::poll_encode`, which this delegates to.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let upstream = this.upstream;
        this.encoder
            .poll_encode(cx, |cx| upstream.try_poll_next(cx))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.encoder.size_hint(self.upstream.size_hint(), true)
    }
}

impl<S, F> FusedStream for TryEncodeSse<S, F>
where
    S: TryStream,
    S::Ok: Borrow<Chunk>,
    F: Format,
{
    fn is_terminated(&self) -> bool {
        self.encoder.is_done()
    }
}

impl<S: fmt::Debug, F: fmt::Debug> fmt::Debug for TryEncodeSse<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryEncodeSse")
            .field("upstream", &self.upstream)
            .field("encoder", &self.encoder)
            .finish()
    }
}
