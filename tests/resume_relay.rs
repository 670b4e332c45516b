//! Resumable generations ([`Relay`]) on the in-memory store, on a paused clock: event ids and
//! replay in every format, readers joining and coming back on this instance and on another
//! sharing the store, the grace period, heartbeats, store outages and a producer that dies,
//! and the one answer for ids that are not the caller's.

#![cfg(feature = "resume")]

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use tokenflush::llm::{FinishReason, Item, ToolCall, Usage};
use tokenflush::policy::Immediate;
use tokenflush::resume::{
    Entries, EventId, MemoryStore, Outcome, Relay, ResumeError, ResumeFuture, ResumeSse,
    ResumeStore, StreamId, StreamOptions,
};
use tokenflush::sse::{AnthropicMessages, Format, OpenAiChat, ParsedEvent, Parser, TextEvents};
use tokenflush::{FlushExt, TryFlushExt};
use tokio::time::{sleep, Instant};

const OWNER: &[u8] = b"hmac of alice's credential";
const GAP: Duration = Duration::from_millis(100);

/// `items`, one every [`GAP`] from now (on a schedule of its own: a late reader does not
/// slow the model down).
fn model<T: Send + 'static>(items: Vec<T>) -> impl Stream<Item = T> + Send + 'static {
    let start = Instant::now();
    futures::stream::iter(items.into_iter().zip(1..)).then(move |(item, n)| async move {
        tokio::time::sleep_until(start + GAP * n).await;
        item
    })
}

fn words() -> Vec<&'static str> {
    vec!["Hel", "lo", ", ", "wörld", " 🚀", "\nbye"]
}

fn typed() -> Vec<Item<&'static str>> {
    vec![
        Item::Reasoning("Think"),
        Item::Reasoning("ing"),
        Item::Content("Hel"),
        Item::Content("lo"),
        Item::ToolCall(ToolCall::new(0).with_id("call_1").with_name("get")),
        Item::ToolCall(ToolCall::new(0).with_arguments("{}")),
        Item::Content(", wörld"),
        Item::Finish(FinishReason::Stop),
        Item::Usage(Usage::new(3, 7)),
    ]
}

/// The formats a stream is rendered in, built from the stream's meta as a server would.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Text,
    OpenAi,
    Anthropic,
}

const KINDS: [Kind; 3] = [Kind::Text, Kind::OpenAi, Kind::Anthropic];

impl Kind {
    fn meta(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::OpenAi => "openai",
            Kind::Anthropic => "anthropic",
        }
    }

    fn format(meta: Option<&[u8]>) -> Box<dyn Format + Send> {
        match meta {
            Some(b"openai") => Box::new(OpenAiChat::new("chatcmpl-1", "m").with_created(1)),
            Some(b"anthropic") => Box::new(AnthropicMessages::new("msg_1", "m")),
            _ => Box::new(TextEvents::new()),
        }
    }
}

/// The events of frames.
fn events<'a>(frames: impl IntoIterator<Item = &'a Bytes>) -> Vec<ParsedEvent> {
    let mut parser = Parser::new();
    frames.into_iter().for_each(|frame| parser.feed(frame));
    let events = std::iter::from_fn(|| parser.next_event().unwrap()).collect();
    parser.finish().unwrap();
    events
}

/// What a reader sees of an event: its type, data and id.
fn seen(event: &ParsedEvent) -> (String, String, String) {
    (
        event.event_type().to_owned(),
        event.data().to_owned(),
        event.last_event_id().to_owned(),
    )
}

async fn read_all<F: Format>(body: ResumeSse<F>) -> Vec<ParsedEvent> {
    let frames: Vec<Bytes> = body.collect().await;
    events(&frames)
}

