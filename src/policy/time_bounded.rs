use std::num::NonZeroUsize;
use std::time::Duration;

use super::gaps::Gaps;
use super::{BufferState, Decision, FlushPolicy, PolicyError};
use crate::{Chunk, FlushReason};

/// Flushes at `max_tokens` tokens, or when the oldest buffered token is `max_latency` old,
/// whichever comes first: bounded lag with few writes. The policy for serving people.
///
/// The time bound holds while upstream is silent (the adapter's timer fires) and while it
/// floods tokens (the adapter checks the clock between batches). By default the stream's first
/// text goes out at once ([`FlushReason::First`]) so time to first token is never delayed;
/// [`with_immediate_first(false)`](Self::with_immediate_first) turns that off.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
/// use tokenflush::{policy::TimeBounded, FlushExt, FlushReason};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // Two tokens, then the model stalls for 10 s.
/// let tokens = futures::stream::iter(["Hel", "lo", ","]).chain(futures::stream::once(async {
///     tokio::time::sleep(Duration::from_secs(10)).await;
///     " world"
/// }));
/// let policy = TimeBounded::new(16, Duration::from_millis(100));
/// let mut chunks = Box::pin(tokens.flush_with(policy));
///
/// let first = chunks.next().await.unwrap();
/// assert_eq!((first.as_str(), first.reason()), ("Hel", FlushReason::First));
///
/// // "lo," waits at most 100 ms, not 10 s.
/// let second = chunks.next().await.unwrap();
/// assert_eq!((second.as_str(), second.reason()), ("lo,", FlushReason::Deadline));
/// assert_eq!(second.held_for(), Duration::from_millis(100));
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeBounded {
    max_tokens: NonZeroUsize,
    max_latency: Duration,
    immediate_first: bool,
    anticipate: bool,
    gaps: Gaps,
}

impl TimeBounded {
    /// Flushes at `max_tokens` tokens or when the oldest buffered token is `max_latency` old.
    ///
    /// A `max_latency` of zero flushes every token at once; [`Duration::MAX`] never flushes on
    /// time (the deadline saturates instead of overflowing).
    ///
    /// # Panics
    ///
    /// If `max_tokens` is 0. Use [`try_new`](Self::try_new) for values from configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenflush::policy::TimeBounded;
    ///
    /// let policy = TimeBounded::new(4, Duration::from_millis(100));
    /// assert_eq!(policy.max_tokens(), 4);
    /// assert_eq!(policy.max_latency(), Duration::from_millis(100));
    /// ```
    #[must_use]
    #[track_caller]
    pub const fn new(max_tokens: usize, max_latency: Duration) -> Self {
        match Self::try_new(max_tokens, max_latency) {
            Ok(policy) => policy,
            Err(_) => panic!("TimeBounded::new: max_tokens must be at least 1, got 0"),
        }
    }

    /// Like [`new`](Self::new), but returns an error instead of panicking.
    ///
    /// # Errors
    ///
    /// [`PolicyError::ZeroMaxTokens`] if `max_tokens` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenflush::policy::{PolicyError, TimeBounded};
    ///
    /// let err = TimeBounded::try_new(0, Duration::from_millis(50)).unwrap_err();
    /// assert_eq!(err, PolicyError::ZeroMaxTokens);
    /// ```
    pub const fn try_new(max_tokens: usize, max_latency: Duration) -> Result<Self, PolicyError> {
        match NonZeroUsize::new(max_tokens) {
            Some(max_tokens) => Ok(Self {
                max_tokens,
                max_latency,
                immediate_first: true,
                anticipate: false,
                gaps: Gaps::new(),
            }),
            None => Err(PolicyError::ZeroMaxTokens),
        }
    }

    /// Whether the stream's first text is flushed at once (the default) or waits like any other.
    #[must_use]
    pub const fn with_immediate_first(mut self, immediate_first: bool) -> Self {
        self.immediate_first = immediate_first;
        self
    }

    /// Flushes as soon as upstream goes quiet when the next token is not expected before the
    /// deadline, instead of waiting for the timer: the same bound, less added delay, and far
    /// fewer wake-ups of the timer ([`FlushReason::Anticipated`]). It learns the gap between
    /// arrivals from the arrivals themselves (a moving average, a burst counting once, and
    /// sent whole); a token that comes later than expected still goes out at the deadline.
    /// Off by default.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use tokenflush::{policy::TimeBounded, FlushExt, FlushReason};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // A token every 20 ms, a 50 ms bound.
    /// let tokens = futures::stream::iter(0..9).then(|_| async {
    ///     tokio::time::sleep(Duration::from_millis(20)).await;
    ///     "x"
    /// });
    /// let policy = TimeBounded::new(16, Duration::from_millis(50)).with_anticipation(true);
    /// let chunks: Vec<_> = Box::pin(tokens.flush_with(policy)).collect().await;
    /// // After the first token: three tokens a chunk, each sent when the third arrives (the
    /// // fourth is due after the deadline), never by the timer.
    /// let shown: Vec<_> = chunks.iter().map(|c| (c.token_count(), c.reason())).collect();
    /// assert_eq!(shown[1..3], [(3, FlushReason::Anticipated), (3, FlushReason::Anticipated)]);
    /// # }
    /// ```
    #[must_use]
    pub const fn with_anticipation(mut self, anticipate: bool) -> Self {
        self.anticipate = anticipate;
        self
    }

    /// Whether it flushes ahead of a deadline the next token would miss.
    #[must_use]
    pub const fn anticipation(&self) -> bool {
        self.anticipate
    }

    /// How many tokens make a chunk at most.
    #[must_use]
    pub const fn max_tokens(&self) -> usize {
        self.max_tokens.get()
    }

    /// The longest a token waits in the buffer.
    #[must_use]
    pub const fn max_latency(&self) -> Duration {
        self.max_latency
    }

    /// Whether the stream's first text is flushed at once.
    #[must_use]
    pub const fn immediate_first(&self) -> bool {
        self.immediate_first
    }
}

impl FlushPolicy for TimeBounded {
    #[inline]
    fn decide(&mut self, state: &BufferState<'_>) -> Decision {
        if self.anticipate {
            self.gaps.observe(state);
        }
        if state.token_count() >= self.max_tokens.get() {
            return Decision::Flush;
        }
        if self.immediate_first && state.is_first_chunk() {
            return Decision::FlushAs(FlushReason::First);
        }
        let Some(deadline) = state
            .oldest()
            .and_then(|oldest| oldest.checked_add(self.max_latency))
        else {
            return Decision::Wait;
        };
        // Asked with upstream idle: the burst, if any, has all arrived.
        if self.anticipate
            && state.upstream_idle()
            && self
                .gaps
                .next_arrival()
                .is_some_and(|next| next >= deadline)
        {
            return Decision::FlushAs(FlushReason::Anticipated);
        }
        Decision::WaitUntil(deadline)
    }

    fn on_flush(&mut self, chunk: &Chunk) {
        if self.anticipate {
            self.gaps.flushed(chunk.token_count());
        }
    }
}
