//! The resume store contract, run against both stores: the in-memory store on a paused clock,
//! and the Redis store on a real `redis-server` (started here on a free loopback port, real
//! clock, one-second leases), with the producer and the reader on two store instances, as on
//! two server instances behind a load balancer.
//!
//! Then what only one store has: the memory store's stream limit, and the Redis store's
//! faults (Redis unreachable, Redis killed and restarted mid-stream), command count per
//! append, key layout and follower limit.
//!
//! Without `redis-server` the Redis tests are skipped with a loud message, unless
//! `TOKENFLUSH_EXTERNAL_TESTS=require` (as in CI), which makes them fail.

#![cfg(feature = "resume")]

#[cfg(feature = "redis")]
#[path = "support/redis.rs"]
mod redis_server;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use tokenflush::resume::{
    Entries, Entry, MemoryStore, Outcome, ResumeError, ResumeStore, StreamId, StreamOptions,
};
use tokio::time::{sleep, Instant};

const OWNER: &[u8] = b"0123456789abcdef0123456789abcdef";

/// A store to test, seen from two server instances.
struct Fixture {
    /// Where the producer appends.
    producer: Arc<dyn ResumeStore>,
    /// Where readers read: another instance for Redis.
    reader: Arc<dyn ResumeStore>,
    /// The lease the tests give producers; time-to-live values are multiples of it.
    lease: Duration,
    /// How much later than the lease a follower may report a dead producer.
    lost_slack: Duration,
    #[cfg(feature = "redis")]
    _server: Option<redis_server::RedisServer>,
}

impl Fixture {
    fn options(&self) -> StreamOptions {
        StreamOptions::new()
            .with_lease(self.lease)
            .with_live_ttl(self.lease * 3)
            .with_finished_ttl(self.lease * 3)
    }

    async fn create(&self, options: &StreamOptions) -> StreamId {
        self.producer.create(Some(OWNER), options).await.unwrap()
    }

    async fn append(&self, id: StreamId, seq: u64) {
        self.producer.append(id, seq, text(seq)).await.unwrap();
    }

    async fn read(&self, id: StreamId, after: Option<u64>) -> Result<Entries, ResumeError> {
        self.reader.read(id, Some(OWNER), after).await
    }

    /// Everything a read yields, to its end.
    async fn read_all(&self, id: StreamId, after: Option<u64>) -> Vec<Result<Entry, ResumeError>> {
        collect(self.read(id, after).await.unwrap()).await
    }
}

fn memory() -> Fixture {
    let store = Arc::new(MemoryStore::new());
    Fixture {
        producer: store.clone(),
        reader: store,
        lease: Duration::from_secs(10),
        // The paused clock is exact.
        lost_slack: Duration::ZERO,
        #[cfg(feature = "redis")]
        _server: None,
    }
}

#[cfg(feature = "redis")]
const POLL: Duration = Duration::from_millis(200);

#[cfg(feature = "redis")]
fn redis_store(server: &redis_server::RedisServer) -> tokenflush::resume::RedisStore {
    tokenflush::resume::RedisStore::new(&server.url())
        .unwrap()
        .with_poll_interval(POLL)
        // Generous for a loaded 2-core machine; the fault tests set their own.
        .with_timeout(Duration::from_secs(5))
}

#[cfg(feature = "redis")]
fn redis(test: &str) -> Option<Fixture> {
    let server = redis_server::RedisServer::start(test)?;
    Some(Fixture {
        producer: Arc::new(redis_store(&server)),
        reader: Arc::new(redis_store(&server)),
        lease: Duration::from_secs(1),
        // The poll interval, and room for a loaded machine.
        lost_slack: POLL + Duration::from_millis(1500),
        _server: Some(server),
    })
}

/// Each contract test runs against the memory store (paused clock) and Redis (real clock).
macro_rules! contract {
    ($($test:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(start_paused = true)]
                async fn $test() {
                    super::$test(super::memory()).await;
                }
            )*
        }

        #[cfg(feature = "redis")]
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    if let Some(fixture) = super::redis(stringify!($test)) {
                        super::$test(fixture).await;
                    }
                }
            )*
        }
    };
}

contract!(
    replay_then_follow,
    concurrent_readers,
    read_after_finish,
    failed_outcome,
    unknown_expired_and_foreign_streams_get_one_answer,
    caps_drop_the_oldest_and_say_so,
    a_follower_behind_the_caps_is_told,
    streams_expire,
    gaps_are_visible,
    a_crashed_producer_is_reported_lost_in_bounded_time,
    heartbeats_keep_a_silent_producer_alive,
);

