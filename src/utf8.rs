//! Incremental UTF-8 decoding that never splits a character.
//!
//! Tokens and network reads cut bytes at arbitrary points: a byte-fallback tokenizer emits a
//! 4-byte emoji as four 1-byte tokens, and a TCP read ends wherever it ends. Decoding each piece
//! on its own turns a split character into mojibake (or a fatal error). [`Utf8Decoder`] carries
//! the at most 3 bytes of an unfinished character to the next piece and appends only whole
//! characters to its output.
//!
//! The lossy decoder's output is exactly [`String::from_utf8_lossy`] of the whole input, however
//! the input is cut, including the number of U+FFFD replacement characters (one per "maximal
//! subpart" of an invalid sequence, as browsers' `TextDecoder` does). The strict decoder reports
//! the same first error position as [`std::str::from_utf8`] of the whole input.
//!
//! A byte-order mark is ordinary text here: it is kept, never sniffed.
//!
//! # Examples
//!
//! ```
//! use tokenflush::utf8::Utf8Decoder;
//!
//! // "é😀" cut into arbitrary pieces: one byte, then three, then two.
//! let bytes = "é😀".as_bytes();
//! let mut decoder = Utf8Decoder::lossy();
//! let mut out = String::new();
//! decoder.decode(&bytes[..1], &mut out)?;
//! assert_eq!(out, ""); // half of 'é': nothing to show yet
//! decoder.decode(&bytes[1..4], &mut out)?;
//! assert_eq!(out, "é");
//! decoder.decode(&bytes[4..], &mut out)?;
//! decoder.finish(&mut out)?;
//! assert_eq!(out, "é😀");
//! # Ok::<(), tokenflush::utf8::DecodeError>(())
//! ```

use std::fmt;

/// The replacement character U+FFFD that stands in for invalid bytes.
const REPLACEMENT: char = char::REPLACEMENT_CHARACTER;

/// An incremental UTF-8 decoder that appends only whole characters.
///
/// Feed it byte pieces with [`decode`](Self::decode) and end the input with
/// [`finish`](Self::finish). Between calls it holds at most 3 bytes: the beginning of a character
/// whose remaining bytes have not arrived. It never allocates except by growing the output
/// `String` it is given.
///
/// Two modes:
/// - [`lossy`](Self::lossy) (the [`Default`]): every invalid sequence becomes one U+FFFD, exactly
///   as [`String::from_utf8_lossy`] does on the whole input.
/// - [`strict`](Self::strict): the first invalid sequence is a [`DecodeError`] whose
///   [`offset`](DecodeError::offset) is the absolute position in the whole input, the same as
///   [`std::str::from_utf8`]'s [`valid_up_to`](std::str::Utf8Error::valid_up_to).
///
/// # Examples
///
/// ```
/// use tokenflush::utf8::Utf8Decoder;
///
/// let mut decoder = Utf8Decoder::lossy();
/// let mut out = String::new();
/// // A 4-byte emoji arriving one byte at a time, as a byte-fallback tokenizer emits it.
/// for byte in "😀".bytes() {
///     decoder.decode(&[byte], &mut out).unwrap();
/// }
/// assert_eq!(out, "😀");
///
/// // Invalid bytes become U+FFFD, one per maximal subpart, like `String::from_utf8_lossy`.
/// decoder.decode(b"a\xF0\x9F\x98b", &mut out).unwrap();
/// assert_eq!(out, "😀a\u{FFFD}b");
/// assert_eq!(decoder.replacements(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Utf8Decoder {
    /// The bytes of a character that has not arrived whole; `pending[..pending_len]` is valid.
    pending: [u8; 4],
    pending_len: u8,
    strict: bool,
    /// Bytes given to `decode` since the input began: the absolute offset of the next byte.
    consumed: u64,
    /// U+FFFD characters written so far (lossy mode), over the decoder's whole life.
    replacements: u64,
}

impl Default for Utf8Decoder {
    /// A [lossy](Self::lossy) decoder.
    fn default() -> Self {
        Self::lossy()
    }
}

impl Utf8Decoder {
    /// A decoder that replaces invalid bytes with U+FFFD, exactly as [`String::from_utf8_lossy`].
    ///
    /// [`decode`](Self::decode) and [`finish`](Self::finish) never return an error in this mode.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::utf8::Utf8Decoder;
    ///
    /// let mut out = String::new();
    /// Utf8Decoder::lossy().decode(b"\xC0\x80ok", &mut out).unwrap();
    /// assert_eq!(out, "\u{FFFD}\u{FFFD}ok");
    /// ```
    #[must_use]
    pub const fn lossy() -> Self {
        Self {
            pending: [0; 4],
            pending_len: 0,
            strict: false,
            consumed: 0,
            replacements: 0,
        }
    }

