//! [`Event`], one server-sent event, and the writers every frame in this module goes through.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::sse::lines::{has_line_break, lines};
use crate::Chunk;

/// The longest `retry` written: `u64::MAX` milliseconds, the most a parser counting
/// milliseconds in a `u64` (this crate's, and most clients') can hold.
const MAX_RETRY: Duration = Duration::from_millis(u64::MAX);

/// One server-sent event, built like axum's: `Event::default().event(..).id(..).data(..)`.
///
/// Setting a field never fails and never panics; a value that cannot be framed (a line break
/// in the event type, id or a comment, a NUL in the id) is reported by [`to_bytes`] and
/// [`write_to`] as an [`EventError`]. Data can be anything: it is split at every line break
/// (CRLF, a lone CR, a lone LF) into one `data:` line each, so a client receives it with its
/// breaks as LF and no text inside it can end the event or start a field.
///
/// The frame lists comments first, then `event`, `id`, `retry` and the `data` lines, then the
/// blank line that ends the event. A field set twice keeps its last value; [`comment`] adds a
/// line each time.
///
/// [`to_bytes`]: Self::to_bytes
/// [`write_to`]: Self::write_to
/// [`comment`]: Self::comment
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokenflush::sse::Event;
///
/// let event = Event::default()
///     .event("token")
///     .id("42")
///     .retry(Duration::from_secs(3))
///     .data("  two\r\nlines");
/// assert_eq!(
///     event.to_bytes()?,
///     "event: token\nid: 42\nretry: 3000\ndata:   two\ndata: lines\n\n",
/// );
///
/// // A field that would forge a frame is an error, not a panic.
/// assert!(Event::default().event("x\ndata: forged").to_bytes().is_err());
/// # Ok::<(), tokenflush::sse::EventError>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Event {
    comments: Vec<String>,
    event_type: Option<String>,
    id: Option<String>,
    retry: Option<Duration>,
    data: Option<String>,
}

