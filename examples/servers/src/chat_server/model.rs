//! The simulated model: a deterministic answer, cut into tokens the way a byte-fallback
//! tokenizer cuts text (characters outside ASCII arrive as pieces of their UTF-8 bytes), and
//! emitted at a configurable speed with seeded jitter. Nothing to download.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, Stream};
use serde::{Deserialize, Serialize};

use crate::jitter;
use jitter::Jitter;

/// What the model says after echoing the question. Multi-byte text on purpose: accents,
/// CJK, emoji (4-byte), typographic quotes and a line break.
const ANSWER: &str = "Text from a model reaches you through a chain of buffers: the \
server loop, the runtime, proxies such as nginx, and the browser. When the server holds \
25 tokens before it writes, a slow model leaves you staring at nothing for seconds, then \
dumps a paragraph at once. Flushing every token fixes the lag but costs one event and one \
write per token. A time bound is the middle way: at most four tokens per write, and no \
token waits longer than 100 ms.\nCafé, naïve, façade, 日本語のテキスト, emoji 🚀✨ and \
“quotes” all arrive whole: no chunk ever splits a character.";

/// How fast the model talks.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Simulation {
    /// Average tokens per second.
    pub tokens_per_second: f64,
    /// How much each gap varies, from 0 (a metronome) to 1 (anywhere between 0 and twice
    /// the average).
    pub jitter: f64,
    /// Time before the first token (prompt processing), in milliseconds.
    pub first_token_ms: u64,
    /// Seed of the jitter: the same seed gives the same gaps.
    pub seed: u64,
    /// Fail after this many tokens, as a model server that crashes mid-answer does.
    pub fail_after: Option<usize>,
}

impl Default for Simulation {
    fn default() -> Self {
        Self {
            tokens_per_second: 8.0,
            jitter: 0.6,
            first_token_ms: 300,
            seed: 1,
            fail_after: None,
        }
    }
}

impl Simulation {
    /// Why these settings cannot run, if they cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.tokens_per_second > 0.0 && self.tokens_per_second <= 100_000.0) {
            return Err("simulation.tokens_per_second must be in (0, 100000]".into());
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err("simulation.jitter must be in [0, 1]".into());
        }
        if self.first_token_ms > 60_000 {
            return Err("simulation.first_token_ms must be at most 60000".into());
        }
        Ok(())
    }

    /// The gap before each of `count` tokens: the first token's delay, then jittered gaps.
    pub fn gaps(&self, count: usize) -> Vec<Duration> {
        let mut random = Jitter::new(self.seed);
        let average = 1.0 / self.tokens_per_second;
        (0..count)
            .map(|index| {
                let jitter = (random.next_unit() * 2.0 - 1.0) * self.jitter;
                let gap = Duration::from_secs_f64(average * (1.0 + jitter));
                if index == 0 {
                    Duration::from_millis(self.first_token_ms) + gap
                } else {
                    gap
                }
            })
            .collect()
    }
}

/// The whole answer to `prompt`: the question echoed, then the fixed text.
pub fn answer(prompt: &str) -> String {
    format!("You asked: «{}».\n{ANSWER}", prompt.trim())
}

/// `text` cut into tokens: words with their leading spaces, punctuation alone, and each
/// character outside ASCII as two byte pieces (its first byte, then the rest), which are not
/// valid UTF-8 alone. The tokens concatenate to exactly `text`.
pub fn tokenize(text: &str) -> Vec<Bytes> {
    let mut tokens = Vec::new();
    let mut word = String::new();
    for character in text.chars() {
        if character.is_ascii_alphanumeric() {
            word.push(character);
            continue;
        }
        if character == ' ' && word.trim_start().is_empty() {
            // Spaces run into the next word.
            word.push(character);
            continue;
        }
        if !word.is_empty() {
            tokens.push(Bytes::from(std::mem::take(&mut word)));
        }
        if character == ' ' {
            word.push(character);
        } else if character.is_ascii() {
            tokens.push(Bytes::from(character.to_string()));
        } else {
            let mut utf8 = [0; 4];
            let bytes = character.encode_utf8(&mut utf8).as_bytes();
            tokens.push(Bytes::copy_from_slice(&bytes[..1]));
            tokens.push(Bytes::copy_from_slice(&bytes[1..]));
        }
    }
    if !word.is_empty() {
        tokens.push(Bytes::from(word));
    }
    tokens
}

