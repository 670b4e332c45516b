//! Compile-time checks: the adapters are `Send`, `Sync` and `Unpin` when their parts are, and
//! policies work as trait objects.

use std::io;
use std::time::Duration;

use futures::stream::Iter;
use tokenflush::policy::{FixedBatch, FlushPolicy, Immediate, TimeBounded};
use tokenflush::utf8::Utf8Decoder;
use tokenflush::{Chunk, FlushExt, FlushWith, TryFlushWith};

fn send_sync_unpin<T: Send + Sync + Unpin>() {}
fn send_unpin<T: Send + Unpin>() {}

type Tokens = Iter<std::vec::IntoIter<String>>;
type FallibleTokens = Iter<std::vec::IntoIter<Result<bytes::Bytes, io::Error>>>;

#[test]
fn adapters_are_send_sync_unpin_when_their_parts_are() {
    send_sync_unpin::<FlushWith<Tokens, Immediate>>();
    send_sync_unpin::<FlushWith<Tokens, FixedBatch>>();
    send_sync_unpin::<FlushWith<Tokens, TimeBounded>>();
    send_sync_unpin::<TryFlushWith<FallibleTokens, TimeBounded>>();
    send_sync_unpin::<FlushWith<Tokens, Box<dyn FlushPolicy + Send + Sync>>>();
    // A per-request policy that is only `Send` still makes a `Send` adapter.
    send_unpin::<FlushWith<Tokens, Box<dyn FlushPolicy + Send>>>();
}

#[test]
fn values_are_send_and_sync() {
    send_sync_unpin::<Chunk>();
    send_sync_unpin::<Utf8Decoder>();
    send_sync_unpin::<Immediate>();
    send_sync_unpin::<FixedBatch>();
    send_sync_unpin::<TimeBounded>();
}

#[test]
fn policies_are_object_safe() {
    let policies: Vec<Box<dyn FlushPolicy + Send>> = vec![
        Box::new(Immediate::new()),
        Box::new(FixedBatch::new(8)),
        Box::new(TimeBounded::new(4, Duration::from_millis(100))),
    ];
    for policy in policies {
        let adapter = futures::stream::iter(vec![String::from("x")]).flush_with(policy);
        assert!(format!("{adapter:?}").contains("FlushWith"));
    }
}

#[cfg(feature = "resume")]
#[test]
fn resume_stores_are_shared_objects() {
    use std::sync::Arc;

    use tokenflush::resume::{
        Entries, Entry, MemoryStore, Outcome, ResumeError, ResumeStore, StreamId, StreamOptions,
    };

    fn error<T: std::error::Error + Send + Sync + 'static>() {}

    send_sync_unpin::<MemoryStore>();
    send_sync_unpin::<StreamId>();
    send_sync_unpin::<StreamOptions>();
    send_sync_unpin::<Entry>();
    send_sync_unpin::<Outcome>();
    send_sync_unpin::<ResumeError>();
    error::<ResumeError>();
    // Readers go into response bodies, which need `Send`.
    send_unpin::<Entries>();
    #[cfg(feature = "redis")]
    send_sync_unpin::<tokenflush::resume::RedisStore>();
    // Servers share the relay between requests; its readers go into response bodies.
    send_sync_unpin::<tokenflush::resume::Relay>();
    send_sync_unpin::<tokenflush::resume::EventId>();
    send_unpin::<tokenflush::resume::ResumeSse<tokenflush::sse::TextEvents>>();
    send_unpin::<tokenflush::resume::ResumeSse<Box<dyn tokenflush::sse::Format + Send>>>();
    // Servers choose the store at start-up and share it.
    let store: Arc<dyn ResumeStore> = Arc::new(MemoryStore::new());
    send_sync_unpin::<Arc<dyn ResumeStore>>();
    assert!(format!("{store:?}").starts_with("MemoryStore"));
}