    /// A decoder that stops at the first invalid byte with a [`DecodeError`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::utf8::Utf8Decoder;
    ///
    /// let mut decoder = Utf8Decoder::strict();
    /// let mut out = String::new();
    /// decoder.decode(b"abc", &mut out).unwrap();
    /// let err = decoder.decode(b"d\xFFe", &mut out).unwrap_err();
    /// assert_eq!(err.offset(), 4); // absolute: 3 bytes before this piece, then "d"
    /// assert_eq!(out, "abcd");
    /// ```
    #[must_use]
    pub const fn strict() -> Self {
        Self {
            strict: true,
            ..Self::lossy()
        }
    }

    /// Whether this decoder reports invalid bytes as errors instead of replacing them.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::utf8::Utf8Decoder;
    ///
    /// assert!(Utf8Decoder::strict().is_strict());
    /// assert!(!Utf8Decoder::lossy().is_strict());
    /// ```
    #[must_use]
    pub const fn is_strict(&self) -> bool {
        self.strict
    }

    /// Decodes `input`, appending every complete character to `out`.
    ///
    /// The bytes of a character that `input` leaves unfinished (at most 3) are carried to the next
    /// call; a call that only extends them appends nothing. Call [`finish`](Self::finish) when the
    /// input ends.
    ///
    /// # Errors
    ///
    /// In strict mode, the first invalid sequence: `out` then holds all text before it, and the
    /// rest of `input` is dropped. The decoder keeps counting offsets, so a later call still
    /// reports absolute positions. Lossy mode never fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::utf8::Utf8Decoder;
    ///
    /// let euro = "€".as_bytes(); // E2 82 AC
    /// let mut decoder = Utf8Decoder::lossy();
    /// let mut out = String::new();
    /// decoder.decode(&euro[..2], &mut out).unwrap();
    /// assert_eq!((out.as_str(), decoder.pending_len()), ("", 2));
    /// decoder.decode(&euro[2..], &mut out).unwrap();
    /// assert_eq!((out.as_str(), decoder.pending_len()), ("€", 0));
    /// ```
    pub fn decode(&mut self, input: &[u8], out: &mut String) -> Result<(), DecodeError> {
        let start = self.consumed;
        self.consumed += input.len() as u64;
        let mut rest = input;
        if self.pending_len > 0 {
            match self.extend_pending(rest, out, start)? {
                Some(after) => rest = after,
                None => return Ok(()),
            }
        }
        let offset = start + (input.len() - rest.len()) as u64;
        let split = incomplete_tail_start(rest);
        let (head, tail) = rest.split_at(split);
        match std::str::from_utf8(head) {
            Ok(text) => out.push_str(text),
            Err(_) => self.decode_invalid(head, out, offset)?,
        }
        if !tail.is_empty() {
            if is_char_prefix(tail) {
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
            } else {
                self.decode_invalid(tail, out, offset + split as u64)?;
            }
        }
        Ok(())
    }

    /// Ends the input: a dangling unfinished character becomes one U+FFFD (lossy) or an error
    /// (strict).
    ///
    /// Afterwards the decoder is ready for a new input, with offsets counted from 0 again; the
    /// [`replacements`](Self::replacements) count is kept.
    ///
    /// # Errors
    ///
    /// In strict mode, a [`DecodeError`] that [is incomplete](DecodeError::is_incomplete) when
    /// the input ended inside a character; its offset is where that character began.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::utf8::Utf8Decoder;
    ///
    /// let mut out = String::new();
    /// let mut lossy = Utf8Decoder::lossy();
    /// lossy.decode(b"ok\xE2\x82", &mut out).unwrap();
    /// lossy.finish(&mut out).unwrap();
    /// assert_eq!(out, "ok\u{FFFD}");
    ///
    /// let mut strict = Utf8Decoder::strict();
    /// strict.decode(b"ok\xE2\x82", &mut out).unwrap();
    /// let err = strict.finish(&mut out).unwrap_err();
    /// assert!(err.is_incomplete());
    /// assert_eq!(err.offset(), 2);
    /// ```
    pub fn finish(&mut self, out: &mut String) -> Result<(), DecodeError> {
        let pending_start = self.consumed - u64::from(self.pending_len);
        let had_pending = self.pending_len > 0;
        self.pending_len = 0;
        self.consumed = 0;
        if had_pending {
            if self.strict {
                return Err(DecodeError::incomplete(pending_start));
            }
            self.replace(out);
        }
        Ok(())
    }

