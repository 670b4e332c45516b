//! Allocation counts of SSE framing: frames are cut from shared blocks, a block is reused in
//! place once its frames are dropped, and a stream waiting for its first chunk holds no
//! frame buffer (thousands of queued requests cost no blocks). A counting global allocator
//! needs a test binary of its own.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures::Stream;
use tokenflush::sse::EncodeSseExt;
use tokenflush::Chunk;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

fn allocations_during<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = dhat::HeapStats::get().total_blocks;
    let value = f();
    let after = dhat::HeapStats::get().total_blocks;
    (usize::try_from(after - before).unwrap(), value)
}

fn live_bytes() -> usize {
    dhat::HeapStats::get().curr_bytes
}

fn poll<S: Stream + Unpin>(stream: &mut S) -> Poll<Option<S::Item>> {
    Pin::new(stream).poll_next(&mut Context::from_waker(Waker::noop()))
}

/// A chunk stream that hands out the chunks it was given while "open", then stays pending.
struct Script {
    chunks: std::vec::IntoIter<Chunk>,
    open: bool,
}

impl Stream for Script {
    type Item = Chunk;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<Chunk>> {
        if !self.open {
            return Poll::Pending;
        }
        match self.chunks.next() {
            Some(chunk) => Poll::Ready(Some(chunk)),
            None => {
                self.open = false;
                Poll::Pending
            }
        }
    }
}

fn chunks(count: usize) -> Vec<Chunk> {
    (0..count)
        .map(|index| Chunk::new(format!("token {index}")).expect("not empty"))
        .collect()
}

/// dhat counts every thread's allocations, and the test harness's own thread allocates while it
/// waits for a test: this binary has no harness.
fn main() {
    frames_share_blocks_and_idle_streams_hold_none();
    println!("test frames_share_blocks_and_idle_streams_hold_none ... ok");
    println!("1 passed, 0 failed");
}

fn frames_share_blocks_and_idle_streams_hold_none() {
    let _profiler = dhat::Profiler::builder().testing().build();

    // Waiting for the first chunk: polling allocates nothing and holds nothing.
    let mut frames = Script {
        chunks: chunks(10_000).into_iter(),
        open: false,
    }
    .encode_sse();
    let held_before = live_bytes();
    let (allocations, polled) = allocations_during(|| poll(&mut frames));
    assert!(polled.is_pending());
    assert_eq!(allocations, 0, "an idle stream allocates no frame buffer");
    assert_eq!(
        live_bytes(),
        held_before,
        "an idle stream holds no frame buffer"
    );

    // Frames written and dropped one by one, as an HTTP body does: the block is reused in
    // place, so ten thousand frames take a handful of allocations.
    frames.get_mut().open = true;
    let (allocations, count) = allocations_during(|| {
        let mut count = 0;
        while let Poll::Ready(Some(frame)) = poll(&mut frames) {
            assert!(frame.starts_with(b"data: token "));
            count += 1;
        }
        count
    });
    assert_eq!(count, 10_000);
    assert!(
        allocations <= 4,
        "{allocations} allocations for {count} frames dropped as they were written"
    );

    // Frames kept alive: a new block each time one fills up, never one per frame.
    let mut frames = Script {
        chunks: chunks(10_000).into_iter(),
        open: true,
    }
    .encode_sse();
    let (allocations, kept) = allocations_during(|| {
        let mut kept: Vec<Bytes> = Vec::with_capacity(10_000);
        while let Poll::Ready(Some(frame)) = poll(&mut frames) {
            kept.push(frame);
        }
        kept
    });
    let bytes: usize = kept.iter().map(Bytes::len).sum();
    // One for `kept` itself, then two per 4 KiB block (its memory, and the shared handle
    // `bytes` makes when the first frame is cut from it): 1 + 2 × 44 here, where a buffer per
    // frame would take 10,000 or more.
    let blocks = bytes.div_ceil(4096);
    assert!(
        allocations <= 1 + 2 * blocks + 2,
        "{allocations} allocations for {} frames kept ({bytes} bytes, {blocks} blocks)",
        kept.len()
    );
}
