//! `/api/w/{ws}/jobs/run/...` (async) and `/jobs/run_wait_result/...` (sync):
//! start jobs over HTTP. [`start`] is shared with the stream routes.
//!
//! Every answer of a run route carries `x-orvanta-job-id` once a job exists,
//! and the CORS headers; `HEAD` answers 200 and `OPTIONS` the CORS preflight
//! and the CloudEvents abuse-protection handshake.

use super::extract::PathParams;
use super::request_args::{self, ArgsSettings, RequestInput, RunArgs};
use super::routes::Routes;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::runs::{self, RunRequest, Target};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use orvanta_core::{JobId, RunnablePath, Script, ScriptHash, Trigger, WorkspaceId};
use orvanta_store::Enqueued;
use std::time::Duration;

/// The header every run answer carries.
pub const JOB_ID_HEADER: HeaderName = HeaderName::from_static("x-orvanta-job-id");

/// How a run route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Async,
    Sync,
    Stream,
}

impl Mode {
    fn trigger(self) -> &'static str {
        match self {
            Mode::Async => Trigger::WEBHOOK,
            Mode::Sync => Trigger::WEBHOOK_SYNC,
            Mode::Stream => Trigger::STREAM,
        }
    }
}

/// The methods of the async run routes (HEAD and OPTIONS are answered by the CORS layer).
pub const POST_RUN: &[Method] = &[Method::POST, Method::HEAD, Method::OPTIONS];
/// The methods of the sync and stream run routes.
pub const GET_POST_RUN: &[Method] = &[Method::GET, Method::POST, Method::HEAD, Method::OPTIONS];

pub fn router() -> Routes {
    Routes::new()
        .add("/jobs/run/p/{*path}", POST_RUN, async_by_path)
        .add("/jobs/run/h/{hash}", POST_RUN, async_by_hash)
        .add("/jobs/run/f/{*path}", POST_RUN, flow_not_found)
        .add("/jobs/run/fv/{version}", POST_RUN, flow_not_found)
        .add("/jobs/run_wait_result/p/{*path}", GET_POST_RUN, sync_by_path)
        .add("/jobs/run_wait_result/h/{hash}", GET_POST_RUN, sync_by_hash)
        .add("/jobs/run_wait_result/f/{*path}", GET_POST_RUN, flow_not_found)
        .add("/jobs/run_wait_result/fv/{version}", GET_POST_RUN, flow_not_found)
}

async fn async_by_path(
    s: State<AppState>,
    p: PathParams<(String, String)>,
    pr: Principal,
    r: Request,
) -> ApiResult<Response> {
    by_path(s, p, pr, r, Mode::Async).await
}

async fn async_by_hash(
    s: State<AppState>,
    p: PathParams<(String, String)>,
    pr: Principal,
    r: Request,
) -> ApiResult<Response> {
    by_hash(s, p, pr, r, Mode::Async).await
}

async fn sync_by_path(
    s: State<AppState>,
    p: PathParams<(String, String)>,
    pr: Principal,
    r: Request,
) -> ApiResult<Response> {
    by_path(s, p, pr, r, Mode::Sync).await
}

async fn sync_by_hash(
    s: State<AppState>,
    p: PathParams<(String, String)>,
    pr: Principal,
    r: Request,
) -> ApiResult<Response> {
    by_hash(s, p, pr, r, Mode::Sync).await
}

/// `HEAD` and `OPTIONS` of every run route, and CORS headers on their answers.
pub fn with_cors(routes: Routes) -> Routes {
    routes.map_router(|r| r.layer(axum::middleware::from_fn(cors)))
}

async fn cors(req: Request, next: axum::middleware::Next) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let mut resp = match *req.method() {
        Method::OPTIONS => preflight(req.headers()),
        Method::HEAD => StatusCode::OK.into_response(),
        _ => next.run(req).await,
    };
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.unwrap_or(HeaderValue::from_static("*")));
    h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("x-orvanta-job-id"));
    h.insert(header::VARY, HeaderValue::from_static("origin"));
    resp
}

