//! The bytes a generation stores per item: a compact, versioned encoding of [`Chunk`]s and
//! [`Item<Chunk>`]s, and of the stream's header (the server's own bytes, on the first item).
//!
//! ```text
//! record   = version:u8 flags:u8 [header] [item]      flags: 1 = has a header, 2 = has an item
//! header   = bytes
//! item     = tag:u8 payload                             (tags below)
//! bytes    = len:varint byte*len
//! str      = bytes, UTF-8
//! opt<T>   = 0 | 1 T
//! chunk    = tokens:varint reason:u8 held_secs:varint held_nanos:varint text:str (not empty)
//! varint   = LEB128, at most 10 bytes, canonical
//! ```
//!
//! Decoding is for bytes from a store, which may be damaged or hostile: every length is
//! checked against the bytes that remain before anything is allocated, so decoding never
//! allocates more than the input's size (plus the interned names of [`Item::Other`]), never
//! panics, and rejects trailing bytes, unknown tags and versions, and non-canonical varints.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};

use crate::llm::{FinishReason, Item, ToolCall, Usage};
use crate::{Chunk, FlushReason};

/// The encoding's version: the first byte of every record.
const VERSION: u8 = 1;

const HAS_HEADER: u8 = 1;
const HAS_ITEM: u8 = 2;

/// One stored item: a chunk of a plain token stream, or an item of a typed stream.
#[doc(hidden)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A chunk of a plain token stream: rendered by [`Format::chunk`](crate::sse::Format::chunk).
    Chunk(Chunk),
    /// An item of a typed stream: rendered by [`Format::item`](crate::sse::Format::item).
    Item(Item<Chunk>),
}

/// Why stored bytes could not be read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum CodecError {
    #[error("stored by an unknown version ({0}) of the encoding")]
    Version(u8),
    #[error("the stored item is damaged")]
    Damaged,
}

/// A record: the stream's header and/or an item.
pub(crate) fn encode(header: Option<&[u8]>, record: Option<&Record>) -> Bytes {
    let mut out = BytesMut::with_capacity(
        2 + header.map_or(0, |header| header.len() + 10) + record.map_or(0, estimate),
    );
    out.put_u8(VERSION);
    let flags =
        if header.is_some() { HAS_HEADER } else { 0 } | if record.is_some() { HAS_ITEM } else { 0 };
    out.put_u8(flags);
    if let Some(header) = header {
        put_bytes(&mut out, header);
    }
    if let Some(record) = record {
        put_record(&mut out, record);
    }
    out.freeze()
}

/// A record's header and item.
pub(crate) fn decode(bytes: &[u8]) -> Result<(Option<Bytes>, Option<Record>), CodecError> {
    let mut input = Input(bytes);
    let version = input.u8()?;
    if version != VERSION {
        return Err(CodecError::Version(version));
    }
    let flags = input.u8()?;
    if flags & !(HAS_HEADER | HAS_ITEM) != 0 {
        return Err(CodecError::Damaged);
    }
    let header = if flags & HAS_HEADER != 0 {
        Some(Bytes::copy_from_slice(input.bytes()?))
    } else {
        None
    };
    let record = if flags & HAS_ITEM != 0 {
        Some(input.record()?)
    } else {
        None
    };
    if !input.0.is_empty() {
        return Err(CodecError::Damaged);
    }
    Ok((header, record))
}

/// Item tags.
mod tag {
    pub(super) const CHUNK: u8 = 0;
    pub(super) const START: u8 = 1;
    pub(super) const CONTENT: u8 = 2;
    pub(super) const REASONING: u8 = 3;
    pub(super) const REFUSAL: u8 = 4;
    pub(super) const TOOL_CALL: u8 = 5;
    pub(super) const LOGPROBS: u8 = 6;
    pub(super) const CHOICE: u8 = 7;
    pub(super) const FINISH: u8 = 8;
    pub(super) const USAGE: u8 = 9;
    pub(super) const OTHER: u8 = 10;
}

/// About the encoded size, so that encoding allocates once.
fn estimate(record: &Record) -> usize {
    let text = match record {
        Record::Chunk(chunk) => chunk.as_str().len(),
        Record::Item(item) => match item {
            Item::Content(chunk) | Item::Reasoning(chunk) | Item::Refusal(chunk) => {
                chunk.as_str().len()
            }
            Item::ToolCall(call) => call.arguments().len() + 64,
            Item::Logprobs(json) => json.len(),
            Item::Other { event, data, .. } => data.len() + event.as_ref().map_or(0, String::len),
            _ => 64,
        },
    };
    text + 40
}