fn text(seq: u64) -> Bytes {
    Bytes::from(format!("item {seq}"))
}

fn item(seq: u64) -> Result<Entry, ResumeError> {
    Ok(Entry::Item {
        seq,
        bytes: text(seq),
    })
}

fn items(seqs: impl IntoIterator<Item = u64>) -> Vec<Result<Entry, ResumeError>> {
    seqs.into_iter().map(item).collect()
}

fn finished() -> Result<Entry, ResumeError> {
    Ok(Entry::Finished(Outcome::Completed))
}

/// Everything `entries` yields. A hang fails the test (on the paused clock too).
async fn collect(entries: Entries) -> Vec<Result<Entry, ResumeError>> {
    tokio::time::timeout(Duration::from_secs(60), entries.collect())
        .await
        .expect("the read ends")
}

async fn next(entries: &mut Entries) -> Option<Result<Entry, ResumeError>> {
    tokio::time::timeout(Duration::from_secs(60), entries.next())
        .await
        .expect("an entry comes")
}

async fn replay_then_follow(f: Fixture) {
    let id = f.create(&f.options()).await;
    for seq in 0..3 {
        f.append(id, seq).await;
    }
    let mut reader = f.read(id, None).await.unwrap();
    for seq in 0..3 {
        assert_eq!(next(&mut reader).await, Some(item(seq)));
    }
    let producer = tokio::spawn({
        let store = f.producer.clone();
        let pause = f.lease / 10;
        async move {
            for seq in 3..6 {
                sleep(pause).await;
                store.append(id, seq, text(seq)).await.unwrap();
            }
            sleep(pause).await;
            store.finish(id, Outcome::Completed).await.unwrap();
        }
    });
    for seq in 3..6 {
        assert_eq!(next(&mut reader).await, Some(item(seq)));
    }
    assert_eq!(next(&mut reader).await, Some(finished()));
    assert_eq!(next(&mut reader).await, None);
    producer.await.unwrap();

    // A reader that saw up to item 3 before its connection dropped.
    let mut rest = items(4..6);
    rest.push(finished());
    assert_eq!(f.read_all(id, Some(3)).await, rest);
}

async fn concurrent_readers(f: Fixture) {
    let f = Arc::new(f);
    let id = f.create(&f.options()).await;
    let reader = |after: Option<u64>| {
        let f = Arc::clone(&f);
        tokio::spawn(async move { f.read_all(id, after).await })
    };
    let early = reader(None);
    f.append(id, 0).await;
    f.append(id, 1).await;
    let middle = reader(None);
    let resumed = reader(Some(0));
    for seq in 2..8 {
        sleep(f.lease / 20).await;
        f.append(id, seq).await;
    }
    let late = reader(None);
    sleep(f.lease / 20).await;
    f.producer.finish(id, Outcome::Completed).await.unwrap();

    let mut all = items(0..8);
    all.push(finished());
    assert_eq!(early.await.unwrap(), all);
    assert_eq!(middle.await.unwrap(), all);
    assert_eq!(late.await.unwrap(), all);
    assert_eq!(resumed.await.unwrap(), all[1..]);
}

async fn read_after_finish(f: Fixture) {
    let id = f.create(&f.options()).await;
    f.append(id, 0).await;
    f.append(id, 1).await;
    f.producer.finish(id, Outcome::Completed).await.unwrap();

    assert_eq!(f.read_all(id, None).await, [item(0), item(1), finished()]);
    assert_eq!(f.read_all(id, Some(0)).await, [item(1), finished()]);
    assert_eq!(f.read_all(id, Some(1)).await, [finished()]);
    // A client that claims more than was sent gets the end.
    assert_eq!(f.read_all(id, Some(1000)).await, [finished()]);
    assert_eq!(f.read_all(id, Some(u64::MAX)).await, [finished()]);

    // A stream that finished with no items.
    let empty = f.create(&f.options()).await;
    f.producer.finish(empty, Outcome::Completed).await.unwrap();
    assert_eq!(f.read_all(empty, None).await, [finished()]);
}

