use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::BytesMut;
use futures::Stream;
use tokio::time::{Instant, Sleep};

use crate::candidate::Candidate;
use crate::report::{Measured, PolicyReport};
use crate::trace::Trace;
use tokenflush::sse::{Format, TextEvents};
use tokenflush::FlushExt;

/// Replays `trace` through `candidate`'s policy, in the real adapter on a paused clock, and
/// measures what a reader would have seen.
///
/// A token's added delay runs from its arrival (the moment the adapter pulled it; Tokio's timer
/// rounds arrivals up to the millisecond) to the moment the chunk that completes its text is
/// yielded: a token that a boundary rule cuts in two counts when its last byte goes out.
/// Tokens with empty text show nothing and are not counted.
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
    let measured = runtime.block_on(async {
        let start = Instant::now();
        let wakes = Arc::new(AtomicU64::new(0));
        let arrivals = Arc::new(AtomicU64::new(0));
        let mut chunks =
            TraceStream::new(trace, start, Arc::clone(&arrivals)).flush_with(candidate.policy());
        // (when, bytes of text yielded so far) per chunk.
        let mut yields: Vec<(Duration, usize)> = Vec::new();
        let mut yielded = 0;
        let mut format = TextEvents::new();
        let mut frame = BytesMut::new();
        let mut frame_bytes = 0_u64;
        while let Some(chunk) = std::future::poll_fn(|cx| {
            let waker = Counting::wrap(cx.waker(), &wakes);
            Pin::new(&mut chunks).poll_next(&mut Context::from_waker(&waker))
        })
        .await
        {
            yielded += chunk.as_str().len();
            yields.push((start.elapsed(), yielded));
            frame.clear();
            format.chunk(&chunk, &mut frame);
            frame_bytes += frame.len() as u64;
        }
        // Every wake-up of the task that no arrival caused came from the adapter: its timer
        // (or, rarely, a yield to the runtime's cooperative budget).
        let timer_fires = wakes
            .load(Ordering::Relaxed)
            .saturating_sub(arrivals.load(Ordering::Relaxed));
        let pulled = chunks.into_inner().pulled;
        let mut delays = Vec::with_capacity(pulled.len());
        let mut end = 0;
        let mut chunk = 0;
        for (token, &arrived) in trace.tokens().iter().zip(&pulled) {
            if token.text.is_empty() {
                continue;
            }
            end += token.text.len();
            while yields.get(chunk).is_some_and(|&(_, bytes)| bytes < end) {
                chunk += 1;
            }
            // Every byte goes out by the end of the stream; `None` would be a lost token.
            if let Some(&(at, _)) = yields.get(chunk) {
                delays.push(at.saturating_sub(arrived));
            }
        }
        let first_pulled = pulled.first().copied().unwrap_or_default();
        let last_chunk = yields.last().map_or(Duration::ZERO, |&(at, _)| at);
        Measured {
            tokens: pulled.len() as u64,
            delays,
            chunks: yields.len() as u64,
            frame_bytes,
            span: last_chunk.saturating_sub(first_pulled),
            timer_fires,
        }
    });
    PolicyReport::new(candidate.to_string(), candidate.rust(), measured)
}

/// A waker that counts its wake-ups before passing them on.
///
/// The library's own count (`StreamRecord::timer_fires`) misses the wake-ups after which the
/// adapter finds its deadline passed before it polls the timer, which is every one on a paused
/// clock; counting wakers here sees them all.
struct Counting {
    inner: Waker,
    wakes: Arc<AtomicU64>,
}

impl Counting {
    fn wrap(inner: &Waker, wakes: &Arc<AtomicU64>) -> Waker {
        Waker::from(Arc::new(Self {
            inner: inner.clone(),
            wakes: Arc::clone(wakes),
        }))
    }
}

impl Wake for Counting {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.wakes.fetch_add(1, Ordering::Relaxed);
        self.inner.wake_by_ref();
    }
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
    /// Wake-ups by an arrival.
    arrivals: Arc<AtomicU64>,
}

impl<'a> TraceStream<'a> {
    fn new(trace: &'a Trace, start: Instant, arrivals: Arc<AtomicU64>) -> Self {
        Self {
            trace,
            start,
            next: 0,
            sleep: Box::pin(tokio::time::sleep_until(start)),
            pulled: Vec::with_capacity(trace.len()),
            arrivals,
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
            let waker = Counting::wrap(cx.waker(), &this.arrivals);
            if this
                .sleep
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_pending()
            {
                return Poll::Pending;
            }
            now = Instant::now();
        }
        this.pulled.push(now.saturating_duration_since(this.start));
        this.next += 1;
        Poll::Ready(Some(&token.text))
    }
}