fn put_record(out: &mut BytesMut, record: &Record) {
    let item = match record {
        Record::Chunk(chunk) => {
            out.put_u8(tag::CHUNK);
            put_chunk(out, chunk);
            return;
        }
        Record::Item(item) => item,
    };
    match item {
        Item::Start { id, model } => {
            out.put_u8(tag::START);
            put_opt_str(out, id.as_deref());
            put_opt_str(out, model.as_deref());
        }
        Item::Content(chunk) => {
            out.put_u8(tag::CONTENT);
            put_chunk(out, chunk);
        }
        Item::Reasoning(chunk) => {
            out.put_u8(tag::REASONING);
            put_chunk(out, chunk);
        }
        Item::Refusal(chunk) => {
            out.put_u8(tag::REFUSAL);
            put_chunk(out, chunk);
        }
        Item::ToolCall(call) => {
            out.put_u8(tag::TOOL_CALL);
            put_varint(out, u64::from(call.index()));
            put_opt_str(out, call.id());
            put_opt_str(out, call.name());
            put_str(out, call.arguments());
        }
        Item::Logprobs(json) => {
            out.put_u8(tag::LOGPROBS);
            put_str(out, json);
        }
        Item::Choice(index) => {
            out.put_u8(tag::CHOICE);
            put_varint(out, u64::from(*index));
        }
        Item::Finish(reason) => {
            out.put_u8(tag::FINISH);
            let (code, other) = match reason {
                FinishReason::Stop => (0, None),
                FinishReason::Length => (1, None),
                FinishReason::ToolCalls => (2, None),
                FinishReason::ContentFilter => (3, None),
                FinishReason::Other(other) => (4, Some(other.as_str())),
            };
            out.put_u8(code);
            if let Some(other) = other {
                put_str(out, other);
            }
        }
        Item::Usage(usage) => {
            out.put_u8(tag::USAGE);
            put_varint(out, usage.input_tokens());
            put_varint(out, usage.output_tokens());
            put_opt_varint(out, usage.reasoning_tokens());
            put_opt_varint(out, usage.cached_input_tokens());
        }
        Item::Other {
            format,
            event,
            data,
        } => {
            out.put_u8(tag::OTHER);
            put_str(out, format);
            put_opt_str(out, event.as_deref());
            put_str(out, data);
        }
    }
}

fn put_chunk(out: &mut BytesMut, chunk: &Chunk) {
    put_varint(out, chunk.token_count() as u64);
    out.put_u8(reason_code(chunk.reason()));
    let held = chunk.held_for();
    put_varint(out, held.as_secs());
    put_varint(out, u64::from(held.subsec_nanos()));
    put_str(out, chunk.as_str());
}

fn reason_code(reason: FlushReason) -> u8 {
    match reason {
        FlushReason::Size => 0,
        FlushReason::Deadline => 1,
        FlushReason::End => 2,
        FlushReason::Error => 3,
        FlushReason::First => 4,
        FlushReason::Idle => 5,
        FlushReason::Bytes => 6,
        FlushReason::Item => 7,
        FlushReason::Boundary => 8,
        FlushReason::Anticipated => 9,
    }
}

fn reason_of(code: u8) -> Option<FlushReason> {
    Some(match code {
        0 => FlushReason::Size,
        1 => FlushReason::Deadline,
        2 => FlushReason::End,
        3 => FlushReason::Error,
        4 => FlushReason::First,
        5 => FlushReason::Idle,
        6 => FlushReason::Bytes,
        7 => FlushReason::Item,
        8 => FlushReason::Boundary,
        9 => FlushReason::Anticipated,
        _ => return None,
    })
}

