//! Helpers shared by the `sse*` test files: feeding a parser in pieces, and proptest
//! strategies for text full of line breaks.

#![allow(dead_code, unreachable_pub)]

use proptest::prelude::*;
use tokenflush::sse::{Frame, ParseError, Parser};

/// Everything a parser reported for one input: frames and errors in order, then `finish`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    pub items: Vec<Result<Frame, ParseError>>,
    pub end: Result<(), ParseError>,
}

impl Parsed {
    /// The data of every event, in order (errors and comments skipped).
    pub fn data(&self) -> Vec<&str> {
        self.items
            .iter()
            .filter_map(|item| match item {
                Ok(Frame::Event(event)) => Some(event.data()),
                _ => None,
            })
            .collect()
    }

    /// The events, in order; panics on an error or a comment.
    pub fn events(&self) -> Vec<tokenflush::sse::ParsedEvent> {
        self.items
            .iter()
            .map(|item| match item {
                Ok(Frame::Event(event)) => event.clone(),
                other => panic!("expected an event, got {other:?}"),
            })
            .collect()
    }
}

/// Drains every frame and error the parser has queued.
pub fn drain(parser: &mut Parser, items: &mut Vec<Result<Frame, ParseError>>) {
    loop {
        match parser.next_frame() {
            Ok(Some(frame)) => items.push(Ok(frame)),
            Ok(None) => return,
            Err(error) => items.push(Err(error)),
        }
    }
}

/// Feeds `input` to `parser` cut at `cuts` (positions, any order, out-of-range ones clamped),
/// draining after every piece, then finishes.
pub fn parse_with(mut parser: Parser, input: &[u8], cuts: &[usize]) -> Parsed {
    let mut cuts: Vec<usize> = cuts.iter().map(|&cut| cut.min(input.len())).collect();
    cuts.push(0);
    cuts.push(input.len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut items = Vec::new();
    for piece in cuts.windows(2) {
        parser.feed(&input[piece[0]..piece[1]]);
        drain(&mut parser, &mut items);
    }
    let end = parser.finish();
    drain(&mut parser, &mut items);
    Parsed { items, end }
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
