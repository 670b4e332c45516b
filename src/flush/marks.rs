//! [`Marks`]: where each buffered token ends and when the buffered text arrived, so that a
//! chunk can be cut anywhere in the buffer (a policy's boundary, a whole grapheme) and both
//! parts keep honest token counts and ages.

use tokio::time::Instant;

use super::engine::Oldest;

/// Bytes each list keeps between chunks; more (left by a flood of tiny tokens, or by text that
/// trickled in over many polls) are given back.
const RETAINED_BYTES: usize = 32 * 1024;

/// The bookkeeping of one buffer: one entry per token, one per poll that brought text.
#[derive(Debug, Default)]
pub(super) struct Marks {
    /// For each token pulled since the last flush, the buffer's length once it was appended.
    ends: Vec<usize>,
    /// For each poll that completed text: the index of its first token, and when it was.
    arrivals: Vec<(usize, Oldest)>,
}

impl Marks {
    /// How many tokens are buffered, counting those that hold only part of a character.
    #[inline(always)]
    pub(super) fn tokens(&self) -> usize {
        self.ends.len()
    }

    /// A token was appended; the buffer's text is now `len` bytes.
    #[inline(always)]
    pub(super) fn push(&mut self, len: usize) {
        if self.ends.capacity() == 0 {
            // One allocation for a buffer's worth of tokens instead of five doublings.
            self.ends.reserve(32);
        }
        self.ends.push(len);
    }

    /// Text became complete during this poll, with the token just pushed: its arrival is the
    /// poll's instant.
    #[inline(always)]
    pub(super) fn arrived(&mut self) {
        if !matches!(self.arrivals.last(), Some((_, Oldest::ThisPoll))) {
            if self.arrivals.capacity() == 0 {
                self.arrivals.reserve(8);
            }
            let token = self.ends.len().saturating_sub(1);
            self.arrivals.push((token, Oldest::ThisPoll));
        }
    }

    /// When the oldest buffered text became complete.
    #[inline(always)]
    pub(super) fn oldest(&self) -> Oldest {
        self.arrivals.first().map_or(Oldest::None, |&(_, at)| at)
    }

    /// The poll ends with text buffered: text that arrived during it counts from `now`.
    pub(super) fn settle(&mut self, now: impl FnOnce() -> Instant) {
        if let Some((_, at @ Oldest::ThisPoll)) = self.arrivals.last_mut() {
            *at = Oldest::At(now());
        }
    }

    /// Forgets everything: the buffer was flushed whole.
    pub(super) fn clear(&mut self) {
        self.ends.clear();
        self.arrivals.clear();
        give_back_excess(&mut self.ends);
        give_back_excess(&mut self.arrivals);
    }

    /// The first `end` bytes of the buffer went out: returns how many tokens they held (those
    /// whose text ends within them) and keeps the marks of the rest, shifted to the new start.
    /// The rest counts from the arrival of its first token: the one the cut went through.
    pub(super) fn cut(&mut self, end: usize) -> usize {
        let gone = self.ends.partition_point(|&token_end| token_end <= end);
        self.ends.drain(..gone);
        for token_end in &mut self.ends {
            *token_end -= end;
        }
        // The poll that brought the first remaining token is the remainder's oldest.
        let first = self
            .arrivals
            .partition_point(|&(token, _)| token <= gone)
            .saturating_sub(1);
        self.arrivals.drain(..first);
        for (token, _) in &mut self.arrivals {
            *token = token.saturating_sub(gone);
        }
        if self.ends.is_empty() {
            self.arrivals.clear();
        }
        gone
    }
}

/// Shrinks an emptied list that holds more than [`RETAINED_BYTES`].
fn give_back_excess<T>(list: &mut Vec<T>) {
    let retained = RETAINED_BYTES / size_of::<T>();
    if list.capacity() > retained {
        list.shrink_to(retained);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_cut_counts_the_tokens_it_holds_and_ages_the_rest_by_their_arrival() {
        let start = Instant::now();
        let at = |ms| Oldest::At(start + Duration::from_millis(ms));
        let mut marks = Marks::default();
        // Poll 1 at 0 ms: "ab" "cd"; poll 2 at 10 ms: "ef"; poll 3 at 20 ms: "gh".
        for (lens, ms) in [(&[2, 4][..], 0), (&[6], 10), (&[8], 20)] {
            for &len in lens {
                marks.push(len);
                marks.arrived();
            }
            marks.settle(|| start + Duration::from_millis(ms));
        }
        assert_eq!((marks.tokens(), marks.oldest()), (4, at(0)));
        // Cut inside "ef": "abcd" and half of "ef" go; "ef" is counted with the rest.
        assert_eq!(marks.cut(5), 2);
        assert_eq!((marks.tokens(), marks.oldest()), (2, at(10)));
        assert_eq!(marks.ends, [1, 3]);
        // Cut exactly after "f": the rest is "gh", from 20 ms.
        assert_eq!(marks.cut(1), 1);
        assert_eq!((marks.tokens(), marks.oldest()), (1, at(20)));
        assert_eq!(marks.cut(2), 1);
        assert_eq!((marks.tokens(), marks.oldest()), (0, Oldest::None));
    }
}