/// CORS preflight, and the CloudEvents 1.0 abuse-protection handshake.
fn preflight(headers: &HeaderMap) -> Response {
    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, POST, HEAD, OPTIONS"));
    let asked = headers.get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        asked.unwrap_or(HeaderValue::from_static("authorization, content-type, idempotency-key")),
    );
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    if let Some(origin) = headers.get("webhook-request-origin") {
        h.insert("webhook-allowed-origin", origin.clone());
        h.insert("webhook-allowed-rate", HeaderValue::from_static("*"));
        h.insert(header::ALLOW, HeaderValue::from_static("POST"));
    } else {
        h.insert(header::ALLOW, HeaderValue::from_static("GET, POST, HEAD, OPTIONS"));
    }
    resp
}

async fn flow_not_found() -> ApiError {
    ApiError::NotFound("flow not found: flows are not available in this version of Orvanta yet".into())
}

/// Parses a `p/{path}` target and answers.
async fn by_path(
    State(s): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
    req: Request,
    mode: Mode,
) -> ApiResult<Response> {
    let target = Target::Path(RunnablePath::parse(&path)?);
    answer(s, ws, principal, target, req, mode).await
}

/// Parses an `h/{hash}` target and answers.
async fn by_hash(
    State(s): State<AppState>,
    PathParams((ws, hash)): PathParams<(String, String)>,
    principal: Principal,
    req: Request,
    mode: Mode,
) -> ApiResult<Response> {
    let target = Target::Hash(ScriptHash::parse(&hash)?);
    answer(s, ws, principal, target, req, mode).await
}

async fn answer(
    s: AppState,
    ws: String,
    principal: Principal,
    target: Target,
    req: Request,
    mode: Mode,
) -> ApiResult<Response> {
    let started = start(&s, &ws, &principal, target, req, mode).await?;
    match mode {
        Mode::Async => Ok(async_answer(&started)),
        Mode::Sync => match require_worker(&s, &started).await {
            Ok(()) => sync_answer(&s, &started).await,
            Err(refused) => Ok(refused),
        },
        Mode::Stream => Err(ApiError::Internal("the stream mode is answered by jobs_stream".into())),
    }
}

/// Jobs a run request started (one, or one per event of a batch).
#[derive(Debug)]
pub struct Started {
    pub script: Script,
    pub ids: Vec<JobId>,
    pub batch: bool,
    /// The jobs' worker tag.
    pub tag: String,
}

/// The run parameters of the query string (contract §3).
#[derive(Debug, Default)]
struct RunQuery {
    job_id: Option<JobId>,
    scheduled_for: Option<i64>,
    tag: Option<String>,
    parent_job: Option<JobId>,
}

/// The furthest a job can be scheduled ahead: 10 years.
const MAX_SCHEDULE_SECS: i64 = 10 * 365 * 24 * 3600;

fn run_query(query: &[(String, String)], mode: Mode) -> ApiResult<RunQuery> {
    let mut q = RunQuery::default();
    for (k, v) in query {
        match k.as_str() {
            "job_id" => q.job_id = Some(JobId::parse(v)?),
            "parent_job" => q.parent_job = Some(JobId::parse(v)?),
            "tag" if !v.is_empty() => q.tag = Some(check_tag(v)?),
            "scheduled_for" | "scheduled_in_secs" if mode != Mode::Async => {
                return Err(ApiError::BadRequest(format!(
                    "{k} works on the async route /jobs/run/... only: a sync or stream caller would wait for the schedule"
                )));
            }
            "scheduled_for" => {
                let t = chrono::DateTime::parse_from_rfc3339(v).map_err(|_| {
                    ApiError::BadRequest(format!(
                        "scheduled_for='{v}' is not an RFC 3339 time, e.g. 2027-01-31T12:00:00Z"
                    ))
                })?;
                q.scheduled_for = Some(t.timestamp_millis());
            }
            "scheduled_in_secs" => {
                let too_far = || {
                    ApiError::BadRequest(format!(
                        "scheduled_in_secs='{v}' is not a whole number of seconds up to 10 years (315360000)"
                    ))
                };
                let secs: i64 = v.parse().map_err(|_| too_far())?;
                if !(0..=MAX_SCHEDULE_SECS).contains(&secs) {
                    return Err(too_far());
                }
                q.scheduled_for = Some(orvanta_core::now_millis() + secs * 1000);
            }
            _ => {}
        }
    }
    Ok(q)
}

