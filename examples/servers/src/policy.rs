//! Choosing a flush policy at run time: from a request's `"tokenflush"` field (JSON) or a
//! command-line flag (`immediate`, `fixed_batch:25`, `time_bounded:4:100`).

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use tokenflush::policy::{FixedBatch, FlushPolicy, Immediate, TimeBounded};

/// A flush policy as configuration. In a request body:
///
/// ```text
/// "tokenflush": {"policy": "immediate"}
/// "tokenflush": {"policy": "fixed_batch", "max_tokens": 25}
/// "tokenflush": {"policy": "time_bounded", "max_tokens": 4, "max_latency_ms": 100}
/// ```
///
/// `time_bounded` also takes `"immediate_first": false` to let the first token wait too.
///
/// A client chooses these, so they are capped: at most [`MAX_TOKENS`] tokens per chunk and
/// [`MAX_LATENCY_MS`] of waiting; larger values are refused, never silently lowered. The flush
/// adapter's byte cap (64 KiB by default) bounds what a request holds whatever the policy.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(tag = "policy", rename_all = "snake_case")]
pub enum PolicyConfig {
    Immediate,
    FixedBatch {
        max_tokens: usize,
    },
    TimeBounded {
        max_tokens: usize,
        max_latency_ms: u64,
        #[serde(default = "yes")]
        immediate_first: bool,
    },
}

/// The most tokens per chunk a request may choose: more buys nothing a person can see and
/// only holds text longer.
pub const MAX_TOKENS: usize = 1024;

/// The longest time bound a request may choose, in milliseconds.
pub const MAX_LATENCY_MS: u64 = 10_000;

fn yes() -> bool {
    true
}

impl Default for PolicyConfig {
    /// `TimeBounded::new(4, 100ms)`, the policy for serving people.
    fn default() -> Self {
        Self::TimeBounded {
            max_tokens: 4,
            max_latency_ms: 100,
            immediate_first: true,
        }
    }
}

impl PolicyConfig {
    /// Reads the command-line form: `immediate`, `fixed_batch:N`, `time_bounded:N:MS`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split(':').collect();
        let number = |part: &str| {
            part.parse::<u64>()
                .map_err(|_| format!("{part:?} is not a whole number in policy {text:?}"))
        };
        let config = match parts.as_slice() {
            ["immediate"] => Self::Immediate,
            ["fixed_batch", max_tokens] => Self::FixedBatch {
                max_tokens: number(max_tokens)? as usize,
            },
            ["time_bounded", max_tokens, max_latency_ms] => Self::TimeBounded {
                max_tokens: number(max_tokens)? as usize,
                max_latency_ms: number(max_latency_ms)?,
                immediate_first: true,
            },
            _ => {
                return Err(format!(
                    "unknown policy {text:?}: use immediate, fixed_batch:N or time_bounded:N:MS"
                ))
            }
        };
        config.build()?;
        Ok(config)
    }

    /// The policy, or why these settings cannot work (zero, or over the caps).
    pub fn build(&self) -> Result<Box<dyn FlushPolicy + Send>, String> {
        self.check_caps()?;
        let policy: Box<dyn FlushPolicy + Send> = match *self {
            Self::Immediate => Box::new(Immediate::new()),
            Self::FixedBatch { max_tokens } => {
                Box::new(FixedBatch::try_new(max_tokens).map_err(|error| error.to_string())?)
            }
            Self::TimeBounded {
                max_tokens,
                max_latency_ms,
                immediate_first,
            } => Box::new(
                TimeBounded::try_new(max_tokens, Duration::from_millis(max_latency_ms))
                    .map_err(|error| error.to_string())?
                    .with_immediate_first(immediate_first),
            ),
        };
        Ok(policy)
    }
}

impl PolicyConfig {
    fn check_caps(&self) -> Result<(), String> {
        let (max_tokens, max_latency_ms) = match *self {
            Self::Immediate => return Ok(()),
            Self::FixedBatch { max_tokens } => (max_tokens, 0),
            Self::TimeBounded {
                max_tokens,
                max_latency_ms,
                ..
            } => (max_tokens, max_latency_ms),
        };
        if max_tokens > MAX_TOKENS {
            return Err(format!("max_tokens must be at most {MAX_TOKENS}"));
        }
        if max_latency_ms > MAX_LATENCY_MS {
            return Err(format!("max_latency_ms must be at most {MAX_LATENCY_MS}"));
        }
        Ok(())
    }
}

impl fmt::Display for PolicyConfig {
    /// The policy as Rust code: `TimeBounded::new(4, 100ms)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Immediate => f.write_str("Immediate"),
            Self::FixedBatch { max_tokens } => write!(f, "FixedBatch::new({max_tokens})"),
            Self::TimeBounded {
                max_tokens,
                max_latency_ms,
                immediate_first,
            } => {
                write!(f, "TimeBounded::new({max_tokens}, {max_latency_ms}ms)")?;
                if !immediate_first {
                    f.write_str(".with_immediate_first(false)")?;
                }
                Ok(())
            }
        }
    }
}
