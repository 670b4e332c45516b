//! Scripted upstreams and helpers shared by the integration tests.

#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::time::{Instant, Sleep};

/// One step of a scripted upstream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Yield this token (bytes; see [`Scripted::text`] for text tokens).
    Token(Vec<u8>),
    /// Stay silent for this long before the next step.
    Sleep(Duration),
    /// Yield an error.
    Error(&'static str),
}

/// A token stream that plays a script on the (paused) tokio clock and records when each token
/// was pulled.
pub struct Scripted {
    steps: VecDeque<Step>,
    sleep: Option<Pin<Box<Sleep>>>,
    log: Arc<Mutex<Vec<Instant>>>,
    _guard: Option<DropGuard>,
}

impl Scripted {
    pub fn new(steps: impl IntoIterator<Item = Step>) -> Self {
        Self {
            steps: steps.into_iter().collect(),
            sleep: None,
            log: Arc::default(),
            _guard: None,
        }
    }

    /// The instants at which each token was pulled, in order.
    pub fn pulls(&self) -> Arc<Mutex<Vec<Instant>>> {
        Arc::clone(&self.log)
    }

    /// Counts into `guard` when the stream is dropped.
    pub fn with_drop_guard(mut self, guard: DropGuard) -> Self {
        self._guard = Some(guard);
        self
    }

    /// Adapts the stream to yield `String` tokens (the script must hold valid UTF-8 tokens).
    pub fn text(self) -> impl Stream<Item = String> + Unpin {
        self.map(|item| String::from_utf8(item.expect("script has no errors")).unwrap())
    }

    /// Adapts the stream to yield byte tokens.
    pub fn bytes(self) -> impl Stream<Item = Vec<u8>> + Unpin {
        self.map(|item| item.expect("script has no errors"))
    }
}

impl Stream for Scripted {
    type Item = Result<Vec<u8>, &'static str>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            if let Some(sleep) = self.sleep.as_mut() {
                if sleep.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                self.sleep = None;
            }
            match self.steps.pop_front() {
                None => return Poll::Ready(None),
                Some(Step::Sleep(duration)) => {
                    self.sleep = Some(Box::pin(tokio::time::sleep(duration)));
                }
                Some(Step::Token(token)) => {
                    self.log.lock().unwrap().push(Instant::now());
                    return Poll::Ready(Some(Ok(token)));
                }
                Some(Step::Error(error)) => return Poll::Ready(Some(Err(error))),
            }
        }
    }
}

/// Text token step.
pub fn tok(text: &str) -> Step {
    Step::Token(text.as_bytes().to_vec())
}

/// Silence step, in milliseconds.
pub fn ms(millis: u64) -> Step {
    Step::Sleep(Duration::from_millis(millis))
}

/// Counts drops of the values it is cloned into.
#[derive(Clone, Debug, Default)]
pub struct DropGuard(Arc<AtomicUsize>);

impl DropGuard {
    pub fn drops(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    /// A guard that shares this one's counter.
    pub fn token(&self) -> DropGuard {
        DropGuard(Arc::clone(&self.0))
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A waker that counts how often it was woken.
#[derive(Debug, Default)]
pub struct CountingWaker(AtomicUsize);

impl CountingWaker {
    pub fn new() -> (Arc<Self>, Waker) {
        let counter = Arc::new(Self::default());
        let waker = Waker::from(Arc::clone(&counter));
        (counter, waker)
    }

    pub fn wakes(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Drains `stream`, stamping each item with the time since `start` at which it arrived.
pub async fn collect_timed<S: Stream + Unpin>(
    mut stream: S,
    start: Instant,
) -> Vec<(Duration, S::Item)> {
    let mut items = Vec::new();
    while let Some(item) = stream.next().await {
        items.push((start.elapsed(), item));
    }
    items
}

/// Proptest case count: `PROPTEST_CASES` from the environment (CI raises it), else `local`.
pub fn cases(local: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(local)
}
