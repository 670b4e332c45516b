use std::time::Duration;

/// How long a stream is kept and how much of it: the lease, the time-to-live while live and
/// after the finish, and the length caps.
///
/// Given to [`ResumeStore::create`](super::ResumeStore::create) and stored with the stream, so
/// every server instance treats a stream alike.
///
/// | setting | default | meaning |
/// |---|---|---|
/// | [`lease`](Self::with_lease) | 10 s | the producer is presumed dead this long after its last append or heartbeat: readers then get [`Entry::Lost`](super::Entry::Lost) |
/// | [`live_ttl`](Self::with_live_ttl) | 1 h | an unfinished stream is deleted this long after its last append or heartbeat (at least the lease) |
/// | [`finished_ttl`](Self::with_finished_ttl) | 10 min | a finished stream is deleted this long after its finish |
/// | [`max_entries`](Self::with_max_entries) | 10 000 | items kept; older ones are dropped first |
/// | [`max_bytes`](Self::with_max_bytes) | 1 MiB | item bytes kept; older ones are dropped first; a larger single item is refused |
///
/// A reader that asks for items the caps dropped gets
/// [`ResumeError::Trimmed`](super::ResumeError::Trimmed). Producers that stay silent longer
/// than the lease (a model thinking) keep it with
/// [`heartbeat`](super::ResumeStore::heartbeat), e.g. every third of the lease.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use tokenflush::resume::StreamOptions;
///
/// let options = StreamOptions::new()
///     .with_lease(Duration::from_secs(5))
///     .with_finished_ttl(Duration::from_secs(60))
///     .with_max_bytes(256 * 1024);
/// assert_eq!(options.lease(), Duration::from_secs(5));
/// assert_eq!(options.max_entries(), 10_000);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamOptions {
    lease: Duration,
    live_ttl: Duration,
    finished_ttl: Duration,
    max_entries: usize,
    max_bytes: usize,
}

impl Default for StreamOptions {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(10),
            live_ttl: Duration::from_secs(60 * 60),
            finished_ttl: Duration::from_secs(10 * 60),
            max_entries: 10_000,
            max_bytes: 1024 * 1024,
        }
    }
}

impl StreamOptions {
    /// The defaults (see the table above).
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the producer's lease: how long after its last append or heartbeat a producer that
    /// has not finished is presumed dead.
    ///
    /// # Panics
    ///
    /// If `lease` is shorter than a millisecond.
    #[track_caller]
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        assert!(
            lease >= Duration::from_millis(1),
            "StreamOptions::with_lease: the lease must be at least a millisecond"
        );
        self.lease = lease;
        self
    }

    /// Sets how long an unfinished stream is kept after its last append or heartbeat. Stores
    /// keep it at least as long as the lease, so that readers can learn it was lost.
    ///
    /// # Panics
    ///
    /// If `ttl` is shorter than a millisecond.
    #[track_caller]
    #[must_use]
    pub fn with_live_ttl(mut self, ttl: Duration) -> Self {
        assert!(
            ttl >= Duration::from_millis(1),
            "StreamOptions::with_live_ttl: the time-to-live must be at least a millisecond"
        );
        self.live_ttl = ttl;
        self
    }

    /// Sets how long a finished stream is kept after its finish, for readers that come back
    /// late.
    ///
    /// # Panics
    ///
    /// If `ttl` is shorter than a millisecond.
    #[track_caller]
    #[must_use]
    pub fn with_finished_ttl(mut self, ttl: Duration) -> Self {
        assert!(
            ttl >= Duration::from_millis(1),
            "StreamOptions::with_finished_ttl: the time-to-live must be at least a millisecond"
        );
        self.finished_ttl = ttl;
        self
    }

    /// Sets how many items a stream keeps; appending more drops the oldest.
    ///
    /// # Panics
    ///
    /// If `max_entries` is 0.
    #[track_caller]
    #[must_use]
    pub fn with_max_entries(mut self, max_entries: usize) -> Self {
        assert!(
            max_entries > 0,
            "StreamOptions::with_max_entries: a stream must keep at least one entry"
        );
        self.max_entries = max_entries;
        self
    }

    /// Sets how many item bytes a stream keeps; appending more drops the oldest items, and a
    /// single larger item is refused.
    ///
    /// # Panics
    ///
    /// If `max_bytes` is 0.
    #[track_caller]
    #[must_use]
    pub fn with_max_bytes(mut self, max_bytes: usize) -> Self {
        assert!(
            max_bytes > 0,
            "StreamOptions::with_max_bytes: a stream must keep at least one byte"
        );
        self.max_bytes = max_bytes;
        self
    }

    /// The producer's lease.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// How long an unfinished stream is kept after its last append or heartbeat, as set (stores
    /// keep it at least as long as the lease).
    pub fn live_ttl(&self) -> Duration {
        self.live_ttl
    }

    /// How long a finished stream is kept.
    pub fn finished_ttl(&self) -> Duration {
        self.finished_ttl
    }

    /// How many items a stream keeps.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// How many item bytes a stream keeps.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The time-to-live stores apply while the stream is live: never shorter than the lease.
    pub(crate) fn effective_live_ttl(&self) -> Duration {
        self.live_ttl.max(self.lease)
    }
}
