//! What a generation has sent, kept in this process for the readers on this instance: they
//! never read the store. Bounded by the stream's caps, like the store.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use tokio::sync::Notify;

use super::codec::Record;
use super::owner;

/// How a stream ended, as its readers render it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum End {
    /// The generation ended normally: the format's closing events.
    Completed,
    /// The generation failed, or the stream cannot be read on: the format's error event with
    /// this message.
    Failed(String),
}

/// What a reader takes next.
#[derive(Clone, Debug)]
pub(crate) enum Step {
    Record(u64, Arc<Record>),
    End(End),
}

/// A generation's state shared with its readers on this instance.
pub(crate) struct Shared {
    owner: Option<Box<[u8]>>,
    meta: Bytes,
    history: Mutex<History>,
    /// Readers attached now.
    readers: AtomicUsize,
    /// Wakes the generation when the number of readers changes.
    pub(crate) readers_changed: Notify,
}

struct History {
    /// `(seq, record, stored size)`, oldest first.
    records: VecDeque<(u64, Arc<Record>, usize)>,
    /// Records dropped from the front to keep within the caps.
    dropped: u64,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
    end: Option<End>,
    /// Readers waiting for the next record: `(reader, waker)`.
    waiting: Vec<(u64, Waker)>,
    next_reader: u64,
}

impl Shared {
    pub(crate) fn new(
        owner: Option<&[u8]>,
        meta: Bytes,
        max_entries: usize,
        max_bytes: usize,
    ) -> Self {
        Self {
            owner: owner.map(Box::from),
            meta,
            history: Mutex::new(History {
                records: VecDeque::new(),
                dropped: 0,
                bytes: 0,
                max_entries,
                max_bytes,
                end: None,
                waiting: Vec::new(),
                next_reader: 0,
            }),
            readers: AtomicUsize::new(0),
            readers_changed: Notify::new(),
        }
    }

    /// Whether `owner` may read this stream (constant time, as the stores compare).
    pub(crate) fn owned_by(&self, owner: Option<&[u8]>) -> bool {
        owner::same(self.owner.as_deref(), owner)
    }

    pub(crate) fn meta(&self) -> &Bytes {
        &self.meta
    }

    pub(crate) fn readers(&self) -> usize {
        self.readers.load(Ordering::SeqCst)
    }

    fn lock(&self) -> MutexGuard<'_, History> {
        // No code panics while holding the lock; the history stays consistent if some did.
        self.history.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Hands a record to the readers; `size` counts against the caps (its stored size).
    pub(crate) fn publish(&self, seq: u64, record: Record, size: usize) {
        let mut history = self.lock();
        history.records.push_back((seq, Arc::new(record), size));
        history.bytes += size;
        while history.records.len() > history.max_entries || history.bytes > history.max_bytes {
            let Some((_, _, size)) = history.records.pop_front() else {
                break;
            };
            history.bytes -= size;
            history.dropped += 1;
        }
        history.wake();
    }

    /// Ends the stream for its readers.
    pub(crate) fn end(&self, end: End) {
        let mut history = self.lock();
        history.end = Some(end);
        history.wake();
    }
}

impl History {
    fn wake(&mut self) {
        for (_, waker) in self.waiting.drain(..) {
            waker.wake();
        }
    }
}

/// A reader of a generation on this instance, from its first record on; counted while it
/// lives.
pub(crate) struct LocalReader {
    shared: Arc<Shared>,
    id: u64,
    /// The next record to take, counted from the stream's first.
    next: u64,
    done: bool,
}

/// The message of a reader that fell behind what the caps keep.
pub(crate) const TRIMMED: &str =
    "the stream cannot be resumed: its beginning is no longer kept (it outgrew its caps)";

impl LocalReader {
    pub(crate) fn attach(shared: &Arc<Shared>) -> Self {
        let id = {
            let mut history = shared.lock();
            history.next_reader += 1;
            history.next_reader
        };
        shared.readers.fetch_add(1, Ordering::SeqCst);
        shared.readers_changed.notify_one();
        Self {
            shared: Arc::clone(shared),
            id,
            next: 0,
            done: false,
        }
    }

    pub(crate) fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Option<Step>> {
        if self.done {
            return Poll::Ready(None);
        }
        let mut history = self.shared.lock();
        if self.next < history.dropped {
            self.done = true;
            return Poll::Ready(Some(Step::End(End::Failed(TRIMMED.to_owned()))));
        }
        let index = usize::try_from(self.next - history.dropped).unwrap_or(usize::MAX);
        if let Some((seq, record, _)) = history.records.get(index) {
            self.next += 1;
            return Poll::Ready(Some(Step::Record(*seq, Arc::clone(record))));
        }
        if let Some(end) = &history.end {
            self.done = true;
            return Poll::Ready(Some(Step::End(end.clone())));
        }
        match history
            .waiting
            .iter_mut()
            .find(|(reader, _)| *reader == self.id)
        {
            Some((_, waker)) => waker.clone_from(cx.waker()),
            None => {
                let id = self.id;
                history.waiting.push((id, cx.waker().clone()));
            }
        }
        Poll::Pending
    }
}

impl Drop for LocalReader {
    fn drop(&mut self) {
        let mut history = self.shared.lock();
        let id = self.id;
        history.waiting.retain(|(reader, _)| *reader != id);
        drop(history);
        self.shared.readers.fetch_sub(1, Ordering::SeqCst);
        self.shared.readers_changed.notify_one();
    }
}
