//! Typed items through each LLM wire format and back (feature `llm-parse`): items → format →
//! bytes → `Parser` (the bytes whole, byte by byte, and cut at every single point) → `Decode`
//! → items, equal to the input items up to what the format cannot carry (each normalizer
//! below says what that is). Then streams shaped as the real APIs send them, and errors.

#![cfg(feature = "llm-parse")]

#[path = "support/sse.rs"]
mod sse_support;
mod support;

use std::collections::BTreeMap;

use futures::stream::{self, StreamExt};
use proptest::prelude::*;
use tokenflush::llm::{FinishReason, Item, ToolCall, Usage};
use tokenflush::sse::{
    AnthropicMessages, Decode, DecodeError, EncodeSseExt, Format, OpenAiChat, OpenAiResponses,
    ParsedEvent, Parser,
};
use tokenflush::Chunk;

// ---------------------------------------------------------------------------------------------
// Rendering, parsing, decoding

/// The bytes of `items` in `format`; each text chunk counts one token.
fn render<F: Format>(items: &[Item], format: F) -> Vec<u8> {
    let items: Vec<Item<Chunk>> = items
        .iter()
        .cloned()
        .map(|item| item.map_text(|text| Chunk::new(text).expect("test text is not empty")))
        .collect();
    let frames: Vec<_> =
        futures::executor::block_on(stream::iter(items).encode_sse_as(format).collect());
    frames.concat()
}

/// What a decoder made of `bytes` fed to a parser in pieces cut at `cuts`: the items, the
/// first error, whether the stream was complete, and whether the bytes ended with a whole
/// event.
struct Decoded {
    items: Vec<Item>,
    error: Option<DecodeError>,
    complete: bool,
    whole: bool,
}

fn decode<D: Decode + Default>(bytes: &[u8], cuts: &[usize]) -> Decoded {
    let mut cuts: Vec<usize> = cuts.iter().map(|&cut| cut.min(bytes.len())).collect();
    cuts.extend([0, bytes.len()]);
    cuts.sort_unstable();
    cuts.dedup();
    let mut parser = Parser::new();
    let mut decoder = D::default();
    let mut items = Vec::new();
    let mut error = None;
    let mut feed = |event: ParsedEvent, items: &mut Vec<Item>| {
        if error.is_none() {
            error = decoder.decode(&event, items).err();
        }
    };
    for piece in cuts.windows(2) {
        parser.feed(&bytes[piece[0]..piece[1]]);
        while let Some(event) = parser.next_event().expect("our frames parse") {
            feed(event, &mut items);
        }
    }
    let whole = parser.finish().is_ok();
    while let Some(event) = parser.next_event().expect("our frames parse") {
        feed(event, &mut items);
    }
    let complete = decoder.is_complete();
    Decoded {
        items,
        error,
        complete,
        whole,
    }
}

/// Decodes `bytes` whole, byte by byte, and cut at every single point; every way gives
/// `expected`, with no error and a complete stream.
fn assert_decodes_to<D: Decode + Default>(bytes: &[u8], expected: &[Item]) {
    let mut ways: Vec<(String, Vec<usize>)> = vec![
        ("whole".into(), vec![]),
        ("byte by byte".into(), (1..bytes.len()).collect()),
    ];
    ways.extend((1..bytes.len()).map(|cut| (format!("cut at {cut}"), vec![cut])));
    for (way, cuts) in ways {
        let decoded = decode::<D>(bytes, &cuts);
        assert!(decoded.error.is_none(), "{way}: {:?}", decoded.error);
        assert!(decoded.complete && decoded.whole, "{way}: incomplete");
        assert_eq!(decoded.items, expected, "{way}");
    }
}

/// Decodes `bytes` whole, with a quick check of a few cuts (for the property tests).
fn decoded_with<D: Decode + Default>(bytes: &[u8], cuts: &[usize]) -> Vec<Item> {
    let decoded = decode::<D>(bytes, cuts);
    assert!(decoded.error.is_none(), "{:?}", decoded.error);
    assert!(decoded.complete && decoded.whole);
    decoded.items
}

fn content(text: &str) -> Item {
    Item::Content(text.into())
}

fn reasoning(text: &str) -> Item {
    Item::Reasoning(text.into())
}

fn refusal(text: &str) -> Item {
    Item::Refusal(text.into())
}

fn call(index: u32) -> ToolCall {
    ToolCall::new(index)
}

fn start(id: &str, model: &str) -> Item {
    Item::Start {
        id: Some(id.into()),
        model: Some(model.into()),
    }
}

/// A stream with every item, in an order a model could send them.
fn sample() -> Vec<Item> {
    vec![
        Item::Start {
            id: Some("up-1".into()),
            model: None,
        },
        reasoning("Let me \"think\".\n"),
        reasoning("Done\\"),
        content("The answer\r\n"),
        Item::Logprobs(
            r#"[{"token":"The","logprob":-0.1,"bytes":[84,104,101],"top_logprobs":[]}]"#.into(),
        ),
        content(" is\u{2028} data: 42."),
        refusal("Not that."),
        Item::ToolCall(
            call(0)
                .with_id("call_a")
                .with_name("get")
                .with_arguments("{\"q\":"),
        ),
        Item::ToolCall(call(1).with_id("call_b").with_name("put")),
        Item::ToolCall(call(0).with_arguments("\"x\\ny\"}")),
        Item::ToolCall(call(1).with_arguments("{}")),
        Item::Finish(FinishReason::ToolCalls),
        Item::Usage(
            Usage::new(20, 9)
                .with_cached_input_tokens(3)
                .with_reasoning_tokens(2),
        ),
    ]
}

