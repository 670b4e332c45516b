//! Each built-in policy's decisions, asked directly with hand-built buffer states: no stream,
//! no runtime. The adapter's side of the same rules is in `flush_with.rs` and `contract.rs`.

use std::time::Duration;

use tokenflush::policy::{
    Adaptive, Boundary, BufferState, Coalesce, Decision, FixedBatch, FlushPolicy, Rules,
    TimeBounded,
};
use tokenflush::{Chunk, FlushReason};
use tokio::time::Instant;

const MS: Duration = Duration::from_millis(1);

/// A buffer of `tokens` tokens of `text`, after the stream's first chunk, whose oldest text
/// arrived at `oldest` and which the policy sees at `now`.
fn later<'a>(text: &'a str, tokens: usize, oldest: Instant, now: Instant) -> BufferState<'a> {
    BufferState::new(text, tokens)
        .with_chunks_emitted(1)
        .with_oldest(oldest)
        .with_now(now)
}

/// A chunk of `tokens` tokens holding `text`, as the adapter reports a flush.
fn flushed(text: &str, tokens: usize) -> Chunk {
    Chunk::new(text).unwrap().with_token_count(tokens)
}

#[test]
fn earliest_is_the_decision_that_flushes_first() {
    let t0 = Instant::now();
    let soon = Decision::WaitUntil(t0 + 10 * MS);
    let late = Decision::WaitUntil(t0 + 20 * MS);
    let short = Decision::FlushUpTo(3, FlushReason::Boundary);
    let long = Decision::FlushUpTo(5, FlushReason::Size);
    let first = Decision::FlushAs(FlushReason::First);
    let cases = [
        (Decision::Wait, Decision::Wait, Decision::Wait),
        (Decision::Wait, soon, soon),
        (soon, Decision::Wait, soon),
        (late, soon, soon),
        (soon, late, soon),
        (soon, short, short),
        (short, late, short),
        (short, long, long),
        (long, short, long),
        (short, first, first),
        (first, long, first),
        (first, Decision::Flush, first),
        (Decision::Flush, first, Decision::Flush),
        (Decision::Wait, Decision::Flush, Decision::Flush),
    ];
    for (a, b, expected) in cases {
        assert_eq!(a.earliest(b), expected, "{a:?}.earliest({b:?})");
    }
    // Two partial flushes to the same place: the first wins, as of two whole flushes.
    let boundary = Decision::FlushUpTo(4, FlushReason::Boundary);
    let size = Decision::FlushUpTo(4, FlushReason::Size);
    assert_eq!(boundary.earliest(size), boundary);
    assert_eq!(size.earliest(boundary), size);
}

#[test]
fn is_flush_is_true_for_the_flushing_decisions_only() {
    let t0 = Instant::now();
    let flushing = [
        Decision::Flush,
        Decision::FlushAs(FlushReason::Idle),
        Decision::FlushUpTo(1, FlushReason::Boundary),
    ];
    assert!(flushing.iter().all(Decision::is_flush));
    assert!(!Decision::Wait.is_flush());
    assert!(!Decision::WaitUntil(t0).is_flush());
}

#[test]
fn accessors_return_the_configuration() {
    let policy = TimeBounded::new(7, 30 * MS);
    assert_eq!(policy.max_tokens(), 7);
    assert_eq!(policy.max_latency(), 30 * MS);
    assert!(policy.immediate_first());
    assert!(!policy.anticipation());
    let policy = policy.with_immediate_first(false).with_anticipation(true);
    assert!(!policy.immediate_first());
    assert!(policy.anticipation());
    assert_eq!((policy.max_tokens(), policy.max_latency()), (7, 30 * MS));
    assert_eq!(FixedBatch::new(5).max_tokens(), 5);
    assert_eq!(FixedBatch::try_new(6).unwrap().max_tokens(), 6);
    assert_eq!(Coalesce::new(9).max_tokens(), 9);
    assert_eq!(Coalesce::try_new(2).unwrap().max_tokens(), 2);
    assert_eq!(TimeBounded::try_new(3, MS).unwrap().max_tokens(), 3);
}

#[test]
fn fixed_batch_flushes_at_its_size_only() {
    let mut policy = FixedBatch::new(3);
    let idle = |tokens| BufferState::new("abc", tokens).with_upstream_idle(true);
    assert_eq!(policy.decide(&idle(2)), Decision::Wait);
    assert_eq!(policy.decide(&idle(3)), Decision::Flush);
    assert_eq!(policy.decide(&idle(4)), Decision::Flush);
}

