use metrics::{Counter, Histogram, Label};

use super::{FlushObserver, FlushRecord, StreamRecord};
use crate::FlushReason;

/// Records flushes and streams to the `metrics` crate's global recorder (feature `metrics`).
///
/// Durations are in seconds. Every metric carries the labels given to
/// [`with_labels`](Self::with_labels) (the model, the policy, the route), besides its own.
///
/// | metric | kind | what |
/// |---|---|---|
/// | `tokenflush_chunk_held_seconds` | histogram | `held_for` of each chunk: the wait of its oldest token |
/// | `tokenflush_chunk_tokens` | histogram | tokens per chunk |
/// | `tokenflush_chunk_bytes` | histogram | bytes per chunk |
/// | `tokenflush_flush_interval_seconds` | histogram | time between a stream's consecutive flushes |
/// | `tokenflush_flushes_total` | counter, label `reason` | flushes by [`FlushReason`] (`size`, `deadline`, `end`, `error`, `first`, `idle`, `bytes`, `item`, `boundary`, `anticipated`) |
/// | `tokenflush_time_to_first_token_seconds` | histogram | observer attached → first token pulled |
/// | `tokenflush_time_to_first_chunk_seconds` | histogram | observer attached → first chunk yielded |
/// | `tokenflush_streams_total` | counter, label `outcome` | streams by outcome (`completed`, `dropped`) |
/// | `tokenflush_tokens_total` | counter | tokens pulled |
/// | `tokenflush_replacements_total` | counter | U+FFFD written for invalid UTF-8 |
/// | `tokenflush_upstream_errors_total` | counter | upstream errors passed through |
/// | `tokenflush_unsent_bytes_total` | counter | text still buffered when an adapter was dropped |
/// | `tokenflush_timer_fires_total` | counter | wake-ups only a deadline caused ([`StreamRecord::timer_fires`]) |
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use metrics::Label;
/// use tokenflush::observe::MetricsObserver;
/// use tokenflush::{policy::TimeBounded, FlushExt};
///
/// let tokens = futures::stream::iter(["Hello", ", world"]);
/// let chunks = tokens
///     .flush_with(TimeBounded::new(4, Duration::from_millis(100)))
///     .with_observer(MetricsObserver::with_labels(vec![Label::new("model", "demo")]));
/// # drop(chunks);
/// ```
#[derive(Clone, Debug)]
pub struct MetricsObserver {
    labels: Vec<Label>,
    held: Histogram,
    tokens_per_chunk: Histogram,
    bytes_per_chunk: Histogram,
    interval: Histogram,
    first_token: Histogram,
    first_chunk: Histogram,
    flushes: [Counter; REASONS.len()],
}

const REASONS: [FlushReason; 10] = [
    FlushReason::Size,
    FlushReason::Deadline,
    FlushReason::End,
    FlushReason::Error,
    FlushReason::First,
    FlushReason::Idle,
    FlushReason::Bytes,
    FlushReason::Item,
    FlushReason::Boundary,
    FlushReason::Anticipated,
];

impl Default for MetricsObserver {
    fn default() -> Self {
        Self::new()
    }
}

impl MetricsObserver {
    /// An observer whose metrics carry no labels but their own.
    ///
    /// # Examples
    ///
    /// ```
    /// let observer = tokenflush::observe::MetricsObserver::new();
    /// # let _ = observer;
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::with_labels(Vec::new())
    }

    /// An observer whose metrics all carry `labels`.
    ///
    /// The metric handles are registered here, once per observer, so a flush costs a few
    /// atomic operations and no lookup.
    ///
    /// # Examples
    ///
    /// ```
    /// use metrics::Label;
    /// use tokenflush::observe::MetricsObserver;
    ///
    /// let observer = MetricsObserver::with_labels(vec![Label::new("policy", "time_bounded")]);
    /// # let _ = observer;
    /// ```
    #[must_use]
    pub fn with_labels(labels: Vec<Label>) -> Self {
        let flushes = REASONS.map(|reason| {
            let mut labels = labels.clone();
            labels.push(Label::new("reason", reason.as_str()));
            metrics::counter!("tokenflush_flushes_total", labels)
        });
        Self {
            held: metrics::histogram!("tokenflush_chunk_held_seconds", labels.clone()),
            tokens_per_chunk: metrics::histogram!("tokenflush_chunk_tokens", labels.clone()),
            bytes_per_chunk: metrics::histogram!("tokenflush_chunk_bytes", labels.clone()),
            interval: metrics::histogram!("tokenflush_flush_interval_seconds", labels.clone()),
            first_token: metrics::histogram!(
                "tokenflush_time_to_first_token_seconds",
                labels.clone()
            ),
            first_chunk: metrics::histogram!(
                "tokenflush_time_to_first_chunk_seconds",
                labels.clone()
            ),
            flushes,
            labels,
        }
    }

    fn counter(&self, name: &'static str, extra: Option<(&'static str, &'static str)>) -> Counter {
        let mut labels = self.labels.clone();
        if let Some((key, value)) = extra {
            labels.push(Label::new(key, value));
        }
        metrics::counter!(name, labels)
    }
}

impl FlushObserver for MetricsObserver {
    fn on_first_token(&mut self, since_start: std::time::Duration) {
        self.first_token.record(since_start.as_secs_f64());
    }

    fn on_flush(&mut self, flush: &FlushRecord<'_>) {
        let chunk = flush.chunk();
        self.held.record(chunk.held_for().as_secs_f64());
        self.tokens_per_chunk.record(chunk.token_count() as f64);
        self.bytes_per_chunk.record(chunk.as_str().len() as f64);
        match flush.since_previous() {
            Some(interval) => self.interval.record(interval.as_secs_f64()),
            None => self.first_chunk.record(flush.since_start().as_secs_f64()),
        }
        match REASONS.iter().position(|reason| *reason == chunk.reason()) {
            Some(index) => self.flushes[index].increment(1),
            // A reason added after this list: counted all the same.
            None => self
                .counter(
                    "tokenflush_flushes_total",
                    Some(("reason", chunk.reason().as_str())),
                )
                .increment(1),
        }
    }

    fn on_end(&mut self, stream: &StreamRecord) {
        let outcome = stream.outcome();
        self.counter("tokenflush_streams_total", Some(("outcome", outcome)))
            .increment(1);
        self.counter("tokenflush_tokens_total", None)
            .increment(stream.tokens());
        self.counter("tokenflush_replacements_total", None)
            .increment(stream.replacements());
        self.counter("tokenflush_upstream_errors_total", None)
            .increment(stream.errors());
        self.counter("tokenflush_unsent_bytes_total", None)
            .increment(stream.dropped_bytes());
        self.counter("tokenflush_timer_fires_total", None)
            .increment(stream.timer_fires());
    }
}
