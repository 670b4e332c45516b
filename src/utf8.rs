//! Incremental UTF-8 decoding that never splits a character.
//!
//! Tokens and network reads cut bytes at arbitrary points: a byte-fallback tokenizer emits a
//! 4-byte emoji as four 1-byte tokens, and a TCP read ends wherever it ends. Decoding each piece
//! on its own turns a split character into mojibake (or a fatal error). [`Utf8Decoder`] carries
//! the at most 3 bytes of an unfinished character to the next piece and appends only whole
//! characters to its output.
//!
//! The mode is part of the type:
//! - [`Utf8Decoder::lossy`] makes a `Utf8Decoder` (short for `Utf8Decoder<Infallible>`). Its
//!   output is exactly [`String::from_utf8_lossy`] of the whole input, however the input is cut,
//!   including the number of U+FFFD replacement characters (one per "maximal subpart" of an
//!   invalid sequence, as browsers' `TextDecoder` does). Its results are
//!   `Result<(), Infallible>`: there is no error to handle, and `let Ok(()) = …` says so.
//! - [`Utf8Decoder::strict`] makes a `Utf8Decoder<DecodeError>`, which reports the same first
//!   error position as [`std::str::from_utf8`] of the whole input.
//!
//! A byte-order mark is ordinary text here: it is kept, never sniffed.
//!
//! # Examples
//!
//! ```
//! use tokenflush::utf8::{DecodeError, Utf8Decoder};
//!
//! // "é😀" cut into arbitrary pieces: one byte, then three, then two.
//! let bytes = "é😀".as_bytes();
//! let mut decoder = Utf8Decoder::lossy();
//! let mut out = String::new();
//! let Ok(()) = decoder.decode(&bytes[..1], &mut out); // a lossy decoder cannot fail
//! assert_eq!(out, ""); // half of 'é': nothing to show yet
//! let Ok(()) = decoder.decode(&bytes[1..4], &mut out);
//! assert_eq!(out, "é");
//! let Ok(()) = decoder.decode(&bytes[4..], &mut out);
//! let Ok(()) = decoder.finish(&mut out);
//! assert_eq!(out, "é😀");
//!
//! // A strict decoder's errors are `DecodeError`s, and `?` passes either kind on.
//! fn decode_all(pieces: &[&[u8]]) -> Result<String, DecodeError> {
//!     let mut decoder = Utf8Decoder::strict();
//!     let mut out = String::new();
//!     for piece in pieces {
//!         decoder.decode(piece, &mut out)?;
//!     }
//!     decoder.finish(&mut out)?;
//!     Ok(out)
//! }
//! assert_eq!(decode_all(&[&bytes[..3], &bytes[3..]]).as_deref(), Ok("é😀"));
//! assert_eq!(decode_all(&[&bytes[..3]]).unwrap_err().offset(), 2);
//! ```

use std::convert::Infallible;
use std::fmt;
use std::marker::PhantomData;

/// The replacement character U+FFFD that stands in for invalid bytes.
const REPLACEMENT: char = char::REPLACEMENT_CHARACTER;

/// An incremental UTF-8 decoder that appends only whole characters.
///
/// Feed it byte pieces with [`decode`](Self::decode) and end the input with
/// [`finish`](Self::finish). Between calls it holds at most 3 bytes: the beginning of a character
/// whose remaining bytes have not arrived. It never allocates except by growing the output
/// `String` it is given.
///
/// `E` is the error type of `decode` and `finish`, and it sets the mode:
/// - `Utf8Decoder` (`E` = [`Infallible`]), made by [`lossy`](Utf8Decoder::lossy) or
///   [`Default`]: every invalid sequence becomes one U+FFFD, exactly as
///   [`String::from_utf8_lossy`] does on the whole input. Nothing can fail, so
///   `let Ok(()) = decoder.decode(..);` compiles and `.unwrap()` never panics.
/// - `Utf8Decoder<DecodeError>`, made by [`strict`](Utf8Decoder::strict): the first invalid
///   sequence is a [`DecodeError`] whose [`offset`](DecodeError::offset) is the absolute position
///   in the whole input, the same as [`std::str::from_utf8`]'s
///   [`valid_up_to`](std::str::Utf8Error::valid_up_to).
///
/// No other `E` is possible. `?` passes either on in a function returning [`DecodeError`].
///
/// Pieces of up to 32 bytes (tokens) are decoded character by character, which costs less than
/// calling a validator per piece; longer pieces (network reads) are validated at once by
/// [`std::str::from_utf8`] and copied.
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
///     let Ok(()) = decoder.decode(&[byte], &mut out);
/// }
/// assert_eq!(out, "😀");
///
/// // Invalid bytes become U+FFFD, one per maximal subpart, like `String::from_utf8_lossy`.
/// let Ok(()) = decoder.decode(b"a\xF0\x9F\x98b", &mut out);
/// assert_eq!(out, "😀a\u{FFFD}b");
/// assert_eq!(decoder.replacements(), 1);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Utf8Decoder<E = Infallible> {
    /// Where the state machine stands: [`ACCEPT`] between characters, else which bytes may
    /// continue the unfinished character.
    state: u8,
    /// How many bytes of an unfinished character have arrived (0 to 3).
    pending_len: u8,
    /// The bits of the unfinished character's code point so far; 0 in [`ACCEPT`].
    code: u32,
    /// Bytes given to `decode` since the input began: the absolute offset of the next byte.
    consumed: u64,
    /// U+FFFD characters written so far (lossy mode), over the decoder's whole life.
    replacements: u64,
    /// The mode; `fn() -> E` keeps the decoder `Send`, `Sync` and `Unpin` whatever `E` is.
    mode: PhantomData<fn() -> E>,
}

