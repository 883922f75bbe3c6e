//! Python: the top-level `def main(...)` read with tree-sitter-python.
//!
//! Annotations map to JSON Schema (`int` → integer, `list[int]` → array of
//! integers, `Optional[X]` → X and nullable, `Literal["a", "b"]` → enum,
//! `datetime` → date-time string, `orvanta.S3Object` → s3object); defaults
//! that are literals become JSON. `*args` is ignored (a webhook sends named
//! arguments only); `**kwargs` lets extra arguments through. Keyword-only
//! parameters (after `*`) are parameters like the others.

use super::common::{self, Escapes, Ty, MAX_DEPTH};
use super::{MainSignature, SchemaError};
use orvanta_core::Language;
use serde_json::{json, Map, Value};
use tree_sitter::Node;

/// Reads the signature of the last top-level `main` of a Python script.
pub(super) fn parse(code: &str) -> Result<MainSignature, SchemaError> {
    let tree = common::parse(tree_sitter_python::LANGUAGE.into(), code)?;
    let root = tree.root_node();
    let Some(main) = find_main(root, code) else {
        let context = "before `def main` could be found";
        let no_main = SchemaError::NoMain { language: Language::Python3 };
        return Err(common::syntax_error(root, code, context).unwrap_or(no_main));
    };
    let mut signature =
        MainSignature { params: Vec::new(), accepts_extra: false, is_async: common::has_token(main, "async") };
    let Some(parameters) = main.child_by_field_name("parameters") else {
        return Ok(signature);
    };
    if let Some(error) = common::syntax_error(parameters, code, "in the parameters of `main`") {
        return Err(error);
    }
    for node in common::children(parameters) {
        read_parameter(node, code, &mut signature);
    }
    Ok(signature)
}

/// The last `def main` among the module's statements (decorated or not):
/// Python binds the name to the last definition.
fn find_main<'t>(root: Node<'t>, code: &str) -> Option<Node<'t>> {
    let mut found = None;
    for statement in common::children(root) {
        let definition = match statement.kind() {
            "decorated_definition" => statement.child_by_field_name("definition"),
            _ => Some(statement),
        };
        let Some(definition) = definition else {
            continue;
        };
        let named_main = definition.child_by_field_name("name").is_some_and(|name| common::text(name, code) == "main");
        if definition.kind() == "function_definition" && named_main {
            found = Some(definition);
        }
    }
    found
}

/// Adds one node of the parameter list to `signature`.
fn read_parameter(node: Node<'_>, code: &str, signature: &mut MainSignature) {
    let (target, annotation, value) = match node.kind() {
        "identifier" => (Some(node), None, None),
        "typed_parameter" => (node.named_child(0), node.child_by_field_name("type"), None),
        "default_parameter" | "typed_default_parameter" => {
            (node.child_by_field_name("name"), node.child_by_field_name("type"), node.child_by_field_name("value"))
        }
        "dictionary_splat_pattern" => (Some(node), None, None),
        _ => (None, None, None), // `*args`, `*`, `/`, tuple patterns
    };
    let Some(target) = target else { return };
    match target.kind() {
        "identifier" => {}
        "dictionary_splat_pattern" => {
            signature.accepts_extra = true;
            return;
        }
        _ => return,
    }
    let ty = annotation.map(|a| type_of(a, code, 0));
    let default = value.and_then(|v| literal(v, code, 0));
    let name = common::text(target, code).to_owned();
    let param = common::param(name, ty, default, value.is_some(), false);
    signature.params.push(param);
}

