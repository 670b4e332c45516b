//! The flush adapter: a stream of tokens (or typed items) in, a stream of [`Chunk`](crate::Chunk)s out.
//!
//! [`FlushExt::flush_with`] buffers tokens and lets a [`FlushPolicy`] decide when the buffer
//! becomes a chunk. The adapter ([`FlushWith`]) owns the buffer, an incremental UTF-8 decoder
//! (so no chunk splits a character), a cap on the bytes it holds, and at most one timer; the
//! engine behind it is in `engine.rs`, what it accepts from upstream in `input.rs`.

mod engine;
mod flush_with;
#[cfg(feature = "graphemes")]
mod graphemes;
mod input;
mod marks;
mod watch;

pub(crate) use engine::{Oldest, PollClock};
pub use flush_with::{FlushWith, TryFlushWith};
pub use input::FlushInput;

use futures_core::{Stream, TryStream};

use crate::policy::FlushPolicy;

/// Adds [`flush_with`](FlushExt::flush_with) to every [`Stream`] of [`FlushInput`]s: tokens,
/// or `Result`s of them.
pub trait FlushExt: Stream {
    /// Buffers the stream's tokens and yields them as [`Chunk`](crate::Chunk)s when `policy`
    /// says so.
    ///
    /// Nothing is lost: the concatenated chunks are the concatenated tokens (byte tokens decoded
    /// as [`String::from_utf8_lossy`] would decode their concatenation), in order, and the
    /// remainder goes out when upstream ends ([`FlushReason::End`](crate::FlushReason::End)).
    /// No chunk is empty or splits a character. The adapter never holds more than its
    /// [byte cap](FlushWith::with_max_buffered) (64 KiB by default), whatever the policy.
    /// Dropping the adapter drops the upstream stream.
    ///
    /// Upstream items are anything [`FlushInput`]: [`Token`](crate::Token)s, or `Result`s of
    /// them, whose errors pass through in order after the text that preceded them (see
    /// [`try_flush_with`](TryFlushExt::try_flush_with)).
    ///
    /// # Panics
    ///
    /// A policy that waits for a deadline in the future ([`TimeBounded`] with a non-zero
    /// bound) needs a Tokio runtime with the time driver enabled when the adapter first waits;
    /// polled outside one, it panics as [`tokio::time::sleep`] does. [`Immediate`],
    /// [`FixedBatch`], [`Coalesce`] and a zero time bound never create a timer and run on any
    /// executor.
    ///
    /// A panic of the upstream stream unwinds through the adapter, and text buffered at that
    /// moment is lost with it, unless the caller catches the panic (e.g.
    /// `futures::FutureExt::catch_unwind` around the consuming future, with the adapter kept
    /// outside it) and takes the text with [`take_buffered`](FlushWith::take_buffered).
    ///
    /// [`TimeBounded`]: crate::policy::TimeBounded
    /// [`Immediate`]: crate::policy::Immediate
    /// [`FixedBatch`]: crate::policy::FixedBatch
    /// [`Coalesce`]: crate::policy::Coalesce
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
        Self::Item: FlushInput,
    {
        FlushWith::new(self, policy)
    }

    // `try_flush_with` is on its own trait, as `TryStreamExt` is beside `StreamExt`.
}

impl<S: Stream + ?Sized> FlushExt for S {}

/// Adds [`try_flush_with`](TryFlushExt::try_flush_with) to every stream of `Result`s of tokens.
pub trait TryFlushExt: TryStream {
    /// [`flush_with`](FlushExt::flush_with) on a fallible stream, spelled out: yields
    /// `Ok(chunk)`s, and passes upstream errors through.
    ///
    /// When upstream fails, the buffered text is yielded first as `Ok(chunk)` with reason
    /// [`FlushReason::Error`](crate::FlushReason::Error), then the `Err`: text that arrived before
    /// the error is never lost. The adapter keeps polling upstream after an error, for streams
    /// that go on.
    ///
    /// # Panics
    ///
    /// As [`flush_with`](FlushExt::flush_with).
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
        Self: Sized + Stream,
        Self::Ok: FlushInput,
    {
        FlushWith::new(self, policy)
    }
}

impl<S: TryStream + ?Sized> TryFlushExt for S {}
