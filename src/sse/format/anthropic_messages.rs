//! [`AnthropicMessages`]: the streaming format of Anthropic's messages API.

use bytes::BytesMut;

use crate::sse::encode::{write_decimal, write_json_string};
use crate::sse::{Event, Format, KeepAlive};
use crate::Chunk;

/// The [`Format`] of Anthropic's messages API with `stream: true`, which the official SDKs
/// read: named events, each with a JSON object whose `type` repeats the event's name.
///
/// 1. At the start: `message_start` (the message with empty `content` and the usage so far),
///    `content_block_start` (a text block at index 0), and a `ping`.
/// 2. Per chunk: `content_block_delta` with a `text_delta` holding the chunk's text.
/// 3. At a clean end: `content_block_stop`, `message_delta` with the `stop_reason`
///    (`"end_turn"` unless [set otherwise](Self::with_stop_reason)) and the output token
///    count (the sum of the chunks' [`token_count`](Chunk::token_count)s), and
///    `message_stop`.
///
/// Keep-alive frames are `ping` events, as the API sends them. For a stream that fails, send
/// [`error_event`](Self::error_event): the SDKs raise the error it carries. It is also the
/// format's [`Format::error`], which the HTTP bodies send when upstream fails.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use tokenflush::sse::{AnthropicMessages, Parser, EncodeSseExt};
/// use tokenflush::Chunk;
///
/// # futures::executor::block_on(async {
/// let chunks = futures::stream::iter([Chunk::new("Hello").unwrap().with_token_count(2)]);
/// let frames: Vec<_> = chunks
///     .encode_sse_as(AnthropicMessages::new("msg_1", "claude-sonnet-4-5"))
///     .collect()
///     .await;
/// let mut parser = Parser::new();
/// frames.iter().for_each(|frame| parser.feed(frame));
/// let events: Vec<_> = std::iter::from_fn(|| parser.next_event().unwrap()).collect();
/// let types: Vec<_> = events.iter().map(|event| event.event_type()).collect();
/// assert_eq!(
///     types,
///     [
///         "message_start", "content_block_start", "ping", "content_block_delta",
///         "content_block_stop", "message_delta", "message_stop",
///     ],
/// );
/// assert_eq!(
///     events[3].data(),
///     r#"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
/// );
/// assert_eq!(
///     events[5].data(),
///     r#"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":2}}"#,
/// );
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnthropicMessages {
    id: String,
    model: String,
    input_tokens: u64,
    output_tokens: u64,
    stop_reason: String,
}

/// The `ping` event, at the start and as keep-alive.
const PING: &[u8] = b"event: ping\ndata: {\"type\":\"ping\"}\n\n";

