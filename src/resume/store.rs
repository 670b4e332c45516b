use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures_core::{FusedStream, Stream};

use super::{Entry, Outcome, ResumeError, StreamId, StreamOptions};

/// The future a [`ResumeStore`] operation returns.
pub type ResumeFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, ResumeError>> + Send + 'a>>;

/// The entries a [`ResumeStore::read`] yields: stored ones, then live ones as they come, until
/// the stream finishes, is lost, or fails; then `None`, for good.
///
/// # Cancel safety
///
/// Polling is cancel safe: a `next()` dropped before it resolves (a `select!`, a timeout) loses
/// nothing; the entry it was waiting for comes with the next call.
///
/// # Examples
///
/// A store of your own wraps its reader:
///
/// ```
/// use futures::StreamExt;
/// use tokenflush::resume::{Entries, Entry};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let mut entries = Entries::new(futures::stream::iter([Ok(Entry::Lost)]));
/// assert_eq!(entries.next().await, Some(Ok(Entry::Lost)));
/// assert_eq!(entries.next().await, None);
/// # }
/// ```
#[must_use = "streams do nothing unless polled"]
pub struct Entries {
    /// `None` once it ended.
    inner: Option<BoxEntries>,
}

type BoxEntries = Pin<Box<dyn Stream<Item = Result<Entry, ResumeError>> + Send>>;

impl Entries {
    /// Wraps a store's stream of entries.
    pub fn new(entries: impl Stream<Item = Result<Entry, ResumeError>> + Send + 'static) -> Self {
        Self {
            inner: Some(Box::pin(entries)),
        }
    }
}

impl fmt::Debug for Entries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entries")
            .field("ended", &self.inner.is_none())
            .finish_non_exhaustive()
    }
}

impl Stream for Entries {
    type Item = Result<Entry, ResumeError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(inner) = self.inner.as_mut() else {
            return Poll::Ready(None);
        };
        let next = ready!(inner.as_mut().poll_next(cx));
        if next.is_none() {
            self.inner = None;
        }
        Poll::Ready(next)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.inner {
            Some(inner) => (0, inner.size_hint().1),
            None => (0, Some(0)),
        }
    }
}

impl FusedStream for Entries {
    fn is_terminated(&self) -> bool {
        self.inner.is_none()
    }
}

