//! The simulated model: a deterministic answer, cut into tokens the way a byte-fallback
//! tokenizer cuts text (characters outside ASCII arrive as pieces of their UTF-8 bytes), and
//! emitted at a configurable speed with seeded jitter, as typed items: reasoning when asked,
//! the answer, a tool call when the request offers tools, then the finish reason and usage.
//! Nothing to download.
//!
//! Everything a request can make it do is bounded: the question is echoed only up to
//! [`MAX_ECHO_CHARS`], so the answer has at most [`MAX_OUTPUT_TOKENS`] tokens whatever the
//! prompt; counting the prompt's tokens (the usage's input tokens) holds none of them; the
//! speed is checked to a finite range ([`Simulation::validate`]), so no gap is longer than
//! two seconds and no answer longer than a minute plus [`MAX_OUTPUT_TOKENS`] such gaps.

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{self, Stream};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokenflush::llm::{FinishReason, Item, ToolCall, Usage};

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

/// What the model thinks first, when a request asks for reasoning.
const REASONING: &str = "The question is about streamed text that arrives late. Explain the \
buffers between the model and the reader, then the fix: a bound on how long a token waits — \
short, concrete, «no jargon».";

/// The most characters of the question the answer echoes; a longer one is cut there and
/// marked with `…`.
pub const MAX_ECHO_CHARS: usize = 200;

/// The most output tokens of any answer: reasoning, text and tool call together (the longest
/// is well below it; `max_tokens` may lower it).
pub const MAX_OUTPUT_TOKENS: usize = 1024;

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

/// The slowest speed a request may ask for, in tokens per second.
pub const MIN_TOKENS_PER_SECOND: f64 = 1.0;
/// The fastest speed a request may ask for, in tokens per second.
pub const MAX_TOKENS_PER_SECOND: f64 = 100_000.0;
/// The longest a request may have the model think before its first token, in milliseconds.
pub const MAX_FIRST_TOKEN_MS: u64 = 60_000;

impl Simulation {
    /// Why these settings cannot run, if they cannot: every field within a finite range.
    pub fn validate(&self) -> Result<(), String> {
        if !(MIN_TOKENS_PER_SECOND..=MAX_TOKENS_PER_SECOND).contains(&self.tokens_per_second) {
            return Err(format!(
                "simulation.tokens_per_second must be in [{MIN_TOKENS_PER_SECOND}, {MAX_TOKENS_PER_SECOND}]"
            ));
        }
        if !(0.0..=1.0).contains(&self.jitter) {
            return Err("simulation.jitter must be in [0, 1]".into());
        }
        if self.first_token_ms > MAX_FIRST_TOKEN_MS {
            return Err(format!(
                "simulation.first_token_ms must be at most {MAX_FIRST_TOKEN_MS}"
            ));
        }
        Ok(())
    }

    /// The gap before each of `count` tokens: the first token's delay, then jittered gaps.
    /// Valid settings ([`validate`](Self::validate)) give gaps of at most two seconds.
    pub fn gaps(&self, count: usize) -> Vec<Duration> {
        let mut random = Jitter::new(self.seed);
        let average = 1.0 / self.tokens_per_second;
        (0..count)
            .map(|index| {
                let jitter = (random.next_unit() * 2.0 - 1.0) * self.jitter;
                // Checked, not `from_secs_f64`: settings that skipped `validate` get a long
                // gap, never a panic.
                let gap = Duration::try_from_secs_f64(average * (1.0 + jitter))
                    .unwrap_or(Duration::from_secs(2));
                if index == 0 {
                    Duration::from_millis(self.first_token_ms) + gap
                } else {
                    gap
                }
            })
            .collect()
    }
}

/// The question as the answer echoes it: trimmed, and cut at [`MAX_ECHO_CHARS`] characters.
fn echo(prompt: &str) -> String {
    let prompt = prompt.trim();
    match prompt.char_indices().nth(MAX_ECHO_CHARS) {
        Some((cut, _)) => format!("{}…", &prompt[..cut]),
        None => prompt.to_owned(),
    }
}

/// The whole answer to `prompt`: the question echoed (up to [`MAX_ECHO_CHARS`]), then the
/// fixed text.
pub fn answer(prompt: &str) -> String {
    format!("You asked: «{}».\n{ANSWER}", echo(prompt))
}

/// The reasoning before the answer, when a request asks for it.
pub fn reasoning() -> &'static str {
    REASONING
}

/// The text before a call of `tool`: the question echoed, then what the model will do.
pub fn tool_preamble(prompt: &str, tool: &str) -> String {
    format!("You asked: «{}». Let me call {tool}.", echo(prompt))
}

/// A tool a request offers: its name and the JSON Schema of its arguments.
#[derive(Clone, Debug, PartialEq)]
pub struct Tool {
    pub name: String,
    pub parameters: Value,
}

