//! [`Decode`]: the client side of the LLM wire formats — events in, typed items out.

pub(super) mod anthropic_messages;
pub(super) mod openai_chat;
pub(super) mod openai_responses;

use std::borrow::Cow;
use std::convert::Infallible;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Visitor};

use crate::llm::Item;
use crate::sse::{ParseError, ParsedEvent};

/// The client side of a wire format: SSE events in, typed items out.
///
/// [`OpenAiChat`](crate::sse::OpenAiChat), [`OpenAiResponses`](crate::sse::OpenAiResponses)
/// and [`AnthropicMessages`](crate::sse::AnthropicMessages) decode what they render, and what
/// the APIs (and servers compatible with them: vLLM, SGLang, llama.cpp, Ollama, …) send. A
/// `Default` value decodes one stream; feed it the events of the [`Parser`](crate::sse::Parser)
/// in order. Together with the [flush adapter](crate::FlushExt::flush_with) and a format, this
/// is a proxy: an upstream's events become items, the text is re-chunked by a policy, and any
/// of the formats renders the items again.
///
/// What each format decodes, and what it leaves to [`Item::Other`] (tagged with the format's
/// name: `"openai-chat"`, `"openai-responses"`, `"anthropic-messages"`):
///
/// - Every format: [`Item::Start`] from the first event that names the response's id or
///   model; text of each kind, skipping empty deltas; tool-call fragments, the first of each
///   call with its id and name (ids and names that are empty strings are `None`); then
///   [`Item::Finish`] and [`Item::Usage`] as the stream tells them.
/// - OpenAI chat: `content`, `reasoning_content` and `reasoning` (vLLM's and OpenRouter's
///   fields for reasoning text), `refusal`, `tool_calls`, `logprobs.content` and
///   `logprobs.refusal` (as [`Item::Logprobs`], the JSON array as sent), `finish_reason`,
///   `usage`; [`Item::Choice`] whenever the choice index changes (it starts at 0). Events
///   that are not `chat.completion.chunk` objects are `Other`; delta fields beyond these
///   (audio, the legacy `function_call`) are left out.
/// - OpenAI Responses: text, refusal and reasoning deltas (`reasoning_text` and
///   `reasoning_summary_text`), function calls, logprobs of text deltas; `Finish` from
///   `response.completed` (`ToolCalls` if the response called a function, else `Stop`) or
///   `response.incomplete` (`Length`, `ContentFilter`); output items of other types and all
///   their events are `Other`, as are events this crate does not know.
/// - Anthropic: `text`, `thinking` and `tool_use` blocks (a call's index counts the `tool_use`
///   blocks); `stop_reason` and `usage` of `message_delta` (input tokens from
///   `message_start` when `message_delta` has none); blocks of other types, their deltas and
///   stops, thinking signatures and `citations_delta` are `Other`; so are events of types this
///   crate does not know. `ping` is nothing.
///
/// # Examples
///
/// ```
/// use tokenflush::llm::{FinishReason, Item};
/// use tokenflush::sse::{Decode, OpenAiChat, Parser};
///
/// let body = concat!(
///     "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",",
///     "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n",
///     "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",",
///     "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n",
///     "data: [DONE]\n\n",
/// );
/// let mut parser = Parser::new();
/// parser.feed(body.as_bytes());
/// let mut decoder = OpenAiChat::default();
/// let mut items = Vec::new();
/// while let Some(event) = parser.next_event()? {
///     decoder.decode(&event, &mut items)?;
/// }
/// assert!(decoder.is_complete());
/// assert_eq!(
///     items,
///     [
///         Item::Start { id: Some("chatcmpl-1".into()), model: Some("m".into()) },
///         Item::Content("Hi".into()),
///         Item::Finish(FinishReason::Length),
///     ],
/// );
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Decode {
    /// Turns one event into items, appended to `items`.
    ///
    /// # Errors
    ///
    /// [`DecodeError::Upstream`] when the event is the upstream's error event (the stream
    /// failed there), [`DecodeError::Data`] when its data is not the format's JSON.
    fn decode(&mut self, event: &ParsedEvent, items: &mut Vec<Item>) -> Result<(), DecodeError>;

    /// Whether the event that ends a complete stream was seen (`[DONE]`, `message_stop`,
    /// `response.completed`/`.incomplete`); a stream that ends before it was cut short.
    fn is_complete(&self) -> bool;
}