/// Where a resumable stream's items are kept, so that a reader that lost its connection can
/// read them again — on this server instance or, with a shared store, on another.
///
/// One producer per stream: it [`create`](Self::create)s the stream, [`append`](Self::append)s
/// each item (a flushed chunk, a tool call, a finish reason, …, serialised by the caller) with
/// the next sequence number *before* sending it to its live readers, keeps its lease with
/// [`heartbeat`](Self::heartbeat) while the model is silent, and [`finish`](Self::finish)es.
/// Any number of readers [`read`](Self::read) a stream from a sequence number on, then follow it
/// live.
///
/// The trait is object safe: servers hold an `Arc<dyn ResumeStore>` and choose the store at
/// start-up ([`MemoryStore`](super::MemoryStore) for one process,
/// `RedisStore`, feature `redis`, for several).
///
/// Sequence numbers go up by one per item, starting at 0: a store keeps whatever it is given
/// in ascending order, and a reader sees a skipped number as an [`Entry::Gap`], so a producer
/// that could not store an item (the store was down) does not renumber the next one.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
///
/// use bytes::Bytes;
/// use futures::StreamExt;
/// use tokenflush::resume::{Entry, MemoryStore, Outcome, ResumeStore, StreamOptions};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tokenflush::resume::ResumeError> {
/// let store: Arc<dyn ResumeStore> = Arc::new(MemoryStore::new());
/// let owner = b"hmac of the caller's credential";
///
/// // The producer.
/// let id = store.create(Some(owner), &StreamOptions::new()).await?;
/// store.append(id, 0, Bytes::from("Hello")).await?;
/// store.append(id, 1, Bytes::from(", world")).await?;
/// store.finish(id, Outcome::Completed).await?;
///
/// // A reader that saw item 0 before its connection dropped.
/// let mut entries = store.read(id, Some(owner), Some(0)).await?;
/// assert_eq!(entries.next().await, Some(Ok(Entry::Item { seq: 1, bytes: Bytes::from(", world") })));
/// assert_eq!(entries.next().await, Some(Ok(Entry::Finished(Outcome::Completed))));
/// assert_eq!(entries.next().await, None);
/// # Ok(())
/// # }
/// ```
pub trait ResumeStore: Send + Sync + fmt::Debug {
    /// Creates a stream and returns its new random id.
    ///
    /// `owner` binds the stream to its caller: [`read`](Self::read) then needs the same tag.
    /// Derive it from the caller's credential (for example an HMAC of the credential under a
    /// server key) and never pass the credential itself: stores keep the tag as given, where
    /// whoever reads the store can see it. `None` makes the id alone enough to read.
    ///
    /// # Errors
    ///
    /// [`ResumeError::Limit`] when the store holds as many streams as it may;
    /// [`ResumeError::Timeout`] or [`ResumeError::Unavailable`] when the store cannot be
    /// reached.
    ///
    /// # Panics
    ///
    /// If `owner` is longer than 64 bytes (tags are digests, of a fixed size).
    fn create<'a>(
        &'a self,
        owner: Option<&'a [u8]>,
        options: &'a StreamOptions,
    ) -> ResumeFuture<'a, StreamId>;

    /// Stores an item under `seq`, renewing the producer's lease and the stream's
    /// time-to-live; wakes the stream's followers. May drop the oldest items to keep the
    /// stream within its caps.
    ///
    /// # Errors
    ///
    /// [`ResumeError::NotFound`] (unknown or expired stream), [`ResumeError::Finished`],
    /// [`ResumeError::Sequence`] (`seq` not above the last one), [`ResumeError::TooLarge`],
    /// and [`ResumeError::Timeout`] or [`ResumeError::Unavailable`] when the store cannot be
    /// reached: then the item is not stored, and readers that resume later see it as a gap.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future may leave the item stored or not; append the next item with the
    /// next sequence number either way.
    fn append(&self, id: StreamId, seq: u64, item: Bytes) -> ResumeFuture<'_, ()>;

    /// Renews the producer's lease and the stream's time-to-live without appending, while the
    /// model is silent.
    ///
    /// # Errors
    ///
    /// As [`append`](Self::append), less the ones about the item.
    fn heartbeat(&self, id: StreamId) -> ResumeFuture<'_, ()>;

    /// Marks the stream finished: followers receive [`Entry::Finished`] after the last item,
    /// and the stream is kept for its finished time-to-live.
    ///
    /// # Errors
    ///
    /// [`ResumeError::NotFound`], [`ResumeError::Finished`] (it already finished),
    /// [`ResumeError::Timeout`], [`ResumeError::Unavailable`].
    fn finish(&self, id: StreamId, outcome: Outcome) -> ResumeFuture<'_, ()>;

    /// Reads the stream's items after sequence number `after` (all of them for `None`), then
    /// follows it live until [`Entry::Finished`] or [`Entry::Lost`].
    ///
    /// Checking the stream happens before the future resolves, so a server can answer "not
    /// found" before it starts a response.
    ///
    /// # Errors
    ///
    /// [`ResumeError::NotFound`] when the stream is unknown, expired, or `owner` is not the
    /// tag it was created with — the same error, with the same message, in all three cases;
    /// [`ResumeError::Trimmed`] when items after `after` were dropped by the caps;
    /// [`ResumeError::Timeout`] or [`ResumeError::Unavailable`]. The entries may end with an
    /// error too: [`ResumeError::Trimmed`] for a follower that fell behind the caps, or a
    /// store failure.
    fn read<'a>(
        &'a self,
        id: StreamId,
        owner: Option<&'a [u8]>,
        after: Option<u64>,
    ) -> ResumeFuture<'a, Entries>;
}
