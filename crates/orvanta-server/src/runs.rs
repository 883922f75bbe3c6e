//! The runs service: the one place that starts anything. Webhook routes,
//! custom routes, inbound events and the flow engine all come through here:
//! [`resolve`] finds what a target names and checks the caller may run it;
//! [`start`] enqueues its job(s) durably. Nothing here knows HTTP: callers
//! turn their input into a [`Start`] and the [`RunError`] into their answer.

use crate::auth::Principal;
use crate::authz::{self, Action, ItemKind, Resource};
use crate::error::ApiError;
use crate::state::AppState;
use orvanta_core::{
    Flow, FlowLink, FlowVersion, JobId, JobKind, NewJob, RunnablePath, Script, ScriptHash, Trigger, WorkspaceId,
};
use orvanta_store::{Enqueued, StoreError};
use serde_json::{Map, Value};

/// What a run names (contract §3): `p/{path}`, `h/{hash}`, `f/{path}`, `fv/{version}`.
#[derive(Debug, Clone)]
pub enum Target {
    ScriptPath(RunnablePath),
    ScriptHash(ScriptHash),
    FlowPath(RunnablePath),
    FlowVersion(FlowVersion),
}

/// The script or flow version a target resolved to.
#[derive(Debug, Clone)]
pub enum Runnable {
    Script(Script),
    Flow(Flow),
}

impl Runnable {
    pub fn path(&self) -> &RunnablePath {
        match self {
            Self::Script(s) => &s.path,
            Self::Flow(f) => &f.path,
        }
    }

    pub fn workspace(&self) -> &WorkspaceId {
        match self {
            Self::Script(s) => &s.workspace,
            Self::Flow(f) => &f.workspace,
        }
    }

    /// Script or flow, for authorization.
    pub fn kind(&self) -> ItemKind {
        match self {
            Self::Script(_) => ItemKind::Script,
            Self::Flow(_) => ItemKind::Flow,
        }
    }

    /// The status code of a sync answer when the run fails (§5), if set.
    pub fn error_status_code(&self) -> Option<u16> {
        match self {
            Self::Script(s) => s.settings.error_status_code,
            Self::Flow(_) => None,
        }
    }

    /// Sync routes wipe the job's data once answered (§5).
    pub fn delete_after_use(&self) -> bool {
        matches!(self, Self::Script(s) if s.settings.delete_after_use)
    }
}

/// Why a run was not started; each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The runnable (or workspace) does not exist, or the caller may not see it.
    #[error("{0}")]
    NotFound(String),
    /// The caller may see it but lacks the right to run it.
    #[error("{0}")]
    Forbidden(String),
    /// The request is wrong (a job id taken by another runnable, a bad option).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> Self {
        match e {
            RunError::NotFound(m) => ApiError::NotFound(m),
            RunError::Forbidden(m) => ApiError::Forbidden(m),
            RunError::Invalid(m) => ApiError::BadRequest(m),
            RunError::Conflict(m) => ApiError::Conflict(m),
            RunError::Store(e) => e.into(),
        }
    }
}

/// The answers of the authorization module, as the service reports them.
impl From<ApiError> for RunError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::NotFound(m) => RunError::NotFound(m),
            ApiError::Forbidden(m) | ApiError::Unauthorized(m) => RunError::Forbidden(m),
            ApiError::Gone(m) => RunError::NotFound(m),
            ApiError::Conflict(m) => RunError::Conflict(m),
            ApiError::Unavailable(m) => RunError::Store(StoreError::Unavailable(m)),
            other => RunError::Invalid(other.to_string()),
        }
    }
}

