//! [`OpenAiChat`]: the streaming format of OpenAI's chat completions API.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::BytesMut;

use crate::sse::encode::{write_decimal, write_json_string};
use crate::sse::{Event, Format};
use crate::Chunk;

/// The [`Format`] of OpenAI's chat completions API with `stream: true`, which the official
/// SDKs and every OpenAI-compatible client read.
///
/// Every event is a `data:` line holding a `chat.completion.chunk` object:
///
/// 1. at the start, one with `delta: {"role": "assistant", "content": ""}`;
/// 2. per chunk, one with `delta: {"content": <the chunk's text>}`;
/// 3. at a clean end, one with an empty `delta` and `finish_reason` (`"stop"` unless
///    [set otherwise](Self::with_finish_reason)), then `data: [DONE]`.
///
/// Each object has `id`, `object`, `created`, `model` and
/// `choices: [{index, delta, logprobs, finish_reason}]`. For a stream that fails, send
/// [`error_event`](Self::error_event): the SDKs raise the error it carries. It is also the
/// format's [`Format::error`], which the HTTP bodies send when upstream fails.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use tokenflush::sse::{OpenAiChat, EncodeSseExt};
/// use tokenflush::Chunk;
///
/// # futures::executor::block_on(async {
/// let format = OpenAiChat::new("chatcmpl-1", "gpt-4o").with_created(1_700_000_000);
/// let chunks = futures::stream::iter([Chunk::new("Hi").unwrap()]);
/// let frames: Vec<_> = chunks.encode_sse_as(format).collect().await;
/// let prefix = r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","choices":[{"index":0,"delta":"#;
/// assert_eq!(frames[0], format!("{prefix}{{\"role\":\"assistant\",\"content\":\"\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"));
/// assert_eq!(frames[1], format!("{prefix}{{\"content\":\"Hi\"}},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"));
/// assert_eq!(frames[2], format!("{prefix}{{}},\"logprobs\":null,\"finish_reason\":\"stop\"}}]}}\n\ndata: [DONE]\n\n"));
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenAiChat {
    id: String,
    model: String,
    created: u64,
    finish_reason: String,
    /// `data: {"id":…,"choices":[{"index":0,"delta":` — the same for every event; built on
    /// first use so that the settings can change until then.
    prefix: Vec<u8>,
}

impl OpenAiChat {
    /// The format for a completion with this `id` (`chatcmpl-…`) and `model`, created now.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::OpenAiChat;
    ///
    /// let format = OpenAiChat::new("chatcmpl-1", "gpt-4o");
    /// assert_eq!((format.id(), format.model(), format.finish_reason()), ("chatcmpl-1", "gpt-4o", "stop"));
    /// assert!(format.created() > 1_700_000_000);
    /// ```
    #[must_use]
    pub fn new(id: impl Into<String>, model: impl Into<String>) -> Self {
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        Self {
            id: id.into(),
            model: model.into(),
            created,
            finish_reason: "stop".to_owned(),
            prefix: Vec::new(),
        }
    }

    /// Sets `created`, in seconds since the Unix epoch.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::OpenAiChat;
    ///
    /// assert_eq!(OpenAiChat::new("c", "m").with_created(7).created(), 7);
    /// ```
    #[must_use]
    pub fn with_created(mut self, created: u64) -> Self {
        self.created = created;
        self.prefix.clear();
        self
    }

    /// Sets the `finish_reason` of the last chunk: `"stop"` (the default), `"length"`,
    /// `"content_filter"`, …
    ///
    /// It can change while the stream runs, through
    /// [`EncodeSse::format_mut`](crate::sse::EncodeSse::format_mut) or
    /// [`set_finish_reason`](Self::set_finish_reason).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::OpenAiChat;
    ///
    /// assert_eq!(OpenAiChat::new("c", "m").with_finish_reason("length").finish_reason(), "length");
    /// ```
    #[must_use]
    pub fn with_finish_reason(mut self, finish_reason: impl Into<String>) -> Self {
        self.set_finish_reason(finish_reason);
        self
    }

    /// Sets the `finish_reason` of the last chunk, while the stream runs.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::{OpenAiChat, EncodeSseExt};
    /// use tokenflush::Chunk;
    ///
    /// let mut frames = futures::stream::empty::<Chunk>().encode_sse_as(OpenAiChat::new("c", "m"));
    /// frames.format_mut().set_finish_reason("length");
    /// assert_eq!(frames.format().finish_reason(), "length");
    /// ```
    pub fn set_finish_reason(&mut self, finish_reason: impl Into<String>) {
        self.finish_reason = finish_reason.into();
    }

