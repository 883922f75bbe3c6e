//! Pieces shared by the Python and TypeScript readers: running tree-sitter,
//! locating syntax errors, turning literals (numbers, escaped strings) into
//! JSON, the schemas of Orvanta's own types, and building a [`Param`].

use super::{Param, SchemaError};
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use tree_sitter::{Node, Parser, Tree};

/// How deep type and literal conversion goes: a default such as `[[[[...]]]]`
/// nested thousands of times must not exhaust the stack.
pub(super) const MAX_DEPTH: usize = 32;

/// Parses `code` with a tree-sitter grammar. Tree-sitter recovers from syntax
/// errors, so this fails only if the parser gives up altogether.
pub(super) fn parse(language: tree_sitter::Language, code: &str) -> Result<Tree, SchemaError> {
    let mut parser = Parser::new();
    parser.set_language(&language).expect("the grammar crates are built for this tree-sitter version");
    parser
        .parse(code, None)
        .ok_or_else(|| SchemaError::Syntax { line: 1, message: "the parser gave up on this script".to_owned() })
}

/// The source text of `node` (empty if its range is not in `code`).
pub(super) fn text<'a>(node: Node<'_>, code: &'a str) -> &'a str {
    code.get(node.byte_range()).unwrap_or("")
}

/// The named children of `node`, comments left out.
pub(super) fn children(node: Node<'_>) -> Vec<Node<'_>> {
    let mut cursor = node.walk();
    node.named_children(&mut cursor).filter(|child| child.kind() != "comment").collect()
}

/// Whether `node` has an unnamed child token of this kind (`async`, `?`).
pub(super) fn has_token(node: Node<'_>, kind: &str) -> bool {
    let mut cursor = node.walk();
    let found = node.children(&mut cursor).any(|child| !child.is_named() && child.kind() == kind);
    found
}

/// A [`SchemaError::Syntax`] for the first syntax error under `node`, if any.
pub(super) fn syntax_error(node: Node<'_>, code: &str, context: &str) -> Option<SchemaError> {
    if !node.has_error() {
        return None;
    }
    // Walk down (without recursion) towards the first ERROR or MISSING node.
    let mut current = node;
    loop {
        if current.is_error() || current.is_missing() {
            break;
        }
        let mut cursor = current.walk();
        let next = current.children(&mut cursor).find(|child| child.has_error() || child.is_missing());
        match next {
            Some(child) => current = child,
            None => break,
        }
    }
    let snippet: String = text(current, code).trim().lines().next().unwrap_or("").chars().take(30).collect();
    let message = if current.is_missing() {
        format!("expected `{}` {context}", current.kind())
    } else if snippet.is_empty() {
        format!("invalid syntax {context}")
    } else {
        format!("unexpected `{snippet}` {context}")
    };
    Some(SchemaError::Syntax { line: current.start_position().row + 1, message })
}

/// What a type annotation says about a parameter.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Ty {
    pub schema: Value,
    /// The type admits `None` / `null`.
    pub nullable: bool,
    /// The type admits `undefined` (TypeScript).
    pub undefined: bool,
}

impl Ty {
    pub fn of(schema: Value) -> Self {
        Self { schema, nullable: false, undefined: false }
    }

    pub fn any() -> Self {
        Self::of(json!({}))
    }

    /// Joins the members of a union: `null`/`undefined` members only mark the
    /// result as nullable; literal members merge into one `enum`; anything
    /// else becomes `anyOf`.
    pub fn union(members: Vec<Ty>) -> Self {
        let nullable = members.iter().any(|m| m.nullable);
        let undefined = members.iter().any(|m| m.undefined);
        let mut seen = HashSet::new();
        let mut schemas: Vec<Value> = Vec::new();
        for member in members {
            if !(member.nullable || member.undefined) && seen.insert(member.schema.to_string()) {
                schemas.push(member.schema);
            }
        }
        let schema = match schemas.len() {
            0 if nullable => json!({"type": "null"}),
            0 => json!({}),
            1 => schemas.remove(0),
            _ => merge_enums(&schemas).unwrap_or_else(|| json!({ "anyOf": schemas })),
        };
        Self { schema, nullable, undefined }
    }
}

/// `{"enum": [..]}` schemas merged into one (with `type` when they agree).
fn merge_enums(schemas: &[Value]) -> Option<Value> {
    let mut values = Vec::new();
    for schema in schemas {
        values.extend(schema.get("enum")?.as_array()?.iter().cloned());
    }
    Some(enum_schema(values))
}

