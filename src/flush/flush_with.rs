use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_core::{FusedStream, Stream};
use pin_project_lite::pin_project;

use super::engine::Engine;
use super::input::FlushInput;
use crate::observe::FlushObserver;
use crate::policy::FlushPolicy;

pin_project! {
    /// Stream for [`flush_with`](crate::FlushExt::flush_with) and
    /// [`try_flush_with`](crate::TryFlushExt::try_flush_with): yields a [`Chunk`](crate::Chunk)
    /// each time the policy flushes the buffered tokens (`Ok(chunk)` for a fallible upstream,
    /// whose errors pass through in order; see [`FlushInput`]).
    ///
    /// # Cancel safety
    ///
    /// `next()` on this stream is cancel safe: tokens pulled from upstream stay in the buffer,
    /// and an item waiting behind flushed text stays in the adapter, until yielded, so dropping
    /// a pending `next()` (in `tokio::select!`) loses nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::{policy::Immediate, FlushExt};
    ///
    /// # futures::executor::block_on(async {
    /// let mut chunks = futures::stream::iter(["a", "b"]).flush_with(Immediate::new());
    /// assert_eq!(chunks.next().await.unwrap().as_str(), "a");
    /// assert_eq!(chunks.next().await.unwrap().as_str(), "b");
    /// assert!(chunks.next().await.is_none());
    /// # });
    /// ```
    #[must_use = "streams do nothing unless polled"]
    pub struct FlushWith<S: Stream, P, O: FlushObserver = ()> {
        #[pin]
        upstream: S,
        engine: Engine<P, O>,
        // An item that arrived behind buffered text it must not join: an error, or text of
        // another kind, or a token over the byte cap. It is taken first on the next poll.
        held: Option<S::Item>,
    }
}

/// The stream [`try_flush_with`](crate::TryFlushExt::try_flush_with) returns: a [`FlushWith`] over
/// a fallible upstream.
pub type TryFlushWith<S, P, O = ()> = FlushWith<S, P, O>;

impl<S: Stream, P: FlushPolicy> FlushWith<S, P> {
    pub(super) fn new(upstream: S, policy: P) -> Self {
        Self {
            upstream,
            engine: Engine::new(policy),
            held: None,
        }
    }
}

impl<S: Stream, P, O: FlushObserver> FlushWith<S, P, O> {
    /// The upstream stream.
    pub fn get_ref(&self) -> &S {
        &self.upstream
    }

