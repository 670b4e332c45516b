//! `Utf8Decoder`: split-invariance against `String::from_utf8_lossy` and `std::str::from_utf8`,
//! every scalar value cut everywhere, every malformed sequence shape in context fed every way,
//! the replacement table of the WHATWG decoder, strict offsets, carry bounds, reuse and the
//! typed modes.

use std::convert::Infallible;

use proptest::prelude::*;
use proptest::sample::Index;
use tokenflush::utf8::{DecodeError, Utf8Decoder};

/// What the checks on valid input need from either decoder: there, neither may fail.
trait ValidInput {
    fn decode_valid(&mut self, piece: &[u8], out: &mut String);
    fn finish_valid(&mut self, out: &mut String);
    fn carried(&self) -> usize;
}

impl ValidInput for Utf8Decoder {
    fn decode_valid(&mut self, piece: &[u8], out: &mut String) {
        let Ok(()) = self.decode(piece, out);
    }
    fn finish_valid(&mut self, out: &mut String) {
        let Ok(()) = self.finish(out);
    }
    fn carried(&self) -> usize {
        self.pending_len()
    }
}

impl ValidInput for Utf8Decoder<DecodeError> {
    fn decode_valid(&mut self, piece: &[u8], out: &mut String) {
        self.decode(piece, out).expect("valid input");
    }
    fn finish_valid(&mut self, out: &mut String) {
        self.finish(out).expect("valid input");
    }
    fn carried(&self) -> usize {
        self.pending_len()
    }
}

/// Decodes `pieces` with `decoder` (which must not fail on them) and returns the text.
fn decode_valid(mut decoder: impl ValidInput, pieces: &[&[u8]]) -> String {
    let mut out = String::new();
    for piece in pieces {
        decoder.decode_valid(piece, &mut out);
        assert!(decoder.carried() <= 3);
    }
    decoder.finish_valid(&mut out);
    assert_eq!(decoder.carried(), 0);
    out
}

/// What a decoder is expected to have produced after consuming `seen`: the lossy decoding of
/// everything but an unfinished character at the end, and that character's length.
///
/// Built on `str::Utf8Chunks`, the definition `String::from_utf8_lossy` itself uses: a final
/// invalid part that `from_utf8` calls incomplete (`error_len() == None`) is a character still
/// arriving.
fn expected_after(seen: &[u8]) -> (String, usize) {
    let mut pending = 0;
    if let Some(last) = seen.utf8_chunks().last() {
        let invalid = last.invalid();
        if !invalid.is_empty()
            && std::str::from_utf8(invalid)
                .unwrap_err()
                .error_len()
                .is_none()
        {
            pending = invalid.len();
        }
    }
    let decided = String::from_utf8_lossy(&seen[..seen.len() - pending]).into_owned();
    (decided, pending)
}

/// How many U+FFFD `String::from_utf8_lossy` inserts for `bytes`: one per invalid part, not
/// counting U+FFFD characters that are already in the input.
fn replacements_in(bytes: &[u8]) -> u64 {
    bytes
        .utf8_chunks()
        .filter(|chunk| !chunk.invalid().is_empty())
        .count() as u64
}

/// `bytes` cut before each of `cuts` (positions taken modulo `bytes.len() + 1`, sorted, repeats
/// kept so that empty pieces occur).
fn cut<'a>(bytes: &'a [u8], cuts: &[Index]) -> Vec<&'a [u8]> {
    let mut positions: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
    positions.sort_unstable();
    let mut pieces = Vec::with_capacity(positions.len() + 1);
    let mut start = 0;
    for position in positions {
        pieces.push(&bytes[start..position]);
        start = position;
    }
    pieces.push(&bytes[start..]);
    pieces
}

/// Feeds `pieces` to a lossy decoder, checking after every call that it holds back exactly the
/// unfinished character and nothing else, and returns the output after `finish`.
fn lossy_checked(decoder: &mut Utf8Decoder, pieces: &[&[u8]]) -> String {
    let whole = pieces.concat();
    let mut out = String::new();
    let mut seen = 0;
    for piece in pieces {
        let before = out.clone();
        let pending_before = decoder.pending_len();
        let Ok(()) = decoder.decode(piece, &mut out);
        seen += piece.len();
        let (decided, pending) = expected_after(&whole[..seen]);
        assert_eq!(out, decided, "output after {seen} of {whole:02X?}");
        assert_eq!(
            decoder.pending_len(),
            pending,
            "carry after {seen} of {whole:02X?}"
        );
        assert!(decoder.pending_len() <= 3);
        assert_eq!(decoder.has_pending(), pending > 0);
        assert!(out.starts_with(&before), "decode only appends");
        if decoder.pending_len() == pending_before + piece.len() {
            assert_eq!(
                out, before,
                "a call that only extends the carry appends nothing"
            );
        }
    }
    let Ok(()) = decoder.finish(&mut out);
    assert!(!decoder.has_pending());
    out
}

