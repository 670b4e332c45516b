use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;
use tokio::time::Instant;

use super::jsonl_line;
use crate::utf8::Utf8Decoder;
use crate::{Token, TokenContent};

/// Adds [`record_trace`](TraceExt::record_trace) to every [`Stream`] of [`Token`]s.
pub trait TraceExt: Stream {
    /// Passes the stream through unchanged while writing a JSON Lines trace of it to `writer`:
    /// when each token was pulled, in seconds since this call, and its text.
    ///
    /// Put it right after the model client, before [`flush_with`](crate::FlushExt::flush_with),
    /// and replay the trace with the tuning tool (`tokenflush-tune --trace FILE`) to see which
    /// policy fits your traffic.
    /// Lines are written synchronously as tokens pass, so give it a buffered writer (a
    /// `BufWriter<File>`, a `Vec<u8>`); it is flushed when the stream ends. A byte token that
    /// ends inside a character is written with the text it completes, so a token may have
    /// empty text and the trace never holds half a character.
    ///
    /// # Errors
    ///
    /// A write error never disturbs the stream: recording stops, and the error is kept for
    /// [`RecordTrace::error`].
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::trace::TraceExt;
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let mut trace = Vec::new();
    /// let tokens = futures::stream::iter([&b"\xF0\x9F"[..], b"\x98\x80"]).record_trace(&mut trace);
    /// assert_eq!(tokens.count().await, 2);
    /// assert_eq!(
    ///     String::from_utf8(trace).unwrap(),
    ///     "{\"t\":0.000000,\"text\":\"\"}\n{\"t\":0.000000,\"text\":\"😀\"}\n"
    /// );
    /// # }
    /// ```
    fn record_trace<W: io::Write>(self, writer: W) -> RecordTrace<Self, W>
    where
        Self: Sized,
        Self::Item: Token,
    {
        RecordTrace {
            upstream: self,
            writer,
            start: Instant::now(),
            decoder: Utf8Decoder::lossy(),
            text: String::new(),
            line: String::new(),
            error: None,
            done: false,
        }
    }
}

impl<S: Stream + ?Sized> TraceExt for S {}

pin_project! {
    /// Stream for [`record_trace`](TraceExt::record_trace): the upstream's tokens, unchanged,
    /// while a trace of them is written.
    ///
    /// # Cancel safety
    ///
    /// `next()` is cancel safe: a token is written to the trace when it is yielded.
    #[must_use = "streams do nothing unless polled"]
    pub struct RecordTrace<S, W> {
        #[pin]
        upstream: S,
        writer: W,
        start: Instant,
        decoder: Utf8Decoder,
        text: String,
        line: String,
        error: Option<io::Error>,
        done: bool,
    }
}

impl<S, W> RecordTrace<S, W> {
    /// The write error that stopped recording, if one did.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::trace::TraceExt;
    ///
    /// let tokens = futures::stream::iter(["a"]).record_trace(Vec::new());
    /// assert!(tokens.error().is_none());
    /// ```
    pub fn error(&self) -> Option<&io::Error> {
        self.error.as_ref()
    }

    /// The writer.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::trace::TraceExt;
    ///
    /// let tokens = futures::stream::iter(["a"]).record_trace(Vec::new());
    /// assert!(tokens.writer().is_empty());
    /// ```
    pub fn writer(&self) -> &W {
        &self.writer
    }

    /// The upstream stream and the writer.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::trace::TraceExt;
    ///
    /// let (_upstream, trace) = futures::stream::iter(["a"]).record_trace(Vec::new()).into_inner();
    /// assert!(trace.is_empty());
    /// ```
    pub fn into_inner(self) -> (S, W) {
        (self.upstream, self.writer)
    }
}

impl<S, W> Stream for RecordTrace<S, W>
where
    S: Stream,
    S::Item: Token,
    W: io::Write,
{
    type Item = S::Item;

    // | upstream        | then                                                     |
    // |-----------------|----------------------------------------------------------|
    // | Ready(Some(t))  | write a line for t (unless recording stopped); yield t   |
    // | Ready(None)     | write U+FFFD for an unfinished character; flush; None    |
    // | Pending         | Pending                                                  |
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let this = self.project();
        if *this.done {
            return Poll::Ready(None);
        }
        let item = std::task::ready!(this.upstream.poll_next(cx));
        let at = this.start.elapsed();
        this.text.clear();
        match &item {
            Some(token) => match token.content() {
                TokenContent::Text(text) => {
                    let Ok(()) = this.decoder.finish(this.text);
                    this.text.push_str(text);
                }
                TokenContent::Bytes(bytes) => {
                    let Ok(()) = this.decoder.decode(bytes, this.text);
                }
            },
            None => {
                *this.done = true;
                let Ok(()) = this.decoder.finish(this.text);
            }
        }
        if this.error.is_none() && (item.is_some() || !this.text.is_empty()) {
            this.line.clear();
            jsonl_line(this.line, at, this.text);
            if let Err(error) = this.writer.write_all(this.line.as_bytes()) {
                *this.error = Some(error);
            }
        }
        if item.is_none() && this.error.is_none() {
            if let Err(error) = this.writer.flush() {
                *this.error = Some(error);
            }
        }
        Poll::Ready(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            (0, Some(0))
        } else {
            self.upstream.size_hint()
        }
    }
}

impl<S, W> FusedStream for RecordTrace<S, W>
where
    S: Stream,
    S::Item: Token,
    W: io::Write,
{
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<S: fmt::Debug, W> fmt::Debug for RecordTrace<S, W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordTrace")
            .field("upstream", &self.upstream)
            .field("start", &self.start)
            .field("error", &self.error)
            .field("done", &self.done)
            .finish_non_exhaustive()
    }
}
