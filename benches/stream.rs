//! Benchmarks of the flush adapters: none yet (this target only builds).

fn main() {}
