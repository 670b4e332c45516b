use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use crate::candidate::Candidate;
use crate::plot;
use crate::replay::replay;
use crate::report::PolicyReport;
use crate::trace::Trace;

/// Every candidate replayed over one trace: the table, the Pareto front, the recommendation
/// and the plot.
#[derive(Clone, Debug)]
pub(crate) struct Evaluation {
    reports: Vec<PolicyReport>,
}

impl Evaluation {
    /// Replays `trace` through every candidate, on all cores, and marks the Pareto front.
    ///
    /// # Panics
    ///
    /// If a worker thread cannot be started.
    #[must_use]
    pub(crate) fn run(trace: &Trace, candidates: &[Candidate]) -> Self {
        let slots: Vec<Mutex<Option<PolicyReport>>> =
            candidates.iter().map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let workers = std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(candidates.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(candidate) = candidates.get(index) else {
                        break;
                    };
                    let report = replay(trace, candidate);
                    *slots[index].lock().unwrap_or_else(|e| e.into_inner()) = Some(report);
                });
            }
        });
        let reports = slots
            .into_iter()
            .filter_map(|slot| slot.into_inner().unwrap_or_else(|e| e.into_inner()))
            .collect();
        Self::from_reports(reports)
    }

    /// An evaluation of reports measured elsewhere; marks their Pareto front.
    #[must_use]
    pub(crate) fn from_reports(mut reports: Vec<PolicyReport>) -> Self {
        let points: Vec<(Duration, f64)> = reports
            .iter()
            .map(|r| (r.delay_p99(), r.chunks_per_second()))
            .collect();
        for (report, &(delay, rate)) in reports.iter_mut().zip(&points) {
            report.on_front = !points.iter().any(|&(other_delay, other_rate)| {
                other_delay <= delay
                    && other_rate <= rate
                    && (other_delay < delay || other_rate < rate)
            });
        }
        Self { reports }
    }

    #[cfg(test)]
    /// The reports, in the order of the candidates.
    #[must_use]
    pub(crate) fn reports(&self) -> &[PolicyReport] {
        &self.reports
    }

    /// The policy with the fewest chunks per second whose p99 added delay is at most
    /// `max_p99` (ties: the lower p99); `None` if no policy meets it.
    #[must_use]
    pub(crate) fn recommend(&self, max_p99: Duration) -> Option<&PolicyReport> {
        self.reports
            .iter()
            .filter(|report| report.delay_p99() <= max_p99)
            .min_by(|a, b| {
                a.chunks_per_second()
                    .total_cmp(&b.chunks_per_second())
                    .then(a.delay_p99().cmp(&b.delay_p99()))
            })
    }

    /// A plain-text table: one row per policy, `*` on the Pareto front.
    #[must_use]
    pub(crate) fn table(&self) -> String {
        let width = self
            .reports
            .iter()
            .map(|r| r.name().len())
            .max()
            .unwrap_or(6)
            .max(6);
        let mut out = format!(
            "  {:<width$}  {:>9}  {:>9}  {:>9}  {:>11}  {:>9}  {:>11}  {:>11}\n",
            "policy", "p50", "p99", "max", "first token", "chunks/s", "tokens/chk", "SSE B/token"
        );
        for report in &self.reports {
            let _ = writeln!(
                out,
                "{} {:<width$}  {:>9}  {:>9}  {:>9}  {:>11}  {:>9.1}  {:>11.2}  {:>11.1}",
                if report.on_front() { '*' } else { ' ' },
                report.name(),
                human(report.delay_p50()),
                human(report.delay_p99()),
                human(report.delay_max()),
                human(report.first_token_delay()),
                report.chunks_per_second(),
                report.tokens_per_chunk(),
                report.sse_bytes_per_token(),
            );
        }
        out.push_str("  (* on the Pareto front: no other policy is both faster and writes less)\n");
        out
    }

    /// An SVG plot of added delay (p99) against chunks per second, one point per policy, the
    /// Pareto front highlighted, with `max_p99` drawn as a line and the recommendation ringed.
    #[must_use]
    pub(crate) fn svg(&self, title: &str, max_p99: Option<Duration>) -> String {
        let recommended = max_p99
            .and_then(|max| self.recommend(max))
            .map(PolicyReport::name);
        plot::svg(title, &self.reports, max_p99, recommended)
    }
}

/// A duration for people: `0 ms`, `12.5 ms`, `1.20 s`.
pub(super) fn human(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1e3;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1e3)
    } else if ms >= 10.0 || ms == 0.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}
