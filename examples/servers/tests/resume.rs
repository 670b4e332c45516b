//! Resumable streams end to end: chat server processes (the `chat-server` binary) sharing one
//! real `redis-server` (started here on a free loopback port), clients cut off at random byte
//! offsets that resume on the other process, a second reader joining mid-stream, the
//! producing process killed mid-stream, Redis restarted mid-stream, the one `404` for every
//! id that is not the caller's, and a browser's `EventSource` that reconnects by itself.
//!
//! Without `redis-server` (or Chromium) the tests are skipped with a loud message, unless
//! `TOKENFLUSH_EXTERNAL_TESTS=require` (as in CI), which makes them fail. They run one at a
//! time.

mod external;
#[path = "../../../tests/support/redis.rs"]
mod redis_server;
#[path = "../../../tests/support/serve.rs"]
mod serve;

use external::{tool, Driver};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use bytes::Bytes;
use example_servers::chat_server::{self, model};
use example_servers::load;
use example_servers::load::redis_stats::RedisSample;
use futures::StreamExt;
use http_body_util::BodyExt;
use redis_server::RedisServer;
use serde_json::{json, Value};
use tokenflush::resume::{EventId, RedisStore, Relay};
use tokenflush::sse::{ParsedEvent, Parser};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::sync::{Mutex, MutexGuard};
use tokio::time::Instant;

const PROMPT: &str = "Resume «this» whole? 日本 🚀";
/// The key of the owner tags, the same on every process.
const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
/// The producers' lease in these tests.
const LEASE: Duration = Duration::from_secs(2);
/// Redis followers check the lease this often (the store's default).
const POLL: Duration = Duration::from_secs(1);

static ONE_AT_A_TIME: Mutex<()> = Mutex::const_new(());

async fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().await
}

/// A `chat-server` process.
struct Server {
    address: SocketAddr,
    child: Child,
}

impl Server {
    async fn start(redis: &str, name: &str) -> Self {
        let address: SocketAddr = ([127, 0, 0, 1], serve::free_port()).into();
        let log = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("chat-server-{name}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_chat-server"))
            .args(["--addr", &address.to_string()])
            .args(["--redis", redis])
            .args(["--resume-key", KEY])
            .args(["--resume-lease-ms", &LEASE.as_millis().to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("the chat-server binary starts");
        serve::wait_listening(address, Duration::from_secs(30)).await;
        Self { address, child }
    }

    /// Kills the process with SIGKILL, as a crash would.
    async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }
}

/// A response read by hyper's client: status, headers, and the body bytes up to `cut` (then
/// the connection is dropped, possibly in the middle of a frame).
struct Read {
    status: u16,
    headers: hyper::HeaderMap,
    body: Vec<u8>,
}

impl Read {
    fn events(&self) -> (Vec<ParsedEvent>, String) {
        let mut parser = Parser::new();
        parser.feed(&self.body);
        let events = std::iter::from_fn(|| parser.next_event().unwrap()).collect();
        (events, parser.last_event_id().to_owned())
    }
}

async fn exchange(
    address: SocketAddr,
    request: hyper::Request<http_body_util::Full<Bytes>>,
    cut: Option<usize>,
) -> Read {
    let socket = TcpStream::connect(address).await.unwrap();
    socket.set_nodelay(true).unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(socket))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let (parts, mut body) = response.into_parts();
    let mut received = Vec::new();
    while let Some(frame) = body.frame().await {
        // A server that dies mid-response ends the body with an error: what came before
        // stays.
        let Ok(frame) = frame else {
            break;
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        received.extend_from_slice(&data);
        if cut.is_some_and(|cut| received.len() >= cut) {
            received.truncate(cut.unwrap());
            break;
        }
    }
    // Gone: the connection closes, whatever the server was sending.
    drop(body);
    drop(sender);
    connection.abort();
    Read {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: received,
    }
}

async fn post(address: SocketAddr, path: &str, body: &Value, cut: Option<usize>) -> Read {
    let request = hyper::Request::post(path)
        .header("host", address.to_string())
        .header("content-type", "application/json")
        .header("authorization", "Bearer alice")
        .body(http_body_util::Full::new(Bytes::from(body.to_string())))
        .unwrap();
    exchange(address, request, cut).await
}

