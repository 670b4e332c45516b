//! The SSE encoding adapters: one frame per chunk, ids, formats, errors, stream contract.

use std::pin::pin;

use bytes::{Bytes, BytesMut};
use futures::stream::{self, FusedStream, Stream, StreamExt};
use tokenflush::sse::{EncodeSse, EncodeSseExt, Event, Format, ParseSseExt, TextEvents};
use tokenflush::{policy::FixedBatch, Chunk, FlushExt};

fn chunk(text: &str) -> Chunk {
    Chunk::new(text).expect("non-empty")
}

fn chunks(texts: &[&str]) -> Vec<Chunk> {
    texts.iter().map(|text| chunk(text)).collect()
}

async fn frames<F: Format>(texts: &[&str], format: F) -> Vec<Bytes> {
    stream::iter(chunks(texts))
        .encode_sse_as(format)
        .collect()
        .await
}

#[tokio::test]
async fn one_frame_per_chunk() {
    let frames: Vec<_> = stream::iter(chunks(&["Hel", "lo", ", world\n"]))
        .encode_sse()
        .collect()
        .await;
    assert_eq!(
        frames,
        ["data: Hel\n\n", "data: lo\n\n", "data: , world\ndata:\n\n"]
    );
}

#[tokio::test]
async fn frames_match_the_event_builder() {
    let texts = ["a", "\r\n", " lead", "x\ry\nz\r\n", "é😀\u{2028}"];
    let frames = frames(&texts, TextEvents::new()).await;
    for (frame, text) in frames.iter().zip(texts) {
        assert_eq!(frame, &Event::from(chunk(text)).to_bytes().unwrap());
    }
}

#[tokio::test]
async fn event_ids_count_up_from_the_first() {
    let frames = frames(&["a", "b", "c"], TextEvents::new().with_event_ids(41)).await;
    assert_eq!(
        frames,
        [
            "id: 41\ndata: a\n\n",
            "id: 42\ndata: b\n\n",
            "id: 43\ndata: c\n\n"
        ]
    );
    let frames = frames_wrapping().await;
    assert_eq!(
        frames,
        [
            format!("id: {}\ndata: a\n\n", u64::MAX),
            "id: 0\ndata: b\n\n".to_owned()
        ]
    );
}

async fn frames_wrapping() -> Vec<Bytes> {
    frames(&["a", "b"], TextEvents::new().with_event_ids(u64::MAX)).await
}

#[tokio::test]
async fn many_frames_of_every_size_are_independent() {
    // Frames share blocks of the adapter's buffer; each must stay intact, whether the
    // consumer keeps it or drops it at once.
    let texts: Vec<String> = (0..3000)
        .map(|i| {
            let len = (i * 37) % 700 + if i % 500 == 0 { 9000 } else { 1 };
            (0..len)
                .map(|j| char::from(b'a' + ((i + j) % 26) as u8))
                .collect()
        })
        .collect();
    let mut kept = Vec::new();
    let mut frames = pin!(stream::iter(texts.iter().map(|text| chunk(text))).encode_sse());
    let mut index = 0;
    while let Some(frame) = frames.next().await {
        assert_eq!(frame, format!("data: {}\n\n", texts[index]));
        if index % 3 == 0 {
            kept.push((index, frame));
        }
        index += 1;
    }
    assert_eq!(index, texts.len());
    for (index, frame) in kept {
        assert_eq!(frame, format!("data: {}\n\n", texts[index]));
    }
}

#[tokio::test]
async fn a_flush_pipeline_frames_whole_chunks() {
    let tokens = stream::iter(["The", " quick", " brown", " fox"]);
    let frames: Vec<_> = tokens
        .flush_with(FixedBatch::new(2))
        .encode_sse()
        .collect()
        .await;
    assert_eq!(frames, ["data: The quick\n\n", "data:  brown fox\n\n"]);
}

#[tokio::test]
async fn an_empty_stream_yields_nothing() {
    let frames: Vec<_> = stream::empty::<Chunk>().encode_sse().collect().await;
    assert!(frames.is_empty());
}

