//! [`Candidate`]: a policy to try, named in the tool's small grammar.
//!
//! | spec | policy |
//! |---|---|
//! | `immediate` | `Immediate::new()` |
//! | `fixed-batch:N` | `FixedBatch::new(N)` |
//! | `coalesce:N` | `Coalesce::new(N)` |
//! | `time-bounded:N:D` | `TimeBounded::new(N, D)` |
//! | `time-bounded:N:D:anticipate` | `TimeBounded::new(N, D).with_anticipation(true)` |
//! | `adaptive:D` or `adaptive:D:N` | `Adaptive::new(D)`, `.with_max_tokens(N)` (64 by default) |
//! | `rules:RULE,RULE,…` | `Rules::new()` with `tokens=N`, `bytes=N`, `word`, `sentence`, `line`, and a duration `D` (the age bound) |
//!
//! `D` is a duration with its unit: `80ms`, `1.5s`, `250us`. Case, spaces and `_` for `-` do
//! not matter; the reports print the canonical form, which parses back to the same policy.

use std::fmt;
use std::num::NonZeroUsize;
use std::time::Duration;

use tokenflush::policy::{
    Adaptive, Boundary, Coalesce, FixedBatch, FlushPolicy, Immediate, Rules, TimeBounded,
};

/// The grammar, as `--help` and error messages show it.
pub(crate) const GRAMMAR: &str = "\
policies: immediate | fixed-batch:N | coalesce:N | time-bounded:N:D[:anticipate]
          | adaptive:D[:N] | rules:RULE,... (RULE: tokens=N, bytes=N, word, sentence, line, D)
          D is a duration with its unit: 80ms, 1.5s, 250us";

/// `Adaptive`'s own default for the most tokens a chunk grows to.
const ADAPTIVE_MAX_TOKENS: usize = 64;

/// A policy to try, by name: each replay builds a fresh one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Candidate {
    /// `Immediate::new()`.
    Immediate,
    /// `FixedBatch::new(n)`.
    FixedBatch(NonZeroUsize),
    /// `Coalesce::new(n)`.
    Coalesce(NonZeroUsize),
    /// `TimeBounded::new(tokens, latency)`, anticipating or not.
    TimeBounded {
        tokens: NonZeroUsize,
        latency: Duration,
        anticipate: bool,
    },
    /// `Adaptive::new(latency).with_max_tokens(tokens)`.
    Adaptive {
        latency: Duration,
        tokens: NonZeroUsize,
    },
    /// `Rules::new()` with these rules.
    Rules(RuleSet),
}

/// The rules of a [`Candidate::Rules`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RuleSet {
    tokens: Option<NonZeroUsize>,
    bytes: Option<NonZeroUsize>,
    boundary: Option<Boundary>,
    latency: Option<Duration>,
}

/// A spec the grammar does not accept.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum SpecError {
    /// The part before the first `:` names no policy.
    #[error("unknown policy `{0}`: expected immediate, fixed-batch, coalesce, time-bounded, adaptive or rules")]
    UnknownPolicy(String),
    /// The policy is known but its settings are not.
    #[error("`{spec}`: {reason} (as in `{example}`)")]
    Settings {
        /// The spec as given.
        spec: String,
        /// What is wrong.
        reason: String,
        /// A spec of that policy that works.
        example: &'static str,
    },
}

