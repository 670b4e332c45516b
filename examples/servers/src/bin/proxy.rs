//! A re-chunking proxy for OpenAI-compatible servers: forwards `POST /v1/chat/completions` to
//! an upstream (a vLLM-style server, or by default the `chat_server` example), parses its
//! event stream with `tokenflush::sse::Parser`, merges the content deltas with a flush policy
//! and sends valid OpenAI chunks and `[DONE]` on. Role, tool calls, finish reasons, usage and
//! errors pass through in order, never merged with text (the text before them goes out first).
//!
//! Use it in front of a server whose stream is too chatty (one event per token) or whose
//! clients should see a steady pace.
//!
//! ```text
//! cargo run -p example-servers --bin chat-server -- --policy immediate &
//! cargo run -p example-servers --bin proxy
//! # OpenAI clients now use base_url http://127.0.0.1:3001/v1
//! ```
//!
//! Flags: `--addr 127.0.0.1:3001`, `--upstream http://127.0.0.1:3000/v1` (plain HTTP),
//! `--policy time_bounded:4:100` (or `immediate`, `fixed_batch:N`). A request may choose its
//! own policy with a `"tokenflush"` field, as the chat server reads it; the proxy removes the
//! field before forwarding. Whole (non-streaming) answers and upstream errors pass through
//! unchanged; the `Authorization` header is forwarded.

use std::net::SocketAddr;
use std::process::ExitCode;

use example_servers::policy::PolicyConfig;
use example_servers::proxy::{self as app, Config};

fn usage() -> &'static str {
    "usage: proxy [--addr 127.0.0.1:3001] [--upstream http://127.0.0.1:3000/v1]\n\
     \x20            [--policy immediate|fixed_batch:N|time_bounded:N:MS]"
}

fn parse_args() -> Result<(SocketAddr, Config), String> {
    let mut address: SocketAddr = "127.0.0.1:3001".parse().expect("a valid address");
    let mut config = Config {
        upstream: "http://127.0.0.1:3000/v1".to_owned(),
        policy: PolicyConfig::default(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(usage().to_owned());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
        match flag.as_str() {
            "--addr" => {
                address = value
                    .parse()
                    .map_err(|_| format!("--addr: {value:?} is not an address"))?
            }
            "--upstream" => config.upstream = value,
            "--policy" => config.policy = PolicyConfig::parse(&value)?,
            _ => return Err(format!("unknown flag {flag}\n{}", usage())),
        }
    }
    Ok((address, config))
}

#[tokio::main]
async fn main() -> ExitCode {
    let (address, config) = match parse_args() {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let description = format!(
        "proxy on http://{address}/v1 for {}, re-chunking with {}",
        config.upstream, config.policy
    );
    let router = match app::app(config) {
        Ok(router) => router,
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
    eprintln!("{description}");
    if let Err(error) = axum::serve(listener, router).await {
        eprintln!("server error: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
