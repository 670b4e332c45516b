//! Property tests: conservation and the time bound, over random text cut into random byte
//! pieces arriving after random gaps, for every built-in policy.

mod support;

use std::time::Duration;

use proptest::prelude::*;
use support::{collect_timed, Scripted, Step};
use tokenflush::policy::{
    Adaptive, Boundary, Coalesce, FixedBatch, FlushPolicy, Immediate, Rules, TimeBounded,
};
use tokenflush::{Chunk, FlushExt, FlushReason};
use tokio::time::Instant;

#[derive(Clone, Debug)]
enum Policy {
    Immediate,
    Coalesce(usize),
    FixedBatch(usize),
    TimeBounded {
        max_tokens: usize,
        max_latency: Duration,
        immediate_first: bool,
        anticipate: bool,
    },
    Adaptive {
        max_latency: Duration,
        max_tokens: usize,
    },
    Rules {
        boundary: Option<Boundary>,
        max_tokens: usize,
        max_latency: Duration,
    },
}

impl Policy {
    fn build(&self) -> Box<dyn FlushPolicy + Send> {
        match *self {
            Self::Immediate => Box::new(Immediate::new()),
            Self::Coalesce(n) => Box::new(Coalesce::new(n)),
            Self::FixedBatch(n) => Box::new(FixedBatch::new(n)),
            Self::TimeBounded {
                max_tokens,
                max_latency,
                immediate_first,
                anticipate,
            } => Box::new(
                TimeBounded::new(max_tokens, max_latency)
                    .with_immediate_first(immediate_first)
                    .with_anticipation(anticipate),
            ),
            Self::Adaptive {
                max_latency,
                max_tokens,
            } => Box::new(Adaptive::new(max_latency).with_max_tokens(max_tokens)),
            Self::Rules {
                boundary,
                max_tokens,
                max_latency,
            } => {
                let rules = Rules::new().max_tokens(max_tokens).max_latency(max_latency);
                Box::new(match boundary {
                    Some(boundary) => rules.at(boundary),
                    None => rules,
                })
            }
        }
    }

    /// The policy's time bound, if it has one.
    fn max_latency(&self) -> Option<Duration> {
        match *self {
            Self::TimeBounded { max_latency, .. }
            | Self::Adaptive { max_latency, .. }
            | Self::Rules { max_latency, .. } => Some(max_latency),
            _ => None,
        }
    }
}

fn policy() -> impl Strategy<Value = Policy> {
    prop_oneof![
        Just(Policy::Immediate),
        (1..6_usize).prop_map(Policy::Coalesce),
        (1..6_usize).prop_map(Policy::FixedBatch),
        (1..8_usize, 0..120_u64, any::<bool>(), any::<bool>()).prop_map(
            |(n, d, first, anticipate)| {
                Policy::TimeBounded {
                    max_tokens: n,
                    max_latency: Duration::from_millis(d),
                    immediate_first: first,
                    anticipate,
                }
            }
        ),
        (0..120_u64, 1..12_usize).prop_map(|(d, n)| Policy::Adaptive {
            max_latency: Duration::from_millis(d),
            max_tokens: n,
        }),
        (
            prop_oneof![
                Just(None),
                Just(Some(Boundary::Word)),
                Just(Some(Boundary::Sentence)),
                Just(Some(Boundary::Line))
            ],
            0..8_usize,
            0..120_u64
        )
            .prop_map(|(boundary, n, d)| Policy::Rules {
                boundary,
                max_tokens: n,
                max_latency: Duration::from_millis(d),
            }),
    ]
}

/// Text mixing 1-, 2-, 3- and 4-byte characters, spaces, sentence ends and line breaks.
fn text() -> impl Strategy<Value = String> {
    let character = prop_oneof![
        4 => proptest::char::range('a', 'z'),
        1 => Just(' '),
        1 => prop_oneof![Just('.'), Just('\n'), Just('。'), Just('!')],
        1 => proptest::char::range('а', 'я'),
        1 => proptest::char::range('一', '龥'),
        1 => proptest::char::range('😀', '🙏'),
    ];
    proptest::collection::vec(character, 1..48).prop_map(|chars| chars.into_iter().collect())
}

