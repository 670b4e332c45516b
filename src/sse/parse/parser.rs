//! [`Parser`]: an incremental event-stream parser by the WHATWG rules.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::mem;
use std::sync::Arc;
use std::time::Duration;

use crate::sse::lines::find_line_break;
use crate::utf8::Utf8Decoder;

/// The default [`Parser::max_line_len`]: 16 MiB.
const DEFAULT_MAX_LINE_LEN: usize = 16 << 20;

/// The default [`Parser::max_event_size`]: 64 MiB.
const DEFAULT_MAX_EVENT_SIZE: usize = 64 << 20;

/// The UTF-8 byte-order mark, stripped once at the start of a stream.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// The longest field name the parser acts on (`retry`, `event`).
const NAME_MAX: usize = 5;

/// The most capacity a buffer keeps from one use to the next: the data buffer starts an event
/// with the size of the previous one up to this (a stream of similar events costs one
/// allocation per event), and the value and unread-bytes buffers keep at most this much.
const RETAINED_CAPACITY: usize = 64 * 1024;

/// The last event id: `None` stands for the empty id. Shared by the parser and every event that
/// carries it, so an id costs memory once, however many events follow it.
type EventId = Option<Arc<str>>;

/// An incremental parser for `text/event-stream` bodies, by the WHATWG "event stream" rules.
///
/// [`feed`](Self::feed) it bytes in pieces of any size, cut anywhere, and pull the events it
/// completed with [`next_event`](Self::next_event); call [`finish`](Self::finish) when the
/// body ends to learn whether it ended cleanly or inside an event. The parser:
///
/// - strips one byte-order mark at the start of the stream, even split across pieces (a
///   second one is text);
/// - ends lines at LF, CR and CRLF, including a CRLF cut between two pieces; an event ended
///   by a CR is delivered at once, without waiting to see whether an LF follows;
/// - reads `name: value` lines as the standard does: no colon means an empty value, the first
///   colon splits, exactly one leading space of the value is removed, names are
///   case-sensitive, unknown names and comment lines (`:`) are ignored (comments are
///   [counted](Self::comment_count));
/// - delivers an event at each blank line that follows at least one `data` line: `data:`
///   gives `""`, an empty or missing `event` gives `"message"`, `id` persists from event to
///   event, is reset by an empty value and ignored when it holds a NUL, and `retry` counts only
///   when it is all ASCII digits (a number of milliseconds too large for a `u64` counts as
///   `u64::MAX`: the server asked for a very long wait, and gets the longest there is);
/// - decodes UTF-8 as [`String::from_utf8_lossy`] would decode the whole stream: an invalid
///   byte becomes U+FFFD and later events still arrive;
/// - gives the same results however the input is cut (see [Limits](#limits)), and never
///   panics, whatever the input.
///
/// # Limits
///
/// A [line limit](Self::with_max_line_len) and an [event limit](Self::with_max_event_size)
/// bound what the parser keeps. They are checked as if the bytes arrived one at a time, so
/// the result never depends on where the input was cut: an event is reported with the error
/// of the first byte that passes a limit, and the rest of the event, up to its blank line, is
/// skipped. When one byte passes both limits (a `data` byte that is past `max_line_len` on its
/// line and past `max_event_size` in its event), the error is [`ParseError::LineTooLong`].
/// Lines the parser does not keep (comments, unknown fields, the lines of an event being
/// skipped) are not limited: they are never buffered.
///
/// # Memory and time
///
/// Memory: while the events a piece completed are taken before the next piece is fed (as
/// [`ParseSse`](super::ParseSse) does), the heap the parser uses, counting the event
/// it just returned (events kept longer are the caller's), stays below **32 × (`max_line_len`
/// \+ `max_event_size` + the largest piece fed)** bytes, whatever the input. The factor covers
/// decoded text, which can be three times the bytes received (an invalid byte becomes a
/// 3-byte U+FFFD), buffers that grow by doubling, and the few buffers alive at once (the
/// data, the event type, the field being read, the last event id). The last event id is
/// shared by the events that carry it, never copied per event. The parser reads a piece only
/// as far as the next event and keeps the rest of it, as bytes, until that event is taken;
/// pieces fed while events wait are kept unread too, so the parser never holds more bytes of
/// input than it was given.
///
/// Time: parsing costs time linear in the bytes fed, however they are cut: each byte is
/// looked at a bounded number of times, and nothing is copied per event or per blank line
/// besides the event's own data. [`finish`](Self::finish) with bytes still unread scans them
/// once more.
///
/// # Examples
///
/// ```
/// use tokenflush::sse::Parser;
///
/// let mut parser = Parser::new();
/// parser.feed(b"\xEF\xBB\xBFevent: greeting\r\ndata: hel");
/// assert!(parser.next_event()?.is_none()); // the event is not complete yet
/// parser.feed(b"lo\r");
/// parser.feed(b"\ndata:  world\r\n\r\n: ping\n\nid: 7\ndata\n\n");
///
/// let event = parser.next_event()?.unwrap();
/// assert_eq!(event.event_type(), "greeting");
/// assert_eq!(event.data(), "hello\n world");
///
/// let event = parser.next_event()?.unwrap();
/// assert_eq!((event.event_type(), event.data(), event.last_event_id()), ("message", "", "7"));
///
/// assert!(parser.next_event()?.is_none());
/// parser.finish()?; // a clean end
/// # Ok::<(), tokenflush::sse::ParseError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Parser {
    max_line_len: usize,
    max_event_size: usize,

    framing: Framing,
    line: Line,
    /// Bytes of the current line so far, once it is known to be kept (its name is read).
    line_len: usize,
    /// Decodes the value being read; carries a character cut between two pieces.
    decoder: Utf8Decoder,

    /// The data buffer: the data lines' values, joined with LF.
    data: String,
    /// A data line was read since the last blank line (the data may still be empty).
    has_data: bool,
    /// Bytes of data received for the event (values, plus one for each LF between two lines).
    data_size: usize,
    /// The capacity to give the data buffer of the next event.
    data_capacity: usize,
    event_type: String,
    /// The value of the `event`, `id` or `retry` line being read.
    value: String,
    /// A valid `retry` read since the last blank line.
    event_retry: Option<Duration>,
    /// The last event id buffer, when an `id` line set it since the last blank line.
    id_buffer: Option<EventId>,
    /// The last event id string: the buffer as of the last blank line.
    last_event_id: EventId,
    reconnection_time: Option<Duration>,
    /// A limit was exceeded: the rest of the event, up to its blank line, is skipped.
    discarding: bool,
    comment_count: u64,

    /// What the bytes parsed so far produced and no one has taken yet: at most one event or
    /// error.
    ready: Option<Result<ParsedEvent, ParseError>>,
    /// Bytes fed but not parsed yet.
    //
    // Parsing stops at the first event (or error) a piece completes; the rest of the piece
    // waits here and is parsed as events are asked for. The alternative, a bounded queue of
    // parsed events, would still have to keep the rest of a piece once the queue is full, so
    // it holds both; this way the parser holds at most one finished event, the bytes it was
    // given, and the event being built. It also parses no further than the caller has read,
    // so `last_event_id` is that of the events handed out, and a caller that stops reading
    // pays for no parsing.
    unread: Unread,
}

