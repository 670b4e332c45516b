//! The engine both flush adapters share: the buffer, the decoder, the one timer and the poll
//! loop. The adapters only say how to poll their upstream and what to do with its errors.

use std::fmt;
use std::mem;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::watch::Watch;
use crate::observe::FlushObserver;
use crate::policy::{BufferState, Decision, FlushPolicy};
use crate::timer::LazyTimer;
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

/// The clock as seen by one poll: read at most once, and only if something needs it.
///
/// Within one poll all tokens count as pulled at the same instant: on a paused clock that is
/// exact, on a real one it is off by the poll's duration (microseconds).
#[derive(Default)]
pub(super) struct PollClock(Option<Instant>);

impl PollClock {
    pub(super) fn now(&mut self) -> Instant {
        *self.0.get_or_insert_with(Instant::now)
    }

    fn read(&self) -> Option<Instant> {
        self.0
    }
}

impl<P: fmt::Debug, O: FlushObserver> fmt::Debug for Flusher<P, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Flusher")
            .field("policy", &self.policy)
            .field("buffered", &self.text)
            .field("pending_bytes", &self.decoder.pending_len())
            .field("tokens", &self.tokens)
            .field("deadline", &self.deadline)
            .field("chunks_emitted", &self.chunks_emitted)
            .field("finished", &self.finished)
            .field("observed", &self.watch.is_enabled())
            .finish_non_exhaustive()
    }
}

pub(super) struct Flusher<P, O: FlushObserver> {
    policy: P,
    /// Complete text waiting to be flushed; its allocation is reused from chunk to chunk,
    /// unless it is an owned token's own, adopted to become the chunk without a copy.
    text: String,
    /// The reusable buffer while `text` holds an adopted token.
    spare: Option<String>,
    decoder: Utf8Decoder,
    /// Tokens pulled since the last flush, including those holding only part of a character.
    tokens: usize,
    /// When the oldest buffered text became complete, once the clock was read for it.
    oldest: Option<Instant>,
    /// Complete text arrived during the current poll and the clock was not read for it yet.
    /// Within one poll all tokens count as pulled at the same instant, so a flood of ready
    /// tokens that is flushed before the poll ends costs no clock read at all.
    unstamped: bool,
    /// When the policy asked to flush at the latest.
    deadline: Option<Instant>,
    /// The adapter's one timer: created the first time a poll must wait for a deadline (so the
    /// adapter can be built outside a runtime), then reset in place.
    timer: LazyTimer,
    chunks_emitted: u64,
    finished: bool,
    watch: Watch<O>,
}

impl<P> Flusher<P, ()> {
    pub(super) fn new(policy: P) -> Self {
        Self {
            policy,
            text: String::new(),
            spare: None,
            decoder: Utf8Decoder::lossy(),
            tokens: 0,
            oldest: None,
            unstamped: false,
            deadline: None,
            timer: LazyTimer::default(),
            chunks_emitted: 0,
            finished: false,
            watch: Watch::new(()),
        }
    }
}

impl<P, O: FlushObserver> Flusher<P, O> {
    /// The same engine, reporting to `observer` from now on.
    pub(super) fn with_observer<O2: FlushObserver>(self, observer: O2) -> Flusher<P, O2> {
        let Self {
            policy,
            text,
            spare,
            decoder,
            tokens,
            oldest,
            unstamped,
            deadline,
            timer,
            chunks_emitted,
            finished,
            watch,
        } = self;
        watch.discard();
        Flusher {
            policy,
            text,
            spare,
            decoder,
            tokens,
            oldest,
            unstamped,
            deadline,
            timer,
            chunks_emitted,
            finished,
            watch: Watch::new(observer),
        }
    }

    pub(super) fn observer(&self) -> &O {
        self.watch.observer()
    }

    pub(super) fn observer_mut(&mut self) -> &mut O {
        self.watch.observer_mut()
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
        self.reset_buffer();
        if let Some(buffer) = self.spare.take() {
            return mem::replace(&mut self.text, buffer);
        }
        let capacity = self.text.capacity().min(RETAINED_CAPACITY);
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
        self.oldest = None;
        self.unstamped = false;
        self.deadline = None;
    }
}