async fn failed_outcome(f: Fixture) {
    let id = f.create(&f.options()).await;
    f.append(id, 0).await;
    let failure = Outcome::Failed("the model is overloaded".to_owned());
    f.producer.finish(id, failure.clone()).await.unwrap();
    assert_eq!(
        f.read_all(id, None).await,
        [item(0), Ok(Entry::Finished(failure))]
    );

    // A finished stream takes nothing more.
    assert_eq!(
        f.producer.append(id, 1, text(1)).await,
        Err(ResumeError::Finished)
    );
    assert_eq!(f.producer.heartbeat(id).await, Err(ResumeError::Finished));
    assert_eq!(
        f.producer.finish(id, Outcome::Completed).await,
        Err(ResumeError::Finished)
    );

    // A long message is kept up to 4 KiB, cut at a character boundary.
    let long = f.create(&f.options()).await;
    let message = "é".repeat(3000) + "!";
    f.producer
        .finish(long, Outcome::Failed(message.clone()))
        .await
        .unwrap();
    let Ok(Entry::Finished(Outcome::Failed(kept))) = &f.read_all(long, None).await[0] else {
        panic!("a failed finish");
    };
    assert_eq!(kept.len(), 4096);
    assert!(message.starts_with(kept.as_str()));
}

async fn unknown_expired_and_foreign_streams_get_one_answer(f: Fixture) {
    let options = f.options().with_finished_ttl(f.lease);
    let id = f.create(&options).await;
    f.append(id, 0).await;
    let expired = f.create(&options).await;
    f.producer
        .finish(expired, Outcome::Completed)
        .await
        .unwrap();
    let unbound = f.producer.create(None, &options).await.unwrap();
    sleep(f.lease * 2).await;
    assert!(
        f.read(id, None).await.is_ok(),
        "the live stream is still there"
    );

    let mut altered = id.to_string().into_bytes();
    altered[31] = if altered[31] == b'0' { b'1' } else { b'0' };
    let altered: StreamId = String::from_utf8(altered).unwrap().parse().unwrap();

    let answers = [
        f.reader
            .read(StreamId::random().unwrap(), Some(OWNER), None)
            .await
            .err(),
        f.reader.read(altered, Some(OWNER), None).await.err(),
        f.reader.read(expired, Some(OWNER), None).await.err(),
        f.reader
            .read(id, Some(b"another caller's tag"), None)
            .await
            .err(),
        f.reader.read(id, Some(&OWNER[..31]), None).await.err(),
        f.reader.read(id, None, None).await.err(),
        f.reader.read(unbound, Some(OWNER), None).await.err(),
        "a guessed id".parse::<StreamId>().err(),
        "A".repeat(1 << 20).parse::<StreamId>().err(),
        id.to_string().to_uppercase().parse::<StreamId>().err(),
    ];
    for answer in &answers {
        let answer = answer.as_ref().expect("an error");
        assert_eq!(*answer, ResumeError::NotFound);
        assert_eq!(answer.to_string(), "unknown stream");
    }

    // A producer writing to a stream that is not there is told the same.
    let unknown = StreamId::random().unwrap();
    assert_eq!(
        f.producer.append(unknown, 0, text(0)).await,
        Err(ResumeError::NotFound)
    );
    assert_eq!(
        f.producer.heartbeat(unknown).await,
        Err(ResumeError::NotFound)
    );
    assert_eq!(
        f.producer.finish(unknown, Outcome::Completed).await,
        Err(ResumeError::NotFound)
    );
}

async fn caps_drop_the_oldest_and_say_so(f: Fixture) {
    // A hostile producer appends far more than the cap: the stream keeps the newest 5.
    let id = f.create(&f.options().with_max_entries(5)).await;
    for seq in 0..200 {
        f.append(id, seq).await;
    }
    f.producer.finish(id, Outcome::Completed).await.unwrap();
    assert_eq!(
        f.read(id, None).await.err(),
        Some(ResumeError::Trimmed { first: 195 })
    );
    assert_eq!(
        f.read(id, Some(193)).await.err(),
        Some(ResumeError::Trimmed { first: 195 })
    );
    let mut kept = items(195..200);
    kept.push(finished());
    assert_eq!(f.read_all(id, Some(194)).await, kept);
    assert_eq!(
        ResumeError::Trimmed { first: 195 }.to_string(),
        "entries before sequence number 195 are no longer stored"
    );

    // The byte cap: items of 6 bytes ("item 7"), 20 bytes kept.
    let id = f.create(&f.options().with_max_bytes(20)).await;
    for seq in 0..10 {
        f.append(id, seq).await;
    }
    assert_eq!(
        f.producer.append(id, 10, Bytes::from(vec![b'x'; 21])).await,
        Err(ResumeError::TooLarge { len: 21, max: 20 })
    );
    f.producer.finish(id, Outcome::Completed).await.unwrap();
    assert_eq!(
        f.read(id, Some(5)).await.err(),
        Some(ResumeError::Trimmed { first: 7 })
    );
    let mut kept = items(7..10);
    kept.push(finished());
    assert_eq!(f.read_all(id, Some(6)).await, kept);

    // Sequence numbers only go up, and stay below 2^53.
    let id = f.create(&f.options()).await;
    f.append(id, 3).await;
    assert_eq!(
        f.producer.append(id, 3, text(3)).await,
        Err(ResumeError::Sequence { seq: 3 })
    );
    assert_eq!(
        f.producer.append(id, 2, text(2)).await,
        Err(ResumeError::Sequence { seq: 2 })
    );
    assert_eq!(
        f.producer.append(id, 1 << 53, text(0)).await,
        Err(ResumeError::Sequence { seq: 1 << 53 })
    );
    f.producer.append(id, (1 << 53) - 1, text(0)).await.unwrap();
}

