//! A generation detached from the connection: its own task pulls the flushed stream, stores
//! each item, then hands it to the readers on this instance; it heartbeats while the model is
//! silent, finishes the stream at the end, and gives up on a stream nobody reads.

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use futures_core::Stream;
use tokio::time::Instant;

use super::codec::{self, Record};
use super::history::{End, Shared};
use super::relay::Settings;
use super::resume_item::{ResumeItem, Sealed as _};
use super::resume_sse::LOST;
use super::{Outcome, ResumeError, StreamId};
use crate::timer::LazyTimer;

/// The generations running on this instance, for the readers that come back here.
pub(crate) type Live = Mutex<HashMap<StreamId, Arc<Shared>>>;

/// The message of a generation cancelled for want of readers.
pub(crate) const ABANDONED: &str = "abandoned";

/// How long after a failed store operation the generation tries the store again (with a
/// heartbeat), storing nothing meanwhile.
const STORE_RETRY: Duration = Duration::from_millis(500);

type Probe = Pin<Box<dyn Future<Output = Result<(), ResumeError>> + Send>>;

/// Runs a generation to its end: the task [`Relay::start`](super::Relay::start) spawns.
pub(crate) async fn run<S>(
    settings: Arc<Settings>,
    live: Arc<Live>,
    id: StreamId,
    shared: Arc<Shared>,
    items: S,
) where
    S: Stream + Send + 'static,
    S::Item: ResumeItem,
{
    let mut ending = Ending {
        shared: Arc::clone(&shared),
        live,
        id,
        done: false,
    };
    let mut items = Box::pin(items);
    let mut producer = Producer {
        header: Some(shared.meta().clone()),
        settings,
        id,
        seq: 0,
        healthy: true,
        next_contact: Instant::now(),
        probe: None,
    };
    producer.next_contact = producer.heartbeat_due();
    let mut store_timer = LazyTimer::default();
    let mut abandon_timer = LazyTimer::default();
    let mut idle_since: Option<Instant> = None;

    let end = loop {
        let abandon_at = if shared.readers() == 0 {
            let since = *idle_since.get_or_insert_with(Instant::now);
            since.checked_add(producer.settings.grace)
        } else {
            idle_since = None;
            None
        };
        let changed = shared.readers_changed.notified();
        let mut changed = std::pin::pin!(changed);
        let wake = poll_fn(|cx| {
            if let Poll::Ready(item) = items.as_mut().poll_next(cx) {
                return Poll::Ready(Wake::Item(item));
            }
            if changed.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Wake::Readers);
            }
            if let Some(probe) = producer.probe.as_mut() {
                if let Poll::Ready(result) = probe.as_mut().poll(cx) {
                    return Poll::Ready(Wake::Probed(result));
                }
            }
            if let Some(at) = abandon_at {
                if abandon_timer.poll_until(at, cx).is_ready() {
                    return Poll::Ready(Wake::Abandoned);
                }
            }
            if producer.probe.is_none()
                && store_timer.poll_until(producer.next_contact, cx).is_ready()
            {
                return Poll::Ready(Wake::Contact);
            }
            Poll::Pending
        })
        .await;
        match wake {
            Wake::Item(None) => break End::Completed,
            Wake::Item(Some(item)) => match item.into_record() {
                Ok(record) => {
                    let size = producer.store(&record).await;
                    shared.publish(producer.seq, record, size);
                    producer.seq += 1;
                }
                Err(message) => break End::Failed(message),
            },
            Wake::Readers => {}
            Wake::Abandoned => break End::Failed(ABANDONED.to_owned()),
            Wake::Contact => producer.start_probe(),
            Wake::Probed(result) => producer.probed(result),
        }
    };
    // Dropping the upstream stops the model, as closing the connection does without resume.
    drop(items);
    producer.finish(&end).await;
    ending.end(end);
}

