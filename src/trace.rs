//! Token timing traces: record when a live model's tokens arrive, to replay them later through
//! every candidate policy with the tuning tool (`tokenflush-tune --trace FILE`).
//!
//! A trace is JSON Lines, one token per line: `{"t": 0.412, "text": "Hello"}`, where `t` is
//! seconds since the stream began and `text` the token (byte tokens decoded lossily). Record
//! one from a live stream with [`TraceExt::record_trace`].
//!
//! # Examples
//!
//! ```
//! use futures::StreamExt;
//! use tokenflush::trace::TraceExt;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let mut file = Vec::new(); // a `BufWriter<File>` in a real server
//! let tokens = futures::stream::iter(["Hel", "lo\n"]).record_trace(&mut file);
//! let passed: Vec<_> = tokens.collect().await;
//! assert_eq!(passed, ["Hel", "lo\n"]); // the stream is unchanged
//! assert_eq!(
//!     String::from_utf8(file).unwrap(),
//!     "{\"t\":0.000000,\"text\":\"Hel\"}\n{\"t\":0.000000,\"text\":\"lo\\n\"}\n"
//! );
//! # }
//! ```

mod record_trace;

pub use record_trace::{RecordTrace, TraceExt};

use std::fmt::Write as _;
use std::time::Duration;

/// Appends one trace line: `{"t":<seconds with microseconds>,"text":<JSON string>}` and LF.
fn jsonl_line(line: &mut String, at: Duration, text: &str) {
    let _ = write!(
        line,
        "{{\"t\":{}.{:06},\"text\":\"",
        at.as_secs(),
        at.subsec_micros()
    );
    for c in text.chars() {
        match c {
            '"' => line.push_str("\\\""),
            '\\' => line.push_str("\\\\"),
            '\n' => line.push_str("\\n"),
            '\r' => line.push_str("\\r"),
            '\t' => line.push_str("\\t"),
            c if c < ' ' => {
                let _ = write!(line, "\\u{:04x}", u32::from(c));
            }
            c => line.push(c),
        }
    }
    line.push_str("\"}\n");
}
