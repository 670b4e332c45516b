//! The encoder against parsers: ours (cut at arbitrary points) and an independent one
//! (eventsource-stream). Whatever the model writes, a client receives exactly that text.

#[path = "support/sse.rs"]
mod support;

use std::time::Duration;

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures::StreamExt;
use proptest::prelude::*;
use support::{hostile_text, normalize_breaks, parse, positions, single_line_text};
use tokenflush::sse::{EncodeSseExt, Event, EventError, ParsedEvent, TextEvents};
use tokenflush::Chunk;

/// Everything that can be set on an event.
#[derive(Clone, Debug)]
struct Fields {
    comments: Vec<String>,
    event_type: Option<String>,
    id: Option<String>,
    retry: Option<Duration>,
    data: String,
}

fn fields() -> impl Strategy<Value = Fields> {
    (
        prop::collection::vec(single_line_text(), 0..3),
        prop::option::of(single_line_text()),
        prop::option::of(single_line_text().prop_map(|id| id.replace('\0', ""))),
        prop::option::of(prop_oneof![
            any::<u64>().prop_map(Duration::from_millis),
            (any::<u64>(), 0..1_000_000_000u32)
                .prop_map(|(secs, nanos)| Duration::new(secs, nanos)),
            Just(Duration::MAX),
        ]),
        hostile_text(),
    )
        .prop_map(|(comments, event_type, id, retry, data)| Fields {
            comments,
            event_type,
            id,
            retry,
            data,
        })
}

fn build(fields: &Fields) -> Event {
    let mut event = Event::default();
    for comment in &fields.comments {
        event = event.comment(comment.as_str());
    }
    if let Some(event_type) = &fields.event_type {
        event = event.event(event_type.as_str());
    }
    if let Some(id) = &fields.id {
        event = event.id(id.as_str());
    }
    if let Some(retry) = fields.retry {
        event = event.retry(retry);
    }
    event.data(fields.data.as_str())
}

fn expected(fields: &Fields) -> ParsedEvent {
    let mut event = ParsedEvent::new(normalize_breaks(&fields.data))
        .with_event_type(fields.event_type.clone().unwrap_or_default())
        .with_last_event_id(fields.id.clone().unwrap_or_default());
    if let Some(retry) = fields.retry {
        // Whole milliseconds, at most u64::MAX of them: the encoder never writes a value a
        // client cannot hold.
        let millis = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
        event = event.with_retry(Duration::from_millis(millis));
    }
    event
}

/// Reads `pieces` with eventsource-stream: (event type, data, id, retry) per event.
fn read_independently(pieces: Vec<Bytes>) -> Vec<(String, String, String, Option<Duration>)> {
    let body = futures::stream::iter(pieces.into_iter().map(Ok::<_, std::convert::Infallible>));
    futures::executor::block_on(
        body.eventsource()
            .map(|event| {
                let event = event.expect("eventsource-stream reads our frames");
                (event.event, event.data, event.id, event.retry)
            })
            .collect(),
    )
}

/// `bytes` cut at `cuts`.
fn pieces(bytes: &[u8], cuts: &[usize]) -> Vec<Bytes> {
    let mut cuts = cuts.to_vec();
    cuts.extend([0, bytes.len()]);
    cuts.sort_unstable();
    cuts.dedup();
    cuts.windows(2)
        .map(|piece| Bytes::copy_from_slice(&bytes[piece[0]..piece[1]]))
        .collect()
}

