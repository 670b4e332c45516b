//! The relay end to end, on loopback: the chat server example (in process) as its upstream,
//! async-openai between them, and a client reading the relay's stream with tokenflush's own
//! decoder. The finish reason (`length` included), tool calls and usage come through, the
//! text is re-chunked; and the README's recipe is this package's code.

use std::net::SocketAddr;
use std::time::Duration;

use example_servers::chat_server::model::{self, Ask, Simulation, Tool};
use example_servers::chat_server::{self, Config};
use example_servers::policy::PolicyConfig;
use example_servers::serve::{serve, Limits};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tokenflush::llm::{FinishReason, Item, Usage};
use tokenflush::sse::{Decode, OpenAiChat, Parser};

const PROMPT: &str = "Relayed «whole»? 日本 🚀";

async fn listen(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(serve(
        listener,
        router,
        Limits::default(),
        std::future::pending(),
    ));
    address
}

/// The chat server, fast and chatty (an event per token), and the relay in front of it.
async fn start() -> (SocketAddr, SocketAddr) {
    let (router, _) = chat_server::app(Config {
        policy: PolicyConfig::Immediate,
        simulation: Simulation {
            tokens_per_second: 500.0,
            jitter: 0.0,
            first_token_ms: 0,
            ..Simulation::default()
        },
        ..Config::default()
    });
    let upstream = listen(router).await;
    let client = example_openai_client::client(&format!("http://{upstream}/v1"), "-");
    let relay = listen(example_openai_client::app(client)).await;
    (upstream, relay)
}

/// The body of `POST /v1/chat/completions` with `body`.
async fn post(address: SocketAddr, body: &Value) -> (u16, Vec<u8>) {
    let socket = tokio::net::TcpStream::connect(address).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(socket))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = hyper::Request::post("/v1/chat/completions")
        .header("host", address.to_string())
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes(body)))
        .unwrap();
    let exchange = async {
        let response = sender.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body.to_vec())
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .expect("the answer ends in time")
}

fn bytes(body: &Value) -> axum::body::Bytes {
    axum::body::Bytes::from(body.to_string())
}

/// The items of a chat completion stream, decoded by tokenflush; how many events held text.
fn decode(body: &[u8]) -> (Vec<Item>, usize) {
    let mut parser = Parser::new();
    parser.feed(body);
    let mut decoder = OpenAiChat::default();
    let mut items = Vec::new();
    let mut text_events = 0;
    while let Some(event) = parser.next_event().unwrap() {
        let before = items.len();
        decoder.decode(&event, &mut items).unwrap();
        text_events += usize::from(
            items[before..]
                .iter()
                .any(|item| matches!(item, Item::Content(_))),
        );
    }
    assert!(decoder.is_complete(), "the stream ends with [DONE]");
    (items, text_events)
}

fn text(items: &[Item]) -> String {
    items
        .iter()
        .filter_map(|item| match item {
            Item::Content(text) => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn request(extra: Value) -> Value {
    let mut body = json!({"model": "sim", "stream": true,
                          "messages": [{"role": "user", "content": PROMPT}]});
    for (key, value) in extra.as_object().unwrap() {
        body[key] = value.clone();
    }
    body
}

#[tokio::test]
async fn the_finish_reason_usage_and_tool_calls_come_through_and_the_text_is_rechunked() {
    let (_, relay) = start().await;
    let parameters = json!({"type": "object", "properties": {"city": {"type": "string"}}});
    let body = request(json!({
        "stream_options": {"include_usage": true},
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": parameters}}],
    }));
    let (status, relayed) = post(relay, &body).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&relayed));
    let (items, _) = decode(&relayed);
    let tool = Tool::new("get_weather", parameters).unwrap();
    let ask = Ask {
        prompt: PROMPT.to_owned(),
        tool: Some(tool.clone()),
        ..Ask::default()
    };
    let plan = model::plan(&ask, "");
    assert_eq!(text(&items), model::tool_preamble(PROMPT, "get_weather"));
    let arguments: String = items
        .iter()
        .filter_map(|item| match item {
            Item::ToolCall(call) => Some(call.arguments()),
            _ => None,
        })
        .collect();
    assert_eq!(arguments, tool.arguments(PROMPT));
    let named = items.iter().find_map(|item| match item {
        Item::ToolCall(call) if call.name().is_some() => Some(call.clone()),
        _ => None,
    });
    let named = named.expect("the call's first fragment names it");
    assert_eq!(named.name(), Some("get_weather"));
    assert!(named.id().unwrap().starts_with("call_"));
    assert!(items.contains(&Item::Finish(FinishReason::ToolCalls)));
    assert!(items.contains(&Item::Usage(Usage::new(
        plan.usage.input_tokens(),
        plan.usage.output_tokens()
    ))));
    // Nothing after the usage but the end.
    assert!(matches!(items.last(), Some(Item::Usage(_))));
}

#[tokio::test]
async fn an_upstream_length_goes_out_as_length_and_usage_only_when_asked() {
    let (_, relay) = start().await;
    let (_, relayed) = post(relay, &request(json!({"max_tokens": 5}))).await;
    let (items, _) = decode(&relayed);
    assert_eq!(text(&items), "You asked: «");
    assert!(items.contains(&Item::Finish(FinishReason::Length)));
    assert!(!items.iter().any(|item| matches!(item, Item::Usage(_))));
}

#[tokio::test]
async fn the_relay_writes_fewer_events_than_a_chatty_upstream() {
    let (upstream, relay) = start().await;
    let body = request(json!({}));
    let (_, direct) = post(upstream, &body).await;
    let (_, relayed) = post(relay, &body).await;
    let (direct, direct_events) = decode(&direct);
    let (relayed, relayed_events) = decode(&relayed);
    assert_eq!(text(&relayed), model::answer(PROMPT));
    assert_eq!(text(&relayed), text(&direct));
    eprintln!("{direct_events} text events upstream, {relayed_events} relayed");
    // TimeBounded::new(4, 100ms) on a model at 500 tokens/s: up to four tokens a write.
    assert!(
        relayed_events * 2 <= direct_events,
        "{relayed_events} vs {direct_events}"
    );
}

#[test]
fn the_readme_recipe_is_this_packages_code() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let source =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).unwrap();
    let marker = "<!-- the code of examples/openai-client/src/lib.rs -->\n```rust,ignore\n";
    let start = readme.find(marker).expect("the README has the recipe") + marker.len();
    let recipe = &readme[start..start + readme[start..].find("```\n").unwrap()];
    let start = source.find("// recipe: start\n").unwrap() + "// recipe: start\n".len();
    let code = &source[start..source.find("// recipe: end\n").unwrap()];
    assert_eq!(recipe, code);
}
