//! [`OpenAiResponses`]: the streaming format of OpenAI's Responses API.

use std::collections::BTreeMap;

use bytes::BytesMut;

use super::{json, write_other};
use crate::llm::{FinishReason, Item, TextKind, ToolCall, Usage};
use crate::sse::encode::{write_decimal, write_json_string};
use crate::sse::Format;
use crate::Chunk;

/// The [`Format`] of OpenAI's Responses API (`POST /v1/responses`) with `stream: true`, which
/// the official SDKs (`client.responses.create(stream=True)`, `client.responses.stream(…)`)
/// and the Vercel AI SDK's default OpenAI provider read.
///
/// Every event is named after its `type` (`event: response.created`, …) and carries a
/// `sequence_number`, counting up from 0. The stream:
///
/// 1. `response.created` and `response.in_progress`, with the response (`id`, `model`,
///    `created_at`, `status: "in_progress"`, no output yet).
/// 2. An output item per run of items of a kind, each added (`response.output_item.added`)
///    and, when the next one starts or the stream ends, done (`response.output_item.done`,
///    with the whole item):
///
///    | items | output item | events |
///    |---|---|---|
///    | [`Content`](Item::Content) | `message`, part `output_text` | `response.content_part.added`, `response.output_text.delta` (`item_id`, `output_index`, `content_index`, `delta`, `logprobs`), `response.output_text.done`, `response.content_part.done` |
///    | [`Refusal`](Item::Refusal) | `message`, part `refusal` | `response.content_part.added`, `response.refusal.delta`, `response.refusal.done`, `response.content_part.done` |
///    | [`Reasoning`](Item::Reasoning) | `reasoning`, content part `reasoning_text` | `response.content_part.added`, `response.reasoning_text.delta`, `response.reasoning_text.done`, `response.content_part.done` |
///    | [`ToolCall`](Item::ToolCall)s of one call index | `function_call` with `call_id` and `name` (`""` if its first fragment has none) | `response.function_call_arguments.delta`, `response.function_call_arguments.done` |
///    | [`Logprobs`](Item::Logprobs) | after `output_text`: a `response.output_text.delta` with an empty `delta` and the `logprobs` (a JSON array; anything else is left out), also collected into the part | |
///
///    Answer and refusal text alternate as parts of one message. Reasoning is raw reasoning
///    text, so it goes out as `reasoning_text` (as vLLM and other servers of open models send
///    it), not as a reasoning *summary* (`response.reasoning_summary_text.delta`, which only
///    OpenAI's own models write); the SDKs accept both. Function calls stay open while
///    other calls' fragments interleave with theirs, until text starts or the stream ends.
/// 3. At a clean end: `response.completed`, or `response.incomplete` when the stream finished
///    for [`Length`](FinishReason::Length) (`incomplete_details.reason: "max_output_tokens"`)
///    or [`ContentFilter`](FinishReason::ContentFilter) (`"content_filter"`), with the whole
///    response: `output` (every item, as done) and `usage` (the last [`Item::Usage`]; without
///    one, the output tokens are the sum of the chunks' [`token_count`](Chunk::token_count)s
///    and the input tokens 0).
///
/// The stream opens lazily, with its first item, so that an upstream's [`Item::Start`] can set
/// the `id` and `model` given to [`new`](Self::new). A plain stream of [`Chunk`]s is answer
/// text. The format holds the text of the whole response until the end, as the `.done`
/// events and the final response repeat it. Items of a choice other than 0
/// ([`Item::Choice`]) are left out. [`Item::Other`] events of this format
/// (`"openai-responses"`: output items this crate has no item for, such as web search calls,
/// and their events) are passed on with this stream's `sequence_number` and their
/// `output_index` renumbered to fit the items around them.
///
/// When upstream fails ([`Format::error`]), the stream ends with an `error` event (`code:
/// "server_error"` and the message) and, once the response was created, `response.failed`
/// with the response's `error`, as the API ends a response that fails.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use tokenflush::llm::{FinishReason, Item, Usage};
/// use tokenflush::sse::{EncodeSseExt, OpenAiResponses, Parser};
/// use tokenflush::Chunk;
///
/// # futures::executor::block_on(async {
/// let items = futures::stream::iter([
///     Item::Content(Chunk::new("Hel").unwrap()),
///     Item::Content(Chunk::new("lo").unwrap()),
///     Item::Finish(FinishReason::Stop),
///     Item::Usage(Usage::new(5, 2)),
/// ]);
/// let format = OpenAiResponses::new("resp_1", "gpt-5").with_created_at(1_700_000_000);
/// let frames: Vec<_> = items.encode_sse_as(format).collect().await;
/// let mut parser = Parser::new();
/// frames.iter().for_each(|frame| parser.feed(frame));
/// let events: Vec<_> = std::iter::from_fn(|| parser.next_event().unwrap()).collect();
/// let types: Vec<_> = events.iter().map(|event| event.event_type()).collect();
/// assert_eq!(
///     types,
///     [
///         "response.created", "response.in_progress", "response.output_item.added",
///         "response.content_part.added", "response.output_text.delta", "response.output_text.delta",
///         "response.output_text.done", "response.content_part.done", "response.output_item.done",
///         "response.completed",
///     ],
/// );
/// assert_eq!(
///     events[4].data(),
///     r#"{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_1_0","output_index":0,"content_index":0,"delta":"Hel","logprobs":[]}"#,
/// );
/// assert!(events[9].data().contains(r#""usage":{"input_tokens":5,"input_tokens_details":{"cached_tokens":0},"output_tokens":2,"#));
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenAiResponses {
    id: String,
    model: String,
    created_at: u64,
    rendering: Rendering,
    #[cfg(feature = "llm-parse")]
    pub(super) decoding: super::decode::openai_responses::Decoding,
}

