//! Keep-alive on the SSE encoders, on a paused clock: when comments go out, and when not.

use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, Stream, StreamExt};
use tokenflush::sse::{EncodeSseExt, KeepAlive};
use tokenflush::Chunk;
use tokio::time::Instant;

const PING: &str = ": ping\n\n";

/// Chunks, each after a pause of the given milliseconds (measured from the previous one).
fn paced(script: &[(u64, &'static str)]) -> impl Stream<Item = Chunk> {
    let script = script.to_vec();
    stream::iter(script).then(|(pause, text)| async move {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        Chunk::new(text).unwrap()
    })
}

/// Every frame with the time (ms since the start) it came out.
async fn timeline<S: Stream<Item = Bytes>>(frames: S) -> Vec<(u128, String)> {
    let start = Instant::now();
    frames
        .map(|frame| {
            (
                start.elapsed().as_millis(),
                String::from_utf8(frame.to_vec()).unwrap(),
            )
        })
        .collect()
        .await
}

fn at(ms: u128, frame: &str) -> (u128, String) {
    (ms, frame.to_owned())
}

#[tokio::test(start_paused = true)]
async fn a_comment_goes_out_after_the_interval_without_a_frame() {
    let chunks = paced(&[(5_000, "a"), (20_000, "b"), (40_000, "c")]);
    let frames = timeline(chunks.encode_sse().with_keep_alive(KeepAlive::new())).await;
    assert_eq!(
        frames,
        [
            at(5_000, "data: a\n\n"),
            at(20_000, PING), // 15 s after "a"
            at(25_000, "data: b\n\n"),
            at(40_000, PING),
            at(55_000, PING), // a comment resets the idle time too
            at(65_000, "data: c\n\n"),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn the_idle_time_starts_when_the_stream_is_first_polled() {
    let chunks = paced(&[(16_000, "a")]);
    let frames = timeline(chunks.encode_sse().with_keep_alive(KeepAlive::new())).await;
    assert_eq!(frames, [at(15_000, PING), at(16_000, "data: a\n\n")]);
}

#[tokio::test(start_paused = true)]
async fn every_frame_resets_the_idle_time() {
    let script: Vec<_> = (0..10).map(|_| (14_999, "x")).collect();
    let frames = timeline(
        paced(&script)
            .encode_sse()
            .with_keep_alive(KeepAlive::new()),
    )
    .await;
    assert_eq!(frames.len(), 10);
    assert!(frames.iter().all(|(_, frame)| frame != PING));
}

#[tokio::test(start_paused = true)]
async fn nothing_after_the_stream_ends() {
    let chunks = paced(&[(1_000, "a")]);
    let mut frames = pin!(chunks.encode_sse().with_keep_alive(KeepAlive::new()));
    assert_eq!(frames.next().await.unwrap(), "data: a\n\n");
    assert_eq!(frames.next().await, None);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(frames.next().await, None);
}

#[tokio::test(start_paused = true)]
async fn a_quiet_end_sends_nothing_more() {
    // Upstream ends 40 s after its last chunk: comments until then, none after.
    let chunks = paced(&[(1_000, "a")]).chain(
        stream::once(async {
            tokio::time::sleep(Duration::from_secs(40)).await;
            None
        })
        .filter_map(|none: Option<Chunk>| async move { none }),
    );
    let frames = timeline(chunks.encode_sse().with_keep_alive(KeepAlive::new())).await;
    assert_eq!(
        frames,
        [at(1_000, "data: a\n\n"), at(16_000, PING), at(31_000, PING)]
    );
}

#[tokio::test(start_paused = true)]
async fn nothing_after_an_error() {
    let items = stream::iter([(1_000, Ok("a")), (20_000, Err("boom")), (1, Ok("never"))]).then(
        |(pause, item)| async move {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            item.map(|text| Chunk::new(text).unwrap())
        },
    );
    let start = Instant::now();
    let mut frames = pin!(items.encode_sse().with_keep_alive(KeepAlive::new()));
    assert_eq!(frames.next().await, Some("data: a\n\n".into()));
    assert_eq!(frames.next().await, Some(PING.into()));
    assert_eq!(start.elapsed(), Duration::from_secs(16));
    assert_eq!(
        frames.next().await,
        Some("event: error\ndata: {\"message\":\"boom\"}\n\n".into())
    );
    assert_eq!(start.elapsed(), Duration::from_secs(21));
    assert_eq!(frames.next().await, None);
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(frames.next().await, None);
}

#[tokio::test(start_paused = true)]
async fn an_initial_comment_goes_out_at_once() {
    // Even with a chunk ready, the comment comes first, at time zero.
    let chunks = stream::iter([Chunk::new("ready").unwrap()]);
    let keep_alive = KeepAlive::new().with_initial_comment(true);
    let frames = timeline(chunks.encode_sse().with_keep_alive(keep_alive)).await;
    assert_eq!(frames, [at(0, PING), at(0, "data: ready\n\n")]);

    // And the idle time counts from it.
    let keep_alive = KeepAlive::new().with_initial_comment(true);
    let frames = timeline(
        paced(&[(20_000, "a")])
            .encode_sse()
            .with_keep_alive(keep_alive),
    )
    .await;
    assert_eq!(
        frames,
        [at(0, PING), at(15_000, PING), at(20_000, "data: a\n\n")]
    );
}

#[tokio::test(start_paused = true)]
async fn interval_and_text_are_configurable() {
    let keep_alive = KeepAlive::new()
        .with_interval(Duration::from_millis(250))
        .with_text("still here");
    let frames = timeline(
        paced(&[(600, "a")])
            .encode_sse()
            .with_keep_alive(keep_alive),
    )
    .await;
    assert_eq!(
        frames,
        [
            at(250, ": still here\n\n"),
            at(500, ": still here\n\n"),
            at(600, "data: a\n\n")
        ]
    );
    let keep_alive = KeepAlive::new()
        .with_interval(Duration::from_secs(1))
        .with_text("");
    let frames = timeline(
        paced(&[(1_500, "a")])
            .encode_sse()
            .with_keep_alive(keep_alive),
    )
    .await;
    assert_eq!(frames, [at(1_000, ":\n\n"), at(1_500, "data: a\n\n")]);
}

#[tokio::test(start_paused = true)]
async fn an_interval_too_long_for_the_clock_never_runs_out() {
    let keep_alive = KeepAlive::new().with_interval(Duration::MAX);
    let frames = timeline(
        paced(&[(86_400_000, "a")])
            .encode_sse()
            .with_keep_alive(keep_alive),
    )
    .await;
    assert_eq!(frames, [at(86_400_000, "data: a\n\n")]);
}

#[tokio::test(start_paused = true)]
async fn without_keep_alive_a_quiet_stream_stays_quiet() {
    let frames = timeline(paced(&[(100_000, "a")]).encode_sse()).await;
    assert_eq!(frames, [at(100_000, "data: a\n\n")]);
}

#[test]
fn keep_alive_text_is_validated_like_a_comment() {
    for text in ["a\nb", "\r", "x\r\n"] {
        let caught = std::panic::catch_unwind(|| KeepAlive::new().with_text(text));
        assert!(caught.is_err(), "{text:?} would end the comment");
    }
    // Only CR and LF end a comment line.
    let keep_alive = KeepAlive::new().with_text("a\0\u{2028}b");
    assert_eq!(keep_alive.frame(), ": a\0\u{2028}b\n\n");
}

#[test]
#[should_panic(expected = "must not contain CR or LF")]
fn with_text_panics_on_a_line_break() {
    let _ = KeepAlive::new().with_text("a\nb");
}

#[test]
#[should_panic(expected = "must not be zero")]
fn with_interval_panics_on_zero() {
    let _ = KeepAlive::new().with_interval(Duration::ZERO);
}

#[test]
fn settings_survive_each_other() {
    let keep_alive = KeepAlive::new()
        .with_initial_comment(true)
        .with_text("t")
        .with_interval(Duration::from_secs(3));
    assert!(keep_alive.initial_comment());
    assert_eq!(keep_alive.interval(), Duration::from_secs(3));
    assert_eq!(keep_alive.frame(), ": t\n\n");
    assert_eq!(KeepAlive::default(), KeepAlive::new());
}

#[test]
fn the_adapter_is_built_outside_a_runtime() {
    // No timer exists until the stream first waits.
    let frames = stream::iter([Chunk::new("a").unwrap()])
        .encode_sse()
        .with_keep_alive(KeepAlive::new());
    let collected: Vec<_> = futures::executor::block_on(frames.collect());
    assert_eq!(collected, ["data: a\n\n"]);
}
