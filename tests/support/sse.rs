//! Helpers shared by the `sse*` test files: feeding a parser in pieces, and proptest
//! strategies for text full of line breaks.

#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use proptest::prelude::*;
use tokenflush::sse::{ParseError, ParsedEvent, Parser};

/// Everything a parser reported for one input: events and errors in order, then `finish`,
/// and what the parser knows once it has read everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub items: Vec<Result<ParsedEvent, ParseError>>,
    pub end: Result<(), ParseError>,
    pub last_event_id: String,
    pub reconnection_time: Option<Duration>,
    pub comment_count: u64,
}

impl Parsed {
    /// What `parser` knows, with the items and end read from it.
    pub fn new(
        parser: &Parser,
        items: Vec<Result<ParsedEvent, ParseError>>,
        end: Result<(), ParseError>,
    ) -> Self {
        Self {
            items,
            end,
            last_event_id: parser.last_event_id().to_owned(),
            reconnection_time: parser.reconnection_time(),
            comment_count: parser.comment_count(),
        }
    }

    /// The data of every event, in order (errors skipped).
    pub fn data(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter_map(|item| item.as_ref().ok().map(ParsedEvent::data))
            .collect()
    }

    /// The events, in order; panics on an error.
    pub fn events(&self) -> Vec<ParsedEvent> {
        self.items
            .iter()
            .map(|item| match item {
                Ok(event) => event.clone(),
                Err(error) => panic!("expected an event, got {error:?}"),
            })
            .collect()
    }
}

/// Takes every event and error the parser can deliver now.
pub fn drain(parser: &mut Parser, items: &mut Vec<Result<ParsedEvent, ParseError>>) {
    loop {
        match parser.next_event() {
            Ok(Some(event)) => items.push(Ok(event)),
            Ok(None) => return,
            Err(error) => items.push(Err(error)),
        }
    }
}

/// The pieces `input` falls into when cut at `cuts` (positions, any order, out-of-range ones
/// clamped).
pub fn pieces<'a>(input: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut cuts: Vec<usize> = cuts.iter().map(|&cut| cut.min(input.len())).collect();
    cuts.push(0);
    cuts.push(input.len());
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .map(|piece| &input[piece[0]..piece[1]])
        .collect()
}

/// Feeds `input` to `parser` cut at `cuts`, draining after every piece, then finishes.
pub fn parse_with(mut parser: Parser, input: &[u8], cuts: &[usize]) -> Parsed {
    let mut items = Vec::new();
    for piece in pieces(input, cuts) {
        parser.feed(piece);
        drain(&mut parser, &mut items);
    }
    let end = parser.finish();
    drain(&mut parser, &mut items);
    Parsed::new(&parser, items, end)
}

/// Feeds `input` to `parser` cut at `cuts` without taking anything, finishes, and only then
/// drains: everything waits in the parser, unread.
pub fn parse_then_drain(mut parser: Parser, input: &[u8], cuts: &[usize]) -> Parsed {
    for piece in pieces(input, cuts) {
        parser.feed(piece);
    }
    let end = parser.finish();
    let mut items = Vec::new();
    drain(&mut parser, &mut items);
    Parsed::new(&parser, items, end)
}

/// [`parse_with`] a default parser.
pub fn parse(input: &[u8], cuts: &[usize]) -> Parsed {
    parse_with(Parser::new(), input, cuts)
}

/// Feeds `input` in pieces of `size` bytes.
pub fn parse_in_pieces(parser: Parser, input: &[u8], size: usize) -> Parsed {
    let cuts: Vec<usize> = (size..input.len()).step_by(size).collect();
    parse_with(parser, input, &cuts)
}

/// Replaces every CRLF, lone CR and lone LF with LF.
pub fn normalize_breaks(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Text built from fragments that stress SSE framing: every kind of line break, spaces,
/// colons, field names, non-breaks that look like breaks, and arbitrary characters.
pub fn hostile_text() -> impl Strategy<Value = String> {
    let fragment = prop_oneof![
        Just("\r".to_owned()),
        Just("\n".to_owned()),
        Just("\r\n".to_owned()),
        Just("\n\r".to_owned()),
        Just(" ".to_owned()),
        Just(":".to_owned()),
        Just("data: ".to_owned()),
        Just("event: x".to_owned()),
        Just("id: 1".to_owned()),
        Just("retry: 1".to_owned()),
        Just("\u{FEFF}".to_owned()),
        Just("\u{2028}\u{2029}\u{85}\0\u{b}\u{c}".to_owned()),
        any::<char>().prop_map(String::from),
        "[a-z]{0,8}",
    ];
    prop::collection::vec(fragment, 0..16).prop_map(|fragments| fragments.concat())
}

/// A field value that may be framed: no CR or LF.
pub fn single_line_text() -> impl Strategy<Value = String> {
    hostile_text().prop_map(|text| text.replace(['\r', '\n'], ""))
}

/// Where to cut an input, whatever its length: see [`positions`].
pub fn cuts() -> impl Strategy<Value = Vec<prop::sample::Index>> {
    prop::collection::vec(any::<prop::sample::Index>(), 0..8)
}

/// The positions `cuts` stand for in an input of `len` bytes.
pub fn positions(cuts: &[prop::sample::Index], len: usize) -> Vec<usize> {
    cuts.iter().map(|cut| cut.index(len + 1)).collect()
}

/// Bytes of an event stream built to stress a parser: field names with and without colon and
/// space, long values, ids and retries, comments, blank lines, every line break, byte-order
/// marks, invalid and cut UTF-8, NUL, and arbitrary bytes.
pub fn event_stream_bytes() -> impl Strategy<Value = Vec<u8>> {
    const FRAGMENTS: &[&[u8]] = &[
        b"data:",
        b"data: ",
        b"data",
        b"id: ",
        b"id:",
        b"id",
        b"event: ",
        b"event",
        b"retry: ",
        b"retry",
        b":",
        b": ping",
        b" ",
        b"\n",
        b"\r",
        b"\r\n",
        b"\n\n",
        b"\r\r",
        b"\xEF\xBB\xBF",
        b"\xEF\xBB",
        b"\xFF",
        b"\xC0\x80",
        b"\xE2\x82",
        b"\xF0\x9F\x98\x80",
        b"\0",
        b"message",
        b"123",
        b"99999999999999999999999",
    ];
    let fragment = prop_oneof![
        4 => prop::sample::select(FRAGMENTS).prop_map(<[u8]>::to_vec),
        // Long values, past small limits or just at them; invalid bytes decode to three times
        // their size.
        1 => (prop::sample::select(&b"x\xFF"[..]), 0usize..80).prop_map(|(byte, len)| vec![byte; len]),
        1 => prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(fragment, 0..48).prop_map(|fragments| fragments.concat())
}
