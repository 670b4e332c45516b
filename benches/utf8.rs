//! UTF-8 decoding benchmarks (in progress on another branch).

fn main() {}
