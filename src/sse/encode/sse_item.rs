//! [`SseItem`]: what the SSE encoder frames.

use std::fmt::Display;
use std::sync::Arc;

use bytes::BytesMut;

use crate::llm::Item;
use crate::sse::Format;
use crate::Chunk;

/// An item the SSE encoder frames: a [`Chunk`] (owned, borrowed or shared), an
/// [`Item<Chunk>`](Item) of a typed stream ([`Format::item`]), or a `Result` of either, whose
/// error becomes the format's last event ([`Format::error`], with the error's `Display` text)
/// and ends the stream.
///
/// The error's text reaches the client verbatim: map errors that may hold secrets (upstream
/// URLs, keys, internal paths) to something fit to show before they reach the encoder, for
/// example with `futures::TryStreamExt::map_err`.
///
/// The trait is sealed; the chunks it frames come from the flush adapter.
pub trait SseItem: sealed::Sealed {
    /// Whether an item may end the stream (an error does).
    #[doc(hidden)]
    const MAY_END: bool = false;

    /// Whether every item gets a frame (a typed item may get none, when the format has no
    /// place for it).
    #[doc(hidden)]
    const ALWAYS_FRAMED: bool = true;

    #[doc(hidden)]
    fn encode<F: Format + ?Sized>(self, format: &mut F, out: &mut BytesMut) -> Flow;
}

/// Whether the stream goes on after an item.
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    End,
}

impl SseItem for Chunk {
    #[inline]
    fn encode<F: Format + ?Sized>(self, format: &mut F, out: &mut BytesMut) -> Flow {
        format.chunk(&self, out);
        Flow::Continue
    }
}

impl SseItem for &Chunk {
    #[inline]
    fn encode<F: Format + ?Sized>(self, format: &mut F, out: &mut BytesMut) -> Flow {
        format.chunk(self, out);
        Flow::Continue
    }
}

impl SseItem for Arc<Chunk> {
    #[inline]
    fn encode<F: Format + ?Sized>(self, format: &mut F, out: &mut BytesMut) -> Flow {
        format.chunk(&self, out);
        Flow::Continue
    }
}

impl SseItem for Item<Chunk> {
    const ALWAYS_FRAMED: bool = false;

    #[inline]
    fn encode<F: Format + ?Sized>(self, format: &mut F, out: &mut BytesMut) -> Flow {
        format.item(&self, out);
        Flow::Continue
    }
}

impl SseItem for &Item<Chunk> {
    const ALWAYS_FRAMED: bool = false;

    #[inline]
    fn encode<F: Format + ?Sized>(self, format: &mut F, out: &mut BytesMut) -> Flow {
        format.item(self, out);
        Flow::Continue
    }
}

impl<T: SseItem, E: Display> SseItem for Result<T, E> {
    const MAY_END: bool = true;
    const ALWAYS_FRAMED: bool = T::ALWAYS_FRAMED;

    #[inline]
    fn encode<F: Format + ?Sized>(self, format: &mut F, out: &mut BytesMut) -> Flow {
        match self {
            Ok(item) => item.encode(format, out),
            Err(error) => {
                format.error(&error.to_string(), out);
                Flow::End
            }
        }
    }
}

mod sealed {
    use std::sync::Arc;

    use crate::Chunk;

    pub trait Sealed {}

    impl Sealed for Chunk {}

    impl Sealed for &Chunk {}

    impl Sealed for Arc<Chunk> {}

    impl Sealed for crate::llm::Item<Chunk> {}

    impl Sealed for &crate::llm::Item<Chunk> {}

    impl<T: super::SseItem, E> Sealed for Result<T, E> {}
}
