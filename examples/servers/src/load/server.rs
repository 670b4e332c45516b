//! The server under load: the simulated model's tokens streamed over HTTP/1.1 by axum, under
//! each configuration, and what the flush adapter measured (how long each chunk held its
//! oldest token).

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use tokenflush::observe::{FlushObserver, FlushRecord, StreamRecord};
use tokenflush::policy::{Adaptive, FixedBatch, FlushPolicy, Immediate, TimeBounded};
use tokenflush::resume::Relay;
use tokenflush::sse::TextEvents;
use tokenflush::FlushExt;
use tokio::net::{TcpListener, TcpSocket};

use crate::load::model::{self, Clock, Speed};
use crate::load::report::Percentiles;
use crate::load::route::{Route, MAX_LATENCY};

/// What every stream of this server shares.
#[derive(Clone)]
struct AppState {
    speed: Speed,
    clock: Clock,
    held_us: Arc<Mutex<Vec<u32>>>,
    /// Wake-ups of the adapters' timers, summed as streams end.
    timer_fires: Arc<AtomicU64>,
    /// Resumable generations, when the server has a store.
    relay: Option<Relay>,
}

/// One stream's request: which tokens, and when the first comes.
#[derive(Debug, Deserialize)]
struct StreamQuery {
    tokens: usize,
    seed: u64,
    #[serde(default)]
    first_delay_ms: u64,
}

/// A listener on an ephemeral loopback port with room for thousands of pending connections
/// (the kernel caps the backlog at net.core.somaxconn).
pub fn bind() -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
    socket.listen(16_384)
}

/// Serves the routes on `listener` until `shutdown` completes; `relay` serves the resumable
/// configuration.
pub async fn serve(
    listener: TcpListener,
    speed: Speed,
    clock: Clock,
    relay: Option<Relay>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let state = AppState {
        speed,
        clock,
        held_us: Arc::default(),
        timer_fires: Arc::default(),
        relay,
    };
    let router = Router::new()
        .route("/stream/{route}", get(stream))
        .route("/model_only", get(model_only))
        .route("/held", get(held))
        .with_state(state);
    let listener = listener.tap_io(|tcp| {
        // Token streams are small writes that must leave at once, as in any streaming server.
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

async fn stream(
    State(state): State<AppState>,
    Path(route): Path<String>,
    Query(query): Query<StreamQuery>,
) -> Response {
    let route: Route = match route.parse() {
        Ok(route) => route,
        Err(message) => return (StatusCode::NOT_FOUND, message).into_response(),
    };
    let tokens = model::tokens(
        state.speed,
        query.seed,
        query.tokens,
        Duration::from_millis(query.first_delay_ms),
        state.clock,
    );
    let held = HeldFor::new(&state.held_us, &state.timer_fires);
    match route {
        Route::Anchor => {
            let events = tokens.map(|token| {
                Ok::<_, Infallible>(axum::response::sse::Event::default().data(token))
            });
            axum::response::sse::Sse::new(events).into_response()
        }
        Route::Immediate => flushed(tokens, Immediate::new(), held),
        Route::TimeBounded => flushed(tokens, TimeBounded::new(4, MAX_LATENCY), held),
        Route::Anticipating => flushed(
            tokens,
            TimeBounded::new(4, MAX_LATENCY).with_anticipation(true),
            held,
        ),
        Route::Adaptive => flushed(tokens, Adaptive::new(MAX_LATENCY), held),
        Route::FixedBatch => flushed(tokens, FixedBatch::new(25), held),
        Route::Resumable => {
            let Some(relay) = state.relay.as_ref() else {
                let message = "time_bounded_redis needs a server started with a Redis URL";
                return (StatusCode::NOT_FOUND, message).into_response();
            };
            // The same chunks as `time_bounded`, each stored before it is sent.
            let chunks = tokens
                .flush_with(TimeBounded::new(4, MAX_LATENCY))
                .with_observer(held);
            match relay.start(None, "load", chunks, TextEvents::new()).await {
                Ok(events) => events.into_response(),
                Err(error) => (StatusCode::SERVICE_UNAVAILABLE, error.to_string()).into_response(),
            }
        }
    }
}

/// The one-line change: the token stream through a flush policy, as a response.
fn flushed<S, P>(tokens: S, policy: P, held: HeldFor) -> Response
where
    S: Stream<Item = String> + Send + 'static,
    P: FlushPolicy + Send + 'static,
{
    let chunks = tokens.flush_with(policy).with_observer(held);
    tokenflush::sse::EncodeSseExt::encode_sse(chunks).into_response()
}

/// How long each chunk held its oldest token at the adapter, kept per stream and handed to
/// the server's list when the stream ends (no lock per chunk), and how often its timer fired.
struct HeldFor {
    local: Vec<u32>,
    shared: Arc<Mutex<Vec<u32>>>,
    timer_fires: Arc<AtomicU64>,
}

impl HeldFor {
    fn new(shared: &Arc<Mutex<Vec<u32>>>, timer_fires: &Arc<AtomicU64>) -> Self {
        Self {
            local: Vec::new(),
            shared: Arc::clone(shared),
            timer_fires: Arc::clone(timer_fires),
        }
    }
}

impl FlushObserver for HeldFor {
    fn on_flush(&mut self, flush: &FlushRecord<'_>) {
        let held = flush.chunk().held_for().as_micros();
        self.local.push(u32::try_from(held).unwrap_or(u32::MAX));
    }

    fn on_end(&mut self, stream: &StreamRecord) {
        self.timer_fires
            .fetch_add(stream.timer_fires(), Ordering::Relaxed);
    }
}

impl Drop for HeldFor {
    fn drop(&mut self) {
        if let Ok(mut shared) = self.shared.lock() {
            shared.append(&mut self.local);
        }
    }
}

/// `GET /held`: the held-for figures since the last call, as `count p50 p99 max` in
/// microseconds, and the timer fires; clears them.
async fn held(State(state): State<AppState>) -> String {
    let mut held = std::mem::take(&mut *state.held_us.lock().expect("no panics holding it"));
    let stats = Percentiles::of(&mut held);
    let fires = state.timer_fires.swap(0, Ordering::Relaxed);
    format!(
        "{} {} {} {} {fires}",
        held.len(),
        stats.p50,
        stats.p99,
        stats.max
    )
}

/// One run of the model alone, without HTTP: how the server's CPU time splits between the
/// model and the serving.
#[derive(Debug, Deserialize)]
struct ModelOnlyQuery {
    streams: usize,
    tokens: usize,
    ramp_ms: u64,
}

/// `GET /model_only`: runs `streams` model streams staggered over `ramp_ms`, dropping their
/// tokens, and answers with the number of tokens once all have ended.
async fn model_only(State(state): State<AppState>, Query(query): Query<ModelOnlyQuery>) -> String {
    let start = tokio::time::Instant::now();
    let ramp = Duration::from_millis(query.ramp_ms);
    let runs: Vec<_> = (0..query.streams)
        .map(|index| {
            let offset = ramp.mul_f64(index as f64 / query.streams.max(1) as f64);
            let (speed, clock, count) = (state.speed, state.clock, query.tokens);
            tokio::spawn(async move {
                tokio::time::sleep_until(start + offset).await;
                let seed = index as u64;
                model::tokens(speed, seed, count, Duration::ZERO, clock)
                    .count()
                    .await
            })
        })
        .collect();
    let mut total = 0;
    for run in runs {
        total += run.await.unwrap_or(0);
    }
    total.to_string()
}
