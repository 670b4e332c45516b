//! Slowloris against the servers' serving function (`example_servers::serve`): 600
//! connections that drip their request headers, or their body, a byte every 100 ms are all
//! closed once the deadline passes, while a well-behaved client is served meanwhile. The
//! control: `axum::serve`, which has no deadline, still holds every such connection long
//! after it.
//!
//! Real sockets and the real clock, on loopback; bounds with room for a loaded 2-core machine.

use std::net::SocketAddr;
use std::time::Duration;

use example_servers::chat_server;
use example_servers::serve::{serve, Limits};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::Instant;

const CONNECTIONS: usize = 600;
const DEADLINE: Duration = Duration::from_secs(1);
/// How much later than its deadline a connection may be closed on a busy machine.
const SLACK: Duration = Duration::from_secs(4);

const HEADERS: &[u8] = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nX-Drip: ";
const BODY: &[u8] = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n\
    Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"messages\": \"";

/// 600 connections and as many server sockets: more than the usual 1024 descriptors.
fn enough_descriptors() {
    rlimit::increase_nofile_limit(8192).unwrap();
}

/// The chat server behind `serve` with one-second deadlines.
async fn limited() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (router, _) = chat_server::app(Default::default());
    let limits = Limits {
        header_read_timeout: DEADLINE,
        body_read_timeout: DEADLINE,
        ..Limits::default()
    };
    tokio::spawn(serve(listener, router, limits, std::future::pending()));
    address
}

/// The chat server behind `axum::serve`.
async fn unlimited() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (router, _) = chat_server::app(Default::default());
    tokio::spawn(async move { axum::serve(listener, router).await });
    address
}

/// How one dripping connection ended.
#[derive(Debug)]
struct Dripped {
    /// From its start until the server closed it; `None` if it was still open at the end.
    closed_after: Option<Duration>,
    /// What the server sent before it closed.
    received: Vec<u8>,
}

/// Opens `count` connections that each send `head`, then one more byte every 100 ms, until
/// the server closes them or `give_up` passes.
async fn drip(
    address: SocketAddr,
    count: usize,
    head: &'static [u8],
    give_up: Duration,
) -> Vec<Dripped> {
    let tasks: Vec<_> = (0..count)
        .map(|_| {
            tokio::spawn(async move {
                let start = Instant::now();
                let mut socket = TcpStream::connect(address).await.unwrap();
                let mut received = Vec::new();
                if socket.write_all(head).await.is_err() {
                    return Dripped {
                        closed_after: Some(start.elapsed()),
                        received,
                    };
                }
                let mut buf = [0; 1024];
                loop {
                    tokio::select! {
                        read = socket.read(&mut buf) => match read {
                            Ok(0) | Err(_) => {
                                return Dripped { closed_after: Some(start.elapsed()), received };
                            }
                            Ok(read) => received.extend_from_slice(&buf[..read]),
                        },
                        () = tokio::time::sleep(Duration::from_millis(100)) => {
                            if start.elapsed() > give_up {
                                return Dripped { closed_after: None, received };
                            }
                            // A write into a closed connection may still succeed once; the
                            // read above sees the close.
                            let _ = socket.write_all(b"a").await;
                        }
                    }
                }
            })
        })
        .collect();
    let mut dripped = Vec::new();
    for task in tasks {
        dripped.push(task.await.unwrap());
    }
    dripped
}

/// The slowest close, and how many stayed open.
fn slowest(dripped: &[Dripped]) -> (Duration, usize) {
    let open = dripped.iter().filter(|d| d.closed_after.is_none()).count();
    let slowest = dripped
        .iter()
        .filter_map(|d| d.closed_after)
        .max()
        .unwrap_or_default();
    (slowest, open)
}

/// A normal request while the drip goes on: answered at once.
async fn well_behaved(address: SocketAddr) -> Duration {
    let body =
        json!({"stream": false, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3,
                      "simulation": {"tokens_per_second": 1000, "jitter": 0, "first_token_ms": 0}})
        .to_string();
    let started = Instant::now();
    let mut socket = TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut response))
        .await
        .expect("a normal request is answered")
        .unwrap();
    assert!(
        response.starts_with(b"HTTP/1.1 200"),
        "{:?}",
        String::from_utf8_lossy(&response)
    );
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_dripping_headers_are_closed_at_the_header_deadline() {
    enough_descriptors();
    let address = limited().await;
    let drips = tokio::spawn(drip(
        address,
        CONNECTIONS,
        HEADERS,
        DEADLINE + SLACK + SLACK,
    ));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let served_in = well_behaved(address).await;
    let dripped = drips.await.unwrap();
    let (slowest, open) = slowest(&dripped);
    let fastest = dripped.iter().filter_map(|d| d.closed_after).min().unwrap();
    eprintln!(
        "{CONNECTIONS} connections dripping headers: closed after {fastest:?} to {slowest:?}, \
         {open} open; a normal request meanwhile took {served_in:?}"
    );
    assert_eq!(open, 0);
    assert!(
        fastest >= DEADLINE - Duration::from_millis(50),
        "{fastest:?}"
    );
    assert!(slowest <= DEADLINE + SLACK, "{slowest:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_dripping_a_body_get_a_408_at_the_body_deadline() {
    enough_descriptors();
    let address = limited().await;
    let drips = tokio::spawn(drip(address, CONNECTIONS, BODY, DEADLINE + SLACK + SLACK));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let served_in = well_behaved(address).await;
    let dripped = drips.await.unwrap();
    let (slowest, open) = slowest(&dripped);
    eprintln!(
        "{CONNECTIONS} connections dripping a body: all closed within {slowest:?}, {open} open; \
         a normal request meanwhile took {served_in:?}"
    );
    assert_eq!(open, 0);
    assert!(slowest <= DEADLINE + SLACK, "{slowest:?}");
    // The server answers 408 and closes. A client that goes on sending into a closed
    // connection gets a reset, which may discard the answer before it reads it: count the
    // answers that arrived, and check each.
    let answered: Vec<_> = dripped
        .iter()
        .map(|dripped| String::from_utf8_lossy(&dripped.received))
        .filter(|response| !response.is_empty())
        .collect();
    eprintln!("{} of them read the 408 before the close", answered.len());
    assert!(!answered.is_empty());
    for response in answered {
        assert!(response.starts_with("HTTP/1.1 408"), "{response}");
        assert!(
            response.contains("the request body did not arrive within 1 s"),
            "{response}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_axum_serve_holds_dripping_connections_open() {
    let address = unlimited().await;
    let give_up = DEADLINE + SLACK;
    for head in [HEADERS, BODY] {
        let dripped = drip(address, 20, head, give_up).await;
        let (_, open) = slowest(&dripped);
        assert_eq!(open, 20, "axum::serve closed a dripping connection");
    }
}
