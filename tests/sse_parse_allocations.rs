//! The SSE parser's memory bound, measured with a counting allocator: its peak heap stays
//! below `K` × (line limit + event limit + largest piece) whatever the input, as its
//! documentation promises. A counting global allocator needs a test binary of its own.

#[path = "support/sse.rs"]
mod support;

use std::hint::black_box;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use support::{pieces, positions};
use tokenflush::sse::Parser;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// The factor of the bound the parser's documentation states.
const K: usize = 32;

/// dhat counts every thread's allocations, and the test harness's own thread allocates while it
/// waits for a test: this binary has no harness, and runs its checks one after another on the
/// main thread, each measurement under a profiler of its own.
fn main() {
    let checks: [(&str, fn()); 5] = [
        (
            "a_long_id_then_many_events_is_not_copied_into_each",
            a_long_id_then_many_events_is_not_copied_into_each,
        ),
        (
            "a_long_id_then_events_with_data_shares_the_id",
            a_long_id_then_events_with_data_shares_the_id,
        ),
        (
            "a_body_fed_whole_is_read_an_event_at_a_time",
            a_body_fed_whole_is_read_an_event_at_a_time,
        ),
        (
            "every_buffer_full_of_invalid_bytes_stays_within_the_bound",
            every_buffer_full_of_invalid_bytes_stays_within_the_bound,
        ),
        (
            "peak_memory_is_within_k_times_the_limits_and_the_piece",
            peak_memory_is_within_k_times_the_limits_and_the_piece,
        ),
    ];
    for (name, check) in checks {
        check();
        println!("test {name} ... ok");
    }
    println!("{} passed, 0 failed", checks.len());
}

/// What parsing cost: the peak of live heap bytes, and the bytes allocated in all.
struct Cost {
    peak: usize,
    allocated: u64,
    events: usize,
}

/// Feeds `pieces` to `parser`, taking (and dropping) the events each piece completed before
/// the next is fed, as `parse_sse` does; then finishes. Only the parser's own allocations
/// count: the input and the parser were made before the profiler started.
fn parse_measured(mut parser: Parser, pieces: &[&[u8]]) -> Cost {
    let profiler = dhat::Profiler::builder().testing().build();
    let mut events = 0;
    for piece in pieces {
        parser.feed(piece);
        while let Some(event) = parser.next_event().transpose() {
            black_box(event.ok());
            events += 1;
        }
    }
    black_box(parser.finish().ok());
    while let Some(event) = parser.next_event().transpose() {
        black_box(event.ok());
        events += 1;
    }
    drop(parser);
    let stats = dhat::HeapStats::get();
    drop(profiler);
    Cost {
        peak: stats.max_bytes,
        allocated: stats.total_bytes,
        events,
    }
}

/// `K` × (the limits + the largest piece): what the parser may hold at most.
fn bound(max_line_len: usize, max_event_size: usize, pieces: &[&[u8]]) -> usize {
    let largest = pieces.iter().map(|piece| piece.len()).max().unwrap_or(0);
    K * (max_line_len + max_event_size + largest)
}

/// `id: ` and `len` bytes, a line.
fn long_id(len: usize) -> Vec<u8> {
    let mut line = b"id: ".to_vec();
    line.extend(std::iter::repeat_n(b'i', len));
    line.push(b'\n');
    line
}

fn a_long_id_then_many_events_is_not_copied_into_each() {
    // The reported input: one long id, then event after event that carries it. A parser that
    // copies the id into every event holds id × events bytes after one piece (2.05 GB from a
    // 1.06 MB body with 1 MiB limits).
    let (max_line_len, max_event_size) = (64 << 10, 16);
    let mut input = long_id(max_line_len - 4);
    for _ in 0..2000 {
        input.extend_from_slice(b"data:\n\n");
    }
    let whole = [&input[..]];
    let in_pieces: Vec<&[u8]> = input.chunks(4096).collect();
    for pieces in [&whole[..], &in_pieces] {
        let parser = Parser::new()
            .with_max_line_len(max_line_len)
            .with_max_event_size(max_event_size);
        let cost = parse_measured(parser, pieces);
        assert_eq!(cost.events, 2000);
        let bound = bound(max_line_len, max_event_size, pieces);
        assert!(
            cost.peak <= bound,
            "peak {} bytes, bound {bound} (pieces of up to {} bytes)",
            cost.peak,
            pieces[0].len()
        );
        // Counted work: what was allocated at all grows with the input, not with
        // id × events. (A buffer growing by doubling allocates twice its final capacity in
        // all, which can be twice its length; the id is then copied once to be shared.)
        assert!(
            cost.allocated <= 8 * input.len() as u64,
            "{} bytes allocated for {} bytes of input",
            cost.allocated,
            input.len()
        );
    }
}

