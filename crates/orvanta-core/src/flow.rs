//! Flows and their immutable versions.

use crate::{Millis, ParseError, RunnablePath, Username, WorkspaceId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A flow version's id: a positive number, increasing and unique in the instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FlowVersion(i64);

impl FlowVersion {
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s.parse::<i64>() {
            Ok(n) if n > 0 => Ok(Self(n)),
            _ => Err(ParseError::new(format!("flow version '{s}' is not valid: it is a positive whole number"))),
        }
    }
    /// A version id the store handed out.
    pub fn from_i64(n: i64) -> Self {
        Self(n)
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

impl fmt::Display for FlowVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A new version of a flow, as the store receives it.
#[derive(Debug, Clone)]
pub struct NewFlow {
    pub workspace: WorkspaceId,
    pub path: RunnablePath,
    pub summary: String,
    pub description: String,
    /// The OpenFlow value, verbatim (fields Orvanta does not use are kept).
    pub value: serde_json::Value,
    /// JSON Schema of the flow's input.
    pub schema: serde_json::Value,
    pub created_by: Username,
    pub created_at: Millis,
}

/// A stored flow version.
#[derive(Debug, Clone)]
pub struct Flow {
    pub workspace: WorkspaceId,
    pub path: RunnablePath,
    pub version: FlowVersion,
    pub summary: String,
    pub description: String,
    pub value: serde_json::Value,
    pub schema: serde_json::Value,
    pub created_by: Username,
    pub created_at: Millis,
    pub archived: bool,
}
