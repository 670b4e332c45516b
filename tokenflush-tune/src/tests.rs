// The tuning tool, on traces whose answers are known by hand.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use tokenflush::trace::TraceExt;

use crate::candidate::{parse_duration, Candidate, SpecError};
use crate::evaluation::Evaluation;
use crate::model::Model;
use crate::output::{plot_file_name, Source};
use crate::plot::{self, text_box, TextBox};
use crate::read::TraceError;
use crate::recommend::{recommend, Limits, DEFAULT_MARGIN, TIE};
use crate::replay::replay;
use crate::report::PolicyReport;
use crate::trace::Trace;

const fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

fn spec(text: &str) -> Candidate {
    Candidate::parse(text).unwrap()
}

/// Floats compare within this relative tolerance.
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// 100 one-byte tokens, one every 10 ms from 10 ms on.
fn every_10ms() -> Trace {
    Trace::from_gaps(
        (0..100).map(|i| char::from(b'a' + (i % 26) as u8).to_string()),
        ms(10),
    )
}

fn by_name<'a>(evaluation: &'a Evaluation, name: &str) -> &'a PolicyReport {
    evaluation
        .reports()
        .iter()
        .find(|r| r.name() == name)
        .unwrap_or_else(|| panic!("no report for {name}"))
}

// ---------------------------------------------------------------------------------------------
// Replay: what a reader would see.

#[test]
fn fixed_batch_of_four_adds_30_20_10_0_ms() {
    let report = replay(&every_10ms(), &spec("fixed-batch:4"));
    assert_eq!(report.tokens(), 100);
    assert_eq!(report.chunks(), 25);
    // Each chunk's tokens waited 30, 20, 10 and 0 ms: a quarter of the tokens each.
    assert_eq!(report.delay_p50(), ms(10));
    assert_eq!(report.delay_p99(), ms(30));
    assert_eq!(report.delay_max(), ms(30));
    assert_eq!(report.delay_mean(), ms(15));
    assert_eq!(report.first_token_delay(), ms(30));
    assert!(close(report.tokens_per_chunk(), 4.0));
    // 25 chunks from the first token (10 ms) to the last chunk (1000 ms).
    assert!(close(report.chunks_per_second(), 25.0 / 0.99));
    // "data: abcd\n\n": 12 bytes per chunk of 4 tokens.
    assert!(close(report.sse_bytes_per_token(), 3.0));
    // Only arrivals woke the task: a fixed batch has no timer.
    assert!(close(report.timer_fires_per_token(), 0.0));
}

#[test]
fn percentiles_are_nearest_rank() {
    // Delays 20, 10 and 0 ms: the median is the second smallest, p99 the largest.
    let trace = Trace::from_gaps(["a", "b", "c"], ms(10));
    let report = replay(&trace, &spec("fixed-batch:3"));
    assert_eq!(report.delay_p50(), ms(10));
    assert_eq!(report.delay_p99(), ms(20));
    assert_eq!(report.delay_mean(), ms(10));
}

#[test]
fn a_time_bound_caps_every_tokens_delay_and_its_timer_is_counted() {
    let report = replay(&every_10ms(), &spec("time-bounded:16:45ms"));
    // The first token goes out at once; then each chunk holds the tokens of 45 ms, sent when
    // the timer fires (between two arrivals: 10 ms apart, the deadline 45 ms after one).
    assert_eq!(report.first_token_delay(), Duration::ZERO);
    assert_eq!(report.delay_max(), ms(45));
    assert_eq!(report.tokens(), 100);
    // One wake-up by the timer per chunk, but the first (at once) and the last (at the end).
    let fires = report.timer_fires_per_token() * 100.0;
    let chunks = report.chunks() as f64;
    assert!(
        (fires - (chunks - 2.0)).abs() < 0.5,
        "{fires} wake-ups, {chunks} chunks"
    );
    // Anticipating, it flushes on the arrival before the deadline: less delay. (The timer armed
    // for the deadline still wakes the task once a chunk: the adapter does not disarm it.)
    let anticipating = replay(&every_10ms(), &spec("time-bounded:16:45ms:anticipate"));
    assert_eq!(anticipating.delay_max(), ms(40));
    assert!(anticipating.timer_fires_per_token() <= report.timer_fires_per_token());
}

