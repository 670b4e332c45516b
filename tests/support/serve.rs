//! Helpers for the tests that serve over real sockets: an instrumented endless model, and a
//! raw HTTP/1.1 client that can walk away mid-response.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

/// What an [`EndlessModel`] did: tokens emitted, polls, and when it was dropped.
#[derive(Debug, Default)]
pub struct Probe {
    emitted: AtomicUsize,
    polls: AtomicUsize,
    dropped_at: Mutex<Option<Instant>>,
    dropped: Notify,
}

impl Probe {
    pub fn emitted(&self) -> usize {
        self.emitted.load(Ordering::SeqCst)
    }

    pub fn polls(&self) -> usize {
        self.polls.load(Ordering::SeqCst)
    }

    pub fn dropped_at(&self) -> Option<Instant> {
        *self.dropped_at.lock().unwrap()
    }

    /// Waits until the model is dropped, at most `limit`; the instant it was dropped, or
    /// `None` if it still runs.
    pub async fn wait_dropped(&self, limit: Duration) -> Option<Instant> {
        let notified = self.dropped.notified();
        if let Some(at) = self.dropped_at() {
            return Some(at);
        }
        let _ = tokio::time::timeout(limit, notified).await;
        self.dropped_at()
    }
}

/// A simulated model that never stops on its own: a token (`"tok0 "`, `"tok1 "`, …) every
/// `every`, recording into its [`Probe`]. Only dropping it stops it.
pub struct EndlessModel {
    every: Duration,
    sleep: Pin<Box<Sleep>>,
    probe: Arc<Probe>,
}

impl EndlessModel {
    pub fn new(every: Duration) -> (Self, Arc<Probe>) {
        let probe = Arc::new(Probe::default());
        let model = Self {
            every,
            sleep: Box::pin(tokio::time::sleep(Duration::ZERO)),
            probe: Arc::clone(&probe),
        };
        (model, probe)
    }
}

impl Stream for EndlessModel {
    type Item = String;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        self.probe.polls.fetch_add(1, Ordering::SeqCst);
        if self.sleep.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        let next = Instant::now() + self.every;
        self.sleep.as_mut().reset(next);
        let n = self.probe.emitted.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Some(format!("tok{n} ")))
    }
}

impl Drop for EndlessModel {
    fn drop(&mut self) {
        *self.probe.dropped_at.lock().unwrap() = Some(Instant::now());
        self.probe.dropped.notify_waiters();
    }
}

/// A raw HTTP/1.1 client connection: sends one request, reads the response as bytes.
pub struct RawClient {
    socket: TcpStream,
    received: Vec<u8>,
}

impl RawClient {
    /// Connects to `address` and sends `method path` with `body` (JSON if not empty).
    pub async fn send(address: SocketAddr, method: &str, path: &str, body: &str) -> Self {
        let mut socket = TcpStream::connect(address).await.expect("server accepts");
        socket.set_nodelay(true).unwrap();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {address}\r\nAccept: text/event-stream\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        socket.write_all(request.as_bytes()).await.unwrap();
        Self {
            socket,
            received: Vec::new(),
        }
    }

