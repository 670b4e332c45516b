//! `tokenflush-tune`: which flush policy fits your traffic?
//!
//! Replays token timings — built-in models, traces recorded with the library's `record_trace`,
//! timestamped SSE captures, or a live OpenAI-compatible or Anthropic endpoint recorded by the
//! tool itself — through candidate policies in the real adapter on a paused clock, and prints
//! each policy's added delay and writes, the Pareto front, a recommendation with its reasons,
//! and an SVG plot.
//!
//! ```text
//! cargo install --path tokenflush-tune
//! tokenflush-tune --model fast --max-p99 100ms
//! tokenflush-tune record --url https://api.openai.com/v1 --model gpt-4o-mini \
//!     --prompt "Explain TCP slow start" --output live.jsonl
//! tokenflush-tune --trace live.jsonl --policy time-bounded:8:80ms
//! ```
//!
//! `tokenflush-tune --help` lists every option; the recommendation rules are in `recommend.rs`.

use std::collections::HashSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};

mod candidate;
mod evaluation;
mod model;
mod output;
mod plot;
mod read;
mod recommend;
mod record;
mod replay;
mod report;
#[cfg(test)]
mod tests;
mod trace;

use candidate::{parse_duration, Candidate};
use evaluation::Evaluation;
use model::Model;
use output::{JsonPolicy, JsonRecommendation, JsonRun, JsonTrace, Source};
use recommend::{human, Limits};
use record::{Api, LiveRequest};
use trace::Trace;

const AFTER_HELP: &str = "\
recommendation: a policy qualifies when its p99, max and first-token added delays each stay
below their target less the margin (zero delay always qualifies); of those within 5 % of the
fewest writes, the lowest p50 wins, then the lowest first-token delay (delays within 1 ms
count as equal).

policies: immediate | fixed-batch:N | coalesce:N | time-bounded:N:D[:anticipate]
          | adaptive:D[:N] | rules:RULE,... (RULE: tokens=N, bytes=N, word, sentence, line, D)
          D is a duration with its unit: 80ms, 1.5s, 250us";

/// Which tokenflush flush policy fits your traffic: replays token timings through candidate
/// policies, recommends one, and plots the trade-off between added delay and writes.
#[derive(Debug, Parser)]
#[command(
    name = "tokenflush-tune",
    version,
    args_conflicts_with_subcommands = true,
    after_help = AFTER_HELP
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    evaluate: EvaluateArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay traces through candidate policies and recommend one (what runs without a
    /// subcommand).
    #[command(after_help = AFTER_HELP)]
    Evaluate(EvaluateArgs),
    /// Record a trace from a live OpenAI-compatible or Anthropic streaming endpoint.
    Record(RecordArgs),
    /// List the built-in candidate policies, with the Rust code of each.
    Policies {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
struct EvaluateArgs {
    /// A built-in arrival model: constant (20 ms), slow (0.3–0.7 s), fast (60–200 tokens/s),
    /// bursty (speculative decoding); repeatable. All four when no trace is given.
    #[arg(long, value_name = "NAME", value_parser = ["constant", "slow", "fast", "bursty"])]
    model: Vec<String>,
    /// Tokens per built-in model trace.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    tokens: usize,
    /// Seed of the built-in models.
    #[arg(long, value_name = "S", default_value_t = 1)]
    seed: u64,
    /// A JSON Lines trace, as `record_trace` and `tokenflush-tune record` write it; repeatable.
    #[arg(long, value_name = "FILE")]
    trace: Vec<PathBuf>,
    /// A captured event stream with the seconds since the request before each line, as
    /// `tokenflush-tune record --capture` writes it; repeatable.
    #[arg(long, value_name = "FILE")]
    sse: Vec<PathBuf>,
    /// A candidate policy (grammar below), added to the built-in grid; repeatable.
    #[arg(long, value_name = "SPEC", value_parser = Candidate::parse)]
    policy: Vec<Candidate>,
    /// Replay only the `--policy` candidates, not the built-in grid.
    #[arg(long, requires = "policy")]
    no_grid: bool,
    /// Target for the p99 added delay per token.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "100ms")]
    max_p99: Duration,
    /// Target for the largest added delay of any token [default: twice --max-p99].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    max_delay: Option<Duration>,
    /// Target for the first token's added delay [default: --max-p99].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    max_first_token: Option<Duration>,
    /// Taken off every target before comparing: what a real clock adds to a paused one
    /// [default: 5ms].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    margin: Option<Duration>,
    /// Directory for the plots (one `tune-<trace>.svg` per trace).
    #[arg(long, value_name = "DIR", default_value = ".")]
    out: PathBuf,
    /// Print one JSON document instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct RecordArgs {
    /// The endpoint (`…/v1/chat/completions`, `…/v1/messages`) or its base (`…/v1`).
    #[arg(long)]
    url: String,
    /// The wire format [default: from the URL's path, else openai].
    #[arg(long, value_enum)]
    api: Option<Api>,
    /// The model name sent in the request.
    #[arg(long)]
    model: String,
    /// The user message.
    #[arg(long)]
    prompt: String,
    /// The environment variable holding the API key [default: OPENAI_API_KEY or
    /// ANTHROPIC_API_KEY]; without it no key is sent.
    #[arg(long, value_name = "VAR")]
    api_key_env: Option<String>,
    /// The most tokens to generate [Anthropic's required field defaults to 1024].
    #[arg(long, value_name = "N")]
    max_tokens: Option<u32>,
    /// A JSON object merged into the request body (temperature, a server's own fields, …).
    #[arg(long, value_name = "JSON")]
    extra_body: Option<String>,
    /// Where to write the trace (JSON Lines).
    #[arg(long, short, value_name = "FILE")]
    output: PathBuf,
    /// Also write the raw event stream, each line after the seconds since the request (what
    /// `--sse` reads).
    #[arg(long, value_name = "FILE")]
    capture: Option<PathBuf>,
    /// How long to wait to connect, and then for each read of the stream.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s")]
    timeout: Duration,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Evaluate(args)) => evaluate(&args),
        Some(Command::Record(args)) => record(&args),
        Some(Command::Policies { json }) => policies(json),
        None => evaluate(&cli.evaluate),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("tokenflush-tune: {message}");
            ExitCode::FAILURE
        }
    }
}

