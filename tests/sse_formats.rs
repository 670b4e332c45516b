//! The LLM wire formats: the exact event sequences and JSON shapes the official OpenAI and
//! Anthropic SDKs read, for plain chunk streams and typed item streams.

#[path = "support/sse.rs"]
mod support;

use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use tokenflush::llm::{FinishReason, Item, ToolCall, Usage};
use tokenflush::sse::{AnthropicMessages, EncodeSseExt, Format, KeepAlive, ParsedEvent};
use tokenflush::Chunk;

fn chunks(texts: &[&str]) -> Vec<Chunk> {
    texts
        .iter()
        .map(|text| Chunk::new(*text).unwrap().with_token_count(text.len()))
        .collect()
}

fn events_of(frames: &[Bytes]) -> Vec<ParsedEvent> {
    let parsed = support::parse(&frames.concat(), &[]);
    assert_eq!(parsed.end, Ok(()));
    parsed.events()
}

fn json_of(event: &ParsedEvent) -> Value {
    serde_json::from_str(event.data()).expect("data is JSON")
}

const HOSTILE: &str = "line\r\nbreak \"quoted\" \\ \u{2028} \0 é😀\n\ndata: [DONE]";

/// Model text and tool arguments that would break a frame if anything reached the wire
/// unescaped: quotes, backslashes, every line break, separators JavaScript treats as line
/// ends, and SSE field names.
const HOSTILE_ITEMS: [&str; 6] = [
    "a\"b\\c",
    "\r\n\r\n",
    "\nevent: forged\ndata: {\"x\":1}\n\n",
    "\u{2028}\u{2029}\u{85}",
    "data: [DONE]\r",
    "id: 0\nretry: 1\n: comment",
];

fn text(kind: fn(Chunk) -> Item<Chunk>, text: &str) -> Item<Chunk> {
    kind(Chunk::new(text).unwrap().with_token_count(1))
}

/// The frames of `items` in `format`, and the stream's events.
fn render<F: Format>(items: Vec<Item<Chunk>>, format: F) -> (Vec<Bytes>, Vec<ParsedEvent>) {
    let frames: Vec<Bytes> =
        futures::executor::block_on(stream::iter(items).encode_sse_as(format).collect());
    let events = events_of(&frames);
    (frames, events)
}

/// A typed stream of every item, with hostile text everywhere text goes.
fn hostile_items() -> Vec<Item<Chunk>> {
    let mut items = vec![Item::Start {
        id: Some("id\n\"x".into()),
        model: Some("m\r\nevent: x".into()),
    }];
    for hostile in HOSTILE_ITEMS {
        items.push(text(Item::Reasoning, hostile));
        items.push(text(Item::Content, hostile));
        items.push(text(Item::Refusal, hostile));
        items.push(Item::ToolCall(
            ToolCall::new(0)
                .with_id(hostile)
                .with_name(hostile)
                .with_arguments(hostile),
        ));
    }
    items.push(Item::Finish(FinishReason::Other("x\ny".into())));
    items.push(Item::Usage(Usage::new(1, 2)));
    items
}

/// Every event of a hostile stream is one JSON object (or `[DONE]`), and the text of every
/// hostile string comes back whole from the JSON: nothing broke a frame.
fn assert_hostile_text_survives<F: Format>(format: F, texts_per_string: usize) {
    let (frames, events) = render(hostile_items(), format);
    let mut found = vec![0; HOSTILE_ITEMS.len()];
    for event in &events {
        assert!(!event.event_type().contains(['\n', '\r']));
        if event.data() == "[DONE]" {
            continue;
        }
        let value = json_of(event);
        collect_strings(&value, &mut |text| {
            if let Some(at) = HOSTILE_ITEMS.iter().position(|hostile| *hostile == text) {
                found[at] += 1;
            }
        });
    }
    for (hostile, count) in HOSTILE_ITEMS.iter().zip(found) {
        assert!(
            count >= texts_per_string,
            "{hostile:?} came back {count} times: {:?}",
            String::from_utf8_lossy(&frames.concat())
        );
    }
    // Every line of the stream is a field of ours or the blank line that ends an event.
    for line in String::from_utf8(frames.concat().to_vec())
        .unwrap()
        .split('\n')
    {
        assert!(
            line.is_empty()
                || line.starts_with("data: ")
                || line.starts_with("event: ")
                || line == "data:",
            "{line:?}"
        );
        assert!(!line.contains('\r'));
    }
}

fn collect_strings(value: &Value, found: &mut impl FnMut(&str)) {
    match value {
        Value::String(text) => found(text),
        Value::Array(values) => values
            .iter()
            .for_each(|value| collect_strings(value, found)),
        Value::Object(map) => map.values().for_each(|value| collect_strings(value, found)),
        _ => {}
    }
}

mod openai {
    use super::*;
    use tokenflush::sse::OpenAiChat;

    fn chunk_json(delta: Value, finish_reason: Value) -> Value {
        json!({
            "id": "chatcmpl-abc",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": "gpt-4o-mini",
            "choices": [{
                "index": 0,
                "delta": delta,
                "logprobs": null,
                "finish_reason": finish_reason,
            }],
        })
    }

    async fn frames(texts: &[&str], format: OpenAiChat) -> Vec<Bytes> {
        stream::iter(chunks(texts))
            .encode_sse_as(format)
            .collect()
            .await
    }

