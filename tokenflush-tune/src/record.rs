//! Recording a trace from a live endpoint: one streaming request to an OpenAI-compatible
//! `/v1/chat/completions` or an Anthropic `/v1/messages`, each text delta written as a token
//! of the trace by the library's own [`record_trace`](tokenflush::trace::TraceExt::record_trace),
//! and optionally the raw stream with a time on each line (what `--sse` reads).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::{self, Write};
use std::time::Duration;

use futures::StreamExt;
use reqwest::header::{ACCEPT, CONTENT_TYPE};
use serde_json::{json, Map, Value};
use tokenflush::sse::{ParseError, ParsedEvent, Parser};
use tokenflush::trace::TraceExt;
use tokio::time::Instant;

/// The two wire formats the recorder speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Api {
    /// OpenAI's chat completions (and every server compatible with it: vLLM, llama.cpp, …).
    Openai,
    /// Anthropic's messages.
    Anthropic,
}

impl Api {
    /// The environment variable that holds the key by default.
    pub(crate) fn key_variable(self) -> &'static str {
        match self {
            Self::Openai => "OPENAI_API_KEY",
            Self::Anthropic => "ANTHROPIC_API_KEY",
        }
    }
}

/// One streaming request to make.
#[derive(Clone, Debug)]
pub(crate) struct LiveRequest {
    /// The endpoint, in full.
    pub(crate) url: reqwest::Url,
    pub(crate) api: Api,
    pub(crate) model: String,
    pub(crate) prompt: String,
    pub(crate) api_key: Option<String>,
    pub(crate) max_tokens: Option<u32>,
    /// Fields merged into the request body, over the tool's own.
    pub(crate) extra_body: Map<String, Value>,
    /// How long to wait for the connection, and then for each read.
    pub(crate) timeout: Duration,
}

/// Why a recording failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum RecordError {
    /// The URL cannot be used.
    #[error("`{url}`: {reason}")]
    Url { url: String, reason: &'static str },
    /// The request could not be made or the response not read.
    #[error("the request failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with an error status.
    #[error("the server answered {status}: {body}")]
    Status { status: u16, body: String },
    /// The server answered, but not with an event stream.
    #[error("the server answered with `{content_type}`, not an event stream: {body}")]
    NotAStream { content_type: String, body: String },
    /// The stream carried an error event.
    #[error("the stream reported an error: {0}")]
    Api(String),
    /// The stream is not valid Server-Sent Events.
    #[error("the stream is not valid server-sent events: {0}")]
    Parse(#[from] ParseError),
    /// An event's data is not JSON.
    #[error("event data is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The trace or the capture could not be written.
    #[error("writing the {what}: {source}")]
    Write {
        what: &'static str,
        source: io::Error,
    },
    /// The stream ended without any text.
    #[error("the stream ended without any text")]
    NoText,
}

/// What a recording saw.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub(crate) struct Recorded {
    /// Text deltas written to the trace.
    pub(crate) tokens: u64,
    /// Bytes of text.
    pub(crate) bytes: u64,
    /// From sending the request to the first text.
    pub(crate) first_token_s: f64,
    /// From sending the request to the end of the stream.
    pub(crate) duration_s: f64,
    /// What ended the stream: `[DONE]`, `message_stop` or `end of body`.
    pub(crate) ended_by: &'static str,
}

