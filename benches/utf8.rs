//! Incremental UTF-8 decoding: `Utf8Decoder` against the crates people use today.
//!
//! One 8 MiB deterministic text mixing ASCII, Cyrillic, CJK and 4-byte emoji, cut two ways:
//! into pieces of 1 to 8 bytes (what byte-fallback tokens and small reads look like, where the
//! cost per call dominates) and into 4 KiB pieces (network reads, where validation dominates).
//! Every peer decodes the same pieces into a reused `String` that is cleared the same way, so
//! the ratios within a group are fair. Whole-buffer `std::str::from_utf8` and `simdutf8` are the
//! limit: they only validate, in one call, with no pieces. A third group cuts 9 to 128 bytes,
//! the sizes between, where `Utf8Decoder` switches from decoding character by character to
//! validating in bulk.
//!
//! Two reference points bound what a decoder can do here: `plain_copy` appends the bytes without
//! validating them, and `push_decoded_chars` appends characters decoded beforehand, outside the
//! timed loop, with `String::push`: the cost of writing character by character, the only way
//! safe code can append bytes to a `String` without `std::str::from_utf8`, with no decoding.
//!
//! Run with `cargo bench --bench utf8`; criterion reports throughput in bytes of input.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use encoding_rs::CoderResult;
use tokenflush::utf8::Utf8Decoder;

/// Size of the benchmark text.
const TEXT_LEN: usize = 8 << 20;

/// Every peer clears its output once it holds this much, so memory stays flat and in cache.
const CLEAR_AT: usize = 64 << 10;

/// A tiny deterministic generator (xorshift64*), so the input is the same on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `low..=high`.
    fn between(&mut self, low: u32, high: u32) -> u32 {
        low + (self.next() >> 33) as u32 % (high - low + 1)
    }
}

/// Exactly `TEXT_LEN` bytes of words in four scripts: half ASCII, a fifth Cyrillic, a fifth
/// CJK and a tenth emoji (by word), so every UTF-8 sequence length is common.
fn mixed_text() -> String {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut text = String::with_capacity(TEXT_LEN);
    while text.len() + 64 < TEXT_LEN {
        let (low, high) = match rng.between(0, 9) {
            0..=4 => (u32::from(b'a'), u32::from(b'z')),
            5 | 6 => (0x0430, 0x044F), // Cyrillic small letters: 2 bytes
            7 | 8 => (0x4E00, 0x9FFF), // CJK unified ideographs: 3 bytes
            _ => (0x1F300, 0x1F64F),   // pictographs and emoticons: 4 bytes
        };
        for _ in 0..rng.between(1, 8) {
            text.push(char::from_u32(rng.between(low, high)).expect("ranges hold no surrogates"));
        }
        text.push(match rng.between(0, 15) {
            0 => '\n',
            1 => ',',
            2 => '.',
            _ => ' ',
        });
    }
    while text.len() < TEXT_LEN {
        text.push('.');
    }
    text
}

/// `bytes` cut into consecutive pieces of 1 to 8 bytes (fixed seed), cutting characters
/// anywhere.
fn small_pieces(bytes: &[u8]) -> Vec<&[u8]> {
    let mut rng = XorShift(0x0123_4567_89AB_CDEF);
    let mut pieces = Vec::with_capacity(bytes.len() / 4);
    let mut rest = bytes;
    while !rest.is_empty() {
        let len = (rng.between(1, 8) as usize).min(rest.len());
        let (piece, after) = rest.split_at(len);
        pieces.push(piece);
        rest = after;
    }
    pieces
}

/// `bytes` cut into consecutive pieces of 9 to 128 bytes (fixed seed).
fn medium_pieces(bytes: &[u8]) -> Vec<&[u8]> {
    let mut rng = XorShift(0xFEDC_BA98_7654_3210);
    let mut pieces = Vec::with_capacity(bytes.len() / 64);
    let mut rest = bytes;
    while !rest.is_empty() {
        let len = (rng.between(9, 128) as usize).min(rest.len());
        let (piece, after) = rest.split_at(len);
        pieces.push(piece);
        rest = after;
    }
    pieces
}

/// `bytes` cut into 4 KiB pieces, cutting characters wherever 4096 falls.
fn large_pieces(bytes: &[u8]) -> Vec<&[u8]> {
    bytes.chunks(4096).collect()
}

/// Clears `out` when it has grown to `CLEAR_AT`; every peer calls this once per piece.
#[inline(always)]
fn bound(out: &mut String) {
    if out.len() >= CLEAR_AT {
        out.clear();
    }
}

fn tokenflush_lossy(pieces: &[&[u8]], out: &mut String, clear: bool) {
    let mut decoder = Utf8Decoder::lossy();
    for piece in pieces {
        if clear {
            bound(out);
        }
        let Ok(()) = decoder.decode(piece, out);
    }
    let Ok(()) = decoder.finish(out);
}

fn tokenflush_strict(pieces: &[&[u8]], out: &mut String, clear: bool) {
    let mut decoder = Utf8Decoder::strict();
    for piece in pieces {
        if clear {
            bound(out);
        }
        decoder.decode(piece, out).expect("the text is valid");
    }
    decoder.finish(out).expect("the text is valid");
}

/// The `utf-8` crate's push-based decoder; dropping it ends the input.
fn utf8_crate(pieces: &[&[u8]], out: &mut String, clear: bool) {
    let mut decoder = utf8::LossyDecoder::new(|s: &str| {
        if clear {
            bound(out);
        }
        out.push_str(s);
    });
    for piece in pieces {
        decoder.feed(piece);
    }
}

