use std::io::BufRead;
use std::time::Duration;

use crate::Trace;

/// A trace that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum TraceError {
    /// Reading failed.
    #[error("reading the trace: {0}")]
    Io(#[from] std::io::Error),
    /// A line is not a token of the trace format.
    #[error("trace line {line}: {message}")]
    Line {
        /// The line number, from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
}

impl Trace {
    /// Reads a JSON Lines trace: one object per line with `t` (seconds since the stream began,
    /// a non-negative number) and `text` (a string), as [`record_trace`](crate::TraceExt::record_trace)
    /// writes. Blank lines are skipped; other fields are ignored.
    ///
    /// # Errors
    ///
    /// [`TraceError::Io`] if reading fails, [`TraceError::Line`] for a line that is not such an
    /// object.
    pub(crate) fn from_jsonl(reader: impl BufRead) -> Result<Self, TraceError> {
        let mut trace = Self::new();
        for (index, line) in reader.lines().enumerate() {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            let fail = |message: String| TraceError::Line {
                line: index + 1,
                message,
            };
            let value: serde_json::Value =
                serde_json::from_str(&line).map_err(|error| fail(error.to_string()))?;
            let at = value
                .get("t")
                .and_then(serde_json::Value::as_f64)
                .ok_or_else(|| fail("missing number field `t`".into()))?;
            let at = Duration::try_from_secs_f64(at).map_err(|_| {
                fail(format!(
                    "`t` must be a non-negative number of seconds, not {at}"
                ))
            })?;
            let text = value
                .get("text")
                .and_then(serde_json::Value::as_str)
                .ok_or_else(|| fail("missing string field `text`".into()))?;
            trace.push(at, text);
        }
        Ok(trace)
    }
}

impl Trace {
    /// Reads a recorded streaming response of an OpenAI-compatible server (or an Anthropic
    /// messages stream), each line prefixed with the seconds since the request and a space or
    /// tab — what `curl -N … | ts -s %.s` writes. Each text delta becomes a token, at the time
    /// of the line that completed its event: `choices[0].delta.content` of OpenAI chunks,
    /// `delta.text` of Anthropic `content_block_delta` events. Other events (role, tool calls,
    /// usage, `[DONE]`, pings) carry no text and are skipped, as are lines without a time.
    ///
    /// # Errors
    ///
    /// [`TraceError::Io`] if reading fails, [`TraceError::Line`] for an event whose data is not
    /// JSON or an SSE line the parser rejects.
    pub(crate) fn from_timestamped_sse(reader: impl BufRead) -> Result<Self, TraceError> {
        let mut parser = tokenflush::sse::Parser::new();
        let mut trace = Self::new();
        for (index, line) in reader.lines().enumerate() {
            let line = line?;
            let fail = |message: String| TraceError::Line {
                line: index + 1,
                message,
            };
            let (stamp, rest) = match line.split_once([' ', '\t']) {
                Some((stamp, rest)) => (stamp, rest),
                None => (line.as_str(), ""),
            };
            let Some(at) = stamp
                .parse::<f64>()
                .ok()
                .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            else {
                continue;
            };
            parser.feed(rest.as_bytes());
            parser.feed(b"\n");
            while let Some(event) = parser
                .next_event()
                .map_err(|error| fail(error.to_string()))?
            {
                if event.data() == "[DONE]" || event.data().is_empty() {
                    continue;
                }
                let value: serde_json::Value = serde_json::from_str(event.data())
                    .map_err(|error| fail(format!("event data is not JSON: {error}")))?;
                let text = value
                    .pointer("/choices/0/delta/content")
                    .or_else(|| value.pointer("/delta/text"))
                    .and_then(serde_json::Value::as_str);
                if let Some(text) = text.filter(|text| !text.is_empty()) {
                    trace.push(at, text);
                }
            }
        }
        Ok(trace)
    }
}
