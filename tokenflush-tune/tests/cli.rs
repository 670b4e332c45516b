//! The command line end to end: the binary on a recorded trace, recording from the chat server
//! example over real HTTP (OpenAI's and Anthropic's formats), and its plot rendered by headless
//! Chromium.
//!
//! The Chromium test needs Chromium (`.ci/run` installs it; `CHROMIUM` overrides where it is
//! found). Where it is missing the test is skipped with a loud message, unless
//! `TOKENFLUSH_EXTERNAL_TESTS=require` (as in CI), which makes it fail.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use example_servers::chat_server::{self, model, Config};
use futures::StreamExt;
use serde_json::Value;
use tokenflush::trace::TraceExt;

fn tool(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tokenflush-tune"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the tool runs")
}

fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A scratch directory under the target directory, empty.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn help_and_usage_errors() {
    let dir = scratch("cli-help");
    let help = stdout(&tool(&["--help"], &dir));
    for needle in [
        "record",
        "--max-p99",
        "--max-first-token",
        "--margin",
        "time-bounded:N:D",
    ] {
        assert!(help.contains(needle), "--help mentions {needle}:\n{help}");
    }
    let help = stdout(&tool(&["record", "--help"], &dir));
    assert!(
        help.contains("--url") && help.contains("--capture"),
        "{help}"
    );
    let bad = tool(&["--policy", "time-bounded:4"], &dir);
    assert_eq!(bad.status.code(), Some(2));
    let message = String::from_utf8_lossy(&bad.stderr);
    assert!(
        message.contains("needs a token count and a latency"),
        "{message}"
    );
    let missing = tool(&["--trace", "no-such-file.jsonl"], &dir);
    assert_eq!(missing.status.code(), Some(1));
}