/// The schema of a type annotation.
fn type_of(node: Node<'_>, code: &str, depth: usize) -> Ty {
    if depth > MAX_DEPTH {
        return Ty::any();
    }
    match node.kind() {
        "type" | "parenthesized_expression" => match node.named_child(0) {
            Some(inner) => type_of(inner, code, depth + 1),
            None => Ty::any(),
        },
        "none" => Ty { nullable: true, ..Ty::of(json!({"type": "null"})) },
        "identifier" | "attribute" => Ty::of(named(last_segment(node, code))),
        // A forward reference: `"int"`, `"orvanta.S3Object"`.
        "string" => match string(node, code) {
            Some(name) if is_dotted_name(&name) => Ty::of(named(name.rsplit('.').next().unwrap_or_default())),
            _ => Ty::any(),
        },
        "union_type" | "binary_operator" if is_union(node, code) => {
            let mut members = Vec::new();
            collect_union(node, code, depth, &mut members);
            Ty::union(members)
        }
        "generic_type" => {
            let base = node.named_child(0).map_or("", |b| last_segment(b, code));
            let arguments = node
                .named_children(&mut node.walk())
                .find(|child| child.kind() == "type_parameter")
                .map(common::children)
                .unwrap_or_default();
            generic(base, &arguments, code, depth)
        }
        "subscript" => {
            let base = node.child_by_field_name("value").map_or("", |b| last_segment(b, code));
            let arguments: Vec<Node<'_>> = node.children_by_field_name("subscript", &mut node.walk()).collect();
            generic(base, &arguments, code, depth)
        }
        _ => Ty::any(),
    }
}

/// `X | Y`: tree-sitter reads it as a `union_type` or, depending on the
/// context, as a `binary_operator`.
fn is_union(node: Node<'_>, code: &str) -> bool {
    match node.kind() {
        "union_type" => true,
        "binary_operator" => node.child_by_field_name("operator").is_some_and(|op| common::text(op, code) == "|"),
        _ => false,
    }
}

/// `a | b | c` nests as `(a | b) | c`: flattened here.
fn collect_union(node: Node<'_>, code: &str, depth: usize, members: &mut Vec<Ty>) {
    for child in common::children(node) {
        let inner = match child.kind() {
            "type" => child.named_child(0).unwrap_or(child),
            _ => child,
        };
        if is_union(inner, code) && depth < MAX_DEPTH {
            collect_union(inner, code, depth + 1, members);
        } else {
            members.push(type_of(inner, code, depth + 1));
        }
    }
}

/// The schema of `base[arguments]`, e.g. `List[int]`, `Optional[str]`.
fn generic(base: &str, arguments: &[Node<'_>], code: &str, depth: usize) -> Ty {
    let argument = |i: usize| arguments.get(i).map(|a| type_of(*a, code, depth + 1));
    match base {
        "List" | "list" | "Sequence" | "Iterable" | "Set" | "set" | "FrozenSet" | "frozenset" => {
            let items = (arguments.len() == 1).then(|| argument(0)).flatten();
            Ty::of(common::array_of(items.map(|t| t.schema)))
        }
        "Tuple" | "tuple" => {
            let homogeneous =
                arguments.len() == 1 || (arguments.len() == 2 && common::text(arguments[1], code) == "...");
            let items = homogeneous.then(|| argument(0)).flatten();
            Ty::of(common::array_of(items.map(|t| t.schema)))
        }
        "Optional" => {
            let inner = argument(0).unwrap_or_else(Ty::any);
            Ty { nullable: true, ..inner }
        }
        "Union" => Ty::union(arguments.iter().map(|a| type_of(*a, code, depth + 1)).collect()),
        "Annotated" => argument(0).unwrap_or_else(Ty::any),
        "Literal" => {
            // All values or none: a partial enum would refuse valid arguments.
            let values: Option<Vec<Value>> =
                arguments.iter().map(|a| literal(a.named_child(0)?, code, depth + 1)).collect();
            match values {
                Some(values) if !values.is_empty() => Ty::of(common::enum_schema(values)),
                _ => Ty::any(),
            }
        }
        other => Ty::of(named(other)),
    }
}

/// The schema of a plain type name (its last dotted segment).
fn named(name: &str) -> Value {
    match name {
        "int" => json!({"type": "integer"}),
        "float" => json!({"type": "number"}),
        "str" => json!({"type": "string"}),
        "bool" => json!({"type": "boolean"}),
        "bytes" | "bytearray" => json!({"type": "string", "contentEncoding": "base64"}),
        "list" | "List" | "tuple" | "Tuple" | "set" | "Set" | "Sequence" | "Iterable" | "frozenset" | "FrozenSet" => {
            common::array_of(None)
        }
        "dict" | "Dict" | "Mapping" => json!({"type": "object"}),
        "datetime" => common::date_time(),
        "date" => json!({"type": "string", "format": "date"}),
        "S3Object" => common::s3object(),
        _ => json!({}), // Any, object, classes the schema cannot describe
    }
}

/// `datetime.datetime` → `datetime`; `int` → `int`.
fn last_segment<'a>(node: Node<'_>, code: &'a str) -> &'a str {
    match node.kind() {
        "attribute" => node.child_by_field_name("attribute").map_or("", |a| common::text(a, code)),
        _ => common::text(node, code),
    }
}

fn is_dotted_name(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|part| {
            part.chars().next().is_some_and(|c| c.is_alphabetic() || c == '_')
                && part.chars().all(|c| c.is_alphanumeric() || c == '_')
        })
}

