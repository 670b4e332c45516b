use std::time::Duration;

use crate::trace::Trace;

/// A built-in model of token arrivals, to generate a [`Trace`] when you have none recorded.
///
/// Gaps are drawn from a small deterministic generator: the same model, token count and seed
/// give the same trace on every machine. Token texts are word pieces of an English text with
/// some accented, CJK and emoji characters.
///
/// | name | model | as in |
/// |---|---|---|
/// | `constant` | a token every 20 ms | a steady 50 tokens/s |
/// | `slow` | gaps of 300–700 ms | the logs of a loaded server |
/// | `fast` | 60–200 tokens/s (gaps of 5–16.7 ms) | a small model on a fast GPU |
/// | `bursty` | 2–6 tokens at once, then 30–120 ms of nothing | speculative decoding |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Model {
    /// A token every `gap`.
    Constant {
        /// The time between tokens.
        gap: Duration,
    },
    /// Gaps drawn uniformly from `min_gap..=max_gap`.
    Jittered {
        /// The shortest gap.
        min_gap: Duration,
        /// The longest gap.
        max_gap: Duration,
    },
    /// Bursts of `min_burst..=max_burst` tokens arriving at the same instant, separated by
    /// gaps drawn from `min_gap..=max_gap`.
    Bursty {
        /// The fewest tokens in a burst.
        min_burst: usize,
        /// The most tokens in a burst.
        max_burst: usize,
        /// The shortest gap between bursts.
        min_gap: Duration,
        /// The longest gap between bursts.
        max_gap: Duration,
    },
}

impl Model {
    /// The names of the built-in models, for [`named`](Self::named).
    pub(crate) const NAMES: [&'static str; 4] = ["constant", "slow", "fast", "bursty"];

    /// A built-in model by name (see the table above), or `None`.
    #[must_use]
    pub(crate) fn named(name: &str) -> Option<Self> {
        let ms = Duration::from_millis;
        Some(match name {
            "constant" => Self::Constant { gap: ms(20) },
            "slow" => Self::Jittered {
                min_gap: ms(300),
                max_gap: ms(700),
            },
            "fast" => Self::Jittered {
                min_gap: ms(5),
                max_gap: Duration::from_micros(16_667),
            },
            "bursty" => Self::Bursty {
                min_burst: 2,
                max_burst: 6,
                min_gap: ms(30),
                max_gap: ms(120),
            },
            _ => return None,
        })
    }

    /// `tokens` tokens of this model, drawn with `seed`.
    #[must_use]
    pub(crate) fn trace(&self, tokens: usize, seed: u64) -> Trace {
        let mut rng = Rng::new(seed);
        let mut trace = Trace::new();
        let mut at = Duration::ZERO;
        let mut burst_left = 0;
        for i in 0..tokens {
            match *self {
                Self::Constant { gap } => at += gap,
                Self::Jittered { min_gap, max_gap } => at += rng.duration(min_gap, max_gap),
                Self::Bursty {
                    min_burst,
                    max_burst,
                    min_gap,
                    max_gap,
                } => {
                    if burst_left == 0 {
                        at += rng.duration(min_gap, max_gap);
                        burst_left = rng.between(min_burst.max(1) as u64, max_burst.max(1) as u64);
                    }
                    burst_left -= 1;
                }
            }
            trace.push(at, WORDS[(i + rng.between(0, 2) as usize) % WORDS.len()]);
        }
        trace
    }
}

/// Word pieces the generated traces are made of.
const WORDS: [&str; 24] = [
    "The", " model", " emits", " a", " token", " every", " few", " milli", "seconds", ",", " and",
    " the", " reader", " sees", " them", " as", " they", " come", ":", " café", " naïve", " 日本",
    " 😀", ".",
];

/// A tiny deterministic generator (xorshift64*): traces must not depend on a `rand` version.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `low..=high`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        if high <= low {
            return low;
        }
        low + self.next() % (high - low + 1)
    }

    /// A duration in `low..=high`, to the microsecond.
    fn duration(&mut self, low: Duration, high: Duration) -> Duration {
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(self.between(micros(low), micros(high)))
    }
}