impl Event {
    /// Sets the event type (`event:`), which a browser dispatches to
    /// `addEventListener(event_type, ..)`; without one, or with an empty one, clients see
    /// `"message"`.
    ///
    /// A line break in `event_type` makes [`to_bytes`](Self::to_bytes) fail.
    #[must_use]
    pub fn event(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Sets the event id (`id:`), which a client sends back as `Last-Event-ID` when it
    /// reconnects. An empty id resets the client's last event id.
    ///
    /// A line break or a NUL in `id` makes [`to_bytes`](Self::to_bytes) fail: a client would
    /// end the line early, or ignore the field.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::Event;
    ///
    /// assert_eq!(Event::default().id("7").to_bytes().unwrap(), "id: 7\n\n");
    /// assert_eq!(Event::default().id("").to_bytes().unwrap(), "id:\n\n");
    /// assert!(Event::default().id("a\0b").to_bytes().is_err());
    /// ```
    #[must_use]
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets how long a client waits before reconnecting (`retry:`), in whole milliseconds;
    /// a fraction of a millisecond is dropped.
    ///
    /// At most `u64::MAX` milliseconds (about 585 million years) are written: a longer
    /// duration, such as [`Duration::MAX`], is written as that, the largest that clients
    /// counting milliseconds in a `u64` can hold (this crate's [`Parser`](crate::sse::Parser)
    /// reads it back exactly).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenflush::sse::Event;
    ///
    /// let event = Event::default().retry(Duration::from_micros(2_500_900));
    /// assert_eq!(event.to_bytes().unwrap(), "retry: 2500\n\n");
    /// let event = Event::default().retry(Duration::MAX);
    /// assert_eq!(event.to_bytes().unwrap(), "retry: 18446744073709551615\n\n");
    /// ```
    #[must_use]
    pub fn retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry.min(MAX_RETRY));
        self
    }

    /// Sets the data: any text, one `data:` line per line of it.
    ///
    /// CRLF, a lone CR and a lone LF each end a line; U+2028, U+2029, U+0085, NUL, VT and FF
    /// do not. Every line is written as `data: ` and the line, so its leading spaces survive;
    /// empty data is one empty `data:` line, which clients receive as `""` (an event without any
    /// `data:` line is never delivered). Passing a `String` (or a [`Chunk`] through
    /// [`From`]) moves it, so framing copies the text once.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::Event;
    ///
    /// let event = Event::default().data("a\rb\n\nc");
    /// assert_eq!(event.to_bytes().unwrap(), "data: a\ndata: b\ndata:\ndata: c\n\n");
    /// assert_eq!(Event::default().data("").to_bytes().unwrap(), "data:\n\n");
    /// ```
    #[must_use]
    pub fn data(mut self, data: impl Into<String>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Sets the data to `value` serialized as compact JSON.
    ///
    /// JSON text never holds a raw line break (serde_json escapes them inside strings), so the
    /// data is one `data:` line.
    ///
    /// # Errors
    ///
    /// The error of [`serde_json::to_string`], for a value that cannot be serialized (a map
    /// with non-string keys, a failing `Serialize` impl).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::Event;
    ///
    /// let event = Event::default().json_data(&["a\nb", "c"])?;
    /// assert_eq!(event.to_bytes()?, "data: [\"a\\nb\",\"c\"]\n\n");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "serde")]
    pub fn json_data<T: serde::Serialize + ?Sized>(
        self,
        value: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(self.data(serde_json::to_string(value)?))
    }

    /// Adds a comment line (`: comment`), which clients ignore; call it again for more lines.
    ///
    /// Comments keep idle connections open and let proxies see bytes. A line break in
    /// `comment` makes [`to_bytes`](Self::to_bytes) fail: split multi-line text into several
    /// calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::Event;
    ///
    /// let event = Event::default().comment("first").comment("second");
    /// assert_eq!(event.to_bytes().unwrap(), ": first\n: second\n\n");
    /// ```
    #[must_use]
    pub fn comment(mut self, comment: impl Into<String>) -> Self {
        self.comments.push(comment.into());
        self
    }

    /// Checks that every field can be framed, as [`to_bytes`](Self::to_bytes) does first.
    ///
    /// # Errors
    ///
    /// The [`EventError`] for the first field that cannot be framed: a line break in the
    /// event type, the id or a comment, or a NUL in the id.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::{Event, EventError};
    ///
    /// assert_eq!(Event::default().comment("a\r").validate(), Err(EventError::LineBreakInComment));
    /// assert_eq!(Event::default().data("a\r").validate(), Ok(()));
    /// ```
    pub fn validate(&self) -> Result<(), EventError> {
        if self.comments.iter().any(|comment| has_line_break(comment)) {
            return Err(EventError::LineBreakInComment);
        }
        if self.event_type.as_deref().is_some_and(has_line_break) {
            return Err(EventError::LineBreakInEventType);
        }
        if let Some(id) = &self.id {
            if has_line_break(id) {
                return Err(EventError::LineBreakInId);
            }
            if id.as_bytes().contains(&0) {
                return Err(EventError::NulInId);
            }
        }
        Ok(())
    }

    /// The event as one frame: its lines and the blank line that ends it.
    ///
    /// The frame is allocated once, at its exact size.
    ///
    /// # Errors
    ///
    /// An [`EventError`] if a field cannot be framed (see [`validate`](Self::validate)).
    pub fn to_bytes(&self) -> Result<Bytes, EventError> {
        self.validate()?;
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.write_unchecked(&mut out);
        Ok(out.freeze())
    }

    /// Appends the event's frame to `out`, with no allocation besides growing `out`.
    ///
    /// # Errors
    ///
    /// An [`EventError`] if a field cannot be framed (see [`validate`](Self::validate));
    /// `out` is then left as it was.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tokenflush::sse::Event;
    ///
    /// let mut out = BytesMut::new();
    /// Event::default().data("a").write_to(&mut out)?;
    /// Event::default().data("b").write_to(&mut out)?;
    /// assert_eq!(out, "data: a\n\ndata: b\n\n");
    /// assert!(Event::default().id("\n").write_to(&mut out).is_err());
    /// assert_eq!(out, "data: a\n\ndata: b\n\n");
    /// # Ok::<(), tokenflush::sse::EventError>(())
    /// ```
    pub fn write_to(&self, out: &mut BytesMut) -> Result<(), EventError> {
        self.validate()?;
        out.reserve(self.encoded_len());
        self.write_unchecked(out);
        Ok(())
    }

    /// The exact length of the frame (of a valid event).
    fn encoded_len(&self) -> usize {
        let comments: usize = self
            .comments
            .iter()
            .map(|comment| field_len(b"", comment))
            .sum();
        let event_type = self
            .event_type
            .as_deref()
            .map_or(0, |value| field_len(b"event", value));
        let id = self
            .id
            .as_deref()
            .map_or(0, |value| field_len(b"id", value));
        let retry = self.retry.map_or(0, |retry| {
            "retry: \n".len() + decimal_len(retry.as_millis())
        });
        let data = self.data.as_deref().map_or(0, data_len);
        comments + event_type + id + retry + data + 1
    }

    fn write_unchecked(&self, out: &mut BytesMut) {
        for comment in &self.comments {
            write_field(out, b"", comment);
        }
        if let Some(event_type) = &self.event_type {
            write_field(out, b"event", event_type);
        }
        if let Some(id) = &self.id {
            write_field(out, b"id", id);
        }
        if let Some(retry) = self.retry {
            out.extend_from_slice(b"retry: ");
            write_decimal(out, retry.as_millis());
            out.extend_from_slice(b"\n");
        }
        if let Some(data) = &self.data {
            write_data(out, data);
        }
        out.extend_from_slice(b"\n");
    }
}

