//! `sse::EncodeSse` as an `http_body::Body` (feature `http-body`): one frame per chunk, the end of the body, errors
//! as a last event in each format, keep-alive, the response headers, and serving it with hyper
//! over a real socket: streaming without buffering, and the model stopping when the client goes.

#![cfg(feature = "http-body")]

#[path = "support/serve.rs"]
mod serve;

use std::convert::Infallible;
use std::pin::pin;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, Stream, StreamExt};
use http_body_util::BodyExt;
use hyper::body::Body;
use tokenflush::policy::{FixedBatch, Immediate};
use tokenflush::sse::{EncodeSseExt, KeepAlive, ParsedEvent, Parser};
use tokenflush::{Chunk, FlushExt, TryFlushExt};
use tokio::time::Instant;

fn chunk(text: &str) -> Chunk {
    Chunk::new(text).unwrap()
}

/// Polls the body frame by frame, noting `is_end_stream` after each.
async fn frames_of<B>(body: B) -> Vec<(Bytes, bool)>
where
    B: Body<Data = Bytes, Error = Infallible>,
{
    let mut body = pin!(body);
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        let data = frame.unwrap().into_data().expect("only data frames");
        frames.push((data, body.is_end_stream()));
    }
    frames
}

fn events_of(bytes: &[u8]) -> Vec<ParsedEvent> {
    let mut parser = Parser::new();
    parser.feed(bytes);
    let events = std::iter::from_fn(|| parser.next_event().unwrap()).collect();
    parser.finish().expect("the body ends between events");
    events
}

#[tokio::test]
async fn each_chunk_is_one_data_frame_until_the_body_ends() {
    let mut body = pin!(stream::iter([chunk("Hel"), chunk("lo\nworld")]).encode_sse());
    assert!(!body.is_end_stream());
    assert_eq!(Body::size_hint(&*body).lower(), 0);
    assert_eq!(
        Body::size_hint(&*body).upper(),
        None,
        "a stream's length is unknown"
    );
    let mut frames = Vec::new();
    while let Some(frame) = body.frame().await {
        frames.push(frame.unwrap().into_data().unwrap());
        assert!(!body.is_end_stream());
    }
    assert_eq!(frames, ["data: Hel\n\n", "data: lo\ndata: world\n\n"]);
    assert!(body.is_end_stream());
    assert_eq!(Body::size_hint(&*body).exact(), Some(0));
}

#[tokio::test]
async fn an_empty_stream_is_an_empty_body() {
    let mut body = pin!(stream::empty::<Chunk>().encode_sse());
    assert!(body.frame().await.is_none());
    assert!(body.is_end_stream());
    assert_eq!(Body::size_hint(&*body).exact(), Some(0));
}

#[tokio::test]
async fn an_upstream_error_ends_the_body_with_an_error_event_after_the_buffered_text() {
    let tokens = stream::iter([Ok("Hel"), Ok("lo"), Err("model overloaded"), Ok("never")]);
    let body = tokens.try_flush_with(FixedBatch::new(16)).encode_sse();
    let frames = frames_of(body).await;
    let bytes: Vec<u8> = frames.iter().flat_map(|(data, _)| data.to_vec()).collect();
    let events = events_of(&bytes);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[0].data(),
        "Hello",
        "text before the error is sent first"
    );
    assert_eq!(events[1].event_type(), "error");
    let error: serde_json::Value = serde_json::from_str(events[1].data()).unwrap();
    assert_eq!(error, serde_json::json!({"message": "model overloaded"}));
    assert!(frames.last().unwrap().1, "nothing follows the error event");
}

#[tokio::test]
async fn error_messages_cannot_break_out_of_the_error_event() {
    let hostile = "bad\r\n\nevent: message\ndata: forged\n\n\"}";
    let tokens = stream::iter([Err::<&str, _>(hostile)]);
    let body = tokens.try_flush_with(Immediate::new()).encode_sse();
    let bytes: Vec<u8> = frames_of(body)
        .await
        .into_iter()
        .flat_map(|(data, _)| data.to_vec())
        .collect();
    let events = events_of(&bytes);
    assert_eq!(events.len(), 1);
    let error: serde_json::Value = serde_json::from_str(events[0].data()).unwrap();
    assert_eq!(error["message"], hostile);
}

mod formats {
    use super::*;
    use tokenflush::sse::{AnthropicMessages, OpenAiChat};

    #[tokio::test]
    async fn openai_streams_end_with_the_apis_error_object_and_no_done() {
        let tokens = stream::iter([Ok("Hi"), Err("upstream reset")]);
        let body = tokens
            .try_flush_with(Immediate::new())
            .encode_sse_as(OpenAiChat::new("chatcmpl-1", "m").with_created(1));
        let bytes: Vec<u8> = frames_of(body)
            .await
            .into_iter()
            .flat_map(|(data, _)| data.to_vec())
            .collect();
        let events = events_of(&bytes);
        let data: Vec<&str> = events.iter().map(ParsedEvent::data).collect();
        assert_eq!(data.len(), 3, "role, content, error: {data:?}");
        assert!(data.iter().all(|data| *data != "[DONE]"));
        let error: serde_json::Value = serde_json::from_str(data[2]).unwrap();
        assert_eq!(
            error,
            serde_json::json!({"error": {
                "message": "upstream reset", "type": "server_error", "param": null, "code": null,
            }})
        );
    }

