//! Traces: recording a live stream's timing and reading it back.

mod support;

use std::io;
use std::time::Duration;

use futures::StreamExt;
use support::{ms, Scripted, Step};
use tokenflush::trace::{Trace, TraceExt};

#[tokio::test(start_paused = true)]
async fn records_when_each_token_was_pulled() {
    let mut file = Vec::new();
    let upstream = Scripted::new([
        ms(250),
        Step::Token(b"Hel".to_vec()),
        ms(30),
        Step::Token(b"lo \xE2\x82".to_vec()),
        ms(20),
        Step::Token(b"\xAC\n\"q\"\t\x01".to_vec()),
    ])
    .bytes();
    let passed: Vec<Vec<u8>> = upstream.record_trace(&mut file).collect().await;
    assert_eq!(passed.len(), 3, "the tokens pass through");
    let text = String::from_utf8(file).unwrap();
    assert_eq!(
        text,
        "{\"t\":0.250000,\"text\":\"Hel\"}\n\
         {\"t\":0.280000,\"text\":\"lo \"}\n\
         {\"t\":0.300000,\"text\":\"€\\n\\\"q\\\"\\t\\u0001\"}\n"
    );
}

#[cfg(feature = "serde")]
#[tokio::test(start_paused = true)]
async fn a_recorded_trace_reads_back_the_same() {
    let mut file = Vec::new();
    let tokens = ["a\\b", "\"", "\u{1}\u{1f}", "😀", "\r\n"];
    let upstream = Scripted::new(tokens.iter().flat_map(|t| [ms(7), support::tok(t)])).text();
    let _: Vec<String> = upstream.record_trace(&mut file).collect().await;
    let trace = Trace::from_jsonl(&file[..]).unwrap();
    let texts: Vec<&str> = trace.tokens().iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts, tokens);
    let times: Vec<u128> = trace.tokens().iter().map(|t| t.at.as_millis()).collect();
    assert_eq!(times, [7, 14, 21, 28, 35]);

    let mut again = Vec::new();
    trace.write_jsonl(&mut again).unwrap();
    assert_eq!(again, file, "writing a read trace gives the same bytes");
}

#[cfg(feature = "serde")]
#[test]
fn bad_trace_lines_are_reported_with_their_number() {
    use tokenflush::trace::TraceError;
    for (input, line, message) in [
        ("{\"t\":0.1,\"text\":\"a\"}\nnot json\n", 2, "expected"),
        ("{\"t\":-1,\"text\":\"a\"}\n", 1, "non-negative"),
        ("{\"text\":\"a\"}\n", 1, "missing number field `t`"),
        ("\n\n{\"t\":1}\n", 3, "missing string field `text`"),
    ] {
        match Trace::from_jsonl(input.as_bytes()) {
            Err(TraceError::Line {
                line: got,
                message: got_message,
            }) => {
                assert_eq!(got, line, "{input:?}");
                assert!(got_message.contains(message), "{got_message}");
            }
            other => panic!("{input:?}: {other:?}"),
        }
    }
}

/// A writer that fails after `ok` writes.
struct Failing {
    ok: usize,
}

impl io::Write for Failing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.ok == 0 {
            return Err(io::Error::other("disk full"));
        }
        self.ok -= 1;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_failing_writer_never_disturbs_the_stream() {
    let mut tokens = futures::stream::iter(["a", "b", "c"]).record_trace(Failing { ok: 1 });
    let mut passed = Vec::new();
    while let Some(token) = tokens.next().await {
        passed.push(token);
    }
    assert_eq!(passed, ["a", "b", "c"]);
    assert_eq!(tokens.error().unwrap().to_string(), "disk full");
}

#[test]
fn traces_keep_arrivals_in_order() {
    let mut trace = Trace::from_gaps(["a", "b"], Duration::from_millis(10));
    trace.push(Duration::from_millis(5), "c");
    assert_eq!(trace.tokens()[2].at, Duration::from_millis(20));
    assert_eq!(trace.duration(), Duration::from_millis(20));
}