#[tokio::test(start_paused = true)]
async fn evaluates_a_trace_recorded_with_record_trace() {
    let dir = scratch("cli-trace");
    // A model at 25 ms a token, recorded the way a server records its own.
    let mut file = Vec::new();
    let tokens = futures::stream::iter(0..400).then(|i| async move {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if i % 7 == 6 {
            ".".to_owned()
        } else {
            format!(" w{i}")
        }
    });
    let _: Vec<String> = tokens.record_trace(&mut file).collect().await;
    let trace = dir.join("in").join("live.jsonl");
    std::fs::create_dir_all(trace.parent().unwrap()).unwrap();
    std::fs::write(&trace, &file).unwrap();
    let trace = trace.to_str().unwrap();

    let text = stdout(&tool(
        &[
            "--trace",
            trace,
            "--max-p99",
            "60ms",
            "--policy",
            "time-bounded:3:40ms",
        ],
        &dir,
    ));
    assert!(text.contains(&format!("{trace}: 400 tokens")), "{text}");
    assert!(text.contains("→ recommended: "), "{text}");
    assert!(text.contains("in code: "), "{text}");
    assert!(text.contains("why: "), "{text}");
    assert!(text.contains("runner-up: "), "{text}");
    assert!(
        text.contains("limits: p99 < 55 ms, max < 115 ms, first token < 55 ms"),
        "{text}"
    );
    assert!(text.contains("  plot: tune-live.svg"), "{text}");
    assert!(
        text.contains("time-bounded:3:40ms "),
        "the given policy is replayed: {text}"
    );
    assert!(dir.join("tune-live.svg").is_file());

    let out = dir.join("plots");
    let json = stdout(&tool(
        &[
            "--trace",
            trace,
            "--json",
            "--out",
            out.to_str().unwrap(),
            "--policy",
            "rules:tokens=4,sentence,100ms",
            "--no-grid",
            "--policy",
            "immediate",
        ],
        &dir,
    ));
    let run: Value = serde_json::from_str(&json).unwrap();
    let traced = &run["traces"][0];
    assert_eq!(traced["tokens"], 400);
    let names: Vec<&str> = traced["policies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["rules:tokens=4,sentence,100ms", "immediate"]);
    // Sentences end every 7 tokens (175 ms): the rules flush at 4 tokens or a sentence.
    let rules = &traced["policies"][0];
    assert!(rules["tokens_per_chunk"].as_f64().unwrap() > 2.0, "{rules}");
    assert_eq!(run["limits"]["margin_ms"], 5.0);
    assert_eq!(
        traced["recommendation"]["policy"],
        "rules:tokens=4,sentence,100ms"
    );
    assert_eq!(
        traced["recommendation"]["runner_up"], "immediate",
        "{traced}"
    );
    let plot = PathBuf::from(traced["plot"].as_str().unwrap());
    assert_eq!(plot, out.join("tune-live.svg"));
    assert!(plot.is_file());
}

/// The chat server example on a loopback port, fast enough for a test.
async fn chat_server() -> SocketAddr {
    let mut config = Config::default();
    config.simulation.tokens_per_second = 200.0;
    config.simulation.first_token_ms = 20;
    let (router, _) = chat_server::app(config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

fn texts(trace: &Path) -> (String, Vec<f64>) {
    let mut text = String::new();
    let mut times = Vec::new();
    for line in std::fs::read_to_string(trace).unwrap().lines() {
        let token: Value = serde_json::from_str(line).unwrap();
        text.push_str(token["text"].as_str().unwrap());
        times.push(token["t"].as_f64().unwrap());
    }
    (text, times)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_the_chat_server_in_both_formats_and_replays_the_recording() {
    let address = chat_server().await;
    let dir = scratch("cli-record");
    let prompt = "Why do tokens arrive in bursts?";
    // The server's own policy would batch what it sends: ask it for a write per token, so that
    // the trace shows the model's timing.
    let extra = r#"{"tokenflush": {"policy": "immediate"}}"#;
    for (url, name) in [
        (format!("http://{address}/v1"), "openai"),
        (format!("http://{address}/v1/messages"), "anthropic"),
    ] {
        let trace = dir.join(format!("{name}.jsonl"));
        let capture = dir.join(format!("{name}.sse"));
        let args: Vec<String> = [
            "record",
            &url,
            "--model",
            "sim",
            "--prompt",
            prompt,
            "--extra-body",
            extra,
            "--output",
            trace.to_str().unwrap(),
            "--capture",
            capture.to_str().unwrap(),
            "--timeout",
            "20s",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let scratch_dir = dir.clone();
        let output = tokio::task::spawn_blocking(move || {
            let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
            args.insert(1, "--url");
            tool(&args, &scratch_dir)
        })
        .await
        .unwrap();
        let text = stdout(&output);
        assert!(text.contains("recorded "), "{text}");
        let ended_by = if name == "openai" {
            "[DONE]"
        } else {
            "message_stop"
        };
        assert!(text.contains(&format!("ended by {ended_by}")), "{text}");

        // Every text delta, in order, with times that grow across the answer.
        let (answer, times) = texts(&trace);
        assert_eq!(answer, model::answer(prompt), "{name}");
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{name}: {times:?}");
        let span = times.last().unwrap() - times.first().unwrap();
        assert!(span > 0.1, "{name}: tokens spread over {span} s");

        // The capture holds the raw events, each line after a time; both replay.
        let captured = std::fs::read_to_string(&capture).unwrap();
        assert!(captured.lines().all(|line| line
            .split_once(' ')
            .is_some_and(|(t, _)| t.parse::<f64>().is_ok())));
        assert!(captured.contains("data: "), "{name}");
        let replayed = tool(
            &[
                "--trace",
                trace.to_str().unwrap(),
                "--sse",
                capture.to_str().unwrap(),
                "--json",
            ],
            &dir,
        );
        let run: Value = serde_json::from_str(&stdout(&replayed)).unwrap();
        let tokens: Vec<u64> = run["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["tokens"].as_u64().unwrap())
            .collect();
        assert_eq!(tokens.len(), 2);
        assert_eq!(
            tokens[0], tokens[1],
            "{name}: the same deltas from either file"
        );
        assert!(run["traces"][0]["recommendation"]["policy"].is_string());
    }

    // An error status is reported with the server's message.
    let bad = tool(
        &[
            "record",
            "--url",
            &format!("http://{address}/v1/chat/completions"),
            "--model",
            "sim",
            "--prompt",
            "x",
            "--extra-body",
            r#"{"tokenflush": {"policy": "no-such-policy"}}"#,
            "--output",
            dir.join("bad.jsonl").to_str().unwrap(),
        ],
        &dir,
    );
    assert_eq!(bad.status.code(), Some(1));
    let message = String::from_utf8_lossy(&bad.stderr);
    assert!(message.contains("the server answered 400"), "{message}");
}

/// Whether missing tools fail the tests (CI) instead of skipping them.
fn required() -> bool {
    std::env::var("TOKENFLUSH_EXTERNAL_TESTS").is_ok_and(|value| value == "require")
}

fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .flat_map(|dir| [dir.join("chromium"), dir.join("chromium-browser")])
        .find(|path| path.is_file())
}

#[test]
fn the_plot_renders_in_headless_chromium() {
    let Some(chromium) = find_chromium() else {
        assert!(
            !required(),
            "chromium is not installed, and TOKENFLUSH_EXTERNAL_TESTS=require"
        );
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED the_plot_renders_in_headless_chromium: chromium is not installed. \
             Install it (see .ci/run) or set TOKENFLUSH_EXTERNAL_TESTS=require to make this a \
             failure. ***\n"
        );
        return;
    };
    let dir = scratch("cli-chromium");
    stdout(&tool(&["--model", "fast", "--tokens", "500"], &dir));
    let svg = std::fs::read_to_string(dir.join("tune-model-fast.svg")).unwrap();
    let size = |name: &str| -> u32 {
        let start = svg.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
        svg[start..start + svg[start..].find('"').unwrap()]
            .parse()
            .unwrap()
    };
    let (width, height) = (size("width"), size("height"));
    let png = dir.join("plot.png");
    let status = Command::new(&chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--hide-scrollbars",
            &format!("--user-data-dir={}", dir.join("profile").display()),
            &format!("--window-size={width},{height}"),
            &format!("--screenshot={}", png.display()),
        ])
        .arg(format!(
            "file://{}",
            dir.join("tune-model-fast.svg").display()
        ))
        .output()
        .expect("chromium runs");
    assert!(png.is_file(), "no screenshot: {status:?}");

    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((frame.width, frame.height), (width, height));
    let channels = frame.color_type.samples();
    assert!(channels >= 3, "{:?}", frame.color_type);
    let (mut ink, mut red, mut green, mut total) = (0_u64, 0_u64, 0_u64, 0_u64);
    for pixel in pixels[..frame.buffer_size()].chunks(channels) {
        let [r, g, b] = [pixel[0], pixel[1], pixel[2]].map(i32::from);
        total += 1;
        if r + g + b < 600 {
            ink += 1;
        }
        // The front's red (#c62828) and the target's and ring's green (#2e7d32).
        if (r - 0xc6).abs() < 40 && g < 90 && b < 90 {
            red += 1;
        }
        if r < 90 && (g - 0x7d).abs() < 40 && b < 100 {
            green += 1;
        }
    }
    let share = |n: u64| n as f64 / total as f64;
    // Text, grid and marks: a few percent of the picture; red front marks and labels; green
    // target and ring.
    assert!(share(ink) > 0.01, "ink {ink} of {total}");
    assert!(share(ink) < 0.5, "ink {ink} of {total}");
    assert!(red > 500, "{red} red pixels");
    assert!(green > 200, "{green} green pixels");
}
