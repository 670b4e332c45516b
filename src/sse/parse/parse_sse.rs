use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use super::{ParseError, ParsedEvent, Parser};

/// How many upstream pieces one poll feeds at most before yielding to the executor, so an
/// always-ready upstream of comments or partial events cannot starve other tasks.
const POLL_BUDGET: usize = 64;

pin_project! {
    /// Stream for [`parse_sse`](ParseSseExt::parse_sse): yields the events a [`Parser`]
    /// reads from a stream of byte pieces (an HTTP response body).
    ///
    /// Upstream errors are passed through as [`ParseError::Body`] and the stream goes on;
    /// limit errors come in stream order. When upstream ends inside an event, the last item is
    /// `Err(ParseError::Truncated)`,
    /// so a response cut short is never mistaken for a complete one.
    ///
    /// # Cancel safety
    ///
    /// `next()` on this stream is cancel safe: a piece pulled from upstream goes into the
    /// parser at once, and what it holds waits there, as a finished event or as unread bytes,
    /// until yielded.
    ///
    /// # Memory
    ///
    /// A piece is fed only once the parser has yielded every event of the previous one, so
    /// the parser stays within the bound its [documentation](Parser#memory-and-time) gives
    /// for the largest piece upstream yields.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::sse::{ParseError, ParseSseExt, Parser};
    ///
    /// # futures::executor::block_on(async {
    /// let body = futures::stream::iter([Ok::<_, std::io::Error>(&b"data: a\n\nda"[..]), Ok(b"ta: b")]);
    /// let mut events = body.parse_sse(Parser::new());
    /// assert_eq!(events.next().await.unwrap().unwrap().data(), "a");
    /// assert!(matches!(
    ///     events.next().await,
    ///     Some(Err(ParseError::Truncated))
    /// ));
    /// assert!(events.next().await.is_none());
    /// # });
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct ParseSse<S> {
        #[pin]
        upstream: S,
        parser: Parser,
        upstream_done: bool,
        // What `finish` reported, yielded after the events still queued.
        end_error: Option<ParseError>,
        finished: bool,
    }
}

impl<S> ParseSse<S> {
    pub(super) fn new(upstream: S, parser: Parser) -> Self {
        Self {
            upstream,
            parser,
            upstream_done: false,
            end_error: None,
            finished: false,
        }
    }

    /// The parser: its [last event id](Parser::last_event_id), reconnection time and
    /// [comment count](Parser::comment_count).
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::sse::{ParseSseExt, Parser};
    ///
    /// # futures::executor::block_on(async {
    /// let body = futures::stream::iter([Ok::<_, ()>(": ping\n\nid: 4\ndata: x\n\n")]);
    /// let mut events = body.parse_sse(Parser::new());
    /// events.next().await;
    /// assert_eq!(events.parser().comment_count(), 1);
    /// assert_eq!(events.parser().last_event_id(), "4");
    /// # });
    /// ```
    pub fn parser(&self) -> &Parser {
        &self.parser
    }

    /// The upstream stream.
    pub fn get_ref(&self) -> &S {
        &self.upstream
    }

    /// The upstream stream, mutably. Bytes pulled from it directly are not parsed.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.upstream
    }

    /// The pinned upstream stream, mutably.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut S> {
        self.project().upstream
    }

    /// The upstream stream and the parser, with whatever it holds.
    pub fn into_inner(self) -> (S, Parser) {
        (self.upstream, self.parser)
    }
}

impl<S, B, E> Stream for ParseSse<S>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
{
    type Item = Result<ParsedEvent, ParseError<E>>;