/// The ids of events, parsed; panics unless they increase strictly.
fn increasing_ids(events: &[ParsedEvent]) -> Vec<EventId> {
    let ids: Vec<EventId> = events
        .iter()
        .map(|event| event.last_event_id().parse().unwrap())
        .collect();
    for pair in ids.windows(2) {
        assert!(
            (pair[0].seq(), pair[0].index()) < (pair[1].seq(), pair[1].index()),
            "{pair:?}"
        );
        assert_eq!(pair[0].stream(), pair[1].stream());
    }
    ids
}

fn text_of(events: &[ParsedEvent]) -> String {
    events
        .iter()
        .filter(|event| event.event_type() == "message")
        .map(ParsedEvent::data)
        .collect()
}

#[tokio::test(start_paused = true)]
async fn every_event_has_an_increasing_id_and_the_first_a_retry() {
    let relay = Relay::new(Arc::new(MemoryStore::new())).with_retry(Duration::from_millis(1500));
    let chunks = model(words()).flush_with(Immediate::new());
    let body = relay
        .start(Some(OWNER), "text", chunks, TextEvents::new())
        .await
        .unwrap();
    let stream = body.stream_id().unwrap();
    let frames: Vec<Bytes> = body.collect().await;
    let events = events(&frames);
    assert_eq!(text_of(&events), words().concat());
    let ids = increasing_ids(&events);
    assert_eq!(ids.len(), words().len(), "an event per chunk");
    assert!(ids.iter().all(|id| id.stream() == stream));
    let numbers: Vec<(u64, u32)> = ids.iter().map(|id| (id.seq(), id.index())).collect();
    assert_eq!(&numbers[..3], [(0, 0), (1, 0), (2, 0)]);
    // `TextEvents` writes nothing at the end: the last frame is the end's id alone, above
    // every item's and marked last, which a client takes as its last event id.
    assert_eq!(
        frames.last().unwrap(),
        &format!("id: {stream}-9007199254740992-4294967295\n\n")
    );
    assert_eq!(events[0].retry(), Some(Duration::from_millis(1500)));
    assert!(events[1..].iter().all(|event| event.retry().is_none()));
}

