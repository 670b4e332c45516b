//! [`Chunk`], what the flush adapters yield, and [`FlushReason`], why they yielded it.

use std::fmt;
use std::time::Duration;

use bytes::Bytes;

/// Buffered text flushed as one unit: whole characters only, never empty.
///
/// The flush adapters ([`flush_with`](crate::FlushExt::flush_with),
/// [`try_flush_with`](crate::TryFlushExt::try_flush_with)) yield one `Chunk` per flush. Besides
/// the text it records how many upstream tokens it holds, why it was flushed and how long its
/// oldest token waited in the buffer, which is what a latency budget is about.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokenflush::{Chunk, FlushReason};
///
/// let chunk = Chunk::new("Hello, world")
///     .unwrap()
///     .with_token_count(4)
///     .with_reason(FlushReason::Deadline)
///     .with_held_for(Duration::from_millis(100));
/// assert_eq!(chunk.as_str(), "Hello, world");
/// assert_eq!(chunk.token_count(), 4);
/// assert_eq!(chunk.reason(), FlushReason::Deadline);
/// assert_eq!(chunk.held_for(), Duration::from_millis(100));
///
/// // A chunk is never empty.
/// assert!(Chunk::new("").is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Chunk {
    text: String,
    token_count: usize,
    reason: FlushReason,
    held_for: Duration,
}

impl Chunk {
    /// A chunk of `text`, or `None` if `text` is empty.
    ///
    /// It counts one token, was flushed for [`FlushReason::Size`] and held for no time; the
    /// `with_*` methods change that. The adapters build their chunks themselves: this is for
    /// tests, fixtures and code that frames text it did not get from an adapter.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::Chunk;
    ///
    /// let chunk = Chunk::new(String::from("token")).unwrap();
    /// assert_eq!(chunk.token_count(), 1);
    /// ```
    #[must_use]
    pub fn new(text: impl Into<String>) -> Option<Self> {
        let text = text.into();
        (!text.is_empty()).then(|| Self::from_parts(text, 1, FlushReason::Size, Duration::ZERO))
    }

    pub(crate) fn from_parts(
        text: String,
        token_count: usize,
        reason: FlushReason,
        held_for: Duration,
    ) -> Self {
        debug_assert!(!text.is_empty(), "a chunk is never empty");
        Self {
            text,
            token_count,
            reason,
            held_for,
        }
    }

    /// Sets how many upstream tokens the chunk holds.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::Chunk;
    ///
    /// assert_eq!(Chunk::new("ab").unwrap().with_token_count(2).token_count(), 2);
    /// ```
    #[must_use]
    pub fn with_token_count(mut self, token_count: usize) -> Self {
        self.token_count = token_count;
        self
    }

    /// Sets why the chunk was flushed.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::{Chunk, FlushReason};
    ///
    /// let chunk = Chunk::new("bye").unwrap().with_reason(FlushReason::End);
    /// assert_eq!(chunk.reason(), FlushReason::End);
    /// ```
    #[must_use]
    pub fn with_reason(mut self, reason: FlushReason) -> Self {
        self.reason = reason;
        self
    }

    /// Sets how long the chunk's oldest token waited before the flush.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenflush::Chunk;
    ///
    /// let chunk = Chunk::new("x").unwrap().with_held_for(Duration::from_millis(7));
    /// assert_eq!(chunk.held_for(), Duration::from_millis(7));
    /// ```
    #[must_use]
    pub fn with_held_for(mut self, held_for: Duration) -> Self {
        self.held_for = held_for;
        self
    }

    /// The text: whole code points only, never empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::Chunk;
    ///
    /// assert_eq!(Chunk::new("héllo").unwrap().as_str(), "héllo");
    /// ```
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// How many upstream tokens the chunk holds.
    ///
    /// A byte token that ends inside a character is counted in the chunk flushed after it was
    /// pulled; the rest of its character goes out with a later chunk.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::{policy::FixedBatch, FlushExt};
    ///
    /// # futures::executor::block_on(async {
    /// let chunks: Vec<_> = futures::stream::iter(["a", "b", "c"])
    ///     .flush_with(FixedBatch::new(2))
    ///     .collect()
    ///     .await;
    /// assert_eq!(chunks[0].token_count(), 2);
    /// assert_eq!(chunks[1].token_count(), 1);
    /// # });
    /// ```
    #[must_use]
    pub fn token_count(&self) -> usize {
        self.token_count
    }

