//! The simulated model: tokens at a set speed with seeded jitter, each token's text the time
//! the model produced it, so the client can tell how late it arrived.

use std::time::{Duration, SystemTime};

use futures::stream::{self, Stream};
use tokio::time::Instant;

use crate::jitter;
use jitter::Jitter;

/// Microseconds since a time both processes agree on (the parent's start): token stamps.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    epoch: SystemTime,
}

impl Clock {
    /// A clock counting from `epoch_us` microseconds after the Unix epoch.
    pub fn from_unix_micros(epoch_us: u64) -> Self {
        Self {
            epoch: SystemTime::UNIX_EPOCH + Duration::from_micros(epoch_us),
        }
    }

    /// A clock counting from now, and its epoch for the other process.
    pub fn start() -> (Self, u64) {
        let now = SystemTime::now();
        let epoch_us = now
            .duration_since(SystemTime::UNIX_EPOCH)
            .expect("the system clock is after 1970")
            .as_micros() as u64;
        (Self::from_unix_micros(epoch_us), epoch_us)
    }

    /// Microseconds since the epoch (0 if the system clock stepped back before it).
    pub fn now_us(&self) -> u64 {
        SystemTime::now()
            .duration_since(self.epoch)
            .map_or(0, |since| since.as_micros() as u64)
    }
}

/// How fast the model talks.
#[derive(Clone, Copy, Debug)]
pub struct Speed {
    /// Average tokens per second of one stream.
    pub tokens_per_second: f64,
    /// How much each gap varies: 0.5 means anywhere from half to one and a half times the
    /// average gap.
    pub jitter: f64,
}

/// `count` tokens, seeded by `seed` (the same seed gives the same gaps under every
/// configuration), the first after `first_delay` plus one gap. Each token is the decimal
/// time the model produced it (by `clock`) followed by a space: the time it was due, not the
/// time the server's task got round to taking it, as a model engine running beside the server
/// produces tokens on its own schedule however busy the server is.
pub fn tokens(
    speed: Speed,
    seed: u64,
    count: usize,
    first_delay: Duration,
    clock: Clock,
) -> impl Stream<Item = String> + Send + 'static {
    let average = 1.0 / speed.tokens_per_second;
    let random = Jitter::new(seed);
    let now = Instant::now();
    let (origin, origin_us) = (now, clock.now_us());
    let start = now + first_delay;
    stream::unfold(
        (start, random, 0usize),
        move |(mut deadline, mut random, emitted)| async move {
            if emitted == count {
                return None;
            }
            let jitter = (random.next_unit() * 2.0 - 1.0) * speed.jitter;
            deadline += Duration::from_secs_f64(average * (1.0 + jitter));
            // Deadlines are absolute: a late wake-up does not slow the model down.
            tokio::time::sleep_until(deadline).await;
            let due_us = origin_us + (deadline - origin).as_micros() as u64;
            let mut token = due_us.to_string();
            token.push(' ');
            Some((token, (deadline, random, emitted + 1)))
        },
    )
}
