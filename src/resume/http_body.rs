//! [`ResumeSse`] as an [`http_body::Body`], and the `Last-Event-ID` of a request (feature
//! `http-body`).

use super::ResumeSse;
use crate::sse::Format;

/// The `Last-Event-ID` a request carries: the header, or else the query parameter
/// `last_event_id` (for clients that cannot set headers, such as the first `EventSource` of a
/// page that resumes a stream it started with `fetch`). `None` when there is neither, or the
/// header is not text.
///
/// The value is returned as sent; [`Relay::resume`](super::Relay::resume) parses it, strictly
/// and after a look at its length, so a hostile value costs nothing. A query value is not
/// percent-decoded: ids hold only digits, lowercase letters and `-`.
///
/// # Examples
///
/// ```
/// use tokenflush::resume::last_event_id;
///
/// let request = http::Request::get("/v1/resume?last_event_id=abc-1-0&x=1").body(()).unwrap();
/// assert_eq!(last_event_id(request.headers(), request.uri()), Some("abc-1-0"));
///
/// let request = http::Request::get("/v1/resume?last_event_id=old")
///     .header("last-event-id", "new")
///     .body(())
///     .unwrap();
/// assert_eq!(last_event_id(request.headers(), request.uri()), Some("new"));
/// ```
pub fn last_event_id<'a>(headers: &'a http::HeaderMap, uri: &'a http::Uri) -> Option<&'a str> {
    if let Some(value) = headers.get("last-event-id") {
        return value.to_str().ok();
    }
    uri.query()?
        .split('&')
        .find_map(|pair| pair.strip_prefix("last_event_id="))
}

impl<F: Format> ResumeSse<F> {
    /// This stream as the body of an `http::Response` with the event-stream
    /// [headers](crate::sse::headers), or an empty `204 No Content` when the reader has seen
    /// everything ([`seen_everything`](Self::seen_everything)) — which also stops a browser's
    /// `EventSource` from reconnecting (feature `http-body`).
    pub fn into_http_response(self) -> http::Response<Self> {
        let seen_everything = self.seen_everything();
        let mut response = http::Response::new(self);
        if seen_everything {
            *response.status_mut() = http::StatusCode::NO_CONTENT;
            return response;
        }
        crate::sse::insert_headers(response.headers_mut());
        response
    }
}

// One data frame per SSE frame; dropping the body detaches the reader (the generation goes on).
crate::sse::frames_body!([F] ResumeSse<F>, where F: Format);