impl AnthropicMessages {
    /// The format for a message with this `id` (`msg_…`) and `model`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::AnthropicMessages;
    ///
    /// let format = AnthropicMessages::new("msg_1", "claude-sonnet-4-5");
    /// assert_eq!((format.id(), format.model(), format.stop_reason()), ("msg_1", "claude-sonnet-4-5", "end_turn"));
    /// ```
    #[must_use]
    pub fn new(id: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            model: model.into(),
            input_tokens: 0,
            output_tokens: 0,
            stop_reason: "end_turn".to_owned(),
        }
    }

    /// Sets the prompt's token count, reported in `message_start`'s usage.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::AnthropicMessages;
    ///
    /// assert_eq!(AnthropicMessages::new("m", "c").with_input_tokens(12).input_tokens(), 12);
    /// ```
    #[must_use]
    pub fn with_input_tokens(mut self, input_tokens: u64) -> Self {
        self.input_tokens = input_tokens;
        self
    }

    /// Sets the `stop_reason` of `message_delta`: `"end_turn"` (the default), `"max_tokens"`,
    /// `"stop_sequence"`, …
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::AnthropicMessages;
    ///
    /// let format = AnthropicMessages::new("m", "c").with_stop_reason("max_tokens");
    /// assert_eq!(format.stop_reason(), "max_tokens");
    /// ```
    #[must_use]
    pub fn with_stop_reason(mut self, stop_reason: impl Into<String>) -> Self {
        self.set_stop_reason(stop_reason);
        self
    }

    /// Sets the `stop_reason` while the stream runs (through
    /// [`EncodeSse::format_mut`](crate::sse::EncodeSse::format_mut)).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::{AnthropicMessages, EncodeSseExt};
    /// use tokenflush::Chunk;
    ///
    /// let format = AnthropicMessages::new("m", "c");
    /// let mut frames = futures::stream::empty::<Chunk>().encode_sse_as(format);
    /// frames.format_mut().set_stop_reason("max_tokens");
    /// assert_eq!(frames.format().stop_reason(), "max_tokens");
    /// ```
    pub fn set_stop_reason(&mut self, stop_reason: impl Into<String>) {
        self.stop_reason = stop_reason.into();
    }

    /// The message id.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::AnthropicMessages;
    ///
    /// assert_eq!(AnthropicMessages::new("msg_7", "c").id(), "msg_7");
    /// ```
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The model name.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::AnthropicMessages;
    ///
    /// assert_eq!(AnthropicMessages::new("m", "claude").model(), "claude");
    /// ```
    #[must_use]
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The prompt's token count.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::AnthropicMessages;
    ///
    /// assert_eq!(AnthropicMessages::new("m", "c").input_tokens(), 0);
    /// ```
    #[must_use]
    pub fn input_tokens(&self) -> u64 {
        self.input_tokens
    }

    /// The output tokens framed so far: the sum of the chunks' token counts.
    ///
    /// # Examples
    ///
    /// ```
    /// use bytes::BytesMut;
    /// use tokenflush::sse::{AnthropicMessages, Format};
    /// use tokenflush::Chunk;
    ///
    /// let mut format = AnthropicMessages::new("m", "c");
    /// format.chunk(&Chunk::new("ab").unwrap().with_token_count(2), &mut BytesMut::new());
    /// assert_eq!(format.output_tokens(), 2);
    /// ```
    #[must_use]
    pub fn output_tokens(&self) -> u64 {
        self.output_tokens
    }

    /// The `stop_reason` of `message_delta`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::AnthropicMessages;
    ///
    /// assert_eq!(AnthropicMessages::new("m", "c").stop_reason(), "end_turn");
    /// ```
    #[must_use]
    pub fn stop_reason(&self) -> &str {
        &self.stop_reason
    }

    /// An `error` event that makes Anthropic's SDKs raise an error of `error_type`
    /// (`"overloaded_error"`, `"api_error"`, …) with `message`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::AnthropicMessages;
    ///
    /// let frame = AnthropicMessages::error_event("overloaded_error", "Overloaded").to_bytes()?;
    /// assert_eq!(
    ///     frame,
    ///     "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
    /// );
    /// # Ok::<(), tokenflush::sse::EventError>(())
    /// ```
    #[must_use]
    pub fn error_event(error_type: &str, message: &str) -> Event {
        let mut json = BytesMut::with_capacity(error_type.len() + message.len() + 64);
        json.extend_from_slice(br#"{"type":"error","error":{"type":"#);
        write_json_string(&mut json, error_type);
        json.extend_from_slice(br#","message":"#);
        write_json_string(&mut json, message);
        json.extend_from_slice(b"}}");
        // JSON from serde_json is valid UTF-8.
        Event::default()
            .event("error")
            .data(String::from_utf8_lossy(&json).into_owned())
    }
}

impl Format for AnthropicMessages {
    fn open(&mut self, out: &mut BytesMut) {
        out.extend_from_slice(
            b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":",
        );
        write_json_string(out, &self.id);
        out.extend_from_slice(br#","type":"message","role":"assistant","model":"#);
        write_json_string(out, &self.model);
        out.extend_from_slice(
            br#","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":"#,
        );
        write_decimal(out, u128::from(self.input_tokens));
        out.extend_from_slice(br#","output_tokens":0}}}"#);
        out.extend_from_slice(b"\n\n");
        out.extend_from_slice(
            b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        );
        out.extend_from_slice(PING);
    }

    fn chunk(&mut self, chunk: &Chunk, out: &mut BytesMut) {
        let text = chunk.as_str();
        out.reserve(text.len() + 128);
        out.extend_from_slice(b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":");
        write_json_string(out, text);
        out.extend_from_slice(b"}}\n\n");
        self.output_tokens = self
            .output_tokens
            .saturating_add(chunk.token_count() as u64);
    }

    fn close(&mut self, out: &mut BytesMut) {
        out.extend_from_slice(
            b"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        );
        out.extend_from_slice(
            b"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":",
        );
        write_json_string(out, &self.stop_reason);
        out.extend_from_slice(br#","stop_sequence":null},"usage":{"output_tokens":"#);
        write_decimal(out, u128::from(self.output_tokens));
        out.extend_from_slice(b"}}\n\n");
        out.extend_from_slice(b"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    }

    fn keep_alive(&mut self, _keep_alive: &KeepAlive, out: &mut BytesMut) {
        out.extend_from_slice(PING);
    }

    /// Writes [`error_event`](Self::error_event) with the error type `api_error`, as the API
    /// reports an internal failure mid-stream; no stop events follow.
    fn error(&mut self, message: &str, out: &mut BytesMut) {
        // A fixed event type and JSON data always frame.
        let _ = Self::error_event("api_error", message).write_to(out);
    }
}
