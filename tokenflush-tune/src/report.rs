use std::time::Duration;

/// What one policy did to one trace, as [`replay`](crate::replay::replay) measured it.
///
/// Delays are the delay the policy added to each token with text: from its arrival to the
/// moment the chunk that completes its text was yielded. Percentiles are nearest-rank: `p99` is
/// the smallest delay that at least 99% of tokens did not exceed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PolicyReport {
    name: String,
    rust: String,
    tokens: u64,
    chunks: u64,
    delay_p50: Duration,
    delay_p99: Duration,
    delay_max: Duration,
    delay_mean: Duration,
    first_token_delay: Duration,
    span: Duration,
    frame_bytes: u64,
    timer_fires: u64,
    pub(crate) on_front: bool,
}

/// The figures of a replay, before they are summarised.
#[derive(Debug)]
pub(crate) struct Measured {
    /// Tokens pulled from the trace, empty ones included.
    pub(crate) tokens: u64,
    /// The added delay of each token with text, in order.
    pub(crate) delays: Vec<Duration>,
    /// Chunks yielded.
    pub(crate) chunks: u64,
    /// Bytes of the chunks framed as plain SSE events.
    pub(crate) frame_bytes: u64,
    /// From the first token's arrival to the last chunk.
    pub(crate) span: Duration,
    /// How often the adapter's timer woke it.
    pub(crate) timer_fires: u64,
}

impl PolicyReport {
    pub(crate) fn new(name: String, rust: String, measured: Measured) -> Self {
        let Measured {
            tokens,
            mut delays,
            chunks,
            frame_bytes,
            span,
            timer_fires,
        } = measured;
        let first_token_delay = delays.first().copied().unwrap_or_default();
        let total: Duration = delays.iter().sum();
        let delay_mean = u32::try_from(delays.len())
            .ok()
            .filter(|&n| n > 0)
            .map_or(Duration::ZERO, |n| total / n);
        let delay_p50 = nearest_rank(&mut delays, 0.50);
        let delay_p99 = nearest_rank(&mut delays, 0.99);
        let delay_max = delays.iter().copied().max().unwrap_or_default();
        Self {
            name,
            rust,
            tokens,
            chunks,
            delay_p50,
            delay_p99,
            delay_max,
            delay_mean,
            first_token_delay,
            span,
            frame_bytes,
            timer_fires,
            on_front: false,
        }
    }

    /// A report with these figures, to test the rules that read reports.
    #[cfg(test)]
    pub(crate) fn synthetic(
        name: &str,
        chunks: u64,
        [p50, p99, max, first]: [Duration; 4],
    ) -> Self {
        Self {
            name: name.to_owned(),
            rust: String::new(),
            tokens: 1000,
            chunks,
            delay_p50: p50,
            delay_p99: p99,
            delay_max: max,
            delay_mean: p50,
            first_token_delay: first,
            span: Duration::from_secs(10),
            frame_bytes: 8 * chunks + 4000,
            timer_fires: 0,
            on_front: false,
        }
    }

    /// The policy's spec, as `--policy` takes it.
    #[must_use]
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The Rust expression that builds the policy.
    #[must_use]
    pub(crate) fn rust(&self) -> &str {
        &self.rust
    }

    /// Tokens pulled from the trace.
    #[cfg(test)]
    #[must_use]
    pub(crate) fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Chunks yielded: writes (and SSE events) the server makes.
    #[must_use]
    pub(crate) fn chunks(&self) -> u64 {
        self.chunks
    }

    /// The median added delay per token.
    #[must_use]
    pub(crate) fn delay_p50(&self) -> Duration {
        self.delay_p50
    }

    /// The 99th percentile of added delay per token.
    #[must_use]
    pub(crate) fn delay_p99(&self) -> Duration {
        self.delay_p99
    }

    /// The largest added delay of any token.
    #[must_use]
    pub(crate) fn delay_max(&self) -> Duration {
        self.delay_max
    }

    /// The mean added delay per token.
    #[must_use]
    pub(crate) fn delay_mean(&self) -> Duration {
        self.delay_mean
    }

    /// The delay added to the first token with text.
    #[must_use]
    pub(crate) fn first_token_delay(&self) -> Duration {
        self.first_token_delay
    }

    /// Chunks per second, over the time from the first token's arrival to the last chunk.
    #[must_use]
    pub(crate) fn chunks_per_second(&self) -> f64 {
        self.chunks as f64 / self.span.as_secs_f64().max(1e-3)
    }

    /// Mean tokens per chunk.
    #[must_use]
    pub(crate) fn tokens_per_chunk(&self) -> f64 {
        self.tokens as f64 / (self.chunks as f64).max(1.0)
    }

    /// Bytes on the wire per token when each chunk is a plain SSE `data:` event.
    #[must_use]
    pub(crate) fn sse_bytes_per_token(&self) -> f64 {
        self.frame_bytes as f64 / (self.tokens as f64).max(1.0)
    }

    /// Timer wake-ups of the adapter per token: work a server does besides the writes.
    #[must_use]
    pub(crate) fn timer_fires_per_token(&self) -> f64 {
        self.timer_fires as f64 / (self.tokens as f64).max(1.0)
    }

    /// Whether no other policy of the evaluation has both a lower p99 delay and fewer chunks
    /// (the Pareto front of that trade-off).
    #[must_use]
    pub(crate) fn on_front(&self) -> bool {
        self.on_front
    }
}

/// The nearest-rank percentile `q` of `values` (reordered in place).
fn nearest_rank(values: &mut [Duration], q: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    *values.select_nth_unstable(rank - 1).1
}
