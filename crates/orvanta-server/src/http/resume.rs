//! Suspend and approval steps (contract §7): the signed URLs that resume or
//! cancel a flow waiting after a step, and how a step gets them.
//!
//! - `GET /api/w/{ws}/jobs/resume_urls/{job}/{resume_id}[?approver=]` (token
//!   needed: the step's own job token does) → `{approvalPage, resume, cancel}`.
//! - `GET|POST /api/w/{ws}/jobs_u/resume/{job}/{resume_id}/{signature}`: no
//!   token, the signature is the credential; the payload is `?payload=`
//!   (base64 JSON) or the JSON body. 201 when it counted.
//! - `GET|POST /api/w/{ws}/jobs_u/cancel/{job}/{resume_id}/{signature}`:
//!   cancels the flow run.
//! - `GET /approve/{ws}/{job}/{resume_id}/{signature}`: a page with Approve
//!   and Reject buttons that call those two.
//!
//! The signature is an HMAC of the step's job id, the resume id and the
//! approver under the instance key. A forged signature is a 403, a resume id
//! used twice a 409 (nothing resumes twice), a flow that no longer waits a 410.

use super::extract::{PathParams, QueryParams};
use super::routes::Routes;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use orvanta_core::{Job, JobId, JobKind, WorkspaceId};
use orvanta_flow::state::ResumeCheck;
use orvanta_flow::FlowState;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Routes {
    let both = &[Method::GET, Method::POST];
    Routes::new()
        .get("/jobs/resume_urls/{job}/{resume_id}", resume_urls)
        .add("/jobs_u/resume/{job}/{resume_id}/{signature}", both, resume)
        .add("/jobs_u/cancel/{job}/{resume_id}/{signature}", both, cancel)
}

/// The approval page, outside `/api`.
pub fn page_router() -> Routes {
    Routes::new().get("/approve/{ws}/{job}/{resume_id}/{signature}", approval_page)
}

#[derive(Deserialize, Default)]
struct ApproverQuery {
    approver: Option<String>,
}

fn resume_id(s: &str) -> ApiResult<u32> {
    s.parse().map_err(|_| ApiError::BadRequest(format!("resume id '{s}' is not a number from 0 to 4294967295")))
}

/// The three URLs of a step's suspend, for `approver` (may be empty).
fn urls(state: &AppState, ws: &WorkspaceId, job: JobId, rid: u32, approver: &str) -> Value {
    let sig = state.job_key.sign_resume(job, rid, approver);
    let base = state.cfg.base_url();
    let q = if approver.is_empty() { String::new() } else { format!("?approver={}", encode(approver)) };
    json!({
        "approvalPage": format!("{base}/approve/{ws}/{job}/{rid}/{sig}{q}"),
        "resume": format!("{base}/api/w/{ws}/jobs_u/resume/{job}/{rid}/{sig}{q}"),
        "cancel": format!("{base}/api/w/{ws}/jobs_u/cancel/{job}/{rid}/{sig}{q}"),
    })
}

/// Percent-encodes a query value.
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

async fn resume_urls(
    State(state): State<AppState>,
    PathParams((ws, job, rid)): PathParams<(String, String, String)>,
    principal: Principal,
    QueryParams(q): QueryParams<ApproverQuery>,
) -> ApiResult<Json<Value>> {
    let (ws, job) = super::jobs_read::readable_job(&state, &principal, &ws, &job).await?;
    let rid = resume_id(&rid)?;
    Ok(Json(urls(&state, &ws, job.id, rid, q.approver.as_deref().unwrap_or(""))))
}

/// The suspended step and its flow run, once the signature holds.
async fn signed(
    state: &AppState,
    ws: &str,
    job: &str,
    rid: &str,
    sig: &str,
    approver: &str,
) -> ApiResult<(WorkspaceId, Job, Job, u32)> {
    let ws = WorkspaceId::parse(ws)?;
    let id = JobId::parse(job)?;
    let rid = resume_id(rid)?;
    if !state.job_key.verify_resume(id, rid, approver, sig) {
        return Err(ApiError::Forbidden(
            "the signature of this URL does not match: use the URL exactly as resume_urls gave it".into(),
        ));
    }
    let step = state.store.get_job(&ws, id).await?.ok_or_else(|| ApiError::NotFound(format!("job {id} not found")))?;
    let flow = match step.parent_job {
        Some(p) => state.store.get_job(&ws, p).await?.filter(|f| f.kind == JobKind::Flow),
        None => None,
    };
    let Some(flow) = flow else {
        return Err(ApiError::Gone(format!("job {id} is not a step of a flow run, so nothing waits for it")));
    };
    if flow.status.is_final() {
        return Err(ApiError::Gone(format!(
            "the flow run {} already ended ({}): this URL has expired",
            flow.id, flow.status
        )));
    }
    Ok((ws, step, flow, rid))
}