    /// How many bytes of an unfinished character are carried to the next call (0 to 3).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::utf8::Utf8Decoder;
    ///
    /// let mut decoder = Utf8Decoder::lossy();
    /// decoder.decode(&[0xF0, 0x9F], &mut String::new()).unwrap();
    /// assert_eq!(decoder.pending_len(), 2);
    /// ```
    #[must_use]
    pub const fn pending_len(&self) -> usize {
        self.pending_len as usize
    }

    /// Whether bytes of an unfinished character are carried to the next call.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::utf8::Utf8Decoder;
    ///
    /// let mut decoder = Utf8Decoder::lossy();
    /// assert!(!decoder.has_pending());
    /// decoder.decode(&[0xC3], &mut String::new()).unwrap();
    /// assert!(decoder.has_pending());
    /// ```
    #[must_use]
    pub const fn has_pending(&self) -> bool {
        self.pending_len > 0
    }

    /// How many U+FFFD replacement characters this decoder has written over its whole life.
    ///
    /// [`finish`](Self::finish) and [`reset`](Self::reset) keep the count; it is meant for
    /// metrics.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::utf8::Utf8Decoder;
    ///
    /// let mut decoder = Utf8Decoder::lossy();
    /// decoder.decode(b"\xED\xA0\x80", &mut String::new()).unwrap(); // a UTF-16 surrogate
    /// assert_eq!(decoder.replacements(), 3);
    /// ```
    #[must_use]
    pub const fn replacements(&self) -> u64 {
        self.replacements
    }

    /// Drops any carried bytes and starts a new input at offset 0, without writing anything.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::utf8::Utf8Decoder;
    ///
    /// let mut decoder = Utf8Decoder::lossy();
    /// let mut out = String::new();
    /// decoder.decode(&[0xE2, 0x82], &mut out).unwrap();
    /// decoder.reset();
    /// decoder.finish(&mut out).unwrap();
    /// assert_eq!(out, "");
    /// ```
    pub fn reset(&mut self) {
        self.pending_len = 0;
        self.consumed = 0;
    }

    /// Feeds bytes from `input` into the carried character. Returns the input left over once
    /// the character is complete or known to be invalid, or `None` when `input` ran out first.
    fn extend_pending<'a>(
        &mut self,
        input: &'a [u8],
        out: &mut String,
        start: u64,
    ) -> Result<Option<&'a [u8]>, DecodeError> {
        let lead = self.pending[0];
        let needed = sequence_len(lead);
        // Where the carried character began in the whole input; `pending_len` grows below.
        let pending_start = start - u64::from(self.pending_len);
        let mut rest = input;
        while usize::from(self.pending_len) < needed {
            let Some((&byte, after)) = rest.split_first() else {
                return Ok(None);
            };
            if !is_continuation_at(lead, usize::from(self.pending_len), byte) {
                // The carried bytes are a maximal subpart of an invalid sequence; `byte` is not
                // part of it and starts afresh.
                self.pending_len = 0;
                if self.strict {
                    return Err(DecodeError::invalid(pending_start));
                }
                self.replace(out);
                return Ok(Some(rest));
            }
            self.pending[usize::from(self.pending_len)] = byte;
            self.pending_len += 1;
            rest = after;
        }
        let complete = &self.pending[..needed];
        self.pending_len = 0;
        match std::str::from_utf8(complete) {
            Ok(text) => out.push_str(text),
            // Unreachable: every byte was checked on the way in. Stay total rather than panic.
            Err(_) => self.replace(out),
        }
        Ok(Some(rest))
    }

    /// The slow path for bytes known to hold an invalid sequence and no incomplete tail.
    fn decode_invalid(
        &mut self,
        bytes: &[u8],
        out: &mut String,
        offset: u64,
    ) -> Result<(), DecodeError> {
        let mut position = offset;
        for chunk in bytes.utf8_chunks() {
            out.push_str(chunk.valid());
            position += chunk.valid().len() as u64;
            if !chunk.invalid().is_empty() {
                if self.strict {
                    return Err(DecodeError::invalid(position));
                }
                self.replace(out);
                position += chunk.invalid().len() as u64;
            }
        }
        Ok(())
    }

    fn replace(&mut self, out: &mut String) {
        out.push(REPLACEMENT);
        self.replacements += 1;
    }
}

