use std::num::NonZeroUsize;

use super::{BufferState, Decision, FlushPolicy, PolicyError};
use crate::FlushReason;

/// Flushes whatever arrived back to back as soon as upstream has nothing more ready, or at
/// `max_tokens`: no added delay, and fewer writes when tokens come in bursts.
///
/// Tokens that arrive together — a burst from speculative decoding, several deltas in one
/// network read, a queue that filled while the writer was busy — go out as one chunk; a token
/// that arrives alone goes out alone, at once. It never waits on a clock, so it needs no
/// timer. Against a steady model it writes once per token like [`Immediate`](super::Immediate);
/// use [`TimeBounded`](super::TimeBounded) to trade a bounded delay for fewer writes there.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use tokenflush::{policy::Coalesce, FlushExt, FlushReason};
///
/// # futures::executor::block_on(async {
/// let (tx, rx) = futures::channel::mpsc::unbounded();
/// let mut chunks = rx.flush_with(Coalesce::new(64));
/// // A burst of three tokens, ready at the same time:
/// for token in ["The", " quick", " fox"] {
///     tx.unbounded_send(token).unwrap();
/// }
/// let chunk = chunks.next().await.unwrap();
/// assert_eq!((chunk.as_str(), chunk.reason()), ("The quick fox", FlushReason::Idle));
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Coalesce {
    max_tokens: NonZeroUsize,
}

impl Coalesce {
    /// Flushes when upstream has nothing more ready, or at `max_tokens` tokens.
    ///
    /// # Panics
    ///
    /// If `max_tokens` is 0. Use [`try_new`](Self::try_new) for values from configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::policy::Coalesce;
    ///
    /// assert_eq!(Coalesce::new(32).max_tokens(), 32);
    /// ```
    #[must_use]
    #[track_caller]
    pub const fn new(max_tokens: usize) -> Self {
        match Self::try_new(max_tokens) {
            Ok(policy) => policy,
            Err(_) => panic!("Coalesce::new: max_tokens must be at least 1, got 0"),
        }
    }

    /// Like [`new`](Self::new), but returns an error instead of panicking.
    ///
    /// # Errors
    ///
    /// [`PolicyError::ZeroMaxTokens`] if `max_tokens` is 0.
    pub const fn try_new(max_tokens: usize) -> Result<Self, PolicyError> {
        match NonZeroUsize::new(max_tokens) {
            Some(max_tokens) => Ok(Self { max_tokens }),
            None => Err(PolicyError::ZeroMaxTokens),
        }
    }

    /// The most tokens a chunk holds.
    #[must_use]
    pub const fn max_tokens(&self) -> usize {
        self.max_tokens.get()
    }
}

impl FlushPolicy for Coalesce {
    #[inline]
    fn decide(&mut self, state: &BufferState<'_>) -> Decision {
        if state.token_count() >= self.max_tokens.get() {
            Decision::Flush
        } else if state.upstream_idle() {
            Decision::FlushAs(FlushReason::Idle)
        } else {
            Decision::Wait
        }
    }
}
