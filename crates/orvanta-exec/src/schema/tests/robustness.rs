//! Garbage, broken and pathological inputs: an answer, never a panic.

use crate::schema::parse_main;
use orvanta_core::Language;

const GARBAGE: &[&str] = &[
    "",
    "\0\0\0",
    "def",
    "def main(",
    "def main(a: List[",
    "async def main(**",
    "def main(a=\"\\x4\", b='\\N{DASH}', c=\"\\u12\"): pass",
    "export function main(",
    "export const main = async (",
    "export function main(a: Record<, b = `${`) {}",
    "export function main(a = \"\\u{110000}\", b = \"\\x\"): {}",
    "x=\"${",
    "x=\"$",
    "x=${1:-\"",
    "a=\"${1:-${2:-}}\"",
    "}}}{{{]]][[[)))(((",
    "éàü 日本語 🎉 \u{feff}def main(ü: int): pass",
    "\r\n\r\ndef main(a):\r\n    pass\r\n",
];

#[test]
fn garbage_never_panics() {
    for code in GARBAGE {
        for language in Language::ALL {
            let _ = parse_main(language, code);
        }
    }
}

#[test]
fn deep_nesting_never_panics() {
    let depth = 5_000;
    let list_default = format!("def main(a={}{}):\n    pass\n", "[".repeat(depth), "]".repeat(depth));
    let signature = parse_main(Language::Python3, &list_default).unwrap();
    assert!(signature.params[0].has_default && signature.params[0].default.is_none());

    let nested_type = format!("def main(a: {}int{}):\n    pass\n", "List[".repeat(depth), "]".repeat(depth));
    assert!(parse_main(Language::Python3, &nested_type).is_ok());

    let union = format!("export function main(a: {}) {{}}", vec!["\"x\""; depth].join(" | "));
    assert!(parse_main(Language::Deno, &union).is_ok());

    let ts_array = format!("export function main(a = {}{}) {{}}", "[".repeat(depth), "]".repeat(depth));
    assert!(parse_main(Language::Deno, &ts_array).is_ok());
}

#[test]
fn aliases_that_double_stay_small() {
    let mut code = String::from("type T0 = { v: number };\n");
    for i in 1..40 {
        code.push_str(&format!("type T{i} = {{ a: T{p}, b: T{p} }};\n", p = i - 1));
    }
    code.push_str("export function main(x: T39) {}\n");
    let signature = parse_main(Language::Deno, &code).unwrap();
    assert!(signature.to_json_schema().to_string().len() < 100_000);
}

#[test]
fn a_long_flat_union_is_read() {
    let members: Vec<String> = (0..2_000).map(|i| format!("\"v{i}\"")).collect();
    let code = format!("def main(a: Literal[{}]):\n    pass\n", members.join(", "));
    let signature = parse_main(Language::Python3, &code).unwrap();
    assert_eq!(signature.params[0].schema["enum"].as_array().map(Vec::len), Some(2_000));
}
