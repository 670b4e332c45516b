use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::candidate::Candidate;
use crate::recommend::{human, recommend, Limits, Recommendation};
use crate::replay::replay;
use crate::report::PolicyReport;
use crate::trace::Trace;

/// Every candidate replayed over one trace: the table, the Pareto front and the recommendation.
#[derive(Clone, Debug)]
pub(crate) struct Evaluation {
    reports: Vec<PolicyReport>,
}

impl Evaluation {
    /// Replays `trace` through every candidate, on all cores, and marks the Pareto front.
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

    /// An evaluation of reports measured elsewhere; marks their Pareto front of p99 added
    /// delay against chunks.
    #[must_use]
    pub(crate) fn from_reports(mut reports: Vec<PolicyReport>) -> Self {
        let points: Vec<_> = reports
            .iter()
            .map(|r| (r.delay_p99(), r.chunks()))
            .collect();
        for (report, &(delay, chunks)) in reports.iter_mut().zip(&points) {
            report.on_front = !points.iter().any(|&(other_delay, other_chunks)| {
                other_delay <= delay
                    && other_chunks <= chunks
                    && (other_delay < delay || other_chunks < chunks)
            });
        }
        Self { reports }
    }

    /// The reports, in the order of the candidates.
    #[must_use]
    pub(crate) fn reports(&self) -> &[PolicyReport] {
        &self.reports
    }

    /// The recommendation under `limits` (see [`crate::recommend`]).
    #[must_use]
    pub(crate) fn recommend(&self, limits: &Limits) -> Option<Recommendation<'_>> {
        recommend(&self.reports, limits)
    }

    /// A plain-text table: one row per policy, `*` on the Pareto front, and the limits each
    /// misses.
    #[must_use]
    pub(crate) fn table(&self, limits: &Limits) -> String {
        let width = self
            .reports
            .iter()
            .map(|r| r.name().chars().count())
            .max()
            .unwrap_or(6)
            .max(6);
        let mut out = format!(
            "  {:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}  {:>9}  {:>7}  {:>9}  {}\n",
            "policy",
            "p50",
            "p99",
            "max",
            "first",
            "chunks/s",
            "tok/chunk",
            "B/token",
            "timer/tok",
            "misses"
        );
        for report in &self.reports {
            let misses: Vec<&str> = limits.misses(report).iter().map(|m| m.label()).collect();
            let _ = writeln!(
                out,
                "{} {:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8.1}  {:>9.2}  {:>7.1}  {:>9.2}  {}",
                if report.on_front() { '*' } else { ' ' },
                report.name(),
                human(report.delay_p50()),
                human(report.delay_p99()),
                human(report.delay_max()),
                human(report.first_token_delay()),
                report.chunks_per_second(),
                report.tokens_per_chunk(),
                report.sse_bytes_per_token(),
                report.timer_fires_per_token(),
                if misses.is_empty() {
                    "-".to_owned()
                } else {
                    misses.join(",")
                },
            );
        }
        out.push_str(
            "  delays are added per token; * on the Pareto front: no other policy has both a lower \
             p99 and fewer chunks\n",
        );
        out
    }
}
