//! The streaming clients: plain HTTP/1.1 connections (hyper) reading the event stream with
//! tokenflush's SSE parser, timing each token against the stamp the model gave it.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokenflush::sse::Parser;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use crate::load::model::Clock;

/// What one streaming client saw.
#[derive(Debug, Default)]
pub struct StreamOutcome {
    /// From sending the request to reading the first token, in microseconds.
    pub ttft_us: Option<u32>,
    /// Each token's delay, from the model producing it to this client reading it, in
    /// microseconds.
    pub delays_us: Vec<u32>,
    /// SSE events read.
    pub events: u64,
    /// Why the stream failed, if it did.
    pub failure: Option<String>,
}

/// An open connection and its driver task.
struct Connection {
    sender: http1::SendRequest<Empty<Bytes>>,
    driver: JoinHandle<()>,
}

async fn connect(address: SocketAddr) -> Result<Connection, String> {
    let tcp = TcpStream::connect(address)
        .await
        .map_err(|error| format!("connect: {error}"))?;
    tcp.set_nodelay(true)
        .map_err(|error| format!("nodelay: {error}"))?;
    let (sender, connection) = http1::handshake(TokioIo::new(tcp))
        .await
        .map_err(|error| format!("handshake: {error}"))?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(Connection { sender, driver })
}

async fn send(connection: &mut Connection, path: &str) -> Result<Response<Incoming>, String> {
    let request = Request::get(path)
        .header(hyper::header::HOST, "127.0.0.1")
        .body(Empty::new())
        .map_err(|error| format!("request: {error}"))?;
    let response = connection
        .sender
        .send_request(request)
        .await
        .map_err(|error| format!("request: {error}"))?;
    if response.status() != StatusCode::OK {
        return Err(format!("status {}", response.status()));
    }
    Ok(response)
}

/// Streams `path` to its end over a new connection.
pub async fn run_stream(address: SocketAddr, path: &str, clock: Clock) -> StreamOutcome {
    let mut outcome = StreamOutcome::default();
    if let Err(failure) = read_stream(address, path, clock, &mut outcome).await {
        outcome.failure = Some(failure);
    }
    outcome
}

async fn read_stream(
    address: SocketAddr,
    path: &str,
    clock: Clock,
    outcome: &mut StreamOutcome,
) -> Result<(), String> {
    let mut connection = connect(address).await?;
    let sent_at = clock.now_us();
    let mut body = send(&mut connection, path).await?.into_body();
    let mut parser = Parser::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|error| format!("body: {error}"))?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        parser.feed(data);
        while let Some(event) = parser
            .next_event()
            .map_err(|error| format!("parse: {error}"))?
        {
            let now = clock.now_us();
            outcome.events += 1;
            for stamp in event.data().split_ascii_whitespace() {
                let stamp: u64 = stamp
                    .parse()
                    .map_err(|_| format!("not a token stamp: {stamp:?}"))?;
                outcome.delays_us.push(micros(now.saturating_sub(stamp)));
            }
            if outcome.ttft_us.is_none() && !outcome.delays_us.is_empty() {
                outcome.ttft_us = Some(micros(now.saturating_sub(sent_at)));
            }
        }
    }
    parser.finish().map_err(|error| format!("parse: {error}"))?;
    connection.driver.abort();
    Ok(())
}

fn micros(value: u64) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// A stream opened and left waiting for its first token: for memory per idle stream.
pub struct IdleStream {
    _response: Response<Incoming>,
    connection: Connection,
}

impl Drop for IdleStream {
    fn drop(&mut self) {
        self.connection.driver.abort();
    }
}

/// Opens `path` and returns once the response headers have arrived.
pub async fn open_idle(address: SocketAddr, path: &str) -> Result<IdleStream, String> {
    let mut connection = connect(address).await?;
    let response = send(&mut connection, path).await?;
    Ok(IdleStream {
        _response: response,
        connection,
    })
}

/// `GET path` on a new connection: the body as text.
pub async fn get(address: SocketAddr, path: &str) -> Result<String, String> {
    let mut connection = connect(address).await?;
    let body = send(&mut connection, path)
        .await?
        .into_body()
        .collect()
        .await
        .map_err(|error| format!("body: {error}"))?
        .to_bytes();
    connection.driver.abort();
    String::from_utf8(body.to_vec()).map_err(|_| "the body is not UTF-8".to_owned())
}