mod sealed {
    /// Keeps [`DecodeMode`](super::DecodeMode) to the two types implementing it here.
    pub trait Sealed {}

    impl Sealed for std::convert::Infallible {}
    impl Sealed for super::DecodeError {}
}

/// The error type, and with it the mode, of a [`Utf8Decoder`]: [`Infallible`] (lossy) or
/// [`DecodeError`] (strict). Sealed: no other type implements it.
///
/// ```compile_fail,E0277
/// use tokenflush::utf8::{DecodeError, DecodeMode};
///
/// struct Ignore;
///
/// impl DecodeMode for Ignore {
///     const NAME: &'static str = "ignore";
///
///     fn reject(_: DecodeError) -> Result<(), Self> {
///         Ok(())
///     }
/// }
/// ```
#[doc(hidden)]
pub trait DecodeMode: sealed::Sealed + Sized {
    /// The mode's name in `Debug` output.
    #[doc(hidden)]
    const NAME: &'static str;

    /// What an invalid sequence is: `Err` (strict), or `Ok` to replace it with U+FFFD (lossy).
    #[doc(hidden)]
    fn reject(error: DecodeError) -> Result<(), Self>;
}

impl DecodeMode for Infallible {
    const NAME: &'static str = "lossy";

    #[inline(always)]
    fn reject(_: DecodeError) -> Result<(), Self> {
        Ok(())
    }
}

impl DecodeMode for DecodeError {
    const NAME: &'static str = "strict";

    #[inline(always)]
    fn reject(error: DecodeError) -> Result<(), Self> {
        Err(error)
    }
}

impl<E: DecodeMode> fmt::Debug for Utf8Decoder<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Utf8Decoder")
            .field("mode", &format_args!("{}", E::NAME))
            .field("pending_len", &self.pending_len)
            .field("offset", &self.consumed)
            .field("replacements", &self.replacements)
            .finish()
    }
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
    /// Its [`decode`](Self::decode) and [`finish`](Self::finish) return
    /// `Result<(), Infallible>`: they cannot fail.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::utf8::Utf8Decoder;
    ///
    /// let mut out = String::new();
    /// let Ok(()) = Utf8Decoder::lossy().decode(b"\xC0\x80ok", &mut out);
    /// assert_eq!(out, "\u{FFFD}\u{FFFD}ok");
    /// ```
    #[must_use]
    pub const fn lossy() -> Self {
        Self::new()
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
    /// let Ok(()) = decoder.decode(b"\xED\xA0\x80", &mut String::new()); // a UTF-16 surrogate
    /// assert_eq!(decoder.replacements(), 3);
    /// ```
    #[must_use]
    pub const fn replacements(&self) -> u64 {
        self.replacements
    }
}