    fn format() -> OpenAiChat {
        OpenAiChat::new("chatcmpl-abc", "gpt-4o-mini").with_created(1_700_000_000)
    }

    #[tokio::test]
    async fn the_chunk_sequence_ends_with_finish_reason_and_done() {
        let frames = frames(&["Hel", "lo"], format()).await;
        // The stream opens with its first chunk: the role goes out with it.
        assert_eq!(
            frames.len(),
            3,
            "role and a delta, a delta, finish and [DONE]"
        );
        let events = events_of(&frames);
        assert!(events.iter().all(|event| event.event_type() == "message"));
        assert_eq!(events.len(), 5);
        assert_eq!(
            json_of(&events[0]),
            chunk_json(json!({"role": "assistant", "content": ""}), Value::Null)
        );
        assert_eq!(
            json_of(&events[1]),
            chunk_json(json!({"content": "Hel"}), Value::Null)
        );
        assert_eq!(
            json_of(&events[2]),
            chunk_json(json!({"content": "lo"}), Value::Null)
        );
        assert_eq!(json_of(&events[3]), chunk_json(json!({}), json!("stop")));
        assert_eq!(events[4].data(), "[DONE]");
    }

    #[tokio::test]
    async fn any_text_survives_as_content() {
        let frames = frames(&[HOSTILE], format()).await;
        let events = events_of(&frames);
        assert_eq!(
            json_of(&events[1])["choices"][0]["delta"]["content"],
            HOSTILE
        );
        // The JSON is one data line: the text cannot add lines or events.
        assert_eq!(events.len(), 4);
        let role_and_text = std::str::from_utf8(&frames[0]).unwrap();
        let text_event = role_and_text.split("\n\n").nth(1).unwrap();
        assert!(text_event.starts_with("data: {") && !text_event.contains(['\n', '\r']));
    }

    #[tokio::test]
    async fn strings_in_the_settings_are_escaped() {
        let format = OpenAiChat::new("id\"\n", "model\\").with_created(1);
        let events = events_of(&frames(&["x"], format).await);
        let value = json_of(&events[1]);
        assert_eq!(
            (value["id"].as_str(), value["model"].as_str()),
            (Some("id\"\n"), Some("model\\"))
        );
    }

    #[tokio::test]
    async fn the_finish_reason_can_be_set_while_streaming() {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let mut frames = Box::pin(rx.encode_sse_as(format()));
        tx.unbounded_send(Chunk::new("cut").unwrap()).unwrap();
        frames.next().await; // role and text
        frames
            .as_mut()
            .get_mut()
            .format_mut()
            .set_finish_reason("length");
        drop(tx);
        let rest: Vec<_> = frames.collect().await;
        let events = events_of(&rest);
        assert_eq!(json_of(&events[0]), chunk_json(json!({}), json!("length")));
        assert_eq!(events[1].data(), "[DONE]");
    }

    #[test]
    fn the_error_event_carries_an_error_object() {
        let frame = OpenAiChat::error_event("overloaded \"now\"")
            .to_bytes()
            .unwrap();
        let events = events_of(&[frame]);
        assert_eq!(
            json_of(&events[0]),
            json!({"error": {"message": "overloaded \"now\"", "type": "server_error", "param": null, "code": null}})
        );
    }

    #[test]
    fn created_defaults_to_now() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let created = OpenAiChat::new("c", "m").created();
        assert!(created.abs_diff(now) <= 5);
    }
}

mod anthropic {
    use super::*;

    async fn frames(texts: &[&str], format: AnthropicMessages) -> Vec<Bytes> {
        stream::iter(chunks(texts))
            .encode_sse_as(format)
            .collect()
            .await
    }

    #[tokio::test]
    async fn the_message_event_sequence() {
        let format = AnthropicMessages::new("msg_01", "claude-sonnet-4-5").with_input_tokens(25);
        let frames = frames(&["Hello", ", world"], format).await;
        let events = events_of(&frames);
        let types: Vec<_> = events.iter().map(ParsedEvent::event_type).collect();
        assert_eq!(
            types,
            [
                "message_start",
                "content_block_start",
                "ping",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "message_delta",
                "message_stop",
            ]
        );
        // Every object's `type` is its event's name.
        for event in &events {
            assert_eq!(json_of(event)["type"], event.event_type());
        }
        assert_eq!(
            json_of(&events[0]),
            json!({
                "type": "message_start",
                "message": {
                    "id": "msg_01",
                    "type": "message",
                    "role": "assistant",
                    "model": "claude-sonnet-4-5",
                    "content": [],
                    "stop_reason": null,
                    "stop_sequence": null,
                    "usage": {"input_tokens": 25, "output_tokens": 0},
                },
            })
        );
        assert_eq!(
            json_of(&events[1]),
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
        );
        assert_eq!(json_of(&events[2]), json!({"type": "ping"}));
        assert_eq!(
            json_of(&events[4]),
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": ", world"}})
        );
        assert_eq!(
            json_of(&events[5]),
            json!({"type": "content_block_stop", "index": 0})
        );
        assert_eq!(
            json_of(&events[6]),
            json!({
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                "usage": {"output_tokens": 12},
            })
        );
        assert_eq!(json_of(&events[7]), json!({"type": "message_stop"}));
    }

    #[tokio::test]
    async fn any_text_survives_as_a_text_delta() {
        let events = events_of(&frames(&[HOSTILE], AnthropicMessages::new("m", "c")).await);
        assert_eq!(json_of(&events[3])["delta"]["text"], HOSTILE);
        assert_eq!(events.len(), 7);
    }

