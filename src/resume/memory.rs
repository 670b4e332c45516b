use std::collections::hash_map::{Entry as MapEntry, HashMap};
use std::collections::{BTreeSet, VecDeque};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::cursor::{Cursor, Step, MAX_SEQ};
use super::unfold::Unfold;
use super::{
    owner, Entries, Entry, Outcome, ResumeError, ResumeFuture, ResumeStore, StreamId, StreamOptions,
};

/// A resume store in this process's memory: the default when one server instance serves
/// every reader.
///
/// Bounded: at most [`with_max_streams`](Self::with_max_streams) streams (1024 by default),
/// each within its [`StreamOptions`] caps, so the store holds at most about
/// `max_streams × (max_bytes + 40 × max_entries)` bytes of items. A stream is deleted once its
/// time-to-live passes; expired streams are swept when streams are created or read, with no
/// background task, in time proportional to the number that expired. When every slot holds a
/// stream that has not expired, [`create`](ResumeStore::create) fails with
/// [`ResumeError::Limit`] at once.
///
/// Followers are woken by each append and finish (no polling), and by a timer when the
/// producer's lease runs out. Times are Tokio's, so tests can pause the clock.
///
/// Clones share the same streams.
///
/// # Examples
///
/// A follower that joins while the stream is live gets what was stored, then what comes:
///
/// ```
/// use bytes::Bytes;
/// use futures::StreamExt;
/// use tokenflush::resume::{Entry, MemoryStore, Outcome, ResumeStore, StreamOptions};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenflush::resume::ResumeError> {
/// let store = MemoryStore::new().with_max_streams(100);
/// let id = store.create(None, &StreamOptions::new()).await?;
/// store.append(id, 0, Bytes::from("Hel")).await?;
///
/// let mut follower = store.read(id, None, None).await?;
/// assert_eq!(follower.next().await, Some(Ok(Entry::Item { seq: 0, bytes: Bytes::from("Hel") })));
///
/// let producer = tokio::spawn({
///     let store = store.clone();
///     async move {
///         store.append(id, 1, Bytes::from("lo")).await?;
///         store.finish(id, Outcome::Completed).await
///     }
/// });
/// assert_eq!(follower.next().await, Some(Ok(Entry::Item { seq: 1, bytes: Bytes::from("lo") })));
/// assert_eq!(follower.next().await, Some(Ok(Entry::Finished(Outcome::Completed))));
/// assert_eq!(follower.next().await, None);
/// producer.await.unwrap()?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct MemoryStore {
    max_streams: usize,
    shared: Arc<Mutex<Streams>>,
}

/// The streams, and when each may next have expired.
#[derive(Default)]
struct Streams {
    /// Boxed: the table keeps spare slots, which stay small.
    streams: HashMap<StreamId, Box<Stored>>,
    /// One entry per stream held, `(due, id)`: the stream does not expire before `due`.
    /// Appends move expiry later without touching the set (the hot path stays O(1)); a sweep
    /// that finds a stream alive at `due` files it again under its real expiry, and a finish
    /// that brings expiry closer refiles it at once.
    expiry: BTreeSet<(Instant, StreamId)>,
}

/// One stream.
struct Stored {
    owner: Option<Box<[u8]>>,
    options: StreamOptions,
    items: VecDeque<(u64, Bytes)>,
    /// The bytes of `items`.
    bytes: usize,
    /// The first sequence number the caps have not dropped.
    trimmed: u64,
    /// The lowest sequence number the next append may use.
    next: u64,
    outcome: Option<Outcome>,
    lease_until: Instant,
    expires_at: Instant,
    /// Where the stream is filed in `Streams::expiry`.
    due: Instant,
    /// Followers wait for a change here.
    wake: Arc<Notify>,
}

/// The default limit on streams.
const DEFAULT_MAX_STREAMS: usize = 1024;

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("max_streams", &self.max_streams)
            .field("streams", &self.lock().streams.len())
            .finish()
    }
}

impl MemoryStore {
    /// An empty store that holds at most 1024 streams.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::resume::MemoryStore;
    ///
    /// let store = MemoryStore::new();
    /// assert_eq!(format!("{store:?}"), "MemoryStore { max_streams: 1024, streams: 0 }");
    /// ```
    pub fn new() -> Self {
        Self {
            max_streams: DEFAULT_MAX_STREAMS,
            shared: Arc::default(),
        }
    }

    /// Sets how many streams (live or finished, until they expire) the store holds at most.
    ///
    /// # Panics
    ///
    /// If `max_streams` is 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::resume::{MemoryStore, ResumeError, ResumeStore, StreamOptions};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ResumeError> {
    /// let store = MemoryStore::new().with_max_streams(1);
    /// store.create(None, &StreamOptions::new()).await?;
    /// let full = store.create(None, &StreamOptions::new()).await.unwrap_err();
    /// assert_eq!(full, ResumeError::Limit { what: "streams", limit: 1 });
    /// # Ok(())
    /// # }
    /// ```
    #[track_caller]
    #[must_use]
    pub fn with_max_streams(mut self, max_streams: usize) -> Self {
        assert!(
            max_streams > 0,
            "MemoryStore::with_max_streams: the store must hold at least one stream"
        );
        self.max_streams = max_streams;
        self
    }

