//! [`KeepAlive`]: comment frames that keep an idle event stream open.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::event::write_field;
use super::lines::has_line_break;

/// The default time without a frame after which a keep-alive comment goes out.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);

/// The default comment text.
const DEFAULT_TEXT: &str = "ping";

/// Keep-alive settings for an SSE encoder: a comment frame (`: ping`) after `interval` in which
/// no frame was written.
///
/// Proxies and load balancers close connections that stay silent for a while (nginx after
/// 60 s by default, AWS ALB after 60 s, many CDNs after 30–100 s), and a model that thinks for
/// a long time before its first token is silent. Clients ignore comments, so a comment every
/// 15 s (the default) keeps the connection open at no cost to the reader.
///
/// Every frame resets the idle time; nothing is sent after the stream ends or fails. With
/// [`with_initial_comment`](Self::with_initial_comment), one comment also goes out at once, so
/// that proxies which hold the response headers until the first body bytes pass them on before
/// the first token.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokenflush::sse::KeepAlive;
///
/// let keep_alive = KeepAlive::new()
///     .with_interval(Duration::from_secs(10))
///     .with_text("still thinking")
///     .with_initial_comment(true);
/// assert_eq!(keep_alive.interval(), Duration::from_secs(10));
/// assert_eq!(keep_alive.frame(), ": still thinking\n\n");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeepAlive {
    interval: Duration,
    text: String,
    /// The comment frame, built once and shared by every keep-alive.
    frame: Bytes,
    initial_comment: bool,
}

impl Default for KeepAlive {
    /// The same as [`KeepAlive::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl KeepAlive {
    /// A comment `: ping` after 15 s without a frame, and none at the start.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenflush::sse::KeepAlive;
    ///
    /// let keep_alive = KeepAlive::new();
    /// assert_eq!(keep_alive.interval(), Duration::from_secs(15));
    /// assert_eq!(keep_alive.text(), "ping");
    /// assert!(!keep_alive.initial_comment());
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            text: DEFAULT_TEXT.to_owned(),
            frame: Bytes::from_static(b": ping\n\n"),
            initial_comment: false,
        }
    }

    /// Keep-alive settings from runtime configuration, or why they cannot work.
    ///
    /// # Errors
    ///
    /// [`KeepAliveError::ZeroInterval`] if `interval` is zero, and
    /// [`KeepAliveError::LineBreakInText`] if `text` holds a CR or an LF.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenflush::sse::{KeepAlive, KeepAliveError};
    ///
    /// assert!(KeepAlive::try_new(Duration::from_secs(5), "").is_ok());
    /// assert_eq!(
    ///     KeepAlive::try_new(Duration::ZERO, "ping"),
    ///     Err(KeepAliveError::ZeroInterval),
    /// );
    /// ```
    pub fn try_new(interval: Duration, text: impl Into<String>) -> Result<Self, KeepAliveError> {
        if interval.is_zero() {
            return Err(KeepAliveError::ZeroInterval);
        }
        let text = text.into();
        if has_line_break(&text) {
            return Err(KeepAliveError::LineBreakInText);
        }
        let mut frame = BytesMut::with_capacity(text.len() + 4);
        write_field(&mut frame, b"", &text);
        frame.extend_from_slice(b"\n");
        Ok(Self {
            interval,
            text,
            frame: frame.freeze(),
            initial_comment: false,
        })
    }

    /// Sets the time without a frame after which a comment goes out.
    ///
    /// # Panics
    ///
    /// If `interval` is zero: the stream would send a comment every time it is polled while
    /// upstream is quiet. Use [`try_new`](Self::try_new) for values from configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenflush::sse::KeepAlive;
    ///
    /// let keep_alive = KeepAlive::new().with_interval(Duration::from_secs(30));
    /// assert_eq!(keep_alive.interval(), Duration::from_secs(30));
    /// ```
    #[must_use]
    #[track_caller]
    pub fn with_interval(mut self, interval: Duration) -> Self {
        assert!(
            !interval.is_zero(),
            "KeepAlive::with_interval: the interval must not be zero"
        );
        self.interval = interval;
        self
    }

    /// Sets the comment text (`ping` by default; empty gives a bare `:` line).
    ///
    /// # Panics
    ///
    /// If `text` holds a CR or an LF, which would end the comment line early. Use
    /// [`try_new`](Self::try_new) for values from configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::KeepAlive;
    ///
    /// assert_eq!(KeepAlive::new().with_text("").frame(), ":\n\n");
    /// ```
    #[must_use]
    #[track_caller]
    pub fn with_text(self, text: impl Into<String>) -> Self {
        match Self::try_new(self.interval, text) {
            Ok(with_text) => Self {
                initial_comment: self.initial_comment,
                ..with_text
            },
            Err(_) => panic!("KeepAlive::with_text: the text must not contain CR or LF"),
        }
    }

    /// Whether to also send one comment at once, before anything else, when the stream is first
    /// polled.
    ///
    /// Some proxies and clients wait for the first body bytes before they pass the response
    /// headers on; with this, the headers go through before the model produced anything.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::KeepAlive;
    ///
    /// assert!(KeepAlive::new().with_initial_comment(true).initial_comment());
    /// ```
    #[must_use]
    pub fn with_initial_comment(mut self, initial_comment: bool) -> Self {
        self.initial_comment = initial_comment;
        self
    }

    /// The time without a frame after which a comment goes out.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokenflush::sse::KeepAlive;
    ///
    /// assert_eq!(KeepAlive::default().interval(), Duration::from_secs(15));
    /// ```
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The comment text.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::KeepAlive;
    ///
    /// assert_eq!(KeepAlive::new().with_text("hb").text(), "hb");
    /// ```
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether one comment goes out at once when the stream starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::KeepAlive;
    ///
    /// assert!(!KeepAlive::new().initial_comment());
    /// ```
    #[must_use]
    pub fn initial_comment(&self) -> bool {
        self.initial_comment
    }

    /// The keep-alive frame: the comment line and a blank line.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokenflush::sse::KeepAlive;
    ///
    /// assert_eq!(KeepAlive::new().frame(), ": ping\n\n");
    /// ```
    #[must_use]
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }
}

/// [`KeepAlive`] settings that cannot work, from [`KeepAlive::try_new`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokenflush::sse::{KeepAlive, KeepAliveError};
///
/// let err = KeepAlive::try_new(Duration::from_secs(1), "a\nb").unwrap_err();
/// assert_eq!(err, KeepAliveError::LineBreakInText);
/// assert_eq!(err.to_string(), "keep-alive text contains a line break");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum KeepAliveError {
    /// A zero interval: a comment every time the stream is polled.
    #[error("keep-alive interval must not be zero")]
    ZeroInterval,
    /// Comment text with a CR or an LF, which would end the comment line early.
    #[error("keep-alive text contains a line break")]
    LineBreakInText,
}
