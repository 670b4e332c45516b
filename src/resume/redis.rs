use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};
use tokio::sync::{OnceCell, Semaphore};

use super::cursor::{Cursor, MAX_SEQ};
use super::unfold::Unfold;
use super::{
    owner, Entries, Outcome, ResumeError, ResumeFuture, ResumeStore, StreamId, StreamOptions,
};

mod reader;
mod scripts;

use reader::Reader;

/// A resume store on Redis, shared by every server instance that connects to it (feature
/// `redis`): a reader that reconnects to another instance resumes there.
///
/// # Data model
///
/// Each stream has three keys with the stream id as their hash tag (`{id}`), so they live in
/// one slot and one script may touch all of them:
///
/// | key | type | holds |
/// |---|---|---|
/// | `<prefix>:{<id>}:s` | Redis Stream | the items, entry id `<seq+1>-0`, field `d`; the finish, entry id `<next>-1`, fields `f` (`completed` / `failed`) and `e` (the message) |
/// | `<prefix>:{<id>}:m` | hash | the owner tag, live or done, the next sequence number, the first one the caps kept, the bytes kept, the options |
/// | `<prefix>:{<id>}:l` | string with a `PX` expiry | the producer's lease: present while the producer is alive |
///
/// Why a Redis Stream: entries with ids of our choosing make replay from a sequence number
/// one `XRANGE` (no scan, no index of our own), the finish is an entry like the items, so a
/// follower's `XREAD` wakes for both, and everything the producer sent before a crash is in
/// Redis, not in the producer's memory (where Vercel's `resumable-stream` keeps it, so that a
/// crash of the producing process loses the stream). Each producer operation is one Lua script
/// (`EVALSHA`): one Redis command per append, which adds the item, trims the stream to its
/// caps, renews the time-to-live and the lease at once. With a flush policy that emits one
/// chunk per ~3 tokens that is ~0.32 writes per token, against one per token for a store that
/// writes every token.
///
/// Why followers use `XREAD BLOCK` rather than pub/sub: readers on the producing instance never
/// read Redis (the server sends them items from memory), so a Redis follower exists only after
/// a reconnect to another instance — rare, and short-lived. `XREAD BLOCK` costs appends
/// nothing (a `PUBLISH` in every append would be paid for every chunk of every stream, even
/// with nobody following, and is broadcast to every node of a cluster), cannot miss a message
/// (a subscriber that reconnects misses what was published meanwhile and must poll anyway),
/// and needs no coordination. Its price is a connection per remote follower while it
/// follows, which [`with_max_followers`](Self::with_max_followers) bounds.
///
/// # Commands per operation
///
/// | operation | Redis commands |
/// |---|---|
/// | `create`, `append`, `heartbeat`, `finish` | 1 (`EVALSHA`; the first call of each script after Redis restarts adds `SCRIPT LOAD` and a retry) |
/// | `append`, `heartbeat`, `finish` after Redis lost the stream | 3: the script, a re-`create`, the script again |
/// | `read` | 1 `HMGET`, then 1 `XRANGE` per 256 stored entries |
/// | following | 1 `XREAD BLOCK` per batch of new entries, or per poll interval while the stream is silent, plus 1 `EXISTS` (the lease) before each block; when the lease is gone, 1 `XRANGE` and at most 1 `XREVRANGE` to tell the finish from a loss; a connection of its own |
/// | a reader that meets a jump in sequence numbers | 1 `HGET`: a gap, or items the caps dropped |
///
/// # Faults
///
/// - Redis unreachable: every operation fails within [`with_timeout`](Self::with_timeout)
///   (1 s by default), at once when the connection is refused, with
///   [`ResumeError::Unavailable`] or [`ResumeError::Timeout`]; a producer keeps serving its
///   live readers. The connection is re-established on the next operation: appends succeed
///   again as soon as Redis is back.
/// - Redis restarted and lost the stream: the producer's next operation recreates it (this
///   store remembers the owner tag and options of the streams it created until they finish).
///   Readers that resume see the lost items as an [`Entry::Gap`](super::Entry::Gap).
/// - The producer dies: its lease runs out; a follower reports
///   [`Entry::Lost`](super::Entry::Lost) within the lease plus one
///   [poll interval](Self::with_poll_interval) (plus one command's time) after the
///   producer's last append or heartbeat.
/// - A follower's connection fails: its entries end with the error; the client resumes again
///   from the last item it received.
///
/// Keys expire by themselves (`PEXPIRE`); run Redis with memory to spare or `noeviction`, since
/// an eviction policy that removes a lease early makes followers report the stream lost.
/// The keys are ready for Redis Cluster (one slot per stream), but this store connects to one
/// server.
///
/// # Examples
///
/// ```no_run
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use bytes::Bytes;
/// use tokenflush::resume::{Outcome, RedisStore, ResumeStore, StreamOptions};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenflush::resume::ResumeError> {
/// let store = RedisStore::new("redis://127.0.0.1:6379/")?
///     .with_timeout(Duration::from_millis(500))
///     .with_key_prefix("chat");
/// store.ping().await?; // fail at start-up if Redis is not there
/// let store: Arc<dyn ResumeStore> = Arc::new(store);
///
/// let id = store.create(None, &StreamOptions::new()).await?;
/// store.append(id, 0, Bytes::from("Hello")).await?;
/// store.finish(id, Outcome::Completed).await?;
/// # Ok(())
/// # }
/// ```
pub struct RedisStore {
    client: Client,
    manager: OnceCell<ConnectionManager>,
    settings: Arc<Settings>,
    followers: Arc<Semaphore>,
    producers: Mutex<Producers>,
}

