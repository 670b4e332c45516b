//! Server-Sent Events: encoding short events against axum's `Sse` body, and parsing against
//! eventsource-stream. Peers run in the same group, so ratios come from one run.
//!
//! - `sse/encode_short_event`: a stream of chunks of 1–4 tokens (5–30 bytes) framed as
//!   `data:` events and read frame by frame. Per event: ours (`encode_sse`), axum's `Sse`
//!   response body, hand-written framing (one `BytesMut` per event, no line-break handling)
//!   as the floor, and our `Event` builder. The chunks are borrowed, so no peer pays for
//!   allocating or freeing the text; `sse/encode_short_event_owned` repeats the first three
//!   with owned chunks freed after framing, as in a server.
//! - `sse/parse_1k_events`: MB/s on 1 KiB events fed in 1-byte and 4 KiB pieces.
//! - `sse/parse_large_event`: one event of 1, 4 and 16 MiB in 4 KiB pieces; linear time
//!   shows as a time ratio of about 4 from one size to the next.

use std::convert::Infallible;
use std::hint::black_box;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use axum::body::HttpBody;
use axum::response::sse::{Event as AxumEvent, Sse};
use axum::response::IntoResponse;
use bytes::{BufMut, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use eventsource_stream::Eventsource;
use futures::stream::{self, Stream, StreamExt};
use tokenflush::sse::{EncodeSseExt, Parser};
use tokenflush::Chunk;

/// Events per measured batch.
const EVENTS: usize = 1000;

/// Chunks of 1 to 4 tokens, as a flush policy emits them for a reader.
fn short_chunks() -> Vec<Chunk> {
    const TOKENS: [&str; 8] = [
        " the", " model", " says", ",", " hello", " world", ".", " é",
    ];
    (0..EVENTS)
        .map(|i| {
            let count = i % 4 + 1;
            let text: String = (0..count)
                .map(|j| TOKENS[(i * 3 + j) % TOKENS.len()])
                .collect();
            Chunk::new(text).unwrap().with_token_count(count)
        })
        .collect()
}

/// Polls a stream that is always ready to its end, handing every item to `black_box`.
fn drain<S: Stream + Unpin>(mut stream: S) {
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match Pin::new(&mut stream).poll_next(&mut cx) {
            Poll::Ready(Some(item)) => {
                black_box(item);
            }
            Poll::Ready(None) => return,
            Poll::Pending => unreachable!("the benchmark streams are always ready"),
        }
    }
}

/// Reads axum's `Sse` response body for `events` frame by frame.
fn drain_axum<S>(events: S)
where
    S: Stream<Item = Result<AxumEvent, Infallible>> + Send + 'static,
{
    let mut body = Sse::new(events).into_response().into_body();
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(Some(frame)) => {
                black_box(frame.unwrap());
            }
            Poll::Ready(None) => return,
            Poll::Pending => unreachable!("the benchmark streams are always ready"),
        }
    }
}

/// Hand-written framing: one exact-size buffer per event, no line-break handling.
fn handwritten(text: &str) -> bytes::Bytes {
    let mut frame = BytesMut::with_capacity(text.len() + 8);
    frame.put_slice(b"data: ");
    frame.put_slice(text.as_bytes());
    frame.put_slice(b"\n\n");
    frame.freeze()
}

