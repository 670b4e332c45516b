//! A slow model streamed three ways: the lag a fixed batch causes, and how a time bound fixes it.
//!
//! A simulated model emits a token every 300–700 ms (deterministic pseudo-random gaps, as in the
//! logs of a loaded server). The same tokens go through three policies at once:
//!
//! - `FixedBatch::new(25)`: what many servers do, "write every 25 tokens";
//! - `Immediate`: one write per token;
//! - `TimeBounded::new(4, 100ms)`: at most 4 tokens per write, no token held over 100 ms.
//!
//! The example prints each chunk when a reader would see it, then the worst wait per policy.
//! It runs on a paused clock and finishes at once; pass `--real-time` to watch it live.
//!
//! ```text
//! cargo run -p example-slow-model                # instant, on a paused clock
//! cargo run -p example-slow-model -- --real-time # the same, in real time (about 20 s)
//! cargo run -p example-slow-model -- --fast      # a fast model: 10-60 ms per token
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, Stream, StreamExt};
use tokenflush::policy::{FixedBatch, FlushPolicy, Immediate, TimeBounded};
use tokenflush::{Chunk, FlushExt, FlushReason};
use tokio::time::Instant;

/// What the model says, as a tokenizer would cut it. The emoji arrives as two byte tokens, the
/// way byte-fallback tokenizers emit characters they have no token for.
const TOKENS: &[&[u8]] = &[
    b"Users",
    b" blame",
    b" the",
    b" model",
    b" when",
    b" text",
    b" arrives",
    b" in",
    b" bursts",
    b",",
    b" but",
    b" the",
    b" plumbing",
    b" is",
    b" at",
    b" fault",
    b":",
    b" a",
    b" server",
    b" that",
    b" writes",
    b" every",
    b" 25",
    b" tokens",
    b" holds",
    b" each",
    b" one",
    b" for",
    b" seconds",
    b".",
    b" A",
    b" time",
    b" bound",
    b" fixes",
    b" it",
    b" \xF0\x9F",
    b"\x9A\x80",
    b" (caf\xC3\xA9",
    b" na\xC3\xAFve",
    b" \xE6\x97\xA5\xE6\x9C\xAC",
    b" included).",
];

/// The model: the tokens above, each after a gap drawn from `gaps_ms`.
fn model(gaps_ms: (u64, u64)) -> impl Stream<Item = Bytes> {
    let mut seed = 0x9E37_79B9_u32;
    let gaps: Vec<Duration> = TOKENS
        .iter()
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            Duration::from_millis(gaps_ms.0 + u64::from(seed) % (gaps_ms.1 - gaps_ms.0 + 1))
        })
        .collect();
    stream::iter(TOKENS.iter().zip(gaps)).then(|(token, gap)| async move {
        tokio::time::sleep(gap).await;
        Bytes::from_static(token)
    })
}

/// What one reader saw under one policy.
struct Report {
    name: &'static str,
    chunks: Vec<(Duration, Chunk)>,
}

impl Report {
    fn worst_wait(&self) -> Duration {
        self.chunks
            .iter()
            .map(|(_, chunk)| chunk.held_for())
            .max()
            .unwrap_or_default()
    }

    fn first_text(&self) -> Duration {
        self.chunks.first().map(|(at, _)| *at).unwrap_or_default()
    }
}

/// Streams the model through `policy`, printing each chunk as it arrives.
async fn read(
    name: &'static str,
    policy: impl FlushPolicy,
    gaps_ms: (u64, u64),
    start: Instant,
) -> Report {
    let mut chunks = Box::pin(model(gaps_ms).flush_with(policy));
    let mut seen = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let at = start.elapsed();
        println!("{}", describe(at, name, &chunk));
        seen.push((at, chunk));
    }
    Report { name, chunks: seen }
}

fn describe(at: Duration, name: &str, chunk: &Chunk) -> String {
    let text = chunk.as_str();
    let shown = match text.char_indices().nth(32) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    };
    let mut line = format!("{:>7.2} s  {name:<27} {shown:<36}", at.as_secs_f64());
    let tokens = chunk.token_count();
    let _ = write!(
        line,
        " {tokens:>2} token{}",
        if tokens == 1 { " " } else { "s" }
    );
    let why = match chunk.reason() {
        FlushReason::First => "first text goes out at once".to_owned(),
        FlushReason::End => "end of stream".to_owned(),
        _ => format!("oldest waited {}", millis(chunk.held_for())),
    };
    let _ = write!(line, "  {why}");
    line
}

fn millis(duration: Duration) -> String {
    if duration >= Duration::from_secs(1) {
        format!("{:.2} s", duration.as_secs_f64())
    } else {
        format!("{} ms", duration.as_millis())
    }
}

fn main() {
    let real_time = std::env::args().any(|arg| arg == "--real-time");
    let fast = std::env::args().any(|arg| arg == "--fast");
    let gaps_ms = if fast { (10, 60) } else { (300, 700) };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(!real_time)
        .build()
        .expect("a current-thread runtime starts");

    println!(
        "A simulated model emits {} tokens, one every {}-{} ms{}.\n\
         Each line is a chunk reaching the reader under one policy.\n",
        TOKENS.len(),
        gaps_ms.0,
        gaps_ms.1,
        if real_time {
            " (real time)"
        } else {
            " (paused clock: pass --real-time to watch)"
        },
    );
    let reports = runtime.block_on(async {
        let start = Instant::now();
        let (fixed, immediate, bounded) = tokio::join!(
            read("FixedBatch::new(25)", FixedBatch::new(25), gaps_ms, start),
            read("Immediate", Immediate::new(), gaps_ms, start),
            read(
                "TimeBounded::new(4, 100ms)",
                TimeBounded::new(4, Duration::from_millis(100)),
                gaps_ms,
                start,
            ),
        );
        [fixed, immediate, bounded]
    });

    println!(
        "\n{:<28}{:>8}{:>18}{:>14}",
        "policy", "writes", "first text at", "worst wait"
    );
    for report in &reports {
        println!(
            "{:<28}{:>8}{:>18}{:>14}",
            report.name,
            report.chunks.len(),
            millis(report.first_text()),
            millis(report.worst_wait()),
        );
    }
    let text: Vec<String> = reports
        .iter()
        .map(|report| report.chunks.iter().map(|(_, c)| c.as_str()).collect())
        .collect();
    assert!(
        text.iter().all(|t| *t == text[0]),
        "every policy delivers the same text"
    );
    println!(
        "\nEvery reader got the same text, no character split: {:?}",
        text[0]
    );
    if !fast {
        println!(
            "\nOn a model this slow every token deserves its own write. Try --fast (10-60 ms per \
             token):\nthere TimeBounded also saves writes, still holding no token over 100 ms."
        );
    }
}
