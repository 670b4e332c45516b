//! Re-chunking an OpenAI-compatible event stream: content deltas are merged by a flush
//! policy, everything else passes through in order, never merged with text.

use std::fmt::Display;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use futures::stream::{self, Stream, StreamExt};
use serde_json::Value;
use tokenflush::policy::FlushPolicy;
use tokenflush::sse::{Event, OpenAiChat, ParseError, ParseSseExt, ParsedEvent, Parser};
use tokenflush::{FlushExt, FlushWith};

/// One upstream event, sorted.
enum Upstream {
    /// A chunk whose only news is text for choice 0: the text, and the chunk without it.
    Content { text: String, template: Value },
    /// Anything else (role, tool calls, finish reason, usage, errors, unknown events): sent
    /// on as it came.
    Other(ParsedEvent),
    /// `data: [DONE]`.
    Done,
}

/// Why a run of content deltas ended.
enum Stop {
    Other(ParsedEvent),
    Done,
    Failed(String),
    Ended,
}

/// The content deltas of upstream up to the next event that is not one; that event (or the
/// end) is kept in `stop` for the re-chunker to send after the text.
struct ContentRun {
    upstream: Pin<Box<dyn Stream<Item = Result<Upstream, String>> + Send>>,
    /// The latest content chunk, without its text: the shape of the chunks sent for it.
    template: Option<Value>,
    stop: Option<Stop>,
}

impl Stream for ContentRun {
    type Item = String;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<String>> {
        if self.stop.is_some() {
            return Poll::Ready(None);
        }
        let stop = match ready!(self.upstream.as_mut().poll_next(cx)) {
            Some(Ok(Upstream::Content { text, template })) => {
                self.template = Some(template);
                return Poll::Ready(Some(text));
            }
            Some(Ok(Upstream::Other(event))) => Stop::Other(event),
            Some(Ok(Upstream::Done)) => Stop::Done,
            Some(Err(message)) => Stop::Failed(message),
            None => Stop::Ended,
        };
        self.stop = Some(stop);
        Poll::Ready(None)
    }
}

type Policy = Box<dyn FlushPolicy + Send>;

/// Re-chunks an upstream response body (an OpenAI-compatible event stream) into SSE frames:
/// runs of content deltas go through `flush_with(make_policy())` and come out as chunks of the
/// same shape (id, model, created… from upstream) holding the merged text; every other event
/// first flushes the text before it, then passes through unchanged; `[DONE]` ends the stream.
/// If upstream fails or ends inside an event, the text so far is sent, then OpenAI's error
/// event. Dropping the stream drops the upstream body (and so the upstream request).
pub fn rechunk<S, E>(
    body: S,
    make_policy: impl Fn() -> Policy + Send + 'static,
) -> impl Stream<Item = Bytes> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + 'static,
    E: Display + Send + 'static,
{
    let upstream = body.parse_sse(Parser::new()).map(|event| match event {
        Ok(event) => Ok(sort(event)),
        Err(ParseError::Body(error)) => Err(format!("reading the upstream failed: {error}")),
        Err(error) => Err(format!("the upstream stream is malformed: {error}")),
    });
    let run = ContentRun {
        upstream: Box::pin(upstream),
        template: None,
        stop: None,
    };
    let first: Option<FlushWith<ContentRun, Policy>> = Some(run.flush_with(make_policy()));
    stream::unfold((first, make_policy), |(state, make_policy)| async move {
        let mut chunks = state?;
        if let Some(chunk) = chunks.next().await {
            let frame = content_frame(chunks.get_ref().template.as_ref(), chunk.as_str());
            return Some((frame, (Some(chunks), make_policy)));
        }
        // The run ended, its text is out: now what ended it.
        let mut run = chunks.into_inner();
        match run.stop.take() {
            Some(Stop::Other(event)) => {
                let frame = passthrough_frame(&event);
                let next = run.flush_with(make_policy());
                Some((frame, (Some(next), make_policy)))
            }
            Some(Stop::Done) => {
                Some((Bytes::from_static(b"data: [DONE]\n\n"), (None, make_policy)))
            }
            Some(Stop::Failed(message)) => {
                let frame = OpenAiChat::error_event(&message)
                    .to_bytes()
                    .expect("a data-only event frames");
                Some((frame, (None, make_policy)))
            }
            Some(Stop::Ended) | None => None,
        }
    })
}

fn sort(event: ParsedEvent) -> Upstream {
    if event.data() == "[DONE]" {
        return Upstream::Done;
    }
    if event.event_type() != "message" {
        return Upstream::Other(event);
    }
    let Ok(mut chunk) = serde_json::from_str::<Value>(event.data()) else {
        return Upstream::Other(event);
    };
    match take_content(&mut chunk) {
        Some(text) => Upstream::Content {
            text,
            template: chunk,
        },
        None => Upstream::Other(event),
    }
}

/// The text of a `chat.completion.chunk` whose only news is non-empty content for choice 0,
/// taken out of it; `None` (and the chunk untouched) for any other chunk: a role, tool calls,
/// a refusal, logprobs, a finish reason, usage, several choices. Fields that are null count
/// as absent.
fn take_content(chunk: &mut Value) -> Option<String> {
    let object = chunk.as_object()?;
    if object.get("object")?.as_str()? != "chat.completion.chunk" {
        return None;
    }
    if object.get("usage").is_some_and(|usage| !usage.is_null()) {
        return None;
    }
    let [choice] = object.get("choices")?.as_array()?.as_slice() else {
        return None;
    };
    let choice = choice.as_object()?;
    if choice.get("index").and_then(Value::as_u64) != Some(0) {
        return None;
    }
    let news = choice
        .iter()
        .any(|(key, value)| key != "index" && key != "delta" && !value.is_null());
    let delta = choice.get("delta")?.as_object()?;
    let text = delta.get("content")?.as_str()?;
    // Some servers send unset fields as null (`"refusal": null`): those are not news.
    let more = delta
        .iter()
        .any(|(key, value)| key != "content" && !value.is_null());
    if news || more || text.is_empty() {
        return None;
    }
    let text = text.to_owned();
    chunk["choices"][0]["delta"] = Value::Object(Default::default());
    Some(text)
}

/// A chunk like `template` (the last content chunk seen) holding `text`.
fn content_frame(template: Option<&Value>, text: &str) -> Bytes {
    let mut chunk = template.cloned().unwrap_or_default();
    chunk["choices"][0]["delta"] = serde_json::json!({ "content": text });
    // serde_json writes no raw line breaks: one `data:` line.
    Bytes::from(format!("data: {chunk}\n\n"))
}

/// The event as it came: its type (if it had one) and its data.
fn passthrough_frame(event: &ParsedEvent) -> Bytes {
    let mut frame = Event::default().data(event.data());
    if event.event_type() != "message" {
        frame = frame.event(event.event_type());
    }
    // A type that came out of a parser holds no line break.
    frame.to_bytes().expect("a parsed event frames again")
}
