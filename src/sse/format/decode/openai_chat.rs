//! Decoding OpenAI's chat completions stream.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::{other, Decode, DecodeError, Str};
use crate::llm::{FinishReason, Item, ToolCall, Usage};
use crate::sse::{OpenAiChat, ParsedEvent};

const NAME: &str = "openai-chat";

/// The decoding state of [`OpenAiChat`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(in crate::sse::format) struct Decoding {
    started: bool,
    choice: u32,
    done: bool,
}

#[derive(Deserialize)]
struct ChunkJson<'a> {
    #[serde(borrow)]
    id: Option<Str<'a>>,
    #[serde(borrow)]
    model: Option<Str<'a>>,
    #[serde(borrow)]
    object: Option<Str<'a>>,
    #[serde(borrow, default)]
    choices: Option<Vec<ChoiceJson<'a>>>,
    usage: Option<UsageJson>,
    #[serde(borrow)]
    error: Option<ErrorJson<'a>>,
}

#[derive(Deserialize)]
struct ErrorJson<'a> {
    #[serde(borrow)]
    message: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct ChoiceJson<'a> {
    #[serde(default)]
    index: u32,
    #[serde(borrow)]
    delta: Option<DeltaJson<'a>>,
    #[serde(borrow)]
    logprobs: Option<LogprobsJson<'a>>,
    #[serde(borrow)]
    finish_reason: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct DeltaJson<'a> {
    #[serde(borrow)]
    content: Option<Str<'a>>,
    #[serde(borrow)]
    reasoning_content: Option<Str<'a>>,
    #[serde(borrow)]
    reasoning: Option<Str<'a>>,
    #[serde(borrow)]
    refusal: Option<Str<'a>>,
    #[serde(borrow)]
    tool_calls: Option<Vec<ToolCallJson<'a>>>,
}

#[derive(Deserialize)]
struct ToolCallJson<'a> {
    #[serde(default)]
    index: u32,
    #[serde(borrow)]
    id: Option<Str<'a>>,
    #[serde(borrow)]
    function: Option<FunctionJson<'a>>,
}

#[derive(Deserialize)]
struct FunctionJson<'a> {
    #[serde(borrow)]
    name: Option<Str<'a>>,
    #[serde(borrow)]
    arguments: Option<Str<'a>>,
}

#[derive(Deserialize)]
struct LogprobsJson<'a> {
    #[serde(borrow)]
    content: Option<&'a RawValue>,
    #[serde(borrow)]
    refusal: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct UsageJson {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    prompt_tokens_details: Option<PromptDetailsJson>,
    completion_tokens_details: Option<CompletionDetailsJson>,
}

#[derive(Deserialize)]
struct PromptDetailsJson {
    cached_tokens: Option<u64>,
}

#[derive(Deserialize)]
struct CompletionDetailsJson {
    reasoning_tokens: Option<u64>,
}

impl UsageJson {
    fn usage(self) -> Usage {
        let mut usage = Usage::new(self.prompt_tokens, self.completion_tokens);
        if let Some(cached) = self.prompt_tokens_details.and_then(|d| d.cached_tokens) {
            usage = usage.with_cached_input_tokens(cached);
        }
        if let Some(reasoning) = self
            .completion_tokens_details
            .and_then(|d| d.reasoning_tokens)
        {
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

impl Decode for OpenAiChat {
    fn decode(&mut self, event: &ParsedEvent, items: &mut Vec<Item>) -> Result<(), DecodeError> {
        if event.event_type() != "message" {
            items.push(other(NAME, event));
            return Ok(());
        }
        if event.data() == "[DONE]" {
            self.decoding.done = true;
            return Ok(());
        }
        let chunk: ChunkJson<'_> =
            serde_json::from_str(event.data()).map_err(|error| DecodeError::data(NAME, error))?;
        if let Some(error) = chunk.error {
            return Err(DecodeError::upstream(
                error.message,
                "an error occurred during streaming",
            ));
        }
        if chunk
            .object
            .as_ref()
            .is_some_and(|object| object.as_str() != "chat.completion.chunk")
        {
            items.push(other(NAME, event));
            return Ok(());
        }
        let decoding = &mut self.decoding;
        if !decoding.started {
            let id = Str::non_empty(chunk.id);
            let model = Str::non_empty(chunk.model);
            if id.is_some() || model.is_some() {
                decoding.started = true;
                items.push(Item::Start { id, model });
            }
        }
        for choice in chunk.choices.unwrap_or_default() {
            if choice.index != decoding.choice {
                decoding.choice = choice.index;
                items.push(Item::Choice(choice.index));
            }
            if let Some(delta) = choice.delta {
                let reasoning = match delta.reasoning_content {
                    Some(text) if !text.as_str().is_empty() => Some(text),
                    _ => delta.reasoning,
                };
                push_text(items, reasoning, Item::Reasoning);
                push_text(items, delta.content, Item::Content);
                push_text(items, delta.refusal, Item::Refusal);
                for call in delta.tool_calls.unwrap_or_default() {
                    let (name, arguments) = call
                        .function
                        .map_or((None, None), |function| (function.name, function.arguments));
                    let mut fragment = ToolCall::new(call.index);
                    if let Some(id) = Str::non_empty(call.id) {
                        fragment = fragment.with_id(id);
                    }
                    if let Some(name) = Str::non_empty(name) {
                        fragment = fragment.with_name(name);
                    }
                    if let Some(arguments) = Str::non_empty(arguments) {
                        fragment = fragment.with_arguments(arguments);
                    }
                    // A fragment that says nothing is not news.
                    if fragment != ToolCall::new(call.index) {
                        items.push(Item::ToolCall(fragment));
                    }
                }
            }
            if let Some(logprobs) = choice.logprobs {
                for logprobs in [logprobs.content, logprobs.refusal].into_iter().flatten() {
                    if logprobs.get().trim() != "null" {
                        items.push(Item::Logprobs(logprobs.get().to_owned()));
                    }
                }
            }
            if let Some(reason) = Str::non_empty(choice.finish_reason) {
                items.push(Item::Finish(FinishReason::from_openai(&reason)));
            }
        }
        if let Some(usage) = chunk.usage {
            items.push(Item::Usage(usage.usage()));
        }
        Ok(())
    }

    fn is_complete(&self) -> bool {
        self.decoding.done
    }
}
