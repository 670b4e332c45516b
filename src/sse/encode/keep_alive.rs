//! [`KeepAlive`]: comment frames that keep an idle event stream open.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::event::write_field;
use crate::sse::lines::has_line_break;

/// The default time without a frame after which a keep-alive comment goes out.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(15);

/// Keep-alive settings for an SSE encoder: a comment frame (`: ping`) after `interval` in which
/// no frame was written.
///
/// Proxies and load balancers close connections that stay silent for a while (nginx after
/// 60 s by default, AWS ALB after 60 s, many CDNs after 30–100 s), and a model that thinks for
/// a long time before its first token is silent. Clients ignore comments, so a comment every
/// 15 s (the default) keeps the connection open at no cost to the reader. A format may send
/// its own keep-alive event instead ([`Format::keep_alive`](crate::sse::Format::keep_alive):
/// Anthropic's format sends `event: ping`).
///
/// Every frame resets the idle time; nothing is sent after the stream ends or fails. With
/// [`with_initial_comment`](Self::with_initial_comment), one comment also goes out at once, so
/// that proxies which hold the response headers until the first body bytes pass them on before
/// the first token. An interval too long to add to the clock (over thirty years) never runs
/// out.
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
    #[must_use]
    pub fn new() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            frame: Bytes::from_static(b": ping\n\n"),
            initial_comment: false,
        }
    }

    /// Sets the time without a frame after which a comment goes out.
    ///
    /// # Panics
    ///
    /// If `interval` is zero: the stream would send a comment every time it is polled while
    /// upstream is quiet.
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

    /// Sets the comment's text (empty is allowed: a bare `:` line).
    ///
    /// # Panics
    ///
    /// If `text` holds a CR or an LF, which would end the comment and start whatever follows
    /// as a field.
    #[must_use]
    #[track_caller]
    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        let text = text.into();
        assert!(
            !has_line_break(&text),
            "KeepAlive::with_text: the text must not contain CR or LF"
        );
        let mut frame = BytesMut::with_capacity(text.len() + 4);
        write_field(&mut frame, b"", &text);
        frame.extend_from_slice(b"\n");
        self.frame = frame.freeze();
        self
    }

    /// Whether one comment also goes out at once, before anything else.
    #[must_use]
    pub fn with_initial_comment(mut self, initial_comment: bool) -> Self {
        self.initial_comment = initial_comment;
        self
    }

    /// The time without a frame after which a comment goes out.
    #[must_use]
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Whether one comment goes out at once.
    #[must_use]
    pub fn initial_comment(&self) -> bool {
        self.initial_comment
    }

    /// The comment frame, with its blank line.
    #[must_use]
    pub fn frame(&self) -> &Bytes {
        &self.frame
    }
}