/// An error and its causes, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

fn evaluate(args: &EvaluateArgs) -> Result<(), String> {
    let mut limits = Limits::from_p99(args.max_p99);
    limits.max_delay = args.max_delay.unwrap_or(limits.max_delay);
    limits.max_first_token = args.max_first_token.unwrap_or(limits.max_first_token);
    limits.margin = args.margin.unwrap_or(limits.margin);
    let mut candidates = args.policy.clone();
    if !args.no_grid {
        for candidate in Candidate::grid() {
            if !candidates.contains(&candidate) {
                candidates.push(candidate);
            }
        }
    }
    let mut traces: Vec<(Source, Trace)> = Vec::new();
    let mut models = args.model.clone();
    if models.is_empty() && args.trace.is_empty() && args.sse.is_empty() {
        models = Model::NAMES.iter().map(|&name| name.to_owned()).collect();
    }
    for name in models {
        let model = Model::named(&name).ok_or(format!("unknown model `{name}`"))?;
        traces.push((Source::Model(name), model.trace(args.tokens, args.seed)));
    }
    for (path, sse) in args
        .trace
        .iter()
        .map(|path| (path, false))
        .chain(args.sse.iter().map(|path| (path, true)))
    {
        let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let reader = std::io::BufReader::new(file);
        let trace = if sse {
            Trace::from_timestamped_sse(reader)
        } else {
            Trace::from_jsonl(reader)
        }
        .map_err(|e| format!("{}: {e}", path.display()))?;
        if trace.len() == 0 {
            return Err(format!("{}: no tokens with text", path.display()));
        }
        traces.push((Source::File(path.clone()), trace));
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;

    let mut taken = HashSet::new();
    let mut json = Vec::new();
    let mut stdout = std::io::stdout().lock();
    for (source, trace) in &traces {
        let started = Instant::now();
        let evaluation = Evaluation::run(trace, &candidates);
        let elapsed = started.elapsed();
        let recommendation = evaluation.recommend(&limits);
        let path = output::plot_path(&args.out, &output::plot_file_name(source, &mut taken));
        let svg = plot::svg(
            &source.title(),
            evaluation.reports(),
            limits.max_p99,
            recommendation.as_ref().map(|r| r.winner.name()),
        );
        std::fs::write(&path, svg).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        if args.json {
            json.push(JsonTrace {
                name: source.title(),
                tokens: trace.len(),
                duration_s: trace.duration().as_secs_f64(),
                policies: evaluation
                    .reports()
                    .iter()
                    .map(|r| JsonPolicy::new(r, &limits))
                    .collect(),
                recommendation: recommendation.as_ref().map(JsonRecommendation::from),
                plot: Some(path),
            });
            continue;
        }
        let mut text = format!(
            "\n{}: {} tokens over {:.1} s, {} policies replayed in {:.2} s\n",
            source.title(),
            trace.len(),
            trace.duration().as_secs_f64(),
            candidates.len(),
            elapsed.as_secs_f64(),
        );
        text.push_str(&evaluation.table(&limits));
        text.push_str(&limits.describe());
        text.push('\n');
        match &recommendation {
            Some(rec) => {
                let w = rec.winner;
                text.push_str(&format!(
                    "→ recommended: {}  (p50 {}, p99 {}, max {}, first token {}, {:.1} chunks/s)\n  in code: {}\n  {}\n",
                    w.name(),
                    human(w.delay_p50()),
                    human(w.delay_p99()),
                    human(w.delay_max()),
                    human(w.first_token_delay()),
                    w.chunks_per_second(),
                    w.rust(),
                    rec.why,
                ));
                if !rec.same_as_winner.is_empty() {
                    let names: Vec<&str> = rec.same_as_winner.iter().map(|r| r.name()).collect();
                    text.push_str(&format!("  same figures: {}\n", names.join(", ")));
                }
                match &rec.runner_up_costs {
                    Some(costs) => text.push_str(&format!("  {costs}\n")),
                    None => text.push_str("  runner-up: none; no other candidate is within the limits\n"),
                }
            }
            None => text.push_str("→ no candidate is within the limits: raise a target, or add candidates with --policy\n"),
        }
        text.push_str(&format!("  plot: {}\n", path.display()));
        stdout
            .write_all(text.as_bytes())
            .map_err(|e| format!("writing the report: {e}"))?;
    }
    if args.json {
        let run = JsonRun {
            limits: (&limits).into(),
            traces: json,
        };
        let text = serde_json::to_string_pretty(&run).map_err(|e| e.to_string())?;
        writeln!(stdout, "{text}").map_err(|e| format!("writing the report: {e}"))?;
    }
    Ok(())
}

fn record(args: &RecordArgs) -> Result<(), String> {
    let (url, api) = record::endpoint(&args.url, args.api).map_err(|e| chain(&e))?;
    let variable = args
        .api_key_env
        .clone()
        .unwrap_or_else(|| api.key_variable().to_owned());
    let api_key = std::env::var(&variable).ok().filter(|key| !key.is_empty());
    if api_key.is_none() && args.api_key_env.is_some() {
        return Err(format!("--api-key-env: ${variable} is not set"));
    }
    let extra_body = match &args.extra_body {
        None => serde_json::Map::new(),
        Some(text) => match serde_json::from_str(text) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => return Err(format!("--extra-body: not a JSON object: {text}")),
        },
    };
    let request = LiveRequest {
        url,
        api,
        model: args.model.clone(),
        prompt: args.prompt.clone(),
        api_key,
        max_tokens: args.max_tokens,
        extra_body,
        timeout: args.timeout,
    };
    let create = |path: &PathBuf| {
        std::fs::File::create(path)
            .map(std::io::BufWriter::new)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))
    };
    let mut trace = create(&args.output)?;
    let mut capture = args.capture.as_ref().map(create).transpose()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    let recorded = runtime
        .block_on(record::record(
            &request,
            &mut trace,
            capture.as_mut().map(|c| c as &mut dyn std::io::Write),
        ))
        .map_err(|e| chain(&e))?;
    if args.json {
        let document = serde_json::json!({
            "url": request.url.as_str(),
            "api": format!("{api:?}").to_ascii_lowercase(),
            "trace": args.output,
            "capture": args.capture,
            "recorded": recorded,
        });
        println!("{document:#}");
    } else {
        println!(
            "recorded {} tokens ({} bytes) from {} in {:.2} s, first text after {:.0} ms, ended by {}\n  trace: {}{}\nreplay it: tokenflush-tune --trace {}",
            recorded.tokens,
            recorded.bytes,
            request.url,
            recorded.duration_s,
            recorded.first_token_s * 1e3,
            recorded.ended_by,
            args.output.display(),
            args.capture
                .as_ref()
                .map(|path| format!("\n  capture: {}", path.display()))
                .unwrap_or_default(),
            args.output.display(),
        );
    }
    Ok(())
}

fn policies(json: bool) -> Result<(), String> {
    let grid = Candidate::grid();
    if json {
        let list: Vec<_> = grid
            .iter()
            .map(|c| serde_json::json!({"name": c.to_string(), "rust": c.rust()}))
            .collect();
        println!("{:#}", serde_json::Value::Array(list));
        return Ok(());
    }
    let width = grid.iter().map(|c| c.to_string().len()).max().unwrap_or(0);
    for candidate in &grid {
        println!("{:<width$}  {}", candidate.to_string(), candidate.rust());
    }
    println!("\n{}", candidate::GRAMMAR);
    Ok(())
}
