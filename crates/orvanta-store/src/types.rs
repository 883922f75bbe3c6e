//! The records the store takes and gives, besides the core domain types.

pub use orvanta_core::Role;
use orvanta_core::{JobId, JobStatus, Millis, NewJob, RunnablePath, Username, WorkspaceId};
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
    /// A display name.
    pub name: Option<String>,
    /// argon2 PHC string.
    pub password_hash: String,
    pub super_admin: bool,
    pub created_at: Millis,
}

#[derive(Debug, Clone)]
pub struct User {
    pub username: Username,
    pub email: String,
    pub name: Option<String>,
    pub password_hash: String,
    pub super_admin: bool,
    pub created_at: Millis,
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
    /// Made by a login (ended by a logout), not by its owner's request.
    pub session: bool,
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
    pub session: bool,
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
    /// Paths that start with this text.
    pub path_prefix: Option<String>,
    pub script_hash: Option<orvanta_core::ScriptHash>,
    /// Any of these statuses (empty: any status).
    pub statuses: Vec<JobStatus>,
    /// Any of these kinds (empty: any kind).
    pub kinds: Vec<orvanta_core::JobKind>,
    /// Only jobs without a parent (not flow steps, not subflows).
    pub root_only: bool,
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

/// `scheduled_for` of a job created to wait until an activation (an
/// iteration of a sequential loop): 9999-12-31, never due by itself.
pub const PARKED: Millis = 253_402_300_799_000;

/// One step of the flow engine, committed in one transaction: the job that
/// ended, the state of every flow run it advanced, and the jobs it started.
/// Nothing is written unless all of it is.
#[derive(Debug, Clone, Default)]
pub struct FlowCommit {
    /// A job that ended and that `worker` holds (a flow step).
    pub finish: Option<Finish>,
    /// Flow runs whose state changes, each only if its `flow_rev` is still `rev`.
    pub flows: Vec<FlowUpdate>,
    pub enqueue: Vec<NewJob>,
    /// Parked jobs to make due now.
    pub activate: Vec<Activation>,
    /// Steps that begin to wait for an inbound webhook's event.
    pub waits: Vec<HookWait>,
    pub now: Millis,
}

/// A job that ended, in a [`FlowCommit`].
#[derive(Debug, Clone)]
pub struct Finish {
    pub id: JobId,
    pub worker: String,
    pub status: JobStatus,
    pub result: serde_json::Value,
}

/// A flow run's new state, in a [`FlowCommit`].
#[derive(Debug, Clone)]
pub struct FlowUpdate {
    pub id: JobId,
    /// The `flow_rev` the state was read at.
    pub rev: i64,
    /// The run's engine state, as JSON text.
    pub state: String,
    /// When the run must be looked at again (a suspend's deadline).
    pub wake_at: Option<Millis>,
    /// The run ended with this status and result.
    pub end: Option<(JobStatus, serde_json::Value)>,
}

/// The parked job of iteration `index` of step `step_id` of flow `parent`.
#[derive(Debug, Clone)]
pub struct Activation {
    pub parent: JobId,
    pub step_id: String,
    pub index: i64,
}

/// How a [`FlowCommit`] went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowCommitted {
    Done,
    /// A flow's state changed meanwhile (or the run ended): nothing was
    /// written; read again and retry.
    Conflict,
    /// The worker no longer holds the finished job: nothing was written.
    Lost,
}