async fn resume(address: SocketAddr, last_event_id: &str, authorization: &str) -> Read {
    let request = hyper::Request::get("/v1/resume")
        .header("host", address.to_string())
        .header("last-event-id", last_event_id)
        .header("authorization", authorization)
        .body(http_body_util::Full::new(Bytes::new()))
        .unwrap();
    exchange(address, request, None).await
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Api {
    OpenAi,
    Anthropic,
}

impl Api {
    fn path(self) -> &'static str {
        match self {
            Api::OpenAi => "/v1/chat/completions",
            Api::Anthropic => "/v1/messages",
        }
    }

    fn request(self, simulation: Value) -> Value {
        json!({
            "model": "sim",
            "stream": true,
            "resume": true,
            "max_tokens": 1000,
            "messages": [{"role": "user", "content": PROMPT}],
            "simulation": simulation,
            "tokenflush": {"policy": "time_bounded", "max_tokens": 4, "max_latency_ms": 20},
        })
    }

    /// Whether the events end the way a complete stream of this API does.
    fn complete(self, events: &[ParsedEvent]) -> bool {
        match (self, events.last()) {
            (Api::OpenAi, Some(last)) => last.data() == "[DONE]",
            (Api::Anthropic, Some(last)) => last.event_type() == "message_stop",
            _ => false,
        }
    }
}

/// The answer's text in events of either API.
fn text_of(events: &[ParsedEvent]) -> String {
    events
        .iter()
        .filter_map(|event| {
            let value: Value = serde_json::from_str(event.data()).ok()?;
            value["choices"][0]["delta"]["content"]
                .as_str()
                .or(value["delta"]["text"].as_str())
                .map(str::to_owned)
        })
        .collect()
}

/// The events' ids; panics unless every event has one and they increase strictly.
fn increasing_ids(events: &[ParsedEvent]) -> Vec<EventId> {
    let ids: Vec<EventId> = events
        .iter()
        .map(|event| {
            event
                .last_event_id()
                .parse()
                .unwrap_or_else(|_| panic!("not an event id: {:?}", event.last_event_id()))
        })
        .collect();
    for pair in ids.windows(2) {
        assert_eq!(pair[0].stream(), pair[1].stream());
        assert!(
            (pair[0].seq(), pair[0].index()) < (pair[1].seq(), pair[1].index()),
            "ids out of order: {pair:?}"
        );
    }
    ids
}

/// The answer the chat server gives without streaming.
async fn whole_answer(address: SocketAddr) -> String {
    let body = json!({"model": "sim", "messages": [{"role": "user", "content": PROMPT}],
        "simulation": {"tokens_per_second": 2000, "first_token_ms": 0}});
    let read = post(address, "/v1/chat/completions", &body, None).await;
    assert_eq!(read.status, 200);
    let value: Value = serde_json::from_slice(&read.body).unwrap();
    let answer = value["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(answer, model::answer(PROMPT));
    answer
}

/// A small seeded random source (xorshift).
struct Random(u64);

impl Random {
    fn below(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % bound as u64) as usize
    }
}

/// Two processes on one Redis, or `None` when the test is skipped.
async fn two_servers(test: &str) -> Option<(RedisServer, Server, Server)> {
    let redis = RedisServer::start(test)?;
    let a = Server::start(&redis.url(), &format!("{test}-a")).await;
    let b = Server::start(&redis.url(), &format!("{test}-b")).await;
    Some((redis, a, b))
}

