//! [`Rules`]: a policy built from the common rules — tokens, bytes, a boundary, an age.

use std::num::NonZeroUsize;
use std::time::Duration;

use super::boundary::Scan;
use super::{Boundary, BufferState, Decision, FlushPolicy};
use crate::{Chunk, FlushReason};

/// A policy built from the rules people combine, so that "4 tokens or a sentence or 100 ms"
/// needs no hand-written policy: it flushes when any rule says so.
///
/// | rule | flushes |
/// |---|---|
/// | [`max_tokens(n)`](Self::max_tokens) | at `n` tokens ([`FlushReason::Size`]) |
/// | [`max_bytes(n)`](Self::max_bytes) | at `n` bytes of text ([`FlushReason::Size`]) |
/// | [`at(boundary)`](Self::at) | the text up to the last such boundary, as soon as there is one ([`FlushReason::Boundary`]); the rest waits |
/// | [`max_latency(d)`](Self::max_latency) | when the oldest buffered text is `d` old ([`FlushReason::Deadline`]) |
/// | [`immediate_first(true)`](Self::immediate_first) (the default) | the stream's first text at once ([`FlushReason::First`]) |
///
/// With a boundary, the flushes that the token, byte and time rules force cut at the last word
/// boundary when there is one, so that a reader sees whole words; the word still being written
/// waits, counting its own age: no text is held past `max_latency`. Without any rule, text waits
/// for the end of the stream or the adapter's byte cap, which overrides every policy, as does
/// the flush ahead of a pass-through item.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
/// use tokenflush::policy::{Boundary, Rules};
/// use tokenflush::{FlushExt, FlushReason};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// // 4 tokens or a sentence or 100 ms, whichever comes first.
/// let policy = Rules::new()
///     .max_tokens(4)
///     .at(Boundary::Sentence)
///     .max_latency(Duration::from_millis(100));
/// let tokens = futures::stream::iter(["Hi", ". How", " are", " you", " to", "day?"]);
/// let chunks: Vec<_> = tokens.flush_with(policy).collect().await;
/// let shown: Vec<_> = chunks.iter().map(|c| (c.as_str(), c.reason())).collect();
/// assert_eq!(
///     shown,
///     [
///         ("Hi", FlushReason::First),
///         (". ", FlushReason::Boundary),
///         // Four tokens: cut after the last whole word.
///         ("How are you ", FlushReason::Size),
///         ("today?", FlushReason::End),
///     ]
/// );
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    max_tokens: Option<NonZeroUsize>,
    max_bytes: Option<NonZeroUsize>,
    max_latency: Option<Duration>,
    immediate_first: bool,
    at: Option<Scan>,
    words: Scan,
}

impl Default for Rules {
    fn default() -> Self {
        Self::new()
    }
}

impl Rules {
    /// No rule yet but [`immediate_first`](Self::immediate_first): text waits for the end of
    /// the stream, the adapter's byte cap or a pass-through item.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            max_tokens: None,
            max_bytes: None,
            max_latency: None,
            immediate_first: true,
            at: None,
            words: Scan::new(Boundary::Word),
        }
    }

    /// Flushes at `max_tokens` tokens; 0 turns the rule off.
    #[must_use]
    pub const fn max_tokens(mut self, max_tokens: usize) -> Self {
        self.max_tokens = NonZeroUsize::new(max_tokens);
        self
    }

    /// Flushes at `max_bytes` bytes of text; 0 turns the rule off.
    #[must_use]
    pub const fn max_bytes(mut self, max_bytes: usize) -> Self {
        self.max_bytes = NonZeroUsize::new(max_bytes);
        self
    }

    /// Flushes the text up to the last `boundary` as soon as there is one.
    #[must_use]
    pub const fn at(mut self, boundary: Boundary) -> Self {
        self.at = Some(Scan::new(boundary));
        self
    }

    /// Flushes when the oldest buffered text is `max_latency` old ([`Duration::MAX`]: never).
    #[must_use]
    pub const fn max_latency(mut self, max_latency: Duration) -> Self {
        self.max_latency = Some(max_latency);
        self
    }

    /// Whether the stream's first text goes out at once (the default), so that time to first
    /// token is never delayed.
    #[must_use]
    pub const fn immediate_first(mut self, immediate_first: bool) -> Self {
        self.immediate_first = immediate_first;
        self
    }

    /// A forced flush: up to the last whole word when a boundary is set and one exists.
    fn cut(&mut self, state: &BufferState<'_>, reason: FlushReason) -> Decision {
        if self.at.is_some() {
            if let Some(end) = self.words.last_in(state.text()) {
                return Decision::FlushUpTo(end, reason);
            }
        }
        Decision::FlushAs(reason)
    }
}

impl FlushPolicy for Rules {
    fn decide(&mut self, state: &BufferState<'_>) -> Decision {
        if self.immediate_first && state.is_first_chunk() {
            return Decision::FlushAs(FlushReason::First);
        }
        if let Some(end) = self.at.as_mut().and_then(|scan| scan.last_in(state.text())) {
            return Decision::FlushUpTo(end, FlushReason::Boundary);
        }
        let full_tokens = self
            .max_tokens
            .is_some_and(|max| state.token_count() >= max.get());
        let full_bytes = self
            .max_bytes
            .is_some_and(|max| state.byte_len() >= max.get());
        if full_tokens || full_bytes {
            return self.cut(state, FlushReason::Size);
        }
        let deadline = self
            .max_latency
            .zip(state.oldest())
            .and_then(|(max_latency, oldest)| oldest.checked_add(max_latency));
        match deadline {
            Some(deadline) if state.now().is_some_and(|now| now >= deadline) => {
                self.cut(state, FlushReason::Deadline)
            }
            Some(deadline) => Decision::WaitUntil(deadline),
            None => Decision::Wait,
        }
    }

    fn on_flush(&mut self, chunk: &Chunk) {
        let len = chunk.as_str().len();
        self.words.flushed(len);
        if let Some(scan) = &mut self.at {
            scan.flushed(len);
        }
    }
}
