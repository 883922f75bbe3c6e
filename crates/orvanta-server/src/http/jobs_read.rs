//! `/api/w/{ws}/jobs_u/...` and `/jobs/list`: read jobs, their results and
//! logs, and cancel them.

use super::extract::{PathParams, QueryParams};
use super::routes::Routes;
use super::views;
use crate::auth::Principal;
use crate::authz::{self, Action, Resource};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::Json;
use orvanta_core::{Job, JobId, JobKind, JobStatus, RunnablePath, Username, WorkspaceId};
use orvanta_store::{CancelOutcome, JobFilter};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Routes {
    Routes::new()
        .get("/jobs_u/get/{id}", get_job)
        .get("/jobs_u/completed/get/{id}", get_completed)
        .get("/jobs_u/getupdate/{id}", get_update)
        .get("/jobs_u/completed/get_result/{id}", get_result)
        .get("/jobs_u/completed/get_result_maybe/{id}", get_result_maybe)
        .get("/jobs_u/get_logs/{id}", get_logs)
        .post("/jobs_u/queue/cancel/{id}", cancel)
        .get("/jobs/result_by_id/{flow}/{step}", result_by_id)
        .get("/jobs/list", list)
}

/// Loads a job the principal may read: 404 when absent or not readable.
pub(crate) async fn readable_job(
    state: &AppState,
    principal: &Principal,
    ws: &str,
    id: &str,
) -> ApiResult<(WorkspaceId, Job)> {
    let ws = WorkspaceId::parse(ws)?;
    let id = JobId::parse(id)?;
    principal.role_in(state, &ws).await?;
    let job = state.store.get_job(&ws, id).await?.ok_or_else(|| authz::job_not_found(id, &ws))?;
    authz::check(state, principal, &ws, Action::Read, Resource::Job(&job)).await?;
    Ok((ws, job))
}

#[derive(Deserialize, Default)]
struct GetQuery {
    #[serde(default)]
    no_logs: bool,
}

/// The email of a job's creator, for Windmill's `email` field.
async fn email_of(state: &AppState, user: &Username) -> ApiResult<String> {
    let found = state.caches.users.get_or_load(user.clone(), state.store.get_user(user)).await?;
    Ok(found.map(|u| u.email).unwrap_or_default())
}

async fn get_job(
    State(state): State<AppState>,
    PathParams((ws, id)): PathParams<(String, String)>,
    principal: Principal,
    QueryParams(q): QueryParams<GetQuery>,
) -> ApiResult<Json<Value>> {
    let (ws, job) = readable_job(&state, &principal, &ws, &id).await?;
    let mut shown = job_view(&state, &ws, &job).await?;
    if !q.no_logs {
        shown["logs"] = state.store.read_logs(job.id, 0).await?.into();
    }
    Ok(Json(shown))
}

