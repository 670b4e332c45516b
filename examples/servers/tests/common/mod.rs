//! What the tests of the servers compare: an answer summed up the same way whether it was
//! streamed (decoded with the library's decoders) or whole (the API's JSON object).

#![allow(dead_code)]

use serde_json::{json, Value};
use tokenflush::llm::{FinishReason, Item, Usage};
use tokenflush::sse::{AnthropicMessages, Decode, OpenAiChat, OpenAiResponses, Parser};

/// The API of a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    Chat,
    Responses,
    Messages,
}

impl Api {
    pub const ALL: [Api; 3] = [Api::Chat, Api::Responses, Api::Messages];

    pub fn path(self) -> &'static str {
        match self {
            Api::Chat => "/v1/chat/completions",
            Api::Responses => "/v1/responses",
            Api::Messages => "/v1/messages",
        }
    }

    /// A request for `prompt` in this API's shape, with `tools` (chat's shape:
    /// `[{name, parameters}]`), reasoning if `reasoning`, and `extra` fields laid over it.
    pub fn request(
        self,
        prompt: &str,
        stream: bool,
        reasoning: bool,
        tools: &[(&str, Value)],
        extra: Value,
    ) -> Value {
        let mut body = match self {
            Api::Chat => json!({
                "model": "sim", "stream": stream,
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": prompt}],
            }),
            Api::Responses => json!({
                "model": "sim", "stream": stream, "instructions": "Be brief.",
                "input": [{"role": "user", "content": [{"type": "input_text", "text": prompt}]}],
            }),
            Api::Messages => json!({
                "model": "sim", "stream": stream, "max_tokens": 1024, "system": "Be brief.",
                "messages": [{"role": "user", "content": prompt}],
            }),
        };
        if reasoning {
            match self {
                Api::Chat => body["reasoning_effort"] = json!("low"),
                Api::Responses => body["reasoning"] = json!({"effort": "low"}),
                Api::Messages => {
                    body["thinking"] = json!({"type": "enabled", "budget_tokens": 1024})
                }
            }
        }
        if !tools.is_empty() {
            let tools: Vec<Value> = tools
                .iter()
                .map(|(name, parameters)| match self {
                    Api::Chat => {
                        json!({"type": "function", "function": {"name": name, "parameters": parameters}})
                    }
                    Api::Responses => {
                        json!({"type": "function", "name": name, "parameters": parameters})
                    }
                    Api::Messages => json!({"name": name, "input_schema": parameters}),
                })
                .collect();
            body["tools"] = Value::Array(tools);
        }
        for (key, value) in extra.as_object().unwrap() {
            body[key] = value.clone();
        }
        body
    }

    /// The items of a streamed answer, decoded by the library; panics unless the stream is
    /// complete.
    pub fn decode(self, body: &[u8]) -> Vec<Item> {
        match self {
            Api::Chat => decode(body, OpenAiChat::default()),
            Api::Responses => decode(body, OpenAiResponses::default()),
            Api::Messages => decode(body, AnthropicMessages::default()),
        }
    }

    /// A whole answer (the API's JSON object) summed up.
    pub fn summary_of_whole(self, whole: &Value) -> Summary {
        match self {
            Api::Chat => {
                let message = &whole["choices"][0]["message"];
                let usage = &whole["usage"];
                Summary {
                    reasoning: message["reasoning_content"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    text: message["content"].as_str().unwrap_or_default().to_owned(),
                    calls: message["tool_calls"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|call| {
                            json!({"id": call["id"], "name": call["function"]["name"],
                                   "arguments": call["function"]["arguments"]})
                        })
                        .collect(),
                    finish: FinishReason::from_openai(
                        whole["choices"][0]["finish_reason"].as_str().unwrap(),
                    ),
                    usage: usage_of(
                        &usage["prompt_tokens"],
                        &usage["completion_tokens"],
                        &usage["completion_tokens_details"]["reasoning_tokens"],
                    ),
                }
            }
            Api::Responses => {
                let output = whole["output"].as_array().unwrap();
                fn of_type<'a>(
                    output: &'a [Value],
                    kind: &'a str,
                ) -> impl Iterator<Item = &'a Value> + 'a {
                    output.iter().filter(move |item| item["type"] == kind)
                }
                let texts = |kind: &str, part: &str| -> String {
                    of_type(output, kind)
                        .flat_map(|item| item["content"].as_array().unwrap().iter())
                        .filter(|content| content["type"] == part)
                        .map(|content| content["text"].as_str().unwrap())
                        .collect()
                };
                let calls: Vec<Value> = of_type(output, "function_call")
                    .map(|call| json!({"id": call["call_id"], "name": call["name"], "arguments": call["arguments"]}))
                    .collect();
                let finish = if whole["status"] == "incomplete" {
                    FinishReason::Length
                } else if calls.is_empty() {
                    FinishReason::Stop
                } else {
                    FinishReason::ToolCalls
                };
                let usage = &whole["usage"];
                Summary {
                    reasoning: texts("reasoning", "reasoning_text"),
                    text: texts("message", "output_text"),
                    calls,
                    finish,
                    usage: usage_of(
                        &usage["input_tokens"],
                        &usage["output_tokens"],
                        &usage["output_tokens_details"]["reasoning_tokens"],
                    ),
                }
            }
            Api::Messages => {
                let content = whole["content"].as_array().unwrap();
                let blocks = |kind: &str, field: &str| -> String {
                    content
                        .iter()
                        .filter(|block| block["type"] == kind)
                        .map(|block| block[field].as_str().unwrap())
                        .collect()
                };
                let usage = &whole["usage"];
                Summary {
                    reasoning: blocks("thinking", "thinking"),
                    text: blocks("text", "text"),
                    calls: content
                        .iter()
                        .filter(|block| block["type"] == "tool_use")
                        .map(|block| json!({"id": block["id"], "name": block["name"], "arguments": block["input"].to_string()}))
                        .collect(),
                    finish: FinishReason::from_anthropic(whole["stop_reason"].as_str().unwrap()),
                    usage: usage_of(
                        &usage["input_tokens"],
                        &usage["output_tokens"],
                        &usage["output_tokens_details"]["thinking_tokens"],
                    ),
                }
            }
        }
    }
}

