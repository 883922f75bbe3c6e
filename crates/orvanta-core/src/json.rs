//! How deep the JSON Orvanta keeps may nest, and how it is read back.
//!
//! Every JSON value Orvanta stores (a job's arguments and result, a script's
//! schema) nests at most [`MAX_DEPTH`] levels: the writers check it (the run
//! routes with a 400, the worker with a failed job) so that nothing accepted
//! can be unreadable later. Stored values are read with [`parse_stored`],
//! which has room above that limit (a wrapper such as `{"body": ...}` adds a
//! level) and still refuses, without recursing, anything deep enough to
//! exhaust a thread's stack.

use serde::de::DeserializeOwned;
use serde_json::Value;

/// The deepest a JSON value Orvanta accepts and stores may nest: `[]` and
/// `{}` are one level, `[[]]` two. serde_json's own parser stops at 128 too.
pub const MAX_DEPTH: usize = 128;

/// The deepest a stored value is read back: room for what the engine wraps
/// around accepted values, well under what overflows a 2 MiB stack.
pub const MAX_STORED_DEPTH: usize = 2 * MAX_DEPTH;

/// How deep the JSON text nests, by a scan of its brackets outside strings.
/// Linear, no recursion, no allocation; meaningful for valid JSON only.
/// Strings, most of a typical body, are skipped to their next quote or
/// backslash at once (memchr), not byte by byte.
pub fn text_depth(text: &[u8]) -> usize {
    let (mut depth, mut max, mut i) = (0usize, 0usize, 0usize);
    while i < text.len() {
        match text[i] {
            b'"' => {
                // To the closing quote: past each escape's next byte.
                i += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &text[i..]) {
                        None => return max,
                        Some(k) if text[i + k] == b'\\' => i += k + 2,
                        Some(k) => {
                            i += k;
                            break;
                        }
                    }
                    if i >= text.len() {
                        return max;
                    }
                }
            }
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    max
}

/// How deep a value nests. It recurses, so call it on values that were
/// parsed under a depth limit (every value Orvanta holds is).
pub fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Why a JSON text was not read.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// Deeper than the limit; nothing was parsed.
    #[error("the JSON nests {depth} levels deep; at most {limit} are accepted")]
    TooDeep { depth: usize, limit: usize },
    #[error("{0}")]
    Syntax(#[from] serde_json::Error),
}

/// Parses JSON that nests at most `limit` levels (checked first, without recursion).
pub fn parse_limited<T: DeserializeOwned>(text: &[u8], limit: usize) -> Result<T, JsonError> {
    let depth = text_depth(text);
    if depth > limit {
        return Err(JsonError::TooDeep { depth, limit });
    }
    let mut de = serde_json::Deserializer::from_slice(text);
    // The scan above bounds the recursion; serde_json's own fixed limit (128)
    // would refuse stored values that a wrapper took past it.
    de.disable_recursion_limit();
    let v = T::deserialize(&mut de)?;
    de.end()?;
    Ok(v)
}

/// Parses a value read back from the database.
pub fn parse_stored<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    parse_limited(text.as_bytes(), MAX_STORED_DEPTH)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(n: usize) -> String {
        format!("{}{}", "[".repeat(n), "]".repeat(n))
    }

    #[test]
    fn scans_depth_outside_strings() {
        assert_eq!(text_depth(b"1"), 0);
        assert_eq!(text_depth(b"[]"), 1);
        assert_eq!(text_depth(br#"{"a": [1, {"b": "[[[["}]}"#), 3);
        assert_eq!(text_depth(br#"["\"[[", [[]]]"#), 3);
        assert_eq!(text_depth(nested(500).as_bytes()), 500);
    }

    /// The byte-by-byte scan the fast one must agree with.
    fn depth_bytewise(text: &[u8]) -> usize {
        let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
        for &b in text {
            match b {
                _ if in_string && escaped => escaped = false,
                b'\\' if in_string => escaped = true,
                b'"' => in_string = !in_string,
                _ if in_string => {}
                b'[' | b'{' => {
                    depth += 1;
                    max = max.max(depth);
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        max
    }

    #[test]
    fn the_fast_scan_agrees_with_the_bytewise_one_on_odd_texts() {
        let texts: &[&[u8]] = &[
            b"",
            b"\"",
            b"\"\\",
            b"[\"\\",
            b"[\"a\\\\\", [[]]]",
            br#"{"k\"[": ["\\", {"\\\"{": [[1]]}]}"#,
            br#"[["x"], "y\\\\"], [[[["#,
            b"[[\"unterminated [[[",
            br#"{"a":"\u005b[[", "b": [{}]}"#,
        ];
        for t in texts {
            assert_eq!(text_depth(t), depth_bytewise(t), "{}", String::from_utf8_lossy(t));
        }
        // Every prefix of a realistic body, so strings end at every possible byte.
        let body = serde_json::json!({"commits": [{"message": "a \"quoted\" [bracket] \\ {brace}", "x": [[1, 2], {"y": "z"}]}]})
            .to_string();
        for n in 0..=body.len() {
            assert_eq!(text_depth(&body.as_bytes()[..n]), depth_bytewise(&body.as_bytes()[..n]), "prefix {n}");
        }
    }

    #[test]
    fn reads_past_serde_jsons_limit_and_refuses_what_would_overflow() {
        let v: Value = parse_stored(&nested(200)).unwrap();
        assert_eq!(depth(&v), 200);
        assert!(matches!(parse_stored::<Value>(&nested(100_000)), Err(JsonError::TooDeep { depth: 100_000, .. })));
        assert!(matches!(parse_stored::<Value>("[1] x"), Err(JsonError::Syntax(_))));
    }
}