    /// The upstream stream, mutably. Pulling items from it directly bypasses the buffer.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.upstream
    }

    /// The pinned upstream stream, mutably.
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Pin<&mut S> {
        self.project().upstream
    }

    /// The upstream stream; buffered text and a held item are dropped (see
    /// [`take_buffered`](Self::take_buffered)).
    pub fn into_inner(self) -> S {
        self.upstream
    }

    /// Caps the text the adapter holds at `max_bytes` (64 KiB by default), whatever the policy
    /// says: buffered text reaching the cap goes out at once ([`FlushReason::Bytes`]), and text
    /// a token would take past it goes out before the token is appended. A single token larger
    /// than the cap is not split; it goes out whole, as its own chunk. The cap bounds what is
    /// held, not how large a chunk is.
    ///
    /// The cap overrides every policy: [`FixedBatch`](crate::policy::FixedBatch)'s "every `n`
    /// tokens" holds only while `n` tokens stay under it.
    ///
    /// [`FlushReason::Bytes`]: crate::FlushReason::Bytes
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::{policy::FixedBatch, FlushExt, FlushReason};
    ///
    /// # futures::executor::block_on(async {
    /// let tokens = futures::stream::iter(["aaaa", "bbbb", "cc", "dddddddddd"]);
    /// let chunks: Vec<_> = tokens
    ///     .flush_with(FixedBatch::new(1000))
    ///     .with_max_buffered(8)
    ///     .collect()
    ///     .await;
    /// let texts: Vec<_> = chunks.iter().map(|chunk| (chunk.as_str(), chunk.reason())).collect();
    /// assert_eq!(
    ///     texts,
    ///     [
    ///         ("aaaabbbb", FlushReason::Bytes),   // reached the cap
    ///         ("cc", FlushReason::Bytes),         // would go past it with the next token
    ///         ("dddddddddd", FlushReason::Bytes), // larger than the cap: alone, whole
    ///     ]
    /// );
    /// # });
    /// ```
    ///
    /// # Panics
    ///
    /// If `max_bytes` is 0.
    #[track_caller]
    pub fn with_max_buffered(mut self, max_bytes: usize) -> Self {
        assert!(
            max_bytes > 0,
            "FlushWith::with_max_buffered: the cap must be at least 1 byte"
        );
        self.engine.set_max_buffered(max_bytes);
        self
    }

    /// Holds back a grapheme cluster that the next token may still complete (feature
    /// `graphemes`; off by default): a chunk the policy asks for does not end on a character
    /// that commonly continues — an emoji that a zero-width joiner may extend (👩 of 👩‍💻), a
    /// joiner, a variation selector, a skin-tone modifier, a combining mark, half of a flag, a
    /// Hangul jamo a syllable is built from — so readers never see `👩‍💻`, `🇫🇷` or a decomposed
    /// accent half-built. The rule is in `src/flush/graphemes.rs`.
    ///
    /// The held tail goes out with the next token that completes it, or at the policy's time
    /// bound (a deadline flush holds nothing back), or at the end of the stream, or ahead of an
    /// item it must not merge with. A policy without a time bound ([`FixedBatch`],
    /// [`Immediate`]) may hold an emoji until the next token arrives.
    ///
    /// [`FixedBatch`]: crate::policy::FixedBatch
    /// [`Immediate`]: crate::policy::Immediate
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::{policy::Immediate, FlushExt};
    ///
    /// # futures::executor::block_on(async {
    /// let tokens = futures::stream::iter(["Hi ", "👩", "\u{200D}", "💻", " there"]);
    /// let chunks: Vec<String> = tokens
    ///     .flush_with(Immediate::new())
    ///     .with_whole_graphemes(true)
    ///     .map(|chunk| chunk.into_string())
    ///     .collect()
    ///     .await;
    /// assert_eq!(chunks, ["Hi ", "👩\u{200D}💻 there"]);
    /// # });
    /// ```
    #[cfg(feature = "graphemes")]
    pub fn with_whole_graphemes(mut self, whole_graphemes: bool) -> Self {
        self.engine.set_whole_graphemes(whole_graphemes);
        self
    }

    /// Reports what this adapter does to `observer` from now on: every chunk, the first
    /// token, and the end of the stream (see [`observe`](crate::observe)). Times count from
    /// this call, so attach the observer where the request begins, before polling. A previous
    /// observer is dropped without hearing more.
    ///
    /// # Examples
    ///
    /// ```
    /// use futures::StreamExt;
    /// use tokenflush::observe::{FlushObserver, StreamRecord};
    /// use tokenflush::{policy::FixedBatch, FlushExt};
    ///
    /// #[derive(Debug, Default)]
    /// struct Totals(Option<(u64, u64)>);
    ///
    /// impl FlushObserver for Totals {
    ///     fn on_end(&mut self, stream: &StreamRecord) {
    ///         self.0 = Some((stream.tokens(), stream.chunks()));
    ///     }
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let mut totals = Totals::default();
    /// let chunks = futures::stream::iter(["a", "b", "c"])
    ///     .flush_with(FixedBatch::new(2))
    ///     .with_observer(&mut totals);
    /// assert_eq!(chunks.count().await, 2);
    /// assert_eq!(totals.0, Some((3, 2)));
    /// # }
    /// ```
    pub fn with_observer<O2: FlushObserver>(self, observer: O2) -> FlushWith<S, P, O2> {
        FlushWith {
            upstream: self.upstream,
            engine: self.engine.with_observer(observer),
            held: self.held,
        }
    }

    /// The observer.
    pub fn observer(&self) -> &O {
        self.engine.observer()
    }

    /// The observer, mutably.
    pub fn observer_mut(&mut self) -> &mut O {
        self.engine.observer_mut()
    }

    /// The policy.
    pub fn policy(&self) -> &P {
        self.engine.policy()
    }

    /// The policy, mutably: a stateful policy can be re-tuned between chunks.
    pub fn policy_mut(&mut self) -> &mut P {
        self.engine.policy_mut()
    }

    /// The complete text buffered right now, not yet flushed (bytes of a character not yet
    /// complete are not text yet).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::pin;
    /// use futures::StreamExt;
    /// use tokenflush::{policy::FixedBatch, FlushExt};
    ///
    /// # futures::executor::block_on(async {
    /// let tokens = futures::stream::iter([b"caf\xC3".to_vec()]).chain(futures::stream::pending());
    /// let mut chunks = pin!(tokens.flush_with(FixedBatch::new(8)));
    /// assert!(futures::poll!(chunks.next()).is_pending());
    /// assert_eq!(chunks.buffered_text(), "caf");
    /// # });
    /// ```
    pub fn buffered_text(&self) -> &str {
        self.engine.buffered()
    }

    /// Empties the buffer and hands its text back, for a shutdown that must not lose what the
    /// model already produced. The bytes of a character not yet complete become U+FFFD.
    ///
    /// The stream stays usable: later tokens start a new buffer.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::pin;
    /// use futures::StreamExt;
    /// use tokenflush::{policy::FixedBatch, FlushExt};
    ///
    /// # futures::executor::block_on(async {
    /// let (tx, rx) = futures::channel::mpsc::unbounded();
    /// let mut chunks = pin!(rx.flush_with(FixedBatch::new(8)));
    /// tx.unbounded_send("unsent ").unwrap();
    /// tx.unbounded_send("words").unwrap();
    /// // Nothing is flushed yet; poll once so the adapter pulls what is ready.
    /// assert!(futures::poll!(chunks.next()).is_pending());
    /// assert_eq!(chunks.as_mut().take_buffered(), "unsent words");
    /// # });
    /// ```
    pub fn take_buffered(self: Pin<&mut Self>) -> String {
        self.project().engine.take_buffered()
    }
}

impl<S, P, O> Stream for FlushWith<S, P, O>
where
    S: Stream,
    S::Item: FlushInput,
    P: FlushPolicy,
    O: FlushObserver,
{
    type Item = <S::Item as FlushInput>::Output;

    // The state table is on `Engine::poll_flush`, which this delegates to.
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.project();
        let mut upstream = this.upstream;
        this.engine
            .poll_flush(cx, this.held, |cx| upstream.as_mut().poll_next(cx))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.engine
            .size_hint(self.upstream.size_hint(), self.held.is_some())
    }
}

impl<S, P, O> FusedStream for FlushWith<S, P, O>
where
    S: Stream,
    S::Item: FlushInput,
    P: FlushPolicy,
    O: FlushObserver,
{
    fn is_terminated(&self) -> bool {
        self.engine.is_finished()
    }
}

impl<S, P, O> fmt::Debug for FlushWith<S, P, O>
where
    S: Stream + fmt::Debug,
    P: fmt::Debug,
    O: FlushObserver,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FlushWith")
            .field("upstream", &self.upstream)
            .field("engine", &self.engine)
            .field("held", &self.held.is_some())
            .finish()
    }
}
