use tokio::time::Instant;

use crate::FlushReason;

/// A [`FlushPolicy`](super::FlushPolicy)'s answer: flush now, keep waiting, or wait until an
/// instant.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio::time::Instant;
/// use tokenflush::policy::Decision;
///
/// let soon = Instant::now() + Duration::from_millis(50);
/// let later = soon + Duration::from_millis(50);
/// // "Flush when either would": the earliest of two decisions.
/// assert_eq!(Decision::WaitUntil(later).earliest(Decision::WaitUntil(soon)), Decision::WaitUntil(soon));
/// assert_eq!(Decision::Wait.earliest(Decision::WaitUntil(soon)), Decision::WaitUntil(soon));
/// assert_eq!(Decision::WaitUntil(soon).earliest(Decision::Flush), Decision::Flush);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Decision {
    /// Flush the buffer now because a size threshold was reached ([`FlushReason::Size`]).
    Flush,
    /// Flush the buffer now, for the reason given.
    FlushAs(FlushReason),
    /// Flush the first `end` bytes of the buffered text now, for the reason given, and keep
    /// the rest buffered: text up to a word or sentence boundary goes out, the word still being
    /// written waits. `end` is rounded down to a character boundary; 0 keeps everything
    /// (like [`Wait`](Self::Wait), but the previous deadline stays), and the whole buffer or
    /// more flushes it all. The rest keeps counting its age from its own arrival.
    FlushUpTo(usize, FlushReason),
    /// Keep buffering, with no time bound.
    Wait,
    /// Keep buffering, but flush at this instant if nothing flushes earlier
    /// ([`FlushReason::Deadline`]). An instant already past flushes at once.
    WaitUntil(Instant),
}

impl Decision {
    /// The decision that flushes first: a flush beats any wait — a whole flush beats a partial
    /// one, the first of two whole flushes wins, the longer of two partial ones wins —
    /// the earlier of two instants wins, and any instant beats waiting without one.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::policy::Decision;
    /// use tokenflush::FlushReason;
    ///
    /// assert_eq!(Decision::Wait.earliest(Decision::Wait), Decision::Wait);
    /// assert_eq!(
    ///     Decision::FlushAs(FlushReason::First).earliest(Decision::Flush),
    ///     Decision::FlushAs(FlushReason::First)
    /// );
    /// ```
    #[must_use]
    pub fn earliest(self, other: Self) -> Self {
        match (self, other) {
            (Self::Flush | Self::FlushAs(_), _) => self,
            (_, Self::Flush | Self::FlushAs(_)) => other,
            (Self::FlushUpTo(a, _), Self::FlushUpTo(b, _)) => {
                if b > a {
                    other
                } else {
                    self
                }
            }
            (Self::FlushUpTo(..), _) => self,
            (_, Self::FlushUpTo(..)) => other,
            (Self::WaitUntil(a), Self::WaitUntil(b)) => Self::WaitUntil(a.min(b)),
            (Self::WaitUntil(_), Self::Wait) => self,
            (Self::Wait, _) => other,
        }
    }

    /// Whether this decision flushes now.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::policy::Decision;
    ///
    /// assert!(Decision::Flush.is_flush());
    /// assert!(!Decision::Wait.is_flush());
    /// ```
    #[must_use]
    pub const fn is_flush(&self) -> bool {
        matches!(self, Self::Flush | Self::FlushAs(_) | Self::FlushUpTo(..))
    }
}
