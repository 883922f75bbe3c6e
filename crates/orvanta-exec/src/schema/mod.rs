//! The signature of a script's entry point, and what follows from it.
//!
//! [`parse_main`] reads `main`'s parameters (names, types, defaults) with a real
//! parser: tree-sitter for Python and TypeScript, a line scan for Bash, which
//! has no `main` but positional variables (`name="$1"`). From the resulting
//! [`MainSignature`] come the JSON Schema stored with a script version
//! ([`MainSignature::to_json_schema`]) and the arguments a wrapper passes to
//! `main` for one job ([`MainSignature::prepare_args`]).
//!
//! Rules shared by the languages:
//! - A parameter that may be `None`/`null` (`Optional[X]`, `X | None`,
//!   `x: number | null`) and has no default in code is not required: when the
//!   request leaves it out, [`MainSignature::prepare_args`] passes `null`, so
//!   the call still works. Its schema is the schema of `X`, with
//!   `"default": null`.
//! - A parameter without a type annotation takes its schema from its literal
//!   default when there is one (`n=3` is an integer), else `{}` (any value).
//! - Type names the schema does not know (a class, an interface from another
//!   module) give `{}`: any value is accepted and `main` sees it as sent.

mod bash;
mod common;
mod python;
mod typescript;

use orvanta_core::Language;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// One parameter of `main`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    /// JSON Schema of this parameter, e.g. `{"type":"integer"}`,
    /// `{"type":"array","items":{"type":"integer"}}`, `{}` for any value.
    pub schema: Value,
    /// The default as JSON when it is a literal that converts (numbers,
    /// strings, bools, `None`/`null`, lists, dicts/objects); `None` otherwise.
    ///
    /// A nullable parameter without a default in code has `Some(null)` here
    /// and `has_default == false`: Orvanta supplies that `null` itself.
    pub default: Option<Value>,
    /// Has a default in code (even a non-literal one), so the code applies it
    /// when the argument is left out.
    pub has_default: bool,
    /// Required = no default and not optional (`b?: string` in TypeScript and
    /// `Optional[str]` in Python are not required).
    pub required: bool,
}

/// The parameters of a script's `main`, in declaration order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MainSignature {
    /// In declaration order. For Bash, `params[i]` is always `$i+1`.
    pub params: Vec<Param>,
    /// Python `**kwargs`, or a TypeScript rest parameter (`...rest`): extra
    /// arguments are passed through instead of dropped.
    pub accepts_extra: bool,
    /// `main` is a coroutine: Python `async def main` (also set for a
    /// TypeScript `async` main, whose wrapper awaits the result either way).
    pub is_async: bool,
}

/// Why the signature of `main` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchemaError {
    /// The script has no entry point that Orvanta can call.
    #[error("{}", no_main_message(*.language))]
    NoMain { language: Language },
    /// The code does not parse where it matters: `main` cannot be found, or
    /// its parameter list is broken.
    #[error("syntax error on line {line}: {message}")]
    Syntax { line: usize, message: String },
}

fn no_main_message(language: Language) -> String {
    match language {
        Language::Python3 => "no `def main(...)` found at the top level of the python3 script; \
             define one, e.g. `def main(name: str):`"
            .to_owned(),
        Language::Deno | Language::Bun => format!(
            "no exported function `main` found at the top level of the {language} script; \
             write `export async function main(...)`"
        ),
        Language::Bash => "the bash script has no entry point".to_owned(),
    }
}

/// Why the arguments of a job do not fit `main`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    /// A required argument is not in the request.
    #[error(
        "missing required argument '{name}' of {signature}; \
         pass it in the request body or give it a default"
    )]
    Missing {
        name: String,
        /// `main(a, b)`: the parameter names, for the message.
        signature: String,
    },
}

/// Reads the signature of the entry point of a script in `language`.
///
/// Python: the last top-level `def main` / `async def main` (decorated or
/// not). TypeScript: an exported `main` function, arrow function or function
/// expression (`export { run as main }` works too; a default export does
/// not). Bash: the positional variables, never an error.
pub fn parse_main(language: Language, code: &str) -> Result<MainSignature, SchemaError> {
    match language {
        Language::Python3 => python::parse(code),
        Language::Deno | Language::Bun => typescript::parse(language, code),
        Language::Bash => Ok(bash::parse(code)),
    }
}

impl MainSignature {
    /// The JSON Schema of the arguments object: `$schema`, `type: object`,
    /// `properties` (each with its `default` when known), `required` and
    /// `order` (the parameter names in declaration order, since JSON objects
    /// are unordered).
    pub fn to_json_schema(&self) -> Value {
        let mut properties = Map::new();
        for param in &self.params {
            let mut schema = param.schema.clone();
            if let (Some(default), Value::Object(fields)) = (&param.default, &mut schema) {
                fields.insert("default".to_owned(), default.clone());
            }
            properties.insert(param.name.clone(), schema);
        }
        let required: Vec<&str> = self.params.iter().filter(|p| p.required).map(|p| p.name.as_str()).collect();
        json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "type": "object",
            "properties": properties,
            "required": required,
            "order": self.names(),
        })
    }

    /// Arranges the arguments of one job for the call of `main`.
    ///
    /// Keeps the arguments `main` declares, fills in `null` for a nullable
    /// parameter without a default in code (see [`Param::default`]), leaves
    /// out the others that have a default (the code applies its own), and
    /// keeps undeclared keys only when [`Self::accepts_extra`]. The first
    /// missing required argument is an error.
    ///
    /// The map is built in parameter order, then extras; it iterates in that
    /// order only with serde_json's `preserve_order` feature, so a wrapper that
    /// calls positionally walks [`Self::params`] instead.
    pub fn prepare_args(&self, args: &Map<String, Value>) -> Result<Map<String, Value>, ArgError> {
        let mut kept = Map::new();
        for param in &self.params {
            match args.get(&param.name) {
                Some(value) => {
                    kept.insert(param.name.clone(), value.clone());
                }
                None if param.required => {
                    return Err(ArgError::Missing {
                        name: param.name.clone(),
                        signature: format!("main({})", self.names().join(", ")),
                    })
                }
                None => {
                    if let (false, Some(default)) = (param.has_default, &param.default) {
                        kept.insert(param.name.clone(), default.clone());
                    }
                }
            }
        }
        if self.accepts_extra {
            for (key, value) in args {
                if !self.params.iter().any(|p| p.name == *key) {
                    kept.insert(key.clone(), value.clone());
                }
            }
        }
        Ok(kept)
    }

    fn names(&self) -> Vec<&str> {
        self.params.iter().map(|p| p.name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests;