/// Feeds `pieces` to a strict decoder up to the first error, checking it against
/// `std::str::from_utf8` of the whole input: same position, reported by the call that brought
/// the byte proving the input invalid (or by `finish` if the input merely ends too early), with
/// all text before it written.
fn strict_checked(decoder: &mut Utf8Decoder<DecodeError>, pieces: &[&[u8]]) {
    let whole = pieces.concat();
    let expected = std::str::from_utf8(&whole);
    let mut out = String::new();
    let mut seen = 0;
    for piece in pieces {
        let result = decoder.decode(piece, &mut out);
        let start = seen;
        seen += piece.len();
        assert!(decoder.pending_len() <= 3);
        match (result, expected) {
            (Ok(()), Ok(_)) => {}
            (Ok(()), Err(error)) => {
                let proof = proof_of_error(&whole, &error);
                assert!(
                    proof.is_none_or(|at| at >= seen),
                    "error at {} proven by byte {proof:?} in {start}..{seen} not reported: {whole:02X?}",
                    error.valid_up_to(),
                );
            }
            (Err(got), Err(error)) => {
                assert!(!got.is_incomplete());
                assert_eq!(got.offset(), error.valid_up_to() as u64, "{whole:02X?}");
                let proof = proof_of_error(&whole, &error).expect("an invalid byte");
                assert!(
                    (start..seen).contains(&proof),
                    "reported in {start}..{seen}, proven by {proof}"
                );
                assert_eq!(out.as_bytes(), &whole[..error.valid_up_to()]);
                return;
            }
            (Err(got), Ok(_)) => panic!("{got} on valid input {whole:02X?}"),
        }
    }
    let result = decoder.finish(&mut out);
    match expected {
        Ok(text) => {
            assert_eq!(result, Ok(()));
            assert_eq!(out, text);
        }
        Err(error) => {
            assert_eq!(error.error_len(), None, "an invalid byte went unreported");
            let got = result.expect_err("input ended inside a character");
            assert!(got.is_incomplete());
            assert_eq!(got.offset(), error.valid_up_to() as u64);
            assert_eq!(out.as_bytes(), &whole[..error.valid_up_to()]);
        }
    }
    assert!(!decoder.has_pending());
}

/// The index of the first byte that makes `whole` invalid at `error`, or `None` if it is only
/// cut short at the end: the sequence's first byte when that cannot lead one, else the byte
/// after the maximal subpart.
fn proof_of_error(whole: &[u8], error: &std::str::Utf8Error) -> Option<usize> {
    let at = error.valid_up_to();
    let len = error.error_len()?;
    let can_lead = matches!(whole[at], 0xC2..=0xF4);
    Some(if can_lead { at + len } else { at })
}

/// Every way to cut `bytes` (up to 12 bytes): each of the `len - 1` inner positions is cut or not.
fn every_cut(bytes: &[u8]) -> impl Iterator<Item = Vec<&[u8]>> {
    assert!(bytes.len() <= 12);
    let inner = bytes.len().saturating_sub(1);
    (0u32..1 << inner).map(move |mask| {
        let mut pieces = Vec::new();
        let mut start = 0;
        for position in 1..bytes.len() {
            if mask & 1 << (position - 1) != 0 {
                pieces.push(&bytes[start..position]);
                start = position;
            }
        }
        pieces.push(&bytes[start..]);
        pieces
    })
}

/// Checks `decode` of one scalar, fed as `pieces`, into a cleared `out`, without allocating.
fn feed_scalar(decoder: &mut impl ValidInput, out: &mut String, bytes: &[u8], pieces: &[&[u8]]) {
    out.clear();
    let mut fed = 0;
    for piece in pieces {
        decoder.decode_valid(piece, out);
        fed += piece.len();
        if fed < bytes.len() {
            assert!(
                out.is_empty() && decoder.carried() == fed,
                "{bytes:02X?} at {fed}"
            );
        }
    }
    assert!(
        out.as_bytes() == bytes && decoder.carried() == 0,
        "{bytes:02X?}: {out:?}"
    );
}