    /// Why the chunk was flushed.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::{Chunk, FlushReason};
    ///
    /// assert_eq!(Chunk::new("a").unwrap().reason(), FlushReason::Size);
    /// ```
    #[must_use]
    pub fn reason(&self) -> FlushReason {
        self.reason
    }

    /// The age of the chunk's oldest token when the chunk was flushed.
    ///
    /// A token's age counts from the moment the adapter pulled it, or for a byte token ending
    /// inside a character, from the moment that character was complete. Tokens pulled in the
    /// same poll of the adapter count as pulled at the same instant.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenflush::Chunk;
    ///
    /// assert_eq!(Chunk::new("a").unwrap().held_for(), Duration::ZERO);
    /// ```
    #[must_use]
    pub fn held_for(&self) -> Duration {
        self.held_for
    }

    /// The text as [`Bytes`], without copying.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::Chunk;
    ///
    /// assert_eq!(&Chunk::new("ab").unwrap().into_bytes()[..], b"ab");
    /// ```
    #[must_use]
    pub fn into_bytes(self) -> Bytes {
        Bytes::from(self.text)
    }

    /// The text as a [`String`], without copying.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::Chunk;
    ///
    /// assert_eq!(Chunk::new("ab").unwrap().into_string(), "ab");
    /// ```
    #[must_use]
    pub fn into_string(self) -> String {
        self.text
    }
}

impl AsRef<str> for Chunk {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Chunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<Chunk> for String {
    fn from(chunk: Chunk) -> Self {
        chunk.into_string()
    }
}

impl From<Chunk> for Bytes {
    fn from(chunk: Chunk) -> Self {
        chunk.into_bytes()
    }
}

/// Why a [`Chunk`] was flushed.
///
/// # Examples
///
/// ```
/// use tokenflush::FlushReason;
///
/// assert_eq!(FlushReason::Deadline.as_str(), "deadline");
/// assert_eq!(FlushReason::End.to_string(), "end");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FlushReason {
    /// A count or byte threshold of the policy was reached.
    Size,
    /// The oldest buffered token reached the policy's time bound.
    Deadline,
    /// Upstream ended; the remainder went out.
    End,
    /// Flushed ahead of an upstream error ([`try_flush_with`](crate::TryFlushExt::try_flush_with)).
    Error,
    /// The first text of the stream, sent at once so that time to first token is never delayed.
    First,
    /// Upstream had nothing more ready, so what arrived together went out together
    /// ([`Coalesce`](crate::policy::Coalesce)).
    Idle,
    /// The adapter's byte cap was reached, whatever the policy said
    /// ([`with_max_buffered`](crate::FlushWith::with_max_buffered)).
    Bytes,
    /// Flushed ahead of an upstream item that does not merge with the buffered text: a
    /// pass-through item, or text of another kind.
    Item,
    /// A word, sentence or line boundary: the text up to it went out, the rest waits.
    Boundary,
    /// Sent ahead of the time bound, which the next token was not expected to beat
    /// ([`TimeBounded::with_anticipation`](crate::policy::TimeBounded::with_anticipation)).
    Anticipated,
}

impl FlushReason {
    /// A short lowercase name, stable for use as a metrics label.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::FlushReason;
    ///
    /// assert_eq!(FlushReason::Size.as_str(), "size");
    /// ```
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Size => "size",
            Self::Deadline => "deadline",
            Self::End => "end",
            Self::Error => "error",
            Self::First => "first",
            Self::Idle => "idle",
            Self::Bytes => "bytes",
            Self::Item => "item",
            Self::Boundary => "boundary",
            Self::Anticipated => "anticipated",
        }
    }
}

impl fmt::Display for FlushReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
