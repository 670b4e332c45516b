use std::borrow::Borrow;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use super::encoder::Encoder;
use super::{Format, KeepAlive};
use crate::Chunk;

pin_project! {
    /// Stream for [`encode_sse`](super::SseExt::encode_sse) and
    /// [`encode_sse_as`](super::SseExt::encode_sse_as): yields one SSE frame per chunk, the
    /// format's opening and closing events, and keep-alive comments.
    ///
    /// # Cancel safety
    ///
    /// `next()` on this stream is cancel safe: a chunk is framed only in the poll that returns
    /// its frame, so dropping a pending `next()` loses nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::sse::SseExt;
    /// use tokenflush::Chunk;
    ///
    /// # futures::executor::block_on(async {
    /// let chunks = futures::stream::iter([Chunk::new("Hello").unwrap()]);
    /// let mut frames = chunks.encode_sse();
    /// assert_eq!(frames.next().await.unwrap(), "data: Hello\n\n");
    /// assert!(frames.next().await.is_none());
    /// # });
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct EncodeSse<S, F> {
        #[pin]
        upstream: S,
        encoder: Encoder<F>,
    }
}

impl<S, F> EncodeSse<S, F> {
    pub(super) fn new(upstream: S, format: F) -> Self {
        Self {
            upstream,
            encoder: Encoder::new(format),
        }
    }

    /// Sends keep-alive comments while upstream is quiet (see [`KeepAlive`]).
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
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use tokenflush::sse::{KeepAlive, SseExt};
    /// use tokenflush::Chunk;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // A model that thinks for 20 s before its only chunk.
    /// let chunks = futures::stream::once(async {
    ///     tokio::time::sleep(Duration::from_secs(20)).await;
    ///     Chunk::new("42").unwrap()
    /// });
    /// let frames: Vec<_> = chunks.encode_sse().with_keep_alive(KeepAlive::new()).collect().await;
    /// assert_eq!(frames, [": ping\n\n", "data: 42\n\n"]); // the ping at 15 s
    /// # }
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
    /// use tokenflush::sse::{KeepAlive, SseExt};
    /// use tokenflush::Chunk;
    ///
    /// let frames = futures::stream::empty::<Chunk>().encode_sse();
    /// assert!(frames.keep_alive().is_none());
    /// assert!(frames.with_keep_alive(KeepAlive::new()).keep_alive().is_some());
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
    /// let frames = futures::stream::empty::<Chunk>().encode_sse_as(TextEvents::new().with_event_ids(5));
    /// assert_eq!(frames.format().next_id(), Some(5));
    /// ```
    pub fn format(&self) -> &F {
        self.encoder.format()
    }

    /// The format, mutably: a format with settings for the end (a finish reason) can be told
    /// while the stream runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::{SseExt, TextEvents};
    /// use tokenflush::Chunk;
    ///
    /// let mut frames = futures::stream::empty::<Chunk>().encode_sse();
    /// *frames.format_mut() = TextEvents::new().with_event_ids(1);
    /// ```
    pub fn format_mut(&mut self) -> &mut F {
        self.encoder.format_mut()
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
    /// let frames = futures::stream::iter([Chunk::new("a").unwrap()]).encode_sse();
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
    /// let mut frames = futures::stream::iter([Chunk::new("a").unwrap()]).encode_sse();
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
    /// let mut frames = Box::pin(futures::stream::iter([Chunk::new("a").unwrap()]).encode_sse());
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
    /// let upstream = futures::stream::iter([Chunk::new("a").unwrap()]).encode_sse().into_inner();
    /// # drop(upstream);
    /// ```
    pub fn into_inner(self) -> S {
        self.upstream
    }
}

impl<S, F> Stream for EncodeSse<S, F>
where
    S: Stream,
    S::Item: Borrow<Chunk>,
    F: Format,
{
    type Item = Bytes;

    // The state table is on `Encoder::poll_encode`, which this delegates to.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.project();
        let upstream = this.upstream;
        this.encoder
            .poll_encode(cx, |cx| {
                upstream
                    .poll_next(cx)
                    .map(|chunk| chunk.map(Ok::<_, std::convert::Infallible>))
            })
            .map(|frame| {
                frame.map(|frame| match frame {
                    Ok(frame) => frame,
                    Err(never) => match never {},
                })
            })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.encoder.size_hint(self.upstream.size_hint(), false)
    }
}

impl<S, F> FusedStream for EncodeSse<S, F>
where
    S: Stream,
    S::Item: Borrow<Chunk>,
    F: Format,
{
    fn is_terminated(&self) -> bool {
        self.encoder.is_done()
    }
}

impl<S: fmt::Debug, F: fmt::Debug> fmt::Debug for EncodeSse<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodeSse")
            .field("upstream", &self.upstream)
            .field("encoder", &self.encoder)
            .finish()
    }
}
