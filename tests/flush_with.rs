//! The flush adapter's behaviour under each built-in policy, on a paused clock.

mod support;

use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{self, Stream, StreamExt};
use support::{collect_timed, ms, tok, CountingWaker, Scripted, Step};
use tokenflush::policy::{
    BufferState, Coalesce, Decision, FixedBatch, FlushPolicy, Immediate, TimeBounded,
};
use tokenflush::{Chunk, FlushExt, FlushReason, TryFlushExt};
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);

/// (arrival time in ms, text, reason, held_for in ms) for each chunk.
fn timeline(chunks: &[(Duration, Chunk)]) -> Vec<(u128, String, FlushReason, u128)> {
    chunks
        .iter()
        .map(|(at, chunk)| {
            (
                at.as_millis(),
                chunk.as_str().to_owned(),
                chunk.reason(),
                chunk.held_for().as_millis(),
            )
        })
        .collect()
}

fn row(at: u128, text: &str, reason: FlushReason, held: u128) -> (u128, String, FlushReason, u128) {
    (at, text.to_owned(), reason, held)
}

#[tokio::test(start_paused = true)]
async fn immediate_yields_each_token_when_pulled() {
    let upstream = Scripted::new([tok("a"), ms(30), tok("b"), ms(10), tok("c")]).bytes();
    let chunks = collect_timed(upstream.flush_with(Immediate::new()), Instant::now()).await;
    assert_eq!(
        timeline(&chunks),
        [
            row(0, "a", FlushReason::Size, 0),
            row(30, "b", FlushReason::Size, 0),
            row(40, "c", FlushReason::Size, 0),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn immediate_holds_a_split_character_until_it_is_whole() {
    let upstream = stream::iter([vec![b'a', 0xF0], vec![0x9F], vec![0x98, 0x80, b'b']]);
    let chunks: Vec<Chunk> = upstream.flush_with(Immediate::new()).collect().await;
    let texts: Vec<_> = chunks.iter().map(Chunk::as_str).collect();
    assert_eq!(texts, ["a", "😀b"]);
    assert_eq!(
        chunks[1].token_count(),
        2,
        "the token with only half a character counts in the next chunk"
    );
}

#[tokio::test(start_paused = true)]
async fn fixed_batch_holds_exactly_n_tokens_then_the_remainder() {
    let tokens: Vec<String> = (0..11).map(|i| format!("t{i} ")).collect();
    let chunks: Vec<Chunk> = stream::iter(tokens.clone())
        .flush_with(FixedBatch::new(4))
        .collect()
        .await;
    let shape: Vec<_> = chunks
        .iter()
        .map(|c| (c.token_count(), c.reason()))
        .collect();
    assert_eq!(
        shape,
        [
            (4, FlushReason::Size),
            (4, FlushReason::Size),
            (3, FlushReason::End)
        ]
    );
    assert_eq!(chunks[0].as_str(), "t0 t1 t2 t3 ");
}

#[tokio::test(start_paused = true)]
async fn the_byte_cap_holds_text_up_to_the_cap_itself() {
    let chunks: Vec<(String, FlushReason)> = stream::iter(["ab", "cd", "e"])
        .flush_with(FixedBatch::new(100))
        .with_max_buffered(4)
        .map(|chunk| (chunk.as_str().to_owned(), chunk.reason()))
        .collect()
        .await;
    // "abcd" is exactly the cap and stays; "e" would pass it, so "abcd" goes out first.
    assert_eq!(
        chunks,
        [
            ("abcd".to_owned(), FlushReason::Bytes),
            ("e".to_owned(), FlushReason::End)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn fixed_batch_waits_as_long_as_upstream_does() {
    let upstream = Scripted::new([tok("a"), ms(500), tok("b"), ms(700), tok("c")]).bytes();
    let chunks = collect_timed(upstream.flush_with(FixedBatch::new(2)), Instant::now()).await;
    assert_eq!(
        timeline(&chunks),
        [
            row(500, "ab", FlushReason::Size, 500),
            row(1200, "c", FlushReason::End, 0),
        ]
    );
}

#[test]
#[should_panic(expected = "FixedBatch::new: max_tokens must be at least 1, got 0")]
fn fixed_batch_of_zero_panics_clearly() {
    let _ = FixedBatch::new(0);
}

#[test]
#[should_panic(expected = "Coalesce::new: max_tokens must be at least 1, got 0")]
fn coalesce_of_zero_panics_clearly() {
    let _ = Coalesce::new(0);
}

#[tokio::test(start_paused = true)]
async fn coalesce_sends_each_burst_at_once_as_one_chunk() {
    let upstream = Scripted::new([
        tok("a"),
        tok("b"),
        tok("c"),
        ms(40),
        tok("d"),
        ms(40),
        tok("e"),
        tok("f"),
        tok("g"),
        tok("h"),
        tok("i"),
        ms(40),
    ])
    .bytes();
    let chunks = collect_timed(upstream.flush_with(Coalesce::new(4)), Instant::now()).await;
    assert_eq!(
        timeline(&chunks),
        [
            row(0, "abc", FlushReason::Idle, 0),
            row(40, "d", FlushReason::Idle, 0),
            row(80, "efgh", FlushReason::Size, 0),
            row(80, "i", FlushReason::Idle, 0),
        ]
    );
}

#[test]
#[should_panic(expected = "TimeBounded::new: max_tokens must be at least 1, got 0")]
fn time_bounded_of_zero_tokens_panics_clearly() {
    let _ = TimeBounded::new(0, MS);
}

#[test]
fn fallible_constructors_return_errors() {
    assert_eq!(
        FixedBatch::try_new(0).unwrap_err().to_string(),
        "max_tokens must be at least 1"
    );
    assert!(TimeBounded::try_new(0, MS).is_err());
    assert!(Coalesce::try_new(0).is_err());
    assert_eq!(Coalesce::try_new(3).unwrap(), Coalesce::new(3));
    assert_eq!(FixedBatch::try_new(7).unwrap(), FixedBatch::new(7));
    assert_eq!(
        TimeBounded::try_new(7, MS).unwrap(),
        TimeBounded::new(7, MS)
    );
}

#[tokio::test(start_paused = true)]
async fn time_bounded_sends_the_first_token_at_once_then_bounds_the_wait() {
    let upstream = Scripted::new([
        ms(250),
        tok("The"),
        ms(20),
        tok(" quick"),
        ms(20),
        tok(" brown"),
        ms(10_000),
        tok(" fox"),
    ])
    .bytes();
    let policy = TimeBounded::new(16, Duration::from_millis(100));
    let chunks = collect_timed(upstream.flush_with(policy), Instant::now()).await;
    assert_eq!(
        timeline(&chunks),
        [
            row(250, "The", FlushReason::First, 0),
            // Upstream then goes silent for 10 s: the deadline fires while it is.
            row(370, " quick brown", FlushReason::Deadline, 100),
            row(10_290, " fox", FlushReason::End, 0),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn time_bounded_can_hold_the_first_token_too() {
    let upstream = Scripted::new([tok("a"), ms(30), tok("b"), ms(1_000)]).bytes();
    let policy = TimeBounded::new(16, Duration::from_millis(100)).with_immediate_first(false);
    let chunks = collect_timed(upstream.flush_with(policy), Instant::now()).await;
    assert_eq!(
        timeline(&chunks),
        [row(100, "ab", FlushReason::Deadline, 100)]
    );
}

#[tokio::test(start_paused = true)]
async fn time_bounded_flushes_at_max_tokens_before_the_deadline() {
    let upstream = Scripted::new([
        tok("a"),
        ms(10),
        tok("b"),
        ms(10),
        tok("c"),
        ms(10),
        tok("d"),
        ms(10),
        tok("e"),
        ms(500),
    ])
    .bytes();
    let policy = TimeBounded::new(3, Duration::from_millis(100));
    let chunks = collect_timed(upstream.flush_with(policy), Instant::now()).await;
    assert_eq!(
        timeline(&chunks),
        [
            row(0, "a", FlushReason::First, 0),
            row(30, "bcd", FlushReason::Size, 20),
            // The next buffer's clock starts with its own first token.
            row(140, "e", FlushReason::Deadline, 100),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_partial_character_starts_no_clock() {
    // Half an emoji at 0 ms, the rest at 50 ms: the character is complete at 50 ms, so a
    // 100 ms bound flushes it at 150 ms, not at 100 ms.
    let upstream = Scripted::new([
        Step::Token(vec![0xF0, 0x9F]),
        ms(50),
        Step::Token(vec![0x98, 0x80]),
        ms(1_000),
    ])
    .bytes();
    let policy = TimeBounded::new(16, Duration::from_millis(100)).with_immediate_first(false);
    let chunks = collect_timed(upstream.flush_with(policy), Instant::now()).await;
    assert_eq!(
        timeline(&chunks),
        [row(150, "😀", FlushReason::Deadline, 100)]
    );
    assert_eq!(chunks[0].1.token_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn complete_text_keeps_its_clock_while_a_character_is_split() {
    let upstream = Scripted::new([
        tok("a"),
        ms(10),
        Step::Token(vec![0xE2, 0x82]),
        ms(70),
        Step::Token(vec![0xAC]),
        ms(1_000),
    ])
    .bytes();
    let policy = TimeBounded::new(16, Duration::from_millis(100)).with_immediate_first(false);
    let chunks = collect_timed(upstream.flush_with(policy), Instant::now()).await;
    assert_eq!(
        timeline(&chunks),
        [row(100, "a€", FlushReason::Deadline, 100)]
    );
}

#[tokio::test(start_paused = true)]
async fn a_deadline_flush_leaves_a_split_character_for_later() {
    let upstream = Scripted::new([
        tok("a"),
        Step::Token(vec![0xE2, 0x82]),
        ms(150),
        Step::Token(vec![0xAC]),
    ])
    .bytes();
    let policy = TimeBounded::new(16, Duration::from_millis(100)).with_immediate_first(false);
    let chunks = collect_timed(upstream.flush_with(policy), Instant::now()).await;
    assert_eq!(
        timeline(&chunks),
        [
            row(100, "a", FlushReason::Deadline, 100),
            row(150, "€", FlushReason::End, 0),
        ]
    );
    assert_eq!(chunks[0].1.token_count(), 2);
    assert_eq!(chunks[1].1.token_count(), 1);
}

/// An upstream that always has a token ready, up to a million, and counts how many it handed
/// out. (Finite, so that an adapter without a poll budget fails the tests instead of hanging.)
struct Flood(Arc<AtomicUsize>);

impl Stream for Flood {
    type Item = &'static str;

    fn poll_next(
        self: std::pin::Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<&'static str>> {
        if self.0.fetch_add(1, Ordering::SeqCst) >= 1_000_000 {
            return Poll::Ready(None);
        }
        Poll::Ready(Some("x"))
    }
}

#[test]
fn an_always_ready_upstream_does_not_starve_the_executor() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let mut chunks = pin!(Flood(Arc::clone(&pulled)).flush_with(FixedBatch::new(usize::MAX)));
    let (wakes, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    for poll in 1..=3 {
        assert!(chunks.as_mut().poll_next(&mut cx).is_pending());
        assert_eq!(
            wakes.wakes(),
            poll,
            "the adapter asks to be polled again at once"
        );
    }
    let per_poll = pulled.load(Ordering::SeqCst) / 3;
    assert!(
        (1..=256).contains(&per_poll),
        "each poll pulls a bounded number of tokens, not {per_poll}"
    );
}

#[tokio::test(start_paused = true)]
async fn the_deadline_fires_while_upstream_floods() {
    let pulled = Arc::new(AtomicUsize::new(0));
    let policy =
        TimeBounded::new(usize::MAX, Duration::from_millis(10)).with_immediate_first(false);
    let mut chunks = pin!(Flood(Arc::clone(&pulled)).flush_with(policy));
    let start = Instant::now();
    let chunk = loop {
        // Each poll takes a bounded batch of the flood; time moves on between polls.
        if let Poll::Ready(chunk) = futures::poll!(chunks.next()) {
            break chunk.unwrap();
        }
        tokio::time::advance(MS).await;
    };
    assert_eq!(start.elapsed(), Duration::from_millis(10));
    assert_eq!(chunk.reason(), FlushReason::Deadline);
    assert_eq!(chunk.held_for(), Duration::from_millis(10));
    assert_eq!(chunk.token_count(), pulled.load(Ordering::SeqCst));
}

#[test]
fn policies_without_deadlines_need_no_runtime() {
    // Outside any Tokio runtime: creating a timer here would panic.
    futures::executor::block_on(async {
        for policy in [
            Box::new(Immediate::new()) as Box<dyn FlushPolicy>,
            Box::new(FixedBatch::new(2)),
            Box::new(Coalesce::new(2)),
        ] {
            let (tx, rx) = futures::channel::mpsc::unbounded();
            let mut chunks = pin!(rx.flush_with(policy));
            tx.unbounded_send("a").unwrap();
            // Upstream goes quiet with text buffered: a timer-based adapter would arm one now.
            let _ = futures::poll!(chunks.next());
            tx.unbounded_send("b").unwrap();
            drop(tx);
            let text: String = chunks.map(Chunk::into_string).collect().await;
            assert!(text.ends_with('b'));
        }
    });
}

#[test]
fn a_time_bounded_adapter_is_built_outside_a_runtime() {
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let chunks = rx.flush_with(TimeBounded::new(4, Duration::from_millis(50)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let text = runtime.block_on(async move {
        tx.unbounded_send("made outside").unwrap();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            tx.unbounded_send(", polled inside").unwrap();
        });
        chunks.map(Chunk::into_string).collect::<Vec<_>>().await
    });
    assert_eq!(text, ["made outside", ", polled inside"]);
}

#[tokio::test(start_paused = true)]
async fn an_unbounded_latency_does_not_overflow() {
    let upstream = Scripted::new([tok("a"), ms(10), tok("b"), ms(3_600_000), tok("c")]).bytes();
    let policy = TimeBounded::new(8, Duration::MAX);
    let chunks = collect_timed(upstream.flush_with(policy), Instant::now()).await;
    assert_eq!(
        timeline(&chunks),
        [
            row(0, "a", FlushReason::First, 0),
            row(3_600_010, "bc", FlushReason::End, 3_600_000),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn deadlines_up_to_thirty_years_away_fire() {
    // Only a deadline more than thirty years away (Tokio's own "never") arms no timer.
    const YEAR: Duration = Duration::from_secs(86_400 * 365);
    for latency in [10 * YEAR, 30 * YEAR] {
        let upstream = stream::iter(["a"]).chain(stream::pending());
        let policy = TimeBounded::new(8, latency).with_immediate_first(false);
        let mut chunks = pin!(upstream.flush_with(policy));
        let start = Instant::now();
        let chunk = tokio::time::timeout(latency + YEAR, chunks.next())
            .await
            .expect("the deadline fires")
            .unwrap();
        assert_eq!(
            (chunk.as_str(), chunk.reason(), start.elapsed()),
            ("a", FlushReason::Deadline, latency)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn an_ended_stream_leaves_no_timer_to_wake_it() {
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let policy = TimeBounded::new(8, 50 * MS).with_immediate_first(false);
    let mut chunks = pin!(rx.flush_with(policy));
    let (wakes, waker) = CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    tx.unbounded_send("a").unwrap();
    // "a" waits for its deadline: the timer is armed with this task's waker.
    assert!(chunks.as_mut().poll_next(&mut cx).is_pending());
    drop(tx);
    let Poll::Ready(Some(chunk)) = chunks.as_mut().poll_next(&mut cx) else {
        panic!("upstream ended: the remainder goes out");
    };
    assert_eq!((chunk.as_str(), chunk.reason()), ("a", FlushReason::End));
    let woken = wakes.wakes();
    // Past the old deadline: nothing is left to wake the task for.
    tokio::time::sleep(100 * MS).await;
    assert_eq!(wakes.wakes(), woken, "the timer ended with the stream");
    assert!(chunks.as_mut().poll_next(&mut cx).is_ready());
}

#[tokio::test(start_paused = true)]
async fn dropping_a_pending_next_loses_nothing() {
    let upstream = Scripted::new([tok("a"), tok("b"), ms(50), tok("c"), ms(50)]).bytes();
    let mut chunks = pin!(upstream.flush_with(FixedBatch::new(3)));
    // A `select!` that gives up on `next()` after 10 ms.
    let raced = tokio::time::timeout(Duration::from_millis(10), chunks.next()).await;
    assert!(raced.is_err());
    let chunk = chunks.next().await.unwrap();
    assert_eq!((chunk.as_str(), chunk.token_count()), ("abc", 3));
}

#[tokio::test(start_paused = true)]
async fn size_hint_is_conservative() {
    let chunks = stream::iter(["a", "b", "c"]).flush_with(FixedBatch::new(2));
    assert_eq!(chunks.size_hint(), (0, Some(3)));
    let mut chunks = pin!(chunks);
    let (tx, rx) = futures::channel::mpsc::unbounded::<Vec<u8>>();
    let mut held = pin!(rx.flush_with(FixedBatch::new(8)));
    tx.unbounded_send(b"ab\xE2".to_vec()).unwrap();
    let _ = futures::poll!(held.next());
    // Text buffered: at least one more chunk; upstream's upper bound is unknown.
    assert_eq!(held.size_hint(), (1, None));
    let _ = chunks.next().await;
    assert_eq!(chunks.size_hint(), (0, Some(1)));
}

/// Records what the adapter showed the policy and told it.
#[derive(Debug, Default)]
struct Recorder {
    idle_asks: usize,
    flushed: Vec<(String, FlushReason)>,
}

impl FlushPolicy for Recorder {
    fn decide(&mut self, state: &BufferState<'_>) -> Decision {
        assert!(
            !state.text().is_empty(),
            "decide is only called with complete text"
        );
        if state.upstream_idle() {
            self.idle_asks += 1;
            // Coalesce only what arrives back to back.
            return Decision::FlushAs(FlushReason::Size);
        }
        Decision::Wait
    }

    fn on_flush(&mut self, chunk: &Chunk) {
        self.flushed
            .push((chunk.as_str().to_owned(), chunk.reason()));
    }
}

#[tokio::test(start_paused = true)]
async fn policies_are_asked_when_upstream_goes_idle_and_told_of_every_flush() {
    let upstream = Scripted::new([
        tok("a"),
        tok("b"),
        ms(10),
        Step::Token(vec![0xC3]),
        ms(10),
        Step::Token(vec![0xA9]),
        tok("c"),
        ms(10),
        tok("d"),
    ])
    .bytes();
    let mut policy = Recorder::default();
    let chunks: Vec<Chunk> = upstream.flush_with(&mut policy).collect().await;
    let texts: Vec<_> = chunks.iter().map(Chunk::as_str).collect();
    assert_eq!(texts, ["ab", "éc", "d"]);
    assert_eq!(
        policy.idle_asks, 2,
        "not asked while only half a character was buffered"
    );
    assert_eq!(
        policy.flushed,
        [
            ("ab".to_owned(), FlushReason::Size),
            ("éc".to_owned(), FlushReason::Size),
            ("d".to_owned(), FlushReason::End),
        ]
    );
}

/// A policy whose deadline is already past when it answers.
#[derive(Debug)]
struct Overdue;

impl FlushPolicy for Overdue {
    fn decide(&mut self, state: &BufferState<'_>) -> Decision {
        match state.oldest() {
            // Text that arrived this poll: the adapter asks again with its arrival before it
            // waits.
            None => Decision::Wait,
            Some(oldest) => {
                let now = state
                    .now()
                    .expect("the clock was read to stamp the arrival");
                assert!(oldest <= now);
                Decision::WaitUntil(oldest - Duration::from_millis(1))
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_deadline_already_past_flushes_at_once() {
    let upstream = Scripted::new([tok("a"), ms(10), tok("b"), ms(5)]).bytes();
    let chunks = collect_timed(upstream.flush_with(Overdue), Instant::now()).await;
    assert_eq!(
        timeline(&chunks),
        [
            row(0, "a", FlushReason::Deadline, 0),
            row(10, "b", FlushReason::Deadline, 0),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn policy_accessors_reach_the_policy() {
    let mut chunks = stream::iter(["a", "b", "c", "d"]).flush_with(FixedBatch::new(4));
    assert_eq!(chunks.policy().max_tokens(), 4);
    *chunks.policy_mut() = FixedBatch::new(2);
    let texts: Vec<String> = chunks.map(Chunk::into_string).collect().await;
    assert_eq!(texts, ["ab", "cd"]);
}

#[tokio::test(start_paused = true)]
async fn a_zero_time_bound_flushes_every_token_at_once() {
    // Each token is `max_latency` old the moment it arrives, whether or not the first one is
    // held back by default, and whether or not anyone observes the stream.
    let policy = TimeBounded::new(16, Duration::ZERO).with_immediate_first(false);
    let chunks: Vec<Chunk> = stream::iter(["a", "b", "c"])
        .flush_with(policy)
        .collect()
        .await;
    let flushed: Vec<_> = chunks.iter().map(|c| (c.as_str(), c.reason())).collect();
    assert_eq!(
        flushed,
        [
            ("a", FlushReason::Deadline),
            ("b", FlushReason::Deadline),
            ("c", FlushReason::Deadline),
        ]
    );
}

#[test]
fn a_zero_time_bound_needs_no_runtime() {
    // Outside any Tokio runtime: a deadline already reached flushes without arming a timer.
    futures::executor::block_on(async {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let policy = TimeBounded::new(16, Duration::ZERO).with_immediate_first(false);
        let mut chunks = pin!(rx.flush_with(policy));
        tx.unbounded_send("a").unwrap();
        let chunk = chunks.next().await.unwrap();
        assert_eq!(
            (chunk.as_str(), chunk.reason()),
            ("a", FlushReason::Deadline)
        );
        assert!(futures::poll!(chunks.next()).is_pending());
    });
}

/// The longest duration that still fits when added to now: one more millisecond does not, and
/// Tokio rounds deadlines up to their next millisecond tick.
fn duration_just_below_the_last_instant() -> Duration {
    let now = Instant::now();
    let (mut fits, mut overflows) = (Duration::ZERO, Duration::MAX);
    while overflows - fits > Duration::from_nanos(1) {
        let mid = fits + (overflows - fits) / 2;
        if now.checked_add(mid).is_some() {
            fits = mid;
        } else {
            overflows = mid;
        }
    }
    fits
}

#[tokio::test(start_paused = true)]
async fn a_time_bound_near_the_last_instant_does_not_panic() {
    let latency = duration_just_below_the_last_instant();
    let upstream = Scripted::new([tok("a"), tok("b"), ms(3_600_000), tok("c")]).bytes();
    let policy = TimeBounded::new(8, latency).with_immediate_first(false);
    let chunks = collect_timed(upstream.flush_with(policy), Instant::now()).await;
    assert_eq!(
        timeline(&chunks),
        [row(3_600_000, "abc", FlushReason::End, 3_600_000)]
    );
}

#[tokio::test(start_paused = true)]
async fn size_hint_counts_a_partial_character_with_nothing_buffered() {
    /// One byte of a two-byte character, then nothing more (but never ends).
    struct HalfCharacter(bool);

    impl Stream for HalfCharacter {
        type Item = Vec<u8>;

        fn poll_next(
            mut self: std::pin::Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Vec<u8>>> {
            if std::mem::replace(&mut self.0, true) {
                Poll::Pending
            } else {
                Poll::Ready(Some(vec![0xC3]))
            }
        }

        fn size_hint(&self) -> (usize, Option<usize>) {
            (0, Some(usize::from(!self.0)))
        }
    }

    let mut chunks = pin!(HalfCharacter(false).flush_with(FixedBatch::new(8)));
    assert!(futures::poll!(chunks.next()).is_pending());
    assert_eq!(chunks.buffered_text(), "");
    // The carried byte can still go out as U+FFFD at the end: one more chunk at most.
    assert_eq!(chunks.size_hint(), (0, Some(1)));
}

#[tokio::test(flavor = "current_thread")]
async fn an_always_ready_adapter_yields_to_other_tasks_of_its_runtime() {
    // Every poll yields a chunk, so without a cooperative budget the consumer never returns to
    // the scheduler and the other task runs only when the whole stream is done.
    const TOKENS: usize = 200_000;
    let ran = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let other = tokio::spawn({
        let (ran, done) = (Arc::clone(&ran), Arc::clone(&done));
        async move {
            while !done.load(Ordering::SeqCst) {
                ran.fetch_add(1, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        }
    });
    let mut chunks =
        pin!(stream::iter(std::iter::repeat_n("x", TOKENS)).flush_with(Immediate::new()));
    let mut consumed = 0;
    let mut ran_while_consuming = 0;
    while let Some(chunk) = chunks.next().await {
        consumed += chunk.token_count();
        if consumed == TOKENS / 2 {
            ran_while_consuming = ran.load(Ordering::SeqCst);
        }
    }
    done.store(true, Ordering::SeqCst);
    other.await.unwrap();
    // Tokio's budget is 128 units a turn: the other task runs about once per 128 chunks.
    assert!(
        ran_while_consuming >= TOKENS / 2 / 1024,
        "the other task ran {ran_while_consuming} times while {} chunks went by",
        TOKENS / 2
    );
}

#[tokio::test(start_paused = true)]
async fn debug_shows_sizes_not_buffered_text() {
    let tokens = stream::iter(["the user's ", "secret"]).chain(stream::pending());
    let mut chunks = pin!(tokens.flush_with(FixedBatch::new(8)));
    assert!(futures::poll!(chunks.next()).is_pending());
    assert_eq!(chunks.buffered_text(), "the user's secret");
    let debug = format!("{:?}", chunks.as_ref().get_ref());
    assert!(!debug.contains("secret"), "{debug}");
    assert!(debug.contains("buffered_bytes: 17"), "{debug}");
}

/// Flushes up to the last space when 3 tokens are buffered, and everything at its deadline
/// (10 ms after the oldest text) if no space is there.
#[derive(Debug)]
struct UpToLastSpace;

impl FlushPolicy for UpToLastSpace {
    fn decide(&mut self, state: &BufferState<'_>) -> Decision {
        let deadline = Decision::WaitUntil(state.oldest().unwrap() + Duration::from_millis(10));
        match state.text().rfind(' ') {
            Some(space) if state.token_count() >= 3 => {
                Decision::FlushUpTo(space + 1, FlushReason::Boundary)
            }
            _ => deadline,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_partial_flush_keeps_the_tail_with_its_own_tokens_and_age() {
    let upstream = Scripted::new([
        tok("one "),
        ms(4),
        tok("tw"),
        ms(4),
        tok("o thr"),
        ms(4),
        tok("ee"),
        ms(30),
    ])
    .bytes();
    let timed = collect_timed(upstream.flush_with(UpToLastSpace), Instant::now()).await;
    let shown: Vec<_> = timed
        .iter()
        .map(|(at, chunk)| {
            (
                at.as_millis(),
                chunk.as_str(),
                chunk.token_count(),
                chunk.reason(),
                chunk.held_for().as_millis(),
            )
        })
        .collect();
    assert_eq!(
        shown,
        [
            // At 8 ms the third token makes "one two thr": up to the last space goes; "thr"
            // stays, with the token it came in ("o thr", from 8 ms).
            (8, "one two ", 2, FlushReason::Boundary, 8),
            // "three" has no space: it goes at its deadline, 10 ms after 8 ms.
            (18, "three", 2, FlushReason::Deadline, 10),
        ]
    );
}

/// Asks once, at two tokens, to flush the first `at` bytes.
#[derive(Debug)]
struct CutOnce {
    at: usize,
    asked: bool,
}

impl FlushPolicy for CutOnce {
    fn decide(&mut self, state: &BufferState<'_>) -> Decision {
        if state.token_count() >= 2 && !std::mem::replace(&mut self.asked, true) {
            return Decision::FlushUpTo(self.at, FlushReason::Boundary);
        }
        Decision::Wait
    }
}

/// Tokens, where the policy cuts, and the chunks expected.
type CutCase = (
    &'static [&'static str],
    usize,
    &'static [(&'static str, FlushReason)],
);

#[tokio::test(start_paused = true)]
async fn a_cut_inside_a_character_moves_back_to_its_start() {
    let cases: [CutCase; 3] = [
        // "é" is bytes 1..3 of "aéb": a cut at 2 goes back to 1.
        (
            &["aé", "b"],
            2,
            &[("a", FlushReason::Boundary), ("éb", FlushReason::End)],
        ),
        (
            &["aé", "b"],
            3,
            &[("aé", FlushReason::Boundary), ("b", FlushReason::End)],
        ),
        // Back to the start of the text: no flush at all.
        (&["é", "b"], 1, &[("éb", FlushReason::End)]),
    ];
    for (tokens, at, expected) in cases {
        let policy = CutOnce { at, asked: false };
        let chunks: Vec<Chunk> = stream::iter(tokens.iter().copied())
            .flush_with(policy)
            .collect()
            .await;
        let shown: Vec<_> = chunks.iter().map(|c| (c.as_str(), c.reason())).collect();
        assert_eq!(shown, expected, "{tokens:?} cut at {at}");
    }
}

#[tokio::test(start_paused = true)]
async fn size_hint_counts_an_item_held_behind_flushed_text() {
    let upstream = stream::iter([Ok("a"), Err("boom")]);
    let mut items = pin!(upstream.try_flush_with(FixedBatch::new(8)));
    let first = items.next().await.unwrap().unwrap();
    assert_eq!((first.as_str(), first.reason()), ("a", FlushReason::Error));
    // Upstream has nothing left, but the error it gave waits behind the text.
    assert_eq!(items.size_hint(), (0, Some(1)));
    assert_eq!(items.next().await, Some(Err("boom")));
    assert_eq!(items.size_hint(), (0, Some(0)));
}

#[cfg(feature = "graphemes")]
#[tokio::test(start_paused = true)]
async fn whole_graphemes_are_off_unless_asked_for() {
    let tokens = ["👩", "\u{200D}💻", "e", "\u{301}"];
    let plain: Vec<String> = stream::iter(tokens)
        .flush_with(Immediate::new())
        .map(String::from)
        .collect()
        .await;
    assert_eq!(plain, tokens, "each token at once, half-built or not");
    let whole: Vec<String> = stream::iter(tokens)
        .flush_with(Immediate::new())
        .with_whole_graphemes(true)
        .map(String::from)
        .collect()
        .await;
    // 👩 and 💻 may be extended (by a joiner, a skin tone) and wait; "e" goes out with them; the
    // lone combining mark might be followed by another and waits for the end.
    assert_eq!(whole, ["👩\u{200D}💻e", "\u{301}"]);
}
