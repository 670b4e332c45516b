use std::time::Duration;

/// What one policy did to one trace, as [`replay`](crate::replay) measured it.
///
/// Delays are the delay the policy added to each token: from its arrival to the moment the
/// chunk holding it was yielded. Percentiles are nearest-rank: `p99` is the smallest delay that
/// at least 99% of tokens did not exceed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct PolicyReport {
    name: String,
    tokens: u64,
    chunks: u64,
    delay_p50: Duration,
    delay_p99: Duration,
    delay_max: Duration,
    delay_mean: Duration,
    first_token_delay: Duration,
    span: Duration,
    frame_bytes: u64,
    pub(super) on_front: bool,
}

impl PolicyReport {
    pub(super) fn new(
        name: String,
        mut delays: Vec<Duration>,
        chunks: u64,
        frame_bytes: u64,
        first_token_delay: Duration,
        span: Duration,
    ) -> Self {
        let tokens = delays.len() as u64;
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
            tokens,
            chunks,
            delay_p50,
            delay_p99,
            delay_max,
            delay_mean,
            first_token_delay,
            span,
            frame_bytes,
            on_front: false,
        }
    }

    /// The policy's name.
    #[must_use]
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    #[cfg(test)]
    /// Tokens delivered.
    #[must_use]
    pub(crate) fn tokens(&self) -> u64 {
        self.tokens
    }

    #[cfg(test)]
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

    #[cfg(test)]
    /// The mean added delay per token.
    #[must_use]
    pub(crate) fn delay_mean(&self) -> Duration {
        self.delay_mean
    }

    /// The delay added to the first token: from its arrival to the first chunk.
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

    /// Whether no other policy of the evaluation has both a lower p99 delay and fewer chunks
    /// per second (the Pareto front of that trade-off).
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
