//! A chat server on a simulated model: OpenAI-compatible `POST /v1/chat/completions` and
//! `POST /v1/responses` and an Anthropic-compatible `POST /v1/messages` (streaming and not)
//! whose flush policy each request chooses, and a page at `/` that streams the same answer
//! under three policies side by side, so the lag and its fix can be seen.
//!
//! ```text
//! cargo run -p example-servers --bin chat-server
//! # then open http://127.0.0.1:3000/ (add ?tps=3 for a slower model, ?tps=40 for a fast one)
//!
//! curl -N http://127.0.0.1:3000/v1/chat/completions -H 'content-type: application/json' \
//!   -d '{"model": "sim", "stream": true, "messages": [{"role": "user", "content": "Why?"}],
//!        "tokenflush": {"policy": "time_bounded", "max_tokens": 4, "max_latency_ms": 100}}'
//! ```
//!
//! Flags: `--addr 127.0.0.1:3000`, `--policy time_bounded:4:100` (or `immediate`,
//! `fixed_batch:25`: the policy of requests that do not choose), `--tokens-per-second 8`,
//! `--jitter 0.6` (0 to 1), `--first-token-ms 300`.
//!
//! Resumable streams (requests with `"resume": true`; `GET /v1/resume` with `Last-Event-ID`):
//! `--redis redis://127.0.0.1:6379/` keeps them in Redis, shared by every server started with
//! the same Redis and the same `--resume-key <64 hex digits>` (the key of the owner tags;
//! random without it, so only this process can resume its streams); without `--redis`, in
//! this process's memory. A server whose Redis does not answer at start-up exits, unless
//! `--redis-optional`: then requests stream without resume while Redis is away.
//! `--resume-lease-ms 10000` (a crashed server's streams are reported lost this long after
//! their last write, plus Redis's poll interval of 1 s), `--resume-grace-ms 30000` (how long a
//! generation goes on with no reader on this server).
//!
//! Request extensions, both optional:
//!
//! - `"tokenflush": {"policy": "immediate"}`, `{"policy": "fixed_batch", "max_tokens": 25}` or
//!   `{"policy": "time_bounded", "max_tokens": 4, "max_latency_ms": 100}`: the flush policy;
//! - `"simulation": {"tokens_per_second": 8, "jitter": 0.6, "first_token_ms": 300, "seed": 1,
//!   "fail_after": 10}`: the model's speed, and a failure mid-answer to see how errors arrive.
//!
//! With OpenAI's Python SDK, pass them as `extra_body={"tokenflush": {...}}`. The answer is
//! deterministic: the question echoed (its first 200 characters), then a fixed text with
//! accents, CJK and emoji, cut into byte pieces as byte-fallback tokenizers cut it. The APIs'
//! own fields ask for more: reasoning first (`reasoning_effort`, `reasoning: {"effort"}`,
//! `thinking: {"type": "enabled"}`), a call of the first of the request's `tools`, and usage in
//! a chat completion stream (`stream_options: {"include_usage": true}`). `max_tokens` cuts the
//! answer short with `finish_reason: "length"`. Close a stream early and the server logs that
//! the model stopped.
//!
//! It serves with a 10 s deadline for request headers and a 30 s deadline (and 2 MiB limit)
//! for request bodies, so clients that drip their requests cannot hold connections
//! (`example_servers::serve`).

use std::net::SocketAddr;
use std::process::ExitCode;

use std::sync::Arc;
use std::time::Duration;

use example_servers::chat_server::resume::{self, Resume};
use example_servers::chat_server::{self as app, Config};
use example_servers::policy::PolicyConfig;
use example_servers::serve::{serve, Limits};
use tokenflush::resume::{MemoryStore, RedisStore, Relay, ResumeStore, StreamOptions};

fn usage() -> &'static str {
    "usage: chat_server [--addr 127.0.0.1:3000] [--policy immediate|fixed_batch:N|time_bounded:N:MS]\n\
     \x20                  [--tokens-per-second 8] [--jitter 0.6] [--first-token-ms 300]\n\
     \x20                  [--redis URL] [--redis-optional] [--resume-key HEX64]\n\
     \x20                  [--resume-lease-ms 10000] [--resume-grace-ms 30000]"
}

