//! [`Gaps`]: how far apart tokens arrive, learned from the instants a policy is shown.

use std::time::Duration;

use tokio::time::Instant;

use super::BufferState;

/// Weight of a new gap in the moving average, as a shift: 1/4.
const WEIGHT_SHIFT: u32 = 2;

/// An exponentially weighted moving average of the gaps between token arrivals.
///
/// A policy feeds it every state it is shown; it counts an arrival when the buffer holds more
/// tokens than the last time it looked (a flush starts the count again), at the poll's instant.
/// Tokens that arrive in one poll (a burst) count as one arrival: the gap that matters for a
/// deadline is the one to the next burst.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Gaps {
    average: Option<Duration>,
    last_arrival: Option<Instant>,
    tokens_seen: usize,
}

impl Gaps {
    pub(crate) const fn new() -> Self {
        Self {
            average: None,
            last_arrival: None,
            tokens_seen: 0,
        }
    }

    /// Learns from `state`: a new arrival if it holds tokens not seen before.
    pub(crate) fn observe(&mut self, state: &BufferState<'_>) {
        let tokens = state.token_count();
        if tokens <= self.tokens_seen {
            return;
        }
        self.tokens_seen = tokens;
        let Some(now) = state.now() else { return };
        if let Some(last) = self.last_arrival.replace(now) {
            let gap = now.saturating_duration_since(last);
            if !gap.is_zero() {
                self.average = Some(match self.average {
                    None => gap,
                    Some(average) => {
                        average - average / (1 << WEIGHT_SHIFT) + gap / (1 << WEIGHT_SHIFT)
                    }
                });
            }
        }
    }

    /// A chunk of `tokens` went out: the tokens buffered after it were seen already.
    pub(crate) fn flushed(&mut self, tokens: usize) {
        self.tokens_seen = self.tokens_seen.saturating_sub(tokens);
    }

    /// The average gap between arrivals, once two have been seen.
    pub(crate) fn average(&self) -> Option<Duration> {
        self.average
    }

    /// When the next token is expected, if the gaps are known.
    pub(crate) fn next_arrival(&self) -> Option<Instant> {
        Some(self.last_arrival? + self.average?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_the_gap_between_arrivals_and_ignores_bursts() {
        let start = Instant::now();
        let mut gaps = Gaps::default();
        let text = "x".repeat(10);
        for (tokens, ms) in [(1, 0), (2, 20), (3, 40), (4, 40), (5, 60)] {
            let state = BufferState::new(&text, tokens)
                .with_now(start + Duration::from_millis(ms))
                .with_oldest(start);
            gaps.observe(&state);
            // Asked again about the same tokens (upstream went idle): no new arrival.
            gaps.observe(&state);
        }
        assert_eq!(gaps.average(), Some(Duration::from_millis(20)));
        assert_eq!(gaps.next_arrival(), Some(start + Duration::from_millis(80)));
        gaps.flushed(5);
        let state = BufferState::new("y", 1).with_now(start + Duration::from_millis(140));
        gaps.observe(&state);
        // (3 × 20 + 80) / 4
        assert_eq!(gaps.average(), Some(Duration::from_millis(35)));
    }
}
