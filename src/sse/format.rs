//! [`Format`]: what events an encoder writes for a stream of chunks, and [`TextEvents`], the
//! plain one.

use bytes::BytesMut;

use super::event::{write_data, write_decimal, write_json_escaped};
use super::lines::has_line_break;
use super::KeepAlive;
use crate::Chunk;

/// The events an SSE encoder ([`encode_sse_as`](super::SseExt::encode_sse_as)) writes: some
/// at the start, one frame per chunk, some at a clean end, and the keep-alive frame.
///
/// [`TextEvents`] (the default) writes each chunk as a plain `data:` event; with the
/// `serde_json` feature, [`OpenAiChat`] and [`AnthropicMessages`] write the streaming formats
/// of those APIs.
/// Implement it for another wire format.
///
/// Every method appends whole events (each ending with its blank line) to `out`; the encoder
/// turns what one call wrote into one frame. [`Event::write_to`](super::Event::write_to)
/// writes an event safely; text from the model must only ever reach the wire as data (or
/// escaped inside JSON data), never as a field name, event type or id.
///
#[cfg_attr(
    feature = "serde_json",
    doc = "[`OpenAiChat`]: super::OpenAiChat\n[`AnthropicMessages`]: super::AnthropicMessages"
)]
#[cfg_attr(
    not(feature = "serde_json"),
    doc = "[`OpenAiChat`]: https://docs.rs/tokenflush/latest/tokenflush/sse/struct.OpenAiChat.html\n[`AnthropicMessages`]: https://docs.rs/tokenflush/latest/tokenflush/sse/struct.AnthropicMessages.html"
)]
///
/// # Examples
///
/// ```
/// use bytes::BytesMut;
/// use futures::StreamExt;
/// use tokenflush::sse::{Event, Format, SseExt};
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
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tokenflush::sse::{Format, TextEvents};
    ///
    /// let mut out = BytesMut::new();
    /// TextEvents::new().open(&mut out);
    /// assert!(out.is_empty());
    /// ```
    fn open(&mut self, out: &mut BytesMut) {
        let _ = out;
    }

    /// Appends the event(s) for one chunk.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tokenflush::sse::{Format, TextEvents};
    /// use tokenflush::Chunk;
    ///
    /// let mut out = BytesMut::new();
    /// TextEvents::new().chunk(&Chunk::new("a\r\nb").unwrap(), &mut out);
    /// assert_eq!(out, "data: a\ndata: b\n\n");
    /// ```
    fn chunk(&mut self, chunk: &Chunk, out: &mut BytesMut);

    /// Appends the events that close the stream after upstream ended. None by default; never
    /// called after an upstream error.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tokenflush::sse::{Format, TextEvents};
    ///
    /// let mut out = BytesMut::new();
    /// TextEvents::new().close(&mut out);
    /// assert!(out.is_empty());
    /// ```
    fn close(&mut self, out: &mut BytesMut) {
        let _ = out;
    }

    /// Appends a keep-alive frame; by default the keep-alive's comment,
    /// [`KeepAlive::frame`].
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tokenflush::sse::{Format, KeepAlive, TextEvents};
    ///
    /// let mut out = BytesMut::new();
    /// TextEvents::new().keep_alive(&KeepAlive::new(), &mut out);
    /// assert_eq!(out, ": ping\n\n");
    /// ```
    fn keep_alive(&mut self, keep_alive: &KeepAlive, out: &mut BytesMut) {
        out.extend_from_slice(keep_alive.frame());
    }

    /// Appends the event that tells the client the stream failed with `message`; nothing
    /// follows it.
    ///
    /// The encoders never call this (a fallible encoder yields the upstream error as `Err`);
    /// the HTTP bodies do (`http_body::SseBody`, `axum::Sse`), so that an upstream error reaches
    /// the client as a last event instead of a connection cut short.
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
    /// [`OpenAiChat`] and [`AnthropicMessages`] write their APIs' error events instead, which
    /// the official SDKs raise as errors.
    ///
    #[cfg_attr(
        feature = "serde_json",
        doc = "[`OpenAiChat`]: super::OpenAiChat\n[`AnthropicMessages`]: super::AnthropicMessages"
    )]
    #[cfg_attr(
        not(feature = "serde_json"),
        doc = "[`OpenAiChat`]: https://docs.rs/tokenflush/latest/tokenflush/sse/struct.OpenAiChat.html\n[`AnthropicMessages`]: https://docs.rs/tokenflush/latest/tokenflush/sse/struct.AnthropicMessages.html"
    )]
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tokenflush::sse::{Format, TextEvents};
    ///
    /// let mut out = BytesMut::new();
    /// TextEvents::new().error("model \"m\" overloaded\n", &mut out);
    /// assert_eq!(out, "event: error\ndata: {\"message\":\"model \\\"m\\\" overloaded\\n\"}\n\n");
    /// ```
    fn error(&mut self, message: &str, out: &mut BytesMut) {
        out.reserve(message.len() + 40);
        out.extend_from_slice(b"event: error\ndata: {\"message\":");
        write_json_escaped(out, message);
        out.extend_from_slice(b"}\n\n");
    }
}