/// Why an event could not be decoded.
///
/// # Examples
///
/// ```
/// use tokenflush::sse::{AnthropicMessages, Decode, DecodeError, ParsedEvent};
///
/// let event = ParsedEvent::new(r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#)
///     .with_event_type("error");
/// let error = AnthropicMessages::default().decode(&event, &mut Vec::new()).unwrap_err();
/// assert!(matches!(&error, DecodeError::Upstream { message, .. } if message == "Overloaded"));
/// assert_eq!(error.to_string(), "the upstream failed: Overloaded");
/// ```
///
/// From [`parse_items`](crate::sse::ParseSseExt::parse_items) it also carries what went wrong
/// below the format: the event stream itself ([`Parse`](Self::Parse): a limit, a cut, the
/// body's own error `E`), or a stream that ended before its last event
/// ([`Unterminated`](Self::Unterminated)).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError<E = Infallible> {
    /// The upstream's own error event: its stream failed, with this message.
    #[error("the upstream failed: {message}")]
    #[non_exhaustive]
    Upstream {
        /// The upstream's error message.
        message: String,
    },
    /// The event's data is not the JSON the format sends.
    #[error("{format} event data is not the format's JSON: {source}")]
    #[non_exhaustive]
    Data {
        /// The format's name (`"openai-chat"`, …).
        format: &'static str,
        /// What the JSON parser found.
        source: serde_json::Error,
    },
    /// The event stream below the format: an exceeded limit, a cut inside an event, or the
    /// body's own error.
    #[error(transparent)]
    Parse(ParseError<E>),
    /// The stream ended without the event that ends a complete one (`[DONE]`,
    /// `message_stop`, `response.completed`): the connection was cut between events.
    #[error("the stream ended before its last event: the answer may be cut short")]
    Unterminated,
}

impl DecodeError {
    /// The error of a stream whose body fails with `E`.
    pub(crate) fn widen<E>(self) -> DecodeError<E> {
        match self {
            Self::Upstream { message } => DecodeError::Upstream { message },
            Self::Data { format, source } => DecodeError::Data { format, source },
            Self::Parse(error) => DecodeError::Parse(error.widen()),
            Self::Unterminated => DecodeError::Unterminated,
        }
    }

    fn data(format: &'static str, source: serde_json::Error) -> Self {
        Self::Data { format, source }
    }

    fn upstream(message: Option<Str<'_>>, otherwise: &str) -> Self {
        let message = message
            .map(Str::into_owned)
            .filter(|message| !message.is_empty());
        Self::Upstream {
            message: message.unwrap_or_else(|| otherwise.to_owned()),
        }
    }
}

/// A JSON string, borrowed from the event's data unless it has escapes.
#[derive(Debug, Default)]
struct Str<'a>(Cow<'a, str>);

impl<'a> Str<'a> {
    fn as_str(&self) -> &str {
        &self.0
    }

    fn into_owned(self) -> String {
        self.0.into_owned()
    }

    /// The string, unless it is empty.
    fn non_empty(this: Option<Self>) -> Option<String> {
        this.filter(|text| !text.0.is_empty()).map(Str::into_owned)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;

        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(text)))
            }

            fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(text.to_owned())))
            }

            fn visit_string<E>(self, text: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(text)))
            }
        }

        deserializer.deserialize_str(StrVisitor)
    }
}

/// The event as [`Item::Other`] of `format`.
fn other(format: &'static str, event: &ParsedEvent) -> Item {
    let event_type = event.event_type();
    Item::Other {
        format,
        event: (event_type != "message").then(|| event_type.to_owned()),
        data: event.data().to_owned(),
    }
}

/// Whether a raw JSON value is an array with elements.
fn has_elements(raw: &serde_json::value::RawValue) -> bool {
    let json = raw.get().trim();
    json.starts_with('[') && json[1..].trim_start() != "]"
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;

    #[test]
    fn arrays_with_elements() {
        let raw = |json: &str| RawValue::from_string(json.to_owned()).unwrap();
        assert!(has_elements(&raw("[1]")));
        assert!(!has_elements(&raw("[ ]")));
        assert!(!has_elements(&raw("null")));
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        let plain: Str<'_> = serde_json::from_str(r#""plain""#).unwrap();
        assert!(matches!(plain.0, Cow::Borrowed("plain")));
        let escaped: Str<'_> = serde_json::from_str(r#""a\nb""#).unwrap();
        assert!(matches!(escaped.0, Cow::Owned(ref text) if text == "a\nb"));
        assert!(serde_json::from_str::<Str<'_>>("3").is_err());
    }
}
