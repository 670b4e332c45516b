use std::time::Duration;

use crate::Chunk;

/// One flush, as an observer hears of it: the chunk and when it went out.
///
/// # Examples
///
/// ```
/// use tokenflush::observe::{FlushObserver, FlushRecord};
///
/// #[derive(Debug, Default)]
/// struct Gaps(Vec<Option<std::time::Duration>>);
///
/// impl FlushObserver for Gaps {
///     fn on_flush(&mut self, flush: &FlushRecord<'_>) {
///         self.0.push(flush.since_previous());
///     }
/// }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FlushRecord<'a> {
    pub(crate) chunk: &'a Chunk,
    pub(crate) since_start: Duration,
    pub(crate) since_previous: Option<Duration>,
}

impl<'a> FlushRecord<'a> {
    /// The chunk about to be yielded: its reason, token count, text (and so its byte length)
    /// and [`held_for`](Chunk::held_for).
    #[must_use]
    pub fn chunk(&self) -> &'a Chunk {
        self.chunk
    }

    /// Time from attaching the observer to this flush.
    #[must_use]
    pub fn since_start(&self) -> Duration {
        self.since_start
    }

    /// Time since the previous flush of the stream; `None` for the first.
    #[must_use]
    pub fn since_previous(&self) -> Option<Duration> {
        self.since_previous
    }
}

/// A whole observed stream, as reported once when it ends.
///
/// # Examples
///
/// ```
/// use tokenflush::observe::{FlushObserver, StreamRecord};
///
/// #[derive(Debug, Default)]
/// struct TimeToFirstChunk(Option<std::time::Duration>);
///
/// impl FlushObserver for TimeToFirstChunk {
///     fn on_end(&mut self, stream: &StreamRecord) {
///         self.0 = stream.first_chunk();
///     }
/// }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamRecord {
    pub(crate) completed: bool,
    pub(crate) duration: Duration,
    pub(crate) first_token: Option<Duration>,
    pub(crate) first_chunk: Option<Duration>,
    pub(crate) tokens: u64,
    pub(crate) chunks: u64,
    pub(crate) bytes: u64,
    pub(crate) replacements: u64,
    pub(crate) errors: u64,
    pub(crate) timer_fires: u64,
    pub(crate) dropped_bytes: u64,
}

impl StreamRecord {
    /// Whether upstream ended and the remainder went out; `false` when the adapter was dropped
    /// first (the reader went away, or the server gave up), with the text still buffered then
    /// counted in [`dropped_bytes`](Self::dropped_bytes).
    #[must_use]
    pub fn completed(&self) -> bool {
        self.completed
    }

    /// `"completed"` or `"dropped"`: [`completed`](Self::completed) as a metrics label.
    #[cfg(any(feature = "tracing", feature = "metrics"))]
    pub(crate) fn outcome(&self) -> &'static str {
        if self.completed {
            "completed"
        } else {
            "dropped"
        }
    }

    /// Time from attaching the observer to the end.
    #[must_use]
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// Time from attaching the observer to the first token pulled from upstream.
    #[must_use]
    pub fn first_token(&self) -> Option<Duration> {
        self.first_token
    }

    /// Time from attaching the observer to the first chunk yielded: the time to first token
    /// as the reader sees it, less the network.
    #[must_use]
    pub fn first_chunk(&self) -> Option<Duration> {
        self.first_chunk
    }

    /// Tokens pulled from upstream.
    #[must_use]
    pub fn tokens(&self) -> u64 {
        self.tokens
    }

    /// Chunks yielded.
    #[must_use]
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// Bytes of text yielded.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// U+FFFD characters written for invalid or truncated UTF-8 in byte tokens.
    #[must_use]
    pub fn replacements(&self) -> u64 {
        self.replacements
    }

    /// How often the adapter's timer fired: wake-ups that only a deadline caused (a policy that
    /// flushes before its deadline needs few).
    #[must_use]
    pub fn timer_fires(&self) -> u64 {
        self.timer_fires
    }

    /// Upstream errors passed through ([`try_flush_with`](crate::TryFlushExt::try_flush_with)).
    #[must_use]
    pub fn errors(&self) -> u64 {
        self.errors
    }

    /// Bytes of complete text still buffered when the adapter was dropped, never yielded.
    #[must_use]
    pub fn dropped_bytes(&self) -> u64 {
        self.dropped_bytes
    }
}
