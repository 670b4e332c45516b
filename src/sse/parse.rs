//! Client side: bytes in, events out — the WHATWG parser and the stream adapter over a body.
//! The user-facing story is in the `sse` module's docs and on [`Parser`].

#[cfg(feature = "llm-parse")]
mod parse_items;
mod parse_sse;
mod parser;

#[cfg(feature = "llm-parse")]
pub use parse_items::ParseItems;
pub use parse_sse::{ParseSse, ParseSseExt};
pub use parser::{ParseError, ParsedEvent, Parser};