    #[tokio::test]
    async fn the_stop_reason_can_be_set() {
        let format = AnthropicMessages::new("m", "c").with_stop_reason("max_tokens");
        let events = events_of(&frames(&["x"], format).await);
        assert_eq!(json_of(&events[5])["delta"]["stop_reason"], "max_tokens");
    }

    #[tokio::test(start_paused = true)]
    async fn keep_alive_is_a_ping_event() {
        let chunks = stream::once(async {
            tokio::time::sleep(Duration::from_secs(20)).await;
            Chunk::new("late").unwrap()
        });
        let frames: Vec<_> = chunks
            .encode_sse_as(AnthropicMessages::new("m", "c"))
            .with_keep_alive(KeepAlive::new())
            .collect()
            .await;
        // The message starts with its first chunk; the keep-alive comes before it.
        assert_eq!(frames[0], "event: ping\ndata: {\"type\":\"ping\"}\n\n");
        let types: Vec<_> = events_of(&frames)
            .iter()
            .map(|event| event.event_type().to_owned())
            .collect();
        assert_eq!(&types[3..5], ["ping", "content_block_delta"]);
    }

    #[test]
    fn the_error_event() {
        let frame = AnthropicMessages::error_event("overloaded_error", "Overloaded")
            .to_bytes()
            .unwrap();
        let events = events_of(&[frame]);
        assert_eq!(events[0].event_type(), "error");
        assert_eq!(
            json_of(&events[0]),
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
        );
    }
}

mod openai_items {
    use super::*;
    use tokenflush::sse::OpenAiChat;

    fn format() -> OpenAiChat {
        OpenAiChat::new("chatcmpl-abc", "gpt-4o-mini").with_created(1_700_000_000)
    }

    fn choices(event: &ParsedEvent) -> Value {
        json_of(event)["choices"].clone()
    }

    #[test]
    fn the_exact_frames_of_a_typed_stream() {
        let items = vec![
            Item::Start {
                id: Some("chatcmpl-up".into()),
                model: Some("up-model".into()),
            },
            text(Item::Reasoning, "Hm"),
            text(Item::Content, "Hi"),
            Item::Logprobs(
                r#"[{"token":"Hi","logprob":-0.5,"bytes":[72,105],"top_logprobs":[]}]"#.into(),
            ),
            Item::ToolCall(
                ToolCall::new(0)
                    .with_id("call_1")
                    .with_name("get")
                    .with_arguments("{\"a\""),
            ),
            Item::ToolCall(ToolCall::new(0).with_arguments(":1}")),
            Item::Finish(FinishReason::ToolCalls),
            Item::Usage(
                Usage::new(7, 5)
                    .with_cached_input_tokens(2)
                    .with_reasoning_tokens(1),
            ),
        ];
        let (frames, _) = render(items, format().with_include_usage(true));
        let head = r#"data: {"id":"chatcmpl-up","object":"chat.completion.chunk","created":1700000000,"model":"up-model","choices":["#;
        let tail = r#","logprobs":null,"finish_reason":null}],"usage":null}"#;
        let expected = [
            format!("{head}{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}}{tail}\n\n"),
            format!("{head}{{\"index\":0,\"delta\":{{\"reasoning_content\":\"Hm\"}}{tail}\n\n"),
            format!("{head}{{\"index\":0,\"delta\":{{\"content\":\"Hi\"}}{tail}\n\n"),
            format!("{head}{{\"index\":0,\"delta\":{{}},\"logprobs\":{{\"content\":[{{\"token\":\"Hi\",\"logprob\":-0.5,\"bytes\":[72,105],\"top_logprobs\":[]}}],\"refusal\":null}},\"finish_reason\":null}}],\"usage\":null}}\n\n"),
            format!("{head}{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{{\"name\":\"get\",\"arguments\":\"{{\\\"a\\\"\"}}}}]}}{tail}\n\n"),
            format!("{head}{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":0,\"function\":{{\"arguments\":\":1}}\"}}}}]}}{tail}\n\n"),
            format!("{head}{{\"index\":0,\"delta\":{{}},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}}],\"usage\":null}}\n\n"),
            format!("{head}],\"usage\":{{\"prompt_tokens\":7,\"completion_tokens\":5,\"total_tokens\":12,\"prompt_tokens_details\":{{\"cached_tokens\":2}},\"completion_tokens_details\":{{\"reasoning_tokens\":1}}}}}}\n\ndata: [DONE]\n\n"),
        ];
        // The start opens the stream (the role chunk); the usage waits for the end.
        let frames: Vec<String> = frames
            .iter()
            .map(|frame| String::from_utf8(frame.to_vec()).unwrap())
            .collect();
        assert_eq!(frames, expected);
    }

    #[test]
    fn the_finish_reason_comes_from_the_stream() {
        let (_, events) = render(
            vec![
                text(Item::Content, "cut"),
                Item::Finish(FinishReason::Length),
            ],
            format(),
        );
        assert_eq!(choices(&events[2])[0]["finish_reason"], "length");
        // No second finish at the end: the stream had one.
        assert_eq!(events.len(), 4);
        assert_eq!(events[3].data(), "[DONE]");
        // Without one, the default.
        let (_, events) = render(
            vec![text(Item::Content, "x")],
            format().with_finish_reason("length"),
        );
        assert_eq!(choices(&events[2])[0]["finish_reason"], "length");
    }