async fn a_follower_behind_the_caps_is_told(f: Fixture) {
    let id = f.create(&f.options().with_max_entries(3)).await;
    f.append(id, 0).await;
    let mut reader = f.read(id, None).await.unwrap();
    assert_eq!(next(&mut reader).await, Some(item(0)));
    for seq in 1..10 {
        f.append(id, seq).await;
    }
    assert_eq!(
        next(&mut reader).await,
        Some(Err(ResumeError::Trimmed { first: 7 }))
    );
    assert_eq!(next(&mut reader).await, None);
}

async fn streams_expire(f: Fixture) {
    let lease = f.lease;
    let options = StreamOptions::new()
        .with_lease(lease)
        .with_live_ttl(lease * 3)
        .with_finished_ttl(lease * 2);
    let silent = f.create(&options).await;
    f.append(silent, 0).await;
    let done = f.create(&options).await;
    f.append(done, 0).await;
    f.producer.finish(done, Outcome::Completed).await.unwrap();
    let kept_alive = f.create(&options).await;
    let heartbeats = tokio::spawn({
        let store = f.producer.clone();
        async move {
            for _ in 0..10 {
                sleep(lease / 2).await;
                store.heartbeat(kept_alive).await.unwrap();
            }
        }
    });

    sleep(lease * 5 / 2).await;
    assert_eq!(f.read(done, None).await.err(), Some(ResumeError::NotFound));
    // Still there, and its producer is gone.
    assert_eq!(f.read_all(silent, None).await, [item(0), Ok(Entry::Lost)]);

    sleep(lease).await;
    assert_eq!(
        f.read(silent, None).await.err(),
        Some(ResumeError::NotFound)
    );
    assert!(f.read(kept_alive, None).await.is_ok());
    heartbeats.await.unwrap();
    f.producer
        .finish(kept_alive, Outcome::Completed)
        .await
        .unwrap();
    assert_eq!(f.read_all(kept_alive, None).await, [finished()]);
}

async fn gaps_are_visible(f: Fixture) {
    let id = f.create(&f.options()).await;
    for seq in [0, 1, 4, 5] {
        f.append(id, seq).await;
    }
    f.producer.finish(id, Outcome::Completed).await.unwrap();
    assert_eq!(
        f.read_all(id, None).await,
        [
            item(0),
            item(1),
            Ok(Entry::Gap(2..4)),
            item(4),
            item(5),
            finished()
        ]
    );
    assert_eq!(
        f.read_all(id, Some(2)).await,
        [Ok(Entry::Gap(3..4)), item(4), item(5), finished()]
    );

    // A stream whose first items were never stored.
    let id = f.create(&f.options()).await;
    f.append(id, 2).await;
    f.producer.finish(id, Outcome::Completed).await.unwrap();
    assert_eq!(
        f.read_all(id, None).await,
        [Ok(Entry::Gap(0..2)), item(2), finished()]
    );
}

async fn a_crashed_producer_is_reported_lost_in_bounded_time(f: Fixture) {
    let id = f.create(&f.options()).await;
    let mut reader = f.read(id, None).await.unwrap();
    f.append(id, 0).await;
    f.append(id, 1).await;
    let last_write = Instant::now();
    // The producer is gone: no more appends, heartbeats or finish.
    assert_eq!(next(&mut reader).await, Some(item(0)));
    assert_eq!(next(&mut reader).await, Some(item(1)));
    assert_eq!(next(&mut reader).await, Some(Ok(Entry::Lost)));
    let waited = last_write.elapsed();
    assert!(
        waited >= f.lease - Duration::from_millis(50),
        "lost after {waited:?}, before the lease of {:?} ran out",
        f.lease
    );
    assert!(
        waited <= f.lease + f.lost_slack,
        "lost after {waited:?}, later than the lease {:?} + {:?}",
        f.lease,
        f.lost_slack
    );
    assert_eq!(next(&mut reader).await, None);

    // A reader that resumes afterwards gets everything stored, then the loss, at once.
    let started = Instant::now();
    assert_eq!(
        f.read_all(id, None).await,
        [item(0), item(1), Ok(Entry::Lost)]
    );
    assert!(started.elapsed() <= f.lost_slack);
}

