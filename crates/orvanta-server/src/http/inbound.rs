//! Inbound webhooks over HTTP (contract §8): the definitions under
//! `/api/w/{ws}/inbound_webhooks/...` (admins and developers), their
//! history and replay, and the URL platforms call, `/webhook/{id}`, which
//! takes no token: the definition's verifier is the authentication.

use super::extract::{PathParams, QueryParams};
use super::routes::Routes;
use super::JsonBody;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::inbound::{self, Definition, Received, SaveHook};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use orvanta_core::WorkspaceId;
use orvanta_store::{Hook, HookEvent};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Routes {
    Routes::new()
        .post("/inbound_webhooks/create", create)
        .get("/inbound_webhooks/list", list)
        .get("/inbound_webhooks/get/{id}", get)
        .post("/inbound_webhooks/update/{id}", update)
        .delete("/inbound_webhooks/delete/{id}", remove)
        .get("/inbound_webhooks/events/{id}", events)
        .get("/inbound_webhooks/event/{id}/{event_id}", event)
        .post("/inbound_webhooks/replay/{id}/{event_id}", replay)
}

/// The URL platforms call.
pub fn receiver() -> Routes {
    Routes::new().add("/webhook/{id}", &[Method::GET, Method::POST], receive)
}

/// The caller's workspace, when they may manage its definitions.
async fn manager(state: &AppState, principal: &Principal, ws: &str) -> ApiResult<WorkspaceId> {
    let ws = WorkspaceId::parse(ws)?;
    crate::authz::check(state, principal, &ws, crate::authz::Action::Write, crate::authz::Resource::InboundHooks)
        .await?;
    Ok(ws)
}

/// A definition of `ws` by id: 404 for another workspace's.
async fn hook_in(state: &AppState, ws: &WorkspaceId, id: &str) -> ApiResult<Hook> {
    match state.store.get_hook(id).await? {
        Some(h) if &h.workspace == ws => Ok(h),
        _ => Err(ApiError::NotFound(format!("no inbound webhook '{id}' in workspace '{ws}'"))),
    }
}

/// A fresh URL id: 128 random bits, URL-safe.
fn new_id() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

async fn create(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(save): JsonBody<SaveHook>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let ws = manager(&state, &principal, &ws).await?;
    let def = inbound::definition(&state, &ws, &save, None).await?;
    let now = orvanta_core::now_millis();
    let id = new_id();
    let hook = Hook {
        config: def.to_config(&id, &state.sealer)?,
        id,
        workspace: ws,
        name: save.name.trim().to_owned(),
        url_verified: false,
        created_by: principal.username.clone(),
        edited_by: principal.username.clone(),
        created_at: now,
        updated_at: now,
    };
    state.store.create_hook(&hook).await?;
    Ok((StatusCode::CREATED, Json(inbound::view(&hook, &state.cfg.base_url()))))
}

async fn list(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ws = manager(&state, &principal, &ws).await?;
    let base = state.cfg.base_url();
    let hooks = state.store.list_hooks(&ws).await?;
    Ok(Json(Value::Array(hooks.iter().map(|h| inbound::view(h, &base)).collect())))
}

