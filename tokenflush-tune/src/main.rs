//! Which flush policy fits your traffic? Replays token timings through every candidate policy
//! and prints the trade-off between added delay and writes, the Pareto front, a
//! recommendation, and an SVG plot.
//!
//! ```text
//! cargo run --release -p tokenflush-tune                    # all built-in models
//! cargo run --release -p tokenflush-tune -- --model slow --max-p99 50ms
//! cargo run --release -p tokenflush-tune -- --trace my-model.jsonl
//! cargo run --release -p tokenflush-tune -- --sse recorded.sse
//! ```
//!
//! Options:
//!
//! - `--model NAME`: a built-in arrival model (`constant`, `slow`, `fast`, `bursty`); repeat it
//!   for several; by default all of them.
//! - `--tokens N`: tokens per built-in trace (default 2000); `--seed S` (default 1).
//! - `--trace FILE`: a JSON Lines trace, as `TraceExt::record_trace` writes it.
//! - `--sse FILE`: a recorded OpenAI-compatible streaming response, each line prefixed with the
//!   seconds since the request (`curl -N … | ts -s %.s` writes that).
//! - `--policy SPEC`: a candidate (`Immediate`, `FixedBatch(8)`, `TimeBounded(4, 100ms)`);
//!   repeat it for several; by default a grid of 21.
//! - `--max-p99 DURATION`: the p99 added delay you accept (default `100ms`).
//! - `--svg DIR`: where to write one plot per trace (default `target/tune`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

mod candidate;
mod evaluation;
mod model;
mod plot;
mod read;
mod replay;
mod report;
#[cfg(test)]
mod tests;
mod trace;

use candidate::{parse_duration, Candidate};
use evaluation::Evaluation;
use model::Model;
use trace::Trace;

struct Options {
    traces: Vec<(String, Trace)>,
    candidates: Vec<Candidate>,
    max_p99: Duration,
    svg_dir: PathBuf,
}

fn main() -> ExitCode {
    match options(std::env::args().skip(1)) {
        Ok(options) => run(&options),
        Err(message) => {
            eprintln!(
                "tune: {message}\n(see the top of tokenflush-tune/src/main.rs for the options)"
            );
            ExitCode::from(2)
        }
    }
}

fn run(options: &Options) -> ExitCode {
    if let Err(error) = std::fs::create_dir_all(&options.svg_dir) {
        eprintln!("tune: cannot create {}: {error}", options.svg_dir.display());
        return ExitCode::FAILURE;
    }
    for (name, trace) in &options.traces {
        let started = Instant::now();
        let evaluation = Evaluation::run(trace, &options.candidates);
        let elapsed = started.elapsed();
        println!(
            "\n{name}: {} tokens over {:.1} s, {} policies replayed in {:.2} s",
            trace.len(),
            trace.duration().as_secs_f64(),
            options.candidates.len(),
            elapsed.as_secs_f64(),
        );
        print!("{}", evaluation.table());
        match evaluation.recommend(options.max_p99) {
            Some(best) => println!(
                "→ recommended for p99 ≤ {:?}: {} ({:.1} chunks/s, {:.2} tokens per chunk, p99 {:?})",
                options.max_p99,
                best.name(),
                best.chunks_per_second(),
                best.tokens_per_chunk(),
                best.delay_p99(),
            ),
            None => println!("→ no candidate keeps p99 ≤ {:?}", options.max_p99),
        }
        let file = options.svg_dir.join(format!("{}.svg", file_name(name)));
        let svg = evaluation.svg(name, Some(options.max_p99));
        match std::fs::write(&file, svg) {
            Ok(()) => println!("  plot: {}", file.display()),
            Err(error) => {
                eprintln!("tune: cannot write {}: {error}", file.display());
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

fn options(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
    let mut models = Vec::new();
    let mut files = Vec::new();
    let mut candidates = Vec::new();
    let mut tokens = 2_000;
    let mut seed = 1;
    let mut max_p99 = Duration::from_millis(100);
    let mut svg_dir = PathBuf::from("target/tune");
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => models.push(value()?),
            "--trace" => files.push(("jsonl", value()?)),
            "--sse" => files.push(("sse", value()?)),
            "--policy" => {
                let spec = value()?;
                candidates.push(Candidate::parse(&spec).ok_or(format!("unknown policy {spec:?}"))?);
            }
            "--tokens" => tokens = value()?.parse().map_err(|e| format!("--tokens: {e}"))?,
            "--seed" => seed = value()?.parse().map_err(|e| format!("--seed: {e}"))?,
            "--max-p99" => {
                let text = value()?;
                max_p99 =
                    parse_duration(&text).ok_or(format!("--max-p99: not a duration: {text}"))?;
            }
            "--svg" => svg_dir = PathBuf::from(value()?),
            other => return Err(format!("unknown option {other:?}")),
        }
    }
    if candidates.is_empty() {
        candidates = Candidate::grid();
    }
    if models.is_empty() && files.is_empty() {
        models = Model::NAMES.iter().map(|name| (*name).to_owned()).collect();
    }
    let mut traces = Vec::new();
    for name in models {
        let model = Model::named(&name).ok_or(format!("unknown model {name:?}"))?;
        traces.push((format!("model {name}"), model.trace(tokens, seed)));
    }
    for (kind, path) in files {
        let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        let reader = std::io::BufReader::new(file);
        let trace = match kind {
            "jsonl" => Trace::from_jsonl(reader),
            _ => Trace::from_timestamped_sse(reader),
        }
        .map_err(|e| format!("{path}: {e}"))?;
        traces.push((path, trace));
    }
    Ok(Options {
        traces,
        candidates,
        max_p99,
        svg_dir,
    })
}

fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}
