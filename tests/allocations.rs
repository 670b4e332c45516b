//! Allocation counts on the hot path: none per token, one per chunk, and one timer for the
//! adapter's whole life. A counting global allocator needs a test binary of its own.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokenflush::policy::{FixedBatch, Immediate, TimeBounded};
use tokenflush::{Chunk, FlushExt, FlushReason};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

fn allocations_during<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = dhat::HeapStats::get().total_blocks;
    let value = f();
    let after = dhat::HeapStats::get().total_blocks;
    (usize::try_from(after - before).unwrap(), value)
}

/// Hands out `count` tokens at a time, then stays pending until opened again. Never allocates.
struct Gate {
    tokens: &'static [&'static [u8]],
    next: usize,
    ready: usize,
    open: Arc<AtomicBool>,
}

impl Stream for Gate {
    type Item = &'static [u8];

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<&'static [u8]>> {
        if self.ready == 0 {
            if !self.open.swap(false, Ordering::SeqCst) {
                return Poll::Pending;
            }
            self.ready = 2;
        }
        self.ready -= 1;
        let token = self.tokens[self.next % self.tokens.len()];
        self.next += 1;
        Poll::Ready(Some(token))
    }
}

// Text and byte tokens, with characters split across tokens.
const TOKENS: &[&[u8]] = &[
    b"Hello",
    b", w\xC3",
    b"\xB6rld ",
    b"\xF0\x9F",
    b"\x98\x80 ",
    b"again",
];

fn poll<S: Stream + Unpin>(stream: &mut S) -> Poll<Option<S::Item>> {
    Pin::new(stream).poll_next(&mut Context::from_waker(Waker::noop()))
}

/// dhat counts every thread's allocations, and the test harness's own thread allocates while it
/// waits for a test: this binary has no harness, and runs its checks one after another on the
/// main thread.
fn main() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let checks: [(&str, fn()); 4] = [
        (
            "steady_state_costs_one_allocation_per_chunk_and_none_per_token",
            steady_state_costs_one_allocation_per_chunk_and_none_per_token,
        ),
        (
            "the_byte_cap_bounds_memory_whatever_the_policy",
            the_byte_cap_bounds_memory_whatever_the_policy,
        ),
        (
            "a_huge_token_does_not_leave_a_huge_buffer_behind",
            a_huge_token_does_not_leave_a_huge_buffer_behind,
        ),
        (
            "a_trickle_of_tiny_tokens_does_not_leave_its_bookkeeping_behind",
            a_trickle_of_tiny_tokens_does_not_leave_its_bookkeeping_behind,
        ),
    ];
    for (name, check) in checks {
        check();
        println!("test {name} ... ok");
    }
    println!("{} passed, 0 failed", checks.len());
}

