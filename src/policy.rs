//! Flush policies: when buffered tokens become a [`Chunk`].
//!
//! A [`FlushPolicy`] is a small synchronous decision. After each token is appended to the
//! buffer, the adapter shows the policy a [`BufferState`] and the policy answers with a
//! [`Decision`]: flush now, keep waiting, or wait until an instant. A policy never reads the
//! clock, creates timers or touches tokio; the adapter owns the one timer and keeps the
//! policy's deadline. That keeps policies trivial to write and to unit-test without a runtime.
//!
//! | policy | flushes | use it when |
//! |---|---|---|
//! | [`Immediate`] | every token | tokens are rare or the reader must see each one at once |
//! | [`FixedBatch`] | every `n` tokens | throughput matters and latency does not (batch jobs) |
//! | [`TimeBounded`] | at `n` tokens or when the oldest is `max_latency` old | serving people: bounded lag, few writes |
//! | [`Coalesce`] | when upstream has nothing more ready, or at `n` tokens | bursty upstreams: no added delay, one write per burst |
//!
//! # Writing a policy
//!
//! ```
//! use tokenflush::policy::{BufferState, Decision, FlushPolicy};
//!
//! /// Flushes at the end of each sentence, or at 64 tokens.
//! #[derive(Debug)]
//! struct Sentences;
//!
//! impl FlushPolicy for Sentences {
//!     fn decide(&mut self, state: &BufferState<'_>) -> Decision {
//!         if state.text().ends_with(['.', '!', '?']) || state.token_count() >= 64 {
//!             Decision::Flush
//!         } else {
//!             Decision::Wait
//!         }
//!     }
//! }
//!
//! // Policies are unit-tested without a runtime.
//! let mut policy = Sentences;
//! assert_eq!(policy.decide(&BufferState::new("Hello", 1)), Decision::Wait);
//! assert_eq!(policy.decide(&BufferState::new("Hello.", 2)), Decision::Flush);
//! ```

mod adaptive;
mod boundary;
mod buffer_state;
mod coalesce;
mod decision;
mod fixed_batch;
mod gaps;
mod immediate;
mod policy_error;
mod rules;
mod time_bounded;

pub use adaptive::Adaptive;
pub use boundary::Boundary;
pub use buffer_state::BufferState;
pub use coalesce::Coalesce;
pub use decision::Decision;
pub use fixed_batch::FixedBatch;
pub use immediate::Immediate;
pub use policy_error::PolicyError;
pub use rules::Rules;
pub use time_bounded::TimeBounded;

use std::fmt;

use crate::Chunk;

/// Decides when the buffered tokens of a flush adapter become a [`Chunk`].
///
/// The adapter calls [`decide`](Self::decide) after each token that leaves complete text in the
/// buffer, and once more, with [`BufferState::upstream_idle`] set, whenever upstream has nothing
/// ready while text is buffered. A policy is synchronous and clock-free: to flush later it
/// returns [`Decision::WaitUntil`], and the adapter's timer does the waiting. The trait is object
/// safe, so a server can choose a policy per request with `Box<dyn FlushPolicy + Send>`.
///
/// Policies are [`Debug`](fmt::Debug) so that an adapter, and a per-request policy chosen at
/// run time, can be logged.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
/// use tokenflush::policy::{FixedBatch, FlushPolicy, TimeBounded};
/// use tokenflush::FlushExt;
///
/// fn policy_for(interactive: bool) -> Box<dyn FlushPolicy + Send> {
///     if interactive {
///         Box::new(TimeBounded::new(4, Duration::from_millis(100)))
///     } else {
///         Box::new(FixedBatch::new(64))
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let chunks: Vec<_> = futures::stream::iter(["a", "b", "c"])
///     .flush_with(policy_for(false))
///     .collect()
///     .await;
/// assert_eq!(chunks.len(), 1);
/// # }
/// ```
pub trait FlushPolicy: fmt::Debug {
    /// Decides what to do with the buffer in `state`.
    ///
    /// Called only while the buffer holds complete text, so a flush never yields an empty chunk.
    fn decide(&mut self, state: &BufferState<'_>) -> Decision;

    /// Called with each chunk just before the adapter yields it, whatever flushed it (the
    /// policy, its deadline, the end of the stream or an error). Stateful policies learn from it;
    /// the default does nothing.
    fn on_flush(&mut self, chunk: &Chunk) {
        let _ = chunk;
    }
}

impl<P: FlushPolicy + ?Sized> FlushPolicy for &mut P {
    #[inline]
    fn decide(&mut self, state: &BufferState<'_>) -> Decision {
        (**self).decide(state)
    }

    fn on_flush(&mut self, chunk: &Chunk) {
        (**self).on_flush(chunk);
    }
}

impl<P: FlushPolicy + ?Sized> FlushPolicy for Box<P> {
    #[inline]
    fn decide(&mut self, state: &BufferState<'_>) -> Decision {
        (**self).decide(state)
    }

    fn on_flush(&mut self, chunk: &Chunk) {
        (**self).on_flush(chunk);
    }
}
