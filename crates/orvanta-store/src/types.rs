//! The records the store takes and gives, besides the core domain types.

use orvanta_core::{JobId, JobStatus, Millis, RunnablePath, Username, WorkspaceId};
use serde::Serialize;
use std::time::Duration;

/// How to open a store.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Most connections a PostgreSQL pool opens.
    pub max_connections: u32,
    /// How long an operation waits for a connection before it is `Unavailable`.
    pub acquire_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self { max_connections: 10, acquire_timeout: Duration::from_secs(5) }
    }
}

#[derive(Debug, Clone)]
pub struct NewWorkspace {
    pub id: WorkspaceId,
    pub name: String,
    pub created_by: Username,
    pub created_at: Millis,
}

#[derive(Debug, Clone, Serialize)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    pub created_by: Username,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: Username,
    pub email: String,
    /// argon2 PHC string.
    pub password_hash: String,
    pub super_admin: bool,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct User {
    pub username: Username,
    pub email: String,
    pub password_hash: String,
    pub super_admin: bool,
    pub created_at: Millis,
}

/// A user's role in a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything in the workspace.
    Admin,
    /// Can write scripts and flows, and run them.
    Developer,
    /// Can run and read only.
    Operator,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Developer => "developer",
            Self::Operator => "operator",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "developer" => Some(Self::Developer),
            "operator" => Some(Self::Operator),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct NewToken {
    /// SHA-256 of the secret, hex.
    pub hash: String,
    /// The first characters of the secret, for display and deletion.
    pub prefix: String,
    pub owner: Username,
    pub label: String,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    /// `None`: all of the owner's rights.
    pub scopes: Option<Vec<String>>,
    /// `Some`: valid in that workspace only.
    pub workspace: Option<WorkspaceId>,
}

#[derive(Debug, Clone)]
pub struct TokenRecord {
    pub hash: String,
    pub prefix: String,
    pub owner: Username,
    pub label: String,
    pub created_at: Millis,
    pub expires_at: Option<Millis>,
    pub last_used_at: Option<Millis>,
    pub scopes: Option<Vec<String>>,
    pub workspace: Option<WorkspaceId>,
}

/// The answer of [`crate::Store::enqueue`] for one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// The job was committed.
    Created(JobId),
    /// A job with the same id, or the same idempotency key within its window, existed: this one.
    Existing(JobId),
}

impl Enqueued {
    pub fn id(self) -> JobId {
        match self {
            Self::Created(id) | Self::Existing(id) => id,
        }
    }
}

/// What a worker asks for when it claims.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    pub worker: &'a str,
    pub tags: &'a [String],
    pub now: Millis,
    pub lease_until: Millis,
}

/// What a lease renewal found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseState {
    /// Still ours, keep going.
    Held,
    /// Still ours, but a cancel was asked: stop, for this reason.
    CancelRequested(String),
    /// Not ours any more (swept, or finished elsewhere): stop without completing.
    Lost,
}

/// A finished job, as the worker reports it.
#[derive(Debug, Clone)]
pub struct Completion<'a> {
    pub id: JobId,
    pub worker: &'a str,
    pub status: JobStatus,
    pub result: &'a serde_json::Value,
    pub now: Millis,
}

/// What the lease sweep did to one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swept {
    Requeued(JobId),
    Failed(JobId),
    /// A cancel had been asked before the worker vanished: the job is canceled, not run again.
    Canceled(JobId),
}

/// What a cancel did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CancelOutcome {
    /// The job was queued and is now canceled.
    Canceled,
    /// The job is running; its worker was asked to stop.
    Requested,
    /// The job had already finished, with this status.
    AlreadyFinished(JobStatus),
    NotFound,
}

/// Filters of the job list; every field optional.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    pub path: Option<RunnablePath>,
    pub status: Option<JobStatus>,
    pub trigger: Option<String>,
    pub created_by: Option<Username>,
    /// Created at or after.
    pub since: Option<Millis>,
    /// Created strictly before.
    pub before: Option<Millis>,
    /// Jobs started by this parent (or, for webhook tokens, this token's jobs).
    pub parent_job: Option<JobId>,
    pub limit: i64,
    pub offset: i64,
}

/// The result of a job failed by the lease sweep (its worker vanished again).
pub(crate) fn worker_lost_error(retries: i32) -> serde_json::Value {
    serde_json::json!({"error": {
        "name": "WorkerLost",
        "message": format!("the worker running this job stopped renewing its lease and the job had already been retried {retries} time(s); it was not retried again. Run it again if it is safe to do so."),
    }})
}

/// The result of a canceled job.
pub(crate) fn canceled_error(reason: &str) -> serde_json::Value {
    serde_json::json!({"error": {"name": "Canceled", "message": format!("the job was canceled: {reason}")}})
}

/// A worker's heartbeat.
#[derive(Debug, Clone)]
pub struct WorkerPing<'a> {
    pub worker: &'a str,
    pub slots: i64,
    /// The tags it claims; none may contain a comma.
    pub tags: &'a [String],
    pub now: Millis,
}

impl WorkerPing<'_> {
    /// The tags as stored: `,a,b,`, so that `,tag,` finds one exactly.
    pub(crate) fn tags_text(&self) -> String {
        format!(",{},", self.tags.join(","))
    }
}
