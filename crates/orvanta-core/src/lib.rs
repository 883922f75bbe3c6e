//! Orvanta's domain types.
//!
//! Everything here is plain data: identifiers that can only be built through
//! `parse`, the job and script models, and the errors a parse can give. The
//! crate knows nothing of HTTP, SQL or processes, so every other crate can
//! share it without dragging those in.

pub mod access;
pub mod flow;
pub mod ids;
pub mod job;
pub mod json;
pub mod json_schema;
pub mod language;
pub mod openflow;
pub mod path;
pub mod script;

pub use access::{acl_perm, Grantee, Perm, Role, Scope};
pub use flow::{Flow, FlowVersion, NewFlow};
pub use ids::{JobId, ScriptHash, Username, WorkspaceId};
pub use job::{Concurrency, FlowLink, Job, JobArgs, JobKind, JobStatus, NewJob, Trigger};
pub use language::Language;
pub use path::RunnablePath;
pub use script::{NewScript, Script, ScriptSettings};

/// A value that failed to parse into one of the domain types.
///
/// The message says what was wrong and what a valid value looks like, so the
/// HTTP layer can hand it to the client as is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

impl ParseError {
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// Milliseconds since the Unix epoch: the one time representation stored.
pub type Millis = i64;

/// The current time in milliseconds since the Unix epoch.
pub fn now_millis() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

/// Renders stored milliseconds as an RFC 3339 timestamp for the API.
pub fn millis_to_rfc3339(ms: Millis) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
