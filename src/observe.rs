//! Watching the flush adapters: per-flush and per-stream figures, for metrics and tuning.
//!
//! Attach a [`FlushObserver`] with [`FlushWith::with_observer`](crate::FlushWith::with_observer)
//! and it hears of every chunk ([`FlushRecord`]: reason, tokens, bytes, `held_for`, time since
//! the previous flush) and, once, of the whole stream ([`StreamRecord`]: time to the first token
//! pulled and to the first chunk yielded, totals, U+FFFD replacements, how it ended). Without an
//! observer the adapter keeps none of these figures and reads the clock no more than it must.
//!
//! Ready-made observers record the same figures to the `tracing` and `metrics` crates (cargo
//! features of the same names); their names are listed on each type.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use futures::StreamExt;
//! use tokenflush::observe::{FlushObserver, FlushRecord, StreamRecord};
//! use tokenflush::{policy::FixedBatch, FlushExt};
//!
//! #[derive(Debug, Default)]
//! struct Worst {
//!     held_for: Duration,
//!     chunks: u64,
//! }
//!
//! impl FlushObserver for Worst {
//!     fn on_flush(&mut self, flush: &FlushRecord<'_>) {
//!         self.held_for = self.held_for.max(flush.chunk().held_for());
//!     }
//!
//!     fn on_end(&mut self, stream: &StreamRecord) {
//!         self.chunks = stream.chunks();
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let mut worst = Worst::default();
//! let chunks = futures::stream::iter(["a", "b", "c"])
//!     .flush_with(FixedBatch::new(2))
//!     .with_observer(&mut worst);
//! let _: Vec<_> = chunks.collect().await;
//! assert_eq!(worst.chunks, 2);
//! # }
//! ```

#[cfg(feature = "metrics")]
mod metrics_observer;
mod records;
#[cfg(feature = "tracing")]
mod tracing_observer;

#[cfg(feature = "metrics")]
pub use metrics_observer::MetricsObserver;
pub use records::{FlushRecord, StreamRecord};
#[cfg(feature = "tracing")]
pub use tracing_observer::TracingObserver;

/// Hears what a flush adapter does: each chunk, the first token, and the end of the stream.
///
/// Every method has an empty default, so an observer implements only what it needs. The
/// adapter calls it synchronously inside `poll_next`: keep it cheap (record a number, send on a
/// channel), never block. `()` is the observer of an adapter that has none; it is
/// [disabled](Self::is_enabled), so the adapter skips the bookkeeping entirely.
pub trait FlushObserver {
    /// Whether the adapter should keep figures for this observer at all. `()` answers `false`;
    /// every other observer the default `true`.
    fn is_enabled(&self) -> bool {
        true
    }

    /// The adapter pulled its first token, `since_start` after the observer was attached.
    fn on_first_token(&mut self, since_start: std::time::Duration) {
        let _ = since_start;
    }

    /// The adapter is about to yield a chunk.
    fn on_flush(&mut self, flush: &FlushRecord<'_>) {
        let _ = flush;
    }

    /// The stream is over: upstream ended, or the adapter was dropped before it did (a client
    /// that went away). Called exactly once per observed adapter.
    fn on_end(&mut self, stream: &StreamRecord) {
        let _ = stream;
    }
}

/// No observer: the adapter keeps no figures.
impl FlushObserver for () {
    fn is_enabled(&self) -> bool {
        false
    }
}

impl<O: FlushObserver + ?Sized> FlushObserver for &mut O {
    fn is_enabled(&self) -> bool {
        (**self).is_enabled()
    }

    fn on_first_token(&mut self, since_start: std::time::Duration) {
        (**self).on_first_token(since_start);
    }

    fn on_flush(&mut self, flush: &FlushRecord<'_>) {
        (**self).on_flush(flush);
    }

    fn on_end(&mut self, stream: &StreamRecord) {
        (**self).on_end(stream);
    }
}

impl<O: FlushObserver + ?Sized> FlushObserver for Box<O> {
    fn is_enabled(&self) -> bool {
        (**self).is_enabled()
    }

    fn on_first_token(&mut self, since_start: std::time::Duration) {
        (**self).on_first_token(since_start);
    }

    fn on_flush(&mut self, flush: &FlushRecord<'_>) {
        (**self).on_flush(flush);
    }

    fn on_end(&mut self, stream: &StreamRecord) {
        (**self).on_end(stream);
    }
}