/// What the rendering side has sent so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Rendering {
    /// `response.created` went out: the id and model are fixed.
    opened: bool,
    /// The response id without its `resp_` prefix, JSON-escaped (no quotes): the middle of
    /// every item id.
    id_tail: Vec<u8>,
    /// The next event's `sequence_number`.
    sequence: u64,
    /// The choice the next items belong to; only choice 0's are sent.
    choice: u32,
    /// Every output item so far, in order, with its status.
    output: Vec<(Output, &'static str)>,
    /// The open message or reasoning item.
    text_item: Option<usize>,
    /// The open function calls: call index, and output index.
    calls: BTreeMap<u32, usize>,
    /// Passed-on output items of the upstream: their upstream output index, and ours.
    passed: BTreeMap<u64, usize>,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    output_tokens: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Output {
    Message(Vec<Part>),
    Reasoning(String),
    Call {
        call_id: String,
        name: String,
        arguments: String,
    },
    /// An upstream item passed on: its JSON as last seen.
    Passed(String),
}

/// A part of a message: answer text (with its logprobs, the elements of a JSON array joined)
/// or a refusal.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Part {
    refusal: bool,
    text: String,
    logprobs: String,
}

/// The format's name in [`Item::Other`].
const NAME: &str = "openai-responses";

impl Default for OpenAiResponses {
    /// The format with an empty id and model, for decoding, or for a typed stream whose
    /// [`Item::Start`] names them.
    fn default() -> Self {
        Self::new("", "")
    }
}

impl OpenAiResponses {
    /// The format for a response with this `id` (`resp_…`) and `model`, created now.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::OpenAiResponses;
    ///
    /// let format = OpenAiResponses::new("resp_1", "gpt-5");
    /// assert_eq!((format.id(), format.model()), ("resp_1", "gpt-5"));
    /// assert!(format.created_at() > 1_700_000_000);
    /// ```
    #[must_use]
    pub fn new(id: impl Into<String>, model: impl Into<String>) -> Self {
        let created_at = super::unix_seconds();
        Self {
            id: id.into(),
            model: model.into(),
            created_at,
            rendering: Rendering::default(),
            #[cfg(feature = "llm-parse")]
            decoding: Default::default(),
        }
    }

