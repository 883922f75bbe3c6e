//! A runnable's stored JSON Schema, made fit for an OpenAPI 3.1 document.
//!
//! OpenAPI 3.1's Schema Object is JSON Schema 2020-12, so a runnable's schema
//! goes in nearly as it is. What would make the document invalid, or make a
//! generator (a client's, a fuzzer's) choke, is mended or dropped:
//!
//! - `$schema`, `$id` and the other identifiers: the document's dialect
//!   applies, and an `$id` would move the base of every `$ref` below it;
//! - `$ref`s to the schema's own root (`#/definitions/x`) would point into the
//!   document instead: they are rewritten under the schema's new home
//!   (`#/components/schemas/{name}/definitions/x`); a `$ref` elsewhere, or to
//!   nothing, is dropped;
//! - draft-04/07 forms: tuple `items` becomes `prefixItems`, boolean
//!   `exclusiveMinimum`/`exclusiveMaximum` become numbers;
//! - values of the wrong type for their keyword (a string `minLength`, a
//!   `required` that is not a list of names, an unknown `type`), and empty
//!   `required`, `enum` or `allOf`/`anyOf`/`oneOf` lists.
//!
//! Unknown keywords (Windmill's `order`, `format: resource-…`) are annotations
//! in 2020-12 and stay.

use serde_json::{Map, Value};

const TYPES: [&str; 7] = ["array", "boolean", "integer", "null", "number", "object", "string"];
const COUNTS: [&str; 8] =
    ["maxLength", "minLength", "maxItems", "minItems", "maxProperties", "minProperties", "maxContains", "minContains"];
const NUMBERS: [&str; 2] = ["minimum", "maximum"];
const TEXTS: [&str; 5] = ["title", "description", "format", "pattern", "$comment"];
const FLAGS: [&str; 4] = ["uniqueItems", "readOnly", "writeOnly", "deprecated"];
const ONE_SCHEMA: [&str; 10] = [
    "additionalProperties",
    "propertyNames",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "unevaluatedItems",
    "unevaluatedProperties",
    "additionalItems",
];
const SCHEMA_MAPS: [&str; 5] = ["properties", "patternProperties", "$defs", "definitions", "dependentSchemas"];
const SCHEMA_LISTS: [&str; 3] = ["allOf", "anyOf", "oneOf"];
const DROPPED: [&str; 8] =
    ["$schema", "$id", "$anchor", "$dynamicAnchor", "$dynamicRef", "$recursiveRef", "$recursiveAnchor", "$vocabulary"];

/// `schema` as it can stand at `#/components/schemas/{name}`.
pub fn sanitize(schema: &Value, name: &str) -> Value {
    let home = format!("#/components/schemas/{name}");
    let mut out = clean(schema, &home);
    drop_dangling_refs(&mut out, &home);
    out
}

/// The names of the required properties, if the schema requires any.
pub fn required(schema: &Value) -> bool {
    schema.get("required").and_then(Value::as_array).is_some_and(|r| !r.is_empty())
}

fn clean(schema: &Value, home: &str) -> Value {
    let Some(obj) = schema.as_object() else {
        // `true`/`false` are schemas; anything else is not, and allows all.
        return if schema.is_boolean() { schema.clone() } else { Value::Object(Map::new()) };
    };
    let mut out = Map::new();
    for (key, value) in obj {
        let k = key.as_str();
        let kept = match k {
            _ if DROPPED.contains(&k) => None,
            "$ref" => value.as_str().and_then(|r| rebase(r, home)).map(Value::String),
            "type" => types(value),
            "required" => names(value),
            "dependentRequired" => value
                .as_object()
                .map(|m| Value::Object(m.iter().filter_map(|(k, v)| names(v).map(|n| (k.clone(), n))).collect())),
            "enum" => value.as_array().filter(|a| !a.is_empty()).cloned().map(Value::Array),
            "examples" => Some(if value.is_array() { value.clone() } else { Value::Array(vec![value.clone()]) }),
            "multipleOf" => value.as_f64().filter(|n| *n > 0.0).map(|_| value.clone()),
            "exclusiveMinimum" | "exclusiveMaximum" => exclusive(obj, k, value),
            "items" => match value {
                Value::Array(tuple) => {
                    // draft-07 tuple form: its `additionalItems` is 2020-12's `items`.
                    out.insert("prefixItems".into(), Value::Array(tuple.iter().map(|s| clean(s, home)).collect()));
                    obj.get("additionalItems").map(|s| clean(s, home))
                }
                one => Some(clean(one, home)),
            },
            "additionalItems" if obj.get("items").is_some_and(Value::is_array) => None,
            "prefixItems" => value.as_array().map(|a| Value::Array(a.iter().map(|s| clean(s, home)).collect())),
            _ if COUNTS.contains(&k) => value.as_u64().map(Value::from),
            _ if NUMBERS.contains(&k) => value.is_number().then(|| value.clone()),
            _ if TEXTS.contains(&k) => value.is_string().then(|| value.clone()),
            _ if FLAGS.contains(&k) => value.is_boolean().then(|| value.clone()),
            _ if ONE_SCHEMA.contains(&k) => Some(clean(value, home)),
            _ if SCHEMA_MAPS.contains(&k) => value
                .as_object()
                .map(|m| Value::Object(m.iter().map(|(name, s)| (name.clone(), clean(s, home))).collect())),
            _ if SCHEMA_LISTS.contains(&k) => value
                .as_array()
                .filter(|a| !a.is_empty())
                .map(|a| Value::Array(a.iter().map(|s| clean(s, home)).collect())),
            _ => Some(value.clone()),
        };
        if let Some(v) = kept {
            out.insert(key.clone(), v);
        }
    }
    Value::Object(out)
}