#[test]
fn coalesce_flushes_at_its_size_or_when_upstream_is_idle() {
    let mut policy = Coalesce::new(3);
    let state = |tokens, idle| BufferState::new("abc", tokens).with_upstream_idle(idle);
    assert_eq!(policy.decide(&state(2, false)), Decision::Wait);
    assert_eq!(
        policy.decide(&state(2, true)),
        Decision::FlushAs(FlushReason::Idle)
    );
    assert_eq!(policy.decide(&state(3, false)), Decision::Flush);
}

#[test]
fn time_bounded_flushes_at_size_first_text_or_deadline() {
    let t0 = Instant::now();
    let mut policy = TimeBounded::new(4, 50 * MS);
    // The first text goes out at once, unless that is turned off.
    let first = BufferState::new("a", 1).with_oldest(t0).with_now(t0);
    assert_eq!(policy.decide(&first), Decision::FlushAs(FlushReason::First));
    let mut held = policy.with_immediate_first(false);
    assert_eq!(held.decide(&first), Decision::WaitUntil(t0 + 50 * MS));
    // Later text waits for its deadline, or for the size.
    let state = later("abc", 3, t0, t0 + 10 * MS);
    assert_eq!(policy.decide(&state), Decision::WaitUntil(t0 + 50 * MS));
    let state = later("abcd", 4, t0, t0 + 10 * MS);
    assert_eq!(policy.decide(&state), Decision::Flush);
    // Without an instant for the oldest text there is no deadline.
    let state = BufferState::new("abc", 3).with_chunks_emitted(1);
    assert_eq!(policy.decide(&state), Decision::Wait);
}

/// Shows `policy` one token arriving every `gap` from `start`, `tokens` in all, with upstream
/// busy; returns the instant of the last arrival.
fn arrivals(
    policy: &mut impl FlushPolicy,
    start: Instant,
    gap: Duration,
    tokens: usize,
) -> Instant {
    let text = "x".repeat(tokens);
    let mut now = start;
    for count in 1..=tokens {
        now = start + gap * u32::try_from(count - 1).unwrap();
        let _ = policy.decide(&later(&text[..count], count, start, now));
    }
    now
}

#[test]
fn time_bounded_anticipates_only_with_upstream_idle_and_the_next_token_late() {
    let t0 = Instant::now();
    // Tokens 20 ms apart: the next is due 20 ms after the last.
    let learned = |latency| {
        let mut policy = TimeBounded::new(16, latency).with_anticipation(true);
        let last = arrivals(&mut policy, t0, 20 * MS, 3);
        assert_eq!(last, t0 + 40 * MS);
        policy
    };
    let at_last = |idle| later("xxx", 3, t0, t0 + 40 * MS).with_upstream_idle(idle);
    // A 50 ms bound from 0 ms: the next token (60 ms) would miss it.
    let mut policy = learned(50 * MS);
    assert_eq!(
        policy.decide(&at_last(true)),
        Decision::FlushAs(FlushReason::Anticipated)
    );
    // While upstream is still busy the burst may not be over: wait.
    let mut policy = learned(50 * MS);
    assert_eq!(
        policy.decide(&at_last(false)),
        Decision::WaitUntil(t0 + 50 * MS)
    );
    // An 80 ms bound: the next token (60 ms) is expected in time.
    let mut policy = learned(80 * MS);
    assert_eq!(
        policy.decide(&at_last(true)),
        Decision::WaitUntil(t0 + 80 * MS)
    );
    // Due exactly at the deadline: it would add nothing to wait.
    let mut policy = learned(60 * MS);
    assert_eq!(
        policy.decide(&at_last(true)),
        Decision::FlushAs(FlushReason::Anticipated)
    );
    // Without anticipation the same pace changes nothing.
    let mut policy = TimeBounded::new(16, 50 * MS);
    arrivals(&mut policy, t0, 20 * MS, 3);
    assert_eq!(
        policy.decide(&at_last(true)),
        Decision::WaitUntil(t0 + 50 * MS)
    );
}

