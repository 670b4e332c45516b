//! The LLM wire formats (feature `serde_json`): the exact event sequences and JSON shapes the
//! official OpenAI and Anthropic SDKs read.

#[path = "support/sse.rs"]
mod support;

use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, StreamExt};
use serde_json::{json, Value};
use tokenflush::sse::{AnthropicMessages, EncodeSseExt, KeepAlive, ParsedEvent};
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
        assert_eq!(frames.len(), 4, "role, two deltas, finish and [DONE]");
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
        assert!(!frames[1][..frames[1].len() - 2].contains(&b'\n'));
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
        frames.next().await; // role
        tx.unbounded_send(Chunk::new("cut").unwrap()).unwrap();
        frames.next().await;
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
        assert_eq!(frames[1], "event: ping\ndata: {\"type\":\"ping\"}\n\n");
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
