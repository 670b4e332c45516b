//! The contract every policy keeps through the flush adapters, run against each policy.

mod support;

use std::pin::pin;
use std::time::Duration;

use futures::stream::{self, FusedStream, Stream, StreamExt};
use support::{collect_timed, ms, tok, DropGuard, Scripted, Step};
use tokenflush::observe::{FlushObserver, FlushRecord};
use tokenflush::policy::{
    Adaptive, Boundary, Coalesce, FixedBatch, FlushPolicy, Immediate, Rules, TimeBounded,
};
use tokenflush::{Chunk, FlushExt, FlushReason, TryFlushExt};
use tokio::time::Instant;

const TEXT: &str = "Héllo, wörld! Ünïcödé 日本語のテキスト 😀🎉 and plain ASCII.";

/// Text tokens of 1 to 4 characters.
fn text_tokens() -> Vec<String> {
    let chars: Vec<char> = TEXT.chars().collect();
    let mut tokens = Vec::new();
    let mut at = 0;
    let mut width = 1;
    while at < chars.len() {
        let end = (at + width).min(chars.len());
        tokens.push(chars[at..end].iter().collect());
        at = end;
        width = width % 4 + 1;
    }
    tokens
}

/// The bytes of TEXT cut at every 1 to 5 bytes, splitting characters.
fn byte_tokens() -> Vec<Vec<u8>> {
    let bytes = TEXT.as_bytes();
    let mut tokens = Vec::new();
    let mut at = 0;
    let mut width = 1;
    while at < bytes.len() {
        let end = (at + width).min(bytes.len());
        tokens.push(bytes[at..end].to_vec());
        at = end;
        width = width % 5 + 1;
    }
    tokens
}

fn assert_chunks_sound(chunks: &[Chunk], expected_text: &str, tokens: usize) {
    let text: String = chunks.iter().map(Chunk::as_str).collect();
    assert_eq!(text, expected_text, "chunks must concatenate to the input");
    assert!(
        chunks.iter().all(|chunk| !chunk.as_str().is_empty()),
        "a chunk is never empty"
    );
    let counted: usize = chunks.iter().map(Chunk::token_count).sum();
    assert_eq!(counted, tokens, "token counts add up to the tokens pulled");
    for (i, chunk) in chunks.iter().enumerate() {
        let last = i + 1 == chunks.len();
        assert_eq!(
            chunk.reason() == FlushReason::End,
            last && chunk.reason() == FlushReason::End,
            "only the last chunk may be flushed by the end of the stream"
        );
    }
}

async fn conserves_text<P: FlushPolicy>(policy: P) {
    let tokens = text_tokens();
    let chunks: Vec<Chunk> = stream::iter(tokens.clone())
        .flush_with(policy)
        .collect()
        .await;
    assert_chunks_sound(&chunks, &tokens.concat(), tokens.len());
}

async fn conserves_split_characters<P: FlushPolicy>(policy: P) {
    let tokens = byte_tokens();
    let chunks: Vec<Chunk> = stream::iter(tokens.clone())
        .flush_with(policy)
        .collect()
        .await;
    assert_chunks_sound(&chunks, TEXT, tokens.len());
}

async fn conserves_with_gaps<P: FlushPolicy>(policy: P) {
    let mut script = Vec::new();
    for (i, token) in byte_tokens().into_iter().enumerate() {
        script.push(Step::Token(token));
        script.push(ms([0, 3, 7, 20, 1][i % 5]));
    }
    let tokens = byte_tokens().len();
    let chunks: Vec<Chunk> = Scripted::new(script)
        .bytes()
        .flush_with(policy)
        .collect()
        .await;
    assert_chunks_sound(&chunks, TEXT, tokens);
}

async fn decodes_invalid_bytes_like_from_utf8_lossy<P: FlushPolicy>(policy: P) {
    let tokens: Vec<&[u8]> = vec![b"ok\xF0\x9F", b"\x98", b"A\xC0\x80", b"\xE2\x82"];
    let expected = String::from_utf8_lossy(&tokens.concat()).into_owned();
    let chunks: Vec<Chunk> = stream::iter(tokens).flush_with(policy).collect().await;
    assert_chunks_sound(&chunks, &expected, 4);
    assert!(
        expected.ends_with('\u{FFFD}'),
        "a dangling tail becomes one U+FFFD"
    );
}