fn usage_of(input: &Value, output: &Value, reasoning: &Value) -> Usage {
    let usage = Usage::new(input.as_u64().unwrap(), output.as_u64().unwrap());
    match reasoning.as_u64() {
        Some(reasoning) => usage.with_reasoning_tokens(reasoning),
        None => usage,
    }
}

fn decode(body: &[u8], mut decoder: impl Decode) -> Vec<Item> {
    let mut parser = Parser::new();
    parser.feed(body);
    let mut items = Vec::new();
    while let Some(event) = parser.next_event().unwrap() {
        decoder.decode(&event, &mut items).unwrap();
    }
    assert!(decoder.is_complete(), "the stream ends with its last event");
    items
}

/// An answer summed up: what a client shows of it.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub reasoning: String,
    pub text: String,
    /// `{"id", "name", "arguments"}` per call; arguments as compact JSON text.
    pub calls: Vec<Value>,
    pub finish: FinishReason,
    /// Reasoning and cached tokens: 0 and absent are the same once
    /// [`normalized`](Self::normalized) (the Responses API always says).
    pub usage: Usage,
}

impl Summary {
    /// Sums up the items of a streamed answer (choice 0).
    pub fn of_items(items: &[Item]) -> Self {
        let mut summary = Summary {
            reasoning: String::new(),
            text: String::new(),
            calls: Vec::new(),
            finish: FinishReason::Stop,
            usage: Usage::default(),
        };
        let mut calls: Vec<(u32, Value)> = Vec::new();
        for item in items {
            match item {
                Item::Reasoning(text) => summary.reasoning.push_str(text),
                Item::Content(text) => summary.text.push_str(text),
                Item::ToolCall(call) => {
                    match calls.iter_mut().find(|(index, _)| *index == call.index()) {
                        Some((_, entry)) => {
                            let arguments =
                                entry["arguments"].as_str().unwrap().to_owned() + call.arguments();
                            entry["arguments"] = json!(arguments);
                        }
                        None => calls.push((
                            call.index(),
                            json!({"id": call.id(), "name": call.name(), "arguments": call.arguments()}),
                        )),
                    }
                }
                Item::Finish(reason) => summary.finish = reason.clone(),
                Item::Usage(usage) => summary.usage = *usage,
                _ => {}
            }
        }
        summary.calls = calls.into_iter().map(|(_, call)| call).collect();
        summary
    }

    /// The same summary with compact JSON arguments, and reasoning and cached tokens 0 for
    /// absent.
    pub fn normalized(mut self) -> Self {
        for call in &mut self.calls {
            let arguments: Value =
                serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap_or(Value::Null);
            call["arguments"] = json!(arguments.to_string());
        }
        self.usage = Usage::new(self.usage.input_tokens(), self.usage.output_tokens())
            .with_reasoning_tokens(self.usage.reasoning_tokens().unwrap_or(0))
            .with_cached_input_tokens(self.usage.cached_input_tokens().unwrap_or(0));
        self
    }
}
