//! TypeScript (Deno and Bun): the exported `main` read with
//! tree-sitter-typescript.
//!
//! `main` may be `export [async] function main(...)`, `export const main =
//! [async] (...) => ...` (or a function expression), or a local function
//! exported as `export { run as main }`. A default export is not `main`: the
//! wrapper imports `main` by name.
//!
//! Types map to JSON Schema (`number`, `string[]`, `Array<T>`, `{ a: number }`,
//! `Record<string, T>`, `"a" | "b"` → enum, `Date` → date-time string,
//! `S3Object` → s3object), following type aliases and interfaces declared at
//! the top level of the same file. `b?: T` and `T | undefined` are optional;
//! `T | null` is nullable. `...rest` lets extra arguments through.
//!
//! A destructured parameter (`{ a, b }: { a: number, b: string }`) stays one
//! parameter, because the wrapper passes arguments by position: it is named
//! `arg{i}` after its position and its schema is its type (an object here).

use super::common::{self, Escapes, Ty, MAX_DEPTH};
use super::{MainSignature, SchemaError};
use orvanta_core::Language;
use serde_json::{json, Map, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use tree_sitter::Node;

/// Reads the signature of the exported `main` of a TypeScript script.
pub(super) fn parse(language: Language, code: &str) -> Result<MainSignature, SchemaError> {
    let tree = common::parse(tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(), code)?;
    let root = tree.root_node();
    let Some(main) = find_main(root, code) else {
        let context = "before an exported `main` could be found";
        let no_main = SchemaError::NoMain { language };
        return Err(common::syntax_error(root, code, context).unwrap_or(no_main));
    };
    let reader = Reader {
        code,
        types: type_declarations(root, code),
        expanding: RefCell::default(),
        expansions: Cell::default(),
    };
    let mut signature =
        MainSignature { params: Vec::new(), accepts_extra: false, is_async: common::has_token(main, "async") };
    if let Some(single) = main.child_by_field_name("parameter") {
        // `x => ...`: one parameter without a type.
        let name = common::text(single, code).to_owned();
        signature.params.push(common::param(name, None, None, false, false));
        return Ok(signature);
    }
    let Some(parameters) = main.child_by_field_name("parameters") else {
        return Ok(signature);
    };
    if let Some(error) = common::syntax_error(parameters, code, "in the parameters of `main`") {
        return Err(error);
    }
    for (position, node) in common::children(parameters).into_iter().enumerate() {
        reader.parameter(node, position, &mut signature);
    }
    Ok(signature)
}

/// The function node of the exported `main`, if the script has one (the
/// last one, as with any redeclaration).
fn find_main<'t>(root: Node<'t>, code: &str) -> Option<Node<'t>> {
    let statements = common::children(root);
    let local_main = local_exported_as_main(&statements, code);
    let mut found = None;
    for statement in statements {
        let definition = match statement.kind() {
            "export_statement" if !common::has_token(statement, "default") => statement
                .child_by_field_name("declaration")
                .and_then(|declaration| function_named(declaration, "main", code)),
            _ => local_main.and_then(|local| function_named(statement, local, code)),
        };
        found = definition.or(found);
    }
    found
}

/// The local name exported as `main` by an export clause: `run` for
/// `export { run as main }`, `main` for `export { main }`.
fn local_exported_as_main<'c>(statements: &[Node<'_>], code: &'c str) -> Option<&'c str> {
    let mut local = None;
    for statement in statements {
        if statement.kind() != "export_statement" || statement.child_by_field_name("source").is_some() {
            continue; // `export { main } from "./other"` is not in this file
        }
        let clauses = common::children(*statement).into_iter().filter(|child| child.kind() == "export_clause");
        for specifier in clauses.flat_map(common::children) {
            let name = specifier.child_by_field_name("name").map(|n| common::text(n, code));
            let alias = specifier.child_by_field_name("alias").map(|n| common::text(n, code));
            if alias.or(name) == Some("main") {
                local = name;
            }
        }
    }
    local
}

/// The function that `declaration` defines under `name`, if any.
fn function_named<'t>(declaration: Node<'t>, name: &str, code: &str) -> Option<Node<'t>> {
    let is_named = |node: Node<'_>| node.child_by_field_name("name").is_some_and(|n| common::text(n, code) == name);
    match declaration.kind() {
        "function_declaration" | "generator_function_declaration" if is_named(declaration) => Some(declaration),
        "lexical_declaration" | "variable_declaration" => common::children(declaration)
            .into_iter()
            .filter(|declarator| declarator.kind() == "variable_declarator" && is_named(*declarator))
            .filter_map(|declarator| declarator.child_by_field_name("value"))
            .find(|value| matches!(value.kind(), "arrow_function" | "function_expression" | "generator_function")),
        _ => None,
    }
}

