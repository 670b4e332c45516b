//! Resumable streams: keep what a generation sends, so that a reader whose connection dropped
//! reads it again from where it stopped — on the same server instance or another — with
//! nothing lost and nothing twice (feature `resume`; the Redis store needs feature `redis`).
//!
//! Two layers:
//!
//! - [`Relay`], what a server uses: it runs each generation in its own task, detached from
//!   the connection, stores every flushed item before its readers get it, and serves readers
//!   — the first, others that join, and those that come back with `Last-Event-ID` — as
//!   [`ResumeSse`] bodies in any [`Format`](crate::sse::Format), every event with an
//!   [`EventId`]. A server does start and resume in a few lines (see [`Relay`], and the axum
//!   example on [`ResumeSse`]'s `IntoResponse`).
//! - [`ResumeStore`], where items are kept under a sequence number: one append per flushed
//!   chunk or pass-through item (tool call, finish reason, usage), so the flush policy sets
//!   the write rate, not the token rate. Items are opaque bytes (the relay's own compact,
//!   versioned encoding of chunks and items, never rendered frames), so any wire format
//!   replays identically. Two stores:
//!   - [`MemoryStore`]: one process, bounded, no dependencies beyond Tokio;
//!   - `RedisStore` (feature `redis`): shared by several instances behind a load balancer;
//!     one Redis command per append.
//!
//! # How the relay uses a store
//!
//! 1. Start a generation: [`create`](ResumeStore::create) a stream (its [`StreamId`] is a
//!    random capability; bind it to the caller with an owner tag) and run the generation in
//!    its own task.
//! 2. For every item, [`append`](ResumeStore::append) it with the next sequence number
//!    *before* sending it to the readers on this instance, so nothing a reader saw is missing
//!    from the store. [`heartbeat`](ResumeStore::heartbeat) while the model is silent; at the
//!    end, [`finish`](ResumeStore::finish).
//! 3. A reader that comes back to another instance [`read`](ResumeStore::read)s the stream:
//!    every stored item, then live ones, then [`Entry::Finished`].
//!
//! # What readers are told
//!
//! - Items in order, each once ([`Entry::Item`]).
//! - A numbered hole as [`Entry::Gap`]: items the producer could not store (the store was
//!   unreachable for a while). Producers number items contiguously, so nothing goes missing
//!   silently.
//! - The end: [`Entry::Finished`] with the [`Outcome`], or [`Entry::Lost`] when the
//!   producer's lease ran out without a finish (its process died). A follower learns that
//!   within the lease (plus, for Redis, its poll interval): never a hang.
//! - [`ResumeError::NotFound`] for an id that is unknown, expired, malformed, or another
//!   owner's — one answer, with one message, so that ids cannot be probed.
//! - [`ResumeError::Trimmed`] for a read from before what the length caps kept.
//!
//! # Examples
//!
//! ```
//! use bytes::Bytes;
//! use futures::StreamExt;
//! use tokenflush::resume::{Entry, MemoryStore, Outcome, ResumeError, ResumeStore, StreamId, StreamOptions};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ResumeError> {
//! let store = MemoryStore::new();
//! let alice = b"tag derived from alice's credential";
//! let id = store.create(Some(alice), &StreamOptions::new()).await?;
//! for (seq, text) in ["Hel", "lo"].into_iter().enumerate() {
//!     store.append(id, seq as u64, Bytes::from(text)).await?;
//! }
//! store.finish(id, Outcome::Completed).await?;
//!
//! // The id travels as text, e.g. in an SSE event id.
//! let id: StreamId = id.to_string().parse()?;
//! let entries: Vec<_> = store.read(id, Some(alice), None).await?.collect().await;
//! assert_eq!(entries.len(), 3);
//! assert_eq!(entries[2], Ok(Entry::Finished(Outcome::Completed)));
//!
//! // Someone else with the id, and an id never issued, get the same answer.
//! let mallory = store.read(id, Some(b"another tag"), None).await.unwrap_err();
//! let guessed = store.read(StreamId::random()?, Some(alice), None).await.unwrap_err();
//! assert_eq!(mallory.to_string(), guessed.to_string());
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "axum")]
mod axum;
mod codec;
mod cursor;
mod entry;
mod error;
mod event_id;
mod generation;
mod history;
#[cfg(feature = "http-body")]
mod http_body;
mod id;
mod memory;
mod options;
mod owner;
#[cfg(feature = "redis")]
mod redis;
mod relay;
mod render;
mod resume_item;
mod resume_sse;
mod store;
mod unfold;

pub use entry::{Entry, Outcome};
pub use error::ResumeError;
pub use event_id::EventId;
#[cfg(feature = "http-body")]
pub use http_body::last_event_id;
pub use id::StreamId;
pub use memory::MemoryStore;
pub use options::StreamOptions;
#[cfg(feature = "redis")]
pub use redis::RedisStore;
pub use relay::Relay;
pub use resume_item::ResumeItem;
pub use resume_sse::ResumeSse;
pub use store::{Entries, ResumeFuture, ResumeStore};
