//! Identifiers that are only ever built through `parse`, so a value of these
//! types is valid wherever it travels.

use crate::ParseError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A workspace id: `[a-z0-9-]{1,50}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(try_from = "String", into = "String")]
pub struct WorkspaceId(String);

impl WorkspaceId {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.is_empty() || s.len() > 50 {
            return Err(ParseError::new(format!("workspace id '{s}' must be 1 to 50 characters of a-z, 0-9 and '-'")));
        }
        if let Some(c) = s.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
            return Err(ParseError::new(format!(
                "workspace id '{s}' has the character '{c}'; use only a-z, 0-9 and '-'"
            )));
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The outbox channel of instance events (users added, invited, joining):
    /// it takes a workspace's place in the outbox, and no workspace can have
    /// its id, since `parse` refuses '_'.
    pub fn instance_channel() -> Self {
        Self(INSTANCE_CHANNEL.to_owned())
    }

    pub fn is_instance_channel(&self) -> bool {
        self.0 == INSTANCE_CHANNEL
    }

    /// A workspace id, or the instance channel, as the outbox stores it.
    pub fn parse_channel(s: &str) -> Result<Self, ParseError> {
        if s == INSTANCE_CHANNEL {
            Ok(Self::instance_channel())
        } else {
            Self::parse(s)
        }
    }
}

const INSTANCE_CHANNEL: &str = "_instance";

/// A username: `[a-z0-9_]+`, at most 50 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Username(String);

impl Username {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        if s.is_empty() || s.len() > 50 {
            return Err(ParseError::new(format!("username '{s}' must be 1 to 50 characters of a-z, 0-9 and '_'")));
        }
        if let Some(c) = s.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_')) {
            return Err(ParseError::new(format!("username '{s}' has the character '{c}'; use only a-z, 0-9 and '_'")));
        }
        Ok(Self(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A script version hash: 16 lowercase hex characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ScriptHash(u64);

impl ScriptHash {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let valid = s.len() == 16 && s.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
        if !valid {
            return Err(ParseError::new(format!("script hash '{s}' must be 16 lowercase hexadecimal characters")));
        }
        u64::from_str_radix(s, 16)
            .map(Self)
            .map_err(|_| ParseError::new(format!("script hash '{s}' is not hexadecimal")))
    }
    /// Builds a hash from its numeric value (e.g. the first 8 bytes of a digest).
    pub fn from_u64(v: u64) -> Self {
        Self(v)
    }
}

/// A job id: a UUID (v7 for the jobs Orvanta creates, any UUID a caller chooses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(transparent)]
pub struct JobId(uuid::Uuid);

impl JobId {
    /// A new time-ordered id.
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7())
    }
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        uuid::Uuid::parse_str(s).map(Self).map_err(|_| ParseError::new(format!("job id '{s}' is not a UUID")))
    }
    pub fn as_uuid(&self) -> uuid::Uuid {
        self.0
    }
}

impl Default for JobId {
    fn default() -> Self {
        Self::new()
    }
}

macro_rules! string_conversions {
    ($t:ty) => {
        impl TryFrom<String> for $t {
            type Error = ParseError;
            fn try_from(s: String) -> Result<Self, ParseError> {
                Self::parse(&s)
            }
        }
        impl From<$t> for String {
            fn from(v: $t) -> String {
                v.to_string()
            }
        }
        impl std::str::FromStr for $t {
            type Err = ParseError;
            fn from_str(s: &str) -> Result<Self, ParseError> {
                Self::parse(s)
            }
        }
    };
}
pub(crate) use string_conversions;

string_conversions!(WorkspaceId);
string_conversions!(Username);
string_conversions!(ScriptHash);

impl fmt::Display for WorkspaceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
impl fmt::Display for ScriptHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}
impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_ids() {
        assert!(WorkspaceId::parse("demo").is_ok());
        assert!(WorkspaceId::parse("a-1").is_ok());
        let e = WorkspaceId::parse("Demo").unwrap_err();
        assert!(e.0.contains("'D'"), "{e}");
        assert!(WorkspaceId::parse("").is_err());
        assert!(WorkspaceId::parse(&"a".repeat(51)).is_err());
    }

    #[test]
    fn hashes_round_trip() {
        let h = ScriptHash::parse("00ff00ff00ff00ff").unwrap();
        assert_eq!(h.to_string(), "00ff00ff00ff00ff");
        assert!(ScriptHash::parse("00FF00FF00FF00FF").is_err());
        assert!(ScriptHash::parse("abc").is_err());
    }
}