/// Finds what `target` names in `ws` and checks that `caller` may run it:
/// `NotFound` when it does not exist (an archived script or flow by path
/// included), `Forbidden` when a scope lacks.
pub async fn resolve(
    state: &AppState,
    caller: &Principal,
    ws: &WorkspaceId,
    target: &Target,
) -> Result<Runnable, RunError> {
    caller.role_in(state, ws).await?;
    let caches = &state.caches;
    let runnable = match target {
        Target::ScriptPath(p) => {
            let found =
                caches.latest_scripts.get_or_load((ws.clone(), p.clone()), state.store.latest_script(ws, p)).await?;
            let s = found
                .filter(|s| !s.archived)
                .ok_or_else(|| RunError::NotFound(format!("script not found at path '{p}' in workspace '{ws}'")))?;
            Runnable::Script(s)
        }
        Target::ScriptHash(h) => {
            let found =
                caches.scripts_by_hash.get_or_load((ws.clone(), *h), state.store.script_by_hash(ws, *h)).await?;
            Runnable::Script(
                found.ok_or_else(|| {
                    RunError::NotFound(format!("no script version with hash '{h}' in workspace '{ws}'"))
                })?,
            )
        }
        Target::FlowPath(p) => {
            let found =
                caches.latest_flows.get_or_load((ws.clone(), p.clone()), state.store.latest_flow(ws, p)).await?;
            let f = found
                .filter(|f| !f.archived)
                .ok_or_else(|| RunError::NotFound(format!("flow not found at path '{p}' in workspace '{ws}'")))?;
            Runnable::Flow(f)
        }
        Target::FlowVersion(v) => {
            let found =
                caches.flows_by_version.get_or_load((ws.clone(), *v), state.store.flow_by_version(ws, *v)).await?;
            Runnable::Flow(found.ok_or_else(|| RunError::NotFound(format!("no flow version {v} in workspace '{ws}'")))?)
        }
    };
    let checked = authz::check(state, caller, ws, Action::Run, Resource::Item(runnable.kind(), runnable.path())).await;
    match (checked, target) {
        (Ok(_), _) => Ok(runnable),
        // A version the caller may not read is as missing as an absent one: its path is not revealed.
        (Err(ApiError::NotFound(_)), Target::ScriptHash(h)) => {
            Err(RunError::NotFound(format!("no script version with hash '{h}' in workspace '{ws}'")))
        }
        (Err(ApiError::NotFound(_)), Target::FlowVersion(v)) => {
            Err(RunError::NotFound(format!("no flow version {v} in workspace '{ws}'")))
        }
        (Err(e), _) => Err(e.into()),
    }
}

/// Resolves `target` for `caller` and starts it with `args`: the whole
/// service in one call, for callers that have their arguments already (an
/// inbound event, a schedule). The HTTP routes call [`resolve`] and
/// [`start`] apart, so that a refused target stores none of a request's files.
pub async fn run(
    state: &AppState,
    caller: &Principal,
    ws: &WorkspaceId,
    target: &Target,
    args: Vec<Map<String, Value>>,
    opts: RunOptions,
) -> Result<(Runnable, Started), RunError> {
    let runnable = resolve(state, caller, ws, target).await?;
    let pinned = matches!(target, Target::ScriptHash(_) | Target::FlowVersion(_));
    let started = start(state, Start { caller, runnable: &runnable, pinned, args, opts }).await?;
    Ok((runnable, started))
}

/// How the job(s) of a run are started.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub trigger: Trigger,
    /// A caller-chosen id for the (first) job: a repeat gets the same job.
    pub job_id: Option<JobId>,
    /// A repeat within 24 h with the same key gets the first job.
    pub idempotency_key: Option<String>,
    pub scheduled_for: Option<i64>,
    pub tag: Option<String>,
    pub parent_job: Option<JobId>,
}

impl RunOptions {
    pub fn new(trigger: Trigger) -> Self {
        Self { trigger, job_id: None, idempotency_key: None, scheduled_for: None, tag: None, parent_job: None }
    }
}

/// A run to start: who, what, with which arguments (one job per arguments map).
#[derive(Debug)]
pub struct Start<'a> {
    pub caller: &'a Principal,
    pub runnable: &'a Runnable,
    /// The target named a version (`h/`, `fv/`), not a path.
    pub pinned: bool,
    pub args: Vec<Map<String, Value>>,
    pub opts: RunOptions,
}

/// The jobs a run started, in the order of its arguments; committed.
#[derive(Debug, Clone)]
pub struct Started {
    pub ids: Vec<JobId>,
    /// Every job is new (none was an earlier job answered again for its
    /// `job_id` or idempotency key).
    pub created: bool,
    /// The jobs' worker tag.
    pub tag: String,
}

