//! The `chat_server` and `proxy` examples, run in-process on loopback ports and read by a Rust
//! HTTP client: valid OpenAI chunks with exactly the model's text, a policy per request, whole
//! answers, errors, the model stopping when the reader goes away, reasoning, tool calls and
//! usage in all three APIs (streamed and whole alike), the proxy re-chunking text while
//! everything else passes through in order, and every bound on what a client or an upstream
//! can make them hold.

mod common;
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
            ..Default::default()
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
    async fn text_is_merged_and_everything_else_passes_through_in_order() {
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
        let reasoning = |text: &str| chunk(json!({"reasoning_content": text}), Value::Null);
        let script = vec![
            (0, reasoning("Think")),
            (5, reasoning("ing.")),
            (5, role),
            (5, content("Hel")),
            // Unset fields sent as null are no news.
            (
                5,
                chunk(json!({"content": "lo, ", "refusal": null}), Value::Null),
            ),
            (5, content("wörld")),
            (5, tool_call),
            (5, content("Let me ")),
            (5, content("check.")),
            (5, finish),
            (5, usage),
            (5, "[DONE]".to_owned()),
        ];
        let (upstream, _) = scripted_upstream(script, "").await;
        // A batch larger than the answer: only the other items cut the text.
        let proxy = start_proxy(upstream, PolicyConfig::FixedBatch { max_tokens: 100 }).await;
        let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
                          "messages": [{"role": "user", "content": "q"}]});
        let response = request(proxy, "POST", "/v1/chat/completions", &body, LIMIT).await;
        assert_eq!(response.status, 200);
        assert_eq!(response.headers["x-accel-buffering"], "no");
        let chunks = chunks_of(&response);
        for chunk in &chunks[..chunks.len() - 1] {
            assert_eq!(
                (&chunk["id"], &chunk["model"]),
                (&json!("chatcmpl-up"), &json!("upstream-model")),
                "the upstream's id and model"
            );
        }
        let deltas: Vec<Value> = chunks
            .iter()
            .map(|chunk| {
                if chunk == "[DONE]" {
                    return chunk.clone();
                }
                match chunk["choices"].as_array().unwrap().first() {
                    Some(choice) => json!([choice["delta"], choice["finish_reason"]]),
                    None => json!({"usage": chunk["usage"]}),
                }
            })
            .collect();
        assert_eq!(
            deltas,
            [
                json!([{"role": "assistant", "content": ""}, null]),
                json!([{"reasoning_content": "Thinking."}, null]),
                json!([{"content": "Hi. Hello, wörld"}, null]),
                json!([{"tool_calls": [{"index": 0, "id": "call_1", "type": "function",
                    "function": {"name": "lookup", "arguments": "{\"q\":\"é\"}"}}]}, null]),
                json!([{"content": "Let me check."}, null]),
                json!([{}, "tool_calls"]),
                json!({"usage": {"prompt_tokens": 3, "completion_tokens": 6, "total_tokens": 9}}),
                json!("[DONE]"),
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
        assert_eq!(chunks.len(), 3, "{chunks:?}");
        assert_eq!(
            chunks[1]["choices"][0]["delta"]["content"],
            "partial answer"
        );
        assert_eq!(chunks[1]["id"], "chatcmpl-up");
        assert_eq!(
            chunks[2]["error"]["message"],
            "the upstream's stream ended inside an event"
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

/// Reasoning, tool calls and usage, in the three APIs, streamed and whole.
mod structured {
    use super::*;
    use common::{Api, Summary};
    use example_servers::chat_server::model::{Ask, Tool};
    use tokenflush::llm::FinishReason;

    fn weather() -> (&'static str, Value) {
        let parameters = json!({"type": "object", "properties": {
            "city": {"type": "string"}, "days": {"type": "integer"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        }});
        ("get_weather", parameters)
    }

    /// What the simulated model answers `ask`, summed up; `call_id` names its call.
    fn expected(ask: &Ask, call_id: &str) -> Summary {
        let plan = model::plan(ask, call_id);
        let calls = ask
            .tool
            .iter()
            .map(|tool| json!({"id": call_id, "name": tool.name, "arguments": tool.arguments(&ask.prompt)}))
            .collect();
        Summary {
            reasoning: if ask.reasoning {
                model::reasoning().to_owned()
            } else {
                String::new()
            },
            text: match &ask.tool {
                Some(tool) => model::tool_preamble(&ask.prompt, &tool.name),
                None => model::answer(&ask.prompt),
            },
            calls,
            finish: plan.finish,
            usage: plan.usage,
        }
        .normalized()
    }

    /// The call id the server gives a response: `call_` and the tail of its id.
    fn call_id(response_id: &str) -> String {
        format!("call_{}", response_id.rsplit(['-', '_']).next().unwrap())
    }

    #[tokio::test]
    async fn every_api_streams_reasoning_a_tool_call_and_usage_and_answers_the_same_whole() {
        let (address, _) = start_chat_server(Default::default()).await;
        let (name, parameters) = weather();
        let ask = Ask {
            prompt: PROMPT.to_owned(),
            reasoning: true,
            tool: Some(Tool::new(name, parameters.clone()).unwrap()),
            max_tokens: None,
        };
        for api in Api::ALL {
            let extra = json!({"simulation": fast(), "stream_options": {"include_usage": true}});
            let extra = if api == Api::Chat {
                extra
            } else {
                json!({"simulation": fast()})
            };
            let streamed = request(
                address,
                "POST",
                api.path(),
                &api.request(
                    PROMPT,
                    true,
                    true,
                    &[(name, parameters.clone())],
                    extra.clone(),
                ),
                LIMIT,
            )
            .await;
            assert_eq!(streamed.status, 200, "{api:?}");
            let items = api.decode(&streamed.body);
            let id = match &items[0] {
                tokenflush::llm::Item::Start { id: Some(id), .. } => id.clone(),
                other => panic!("{api:?} starts with {other:?}"),
            };
            // Reasoning, then text, then the call: never interleaved.
            let kinds: Vec<&str> = items
                .iter()
                .filter_map(|item| match item {
                    tokenflush::llm::Item::Reasoning(_) => Some("reasoning"),
                    tokenflush::llm::Item::Content(_) => Some("text"),
                    tokenflush::llm::Item::ToolCall(_) => Some("call"),
                    _ => None,
                })
                .collect();
            let mut runs = kinds.clone();
            runs.dedup();
            assert_eq!(runs, ["reasoning", "text", "call"], "{api:?}");
            let streamed = Summary::of_items(&items).normalized();
            assert_eq!(streamed, expected(&ask, &call_id(&id)), "{api:?}");
            assert_eq!(streamed.finish, FinishReason::ToolCalls);
            // Output tokens: what was streamed, counted independently of the plan.
            let fragments = ask
                .tool
                .as_ref()
                .unwrap()
                .arguments(PROMPT)
                .chars()
                .count()
                .div_ceil(6);
            assert_eq!(
                streamed.usage.output_tokens() as usize,
                model::tokenize(&streamed.reasoning).len()
                    + model::tokenize(&streamed.text).len()
                    + fragments,
                "{api:?}"
            );
            assert_eq!(
                streamed.usage.input_tokens() as usize,
                model::tokenize(PROMPT).len()
            );

            let whole = request(
                address,
                "POST",
                api.path(),
                &api.request(PROMPT, false, true, &[(name, parameters.clone())], extra),
                LIMIT,
            )
            .await;
            assert_eq!(whole.status, 200, "{api:?}");
            let whole = whole.json();
            let whole_id = whole["id"].as_str().unwrap();
            let summary = api.summary_of_whole(&whole).normalized();
            assert_eq!(summary, expected(&ask, &call_id(whole_id)), "{api:?} whole");
        }
    }

    #[tokio::test]
    async fn chat_completions_send_usage_only_when_asked() {
        let (address, _) = start_chat_server(Default::default()).await;
        let ask = Ask {
            prompt: PROMPT.to_owned(),
            ..Default::default()
        };
        let usage = model::plan(&ask, "").usage;
        for include_usage in [false, true] {
            let body = chat_request(
                true,
                json!({"stream_options": {"include_usage": include_usage}}),
            );
            let response = request(address, "POST", "/v1/chat/completions", &body, LIMIT).await;
            let chunks = chunks_of(&response);
            let with_usage: Vec<&Value> = chunks
                .iter()
                .filter(|chunk| chunk.get("usage").is_some_and(|usage| !usage.is_null()))
                .collect();
            if !include_usage {
                assert!(with_usage.is_empty());
                assert!(chunks.iter().all(|chunk| chunk.get("usage").is_none()));
                continue;
            }
            // One chunk, the last before [DONE], with no choices; every other says null.
            assert_eq!(with_usage.len(), 1);
            assert_eq!(*with_usage[0], chunks[chunks.len() - 2]);
            assert_eq!(with_usage[0]["choices"], json!([]));
            assert_eq!(
                with_usage[0]["usage"],
                json!({"prompt_tokens": usage.input_tokens(), "completion_tokens": usage.output_tokens(),
                       "total_tokens": usage.total_tokens()})
            );
            assert_eq!(
                usage.output_tokens() as usize,
                model::tokenize(&model::answer(PROMPT)).len()
            );
            for chunk in &chunks[..chunks.len() - 2] {
                assert_eq!(chunk["usage"], Value::Null);
            }
        }
    }

    #[tokio::test]
    async fn max_tokens_cuts_reasoning_and_text_alike_in_every_api() {
        let (address, _) = start_chat_server(Default::default()).await;
        let reasoning_tokens = model::tokenize(model::reasoning()).len();
        for api in Api::ALL {
            let limit = reasoning_tokens + 3;
            let extra = match api {
                Api::Chat => json!({"max_tokens": limit}),
                Api::Responses => json!({"max_output_tokens": limit}),
                Api::Messages => json!({"max_tokens": limit}),
            };
            let mut extra = extra;
            extra["simulation"] = fast();
            if api == Api::Chat {
                extra["stream_options"] = json!({"include_usage": true});
            }
            let body = api.request(PROMPT, true, true, &[], extra);
            let response = request(address, "POST", api.path(), &body, LIMIT).await;
            let summary = Summary::of_items(&api.decode(&response.body));
            assert_eq!(summary.finish, FinishReason::Length, "{api:?}");
            assert_eq!(summary.reasoning, model::reasoning());
            assert_eq!(summary.text, "You asked:", "{api:?}");
            assert_eq!(summary.usage.output_tokens() as usize, limit);
        }
    }

    #[tokio::test]
    async fn the_responses_route_streams_the_event_sequence_clients_key_on() {
        let (address, _) = start_chat_server(Default::default()).await;
        let body = Api::Responses.request(PROMPT, true, false, &[], json!({"simulation": fast()}));
        let response = request(address, "POST", "/v1/responses", &body, LIMIT).await;
        assert_eq!(response.status, 200);
        assert_eq!(response.headers["content-type"], "text/event-stream");
        let events = response.events();
        let types: Vec<&str> = events.iter().map(|event| event.event_type()).collect();
        assert_eq!(
            types[..5],
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
            ]
        );
        assert_eq!(
            types[types.len() - 4..],
            [
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        );
        for (number, event) in events.iter().enumerate() {
            let data: Value = serde_json::from_str(event.data()).unwrap();
            assert_eq!(data["sequence_number"], number);
        }
        let completed: Value = serde_json::from_str(events.last().unwrap().data()).unwrap();
        assert_eq!(
            completed["response"]["output"][0]["content"][0]["text"],
            model::answer(PROMPT)
        );
    }
}

/// What a client can make the chat server hold or repeat, and settings it must refuse.
mod chat_bounds {
    use super::*;

    #[tokio::test]
    async fn simulation_settings_outside_their_ranges_get_a_400_never_a_dropped_connection() {
        let (address, generations) = start_chat_server(Default::default()).await;
        let cases = [
            (
                json!({"tokens_per_second": 1e-30}),
                "simulation.tokens_per_second must be in [1, 100000]",
            ),
            (
                json!({"tokens_per_second": 0.5}),
                "simulation.tokens_per_second must be in [1, 100000]",
            ),
            (
                json!({"tokens_per_second": 1e300}),
                "simulation.tokens_per_second must be in [1, 100000]",
            ),
            (
                json!({"jitter": 1.5}),
                "simulation.jitter must be in [0, 1]",
            ),
            (
                json!({"first_token_ms": 3_600_000}),
                "simulation.first_token_ms must be at most 60000",
            ),
        ];
        for stream in [true, false] {
            for (simulation, message) in &cases {
                let body = chat_request(stream, json!({"simulation": simulation}));
                let response = request(address, "POST", "/v1/chat/completions", &body, LIMIT).await;
                assert_eq!(response.status, 400, "{simulation}");
                assert_eq!(response.json()["error"]["message"], *message);
            }
        }
        assert_eq!(generations.running() + generations.completed(), 0);
    }

    #[tokio::test]
    async fn a_two_megabyte_prompt_costs_what_a_short_one_does() {
        let (address, _) = start_chat_server(Default::default()).await;
        let simulation = json!({"tokens_per_second": 2000, "jitter": 0, "first_token_ms": 0});
        let mut sizes = Vec::new();
        for prompt in ["short question".to_owned(), "word ".repeat(390_000)] {
            let body = json!({
                "model": "sim", "stream": true, "stream_options": {"include_usage": true},
                "messages": [{"role": "user", "content": prompt}], "simulation": simulation,
            });
            let started = tokio::time::Instant::now();
            let response = request(address, "POST", "/v1/chat/completions", &body, LIMIT).await;
            let took = started.elapsed();
            let chunks = chunks_of(&response);
            let usage = &chunks[chunks.len() - 2]["usage"];
            assert_eq!(usage["prompt_tokens"], model::count_tokens(&prompt));
            eprintln!(
                "prompt of {} bytes: {} bytes of response, {} tokens, in {took:?}",
                prompt.len(),
                response.body.len(),
                usage["completion_tokens"]
            );
            assert!(content_of(&chunks).starts_with("You asked: «"));
            sizes.push((
                response.body.len(),
                usage["completion_tokens"].as_u64().unwrap(),
            ));
        }
        let [(short_bytes, short_tokens), (long_bytes, long_tokens)] = sizes[..] else {
            unreachable!()
        };
        assert!(
            long_bytes < 2 * short_bytes + 4096,
            "{long_bytes} bytes vs {short_bytes}"
        );
        assert!(
            long_tokens <= short_tokens + 200,
            "{long_tokens} tokens vs {short_tokens}"
        );
    }

    #[tokio::test]
    async fn echoed_fields_are_bounded() {
        let (address, generations) = start_chat_server(Default::default()).await;
        // The model name is repeated in every chunk: a long one is refused, not repeated.
        let long = "m".repeat(1_900_000);
        let body = chat_request(true, json!({"model": long}));
        let response = request(address, "POST", "/v1/chat/completions", &body, LIMIT).await;
        assert_eq!(response.status, 400);
        assert_eq!(
            response.json()["error"]["message"],
            "model must be at most 256 bytes"
        );
        assert!(response.body.len() < 200);
        let longest = "m".repeat(256);
        let body = chat_request(true, json!({"model": longest}));
        let response = request(address, "POST", "/v1/chat/completions", &body, LIMIT).await;
        assert_eq!(response.status, 200);
        assert_eq!(chunks_of(&response)[0]["model"], longest.as_str());
        // Tool names are echoed too: the APIs' rule.
        for tools in [
            json!([{"type": "function", "function": {"name": "x".repeat(65)}}]),
            json!([{"type": "function", "function": {"name": "no spaces"}}]),
            Value::Array(vec![
                json!({"type": "function", "function": {"name": "f"}});
                129
            ]),
        ] {
            let body = chat_request(true, json!({"tools": tools}));
            let response = request(address, "POST", "/v1/chat/completions", &body, LIMIT).await;
            assert_eq!(response.status, 400, "{}", response.json());
        }
        assert_eq!(generations.running(), 0);
    }

    #[tokio::test]
    async fn client_chosen_policies_are_capped() {
        let (address, _) = start_chat_server(Default::default()).await;
        let cases = [
            (
                json!({"policy": "fixed_batch", "max_tokens": usize::MAX}),
                "tokenflush: max_tokens must be at most 1024",
            ),
            (
                json!({"policy": "time_bounded", "max_tokens": 4, "max_latency_ms": u64::MAX}),
                "tokenflush: max_latency_ms must be at most 10000",
            ),
        ];
        for (policy, message) in cases {
            let body = chat_request(true, json!({"tokenflush": policy}));
            let response = request(address, "POST", "/v1/chat/completions", &body, LIMIT).await;
            assert_eq!(response.status, 400);
            assert_eq!(response.json()["error"]["message"], message);
        }
        let body = chat_request(
            true,
            json!({"tokenflush": {"policy": "fixed_batch", "max_tokens": 1024}}),
        );
        let response = request(address, "POST", "/v1/chat/completions", &body, LIMIT).await;
        assert_eq!(content_of(&chunks_of(&response)), model::answer(PROMPT));
    }
}

/// The proxy against upstreams that stall, vanish or flood, and clients that ask too much.
mod proxy_bounds {
    use super::*;
    use example_servers::policy::PolicyConfig;
    use example_servers::proxy::Timeouts;
    use futures::StreamExt as _;
    use tokio::net::TcpStream;
    use tokio::time::Instant;

    fn content(text: &str) -> String {
        json!({
            "id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 7, "model": "up",
            "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": null}],
        })
        .to_string()
    }

    async fn start_proxy(upstream: SocketAddr, timeouts: Timeouts) -> SocketAddr {
        let router = proxy::app(proxy::Config {
            upstream: format!("http://{upstream}/v1"),
            policy: PolicyConfig::Immediate,
            timeouts,
        })
        .unwrap();
        serve::serve(router).await
    }

    /// Short bounds for tests: keep-alive every 200 ms.
    fn short(response_headers: u64, idle: u64) -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(1),
            response_headers: Duration::from_millis(response_headers),
            idle: Duration::from_millis(idle),
            keep_alive: Duration::from_millis(200),
        }
    }

    /// An upstream that waits `before_headers`, then streams `events` (data, with a pause in
    /// ms before each) and ends its body (without `[DONE]` unless an event is it).
    async fn upstream(before_headers: Duration, events: Vec<(u64, String)>) -> SocketAddr {
        let router = Router::new().route(
            "/v1/chat/completions",
            post(move || {
                let events = events.clone();
                async move {
                    tokio::time::sleep(before_headers).await;
                    let frames = futures::stream::iter(events).then(|(pause, data)| async move {
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                        Ok::<_, std::convert::Infallible>(format!("data: {data}\n\n"))
                    });
                    (
                        [("content-type", "text/event-stream")],
                        axum::body::Body::from_stream(frames),
                    )
                }
            }),
        );
        serve::serve(router).await
    }

    fn streamed() -> Value {
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "q"}]})
    }

    /// How many keep-alive comments a body holds.
    fn comments(body: &[u8]) -> usize {
        String::from_utf8_lossy(body).matches(": ping\n\n").count()
    }

    #[tokio::test]
    async fn an_upstream_that_stalls_mid_stream_gets_keep_alives_then_an_error_event() {
        let stalled = upstream(
            Duration::ZERO,
            vec![(0, content("first ")), (60_000, content("never"))],
        )
        .await;
        let proxy = start_proxy(stalled, short(5_000, 1_000)).await;
        let started = Instant::now();
        let response = request(proxy, "POST", "/v1/chat/completions", &streamed(), LIMIT).await;
        let took = started.elapsed();
        let chunks = chunks_of(&response);
        assert_eq!(content_of(&chunks), "first ");
        assert_eq!(
            chunks.last().unwrap()["error"]["message"],
            "the upstream sent nothing for 1 s"
        );
        assert!(!chunks.contains(&Value::from("[DONE]")));
        // A second of silence at a comment every 200 ms.
        let pings = comments(&response.body);
        eprintln!("stalled upstream: error after {took:?}, {pings} keep-alive comments");
        assert!((3..=5).contains(&pings), "{pings} comments");
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(4),
            "{took:?}"
        );
    }

    #[tokio::test]
    async fn an_upstream_that_never_sends_headers_gets_a_streamed_error_or_a_504() {
        let silent = upstream(Duration::from_secs(60), vec![]).await;
        let proxy = start_proxy(silent, short(1_000, 1_500)).await;
        // Streaming: the response starts after one keep-alive interval, with comments, and
        // ends with the error event when the bound passes.
        let started = Instant::now();
        let response = request(proxy, "POST", "/v1/chat/completions", &streamed(), LIMIT).await;
        let took = started.elapsed();
        assert_eq!(response.status, 200);
        let chunks = chunks_of(&response);
        assert_eq!(
            chunks.last().unwrap()["error"]["message"],
            "the upstream sent no response headers within 1 s"
        );
        assert!(comments(&response.body) >= 2, "{:?}", response.body);
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(4),
            "{took:?}"
        );
        // A whole answer's headers come when it is done: the idle bound, then a 504.
        let mut whole = streamed();
        whole["stream"] = json!(false);
        let started = Instant::now();
        let response = request(proxy, "POST", "/v1/chat/completions", &whole, LIMIT).await;
        let took = started.elapsed();
        assert_eq!(response.status, 504);
        assert_eq!(
            response.json()["error"]["message"],
            "the upstream sent no response headers within 1.5 s"
        );
        assert!(took >= Duration::from_millis(1_500) && took < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn an_upstream_slow_to_answer_gets_keep_alives_and_then_streams_whole() {
        let slow = upstream(
            Duration::from_millis(700),
            vec![
                (0, content("late ")),
                (0, content("answer")),
                (0, "[DONE]".into()),
            ],
        )
        .await;
        let proxy = start_proxy(slow, short(5_000, 5_000)).await;
        let response = request(proxy, "POST", "/v1/chat/completions", &streamed(), LIMIT).await;
        assert_eq!(response.status, 200);
        assert!(comments(&response.body) >= 2);
        let chunks = chunks_of(&response);
        assert_eq!(content_of(&chunks), "late answer");
        assert_eq!(chunks.last().unwrap(), "[DONE]");
    }

    #[tokio::test]
    async fn an_upstream_that_ends_without_done_is_an_error_not_a_clean_end() {
        let cut = upstream(
            Duration::ZERO,
            vec![(0, content("cut ")), (5, content("short"))],
        )
        .await;
        let proxy = start_proxy(cut, Timeouts::default()).await;
        for (path, body) in [
            ("/v1/chat/completions", streamed()),
            (
                "/v1/responses",
                json!({"model": "m", "stream": true, "input": "q"}),
            ),
            (
                "/v1/messages",
                json!({"model": "m", "stream": true, "max_tokens": 10, "messages": [{"role": "user", "content": "q"}]}),
            ),
        ] {
            let response = request(proxy, "POST", path, &body, LIMIT).await;
            let events = response.events();
            let last = events.last().unwrap();
            let text = String::from_utf8_lossy(&response.body);
            assert!(
                text.contains("cut ") && text.contains("short"),
                "{path}: {text}"
            );
            assert!(
                last.data().contains(
                    "the upstream's stream ended before its last event: the answer may be cut short"
                ),
                "{path}: {}",
                last.data()
            );
            assert!(
                !text.contains("[DONE]")
                    && !text.contains("message_stop")
                    && !text.contains("response.completed"),
                "{path}"
            );
        }
    }

    /// A loopback port that accepts no more connections: its accept queue is full, so a
    /// new connection's handshake is never answered.
    async fn unanswered() -> (SocketAddr, tokio::net::TcpListener, Vec<TcpStream>) {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let listener = socket.listen(0).unwrap();
        let address = listener.local_addr().unwrap();
        let mut held = Vec::new();
        loop {
            match tokio::time::timeout(Duration::from_millis(300), TcpStream::connect(address))
                .await
            {
                Ok(Ok(stream)) => held.push(stream),
                _ => break,
            }
            assert!(held.len() < 64, "the accept queue never fills");
        }
        (address, listener, held)
    }

    #[tokio::test]
    async fn an_upstream_that_does_not_accept_fails_after_the_connect_timeout() {
        let (address, _listener, _held) = unanswered().await;
        let mut timeouts = short(5_000, 5_000);
        timeouts.connect = Duration::from_millis(500);
        let proxy = start_proxy(address, timeouts).await;
        // A whole answer: a 502. A stream: started after the keep-alive interval (200 ms),
        // then the error event.
        for stream in [false, true] {
            let mut body = streamed();
            body["stream"] = json!(stream);
            let started = Instant::now();
            let response = request(proxy, "POST", "/v1/chat/completions", &body, LIMIT).await;
            let took = started.elapsed();
            let message = if stream {
                assert_eq!(response.status, 200);
                chunks_of(&response).last().unwrap()["error"]["message"].clone()
            } else {
                assert_eq!(response.status, 502);
                response.json()["error"]["message"].clone()
            };
            let message = message.as_str().unwrap();
            assert!(
                message.starts_with("the upstream is unreachable"),
                "{message}"
            );
            assert!(
                took >= Duration::from_millis(500) && took < Duration::from_secs(4),
                "{took:?}"
            );
        }
    }

    #[tokio::test]
    async fn client_chosen_policies_are_capped() {
        let any = upstream(Duration::ZERO, vec![(0, "[DONE]".into())]).await;
        let proxy = start_proxy(any, Timeouts::default()).await;
        let mut body = streamed();
        body["tokenflush"] = json!({"policy": "fixed_batch", "max_tokens": usize::MAX});
        let response = request(proxy, "POST", "/v1/chat/completions", &body, LIMIT).await;
        assert_eq!(response.status, 400);
        assert_eq!(
            response.json()["error"]["message"],
            "tokenflush: max_tokens must be at most 1024"
        );
    }

    #[tokio::test]
    async fn a_responses_answer_larger_than_the_cap_ends_with_an_error_event() {
        let piece = "y".repeat(64 * 1024);
        // 9 MiB, past the 8 MiB the Responses format may hold.
        let mut events: Vec<(u64, String)> = (0..144).map(|_| (0, content(&piece))).collect();
        events.push((0, "[DONE]".into()));
        let flood = upstream(Duration::ZERO, events).await;
        let proxy = start_proxy(flood, Timeouts::default()).await;
        let body = json!({"model": "m", "stream": true, "input": "q"});
        let response = request(proxy, "POST", "/v1/responses", &body, LIMIT).await;
        let events = response.events();
        let last = events.last().unwrap();
        assert!(
            last.data()
                .contains("the upstream's answer is larger than 8388608 bytes"),
            "{}",
            last.data()
        );
        assert!(!events
            .iter()
            .any(|event| event.event_type() == "response.completed"));
    }

    #[tokio::test]
    async fn the_byte_cap_bounds_every_chunk_whatever_the_policy() {
        let piece = "x".repeat(1024);
        let mut events: Vec<(u64, String)> = (0..256).map(|_| (0, content(&piece))).collect();
        events.push((0, "[DONE]".into()));
        let flood = upstream(Duration::ZERO, events).await;
        let router = proxy::app(proxy::Config {
            upstream: format!("http://{flood}/v1"),
            policy: PolicyConfig::FixedBatch { max_tokens: 1024 },
            ..Default::default()
        })
        .unwrap();
        let proxy = serve::serve(router).await;
        let response = request(proxy, "POST", "/v1/chat/completions", &streamed(), LIMIT).await;
        let chunks = chunks_of(&response);
        assert_eq!(content_of(&chunks).len(), 256 * 1024);
        let largest = chunks
            .iter()
            .filter_map(|chunk| chunk["choices"][0]["delta"]["content"].as_str())
            .map(str::len)
            .max()
            .unwrap();
        eprintln!(
            "256 KiB of text in {} writes, the largest {largest} bytes",
            writes(&chunks)
        );
        assert!(largest <= 64 * 1024 + 1024, "{largest}");
        assert!(writes(&chunks) >= 4);
    }
}