/// What the store and its readers need to know.
#[derive(Clone, Debug)]
pub(super) struct Settings {
    pub(super) prefix: String,
    pub(super) connect_timeout: Duration,
    pub(super) timeout: Duration,
    pub(super) poll_interval: Duration,
    pub(super) max_followers: usize,
}

/// The streams this store created and has not finished: what it needs to recreate one that
/// Redis lost.
#[derive(Default)]
struct Producers {
    streams: HashMap<StreamId, Producer>,
    /// Sweep forgotten streams when there are this many.
    sweep_at: usize,
}

struct Producer {
    owner: Option<Box<[u8]>>,
    options: StreamOptions,
    touched: std::time::Instant,
}

/// Below this many producers, none are swept.
const MIN_SWEEP: usize = 64;

impl fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the URL: it may hold a password.
        f.debug_struct("RedisStore")
            .field("prefix", &self.settings.prefix)
            .field("connect_timeout", &self.settings.connect_timeout)
            .field("timeout", &self.settings.timeout)
            .field("poll_interval", &self.settings.poll_interval)
            .field("max_followers", &self.settings.max_followers)
            .field("producing", &self.producers().streams.len())
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// A store on the Redis server at `url` (`redis://[user:password@]host[:port][/db]`,
    /// `redis+unix:///path`). It connects on first use; [`ping`](Self::ping) checks the
    /// server at start-up.
    ///
    /// # Errors
    ///
    /// [`ResumeError::Unavailable`] if `url` is not a Redis URL.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::resume::RedisStore;
    ///
    /// assert!(RedisStore::new("redis://127.0.0.1:6379/").is_ok());
    /// assert!(RedisStore::new("http://example.com/").is_err());
    /// ```
    pub fn new(url: &str) -> Result<Self, ResumeError> {
        let client = Client::open(url).map_err(unavailable)?;
        Ok(Self {
            client,
            manager: OnceCell::new(),
            settings: Arc::new(Settings {
                prefix: "tokenflush".to_owned(),
                connect_timeout: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
                poll_interval: Duration::from_secs(1),
                max_followers: 256,
            }),
            followers: Arc::new(Semaphore::new(256)),
            producers: Mutex::default(),
        })
    }

    fn settings_mut(&mut self) -> &mut Settings {
        Arc::make_mut(&mut self.settings)
    }

    /// Sets how long connecting to Redis may take (1 s by default).
    ///
    /// # Panics
    ///
    /// If `timeout` is zero.
    #[track_caller]
    #[must_use]
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        assert!(
            !timeout.is_zero(),
            "RedisStore::with_connect_timeout: the timeout must not be zero"
        );
        self.settings_mut().connect_timeout = timeout;
        self
    }

    /// Sets how long an operation may take in all, connecting included (1 s by default): an
    /// append while Redis is down fails within it, so the producer can go on serving its live
    /// readers.
    ///
    /// # Panics
    ///
    /// If `timeout` is zero.
    #[track_caller]
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        assert!(
            !timeout.is_zero(),
            "RedisStore::with_timeout: the timeout must not be zero"
        );
        self.settings_mut().timeout = timeout;
        self
    }

    /// Sets how long a follower's `XREAD` blocks before it checks the producer's lease (1 s by
    /// default): a follower reports a dead producer within the lease plus this interval.
    ///
    /// # Panics
    ///
    /// If `interval` is shorter than a millisecond.
    #[track_caller]
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        assert!(
            interval >= Duration::from_millis(1),
            "RedisStore::with_poll_interval: the interval must be at least a millisecond"
        );
        self.settings_mut().poll_interval = interval;
        self
    }

    /// Sets the prefix of the store's keys (`tokenflush` by default), to share a Redis
    /// database with other data or other stores.
    ///
    /// # Panics
    ///
    /// If `prefix` contains `{` or `}`, which would change the keys' hash slot.
    #[track_caller]
    #[must_use]
    pub fn with_key_prefix(mut self, prefix: &str) -> Self {
        assert!(
            !prefix.contains(['{', '}']),
            "RedisStore::with_key_prefix: the prefix must not contain braces (they pick the hash slot)"
        );
        self.settings_mut().prefix = prefix.to_owned();
        self
    }

    /// Sets how many readers may follow live streams through this store at once, each on a
    /// Redis connection of its own (256 by default). One more gets
    /// [`ResumeError::Limit`] when it starts to follow.
    ///
    /// # Panics
    ///
    /// If `max_followers` is 0.
    #[track_caller]
    #[must_use]
    pub fn with_max_followers(mut self, max_followers: usize) -> Self {
        assert!(
            max_followers > 0,
            "RedisStore::with_max_followers: must allow at least one follower"
        );
        self.settings_mut().max_followers = max_followers;
        self.followers = Arc::new(Semaphore::new(max_followers));
        self
    }

    /// Checks that Redis answers, within the timeout.
    ///
    /// # Errors
    ///
    /// [`ResumeError::Unavailable`] or [`ResumeError::Timeout`].
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: a `PING` changes nothing.
    pub async fn ping(&self) -> Result<(), ResumeError> {
        self.bounded(async {
            let mut connection = self.connection().await?;
            redis::cmd("PING")
                .query_async::<()>(&mut connection)
                .await
                .map_err(|error| failure(error, self.settings.timeout))
        })
        .await
    }

    /// The shared connection, created on first use.
    async fn connection(&self) -> Result<ConnectionManager, ResumeError> {
        let settings = &self.settings;
        self.manager
            .get_or_try_init(|| async {
                // No retries inside the manager: an operation while Redis is down fails at
                // once (or at the connect timeout), and the next one tries again.
                let config = ConnectionManagerConfig::new()
                    .set_number_of_retries(0)
                    .set_connection_timeout(Some(settings.connect_timeout))
                    .set_response_timeout(Some(settings.timeout));
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
                    .map_err(unavailable)
            })
            .await
            .cloned()
    }

    /// `operation`, failing with [`ResumeError::Timeout`] if it takes longer than the timeout.
    async fn bounded<T>(
        &self,
        operation: impl Future<Output = Result<T, ResumeError>>,
    ) -> Result<T, ResumeError> {
        let timeout = self.settings.timeout;
        tokio::time::timeout(timeout, operation)
            .await
            .unwrap_or(Err(ResumeError::Timeout(timeout)))
    }

    /// Runs one of the producer's scripts on the stream's keys: `(code, detail)`.
    async fn run(
        &self,
        script: &Script,
        id: StreamId,
        args: &[&[u8]],
    ) -> Result<(i64, i64), ResumeError> {
        let keys = Keys::new(&self.settings.prefix, id);
        let mut invocation = script.key(&keys.meta);
        invocation.key(&keys.stream).key(&keys.lease);
        for arg in args {
            invocation.arg(*arg);
        }
        let mut connection = self.connection().await?;
        invocation
            .invoke_async::<(i64, i64)>(&mut connection)
            .await
            .map_err(|error| failure(error, self.settings.timeout))
    }

    /// Runs a producer's script; if Redis lost a stream this store created, recreates it and
    /// runs the script again.
    async fn run_producing(
        &self,
        script: &Script,
        id: StreamId,
        args: &[&[u8]],
    ) -> Result<(i64, i64), ResumeError> {
        let answer = self.run(script, id, args).await?;
        if answer.0 != scripts::NOT_FOUND {
            return Ok(answer);
        }
        let Some((owner, options)) = self
            .producers()
            .streams
            .get(&id)
            .map(|producer| (producer.owner.clone(), producer.options.clone()))
        else {
            return Ok(answer);
        };
        self.run_create(id, owner.as_deref(), &options).await?;
        self.run(script, id, args).await
    }

    async fn run_create(
        &self,
        id: StreamId,
        owner: Option<&[u8]>,
        options: &StreamOptions,
    ) -> Result<(i64, i64), ResumeError> {
        let owner = encode_owner(owner);
        let lease = millis(options.lease());
        let live_ttl = millis(options.effective_live_ttl());
        let finished_ttl = millis(options.finished_ttl());
        let max_entries = options.max_entries().to_string();
        let max_bytes = options.max_bytes().to_string();
        self.run(
            &scripts::CREATE,
            id,
            &[
                &owner,
                lease.as_bytes(),
                live_ttl.as_bytes(),
                finished_ttl.as_bytes(),
                max_entries.as_bytes(),
                max_bytes.as_bytes(),
            ],
        )
        .await
    }

    fn producers(&self) -> MutexGuard<'_, Producers> {
        // No code panics while holding the lock; the map stays consistent if some did.
        self.producers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Remembers a stream this store created, forgetting ones whose producers went away
    /// without finishing once they have expired (amortised: when the map doubles).
    fn remember(&self, id: StreamId, owner: Option<&[u8]>, options: &StreamOptions) {
        let now = std::time::Instant::now();
        let mut producers = self.producers();
        if producers.streams.len() >= producers.sweep_at.max(MIN_SWEEP) {
            producers.streams.retain(|_, producer| {
                now.duration_since(producer.touched) < producer.options.effective_live_ttl()
            });
            producers.sweep_at = producers.streams.len() * 2;
        }
        producers.streams.insert(
            id,
            Producer {
                owner: owner.map(Box::from),
                options: options.clone(),
                touched: now,
            },
        );
    }

    fn touch(&self, id: StreamId) {
        if let Some(producer) = self.producers().streams.get_mut(&id) {
            producer.touched = std::time::Instant::now();
        }
    }

    fn forget(&self, id: StreamId) {
        self.producers().streams.remove(&id);
    }

    async fn create_now(
        &self,
        owner: Option<&[u8]>,
        options: &StreamOptions,
    ) -> Result<StreamId, ResumeError> {
        let id = StreamId::random()?;
        let (code, _) = self.run_create(id, owner, options).await?;
        if code != scripts::DONE {
            return Err(ResumeError::Unavailable(
                "the random source repeated a stream id".into(),
            ));
        }
        self.remember(id, owner, options);
        Ok(id)
    }

    async fn append_now(&self, id: StreamId, seq: u64, item: Bytes) -> Result<(), ResumeError> {
        if seq > MAX_SEQ {
            return Err(ResumeError::Sequence { seq });
        }
        let seq_text = seq.to_string();
        let next = (seq + 1).to_string();
        let entry_id = format!("{next}-0");
        let answer = self
            .run_producing(
                &scripts::APPEND,
                id,
                &[
                    seq_text.as_bytes(),
                    entry_id.as_bytes(),
                    next.as_bytes(),
                    &item,
                ],
            )
            .await?;
        let answer = check(answer, seq, item.len());
        if answer.is_ok() {
            self.touch(id);
        }
        answer
    }

    async fn heartbeat_now(&self, id: StreamId) -> Result<(), ResumeError> {
        let answer = self.run_producing(&scripts::HEARTBEAT, id, &[]).await?;
        let answer = check(answer, 0, 0);
        if answer.is_ok() {
            self.touch(id);
        }
        answer
    }

    async fn finish_now(&self, id: StreamId, outcome: Outcome) -> Result<(), ResumeError> {
        let (kind, message) = match outcome.bounded() {
            Outcome::Failed(message) => ("failed", message),
            Outcome::Completed => ("completed", String::new()),
        };
        let answer = self
            .run_producing(&scripts::FINISH, id, &[kind.as_bytes(), message.as_bytes()])
            .await?;
        let answer = check(answer, 0, 0);
        if !matches!(
            answer,
            Err(ResumeError::Timeout(_) | ResumeError::Unavailable(_))
        ) {
            self.forget(id);
        }
        answer
    }

    async fn read_now(
        &self,
        id: StreamId,
        owner: Option<&[u8]>,
        after: Option<u64>,
    ) -> Result<Entries, ResumeError> {
        let keys = Keys::new(&self.settings.prefix, id);
        let mut connection = self.connection().await?;
        let (stored_owner, trimmed): (Option<Vec<u8>>, Option<u64>) = redis::cmd("HMGET")
            .arg(&keys.meta)
            .arg("owner")
            .arg("trimmed")
            .query_async(&mut connection)
            .await
            .map_err(|error| failure(error, self.settings.timeout))?;
        let (Some(stored_owner), Some(trimmed)) = (stored_owner, trimmed) else {
            return Err(ResumeError::NotFound);
        };
        if !owner::same(Some(&stored_owner), Some(&encode_owner(owner))) {
            return Err(ResumeError::NotFound);
        }
        let cursor = Cursor::after(after);
        if cursor.next() < trimmed {
            return Err(ResumeError::Trimmed { first: trimmed });
        }
        let reader = Reader::new(
            connection,
            self.client.clone(),
            Arc::clone(&self.settings),
            Arc::clone(&self.followers),
            keys,
            cursor,
        );
        Ok(Entries::new(Unfold::new(reader, Reader::step)))
    }
}

