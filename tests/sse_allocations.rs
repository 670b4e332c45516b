//! Allocation counts of SSE framing: frames are cut from shared blocks, a block is reused in
//! place once its frames are dropped, and a stream waiting for its first chunk holds no
//! frame buffer (thousands of queued requests cost no blocks); the LLM formats frame text
//! without an allocation per chunk; rendering and decoding them takes time linear in the
//! stream, whatever its shape. A counting global allocator needs a test binary of its own, and
//! counts every thread's allocations: this binary has no test harness (whose own thread
//! allocates while a test runs) and runs its checks one after another.

use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use futures::Stream;
use tokenflush::llm::Item;
use tokenflush::sse::{AnthropicMessages, EncodeSseExt, Format, OpenAiChat, OpenAiResponses};
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

fn main() {
    let mut passed = 0;
    let mut run = |name: &str, check: fn()| {
        check();
        println!("test {name} ... ok");
        passed += 1;
    };
    run(
        "frames_share_blocks_and_idle_streams_hold_none",
        frames_share_blocks_and_idle_streams_hold_none,
    );
    run(
        "the_llm_formats_frame_text_without_an_allocation_per_chunk",
        the_llm_formats_frame_text_without_an_allocation_per_chunk,
    );
    #[cfg(feature = "llm-parse")]
    run(
        "rendering_and_decoding_take_linear_time",
        linear::rendering_and_decoding_take_linear_time,
    );
    println!("{passed} passed, 0 failed");
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

/// Allocations while `format` frames `count` answer chunks of a typed stream after its first,
/// the frames dropped as they are written.
fn allocations_framing<F: Format + Unpin>(format: F, count: usize) -> usize {
    let items: Vec<Item<Chunk>> = chunks(count + 1).into_iter().map(Item::Content).collect();
    let mut frames = futures::stream::iter(items).encode_sse_as(format);
    // The first chunk opens the stream: the format's one-time set-up.
    assert!(matches!(poll(&mut frames), Poll::Ready(Some(_))));
    let (allocations, framed) = allocations_during(|| {
        let mut framed = 0;
        while let Poll::Ready(Some(_frame)) = poll(&mut frames) {
            framed += 1;
        }
        framed
    });
    assert_eq!(framed, count + 1, "the chunks and the end");
    allocations
}

fn the_llm_formats_frame_text_without_an_allocation_per_chunk() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let count = 10_000;
    // Chat and Anthropic write each chunk into the shared block: the stream's end costs a few
    // allocations, the chunks none, however many there are.
    let chat = |count| {
        allocations_framing(
            OpenAiChat::new("chatcmpl-1", "m").with_include_usage(true),
            count,
        )
    };
    let (few, many) = (chat(100), chat(count));
    eprintln!("OpenAI chat: {few} allocations for 100 chunks, {many} for {count}");
    assert!(
        few <= 8 && many <= few,
        "OpenAI chat: {few} allocations for 100 chunks, {many} for {count}"
    );
    let anthropic = |count| allocations_framing(AnthropicMessages::new("msg_1", "m"), count);
    let (few, many) = (anthropic(100), anthropic(count));
    eprintln!("Anthropic: {few} allocations for 100 chunks, {many} for {count}");
    assert!(
        few <= 8 && many <= few,
        "Anthropic: {few} allocations for 100 chunks, {many} for {count}"
    );
    // Responses keeps the whole text for its `.done` events: that buffer grows by doubling,
    // a few dozen times for ~110 KB, never once per chunk.
    let responses = allocations_framing(OpenAiResponses::new("resp_1", "m"), count);
    eprintln!("Responses: {responses} allocations for {count} chunks");
    assert!(
        responses <= 64,
        "Responses: {responses} allocations for {count} chunks"
    );
}

/// Streams shaped to find anything worse than linear in the formats' and decoders' state:
/// `n` tool calls, each its own index, interleaved; `n` choices (chat); calls left open
/// until text closes them all (Responses); passed-on upstream blocks and output items.
#[cfg(feature = "llm-parse")]
mod linear {
    use std::time::{Duration, Instant};

    use tokenflush::llm::ToolCall;
    use tokenflush::sse::{Decode, Parser};

    use super::*;

    fn text(text: &str) -> Item<Chunk> {
        Item::Content(Chunk::new(text).unwrap())
    }

    fn hostile(n: usize, format: &str) -> Vec<Item<Chunk>> {
        let mut items = Vec::with_capacity(4 * n);
        for i in 0..n as u32 {
            if format == "openai-chat" {
                items.push(Item::Choice(i));
            }
            items.push(Item::ToolCall(
                ToolCall::new(i)
                    .with_id("c")
                    .with_name("f")
                    .with_arguments("{"),
            ));
            items.push(Item::ToolCall(ToolCall::new(i / 2).with_arguments("}")));
            items.push(Item::Other {
                format: "anthropic-messages",
                event: Some("content_block_start".into()),
                data: format!(r#"{{"type":"content_block_start","index":{},"content_block":{{"type":"redacted_thinking","data":""}}}}"#, 1_000_000 + i),
            });
            items.push(Item::Other {
                format: "openai-responses",
                event: Some("response.output_item.added".into()),
                data: format!(r#"{{"type":"response.output_item.added","sequence_number":0,"output_index":{},"item":{{"type":"web_search_call","id":"ws"}}}}"#, 1_000_000 + i),
            });
            if i % 64 == 63 {
                items.push(text("then text"));
            }
        }
        items
    }

    /// Renders and decodes `n` hostile items: the quickest of three runs.
    fn time<F: Format + Decode + Default + Unpin>(n: usize, name: &str) -> Duration {
        (0..3)
            .map(|_| {
                let items = hostile(n, name);
                let started = Instant::now();
                let frames: Vec<Bytes> = futures::executor::block_on(futures::StreamExt::collect(
                    futures::stream::iter(items).encode_sse_as(F::default()),
                ));
                let mut parser = Parser::new();
                let mut decoder = F::default();
                let mut decoded = Vec::new();
                for frame in &frames {
                    parser.feed(frame);
                    while let Some(event) = parser.next_event().unwrap() {
                        decoder.decode(&event, &mut decoded).unwrap();
                    }
                }
                assert!(decoder.is_complete());
                assert!(decoded.len() >= n);
                started.elapsed()
            })
            .min()
            .unwrap()
    }

    fn check<F: Format + Decode + Default + Unpin>(name: &str) {
        let n = 2_000;
        let small = time::<F>(n, name);
        let large = time::<F>(4 * n, name);
        eprintln!("{name}: {n} items in {small:?}, {} in {large:?}", 4 * n);
        // Linear: 4x the stream takes about 4x the time; quadratic would take 16x.
        assert!(
            large < small * 8,
            "{name}: {n} items in {small:?}, {} in {large:?}",
            4 * n
        );
    }

    pub(super) fn rendering_and_decoding_take_linear_time() {
        check::<OpenAiChat>("openai-chat");
        check::<AnthropicMessages>("anthropic-messages");
        check::<OpenAiResponses>("openai-responses");
    }
}