#[tokio::test]
async fn a_reader_cut_at_100_random_offsets_resumes_on_the_other_server_with_nothing_lost_or_twice()
{
    let test = "resume_cut_at_random_offsets";
    let _turn = one_at_a_time().await;
    let Some((_redis, a, b)) = two_servers(test).await else {
        return;
    };
    let answer = whole_answer(a.address).await;
    let simulation = |seed: u64| json!({"tokens_per_second": 400, "jitter": 0.5, "first_token_ms": 0, "seed": seed});

    // How long a whole stream is, and where its first event ends, for each API.
    let mut lengths = Vec::new();
    for api in [Api::OpenAi, Api::Anthropic] {
        let read = post(a.address, api.path(), &api.request(simulation(0)), None).await;
        assert_eq!(read.status, 200);
        let (events, _) = read.events();
        assert_eq!(text_of(&events), answer, "{api:?} uncut");
        assert!(api.complete(&events));
        increasing_ids(&events);
        let first_end = read.body.windows(2).position(|w| w == b"\n\n").unwrap() + 2;
        lengths.push((api, first_end, read.body.len()));
    }

    let mut random = Random(0x5eed_1234_abcd_0001);
    let cuts: Vec<(Api, usize, u64)> = (0..100)
        .map(|n| {
            let (api, first_end, length) = lengths[n % 2];
            // After the first event (so there is an id to resume from), anywhere up to the
            // end: mid-frame, mid-line, mid-character.
            let cut = first_end + random.below(length - first_end);
            (api, cut, n as u64)
        })
        .collect();
    let started = Instant::now();
    let results: Vec<_> = futures::stream::iter(cuts)
        .map(|(api, cut, seed)| {
            let answer = answer.clone();
            async move {
                let first = post(
                    a.address,
                    api.path(),
                    &api.request(simulation(seed)),
                    Some(cut),
                )
                .await;
                assert_eq!(first.status, 200);
                let (mut events, last_id) = first.events();
                assert!(!last_id.is_empty(), "{api:?} cut at {cut}: no id");
                let rest = resume(b.address, &last_id, "Bearer alice").await;
                match rest.status {
                    200 => events.extend(rest.events().0),
                    // The cut came after the very last event.
                    204 => {}
                    status => panic!("{api:?} cut at {cut}: resume answered {status}"),
                }
                assert_eq!(text_of(&events), answer, "{api:?} cut at {cut}");
                assert!(api.complete(&events), "{api:?} cut at {cut}: incomplete");
                increasing_ids(&events);
                (api, cut, first.body.len())
            }
        })
        .buffer_unordered(4)
        .collect()
        .await;
    eprintln!(
        "100 cuts ({} mid-frame) resumed on the other server in {:?}",
        results.iter().filter(|(_, cut, _)| *cut > 0).count(),
        started.elapsed()
    );
    assert_eq!(results.len(), 100);
}

#[tokio::test]
async fn a_second_reader_joining_mid_stream_gets_the_whole_text_on_either_server() {
    let test = "resume_second_reader";
    let _turn = one_at_a_time().await;
    let Some((_redis, a, b)) = two_servers(test).await else {
        return;
    };
    let answer = whole_answer(a.address).await;
    for api in [Api::OpenAi, Api::Anthropic] {
        // About 2 s of stream. The first reader tells its first event's id (that event has no
        // text: a reader joining from it reads the whole answer), and reads on.
        let request =
            api.request(json!({"tokens_per_second": 100, "jitter": 0.5, "first_token_ms": 0}));
        let (tx, rx) = tokio::sync::oneshot::channel();
        let reader = tokio::spawn(async move {
            let socket = TcpStream::connect(a.address).await.unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(socket))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let request = hyper::Request::post(api.path())
                .header("host", a.address.to_string())
                .header("content-type", "application/json")
                .header("authorization", "Bearer alice")
                .body(http_body_util::Full::new(Bytes::from(request.to_string())))
                .unwrap();
            let mut body = sender.send_request(request).await.unwrap().into_body();
            let mut parser = Parser::new();
            let mut events = Vec::new();
            let mut tx = Some(tx);
            while let Some(frame) = body.frame().await {
                if let Ok(data) = frame.unwrap().into_data() {
                    parser.feed(&data);
                }
                while let Some(event) = parser.next_event().unwrap() {
                    if let Some(tx) = tx.take() {
                        assert_eq!(text_of(std::slice::from_ref(&event)), "");
                        tx.send(event.last_event_id().to_owned()).unwrap();
                    }
                    events.push(event);
                }
            }
            events
        });
        let joined_from = rx.await.unwrap();
        let (here, elsewhere) = tokio::join!(
            resume(a.address, &joined_from, "Bearer alice"),
            resume(b.address, &joined_from, "Bearer alice"),
        );
        let original = reader.await.unwrap();
        assert_eq!(text_of(&original), answer, "{api:?}: the first reader");
        for (name, joined) in [("same server", here), ("other server", elsewhere)] {
            assert_eq!(joined.status, 200, "{api:?}, {name}");
            let (events, _) = joined.events();
            assert_eq!(text_of(&events), answer, "{api:?}, {name}");
            assert!(api.complete(&events), "{api:?}, {name}");
            // The same events, with the same ids, as the first reader's after its first.
            let ids = |events: &[ParsedEvent]| {
                events
                    .iter()
                    .map(|event| (event.last_event_id().to_owned(), event.data().to_owned()))
                    .collect::<Vec<_>>()
            };
            assert_eq!(ids(&events), ids(&original[1..]), "{api:?}, {name}");
        }
    }
}