fn steady_state_costs_one_allocation_per_chunk_and_none_per_token() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let _entered = runtime.enter();

    // TimeBounded: every pair of tokens waits for its deadline, so each batch arms the timer.
    let open = Arc::new(AtomicBool::new(false));
    let gate = Gate {
        tokens: TOKENS,
        next: 0,
        ready: 0,
        open: Arc::clone(&open),
    };
    let policy = TimeBounded::new(64, Duration::from_millis(10)).with_immediate_first(false);
    let mut chunks = gate.flush_with(policy);
    let mut deadline_chunks = 0;
    let mut steady = 0;
    for round in 0..200 {
        open.store(true, Ordering::SeqCst);
        let (pull, polled) = allocations_during(|| poll(&mut chunks));
        assert!(polled.is_pending());
        runtime.block_on(tokio::time::advance(Duration::from_millis(10)));
        let (flush, polled) = allocations_during(|| poll(&mut chunks));
        let Poll::Ready(Some(chunk)) = polled else {
            panic!("the deadline flushes")
        };
        assert_eq!(chunk.reason(), FlushReason::Deadline);
        deadline_chunks += 1;
        if round >= 10 {
            // Warmed up: the buffer has its capacity and the one timer exists.
            steady += pull + flush;
            assert_eq!(
                pull, 0,
                "pulling tokens and arming the timer allocate nothing (round {round})"
            );
            assert_eq!(
                flush, 1,
                "a deadline flush allocates only the chunk (round {round})"
            );
        }
        drop(chunk);
    }
    assert_eq!(deadline_chunks, 200);
    assert_eq!(steady, 190);

    // Size-based policies: one allocation per chunk, none per token.
    let tokens: Vec<&[u8]> = TOKENS.iter().copied().cycle().take(6 * 400).collect();
    // One token in six holds only half a character, so FixedBatch(1) makes five chunks of six tokens.
    for (batch, expected_chunks) in [(1, 2000), (16, 150)] {
        let mut chunks = futures::stream::iter(tokens.clone()).flush_with(FixedBatch::new(batch));
        let mut count = 0;
        let (allocations, ()) = allocations_during(|| {
            while let Poll::Ready(Some(chunk)) = poll(&mut chunks) {
                count += 1;
                drop::<Chunk>(chunk);
            }
        });
        assert_eq!(count, expected_chunks);
        // The buffer grows a few times at the start; after that one allocation per chunk.
        assert!(
            allocations <= count + 8,
            "FixedBatch({batch}): {allocations} allocations for {count} chunks"
        );
    }
    // Chunks of 32 KiB: the buffer keeps the capacity they need (up to 64 KiB) from one chunk
    // to the next, so they too cost one allocation each.
    let token: &'static str = Box::leak("x".repeat(1024).into_boxed_str());
    let mut chunks =
        futures::stream::iter(std::iter::repeat_n(token, 32 * 100)).flush_with(FixedBatch::new(32));
    let (allocations, count) = allocations_during(|| {
        let mut count = 0;
        while let Poll::Ready(Some(chunk)) = poll(&mut chunks) {
            assert_eq!(chunk.as_str().len(), 32 * 1024);
            count += 1;
        }
        count
    });
    assert_eq!(count, 100);
    assert!(
        allocations <= count + 8,
        "32 KiB chunks: {allocations} allocations for {count} chunks"
    );
    // Chunks of 2,000 one-byte tokens: the per-token marks keep the capacity they need (up to
    // 32 KiB, 4,096 tokens) from one chunk to the next, so these chunks too cost one allocation
    // each.
    let mut chunks = futures::stream::iter(std::iter::repeat_n("x", 2000 * 100))
        .flush_with(FixedBatch::new(2000));
    let (allocations, count) = allocations_during(|| {
        let mut count = 0;
        // The adapter yields to the executor after 64 tokens: poll again until the end.
        loop {
            match poll(&mut chunks) {
                Poll::Ready(Some(chunk)) => {
                    assert_eq!(chunk.token_count(), 2000);
                    count += 1;
                }
                Poll::Ready(None) => break,
                Poll::Pending => {}
            }
        }
        count
    });
    assert_eq!(count, 100);
    // The buffer and the marks grow by doubling during the first chunk (about 20 times).
    assert!(
        allocations <= count + 24,
        "chunks of 2,000 tokens: {allocations} allocations for {count} chunks"
    );
    // Owned tokens: the first of a chunk is taken as the buffer, and the text goes back to the
    // reusable buffer when a second token joins it, instead of growing the token's own string.
    let owned = futures::stream::iter((0..16 * 100).map(|_| String::from("token ")));
    let mut chunks = owned.flush_with(FixedBatch::new(16));
    let (allocations, count) = allocations_during(|| {
        let mut count = 0;
        while let Poll::Ready(Some(chunk)) = poll(&mut chunks) {
            assert_eq!(chunk.token_count(), 16);
            count += 1;
        }
        count
    });
    assert_eq!(count, 100);
    assert!(
        allocations <= 16 * count + count + 8,
        "owned tokens: {allocations} allocations for {count} chunks of 16 tokens, each token one"
    );
    let mut chunks = futures::stream::iter(tokens.clone()).flush_with(Immediate::new());
    let (allocations, count) = allocations_during(|| {
        let mut count = 0;
        while let Poll::Ready(Some(_)) = poll(&mut chunks) {
            count += 1;
        }
        count
    });
    assert!(
        allocations <= count + 8,
        "Immediate: {allocations} allocations for {count} chunks"
    );
}