    /// Sets `created_at`, in seconds since the Unix epoch.
    #[must_use]
    pub fn with_created_at(mut self, created_at: u64) -> Self {
        self.created_at = created_at;
        self
    }

    /// The response id: the one given to [`new`](Self::new), or the upstream's once an
    /// [`Item::Start`] named it.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The model name.
    #[must_use]
    pub fn model(&self) -> &str {
        &self.model
    }

    /// `created_at`, in seconds since the Unix epoch.
    #[must_use]
    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    /// Writes `event: <kind>\ndata: {"type":"<kind>","sequence_number":<n>` — the start of
    /// every event; the caller writes the rest and [`END`].
    fn head(&mut self, kind: &str, out: &mut BytesMut) {
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\ndata: {\"type\":\"");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(br#"","sequence_number":"#);
        self.next_sequence(out);
    }

    fn next_sequence(&mut self, out: &mut BytesMut) {
        write_decimal(out, u128::from(self.rendering.sequence));
        self.rendering.sequence = self.rendering.sequence.saturating_add(1);
    }

    /// Writes `response.created` and `response.in_progress` if they have not gone out.
    fn open(&mut self, out: &mut BytesMut) {
        if std::mem::replace(&mut self.rendering.opened, true) {
            return;
        }
        let mut tail = BytesMut::with_capacity(self.id.len() + 2);
        write_json_string(&mut tail, self.id.strip_prefix("resp_").unwrap_or(&self.id));
        self.rendering.id_tail = tail[1..tail.len() - 1].to_vec();
        for kind in ["response.created", "response.in_progress"] {
            self.head(kind, out);
            out.extend_from_slice(br#","response":"#);
            self.write_response("in_progress", None, None, out);
            out.extend_from_slice(END);
        }
    }

    /// Writes the response object: `status`, the `error` message of a failed one, the
    /// `incomplete_details` reason of an incomplete one; a response in progress has no output
    /// and no usage yet.
    fn write_response(
        &self,
        status: &str,
        error: Option<&str>,
        incomplete: Option<&str>,
        out: &mut BytesMut,
    ) {
        out.extend_from_slice(br#"{"id":"#);
        write_json_string(out, &self.id);
        out.extend_from_slice(br#","object":"response","created_at":"#);
        write_decimal(out, u128::from(self.created_at));
        out.extend_from_slice(br#","status":""#);
        out.extend_from_slice(status.as_bytes());
        out.extend_from_slice(br#"","error":"#);
        match error {
            Some(message) => {
                out.extend_from_slice(br#"{"code":"server_error","message":"#);
                write_json_string(out, message);
                out.extend_from_slice(b"}");
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(br#","incomplete_details":"#);
        match incomplete {
            Some(reason) => {
                out.extend_from_slice(br#"{"reason":""#);
                out.extend_from_slice(reason.as_bytes());
                out.extend_from_slice(br#""}"#);
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(br#","model":"#);
        write_json_string(out, &self.model);
        out.extend_from_slice(br#","output":["#);
        if status != "in_progress" {
            for index in 0..self.rendering.output.len() {
                if index > 0 {
                    out.extend_from_slice(b",");
                }
                self.write_item(index, out);
            }
        }
        out.extend_from_slice(
            br#"],"parallel_tool_calls":true,"tool_choice":"auto","tools":[],"usage":"#,
        );
        if status == "in_progress" {
            out.extend_from_slice(b"null");
        } else {
            let usage = self
                .rendering
                .usage
                .unwrap_or(Usage::new(0, self.rendering.output_tokens));
            write_usage(&usage, out);
        }
        out.extend_from_slice(b"}");
    }

    /// Writes the id of the item at `index`: `msg_…`, `rs_…` or `fc_…`, then the response id
    /// without `resp_`, then the index.
    fn write_item_id(&self, index: usize, out: &mut BytesMut) {
        out.extend_from_slice(match self.output_item(index) {
            Some(Output::Reasoning(_)) => b"\"rs_",
            Some(Output::Call { .. }) => b"\"fc_",
            _ => b"\"msg_",
        });
        out.extend_from_slice(&self.rendering.id_tail);
        out.extend_from_slice(b"_");
        write_decimal(out, index as u128);
        out.extend_from_slice(b"\"");
    }

    /// Writes `,"item_id":…,"output_index":…`.
    fn write_item_ref(&self, index: usize, out: &mut BytesMut) {
        out.extend_from_slice(br#","item_id":"#);
        self.write_item_id(index, out);
        out.extend_from_slice(br#","output_index":"#);
        write_decimal(out, index as u128);
    }

    /// The output item at `index`.
    fn output_item(&self, index: usize) -> Option<&Output> {
        self.rendering.output.get(index).map(|(item, _)| item)
    }

    /// The output item at `index`, mutably.
    fn output_item_mut(&mut self, index: usize) -> Option<&mut Output> {
        self.rendering.output.get_mut(index).map(|(item, _)| item)
    }

    /// Writes the output item at `index` as it is now.
    fn write_item(&self, index: usize, out: &mut BytesMut) {
        let Some((item, status)) = self.rendering.output.get(index) else {
            return;
        };
        match item {
            Output::Message(parts) => {
                out.extend_from_slice(br#"{"id":"#);
                self.write_item_id(index, out);
                out.extend_from_slice(br#","type":"message","status":""#);
                out.extend_from_slice(status.as_bytes());
                out.extend_from_slice(br#"","content":["#);
                for (at, part) in parts.iter().enumerate() {
                    if at > 0 {
                        out.extend_from_slice(b",");
                    }
                    write_part(part, out);
                }
                out.extend_from_slice(br#"],"role":"assistant"}"#);
            }
            Output::Reasoning(text) => {
                out.extend_from_slice(br#"{"id":"#);
                self.write_item_id(index, out);
                out.extend_from_slice(br#","type":"reasoning","summary":[],"content":["#);
                if !text.is_empty() || *status != "in_progress" {
                    write_reasoning_part(text, out);
                }
                out.extend_from_slice(br#"],"status":""#);
                out.extend_from_slice(status.as_bytes());
                out.extend_from_slice(br#""}"#);
            }
            Output::Call {
                call_id,
                name,
                arguments,
            } => {
                out.extend_from_slice(br#"{"id":"#);
                self.write_item_id(index, out);
                out.extend_from_slice(br#","type":"function_call","status":""#);
                out.extend_from_slice(status.as_bytes());
                out.extend_from_slice(br#"","arguments":"#);
                write_json_string(out, arguments);
                out.extend_from_slice(br#","call_id":"#);
                write_json_string(out, call_id);
                out.extend_from_slice(br#","name":"#);
                write_json_string(out, name);
                out.extend_from_slice(b"}");
            }
            // Checked and compacted when it came.
            Output::Passed(item) => out.extend_from_slice(item.as_bytes()),
        }
    }

    /// Adds an output item and writes `response.output_item.added`; returns its index.
    fn add_item(&mut self, item: Output, out: &mut BytesMut) -> usize {
        let index = self.rendering.output.len();
        self.rendering.output.push((item, "in_progress"));
        self.head("response.output_item.added", out);
        out.extend_from_slice(br#","output_index":"#);
        write_decimal(out, index as u128);
        out.extend_from_slice(br#","item":"#);
        self.write_item(index, out);
        out.extend_from_slice(END);
        index
    }

    /// Writes `response.output_item.done` for the item at `index`.
    fn item_done(&mut self, index: usize, status: &'static str, out: &mut BytesMut) {
        if let Some((_, done)) = self.rendering.output.get_mut(index) {
            *done = status;
        }
        self.head("response.output_item.done", out);
        out.extend_from_slice(br#","output_index":"#);
        write_decimal(out, index as u128);
        out.extend_from_slice(br#","item":"#);
        self.write_item(index, out);
        out.extend_from_slice(END);
    }

    /// Writes `response.content_part.added` or `.done` for part `part` of item `index`.
    fn part_event(&mut self, kind: &str, index: usize, part: usize, out: &mut BytesMut) {
        self.head(kind, out);
        self.write_item_ref(index, out);
        out.extend_from_slice(br#","content_index":"#);
        write_decimal(out, part as u128);
        out.extend_from_slice(br#","part":"#);
        match self.output_item(index) {
            Some(Output::Message(parts)) => {
                if let Some(part) = parts.get(part) {
                    write_part(part, out);
                }
            }
            Some(Output::Reasoning(text)) => write_reasoning_part(text, out),
            _ => {}
        }
        out.extend_from_slice(END);
    }

    /// Closes the open message or reasoning item: its last part's `.done` events, then the
    /// item's.
    fn close_text_item(&mut self, status: &'static str, out: &mut BytesMut) {
        let Some(index) = self.rendering.text_item.take() else {
            return;
        };
        match self.output_item(index) {
            Some(Output::Message(parts)) => {
                if let Some(last) = parts.len().checked_sub(1) {
                    self.part_done(index, last, out);
                }
            }
            Some(Output::Reasoning(text)) => {
                let text = text.clone();
                self.head("response.reasoning_text.done", out);
                self.write_item_ref(index, out);
                out.extend_from_slice(br#","content_index":0,"text":"#);
                write_json_string(out, &text);
                out.extend_from_slice(END);
                self.part_event("response.content_part.done", index, 0, out);
            }
            _ => {}
        }
        self.item_done(index, status, out);
    }

    /// Writes the `.done` events of part `part` of the message at `index`.
    fn part_done(&mut self, index: usize, part: usize, out: &mut BytesMut) {
        let Some(Output::Message(parts)) = self.output_item(index) else {
            return;
        };
        let Some(Part {
            refusal,
            text,
            logprobs,
        }) = parts.get(part).cloned()
        else {
            return;
        };
        if refusal {
            self.head("response.refusal.done", out);
            self.write_item_ref(index, out);
            out.extend_from_slice(br#","content_index":"#);
            write_decimal(out, part as u128);
            out.extend_from_slice(br#","refusal":"#);
            write_json_string(out, &text);
        } else {
            self.head("response.output_text.done", out);
            self.write_item_ref(index, out);
            out.extend_from_slice(br#","content_index":"#);
            write_decimal(out, part as u128);
            out.extend_from_slice(br#","text":"#);
            write_json_string(out, &text);
            out.extend_from_slice(br#","logprobs":["#);
            out.extend_from_slice(logprobs.as_bytes());
            out.extend_from_slice(b"]");
        }
        out.extend_from_slice(END);
        self.part_event("response.content_part.done", index, part, out);
    }

    /// Closes the open function calls, in output order.
    fn close_calls(&mut self, status: &'static str, out: &mut BytesMut) {
        let mut open: Vec<usize> = std::mem::take(&mut self.rendering.calls)
            .into_values()
            .collect();
        open.sort_unstable();
        for index in open {
            let arguments = match self.output_item(index) {
                Some(Output::Call { arguments, .. }) => arguments.clone(),
                _ => continue,
            };
            self.head("response.function_call_arguments.done", out);
            self.write_item_ref(index, out);
            out.extend_from_slice(br#","arguments":"#);
            write_json_string(out, &arguments);
            out.extend_from_slice(END);
            self.item_done(index, status, out);
        }
    }

    fn text(&mut self, kind: TextKind, chunk: &Chunk, out: &mut BytesMut) {
        if self.rendering.choice != 0 {
            return;
        }
        let text = chunk.as_str();
        out.reserve(text.len() + 160);
        self.open(out);
        self.rendering.output_tokens = self
            .rendering
            .output_tokens
            .saturating_add(chunk.token_count() as u64);
        let reasoning = kind == TextKind::Reasoning;
        let refusal = kind == TextKind::Refusal;
        let current = self
            .rendering
            .text_item
            .and_then(|index| Some((index, self.output_item(index)?)));
        let (index, part) = match current {
            Some((index, Output::Reasoning(_))) if reasoning => (index, 0),
            Some((index, Output::Message(parts))) if !reasoning => {
                let last = parts.len().checked_sub(1);
                match last {
                    Some(last) if parts[last].refusal == refusal => (index, last),
                    _ => {
                        if let Some(last) = last {
                            self.part_done(index, last, out);
                        }
                        (index, self.add_part(index, refusal, out))
                    }
                }
            }
            _ => {
                self.close_text_item("completed", out);
                self.close_calls("completed", out);
                if reasoning {
                    let index = self.add_item(Output::Reasoning(String::new()), out);
                    self.rendering.text_item = Some(index);
                    self.part_event("response.content_part.added", index, 0, out);
                    (index, 0)
                } else {
                    let index = self.add_item(Output::Message(Vec::new()), out);
                    self.rendering.text_item = Some(index);
                    (index, self.add_part(index, refusal, out))
                }
            }
        };
        self.head(
            match kind {
                TextKind::Content => "response.output_text.delta",
                TextKind::Refusal => "response.refusal.delta",
                TextKind::Reasoning => "response.reasoning_text.delta",
            },
            out,
        );
        self.write_item_ref(index, out);
        out.extend_from_slice(br#","content_index":"#);
        write_decimal(out, part as u128);
        out.extend_from_slice(br#","delta":"#);
        write_json_string(out, text);
        if kind == TextKind::Content {
            out.extend_from_slice(br#","logprobs":[]"#);
        }
        out.extend_from_slice(END);
        match self.output_item_mut(index) {
            Some(Output::Reasoning(all)) => all.push_str(text),
            Some(Output::Message(parts)) => {
                if let Some(part) = parts.get_mut(part) {
                    part.text.push_str(text);
                }
            }
            _ => {}
        }
    }

    /// Adds a part to the message at `index` and writes `response.content_part.added`;
    /// returns the part's index.
    fn add_part(&mut self, index: usize, refusal: bool, out: &mut BytesMut) -> usize {
        let Some(Output::Message(parts)) = self.output_item_mut(index) else {
            return 0;
        };
        parts.push(Part {
            refusal,
            text: String::new(),
            logprobs: String::new(),
        });
        let part = parts.len() - 1;
        self.part_event("response.content_part.added", index, part, out);
        part
    }

    fn tool_call(&mut self, call: &ToolCall, out: &mut BytesMut) {
        if self.rendering.choice != 0 {
            return;
        }
        self.open(out);
        let index = match self.rendering.calls.get(&call.index()) {
            Some(&index) => index,
            None => {
                self.close_text_item("completed", out);
                let index = self.add_item(
                    Output::Call {
                        call_id: call.id().unwrap_or_default().to_owned(),
                        name: call.name().unwrap_or_default().to_owned(),
                        arguments: String::new(),
                    },
                    out,
                );
                self.rendering.calls.insert(call.index(), index);
                index
            }
        };
        let arguments = call.arguments();
        if arguments.is_empty() {
            return;
        }
        self.head("response.function_call_arguments.delta", out);
        self.write_item_ref(index, out);
        out.extend_from_slice(br#","delta":"#);
        write_json_string(out, arguments);
        out.extend_from_slice(END);
        if let Some(Output::Call { arguments: all, .. }) = self.output_item_mut(index) {
            all.push_str(arguments);
        }
    }

    fn logprobs(&mut self, logprobs: &str, out: &mut BytesMut) {
        if self.rendering.choice != 0 || !json::is_array(logprobs) {
            return;
        }
        let Some(index) = self.rendering.text_item else {
            return;
        };
        let Some(Output::Message(parts)) = self.output_item(index) else {
            return;
        };
        let Some(part) = parts
            .len()
            .checked_sub(1)
            .filter(|&last| !parts[last].refusal)
        else {
            return;
        };
        let start = out.len();
        let sequence = self.rendering.sequence;
        self.head("response.output_text.delta", out);
        self.write_item_ref(index, out);
        out.extend_from_slice(br#","content_index":"#);
        write_decimal(out, part as u128);
        out.extend_from_slice(br#","delta":"","logprobs":"#);
        let array_start = out.len();
        if !json::write_compact(out, logprobs) {
            out.truncate(start);
            self.rendering.sequence = sequence;
            return;
        }
        // The elements, without the brackets, to join with the part's.
        let elements = std::str::from_utf8(&out[array_start + 1..out.len() - 1])
            .unwrap_or_default()
            .to_owned();
        out.extend_from_slice(END);
        if let Some(Output::Message(parts)) = self.output_item_mut(index) {
            if let Some(part) = parts.get_mut(part) {
                if !elements.is_empty() {
                    if !part.logprobs.is_empty() {
                        part.logprobs.push(',');
                    }
                    part.logprobs.push_str(&elements);
                }
            }
        }
    }

    /// Passes on an event of a Responses upstream with this stream's `sequence_number` and
    /// its `output_index` renumbered.
    fn other(&mut self, event: Option<&str>, data: &str, out: &mut BytesMut) {
        self.open(out);
        let Some(members) = json::members(data) else {
            write_other(out, event, data);
            return;
        };
        let kind = json::find(&members, "type").and_then(json::plain_str);
        let upstream = json::find(&members, "output_index").and_then(json::as_u64);
        let item = json::find(&members, "item").and_then(|item| {
            let mut compact = BytesMut::new();
            json::write_compact(&mut compact, item)
                .then(|| String::from_utf8_lossy(&compact).into_owned())
        });
        let index = match (kind, upstream) {
            (Some("response.output_item.added"), Some(upstream)) => {
                self.close_text_item("completed", out);
                self.close_calls("completed", out);
                let index = self.rendering.output.len();
                self.rendering.output.push((
                    Output::Passed(item.unwrap_or_else(|| "{}".to_owned())),
                    "in_progress",
                ));
                self.rendering.passed.insert(upstream, index);
                Some(index)
            }
            (_, Some(upstream)) => {
                let index = self
                    .rendering
                    .passed
                    .get(&upstream)
                    .copied()
                    .or(self.rendering.text_item);
                if let (Some("response.output_item.done"), Some(index), Some(item)) =
                    (kind, index, item)
                {
                    if let Some((passed @ Output::Passed(_), status)) =
                        self.rendering.output.get_mut(index)
                    {
                        *passed = Output::Passed(item);
                        *status = "completed";
                    }
                }
                index
            }
            (_, None) => None,
        };
        let event = kind.or(event);
        if event.is_some_and(crate::sse::lines::has_line_break) {
            return;
        }
        if let Some(event) = event.filter(|event| !event.is_empty()) {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(event.as_bytes());
            out.extend_from_slice(b"\n");
        }
        out.extend_from_slice(b"data: ");
        let sequence = self.rendering.sequence;
        self.rendering.sequence = sequence.saturating_add(1);
        match (index, upstream) {
            (Some(index), Some(_)) => json::write_object_with(
                out,
                &members,
                &[
                    ("sequence_number", sequence),
                    ("output_index", index as u64),
                ],
            ),
            _ => json::write_object_with(out, &members, &[("sequence_number", sequence)]),
        }
        out.extend_from_slice(b"\n\n");
    }
}

/// What ends an event's JSON and the event.
const END: &[u8] = b"}\n\n";

fn write_part(part: &Part, out: &mut BytesMut) {
    if part.refusal {
        out.extend_from_slice(br#"{"type":"refusal","refusal":"#);
        write_json_string(out, &part.text);
        out.extend_from_slice(b"}");
    } else {
        out.extend_from_slice(br#"{"type":"output_text","annotations":[],"logprobs":["#);
        out.extend_from_slice(part.logprobs.as_bytes());
        out.extend_from_slice(br#"],"text":"#);
        write_json_string(out, &part.text);
        out.extend_from_slice(b"}");
    }
}

fn write_reasoning_part(text: &str, out: &mut BytesMut) {
    out.extend_from_slice(br#"{"type":"reasoning_text","text":"#);
    write_json_string(out, text);
    out.extend_from_slice(b"}");
}

/// Writes `usage` as the API's, with the details it always has.
fn write_usage(usage: &Usage, out: &mut BytesMut) {
    out.extend_from_slice(br#"{"input_tokens":"#);
    write_decimal(out, u128::from(usage.input_tokens()));
    out.extend_from_slice(br#","input_tokens_details":{"cached_tokens":"#);
    write_decimal(out, u128::from(usage.cached_input_tokens().unwrap_or(0)));
    out.extend_from_slice(br#"},"output_tokens":"#);
    write_decimal(out, u128::from(usage.output_tokens()));
    out.extend_from_slice(br#","output_tokens_details":{"reasoning_tokens":"#);
    write_decimal(out, u128::from(usage.reasoning_tokens().unwrap_or(0)));
    out.extend_from_slice(br#"},"total_tokens":"#);
    write_decimal(out, u128::from(usage.total_tokens()));
    out.extend_from_slice(b"}");
}

impl Format for OpenAiResponses {
    fn chunk(&mut self, chunk: &Chunk, out: &mut BytesMut) {
        self.text(TextKind::Content, chunk, out);
    }

    fn item(&mut self, item: &Item<Chunk>, out: &mut BytesMut) {
        match item {
            Item::Start { id, model } => {
                super::adopt_names(
                    self.rendering.opened,
                    (&mut self.id, &mut self.model),
                    (id, model),
                );
                self.open(out);
            }
            Item::Content(chunk) => self.text(TextKind::Content, chunk, out),
            Item::Reasoning(chunk) => self.text(TextKind::Reasoning, chunk, out),
            Item::Refusal(chunk) => self.text(TextKind::Refusal, chunk, out),
            Item::ToolCall(call) => self.tool_call(call, out),
            Item::Logprobs(logprobs) => self.logprobs(logprobs, out),
            Item::Choice(index) => self.rendering.choice = *index,
            Item::Finish(reason) => {
                if self.rendering.choice == 0 {
                    self.rendering.finish = Some(reason.clone());
                }
            }
            Item::Usage(usage) => self.rendering.usage = Some(*usage),
            Item::Other {
                format: NAME,
                event,
                data,
            } => self.other(event.as_deref(), data, out),
            Item::Other { .. } => {}
        }
    }

    fn close(&mut self, out: &mut BytesMut) {
        self.open(out);
        let incomplete = match self.rendering.finish {
            Some(FinishReason::Length) => Some("max_output_tokens"),
            Some(FinishReason::ContentFilter) => Some("content_filter"),
            _ => None,
        };
        let (kind, status) = match incomplete {
            Some(_) => ("response.incomplete", "incomplete"),
            None => ("response.completed", "completed"),
        };
        self.close_text_item(status, out);
        self.close_calls(status, out);
        self.head(kind, out);
        out.extend_from_slice(br#","response":"#);
        self.write_response(status, None, incomplete, out);
        out.extend_from_slice(END);
    }

    /// Writes an `error` event (`code: "server_error"`, the message) and, once the response
    /// was created, `response.failed` with the response so far and its `error`.
    fn error(&mut self, message: &str, out: &mut BytesMut) {
        out.reserve(message.len() + 96);
        self.head("error", out);
        out.extend_from_slice(br#","code":"server_error","message":"#);
        write_json_string(out, message);
        out.extend_from_slice(br#","param":null"#);
        out.extend_from_slice(END);
        if self.rendering.opened {
            self.head("response.failed", out);
            out.extend_from_slice(br#","response":"#);
            self.write_response("failed", Some(message), None, out);
            out.extend_from_slice(END);
        }
    }
}