/// A worker tag: 1 to 100 characters, none of them a comma, a space or a control.
fn check_tag(tag: &str) -> ApiResult<String> {
    let bad = tag.chars().find(|c| *c == ',' || c.is_whitespace() || c.is_control());
    if tag.chars().count() > 100 || bad.is_some() {
        return Err(ApiError::BadRequest(format!(
            "tag='{tag}' is not a worker tag: use 1 to 100 characters without commas or spaces, e.g. tag=gpu"
        )));
    }
    Ok(tag.to_owned())
}

/// A worker counts as alive for this long after its last heartbeat (every 5 s).
const WORKER_ALIVE_MS: i64 = 15_000;

/// For a caller who waits (sync, stream): unless a live worker claims the
/// job's tag, a 503 at once that names the tag and the job, instead of a wait
/// for the whole sync timeout. The job stays queued for a worker that may come.
pub async fn require_worker(state: &AppState, started: &Started) -> Result<(), Response> {
    let tag = started.tag.clone();
    let since = orvanta_core::now_millis() - WORKER_ALIVE_MS;
    let served = state.caches.served_tags.get_or_load(tag.clone(), state.store.tag_served(&tag, since)).await;
    match served {
        Ok(true) => Ok(()),
        // The wait itself will report a database that is down.
        Err(_) => Ok(()),
        Ok(false) => {
            let id = started.ids[0];
            let body = serde_json::json!({"error": {
                "code": "no-worker-for-tag",
                "message": format!(
                    "no running worker serves the tag '{tag}', so nothing would run this job now; it stays queued (read it with /jobs_u/get/{id}): start a worker with ORVANTA_WORKER_TAGS={tag}, or call without ?tag="
                ),
                "job_id": id,
            }});
            Err(with_job_id((StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response(), id))
        }
    }
}

/// Resolves the target, turns the request into arguments, and enqueues the
/// job(s). From the return on, the jobs are committed.
pub async fn start(
    state: &AppState,
    ws: &str,
    principal: &Principal,
    target: Target,
    req: Request,
    mode: Mode,
) -> ApiResult<Started> {
    let ws = WorkspaceId::parse(ws)?;
    principal.role_in(state, &ws).await?;
    let script = runs::resolve_script(state, principal, &ws, &target).await?;
    let (parts, body) = req.into_parts();
    let query = request_args::parse_query(parts.uri.query());
    let rq = run_query(&query, mode)?;
    let (body, _held) = read_limited(state, &parts.headers, body).await?;
    let idempotency_key = parts.headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let input = RequestInput { method: &parts.method, headers: &parts.headers, query: &query, body, ws: &ws };
    let settings = ArgsSettings { include_headers: state.cfg.include_headers.clone() };
    let args = request_args::build(input, &*state.objects, &settings).await?;
    let (list, batch) = match args {
        RunArgs::One(a) => (vec![a], false),
        RunArgs::Batch(_) if mode != Mode::Async => {
            return Err(ApiError::BadRequest(
                "a CloudEvents batch starts one job per event, so it has no single result to wait for: send it to the async route /jobs/run/..."
                    .into(),
            ));
        }
        RunArgs::Batch(list) => (list, true),
    };
    let mut ids = Vec::with_capacity(list.len());
    for (i, args) in list.into_iter().enumerate() {
        let first = i == 0;
        let run = RunRequest {
            args,
            trigger: Trigger::parse(mode.trigger())?,
            job_id: if first { rq.job_id } else { None },
            idempotency_key: idempotency_key.clone().filter(|_| first && !batch),
            scheduled_for: rq.scheduled_for,
            tag: rq.tag.clone(),
            parent_job: rq.parent_job,
        };
        let enqueued = runs::enqueue_script(state, principal, &script, run).await?;
        if let Enqueued::Existing(id) = enqueued {
            // An earlier job answers only if it is a job of this very runnable
            // that the caller may read; anything else is not revealed.
            let same = match state.store.get_job(&ws, id).await? {
                Some(job) => {
                    job.path.as_ref() == Some(&script.path)
                        && (!matches!(target, Target::Hash(_)) || job.script_hash == Some(script.hash))
                        && super::jobs_read::may_read(principal, &job)
                }
                None => false,
            };
            if !same {
                return Err(ApiError::Conflict(format!("the job id {id} is taken; choose another job_id")));
            }
        }
        ids.push(enqueued.id());
    }
    let tag = runs::job_tag(&script, rq.tag);
    Ok(Started { script, ids, batch, tag })
}

/// Reads the body under its limit: the multipart limit for uploads, the
/// general one otherwise. Over it: 413, and nothing was stored.
/// The body's share of the budget is held until the jobs are stored.
async fn read_limited(
    state: &AppState,
    headers: &HeaderMap,
    body: axum::body::Body,
) -> ApiResult<(axum::body::Bytes, super::body::Held)> {
    use super::body::Limit;
    let multipart = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("multipart/form-data"));
    let limit = if multipart {
        Limit { bytes: state.cfg.multipart_limit_bytes, setting: "ORVANTA_MULTIPART_LIMIT_BYTES" }
    } else {
        Limit { bytes: state.cfg.body_limit_bytes, setting: "ORVANTA_BODY_LIMIT_BYTES" }
    };
    super::body::read(&state.bodies, headers, body, limit).await
}