/// Yields `count` tokens of `len` bytes each, made on demand: the upstream holds no more than
/// the token it hands out.
fn made_on_demand(count: usize, len: usize) -> impl Stream<Item = String> + Unpin {
    futures::stream::iter((0..count).map(move |i| {
        let byte = b'a' + (i % 26) as u8;
        String::from_utf8(vec![byte; len]).unwrap()
    }))
}

fn the_byte_cap_bounds_memory_whatever_the_policy() {
    // A policy that would hold everything: 16 MiB arrive and nothing asks for a flush.
    const TOKENS: usize = 16 * 1024;
    const LEN: usize = 1024;
    for cap in [4 * 1024, 64 * 1024] {
        let chunks = made_on_demand(TOKENS, LEN).flush_with(FixedBatch::new(usize::MAX));
        let mut chunks = if cap == 64 * 1024 {
            chunks // the default
        } else {
            chunks.with_max_buffered(cap)
        };
        let before = dhat::HeapStats::get();
        let mut peak_above_start = 0;
        let mut total = 0;
        while let Poll::Ready(Some(chunk)) = poll(&mut chunks) {
            assert_eq!(chunk.reason(), FlushReason::Bytes);
            assert!(chunk.as_str().len() <= cap);
            total += chunk.as_str().len();
            let now = dhat::HeapStats::get();
            peak_above_start = peak_above_start.max(now.curr_bytes - before.curr_bytes);
        }
        assert_eq!(total, TOKENS * LEN, "nothing is lost");
        // The buffer (up to the cap, grown by doubling), the chunk being handed out (a copy of
        // the buffer) and one token: at most 4 x the cap + a token.
        assert!(
            peak_above_start <= 4 * cap + LEN,
            "cap {cap}: {peak_above_start} bytes held at the peak for a 16 MiB stream"
        );
    }
}

fn a_huge_token_does_not_leave_a_huge_buffer_behind() {
    const HUGE: usize = 4 << 20;
    let before = dhat::HeapStats::get().curr_bytes;
    let tokens = futures::stream::iter(["small ", &"x".repeat(HUGE)].map(str::to_owned))
        .chain(futures::stream::pending());
    let mut chunks = tokens
        .flush_with(FixedBatch::new(2))
        .with_max_buffered(2 * HUGE);
    // The buffer grows to hold both tokens; the chunk is a copy of it.
    let Poll::Ready(Some(chunk)) = poll(&mut chunks) else {
        panic!("two tokens make a chunk")
    };
    assert_eq!(chunk.as_str().len(), "small ".len() + HUGE);
    drop(chunk);
    // The adapter keeps at most 64 KiB of buffer capacity once the huge text is gone.
    let kept = dhat::HeapStats::get().curr_bytes - before;
    assert!(
        kept < 128 * 1024,
        "{kept} bytes still held by the adapter after a {HUGE}-byte token went out"
    );
    drop(chunks);
}

/// Yields `left` one-byte tokens, one per poll (it is pending in between), then stays pending.
struct Trickle {
    left: usize,
    ready: bool,
}

impl Stream for Trickle {
    type Item = &'static str;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<&'static str>> {
        if self.left == 0 || !std::mem::replace(&mut self.ready, false) {
            self.ready = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.left -= 1;
        Poll::Ready(Some("x"))
    }
}

fn a_trickle_of_tiny_tokens_does_not_leave_its_bookkeeping_behind() {
    // One mark per token and one per poll that brought text: 50 000 of each for one chunk.
    const TOKENS: usize = 50_000;
    let before = dhat::HeapStats::get().curr_bytes;
    let upstream = Trickle {
        left: TOKENS,
        ready: true,
    };
    let mut chunks = upstream.flush_with(FixedBatch::new(TOKENS));
    let chunk = loop {
        if let Poll::Ready(Some(chunk)) = poll(&mut chunks) {
            break chunk;
        }
    };
    assert_eq!(chunk.token_count(), TOKENS);
    drop(chunk);
    // The buffer keeps 64 KiB, each list of marks 32 KiB.
    let kept = dhat::HeapStats::get().curr_bytes - before;
    assert!(
        kept <= 160 * 1024,
        "{kept} bytes still held by the adapter after {TOKENS} tokens in as many polls"
    );
    drop(chunks);
}
