//! The engine of the flush adapter: the buffer, the decoder, the one timer and the poll loop.

use std::cell::Cell;
use std::fmt;
use std::mem;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use super::input::{FlushInput, Kind, Peek, Split};
use super::marks::Marks;
use super::watch::Watch;
use crate::observe::FlushObserver;
use crate::policy::{BufferState, Decision, FlushPolicy};
use crate::timer::LazyTimer;
use crate::utf8::Utf8Decoder;
use crate::{Chunk, FlushReason, Token, TokenContent};

/// How many upstream items one poll takes at most before yielding to the executor, so an
/// always-ready upstream cannot starve other tasks on executors without a cooperative budget.
pub(super) const POLL_BUDGET: usize = 64;

/// Capacity kept by the buffer between chunks; a larger one (left by a huge token) is shrunk.
pub(super) const RETAINED_CAPACITY: usize = 64 * 1024;

/// The default of [`Engine::max_buffered`]: the most text the adapter holds, whatever the policy.
pub(crate) const DEFAULT_MAX_BUFFERED: usize = 64 * 1024;

/// The clock as seen by one poll: read at most once, and only if something asks for it.
///
/// Within one poll all tokens count as pulled at the same instant: on a paused clock that is
/// exact, on a real one it is off by the poll's duration (microseconds). It is read through a
/// shared reference so that a policy asking [`BufferState::oldest`] or [`BufferState::now`]
/// reads it lazily: a policy that never asks costs no clock read at all.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct PollClock(Cell<Option<Instant>>);

impl PollClock {
    pub(crate) fn now(&self) -> Instant {
        match self.0.get() {
            Some(now) => now,
            None => {
                let now = Instant::now();
                self.0.set(Some(now));
                now
            }
        }
    }
}

/// When the oldest buffered text became complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Oldest {
    /// Nothing is buffered.
    None,
    /// During the current poll: the poll's instant, read when first asked for.
    ThisPoll,
    At(Instant),
}

/// What to flush: the first `end` bytes of the buffer (all of it, or up to a boundary), and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Cut {
    end: usize,
    reason: FlushReason,
}

impl Cut {
    /// Everything buffered.
    const fn all(reason: FlushReason) -> Self {
        Self {
            end: usize::MAX,
            reason,
        }
    }
}

pub(super) struct Engine<P, O: FlushObserver> {
    core: Core<P>,
    watch: Watch<O>,
}

/// Everything of the engine but its observer, so that attaching an observer moves it whole.
struct Core<P> {
    policy: P,
    /// Complete text waiting to be flushed; its allocation is reused from chunk to chunk,
    /// unless it is an owned token's own, adopted to become the chunk without a copy.
    text: String,
    /// The reusable buffer while `text` holds an adopted token.
    spare: Option<String>,
    decoder: Utf8Decoder,
    /// Which text is buffered (text of another kind never joins it).
    kind: Kind,
    /// Where each buffered token ends and when the buffered text arrived.
    marks: Marks,
    /// When the policy asked to flush at the latest.
    deadline: Option<Instant>,
    /// The adapter's one timer: created the first time a poll must wait for a deadline (so the
    /// adapter can be built outside a runtime), then reset in place.
    timer: LazyTimer,
    /// The most text held, whatever the policy: reaching it flushes ([`FlushReason::Bytes`]).
    max_buffered: usize,
    /// Whether a chunk the policy asks for holds back a grapheme cluster still being built.
    #[cfg(feature = "graphemes")]
    whole_graphemes: bool,
    chunks_emitted: u64,
    finished: bool,
}

impl<P: fmt::Debug, O: FlushObserver> fmt::Debug for Engine<P, O> {
    // Sizes and state only: buffered model text does not belong in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("policy", &self.core.policy)
            .field("buffered_bytes", &self.core.text.len())
            .field("pending_bytes", &self.core.decoder.pending_len())
            .field("tokens", &self.core.marks.tokens())
            .field("deadline", &self.core.deadline)
            .field("max_buffered", &self.core.max_buffered)
            .field("chunks_emitted", &self.core.chunks_emitted)
            .field("finished", &self.core.finished)
            .field("observed", &self.watch.is_enabled())
            .finish_non_exhaustive()
    }
}

