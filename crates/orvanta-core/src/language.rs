//! The languages a script can be written in.

use crate::ParseError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A script language, named as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum Language {
    Python3,
    Deno,
    Bun,
    Bash,
}

impl Language {
    pub const ALL: [Language; 4] = [Language::Python3, Language::Deno, Language::Bun, Language::Bash];

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "python3" => Ok(Self::Python3),
            "deno" => Ok(Self::Deno),
            "bun" => Ok(Self::Bun),
            "bash" => Ok(Self::Bash),
            other => Err(ParseError::new(format!("unknown language '{other}'; use one of python3, deno, bun, bash"))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Python3 => "python3",
            Self::Deno => "deno",
            Self::Bun => "bun",
            Self::Bash => "bash",
        }
    }

    /// Whether the script is TypeScript (run by Deno or Bun).
    pub fn is_typescript(self) -> bool {
        matches!(self, Self::Deno | Self::Bun)
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::ids::string_conversions!(Language);