/// A reader that comes back after any event gets exactly the events after it, whether it
/// comes back while the generation runs or after it ended, on this instance or another.
#[tokio::test(start_paused = true)]
async fn a_reader_resuming_after_any_event_gets_exactly_the_rest_in_every_format() {
    for kind in KINDS {
        for typed_items in [false, true] {
            let store = Arc::new(MemoryStore::new());
            let here = Relay::new(store.clone());
            let elsewhere = Relay::new(store);
            let body = if typed_items {
                let items = model(typed()).flush_with(Immediate::new());
                here.start(
                    Some(OWNER),
                    kind.meta(),
                    items,
                    Kind::format(Some(kind.meta().as_bytes())),
                )
                .await
            } else {
                let chunks = model(words()).flush_with(Immediate::new());
                here.start(
                    Some(OWNER),
                    kind.meta(),
                    chunks,
                    Kind::format(Some(kind.meta().as_bytes())),
                )
                .await
            }
            .unwrap();

            // While it runs: after each event, a reader here and one elsewhere come back.
            let mut first = Vec::new();
            let mut parser = Parser::new();
            let mut resumed = Vec::new();
            let mut body = body;
            while let Some(frame) = body.next().await {
                parser.feed(&frame);
                while let Some(event) = parser.next_event().unwrap() {
                    let id = event.last_event_id().to_owned();
                    first.push(event);
                    for relay in [&here, &elsewhere] {
                        let reader = relay.resume(&id, Some(OWNER), Kind::format).await.unwrap();
                        resumed.push((first.len(), tokio::spawn(read_all(reader))));
                    }
                }
            }
            // The id a client ends with: the last event's, or the end's alone.
            let final_id = parser.last_event_id().to_owned();
            let whole: Vec<_> = first.iter().map(seen).collect();
            increasing_ids(&first);
            for (seen_count, reader) in resumed {
                let rest: Vec<_> = reader.await.unwrap().iter().map(seen).collect();
                assert_eq!(
                    rest,
                    whole[seen_count..],
                    "{kind}, typed {typed_items}, live, after {seen_count}"
                );
            }

            // After it ended: from the store, on either instance.
            let mut ids: Vec<String> = first
                .iter()
                .map(|event| event.last_event_id().to_owned())
                .collect();
            if ids.last() != Some(&final_id) {
                ids.push(final_id.clone());
            }
            for (index, id) in ids.iter().enumerate() {
                for relay in [&here, &elsewhere] {
                    let reader = relay.resume(id, Some(OWNER), Kind::format).await.unwrap();
                    assert_eq!(
                        reader.seen_everything(),
                        *id == final_id,
                        "{kind} after {index}"
                    );
                    let rest = read_all(reader).await;
                    if let Some(first_sent) = rest.first() {
                        assert_eq!(first_sent.retry(), Some(Duration::from_secs(1)));
                    }
                    let rest: Vec<_> = rest.iter().map(seen).collect();
                    let expected = whole.get(index + 1..).unwrap_or_default();
                    assert_eq!(
                        rest, expected,
                        "{kind}, typed {typed_items}, ended, after {index}"
                    );
                }
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_second_reader_joining_mid_stream_gets_the_whole_text() {
    let store = Arc::new(MemoryStore::new());
    let here = Relay::new(store.clone());
    let elsewhere = Relay::new(store);
    let chunks = model(words()).flush_with(Immediate::new());
    let mut first = here
        .start(Some(OWNER), "text", chunks, TextEvents::new())
        .await
        .unwrap();
    let mut frames = vec![first.next().await.unwrap(), first.next().await.unwrap()];
    let opened = events(&frames);
    // A second tab joins with the id of the stream's first event, before anything it has
    // seen: every event since the first.
    let join_from = opened[0].last_event_id().to_owned();
    let second = here
        .resume(&join_from, Some(OWNER), Kind::format)
        .await
        .unwrap();
    let third = elsewhere
        .resume(&join_from, Some(OWNER), Kind::format)
        .await
        .unwrap();
    frames.extend(first.collect::<Vec<_>>().await);
    let whole = events(&frames);
    for reader in [second, third] {
        let mut joined = events(&frames[..1]);
        joined.extend(read_all(reader).await);
        assert_eq!(text_of(&joined), text_of(&whole));
        assert_eq!(
            joined.iter().map(seen).collect::<Vec<_>>(),
            whole.iter().map(seen).collect::<Vec<_>>()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn ids_that_are_not_the_callers_all_get_the_one_answer() {
    let store = Arc::new(MemoryStore::new());
    let relay = Relay::new(store.clone()).with_stream_options(
        StreamOptions::new()
            .with_finished_ttl(Duration::from_secs(60))
            .with_live_ttl(Duration::from_secs(60)),
    );
    let elsewhere = Relay::new(store);
    let chunks = model(words()).flush_with(Immediate::new());
    let mut body = relay
        .start(Some(OWNER), "text", chunks, TextEvents::new())
        .await
        .unwrap();
    let id = events(&[body.next().await.unwrap()])[0]
        .last_event_id()
        .to_owned();
    let stream = id.parse::<EventId>().unwrap().stream();

    let mut altered = id.clone().into_bytes();
    altered[5] = if altered[5] == b'0' { b'1' } else { b'0' };
    let altered = String::from_utf8(altered).unwrap();
    let guessed = format!("{}-0-0", StreamId::random().unwrap());
    let answers = |relay: Relay, id: String, owner: Option<&'static [u8]>| async move {
        relay
            .resume(&id, owner, Kind::format)
            .await
            .map(|_| ())
            .unwrap_err()
    };
    let mut refusals = Vec::new();
    for relay in [&relay, &elsewhere] {
        refusals.push(answers(relay.clone(), id.clone(), Some(b"mallory")).await);
        refusals.push(answers(relay.clone(), id.clone(), None).await);
        refusals.push(answers(relay.clone(), altered.clone(), Some(OWNER)).await);
        refusals.push(answers(relay.clone(), guessed.clone(), Some(OWNER)).await);
        refusals.push(answers(relay.clone(), format!("{stream}-00-0"), Some(OWNER)).await);
        refusals.push(answers(relay.clone(), format!("{stream}"), Some(OWNER)).await);
        refusals.push(answers(relay.clone(), "x".repeat(1 << 20), Some(OWNER)).await);
    }
    // The stream ends, then expires.
    while body.next().await.is_some() {}
    sleep(Duration::from_secs(61)).await;
    refusals.push(answers(relay.clone(), id.clone(), Some(OWNER)).await);
    refusals.push(answers(elsewhere.clone(), id.clone(), Some(OWNER)).await);
    for refusal in &refusals {
        assert_eq!(*refusal, ResumeError::NotFound);
        assert_eq!(refusal.to_string(), "unknown stream");
    }
}

/// A model that counts when it is dropped.
struct Dropped<S> {
    inner: std::pin::Pin<Box<S>>,
    dropped: Arc<AtomicBool>,
}

impl<S: Stream> Stream for Dropped<S> {
    type Item = S::Item;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<S::Item>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl<S> Drop for Dropped<S> {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

fn endless() -> (impl Stream<Item = String> + Send + 'static, Arc<AtomicBool>) {
    let dropped = Arc::new(AtomicBool::new(false));
    let tokens = futures::stream::iter(0..).then(|n| async move {
        sleep(GAP).await;
        format!("t{n} ")
    });
    let model = Dropped {
        inner: Box::pin(tokens),
        dropped: Arc::clone(&dropped),
    };
    (model, dropped)
}

#[tokio::test(start_paused = true)]
async fn a_generation_outlives_its_reader_for_the_grace_period_then_stops() {
    let store = Arc::new(MemoryStore::new());
    let relay = Relay::new(store.clone()).with_grace(Duration::from_secs(5));
    let elsewhere = Relay::new(store);
    let (tokens, dropped) = endless();
    let mut body = relay
        .start(
            Some(OWNER),
            "text",
            tokens.flush_with(Immediate::new()),
            TextEvents::new(),
        )
        .await
        .unwrap();
    let id = events(&[body.next().await.unwrap()])[0]
        .last_event_id()
        .to_owned();
    drop(body);
    let left = Instant::now();

    // Back within the grace period: the generation went on meanwhile.
    sleep(Duration::from_secs(4)).await;
    assert!(!dropped.load(Ordering::SeqCst));
    let mut back = relay.resume(&id, Some(OWNER), Kind::format).await.unwrap();
    let caught_up = events(&[back.next().await.unwrap()]);
    assert_eq!(caught_up[0].data(), "t1 ");
    // Reading on keeps it alive past the first grace period.
    let mut read = 1;
    while Instant::now() < left + Duration::from_secs(12) {
        back.next().await.unwrap();
        read += 1;
    }
    assert!(!dropped.load(Ordering::SeqCst));
    assert!(read > 50, "{read}");
    drop(back);
    let left = Instant::now();

    // Gone for good: the model is dropped once the grace period passes, and the stream ends
    // as failed, "abandoned".
    sleep(Duration::from_millis(4900)).await;
    assert!(!dropped.load(Ordering::SeqCst));
    sleep(Duration::from_millis(200)).await;
    assert!(
        dropped.load(Ordering::SeqCst),
        "dropped after {:?}",
        left.elapsed()
    );
    let rest = read_all(
        elsewhere
            .resume(&id, Some(OWNER), Kind::format)
            .await
            .unwrap(),
    )
    .await;
    let last = rest.last().unwrap();
    assert_eq!(last.event_type(), "error");
    assert_eq!(last.data(), r#"{"message":"abandoned"}"#);
}

/// A store that can fail, hang or count, around a memory store.
#[derive(Debug, Default)]
struct Flaky {
    inner: MemoryStore,
    down: AtomicBool,
    hang: AtomicBool,
    appends: AtomicUsize,
    heartbeats: AtomicUsize,
    /// Creates and reads to fail before they reach the store, as the first command on a
    /// connection that Redis's restart broke does.
    broken: AtomicUsize,
    /// Appends take 30 ms, then store.
    slow: AtomicBool,
}

impl Flaky {
    fn broken<T: Send + 'static>(&self) -> Option<ResumeFuture<'_, T>> {
        let broken = self
            .broken
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                left.checked_sub(1)
            });
        broken.is_ok().then(|| {
            let error = ResumeError::Unavailable("the connection broke".into());
            Box::pin(std::future::ready(Err(error))) as ResumeFuture<'_, T>
        })
    }

    fn refuse<T: Send + 'static>(&self) -> Option<ResumeFuture<'_, T>> {
        if self.hang.load(Ordering::SeqCst) {
            return Some(Box::pin(std::future::pending()));
        }
        if self.down.load(Ordering::SeqCst) {
            let error = ResumeError::Unavailable("the store is down".into());
            return Some(Box::pin(std::future::ready(Err(error))));
        }
        None
    }
}

impl ResumeStore for Flaky {
    fn create<'a>(
        &'a self,
        owner: Option<&'a [u8]>,
        options: &'a StreamOptions,
    ) -> ResumeFuture<'a, StreamId> {
        self.broken()
            .or_else(|| self.refuse())
            .unwrap_or_else(|| self.inner.create(owner, options))
    }

    fn append(&self, id: StreamId, seq: u64, item: Bytes) -> ResumeFuture<'_, ()> {
        self.appends.fetch_add(1, Ordering::SeqCst);
        if self.slow.load(Ordering::SeqCst) {
            return Box::pin(async move {
                sleep(Duration::from_millis(30)).await;
                self.inner.append(id, seq, item).await
            });
        }
        self.refuse()
            .unwrap_or_else(|| self.inner.append(id, seq, item))
    }

    fn heartbeat(&self, id: StreamId) -> ResumeFuture<'_, ()> {
        self.heartbeats.fetch_add(1, Ordering::SeqCst);
        self.refuse().unwrap_or_else(|| self.inner.heartbeat(id))
    }

    fn finish(&self, id: StreamId, outcome: Outcome) -> ResumeFuture<'_, ()> {
        self.refuse()
            .unwrap_or_else(|| self.inner.finish(id, outcome))
    }

    fn read<'a>(
        &'a self,
        id: StreamId,
        owner: Option<&'a [u8]>,
        after: Option<u64>,
    ) -> ResumeFuture<'a, Entries> {
        self.broken()
            .unwrap_or_else(|| self.inner.read(id, owner, after))
    }
}

