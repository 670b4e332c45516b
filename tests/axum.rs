//! `sse::EncodeSse` as an axum response (feature `axum`): the response's headers and body, event ids, keep-alive, errors
//! as a last event, and serving it with `axum::serve` over a real socket: streaming without
//! buffering, and the model stopping when the client goes away.

#![cfg(feature = "axum")]

#[path = "support/serve.rs"]
mod serve;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures::stream::{self, StreamExt};
use http_body_util::BodyExt;
use serve::{EndlessModel, Probe, RawClient};
use tokenflush::policy::{FixedBatch, Immediate, TimeBounded};
use tokenflush::sse::{EncodeSseExt, KeepAlive, Parser, TextEvents};
use tokenflush::{Chunk, FlushExt, TryFlushExt};
use tokio::time::Instant;

async fn body_text(response: axum::response::Response) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn the_response_has_the_event_stream_headers_and_one_event_per_chunk() {
    let chunks = stream::iter(["The", " answer", " is", " 42"]).flush_with(FixedBatch::new(2));
    let response = chunks.encode_sse().into_response();
    assert_eq!(response.status(), 200);
    let headers: Vec<(&str, &str)> = response
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str(), value.to_str().unwrap()))
        .collect();
    assert_eq!(headers, tokenflush::sse::headers());
    assert_eq!(
        body_text(response).await,
        "data: The answer\n\ndata:  is 42\n\n"
    );
}

#[tokio::test]
async fn event_ids_count_up_from_the_first() {
    let chunks = stream::iter(["a", "b", "c"]).flush_with(Immediate::new());
    let response = chunks
        .encode_sse_as(TextEvents::new().with_event_ids(41))
        .into_response();
    let mut parser = Parser::new();
    parser.feed(body_text(response).await.as_bytes());
    let ids: Vec<String> = std::iter::from_fn(|| parser.next_event().unwrap())
        .map(|event| event.last_event_id().to_owned())
        .collect();
    assert_eq!(ids, ["41", "42", "43"]);
}

#[tokio::test]
async fn an_upstream_error_becomes_the_last_event_not_a_cut_stream() {
    let tokens = stream::iter([Ok("partial "), Ok("answer"), Err("GPU fell over")]);
    let response = tokens
        .try_flush_with(FixedBatch::new(8))
        .encode_sse()
        .into_response();
    let text = body_text(response).await;
    assert_eq!(
        text,
        "data: partial answer\n\nevent: error\ndata: {\"message\":\"GPU fell over\"}\n\n"
    );
    let mut parser = Parser::new();
    parser.feed(text.as_bytes());
    parser
        .finish()
        .expect("the stream ends cleanly, between events");
}

#[tokio::test(start_paused = true)]
async fn keep_alive_fills_a_long_silence() {
    let chunks = stream::once(async {
        tokio::time::sleep(Duration::from_secs(40)).await;
        Chunk::new("done thinking").unwrap()
    });
    let start = Instant::now();
    let frames: Vec<(u64, Bytes)> = chunks
        .encode_sse()
        .with_keep_alive(KeepAlive::new())
        .into_response()
        .into_body()
        .into_data_stream()
        .map(|frame| (start.elapsed().as_secs(), frame.unwrap()))
        .collect()
        .await;
    assert_eq!(
        frames,
        [
            (15, Bytes::from(": ping\n\n")),
            (30, Bytes::from(": ping\n\n")),
            (40, Bytes::from("data: done thinking\n\n")),
        ]
    );
}

#[tokio::test]
async fn openai_format_frames_the_whole_completion() {
    use tokenflush::sse::OpenAiChat;

    let chunks = stream::iter(["Hel", "lo"]).flush_with(Immediate::new());
    let response = chunks
        .encode_sse_as(OpenAiChat::new("chatcmpl-7", "demo").with_created(7))
        .into_response();
    let text = body_text(response).await;
    let mut parser = Parser::new();
    parser.feed(text.as_bytes());
    let data: Vec<String> = std::iter::from_fn(|| parser.next_event().unwrap())
        .map(|event| event.into_data())
        .collect();
    assert_eq!(data.len(), 5, "role, two deltas, finish, [DONE]: {data:?}");
    assert_eq!(data[4], "[DONE]");
    let content: String = data[..4]
        .iter()
        .map(|data| serde_json::from_str::<serde_json::Value>(data).unwrap())
        .filter_map(|chunk| {
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .map(str::to_owned)
        })
        .collect();
    assert_eq!(content, "Hello");
}

/// Serves `app` with `axum::serve` on a loopback port.
async fn serve(app: Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

#[tokio::test]
async fn a_chunk_reaches_the_client_while_the_model_still_works_on_the_next() {
    let gate = Arc::new(tokio::sync::Notify::new());
    let app = Router::new().route(
        "/",
        get({
            let gate = Arc::clone(&gate);
            move || async move {
                let model = stream::once(async { "first" }).chain(stream::once(async move {
                    gate.notified().await;
                    "second"
                }));
                model
                    .flush_with(TimeBounded::new(4, Duration::from_millis(100)))
                    .encode_sse()
            }
        }),
    );
    let address = serve(app).await;
    let mut client = RawClient::send(address, "GET", "/", "").await;
    // The model cannot go on until the client has seen the first chunk.
    client
        .read_until("data: first\n\n", Duration::from_secs(5))
        .await;
    let head = serve::head(client.received());
    assert!(head.contains("content-type: text/event-stream"), "{head}");
    assert!(head.contains("x-accel-buffering: no"), "{head}");
    gate.notify_one();
    client
        .read_until("data: second\n\n", Duration::from_secs(5))
        .await;
}

#[tokio::test]
async fn the_model_is_dropped_within_one_token_of_the_client_going_away() {
    let probes: Arc<Mutex<Vec<Arc<Probe>>>> = Arc::default();
    let app = Router::new().route(
        "/",
        get({
            let probes = Arc::clone(&probes);
            move || async move {
                let (model, probe) = EndlessModel::new(Duration::from_millis(10));
                probes.lock().unwrap().push(probe);
                model
                    .flush_with(TimeBounded::new(2, Duration::from_millis(15)))
                    .encode_sse()
                    .with_keep_alive(KeepAlive::new())
            }
        }),
    );
    let address = serve(app).await;
    let mut client = RawClient::send(address, "GET", "/", "").await;
    client.read_until("tok3 ", Duration::from_secs(5)).await;
    let probe = probes.lock().unwrap().pop().unwrap();
    let emitted_at_close = probe.emitted();
    let closed_at = client.close();
    let dropped_at = probe
        .wait_dropped(Duration::from_secs(5))
        .await
        .expect("the model is dropped when the client goes away");
    let after = probe.emitted() - emitted_at_close;
    eprintln!(
        "axum: model dropped {:?} after the client closed, {after} token(s) later",
        dropped_at.saturating_duration_since(closed_at)
    );
    assert!(
        after <= 1,
        "the model made {after} tokens after the client left"
    );
}