impl Utf8Decoder<DecodeError> {
    /// A decoder that stops at the first invalid byte with a [`DecodeError`].
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::utf8::Utf8Decoder;
    ///
    /// let mut decoder = Utf8Decoder::strict();
    /// let mut out = String::new();
    /// decoder.decode(b"abc", &mut out)?;
    /// let err = decoder.decode(b"d\xFFe", &mut out).unwrap_err();
    /// assert_eq!(err.offset(), 4); // absolute: 3 bytes before this piece, then "d"
    /// assert_eq!(out, "abcd");
    /// # Ok::<(), tokenflush::utf8::DecodeError>(())
    /// ```
    #[must_use]
    pub const fn strict() -> Self {
        Self::new()
    }
}

impl<E: DecodeMode> Utf8Decoder<E> {
    const fn new() -> Self {
        Self {
            state: ACCEPT,
            pending_len: 0,
            code: 0,
            consumed: 0,
            replacements: 0,
            mode: PhantomData,
        }
    }

    /// Decodes `input`, appending every complete character to `out`.
    ///
    /// The bytes of a character that `input` leaves unfinished (at most 3) are carried to the next
    /// call; a call that only extends them appends nothing. Call [`finish`](Self::finish) when the
    /// input ends.
    ///
    /// # Errors
    ///
    /// Only a strict decoder fails (a lossy one returns `Result<(), Infallible>`): at the first
    /// invalid sequence, with `out` holding all text before it; the rest of `input` is dropped.
    /// The decoder keeps counting offsets, so a later call still reports absolute positions.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::utf8::Utf8Decoder;
    ///
    /// let euro = "€".as_bytes(); // E2 82 AC
    /// let mut decoder = Utf8Decoder::lossy();
    /// let mut out = String::new();
    /// let Ok(()) = decoder.decode(&euro[..2], &mut out);
    /// assert_eq!((out.as_str(), decoder.pending_len()), ("", 2));
    /// let Ok(()) = decoder.decode(&euro[2..], &mut out);
    /// assert_eq!((out.as_str(), decoder.pending_len()), ("€", 0));
    /// ```
    #[inline]
    pub fn decode(&mut self, input: &[u8], out: &mut String) -> Result<(), E> {
        let offset = self.consumed;
        self.consumed += input.len() as u64;
        if input.len() <= SMALL_PIECE {
            self.decode_chars(input, out, offset)
        } else {
            self.decode_bulk(input, out, offset)
        }
    }

