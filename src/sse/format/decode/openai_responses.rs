//! Decoding OpenAI's Responses stream.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{has_elements, other, Decode, DecodeError, Str};
use crate::llm::{FinishReason, Item, ToolCall, Usage};
use crate::sse::{OpenAiResponses, ParsedEvent};

const NAME: &str = "openai-responses";

/// The decoding state of [`OpenAiResponses`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(in crate::sse::format) struct Decoding {
    /// The output items so far, by their output index.
    output: BTreeMap<u64, Output>,
    /// How many function calls there were: the index of the next call.
    calls: u32,
    done: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    /// A message or reasoning item: its events carry text.
    Text,
    Call(u32),
    /// An item of another type, passed on as [`Item::Other`].
    Other,
}

/// Any event, its fields to be read by its type.
#[derive(Deserialize)]
struct EventJson<'a> {
    #[serde(rename = "type", borrow)]
    kind: Str<'a>,
    #[serde(borrow)]
    response: Option<ResponseJson<'a>>,
    output_index: Option<u64>,
    #[serde(borrow)]
    item: Option<ItemJson<'a>>,
    #[serde(borrow)]
    delta: Option<Str<'a>>,
    #[serde(borrow)]
    logprobs: Option<&'a RawValue>,
    #[serde(borrow)]
    message: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct ResponseJson<'a> {
    #[serde(borrow)]
    id: Option<Str<'a>>,
    #[serde(borrow)]
    model: Option<Str<'a>>,
    usage: Option<UsageJson>,
    #[serde(borrow)]
    error: Option<ErrorJson<'a>>,
    #[serde(borrow)]
    incomplete_details: Option<IncompleteJson<'a>>,
}

#[derive(Deserialize)]
struct ItemJson<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Str<'a>>,
    #[serde(borrow)]
    call_id: Option<Str<'a>>,
    #[serde(borrow)]
    name: Option<Str<'a>>,
    #[serde(borrow)]
    arguments: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct ErrorJson<'a> {
    #[serde(borrow)]
    message: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct IncompleteJson<'a> {
    #[serde(borrow)]
    reason: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct UsageJson {
    #[serde(default)]
    input_tokens: u64,
    #[serde(default)]
    output_tokens: u64,
    input_tokens_details: Option<InputDetailsJson>,
    output_tokens_details: Option<OutputDetailsJson>,
}

