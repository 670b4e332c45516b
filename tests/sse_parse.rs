//! The SSE parser, rule by rule (WHATWG "event stream" parsing), plus limits, split invariance,
//! linear time and totality. Its memory bound is measured in `sse_parse_allocations.rs`.

#[path = "support/sse.rs"]
mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use support::{parse, parse_in_pieces, parse_then_drain, parse_with, positions, Parsed};
use tokenflush::sse::{ParseError, ParsedEvent, Parser};

/// Parses `input` with parsers made by `parser`, whole and cut at every single position, and
/// checks that all agree.
fn parse_every_cut_with(parser: impl Fn() -> Parser, input: &[u8]) -> Parsed {
    let whole = parse_with(parser(), input, &[]);
    for cut in 0..=input.len() {
        let parsed = parse_with(parser(), input, &[cut]);
        assert_eq!(parsed, whole, "cut at {cut} of {input:?}");
    }
    assert_eq!(parse_in_pieces(parser(), input, 1), whole, "byte by byte");
    let unread = parse_then_drain(parser(), input, &(1..input.len()).collect::<Vec<_>>());
    assert_eq!(unread, whole, "byte by byte, read after finish");
    whole
}

/// [`parse_every_cut_with`] a default parser.
fn parse_every_cut(input: &[u8]) -> Parsed {
    parse_every_cut_with(Parser::new, input)
}

fn data_of(input: &[u8]) -> Vec<String> {
    parse_every_cut(input)
        .data()
        .into_iter()
        .map(str::to_owned)
        .collect()
}

// --- Byte-order mark -----------------------------------------------------------------------

#[test]
fn one_leading_bom_is_stripped_even_when_split() {
    let parsed = parse_every_cut(b"\xEF\xBB\xBFdata: x\n\n");
    assert_eq!(parsed.data(), ["x"]);
    assert_eq!(parsed.end, Ok(()));
}

#[test]
fn a_second_bom_is_kept() {
    // The second BOM is text: the first line's field name is "\u{FEFF}data", unknown.
    let parsed = parse_every_cut(b"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n");
    assert_eq!(parsed.data(), ["y"]);
    // A BOM that is not at the start of the stream is data.
    assert_eq!(data_of("data: \u{FEFF}x\n\n".as_bytes()), ["\u{FEFF}x"]);
}

#[test]
fn a_bom_only_matters_at_the_start_of_the_stream() {
    let parsed = parse_every_cut(b"data: a\n\n\xEF\xBB\xBFdata: b\n\n");
    assert_eq!(parsed.data(), ["a"]);
}

#[test]
fn bytes_that_only_begin_a_bom_are_text() {
    // Two bytes of a BOM and no more: a line was cut short, not a BOM stripped.
    assert_eq!(parse_every_cut(b"\xEF\xBB").end, Err(ParseError::Truncated));
    assert_eq!(parse_every_cut(b"\xEF\xBB\xBF").end, Ok(()));
    // They are a (malformed) field name; the event after them is intact.
    let parsed = parse_every_cut(b"\xEF\xBBdata: x\n\ndata: y\n\n");
    assert_eq!(parsed.data(), ["y"]);
    // Decoded as text where they are kept.
    let parsed = parse_every_cut(b"\xEF\xBB:x\n\n");
    assert_eq!(parsed.end, Ok(()));
}

// --- Line breaks -----------------------------------------------------------------------------

#[test]
fn lf_cr_and_crlf_all_end_lines() {
    for input in [
        &b"data: a\ndata: b\n\n"[..],
        b"data: a\rdata: b\r\r",
        b"data: a\r\ndata: b\r\n\r\n",
        b"data: a\rdata: b\r\n\n",
        b"data: a\r\ndata: b\n\r",
    ] {
        assert_eq!(data_of(input), ["a\nb"], "{input:?}");
    }
}

#[test]
fn crlf_cut_between_pieces_is_one_break() {
    let parsed = parse(b"data: a\r\ndata: b\r\n\r\n", &[8]);
    assert_eq!(parsed.data(), ["a\nb"]);
    let parsed = parse(b"data: a\r\n\r\ndata: b\r\n\r\n", &[8, 9, 10]);
    assert_eq!(parsed.data(), ["a", "b"]);
}

