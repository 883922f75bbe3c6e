//! Runnable paths: `u/{user}/{name}` or `f/{folder}/{name}`, further segments allowed.

use crate::ParseError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The path of a script or flow inside a workspace.
///
/// Segments are `[a-z0-9_-]+` with `.` also allowed inside a segment; the
/// first segment is `u` or `f` and at least two segments follow it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(try_from = "String", into = "String")]
pub struct RunnablePath(String);

impl RunnablePath {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        const HINT: &str = "a path is u/{user}/{name} or f/{folder}/{name}";
        if s.len() > 255 {
            return Err(ParseError::new(format!("path is {} characters long; at most 255 are allowed", s.len())));
        }
        let segments: Vec<&str> = s.split('/').collect();
        if segments.len() < 3 || !(segments[0] == "u" || segments[0] == "f") {
            return Err(ParseError::new(format!("path '{s}' is not valid: {HINT}")));
        }
        for seg in &segments[1..] {
            if seg.is_empty() {
                return Err(ParseError::new(format!("path '{s}' has an empty segment: {HINT}")));
            }
            if let Some(c) =
                seg.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.')))
            {
                return Err(ParseError::new(format!(
                    "path '{s}' has the character '{c}'; segments may use only a-z, 0-9, '_', '-' and '.'"
                )));
            }
            if seg.starts_with('.') || seg.ends_with('.') {
                return Err(ParseError::new(format!(
                    "path '{s}' has a segment that starts or ends with '.'; '.' is allowed only inside a segment"
                )));
            }
        }
        Ok(Self(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The owner of a `u/{user}/...` path, if it is one.
    /// The folder of an `f/{folder}/...` path.
    pub fn folder(&self) -> Option<&str> {
        self.0.strip_prefix("f/").and_then(|rest| rest.split('/').next())
    }

    pub fn user_owner(&self) -> Option<&str> {
        self.0.strip_prefix("u/").and_then(|r| r.split('/').next())
    }
}

impl fmt::Display for RunnablePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

crate::ids::string_conversions!(RunnablePath);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_paths() {
        for p in ["u/admin/hello", "f/team/sub/x.v2", "u/a_b/c-d"] {
            assert!(RunnablePath::parse(p).is_ok(), "{p}");
        }
    }

    #[test]
    fn invalid_paths_name_the_character() {
        let e = RunnablePath::parse("u/admin/Hello").unwrap_err();
        assert!(e.0.contains("'H'"), "{e}");
        let e = RunnablePath::parse("u/admin/he llo").unwrap_err();
        assert!(e.0.contains("' '"), "{e}");
        assert!(RunnablePath::parse("x/admin/hello").is_err());
        assert!(RunnablePath::parse("u/admin").is_err());
        assert!(RunnablePath::parse("u//x").is_err());
        assert!(RunnablePath::parse("u/a/.x").is_err());
    }
}