/// Bytes fed to a [`Parser`] that it has not parsed yet, and where streams ended among them.
#[derive(Clone, Debug, Default)]
struct Unread {
    bytes: Vec<u8>,
    /// The bytes before this were parsed.
    start: usize,
    /// Offsets in `bytes` where [`Parser::finish`] ended a stream, in order.
    ends: VecDeque<usize>,
}

impl Unread {
    fn is_empty(&self) -> bool {
        self.start == self.bytes.len() && self.ends.is_empty()
    }

    #[inline(never)]
    fn push(&mut self, input: &[u8]) {
        if self.is_empty() {
            self.bytes.clear();
            self.start = 0;
            // The rest of one piece: exactly its size, not the doubling growth would give.
            self.bytes.reserve_exact(input.len());
        } else if self.start >= self.bytes.len() - self.start {
            // Dropping the parsed bytes costs no more than parsing them did.
            self.bytes.drain(..self.start);
            for end in &mut self.ends {
                *end -= self.start;
            }
            self.start = 0;
        }
        self.bytes.extend_from_slice(input);
    }

    /// Called when everything was parsed: frees a buffer grown by an unusually large piece.
    fn clear(&mut self) {
        self.start = 0;
        if self.bytes.capacity() > RETAINED_CAPACITY {
            self.bytes = Vec::new();
        } else {
            self.bytes.clear();
        }
    }
}

/// The line structure of a stream: where lines end, and whether the stream stands inside an
/// event. The parser and [`Parser::finish`]'s look at unread bytes both go through it.
#[derive(Clone, Copy, Debug)]
struct Framing {
    /// How many bytes of a byte-order mark the stream began with so far, while its start may
    /// still be one; `None` once it is decided.
    bom_matched: Option<u8>,
    /// The last byte was a CR: an LF right after it belongs to the same line break.
    after_cr: bool,
    /// Bytes of the current line were read.
    line_started: bool,
    /// A field line (not a comment) was read since the last blank line.
    in_event: bool,
}