/// The first `max_tokens` tokens, plus the pieces that complete a character cut there, and
/// whether the answer was cut (the finish reason `length`).
pub fn truncate(mut tokens: Vec<Bytes>, max_tokens: Option<usize>) -> (Vec<Bytes>, bool) {
    let Some(max) = max_tokens else {
        return (tokens, false);
    };
    let mut keep = max.min(tokens.len());
    // A piece that starts with a continuation byte belongs to the character before it.
    while keep < tokens.len() && tokens[keep].first().is_some_and(|byte| byte & 0xC0 == 0x80) {
        keep += 1;
    }
    let cut = keep < tokens.len();
    tokens.truncate(keep);
    (tokens, cut)
}

/// The simulated model failed (see [`Simulation::fail_after`]).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the simulated model failed after {0} tokens")]
pub struct ModelError(pub usize);

/// How many generations are running, and how they ended; shared by the server's requests.
#[derive(Debug, Default)]
pub struct Generations {
    running: AtomicUsize,
    completed: AtomicUsize,
    abandoned: AtomicUsize,
}

impl Generations {
    /// Generations still producing tokens.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    /// Generations that ended on their own: every token sent, or a simulated failure.
    pub fn completed(&self) -> usize {
        self.completed.load(Ordering::SeqCst)
    }

    /// Generations stopped early because their reader went away.
    pub fn abandoned(&self) -> usize {
        self.abandoned.load(Ordering::SeqCst)
    }
}

/// Counts one running generation; when dropped (the stream ended or was dropped), records
/// how it ended.
struct Running {
    generations: Arc<Generations>,
    id: String,
    emitted: usize,
    total: usize,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.generations.running.fetch_sub(1, Ordering::SeqCst);
        if self.emitted == self.total {
            self.generations.completed.fetch_add(1, Ordering::SeqCst);
        } else {
            self.generations.abandoned.fetch_add(1, Ordering::SeqCst);
            eprintln!(
                "model: {} stopped after {} of {} tokens: its reader went away",
                self.id, self.emitted, self.total
            );
        }
    }
}

/// Generates `tokens` at the simulation's speed, as a model client streams them: each token
/// after its gap, then the end, or [`ModelError`] at `fail_after`. Dropping the stream stops
/// the generation.
pub fn generate(
    id: String,
    tokens: Vec<Bytes>,
    simulation: &Simulation,
    generations: &Arc<Generations>,
) -> impl Stream<Item = Result<Bytes, ModelError>> + Send + 'static {
    let gaps = simulation.gaps(tokens.len());
    let fail_after = simulation.fail_after;
    generations.running.fetch_add(1, Ordering::SeqCst);
    let running = Running {
        generations: Arc::clone(generations),
        id,
        emitted: 0,
        total: tokens.len(),
    };
    let steps = tokens.into_iter().zip(gaps);
    stream::unfold(
        (steps, running, false),
        move |(mut steps, mut running, failed)| async move {
            if failed {
                return None;
            }
            if fail_after == Some(running.emitted) {
                let error = ModelError(running.emitted);
                // Nothing more will come: the generation counts as stopped where it failed.
                running.total = running.emitted;
                return Some((Err(error), (steps, running, true)));
            }
            let (token, gap) = steps.next()?;
            tokio::time::sleep(gap).await;
            running.emitted += 1;
            Some((Ok(token), (steps, running, false)))
        },
    )
}
