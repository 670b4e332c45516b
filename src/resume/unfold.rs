//! A stream driven by an async step function, for the stores' readers.

use std::future::Future;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::Stream;
use pin_project_lite::pin_project;

pin_project! {
    /// Yields what `step` yields from the state it hands back, until it returns `None`.
    pub(crate) struct Unfold<S, F, Fut> {
        state: Option<S>,
        step: F,
        #[pin]
        pending: Option<Fut>,
    }
}

impl<S, F, Fut, T> Unfold<S, F, Fut>
where
    F: FnMut(S) -> Fut,
    Fut: Future<Output = Option<(T, S)>>,
{
    pub(crate) fn new(state: S, step: F) -> Self {
        Self {
            state: Some(state),
            step,
            pending: None,
        }
    }
}

impl<S, F, Fut, T> Stream for Unfold<S, F, Fut>
where
    F: FnMut(S) -> Fut,
    Fut: Future<Output = Option<(T, S)>>,
{
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let mut this = self.project();
        if let Some(state) = this.state.take() {
            this.pending.set(Some((this.step)(state)));
        }
        let Some(pending) = this.pending.as_mut().as_pin_mut() else {
            return Poll::Ready(None);
        };
        let step = ready!(pending.poll(cx));
        this.pending.set(None);
        Poll::Ready(step.map(|(item, state)| {
            *this.state = Some(state);
            item
        }))
    }
}