/// The keys of one stream.
#[derive(Debug)]
pub(super) struct Keys {
    pub(super) meta: String,
    pub(super) stream: String,
    pub(super) lease: String,
}

impl Keys {
    fn new(prefix: &str, id: StreamId) -> Self {
        Self {
            meta: format!("{prefix}:{{{id}}}:m"),
            stream: format!("{prefix}:{{{id}}}:s"),
            lease: format!("{prefix}:{{{id}}}:l"),
        }
    }
}

/// The owner tag as stored: empty for none, `=` and the tag otherwise (so an empty tag differs
/// from none).
fn encode_owner(owner: Option<&[u8]>) -> Vec<u8> {
    owner.map_or_else(Vec::new, |owner| {
        let mut encoded = Vec::with_capacity(owner.len() + 1);
        encoded.push(b'=');
        encoded.extend_from_slice(owner);
        encoded
    })
}

/// A duration in whole milliseconds (at least 1), as Redis takes them.
fn millis(duration: Duration) -> String {
    // Decades fit easily; u64 milliseconds cover any Duration Redis accepts.
    let millis = duration.as_millis().clamp(1, u128::from(u32::MAX) * 1000);
    millis.to_string()
}

/// A script's answer as a result.
fn check((code, detail): (i64, i64), seq: u64, len: usize) -> Result<(), ResumeError> {
    match code {
        scripts::DONE => Ok(()),
        scripts::NOT_FOUND => Err(ResumeError::NotFound),
        scripts::FINISHED => Err(ResumeError::Finished),
        scripts::SEQUENCE => Err(ResumeError::Sequence { seq }),
        scripts::TOO_LARGE => Err(ResumeError::TooLarge {
            len,
            max: usize::try_from(detail).unwrap_or(usize::MAX),
        }),
        _ => Err(ResumeError::Unavailable(
            format!("unexpected answer {code} from a resume store script").into(),
        )),
    }
}