#[test]
fn immediate_and_coalesce_add_nothing() {
    for candidate in [spec("immediate"), spec("coalesce:8")] {
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
    let report = replay(&trace, &spec("coalesce:8"));
    assert_eq!((report.chunks(), report.delay_max()), (10, Duration::ZERO));
}

#[test]
fn a_token_cut_at_a_word_counts_when_its_last_byte_goes_out() {
    // "one", " two" 10 ms later, " three" 10 ms later, then the end. "one" goes out at once
    // (the first text); the space of " two" ends a word and goes out on arrival, while "two"
    // waits for the space of " three" (10 ms); "three" goes out at the end, at once.
    let trace = Trace::from_gaps(["one", " two", " three"], ms(10));
    let report = replay(&trace, &spec("rules:word"));
    // Delays: "one" 0 (the first text goes out at once), " two" 10 ms, " three" 0 ms.
    assert_eq!(report.delay_max(), ms(10));
    assert_eq!(report.delay_p50(), ms(0));
    assert_eq!(report.first_token_delay(), ms(0));
    // Empty tokens show nothing and count for no delay.
    let mut with_empty = Trace::from_gaps(["a", "", "b"], ms(10));
    with_empty.push(ms(100), "");
    let report = replay(&with_empty, &spec("fixed-batch:4"));
    assert_eq!(report.tokens(), 4);
    assert_eq!(report.delay_p99(), ms(90));
}

// ---------------------------------------------------------------------------------------------
// The policy grammar.

#[test]
fn every_grid_policy_parses_back_from_its_name() {
    let grid = Candidate::grid();
    assert_eq!(grid.len(), 47);
    let names: HashSet<String> = grid.iter().map(ToString::to_string).collect();
    assert_eq!(names.len(), grid.len(), "names are unique");
    for kind in [
        "immediate",
        "fixed-batch:",
        "coalesce:",
        "time-bounded:",
        ":anticipate",
        "adaptive:",
        "rules:",
    ] {
        assert!(
            names.iter().any(|n| n.contains(kind)),
            "the grid has {kind}"
        );
    }
    for candidate in &grid {
        assert_eq!(&spec(&candidate.to_string()), candidate);
    }
}

#[test]
fn the_grammar_reads_what_people_write() {
    for (text, name, rust) in [
        ("immediate", "immediate", "Immediate::new()"),
        ("Fixed_Batch:16", "fixed-batch:16", "FixedBatch::new(16)"),
        ("coalesce:8", "coalesce:8", "Coalesce::new(8)"),
        (
            "time-bounded:8:80ms",
            "time-bounded:8:80ms",
            "TimeBounded::new(8, Duration::from_millis(80))",
        ),
        (
            "time-bounded: 4 : 0.05s : anticipate",
            "time-bounded:4:50ms:anticipate",
            "TimeBounded::new(4, Duration::from_millis(50)).with_anticipation(true)",
        ),
        (
            "adaptive:100ms",
            "adaptive:100ms",
            "Adaptive::new(Duration::from_millis(100))",
        ),
        (
            "adaptive:1s:32",
            "adaptive:1s:32",
            "Adaptive::new(Duration::from_secs(1)).with_max_tokens(32)",
        ),
        (
            "rules:tokens=4,sentence,100ms",
            "rules:tokens=4,sentence,100ms",
            "Rules::new().max_tokens(4).at(Boundary::Sentence).max_latency(Duration::from_millis(100))",
        ),
        (
            "rules:latency=250us,line,bytes=512",
            "rules:bytes=512,line,250us",
            "Rules::new().max_bytes(512).at(Boundary::Line).max_latency(Duration::from_micros(250))",
        ),
    ] {
        let candidate = spec(text);
        assert_eq!(candidate.to_string(), name, "{text}");
        assert_eq!(candidate.rust(), rust, "{text}");
        assert_eq!(spec(name), candidate);
    }
}

#[test]
fn bad_specs_say_what_is_wrong_and_show_one_that_works() {
    for (text, says) in [
        ("timebound:4:50ms", "unknown policy `timebound`"),
        ("time-bounded:4", "needs a token count and a latency"),
        ("time-bounded:0:50ms", "`0` is not a count of at least 1"),
        ("time-bounded:4:50", "`50` is not a duration with its unit"),
        ("time-bounded:4:50ms:eager", "only `anticipate`"),
        ("fixed-batch", "needs a token count"),
        ("coalesce:-1", "is not a count"),
        ("adaptive", "needs a latency"),
        ("rules:", "needs at least one rule"),
        ("rules:word,word", "repeats a rule"),
        ("rules:tokens=4,paragraph", "`paragraph` is not a rule"),
        ("immediate:1", "takes no settings"),
    ] {
        let error = Candidate::parse(text).unwrap_err();
        let message = error.to_string();
        assert!(message.contains(says), "{text}: {message}");
        if let SpecError::Settings { example, .. } = error {
            assert!(Candidate::parse(example).is_ok(), "{example} parses");
        }
    }
    assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
    assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
    assert!(parse_duration("-1ms").is_err());
    assert!(parse_duration("infs").is_err());
    assert!(parse_duration("NaNms").is_err());
}

// ---------------------------------------------------------------------------------------------
// The recommendation.

/// A report with p50, p99, max and first-token delays in ms, and a chunk count.
fn report(name: &str, chunks: u64, [p50, p99, max, first]: [u64; 4]) -> PolicyReport {
    PolicyReport::synthetic(name, chunks, [ms(p50), ms(p99), ms(max), ms(first)])
}

fn pick(reports: Vec<PolicyReport>, limits: &Limits) -> Option<String> {
    let evaluation = Evaluation::from_reports(reports);
    recommend(evaluation.reports(), limits).map(|r| r.winner.name().to_owned())
}

#[test]
fn nothing_that_reaches_a_target_less_the_margin_is_picked() {
    let limits = Limits::from_p99(ms(100));
    assert_eq!(limits.margin, DEFAULT_MARGIN);
    assert_eq!(limits.max_delay, ms(200));
    assert_eq!(limits.max_first_token, ms(100));
    // Each of the first three reaches one bound (95 ms for p99 and first token, 195 ms for
    // max); the fourth stays under all of them.
    let reports = vec![
        report("on-the-p99-target", 10, [50, 100, 100, 0]),
        report("in-the-p99-margin", 11, [50, 95, 95, 0]),
        report("in-the-max-margin", 12, [50, 60, 195, 0]),
        report("first-token-waits", 13, [50, 60, 60, 95]),
        report("under-every-bound", 14, [50, 94, 194, 94]),
        report("writes-a-lot", 100, [0, 0, 0, 0]),
    ];
    assert_eq!(
        pick(reports.clone(), &limits).as_deref(),
        Some("under-every-bound")
    );
    // Zero added delay always qualifies, even with a target of zero.
    let zero = Limits {
        margin: Duration::ZERO,
        ..Limits::from_p99(Duration::ZERO)
    };
    assert_eq!(pick(reports, &zero).as_deref(), Some("writes-a-lot"));
}

#[test]
fn within_five_percent_of_the_fewest_writes_the_lowest_p50_wins_then_the_first_token() {
    let limits = Limits::from_p99(ms(100));
    let reports = vec![
        report("fewest-writes", 100, [60, 80, 90, 0]),
        report("lower-p50", 105, [30, 80, 90, 20]),
        report("lowest-p50-but-6%", 106, [10, 80, 90, 0]),
        // Ties with `lower-p50` within 1 ms and sends its first token at once.
        report("same-p50-first-at-once", 104, [30, 80, 90, 0]),
    ];
    let evaluation = Evaluation::from_reports(reports);
    let rec = recommend(evaluation.reports(), &limits).unwrap();
    assert_eq!(rec.winner.name(), "same-p50-first-at-once");
    assert!(rec.why.contains("lowest first-token delay"), "{}", rec.why);
    assert_eq!(rec.runner_up.unwrap().name(), "lower-p50");
    let costs = rec.runner_up_costs.unwrap();
    assert!(costs.contains("+1.0 % writes"), "{costs}");
    assert!(costs.contains("first token +20 ms"), "{costs}");

    let rec = recommend(&evaluation.reports()[..3], &limits).unwrap();
    assert_eq!(rec.winner.name(), "lower-p50");
    assert!(
        rec.why.starts_with("why: the lowest p50 (30 ms)"),
        "{}",
        rec.why
    );
    // p50 within 1 ms is a tie.
    let tied = Evaluation::from_reports(vec![
        report("a", 100, [30, 80, 90, 10]),
        report("b", 101, [29, 80, 90, 0]),
    ]);
    assert_eq!(
        recommend(tied.reports(), &limits).unwrap().winner.name(),
        "b"
    );
    assert!(TIE >= ms(1));
}

#[test]
fn no_recommendation_when_nothing_qualifies() {
    let slow = Model::named("slow").unwrap().trace(50, 3);
    let evaluation = Evaluation::run(&slow, &[spec("fixed-batch:25")]);
    assert!(evaluation.recommend(&Limits::from_p99(ms(100))).is_none());
    assert!(evaluation
        .recommend(&Limits::from_p99(Duration::from_secs(60)))
        .is_some());
}

/// The first of the issue's cases: a constant model and a 60 ms target. `fixed-batch:4` and
/// `time-bounded:4:100ms` write the same (4.00 and 3.99 tokens a chunk), but the fixed batch
/// holds the first token 60 ms.
#[test]
fn constant_model_at_60ms_never_picks_a_first_token_that_waits() {
    let trace = Model::named("constant").unwrap().trace(2000, 1);
    let evaluation = Evaluation::run(&trace, &Candidate::grid());
    assert_eq!(
        by_name(&evaluation, "fixed-batch:4").first_token_delay(),
        ms(60)
    );
    let rec = evaluation.recommend(&Limits::from_p99(ms(60))).unwrap();
    let winner = rec.winner;
    assert_eq!(
        winner.first_token_delay(),
        Duration::ZERO,
        "{}",
        winner.name()
    );
    assert!(winner.delay_p99() < ms(55) && winner.delay_max() < ms(55));
    // Nothing with the same writes (within 5 %) has a lower p50.
    for other in evaluation.reports() {
        if other.chunks() * 100 <= winner.chunks() * 105
            && Limits::from_p99(ms(60)).misses(other).is_empty()
        {
            assert!(
                other.delay_p50() + TIE >= winner.delay_p50(),
                "{}",
                other.name()
            );
        }
    }
    assert_eq!(winner.name(), "time-bounded:4:50ms:anticipate");
}

/// The second: the fast model at 100 ms must not land on the limit.
#[test]
fn fast_model_at_100ms_stays_clear_of_the_limit() {
    let trace = Model::named("fast").unwrap().trace(2000, 1);
    let evaluation = Evaluation::run(&trace, &Candidate::grid());
    let limits = Limits::from_p99(ms(100));
    let winner = evaluation.recommend(&limits).unwrap().winner;
    assert!(winner.delay_p99() < ms(95), "{}", winner.name());
    assert!(winner.delay_max() < ms(195), "{}", winner.name());
    assert_eq!(
        winner.first_token_delay(),
        Duration::ZERO,
        "{}",
        winner.name()
    );
    // What the old rule picked, exactly on the limit, is out.
    assert_eq!(
        by_name(&evaluation, "time-bounded:16:100ms").delay_p99(),
        ms(100)
    );
    assert!(!limits
        .misses(by_name(&evaluation, "time-bounded:16:100ms"))
        .is_empty());
}

/// The third: on the bursty model no pick's median waits the target while `coalesce` adds
/// nothing; with a target `coalesce`'s writes can meet, it wins.
#[test]
fn bursty_model_never_picks_a_median_at_the_target() {
    let trace = Model::named("bursty").unwrap().trace(2000, 1);
    let evaluation = Evaluation::run(&trace, &Candidate::grid());
    let coalesce = by_name(&evaluation, "coalesce:64");
    assert_eq!(coalesce.delay_max(), Duration::ZERO);
    for target in [ms(100), ms(200)] {
        let winner = evaluation
            .recommend(&Limits::from_p99(target))
            .unwrap()
            .winner;
        assert!(
            winner.delay_p50() + DEFAULT_MARGIN <= target,
            "{target:?}: {} p50 {:?}",
            winner.name(),
            winner.delay_p50()
        );
        // Coalesce is passed over only for clearly fewer writes.
        assert!(
            winner.delay_p50().is_zero() || winner.chunks() * 105 < coalesce.chunks() * 100,
            "{target:?}: {}",
            winner.name()
        );
    }
    let winner = evaluation
        .recommend(&Limits::from_p99(ms(50)))
        .unwrap()
        .winner;
    assert!(winner.delay_max().is_zero(), "{}", winner.name());
}

#[test]
fn anticipation_never_worsens_time_boundeds_p99_on_the_built_in_models() {
    for name in Model::NAMES {
        let trace = Model::named(name).unwrap().trace(2000, 1);
        let grid = Candidate::grid();
        let evaluation = Evaluation::run(&trace, &grid);
        for candidate in grid
            .iter()
            .filter(|c| c.to_string().ends_with(":anticipate"))
        {
            let name_anticipating = candidate.to_string();
            let plain = name_anticipating.trim_end_matches(":anticipate");
            let (a, p) = (
                by_name(&evaluation, &name_anticipating),
                by_name(&evaluation, plain),
            );
            assert!(
                a.delay_p99() <= p.delay_p99() + TIE,
                "{name}: {name_anticipating} p99 {:?} > {plain} p99 {:?}",
                a.delay_p99(),
                p.delay_p99()
            );
        }
    }
}

#[test]
fn the_slow_model_shows_fixed_batches_holding_text_for_seconds() {
    let trace = Model::named("slow").unwrap().trace(200, 1);
    let evaluation = Evaluation::run(&trace, &Candidate::grid());
    assert!(by_name(&evaluation, "fixed-batch:25").delay_max() > Duration::from_secs(7));
    for report in evaluation
        .reports()
        .iter()
        .filter(|r| r.name().starts_with("time-bounded"))
    {
        assert!(report.delay_max() <= ms(200), "{}", report.name());
    }
    // On a model this slow nothing beats a write per token.
    let rec = evaluation.recommend(&Limits::from_p99(ms(100))).unwrap();
    assert!(close(rec.winner.tokens_per_chunk(), 1.0));
    assert!(rec.winner.delay_max().is_zero());
}

#[test]
fn marks_the_front_of_p99_against_chunks() {
    let candidates = [
        spec("immediate"),
        spec("fixed-batch:2"),
        spec("fixed-batch:4"),
        // The same delays as fixed-batch:4, plus one write for the first token: dominated.
        spec("time-bounded:4:1s"),
    ];
    let evaluation = Evaluation::run(&every_10ms(), &candidates);
    let front: Vec<&str> = evaluation
        .reports()
        .iter()
        .filter(|r| r.on_front())
        .map(PolicyReport::name)
        .collect();
    assert_eq!(front, ["immediate", "fixed-batch:2", "fixed-batch:4"]);
    let table = evaluation.table(&Limits::from_p99(ms(25)));
    assert!(table.contains("* fixed-batch:4"), "{table}");
    assert!(table.contains("  time-bounded:4:1s"), "{table}");
    // fixed-batch:4 holds tokens 30 ms: over a 25 ms target's 20 ms bound for p99 and the first
    // token, under the 45 ms bound of the max (twice the target, less the margin).
    let row = table.lines().find(|l| l.contains("fixed-batch:4")).unwrap();
    assert!(row.ends_with("p99,first"), "{row}");
    let row = table.lines().find(|l| l.contains("immediate")).unwrap();
    assert!(row.ends_with(" -"), "{row}");
}

// ---------------------------------------------------------------------------------------------
// Reading traces.

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

// ---------------------------------------------------------------------------------------------
// Output: plot names and the plot's geometry.

#[test]
fn plot_names_are_file_stems_made_safe_and_unique() {
    let mut taken = HashSet::new();
    let mut name = |source: Source| plot_file_name(&source, &mut taken);
    assert_eq!(name(Source::File("/x/live.jsonl".into())), "tune-live.svg");
    assert_eq!(name(Source::File("/y/live.sse".into())), "tune-live-2.svg");
    assert_eq!(name(Source::Model("fast".into())), "tune-model-fast.svg");
    assert_eq!(
        name(Source::File("../My Trace (2).jsonl".into())),
        "tune-My-Trace-2.svg"
    );
    assert_eq!(
        name(Source::File("/tmp/日本.jsonl".into())),
        "tune-trace.svg"
    );
    assert_eq!(name(Source::File(PathBuf::from("/"))), "tune-trace-2.svg");
}

/// A `<text>` element of an SVG this tool writes.
#[derive(Debug)]
struct Text {
    class: String,
    content: String,
    bounds: TextBox,
}

fn attribute<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + tag[start..].find('"')?;
    Some(&tag[start..end])
}