async fn get(
    State(state): State<AppState>,
    PathParams((ws, id)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ws = manager(&state, &principal, &ws).await?;
    let hook = hook_in(&state, &ws, &id).await?;
    Ok(Json(inbound::view(&hook, &state.cfg.base_url())))
}

async fn update(
    State(state): State<AppState>,
    PathParams((ws, id)): PathParams<(String, String)>,
    principal: Principal,
    JsonBody(save): JsonBody<SaveHook>,
) -> ApiResult<Json<Value>> {
    let ws = manager(&state, &principal, &ws).await?;
    let mut hook = hook_in(&state, &ws, &id).await?;
    let old = Definition::from_hook(&hook, &state.sealer)?;
    let def = inbound::definition(&state, &ws, &save, Some(&old)).await?;
    hook.name = save.name.trim().to_owned();
    hook.config = def.to_config(&hook.id, &state.sealer)?;
    // Runs start as whoever saved the definition last: a developer who points
    // an admin's definition at their own script does not borrow the admin's rights.
    hook.edited_by = principal.username.clone();
    hook.updated_at = orvanta_core::now_millis();
    if !state.store.update_hook(&hook).await? {
        return Err(ApiError::NotFound(format!("no inbound webhook '{id}' in workspace '{ws}'")));
    }
    // After the write: a request in between cannot cache the old definition again.
    state.caches.hooks.forget(&hook.id);
    Ok(Json(inbound::view(&hook, &state.cfg.base_url())))
}

async fn remove(
    State(state): State<AppState>,
    PathParams((ws, id)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<String> {
    let ws = manager(&state, &principal, &ws).await?;
    let hook = hook_in(&state, &ws, &id).await?;
    if !state.store.delete_hook(&ws, &id).await? {
        return Err(ApiError::NotFound(format!("no inbound webhook '{id}' in workspace '{ws}'")));
    }
    state.caches.hooks.forget(&id);
    // Steps that waited for it fail now, with a reason, instead of forever.
    inbound::fail_waits(&state, &hook, "was deleted while the step waited").await?;
    Ok(format!("inbound webhook {id} deleted"))
}

#[derive(Debug, Deserialize)]
struct Paging {
    /// The record id the page starts after (the last of the previous page).
    before: Option<String>,
    per_page: Option<i64>,
}

/// One event of the history; the body with `with_body`.
fn event_view(e: &HookEvent, with_body: bool) -> Value {
    let mut v = json!({
        "id": e.id,
        "event_id": e.event_id,
        "received_at": orvanta_core::millis_to_rfc3339(e.received_at),
        "outcome": e.outcome,
        "reason": e.reason,
        "headers_matched": e.headers_matched,
        "method": e.method,
        "jobs": e.jobs,
        "waits": e.waits,
        "replay_of": e.replay_of,
    });
    if with_body {
        v["query"] = e.query.clone().into();
        v["headers"] = e.headers.clone();
        match std::str::from_utf8(&e.body) {
            Ok(text) => v["body"] = text.into(),
            Err(_) => {
                use base64::Engine;
                v["body_base64"] = base64::engine::general_purpose::STANDARD.encode(&e.body).into();
            }
        }
    }
    v
}

async fn events(
    State(state): State<AppState>,
    PathParams((ws, id)): PathParams<(String, String)>,
    QueryParams(paging): QueryParams<Paging>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ws = manager(&state, &principal, &ws).await?;
    let hook = hook_in(&state, &ws, &id).await?;
    let per_page = paging.per_page.unwrap_or(100);
    if !(1..=1000).contains(&per_page) {
        return Err(ApiError::BadRequest(format!("per_page is {per_page}; give 1 to 1000")));
    }
    let list = state.store.list_hook_events(&hook.id, paging.before.as_deref(), per_page).await?;
    Ok(Json(Value::Array(list.iter().map(|e| event_view(e, false)).collect())))
}

async fn event(
    State(state): State<AppState>,
    PathParams((ws, id, event_id)): PathParams<(String, String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ws = manager(&state, &principal, &ws).await?;
    let hook = hook_in(&state, &ws, &id).await?;
    let e =
        state.store.get_hook_event(&hook.id, &event_id).await?.ok_or_else(|| {
            ApiError::NotFound(format!("no event '{event_id}' in the history of inbound webhook '{id}'"))
        })?;
    Ok(Json(event_view(&e, true)))
}

/// Runs a recorded event's effects again, as if it had just arrived (it was
/// verified when it came; a refused event cannot be replayed), recorded as
/// a replay of it.
async fn replay(
    State(state): State<AppState>,
    PathParams((ws, id, event_id)): PathParams<(String, String, String)>,
    principal: Principal,
) -> ApiResult<Response> {
    let ws = manager(&state, &principal, &ws).await?;
    let hook = hook_in(&state, &ws, &id).await?;
    let original =
        state.store.get_hook_event(&hook.id, &event_id).await?.ok_or_else(|| {
            ApiError::NotFound(format!("no event '{event_id}' in the history of inbound webhook '{id}'"))
        })?;
    if !matches!(original.outcome.as_str(), "verified" | "duplicate") {
        return Err(ApiError::BadRequest(format!(
            "event {} was {}: only verified events can be replayed",
            original.id, original.outcome
        )));
    }
    let def = Definition::from_hook(&hook, &state.sealer)?;
    let headers: Vec<(String, String)> = original
        .headers
        .as_array()
        .map(|a| {
            a.iter().filter_map(|p| Some((p.get(0)?.as_str()?.to_owned(), p.get(1)?.as_str()?.to_owned()))).collect()
        })
        .unwrap_or_default();
    let req = Received {
        method: original.method.clone(),
        headers,
        query: original.query.clone(),
        body: original.body.clone(),
        received_at: orvanta_core::now_millis(),
    };
    let mut record = original.clone();
    record.id = uuid::Uuid::now_v7().to_string();
    record.received_at = req.received_at;
    record.outcome = "verified".into();
    record.reason = Some(format!("a replay of {}", original.id));
    record.replay_of = Some(original.id.clone());
    record.jobs = json!([]);
    record.waits = json!([]);
    let (answer, _) = inbound::act(&state, &hook, &def, &req, record, None).await?;
    Ok(answer_response(answer))
}

fn answer_response(a: inbound::Answer) -> Response {
    let status = StatusCode::from_u16(a.status).unwrap_or(StatusCode::OK);
    (status, [(header::CONTENT_TYPE, a.content_type)], a.body).into_response()
}

/// `GET|POST /webhook/{id}`: verified by the definition, recorded, acted on.
async fn receive(
    State(state): State<AppState>,
    PathParams(id): PathParams<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let load = async {
        match state.store.get_hook(&id).await? {
            Some(hook) => {
                let def = Definition::from_hook(&hook, &state.sealer)?;
                Ok::<_, ApiError>(Some(std::sync::Arc::new((hook, def))))
            }
            None => Ok(None),
        }
    };
    let entry =
        state.caches.hooks.get_or_load(id.clone(), load).await?.ok_or_else(|| {
            ApiError::NotFound(format!("no inbound webhook '{id}'; check the URL the platform calls"))
        })?;
    let (hook, def) = (&entry.0, &entry.1);
    let limit = super::body::Limit { bytes: state.cfg.server.body_limit_bytes, setting: "ORVANTA_BODY_LIMIT_BYTES" };
    let received_at = orvanta_core::now_millis();
    let header_list: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let query = uri.query().unwrap_or_default().to_owned();
    let (bytes, _held) = match super::body::read(&state.bodies, &headers, body, limit).await {
        Ok(read) => read,
        Err(e) => {
            // A body over the limit, or broken: recorded, nothing runs.
            let req =
                Received { method: method.to_string(), headers: header_list, query, body: Vec::new(), received_at };
            inbound::record_unread(&state, hook, def, &req, &e).await?;
            return Err(e);
        }
    };
    let req = Received { method: method.to_string(), headers: header_list, query, body: bytes.to_vec(), received_at };
    Ok(answer_response(inbound::receive(&state, hook, def, req).await?))
}
