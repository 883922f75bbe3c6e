//! `/api/w/{ws}/jobs/run/...` (async) and `/jobs/run_wait_result/...` (sync):
//! start scripts and flows over HTTP. [`start`] turns a request into a call
//! of the runs service (`crate::runs`) and is shared with the stream routes.
//!
//! Every answer of a run route carries `x-orvanta-job-id` once a job exists,
//! and the CORS headers; `HEAD` answers 200 and `OPTIONS` the CORS preflight
//! and the CloudEvents abuse-protection handshake.

use super::extract::PathParams;
use super::request_args::{self, ArgsSettings, RequestInput, RunArgs};
use super::routes::Routes;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::runs::{self, RunOptions, Runnable, Target};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use orvanta_core::{FlowVersion, JobId, RunnablePath, ScriptHash, Trigger, WorkspaceId};
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
    pub fn trigger(self) -> &'static str {
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

/// What the last segments of a run route name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetKind {
    ScriptPath,
    ScriptHash,
    FlowPath,
    FlowVersion,
}

impl TargetKind {
    /// The route suffixes, in the order of the contract (§3).
    pub const ALL: [(TargetKind, &'static str); 4] = [
        (TargetKind::ScriptPath, "p/{*path}"),
        (TargetKind::ScriptHash, "h/{hash}"),
        (TargetKind::FlowPath, "f/{*path}"),
        (TargetKind::FlowVersion, "fv/{version}"),
    ];

    pub fn parse(self, s: &str) -> ApiResult<Target> {
        Ok(match self {
            TargetKind::ScriptPath => Target::ScriptPath(RunnablePath::parse(s)?),
            TargetKind::ScriptHash => Target::ScriptHash(ScriptHash::parse(s)?),
            TargetKind::FlowPath => Target::FlowPath(RunnablePath::parse(s)?),
            TargetKind::FlowVersion => Target::FlowVersion(FlowVersion::parse(s)?),
        })
    }
}

/// The async and sync run routes, each with CORS (see [`with_cors`]).
pub fn router() -> Routes {
    let mut all = Routes::new();
    for (mode, name, methods) in [(Mode::Async, "run", POST_RUN), (Mode::Sync, "run_wait_result", GET_POST_RUN)] {
        let mut routes = Routes::new();
        for (kind, suffix) in TargetKind::ALL {
            let handler = move |s: State<AppState>, p: PathParams<(String, String)>, pr: Principal, r: Request| {
                answer(s, p, pr, r, kind, mode)
            };
            routes = routes.add(&format!("/jobs/{name}/{suffix}"), methods, handler);
        }
        all = all.merge(with_cors(routes, methods));
    }
    all
}

/// `HEAD` and `OPTIONS` of run routes that take `methods`, and CORS headers on
/// their answers. The preflight names exactly these methods: an async route
/// that advertised GET would invite a request it refuses with 405.
pub fn with_cors(routes: Routes, methods: &'static [Method]) -> Routes {
    let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
    let allowed = HeaderValue::from_str(&names.join(", ")).expect("method names are header values");
    routes.map_router(move |r| {
        r.layer(axum::middleware::from_fn(move |req: Request, next: axum::middleware::Next| {
            cors(req, next, allowed.clone())
        }))
    })
}

async fn cors(req: Request, next: axum::middleware::Next, allowed: HeaderValue) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    let mut resp = match *req.method() {
        Method::OPTIONS => preflight(req.headers(), allowed),
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
fn preflight(headers: &HeaderMap, allowed: HeaderValue) -> Response {
    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, allowed.clone());
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
        h.insert(header::ALLOW, allowed);
    }
    resp
}

async fn answer(
    State(s): State<AppState>,
    PathParams((ws, rest)): PathParams<(String, String)>,
    principal: Principal,
    req: Request,
    kind: TargetKind,
    mode: Mode,
) -> ApiResult<Response> {
    // A sync caller watches its job before it exists: the job's end cannot
    // pass unseen, so the waiter need not read the job before it ends.
    let (events, extra) = sync_watch(&s, mode, Extra::default());
    let run = start_with(&s, &ws, &principal, kind.parse(&rest)?, req, mode, extra).await?;
    match mode {
        Mode::Async => Ok(async_answer(&run)),
        Mode::Sync => match require_worker(&s, &run).await {
            Ok(()) => sync_answer(&s, &run, events).await,
            Err(refused) => Ok(refused),
        },
        Mode::Stream => Err(ApiError::Internal("the stream mode is answered by jobs_stream".into())),
    }
}

