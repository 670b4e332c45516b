use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::policy::{Coalesce, FixedBatch, FlushPolicy, Immediate, TimeBounded};

type Factory = dyn Fn() -> Box<dyn FlushPolicy + Send> + Send + Sync;

/// A policy to try, by name: the harness builds a fresh one for each replay.
///
/// # Examples
///
/// ```
/// use tokenflush::policy::FixedBatch;
/// use tokenflush::tune::Candidate;
///
/// let candidate = Candidate::new("FixedBatch(12)", || FixedBatch::new(12));
/// assert_eq!(candidate.name(), "FixedBatch(12)");
/// ```
#[derive(Clone)]
pub struct Candidate {
    name: String,
    make: Arc<Factory>,
}

impl Candidate {
    /// A candidate named `name` whose policy `make` builds.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::policy::Immediate;
    /// use tokenflush::tune::Candidate;
    ///
    /// let candidate = Candidate::new("per token", Immediate::new);
    /// # let _ = candidate;
    /// ```
    pub fn new<P>(name: impl Into<String>, make: impl Fn() -> P + Send + Sync + 'static) -> Self
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
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A fresh policy.
    #[must_use]
    pub fn policy(&self) -> Box<dyn FlushPolicy + Send> {
        (self.make)()
    }

    /// The built-in policies over a grid of settings: `Immediate`; `Coalesce(64)`;
    /// `FixedBatch` of 4, 8, 16 and 25 tokens; `TimeBounded` of 2, 4, 8 and 16 tokens by 25, 50,
    /// 100 and 200 ms.
    ///
    /// # Examples
    ///
    /// ```
    /// let grid = tokenflush::tune::Candidate::grid();
    /// assert_eq!(grid.len(), 22);
    /// assert_eq!(grid[0].name(), "Immediate");
    /// assert!(grid.iter().any(|c| c.name() == "TimeBounded(4, 100ms)"));
    /// ```
    #[must_use]
    pub fn grid() -> Vec<Self> {
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
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::tune::Candidate;
    ///
    /// assert!(Candidate::parse("timebounded(4, 100ms)").is_some());
    /// assert!(Candidate::parse("FixedBatch(0)").is_none());
    /// assert_eq!(Candidate::parse("fixedbatch(8)").unwrap().name(), "FixedBatch(8)");
    /// ```
    #[must_use]
    pub fn parse(spec: &str) -> Option<Self> {
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
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokenflush::tune::parse_duration;
///
/// assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
/// assert_eq!(parse_duration("100 ms"), Some(Duration::from_millis(100)));
/// assert_eq!(parse_duration("fast"), None);
/// ```
#[must_use]
pub fn parse_duration(text: &str) -> Option<Duration> {
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
