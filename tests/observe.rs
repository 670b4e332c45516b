//! Observers hear every flush and the end of every stream, with exact figures on a paused clock.

mod support;

use std::pin::pin;
use std::time::Duration;

use futures::StreamExt;
use support::{ms, tok, Scripted, Step};
use tokenflush::observe::{FlushObserver, FlushRecord, StreamRecord};
use tokenflush::policy::{FixedBatch, TimeBounded};
use tokenflush::{FlushExt, FlushReason, TryFlushExt};

/// Keeps everything it hears.
#[derive(Debug, Default)]
struct Log {
    first_token: Vec<Duration>,
    /// (text, reason, held_for, since_start, since_previous) per flush.
    flushes: Vec<(String, FlushReason, Duration, Duration, Option<Duration>)>,
    ends: Vec<StreamRecord>,
}

impl FlushObserver for Log {
    fn on_first_token(&mut self, since_start: Duration) {
        self.first_token.push(since_start);
    }

    fn on_flush(&mut self, flush: &FlushRecord<'_>) {
        let chunk = flush.chunk();
        self.flushes.push((
            chunk.as_str().to_owned(),
            chunk.reason(),
            chunk.held_for(),
            flush.since_start(),
            flush.since_previous(),
        ));
    }

    fn on_end(&mut self, stream: &StreamRecord) {
        self.ends.push(stream.clone());
    }
}

