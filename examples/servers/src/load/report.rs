//! Percentiles, and the table of results.

use std::fmt::Write as _;

use crate::load::redis_stats::RedisCost;
use crate::load::route::Route;

/// The 50th and 99th percentiles and the maximum of a list of microsecond figures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: u32,
    pub p99: u32,
    pub max: u32,
}

impl Percentiles {
    /// The percentiles of `values` (sorted in place; nearest rank). All zero when empty.
    pub fn of(values: &mut [u32]) -> Self {
        if values.is_empty() {
            return Self::default();
        }
        values.sort_unstable();
        let rank = |percent: usize| {
            let index = (values.len() * percent).div_ceil(100).max(1) - 1;
            values[index]
        };
        Self {
            p50: rank(50),
            p99: rank(99),
            max: values[values.len() - 1],
        }
    }
}

/// What one configuration measured at one number of streams.
#[derive(Clone, Debug)]
pub struct PhaseResult {
    pub route: Route,
    pub streams: usize,
    /// Tokens the clients should have received.
    pub expected_tokens: u64,
    /// Tokens the clients received.
    pub tokens: u64,
    /// SSE events the clients received.
    pub events: u64,
    /// Streams that failed (connection refused or reset, a bad status, a parse error).
    pub failed_streams: usize,
    /// The first of the failures, to say why.
    pub first_failure: Option<String>,
    /// Time to first token, from sending the request to reading the first token.
    pub ttft_us: Percentiles,
    /// Per-token delay, from the model producing the token to the client reading it.
    pub delay_us: Percentiles,
    /// The server's CPU time (user and system) during the phase, in microseconds.
    pub server_cpu_us: u64,
    /// The server's write syscalls during the phase.
    pub server_writes: u64,
    /// How long the adapter held each chunk's oldest token (tokenflush's routes).
    pub held_us: Option<Percentiles>,
    /// Wake-ups of the adapters' timers (tokenflush's routes).
    pub timer_fires: u64,
    /// Wall time of the phase, in milliseconds.
    pub wall_ms: u64,
    /// What the phase cost the resume store's Redis (`time_bounded_redis`).
    pub redis: Option<RedisCost>,
}

impl PhaseResult {
    /// Tokens that never arrived.
    pub fn lost(&self) -> u64 {
        self.expected_tokens.saturating_sub(self.tokens)
    }

    /// Server CPU microseconds per delivered token.
    pub fn cpu_per_token_us(&self) -> f64 {
        self.server_cpu_us as f64 / self.tokens.max(1) as f64
    }
}

fn ms(us: u32) -> String {
    format!("{:.1}", f64::from(us) / 1000.0)
}

/// The results as a Markdown table, one row a configuration, grouped by the number of
/// streams; CPU per token also relative to the anchor of the same group, and the model's
/// own share (the model alone, without HTTP) when measured.
pub fn table(results: &[PhaseResult], model_cpu_per_token_us: &[(usize, f64)]) -> String {
    let mut out = String::new();
    out.push_str(
        "| streams | configuration | TTFT p50 / p99 (ms) | delay p50 / p99 / max (ms) \
         | server CPU µs/token | × axum | writes/token | events/token | timer wakes/token | lost \
         | held p99 (ms) |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for result in results {
        let anchor = results
            .iter()
            .find(|other| other.streams == result.streams && other.route == Route::Anchor)
            .map(PhaseResult::cpu_per_token_us);
        let relative = anchor.map_or_else(
            || "–".to_owned(),
            |anchor| format!("{:.2}", result.cpu_per_token_us() / anchor),
        );
        let held = result
            .held_us
            .map_or_else(|| "–".to_owned(), |held| ms(held.p99));
        let tokens = result.tokens.max(1) as f64;
        let _ = writeln!(
            out,
            "| {} | {} | {} / {} | {} / {} / {} | {:.2} | {} | {:.2} | {:.2} | {:.3} | {} | {} |",
            result.streams,
            result.route,
            ms(result.ttft_us.p50),
            ms(result.ttft_us.p99),
            ms(result.delay_us.p50),
            ms(result.delay_us.p99),
            ms(result.delay_us.max),
            result.cpu_per_token_us(),
            relative,
            result.server_writes as f64 / tokens,
            result.events as f64 / tokens,
            result.timer_fires as f64 / tokens,
            result.lost(),
            held,
        );
    }
    for (streams, cpu) in model_cpu_per_token_us {
        let _ = writeln!(
            out,
            "| {streams} | the model alone, no HTTP | | | {cpu:.2} | | | | | | |"
        );
    }
    store_table(&mut out, results);
    out
}

/// The resumable configuration against `time_bounded` (the same policy without a store):
/// what the store costs.
fn store_table(out: &mut String, results: &[PhaseResult]) {
    let with_store: Vec<_> = results
        .iter()
        .filter_map(|result| result.redis.map(|redis| (result, redis)))
        .collect();
    if with_store.is_empty() {
        return;
    }
    out.push_str(
        "\n| streams | configuration | Redis writes/token | Redis reads | Redis CPU µs/token \
         | delay p99 (ms) | vs time_bounded | server CPU µs/token | time_bounded's | lost |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (result, redis) in with_store {
        let peer = results
            .iter()
            .find(|other| other.streams == result.streams && other.route == Route::TimeBounded);
        let tokens = result.tokens.max(1) as f64;
        let (delta, peer_cpu) = peer.map_or_else(
            || ("–".to_owned(), "–".to_owned()),
            |peer| {
                let delta = f64::from(result.delay_us.p99) - f64::from(peer.delay_us.p99);
                (
                    format!("{:+.1} ms", delta / 1000.0),
                    format!("{:.2}", peer.cpu_per_token_us()),
                )
            },
        );
        let _ = writeln!(
            out,
            "| {} | {} | {:.3} | {} | {:.2} | {} | {} | {:.2} | {} | {} |",
            result.streams,
            result.route,
            redis.writes as f64 / tokens,
            redis.reads,
            redis.cpu_us as f64 / tokens,
            ms(result.delay_us.p99),
            delta,
            result.cpu_per_token_us(),
            peer_cpu,
            result.lost(),
        );
    }
}
