//! Unit tests of the signature readers, one file per language, plus the
//! schema and argument rules shared by all.

mod args;
mod bash;
mod python;
mod robustness;
mod typescript;

use super::{parse_main, MainSignature, Param};
use orvanta_core::Language;
use serde_json::Value;

/// Parses `code`, failing the test with the error if it does not parse.
fn sig(language: Language, code: &str) -> MainSignature {
    match parse_main(language, code) {
        Ok(signature) => signature,
        Err(error) => panic!("{language} code did not parse: {error}\n{code}"),
    }
}

/// The parameter called `name`.
fn param<'a>(signature: &'a MainSignature, name: &str) -> &'a Param {
    signature.params.iter().find(|p| p.name == name).unwrap_or_else(|| panic!("no parameter {name} in {signature:?}"))
}

/// The parameter names in order.
fn names(signature: &MainSignature) -> Vec<&str> {
    signature.params.iter().map(|p| p.name.as_str()).collect()
}

/// The schema of parameter `name`.
fn schema(signature: &MainSignature, name: &str) -> Value {
    param(signature, name).schema.clone()
}
