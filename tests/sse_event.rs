//! `sse::Event`: golden wire bytes for every encoder case, and the errors for fields that
//! cannot be framed.

use std::time::Duration;

use bytes::BytesMut;
use tokenflush::sse::{Event, EventError};
use tokenflush::Chunk;

fn wire(event: &Event) -> String {
    let bytes = event.to_bytes().expect("a valid event");
    String::from_utf8(bytes.to_vec()).expect("frames are UTF-8")
}

#[test]
fn data_only() {
    assert_eq!(wire(&Event::default().data("Hello")), "data: Hello\n\n");
}

#[test]
fn data_splits_at_every_line_break_and_crlf_counts_once() {
    let cases = [
        ("a\nb", "data: a\ndata: b\n\n"),
        ("a\rb", "data: a\ndata: b\n\n"),
        ("a\r\nb", "data: a\ndata: b\n\n"),
        ("a\n\rb", "data: a\ndata:\ndata: b\n\n"),
        ("a\r\rb", "data: a\ndata:\ndata: b\n\n"),
        ("a\r\r\nb", "data: a\ndata:\ndata: b\n\n"),
        ("a\n\nb", "data: a\ndata:\ndata: b\n\n"),
        ("\n", "data:\ndata:\n\n"),
        ("\r\n", "data:\ndata:\n\n"),
        ("\r", "data:\ndata:\n\n"),
        ("a\n", "data: a\ndata:\n\n"),
        ("\na", "data:\ndata: a\n\n"),
        ("x\r\n\r\ny", "data: x\ndata:\ndata: y\n\n"),
    ];
    for (data, expected) in cases {
        assert_eq!(wire(&Event::default().data(data)), expected, "{data:?}");
    }
}

#[test]
fn leading_spaces_survive() {
    assert_eq!(wire(&Event::default().data(" x")), "data:  x\n\n");
    assert_eq!(
        wire(&Event::default().data("  a\n b")),
        "data:   a\ndata:  b\n\n"
    );
    assert_eq!(wire(&Event::default().data(" ")), "data:  \n\n");
}

#[test]
fn empty_data_is_one_empty_data_line() {
    assert_eq!(wire(&Event::default().data("")), "data:\n\n");
    assert_eq!(wire(&Event::default().data(String::new())), "data:\n\n");
}

#[test]
fn other_separators_are_not_line_breaks() {
    for data in [
        "a\u{2028}b",
        "a\u{2029}b",
        "a\u{85}b",
        "a\0b",
        "a\u{b}b",
        "a\u{c}b",
    ] {
        assert_eq!(
            wire(&Event::default().data(data)),
            format!("data: {data}\n\n"),
            "{data:?}"
        );
    }
}

#[test]
fn all_fields_in_a_fixed_order() {
    let event = Event::default()
        .data("d")
        .retry(Duration::from_millis(1500))
        .id("i")
        .event("e")
        .comment("c");
    assert_eq!(
        wire(&event),
        ": c\nevent: e\nid: i\nretry: 1500\ndata: d\n\n"
    );
}

#[test]
fn empty_values_are_written_without_a_trailing_space() {
    assert_eq!(wire(&Event::default().event("")), "event:\n\n");
    assert_eq!(wire(&Event::default().id("")), "id:\n\n");
    assert_eq!(wire(&Event::default().comment("")), ":\n\n");
}

#[test]
fn retry_is_whole_milliseconds() {
    let cases = [
        (Duration::ZERO, "retry: 0\n\n"),
        (Duration::from_micros(999), "retry: 0\n\n"),
        (Duration::from_millis(1), "retry: 1\n\n"),
        (Duration::from_secs(3), "retry: 3000\n\n"),
        (Duration::new(1, 999_999_999), "retry: 1999\n\n"),
        // Clamped to u64::MAX milliseconds, the most a client can hold.
        (
            Duration::from_millis(u64::MAX),
            "retry: 18446744073709551615\n\n",
        ),
        (
            Duration::from_millis(u64::MAX) + Duration::from_millis(1),
            "retry: 18446744073709551615\n\n",
        ),
        (Duration::MAX, "retry: 18446744073709551615\n\n"),
    ];
    for (retry, expected) in cases {
        assert_eq!(wire(&Event::default().retry(retry)), expected, "{retry:?}");
    }
}

