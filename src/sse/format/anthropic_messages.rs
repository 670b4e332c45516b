//! [`AnthropicMessages`]: the streaming format of Anthropic's messages API.

use std::collections::BTreeMap;

use bytes::BytesMut;

use super::{json, write_other};
use crate::llm::{FinishReason, Item, ToolCall, Usage};
use crate::sse::encode::{write_decimal, write_json_string};
use crate::sse::{Event, Format, KeepAlive};
use crate::Chunk;

/// The [`Format`] of Anthropic's messages API with `stream: true`, which the official SDKs
/// read: named events, each with a JSON object whose `type` repeats the event's name.
///
/// 1. `message_start`: the message with its `id`, `model`, empty `content` and the usage so
///    far (`input_tokens` as [set](Self::with_input_tokens), 0 by default: see below).
/// 2. Content blocks, one per run of items of a kind, each closed (`content_block_stop`)
///    before the next opens (`content_block_start`), with a `ping` after the first start, as
///    the API sends it:
///
///    | items | block | deltas |
///    |---|---|---|
///    | [`Content`](Item::Content) (and [`Refusal`](Item::Refusal), which the API has no block for: it comes back as text) | `text` | `text_delta` |
///    | [`Reasoning`](Item::Reasoning) | `thinking` | `thinking_delta`, and a `signature_delta` before the block's stop |
///    | [`ToolCall`](Item::ToolCall)s of one call index | `tool_use` with the call's `id` and `name` (`""` if its first fragment has none) and `input: {}` | `input_json_delta` per fragment with arguments |
///
/// 3. At a clean end: `message_delta` with the `stop_reason` (from [`Item::Finish`], else the
///    [default](Self::with_stop_reason), `"end_turn"`) and the `usage`, then `message_stop`.
///
/// The stream opens lazily, with its first item, so that an upstream's [`Item::Start`] can set
/// the `id` and `model` given to [`new`](Self::new). A plain stream of [`Chunk`]s is one text
/// block.
///
/// What the API sends that a source may not have:
///
/// - **Input tokens at the start.** `message_start` carries
///   [`with_input_tokens`](Self::with_input_tokens) (0 if not set); an OpenAI upstream tells
///   them only at the end. The [`Item::Usage`] of the stream goes into `message_delta`'s
///   `usage` in full — `input_tokens`, `output_tokens`, `cache_read_input_tokens` and
///   `output_tokens_details.thinking_tokens` as far as it has them — which the SDKs take as the
///   message's final usage (the counts of `message_delta` are cumulative and replace those of
///   `message_start`). Without an `Item::Usage`, `message_delta` has the output tokens only:
///   the sum of the chunks' [`token_count`](Chunk::token_count)s.
/// - **A thinking signature.** The API signs each thinking block (`signature_delta`), and
///   only Anthropic can make that signature. A signature that came from an Anthropic
///   upstream (an [`Item::Other`] of this format) is passed on; otherwise the block gets an
///   empty one, `"signature": ""`, which the SDKs accept and Anthropic's API would refuse if
///   the block were sent back to it.
///
/// Items this format has no place for are left out: [`Logprobs`](Item::Logprobs), and every
/// item of a choice other than 0 ([`Item::Choice`]). Fragments of one tool call after another
/// call started go into a new `tool_use` block (blocks cannot interleave), which a client
/// reads as a new call. [`Item::Other`] events of this format (`"anthropic-messages"`: blocks
/// this crate has no item for, such as `redacted_thinking` or server tools, and their deltas)
/// are passed on, their block `index` renumbered to fit the blocks around them.
///
/// Keep-alive frames are `ping` events, as the API sends them. For a stream that fails, send
/// [`error_event`](Self::error_event): the SDKs raise the error it carries. It is also the
/// format's [`Format::error`], which the encoder sends when upstream fails.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use tokenflush::llm::{FinishReason, Item, Usage};
/// use tokenflush::sse::{AnthropicMessages, EncodeSseExt, Parser};
/// use tokenflush::Chunk;
///
/// # futures::executor::block_on(async {
/// let items = futures::stream::iter([
///     Item::Reasoning(Chunk::new("Hmm.").unwrap()),
///     Item::Content(Chunk::new("Hello").unwrap()),
///     Item::Finish(FinishReason::Length),
///     Item::Usage(Usage::new(10, 2)),
/// ]);
/// let frames: Vec<_> = items
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
///         "content_block_delta", "content_block_stop", // thinking, with its signature
///         "content_block_start", "content_block_delta", "content_block_stop", // text
///         "message_delta", "message_stop",
///     ],
/// );
/// assert_eq!(
///     events[4].data(),
///     r#"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":""}}"#,
/// );
/// assert_eq!(
///     events[7].data(),
///     r#"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Hello"}}"#,
/// );
/// assert_eq!(
///     events[9].data(),
///     r#"{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"input_tokens":10,"output_tokens":2}}"#,
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
    rendering: Rendering,
    #[cfg(feature = "llm-parse")]
    pub(super) decoding: super::decode::anthropic_messages::Decoding,
}

