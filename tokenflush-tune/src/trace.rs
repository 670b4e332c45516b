//! [`Trace`]: the arrival times and texts of a stream's tokens.

use std::time::Duration;

/// One token of a trace: when it arrived, and its text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct TracedToken {
    /// Time since the stream began.
    pub(crate) at: Duration,
    /// The token's text.
    pub(crate) text: String,
}

/// The arrival times and texts of a stream's tokens, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Trace {
    tokens: Vec<TracedToken>,
}

impl Trace {
    /// An empty trace.
    #[must_use]
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Appends a token that arrived at `at`. Arrival times that go backwards are raised to the
    /// previous one, so the trace stays in order.
    pub(crate) fn push(&mut self, at: Duration, text: impl Into<String>) {
        let at = self.tokens.last().map_or(at, |last| at.max(last.at));
        self.tokens.push(TracedToken {
            at,
            text: text.into(),
        });
    }

    #[cfg(test)]
    /// Tokens arriving every `gap`, the first one `gap` after the start.
    pub(crate) fn from_gaps<T: Into<String>>(
        texts: impl IntoIterator<Item = T>,
        gap: Duration,
    ) -> Self {
        let mut trace = Self::new();
        let mut at = Duration::ZERO;
        for text in texts {
            at += gap;
            trace.push(at, text);
        }
        trace
    }

    /// The tokens, in order of arrival.
    #[must_use]
    pub(crate) fn tokens(&self) -> &[TracedToken] {
        &self.tokens
    }

    /// How many tokens the trace holds.
    #[must_use]
    pub(crate) fn len(&self) -> usize {
        self.tokens.len()
    }

    /// When the last token arrived.
    #[must_use]
    pub(crate) fn duration(&self) -> Duration {
        self.tokens.last().map_or(Duration::ZERO, |last| last.at)
    }
}

impl FromIterator<TracedToken> for Trace {
    fn from_iter<I: IntoIterator<Item = TracedToken>>(tokens: I) -> Self {
        let mut trace = Self::new();
        for token in tokens {
            trace.push(token.at, token.text);
        }
        trace
    }
}
