//! The resume stores' resource bounds against hostile input, measured: the in-memory store's
//! peak heap under a producer that appends forever and under a flood of creates, its memory
//! per stored entry, and the cost of rejecting a huge stream id text; the relay's: a huge
//! `Last-Event-ID` rejected in constant time without allocating, and a stored item that
//! claims to be huge read back without allocating what it claims. A counting global
//! allocator needs a test binary of its own, and counts every thread's allocations: the checks
//! run one after another in one test.

use std::hint::black_box;
use std::time::{Duration, Instant};

use std::sync::Arc;

use bytes::Bytes;
use futures::StreamExt;
use tokenflush::resume::{
    EventId, MemoryStore, Outcome, Relay, ResumeError, ResumeStore, StreamId, StreamOptions,
};
use tokenflush::sse::TextEvents;

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

/// dhat counts every thread's allocations, and the test harness's own thread allocates while it
/// waits for a test: this binary has no harness.
fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        a_producer_appending_forever_stays_within_the_caps().await;
        a_flood_of_creates_meets_the_limit_not_the_heap().await;
        memory_per_stored_entry().await;
        a_huge_last_event_id_allocates_nothing().await;
        a_stored_item_claiming_to_be_huge_allocates_what_it_is().await;
    });
    a_huge_id_text_is_rejected_in_constant_time();
    a_huge_last_event_id_is_rejected_in_constant_time();
    println!("7 passed, 0 failed");
}

/// The heap's peak while `work` runs, under a profiler of its own, and the bytes still held
/// at its end.
async fn peak_of<T>(work: impl std::future::Future<Output = T>) -> (usize, usize, T) {
    let profiler = dhat::Profiler::builder().testing().build();
    let output = work.await;
    let stats = dhat::HeapStats::get();
    drop(profiler);
    (stats.max_bytes, stats.curr_bytes, output)
}

/// A producer that appends without end stays within its stream's caps: ten times as many
/// appends take no more memory.
async fn a_producer_appending_forever_stays_within_the_caps() {
    let max_bytes = 64 * 1024;
    let max_entries = 1000;
    let producer = |appends: u64| async move {
        let store = MemoryStore::new();
        let options = StreamOptions::new()
            .with_max_entries(max_entries)
            .with_max_bytes(max_bytes);
        let id = store.create(None, &options).await.unwrap();
        for seq in 0..appends {
            store
                .append(id, seq, Bytes::from(vec![b'x'; 100]))
                .await
                .unwrap();
        }
        store
    };
    let (peak, held, _store) = peak_of(producer(20_000)).await;
    let (ten_times, _, _store) = peak_of(producer(200_000)).await;
    eprintln!(
        "a stream capped at {max_bytes} bytes: {held} bytes held, peak {peak} bytes over 20 000 \
         appends of 100 bytes, {ten_times} over 200 000"
    );
    assert!(ten_times <= peak + 1024, "{ten_times} bytes against {peak}");
    // The items (at most `max_bytes`), their slots (40 bytes, at most doubled by the array's
    // growth) and the stream's own record.
    assert!(
        held <= max_bytes + max_entries * 80 + 4096,
        "{held} bytes held"
    );
}

/// A flood of creates past the limit is refused with an error: a hundred times as many take no
/// more memory, and leave nothing behind.
async fn a_flood_of_creates_meets_the_limit_not_the_heap() {
    let flood = |refused: usize| async move {
        let store = MemoryStore::new().with_max_streams(1000);
        let options = StreamOptions::new();
        for _ in 0..1000 {
            store.create(Some(b"tag"), &options).await.unwrap();
        }
        let held = dhat::HeapStats::get().curr_bytes;
        for _ in 0..refused {
            let refusal = store.create(Some(b"tag"), &options).await.unwrap_err();
            assert!(matches!(refusal, ResumeError::Limit { .. }), "{refusal:?}");
        }
        assert_eq!(
            dhat::HeapStats::get().curr_bytes,
            held,
            "refused creates leave nothing behind"
        );
        (store, held)
    };
    let (peak, _, (_store, held)) = peak_of(flood(1_000)).await;
    let (hundred_times, _, _store) = peak_of(flood(100_000)).await;
    eprintln!(
        "1000 empty streams hold {held} bytes ({} per stream); peak {peak} bytes with 1 000 \
         refused creates, {hundred_times} with 100 000",
        held / 1000
    );
    // A hundred times the refusals: the same peak, within the noise of the map's layout.
    assert!(
        hundred_times <= peak + peak / 50,
        "{hundred_times} bytes against {peak}"
    );
}

