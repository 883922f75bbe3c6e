//! Idempotency keys for the flows an inbound event starts, resolved from the event.
//!
//! A `flows_to_start` entry's `idempotency_key` is one of:
//! - a JSONPath (`$.data.object.id`): the first match, as text;
//! - a template with placeholders (`order-${$.data.id}-${event.type}`): each `${...}` holds a JSONPath starting
//!   with `$`, or a dotted path taken from the event's root (`event.id` is `$.event.id`, `items[0]` is
//!   `$.items[0]`);
//! - anything else: a static key, used as is.
//!
//! A match becomes text as a string's contents, or as the compact JSON of any other value. A path that matches
//! nothing, or matches `null`, leaves the key unresolved (`None`) rather than giving a key every such event would
//! share (the server then starts nothing for that entry and records why); so does a key that resolves to the
//! empty string. A key longer than
//! [`MAX_KEY_LEN`] bytes is replaced by `sha256:` and its hex digest, so that keys stay storable and comparable.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::jsonpath::{Path, PathError};

/// The longest key kept as is; a longer one is replaced by its SHA-256.
pub const MAX_KEY_LEN: usize = 512;
/// The longest template accepted.
const MAX_TEMPLATE_LEN: usize = 4096;

/// Resolves an idempotency-key template against `event`. `Err` when the template itself is malformed (a bad
/// path, an unclosed `${`): the server should have refused it when the definition was saved (see
/// [`check_key_template`]). `Ok(None)` when part of it did not resolve.
pub fn resolve_key(template: &str, event: &Value) -> Result<Option<String>, PathError> {
    let key = match parse(template)? {
        Template::Path(path) => path.first(event).and_then(text),
        Template::Parts(parts) => {
            let mut key = String::new();
            for part in parts {
                match part {
                    Part::Literal(s) => key.push_str(s),
                    Part::Path(path) => match path.first(event).and_then(text) {
                        Some(s) => key.push_str(&s),
                        None => return Ok(None),
                    },
                }
            }
            Some(key)
        }
    };
    Ok(key.filter(|k| !k.is_empty()).map(bounded))
}

/// Checks a template when a definition is saved, with the error `resolve_key` would give.
pub fn check_key_template(template: &str) -> Result<(), PathError> {
    parse(template).map(drop)
}

enum Template<'t> {
    Path(Path),
    Parts(Vec<Part<'t>>),
}

enum Part<'t> {
    Literal(&'t str),
    Path(Path),
}

fn parse(template: &str) -> Result<Template<'_>, PathError> {
    if template.len() > MAX_TEMPLATE_LEN {
        let found = template.char_indices().find(|(i, _)| *i >= MAX_TEMPLATE_LEN).map(|(_, c)| c);
        return Err(PathError { position: MAX_TEMPLATE_LEN, expected: "the key to end within 4096 bytes", found });
    }
    if template.starts_with('$') && !template.starts_with("${") {
        return Path::parse(template).map(Template::Path);
    }
    let mut parts = Vec::new();
    let mut rest = 0;
    while let Some(found) = template[rest..].find("${") {
        let open = rest + found;
        if open > rest {
            parts.push(Part::Literal(&template[rest..open]));
        }
        let inner_start = open + 2;
        let close = closing_brace(&template[inner_start..]).map(|i| inner_start + i).ok_or(PathError {
            position: open,
            expected: "`}` closing this `${`",
            found: Some('$'),
        })?;
        parts.push(Part::Path(placeholder(&template[inner_start..close], inner_start)?));
        rest = close + 1;
    }
    if rest < template.len() {
        parts.push(Part::Literal(&template[rest..]));
    }
    Ok(Template::Parts(parts))
}

/// The offset of the `}` that closes a placeholder, skipping quoted names (which may hold `}`).
fn closing_brace(text: &str) -> Option<usize> {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (Some(_), _) if escaped => escaped = false,
            (Some(_), '\\') => escaped = true,
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '}') => return Some(i),
            (None, _) => {}
        }
    }
    None
}

/// A placeholder's path: a JSONPath, or a dotted path from the root. `offset` is where `inner` starts in the
/// template, so that errors point into the template.
fn placeholder(inner: &str, offset: usize) -> Result<Path, PathError> {
    let leading = inner.len() - inner.trim_start().len();
    let trimmed = inner.trim();
    let offset = offset + leading;
    if trimmed.is_empty() {
        return Err(PathError { position: offset, expected: "a path inside `${}`", found: Some('}') });
    }
    if trimmed.starts_with('$') {
        return Path::parse(trimmed).map_err(|e| e.shifted(offset));
    }
    let prefix = if trimmed.starts_with('[') { "$" } else { "$." };
    Path::parse(&format!("{prefix}{trimmed}"))
        .map_err(|e| PathError { position: (e.position + offset).saturating_sub(prefix.len()).max(offset), ..e })
}

