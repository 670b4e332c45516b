//! [`TextEvents`]: each chunk as a plain `data:` event.

use bytes::BytesMut;

use super::json;
use crate::llm::Item;
use crate::sse::encode::{write_data, write_decimal, write_json_string};
use crate::sse::lines::has_line_break;
use crate::sse::Format;
use crate::Chunk;

/// The plain format: each chunk as one `data:` event, optionally with increasing event ids.
///
/// A browser's `EventSource` hands answer text to `onmessage`. The other items of a typed
/// stream ([`Item`]) are events of their own type, for `addEventListener(type, …)`:
///
/// | item | event | data |
/// |---|---|---|
/// | [`Content`](Item::Content) | (none: `message`) | the text |
/// | [`Reasoning`](Item::Reasoning) | `reasoning` | the text |
/// | [`Refusal`](Item::Refusal) | `refusal` | the text |
/// | [`ToolCall`](Item::ToolCall) | `tool_call` | `{"index":0,"id":"call_1","name":"f","arguments":"{\"a\":"}` (`id` and `name` when the fragment has them) |
/// | [`Finish`](Item::Finish) | `finish` | `{"reason":"stop"}`, in OpenAI's words (`stop`, `length`, `tool_calls`, `content_filter`) |
/// | [`Usage`](Item::Usage) | `usage` | `{"input_tokens":…,"output_tokens":…,"total_tokens":…}`, with `reasoning_tokens` and `cached_input_tokens` when known |
/// | [`Logprobs`](Item::Logprobs) | `logprobs` | the JSON, if it is JSON |
/// | [`Choice`](Item::Choice) | `choice` | `{"index":1}` |
/// | [`Start`](Item::Start) | `start` | `{"id":…,"model":…}` (`null` when unknown) |
///
/// [`Item::Other`] has no place here and is left out.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use tokenflush::sse::{EncodeSseExt, TextEvents};
/// use tokenflush::Chunk;
///
/// # futures::executor::block_on(async {
/// let chunks = ["one", "two\nlines"].map(|text| Chunk::new(text).unwrap());
/// let frames: Vec<_> = futures::stream::iter(chunks)
///     .encode_sse_as(TextEvents::new().with_event_ids(7))
///     .collect()
///     .await;
/// assert_eq!(frames, ["id: 7\ndata: one\n\n", "id: 8\ndata: two\ndata: lines\n\n"]);
///
/// // A typed stream.
/// use tokenflush::llm::{FinishReason, Item};
/// let items = [
///     Item::Reasoning(Chunk::new("Hmm").unwrap()),
///     Item::Content(Chunk::new("Yes").unwrap()),
///     Item::Finish(FinishReason::Stop),
/// ];
/// let frames: Vec<_> = futures::stream::iter(items).encode_sse().collect().await;
/// assert_eq!(
///     frames,
///     ["event: reasoning\ndata: Hmm\n\n", "data: Yes\n\n", "event: finish\ndata: {\"reason\":\"stop\"}\n\n"],
/// );
/// # });
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextEvents {
    next_id: Option<u64>,
}

impl TextEvents {
    /// Plain `data:` events without ids.
    #[must_use]
    pub const fn new() -> Self {
        Self { next_id: None }
    }

    /// Gives each event an `id:`, counting up from `first` (wrapping after `u64::MAX`), so a
    /// reconnecting client's `Last-Event-ID` says what it has seen.
    #[must_use]
    pub const fn with_event_ids(mut self, first: u64) -> Self {
        self.next_id = Some(first);
        self
    }

    /// The id the next event gets, if events get ids.
    #[must_use]
    pub const fn next_id(&self) -> Option<u64> {
        self.next_id
    }
}

impl TextEvents {
    /// Writes the event's id (if events get ids) and its type (if it has one).
    fn head(&mut self, event_type: &[u8], out: &mut BytesMut) {
        if let Some(id) = &mut self.next_id {
            out.extend_from_slice(b"id: ");
            write_decimal(out, u128::from(*id));
            out.extend_from_slice(b"\n");
            *id = id.wrapping_add(1);
        }
        if !event_type.is_empty() {
            out.extend_from_slice(b"event: ");
            out.extend_from_slice(event_type);
            out.extend_from_slice(b"\n");
        }
    }