/// Each frame with the instant it arrived.
async fn timed<F: Format>(body: ResumeSse<F>) -> Vec<(Instant, Bytes)> {
    body.map(|frame| (Instant::now(), frame)).collect().await
}

#[tokio::test(start_paused = true)]
async fn a_store_outage_does_not_hold_up_the_live_reader_and_resumes_report_it() {
    let store = Arc::new(Flaky::default());
    let relay = Relay::new(store.clone()).with_append_timeout(Duration::from_millis(50));
    let elsewhere = Relay::new(Arc::new(store.inner.clone()));
    let started = Instant::now();
    let tokens: Vec<String> = (0..30).map(|n| format!("t{n} ")).collect();
    let body = relay
        .start(
            Some(OWNER),
            "text",
            model(tokens.clone()).flush_with(Immediate::new()),
            TextEvents::new(),
        )
        .await
        .unwrap();
    let reader = tokio::spawn(timed(body));
    // Down from the 5th token to the 10th, then hanging (every append would wait forever)
    // from the 15th to the 20th.
    sleep(GAP * 5 + GAP / 2).await;
    store.down.store(true, Ordering::SeqCst);
    sleep(GAP * 5).await;
    store.down.store(false, Ordering::SeqCst);
    sleep(GAP * 5).await;
    store.hang.store(true, Ordering::SeqCst);
    sleep(GAP * 5).await;
    store.hang.store(false, Ordering::SeqCst);

    let frames = reader.await.unwrap();
    let live = events(frames.iter().map(|(_, frame)| frame));
    assert_eq!(
        text_of(&live),
        tokens.concat(),
        "the live reader got everything"
    );
    // Each token within the append timeout of when the model made it; the hanging store
    // delays one token by the timeout, the others not at all.
    let mut delayed = 0;
    for (index, (at, _)) in frames.iter().take(30).enumerate() {
        let made = started + GAP * (index as u32 + 1);
        let late = at.saturating_duration_since(made);
        assert!(
            late <= Duration::from_millis(50),
            "token {index} {late:?} late"
        );
        if late > Duration::ZERO {
            delayed += 1;
        }
    }
    assert!(delayed <= 2, "{delayed} tokens delayed");
    // The store was tried again while it failed (heartbeats every 500 ms), and stored the
    // items after it came back: fewer appends than items, more than half.
    let appends = store.appends.load(Ordering::SeqCst);
    assert!((15..30).contains(&appends), "{appends} appends");
    assert!(store.heartbeats.load(Ordering::SeqCst) >= 2);

    // A reader that resumes from the store is told the stream has a hole, as the format's
    // error event, and nothing after it.
    let first_id = live[0].last_event_id();
    let resumed = read_all(
        elsewhere
            .resume(first_id, Some(OWNER), Kind::format)
            .await
            .unwrap(),
    )
    .await;
    let last = resumed.last().unwrap();
    assert_eq!(last.event_type(), "error");
    assert!(last.data().contains("cannot be resumed"), "{}", last.data());
    let resumed_text = text_of(&resumed);
    assert!(tokens.concat()[live[0].data().len()..].starts_with(&resumed_text));
}

