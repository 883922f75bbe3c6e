//! Bash: a script has no `main`; its arguments are the positional variables
//! it names, found by scanning lines of the forms `name="$1"`, `name=$1`,
//! `name="${2}"`, `name="${2:-default}"` and `name="${2:?message}"`
//! (optionally after `local`, `export`, `readonly` or `declare`). Every
//! argument is a string.
//!
//! The wrapper passes arguments by position, so `params[i]` is always `$i+1`:
//! a position the script reads without naming it (`$2` between `a="$1"` and
//! `c="$3"`) gets a parameter `arg2`, not required, so that the later ones
//! keep their places.

use super::common;
use super::{MainSignature, Param};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Positions beyond this are ignored: no real script names `${100}`, and a
/// gap up to it would otherwise fill the schema with placeholders.
const MAX_POSITION: usize = 64;

/// Reads the positional parameters of a Bash script. Never fails.
pub(super) fn parse(code: &str) -> MainSignature {
    let mut found: BTreeMap<usize, Param> = BTreeMap::new();
    for line in code.lines() {
        if let Some((position, param)) = assignment(line) {
            let taken = found.values().any(|p| p.name == param.name);
            if !taken {
                found.entry(position).or_insert(param);
            }
        }
    }
    let last = found.keys().next_back().copied().unwrap_or(0);
    let params = (1..=last)
        .map(|position| {
            found.remove(&position).unwrap_or_else(|| Param {
                name: format!("arg{position}"),
                schema: json!({"type": "string"}),
                default: None,
                has_default: false,
                required: false,
            })
        })
        .collect();
    MainSignature { params, accepts_extra: false, is_async: false }
}

/// `name="${2:-3}"` → `(2, Param { name, default: "3", .. })`.
fn assignment(line: &str) -> Option<(usize, Param)> {
    let mut rest = line.trim_start();
    for keyword in ["local ", "export ", "readonly ", "declare "] {
        if let Some(after) = rest.strip_prefix(keyword) {
            rest = after.trim_start();
            break;
        }
    }
    let (name, value) = rest.split_once('=')?;
    let mut chars = name.chars();
    let starts_well = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    if !starts_well || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let (position, default) = positional(value)?;
    if position == 0 || position > MAX_POSITION {
        return None;
    }
    let has_default = default.is_some();
    let default = default.and_then(literal_default).map(Value::String);
    let param =
        common::param(name.to_owned(), Some(common::Ty::of(json!({"type": "string"}))), default, has_default, false);
    Some((position, param))
}

/// The value of an assignment: `"$1"`, `$1`, `"${1}"`, `${1:-x}` → position and
/// the raw default text (`Some` when there is a `:-` or `-` default).
fn positional(value: &str) -> Option<(usize, Option<&str>)> {
    let (value, tail) = match value.strip_prefix('"') {
        Some(quoted) => {
            let end = closing_quote(quoted)?;
            (&quoted[..end], &quoted[end + 1..])
        }
        None => {
            let end = value.find(|c: char| c.is_whitespace() || c == ';').unwrap_or(value.len());
            value.split_at(end)
        }
    };
    // Only a comment or the end of the command may follow.
    let tail = tail.trim_start();
    if !(tail.is_empty() || tail.starts_with('#') || tail.starts_with(';')) {
        return None;
    }
    let expansion = value.strip_prefix('$')?;
    if let Some(braced) = expansion.strip_prefix('{') {
        let inner = braced.strip_suffix('}')?;
        let digits_end = inner.find(|c: char| !c.is_ascii_digit()).unwrap_or(inner.len());
        let position = inner[..digits_end].parse().ok()?;
        let after = &inner[digits_end..];
        // `${1:?message}` makes Bash fail without the argument: required.
        if after.is_empty() || after.starts_with(":?") || after.starts_with('?') {
            return Some((position, None));
        }
        let default = after.strip_prefix(":-").or_else(|| after.strip_prefix('-'))?;
        return Some((position, Some(default)));
    }
    // `$12` is `${1}2` in Bash: only one digit counts, and nothing may follow.
    let mut chars = expansion.chars();
    let digit = chars.next()?.to_digit(10)?;
    chars.as_str().is_empty().then_some((digit as usize, None))
}

/// The byte index of the `"` that closes a double-quoted value; quotes
/// inside `${...}` (as in `"${2:-"a b"}"`) do not count.
fn closing_quote(quoted: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (index, c) in quoted.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            '"' if depth == 0 => return Some(index),
            _ => {}
        }
    }
    None
}

/// A default as the script sees it, or `None` when it is computed
/// (`${2:-$HOME}`, `` ${2:-`date`} ``).
fn literal_default(raw: &str) -> Option<String> {
    for quote in ['"', '\''] {
        if let Some(inner) = raw.strip_prefix(quote).and_then(|r| r.strip_suffix(quote)) {
            return (quote == '\'' || !inner.contains(['$', '`'])).then(|| inner.to_owned());
        }
    }
    (!raw.contains(['$', '`', '"', '\''])).then(|| raw.to_owned())
}
