//! The end-to-end load benchmark: thousands of concurrent streaming clients over real
//! HTTP/1.1 connections on loopback, against a server that streams a simulated model's tokens
//! in several configurations, one after another in the same run: axum's own `Sse` with one
//! event per token (the anchor: what servers ship today), and tokenflush's `encode_sse`
//! response under `Immediate`, `TimeBounded::new(4, 50ms)` (plain and anticipating),
//! `Adaptive::new(50ms)` and `FixedBatch::new(25)`.
//!
//! ```text
//! cargo run --release -p example-servers --bin load -- --streams 1000,10000
//! ```
//!
//! The server is this program started again with `--serve`, in its own process, so that its
//! CPU time and write syscalls (read from Linux's /proc) are its own and not the clients'.
//! Each token's text is the time the model produced it; each client measures, for every token,
//! the delay from production to reading it, and the time to first token from sending its
//! request. The server's flush adapter reports how long each chunk held its oldest token.
//! For each configuration and number of streams it prints: time to first token p50/p99,
//! per-token delay p50/p99/max, server CPU time per delivered token (and relative to the
//! anchor), the server's write syscalls and the SSE events per token, tokens lost, and the
//! adapter's held-for p99. Then the server's resident memory per idle stream (streams open,
//! waiting for their first token), and the model's own CPU per token without HTTP.
//!
//! Flags: `--streams 1000,10000` (the numbers of concurrent streams), `--tokens 250` (per
//! stream), `--tokens-per-second 50` (per stream), `--jitter 0.5`, `--ramp-ms 2000` (streams
//! start staggered over this time),
//! `--routes axum,immediate,time_bounded,anticipating,adaptive,fixed_batch`, `--no-idle` (skip
//! the memory measurement).
//!
//! `--redis redis://127.0.0.1:6379/` adds the configuration `time_bounded_redis`:
//! `TimeBounded(4, 50ms)` through a resumable generation (`resume::Relay`) whose every chunk
//! is stored in that Redis before it is sent. For it the report adds a table: Redis write
//! commands per token (script calls: one per stored chunk, plus a create and a finish per
//! stream), reads by readers following through Redis (none here: readers on the producing
//! server never read the store), Redis's own CPU per token, and the p99 token delay and
//! server CPU per token next to `time_bounded`'s. The Redis is the caller's: use one nothing
//! else uses, since its counters are read before and after each phase.
//!
//! ```text
//! redis-server --port 6390 --save '' --appendonly no &
//! cargo run --release -p example-servers --bin load -- --streams 1000 \
//!     --routes time_bounded,time_bounded_redis --redis redis://127.0.0.1:6390/ --no-idle
//! ```
//!
//! Linux only (it reads /proc). Raises its file-descriptor limit to the hard limit; 10,000
//! streams need at least 10,100.

use std::net::SocketAddr;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

use example_servers::load::model::{Clock, Speed};
use example_servers::load::redis_stats::RedisSample;
use example_servers::load::report::{Percentiles, PhaseResult};
use example_servers::load::route::Route;
use example_servers::load::{client, process, report, server};
use tokenflush::resume::{RedisStore, Relay};

/// What to run.
#[derive(Clone, Debug)]
struct Options {
    streams: Vec<usize>,
    tokens: usize,
    speed: Speed,
    ramp: Duration,
    routes: Vec<Route>,
    idle: bool,
    /// The Redis of `time_bounded_redis`.
    redis: Option<String>,
}