// ---------------------------------------------------------------------------------------------
// What each format carries: the items a decoder gives back for the items rendered

/// OpenAI chat carries everything, in order. Beyond that: the first item is a `Start` with
/// the id and model the chunks had; `Choice` comes back only where the choice changes (from
/// 0); every choice without a finish gets the default (`Stop`) at the end, in index order;
/// the usage (with `include_usage`) comes last: the stream's last, else the counted output
/// tokens; tool-call fragments without id, name or arguments say nothing.
fn chat_carries(items: &[Item], id: &str, model: &str) -> Vec<Item> {
    let (id, model) = started(items, id, model);
    let mut out = vec![start(&id, &model)];
    let mut current = 0;
    let mut emitted = 0;
    let mut choices: BTreeMap<u32, bool> = BTreeMap::new();
    let mut usage = None;
    let mut texts = 0;
    fn show(out: &mut Vec<Item>, choice: u32, emitted: &mut u32) {
        if choice != *emitted {
            out.push(Item::Choice(choice));
            *emitted = choice;
        }
    }
    for item in items {
        match item {
            Item::Start { .. } => {
                choices.entry(current).or_insert(false);
            }
            Item::Choice(index) => current = *index,
            Item::Usage(last) => usage = Some(*last),
            _ => {
                choices.entry(current).or_insert(false);
                show(&mut out, current, &mut emitted);
                if matches!(item, Item::ToolCall(fragment) if *fragment == call(fragment.index())) {
                    continue;
                }
                if matches!(item, Item::Finish(_)) {
                    choices.insert(current, true);
                }
                if item.text().is_some() {
                    texts += 1;
                }
                out.push(match item {
                    Item::Finish(reason) => {
                        Item::Finish(FinishReason::from_openai(reason.as_openai()))
                    }
                    other => other.clone(),
                });
            }
        }
    }
    if choices.is_empty() {
        choices.insert(0, false);
    }
    for (choice, finished) in choices {
        if !finished {
            show(&mut out, choice, &mut emitted);
            out.push(Item::Finish(FinishReason::Stop));
        }
    }
    out.push(Item::Usage(usage.unwrap_or(Usage::new(0, texts))));
    out
}

/// Anthropic: a `Start` first; refusals come back as answer text; logprobs and choices are
/// gone; a tool call's first fragment in a block splits into the block's start (id and name;
/// `""` is none) and its arguments, and a call's index counts blocks: fragments of a call
/// after another call opened a block make a new block, a new call; a fragment that continues
/// its block loses id and name. The finish and the usage come at the end: the stream's (the
/// finish through Anthropic's words), else `end_turn` and the counted output tokens.
fn anthropic_carries(items: &[Item], id: &str, model: &str) -> Vec<Item> {
    let (id, model) = started(items, id, model);
    let mut out = vec![start(&id, &model)];
    let mut block: Option<u32> = None;
    let mut calls = 0;
    let (mut finish, mut usage, mut texts) = (None, None, 0);
    for item in items {
        match item {
            Item::Content(text) | Item::Refusal(text) => {
                block = None;
                texts += 1;
                out.push(content(text));
            }
            Item::Reasoning(text) => {
                block = None;
                texts += 1;
                out.push(reasoning(text));
            }
            Item::ToolCall(fragment) => {
                if block != Some(fragment.index()) {
                    block = Some(fragment.index());
                    let mut opened = call(calls);
                    if let Some(id) = fragment.id().filter(|id| !id.is_empty()) {
                        opened = opened.with_id(id);
                    }
                    if let Some(name) = fragment.name().filter(|name| !name.is_empty()) {
                        opened = opened.with_name(name);
                    }
                    out.push(Item::ToolCall(opened));
                    calls += 1;
                }
                if !fragment.arguments().is_empty() {
                    out.push(Item::ToolCall(
                        call(calls - 1).with_arguments(fragment.arguments()),
                    ));
                }
            }
            Item::Finish(reason) => finish = Some(reason.clone()),
            Item::Usage(last) => usage = Some(*last),
            _ => {}
        }
    }
    let reason = finish.map_or(FinishReason::Stop, |reason| {
        FinishReason::from_anthropic(reason.as_anthropic())
    });
    out.push(Item::Finish(reason));
    out.push(Item::Usage(usage.unwrap_or(Usage::new(0, texts))));
    out
}

