use std::fmt;
use std::str::FromStr;

use super::ResumeError;

/// The id of a resumable stream: 128 random bits, a capability.
///
/// Whoever holds the id can ask for the stream, so an id is never a counter or a timestamp:
/// stores make one with [`StreamId::random`], from the operating system's random source.
/// Bind streams to their caller as well (the owner tag of
/// [`ResumeStore::create`](super::ResumeStore::create)) where the server authenticates
/// callers, so that a leaked id alone is not enough.
///
/// Its text form is 32 lowercase hexadecimal digits: fit for an SSE `id:` field, a URL path
/// or query, and a log line. Parsing accepts exactly that form and nothing else, after looking
/// at the length first, so hostile input (a megabyte-long `Last-Event-ID`) costs nothing. A
/// text that is not an id is a [`ResumeError::NotFound`], the same answer as an id that is
/// unknown.
///
/// `Debug` shows only the first 8 digits: ids stay out of logs that print whole values.
///
/// # Examples
///
/// ```
/// use tokenflush::resume::StreamId;
///
/// let id = StreamId::random()?;
/// let text = id.to_string();
/// assert_eq!(text.len(), 32);
/// assert_eq!(text.parse::<StreamId>()?, id);
///
/// assert!("0123".parse::<StreamId>().is_err());
/// assert!(text.to_uppercase().parse::<StreamId>().is_err());
/// # Ok::<(), tokenflush::resume::ResumeError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId([u8; 16]);

/// The length of the text form.
const TEXT_LEN: usize = 32;

const HEX: &[u8; 16] = b"0123456789abcdef";

impl StreamId {
    /// A new id of 128 bits from the operating system's random source.
    ///
    /// # Errors
    ///
    /// [`ResumeError::Unavailable`] if the operating system's random source fails (on Linux it
    /// cannot once the system has booted).
    pub fn random() -> Result<Self, ResumeError> {
        let mut bytes = [0; 16];
        getrandom::fill(&mut bytes).map_err(|error| ResumeError::Unavailable(Box::new(error)))?;
        Ok(Self(bytes))
    }

    /// Writes the 32 hexadecimal digits into `out`.
    fn encode(&self, out: &mut [u8; TEXT_LEN]) {
        for (pair, byte) in out.chunks_exact_mut(2).zip(self.0) {
            pair[0] = HEX[usize::from(byte >> 4)];
            pair[1] = HEX[usize::from(byte & 0xf)];
        }
    }
}

impl fmt::Display for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = [0; TEXT_LEN];
        self.encode(&mut text);
        // Only ASCII digits were written.
        f.write_str(std::str::from_utf8(&text).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for StreamId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = [0; TEXT_LEN];
        self.encode(&mut text);
        let prefix = std::str::from_utf8(&text[..8]).map_err(|_| fmt::Error)?;
        write!(f, "StreamId({prefix}…)")
    }
}

impl FromStr for StreamId {
    type Err = ResumeError;

    /// Parses exactly 32 lowercase hexadecimal digits.
    fn from_str(text: &str) -> Result<Self, ResumeError> {
        let text = text.as_bytes();
        if text.len() != TEXT_LEN {
            return Err(ResumeError::NotFound);
        }
        let mut bytes = [0; 16];
        for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
            let (Some(high), Some(low)) = (digit(pair[0]), digit(pair[1])) else {
                return Err(ResumeError::NotFound);
            };
            *byte = high << 4 | low;
        }
        Ok(Self(bytes))
    }
}

/// The value of a lowercase hexadecimal digit.
fn digit(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        _ => None,
    }
}
