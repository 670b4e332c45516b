//! [`Relay`]: starts generations detached from their connections and serves their readers,
//! first and resumed.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use futures_core::Stream;

use super::event_id::EventId;
use super::generation::{self, Live};
use super::history::{LocalReader, Shared};
use super::render::Renderer;
use super::resume_sse::{ResumeSse, StoreReader};
use super::{owner, ResumeError, ResumeItem, ResumeStore, StreamOptions};
use crate::sse::Format;

/// Runs resumable generations on one server instance: each in its own task, writing every
/// flushed item to a [`ResumeStore`] before its readers here get it, and serves readers —
/// the one that started it, others that join, and readers that come back after their
/// connection dropped, here or on another instance sharing the store.
///
/// Clones share the generations.
///
/// # How a server uses it
///
/// - [`start`](Self::start): the request that starts a generation gets a [`ResumeSse`] in
///   the response format. Every event has an [`EventId`] (`<stream>-<seq>-<index>`) and the
///   first carries a `retry:` field, so a browser's `EventSource` reconnects by itself.
/// - [`resume`](Self::resume): a request with a `Last-Event-ID` (the header, or a query
///   parameter for clients that cannot set it) gets every event after that one — re-rendered
///   from the start of the stream, so formats with state (block indices, sequence numbers)
///   give the same events with the same ids — and then the live ones: nothing lost, nothing
///   twice. The format is built from the bytes the generation was started with (its *meta*),
///   so another instance can build the same one.
///
/// # What it promises
///
/// - **Store before send.** Each item is appended under the next sequence number, then sent
///   to the readers on this instance; they never read the store. An append that fails or
///   takes longer than [the append timeout](Self::with_append_timeout) does not hold up the
///   readers: the item goes out unstored, the store is tried again every 500 ms meanwhile
///   (with a heartbeat), and a reader that resumes elsewhere later gets the format's error
///   event saying the stream cannot be resumed, instead of a stream with a hole.
/// - **Detached.** A reader that goes away does not stop the generation. When no reader has
///   been attached here for [the grace period](Self::with_grace), the generation is
///   cancelled — the flushed stream, and so the model's stream, is dropped — and the stream
///   ends as failed with the message `abandoned`. Readers that follow from another instance
///   through the store are not seen here: choose the grace period with them in mind.
/// - **Heartbeats** renew the producer's lease while the model is silent (every third of the
///   [lease](StreamOptions::with_lease) by default).
/// - **Bounded.** The readers on this instance read what the generation sent from memory,
///   kept within the stream's [caps](StreamOptions) like the store's copy; the generation
///   does not wait for its readers, so a reader that falls further behind than the caps
///   keep (or joins a stream that outgrew them) gets the error event instead of the rest.
/// - **A crash is reported, never a hang.** When this process dies, a reader on another
///   instance gets every item stored before the crash, then the format's error event
///   `generation lost: …` once the lease runs out: within the lease plus the store's poll
///   interval (`RedisStore`: 1 s by default) of the last append or heartbeat.
/// - **One answer for every id that is not the caller's.** A malformed, guessed, altered,
///   expired or other owner's id is [`ResumeError::NotFound`]: answer it with one response,
///   the same bytes every time (a 404 before the body starts).
///
/// Without resume (no `Relay`), serve [`EncodeSse`](crate::sse::EncodeSse) as before: the model
/// stops when the reader goes away.
///
/// # Examples
///
/// A generation on the in-memory store; its reader drops after two events and comes back with
/// the last event id it saw:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use futures::StreamExt;
/// use tokenflush::resume::{MemoryStore, Relay};
/// use tokenflush::sse::{Parser, TextEvents};
/// use tokenflush::{policy::Immediate, FlushExt};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), tokenflush::resume::ResumeError> {
/// let relay = Relay::new(Arc::new(MemoryStore::new()));
///
/// // A model that says three words, 100 ms apart.
/// let tokens = futures::stream::iter(["Hello", ", resumable", " world"])
///     .then(|token| async move {
///         tokio::time::sleep(Duration::from_millis(100)).await;
///         token
///     });
/// let owner = b"hmac of the caller's credential";
/// let mut first = relay
///     .start(Some(owner), "meta for the format", tokens.flush_with(Immediate::new()), TextEvents::new())
///     .await?;
///
/// // The first reader gets two events, then its connection drops.
/// let mut parser = Parser::new();
/// for _ in 0..2 {
///     parser.feed(&first.next().await.unwrap());
/// }
/// drop(first);
/// let seen: Vec<_> = std::iter::from_fn(|| parser.next_event().unwrap()).collect();
/// assert_eq!(seen[1].data(), ", resumable");
///
/// // It comes back with the id of the last event it saw (the `Last-Event-ID` header).
/// let last_id = seen[1].last_event_id();
/// let resumed = relay
///     .resume(last_id, Some(owner), |meta| {
///         assert_eq!(meta, Some(&b"meta for the format"[..]));
///         TextEvents::new()
///     })
///     .await?;
/// let frames: Vec<_> = resumed.collect().await;
/// frames.iter().for_each(|frame| parser.feed(frame));
/// let rest: Vec<_> = std::iter::from_fn(|| parser.next_event().unwrap()).collect();
/// assert_eq!(rest[0].data(), " world");
/// assert_eq!(rest.len(), 1);
///
/// // Someone else's id, or a made-up one: the same answer.
/// let stolen = relay.resume(last_id, Some(b"mallory"), |_| TextEvents::new()).await.unwrap_err();
/// let made_up = relay.resume("no such id", Some(owner), |_| TextEvents::new()).await.unwrap_err();
/// assert_eq!(stolen.to_string(), made_up.to_string());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Relay {
    settings: Arc<Settings>,
    live: Arc<Live>,
}

