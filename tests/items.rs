//! Typed streams through the flush adapter: only text of one kind merges, every other item
//! passes through in order after the text before it, and the time bound still holds.

mod support;

use std::time::Duration;

use futures::stream::{self, StreamExt};
use proptest::prelude::*;
use support::collect_timed;
use tokenflush::llm::{FinishReason, Item, ToolCall, Usage};
use tokenflush::policy::{Coalesce, FixedBatch, FlushPolicy, Immediate, TimeBounded};
use tokenflush::{Chunk, FlushExt, FlushReason, TryFlushExt};
use tokio::time::Instant;

/// The stream as segments: runs of text of one kind joined, every other item on its own.
/// Equal segments mean the same text per kind, the same items, in the same order relative to
/// the text around them.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Segment {
    Text(&'static str, String),
    Item(String),
    Error(&'static str),
}

fn kind_of<T>(item: &Item<T>) -> Option<&'static str> {
    match item {
        Item::Content(_) => Some("content"),
        Item::Reasoning(_) => Some("reasoning"),
        Item::Refusal(_) => Some("refusal"),
        _ => None,
    }
}

fn push_text(segments: &mut Vec<Segment>, kind: &'static str, text: &str) {
    if let Some(Segment::Text(last, joined)) = segments.last_mut() {
        if *last == kind {
            joined.push_str(text);
            return;
        }
    }
    segments.push(Segment::Text(kind, text.to_owned()));
}

fn segments<T: AsRef<str> + std::fmt::Debug>(
    items: &[Result<Item<T>, &'static str>],
) -> Vec<Segment> {
    let mut segments = Vec::new();
    for item in items {
        match item {
            Err(error) => segments.push(Segment::Error(error)),
            Ok(item) => match (kind_of(item), item.text()) {
                (Some(kind), Some(text)) => push_text(&mut segments, kind, text.as_ref()),
                _ => segments.push(Segment::Item(format!("{item:?}"))),
            },
        }
    }
    segments
}

fn not_text() -> impl Strategy<Value = Item<String>> {
    prop_oneof![
        (0..3_u32, "[a-z{}\":]{0,6}")
            .prop_map(|(index, args)| Item::ToolCall(ToolCall::new(index).with_arguments(args))),
        Just(Item::Finish(FinishReason::Stop)),
        (0..100_u64, 0..100_u64).prop_map(|(i, o)| Item::Usage(Usage::new(i, o))),
        (0..3_u32).prop_map(Item::Choice),
        "[0-9.,]{1,5}".prop_map(Item::Logprobs),
        Just(Item::Start {
            id: Some("r".into()),
            model: None
        }),
    ]
}

fn upstream_item() -> impl Strategy<Value = Result<Item<String>, &'static str>> {
    prop_oneof![
        6 => "[a-zé日😀 ]{1,4}".prop_map(|text| Ok(Item::Content(text))),
        3 => "[a-z ]{1,4}".prop_map(|text| Ok(Item::Reasoning(text))),
        1 => "[a-z]{1,3}".prop_map(|text| Ok(Item::Refusal(text))),
        3 => not_text().prop_map(Ok),
        1 => Just(Err("upstream hiccup")),
    ]
}

/// A policy, by its parameters (which, max tokens, max latency in ms, immediate first).
fn policy() -> impl Strategy<Value = (u8, usize, u64, bool)> {
    (0..4_u8, 1..8_usize, 0..50_u64, any::<bool>())
}

