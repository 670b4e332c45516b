//! [`Adaptive`]: a batch that grows while tokens come fast and shrinks when they slow.

use std::num::NonZeroUsize;
use std::time::Duration;

use super::gaps::Gaps;
use super::{BufferState, Decision, FlushPolicy, PolicyError};
use crate::{Chunk, FlushReason};

/// A batch that grows while tokens come fast and shrinks when they slow, under a hard
/// `max_latency`.
///
/// It learns the gap between arrivals (a moving average) and flushes once it holds as many
/// tokens as arrive in half of `max_latency` — 1 to `max_tokens` — and upstream has nothing
/// more ready (a burst goes out whole), or when the oldest buffered token is `max_latency` old,
/// whichever comes first. A fast model (5 ms a token, 100 ms bound) gets
/// chunks of 10; a slow one (300 ms a token) gets each token at once instead of a fixed wait;
/// a model that speeds up mid-answer gets larger chunks as it does. Unlike a batch that only
/// grows, the time bound never moves: no token waits longer than `max_latency`. The first text
/// goes out at once unless [`with_immediate_first(false)`](Self::with_immediate_first).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
/// use tokenflush::{policy::Adaptive, FlushExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // 40 tokens 5 ms apart, then 4 tokens 300 ms apart.
/// let gaps = std::iter::repeat_n(5, 40).chain(std::iter::repeat_n(300, 4));
/// let tokens = futures::stream::iter(gaps).then(|ms| async move {
///     tokio::time::sleep(Duration::from_millis(ms)).await;
///     "tok "
/// });
/// let policy = Adaptive::new(Duration::from_millis(100));
/// let sizes: Vec<usize> = Box::pin(tokens.flush_with(policy))
///     .map(|chunk| chunk.token_count())
///     .collect()
///     .await;
/// assert!(sizes[1..4].iter().all(|&n| n >= 8), "large chunks while fast: {sizes:?}");
/// assert_eq!(sizes[sizes.len() - 2..], [1, 1], "one token at a time when slow: {sizes:?}");
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adaptive {
    max_latency: Duration,
    max_tokens: NonZeroUsize,
    immediate_first: bool,
    gaps: Gaps,
}

impl Adaptive {
    /// Chunks of 1 to 64 tokens as the pace allows; no text older than `max_latency`.
    #[must_use]
    pub const fn new(max_latency: Duration) -> Self {
        Self {
            max_latency,
            max_tokens: NonZeroUsize::MIN.saturating_add(63),
            immediate_first: true,
            gaps: Gaps::new(),
        }
    }

    /// Chunks of 1 to `max_tokens` tokens, or why that cannot work.
    ///
    /// # Errors
    ///
    /// [`PolicyError::ZeroMaxTokens`] if `max_tokens` is 0.
    pub const fn try_new(max_latency: Duration, max_tokens: usize) -> Result<Self, PolicyError> {
        match NonZeroUsize::new(max_tokens) {
            Some(max_tokens) => Ok(Self {
                max_tokens,
                ..Self::new(max_latency)
            }),
            None => Err(PolicyError::ZeroMaxTokens),
        }
    }

    /// Sets the most tokens a chunk grows to (64 by default).
    ///
    /// # Panics
    ///
    /// If `max_tokens` is 0. Use [`try_new`](Self::try_new) for values from configuration.
    #[must_use]
    #[track_caller]
    pub const fn with_max_tokens(self, max_tokens: usize) -> Self {
        match Self::try_new(self.max_latency, max_tokens) {
            Ok(policy) => Self {
                max_tokens: policy.max_tokens,
                ..self
            },
            Err(_) => panic!("Adaptive::with_max_tokens: max_tokens must be at least 1, got 0"),
        }
    }

    /// Whether the stream's first text goes out at once (the default).
    #[must_use]
    pub const fn with_immediate_first(mut self, immediate_first: bool) -> Self {
        self.immediate_first = immediate_first;
        self
    }

    /// How many tokens the next chunk should hold at the pace seen so far.
    fn target(&self) -> usize {
        let max = self.max_tokens.get();
        // Before two arrivals there is no pace: the largest chunk. Only gaps longer than zero
        // are averaged, so the average is never zero; were it, the largest chunk again.
        self.gaps
            .average()
            .and_then(|gap| {
                (self.max_latency / 2)
                    .as_nanos()
                    .checked_div(gap.as_nanos())
            })
            .map_or(max, |fit| usize::try_from(fit).unwrap_or(max).clamp(1, max))
    }
}

impl FlushPolicy for Adaptive {
    fn decide(&mut self, state: &BufferState<'_>) -> Decision {
        self.gaps.observe(state);
        if self.immediate_first && state.is_first_chunk() {
            return Decision::FlushAs(FlushReason::First);
        }
        // Enough for the pace: out as soon as upstream goes quiet, so that a burst that
        // arrives together goes out together.
        let tokens = state.token_count();
        if tokens >= self.target() && (state.upstream_idle() || tokens >= self.max_tokens.get()) {
            return Decision::Flush;
        }
        match state
            .oldest()
            .and_then(|oldest| oldest.checked_add(self.max_latency))
        {
            Some(deadline) => Decision::WaitUntil(deadline),
            None => Decision::Wait,
        }
    }

    fn on_flush(&mut self, chunk: &Chunk) {
        self.gaps.flushed(chunk.token_count());
    }
}