#[test]
fn an_event_ended_by_cr_cr_is_delivered_at_once() {
    let mut parser = Parser::new();
    parser.feed(b"data: x\r\r");
    assert_eq!(parser.next_event(), Ok(Some(ParsedEvent::new("x"))));
    // An LF that then arrives belongs to the second CR: no empty line, no second dispatch.
    parser.feed(b"\ndata: y\r");
    assert_eq!(parser.next_event(), Ok(None));
    parser.feed(b"\r");
    assert_eq!(parser.next_event(), Ok(Some(ParsedEvent::new("y"))));
    assert_eq!(parser.finish(), Ok(()));
}

#[test]
fn a_lone_cr_at_the_end_of_input_ends_the_line() {
    let mut parser = Parser::new();
    parser.feed(b"data: x\n\r");
    assert_eq!(parser.next_event(), Ok(Some(ParsedEvent::new("x"))));
    assert_eq!(parser.finish(), Ok(()));
}

#[test]
fn lf_cr_is_two_breaks() {
    assert_eq!(data_of(b"data: a\n\rdata: b\n\n"), ["a", "b"]);
}

// --- Field grammar ---------------------------------------------------------------------------

#[test]
fn a_line_without_colon_is_a_field_with_an_empty_value() {
    assert_eq!(data_of(b"data\n\n"), [""]);
    assert_eq!(data_of(b"data\ndata\n\n"), ["\n"]);
    let events = parse_every_cut(b"event: a\nevent\ndata: x\n\n").events();
    assert_eq!(events[0].event_type(), "message");
    let events = parse_every_cut(b"id: 1\ndata: a\n\nid\ndata: b\n\n").events();
    assert_eq!(events[1].last_event_id(), "");
}

#[test]
fn the_first_colon_splits() {
    assert_eq!(data_of(b"data: a: b:c\n\n"), ["a: b:c"]);
    assert_eq!(data_of(b"data::\n\n"), [":"]);
}

#[test]
fn exactly_one_leading_space_is_removed() {
    assert_eq!(data_of(b"data:x\n\n"), ["x"]);
    assert_eq!(data_of(b"data: x\n\n"), ["x"]);
    assert_eq!(data_of(b"data:  x \n\n"), [" x "]);
    assert_eq!(data_of(b"data:\tx\n\n"), ["\tx"]);
    assert_eq!(data_of(b"data: \n\n"), [""]);
    let events = parse_every_cut(b"event:  spaced\ndata\n\n").events();
    assert_eq!(events[0].event_type(), " spaced");
}

#[test]
fn names_are_case_sensitive_and_unknown_ones_are_ignored() {
    assert_eq!(
        data_of(b"Data: x\nDATA: y\ndata : z\n\n"),
        Vec::<String>::new()
    );
    assert_eq!(
        data_of(b"foo: bar\nda: x\ndataa: x\nretryy: 1\n: c\ndata: ok\n\n"),
        ["ok"]
    );
    // Long unknown names of every length, with and without a colon.
    for len in 0..12 {
        let name = "d".repeat(len);
        let input = format!("{name}: v\n{name}\ndata: ok\n\n");
        assert_eq!(data_of(input.as_bytes()), ["ok"], "{name}");
    }
}

#[test]
fn comments_are_ignored_and_counted() {
    let parsed = parse_every_cut(b": ping\n\n:\ndata: a\n: inside\ndata: b\n\n");
    assert_eq!(parsed.data(), ["a\nb"]);
    assert_eq!(parsed.items.len(), 1);
    assert_eq!(parsed.comment_count, 3);
    let mut parser = Parser::new();
    parser.feed(b": ping\n\n: ping\n\n:\n");
    assert_eq!(parser.comment_count(), 3);
}

// --- Fields ----------------------------------------------------------------------------------

#[test]
fn empty_data_is_an_empty_string_and_no_data_is_no_event() {
    assert_eq!(data_of(b"data:\n\n"), [""]);
    assert_eq!(data_of(b"data: \n\n"), [""]);
    // Fields without data dispatch nothing; the event type does not carry over.
    let events = parse_every_cut(b"event: x\nid: 1\nretry: 5\n\ndata: y\n\n").events();
    assert_eq!(events, [ParsedEvent::new("y").with_last_event_id("1")]);
    assert_eq!(events[0].event_type(), "message");
    assert_eq!(events[0].retry(), None);
    // Blank lines alone dispatch nothing.
    assert_eq!(data_of(b"\n\n\r\n\r\r"), Vec::<String>::new());
}

