//! TypeScript signatures (Deno and Bun read the same way).

use super::{names, param, schema, sig};
use crate::schema::{parse_main, MainSignature, SchemaError};
use orvanta_core::Language;
use serde_json::json;

fn ts(code: &str) -> MainSignature {
    let deno = sig(Language::Deno, code);
    assert_eq!(deno, sig(Language::Bun, code), "deno and bun differ");
    deno
}

#[test]
fn reads_the_documented_example() {
    let s = ts("export async function main(a: number, b?: string, c: string[] = []) {\n  return a;\n}\n");
    assert_eq!(names(&s), ["a", "b", "c"]);
    assert!(s.is_async && !s.accepts_extra);

    let a = param(&s, "a");
    assert_eq!(a.schema, json!({"type": "number"}));
    assert!(a.required);

    let b = param(&s, "b");
    assert_eq!(b.schema, json!({"type": "string"}));
    assert!(!b.required && !b.has_default && b.default.is_none());

    let c = param(&s, "c");
    assert_eq!(c.schema, json!({"type": "array", "items": {"type": "string"}}));
    assert_eq!(c.default, Some(json!([])));
    assert!(c.has_default && !c.required);
}

#[test]
fn the_forms_of_main() {
    let s = ts("export function main(x: boolean) { return x }");
    assert!(!s.is_async);
    assert_eq!(names(&s), ["x"]);

    let s = ts("export const main = async (x: number) => x * 2;");
    assert!(s.is_async);
    assert_eq!(schema(&s, "x"), json!({"type": "number"}));

    let s = ts("export const main = function (v: string) { return v };");
    assert_eq!(names(&s), ["v"]);

    let s = ts("export let main = x => x;");
    assert_eq!(names(&s), ["x"]);

    let s = ts("async function run(y: string) {}\nexport { run as main };");
    assert_eq!(names(&s), ["y"]);

    let s = ts("function main(z: number) {}\nexport { main };");
    assert_eq!(names(&s), ["z"]);

    // Generators stream their chunks (contract §6).
    let s = ts("export async function* main(n: number) { yield 'a'; }");
    assert!(s.is_async);
    assert_eq!(names(&s), ["n"]);
    let s = ts("export function* main(n: number) { yield 'a'; }");
    assert_eq!(names(&s), ["n"]);
}

#[test]
fn types() {
    let s = ts(r#"
import { S3Object } from "orvanta-client";
export async function main(
  a: { a: number, b?: string },
  b: Record<string, any>,
  c: Array<number>,
  d: number[],
  e: "a" | "b",
  f: any,
  g: unknown,
  h,
  i: boolean,
  j: Date,
  k: S3Object,
  l: S3Object[],
  m: -1 | 2 | 3,
  n: readonly string[],
  o: (string),
  p: number | string,
) {}
"#);
    let s3 = json!({"type": "object", "format": "s3object", "properties": {"s3": {"type": "string"}}});
    let expected = [
        (
            "a",
            json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "string"}}, "required": ["a"]}),
        ),
        ("b", json!({"type": "object"})),
        ("c", json!({"type": "array", "items": {"type": "number"}})),
        ("d", json!({"type": "array", "items": {"type": "number"}})),
        ("e", json!({"type": "string", "enum": ["a", "b"]})),
        ("f", json!({})),
        ("g", json!({})),
        ("h", json!({})),
        ("i", json!({"type": "boolean"})),
        ("j", json!({"type": "string", "format": "date-time"})),
        ("k", s3.clone()),
        ("l", json!({"type": "array", "items": s3})),
        ("m", json!({"type": "integer", "enum": [-1, 2, 3]})),
        ("n", json!({"type": "array", "items": {"type": "string"}})),
        ("o", json!({"type": "string"})),
        ("p", json!({"anyOf": [{"type": "number"}, {"type": "string"}]})),
    ];
    for (name, want) in expected {
        assert_eq!(schema(&s, name), want, "parameter {name}");
        assert!(param(&s, name).required, "parameter {name}");
    }
}

