//! Starting jobs: resolve what to run, check the caller may run it, and
//! enqueue it durably. Plain functions, shared by every route that runs
//! something (the webhook routes now, schedules and inbound webhooks later).

use crate::auth::{Principal, Scope};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use orvanta_core::{JobId, JobKind, NewJob, RunnablePath, Script, ScriptHash, Trigger, WorkspaceId};
use orvanta_store::Enqueued;
use serde_json::{Map, Value};

/// What a run route names: `p/{path}` or `h/{hash}` (flows come later).
#[derive(Debug, Clone)]
pub enum Target {
    Path(RunnablePath),
    Hash(ScriptHash),
}

/// Finds the script a target names, and checks the principal may run it:
/// 404 when it does not exist or is archived (`p/`), 403 when a scope lacks.
pub async fn resolve_script(
    state: &AppState,
    principal: &Principal,
    ws: &WorkspaceId,
    target: &Target,
) -> ApiResult<Script> {
    let caches = &state.caches;
    let script = match target {
        Target::Path(p) => {
            let found =
                caches.latest_scripts.get_or_load((ws.clone(), p.clone()), state.store.latest_script(ws, p)).await?;
            found
                .filter(|s| !s.archived)
                .ok_or_else(|| ApiError::NotFound(format!("script not found at path '{p}' in workspace '{ws}'")))?
        }
        Target::Hash(h) => {
            let found =
                caches.scripts_by_hash.get_or_load((ws.clone(), *h), state.store.script_by_hash(ws, *h)).await?;
            found.ok_or_else(|| ApiError::NotFound(format!("no script version with hash '{h}' in workspace '{ws}'")))?
        }
    };
    principal.require(&Scope::needed("jobs", "run", Some("scripts"), Some(script.path.as_str())))?;
    Ok(script)
}

/// How a job of a script should be started.
#[derive(Debug, Clone)]
pub struct RunRequest {
    pub args: Map<String, Value>,
    pub trigger: Trigger,
    pub job_id: Option<JobId>,
    pub idempotency_key: Option<String>,
    pub scheduled_for: Option<i64>,
    pub tag: Option<String>,
    pub parent_job: Option<JobId>,
}

/// The tag a job of `script` gets: the one asked for, else the script's, else `default`.
pub fn job_tag(script: &Script, asked: Option<String>) -> String {
    asked.or_else(|| script.settings.tag.clone()).unwrap_or_else(|| "default".into())
}

/// Enqueues one job of `script`; answers the job id and whether it is new.
pub async fn enqueue_script(
    state: &AppState,
    principal: &Principal,
    script: &Script,
    run: RunRequest,
) -> ApiResult<Enqueued> {
    let now = orvanta_core::now_millis();
    let job = NewJob {
        id: run.job_id.unwrap_or_default(),
        workspace: script.workspace.clone(),
        kind: JobKind::Script,
        path: Some(script.path.clone()),
        script_hash: Some(script.hash),
        language: Some(script.language),
        args: Value::Object(run.args),
        created_by: principal.username.clone(),
        permissioned_as: principal.username.clone(),
        tag: job_tag(script, run.tag),
        trigger: run.trigger,
        scheduled_for: run.scheduled_for.unwrap_or(now).max(now),
        parent_job: run.parent_job,
        timeout_s: script.settings.timeout_s,
        idempotency_key: run.idempotency_key,
        created_at: now,
        token_prefix: principal.token_prefix.clone(),
        flow: None,
    };
    Ok(state.enqueuer.enqueue(job).await?)
}
