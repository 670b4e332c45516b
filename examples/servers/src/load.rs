//! The end-to-end load benchmark's parts: the clients, the simulated model, the server's routes
//! and process, and the report. `src/bin/load.rs` runs them.

pub mod client;
pub mod model;
pub mod process;
pub mod redis_stats;
pub mod report;
pub mod route;
pub mod server;