impl Candidate {
    /// Parses a spec of the grammar in the module's table.
    ///
    /// # Errors
    ///
    /// [`SpecError`] naming what is wrong and showing a spec that works.
    pub(crate) fn parse(spec: &str) -> Result<Self, SpecError> {
        let normal: String = spec
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(|c| {
                if c == '_' {
                    '-'
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect();
        let mut parts = normal.split(':');
        let kind = parts.next().unwrap_or_default();
        let args: Vec<&str> = parts.collect();
        let fail = |reason: String, example: &'static str| SpecError::Settings {
            spec: spec.to_owned(),
            reason,
            example,
        };
        let count = |text: &str, example| {
            text.parse::<usize>()
                .ok()
                .and_then(NonZeroUsize::new)
                .ok_or_else(|| fail(format!("`{text}` is not a count of at least 1"), example))
        };
        let duration = |text: &str, example| parse_duration(text).map_err(|e| fail(e, example));
        match (kind, args.as_slice()) {
            ("immediate", []) => Ok(Self::Immediate),
            ("immediate", _) => Err(fail("takes no settings".into(), "immediate")),
            ("fixed-batch", [n]) => Ok(Self::FixedBatch(count(n, "fixed-batch:16")?)),
            ("fixed-batch", _) => Err(fail("needs a token count".into(), "fixed-batch:16")),
            ("coalesce", [n]) => Ok(Self::Coalesce(count(n, "coalesce:64")?)),
            ("coalesce", _) => Err(fail("needs a token count".into(), "coalesce:64")),
            ("time-bounded", [n, d, rest @ ..]) => {
                const EXAMPLE: &str = "time-bounded:4:50ms:anticipate";
                let anticipate = match rest {
                    [] => false,
                    ["anticipate"] => true,
                    _ => {
                        return Err(fail(
                            "only `anticipate` may follow the latency".into(),
                            EXAMPLE,
                        ))
                    }
                };
                Ok(Self::TimeBounded {
                    tokens: count(n, EXAMPLE)?,
                    latency: duration(d, EXAMPLE)?,
                    anticipate,
                })
            }
            ("time-bounded", _) => Err(fail(
                "needs a token count and a latency".into(),
                "time-bounded:8:80ms",
            )),
            ("adaptive", [d]) => Ok(Self::Adaptive {
                latency: duration(d, "adaptive:100ms")?,
                tokens: NonZeroUsize::new(ADAPTIVE_MAX_TOKENS).unwrap_or(NonZeroUsize::MIN),
            }),
            ("adaptive", [d, n]) => Ok(Self::Adaptive {
                latency: duration(d, "adaptive:100ms:32")?,
                tokens: count(n, "adaptive:100ms:32")?,
            }),
            ("adaptive", _) => Err(fail(
                "needs a latency, then optionally a token count".into(),
                "adaptive:100ms",
            )),
            ("rules", [rules]) => {
                const EXAMPLE: &str = "rules:tokens=4,sentence,100ms";
                let mut set = RuleSet::default();
                for rule in rules.split(',').filter(|rule| !rule.is_empty()) {
                    let twice = || fail(format!("`{rule}` repeats a rule"), EXAMPLE);
                    if let Some(n) = rule.strip_prefix("tokens=") {
                        set.tokens
                            .replace(count(n, EXAMPLE)?)
                            .map_or(Ok(()), |_| Err(twice()))?;
                    } else if let Some(n) = rule.strip_prefix("bytes=") {
                        set.bytes
                            .replace(count(n, EXAMPLE)?)
                            .map_or(Ok(()), |_| Err(twice()))?;
                    } else if let Some(boundary) = match rule {
                        "word" => Some(Boundary::Word),
                        "sentence" => Some(Boundary::Sentence),
                        "line" => Some(Boundary::Line),
                        _ => None,
                    } {
                        set.boundary
                            .replace(boundary)
                            .map_or(Ok(()), |_| Err(twice()))?;
                    } else {
                        let latency = parse_duration(rule.strip_prefix("latency=").unwrap_or(rule))
                            .map_err(|_| {
                                fail(
                                    format!(
                                        "`{rule}` is not a rule: tokens=N, bytes=N, word, \
                                         sentence, line or a duration"
                                    ),
                                    EXAMPLE,
                                )
                            })?;
                        set.latency
                            .replace(latency)
                            .map_or(Ok(()), |_| Err(twice()))?;
                    }
                }
                if set == RuleSet::default() {
                    return Err(fail("needs at least one rule".into(), EXAMPLE));
                }
                Ok(Self::Rules(set))
            }
            ("rules", _) => Err(fail(
                "takes one comma-separated list of rules".into(),
                "rules:tokens=4,sentence,100ms",
            )),
            (other, _) => Err(SpecError::UnknownPolicy(other.to_owned())),
        }
    }

    /// A fresh policy.
    #[must_use]
    pub(crate) fn policy(&self) -> Box<dyn FlushPolicy + Send> {
        match *self {
            Self::Immediate => Box::new(Immediate::new()),
            Self::FixedBatch(n) => Box::new(FixedBatch::new(n.get())),
            Self::Coalesce(n) => Box::new(Coalesce::new(n.get())),
            Self::TimeBounded {
                tokens,
                latency,
                anticipate,
            } => Box::new(TimeBounded::new(tokens.get(), latency).with_anticipation(anticipate)),
            Self::Adaptive { latency, tokens } => {
                Box::new(Adaptive::new(latency).with_max_tokens(tokens.get()))
            }
            Self::Rules(ref set) => {
                let mut rules = Rules::new();
                if let Some(n) = set.tokens {
                    rules = rules.max_tokens(n.get());
                }
                if let Some(n) = set.bytes {
                    rules = rules.max_bytes(n.get());
                }
                if let Some(boundary) = set.boundary {
                    rules = rules.at(boundary);
                }
                if let Some(latency) = set.latency {
                    rules = rules.max_latency(latency);
                }
                Box::new(rules)
            }
        }
    }

    /// The Rust expression that builds this policy, to paste into a server.
    #[must_use]
    pub(crate) fn rust(&self) -> String {
        match *self {
            Self::Immediate => "Immediate::new()".to_owned(),
            Self::FixedBatch(n) => format!("FixedBatch::new({n})"),
            Self::Coalesce(n) => format!("Coalesce::new({n})"),
            Self::TimeBounded {
                tokens,
                latency,
                anticipate,
            } => format!(
                "TimeBounded::new({tokens}, {}){}",
                rust_duration(latency),
                if anticipate {
                    ".with_anticipation(true)"
                } else {
                    ""
                }
            ),
            Self::Adaptive { latency, tokens } => {
                let mut code = format!("Adaptive::new({})", rust_duration(latency));
                if tokens.get() != ADAPTIVE_MAX_TOKENS {
                    code.push_str(&format!(".with_max_tokens({tokens})"));
                }
                code
            }
            Self::Rules(ref set) => {
                let mut code = "Rules::new()".to_owned();
                if let Some(n) = set.tokens {
                    code.push_str(&format!(".max_tokens({n})"));
                }
                if let Some(n) = set.bytes {
                    code.push_str(&format!(".max_bytes({n})"));
                }
                if let Some(boundary) = set.boundary {
                    code.push_str(&format!(".at(Boundary::{boundary:?})"));
                }
                if let Some(latency) = set.latency {
                    code.push_str(&format!(".max_latency({})", rust_duration(latency)));
                }
                code
            }
        }
    }

    /// The built-in grid: every policy of the library over settings that matter for serving
    /// people — 47 candidates.
    #[must_use]
    pub(crate) fn grid() -> Vec<Self> {
        let parse = |spec: String| Self::parse(&spec).unwrap_or(Self::Immediate);
        let mut grid = vec![Self::Immediate];
        grid.extend(["coalesce:16", "coalesce:64"].map(|s| parse(s.into())));
        grid.extend([4, 8, 16, 25].map(|n| parse(format!("fixed-batch:{n}"))));
        for anticipate in ["", ":anticipate"] {
            for n in [2, 4, 8, 16] {
                for d in [25, 50, 100, 200] {
                    grid.push(parse(format!("time-bounded:{n}:{d}ms{anticipate}")));
                }
            }
        }
        grid.extend([25, 50, 100, 200].map(|d| parse(format!("adaptive:{d}ms"))));
        grid.extend(
            [
                "rules:tokens=16,word,50ms",
                "rules:tokens=16,word,100ms",
                "rules:tokens=32,sentence,100ms",
                "rules:tokens=32,sentence,200ms",
            ]
            .map(|s| parse(s.into())),
        );
        grid
    }
}

impl fmt::Display for Candidate {
    /// The canonical spec.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Immediate => f.write_str("immediate"),
            Self::FixedBatch(n) => write!(f, "fixed-batch:{n}"),
            Self::Coalesce(n) => write!(f, "coalesce:{n}"),
            Self::TimeBounded {
                tokens,
                latency,
                anticipate,
            } => {
                write!(f, "time-bounded:{tokens}:{}", spec_duration(latency))?;
                if anticipate {
                    f.write_str(":anticipate")?;
                }
                Ok(())
            }
            Self::Adaptive { latency, tokens } => {
                write!(f, "adaptive:{}", spec_duration(latency))?;
                if tokens.get() != ADAPTIVE_MAX_TOKENS {
                    write!(f, ":{tokens}")?;
                }
                Ok(())
            }
            Self::Rules(ref set) => {
                let mut rules = Vec::new();
                if let Some(n) = set.tokens {
                    rules.push(format!("tokens={n}"));
                }
                if let Some(n) = set.bytes {
                    rules.push(format!("bytes={n}"));
                }
                if let Some(boundary) = set.boundary {
                    rules.push(format!("{boundary:?}").to_ascii_lowercase());
                }
                if let Some(latency) = set.latency {
                    rules.push(spec_duration(latency));
                }
                write!(f, "rules:{}", rules.join(","))
            }
        }
    }
}