    fn text(&mut self, event_type: &[u8], text: &str, out: &mut BytesMut) {
        // One reservation covers the usual single-line frame with its id.
        out.reserve(text.len() + 32);
        self.head(event_type, out);
        if text.is_empty() || has_line_break(text) {
            write_data(out, text);
            out.extend_from_slice(b"\n");
        } else {
            // The usual chunk: one line.
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\n\n");
        }
    }
}

impl Format for TextEvents {
    fn chunk(&mut self, chunk: &Chunk, out: &mut BytesMut) {
        self.text(b"", chunk.as_str(), out);
    }

    fn item(&mut self, item: &Item<Chunk>, out: &mut BytesMut) {
        let event_type: &[u8] = match item {
            Item::Content(chunk) => return self.text(b"", chunk.as_str(), out),
            Item::Reasoning(chunk) => return self.text(b"reasoning", chunk.as_str(), out),
            Item::Refusal(chunk) => return self.text(b"refusal", chunk.as_str(), out),
            Item::Other { .. } => return,
            Item::Start { .. } => b"start",
            Item::ToolCall(_) => b"tool_call",
            Item::Logprobs(_) => b"logprobs",
            Item::Choice(_) => b"choice",
            Item::Finish(_) => b"finish",
            Item::Usage(_) => b"usage",
        };
        let start = out.len();
        self.head(event_type, out);
        out.extend_from_slice(b"data: ");
        match item {
            Item::Start { id, model } => {
                out.extend_from_slice(br#"{"id":"#);
                write_optional_string(out, id.as_deref());
                out.extend_from_slice(br#","model":"#);
                write_optional_string(out, model.as_deref());
                out.extend_from_slice(b"}");
            }
            Item::ToolCall(call) => {
                out.extend_from_slice(br#"{"index":"#);
                write_decimal(out, u128::from(call.index()));
                if let Some(id) = call.id() {
                    out.extend_from_slice(br#","id":"#);
                    write_json_string(out, id);
                }
                if let Some(name) = call.name() {
                    out.extend_from_slice(br#","name":"#);
                    write_json_string(out, name);
                }
                out.extend_from_slice(br#","arguments":"#);
                write_json_string(out, call.arguments());
                out.extend_from_slice(b"}");
            }
            Item::Logprobs(logprobs) if !json::write_compact(out, logprobs) => {
                // Not JSON: no event (and no id spent on it).
                if let Some(id) = &mut self.next_id {
                    *id = id.wrapping_sub(1);
                }
                out.truncate(start);
                return;
            }
            Item::Choice(index) => {
                out.extend_from_slice(br#"{"index":"#);
                write_decimal(out, u128::from(*index));
                out.extend_from_slice(b"}");
            }
            Item::Finish(reason) => {
                out.extend_from_slice(br#"{"reason":"#);
                write_json_string(out, reason.as_openai());
                out.extend_from_slice(b"}");
            }
            Item::Usage(usage) => {
                out.extend_from_slice(br#"{"input_tokens":"#);
                write_decimal(out, u128::from(usage.input_tokens()));
                out.extend_from_slice(br#","output_tokens":"#);
                write_decimal(out, u128::from(usage.output_tokens()));
                out.extend_from_slice(br#","total_tokens":"#);
                write_decimal(out, u128::from(usage.total_tokens()));
                if let Some(reasoning) = usage.reasoning_tokens() {
                    out.extend_from_slice(br#","reasoning_tokens":"#);
                    write_decimal(out, u128::from(reasoning));
                }
                if let Some(cached) = usage.cached_input_tokens() {
                    out.extend_from_slice(br#","cached_input_tokens":"#);
                    write_decimal(out, u128::from(cached));
                }
                out.extend_from_slice(b"}");
            }
            _ => {}
        }
        out.extend_from_slice(b"\n\n");
    }
}

fn write_optional_string(out: &mut BytesMut, text: Option<&str>) {
    match text {
        Some(text) => write_json_string(out, text),
        None => out.extend_from_slice(b"null"),
    }
}
