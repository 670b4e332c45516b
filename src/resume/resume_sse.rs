//! [`ResumeSse`]: one reader's event stream of a resumable generation, and the response body.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::{FusedStream, Stream};
use tokio::time::Instant;

use super::codec::{self, CodecError};
use super::history::{End, LocalReader, Step};
use super::resume_item::{ResumeItem, Sealed as _};
use super::{Entries, Entry, Outcome, ResumeError, StreamId};
use crate::sse::{Format, KeepAlive};
use crate::timer::LazyTimer;

/// Records rendered per poll before the stream yields to the runtime, when a replay skips
/// events the reader has seen.
const BUDGET: usize = 64;

/// What a reader learns when the stored stream has a hole: part of it was never stored (the
/// store was unreachable for a while, or restarted and lost it), so its events cannot be
/// replayed as they were sent.
pub(crate) const GAP: &str =
    "the stream cannot be resumed: part of it was not stored (the store was unavailable)";

/// What a reader learns when the generation's server stopped without finishing it.
pub(crate) const LOST: &str = "generation lost: the server running it stopped before finishing it";

/// What a reader learns when a stored item cannot be read back.
const DAMAGED: &str = "the stream cannot be resumed: a stored item cannot be read";

/// What a reader learns when the store failed while it read.
const UNAVAILABLE: &str = "the stream cannot be resumed now: the store is unavailable";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// The opening events are due (when the format is to open).
    Fresh,
    Streaming,
    Done,
}

/// One reader's event stream of a resumable generation (feature `resume`): the frames of
/// the generation's items in a [`Format`], each event with an [`EventId`](super::EventId),
/// a `retry:` field with the first event, then the items as they come, then the format's
/// closing (or error) events.
///
/// [`Relay::start`](super::Relay::start) returns the first reader's;
/// [`Relay::resume`](super::Relay::resume) returns one that replays everything after the
/// reader's `Last-Event-ID` and then follows live. It is also the response body: an
/// `http_body::Body` with the `http-body` feature (and `into_http_response` adds the
/// event-stream headers, or answers `204 No Content` to a reader that has seen
/// everything), and an axum `IntoResponse` with the `axum` feature.
///
/// Dropping it detaches the reader; the generation goes on (see
/// [`Relay::with_grace`](super::Relay::with_grace)), except for a stream without resume
/// ([`Relay::with_optional_store`](super::Relay::with_optional_store)), whose model stops
/// as a plain response's does.
///
/// # Cancel safety
///
/// `next()` is cancel safe: an item is rendered only in the poll that returns its frame.
///
/// # Examples
///
/// See [`Relay`](super::Relay).
#[must_use = "streams do nothing unless polled"]
pub struct ResumeSse<F> {
    source: Source,
    renderer: super::render::Renderer<F>,
    stream: Option<StreamId>,
    keep_alive: Option<KeepAlive>,
    last_frame: Option<Instant>,
    timer: LazyTimer,
    phase: Phase,
    /// Whether the reader had seen the whole stream before this one started.
    seen_all: bool,
    buf: BytesMut,
}

// Nothing is pinned: the format and the sources are only ever used through `&mut`.
impl<F> Unpin for ResumeSse<F> {}

/// Where a reader's records come from.
enum Source {
    /// A generation on this instance.
    Local(LocalReader),
    /// The store, for a generation elsewhere (or one that ended here).
    Store(StoreReader),
    /// The flushed stream itself: streaming without resume.
    Direct(Pin<Box<dyn Stream<Item = Step> + Send>>),
    /// Nothing more.
    Ended,
}

impl<F: Format> ResumeSse<F> {
    pub(crate) fn local(
        stream: StreamId,
        reader: LocalReader,
        renderer: super::render::Renderer<F>,
    ) -> Self {
        Self::new(Source::Local(reader), renderer, Some(stream), true)
    }