    fn lock(&self) -> MutexGuard<'_, Streams> {
        lock(&self.shared)
    }

    fn create_now(
        &self,
        owner: Option<&[u8]>,
        options: &StreamOptions,
    ) -> Result<StreamId, ResumeError> {
        let id = StreamId::random()?;
        let now = Instant::now();
        let mut streams = self.lock();
        streams.sweep(now);
        if streams.streams.len() >= self.max_streams {
            return Err(ResumeError::Limit {
                what: "streams",
                limit: self.max_streams,
            });
        }
        let expires_at = deadline(now, options.effective_live_ttl());
        let stored = Stored {
            owner: owner.map(Box::from),
            options: options.clone(),
            items: VecDeque::new(),
            bytes: 0,
            trimmed: 0,
            next: 0,
            outcome: None,
            lease_until: deadline(now, options.lease()),
            expires_at,
            due: expires_at,
            wake: Arc::new(Notify::new()),
        };
        match streams.streams.entry(id) {
            MapEntry::Vacant(slot) => {
                slot.insert(Box::new(stored));
            }
            // 128 random bits do not repeat; if the random source is broken, say so.
            MapEntry::Occupied(_) => {
                return Err(ResumeError::Unavailable(
                    "the random source repeated a stream id".into(),
                ))
            }
        }
        streams.expiry.insert((expires_at, id));
        Ok(id)
    }

    /// Runs `change` on the stream if it is live (not expired, not finished).
    fn with_live<T>(
        &self,
        id: StreamId,
        change: impl FnOnce(&mut Stored, Instant) -> Result<T, ResumeError>,
    ) -> Result<T, ResumeError> {
        let now = Instant::now();
        let mut streams = self.lock();
        let stored = streams
            .streams
            .get_mut(&id)
            .filter(|stored| stored.expires_at > now)
            .ok_or(ResumeError::NotFound)?;
        if stored.outcome.is_some() {
            return Err(ResumeError::Finished);
        }
        change(stored, now)
    }

    fn append_now(&self, id: StreamId, seq: u64, item: Bytes) -> Result<(), ResumeError> {
        self.with_live(id, |stored, now| {
            if seq < stored.next || seq > MAX_SEQ {
                return Err(ResumeError::Sequence { seq });
            }
            let max_bytes = stored.options.max_bytes();
            if item.len() > max_bytes {
                return Err(ResumeError::TooLarge {
                    len: item.len(),
                    max: max_bytes,
                });
            }
            stored.bytes += item.len();
            stored.items.push_back((seq, item));
            stored.next = seq + 1;
            while stored.items.len() > stored.options.max_entries() || stored.bytes > max_bytes {
                let Some((dropped, bytes)) = stored.items.pop_front() else {
                    break;
                };
                stored.bytes -= bytes.len();
                stored.trimmed = dropped + 1;
            }
            stored.renew(now);
            stored.wake.notify_waiters();
            Ok(())
        })
    }

    fn finish_now(&self, id: StreamId, outcome: Outcome) -> Result<(), ResumeError> {
        let now = Instant::now();
        let mut guard = self.lock();
        let streams = &mut *guard;
        let stored = streams
            .streams
            .get_mut(&id)
            .filter(|stored| stored.expires_at > now)
            .ok_or(ResumeError::NotFound)?;
        if stored.outcome.is_some() {
            return Err(ResumeError::Finished);
        }
        stored.outcome = Some(outcome.bounded());
        stored.expires_at = deadline(now, stored.options.finished_ttl());
        if stored.expires_at < stored.due {
            streams.expiry.remove(&(stored.due, id));
            stored.due = stored.expires_at;
            streams.expiry.insert((stored.due, id));
        }
        stored.wake.notify_waiters();
        Ok(())
    }

    fn read_now(
        &self,
        id: StreamId,
        owner: Option<&[u8]>,
        after: Option<u64>,
    ) -> Result<Entries, ResumeError> {
        let now = Instant::now();
        let mut streams = self.lock();
        streams.sweep(now);
        let stored = streams
            .streams
            .get(&id)
            .filter(|stored| owner::same(stored.owner.as_deref(), owner) && stored.expires_at > now)
            .ok_or(ResumeError::NotFound)?;
        let cursor = Cursor::after(after);
        if cursor.next() < stored.trimmed {
            return Err(ResumeError::Trimmed {
                first: stored.trimmed,
            });
        }
        let reader = Reader {
            shared: Arc::clone(&self.shared),
            id,
            cursor,
            wake: Arc::clone(&stored.wake),
            done: false,
        };
        Ok(Entries::new(Unfold::new(reader, Reader::step)))
    }
}

