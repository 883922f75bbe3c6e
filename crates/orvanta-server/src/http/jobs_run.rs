//! `/api/w/{ws}/jobs/run/...` and `/jobs/run_wait_result/...`: start jobs
//! over HTTP, asynchronously (201 + id) or synchronously (the result).

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::http::extract::read_body;
use crate::runs::{self, RunRequest, Target};
use crate::state::AppState;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use orvanta_core::{JobStatus, RunnablePath, Script, ScriptHash, Trigger, WorkspaceId};
use serde_json::{json, Map, Value};
use std::time::Duration;

/// The header every run answer carries.
pub const JOB_ID_HEADER: HeaderName = HeaderName::from_static("x-orvanta-job-id");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/jobs/run/p/{*path}", post(async_by_path))
        .route("/jobs/run/h/{hash}", post(async_by_hash))
        .route("/jobs/run_wait_result/p/{*path}", get(sync_by_path).post(sync_by_path))
        .route("/jobs/run_wait_result/h/{hash}", get(sync_by_hash).post(sync_by_hash))
}

fn by_path(path: &str) -> ApiResult<Target> {
    Ok(Target::Path(RunnablePath::parse(path)?))
}

fn by_hash(hash: &str) -> ApiResult<Target> {
    Ok(Target::Hash(ScriptHash::parse(hash)?))
}

async fn async_by_path(
    State(s): State<AppState>,
    Path((ws, path)): Path<(String, String)>,
    p: Principal,
    req: Request,
) -> ApiResult<Response> {
    run_async(s, ws, p, by_path(&path)?, req).await
}

async fn async_by_hash(
    State(s): State<AppState>,
    Path((ws, hash)): Path<(String, String)>,
    p: Principal,
    req: Request,
) -> ApiResult<Response> {
    run_async(s, ws, p, by_hash(&hash)?, req).await
}

async fn sync_by_path(
    State(s): State<AppState>,
    Path((ws, path)): Path<(String, String)>,
    p: Principal,
    req: Request,
) -> ApiResult<Response> {
    run_sync(s, ws, p, by_path(&path)?, req).await
}

async fn sync_by_hash(
    State(s): State<AppState>,
    Path((ws, hash)): Path<(String, String)>,
    p: Principal,
    req: Request,
) -> ApiResult<Response> {
    run_sync(s, ws, p, by_hash(&hash)?, req).await
}

/// Resolves the target and reads the arguments: the JSON body of a POST, or
/// the base64 `payload` of a GET.
async fn prepare(
    state: &AppState,
    ws: &str,
    principal: &Principal,
    target: &Target,
    req: Request,
) -> ApiResult<(Script, Map<String, Value>)> {
    let ws = WorkspaceId::parse(ws)?;
    principal.role_in(state, &ws).await?;
    let script = runs::resolve_script(state, principal, &ws, target).await?;
    let args = if req.method() == Method::GET {
        match query_value(req.uri().query(), "payload") {
            Some(p) => runs::args_from_json(&decode_payload(&p)?)?,
            None => Map::new(),
        }
    } else {
        runs::args_from_json(&read_body(req, state).await?)?
    };
    Ok((script, args))
}

fn run_request(args: Map<String, Value>, trigger: &str) -> ApiResult<RunRequest> {
    Ok(RunRequest {
        args,
        trigger: Trigger::parse(trigger)?,
        job_id: None,
        idempotency_key: None,
        scheduled_for: None,
        tag: None,
        parent_job: None,
    })
}

fn with_job_id(mut resp: Response, id: &impl ToString) -> Response {
    if let Ok(v) = HeaderValue::from_str(&id.to_string()) {
        resp.headers_mut().insert(JOB_ID_HEADER, v);
    }
    resp
}

/// Enqueues the job and answers 201 with its id once it is committed.
async fn run_async(
    state: AppState,
    ws: String,
    principal: Principal,
    target: Target,
    req: Request,
) -> ApiResult<Response> {
    let (script, args) = prepare(&state, &ws, &principal, &target, req).await?;
    let id = runs::enqueue_script(&state, &principal, &script, run_request(args, Trigger::WEBHOOK)?).await?.id();
    Ok(with_job_id((StatusCode::CREATED, id.to_string()).into_response(), &id))
}

/// Enqueues the job, waits for it, and answers its result.
async fn run_sync(
    state: AppState,
    ws: String,
    principal: Principal,
    target: Target,
    req: Request,
) -> ApiResult<Response> {
    let (script, args) = prepare(&state, &ws, &principal, &target, req).await?;
    let id = runs::enqueue_script(&state, &principal, &script, run_request(args, Trigger::WEBHOOK_SYNC)?).await?.id();
    let timeout = Duration::from_secs(state.cfg.sync_timeout_s);
    let Some(job) = crate::wait::until_done(&*state.store, &script.workspace, id, timeout).await? else {
        let body = json!({"error": {
            "name": "Timeout",
            "message": format!("the job did not finish within the sync timeout of {} s; it goes on: read it later with /jobs_u/get/{id}", timeout.as_secs()),
            "job_id": id,
        }});
        return Ok(with_job_id((StatusCode::GATEWAY_TIMEOUT, Json(body)).into_response(), &id));
    };
    let status = match job.status {
        JobStatus::Success => StatusCode::OK,
        _ => script.settings.error_status_code.and_then(|c| StatusCode::from_u16(c).ok()).unwrap_or(StatusCode::OK),
    };
    let result = job.result.unwrap_or(Value::Null);
    if script.settings.delete_after_use {
        state.store.purge_job(id).await?;
    }
    Ok(with_job_id((status, Json(result)).into_response(), &id))
}

/// The raw value of a query parameter, percent-decoded.
fn query_value(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .map(crate::auth::percent_decode)
}

/// `payload`: base64 of JSON, standard or URL-safe alphabet, padding optional.
fn decode_payload(p: &str) -> ApiResult<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    use base64::Engine;
    // `+` became a space through form decoding: put it back.
    let cleaned: String = p.trim_end_matches('=').chars().map(|c| if c == ' ' { '+' } else { c }).collect();
    STANDARD_NO_PAD.decode(&cleaned).or_else(|_| URL_SAFE_NO_PAD.decode(&cleaned)).map_err(|_| {
        ApiError::BadRequest(
            "the payload query parameter is not base64; encode the JSON arguments with base64 (standard or URL-safe)"
                .into(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_decode_in_every_alphabet() {
        // {"a":"?>"} has '+' / '/' in standard base64 and '-' / '_' in URL-safe.
        let json = br#"{"a":"??>>"}"#;
        use base64::Engine;
        for enc in [
            base64::engine::general_purpose::STANDARD.encode(json),
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(json),
            base64::engine::general_purpose::URL_SAFE.encode(json),
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json),
        ] {
            assert_eq!(decode_payload(&enc).unwrap(), json.to_vec(), "{enc}");
        }
        assert!(decode_payload("not base64!").is_err());
    }
}
