//! The official Python SDKs read what the library's LLM wire formats render from a typed
//! stream: reasoning, answer text, two tool calls (the first in fragments), the finish reason
//! and usage, through a flush policy, served over loopback as OpenAI chat completions, OpenAI
//! Responses and Anthropic messages. Each SDK reads the stream raw and through its
//! accumulating helper, which checks the order and shape of every event.
//!
//! Needs Python with the `openai` and `anthropic` packages (`TOKENFLUSH_PYTHON`, default
//! `python3`); skipped loudly without them unless `TOKENFLUSH_EXTERNAL_TESTS=require`.

mod external;
#[path = "../../../tests/support/serve.rs"]
mod serve;

use std::path::Path;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use futures::stream;
use serde_json::{json, Value};
use tokenflush::llm::{FinishReason, Item, ToolCall, Usage};
use tokenflush::policy::FixedBatch;
use tokenflush::sse::{AnthropicMessages, EncodeSseExt, Format, OpenAiChat, OpenAiResponses};
use tokenflush::FlushExt;
use tokio::process::Command;

/// What the upstream model said, as items; `id` names the response.
fn items(id: &str) -> Vec<Item<&'static str>> {
    vec![
        Item::Start {
            id: Some(id.to_owned()),
            model: Some("up-model".to_owned()),
        },
        Item::Reasoning("The user "),
        Item::Reasoning("wants weather."),
        Item::Content("Let me "),
        Item::Content("check \"Paris\"."),
        Item::ToolCall(
            ToolCall::new(0)
                .with_id("call_1")
                .with_name("get_weather")
                .with_arguments("{\"city\":"),
        ),
        Item::ToolCall(ToolCall::new(0).with_arguments("\"Paris\"}")),
        Item::ToolCall(
            ToolCall::new(1)
                .with_id("call_2")
                .with_name("get_weather")
                .with_arguments("{\"city\":\"Lyon\"}"),
        ),
        Item::Finish(FinishReason::ToolCalls),
        Item::Usage(Usage::new(25, 17).with_reasoning_tokens(5)),
    ]
}

fn respond<F: Format + Send + 'static>(id: &str, format: F) -> Response {
    stream::iter(items(id))
        .flush_with(FixedBatch::new(2))
        .encode_sse_as(format)
        .into_response()
}

fn app() -> Router {
    Router::new()
        .route(
            "/v1/chat/completions",
            post(|| async {
                respond(
                    "chatcmpl-up",
                    OpenAiChat::new("chatcmpl-1", "m").with_include_usage(true),
                )
            }),
        )
        .route(
            "/v1/responses",
            post(|| async { respond("resp_up", OpenAiResponses::new("resp_1", "m")) }),
        )
        .route(
            "/v1/messages",
            post(|| async { respond("msg_up", AnthropicMessages::new("msg_1", "m")) }),
        )
}

#[tokio::test]
async fn the_official_sdks_read_every_item_in_every_format() {
    let test = "the_official_sdks_read_every_item_in_every_format";
    let Some(python) = external::python_with(test, "openai, anthropic").await else {
        return;
    };
    let server = serve::serve(app()).await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/formats_client.py");
    let run = Command::new(&python)
        .arg(&script)
        .arg(format!("http://{server}"))
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the Python client finishes")
        .unwrap();
    assert!(
        output.status.success(),
        "the Python client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    eprintln!("SDKs: {}", report["versions"]);

    let text = "Let me check \"Paris\".";
    let calls = json!([
        {"id": "call_1", "name": "get_weather", "arguments": "{\"city\":\"Paris\"}"},
        {"id": "call_2", "name": "get_weather", "arguments": "{\"city\":\"Lyon\"}"},
    ]);

    // OpenAI chat completions: the upstream's id and model, reasoning in
    // `reasoning_content`, tool calls, the stream's finish reason, and the usage chunk.
    let chat = &report["chat"];
    let usage = json!({
        "prompt_tokens": 25,
        "completion_tokens": 17,
        "total_tokens": 42,
        "completion_tokens_details": {"reasoning_tokens": 5},
    });
    assert_eq!(
        (&chat["id"], &chat["model"]),
        (&json!("chatcmpl-up"), &json!("up-model"))
    );
    assert_eq!(chat["text"], text);
    assert_eq!(chat["reasoning"], "The user wants weather.");
    assert_eq!(chat["calls"], calls);
    assert_eq!(chat["finish_reasons"], json!(["tool_calls"]));
    assert_eq!(chat["usage"], usage);
    assert_eq!(
        chat["helper"],
        json!({"text": text, "calls": calls, "finish_reason": "tool_calls", "usage": usage})
    );

    // OpenAI Responses: the lifecycle, sequence numbers from 0, and the final response the
    // helper accumulated and checked.
    let responses = &report["responses"];
    let types: Vec<&str> = responses["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kind| kind.as_str().unwrap())
        .collect();
    assert_eq!(types[..2], ["response.created", "response.in_progress"]);
    assert_eq!(types.last(), Some(&"response.completed"));
    for kind in [
        "response.reasoning_text.delta",
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
    ] {
        assert!(types.contains(&kind), "{kind} in {types:?}");
    }
    let sequence: Vec<u64> = (0..types.len() as u64).collect();
    assert_eq!(responses["sequence_numbers"], json!(sequence));
    assert_eq!(
        (&responses["id"], &responses["model"]),
        (&json!("resp_up"), &json!("up-model"))
    );
    assert_eq!(responses["status"], "completed");
    assert_eq!(responses["output_text"], text);
    assert_eq!(
        responses["snapshots"].as_array().unwrap().last(),
        Some(&json!(text))
    );
    let output = responses["output"].as_array().unwrap();
    let kinds: Vec<&str> = output
        .iter()
        .map(|item| item["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        ["reasoning", "message", "function_call", "function_call"]
    );
    assert_eq!(
        output[0]["content"],
        json!([{"type": "reasoning_text", "text": "The user wants weather."}])
    );
    for (item, call) in output[2..].iter().zip(calls.as_array().unwrap()) {
        assert_eq!(
            (&item["call_id"], &item["name"], &item["arguments"]),
            (&call["id"], &call["name"], &call["arguments"])
        );
    }
    assert_eq!(responses["usage"]["input_tokens"], 25);
    assert_eq!(responses["usage"]["output_tokens"], 17);
    assert_eq!(
        responses["usage"]["output_tokens_details"]["reasoning_tokens"],
        5
    );

    // Anthropic messages: a thinking block (with the empty signature the source leaves it),
    // a text block, two tool-use blocks with their inputs parsed, the stop reason and usage.
    let messages = &report["messages"];
    assert_eq!(
        (&messages["id"], &messages["model"]),
        (&json!("msg_up"), &json!("up-model"))
    );
    assert_eq!(
        messages["content"],
        json!([
            {"type": "thinking", "thinking": "The user wants weather.", "signature": ""},
            {"type": "text", "text": text},
            {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Lyon"}},
        ])
    );
    assert_eq!(messages["stop_reason"], "tool_use");
    assert_eq!(messages["usage"]["input_tokens"], 25);
    assert_eq!(messages["usage"]["output_tokens"], 17);
    assert_eq!(
        messages["usage"]["output_tokens_details"]["thinking_tokens"],
        5
    );
    let events: Vec<&str> = messages["event_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|kind| kind.as_str().unwrap())
        .collect();
    for kind in [
        "thinking",
        "signature",
        "text",
        "input_json",
        "message_stop",
    ] {
        assert!(events.contains(&kind), "{kind} in {events:?}");
    }
}