/// The length of the sequence a lead byte announces, or 1 for bytes that cannot lead one.
const fn sequence_len(lead: u8) -> usize {
    match lead {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 1,
    }
}

/// Whether `byte` may stand at `index` (1 to 3) of a sequence led by `lead`.
///
/// The second byte's range depends on the lead: it is what rules out overlong forms, UTF-16
/// surrogates and code points above U+10FFFF (Unicode Table 3-7).
const fn is_continuation_at(lead: u8, index: usize, byte: u8) -> bool {
    if index == 1 {
        match lead {
            0xE0 => matches!(byte, 0xA0..=0xBF),
            0xED => matches!(byte, 0x80..=0x9F),
            0xF0 => matches!(byte, 0x90..=0xBF),
            0xF4 => matches!(byte, 0x80..=0x8F),
            _ => matches!(byte, 0x80..=0xBF),
        }
    } else {
        matches!(byte, 0x80..=0xBF)
    }
}

/// Where a sequence that `bytes` cuts off at its end begins, or `bytes.len()` if none is.
///
/// Looks back over at most 3 continuation bytes for a lead byte announcing more bytes than
/// follow it. The bytes found are not yet known to be a valid prefix.
fn incomplete_tail_start(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=len.min(3) {
        let byte = bytes[len - back];
        if (0x80..=0xBF).contains(&byte) {
            continue;
        }
        return if sequence_len(byte) > back {
            len - back
        } else {
            len
        };
    }
    len
}

/// Whether `bytes` (a lead byte and fewer continuations than it announces) can still become a
/// valid character.
fn is_char_prefix(bytes: &[u8]) -> bool {
    let lead = bytes[0];
    sequence_len(lead) > 1
        && bytes
            .iter()
            .enumerate()
            .skip(1)
            .all(|(index, &byte)| is_continuation_at(lead, index, byte))
}

/// Invalid UTF-8 met by a [strict](Utf8Decoder::strict) [`Utf8Decoder`].
///
/// # Examples
///
/// ```
/// use tokenflush::utf8::Utf8Decoder;
///
/// let mut decoder = Utf8Decoder::strict();
/// let mut out = String::new();
/// decoder.decode(b"hello ", &mut out).unwrap();
/// let err = decoder.decode(b"w\x80rld", &mut out).unwrap_err();
/// assert_eq!(err.offset(), 7);
/// assert!(!err.is_incomplete());
/// assert_eq!(err.to_string(), "invalid utf-8 sequence at byte 7");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct DecodeError {
    offset: u64,
    incomplete: bool,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.incomplete {
            write!(
                f,
                "incomplete utf-8 sequence at end of input, starting at byte {}",
                self.offset
            )
        } else {
            write!(f, "invalid utf-8 sequence at byte {}", self.offset)
        }
    }
}

impl DecodeError {
    const fn invalid(offset: u64) -> Self {
        Self {
            offset,
            incomplete: false,
        }
    }

    const fn incomplete(offset: u64) -> Self {
        Self {
            offset,
            incomplete: true,
        }
    }

    /// The absolute byte offset, in the whole input since it began, where the invalid sequence
    /// starts.
    ///
    /// This is what [`std::str::Utf8Error::valid_up_to`] reports for the whole input at once,
    /// never a position within the piece that revealed the error.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::utf8::Utf8Decoder;
    ///
    /// let input = b"ab\xE0\x80cd";
    /// let mut decoder = Utf8Decoder::strict();
    /// let mut out = String::new();
    /// decoder.decode(&input[..3], &mut out).unwrap(); // E0 may still begin a character
    /// let err = decoder.decode(&input[3..], &mut out).unwrap_err();
    /// assert_eq!(err.offset(), 2);
    /// assert_eq!(std::str::from_utf8(input).unwrap_err().valid_up_to(), 2);
    /// ```
    #[must_use]
    pub const fn offset(&self) -> u64 {
        self.offset
    }

    /// Whether the input ended inside a character (reported by
    /// [`finish`](Utf8Decoder::finish)), rather than holding an invalid byte.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::utf8::Utf8Decoder;
    ///
    /// let mut decoder = Utf8Decoder::strict();
    /// decoder.decode(&[0xF0, 0x9F], &mut String::new()).unwrap();
    /// assert!(decoder.finish(&mut String::new()).unwrap_err().is_incomplete());
    /// ```
    #[must_use]
    pub const fn is_incomplete(&self) -> bool {
        self.incomplete
    }
}