fn put_varint(out: &mut BytesMut, mut value: u64) {
    while value >= 0x80 {
        out.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

fn put_opt_varint(out: &mut BytesMut, value: Option<u64>) {
    match value {
        None => out.put_u8(0),
        Some(value) => {
            out.put_u8(1);
            put_varint(out, value);
        }
    }
}

fn put_bytes(out: &mut BytesMut, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.put_slice(bytes);
}

fn put_str(out: &mut BytesMut, text: &str) {
    put_bytes(out, text.as_bytes());
}

fn put_opt_str(out: &mut BytesMut, text: Option<&str>) {
    match text {
        None => out.put_u8(0),
        Some(text) => {
            out.put_u8(1);
            put_str(out, text);
        }
    }
}

/// The bytes not read yet.
struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn u8(&mut self) -> Result<u8, CodecError> {
        let (&first, rest) = self.0.split_first().ok_or(CodecError::Damaged)?;
        self.0 = rest;
        Ok(first)
    }

    fn varint(&mut self) -> Result<u64, CodecError> {
        let mut value = 0_u64;
        for shift in (0..70).step_by(7) {
            let byte = self.u8()?;
            let bits = u64::from(byte & 0x7f);
            // The tenth byte holds the top bit only; a zero last byte after others is a
            // longer spelling of a shorter number.
            if shift == 63 && bits > 1 || shift > 0 && byte == 0 {
                return Err(CodecError::Damaged);
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(CodecError::Damaged)
    }

    fn u32(&mut self) -> Result<u32, CodecError> {
        u32::try_from(self.varint()?).map_err(|_| CodecError::Damaged)
    }

    /// Length-prefixed bytes; the length is checked against what remains before anything
    /// is taken.
    fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let len = self.varint()?;
        let len = usize::try_from(len).map_err(|_| CodecError::Damaged)?;
        if len > self.0.len() {
            return Err(CodecError::Damaged);
        }
        let (bytes, rest) = self.0.split_at(len);
        self.0 = rest;
        Ok(bytes)
    }

    fn str(&mut self) -> Result<&'a str, CodecError> {
        std::str::from_utf8(self.bytes()?).map_err(|_| CodecError::Damaged)
    }

    fn string(&mut self) -> Result<String, CodecError> {
        self.str().map(str::to_owned)
    }

    fn flag(&mut self) -> Result<bool, CodecError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(CodecError::Damaged),
        }
    }

    fn opt_string(&mut self) -> Result<Option<String>, CodecError> {
        Ok(if self.flag()? {
            Some(self.string()?)
        } else {
            None
        })
    }

    fn opt_varint(&mut self) -> Result<Option<u64>, CodecError> {
        Ok(if self.flag()? {
            Some(self.varint()?)
        } else {
            None
        })
    }

    fn chunk(&mut self) -> Result<Chunk, CodecError> {
        let tokens = usize::try_from(self.varint()?).map_err(|_| CodecError::Damaged)?;
        let reason = reason_of(self.u8()?).ok_or(CodecError::Damaged)?;
        let secs = self.varint()?;
        let nanos = self.u32()?;
        if nanos >= 1_000_000_000 {
            return Err(CodecError::Damaged);
        }
        let text = self.str()?;
        if text.is_empty() {
            return Err(CodecError::Damaged);
        }
        Ok(Chunk::from_parts(
            text.to_owned(),
            tokens,
            reason,
            Duration::new(secs, nanos),
        ))
    }

    fn record(&mut self) -> Result<Record, CodecError> {
        let item = match self.u8()? {
            tag::CHUNK => return Ok(Record::Chunk(self.chunk()?)),
            tag::START => Item::Start {
                id: self.opt_string()?,
                model: self.opt_string()?,
            },
            tag::CONTENT => Item::Content(self.chunk()?),
            tag::REASONING => Item::Reasoning(self.chunk()?),
            tag::REFUSAL => Item::Refusal(self.chunk()?),
            tag::TOOL_CALL => {
                let mut call = ToolCall::new(self.u32()?);
                if let Some(id) = self.opt_string()? {
                    call = call.with_id(id);
                }
                if let Some(name) = self.opt_string()? {
                    call = call.with_name(name);
                }
                Item::ToolCall(call.with_arguments(self.string()?))
            }
            tag::LOGPROBS => Item::Logprobs(self.string()?),
            tag::CHOICE => Item::Choice(self.u32()?),
            tag::FINISH => Item::Finish(match self.u8()? {
                0 => FinishReason::Stop,
                1 => FinishReason::Length,
                2 => FinishReason::ToolCalls,
                3 => FinishReason::ContentFilter,
                4 => FinishReason::Other(self.string()?),
                _ => return Err(CodecError::Damaged),
            }),
            tag::USAGE => {
                let mut usage = Usage::new(self.varint()?, self.varint()?);
                if let Some(reasoning) = self.opt_varint()? {
                    usage = usage.with_reasoning_tokens(reasoning);
                }
                if let Some(cached) = self.opt_varint()? {
                    usage = usage.with_cached_input_tokens(cached);
                }
                Item::Usage(usage)
            }
            tag::OTHER => Item::Other {
                format: intern(self.str()?).ok_or(CodecError::Damaged)?,
                event: self.opt_string()?,
                data: self.string()?,
            },
            _ => return Err(CodecError::Damaged),
        };
        Ok(Record::Item(item))
    }
}

