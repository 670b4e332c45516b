//! [`ParseItems`]: an LLM API's event stream as typed items (feature `llm-parse`).

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use super::ParseSse;
use crate::llm::Item;
use crate::sse::{Decode, DecodeError};

/// How many events one poll decodes at most before yielding to the executor.
const POLL_BUDGET: usize = 64;

pin_project! {
    /// Stream for [`parse_items`](super::ParseSseExt::parse_items): the items a [`Decode`]r
    /// reads from the events of a body — an OpenAI or Anthropic streaming response, or one of
    /// a server compatible with them — ready for the [flush adapter](crate::FlushExt) and any
    /// [`Format`](crate::sse::Format).
    ///
    /// Errors come in stream order and the stream goes on after them: the upstream's own error
    /// event ([`DecodeError::Upstream`]), data that is not the format's JSON
    /// ([`DecodeError::Data`]), the event stream's ([`DecodeError::Parse`]: a limit, a cut inside
    /// an event, the body's error). When the body ends before the format's last event (`[DONE]`,
    /// `message_stop`, `response.completed`), the last item is `Err(DecodeError::Unterminated)`:
    /// a connection cut between events is never mistaken for a complete answer.
    ///
    /// # Cancel safety
    ///
    /// `next()` is cancel safe: the items one event decodes into wait in the stream until
    /// yielded.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::llm::{FinishReason, Item};
    /// use tokenflush::sse::{DecodeError, OpenAiChat, ParseSseExt, Parser};
    ///
    /// # futures::executor::block_on(async {
    /// let chunk = |delta: &str, finish: &str| format!(
    ///     "data: {{\"id\":\"c1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\
    ///      \"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
    /// );
    /// let body = [chunk(r#"{"content":"Hi"}"#, "null"), chunk("{}", r#""length""#), "data: [DONE]\n\n".into()];
    /// let items: Vec<_> = futures::stream::iter(body.map(Ok::<_, std::io::Error>))
    ///     .parse_items(Parser::new(), OpenAiChat::default())
    ///     .collect()
    ///     .await;
    /// let items: Vec<Item> = items.into_iter().map(Result::unwrap).collect();
    /// assert_eq!(items[1..], [Item::Content("Hi".into()), Item::Finish(FinishReason::Length)]);
    ///
    /// // The same body, cut before its last event:
    /// let cut = [Ok::<_, std::io::Error>(chunk(r#"{"content":"Hi"}"#, "null"))];
    /// let items: Vec<_> = futures::stream::iter(cut)
    ///     .parse_items(Parser::new(), OpenAiChat::default())
    ///     .collect()
    ///     .await;
    /// assert!(matches!(items.last(), Some(Err(DecodeError::Unterminated))));
    /// # });
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct ParseItems<S, D> {
        #[pin]
        events: ParseSse<S>,
        decoder: D,
        // Items an event decoded into, not yet yielded.
        ready: VecDeque<Item>,
        // Scratch space the decoder appends to, kept between events.
        decoded: Vec<Item>,
        // An event's error, after the items it decoded before failing.
        failed: Option<DecodeError>,
        finished: bool,
    }
}

impl<S, D> ParseItems<S, D> {
    pub(super) fn new(events: ParseSse<S>, decoder: D) -> Self {
        Self {
            events,
            decoder,
            ready: VecDeque::new(),
            decoded: Vec::new(),
            failed: None,
            finished: false,
        }
    }

    /// The decoder.
    pub fn decoder(&self) -> &D {
        &self.decoder
    }
}

impl<S, B, E, D> Stream for ParseItems<S, D>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    D: Decode,
{
    type Item = Result<Item, DecodeError<E>>;

    // State table (items already decoded go out first, one per poll):
    //
    // | events yield   | then                                                           |
    // |----------------|----------------------------------------------------------------|
    // | Ready(Ok(ev))  | decode it: its items queued, then its error if it had one; loop |
    // | Ready(Err(e))  | Ready(Err(Parse(e)))                                            |
    // | Ready(None)    | finished; Ready(Err(Unterminated)) unless the last event came   |
    // | Pending        | Pending                                                         |
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        // Events that decode to nothing (pings) from an always-ready body must not keep the
        // task here: after a bounded number, yield to the executor.
        for _ in 0..POLL_BUDGET {
            if let Some(item) = this.ready.pop_front() {
                return Poll::Ready(Some(Ok(item)));
            }
            if let Some(error) = this.failed.take() {
                return Poll::Ready(Some(Err(error.widen())));
            }
            if *this.finished {
                return Poll::Ready(None);
            }
            match ready!(this.events.as_mut().poll_next(cx)) {
                Some(Ok(event)) => {
                    *this.failed = this.decoder.decode(&event, this.decoded).err();
                    this.ready.extend(this.decoded.drain(..));
                }
                Some(Err(error)) => return Poll::Ready(Some(Err(DecodeError::Parse(error)))),
                None => {
                    *this.finished = true;
                    if !this.decoder.is_complete() {
                        return Poll::Ready(Some(Err(DecodeError::Unterminated)));
                    }
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<S, B, E, D> FusedStream for ParseItems<S, D>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
    D: Decode,
{
    fn is_terminated(&self) -> bool {
        self.finished && self.ready.is_empty() && self.failed.is_none()
    }
}

impl<S: fmt::Debug, D: fmt::Debug> fmt::Debug for ParseItems<S, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseItems")
            .field("events", &self.events)
            .field("decoder", &self.decoder)
            .field("ready", &self.ready.len())
            .field("finished", &self.finished)
            .finish()
    }
}