#[test]
fn every_multibyte_scalar_cut_at_every_offset_and_byte_by_byte() {
    let mut lossy = Utf8Decoder::lossy();
    let mut strict = Utf8Decoder::strict();
    let mut out = String::with_capacity(8);
    let mut buffer = [0u8; 4];
    let mut count = 0u32;
    // `RangeInclusive<char>` skips the surrogates: this is every scalar of 2, 3 or 4 bytes.
    for c in '\u{80}'..='\u{10FFFF}' {
        count += 1;
        let bytes: &[u8] = c.encode_utf8(&mut buffer).as_bytes();
        let len = bytes.len();
        for cut in 1..len {
            let (head, tail) = bytes.split_at(cut);
            feed_scalar(&mut lossy, &mut out, bytes, &[head, tail]);
        }
        let one_by_one: [&[u8]; 8] = [
            &bytes[..1],
            &[],
            &bytes[1..2],
            &[],
            &bytes[2.min(len)..3.min(len)],
            &[],
            &bytes[3.min(len)..],
            &[],
        ];
        feed_scalar(&mut strict, &mut out, bytes, &one_by_one);
    }
    assert_eq!(count, 0x10FFFF + 1 - 0x80 - 0x800);
    assert_eq!(lossy.replacements(), 0);
}

#[test]
fn boundary_scalars_survive_every_cut_in_context() {
    let boundaries = [
        '\u{80}',
        '\u{7FF}',
        '\u{800}',
        '\u{D7FF}',
        '\u{E000}',
        '\u{FFFD}',
        '\u{FFFF}',
        '\u{10000}',
        '\u{10FFFF}',
    ];
    for c in boundaries {
        for text in [
            format!("{c}"),
            format!("a{c}"),
            format!("{c}z"),
            format!("a{c}{c}"),
        ] {
            for pieces in every_cut(text.as_bytes()) {
                // Empty pieces before, between and after change nothing.
                let mut padded: Vec<&[u8]> = vec![b""];
                for piece in &pieces {
                    padded.push(piece);
                    padded.push(b"");
                }
                assert_eq!(decode_valid(Utf8Decoder::lossy(), &padded), text);
                assert_eq!(decode_valid(Utf8Decoder::strict(), &padded), text);
            }
        }
    }
}

/// The replacement table the WHATWG decoder (browsers' `TextDecoder`) gives, one U+FFFD per
/// maximal subpart of an invalid sequence.
const REPLACEMENT_TABLE: &[(&[u8], &str, u64)] = &[
    (b"\xED\xA0\x80", "\u{FFFD}\u{FFFD}\u{FFFD}", 3), // a UTF-16 surrogate
    (b"\xC0\x80", "\u{FFFD}\u{FFFD}", 2),             // overlong NUL
    (b"\xE0\x80\x80", "\u{FFFD}\u{FFFD}\u{FFFD}", 3), // overlong 3-byte
    (b"\xF4\x90\x80\x80", "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}", 4), // above U+10FFFF
    (b"\xF5", "\u{FFFD}", 1),
    (b"\xFF", "\u{FFFD}", 1),
    (b"\x80\x80", "\u{FFFD}\u{FFFD}", 2),  // lone continuations
    (b"\xF0\x9F\x98\x41", "\u{FFFD}A", 1), // truncated emoji, then a letter
    (b"\xF0\x9F\x98", "\u{FFFD}", 1),      // truncated at the end
    (b"\xC1\xBF", "\u{FFFD}\u{FFFD}", 2),  // overlong 2-byte
    (b"\xE0\x9F\xBF", "\u{FFFD}\u{FFFD}\u{FFFD}", 3),
    (b"\xF0\x8F\xBF\xBF", "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}", 4),
    (b"\xEF\xBF\xBD", "\u{FFFD}", 0), // a real U+FFFD is text, not a replacement
    (b"a\xE2\x82b\xE2\x82\xAC", "a\u{FFFD}b\u{20AC}", 1),
    (b"\xE1\xC0\x80", "\u{FFFD}\u{FFFD}\u{FFFD}", 3), // not U+1000
    (b"\xF1\xC0\x80\x80", "\u{FFFD}\u{FFFD}\u{FFFD}\u{FFFD}", 4), // not U+40000
];

