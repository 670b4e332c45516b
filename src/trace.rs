//! Token timing traces: record when a live model's tokens arrive, to replay them later through
//! every candidate policy (see the `tune` module, feature `tune`).
//!
//! A trace is JSON Lines, one token per line: `{"t": 0.412, "text": "Hello"}`, where `t` is
//! seconds since the stream began and `text` the token (byte tokens decoded lossily). Record
//! one from a live stream with [`TraceExt::record_trace`]; read one with
//! `Trace::from_jsonl` (feature `serde_json`).
//!
//! # Examples
//!
//! ```
//! use futures::StreamExt;
//! use tokenflush::trace::TraceExt;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let mut file = Vec::new(); // a `BufWriter<File>` in a real server
//! let tokens = futures::stream::iter(["Hel", "lo\n"]).record_trace(&mut file);
//! let passed: Vec<_> = tokens.collect().await;
//! assert_eq!(passed, ["Hel", "lo\n"]); // the stream is unchanged
//! assert_eq!(
//!     String::from_utf8(file).unwrap(),
//!     "{\"t\":0.000000,\"text\":\"Hel\"}\n{\"t\":0.000000,\"text\":\"lo\\n\"}\n"
//! );
//! # }
//! ```

#[cfg(feature = "serde")]
mod read;
mod record_trace;

#[cfg(feature = "serde")]
pub use read::TraceError;
pub use record_trace::{RecordTrace, TraceExt};

use std::fmt::Write as _;
use std::time::Duration;

/// One token of a trace: when it arrived, and its text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TracedToken {
    /// Time since the stream began.
    pub at: Duration,
    /// The token's text.
    pub text: String,
}

/// The arrival times and texts of a stream's tokens, in order.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokenflush::trace::Trace;
///
/// let trace = Trace::from_gaps(["a", "b", "c"], Duration::from_millis(10));
/// assert_eq!(trace.len(), 3);
/// assert_eq!(trace.tokens()[2].at, Duration::from_millis(30));
/// assert_eq!(trace.duration(), Duration::from_millis(30));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    tokens: Vec<TracedToken>,
}

impl Trace {
    /// An empty trace.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(tokenflush::trace::Trace::new().is_empty());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a token that arrived at `at`. Arrival times that go backwards are raised to the
    /// previous one, so the trace stays in order.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenflush::trace::Trace;
    ///
    /// let mut trace = Trace::new();
    /// trace.push(Duration::from_millis(5), "a");
    /// trace.push(Duration::from_millis(3), "b");
    /// assert_eq!(trace.tokens()[1].at, Duration::from_millis(5));
    /// ```
    pub fn push(&mut self, at: Duration, text: impl Into<String>) {
        let at = self.tokens.last().map_or(at, |last| at.max(last.at));
        self.tokens.push(TracedToken {
            at,
            text: text.into(),
        });
    }

    /// Tokens arriving every `gap`, the first one `gap` after the start.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenflush::trace::Trace;
    ///
    /// let trace = Trace::from_gaps(["x", "y"], Duration::from_millis(20));
    /// assert_eq!(trace.tokens()[0].at, Duration::from_millis(20));
    /// ```
    pub fn from_gaps<T: Into<String>>(texts: impl IntoIterator<Item = T>, gap: Duration) -> Self {
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
    pub fn tokens(&self) -> &[TracedToken] {
        &self.tokens
    }

    /// How many tokens the trace holds.
    #[must_use]
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the trace holds no token.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// When the last token arrived.
    #[must_use]
    pub fn duration(&self) -> Duration {
        self.tokens.last().map_or(Duration::ZERO, |last| last.at)
    }

    /// Writes the trace as JSON Lines, one `{"t": seconds, "text": "..."}` per token.
    ///
    /// # Errors
    ///
    /// Whatever `writer` returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenflush::trace::Trace;
    ///
    /// let mut out = Vec::new();
    /// Trace::from_gaps(["a\"b"], Duration::from_millis(1500)).write_jsonl(&mut out).unwrap();
    /// assert_eq!(out, b"{\"t\":1.500000,\"text\":\"a\\\"b\"}\n");
    /// ```
    pub fn write_jsonl(&self, mut writer: impl std::io::Write) -> std::io::Result<()> {
        let mut line = String::new();
        for token in &self.tokens {
            line.clear();
            jsonl_line(&mut line, token.at, &token.text);
            writer.write_all(line.as_bytes())?;
        }
        writer.flush()
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

/// Appends one trace line: `{"t":<seconds with microseconds>,"text":<JSON string>}` and LF.
fn jsonl_line(line: &mut String, at: Duration, text: &str) {
    let _ = write!(
        line,
        "{{\"t\":{}.{:06},\"text\":\"",
        at.as_secs(),
        at.subsec_micros()
    );
    for c in text.chars() {
        match c {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if c < ' ' => {
                let _ = write!(line, "\\u{:04x}", u32::from(c));
            }
            c => line.push(c),
        }
    }
    line.push_str("\"}\n");
}