async fn heartbeats_keep_a_silent_producer_alive(f: Fixture) {
    let id = f.create(&f.options()).await;
    f.append(id, 0).await;
    let reader = tokio::spawn({
        let store = f.reader.clone();
        async move { collect(store.read(id, Some(OWNER), None).await.unwrap()).await }
    });
    // Silent for three leases, thinking.
    for _ in 0..9 {
        sleep(f.lease / 3).await;
        f.producer.heartbeat(id).await.unwrap();
    }
    f.append(id, 1).await;
    f.producer.finish(id, Outcome::Completed).await.unwrap();
    assert_eq!(reader.await.unwrap(), [item(0), item(1), finished()]);
}

/// A flood of creates meets the limit with an error; streams that expire make room again, with
/// no background task.
#[tokio::test(start_paused = true)]
async fn memory_store_holds_a_bounded_number_of_streams() {
    let store = MemoryStore::new().with_max_streams(10);
    let short = StreamOptions::new().with_finished_ttl(Duration::from_secs(1));
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(store.create(None, &short).await.unwrap());
    }
    for _ in 0..10_000 {
        assert_eq!(
            store.create(None, &short).await.err(),
            Some(ResumeError::Limit {
                what: "streams",
                limit: 10
            })
        );
    }
    assert_eq!(
        ResumeError::Limit {
            what: "streams",
            limit: 10
        }
        .to_string(),
        "the resume store is at its limit of 10 streams"
    );
    for id in &ids[..4] {
        store.finish(*id, Outcome::Completed).await.unwrap();
    }
    sleep(Duration::from_secs(2)).await;
    for _ in 0..4 {
        store.create(None, &short).await.unwrap();
    }
    assert!(store.create(None, &short).await.is_err());
    assert!(format!("{store:?}").contains("streams: 10"));
}

/// Counts how often a stream is polled.
struct CountPolls {
    entries: Entries,
    polls: Arc<std::sync::atomic::AtomicUsize>,
}

impl futures::Stream for CountPolls {
    type Item = Result<Entry, ResumeError>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.polls
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        std::pin::Pin::new(&mut self.entries).poll_next(cx)
    }
}

/// A follower of a silent stream sleeps until an append, the finish or the end of the lease:
/// an hour of heartbeats every 3 s wakes it about once per lease, not per tick of a poll loop.
#[tokio::test(start_paused = true)]
async fn memory_store_followers_wait_without_polling() {
    let store = MemoryStore::new();
    let lease = Duration::from_secs(10);
    let id = store
        .create(None, &StreamOptions::new().with_lease(lease))
        .await
        .unwrap();
    store.append(id, 0, text(0)).await.unwrap();
    let polls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut follower = CountPolls {
        entries: store.read(id, None, Some(0)).await.unwrap(),
        polls: Arc::clone(&polls),
    };
    let reader = tokio::spawn(async move { follower.next().await });
    let silence = Duration::from_secs(60 * 60);
    let started = Instant::now();
    while started.elapsed() < silence {
        sleep(Duration::from_secs(3)).await;
        store.heartbeat(id).await.unwrap();
    }
    store.append(id, 1, text(1)).await.unwrap();
    assert_eq!(reader.await.unwrap(), Some(item(1)));
    let polls = polls.load(std::sync::atomic::Ordering::Relaxed);
    let leases = (silence.as_secs() / lease.as_secs()) as usize;
    assert!(
        polls <= 2 * leases + 2,
        "{polls} polls in {silence:?} of silence ({leases} leases)"
    );
}

#[cfg(feature = "redis")]
mod redis_faults {
    use super::*;
    use redis_server::RedisServer;
    use tokenflush::resume::RedisStore;

    /// The commands clients send to Redis, as `MONITOR` shows them. (`INFO commandstats`
    /// counts the commands scripts run too, so it cannot tell one script call from several
    /// commands.)
    struct Monitor {
        lines: Arc<std::sync::Mutex<Vec<String>>>,
        marker: ::redis::aio::MultiplexedConnection,
        marks: u32,
        _task: tokio::task::JoinHandle<()>,
    }

