//! Seeded jitter for the simulated models of the examples: the same seed gives the same gaps.

/// A small deterministic generator (xorshift64).
pub(crate) struct Jitter(u64);

impl Jitter {
    /// A generator seeded by `seed` (any value, zero included).
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next number, uniform in [0, 1).
    pub(crate) fn next_unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}
