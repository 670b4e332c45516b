//! The `chat_server` and `proxy` examples, run in-process on loopback ports and read by a Rust
//! HTTP client: valid OpenAI chunks with exactly the model's text, a policy per request, whole
//! answers, errors, the model stopping when the reader goes away, and the proxy re-chunking
//! content while everything else passes through in order.

#[path = "../../../tests/support/serve.rs"]
mod serve;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::Router;
use example_servers::chat_server::model::{self, Generations};
use example_servers::{chat_server, proxy};
use serde_json::{json, Value};
use serve::{request, RawClient, Whole};

const LIMIT: Duration = Duration::from_secs(20);
const PROMPT: &str = "Does «this» arrive whole? 日本 🚀";

/// A model fast enough for tests: about 1 ms per token.
fn fast() -> Value {
    json!({"tokens_per_second": 1000, "jitter": 0, "first_token_ms": 0})
}

async fn start_chat_server(config: chat_server::Config) -> (SocketAddr, Arc<Generations>) {
    let (router, generations) = chat_server::app(config);
    (serve::serve(router).await, generations)
}

fn chat_request(stream: bool, extra: Value) -> Value {
    let mut body = json!({
        "model": "sim",
        "stream": stream,
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": PROMPT},
        ],
        "simulation": fast(),
    });
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

/// The data of each event, as JSON (`[DONE]` as the string "[DONE]").
fn chunks_of(response: &Whole) -> Vec<Value> {
    response
        .events()
        .iter()
        .map(|event| match event.data() {
            "[DONE]" => Value::from("[DONE]"),
            data => serde_json::from_str(data).unwrap(),
        })
        .collect()
}

fn content_of(chunks: &[Value]) -> String {
    chunks
        .iter()
        .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
        .collect()
}

/// How many events carried text.
fn writes(chunks: &[Value]) -> usize {
    chunks
        .iter()
        .filter(|chunk| {
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .is_some_and(|text| !text.is_empty())
        })
        .count()
}

mod chat {
    use super::*;

    #[tokio::test]
    async fn a_stream_is_valid_openai_chunks_carrying_exactly_the_models_text() {
        let (address, generations) = start_chat_server(Default::default()).await;
        let response = request(
            address,
            "POST",
            "/v1/chat/completions",
            &chat_request(true, json!({})),
            LIMIT,
        )
        .await;
        assert_eq!(response.status, 200);
        assert_eq!(response.headers["content-type"], "text/event-stream");
        assert_eq!(response.headers["x-accel-buffering"], "no");
        let chunks = chunks_of(&response);
        let (last, chunks) = chunks.split_last().unwrap();
        assert_eq!(*last, "[DONE]");
        for chunk in chunks {
            assert_eq!(chunk["object"], "chat.completion.chunk");
            assert_eq!(chunk["model"], "sim");
            assert_eq!(chunk["id"], chunks[0]["id"]);
            assert!(chunk["id"].as_str().unwrap().starts_with("chatcmpl-"));
        }
        assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
        assert_eq!(
            chunks.last().unwrap()["choices"][0]["finish_reason"],
            "stop"
        );
        assert_eq!(content_of(chunks), model::answer(PROMPT));
        assert!(!content_of(chunks).contains('\u{FFFD}'));
        assert_eq!((generations.completed(), generations.running()), (1, 0));
    }

    #[tokio::test]
    async fn each_request_chooses_its_flush_policy() {
        let (address, _) = start_chat_server(Default::default()).await;
        let tokens = model::tokenize(&model::answer(PROMPT)).len();
        let mut counts = Vec::new();
        for policy in [
            json!({"policy": "immediate"}),
            json!({"policy": "fixed_batch", "max_tokens": 25}),
            json!({"policy": "time_bounded", "max_tokens": 4, "max_latency_ms": 100}),
        ] {
            let body = chat_request(true, json!({"tokenflush": policy}));
            let response = request(address, "POST", "/v1/chat/completions", &body, LIMIT).await;
            let chunks = chunks_of(&response);
            assert_eq!(content_of(&chunks), model::answer(PROMPT));
            counts.push(writes(&chunks));
        }
        let [immediate, fixed_batch, time_bounded] = counts[..] else {
            unreachable!()
        };
        // Immediate writes once per token that completes a character (a character cut into
        // two byte tokens is one write); FixedBatch(25) once per 25 tokens.
        let pieces = model::tokenize(&model::answer(PROMPT))
            .iter()
            .filter(|token| std::str::from_utf8(token).is_err())
            .count();
        assert_eq!(immediate, tokens - pieces / 2);
        assert_eq!(fixed_batch, tokens.div_ceil(25));
        // At about 1 ms per token, the 100 ms bound seldom binds: up to 4 tokens per write.
        assert!(
            (tokens / 4..=tokens / 2).contains(&time_bounded),
            "{time_bounded} writes for {tokens} tokens"
        );
    }