#[test]
fn replacement_table_under_every_cut() {
    for &(input, expected, replacements) in REPLACEMENT_TABLE {
        assert_eq!(String::from_utf8_lossy(input), expected, "the table itself");
        for pieces in every_cut(input) {
            let mut decoder = Utf8Decoder::lossy();
            let out = lossy_checked(&mut decoder, &pieces);
            assert_eq!(out, expected, "{pieces:02X?}");
            assert_eq!(decoder.replacements(), replacements, "{pieces:02X?}");
            assert_eq!(decoder.replacements(), replacements_in(input));
            strict_checked(&mut Utf8Decoder::strict(), &pieces);
        }
    }
}

#[test]
fn replacement_count_accumulates_across_inputs() {
    let mut decoder = Utf8Decoder::lossy();
    let mut out = String::new();
    decoder.decode(b"\xFF\xFE", &mut out).unwrap();
    decoder.decode(b"\xE2\x82", &mut out).unwrap();
    assert_eq!(decoder.replacements(), 2);
    decoder.finish(&mut out).unwrap();
    assert_eq!(decoder.replacements(), 3);
    decoder.decode(b"\xC3", &mut out).unwrap();
    decoder.reset();
    decoder.finish(&mut out).unwrap();
    assert_eq!(
        decoder.replacements(),
        3,
        "reset drops the carry without replacing it"
    );
    assert_eq!(out, "\u{FFFD}\u{FFFD}\u{FFFD}");
}

#[test]
fn byte_order_mark_is_kept_as_text() {
    let input = b"\xEF\xBB\xBFhi\xEF\xBB\xBF";
    for pieces in every_cut(input) {
        assert_eq!(
            decode_valid(Utf8Decoder::lossy(), &pieces),
            "\u{FEFF}hi\u{FEFF}"
        );
        assert_eq!(
            decode_valid(Utf8Decoder::strict(), &pieces),
            "\u{FEFF}hi\u{FEFF}"
        );
    }
}

#[test]
fn strict_offsets_are_absolute_across_pieces() {
    let mut decoder = Utf8Decoder::strict();
    let mut out = String::new();
    decoder.decode(b"hello ", &mut out).unwrap();
    decoder.decode(b"w\xC3", &mut out).unwrap();
    let err = decoder.decode(b"(rld", &mut out).unwrap_err();
    assert_eq!(err.offset(), 7, "where the unfinished 'C3' began");
    assert!(!err.is_incomplete());
    assert_eq!(out, "hello w");
    assert_eq!(err.to_string(), "invalid utf-8 sequence at byte 7");

    // Offsets keep counting after an error: the rest of the failing piece counts too.
    let err = decoder.decode(b"ok\xFF", &mut out).unwrap_err();
    assert_eq!(err.offset(), 14);
    assert_eq!(out, "hello wok");
}

#[test]
fn strict_finish_reports_where_a_dangling_tail_began() {
    let mut decoder = Utf8Decoder::strict();
    let mut out = String::new();
    decoder.decode(b"ab", &mut out).unwrap();
    decoder.decode(b"c\xF0", &mut out).unwrap();
    decoder.decode(b"\x9F\x98", &mut out).unwrap();
    assert_eq!(decoder.pending_len(), 3);
    let err: DecodeError = decoder.finish(&mut out).unwrap_err();
    assert!(err.is_incomplete());
    assert_eq!(err.offset(), 3);
    assert_eq!(
        err.to_string(),
        "incomplete utf-8 sequence at end of input, starting at byte 3"
    );
    assert_eq!(out, "abc");
    assert!(!decoder.has_pending());

    // Reusable: the next input starts at offset 0 with an empty carry.
    decoder.decode(b"\xE2\x82\xAC", &mut out).unwrap();
    let err = decoder.decode(b"x\x80", &mut out).unwrap_err();
    assert_eq!(err.offset(), 4);
    assert_eq!(out, "abc\u{20AC}x");
    decoder.finish(&mut out).unwrap();
    decoder.decode(b"\xC3", &mut out).unwrap();
    assert_eq!(decoder.finish(&mut out).unwrap_err().offset(), 0);
    assert_eq!(
        decoder.finish(&mut out),
        Ok(()),
        "finish twice: nothing left"
    );
}

#[test]
fn lossy_finish_replaces_a_dangling_tail_once_and_resets() {
    let mut decoder = Utf8Decoder::lossy();
    let mut out = String::new();
    decoder.decode(b"\xF0", &mut out).unwrap();
    decoder.decode(b"\x9F", &mut out).unwrap();
    decoder.finish(&mut out).unwrap();
    assert_eq!(out, "\u{FFFD}");
    decoder.finish(&mut out).unwrap();
    assert_eq!(out, "\u{FFFD}");
    decoder.decode("é".as_bytes(), &mut out).unwrap();
    assert_eq!(out, "\u{FFFD}é");
    assert_eq!(decoder.replacements(), 1);
}

