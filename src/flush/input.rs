//! [`FlushInput`]: what the flush adapter takes from upstream, and what it yields for it.

use std::fmt;

use crate::llm::{Item, TextKind};
use crate::{Chunk, FlushReason, Token, TokenContent};

/// An item the flush adapter can take from upstream: text it merges by the policy, or an item it
/// passes through in order.
///
/// | upstream item | the adapter yields | merged | passed through |
/// |---|---|---|---|
/// | `T` where `T:` [`Token`] | [`Chunk`] | every token | — |
/// | `Result<T, E>` | `Result<T::Output, E>` | the `Ok` text | each `Err`, after the text before it |
/// | [`Item<T>`](crate::llm::Item) | `Item<Chunk>` | content, reasoning and refusal text, each kind apart | every other item (tool calls, finish, usage, …) |
///
/// An item that does not merge with the buffered text (an error, a tool call, text of another
/// kind) first flushes that text, then goes out itself, so the order of the stream never
/// changes.
///
/// The trait is sealed: implement [`Token`] for your own token types instead.
pub trait FlushInput: sealed::Sealed {
    /// What the adapter yields for a stream of these items.
    type Output;

    #[doc(hidden)]
    type Text: Token;

    #[doc(hidden)]
    fn peek(&self) -> Peek<'_>;

    #[doc(hidden)]
    fn split(self) -> Split<Self::Text, Self::Output>;

    #[doc(hidden)]
    fn text_output(kind: Kind, chunk: Chunk) -> Self::Output;
}

/// Which text an item holds: text merges only with text of the same kind (the reasoning of a
/// model and its answer, or two choices of one request, never share a chunk).
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind(TextKind);

impl Kind {
    /// The text of a plain token stream: a model's answer.
    pub(crate) const CONTENT: Self = Self(TextKind::Content);
}

/// What an item is, seen without consuming it.
#[doc(hidden)]
#[derive(Debug)]
pub enum Peek<'a> {
    /// Text of a kind, to be buffered.
    Text(Kind, TokenContent<'a>),
    /// An item that passes through; buffered text goes out ahead of it for this reason.
    Pass(FlushReason),
}

/// An item taken apart: its text, or what the adapter yields for it as it is.
#[doc(hidden)]
pub enum Split<T, O> {
    Text(Kind, T),
    Pass(O),
}

impl<T, O> fmt::Debug for Split<T, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(kind, _) => f.debug_tuple("Text").field(kind).finish_non_exhaustive(),
            Self::Pass(_) => f.write_str("Pass(..)"),
        }
    }
}

impl<T: Token> FlushInput for T {
    type Output = Chunk;
    type Text = T;

    #[inline(always)]
    fn peek(&self) -> Peek<'_> {
        Peek::Text(Kind::CONTENT, self.content())
    }

    #[inline(always)]
    fn split(self) -> Split<T, Chunk> {
        Split::Text(Kind::CONTENT, self)
    }

    #[inline(always)]
    fn text_output(_kind: Kind, chunk: Chunk) -> Chunk {
        chunk
    }
}

impl<T: FlushInput, E> FlushInput for Result<T, E> {
    type Output = Result<T::Output, E>;
    type Text = T::Text;

    #[inline(always)]
    fn peek(&self) -> Peek<'_> {
        match self {
            Ok(item) => item.peek(),
            Err(_) => Peek::Pass(FlushReason::Error),
        }
    }

    #[inline(always)]
    fn split(self) -> Split<T::Text, Self::Output> {
        match self {
            Ok(item) => match item.split() {
                Split::Text(kind, text) => Split::Text(kind, text),
                Split::Pass(output) => Split::Pass(Ok(output)),
            },
            Err(error) => Split::Pass(Err(error)),
        }
    }

    #[inline(always)]
    fn text_output(kind: Kind, chunk: Chunk) -> Self::Output {
        Ok(T::text_output(kind, chunk))
    }
}

impl<T: Token> FlushInput for Item<T> {
    type Output = Item<Chunk>;
    type Text = T;

    #[inline(always)]
    fn peek(&self) -> Peek<'_> {
        match self {
            Item::Content(text) => Peek::Text(Kind(TextKind::Content), text.content()),
            Item::Reasoning(text) => Peek::Text(Kind(TextKind::Reasoning), text.content()),
            Item::Refusal(text) => Peek::Text(Kind(TextKind::Refusal), text.content()),
            _ => Peek::Pass(FlushReason::Item),
        }
    }

    #[inline(always)]
    fn split(self) -> Split<T, Item<Chunk>> {
        match self.into_text() {
            Ok((kind, text)) => Split::Text(Kind(kind), text),
            Err(other) => Split::Pass(other),
        }
    }

    #[inline(always)]
    fn text_output(kind: Kind, chunk: Chunk) -> Item<Chunk> {
        Item::from_text(kind.0, chunk)
    }
}

mod sealed {
    pub trait Sealed {}

    impl<T: crate::Token> Sealed for T {}

    impl<T: super::FlushInput, E> Sealed for Result<T, E> {}

    impl<T: crate::Token> Sealed for crate::llm::Item<T> {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_what_an_item_is_never_its_text() {
        let text: Split<&str, Chunk> = Split::Text(Kind::CONTENT, "secret");
        assert_eq!(format!("{text:?}"), "Text(Kind(Content), ..)");
        let pass: Split<&str, Chunk> = Split::Pass(Chunk::new("secret").unwrap());
        assert_eq!(format!("{pass:?}"), "Pass(..)");
    }
}
