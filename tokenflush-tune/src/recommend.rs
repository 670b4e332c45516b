//! The recommendation: which policy a person would sign for, and why.
//!
//! 1. **Limits.** A candidate qualifies when its p99 added delay, its largest added delay and
//!    its first token's added delay each stay *below* their target less the safety margin
//!    (zero delay always qualifies). The paused clock of the replay is exact; a real one is
//!    not: Tokio's timer rounds deadlines up to the next millisecond and a busy runtime wakes
//!    late (about 2 ms at p99 under the README's load test at 1,000 streams), so a policy that
//!    lands exactly on a target in the replay misses it in production. The default margin,
//!    5 ms, covers that with room to spare.
//! 2. **Fewest writes.** Among qualifying candidates, those within 5 % of the fewest chunks
//!    (writes, SSE events) are the shortlist: a few percent more writes cost little, a lower
//!    delay is seen by every reader.
//! 3. **Ties.** On the shortlist the lowest p50 wins, then the lowest first-token delay, then
//!    the fewest chunks, then the lowest p99, then the earlier candidate. Delays within
//!    [`TIE`] of each other count as equal: Tokio's timer has a 1 ms resolution, so smaller
//!    differences are where a tick fell, not the policy.
//!
//! The runner-up is what the same rules pick without the winner and without candidates whose
//! figures equal the winner's (the same policy under another name, in effect).

use std::time::Duration;

use crate::report::PolicyReport;

/// Delays closer than this are a tie (Tokio's timer resolution).
pub(crate) const TIE: Duration = Duration::from_millis(1);
/// The shortlist: candidates with at most this many percent more chunks than the fewest.
pub(crate) const WRITES_WINDOW_PERCENT: u64 = 5;
/// The default safety margin for the real clock.
pub(crate) const DEFAULT_MARGIN: Duration = Duration::from_millis(5);

/// What a recommendation must meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// The p99 added delay accepted.
    pub(crate) max_p99: Duration,
    /// The largest added delay accepted for any token.
    pub(crate) max_delay: Duration,
    /// The first token's added delay accepted.
    pub(crate) max_first_token: Duration,
    /// Taken off each target: what the real clock may add.
    pub(crate) margin: Duration,
}

/// A limit a candidate does not meet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Miss {
    P99,
    Max,
    FirstToken,
}

impl Miss {
    pub(crate) fn label(self) -> &'static str {
        match self {
            Self::P99 => "p99",
            Self::Max => "max",
            Self::FirstToken => "first",
        }
    }
}

impl Limits {
    /// Limits with the max and first-token targets derived from `max_p99` (twice it, and equal
    /// to it) and the default margin.
    pub(crate) fn from_p99(max_p99: Duration) -> Self {
        Self {
            max_p99,
            max_delay: max_p99.saturating_mul(2),
            max_first_token: max_p99,
            margin: DEFAULT_MARGIN,
        }
    }

    /// What a delay must stay below for `target`.
    pub(crate) fn bound(&self, target: Duration) -> Duration {
        target.saturating_sub(self.margin)
    }

    fn within(&self, delay: Duration, target: Duration) -> bool {
        delay.is_zero() || delay < self.bound(target)
    }

    /// The limits `report` misses; empty when it qualifies.
    pub(crate) fn misses(&self, report: &PolicyReport) -> Vec<Miss> {
        let mut misses = Vec::new();
        if !self.within(report.delay_p99(), self.max_p99) {
            misses.push(Miss::P99);
        }
        if !self.within(report.delay_max(), self.max_delay) {
            misses.push(Miss::Max);
        }
        if !self.within(report.first_token_delay(), self.max_first_token) {
            misses.push(Miss::FirstToken);
        }
        misses
    }

    /// One line: the bounds and where they come from.
    pub(crate) fn describe(&self) -> String {
        format!(
            "limits: p99 < {}, max < {}, first token < {} (targets {}, {}, {} less a {} margin for the real clock)",
            human(self.bound(self.max_p99)),
            human(self.bound(self.max_delay)),
            human(self.bound(self.max_first_token)),
            human(self.max_p99),
            human(self.max_delay),
            human(self.max_first_token),
            human(self.margin),
        )
    }
}

/// The pick and the reasons for it.
#[derive(Clone, Debug)]
pub(crate) struct Recommendation<'a> {
    /// The pick.
    pub(crate) winner: &'a PolicyReport,
    /// What the rules pick without the winner, if anything else qualifies.
    pub(crate) runner_up: Option<&'a PolicyReport>,
    /// Candidates whose figures equal the winner's.
    pub(crate) same_as_winner: Vec<&'a PolicyReport>,
    /// Why the winner won, in one line.
    pub(crate) why: String,
    /// What choosing the runner-up instead would cost, in one line.
    pub(crate) runner_up_costs: Option<String>,
}

/// Which rule separated the winner from the rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decided {
    Alone,
    Writes,
    P50,
    FirstToken,
    Rest,
}

