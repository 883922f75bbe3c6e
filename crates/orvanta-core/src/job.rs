//! Jobs: the unit of work and of durability.

use crate::{FlowVersion, JobId, Language, Millis, ParseError, RunnablePath, ScriptHash, Username, WorkspaceId};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Success,
    Failure,
    Canceled,
}

impl JobStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Canceled => "canceled",
        }
    }
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "queued" => Ok(Self::Queued),
            "running" => Ok(Self::Running),
            "success" => Ok(Self::Success),
            "failure" => Ok(Self::Failure),
            "canceled" => Ok(Self::Canceled),
            other => Err(ParseError::new(format!(
                "unknown job status '{other}'; use queued, running, success, failure or canceled"
            ))),
        }
    }
    /// Whether the job has finished (and will not change again).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Success | Self::Failure | Self::Canceled)
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobKind {
    Script,
    Flow,
    FlowStep,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Script => "script",
            Self::Flow => "flow",
            Self::FlowStep => "flowstep",
        }
    }
    pub fn parse(s: &str) -> Result<Self, ParseError> {
        match s {
            "script" => Ok(Self::Script),
            "flow" => Ok(Self::Flow),
            "flowstep" => Ok(Self::FlowStep),
            other => Err(ParseError::new(format!("unknown job kind '{other}'"))),
        }
    }
}

/// What started a job: `webhook`, `webhook_sync`, `stream`, `inbound:{id}`, `ui`, `api`, `flow`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Trigger(String);

impl Trigger {
    pub const WEBHOOK: &'static str = "webhook";
    pub const WEBHOOK_SYNC: &'static str = "webhook_sync";
    pub const STREAM: &'static str = "stream";
    pub const API: &'static str = "api";

    pub fn parse(s: &str) -> Result<Self, ParseError> {
        let ok = matches!(s, "webhook" | "webhook_sync" | "stream" | "ui" | "api" | "flow")
            || s.strip_prefix("inbound:").is_some_and(|id| !id.is_empty())
            || s.strip_prefix("http:").is_some_and(|path| !path.is_empty());
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ParseError::new(format!(
                "unknown trigger '{s}'; use webhook, webhook_sync, stream, inbound:{{id}}, http:{{route path}}, ui, api or flow"
            )))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

crate::ids::string_conversions!(Trigger);

/// A new job's arguments, a JSON object: as a value, or as the text of one
/// that its maker has checked. The text form spares a large body built
/// from text (an inbound event's) a parse, a copy and a rewrite.
#[derive(Debug, Clone, PartialEq)]
pub enum JobArgs {
    Value(serde_json::Value),
    Text(String),
}

impl JobArgs {
    /// The arguments as a value (a text that does not parse gives `null`).
    pub fn to_value(&self) -> serde_json::Value {
        match self {
            Self::Value(v) => v.clone(),
            Self::Text(t) => serde_json::from_str(t).unwrap_or(serde_json::Value::Null),
        }
    }
}

impl fmt::Display for JobArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Value(v) => write!(f, "{v}"),
            Self::Text(t) => f.write_str(t),
        }
    }
}

impl From<serde_json::Value> for JobArgs {
    fn from(v: serde_json::Value) -> Self {
        Self::Value(v)
    }
}

impl From<serde_json::Map<String, serde_json::Value>> for JobArgs {
    fn from(m: serde_json::Map<String, serde_json::Value>) -> Self {
        Self::Value(serde_json::Value::Object(m))
    }
}

/// A job as it is enqueued: everything the caller decides.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: JobId,
    pub workspace: WorkspaceId,
    pub kind: JobKind,
    pub path: Option<RunnablePath>,
    pub script_hash: Option<ScriptHash>,
    pub language: Option<Language>,
    pub args: JobArgs,
    pub created_by: Username,
    pub permissioned_as: Username,
    pub tag: String,
    pub trigger: Trigger,
    pub scheduled_for: Millis,
    pub parent_job: Option<JobId>,
    pub timeout_s: Option<u64>,
    /// `(key, expires_at)`: a repeat within the window returns the first job.
    pub idempotency_key: Option<String>,
    pub created_at: Millis,
    /// The prefix of the token that started the job, so that a
    /// webhook-specific token can read the jobs it started and no others.
    pub token_prefix: Option<String>,
    /// The scopes of the token that started the job (`None`: all its
    /// owner's rights): the job's own token has no more.
    pub scopes: Option<Vec<String>>,
    /// At most `limit` jobs of `key` run at once, across all workers.
    pub concurrency: Option<Concurrency>,
    /// For the jobs of a flow run: where in which flow the job belongs.
    pub flow: Option<FlowLink>,
}

/// A limit on how many jobs of one key (a script, by workspace and path)
/// run at once, across all workers: the claim skips a job whose key is at
/// its limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concurrency {
    pub key: String,
    pub limit: u32,
}

/// Where a job of a flow run belongs: the flow version whose value holds the
/// modules, the module list inside it, and the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowLink {
    /// The flow version whose value holds the module (list) this job runs.
    pub version: FlowVersion,
    /// The module list inside that value: empty for the top-level modules,
    /// else a locator such as `b/loop` or `d/branch/0` (see `orvanta-flow`).
    pub node: String,
    /// The id of the module this job runs (a step), or of the container
    /// module whose iteration or branch it runs (a nested flow).
    pub step_id: Option<String>,
    /// The iteration or branch number, for jobs of loops and branches.
    pub index: Option<i64>,
    /// The flow run at the top; the job itself for a root flow run.
    pub root: JobId,
}

/// A stored job, queued, running or finished.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: JobId,
    pub workspace: WorkspaceId,
    pub kind: JobKind,
    pub path: Option<RunnablePath>,
    pub script_hash: Option<ScriptHash>,
    pub language: Option<Language>,
    pub args: Option<serde_json::Value>,
    pub created_by: Username,
    pub permissioned_as: Username,
    pub tag: String,
    pub trigger: Trigger,
    pub status: JobStatus,
    pub created_at: Millis,
    pub scheduled_for: Millis,
    pub started_at: Option<Millis>,
    pub completed_at: Option<Millis>,
    pub result: Option<serde_json::Value>,
    pub parent_job: Option<JobId>,
    pub timeout_s: Option<u64>,
    pub worker: Option<String>,
    /// How many times the job was re-queued after its worker vanished.
    pub retries: i32,
    /// Set when a cancel was asked for a running job: the reason.
    pub cancel_requested: Option<String>,
    /// True once `delete_after_use` wiped args, logs and result.
    pub purged: bool,
    /// The prefix of the token that started the job.
    pub token_prefix: Option<String>,
    /// The scopes of the token that started the job; `None`: all its owner's rights.
    pub scopes: Option<Vec<String>>,
    /// The concurrency limit the job was queued under.
    pub concurrency: Option<Concurrency>,
    /// For the jobs of a flow run: where in which flow the job belongs.
    pub flow: Option<FlowLink>,
    /// A flow run's engine state (kind `flow`).
    pub flow_state: Option<serde_json::Value>,
    /// Raised with every change of `flow_state`.
    pub flow_rev: i64,
}