#[tokio::test(start_paused = true)]
async fn heartbeats_keep_a_silent_model_alive_and_a_dead_producer_is_reported() {
    let store = Arc::new(Flaky::default());
    let lease = Duration::from_secs(3);
    let relay =
        Relay::new(store.clone()).with_stream_options(StreamOptions::new().with_lease(lease));
    let elsewhere = Relay::new(Arc::new(store.inner.clone()));
    // A model that says one word, thinks for ten leases, says another, then hangs.
    let tokens = futures::stream::iter(["Hmm", ", yes"])
        .then(move |token| async move {
            sleep(lease * 10).await;
            token
        })
        .chain(futures::stream::pending());
    let mut body = relay
        .start(
            Some(OWNER),
            "text",
            tokens.flush_with(Immediate::new()),
            TextEvents::new(),
        )
        .await
        .unwrap();
    let first = events(&[body.next().await.unwrap()]);
    let reader = elsewhere
        .resume(first[0].last_event_id(), Some(OWNER), Kind::format)
        .await
        .unwrap();
    let follower = tokio::spawn(timed(reader));
    assert_eq!(events(&[body.next().await.unwrap()])[0].data(), ", yes");
    assert!(store.heartbeats.load(Ordering::SeqCst) >= 25);

    // The producer's instance loses the store for good (as if it died): the follower
    // elsewhere gets what was stored, then the error, within the lease.
    let cut = Instant::now();
    store.down.store(true, Ordering::SeqCst);
    let frames = follower.await.unwrap();
    let followed = events(frames.iter().map(|(_, frame)| frame));
    assert_eq!(followed[0].data(), ", yes");
    let last = followed.last().unwrap();
    assert_eq!(last.event_type(), "error");
    assert!(last.data().contains("generation lost"), "{}", last.data());
    let reported = frames.last().unwrap().0 - cut;
    assert!(reported <= lease, "reported after {reported:?}");
    drop(body);
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_store_fails_the_start_or_streams_without_resume() {
    let store = Arc::new(Flaky::default());
    store.down.store(true, Ordering::SeqCst);
    let relay = Relay::new(store.clone());
    let chunks = model(words()).flush_with(Immediate::new());
    let refused = relay
        .start(Some(OWNER), "text", chunks, TextEvents::new())
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(refused, ResumeError::Unavailable(_)),
        "{refused:?}"
    );

    let relay = relay.with_optional_store(true);
    let chunks = model(words()).flush_with(Immediate::new());
    let body = relay
        .start(Some(OWNER), "text", chunks, TextEvents::new())
        .await
        .unwrap();
    assert_eq!(body.stream_id(), None);
    let plain = read_all(body).await;
    assert_eq!(text_of(&plain), words().concat());
    assert!(plain.iter().all(|event| event.last_event_id().is_empty()));
    assert!(plain.iter().all(|event| event.retry().is_none()));
}