    /// Reads until the bytes received so far contain `needle`; panics after `limit`.
    pub async fn read_until(&mut self, needle: &str, limit: Duration) -> &[u8] {
        let deadline = Instant::now() + limit;
        let mut buf = [0; 4096];
        while !contains(&self.received, needle.as_bytes()) {
            let read = tokio::time::timeout_at(deadline, self.socket.read(&mut buf))
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "no {needle:?} within {limit:?}; got {:?}",
                        String::from_utf8_lossy(&self.received)
                    )
                })
                .unwrap();
            assert_ne!(read, 0, "connection closed before {needle:?}");
            self.received.extend_from_slice(&buf[..read]);
        }
        &self.received
    }

    /// Reads to the end of the connection (the server closes it after the response, as asked
    /// with `Connection: close`, or on error); panics after `limit`.
    pub async fn read_to_end(&mut self, limit: Duration) -> &[u8] {
        tokio::time::timeout(limit, self.socket.read_to_end(&mut self.received))
            .await
            .expect("the response ends in time")
            .unwrap();
        &self.received
    }

    pub fn received(&self) -> &[u8] {
        &self.received
    }

    /// Closes the connection, as a browser tab that goes away does; returns when.
    pub fn close(self) -> Instant {
        drop(self.socket);
        Instant::now()
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// The response head (status line and headers, lowercased) of raw bytes received.
pub fn head(received: &[u8]) -> String {
    let end = received
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a complete response head");
    String::from_utf8_lossy(&received[..end]).to_ascii_lowercase()
}

/// A response read whole: status, headers, body.
#[derive(Debug)]
pub struct Whole {
    pub status: hyper::StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: bytes::Bytes,
}

impl Whole {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("{error}: {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The events of an event-stream body; panics if it ends inside an event.
    pub fn events(&self) -> Vec<tokenflush::sse::ParsedEvent> {
        let mut parser = tokenflush::sse::Parser::new();
        parser.feed(&self.body);
        let events = std::iter::from_fn(|| parser.next_event().unwrap()).collect();
        parser.finish().expect("the stream ends between events");
        events
    }
}

/// Sends `method path` with a JSON `body` (none for `null`) over a new HTTP/1.1 connection
/// (hyper's client) and reads the whole response, within `limit`.
pub async fn request(
    address: SocketAddr,
    method: &str,
    path: &str,
    body: &serde_json::Value,
    limit: Duration,
) -> Whole {
    use http_body_util::BodyExt;

    let exchange = async {
        let socket = TcpStream::connect(address).await.expect("server accepts");
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(socket))
                .await
                .unwrap();
        tokio::spawn(connection);
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", address.to_string());
        let body = if body.is_null() {
            bytes::Bytes::new()
        } else {
            request = request.header("content-type", "application/json");
            bytes::Bytes::from(body.to_string())
        };
        let request = request.body(http_body_util::Full::new(body)).unwrap();
        let response = sender.send_request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        Whole {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    };
    tokio::time::timeout(limit, exchange)
        .await
        .expect("the response ends in time")
}

/// Serves `router` with `axum::serve` on a loopback port.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    address
}

/// Each event of a streamed response with the instant its bytes arrived, and the instant the
/// request was sent; within `limit`.
pub async fn timed_events(
    address: SocketAddr,
    path: &str,
    body: &serde_json::Value,
    limit: Duration,
) -> (Instant, Vec<(Instant, tokenflush::sse::ParsedEvent)>) {
    use http_body_util::BodyExt;

    let exchange = async {
        let socket = TcpStream::connect(address).await.expect("server accepts");
        socket.set_nodelay(true).unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(socket))
                .await
                .unwrap();
        tokio::spawn(connection);
        let request = hyper::Request::post(path)
            .header("host", address.to_string())
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_string(),
            )))
            .unwrap();
        let sent = Instant::now();
        let response = sender.send_request(request).await.unwrap();
        assert_eq!(response.status(), 200);
        let mut body = response.into_body();
        let mut parser = tokenflush::sse::Parser::new();
        let mut events = Vec::new();
        while let Some(frame) = body.frame().await {
            let at = Instant::now();
            if let Ok(data) = frame.unwrap().into_data() {
                parser.feed(&data);
            }
            while let Some(event) = parser.next_event().unwrap() {
                events.push((at, event));
            }
        }
        parser.finish().expect("the stream ends between events");
        (sent, events)
    };
    tokio::time::timeout(limit, exchange)
        .await
        .expect("the response ends in time")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until something accepts connections on `address`; panics after `limit`.
pub async fn wait_listening(address: SocketAddr, limit: Duration) {
    let deadline = Instant::now() + limit;
    while TcpStream::connect(address).await.is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {address}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