/// What woke the generation.
enum Wake<T> {
    Item(Option<T>),
    Readers,
    Abandoned,
    Contact,
    Probed(Result<(), ResumeError>),
}

/// The store side of a generation.
struct Producer {
    settings: Arc<Settings>,
    id: StreamId,
    /// The next item's sequence number.
    seq: u64,
    /// The stream's header, stored with the first item.
    header: Option<bytes::Bytes>,
    /// Whether the last store operation succeeded: while not, items are not stored (readers
    /// that resume later see them as a gap) and the store is tried again every
    /// [`STORE_RETRY`].
    healthy: bool,
    /// When to heartbeat (healthy) or try the store again (not).
    next_contact: Instant,
    probe: Option<Probe>,
}

impl Producer {
    fn heartbeat_due(&self) -> Instant {
        let after = if self.healthy {
            self.settings.heartbeat
        } else {
            STORE_RETRY
        };
        deadline(Instant::now(), after)
    }

    /// Stores a record under the next sequence number (unless the store is failing), within
    /// the append timeout; its stored size.
    async fn store(&mut self, record: &Record) -> usize {
        let header = if self.seq == 0 {
            self.header.take()
        } else {
            None
        };
        let bytes = codec::encode(header.as_deref(), Some(record));
        let size = bytes.len();
        if self.healthy {
            let timeout = self.settings.append_timeout;
            let append = self.settings.store.append(self.id, self.seq, bytes);
            let result = tokio::time::timeout(timeout, append)
                .await
                .unwrap_or(Err(ResumeError::Timeout(timeout)));
            self.contacted(result.is_ok());
        }
        size
    }

    fn contacted(&mut self, ok: bool) {
        self.healthy = ok;
        self.next_contact = self.heartbeat_due();
    }

    /// A heartbeat (or, while the store fails, a try), run beside the generation.
    fn start_probe(&mut self) {
        let store = Arc::clone(&self.settings.store);
        let (id, timeout) = (self.id, self.settings.append_timeout);
        self.probe = Some(Box::pin(async move {
            tokio::time::timeout(timeout, store.heartbeat(id))
                .await
                .unwrap_or(Err(ResumeError::Timeout(timeout)))
        }));
    }

    fn probed(&mut self, result: Result<(), ResumeError>) {
        self.probe = None;
        self.contacted(result.is_ok());
    }

    /// Stores the header if no item did, and the end; each within the append timeout. Tried
    /// even while the store fails: it may be back.
    async fn finish(&mut self, end: &End) {
        self.probe = None;
        let timeout = self.settings.append_timeout;
        if let Some(header) = self.header.take() {
            let bytes = codec::encode(Some(&header), None);
            let append = self.settings.store.append(self.id, self.seq, bytes);
            let _ = tokio::time::timeout(timeout, append).await;
        }
        let outcome = match end {
            End::Completed => Outcome::Completed,
            End::Failed(message) => Outcome::Failed(message.clone()),
        };
        let finish = self.settings.store.finish(self.id, outcome);
        let _ = tokio::time::timeout(timeout, finish).await;
    }
}

/// Ends the stream for the readers on this instance and forgets it, also when the task
/// unwinds or is dropped (then the readers get [`LOST`]; readers elsewhere learn it from the
/// store when the lease runs out).
struct Ending {
    shared: Arc<Shared>,
    live: Arc<Live>,
    id: StreamId,
    done: bool,
}

impl Ending {
    fn end(&mut self, end: End) {
        self.done = true;
        self.shared.end(end);
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

impl Drop for Ending {
    fn drop(&mut self) {
        if !self.done {
            self.end(End::Failed(LOST.to_owned()));
        }
    }
}

/// `now + after`, or a time decades away if that cannot be represented.
fn deadline(now: Instant, after: Duration) -> Instant {
    const DECADES: Duration = Duration::from_secs(30 * 365 * 24 * 60 * 60);
    now.checked_add(after)
        .or_else(|| now.checked_add(DECADES))
        .unwrap_or(now)
}