fn usage() -> &'static str {
    "usage: load [--streams 1000,10000] [--tokens 250] [--tokens-per-second 50] [--jitter 0.5]\n\
     \x20           [--ramp-ms 2000] [--routes axum,immediate,time_bounded,anticipating,adaptive,fixed_batch]\n\
     \x20           [--no-idle]\n\
     \x20           [--redis redis://127.0.0.1:6379/]"
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        streams: vec![1000],
        tokens: 250,
        speed: Speed {
            tokens_per_second: 50.0,
            jitter: 0.5,
        },
        ramp: Duration::from_secs(2),
        routes: Route::ALL.to_vec(),
        idle: true,
        redis: None,
    };
    let mut routes_chosen = false;
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "--help" | "-h" => return Err(usage().to_owned()),
            "--no-idle" => {
                options.idle = false;
                continue;
            }
            _ => {}
        }
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{}", usage()))?;
        let bad = |what: &str| format!("{flag}: {value:?} is not {what}");
        match flag.as_str() {
            "--streams" => {
                options.streams = value
                    .split(',')
                    .map(|count| count.parse().ok().filter(|&count| count > 0))
                    .collect::<Option<_>>()
                    .ok_or_else(|| bad("a list of positive numbers"))?;
            }
            "--tokens" => {
                options.tokens = value
                    .parse()
                    .ok()
                    .filter(|&count| count > 0)
                    .ok_or_else(|| bad("a positive number"))?;
            }
            "--tokens-per-second" => {
                options.speed.tokens_per_second = value
                    .parse()
                    .ok()
                    .filter(|&rate: &f64| rate > 0.0 && rate <= 10_000.0)
                    .ok_or_else(|| bad("a rate in (0, 10000]"))?;
            }
            "--jitter" => {
                options.speed.jitter = value
                    .parse()
                    .ok()
                    .filter(|jitter: &f64| (0.0..=1.0).contains(jitter))
                    .ok_or_else(|| bad("a number from 0 to 1"))?;
            }
            "--ramp-ms" => {
                options.ramp = Duration::from_millis(value.parse().map_err(|_| bad("a number"))?);
            }
            "--routes" => {
                options.routes = value.split(',').map(str::parse).collect::<Result<_, _>>()?;
                routes_chosen = true;
            }
            "--redis" => {
                redis_address(value)?;
                options.redis = Some(value.clone());
            }
            _ => return Err(format!("unknown flag {flag}\n{}", usage())),
        }
    }
    if options.redis.is_some() && !routes_chosen {
        options.routes.push(Route::Resumable);
    }
    if options.redis.is_none() && options.routes.contains(&Route::Resumable) {
        return Err("time_bounded_redis needs --redis URL".to_owned());
    }
    Ok(options)
}