    /// Ends the input: a dangling unfinished character becomes one U+FFFD (lossy) or an error
    /// (strict).
    ///
    /// Afterwards the decoder is ready for a new input, with offsets counted from 0 again; the
    /// [`replacements`](Utf8Decoder::replacements) count is kept.
    ///
    /// # Errors
    ///
    /// Only a strict decoder fails: with a [`DecodeError`] that
    /// [is incomplete](DecodeError::is_incomplete) when the input ended inside a character; its
    /// offset is where that character began.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::utf8::Utf8Decoder;
    ///
    /// let mut out = String::new();
    /// let mut lossy = Utf8Decoder::lossy();
    /// let Ok(()) = lossy.decode(b"ok\xE2\x82", &mut out);
    /// let Ok(()) = lossy.finish(&mut out);
    /// assert_eq!(out, "ok\u{FFFD}");
    ///
    /// let mut strict = Utf8Decoder::strict();
    /// strict.decode(b"ok\xE2\x82", &mut out)?;
    /// let err = strict.finish(&mut out).unwrap_err();
    /// assert!(err.is_incomplete());
    /// assert_eq!(err.offset(), 2);
    /// # Ok::<(), tokenflush::utf8::DecodeError>(())
    /// ```
    pub fn finish(&mut self, out: &mut String) -> Result<(), E> {
        let pending_start = self.consumed - u64::from(self.pending_len);
        let had_pending = self.has_pending();
        self.reset();
        if had_pending {
            E::reject(DecodeError::incomplete(pending_start))?;
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
    /// let Ok(()) = decoder.decode(&[0xF0, 0x9F], &mut String::new());
    /// assert_eq!(decoder.pending_len(), 2);
    /// ```
    #[must_use]
    pub const fn pending_len(&self) -> usize {
        self.pending_len as usize
    }

    /// Whether bytes of an unfinished character are carried to the next call.
    #[must_use]
    pub const fn has_pending(&self) -> bool {
        self.pending_len > 0
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
    /// let Ok(()) = decoder.decode(&[0xE2, 0x82], &mut out);
    /// decoder.reset();
    /// let Ok(()) = decoder.finish(&mut out);
    /// assert_eq!(out, "");
    /// ```
    pub fn reset(&mut self) {
        self.state = ACCEPT;
        self.code = 0;
        self.pending_len = 0;
        self.consumed = 0;
    }

    /// Decodes a short piece character by character, carrying an unfinished one at its end.
    ///
    /// For a few bytes this beats validating with `std::str::from_utf8` and copying: the cost of
    /// those calls, not of the bytes, dominates there. Whole valid characters take the fast
    /// path; a carried character, one cut off at the end and invalid bytes go through the state
    /// machine.
    #[inline]
    fn decode_chars(&mut self, bytes: &[u8], out: &mut String, offset: u64) -> Result<(), E> {
        let mut index = 0;
        if self.state != ACCEPT {
            index = self.complete_carry(bytes, out, offset)?;
        }
        while let Some(&lead) = bytes.get(index) {
            if lead < 0x80 {
                out.push(char::from(lead));
                index += 1;
            } else if let Some((c, width)) = whole_char(&bytes[index..]) {
                out.push(c);
                index += width;
            } else {
                index += self.decode_step(&bytes[index..], out, offset + index as u64)?;
            }
        }
        Ok(())
    }

    /// Completes the carried character from the start of `bytes`; returns how many bytes that
    /// used.
    #[inline]
    fn complete_carry(&mut self, bytes: &[u8], out: &mut String, offset: u64) -> Result<usize, E> {
        match self.carried_char(bytes) {
            Some((c, used)) => {
                out.push(c);
                self.state = ACCEPT;
                self.code = 0;
                self.pending_len = 0;
                Ok(used)
            }
            None => self.decode_step(bytes, out, offset),
        }
    }

    /// The carried character as the start of `bytes` completes it, and how many bytes that
    /// takes; `None` if they are invalid or too few.
    ///
    /// Takes no branch on how many bytes are missing (a branch a predictor cannot learn when
    /// pieces are cut at random).
    #[inline(always)]
    fn carried_char(&self, bytes: &[u8]) -> Option<(char, usize)> {
        let state = self.state;
        let need = usize::from(MISSING[usize::from(state)]);
        let missing = bytes.get(..need)?;
        let first = missing[0];
        // Absent bytes read as a harmless continuation with no bits.
        let second = missing.get(1).copied().unwrap_or(0x80);
        let third = missing.get(2).copied().unwrap_or(0x80);
        let first_ok =
            TRANSITIONS[usize::from(state.wrapping_add(CLASSES[usize::from(first)]))] != REJECT;
        let rest_ok = ((second ^ 0x80) | (third ^ 0x80)) < 0x40;
        let bits = (u32::from(first & 0x3F) << 12)
            | (u32::from(second & 0x3F) << 6)
            | u32::from(third & 0x3F);
        let code = (self.code << (6 * need)) | (bits >> (6 * (3 - need)));
        if first_ok && rest_ok {
            Some((char::from_u32(code)?, need))
        } else {
            None
        }
    }

    /// Runs the state machine over `bytes` until it stands between characters again, writing
    /// the character or U+FFFD that ends there. Returns how many bytes it used: all of them when
    /// they end inside a character, which is then carried.
    #[inline]
    fn decode_step(&mut self, bytes: &[u8], out: &mut String, offset: u64) -> Result<usize, E> {
        for (index, &byte) in bytes.iter().enumerate() {
            let state = self.state;
            let next = TRANSITIONS[usize::from(state.wrapping_add(CLASSES[usize::from(byte)]))];
            if next == REJECT {
                // A maximal subpart of an invalid sequence ends here: the carried bytes if there
                // are any (then `byte` is not part of it and is read again, afresh), else `byte`.
                let start = offset + index as u64 - u64::from(self.pending_len);
                self.state = ACCEPT;
                self.code = 0;
                self.pending_len = 0;
                self.invalid(out, start)?;
                return Ok(if state == ACCEPT { index + 1 } else { index });
            }
            self.code = (self.code << 6) | u32::from(byte & CODE_MASKS[usize::from(byte)]);
            if next == ACCEPT {
                // Every byte was checked against Unicode Table 3-7 on the way in, so `code` is a
                // scalar value; stay total rather than panic if that ever changed.
                out.push(char::from_u32(self.code).unwrap_or(REPLACEMENT));
                self.state = ACCEPT;
                self.code = 0;
                self.pending_len = 0;
                return Ok(index + 1);
            }
            self.state = next;
            self.pending_len += 1;
        }
        Ok(bytes.len())
    }

    /// Decodes a longer piece: the carried character first, then one `std::str::from_utf8`
    /// over everything but a possibly unfinished character at the end, and one copy.
    fn decode_bulk(&mut self, bytes: &[u8], out: &mut String, offset: u64) -> Result<(), E> {
        let mut used = 0;
        if self.state != ACCEPT {
            used = self.complete_carry(bytes, out, offset)?;
        }
        let rest = &bytes[used..];
        let offset = offset + used as u64;
        let split = incomplete_tail_start(rest);
        let (head, tail) = rest.split_at(split);
        match std::str::from_utf8(head) {
            Ok(text) => out.push_str(text),
            Err(error) => {
                self.decode_invalid(head, out, offset + error.valid_up_to() as u64)?;
            }
        }
        // At most 3 bytes beginning with a lead byte: carried if they can still become a
        // character, else replaced (the state machine decides which, byte by byte).
        self.decode_chars(tail, out, offset + split as u64)
    }

    /// The slow path for bytes known to hold an invalid sequence and no unfinished tail; the
    /// first invalid sequence begins at the absolute offset `first_error`.
    #[cold]
    fn decode_invalid(
        &mut self,
        bytes: &[u8],
        out: &mut String,
        first_error: u64,
    ) -> Result<(), E> {
        for chunk in bytes.utf8_chunks() {
            out.push_str(chunk.valid());
            if !chunk.invalid().is_empty() {
                // Only a strict decoder uses the offset, and it stops at the first error.
                self.invalid(out, first_error)?;
            }
        }
        Ok(())
    }

    /// Handles an invalid sequence at `offset`: an error (strict) or one U+FFFD (lossy).
    #[cold]
    fn invalid(&mut self, out: &mut String, offset: u64) -> Result<(), E> {
        E::reject(DecodeError::invalid(offset))?;
        self.replace(out);
        Ok(())
    }

    fn replace(&mut self, out: &mut String) {
        out.push(REPLACEMENT);
        self.replacements += 1;
    }
}

/// Pieces up to this long are decoded character by character; longer ones are validated by
/// `std::str::from_utf8` and copied at once.
const SMALL_PIECE: usize = 32;

// The state machine. A byte's class says what it can be (ASCII, a continuation in one of three
// ranges, a lead of some kind, never valid); a state, premultiplied by `CLASS_COUNT`, says which
// bytes may come next. The ranges are those of Unicode Table 3-7 ("well-formed UTF-8 byte
// sequences"): the second byte after E0, ED, F0 and F4 is narrowed to rule out overlong forms,
// UTF-16 surrogates and code points above U+10FFFF. Reaching `REJECT` ends a maximal subpart,
// which is exactly where `String::from_utf8_lossy` (and the WHATWG decoder) put one U+FFFD.

const CLASS_COUNT: u8 = 12;
/// Between characters.
const ACCEPT: u8 = 0;
/// One continuation byte (80..=BF) still to come.
const NEED_1: u8 = CLASS_COUNT;
/// Two continuation bytes still to come.
const NEED_2: u8 = 2 * CLASS_COUNT;
/// Three continuation bytes still to come.
const NEED_3: u8 = 3 * CLASS_COUNT;
/// After E0: A0..=BF, then one more.
const AFTER_E0: u8 = 4 * CLASS_COUNT;
/// After ED: 80..=9F, then one more.
const AFTER_ED: u8 = 5 * CLASS_COUNT;
/// After F0: 90..=BF, then two more.
const AFTER_F0: u8 = 6 * CLASS_COUNT;
/// After F4: 80..=8F, then two more.
const AFTER_F4: u8 = 7 * CLASS_COUNT;
/// The byte read cannot continue (or begin) a character. Not a state: a value no state has.
const REJECT: u8 = u8::MAX;

/// How many bytes the character begun in each state still misses (0 in `ACCEPT`); indexed by
/// state, 256 entries so that a `u8` index needs no bounds check.
static MISSING: [u8; 256] = {
    let mut missing = [0; 256];
    missing[NEED_1 as usize] = 1;
    missing[NEED_2 as usize] = 2;
    missing[NEED_3 as usize] = 3;
    missing[AFTER_E0 as usize] = 2;
    missing[AFTER_ED as usize] = 2;
    missing[AFTER_F0 as usize] = 3;
    missing[AFTER_F4 as usize] = 3;
    missing
};

/// Each byte's class: 0 ASCII; 1, 2, 3 continuations 80..=8F, 90..=9F, A0..=BF; 4 never valid;
/// 5 lead of 2; 6 E0; 7 other leads of 3; 8 ED; 9 F0; 10 F1..=F3; 11 F4.
static CLASSES: [u8; 256] = {
    let mut classes = [0; 256];
    let mut byte = 0;
    while byte < 256 {
        classes[byte] = match byte as u8 {
            0x00..=0x7F => 0,
            0x80..=0x8F => 1,
            0x90..=0x9F => 2,
            0xA0..=0xBF => 3,
            0xC0 | 0xC1 | 0xF5..=0xFF => 4,
            0xC2..=0xDF => 5,
            0xE0 => 6,
            0xE1..=0xEC | 0xEE | 0xEF => 7,
            0xED => 8,
            0xF0 => 9,
            0xF1..=0xF3 => 10,
            0xF4 => 11,
        };
        byte += 1;
    }
    classes
};

/// The next state, at `state + class`; 256 entries so that a `u8` index needs no bounds check.
static TRANSITIONS: [u8; 256] = {
    const fn allow(table: &mut [u8; 256], state: u8, classes: &[u8], next: u8) {
        let mut i = 0;
        while i < classes.len() {
            table[(state + classes[i]) as usize] = next;
            i += 1;
        }
    }
    let mut table = [REJECT; 256];
    allow(&mut table, ACCEPT, &[0], ACCEPT);
    allow(&mut table, ACCEPT, &[5], NEED_1);
    allow(&mut table, ACCEPT, &[6], AFTER_E0);
    allow(&mut table, ACCEPT, &[7], NEED_2);
    allow(&mut table, ACCEPT, &[8], AFTER_ED);
    allow(&mut table, ACCEPT, &[9], AFTER_F0);
    allow(&mut table, ACCEPT, &[10], NEED_3);
    allow(&mut table, ACCEPT, &[11], AFTER_F4);
    allow(&mut table, NEED_1, &[1, 2, 3], ACCEPT);
    allow(&mut table, NEED_2, &[1, 2, 3], NEED_1);
    allow(&mut table, NEED_3, &[1, 2, 3], NEED_2);
    allow(&mut table, AFTER_E0, &[3], NEED_1);
    allow(&mut table, AFTER_ED, &[1, 2], NEED_1);
    allow(&mut table, AFTER_F0, &[2, 3], NEED_2);
    allow(&mut table, AFTER_F4, &[1], NEED_2);
    table
};

/// The code point bits a byte carries: all 7 of ASCII, the low 6 of a continuation, the low 5,
/// 4 or 3 of a lead.
static CODE_MASKS: [u8; 256] = {
    let mut masks = [0; 256];
    let mut byte = 0;
    while byte < 256 {
        masks[byte] = match byte as u8 {
            0x00..=0x7F => 0x7F,
            0x80..=0xBF => 0x3F,
            0xC0..=0xDF => 0x1F,
            0xE0..=0xEF => 0x0F,
            0xF0..=0xFF => 0x07,
        };
        byte += 1;
    }
    masks
};

/// The whole, valid character that `bytes` (beginning with a byte of at least 0x80) begins
/// with, and its length; `None` if it is invalid or cut off.
#[inline(always)]
fn whole_char(bytes: &[u8]) -> Option<(char, usize)> {
    // A continuation byte is 10xxxxxx: `byte ^ 0x80 < 0x40`. OR-ing them tests all at once. The
    // lower bounds rule out overlong forms; `char::from_u32` rules out surrogates and code
    // points above U+10FFFF: together exactly the sequences of Unicode Table 3-7.
    let (code, width, ok) = match *bytes {
        [lead @ 0xC2..=0xDF, b1, ..] => {
            let code = (u32::from(lead & 0x1F) << 6) | u32::from(b1 & 0x3F);
            (code, 2, b1 ^ 0x80 < 0x40)
        }
        [lead @ 0xE0..=0xEF, b1, b2, ..] => {
            let code =
                (u32::from(lead & 0x0F) << 12) | (u32::from(b1 & 0x3F) << 6) | u32::from(b2 & 0x3F);
            (code, 3, ((b1 ^ 0x80) | (b2 ^ 0x80)) < 0x40 && code >= 0x800)
        }
        [lead @ 0xF0..=0xF4, b1, b2, b3, ..] => {
            let code = (u32::from(lead & 0x07) << 18)
                | (u32::from(b1 & 0x3F) << 12)
                | (u32::from(b2 & 0x3F) << 6)
                | u32::from(b3 & 0x3F);
            let ok = ((b1 ^ 0x80) | (b2 ^ 0x80) | (b3 ^ 0x80)) < 0x40 && code >= 0x1_0000;
            (code, 4, ok)
        }
        _ => return None,
    };
    if ok {
        Some((char::from_u32(code)?, width))
    } else {
        None
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

/// Lets `?` pass a lossy decoder's result, which is never an error, on in a function that
/// returns `DecodeError`s.
impl From<Infallible> for DecodeError {
    fn from(never: Infallible) -> Self {
        match never {}
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

/// Each path on its own. The public behaviour is tested in `tests/utf8.rs`; these pin what it
/// cannot see: that the fast paths take every valid character (were one to give up, the slow
/// path would still decode it right, only slower), and that the state machine alone decodes
/// everything right (it is reached only where the fast paths give up).
#[cfg(test)]
mod tests {
    use super::*;

    /// Calls `check` with every scalar of 2, 3 or 4 bytes, its encoding, and its encoding
    /// followed by "a".
    fn each_multibyte_scalar(mut check: impl FnMut(char, &[u8], &[u8])) {
        for c in '\u{80}'..=char::MAX {
            let mut buffer = [b'a'; 5];
            let len = c.encode_utf8(&mut buffer).len();
            check(c, &buffer[..len], &buffer[..=len]);
        }
    }

    #[test]
    fn whole_char_takes_every_valid_character() {
        each_multibyte_scalar(|c, bytes, followed| {
            assert_eq!(whole_char(followed), Some((c, bytes.len())), "{c:?}");
        });
    }

    #[test]
    fn carried_char_completes_every_valid_character_at_every_cut() {
        each_multibyte_scalar(|c, bytes, followed| {
            for cut in 1..bytes.len() {
                let mut decoder = Utf8Decoder::lossy();
                let Ok(used) = decoder.decode_step(&bytes[..cut], &mut String::new(), 0);
                assert_eq!((used, decoder.pending_len()), (cut, cut));
                assert_eq!(
                    decoder.carried_char(&followed[cut..]),
                    Some((c, bytes.len() - cut)),
                    "{c:?} cut at {cut}"
                );
            }
        });
    }

    /// `bytes` through the state machine alone, lossy.
    fn state_machine_only(bytes: &[u8], out: &mut String) {
        let mut decoder = Utf8Decoder::lossy();
        // As `decode` would have counted them, for `finish`.
        decoder.consumed = bytes.len() as u64;
        out.clear();
        let mut rest = bytes;
        while !rest.is_empty() {
            let Ok(used) = decoder.decode_step(rest, out, 0);
            rest = &rest[used..];
        }
        let Ok(()) = decoder.finish(out);
    }

    #[test]
    fn the_state_machine_alone_matches_from_utf8_lossy() {
        let mut out = String::new();
        each_multibyte_scalar(|c, bytes, _| {
            state_machine_only(bytes, &mut out);
            assert!(out.chars().eq([c]), "{c:?}: {out:?}");
        });
        // Every byte that can begin a sequence, then up to three bytes of every kind.
        let kinds = [0x41, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2];
        for lead in 0x80..=0xFF_u8 {
            for second in kinds {
                for third in kinds {
                    for fourth in kinds {
                        let bytes = [lead, second, third, fourth];
                        for len in 1..=4 {
                            let bytes = &bytes[..len];
                            state_machine_only(bytes, &mut out);
                            assert_eq!(out, String::from_utf8_lossy(bytes), "{bytes:02X?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn incomplete_tail_start_finds_exactly_a_cut_off_character() {
        each_multibyte_scalar(|_, bytes, _| {
            let mut text = [0u8; 6];
            text[..2].copy_from_slice(b"ab");
            text[2..2 + bytes.len()].copy_from_slice(bytes);
            let end = 2 + bytes.len();
            assert_eq!(incomplete_tail_start(&text[..end]), end, "{bytes:02X?}");
            for cut in 3..end {
                assert_eq!(incomplete_tail_start(&text[..cut]), 2, "{bytes:02X?}");
            }
        });
        for ends_whole in [&b""[..], b"a", b"ab\x80", b"ab\xF5\x80", b"\xBF\xBF\xBF"] {
            assert_eq!(incomplete_tail_start(ends_whole), ends_whole.len());
        }
    }
}