impl<P: FlushPolicy, O: FlushObserver> Flusher<P, O> {
    // State table (one row per upstream poll result; the loop runs at most POLL_BUDGET times):
    //
    // | upstream          | then                                                              |
    // |-------------------|-------------------------------------------------------------------|
    // | (already ended)   | Ready(None)                                                       |
    // | Ready(Some(Ok))   | append; if text: ask the policy; Flush -> Ready(chunk), else loop |
    // | Ready(Some(Err))  | text buffered -> Ready(chunk, reason Error) then the error;       |
    // |                   | otherwise the error                                               |
    // | Ready(None)       | end: finish decoding, Ready(remainder, reason End) or Ready(None) |
    // | Pending           | text buffered: stamp its arrival, ask the policy with upstream    |
    // |                   | idle; then the timer: deadline passed -> Ready(chunk, Deadline),  |
    // |                   | else Pending (the timer or upstream wakes the task)               |
    // | (budget run out)  | text buffered: stamp, ask the policy, deadline passed (clock      |
    // |                   | read) -> Ready(chunk, Deadline); else wake_by_ref and Pending     |
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
                    if let Some(reason) = self.push(token, &mut clock) {
                        return self.flush_ready(reason, &mut clock);
                    }
                }
                Poll::Ready(Some(Err(error))) => {
                    self.watch.on_error();
                    let flushed = match self.flush(FlushReason::Error, &mut clock) {
                        Some(chunk) => Flushed::ChunkThenError(chunk, error),
                        None => Flushed::Error(error),
                    };
                    return Poll::Ready(Some(flushed));
                }
                Poll::Ready(None) => return Poll::Ready(self.end(&mut clock).map(Flushed::Chunk)),
                Poll::Pending => {
                    if !self.text.is_empty() {
                        // About to wait: pin down when the text arrived, so that the policy can
                        // set a deadline, and ask it with upstream known to be idle.
                        self.stamp_oldest(&mut clock);
                        if let Some(reason) = self.decide(&clock, true) {
                            return self.flush_ready(reason, &mut clock);
                        }
                    }
                    return match self.poll_timer(cx, &mut clock) {
                        Some(chunk) => Poll::Ready(Some(Flushed::Chunk(chunk))),
                        None => Poll::Pending,
                    };
                }
            }
        }
        // Upstream is still ready: a deadline must not wait for it to go quiet.
        if !self.text.is_empty() {
            self.stamp_oldest(&mut clock);
            if let Some(reason) = self.decide(&clock, false) {
                return self.flush_ready(reason, &mut clock);
            }
            if self
                .deadline
                .is_some_and(|deadline| deadline <= clock.now())
            {
                if let Some(chunk) = self.flush(FlushReason::Deadline, &mut clock) {
                    return Poll::Ready(Some(Flushed::Chunk(chunk)));
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// The buffered text as a ready chunk: the caller has just seen complete text buffered.
    fn flush_ready<E>(
        &mut self,
        reason: FlushReason,
        clock: &mut PollClock,
    ) -> Poll<Option<Flushed<E>>> {
        Poll::Ready(self.flush(reason, clock).map(Flushed::Chunk))
    }

    /// Appends a token; returns why to flush if the policy says so.
    #[inline(always)]
    fn push<T: Token>(&mut self, token: T, clock: &mut PollClock) -> Option<FlushReason> {
        self.tokens += 1;
        let was_empty = self.text.is_empty();
        if was_empty {
            self.start(token);
        } else {
            self.append(&token);
        }
        if self.watch.is_enabled() {
            let replacements = self.decoder.replacements();
            self.watch.on_token(clock, self.text.len(), replacements);
        }
        if self.text.is_empty() {
            return None;
        }
        if was_empty {
            // The clock is read only if the text is still buffered when the poll ends.
            self.oldest = clock.read();
            self.unstamped = self.oldest.is_none();
        }
        self.decide(clock, false)
    }

    /// Puts the first token of a chunk in the empty buffer: an owned string token becomes the
    /// buffer, and then the chunk itself, without a copy.
    fn start<T: Token>(&mut self, token: T) {
        if self.decoder.has_pending() {
            return self.append(&token);
        }
        match token.try_into_string() {
            Ok(owned) => {
                if !owned.is_empty() {
                    self.spare = Some(mem::replace(&mut self.text, owned));
                }
            }
            Err(token) => self.append(&token),
        }
    }

    /// The chunk grows past an adopted token: back to the reusable buffer.
    #[cold]
    fn unadopt(&mut self) {
        if let Some(mut buffer) = self.spare.take() {
            buffer.push_str(&self.text);
            self.text = buffer;
        }
    }

    /// Appends a token's content to the buffer.
    #[inline(always)]
    fn append<T: Token>(&mut self, token: &T) {
        if self.spare.is_some() {
            self.unadopt();
        }
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
    }

    /// Asks the policy about the buffered text: why to flush now, if it should. Otherwise
    /// records the policy's deadline.
    #[inline(always)]
    fn decide(&mut self, clock: &PollClock, upstream_idle: bool) -> Option<FlushReason> {
        let state = BufferState::from_parts(
            &self.text,
            self.tokens,
            self.oldest,
            clock.read(),
            self.chunks_emitted,
            upstream_idle,
        );
        match self.policy.decide(&state) {
            Decision::Flush => Some(FlushReason::Size),
            Decision::FlushAs(reason) => Some(reason),
            Decision::WaitUntil(deadline) if clock.read().is_some_and(|now| deadline <= now) => {
                Some(FlushReason::Deadline)
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
        match self.timer.poll_until(deadline, cx) {
            Poll::Ready(()) => self.flush(FlushReason::Deadline, clock),
            Poll::Pending => None,
        }
    }

    /// Upstream ended: the remainder, if any, goes out; afterwards only `None`.
    fn end(&mut self, clock: &mut PollClock) -> Option<Chunk> {
        self.finished = true;
        self.timer.clear();
        let was_empty = self.text.is_empty();
        // Lossy decoding never fails; a dangling partial character becomes one U+FFFD.
        let _ = self.decoder.finish(&mut self.text);
        if was_empty && !self.text.is_empty() {
            self.unstamped = true;
        }
        let chunk = self.flush(FlushReason::End, clock);
        if self.watch.is_enabled() {
            self.watch.on_end(clock, self.decoder.replacements());
        }
        chunk
    }

    /// Turns the buffered text into a chunk; `None` if there is no complete text.
    #[inline]
    fn flush(&mut self, reason: FlushReason, clock: &mut PollClock) -> Option<Chunk> {
        if self.text.is_empty() {
            return None;
        }
        let held_for = match self.oldest {
            Some(oldest) => clock.now().saturating_duration_since(oldest),
            None => Duration::ZERO,
        };
        let text = match self.spare.take() {
            // An adopted token is the chunk: no copy, no allocation.
            Some(buffer) => mem::replace(&mut self.text, buffer),
            None => {
                // One allocation of exactly the chunk's size; the buffer keeps its capacity.
                let text = self.text.as_str().into();
                self.text.clear();
                if self.text.capacity() > RETAINED_CAPACITY {
                    self.text.shrink_to(RETAINED_CAPACITY);
                }
                text
            }
        };
        let chunk = Chunk::from_parts(text, self.tokens, reason, held_for);
        self.reset_buffer();
        self.chunks_emitted += 1;
        self.policy.on_flush(&chunk);
        if self.watch.is_enabled() {
            self.watch
                .on_flush(clock, &chunk, self.decoder.replacements());
        }
        Some(chunk)
    }

    /// Pins down when the buffered text arrived, if the clock was not read for it yet: it
    /// arrived during this poll, so reading the clock now is exact on a paused clock and off by
    /// the poll's duration on a real one.
    fn stamp_oldest(&mut self, clock: &mut PollClock) {
        if self.unstamped {
            self.unstamped = false;
            self.oldest = Some(clock.now());
        }
    }
}
