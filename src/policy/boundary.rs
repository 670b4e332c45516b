//! [`Boundary`]: where text may be cut so that readers see whole words, sentences or lines.

/// A place in text where a chunk may end: after a word, a sentence or a line.
///
/// | boundary | after |
/// |---|---|
/// | `Word` | whitespace (any Unicode White_Space), or clause punctuation of scripts written without spaces: `、。，！？；：` and their fullwidth forms |
/// | `Sentence` | `.`, `!`, `?` or `…` followed by whitespace (closing quotes and brackets in between are kept with the sentence), `。！？`, or a line break |
/// | `Line` | a line feed |
///
/// Chinese and Japanese separate clauses, not words, with punctuation: their "words" here are
/// clauses. Thai separates phrases with spaces. A dictionary-backed segmenter (ICU4X's
/// `icu_segmenter`) would find the words inside a clause; clauses keep the time bound honest
/// at a fraction of the cost. Abbreviations ("e.g. this") end a sentence early.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use futures::StreamExt;
/// use tokenflush::policy::{Boundary, Rules};
/// use tokenflush::FlushExt;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let tokens = futures::stream::iter(["First sen", "tence. Sec", "ond one. And", " the rest"]);
/// let policy = Rules::new().at(Boundary::Sentence).immediate_first(false);
/// let chunks: Vec<String> = tokens.flush_with(policy).map(|c| c.into_string()).collect().await;
/// assert_eq!(chunks, ["First sentence. ", "Second one. ", "And the rest"]);
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Boundary {
    /// After a word (or a clause, in scripts written without spaces).
    Word,
    /// After a sentence.
    Sentence,
    /// After a line.
    Line,
}

/// Finds the last boundary of a kind in a growing buffer, looking at each byte once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Scan {
    boundary: Boundary,
    /// Bytes of the buffer looked at so far.
    scanned: usize,
    /// The end of the last boundary found.
    last: Option<usize>,
    /// The last character looked at ended a sentence (quotes and brackets may follow).
    after_terminal: bool,
}

impl Scan {
    pub(crate) const fn new(boundary: Boundary) -> Self {
        Self {
            boundary,
            scanned: 0,
            last: None,
            after_terminal: false,
        }
    }

    /// The end of the last boundary in `text`, the buffer this scan has followed.
    pub(crate) fn last_in(&mut self, text: &str) -> Option<usize> {
        if text.len() < self.scanned {
            // Not the buffer followed so far (a state built by hand): start again.
            *self = Self::new(self.boundary);
        }
        let start = self.scanned;
        let new = &text[start..];
        let found = match self.boundary {
            // Only the last boundary matters, and none of these depends on what came before:
            // look back from the end and stop at the first one.
            Boundary::Line => new
                .as_bytes()
                .iter()
                .rposition(|&byte| byte == b'\n')
                .map(|at| at + 1),
            Boundary::Word => new
                .char_indices()
                .rev()
                .find(|&(_, c)| c.is_whitespace() || is_clause_punctuation(c))
                .map(|(at, c)| at + c.len_utf8()),
            // Whether a space ends a sentence depends on what came before it: look forward.
            Boundary::Sentence => {
                let mut found = None;
                let bytes = new.as_bytes();
                let mut at = 0;
                while let Some(&byte) = bytes.get(at) {
                    // ASCII, nearly all of most text, by its class in a table: no decoding and
                    // no branch on which character it is.
                    if byte.is_ascii() {
                        let class = ASCII_SENTENCE_CLASS[usize::from(byte)];
                        let ends = class == LINE_FEED || (class == SPACE && self.after_terminal);
                        self.after_terminal =
                            class == TERMINAL || (class == CLOSER && self.after_terminal);
                        at += 1;
                        if ends {
                            found = Some(at);
                        }
                        continue;
                    }
                    let c = new[at..]
                        .chars()
                        .next()
                        .unwrap_or(char::REPLACEMENT_CHARACTER);
                    at += c.len_utf8();
                    if self.ends_sentence_after(c) {
                        found = Some(at);
                    }
                }
                found
            }
        };
        if let Some(end) = found {
            self.last = Some(start + end);
        }
        self.scanned = text.len();
        self.last
    }

    /// The first `len` bytes of the buffer went out.
    pub(crate) fn flushed(&mut self, len: usize) {
        self.scanned = self.scanned.saturating_sub(len);
        self.last = self
            .last
            .and_then(|last| last.checked_sub(len))
            .filter(|&last| last > 0);
        if self.scanned == 0 {
            self.after_terminal = false;
        }
    }

    /// Whether a sentence ends after `c`, given the characters before it.
    #[inline(always)]
    fn ends_sentence_after(&mut self, c: char) -> bool {
        let boundary =
            matches!(c, '\n' | '。' | '！' | '？') || (c.is_whitespace() && self.after_terminal);
        self.after_terminal = match c {
            '.' | '!' | '?' | '…' => true,
            '"' | '\'' | '”' | '’' | ')' | ']' | '»' => self.after_terminal,
            _ => false,
        };
        boundary
    }
}

/// Classes of ASCII characters for sentences, as [`Scan::ends_sentence_after`] sees them.
const OTHER: u8 = 0;
const LINE_FEED: u8 = 1;
const SPACE: u8 = 2;
const TERMINAL: u8 = 3;
const CLOSER: u8 = 4;