proptest! {
    #[test]
    fn an_event_comes_back_with_its_breaks_as_lf(fields in fields(), cuts in support::cuts()) {
        let frame = build(&fields).to_bytes().unwrap();
        let parsed = parse(&frame, &positions(&cuts, frame.len()));
        prop_assert_eq!(parsed.end, Ok(()));
        prop_assert_eq!(parsed.events(), [expected(&fields)]);
    }

    #[test]
    fn eventsource_stream_reads_the_same_event(fields in fields(), cuts in support::cuts()) {
        let frame = build(&fields).to_bytes().unwrap();
        let read = read_independently(pieces(&frame, &positions(&cuts, frame.len())));
        let expected = expected(&fields);
        prop_assert_eq!(
            read,
            [(
                expected.event_type().to_owned(),
                expected.data().to_owned(),
                expected.last_event_id().to_owned(),
                expected.retry(),
            )]
        );
    }

    #[test]
    fn unframeable_fields_are_errors_never_panics(
        event_type in hostile_text(),
        id in hostile_text(),
        comment in hostile_text(),
        data in hostile_text(),
    ) {
        let event = Event::default().comment(comment.as_str()).event(event_type.as_str()).id(id.as_str()).data(data);
        let breaks = |text: &str| text.contains(['\r', '\n']);
        let expected_error = if breaks(&comment) {
            Some(EventError::LineBreakInComment)
        } else if breaks(&event_type) {
            Some(EventError::LineBreakInEventType)
        } else if breaks(&id) {
            Some(EventError::LineBreakInId)
        } else if id.contains('\0') {
            Some(EventError::NulInId)
        } else {
            None
        };
        prop_assert_eq!(event.to_bytes().err(), expected_error);
    }

    /// Injection: any model output used as data yields exactly one event carrying exactly
    /// that text, through the stream adapter, however the body is cut.
    #[test]
    fn model_output_is_exactly_one_event_per_chunk(
        texts in prop::collection::vec(hostile_text().prop_filter("chunks are never empty", |t| !t.is_empty()), 1..8),
        cuts in support::cuts(),
    ) {
        let chunks: Vec<_> = texts.iter().map(|text| Chunk::new(text.as_str()).unwrap()).collect();
        let frames: Vec<Bytes> = futures::executor::block_on(
            futures::stream::iter(chunks).encode_sse_as(TextEvents::new().with_event_ids(1)).collect(),
        );
        prop_assert_eq!(frames.len(), texts.len());
        let body: Vec<u8> = frames.concat();
        let cut_at = positions(&cuts, body.len());

        let parsed = parse(&body, &cut_at);
        prop_assert_eq!(parsed.end, Ok(()));
        let events = parsed.events();
        prop_assert_eq!(events.len(), texts.len());
        for (index, (event, text)) in events.iter().zip(&texts).enumerate() {
            prop_assert_eq!(event.event_type(), "message");
            prop_assert_eq!(event.data(), normalize_breaks(text));
            prop_assert_eq!(event.last_event_id(), (index + 1).to_string());
        }

        let read = read_independently(pieces(&body, &cut_at));
        let theirs: Vec<_> = read.iter().map(|(_, data, id, _)| (data.clone(), id.clone())).collect();
        let ours: Vec<_> = events.iter().map(|event| (event.data().to_owned(), event.last_event_id().to_owned())).collect();
        prop_assert_eq!(theirs, ours);
    }
}

#[test]
fn the_forgery_attempts_of_other_encoders_fail_here() {
    // Each of these breaks a framing some encoder gets wrong: CRLF as two breaks, a lone CR
    // passed through, leading spaces dropped, empty data dropped.
    let attempts = [
        "ok\revent: admin\rdata: forged\r\r",
        "line\r\nnext",
        "  indented",
        "",
        "\r",
        "id: 0\n\ndata: second event",
    ];
    for attempt in attempts {
        let frame = Event::default().data(attempt).to_bytes().unwrap();
        let parsed = parse(&frame, &[]);
        assert_eq!(
            parsed.events(),
            [ParsedEvent::new(normalize_breaks(attempt))],
            "{attempt:?}"
        );
        let read = read_independently(vec![frame]);
        assert_eq!(read.len(), 1, "{attempt:?}");
        assert_eq!(read[0].1, normalize_breaks(attempt), "{attempt:?}");
    }
}