#[test]
fn reset_drops_the_carry_and_restarts_offsets() {
    let mut decoder = Utf8Decoder::strict();
    let mut out = String::new();
    decoder.decode(b"abc\xE2\x82", &mut out).unwrap();
    decoder.reset();
    assert!(!decoder.has_pending());
    let err = decoder.decode(b"\xAC", &mut out).unwrap_err();
    assert_eq!(err.offset(), 0, "the carried E2 82 is gone");
    assert_eq!(out, "abc");
}

#[test]
fn decode_appends_to_existing_text() {
    let mut out = String::from("prefix:");
    let mut decoder = Utf8Decoder::default();
    let Ok(()) = decoder.decode("日本\u{FFFD}".as_bytes(), &mut out);
    let Ok(()) = decoder.decode(b"\xFF", &mut out);
    assert_eq!(
        out, "prefix:日本\u{FFFD}\u{FFFD}",
        "the default decoder is lossy"
    );
    assert_eq!(decoder.replacements(), 1);
}

#[test]
fn equal_states_compare_equal() {
    let mut a = Utf8Decoder::lossy();
    let mut b = Utf8Decoder::lossy();
    let mut out = String::new();
    a.decode(b"\xE2\x82\xAC", &mut out).unwrap();
    a.reset();
    b.decode(b"\xC3\xA9", &mut out).unwrap();
    b.reset();
    assert_eq!(a, b, "carried bytes that were used up are not state");
    a.decode(b"\xE2", &mut out).unwrap();
    b.decode(b"\xE3", &mut out).unwrap();
    assert_ne!(a, b);
    assert!(format!("{a:?}").contains("Utf8Decoder"));
}

#[test]
fn valid_input_never_reallocates_a_big_enough_output() {
    let text = "ascii, кириллица, 漢字 and 😀🎉 ".repeat(64);
    let mut out = String::with_capacity(text.len());
    let capacity = out.capacity();
    let mut decoder = Utf8Decoder::lossy();
    let mut lengths = [1, 7, 2, 5, 3, 8, 4, 6, 100, 1, 3000].into_iter().cycle();
    let mut rest = text.as_bytes();
    while !rest.is_empty() {
        let (piece, after) = rest.split_at(lengths.next().unwrap().min(rest.len()));
        decoder.decode(piece, &mut out).unwrap();
        rest = after;
    }
    decoder.finish(&mut out).unwrap();
    assert_eq!(out, text);
    assert_eq!(
        out.capacity(),
        capacity,
        "decode grew `out` beyond what it wrote"
    );
}

/// `bytes` fed every way the checks below use: whole, byte by byte, and cut once at every
/// position in `cuts`.
fn feedings(bytes: &[u8], cuts: std::ops::Range<usize>) -> Vec<Vec<&[u8]>> {
    let mut ways = vec![vec![bytes], bytes.chunks(1).collect()];
    for at in cuts {
        let (head, tail) = bytes.split_at(at);
        ways.push(vec![head, tail]);
    }
    ways
}

/// Checks both decoders on `bytes` fed as `pieces` against `String::from_utf8_lossy` and
/// `std::str::from_utf8` of the whole (see `lossy_checked` and `strict_checked`).
fn both_checked(bytes: &[u8], pieces: &[&[u8]]) {
    let mut lossy = Utf8Decoder::lossy();
    let out = lossy_checked(&mut lossy, pieces);
    assert_eq!(out, String::from_utf8_lossy(bytes), "{pieces:02X?}");
    assert_eq!(
        lossy.replacements(),
        replacements_in(bytes),
        "{pieces:02X?}"
    );
    strict_checked(&mut Utf8Decoder::strict(), pieces);
}

/// A byte of every kind that decides a decoding: ASCII, each end of the three continuation
/// ranges that Unicode Table 3-7 tells apart (80..=8F, 90..=9F, A0..=BF), C0 (the first byte
/// above them, so a test of `byte ^ 0x80 < 0x40` is exact), and a lead byte (after which a new
/// character may begin).
const FOLLOWERS: [u8; 9] = [0x41, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2];