impl<P> Engine<P, ()> {
    pub(super) fn new(policy: P) -> Self {
        let core = Core {
            policy,
            text: String::new(),
            spare: None,
            decoder: Utf8Decoder::lossy(),
            kind: Kind::CONTENT,
            marks: Marks::default(),
            deadline: None,
            timer: LazyTimer::default(),
            max_buffered: DEFAULT_MAX_BUFFERED,
            #[cfg(feature = "graphemes")]
            whole_graphemes: false,
            chunks_emitted: 0,
            finished: false,
        };
        Self {
            core,
            watch: Watch::new(()),
        }
    }
}

impl<P, O: FlushObserver> Engine<P, O> {
    /// The same engine, reporting to `observer` from now on.
    pub(super) fn with_observer<O2: FlushObserver>(self, observer: O2) -> Engine<P, O2> {
        let Self { core, watch } = self;
        watch.discard();
        Engine {
            core,
            watch: Watch::new(observer),
        }
    }

    pub(super) fn set_max_buffered(&mut self, max_buffered: usize) {
        self.core.max_buffered = max_buffered;
    }

    #[cfg(feature = "graphemes")]
    pub(super) fn set_whole_graphemes(&mut self, whole_graphemes: bool) {
        self.core.whole_graphemes = whole_graphemes;
    }

    pub(super) fn observer(&self) -> &O {
        self.watch.observer()
    }

    pub(super) fn observer_mut(&mut self) -> &mut O {
        self.watch.observer_mut()
    }

    pub(super) fn policy(&self) -> &P {
        &self.core.policy
    }

    pub(super) fn policy_mut(&mut self) -> &mut P {
        &mut self.core.policy
    }

    pub(super) fn buffered(&self) -> &str {
        &self.core.text
    }

    pub(super) fn is_finished(&self) -> bool {
        self.core.finished
    }

    /// Empties the buffer without flushing; a carried partial character becomes U+FFFD.
    pub(super) fn take_buffered(&mut self) -> String {
        let Ok(()) = self.core.decoder.finish(&mut self.core.text);
        self.reset_buffer();
        if let Some(buffer) = self.core.spare.take() {
            return mem::replace(&mut self.core.text, buffer);
        }
        let capacity = self.core.text.capacity().min(RETAINED_CAPACITY);
        mem::replace(&mut self.core.text, String::with_capacity(capacity))
    }

    /// The bounds on how many items remain, given upstream's and whether an item is held.
    pub(super) fn size_hint(
        &self,
        upstream: (usize, Option<usize>),
        held: bool,
    ) -> (usize, Option<usize>) {
        if self.core.finished {
            return (0, Some(0));
        }
        // Each item yields at most one item; besides, buffered text can go out on a deadline
        // and a carried partial character as U+FFFD at the end, with no item pulled.
        let buffered = usize::from(!self.core.text.is_empty());
        let extra = buffered + usize::from(held) + usize::from(self.core.decoder.has_pending());
        (
            buffered,
            upstream.1.and_then(|upper| upper.checked_add(extra)),
        )
    }

    fn reset_buffer(&mut self) {
        self.core.marks.clear();
        self.core.deadline = None;
    }
}

