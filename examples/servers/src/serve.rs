//! Serving a router on HTTP/1.1 with the limits that keep slow or hostile clients from holding
//! connections: a deadline for the request headers, a deadline and a size limit for the
//! request body. `axum::serve` sets neither deadline: a client that sends one header byte a
//! second holds a connection (and its task and socket) for as long as it likes, and 600 of
//! them hold 600 (slowloris).
//!
//! The deadlines count from the start, not between bytes: a client dripping a byte just
//! before each idle timeout would never trip an idle timeout. The response is not limited:
//! an event stream may last as long as its answer.

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// How long a client may take to send its request, and how large it may be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// From the connection's start (or the end of its previous response) to the end of the
    /// request headers: the connection is closed when it passes. 10 s by default.
    pub header_read_timeout: Duration,
    /// From the end of the headers to the end of the body: the request gets `408 Request
    /// Timeout` and the connection is closed when it passes. 30 s by default (2 MiB at
    /// 70 KB/s).
    pub body_read_timeout: Duration,
    /// The largest request body: a larger one gets `413 Payload Too Large`. 2 MiB by default,
    /// axum's own default.
    pub max_body: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            max_body: 2 << 20,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets the responses in flight
/// finish. Every connection gets [`Limits`]' header deadline; every request, its body deadline
/// and size limit ([`read_body_in_time`]).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let router = router.layer(middleware::from_fn_with_state(limits, read_body_in_time));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let socket = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                // Out of file descriptors, or a connection reset before it was accepted:
                // the listener itself is fine. Wait a little, as axum::serve does.
                Err(error) if is_transient(&error) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
                Err(error) => return Err(error),
            },
            () = &mut shutdown => break,
        };
        let _ = socket.set_nodelay(true);
        let connection = http.serve_connection(
            TokioIo::new(socket),
            TowerToHyperService::new(router.clone()),
        );
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // A client that goes away or misbehaves ends its own connection, nothing else.
            let _ = connection.await;
        });
    }
    graceful.shutdown().await;
    Ok(())
}

fn is_transient(error: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        error.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    ) || error
        .raw_os_error()
        .is_some_and(|code| code == 24 || code == 23) // EMFILE, ENFILE
}

/// Middleware: reads the whole request body within the body deadline and size limit, then
/// hands the request on; `408` or `413` (in OpenAI's error shape, with `Connection: close`)
/// when it cannot.
pub async fn read_body_in_time(
    State(limits): State<Limits>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let read = axum::body::to_bytes(body, limits.max_body);
    let (status, message) = match tokio::time::timeout(limits.body_read_timeout, read).await {
        Ok(Ok(bytes)) => {
            return next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(error)) if is_length_limit(&error) => (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than {} bytes", limits.max_body),
        ),
        Ok(Err(error)) => (
            StatusCode::BAD_REQUEST,
            format!("reading the request body failed: {error}"),
        ),
        Err(_) => (
            StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {} s",
                limits.body_read_timeout.as_secs_f64()
            ),
        ),
    };
    let mut response =
        crate::chat_server::api_error(status, "invalid_request_error", message).into_response();
    response
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    response
}

fn is_length_limit(error: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        if error.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = error.source();
    }
    false
}