async fn ends_fused<P: FlushPolicy>(policy: P) {
    let mut chunks = pin!(stream::iter(["a", "b", "c"]).flush_with(policy));
    assert!(!chunks.is_terminated());
    let mut text = String::new();
    while let Some(chunk) = chunks.next().await {
        text.push_str(chunk.as_str());
    }
    assert_eq!(text, "abc");
    assert!(chunks.is_terminated());
    for _ in 0..3 {
        assert!(chunks.next().await.is_none());
    }
    assert_eq!(chunks.size_hint(), (0, Some(0)));
}

async fn empty_upstream_yields_nothing<P: FlushPolicy>(policy: P) {
    let chunks: Vec<Chunk> = stream::iter(Vec::<String>::new())
        .flush_with(policy)
        .collect()
        .await;
    assert!(chunks.is_empty());
}

async fn drops_upstream_with_adapter<P: FlushPolicy>(policy: P) {
    let guard = DropGuard::default();
    let upstream = Scripted::new([tok("a"), ms(10), tok("b"), ms(1_000)])
        .with_drop_guard(guard.token())
        .bytes();
    let mut chunks = Box::pin(upstream.flush_with(policy));
    let _ = futures::poll!(chunks.next());
    assert_eq!(guard.drops(), 0);
    drop(chunks);
    assert_eq!(
        guard.drops(),
        1,
        "dropping the adapter drops the upstream at once"
    );
}

async fn takes_buffered_text_back<P: FlushPolicy>(policy: P) {
    let (tx, rx) = futures::channel::mpsc::unbounded::<Vec<u8>>();
    let mut chunks = pin!(rx.flush_with(policy));
    let mut seen = String::new();
    for token in [&b"one "[..], b"two ", b"\xE2\x82"] {
        tx.unbounded_send(token.to_vec()).unwrap();
        while let std::task::Poll::Ready(Some(chunk)) = futures::poll!(chunks.next()) {
            seen.push_str(chunk.as_str());
        }
    }
    seen.push_str(&chunks.as_mut().take_buffered());
    assert_eq!(
        seen, "one two \u{FFFD}",
        "yielded plus taken back is everything"
    );
    assert_eq!(chunks.buffered_text(), "");
    // The adapter goes on with a fresh buffer.
    tx.unbounded_send(b"three".to_vec()).unwrap();
    drop(tx);
    let rest: String = chunks.map(Chunk::into_string).collect().await;
    assert_eq!(rest, "three");
}

async fn flushes_before_errors<P: FlushPolicy>(policy: P) {
    let upstream = Scripted::new([tok("a"), tok("b"), Step::Error("boom"), tok("c")]);
    let items: Vec<Result<Chunk, &str>> = upstream.try_flush_with(policy).collect().await;
    let mut text = String::new();
    let mut error_at = None;
    for (i, item) in items.iter().enumerate() {
        match item {
            Ok(chunk) => text.push_str(chunk.as_str()),
            Err(error) => {
                assert_eq!(*error, "boom");
                assert_eq!(text, "ab", "all text before the error goes out before it");
                error_at = Some(i);
            }
        }
    }
    assert!(error_at.is_some(), "the error is passed through");
    assert_eq!(text, "abc", "the stream goes on after the error");
}

async fn works_as_trait_object(policy: Box<dyn FlushPolicy + Send>) {
    let tokens = text_tokens();
    let chunks: Vec<Chunk> = stream::iter(tokens.clone())
        .flush_with(policy)
        .collect()
        .await;
    assert_chunks_sound(&chunks, &tokens.concat(), tokens.len());
}

async fn works_by_mutable_reference<P: FlushPolicy>(mut policy: P) {
    for _ in 0..2 {
        let tokens = text_tokens();
        let chunks: Vec<Chunk> = stream::iter(tokens.clone())
            .flush_with(&mut policy)
            .collect()
            .await;
        assert_chunks_sound(&chunks, &tokens.concat(), tokens.len());
    }
}

/// An observer that reads everything it is given, as a metrics observer would.
#[derive(Debug, Default)]
struct Recorder(Vec<Duration>);

impl FlushObserver for Recorder {
    fn on_first_token(&mut self, since_start: Duration) {
        self.0.push(since_start);
    }

