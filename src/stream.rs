//! Stream adapters that turn a stream of tokens into a stream of [`Chunk`](crate::Chunk)s.
//!
//! [`FlushExt::flush_with`] and [`TryFlushExt::try_flush_with`] buffer tokens and let a
//! [`FlushPolicy`] decide when the buffer becomes a chunk. The adapter owns the buffer, an
//! incremental UTF-8 decoder (so no chunk splits a character) and at most one timer.

mod flush_with;
mod flusher;
mod try_flush_with;
mod watch;

pub use flush_with::FlushWith;
pub use try_flush_with::TryFlushWith;

use futures_core::{Stream, TryStream};

use crate::policy::FlushPolicy;
use crate::Token;

/// Adds [`flush_with`](FlushExt::flush_with) to every [`Stream`] of [`Token`]s.
pub trait FlushExt: Stream {
    /// Buffers the stream's tokens and yields them as [`Chunk`](crate::Chunk)s when `policy`
    /// says so.
    ///
    /// Nothing is lost: the concatenated chunks are the concatenated tokens (byte tokens decoded
    /// as [`String::from_utf8_lossy`] would decode their concatenation), in order, and the
    /// remainder goes out when upstream ends ([`FlushReason::End`](crate::FlushReason::End)).
    /// No chunk is empty or splits a character. Dropping the adapter drops the upstream stream.
    ///
    /// # Panics
    ///
    /// A policy that waits for a deadline ([`TimeBounded`](crate::policy::TimeBounded)) needs a
    /// Tokio runtime with the time driver enabled when the adapter is first polled to wait;
    /// polled outside one, it panics as [`tokio::time::sleep`] does. [`Immediate`] and
    /// [`FixedBatch`] never create a timer and run on any executor.
    ///
    /// [`Immediate`]: crate::policy::Immediate
    /// [`FixedBatch`]: crate::policy::FixedBatch
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use tokenflush::{policy::TimeBounded, FlushExt};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let tokens = futures::stream::iter(["The", " quick", " brown", " fox"]);
    /// let mut chunks = tokens.flush_with(TimeBounded::new(2, Duration::from_millis(100)));
    /// let mut text = String::new();
    /// while let Some(chunk) = chunks.next().await {
    ///     text.push_str(chunk.as_str());
    /// }
    /// assert_eq!(text, "The quick brown fox");
    /// # }
    /// ```
    fn flush_with<P: FlushPolicy>(self, policy: P) -> FlushWith<Self, P>
    where
        Self: Sized,
        Self::Item: Token,
    {
        FlushWith::new(self, policy)
    }
}

impl<S: Stream + ?Sized> FlushExt for S {}

/// Adds [`try_flush_with`](TryFlushExt::try_flush_with) to every stream of
/// `Result<impl Token, E>`.
pub trait TryFlushExt: TryStream {
    /// Like [`flush_with`](FlushExt::flush_with), for a fallible stream: yields
    /// `Ok(chunk)`s, and passes upstream errors through.
    ///
    /// When upstream fails, the buffered text is yielded first as `Ok(chunk)` with reason
    /// [`FlushReason::Error`](crate::FlushReason::Error), then the `Err`: text that arrived before
    /// the error is never lost. The adapter keeps polling upstream after an error, for streams
    /// that go on.
    ///
    /// # Panics
    ///
    /// As [`flush_with`](FlushExt::flush_with): a policy with deadlines needs a Tokio runtime
    /// with the time driver enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::{policy::FixedBatch, FlushReason, TryFlushExt};
    ///
    /// # futures::executor::block_on(async {
    /// let tokens = futures::stream::iter([Ok("Hel"), Ok("lo"), Err("model crashed")]);
    /// let items: Vec<_> = tokens.try_flush_with(FixedBatch::new(16)).collect().await;
    /// let chunk = items[0].as_ref().unwrap();
    /// assert_eq!((chunk.as_str(), chunk.reason()), ("Hello", FlushReason::Error));
    /// assert_eq!(items[1], Err("model crashed"));
    /// # });
    /// ```
    fn try_flush_with<P: FlushPolicy>(self, policy: P) -> TryFlushWith<Self, P>
    where
        Self: Sized,
        Self::Ok: Token,
    {
        TryFlushWith::new(self, policy)
    }
}

impl<S: TryStream + ?Sized> TryFlushExt for S {}