const ASCII_SENTENCE_CLASS: [u8; 128] = {
    let mut classes = [OTHER; 128];
    let mut byte = 0;
    while byte < 128 {
        let c = byte as u8 as char;
        classes[byte] = match c {
            '\n' => LINE_FEED,
            '.' | '!' | '?' => TERMINAL,
            '"' | '\'' | ')' | ']' => CLOSER,
            _ if c.is_ascii_whitespace() || c == '\x0b' => SPACE,
            _ => OTHER,
        };
        byte += 1;
    }
    classes
};

fn is_clause_punctuation(c: char) -> bool {
    matches!(
        c,
        '、' | '。' | '，' | '！' | '？' | '；' | '：' | '．' | '｡' | '､'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last(boundary: Boundary, pieces: &[&str]) -> Option<usize> {
        let mut scan = Scan::new(boundary);
        let mut text = String::new();
        let mut found = None;
        for piece in pieces {
            text.push_str(piece);
            found = scan.last_in(&text);
        }
        found
    }

    #[test]
    fn boundaries_are_found_however_the_text_grows() {
        let text = "He said \"Stop.\" Then 3.14 was it! Next";
        for cut in 0..=text.len() {
            if !text.is_char_boundary(cut) {
                continue;
            }
            let pieces = [&text[..cut], &text[cut..]];
            assert_eq!(last(Boundary::Sentence, &pieces), Some(34), "cut at {cut}");
            assert_eq!(last(Boundary::Word, &pieces), Some(34), "cut at {cut}");
        }
        assert_eq!(last(Boundary::Line, &["a\nb", "c"]), Some(2));
        assert_eq!(last(Boundary::Sentence, &["No end yet"]), None);
        assert_eq!(
            last(Boundary::Sentence, &["Wait…» ", "then"]),
            Some("Wait…» ".len())
        );
        assert_eq!(
            last(Boundary::Word, &["今日は、", "晴れ"]),
            Some("今日は、".len())
        );
        assert_eq!(
            last(Boundary::Sentence, &["終わり。", "次"]),
            Some("終わり。".len())
        );
        assert_eq!(last(Boundary::Word, &["abc"]), None);
    }

    /// The last boundary of `text`, looking at every character from the start.
    fn last_by_reference(boundary: Boundary, text: &str) -> Option<usize> {
        let mut after_terminal = false;
        let mut last = None;
        for (at, c) in text.char_indices() {
            let ends = match boundary {
                Boundary::Line => c == '\n',
                Boundary::Word => c.is_whitespace() || is_clause_punctuation(c),
                Boundary::Sentence => {
                    let ends = matches!(c, '\n' | '。' | '！' | '？')
                        || (c.is_whitespace() && after_terminal);
                    after_terminal = match c {
                        '.' | '!' | '?' | '…' => true,
                        '"' | '\'' | '”' | '’' | ')' | ']' | '»' => after_terminal,
                        _ => false,
                    };
                    ends
                }
            };
            if ends {
                last = Some(at + c.len_utf8());
            }
        }
        last
    }

    proptest::proptest! {
        #[test]
        fn the_scan_finds_what_a_full_look_finds(
            pieces in proptest::collection::vec(
                proptest::string::string_regex("[a .!?…\"”’»)\n\t\u{a0}\u{3000}、。é？]{0,6}").unwrap(),
                0..12,
            ),
        ) {
            for boundary in [Boundary::Word, Boundary::Sentence, Boundary::Line] {
                let mut scan = Scan::new(boundary);
                let mut text = String::new();
                for piece in &pieces {
                    text.push_str(piece);
                    proptest::prop_assert_eq!(
                        scan.last_in(&text),
                        last_by_reference(boundary, &text),
                        "{:?} in {:?}", boundary, text
                    );
                }
            }
        }
    }

    #[test]
    fn every_ascii_character_is_classed_as_a_full_look_sees_it() {
        for byte in 0..128u8 {
            let c = char::from(byte);
            for text in [
                format!("a{c}b"),
                format!("a.{c}b"),
                format!("a.{c} b"),
                format!("{c}"),
            ] {
                let mut scan = Scan::new(Boundary::Sentence);
                assert_eq!(
                    scan.last_in(&text),
                    last_by_reference(Boundary::Sentence, &text),
                    "{text:?}"
                );
            }
        }
    }

    #[test]
    fn a_buffer_shorter_than_the_one_followed_starts_the_scan_again() {
        // A policy asked about states built by hand, not one growing buffer.
        let mut scan = Scan::new(Boundary::Word);
        assert_eq!(scan.last_in("one two three"), Some(8));
        assert_eq!(scan.last_in("a b"), Some(2));
        assert_eq!(scan.last_in("ab"), None);
    }

    #[test]
    fn a_flush_moves_the_boundaries_with_the_text() {
        let mut scan = Scan::new(Boundary::Word);
        assert_eq!(scan.last_in("one two thr"), Some(8));
        scan.flushed(8);
        assert_eq!(scan.last_in("thr"), None);
        assert_eq!(scan.last_in("three "), Some(6));
        // A flush short of the last boundary keeps it, moved.
        let mut scan = Scan::new(Boundary::Word);
        assert_eq!(scan.last_in("one two thr"), Some(8));
        scan.flushed(4);
        assert_eq!(scan.last_in("two thr"), Some(4));
        // A sentence's end that went out ends nothing in the buffer after it.
        let mut scan = Scan::new(Boundary::Sentence);
        assert_eq!(scan.last_in("Hi."), None);
        scan.flushed(3);
        assert_eq!(scan.last_in(" there"), None);
    }
}
