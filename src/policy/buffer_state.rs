use std::time::Duration;

use tokio::time::Instant;

use crate::flush::{Oldest, PollClock};

/// What a [`FlushPolicy`](super::FlushPolicy) sees of the buffer when it decides.
///
/// A plain value with getters and a public constructor, so a policy can be unit-tested without
/// a runtime or a stream: build the state, call `decide`, check the answer.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::Instant;
/// use tokenflush::policy::{BufferState, Decision, FlushPolicy, TimeBounded};
///
/// let start = Instant::now();
/// let state = BufferState::new("Hello, wor", 3)
///     .with_oldest(start)
///     .with_chunks_emitted(1);
/// let mut policy = TimeBounded::new(4, Duration::from_millis(100));
/// assert_eq!(
///     policy.decide(&state),
///     Decision::WaitUntil(start + Duration::from_millis(100))
/// );
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BufferState<'a> {
    text: &'a str,
    token_count: usize,
    oldest: Option<Instant>,
    now: Option<Instant>,
    /// The adapter's clock for the current poll, read only if the policy asks for an instant.
    clock: Option<&'a PollClock>,
    /// The oldest text arrived during the current poll: its instant is the poll's.
    oldest_this_poll: bool,
    chunks_emitted: u64,
    upstream_idle: bool,
}

impl<'a> BufferState<'a> {
    /// A state holding `text` made of `token_count` tokens, with no instants, as the first chunk
    /// of its stream, with upstream possibly ready.
    #[must_use]
    pub const fn new(text: &'a str, token_count: usize) -> Self {
        Self {
            text,
            token_count,
            oldest: None,
            now: None,
            clock: None,
            oldest_this_poll: false,
            chunks_emitted: 0,
            upstream_idle: false,
        }
    }

    /// The adapter's view: instants are read from the poll's clock when the policy asks.
    #[inline(always)]
    pub(crate) const fn from_engine(
        text: &'a str,
        token_count: usize,
        oldest: Oldest,
        clock: &'a PollClock,
        chunks_emitted: u64,
        upstream_idle: bool,
    ) -> Self {
        let (oldest, oldest_this_poll) = match oldest {
            Oldest::At(instant) => (Some(instant), false),
            Oldest::ThisPoll => (None, true),
            Oldest::None => (None, false),
        };
        Self {
            text,
            token_count,
            oldest,
            now: None,
            clock: Some(clock),
            oldest_this_poll,
            chunks_emitted,
            upstream_idle,
        }
    }

    /// Sets the instant at which the oldest buffered text became complete.
    #[must_use]
    pub const fn with_oldest(mut self, oldest: Instant) -> Self {
        self.oldest = Some(oldest);
        self.oldest_this_poll = false;
        self
    }

    /// Sets the current instant, as read by the adapter.
    #[must_use]
    pub const fn with_now(mut self, now: Instant) -> Self {
        self.now = Some(now);
        self
    }

    /// Sets how many chunks the stream has yielded before this buffer.
    #[must_use]
    pub const fn with_chunks_emitted(mut self, chunks_emitted: u64) -> Self {
        self.chunks_emitted = chunks_emitted;
        self
    }

    /// Sets whether upstream had nothing ready when the policy was asked.
    #[must_use]
    pub const fn with_upstream_idle(mut self, upstream_idle: bool) -> Self {
        self.upstream_idle = upstream_idle;
        self
    }

    /// The buffered text: complete characters only, never empty when the adapter asks.
    ///
    /// For policies that flush at word or sentence boundaries.
    #[must_use]
    pub const fn text(&self) -> &'a str {
        self.text
    }

    /// The buffered text's length in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::policy::BufferState;
    ///
    /// assert_eq!(BufferState::new("é", 1).byte_len(), 2);
    /// ```
    #[must_use]
    pub const fn byte_len(&self) -> usize {
        self.text.len()
    }

    /// How many upstream tokens are buffered, counting the token just appended.
    #[must_use]
    pub const fn token_count(&self) -> usize {
        self.token_count
    }

    /// When the oldest buffered text became complete: the instant its token was pulled, or for a
    /// byte token that ended inside a character, the instant that character was completed.
    ///
    /// The adapter reads the clock at most once per poll, and only when a policy asks for an
    /// instant: tokens pulled during one poll count as pulled at the poll's instant (exact on a
    /// paused clock, off by the poll's duration — microseconds — on a real one). A policy that
    /// never asks costs no clock read. `None` when nothing is buffered, or in a state built with
    /// [`new`](Self::new) without [`with_oldest`](Self::with_oldest).
    #[must_use]
    pub fn oldest(&self) -> Option<Instant> {
        match self.clock {
            Some(clock) if self.oldest_this_poll => Some(clock.now()),
            _ => self.oldest,
        }
    }

    /// The current instant: from the adapter, the poll's instant (the clock is read once per
    /// poll, when first asked); in a state built with [`new`](Self::new), what
    /// [`with_now`](Self::with_now) set, if anything.
    #[must_use]
    pub fn now(&self) -> Option<Instant> {
        match (self.now, self.clock) {
            (None, Some(clock)) => Some(clock.now()),
            (now, _) => now,
        }
    }

    /// How long the oldest buffered text has waited, when both instants are known.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio::time::Instant;
    /// use tokenflush::policy::BufferState;
    ///
    /// let t = Instant::now();
    /// let state = BufferState::new("a", 1)
    ///     .with_oldest(t)
    ///     .with_now(t + Duration::from_millis(40));
    /// assert_eq!(state.age(), Some(Duration::from_millis(40)));
    /// ```
    #[must_use]
    pub fn age(&self) -> Option<Duration> {
        Some(self.now?.saturating_duration_since(self.oldest?))
    }

    /// How many chunks the stream has yielded before this buffer.
    #[must_use]
    pub const fn chunks_emitted(&self) -> u64 {
        self.chunks_emitted
    }

    /// Whether this buffer will be the stream's first chunk (for time-to-first-token rules).
    #[must_use]
    pub const fn is_first_chunk(&self) -> bool {
        self.chunks_emitted == 0
    }

    /// Whether upstream had nothing ready right now when the policy was asked.
    ///
    /// The adapter asks once with `true` each time upstream goes quiet while text is buffered:
    /// a policy that coalesces only what arrives back to back flushes then.
    #[must_use]
    pub const fn upstream_idle(&self) -> bool {
        self.upstream_idle
    }
}
