//! Whole (non-streaming) answers from a typed stream: the items a model streams, collected
//! into the one JSON object each API answers with — a `chat.completion`, a Responses
//! `response`, an Anthropic `message`. The chat server collects its simulated model's items
//! this way, so a whole answer carries exactly the text, reasoning, tool call, finish reason
//! and usage of the streamed one; the proxy collects an upstream's.

use std::collections::BTreeMap;

use bytes::BytesMut;
use futures::{Stream, StreamExt};
use serde_json::{json, Value};
use tokenflush::llm::{FinishReason, Item, ToolCall, Usage};
use tokenflush::sse::{Format, OpenAiResponses, Parser};
use tokenflush::Chunk;

/// The most text a whole answer collects (all kinds together): an upstream that sends more
/// gets an error, not unbounded memory.
pub const MAX_WHOLE_BYTES: usize = 8 << 20;

/// A whole answer, collected from a typed item stream (choice 0 only).
#[derive(Clone, Debug, Default)]
pub struct Whole {
    reasoning: Vec<u8>,
    content: Vec<u8>,
    refusal: Vec<u8>,
    calls: BTreeMap<u32, Call>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    /// The choice the next items belong to.
    choice: u32,
    bytes: usize,
}

#[derive(Clone, Debug, Default)]
struct Call {
    id: String,
    name: String,
    arguments: String,
}

/// A whole answer would hold more than [`MAX_WHOLE_BYTES`].
#[derive(Debug, thiserror::Error)]
#[error("the answer is larger than {MAX_WHOLE_BYTES} bytes")]
pub struct TooLarge;

impl Whole {
    /// Collects `items` into a whole answer; the message of the stream's first error, if it
    /// fails, or of [`TooLarge`].
    pub async fn collect<T, E>(
        items: impl Stream<Item = Result<Item<T>, E>>,
    ) -> Result<Self, String>
    where
        T: AsRef<[u8]>,
        E: std::fmt::Display,
    {
        let mut whole = Self::default();
        let mut items = std::pin::pin!(items);
        while let Some(item) = items.next().await {
            let item = item.map_err(|error| error.to_string())?;
            whole.push(item).map_err(|error| error.to_string())?;
        }
        Ok(whole)
    }

    /// Adds one item.
    pub fn push<T: AsRef<[u8]>>(&mut self, item: Item<T>) -> Result<(), TooLarge> {
        if let Item::Choice(choice) = item {
            self.choice = choice;
            return Ok(());
        }
        if self.choice != 0 {
            return Ok(());
        }
        let grown = |whole: &mut Self, more: usize| {
            whole.bytes = whole.bytes.saturating_add(more);
            if whole.bytes > MAX_WHOLE_BYTES {
                Err(TooLarge)
            } else {
                Ok(())
            }
        };
        match item {
            Item::Content(text) => {
                grown(self, text.as_ref().len())?;
                self.content.extend_from_slice(text.as_ref());
            }
            Item::Reasoning(text) => {
                grown(self, text.as_ref().len())?;
                self.reasoning.extend_from_slice(text.as_ref());
            }
            Item::Refusal(text) => {
                grown(self, text.as_ref().len())?;
                self.refusal.extend_from_slice(text.as_ref());
            }
            Item::ToolCall(fragment) => {
                let size = fragment.arguments().len()
                    + fragment.id().map_or(0, str::len)
                    + fragment.name().map_or(0, str::len);
                grown(self, size)?;
                let call = self.calls.entry(fragment.index()).or_default();
                if let Some(id) = fragment.id() {
                    call.id = id.to_owned();
                }
                if let Some(name) = fragment.name() {
                    call.name = name.to_owned();
                }
                call.arguments.push_str(fragment.arguments());
            }
            Item::Finish(reason) => self.finish = Some(reason),
            Item::Usage(usage) => self.usage = Some(usage),
            _ => {}
        }
        Ok(())
    }

    /// The answer text.
    pub fn content(&self) -> String {
        String::from_utf8_lossy(&self.content).into_owned()
    }

    /// The reasoning text, if there was any.
    pub fn reasoning(&self) -> Option<String> {
        (!self.reasoning.is_empty()).then(|| String::from_utf8_lossy(&self.reasoning).into_owned())
    }

    fn refusal(&self) -> Option<String> {
        (!self.refusal.is_empty()).then(|| String::from_utf8_lossy(&self.refusal).into_owned())
    }

    /// Why the model stopped: as it said, else `Stop`.
    pub fn finish(&self) -> FinishReason {
        self.finish.clone().unwrap_or(FinishReason::Stop)
    }