/// A child job of a flow run, as [`crate::QueueStore::flow_children`] lists them.
#[derive(Debug, Clone)]
pub struct FlowChild {
    pub id: JobId,
    pub index: Option<i64>,
    pub status: JobStatus,
    pub result: Option<serde_json::Value>,
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

/// An inbound webhook definition (contract §8), as stored: `config` is the
/// server's JSON (verifier, sealed keys, flows to start), opaque here.
#[derive(Debug, Clone, PartialEq)]
pub struct Hook {
    /// The URL's id: random, unguessable.
    pub id: String,
    pub workspace: WorkspaceId,
    pub name: String,
    pub config: serde_json::Value,
    pub url_verified: bool,
    pub created_by: Username,
    /// Who saved it last (the creator until an update): its runs start as them.
    pub edited_by: Username,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// One request to a hook's URL, as recorded in its history.
#[derive(Debug, Clone, PartialEq)]
pub struct HookEvent {
    /// The record's own id (time-ordered).
    pub id: String,
    pub hook_id: String,
    pub workspace: WorkspaceId,
    /// The platform's delivery id when it sends one, else generated.
    pub event_id: String,
    pub received_at: Millis,
    /// `verified`, `refused`, `ignored`, `duplicate`, `answered`, `too_large`.
    pub outcome: String,
    pub reason: Option<String>,
    pub headers_matched: Option<bool>,
    pub method: String,
    pub query: String,
    /// `[[name, value], ...]`, secrets masked by the caller.
    pub headers: serde_json::Value,
    pub body: Vec<u8>,
    /// The runs it started: `[{"path", "job_id"} | {"path", "error"}]`.
    pub jobs: serde_json::Value,
    /// The waiting steps it completed.
    pub waits: serde_json::Value,
    pub replay_of: Option<String>,
}

/// One event to record, with the platform's delivery id and the jobs it starts.
#[derive(Debug, Clone)]
pub struct HookRecord {
    pub event: HookEvent,
    pub delivery: Option<String>,
    pub jobs: Vec<NewJob>,
    /// Per job: free its idempotency key first when the run holding it has
    /// ended (Conductor's `FAIL_ON_RUNNING`), in the event's transaction and
    /// only when the event acts (not for a duplicate delivery).
    pub release_ended_keys: Vec<bool>,
}

/// What recording an event did.
#[derive(Debug, Clone, PartialEq)]
pub enum HookRecorded {
    /// Recorded; its jobs were enqueued (in the order given); the steps
    /// waiting on its hook as the transaction saw them, to test the event
    /// against.
    New(Vec<Enqueued>, Vec<HookWait>),
    /// Its delivery id was acted on before: recorded as `duplicate`, nothing enqueued.
    Duplicate,
}

/// A flow step waiting for an inbound webhook's event (contract §8.4).
#[derive(Debug, Clone, PartialEq)]
pub struct HookWait {
    /// The step's job id (no job row: the wait is the step).
    pub job: JobId,
    pub hook_id: String,
    pub workspace: WorkspaceId,
    /// The flow run the step belongs to.
    pub flow: JobId,
    pub step_id: String,
    /// `[[jsonpath, value], ...]`, resolved when the step started.
    pub matches: serde_json::Value,
    pub deadline: Option<Millis>,
    pub created_at: Millis,
}

/// A group of users of one workspace (for folder and item permissions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub workspace: WorkspaceId,
    pub name: String,
    pub summary: String,
    /// Sorted.
    pub members: Vec<Username>,
    pub created_by: Username,
    pub created_at: Millis,
}

/// A folder `f/{name}`: its owners and its readers and writers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folder {
    pub workspace: WorkspaceId,
    pub name: String,
    pub summary: String,
    /// `u/{user}` or `g/{group}`: may write the folder's items and change the folder.
    pub owners: Vec<String>,
    /// `u/{user}` or `g/{group}` → true: writer, false: reader.
    pub extra_perms: std::collections::BTreeMap<String, bool>,
    pub created_by: Username,
    pub created_at: Millis,
}

/// A member of a workspace, with what the members list shows of the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub username: Username,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub super_admin: bool,
    pub created_at: Millis,
}

/// An invitation of an email to a workspace, with the role it gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    pub workspace: WorkspaceId,
    /// Lower-case.
    pub email: String,
    pub role: Role,
    pub invited_by: Username,
    pub created_at: Millis,
}

/// A change to a user: each `Some` replaces the stored value.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub name: Option<String>,
    pub password_hash: Option<String>,
    pub super_admin: Option<bool>,
}

/// A variable: a value scripts read by path. A secret one's value is sealed
/// by the server before it is stored; the store never sees it in clear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    pub workspace: WorkspaceId,
    pub path: RunnablePath,
    pub value: String,
    pub is_secret: bool,
    pub description: String,
    pub created_by: Username,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// A resource type: a name and the JSON Schema its resources' values follow.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    pub workspace: WorkspaceId,
    pub name: String,
    pub schema: serde_json::Value,
    pub description: String,
    pub created_by: Username,
    pub created_at: Millis,
}

/// A resource: a typed JSON value (a database's connection, an API's
/// credentials), which may refer to variables as `$var:{path}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub workspace: WorkspaceId,
    pub path: RunnablePath,
    pub resource_type: String,
    pub value: serde_json::Value,
    pub description: String,
    pub created_by: Username,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// One version of an app: its stored JSON definition (no app runtime).
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub workspace: WorkspaceId,
    pub path: RunnablePath,
    /// 1 for the first save, then one more per save.
    pub version: i64,
    pub summary: String,
    pub value: serde_json::Value,
    pub policy: serde_json::Value,
    pub created_by: Username,
    pub created_at: Millis,
}