    impl Monitor {
        async fn start(server: &RedisServer) -> Self {
            use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
            let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", server.port()))
                .await
                .unwrap();
            socket.write_all(b"MONITOR\r\n").await.unwrap();
            let mut reader = tokio::io::BufReader::new(socket);
            let mut ok = String::new();
            reader.read_line(&mut ok).await.unwrap();
            assert_eq!(ok.trim_end(), "+OK");
            let lines = Arc::<std::sync::Mutex<Vec<String>>>::default();
            let task = tokio::spawn({
                let lines = Arc::clone(&lines);
                async move {
                    let mut line = String::new();
                    while reader.read_line(&mut line).await.is_ok_and(|read| read > 0) {
                        lines.lock().unwrap().push(std::mem::take(&mut line));
                    }
                }
            });
            let client = ::redis::Client::open(server.url()).unwrap();
            let marker = client.get_multiplexed_async_connection().await.unwrap();
            Self {
                lines,
                marker,
                marks: 0,
                _task: task,
            }
        }

        async fn mark(&mut self) -> String {
            self.marks += 1;
            let mark = format!("tokenflush-mark-{}", self.marks);
            let _: String = ::redis::cmd("ECHO")
                .arg(&mark)
                .query_async(&mut self.marker)
                .await
                .unwrap();
            format!("\"{mark}\"")
        }

