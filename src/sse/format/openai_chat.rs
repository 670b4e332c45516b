//! [`OpenAiChat`]: the streaming format of OpenAI's chat completions API.

use std::collections::btree_map::{BTreeMap, Entry};

use bytes::BytesMut;

use super::{json, write_other};
use crate::llm::{Item, TextKind, ToolCall, Usage};
use crate::sse::encode::{write_decimal, write_json_string};
use crate::sse::{Event, Format};
use crate::Chunk;

/// The [`Format`] of OpenAI's chat completions API with `stream: true`, which the official
/// SDKs and every OpenAI-compatible client read.
///
/// Every event is a `data:` line holding a `chat.completion.chunk` object with `id`, `object`,
/// `created`, `model` and `choices: [{index, delta, logprobs, finish_reason}]`, and the stream
/// ends with `data: [DONE]`. What each item of a typed stream ([`Item`]) becomes:
///
/// | item | chunk |
/// |---|---|
/// | the first item of a choice | first a chunk with `delta: {"role": "assistant", "content": ""}` |
/// | [`Content`](Item::Content) | `delta: {"content": …}` |
/// | [`Reasoning`](Item::Reasoning) | `delta: {"reasoning_content": …}`, the field of vLLM, DeepSeek and most OpenAI-compatible servers (OpenAI's own API streams no reasoning text) |
/// | [`Refusal`](Item::Refusal) | `delta: {"refusal": …}` |
/// | [`ToolCall`](Item::ToolCall) | `delta: {"tool_calls": [{index, id, type: "function", function: {name, arguments}}]}`; `id`, `type` and `name` only on a fragment that names the call |
/// | [`Logprobs`](Item::Logprobs) | right after the text it describes: `delta: {}`, `logprobs: {"content": …, "refusal": null}` (or under `refusal` after refusal text); JSON that is not an array is left out |
/// | [`Choice`](Item::Choice) | the choice `index` of the chunks that follow (`n > 1`) |
/// | [`Finish`](Item::Finish) | `delta: {}`, `finish_reason` for the current choice |
/// | [`Usage`](Item::Usage) | kept for the usage chunk at the end |
/// | [`Start`](Item::Start) | the `id` and `model` of every chunk, when it comes first |
/// | [`Other`](Item::Other) from `"openai-chat"` | written back as it came |
///
/// The stream opens lazily, with its first item, so that an upstream's [`Item::Start`] can set
/// the `id` and `model` given to [`new`](Self::new). At a clean end, every choice that had no
/// [`Item::Finish`] gets the [default finish reason](Self::with_finish_reason) (`"stop"`),
/// then, if the request asked for usage ([`with_include_usage`](Self::with_include_usage)),
/// a chunk with `choices: []` and the `usage` (from the last [`Item::Usage`]; without one,
/// the output tokens are the sum of the chunks' [`token_count`](Chunk::token_count)s and the
/// prompt tokens 0), then `[DONE]`. A plain stream of [`Chunk`]s is answer text.
///
/// For a stream that fails, send [`error_event`](Self::error_event): the SDKs raise the error
/// it carries. It is also the format's [`Format::error`], which the encoder sends when
/// upstream fails.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use tokenflush::llm::{FinishReason, Item, ToolCall, Usage};
/// use tokenflush::sse::{EncodeSseExt, OpenAiChat};
/// use tokenflush::Chunk;
///
/// # futures::executor::block_on(async {
/// let format = OpenAiChat::new("chatcmpl-1", "gpt-4o").with_created(1_700_000_000).with_include_usage(true);
/// let items = futures::stream::iter([
///     Item::Content(Chunk::new("Hi").unwrap()),
///     Item::ToolCall(ToolCall::new(0).with_id("call_1").with_name("f").with_arguments("{}")),
///     Item::Finish(FinishReason::ToolCalls),
///     Item::Usage(Usage::new(9, 3)),
/// ]);
/// let frames: Vec<_> = items.encode_sse_as(format).collect().await;
/// let head = r#"data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o","choices":["#;
/// let tail = r#","logprobs":null,"finish_reason":null}],"usage":null}"#;
/// assert_eq!(frames[0], format!(
///     "{head}{{\"index\":0,\"delta\":{{\"role\":\"assistant\",\"content\":\"\"}}{tail}\n\n\
///      {head}{{\"index\":0,\"delta\":{{\"content\":\"Hi\"}}{tail}\n\n"
/// ));
/// assert_eq!(frames[1], format!(
///     "{head}{{\"index\":0,\"delta\":{{\"tool_calls\":[{{\"index\":0,\"id\":\"call_1\",\"type\":\"function\",\"function\":{{\"name\":\"f\",\"arguments\":\"{{}}\"}}}}]}}{tail}\n\n"
/// ));
/// assert_eq!(frames[2], format!(
///     "{head}{{\"index\":0,\"delta\":{{}},\"logprobs\":null,\"finish_reason\":\"tool_calls\"}}],\"usage\":null}}\n\n"
/// ));
/// // The usage waits for the end.
/// assert_eq!(frames[3], format!(
///     "{head}],\"usage\":{{\"prompt_tokens\":9,\"completion_tokens\":3,\"total_tokens\":12}}}}\n\ndata: [DONE]\n\n"
/// ));
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenAiChat {
    id: String,
    model: String,
    created: u64,
    finish_reason: String,
    include_usage: bool,
    rendering: Rendering,
    #[cfg(feature = "llm-parse")]
    pub(super) decoding: super::decode::openai_chat::Decoding,
}