/// What [`Framing::next`] found.
enum Piece<'a> {
    /// Bytes of the current line: no line break among them, never empty.
    Content(&'a [u8]),
    /// The end of the current line.
    Break,
}

impl Framing {
    const START: Self = Self {
        bom_matched: Some(0),
        after_cr: false,
        line_started: false,
        in_event: false,
    };

    /// Takes the next line content or line break from the front of `input`; `None` when
    /// `input` is used up.
    #[inline(always)]
    fn next<'a>(&mut self, input: &mut &'a [u8]) -> Option<Piece<'a>> {
        if self.bom_matched.is_some() {
            let held = self.strip_bom(input);
            if !held.is_empty() {
                return Some(self.content(held));
            }
            if self.bom_matched.is_some() {
                return None;
            }
        }
        if mem::take(&mut self.after_cr) && input.first() == Some(&b'\n') {
            *input = &input[1..];
        }
        let (&first, after_first) = input.split_first()?;
        if first == b'\n' || first == b'\r' {
            *input = after_first;
            self.after_cr = first == b'\r';
            if !self.line_started {
                // A blank line ends the event.
                self.in_event = false;
            }
            self.line_started = false;
            return Some(Piece::Break);
        }
        let end = find_line_break(input).unwrap_or(input.len());
        let (content, rest) = input.split_at(end);
        *input = rest;
        Some(self.content(content))
    }

    /// Reads the start of a stream while it may be a byte-order mark, and strips one. Returns
    /// the bytes held back that turn out to be text (they begin the first line), or nothing;
    /// `bom_matched` stays set if `input` ran out before it was decided.
    #[cold]
    fn strip_bom(&mut self, input: &mut &[u8]) -> &'static [u8] {
        let mut matched = self.bom_matched.map_or(0, usize::from);
        while matched < BOM.len() {
            let Some((&byte, rest)) = input.split_first() else {
                // Still possibly a BOM; `matched` < 3 fits.
                self.bom_matched = Some(matched as u8);
                return &[];
            };
            if byte != BOM[matched] {
                self.bom_matched = None;
                return &BOM[..matched];
            }
            matched += 1;
            *input = rest;
        }
        self.bom_matched = None;
        &[]
    }

    fn content<'a>(&mut self, content: &'a [u8]) -> Piece<'a> {
        if !self.line_started {
            self.line_started = true;
            if content[0] != b':' {
                self.in_event = true;
            }
        }
        Piece::Content(content)
    }

    /// Whether a stream that ends here ends inside an event or a line (bytes of a possible
    /// byte-order mark are text, then).
    fn inside_event(&self) -> bool {
        self.line_started || self.in_event || matches!(self.bom_matched, Some(1..))
    }
}

/// The fields the parser acts on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Data,
    Event,
    Id,
    Retry,
}

/// Where the parser is in the current line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Line {
    /// Nothing of the line read yet.
    Start,
    /// Reading the field name (at most `NAME_MAX` bytes are kept: a longer name is unknown).
    Name {
        name: [u8; NAME_MAX],
        len: u8,
    },
    /// Just after the colon: one space is to be skipped.
    BeforeValue(Field),
    Value(Field),
    /// An unknown field, a comment, or a line of an event being discarded.
    Skip,
}

fn field_named(name: &[u8]) -> Option<Field> {
    match name {
        b"data" => Some(Field::Data),
        b"event" => Some(Field::Event),
        b"id" => Some(Field::Id),
        b"retry" => Some(Field::Retry),
        _ => None,
    }
}