#[tokio::test]
async fn killing_the_producing_server_mid_stream_reports_the_loss_within_the_lease() {
    let test = "resume_producer_killed";
    let _turn = one_at_a_time().await;
    let Some((_redis, mut a, b)) = two_servers(test).await else {
        return;
    };
    let answer = model::answer(PROMPT);
    // About 8 s of stream: killed after about 1.5 s.
    let request =
        Api::OpenAi.request(json!({"tokens_per_second": 20, "jitter": 0.3, "first_token_ms": 0}));
    // A reader that reads everything the server sends until it dies: what was flushed.
    let witness = tokio::spawn({
        let request = request.clone();
        async move { post(a.address, "/v1/chat/completions", &request, None).await }
    });
    // The client: cut off after 400 bytes.
    let client = post(a.address, "/v1/chat/completions", &request, Some(400)).await;
    let (mut events, last_id) = client.events();
    assert!(!last_id.is_empty());
    tokio::time::sleep(Duration::from_millis(1500)).await;
    a.kill().await;
    let killed = Instant::now();
    let flushed = witness.await.unwrap();
    let (flushed, _) = flushed.events();
    let flushed = text_of(&flushed);
    assert!(!flushed.is_empty() && flushed.len() < answer.len());

    let rest = resume(b.address, &last_id, "Bearer alice").await;
    let reported = killed.elapsed();
    assert_eq!(rest.status, 200);
    let (rest, _) = rest.events();
    events.extend(rest);
    increasing_ids(&events);
    let text = text_of(&events);
    assert!(
        text.starts_with(&flushed),
        "everything flushed before the kill: {flushed:?}, got {text:?}"
    );
    assert!(answer.starts_with(&text));
    let last = events.last().unwrap();
    assert!(
        last.data().contains("generation lost"),
        "the last event: {:?}",
        last.data()
    );
    // Within the lease and a poll of the follower, with room for a loaded machine.
    eprintln!(
        "the loss was reported {reported:?} after the kill (bound {:?})",
        LEASE + POLL
    );
    assert!(
        reported <= LEASE + POLL + Duration::from_secs(3),
        "reported {reported:?} after the kill"
    );
}

