//! A small JSON reader for the JSON the formats pass on without owning it: the logprobs of
//! `Item::Logprobs` and the data of `Item::Other`. The formats write JSON by hand (no serde in
//! rendering); JSON from elsewhere is checked and rewritten without insignificant whitespace
//! before it reaches the wire, so that it is one line that no input can break or forge.
//!
//! Linear in the input, iterative (no recursion, so no nesting depth can overflow the stack).

use bytes::BytesMut;

use crate::sse::encode::write_decimal;

/// Writes `json`, a JSON value with optional whitespace around it, to `out` without
/// insignificant whitespace; `false` (and `out` as it was) if `json` is not one JSON value.
pub(super) fn write_compact(out: &mut BytesMut, json: &str) -> bool {
    let input = json.as_bytes();
    let start = out.len();
    let end = value(input, 0, out).map(|end| skip_ws(input, end));
    if end == Some(input.len()) {
        true
    } else {
        out.truncate(start);
        false
    }
}

/// Whether `json` is a JSON array (with optional whitespace around it).
pub(super) fn is_array(json: &str) -> bool {
    json.as_bytes().get(skip_ws(json.as_bytes(), 0)) == Some(&b'[')
}

/// The members of `json`, a JSON object: each raw key (quotes included, escapes as they were)
/// with its raw value (whitespace around it trimmed). `None` if `json` is not one JSON object.
pub(super) fn members(json: &str) -> Option<Vec<(&str, &str)>> {
    let input = json.as_bytes();
    let mut scratch = BytesMut::new();
    let mut at = skip_ws(input, 0);
    if input.get(at) != Some(&b'{') {
        return None;
    }
    at = skip_ws(input, at + 1);
    let mut members = Vec::new();
    if input.get(at) == Some(&b'}') {
        at += 1;
    } else {
        loop {
            let key_end = string(input, at, &mut scratch)?;
            let key = &json[at..key_end];
            at = skip_ws(input, key_end);
            if input.get(at) != Some(&b':') {
                return None;
            }
            let value_start = skip_ws(input, at + 1);
            scratch.clear();
            let value_end = value(input, value_start, &mut scratch)?;
            members.push((key, &json[value_start..value_end]));
            at = skip_ws(input, value_end);
            match input.get(at) {
                Some(b',') => at = skip_ws(input, at + 1),
                Some(b'}') => {
                    at += 1;
                    break;
                }
                _ => return None,
            }
        }
    }
    (skip_ws(input, at) == input.len()).then_some(members)
}

/// The raw value of member `key` (a plain key, written without escapes) of the object `json`.
pub(super) fn member<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    find(&members(json)?, key)
}

/// The raw value of member `key` among `members`.
pub(super) fn find<'a>(members: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    members
        .iter()
        .find(|(raw, _)| key_is(raw, key))
        .map(|&(_, value)| value)
}

/// Whether a raw key (quoted) is `key`.
fn key_is(raw: &str, key: &str) -> bool {
    raw.len() == key.len() + 2 && &raw[1..raw.len() - 1] == key
}

/// Writes the object of `members` (from [`members`]) compactly, with the members named in
/// `numbers` set to those numbers: in place where the object has them, added at the end
/// where it has not.
pub(super) fn write_object_with(
    out: &mut BytesMut,
    members: &[(&str, &str)],
    numbers: &[(&str, u64)],
) {
    out.extend_from_slice(b"{");
    let mut first = true;
    let mut comma = |out: &mut BytesMut| {
        if !std::mem::take(&mut first) {
            out.extend_from_slice(b",");
        }
    };
    for &(key, value) in members {
        comma(out);
        out.extend_from_slice(key.as_bytes());
        out.extend_from_slice(b":");
        match numbers.iter().find(|(name, _)| key_is(key, name)) {
            Some(&(_, number)) => write_decimal(out, u128::from(number)),
            // Checked by `members`: it is JSON.
            None => {
                write_compact(out, value);
            }
        }
    }
    for &(name, number) in numbers {
        if !members.iter().any(|(key, _)| key_is(key, name)) {
            comma(out);
            out.extend_from_slice(b"\"");
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(b"\":");
            write_decimal(out, u128::from(number));
        }
    }
    out.extend_from_slice(b"}");
}