/// Memory per stored entry, beyond the item's own bytes.
async fn memory_per_stored_entry() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let store = MemoryStore::new();
    let entries = 10_000_u64;
    let options = StreamOptions::new().with_max_entries(entries as usize);
    let id = store.create(None, &options).await.unwrap();
    let item_len = 32;
    let before = dhat::HeapStats::get().curr_bytes;
    for seq in 0..entries {
        let item = Bytes::from(vec![b'x'; item_len]);
        store.append(id, seq, item).await.unwrap();
    }
    let held = dhat::HeapStats::get().curr_bytes - before;
    let per_entry = held as f64 / entries as f64;
    let overhead = per_entry - item_len as f64;
    eprintln!(
        "memory store: {per_entry:.1} bytes per entry of {item_len} bytes ({overhead:.1} of overhead, \
         with the slot array's growth)"
    );
    // A slot (sequence number and `Bytes`: 40 bytes), doubled at worst by the array's growth.
    assert!(
        overhead <= 80.0,
        "{overhead:.1} bytes of overhead per entry"
    );
}

/// Parsing a stream id looks at the length first: a megabyte of text costs what 40 bytes cost.
fn a_huge_id_text_is_rejected_in_constant_time() {
    let small = "a".repeat(40);
    let huge = "a".repeat(1 << 20);
    let time = |text: &str| {
        (0..5)
            .map(|_| {
                let started = Instant::now();
                for _ in 0..100_000 {
                    assert!(black_box(text).parse::<StreamId>().is_err());
                }
                started.elapsed()
            })
            .min()
            .unwrap_or(Duration::ZERO)
    };
    let (small, huge) = (time(&small), time(&huge));
    // 26 000 times the input; a linear scan would take thousands of times longer.
    assert!(
        huge < small * 8 + Duration::from_millis(5),
        "1 MiB: {huge:?}, 40 bytes: {small:?}"
    );
}

/// A megabyte of `Last-Event-ID` is turned away without a byte allocated, and with the answer
/// of an unknown stream.
async fn a_huge_last_event_id_allocates_nothing() {
    let relay = Relay::new(Arc::new(MemoryStore::new()));
    let huge = "7".repeat(1 << 20);
    let (peak, _, refused) = peak_of(async {
        let before = dhat::HeapStats::get().total_blocks;
        let refused = relay
            .resume(&huge, None, |_| TextEvents::new())
            .await
            .map(|_| ())
            .unwrap_err();
        (refused, dhat::HeapStats::get().total_blocks - before)
    })
    .await;
    let (refused, blocks) = refused;
    assert_eq!(refused, ResumeError::NotFound);
    assert_eq!(blocks, 0, "allocations for a 1 MiB Last-Event-ID");
    eprintln!("a 1 MiB Last-Event-ID: refused with {blocks} allocations, peak {peak} bytes");
}

/// A stored item whose length field claims 2^62 bytes is reported as damage; reading it
/// allocates about what the item is, not what it claims.
async fn a_stored_item_claiming_to_be_huge_allocates_what_it_is() {
    let store = Arc::new(MemoryStore::new());
    let relay = Relay::new(store.clone());
    let id = store.create(None, &StreamOptions::new()).await.unwrap();
    // Version 1, a header, whose length is a varint of 2^62, then a little.
    let mut item = vec![1, 1, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40];
    item.extend_from_slice(&[b'x'; 100]);
    store.append(id, 0, Bytes::from(item)).await.unwrap();
    store.finish(id, Outcome::Completed).await.unwrap();
    let last_event_id = format!("{id}-0-0");
    let (peak, _, frames) = peak_of(async {
        let reader = relay
            .resume(&last_event_id, None, |meta| {
                assert_eq!(meta, None);
                TextEvents::new()
            })
            .await
            .unwrap();
        reader.collect::<Vec<_>>().await
    })
    .await;
    assert_eq!(frames.len(), 1);
    assert!(frames[0].starts_with(b"event: error\n"), "{:?}", frames[0]);
    eprintln!("a stored item claiming 2^62 bytes: read back at a peak of {peak} bytes");
    assert!(peak < 64 * 1024, "peak {peak} bytes");
}

/// Parsing a `Last-Event-ID` looks at the length first: a megabyte costs what 60 bytes cost.
fn a_huge_last_event_id_is_rejected_in_constant_time() {
    let small = "7".repeat(61);
    let huge = "7".repeat(1 << 20);
    let time = |text: &str| {
        (0..5)
            .map(|_| {
                let started = Instant::now();
                for _ in 0..100_000 {
                    assert!(black_box(text).parse::<EventId>().is_err());
                }
                started.elapsed()
            })
            .min()
            .unwrap_or(Duration::ZERO)
    };
    let (small, huge) = (time(&small), time(&huge));
    eprintln!(
        "Last-Event-ID rejected: 61 bytes in {:?}, 1 MiB in {:?} (per parse)",
        small / 100_000,
        huge / 100_000
    );
    // 17 000 times the input; a linear scan would take thousands of times longer.
    assert!(
        huge < small * 8 + Duration::from_millis(5),
        "1 MiB: {huge:?}, 61 bytes: {small:?}"
    );
}