    /// The usage as the stream reported it (zero without one).
    pub fn usage(&self) -> Usage {
        self.usage.unwrap_or_default()
    }

    /// The answer as OpenAI's `chat.completion` object.
    pub fn chat_completion(&self, id: &str, model: &str, created: u64) -> Value {
        // As the API: no text beside a tool call is `null`, not "".
        let content = (!self.content.is_empty() || self.calls.is_empty()).then(|| self.content());
        let mut message = json!({
            "role": "assistant",
            "content": content,
            "refusal": self.refusal(),
        });
        if let Some(reasoning) = self.reasoning() {
            message["reasoning_content"] = Value::String(reasoning);
        }
        if !self.calls.is_empty() {
            let calls: Vec<Value> = self
                .calls
                .values()
                .map(|call| {
                    json!({"id": call.id, "type": "function",
                           "function": {"name": call.name, "arguments": call.arguments}})
                })
                .collect();
            message["tool_calls"] = Value::Array(calls);
        }
        let usage = self.usage();
        let mut usage_json = json!({
            "prompt_tokens": usage.input_tokens(),
            "completion_tokens": usage.output_tokens(),
            "total_tokens": usage.total_tokens(),
        });
        if let Some(reasoning) = usage.reasoning_tokens() {
            usage_json["completion_tokens_details"] = json!({"reasoning_tokens": reasoning});
        }
        json!({
            "id": id,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": null,
                "finish_reason": self.finish().as_openai(),
            }],
            "usage": usage_json,
        })
    }

    /// The answer as Anthropic's `message` object: a thinking block (with the empty
    /// signature the streamed one gets), a text block, a `tool_use` block per call.
    pub fn message(&self, id: &str, model: &str) -> Value {
        let mut content = Vec::new();
        if let Some(reasoning) = self.reasoning() {
            content.push(json!({"type": "thinking", "thinking": reasoning, "signature": ""}));
        }
        let text = [self.content(), self.refusal().unwrap_or_default()].concat();
        if !text.is_empty() {
            content.push(json!({"type": "text", "text": text}));
        }
        for call in self.calls.values() {
            // Arguments that are not a JSON object (cut short) are an empty input, as the
            // streamed block's accumulated input would fail to parse.
            let input = serde_json::from_str::<Value>(&call.arguments)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({}));
            content.push(
                json!({"type": "tool_use", "id": call.id, "name": call.name, "input": input}),
            );
        }
        let usage = self.usage();
        let mut usage_json = json!({
            "input_tokens": usage.input_tokens(),
            "output_tokens": usage.output_tokens(),
        });
        if let Some(cached) = usage.cached_input_tokens() {
            usage_json["cache_read_input_tokens"] = json!(cached);
        }
        if let Some(thinking) = usage.reasoning_tokens() {
            usage_json["output_tokens_details"] = json!({"thinking_tokens": thinking});
        }
        json!({
            "id": id,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": self.finish().as_anthropic(),
            "stop_sequence": null,
            "usage": usage_json,
        })
    }

    /// The answer as the Responses API's `response` object: the one the streamed format ends
    /// with (`response.completed` or `.incomplete`), from the same items, so the two cannot
    /// differ.
    pub fn response(&self, id: &str, model: &str, created_at: u64) -> Value {
        let mut format = OpenAiResponses::new(id, model).with_created_at(created_at);
        let mut events = BytesMut::new();
        for item in self.items() {
            format.item(&item, &mut events);
        }
        format.close(&mut events);
        let mut parser = Parser::new();
        parser.feed(&events);
        let mut last = None;
        while let Ok(Some(event)) = parser.next_event() {
            last = Some(event);
        }
        last.and_then(|event| serde_json::from_str::<Value>(event.data()).ok())
            .map(|mut event| event["response"].take())
            .unwrap_or(Value::Null)
    }

    /// The answer as items again: reasoning, text, refusal, each call whole, finish, usage.
    fn items(&self) -> Vec<Item<Chunk>> {
        let mut items = Vec::new();
        items.extend(self.reasoning().and_then(Chunk::new).map(Item::Reasoning));
        items.extend(Chunk::new(self.content()).map(Item::Content));
        items.extend(self.refusal().and_then(Chunk::new).map(Item::Refusal));
        for (&index, call) in &self.calls {
            items.push(Item::ToolCall(
                ToolCall::new(index)
                    .with_id(&call.id)
                    .with_name(&call.name)
                    .with_arguments(&call.arguments),
            ));
        }
        items.push(Item::Finish(self.finish()));
        items.push(Item::Usage(self.usage()));
        items
    }
}
