//! [`Parser`]: an incremental event-stream parser by the WHATWG rules.

use std::collections::VecDeque;
use std::mem;
use std::time::Duration;

use super::lines::find_line_break;
use crate::utf8::Utf8Decoder;

/// The default [`Parser::max_line_len`]: 16 MiB.
const DEFAULT_MAX_LINE_LEN: usize = 16 << 20;

/// The default [`Parser::max_event_size`]: 64 MiB.
const DEFAULT_MAX_EVENT_SIZE: usize = 64 << 20;

/// The UTF-8 byte-order mark, stripped once at the start of a stream.
const BOM: [u8; 3] = [0xEF, 0xBB, 0xBF];

/// The longest field name the parser acts on (`retry`, `event`).
const NAME_MAX: usize = 5;

/// The most capacity the data buffer starts an event with: the size of the previous event, up
/// to this, so that a stream of similar events costs one allocation per event.
const RETAINED_CAPACITY: usize = 64 * 1024;

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
///   case-sensitive, unknown names and comment lines (`:`) are ignored;
/// - delivers an event at each blank line that follows at least one `data` line: `data:`
///   gives `""`, an empty or missing `event` gives `"message"`, `id` persists from event to
///   event, is reset by an empty value and ignored when it holds a NUL, and `retry` counts only
///   when it is all ASCII digits;
/// - decodes UTF-8 as [`String::from_utf8_lossy`] would decode the whole stream: an invalid
///   byte becomes U+FFFD and later events still arrive;
/// - bounds memory with [a line limit](Self::with_max_line_len) and
///   [an event limit](Self::with_max_event_size), enforced as bytes accumulate (lines of
///   unknown fields and ignored comments are skipped, never buffered);
/// - runs in linear time: each byte is looked at a bounded number of times, however the input
///   is cut; and it never panics, whatever the input.
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
    comments: bool,

    /// How many bytes of a byte-order mark the stream began with so far, while its start may
    /// still be one; `None` once it is decided.
    bom_matched: Option<u8>,
    /// The last byte was a CR: an LF right after it belongs to the same line break.
    after_cr: bool,
    line: Line,
    /// Bytes of the current line so far.
    line_len: usize,
    /// Decodes the value being read; carries a character cut between two pieces.
    decoder: Utf8Decoder,

    /// The data buffer: each data line's value and an LF.
    data: String,
    /// Bytes of data received for the event (values, plus one for each LF between two lines).
    data_size: usize,
    event_type: String,
    /// The value of the `event`, `id`, `retry` or comment line being read.
    value: String,
    /// A valid `retry` read since the last blank line.
    event_retry: Option<Duration>,
    /// The last event id buffer: set by `id` lines.
    id_buffer: String,
    /// The last event id string: the buffer as of the last blank line.
    last_event_id: String,
    reconnection_time: Option<Duration>,
    /// A field line (not a comment) was read since the last blank line.
    in_event: bool,
    /// A limit was exceeded: the rest of the event, up to its blank line, is skipped.
    discarding: bool,

    queue: VecDeque<Result<Frame, ParseError>>,
    comment_count: u64,
}

