//! [`Usage`]: token counts of a response.

/// Token counts of a response: what every API reports, under different names.
///
/// | here | OpenAI chat | OpenAI Responses | Anthropic |
/// |---|---|---|---|
/// | `input_tokens` | `prompt_tokens` | `input_tokens` | `input_tokens` |
/// | `output_tokens` | `completion_tokens` | `output_tokens` | `output_tokens` |
/// | `reasoning_tokens` | `completion_tokens_details.reasoning_tokens` | `output_tokens_details.reasoning_tokens` | `output_tokens_details.thinking_tokens` |
/// | `cached_input_tokens` | `prompt_tokens_details.cached_tokens` | `input_tokens_details.cached_tokens` | `cache_read_input_tokens` |
///
/// # Examples
///
/// ```
/// use tokenflush::llm::Usage;
///
/// let usage = Usage::new(120, 48).with_reasoning_tokens(30);
/// assert_eq!(usage.total_tokens(), 168);
/// assert_eq!(usage.reasoning_tokens(), Some(30));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Usage {
    input_tokens: u64,
    output_tokens: u64,
    reasoning_tokens: Option<u64>,
    cached_input_tokens: Option<u64>,
}

impl Usage {
    /// `input_tokens` read, `output_tokens` generated.
    #[must_use]
    pub const fn new(input_tokens: u64, output_tokens: u64) -> Self {
        Self {
            input_tokens,
            output_tokens,
            reasoning_tokens: None,
            cached_input_tokens: None,
        }
    }

    /// Sets how many of the output tokens were reasoning.
    #[must_use]
    pub const fn with_reasoning_tokens(mut self, reasoning_tokens: u64) -> Self {
        self.reasoning_tokens = Some(reasoning_tokens);
        self
    }

    /// Sets how many of the input tokens were read from a prompt cache.
    #[must_use]
    pub const fn with_cached_input_tokens(mut self, cached_input_tokens: u64) -> Self {
        self.cached_input_tokens = Some(cached_input_tokens);
        self
    }

    /// Tokens read (the prompt).
    #[must_use]
    pub const fn input_tokens(&self) -> u64 {
        self.input_tokens
    }

    /// Tokens generated (reasoning included).
    #[must_use]
    pub const fn output_tokens(&self) -> u64 {
        self.output_tokens
    }

    /// Input and output tokens together (saturating).
    #[must_use]
    pub const fn total_tokens(&self) -> u64 {
        self.input_tokens.saturating_add(self.output_tokens)
    }

    /// Output tokens spent on reasoning, when the upstream says.
    #[must_use]
    pub const fn reasoning_tokens(&self) -> Option<u64> {
        self.reasoning_tokens
    }

    /// Input tokens read from a prompt cache, when the upstream says.
    #[must_use]
    pub const fn cached_input_tokens(&self) -> Option<u64> {
        self.cached_input_tokens
    }
}