/// A format with opening and closing events, to see where the encoder puts them.
#[derive(Debug, Default)]
struct Bracketed {
    chunks: usize,
}

impl Format for Bracketed {
    fn open(&mut self, out: &mut BytesMut) {
        Event::default()
            .event("open")
            .data("")
            .write_to(out)
            .unwrap();
    }

    fn chunk(&mut self, chunk: &Chunk, out: &mut BytesMut) {
        self.chunks += 1;
        Event::default().data(chunk.as_str()).write_to(out).unwrap();
    }

    fn close(&mut self, out: &mut BytesMut) {
        Event::default()
            .event("close")
            .data(self.chunks.to_string())
            .write_to(out)
            .unwrap();
    }
}

#[tokio::test]
async fn a_format_opens_and_closes_the_stream() {
    let frames = frames(&["a", "b"], Bracketed::default()).await;
    assert_eq!(
        frames,
        [
            "event: open\ndata:\n\n",
            "data: a\n\n",
            "data: b\n\n",
            "event: close\ndata: 2\n\n"
        ]
    );
    let empty: Vec<_> = stream::empty::<Chunk>()
        .encode_sse_as(Bracketed::default())
        .collect()
        .await;
    assert_eq!(
        empty,
        ["event: open\ndata:\n\n", "event: close\ndata: 0\n\n"]
    );
}

#[tokio::test]
async fn formats_forward_through_references_and_boxes() {
    let mut format = Bracketed::default();
    let frames_by_ref = frames(&["a"], &mut format).await;
    assert_eq!(format.chunks, 1);
    let boxed: Box<dyn Format + Send> = Box::new(Bracketed::default());
    assert_eq!(frames(&["a"], boxed).await, frames_by_ref);
}

#[tokio::test]
async fn the_format_can_change_while_the_stream_runs() {
    let mut frames =
        pin!(stream::iter(chunks(&["a", "b"])).encode_sse_as(TextEvents::new().with_event_ids(1)));
    assert_eq!(frames.next().await.unwrap(), "id: 1\ndata: a\n\n");
    assert_eq!(frames.format().next_id(), Some(2));
    *frames.as_mut().get_mut().format_mut() = TextEvents::new();
    assert_eq!(frames.next().await.unwrap(), "data: b\n\n");
}

#[tokio::test]
async fn an_error_ends_the_stream_with_the_formats_error_event() {
    let items = vec![
        Ok(chunk("a")),
        Err("boom"),
        Ok(chunk("never")),
        Err("never"),
    ];
    let mut frames = pin!(stream::iter(items).encode_sse_as(Bracketed::default()));
    assert_eq!(
        frames.next().await,
        Some(Bytes::from("event: open\ndata:\n\n"))
    );
    assert_eq!(frames.next().await, Some(Bytes::from("data: a\n\n")));
    assert!(!frames.is_terminated());
    assert_eq!(
        frames.next().await,
        Some(Bytes::from(
            "event: error\ndata: {\"message\":\"boom\"}\n\n"
        ))
    );
    // No closing events after an error, and nothing more from upstream.
    assert!(frames.is_terminated());
    assert_eq!(frames.next().await, None);
    assert_eq!(frames.next().await, None);
}

#[tokio::test]
async fn a_fallible_stream_closes_after_a_clean_end() {
    let items: Vec<Result<Chunk, &str>> = vec![Ok(chunk("a"))];
    let frames: Vec<_> = stream::iter(items)
        .encode_sse_as(Bracketed::default())
        .collect()
        .await;
    assert_eq!(frames.last(), Some(&"event: close\ndata: 1\n\n".into()));
}

#[tokio::test]
async fn the_adapters_are_fused() {
    let mut frames = pin!(stream::iter(chunks(&["a"])).encode_sse());
    assert!(!frames.is_terminated());
    frames.next().await;
    assert!(!frames.is_terminated());
    assert_eq!(frames.next().await, None);
    assert!(frames.is_terminated());
    assert_eq!(frames.next().await, None);
}