/// What the rendering side has sent so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Rendering {
    /// `data: {"id":…,"object":…,"created":…,"model":…,"choices":[` — the same for every
    /// event; empty until the stream opens, which fixes the id and model.
    prefix: Vec<u8>,
    /// The choice the next items belong to.
    choice: u32,
    /// The choices that had their role chunk.
    choices: BTreeMap<u32, ChoiceState>,
    usage: Option<Usage>,
    output_tokens: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct ChoiceState {
    finished: bool,
    /// The kind of the last text, which says where logprobs go.
    last_text: TextKind,
}

/// The format's name in [`Item::Other`].
const NAME: &str = "openai-chat";

impl Default for OpenAiChat {
    /// The format with an empty id and model, for decoding, or for a typed stream whose
    /// [`Item::Start`] names them.
    fn default() -> Self {
        Self::new("", "")
    }
}

impl OpenAiChat {
    /// The format for a completion with this `id` (`chatcmpl-…`) and `model`, created now.
    #[must_use]
    pub fn new(id: impl Into<String>, model: impl Into<String>) -> Self {
        let created = super::unix_seconds();
        Self {
            id: id.into(),
            model: model.into(),
            created,
            finish_reason: "stop".to_owned(),
            include_usage: false,
            rendering: Rendering::default(),
            #[cfg(feature = "llm-parse")]
            decoding: Default::default(),
        }
    }

    /// Sets `created`, in seconds since the Unix epoch.
    #[must_use]
    pub fn with_created(mut self, created: u64) -> Self {
        self.created = created;
        self
    }

    /// Sets the `finish_reason` of a choice whose stream has no [`Item::Finish`]: `"stop"`
    /// (the default), `"length"`, `"content_filter"`, …
    ///
    /// A typed stream says why it finished; this default is for streams that cannot (a plain
    /// stream of chunks) and upstreams that do not. It can change while the stream runs,
    /// through [`EncodeSse::format_mut`](crate::sse::EncodeSse::format_mut) or
    /// [`set_finish_reason`](Self::set_finish_reason).
    #[must_use]
    pub fn with_finish_reason(mut self, finish_reason: impl Into<String>) -> Self {
        self.set_finish_reason(finish_reason);
        self
    }

    /// Sets the default `finish_reason` while the stream runs.
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

    /// Sends a last chunk with the `usage` before `[DONE]`, as the API does when the request
    /// has `stream_options: {"include_usage": true}`; then every other chunk has
    /// `"usage": null`, as the API's do. Off by default, as in the API.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::llm::{Item, Usage};
    /// use tokenflush::sse::{EncodeSseExt, OpenAiChat};
    ///
    /// # futures::executor::block_on(async {
    /// let format = OpenAiChat::new("c", "m").with_created(0).with_include_usage(true);
    /// let items = futures::stream::iter([Item::Usage(Usage::new(5, 0))]);
    /// let frames: Vec<_> = items.encode_sse_as(format).collect().await;
    /// assert!(frames.concat().ends_with(
    ///     b"\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":0,\"total_tokens\":5}}\n\ndata: [DONE]\n\n"
    /// ));
    /// # });
    /// ```
    #[must_use]
    pub fn with_include_usage(mut self, include_usage: bool) -> Self {
        self.include_usage = include_usage;
        self
    }

    /// The completion id: the one given to [`new`](Self::new), or the upstream's once an
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

    /// `created`, in seconds since the Unix epoch.
    #[must_use]
    pub fn created(&self) -> u64 {
        self.created
    }