#[test]
fn event_type_defaults_to_message() {
    let events = parse_every_cut(b"data: a\n\nevent:\ndata: b\n\nevent: up\ndata: c\n\n").events();
    let types: Vec<_> = events.iter().map(ParsedEvent::event_type).collect();
    assert_eq!(types, ["message", "message", "up"]);
    // The last `event` line wins.
    let events = parse_every_cut(b"event: a\nevent: b\ndata\n\n").events();
    assert_eq!(events[0].event_type(), "b");
}

#[test]
fn id_persists_resets_on_empty_and_ignores_nul() {
    let input =
        b"id: 1\ndata: a\n\ndata: b\n\nid: 2\0x\ndata: c\n\nid:\ndata: d\n\nid: 3\ndata: e\n\n";
    let ids: Vec<_> = parse_every_cut(input)
        .events()
        .iter()
        .map(|event| event.last_event_id().to_owned())
        .collect();
    assert_eq!(ids, ["1", "1", "1", "", "3"]);
}

#[test]
fn id_without_data_still_sets_the_last_event_id() {
    let mut parser = Parser::new();
    parser.feed(b"id: 9\n\ndata: x\n\n");
    assert_eq!(parser.last_event_id(), "9");
    assert_eq!(parser.next_event().unwrap().unwrap().last_event_id(), "9");
    // An id of an event that never completed does not count.
    parser.feed(b"id: 10\ndata: y\n");
    assert_eq!(parser.last_event_id(), "9");
}