/// How the server keeps resumable streams.
struct ResumeArgs {
    redis: Option<String>,
    optional: bool,
    key: Option<[u8; 32]>,
    lease: Duration,
    grace: Duration,
}

fn parse_args() -> Result<(SocketAddr, Config, ResumeArgs), String> {
    let mut address: SocketAddr = "127.0.0.1:3000".parse().expect("a valid address");
    let mut config = Config::default();
    let mut resume = ResumeArgs {
        redis: None,
        optional: false,
        key: None,
        lease: Duration::from_secs(10),
        grace: Duration::from_secs(30),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(usage().to_owned());
        }
        if flag == "--redis-optional" {
            resume.optional = true;
            continue;
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
        let bad = |what: &str| format!("{flag}: {value:?} is not {what}");
        match flag.as_str() {
            "--addr" => address = value.parse().map_err(|_| bad("an address"))?,
            "--policy" => config.policy = PolicyConfig::parse(&value)?,
            "--tokens-per-second" => {
                config.simulation.tokens_per_second = value.parse().map_err(|_| bad("a number"))?
            }
            "--jitter" => config.simulation.jitter = value.parse().map_err(|_| bad("a number"))?,
            "--first-token-ms" => {
                config.simulation.first_token_ms = value.parse().map_err(|_| bad("a number"))?
            }
            "--redis" => resume.redis = Some(value),
            "--resume-key" => resume.key = Some(resume::parse_key(&value)?),
            "--resume-lease-ms" => {
                let ms: u64 = value.parse().map_err(|_| bad("a number"))?;
                resume.lease = Duration::from_millis(ms.max(1));
            }
            "--resume-grace-ms" => {
                resume.grace = Duration::from_millis(value.parse().map_err(|_| bad("a number"))?)
            }
            _ => return Err(format!("unknown flag {flag}\n{}", usage())),
        }
    }
    config.simulation.validate()?;
    Ok((address, config, resume))
}

/// The resumable streams' store and relay; fails when Redis does not answer, unless it is
/// optional.
async fn resume_of(args: ResumeArgs) -> Result<Resume, String> {
    let store: Arc<dyn ResumeStore> = match &args.redis {
        None => Arc::new(MemoryStore::new()),
        Some(url) => {
            let store = RedisStore::new(url)
                .map_err(|error| format!("--redis: not a Redis URL: {error}"))?
                .with_key_prefix("tokenflush-chat");
            // Not the URL in messages: it may hold a password.
            match store.ping().await {
                Ok(()) => eprintln!("resumable streams in Redis"),
                Err(error) if args.optional => eprintln!(
                    "Redis does not answer ({error}): streaming without resume until it does"
                ),
                Err(error) => {
                    return Err(format!(
                        "Redis does not answer ({error}); start it, or pass --redis-optional \
                         to stream without resume while it is away"
                    ))
                }
            }
            Arc::new(store)
        }
    };
    let relay = Relay::new(store)
        .with_stream_options(StreamOptions::new().with_lease(args.lease))
        .with_grace(args.grace)
        .with_optional_store(args.optional);
    Ok(Resume::new(
        relay,
        args.key.unwrap_or_else(resume::random_key),
    ))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (address, mut config, resume) = match parse_args() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    config.resume = match resume_of(resume).await {
        Ok(resume) => resume,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {address}: {error}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!(
        "chat server on http://{address}/ (the demo page) and http://{address}/v1 (OpenAI and Anthropic APIs); \
         default policy {}, model at {} tokens/s",
        config.policy, config.simulation.tokens_per_second
    );
    let (router, generations) = app::app(config);
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(error) = serve(listener, router, Limits::default(), shutdown).await {
        eprintln!("server error: {error}");
        return ExitCode::FAILURE;
    }
    eprintln!(
        "generations: {} ran to the end, {} stopped when their reader went away, {} running",
        generations.completed(),
        generations.abandoned(),
        generations.running()
    );
    ExitCode::SUCCESS
}
