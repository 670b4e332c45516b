//! Line breaks as the event-stream format defines them: CRLF, a lone CR or a lone LF.
//!
//! Both the encoder (which splits data into `data:` lines) and the parser (which splits the
//! stream into lines) look for the next CR or LF; this is the one place that does it.

/// Bytes examined per step of the fast scan.
const BLOCK: usize = 16;

const fn is_break(byte: u8) -> bool {
    byte == b'\n' || byte == b'\r'
}

/// The index of the first CR or LF in `bytes`.
///
/// Scans 16 bytes at a time without an early exit inside a block, which the compiler turns
/// into a few vector compares; only a block that holds a break is searched byte by byte.
/// On text without breaks this runs at several GB/s with std only, so the parser's cost per
/// byte stays in decoding, not in finding lines.
pub(super) fn find_line_break(bytes: &[u8]) -> Option<usize> {
    let mut blocks = bytes.chunks_exact(BLOCK);
    let mut offset = 0;
    for block in &mut blocks {
        let hit = block
            .iter()
            .fold(false, |hit, &byte| hit | (byte == b'\n') | (byte == b'\r'));
        if hit {
            return block
                .iter()
                .position(|&byte| is_break(byte))
                .map(|index| offset + index);
        }
        offset += BLOCK;
    }
    blocks
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