/// Every malformed (and well-formed) shape of a 2-, 3- or 4-byte sequence, truncated ones
/// included: a lead byte of each kind, then up to as many bytes as it announces minus one,
/// each of every kind in `FOLLOWERS`. Leads that cannot begin a sequence get one follower.
fn sequence_shapes() -> Vec<Vec<u8>> {
    let leads: [(u8, usize); 17] = [
        (0x80, 2), // a lone continuation
        (0xBF, 2),
        (0xC0, 2), // overlong 2-byte forms only
        (0xC1, 2),
        (0xC2, 2),
        (0xDF, 2),
        (0xE0, 3), // A0..=BF next, or overlong
        (0xE1, 3),
        (0xEC, 3),
        (0xED, 3), // 80..=9F next, or a surrogate
        (0xEE, 3),
        (0xEF, 3),
        (0xF0, 4), // 90..=BF next, or overlong
        (0xF1, 4),
        (0xF3, 4),
        (0xF4, 4), // 80..=8F next, or above U+10FFFF
        (0xF5, 2), // never valid
    ];
    let mut shapes = Vec::new();
    for (lead, len) in leads {
        let mut level = vec![vec![lead]];
        for _ in 1..len {
            shapes.extend(level.iter().cloned());
            level = level
                .iter()
                .flat_map(|shape| {
                    FOLLOWERS.iter().map(move |&next| {
                        let mut longer = shape.clone();
                        longer.push(next);
                        longer
                    })
                })
                .collect();
        }
        shapes.extend(level);
    }
    shapes.push(vec![0xFF]);
    shapes
}

#[test]
fn the_shapes_cover_every_kind_of_malformed_sequence() {
    let shapes = sequence_shapes();
    let has = |bytes: &[u8]| shapes.iter().any(|shape| shape == bytes);
    for malformed in [
        &b"\xE1\xC0\x80"[..], // bad second byte, which a 3-byte lead's bits would turn into U+1000
        b"\xF1\xC0\x80\x80",  // the same for 4 bytes: U+40000
        b"\xE1\x80\x41",      // bad third byte
        b"\xF1\x80\x80\xC0",  // bad fourth byte
        b"\xC1\xBF",          // overlong 2-byte
        b"\xE0\x9F\xBF",      // overlong 3-byte
        b"\xF0\x8F\xBF\xBF",  // overlong 4-byte
        b"\xED\xA0\x80",      // a surrogate
        b"\xF4\x90\x80\x80",  // above U+10FFFF
        b"\xF0\x90\x80",      // truncated
    ] {
        assert!(has(malformed), "{malformed:02X?}");
        assert!(std::str::from_utf8(malformed).is_err());
    }
    for well_formed in [
        &b"\xDF\xBF"[..],
        b"\xE0\xA0\x80",
        b"\xED\x9F\xBF",
        b"\xF0\x90\x80\x80",
        b"\xF4\x8F\xBF\xBF",
    ] {
        assert!(has(well_formed), "{well_formed:02X?}");
    }
}

#[test]
fn malformed_sequences_in_short_pieces_match_std_fed_every_way() {
    let before: [&[u8]; 4] = [b"", b"a", "é".as_bytes(), "😀".as_bytes()];
    let after: [&[u8]; 4] = [b"", b"z", "é".as_bytes(), "€".as_bytes()];
    for shape in sequence_shapes() {
        for prefix in before {
            for suffix in after {
                let bytes = [prefix, &shape, suffix].concat();
                assert!(
                    bytes.len() <= 32,
                    "pieces of the character-by-character path"
                );
                for pieces in feedings(&bytes, 1..bytes.len()) {
                    both_checked(&bytes, &pieces);
                }
            }
        }
    }
}

#[test]
fn malformed_sequences_in_long_pieces_match_std_fed_every_way() {
    let ascii = "a".repeat(40);
    let multibyte = "é".repeat(20);
    let before = [ascii.as_bytes(), multibyte.as_bytes()];
    let long_after = "z".repeat(36);
    let after: [&[u8]; 3] = [b"", "€".as_bytes(), long_after.as_bytes()];
    for shape in sequence_shapes() {
        for prefix in before {
            for suffix in after {
                let bytes = [prefix, &shape, suffix].concat();
                // Cut where a carried character meets a long piece (after the first byte), and
                // everywhere from just before the shape to just after it.
                let near = prefix.len() - 3..(prefix.len() + shape.len() + 2).min(bytes.len());
                let mut ways = feedings(&bytes, near);
                ways.push(vec![&bytes[..1], &bytes[1..]]);
                for pieces in ways {
                    assert!(pieces.len() > 2 || pieces.iter().any(|piece| piece.len() > 32));
                    both_checked(&bytes, &pieces);
                }
            }
        }
    }
}