    #[tokio::test]
    async fn a_whole_answer_is_one_chat_completion() {
        let (address, _) = start_chat_server(Default::default()).await;
        let response = request(
            address,
            "POST",
            "/v1/chat/completions",
            &chat_request(false, json!({})),
            LIMIT,
        )
        .await;
        assert_eq!(response.status, 200);
        let completion = response.json();
        assert_eq!(completion["object"], "chat.completion");
        assert_eq!(
            completion["choices"][0]["message"]["content"],
            model::answer(PROMPT)
        );
        assert_eq!(completion["choices"][0]["finish_reason"], "stop");
        assert_eq!(
            completion["usage"]["completion_tokens"],
            model::tokenize(&model::answer(PROMPT)).len()
        );
    }

    #[tokio::test]
    async fn max_tokens_cuts_the_answer_with_finish_reason_length() {
        let (address, _) = start_chat_server(Default::default()).await;
        // Token 5 is the first byte of «: the cut takes the rest of the character along.
        let body = chat_request(true, json!({"max_tokens": 5}));
        let response = request(address, "POST", "/v1/chat/completions", &body, LIMIT).await;
        let chunks = chunks_of(&response);
        let (tokens, cut) = model::truncate(model::tokenize(&model::answer(PROMPT)), Some(5));
        assert!(cut);
        assert_eq!(tokens.len(), 6);
        assert_eq!(content_of(&chunks), "You asked: «");
        let finish = &chunks[chunks.len() - 2];
        assert_eq!(finish["choices"][0]["finish_reason"], "length");
    }

    #[tokio::test]
    async fn a_model_failure_ends_the_stream_with_openais_error_object() {
        let (address, generations) = start_chat_server(Default::default()).await;
        let mut simulation = fast();
        simulation["fail_after"] = json!(7);
        let body = chat_request(
            true,
            json!({"simulation": simulation, "tokenflush": {"policy": "fixed_batch", "max_tokens": 100}}),
        );
        let response = request(address, "POST", "/v1/chat/completions", &body, LIMIT).await;
        let chunks = chunks_of(&response);
        let expected: Vec<u8> = model::tokenize(&model::answer(PROMPT))[..7].concat();
        assert_eq!(
            content_of(&chunks),
            std::str::from_utf8(&expected).unwrap(),
            "the text before the failure is sent"
        );
        let last = chunks.last().unwrap();
        assert_eq!(
            last["error"]["message"],
            "the simulated model failed after 7 tokens"
        );
        assert!(!chunks.contains(&Value::from("[DONE]")));
        assert_eq!(generations.running(), 0);
    }

    #[tokio::test]
    async fn bad_requests_get_openai_error_objects() {
        let (address, _) = start_chat_server(Default::default()).await;
        let cases = [
            (json!({"messages": "nope"}), "invalid request body"),
            (json!({"messages": []}), "messages must hold a user message"),
            (
                chat_request(
                    true,
                    json!({"tokenflush": {"policy": "fixed_batch", "max_tokens": 0}}),
                ),
                "tokenflush: max_tokens must be at least 1",
            ),
            (
                chat_request(true, json!({"tokenflush": {"policy": "sometimes"}})),
                "invalid request body",
            ),
            (
                chat_request(true, json!({"simulation": {"tokens_per_second": -1}})),
                "simulation.tokens_per_second",
            ),
            (
                chat_request(true, json!({"simulation": {"speed": 3}})),
                "simulation: unknown field",
            ),
        ];
        for (body, message) in cases {
            let response = request(address, "POST", "/v1/chat/completions", &body, LIMIT).await;
            assert_eq!(response.status, 400, "{body}");
            let error = response.json();
            assert_eq!(error["error"]["type"], "invalid_request_error");
            let text = error["error"]["message"].as_str().unwrap();
            assert!(text.starts_with(message), "{text:?} for {body}");
        }
    }

