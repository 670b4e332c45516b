//! [`FinishReason`]: why a model stopped, across the APIs' vocabularies.

use std::fmt;

/// Why a model stopped generating, in terms every API maps to.
///
/// | here | OpenAI chat | OpenAI Responses | Anthropic |
/// |---|---|---|---|
/// | `Stop` | `stop` | `completed` | `end_turn`, `stop_sequence` |
/// | `Length` | `length` | `incomplete` (`max_output_tokens`) | `max_tokens` |
/// | `ToolCalls` | `tool_calls` | `completed`, with a function call | `tool_use` |
/// | `ContentFilter` | `content_filter` | `incomplete` (`content_filter`) | `refusal` |
/// | `Other(_)` | anything else, as sent | `completed` | anything else (`pause_turn`, …), as sent |
///
/// # Examples
///
/// ```
/// use tokenflush::llm::FinishReason;
///
/// let reason = FinishReason::from_anthropic("max_tokens");
/// assert_eq!(reason, FinishReason::Length);
/// assert_eq!(reason.as_openai(), "length");
/// assert_eq!(FinishReason::from_openai("eos").as_anthropic(), "eos");
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FinishReason {
    /// The model finished its answer (or hit a stop sequence).
    Stop,
    /// The output token limit cut the answer short.
    Length,
    /// The model stopped to call tools.
    ToolCalls,
    /// A content filter or a refusal stopped it.
    ContentFilter,
    /// A reason the other variants do not cover, as the upstream named it.
    Other(String),
}

impl FinishReason {
    /// From an OpenAI chat completions `finish_reason`.
    #[must_use]
    pub fn from_openai(reason: &str) -> Self {
        match reason {
            "stop" => Self::Stop,
            "length" => Self::Length,
            // `function_call` is the deprecated spelling of a tool call.
            "tool_calls" | "function_call" => Self::ToolCalls,
            "content_filter" => Self::ContentFilter,
            other => Self::Other(other.to_owned()),
        }
    }

    /// From an Anthropic messages `stop_reason`.
    #[must_use]
    pub fn from_anthropic(reason: &str) -> Self {
        match reason {
            "end_turn" | "stop_sequence" => Self::Stop,
            "max_tokens" => Self::Length,
            "tool_use" => Self::ToolCalls,
            "refusal" => Self::ContentFilter,
            other => Self::Other(other.to_owned()),
        }
    }

    /// As an OpenAI chat completions `finish_reason`.
    #[must_use]
    pub fn as_openai(&self) -> &str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
            Self::ToolCalls => "tool_calls",
            Self::ContentFilter => "content_filter",
            Self::Other(other) => other,
        }
    }

    /// As an Anthropic messages `stop_reason`.
    #[must_use]
    pub fn as_anthropic(&self) -> &str {
        match self {
            Self::Stop => "end_turn",
            Self::Length => "max_tokens",
            Self::ToolCalls => "tool_use",
            Self::ContentFilter => "refusal",
            Self::Other(other) => other,
        }
    }
}

impl fmt::Display for FinishReason {
    /// The OpenAI chat spelling.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_openai())
    }
}