#[test]
fn retry_counts_only_when_all_ascii_digits() {
    let cases: [(&[u8], Option<u64>); 12] = [
        (b"retry: 1500\n", Some(1500)),
        (b"retry:0\n", Some(0)),
        (b"retry: 007\n", Some(7)),
        (b"retry: \n", None),
        (b"retry\n", None),
        (b"retry: 1.5\n", None),
        (b"retry: -1\n", None),
        (b"retry: +1\n", None),
        (b"retry:  1\n", None),
        (b"retry: 18446744073709551615\n", Some(u64::MAX)),
        (b"retry: 18446744073709551616\n", Some(u64::MAX)),
        // Too many milliseconds for a u64: still all digits, so the longest wait there is.
        (b"retry: 99999999999999999999999\n", Some(u64::MAX)),
    ];
    for (line, expected) in cases {
        let mut input = line.to_vec();
        input.extend_from_slice(b"data: x\n\n");
        let events = parse_every_cut(&input).events();
        assert_eq!(
            events[0].retry(),
            expected.map(Duration::from_millis),
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
    let mut parser = Parser::new();
    parser.feed(b"retry: 300\n\nretry: x\ndata: a\n\n");
    assert_eq!(parser.reconnection_time(), Some(Duration::from_millis(300)));
    assert_eq!(parser.next_event().unwrap().unwrap().retry(), None);
}

#[test]
fn fields_in_any_order_and_many_data_lines() {
    let events =
        parse_every_cut(b"data: 1\nid: i\ndata: 2\nevent: e\nretry: 7\ndata: 3\n\n").events();
    assert_eq!(
        events,
        [ParsedEvent::new("1\n2\n3")
            .with_last_event_id("i")
            .with_event_type("e")
            .with_retry(Duration::from_millis(7))]
    );
}

// --- End of stream ---------------------------------------------------------------------------

#[test]
fn an_unterminated_event_is_discarded_and_reported_truncated() {
    for input in [
        &b"data: x"[..],
        b"data: x\n",
        b"data: x\r",
        b"data: a\n\ndata: x\n",
        b"event: e\n",
        b"id: 5\n",
        b"foo\n",
        b"dat",
        b": partial comm",
    ] {
        let parsed = parse_every_cut(input);
        assert_eq!(parsed.end, Err(ParseError::Truncated), "{input:?}");
        assert!(!parsed.data().contains(&"x"), "{input:?}");
    }
}

#[test]
fn a_clean_end_is_not_truncated() {
    for input in [
        &b""[..],
        b"data: x\n\n",
        b"data: x\r\r",
        b"data: x\r\n\r\n",
        b": ping\n",
        b"data: x\n\n: ping\n",
        b"\n",
        b"\xEF\xBB\xBF",
    ] {
        assert_eq!(parse_every_cut(input).end, Ok(()), "{input:?}");
    }
}

#[test]
fn finish_readies_the_parser_for_a_reconnection() {
    let mut parser = Parser::new();
    parser.feed(b"id: 4\nretry: 50\ndata: a\n\ndata: cut");
    assert_eq!(parser.finish(), Err(ParseError::Truncated));
    assert_eq!(parser.next_event().unwrap().unwrap().data(), "a");
    // The new stream starts afresh (its BOM is stripped) and keeps the id and retry.
    parser.feed(b"\xEF\xBB\xBFdata: b\n\n");
    let event = parser.next_event().unwrap().unwrap();
    assert_eq!((event.data(), event.last_event_id()), ("b", "4"));
    assert_eq!(parser.reconnection_time(), Some(Duration::from_millis(50)));
    assert_eq!(parser.finish(), Ok(()));
}

// --- UTF-8 -----------------------------------------------------------------------------------

#[test]
fn invalid_utf8_becomes_replacement_characters_and_later_events_arrive() {
    let parsed = parse_every_cut(b"data: a\xFFb\xE2\x82\n\ndata: \xF0\x9F\x98\x80 ok\n\n");
    assert_eq!(parsed.data(), ["a\u{FFFD}b\u{FFFD}", "😀 ok"]);
    // A character begun in one piece, continued in the next and then broken off.
    assert_eq!(data_of(b"data: \xE0\xA0\0\n\n"), ["\u{FFFD}\0"]);
    let events = parse_every_cut(b"event: \xC0\ndata\n\n").events();
    assert_eq!(events[0].event_type(), "\u{FFFD}");
}

#[test]
fn a_character_cut_by_a_line_break_is_one_replacement_character() {
    // As `String::from_utf8_lossy` reads the whole stream.
    assert_eq!(data_of(b"data: \xF0\x9F\x98\ndata: x\n\n"), ["\u{FFFD}\nx"]);
}

// --- Limits ----------------------------------------------------------------------------------

#[test]
fn a_long_line_is_an_error_as_soon_as_it_passes_the_limit() {
    let mut parser = Parser::new().with_max_line_len(16);
    parser.feed(b"data: 0123456789");
    assert_eq!(parser.next_event(), Ok(None)); // 16 bytes: at the limit
    parser.feed(b"A");
    // Reported before the line ends: the bytes are not accumulated.
    assert_eq!(
        parser.next_event(),
        Err(ParseError::LineTooLong { limit: 16 })
    );
    // The rest of the event is skipped, the next one arrives.
    parser.feed(&[b'x'; 100_000]);
    parser.feed(b"\ndata: more\n\ndata: next\n\n");
    assert_eq!(parser.next_event(), Ok(Some(ParsedEvent::new("next"))));
    assert_eq!(parser.next_event(), Ok(None));
    assert_eq!(parser.finish(), Ok(()));
}

#[test]
fn the_line_limit_applies_to_every_kept_field() {
    for line in [
        &b"event: 0123456789"[..],
        b"id: 0123456789ab",
        b"retry: 0123456789",
    ] {
        let mut input = line.to_vec();
        input.extend_from_slice(b"\ndata: x\n\ndata: y\n\n");
        let limit = 12;
        let parsed = parse_with(Parser::new().with_max_line_len(limit), &input, &[]);
        assert_eq!(
            parsed.items,
            [
                Err(ParseError::LineTooLong { limit }),
                Ok(ParsedEvent::new("y"))
            ],
            "{:?}",
            String::from_utf8_lossy(line)
        );
    }
}

#[test]
fn a_name_without_colon_counts_against_the_line_limit() {
    let mut parser = Parser::new().with_max_line_len(3);
    parser.feed(b"data\n\nid\n\n");
    assert_eq!(
        parser.next_event(),
        Err(ParseError::LineTooLong { limit: 3 })
    );
    assert_eq!(parser.next_event(), Ok(None));
    assert_eq!(parser.finish(), Ok(()));
}

#[test]
fn a_discarded_event_does_not_set_the_last_event_id() {
    let parsed = parse_with(
        Parser::new().with_max_line_len(10),
        b"id: 1\ndata: a\n\nid: 2\ndata: too long to keep\n\ndata: b\n\n",
        &[],
    );
    let ids: Vec<_> = parsed
        .items
        .iter()
        .filter_map(|item| item.as_ref().ok().map(ParsedEvent::last_event_id))
        .collect();
    assert_eq!(ids, ["1", "1"]);
}

#[test]
fn unknown_fields_and_ignored_comments_are_not_buffered_or_limited() {
    let mut input = b"unknown: ".to_vec();
    input.extend(std::iter::repeat_n(b'x', 1 << 20));
    input.extend_from_slice(b"\n:");
    input.extend(std::iter::repeat_n(b'c', 1 << 20));
    input.extend_from_slice(b"\ndata: ok\n\n");
    let parsed = parse_in_pieces(Parser::new().with_max_line_len(16), &input, 4096);
    assert_eq!(parsed.items, [Ok(ParsedEvent::new("ok"))]);
    // A comment inside an event does not cut it either.
    let parsed = parse_every_cut_with(
        || Parser::new().with_max_line_len(8),
        b"data: a\n: a long comment\ndata: b\n\n",
    );
    assert_eq!(parsed.items, [Ok(ParsedEvent::new("a\nb"))]);
}

#[test]
fn lines_with_an_empty_value_count_against_the_line_limit() {
    for line in [
        &b"data"[..],
        b"data:",
        b"data: ",
        b"data:    ",
        b"id",
        b"id:",
        b"id: ",
        b"event",
        b"event:",
        b"event:   ",
        b"retry",
        b"retry:",
        b"retry: ",
    ] {
        let mut input = line.to_vec();
        input.extend_from_slice(b"\n\n");
        let name = String::from_utf8_lossy(line);
        // At the limit: kept (a data line gives an event of its value, spaces or nothing).
        let limit = line.len();
        let fits = parse_every_cut_with(|| Parser::new().with_max_line_len(limit), &input);
        assert!(fits.items.iter().all(Result::is_ok), "{name:?}");
        assert_eq!(
            fits.items.len(),
            usize::from(line.starts_with(b"data")),
            "{name:?}"
        );
        // One byte less: the whole line counts.
        let limit = limit - 1;
        let over = parse_every_cut_with(|| Parser::new().with_max_line_len(limit), &input);
        assert_eq!(
            over.items,
            [Err(ParseError::LineTooLong { limit })],
            "{name:?}"
        );
    }
}

#[test]
fn which_limit_is_reported_does_not_depend_on_the_cuts() {
    // The second line passes the event limit at its 2nd data byte and the line limit at its
    // 11th: the event limit is passed first, however the input is cut.
    let parsed = parse_every_cut_with(
        || Parser::new().with_max_line_len(16).with_max_event_size(10),
        b"data: 12345678\ndata: abcdefghijklmnop\n\ndata: ok\n\n",
    );
    assert_eq!(
        parsed.items,
        [
            Err(ParseError::EventTooLarge { limit: 10 }),
            Ok(ParsedEvent::new("ok"))
        ]
    );
}

#[test]
fn the_first_limit_passed_is_reported_and_the_line_limit_on_a_tie() {
    let first = |max_line_len, max_event_size, input: &[u8]| {
        let parser = || {
            Parser::new()
                .with_max_line_len(max_line_len)
                .with_max_event_size(max_event_size)
        };
        parse_every_cut_with(parser, input).items[0].clone()
    };
    let line = |limit| Err(ParseError::LineTooLong { limit });
    let event = |limit| Err(ParseError::EventTooLarge { limit });
    // "data: " is 6 bytes: `c` is the 9th byte of the line and the 3rd of the event.
    assert_eq!(first(8, 2, b"data: abc\n\n"), line(8)); // both at `c`
    assert_eq!(first(7, 2, b"data: abc\n\n"), line(7)); // line at `b`
    assert_eq!(first(8, 1, b"data: abc\n\n"), event(1)); // event at `b`
                                                         // The line feed between data lines counts at the colon, the 5th byte of `data:`.
    assert_eq!(first(4, 0, b"data\ndata:\n\n"), line(4)); // both at the colon
    assert_eq!(first(5, 0, b"data\ndata:\n\n"), event(0));
    // Without a colon, at the line break, after any byte of the name.
    assert_eq!(first(3, 0, b"data\n\n"), line(3));
    assert_eq!(first(4, 0, b"data\ndata\n\n"), event(0));
    // The space after the colon is not data.
    assert_eq!(first(5, 0, b"data: \n\n"), line(5));
}

#[test]
fn event_size_counts_data_and_the_breaks_between_lines() {
    // 3 + 1 + 3 = 7 bytes of data.
    let input = b"data: abc\ndata: def\n\n";
    let fits = parse_with(Parser::new().with_max_event_size(7), input, &[]);
    assert_eq!(fits.data(), ["abc\ndef"]);
    let over = parse_with(Parser::new().with_max_event_size(6), input, &[]);
    assert_eq!(over.items, [Err(ParseError::EventTooLarge { limit: 6 })]);
    // An empty data line after a full buffer is one byte too many.
    let over = parse_with(
        Parser::new().with_max_event_size(3),
        b"data: abc\ndata\n\n",
        &[],
    );
    assert_eq!(over.items, [Err(ParseError::EventTooLarge { limit: 3 })]);
}

#[test]
fn the_event_limit_is_enforced_while_bytes_accumulate() {
    let mut parser = Parser::new().with_max_event_size(1000);
    for _ in 0..10 {
        parser.feed(b"data: ");
        parser.feed(&[b'x'; 99]);
        parser.feed(b"\n");
    }
    assert_eq!(parser.next_event(), Ok(None)); // 10 * 99 + 9 = 999 bytes
    parser.feed(b"data: xy");
    assert_eq!(
        parser.next_event(),
        Err(ParseError::EventTooLarge { limit: 1000 })
    );
    parser.feed(b"\n\ndata: small\n\n");
    assert_eq!(parser.next_event(), Ok(Some(ParsedEvent::new("small"))));
}

// --- Scale and totality ----------------------------------------------------------------------

#[test]
fn a_10_mib_event_in_pieces_of_1_byte_to_64_kib() {
    // Linear time: a parser that rescans accumulated bytes takes hours on the 1-byte feed.
    let payload: Vec<u8> = (0..10 << 20).map(|i| b'a' + (i % 26) as u8).collect();
    let mut input = b"data: ".to_vec();
    input.extend_from_slice(&payload);
    input.extend_from_slice(b"\r\n\r\n");
    for size in [1, 7, 4096, 65536] {
        let parsed = parse_in_pieces(Parser::new(), &input, size);
        assert_eq!(parsed.end, Ok(()));
        assert_eq!(parsed.items.len(), 1, "pieces of {size}");
        assert!(parsed.data()[0].as_bytes() == payload, "pieces of {size}");
    }
}

proptest! {
    #[test]
    fn never_panics_and_cuts_do_not_matter(
        input in prop_oneof![
            support::event_stream_bytes(),
            prop::collection::vec(
                prop_oneof![
                    4 => any::<u8>(),
                    1 => prop::sample::select(&b"\r\n: \xEF\xBB\xBFdataeventidretry"[..]),
                ],
                0..300,
            ),
        ],
        cuts in support::cuts(),
        max_line_len in 0usize..64,
        max_event_size in 0usize..64,
    ) {
        let parser = || Parser::new()
            .with_max_line_len(max_line_len)
            .with_max_event_size(max_event_size);
        let whole = parse_with(parser(), &input, &[]);
        let cuts = positions(&cuts, input.len());
        prop_assert_eq!(&parse_with(parser(), &input, &cuts), &whole);
        prop_assert_eq!(&parse_in_pieces(parser(), &input, 1), &whole);
        // Fed without reading, finished, then read: the bytes wait unread, with the same results.
        prop_assert_eq!(&parse_then_drain(parser(), &input, &cuts), &whole);
    }

    #[test]
    fn reading_late_across_reconnections_changes_nothing(
        streams in prop::collection::vec((support::event_stream_bytes(), support::cuts()), 1..4),
        reads in prop::collection::vec(any::<bool>(), 0..32),
        max_line_len in 0usize..64,
        max_event_size in 0usize..64,
    ) {
        // One parser across reconnections, read after every piece; then the same calls with
        // reads skipped at random, so pieces and ends of streams pile up unread.
        let parser = || Parser::new()
            .with_max_line_len(max_line_len)
            .with_max_event_size(max_event_size);
        let run = |read: &dyn Fn(usize) -> bool| {
            let mut parser = parser();
            let mut items = Vec::new();
            let mut ends = Vec::new();
            let mut step = 0;
            for (input, cuts) in &streams {
                for piece in support::pieces(input, &positions(cuts, input.len())) {
                    parser.feed(piece);
                    if read(step) {
                        support::drain(&mut parser, &mut items);
                    }
                    step += 1;
                }
                ends.push(parser.finish());
                if read(step) {
                    support::drain(&mut parser, &mut items);
                }
                step += 1;
            }
            support::drain(&mut parser, &mut items);
            (Parsed::new(&parser, items, Ok(())), ends)
        };
        let always = run(&|_| true);
        let sometimes = run(&|step| reads.get(step).copied().unwrap_or(true));
        prop_assert_eq!(sometimes, always);
    }

    #[test]
    fn data_decodes_like_from_utf8_lossy(
        lines in prop::collection::vec(
            prop::collection::vec(any::<u8>().prop_filter("no break", |b| *b != b'\r' && *b != b'\n'), 0..40),
            1..5,
        ),
        cuts in support::cuts(),
    ) {
        let mut input = Vec::new();
        for line in &lines {
            input.extend_from_slice(b"data: ");
            input.extend_from_slice(line);
            input.push(b'\n');
        }
        input.push(b'\n');
        let parsed = parse(&input, &positions(&cuts, input.len()));
        let expected: Vec<String> = lines.iter().map(|line| String::from_utf8_lossy(line).into_owned()).collect();
        prop_assert_eq!(parsed.data(), [expected.join("\n")]);
        prop_assert_eq!(parsed.end, Ok(()));
    }
}

// --- Linear time under hostile input ---------------------------------------------------------

/// Parses `input` in 4 KiB pieces, taking and dropping events as they come.
fn parse_and_drop(input: &[u8]) {
    let mut parser = Parser::new()
        .with_max_line_len(usize::MAX)
        .with_max_event_size(usize::MAX);
    for piece in input.chunks(4096) {
        parser.feed(piece);
        while let Some(event) = parser.next_event().unwrap() {
            black_box(event);
        }
    }
    parser.finish().unwrap();
}

/// How long `f` takes.
fn time(f: impl FnOnce()) -> Duration {
    let start = Instant::now();
    f();
    start.elapsed()
}

/// The time-ratio tests take turns, so that neither slows the other down.
static TIMING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// How many times longer `input(4)` takes to parse than `input(1)`.
///
/// Each measurement is the fastest of a few, interleaved, so that other work on the machine
/// counts as little as possible; and the small input is parsed 4 times per measurement, so
/// that both measurements last about as long (for a linear parser) and are as exposed to that
/// other work: a short measurement is more often spared by it than a long one.
fn time_ratio_of_4x_input(input: impl Fn(usize) -> Vec<u8>) -> f64 {
    let _turn = TIMING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let (small, large) = (input(1), input(4));
    assert!(large.len() >= 4 * small.len() - 16);
    let (mut small_time, mut large_time) = (Duration::MAX, Duration::MAX);
    for _ in 0..7 {
        small_time = small_time.min(time(|| (0..4).for_each(|_| parse_and_drop(&small))));
        large_time = large_time.min(time(|| parse_and_drop(&large)));
    }
    4.0 * large_time.as_secs_f64() / small_time.as_secs_f64()
}

/// `id: ` and `len` bytes, a line.
fn long_id(len: usize) -> Vec<u8> {
    let mut line = b"id: ".to_vec();
    line.extend(std::iter::repeat_n(b'i', len));
    line.push(b'\n');
    line
}

#[test]
fn a_long_id_then_blank_lines_costs_linear_time() {
    // Each blank line sets the last event id: copying the id for each costs id × lines,
    // 16 times as much for 4 times the input (4 times the id, 4 times the lines). The id
    // stays small enough for the processor's caches, so that only work is measured.
    let ratio = time_ratio_of_4x_input(|scale| {
        let mut input = long_id(scale << 14);
        input.extend(std::iter::repeat_n(b'\n', scale << 17));
        input
    });
    eprintln!("a long id then blank lines: 4x the input took {ratio:.2}x the time");
    assert!(ratio < 8.0, "4x input took {ratio:.1}x the time");
}

#[test]
fn a_long_id_then_many_events_costs_linear_time() {
    // Every event carries the id: copying it into each costs id × events.
    let ratio = time_ratio_of_4x_input(|scale| {
        let mut input = long_id(scale << 14);
        for _ in 0..scale << 15 {
            input.extend_from_slice(b"data: x\n\n");
        }
        input
    });
    eprintln!("a long id then many events: 4x the input took {ratio:.2}x the time");
    assert!(ratio < 8.0, "4x input took {ratio:.1}x the time");
}

// --- The stream adapter ----------------------------------------------------------------------

mod stream_adapter {
    use futures::stream::{self, FusedStream, StreamExt};
    use tokenflush::sse::{EncodeSseExt, KeepAlive, ParseError, ParseSseExt, ParsedEvent, Parser};
    use tokenflush::Chunk;

    fn ok(piece: &'static str) -> Result<&'static [u8], &'static str> {
        Ok(piece.as_bytes())
    }

    #[tokio::test]
    async fn events_in_order_then_a_clean_end() {
        let body = stream::iter([ok("data: a\n"), ok("\ndata: b\r"), ok("\r")]);
        let mut events = Box::pin(body.parse_sse(Parser::new()));
        assert_eq!(events.next().await.unwrap().unwrap(), ParsedEvent::new("a"));
        assert_eq!(events.next().await.unwrap().unwrap(), ParsedEvent::new("b"));
        assert!(!events.is_terminated());
        assert!(events.next().await.is_none());
        assert!(events.is_terminated());
        assert!(events.next().await.is_none());
    }

    #[tokio::test]
    async fn a_body_cut_short_ends_with_truncated() {
        let body = stream::iter([ok("data: a\n\ndata: b\n")]);
        let items: Vec<_> = body.parse_sse(Parser::new()).collect().await;
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].as_ref().unwrap().data(), "a");
        assert!(matches!(items[1], Err(ParseError::Truncated)));
    }

    #[tokio::test]
    async fn upstream_errors_pass_through_and_parsing_goes_on() {
        let body = stream::iter([ok("data: a"), Err("reset"), ok("\n\n")]);
        let items: Vec<_> = body.parse_sse(Parser::new()).collect().await;
        assert!(matches!(items[0], Err(ParseError::Body("reset"))));
        assert_eq!(items[1].as_ref().unwrap().data(), "a");
        assert_eq!(items.len(), 2);
    }

    #[tokio::test]
    async fn limit_errors_come_in_stream_order() {
        let body = stream::iter([ok("data: a\n\ndata: too long\n\ndata: b\n\n")]);
        let items: Vec<_> = body
            .parse_sse(Parser::new().with_max_line_len(7))
            .collect()
            .await;
        assert_eq!(items.len(), 3);
        assert_eq!(items[0].as_ref().unwrap().data(), "a");
        assert!(matches!(
            items[1],
            Err(ParseError::LineTooLong { limit: 7 })
        ));
        assert_eq!(items[2].as_ref().unwrap().data(), "b");
    }

    #[test]
    fn many_empty_pieces_do_not_stall_or_starve() {
        // More pieces than one poll feeds: the adapter yields and is woken again.
        let pieces = std::iter::repeat_n(ok(""), 1000).chain([ok("data: x\n\n")]);
        let events: Vec<_> =
            futures::executor::block_on(stream::iter(pieces).parse_sse(Parser::new()).collect());
        assert_eq!(events.len(), 1);
    }

    #[tokio::test]
    async fn the_parser_counts_heartbeats() {
        let body = stream::iter([ok(": ping\n\n: ping\n\nid: 3\ndata: x\n\n")]);
        let mut events = Box::pin(body.parse_sse(Parser::new()));
        events.next().await;
        assert_eq!(events.parser().comment_count(), 2);
        assert_eq!(events.parser().last_event_id(), "3");
        let (_, parser) = std::pin::Pin::into_inner(events).into_inner();
        assert_eq!(parser.comment_count(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn it_reads_what_the_encoder_writes() {
        let chunks = stream::iter(["a\r\nb", " c", "\r"]).then(|text| async move {
            tokio::time::sleep(std::time::Duration::from_secs(20)).await;
            Chunk::new(text).unwrap()
        });
        let frames = chunks
            .encode_sse()
            .with_keep_alive(KeepAlive::new())
            .map(Ok::<_, std::convert::Infallible>);
        let mut events = Box::pin(frames.parse_sse(Parser::new()));
        let mut data = Vec::new();
        while let Some(event) = events.next().await {
            data.push(event.unwrap().into_data());
        }
        assert_eq!(data, ["a\nb", " c", "\n"]);
        assert_eq!(events.parser().comment_count(), 3);
    }
}
