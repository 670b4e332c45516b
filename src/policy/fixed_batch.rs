use std::num::NonZeroUsize;

use super::{BufferState, Decision, FlushPolicy, PolicyError};

/// Flushes every `max_tokens` tokens, with no time bound: the fewest writes, unbounded lag.
///
/// This is what many servers do today ("write every 25 tokens"). On a model that emits a token
/// every 0.3–0.7 s it holds text back for seconds; use [`TimeBounded`](super::TimeBounded) when
/// a person is reading. Every chunk but the last holds exactly `max_tokens` text tokens; the
/// remainder goes out when upstream ends.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use tokenflush::{policy::FixedBatch, FlushExt, FlushReason};
///
/// # futures::executor::block_on(async {
/// let chunks: Vec<_> = futures::stream::iter(["a", "b", "c", "d", "e"])
///     .flush_with(FixedBatch::new(2))
///     .collect()
///     .await;
/// let texts: Vec<_> = chunks.iter().map(|c| c.as_str()).collect();
/// assert_eq!(texts, ["ab", "cd", "e"]);
/// assert_eq!(chunks[0].reason(), FlushReason::Size);
/// assert_eq!(chunks[2].reason(), FlushReason::End);
/// # });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedBatch {
    max_tokens: NonZeroUsize,
}

impl FixedBatch {
    /// Flushes every `max_tokens` tokens.
    ///
    /// # Panics
    ///
    /// If `max_tokens` is 0. Use [`try_new`](Self::try_new) for values from configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::policy::FixedBatch;
    ///
    /// assert_eq!(FixedBatch::new(25).max_tokens(), 25);
    /// ```
    #[must_use]
    #[track_caller]
    pub const fn new(max_tokens: usize) -> Self {
        match NonZeroUsize::new(max_tokens) {
            Some(max_tokens) => Self { max_tokens },
            None => panic!("FixedBatch::new: max_tokens must be at least 1, got 0"),
        }
    }

    /// Flushes every `max_tokens` tokens, or explains why it cannot.
    ///
    /// # Errors
    ///
    /// [`PolicyError::ZeroMaxTokens`] if `max_tokens` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::policy::FixedBatch;
    ///
    /// assert!(FixedBatch::try_new(8).is_ok());
    /// assert!(FixedBatch::try_new(0).is_err());
    /// ```
    pub const fn try_new(max_tokens: usize) -> Result<Self, PolicyError> {
        match NonZeroUsize::new(max_tokens) {
            Some(max_tokens) => Ok(Self { max_tokens }),
            None => Err(PolicyError::ZeroMaxTokens),
        }
    }

    /// How many tokens make a chunk.
    #[must_use]
    pub const fn max_tokens(&self) -> usize {
        self.max_tokens.get()
    }
}

impl FlushPolicy for FixedBatch {
    #[inline]
    fn decide(&mut self, state: &BufferState<'_>) -> Decision {
        if state.token_count() >= self.max_tokens.get() {
            Decision::Flush
        } else {
            Decision::Wait
        }
    }
}
