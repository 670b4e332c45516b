#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "axum")]
pub mod axum;
mod chunk;
#[cfg(feature = "http-body")]
pub mod http_body;
pub mod observe;
pub mod policy;
#[cfg(feature = "resume")]
pub mod resume;
pub mod sse;
mod stream;
mod timer;
mod token;
pub mod trace;
#[cfg(feature = "tune")]
pub mod tune;
pub mod utf8;

pub use chunk::{Chunk, FlushReason};
pub use policy::FlushPolicy;
pub use stream::{FlushExt, FlushWith, TryFlushExt, TryFlushWith};
pub use token::{Token, TokenContent};