/// `host:port` of a `redis://host:port/` URL, for reading its counters.
fn redis_address(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("redis://")
        .ok_or_else(|| format!("--redis: {url:?} is not redis://host:port/"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    if host_port.is_empty() {
        return Err(format!("--redis: {url:?} is not redis://host:port/"));
    }
    Ok(if host_port.contains(':') {
        host_port.to_owned()
    } else {
        format!("{host_port}:6379")
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = if args.first().map(String::as_str) == Some("--serve") {
        runtime.block_on(serve_child(&args[1..]))
    } else {
        match parse_args(&args) {
            Ok(options) => runtime.block_on(run(options)),
            Err(message) => Err(message),
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("load: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The child: `--serve <epoch µs> <tokens per second> <jitter> [<redis url>]`.
async fn serve_child(args: &[String]) -> Result<(), String> {
    let (epoch_us, tokens_per_second, jitter, redis) = match args {
        [epoch_us, tokens_per_second, jitter] => (epoch_us, tokens_per_second, jitter, None),
        [epoch_us, tokens_per_second, jitter, redis] => {
            (epoch_us, tokens_per_second, jitter, Some(redis))
        }
        _ => {
            return Err(
                "--serve takes the epoch, the tokens per second, the jitter and a Redis URL".into(),
            )
        }
    };
    let relay = match redis {
        None => None,
        Some(url) => {
            let store = RedisStore::new(url)
                .map_err(|error| format!("--redis: {error}"))?
                .with_key_prefix("tokenflush-load");
            store
                .ping()
                .await
                .map_err(|error| format!("Redis does not answer: {error}"))?;
            Some(Relay::new(std::sync::Arc::new(store)))
        }
    };
    let number = |text: &String| {
        text.parse::<f64>()
            .map_err(|_| format!("bad number {text:?}"))
    };
    let clock = Clock::from_unix_micros(epoch_us.parse().map_err(|_| "bad epoch".to_owned())?);
    let speed = Speed {
        tokens_per_second: number(tokens_per_second)?,
        jitter: number(jitter)?,
    };
    let listener = server::bind().map_err(|error| format!("cannot listen: {error}"))?;
    let address = listener
        .local_addr()
        .map_err(|error| format!("cannot listen: {error}"))?;
    println!("listening {address}");
    // The parent closes our stdin to stop us.
    let parent_gone = async {
        let mut stdin = tokio::io::stdin();
        let _ = tokio::io::copy(&mut stdin, &mut tokio::io::sink()).await;
    };
    server::serve(listener, speed, clock, relay, parent_gone)
        .await
        .map_err(|error| format!("server: {error}"))
}

/// The server child process and its address.
struct Server {
    child: Child,
    pid: u32,
    address: SocketAddr,
}

async fn start_server(options: &Options, epoch_us: u64) -> Result<Server, String> {
    let program = std::env::current_exe().map_err(|error| format!("current_exe: {error}"))?;
    let mut child = Command::new(program)
        .arg("--serve")
        .arg(epoch_us.to_string())
        .arg(options.speed.tokens_per_second.to_string())
        .arg(options.speed.jitter.to_string())
        .args(options.redis.iter())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| format!("cannot start the server: {error}"))?;
    let pid = child.id().ok_or("the server exited at once")?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .await
        .map_err(|error| format!("server: {error}"))?;
    let address = line
        .trim()
        .strip_prefix("listening ")
        .and_then(|address| address.parse().ok())
        .ok_or_else(|| format!("the server said {line:?}, not its address"))?;
    Ok(Server {
        child,
        pid,
        address,
    })
}

/// Closes the server's stdin, which shuts it down, and waits for it (killing it after 5 s).
async fn stop_server(mut server: Server) {
    drop(server.child.stdin.take());
    if tokio::time::timeout(Duration::from_secs(5), server.child.wait())
        .await
        .is_err()
    {
        let _ = server.child.kill().await;
    }
}

/// Raises the soft limit on open files to the hard limit; fails if it cannot hold
/// `streams` connections.
fn raise_file_limit(streams: usize) -> Result<u64, String> {
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .map_err(|error| format!("cannot raise the open-file limit: {error}"))?;
    let needed = streams as u64 + 100;
    if limit < needed {
        return Err(format!(
            "{streams} streams need {needed} open files and the hard limit is {limit}: \
             raise it (ulimit -Hn) or run fewer streams"
        ));
    }
    Ok(limit)
}

async fn run(options: Options) -> Result<(), String> {
    let most = options.streams.iter().copied().max().unwrap_or(0);
    let file_limit = raise_file_limit(most)?;
    let (clock, epoch_us) = Clock::start();
    let server = start_server(&options, epoch_us).await?;
    eprintln!(
        "server pid {} on {}; open-file limit {file_limit}; model {} tokens/s per stream, \
         jitter {}, {} tokens per stream, streams start over {:?}",
        server.pid,
        server.address,
        options.speed.tokens_per_second,
        options.speed.jitter,
        options.tokens,
        options.ramp
    );
    // A short warm-up, so the first configuration does not pay for the server's start.
    run_phase(&server, &options, Route::Anchor, 50.min(most), clock).await?;
    let mut results = Vec::new();
    let mut model_alone = Vec::new();
    for &streams in &options.streams {
        for &route in &options.routes {
            let result = run_phase(&server, &options, route, streams, clock).await?;
            eprintln!(
                "  {streams} × {route}: {} of {} tokens in {:.1} s, server CPU {:.2} µs/token",
                result.tokens,
                result.expected_tokens,
                result.wall_ms as f64 / 1000.0,
                result.cpu_per_token_us()
            );
            results.push(result);
        }
        model_alone.push((streams, model_only(&server, &options, streams).await?));
    }
    println!("{}", report::table(&results, &model_alone));
    stop_server(server).await;
    if options.idle {
        println!("| idle streams | configuration | server resident memory per idle stream |");
        println!("|---:|---|---:|");
        for &route in &options.routes {
            // A fresh server each time: memory an earlier configuration freed would
            // otherwise be reused without showing in the resident size.
            let server = start_server(&options, epoch_us).await?;
            let per_stream = idle_memory(&server, route, most, options.ramp).await?;
            stop_server(server).await;
            println!("| {most} | {route} | {:.1} KiB |", per_stream / 1024.0);
        }
    }
    let failures: Vec<_> = results
        .iter()
        .filter(|result| result.lost() > 0 || result.failed_streams > 0)
        .collect();
    if let Some(first) = failures.first() {
        return Err(format!(
            "{} configuration(s) lost tokens; {} × {}: {} lost, {} streams failed, the first: {}",
            failures.len(),
            first.streams,
            first.route,
            first.lost(),
            first.failed_streams,
            first
                .first_failure
                .as_deref()
                .unwrap_or("no failure, tokens missing")
        ));
    }
    Ok(())
}

/// `streams` clients of `route`, started staggered over the ramp, each reading its stream to
/// the end.
async fn run_phase(
    server: &Server,
    options: &Options,
    route: Route,
    streams: usize,
    clock: Clock,
) -> Result<PhaseResult, String> {
    client::get(server.address, "/held").await?;
    let redis = match (&options.redis, route) {
        (Some(url), Route::Resumable) => Some(redis_address(url)?),
        _ => None,
    };
    let redis_before = match &redis {
        Some(address) => Some(RedisSample::read(address).await?),
        None => None,
    };
    let before = process::Sample::read(server.pid).map_err(|error| error.to_string())?;
    let began = Instant::now();
    let start = began + Duration::from_millis(20);
    let clients: Vec<_> = (0..streams)
        .map(|index| {
            let offset = options.ramp.mul_f64(index as f64 / streams as f64);
            let path = format!(
                "/stream/{}?tokens={}&seed={index}",
                route.name(),
                options.tokens
            );
            let address = server.address;
            tokio::spawn(async move {
                tokio::time::sleep_until(start + offset).await;
                client::run_stream(address, &path, clock).await
            })
        })
        .collect();
    let mut delays = Vec::with_capacity(streams * options.tokens);
    let mut ttfts = Vec::with_capacity(streams);
    let mut events = 0;
    let mut failed_streams = 0;
    let mut first_failure = None;
    for client in clients {
        let outcome = client
            .await
            .map_err(|error| format!("a client task failed: {error}"))?;
        events += outcome.events;
        delays.extend_from_slice(&outcome.delays_us);
        ttfts.extend(outcome.ttft_us);
        if let Some(failure) = outcome.failure {
            failed_streams += 1;
            first_failure.get_or_insert(failure);
        }
    }
    let wall = began.elapsed();
    let after = process::Sample::read(server.pid).map_err(|error| error.to_string())?;
    let redis = match (&redis, redis_before) {
        (Some(address), Some(before)) => {
            // The generations finish in their own tasks, right after the last chunk: let
            // their last commands land.
            tokio::time::sleep(Duration::from_millis(500)).await;
            let after = RedisSample::read(address).await?;
            Some(before.cost_until(&after, streams as u64))
        }
        _ => None,
    };
    let held = client::get(server.address, "/held").await?;
    let (held_us, timer_fires) = match route {
        Route::Anchor => (None, 0),
        _ => {
            let (held, fires) = parse_held(&held)?;
            (Some(held), fires)
        }
    };
    Ok(PhaseResult {
        route,
        streams,
        expected_tokens: (streams * options.tokens) as u64,
        tokens: delays.len() as u64,
        events,
        failed_streams,
        first_failure,
        ttft_us: Percentiles::of(&mut ttfts),
        delay_us: Percentiles::of(&mut delays),
        server_cpu_us: after.cpu_us - before.cpu_us,
        server_writes: after.writes - before.writes,
        held_us,
        timer_fires,
        wall_ms: wall.as_millis() as u64,
        redis,
    })
}

/// `count p50 p99 max fires` from the server's `/held`.
fn parse_held(text: &str) -> Result<(Percentiles, u64), String> {
    let numbers: Vec<u64> = text
        .split_ascii_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()
        .map_err(|_| format!("/held said {text:?}"))?;
    let micros = |value: u64| u32::try_from(value).unwrap_or(u32::MAX);
    match numbers[..] {
        [_, p50, p99, max, fires] => Ok((
            Percentiles {
                p50: micros(p50),
                p99: micros(p99),
                max: micros(max),
            },
            fires,
        )),
        _ => Err(format!("/held said {text:?}")),
    }
}

/// The model alone for `streams` streams, inside the server, without HTTP: its CPU time per
/// token, the part of every configuration's figure that is not serving.
async fn model_only(server: &Server, options: &Options, streams: usize) -> Result<f64, String> {
    let before = process::Sample::read(server.pid).map_err(|error| error.to_string())?;
    let path = format!(
        "/model_only?streams={streams}&tokens={}&ramp_ms={}",
        options.tokens,
        options.ramp.as_millis()
    );
    let tokens: u64 = client::get(server.address, &path)
        .await?
        .parse()
        .map_err(|_| "/model_only did not answer a count".to_owned())?;
    let after = process::Sample::read(server.pid).map_err(|error| error.to_string())?;
    Ok((after.cpu_us - before.cpu_us) as f64 / tokens.max(1) as f64)
}

/// The server's resident memory per stream with `streams` streams of `route` open and
/// waiting for their first token (opened staggered over `ramp`), in bytes.
async fn idle_memory(
    server: &Server,
    route: Route,
    streams: usize,
    ramp: Duration,
) -> Result<f64, String> {
    // Let the fresh server finish starting.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = process::resident_bytes(server.pid).map_err(|error| error.to_string())?;
    let path = format!(
        "/stream/{}?tokens=1&seed=0&first_delay_ms=3600000",
        route.name()
    );
    let start = Instant::now();
    let opening: Vec<_> = (0..streams)
        .map(|index| {
            let offset = ramp.mul_f64(index as f64 / streams as f64);
            let (path, address) = (path.clone(), server.address);
            tokio::spawn(async move {
                tokio::time::sleep_until(start + offset).await;
                client::open_idle(address, &path).await
            })
        })
        .collect();
    let mut open = Vec::with_capacity(streams);
    for stream in opening {
        open.push(
            stream
                .await
                .map_err(|error| format!("a client task failed: {error}"))??,
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = process::resident_bytes(server.pid).map_err(|error| error.to_string())?;
    drop(open);
    Ok(after.saturating_sub(before) as f64 / streams as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use example_servers::load::model;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut values: Vec<u32> = (1..=200).rev().collect();
        let stats = Percentiles::of(&mut values);
        assert_eq!(
            stats,
            Percentiles {
                p50: 100,
                p99: 198,
                max: 200
            }
        );
        assert_eq!(Percentiles::of(&mut [7]).p99, 7);
        assert_eq!(Percentiles::of(&mut []), Percentiles::default());
    }

    #[test]
    fn flags_parse_and_bad_ones_say_why() {
        let args = |text: &str| text.split(' ').map(str::to_owned).collect::<Vec<_>>();
        let options = parse_args(&args(
            "--streams 10,20 --tokens 5 --routes axum,time_bounded --no-idle",
        ))
        .unwrap();
        assert_eq!(options.streams, [10, 20]);
        assert_eq!(options.tokens, 5);
        assert_eq!(options.routes, [Route::Anchor, Route::TimeBounded]);
        assert!(!options.idle);
        assert!(parse_args(&args("--streams 0"))
            .unwrap_err()
            .contains("positive"));
        assert!(parse_args(&args("--jitter 2"))
            .unwrap_err()
            .contains("0 to 1"));
        assert!(parse_args(&args("--routes batch"))
            .unwrap_err()
            .contains("unknown configuration"));
        assert!(parse_args(&args("--tokens"))
            .unwrap_err()
            .contains("needs a value"));
        for route in Route::KNOWN {
            assert_eq!(route.name().parse::<Route>(), Ok(route));
        }
        assert!(parse_args(&args("--routes time_bounded_redis"))
            .unwrap_err()
            .contains("needs --redis"));
        let options = parse_args(&args("--redis redis://127.0.0.1:6390/")).unwrap();
        assert_eq!(options.routes.last(), Some(&Route::Resumable));
        assert_eq!(
            redis_address("redis://user:secret@example.test/0").unwrap(),
            "example.test:6379"
        );
        assert!(parse_args(&args("--redis http://x/")).is_err());
    }

    #[test]
    fn process_figures_count_this_process() {
        use std::io::Write as _;
        let before = process::Sample::read(std::process::id()).unwrap();
        let mut sink = std::fs::File::create("/dev/null").unwrap();
        for _ in 0..10 {
            sink.write_all(b"x").unwrap();
        }
        let after = process::Sample::read(std::process::id()).unwrap();
        assert!(after.writes >= before.writes + 10);
        assert!(after.cpu_us >= before.cpu_us);
        assert!(process::resident_bytes(std::process::id()).unwrap() > 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_model_keeps_its_speed_and_stamps_when_tokens_were_due() {
        use futures::StreamExt;
        let (clock, _) = Clock::start();
        let speed = Speed {
            tokens_per_second: 50.0,
            jitter: 0.5,
        };
        let first_delay = Duration::from_millis(100);
        let started = clock.now_us();
        let stamps: Vec<u64> = model::tokens(speed, 3, 40, first_delay, clock)
            .map(|token| {
                assert!(token.ends_with(' '));
                token.trim_end().parse::<u64>().unwrap()
            })
            .collect()
            .await;
        assert_eq!(stamps.len(), 40);
        // The first after the delay plus one gap; every gap 20 ms ± 50 % (the stamps are the
        // due times, which the paused clock does not move).
        let first = stamps[0] - started;
        assert!((110_000..=130_000).contains(&first), "first at {first} µs");
        for pair in stamps.windows(2) {
            let gap = pair[1] - pair[0];
            assert!((10_000..=30_000).contains(&gap), "gap of {gap} µs");
        }
        // Same seed, same gaps.
        let again: Vec<String> = model::tokens(speed, 3, 40, first_delay, clock)
            .collect()
            .await;
        let gaps = |stamps: &[u64]| stamps.windows(2).map(|p| p[1] - p[0]).collect::<Vec<_>>();
        let again: Vec<u64> = again
            .iter()
            .map(|t| t.trim_end().parse().unwrap())
            .collect();
        assert_eq!(gaps(&stamps), gaps(&again));
    }

    /// The whole path on a real loopback connection, a few streams per configuration: every
    /// token arrives, and the events per token show each configuration's framing.
    #[tokio::test]
    async fn every_configuration_delivers_every_token() {
        let listener = server::bind().unwrap();
        let address = listener.local_addr().unwrap();
        let (clock, _) = Clock::start();
        let speed = Speed {
            tokens_per_second: 1000.0,
            jitter: 0.5,
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(server::serve(listener, speed, clock, None, async {
            let _ = stopped.await;
        }));
        for route in Route::ALL {
            client::get(address, "/held").await.unwrap();
            let path = format!("/stream/{}?tokens=30&seed=1", route.name());
            for _ in 0..4 {
                let outcome = client::run_stream(address, &path, clock).await;
                assert_eq!(outcome.failure, None, "{route}");
                assert_eq!(outcome.delays_us.len(), 30, "{route}: every token arrives");
                assert!(outcome.ttft_us.is_some());
                let events = outcome.events;
                match route {
                    Route::Anchor | Route::Immediate => assert_eq!(events, 30, "{route}"),
                    Route::FixedBatch => assert_eq!(events, 2, "{route}: 25 + 5"),
                    Route::TimeBounded | Route::Anticipating | Route::Resumable => {
                        assert!((8..30).contains(&events), "{route}: {events}")
                    }
                    // Fast test tokens: chunks grow up to what 25 ms bring.
                    Route::Adaptive => assert!((1..30).contains(&events), "{route}: {events}"),
                }
            }
            let (held, _) = parse_held(&client::get(address, "/held").await.unwrap()).unwrap();
            if route == Route::FixedBatch {
                assert!(held.max > 0, "the adapter reports how long chunks waited");
            }
        }
        let missing = client::run_stream(address, "/stream/nagle?tokens=1&seed=0", clock).await;
        assert_eq!(missing.failure.as_deref(), Some("status 404 Not Found"));
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }
}