/// The longest tool name, as OpenAI's and Anthropic's APIs allow it.
pub const MAX_TOOL_NAME: usize = 64;
/// The most tools a request may offer.
pub const MAX_TOOLS: usize = 128;
/// The most properties of a tool's schema the call fills in.
const MAX_ARGUMENTS: usize = 8;
/// The longest property name the call fills in (longer ones are left out).
const MAX_PROPERTY_NAME: usize = 64;

impl Tool {
    /// The tool, or why its name is not one the APIs accept (1 to 64 letters, digits, `_`,
    /// `-`).
    pub fn new(name: &str, parameters: Value) -> Result<Self, String> {
        let valid = !name.is_empty()
            && name.len() <= MAX_TOOL_NAME
            && name
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'-');
        if !valid {
            return Err(format!(
                "tool names are 1 to {MAX_TOOL_NAME} letters, digits, '_' or '-'"
            ));
        }
        Ok(Self {
            name: name.to_owned(),
            parameters,
        })
    }

    /// Plausible JSON arguments for a call: each property of the schema (up to eight, in
    /// name order) with a value of its type — the first of its `enum`, the question for a
    /// string, 1 for a number, `true`, `[]`, `{}`.
    pub fn arguments(&self, prompt: &str) -> String {
        let mut arguments = serde_json::Map::new();
        let properties = self.parameters.get("properties").and_then(Value::as_object);
        for (name, schema) in properties
            .into_iter()
            .flatten()
            .filter(|(name, _)| name.len() <= MAX_PROPERTY_NAME)
            .take(MAX_ARGUMENTS)
        {
            let value = match schema.get("enum").and_then(Value::as_array) {
                Some(values) if !values.is_empty() => values[0].clone(),
                _ => match schema.get("type").and_then(Value::as_str) {
                    Some("integer" | "number") => Value::from(1),
                    Some("boolean") => Value::Bool(true),
                    Some("array") => Value::Array(Vec::new()),
                    Some("object") => Value::Object(Default::default()),
                    Some("null") => Value::Null,
                    _ => Value::String(echo(prompt)),
                },
            };
            // An enum value is the client's JSON: keep only small ones.
            let value = if value.to_string().len() > 256 {
                Value::Null
            } else {
                value
            };
            arguments.insert(name.clone(), value);
        }
        Value::Object(arguments).to_string()
    }
}

/// What a request asks of the model, whichever API it came through.
#[derive(Clone, Debug, Default)]
pub struct Ask {
    /// The last user message's text.
    pub prompt: String,
    /// Whether the model reasons before it answers (chat: `reasoning_effort`; Responses:
    /// `reasoning`; Anthropic: `thinking`).
    pub reasoning: bool,
    /// The first tool the request offers: the model calls it.
    pub tool: Option<Tool>,
    /// The most output tokens: the answer is cut there (finish reason `length`).
    pub max_tokens: Option<usize>,
}

/// What the model will say: its token items, then why it stops and what it cost.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Reasoning and answer tokens (byte pieces), and tool-call fragments, in order.
    pub tokens: Vec<Item<Bytes>>,
    pub finish: FinishReason,
    pub usage: Usage,
}

/// The model's answer to `ask`, planned: reasoning tokens (if asked), the answer's tokens (a
/// short preamble instead when it calls a tool), the tool call's argument fragments, cut at
/// `max_tokens` (and [`MAX_OUTPUT_TOKENS`]).
///
/// `call_id` names the tool call.
pub fn plan(ask: &Ask, call_id: &str) -> Plan {
    let mut tokens = Vec::new();
    if ask.reasoning {
        tokens.extend(tokenize(reasoning()).into_iter().map(Item::Reasoning));
    }
    let content = match &ask.tool {
        Some(tool) => tool_preamble(&ask.prompt, &tool.name),
        None => answer(&ask.prompt),
    };
    tokens.extend(tokenize(&content).into_iter().map(Item::Content));
    if let Some(tool) = &ask.tool {
        let arguments = tool.arguments(&ask.prompt);
        let mut fragments = fragments(&arguments).into_iter();
        let first = fragments.next().unwrap_or_default();
        tokens.push(Item::ToolCall(
            ToolCall::new(0)
                .with_id(call_id)
                .with_name(&tool.name)
                .with_arguments(first),
        ));
        tokens.extend(
            fragments.map(|fragment| Item::ToolCall(ToolCall::new(0).with_arguments(fragment))),
        );
    }
    let max_tokens = ask
        .max_tokens
        .map_or(MAX_OUTPUT_TOKENS, |max| max.min(MAX_OUTPUT_TOKENS));
    let cut = truncate_items(&mut tokens, max_tokens);
    let finish = if cut {
        FinishReason::Length
    } else if ask.tool.is_some() {
        FinishReason::ToolCalls
    } else {
        FinishReason::Stop
    };
    let reasoning_tokens = tokens
        .iter()
        .filter(|item| matches!(item, Item::Reasoning(_)))
        .count();
    let mut usage = Usage::new(count_tokens(&ask.prompt) as u64, tokens.len() as u64);
    if ask.reasoning {
        usage = usage.with_reasoning_tokens(reasoning_tokens as u64);
    }
    Plan {
        tokens,
        finish,
        usage,
    }
}

