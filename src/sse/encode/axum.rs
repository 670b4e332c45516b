//! [`EncodeSse`] as an axum response (feature `axum`, axum 0.8).

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};
use futures_core::Stream;

use super::{EncodeSse, SseItem};
use crate::sse::Format;

/// The event-stream [headers](crate::sse::headers) and a body of one frame per item (feature
/// `axum`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// use axum::{response::IntoResponse, routing::get, Router};
/// use tokenflush::sse::{EncodeSseExt, KeepAlive};
/// use tokenflush::{policy::TimeBounded, FlushExt};
///
/// async fn answer() -> impl IntoResponse {
///     # let model_tokens = futures::stream::iter(["Hello", ",", " world"]);
///     // `model_tokens`: any Stream of tokens, e.g. from a model client.
///     model_tokens
///         .flush_with(TimeBounded::new(4, Duration::from_millis(100)))
///         .encode_sse()
///         .with_keep_alive(KeepAlive::new())
/// }
///
/// let app: Router = Router::new().route("/answer", get(answer));
/// # let _ = app;
/// ```
impl<S, F> IntoResponse for EncodeSse<S, F>
where
    S: Stream + Send + 'static,
    S::Item: SseItem,
    F: Format + Send + 'static,
{
    fn into_response(self) -> Response {
        self.into_http_response().map(Body::new)
    }
}
