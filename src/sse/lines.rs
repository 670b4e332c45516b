//! Line breaks as the event-stream format defines them: CRLF, a lone CR or a lone LF.
//!
//! Both the encoder (which splits data into `data:` lines) and the parser (which splits the
//! stream into lines) look for the next CR or LF; this is the one place that does it.

const fn is_break(byte: u8) -> bool {
    byte == b'\n' || byte == b'\r'
}

/// One `byte` in every byte of a word.
const fn splat(byte: u8) -> u64 {
    u64::from_ne_bytes([byte; 8])
}

/// A word with the high bit set in the byte where `word` has its first (lowest-addressed)
/// zero byte, or 0 if it has none. Bytes after the first zero may be flagged too (a borrow
/// runs on), which is why only the first flag is ever used.
const fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(splat(0x01)) & !word & splat(0x80)
}

/// The index of the first CR or LF in `bytes`.
///
/// Looks at 8 bytes per step with word arithmetic (std only, no `unsafe`): a byte equal to CR
/// or LF is a zero byte of the word XOR-ed with CRs or LFs. Short texts (a chunk of a few
/// tokens) take one or two steps; long ones run at several GB/s, so the parser's cost per byte
/// stays in decoding, not in finding lines.
pub(super) fn find_line_break(bytes: &[u8]) -> Option<usize> {
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let mut le = [0; 8];
        le.copy_from_slice(word);
        let word = u64::from_le_bytes(le);
        let found = zero_bytes(word ^ splat(b'\n')) | zero_bytes(word ^ splat(b'\r'));
        if found != 0 {
            // Little-endian: the lowest set bit is in the first matching byte.
            return Some(offset + (found.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    words
        .remainder()
        .iter()
        .position(|&byte| is_break(byte))
        .map(|index| offset + index)
}

/// The lines of `text`, split at every CRLF, lone CR and lone LF.
///
/// Text without a break is one line; an empty text is one empty line; a trailing break ends
/// with an empty line (`"a\n"` is `["a", ""]`), so that joining the lines with LF gives the text
/// back with its breaks normalised to LF.
pub(super) fn lines(text: &str) -> Lines<'_> {
    Lines { rest: Some(text) }
}

/// Iterator returned by [`lines`].
#[derive(Clone, Debug)]
pub(super) struct Lines<'a> {
    rest: Option<&'a str>,
}

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match find_line_break(rest.as_bytes()) {
            None => {
                self.rest = None;
                Some(rest)
            }
            Some(index) => {
                let bytes = rest.as_bytes();
                let width = if bytes[index] == b'\r' && bytes.get(index + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                // CR and LF are ASCII: both cuts are on character boundaries.
                self.rest = Some(&rest[index + width..]);
                Some(&rest[..index])
            }
        }
    }
}

/// Whether `text` holds a CR or an LF.
pub(super) fn has_line_break(text: &str) -> bool {
    find_line_break(text.as_bytes()).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_first_break_in_every_position() {
        for len in 0..70 {
            for at in 0..len {
                for byte in [b'\n', b'\r'] {
                    let mut bytes = vec![b'x'; len];
                    bytes[at] = byte;
                    if at + 1 < len {
                        bytes[len - 1] = b'\n';
                    }
                    assert_eq!(find_line_break(&bytes), Some(at), "len {len} at {at}");
                }
            }
            assert_eq!(find_line_break(&vec![b'x'; len]), None);
        }
    }

    #[test]
    fn agrees_with_a_byte_by_byte_search_on_every_byte_pair() {
        // Word arithmetic can flag bytes after the first match; only the first may count.
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for len in [3, 9, 17] {
                    let bytes: Vec<u8> = (0..len).map(|i| if i % 2 == 0 { a } else { b }).collect();
                    let naive = bytes.iter().position(|&byte| is_break(byte));
                    assert_eq!(find_line_break(&bytes), naive, "{bytes:?}");
                    let shifted = &bytes[1..];
                    let naive = shifted.iter().position(|&byte| is_break(byte));
                    assert_eq!(find_line_break(shifted), naive, "{shifted:?}");
                }
            }
        }
    }

    #[test]
    fn splits_at_crlf_cr_and_lf() {
        let split: Vec<_> = lines("a\r\nb\rc\nd\n\re").collect();
        assert_eq!(split, ["a", "b", "c", "d", "", "e"]);
        assert_eq!(lines("").collect::<Vec<_>>(), [""]);
        assert_eq!(lines("a\n").collect::<Vec<_>>(), ["a", ""]);
        assert_eq!(lines("\r\n").collect::<Vec<_>>(), ["", ""]);
        assert_eq!(lines("\r\r\n").collect::<Vec<_>>(), ["", "", ""]);
    }

    #[test]
    fn other_separators_are_not_breaks() {
        let text = "a\u{2028}b\u{2029}c\u{85}d\0e\u{b}f\u{c}g";
        assert_eq!(lines(text).collect::<Vec<_>>(), [text]);
        assert!(!has_line_break(text));
    }
}
