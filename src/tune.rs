//! The tuning harness: replay token timings through every candidate policy and see which one
//! fits your traffic (feature `tune`).
//!
//! Each candidate runs through the real adapter ([`flush_with`](crate::FlushExt::flush_with))
//! on a paused Tokio clock, so a trace of minutes replays in milliseconds and every figure is
//! exact. For each policy the harness measures, per token, the delay the policy adds: from the
//! token's arrival to the moment the chunk holding it is yielded. Benchmarks that stamp a
//! chunk's tokens all with the chunk's time misreport this; here each token keeps its own
//! arrival. Then it reports the trade-off between that delay and how often the server writes,
//! marks the Pareto front, and recommends the policy with the fewest writes whose p99 added
//! delay meets your target.
//!
//! The traffic is a [`Trace`](crate::trace::Trace): one of the built-in [`Model`]s, a trace
//! recorded from a live stream with [`record_trace`](crate::trace::TraceExt::record_trace), or a
//! recorded OpenAI-compatible SSE response. The `tune` example is the command-line front end:
//!
//! ```text
//! cargo run --release --features tune --example tune -- --model fast --max-p99 100ms
//! ```
//!
//! The feature enables Tokio's `rt` and `test-util` (for the paused clock): use it in a
//! development build or a separate tool, not in a production server.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use tokenflush::trace::Trace;
//! use tokenflush::tune::{Candidate, Evaluation};
//!
//! // Tokens every 10 ms, as a fast model emits them.
//! let trace = Trace::from_gaps((0..400).map(|i| format!("t{i} ")), Duration::from_millis(10));
//! let evaluation = Evaluation::run(&trace, &Candidate::grid());
//! let best = evaluation.recommend(Duration::from_millis(100)).unwrap();
//! assert!(best.delay_p99() <= Duration::from_millis(100));
//! println!("{}", evaluation.table());
//! ```

mod candidate;
mod evaluation;
mod model;
mod plot;
mod replay;
mod report;

pub use candidate::{parse_duration, Candidate};
pub use evaluation::Evaluation;
pub use model::Model;
pub use replay::replay;
pub use report::PolicyReport;
