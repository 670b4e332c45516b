//! Benchmarks of the UTF-8 decoder: none yet (this target only builds).

fn main() {}