impl Default for Parser {
    /// The same as [`Parser::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl Parser {
    /// A parser with the default limits: 16 MiB per line, 64 MiB of data per event.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::Parser;
    ///
    /// let parser = Parser::new();
    /// assert_eq!(parser.max_line_len(), 16 << 20);
    /// assert_eq!(parser.max_event_size(), 64 << 20);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            max_line_len: DEFAULT_MAX_LINE_LEN,
            max_event_size: DEFAULT_MAX_EVENT_SIZE,
            framing: Framing::START,
            line: Line::Start,
            line_len: 0,
            decoder: Utf8Decoder::lossy(),
            data: String::new(),
            has_data: false,
            data_size: 0,
            data_capacity: 0,
            event_type: String::new(),
            value: String::new(),
            event_retry: None,
            id_buffer: None,
            last_event_id: None,
            reconnection_time: None,
            discarding: false,
            comment_count: 0,
            ready: None,
            unread: Unread::default(),
        }
    }

    /// Sets the longest line (in bytes, without its line break) the parser keeps.
    ///
    /// The whole line counts: name, colon, space and value, so `data:` padded with spaces, or
    /// `retry` alone, is as long as its bytes. A longer `data`, `event`, `id` or `retry` line is
    /// a [`ParseError::LineTooLong`] as soon as its bytes pass the limit (it is never
    /// accumulated), and the event it belongs to is skipped up to its blank line. Lines the
    /// parser does not keep (comments, unknown fields) are not limited: they cost no memory.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::{ParseError, Parser};
    ///
    /// let mut parser = Parser::new().with_max_line_len(10);
    /// parser.feed(b"data: too long a line\n\ndata: ok\n\n");
    /// assert_eq!(parser.next_event(), Err(ParseError::LineTooLong { limit: 10 }));
    /// assert_eq!(parser.next_event()?.unwrap().data(), "ok");
    /// # Ok::<(), ParseError>(())
    /// ```
    #[must_use]
    pub fn with_max_line_len(mut self, max_line_len: usize) -> Self {
        self.max_line_len = max_line_len;
        self
    }

    /// Sets the most data (in bytes as received: the `data` lines' values plus one for each
    /// line feed between two of them) an event may carry.
    ///
    /// More is a [`ParseError::EventTooLarge`] as soon as the bytes pass the limit, and the
    /// event is skipped up to its blank line.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::{ParseError, Parser};
    ///
    /// let mut parser = Parser::new().with_max_event_size(5);
    /// parser.feed(b"data: abc\ndata: def\n\ndata: abc\ndata: d\n\n");
    /// assert_eq!(parser.next_event(), Err(ParseError::EventTooLarge { limit: 5 }));
    /// assert_eq!(parser.next_event()?.unwrap().data(), "abc\nd");
    /// # Ok::<(), ParseError>(())
    /// ```
    #[must_use]
    pub fn with_max_event_size(mut self, max_event_size: usize) -> Self {
        self.max_event_size = max_event_size;
        self
    }

    /// Starts with a last event id, as a client that reconnects does (it sent the id as
    /// `Last-Event-ID`, and events keep it until the stream sends another).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::Parser;
    ///
    /// let mut parser = Parser::new().with_last_event_id("41");
    /// parser.feed(b"data: x\n\n");
    /// assert_eq!(parser.next_event()?.unwrap().last_event_id(), "41");
    /// # Ok::<(), tokenflush::sse::ParseError>(())
    /// ```
    #[must_use]
    pub fn with_last_event_id(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = event_id(id.into());
        self.id_buffer = None;
        self
    }

    /// The longest line the parser keeps, in bytes.
    #[must_use]
    pub fn max_line_len(&self) -> usize {
        self.max_line_len
    }

    /// The most data an event may carry, in bytes.
    #[must_use]
    pub fn max_event_size(&self) -> usize {
        self.max_event_size
    }

    /// Gives the parser `input`, the next bytes of the stream.
    ///
    /// The parser reads it as far as the first event (or error) it completes, which
    /// [`next_event`](Self::next_event) then returns; the rest is kept, as bytes, and parsed
    /// as events are asked for. So is all of `input` while an event waits to be taken. Bytes
    /// of an incomplete line stay in the parser, as decoded text, only if the line is kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::Parser;
    ///
    /// let mut parser = Parser::new();
    /// for byte in b"data: \xF0\x9F\x98\x80\r\n\r\n" {
    ///     parser.feed(&[*byte]); // one byte at a time: the emoji and the CRLF are cut
    /// }
    /// assert_eq!(parser.next_event()?.unwrap().data(), "😀");
    /// # Ok::<(), tokenflush::sse::ParseError>(())
    /// ```
    pub fn feed(&mut self, mut input: &[u8]) {
        if self.unread.is_empty() {
            self.parse(&mut input);
            if input.is_empty() {
                return;
            }
        }
        self.unread.push(input);
    }

    /// The next completed event; `Ok(None)` when none is complete yet.
    ///
    /// # Errors
    ///
    /// A [`ParseError`] for a limit exceeded at this point of the stream; the events after it
    /// are still delivered by later calls.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::Parser;
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(b"data: a\n\ndata: b\n\n");
    /// assert_eq!(parser.next_event()?.unwrap().data(), "a");
    /// assert_eq!(parser.next_event()?.unwrap().data(), "b");
    /// assert!(parser.next_event()?.is_none());
    /// # Ok::<(), tokenflush::sse::ParseError>(())
    /// ```
    pub fn next_event(&mut self) -> Result<Option<ParsedEvent>, ParseError> {
        if self.ready.is_none() {
            if self.unread.is_empty() {
                // A body fed a byte at a time asks after every byte: answer at once.
                return Ok(None);
            }
            self.parse_unread();
        }
        self.ready.take().transpose()
    }

    /// Ends the stream: reports whether it ended cleanly, and readies the parser for the next
    /// stream (a reconnection).
    ///
    /// An event that was not ended by a blank line is discarded, as the standard says. Events
    /// completed before are still delivered by [`next_event`](Self::next_event), and bytes
    /// fed afterwards belong to the next stream, which starts afresh (a byte-order mark is
    /// stripped again) but keeps the [last event id](Self::last_event_id) and the
    /// [reconnection time](Self::reconnection_time), as browsers keep them across
    /// reconnections.
    ///
    /// # Errors
    ///
    /// [`ParseError::Truncated`] if the stream ended inside an event or inside a line: a
    /// response cut short (a server that crashed, a connection reset) rather than one that
    /// ended.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::{ParseError, Parser};
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(b"data: complete\n\ndata: cut sho");
    /// assert_eq!(parser.finish(), Err(ParseError::Truncated));
    /// assert_eq!(parser.next_event()?.unwrap().data(), "complete");
    /// assert!(parser.next_event()?.is_none());
    ///
    /// parser.feed(b"data: next stream\n\n");
    /// assert_eq!(parser.finish(), Ok(()));
    /// # Ok::<(), ParseError>(())
    /// ```
    pub fn finish(&mut self) -> Result<(), ParseError> {
        let truncated = if self.unread.is_empty() {
            let truncated = self.framing.inside_event();
            self.reset_stream();
            truncated
        } else {
            // Where the unread bytes of this stream begin, and the framing there.
            let (from, mut framing) = match self.unread.ends.back() {
                Some(&end) => (end, Framing::START),
                None => (self.unread.start, self.framing),
            };
            let mut rest = &self.unread.bytes[from..];
            while framing.next(&mut rest).is_some() {}
            self.unread.ends.push_back(self.unread.bytes.len());
            framing.inside_event()
        };
        if truncated {
            Err(ParseError::Truncated)
        } else {
            Ok(())
        }
    }

    /// The last event id: what a client sends as `Last-Event-ID` when it reconnects.
    ///
    /// It is the id as of the last blank line read, so an `id` line of an event that never
    /// completed does not count. The parser reads only as far as the event
    /// [`next_event`](Self::next_event) returns next (or returned last), so this is the id of
    /// the events handed out, not of bytes still unread behind them; the same holds for
    /// [`reconnection_time`](Self::reconnection_time) and
    /// [`comment_count`](Self::comment_count).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::Parser;
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(b"id: 1\n\nid: 2\n");
    /// assert_eq!(parser.last_event_id(), "1");
    /// ```
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        self.last_event_id.as_deref().unwrap_or("")
    }

    /// The reconnection time the stream asked for with its last valid `retry` field.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenflush::sse::Parser;
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(b"retry: 2500\nretry: 1e3\n\n");
    /// assert_eq!(parser.reconnection_time(), Some(Duration::from_millis(2500)));
    /// parser.feed(b"retry: 99999999999999999999\n\n"); // more than u64::MAX milliseconds
    /// assert_eq!(parser.reconnection_time(), Some(Duration::from_millis(u64::MAX)));
    /// ```
    #[must_use]
    pub fn reconnection_time(&self) -> Option<Duration> {
        self.reconnection_time
    }

    /// How many comment lines the parser has read: a count of heartbeats.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::Parser;
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(b": ping\n\n: ping\n\ndata: x\n\n");
    /// assert_eq!(parser.comment_count(), 2);
    /// ```
    #[must_use]
    pub fn comment_count(&self) -> u64 {
        self.comment_count
    }

    /// Parses the front of `input` until it produces an event or an error, or runs out.
    fn parse(&mut self, input: &mut &[u8]) {
        while self.ready.is_none() && !input.is_empty() {
            match self.framing.next(input) {
                Some(Piece::Content(content)) => self.line_content(content),
                Some(Piece::Break) => self.end_line(),
                None => return,
            }
        }
    }

    /// Parses unread bytes until they produce an event or an error, or run out.
    // Kept out of `next_event`, which a body fed a byte at a time calls after every byte.
    #[inline(never)]
    fn parse_unread(&mut self) {
        let mut unread = mem::take(&mut self.unread);
        while self.ready.is_none() {
            let end = unread.ends.front().copied().unwrap_or(unread.bytes.len());
            let mut input = &unread.bytes[unread.start..end];
            self.parse(&mut input);
            unread.start = end - input.len();
            if unread.start < end {
                break;
            }
            if unread.ends.front() == Some(&end) {
                unread.ends.pop_front();
                self.reset_stream();
            } else {
                break;
            }
        }
        if unread.is_empty() {
            unread.clear();
        }
        self.unread = unread;
    }

    /// Forgets the stream being read, but not the last event id and reconnection time.
    fn reset_stream(&mut self) {
        self.framing = Framing::START;
        self.line = Line::Start;
        self.line_len = 0;
        self.decoder.reset();
        self.data = String::new();
        self.has_data = false;
        self.data_size = 0;
        self.event_type.clear();
        self.value.clear();
        self.event_retry = None;
        self.id_buffer = None;
        self.discarding = false;
    }

    /// Reads bytes of the current line (no line break among them, never empty).
    fn line_content(&mut self, mut content: &[u8]) {
        loop {
            match self.line {
                Line::Start => {
                    if content[0] == b':' {
                        self.comment_count += 1;
                        self.line = Line::Skip;
                        return;
                    }
                    self.line = if self.discarding {
                        Line::Skip
                    } else {
                        Line::Name {
                            name: [0; NAME_MAX],
                            len: 0,
                        }
                    };
                }
                Line::Name { mut name, len } => {
                    let len = usize::from(len);
                    let room = NAME_MAX - len;
                    // A colon further than `room` bytes in ends a name too long to be known.
                    let window = &content[..content.len().min(room + 1)];
                    match window.iter().position(|&byte| byte == b':') {
                        Some(colon) => {
                            name[len..len + colon].copy_from_slice(&content[..colon]);
                            content = &content[colon + 1..];
                            let Some(field) = field_named(&name[..len + colon]) else {
                                self.line = Line::Skip;
                                return;
                            };
                            self.line_len = len + colon + 1;
                            if !self.start_field(field) {
                                return;
                            }
                            self.line = Line::BeforeValue(field);
                        }
                        None if content.len() > room => {
                            self.line = Line::Skip;
                            return;
                        }
                        None => {
                            name[len..len + content.len()].copy_from_slice(content);
                            self.line = Line::Name {
                                name,
                                // At most NAME_MAX.
                                len: (len + content.len()) as u8,
                            };
                            return;
                        }
                    }
                }
                Line::BeforeValue(field) => {
                    self.line = Line::Value(field);
                    if content[0] == b' ' {
                        if self.line_len >= self.max_line_len {
                            let limit = self.max_line_len;
                            return self.overflow(ParseError::LineTooLong { limit });
                        }
                        self.line_len += 1;
                        content = &content[1..];
                    }
                }
                Line::Value(field) => return self.value_bytes(field, content),
                Line::Skip => return,
            }
            if content.is_empty() {
                return;
            }
        }
    }

    /// The name of a kept field was read (`line_len` counts it, and its colon if it has one):
    /// checks it against the limits, and counts the line feed that joins a data line to the
    /// previous one. Returns whether the line is still kept.
    fn start_field(&mut self, field: Field) -> bool {
        // The name is at most 6 bytes into the line, where the line feed is counted: when
        // both limits are passed here, the line limit was passed first or at the same byte.
        if self.line_len > self.max_line_len {
            let limit = self.max_line_len;
            self.overflow(ParseError::LineTooLong { limit });
            return false;
        }
        if field == Field::Data {
            if self.has_data {
                if self.data_size >= self.max_event_size {
                    let limit = self.max_event_size;
                    self.overflow(ParseError::EventTooLarge { limit });
                    return false;
                }
                self.data_size += 1;
                self.data.push('\n');
            } else {
                self.has_data = true;
                self.data.reserve(self.data_capacity);
            }
        }
        true
    }

    /// Reads bytes of a field's value.
    fn value_bytes(&mut self, field: Field, content: &[u8]) {
        // Both rooms are how many more bytes fit: the limit passed first is the one whose
        // room ends earlier in `content`, the line limit if both end at the same byte.
        let line_room = self.max_line_len - self.line_len;
        if field == Field::Data {
            let event_room = self.max_event_size - self.data_size;
            if content.len() > line_room.min(event_room) {
                let error = if line_room <= event_room {
                    ParseError::LineTooLong {
                        limit: self.max_line_len,
                    }
                } else {
                    ParseError::EventTooLarge {
                        limit: self.max_event_size,
                    }
                };
                return self.overflow(error);
            }
            self.data_size += content.len();
            decode(&mut self.decoder, content, &mut self.data);
        } else {
            if content.len() > line_room {
                let limit = self.max_line_len;
                return self.overflow(ParseError::LineTooLong { limit });
            }
            decode(&mut self.decoder, content, &mut self.value);
        }
        self.line_len += content.len();
    }

    /// A limit was exceeded: reports it, and skips the event up to its blank line.
    fn overflow(&mut self, error: ParseError) {
        debug_assert!(self.ready.is_none(), "one result per line piece");
        self.decoder.reset();
        self.value.clear();
        self.line = Line::Skip;
        // An `id` line of the skipped event does not count.
        self.discarding = true;
        self.data = String::new();
        self.has_data = false;
        self.data_size = 0;
        self.event_type.clear();
        self.event_retry = None;
        self.id_buffer = None;
        self.ready = Some(Err(error));
    }

    /// Acts on the line that just ended.
    fn end_line(&mut self) {
        match self.line {
            Line::Start => self.dispatch(),
            Line::Name { name, len } => {
                let len = usize::from(len);
                // A name without a colon: the field with an empty value.
                if let Some(field) = field_named(&name[..len]) {
                    self.line_len = len;
                    if self.start_field(field) {
                        self.commit(field);
                    }
                }
            }
            Line::BeforeValue(field) | Line::Value(field) => self.commit(field),
            Line::Skip => {}
        }
        self.line = Line::Start;
        self.line_len = 0;
    }

    /// Applies a field whose value is complete.
    fn commit(&mut self, field: Field) {
        // A character cut off by the line break becomes U+FFFD.
        match field {
            Field::Data => {
                let Ok(()) = self.decoder.finish(&mut self.data);
            }
            Field::Event => {
                let Ok(()) = self.decoder.finish(&mut self.value);
                mem::swap(&mut self.event_type, &mut self.value);
            }
            Field::Id => {
                let Ok(()) = self.decoder.finish(&mut self.value);
                if !self.value.contains('\0') {
                    self.id_buffer = Some(event_id(self.value.as_str()));
                }
            }
            Field::Retry => {
                let Ok(()) = self.decoder.finish(&mut self.value);
                if let Some(millis) = parse_digits(&self.value) {
                    let retry = Duration::from_millis(millis);
                    self.reconnection_time = Some(retry);
                    self.event_retry = Some(retry);
                }
            }
        }
        if self.value.capacity() > RETAINED_CAPACITY {
            self.value = String::new();
        } else {
            self.value.clear();
        }
    }

    /// A blank line: delivers the event, if it has data.
    fn dispatch(&mut self) {
        if mem::take(&mut self.discarding) {
            return;
        }
        if let Some(id) = self.id_buffer.take() {
            self.last_event_id = id;
        }
        let retry = self.event_retry.take();
        if !mem::take(&mut self.has_data) {
            self.event_type.clear();
            return;
        }
        self.data_size = 0;
        self.data_capacity = self.data.len().min(RETAINED_CAPACITY);
        let event = ParsedEvent {
            event_type: normalize_event_type(mem::take(&mut self.event_type)),
            data: mem::take(&mut self.data),
            last_event_id: self.last_event_id.clone(),
            retry,
        };
        self.ready = Some(Ok(event));
    }
}