/// The most format names [`intern`] keeps, and the longest.
const MAX_NAMES: usize = 64;
const MAX_NAME: usize = 64;

/// The format names of [`Item::Other`] read back so far. `Item::Other` names its wire format
/// with a `&'static str` (a format's constant name); reading one back needs a `'static` copy,
/// which this keeps once per distinct name, bounded: a store full of made-up names costs at
/// most `MAX_NAMES × MAX_NAME` bytes, and later ones are refused as damage.
static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

/// The `'static` copy of a format name, or `None` beyond the bounds.
fn intern(name: &str) -> Option<&'static str> {
    let mut names = NAMES.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = names.iter().find(|known| **known == name) {
        return Some(known);
    }
    if names.len() >= MAX_NAMES || name.len() > MAX_NAME {
        return None;
    }
    let name: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.push(name);
    Some(name)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use proptest::prelude::*;

    use super::{decode, encode, CodecError, Record};
    use crate::llm::{FinishReason, Item, ToolCall, Usage};
    use crate::{Chunk, FlushReason};

    fn chunk(text: &str, tokens: usize, reason: FlushReason, held: Duration) -> Chunk {
        Chunk::from_parts(text.to_owned(), tokens, reason, held)
    }

    fn every_kind() -> Vec<Record> {
        let c = chunk("héllo 🚀", 3, FlushReason::Deadline, Duration::new(1, 5));
        vec![
            Record::Chunk(c.clone()),
            Record::Item(Item::Start {
                id: Some("msg_1".into()),
                model: None,
            }),
            Record::Item(Item::Content(c.clone())),
            Record::Item(Item::Reasoning(c.clone())),
            Record::Item(Item::Refusal(c)),
            Record::Item(Item::ToolCall(
                ToolCall::new(7)
                    .with_id("call_1")
                    .with_name("get")
                    .with_arguments("{\"a\":"),
            )),
            Record::Item(Item::ToolCall(ToolCall::new(u32::MAX))),
            Record::Item(Item::Logprobs("[]".into())),
            Record::Item(Item::Choice(3)),
            Record::Item(Item::Finish(FinishReason::Stop)),
            Record::Item(Item::Finish(FinishReason::Length)),
            Record::Item(Item::Finish(FinishReason::ToolCalls)),
            Record::Item(Item::Finish(FinishReason::ContentFilter)),
            Record::Item(Item::Finish(FinishReason::Other("pause_turn".into()))),
            Record::Item(Item::Usage(
                Usage::new(u64::MAX, 0)
                    .with_reasoning_tokens(5)
                    .with_cached_input_tokens(1),
            )),
            Record::Item(Item::Other {
                format: "openai-chat",
                event: Some("x".into()),
                data: "{}".into(),
            }),
        ]
    }

    #[test]
    fn every_kind_round_trips_with_and_without_a_header() {
        for record in every_kind() {
            let bytes = encode(None, Some(&record));
            assert_eq!(decode(&bytes), Ok((None, Some(record.clone()))));
            let bytes = encode(Some(b"meta"), Some(&record));
            assert_eq!(
                decode(&bytes),
                Ok((Some(Bytes::from_static(b"meta")), Some(record)))
            );
        }
        assert_eq!(
            decode(&encode(Some(b""), None)),
            Ok((Some(Bytes::new()), None))
        );
    }

    #[test]
    fn every_flush_reason_round_trips() {
        for code in 0..=u8::MAX {
            if let Some(reason) = super::reason_of(code) {
                assert_eq!(super::reason_code(reason), code);
            }
        }
    }

    #[test]
    fn damage_is_reported_not_panicked() {
        let good = encode(Some(b"m"), every_kind().first());
        // Every truncation fails; trailing bytes fail.
        for end in 0..good.len() {
            assert!(decode(&good[..end]).is_err(), "cut at {end}");
        }
        let mut longer = good.to_vec();
        longer.push(0);
        assert_eq!(decode(&longer), Err(CodecError::Damaged));
        assert_eq!(decode(&[2, 0]), Err(CodecError::Version(2)));
        assert_eq!(decode(&[1, 4]), Err(CodecError::Damaged));
        // A length far beyond the input allocates nothing and fails.
        let huge = [
            1, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ];
        assert_eq!(decode(&huge), Err(CodecError::Damaged));
        // Varints: eleven bytes, an overflowing tenth, a redundant zero.
        let mut long = vec![1, 1];
        long.extend([0x80; 10]);
        long.push(0);
        assert_eq!(decode(&long), Err(CodecError::Damaged));
        let mut over = vec![1, 1];
        over.extend([0xff; 9]);
        over.push(0x02);
        assert_eq!(decode(&over), Err(CodecError::Damaged));
        assert_eq!(decode(&[1, 1, 0x80, 0x00]), Err(CodecError::Damaged));
        // An empty chunk text.
        assert_eq!(decode(&[1, 2, 0, 1, 0, 0, 0, 0]), Err(CodecError::Damaged));
    }

    #[test]
    fn format_names_are_interned_within_bounds() {
        let name = |index: usize| format!("made-up-{index}");
        let record = |format: &str| {
            // Encode by hand: `Item::Other` needs a 'static name to encode.
            let mut bytes = vec![1, 2, 10];
            bytes.push(format.len() as u8);
            bytes.extend_from_slice(format.as_bytes());
            bytes.extend([0, 0]);
            bytes
        };
        let mut refused = 0;
        for index in 0..200 {
            if decode(&record(&name(index))).is_err() {
                refused += 1;
            }
        }
        assert!(refused >= 200 - super::MAX_NAMES, "{refused}");
        assert!(decode(&record(&"x".repeat(65))).is_err());
    }

    fn arb_chunk() -> impl Strategy<Value = Chunk> {
        (
            "\\PC{1,20}",
            any::<usize>(),
            0_u8..10,
            any::<u64>(),
            0_u32..1_000_000_000,
        )
            .prop_map(|(text, tokens, reason, secs, nanos)| {
                chunk(
                    &text,
                    tokens,
                    super::reason_of(reason).unwrap(),
                    Duration::new(secs, nanos),
                )
            })
    }

    fn arb_record() -> impl Strategy<Value = Record> {
        prop_oneof![
            arb_chunk().prop_map(Record::Chunk),
            arb_chunk().prop_map(|c| Record::Item(Item::Content(c))),
            arb_chunk().prop_map(|c| Record::Item(Item::Reasoning(c))),
            (any::<u32>(), proptest::option::of(".*"), ".*").prop_map(|(index, id, args)| {
                let mut call = ToolCall::new(index).with_arguments(args);
                if let Some(id) = id {
                    call = call.with_id(id);
                }
                Record::Item(Item::ToolCall(call))
            }),
            (
                any::<u64>(),
                any::<u64>(),
                proptest::option::of(any::<u64>())
            )
                .prop_map(|(i, o, r)| {
                    let mut usage = Usage::new(i, o);
                    if let Some(r) = r {
                        usage = usage.with_reasoning_tokens(r);
                    }
                    Record::Item(Item::Usage(usage))
                }),
            ".*".prop_map(|reason| Record::Item(Item::Finish(FinishReason::Other(reason)))),
        ]
    }

    proptest! {
        #[test]
        fn records_round_trip(
            header in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            record in proptest::option::of(arb_record()),
        ) {
            let bytes = encode(header.as_deref(), record.as_ref());
            let (decoded_header, decoded) = decode(&bytes).unwrap();
            prop_assert_eq!(decoded_header.as_deref(), header.as_deref());
            prop_assert_eq!(decoded, record);
        }

        #[test]
        fn hostile_bytes_never_panic(
            flags in 0_u8..4,
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let _ = decode(&bytes);
            let mut record = vec![1, flags];
            record.extend_from_slice(&bytes);
            let _ = decode(&record);
        }

        #[test]
        fn flipped_bytes_never_panic(record in arb_record(), at in any::<usize>(), bit in 0_u8..8) {
            let mut bytes = encode(Some(b"header"), Some(&record)).to_vec();
            let at = at % bytes.len();
            bytes[at] ^= 1 << bit;
            let _ = decode(&bytes);
        }
    }
}