/// The string `raw` (a JSON string) is, if it holds no escapes.
pub(super) fn plain_str(raw: &str) -> Option<&str> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('\\')).then_some(inner)
}

/// `raw` as a `u64`, if it is a plain non-negative JSON integer.
pub(super) fn as_u64(raw: &str) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

fn skip_ws(input: &[u8], mut at: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\n' | b'\r') = input.get(at) {
        at += 1;
    }
    at
}

/// Reads one JSON value at `at` (after whitespace), writes it compactly to `out` and returns
/// where it ends.
fn value(input: &[u8], mut at: usize, out: &mut BytesMut) -> Option<usize> {
    // The open containers, innermost last: `[` or `{`.
    let mut open: Vec<u8> = Vec::new();
    loop {
        at = skip_ws(input, at);
        // A value starts here.
        match *input.get(at)? {
            bracket @ (b'{' | b'[') => {
                out.extend_from_slice(&[bracket]);
                let close = if bracket == b'{' { b'}' } else { b']' };
                let next = skip_ws(input, at + 1);
                if input.get(next) == Some(&close) {
                    out.extend_from_slice(&[close]);
                    at = next + 1;
                } else {
                    open.push(bracket);
                    at = if bracket == b'{' {
                        key(input, next, out)?
                    } else {
                        next
                    };
                    continue;
                }
            }
            b'"' => at = string(input, at, out)?,
            b't' => at = literal(input, at, b"true", out)?,
            b'f' => at = literal(input, at, b"false", out)?,
            b'n' => at = literal(input, at, b"null", out)?,
            b'-' | b'0'..=b'9' => at = number(input, at, out)?,
            _ => return None,
        }
        // A value ended: close the containers it ends, or go on to the next member.
        loop {
            let Some(&container) = open.last() else {
                return Some(at);
            };
            at = skip_ws(input, at);
            match (container, *input.get(at)?) {
                (_, b',') => {
                    out.extend_from_slice(b",");
                    at += 1;
                    if container == b'{' {
                        at = key(input, skip_ws(input, at), out)?;
                    }
                    break;
                }
                (b'{', b'}') | (b'[', b']') => {
                    out.extend_from_slice(&input[at..=at]);
                    at += 1;
                    open.pop();
                }
                _ => return None,
            }
        }
    }
}

/// A member's key and its colon.
fn key(input: &[u8], at: usize, out: &mut BytesMut) -> Option<usize> {
    let end = skip_ws(input, string(input, at, out)?);
    (input.get(end) == Some(&b':')).then(|| {
        out.extend_from_slice(b":");
        end + 1
    })
}

/// A string, copied as it is (escapes and all): no raw control character, valid escapes.
fn string(input: &[u8], at: usize, out: &mut BytesMut) -> Option<usize> {
    if input.get(at) != Some(&b'"') {
        return None;
    }
    let mut end = at + 1;
    loop {
        match *input.get(end)? {
            b'"' => break,
            b'\\' => {
                end += match *input.get(end + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => 2,
                    b'u' if input
                        .get(end + 2..end + 6)?
                        .iter()
                        .all(u8::is_ascii_hexdigit) =>
                    {
                        6
                    }
                    _ => return None,
                };
            }
            0x00..=0x1F => return None,
            _ => end += 1,
        }
    }
    out.extend_from_slice(&input[at..=end]);
    Some(end + 1)
}

fn literal(input: &[u8], at: usize, word: &[u8], out: &mut BytesMut) -> Option<usize> {
    let end = at + word.len();
    (input.get(at..end)? == word).then(|| {
        out.extend_from_slice(word);
        end
    })
}

/// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
fn number(input: &[u8], at: usize, out: &mut BytesMut) -> Option<usize> {
    let digits = |from: usize| {
        let count = input[from.min(input.len())..]
            .iter()
            .take_while(|byte| byte.is_ascii_digit())
            .count();
        (count > 0).then_some(from + count)
    };
    let mut end = at;
    if input.get(end) == Some(&b'-') {
        end += 1;
    }
    end = match input.get(end)? {
        b'0' => end + 1,
        b'1'..=b'9' => digits(end)?,
        _ => return None,
    };
    if input.get(end) == Some(&b'.') {
        end = digits(end + 1)?;
    }
    if let Some(b'e' | b'E') = input.get(end) {
        end += 1;
        if let Some(b'+' | b'-') = input.get(end) {
            end += 1;
        }
        end = digits(end)?;
    }
    out.extend_from_slice(&input[at..end]);
    Some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(json: &str) -> Option<String> {
        let mut out = BytesMut::new();
        write_compact(&mut out, json).then(|| String::from_utf8(out.to_vec()).unwrap())
    }

    #[test]
    fn valid_json_is_written_without_whitespace() {
        let cases = [
            (" [ ] ", "[]"),
            ("{ }", "{}"),
            (
                "[ {\"token\" : \"a b\",\r\n \"logprob\": -0.5e-3, \"bytes\": [97, 32]} ]",
                r#"[{"token":"a b","logprob":-0.5e-3,"bytes":[97,32]}]"#,
            ),
            (
                r#"{"a":[true,false,null,0,-1.25,"\"\\\n\u2028"]}"#,
                r#"{"a":[true,false,null,0,-1.25,"\"\\\n\u2028"]}"#,
            ),
            ("\"x\"", "\"x\""),
            ("[[[[]]]]", "[[[[]]]]"),
        ];
        for (input, expected) in cases {
            assert_eq!(compact(input).as_deref(), Some(expected), "{input:?}");
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for input in [
            "",
            " ",
            "[",
            "]",
            "[1,]",
            "{\"a\"}",
            "{\"a\":1,}",
            "{1:2}",
            "[01]",
            "[1.]",
            "[-]",
            "[1e]",
            "\"raw\nline\"",
            "\"\\x\"",
            "\"\\u12g4\"",
            "[1] [2]",
            "tru",
            "nul",
            "[\"a\"",
            "{\"a\":1",
            "[1 2]",
            "{\"a\" 1}",
            "\"unterminated",
        ] {
            assert_eq!(compact(input), None, "{input:?}");
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow_the_stack() {
        let deep = "[".repeat(1_000_000) + &"]".repeat(1_000_000);
        assert_eq!(compact(&deep).map(|json| json.len()), Some(2_000_000));
        assert_eq!(compact(&"[".repeat(1_000_000)), None);
    }

    #[test]
    fn members_of_an_object() {
        let json = r#" { "type" : "x", "index":3 ,"deep":{"a":[1, 2]} } "#;
        assert_eq!(
            members(json),
            Some(vec![
                (r#""type""#, r#""x""#),
                (r#""index""#, "3"),
                (r#""deep""#, r#"{"a":[1, 2]}"#),
            ])
        );
        assert_eq!(member(json, "index").and_then(as_u64), Some(3));
        assert_eq!(member(json, "missing"), None);
        assert_eq!(members("{}"), Some(vec![]));
        assert_eq!(members("[1]"), None);
        assert_eq!(members("{\"a\":1} x"), None);
        assert_eq!(as_u64("-1"), None);
        assert_eq!(as_u64("1.0"), None);
        assert_eq!(as_u64("99999999999999999999999"), None);
        assert_eq!(plain_str(r#""x.y""#), Some("x.y"));
        assert_eq!(plain_str(r#""x\"y""#), None);
        assert_eq!(plain_str("3"), None);
    }

    #[test]
    fn objects_are_rewritten_with_numbers() {
        let json = r#"{ "type": "x", "index": 7, "nested": { "index": 1 } }"#;
        let members = members(json).unwrap();
        let mut out = BytesMut::new();
        write_object_with(&mut out, &members, &[("index", 2), ("sequence_number", 9)]);
        assert_eq!(
            out,
            r#"{"type":"x","index":2,"nested":{"index":1},"sequence_number":9}"#
        );
        out.clear();
        write_object_with(&mut out, &[], &[]);
        assert_eq!(out, "{}");
    }
}
