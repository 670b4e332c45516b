//! Where a chunk may end without showing a grapheme half-built (feature `graphemes`).

use unicode_segmentation::UnicodeSegmentation;

/// The end of `text` up to which a chunk shows no grapheme half-built: all of it, unless its
/// last character commonly continues into the next one — then the start of the grapheme
/// cluster that character belongs to.
///
/// A last character continues when it is
/// - Extended_Pictographic (👩 may be followed by a zero-width joiner and 💻),
/// - a character that joins the one before it: a zero-width joiner, a variation selector, an
///   emoji modifier (skin tone), a combining mark (the Grapheme_Extend and SpacingMark classes
///   of UAX #29),
/// - a regional indicator without its pair (🇫 of 🇫🇷),
/// - a Hangul leading or vowel jamo (ᄒ, ᅡ), which the next jamo completes into a syllable.
///
/// A base character followed later by a combining mark ("e", then U+0301) cannot be foreseen
/// and is not held.
pub(super) fn whole_graphemes_end(text: &str) -> usize {
    let Some(last) = text.chars().next_back() else {
        return 0;
    };
    // ASCII continues nothing a reader would see half-built (a CR before its LF looks the same).
    if last.is_ascii() || !continues(last, text) {
        return text.len();
    }
    text.grapheme_indices(true)
        .next_back()
        .map_or(0, |(start, _)| start)
}

fn continues(last: char, text: &str) -> bool {
    match u32::from(last) {
        // Regional indicators pair up into flags: an odd count at the end is half a flag.
        0x1F1E6..=0x1F1FF => {
            let trailing = text
                .chars()
                .rev()
                .take_while(|c| matches!(u32::from(*c), 0x1F1E6..=0x1F1FF))
                .count();
            trailing % 2 == 1
        }
        // Hangul leading consonant and vowel jamo (conjoining).
        0x1100..=0x115F | 0xA960..=0xA97C | 0x1160..=0x11A7 | 0xD7B0..=0xD7C6 => true,
        _ => joins_the_one_before(last) || is_extended_pictographic(last),
    }
}

/// Whether `c` after a base letter stays in its grapheme cluster (Extend, SpacingMark, ZWJ).
fn joins_the_one_before(c: char) -> bool {
    let mut buffer = [0u8; 8];
    buffer[0] = b'a';
    let len = 1 + c.encode_utf8(&mut buffer[1..]).len();
    single_cluster(&buffer[..len])
}

/// Whether `c` is Extended_Pictographic: only then does "c, ZWJ, 💻" stay one cluster (GB11).
fn is_extended_pictographic(c: char) -> bool {
    let mut buffer = [0u8; 12];
    let mut len = c.encode_utf8(&mut buffer).len();
    for joiner in ['\u{200D}', '\u{1F4BB}'] {
        len += joiner.encode_utf8(&mut buffer[len..]).len();
    }
    single_cluster(&buffer[..len])
}

fn single_cluster(bytes: &[u8]) -> bool {
    // Built from whole characters above: always valid UTF-8.
    std::str::from_utf8(bytes).is_ok_and(|text| text.graphemes(true).nth(1).is_none())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_end_before_what_would_show_half_built() {
        let cases = [
            ("plain text", "plain text"),
            ("caf\u{e9}", "caf\u{e9}"),
            ("日本語", "日本語"),
            ("hi 👩", "hi "),
            ("hi 👩\u{200D}", "hi "),
            ("hi 👩\u{200D}💻", "hi "),
            ("ok 👍🏽", "ok "),
            ("go 🇫", "go "),
            ("go 🇫🇷", "go 🇫🇷"),
            ("go 🇫🇷🇩", "go 🇫🇷"),
            ("cafe\u{301}", "caf"),
            ("❤\u{FE0F}", ""),
            ("한\u{1100}", "한"),
            ("한\u{1100}\u{1161}", "한"),
            ("", ""),
        ];
        for (text, shown) in cases {
            assert_eq!(&text[..whole_graphemes_end(text)], shown, "{text:?}");
        }
    }
}
