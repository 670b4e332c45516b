//! Requests of the Responses and Anthropic messages APIs as chat completion requests, for an
//! upstream that speaks only chat completions (vLLM, SGLang, llama.cpp, Ollama, …).
//!
//! What translates: the model, text messages (and the system prompt or instructions), tools
//! that are functions and the tool choice, earlier tool calls and their results, the output
//! token limit, temperature and top-p, stop sequences, and a request for reasoning (as
//! `reasoning_effort`). What a chat request cannot express — images, files, server tools — is
//! refused with a message, never silently dropped; thinking blocks sent back are dropped, as
//! their signatures mean nothing to another model. Fields this proxy does not read (metadata,
//! store, service tier, …) are left out. The upstream is always asked to stream, with usage:
//! the client's format needs the usage at its end.

use serde_json::{json, Map, Value};

/// The chat completion request for a Responses API request.
pub fn from_responses(request: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let mut messages = Vec::new();
    if let Some(instructions) = request.get("instructions").and_then(Value::as_str) {
        messages.push(json!({"role": "system", "content": instructions}));
    }
    match request.get("input") {
        Some(Value::String(text)) => messages.push(json!({"role": "user", "content": text})),
        Some(Value::Array(items)) => {
            for item in items {
                messages.push(responses_item(item)?);
            }
        }
        _ => return Err("input must be a string or a list of input items".to_owned()),
    }
    let mut chat = common(request, messages);
    if let Some(max) = request.get("max_output_tokens") {
        chat.insert("max_tokens".to_owned(), max.clone());
    }
    if let Some(effort) = request
        .get("reasoning")
        .and_then(|reasoning| reasoning.get("effort"))
    {
        chat.insert("reasoning_effort".to_owned(), effort.clone());
    }
    if let Some(tools) = request.get("tools").and_then(Value::as_array) {
        let tools = tools
            .iter()
            .map(|tool| {
                if tool["type"] != "function" {
                    return Err(format!(
                        "this proxy passes on function tools only, not {}",
                        tool["type"]
                    ));
                }
                let mut function = Map::new();
                for key in ["name", "description", "parameters", "strict"] {
                    if let Some(value) = tool.get(key) {
                        function.insert(key.to_owned(), value.clone());
                    }
                }
                Ok(json!({"type": "function", "function": function}))
            })
            .collect::<Result<Vec<_>, String>>()?;
        chat.insert("tools".to_owned(), Value::Array(tools));
    }
    if let Some(choice) = request.get("tool_choice") {
        let choice = match choice {
            Value::Object(object) if object.get("type").is_some_and(|kind| kind == "function") => {
                json!({"type": "function", "function": {"name": object.get("name")}})
            }
            other => other.clone(),
        };
        chat.insert("tool_choice".to_owned(), choice);
    }
    Ok(chat)
}

/// A Responses input item as a chat message.
fn responses_item(item: &Value) -> Result<Value, String> {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("message");
    match kind {
        "message" => {
            let role = item.get("role").and_then(Value::as_str).unwrap_or("user");
            // The chat API's name for the Responses API's `developer` role is `system` on
            // most compatible servers.
            let role = if role == "developer" { "system" } else { role };
            Ok(
                json!({"role": role, "content": text(&item["content"], &["input_text", "output_text", "text"])?}),
            )
        }
        "function_call" => Ok(json!({
            "role": "assistant",
            "content": null,
            "tool_calls": [{
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }],
        })),
        "function_call_output" => Ok(json!({
            "role": "tool",
            "tool_call_id": item["call_id"],
            "content": text(&item["output"], &["input_text", "output_text", "text"])?,
        })),
        other => Err(format!(
            "this proxy passes on messages and function calls only, not {other:?} input items"
        )),
    }
}

