//! `/api/w/{ws}/jobs_u/...` and `/jobs/list`: read jobs, their results and
//! logs, and cancel them.

use super::extract::{PathParams, QueryParams};
use super::routes::Routes;
use super::views;
use crate::auth::{Principal, Scope};
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
    let not_found = || ApiError::NotFound(format!("job {id} not found in workspace '{ws}'"));
    let job = state.store.get_job(&ws, id).await?.ok_or_else(not_found)?;
    if !principal.may_read_job(&job) {
        return Err(ApiError::Forbidden("this token lacks the scope 'jobs:read'".into()));
    }
    Ok((ws, job))
}

async fn get_job(
    State(state): State<AppState>,
    PathParams((ws, id)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let (ws, job) = readable_job(&state, &principal, &ws, &id).await?;
    if job.kind != JobKind::Flow {
        return Ok(Json(views::job(&job)));
    }
    let def = match &job.flow {
        Some(link) => state.defs.get(&*state.store, &ws, link.version).await?,
        None => None,
    };
    let mut shown = views::flow_job(&job, def.as_deref());
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
    Ok(Json(shown))
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
    principal.require(&Scope::needed("jobs", "cancel", None, job.path.as_ref().map(|p| p.as_str())))?;
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

#[derive(Deserialize)]
struct ListQuery {
    path: Option<String>,
    script_path_exact: Option<String>,
    status: Option<String>,
    trigger: Option<String>,
    created_by: Option<String>,
    since: Option<String>,
    before: Option<String>,
    page: Option<i64>,
    per_page: Option<i64>,
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
    principal.role_in(&state, &ws).await?;
    principal.require(&Scope::needed("jobs", "read", None, None))?;
    let per_page = q.per_page.filter(|&n| n > 0).unwrap_or(DEFAULT_PER_PAGE).min(MAX_PER_PAGE);
    let page = q.page.unwrap_or(1).max(1);
    let filter = JobFilter {
        path: q.path.or(q.script_path_exact).as_deref().map(RunnablePath::parse).transpose()?,
        status: q.status.as_deref().map(JobStatus::parse).transpose()?,
        trigger: q.trigger,
        created_by: q.created_by.as_deref().map(Username::parse).transpose()?,
        since: q.since.as_deref().map(|s| parse_time("since", s)).transpose()?,
        before: q.before.as_deref().map(|s| parse_time("before", s)).transpose()?,
        parent_job: None,
        limit: per_page,
        // A page past any possible end is simply empty, never a wrapped-around first page.
        offset: (page - 1).saturating_mul(per_page),
    };
    let jobs = state.store.list_jobs(&ws, &filter).await?;
    Ok(Json(jobs.iter().map(views::job).collect()))
}
