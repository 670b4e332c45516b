//! [`EventId`]: the id of every event of a resumable stream, and where it places the event.

use std::fmt;
use std::str::FromStr;

use super::cursor::MAX_SEQ;
use super::{ResumeError, StreamId};

/// The sequence number of the events that end a stream (the format's closing events, or the
/// error that ends it): above every item's.
pub(crate) const END_SEQ: u64 = MAX_SEQ + 1;

/// The index of the last event of a stream: a reader whose `Last-Event-ID` has it has seen
/// everything.
pub(crate) const LAST_INDEX: u32 = u32::MAX;

/// The longest text form: 32 hex digits, `-`, a sequence number of at most 16 digits, `-`, an
/// index of at most 10 digits.
const MAX_TEXT: usize = 32 + 1 + 16 + 1 + 10;

/// The id of one event of a resumable stream: which stream, and where in it.
///
/// Its text form, as the SSE `id:` field carries it and as `Last-Event-ID` brings it back, is
/// `<stream>-<seq>-<index>`:
///
/// - `<stream>`: the [`StreamId`], 32 lowercase hex digits — a capability;
/// - `<seq>`: the sequence number of the stored item the event was rendered from (decimal).
///   The stream's opening events and its first item's events share sequence number 0. The
///   events that end the stream (the format's closing events after a clean end, or its error
///   event) have 9007199254740992 (2<sup>53</sup>), above every item's;
/// - `<index>`: the event's place among the events of that item (decimal, from 0): one item
///   may render into several events (Anthropic's block start and delta). The very last event of
///   a stream has index 4294967295 (2<sup>32</sup> − 1), so that a reader that has it is known
///   to have seen everything.
///
/// Ids increase strictly, as `(seq, index)` pairs, through a stream. Parsing accepts exactly
/// this form (no signs, no leading zeros, no spaces) after looking at the length first, so a
/// hostile `Last-Event-ID` (a megabyte of it) costs nothing; a text that is not an id is
/// [`ResumeError::NotFound`], the answer an unknown stream gets.
///
/// `Debug` shows only the first 8 digits of the stream id.
///
/// # Examples
///
/// ```
/// use tokenflush::resume::{EventId, StreamId};
///
/// let stream = StreamId::random()?;
/// let id: EventId = format!("{stream}-12-1").parse()?;
/// assert_eq!((id.stream(), id.seq(), id.index()), (stream, 12, 1));
/// assert_eq!(id.to_string(), format!("{stream}-12-1"));
///
/// assert!(format!("{stream}-012-1").parse::<EventId>().is_err());
/// assert!(format!("{stream}-12").parse::<EventId>().is_err());
/// assert!("x".repeat(1 << 20).parse::<EventId>().is_err());
/// # Ok::<(), tokenflush::resume::ResumeError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EventId {
    stream: StreamId,
    seq: u64,
    index: u32,
}

impl EventId {
    /// The stream the event belongs to.
    #[must_use]
    pub fn stream(&self) -> StreamId {
        self.stream
    }

    /// The sequence number of the item the event was rendered from (see the
    /// [text form](Self)).
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// The event's place among its item's events.
    #[must_use]
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The place of the event in its stream: later events have greater positions.
    pub(crate) fn position(&self) -> (u64, u32) {
        (self.seq, self.index)
    }

    /// Whether this is the last event of its stream.
    pub(crate) fn is_last(&self) -> bool {
        self.seq == END_SEQ && self.index == LAST_INDEX
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.stream, self.seq, self.index)
    }
}

impl fmt::Debug for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "EventId({:?}, {}, {})",
            self.stream, self.seq, self.index
        )
    }
}

impl FromStr for EventId {
    type Err = ResumeError;

    /// Parses `<stream>-<seq>-<index>` exactly; see the [text form](Self).
    fn from_str(text: &str) -> Result<Self, ResumeError> {
        if text.len() > MAX_TEXT {
            return Err(ResumeError::NotFound);
        }
        let (stream, rest) = text.split_at_checked(32).ok_or(ResumeError::NotFound)?;
        let stream: StreamId = stream.parse()?;
        let rest = rest.strip_prefix('-').ok_or(ResumeError::NotFound)?;
        let (seq, index) = rest.split_once('-').ok_or(ResumeError::NotFound)?;
        let seq = decimal(seq).filter(|&seq| seq <= END_SEQ);
        let index = decimal(index).and_then(|index| u32::try_from(index).ok());
        match (seq, index) {
            (Some(seq), Some(index)) => Ok(Self { stream, seq, index }),
            _ => Err(ResumeError::NotFound),
        }
    }
}

/// A decimal number in canonical form (digits only, no leading zero unless it is `0`), up to
/// 2<sup>64</sup> − 1.
fn decimal(text: &str) -> Option<u64> {
    let bytes = text.as_bytes();
    let canonical = match bytes {
        [] => false,
        [b'0'] => true,
        [first, ..] => *first != b'0' && bytes.iter().all(u8::is_ascii_digit),
    };
    if !canonical || bytes.len() > 20 {
        return None;
    }
    bytes.iter().try_fold(0_u64, |value, &digit| {
        value.checked_mul(10)?.checked_add(u64::from(digit - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::{decimal, EventId, END_SEQ, LAST_INDEX, MAX_TEXT};
    use crate::resume::StreamId;

    #[test]
    fn decimals_are_canonical() {
        assert_eq!(decimal("0"), Some(0));
        assert_eq!(decimal("10"), Some(10));
        assert_eq!(decimal("18446744073709551615"), Some(u64::MAX));
        for bad in [
            "",
            "00",
            "01",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1a",
            "18446744073709551616",
        ] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_longest_id_fits_the_bound() {
        let id = EventId {
            stream: StreamId::random().unwrap(),
            seq: END_SEQ,
            index: LAST_INDEX,
        };
        let text = id.to_string();
        assert_eq!(text.len(), MAX_TEXT);
        assert_eq!(text.parse::<EventId>().unwrap(), id);
        assert!(id.is_last());
        let beyond = format!("{}-{}-0", id.stream(), END_SEQ + 1);
        assert!(beyond.parse::<EventId>().is_err());
    }
}