/// Where `url` points: the endpoint itself, or a base (`…/v1`, or a bare host) to which the
/// API's path is added. The API is `api` if given, else the one whose path the URL ends with,
/// else OpenAI's.
///
/// # Errors
///
/// [`RecordError::Url`] for a URL that does not parse or is not `http` or `https`.
pub(crate) fn endpoint(url: &str, api: Option<Api>) -> Result<(reqwest::Url, Api), RecordError> {
    let fail = |reason| RecordError::Url {
        url: url.to_owned(),
        reason,
    };
    let mut parsed = reqwest::Url::parse(url).map_err(|_| fail("not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(fail("only http and https URLs are supported"));
    }
    let path = parsed.path().trim_end_matches('/').to_owned();
    let named = if path.ends_with("/chat/completions") {
        Some(Api::Openai)
    } else if path.ends_with("/messages") {
        Some(Api::Anthropic)
    } else {
        None
    };
    let api = api.or(named).unwrap_or(Api::Openai);
    if named.is_none() {
        let base = if path.is_empty() { "/v1" } else { &path };
        let tail = match api {
            Api::Openai => "chat/completions",
            Api::Anthropic => "messages",
        };
        parsed.set_path(&format!("{base}/{tail}"));
    }
    Ok((parsed, api))
}

impl LiveRequest {
    /// The request body.
    fn body(&self) -> Value {
        let mut body = json!({
            "model": self.model,
            "stream": true,
            "messages": [{"role": "user", "content": self.prompt}],
        });
        let max_tokens = match self.api {
            // Anthropic requires it.
            Api::Anthropic => Some(self.max_tokens.unwrap_or(1024)),
            Api::Openai => self.max_tokens,
        };
        if let (Some(object), Some(max_tokens)) = (body.as_object_mut(), max_tokens) {
            object.insert("max_tokens".into(), max_tokens.into());
        }
        if let Some(object) = body.as_object_mut() {
            for (key, value) in &self.extra_body {
                object.insert(key.clone(), value.clone());
            }
        }
        body
    }
}

/// Makes `request`, writes its text deltas to `trace` as a JSON Lines trace and, if given, the
/// raw stream to `capture`, each line prefixed with the seconds since the request.
///
/// # Errors
///
/// [`RecordError`]: the request failed, the server answered with an error, the stream is not
/// one of the two formats or carried an error, it had no text, or writing failed.
pub(crate) async fn record(
    request: &LiveRequest,
    trace: &mut dyn Write,
    capture: Option<&mut dyn Write>,
) -> Result<Recorded, RecordError> {
    // The HTTP client's TLS needs a crypto provider; another part of the process may have
    // installed one already, which serves as well.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = reqwest::Client::builder()
        .connect_timeout(request.timeout)
        .read_timeout(request.timeout)
        .build()?;
    let mut builder = client
        .post(request.url.clone())
        .header(CONTENT_TYPE, "application/json")
        .header(ACCEPT, "text/event-stream")
        .body(serde_json::to_vec(&request.body())?);
    builder = match (request.api, &request.api_key) {
        (Api::Openai, Some(key)) => builder.bearer_auth(key),
        (Api::Openai, None) => builder,
        (Api::Anthropic, key) => {
            let builder = builder.header("anthropic-version", "2023-06-01");
            match key {
                Some(key) => builder.header("x-api-key", key),
                None => builder,
            }
        }
    };

    let outcome = RefCell::new(None);
    let started = Instant::now();
    let live = Live {
        request: Some(builder),
        response: None,
        parser: Parser::new(),
        pending: VecDeque::new(),
        ended_by: None,
        capture,
        line: Vec::new(),
        started,
    };
    let tokens = futures::stream::unfold(live, |mut live| {
        let outcome = &outcome;
        async move {
            loop {
                if let Some(token) = live.pending.pop_front() {
                    return Some((token, live));
                }
                if let Some(ended_by) = live.ended_by {
                    *outcome.borrow_mut() = Some(live.finish().map(|()| ended_by));
                    return None;
                }
                if let Err(error) = live.advance().await {
                    *outcome.borrow_mut() = Some(Err(error));
                    return None;
                }
            }
        }
    });
    let mut recorded = Box::pin(tokens.record_trace(&mut *trace));
    let (mut count, mut bytes, mut first) = (0, 0, None);
    while let Some(token) = recorded.next().await {
        first.get_or_insert_with(|| started.elapsed());
        count += 1;
        bytes += token.len() as u64;
    }
    let duration = started.elapsed();
    if let Some(error) = recorded.error() {
        return Err(RecordError::Write {
            what: "trace",
            source: io::Error::new(error.kind(), error.to_string()),
        });
    }
    drop(recorded);
    let ended_by = outcome.into_inner().unwrap_or(Ok("end of body"))?;
    trace.flush().map_err(|source| RecordError::Write {
        what: "trace",
        source,
    })?;
    let first = first.ok_or(RecordError::NoText)?;
    Ok(Recorded {
        tokens: count,
        bytes,
        first_token_s: first.as_secs_f64(),
        duration_s: duration.as_secs_f64(),
        ended_by,
    })
}

/// The state of a recording between two tokens.
struct Live<'a> {
    request: Option<reqwest::RequestBuilder>,
    response: Option<reqwest::Response>,
    parser: Parser,
    pending: VecDeque<String>,
    ended_by: Option<&'static str>,
    capture: Option<&'a mut dyn Write>,
    /// The capture's line so far.
    line: Vec<u8>,
    started: Instant,
}