/// The schema of a set of literal values: `{"type": "string", "enum": [...]}`.
pub(super) fn enum_schema(values: Vec<Value>) -> Value {
    let kinds: Vec<&str> = values.iter().map(json_type).collect();
    let mut schema = Map::new();
    if let Some(first) = kinds.first() {
        if kinds.iter().all(|k| k == first) && *first != "null" {
            schema.insert("type".to_owned(), json!(first));
        }
    }
    schema.insert("enum".to_owned(), Value::Array(values));
    Value::Object(schema)
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The schema a literal default implies when there is no annotation.
pub(super) fn infer_from_default(default: Option<&Value>) -> Value {
    match default {
        None | Some(Value::Null) => json!({}),
        Some(value) => json!({ "type": json_type(value) }),
    }
}

/// Orvanta's file reference in object storage (`S3Object` in both clients).
pub(super) fn s3object() -> Value {
    json!({"type": "object", "format": "s3object", "properties": {"s3": {"type": "string"}}})
}

/// A timestamp (`datetime`, `Date`), sent as an RFC 3339 string.
pub(super) fn date_time() -> Value {
    json!({"type": "string", "format": "date-time"})
}

/// `{"type": "array"}`, with `items` when the element type is known.
pub(super) fn array_of(items: Option<Value>) -> Value {
    match items {
        Some(items) => json!({"type": "array", "items": items}),
        None => json!({"type": "array"}),
    }
}

/// Builds a [`Param`] from what the parser found.
pub(super) fn param(name: String, ty: Option<Ty>, default: Option<Value>, has_default: bool, optional: bool) -> Param {
    let ty = ty.unwrap_or_else(|| Ty::of(infer_from_default(default.as_ref())));
    let default = match default {
        None if !has_default && ty.nullable => Some(Value::Null),
        other => other,
    };
    let required = !has_default && !optional && !ty.nullable && !ty.undefined;
    Param { name, schema: ty.schema, default, has_default, required }
}

/// A number literal (`1_000`, `0x1F`, `1e3`, `.5`) as JSON; `None` for what
/// JSON cannot hold (complex and big-integer suffixes, overflow, infinity).
pub(super) fn number(literal: &str, negative: bool) -> Option<Value> {
    let clean = literal.replace('_', "").to_ascii_lowercase();
    let sign = if negative { "-" } else { "" };
    let radix = match clean.get(..2) {
        Some("0x") => Some(16),
        Some("0o") => Some(8),
        Some("0b") => Some(2),
        _ => None,
    };
    if let Some(radix) = radix {
        let value = i64::from_str_radix(clean.get(2..)?, radix).ok()?;
        return Some(json!(if negative { value.checked_neg()? } else { value }));
    }
    if clean.chars().all(|c| c.is_ascii_digit()) {
        return format!("{sign}{clean}").parse::<i64>().ok().map(Value::from);
    }
    if !clean.chars().all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-')) {
        return None;
    }
    let value: f64 = format!("{sign}{clean}").parse().ok()?;
    serde_json::Number::from_f64(value).map(Value::Number)
}

/// Which language's escape sequences a string uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Escapes {
    Python,
    TypeScript,
}

/// The text of one escape sequence (`\n`, `\x41`, `\u{1F600}`), or `None` for
/// one this reader does not decode (the default then stays unknown).
pub(super) fn unescape(sequence: &str, flavor: Escapes) -> Option<String> {
    let body = sequence.strip_prefix('\\')?;
    let mut chars = body.chars();
    let first = chars.next()?;
    let rest = chars.as_str();
    let single = |c: char| rest.is_empty().then(|| c.to_string());
    match first {
        '\n' | '\r' if rest.trim_start_matches('\n').is_empty() => Some(String::new()),
        'n' => single('\n'),
        'r' => single('\r'),
        't' => single('\t'),
        'b' => single('\u{8}'),
        'f' => single('\u{c}'),
        'v' => single('\u{b}'),
        '\\' | '\'' | '"' => single(first),
        'x' => code_point(rest, 2),
        'u' if flavor == Escapes::TypeScript && rest.starts_with('{') => {
            code_point(rest.strip_prefix('{')?.strip_suffix('}')?, 0)
        }
        'u' => code_point(rest, 4),
        'U' if flavor == Escapes::Python => code_point(rest, 8),
        'a' if flavor == Escapes::Python => single('\u{7}'),
        '0'..='7' if flavor == Escapes::Python => {
            let value = u32::from_str_radix(body, 8).ok()?;
            char::from_u32(value).map(String::from)
        }
        '0' => single('\0'),
        c if flavor == Escapes::TypeScript && !c.is_ascii_alphanumeric() => single(c),
        _ => None,
    }
}

/// A character from its hex digits; `len` 0 means any length up to 6.
fn code_point(hex: &str, len: usize) -> Option<String> {
    let ok_len = if len == 0 { (1..=6).contains(&hex.len()) } else { hex.len() == len };
    if !ok_len || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    char::from_u32(u32::from_str_radix(hex, 16).ok()?).map(String::from)
}
