//! A relay in front of any OpenAI-compatible server, through async-openai: clients get the
//! same answer re-chunked by `TimeBounded::new(4, 100ms)`, with its finish reason, tool calls
//! and usage.
//!
//! ```text
//! cargo run -p example-servers --bin chat-server -- --policy immediate &
//! cargo run -p example-openai-client -- --upstream http://127.0.0.1:3000/v1
//! # OpenAI clients now use base_url http://127.0.0.1:3002/v1
//! ```
//!
//! Flags: `--addr 127.0.0.1:3002`, `--upstream https://api.openai.com/v1` (the default). The
//! key is `OPENAI_API_KEY`'s.

use std::net::SocketAddr;
use std::process::ExitCode;

use example_servers::serve::{serve, Limits};

#[tokio::main]
async fn main() -> ExitCode {
    let mut address: SocketAddr = "127.0.0.1:3002".parse().expect("a valid address");
    let mut upstream = "https://api.openai.com/v1".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next();
        match (flag.as_str(), value) {
            ("--addr", Some(value)) => match value.parse() {
                Ok(parsed) => address = parsed,
                Err(_) => {
                    eprintln!("--addr: {value:?} is not an address");
                    return ExitCode::FAILURE;
                }
            },
            ("--upstream", Some(value)) => upstream = value,
            _ => {
                eprintln!("usage: example-openai-client [--addr 127.0.0.1:3002] [--upstream URL]");
                return ExitCode::FAILURE;
            }
        }
    }
    let key = std::env::var("OPENAI_API_KEY").unwrap_or_default();
    let app = example_openai_client::app(example_openai_client::client(&upstream, &key));
    let listener = match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {address}: {error}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("relay on http://{address}/v1 for {upstream}");
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    if let Err(error) = serve(listener, app, Limits::default(), shutdown).await {
        eprintln!("server error: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