#[test]
fn time_bounded_counts_arrivals_again_after_a_flush() {
    let t0 = Instant::now();
    let mut policy = TimeBounded::new(16, 15 * MS).with_anticipation(true);
    // 0, 20, 40 ms: a 20 ms pace; the three tokens go out.
    arrivals(&mut policy, t0, 20 * MS, 3);
    policy.on_flush(&flushed("xxx", 3));
    // The next token, at 60 ms, is a new arrival: the one after it is due at 80 ms, after
    // this one's 75 ms deadline.
    let state = later("y", 1, t0 + 60 * MS, t0 + 60 * MS).with_upstream_idle(true);
    assert_eq!(
        policy.decide(&state),
        Decision::FlushAs(FlushReason::Anticipated)
    );
}

#[test]
fn adaptive_fills_a_chunk_with_what_arrives_in_half_its_bound() {
    let t0 = Instant::now();
    // 10 ms apart under a 100 ms bound: 50 ms / 10 ms = 5 tokens a chunk.
    let learned = || {
        let mut policy = Adaptive::new(100 * MS);
        arrivals(&mut policy, t0, 10 * MS, 5);
        policy
    };
    let at = |tokens, idle| {
        later(&"xxxxxxx"[..tokens], tokens, t0, t0 + 40 * MS).with_upstream_idle(idle)
    };
    assert_eq!(
        learned().decide(&at(4, true)),
        Decision::WaitUntil(t0 + 100 * MS)
    );
    assert_eq!(learned().decide(&at(5, true)), Decision::Flush);
    // While upstream is busy the burst goes on: wait for it, up to the deadline.
    assert_eq!(
        learned().decide(&at(5, false)),
        Decision::WaitUntil(t0 + 100 * MS)
    );
    assert_eq!(
        learned().decide(&at(6, false)),
        Decision::WaitUntil(t0 + 100 * MS)
    );
    // Without an instant for the oldest text there is no deadline.
    let state = BufferState::new("xx", 2).with_chunks_emitted(1);
    assert_eq!(learned().decide(&state), Decision::Wait);
}

#[test]
fn adaptive_flushes_a_full_chunk_even_while_upstream_is_busy() {
    let t0 = Instant::now();
    // Nothing learned yet: the target is the largest chunk.
    let mut policy = Adaptive::new(100 * MS).with_max_tokens(3);
    assert_eq!(
        policy.decide(&later("xx", 2, t0, t0)),
        Decision::WaitUntil(t0 + 100 * MS)
    );
    assert_eq!(policy.decide(&later("xxx", 3, t0, t0)), Decision::Flush);
    let mut policy = Adaptive::try_new(100 * MS, 2).unwrap();
    assert_eq!(policy.decide(&later("xx", 2, t0, t0)), Decision::Flush);
    let mut policy = Adaptive::new(100 * MS);
    let text = "x".repeat(64);
    assert_eq!(
        policy.decide(&later(&text[..63], 63, t0, t0)),
        Decision::WaitUntil(t0 + 100 * MS)
    );
    assert_eq!(policy.decide(&later(&text, 64, t0, t0)), Decision::Flush);
}

#[test]
fn adaptive_sends_the_first_text_at_once_unless_told_not_to() {
    let t0 = Instant::now();
    let first = BufferState::new("a", 1).with_oldest(t0).with_now(t0);
    assert_eq!(
        Adaptive::new(100 * MS).decide(&first),
        Decision::FlushAs(FlushReason::First)
    );
    assert_eq!(
        Adaptive::new(100 * MS)
            .with_immediate_first(false)
            .decide(&first),
        Decision::WaitUntil(t0 + 100 * MS)
    );
}

#[test]
fn adaptive_shrinks_its_chunks_when_the_pace_slows() {
    let t0 = Instant::now();
    let mut policy = Adaptive::new(100 * MS);
    // 0 to 40 ms, 10 ms apart: chunks of 5.
    arrivals(&mut policy, t0, 10 * MS, 5);
    policy.on_flush(&flushed("xxxxx", 5));
    // Then 50 ms apart (90, 140 ms): the average gap grows to 20 ms, then 27.5 ms, so two
    // tokens are a chunk, then one.
    let start = t0 + 90 * MS;
    assert_eq!(
        policy.decide(&later("y", 1, start, start).with_upstream_idle(true)),
        Decision::WaitUntil(start + 100 * MS)
    );
    let now = start + 50 * MS;
    assert_eq!(
        policy.decide(&later("yy", 2, start, now).with_upstream_idle(true)),
        Decision::Flush
    );
}

