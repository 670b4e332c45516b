//! [`TextEvents`]: each chunk as a plain `data:` event.

use bytes::BytesMut;

use crate::sse::encode::{write_data, write_decimal};
use crate::sse::lines::has_line_break;
use crate::sse::Format;
use crate::Chunk;

/// The plain format: each chunk as one `data:` event, optionally with increasing event ids.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use tokenflush::sse::{EncodeSseExt, TextEvents};
/// use tokenflush::Chunk;
///
/// # futures::executor::block_on(async {
/// let chunks = ["one", "two\nlines"].map(|text| Chunk::new(text).unwrap());
/// let frames: Vec<_> = futures::stream::iter(chunks)
///     .encode_sse_as(TextEvents::new().with_event_ids(7))
///     .collect()
///     .await;
/// assert_eq!(frames, ["id: 7\ndata: one\n\n", "id: 8\ndata: two\ndata: lines\n\n"]);
/// # });
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TextEvents {
    next_id: Option<u64>,
}

impl TextEvents {
    /// Plain `data:` events without ids.
    #[must_use]
    pub const fn new() -> Self {
        Self { next_id: None }
    }

    /// Gives each event an `id:`, counting up from `first` (wrapping after `u64::MAX`), so a
    /// reconnecting client's `Last-Event-ID` says what it has seen.
    #[must_use]
    pub const fn with_event_ids(mut self, first: u64) -> Self {
        self.next_id = Some(first);
        self
    }

    /// The id the next event gets, if events get ids.
    #[must_use]
    pub const fn next_id(&self) -> Option<u64> {
        self.next_id
    }
}

impl Format for TextEvents {
    fn chunk(&mut self, chunk: &Chunk, out: &mut BytesMut) {
        let text = chunk.as_str();
        // One reservation covers the usual single-line frame with its id.
        out.reserve(text.len() + 32);
        if let Some(id) = &mut self.next_id {
            out.extend_from_slice(b"id: ");
            write_decimal(out, u128::from(*id));
            out.extend_from_slice(b"\n");
            *id = id.wrapping_add(1);
        }
        if text.is_empty() || has_line_break(text) {
            write_data(out, text);
            out.extend_from_slice(b"\n");
        } else {
            // The usual chunk: one line.
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\n\n");
        }
    }
}
