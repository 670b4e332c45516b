//! What the tool writes: plot file names, and the `--json` document.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::recommend::{Limits, Recommendation};
use crate::report::PolicyReport;

/// A file name for the plot of a trace: `tune-` and the trace's name reduced to letters,
/// digits, `-`, `_` and `.` — for a file, its stem without directories or extension
/// (`/x/live.jsonl` gives `tune-live.svg`) — made unique among `taken`.
pub(crate) fn plot_file_name(source: &Source, taken: &mut HashSet<String>) -> String {
    let raw = match source {
        Source::Model(name) => format!("model-{name}"),
        Source::File(path) => path
            .file_stem()
            .map(|stem| stem.to_string_lossy().into_owned())
            .unwrap_or_default(),
    };
    let mut clean = String::new();
    for c in raw.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || c == '.' {
            c
        } else {
            '-'
        };
        if !(c == '-' && clean.ends_with('-')) {
            clean.push(c);
        }
    }
    let clean: String = clean
        .trim_matches(|c| c == '-' || c == '.')
        .chars()
        .take(60)
        .collect();
    let stem = if clean.is_empty() {
        "tune-trace".to_owned()
    } else {
        format!("tune-{clean}")
    };
    let mut name = format!("{stem}.svg");
    let mut n = 2;
    while !taken.insert(name.clone()) {
        name = format!("{stem}-{n}.svg");
        n += 1;
    }
    name
}

/// Where a trace came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// A built-in model, by name.
    Model(String),
    /// A file.
    File(PathBuf),
}

impl Source {
    /// The name the reports show.
    pub(crate) fn title(&self) -> String {
        match self {
            Self::Model(name) => format!("model {name}"),
            Self::File(path) => path.display().to_string(),
        }
    }
}

/// The `--json` document of an evaluation run.
#[derive(Debug, Serialize)]
pub(crate) struct JsonRun {
    pub(crate) limits: JsonLimits,
    pub(crate) traces: Vec<JsonTrace>,
}

#[derive(Debug, Serialize)]
pub(crate) struct JsonLimits {
    max_p99_ms: f64,
    max_delay_ms: f64,
    max_first_token_ms: f64,
    margin_ms: f64,
    writes_window_percent: u64,
    tie_ms: f64,
}

impl From<&Limits> for JsonLimits {
    fn from(limits: &Limits) -> Self {
        Self {
            max_p99_ms: ms(limits.max_p99),
            max_delay_ms: ms(limits.max_delay),
            max_first_token_ms: ms(limits.max_first_token),
            margin_ms: ms(limits.margin),
            writes_window_percent: crate::recommend::WRITES_WINDOW_PERCENT,
            tie_ms: ms(crate::recommend::TIE),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct JsonTrace {
    pub(crate) name: String,
    pub(crate) tokens: usize,
    pub(crate) duration_s: f64,
    pub(crate) policies: Vec<JsonPolicy>,
    pub(crate) recommendation: Option<JsonRecommendation>,
    pub(crate) plot: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
pub(crate) struct JsonPolicy {
    name: String,
    rust: String,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    mean_ms: f64,
    first_token_ms: f64,
    chunks: u64,
    chunks_per_s: f64,
    tokens_per_chunk: f64,
    sse_bytes_per_token: f64,
    timer_fires_per_token: f64,
    on_front: bool,
    misses: Vec<&'static str>,
}

impl JsonPolicy {
    pub(crate) fn new(report: &PolicyReport, limits: &Limits) -> Self {
        Self {
            name: report.name().to_owned(),
            rust: report.rust().to_owned(),
            p50_ms: ms(report.delay_p50()),
            p99_ms: ms(report.delay_p99()),
            max_ms: ms(report.delay_max()),
            mean_ms: ms(report.delay_mean()),
            first_token_ms: ms(report.first_token_delay()),
            chunks: report.chunks(),
            chunks_per_s: report.chunks_per_second(),
            tokens_per_chunk: report.tokens_per_chunk(),
            sse_bytes_per_token: report.sse_bytes_per_token(),
            timer_fires_per_token: report.timer_fires_per_token(),
            on_front: report.on_front(),
            misses: limits.misses(report).iter().map(|m| m.label()).collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub(crate) struct JsonRecommendation {
    policy: String,
    rust: String,
    why: String,
    same_figures: Vec<String>,
    runner_up: Option<String>,
    runner_up_costs: Option<String>,
}

impl From<&Recommendation<'_>> for JsonRecommendation {
    fn from(rec: &Recommendation<'_>) -> Self {
        Self {
            policy: rec.winner.name().to_owned(),
            rust: rec.winner.rust().to_owned(),
            why: rec.why.clone(),
            same_figures: rec
                .same_as_winner
                .iter()
                .map(|r| r.name().to_owned())
                .collect(),
            runner_up: rec.runner_up.map(|r| r.name().to_owned()),
            runner_up_costs: rec.runner_up_costs.clone(),
        }
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// `dir/name`, shown without a leading `./`.
pub(crate) fn plot_path(dir: &Path, name: &str) -> PathBuf {
    if dir == Path::new(".") {
        PathBuf::from(name)
    } else {
        dir.join(name)
    }
}
