//! Traces: recording a live stream's timing (the tuning tool reads them back).

mod support;

use std::io;

use futures::StreamExt;
use support::{ms, Scripted, Step};
use tokenflush::trace::TraceExt;

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
