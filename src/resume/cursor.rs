//! A reader's place in a stream: skips what it has seen, reports what is missing.

use std::ops::Range;

/// The largest sequence number stores accept: 2^53 − 1, which Redis's Lua numbers hold exactly.
pub(crate) const MAX_SEQ: u64 = (1 << 53) - 1;

/// The next sequence number a reader expects.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor {
    next: u64,
}

/// What a reader does with a stored item.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// Already seen (or before the read's start): skip it.
    Skip,
    /// Yield it.
    Item,
    /// Yield this gap first; the same item comes next.
    Gap(Range<u64>),
}

impl Cursor {
    /// A reader that has seen everything up to `after` (nothing for `None`).
    pub(crate) fn after(after: Option<u64>) -> Self {
        Self {
            next: after.map_or(0, |after| after.min(MAX_SEQ) + 1),
        }
    }

    /// The next sequence number expected.
    pub(crate) fn next(self) -> u64 {
        self.next
    }

    /// What to do with the stored item `seq`, the next one in store order.
    pub(crate) fn step(&mut self, seq: u64) -> Step {
        if seq < self.next {
            Step::Skip
        } else if seq > self.next {
            let gap = self.next..seq;
            self.next = seq;
            Step::Gap(gap)
        } else {
            self.next = seq + 1;
            Step::Item
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Cursor, Step, MAX_SEQ};

    #[test]
    fn skips_seen_reports_gaps_once() {
        let mut cursor = Cursor::after(Some(1));
        assert_eq!(cursor.step(0), Step::Skip);
        assert_eq!(cursor.step(1), Step::Skip);
        assert_eq!(cursor.step(2), Step::Item);
        assert_eq!(cursor.step(5), Step::Gap(3..5));
        assert_eq!(cursor.step(5), Step::Item);
        assert_eq!(cursor.next(), 6);
        assert_eq!(Cursor::after(None).next(), 0);
        assert_eq!(Cursor::after(Some(u64::MAX)).next(), MAX_SEQ + 1);
    }
}