#[test]
fn rules_keep_every_rule_they_are_built_with() {
    let t0 = Instant::now();
    // Each rule set before the others still holds once they are added.
    let policy = Rules::new()
        .immediate_first(false)
        .max_tokens(3)
        .max_bytes(6)
        .at(Boundary::Line)
        .max_latency(20 * MS);
    let decide = |state: &BufferState<'_>| {
        let mut policy = policy;
        policy.decide(state)
    };
    let first = BufferState::new("ab", 1).with_oldest(t0).with_now(t0);
    assert_eq!(decide(&first), Decision::WaitUntil(t0 + 20 * MS));
    assert_eq!(
        decide(&later("abc", 3, t0, t0)),
        Decision::FlushAs(FlushReason::Size)
    );
    assert_eq!(
        decide(&later("abcdef", 2, t0, t0)),
        Decision::FlushAs(FlushReason::Size)
    );
    assert_eq!(
        decide(&later("ab\ncd", 2, t0, t0)),
        Decision::FlushUpTo(3, FlushReason::Boundary)
    );
    assert_eq!(
        decide(&later("abcde", 2, t0, t0 + 20 * MS)),
        Decision::FlushAs(FlushReason::Deadline)
    );
    assert_eq!(
        decide(&later("abcde", 2, t0, t0 + 19 * MS)),
        Decision::WaitUntil(t0 + 20 * MS)
    );
}

#[test]
fn rules_send_the_first_text_at_once_by_default() {
    let t0 = Instant::now();
    let first = BufferState::new("ab", 1).with_oldest(t0).with_now(t0);
    assert_eq!(
        Rules::new().decide(&first),
        Decision::FlushAs(FlushReason::First)
    );
    assert_eq!(
        Rules::new().max_tokens(3).decide(&later("ab", 2, t0, t0)),
        Decision::Wait,
        "no rule is met"
    );
}

#[test]
fn rules_flush_at_either_size() {
    let t0 = Instant::now();
    let tokens = Rules::new().max_tokens(3);
    let bytes = Rules::new().max_bytes(4);
    let mut policy = tokens;
    assert_eq!(policy.decide(&later("ab", 2, t0, t0)), Decision::Wait);
    assert_eq!(
        policy.decide(&later("abc", 3, t0, t0)),
        Decision::FlushAs(FlushReason::Size)
    );
    let mut policy = bytes;
    assert_eq!(policy.decide(&later("abc", 3, t0, t0)), Decision::Wait);
    assert_eq!(
        policy.decide(&later("abcd", 1, t0, t0)),
        Decision::FlushAs(FlushReason::Size)
    );
}

#[test]
fn rules_deadline_needs_the_instant_it_is_reached() {
    let t0 = Instant::now();
    let mut policy = Rules::new().max_latency(10 * MS);
    let no_now = BufferState::new("ab", 2)
        .with_chunks_emitted(1)
        .with_oldest(t0);
    assert_eq!(policy.decide(&no_now), Decision::WaitUntil(t0 + 10 * MS));
    assert_eq!(
        policy.decide(&later("ab", 2, t0, t0 + 10 * MS)),
        Decision::FlushAs(FlushReason::Deadline)
    );
    // A forced flush with a boundary set cuts after the last whole word.
    let mut policy = Rules::new().at(Boundary::Line).max_latency(10 * MS);
    assert_eq!(
        policy.decide(&later("one two", 2, t0, t0 + 10 * MS)),
        Decision::FlushUpTo(4, FlushReason::Deadline)
    );
}

#[test]
fn rules_follow_the_buffer_across_flushes() {
    let t0 = Instant::now();
    // The boundary scan: "A. " goes out, "Bc" stays and grows.
    let mut policy = Rules::new().at(Boundary::Sentence);
    assert_eq!(
        policy.decide(&later("A. Bc", 2, t0, t0)),
        Decision::FlushUpTo(3, FlushReason::Boundary)
    );
    policy.on_flush(&flushed("A. ", 1));
    assert_eq!(
        policy.decide(&later("Bc. Defgh", 2, t0, t0)),
        Decision::FlushUpTo(4, FlushReason::Boundary)
    );
    // The word scan of forced flushes: "ab " goes out, "cd" stays and grows.
    let mut policy = Rules::new().at(Boundary::Line).max_tokens(2);
    assert_eq!(
        policy.decide(&later("ab cd", 2, t0, t0)),
        Decision::FlushUpTo(3, FlushReason::Size)
    );
    policy.on_flush(&flushed("ab ", 1));
    assert_eq!(
        policy.decide(&later("cd e fghij", 2, t0, t0)),
        Decision::FlushUpTo(5, FlushReason::Size)
    );
}
