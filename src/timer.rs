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
pub(crate) struct LazyTimer {
    sleep: Option<Pin<Box<Sleep>>>,
    /// The timer will wake the task at its deadline: the last poll returned `Pending`.
    armed: bool,
}

impl LazyTimer {
    /// Polls the timer for `deadline`, arming it first if it was set for another instant.
    ///
    /// Registers the task to be woken at `deadline` when it returns `Pending`.
    /// A deadline more than thirty years away is never reached: `Pending`, with no timer armed.
    pub(crate) fn poll_until(&mut self, deadline: Instant, cx: &mut Context<'_>) -> Poll<()> {
        let never = Instant::now().checked_add(NEVER);
        if never.is_none_or(|never| deadline > never) {
            self.sleep = None;
            self.armed = false;
            return Poll::Pending;
        }
        let timer = match &mut self.sleep {
            Some(timer) => {
                if timer.deadline() != deadline {
                    timer.as_mut().reset(deadline);
                }
                timer
            }
            None => self
                .sleep
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        let polled = timer.as_mut().poll(cx);
        self.armed = polled.is_pending();
        polled
    }

    /// Whether the timer, armed when the task last waited, has reached its deadline by `now`:
    /// the wake-up this poll answers was (or coincided with) the timer's. Disarms it. Calls
    /// `now` only for an armed timer, so a poll that waits for nothing reads no clock.
    pub(crate) fn fired(&mut self, now: impl FnOnce() -> Instant) -> bool {
        let fired = self.armed
            && self
                .sleep
                .as_ref()
                .is_some_and(|sleep| sleep.deadline() <= now());
        if fired {
            self.armed = false;
        }
        fired
    }

    /// Stops an armed timer from waking the task for a deadline that no longer matters (its
    /// text went out early): moved far away in place, no allocation.
    pub(crate) fn disarm(&mut self) {
        if std::mem::take(&mut self.armed) {
            if let Some(sleep) = &mut self.sleep {
                if let Some(far) = sleep.deadline().checked_add(NEVER) {
                    sleep.as_mut().reset(far);
                }
            }
        }
    }

    /// Drops the timer, for an adapter that will never wait again.
    pub(crate) fn clear(&mut self) {
        self.sleep = None;
        self.armed = false;
    }
}
