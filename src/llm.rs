//! Typed LLM streams: text of three kinds, merged by the flush policy, and everything else a
//! model streams — tool calls, the finish reason, usage — passed through in order.
//!
//! A model's stream is not only text. An [`Item`] says what each piece is; the flush adapter
//! ([`flush_with`](crate::FlushExt::flush_with), [`try_flush_with`](crate::TryFlushExt::try_flush_with))
//! merges only text of the same kind by the policy: answer text ([`Item::Content`]),
//! reasoning ([`Item::Reasoning`]) and refusals ([`Item::Refusal`]) never share a chunk. Every
//! other item first flushes the buffered text ([`FlushReason::Item`](crate::FlushReason::Item)),
//! then goes out itself, never merged and never reordered: tool-call fragments reach the client
//! exactly as the model sent them. The time bound applies to buffered text as before.
//!
//! The adapter turns a stream of `Item<T>` (`T` any [`Token`](crate::Token): `String`, `&str`,
//! bytes) into a stream of `Item<Chunk>`, which the [SSE encoder](crate::sse::EncodeSseExt)
//! renders in any [`Format`](crate::sse::Format): OpenAI's chat completions
//! ([`OpenAiChat`](crate::sse::OpenAiChat)) and Responses
//! ([`OpenAiResponses`](crate::sse::OpenAiResponses)) streams, Anthropic's messages stream
//! ([`AnthropicMessages`](crate::sse::AnthropicMessages)), or plain events
//! ([`TextEvents`](crate::sse::TextEvents)). Each format's documentation says what it makes of
//! every item, and what it sends when the stream does not tell it something its API needs.
//! With the `llm-parse` feature, the same formats turn an upstream's events back into items
//! (`sse::Decode`), so a proxy can read any of the three and write any other.
//!
//! A Python user's `async for chunk in llm.astream(...)` is a Rust `Stream`: map each delta
//! of your model client to `Item`s and the rest is one line.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use futures::StreamExt;
//! use tokenflush::llm::{FinishReason, Item, Usage};
//! use tokenflush::{policy::TimeBounded, FlushExt, FlushReason};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let items = futures::stream::iter([
//!     Item::Reasoning("Think"),
//!     Item::Reasoning("ing."),
//!     Item::Content("Hel"),
//!     Item::Content("lo"),
//!     Item::Finish(FinishReason::Stop),
//!     Item::Usage(Usage::new(12, 4)),
//! ]);
//! let policy = TimeBounded::new(8, Duration::from_millis(100)).with_immediate_first(false);
//! let out: Vec<_> = items.flush_with(policy).collect().await;
//! assert!(matches!(&out[0], Item::Reasoning(chunk) if chunk.as_str() == "Thinking."));
//! assert!(matches!(&out[1], Item::Content(chunk) if chunk.as_str() == "Hello"
//!     && chunk.reason() == FlushReason::Item)); // flushed ahead of the finish
//! assert_eq!(out[2], Item::Finish(FinishReason::Stop));
//! assert_eq!(out[3], Item::Usage(Usage::new(12, 4)));
//! # }
//! ```

mod finish_reason;
mod item;
mod tool_call;
mod usage;

pub use finish_reason::FinishReason;
pub use item::Item;
pub(crate) use item::TextKind;
pub use tool_call::ToolCall;
pub use usage::Usage;