#[test]
fn aliases_and_interfaces_in_the_file_are_followed() {
    let s = ts(r#"
type Input = { name: string; tags?: string[] };
export interface Options { retries: number }
type Tree = { children: Tree[] };
export async function main(input: Input, options: Options, tree: Tree, other: Unknown) {}
"#);
    assert_eq!(
        schema(&s, "input"),
        json!({"type": "object", "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}}, "required": ["name"]})
    );
    assert_eq!(
        schema(&s, "options"),
        json!({"type": "object", "properties": {"retries": {"type": "number"}}, "required": ["retries"]})
    );
    // A recursive type stops where it recurs.
    assert_eq!(
        schema(&s, "tree"),
        json!({"type": "object", "properties": {"children": {"type": "array", "items": {}}}, "required": ["children"]})
    );
    assert_eq!(schema(&s, "other"), json!({}));
}

#[test]
fn null_and_undefined() {
    let s = ts("export function main(a: number | null, b: string | undefined, c: number | null = 3) {}");
    let a = param(&s, "a");
    assert_eq!(a.schema, json!({"type": "number"}));
    assert!(!a.required && !a.has_default);
    assert_eq!(a.default, Some(json!(null)));

    let b = param(&s, "b");
    assert!(!b.required && b.default.is_none());

    let c = param(&s, "c");
    assert_eq!(c.default, Some(json!(3)));
    assert!(c.has_default);
}

#[test]
fn literal_defaults() {
    let s = ts(
        r#"export function main(a = -1, b = 2.5, c = "x\n\u{1F600}", d = true, e = null, f = {p: [1, "q"], "r s": false}, g = `t`, h = 0x1F, i = 1_000, j = 'it\'s') {}"#,
    );
    let expected = [
        ("a", json!(-1)),
        ("b", json!(2.5)),
        ("c", json!("x\n😀")),
        ("d", json!(true)),
        ("e", json!(null)),
        ("f", json!({"p": [1, "q"], "r s": false})),
        ("g", json!("t")),
        ("h", json!(31)),
        ("i", json!(1000)),
        ("j", json!("it's")),
    ];
    for (name, want) in expected {
        let p = param(&s, name);
        assert_eq!(p.default, Some(want), "parameter {name}");
        assert!(p.has_default && !p.required, "parameter {name}");
    }
    assert_eq!(schema(&s, "a"), json!({"type": "integer"}));
    assert_eq!(schema(&s, "c"), json!({"type": "string"}));
}

#[test]
fn non_literal_defaults_are_known_but_not_converted() {
    let s = ts("export function main(a = Date.now(), b = `x${1}`, c = 10n, d = {s}, e = [...xs], f = undefined) {}");
    for name in ["a", "b", "c", "d", "e", "f"] {
        let p = param(&s, name);
        assert!(p.has_default && !p.required && p.default.is_none(), "parameter {name}");
    }
}

#[test]
fn rest_parameter_accepts_extra() {
    let s = ts("export async function main(a: string, ...rest: any[]) {}");
    assert_eq!(names(&s), ["a"]);
    assert!(s.accepts_extra);
}

/// A destructured parameter stays one parameter, named after its position.
#[test]
fn destructured_parameter_is_one_argument() {
    let s = ts("export async function main(x: number, { a, b }: { a: number, b: string }) {}");
    assert_eq!(names(&s), ["x", "arg1"]);
    assert_eq!(
        schema(&s, "arg1"),
        json!({"type": "object", "properties": {"a": {"type": "number"}, "b": {"type": "string"}}, "required": ["a", "b"]})
    );
    assert!(param(&s, "arg1").required);
}

#[test]
fn what_is_not_main() {
    for code in [
        "export default async function main(y: string) {}",
        "function main(z) {}",
        "export function run(a: number) {}",
        "export const main = 3;",
        "class A { main(x: number) {} }\nexport { A };",
        "export function other() { function main(a) {} }",
        "",
    ] {
        let error = parse_main(Language::Deno, code).unwrap_err();
        assert_eq!(error, SchemaError::NoMain { language: Language::Deno }, "{code}");
    }
    let message = SchemaError::NoMain { language: Language::Bun }.to_string();
    assert!(message.contains("export async function main("), "{message}");
    assert!(message.contains("bun"), "{message}");
}

#[test]
fn syntax_errors() {
    let s = ts("const x = ;\nexport async function main(a: number) { const y = ; }\n");
    assert_eq!(names(&s), ["a"]);

    match parse_main(Language::Deno, "\nexport function main(a: number, b: ) {}") {
        Err(SchemaError::Syntax { line, .. }) => assert_eq!(line, 2),
        other => panic!("expected a syntax error, got {other:?}"),
    }
}