/// Nothing a reader on the producing instance got is missing from the store: each item is
/// stored before it is sent.
#[tokio::test(start_paused = true)]
async fn every_item_is_stored_before_a_reader_gets_it() {
    let store = Arc::new(Flaky::default());
    store.slow.store(true, Ordering::SeqCst);
    let relay = Relay::new(store.clone());
    let started = Instant::now();
    let body = relay
        .start(
            Some(OWNER),
            "text",
            model(words()).flush_with(Immediate::new()),
            TextEvents::new(),
        )
        .await
        .unwrap();
    let id = body.stream_id().unwrap();
    let mut body = body;
    let mut received = 0;
    while let Some(frame) = body.next().await {
        if events(&[frame]).is_empty() {
            continue; // the end's id alone
        }
        received += 1;
        // Everything received is in the store already: read what it holds, up to now.
        let mut stored = store.inner.read(id, Some(OWNER), None).await.unwrap();
        let mut items = 0;
        while let Some(Ok(tokenflush::resume::Entry::Item { .. })) =
            tokio::time::timeout(Duration::ZERO, stored.next())
                .await
                .ok()
                .flatten()
        {
            items += 1;
        }
        assert!(items >= received, "{received} received, {items} stored");
        // And it came after its append: 30 ms after the model made it.
        assert_eq!(
            Instant::now() - started,
            GAP * received as u32 + Duration::from_millis(30)
        );
    }
    assert_eq!(received, words().len());
}