const fn millis(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

#[tokio::test(start_paused = true)]
async fn hears_each_flush_and_the_end_with_exact_times() {
    let mut log = Log::default();
    let upstream = Scripted::new([
        ms(40),
        tok("The"),
        ms(20),
        tok(" quick"),
        ms(30),
        Step::Token(b" \xF0\x9F".to_vec()),
        ms(10),
        Step::Token(b"\x98\x80\xFF".to_vec()),
        ms(500),
    ])
    .bytes();
    let policy = TimeBounded::new(8, millis(100));
    let chunks: Vec<_> = upstream
        .flush_with(policy)
        .with_observer(&mut log)
        .collect()
        .await;
    assert_eq!(chunks.len(), 2);

    assert_eq!(log.first_token, [millis(40)]);
    assert_eq!(
        log.flushes,
        [
            (
                "The".into(),
                FlushReason::First,
                millis(0),
                millis(40),
                None
            ),
            (
                " quick 😀\u{FFFD}".into(),
                FlushReason::Deadline,
                millis(100),
                millis(160),
                Some(millis(120))
            ),
        ]
    );
    let [end] = &log.ends[..] else {
        panic!("one end: {:?}", log.ends)
    };
    assert!(end.completed());
    assert_eq!(end.tokens(), 4);
    assert_eq!(end.chunks(), 2);
    assert_eq!(end.bytes(), ("The quick 😀\u{FFFD}").len() as u64);
    assert_eq!(end.replacements(), 1);
    assert_eq!(end.first_token(), Some(millis(40)));
    assert_eq!(end.first_chunk(), Some(millis(40)));
    assert_eq!(end.duration(), millis(600));
    assert_eq!(end.errors(), 0);
    assert_eq!(end.dropped_bytes(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_adapter_reports_what_it_never_sent() {
    let mut log = Log::default();
    {
        let upstream = Scripted::new([tok("one "), tok("two "), ms(1_000), tok("three")]).bytes();
        let mut chunks = pin!(upstream
            .flush_with(FixedBatch::new(8))
            .with_observer(&mut log));
        let _ = tokio::time::timeout(millis(300), chunks.next()).await;
        // The reader goes away.
    }
    let [end] = &log.ends[..] else {
        panic!("one end: {:?}", log.ends)
    };
    assert!(!end.completed());
    assert_eq!((end.tokens(), end.chunks()), (2, 0));
    assert_eq!(end.dropped_bytes(), "one two ".len() as u64);
    assert_eq!(end.first_chunk(), None);
    assert_eq!(end.duration(), millis(300));
    assert!(log.flushes.is_empty());
}

#[tokio::test(start_paused = true)]
async fn counts_upstream_errors() {
    let mut log = Log::default();
    let upstream = Scripted::new([
        tok("a"),
        Step::Error("boom"),
        tok("b"),
        Step::Error("again"),
    ]);
    let items: Vec<_> = upstream
        .try_flush_with(FixedBatch::new(4))
        .with_observer(&mut log)
        .collect()
        .await;
    assert_eq!(items.len(), 4);
    assert_eq!(log.ends[0].errors(), 2);
    assert_eq!(log.flushes[0].1, FlushReason::Error);
}

#[tokio::test(start_paused = true)]
async fn the_end_is_reported_once() {
    let mut log = Log::default();
    let mut chunks = futures::stream::iter(["a"])
        .flush_with(FixedBatch::new(1))
        .with_observer(&mut log);
    while chunks.next().await.is_some() {}
    assert!(chunks.next().await.is_none());
    drop(chunks);
    assert_eq!(log.ends.len(), 1);
    assert!(log.ends[0].completed());
}

#[tokio::test(start_paused = true)]
async fn a_replaced_observer_hears_nothing_more() {
    let (mut first, mut second) = (Log::default(), Log::default());
    let chunks = futures::stream::iter(["a", "b"])
        .flush_with(FixedBatch::new(1))
        .with_observer(&mut first)
        .with_observer(&mut second);
    assert_eq!(chunks.count().await, 2);
    assert!(first.ends.is_empty() && first.flushes.is_empty());
    assert_eq!(second.flushes.len(), 2);
    assert_eq!(second.ends.len(), 1);
}

#[cfg(feature = "tracing")]
mod tracing_events {
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    use super::*;
    use tokenflush::observe::TracingObserver;

    /// An event's target and its fields as text.
    type Captured = (String, Vec<(String, String)>);

    /// Keeps each event.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Captured>>>);

    struct Fields(Vec<(String, String)>);

    impl Visit for Fields {
        fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
            self.0.push((field.name().to_owned(), format!("{value:?}")));
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, event: &Event<'_>) {
            let mut fields = Fields(Vec::new());
            event.record(&mut fields);
            let target = event.metadata().target().to_owned();
            self.0.lock().unwrap().push((target, fields.0));
        }
        fn enter(&self, _: &Id) {}
        fn exit(&self, _: &Id) {}
    }

    #[tokio::test(start_paused = true)]
    async fn records_flushes_and_streams_as_events() {
        let capture = Capture::default();
        let _guard = tracing::subscriber::set_default(capture.clone());
        let upstream = Scripted::new([tok("a"), tok("b"), ms(50), tok("c")]).bytes();
        let chunks = upstream
            .flush_with(FixedBatch::new(2))
            .with_observer(TracingObserver::new());
        assert_eq!(chunks.count().await, 2);

        let events = capture.0.lock().unwrap().clone();
        let field = |event: &Captured, name: &str| {
            event
                .1
                .iter()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.clone())
        };
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].0, "tokenflush::flush");
        assert_eq!(field(&events[0], "reason").as_deref(), Some("\"size\""));
        assert_eq!(field(&events[0], "tokens").as_deref(), Some("2"));
        assert_eq!(field(&events[1], "reason").as_deref(), Some("\"end\""));
        assert_eq!(
            field(&events[1], "since_previous_ms").as_deref(),
            Some("50.0")
        );
        assert_eq!(events[2].0, "tokenflush::stream");
        assert_eq!(
            field(&events[2], "outcome").as_deref(),
            Some("\"completed\"")
        );
        assert_eq!(field(&events[2], "chunks").as_deref(), Some("2"));
        assert_eq!(field(&events[2], "duration_ms").as_deref(), Some("50.0"));
    }
}

#[cfg(feature = "metrics")]
mod metrics_records {
    use metrics::Label;
    use metrics_util::debugging::{DebugValue, DebuggingRecorder};
    use metrics_util::MetricKind;

    use super::*;
    use tokenflush::observe::MetricsObserver;