/// The chat completion request for an Anthropic messages request.
pub fn from_messages(request: &Map<String, Value>) -> Result<Map<String, Value>, String> {
    let mut messages = Vec::new();
    match request.get("system") {
        None | Some(Value::Null) => {}
        Some(system) => {
            messages.push(json!({"role": "system", "content": text(system, &["text"])?}));
        }
    }
    let Some(turns) = request.get("messages").and_then(Value::as_array) else {
        return Err("messages must be a list".to_owned());
    };
    for turn in turns {
        messages.extend(messages_turn(turn)?);
    }
    let mut chat = common(request, messages);
    if let Some(max) = request.get("max_tokens") {
        chat.insert("max_tokens".to_owned(), max.clone());
    }
    if let Some(stop) = request.get("stop_sequences") {
        chat.insert("stop".to_owned(), stop.clone());
    }
    if request
        .get("thinking")
        .is_some_and(|thinking| thinking["type"] == "enabled")
    {
        // A thinking budget has no counterpart in the chat API: an effort of "medium".
        chat.insert("reasoning_effort".to_owned(), json!("medium"));
    }
    if let Some(tools) = request.get("tools").and_then(Value::as_array) {
        let tools = tools
            .iter()
            .map(|tool| {
                if tool.get("type").is_some_and(|kind| kind != "custom") {
                    return Err(format!(
                        "this proxy passes on client tools only, not {}",
                        tool["type"]
                    ));
                }
                Ok(json!({"type": "function", "function": {
                    "name": tool["name"],
                    "description": tool.get("description"),
                    "parameters": tool["input_schema"],
                }}))
            })
            .collect::<Result<Vec<_>, String>>()?;
        chat.insert("tools".to_owned(), Value::Array(tools));
    }
    if let Some(choice) = request.get("tool_choice") {
        let choice = match choice["type"].as_str() {
            Some("auto") => json!("auto"),
            Some("any") => json!("required"),
            Some("none") => json!("none"),
            Some("tool") => json!({"type": "function", "function": {"name": choice["name"]}}),
            _ => return Err(format!("unknown tool_choice {choice}")),
        };
        chat.insert("tool_choice".to_owned(), choice);
    }
    Ok(chat)
}

/// An Anthropic turn as chat messages: its text (and tool calls) as one message, each tool
/// result as a `tool` message.
fn messages_turn(turn: &Value) -> Result<Vec<Value>, String> {
    let role = turn.get("role").and_then(Value::as_str).unwrap_or("user");
    let blocks = match &turn["content"] {
        Value::String(text) => return Ok(vec![json!({"role": role, "content": text})]),
        Value::Array(blocks) => blocks,
        _ => return Err("message content must be a string or a list of blocks".to_owned()),
    };
    let mut text = String::new();
    let mut calls = Vec::new();
    let mut results = Vec::new();
    for block in blocks {
        match block["type"].as_str() {
            Some("text") => text.push_str(block["text"].as_str().unwrap_or_default()),
            Some("tool_use") => calls.push(json!({
                "id": block["id"],
                "type": "function",
                "function": {"name": block["name"], "arguments": block["input"].to_string()},
            })),
            Some("tool_result") => results.push(json!({
                "role": "tool",
                "tool_call_id": block["tool_use_id"],
                "content": match &block["content"] {
                    Value::Null => String::new(),
                    content => self::text(content, &["text"])?,
                },
            })),
            // Signed by Anthropic for Anthropic: nothing another model can read.
            Some("thinking" | "redacted_thinking") => {}
            other => {
                return Err(format!(
                    "this proxy passes on text, tool_use and tool_result blocks only, not {other:?}"
                ))
            }
        }
    }
    let mut messages = results;
    if !text.is_empty() || !calls.is_empty() {
        let mut message = json!({"role": role, "content": text});
        if !calls.is_empty() {
            message["tool_calls"] = Value::Array(calls);
        }
        messages.push(message);
    }
    Ok(messages)
}

/// What both translations share: the model, the messages, sampling settings, and a stream
/// with usage.
fn common(request: &Map<String, Value>, messages: Vec<Value>) -> Map<String, Value> {
    let mut chat = Map::new();
    if let Some(model) = request.get("model") {
        chat.insert("model".to_owned(), model.clone());
    }
    chat.insert("messages".to_owned(), Value::Array(messages));
    for key in ["temperature", "top_p"] {
        if let Some(value) = request.get(key) {
            chat.insert(key.to_owned(), value.clone());
        }
    }
    chat.insert("stream".to_owned(), json!(true));
    chat.insert("stream_options".to_owned(), json!({"include_usage": true}));
    chat
}

/// The text of `content`: a string, or the concatenated text of parts whose type is one of
/// `kinds`; any other part is refused.
fn text(content: &Value, kinds: &[&str]) -> Result<String, String> {
    match content {
        Value::String(text) => Ok(text.clone()),
        Value::Array(parts) => parts
            .iter()
            .map(|part| match part["type"].as_str() {
                Some(kind) if kinds.contains(&kind) => {
                    Ok(part["text"].as_str().unwrap_or_default())
                }
                other => Err(format!(
                    "this proxy passes on text content only, not {other:?} parts"
                )),
            })
            .collect(),
        _ => Err("content must be a string or a list of parts".to_owned()),
    }
}