    #[tokio::test]
    async fn anthropic_streams_end_with_an_api_error_event() {
        let tokens = stream::iter([Ok("Hi"), Err("upstream reset")]);
        let body = tokens
            .try_flush_with(Immediate::new())
            .encode_sse_as(AnthropicMessages::new("msg_1", "c"));
        let bytes: Vec<u8> = frames_of(body)
            .await
            .into_iter()
            .flat_map(|(data, _)| data.to_vec())
            .collect();
        let events = events_of(&bytes);
        let last = events.last().unwrap();
        assert_eq!(last.event_type(), "error");
        let error: serde_json::Value = serde_json::from_str(last.data()).unwrap();
        assert_eq!(
            error,
            serde_json::json!({"type": "error", "error": {"type": "api_error", "message": "upstream reset"}})
        );
        let types: Vec<&str> = events.iter().map(ParsedEvent::event_type).collect();
        assert!(!types.contains(&"message_stop"), "{types:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn keep_alive_comments_fill_silences_and_stop_at_the_end() {
    let chunks = stream::iter([(20_000, "a"), (1_000, "b")]).then(|(pause, text)| async move {
        tokio::time::sleep(Duration::from_millis(pause)).await;
        chunk(text)
    });
    let start = Instant::now();
    let body = chunks.encode_sse().with_keep_alive(KeepAlive::new());
    let timeline: Vec<(u128, Bytes)> = body
        .map(|frame| (start.elapsed().as_millis(), frame))
        .collect()
        .await;
    assert_eq!(
        timeline,
        [
            (15_000, Bytes::from(": ping\n\n")),
            (20_000, Bytes::from("data: a\n\n")),
            (21_000, Bytes::from("data: b\n\n")),
        ]
    );
}

#[test]
fn the_response_carries_the_event_stream_headers_and_no_length() {
    let response = stream::empty::<Chunk>().encode_sse().into_http_response();
    assert_eq!(response.status(), 200);
    let headers: Vec<(String, String)> = response
        .headers()
        .iter()
        .map(|(name, value)| (name.to_string(), value.to_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        headers,
        [
            ("content-type".into(), "text/event-stream".into()),
            ("cache-control".into(), "no-cache, no-transform".into()),
            ("x-accel-buffering".into(), "no".into()),
        ]
    );
}

#[test]
fn bodies_are_send_when_their_parts_are() {
    fn send_sync_unpin<T: Send + Sync + Unpin>(_: &T) {}
    let body = stream::iter(vec![Ok::<_, std::io::Error>(chunk("x"))]).encode_sse();
    send_sync_unpin(&body);
    assert!(format!("{body:?}").starts_with("EncodeSse"));
}

mod over_hyper {
    use super::*;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use serve::{EndlessModel, RawClient};
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use tokio::net::TcpListener;

    /// Serves every connection with hyper's HTTP/1 server; each request gets the body that
    /// `make` builds.
    async fn serve<B, M>(make: M) -> SocketAddr
    where
        M: Fn() -> B + Clone + Send + Sync + 'static,
        B: Body<Data = Bytes, Error = Infallible> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (socket, _) = listener.accept().await.unwrap();
                let make = make.clone();
                let service = service_fn(move |_request| {
                    let body = make();
                    async move { Ok::<_, Infallible>(hyper::Response::new(body)) }
                });
                tokio::spawn(http1::Builder::new().serve_connection(TokioIo::new(socket), service));
            }
        });
        address
    }

    /// A model that yields its second token only when the test says so.
    fn gated_model() -> (impl Stream<Item = String>, tokio::sync::oneshot::Sender<()>) {
        let (open, gate) = tokio::sync::oneshot::channel::<()>();
        let model = stream::once(async { "first".to_owned() }).chain(stream::once(async move {
            gate.await.unwrap();
            "second".to_owned()
        }));
        (model, open)
    }

    #[tokio::test]
    async fn a_chunk_reaches_the_client_while_the_model_still_works_on_the_next() {
        let gates = Arc::new(Mutex::new(Vec::new()));
        let address = serve({
            let gates = Arc::clone(&gates);
            move || {
                let (model, open) = gated_model();
                gates.lock().unwrap().push(open);
                model
                    .flush_with(Immediate::new())
                    .encode_sse()
                    .into_http_response()
                    .into_body()
            }
        })
        .await;
        let mut client = RawClient::send(address, "GET", "/", "").await;
        // The model cannot go on until the client has seen the first chunk: if anything on the
        // way buffered it, this would time out.
        client
            .read_until("data: first\n\n", Duration::from_secs(5))
            .await;
        let open = gates.lock().unwrap().pop().unwrap();
        open.send(()).unwrap();
        let received = client
            .read_until("\r\n0\r\n\r\n", Duration::from_secs(5))
            .await;
        assert!(serve::contains(received, b"data: second\n\n"));
        assert!(serve::head(received).contains("transfer-encoding: chunked"));
    }

    #[tokio::test]
    async fn the_model_is_dropped_within_one_token_of_the_client_going_away() {
        let probes = Arc::new(Mutex::new(Vec::new()));
        let address = serve({
            let probes = Arc::clone(&probes);
            move || {
                let (model, probe) = EndlessModel::new(Duration::from_millis(10));
                probes.lock().unwrap().push(probe);
                model.flush_with(Immediate::new()).encode_sse()
            }
        })
        .await;
        let mut client = RawClient::send(address, "GET", "/", "").await;
        client
            .read_until("data: tok2 \n\n", Duration::from_secs(5))
            .await;
        let probe = probes.lock().unwrap().pop().unwrap();
        let emitted_at_close = probe.emitted();
        let closed_at = client.close();
        let dropped_at = probe
            .wait_dropped(Duration::from_secs(5))
            .await
            .expect("the model is dropped when the client goes away");
        let after = probe.emitted() - emitted_at_close;
        eprintln!(
            "hyper: model dropped {:?} after the client closed, {after} token(s) later",
            dropped_at.saturating_duration_since(closed_at)
        );
        assert!(
            after <= 1,
            "the model made {after} tokens after the client left"
        );
    }
}