    #[tokio::test]
    async fn the_demo_page_streams_three_policies() {
        let (address, _) = start_chat_server(Default::default()).await;
        let response = request(address, "GET", "/", &json!(null), LIMIT).await;
        assert_eq!(response.status, 200);
        assert!(response.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let page = String::from_utf8(response.body.to_vec()).unwrap();
        for needle in [
            "FixedBatch::new(25)",
            "Immediate",
            "TimeBounded::new(4, 100ms)",
            "requestAnimationFrame",
            "/v1/chat/completions",
        ] {
            assert!(page.contains(needle), "{needle}");
        }
    }

    #[tokio::test]
    async fn the_model_stops_when_the_reader_goes_away() {
        let (address, generations) = start_chat_server(Default::default()).await;
        let body = chat_request(
            true,
            json!({"simulation": {"tokens_per_second": 50, "first_token_ms": 0}}),
        )
        .to_string();
        let mut client = RawClient::send(address, "POST", "/v1/chat/completions", &body).await;
        client.read_until("\"content\":\"You\"", LIMIT).await;
        assert_eq!(generations.running(), 1);
        client.close();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while generations.running() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            (
                generations.running(),
                generations.abandoned(),
                generations.completed()
            ),
            (0, 1, 0)
        );
    }
}

mod rechunking_proxy {
    use super::*;
    use example_servers::policy::PolicyConfig;

    async fn start_proxy(upstream: SocketAddr, policy: PolicyConfig) -> SocketAddr {
        let router = proxy::app(proxy::Config {
            upstream: format!("http://{upstream}/v1"),
            policy,
        })
        .unwrap();
        serve::serve(router).await
    }

    /// A scripted upstream: answers every chat request with `script` (event data, with a
    /// pause in ms before each), and records the request bodies it got.
    async fn scripted_upstream(
        script: Vec<(u64, String)>,
        ending: &'static str,
    ) -> (SocketAddr, Arc<Mutex<Vec<Value>>>) {
        let requests: Arc<Mutex<Vec<Value>>> = Arc::default();
        let router = Router::new().route(
            "/v1/chat/completions",
            post({
                let requests = Arc::clone(&requests);
                move |body: axum::body::Bytes| async move {
                    requests
                        .lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    let frames = futures::stream::iter(script).then(|(pause, data)| async move {
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                        Ok::<_, std::convert::Infallible>(format!("data: {data}\n\n"))
                    });
                    let frames = futures::StreamExt::chain(
                        frames,
                        futures::stream::iter([Ok(ending.to_owned())]),
                    );
                    (
                        [("content-type", "text/event-stream")],
                        axum::body::Body::from_stream(frames),
                    )
                }
            }),
        );
        (serve::serve(router).await, requests)
    }

    use futures::StreamExt as _;