/// For a sync caller: a watch on the id its job will take (unless the
/// caller names one with `?job_id=`), made before the job is enqueued.
pub fn sync_watch(state: &AppState, mode: Mode, mut extra: Extra) -> (Option<orvanta_store::JobWatch>, Extra) {
    if mode != Mode::Sync {
        return (None, extra);
    }
    let id = JobId::new();
    extra.job_id = Some(id);
    (Some(state.store.watch(id)), extra)
}

/// What a run request started: the runnable and its job(s), one or one per
/// event of a CloudEvents batch.
#[derive(Debug)]
pub struct Started {
    pub runnable: Runnable,
    pub ids: Vec<JobId>,
    /// Every job is new (see `runs::Started::created`).
    pub created: bool,
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

/// From a run request to started jobs: the target is resolved (404/403
/// before the body is read, so a refused request stores no file), the
/// request becomes arguments (§4), and the runs service enqueues them.
pub async fn start(
    state: &AppState,
    ws: &str,
    principal: &Principal,
    target: Target,
    req: Request,
    mode: Mode,
) -> ApiResult<Started> {
    start_with(state, ws, principal, target, req, mode, Extra::default()).await
}

/// What a custom HTTP route adds to a run request.
#[derive(Debug, Default)]
pub struct Extra {
    /// Query parameters of §4 the route sets (`wrap_body`, `raw`).
    pub query: Vec<(String, String)>,
    /// Arguments over the request's (the route's path parameters).
    pub args: serde_json::Map<String, serde_json::Value>,
    /// The job's trigger instead of the mode's.
    pub trigger: Option<String>,
    /// The id a new job takes unless the caller chose one (`?job_id=`).
    pub job_id: Option<JobId>,
}

/// [`start`], with what a custom route adds.
pub async fn start_with(
    state: &AppState,
    ws: &str,
    principal: &Principal,
    target: Target,
    req: Request,
    mode: Mode,
    extra: Extra,
) -> ApiResult<Started> {
    let ws = WorkspaceId::parse(ws)?;
    let pinned = matches!(target, Target::ScriptHash(_) | Target::FlowVersion(_));
    let runnable = runs::resolve(state, principal, &ws, &target).await?;
    let (parts, body) = req.into_parts();
    let mut query = request_args::parse_query(parts.uri.query());
    query.extend(extra.query);
    let rq = run_query(&query, mode)?;
    if let Some(tag) = &rq.tag {
        // Choosing where a job runs is changing how it runs: the right to write it.
        let kind = runnable.kind();
        crate::authz::check(
            state,
            principal,
            &ws,
            crate::authz::Action::Write,
            crate::authz::Resource::Item(kind, runnable.path()),
        )
        .await
        .map_err(|e| match e {
            ApiError::Forbidden(why) => {
                ApiError::Forbidden(format!("?tag={tag} needs the right to change this {}: {why}", kind.as_str()))
            }
            other => other,
        })?;
    }
    let (body, _held) = read_limited(state, &parts.headers, body).await?;
    let idempotency_key = parts.headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let input = RequestInput { method: &parts.method, headers: &parts.headers, query: &query, body, ws: &ws };
    let settings = ArgsSettings { include_headers: state.cfg.server.include_headers.clone() };
    let (mut args, batch) = match request_args::build(input, &*state.objects, &settings).await? {
        RunArgs::One(a) => (vec![a], false),
        RunArgs::Batch(_) if mode != Mode::Async => {
            return Err(ApiError::BadRequest(
                "a CloudEvents batch starts one job per event, so it has no single result to wait for: send it to the async route /jobs/run/..."
                    .into(),
            ));
        }
        RunArgs::Batch(list) => (list, true),
    };
    if !extra.args.is_empty() {
        for a in &mut args {
            a.extend(extra.args.clone());
        }
    }
    let opts = RunOptions {
        trigger: Trigger::parse(extra.trigger.as_deref().unwrap_or(mode.trigger()))?,
        job_id: rq.job_id.or(extra.job_id),
        idempotency_key,
        scheduled_for: rq.scheduled_for,
        tag: rq.tag,
        parent_job: rq.parent_job,
    };
    let started =
        runs::start(state, runs::Start { caller: principal, runnable: &runnable, pinned, args, opts }).await?;
    Ok(Started { runnable, ids: started.ids, created: started.created, batch, tag: started.tag })
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
        Limit { bytes: state.cfg.server.multipart_limit_bytes, setting: "ORVANTA_MULTIPART_LIMIT_BYTES" }
    } else {
        Limit { bytes: state.cfg.server.body_limit_bytes, setting: "ORVANTA_BODY_LIMIT_BYTES" }
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

pub fn async_answer(started: &Started) -> Response {
    let first = started.ids[0];
    let resp = if started.batch {
        (StatusCode::CREATED, Json(&started.ids)).into_response()
    } else {
        (StatusCode::CREATED, first.to_string()).into_response()
    };
    with_job_id(resp, first)
}

pub async fn sync_answer(
    state: &AppState,
    started: &Started,
    watch: Option<orvanta_store::JobWatch>,
) -> ApiResult<Response> {
    // Watching since before a new job existed: its first read can wait for its end.
    let early = watch.filter(|_| started.created);
    let id = started.ids[0];
    let timeout = Duration::from_secs(state.cfg.server.sync_timeout_s);
    let store = state.store.clone();
    let ws = started.runnable.workspace().clone();
    let (error_status, delete_after_use) = (started.runnable.error_status_code(), started.runnable.delete_after_use());
    let finish = async move {
        let (mut job, stream) = match crate::wait::until_done_from(&*store, &ws, id, timeout, early).await? {
            crate::wait::Waited::Done(job, stream) => (*job, stream),
            crate::wait::Waited::TimedOut => return Ok(None),
            crate::wait::Waited::Gone => {
                return Err(ApiError::NotFound(format!(
                    "job {id} is gone from workspace '{ws}' (deleted while waited for)"
                )))
            }
        };
        // A flow answers as soon as its early-return step finished (§5).
        if !job.status.is_final() {
            if let Some(early) = crate::flows::early_result(&job).cloned() {
                return Ok(Some(super::respond::sync_result(orvanta_core::JobStatus::Success, &early, error_status)));
            }
        }
        // A job that streamed answers its stream too, as the stream routes do.
        let stream_job = job.flow_state.as_ref().and_then(orvanta_flow::state::stream_job).unwrap_or(id);
        let stream = match stream {
            Some(stream) if stream_job == id => stream,
            _ => store.read_stream(stream_job, 0).await?,
        };
        if !stream.is_empty() {
            job.result = Some(super::respond::only_result(job.status, job.result.take(), stream));
        }
        let result = job.result.clone().unwrap_or(serde_json::Value::Null);
        let resp = super::respond::sync_result(job.status, &result, error_status);
        if delete_after_use {
            // The caller gets its answer even so; the log says the data stayed.
            if let Err(e) = store.purge_job(id).await {
                tracing::error!(job = %id, error = %e, "delete_after_use: the job's args, logs and result could not be deleted");
            }
        }
        Ok::<_, ApiError>(Some(resp))
    };
    // With delete_after_use the wait runs in its own task, so that a caller who
    // hangs up before the job ends does not leave the job's data behind.
    let answer = if delete_after_use {
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
        // `name` is the contract's (§5); `code` makes it an error body like every other.
        let body = serde_json::json!({"error": {
            "code": "sync-timeout",
            "name": "Timeout",
            "message": format!("the job did not finish within the sync timeout of {} s; it goes on: read it later with /jobs_u/get/{id}", timeout.as_secs()),
            "job_id": id,
        }});
        return Ok(with_job_id((StatusCode::GATEWAY_TIMEOUT, Json(body)).into_response(), id));
    };
    Ok(with_job_id(resp, id))
}