/// `type`: a known type name, or a non-empty list of distinct ones.
fn types(value: &Value) -> Option<Value> {
    match value {
        Value::String(t) if TYPES.contains(&t.as_str()) => Some(value.clone()),
        Value::Array(list) => {
            let mut kept: Vec<Value> = Vec::new();
            for t in list.iter().filter(|t| t.as_str().is_some_and(|t| TYPES.contains(&t))) {
                if !kept.contains(t) {
                    kept.push(t.clone());
                }
            }
            (!kept.is_empty()).then_some(Value::Array(kept))
        }
        _ => None,
    }
}

/// `required`: distinct property names; an empty list is left out.
fn names(value: &Value) -> Option<Value> {
    let mut kept: Vec<Value> = Vec::new();
    for n in value.as_array()?.iter().filter(|n| n.is_string()) {
        if !kept.contains(n) {
            kept.push(n.clone());
        }
    }
    (!kept.is_empty()).then_some(Value::Array(kept))
}

/// 2020-12's numeric `exclusiveMinimum`; draft-04's `true` takes `minimum`'s value.
fn exclusive(obj: &Map<String, Value>, key: &str, value: &Value) -> Option<Value> {
    match value {
        Value::Number(_) => Some(value.clone()),
        Value::Bool(true) => {
            let bound = if key == "exclusiveMinimum" { "minimum" } else { "maximum" };
            obj.get(bound).filter(|b| b.is_number()).cloned()
        }
        _ => None,
    }
}

/// A `$ref` into the schema itself, moved under its new home; others are dropped.
fn rebase(reference: &str, home: &str) -> Option<String> {
    let pointer = reference.strip_prefix('#')?;
    if !(pointer.is_empty() || pointer.starts_with('/')) {
        return None;
    }
    Some(format!("{home}{pointer}"))
}

/// Drops every `$ref` that does not resolve inside the cleaned schema.
fn drop_dangling_refs(root: &mut Value, home: &str) {
    let snapshot = root.clone();
    walk(root, &mut |obj| {
        let dangling = obj.get("$ref").and_then(Value::as_str).is_some_and(|r| {
            let pointer = r.strip_prefix(home).unwrap_or("/\u{0}");
            snapshot.pointer(pointer).is_none_or(|target| !(target.is_object() || target.is_boolean()))
        });
        if dangling {
            obj.remove("$ref");
        }
    });
}

fn walk(v: &mut Value, f: &mut impl FnMut(&mut Map<String, Value>)) {
    match v {
        Value::Object(obj) => {
            f(obj);
            for child in obj.values_mut() {
                walk(child, f);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|c| walk(c, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_plain_schema_keeps_its_meaning() {
        let s = json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "properties": {"name": {"type": "string", "description": "who", "default": "x"},
                           "n": {"type": "integer", "minimum": 0}},
            "required": ["name"], "order": ["name", "n"]});
        let out = sanitize(&s, "S");
        assert_eq!(
            out,
            json!({"type": "object",
                "properties": {"name": {"type": "string", "description": "who", "default": "x"},
                               "n": {"type": "integer", "minimum": 0}},
                "required": ["name"], "order": ["name", "n"]})
        );
        assert!(required(&out));
    }

    #[test]
    fn what_openapi_refuses_is_mended_or_dropped() {
        let s = json!({"type": "object", "required": [], "$id": "x",
        "properties": {
            "a": {"type": "any", "minLength": "3", "enum": []},
            "b": {"type": ["string", "nope", "string"], "exclusiveMinimum": true, "minimum": 2},
            "c": {"type": "array", "items": [{"type": "string"}, 7], "additionalItems": false},
            "d": "not a schema",
            "e": {"anyOf": [], "required": ["x", "x", 3], "examples": "one"}
        }});
        let out = sanitize(&s, "S");
        assert_eq!(
            out,
            json!({"type": "object", "properties": {
                "a": {},
                "b": {"type": ["string"], "exclusiveMinimum": 2, "minimum": 2},
                "c": {"type": "array", "prefixItems": [{"type": "string"}, {}], "items": false},
                "d": {},
                "e": {"required": ["x"], "examples": ["one"]}
            }})
        );
        assert!(!required(&out));
    }

    #[test]
    fn local_refs_follow_the_schema_and_others_go() {
        let s = json!({"type": "object",
        "definitions": {"pt": {"type": "object", "properties": {"x": {"type": "number"}}}},
        "properties": {
            "p": {"$ref": "#/definitions/pt"},
            "q": {"$ref": "#/definitions/missing"},
            "r": {"$ref": "https://example.com/s.json"},
            "me": {"$ref": "#"}
        }});
        let out = sanitize(&s, "Script_u_a_b");
        assert_eq!(out["properties"]["p"], json!({"$ref": "#/components/schemas/Script_u_a_b/definitions/pt"}));
        assert_eq!(out["properties"]["q"], json!({}));
        assert_eq!(out["properties"]["r"], json!({}));
        assert_eq!(out["properties"]["me"], json!({"$ref": "#/components/schemas/Script_u_a_b"}));
    }
}
