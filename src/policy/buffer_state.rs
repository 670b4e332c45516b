use std::time::Duration;

use tokio::time::Instant;

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
    chunks_emitted: u64,
    upstream_idle: bool,
}

impl<'a> BufferState<'a> {
    /// A state holding `text` made of `token_count` tokens, with no instants, as the first chunk
    /// of its stream, with upstream possibly ready.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::policy::BufferState;
    ///
    /// let state = BufferState::new("ab", 2);
    /// assert_eq!((state.text(), state.token_count()), ("ab", 2));
    /// assert_eq!(state.oldest(), None);
    /// ```
    #[must_use]
    pub const fn new(text: &'a str, token_count: usize) -> Self {
        Self {
            text,
            token_count,
            oldest: None,
            now: None,
            chunks_emitted: 0,
            upstream_idle: false,
        }
    }

    /// A state with every field given, for the adapter.
    #[inline(always)]
    pub(crate) const fn from_parts(
        text: &'a str,
        token_count: usize,
        oldest: Option<Instant>,
        now: Option<Instant>,
        chunks_emitted: u64,
        upstream_idle: bool,
    ) -> Self {
        Self {
            text,
            token_count,
            oldest,
            now,
            chunks_emitted,
            upstream_idle,
        }
    }

    /// Sets the instant at which the oldest buffered text became complete.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio::time::Instant;
    /// use tokenflush::policy::BufferState;
    ///
    /// let t = Instant::now();
    /// assert_eq!(BufferState::new("a", 1).with_oldest(t).oldest(), Some(t));
    /// ```
    #[must_use]
    pub const fn with_oldest(mut self, oldest: Instant) -> Self {
        self.oldest = Some(oldest);
        self
    }

    /// Sets the current instant, as read by the adapter.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio::time::Instant;
    /// use tokenflush::policy::BufferState;
    ///
    /// let t = Instant::now();
    /// assert_eq!(BufferState::new("a", 1).with_now(t).now(), Some(t));
    /// ```
    #[must_use]
    pub const fn with_now(mut self, now: Instant) -> Self {
        self.now = Some(now);
        self
    }

    /// Sets how many chunks the stream has yielded before this buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::policy::BufferState;
    ///
    /// assert!(!BufferState::new("a", 1).with_chunks_emitted(3).is_first_chunk());
    /// ```
    #[must_use]
    pub const fn with_chunks_emitted(mut self, chunks_emitted: u64) -> Self {
        self.chunks_emitted = chunks_emitted;
        self
    }

    /// Sets whether upstream had nothing ready when the policy was asked.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::policy::BufferState;
    ///
    /// assert!(BufferState::new("a", 1).with_upstream_idle(true).upstream_idle());
    /// ```
    #[must_use]
    pub const fn with_upstream_idle(mut self, upstream_idle: bool) -> Self {
        self.upstream_idle = upstream_idle;
        self
    }

    /// The buffered text: complete characters only, never empty when the adapter asks.
    ///
    /// For policies that flush at word or sentence boundaries.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::policy::BufferState;
    ///
    /// assert!(BufferState::new("Hi.", 2).text().ends_with('.'));
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::policy::BufferState;
    ///
    /// assert_eq!(BufferState::new("abc", 3).token_count(), 3);
    /// ```
    #[must_use]
    pub const fn token_count(&self) -> usize {
        self.token_count
    }

    /// When the oldest buffered text became complete: the instant its token was pulled, or for a
    /// byte token that ended inside a character, the instant that character was completed.
    ///
    /// `None` while that text arrived during the adapter's current poll and the clock has not
    /// been read for it: such text is younger than anything a poll can measure, and reading the
    /// clock for every batch would cost more than the rest of the batch. Before the adapter
    /// waits (upstream idle) or yields to the executor with text buffered, it reads the clock
    /// and asks the policy again, with `oldest()` set. A time-based policy therefore answers
    /// [`Decision::Wait`](super::Decision::Wait) when this is `None`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio::time::Instant;
    /// use tokenflush::policy::BufferState;
    ///
    /// let t = Instant::now();
    /// assert_eq!(BufferState::new("a", 1).with_oldest(t).oldest(), Some(t));
    /// ```
    #[must_use]
    pub const fn oldest(&self) -> Option<Instant> {
        self.oldest
    }

    /// The current instant, if the adapter read the clock during this poll (it reads it at most
    /// once per poll, and only when something needs it: a deadline to check, an arrival to pin
    /// down, a chunk's [`held_for`](crate::Chunk::held_for)).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::policy::BufferState;
    ///
    /// assert_eq!(BufferState::new("a", 1).now(), None);
    /// ```
    #[must_use]
    pub const fn now(&self) -> Option<Instant> {
        self.now
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
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::policy::BufferState;
    ///
    /// assert_eq!(BufferState::new("a", 1).with_chunks_emitted(2).chunks_emitted(), 2);
    /// ```
    #[must_use]
    pub const fn chunks_emitted(&self) -> u64 {
        self.chunks_emitted
    }

    /// Whether this buffer will be the stream's first chunk (for time-to-first-token rules).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::policy::BufferState;
    ///
    /// assert!(BufferState::new("a", 1).is_first_chunk());
    /// ```
    #[must_use]
    pub const fn is_first_chunk(&self) -> bool {
        self.chunks_emitted == 0
    }

    /// Whether upstream had nothing ready right now when the policy was asked.
    ///
    /// The adapter asks once with `true` each time upstream goes quiet while text is buffered:
    /// a policy that coalesces only what arrives back to back flushes then.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::policy::BufferState;
    ///
    /// assert!(!BufferState::new("a", 1).upstream_idle());
    /// ```
    #[must_use]
    pub const fn upstream_idle(&self) -> bool {
        self.upstream_idle
    }
}
