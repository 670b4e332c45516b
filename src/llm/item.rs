//! [`Item`]: one piece of a typed LLM stream.

use super::{FinishReason, ToolCall, Usage};

/// One piece of a model's stream, saying what it is.
///
/// `T` is the text: a [`Token`](crate::Token) going into the flush adapter (`String`, `&str`,
/// bytes, …), a [`Chunk`](crate::Chunk) coming out. Only the three text kinds merge, each with
/// its own kind; every other item passes through the adapter as it is, in order.
///
/// Items that describe the text before them ([`Logprobs`](Self::Logprobs)) stay right after it:
/// the adapter flushes the buffered text ahead of every non-text item.
///
/// # Examples
///
/// Turning the deltas of a model client into items:
///
/// ```
/// use tokenflush::llm::{FinishReason, Item, ToolCall};
///
/// /// A delta as some model client yields it.
/// struct Delta {
///     content: Option<String>,
///     tool_call: Option<(u32, String)>,
///     finish_reason: Option<String>,
/// }
///
/// fn items(delta: Delta) -> impl Iterator<Item = Item> {
///     let content = delta.content.map(Item::Content);
///     let tool_call = delta
///         .tool_call
///         .map(|(index, arguments)| Item::ToolCall(ToolCall::new(index).with_arguments(arguments)));
///     let finish = delta.finish_reason.map(|reason| Item::Finish(FinishReason::from_openai(&reason)));
///     content.into_iter().chain(tool_call).chain(finish)
/// }
///
/// let delta = Delta { content: Some("Hi".into()), tool_call: None, finish_reason: Some("length".into()) };
/// let items: Vec<Item> = items(delta).collect();
/// assert_eq!(items, [Item::Content("Hi".into()), Item::Finish(FinishReason::Length)]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Item<T = String> {
    /// The response began: its id and model, as far as the upstream tells them. Formats use
    /// them instead of the ones they were built with; it comes first when it comes at all.
    Start {
        /// The response's id (`chatcmpl-…`, `msg_…`, `resp_…`).
        id: Option<String>,
        /// The model that answers.
        model: Option<String>,
    },
    /// Text of the answer.
    Content(T),
    /// Reasoning ("thinking") text, shown apart from the answer; never merged with it.
    Reasoning(T),
    /// Text of a refusal (OpenAI's `refusal`), never merged with the answer.
    Refusal(T),
    /// A fragment of a tool call: its arguments arrive in pieces, never merged.
    ToolCall(ToolCall),
    /// Log probabilities of the text just before: a JSON array of per-token entries
    /// (`{"token", "logprob", "bytes", "top_logprobs"}`), as OpenAI sends them in a chat
    /// chunk's `logprobs.content` (or `.refusal`) and a Responses text delta's `logprobs`.
    /// Formats without logprobs leave it out; JSON that is not an array is never sent.
    Logprobs(String),
    /// The items that follow belong to choice `n` (OpenAI's `n > 1`); a stream of one choice
    /// never needs it. Formats without choices keep choice 0 only.
    Choice(u32),
    /// Why the model stopped.
    Finish(FinishReason),
    /// Token counts so far; a later `Usage` replaces an earlier one.
    Usage(Usage),
    /// An event of the upstream's wire format that has no item of its own, passed through as it
    /// came; only a format of the same wire format writes it back.
    Other {
        /// The wire format it came from (a format's name, such as `"openai-chat"`).
        format: &'static str,
        /// The SSE event type, if it had one.
        event: Option<String>,
        /// The event's data.
        data: String,
    },
}

impl<T> Item<T> {
    /// The text, for the three text kinds.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::llm::{FinishReason, Item};
    ///
    /// assert_eq!(Item::Reasoning("hmm").text(), Some(&"hmm"));
    /// assert_eq!(Item::<&str>::Finish(FinishReason::Stop).text(), None);
    /// ```
    pub fn text(&self) -> Option<&T> {
        match self {
            Self::Content(text) | Self::Reasoning(text) | Self::Refusal(text) => Some(text),
            _ => None,
        }
    }

    /// The same item with its text mapped by `f` (other items are unchanged).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::llm::Item;
    ///
    /// assert_eq!(Item::Content("hi").map_text(str::to_uppercase), Item::Content("HI".to_owned()));
    /// ```
    pub fn map_text<U>(self, f: impl FnOnce(T) -> U) -> Item<U> {
        match self.into_text() {
            Ok((kind, text)) => Item::from_text(kind, f(text)),
            Err(other) => other,
        }
    }

    /// The text and its kind, or the item as an item of any text type when it holds no text.
    pub(crate) fn into_text<U>(self) -> Result<(TextKind, T), Item<U>> {
        Err(match self {
            Self::Content(text) => return Ok((TextKind::Content, text)),
            Self::Reasoning(text) => return Ok((TextKind::Reasoning, text)),
            Self::Refusal(text) => return Ok((TextKind::Refusal, text)),
            Self::Start { id, model } => Item::Start { id, model },
            Self::ToolCall(call) => Item::ToolCall(call),
            Self::Logprobs(json) => Item::Logprobs(json),
            Self::Choice(index) => Item::Choice(index),
            Self::Finish(reason) => Item::Finish(reason),
            Self::Usage(usage) => Item::Usage(usage),
            Self::Other {
                format,
                event,
                data,
            } => Item::Other {
                format,
                event,
                data,
            },
        })
    }

    /// The text item of `kind`.
    pub(crate) fn from_text(kind: TextKind, text: T) -> Self {
        match kind {
            TextKind::Content => Self::Content(text),
            TextKind::Reasoning => Self::Reasoning(text),
            TextKind::Refusal => Self::Refusal(text),
        }
    }
}

/// The kinds of text an item holds; text merges only with text of its kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TextKind {
    Content,
    Reasoning,
    Refusal,
}
