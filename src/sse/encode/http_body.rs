//! [`EncodeSse`] as an [`http_body::Body`] (feature `http-body`), for hyper and every server
//! built on the `http` crates.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_core::{FusedStream, Stream};
use http_body::{Body, Frame, SizeHint};

use super::{EncodeSse, SseItem};
use crate::sse::Format;

impl<S, F> EncodeSse<S, F>
where
    S: Stream,
    S::Item: SseItem,
    F: Format,
{
    /// This stream as the body of an `http::Response` with the event-stream
    /// [headers](crate::sse::headers) (feature `http-body`).
    ///
    /// # Examples
    ///
    /// A hyper server that streams a model's tokens:
    ///
    /// ```
    /// use std::convert::Infallible;
    /// use std::time::Duration;
    ///
    /// use hyper::{server::conn::http1, service::service_fn};
    /// use hyper_util::rt::TokioIo;
    /// use tokenflush::sse::{EncodeSseExt, KeepAlive};
    /// use tokenflush::{policy::TimeBounded, FlushExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// # let address = listener.local_addr()?;
    /// tokio::spawn(async move {
    ///     let (socket, _) = listener.accept().await?;
    ///     let service = service_fn(|_request| async {
    ///         # let model_tokens = futures::stream::iter(["Hello", ", world"]);
    ///         // `model_tokens`: any Stream of tokens, e.g. from a model client.
    ///         let body = model_tokens
    ///             .flush_with(TimeBounded::new(4, Duration::from_millis(100)))
    ///             .encode_sse()
    ///             .with_keep_alive(KeepAlive::new());
    ///         Ok::<_, Infallible>(body.into_http_response())
    ///     });
    ///     http1::Builder::new().serve_connection(TokioIo::new(socket), service).await?;
    ///     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    /// });
    /// # let mut stream = tokio::net::TcpStream::connect(address).await?;
    /// # tokio::io::AsyncWriteExt::write_all(&mut stream, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await?;
    /// # let mut response = String::new();
    /// # tokio::io::AsyncReadExt::read_to_string(&mut stream, &mut response).await?;
    /// # assert!(response.contains("content-type: text/event-stream"), "{response}");
    /// # assert!(response.contains("data: Hello"), "{response}");
    /// # Ok(())
    /// # }
    /// ```
    pub fn into_http_response(self) -> http::Response<Self> {
        let mut response = http::Response::new(self);
        let headers = response.headers_mut();
        for (name, value) in crate::sse::headers() {
            headers.insert(
                http::HeaderName::from_static(name),
                http::HeaderValue::from_static(value),
            );
        }
        response
    }
}

/// One data frame per SSE frame; the body ends when the stream does. When the client goes
/// away, the server drops the body, and with it the chunk stream and the token stream under
/// it: a model client that stops when dropped stops when the reader does.
impl<S, F> Body for EncodeSse<S, F>
where
    S: Stream,
    S::Item: SseItem,
    F: Format,
{
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.poll_next(cx)
            .map(|frame| frame.map(|frame| Ok(Frame::data(frame))))
    }

    fn is_end_stream(&self) -> bool {
        self.is_terminated()
    }

    fn size_hint(&self) -> SizeHint {
        if self.is_terminated() {
            SizeHint::with_exact(0)
        } else {
            // The length of a stream is not known in advance.
            SizeHint::default()
        }
    }
}