    #[test]
    fn records_histograms_and_counters_under_documented_names() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        metrics::with_local_recorder(&recorder, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .start_paused(true)
                .build()
                .unwrap();
            runtime.block_on(async {
                let upstream = Scripted::new([ms(5), tok("a"), tok("b"), ms(50), tok("c")]).bytes();
                let observer = MetricsObserver::with_labels(vec![Label::new("model", "m")]);
                let chunks = upstream
                    .flush_with(TimeBounded::new(2, millis(10)))
                    .with_observer(observer);
                assert_eq!(chunks.count().await, 3);
            });
        });

        let snapshot = snapshotter.snapshot().into_vec();
        let find = |name: &str, label: Option<(&str, &str)>| {
            snapshot
                .iter()
                .find(|(key, _, _, _)| {
                    key.key().name() == name
                        && key
                            .key()
                            .labels()
                            .any(|l| l.key() == "model" && l.value() == "m")
                        && label.is_none_or(|(k, v)| {
                            key.key().labels().any(|l| l.key() == k && l.value() == v)
                        })
                })
                .map(|(key, _, _, value)| (key.kind(), value))
                .unwrap_or_else(|| panic!("no {name} {label:?}"))
        };
        let histogram = |name| match find(name, None) {
            (MetricKind::Histogram, DebugValue::Histogram(values)) => {
                values.iter().map(|v| v.into_inner()).collect::<Vec<f64>>()
            }
            other => panic!("{name}: {other:?}"),
        };
        let counter = |name, label| match find(name, label) {
            (MetricKind::Counter, DebugValue::Counter(value)) => *value,
            other => panic!("{name}: {other:?}"),
        };
        // "a" goes out first at 5 ms; "b" waits for its 10 ms deadline; "c" ends the stream.
        assert_eq!(
            histogram("tokenflush_chunk_held_seconds"),
            [0.0, 0.010, 0.0]
        );
        assert_eq!(histogram("tokenflush_chunk_tokens"), [1.0, 1.0, 1.0]);
        assert_eq!(histogram("tokenflush_chunk_bytes"), [1.0, 1.0, 1.0]);
        assert_eq!(
            histogram("tokenflush_flush_interval_seconds"),
            [0.010, 0.040]
        );
        assert_eq!(histogram("tokenflush_time_to_first_token_seconds"), [0.005]);
        assert_eq!(histogram("tokenflush_time_to_first_chunk_seconds"), [0.005]);
        assert_eq!(
            counter("tokenflush_flushes_total", Some(("reason", "first"))),
            1
        );
        assert_eq!(
            counter("tokenflush_flushes_total", Some(("reason", "deadline"))),
            1
        );
        assert_eq!(
            counter("tokenflush_flushes_total", Some(("reason", "end"))),
            1
        );
        assert_eq!(
            counter("tokenflush_streams_total", Some(("outcome", "completed"))),
            1
        );
        assert_eq!(counter("tokenflush_tokens_total", None), 3);
        assert_eq!(counter("tokenflush_replacements_total", None), 0);
        // "b" waited for the timer.
        assert_eq!(counter("tokenflush_timer_fires_total", None), 1);
    }
}

/// Keeps the stream's record.
#[derive(Debug, Default)]
struct Ended(Option<StreamRecord>);

impl FlushObserver for Ended {
    fn on_end(&mut self, stream: &StreamRecord) {
        self.0 = Some(stream.clone());
    }
}

/// Tokens `gap` apart, through `policy`, on the paused clock: the stream's record.
async fn record_of(gap: u64, tokens: usize, policy: TimeBounded) -> StreamRecord {
    let tokens = futures::stream::iter(0..tokens).then(move |_| async move {
        tokio::time::sleep(Duration::from_millis(gap)).await;
        "x"
    });
    let mut ended = Ended::default();
    let chunks: Vec<_> = Box::pin(tokens.flush_with(policy).with_observer(&mut ended))
        .collect()
        .await;
    assert!(!chunks.is_empty());
    ended.0.expect("the stream ended")
}

#[tokio::test(start_paused = true)]
async fn timer_fires_count_the_wake_ups_only_a_deadline_caused() {
    // Tokens 30 ms apart, a 10 ms bound: every chunk but the last waits for its deadline.
    let policy = TimeBounded::new(16, Duration::from_millis(10)).with_immediate_first(false);
    let record = record_of(30, 4, policy).await;
    assert_eq!(record.chunks(), 4);
    assert_eq!(
        record.timer_fires(),
        3,
        "one wake-up per deadline; the last ends the stream"
    );
    // Without a time bound, the timer never runs.
    let record = record_of(30, 4, TimeBounded::new(2, Duration::MAX)).await;
    assert_eq!(record.timer_fires(), 0);
}

#[tokio::test(start_paused = true)]
async fn anticipation_leaves_the_timer_idle_and_disarms_it() {
    // Tokens 20 ms apart, a 50 ms bound: plain TimeBounded waits for the timer for every chunk;
    // anticipating, it sends each chunk when the next token would miss the deadline, and a
    // timer left armed for text already sent would wake the task for nothing (counted here).
    let plain = record_of(20, 60, TimeBounded::new(16, Duration::from_millis(50))).await;
    let anticipating = record_of(
        20,
        60,
        TimeBounded::new(16, Duration::from_millis(50)).with_anticipation(true),
    )
    .await;
    assert!(plain.timer_fires() >= 15, "{plain:?}");
    assert!(anticipating.timer_fires() <= 1, "{anticipating:?}");
    assert!(
        anticipating.chunks() <= plain.chunks() + 2,
        "{anticipating:?} {plain:?}"
    );
}