    #[test]
    fn a_start_names_the_response_only_before_it_opens() {
        let items = vec![
            Item::Start {
                id: None,
                model: Some("up".into()),
            },
            text(Item::Content, "a"),
            Item::Start {
                id: Some("late".into()),
                model: Some("late".into()),
            },
        ];
        let (_, events) = render(items, format());
        for event in &events[..events.len() - 1] {
            let value = json_of(event);
            assert_eq!(
                (value["id"].as_str(), value["model"].as_str()),
                (Some("chatcmpl-abc"), Some("up"))
            );
        }
    }

    #[test]
    fn every_choice_gets_its_role_and_a_finish() {
        let items = vec![
            Item::Choice(1),
            text(Item::Content, "one"),
            Item::Choice(0),
            text(Item::Content, "zero"),
            Item::Choice(2),
            Item::Finish(FinishReason::Length),
            Item::Choice(0),
        ];
        let (_, events) = render(items, format());
        let shown: Vec<(u64, Value, Value)> = events[..events.len() - 1]
            .iter()
            .map(|event| {
                let choice = &choices(event)[0];
                (
                    choice["index"].as_u64().unwrap(),
                    choice["delta"].clone(),
                    choice["finish_reason"].clone(),
                )
            })
            .collect();
        let role = json!({"role": "assistant", "content": ""});
        assert_eq!(
            shown,
            [
                (1, role.clone(), Value::Null),
                (1, json!({"content": "one"}), Value::Null),
                (0, role.clone(), Value::Null),
                (0, json!({"content": "zero"}), Value::Null),
                (2, role, Value::Null),
                (2, json!({}), json!("length")),
                // At the end, the choices without a finish, in order.
                (0, json!({}), json!("stop")),
                (1, json!({}), json!("stop")),
            ]
        );
    }

    #[test]
    fn logprobs_follow_their_text_and_must_be_an_array() {
        let items = vec![
            text(Item::Refusal, "no"),
            Item::Logprobs("[ {\"token\": \"no\", \"logprob\": 0} ]".into()),
            Item::Logprobs("{\"not\": \"an array\"}".into()),
            Item::Logprobs("[1,".into()),
            text(Item::Content, "ok"),
            Item::Logprobs("[]".into()),
        ];
        let (_, events) = render(items, format());
        let logprobs: Vec<Value> = events[..events.len() - 1]
            .iter()
            .map(|event| choices(event)[0]["logprobs"].clone())
            .filter(|logprobs| !logprobs.is_null())
            .collect();
        assert_eq!(
            logprobs,
            [
                json!({"content": null, "refusal": [{"token": "no", "logprob": 0}]}),
                json!({"content": [], "refusal": null}),
            ]
        );
        assert_eq!(choices(&events[1])[0]["delta"], json!({"refusal": "no"}));
    }

    #[test]
    fn usage_only_when_asked_and_counted_without_an_item() {
        let (_, events) = render(
            vec![text(Item::Content, "x"), Item::Usage(Usage::new(3, 1))],
            format(),
        );
        assert!(events
            .iter()
            .all(|event| event.data() == "[DONE]" || json_of(event).get("usage").is_none()));
        let chunks = vec![
            Item::Content(Chunk::new("ab").unwrap().with_token_count(2)),
            text(Item::Reasoning, "c"),
        ];
        let (_, events) = render(chunks, format().with_include_usage(true));
        let last = json_of(&events[events.len() - 2]);
        assert_eq!(last["choices"], json!([]));
        assert_eq!(
            last["usage"],
            json!({"prompt_tokens": 0, "completion_tokens": 3, "total_tokens": 3})
        );
    }

    #[test]
    fn other_events_are_written_back_only_to_their_own_format() {
        let items = vec![
            Item::Other {
                format: "openai-chat",
                event: None,
                data: "{\"object\":\"\",\n\"x\":1}".into(),
            },
            Item::Other {
                format: "openai-chat",
                event: Some("custom".into()),
                data: "raw".into(),
            },
            Item::Other {
                format: "openai-chat",
                event: Some("bad\nevent".into()),
                data: "dropped".into(),
            },
            Item::Other {
                format: "anthropic-messages",
                event: Some("ping".into()),
                data: "{}".into(),
            },
        ];
        let (frames, events) = render(items, format());
        assert_eq!(frames[0], "data: {\"object\":\"\",\ndata: \"x\":1}\n\n");
        assert_eq!(frames[1], "event: custom\ndata: raw\n\n");
        assert_eq!(events.len(), 2 + 3, "role, finish and [DONE] at the end");
    }

    #[test]
    fn hostile_text_never_breaks_a_frame() {
        assert_hostile_text_survives(format().with_include_usage(true), 6);
    }
}

mod anthropic_items {
    use super::*;

    fn format() -> AnthropicMessages {
        AnthropicMessages::new("msg_1", "claude").with_input_tokens(3)
    }

    /// Each event as (type, data JSON).
    fn shown(events: &[ParsedEvent]) -> Vec<(String, Value)> {
        events
            .iter()
            .map(|event| (event.event_type().to_owned(), json_of(event)))
            .collect()
    }

    fn start(index: u64, block: Value) -> (String, Value) {
        (
            "content_block_start".into(),
            json!({"type": "content_block_start", "index": index, "content_block": block}),
        )
    }