impl Stored {
    /// Renews the lease and the live time-to-live from `now`.
    fn renew(&mut self, now: Instant) {
        self.lease_until = deadline(now, self.options.lease());
        self.expires_at = deadline(now, self.options.effective_live_ttl());
    }
}

impl Streams {
    /// Deletes the streams that have expired by `now`.
    fn sweep(&mut self, now: Instant) {
        while let Some(&(due, id)) = self.expiry.first() {
            if due > now {
                break;
            }
            self.expiry.pop_first();
            let Some(stored) = self.streams.get_mut(&id) else {
                continue;
            };
            if stored.expires_at <= now {
                self.streams.remove(&id);
            } else {
                stored.due = stored.expires_at;
                self.expiry.insert((stored.due, id));
            }
        }
    }
}

/// A reader's state between entries.
struct Reader {
    shared: Arc<Mutex<Streams>>,
    id: StreamId,
    cursor: Cursor,
    wake: Arc<Notify>,
    done: bool,
}

impl Reader {
    async fn step(mut self) -> Option<(Result<Entry, ResumeError>, Self)> {
        if self.done {
            return None;
        }
        let wake = Arc::clone(&self.wake);
        loop {
            // Registered before looking, so a change made after the look wakes the wait.
            let changed = wake.notified();
            let mut changed = std::pin::pin!(changed);
            changed.as_mut().enable();
            let lease_until = match self.look() {
                Ok(entry) => return Some((entry, self)),
                Err(lease_until) => lease_until,
            };
            // Woken by an append or the finish; the timeout is the lease running out (the
            // producer may also have renewed it meanwhile: the loop looks again).
            let _ = tokio::time::timeout_at(lease_until, changed).await;
        }
    }

    /// The next entry, or the end of the producer's lease to wait for.
    fn look(&mut self) -> Result<Result<Entry, ResumeError>, Instant> {
        let now = Instant::now();
        let streams = lock(&self.shared);
        let Some(stored) = streams.streams.get(&self.id).filter(|s| s.expires_at > now) else {
            self.done = true;
            return Ok(Err(ResumeError::NotFound));
        };
        let next = self.cursor.next();
        if next < stored.trimmed {
            self.done = true;
            return Ok(Err(ResumeError::Trimmed {
                first: stored.trimmed,
            }));
        }
        let index = stored.items.partition_point(|&(seq, _)| seq < next);
        if let Some((seq, bytes)) = stored.items.get(index) {
            return Ok(Ok(match self.cursor.step(*seq) {
                Step::Gap(missing) => Entry::Gap(missing),
                Step::Item | Step::Skip => Entry::Item {
                    seq: *seq,
                    bytes: bytes.clone(),
                },
            }));
        }
        if let Some(outcome) = &stored.outcome {
            self.done = true;
            return Ok(Ok(Entry::Finished(outcome.clone())));
        }
        if now >= stored.lease_until {
            self.done = true;
            return Ok(Ok(Entry::Lost));
        }
        Err(stored.lease_until)
    }
}

impl ResumeStore for MemoryStore {
    fn create<'a>(
        &'a self,
        owner: Option<&'a [u8]>,
        options: &'a StreamOptions,
    ) -> ResumeFuture<'a, StreamId> {
        owner::check(owner);
        Box::pin(std::future::ready(self.create_now(owner, options)))
    }

    fn append(&self, id: StreamId, seq: u64, item: Bytes) -> ResumeFuture<'_, ()> {
        Box::pin(std::future::ready(self.append_now(id, seq, item)))
    }

    fn heartbeat(&self, id: StreamId) -> ResumeFuture<'_, ()> {
        Box::pin(std::future::ready(self.with_live(id, |stored, now| {
            stored.renew(now);
            Ok(())
        })))
    }

    fn finish(&self, id: StreamId, outcome: Outcome) -> ResumeFuture<'_, ()> {
        Box::pin(std::future::ready(self.finish_now(id, outcome)))
    }

    fn read<'a>(
        &'a self,
        id: StreamId,
        owner: Option<&'a [u8]>,
        after: Option<u64>,
    ) -> ResumeFuture<'a, Entries> {
        Box::pin(std::future::ready(self.read_now(id, owner, after)))
    }
}

fn lock(shared: &Mutex<Streams>) -> MutexGuard<'_, Streams> {
    // No code panics while holding the lock; if some did, the streams are still consistent.
    shared.lock().unwrap_or_else(PoisonError::into_inner)
}

/// `now + after`, or a time decades away if that cannot be represented.
fn deadline(now: Instant, after: Duration) -> Instant {
    const DECADES: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);
    now.checked_add(after)
        .or_else(|| now.checked_add(DECADES))
        .unwrap_or(now)
}
