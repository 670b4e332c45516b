//! The engine both flush adapters share: the buffer, the decoder, the one timer and the poll
//! loop. The adapters only say how to poll their upstream and what to do with its errors.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::{Instant, Sleep};

use crate::policy::{BufferState, Decision, FlushPolicy};
use crate::utf8::Utf8Decoder;
use crate::{Chunk, FlushReason, Token, TokenContent};

/// How many upstream items one poll takes at most before yielding to the executor, so an
/// always-ready upstream cannot starve other tasks.
pub(super) const POLL_BUDGET: usize = 64;

/// Capacity kept by the buffer between chunks; a larger one (left by a huge token) is shrunk.
const RETAINED_CAPACITY: usize = 64 * 1024;

/// What one poll of the engine produced.
pub(super) enum Flushed<E> {
    Chunk(Chunk),
    /// Upstream failed with nothing buffered.
    Error(E),
    /// Upstream failed; the buffered text goes out first (reason [`FlushReason::Error`]).
    ChunkThenError(Chunk, E),
}

/// When the oldest buffered text became complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Oldest {
    /// No complete text is buffered.
    Empty,
    /// During the current poll; the clock has not been read for it (yet).
    ThisPoll,
    At(Instant),
}

/// The clock as seen by one poll: read at most once, and only if something needs it.
///
/// Within one poll all tokens count as pulled at the same instant: on a paused clock that is
/// exact, on a real one it is off by the poll's duration (microseconds).
#[derive(Default)]
struct PollClock(Option<Instant>);

impl PollClock {
    fn now(&mut self) -> Instant {
        *self.0.get_or_insert_with(Instant::now)
    }

    fn read(&self) -> Option<Instant> {
        self.0
    }
}

impl<P: fmt::Debug> fmt::Debug for Flusher<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flusher")
            .field("policy", &self.policy)
            .field("buffered", &self.text)
            .field("pending_bytes", &self.decoder.pending_len())
            .field("tokens", &self.tokens)
            .field("deadline", &self.deadline)
            .field("chunks_emitted", &self.chunks_emitted)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

pub(super) struct Flusher<P> {
    policy: P,
    /// Complete text waiting to be flushed; its allocation is reused from chunk to chunk.
    text: String,
    decoder: Utf8Decoder,
    /// Tokens pulled since the last flush, including those holding only part of a character.
    tokens: usize,
    oldest: Oldest,
    /// When the policy asked to flush at the latest.
    deadline: Option<Instant>,
    /// The adapter's one timer: created the first time a poll must wait for a deadline (so the
    /// adapter can be built outside a runtime), then reset in place.
    timer: Option<Pin<Box<Sleep>>>,
    chunks_emitted: u64,
    finished: bool,
}

impl<P> Flusher<P> {
    pub(super) fn new(policy: P) -> Self {
        Self {
            policy,
            text: String::new(),
            decoder: Utf8Decoder::lossy(),
            tokens: 0,
            oldest: Oldest::Empty,
            deadline: None,
            timer: None,
            chunks_emitted: 0,
            finished: false,
        }
    }

    pub(super) fn policy(&self) -> &P {
        &self.policy
    }

    pub(super) fn policy_mut(&mut self) -> &mut P {
        &mut self.policy
    }

    pub(super) fn buffered(&self) -> &str {
        &self.text
    }

    pub(super) fn is_finished(&self) -> bool {
        self.finished
    }

    /// Empties the buffer without flushing; a carried partial character becomes U+FFFD.
    pub(super) fn take_buffered(&mut self) -> String {
        // Lossy decoding never fails.
        let _ = self.decoder.finish(&mut self.text);
        let capacity = self.text.capacity().min(RETAINED_CAPACITY);
        self.reset_buffer();
        mem::replace(&mut self.text, String::with_capacity(capacity))
    }