/// What every generation of a relay shares.
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) store: Arc<dyn ResumeStore>,
    pub(crate) options: StreamOptions,
    pub(crate) grace: Duration,
    pub(crate) append_timeout: Duration,
    pub(crate) heartbeat: Duration,
    /// Whether `heartbeat` was set, rather than derived from the lease.
    heartbeat_set: bool,
    pub(crate) retry: Duration,
    pub(crate) optional_store: bool,
}

impl fmt::Debug for Relay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.settings;
        f.debug_struct("Relay")
            .field("store", &settings.store)
            .field("options", &settings.options)
            .field("grace", &settings.grace)
            .field("append_timeout", &settings.append_timeout)
            .field("heartbeat", &settings.heartbeat)
            .field("retry", &settings.retry)
            .field("optional_store", &settings.optional_store)
            .field("live", &self.live().len())
            .finish()
    }
}

impl Relay {
    /// A relay on `store`, with the default settings: grace period 30 s, append timeout
    /// 250 ms, heartbeat every third of the lease, `retry` 1 s, the store required at the
    /// start, and the default [`StreamOptions`].
    pub fn new(store: Arc<dyn ResumeStore>) -> Self {
        let options = StreamOptions::new();
        Self {
            settings: Arc::new(Settings {
                store,
                heartbeat: options.lease() / 3,
                heartbeat_set: false,
                options,
                grace: Duration::from_secs(30),
                append_timeout: Duration::from_millis(250),
                retry: Duration::from_secs(1),
                optional_store: false,
            }),
            live: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn settings_mut(&mut self) -> &mut Settings {
        Arc::make_mut(&mut self.settings)
    }

    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<super::StreamId, Arc<Shared>>> {
        // No code panics while holding the lock.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sets the options of the streams this relay creates: lease, time-to-live, caps. The
    /// readers on this instance keep at most as much as the caps let the store keep.
    #[must_use]
    pub fn with_stream_options(mut self, options: StreamOptions) -> Self {
        let settings = self.settings_mut();
        if !settings.heartbeat_set {
            settings.heartbeat = options.lease() / 3;
        }
        settings.options = options;
        self
    }

    /// Sets how long a generation runs on with no reader attached on this instance before it
    /// is cancelled (30 s by default).
    #[must_use]
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.settings_mut().grace = grace;
        self
    }

    /// Sets how long an append (or heartbeat) may take before the generation goes on without
    /// it (250 ms by default): the most a store outage delays the readers, once.
    ///
    /// # Panics
    ///
    /// If `timeout` is zero.
    #[track_caller]
    #[must_use]
    pub fn with_append_timeout(mut self, timeout: Duration) -> Self {
        assert!(
            !timeout.is_zero(),
            "Relay::with_append_timeout: the timeout must not be zero"
        );
        self.settings_mut().append_timeout = timeout;
        self
    }

    /// Sets how often a generation whose model is silent renews its lease (a third of the
    /// lease by default).
    ///
    /// # Panics
    ///
    /// If `interval` is zero.
    #[track_caller]
    #[must_use]
    pub fn with_heartbeat(mut self, interval: Duration) -> Self {
        assert!(
            !interval.is_zero(),
            "Relay::with_heartbeat: the interval must not be zero"
        );
        let settings = self.settings_mut();
        settings.heartbeat = interval;
        settings.heartbeat_set = true;
        self
    }

    /// Sets the reconnection time sent to readers in the `retry:` field (1 s by default): how
    /// long a browser's `EventSource` waits before it reconnects.
    #[must_use]
    pub fn with_retry(mut self, retry: Duration) -> Self {
        self.settings_mut().retry = retry;
        self
    }

    /// With `true`, a generation whose stream cannot be created because the store is
    /// unreachable ([`ResumeError::Unavailable`] or [`ResumeError::Timeout`]) streams without
    /// resume — no ids, the model stopping when the reader goes away — instead of
    /// [`start`](Self::start) failing (the default).
    #[must_use]
    pub fn with_optional_store(mut self, optional: bool) -> Self {
        self.settings_mut().optional_store = optional;
        self
    }

    /// Starts a generation in its own task and returns its first reader, rendering in
    /// `format`.
    ///
    /// `items` is the flushed stream: tokens, typed items or `Result`s of them through
    /// [`flush_with`](crate::FlushExt::flush_with) or
    /// [`try_flush_with`](crate::TryFlushExt::try_flush_with). An `Err` ends the stream as
    /// failed, with the error's `Display` text as the message readers get.
    ///
    /// `meta` is stored with the stream and handed to [`resume`](Self::resume)'s format
    /// builder, on this instance or another: put in it whatever builds `format` exactly as
    /// here — the API, the response id, the model, the creation time (a format that reads
    /// the clock when built, as [`OpenAiChat::new`](crate::sse::OpenAiChat::new) does, must
    /// get its time from the meta), so that a resumed reader gets the same events.
    ///
    /// `owner` binds the stream to the caller, as in [`ResumeStore::create`]: a tag derived
    /// from the caller's credential, such as an HMAC of it under a server key.
    ///
    /// # Errors
    ///
    /// The store's errors creating the stream ([`ResumeError::Unavailable`],
    /// [`ResumeError::Timeout`], [`ResumeError::Limit`]); with
    /// [`with_optional_store`](Self::with_optional_store), an unreachable store gives a reader
    /// of a stream without resume instead.
    ///
    /// # Panics
    ///
    /// If `owner` is longer than 64 bytes, as [`ResumeStore::create`]; outside a Tokio
    /// runtime, as [`tokio::spawn`].
    ///
    /// # Cancel safety
    ///
    /// Dropped before it completes, it drops `items` unpolled (the model never starts). A
    /// stream the store created by then is never produced: a reader given its id gets the
    /// generation-lost error once the producer's lease runs out, and the store forgets it
    /// after its time-to-live.
    pub async fn start<S, F>(
        &self,
        owner: Option<&[u8]>,
        meta: impl Into<Bytes>,
        items: S,
        format: F,
    ) -> Result<ResumeSse<F>, ResumeError>
    where
        S: Stream + Send + 'static,
        S::Item: ResumeItem,
        F: Format,
    {
        owner::check(owner);
        let settings = &self.settings;
        // A connection that broke (Redis restarted) fails the first command after it, and
        // reconnects: one more try.
        let mut created = settings.store.create(owner, &settings.options).await;
        if matches!(created, Err(ResumeError::Unavailable(_))) {
            created = settings.store.create(owner, &settings.options).await;
        }
        let id = match created {
            Ok(id) => id,
            Err(ResumeError::Unavailable(_) | ResumeError::Timeout(_))
                if settings.optional_store =>
            {
                return Ok(ResumeSse::direct(items, format));
            }
            Err(error) => return Err(error),
        };
        let shared = Arc::new(Shared::new(
            owner,
            meta.into(),
            settings.options.max_entries(),
            settings.options.max_bytes(),
        ));
        // Attached before the task starts, so the grace period starts only once it leaves.
        let reader = LocalReader::attach(&shared);
        self.live().insert(id, Arc::clone(&shared));
        tokio::spawn(generation::run(
            Arc::clone(&self.settings),
            Arc::clone(&self.live),
            id,
            shared,
            items,
        ));
        let renderer = Renderer::with_ids(format, id, None, settings.retry);
        Ok(ResumeSse::local(id, reader, renderer))
    }

    /// A reader that comes back with `last_event_id`: every event after it, then the live ones.
    ///
    /// `format` builds the format from the stream's meta (as given to [`start`](Self::start));
    /// it gets `None` when the store no longer has it (the store lost the stream's start),
    /// and the reader then gets only that format's error event saying the stream cannot be
    /// resumed.
    ///
    /// A generation running on this instance is read from memory. Otherwise the stream is read
    /// from the store, from its start: this waits for the stream's first item if it has none
    /// yet (at most until the producer's lease runs out, if it died). A reader that had seen the
    /// whole stream gets a [`ResumeSse`] that sends nothing
    /// ([`seen_everything`](ResumeSse::seen_everything)), answered `204 No Content`.
    ///
    /// What the stream can no longer guarantee arrives as the format's error event, with no
    /// events after it: items the store never got (`the stream cannot be resumed: part of it
    /// was not stored …`), items its caps dropped, and a producer that died (`generation lost:
    /// …`).
    ///
    /// # Errors
    ///
    /// [`ResumeError::NotFound`] when `last_event_id` is not an [`EventId`] or its stream is
    /// unknown, expired or another owner's — one error for all, so answer it with one response;
    /// [`ResumeError::Timeout`] or [`ResumeError::Unavailable`] when the store cannot be
    /// reached.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: it only reads, and a reader attached to the stream leaves with the dropped
    /// future.
    pub async fn resume<F>(
        &self,
        last_event_id: &str,
        owner: Option<&[u8]>,
        format: impl FnOnce(Option<&[u8]>) -> F,
    ) -> Result<ResumeSse<F>, ResumeError>
    where
        F: Format,
    {
        let after: EventId = last_event_id.parse()?;
        let stream = after.stream();
        let running = self.live().get(&stream).cloned();
        if let Some(shared) = running {
            if !shared.owned_by(owner) {
                return Err(ResumeError::NotFound);
            }
            let format = format(Some(&shared.meta()[..]));
            if after.is_last() {
                return Ok(ResumeSse::seen_all(stream, format));
            }
            let reader = LocalReader::attach(&shared);
            let renderer =
                Renderer::with_ids(format, stream, Some(after.position()), self.settings.retry);
            return Ok(ResumeSse::local(stream, reader, renderer));
        }
        // As in `start`: one more try after a broken connection; reading is idempotent.
        let mut read = self.settings.store.read(stream, owner, None).await;
        if matches!(read, Err(ResumeError::Unavailable(_))) {
            read = self.settings.store.read(stream, owner, None).await;
        }
        let entries = match read {
            Ok(entries) => entries,
            // The owner matched, but the stream's start is gone: nothing can be re-rendered.
            Err(ResumeError::Trimmed { .. }) => {
                return Ok(self.cannot_resume(stream, after, format(None)));
            }
            Err(error) => return Err(error),
        };
        if after.is_last() {
            return Ok(ResumeSse::seen_all(stream, format(None)));
        }
        let start = StoreReader::start(entries).await;
        let open = start.header.is_some();
        let format = format(start.header.as_deref());
        let renderer =
            Renderer::with_ids(format, stream, Some(after.position()), self.settings.retry);
        Ok(ResumeSse::from_store(stream, start.reader, renderer, open))
    }

    /// A reader that gets only the format's error event: the stream's start is gone.
    fn cannot_resume<F: Format>(
        &self,
        stream: super::StreamId,
        after: EventId,
        format: F,
    ) -> ResumeSse<F> {
        let renderer =
            Renderer::with_ids(format, stream, Some(after.position()), self.settings.retry);
        ResumeSse::from_store(stream, StoreReader::trimmed(), renderer, false)
    }
}
