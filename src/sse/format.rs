//! Wire formats: what events the encoder writes for a stream of chunks — the `Format` trait, the
//! plain `TextEvents`, and the streaming formats of LLM APIs, one file each.

mod anthropic_messages;
#[cfg(feature = "llm-parse")]
mod decode;
mod json;
mod openai_chat;
mod openai_responses;
mod text_events;

pub use anthropic_messages::AnthropicMessages;
#[cfg(feature = "llm-parse")]
pub use decode::{Decode, DecodeError};
pub use openai_chat::OpenAiChat;
pub use openai_responses::OpenAiResponses;
pub use text_events::TextEvents;

use bytes::BytesMut;

use crate::llm::Item;
use crate::sse::encode::{write_data, write_field, write_json_string};
use crate::sse::lines::has_line_break;
use crate::sse::KeepAlive;
use crate::Chunk;

/// The events an SSE encoder ([`encode_sse_as`](crate::sse::EncodeSseExt::encode_sse_as))
/// writes: some at the start, one frame per chunk, some at a clean end, the keep-alive frame,
/// and the last event of a stream that failed.
///
/// [`TextEvents`] (the default) writes each chunk as a plain `data:` event; [`OpenAiChat`],
/// [`OpenAiResponses`] and [`AnthropicMessages`] write the streaming formats of those APIs.
/// Implement it for another wire format.
///
/// Every method appends whole events (each ending with its blank line) to `out`; the encoder
/// turns what one call wrote into one frame. [`Event::write_to`](crate::sse::Event::write_to)
/// writes an event safely; text from the model must only ever reach the wire as data (or
/// escaped inside JSON data), never as a field name, event type or id.
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use futures::StreamExt;
/// use tokenflush::sse::{EncodeSseExt, Event, Format};
/// use tokenflush::Chunk;
///
/// /// Each chunk as an `event: token`, and a final `event: done`.
/// #[derive(Debug)]
/// struct Tokens;
///
/// impl Format for Tokens {
///     fn chunk(&mut self, chunk: &Chunk, out: &mut BytesMut) {
///         // A fixed event type and data: framing cannot fail.
///         let _ = Event::default().event("token").data(chunk.as_str()).write_to(out);
///     }
///
///     fn close(&mut self, out: &mut BytesMut) {
///         let _ = Event::default().event("done").data("").write_to(out);
///     }
/// }
///
/// # futures::executor::block_on(async {
/// let chunks = futures::stream::iter([Chunk::new("Hi").unwrap()]);
/// let frames: Vec<_> = chunks.encode_sse_as(Tokens).collect().await;
/// assert_eq!(frames, ["event: token\ndata: Hi\n\n", "event: done\ndata:\n\n"]);
/// # });
/// ```
pub trait Format {
    /// Appends the events that open the stream, sent when it is first polled. None by default.
    ///
    /// The LLM formats send nothing here: they open with their first item (or at the end, for
    /// an empty stream), so that an [`Item::Start`] from upstream can name the response.
    fn open(&mut self, out: &mut BytesMut) {
        let _ = out;
    }

    /// Appends the event(s) for one chunk.
    fn chunk(&mut self, chunk: &Chunk, out: &mut BytesMut);

    /// Appends the events for one item of a typed stream ([`Item`]): text of each kind, tool
    /// calls, the finish reason, usage, …
    ///
    /// By default answer text goes to [`chunk`](Self::chunk) and every other item is left out;
    /// the LLM formats render every item their wire format has a place for. An item that
    /// gets no events gets no frame.
    fn item(&mut self, item: &Item<Chunk>, out: &mut BytesMut) {
        if let Item::Content(chunk) = item {
            self.chunk(chunk, out);
        }
    }

    /// Appends the events that close the stream after upstream ended. None by default; never
    /// called after an upstream error.
    fn close(&mut self, out: &mut BytesMut) {
        let _ = out;
    }

    /// Appends a keep-alive frame; by default the keep-alive's comment,
    /// [`KeepAlive::frame`].
    fn keep_alive(&mut self, keep_alive: &KeepAlive, out: &mut BytesMut) {
        out.extend_from_slice(keep_alive.frame());
    }

    /// Appends the event that tells the client the stream failed with `message`; nothing
    /// follows it.
    ///
    /// The encoder calls it for an upstream `Err`, so that an upstream error reaches the client
    /// as a last event instead of a connection cut short. A format that writes nothing here
    /// ends the stream without a word.
    ///
    /// By default it is an event of type `error` whose data is a JSON object with the message:
    ///
    /// ```text
    /// event: error
    /// data: {"message":"<message, JSON-escaped>"}
    /// ```
    ///
    /// A browser's `EventSource` dispatches it to its `error` listeners as a `MessageEvent`
    /// with the JSON as `data` (the connection errors it also reports there have no `data`).
    /// [`OpenAiChat`], [`OpenAiResponses`] and [`AnthropicMessages`] write their APIs' error
    /// events instead, which the official SDKs raise or report as errors.
    fn error(&mut self, message: &str, out: &mut BytesMut) {
        out.reserve(message.len() + 40);
        out.extend_from_slice(b"event: error\ndata: {\"message\":");
        write_json_string(out, message);
        out.extend_from_slice(b"}\n\n");
    }
}

/// `Format` through `&mut F` and `Box<F>`, so a format can be borrowed or chosen at run time.
macro_rules! forward_format {
    ($($pointer:ty),*) => {$(
        impl<F: Format + ?Sized> Format for $pointer {
            fn open(&mut self, out: &mut BytesMut) {
                (**self).open(out);
            }

            fn chunk(&mut self, chunk: &Chunk, out: &mut BytesMut) {
                (**self).chunk(chunk, out);
            }

            fn item(&mut self, item: &Item<Chunk>, out: &mut BytesMut) {
                (**self).item(item, out);
            }

            fn close(&mut self, out: &mut BytesMut) {
                (**self).close(out);
            }

            fn keep_alive(&mut self, keep_alive: &KeepAlive, out: &mut BytesMut) {
                (**self).keep_alive(keep_alive, out);
            }

            fn error(&mut self, message: &str, out: &mut BytesMut) {
                (**self).error(message, out);
            }
        }
    )*};
}

forward_format!(&mut F, Box<F>);

/// Writes an event of [`Item::Other`] back as it came: its type (if any) and its data. An
/// event type with a line break cannot be framed: then nothing is written.
fn write_other(out: &mut BytesMut, event: Option<&str>, data: &str) {
    if event.is_some_and(has_line_break) {
        return;
    }
    out.reserve(data.len() + event.map_or(0, str::len) + 16);
    if let Some(event) = event.filter(|event| !event.is_empty()) {
        write_field(out, b"event", event);
    }
    write_data(out, data);
    out.extend_from_slice(b"\n");
}

/// Takes the response's `id` and `model` from an upstream's [`Item::Start`], where it names
/// them, for a stream that has written nothing yet (`opened` is false).
fn adopt_names(
    opened: bool,
    (id, model): (&mut String, &mut String),
    (start_id, start_model): (&Option<String>, &Option<String>),
) {
    if opened {
        return;
    }
    if let Some(start_id) = start_id {
        id.clone_from(start_id);
    }
    if let Some(start_model) = start_model {
        model.clone_from(start_model);
    }
}

/// Seconds since the Unix epoch, for the `created` fields of OpenAI's formats (0 on a clock
/// set before 1970).
fn unix_seconds() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}