/// An id as the parser keeps it: shared, and nothing allocated for the empty one.
fn event_id(id: impl AsRef<str> + Into<Arc<str>>) -> EventId {
    (!id.as_ref().is_empty()).then(|| id.into())
}

/// Decodes bytes of a value into `out`, as the lossy [`Utf8Decoder`] does.
fn decode(decoder: &mut Utf8Decoder, content: &[u8], out: &mut String) {
    match content {
        // A body fed a byte at a time: skip the decoder's bookkeeping for plain ASCII.
        &[byte] if byte.is_ascii() && !decoder.has_pending() => out.push(char::from(byte)),
        _ => {
            let Ok(()) = decoder.decode(content, out);
        }
    }
}

/// A `retry` value: only ASCII digits, at least one; a count of milliseconds too large for a
/// `u64` saturates.
fn parse_digits(value: &str) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.bytes().try_fold(0u64, |millis, byte| {
        byte.is_ascii_digit().then(|| {
            millis
                .saturating_mul(10)
                .saturating_add(u64::from(byte - b'0'))
        })
    })
}

/// `None` stands for `"message"`, the type of an event without one, however it was given.
fn normalize_event_type(event_type: String) -> Option<String> {
    (!event_type.is_empty() && event_type != "message").then_some(event_type)
}