    /// The default `finish_reason`.
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
        // Written from UTF-8 strings and ASCII: valid UTF-8.
        Event::default().data(String::from_utf8_lossy(&json).into_owned())
    }

    /// The prefix of every chunk; building it opens the stream and fixes the id and model.
    fn prefix(&mut self) -> &[u8] {
        let rendering = &mut self.rendering;
        if rendering.prefix.is_empty() {
            let mut prefix = BytesMut::with_capacity(self.id.len() + self.model.len() + 112);
            prefix.extend_from_slice(br#"data: {"id":"#);
            write_json_string(&mut prefix, &self.id);
            prefix.extend_from_slice(br#","object":"chat.completion.chunk","created":"#);
            write_decimal(&mut prefix, u128::from(self.created));
            prefix.extend_from_slice(br#","model":"#);
            write_json_string(&mut prefix, &self.model);
            prefix.extend_from_slice(br#","choices":["#);
            rendering.prefix = prefix.to_vec();
        }
        &rendering.prefix
    }

    /// Writes a chunk's start up to its delta, for choice `index`.
    fn head(&mut self, index: u32, out: &mut BytesMut) {
        out.extend_from_slice(self.prefix());
        out.extend_from_slice(br#"{"index":"#);
        write_decimal(out, u128::from(index));
        out.extend_from_slice(br#","delta":"#);
    }

    /// Writes what follows the delta of a chunk without logprobs or finish reason.
    fn tail(&self, out: &mut BytesMut) {
        out.extend_from_slice(br#","logprobs":null,"finish_reason":null}]"#);
        self.end(out);
    }

    /// Ends a chunk after its `choices`.
    fn end(&self, out: &mut BytesMut) {
        if self.include_usage {
            out.extend_from_slice(br#","usage":null"#);
        }
        out.extend_from_slice(b"}\n\n");
    }

    /// Starts the current choice (its role chunk) if it has not started; returns its index.
    fn start_choice(&mut self, out: &mut BytesMut) -> u32 {
        let index = self.rendering.choice;
        if let Entry::Vacant(entry) = self.rendering.choices.entry(index) {
            entry.insert(ChoiceState {
                finished: false,
                last_text: TextKind::Content,
            });
            self.head(index, out);
            out.extend_from_slice(br#"{"role":"assistant","content":""}"#);
            self.tail(out);
        }
        index
    }

    fn text(&mut self, kind: TextKind, chunk: &Chunk, out: &mut BytesMut) {
        let text = chunk.as_str();
        out.reserve(self.rendering.prefix.len() + text.len() + 96);
        let index = self.start_choice(out);
        if let Some(choice) = self.rendering.choices.get_mut(&index) {
            choice.last_text = kind;
        }
        self.head(index, out);
        out.extend_from_slice(match kind {
            TextKind::Content => br#"{"content":"#,
            TextKind::Reasoning => br#"{"reasoning_content":"#,
            TextKind::Refusal => br#"{"refusal":"#,
        });
        write_json_string(out, text);
        out.extend_from_slice(b"}");
        self.tail(out);
        self.rendering.output_tokens = self
            .rendering
            .output_tokens
            .saturating_add(chunk.token_count() as u64);
    }

    fn tool_call(&mut self, call: &ToolCall, out: &mut BytesMut) {
        let index = self.start_choice(out);
        self.head(index, out);
        out.extend_from_slice(br#"{"tool_calls":[{"index":"#);
        write_decimal(out, u128::from(call.index()));
        if let Some(id) = call.id() {
            out.extend_from_slice(br#","id":"#);
            write_json_string(out, id);
        }
        if call.id().is_some() || call.name().is_some() {
            out.extend_from_slice(br#","type":"function""#);
        }
        out.extend_from_slice(br#","function":{"#);
        if let Some(name) = call.name() {
            out.extend_from_slice(br#""name":"#);
            write_json_string(out, name);
            out.extend_from_slice(b",");
        }
        out.extend_from_slice(br#""arguments":"#);
        write_json_string(out, call.arguments());
        out.extend_from_slice(b"}}]}");
        self.tail(out);
    }

    fn logprobs(&mut self, logprobs: &str, out: &mut BytesMut) {
        if !json::is_array(logprobs) {
            return;
        }
        let index = self.start_choice(out);
        let under_refusal = self
            .rendering
            .choices
            .get(&index)
            .is_some_and(|choice| choice.last_text == TextKind::Refusal);
        let role_end = out.len();
        self.head(index, out);
        out.extend_from_slice(if under_refusal {
            br#"{},"logprobs":{"content":null,"refusal":"#
        } else {
            br#"{},"logprobs":{"content":"#
        });
        if !json::write_compact(out, logprobs) {
            // Not JSON after all: only the role chunk, if this opened the choice.
            out.truncate(role_end);
            return;
        }
        if !under_refusal {
            out.extend_from_slice(br#","refusal":null"#);
        }
        out.extend_from_slice(br#"},"finish_reason":null}]"#);
        self.end(out);
    }

    fn finish(&mut self, reason: &str, out: &mut BytesMut) {
        let index = self.start_choice(out);
        if let Some(choice) = self.rendering.choices.get_mut(&index) {
            choice.finished = true;
        }
        self.finish_chunk(index, reason, out);
    }

    fn finish_chunk(&mut self, index: u32, reason: &str, out: &mut BytesMut) {
        self.head(index, out);
        out.extend_from_slice(br#"{},"logprobs":null,"finish_reason":"#);
        write_json_string(out, reason);
        out.extend_from_slice(b"}]");
        self.end(out);
    }
}

/// Writes `usage` as the API's `usage` object.
fn write_usage(out: &mut BytesMut, usage: &Usage) {
    out.extend_from_slice(br#"{"prompt_tokens":"#);
    write_decimal(out, u128::from(usage.input_tokens()));
    out.extend_from_slice(br#","completion_tokens":"#);
    write_decimal(out, u128::from(usage.output_tokens()));
    out.extend_from_slice(br#","total_tokens":"#);
    write_decimal(out, u128::from(usage.total_tokens()));
    if let Some(cached) = usage.cached_input_tokens() {
        out.extend_from_slice(br#","prompt_tokens_details":{"cached_tokens":"#);
        write_decimal(out, u128::from(cached));
        out.extend_from_slice(b"}");
    }
    if let Some(reasoning) = usage.reasoning_tokens() {
        out.extend_from_slice(br#","completion_tokens_details":{"reasoning_tokens":"#);
        write_decimal(out, u128::from(reasoning));
        out.extend_from_slice(b"}");
    }
    out.extend_from_slice(b"}");
}

impl Format for OpenAiChat {
    fn chunk(&mut self, chunk: &Chunk, out: &mut BytesMut) {
        self.text(TextKind::Content, chunk, out);
    }

    fn item(&mut self, item: &Item<Chunk>, out: &mut BytesMut) {
        match item {
            Item::Start { id, model } => {
                super::adopt_names(
                    !self.rendering.prefix.is_empty(),
                    (&mut self.id, &mut self.model),
                    (id, model),
                );
                self.start_choice(out);
            }
            Item::Content(chunk) => self.text(TextKind::Content, chunk, out),
            Item::Reasoning(chunk) => self.text(TextKind::Reasoning, chunk, out),
            Item::Refusal(chunk) => self.text(TextKind::Refusal, chunk, out),
            Item::ToolCall(call) => self.tool_call(call, out),
            Item::Logprobs(logprobs) => self.logprobs(logprobs, out),
            Item::Choice(index) => self.rendering.choice = *index,
            Item::Finish(reason) => self.finish(reason.as_openai(), out),
            Item::Usage(usage) => self.rendering.usage = Some(*usage),
            Item::Other {
                format: NAME,
                event,
                data,
            } => write_other(out, event.as_deref(), data),
            Item::Other { .. } => {}
        }
    }

    fn close(&mut self, out: &mut BytesMut) {
        if self.rendering.choices.is_empty() {
            self.rendering.choice = 0;
            self.start_choice(out);
        }
        let unfinished: Vec<u32> = self
            .rendering
            .choices
            .iter()
            .filter(|(_, choice)| !choice.finished)
            .map(|(&index, _)| index)
            .collect();
        let reason = std::mem::take(&mut self.finish_reason);
        for index in unfinished {
            self.finish_chunk(index, &reason, out);
        }
        self.finish_reason = reason;
        if self.include_usage {
            let usage = self
                .rendering
                .usage
                .unwrap_or(Usage::new(0, self.rendering.output_tokens));
            out.extend_from_slice(self.prefix());
            out.extend_from_slice(br#"],"usage":"#);
            write_usage(out, &usage);
            out.extend_from_slice(b"}\n\n");
        }
        out.extend_from_slice(b"data: [DONE]\n\n");
    }

    /// Writes [`error_event`](Self::error_event): no finish reason and no `[DONE]` follow,
    /// as the API ends a stream that fails.
    fn error(&mut self, message: &str, out: &mut BytesMut) {
        // A data-only event always frames.
        let _ = Self::error_event(message).write_to(out);
    }
}