impl<F: Format + ?Sized> Format for &mut F {
    fn open(&mut self, out: &mut BytesMut) {
        (**self).open(out);
    }

    fn chunk(&mut self, chunk: &Chunk, out: &mut BytesMut) {
        (**self).chunk(chunk, out);
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

impl<F: Format + ?Sized> Format for Box<F> {
    fn open(&mut self, out: &mut BytesMut) {
        (**self).open(out);
    }

    fn chunk(&mut self, chunk: &Chunk, out: &mut BytesMut) {
        (**self).chunk(chunk, out);
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

/// The plain [`Format`]: each chunk is one event whose data is the chunk's text, optionally
/// with an id from a counter.
///
/// Nothing is written at the start or the end. With
/// [`with_event_ids`](Self::with_event_ids), the events carry ids `first`, `first + 1`, …, so a
/// client that reconnects sends the id of the last chunk it received as `Last-Event-ID` (and
/// the server can resume after it).
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use tokenflush::sse::{SseExt, TextEvents};
/// use tokenflush::Chunk;
///
/// # futures::executor::block_on(async {
/// let chunks = futures::stream::iter(["Hel", "lo\n"].map(|text| Chunk::new(text).unwrap()));
/// let frames: Vec<_> = chunks
///     .encode_sse_as(TextEvents::new().with_event_ids(1))
///     .collect()
///     .await;
/// assert_eq!(frames, ["id: 1\ndata: Hel\n\n", "id: 2\ndata: lo\ndata:\n\n"]);
/// # });
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextEvents {
    next_id: Option<u64>,
}

impl TextEvents {
    /// Data-only events, without ids.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::TextEvents;
    ///
    /// assert_eq!(TextEvents::new().next_id(), None);
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self { next_id: None }
    }

    /// Gives the events ids counting up from `first` (wrapping after `u64::MAX`).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::TextEvents;
    ///
    /// assert_eq!(TextEvents::new().with_event_ids(100).next_id(), Some(100));
    /// ```
    #[must_use]
    pub const fn with_event_ids(mut self, first: u64) -> Self {
        self.next_id = Some(first);
        self
    }

    /// The id the next event gets, if events carry ids.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tokenflush::sse::{Format, TextEvents};
    /// use tokenflush::Chunk;
    ///
    /// let mut format = TextEvents::new().with_event_ids(7);
    /// format.chunk(&Chunk::new("x").unwrap(), &mut BytesMut::new());
    /// assert_eq!(format.next_id(), Some(8));
    /// ```
    #[must_use]
    pub const fn next_id(&self) -> Option<u64> {
        self.next_id
    }
}

impl Format for TextEvents {
    fn chunk(&mut self, chunk: &Chunk, out: &mut BytesMut) {
        let text = chunk.as_str();
        // One reservation covers the usual single-line frame with its id.
        out.reserve(text.len() + 32);
        if let Some(id) = &mut self.next_id {
            out.extend_from_slice(b"id: ");
            write_decimal(out, u128::from(*id));
            out.extend_from_slice(b"\n");
            *id = id.wrapping_add(1);
        }
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