/// An event as a client receives it: type, data, last event id, and the `retry` it carried.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokenflush::sse::{ParsedEvent, Parser};
///
/// let mut parser = Parser::new();
/// parser.feed(b"event: delta\nid: 3\nretry: 100\ndata: a\ndata: b\n\n");
/// let expected = ParsedEvent::new("a\nb")
///     .with_event_type("delta")
///     .with_last_event_id("3")
///     .with_retry(Duration::from_millis(100));
/// assert_eq!(parser.next_event()?, Some(expected));
/// # Ok::<(), tokenflush::sse::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ParsedEvent {
    /// `None` for `"message"`.
    event_type: Option<String>,
    data: String,
    last_event_id: EventId,
    retry: Option<Duration>,
}

impl ParsedEvent {
    /// An event of type `"message"` with `data`, no last event id and no retry; the `with_*`
    /// methods set the rest. For tests and fixtures: the parser builds its events itself.
    #[must_use]
    pub fn new(data: impl Into<String>) -> Self {
        Self {
            event_type: None,
            data: data.into(),
            last_event_id: None,
            retry: None,
        }
    }

    /// Sets the event type; empty means `"message"`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::ParsedEvent;
    ///
    /// assert_eq!(ParsedEvent::new("").with_event_type("").event_type(), "message");
    /// assert_eq!(ParsedEvent::new("").with_event_type("message"), ParsedEvent::new(""));
    /// ```
    #[must_use]
    pub fn with_event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = normalize_event_type(event_type.into());
        self
    }

    /// Sets the last event id.
    #[must_use]
    pub fn with_last_event_id(mut self, last_event_id: impl Into<String>) -> Self {
        self.last_event_id = event_id(last_event_id.into());
        self
    }

    /// Sets the retry the event carried.
    #[must_use]
    pub fn with_retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// The event type: `"message"` unless the event named another.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::Parser;
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(b"event:\ndata: x\n\n");
    /// assert_eq!(parser.next_event()?.unwrap().event_type(), "message");
    /// # Ok::<(), tokenflush::sse::ParseError>(())
    /// ```
    #[must_use]
    pub fn event_type(&self) -> &str {
        self.event_type.as_deref().unwrap_or("message")
    }

    /// The data: the event's `data` lines joined with LF.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::Parser;
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(b"data\ndata:  x\n\n");
    /// assert_eq!(parser.next_event()?.unwrap().data(), "\n x");
    /// # Ok::<(), tokenflush::sse::ParseError>(())
    /// ```
    #[must_use]
    pub fn data(&self) -> &str {
        &self.data
    }

    /// The data, without copying.
    #[must_use]
    pub fn into_data(self) -> String {
        self.data
    }

    /// The last event id when the event was delivered (ids persist from event to event).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::Parser;
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(b"id: 1\ndata: a\n\ndata: b\n\nid\ndata: c\n\n");
    /// let ids: Vec<_> = std::iter::from_fn(|| parser.next_event().unwrap())
    ///     .map(|event| event.last_event_id().to_owned())
    ///     .collect();
    /// assert_eq!(ids, ["1", "1", ""]);
    /// ```
    #[must_use]
    pub fn last_event_id(&self) -> &str {
        self.last_event_id.as_deref().unwrap_or("")
    }

    /// The reconnection time set by a valid `retry` line of this event, if it had one.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenflush::sse::Parser;
    ///
    /// let mut parser = Parser::new();
    /// parser.feed(b"retry: 10\ndata: a\n\ndata: b\n\n");
    /// assert_eq!(parser.next_event()?.unwrap().retry(), Some(Duration::from_millis(10)));
    /// assert_eq!(parser.next_event()?.unwrap().retry(), None);
    /// # Ok::<(), tokenflush::sse::ParseError>(())
    /// ```
    #[must_use]
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }
}

