//! The ways the server streams the same tokens: axum's own `Sse` with one event per token (the
//! anchor: what servers ship today), and tokenflush under five policies.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;
/// How a configuration frames the model's tokens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `axum::response::sse::Sse` with one `Event` per token.
    Anchor,
    /// tokenflush's `encode_sse` response under `Immediate`.
    Immediate,
    /// tokenflush's `encode_sse` response under `TimeBounded::new(4, 50ms)`.
    TimeBounded,
    /// The same with `with_anticipation(true)`: flushes ahead of a deadline the next token
    /// would miss.
    Anticipating,
    /// tokenflush's `encode_sse` response under `Adaptive::new(50ms)`.
    Adaptive,
    /// tokenflush's `encode_sse` response under `FixedBatch::new(25)`.
    FixedBatch,
    /// `TimeBounded::new(4, 50ms)` through a resumable generation (`resume::Relay`) on the
    /// Redis store: every chunk stored before it is sent. Needs the benchmark's `--redis`.
    Resumable,
}

/// `TimeBounded`'s bound in this benchmark.
pub const MAX_LATENCY: Duration = Duration::from_millis(50);

impl Route {
    /// Every configuration, the anchor first.
    pub const ALL: [Route; 6] = [
        Route::Anchor,
        Route::Immediate,
        Route::TimeBounded,
        Route::Anticipating,
        Route::Adaptive,
        Route::FixedBatch,
    ];

    /// Every configuration the server knows, [`ALL`](Self::ALL) and those that need a store.
    pub const KNOWN: [Route; 7] = [
        Route::Anchor,
        Route::Immediate,
        Route::TimeBounded,
        Route::Anticipating,
        Route::Adaptive,
        Route::FixedBatch,
        Route::Resumable,
    ];

    /// The name in URLs and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Route::Anchor => "axum",
            Route::Immediate => "immediate",
            Route::TimeBounded => "time_bounded",
            Route::Anticipating => "anticipating",
            Route::Adaptive => "adaptive",
            Route::FixedBatch => "fixed_batch",
            Route::Resumable => "time_bounded_redis",
        }
    }
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Route::Anchor => "axum Sse, an event per token",
            Route::Immediate => "Immediate",
            Route::TimeBounded => "TimeBounded(4, 50ms)",
            Route::Anticipating => "TimeBounded(4, 50ms), anticipating",
            Route::Adaptive => "Adaptive(50ms)",
            Route::FixedBatch => "FixedBatch(25)",
            Route::Resumable => "TimeBounded(4, 50ms), resumable on Redis",
        })
    }
}

impl FromStr for Route {
    type Err = String;

    fn from_str(name: &str) -> Result<Self, String> {
        Route::KNOWN
            .into_iter()
            .find(|route| route.name() == name)
            .ok_or_else(|| {
                format!(
                    "unknown configuration {name:?}: axum, immediate, time_bounded, \
                     anticipating, adaptive, fixed_batch or time_bounded_redis"
                )
            })
    }
}