#[derive(Deserialize)]
struct InputDetailsJson {
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct OutputDetailsJson {
    reasoning_tokens: Option<u64>,
}

impl UsageJson {
    fn usage(self) -> Usage {
        let mut usage = Usage::new(self.input_tokens, self.output_tokens);
        if let Some(cached) = self.input_tokens_details.and_then(|d| d.cached_tokens) {
            usage = usage.with_cached_input_tokens(cached);
        }
        if let Some(reasoning) = self.output_tokens_details.and_then(|d| d.reasoning_tokens) {
            usage = usage.with_reasoning_tokens(reasoning);
        }
        usage
    }
}

/// Pushes the text item `make(text)` unless the text is missing or empty.
fn push_text(items: &mut Vec<Item>, text: Option<Str<'_>>, make: fn(String) -> Item) {
    if let Some(text) = Str::non_empty(text) {
        items.push(make(text));
    }
}

impl Decode for OpenAiResponses {
    fn decode(&mut self, event: &ParsedEvent, items: &mut Vec<Item>) -> Result<(), DecodeError> {
        let json: EventJson<'_> =
            serde_json::from_str(event.data()).map_err(|error| DecodeError::data(NAME, error))?;
        let decoding = &mut self.decoding;
        let output = json
            .output_index
            .and_then(|index| decoding.output.get(&index).copied());
        match json.kind.as_str() {
            "response.created" => {
                let (id, model) = json
                    .response
                    .map_or((None, None), |response| (response.id, response.model));
                let (id, model) = (Str::non_empty(id), Str::non_empty(model));
                if id.is_some() || model.is_some() {
                    items.push(Item::Start { id, model });
                }
            }
            "response.in_progress" | "response.queued" => {}
            "response.output_item.added" => {
                let index = json.output_index.unwrap_or(0);
                let item = json.item;
                let kind = item
                    .as_ref()
                    .and_then(|item| item.kind.as_ref())
                    .map_or("", Str::as_str);
                let decoded = match kind {
                    "message" | "reasoning" => Output::Text,
                    "function_call" => {
                        let call = decoding.calls;
                        decoding.calls = call.saturating_add(1);
                        let mut fragment = ToolCall::new(call);
                        if let Some(item) = item {
                            if let Some(id) = Str::non_empty(item.call_id) {
                                fragment = fragment.with_id(id);
                            }
                            if let Some(name) = Str::non_empty(item.name) {
                                fragment = fragment.with_name(name);
                            }
                            if let Some(arguments) = Str::non_empty(item.arguments) {
                                fragment = fragment.with_arguments(arguments);
                            }
                        }
                        items.push(Item::ToolCall(fragment));
                        Output::Call(call)
                    }
                    _ => {
                        items.push(other(NAME, event));
                        Output::Other
                    }
                };
                decoding.output.insert(index, decoded);
            }
            // The events of items this crate passes on.
            _ if output == Some(Output::Other) => items.push(other(NAME, event)),
            "response.output_text.delta" => {
                push_text(items, json.delta, Item::Content);
                if let Some(logprobs) = json.logprobs.filter(|raw| has_elements(raw)) {
                    items.push(Item::Logprobs(logprobs.get().to_owned()));
                }
            }
            "response.refusal.delta" => push_text(items, json.delta, Item::Refusal),
            "response.reasoning_text.delta" | "response.reasoning_summary_text.delta" => {
                push_text(items, json.delta, Item::Reasoning);
            }
            "response.function_call_arguments.delta" => match output {
                Some(Output::Call(call)) => {
                    if let Some(arguments) = Str::non_empty(json.delta) {
                        items.push(Item::ToolCall(
                            ToolCall::new(call).with_arguments(arguments),
                        ));
                    }
                }
                _ => items.push(other(NAME, event)),
            },
            // Their items' text went out as deltas.
            "response.output_item.done"
            | "response.content_part.added"
            | "response.content_part.done"
            | "response.output_text.done"
            | "response.refusal.done"
            | "response.reasoning_text.done"
            | "response.reasoning_summary_part.added"
            | "response.reasoning_summary_part.done"
            | "response.reasoning_summary_text.done"
            | "response.function_call_arguments.done"
                if output.is_some() => {}
            "response.completed" | "response.incomplete" => {
                let complete = json.kind.as_str() == "response.completed";
                decoding.done = true;
                let response = json.response;
                let reason = response
                    .as_ref()
                    .and_then(|response| response.incomplete_details.as_ref())
                    .and_then(|details| details.reason.as_ref())
                    .map_or("", Str::as_str);
                let finish = match reason {
                    _ if complete && decoding.calls > 0 => FinishReason::ToolCalls,
                    _ if complete => FinishReason::Stop,
                    "max_output_tokens" | "" => FinishReason::Length,
                    "content_filter" => FinishReason::ContentFilter,
                    other => FinishReason::Other(other.to_owned()),
                };
                items.push(Item::Finish(finish));
                if let Some(usage) = response.and_then(|response| response.usage) {
                    items.push(Item::Usage(usage.usage()));
                }
            }
            "response.failed" => {
                let message = json
                    .response
                    .and_then(|response| response.error)
                    .and_then(|error| error.message);
                return Err(DecodeError::upstream(message, "the response failed"));
            }
            "error" => return Err(DecodeError::upstream(json.message, "the upstream failed")),
            _ => items.push(other(NAME, event)),
        }
        Ok(())
    }

    fn is_complete(&self) -> bool {
        self.decoding.done
    }
}