    fn on_flush(&mut self, flush: &FlushRecord<'_>) {
        self.0.push(flush.since_start());
    }
}

/// A script with everything that has made chunk boundaries depend on incidental clock reads:
/// bursts of ready tokens, silences, split characters, and an error.
fn mixed_script() -> Vec<Step> {
    let mut script = Vec::new();
    for (i, token) in byte_tokens().into_iter().enumerate() {
        script.push(Step::Token(token));
        if i % 3 == 2 {
            script.push(ms([1, 4, 9, 30][i % 4]));
        }
        if i == 7 {
            script.push(Step::Error("hiccup"));
        }
    }
    script
}

async fn observing_changes_nothing<P: FlushPolicy>(make: impl Fn() -> P) {
    type Timed = Vec<(Duration, Result<Chunk, &'static str>)>;
    let start = Instant::now();
    let plain: Timed =
        collect_timed(Scripted::new(mixed_script()).try_flush_with(make()), start).await;
    let start = Instant::now();
    let mut recorder = Recorder::default();
    let observed: Timed = collect_timed(
        Scripted::new(mixed_script())
            .try_flush_with(make())
            .with_observer(&mut recorder),
        start,
    )
    .await;
    assert!(
        !recorder.0.is_empty(),
        "the observer was told of the stream"
    );
    assert_eq!(
        plain, observed,
        "an observer must not change what is flushed, or when"
    );
    // The same holds for a stream that ends in the middle of a burst.
    let tokens = ["a", "b", "c"];
    let plain: Vec<Chunk> = stream::iter(tokens).flush_with(make()).collect().await;
    let observed: Vec<Chunk> = stream::iter(tokens)
        .flush_with(make())
        .with_observer(Recorder::default())
        .collect()
        .await;
    assert_eq!(plain, observed);
}

async fn holds_at_most_the_byte_cap<P: FlushPolicy>(policy: P) {
    const CAP: usize = 16;
    let mut tokens = text_tokens();
    tokens.insert(5, "x".repeat(40)); // larger than the cap on its own
    tokens.insert(9, "y".repeat(CAP)); // exactly the cap
    let chunks: Vec<Chunk> = stream::iter(tokens.clone())
        .flush_with(policy)
        .with_max_buffered(CAP)
        .collect()
        .await;
    assert_chunks_sound(&chunks, &tokens.concat(), tokens.len());
    for chunk in &chunks {
        let len = chunk.as_str().len();
        assert!(
            len <= CAP || chunk.token_count() == 1,
            "only a single token larger than the cap makes a larger chunk: {len} bytes in {} tokens",
            chunk.token_count()
        );
    }
    let whole = chunks
        .iter()
        .find(|chunk| chunk.as_str().starts_with('x'))
        .unwrap();
    assert_eq!(whole.as_str(), "x".repeat(40), "a large token is not split");
}

#[cfg(feature = "graphemes")]
/// Text whose graphemes are built from several characters: emoji sequences, flags, combining
/// marks, Hangul jamo.
const CLUSTERS: &str = "Hi 👩\u{200D}💻 and 🇫🇷! cafe\u{301} ᄒ\u{1161}ᆫ ❤\u{FE0F} 👍🏽 done";

#[cfg(feature = "graphemes")]
/// Whether the last grapheme of `text`, cut from `CLUSTERS`, may still grow.
fn may_grow(text: &str) -> bool {
    let flags = text
        .chars()
        .rev()
        .take_while(|c| matches!(c, '🇫' | '🇷'))
        .count();
    if flags > 0 {
        return flags % 2 == 1;
    }
    text.chars().next_back().is_some_and(|c| {
        matches!(
            c,
            '\u{200D}'
                | '\u{FE0F}'
                | '\u{301}'
                | '👩'
                | '💻'
                | '❤'
                | '👍'
                | '🏽'
                | 'ᄒ'
                | '\u{1161}'
        )
    })
}

#[cfg(feature = "graphemes")]
async fn whole_graphemes_hold_back_half_built_clusters<P: FlushPolicy>(policy: P) {
    // One character per token: every cluster arrives in pieces.
    let tokens: Vec<String> = CLUSTERS.chars().map(String::from).collect();
    let mut script = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        script.push(tok(token));
        script.push(ms([0, 3, 12][i % 3]));
    }
    let chunks: Vec<Chunk> = Scripted::new(script)
        .text()
        .flush_with(policy)
        .with_whole_graphemes(true)
        .collect()
        .await;
    assert_chunks_sound(&chunks, CLUSTERS, tokens.len());
    for chunk in &chunks {
        let forced = matches!(chunk.reason(), FlushReason::Deadline | FlushReason::End);
        assert!(
            forced || !may_grow(chunk.as_str()),
            "{:?} ({:?}) ends half-built",
            chunk.as_str(),
            chunk.reason()
        );
    }
}