/// Parses a duration with its unit: `100ms`, `1.5s`, `250us` (or `µs`), `0s`.
///
/// # Errors
///
/// A message saying what a duration looks like.
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let units: [(&str, f64); 5] = [
        ("ms", 1e-3),
        ("us", 1e-6),
        ("µs", 1e-6),
        ("ns", 1e-9),
        ("s", 1.0),
    ];
    let bad = || format!("`{text}` is not a duration with its unit, such as 100ms, 1.5s or 250us");
    let (number, scale) = units
        .iter()
        .find_map(|&(unit, scale)| text.strip_suffix(unit).map(|number| (number, scale)))
        .ok_or_else(bad)?;
    let number: f64 = number.trim().parse().map_err(|_| bad())?;
    if !number.is_finite() {
        return Err(bad());
    }
    // Whole units are exact; fractions round to the nanosecond.
    Duration::try_from_secs_f64(number * scale).map_err(|_| bad())
}

/// A duration as the grammar writes it: the largest unit that keeps it whole.
fn spec_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        "0ms".to_owned()
    } else if nanos % 1_000_000_000 == 0 {
        format!("{}s", d.as_secs())
    } else if nanos % 1_000_000 == 0 {
        format!("{}ms", d.as_millis())
    } else if nanos % 1_000 == 0 {
        format!("{}us", d.as_micros())
    } else {
        format!("{nanos}ns")
    }
}

/// A duration as Rust code writes it.
fn rust_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos != 0 && nanos % 1_000_000_000 == 0 {
        format!("Duration::from_secs({})", d.as_secs())
    } else if nanos % 1_000_000 == 0 {
        format!("Duration::from_millis({})", d.as_millis())
    } else if nanos % 1_000 == 0 {
        format!("Duration::from_micros({})", d.as_micros())
    } else {
        format!("Duration::from_nanos({nanos})")
    }
}