    /// The bounds on how many items remain, given upstream's.
    pub(super) fn size_hint(&self, upstream: (usize, Option<usize>)) -> (usize, Option<usize>) {
        if self.finished {
            return (0, Some(0));
        }
        // Each token flushes at most one chunk; besides, buffered text can go out on a deadline
        // and a carried partial character as U+FFFD at the end, with no token pulled.
        let held = usize::from(!self.text.is_empty());
        let extra = held + usize::from(self.decoder.has_pending());
        (held, upstream.1.and_then(|upper| upper.checked_add(extra)))
    }

    fn reset_buffer(&mut self) {
        self.tokens = 0;
        self.oldest = Oldest::Empty;
        self.deadline = None;
    }
}

impl<P: FlushPolicy> Flusher<P> {
    // State table (one row per upstream poll result; the loop runs at most POLL_BUDGET times):
    //
    // | upstream          | then                                                              |
    // |-------------------|-------------------------------------------------------------------|
    // | (already ended)   | Ready(None)                                                       |
    // | Ready(Some(Ok))   | append; if text: ask the policy; Flush -> Ready(chunk), else loop |
    // | Ready(Some(Err))  | text buffered -> Ready(chunk, reason Error) then the error;       |
    // |                   | otherwise the error                                               |
    // | Ready(None)       | end: finish decoding, Ready(remainder, reason End) or Ready(None) |
    // | Pending           | text buffered: ask the policy with upstream idle; then the timer: |
    // |                   | deadline passed -> Ready(chunk, reason Deadline), else Pending    |
    // | (budget run out)  | deadline passed (clock read) -> Ready(chunk, reason Deadline);    |
    // |                   | else wake_by_ref and Pending                                      |
    pub(super) fn poll_flush<T, E>(
        &mut self,
        cx: &mut Context<'_>,
        mut poll_upstream: impl FnMut(&mut Context<'_>) -> Poll<Option<Result<T, E>>>,
    ) -> Poll<Option<Flushed<E>>>
    where
        T: Token,
    {
        if self.finished {
            return Poll::Ready(None);
        }
        let mut clock = PollClock::default();
        for _ in 0..POLL_BUDGET {
            match poll_upstream(cx) {
                Poll::Ready(Some(Ok(token))) => {
                    if let Some(chunk) = self.push(&token, &mut clock) {
                        return Poll::Ready(Some(Flushed::Chunk(chunk)));
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    let flushed = match self.flush(FlushReason::Error, &mut clock) {
                        Some(chunk) => Flushed::ChunkThenError(chunk, error),
                        None => Flushed::Error(error),
                    };
                    return Poll::Ready(Some(flushed));
                }
                Poll::Ready(None) => return Poll::Ready(self.end(&mut clock).map(Flushed::Chunk)),
                Poll::Pending => {
                    if !self.text.is_empty() {
                        if let Some(chunk) = self.decide(&mut clock, true) {
                            return Poll::Ready(Some(Flushed::Chunk(chunk)));
                        }
                    }
                    return match self.poll_timer(cx, &mut clock) {
                        Some(chunk) => Poll::Ready(Some(Flushed::Chunk(chunk))),
                        None => {
                            self.stamp_oldest(&mut clock);
                            Poll::Pending
                        }
                    };
                }
            }
        }
        // Upstream is still ready: a deadline must not wait for it to go quiet.
        if self
            .deadline
            .is_some_and(|deadline| deadline <= clock.now())
        {
            if let Some(chunk) = self.flush(FlushReason::Deadline, &mut clock) {
                return Poll::Ready(Some(Flushed::Chunk(chunk)));
            }
        }
        self.stamp_oldest(&mut clock);
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Appends a token; returns the chunk if the policy flushes.
    fn push<T: Token + ?Sized>(&mut self, token: &T, clock: &mut PollClock) -> Option<Chunk> {
        self.tokens += 1;
        let was_empty = self.text.is_empty();
        match token.content() {
            TokenContent::Text(text) => {
                if self.decoder.has_pending() {
                    // A character left unfinished by a byte token and followed by text is
                    // invalid: one U+FFFD, as `from_utf8_lossy` of the concatenation gives.
                    let _ = self.decoder.finish(&mut self.text);
                }
                self.text.push_str(text);
            }
            // Lossy decoding never fails.
            TokenContent::Bytes(bytes) => {
                let _ = self.decoder.decode(bytes, &mut self.text);
            }
        }
        if self.text.is_empty() {
            return None;
        }
        if was_empty {
            self.oldest = if self.policy.needs_clock() {
                Oldest::At(clock.now())
            } else {
                Oldest::ThisPoll
            };
        }
        self.decide(clock, false)
    }

    /// Asks the policy about the buffered text and carries out its decision.
    fn decide(&mut self, clock: &mut PollClock, upstream_idle: bool) -> Option<Chunk> {
        let mut state = BufferState::new(&self.text, self.tokens)
            .with_chunks_emitted(self.chunks_emitted)
            .with_upstream_idle(upstream_idle);
        if let Oldest::At(oldest) = self.oldest {
            state = state.with_oldest(oldest);
        }
        if let Some(now) = clock.read() {
            state = state.with_now(now);
        }
        match self.policy.decide(&state) {
            Decision::Flush => self.flush(FlushReason::Size, clock),
            Decision::FlushAs(reason) => self.flush(reason, clock),
            Decision::WaitUntil(deadline) if clock.read().is_some_and(|now| deadline <= now) => {
                self.flush(FlushReason::Deadline, clock)
            }
            Decision::WaitUntil(deadline) => {
                self.deadline = Some(deadline);
                None
            }
            Decision::Wait => {
                self.deadline = None;
                None
            }
        }
    }

    /// Arms the timer for the deadline, if any, and polls it.
    fn poll_timer(&mut self, cx: &mut Context<'_>, clock: &mut PollClock) -> Option<Chunk> {
        let deadline = self.deadline?;
        let timer = match &mut self.timer {
            Some(timer) => {
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                timer
            }
            None => self
                .timer
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => self.flush(FlushReason::Deadline, clock),
            Poll::Pending => None,
        }
    }

    /// Upstream ended: the remainder, if any, goes out; afterwards only `None`.
    fn end(&mut self, clock: &mut PollClock) -> Option<Chunk> {
        self.finished = true;
        self.timer = None;
        let was_empty = self.text.is_empty();
        // Lossy decoding never fails; a dangling partial character becomes one U+FFFD.
        let _ = self.decoder.finish(&mut self.text);
        if was_empty && !self.text.is_empty() {
            self.oldest = Oldest::ThisPoll;
        }
        self.flush(FlushReason::End, clock)
    }

    /// Turns the buffered text into a chunk; `None` if there is no complete text.
    fn flush(&mut self, reason: FlushReason, clock: &mut PollClock) -> Option<Chunk> {
        if self.text.is_empty() {
            return None;
        }
        let held_for = match self.oldest {
            Oldest::At(oldest) => clock.now().saturating_duration_since(oldest),
            Oldest::ThisPoll | Oldest::Empty => Duration::ZERO,
        };
        // One allocation of exactly the chunk's size; the buffer keeps its capacity.
        let chunk = Chunk::from_parts(self.text.as_str().into(), self.tokens, reason, held_for);
        self.text.clear();
        if self.text.capacity() > RETAINED_CAPACITY {
            self.text.shrink_to(RETAINED_CAPACITY);
        }
        self.reset_buffer();
        self.chunks_emitted += 1;
        self.policy.on_flush(&chunk);
        Some(chunk)
    }

    /// Before a poll returns `Pending` with text buffered: pin down when that text arrived, if
    /// the clock was not read for it yet (it is still this poll, so the reading is exact).
    fn stamp_oldest(&mut self, clock: &mut PollClock) {
        if self.oldest == Oldest::ThisPoll {
            self.oldest = Oldest::At(clock.now());
        }
    }
}