fn number(tag: &str, name: &str) -> f64 {
    attribute(tag, name)
        .unwrap_or_else(|| panic!("{name} in {tag}"))
        .parse()
        .unwrap()
}

/// Every text of `svg`, with the box the plot's own estimate gives it.
fn texts(svg: &str) -> Vec<Text> {
    let mut found = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find("<text ") {
        rest = &rest[start..];
        let open_end = rest.find('>').unwrap();
        let tag = &rest[..open_end];
        let close = rest.find("</text>").unwrap();
        let content = rest[open_end + 1..close]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&amp;", "&");
        let bounds = text_box(
            number(tag, "x"),
            number(tag, "y"),
            attribute(tag, "text-anchor").unwrap_or("start"),
            number(tag, "font-size"),
            &content,
        );
        found.push(Text {
            class: attribute(tag, "class").unwrap_or_default().to_owned(),
            content,
            bounds,
        });
        rest = &rest[close..];
    }
    found
}

/// Checks what a person needs to read the plot at a glance, from its geometry.
pub(crate) fn check_plot(svg: &str) {
    let texts = texts(svg);
    for (i, a) in texts.iter().enumerate() {
        for b in &texts[i + 1..] {
            let (p, q) = (a.bounds, b.bounds);
            assert!(
                p.2 <= q.0 || q.2 <= p.0 || p.3 <= q.1 || q.3 <= p.1,
                "text boxes overlap: {a:?} and {b:?}"
            );
        }
    }
    let frame_at = svg.find("class=\"frame\"").expect("a plot frame");
    let frame_tag = &svg[svg[..frame_at].rfind('<').unwrap()..];
    let frame = (
        number(frame_tag, "x"),
        number(frame_tag, "y"),
        number(frame_tag, "x") + number(frame_tag, "width"),
        number(frame_tag, "y") + number(frame_tag, "height"),
    );
    for text in texts
        .iter()
        .filter(|t| t.class == "label" || t.class == "target-label")
    {
        let b = text.bounds;
        assert!(
            b.0 > frame.0 && b.1 > frame.1 && b.2 < frame.2 && b.3 < frame.3,
            "a label leaves the plot area: {text:?}"
        );
    }
    // Marks stay clear of the axes, and the front is drawn over the dominated policies.
    let last_dominated = svg.rfind("class=\"mark dominated\"");
    let first_front = svg.find("class=\"mark front\"").expect("front marks");
    if let Some(last_dominated) = last_dominated {
        assert!(last_dominated < first_front, "front marks come last");
    }
    for piece in svg.split("<circle class=\"mark").skip(1) {
        let tag = format!(" {}", &piece[..piece.find('>').unwrap()]);
        let (cx, cy, r) = (number(&tag, "cx"), number(&tag, "cy"), number(&tag, "r"));
        assert!(
            cx - r > frame.0 && cx + r < frame.2 && cy - r > frame.1 && cy + r < frame.3,
            "a mark touches the frame: {tag}"
        );
    }
    // No line joins the marks: nothing lies between two policies.
    assert!(!svg.contains("<polyline") && !svg.contains("<path"));
    // Every policy is numbered in the list.
    let listed = texts.iter().filter(|t| t.class == "list").count();
    let marks = svg.matches("<title>").count();
    assert!(listed >= marks, "{listed} rows for {marks} marks");
}