/// The Responses and messages APIs, through the proxy, of a chat completions upstream.
mod translated {
    use super::*;
    use common::{Api, Summary};
    use example_servers::policy::PolicyConfig;

    fn weather() -> (&'static str, Value) {
        (
            "get_weather",
            json!({"type": "object", "properties": {"city": {"type": "string"}}}),
        )
    }

    /// The summary without call ids (each request has its own), which must look like calls.
    fn without_ids(mut summary: Summary) -> Summary {
        for call in &mut summary.calls {
            assert!(call["id"].as_str().unwrap().starts_with("call_"), "{call}");
            call["id"] = Value::Null;
        }
        summary.normalized()
    }

    #[tokio::test]
    async fn responses_and_messages_clients_get_what_a_chat_client_gets() {
        // The translated requests do not carry the chat server's extensions: its defaults
        // must be fast.
        let (upstream, _) = start_chat_server(chat_server::Config {
            policy: PolicyConfig::Immediate,
            simulation: serde_json::from_value(fast()).unwrap(),
            ..Default::default()
        })
        .await;
        let router = proxy::app(proxy::Config {
            upstream: format!("http://{upstream}/v1"),
            policy: PolicyConfig::FixedBatch { max_tokens: 4 },
            ..Default::default()
        })
        .unwrap();
        let proxy = serve::serve(router).await;
        let (name, parameters) = weather();
        let tools = [(name, parameters)];
        let direct = Api::Chat.request(
            PROMPT,
            true,
            true,
            &tools,
            json!({"simulation": fast(), "stream_options": {"include_usage": true}}),
        );
        let direct = request(upstream, "POST", Api::Chat.path(), &direct, LIMIT).await;
        let expected = without_ids(Summary::of_items(&Api::Chat.decode(&direct.body)));
        assert_eq!(expected.text, model::tool_preamble(PROMPT, name));
        for api in [Api::Chat, Api::Responses, Api::Messages] {
            for stream in [true, false] {
                let mut extra = json!({"simulation": fast()});
                if api == Api::Chat && stream {
                    extra["stream_options"] = json!({"include_usage": true});
                }
                let body = api.request(PROMPT, stream, true, &tools, extra);
                let response = request(proxy, "POST", api.path(), &body, LIMIT).await;
                assert_eq!(response.status, 200, "{api:?}: {:?}", response.body);
                let summary = if stream {
                    Summary::of_items(&api.decode(&response.body))
                } else {
                    api.summary_of_whole(&response.json())
                };
                assert_eq!(without_ids(summary), expected, "{api:?}, stream {stream}");
            }
        }
    }

