//! Decoding Anthropic's messages stream.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{other, Decode, DecodeError, Str};
use crate::llm::{FinishReason, Item, ToolCall, Usage};
use crate::sse::{AnthropicMessages, ParsedEvent};

const NAME: &str = "anthropic-messages";

/// The decoding state of [`AnthropicMessages`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(in crate::sse::format) struct Decoding {
    /// The content blocks so far, by their index.
    blocks: BTreeMap<u64, Block>,
    /// How many `tool_use` blocks there were: the index of the next call.
    calls: u32,
    /// Usage from `message_start`, for a `message_delta` without it.
    input_tokens: u64,
    cached_input_tokens: Option<u64>,
    done: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    /// A block this crate has items for (text, thinking).
    Text,
    ToolUse(u32),
    /// A block of another type, passed on as [`Item::Other`].
    Other,
}

/// Any event, its fields to be read by its type.
#[derive(Deserialize)]
struct EventJson<'a> {
    #[serde(borrow)]
    message: Option<MessageJson<'a>>,
    index: Option<u64>,
    #[serde(borrow)]
    content_block: Option<BlockJson<'a>>,
    #[serde(borrow)]
    delta: Option<DeltaJson<'a>>,
    usage: Option<UsageJson>,
    #[serde(borrow)]
    error: Option<ErrorJson<'a>>,
}

#[derive(Deserialize)]
struct MessageJson<'a> {
    #[serde(borrow)]
    id: Option<Str<'a>>,
    #[serde(borrow)]
    model: Option<Str<'a>>,
    usage: Option<UsageJson>,
}

#[derive(Deserialize)]
struct BlockJson<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Str<'a>>,
    #[serde(borrow)]
    text: Option<Str<'a>>,
    #[serde(borrow)]
    thinking: Option<Str<'a>>,
    #[serde(borrow)]
    id: Option<Str<'a>>,
    #[serde(borrow)]
    name: Option<Str<'a>>,
    #[serde(borrow)]
    input: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct DeltaJson<'a> {
    #[serde(rename = "type", borrow)]
    kind: Option<Str<'a>>,
    #[serde(borrow)]
    text: Option<Str<'a>>,
    #[serde(borrow)]
    thinking: Option<Str<'a>>,
    #[serde(borrow)]
    partial_json: Option<Str<'a>>,
    #[serde(borrow)]
    signature: Option<Str<'a>>,
    #[serde(borrow)]
    stop_reason: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct UsageJson {
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: u64,
    cache_read_input_tokens: Option<u64>,
    output_tokens_details: Option<OutputDetailsJson>,
}

#[derive(Deserialize)]
struct OutputDetailsJson {
    thinking_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct ErrorJson<'a> {
    #[serde(borrow)]
    message: Option<Str<'a>>,
}

/// The event types this crate reads; others are [`Item::Other`].
const KNOWN: [&str; 7] = [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
    "error",
];