/// The fields the parser acts on; comments are read as a field only when surfaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Data,
    Event,
    Id,
    Retry,
    Comment,
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
    /// An unknown field, an ignored comment, or a line of an event being discarded.
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
    /// A parser with the default limits (16 MiB per line, 64 MiB of data per event) that
    /// ignores comments.
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
            comments: false,
            bom_matched: Some(0),
            after_cr: false,
            line: Line::Start,
            line_len: 0,
            decoder: Utf8Decoder::lossy(),
            data: String::new(),
            data_size: 0,
            event_type: String::new(),
            value: String::new(),
            event_retry: None,
            id_buffer: String::new(),
            last_event_id: String::new(),
            reconnection_time: None,
            in_event: false,
            discarding: false,
            queue: VecDeque::new(),
            comment_count: 0,
        }
    }

    /// Sets the longest line (in bytes, without its line break) the parser buffers.
    ///
    /// A longer `data`, `event`, `id` or `retry` line is a [`ParseError::LineTooLong`] as soon
    /// as its bytes pass the limit, and the event it belongs to is skipped up to its blank line;
    /// a longer surfaced comment is skipped alone. Lines the parser does not keep (unknown
    /// fields, comments when not surfaced) are not limited: they cost no memory.
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

    /// Whether comment lines are surfaced as [`Frame::Comment`] by
    /// [`next_frame`](Self::next_frame) (they are counted by
    /// [`comment_count`](Self::comment_count) either way).
    ///
    /// A comment's text is what follows the colon, without one leading space.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::{Frame, Parser};
    ///
    /// let mut parser = Parser::new().with_comments(true);
    /// parser.feed(b": ping\n\n");
    /// assert_eq!(parser.next_frame()?, Some(Frame::Comment("ping".into())));
    /// # Ok::<(), tokenflush::sse::ParseError>(())
    /// ```
    #[must_use]
    pub fn with_comments(mut self, comments: bool) -> Self {
        self.comments = comments;
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
        self.last_event_id = id.into();
        self.id_buffer.clone_from(&self.last_event_id);
        self
    }

    /// The longest line the parser buffers, in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::Parser;
    ///
    /// assert_eq!(Parser::new().with_max_line_len(80).max_line_len(), 80);
    /// ```
    #[must_use]
    pub fn max_line_len(&self) -> usize {
        self.max_line_len
    }

    /// The most data an event may carry, in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::Parser;
    ///
    /// assert_eq!(Parser::new().with_max_event_size(1024).max_event_size(), 1024);
    /// ```
    #[must_use]
    pub fn max_event_size(&self) -> usize {
        self.max_event_size
    }

    /// Parses `input`, the next bytes of the stream.
    ///
    /// Completed events (and errors, in order) are queued for [`next_event`](Self::next_event);
    /// bytes of an incomplete line stay in the parser, as decoded text, only if the line is
    /// kept.
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
        if let Some(matched) = self.bom_matched {
            let mut matched = usize::from(matched);
            while matched < BOM.len() {
                let Some((&byte, rest)) = input.split_first() else {
                    // Still possibly a BOM; `matched` < 3 fits.
                    self.bom_matched = Some(matched as u8);
                    return;
                };
                if byte != BOM[matched] {
                    // Not a BOM: the bytes held back were text.
                    self.bom_matched = None;
                    self.process(&BOM[..matched]);
                    break;
                }
                matched += 1;
                input = rest;
            }
            self.bom_matched = None;
        }
        self.process(input);
    }

    /// The next completed event, skipping comments; `Ok(None)` when none is complete yet.
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
        loop {
            match self.next_frame()? {
                Some(Frame::Event(event)) => return Ok(Some(event)),
                Some(Frame::Comment(_)) => {}
                None => return Ok(None),
            }
        }
    }

    /// The next completed event or, [if surfaced](Self::with_comments), comment, in stream
    /// order; `Ok(None)` when none is complete yet.
    ///
    /// # Errors
    ///
    /// As [`next_event`](Self::next_event).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::{Frame, Parser};
    ///
    /// let mut parser = Parser::new().with_comments(true);
    /// parser.feed(b":\n\ndata: hi\n\n");
    /// assert_eq!(parser.next_frame()?, Some(Frame::Comment(String::new())));
    /// assert!(matches!(parser.next_frame()?, Some(Frame::Event(event)) if event.data() == "hi"));
    /// # Ok::<(), tokenflush::sse::ParseError>(())
    /// ```
    pub fn next_frame(&mut self) -> Result<Option<Frame>, ParseError> {
        self.queue.pop_front().transpose()
    }

    /// Ends the stream: reports whether it ended cleanly, and readies the parser for the next
    /// stream (a reconnection).
    ///
    /// An event that was not ended by a blank line is discarded, as the standard says. Events
    /// completed before stay queued. The next stream starts afresh (a byte-order mark is
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
        if let Some(matched) = self.bom_matched.take() {
            self.process(&BOM[..usize::from(matched)]);
        }
        let truncated = self.line != Line::Start || self.in_event;
        self.bom_matched = Some(0);
        self.after_cr = false;
        self.line = Line::Start;
        self.line_len = 0;
        self.decoder.reset();
        self.data = String::new();
        self.data_size = 0;
        self.event_type.clear();
        self.value.clear();
        self.event_retry = None;
        self.id_buffer.clone_from(&self.last_event_id);
        self.in_event = false;
        self.discarding = false;
        if truncated {
            Err(ParseError::Truncated)
        } else {
            Ok(())
        }
    }

    /// The last event id: what a client sends as `Last-Event-ID` when it reconnects.
    ///
    /// It is the id as of the last blank line, so an `id` line of an event that never
    /// completed does not count.
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
        &self.last_event_id
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
    /// ```
    #[must_use]
    pub fn reconnection_time(&self) -> Option<Duration> {
        self.reconnection_time
    }

    /// How many comment lines the parser has read, surfaced or not: a count of heartbeats.
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

    /// Splits `input` into line contents and line breaks.
    fn process(&mut self, mut input: &[u8]) {
        while let Some((&first, after_first)) = input.split_first() {
            if mem::take(&mut self.after_cr) && first == b'\n' {
                input = after_first;
                continue;
            }
            let end = find_line_break(input);
            let content = &input[..end.unwrap_or(input.len())];
            if !content.is_empty() {
                self.line_content(content);
            }
            match end {
                Some(at) => {
                    self.after_cr = input[at] == b'\r';
                    self.end_line();
                    input = &input[at + 1..];
                }
                None => break,
            }
        }
    }

    /// Reads bytes of the current line (no line break among them).
    fn line_content(&mut self, mut content: &[u8]) {
        self.line_len = self.line_len.saturating_add(content.len());
        loop {
            match self.line {
                Line::Start => {
                    if content[0] == b':' {
                        self.comment_count += 1;
                        content = &content[1..];
                        self.line = if self.comments {
                            Line::BeforeValue(Field::Comment)
                        } else {
                            Line::Skip
                        };
                    } else {
                        self.in_event = true;
                        self.line = if self.discarding {
                            Line::Skip
                        } else {
                            Line::Name {
                                name: [0; NAME_MAX],
                                len: 0,
                            }
                        };
                    }
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
                            self.line = match field_named(&name[..len + colon]) {
                                Some(Field::Data) => {
                                    self.start_data_line();
                                    // An event already too large is now being discarded.
                                    if self.discarding {
                                        Line::Skip
                                    } else {
                                        Line::BeforeValue(Field::Data)
                                    }
                                }
                                Some(field) => Line::BeforeValue(field),
                                None => Line::Skip,
                            };
                        }
                        None if content.len() > room => self.line = Line::Skip,
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
                    if content[0] == b' ' {
                        content = &content[1..];
                    }
                    self.line = Line::Value(field);
                }
                Line::Value(field) => {
                    self.value_bytes(field, content);
                    return;
                }
                Line::Skip => return,
            }
            if content.is_empty() {
                return;
            }
        }
    }

    /// Reads bytes of a field's value.
    fn value_bytes(&mut self, field: Field, content: &[u8]) {
        if self.line_len > self.max_line_len {
            let limit = self.max_line_len;
            return self.overflow(field, ParseError::LineTooLong { limit });
        }
        if field == Field::Data {
            if content.len() > self.max_event_size.saturating_sub(self.data_size) {
                let limit = self.max_event_size;
                return self.overflow(field, ParseError::EventTooLarge { limit });
            }
            self.data_size += content.len();
            decode(&mut self.decoder, content, &mut self.data);
        } else {
            decode(&mut self.decoder, content, &mut self.value);
        }
    }

    /// A data line begins: counts the line feed that joins it to the previous one.
    fn start_data_line(&mut self) {
        if !self.data.is_empty() {
            if self.data_size >= self.max_event_size {
                let limit = self.max_event_size;
                return self.overflow(Field::Data, ParseError::EventTooLarge { limit });
            }
            self.data_size += 1;
        }
    }

    /// A limit was exceeded while reading `field`: reports it and skips what cannot be kept.
    fn overflow(&mut self, field: Field, error: ParseError) {
        self.decoder.reset();
        self.value.clear();
        self.line = Line::Skip;
        if field != Field::Comment {
            // The event is skipped up to its blank line; an `id` line it had does not count.
            self.discarding = true;
            self.data = String::new();
            self.data_size = 0;
            self.event_type.clear();
            self.event_retry = None;
            self.id_buffer.clone_from(&self.last_event_id);
        }
        self.queue.push_back(Err(error));
    }

    /// Acts on the line that just ended.
    fn end_line(&mut self) {
        match self.line {
            Line::Start => self.dispatch(),
            Line::Name { name, len } => {
                if let Some(field) = field_named(&name[..usize::from(len)]) {
                    // A name without a colon: the field with an empty value.
                    if self.line_len > self.max_line_len {
                        let limit = self.max_line_len;
                        self.overflow(field, ParseError::LineTooLong { limit });
                    } else {
                        if field == Field::Data {
                            self.start_data_line();
                        }
                        if !self.discarding {
                            self.commit(field);
                        }
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
        // Lossy decoding never fails; a character cut off by the line break becomes U+FFFD.
        match field {
            Field::Data => {
                let _ = self.decoder.finish(&mut self.data);
                self.data.push('\n');
            }
            Field::Event => {
                let _ = self.decoder.finish(&mut self.value);
                mem::swap(&mut self.event_type, &mut self.value);
            }
            Field::Id => {
                let _ = self.decoder.finish(&mut self.value);
                if !self.value.contains('\0') {
                    mem::swap(&mut self.id_buffer, &mut self.value);
                }
            }
            Field::Retry => {
                let _ = self.decoder.finish(&mut self.value);
                if let Some(millis) = parse_digits(&self.value) {
                    let retry = Duration::from_millis(millis);
                    self.reconnection_time = Some(retry);
                    self.event_retry = Some(retry);
                }
            }
            Field::Comment => {
                let _ = self.decoder.finish(&mut self.value);
                let text = mem::take(&mut self.value);
                self.queue.push_back(Ok(Frame::Comment(text)));
            }
        }
        self.value.clear();
    }

    /// A blank line: delivers the event, if it has data.
    fn dispatch(&mut self) {
        self.in_event = false;
        if mem::take(&mut self.discarding) {
            return;
        }
        self.last_event_id.clone_from(&self.id_buffer);
        let retry = self.event_retry.take();
        if self.data.is_empty() {
            self.event_type.clear();
            return;
        }
        self.data.pop(); // the LF after the last line
        let capacity = self.data.len().min(RETAINED_CAPACITY);
        let data = mem::replace(&mut self.data, String::with_capacity(capacity));
        self.data_size = 0;
        let event = ParsedEvent {
            event_type: normalize_event_type(mem::take(&mut self.event_type)),
            data,
            last_event_id: self.last_event_id.clone(),
            retry,
        };
        self.queue.push_back(Ok(Frame::Event(event)));
    }
}

/// Decodes bytes of a value into `out`, as the lossy [`Utf8Decoder`] does.
fn decode(decoder: &mut Utf8Decoder, content: &[u8], out: &mut String) {
    match content {
        // A body fed a byte at a time: skip the decoder's bookkeeping for plain ASCII.
        &[byte] if byte.is_ascii() && !decoder.has_pending() => out.push(char::from(byte)),
        // Lossy decoding never fails.
        _ => {
            let _ = decoder.decode(content, out);
        }
    }
}

/// A `retry` value: only ASCII digits, at least one, and a count of milliseconds that fits.
fn parse_digits(value: &str) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.bytes().try_fold(0u64, |millis, byte| {
        if byte.is_ascii_digit() {
            millis.checked_mul(10)?.checked_add(u64::from(byte - b'0'))
        } else {
            None
        }
    })
}

/// `None` stands for `"message"`, the type of an event without one, however it was given.
fn normalize_event_type(event_type: String) -> Option<String> {
    (!event_type.is_empty() && event_type != "message").then_some(event_type)
}

/// What a [`Parser`] delivers: an event, or a comment if comments are
/// [surfaced](Parser::with_comments).
///
/// # Examples
///
/// ```
/// use tokenflush::sse::{Frame, ParsedEvent, Parser};
///
/// let mut parser = Parser::new().with_comments(true);
/// parser.feed(b": hi\ndata: x\n\n");
/// assert_eq!(parser.next_frame()?, Some(Frame::Comment("hi".into())));
/// assert_eq!(parser.next_frame()?, Some(Frame::Event(ParsedEvent::new("x"))));
/// # Ok::<(), tokenflush::sse::ParseError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Frame {
    /// An event, delivered at its blank line.
    Event(ParsedEvent),
    /// A comment line's text, without the colon and one leading space.
    Comment(String),
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
    last_event_id: String,
    retry: Option<Duration>,
}

impl ParsedEvent {
    /// An event of type `"message"` with `data`, no last event id and no retry; the `with_*`
    /// methods set the rest. For tests and fixtures: the parser builds its events itself.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::ParsedEvent;
    ///
    /// let event = ParsedEvent::new("hi");
    /// assert_eq!((event.event_type(), event.data(), event.last_event_id()), ("message", "hi", ""));
    /// ```
    #[must_use]
    pub fn new(data: impl Into<String>) -> Self {
        Self {
            event_type: None,
            data: data.into(),
            last_event_id: String::new(),
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
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::ParsedEvent;
    ///
    /// assert_eq!(ParsedEvent::new("").with_last_event_id("9").last_event_id(), "9");
    /// ```
    #[must_use]
    pub fn with_last_event_id(mut self, last_event_id: impl Into<String>) -> Self {
        self.last_event_id = last_event_id.into();
        self
    }

    /// Sets the retry the event carried.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenflush::sse::ParsedEvent;
    ///
    /// let event = ParsedEvent::new("").with_retry(Duration::from_secs(1));
    /// assert_eq!(event.retry(), Some(Duration::from_secs(1)));
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::ParsedEvent;
    ///
    /// assert_eq!(ParsedEvent::new("x").into_data(), "x");
    /// ```
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
        &self.last_event_id
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

/// What the [`Parser`] reports besides events: an exceeded limit, or a stream cut short.
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
pub enum ParseError {
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
}