    fn delta(index: u64, delta: Value) -> (String, Value) {
        (
            "content_block_delta".into(),
            json!({"type": "content_block_delta", "index": index, "delta": delta}),
        )
    }

    fn stop(index: u64) -> (String, Value) {
        (
            "content_block_stop".into(),
            json!({"type": "content_block_stop", "index": index}),
        )
    }

    fn ping() -> (String, Value) {
        ("ping".into(), json!({"type": "ping"}))
    }

    #[test]
    fn blocks_per_kind_and_the_end_from_the_stream() {
        let items = vec![
            Item::Start {
                id: Some("msg_up".into()),
                model: None,
            },
            text(Item::Reasoning, "Let me"),
            text(Item::Reasoning, " see."),
            text(Item::Content, "Call"),
            text(Item::Refusal, " no"),
            Item::Logprobs("[]".into()),
            Item::ToolCall(
                ToolCall::new(0)
                    .with_id("toolu_1")
                    .with_name("get")
                    .with_arguments("{\"a\""),
            ),
            Item::ToolCall(ToolCall::new(0).with_arguments(":1}")),
            Item::ToolCall(ToolCall::new(1).with_name("put")),
            Item::Finish(FinishReason::ToolCalls),
            Item::Usage(
                Usage::new(30, 12)
                    .with_cached_input_tokens(4)
                    .with_reasoning_tokens(5),
            ),
        ];
        let (frames, events) = render(items, format());
        assert_eq!(
            String::from_utf8(frames[0].to_vec()).unwrap(),
            "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_up\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":3,\"output_tokens\":0}}}\n\n",
        );
        assert_eq!(
            shown(&events[1..]),
            [
                start(
                    0,
                    json!({"type": "thinking", "thinking": "", "signature": ""})
                ),
                ping(),
                delta(0, json!({"type": "thinking_delta", "thinking": "Let me"})),
                delta(0, json!({"type": "thinking_delta", "thinking": " see."})),
                // The source has no signature: an empty one.
                delta(0, json!({"type": "signature_delta", "signature": ""})),
                stop(0),
                start(1, json!({"type": "text", "text": ""})),
                delta(1, json!({"type": "text_delta", "text": "Call"})),
                // A refusal is text here.
                delta(1, json!({"type": "text_delta", "text": " no"})),
                stop(1),
                start(
                    2,
                    json!({"type": "tool_use", "id": "toolu_1", "name": "get", "input": {}})
                ),
                delta(
                    2,
                    json!({"type": "input_json_delta", "partial_json": "{\"a\""})
                ),
                delta(
                    2,
                    json!({"type": "input_json_delta", "partial_json": ":1}"})
                ),
                stop(2),
                start(
                    3,
                    json!({"type": "tool_use", "id": "", "name": "put", "input": {}})
                ),
                stop(3),
                (
                    "message_delta".into(),
                    json!({
                        "type": "message_delta",
                        "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                        "usage": {
                            "input_tokens": 30,
                            "output_tokens": 12,
                            "cache_read_input_tokens": 4,
                            "output_tokens_details": {"thinking_tokens": 5},
                        },
                    })
                ),
                ("message_stop".into(), json!({"type": "message_stop"})),
            ]
        );
    }

    #[test]
    fn interleaved_calls_each_open_a_block() {
        let items = vec![
            Item::ToolCall(ToolCall::new(0).with_id("a").with_arguments("1")),
            Item::ToolCall(ToolCall::new(1).with_id("b").with_arguments("2")),
            Item::ToolCall(ToolCall::new(0).with_arguments("3")),
        ];
        let (_, events) = render(items, format());
        let starts: Vec<(u64, Value)> = events
            .iter()
            .filter(|event| event.event_type() == "content_block_start")
            .map(|event| {
                let value = json_of(event);
                (
                    value["index"].as_u64().unwrap(),
                    value["content_block"]["id"].clone(),
                )
            })
            .collect();
        assert_eq!(starts, [(0, json!("a")), (1, json!("b")), (2, json!(""))]);
    }

    #[test]
    fn items_of_other_choices_are_left_out() {
        let items = vec![
            text(Item::Content, "zero"),
            Item::Choice(1),
            text(Item::Content, "one"),
            Item::ToolCall(ToolCall::new(0).with_name("f")),
            Item::Finish(FinishReason::Length),
            Item::Choice(0),
            text(Item::Content, "!"),
        ];
        let (_, events) = render(items, format());
        let texts: Vec<Value> = events
            .iter()
            .filter(|event| event.event_type() == "content_block_delta")
            .map(|event| json_of(event)["delta"]["text"].clone())
            .collect();
        assert_eq!(texts, [json!("zero"), json!("!")]);
        let end = json_of(&events[events.len() - 2]);
        assert_eq!(end["delta"]["stop_reason"], "end_turn");
        assert_eq!(end["usage"], json!({"output_tokens": 2}));
    }

    #[test]
    fn an_upstream_signature_and_blocks_without_items_pass_on_renumbered() {
        let other = |event: &str, data: Value| Item::Other {
            format: "anthropic-messages",
            event: Some(event.into()),
            data: data.to_string(),
        };
        let items = vec![
            text(Item::Content, "a"),
            text(Item::Reasoning, "b"),
            // Upstream, the thinking block was block 5.
            other(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 5, "delta": {"type": "signature_delta", "signature": "c2ln"}}),
            ),
            other(
                "content_block_start",
                json!({"type": "content_block_start", "index": 6, "content_block": {"type": "redacted_thinking", "data": "xyz"}}),
            ),
            other(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 6}),
            ),
            // The stop of a block that is not passed on: this format closes its own.
            other(
                "content_block_stop",
                json!({"type": "content_block_stop", "index": 5}),
            ),
            text(Item::Content, "c"),
            other(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 7, "delta": {"type": "citations_delta", "citation": {}}}),
            ),
        ];
        let (_, events) = render(items, format());
        let signature = json!({"type": "signature_delta", "signature": "c2ln"});
        assert_eq!(
            shown(&events[1..events.len() - 2]),
            [
                start(0, json!({"type": "text", "text": ""})),
                ping(),
                delta(0, json!({"type": "text_delta", "text": "a"})),
                stop(0),
                start(
                    1,
                    json!({"type": "thinking", "thinking": "", "signature": ""})
                ),
                delta(1, json!({"type": "thinking_delta", "thinking": "b"})),
                // The upstream's signature, and no empty one after it.
                delta(1, signature),
                stop(1),
                start(2, json!({"type": "redacted_thinking", "data": "xyz"})),
                stop(2),
                start(3, json!({"type": "text", "text": ""})),
                delta(3, json!({"type": "text_delta", "text": "c"})),
                delta(3, json!({"type": "citations_delta", "citation": {}})),
                stop(3),
            ]
        );
    }

    #[test]
    fn an_empty_stream_is_a_message_without_content() {
        let (_, events) = render(Vec::new(), format());
        let types: Vec<_> = events.iter().map(ParsedEvent::event_type).collect();
        assert_eq!(types, ["message_start", "message_delta", "message_stop"]);
    }

    #[test]
    fn hostile_text_never_breaks_a_frame() {
        assert_hostile_text_survives(format(), 6);
    }
}