fn encode_short_event(c: &mut Criterion) {
    // The chunks are borrowed, so every peer frames the same text and none pays for
    // allocating or freeing it: the time is framing and reading the body.
    let chunks: &'static [Chunk] = Vec::leak(short_chunks());
    let mut group = c.benchmark_group("sse/encode_short_event");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("tokenflush_encode_sse", |b| {
        b.iter(|| drain(stream::iter(chunks).encode_sse()));
    });
    group.bench_function("axum_sse_body", |b| {
        b.iter(|| {
            drain_axum(
                stream::iter(chunks).map(|chunk| Ok(AxumEvent::default().data(chunk.as_str()))),
            );
        });
    });
    group.bench_function("handwritten_bytes_floor", |b| {
        b.iter(|| drain(stream::iter(chunks).map(|chunk| handwritten(chunk.as_str()))));
    });
    group.bench_function("tokenflush_event_to_bytes", |b| {
        b.iter(|| {
            drain(stream::iter(chunks).map(|chunk| {
                tokenflush::sse::Event::default()
                    .data(chunk.as_str())
                    .to_bytes()
            }));
        });
    });
    group.finish();

    // As in a server: each chunk is owned, and freed once framed.
    let chunks = short_chunks();
    let mut group = c.benchmark_group("sse/encode_short_event_owned");
    group.throughput(Throughput::Elements(EVENTS as u64));
    group.bench_function("tokenflush_encode_sse", |b| {
        b.iter_batched(
            || stream::iter(chunks.clone()),
            |chunks| drain(chunks.encode_sse()),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("axum_sse_body", |b| {
        b.iter_batched(
            || stream::iter(chunks.clone()),
            |chunks| drain_axum(chunks.map(|chunk| Ok(AxumEvent::default().data(chunk.as_str())))),
            BatchSize::SmallInput,
        );
    });
    group.bench_function("handwritten_bytes_floor", |b| {
        b.iter_batched(
            || stream::iter(chunks.clone()),
            |chunks| drain(chunks.map(|chunk| handwritten(chunk.as_str()))),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

/// `count` events of `size` bytes of data each (ASCII with some multi-byte text).
fn event_stream(count: usize, size: usize) -> Vec<u8> {
    let line: String = "Streaming tokens to people, without lag — é😀 "
        .chars()
        .cycle()
        .scan(0, |len, c| {
            *len += c.len_utf8();
            (*len <= size).then_some(c)
        })
        .collect();
    let mut input = Vec::with_capacity(count * (size + 10));
    for _ in 0..count {
        input.extend_from_slice(b"data: ");
        input.extend_from_slice(line.as_bytes());
        input.extend_from_slice(b"\n\n");
    }
    input
}

fn parse_ours(input: &[u8], piece: usize) -> usize {
    // No limits: the 16 MiB event is one line longer than the default line limit.
    let mut parser = Parser::new()
        .with_max_line_len(usize::MAX)
        .with_max_event_size(usize::MAX);
    let mut events = 0;
    for piece in input.chunks(piece) {
        parser.feed(piece);
        while let Some(event) = parser.next_event().unwrap() {
            black_box(&event);
            events += 1;
        }
    }
    parser.finish().unwrap();
    events
}

fn parse_eventsource_stream(input: &[u8], piece: usize) -> usize {
    let pieces = input.chunks(piece).map(Ok::<_, Infallible>);
    let mut events = 0;
    let mut stream = stream::iter(pieces).eventsource();
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        match Pin::new(&mut stream).poll_next(&mut cx) {
            Poll::Ready(Some(event)) => {
                black_box(event.unwrap());
                events += 1;
            }
            Poll::Ready(None) => return events,
            Poll::Pending => unreachable!("the benchmark streams are always ready"),
        }
    }
}

fn parse_1k_events(c: &mut Criterion) {
    let input = event_stream(256, 1024);
    let mut group = c.benchmark_group("sse/parse_1k_events");
    group.throughput(Throughput::Bytes(input.len() as u64));
    for piece in [1, 4096] {
        group.bench_with_input(
            BenchmarkId::new("tokenflush", piece),
            &piece,
            |b, &piece| {
                b.iter(|| assert_eq!(parse_ours(&input, piece), 256));
            },
        );
        group.bench_with_input(
            BenchmarkId::new("eventsource_stream", piece),
            &piece,
            |b, &piece| b.iter(|| assert_eq!(parse_eventsource_stream(&input, piece), 256)),
        );
    }
    group.finish();
}

fn parse_large_event(c: &mut Criterion) {
    let mut group = c.benchmark_group("sse/parse_large_event");
    group.sample_size(10);
    for mib in [1, 4, 16] {
        let input = event_stream(1, mib << 20);
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_with_input(
            BenchmarkId::new("tokenflush", format!("{mib}MiB")),
            &input,
            |b, input| {
                b.iter(|| assert_eq!(parse_ours(input, 4096), 1));
            },
        );
        // Quadratic: 16 MiB would take about 40 s an iteration.
        if mib <= 4 {
            group.bench_with_input(
                BenchmarkId::new("eventsource_stream", format!("{mib}MiB")),
                &input,
                |b, input| b.iter(|| assert_eq!(parse_eventsource_stream(input, 4096), 1)),
            );
        }
    }
    group.finish();
}

criterion_group!(
    benches,
    encode_short_event,
    parse_1k_events,
    parse_large_event
);
criterion_main!(benches);
