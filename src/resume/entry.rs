use std::ops::Range;

use bytes::Bytes;

/// What a reader of a stored stream receives, in order.
///
/// Items come in ascending sequence number order, each once. A stream read to its end ends
/// with exactly one of [`Finished`](Self::Finished) or [`Lost`](Self::Lost) (or an error),
/// and then yields nothing more.
///
/// # Examples
///
/// ```
/// use bytes::Bytes;
/// use tokenflush::resume::{Entry, Outcome};
///
/// fn describe(entry: &Entry) -> String {
///     match entry {
///         Entry::Item { seq, bytes } => format!("#{seq}: {} bytes", bytes.len()),
///         Entry::Gap(missing) => format!("{} items were never stored", missing.end - missing.start),
///         Entry::Finished(Outcome::Completed) => "done".to_owned(),
///         Entry::Finished(Outcome::Failed(message)) => format!("failed: {message}"),
///         Entry::Lost => "the generation was lost".to_owned(),
///         _ => "something newer".to_owned(),
///     }
/// }
///
/// assert_eq!(describe(&Entry::Item { seq: 3, bytes: Bytes::from_static(b"hi") }), "#3: 2 bytes");
/// assert_eq!(describe(&Entry::Gap(4..6)), "2 items were never stored");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Entry {
    /// An item the producer appended: its sequence number and its bytes, as given.
    Item {
        /// The sequence number the producer gave it.
        seq: u64,
        /// The bytes, exactly as appended.
        bytes: Bytes,
    },
    /// These sequence numbers were never stored: the producer skipped them, typically because
    /// the store was unreachable when it appended them. The stream goes on after them. Producers
    /// number items contiguously, so a gap is always visible to a reader.
    Gap(Range<u64>),
    /// The producer finished the stream; nothing follows.
    Finished(Outcome),
    /// The producer stopped renewing its lease without finishing: it crashed or lost the store.
    /// Nothing follows.
    Lost,
}

/// How a stream ended.
///
/// # Examples
///
/// ```
/// use tokenflush::resume::Outcome;
///
/// let outcome = Outcome::Failed("the model is overloaded".to_owned());
/// assert_ne!(outcome, Outcome::Completed);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The generation ended normally.
    Completed,
    /// The generation failed; the message is shown to readers, so it must be fit to show (no
    /// upstream URLs, keys or internal paths). Stores keep at most 4 KiB of it, cut at a
    /// character boundary.
    Failed(String),
}

/// The longest failure message stores keep.
pub(crate) const MAX_MESSAGE: usize = 4096;

impl Outcome {
    /// The outcome with its message cut to [`MAX_MESSAGE`] bytes.
    pub(crate) fn bounded(self) -> Self {
        match self {
            Self::Failed(mut message) if message.len() > MAX_MESSAGE => {
                let mut end = MAX_MESSAGE;
                while !message.is_char_boundary(end) {
                    end -= 1;
                }
                message.truncate(end);
                Self::Failed(message)
            }
            outcome => outcome,
        }
    }
}
