//! [`ResumeSse`] as an axum response (feature `axum`, axum 0.8).

use axum_core::body::Body;
use axum_core::response::{IntoResponse, Response};

use super::ResumeSse;
use crate::sse::Format;

/// The event-stream [headers](crate::sse::headers) and a body of one frame per event, or
/// `204 No Content` for a reader that has seen everything (feature `axum`).
///
/// # Examples
///
/// A chat route that starts resumable generations, and the route readers come back to:
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use axum::extract::State;
/// use axum::http::{HeaderMap, StatusCode, Uri};
/// use axum::response::{IntoResponse, Response};
/// use axum::routing::{get, post};
/// use axum::Router;
/// use tokenflush::resume::{last_event_id, MemoryStore, Relay};
/// use tokenflush::sse::TextEvents;
/// use tokenflush::{policy::TimeBounded, FlushExt};
///
/// async fn chat(State(relay): State<Relay>) -> Response {
///     # let model_tokens = futures::stream::iter(["Hello", ", world"]);
///     // `model_tokens`: any Stream of tokens, e.g. from a model client.
///     let chunks = model_tokens.flush_with(TimeBounded::new(4, Duration::from_millis(100)));
///     // Without authentication, the owner is `None`: the id alone reads the stream.
///     match relay.start(None, "text", chunks, TextEvents::new()).await {
///         Ok(events) => events.into_response(),
///         Err(_) => StatusCode::SERVICE_UNAVAILABLE.into_response(),
///     }
/// }
///
/// async fn resume(State(relay): State<Relay>, headers: HeaderMap, uri: Uri) -> Response {
///     let id = last_event_id(&headers, &uri).unwrap_or_default();
///     match relay.resume(id, None, |_meta| TextEvents::new()).await {
///         Ok(events) => events.into_response(),
///         // Unknown, expired, malformed or another's: always the same answer.
///         Err(_) => StatusCode::NOT_FOUND.into_response(),
///     }
/// }
///
/// let relay = Relay::new(Arc::new(MemoryStore::new()));
/// let app: Router = Router::new()
///     .route("/chat", post(chat))
///     .route("/chat/resume", get(resume))
///     .with_state(relay);
/// # let _ = app;
/// ```
impl<F> IntoResponse for ResumeSse<F>
where
    F: Format + Send + 'static,
{
    fn into_response(self) -> Response {
        self.into_http_response().map(Body::new)
    }
}