    #[tokio::test]
    async fn the_upstream_gets_a_chat_request_with_the_same_question_tools_and_limits() {
        let requests: Arc<Mutex<Vec<Value>>> = Arc::default();
        let upstream = serve::serve(Router::new().route(
            "/v1/chat/completions",
            post({
                let requests = Arc::clone(&requests);
                move |body: axum::body::Bytes| async move {
                    requests
                        .lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                    ([("content-type", "text/event-stream")], "data: [DONE]\n\n")
                }
            }),
        ))
        .await;
        let router = proxy::app(proxy::Config {
            upstream: format!("http://{upstream}/v1"),
            ..Default::default()
        })
        .unwrap();
        let proxy = serve::serve(router).await;
        let (name, parameters) = weather();
        let tools = [(name, parameters.clone())];
        let responses = Api::Responses.request(
            "q",
            true,
            true,
            &tools,
            json!({"max_output_tokens": 50, "temperature": 0.2, "metadata": {"a": "b"}}),
        );
        let messages = Api::Messages.request("q", true, true, &tools, json!({"temperature": 0.2}));
        for body in [responses, messages] {
            let path = if body.get("input").is_some() {
                "/v1/responses"
            } else {
                "/v1/messages"
            };
            request(proxy, "POST", path, &body, LIMIT).await;
        }
        let got = requests.lock().unwrap().clone();
        assert_eq!(got.len(), 2);
        let expected_tools =
            json!([{"type": "function", "function": {"name": name, "parameters": parameters}}]);
        for (request, max_tokens, effort) in [(&got[0], 50, "low"), (&got[1], 1024, "medium")] {
            assert_eq!(
                request["messages"],
                json!([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "q"}])
            );
            assert_eq!(request["stream"], true);
            assert_eq!(request["stream_options"], json!({"include_usage": true}));
            assert_eq!(request["max_tokens"], max_tokens);
            assert_eq!(request["reasoning_effort"], effort);
            assert_eq!(request["temperature"], 0.2);
            let mut tools = request["tools"].clone();
            if let Some(description) = tools[0]["function"].as_object_mut() {
                description.retain(|_, value| !value.is_null());
            }
            assert_eq!(tools, expected_tools);
            assert!(request.get("metadata").is_none());
        }
        // What a chat request cannot carry is refused, not dropped.
        let image = json!({"model": "m", "stream": true, "max_tokens": 5, "messages": [
            {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "x"}}]}]});
        let refused = request(proxy, "POST", "/v1/messages", &image, LIMIT).await;
        assert_eq!(refused.status, 400);
        assert_eq!(refused.json()["type"], "error");
    }
}

