//! A re-chunking proxy for OpenAI-compatible servers: forwards `POST /v1/chat/completions` to
//! an upstream (a vLLM-style server, or by default the `chat_server` example), turns its event
//! stream into typed items, merges the text with a flush policy and renders the items again.
//! Role, reasoning, tool calls, finish reasons and usage pass through in order, never merged
//! with text (the text before them goes out first). It also answers `POST /v1/responses` and
//! `POST /v1/messages` (OpenAI's Responses API, Anthropic's messages API) from the same
//! upstream, translating the request into a chat completion and the stream into the client's
//! format.
//!
//! Use it in front of a server whose stream is too chatty (one event per token), whose
//! clients should see a steady pace, or that does not speak the API a client needs.
//!
//! ```text
//! cargo run -p example-servers --bin chat-server -- --policy immediate &
//! cargo run -p example-servers --bin proxy
//! # OpenAI clients now use base_url http://127.0.0.1:3001/v1, Anthropic's http://127.0.0.1:3001
//! ```
//!
//! Flags: `--addr 127.0.0.1:3001`, `--upstream http://127.0.0.1:3000/v1` (plain HTTP),
//! `--policy time_bounded:4:100` (or `immediate`, `fixed_batch:N`), and the upstream's bounds
//! in milliseconds: `--connect-timeout-ms 10000`, `--header-timeout-ms 120000` (its response
//! headers), `--idle-timeout-ms 600000` (the longest silence of its stream: long, for reasoning
//! models that think for minutes), `--keep-alive-ms 15000` (a comment to the client after this
//! much silence). A request may choose its own policy with a `"tokenflush"` field, as the chat
//! server reads it; the proxy removes the field before forwarding. Whole (non-streaming) chat
//! completions and upstream errors pass through unchanged; the `Authorization` header (or
//! Anthropic's `x-api-key`, as a bearer token) is forwarded.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use example_servers::policy::PolicyConfig;
use example_servers::proxy::{self as app, Config};
use example_servers::serve::{serve, Limits};

fn usage() -> &'static str {
    "usage: proxy [--addr 127.0.0.1:3001] [--upstream http://127.0.0.1:3000/v1]\n\
     \x20            [--policy immediate|fixed_batch:N|time_bounded:N:MS]\n\
     \x20            [--connect-timeout-ms 10000] [--header-timeout-ms 120000]\n\
     \x20            [--idle-timeout-ms 600000] [--keep-alive-ms 15000]"
}

fn parse_args() -> Result<(SocketAddr, Config), String> {
    let mut address: SocketAddr = "127.0.0.1:3001".parse().expect("a valid address");
    let mut config = Config::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--help" || flag == "-h" {
            return Err(usage().to_owned());
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
        let millis = || {
            value
                .parse::<u64>()
                .map(Duration::from_millis)
                .map_err(|_| format!("{flag}: {value:?} is not a number of milliseconds"))
        };
        let timeouts = &mut config.timeouts;
        match flag.as_str() {
            "--addr" => {
                address = value
                    .parse()
                    .map_err(|_| format!("--addr: {value:?} is not an address"))?
            }
            "--upstream" => config.upstream = value,
            "--policy" => config.policy = PolicyConfig::parse(&value)?,
            "--connect-timeout-ms" => timeouts.connect = millis()?,
            "--header-timeout-ms" => timeouts.response_headers = millis()?,
            "--idle-timeout-ms" => timeouts.idle = millis()?,
            "--keep-alive-ms" => timeouts.keep_alive = millis()?,
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
        "proxy on http://{address}/v1 for {}, re-chunking with {}, upstream bounds {:?}",
        config.upstream, config.policy, config.timeouts
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
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(error) = serve(listener, router, Limits::default(), shutdown).await {
        eprintln!("server error: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