/// OpenAI Responses: a `Start` first; choices are gone; logprobs only right after answer text
/// (a refusal, reasoning or a call in between closes that text); a function call's first
/// fragment splits into the item (call id and name; `""` is none) and its arguments, calls
/// stay open until text comes (then a fragment of an earlier call is a new call), and a call's
/// index counts function-call items. At the end `Finish` says what the response's status can:
/// `Length` and `ContentFilter` (incomplete), else `ToolCalls` if there was a call, else
/// `Stop`; the usage always has cached and reasoning tokens (0 when unknown).
fn responses_carries(items: &[Item], id: &str, model: &str) -> Vec<Item> {
    let (id, model) = started(items, id, model);
    let mut out = vec![start(&id, &model)];
    let mut open: BTreeMap<u32, u32> = BTreeMap::new();
    let mut calls = 0;
    let mut after_answer = false;
    let (mut finish, mut usage, mut texts) = (None, None, 0);
    for item in items {
        match item {
            Item::Content(_) | Item::Reasoning(_) | Item::Refusal(_) => {
                open.clear();
                texts += 1;
                after_answer = matches!(item, Item::Content(_));
                out.push(item.clone());
            }
            Item::Logprobs(_) if after_answer => out.push(item.clone()),
            Item::ToolCall(fragment) => {
                after_answer = false;
                let index = match open.get(&fragment.index()) {
                    Some(&index) => index,
                    None => {
                        let mut opened = call(calls);
                        if let Some(id) = fragment.id().filter(|id| !id.is_empty()) {
                            opened = opened.with_id(id);
                        }
                        if let Some(name) = fragment.name().filter(|name| !name.is_empty()) {
                            opened = opened.with_name(name);
                        }
                        out.push(Item::ToolCall(opened));
                        open.insert(fragment.index(), calls);
                        calls += 1;
                        calls - 1
                    }
                };
                if !fragment.arguments().is_empty() {
                    out.push(Item::ToolCall(
                        call(index).with_arguments(fragment.arguments()),
                    ));
                }
            }
            Item::Finish(reason) => finish = Some(reason.clone()),
            Item::Usage(last) => usage = Some(*last),
            _ => {}
        }
    }
    out.push(Item::Finish(match finish {
        Some(FinishReason::Length) => FinishReason::Length,
        Some(FinishReason::ContentFilter) => FinishReason::ContentFilter,
        _ if calls > 0 => FinishReason::ToolCalls,
        _ => FinishReason::Stop,
    }));
    let usage = usage.unwrap_or(Usage::new(0, texts));
    out.push(Item::Usage(
        usage
            .with_cached_input_tokens(usage.cached_input_tokens().unwrap_or(0))
            .with_reasoning_tokens(usage.reasoning_tokens().unwrap_or(0)),
    ));
    out
}

/// The id and model the stream goes out with: the first item's `Start`, over the format's.
fn started(items: &[Item], id: &str, model: &str) -> (String, String) {
    match items.first() {
        Some(Item::Start {
            id: up_id,
            model: up_model,
        }) => (
            up_id.clone().unwrap_or_else(|| id.to_owned()),
            up_model.clone().unwrap_or_else(|| model.to_owned()),
        ),
        _ => (id.to_owned(), model.to_owned()),
    }
}

// ---------------------------------------------------------------------------------------------
// A whole stream, every way it can be cut

fn chat_format() -> OpenAiChat {
    OpenAiChat::new("chatcmpl-1", "gpt").with_include_usage(true)
}

#[test]
fn openai_chat_round_trips_at_every_cut() {
    let mut items = sample();
    // Two choices, as with `n: 2`.
    items.splice(6..6, [Item::Choice(1), content("second"), Item::Choice(0)]);
    let expected = chat_carries(&items, "chatcmpl-1", "gpt");
    assert_decodes_to::<OpenAiChat>(&render(&items, chat_format()), &expected);
    // Everything but what the format adds came back as it went.
    assert_eq!(expected[1..expected.len() - 3], items[1..items.len() - 1]);
}

#[test]
fn anthropic_round_trips_at_every_cut() {
    let items = sample();
    let expected = anthropic_carries(&items, "msg_1", "claude");
    assert_decodes_to::<AnthropicMessages>(
        &render(&items, AnthropicMessages::new("msg_1", "claude")),
        &expected,
    );
    assert_eq!(
        expected[1..],
        [
            reasoning("Let me \"think\".\n"),
            reasoning("Done\\"),
            content("The answer\r\n"),
            content(" is\u{2028} data: 42."),
            content("Not that."),
            Item::ToolCall(call(0).with_id("call_a").with_name("get")),
            Item::ToolCall(call(0).with_arguments("{\"q\":")),
            Item::ToolCall(call(1).with_id("call_b").with_name("put")),
            Item::ToolCall(call(2)),
            Item::ToolCall(call(2).with_arguments("\"x\\ny\"}")),
            Item::ToolCall(call(3)),
            Item::ToolCall(call(3).with_arguments("{}")),
            Item::Finish(FinishReason::ToolCalls),
            Item::Usage(
                Usage::new(20, 9)
                    .with_cached_input_tokens(3)
                    .with_reasoning_tokens(2)
            ),
        ]
    );
}

#[test]
fn openai_responses_round_trips_at_every_cut() {
    let items = sample();
    let expected = responses_carries(&items, "resp_1", "gpt");
    assert_decodes_to::<OpenAiResponses>(
        &render(&items, OpenAiResponses::new("resp_1", "gpt")),
        &expected,
    );
    assert_eq!(
        expected[1..],
        [
            reasoning("Let me \"think\".\n"),
            reasoning("Done\\"),
            content("The answer\r\n"),
            Item::Logprobs(
                r#"[{"token":"The","logprob":-0.1,"bytes":[84,104,101],"top_logprobs":[]}]"#.into()
            ),
            content(" is\u{2028} data: 42."),
            refusal("Not that."),
            Item::ToolCall(call(0).with_id("call_a").with_name("get")),
            Item::ToolCall(call(0).with_arguments("{\"q\":")),
            Item::ToolCall(call(1).with_id("call_b").with_name("put")),
            Item::ToolCall(call(0).with_arguments("\"x\\ny\"}")),
            Item::ToolCall(call(1).with_arguments("{}")),
            Item::Finish(FinishReason::ToolCalls),
            Item::Usage(
                Usage::new(20, 9)
                    .with_cached_input_tokens(3)
                    .with_reasoning_tokens(2)
            ),
        ]
    );
}

