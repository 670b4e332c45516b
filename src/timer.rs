//! [`LazyTimer`]: the one timer of an adapter.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use std::time::Duration;

use tokio::time::{Instant, Sleep};

/// Deadlines further away than this are never waited for: no timer is armed. Tokio rounds a
/// deadline up to its next millisecond tick, which overflows near the largest `Instant`; thirty
/// years is what Tokio itself takes for "never".
const NEVER: Duration = Duration::from_secs(86_400 * 365 * 30);

/// An adapter's one timer: created the first time the adapter must wait for an instant (so the
/// adapter can be built, and used without deadlines, outside a Tokio runtime), then reset in
/// place for every later deadline instead of allocating a new `Sleep`.
#[derive(Debug, Default)]
pub(crate) struct LazyTimer(Option<Pin<Box<Sleep>>>);

impl LazyTimer {
    /// Polls the timer for `deadline`, arming it first if it was set for another instant.
    ///
    /// Registers the task to be woken at `deadline` when it returns `Pending`.
    /// A deadline more than thirty years away is never reached: `Pending`, with no timer armed.
    pub(crate) fn poll_until(&mut self, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        let never = Instant::now().checked_add(NEVER);
        if never.is_none_or(|never| deadline > never) {
            self.0 = None;
            return Poll::Pending;
        }
        let timer = match &mut self.0 {
            Some(timer) => {
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                timer
            }
            None => self.0.insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        timer.as_mut().poll(cx)
    }

    /// Drops the timer, for an adapter that will never wait again.
    pub(crate) fn clear(&mut self) {
        self.0 = None;
    }
}