mod responses_items {
    use super::*;
    use tokenflush::sse::OpenAiResponses;

    fn format() -> OpenAiResponses {
        OpenAiResponses::new("resp_1", "gpt-5").with_created_at(1_700_000_000)
    }

    /// Every event is named after its `type`, and the sequence numbers count up from 0.
    fn check_sequence(events: &[ParsedEvent]) {
        for (at, event) in events.iter().enumerate() {
            let value = json_of(event);
            assert_eq!(value["type"], event.event_type(), "{value}");
            assert_eq!(value["sequence_number"], at, "{value}");
        }
    }

    fn types(events: &[ParsedEvent]) -> Vec<&str> {
        events.iter().map(ParsedEvent::event_type).collect()
    }

    #[test]
    fn the_exact_frames_of_a_small_stream() {
        let (frames, events) = render(vec![text(Item::Content, "Hi")], format());
        check_sequence(&events);
        let response = |status: &str, output: &str, usage: &str| {
            format!(
                r#"{{"id":"resp_1","object":"response","created_at":1700000000,"status":"{status}","error":null,"incomplete_details":null,"model":"gpt-5","output":[{output}],"parallel_tool_calls":true,"tool_choice":"auto","tools":[],"usage":{usage}}}"#
            )
        };
        let in_progress = response("in_progress", "", "null");
        let message = |status: &str, content: &str| {
            format!(
                r#"{{"id":"msg_1_0","type":"message","status":"{status}","content":[{content}],"role":"assistant"}}"#
            )
        };
        let part = |text: &str| {
            format!(r#"{{"type":"output_text","annotations":[],"logprobs":[],"text":"{text}"}}"#)
        };
        let reference = r#""item_id":"msg_1_0","output_index":0,"content_index":0"#;
        let expected = [
            format!("event: response.created\ndata: {{\"type\":\"response.created\",\"sequence_number\":0,\"response\":{in_progress}}}\n\n"),
            format!("event: response.in_progress\ndata: {{\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{in_progress}}}\n\n"),
            format!("event: response.output_item.added\ndata: {{\"type\":\"response.output_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{}}}\n\n", message("in_progress", "")),
            format!("event: response.content_part.added\ndata: {{\"type\":\"response.content_part.added\",\"sequence_number\":3,{reference},\"part\":{}}}\n\n", part("")),
            format!("event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"sequence_number\":4,{reference},\"delta\":\"Hi\",\"logprobs\":[]}}\n\n"),
            format!("event: response.output_text.done\ndata: {{\"type\":\"response.output_text.done\",\"sequence_number\":5,{reference},\"text\":\"Hi\",\"logprobs\":[]}}\n\n"),
            format!("event: response.content_part.done\ndata: {{\"type\":\"response.content_part.done\",\"sequence_number\":6,{reference},\"part\":{}}}\n\n", part("Hi")),
            format!("event: response.output_item.done\ndata: {{\"type\":\"response.output_item.done\",\"sequence_number\":7,\"output_index\":0,\"item\":{}}}\n\n", message("completed", &part("Hi"))),
            format!(
                "event: response.completed\ndata: {{\"type\":\"response.completed\",\"sequence_number\":8,\"response\":{}}}\n\n",
                response(
                    "completed",
                    &message("completed", &part("Hi")),
                    r#"{"input_tokens":0,"input_tokens_details":{"cached_tokens":0},"output_tokens":1,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":1}"#,
                )
            ),
        ];
        assert_eq!(
            String::from_utf8(frames.concat()).unwrap(),
            expected.concat()
        );
    }

    #[test]
    fn reasoning_refusal_and_interleaved_calls() {
        let items = vec![
            Item::Start {
                id: Some("resp_up".into()),
                model: Some("up".into()),
            },
            text(Item::Reasoning, "think"),
            text(Item::Content, "a"),
            Item::Logprobs(r#"[{"token":"a","logprob":-1,"top_logprobs":[]}]"#.into()),
            text(Item::Refusal, "no"),
            Item::Logprobs("[{\"token\":\"dropped after a refusal\"}]".into()),
            text(Item::Content, "b"),
            Item::ToolCall(
                ToolCall::new(0)
                    .with_id("call_a")
                    .with_name("f")
                    .with_arguments("{"),
            ),
            Item::ToolCall(ToolCall::new(1).with_id("call_b").with_name("g")),
            Item::ToolCall(ToolCall::new(0).with_arguments("}")),
            Item::ToolCall(ToolCall::new(1).with_arguments("[]")),
            Item::Finish(FinishReason::Length),
            Item::Usage(Usage::new(10, 20).with_reasoning_tokens(5)),
        ];
        let (_, events) = render(items, format());
        check_sequence(&events);
        assert_eq!(
            types(&events),
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.reasoning_text.delta",
                "response.reasoning_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta", // the logprobs
                "response.output_text.done",
                "response.content_part.done",
                "response.content_part.added",
                "response.refusal.delta",
                "response.refusal.done",
                "response.content_part.done",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.output_item.added",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.delta",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.function_call_arguments.done",
                "response.output_item.done",
                "response.incomplete",
            ]
        );
        let value = |at: usize| json_of(&events[at]);
        assert_eq!(value(0)["response"]["id"], "resp_up");
        assert_eq!(value(4)["item_id"], "rs_up_0");
        assert_eq!(value(11)["delta"], "");
        assert_eq!(
            value(11)["logprobs"],
            json!([{"token": "a", "logprob": -1, "top_logprobs": []}])
        );
        assert_eq!(value(12)["logprobs"], value(11)["logprobs"]);
        assert_eq!(
            (
                value(15)["content_index"].as_u64(),
                value(19)["content_index"].as_u64()
            ),
            (Some(1), Some(2))
        );
        assert_eq!(
            (
                value(26)["output_index"].as_u64(),
                value(26)["delta"].as_str()
            ),
            (Some(2), Some("}"))
        );
        let end = value(events.len() - 1)["response"].clone();
        assert_eq!(end["status"], "incomplete");
        assert_eq!(
            end["incomplete_details"],
            json!({"reason": "max_output_tokens"})
        );
        assert_eq!(
            end["output"],
            json!([
                {"id": "rs_up_0", "type": "reasoning", "summary": [], "content": [{"type": "reasoning_text", "text": "think"}], "status": "completed"},
                {"id": "msg_up_1", "type": "message", "status": "completed", "role": "assistant", "content": [
                    {"type": "output_text", "annotations": [], "logprobs": [{"token": "a", "logprob": -1, "top_logprobs": []}], "text": "a"},
                    {"type": "refusal", "refusal": "no"},
                    {"type": "output_text", "annotations": [], "logprobs": [], "text": "b"},
                ]},
                {"id": "fc_up_2", "type": "function_call", "status": "incomplete", "arguments": "{}", "call_id": "call_a", "name": "f"},
                {"id": "fc_up_3", "type": "function_call", "status": "incomplete", "arguments": "[]", "call_id": "call_b", "name": "g"},
            ])
        );
        assert_eq!(
            end["usage"],
            json!({"input_tokens": 10, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": 20, "output_tokens_details": {"reasoning_tokens": 5}, "total_tokens": 30})
        );
    }

    #[test]
    fn a_content_filter_is_incomplete_and_other_reasons_complete() {
        for (reason, last, details) in [
            (
                FinishReason::ContentFilter,
                "response.incomplete",
                json!({"reason": "content_filter"}),
            ),
            (FinishReason::ToolCalls, "response.completed", Value::Null),
            (
                FinishReason::Other("pause".into()),
                "response.completed",
                Value::Null,
            ),
        ] {
            let (_, events) = render(vec![Item::Finish(reason)], format());
            let end = events.last().unwrap();
            assert_eq!(end.event_type(), last);
            assert_eq!(json_of(end)["response"]["incomplete_details"], details);
        }
    }

    #[tokio::test]
    async fn an_error_ends_with_error_and_response_failed() {
        let items = stream::iter([Ok(text(Item::Content, "partial")), Err("model \"crashed\"")]);
        let frames: Vec<Bytes> = items.encode_sse_as(format()).collect().await;
        let events = events_of(&frames);
        check_sequence(&events);
        let n = events.len();
        assert_eq!(types(&events[n - 2..]), ["error", "response.failed"]);
        assert_eq!(
            json_of(&events[n - 2]),
            json!({"type": "error", "sequence_number": n - 2, "code": "server_error", "message": "model \"crashed\"", "param": null})
        );
        let failed = json_of(&events[n - 1])["response"].clone();
        assert_eq!(failed["status"], "failed");
        assert_eq!(
            failed["error"],
            json!({"code": "server_error", "message": "model \"crashed\""})
        );
        assert_eq!(failed["output"][0]["content"][0]["text"], "partial");
        // Before anything was sent, only the error.
        let items = stream::iter([Err::<Item<Chunk>, _>("down")]);
        let frames: Vec<Bytes> = items.encode_sse_as(format()).collect().await;
        let events = events_of(&frames);
        assert_eq!(types(&events), ["error"]);
        assert_eq!(json_of(&events[0])["sequence_number"], 0);
    }

    #[test]
    fn output_items_without_items_pass_on_renumbered() {
        let other = |data: Value| Item::Other {
            format: "openai-responses",
            event: data["type"].as_str().map(str::to_owned),
            data: data.to_string(),
        };
        let search = json!({"id": "ws_1", "type": "web_search_call", "status": "in_progress"});
        let done = json!({"id": "ws_1", "type": "web_search_call", "status": "completed", "action": {"type": "search", "query": "q"}});
        let items = vec![
            text(Item::Content, "a"),
            other(
                json!({"type": "response.output_item.added", "sequence_number": 40, "output_index": 7, "item": search}),
            ),
            other(
                json!({"type": "response.web_search_call.searching", "sequence_number": 41, "output_index": 7, "item_id": "ws_1"}),
            ),
            other(
                json!({"type": "response.output_item.done", "sequence_number": 42, "output_index": 7, "item": done}),
            ),
            text(Item::Content, "b"),
            other(json!({"type": "response.queued", "sequence_number": 99})),
        ];
        let (_, events) = render(items, format());
        check_sequence(&events);
        let passed: Vec<Value> = events
            .iter()
            .map(json_of)
            .filter(|value| {
                value["type"].as_str().is_some_and(|kind| {
                    kind.contains("web_search")
                        || value
                            .get("item")
                            .is_some_and(|item| item["type"] == "web_search_call")
                })
            })
            .map(|value| value["output_index"].clone())
            .collect();
        assert_eq!(passed, [json!(1), json!(1), json!(1)]);
        let end = json_of(events.last().unwrap())["response"].clone();
        let output_types: Vec<&str> = end["output"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["type"].as_str().unwrap())
            .collect();
        assert_eq!(output_types, ["message", "web_search_call", "message"]);
        assert_eq!(end["output"][1], done);
        assert!(events
            .iter()
            .any(|event| event.event_type() == "response.queued"));
    }

    #[test]
    fn hostile_text_never_breaks_a_frame() {
        assert_hostile_text_survives(format(), 6);
    }
}

mod text_items {
    use super::*;
    use tokenflush::sse::TextEvents;

    #[test]
    fn typed_events_with_ids() {
        let items = vec![
            Item::Start {
                id: Some("r".into()),
                model: None,
            },
            text(Item::Reasoning, "think\nmore"),
            text(Item::Content, "answer"),
            text(Item::Refusal, "no"),
            Item::ToolCall(
                ToolCall::new(1)
                    .with_id("c")
                    .with_name("f")
                    .with_arguments("{\"a\":"),
            ),
            Item::ToolCall(ToolCall::new(1).with_arguments("1}")),
            Item::Logprobs("[ 1 , 2 ]".into()),
            Item::Logprobs("not json".into()),
            Item::Choice(2),
            Item::Finish(FinishReason::Length),
            Item::Usage(
                Usage::new(1, 2)
                    .with_reasoning_tokens(1)
                    .with_cached_input_tokens(1),
            ),
            Item::Other {
                format: "openai-chat",
                event: None,
                data: "left out".into(),
            },
        ];
        let (frames, _) = render(items, TextEvents::new().with_event_ids(10));
        assert_eq!(
            frames,
            [
                "id: 10\nevent: start\ndata: {\"id\":\"r\",\"model\":null}\n\n",
                "id: 11\nevent: reasoning\ndata: think\ndata: more\n\n",
                "id: 12\ndata: answer\n\n",
                "id: 13\nevent: refusal\ndata: no\n\n",
                "id: 14\nevent: tool_call\ndata: {\"index\":1,\"id\":\"c\",\"name\":\"f\",\"arguments\":\"{\\\"a\\\":\"}\n\n",
                "id: 15\nevent: tool_call\ndata: {\"index\":1,\"arguments\":\"1}\"}\n\n",
                "id: 16\nevent: logprobs\ndata: [1,2]\n\n",
                "id: 17\nevent: choice\ndata: {\"index\":2}\n\n",
                "id: 18\nevent: finish\ndata: {\"reason\":\"length\"}\n\n",
                "id: 19\nevent: usage\ndata: {\"input_tokens\":1,\"output_tokens\":2,\"total_tokens\":3,\"reasoning_tokens\":1,\"cached_input_tokens\":1}\n\n",
            ]
        );
    }

    #[test]
    fn hostile_text_never_breaks_a_frame() {
        let (_, events) = render(hostile_items(), TextEvents::new());
        let normalized = |text: &str| text.replace("\r\n", "\n").replace('\r', "\n");
        let mut index = 0;
        for event in &events {
            match event.event_type() {
                "message" | "reasoning" | "refusal" => {
                    let hostile = HOSTILE_ITEMS[index / 3];
                    assert_eq!(event.data(), normalized(hostile));
                    index += 1;
                }
                "tool_call" => {
                    let value = json_of(event);
                    assert_eq!(value["arguments"], HOSTILE_ITEMS[index / 3 - 1]);
                }
                "start" | "finish" | "usage" => {
                    json_of(event);
                }
                other => panic!("unexpected event {other:?}"),
            }
        }
        assert_eq!(index, 3 * HOSTILE_ITEMS.len());
    }
}