    fn chunk(delta: Value, finish_reason: Value) -> String {
        json!({
            "id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 7,
            "model": "upstream-model", "system_fingerprint": "fp_1",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}],
        })
        .to_string()
    }

    #[tokio::test]
    async fn content_is_merged_and_everything_else_passes_through_in_order() {
        // The role comes with text: the chunk is not merged, as it carries more than text.
        let role = chunk(json!({"role": "assistant", "content": "Hi. "}), Value::Null);
        let tool_call = chunk(
            json!({"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                    "function": {"name": "lookup", "arguments": "{\"q\":\"é\"}"}}]}),
            Value::Null,
        );
        let finish = chunk(json!({}), json!("tool_calls"));
        let usage = json!({
            "id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 7,
            "model": "upstream-model", "choices": [],
            "usage": {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9},
        })
        .to_string();
        let content = |text: &str| chunk(json!({"content": text}), Value::Null);
        let script = vec![
            (0, role.clone()),
            (5, content("Hel")),
            // Unset fields sent as null are no news: this merges.
            (
                5,
                chunk(json!({"content": "lo, ", "refusal": null}), Value::Null),
            ),
            (5, content("wörld")),
            (5, tool_call.clone()),
            (5, content("Let me ")),
            (5, content("check.")),
            (5, finish.clone()),
            (5, usage.clone()),
            (5, "[DONE]".to_owned()),
        ];
        let (upstream, _) = scripted_upstream(script, "").await;
        // A batch larger than the answer: only the other events cut the text.
        let proxy = start_proxy(upstream, PolicyConfig::FixedBatch { max_tokens: 100 }).await;
        let body =
            json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "q"}]});
        let response = request(proxy, "POST", "/v1/chat/completions", &body, LIMIT).await;
        assert_eq!(response.status, 200);
        assert_eq!(response.headers["x-accel-buffering"], "no");
        let data: Vec<String> = response
            .events()
            .into_iter()
            .map(|event| event.into_data())
            .collect();
        assert_eq!(
            data,
            [
                role,
                content("Hello, wörld"),
                tool_call,
                content("Let me check."),
                finish,
                usage,
                "[DONE]".to_owned(),
            ]
        );
    }

    #[tokio::test]
    async fn the_proxy_keeps_its_policy_option_to_itself() {
        let (upstream, requests) = scripted_upstream(vec![(0, "[DONE]".to_owned())], "").await;
        let proxy = start_proxy(upstream, PolicyConfig::default()).await;
        let body = json!({
            "model": "m", "stream": true, "temperature": 0.5,
            "messages": [{"role": "user", "content": "q"}],
            "tokenflush": {"policy": "immediate"},
        });
        request(proxy, "POST", "/v1/chat/completions", &body, LIMIT).await;
        let forwarded = requests.lock().unwrap().pop().unwrap();
        let mut expected = body.clone();
        expected.as_object_mut().unwrap().remove("tokenflush");
        assert_eq!(forwarded, expected);
    }

    #[tokio::test]
    async fn an_upstream_cut_short_ends_with_the_text_so_far_and_an_error() {
        let content = |text: &str| chunk(json!({"content": text}), Value::Null);
        let script = vec![(0, content("partial ")), (5, content("answer"))];
        // The upstream stops inside an event, as a crashed server's body does.
        let (upstream, _) = scripted_upstream(script, "data: {\"id\":").await;
        let proxy = start_proxy(upstream, PolicyConfig::FixedBatch { max_tokens: 100 }).await;
        let body = json!({"stream": true, "messages": [{"role": "user", "content": "q"}]});
        let response = request(proxy, "POST", "/v1/chat/completions", &body, LIMIT).await;
        let chunks = chunks_of(&response);
        assert_eq!(chunks.len(), 2, "{chunks:?}");
        assert_eq!(
            chunks[0]["choices"][0]["delta"]["content"],
            "partial answer"
        );
        assert_eq!(chunks[0]["id"], "chatcmpl-up");
        assert_eq!(
            chunks[1]["error"]["message"],
            "the upstream stream is malformed: stream ended inside an event"
        );
    }

    #[tokio::test]
    async fn in_front_of_the_chat_server_it_turns_a_chatty_stream_into_a_paced_one() {
        let (upstream, _) = start_chat_server(chat_server::Config {
            policy: example_servers::policy::PolicyConfig::Immediate,
            ..Default::default()
        })
        .await;
        let proxy = start_proxy(upstream, PolicyConfig::FixedBatch { max_tokens: 8 }).await;
        let body = chat_request(true, json!({}));
        let direct = request(upstream, "POST", "/v1/chat/completions", &body, LIMIT).await;
        let proxied = request(proxy, "POST", "/v1/chat/completions", &body, LIMIT).await;
        let (direct, proxied) = (chunks_of(&direct), chunks_of(&proxied));
        assert_eq!(content_of(&proxied), model::answer(PROMPT));
        assert_eq!(content_of(&direct), content_of(&proxied));
        assert_eq!(
            writes(&proxied),
            writes(&direct).div_ceil(8),
            "8 upstream deltas per write"
        );
        // The role chunk, finish chunk and [DONE] pass through unchanged (but for the id and
        // time of a request of their own).
        assert_eq!(proxied[0]["choices"], direct[0]["choices"]);
        let finish = |chunks: &[Value]| chunks[chunks.len() - 2]["choices"].clone();
        assert_eq!(finish(&proxied), finish(&direct));
        assert_eq!(proxied.last(), direct.last());
        for chunk in &proxied[..proxied.len() - 1] {
            assert_eq!(chunk["id"], proxied[0]["id"], "the upstream's id is kept");
        }
    }

    #[tokio::test]
    async fn whole_answers_and_upstream_errors_pass_through() {
        let (upstream, _) = start_chat_server(Default::default()).await;
        let proxy = start_proxy(upstream, PolicyConfig::default()).await;
        let whole = request(
            proxy,
            "POST",
            "/v1/chat/completions",
            &chat_request(false, json!({})),
            LIMIT,
        )
        .await;
        assert_eq!(whole.status, 200);
        assert_eq!(
            whole.json()["choices"][0]["message"]["content"],
            model::answer(PROMPT)
        );
        let refused = request(
            proxy,
            "POST",
            "/v1/chat/completions",
            &json!({"stream": true, "messages": []}),
            LIMIT,
        )
        .await;
        assert_eq!(refused.status, 400);
        assert_eq!(
            refused.json()["error"]["message"],
            "messages must hold a user message"
        );
    }

    #[tokio::test]
    async fn the_upstream_model_stops_when_the_proxys_reader_goes_away() {
        let (upstream, generations) = start_chat_server(Default::default()).await;
        let proxy = start_proxy(upstream, PolicyConfig::Immediate).await;
        let body = chat_request(
            true,
            json!({"simulation": {"tokens_per_second": 50, "first_token_ms": 0}}),
        )
        .to_string();
        let mut client = RawClient::send(proxy, "POST", "/v1/chat/completions", &body).await;
        client.read_until("\"content\":\"You\"", LIMIT).await;
        client.close();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while generations.running() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!((generations.running(), generations.abandoned()), (0, 1));
    }
}
