//! [`ResumeItem`]: what a generation takes from its flushed stream.

/// An item a resumable generation ([`Relay::start`](super::Relay::start)) stores and relays:
/// a [`Chunk`](crate::Chunk) of a plain token stream, an [`Item<Chunk>`](crate::llm::Item) of a
/// typed stream, or a `Result` of either — what the flush adapter yields
/// ([`flush_with`](crate::FlushExt::flush_with),
/// [`try_flush_with`](crate::TryFlushExt::try_flush_with)).
///
/// An `Err` ends the generation as failed, with the error's `Display` text as the message
/// readers get (the format's [error event](crate::sse::Format::error)): map errors that may
/// hold secrets to something fit to show first.
///
/// The trait is sealed.
pub trait ResumeItem: sealed::Sealed + Send + 'static {}

impl<T: sealed::Sealed + Send + 'static> ResumeItem for T {}

pub(crate) use sealed::Sealed;

mod sealed {
    use std::fmt::Display;

    use crate::llm::Item;
    use crate::resume::codec::Record;
    use crate::Chunk;

    pub trait Sealed {
        /// The record to store, or the failure's message.
        fn into_record(self) -> Result<Record, String>;
    }

    impl Sealed for Chunk {
        fn into_record(self) -> Result<Record, String> {
            Ok(Record::Chunk(self))
        }
    }

    impl Sealed for Item<Chunk> {
        fn into_record(self) -> Result<Record, String> {
            Ok(Record::Item(self))
        }
    }

    impl<T: Sealed, E: Display> Sealed for Result<T, E> {
        fn into_record(self) -> Result<Record, String> {
            match self {
                Ok(item) => item.into_record(),
                Err(error) => Err(error.to_string()),
            }
        }
    }
}