    pub(crate) fn from_store(
        stream: StreamId,
        reader: StoreReader,
        renderer: super::render::Renderer<F>,
        open: bool,
    ) -> Self {
        Self::new(Source::Store(reader), renderer, Some(stream), open)
    }

    pub(crate) fn direct<S>(items: S, format: F) -> Self
    where
        S: Stream + Send + 'static,
        S::Item: ResumeItem,
    {
        let steps = Box::pin(DirectSource {
            items: Box::pin(items),
            done: false,
        });
        Self::new(
            Source::Direct(steps),
            super::render::Renderer::plain(format),
            None,
            true,
        )
    }

    /// A reader that has seen the whole stream: nothing to send.
    pub(crate) fn seen_all(stream: StreamId, format: F) -> Self {
        let mut sse = Self::new(
            Source::Ended,
            super::render::Renderer::plain(format),
            Some(stream),
            false,
        );
        sse.phase = Phase::Done;
        sse.seen_all = true;
        sse
    }

    fn new(
        source: Source,
        renderer: super::render::Renderer<F>,
        stream: Option<StreamId>,
        open: bool,
    ) -> Self {
        Self {
            source,
            renderer,
            stream,
            keep_alive: None,
            last_frame: None,
            timer: LazyTimer::default(),
            phase: if open { Phase::Fresh } else { Phase::Streaming },
            seen_all: false,
            buf: BytesMut::new(),
        }
    }
}

impl<F> ResumeSse<F> {
    /// Sends keep-alive frames while the generation is quiet (see [`KeepAlive`]); they carry
    /// no id.
    ///
    /// # Panics
    ///
    /// With keep-alive on, the stream needs a Tokio runtime with the time driver enabled when
    /// it waits, as [`tokio::time::sleep`] does.
    pub fn with_keep_alive(mut self, keep_alive: KeepAlive) -> Self {
        self.keep_alive = Some(keep_alive);
        self
    }

    /// The stream's id, or `None` for a stream without resume (the store was unreachable at
    /// the start and [`Relay::with_optional_store`](super::Relay::with_optional_store) is on).
    pub fn stream_id(&self) -> Option<StreamId> {
        self.stream
    }

    /// Whether the reader had already seen the whole stream, so nothing is sent: an HTTP
    /// response says `204 No Content`, which also stops a browser's `EventSource` from
    /// reconnecting.
    pub fn seen_everything(&self) -> bool {
        self.seen_all
    }

    /// The format.
    pub fn format(&self) -> &F {
        self.renderer.format()
    }

    /// The format, mutably.
    pub fn format_mut(&mut self) -> &mut F {
        self.renderer.format_mut()
    }
}

impl<F: Format> Stream for ResumeSse<F> {
    type Item = Bytes;

    // State table (every poll yields at most one frame):
    //
    // | phase     | source             | then                                                 |
    // |-----------|--------------------|------------------------------------------------------|
    // | Done      | (not polled)       | Ready(None)                                          |
    // | Fresh     | (not polled yet)   | the opening events; Ready(frame) unless the reader   |
    // |           |                    | saw them all, else go on as Streaming                |
    // | Streaming | Ready(record)      | its events, less those the reader saw: Ready(frame), |
    // |           |                    | or the next record (at most BUDGET, then yield)      |
    // | Streaming | Ready(end)         | Done, source and timer dropped; Ready(closing or     |
    // |           |                    | error events), or Ready(None) if the reader saw them |
    // | Streaming | Pending            | keep-alive off: Pending. On: timer at last frame +   |
    // |           |                    | interval; fired -> Ready(keep-alive frame)           |
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let this = self.get_mut();
        if this.phase == Phase::Done {
            return Poll::Ready(None);
        }
        if this.phase == Phase::Fresh {
            this.phase = Phase::Streaming;
            if this.keep_alive.is_some() {
                this.last_frame = Some(Instant::now());
            }
            this.renderer.open(&mut this.buf);
            if !this.buf.is_empty() {
                return Poll::Ready(Some(this.frame()));
            }
        }
        for _ in 0..BUDGET {
            let step = match this.source.poll_step(cx) {
                Poll::Ready(step) => step,
                Poll::Pending => return this.poll_keep_alive(cx),
            };
            match step {
                Step::Record(seq, record) => this.renderer.record(seq, &record, &mut this.buf),
                Step::End(end) => {
                    this.renderer.end(&end, &mut this.buf);
                    this.phase = Phase::Done;
                    this.source = Source::Ended;
                    this.timer.clear();
                    if this.buf.is_empty() {
                        return Poll::Ready(None);
                    }
                }
            }
            if !this.buf.is_empty() {
                return Poll::Ready(Some(this.frame()));
            }
        }
        // A long replay of events the reader has seen: let other tasks run.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match self.phase {
            Phase::Done => (0, Some(0)),
            _ => (0, None),
        }
    }
}