/// A resumable stream of the Responses API: cut, then picked up with `Last-Event-ID`.
mod resumable_responses {
    use super::*;
    use common::{Api, Summary};
    use http_body_util::BodyExt;
    use tokenflush::sse::Parser;

    /// The body of a response to `request`, up to `cut` bytes (then the connection is
    /// dropped).
    async fn read(
        address: SocketAddr,
        request: hyper::Request<http_body_util::Full<bytes::Bytes>>,
        cut: Option<usize>,
    ) -> Vec<u8> {
        let socket = tokio::net::TcpStream::connect(address).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(socket))
                .await
                .unwrap();
        let connection = tokio::spawn(connection);
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        let mut received = Vec::new();
        while let Some(Ok(frame)) = body.frame().await {
            if let Ok(data) = frame.into_data() {
                received.extend_from_slice(&data);
            }
            if cut.is_some_and(|cut| received.len() >= cut) {
                received.truncate(cut.unwrap());
                break;
            }
        }
        connection.abort();
        received
    }

    #[tokio::test]
    async fn a_cut_responses_stream_resumes_where_it_stopped() {
        let (address, _) = start_chat_server(Default::default()).await;
        let simulation = json!({"tokens_per_second": 200, "jitter": 0, "first_token_ms": 0});
        let body = Api::Responses.request(
            PROMPT,
            true,
            true,
            &[],
            json!({"resume": true, "simulation": simulation}),
        );
        let start = hyper::Request::post("/v1/responses")
            .header("host", address.to_string())
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_string(),
            )))
            .unwrap();
        let first = read(address, start, Some(3000)).await;
        let mut parser = Parser::new();
        parser.feed(&first);
        while parser.next_event().unwrap().is_some() {}
        let last_id = parser.last_event_id().to_owned();
        assert!(!last_id.is_empty(), "the events have ids");
        let again = hyper::Request::get("/v1/resume")
            .header("host", address.to_string())
            .header("last-event-id", &last_id)
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        let rest = read(address, again, None).await;
        // The events up to the last whole one, then the rest: one complete stream.
        let whole_events = {
            let end = first.windows(2).rposition(|pair| pair == b"\n\n").unwrap();
            [&first[..end + 2], &rest[..]].concat()
        };
        let summary = Summary::of_items(&Api::Responses.decode(&whole_events));
        assert_eq!(summary.reasoning, model::reasoning());
        assert_eq!(summary.text, model::answer(PROMPT));
        assert_eq!(
            summary.usage.output_tokens() as usize,
            model::tokenize(model::reasoning()).len()
                + model::tokenize(&model::answer(PROMPT)).len()
        );
    }
}