#[test]
fn strict_offsets_of_long_pieces_ending_in_a_malformed_partial_sequence() {
    // Every lead byte, then up to two more bytes of every kind: the tails that a long piece
    // carries, replaces or rejects at its end.
    let mut tails: Vec<Vec<u8>> = Vec::new();
    for lead in 0xC0..=0xFF_u8 {
        tails.push(vec![lead]);
        for second in FOLLOWERS {
            tails.push(vec![lead, second]);
            for third in FOLLOWERS {
                tails.push(vec![lead, second, third]);
            }
        }
    }
    let mut decoder = Utf8Decoder::strict();
    let mut out = String::new();
    for prefix_len in 0..=80 {
        let prefix = vec![b'a'; prefix_len];
        for tail in &tails {
            let bytes = [&prefix[..], tail].concat();
            // The case, spelled out: 38 bytes of ASCII, then E0 80.
            if prefix_len == 38 && tail[..] == [0xE0, 0x80] {
                decoder.reset();
                out.clear();
                let err = decoder.decode(&bytes, &mut out).unwrap_err();
                assert_eq!(err.offset(), 38);
                assert_eq!(out.len(), 38);
            }
            both_checked(&bytes, &[&bytes]);
            let carried =
                std::str::from_utf8(&bytes).is_err_and(|error| error.error_len().is_none());
            if carried {
                // The next piece proves or disproves the carried tail.
                both_checked(&[&bytes[..], b"\x80z"].concat(), &[&bytes, b"\x80z"]);
                both_checked(&[&bytes[..], b"z"].concat(), &[&bytes, b"z"]);
            }
        }
    }
}

#[test]
fn modes_are_types() {
    // A lossy decoder's results cannot be errors: these patterns are irrefutable.
    let mut lossy: Utf8Decoder<Infallible> = Utf8Decoder::lossy();
    let mut out = String::new();
    let Ok(()) = lossy.decode(b"\xE2\x82", &mut out);
    let Ok(()) = lossy.finish(&mut out);
    assert_eq!(out, "\u{FFFD}");
    let _: Utf8Decoder = Utf8Decoder::default();
    let _: Utf8Decoder<DecodeError> = Utf8Decoder::strict();

    // `?` passes either decoder's result on in a function that returns `DecodeError`s.
    fn both(input: &[u8], out: &mut String) -> Result<(), DecodeError> {
        let mut lossy = Utf8Decoder::lossy();
        lossy.decode(input, out)?;
        lossy.finish(out)?;
        let mut strict = Utf8Decoder::strict();
        strict.decode(input, out)?;
        strict.finish(out)?;
        Ok(())
    }
    let mut out = String::new();
    assert_eq!(both(b"ok", &mut out), Ok(()));
    assert_eq!(out, "okok");
    out.clear();
    assert_eq!(both(b"o\xFFk", &mut out).unwrap_err().offset(), 1);
    assert_eq!(out, "o\u{FFFD}ko");

    fn send_sync_unpin<T: Send + Sync + Unpin>() {}
    send_sync_unpin::<Utf8Decoder>();
    send_sync_unpin::<Utf8Decoder<DecodeError>>();
}

#[test]
fn debug_shows_mode_and_state_not_text() {
    let mut lossy = Utf8Decoder::lossy();
    let Ok(()) = lossy.decode(b"secret\xFF\xE2\x82", &mut String::new());
    assert_eq!(
        format!("{lossy:?}"),
        "Utf8Decoder { mode: lossy, pending_len: 2, offset: 9, replacements: 1 }"
    );
    let mut strict = Utf8Decoder::strict();
    strict.decode(b"secret\xF0", &mut String::new()).unwrap();
    assert_eq!(
        format!("{strict:?}"),
        "Utf8Decoder { mode: strict, pending_len: 1, offset: 7, replacements: 0 }"
    );
}

/// Input bytes worth decoding: mostly characters and their fragments, plus the bytes that
/// make UTF-8 invalid in every way (overlongs, surrogates, beyond U+10FFFF, bad leads, lone
/// continuations) and literal U+FFFD.
fn fragment() -> impl Strategy<Value = Vec<u8>> {
    let tricky = prop::sample::select(vec![
        0x80u8, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xED, 0xEF, 0xF0, 0xF4,
        0xF5, 0xFE, 0xFF,
    ]);
    prop_oneof![
        4 => any::<char>().prop_map(|c| c.to_string().into_bytes()),
        2 => (any::<char>(), 1usize..4).prop_map(|(c, keep)| {
            let bytes = c.to_string().into_bytes();
            bytes[..keep.min(bytes.len())].to_vec()
        }),
        2 => tricky.prop_map(|b| vec![b]),
        1 => any::<u8>().prop_map(|b| vec![b]),
        1 => Just("\u{FFFD}".as_bytes().to_vec()),
        1 => Just(b"a".to_vec()),
    ]
}

