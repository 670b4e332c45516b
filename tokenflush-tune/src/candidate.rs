use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokenflush::policy::{Coalesce, FixedBatch, FlushPolicy, Immediate, TimeBounded};

type Factory = dyn Fn() -> Box<dyn FlushPolicy + Send> + Send + Sync;

/// A policy to try, by name: the harness builds a fresh one for each replay.
#[derive(Clone)]
pub(crate) struct Candidate {
    name: String,
    make: Arc<Factory>,
}

impl Candidate {
    /// A candidate named `name` whose policy `make` builds.
    pub(crate) fn new<P>(
        name: impl Into<String>,
        make: impl Fn() -> P + Send + Sync + 'static,
    ) -> Self
    where
        P: FlushPolicy + Send + 'static,
    {
        Self {
            name: name.into(),
            make: Arc::new(move || Box::new(make())),
        }
    }

    /// The candidate's name, as the reports show it.
    #[must_use]
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// A fresh policy.
    #[must_use]
    pub(crate) fn policy(&self) -> Box<dyn FlushPolicy + Send> {
        (self.make)()
    }

    /// The built-in policies over a grid of settings: `Immediate`; `Coalesce(64)`;
    /// `FixedBatch` of 4, 8, 16 and 25 tokens; `TimeBounded` of 2, 4, 8 and 16 tokens by 25, 50,
    /// 100 and 200 ms.
    #[must_use]
    pub(crate) fn grid() -> Vec<Self> {
        let mut grid = vec![
            Self::new("Immediate", Immediate::new),
            Self::new("Coalesce(64)", || Coalesce::new(64)),
        ];
        for tokens in [4, 8, 16, 25] {
            grid.push(Self::new(format!("FixedBatch({tokens})"), move || {
                FixedBatch::new(tokens)
            }));
        }
        for tokens in [2, 4, 8, 16] {
            for millis in [25, 50, 100, 200] {
                grid.push(Self::new(
                    format!("TimeBounded({tokens}, {millis}ms)"),
                    move || TimeBounded::new(tokens, Duration::from_millis(millis)),
                ));
            }
        }
        grid
    }

    /// A built-in policy from its name as the reports print it: `Immediate`, `Coalesce(n)`,
    /// `FixedBatch(n)` or `TimeBounded(n, 100ms)` (latency in `ms` or `s`); case and spaces
    /// do not matter. `None` for anything else.
    #[must_use]
    pub(crate) fn parse(spec: &str) -> Option<Self> {
        let spec: String = spec.chars().filter(|c| !c.is_whitespace()).collect();
        let lower = spec.to_ascii_lowercase();
        if lower == "immediate" {
            return Some(Self::new("Immediate", Immediate::new));
        }
        let (kind, args) = lower.strip_suffix(')')?.split_once('(')?;
        match kind {
            "coalesce" => {
                let tokens: usize = args.parse().ok()?;
                let policy = Coalesce::try_new(tokens).ok()?;
                Some(Self::new(format!("Coalesce({tokens})"), move || policy))
            }
            "fixedbatch" => {
                let tokens: usize = args.parse().ok()?;
                let policy = FixedBatch::try_new(tokens).ok()?;
                Some(Self::new(format!("FixedBatch({tokens})"), move || policy))
            }
            "timebounded" => {
                let (tokens, latency) = args.split_once(',')?;
                let tokens: usize = tokens.parse().ok()?;
                let latency = parse_duration(latency)?;
                let policy = TimeBounded::try_new(tokens, latency).ok()?;
                Some(Self::new(
                    format!("TimeBounded({tokens}, {}ms)", latency.as_millis()),
                    move || policy,
                ))
            }
            _ => None,
        }
    }
}

/// Parses a duration as the reports and the command line write it: `100ms`, `1.5s`, `250us`.
#[must_use]
pub(crate) fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, scale) = if let Some(number) = text.strip_suffix("ms") {
        (number, 1e-3)
    } else if let Some(number) = text.strip_suffix("us") {
        (number, 1e-6)
    } else if let Some(number) = text.strip_suffix('s') {
        (number, 1.0)
    } else {
        return None;
    };
    let number: f64 = number.trim().parse().ok()?;
    Duration::try_from_secs_f64(number * scale).ok()
}

impl fmt::Debug for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Candidate")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}