/// JSON arguments in fragments of up to six characters, as models stream them.
fn fragments(arguments: &str) -> Vec<String> {
    let characters: Vec<char> = arguments.chars().collect();
    characters
        .chunks(6)
        .map(|piece| piece.iter().collect())
        .collect()
}

/// Calls `emit` with the byte range of each token of `text`: words with their leading spaces,
/// punctuation alone, and each character outside ASCII as two byte pieces (its first byte,
/// then the rest).
fn each_token(text: &str, mut emit: impl FnMut(Range<usize>)) {
    // The word being read: where it starts, and whether it has more than spaces yet.
    let mut word: Option<(usize, bool)> = None;
    for (at, character) in text.char_indices() {
        if character.is_ascii_alphanumeric() {
            match &mut word {
                Some((_, letters)) => *letters = true,
                None => word = Some((at, true)),
            }
            continue;
        }
        if character == ' ' && !word.is_some_and(|(_, letters)| letters) {
            // Spaces run into the next word.
            word.get_or_insert((at, false));
            continue;
        }
        if let Some((start, _)) = word.take() {
            emit(start..at);
        }
        if character == ' ' {
            word = Some((at, false));
        } else if character.is_ascii() {
            emit(at..at + 1);
        } else {
            emit(at..at + 1);
            emit(at + 1..at + character.len_utf8());
        }
    }
    if let Some((start, _)) = word {
        emit(start..text.len());
    }
}

/// `text` cut into tokens (see [`each_token`]), which are not all valid UTF-8 alone. The
/// tokens concatenate to exactly `text`.
pub fn tokenize(text: &str) -> Vec<Bytes> {
    let mut tokens = Vec::new();
    each_token(text, |range| {
        tokens.push(Bytes::copy_from_slice(&text.as_bytes()[range]))
    });
    tokens
}

/// How many tokens [`tokenize`] cuts `text` into, without holding them: linear in the text,
/// no allocation.
pub fn count_tokens(text: &str) -> usize {
    let mut count = 0;
    each_token(text, |_| count += 1);
    count
}

/// Whether a token is the rest of a character whose first byte is the token before.
fn continues(item: &Item<Bytes>) -> bool {
    item.text()
        .is_some_and(|token| token.first().is_some_and(|byte| byte & 0xC0 == 0x80))
}

/// Keeps the first `max` token items, plus the pieces that complete a character cut there;
/// whether anything was cut.
fn truncate_items(tokens: &mut Vec<Item<Bytes>>, max: usize) -> bool {
    let mut keep = max.min(tokens.len());
    while keep < tokens.len() && continues(&tokens[keep]) {
        keep += 1;
    }
    let cut = keep < tokens.len();
    tokens.truncate(keep);
    cut
}

/// The first `max_tokens` tokens, plus the pieces that complete a character cut there, and
/// whether the answer was cut (the finish reason `length`).
pub fn truncate(tokens: Vec<Bytes>, max_tokens: Option<usize>) -> (Vec<Bytes>, bool) {
    let Some(max) = max_tokens else {
        return (tokens, false);
    };
    let mut items: Vec<Item<Bytes>> = tokens.into_iter().map(Item::Content).collect();
    let cut = truncate_items(&mut items, max);
    let tokens = items
        .into_iter()
        .filter_map(|item| item.text().cloned())
        .collect();
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

/// Generates the plan at the simulation's speed, as a model client streams it: each token
/// item after its gap, then the finish reason and the usage, or [`ModelError`] at
/// `fail_after`. Dropping the stream stops the generation.
pub fn generate(
    id: String,
    plan: Plan,
    simulation: &Simulation,
    generations: &Arc<Generations>,
) -> impl Stream<Item = Result<Item<Bytes>, ModelError>> + Send + 'static {
    let Plan {
        tokens,
        finish,
        usage,
    } = plan;
    let gaps = simulation.gaps(tokens.len());
    let fail_after = simulation.fail_after;
    generations.running.fetch_add(1, Ordering::SeqCst);
    let running = Running {
        generations: Arc::clone(generations),
        id,
        emitted: 0,
        total: tokens.len(),
    };
    let steps = tokens.into_iter().zip(gaps.into_iter().map(Some));
    let ending = [(Item::Finish(finish), None), (Item::Usage(usage), None)];
    let steps = steps.chain(ending);
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
            let (item, gap) = steps.next()?;
            if let Some(gap) = gap {
                tokio::time::sleep(gap).await;
                running.emitted += 1;
            }
            Some((Ok(item), (steps, running, false)))
        },
    )
}
