// The tuning harness, on traces whose answers are known by hand.

use std::time::Duration;

use futures::StreamExt;
use tokenflush::trace::TraceExt;

use crate::candidate::Candidate;
use crate::evaluation::Evaluation;
use crate::model::Model;
use crate::read::TraceError;
use crate::replay::replay;
use crate::report::PolicyReport;
use crate::trace::Trace;
use tokenflush::policy::{Coalesce, FixedBatch, Immediate, TimeBounded};

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// 100 one-byte tokens, one every 10 ms from 10 ms on.
fn every_10ms() -> Trace {
    Trace::from_gaps(
        (0..100).map(|i| char::from(b'a' + (i % 26) as u8).to_string()),
        ms(10),
    )
}

#[test]
fn fixed_batch_of_four_adds_30_20_10_0_ms() {
    let report = replay(
        &every_10ms(),
        &Candidate::new("FixedBatch(4)", || FixedBatch::new(4)),
    );
    assert_eq!(report.tokens(), 100);
    assert_eq!(report.chunks(), 25);
    // Each chunk's tokens waited 30, 20, 10 and 0 ms: a quarter of the tokens each.
    assert_eq!(report.delay_p50(), ms(10));
    assert_eq!(report.delay_p99(), ms(30));
    assert_eq!(report.delay_max(), ms(30));
    assert_eq!(report.delay_mean(), ms(15));
    assert_eq!(report.first_token_delay(), ms(30));
    assert_eq!(report.tokens_per_chunk(), 4.0);
    // 25 chunks from the first token (10 ms) to the last chunk (1000 ms).
    assert!((report.chunks_per_second() - 25.0 / 0.99).abs() < 1e-9);
    // "data: abcd\n\n": 12 bytes per chunk of 4 tokens.
    assert_eq!(report.sse_bytes_per_token(), 3.0);
}

#[test]
fn percentiles_are_nearest_rank() {
    // Delays 20, 10 and 0 ms: the median is the second smallest, p99 the largest.
    let trace = Trace::from_gaps(["a", "b", "c"], ms(10));
    let report = replay(
        &trace,
        &Candidate::new("FixedBatch(3)", || FixedBatch::new(3)),
    );
    assert_eq!(report.delay_p50(), ms(10));
    assert_eq!(report.delay_p99(), ms(20));
    assert_eq!(report.delay_mean(), ms(10));
}

#[test]
fn a_time_bound_caps_every_tokens_delay() {
    let candidate = Candidate::new("TimeBounded(16, 50ms)", || TimeBounded::new(16, ms(50)));
    let report = replay(&every_10ms(), &candidate);
    // The first token goes out at once; then each chunk holds the tokens of 50 ms.
    assert_eq!(report.first_token_delay(), Duration::ZERO);
    assert_eq!(report.delay_max(), ms(50));
    assert_eq!(report.tokens(), 100);
}

#[test]
fn immediate_and_coalesce_add_nothing() {
    for candidate in [
        Candidate::new("Immediate", Immediate::new),
        Candidate::new("Coalesce(8)", || Coalesce::new(8)),
    ] {
        let report = replay(&every_10ms(), &candidate);
        assert_eq!(report.delay_max(), Duration::ZERO, "{}", report.name());
        assert_eq!(report.chunks(), 100);
    }
}

#[test]
fn coalesce_writes_once_per_burst() {
    let mut trace = Trace::new();
    for burst in 0..10 {
        for _ in 0..4 {
            trace.push(ms(50 * (burst + 1)), "x");
        }
    }
    let report = replay(&trace, &Candidate::new("Coalesce(8)", || Coalesce::new(8)));
    assert_eq!((report.chunks(), report.delay_max()), (10, Duration::ZERO));
}

fn by_name<'a>(evaluation: &'a Evaluation, name: &str) -> &'a PolicyReport {
    evaluation
        .reports()
        .iter()
        .find(|r| r.name() == name)
        .unwrap()
}