/// Adds `x-orvanta-job-id` to an answer.
pub fn with_job_id(mut resp: Response, id: JobId) -> Response {
    if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
        resp.headers_mut().insert(JOB_ID_HEADER, v);
    }
    resp
}

fn async_answer(started: &Started) -> Response {
    let first = started.ids[0];
    let resp = if started.batch {
        (StatusCode::CREATED, Json(&started.ids)).into_response()
    } else {
        (StatusCode::CREATED, first.to_string()).into_response()
    };
    with_job_id(resp, first)
}

async fn sync_answer(state: &AppState, started: &Started) -> ApiResult<Response> {
    let id = started.ids[0];
    let timeout = Duration::from_secs(state.cfg.sync_timeout_s);
    let (store, ws, settings) =
        (state.store.clone(), started.script.workspace.clone(), started.script.settings.clone());
    let finish = async move {
        let Some(mut job) = crate::wait::until_done(&*store, &ws, id, timeout).await? else { return Ok(None) };
        // A job that streamed answers its stream too, as the stream routes do.
        let stream = store.read_stream(id, 0).await?;
        if !stream.is_empty() {
            job.result = Some(super::respond::only_result(job.status, job.result.take(), stream));
        }
        let resp = super::respond::sync_result(&job, &settings);
        if settings.delete_after_use {
            // The caller gets its answer even so; the log says the data stayed.
            if let Err(e) = store.purge_job(id).await {
                tracing::error!(job = %id, error = %e, "delete_after_use: the job's args, logs and result could not be deleted");
            }
        }
        Ok::<_, ApiError>(Some(resp))
    };
    // With delete_after_use the wait runs in its own task, so that a caller who
    // hangs up before the job ends does not leave the job's data behind.
    let answer = if started.script.settings.delete_after_use {
        tokio::spawn(finish)
            .await
            .unwrap_or_else(|e| Err(ApiError::Internal(format!("the sync wait of job {id} failed: {e}"))))
    } else {
        finish.await
    };
    // The job exists from here on: even an error answer names it.
    let answer = match answer {
        Ok(a) => a,
        Err(e) => return Ok(with_job_id(e.into_response(), id)),
    };
    let Some(resp) = answer else {
        let body = serde_json::json!({"error": {
            "name": "Timeout",
            "message": format!("the job did not finish within the sync timeout of {} s; it goes on: read it later with /jobs_u/get/{id}", timeout.as_secs()),
            "job_id": id,
        }});
        return Ok(with_job_id((StatusCode::GATEWAY_TIMEOUT, Json(body)).into_response(), id));
    };
    Ok(with_job_id(resp, id))
}
