//! The JSON Schema and the arguments of a call, derived from a signature.

use super::sig;
use crate::schema::{ArgError, MainSignature, Param};
use orvanta_core::Language;
use serde_json::{json, Map, Value};

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

#[test]
fn json_schema() {
    let s = sig(Language::Python3, "def main(b: int, a: str = \"x\", c: Optional[int], d=len(\"x\")):\n    pass\n");
    assert_eq!(
        s.to_json_schema(),
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": {
                "b": {"type": "integer"},
                "a": {"type": "string", "default": "x"},
                "c": {"type": "integer", "default": null},
                "d": {},
            },
            "required": ["b"],
            "order": ["b", "a", "c", "d"],
        })
    );
}

#[test]
fn json_schema_of_no_parameters() {
    let s = sig(Language::Bash, "echo hi\n");
    let schema = s.to_json_schema();
    assert_eq!(schema["properties"], json!({}));
    assert_eq!(schema["required"], json!([]));
    assert_eq!(schema["order"], json!([]));
}

#[test]
fn missing_required_argument_is_named() {
    let s = sig(Language::Python3, "def main(a, b):\n    pass\n");
    let error = s.prepare_args(&object(json!({"b": 1}))).unwrap_err();
    assert_eq!(error, ArgError::Missing { name: "a".to_owned(), signature: "main(a, b)".to_owned() });
    assert_eq!(
        error.to_string(),
        "missing required argument 'a' of main(a, b); pass it in the request body or give it a default"
    );
}

#[test]
fn extra_arguments_are_dropped_unless_accepted() {
    let args = object(json!({"a": 1, "zzz": 2, "WEBHOOK__METADATA__": {}}));
    let strict = sig(Language::Python3, "def main(a):\n    pass\n");
    assert_eq!(strict.prepare_args(&args), Ok(object(json!({"a": 1}))));

    let open = sig(Language::Python3, "def main(a, **kwargs):\n    pass\n");
    assert_eq!(open.prepare_args(&args), Ok(args.clone()));
}

#[test]
fn defaults_are_left_to_the_code_and_nullables_get_null() {
    let s =
        sig(Language::Python3, "def main(a: int = 1, b: Optional[str], c: str | None = None, d: int = 0):\n    pass\n");
    let prepared = s.prepare_args(&object(json!({"d": 5}))).unwrap();
    assert_eq!(prepared, object(json!({"b": null, "d": 5})));
}

#[test]
fn typescript_optional_is_left_out() {
    let s = sig(Language::Deno, "export function main(a: string, b?: number) {}");
    assert_eq!(s.prepare_args(&object(json!({"a": "x"}))), Ok(object(json!({"a": "x"}))));
}

#[test]
fn null_counts_as_given() {
    let s = sig(Language::Python3, "def main(a):\n    pass\n");
    assert_eq!(s.prepare_args(&object(json!({"a": null}))), Ok(object(json!({"a": null}))));
}

#[test]
fn signature_round_trips_through_serde() {
    let s = MainSignature {
        params: vec![Param {
            name: "a".to_owned(),
            schema: json!({"type": "integer"}),
            default: Some(json!(1)),
            has_default: true,
            required: false,
        }],
        accepts_extra: true,
        is_async: false,
    };
    let text = serde_json::to_string(&s).unwrap();
    assert_eq!(serde_json::from_str::<MainSignature>(&text).unwrap(), s);
}