#[test]
fn a_stream_cut_short_is_not_complete() {
    fn check<F: Format + Decode + Default>(format: F) {
        let bytes = render(&sample(), format);
        for len in [0, bytes.len() / 2, bytes.len() - 3] {
            let decoded = decode::<F>(&bytes[..len], &[]);
            assert!(!decoded.complete, "{len} of {} bytes", bytes.len());
        }
    }
    check(chat_format());
    check(AnthropicMessages::new("m", "c"));
    check(OpenAiResponses::new("r", "m"));
}

// ---------------------------------------------------------------------------------------------
// Any stream

fn text() -> impl Strategy<Value = String> {
    sse_support::hostile_text().prop_filter("text is never empty", |text| !text.is_empty())
}

/// One item of a stream's body: text of each kind, tool-call fragments (a call's first
/// fragment names it; later ones carry arguments), logprobs and, for chat, choices.
fn body_item(choices: bool) -> impl Strategy<Value = Item> {
    let logprobs = (any::<u8>(), "[a-z ]{0,4}").prop_map(|(logprob, token)| {
        Item::Logprobs(format!(r#"[{{"token":{token:?},"logprob":-{logprob}}}]"#))
    });
    let tool_call = (
        0..4_u32,
        any::<bool>(),
        "[a-z_]{1,6}",
        text(),
        prop::option::of(text()),
    )
        .prop_map(|(index, first, name, id, arguments)| {
            let fragment = call(index).with_arguments(arguments.unwrap_or_default());
            if first {
                Item::ToolCall(fragment.with_id(format!("call_{id}")).with_name(name))
            } else {
                Item::ToolCall(fragment)
            }
        });
    let choice = if choices { 0..3_u32 } else { 0..1 };
    prop_oneof![
        4 => text().prop_map(Item::Content),
        2 => text().prop_map(Item::Reasoning),
        1 => text().prop_map(Item::Refusal),
        3 => tool_call,
        1 => logprobs,
        1 => choice.prop_map(Item::Choice),
    ]
}

fn finish() -> impl Strategy<Value = FinishReason> {
    prop_oneof![
        Just(FinishReason::Stop),
        Just(FinishReason::Length),
        Just(FinishReason::ToolCalls),
        Just(FinishReason::ContentFilter),
        "[a-z_]{1,8}".prop_map(|reason| FinishReason::from_openai(&reason)),
    ]
}

fn usage() -> impl Strategy<Value = Usage> {
    (
        any::<u32>(),
        any::<u32>(),
        prop::option::of(any::<u32>()),
        prop::option::of(any::<u32>()),
    )
        .prop_map(|(input, output, cached, reasoning)| {
            let mut usage = Usage::new(input.into(), output.into());
            if let Some(cached) = cached {
                usage = usage.with_cached_input_tokens(cached.into());
            }
            if let Some(reasoning) = reasoning {
                usage = usage.with_reasoning_tokens(reasoning.into());
            }
            usage
        })
}

/// A stream: maybe a start, a body, maybe a finish, maybe a usage.
fn stream_of(choices: bool) -> impl Strategy<Value = Vec<Item>> {
    (
        prop::option::of((
            prop::option::of("[a-z0-9-]{1,8}"),
            prop::option::of("[a-z0-9.-]{1,8}"),
        )),
        prop::collection::vec(body_item(choices), 0..24),
        prop::option::of(finish()),
        prop::option::of(usage()),
    )
        .prop_map(|(start, body, finish, usage)| {
            let mut items: Vec<Item> = start
                .into_iter()
                .map(|(id, model)| Item::Start { id, model })
                .collect();
            items.extend(body);
            items.extend(finish.map(Item::Finish));
            items.extend(usage.map(Item::Usage));
            items
        })
}

/// Cut positions for a proptest case: a few, anywhere.
fn cuts(cuts: &[prop::sample::Index], len: usize) -> Vec<usize> {
    sse_support::positions(cuts, len)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(support::cases(64)))]

    #[test]
    fn any_openai_chat_stream_round_trips(items in stream_of(true), at in sse_support::cuts()) {
        let bytes = render(&items, chat_format());
        let expected = chat_carries(&items, "chatcmpl-1", "gpt");
        prop_assert_eq!(decoded_with::<OpenAiChat>(&bytes, &[]), expected.clone());
        prop_assert_eq!(decoded_with::<OpenAiChat>(&bytes, &cuts(&at, bytes.len())), expected);
    }

    #[test]
    fn any_anthropic_stream_round_trips(items in stream_of(false), at in sse_support::cuts()) {
        let bytes = render(&items, AnthropicMessages::new("msg_1", "claude"));
        let expected = anthropic_carries(&items, "msg_1", "claude");
        prop_assert_eq!(decoded_with::<AnthropicMessages>(&bytes, &[]), expected.clone());
        prop_assert_eq!(decoded_with::<AnthropicMessages>(&bytes, &cuts(&at, bytes.len())), expected);
    }

    #[test]
    fn any_openai_responses_stream_round_trips(items in stream_of(false), at in sse_support::cuts()) {
        let bytes = render(&items, OpenAiResponses::new("resp_1", "gpt"));
        let expected = responses_carries(&items, "resp_1", "gpt");
        prop_assert_eq!(decoded_with::<OpenAiResponses>(&bytes, &[]), expected.clone());
        prop_assert_eq!(decoded_with::<OpenAiResponses>(&bytes, &cuts(&at, bytes.len())), expected);
    }

    /// A proxy's round: decoded from one format, rendered in another, decoded again — the
    /// text of each kind survives in order, whatever the formats.
    #[test]
    fn text_survives_any_chain_of_formats(items in stream_of(false)) {
        let texts = |items: &[Item]| -> Vec<(bool, String)> {
            items
                .iter()
                .filter_map(|item| match item {
                    Item::Reasoning(text) => Some((true, text.clone())),
                    Item::Content(text) | Item::Refusal(text) => Some((false, text.clone())),
                    _ => None,
                })
                .collect()
        };
        let via_chat = decoded_with::<OpenAiChat>(&render(&items, chat_format()), &[]);
        let via_responses = decoded_with::<OpenAiResponses>(&render(&via_chat, OpenAiResponses::default()), &[]);
        let via_anthropic = decoded_with::<AnthropicMessages>(&render(&via_responses, AnthropicMessages::default()), &[]);
        prop_assert_eq!(texts(&via_anthropic), texts(&items));
    }
}