/// What the client side reports besides events: an exceeded limit, a stream cut short, or (from
/// [`ParseSse`](super::ParseSse)) the body's own error `E`.
///
/// [`Parser`] reports `ParseError` (no body error: `E` is [`Infallible`]);
/// [`parse_sse`](super::ParseSseExt::parse_sse) reports `ParseError<E>` for a body whose pieces
/// are `Result<_, E>`.
///
/// # Examples
///
/// ```
/// use tokenflush::sse::{ParseError, Parser};
///
/// let mut parser = Parser::new();
/// parser.feed(b"data: partial");
/// let err = parser.finish().unwrap_err();
/// assert_eq!(err, ParseError::Truncated);
/// assert_eq!(err.to_string(), "stream ended inside an event");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError<E = Infallible> {
    /// A kept line grew past [`Parser::max_line_len`].
    #[error("line longer than {limit} bytes")]
    LineTooLong {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// An event's data grew past [`Parser::max_event_size`].
    #[error("event data larger than {limit} bytes")]
    EventTooLarge {
        /// The limit that was exceeded.
        limit: usize,
    },
    /// The stream ended inside an event or a line: the event was discarded.
    #[error("stream ended inside an event")]
    Truncated,
    /// Reading the body failed; the stream goes on if the body does.
    #[error("reading the event stream failed")]
    Body(#[source] E),
}

impl ParseError {
    /// The parser's error as the error of a stream whose body fails with `E`.
    pub(crate) fn widen<E>(self) -> ParseError<E> {
        match self {
            Self::LineTooLong { limit } => ParseError::LineTooLong { limit },
            Self::EventTooLarge { limit } => ParseError::EventTooLarge { limit },
            Self::Truncated => ParseError::Truncated,
            Self::Body(never) => match never {},
        }
    }
}