fn input() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(fragment(), 0..16).prop_map(|fragments| fragments.concat())
}

fn cuts() -> impl Strategy<Value = Vec<Index>> {
    prop::collection::vec(any::<Index>(), 0..10)
}

/// Longer inputs cut into few pieces, so that pieces of a hundred bytes and more (validated in
/// bulk rather than character by character) meet carries, invalid bytes and cut-off tails.
fn long_input_and_cuts() -> impl Strategy<Value = (Vec<u8>, Vec<Index>)> {
    (
        prop::collection::vec(fragment(), 0..96).prop_map(|fragments| fragments.concat()),
        prop::collection::vec(any::<Index>(), 0..4),
    )
}

proptest! {
    #[test]
    fn lossy_matches_from_utf8_lossy_under_any_cut(bytes in input(), cuts in cuts()) {
        let pieces = cut(&bytes, &cuts);
        let mut decoder = Utf8Decoder::lossy();
        let out = lossy_checked(&mut decoder, &pieces);
        prop_assert_eq!(&out, &String::from_utf8_lossy(&bytes));
        prop_assert_eq!(decoder.replacements(), replacements_in(&bytes));
    }

    #[test]
    fn lossy_matches_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..48),
        cuts in cuts(),
    ) {
        let pieces = cut(&bytes, &cuts);
        let mut decoder = Utf8Decoder::lossy();
        let out = lossy_checked(&mut decoder, &pieces);
        prop_assert_eq!(&out, &String::from_utf8_lossy(&bytes));
        prop_assert_eq!(decoder.replacements(), replacements_in(&bytes));
    }

    #[test]
    fn long_pieces_match_from_utf8_lossy_and_from_utf8((bytes, cuts) in long_input_and_cuts()) {
        let pieces = cut(&bytes, &cuts);
        let mut decoder = Utf8Decoder::lossy();
        let out = lossy_checked(&mut decoder, &pieces);
        prop_assert_eq!(&out, &String::from_utf8_lossy(&bytes));
        prop_assert_eq!(decoder.replacements(), replacements_in(&bytes));
        strict_checked(&mut Utf8Decoder::strict(), &pieces);
    }

    #[test]
    fn strict_matches_from_utf8_under_any_cut(bytes in input(), cuts in cuts()) {
        strict_checked(&mut Utf8Decoder::strict(), &cut(&bytes, &cuts));
    }

    #[test]
    fn strict_matches_on_arbitrary_bytes(
        bytes in prop::collection::vec(any::<u8>(), 0..48),
        cuts in cuts(),
    ) {
        strict_checked(&mut Utf8Decoder::strict(), &cut(&bytes, &cuts));
    }

    #[test]
    fn valid_text_round_trips_under_any_cut(text in any::<String>(), cuts in cuts()) {
        let pieces = cut(text.as_bytes(), &cuts);
        let mut lossy = Utf8Decoder::lossy();
        let mut out = String::new();
        for piece in &pieces {
            let Ok(()) = lossy.decode(piece, &mut out);
        }
        let Ok(()) = lossy.finish(&mut out);
        prop_assert_eq!(&out, &text);
        prop_assert_eq!(lossy.replacements(), 0);
        prop_assert_eq!(&decode_valid(Utf8Decoder::strict(), &pieces), &text);
    }

    #[test]
    fn a_decoder_is_reusable_after_finish(
        first in input(),
        second in input(),
        first_cuts in cuts(),
        second_cuts in cuts(),
    ) {
        let mut lossy = Utf8Decoder::lossy();
        let mut strict = Utf8Decoder::strict();
        for (bytes, cuts) in [(&first, &first_cuts), (&second, &second_cuts)] {
            let pieces = cut(bytes, cuts);
            let before = lossy.replacements();
            prop_assert_eq!(lossy_checked(&mut lossy, &pieces), String::from_utf8_lossy(bytes));
            prop_assert_eq!(lossy.replacements() - before, replacements_in(bytes));
            // An error leaves the rest of the input unread: finish (or reset) ends it.
            strict_checked(&mut strict, &pieces);
            let _ = strict.finish(&mut String::new());
        }
    }
}