impl From<Chunk> for Event {
    /// A data-only event holding the chunk's text, moved rather than copied.
    fn from(chunk: Chunk) -> Self {
        Self::default().data(chunk.into_string())
    }
}

/// A field of an [`Event`] that cannot be framed.
///
/// A line break would end the field's line early and let the rest of the text read as
/// another field (an event type of `"x\ndata: forged"` would forge data); a NUL in an id
/// makes clients ignore the id. Rather than panic or write a frame a client reads
/// differently, framing fails with this error.
///
/// # Examples
///
/// ```
/// use tokenflush::sse::{Event, EventError};
///
/// let err = Event::default().event("a\nb").to_bytes().unwrap_err();
/// assert_eq!(err, EventError::LineBreakInEventType);
/// assert_eq!(err.to_string(), "event type contains a line break");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The event type holds a CR or an LF.
    #[error("event type contains a line break")]
    LineBreakInEventType,
    /// The id holds a CR or an LF.
    #[error("event id contains a line break")]
    LineBreakInId,
    /// The id holds a NUL, which makes clients ignore it.
    #[error("event id contains a nul character")]
    NulInId,
    /// A comment holds a CR or an LF.
    #[error("comment contains a line break")]
    LineBreakInComment,
}

/// The length of `name: value\n`, or `name:\n` for an empty value.
fn field_len(name: &[u8], value: &str) -> usize {
    if value.is_empty() {
        name.len() + 2
    } else {
        name.len() + 3 + value.len()
    }
}

/// The length of the `data:` lines for `data`.
fn data_len(data: &str) -> usize {
    lines(data).map(|line| field_len(b"data", line)).sum()
}

/// Writes `name: value\n`, or `name:\n` for an empty value (no trailing space). A comment is
/// the field with the empty name. The value must hold no line break.
pub(crate) fn write_field(out: &mut BytesMut, name: &[u8], value: &str) {
    out.extend_from_slice(name);
    if value.is_empty() {
        out.extend_from_slice(b":\n");
    } else {
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\n");
    }
}

/// Writes one `data:` line per line of `data` (see [`Event::data`]).
pub(crate) fn write_data(out: &mut BytesMut, data: &str) {
    for line in lines(data) {
        write_field(out, b"data", line);
    }
}

/// Writes `value` in decimal, without going through `fmt`.
pub(crate) fn write_decimal(out: &mut BytesMut, value: u128) {
    // u128::MAX has 39 digits.
    let mut digits = [0u8; 39];
    let mut start = digits.len();
    let mut rest = value;
    loop {
        start -= 1;
        digits[start] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[start..]);
}

/// Writes `text` as a JSON string, quoted and escaped as `serde_json` escapes it (`"`, `\\`
/// and the control characters below U+0020; never a raw line break), without needing it.
pub(crate) fn write_json_string(out: &mut BytesMut, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(text.len() + 2);
    out.extend_from_slice(b"\"");
    let bytes = text.as_bytes();
    let mut start = 0;
    for (at, &byte) in bytes.iter().enumerate() {
        let escape: &[u8] = match byte {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0C => b"\\f",
            0x00..=0x1F => &[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(byte >> 4)],
                HEX[usize::from(byte & 0xF)],
            ],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..at]);
        out.extend_from_slice(escape);
        start = at + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.extend_from_slice(b"\"");
}

fn decimal_len(value: u128) -> usize {
    value.checked_ilog10().map_or(1, |log| log as usize + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        for value in [0, 1, 9, 10, 99, 100, 12345, u128::from(u64::MAX), u128::MAX] {
            let mut out = BytesMut::new();
            write_decimal(&mut out, value);
            assert_eq!(out, value.to_string().as_bytes());
            assert_eq!(decimal_len(value), value.to_string().len());
        }
    }

    #[cfg(feature = "serde")]
    #[test]
    fn json_escaping_matches_serde_json() {
        let mut every_control: String = (0u8..0x20).map(char::from).collect();
        every_control.push_str("\"\\/\u{7f}\u{2028}é😀 plain");
        for text in [
            "",
            "plain",
            "\"",
            "a\\b",
            "line\r\nbreak",
            every_control.as_str(),
        ] {
            let mut ours = BytesMut::new();
            write_json_string(&mut ours, text);
            assert_eq!(
                ours,
                serde_json::to_string(text).unwrap().as_bytes(),
                "{text:?}"
            );
        }
    }

    #[test]
    fn encoded_len_is_exact() {
        let events = [
            Event::default(),
            Event::default().data(""),
            Event::default().data("a\r\n\rb\n"),
            Event::default()
                .comment("")
                .comment("c")
                .event("")
                .id("")
                .retry(Duration::ZERO)
                .data("\n"),
            Event::default()
                .event("e")
                .id("i")
                .retry(Duration::MAX)
                .data("d"),
        ];
        for event in events {
            assert_eq!(event.to_bytes().unwrap().len(), event.encoded_len());
        }
    }
}