macro_rules! contract {
    ($($name:ident => $policy:expr;)*) => {$(
        mod $name {
            use super::*;

            #[tokio::test(start_paused = true)]
            async fn conserves_text() { super::conserves_text($policy).await }
            #[tokio::test(start_paused = true)]
            async fn conserves_split_characters() { super::conserves_split_characters($policy).await }
            #[tokio::test(start_paused = true)]
            async fn conserves_with_gaps() { super::conserves_with_gaps($policy).await }
            #[tokio::test(start_paused = true)]
            async fn decodes_invalid_bytes_like_from_utf8_lossy() {
                super::decodes_invalid_bytes_like_from_utf8_lossy($policy).await
            }
            #[tokio::test(start_paused = true)]
            async fn ends_fused() { super::ends_fused($policy).await }
            #[tokio::test(start_paused = true)]
            async fn empty_upstream_yields_nothing() { super::empty_upstream_yields_nothing($policy).await }
            #[tokio::test(start_paused = true)]
            async fn drops_upstream_with_adapter() { super::drops_upstream_with_adapter($policy).await }
            #[tokio::test(start_paused = true)]
            async fn takes_buffered_text_back() { super::takes_buffered_text_back($policy).await }
            #[tokio::test(start_paused = true)]
            async fn flushes_before_errors() { super::flushes_before_errors($policy).await }
            #[tokio::test(start_paused = true)]
            async fn works_as_trait_object() { super::works_as_trait_object(Box::new($policy)).await }
            #[tokio::test(start_paused = true)]
            async fn works_by_mutable_reference() { super::works_by_mutable_reference($policy).await }
            #[tokio::test(start_paused = true)]
            async fn observing_changes_nothing() { super::observing_changes_nothing(|| $policy).await }
            #[tokio::test(start_paused = true)]
            async fn holds_at_most_the_byte_cap() { super::holds_at_most_the_byte_cap($policy).await }
            #[cfg(feature = "graphemes")]
            #[tokio::test(start_paused = true)]
            async fn whole_graphemes_hold_back_half_built_clusters() {
                super::whole_graphemes_hold_back_half_built_clusters($policy).await
            }
        }
    )*};
}

contract! {
    immediate => Immediate::new();
    coalesce_1 => Coalesce::new(1);
    coalesce_3 => Coalesce::new(3);
    coalesce_huge => Coalesce::new(usize::MAX);
    fixed_batch_1 => FixedBatch::new(1);
    fixed_batch_3 => FixedBatch::new(3);
    fixed_batch_huge => FixedBatch::new(usize::MAX);
    time_bounded => TimeBounded::new(3, Duration::from_millis(10));
    time_bounded_time_only => TimeBounded::new(usize::MAX, Duration::from_millis(5)).with_immediate_first(false);
    time_bounded_zero_latency => TimeBounded::new(4, Duration::ZERO);
    time_bounded_unbounded_latency => TimeBounded::new(4, Duration::MAX);
    time_bounded_zero_latency_held_first => TimeBounded::new(16, Duration::ZERO).with_immediate_first(false);
    time_bounded_anticipating => TimeBounded::new(4, Duration::from_millis(10)).with_anticipation(true);
    adaptive => Adaptive::new(Duration::from_millis(10));
    adaptive_small => Adaptive::new(Duration::from_millis(5)).with_max_tokens(2).with_immediate_first(false);
    rules_empty => Rules::new();
    rules_words => Rules::new().at(Boundary::Word).immediate_first(false);
    rules_sentences_within => Rules::new().at(Boundary::Sentence).max_tokens(3).max_latency(Duration::from_millis(8));
    rules_lines_bytes => Rules::new().at(Boundary::Line).max_bytes(5).immediate_first(false);
}
