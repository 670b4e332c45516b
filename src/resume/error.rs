use std::error::Error as StdError;
use std::time::Duration;

/// Why a resume store operation failed.
///
/// One type for every store, so a server handles the in-memory store and the Redis store the
/// same way. Three groups:
///
/// - answers about the stream: [`NotFound`](Self::NotFound) (unknown, expired, or not the
///   caller's — deliberately one answer), [`Trimmed`](Self::Trimmed);
/// - mistakes of the producer: [`Finished`](Self::Finished), [`Sequence`](Self::Sequence),
///   [`TooLarge`](Self::TooLarge);
/// - the store itself: [`Limit`](Self::Limit), [`Timeout`](Self::Timeout),
///   [`Unavailable`](Self::Unavailable). A producer that gets one of these keeps serving its
///   live readers; what it could not store shows up as an [`Entry::Gap`](super::Entry::Gap) to
///   readers that resume later.
///
/// # Examples
///
/// An id that was never issued, a malformed one and an expired one get the same answer, so a
/// caller cannot tell them apart:
///
/// ```
/// use tokenflush::resume::{ResumeError, StreamId};
///
/// let malformed = "not-a-stream-id".parse::<StreamId>().unwrap_err();
/// assert_eq!(malformed, ResumeError::NotFound);
/// assert_eq!(malformed.to_string(), "unknown stream");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResumeError {
    /// The stream is unknown, has expired, or belongs to another owner. These are one answer
    /// on purpose: a caller learns nothing about ids it does not own. A malformed id text is
    /// this error too.
    #[error("unknown stream")]
    NotFound,
    /// The read starts before the entries the stream still holds: its length cap dropped them.
    #[error("entries before sequence number {first} are no longer stored")]
    Trimmed {
        /// The first sequence number the stream can still replay from.
        first: u64,
    },
    /// The stream has already finished: nothing more can be appended, and it cannot finish
    /// twice.
    #[error("the stream has already finished")]
    Finished,
    /// An append's sequence number is not above the stream's last one, or is beyond
    /// 2<sup>53</sup> − 1.
    #[error("sequence number {seq} is not above the stream's last one")]
    Sequence {
        /// The rejected sequence number.
        seq: u64,
    },
    /// One entry is larger than the stream's byte cap.
    #[error("an entry of {len} bytes is larger than the stream's cap of {max} bytes")]
    TooLarge {
        /// The entry's length in bytes.
        len: usize,
        /// The stream's cap in bytes.
        max: usize,
    },
    /// The store is at one of its limits (streams held, remote followers served).
    #[error("the resume store is at its limit of {limit} {what}")]
    Limit {
        /// What the limit counts: `"streams"` or `"followers"`.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// The store did not answer in time.
    #[error("the resume store did not answer within {0:?}")]
    Timeout(Duration),
    /// The store cannot be reached or failed (a Redis connection or server error, or the
    /// operating system's random source failing to make a stream id).
    #[error("the resume store is unavailable")]
    Unavailable(#[source] Box<dyn StdError + Send + Sync>),
}

impl PartialEq for ResumeError {
    /// Equal variants with equal fields; two [`Unavailable`](Self::Unavailable) errors are
    /// equal when their sources display the same.
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::NotFound, Self::NotFound) | (Self::Finished, Self::Finished) => true,
            (Self::Trimmed { first: a }, Self::Trimmed { first: b }) => a == b,
            (Self::Sequence { seq: a }, Self::Sequence { seq: b }) => a == b,
            (Self::TooLarge { len: a, max: c }, Self::TooLarge { len: b, max: d }) => {
                a == b && c == d
            }
            (Self::Limit { what: a, limit: c }, Self::Limit { what: b, limit: d }) => {
                a == b && c == d
            }
            (Self::Timeout(a), Self::Timeout(b)) => a == b,
            (Self::Unavailable(a), Self::Unavailable(b)) => a.to_string() == b.to_string(),
            _ => false,
        }
    }
}