#[test]
fn several_comments_are_several_lines() {
    let event = Event::default()
        .comment("first")
        .comment(" second")
        .data("x");
    assert_eq!(wire(&event), ": first\n:  second\ndata: x\n\n");
}

#[test]
fn a_field_set_twice_keeps_its_last_value() {
    let event = Event::default()
        .event("a")
        .event("b")
        .id("1")
        .id("2")
        .data("x")
        .data("y");
    assert_eq!(wire(&event), "event: b\nid: 2\ndata: y\n\n");
    // An invalid value replaced by a valid one is fine.
    assert_eq!(wire(&Event::default().id("a\nb").id("c")), "id: c\n\n");
}

#[test]
fn an_empty_event_is_a_blank_line() {
    assert_eq!(wire(&Event::default()), "\n");
}

#[test]
fn event_type_with_a_line_break_is_an_error() {
    for event_type in ["a\nb", "a\rb", "a\r\nb", "\n", "x\ndata: forged"] {
        let event = Event::default().event(event_type).data("ok");
        assert_eq!(
            event.to_bytes(),
            Err(EventError::LineBreakInEventType),
            "{event_type:?}"
        );
    }
    // NUL and other separators are fine in an event type.
    assert_eq!(
        wire(&Event::default().event("a\0\u{2028}b")),
        "event: a\0\u{2028}b\n\n"
    );
}

#[test]
fn id_with_a_line_break_or_nul_is_an_error() {
    for (id, error) in [
        ("1\n2", EventError::LineBreakInId),
        ("1\r", EventError::LineBreakInId),
        ("\r\n", EventError::LineBreakInId),
        ("1\x002", EventError::NulInId),
        ("\0", EventError::NulInId),
    ] {
        assert_eq!(Event::default().id(id).to_bytes(), Err(error), "{id:?}");
    }
}

#[test]
fn comment_with_a_line_break_is_an_error() {
    for comment in ["a\nb", "a\r", "\r\n"] {
        let event = Event::default().comment("fine").comment(comment);
        assert_eq!(
            event.to_bytes(),
            Err(EventError::LineBreakInComment),
            "{comment:?}"
        );
    }
}

#[test]
fn error_messages_are_lowercase() {
    let errors = [
        EventError::LineBreakInEventType,
        EventError::LineBreakInId,
        EventError::NulInId,
        EventError::LineBreakInComment,
    ];
    let messages: Vec<_> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        messages,
        [
            "event type contains a line break",
            "event id contains a line break",
            "event id contains a nul character",
            "comment contains a line break",
        ]
    );
}

#[test]
fn write_to_appends_and_leaves_the_buffer_alone_on_error() {
    let mut out = BytesMut::from(&b"prefix|"[..]);
    Event::default()
        .id("1")
        .data("a\nb")
        .write_to(&mut out)
        .unwrap();
    assert_eq!(out, "prefix|id: 1\ndata: a\ndata: b\n\n");
    let before = out.clone();
    assert_eq!(
        Event::default().data("fine").id("\0").write_to(&mut out),
        Err(EventError::NulInId)
    );
    assert_eq!(out, before);
}

#[test]
fn to_bytes_allocates_the_exact_size() {
    let event = Event::default().event("e").data("a\r\nb\rc\n");
    let mut exact = BytesMut::new();
    event.write_to(&mut exact).unwrap();
    assert_eq!(exact.capacity(), exact.len());
    assert_eq!(event.to_bytes().unwrap(), exact);
}

#[test]
fn a_chunk_becomes_a_data_event() {
    let chunk = Chunk::new("two\nlines").unwrap();
    assert_eq!(wire(&Event::from(chunk)), "data: two\ndata: lines\n\n");
}

#[cfg(feature = "serde")]
#[test]
fn json_data_is_one_line() {
    let value = serde_json::json!({ "text": "a\nb\r\nc", "n": 1 });
    let event = Event::default().event("delta").json_data(&value).unwrap();
    assert_eq!(
        wire(&event),
        "event: delta\ndata: {\"n\":1,\"text\":\"a\\nb\\r\\nc\"}\n\n"
    );
    let mut map = std::collections::BTreeMap::new();
    map.insert(vec![1], 2);
    assert!(Event::default().json_data(&map).is_err());
}
