//! The flush adapter against its peers: 1M short tokens from `futures::stream::iter` on a
//! current-thread runtime, each consumer doing the same work per output item.
//!
//! Peers in the same group: raw passthrough (the floor), tokio-stream's `chunks_timeout` and
//! futures' `ready_chunks` with each batch joined into a `String` (what a server does without
//! this crate), and ours with `Immediate`, `FixedBatch::new(16)` and `TimeBounded::new(16, 100ms)`.
//! A last group measures what options add per token: whole graphemes (feature `graphemes`) and
//! boundary detection (`Rules::at`), each beside the same policy without it.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use futures::stream::{self, Stream, StreamExt};
use tokenflush::policy::{Boundary, FixedBatch, FlushPolicy, Immediate, Rules, TimeBounded};
use tokenflush::FlushExt;

const TOKENS: usize = 1_000_000;
const BATCH: usize = 16;
const LATENCY: Duration = Duration::from_millis(100);

/// Short tokens of 1 to 8 bytes, as a word-piece tokenizer emits them.
fn tokens() -> Vec<String> {
    const WORDS: [&str; 12] = [
        " the", " model", "s", " token", " stream", ",", " and", " é", "té", " a", " lag", ".",
    ];
    let mut state = 0x2545_F491_u32;
    (0..TOKENS)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            WORDS[state as usize % WORDS.len()].to_owned()
        })
        .collect()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

/// Consumes a stream of output items, touching each one.
async fn drain<S: Stream + Unpin>(mut stream: S) -> usize {
    let mut items = 0;
    while let Some(item) = stream.next().await {
        black_box(&item);
        items += 1;
    }
    items
}

/// Runs every peer over `make()`'s tokens: `&str` borrowed from a vector, or owned `String`s
/// moved through the stream (and freed by whoever consumes them, as a model client's are).
fn bench_peers<T, I>(c: &mut Criterion, name: &str, make: impl Fn() -> I)
where
    T: tokenflush::Token + AsRef<str> + Clone,
    I: IntoIterator<Item = T>,
{
    let runtime = runtime();
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Elements(TOKENS as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(8));
    let batched = criterion::BatchSize::LargeInput;

    group.bench_function("raw passthrough", |b| {
        b.iter_batched(
            &make,
            |tokens| runtime.block_on(drain(stream::iter(tokens))),
            batched,
        );
    });
    group.bench_function("tokio-stream chunks_timeout(16, 100ms) + join", |b| {
        b.iter_batched(
            &make,
            |tokens| {
                let batches =
                    tokio_stream::StreamExt::chunks_timeout(stream::iter(tokens), BATCH, LATENCY);
                runtime.block_on(drain(Box::pin(batches.map(join))))
            },
            batched,
        );
    });
    group.bench_function("futures ready_chunks(16) + join", |b| {
        b.iter_batched(
            &make,
            |tokens| runtime.block_on(drain(stream::iter(tokens).ready_chunks(BATCH).map(join))),
            batched,
        );
    });
    group.bench_function("tokenflush Immediate", |b| {
        b.iter_batched(
            &make,
            |tokens| runtime.block_on(drain(ours(tokens, Immediate::new()))),
            batched,
        );
    });
    group.bench_function("tokenflush FixedBatch(16)", |b| {
        b.iter_batched(
            &make,
            |tokens| runtime.block_on(drain(ours(tokens, FixedBatch::new(BATCH)))),
            batched,
        );
    });
    group.bench_function("tokenflush TimeBounded(16, 100ms)", |b| {
        b.iter_batched(
            &make,
            |tokens| runtime.block_on(drain(ours(tokens, TimeBounded::new(BATCH, LATENCY)))),
            batched,
        );
    });
    group.finish();
}

/// What a server does with a batch of tokens without this crate: one string per write.
fn join<T: AsRef<str>>(batch: Vec<T>) -> String {
    let mut joined = String::with_capacity(batch.iter().map(|t| t.as_ref().len()).sum());
    for token in &batch {
        joined.push_str(token.as_ref());
    }
    joined
}

fn ours<T: tokenflush::Token, P: FlushPolicy>(
    tokens: impl IntoIterator<Item = T>,
    policy: P,
) -> impl Stream<Item = tokenflush::Chunk> + Unpin {
    stream::iter(tokens).flush_with(policy)
}

/// What boundary detection and whole graphemes add per token, each next to the same policy
/// without it.
fn bench_options(c: &mut Criterion, tokens: &[&str]) {
    let runtime = runtime();
    let mut group = c.benchmark_group("stream/options, 1M &str tokens");
    group.throughput(Throughput::Elements(TOKENS as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(8));
    let batched = criterion::BatchSize::LargeInput;
    let make = || tokens.to_vec();
    group.bench_function("TimeBounded(16, 100ms)", |b| {
        b.iter_batched(
            make,
            |tokens| runtime.block_on(drain(ours(tokens, TimeBounded::new(BATCH, LATENCY)))),
            batched,
        );
    });
    #[cfg(feature = "graphemes")]
    group.bench_function("TimeBounded(16, 100ms) + whole graphemes", |b| {
        b.iter_batched(
            make,
            |tokens| {
                let chunks = stream::iter(tokens)
                    .flush_with(TimeBounded::new(BATCH, LATENCY))
                    .with_whole_graphemes(true);
                runtime.block_on(drain(chunks))
            },
            batched,
        );
    });
    let rules = || Rules::new().max_tokens(BATCH).max_latency(LATENCY);
    group.bench_function("Rules: 16 tokens, 100ms", |b| {
        b.iter_batched(
            make,
            |tokens| runtime.block_on(drain(ours(tokens, rules()))),
            batched,
        );
    });
    group.bench_function("Rules: 16 tokens, 100ms, at sentences", |b| {
        b.iter_batched(
            make,
            |tokens| runtime.block_on(drain(ours(tokens, rules().at(Boundary::Sentence)))),
            batched,
        );
    });
    group.bench_function("Rules: 16 tokens, 100ms, at lines", |b| {
        b.iter_batched(
            make,
            |tokens| runtime.block_on(drain(ours(tokens, rules().at(Boundary::Line)))),
            batched,
        );
    });
    group.finish();
}

fn bench_stream(c: &mut Criterion) {
    let owned = tokens();
    let borrowed: Vec<&str> = owned.iter().map(String::as_str).collect();
    bench_peers(c, "stream/1M &str tokens", || borrowed.clone());
    bench_peers(c, "stream/1M String tokens", || owned.clone());
    bench_options(c, &borrowed);
}

criterion_group!(benches, bench_stream);
criterion_main!(benches);
