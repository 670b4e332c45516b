//! [`EncodeSse`]: a chunk stream as SSE frames, an HTTP body and a response.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::sse_item::{Flow, SseItem};
use super::KeepAlive;
use crate::sse::Format;
use crate::timer::LazyTimer;

/// Frames are written into blocks of this size and split off as they are finished, so that
/// short frames do not each cost an allocation: a block is shared by the frames cut from it
/// and reused in place once they are all dropped (which an HTTP body does right after
/// writing them). A frame larger than a block gets a buffer of its own size.
const BLOCK: usize = 4096;

/// How many items one poll takes from upstream when the format writes nothing for them.
const ITEMS_PER_POLL: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not polled yet: the initial comment and the format's opening events are due.
    Fresh,
    Streaming,
    /// Upstream ended or failed: only `None` from now on.
    Done,
}

pin_project! {
    /// Stream for [`encode_sse`](super::EncodeSseExt::encode_sse) and
    /// [`encode_sse_as`](super::EncodeSseExt::encode_sse_as): one SSE frame per item, the
    /// format's opening and closing events, and keep-alive comments.
    ///
    /// It is also the response body: an [`http_body::Body`] with the `http-body` feature (and
    /// [`into_http_response`](Self::into_http_response) adds the event-stream headers), and an axum
    /// `IntoResponse` with the `axum` feature. An upstream error becomes the format's last
    /// event ([`Format::error`]) and ends the stream: the reader learns why the answer stops.
    ///
    /// # Cancel safety
    ///
    /// `next()` on this stream is cancel safe: an item is framed only in the poll that returns
    /// its frame, so dropping a pending `next()` loses nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::sse::EncodeSseExt;
    /// use tokenflush::{policy::Immediate, TryFlushExt};
    ///
    /// # futures::executor::block_on(async {
    /// let tokens = futures::stream::iter([Ok("Hel"), Ok("lo"), Err("model overloaded")]);
    /// let frames: Vec<_> = tokens.try_flush_with(Immediate::new()).encode_sse().collect().await;
    /// assert_eq!(
    ///     frames,
    ///     [
    ///         "data: Hel\n\n",
    ///         "data: lo\n\n",
    ///         "event: error\ndata: {\"message\":\"model overloaded\"}\n\n",
    ///     ]
    /// );
    /// # });
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct EncodeSse<S, F> {
        #[pin]
        upstream: S,
        format: F,
        buf: BytesMut,
        keep_alive: Option<KeepAlive>,
        // When the last frame was yielded (or the stream first polled); read only with
        // keep-alive on.
        last_frame: Option<Instant>,
        // The one keep-alive timer: created the first time the stream waits with keep-alive on
        // (so the stream can be built outside a runtime), then reset in place.
        timer: LazyTimer,
        phase: Phase,
    }
}

impl<S, F> EncodeSse<S, F> {
    pub(super) fn new(upstream: S, format: F) -> Self {
        Self {
            upstream,
            format,
            buf: BytesMut::new(),
            keep_alive: None,
            last_frame: None,
            timer: LazyTimer::default(),
            phase: Phase::Fresh,
        }
    }

    /// Sends keep-alive comments while upstream is quiet (see [`KeepAlive`]).
    ///
    /// # Panics
    ///
    /// With keep-alive on, the stream needs a Tokio runtime with the time driver enabled when
    /// it is first polled while upstream is quiet; polled outside one, it panics as
    /// [`tokio::time::sleep`] does.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use futures::StreamExt;
    /// use tokenflush::sse::{EncodeSseExt, KeepAlive};
    /// use tokenflush::Chunk;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // A model that thinks for 20 s before its only chunk.
    /// let chunks = futures::stream::once(async {
    ///     tokio::time::sleep(Duration::from_secs(20)).await;
    ///     Chunk::new("42").unwrap()
    /// });
    /// let frames: Vec<_> = chunks.encode_sse().with_keep_alive(KeepAlive::new()).collect().await;
    /// assert_eq!(frames, [": ping\n\n", "data: 42\n\n"]); // the ping at 15 s
    /// # }
    /// ```
    pub fn with_keep_alive(mut self, keep_alive: KeepAlive) -> Self {
        self.keep_alive = Some(keep_alive);
        self
    }

    /// The keep-alive settings, if keep-alive is on.
    pub fn keep_alive(&self) -> Option<&KeepAlive> {
        self.keep_alive.as_ref()
    }

    /// The format.
    pub fn format(&self) -> &F {
        &self.format
    }

    /// The format, mutably, for a format with settings that may change while the stream runs.
    pub fn format_mut(&mut self) -> &mut F {
        &mut self.format
    }

    /// The upstream stream.
    pub fn get_ref(&self) -> &S {
        &self.upstream
    }

    /// The upstream stream, mutably. Pulling items from it directly skips their frames.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.upstream
    }

    /// The pinned upstream stream, mutably.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut S> {
        self.project().upstream
    }

    /// The upstream stream.
    pub fn into_inner(self) -> S {
        self.upstream
    }
}

