//! Rendering a stream's records in a [`Format`], with an id on every event: the same events
//! and ids on every instance, so a reader that resumes skips exactly what it saw.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::{BufMut, BytesMut};

use super::codec::Record;
use super::event_id::{END_SEQ, LAST_INDEX};
use super::history::End;
use super::StreamId;
use crate::sse::{Format, KeepAlive};

/// A format, and what ids its events get.
pub(crate) struct Renderer<F> {
    format: F,
    /// `None`: a stream without resume, whose events get no ids.
    ids: Option<Ids>,
    /// What the format wrote for one call, before ids are added.
    scratch: BytesMut,
}

struct Ids {
    stream: StreamId,
    /// The reader has seen every event up to this position.
    after: Option<(u64, u32)>,
    /// The item being rendered and the index of its next event.
    seq: u64,
    next_index: u32,
    /// Sent once, with the first event the reader gets.
    retry: Option<Duration>,
}

impl<F> Renderer<F> {
    pub(crate) fn format(&self) -> &F {
        &self.format
    }

    pub(crate) fn format_mut(&mut self) -> &mut F {
        &mut self.format
    }
}

impl<F: Format> Renderer<F> {
    /// Events without ids (a stream without resume).
    pub(crate) fn plain(format: F) -> Self {
        Self {
            format,
            ids: None,
            scratch: BytesMut::new(),
        }
    }

    /// Events with ids of `stream`, leaving out those up to `after`; the first event sent
    /// carries `retry`.
    pub(crate) fn with_ids(
        format: F,
        stream: StreamId,
        after: Option<(u64, u32)>,
        retry: Duration,
    ) -> Self {
        Self {
            format,
            ids: Some(Ids {
                stream,
                after,
                seq: 0,
                next_index: 0,
                retry: Some(retry),
            }),
            scratch: BytesMut::new(),
        }
    }

    /// The format's opening events; they share sequence number 0 with the first item.
    pub(crate) fn open(&mut self, out: &mut BytesMut) {
        self.render(0, false, out, |format, scratch| format.open(scratch));
    }

    pub(crate) fn record(&mut self, seq: u64, record: &Record, out: &mut BytesMut) {
        self.render(seq, false, out, |format, scratch| match record {
            Record::Chunk(chunk) => format.chunk(chunk, scratch),
            Record::Item(item) => format.item(item, scratch),
        });
    }

    /// The events that end the stream; with ids, the last one has [`LAST_INDEX`] (a bare
    /// `id:` line when the format writes none).
    pub(crate) fn end(&mut self, end: &End, out: &mut BytesMut) {
        self.render(END_SEQ, true, out, |format, scratch| match end {
            End::Completed => format.close(scratch),
            End::Failed(message) => format.error(message, scratch),
        });
    }

    pub(crate) fn keep_alive(&mut self, keep_alive: &KeepAlive, out: &mut BytesMut) {
        self.format.keep_alive(keep_alive, out);
    }

    fn render(
        &mut self,
        seq: u64,
        last: bool,
        out: &mut BytesMut,
        write: impl FnOnce(&mut F, &mut BytesMut),
    ) {
        let Some(ids) = &mut self.ids else {
            write(&mut self.format, out);
            return;
        };
        self.scratch.clear();
        write(&mut self.format, &mut self.scratch);
        if seq != ids.seq {
            ids.seq = seq;
            ids.next_index = 0;
        }
        let count = events(&self.scratch).count();
        if last && count == 0 {
            ids.tag(seq, LAST_INDEX, &[], out);
            return;
        }
        for (number, event) in events(&self.scratch).enumerate() {
            let index = if last && number + 1 == count {
                LAST_INDEX
            } else {
                let index = ids.next_index;
                // More events for one item than an index holds cannot be told apart: they
                // keep the last index below the end's.
                ids.next_index = ids.next_index.saturating_add(1).min(LAST_INDEX - 1);
                index
            };
            ids.tag(seq, index, event, out);
        }
    }
}

impl Ids {
    /// Writes `event` (its lines, without the blank line) with its id, unless the reader has
    /// seen it.
    fn tag(&mut self, seq: u64, index: u32, event: &[u8], out: &mut BytesMut) {
        if self.after.is_some_and(|after| (seq, index) <= after) {
            return;
        }
        out.reserve(event.len() + 96);
        out.put_slice(event);
        if !event.is_empty() && !matches!(event.last(), Some(b'\n' | b'\r')) {
            out.put_u8(b'\n');
        }
        // `id:` last: it replaces an id the format wrote itself, since the last one counts.
        // 32 hex digits and two decimals: ASCII without line breaks. Writing to a `BytesMut`
        // cannot fail.
        let _ = writeln!(out, "id: {}-{seq}-{index}", self.stream);
        if let Some(retry) = self.retry.take() {
            let _ = writeln!(out, "retry: {}", retry.as_millis());
        }
        out.put_u8(b'\n');
    }
}

/// The events in what a format wrote: runs of lines up to a blank line (CRLF, CR or LF each
/// end a line), without that blank line. Blank lines between events are not events.
fn events(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || loop {
        if rest.is_empty() {
            return None;
        }
        let mut at = 0;
        loop {
            let Some(line) = line_end(&rest[at..]) else {
                // The last line has no break: the format did not end its event; it ends here.
                let event = rest;
                rest = &[];
                return Some(event);
            };
            let (length, width) = line;
            if length == 0 {
                // A blank line: the event (if any) ends before it.
                let event = &rest[..at];
                rest = &rest[at + width..];
                if event.is_empty() {
                    break;
                }
                return Some(event);
            }
            at += length + width;
        }
    })
}

/// The length of the first line of `bytes` and the width of its break, or `None` when it has
/// no break.
fn line_end(bytes: &[u8]) -> Option<(usize, usize)> {
    let at = bytes
        .iter()
        .position(|&byte| byte == b'\n' || byte == b'\r')?;
    let width = if bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
        2
    } else {
        1
    };
    Some((at, width))
}

#[cfg(test)]
mod tests {
    use super::events;

    fn split(text: &str) -> Vec<&str> {
        events(text.as_bytes())
            .map(|event| std::str::from_utf8(event).unwrap())
            .collect()
    }

    #[test]
    fn events_split_at_blank_lines_of_any_break() {
        assert_eq!(split(""), Vec::<&str>::new());
        assert_eq!(split("data: a\n\n"), ["data: a\n"]);
        assert_eq!(
            split("event: x\ndata: a\n\ndata: b\n\n"),
            ["event: x\ndata: a\n", "data: b\n"]
        );
        assert_eq!(
            split("data: a\r\n\r\ndata: b\r\rdata: c\n\n"),
            ["data: a\r\n", "data: b\r", "data: c\n"]
        );
        assert_eq!(split("\n\ndata: a\n\n\n"), ["data: a\n"]);
        assert_eq!(split("data: a\ndata: b"), ["data: a\ndata: b"]);
    }
}