#[test]
fn plots_of_the_built_in_models_read_at_a_glance() {
    for name in Model::NAMES {
        let trace = Model::named(name).unwrap().trace(2000, 1);
        let evaluation = Evaluation::run(&trace, &Candidate::grid());
        let limits = Limits::from_p99(ms(100));
        let winner = evaluation
            .recommend(&limits)
            .map(|r| r.winner.name().to_owned());
        let svg = plot::svg(
            &format!("model {name}"),
            evaluation.reports(),
            limits.max_p99,
            winner.as_deref(),
        );
        check_plot(&svg);
        // Every policy is listed by name, the front ones in the front's section.
        for report in evaluation.reports() {
            assert!(
                svg.contains(&format!("  {}  p99", report.name())),
                "{}",
                report.name()
            );
        }
        assert!(
            svg.contains("class=\"ring\""),
            "the recommendation is ringed"
        );
        assert!(
            svg.contains("class=\"target-label\""),
            "the target is labelled"
        );
        // Front marks are named in the plot where there is room: at least one is.
        let texts = texts(&svg);
        assert!(
            texts
                .iter()
                .any(|t| t.class == "label"
                    && (t.content.contains(':') || t.content == "1 immediate")),
            "{name}: a front label names its policy"
        );
    }
}

#[test]
fn the_geometry_check_catches_overlaps_and_labels_outside() {
    let good = "<svg><rect class=\"frame\" x=\"10\" y=\"10\" width=\"200\" height=\"200\"/>\
        <circle class=\"mark front\" cx=\"50\" cy=\"50\" r=\"5\"><title>a</title></circle>\
        <text class=\"label\" x=\"60\" y=\"54\" text-anchor=\"start\" font-size=\"12\">1 a</text>\
        <text class=\"list\" x=\"300\" y=\"54\" text-anchor=\"start\" font-size=\"12\">1 a</text></svg>";
    check_plot(good);
    let overlapping = good.replace("x=\"300\" y=\"54\"", "x=\"62\" y=\"56\"");
    assert!(std::panic::catch_unwind(|| check_plot(&overlapping)).is_err());
    let outside = good.replace("x=\"60\" y=\"54\"", "x=\"205\" y=\"54\"");
    assert!(std::panic::catch_unwind(|| check_plot(&outside)).is_err());
    let front_first = good.replace(
        "<text class=\"label\"",
        "<circle class=\"mark dominated\" cx=\"90\" cy=\"90\" r=\"4\"><title>b</title></circle><text class=\"list\" x=\"300\" y=\"90\" font-size=\"12\">2 b</text><text class=\"label\"",
    );
    assert!(std::panic::catch_unwind(|| check_plot(&front_first)).is_err());
}
