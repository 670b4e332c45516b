//! Real clients and a real proxy against the `chat_server` and `proxy` examples (run
//! in-process on loopback ports): OpenAI's and Anthropic's Python SDKs (chat completions with
//! usage, Responses streams, thinking blocks, tool calls, streamed and whole, from the server
//! and through the proxy), `curl -N`, headless Chromium on the demo page, and nginx with its
//! default buffering.
//!
//! They need tools from outside Cargo (`.ci/run` installs them). Where one is missing, the
//! test is skipped with a loud message, unless `TOKENFLUSH_EXTERNAL_TESTS=require` (as in CI),
//! which makes it fail. They run one at a time: the nginx test measures milliseconds.
//!
//! Environment: `TOKENFLUSH_PYTHON` (default `python3`) is the interpreter with the `openai`
//! and `anthropic` packages; `CHROMIUM` and `CHROMEDRIVER` override where those are found.

mod external;
#[path = "../../../tests/support/serve.rs"]
mod serve;

use external::{python_with, tool, Driver};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use example_servers::chat_server::model::{self, Ask, Simulation, Tool};
use example_servers::{chat_server, proxy};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, MutexGuard};
use tokio::time::Instant;

/// The tests here run one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

async fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

/// A scratch directory under `target/tmp`, empty.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn start_chat_server() -> SocketAddr {
    let (router, _) = chat_server::app(chat_server::Config::default());
    serve::serve(router).await
}