/// The payload of a resume: `?payload=` on GET, the JSON body on POST.
async fn payload(state: &AppState, req: Request) -> ApiResult<Value> {
    if req.method() == Method::GET {
        let query = super::request_args::parse_query(req.uri().query());
        return match query.iter().find(|(k, _)| k == "payload") {
            None => Ok(json!({})),
            Some((_, p)) => {
                let bytes = super::request_args::decode_payload(p)?;
                orvanta_core::json::parse_limited(&bytes, orvanta_core::json::MAX_DEPTH).map_err(|e| {
                    ApiError::BadRequest(format!("the payload query parameter is base64 but not JSON: {e}"))
                })
            }
        };
    }
    let (body, _held) = super::extract::read_body(req, state).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    orvanta_core::json::parse_limited(&body, orvanta_core::json::MAX_DEPTH)
        .map_err(|e| ApiError::BadRequest(format!("the body of a resume must be JSON (the resume payload): {e}")))
}

async fn resume(
    State(state): State<AppState>,
    PathParams((ws, job, rid, sig)): PathParams<(String, String, String, String)>,
    QueryParams(q): QueryParams<ApproverQuery>,
    req: Request,
) -> ApiResult<Response> {
    let approver = q.approver.unwrap_or_default();
    let (ws, step, flow, rid) = signed(&state, &ws, &job, &rid, &sig, &approver).await?;
    let check = FlowState::from_json(flow.flow_state.as_ref()).resume_check(step.id, rid);
    match check {
        ResumeCheck::AlreadyUsed => {
            return Err(ApiError::Conflict(format!("resume id {rid} was used already: each resume URL counts once")))
        }
        ResumeCheck::NotWaiting => {
            return Err(ApiError::Gone(format!(
                "the flow run {} is not waiting for step job {}: this URL has expired",
                flow.id, step.id
            )))
        }
        ResumeCheck::Accept => {}
    }
    let value = payload(&state, req).await?;
    state.engine().resume(&ws, flow.id, step.id, rid, value).await?;
    let body = json!({"resumed": true, "job": step.id, "flow": flow.id, "resume_id": rid});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn cancel(
    State(state): State<AppState>,
    PathParams((ws, job, rid, sig)): PathParams<(String, String, String, String)>,
    QueryParams(q): QueryParams<ApproverQuery>,
) -> ApiResult<Response> {
    let approver = q.approver.unwrap_or_default();
    let (ws, step, flow, _) = signed(&state, &ws, &job, &rid, &sig, &approver).await?;
    let root = flow.flow.as_ref().map(|l| l.root).unwrap_or(flow.id);
    let who = if approver.is_empty() { "through its cancel URL".to_owned() } else { format!("by {approver}") };
    let reason = format!("the approval of step job {} was refused {who}", step.id);
    state.store.cancel(&ws, root, &reason, orvanta_core::now_millis()).await?;
    let body = json!({"canceled": true, "job": step.id, "flow": root});
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn approval_page(
    State(state): State<AppState>,
    PathParams((ws, job, rid, sig)): PathParams<(String, String, String, String)>,
    QueryParams(q): QueryParams<ApproverQuery>,
) -> ApiResult<Response> {
    let approver = q.approver.unwrap_or_default();
    let (ws, step, flow, rid) = signed(&state, &ws, &job, &rid, &sig, &approver).await?;
    let links = urls(&state, &ws, step.id, rid, &approver);
    let escape = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let flow_path = flow.path.as_ref().map(|p| p.to_string()).unwrap_or_default();
    let step_id = step.flow.as_ref().and_then(|l| l.step_id.clone()).unwrap_or_default();
    let page = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><title>Approval: {flow_path}</title>
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}}textarea{{width:100%;height:6rem}}button{{font-size:1rem;padding:.5rem 1.5rem;margin-right:1rem}}</style></head>
<body><h1>Approval needed</h1><p>The flow <code>{flow_path}</code> waits after step <code>{step_id}</code>.</p>
<p><label>Payload (JSON, optional)<br><textarea id="payload">{{}}</textarea></label></p>
<button id="approve">Approve</button><button id="reject">Reject</button><p id="out"></p>
<script>
async function send(url, body) {{
  const r = await fetch(url, {{method: "POST", headers: {{"content-type": "application/json"}}, body}});
  const t = await r.text();
  document.getElementById("out").textContent = (r.ok ? "Done: " : "Refused (" + r.status + "): ") + t;
}}
document.getElementById("approve").onclick = () => send("{resume}", document.getElementById("payload").value || "{{}}");
document.getElementById("reject").onclick = () => send("{cancel}", "");
</script></body></html>"#,
        flow_path = escape(&flow_path),
        step_id = escape(&step_id),
        resume = escape(links["resume"].as_str().unwrap_or("")),
        cancel = escape(links["cancel"].as_str().unwrap_or("")),
    );
    Ok(([(header::CONTENT_TYPE, "text/html; charset=utf-8")], page).into_response())
}