        /// The commands clients sent while `work` ran, by name.
        async fn count<T>(
            &mut self,
            work: impl std::future::Future<Output = T>,
        ) -> (T, std::collections::BTreeMap<String, u64>) {
            let start = self.mark().await;
            let output = work.await;
            let end = self.mark().await;
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                {
                    let lines = self.lines.lock().unwrap();
                    if let Some(last) = lines.iter().position(|line| line.contains(&end)) {
                        let first = lines.iter().position(|line| line.contains(&start)).unwrap();
                        let mut counts = std::collections::BTreeMap::new();
                        for line in &lines[first + 1..last] {
                            // `+<time> [<db> <client>] "<command>" ...`; scripts' commands
                            // come from the client `lua`.
                            let (client, command) = line.split_once("] \"").unwrap();
                            if client.ends_with(" lua") {
                                continue;
                            }
                            let name = command.split('"').next().unwrap().to_lowercase();
                            *counts.entry(name).or_insert(0) += 1;
                        }
                        return (output, counts);
                    }
                }
                assert!(Instant::now() < deadline, "MONITOR shows the mark");
                sleep(Duration::from_millis(10)).await;
            }
        }
    }

    fn commands(
        counts: impl IntoIterator<Item = (&'static str, u64)>,
    ) -> std::collections::BTreeMap<String, u64> {
        counts
            .into_iter()
            .map(|(name, calls)| (name.to_owned(), calls))
            .collect()
    }

    fn percentile(sorted: &[Duration], fraction: f64) -> Duration {
        let index = ((sorted.len() - 1) as f64 * fraction).round() as usize;
        sorted[index]
    }

    /// One Redis command per append (the script), and what the other operations cost;
    /// prints the append latency on loopback.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn each_append_is_one_redis_command() {
        let Some(server) = RedisServer::start("commands") else {
            return;
        };
        let mut monitor = Monitor::start(&server).await;
        let store = redis_store(&server);
        let reader = redis_store(&server);
        let options = StreamOptions::new();
        // Redis loads each script once (`NOSCRIPT`, `SCRIPT LOAD`, the call again).
        let (id, first) = monitor.count(store.create(Some(OWNER), &options)).await;
        let id = id.unwrap();
        assert_eq!(first, commands([("evalsha", 2), ("script", 1)]));

        let (created, counts) = monitor.count(store.create(Some(OWNER), &options)).await;
        assert_eq!(counts, commands([("evalsha", 1)]));
        let _ = created.unwrap();

        store.append(id, 0, text(0)).await.unwrap();
        let appends = 2000;
        let item = Bytes::from(vec![b'x'; 40]);
        let (latencies, counts) = monitor
            .count(async {
                let mut latencies = Vec::with_capacity(appends);
                for seq in 1..=appends as u64 {
                    let started = std::time::Instant::now();
                    store.append(id, seq, item.clone()).await.unwrap();
                    latencies.push(started.elapsed());
                }
                latencies
            })
            .await;
        assert_eq!(counts, commands([("evalsha", appends as u64)]));

        store.heartbeat(id).await.unwrap();
        let (heartbeat, counts) = monitor.count(store.heartbeat(id)).await;
        heartbeat.unwrap();
        assert_eq!(counts, commands([("evalsha", 1)]));

        store
            .finish(StreamId::random().unwrap(), Outcome::Completed)
            .await
            .unwrap_err();
        let (finish, counts) = monitor.count(store.finish(id, Outcome::Completed)).await;
        finish.unwrap();
        assert_eq!(counts, commands([("evalsha", 1)]));

        // A read of a finished stream: the meta hash, then pages of 256 entries.
        let (entries, counts) = monitor
            .count(async { collect(reader.read(id, Some(OWNER), None).await.unwrap()).await })
            .await;
        assert_eq!(entries.len(), appends + 2);
        let pages = (appends as u64 + 2).div_ceil(256);
        assert_eq!(counts, commands([("hmget", 1), ("xrange", pages)]));

        let mut latencies = latencies;
        latencies.sort();
        eprintln!(
            "redis append latency on loopback over {appends} appends of 40 bytes: \
             p50 {:?}, p99 {:?}, max {:?}",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies[appends - 1],
        );
    }

    /// The keys share the stream id as hash tag, and all of them expire.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn keys_share_a_slot_and_expire() {
        let Some(server) = RedisServer::start("keys") else {
            return;
        };
        let store = redis_store(&server).with_key_prefix("app");
        let id = store
            .create(Some(OWNER), &StreamOptions::new())
            .await
            .unwrap();
        store.append(id, 0, text(0)).await.unwrap();

        let client = ::redis::Client::open(server.url()).unwrap();
        let mut connection = client.get_multiplexed_async_connection().await.unwrap();
        let mut keys: Vec<String> = ::redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut connection)
            .await
            .unwrap();
        keys.sort();
        assert_eq!(
            keys,
            [
                format!("app:{{{id}}}:l"),
                format!("app:{{{id}}}:m"),
                format!("app:{{{id}}}:s"),
            ]
        );
        for key in &keys {
            let ttl: i64 = ::redis::cmd("PTTL")
                .arg(key)
                .query_async(&mut connection)
                .await
                .unwrap();
            assert!(ttl > 0, "{key} expires");
        }
        store.finish(id, Outcome::Completed).await.unwrap();
        let lease: bool = ::redis::cmd("EXISTS")
            .arg(format!("app:{{{id}}}:l"))
            .query_async(&mut connection)
            .await
            .unwrap();
        assert!(!lease, "the finish ends the lease");
    }

    /// Nobody listens: `ping`, `create` and `read` fail at once with the connection error.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_unreachable_is_a_clear_error_at_once() {
        let port = redis_server::free_port();
        let store = RedisStore::new(&format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .with_timeout(Duration::from_secs(10));
        let started = std::time::Instant::now();
        let error = store.ping().await.unwrap_err();
        assert!(matches!(error, ResumeError::Unavailable(_)), "{error:?}");
        let error = store
            .create(Some(OWNER), &StreamOptions::new())
            .await
            .unwrap_err();
        assert!(matches!(error, ResumeError::Unavailable(_)), "{error:?}");
        let source = std::error::Error::source(&error).unwrap().to_string();
        assert!(source.to_lowercase().contains("refused"), "{source}");
        let error = store
            .read(StreamId::random().unwrap(), Some(OWNER), None)
            .await
            .err()
            .unwrap();
        assert!(matches!(error, ResumeError::Unavailable(_)), "{error:?}");
        // Well within the 10 s timeout: a refused connection is not retried.
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
    }

    /// A server that accepts connections and never answers: operations give up at the
    /// timeout.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_silent_redis_times_out() {
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = silent.local_addr().unwrap().port();
        let timeout = Duration::from_millis(500);
        let store = RedisStore::new(&format!("redis://127.0.0.1:{port}/"))
            .unwrap()
            .with_timeout(timeout);
        let started = std::time::Instant::now();
        let error = store
            .create(Some(OWNER), &StreamOptions::new())
            .await
            .unwrap_err();
        assert_eq!(error, ResumeError::Timeout(timeout));
        assert_eq!(
            error.to_string(),
            "the resume store did not answer within 500ms"
        );
        let error = store
            .append(StreamId::random().unwrap(), 0, text(0))
            .await
            .unwrap_err();
        assert_eq!(error, ResumeError::Timeout(timeout));
        assert!(started.elapsed() < timeout * 2 + Duration::from_secs(2));
        drop(silent);
    }

    /// The store remembers the streams it produces (to recreate them if Redis loses them)
    /// until they finish, or expire when their producer never finished.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn producers_are_forgotten_when_finished_or_expired() {
        let Some(server) = RedisServer::start("producers") else {
            return;
        };
        let store = redis_store(&server);
        let producing = |store: &RedisStore| {
            let debug = format!("{store:?}");
            let count = debug.split("producing: ").nth(1).unwrap();
            count
                .split([',', ' '])
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap()
        };
        let finished = StreamOptions::new();
        for _ in 0..200 {
            let id = store.create(None, &finished).await.unwrap();
            store.finish(id, Outcome::Completed).await.unwrap();
        }
        assert_eq!(producing(&store), 0);
        // Producers that vanish without finishing: their streams expire in 5 ms.
        let abandoned = StreamOptions::new()
            .with_lease(Duration::from_millis(5))
            .with_live_ttl(Duration::from_millis(5));
        for round in 0..10 {
            for _ in 0..100 {
                store.create(None, &abandoned).await.unwrap();
            }
            assert!(producing(&store) <= 200, "round {round}: {store:?}");
            sleep(Duration::from_millis(10)).await;
        }
    }

    /// Redis is killed mid-stream: appends fail fast while it is down, succeed once it is back,
    /// and a reader sees what was lost as a gap.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_restart_mid_stream() {
        let Some(mut server) = RedisServer::start("restart") else {
            return;
        };
        let timeout = Duration::from_secs(2);
        let producer = redis_store(&server).with_timeout(timeout);
        let id = producer
            .create(Some(OWNER), &StreamOptions::new())
            .await
            .unwrap();
        for seq in 0..5 {
            producer.append(id, seq, text(seq)).await.unwrap();
        }

        server.kill();
        for seq in 5..10 {
            let started = std::time::Instant::now();
            let error = producer.append(id, seq, text(seq)).await.unwrap_err();
            assert!(
                matches!(error, ResumeError::Unavailable(_) | ResumeError::Timeout(_)),
                "{error:?}"
            );
            assert!(started.elapsed() <= timeout + Duration::from_secs(1));
        }

        server.restart();
        // The connection comes back on its own; an append or two may still find it down.
        let mut seq = 10;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while producer.append(id, seq, text(seq)).await.is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "appends succeed again"
            );
            seq += 1;
            sleep(Duration::from_millis(50)).await;
        }
        let resumed_at = seq;
        for seq in resumed_at + 1..resumed_at + 5 {
            producer.append(id, seq, text(seq)).await.unwrap();
        }
        producer.finish(id, Outcome::Completed).await.unwrap();

        // Redis lost everything (no persistence): the stream was recreated with its owner.
        let reader = redis_store(&server);
        let mut expected = vec![Ok(Entry::Gap(0..resumed_at))];
        expected.extend(items(resumed_at..resumed_at + 5));
        expected.push(finished());
        assert_eq!(
            collect(reader.read(id, Some(OWNER), None).await.unwrap()).await,
            expected
        );
        assert_eq!(
            reader.read(id, Some(b"someone else"), None).await.err(),
            Some(ResumeError::NotFound)
        );
    }

    /// Followers hold a connection each; past the limit, one more is refused.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn followers_are_limited() {
        let Some(server) = RedisServer::start("followers") else {
            return;
        };
        let producer = redis_store(&server);
        let reader = redis_store(&server).with_max_followers(1);
        let id = producer.create(None, &StreamOptions::new()).await.unwrap();
        producer.append(id, 0, text(0)).await.unwrap();

        let mut first = reader.read(id, None, None).await.unwrap();
        assert_eq!(next(&mut first).await, Some(item(0)));
        let waiting = tokio::spawn(async move {
            let entry = next(&mut first).await;
            (entry, first)
        });
        sleep(POLL).await;
        let mut second = reader.read(id, None, None).await.unwrap();
        assert_eq!(next(&mut second).await, Some(item(0)));
        assert_eq!(
            next(&mut second).await,
            Some(Err(ResumeError::Limit {
                what: "followers",
                limit: 1
            }))
        );
        producer.append(id, 1, text(1)).await.unwrap();
        let (entry, first) = waiting.await.unwrap();
        assert_eq!(entry, Some(item(1)));
        // The place is free again once a follower is dropped.
        drop(first);
        let mut third = reader.read(id, None, Some(0)).await.unwrap();
        assert_eq!(next(&mut third).await, Some(item(1)));
        producer.finish(id, Outcome::Completed).await.unwrap();
        assert_eq!(next(&mut third).await, Some(finished()));
    }
}