/// What the rendering side has sent so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Rendering {
    /// `message_start` went out: the id and model are fixed.
    opened: bool,
    /// The `ping` after the first block's start went out.
    pinged: bool,
    /// The choice the next items belong to; only choice 0's are sent.
    choice: u32,
    /// The open content block.
    block: Option<Block>,
    /// The index of the next content block.
    next_index: u64,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    /// Passed-on blocks of the upstream ([`Item::Other`]): their upstream index, and ours.
    passed: BTreeMap<u64, u64>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Block {
    index: u64,
    kind: BlockKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BlockKind {
    Text,
    /// A thinking block, and whether it got its signature from upstream.
    Thinking {
        signed: bool,
    },
    ToolUse {
        call: u32,
    },
    /// An upstream block passed on as it came.
    Passed,
}

/// The `ping` event, after the first block's start and as keep-alive.
const PING: &[u8] = b"event: ping\ndata: {\"type\":\"ping\"}\n\n";

/// The format's name in [`Item::Other`].
const NAME: &str = "anthropic-messages";

impl Default for AnthropicMessages {
    /// The format with an empty id and model, for decoding, or for a typed stream whose
    /// [`Item::Start`] names them.
    fn default() -> Self {
        Self::new("", "")
    }
}

impl AnthropicMessages {
    /// The format for a message with this `id` (`msg_…`) and `model`.
    #[must_use]
    pub fn new(id: impl Into<String>, model: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            model: model.into(),
            input_tokens: 0,
            output_tokens: 0,
            stop_reason: "end_turn".to_owned(),
            rendering: Rendering::default(),
            #[cfg(feature = "llm-parse")]
            decoding: Default::default(),
        }
    }

    /// Sets the prompt's token count, reported in `message_start`'s usage.
    #[must_use]
    pub fn with_input_tokens(mut self, input_tokens: u64) -> Self {
        self.input_tokens = input_tokens;
        self
    }

    /// Sets the `stop_reason` of `message_delta` for a stream without [`Item::Finish`]:
    /// `"end_turn"` (the default), `"max_tokens"`, `"stop_sequence"`, …
    ///
    /// A typed stream says why it finished; this default is for streams that cannot (a plain
    /// stream of chunks) and upstreams that do not.
    #[must_use]
    pub fn with_stop_reason(mut self, stop_reason: impl Into<String>) -> Self {
        self.set_stop_reason(stop_reason);
        self
    }

    /// Sets the default `stop_reason` while the stream runs (through
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

    /// The message id: the one given to [`new`](Self::new), or the upstream's once an
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

    /// The prompt's token count for `message_start`.
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

    /// The default `stop_reason` of `message_delta`.
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
        // Written from UTF-8 strings and ASCII: valid UTF-8.
        Event::default()
            .event("error")
            .data(String::from_utf8_lossy(&json).into_owned())
    }

    /// Writes `message_start` if it has not gone out.
    fn open(&mut self, out: &mut BytesMut) {
        if std::mem::replace(&mut self.rendering.opened, true) {
            return;
        }
        out.reserve(self.id.len() + self.model.len() + 256);
        out.extend_from_slice(
            b"event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":",
        );
        write_json_string(out, &self.id);
        out.extend_from_slice(br#","type":"message","role":"assistant","model":"#);
        write_json_string(out, &self.model);
        out.extend_from_slice(
            br#","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":"#,
        );
        let input_tokens = self
            .rendering
            .usage
            .map_or(self.input_tokens, |usage| usage.input_tokens());
        write_decimal(out, u128::from(input_tokens));
        out.extend_from_slice(b",\"output_tokens\":0}}}\n\n");
    }

    /// Makes a block of `kind` the open one: the open block is closed unless it is of that
    /// kind; returns whether a new block must be started (by the caller, which knows its
    /// content).
    fn switch_to(&mut self, kind: BlockKind, out: &mut BytesMut) -> Option<u64> {
        self.open(out);
        if self.rendering.block.is_some_and(|block| block.kind == kind) {
            return None;
        }
        self.close_block(out);
        let index = self.rendering.next_index;
        self.rendering.next_index += 1;
        self.rendering.block = Some(Block { index, kind });
        Some(index)
    }

    /// Writes `content_block_start` up to the content block's JSON.
    fn start_head(index: u64, out: &mut BytesMut) {
        out.extend_from_slice(
            b"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":",
        );
        write_decimal(out, u128::from(index));
        out.extend_from_slice(br#","content_block":"#);
    }

    /// Ends `content_block_start`, with the first ping after it.
    fn start_tail(&mut self, out: &mut BytesMut) {
        out.extend_from_slice(b"}\n\n");
        if !std::mem::replace(&mut self.rendering.pinged, true) {
            out.extend_from_slice(PING);
        }
    }

    /// Writes `content_block_delta` up to the delta's JSON.
    fn delta_head(index: u64, out: &mut BytesMut) {
        out.extend_from_slice(
            b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":",
        );
        write_decimal(out, u128::from(index));
        out.extend_from_slice(br#","delta":"#);
    }

    fn close_block(&mut self, out: &mut BytesMut) {
        let Some(block) = self.rendering.block.take() else {
            return;
        };
        if block.kind == (BlockKind::Thinking { signed: false }) {
            Self::delta_head(block.index, out);
            out.extend_from_slice(b"{\"type\":\"signature_delta\",\"signature\":\"\"}}\n\n");
        }
        out.extend_from_slice(
            b"event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":",
        );
        write_decimal(out, u128::from(block.index));
        out.extend_from_slice(b"}\n\n");
    }

    fn text(&mut self, thinking: bool, chunk: &Chunk, out: &mut BytesMut) {
        if self.rendering.choice != 0 {
            return;
        }
        let text = chunk.as_str();
        out.reserve(text.len() + 128);
        self.output_tokens = self
            .output_tokens
            .saturating_add(chunk.token_count() as u64);
        let kind = if thinking {
            // A block already open keeps the signature it has.
            match self.rendering.block {
                Some(Block {
                    kind: kind @ BlockKind::Thinking { .. },
                    ..
                }) => kind,
                _ => BlockKind::Thinking { signed: false },
            }
        } else {
            BlockKind::Text
        };
        if let Some(index) = self.switch_to(kind, out) {
            Self::start_head(index, out);
            out.extend_from_slice(if thinking {
                br#"{"type":"thinking","thinking":"","signature":""}"#
            } else {
                br#"{"type":"text","text":""}"#
            });
            self.start_tail(out);
        }
        let Some(block) = self.rendering.block else {
            return;
        };
        Self::delta_head(block.index, out);
        out.extend_from_slice(if thinking {
            br#"{"type":"thinking_delta","thinking":"#
        } else {
            br#"{"type":"text_delta","text":"#
        });
        write_json_string(out, text);
        out.extend_from_slice(b"}}\n\n");
    }

    fn tool_call(&mut self, call: &ToolCall, out: &mut BytesMut) {
        if self.rendering.choice != 0 {
            return;
        }
        let kind = BlockKind::ToolUse { call: call.index() };
        if let Some(index) = self.switch_to(kind, out) {
            Self::start_head(index, out);
            out.extend_from_slice(br#"{"type":"tool_use","id":"#);
            write_json_string(out, call.id().unwrap_or_default());
            out.extend_from_slice(br#","name":"#);
            write_json_string(out, call.name().unwrap_or_default());
            out.extend_from_slice(br#","input":{}}"#);
            self.start_tail(out);
        }
        if let (Some(block), false) = (self.rendering.block, call.arguments().is_empty()) {
            Self::delta_head(block.index, out);
            out.extend_from_slice(br#"{"type":"input_json_delta","partial_json":"#);
            write_json_string(out, call.arguments());
            out.extend_from_slice(b"}}\n\n");
        }
    }

    /// Passes on an event of an Anthropic upstream, with its block index renumbered.
    fn other(&mut self, event: Option<&str>, data: &str, out: &mut BytesMut) {
        let Some(members) = json::members(data) else {
            write_other(out, event, data);
            return;
        };
        let kind = json::find(&members, "type").and_then(json::plain_str);
        let upstream = json::find(&members, "index").and_then(json::as_u64);
        let index = match (kind, upstream) {
            (Some("content_block_start"), Some(upstream)) => {
                let Some(index) = self.switch_to(BlockKind::Passed, out) else {
                    // Two passed blocks in a row: the first one ends here.
                    self.close_block(out);
                    return self.other(event, data, out);
                };
                self.rendering.passed.insert(upstream, index);
                index
            }
            (Some("content_block_delta"), Some(upstream)) => {
                let passed = self.rendering.passed.get(&upstream).copied();
                let Some(block) = self.rendering.block else {
                    // No block is open for it: a client would fail on it.
                    return;
                };
                if passed.is_some_and(|index| index != block.index) {
                    return;
                }
                if passed.is_none() && block.kind == (BlockKind::Thinking { signed: false }) {
                    let delta = json::find(&members, "delta");
                    let delta_type = delta
                        .and_then(|delta| json::member(delta, "type"))
                        .and_then(json::plain_str);
                    if delta_type == Some("signature_delta") {
                        self.rendering.block = Some(Block {
                            kind: BlockKind::Thinking { signed: true },
                            ..block
                        });
                    }
                }
                block.index
            }
            (Some("content_block_stop"), Some(upstream)) => {
                let passed = self.rendering.passed.get(&upstream).copied();
                match self.rendering.block {
                    Some(block) if Some(block.index) == passed => {
                        self.rendering.block = None;
                        block.index
                    }
                    // The stop of a block this format closes itself, or of one it closed.
                    _ => return,
                }
            }
            _ => {
                self.open(out);
                write_other(out, event, data);
                return;
            }
        };
        // The type is one of the three above: the event is named after it, as the SDKs need.
        out.extend_from_slice(b"event: ");
        out.extend_from_slice(kind.unwrap_or_default().as_bytes());
        out.extend_from_slice(b"\ndata: ");
        json::write_object_with(out, &members, &[("index", index)]);
        if kind == Some("content_block_start") {
            self.start_tail_passed(out);
        } else {
            out.extend_from_slice(b"\n\n");
        }
    }

    /// Ends a passed-on `content_block_start`, with the first ping after it.
    fn start_tail_passed(&mut self, out: &mut BytesMut) {
        out.extend_from_slice(b"\n\n");
        if !std::mem::replace(&mut self.rendering.pinged, true) {
            out.extend_from_slice(PING);
        }
    }
}

impl Format for AnthropicMessages {
    fn chunk(&mut self, chunk: &Chunk, out: &mut BytesMut) {
        self.text(false, chunk, out);
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
            Item::Content(chunk) | Item::Refusal(chunk) => self.text(false, chunk, out),
            Item::Reasoning(chunk) => self.text(true, chunk, out),
            Item::ToolCall(call) => self.tool_call(call, out),
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
            Item::Logprobs(_) | Item::Other { .. } => {}
        }
    }

    fn close(&mut self, out: &mut BytesMut) {
        self.open(out);
        self.close_block(out);
        out.extend_from_slice(
            b"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":",
        );
        match &self.rendering.finish {
            Some(reason) => write_json_string(out, reason.as_anthropic()),
            None => write_json_string(out, &self.stop_reason),
        }
        out.extend_from_slice(br#","stop_sequence":null},"usage":{"#);
        match self.rendering.usage {
            Some(usage) => {
                out.extend_from_slice(br#""input_tokens":"#);
                write_decimal(out, u128::from(usage.input_tokens()));
                out.extend_from_slice(br#","output_tokens":"#);
                write_decimal(out, u128::from(usage.output_tokens()));
                if let Some(cached) = usage.cached_input_tokens() {
                    out.extend_from_slice(br#","cache_read_input_tokens":"#);
                    write_decimal(out, u128::from(cached));
                }
                if let Some(thinking) = usage.reasoning_tokens() {
                    out.extend_from_slice(br#","output_tokens_details":{"thinking_tokens":"#);
                    write_decimal(out, u128::from(thinking));
                    out.extend_from_slice(b"}");
                }
            }
            None => {
                out.extend_from_slice(br#""output_tokens":"#);
                write_decimal(out, u128::from(self.output_tokens));
            }
        }
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