/// `jobs_u/completed/get`: a finished job, else 404.
async fn get_completed(
    State(state): State<AppState>,
    PathParams((ws, id)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let (ws, job) = readable_job(&state, &principal, &ws, &id).await?;
    if !job.status.is_final() {
        return Err(ApiError::NotFound(format!(
            "job {} is not finished yet (status {}); read it with jobs_u/get",
            job.id, job.status
        )));
    }
    let mut shown = job_view(&state, &ws, &job).await?;
    shown["logs"] = state.store.read_logs(job.id, 0).await?.into();
    Ok(Json(shown))
}

#[derive(Deserialize, Default)]
struct UpdateQuery {
    log_offset: Option<i64>,
    stream_offset: Option<i64>,
    #[serde(default)]
    no_logs: bool,
}

/// `jobs_u/getupdate`: what a poller has not seen yet, from its offsets.
async fn get_update(
    State(state): State<AppState>,
    PathParams((ws, id)): PathParams<(String, String)>,
    principal: Principal,
    QueryParams(q): QueryParams<UpdateQuery>,
) -> ApiResult<Json<Value>> {
    let (ws, job) = readable_job(&state, &principal, &ws, &id).await?;
    let (log_offset, stream_offset) = (q.log_offset.unwrap_or(0).max(0), q.stream_offset.unwrap_or(0).max(0));
    let logs = if q.no_logs { String::new() } else { state.store.read_logs(job.id, log_offset).await? };
    let stream = state.store.read_stream(job.id, stream_offset).await?;
    let mut update = json!({
        "running": job.status == JobStatus::Running,
        "completed": job.status.is_final(),
        "new_logs": logs,
        "log_offset": log_offset + logs.len() as i64,
        "new_result_stream": stream,
        "stream_offset": stream_offset + stream.len() as i64,
    });
    if job.kind == JobKind::Flow {
        update["flow_status"] = job_view(&state, &ws, &job).await?["flow_status"].take();
    }
    Ok(Json(update))
}

/// A job as `jobs_u/get` shows it: a flow run with its steps.
async fn job_view(state: &AppState, ws: &WorkspaceId, job: &Job) -> ApiResult<Value> {
    let email = email_of(state, &job.created_by).await?;
    if job.kind != JobKind::Flow {
        return Ok(views::job(job, &email));
    }
    let def = match &job.flow {
        Some(link) => state.defs.get(&*state.store, ws, link.version).await?,
        None => None,
    };
    let mut shown = views::flow_job(job, &email, def.as_deref());
    // Loops and branches list the nested runs they started (Windmill's `flow_jobs`).
    if let Some(modules) = shown["flow_status"]["modules"].as_array_mut() {
        for m in modules {
            let nested =
                matches!(m["module_type"].as_str(), Some("forloopflow" | "whileloopflow" | "branchone" | "branchall"));
            let Some(step) = m["id"].as_str().filter(|_| nested).map(str::to_owned) else { continue };
            let children = state.store.flow_children(job.id, Some(&step)).await?;
            if !children.is_empty() {
                m["flow_jobs"] = Value::Array(children.iter().map(|c| json!(c.id)).collect());
                m["flow_jobs_success"] =
                    Value::Array(children.iter().map(|c| json!(c.status == JobStatus::Success)).collect());
            }
        }
    }
    Ok(shown)
}

/// The result of one step of a flow run, by its id (Windmill's
/// `result_by_id`): found in the run's own state, else in its nested runs
/// (loop iterations, branches; the latest first).
async fn result_by_id(
    State(state): State<AppState>,
    PathParams((ws, id, step)): PathParams<(String, String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let (_, job) = readable_job(&state, &principal, &ws, &id).await?;
    if job.kind != JobKind::Flow {
        return Err(ApiError::BadRequest(format!(
            "job {} is not a flow run; result_by_id reads a step of a flow",
            job.id
        )));
    }
    let mut pending = vec![job];
    let mut seen = 0;
    while let Some(run) = pending.pop() {
        seen += 1;
        let run_state = orvanta_flow::FlowState::from_json(run.flow_state.as_ref());
        if let Some(result) = run_state.module(&step).and_then(|m| m.result.clone()) {
            return Ok(Json(result));
        }
        if seen > 1000 {
            break;
        }
        for child in state.store.flow_children(run.id, None).await?.into_iter() {
            if let Some(j) = state.store.job_by_id(child.id).await?.filter(|j| j.kind == JobKind::Flow) {
                pending.insert(0, j);
            }
        }
    }
    Err(ApiError::NotFound(format!("flow run {id} has no result for a step '{step}' (yet)")))
}

async fn get_result(
    State(state): State<AppState>,
    PathParams((ws, id)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let (_, job) = readable_job(&state, &principal, &ws, &id).await?;
    if !job.status.is_final() {
        return Err(ApiError::NotFound(format!(
            "job {} is not finished yet (status {}); ask again later or use get_result_maybe",
            job.id, job.status
        )));
    }
    Ok(Json(job.result.unwrap_or(Value::Null)))
}

async fn get_result_maybe(
    State(state): State<AppState>,
    PathParams((ws, id)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let (_, job) = readable_job(&state, &principal, &ws, &id).await?;
    let done = job.status.is_final();
    Ok(Json(json!({
        "completed": done,
        "success": if done { Some(job.status == JobStatus::Success) } else { None },
        "started": if done { None } else { Some(job.status == JobStatus::Running) },
        "result": if done { job.result } else { None },
    })))
}

async fn get_logs(
    State(state): State<AppState>,
    PathParams((ws, id)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<String> {
    let (_, job) = readable_job(&state, &principal, &ws, &id).await?;
    Ok(state.store.read_logs(job.id, 0).await?)
}

#[derive(Deserialize, Default)]
struct CancelBody {
    reason: Option<String>,
}

async fn cancel(
    State(state): State<AppState>,
    PathParams((ws, id)): PathParams<(String, String)>,
    principal: Principal,
    req: Request,
) -> ApiResult<Json<Value>> {
    let (ws, job) = readable_job(&state, &principal, &ws, &id).await?;
    authz::check(&state, &principal, &ws, Action::Write, Resource::Job(&job)).await?;
    let (body, _held) = super::extract::read_body(req, &state).await?;
    let body: CancelBody = if body.iter().all(u8::is_ascii_whitespace) {
        CancelBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("the body must be {{\"reason\"?: string}}: {e}")))?
    };
    let reason = body.reason.unwrap_or_else(|| format!("canceled by {}", principal.username));
    super::extract::plain_text("reason", &reason)?;
    let outcome = state.store.cancel(&ws, job.id, &reason, orvanta_core::now_millis()).await?;
    // A canceled job of a flow run is an end its flow must hear of.
    if outcome == CancelOutcome::Canceled && job.parent_job.is_some() {
        crate::worker::after_external_end(&state.engine(), &*state.store, job.id).await;
    }
    match outcome {
        CancelOutcome::Canceled => Ok(Json(json!({"id": job.id, "status": "canceled"}))),
        CancelOutcome::Requested => Ok(Json(json!({"id": job.id, "status": "cancel_requested"}))),
        CancelOutcome::AlreadyFinished(s) => {
            Err(ApiError::Conflict(format!("job {} already finished with status {s}; nothing to cancel", job.id)))
        }
        CancelOutcome::NotFound => Err(ApiError::NotFound(format!("job {} not found", job.id))),
    }
}

/// Jobs per page of `jobs/list` when the caller does not say.
const DEFAULT_PER_PAGE: i64 = 100;
/// The most jobs one page holds, whatever the caller asks: each carries its
/// arguments and result, so a page must stay small enough to read at once.
const MAX_PER_PAGE: i64 = 100;

/// `jobs/list`'s query: Orvanta's names and Windmill's.
#[derive(Deserialize)]
struct ListQuery {
    path: Option<String>,
    script_path_exact: Option<String>,
    script_path_start: Option<String>,
    script_hash: Option<String>,
    status: Option<String>,
    /// Windmill: true = succeeded, false = failed or canceled.
    success: Option<bool>,
    /// Windmill: true = running now, false = waiting to start.
    running: Option<bool>,
    /// Windmill: a comma-separated list of job kinds.
    job_kinds: Option<String>,
    is_flow_step: Option<bool>,
    has_null_parent: Option<bool>,
    parent_job: Option<String>,
    trigger: Option<String>,
    created_by: Option<String>,
    since: Option<String>,
    before: Option<String>,
    /// Windmill: strictly after / before.
    created_after: Option<String>,
    created_before: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
}

/// The statuses the status filters of `q` leave, or `None` when they leave none.
fn statuses(q: &ListQuery) -> ApiResult<Option<Vec<JobStatus>>> {
    use JobStatus::*;
    let mut set = vec![Queued, Running, Success, Failure, Canceled];
    if let Some(s) = &q.status {
        let wanted = JobStatus::parse(s)?;
        set.retain(|x| *x == wanted);
    }
    if let Some(ok) = q.success {
        set.retain(|x| if ok { *x == Success } else { matches!(x, Failure | Canceled) });
    }
    if let Some(running) = q.running {
        set.retain(|x| if running { *x == Running } else { *x == Queued });
    }
    Ok(if set.is_empty() { None } else { Some(if set.len() == 5 { vec![] } else { set }) })
}

/// The kinds the kind filters of `q` leave (Windmill's names mapped to
/// Orvanta's), or `None` when they leave none.
fn kinds(q: &ListQuery) -> Option<Vec<JobKind>> {
    let mut set = vec![JobKind::Script, JobKind::Flow, JobKind::FlowStep];
    if let Some(list) = &q.job_kinds {
        let named: Vec<JobKind> = list
            .split(',')
            .filter_map(|k| match k.trim() {
                "script" => Some(JobKind::Script),
                "flow" => Some(JobKind::Flow),
                "flowstep" | "flowscript" | "flownode" => Some(JobKind::FlowStep),
                _ => None,
            })
            .collect();
        set.retain(|k| named.contains(k));
    }
    if let Some(step) = q.is_flow_step {
        set.retain(|k| (*k == JobKind::FlowStep) == step);
    }
    if set.is_empty() {
        None
    } else if set.len() == 3 {
        Some(vec![])
    } else {
        Some(set)
    }
}

/// A time filter: RFC 3339, or milliseconds since the epoch.
fn parse_time(name: &str, s: &str) -> ApiResult<i64> {
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    chrono::DateTime::parse_from_rfc3339(s).map(|t| t.timestamp_millis()).map_err(|_| {
        ApiError::BadRequest(format!(
            "{name}='{s}' is not a time; use RFC 3339 (2026-01-31T12:00:00Z) or epoch milliseconds"
        ))
    })
}

async fn list(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let ws = WorkspaceId::parse(&ws)?;
    let mut grant = authz::check(&state, &principal, &ws, Action::Read, Resource::Jobs).await?;
    let per_page = q.per_page.filter(|&n| n > 0).unwrap_or(DEFAULT_PER_PAGE).min(MAX_PER_PAGE);
    let page = q.page.unwrap_or(1).max(1);
    let (Some(statuses), Some(kinds)) = (statuses(&q)?, kinds(&q)) else {
        // The filters contradict each other (or name only kinds Orvanta has not): nothing passes.
        return Ok(Json(vec![]));
    };
    let after = q.created_after.as_deref().map(|s| parse_time("created_after", s)).transpose()?;
    let since = q.since.as_deref().map(|s| parse_time("since", s)).transpose()?;
    let before = q.before.as_deref().or(q.created_before.as_deref());
    let filter = JobFilter {
        path: q.path.or(q.script_path_exact).as_deref().map(RunnablePath::parse).transpose()?,
        path_prefix: q.script_path_start,
        script_hash: q.script_hash.as_deref().map(orvanta_core::ScriptHash::parse).transpose()?,
        statuses,
        kinds,
        root_only: q.has_null_parent == Some(true),
        trigger: q.trigger,
        created_by: q.created_by.as_deref().map(Username::parse).transpose()?,
        since: since.max(after.map(|a| a.saturating_add(1))),
        before: before.map(|s| parse_time("before", s)).transpose()?,
        parent_job: q.parent_job.as_deref().map(JobId::parse).transpose()?,
        limit: per_page,
        // A page past any possible end is simply empty, never a wrapped-around first page.
        offset: (page - 1).saturating_mul(per_page),
    };
    let mut emails: std::collections::HashMap<Username, String> = Default::default();
    let mut shown = Vec::new();
    for job in state.store.list_jobs(&ws, &filter).await? {
        if grant.may_read_job(&state, &job).await? {
            if !emails.contains_key(&job.created_by) {
                emails.insert(job.created_by.clone(), email_of(&state, &job.created_by).await?);
            }
            shown.push(views::job(&job, &emails[&job.created_by]));
        }
    }
    Ok(Json(shown))
}