// ---------------------------------------------------------------------------------------------
// Streams as the APIs send them

fn decode_body<D: Decode + Default>(body: &str) -> Decoded {
    decode::<D>(body.as_bytes(), &[])
}

#[test]
fn an_openai_chat_stream_with_tools_and_usage() {
    let head = r#"{"id":"chatcmpl-B","object":"chat.completion.chunk","created":1,"model":"gpt-4o-2024-08-06","service_tier":"default","system_fingerprint":"fp_1","choices":"#;
    let body = [
        format!(r#"data: {head}[{{"index":0,"delta":{{"role":"assistant","content":null,"refusal":null}},"logprobs":null,"finish_reason":null}}],"usage":null,"obfuscation":"x"}}"#),
        format!(r#"data: {head}[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"id":"call_1","type":"function","function":{{"name":"get_weather","arguments":""}}}}]}},"logprobs":null,"finish_reason":null}}],"usage":null}}"#),
        format!(r#"data: {head}[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"function":{{"arguments":"{{\"city\":"}}}}]}},"logprobs":null,"finish_reason":null}}],"usage":null}}"#),
        format!(r#"data: {head}[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"function":{{"arguments":""}}}}]}},"logprobs":null,"finish_reason":null}}],"usage":null}}"#),
        format!(r#"data: {head}[{{"index":0,"delta":{{}},"logprobs":null,"finish_reason":"tool_calls"}}],"usage":null}}"#),
        format!(r#"data: {head}[],"usage":{{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15,"prompt_tokens_details":{{"cached_tokens":0,"audio_tokens":0}},"completion_tokens_details":{{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}}}}"#),
        "data: [DONE]".to_owned(),
    ]
    .join("\n\n")
        + "\n\n";
    let decoded = decode_body::<OpenAiChat>(&body);
    assert!(decoded.error.is_none() && decoded.complete);
    assert_eq!(
        decoded.items,
        [
            start("chatcmpl-B", "gpt-4o-2024-08-06"),
            Item::ToolCall(call(0).with_id("call_1").with_name("get_weather")),
            Item::ToolCall(call(0).with_arguments("{\"city\":")),
            Item::Finish(FinishReason::ToolCalls),
            Item::Usage(
                Usage::new(10, 5)
                    .with_cached_input_tokens(0)
                    .with_reasoning_tokens(0)
            ),
        ]
    );
}

#[test]
fn reasoning_from_vllm_and_openrouter_fields() {
    let chunk = |delta: &str| {
        format!(
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"logprobs\":null,\"finish_reason\":null}}]}}\n\n"
        )
    };
    let body = [
        // vLLM during the rename: both fields, the same text.
        chunk(r#"{"reasoning_content":"A","reasoning":"A"}"#),
        chunk(r#"{"reasoning":"B"}"#),
        chunk(r#"{"reasoning_content":"C","content":null}"#),
        chunk(r#"{"reasoning_content":null,"content":"D"}"#),
        chunk(r#"{"reasoning_content":"","content":"","refusal":null}"#),
    ]
    .concat();
    let decoded = decode_body::<OpenAiChat>(&body);
    assert_eq!(
        decoded.items,
        [
            start("c", "m"),
            reasoning("A"),
            reasoning("B"),
            reasoning("C"),
            content("D")
        ]
    );
    assert!(!decoded.complete, "no [DONE]");
}

#[test]
fn an_anthropic_stream_with_thinking_and_a_tool() {
    let body = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":472,\"cache_read_input_tokens\":100,\"output_tokens\":2}}}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\",\"signature\":\"\"}}\n\n",
        "event: ping\ndata: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Weather.\"}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQB\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"toolu_01\",\"name\":\"get_weather\",\"input\":{}}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\"}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"city\\\": \\\"Paris\\\"}\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":1}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{}}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":2}\n\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":89,\"output_tokens_details\":{\"thinking_tokens\":12}}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );
    let decoded = decode_body::<AnthropicMessages>(body);
    assert!(decoded.error.is_none() && decoded.complete);
    let other = |event: &str, data: &str| Item::Other {
        format: "anthropic-messages",
        event: Some(event.into()),
        data: data.into(),
    };
    assert_eq!(
        decoded.items,
        [
            start("msg_01", "claude-sonnet-4-5"),
            reasoning("Weather."),
            other("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQB\"}}"),
            Item::ToolCall(call(0).with_id("toolu_01").with_name("get_weather")),
            Item::ToolCall(call(0).with_arguments("{\"city\": \"Paris\"}")),
            other("content_block_start", "{\"type\":\"content_block_start\",\"index\":2,\"content_block\":{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_1\",\"name\":\"web_search\",\"input\":{}}}"),
            other("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":2}"),
            Item::Finish(FinishReason::ToolCalls),
            // Input tokens from `message_start`, where the API gives them.
            Item::Usage(Usage::new(472, 89).with_cached_input_tokens(100).with_reasoning_tokens(12)),
        ]
    );
    // Rendered again as Anthropic, the signature goes with its block.
    let items: Vec<Item> = decoded.items;
    let bytes = render(&items, AnthropicMessages::default());
    let text = String::from_utf8(bytes).unwrap();
    assert!(text
        .contains("\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQB\"}"));
    assert!(
        !text.contains("signature_delta\",\"signature\":\"\""),
        "no empty signature besides the upstream's"
    );
}

#[test]
fn an_openai_responses_stream_with_a_reasoning_summary() {
    let response = |status: &str, output: &str, usage: &str| {
        format!(
            r#"{{"id":"resp_9","object":"response","created_at":1,"status":"{status}","model":"o4-mini","output":[{output}],"usage":{usage}}}"#
        )
    };
    let reasoning_item = r#"{"id":"rs_1","type":"reasoning","summary":[]}"#;
    let message =
        r#"{"id":"msg_1","type":"message","status":"in_progress","content":[],"role":"assistant"}"#;
    let events = [
        ("response.created", format!(r#"{{"type":"response.created","sequence_number":0,"response":{}}}"#, response("in_progress", "", "null"))),
        ("response.in_progress", format!(r#"{{"type":"response.in_progress","sequence_number":1,"response":{}}}"#, response("in_progress", "", "null"))),
        ("response.output_item.added", format!(r#"{{"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{reasoning_item}}}"#)),
        ("response.reasoning_summary_part.added", r#"{"type":"response.reasoning_summary_part.added","sequence_number":3,"item_id":"rs_1","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":""}}"#.to_owned()),
        ("response.reasoning_summary_text.delta", r#"{"type":"response.reasoning_summary_text.delta","sequence_number":4,"item_id":"rs_1","output_index":0,"summary_index":0,"delta":"**Plan**"}"#.to_owned()),
        ("response.reasoning_summary_text.done", r#"{"type":"response.reasoning_summary_text.done","sequence_number":5,"item_id":"rs_1","output_index":0,"summary_index":0,"text":"**Plan**"}"#.to_owned()),
        ("response.output_item.done", format!(r#"{{"type":"response.output_item.done","sequence_number":6,"output_index":0,"item":{reasoning_item}}}"#)),
        ("response.output_item.added", format!(r#"{{"type":"response.output_item.added","sequence_number":7,"output_index":1,"item":{message}}}"#)),
        ("response.content_part.added", r#"{"type":"response.content_part.added","sequence_number":8,"item_id":"msg_1","output_index":1,"content_index":0,"part":{"type":"output_text","annotations":[],"logprobs":[],"text":""}}"#.to_owned()),
        ("response.output_text.delta", r#"{"type":"response.output_text.delta","sequence_number":9,"item_id":"msg_1","output_index":1,"content_index":0,"delta":"Hi","logprobs":[]}"#.to_owned()),
        ("response.output_text.annotation.added", r#"{"type":"response.output_text.annotation.added","sequence_number":10,"item_id":"msg_1","output_index":1,"content_index":0,"annotation_index":0,"annotation":{"type":"url_citation"}}"#.to_owned()),
        ("response.output_text.done", r#"{"type":"response.output_text.done","sequence_number":11,"item_id":"msg_1","output_index":1,"content_index":0,"text":"Hi","logprobs":[]}"#.to_owned()),
        ("response.completed", format!(r#"{{"type":"response.completed","sequence_number":12,"response":{}}}"#, response("completed", message, r#"{"input_tokens":8,"input_tokens_details":{"cached_tokens":0},"output_tokens":30,"output_tokens_details":{"reasoning_tokens":20},"total_tokens":38}"#))),
    ];
    let body: String = events
        .iter()
        .map(|(kind, data)| format!("event: {kind}\ndata: {data}\n\n"))
        .collect();
    let decoded = decode_body::<OpenAiResponses>(&body);
    assert!(decoded.error.is_none() && decoded.complete);
    assert_eq!(
        decoded.items,
        [
            start("resp_9", "o4-mini"),
            reasoning("**Plan**"),
            content("Hi"),
            Item::Other {
                format: "openai-responses",
                event: Some("response.output_text.annotation.added".into()),
                data: events[10].1.clone(),
            },
            Item::Finish(FinishReason::Stop),
            Item::Usage(
                Usage::new(8, 30)
                    .with_cached_input_tokens(0)
                    .with_reasoning_tokens(20)
            ),
        ]
    );
}

#[test]
fn the_upstreams_error_events_are_errors() {
    fn error_of<D: Decode + Default>(body: &str) -> String {
        match decode_body::<D>(body).error {
            Some(DecodeError::Upstream { message, .. }) => message,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(
        error_of::<OpenAiChat>(
            "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\"}}\n\n"
        ),
        "boom"
    );
    assert_eq!(
        error_of::<AnthropicMessages>("event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n"),
        "Overloaded"
    );
    assert_eq!(
        error_of::<OpenAiResponses>("event: error\ndata: {\"type\":\"error\",\"sequence_number\":0,\"code\":\"server_error\",\"message\":\"down\",\"param\":null}\n\n"),
        "down"
    );
    assert_eq!(
        error_of::<OpenAiResponses>("event: response.failed\ndata: {\"type\":\"response.failed\",\"sequence_number\":5,\"response\":{\"id\":\"r\",\"status\":\"failed\",\"error\":{\"code\":\"server_error\",\"message\":\"it broke\"}}}\n\n"),
        "it broke"
    );
    // What the formats send when upstream fails, read back.
    fn failed<F: Format + Decode + Default>(format: F) -> String {
        let items = stream::iter([
            Ok(Item::Content(Chunk::new("partial").unwrap())),
            Err("model \"crashed\""),
        ]);
        let frames: Vec<_> = futures::executor::block_on(items.encode_sse_as(format).collect());
        let decoded = decode::<F>(&frames.concat(), &[]);
        // The default format names no id and no model: no `Start`.
        assert_eq!(decoded.items, [content("partial")]);
        assert!(!decoded.complete);
        decoded
            .error
            .expect("the error event decodes as an error")
            .to_string()
    }
    assert_eq!(
        failed(OpenAiChat::default()),
        "the upstream failed: model \"crashed\""
    );
    assert_eq!(
        failed(AnthropicMessages::default()),
        "the upstream failed: model \"crashed\""
    );
    assert_eq!(
        failed(OpenAiResponses::default()),
        "the upstream failed: model \"crashed\""
    );
}

#[test]
fn data_that_is_not_the_formats_json_is_an_error_and_unknown_events_pass_on() {
    let error = decode_body::<OpenAiChat>("data: {\"id\":\n\n").error;
    assert!(
        matches!(
            error,
            Some(DecodeError::Data {
                format: "openai-chat",
                ..
            })
        ),
        "{error:?}"
    );
    assert!(error
        .unwrap()
        .to_string()
        .starts_with("openai-chat event data is not the format's JSON: "));
    let error = decode_body::<AnthropicMessages>("event: content_block_delta\ndata: [1]\n\n").error;
    assert!(
        matches!(
            error,
            Some(DecodeError::Data {
                format: "anthropic-messages",
                ..
            })
        ),
        "{error:?}"
    );
    let error = decode_body::<OpenAiResponses>("data: not json\n\n").error;
    assert!(
        matches!(
            error,
            Some(DecodeError::Data {
                format: "openai-responses",
                ..
            })
        ),
        "{error:?}"
    );

    let other = |format, event: Option<&str>, data: &str| Item::Other {
        format,
        event: event.map(str::to_owned),
        data: data.into(),
    };
    let decoded = decode_body::<AnthropicMessages>(
        "event: future_event\ndata: anything\n\ndata: no event type\n\n",
    );
    assert_eq!(
        decoded.items,
        [
            other("anthropic-messages", Some("future_event"), "anything"),
            other("anthropic-messages", None, "no event type"),
        ]
    );
    let decoded = decode_body::<OpenAiChat>(
        "event: custom\ndata: x\n\ndata: {\"object\":\"\",\"choices\":[]}\n\n",
    );
    assert_eq!(
        decoded.items,
        [
            other("openai-chat", Some("custom"), "x"),
            other("openai-chat", None, "{\"object\":\"\",\"choices\":[]}"),
        ]
    );
    let decoded = decode_body::<OpenAiResponses>(
        "event: response.future\ndata: {\"type\":\"response.future\",\"sequence_number\":3}\n\n",
    );
    assert_eq!(
        decoded.items,
        [other(
            "openai-responses",
            Some("response.future"),
            "{\"type\":\"response.future\",\"sequence_number\":3}"
        )]
    );
}

// ---------------------------------------------------------------------------------------------
// parse_items: a body as items, and a proxy from one format to another

/// `bytes` as a body of pieces of `size` bytes.
fn body(bytes: &[u8], size: usize) -> impl futures::Stream<Item = Result<Vec<u8>, std::io::Error>> {
    stream::iter(
        bytes
            .chunks(size)
            .map(|piece| Ok(piece.to_vec()))
            .collect::<Vec<_>>(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_proxy_rechunks_one_format_into_another() {
    use std::time::Duration;
    use tokenflush::policy::TimeBounded;
    use tokenflush::sse::ParseSseExt;
    use tokenflush::TryFlushExt;

    // An OpenAI chat upstream, one token per event.
    let mut upstream = vec![
        start("chatcmpl-9", "m"),
        reasoning("Think"),
        reasoning("ing."),
    ];
    upstream.extend(["Hel", "lo", ", wor", "ld"].map(content));
    upstream.push(Item::ToolCall(call(0).with_arguments("{}")));
    upstream.push(Item::Finish(FinishReason::ToolCalls));
    upstream.push(Item::Usage(Usage::new(5, 8)));
    let bytes = render(&upstream, chat_format().with_include_usage(true));
    for size in [1, 7, bytes.len()] {
        // The proxy: parse, re-chunk the text by a policy, render Anthropic's format.
        let frames: Vec<_> = body(&bytes, size)
            .parse_items(Parser::new(), OpenAiChat::default())
            .try_flush_with(
                TimeBounded::new(8, Duration::from_millis(50)).with_immediate_first(false),
            )
            .encode_sse_as(AnthropicMessages::new("msg_1", "claude"))
            .collect()
            .await;
        let out = frames.concat();
        let items = decoded_with::<AnthropicMessages>(&out, &[]);
        let text: String = items
            .iter()
            .filter_map(|item| match item {
                Item::Content(text) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(text, "Hello, world", "pieces of {size}");
        assert!(
            items.contains(&reasoning("Thinking.")),
            "reasoning merged whole: {items:?}"
        );
        assert!(
            items.contains(&Item::Finish(FinishReason::ToolCalls)),
            "{items:?}"
        );
        let contents = items
            .iter()
            .filter(|item| matches!(item, Item::Content(_)))
            .count();
        assert_eq!(
            contents, 1,
            "four text tokens re-chunked into one: {items:?}"
        );
    }
}

#[tokio::test]
async fn a_body_cut_between_events_ends_with_unterminated() {
    use tokenflush::sse::ParseSseExt;

    let bytes = render(
        &[content("Hi"), Item::Finish(FinishReason::Stop)],
        chat_format(),
    );
    let done = b"data: [DONE]\n\n";
    assert!(bytes.ends_with(done));
    let cut = &bytes[..bytes.len() - done.len()];
    let items: Vec<_> = body(cut, 5)
        .parse_items(Parser::new(), OpenAiChat::default())
        .collect()
        .await;
    assert!(
        matches!(items.last(), Some(Err(DecodeError::Unterminated))),
        "{items:?}"
    );
    assert!(items[..items.len() - 1].iter().all(Result::is_ok));
    // Whole, it is complete.
    let items: Vec<_> = body(&bytes, 5)
        .parse_items(Parser::new(), OpenAiChat::default())
        .collect()
        .await;
    assert!(items.iter().all(Result::is_ok), "{items:?}");
}

#[tokio::test]
async fn errors_come_after_the_items_before_them_and_the_stream_goes_on() {
    use tokenflush::sse::{ParseError, ParseSseExt};

    let error = b"event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
    let mut bytes = render(
        &[start("msg_1", "c"), content("Hi")],
        AnthropicMessages::default(),
    );
    // Cut before the stream's end, then the API's error event.
    let stop = bytes
        .windows(b"event: content_block_stop".len())
        .position(|window| window == b"event: content_block_stop")
        .unwrap_or(bytes.len());
    bytes.truncate(stop);
    bytes.extend_from_slice(error);
    let pieces = stream::iter([Ok(bytes), Err(std::io::Error::other("connection reset"))]);
    let items: Vec<_> = pieces
        .parse_items(Parser::new(), AnthropicMessages::default())
        .collect()
        .await;
    let shown: Vec<String> = items
        .iter()
        .map(|item| match item {
            Ok(item) => format!("{item:?}"),
            Err(error) => error.to_string(),
        })
        .collect();
    let text_at = shown
        .iter()
        .position(|s| s.contains("Content(\"Hi\")"))
        .unwrap();
    let error_at = shown
        .iter()
        .position(|s| s == "the upstream failed: Overloaded")
        .unwrap();
    assert!(text_at < error_at, "{shown:?}");
    assert!(
        items
            .iter()
            .any(|item| matches!(item, Err(DecodeError::Parse(ParseError::Body(_))))),
        "{shown:?}"
    );
    assert!(
        matches!(items.last(), Some(Err(DecodeError::Unterminated))),
        "{shown:?}"
    );
}

#[test]
fn a_body_of_pings_does_not_keep_the_task() {
    use std::pin::pin;
    use std::task::{Context, Poll};

    use futures::Stream;
    use tokenflush::sse::ParseSseExt;

    // An always-ready body of Anthropic pings: events that decode to nothing.
    let pings = stream::iter(std::iter::repeat_with(|| {
        Ok::<_, std::io::Error>(&b"event: ping\ndata: {\"type\":\"ping\"}\n\n"[..])
    }));
    let mut items = pin!(pings.parse_items(Parser::new(), AnthropicMessages::default()));
    let (wakes, waker) = support::CountingWaker::new();
    let mut cx = Context::from_waker(&waker);
    for poll in 1..=3 {
        assert!(matches!(items.as_mut().poll_next(&mut cx), Poll::Pending));
        assert_eq!(wakes.wakes(), poll, "it asks to be polled again at once");
    }
}
