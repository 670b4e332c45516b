use super::{BufferState, Decision, FlushPolicy};

/// Flushes every token as its own chunk: the lowest latency, one write per token.
///
/// A byte token that ends inside a character is flushed together with the token that
/// completes the character, so even here a chunk never splits one.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use tokenflush::{policy::Immediate, FlushExt};
///
/// # futures::executor::block_on(async {
/// let chunks: Vec<String> = futures::stream::iter(["Hel", "lo"])
///     .flush_with(Immediate::new())
///     .map(|chunk| chunk.into_string())
///     .collect()
///     .await;
/// assert_eq!(chunks, ["Hel", "lo"]);
/// # });
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Immediate {
    _private: (),
}

impl Immediate {
    /// The policy that flushes every token.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::policy::{BufferState, Decision, FlushPolicy, Immediate};
    ///
    /// assert_eq!(Immediate::new().decide(&BufferState::new("a", 1)), Decision::Flush);
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl FlushPolicy for Immediate {
    #[inline]
    fn decide(&mut self, _state: &BufferState<'_>) -> Decision {
        Decision::Flush
    }
}