fn a_long_id_then_events_with_data_shares_the_id() {
    // As above, with data in every event, read in pieces of 1 KiB.
    let (max_line_len, max_event_size) = (64 << 10, 64);
    let mut input = long_id(max_line_len - 4);
    for _ in 0..2000 {
        input.extend_from_slice(b"data: token\n\n");
    }
    let pieces: Vec<&[u8]> = input.chunks(1024).collect();
    let parser = Parser::new()
        .with_max_line_len(max_line_len)
        .with_max_event_size(max_event_size);
    let cost = parse_measured(parser, &pieces);
    assert_eq!(cost.events, 2000);
    let bound = bound(max_line_len, max_event_size, &pieces);
    assert!(
        cost.peak <= bound,
        "peak {} bytes, bound {bound}",
        cost.peak
    );
    assert!(cost.allocated <= 8 * input.len() as u64);
}

fn a_body_fed_whole_is_read_an_event_at_a_time() {
    // Many small events in one large piece: the parser keeps the piece's unread bytes, not a
    // queue of every event in it.
    let mut input = Vec::new();
    for index in 0..20_000 {
        input.extend_from_slice(format!("event: e\nid: {index}\ndata: {index}\n\n").as_bytes());
    }
    let (max_line_len, max_event_size) = (64, 64);
    let parser = Parser::new()
        .with_max_line_len(max_line_len)
        .with_max_event_size(max_event_size);
    let cost = parse_measured(parser, &[&input]);
    assert_eq!(cost.events, 20_000);
    // The bound allows 32 × the piece; holding it once, plus an event, is far below.
    assert!(
        cost.peak <= 2 * input.len(),
        "peak {} bytes for a piece of {}",
        cost.peak,
        input.len()
    );
}

fn every_buffer_full_of_invalid_bytes_stays_within_the_bound() {
    // Every kept line at the line limit, all of it invalid UTF-8 (each byte decodes to a
    // 3-byte U+FFFD): the event type, two ids (the shared one and the next), the data, and a
    // retry being read, fed whole and in small pieces.
    let line = |name: &[u8], byte: u8, len: usize| {
        let mut line = name.to_vec();
        line.extend(std::iter::repeat_n(byte, len - name.len()));
        line
    };
    for (max_line_len, max_event_size) in [(64, 64), (1000, 1000), (4096, 100)] {
        let data_len = max_event_size.min(max_line_len - 5) + 5;
        let input = [
            line(b"event:", 0xFF, max_line_len),
            line(b"id:", 0xFF, max_line_len),
            line(b"data:", 0xFF, data_len),
            Vec::new(),
            line(b"event:", 0xFF, max_line_len),
            line(b"id:", 0xFE, max_line_len),
            line(b"retry:", 0xFE, max_line_len),
        ]
        .join(&b"\n"[..]);
        for size in [1, 7, 64, input.len()] {
            let pieces: Vec<&[u8]> = input.chunks(size).collect();
            let parser = Parser::new()
                .with_max_line_len(max_line_len)
                .with_max_event_size(max_event_size);
            let cost = parse_measured(parser, &pieces);
            assert_eq!(cost.events, 1);
            let bound = bound(max_line_len, max_event_size, &pieces);
            assert!(
                cost.peak <= bound,
                "peak {} bytes, bound {bound} (limits {max_line_len} and {max_event_size}, pieces of {size})",
                cost.peak
            );
        }
    }
}

fn peak_memory_is_within_k_times_the_limits_and_the_piece() {
    let config = ProptestConfig {
        // A profiler per case is slow; CI raises PROPTEST_CASES.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|cases| cases.parse().ok())
            .unwrap_or(64),
        // Beside this file, as for the tests that run under the harness.
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(
            "tests/sse_parse_allocations.proptest-regressions",
        ))),
        ..ProptestConfig::default()
    };
    proptest!(config, |(
        head in support::event_stream_bytes(),
        id_len in 0usize..2048,
        body in support::event_stream_bytes(),
        repeat in 1usize..256,
        cuts in support::cuts(),
        max_line_len in prop_oneof![0usize..64, 0usize..4096],
        max_event_size in 0usize..64,
    )| {
        // Anything, then an id that may be long, then a stretch that ends with an event,
        // repeated many times: long streams of events under one id among them.
        let body = [body, b"\n\ndata:\n\n".to_vec()].concat();
        let input = [head, long_id(id_len), body.repeat(repeat)].concat();
        let pieces = pieces(&input, &positions(&cuts, input.len()));
        let parser = Parser::new()
            .with_max_line_len(max_line_len)
            .with_max_event_size(max_event_size);
        let cost = parse_measured(parser, &pieces);
        let bound = bound(max_line_len, max_event_size, &pieces);
        prop_assert!(cost.peak <= bound, "peak {} bytes, bound {}", cost.peak, bound);
    });
}
