use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::BytesMut;
use futures::Stream;
use tokio::time::{Instant, Sleep};

use crate::candidate::Candidate;
use crate::report::PolicyReport;
use crate::trace::Trace;
use tokenflush::sse::{Format, TextEvents};
use tokenflush::FlushExt;

/// Replays `trace` through `candidate`'s policy, in the real adapter on a paused clock, and
/// measures what a reader would have seen.
///
/// A token's added delay runs from its arrival (the moment the adapter pulled it; Tokio's timer
/// rounds arrivals up to the millisecond) to the moment the chunk holding it is yielded. Tokens whose text never reaches a chunk (empty tokens after the last text) are
/// not counted.
///
/// # Panics
///
/// If a Tokio runtime cannot be built (the process is out of threads or memory).
#[must_use]
pub(crate) fn replay(trace: &Trace, candidate: &Candidate) -> PolicyReport {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a current-thread Tokio runtime starts");
    runtime.block_on(async {
        let start = Instant::now();
        let mut chunks = TraceStream::new(trace, start).flush_with(candidate.policy());
        // (when, how many tokens) per chunk; delays are computed once the stream is over.
        let mut yields = Vec::new();
        let mut format = TextEvents::new();
        let mut frame = BytesMut::new();
        let mut frame_bytes = 0_u64;
        while let Some(chunk) = std::future::poll_fn(|cx| Pin::new(&mut chunks).poll_next(cx)).await
        {
            yields.push((start.elapsed(), chunk.token_count()));
            frame.clear();
            format.chunk(&chunk, &mut frame);
            frame_bytes += frame.len() as u64;
        }
        let pulled = chunks.into_inner().pulled;
        let mut delays = Vec::with_capacity(pulled.len());
        for &(at, tokens) in &yields {
            let from = delays.len();
            let to = (from + tokens).min(pulled.len());
            delays.extend(
                pulled[from..to]
                    .iter()
                    .map(|&pulled| at.saturating_sub(pulled)),
            );
        }
        let first_pulled = pulled.first().copied().unwrap_or_default();
        let first_chunk = yields.first().map_or(Duration::ZERO, |&(at, _)| at);
        let last_chunk = yields.last().map_or(Duration::ZERO, |&(at, _)| at);
        PolicyReport::new(
            candidate.name().to_owned(),
            delays,
            yields.len() as u64,
            frame_bytes,
            first_chunk.saturating_sub(first_pulled),
            last_chunk.saturating_sub(first_pulled),
        )
    })
}

/// The trace's tokens, each yielded at its arrival time on the (paused) clock, noting when.
///
/// Tokio's timer has a resolution of one millisecond, so a token due between two ticks is
/// yielded at the later one; what counts as its arrival is the instant it was yielded: the
/// moment the adapter had it.
struct TraceStream<'a> {
    trace: &'a Trace,
    start: Instant,
    next: usize,
    sleep: Pin<Box<Sleep>>,
    pulled: Vec<Duration>,
}

impl<'a> TraceStream<'a> {
    fn new(trace: &'a Trace, start: Instant) -> Self {
        Self {
            trace,
            start,
            next: 0,
            sleep: Box::pin(tokio::time::sleep_until(start)),
            pulled: Vec::with_capacity(trace.len()),
        }
    }
}

impl<'a> Stream for TraceStream<'a> {
    type Item = &'a str;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<&'a str>> {
        let this = &mut *self;
        let Some(token) = this.trace.tokens().get(this.next) else {
            return Poll::Ready(None);
        };
        let due = this.start + token.at;
        let mut now = Instant::now();
        if now < due {
            if this.sleep.deadline() != due {
                this.sleep.as_mut().reset(due);
            }
            if this.sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            now = Instant::now();
        }
        this.pulled.push(now.saturating_duration_since(this.start));
        this.next += 1;
        Poll::Ready(Some(&token.text))
    }
}
