//! The re-chunking proxy's routes: `POST /v1/chat/completions`, forwarded to an upstream
//! OpenAI-compatible server, its streamed answer re-chunked by a flush policy.
//!
//! The tests include this file (and its modules) to run the proxy in-process.

pub mod rechunk;

use crate::policy;

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

use policy::PolicyConfig;

/// The proxy's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// The upstream's base URL as OpenAI's SDKs take it, e.g. `http://127.0.0.1:3000/v1`;
    /// requests go to `{upstream}/chat/completions`. Plain HTTP only.
    pub upstream: String,
    /// The flush policy of requests without a `"tokenflush"` field.
    pub policy: PolicyConfig,
}

#[derive(Clone)]
struct AppState {
    target: Uri,
    policy: PolicyConfig,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// The routes, or why the upstream URL cannot be used.
pub fn app(config: Config) -> Result<Router, String> {
    let target = format!("{}/chat/completions", config.upstream.trim_end_matches('/'));
    let target: Uri = target
        .parse()
        .map_err(|error| format!("upstream {:?}: {error}", config.upstream))?;
    if target.scheme_str() != Some("http") {
        return Err(format!(
            "upstream {:?}: only http:// upstreams are supported",
            config.upstream
        ));
    }
    let client = Client::builder(TokioExecutor::new()).build_http();
    let state = AppState {
        target,
        policy: config.policy,
        client,
    };
    Ok(Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .with_state(Arc::new(state)))
}

fn api_error(status: StatusCode, kind: &str, message: impl Into<String>) -> Response {
    let body =
        json!({"error": {"message": message.into(), "type": kind, "param": null, "code": null}});
    (status, Json(body)).into_response()
}

async fn chat_completions(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let invalid =
        |message: String| api_error(StatusCode::BAD_REQUEST, "invalid_request_error", message);
    let mut request: serde_json::Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => return invalid(format!("invalid request body: {error}")),
    };
    // Our extension is not the upstream's business (OpenAI rejects unknown fields).
    let policy = match request.remove("tokenflush") {
        None => state.policy,
        Some(value) => match serde_json::from_value::<PolicyConfig>(value) {
            Ok(policy) => policy,
            Err(error) => return invalid(format!("tokenflush: {error}")),
        },
    };
    if let Err(error) = policy.build() {
        return invalid(format!("tokenflush: {error}"));
    }
    let streaming = request.get("stream") == Some(&Value::Bool(true));

    let mut forward = Request::post(state.target.clone())
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::ACCEPT,
            if streaming {
                "text/event-stream"
            } else {
                "application/json"
            },
        );
    if let Some(authorization) = headers.get(header::AUTHORIZATION) {
        forward = forward.header(header::AUTHORIZATION, authorization);
    }
    let body = Value::Object(request).to_string();
    let forward = forward
        .body(Full::new(Bytes::from(body)))
        .expect("a request from valid parts");
    let response = match state.client.request(forward).await {
        Ok(response) => response,
        Err(error) => {
            return api_error(
                StatusCode::BAD_GATEWAY,
                "upstream_error",
                format!("the upstream is unreachable: {error}"),
            )
        }
    };

    let is_event_stream = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("text/event-stream"));
    if !(streaming && response.status() == StatusCode::OK && is_event_stream) {
        // Whole answers and errors pass through as they are.
        let (parts, body) = response.into_parts();
        let mut passed = Response::new(Body::new(body));
        *passed.status_mut() = parts.status;
        if let Some(content_type) = parts.headers.get(header::CONTENT_TYPE) {
            passed
                .headers_mut()
                .insert(header::CONTENT_TYPE, content_type.clone());
        }
        return passed;
    }

    eprintln!("proxy: re-chunking a stream with {policy}");
    let frames = rechunk::rechunk(response.into_body().into_data_stream(), move || {
        policy.build().expect("checked above")
    });
    let mut response = Response::new(Body::from_stream(frames.map(Ok::<_, Infallible>)));
    for (name, value) in tokenflush::sse::headers() {
        response
            .headers_mut()
            .insert(name, HeaderValue::from_static(value));
    }
    response
}