/// `encoding_rs`'s UTF-8 decoder writing into a stack buffer, then appending what it wrote.
fn encoding_rs(pieces: &[&[u8]], out: &mut String, clear: bool) {
    let mut decoder = encoding_rs::UTF_8.new_decoder_without_bom_handling();
    let mut storage = [0u8; 8192];
    let buffer = std::str::from_utf8_mut(&mut storage).expect("zeros are UTF-8");
    let mut feed = |mut piece: &[u8], last: bool, out: &mut String| loop {
        let (result, read, written, _) = decoder.decode_to_str(piece, buffer, last);
        out.push_str(&buffer[..written]);
        match result {
            CoderResult::InputEmpty => break,
            CoderResult::OutputFull => piece = &piece[read..],
        }
    };
    for piece in pieces {
        if clear {
            bound(out);
        }
        feed(piece, false, out);
    }
    feed(&[], true, out);
}

/// What a careful user writes with std alone: append to a carry buffer, validate it, keep an
/// unfinished tail.
fn naive_std(pieces: &[&[u8]], out: &mut String, clear: bool) {
    let mut carry: Vec<u8> = Vec::with_capacity(16 << 10);
    for piece in pieces {
        if clear {
            bound(out);
        }
        carry.extend_from_slice(piece);
        let mut start = 0;
        loop {
            match std::str::from_utf8(&carry[start..]) {
                Ok(text) => {
                    out.push_str(text);
                    start = carry.len();
                    break;
                }
                Err(error) => {
                    let valid = start + error.valid_up_to();
                    out.push_str(std::str::from_utf8(&carry[start..valid]).expect("validated"));
                    match error.error_len() {
                        Some(invalid) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            start = valid + invalid;
                        }
                        None => {
                            start = valid;
                            break;
                        }
                    }
                }
            }
        }
        carry.drain(..start);
    }
    if !carry.is_empty() {
        out.push(char::REPLACEMENT_CHARACTER);
    }
}

/// The floor of any decoder that appends to a buffer: copy the bytes, validate nothing.
fn plain_copy(pieces: &[&[u8]], out: &mut Vec<u8>) {
    for piece in pieces {
        if out.len() >= CLEAR_AT {
            out.clear();
        }
        out.extend_from_slice(piece);
    }
}

/// The characters each piece completes, decoded beforehand: what a decoder appends per piece.
fn decoded_chars(pieces: &[&[u8]]) -> Vec<Vec<char>> {
    let mut decoder = Utf8Decoder::strict();
    pieces
        .iter()
        .map(|piece| {
            let mut text = String::new();
            decoder.decode(piece, &mut text).expect("the text is valid");
            text.chars().collect()
        })
        .collect()
}

/// Appends pre-decoded characters with `String::push`, piece by piece: no decoding at all.
fn push_decoded_chars(per_piece: &[Vec<char>], out: &mut String) {
    for chars in per_piece {
        bound(out);
        for &c in chars {
            out.push(c);
        }
    }
}

type Peer = fn(&[&[u8]], &mut String, bool);

const PEERS: [(&str, Peer); 5] = [
    ("tokenflush_lossy", tokenflush_lossy),
    ("tokenflush_strict", tokenflush_strict),
    ("utf8_crate_lossy", utf8_crate),
    ("encoding_rs_stack_buffer", encoding_rs),
    ("naive_std", naive_std),
];

fn group(c: &mut Criterion, name: &str, text: &str, pieces: &[&[u8]]) {
    // Every peer must produce the whole text, so none wins by skipping work.
    for (peer, run) in PEERS {
        let mut out = String::with_capacity(text.len());
        run(pieces, &mut out, false);
        assert!(out == text, "{peer} decoded {name} wrongly");
    }
    let per_piece = decoded_chars(pieces);
    let mut pushed = String::new();
    for chars in &per_piece {
        pushed.extend(chars);
    }
    assert!(pushed == text);

    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(20);
    group.measurement_time(Duration::from_secs(6));
    for (peer, run) in PEERS {
        group.bench_function(peer, |b| {
            let mut out = String::with_capacity(CLEAR_AT + 8192);
            b.iter(|| {
                run(black_box(pieces), &mut out, true);
                black_box(out.len())
            });
        });
    }
    group.bench_function("plain_copy", |b| {
        let mut out = Vec::with_capacity(CLEAR_AT + 8192);
        b.iter(|| {
            plain_copy(black_box(pieces), &mut out);
            black_box(out.len())
        });
    });
    group.bench_function("push_decoded_chars", |b| {
        let mut out = String::with_capacity(CLEAR_AT + 8192);
        b.iter(|| {
            push_decoded_chars(black_box(&per_piece), &mut out);
            black_box(out.len())
        });
    });
    group.bench_function("whole_std_from_utf8", |b| {
        b.iter(|| std::str::from_utf8(black_box(text.as_bytes())).is_ok());
    });
    group.bench_function("whole_simdutf8", |b| {
        b.iter(|| simdutf8::basic::from_utf8(black_box(text.as_bytes())).is_ok());
    });
    group.finish();
}

fn decode_pieces(c: &mut Criterion) {
    let text = mixed_text();
    group(
        c,
        "utf8_pieces_1_to_8",
        &text,
        &small_pieces(text.as_bytes()),
    );
    group(
        c,
        "utf8_pieces_9_to_128",
        &text,
        &medium_pieces(text.as_bytes()),
    );
    group(c, "utf8_pieces_4k", &text, &large_pieces(text.as_bytes()));
}

criterion_group!(benches, decode_pieces);
criterion_main!(benches);