#[test]
fn marks_the_front_and_recommends_the_fewest_writes_within_the_target() {
    let candidates = [
        Candidate::new("Immediate", Immediate::new),
        Candidate::new("FixedBatch(2)", || FixedBatch::new(2)),
        Candidate::new("FixedBatch(4)", || FixedBatch::new(4)),
        // The same delays as FixedBatch(4), plus one write for the first token: dominated.
        Candidate::new("TimeBounded(4, 1s)", || TimeBounded::new(4, ms(1000))),
    ];
    let evaluation = Evaluation::run(&every_10ms(), &candidates);
    let front: Vec<&str> = evaluation
        .reports()
        .iter()
        .filter(|r| r.on_front())
        .map(PolicyReport::name)
        .collect();
    assert_eq!(front, ["Immediate", "FixedBatch(2)", "FixedBatch(4)"]);
    assert_eq!(
        by_name(&evaluation, "TimeBounded(4, 1s)").delay_p99(),
        ms(30)
    );

    let pick = |target| evaluation.recommend(target).map(PolicyReport::name);
    assert_eq!(pick(ms(35)), Some("FixedBatch(4)"));
    assert_eq!(pick(ms(25)), Some("FixedBatch(2)"));
    assert_eq!(pick(Duration::ZERO), Some("Immediate"));

    let table = evaluation.table();
    assert!(table.contains("* FixedBatch(4)"));
    assert!(table.contains("  TimeBounded(4, 1s)"));
    let svg = evaluation.svg("every 10 ms", Some(ms(35)));
    assert!(svg.contains("recommended:"));
    assert!(svg.contains(">FixedBatch(4)</text>"));
    assert_eq!(
        svg.matches("<circle").count(),
        4 + 1 + 3,
        "points, ring, legend"
    );
}

#[test]
fn recommends_nothing_when_no_policy_meets_the_target() {
    let slow = Model::named("slow").unwrap().trace(50, 3);
    let evaluation = Evaluation::run(
        &slow,
        &[Candidate::new("FixedBatch(25)", || FixedBatch::new(25))],
    );
    assert!(evaluation.recommend(ms(100)).is_none());
    assert!(evaluation.recommend(ms(60_000)).is_some());
}

#[test]
fn the_slow_model_shows_fixed_batches_holding_text_for_seconds() {
    let trace = Model::named("slow").unwrap().trace(200, 1);
    let evaluation = Evaluation::run(&trace, &Candidate::grid());
    assert!(by_name(&evaluation, "FixedBatch(25)").delay_max() > Duration::from_secs(7));
    for report in evaluation
        .reports()
        .iter()
        .filter(|r| r.name().starts_with("TimeBounded"))
    {
        assert!(report.delay_max() <= ms(200), "{}", report.name());
    }
    // On a model this slow nothing beats a write per token.
    assert_eq!(
        evaluation.recommend(ms(100)).unwrap().tokens_per_chunk(),
        1.0
    );
}

#[test]
fn reads_a_recorded_openai_stream_with_timestamps() {
    let recorded = "\
0.100 data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}
0.100
0.150 data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hel\"}}]}
0.150
0.150 data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"lo\"}}]}
0.151
0.400 : keep-alive
0.900\tdata: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" 😀\"},\"finish_reason\":null}]}
0.900
1.000 data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}
1.000
1.000 data: [DONE]
1.000
";
    let trace = Trace::from_timestamped_sse(recorded.as_bytes()).unwrap();
    let tokens: Vec<(u128, &str)> = trace
        .tokens()
        .iter()
        .map(|t| (t.at.as_millis(), t.text.as_str()))
        .collect();
    assert_eq!(tokens, [(150, "Hel"), (151, "lo"), (900, " 😀")]);
}

#[test]
fn parses_policy_names_as_the_reports_print_them() {
    for candidate in Candidate::grid() {
        let parsed = Candidate::parse(candidate.name()).unwrap();
        assert_eq!(parsed.name(), candidate.name());
    }
    assert!(Candidate::parse("TimeBounded(4)").is_none());
    assert!(Candidate::parse("Coalesce(0)").is_none());
}

#[tokio::test(start_paused = true)]
async fn a_recorded_trace_reads_back_the_same() {
    let mut file = Vec::new();
    let tokens = ["a\\b", "\"", "\u{1}\u{1f}", "😀", "\r\n"];
    let upstream = futures::stream::iter(tokens).then(|token| async move {
        tokio::time::sleep(Duration::from_millis(7)).await;
        token
    });
    let _: Vec<&str> = upstream.record_trace(&mut file).collect().await;
    let trace = Trace::from_jsonl(&file[..]).unwrap();
    let texts: Vec<&str> = trace.tokens().iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts, tokens);
    let times: Vec<u128> = trace.tokens().iter().map(|t| t.at.as_millis()).collect();
    assert_eq!(times, [7, 14, 21, 28, 35]);
}

#[test]
fn bad_trace_lines_are_reported_with_their_number() {
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

#[test]
fn traces_keep_arrivals_in_order() {
    let mut trace = Trace::from_gaps(["a", "b"], Duration::from_millis(10));
    trace.push(Duration::from_millis(5), "c");
    assert_eq!(trace.tokens()[2].at, Duration::from_millis(20));
    assert_eq!(trace.duration(), Duration::from_millis(20));
}