impl<P: FlushPolicy, O: FlushObserver> Engine<P, O> {
    // State table (one row per item taken — the held one first, else upstream's; the loop runs
    // at most POLL_BUDGET times, and only while Tokio's cooperative budget allows):
    //
    // | item                        | then                                                     |
    // |-----------------------------|----------------------------------------------------------|
    // | (already ended)             | Ready(None)                                              |
    // | text, other kind than held  | text buffered: hold the item, Ready(chunk, Item)         |
    // | text, over the byte cap     | text buffered: hold the item, Ready(chunk, Bytes)        |
    // | text                        | append; byte cap reached -> Ready(chunk, Bytes); else    |
    // |                             | ask the policy: flush -> Ready(chunk), deadline passed   |
    // |                             | -> Ready(chunk, Deadline), else loop                     |
    // | pass-through (an Err, …)    | text buffered: hold the item, Ready(chunk, Error/Item);  |
    // |                             | otherwise Ready(the item)                                |
    // | upstream Ready(None)        | end: finish decoding, Ready(remainder, End) or None      |
    // | upstream Pending            | text buffered: ask the policy with upstream idle; then   |
    // |                             | the deadline: passed -> Ready(chunk, Deadline), else arm |
    // |                             | the timer, Pending (the timer or upstream wakes the task)|
    // | (budget run out)            | text buffered: ask the policy, deadline passed ->        |
    // |                             | Ready(chunk, Deadline); else wake_by_ref and Pending     |
    pub(super) fn poll_flush<I: FlushInput>(
        &mut self,
        cx: &mut Context<'_>,
        held: &mut Option<I>,
        mut poll_upstream: impl FnMut(&mut Context<'_>) -> Poll<Option<I>>,
    ) -> Poll<Option<I::Output>> {
        if self.core.finished {
            return Poll::Ready(None);
        }
        // Take part in Tokio's cooperative budget, as Tokio's own resources do: a consumer that
        // always finds a chunk ready still yields to the other tasks of its runtime.
        let coop = ready!(tokio::task::coop::poll_proceed(cx));
        let clock = PollClock::default();
        if self.core.timer.fired(|| clock.now()) {
            self.watch.on_timer_fired();
        }
        let flushed = self.poll_items(cx, held, &mut poll_upstream, &clock);
        if flushed.is_ready() {
            coop.made_progress();
        }
        flushed
    }

    fn poll_items<I: FlushInput>(
        &mut self,
        cx: &mut Context<'_>,
        held: &mut Option<I>,
        poll_upstream: &mut impl FnMut(&mut Context<'_>) -> Poll<Option<I>>,
        clock: &PollClock,
    ) -> Poll<Option<I::Output>> {
        for _ in 0..POLL_BUDGET {
            let item = match held.take() {
                Some(item) => item,
                None => match poll_upstream(cx) {
                    Poll::Ready(Some(item)) => item,
                    Poll::Ready(None) => {
                        let chunk = self.end(clock);
                        return Poll::Ready(chunk.map(|(kind, chunk)| I::text_output(kind, chunk)));
                    }
                    Poll::Pending => {
                        let chunk = ready!(self.poll_idle(cx, clock));
                        return Poll::Ready(chunk.map(|(kind, chunk)| I::text_output(kind, chunk)));
                    }
                },
            };
            // Text buffered that the item must not join goes out first; the item waits.
            if let Some(reason) = self.flush_ahead_of(&item) {
                let kind = self.core.kind;
                if let Some(chunk) = self.flush(Cut::all(reason), clock) {
                    *held = Some(item);
                    return Poll::Ready(Some(I::text_output(kind, chunk)));
                }
            }
            match item.split() {
                Split::Pass(output) => return Poll::Ready(Some(output)),
                Split::Text(kind, token) => {
                    if let Some(cut) = self.push(kind, token, clock) {
                        let kind = self.core.kind;
                        if let Some(chunk) = self.flush(cut, clock) {
                            return Poll::Ready(Some(I::text_output(kind, chunk)));
                        }
                    }
                }
            }
        }
        // Upstream is still ready: a deadline must not wait for it to go quiet.
        if !self.core.text.is_empty() {
            if let Some(cut) = self.decide(clock, false) {
                let kind = self.core.kind;
                if let Some(chunk) = self.flush(cut, clock) {
                    return Poll::Ready(Some(I::text_output(kind, chunk)));
                }
            }
            self.settle(clock);
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Why the buffered text must go out before `item` is taken, if it must.
    /// An error is counted when it is taken, not when it waits behind the text.
    #[inline(always)]
    fn flush_ahead_of<I: FlushInput>(&mut self, item: &I) -> Option<FlushReason> {
        match item.peek() {
            Peek::Pass(reason) => {
                if !self.core.text.is_empty() {
                    return Some(reason);
                }
                if reason == FlushReason::Error {
                    self.watch.on_error();
                }
                None
            }
            Peek::Text(kind, content) => {
                if kind != self.core.kind {
                    // A character left unfinished by the other kind's bytes cannot be completed
                    // by this kind's: it becomes U+FFFD, as `from_utf8_lossy` would make it.
                    // With nothing held, the flush ahead yields no chunk.
                    let Ok(()) = self.core.decoder.finish(&mut self.core.text);
                    return Some(FlushReason::Item);
                }
                let len = match content {
                    TokenContent::Text(text) => text.len(),
                    TokenContent::Bytes(bytes) => bytes.len(),
                };
                let over = self.core.text.len().saturating_add(len) > self.core.max_buffered;
                (over && !self.core.text.is_empty()).then_some(FlushReason::Bytes)
            }
        }
    }

    /// Upstream has nothing ready: ask the policy with upstream idle, then wait for the deadline.
    fn poll_idle(
        &mut self,
        cx: &mut Context<'_>,
        clock: &PollClock,
    ) -> Poll<Option<(Kind, Chunk)>> {
        if self.core.text.is_empty() {
            // Nothing left to wait for: a deadline set for text that went out early must not
            // wake the task.
            self.core.timer.disarm();
            return Poll::Pending;
        }
        let kind = self.core.kind;
        if let Some(cut) = self.decide(clock, true) {
            if let Some(chunk) = self.flush(cut, clock) {
                return Poll::Ready(Some((kind, chunk)));
            }
        }
        self.settle(clock);
        let Some(deadline) = self.core.deadline else {
            self.core.timer.disarm();
            return Poll::Pending;
        };
        ready!(self.core.timer.poll_until(deadline, cx));
        // The policy's deadline: it may cut at a boundary; otherwise everything goes.
        let cut = self
            .decide(clock, true)
            .unwrap_or(Cut::all(FlushReason::Deadline));
        match self.flush(cut, clock) {
            Some(chunk) => Poll::Ready(Some((kind, chunk))),
            // The policy kept everything: wait again, for its new deadline or upstream.
            None => self.poll_idle(cx, clock),
        }
    }

    /// The poll ends with text buffered: text that arrived during it counts from its instant.
    fn settle(&mut self, clock: &PollClock) {
        self.core.marks.settle(|| clock.now());
    }

    /// Appends a token of `kind`; returns what to flush if the cap or the policy says so.
    #[inline(always)]
    fn push<T: Token>(&mut self, kind: Kind, token: T, clock: &PollClock) -> Option<Cut> {
        self.core.kind = kind;
        let before = self.core.text.len();
        if before == 0 {
            self.start(token);
        } else {
            self.append(&token);
        }
        self.core.marks.push(self.core.text.len());
        if self.watch.is_enabled() {
            let replacements = self.core.decoder.replacements();
            self.watch.on_token(self.core.text.len(), replacements);
        }
        if self.core.text.len() == before {
            // Only part of a character, or nothing: no new text, no clock.
            return None;
        }
        self.core.marks.arrived();
        if self.core.text.len() >= self.core.max_buffered {
            return Some(Cut::all(FlushReason::Bytes));
        }
        self.decide(clock, false)
    }

    /// Puts the first token of a chunk in the empty buffer: an owned string token becomes the
    /// buffer, and then the chunk itself, without a copy.
    fn start<T: Token>(&mut self, token: T) {
        if self.core.decoder.has_pending() {
            return self.append(&token);
        }
        match token.try_into_string() {
            Ok(owned) => {
                if !owned.is_empty() {
                    self.core.spare = Some(mem::replace(&mut self.core.text, owned));
                }
            }
            Err(token) => self.append(&token),
        }
    }

    /// The chunk grows past an adopted token: back to the reusable buffer.
    #[cold]
    fn unadopt(&mut self) {
        if let Some(mut buffer) = self.core.spare.take() {
            buffer.push_str(&self.core.text);
            self.core.text = buffer;
        }
    }

    /// Appends a token's content to the buffer.
    #[inline(always)]
    fn append<T: Token>(&mut self, token: &T) {
        if self.core.spare.is_some() {
            self.unadopt();
        }
        match token.content() {
            TokenContent::Text(text) => {
                if self.core.decoder.has_pending() {
                    // A character left unfinished by a byte token and followed by text is
                    // invalid: one U+FFFD, as `from_utf8_lossy` of the concatenation gives.
                    let Ok(()) = self.core.decoder.finish(&mut self.core.text);
                }
                self.core.text.push_str(text);
            }
            TokenContent::Bytes(bytes) => {
                let Ok(()) = self.core.decoder.decode(bytes, &mut self.core.text);
            }
        }
    }

    /// Asks the policy about the buffered text: what to flush now, if anything. Otherwise
    /// records the policy's deadline.
    #[inline(always)]
    fn decide(&mut self, clock: &PollClock, upstream_idle: bool) -> Option<Cut> {
        let state = BufferState::from_engine(
            &self.core.text,
            self.core.marks.tokens(),
            self.core.marks.oldest(),
            clock,
            self.core.chunks_emitted,
            upstream_idle,
        );
        let cut = match self.core.policy.decide(&state) {
            Decision::Flush => Cut::all(FlushReason::Size),
            Decision::FlushAs(reason) => Cut::all(reason),
            Decision::FlushUpTo(end, reason) => Cut { end, reason },
            Decision::WaitUntil(deadline) => {
                self.core.deadline = Some(deadline);
                // A deadline already reached flushes now, whether or not the clock had been read:
                // what is flushed never depends on who else looked at the clock.
                if deadline > clock.now() {
                    return None;
                }
                Cut::all(FlushReason::Deadline)
            }
            Decision::Wait => {
                self.core.deadline = None;
                return None;
            }
        };
        // A cut inside a character moves back to its start; a cut that keeps everything is no
        // flush at all.
        let mut end = cut.end.min(self.core.text.len());
        while !self.core.text.is_char_boundary(end) {
            end -= 1;
        }
        // What the policy chose may wait for a grapheme to be whole; a deadline may not.
        #[cfg(feature = "graphemes")]
        if self.core.whole_graphemes && cut.reason != FlushReason::Deadline {
            end = super::graphemes::whole_graphemes_end(&self.core.text[..end]);
        }
        (end > 0).then_some(Cut { end, ..cut })
    }

    /// Upstream ended: the remainder, if any, goes out; afterwards only `None`.
    fn end(&mut self, clock: &PollClock) -> Option<(Kind, Chunk)> {
        self.core.finished = true;
        self.core.timer.clear();
        // A dangling partial character becomes one U+FFFD.
        let Ok(()) = self.core.decoder.finish(&mut self.core.text);
        let kind = self.core.kind;
        let chunk = self.flush(Cut::all(FlushReason::End), clock);
        if self.watch.is_enabled() {
            self.watch.on_end(self.core.decoder.replacements());
        }
        chunk.map(|chunk| (kind, chunk))
    }

    /// How long the oldest buffered text has waited. Text completed during this poll has waited
    /// nothing, nor has a U+FFFD made by finishing the decoder just before a flush.
    fn held_for(&self, clock: &PollClock) -> Duration {
        match self.core.marks.oldest() {
            Oldest::At(oldest) => clock.now().saturating_duration_since(oldest),
            Oldest::ThisPoll | Oldest::None => Duration::ZERO,
        }
    }

    /// Turns the buffered text, or its first `cut.end` bytes, into a chunk; `None` if there is
    /// no complete text to cut.
    #[inline]
    fn flush(&mut self, cut: Cut, clock: &PollClock) -> Option<Chunk> {
        if self.core.text.is_empty() {
            return None;
        }
        if cut.end < self.core.text.len() {
            return Some(self.flush_part(cut, clock));
        }
        let held_for = self.held_for(clock);
        let text = match self.core.spare.take() {
            // An adopted token is the chunk: no copy, no allocation.
            Some(buffer) => mem::replace(&mut self.core.text, buffer),
            None => {
                // One allocation of exactly the chunk's size; the buffer keeps its capacity.
                let text = self.core.text.as_str().into();
                self.core.text.clear();
                if self.core.text.capacity() > RETAINED_CAPACITY {
                    self.core.text.shrink_to(RETAINED_CAPACITY);
                }
                text
            }
        };
        let chunk = Chunk::from_parts(text, self.core.marks.tokens(), cut.reason, held_for);
        self.reset_buffer();
        Some(self.emit(chunk))
    }

    /// The first `cut.end` bytes (a character boundary inside the text) as a chunk; the rest
    /// stays, counting its age from its own arrival and waiting for the policy's next word.
    #[cold]
    fn flush_part(&mut self, cut: Cut, clock: &PollClock) -> Chunk {
        let held_for = self.held_for(clock);
        self.unadopt();
        let text = self.core.text[..cut.end].to_owned();
        self.core.text.drain(..cut.end);
        let tokens = self.core.marks.cut(cut.end);
        self.core.deadline = None;
        let chunk = self.emit(Chunk::from_parts(text, tokens, cut.reason, held_for));
        self.watch.set_buffered(self.core.text.len());
        chunk
    }

    /// A chunk goes out: the policy and the observer hear of it.
    fn emit(&mut self, chunk: Chunk) -> Chunk {
        self.core.chunks_emitted += 1;
        self.core.policy.on_flush(&chunk);
        if self.watch.is_enabled() {
            self.watch
                .on_flush(&chunk, self.core.decoder.replacements());
        }
        chunk
    }
}