fn build((which, n, ms, first): (u8, usize, u64, bool)) -> Box<dyn FlushPolicy + Send> {
    match which {
        0 => Box::new(Immediate::new()),
        1 => Box::new(FixedBatch::new(n)),
        2 => Box::new(Coalesce::new(n)),
        _ => Box::new(TimeBounded::new(n, Duration::from_millis(ms)).with_immediate_first(first)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(support::cases(128)))]

    #[test]
    fn text_merges_only_within_its_kind_and_nothing_moves(
        items in proptest::collection::vec(upstream_item(), 0..60),
        gaps in proptest::collection::vec(0..30_u64, 60),
        policy in policy(),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .unwrap();
        let input = items.clone();
        let output: Vec<Result<Item<Chunk>, &'static str>> = runtime.block_on(async move {
            let timed = stream::iter(input.into_iter().zip(gaps)).then(|(item, gap)| async move {
                tokio::time::sleep(Duration::from_millis(gap)).await;
                item
            });
            Box::pin(timed).try_flush_with(build(policy)).collect().await
        });
        let expected = segments(&items);
        let as_text: Vec<Result<Item<String>, &'static str>> = output
            .iter()
            .map(|item| item.clone().map(|item| item.map_text(Chunk::into_string)))
            .collect();
        prop_assert_eq!(segments(&as_text), expected);
        for item in output.iter().flatten() {
            if let Some(chunk) = item.text() {
                prop_assert!(!chunk.as_str().is_empty(), "a chunk is never empty");
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn text_of_each_kind_merges_and_never_shares_a_chunk() {
    let items = stream::iter([
        Item::Reasoning("Let me"),
        Item::Reasoning(" think."),
        Item::Content("The answer"),
        Item::Content(" is 42."),
        Item::Refusal("I can"),
        Item::Refusal("not."),
        Item::Reasoning("Done."),
    ]);
    let out: Vec<Item<Chunk>> = items.flush_with(FixedBatch::new(100)).collect().await;
    let shown: Vec<(&str, &str, FlushReason)> = out
        .iter()
        .map(|item| {
            let kind = kind_of(item).unwrap();
            let chunk = item.text().unwrap();
            (kind, chunk.as_str(), chunk.reason())
        })
        .collect();
    assert_eq!(
        shown,
        [
            ("reasoning", "Let me think.", FlushReason::Item),
            ("content", "The answer is 42.", FlushReason::Item),
            ("refusal", "I cannot.", FlushReason::Item),
            ("reasoning", "Done.", FlushReason::End),
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn tool_call_fragments_pass_through_one_by_one_in_order() {
    let fragments = [
        ToolCall::new(0).with_id("call_1").with_name("get_weather"),
        ToolCall::new(0).with_arguments("{\"ci"),
        ToolCall::new(0).with_arguments("ty\":\"Par"),
        ToolCall::new(0).with_arguments("is\"}"),
    ];
    let mut items = vec![Item::Content("Checking.")];
    items.extend(fragments.iter().cloned().map(Item::ToolCall));
    items.push(Item::Finish(FinishReason::ToolCalls));
    let out: Vec<Item<Chunk>> = stream::iter(items)
        .flush_with(FixedBatch::new(100))
        .collect()
        .await;
    assert_eq!(out.len(), 6);
    assert_eq!(out[0].text().unwrap().as_str(), "Checking.");
    let passed: Vec<&ToolCall> = out
        .iter()
        .filter_map(|item| match item {
            Item::ToolCall(call) => Some(call),
            _ => None,
        })
        .collect();
    assert_eq!(passed, fragments.iter().collect::<Vec<_>>(), "never merged");
    assert_eq!(out[5], Item::Finish(FinishReason::ToolCalls));
}

#[tokio::test(start_paused = true)]
async fn the_time_bound_holds_for_each_kind() {
    // Reasoning arrives, then the model is silent for a second: the reasoning goes out at the
    // bound, not when the answer starts.
    let items = stream::iter([(0, Item::Reasoning("hmm")), (1_000, Item::Content("ok"))]).then(
        |(pause, item)| async move {
            tokio::time::sleep(Duration::from_millis(pause)).await;
            item
        },
    );
    let policy = TimeBounded::new(16, Duration::from_millis(50)).with_immediate_first(false);
    let timed = collect_timed(Box::pin(items.flush_with(policy)), Instant::now()).await;
    let shown: Vec<(u128, &str, FlushReason)> = timed
        .iter()
        .map(|(at, item)| {
            let chunk = item.text().unwrap();
            (at.as_millis(), chunk.as_str(), chunk.reason())
        })
        .collect();
    assert_eq!(
        shown,
        [
            (50, "hmm", FlushReason::Deadline),
            (1_000, "ok", FlushReason::End)
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_character_split_across_kinds_is_not_joined() {
    // The first byte of "é" as reasoning, the second as answer: neither kind may show half a
    // character, and no byte is silently dropped.
    let items = stream::iter([
        Item::Reasoning(vec![b'a', 0xC3]),
        Item::Content(vec![0xA9, b'b']),
    ]);
    let out: Vec<Item<Chunk>> = items.flush_with(FixedBatch::new(100)).collect().await;
    let texts: Vec<&str> = out
        .iter()
        .map(|item| item.text().unwrap().as_str())
        .collect();
    assert_eq!(texts, ["a\u{FFFD}", "\u{FFFD}b"]);
}
