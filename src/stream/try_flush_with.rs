use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream, TryStream};
use pin_project_lite::pin_project;

use super::flusher::{Flushed, Flusher};
use crate::policy::FlushPolicy;
use crate::{Chunk, Token};

pin_project! {
    /// Stream for [`try_flush_with`](crate::TryFlushExt::try_flush_with): yields
    /// `Ok(`[`Chunk`]`)` each time the policy flushes, and upstream errors after the text that
    /// preceded them.
    ///
    /// # Cancel safety
    ///
    /// `next()` on this stream is cancel safe: pulled tokens and an error waiting behind a
    /// flushed chunk stay in the adapter until yielded.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::{policy::Immediate, TryFlushExt};
    ///
    /// # futures::executor::block_on(async {
    /// let tokens = futures::stream::iter([Ok::<_, std::io::Error>("a"), Ok("b")]);
    /// let mut chunks = tokens.try_flush_with(Immediate::new());
    /// assert_eq!(chunks.next().await.unwrap().unwrap().as_str(), "a");
    /// # });
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct TryFlushWith<S, P>
    where
        S: TryStream,
    {
        #[pin]
        upstream: S,
        flusher: Flusher<P>,
        // An upstream error held back while the text before it goes out.
        error: Option<S::Error>,
    }
}

impl<S: TryStream, P: FlushPolicy> TryFlushWith<S, P> {
    pub(super) fn new(upstream: S, policy: P) -> Self {
        Self {
            upstream,
            flusher: Flusher::new(policy),
            error: None,
        }
    }
}

impl<S: TryStream, P> TryFlushWith<S, P> {
    /// The upstream stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::Stream as _;
    /// use tokenflush::{policy::Immediate, TryFlushExt};
    ///
    /// let chunks = futures::stream::iter([Ok::<_, ()>("a")]).try_flush_with(Immediate::new());
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
    /// use tokenflush::{policy::Immediate, TryFlushExt};
    ///
    /// let mut chunks = futures::stream::iter([Ok::<_, ()>("a")]).try_flush_with(Immediate::new());
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
    /// use tokenflush::{policy::Immediate, TryFlushExt};
    ///
    /// let tokens = futures::stream::iter([Ok::<_, ()>("a")]);
    /// let mut chunks = Box::pin(tokens.try_flush_with(Immediate::new()));
    /// let _upstream = chunks.as_mut().get_pin_mut();
    /// ```
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut S> {
        self.project().upstream
    }

    /// The upstream stream; buffered text and a held-back error are dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::{policy::Immediate, TryFlushExt};
    ///
    /// let tokens = futures::stream::iter([Ok::<_, ()>("a")]);
    /// let upstream = tokens.try_flush_with(Immediate::new()).into_inner();
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
    /// use tokenflush::{policy::FixedBatch, TryFlushExt};
    ///
    /// let chunks = futures::stream::iter([Ok::<_, ()>("a")]).try_flush_with(FixedBatch::new(3));
    /// assert_eq!(chunks.policy().max_tokens(), 3);
    /// ```
    pub fn policy(&self) -> &P {
        self.flusher.policy()
    }

    /// The policy, mutably.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::{policy::FixedBatch, TryFlushExt};
    ///
    /// let mut chunks = futures::stream::iter([Ok::<_, ()>("a")]).try_flush_with(FixedBatch::new(3));
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
    /// use tokenflush::{policy::FixedBatch, TryFlushExt};
    ///
    /// let chunks = futures::stream::iter([Ok::<_, ()>("a")]).try_flush_with(FixedBatch::new(3));
    /// assert_eq!(chunks.buffered(), "");
    /// ```
    pub fn buffered(&self) -> &str {
        self.flusher.buffered()
    }

    /// Empties the buffer and hands its text back; see
    /// [`FlushWith::take_buffered`](super::FlushWith::take_buffered).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::pin;
    /// use futures::StreamExt;
    /// use tokenflush::{policy::FixedBatch, TryFlushExt};
    ///
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = futures::channel::mpsc::unbounded::<Result<&str, ()>>();
    /// let mut chunks = pin!(rx.try_flush_with(FixedBatch::new(8)));
    /// tx.unbounded_send(Ok("kept")).unwrap();
    /// assert!(futures::poll!(chunks.next()).is_pending());
    /// assert_eq!(chunks.as_mut().take_buffered(), "kept");
    /// # });
    /// ```
    pub fn take_buffered(self: Pin<&mut Self>) -> String {
        self.project().flusher.take_buffered()
    }
}

impl<S, P> Stream for TryFlushWith<S, P>
where
    S: TryStream,
    S::Ok: Token,
    P: FlushPolicy,
{
    type Item = Result<Chunk, S::Error>;

    // The state table is on `Flusher::poll_flush`; besides it, an error held back behind a
    // flushed chunk is yielded first on the next poll.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        if let Some(error) = this.error.take() {
            return Poll::Ready(Some(Err(error)));
        }
        let mut upstream = this.upstream;
        let polled = this
            .flusher
            .poll_flush(cx, |cx| upstream.as_mut().try_poll_next(cx));
        polled.map(|flushed| {
            flushed.map(|flushed| match flushed {
                Flushed::Chunk(chunk) => Ok(chunk),
                Flushed::Error(error) => Err(error),
                Flushed::ChunkThenError(chunk, error) => {
                    *this.error = Some(error);
                    Ok(chunk)
                }
            })
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let held_error = usize::from(self.error.is_some());
        let (lower, upper) = self.flusher.size_hint(self.upstream.size_hint());
        (
            lower + held_error,
            upper.and_then(|upper| upper.checked_add(held_error)),
        )
    }
}

impl<S, P> FusedStream for TryFlushWith<S, P>
where
    S: TryStream,
    S::Ok: Token,
    P: FlushPolicy,
{
    fn is_terminated(&self) -> bool {
        self.error.is_none() && self.flusher.is_finished()
    }
}

impl<S, P> fmt::Debug for TryFlushWith<S, P>
where
    S: TryStream + fmt::Debug,
    S::Error: fmt::Debug,
    P: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryFlushWith")
            .field("upstream", &self.upstream)
            .field("flusher", &self.flusher)
            .field("error", &self.error)
            .finish()
    }
}