impl<F: Format> FusedStream for ResumeSse<F> {
    fn is_terminated(&self) -> bool {
        self.phase == Phase::Done
    }
}

impl<F: fmt::Debug> fmt::Debug for ResumeSse<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match self.source {
            Source::Local(_) => "local",
            Source::Store(_) => "store",
            Source::Direct(_) => "direct",
            Source::Ended => "ended",
        };
        f.debug_struct("ResumeSse")
            .field("stream", &self.stream)
            .field("source", &source)
            .field("format", self.renderer.format())
            .field("keep_alive", &self.keep_alive)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

impl<F: Format> ResumeSse<F> {
    /// The frame written so far, noting when it went out for the keep-alive.
    fn frame(&mut self) -> Bytes {
        if self.keep_alive.is_some() {
            self.last_frame = Some(Instant::now());
        }
        self.buf.split().freeze()
    }

    /// Waiting for the source: a keep-alive frame when one is due.
    fn poll_keep_alive(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let Some(keep_alive) = self.keep_alive.as_ref() else {
            return Poll::Pending;
        };
        let last = *self.last_frame.get_or_insert_with(Instant::now);
        let Some(deadline) = last.checked_add(keep_alive.interval()) else {
            return Poll::Pending;
        };
        match self.timer.poll_until(deadline, cx) {
            Poll::Ready(()) => {
                self.renderer.keep_alive(keep_alive, &mut self.buf);
                self.last_frame = Some(Instant::now());
                Poll::Ready(Some(self.buf.split().freeze()))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Source {
    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Step> {
        let step = match self {
            Self::Local(reader) => reader.poll_step(cx),
            Self::Store(reader) => reader.poll_step(cx),
            Self::Direct(steps) => steps.as_mut().poll_next(cx),
            Self::Ended => Poll::Ready(None),
        };
        // A source that ends without saying how is read no further.
        step.map(|step| step.unwrap_or_else(|| Step::End(End::Failed(UNAVAILABLE.to_owned()))))
    }
}

/// Reads a stream from the store, from its first item on.
pub(crate) struct StoreReader {
    /// `None` for a reader that only reports why it cannot go on.
    entries: Option<Entries>,
    /// The first item, read before the reader started (to learn the stream's header).
    first: Option<Step>,
    done: bool,
}

/// The start of a stored stream: its header (if the store still has it), and how a reader
/// goes on.
pub(crate) struct StoredStart {
    pub(crate) header: Option<Bytes>,
    pub(crate) reader: StoreReader,
}

impl StoreReader {
    /// Reads the stream's first entry: the header with (usually) the first item.
    pub(crate) async fn start(mut entries: Entries) -> StoredStart {
        let first = std::future::poll_fn(|cx| Pin::new(&mut entries).poll_next(cx)).await;
        let (header, first) = match first {
            Some(Ok(Entry::Item { seq: 0, bytes })) => match codec::decode(&bytes) {
                Ok((header, record)) => (header, record.map(|r| Step::Record(0, Arc::new(r)))),
                Err(error) => (None, Some(damaged(error))),
            },
            other => (None, Some(step_of(other))),
        };
        // Without the header, nothing can be rendered as it was sent.
        let first = match (&header, first) {
            (None, Some(Step::Record(..)) | None) => Some(Step::End(End::Failed(GAP.to_owned()))),
            (_, first) => first,
        };
        StoredStart {
            header,
            reader: Self {
                entries: Some(entries),
                first,
                done: false,
            },
        }
    }

    /// A reader of a stream whose start the store no longer has.
    pub(crate) fn trimmed() -> Self {
        Self {
            entries: None,
            first: Some(Step::End(End::Failed(super::history::TRIMMED.to_owned()))),
            done: false,
        }
    }

    fn poll_step(&mut self, cx: &mut Context<'_>) -> Poll<Option<Step>> {
        if let Some(first) = self.first.take() {
            self.done = matches!(first, Step::End(_));
            return Poll::Ready(Some(first));
        }
        let Some(entries) = self.entries.as_mut().filter(|_| !self.done) else {
            return Poll::Ready(None);
        };
        loop {
            let entry = match Pin::new(&mut *entries).poll_next(cx) {
                Poll::Ready(entry) => entry,
                Poll::Pending => return Poll::Pending,
            };
            // The header alone (a stream without items) renders nothing.
            if let Some(Ok(Entry::Item { bytes, .. })) = &entry {
                if matches!(codec::decode(bytes), Ok((_, None))) {
                    continue;
                }
            }
            let step = step_of(entry);
            if matches!(step, Step::End(_)) {
                self.done = true;
            }
            return Poll::Ready(Some(step));
        }
    }
}

/// What a stored entry (or the end of the entries) means to a reader.
fn step_of(entry: Option<Result<Entry, ResumeError>>) -> Step {
    let end = match entry {
        Some(Ok(Entry::Item { seq, bytes })) => match codec::decode(&bytes) {
            Ok((_, Some(record))) => return Step::Record(seq, Arc::new(record)),
            Ok((_, None)) => End::Failed(DAMAGED.to_owned()),
            Err(error) => return damaged(error),
        },
        Some(Ok(Entry::Gap(_))) => End::Failed(GAP.to_owned()),
        Some(Ok(Entry::Finished(Outcome::Completed))) => End::Completed,
        Some(Ok(Entry::Finished(Outcome::Failed(message)))) => End::Failed(message),
        Some(Ok(Entry::Lost)) => End::Failed(LOST.to_owned()),
        Some(Err(ResumeError::Trimmed { .. })) => End::Failed(super::history::TRIMMED.to_owned()),
        Some(Err(_)) | None => End::Failed(UNAVAILABLE.to_owned()),
    };
    Step::End(end)
}

fn damaged(error: CodecError) -> Step {
    Step::End(End::Failed(match error {
        CodecError::Version(_) => {
            format!("the stream cannot be resumed: {error}")
        }
        CodecError::Damaged => DAMAGED.to_owned(),
    }))
}

/// The flushed stream as steps, for a stream without resume.
struct DirectSource<S> {
    items: Pin<Box<S>>,
    done: bool,
}

impl<S> Stream for DirectSource<S>
where
    S: Stream,
    S::Item: ResumeItem,
{
    type Item = Step;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Step>> {
        if self.done {
            return Poll::Ready(None);
        }
        let item = match self.items.as_mut().poll_next(cx) {
            Poll::Ready(item) => item,
            Poll::Pending => return Poll::Pending,
        };
        Poll::Ready(Some(match item.map(|item| item.into_record()) {
            Some(Ok(record)) => Step::Record(0, Arc::new(record)),
            Some(Err(message)) => {
                self.done = true;
                Step::End(End::Failed(message))
            }
            None => {
                self.done = true;
                Step::End(End::Completed)
            }
        }))
    }
}