/// Cuts `bytes` into non-empty pieces of the given lengths (the last takes the rest), moving
/// each cut to a character boundary when `whole_chars`.
fn cut(bytes: &[u8], lengths: &[usize], whole_chars: bool) -> Vec<Vec<u8>> {
    let text = std::str::from_utf8(bytes).ok();
    let mut pieces = Vec::new();
    let mut at = 0;
    for &length in lengths {
        if at >= bytes.len() {
            break;
        }
        let mut end = (at + length).min(bytes.len());
        if let (true, Some(text)) = (whole_chars, text) {
            while !text.is_char_boundary(end) {
                end += 1;
            }
        }
        pieces.push(bytes[at..end].to_vec());
        at = end;
    }
    if at < bytes.len() {
        pieces.push(bytes[at..].to_vec());
    }
    pieces
}

struct Run {
    /// When each token was pulled.
    pulls: Vec<Instant>,
    /// Each chunk with the instant it was yielded.
    chunks: Vec<(Instant, Chunk)>,
}

/// Plays `pieces` with `gaps` (ms before each piece) through `policy` on a paused clock.
fn run(pieces: &[Vec<u8>], gaps: &[u64], policy: &Policy, as_text: bool) -> Run {
    let mut script = Vec::new();
    for (i, piece) in pieces.iter().enumerate() {
        let gap = gaps.get(i).copied().unwrap_or(0);
        if gap > 0 {
            script.push(Step::Sleep(Duration::from_millis(gap)));
        }
        script.push(Step::Token(piece.clone()));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(async {
        let upstream = Scripted::new(script);
        let pulls = upstream.pulls();
        let start = Instant::now();
        let timed = if as_text {
            collect_timed(upstream.text().flush_with(policy.build()), start).await
        } else {
            collect_timed(upstream.bytes().flush_with(policy.build()), start).await
        };
        let pulls = pulls.lock().unwrap().clone();
        let chunks = timed
            .into_iter()
            .map(|(at, chunk)| (start + at, chunk))
            .collect();
        Run { pulls, chunks }
    })
}

/// For each character of the concatenated text (valid UTF-8 input), when it became complete:
/// the pull of the token holding its last byte.
fn completion_times(text: &str, pieces: &[Vec<u8>], pulls: &[Instant]) -> Vec<Instant> {
    let mut token_of_byte = Vec::new();
    for (token, piece) in pieces.iter().enumerate() {
        token_of_byte.extend(std::iter::repeat_n(token, piece.len()));
    }
    text.char_indices()
        .map(|(at, c)| pulls[token_of_byte[at + c.len_utf8() - 1]])
        .collect()
}

fn config() -> ProptestConfig {
    ProptestConfig::with_cases(support::cases(256))
}

proptest! {
    #![proptest_config(config())]

    /// Conservation for valid text cut anywhere, and the time bound of every policy, exactly.
    #[test]
    fn chunks_conserve_text_and_respect_time(
        text in text(),
        lengths in proptest::collection::vec(1..7_usize, 0..48),
        gaps in proptest::collection::vec(prop_oneof![2 => Just(0_u64), 3 => 0..150_u64], 0..48),
        policy in policy(),
        as_text in any::<bool>(),
    ) {
        let pieces = cut(text.as_bytes(), &lengths, as_text);
        let Run { pulls, chunks } = run(&pieces, &gaps, &policy, as_text);
        prop_assert_eq!(pulls.len(), pieces.len());

        let joined: String = chunks.iter().map(|(_, chunk)| chunk.as_str()).collect();
        prop_assert_eq!(&joined, &text);
        prop_assert!(chunks.iter().all(|(_, chunk)| !chunk.as_str().is_empty()));
        let counted: usize = chunks.iter().map(|(_, chunk)| chunk.token_count()).sum();
        prop_assert_eq!(counted, pieces.len());
        let ends = chunks.iter().filter(|(_, c)| c.reason() == FlushReason::End).count();
        prop_assert!(ends <= 1);
        if ends == 1 {
            prop_assert_eq!(chunks.last().unwrap().1.reason(), FlushReason::End);
        }

        let completed = completion_times(&text, &pieces, &pulls);
        let mut char_index = 0;
        for (i, (yielded, chunk)) in chunks.iter().enumerate() {
            let chars = chunk.as_str().chars().count();
            let times = &completed[char_index..char_index + chars];
            char_index += chars;
            // The oldest text of a chunk is its first character.
            prop_assert_eq!(chunk.held_for(), yielded.duration_since(times[0]), "held_for of chunk {}", i);
            prop_assert!(times.iter().all(|t| t <= yielded));
            if let Some(max_latency) = policy.max_latency() {
                for t in times {
                    prop_assert!(yielded.duration_since(*t) <= max_latency,
                        "chunk {} held a character for {:?}", i, yielded.duration_since(*t));
                }
            }
            match policy {
                Policy::TimeBounded { immediate_first, .. } => {
                    if i == 0 && immediate_first {
                        prop_assert_eq!(chunk.held_for(), Duration::ZERO);
                    }
                }
                Policy::Adaptive { .. } | Policy::Rules { .. } => {}
                Policy::Immediate => {
                    // Flushed the moment its last character became whole.
                    prop_assert_eq!(*yielded, times[chars - 1]);
                }
                Policy::Coalesce(n) => {
                    // No added delay: everything in it arrived at the instant it went out.
                    prop_assert!(times.iter().all(|t| t == yielded), "chunk {} waited", i);
                    prop_assert!(chunk.token_count() <= n || !as_text);
                }
                Policy::FixedBatch(n) => {
                    if as_text && chunk.reason() == FlushReason::Size {
                        prop_assert_eq!(chunk.token_count(), n);
                    }
                    if as_text && chunk.reason() == FlushReason::End {
                        prop_assert!(chunk.token_count() < n);
                    }
                }
            }
        }
    }

    /// Arbitrary bytes, valid or not, come out exactly as `String::from_utf8_lossy` decodes
    /// them whole.
    #[test]
    fn arbitrary_bytes_decode_like_from_utf8_lossy(
        bytes in proptest::collection::vec(
            prop_oneof![3 => 0x20..0x7F_u8, 1 => 0x80..=0xFF_u8, 1 => Just(0xF0_u8), 1 => Just(0xE2_u8)],
            1..64,
        ),
        lengths in proptest::collection::vec(1..6_usize, 0..64),
        gaps in proptest::collection::vec(prop_oneof![Just(0_u64), 0..40_u64], 0..64),
        policy in policy(),
    ) {
        let pieces = cut(&bytes, &lengths, false);
        let Run { chunks, .. } = run(&pieces, &gaps, &policy, false);
        let joined: String = chunks.iter().map(|(_, chunk)| chunk.as_str()).collect();
        prop_assert_eq!(joined, String::from_utf8_lossy(&bytes));
        prop_assert!(chunks.iter().all(|(_, chunk)| !chunk.as_str().is_empty()));
        let counted: usize = chunks.iter().map(|(_, chunk)| chunk.token_count()).sum();
        prop_assert_eq!(counted, pieces.len());
    }
}

#[test]
fn collected_chunks_match_the_stream_without_gaps() {
    // A smoke check of the harness itself: no gaps, FixedBatch(2), whole-character tokens.
    let pieces = cut("abcde".as_bytes(), &[1, 1, 1, 1, 1], true);
    let Run { chunks, pulls } = run(&pieces, &[], &Policy::FixedBatch(2), true);
    assert_eq!(pulls.len(), 5);
    let texts: Vec<_> = chunks.iter().map(|(_, c)| c.as_str()).collect();
    assert_eq!(texts, ["ab", "cd", "e"]);
}