impl Decode for AnthropicMessages {
    fn decode(&mut self, event: &ParsedEvent, items: &mut Vec<Item>) -> Result<(), DecodeError> {
        let kind = event.event_type();
        if kind == "ping" {
            return Ok(());
        }
        if !KNOWN.contains(&kind) {
            items.push(other(NAME, event));
            return Ok(());
        }
        let json: EventJson<'_> =
            serde_json::from_str(event.data()).map_err(|error| DecodeError::data(NAME, error))?;
        let decoding = &mut self.decoding;
        match kind {
            "message_start" => {
                let message = json.message;
                let (id, model, usage) = message.map_or((None, None, None), |message| {
                    (message.id, message.model, message.usage)
                });
                if let Some(usage) = usage {
                    decoding.input_tokens = usage.input_tokens.unwrap_or(0);
                    decoding.cached_input_tokens = usage.cache_read_input_tokens;
                }
                let (id, model) = (Str::non_empty(id), Str::non_empty(model));
                if id.is_some() || model.is_some() {
                    items.push(Item::Start { id, model });
                }
            }
            "content_block_start" => {
                let Some(block) = json.content_block else {
                    items.push(other(NAME, event));
                    return Ok(());
                };
                let index = json.index.unwrap_or(0);
                let kind = block.kind.as_ref().map_or("", Str::as_str);
                let decoded = match kind {
                    "text" => {
                        if let Some(text) = Str::non_empty(block.text) {
                            items.push(Item::Content(text));
                        }
                        Block::Text
                    }
                    "thinking" => {
                        if let Some(text) = Str::non_empty(block.thinking) {
                            items.push(Item::Reasoning(text));
                        }
                        Block::Text
                    }
                    "tool_use" => {
                        let call = decoding.calls;
                        decoding.calls = call.saturating_add(1);
                        let mut fragment = ToolCall::new(call);
                        if let Some(id) = Str::non_empty(block.id) {
                            fragment = fragment.with_id(id);
                        }
                        if let Some(name) = Str::non_empty(block.name) {
                            fragment = fragment.with_name(name);
                        }
                        // The API streams the input as deltas, after an empty object.
                        if let Some(input) = block.input {
                            let input = input.get().trim();
                            let empty = input
                                .strip_prefix('{')
                                .and_then(|rest| rest.strip_suffix('}'));
                            if empty.is_none_or(|inner| !inner.trim().is_empty()) {
                                fragment = fragment.with_arguments(input);
                            }
                        }
                        items.push(Item::ToolCall(fragment));
                        Block::ToolUse(call)
                    }
                    _ => {
                        items.push(other(NAME, event));
                        Block::Other
                    }
                };
                decoding.blocks.insert(index, decoded);
            }
            "content_block_delta" => {
                let block = json
                    .index
                    .and_then(|index| decoding.blocks.get(&index).copied());
                let Some(delta) = json.delta else {
                    items.push(other(NAME, event));
                    return Ok(());
                };
                match (delta.kind.as_ref().map_or("", Str::as_str), block) {
                    (_, Some(Block::Other) | None) => items.push(other(NAME, event)),
                    ("text_delta", _) => {
                        if let Some(text) = Str::non_empty(delta.text) {
                            items.push(Item::Content(text));
                        }
                    }
                    ("thinking_delta", _) => {
                        if let Some(text) = Str::non_empty(delta.thinking) {
                            items.push(Item::Reasoning(text));
                        }
                    }
                    ("input_json_delta", Some(Block::ToolUse(call))) => {
                        if let Some(arguments) = Str::non_empty(delta.partial_json) {
                            items.push(Item::ToolCall(
                                ToolCall::new(call).with_arguments(arguments),
                            ));
                        }
                    }
                    // An empty signature says nothing.
                    ("signature_delta", _)
                        if delta
                            .signature
                            .as_ref()
                            .is_none_or(|signature| signature.as_str().is_empty()) => {}
                    _ => items.push(other(NAME, event)),
                }
            }
            "content_block_stop" => {
                let block = json
                    .index
                    .and_then(|index| decoding.blocks.get(&index).copied());
                if matches!(block, Some(Block::Other) | None) {
                    items.push(other(NAME, event));
                }
            }
            "message_delta" => {
                let reason = json
                    .delta
                    .and_then(|delta| Str::non_empty(delta.stop_reason));
                if let Some(reason) = reason {
                    items.push(Item::Finish(FinishReason::from_anthropic(&reason)));
                }
                if let Some(usage) = json.usage {
                    let input = usage.input_tokens.unwrap_or(decoding.input_tokens);
                    let mut total = Usage::new(input, usage.output_tokens);
                    let cached = usage
                        .cache_read_input_tokens
                        .or(decoding.cached_input_tokens);
                    if let Some(cached) = cached {
                        total = total.with_cached_input_tokens(cached);
                    }
                    let thinking = usage
                        .output_tokens_details
                        .and_then(|details| details.thinking_tokens);
                    if let Some(thinking) = thinking {
                        total = total.with_reasoning_tokens(thinking);
                    }
                    items.push(Item::Usage(total));
                }
            }
            "message_stop" => decoding.done = true,
            _ => {
                return Err(DecodeError::upstream(
                    json.error.and_then(|error| error.message),
                    "the upstream sent an error event",
                ));
            }
        }
        Ok(())
    }

    fn is_complete(&self) -> bool {
        self.decoding.done
    }
}
