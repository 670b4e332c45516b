use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use super::flusher::{Flushed, Flusher};
use crate::policy::FlushPolicy;
use crate::{Chunk, Token};

pin_project! {
    /// Stream for [`flush_with`](crate::FlushExt::flush_with): yields a [`Chunk`] each time
    /// the policy flushes the buffered tokens.
    ///
    /// # Cancel safety
    ///
    /// `next()` on this stream is cancel safe: tokens pulled from upstream stay in the buffer
    /// until a chunk is yielded, so dropping a pending `next()` (in `tokio::select!`) loses
    /// nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::{policy::Immediate, FlushExt};
    ///
    /// # futures::executor::block_on(async {
    /// let mut chunks = futures::stream::iter(["a", "b"]).flush_with(Immediate::new());
    /// assert_eq!(chunks.next().await.unwrap().as_str(), "a");
    /// assert_eq!(chunks.next().await.unwrap().as_str(), "b");
    /// assert!(chunks.next().await.is_none());
    /// # });
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct FlushWith<S, P> {
        #[pin]
        upstream: S,
        flusher: Flusher<P>,
    }
}

impl<S, P: FlushPolicy> FlushWith<S, P> {
    pub(super) fn new(upstream: S, policy: P) -> Self {
        Self {
            upstream,
            flusher: Flusher::new(policy),
        }
    }
}

impl<S, P> FlushWith<S, P> {
    /// The upstream stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::Stream as _;
    /// use tokenflush::{policy::Immediate, FlushExt};
    ///
    /// let chunks = futures::stream::iter(["a"]).flush_with(Immediate::new());
    /// assert_eq!(chunks.get_ref().size_hint(), (1, Some(1)));
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.upstream
    }

    /// The upstream stream, mutably. Pulling tokens from it directly bypasses the buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::{policy::Immediate, FlushExt};
    ///
    /// let mut chunks = futures::stream::iter(["a"]).flush_with(Immediate::new());
    /// let _upstream = chunks.get_mut();
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.upstream
    }

    /// The pinned upstream stream, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::{policy::Immediate, FlushExt};
    ///
    /// let mut chunks = Box::pin(futures::stream::iter(["a"]).flush_with(Immediate::new()));
    /// let _upstream = chunks.as_mut().get_pin_mut();
    /// ```
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut S> {
        self.project().upstream
    }

    /// The upstream stream; buffered text is dropped (see [`take_buffered`](Self::take_buffered)).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::{policy::Immediate, FlushExt};
    ///
    /// let upstream = futures::stream::iter(["a"]).flush_with(Immediate::new()).into_inner();
    /// # drop(upstream);
    /// ```
    pub fn into_inner(self) -> S {
        self.upstream
    }

    /// The policy.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::{policy::FixedBatch, FlushExt};
    ///
    /// let chunks = futures::stream::iter(["a"]).flush_with(FixedBatch::new(3));
    /// assert_eq!(chunks.policy().max_tokens(), 3);
    /// ```
    pub fn policy(&self) -> &P {
        self.flusher.policy()
    }

    /// The policy, mutably: a stateful policy can be re-tuned between chunks.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::{policy::FixedBatch, FlushExt};
    ///
    /// let mut chunks = futures::stream::iter(["a"]).flush_with(FixedBatch::new(3));
    /// *chunks.policy_mut() = FixedBatch::new(1);
    /// ```
    pub fn policy_mut(&mut self) -> &mut P {
        self.flusher.policy_mut()
    }

    /// The complete text buffered right now, not yet flushed.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::{policy::FixedBatch, FlushExt};
    ///
    /// let chunks = futures::stream::iter(["a"]).flush_with(FixedBatch::new(3));
    /// assert_eq!(chunks.buffered(), "");
    /// ```
    pub fn buffered(&self) -> &str {
        self.flusher.buffered()
    }

    /// Empties the buffer and hands its text back, for a shutdown that must not lose what the
    /// model already produced. The bytes of a character not yet complete become U+FFFD.
    ///
    /// The stream stays usable: later tokens start a new buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::pin;
    /// use futures::StreamExt;
    /// use tokenflush::{policy::FixedBatch, FlushExt};
    ///
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = futures::channel::mpsc::unbounded();
    /// let mut chunks = pin!(rx.flush_with(FixedBatch::new(8)));
    /// tx.unbounded_send("unsent ").unwrap();
    /// tx.unbounded_send("words").unwrap();
    /// // Nothing is flushed yet; poll once so the adapter pulls what is ready.
    /// assert!(futures::poll!(chunks.next()).is_pending());
    /// assert_eq!(chunks.as_mut().take_buffered(), "unsent words");
    /// # });
    /// ```
    pub fn take_buffered(self: Pin<&mut Self>) -> String {
        self.project().flusher.take_buffered()
    }
}

impl<S, P> Stream for FlushWith<S, P>
where
    S: Stream,
    S::Item: Token,
    P: FlushPolicy,
{
    type Item = Chunk;

    // The state table is on `Flusher::poll_flush`, which this delegates to.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Chunk>> {
        let this = self.project();
        let mut upstream = this.upstream;
        this.flusher
            .poll_flush(cx, |cx| {
                upstream
                    .as_mut()
                    .poll_next(cx)
                    .map(|item| item.map(Ok::<_, Infallible>))
            })
            .map(|flushed| {
                flushed.map(|flushed| match flushed {
                    Flushed::Chunk(chunk) => chunk,
                    Flushed::Error(never) | Flushed::ChunkThenError(_, never) => match never {},
                })
            })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.flusher.size_hint(self.upstream.size_hint())
    }
}

impl<S, P> FusedStream for FlushWith<S, P>
where
    S: Stream,
    S::Item: Token,
    P: FlushPolicy,
{
    fn is_terminated(&self) -> bool {
        self.flusher.is_finished()
    }
}

impl<S: fmt::Debug, P: fmt::Debug> fmt::Debug for FlushWith<S, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlushWith")
            .field("upstream", &self.upstream)
            .field("flusher", &self.flusher)
            .finish()
    }
}