    // State table (the loop feeds at most POLL_BUDGET pieces; the parser reads its unread
    // bytes as far as the next event when asked for one):
    //
    // | parser         | upstream          | then                                            |
    // |----------------|-------------------|-------------------------------------------------|
    // | event or error | (not polled)      | Ready(it)                                       |
    // | empty          | (ended)           | Ready(Truncated) or Ready(None), as finish said |
    // | empty          | Ready(Some(Ok))   | feed the bytes, loop                            |
    // | empty          | Ready(Some(Err))  | Ready(Upstream(error)); the stream goes on      |
    // | empty          | Ready(None)       | finish, loop: events left in the parser go      |
    // |                |                   | first, then                                     |
    // |                |                   | Ready(Parse(Truncated)) if it was cut short,    |
    // |                |                   | else Ready(None); afterwards only Ready(None)   |
    // | empty          | Pending           | Pending                                         |
    // | (budget out)   |                   | wake_by_ref, Pending                            |
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut this = self.project();
        if *this.finished {
            return Poll::Ready(None);
        }
        for _ in 0..POLL_BUDGET {
            match this.parser.next_event() {
                Ok(Some(event)) => return Poll::Ready(Some(Ok(event))),
                Err(error) => return Poll::Ready(Some(Err(error.widen()))),
                Ok(None) => {}
            }
            if *this.upstream_done {
                *this.finished = true;
                return Poll::Ready(this.end_error.take().map(|error| Err(error.widen())));
            }
            match this.upstream.as_mut().poll_next(cx) {
                Poll::Ready(Some(Ok(bytes))) => this.parser.feed(bytes.as_ref()),
                Poll::Ready(Some(Err(error))) => {
                    return Poll::Ready(Some(Err(ParseError::Body(error))))
                }
                Poll::Ready(None) => {
                    *this.upstream_done = true;
                    *this.end_error = this.parser.finish().err();
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.finished {
            (0, Some(0))
        } else {
            // A piece can hold any number of events, or none.
            (0, None)
        }
    }
}

impl<S, B, E> FusedStream for ParseSse<S>
where
    S: Stream<Item = Result<B, E>>,
    B: AsRef<[u8]>,
{
    fn is_terminated(&self) -> bool {
        self.finished
    }
}

impl<S: fmt::Debug> fmt::Debug for ParseSse<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParseSse")
            .field("upstream", &self.upstream)
            .field("parser", &self.parser)
            .field("upstream_done", &self.upstream_done)
            .field("end_error", &self.end_error)
            .field("finished", &self.finished)
            .finish()
    }
}

/// Adds SSE parsing to streams of byte pieces (HTTP response bodies).
pub trait ParseSseExt: Stream {
    /// Parses a stream of byte pieces (an HTTP response body) into events with `parser`.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::sse::{ParseSseExt, Parser};
    ///
    /// # futures::executor::block_on(async {
    /// let body = futures::stream::iter(["data: Hel", "lo\n", "\n"].map(Ok::<_, std::io::Error>));
    /// let events: Vec<_> = body.parse_sse(Parser::new()).collect().await;
    /// assert_eq!(events.len(), 1);
    /// assert_eq!(events[0].as_ref().unwrap().data(), "Hello");
    /// # });
    /// ```
    fn parse_sse<B, E>(self, parser: Parser) -> ParseSse<Self>
    where
        Self: Sized + Stream<Item = Result<B, E>>,
        B: AsRef<[u8]>,
    {
        ParseSse::new(self, parser)
    }

    /// Parses a body into the typed items of an LLM API's streaming format (feature
    /// `llm-parse`): `decoder` is the format, as [`Default`] (`OpenAiChat::default()`,
    /// `AnthropicMessages::default()`, `OpenAiResponses::default()`) or your own [`Decode`].
    ///
    /// See [`ParseItems`] for the errors and an example; with the flush adapter and a format
    /// this is a proxy that re-chunks any of the three formats into any other.
    ///
    /// [`Decode`]: crate::sse::Decode
    /// [`ParseItems`]: super::ParseItems
    #[cfg(feature = "llm-parse")]
    fn parse_items<B, E, D>(self, parser: Parser, decoder: D) -> super::ParseItems<Self, D>
    where
        Self: Sized + Stream<Item = Result<B, E>>,
        B: AsRef<[u8]>,
        D: crate::sse::Decode,
    {
        super::ParseItems::new(ParseSse::new(self, parser), decoder)
    }
}

impl<S: Stream + ?Sized> ParseSseExt for S {}
