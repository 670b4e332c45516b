#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod chunk;
mod flush;
pub mod llm;
pub mod observe;
pub mod policy;
#[cfg(feature = "resume")]
pub mod resume;
pub mod sse;
mod timer;
mod token;
pub mod trace;
pub mod utf8;

pub use chunk::{Chunk, FlushReason};
pub use flush::{FlushExt, FlushInput, FlushWith, TryFlushExt, TryFlushWith};
pub use policy::FlushPolicy;
pub use token::{Token, TokenContent};