/// The tag a job of `runnable` gets: the one asked for, else the script's, else `default`.
pub fn job_tag(runnable: &Runnable, asked: Option<String>) -> String {
    let own = match runnable {
        Runnable::Script(s) => s.settings.tag.clone(),
        Runnable::Flow(_) => None,
    };
    asked.or(own).unwrap_or_else(|| "default".into())
}

/// Enqueues the job(s) of a run. From the return on, they are committed.
///
/// Only the first job takes `job_id`, and an idempotency key applies to a
/// single job only (one key cannot name many). A `job_id` or key that names
/// an earlier job answers that job, when it is a job of the same runnable the
/// caller may read; anything else is a `Conflict` that reveals nothing.
pub async fn start(state: &AppState, run: Start<'_>) -> Result<Started, RunError> {
    let single = run.args.len() == 1;
    let tag = job_tag(run.runnable, run.opts.tag.clone());
    let mut ids = Vec::with_capacity(run.args.len());
    let mut created = true;
    for (i, args) in run.args.into_iter().enumerate() {
        let first = i == 0;
        let job = new_job(run.caller, run.runnable, args, &run.opts, &tag, first, single);
        let enqueued = state.enqueuer.enqueue(job).await?;
        if let Enqueued::Existing(id) = enqueued {
            created = false;
            let same = match state.store.get_job(run.runnable.workspace(), id).await? {
                Some(job) => {
                    job.path.as_ref() == Some(run.runnable.path())
                        && same_runnable(run.runnable, run.pinned, &job)
                        && authz::check(state, run.caller, &job.workspace, Action::Read, Resource::Job(&job))
                            .await
                            .is_ok()
                }
                None => false,
            };
            if !same {
                return Err(RunError::Conflict(format!("the job id {id} is taken; choose another job_id")));
            }
        }
        ids.push(enqueued.id());
    }
    Ok(Started { ids, created, tag })
}

/// Whether an earlier job (of the same path) is one of this very runnable:
/// the same kind, and the same version when the target named one.
fn same_runnable(runnable: &Runnable, pinned: bool, job: &orvanta_core::Job) -> bool {
    match runnable {
        Runnable::Script(s) => job.kind == JobKind::Script && (!pinned || job.script_hash == Some(s.hash)),
        Runnable::Flow(f) => {
            job.kind == JobKind::Flow && (!pinned || job.flow.as_ref().is_some_and(|l| l.version == f.version))
        }
    }
}

pub(crate) fn new_job(
    caller: &Principal,
    runnable: &Runnable,
    args: impl Into<orvanta_core::JobArgs>,
    opts: &RunOptions,
    tag: &str,
    first: bool,
    single: bool,
) -> NewJob {
    let now = orvanta_core::now_millis();
    let id = opts.job_id.filter(|_| first).unwrap_or_default();
    let (kind, script_hash, language, timeout_s, flow) = match runnable {
        Runnable::Script(s) => (JobKind::Script, Some(s.hash), Some(s.language), s.settings.timeout_s, None),
        Runnable::Flow(f) => {
            let link = FlowLink { version: f.version, node: String::new(), step_id: None, index: None, root: id };
            (JobKind::Flow, None, None, None, Some(link))
        }
    };
    NewJob {
        id,
        workspace: runnable.workspace().clone(),
        kind,
        path: Some(runnable.path().clone()),
        script_hash,
        language,
        args: args.into(),
        created_by: caller.username.clone(),
        permissioned_as: caller.username.clone(),
        tag: tag.to_owned(),
        trigger: opts.trigger.clone(),
        scheduled_for: opts.scheduled_for.unwrap_or(now).max(now),
        parent_job: opts.parent_job,
        timeout_s,
        idempotency_key: opts.idempotency_key.clone().filter(|_| first && single),
        created_at: now,
        token_prefix: caller.token_prefix.clone(),
        scopes: caller.scopes.as_ref().map(|granted| granted.iter().map(ToString::to_string).collect()),
        concurrency: match runnable {
            Runnable::Script(s) => s.settings.concurrency_limit.map(|limit| orvanta_core::Concurrency {
                key: format!("{}/{}", s.workspace, s.path),
                limit: limit.max(1),
            }),
            Runnable::Flow(_) => None,
        },
        flow,
    }
}