/// A match as key text; `null` is no key.
fn text(value: &Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

fn bounded(key: String) -> String {
    if key.len() <= MAX_KEY_LEN {
        return key;
    }
    format!("sha256:{}", hex::encode(Sha256::digest(key.as_bytes())))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event() -> Value {
        json!({
            "id": "evt_1",
            "type": "order.paid",
            "data": {"order": {"id": 42, "ref": "A-7", "tags": ["x", "y"], "meta": {"a": 1}, "gone": null}},
            "event": {"id": "Ev9"},
            "items": [{"sku": "s1"}],
            "weird}key": "w",
        })
    }

    fn resolve(template: &str) -> Option<String> {
        resolve_key(template, &event()).unwrap()
    }

    #[test]
    fn a_jsonpath_gives_its_first_match_as_text() {
        assert_eq!(resolve("$.id"), Some("evt_1".into()));
        assert_eq!(resolve("$.data.order.id"), Some("42".into()));
        assert_eq!(resolve("$.data.order.tags"), Some(r#"["x","y"]"#.into()));
        assert_eq!(resolve("$.data.order.meta"), Some(r#"{"a":1}"#.into()));
        assert_eq!(resolve("$.data.order.tags[*]"), Some("x".into()));
        assert_eq!(resolve("$..sku"), Some("s1".into()));
        assert_eq!(resolve("$.missing"), None);
        assert_eq!(resolve("$.data.order.gone"), None);
    }

    #[test]
    fn templates_replace_each_placeholder() {
        assert_eq!(resolve("order-${$.data.order.id}-${type}"), Some("order-42-order.paid".into()));
        assert_eq!(resolve("${event.id}"), Some("Ev9".into()));
        assert_eq!(resolve("${ data.order.ref }/${items[0].sku}"), Some("A-7/s1".into()));
        assert_eq!(resolve("${$['weird}key']}!"), Some("w!".into()));
        assert_eq!(resolve("a ${id} and ${id}"), Some("a evt_1 and evt_1".into()));
        assert_eq!(resolve("x-${missing}"), None);
        assert_eq!(resolve("${id}-${data.order.gone}"), None);
        // `$` not followed by `{` is text in a template.
        assert_eq!(resolve("cost $5 for ${id}"), Some("cost $5 for evt_1".into()));
    }

    #[test]
    fn anything_else_is_static() {
        assert_eq!(resolve("nightly-import"), Some("nightly-import".into()));
        assert_eq!(resolve("50$"), Some("50$".into()));
        assert_eq!(resolve(""), None);
    }

    #[test]
    fn long_keys_are_hashed() {
        let big = json!({"blob": "z".repeat(MAX_KEY_LEN + 1), "fits": "z".repeat(MAX_KEY_LEN)});
        let key = resolve_key("$.blob", &big).unwrap().unwrap();
        assert!(key.starts_with("sha256:") && key.len() == 7 + 64, "{key}");
        assert_eq!(resolve_key("$.blob", &big).unwrap().unwrap(), key);
        assert_eq!(resolve_key("$.fits", &big).unwrap().unwrap().len(), MAX_KEY_LEN);
    }

    #[test]
    fn malformed_templates_point_at_the_problem() {
        let err = |t: &str| resolve_key(t, &event()).unwrap_err().to_string();
        assert_eq!(err("$.a["), "at byte 4: expected a quoted name, an index or `*` after `[`, found the end");
        assert_eq!(err("key-${id"), "at byte 4: expected `}` closing this `${`, found `$`");
        assert_eq!(err("key-${}"), "at byte 6: expected a path inside `${}`, found `}`");
        assert_eq!(err("key-${$.a b}"), "at byte 9: expected `.` or `[`, found ` `");
        assert_eq!(err("key-${a..}"), "at byte 9: expected a name, `*` or `[` after `..`, found the end");
        assert_eq!(err("key-${ a b}"), "at byte 8: expected `.` or `[`, found ` `");
        assert_eq!(err("${['x'}"), "at byte 6: expected `]`, found the end");
        assert!(err(&"x".repeat(5000)).contains("within 4096 bytes"));
        assert!(check_key_template("order-${data.id}").is_ok());
        assert!(check_key_template("order-${data.}").is_err());
    }
}