pub(super) fn unavailable(error: redis::RedisError) -> ResumeError {
    ResumeError::Unavailable(Box::new(error))
}

/// A failed command as an error: [`ResumeError::Timeout`] when the connection gave up
/// waiting (after `timeout`), else [`ResumeError::Unavailable`].
pub(super) fn failure(error: redis::RedisError, timeout: Duration) -> ResumeError {
    if error.is_timeout() {
        ResumeError::Timeout(timeout)
    } else {
        unavailable(error)
    }
}

impl ResumeStore for RedisStore {
    fn create<'a>(
        &'a self,
        owner: Option<&'a [u8]>,
        options: &'a StreamOptions,
    ) -> ResumeFuture<'a, StreamId> {
        owner::check(owner);
        Box::pin(self.bounded(self.create_now(owner, options)))
    }

    fn append(&self, id: StreamId, seq: u64, item: Bytes) -> ResumeFuture<'_, ()> {
        Box::pin(self.bounded(self.append_now(id, seq, item)))
    }

    fn heartbeat(&self, id: StreamId) -> ResumeFuture<'_, ()> {
        Box::pin(self.bounded(self.heartbeat_now(id)))
    }

    fn finish(&self, id: StreamId, outcome: Outcome) -> ResumeFuture<'_, ()> {
        Box::pin(self.bounded(self.finish_now(id, outcome)))
    }

    fn read<'a>(
        &'a self,
        id: StreamId,
        owner: Option<&'a [u8]>,
        after: Option<u64>,
    ) -> ResumeFuture<'a, Entries> {
        Box::pin(self.bounded(self.read_now(id, owner, after)))
    }
}