impl<S, F> Stream for EncodeSse<S, F>
where
    S: Stream,
    S::Item: SseItem,
    F: Format,
{
    type Item = Bytes;

    // State table (one row per situation; every poll yields at most one frame):
    //
    // | phase     | upstream         | then                                                    |
    // |-----------|------------------|---------------------------------------------------------|
    // | Done      | (not polled)     | Ready(None)                                             |
    // | Fresh     | (not polled yet) | initial comment and opening events: Ready(frame) if     |
    // |           |                  | there are any, else go on as Streaming; idle time starts |
    // | Streaming | Ready(Some(item))| Ready(the item's frame); idle time restarts; after an   |
    // |           |                  | error's frame: Done, timer dropped. No frame for it:    |
    // |           |                  | poll upstream again (at most ITEMS_PER_POLL items, then |
    // |           |                  | wake_by_ref and Pending)                                |
    // | Streaming | Ready(None)      | Done, timer dropped; Ready(closing events) or Ready(None)|
    // | Streaming | Pending          | keep-alive off: Pending. On: timer at last frame +      |
    // |           |                  | interval; fired -> Ready(keep-alive frame), else Pending |
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        let mut this = self.project();
        match *this.phase {
            Phase::Done => return Poll::Ready(None),
            Phase::Fresh => {
                *this.phase = Phase::Streaming;
                // The opening frame gets a buffer of its own size: a format that opens with
                // nothing allocates nothing, so a stream waiting for its first token holds
                // no block.
                let mut opening = BytesMut::new();
                if let Some(keep_alive) = this.keep_alive.as_ref() {
                    if keep_alive.initial_comment() {
                        this.format.keep_alive(keep_alive, &mut opening);
                    }
                    *this.last_frame = Some(Instant::now());
                }
                this.format.open(&mut opening);
                if !opening.is_empty() {
                    return Poll::Ready(Some(opening.freeze()));
                }
            }
            Phase::Streaming => {}
        }
        // Items a format writes nothing for (a choice, usage kept for the end) yield no frame:
        // take the next one, a bounded number of times per poll.
        for _ in 0..ITEMS_PER_POLL {
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(item)) => {
                    let flow = item.encode(this.format, block(this.buf));
                    if flow == Flow::End {
                        end(this.phase, this.timer);
                    }
                    if !this.buf.is_empty() {
                        if this.keep_alive.is_some() && flow == Flow::Continue {
                            *this.last_frame = Some(Instant::now());
                        }
                        return Poll::Ready(Some(this.buf.split().freeze()));
                    }
                    // A format may write nothing for an item (an error it does not report).
                    if *this.phase == Phase::Done {
                        return Poll::Ready(None);
                    }
                }
                Poll::Ready(None) => {
                    end(this.phase, this.timer);
                    this.format.close(this.buf);
                    return if this.buf.is_empty() {
                        Poll::Ready(None)
                    } else {
                        Poll::Ready(Some(this.buf.split().freeze()))
                    };
                }
                Poll::Pending => {
                    let Some(keep_alive) = this.keep_alive.as_ref() else {
                        return Poll::Pending;
                    };
                    let last_frame = *this.last_frame.get_or_insert_with(Instant::now);
                    // An interval too long to add to the clock is one that never runs out.
                    let Some(deadline) = last_frame.checked_add(keep_alive.interval()) else {
                        return Poll::Pending;
                    };
                    return match this.timer.poll_until(deadline, cx) {
                        Poll::Ready(()) => {
                            this.format.keep_alive(keep_alive, block(this.buf));
                            *this.last_frame = Some(Instant::now());
                            Poll::Ready(Some(this.buf.split().freeze()))
                        }
                        Poll::Pending => Poll::Pending,
                    };
                }
            }
        }
        // Budget spent on items without frames: let other tasks run, then go on.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.phase == Phase::Done {
            return (0, Some(0));
        }
        // An item may be an error that ends the stream: then upstream's lower bound promises
        // one frame at most; an item may get no frame at all (a typed item a format has no
        // place for): then it promises none.
        let lower = self.upstream.size_hint().0;
        let lower = if !S::Item::ALWAYS_FRAMED {
            0
        } else if S::Item::MAY_END {
            lower.min(1)
        } else {
            lower
        };
        if self.keep_alive.is_some() {
            return (lower, None);
        }
        // Besides one frame per item: the opening events and the closing events.
        let extra = if self.phase == Phase::Fresh { 2 } else { 1 };
        let upper = self.upstream.size_hint().1;
        (lower, upper.and_then(|upper| upper.checked_add(extra)))
    }
}

impl<S, F> FusedStream for EncodeSse<S, F>
where
    S: Stream,
    S::Item: SseItem,
    F: Format,
{
    fn is_terminated(&self) -> bool {
        self.phase == Phase::Done
    }
}

impl<S: fmt::Debug, F: fmt::Debug> fmt::Debug for EncodeSse<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncodeSse")
            .field("upstream", &self.upstream)
            .field("format", &self.format)
            .field("keep_alive", &self.keep_alive)
            .field("phase", &self.phase)
            .finish_non_exhaustive()
    }
}

/// The stream ends: no more frames, no more keep-alive.
fn end(phase: &mut Phase, timer: &mut LazyTimer) {
    *phase = Phase::Done;
    timer.clear();
}

/// `buf`, with a block's room when the last block is used up: frames are cut from
/// [`BLOCK`]-sized blocks, one allocation for many small frames. A used-up block is reused in
/// place when its frames have all been dropped (as an HTTP body drops them once written),
/// else a new one is taken, and only when a frame is to be written.
fn block(buf: &mut BytesMut) -> &mut BytesMut {
    if buf.capacity() == 0 && !buf.try_reclaim(BLOCK) {
        // `with_capacity`, so that when a frame outgrows what is left of this block,
        // `BytesMut` grows it by a whole block too.
        *buf = BytesMut::with_capacity(BLOCK);
    }
    buf
}