/// The pick among `candidates` by the rules of this module, and the rule that decided.
fn pick<'a>(candidates: &[&'a PolicyReport]) -> Option<(&'a PolicyReport, Decided, usize)> {
    let fewest = candidates.iter().map(|r| r.chunks()).min()?;
    let mut shortlist: Vec<&PolicyReport> = candidates
        .iter()
        .copied()
        .filter(|r| r.chunks() * 100 <= fewest * (100 + WRITES_WINDOW_PERCENT))
        .collect();
    let on_shortlist = shortlist.len();
    let mut decided = if candidates.len() == 1 {
        Decided::Alone
    } else if on_shortlist == 1 {
        Decided::Writes
    } else {
        Decided::Rest
    };
    for (key, rule) in [
        (
            PolicyReport::delay_p50 as fn(&PolicyReport) -> Duration,
            Decided::P50,
        ),
        (PolicyReport::first_token_delay, Decided::FirstToken),
    ] {
        let best = shortlist.iter().map(|r| key(r)).min()?;
        let before = shortlist.len();
        shortlist.retain(|r| key(r) <= best + TIE);
        if before > 1 && shortlist.len() == 1 && decided == Decided::Rest {
            decided = rule;
        }
    }
    let winner = shortlist.iter().copied().min_by(|a, b| {
        a.chunks()
            .cmp(&b.chunks())
            .then(a.delay_p99().cmp(&b.delay_p99()))
    })?;
    Some((winner, decided, on_shortlist))
}

/// Whether two reports show the same figures (within [`TIE`] for delays).
fn same_figures(a: &PolicyReport, b: &PolicyReport) -> bool {
    let close = |x: Duration, y: Duration| x.abs_diff(y) <= TIE;
    a.chunks() == b.chunks()
        && close(a.delay_p50(), b.delay_p50())
        && close(a.delay_p99(), b.delay_p99())
        && close(a.delay_max(), b.delay_max())
        && close(a.first_token_delay(), b.first_token_delay())
}

/// The recommendation for `reports` under `limits`, or `None` when no candidate qualifies.
pub(crate) fn recommend<'a>(
    reports: &'a [PolicyReport],
    limits: &Limits,
) -> Option<Recommendation<'a>> {
    let qualified: Vec<&PolicyReport> = reports
        .iter()
        .filter(|r| limits.misses(r).is_empty())
        .collect();
    let (winner, _, on_shortlist) = pick(&qualified)?;
    let (same_as_winner, others): (Vec<&PolicyReport>, Vec<&PolicyReport>) = qualified
        .iter()
        .copied()
        .filter(|r| !std::ptr::eq(*r, winner))
        .partition(|r| same_figures(r, winner));
    let runner_up = pick(&others).map(|(r, _, _)| r);
    // The rule that decided, among candidates that differ from the winner.
    let distinct: Vec<&PolicyReport> = std::iter::once(winner)
        .chain(others.iter().copied())
        .collect();
    let decided = pick(&distinct).map_or(Decided::Alone, |(_, decided, _)| decided);
    let why = match decided {
        Decided::Alone if same_as_winner.is_empty() => format!(
            "why: the only candidate of {} within the limits",
            reports.len()
        ),
        Decided::Alone => format!(
            "why: the only figures within the limits, of {} candidates",
            reports.len()
        ),
        Decided::Writes => format!(
            "why: the fewest writes ({} chunks, {:.1}/s) of the {} candidates within the limits",
            winner.chunks(),
            winner.chunks_per_second(),
            qualified.len()
        ),
        Decided::P50 => format!(
            "why: the lowest p50 ({}) of the {on_shortlist} candidates within {WRITES_WINDOW_PERCENT} % of the fewest writes among the {} within the limits",
            human(winner.delay_p50()),
            qualified.len()
        ),
        Decided::FirstToken => format!(
            "why: of the {on_shortlist} candidates within {WRITES_WINDOW_PERCENT} % of the fewest writes among the {} within the limits, the lowest p50 ({}) shared, and the lowest first-token delay ({})",
            qualified.len(),
            human(winner.delay_p50()),
            human(winner.first_token_delay())
        ),
        Decided::Rest => format!(
            "why: among the {on_shortlist} candidates within {WRITES_WINDOW_PERCENT} % of the fewest writes (of {} within the limits), it ties on p50 ({}) and first-token delay ({}) and writes the least",
            qualified.len(),
            human(winner.delay_p50()),
            human(winner.first_token_delay())
        ),
    };
    let runner_up_costs = runner_up.map(|r| {
        let writes = (r.chunks() as f64 / winner.chunks().max(1) as f64 - 1.0) * 100.0;
        format!(
            "runner-up: {} — {} writes, p50 {}, p99 {}, max {}, first token {}",
            r.name(),
            signed_percent(writes),
            signed(r.delay_p50(), winner.delay_p50()),
            signed(r.delay_p99(), winner.delay_p99()),
            signed(r.delay_max(), winner.delay_max()),
            signed(r.first_token_delay(), winner.first_token_delay()),
        )
    });
    Some(Recommendation {
        winner,
        runner_up,
        same_as_winner,
        why,
        runner_up_costs,
    })
}

/// `+12 ms`, `−3.5 ms`, `±0 ms`: `value` against `base`.
fn signed(value: Duration, base: Duration) -> String {
    if value.abs_diff(base) < TIE {
        "±0 ms".to_owned()
    } else if value > base {
        format!("+{}", human(value - base))
    } else {
        format!("−{}", human(base - value))
    }
}

fn signed_percent(percent: f64) -> String {
    if percent.abs() < 0.05 {
        "±0 %".to_owned()
    } else if percent > 0.0 {
        format!("+{percent:.1} %")
    } else {
        format!("−{:.1} %", -percent)
    }
}

/// A duration for people: `0 ms`, `12.5 ms`, `1.20 s`.
pub(crate) fn human(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1e3;
    if ms >= 1000.0 {
        format!("{:.2} s", ms / 1e3)
    } else if ms >= 10.0 || duration.is_zero() {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.1} ms")
    }
}