    /// The completion id.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::OpenAiChat;
    ///
    /// assert_eq!(OpenAiChat::new("chatcmpl-9", "m").id(), "chatcmpl-9");
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
    /// use tokenflush::sse::OpenAiChat;
    ///
    /// assert_eq!(OpenAiChat::new("c", "gpt-4o-mini").model(), "gpt-4o-mini");
    /// ```
    #[must_use]
    pub fn model(&self) -> &str {
        &self.model
    }

    /// `created`, in seconds since the Unix epoch.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::OpenAiChat;
    ///
    /// assert_eq!(OpenAiChat::new("c", "m").with_created(1).created(), 1);
    /// ```
    #[must_use]
    pub fn created(&self) -> u64 {
        self.created
    }

    /// The `finish_reason` of the last chunk.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::OpenAiChat;
    ///
    /// assert_eq!(OpenAiChat::new("c", "m").finish_reason(), "stop");
    /// ```
    #[must_use]
    pub fn finish_reason(&self) -> &str {
        &self.finish_reason
    }

    /// An event that makes OpenAI's SDKs raise an error with `message`:
    /// `data: {"error":{"message":…,"type":"server_error","param":null,"code":null}}`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::OpenAiChat;
    ///
    /// let frame = OpenAiChat::error_event("model overloaded").to_bytes()?;
    /// assert_eq!(
    ///     frame,
    ///     "data: {\"error\":{\"message\":\"model overloaded\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n",
    /// );
    /// # Ok::<(), tokenflush::sse::EventError>(())
    /// ```
    #[must_use]
    pub fn error_event(message: &str) -> Event {
        let mut json = BytesMut::with_capacity(message.len() + 80);
        json.extend_from_slice(br#"{"error":{"message":"#);
        write_json_string(&mut json, message);
        json.extend_from_slice(br#","type":"server_error","param":null,"code":null}}"#);
        // JSON from serde_json is valid UTF-8.
        Event::default().data(String::from_utf8_lossy(&json).into_owned())
    }

    fn prefix(&mut self) -> &[u8] {
        if self.prefix.is_empty() {
            let mut prefix = BytesMut::with_capacity(self.id.len() + self.model.len() + 128);
            prefix.extend_from_slice(br#"data: {"id":"#);
            write_json_string(&mut prefix, &self.id);
            prefix.extend_from_slice(br#","object":"chat.completion.chunk","created":"#);
            write_decimal(&mut prefix, u128::from(self.created));
            prefix.extend_from_slice(br#","model":"#);
            write_json_string(&mut prefix, &self.model);
            prefix.extend_from_slice(br#","choices":[{"index":0,"delta":"#);
            self.prefix = prefix.to_vec();
        }
        &self.prefix
    }
}

/// What follows the delta of every chunk but the last.
const NOT_FINISHED: &[u8] = br#","logprobs":null,"finish_reason":null}]}"#;

impl Format for OpenAiChat {
    fn open(&mut self, out: &mut BytesMut) {
        out.extend_from_slice(self.prefix());
        out.extend_from_slice(br#"{"role":"assistant","content":""}"#);
        out.extend_from_slice(NOT_FINISHED);
        out.extend_from_slice(b"\n\n");
    }

    fn chunk(&mut self, chunk: &Chunk, out: &mut BytesMut) {
        let text = chunk.as_str();
        out.reserve(self.prefix().len() + text.len() + 64);
        out.extend_from_slice(self.prefix());
        out.extend_from_slice(br#"{"content":"#);
        write_json_string(out, text);
        out.extend_from_slice(b"}");
        out.extend_from_slice(NOT_FINISHED);
        out.extend_from_slice(b"\n\n");
    }

    fn close(&mut self, out: &mut BytesMut) {
        out.extend_from_slice(self.prefix());
        out.extend_from_slice(br#"{},"logprobs":null,"finish_reason":"#);
        write_json_string(out, &self.finish_reason);
        out.extend_from_slice(b"}]}\n\ndata: [DONE]\n\n");
    }

    /// Writes [`error_event`](Self::error_event): no finish reason and no `[DONE]` follow,
    /// as the API ends a stream that fails.
    fn error(&mut self, message: &str, out: &mut BytesMut) {
        // A data-only event always frames.
        let _ = Self::error_event(message).write_to(out);
    }
}