impl Live<'_> {
    /// Sends the request, or reads the next piece of the stream.
    async fn advance(&mut self) -> Result<(), RecordError> {
        if let Some(request) = self.request.take() {
            let response = request.send().await?;
            let status = response.status();
            let content_type = response
                .headers()
                .get(CONTENT_TYPE)
                .and_then(|value| value.to_str().ok())
                .unwrap_or("")
                .to_owned();
            if !status.is_success() {
                return Err(RecordError::Status {
                    status: status.as_u16(),
                    body: excerpt(response).await,
                });
            }
            if !content_type.starts_with("text/event-stream") {
                return Err(RecordError::NotAStream {
                    content_type,
                    body: excerpt(response).await,
                });
            }
            self.response = Some(response);
            return Ok(());
        }
        let Some(response) = self.response.as_mut() else {
            self.ended_by = Some("end of body");
            return Ok(());
        };
        let Some(piece) = response.chunk().await? else {
            self.ended_by = Some("end of body");
            return Ok(());
        };
        self.capture(&piece)?;
        self.parser.feed(&piece);
        while let Some(event) = self.parser.next_event()? {
            self.event(&event)?;
            if self.ended_by.is_some() {
                break;
            }
        }
        Ok(())
    }

    /// Takes one event: text, an error, or the end.
    fn event(&mut self, event: &ParsedEvent) -> Result<(), RecordError> {
        let data = event.data();
        if data == "[DONE]" {
            self.ended_by = Some("[DONE]");
            return Ok(());
        }
        if data.is_empty() {
            return Ok(());
        }
        let value: Value = serde_json::from_str(data)?;
        if event.event_type() == "error" || value.get("error").is_some() {
            let message = value
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or(data);
            return Err(RecordError::Api(message.to_owned()));
        }
        if value.get("type").and_then(Value::as_str) == Some("message_stop") {
            self.ended_by = Some("message_stop");
            return Ok(());
        }
        let text = value
            .pointer("/choices/0/delta/content")
            .or_else(|| value.pointer("/delta/text"))
            .and_then(Value::as_str);
        if let Some(text) = text.filter(|text| !text.is_empty()) {
            self.pending.push_back(text.to_owned());
        }
        Ok(())
    }

    /// Writes the complete lines of `piece` to the capture, each after the time it completed.
    fn capture(&mut self, piece: &[u8]) -> Result<(), RecordError> {
        let Some(capture) = self.capture.as_mut() else {
            return Ok(());
        };
        let at = self.started.elapsed().as_secs_f64();
        let fail = |source| RecordError::Write {
            what: "capture",
            source,
        };
        for &byte in piece {
            if byte == b'\n' {
                if self.line.last() == Some(&b'\r') {
                    self.line.pop();
                }
                write!(capture, "{at:.6} ").map_err(fail)?;
                capture.write_all(&self.line).map_err(fail)?;
                capture.write_all(b"\n").map_err(fail)?;
                self.line.clear();
            } else {
                self.line.push(byte);
            }
        }
        Ok(())
    }

    /// The stream is over: the capture's last line, if unfinished, and a flush.
    fn finish(&mut self) -> Result<(), RecordError> {
        if !self.line.is_empty() {
            self.capture(b"\n")?;
        }
        match self.capture.as_mut() {
            Some(capture) => capture.flush().map_err(|source| RecordError::Write {
                what: "capture",
                source,
            }),
            None => Ok(()),
        }
    }
}

/// The start of a response body, for an error message.
async fn excerpt(response: reqwest::Response) -> String {
    let text = response.text().await.unwrap_or_default();
    let text = text.trim();
    match text.char_indices().nth(500) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}
