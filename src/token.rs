//! [`Token`]: what the flush adapters can buffer.

use std::borrow::Cow;
use std::rc::Rc;
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

/// The content of one [`Token`]: text, or bytes that may cut a character in half.
///
/// # Examples
///
/// ```
/// use tokenflush::{Token, TokenContent};
///
/// assert_eq!("hi".content(), TokenContent::Text("hi"));
/// assert_eq!(vec![0xF0_u8, 0x9F].content(), TokenContent::Bytes(&[0xF0, 0x9F]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenContent<'a> {
    /// Valid UTF-8 text, whole characters only.
    Text(&'a str),
    /// Raw bytes, possibly invalid or cut inside a character (byte-fallback tokenizers, network
    /// reads). The adapter decodes them incrementally: a character cut across tokens is put back
    /// together, invalid bytes become U+FFFD as [`String::from_utf8_lossy`] would.
    Bytes(&'a [u8]),
}

/// A piece of model output that the flush adapters can buffer.
///
/// Implemented for the usual owned and borrowed strings (`String`, `&str`, `Box<str>`,
/// `Arc<str>`, `Rc<str>`, `Cow<'_, str>`) and byte buffers (`Vec<u8>`, `&[u8]`, `Box<[u8]>`,
/// `Arc<[u8]>`, [`Bytes`], [`BytesMut`]), and through references and smart pointers to any of
/// them. Implement it for your own token type (an OpenAI delta, a tokenizer's output) by handing
/// out its text.
///
/// # Examples
///
/// ```
/// use tokenflush::{Token, TokenContent};
///
/// struct Delta {
///     content: String,
///     logprob: f32,
/// }
///
/// impl Token for Delta {
///     fn content(&self) -> TokenContent<'_> {
///         TokenContent::Text(&self.content)
///     }
/// }
///
/// let delta = Delta { content: "Hello".into(), logprob: -0.1 };
/// assert_eq!(delta.content(), TokenContent::Text("Hello"));
/// # let _ = delta.logprob;
/// ```
pub trait Token {
    /// The token's text or bytes.
    fn content(&self) -> TokenContent<'_>;

    /// The token as an owned `String`, without copying, if it is one; otherwise the token back.
    ///
    /// The adapter calls it on a token that starts a chunk: with `Immediate` the token's own
    /// allocation then becomes the chunk, with no copy and no allocation. `String`, an owned
    /// `Cow<str>` and a `Vec<u8>` holding valid UTF-8 give themselves up; the default keeps the
    /// token.
    ///
    /// # Errors
    ///
    /// The token itself, when it is not an owned string.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::Token;
    ///
    /// assert_eq!(String::from("hi").try_into_string(), Ok(String::from("hi")));
    /// assert_eq!("hi".try_into_string(), Err("hi"));
    /// ```
    fn try_into_string(self) -> Result<String, Self>
    where
        Self: Sized,
    {
        Err(self)
    }
}

impl Token for str {
    fn content(&self) -> TokenContent<'_> {
        TokenContent::Text(self)
    }
}

impl Token for String {
    fn content(&self) -> TokenContent<'_> {
        TokenContent::Text(self)
    }

    fn try_into_string(self) -> Result<String, Self> {
        Ok(self)
    }
}

impl Token for [u8] {
    fn content(&self) -> TokenContent<'_> {
        TokenContent::Bytes(self)
    }
}

impl Token for Vec<u8> {
    fn content(&self) -> TokenContent<'_> {
        TokenContent::Bytes(self)
    }

    fn try_into_string(self) -> Result<String, Self> {
        String::from_utf8(self).map_err(std::string::FromUtf8Error::into_bytes)
    }
}

impl Token for Bytes {
    fn content(&self) -> TokenContent<'_> {
        TokenContent::Bytes(self)
    }
}

impl Token for BytesMut {
    fn content(&self) -> TokenContent<'_> {
        TokenContent::Bytes(self)
    }
}

impl<T: Token + ?Sized> Token for &T {
    fn content(&self) -> TokenContent<'_> {
        (**self).content()
    }
}

impl<T: Token + ?Sized> Token for &mut T {
    fn content(&self) -> TokenContent<'_> {
        (**self).content()
    }
}

impl<T: Token + ?Sized> Token for Box<T> {
    fn content(&self) -> TokenContent<'_> {
        (**self).content()
    }
}

impl<T: Token + ?Sized> Token for Arc<T> {
    fn content(&self) -> TokenContent<'_> {
        (**self).content()
    }
}

impl<T: Token + ?Sized> Token for Rc<T> {
    fn content(&self) -> TokenContent<'_> {
        (**self).content()
    }
}

impl<T> Token for Cow<'_, T>
where
    T: Token + ToOwned + ?Sized,
    T::Owned: Token,
{
    fn content(&self) -> TokenContent<'_> {
        (**self).content()
    }

    fn try_into_string(self) -> Result<String, Self> {
        match self {
            Cow::Owned(owned) => owned.try_into_string().map_err(Cow::Owned),
            borrowed @ Cow::Borrowed(_) => Err(borrowed),
        }
    }
}
