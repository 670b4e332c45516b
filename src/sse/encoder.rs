//! The engine both SSE encoding adapters share: the format, the frame buffer, keep-alive with
//! its one timer, and the poll logic. The adapters only say how to poll their upstream.

use std::borrow::Borrow;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use super::{Format, KeepAlive};
use crate::timer::LazyTimer;
use crate::Chunk;

/// Frames are written into blocks of this size and split off as they are finished, so that
/// short frames do not each cost an allocation: a block is shared by the frames cut from it
/// and reused in place once they are all dropped (which an HTTP body does right after
/// writing them). A frame larger than a block gets a buffer of its own size.
const BLOCK: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not polled yet: the initial comment and the format's opening events are due.
    Fresh,
    Streaming,
    /// Upstream ended or failed: only `None` from now on.
    Done,
}

#[derive(Debug)]
pub(super) struct Encoder<F> {
    format: F,
    buf: BytesMut,
    keep_alive: Option<KeepAlive>,
    /// When the last frame was yielded (or the stream first polled); read only with keep-alive.
    last_frame: Option<Instant>,
    /// The one keep-alive timer: created the first time the stream waits with keep-alive on
    /// (so the adapter can be built outside a runtime), then reset in place.
    timer: LazyTimer,
    phase: Phase,
}

impl<F> Encoder<F> {
    pub(super) fn new(format: F) -> Self {
        Self {
            format,
            buf: BytesMut::new(),
            keep_alive: None,
            last_frame: None,
            timer: LazyTimer::default(),
            phase: Phase::Fresh,
        }
    }

    pub(super) fn set_keep_alive(&mut self, keep_alive: Option<KeepAlive>) {
        self.keep_alive = keep_alive;
    }

    pub(super) fn keep_alive(&self) -> Option<&KeepAlive> {
        self.keep_alive.as_ref()
    }

    pub(super) fn format(&self) -> &F {
        &self.format
    }

    pub(super) fn format_mut(&mut self) -> &mut F {
        &mut self.format
    }

    pub(super) fn is_done(&self) -> bool {
        self.phase == Phase::Done
    }

    /// Bounds on the frames still to come, given upstream's bounds. `ends_on_error`: an item
    /// of upstream may end the stream, so upstream's lower bound promises only one frame.
    pub(super) fn size_hint(
        &self,
        upstream: (usize, Option<usize>),
        ends_on_error: bool,
    ) -> (usize, Option<usize>) {
        if self.phase == Phase::Done {
            return (0, Some(0));
        }
        let lower = if ends_on_error {
            upstream.0.min(1)
        } else {
            upstream.0
        };
        if self.keep_alive.is_some() {
            return (lower, None);
        }
        // Besides one frame per item: the opening events and the closing events.
        let extra = if self.phase == Phase::Fresh { 2 } else { 1 };
        (lower, upstream.1.and_then(|upper| upper.checked_add(extra)))
    }
}

impl<F: Format> Encoder<F> {
    // State table (one row per situation; every poll yields at most one frame):
    //
    // | phase     | upstream         | then                                                    |
    // |-----------|------------------|---------------------------------------------------------|
    // | Done      | (not polled)     | Ready(None)                                             |
    // | Fresh     | (not polled yet) | initial comment and opening events: Ready(frame) if     |
    // |           |                  | there are any, else go on as Streaming; idle time starts |
    // | Streaming | Ready(Some(Ok))  | Ready(frame for the chunk); idle time restarts          |
    // | Streaming | Ready(Some(Err)) | Done, timer dropped; Ready(error)                       |
    // | Streaming | Ready(None)      | Done, timer dropped; Ready(closing events) or Ready(None)|
    // | Streaming | Pending          | keep-alive off: Pending. On: timer at last frame +      |
    // |           |                  | interval; fired -> Ready(keep-alive frame), else Pending |
    pub(super) fn poll_encode<C: Borrow<Chunk>, E>(
        &mut self,
        cx: &mut Context<'_>,
        poll_upstream: impl FnOnce(&mut Context<'_>) -> Poll<Option<Result<C, E>>>,
    ) -> Poll<Option<Result<Bytes, E>>> {
        match self.phase {
            Phase::Done => return Poll::Ready(None),
            Phase::Fresh => {
                self.phase = Phase::Streaming;
                // The opening frame gets a buffer of its own size: a format that opens with
                // nothing allocates nothing, so a stream waiting for its first token holds
                // no block.
                let mut opening = BytesMut::new();
                if let Some(keep_alive) = &self.keep_alive {
                    if keep_alive.initial_comment() {
                        self.format.keep_alive(keep_alive, &mut opening);
                    }
                }
                self.format.open(&mut opening);
                if self.keep_alive.is_some() {
                    self.last_frame = Some(Instant::now());
                }
                if !opening.is_empty() {
                    return Poll::Ready(Some(Ok(opening.freeze())));
                }
            }
            Phase::Streaming => {}
        }
        match poll_upstream(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.format.chunk(chunk.borrow(), block(&mut self.buf));
                Poll::Ready(Some(Ok(self.frame())))
            }
            Poll::Ready(Some(Err(error))) => {
                self.end();
                Poll::Ready(Some(Err(error)))
            }
            Poll::Ready(None) => {
                self.end();
                self.format.close(&mut self.buf);
                if self.buf.is_empty() {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Ok(self.buf.split().freeze())))
                }
            }
            Poll::Pending => self.poll_keep_alive(cx),
        }
    }

    fn poll_keep_alive<E>(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, E>>> {
        let Some(keep_alive) = &self.keep_alive else {
            return Poll::Pending;
        };
        let last_frame = *self.last_frame.get_or_insert_with(Instant::now);
        // An interval too long to add to the clock is one that never runs out.
        let Some(deadline) = last_frame.checked_add(keep_alive.interval()) else {
            return Poll::Pending;
        };
        match self.timer.poll_until(deadline, cx) {
            Poll::Ready(()) => {
                self.format.keep_alive(keep_alive, block(&mut self.buf));
                Poll::Ready(Some(Ok(self.frame())))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Cuts what was written since the last frame off the buffer, and restarts the idle time.
    /// The rest of the block stays for the next frames.
    fn frame(&mut self) -> Bytes {
        if self.keep_alive.is_some() {
            self.last_frame = Some(Instant::now());
        }
        self.buf.split().freeze()
    }

    fn end(&mut self) {
        self.phase = Phase::Done;
        self.timer.clear();
        self.last_frame = None;
    }
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