#[tokio::test]
async fn restarting_redis_mid_stream_does_not_interrupt_the_live_reader() {
    let test = "resume_redis_restarted";
    let _turn = one_at_a_time().await;
    let Some((mut redis, a, b)) = two_servers(test).await else {
        return;
    };
    let answer = model::answer(PROMPT);
    // About 4 s of stream; Redis restarts after about 1 s.
    let request =
        Api::OpenAi.request(json!({"tokens_per_second": 40, "jitter": 0.3, "first_token_ms": 0}));
    let reader =
        tokio::spawn(async move { post(a.address, "/v1/chat/completions", &request, None).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.restart();
    let live = reader.await.unwrap();
    let (events, _) = live.events();
    assert_eq!(text_of(&events), answer, "the live reader got everything");
    assert!(Api::OpenAi.complete(&events));
    increasing_ids(&events);

    // A reader that resumes on the other server now learns that the stream lost its start
    // with Redis's restart: an error event, not a stream with a hole.
    let rest = resume(b.address, events[0].last_event_id(), "Bearer alice").await;
    assert_eq!(rest.status, 200, "{}", String::from_utf8_lossy(&rest.body));
    let (rest, _) = rest.events();
    assert_eq!(rest.len(), 1, "{rest:?}");
    let error: Value = serde_json::from_str(rest[0].data()).unwrap();
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("cannot be resumed"), "{message}");
}

#[tokio::test]
async fn every_id_that_is_not_the_callers_gets_the_same_404() {
    let test = "resume_one_not_found";
    let _turn = one_at_a_time().await;
    let Some((redis, a, b)) = two_servers(test).await else {
        return;
    };
    let request = Api::OpenAi.request(json!({"tokens_per_second": 2000, "first_token_ms": 0}));
    let read = post(a.address, "/v1/chat/completions", &request, None).await;
    let (events, _) = read.events();
    let id = events[1].last_event_id().to_owned();
    let parsed: EventId = id.parse().unwrap();
    let stream = parsed.stream().to_string();
    let flip = |text: &str, at: usize| {
        let mut bytes = text.as_bytes().to_vec();
        bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
        String::from_utf8(bytes).unwrap()
    };
    let guessed = format!("{}-1-0", "0123456789abcdef".repeat(2));
    let cases = [
        ("another caller", id.clone(), "Bearer mallory"),
        ("no credential", id.clone(), ""),
        ("altered stream id", flip(&id, 3), "Bearer alice"),
        ("guessed", guessed, "Bearer alice"),
        ("malformed", format!("{stream}-01-0"), "Bearer alice"),
        ("not an id", "hello".to_owned(), "Bearer alice"),
        ("4 KiB", "7".repeat(4096), "Bearer alice"),
    ];
    let mut answers = Vec::new();
    for server in [&a, &b] {
        for (name, id, authorization) in &cases {
            answers.push((*name, resume(server.address, id, authorization).await));
        }
    }
    // Expired: Redis forgets it, as its time-to-live would.
    let owned = resume(b.address, &id, "Bearer alice").await;
    assert_eq!(owned.status, 200, "the owner can read it");
    flush_redis(redis.port()).await;
    for server in [&a, &b] {
        answers.push(("expired", resume(server.address, &id, "Bearer alice").await));
    }
    let (_, first) = &answers[0];
    assert_eq!(first.status, 404);
    let without_date = |headers: &hyper::HeaderMap| {
        let mut headers: Vec<_> = headers
            .iter()
            .filter(|(name, _)| *name != "date")
            .map(|(name, value)| (name.to_string(), value.as_bytes().to_vec()))
            .collect();
        headers.sort();
        headers
    };
    for (name, answer) in &answers {
        assert_eq!(answer.status, first.status, "{name}");
        assert_eq!(answer.body, first.body, "{name}");
        assert_eq!(
            without_date(&answer.headers),
            without_date(&first.headers),
            "{name}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_redis_stops_the_server_at_start_unless_it_is_optional() {
    let _turn = one_at_a_time().await;
    // Nothing listens there.
    let redis = format!("redis://127.0.0.1:{}/", serve::free_port());
    let address: SocketAddr = ([127, 0, 0, 1], serve::free_port()).into();
    let run = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--addr", &address.to_string(), "--redis", &redis])
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .expect("the server gives up in time")
        .unwrap();
    assert!(!output.status.success());
    let message = String::from_utf8_lossy(&output.stderr);
    assert!(message.contains("Redis does not answer"), "{message}");
    assert!(
        !message.contains(&redis),
        "the URL may hold a password: {message}"
    );

    // With --redis-optional it serves, and a resumable request streams without resume.
    let _server = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args([
            "--addr",
            &address.to_string(),
            "--redis",
            &redis,
            "--redis-optional",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    serve::wait_listening(address, Duration::from_secs(30)).await;
    let request = Api::OpenAi.request(json!({"tokens_per_second": 2000, "first_token_ms": 0}));
    let read = post(address, "/v1/chat/completions", &request, None).await;
    assert_eq!(read.status, 200);
    let (events, last_id) = read.events();
    assert_eq!(text_of(&events), model::answer(PROMPT));
    assert!(Api::OpenAi.complete(&events));
    assert_eq!(last_id, "", "no ids without a store");
}

/// `FLUSHALL` on the Redis at `port`.
async fn flush_redis(port: u16) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    socket.write_all(b"*1\r\n$8\r\nFLUSHALL\r\n").await.unwrap();
    let mut reply = [0; 5];
    socket.read_exact(&mut reply).await.unwrap();
    assert_eq!(&reply, b"+OK\r\n");
}

/// The load benchmark's `time_bounded_redis` configuration, a few streams of it: every token
/// arrives, Redis gets exactly one write per chunk plus a create and a finish per stream, and
/// no reads (readers on the producing server never read the store).
#[tokio::test]
async fn the_load_benchmarks_resumable_configuration_writes_once_per_chunk_and_never_reads() {
    let test = "resume_load_configuration";
    let _turn = one_at_a_time().await;
    let Some(redis) = RedisServer::start(test) else {
        return;
    };
    let store = RedisStore::new(&redis.url())
        .unwrap()
        .with_key_prefix("tokenflush-load");
    store.ping().await.unwrap();
    let relay = Relay::new(std::sync::Arc::new(store));
    let listener = load::server::bind().unwrap();
    let address = listener.local_addr().unwrap();
    let (clock, _) = load::model::Clock::start();
    let speed = load::model::Speed {
        tokens_per_second: 200.0,
        jitter: 0.5,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(load::server::serve(
        listener,
        speed,
        clock,
        Some(relay),
        async {
            let _ = stopped.await;
        },
    ));
    let redis_address = format!("127.0.0.1:{}", redis.port());
    let before = RedisSample::read(&redis_address).await.unwrap();
    let (streams, tokens) = (20, 100);
    let outcomes = futures::future::join_all((0..streams).map(|seed| {
        let path = format!("/stream/time_bounded_redis?tokens={tokens}&seed={seed}");
        async move { load::client::run_stream(address, &path, clock).await }
    }))
    .await;
    let mut events = 0;
    for outcome in &outcomes {
        assert_eq!(outcome.failure, None);
        assert_eq!(outcome.delays_us.len(), tokens, "every token arrives");
        events += outcome.events;
    }
    // The generations store their finish right after their last chunk went out.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = RedisSample::read(&redis_address).await.unwrap();
    let cost = before.cost_until(&after, streams);
    eprintln!(
        "{streams} streams of {tokens} tokens: {events} chunks, {} Redis writes ({:.3} per token), \
         {} reads",
        cost.writes,
        cost.writes as f64 / (streams * tokens as u64) as f64,
        cost.reads
    );
    assert_eq!(cost.writes, events + 2 * streams);
    assert_eq!(cost.reads, 0);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

// ---------------------------------------------------------------------------------------------
// Headless Chromium: the demo page's EventSource

#[tokio::test]
async fn a_browsers_event_source_reconnects_by_itself_and_shows_the_whole_text_once() {
    let test = "resume_chromium_event_source";
    let _turn = one_at_a_time().await;
    let (Some(chromium), Some(chromedriver)) = (
        tool(test, "chromium", "CHROMIUM"),
        tool(test, "chromedriver", "CHROMEDRIVER"),
    ) else {
        return;
    };
    let (router, _) = chat_server::app(chat_server::Config::default());
    let server = serve::serve(router).await;
    let profile = Path::new(env!("CARGO_TARGET_TMPDIR")).join("chromium-resume-profile");
    let _ = std::fs::remove_dir_all(&profile);
    let driver = Driver::start(&chromedriver).await;
    let args: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    .map(str::to_owned)
    .into_iter()
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect();
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

    // A model at 25 tokens/s: the resumable stream runs for about 6 s.
    let prompt = "Resumed «whole»? é 日本 🚀";
    let mut url = format!("http://{server}/?tps=25&jitter=0.3&first=100&prompt=");
    for byte in prompt.bytes() {
        url.push_str(&format!("%{byte:02X}"));
    }
    driver
        .call("POST", &format!("{session}/url"), json!({"url": url}))
        .await;
    driver.script(&session, "demo.resume.start()").await;
    // Drop the connection three times while it streams.
    let mut drops = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    let state = loop {
        let state = driver
            .script(
                &session,
                "return document.getElementById('resume').dataset.state",
            )
            .await;
        if state != "idle" && state != "streaming" || Instant::now() > deadline {
            break state;
        }
        let connections = driver
            .script(&session, "return demo.resume.connections")
            .await;
        // Once the EventSource has opened (a connection besides the POST), drop it.
        if drops < 3 && connections.as_u64().unwrap_or(0) >= 2 + drops {
            tokio::time::sleep(Duration::from_millis(700)).await;
            driver.script(&session, "demo.resume.drop()").await;
            drops += 1;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let text = driver
        .script(
            &session,
            "return document.getElementById('resume-text').textContent",
        )
        .await;
    let connections = driver
        .script(&session, "return demo.resume.connections")
        .await;
    driver.call("DELETE", &session, Value::Null).await;

    assert_eq!(state, "done", "the resumable stream finished");
    assert_eq!(drops, 3);
    // The POST, the first EventSource connection and one per drop.
    assert!(
        connections.as_u64().unwrap() >= 5,
        "{connections} connections"
    );
    assert_eq!(
        text.as_str().unwrap(),
        model::answer(prompt),
        "the whole text, once"
    );
}