#[tokio::test(start_paused = true)]
async fn a_broken_connection_is_tried_once_more() {
    let store = Arc::new(Flaky::default());
    let relay = Relay::new(store.clone());
    let elsewhere = Relay::new(store.clone());
    store.broken.store(1, Ordering::SeqCst);
    let chunks = model(words()).flush_with(Immediate::new());
    let body = relay
        .start(Some(OWNER), "text", chunks, TextEvents::new())
        .await
        .unwrap();
    let live = read_all(body).await;
    store.broken.store(1, Ordering::SeqCst);
    let again = elsewhere
        .resume(live[0].last_event_id(), Some(OWNER), Kind::format)
        .await
        .unwrap();
    assert_eq!(text_of(&read_all(again).await), words()[1..].concat());
    // Twice broken is unavailable.
    store.broken.store(2, Ordering::SeqCst);
    let refused = elsewhere
        .resume(live[0].last_event_id(), Some(OWNER), Kind::format)
        .await
        .map(|_| ())
        .unwrap_err();
    assert!(
        matches!(refused, ResumeError::Unavailable(_)),
        "{refused:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_model_ends_every_reader_with_its_error() {
    let store = Arc::new(MemoryStore::new());
    let relay = Relay::new(store.clone());
    let elsewhere = Relay::new(store);
    let items: Vec<Result<Item<&str>, &str>> = vec![
        Ok(Item::Content("Hel")),
        Ok(Item::Content("lo")),
        Err("the model is overloaded"),
        Ok(Item::Content("never")),
    ];
    let format = AnthropicMessages::new("msg_1", "m");
    let body = relay
        .start(
            Some(OWNER),
            "anthropic",
            model(items).try_flush_with(Immediate::new()),
            format,
        )
        .await
        .unwrap();
    let live = read_all(body).await;
    let last = live.last().unwrap();
    assert_eq!(last.event_type(), "error");
    assert!(last.data().contains("the model is overloaded"));
    let again = read_all(
        elsewhere
            .resume(live[0].last_event_id(), Some(OWNER), Kind::format)
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        again.iter().map(seen).collect::<Vec<_>>(),
        live[1..].iter().map(seen).collect::<Vec<_>>()
    );
}

#[tokio::test(start_paused = true)]
async fn a_stream_beyond_its_caps_cannot_be_resumed_and_says_so() {
    let store = Arc::new(MemoryStore::new());
    let options = StreamOptions::new().with_max_entries(4);
    let relay = Relay::new(store.clone()).with_stream_options(options);
    let elsewhere = Relay::new(store);
    let body = relay
        .start(
            Some(OWNER),
            "text",
            model(words()).flush_with(Immediate::new()),
            TextEvents::new(),
        )
        .await
        .unwrap();
    let live = read_all(body).await;
    assert_eq!(
        text_of(&live),
        words().concat(),
        "the live reader is not capped"
    );
    for relay in [&relay, &elsewhere] {
        let resumed = read_all(
            relay
                .resume(live[0].last_event_id(), Some(OWNER), Kind::format)
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(resumed.len(), 1);
        assert_eq!(resumed[0].event_type(), "error");
        assert!(resumed[0].data().contains("cannot be resumed"));
    }
}

#[tokio::test(start_paused = true)]
async fn damaged_stored_items_are_reported_not_rendered() {
    let store = Arc::new(MemoryStore::new());
    let relay = Relay::new(store.clone());
    // A stream as a relay stores it, but with hostile bytes in it.
    for item in [
        &[][..],
        &[1][..],
        &[2, 0][..],
        &[
            1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ][..],
        &b"\x01\x03\x00\x02\x01\x00\x00\x00\xff\xff"[..],
    ] {
        let id = store
            .create(Some(OWNER), &StreamOptions::new())
            .await
            .unwrap();
        store
            .append(id, 0, Bytes::copy_from_slice(item))
            .await
            .unwrap();
        store.finish(id, Outcome::Completed).await.unwrap();
        let reader = relay
            .resume(&format!("{id}-0-0"), Some(OWNER), |meta| {
                assert_eq!(meta, None, "no header can be read from {item:?}");
                TextEvents::new()
            })
            .await
            .unwrap();
        let events = read_all(reader).await;
        assert_eq!(events.len(), 1, "{item:?}");
        assert_eq!(events[0].event_type(), "error");
        assert!(
            events[0].data().contains("cannot be resumed"),
            "{}",
            events[0].data()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn keep_alive_frames_carry_no_id() {
    let relay = Relay::new(Arc::new(MemoryStore::new()));
    let tokens = futures::stream::iter(["a", "b"]).then(|token| async move {
        sleep(Duration::from_secs(20)).await;
        token
    });
    let body = relay
        .start(
            None,
            "text",
            tokens.flush_with(Immediate::new()),
            TextEvents::new(),
        )
        .await
        .unwrap()
        .with_keep_alive(tokenflush::sse::KeepAlive::new());
    let frames: Vec<Bytes> = body.collect().await;
    assert_eq!(frames[0], ": ping\n\n");
    assert!(frames[1].starts_with(b"data: a\nid: "));
    assert_eq!(text_of(&events(&frames)), "ab");
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.meta())
    }
}