/// Top-level `type X = ...` and `interface X {...}`, by name, so that
/// `main(input: Input)` gets the shape of `Input`.
fn type_declarations<'t>(root: Node<'t>, code: &str) -> HashMap<String, Node<'t>> {
    let mut types = HashMap::new();
    for statement in common::children(root) {
        let declaration = match statement.kind() {
            "export_statement" => statement.child_by_field_name("declaration"),
            _ => Some(statement),
        };
        let Some(declaration) = declaration else {
            continue;
        };
        let body = match declaration.kind() {
            "type_alias_declaration" => declaration.child_by_field_name("value"),
            "interface_declaration" => declaration.child_by_field_name("body"),
            _ => None,
        };
        if let (Some(name), Some(body)) = (declaration.child_by_field_name("name"), body) {
            types.insert(common::text(name, code).to_owned(), body);
        }
    }
    types
}

/// Converts the types and defaults of one script.
struct Reader<'t, 'c> {
    code: &'c str,
    types: HashMap<String, Node<'t>>,
    /// The aliases being expanded, innermost last.
    expanding: RefCell<Vec<String>>,
    /// How many aliases have been expanded so far.
    expansions: Cell<usize>,
}

/// Bounds the work on aliases that refer to others many times over
/// (`type B = { x: A, y: A }; type C = { x: B, y: B }; ...` doubles each step).
const MAX_EXPANSIONS: usize = 64;

impl Reader<'_, '_> {
    fn text(&self, node: Node<'_>) -> &str {
        common::text(node, self.code)
    }

    /// Adds one `required_parameter` / `optional_parameter` to `signature`.
    fn parameter(&self, node: Node<'_>, position: usize, signature: &mut MainSignature) {
        let Some(pattern) = node.child_by_field_name("pattern") else {
            return;
        };
        let name = match pattern.kind() {
            "identifier" => self.text(pattern).to_owned(),
            "rest_pattern" => {
                signature.accepts_extra = true;
                return;
            }
            "object_pattern" | "array_pattern" => format!("arg{position}"),
            _ => return, // `this: T`
        };
        let ty = node.child_by_field_name("type").map(|annotation| self.type_of(annotation, 0));
        let value = node.child_by_field_name("value");
        let default = value.and_then(|v| self.literal(v, 0));
        let optional = node.kind() == "optional_parameter";
        let param = common::param(name, ty, default, value.is_some(), optional);
        signature.params.push(param);
    }

    /// The schema of a type.
    fn type_of(&self, node: Node<'_>, depth: usize) -> Ty {
        if depth > MAX_DEPTH {
            return Ty::any();
        }
        let first_child = || node.named_child(0).map_or_else(Ty::any, |c| self.type_of(c, depth + 1));
        match node.kind() {
            "type_annotation" | "parenthesized_type" | "readonly_type" => first_child(),
            "predefined_type" => match self.text(node) {
                "number" => Ty::of(json!({"type": "number"})),
                "string" => Ty::of(json!({"type": "string"})),
                "boolean" => Ty::of(json!({"type": "boolean"})),
                "bigint" => Ty::of(json!({"type": "integer"})),
                "object" => Ty::of(json!({"type": "object"})),
                "void" | "undefined" => Ty { undefined: true, ..Ty::any() },
                _ => Ty::any(), // any, unknown, never
            },
            "type_identifier" => self.declared(self.text(node), depth),
            "nested_type_identifier" => {
                let name = node.child_by_field_name("name").map_or("", |n| self.text(n));
                Ty::of(named(name))
            }
            "generic_type" => self.generic(node, depth),
            "array_type" => Ty::of(common::array_of(Some(first_child().schema))),
            "tuple_type" => Ty::of(common::array_of(None)),
            "object_type" | "interface_body" => Ty::of(self.object(node, depth)),
            "union_type" => {
                let mut members = Vec::new();
                self.collect_union(node, depth, &mut members);
                Ty::union(members)
            }
            "literal_type" => match node.named_child(0) {
                Some(inner) if inner.kind() == "null" => Ty { nullable: true, ..Ty::of(json!({"type": "null"})) },
                Some(inner) if inner.kind() == "undefined" => Ty { undefined: true, ..Ty::any() },
                Some(inner) => match self.literal(inner, depth + 1) {
                    Some(value) => Ty::of(common::enum_schema(vec![value])),
                    None => Ty::any(),
                },
                None => Ty::any(),
            },
            _ => Ty::any(),
        }
    }

    /// The schema of a type name: Orvanta's own (`S3Object`, `Date`), else
    /// the alias or interface of that name in the script, expanded once per
    /// branch (a recursive type becomes `{}` where it recurs) and at most
    /// [`MAX_EXPANSIONS`] times per script.
    fn declared(&self, name: &str, depth: usize) -> Ty {
        let builtin = named(name);
        let Some(declared) = self.types.get(name).filter(|_| builtin == json!({})) else {
            return Ty::of(builtin);
        };
        if self.expanding.borrow().iter().any(|n| n == name) || self.expansions.get() >= MAX_EXPANSIONS {
            return Ty::any();
        }
        self.expansions.set(self.expansions.get() + 1);
        self.expanding.borrow_mut().push(name.to_owned());
        let ty = self.type_of(*declared, depth + 1);
        self.expanding.borrow_mut().pop();
        ty
    }

