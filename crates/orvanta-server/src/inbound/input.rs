//! An inbound event as a run's input: the body (an object as is; anything
//! else under `body`) with the event's metadata in `WEBHOOK__METADATA__`.
//!
//! A JSON object body, the common case, is not parsed into a value: it is
//! checked (valid UTF-8, one JSON object, no metadata key of its own) and
//! the metadata is appended to its text. The document that idempotency
//! keys and waiting steps match is parsed only when one of them needs it.

use super::{is_secret_header, Definition, Received};
use crate::http::request_args::METADATA;
use orvanta_core::JobArgs;
use orvanta_store::Hook;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{json, Map, Value};
use std::fmt;

fn is_form(req: &Received) -> bool {
    req.headers
        .iter()
        .any(|(n, v)| n == "content-type" && v.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"))
}

/// The event's body as a document: a form's fields, the parsed JSON, an
/// empty object for an empty body, or else the body as a string.
pub fn event_document(req: &Received) -> Value {
    if is_form(req) {
        return Value::Object(crate::http::request_args::form_args(&req.body));
    }
    match serde_json::from_slice::<Value>(&req.body) {
        Ok(v) => v,
        Err(_) if req.body.is_empty() => json!({}),
        Err(_) => Value::from(String::from_utf8_lossy(&req.body).into_owned()),
    }
}

/// The arguments every run of the event gets.
pub fn event_args(hook: &Hook, def: &Definition, req: &Received, event_id: &str) -> JobArgs {
    let headers: Map<String, Value> = req
        .headers
        .iter()
        .filter(|(n, _)| !is_secret_header(def, n))
        .map(|(n, v)| (n.clone(), Value::from(v.as_str())))
        .collect();
    let metadata = json!({
        "event_id": event_id,
        "platform": def.source_platform,
        "webhook": {"id": hook.id, "name": hook.name},
        "headers": headers,
        "query": req.query,
        "received_at": orvanta_core::millis_to_rfc3339(req.received_at),
    });
    if !is_form(req) {
        if let Some(text) = with_metadata(&req.body, &metadata) {
            return JobArgs::Text(text);
        }
    }
    let mut args = match event_document(req) {
        Value::Object(m) => m,
        other => Map::from_iter([("body".to_owned(), other)]),
    };
    args.insert(METADATA.to_owned(), metadata);
    JobArgs::Value(Value::Object(args))
}

/// The body's text with `"WEBHOOK__METADATA__": metadata` as its last
/// member, when the body is one JSON object without that member (else the
/// caller builds the arguments from the parsed document).
fn with_metadata(body: &[u8], metadata: &Value) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    let members = de.deserialize_map(TopLevel).ok()?;
    de.end().ok()?;
    let members = members?;
    // One object, and nothing but whitespace after it: its text ends in `}`.
    let inner = text.trim_end().strip_suffix('}')?.trim_end();
    let metadata = metadata.to_string();
    let mut out = String::with_capacity(inner.len() + METADATA.len() + metadata.len() + 8);
    out.push_str(inner);
    if members > 0 {
        out.push(',');
    }
    out.push('"');
    out.push_str(METADATA);
    out.push_str("\":");
    out.push_str(&metadata);
    out.push('}');
    Some(out)
}

/// Checks a JSON object without building it: answers its member count, or
/// `None` when it has a metadata member of its own.
struct TopLevel;

impl<'de> Visitor<'de> for TopLevel {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut members, mut own_metadata) = (0usize, false);
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            own_metadata |= key == METADATA;
            map.next_value::<Checked>()?;
            members += 1;
        }
        Ok((!own_metadata).then_some(members))
    }
}

/// A JSON value checked as the document's parse checks it (strings with
/// their escapes, numbers in range, the depth limit), without being built.
struct Checked;

impl<'de> Deserialize<'de> for Checked {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CheckedVisitor)
    }
}

struct CheckedVisitor;

impl<'de> Visitor<'de> for CheckedVisitor {
    type Value = Checked;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_str<E>(self, _: &str) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_unit<E>(self) -> Result<Checked, E> {
        Ok(Checked)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Checked, A::Error> {
        while seq.next_element::<Checked>()?.is_some() {}
        Ok(Checked)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Checked, A::Error> {
        while map.next_entry::<Checked, Checked>()?.is_some() {}
        Ok(Checked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(body: &str) -> Option<Value> {
        with_metadata(body.as_bytes(), &json!({"m": 1})).map(|t| serde_json::from_str(&t).unwrap())
    }

    #[test]
    fn an_object_gets_the_metadata_appended_to_its_text() {
        assert_eq!(
            parsed(r#" {"a": [1, {"b": "}"}], "c\"d": null} "#),
            Some(json!({"a": [1, {"b": "}"}], "c\"d": null, METADATA: {"m": 1}}))
        );
        assert_eq!(parsed("{}"), Some(json!({METADATA: {"m": 1}})));
        assert_eq!(parsed("{ \n }\n"), Some(json!({METADATA: {"m": 1}})));
        let order: Vec<String> = match parsed(r#"{"z": 1, "a": 2}"#).unwrap() {
            Value::Object(m) => m.keys().cloned().collect(),
            _ => unreachable!(),
        };
        assert_eq!(order, ["z", "a", METADATA], "the body's order, the metadata last");
    }

    #[test]
    fn anything_else_is_left_to_the_parsed_document() {
        for body in [
            "[1, 2]",
            "\"text\"",
            "12",
            "",
            "{\"a\": 1} {\"b\": 2}",
            "{\"a\": 1",
            "{\"a\": 1,}",
            "not json",
            &format!("{{\"x\": 1, \"{METADATA}\": 2}}"),
            &format!("{}{}", "[".repeat(200), "]".repeat(200)),
        ] {
            assert_eq!(parsed(body), None, "{body:?}");
        }
        assert_eq!(with_metadata(b"{\"a\": \"\xff\"}", &json!({})), None, "not UTF-8");
        // What the document's parse refuses, the text path refuses too.
        for body in [r#"{"a": "\ud800"}"#, r#"{"a": {"\udc00": 1}}"#, r#"{"a": 1e400}"#, r#"{"a": [tru]}"#] {
            assert!(serde_json::from_str::<Value>(body).is_err(), "{body}");
            assert_eq!(parsed(body), None, "{body}");
        }
        let deep = format!("{{\"a\": {}{}}}", "[".repeat(500), "]".repeat(500));
        assert_eq!(
            with_metadata(deep.as_bytes(), &json!({})),
            None,
            "past the parser's depth limit, as the document's parse"
        );
    }
}
