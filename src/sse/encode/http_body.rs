//! [`EncodeSse`] as an [`http_body::Body`] (feature `http-body`), for hyper and every server
//! built on the `http` crates.

use futures_core::Stream;

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
        insert_headers(response.headers_mut());
        response
    }
}

/// Sets the event-stream [headers](crate::sse::headers) on a response's `headers`.
pub(crate) fn insert_headers(headers: &mut http::HeaderMap) {
    for (name, value) in crate::sse::headers() {
        headers.insert(
            http::HeaderName::from_static(name),
            http::HeaderValue::from_static(value),
        );
    }
}

/// `http_body::Body` for a fused stream of SSE frames: one data frame per frame, the end known
/// when the stream has ended, the length never known in advance. For `EncodeSse` and the
/// resumable reader, which differ in how they make frames, not in how they are a body.
macro_rules! frames_body {
    ([$($generics:tt)*] $body:ty, where $($bounds:tt)*) => {
        impl<$($generics)*> ::http_body::Body for $body
        where
            $($bounds)*
        {
            type Data = ::bytes::Bytes;
            type Error = ::std::convert::Infallible;

            fn poll_frame(
                self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<
                Option<Result<::http_body::Frame<::bytes::Bytes>, ::std::convert::Infallible>>,
            > {
                ::futures_core::Stream::poll_next(self, cx)
                    .map(|frame| frame.map(|frame| Ok(::http_body::Frame::data(frame))))
            }

            fn is_end_stream(&self) -> bool {
                ::futures_core::FusedStream::is_terminated(self)
            }

            fn size_hint(&self) -> ::http_body::SizeHint {
                if ::futures_core::FusedStream::is_terminated(self) {
                    ::http_body::SizeHint::with_exact(0)
                } else {
                    ::http_body::SizeHint::default()
                }
            }
        }
    };
}
#[cfg(feature = "resume")]
pub(crate) use frames_body;

// When the client goes away, the server drops the body, and with it the chunk stream and the
// token stream under it: a model client that stops when dropped stops when the reader does.
frames_body!([S, F] EncodeSse<S, F>, where S: Stream, S::Item: SseItem, F: Format);
