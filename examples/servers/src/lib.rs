//! The serving examples of tokenflush, as a library their binaries and tests share:
//!
//! - [`chat_server`]: an OpenAI- and Anthropic-compatible chat server on a simulated model, with
//!   a page that streams one answer under three policies side by side
//!   (`cargo run -p example-servers --bin chat-server`);
//! - [`proxy`]: a re-chunking proxy in front of an OpenAI-compatible server, speaking chat
//!   completions, Responses and Anthropic messages to its clients
//!   (`cargo run -p example-servers --bin proxy`);
//! - [`load`]: the end-to-end load benchmark (`cargo run --release -p example-servers --bin load`);
//! - [`serve`]: serving a router with header- and body-read deadlines (both servers use it);
//! - [`whole`]: whole (non-streaming) answers collected from a typed stream.

pub mod chat_server;
mod jitter;
pub mod load;
pub mod policy;
pub mod proxy;
pub mod serve;
pub mod whole;
