//! The figures an adapter keeps for its [`FlushObserver`]: nothing at all for `()`.

use std::time::Duration;

use tokio::time::Instant;

use crate::observe::{FlushObserver, FlushRecord, StreamRecord};
use crate::Chunk;

pub(super) struct Watch<O: FlushObserver> {
    observer: O,
    /// When the observer was attached; `None` when it is disabled.
    start: Option<Instant>,
    last_flush: Option<Instant>,
    first_token: Option<Duration>,
    first_chunk: Option<Duration>,
    tokens: u64,
    chunks: u64,
    bytes: u64,
    errors: u64,
    timer_fires: u64,
    /// Kept current so that a drop can report them: the decoder's count and the buffer's size.
    replacements: u64,
    buffered_bytes: usize,
    reported: bool,
}

impl<O: FlushObserver> Watch<O> {
    pub(super) fn new(observer: O) -> Self {
        let start = observer.is_enabled().then(Instant::now);
        Self {
            observer,
            start,
            last_flush: None,
            first_token: None,
            first_chunk: None,
            tokens: 0,
            chunks: 0,
            bytes: 0,
            errors: 0,
            timer_fires: 0,
            replacements: 0,
            buffered_bytes: 0,
            reported: false,
        }
    }

    #[inline(always)]
    pub(super) fn is_enabled(&self) -> bool {
        self.observer.is_enabled()
    }

    pub(super) fn observer(&self) -> &O {
        &self.observer
    }

    pub(super) fn observer_mut(&mut self) -> &mut O {
        &mut self.observer
    }

    /// Drops the observer without reporting an end to it: it is being replaced.
    pub(super) fn discard(mut self) {
        self.reported = true;
    }

    // The observer reads the clock on its own, never through the engine's per-poll clock:
    // whether the engine read the clock during a poll must not depend on who is watching.

    /// A token was pulled; the buffer now holds `buffered_bytes` of complete text.
    pub(super) fn on_token(&mut self, buffered_bytes: usize, replacements: u64) {
        let Some(start) = self.start else { return };
        self.tokens += 1;
        self.buffered_bytes = buffered_bytes;
        self.replacements = replacements;
        if self.first_token.is_none() {
            let since_start = Instant::now().saturating_duration_since(start);
            self.first_token = Some(since_start);
            self.observer.on_first_token(since_start);
        }
    }

    pub(super) fn on_flush(&mut self, chunk: &Chunk, replacements: u64) {
        let Some(start) = self.start else { return };
        let now = Instant::now();
        let since_start = now.saturating_duration_since(start);
        self.chunks += 1;
        self.bytes += chunk.as_str().len() as u64;
        self.buffered_bytes = 0;
        self.replacements = replacements;
        self.first_chunk.get_or_insert(since_start);
        let since_previous = self
            .last_flush
            .map(|last| now.saturating_duration_since(last));
        self.last_flush = Some(now);
        self.observer.on_flush(&FlushRecord {
            chunk,
            since_start,
            since_previous,
        });
    }

    /// The adapter's timer fired: a wake-up only a deadline caused.
    pub(super) fn on_timer_fired(&mut self) {
        if self.start.is_some() {
            self.timer_fires += 1;
        }
    }

    /// Part of the buffer went out; `buffered_bytes` are still held.
    pub(super) fn set_buffered(&mut self, buffered_bytes: usize) {
        self.buffered_bytes = buffered_bytes;
    }

    pub(super) fn on_error(&mut self) {
        if self.start.is_some() {
            self.errors += 1;
        }
    }

    pub(super) fn on_end(&mut self, replacements: u64) {
        if self.start.is_some() {
            self.replacements = replacements;
            self.buffered_bytes = 0;
            self.report(true, Instant::now());
        }
    }

    fn report(&mut self, completed: bool, now: Instant) {
        let Some(start) = self.start else { return };
        if std::mem::replace(&mut self.reported, true) {
            return;
        }
        self.observer.on_end(&StreamRecord {
            completed,
            duration: now.saturating_duration_since(start),
            first_token: self.first_token,
            first_chunk: self.first_chunk,
            tokens: self.tokens,
            chunks: self.chunks,
            bytes: self.bytes,
            replacements: self.replacements,
            errors: self.errors,
            timer_fires: self.timer_fires,
            dropped_bytes: self.buffered_bytes as u64,
        });
    }
}

impl<O: FlushObserver> Drop for Watch<O> {
    fn drop(&mut self) {
        if self.start.is_some() && !self.reported {
            self.report(false, Instant::now());
        }
    }
}
