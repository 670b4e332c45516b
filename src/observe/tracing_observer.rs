use super::{FlushObserver, FlushRecord, StreamRecord};

/// Records flushes and streams as `tracing` events (feature `tracing`).
///
/// Each flush is a `TRACE` event with target `tokenflush::flush`; the end of each stream a
/// `DEBUG` event with target `tokenflush::stream`. Events belong to whatever span the adapter
/// is polled in, so instrument the request to tie them to it. Durations are in milliseconds.
///
/// | event | fields |
/// |---|---|
/// | `tokenflush::flush` | `reason`, `tokens`, `bytes`, `held_for_ms`, `since_previous_ms` (absent for the first), `since_start_ms` |
/// | `tokenflush::stream` | `outcome` (`completed`, `dropped`), `tokens`, `chunks`, `bytes`, `replacements`, `errors`, `unsent_bytes`, `timer_fires`, `first_token_ms`, `first_chunk_ms` (absent if none), `duration_ms` |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokenflush::observe::TracingObserver;
/// use tokenflush::{policy::TimeBounded, FlushExt};
///
/// let tokens = futures::stream::iter(["Hello", ", world"]);
/// let chunks = tokens
///     .flush_with(TimeBounded::new(4, Duration::from_millis(100)))
///     .with_observer(TracingObserver::new());
/// # drop(chunks);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TracingObserver {
    _private: (),
}

impl TracingObserver {
    /// An observer that records to the current `tracing` subscriber.
    ///
    /// # Examples
    ///
    /// ```
    /// let observer = tokenflush::observe::TracingObserver::new();
    /// # let _ = observer;
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

fn millis(duration: std::time::Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

impl FlushObserver for TracingObserver {
    fn on_flush(&mut self, flush: &FlushRecord<'_>) {
        let chunk = flush.chunk();
        tracing::trace!(
            target: "tokenflush::flush",
            reason = chunk.reason().as_str(),
            tokens = chunk.token_count(),
            bytes = chunk.as_str().len(),
            held_for_ms = millis(chunk.held_for()),
            since_previous_ms = flush.since_previous().map(millis),
            since_start_ms = millis(flush.since_start()),
            "flush"
        );
    }

    fn on_end(&mut self, stream: &StreamRecord) {
        tracing::debug!(
            target: "tokenflush::stream",
            outcome = stream.outcome(),
            tokens = stream.tokens(),
            chunks = stream.chunks(),
            bytes = stream.bytes(),
            replacements = stream.replacements(),
            errors = stream.errors(),
            unsent_bytes = stream.dropped_bytes(),
            timer_fires = stream.timer_fires(),
            first_token_ms = stream.first_token().map(millis),
            first_chunk_ms = stream.first_chunk().map(millis),
            duration_ms = millis(stream.duration()),
            "stream ended"
        );
    }
}