#[test]
fn size_hints_are_conservative() {
    let frames = stream::iter(chunks(&["a", "b"])).encode_sse();
    // Two frames for two chunks, and at most an opening and a closing frame besides.
    assert_eq!(frames.size_hint(), (2, Some(4)));
    let frames = frames.with_keep_alive(tokenflush::sse::KeepAlive::new());
    assert_eq!(frames.size_hint(), (2, None));
    let items: Vec<Result<Chunk, &str>> = vec![Ok(chunk("a")), Ok(chunk("b"))];
    // An item may be an error that ends the stream: one frame is all that is promised.
    assert_eq!(stream::iter(items).encode_sse().size_hint(), (1, Some(4)));
}

#[tokio::test]
async fn size_hints_hold_as_the_stream_runs() {
    let mut frames = pin!(stream::iter(chunks(&["a", "b"])).encode_sse_as(Bracketed::default()));
    let mut hints = vec![frames.size_hint()];
    let mut count = 0;
    while frames.next().await.is_some() {
        count += 1;
        hints.push(frames.size_hint());
    }
    assert_eq!(count, 4); // open, a, b, close
    for (seen, (lower, upper)) in hints.into_iter().enumerate() {
        let remaining = count - seen;
        assert!(lower <= remaining, "after {seen}: {lower} > {remaining}");
        assert!(
            upper.is_some_and(|upper| remaining <= upper),
            "after {seen}: {upper:?}"
        );
    }
}

#[tokio::test]
async fn dropping_the_adapter_drops_upstream() {
    let (tx, rx) = futures::channel::mpsc::unbounded::<Chunk>();
    let mut frames = Box::pin(rx.encode_sse());
    tx.unbounded_send(chunk("a")).unwrap();
    assert_eq!(frames.next().await.unwrap(), "data: a\n\n");
    drop(frames);
    assert!(tx.is_closed());
}

#[test]
fn adapters_are_send_sync_and_unpin_when_their_parts_are() {
    fn assert_send_sync_unpin<T: Send + Sync + Unpin>(_: &T) {}
    type Chunks = stream::Iter<std::vec::IntoIter<Chunk>>;
    type Results = stream::Iter<std::vec::IntoIter<Result<Chunk, std::io::Error>>>;
    let encode: EncodeSse<Chunks, TextEvents> = stream::iter(Vec::new()).encode_sse();
    assert_send_sync_unpin(&encode);
    let fallible: EncodeSse<Results, TextEvents> = stream::iter(Vec::new()).encode_sse();
    assert_send_sync_unpin(&fallible);
    let parse = stream::iter(Vec::<Result<Bytes, std::io::Error>>::new())
        .parse_sse(tokenflush::sse::Parser::new());
    assert_send_sync_unpin(&parse);
}

#[test]
fn adapters_run_on_any_executor_without_keep_alive() {
    let frames: Vec<_> =
        futures::executor::block_on(stream::iter(chunks(&["a"])).encode_sse().collect());
    assert_eq!(frames, ["data: a\n\n"]);
}

#[test]
fn debug_shows_the_adapter() {
    let frames = stream::iter(chunks(&["a"])).encode_sse();
    assert!(format!("{frames:?}").starts_with("EncodeSse"));
}

#[tokio::test]
async fn borrowed_and_shared_chunks_frame_the_same() {
    let owned = chunks(&["a", "b\nc"]);
    let expected: Vec<Bytes> = stream::iter(owned.clone()).encode_sse().collect().await;
    let borrowed: Vec<Bytes> = stream::iter(&owned).encode_sse().collect().await;
    assert_eq!(borrowed, expected);
    // One model stream fanned out to several clients shares its chunks.
    let shared: Vec<_> = owned.into_iter().map(std::sync::Arc::new).collect();
    let fanned: Vec<Bytes> = stream::iter(shared.clone()).encode_sse().collect().await;
    assert_eq!(fanned, expected);
    let results = shared.into_iter().map(Ok::<_, &str>);
    let fallible: Vec<_> = stream::iter(results).encode_sse().collect().await;
    assert_eq!(fallible, expected);
}