    /// `A | B | C` nests as `(A | B) | C`: flattened here.
    fn collect_union(&self, node: Node<'_>, depth: usize, members: &mut Vec<Ty>) {
        for child in common::children(node) {
            if child.kind() == "union_type" && depth < MAX_DEPTH {
                self.collect_union(child, depth + 1, members);
            } else {
                members.push(self.type_of(child, depth + 1));
            }
        }
    }

    /// `Array<T>`, `Record<K, V>`, and the rest as any value.
    fn generic(&self, node: Node<'_>, depth: usize) -> Ty {
        let base = node.child_by_field_name("name").map_or("", |name| match name.kind() {
            "nested_type_identifier" => name.child_by_field_name("name").map_or("", |n| self.text(n)),
            _ => self.text(name),
        });
        let arguments = node.child_by_field_name("type_arguments").map(common::children).unwrap_or_default();
        match base {
            "Array" | "ReadonlyArray" => {
                let items = (arguments.len() == 1).then(|| self.type_of(arguments[0], depth + 1).schema);
                Ty::of(common::array_of(items))
            }
            "Record" => Ty::of(json!({"type": "object"})),
            _ => Ty::any(),
        }
    }

    /// `{ a: number, b?: string }` → object with properties and `required`.
    fn object(&self, node: Node<'_>, depth: usize) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for member in common::children(node) {
            if member.kind() != "property_signature" {
                continue; // methods, index signatures
            }
            let Some(key) = member.child_by_field_name("name").and_then(|n| self.key(n)) else {
                continue;
            };
            let schema =
                member.child_by_field_name("type").map_or_else(|| json!({}), |t| self.type_of(t, depth + 1).schema);
            if !common::has_token(member, "?") {
                required.push(Value::String(key.clone()));
            }
            properties.insert(key, schema);
        }
        let mut schema = json!({"type": "object", "properties": properties});
        if !required.is_empty() {
            schema["required"] = Value::Array(required);
        }
        schema
    }

    /// A property name: `a`, `"a b"`, `1`.
    fn key(&self, node: Node<'_>) -> Option<String> {
        match node.kind() {
            "property_identifier" | "number" => Some(self.text(node).to_owned()),
            "string" => self.string(node),
            _ => None, // computed names
        }
    }

    /// A literal expression as JSON: numbers, strings, template strings
    /// without substitutions, booleans, `null`, arrays and objects.
    fn literal(&self, node: Node<'_>, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        match node.kind() {
            "number" => common::number(self.text(node), false),
            "string" | "template_string" => self.string(node).map(Value::String),
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            "null" => Some(Value::Null),
            "unary_expression" => {
                let negative = match node.child_by_field_name("operator").map(|op| op.kind()) {
                    Some("-") => true,
                    Some("+") => false,
                    _ => return None,
                };
                let mut argument = node.child_by_field_name("argument")?;
                while argument.kind() == "parenthesized_expression" {
                    argument = argument.named_child(0)?;
                }
                match argument.kind() {
                    "number" => common::number(self.text(argument), negative),
                    _ => None,
                }
            }
            "parenthesized_expression" | "as_expression" | "satisfies_expression" => {
                self.literal(node.named_child(0)?, depth + 1)
            }
            "array" => common::children(node)
                .into_iter()
                .map(|item| self.literal(item, depth + 1))
                .collect::<Option<Vec<_>>>()
                .map(Value::Array),
            "object" => {
                let mut object = Map::new();
                for pair in common::children(node) {
                    if pair.kind() != "pair" {
                        return None; // shorthand, spread, methods
                    }
                    let key = self.key(pair.child_by_field_name("key")?)?;
                    let value = self.literal(pair.child_by_field_name("value")?, depth + 1)?;
                    object.insert(key, value);
                }
                Some(Value::Object(object))
            }
            _ => None,
        }
    }

    /// The value of a string or template literal with its escapes decoded.
    fn string(&self, node: Node<'_>) -> Option<String> {
        let mut value = String::new();
        for part in common::children(node) {
            match part.kind() {
                "string_fragment" => value.push_str(self.text(part)),
                "escape_sequence" => value.push_str(&common::unescape(self.text(part), Escapes::TypeScript)?),
                _ => return None, // `${...}` substitutions
            }
        }
        Some(value)
    }
}

/// The schema of a type name that is not declared in the script.
fn named(name: &str) -> Value {
    match name {
        "Date" => common::date_time(),
        "S3Object" => common::s3object(),
        "Object" => json!({"type": "object"}),
        _ => json!({}),
    }
}