/// Runs `tests/clients/<script>` with the requests as its argument; the JSON it prints.
async fn run_python_client(python: &str, script: &str, requests: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let run = Command::new(python)
        .arg(&script)
        .arg(requests.to_string())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the Python client finishes")
        .unwrap();
    assert!(
        output.status.success(),
        "the Python client failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    eprintln!("{script:?}: SDK {}", report["sdk_version"]);
    report
}

const PROMPT: &str = "Is «this» streamed whole? 日本 🚀";

// ---------------------------------------------------------------------------------------------
// OpenAI's Python SDK

#[tokio::test]
async fn openais_python_sdk_reads_the_chat_server_and_the_proxy() {
    let test = "openais_python_sdk_reads_the_chat_server_and_the_proxy";
    let _turn = one_at_a_time().await;
    let Some(python) = python_with(test, "openai").await else {
        return;
    };

    let server = start_chat_server().await;
    let proxy = serve::serve(
        proxy::app(proxy::Config {
            upstream: format!("http://{server}/v1"),
            policy: example_servers::policy::PolicyConfig::FixedBatch { max_tokens: 6 },
            ..Default::default()
        })
        .unwrap(),
    )
    .await;
    let fast = json!({"tokens_per_second": 400, "first_token_ms": 0});
    let mut failing = fast.clone();
    failing["fail_after"] = json!(7);
    let request = |base: SocketAddr, stream: bool, extra_body: Value| json!({"base_url": format!("http://{base}/v1"), "prompt": PROMPT, "stream": stream, "extra_body": extra_body});
    let time_bounded = json!({"policy": "time_bounded", "max_tokens": 4, "max_latency_ms": 100});
    let mut failing_request = request(server, true, json!({"simulation": failing}));
    failing_request["expect_error"] = json!(true);
    let requests = json!([
        request(
            server,
            true,
            json!({"tokenflush": time_bounded, "simulation": fast})
        ),
        request(
            server,
            true,
            json!({"tokenflush": {"policy": "immediate"}, "simulation": fast})
        ),
        request(server, false, json!({"simulation": fast})),
        failing_request,
        request(proxy, true, json!({"simulation": fast})),
        request(
            proxy,
            true,
            json!({"tokenflush": {"policy": "immediate"}, "simulation": fast})
        ),
        request(proxy, false, json!({"simulation": fast})),
    ]);

    let report = run_python_client(&python, "openai_client.py", &requests).await;
    let results = report["results"].as_array().unwrap();
    let answer = model::answer(PROMPT);
    for index in [0, 1, 4, 5] {
        assert_eq!(results[index]["text"], answer.as_str(), "request {index}");
        assert_eq!(
            results[index]["finish_reasons"],
            json!(["stop"]),
            "request {index}"
        );
    }
    for index in [2, 6] {
        assert_eq!(results[index]["text"], answer.as_str(), "request {index}");
        assert_eq!(
            results[index]["finish_reasons"],
            json!(["stop"]),
            "request {index}"
        );
    }
    // The failure arrives as OpenAI's error object, which the SDK raises, after the text.
    let partial: Vec<u8> = model::tokenize(&answer)[..7].concat();
    assert_eq!(
        results[3],
        json!({
            "text": std::str::from_utf8(&partial).unwrap(),
            "error_type": "APIError",
            "error_message": "the simulated model failed after 7 tokens",
        })
    );
    // Immediate sends more chunks than TimeBounded; the proxy's FixedBatch(6) fewer still
    // than what it read.
    let chunks = |index: usize| results[index]["chunks"].as_u64().unwrap();
    assert!(chunks(1) > 2 * chunks(0), "{} vs {}", chunks(1), chunks(0));
    assert!(chunks(4) < chunks(0), "{} vs {}", chunks(4), chunks(0));
}

// ---------------------------------------------------------------------------------------------
// Anthropic's Python SDK

#[tokio::test]
async fn anthropics_python_sdk_reads_the_messages_route() {
    let test = "anthropics_python_sdk_reads_the_messages_route";
    let _turn = one_at_a_time().await;
    let Some(python) = python_with(test, "anthropic").await else {
        return;
    };

    let server = start_chat_server().await;
    let fast = json!({"tokens_per_second": 400, "first_token_ms": 0});
    let mut failing = fast.clone();
    failing["fail_after"] = json!(7);
    // The SDK adds `/v1/messages` to the base URL itself.
    let request = |stream: bool, extra_body: Value| json!({"base_url": format!("http://{server}"), "prompt": PROMPT, "stream": stream, "extra_body": extra_body});
    let time_bounded = json!({"policy": "time_bounded", "max_tokens": 4, "max_latency_ms": 100});
    let requests = json!([
        request(
            true,
            json!({"tokenflush": time_bounded, "simulation": fast})
        ),
        request(
            true,
            json!({"tokenflush": {"policy": "immediate"}, "simulation": fast})
        ),
        request(false, json!({"simulation": fast})),
        request(true, json!({"simulation": failing})),
    ]);

    let report = run_python_client(&python, "anthropic_client.py", &requests).await;
    let results = report["results"].as_array().unwrap();
    let answer = model::answer(PROMPT);
    let output_tokens = model::tokenize(&answer).len();
    let input_tokens = model::tokenize(PROMPT).len();
    for (index, result) in results[..3].iter().enumerate() {
        if index < 2 {
            assert_eq!(
                result["text"],
                answer.as_str(),
                "request {index}: the text events"
            );
        }
        assert_eq!(result["final_text"], answer.as_str(), "request {index}");
        assert_eq!(result["stop_reason"], "end_turn", "request {index}");
        assert_eq!(
            result["usage"],
            json!({"input_tokens": input_tokens, "output_tokens": output_tokens}),
            "request {index}"
        );
    }
    // Immediate sends a text event per character-complete token, TimeBounded(4, 100ms) about
    // a quarter as many.
    let text_events = |index: usize| results[index]["text_events"].as_u64().unwrap();
    assert!(
        text_events(1) > 2 * text_events(0),
        "{} vs {}",
        text_events(1),
        text_events(0)
    );
    // The failure arrives as Anthropic's error event, which the SDK raises, after the text.
    let partial: Vec<u8> = model::tokenize(&answer)[..7].concat();
    assert_eq!(results[3]["text"], std::str::from_utf8(&partial).unwrap());
    assert_eq!(
        results[3]["error"],
        json!({"type": "api_error", "message": "the simulated model failed after 7 tokens"})
    );
}

// ---------------------------------------------------------------------------------------------
// Both SDKs: reasoning, a tool call and usage, from the chat server and through the proxy

#[tokio::test]
async fn the_sdks_read_reasoning_tool_calls_and_usage_from_the_server_and_through_the_proxy() {
    let test = "the_sdks_read_reasoning_tool_calls_and_usage_from_the_server_and_through_the_proxy";
    let _turn = one_at_a_time().await;
    let Some(python) = python_with(test, "openai, anthropic").await else {
        return;
    };
    // The proxy does not pass the chat server's extensions on through the Responses and
    // messages routes: the server's own defaults are fast.
    let (router, _) = chat_server::app(chat_server::Config {
        simulation: Simulation {
            tokens_per_second: 400.0,
            first_token_ms: 0,
            ..Simulation::default()
        },
        ..Default::default()
    });
    let server = serve::serve(router).await;
    let proxy = serve::serve(
        proxy::app(proxy::Config {
            upstream: format!("http://{server}/v1"),
            policy: example_servers::policy::PolicyConfig::FixedBatch { max_tokens: 6 },
            ..Default::default()
        })
        .unwrap(),
    )
    .await;
    let parameters = json!({"type": "object", "properties": {
        "city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]});
    let tool = Tool::new("get_weather", parameters.clone()).unwrap();
    let tools = json!([{"name": "get_weather", "parameters": parameters}]);
    let with_tool = Ask {
        prompt: PROMPT.to_owned(),
        reasoning: true,
        tool: Some(tool.clone()),
        max_tokens: None,
    };
    let plain = Ask {
        prompt: PROMPT.to_owned(),
        ..Ask::default()
    };

    // OpenAI: chat completions and Responses, streamed and whole, with the tool and
    // reasoning, and a plain streamed answer of each.
    let mut requests = Vec::new();
    for base in [server, proxy] {
        let base_url = format!("http://{base}/v1");
        for api in ["chat", "responses"] {
            for stream in [true, false] {
                requests.push(
                    json!({"base_url": base_url, "prompt": PROMPT, "stream": stream,
                    "api": api, "tools": tools, "reasoning": true, "include_usage": true}),
                );
            }
            requests.push(
                json!({"base_url": base_url, "prompt": PROMPT, "stream": true,
                "api": api, "include_usage": true}),
            );
        }
    }
    let report = run_python_client(&python, "openai_client.py", &json!(requests)).await;
    let results = report["results"].as_array().unwrap();
    let arguments: Value = serde_json::from_str(&tool.arguments(PROMPT)).unwrap();
    for (request, result) in requests.iter().zip(results) {
        let what = format!(
            "{} {} stream {}",
            request["base_url"], request["api"], request["stream"]
        );
        assert!(result.get("error_type").is_none(), "{what}: {result}");
        let ask = if request.get("tools").is_some() {
            &with_tool
        } else {
            &plain
        };
        let usage = model::plan(ask, "").usage;
        let expected_text = match &ask.tool {
            Some(tool) => model::tool_preamble(PROMPT, &tool.name),
            None => model::answer(PROMPT),
        };
        assert_eq!(result["text"], expected_text.as_str(), "{what}");
        if ask.reasoning {
            assert_eq!(result["reasoning"], model::reasoning(), "{what}");
        }
        let calls = result["calls"].as_array().unwrap();
        assert_eq!(calls.len(), usize::from(ask.tool.is_some()), "{what}");
        for call in calls {
            assert!(call["id"].as_str().unwrap().starts_with("call_"), "{what}");
            assert_eq!(call["name"], "get_weather", "{what}");
            let got: Value = serde_json::from_str(call["arguments"].as_str().unwrap()).unwrap();
            assert_eq!(got, arguments, "{what}");
        }
        let reasoning_tokens = usage.reasoning_tokens().unwrap_or(0);
        if request["api"] == "chat" {
            let finish = if ask.tool.is_some() {
                "tool_calls"
            } else {
                "stop"
            };
            assert_eq!(result["finish_reasons"], json!([finish]), "{what}");
            let mut expected = json!({
                "prompt_tokens": usage.input_tokens(),
                "completion_tokens": usage.output_tokens(),
                "total_tokens": usage.total_tokens(),
            });
            if ask.reasoning {
                expected["completion_tokens_details"] =
                    json!({"reasoning_tokens": reasoning_tokens});
            }
            assert_eq!(result["usage"], expected, "{what}");
        } else {
            assert_eq!(result["status"], "completed", "{what}");
            let got = &result["usage"];
            assert_eq!(
                (
                    &got["input_tokens"],
                    &got["output_tokens"],
                    &got["output_tokens_details"]["reasoning_tokens"]
                ),
                (
                    &json!(usage.input_tokens()),
                    &json!(usage.output_tokens()),
                    &json!(reasoning_tokens)
                ),
                "{what}"
            );
            if request["stream"] == true {
                // The deltas as they came add up to the final response's text.
                assert_eq!(result["streamed_text"], result["text"], "{what}");
                assert_eq!(result["streamed_reasoning"], result["reasoning"], "{what}");
                let types = result["event_types"].as_array().unwrap();
                assert_eq!(types[0], "response.created", "{what}");
                assert_eq!(types.last().unwrap(), "response.completed", "{what}");
            }
        }
    }
    // Streamed and whole answers of the same request say the same.
    for pair in results.chunks(3) {
        let (streamed, whole) = (&pair[0], &pair[1]);
        for key in ["text", "reasoning", "usage"] {
            assert_eq!(streamed[key], whole[key], "{key}");
        }
        let names = |result: &Value| -> Vec<Value> {
            result["calls"]
                .as_array()
                .unwrap()
                .iter()
                .map(|call| json!([call["name"], call["arguments"]]))
                .collect()
        };
        assert_eq!(names(streamed), names(whole));
    }

    // Anthropic: a thinking block, a tool use and usage, streamed (through the SDK's
    // accumulating helper) and whole, from the server and through the proxy.
    let mut requests = Vec::new();
    for base in [server, proxy] {
        for stream in [true, false] {
            requests.push(
                json!({"base_url": format!("http://{base}"), "prompt": PROMPT,
                "stream": stream, "tools": tools, "thinking": true}),
            );
        }
    }
    let report = run_python_client(&python, "anthropic_client.py", &json!(requests)).await;
    let results = report["results"].as_array().unwrap();
    let usage = model::plan(&with_tool, "").usage;
    for (request, result) in requests.iter().zip(results) {
        let what = format!("{} stream {}", request["base_url"], request["stream"]);
        assert!(result.get("error_type").is_none(), "{what}: {result}");
        assert_eq!(
            result["block_types"],
            json!(["thinking", "text", "tool_use"]),
            "{what}"
        );
        assert_eq!(result["thinking"], model::reasoning(), "{what}");
        assert_eq!(
            result["final_text"],
            model::tool_preamble(PROMPT, "get_weather").as_str(),
            "{what}"
        );
        assert_eq!(result["text"], result["final_text"], "{what}");
        assert_eq!(result["stop_reason"], "tool_use", "{what}");
        let uses = result["tool_uses"].as_array().unwrap();
        assert_eq!(uses.len(), 1);
        assert_eq!(
            (&uses[0]["name"], &uses[0]["input"]),
            (&json!("get_weather"), &arguments),
            "{what}"
        );
        assert_eq!(
            result["usage"],
            json!({"input_tokens": usage.input_tokens(), "output_tokens": usage.output_tokens()}),
            "{what}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// curl -N

/// Runs `curl -N` for a streamed completion; the time each output line arrived, from the
/// start, and the line.
async fn curl_lines(curl: &Path, server: SocketAddr, body: &Value) -> Vec<(Duration, String)> {
    let start = Instant::now();
    let mut child = Command::new(curl)
        .args([
            "-sS",
            "-N",
            "--max-time",
            "30",
            "-H",
            "content-type: application/json",
            "-d",
        ])
        .arg(body.to_string())
        .arg(format!("http://{server}/v1/chat/completions"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut timed = Vec::new();
    while let Some(line) = lines.next_line().await.unwrap() {
        timed.push((start.elapsed(), line));
    }
    assert!(child.wait().await.unwrap().success(), "curl failed");
    timed
}

/// The content of a `data:` line of a chunk, if it carries text.
fn content_of_line(line: &str) -> Option<String> {
    let data = line.strip_prefix("data: ")?;
    let chunk: Value = serde_json::from_str(data).ok()?;
    let content = chunk["choices"][0]["delta"]["content"].as_str()?;
    (!content.is_empty()).then(|| content.to_owned())
}

#[tokio::test]
async fn curl_gets_the_first_token_long_before_the_stream_ends() {
    let test = "curl_gets_the_first_token_long_before_the_stream_ends";
    let _turn = one_at_a_time().await;
    let Some(curl) = tool(test, "curl", "CURL") else {
        return;
    };
    let server = start_chat_server().await;
    // 16 tokens, one every 100 ms after 100 ms of thinking: about 1.7 s of stream.
    let body = |policy: Value| {
        json!({
            "stream": true, "max_tokens": 16, "tokenflush": policy,
            "messages": [{"role": "user", "content": "Hi"}],
            "simulation": {"tokens_per_second": 10, "jitter": 0, "first_token_ms": 100},
        })
    };
    let expected = {
        let (tokens, _) = model::truncate(model::tokenize(&model::answer("Hi")), Some(16));
        String::from_utf8(tokens.concat()).unwrap()
    };
    let mut spans = Vec::new();
    for policy in [
        json!({"policy": "time_bounded", "max_tokens": 4, "max_latency_ms": 100}),
        json!({"policy": "fixed_batch", "max_tokens": 25}),
    ] {
        let lines = curl_lines(&curl, server, &body(policy.clone())).await;
        let texts: Vec<(Duration, String)> = lines
            .iter()
            .filter_map(|(at, line)| content_of_line(line).map(|text| (*at, text)))
            .collect();
        let text: String = texts.iter().map(|(_, text)| text.as_str()).collect();
        assert_eq!(text, expected, "{policy}");
        let (end, last) = lines
            .iter()
            .rev()
            .find(|(_, line)| !line.is_empty())
            .unwrap();
        assert_eq!(last, "data: [DONE]");
        let (first, end) = (texts[0].0, *end);
        eprintln!("curl, {policy}: first token at {first:?}, stream ended at {end:?}");
        spans.push((first, end));
    }
    let (first, end) = spans[0];
    assert!(
        first + Duration::from_secs(1) <= end,
        "TimeBounded: first token at {first:?}, end at {end:?}"
    );
    // The control: FixedBatch(25) holds all 16 tokens to the end, which the measurement sees.
    let (first, end) = spans[1];
    assert!(
        first + Duration::from_millis(100) > end,
        "FixedBatch(25): first token at {first:?}, end at {end:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Headless Chromium on the demo page, through WebDriver (chromedriver)

/// Decodes standard base64 (the WebDriver screenshot).
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |byte: u8| match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {byte}"),
    };
    let digits: Vec<u8> = text.bytes().filter(|&b| b != b'=').map(value).collect();
    digits
        .chunks(4)
        .flat_map(|group| {
            let bits = group
                .iter()
                .enumerate()
                .fold(0u32, |bits, (i, &d)| bits | u32::from(d) << (18 - 6 * i));
            let bytes = bits.to_be_bytes();
            bytes[1..group.len()].to_vec()
        })
        .collect()
}

#[tokio::test]
async fn chromium_renders_the_whole_answer_in_all_three_panes() {
    let test = "chromium_renders_the_whole_answer_in_all_three_panes";
    let _turn = one_at_a_time().await;
    let (Some(chromium), Some(chromedriver)) = (
        tool(test, "chromium", "CHROMIUM"),
        tool(test, "chromedriver", "CHROMEDRIVER"),
    ) else {
        return;
    };
    let server = start_chat_server().await;
    let profile = scratch("chromium-profile");
    let driver = Driver::start(&chromedriver).await;
    let args = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1400,1000",
    ]
    .map(str::to_owned)
    .into_iter()
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect::<Vec<_>>();
    let session = driver
        .call(
            "POST",
            "/session",
            json!({"capabilities": {"alwaysMatch": {
                "browserName": "chrome",
                "goog:chromeOptions": {"binary": chromium, "args": args},
            }}}),
        )
        .await;
    let session = format!("/session/{}", session["sessionId"].as_str().unwrap());

    // A model at 60 tokens/s: the page streams for about 3 s.
    let prompt = "Streamed «whole»? é 日本 🚀";
    let mut url = format!("http://{server}/?tps=60&jitter=0.5&first=100&prompt=");
    for byte in prompt.bytes() {
        url.push_str(&format!("%{byte:02X}"));
    }
    driver
        .call("POST", &format!("{session}/url"), json!({"url": url}))
        .await;
    let script = |source: &str| json!({"script": source, "args": []});
    let deadline = Instant::now() + Duration::from_secs(60);
    let state = loop {
        let state = driver
            .call(
                "POST",
                &format!("{session}/execute/sync"),
                script("return document.body.dataset.state"),
            )
            .await;
        if state != "loading" && state != "streaming" || Instant::now() > deadline {
            break state;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let panes = driver
        .call(
            "POST",
            &format!("{session}/execute/sync"),
            script(
                "return [...document.querySelectorAll('pre.text')].map((pane) => pane.textContent)",
            ),
        )
        .await;
    let stats = driver
        .call(
            "POST",
            &format!("{session}/execute/sync"),
            script("return demo.panes.map((pane) => ({title: pane.policy.title, writes: pane.writes, first: pane.first}))"),
        )
        .await;
    let screenshot = driver
        .call("GET", &format!("{session}/screenshot"), Value::Null)
        .await;
    driver.call("DELETE", &session, Value::Null).await;

    let png = base64_decode(screenshot.as_str().unwrap());
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chromium-demo-page.png");
    std::fs::write(&path, &png).unwrap();
    eprintln!(
        "screenshot: {} ({} bytes); panes: {stats}",
        path.display(),
        png.len()
    );

    assert_eq!(state, "done", "the page finished streaming");
    let answer = model::answer(prompt);
    let panes: Vec<&str> = panes
        .as_array()
        .unwrap()
        .iter()
        .map(|pane| pane.as_str().unwrap())
        .collect();
    assert_eq!(
        panes,
        [answer.as_str(); 3],
        "every pane shows the whole answer"
    );
    // FixedBatch(25) writes least, Immediate most.
    let writes: Vec<u64> = (0..3)
        .map(|pane| stats[pane]["writes"].as_u64().unwrap())
        .collect();
    assert!(writes[0] < writes[2] && writes[2] < writes[1], "{writes:?}");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert!(width >= 1000 && height >= 600, "{width}x{height}");
    assert!(png.len() > 20_000, "a screenshot with something on it");
}

// ---------------------------------------------------------------------------------------------
// nginx, default buffering on

struct Nginx {
    address: SocketAddr,
    _process: Child,
}

impl Nginx {
    /// nginx on a loopback port with two locations to `upstream`, both with nginx's defaults
    /// (`proxy_buffering on`, HTTP/1.0 to the upstream): `/a/` as anyone would write it, and
    /// `/b/`, which ignores the upstream's `X-Accel-Buffering` header, as if it had not been
    /// sent.
    async fn start(nginx: &Path, upstream: SocketAddr) -> Self {
        let dir = scratch("nginx");
        let address: SocketAddr = ([127, 0, 0, 1], serve::free_port()).into();
        let d = dir.display();
        let config = format!(
            "daemon off;\n\
             master_process off;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
             \x20   access_log off;\n\
             \x20   client_body_temp_path {d}/client_body;\n\
             \x20   proxy_temp_path {d}/proxy;\n\
             \x20   fastcgi_temp_path {d}/fastcgi;\n\
             \x20   uwsgi_temp_path {d}/uwsgi;\n\
             \x20   scgi_temp_path {d}/scgi;\n\
             \x20   server {{\n\
             \x20       listen {address};\n\
             \x20       location /a/ {{ proxy_pass http://{upstream}/; }}\n\
             \x20       location /b/ {{ proxy_pass http://{upstream}/; proxy_ignore_headers X-Accel-Buffering; }}\n\
             \x20   }}\n\
             }}\n"
        );
        std::fs::write(dir.join("nginx.conf"), config).unwrap();
        let process = Command::new(nginx)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdout(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        serve::wait_listening(address, Duration::from_secs(20)).await;
        Self {
            address,
            _process: process,
        }
    }
}

/// For each token that completes a character: how late it reached the client, measured from
/// when the model's schedule says it was made. The schedule is counted from the moment the
/// request was sent, a little before the model starts, so the lateness is if anything
/// overstated.
async fn token_lateness(
    address: SocketAddr,
    path: &str,
    simulation: &Simulation,
    max_tokens: usize,
) -> Vec<Duration> {
    let prompt = "Hi";
    let body = json!({
        "stream": true, "max_tokens": max_tokens,
        "messages": [{"role": "user", "content": prompt}],
        "simulation": simulation,
        "tokenflush": {"policy": "time_bounded", "max_tokens": 4, "max_latency_ms": 100},
    });
    let (sent, events) = serve::timed_events(address, path, &body, Duration::from_secs(30)).await;
    let (tokens, _) = model::truncate(model::tokenize(&model::answer(prompt)), Some(max_tokens));
    // When each token's text had fully arrived: the bytes received so far cover it.
    let mut received = 0;
    let mut arrivals = Vec::new();
    for (at, event) in &events {
        let Ok(chunk) = serde_json::from_str::<Value>(event.data()) else {
            continue; // [DONE]
        };
        if let Some(text) = chunk["choices"][0]["delta"]["content"].as_str() {
            received += text.len();
            arrivals.push((received, *at));
        }
    }
    let mut made = sent;
    let mut end = 0;
    let mut lateness = Vec::new();
    for (token, gap) in tokens.iter().zip(simulation.gaps(tokens.len())) {
        made += gap;
        end += token.len();
        let prefix: Vec<u8> = tokens.concat()[..end].to_vec();
        if std::str::from_utf8(&prefix).is_err() {
            continue; // half a character: it cannot be shown before the other half
        }
        let (_, arrived) = arrivals
            .iter()
            .find(|(covered, _)| *covered >= end)
            .expect("every token arrives");
        lateness.push(arrived.saturating_duration_since(made));
    }
    lateness
}

#[tokio::test]
async fn through_nginx_each_token_arrives_within_max_latency_plus_50ms() {
    let test = "through_nginx_each_token_arrives_within_max_latency_plus_50ms";
    let _turn = one_at_a_time().await;
    let Some(nginx) = tool(test, "nginx", "NGINX") else {
        return;
    };
    let server = start_chat_server().await;
    let nginx = Nginx::start(&nginx, server).await;
    // A slow model: a token every 200 ms after 200 ms of thinking, 10 tokens, about 2.2 s.
    let simulation = Simulation {
        tokens_per_second: 5.0,
        jitter: 0.0,
        first_token_ms: 200,
        ..Simulation::default()
    };
    let max_latency = Duration::from_millis(100);

    let through_a = token_lateness(nginx.address, "/a/v1/chat/completions", &simulation, 10).await;
    let through_b = token_lateness(nginx.address, "/b/v1/chat/completions", &simulation, 10).await;
    eprintln!("nginx /a/ (our headers): lateness per token {through_a:?}");
    eprintln!("nginx /b/ (X-Accel-Buffering ignored): lateness per token {through_b:?}");
    let worst = through_a.iter().max().unwrap();
    assert!(
        *worst <= max_latency + Duration::from_millis(50),
        "through nginx with our headers a token came {worst:?} late: {through_a:?}"
    );
    // The control: without the header nginx buffers the whole response, so the first token
    // waits for the last one (about 2 s).
    let schedule: Duration = simulation.gaps(10).iter().sum();
    let first_made = simulation.gaps(1)[0];
    assert!(
        through_b[0] + first_made + Duration::from_millis(50) >= schedule,
        "nginx passed the first token on after {:?}, before the model finished at {schedule:?}",
        through_b[0]
    );
}