/// A literal expression as JSON: numbers, strings, `True`/`False`, `None`,
/// lists, tuples and dicts with string keys. `None` for anything else.
fn literal(node: Node<'_>, code: &str, depth: usize) -> Option<Value> {
    if depth > MAX_DEPTH {
        return None;
    }
    match node.kind() {
        "integer" | "float" => common::number(common::text(node, code), false),
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        "none" => Some(Value::Null),
        "string" => string(node, code).map(Value::String),
        "concatenated_string" => {
            let parts: Option<Vec<String>> =
                common::children(node).into_iter().map(|part| string(part, code)).collect();
            parts.map(|parts| Value::String(parts.concat()))
        }
        "unary_operator" => {
            let argument = node.child_by_field_name("argument")?;
            let negative = match node.child(0).map(|op| op.kind()) {
                Some("-") => true,
                Some("+") => false,
                _ => return None,
            };
            match argument.kind() {
                "integer" | "float" => common::number(common::text(argument, code), negative),
                _ => None,
            }
        }
        "parenthesized_expression" => literal(node.named_child(0)?, code, depth + 1),
        "list" | "tuple" => common::children(node)
            .into_iter()
            .map(|item| literal(item, code, depth + 1))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        "dictionary" => {
            let mut object = Map::new();
            for pair in common::children(node) {
                if pair.kind() != "pair" {
                    return None; // `**other`
                }
                let key = string(pair.child_by_field_name("key")?, code)?;
                let value = literal(pair.child_by_field_name("value")?, code, depth + 1)?;
                object.insert(key, value);
            }
            Some(Value::Object(object))
        }
        _ => None,
    }
}

/// The value of a string literal; `None` for bytes, f-strings and escapes
/// this reader does not decode.
fn string(node: Node<'_>, code: &str) -> Option<String> {
    if node.kind() != "string" {
        return None;
    }
    let mut value = String::new();
    for part in common::children(node) {
        match part.kind() {
            "string_start" => {
                let prefix = common::text(part, code).trim_end_matches(['"', '\'']).to_ascii_lowercase();
                if prefix.contains(['b', 'f', 't']) {
                    return None;
                }
                if prefix.contains('r') {
                    let content = common::children(node)
                        .into_iter()
                        .filter(|c| c.kind() == "string_content")
                        .map(|c| common::text(c, code))
                        .collect();
                    return Some(content);
                }
            }
            "string_content" => value.push_str(&unescaped(part, code)?),
            "string_end" => {}
            _ => return None,
        }
    }
    Some(value)
}

/// The text of a `string_content` node with its escape sequences decoded.
fn unescaped(content: Node<'_>, code: &str) -> Option<String> {
    let mut value = String::new();
    let mut position = content.start_byte();
    for escape in common::children(content) {
        if escape.kind() != "escape_sequence" {
            return None;
        }
        value.push_str(code.get(position..escape.start_byte())?);
        value.push_str(&common::unescape(common::text(escape, code), Escapes::Python)?);
        position = escape.end_byte();
    }
    value.push_str(code.get(position..content.end_byte())?);
    Some(value)
}
