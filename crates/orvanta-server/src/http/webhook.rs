//! The workspace webhook's settings and delivery log (admins): Windmill's
//! `workspaces/edit_webhook` and `workspaces/get_settings`, and Orvanta's
//! `workspaces/webhook_deliveries` (the log, one event's attempts, replays).
//!
//! The instance events webhook (super admins) is the same thing on the
//! outbox channel of instance events: Windmill's global setting
//! `settings/global/instance_events_webhook`, and Orvanta's
//! `settings/instance_events_webhook/...` for its secret and delivery log.

use super::extract::{PathParams, QueryParams};
use super::routes::Routes;
use super::JsonBody;
use crate::auth::Principal;
use crate::authz::{self, Action, Instance, Resource};
use crate::error::{ApiError, ApiResult};
use crate::outbound::{check_url, new_secret, secret_context};
use crate::state::AppState;
use axum::extract::State;
use axum::Json;
use orvanta_core::{millis_to_rfc3339, WorkspaceId};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Routes {
    Routes::new()
        .post("/workspaces/edit_webhook", edit)
        .get("/workspaces/get_settings", settings)
        .post("/workspaces/rotate_webhook_secret", rotate)
        .get("/workspaces/webhook_deliveries", deliveries)
        .get("/workspaces/webhook_deliveries/{id}", delivery)
        .post("/workspaces/webhook_deliveries/replay", replay)
}

/// The instance events webhook (super admins).
pub fn instance_router() -> Routes {
    const BASE: &str = "/api/settings/instance_events_webhook";
    Routes::new()
        .get_post("/api/settings/global/instance_events_webhook", instance_url, instance_edit)
        .get(BASE, instance_settings)
        .post(&format!("{BASE}/rotate_secret"), instance_rotate)
        .get(&format!("{BASE}/deliveries"), instance_deliveries)
        .get(&format!("{BASE}/deliveries/{{id}}"), instance_delivery)
        .post(&format!("{BASE}/deliveries/replay"), instance_replay)
}

/// Where a webhook's events come from: a workspace, or the instance.
fn channel_name(ch: &WorkspaceId) -> String {
    if ch.is_instance_channel() {
        "the instance".to_owned()
    } else {
        format!("workspace '{ch}'")
    }
}

fn super_admin(principal: &Principal, action: Action) -> ApiResult<WorkspaceId> {
    authz::check_instance(principal, action, Instance::Settings)?;
    Ok(WorkspaceId::instance_channel())
}

async fn admin_of(state: &AppState, principal: &Principal, ws: &str) -> ApiResult<WorkspaceId> {
    let ws = WorkspaceId::parse(ws)?;
    authz::check(state, principal, &ws, Action::Admin, Resource::Workspace).await?;
    Ok(ws)
}

#[derive(Deserialize)]
struct Edit {
    webhook: Option<String>,
}

async fn edit(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<Edit>,
) -> ApiResult<String> {
    let ws = admin_of(&state, &principal, &ws).await?;
    set_url(&state, &ws, body.webhook).await
}

/// Sets the webhook (an empty or null one turns it off); a secret is made the first time.
async fn set_url(state: &AppState, ws: &WorkspaceId, url: Option<String>) -> ApiResult<String> {
    let ws = ws.clone();
    let url = url.map(|u| u.trim().to_owned()).filter(|u| !u.is_empty());
    if let Some(u) = &url {
        check_url(u, state.cfg.server.webhook_allow_private).await?;
    }
    let current = state.store.webhook_settings(&ws).await?.unwrap_or_default();
    let secret = current.secret.unwrap_or_else(|| state.sealer.seal(&new_secret(), &secret_context(&ws)));
    state.store.set_webhook(&ws, url.as_deref(), Some(&secret), orvanta_core::now_millis()).await?;
    Ok(match url {
        Some(u) => format!("the events of {} go to {u}", channel_name(&ws)),
        None => format!("the webhook of {} is off", channel_name(&ws)),
    })
}

async fn settings(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ws = admin_of(&state, &principal, &ws).await?;
    let mut shown = webhook_view(&state, &ws).await?;
    shown["workspace_id"] = json!(ws);
    shown["name"] = json!(state.store.get_workspace(&ws).await?.map(|w| w.name));
    Ok(Json(shown))
}

/// The webhook's URL, its secret in clear, and why it stopped (if it did).
async fn webhook_view(state: &AppState, ws: &WorkspaceId) -> ApiResult<Value> {
    let s = state.store.webhook_settings(ws).await?.unwrap_or_default();
    let secret = match &s.secret {
        Some(sealed) => Some(state.sealer.open(sealed, &secret_context(ws)).map_err(|e| ApiError::Internal(e.0))?),
        None => None,
    };
    Ok(json!({"webhook": s.url, "webhook_secret": secret, "webhook_disabled": s.disabled}))
}

/// A new signing secret; the old one stops at once.
async fn rotate(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ws = admin_of(&state, &principal, &ws).await?;
    rotate_secret(&state, &ws).await
}

async fn rotate_secret(state: &AppState, ws: &WorkspaceId) -> ApiResult<Json<Value>> {
    let current = state.store.webhook_settings(ws).await?.unwrap_or_default();
    let secret = new_secret();
    let sealed = state.sealer.seal(&secret, &secret_context(ws));
    state.store.set_webhook(ws, current.url.as_deref(), Some(&sealed), orvanta_core::now_millis()).await?;
    Ok(Json(json!({"webhook_secret": secret})))
}

#[derive(Deserialize)]
struct LogQuery {
    per_page: Option<i64>,
}

fn event_view(d: &orvanta_store::EventDelivery) -> Value {
    json!({
        "id": d.event.id,
        "type": d.event.kind,
        "payload": serde_json::from_str::<Value>(&d.event.payload).unwrap_or(Value::Null),
        "created_at": millis_to_rfc3339(d.event.created_at),
        "state": d.state,
        "attempts": d.attempts,
        "next_attempt_at": (d.state == "pending").then(|| millis_to_rfc3339(d.next_at)),
    })
}

async fn deliveries(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    QueryParams(q): QueryParams<LogQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let ws = admin_of(&state, &principal, &ws).await?;
    log(&state, &ws, q).await
}

async fn log(state: &AppState, ws: &WorkspaceId, q: LogQuery) -> ApiResult<Json<Vec<Value>>> {
    let limit = q.per_page.unwrap_or(100).clamp(1, 1000);
    Ok(Json(state.store.event_log(ws, limit).await?.iter().map(event_view).collect()))
}

async fn delivery(
    State(state): State<AppState>,
    PathParams((ws, id)): PathParams<(String, i64)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ws = admin_of(&state, &principal, &ws).await?;
    one_delivery(&state, &ws, id).await
}

async fn one_delivery(state: &AppState, ws: &WorkspaceId, id: i64) -> ApiResult<Json<Value>> {
    let d = state
        .store
        .event_delivery(ws, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no event {id} in {}", channel_name(ws))))?;
    let mut shown = event_view(&d);
    let attempts: Vec<Value> = state
        .store
        .event_attempts(id)
        .await?
        .iter()
        .map(|a| {
            json!({"n": a.n, "at": millis_to_rfc3339(a.at), "status": a.status, "latency_ms": a.latency_ms, "response": a.excerpt})
        })
        .collect();
    shown["attempt_log"] = json!(attempts);
    Ok(Json(shown))
}

#[derive(Deserialize)]
struct Replay {
    id: Option<i64>,
    /// RFC 3339: every failed event created since.
    failed_since: Option<String>,
}

async fn replay(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<Replay>,
) -> ApiResult<Json<Value>> {
    let ws = admin_of(&state, &principal, &ws).await?;
    replay_events(&state, &ws, body).await
}

async fn replay_events(state: &AppState, ws: &WorkspaceId, body: Replay) -> ApiResult<Json<Value>> {
    let since = match &body.failed_since {
        Some(t) => Some(
            chrono::DateTime::parse_from_rfc3339(t)
                .map_err(|_| ApiError::BadRequest(format!("failed_since '{t}' is not an RFC 3339 time")))?
                .timestamp_millis(),
        ),
        None => None,
    };
    if body.id.is_none() && since.is_none() {
        return Err(ApiError::BadRequest("send {\"id\": n} or {\"failed_since\": \"2026-01-31T00:00:00Z\"}".into()));
    }
    let n = state.store.replay_events(ws, body.id, since, orvanta_core::now_millis()).await?;
    if body.id.is_some() && n == 0 {
        return Err(ApiError::NotFound(format!("no event {} in {}", body.id.unwrap_or_default(), channel_name(ws))));
    }
    Ok(Json(json!({"replayed": n})))
}

/// Windmill's global setting: the URL, or null.
async fn instance_url(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
    let ch = super_admin(&principal, Action::Read)?;
    Ok(Json(json!(state.store.webhook_settings(&ch).await?.and_then(|s| s.url))))
}

#[derive(Deserialize)]
struct GlobalSetting {
    value: Option<Value>,
}

async fn instance_edit(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<GlobalSetting>,
) -> ApiResult<String> {
    let ch = super_admin(&principal, Action::Admin)?;
    let url = match body.value {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) => Some(u),
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "value must be the webhook's URL as a string, or null to turn it off; got {other}"
            )))
        }
    };
    set_url(&state, &ch, url).await
}

async fn instance_settings(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
    let ch = super_admin(&principal, Action::Read)?;
    Ok(Json(webhook_view(&state, &ch).await?))
}

async fn instance_rotate(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
    let ch = super_admin(&principal, Action::Admin)?;
    rotate_secret(&state, &ch).await
}

async fn instance_deliveries(
    State(state): State<AppState>,
    principal: Principal,
    QueryParams(q): QueryParams<LogQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let ch = super_admin(&principal, Action::Read)?;
    log(&state, &ch, q).await
}

async fn instance_delivery(
    State(state): State<AppState>,
    PathParams(id): PathParams<i64>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ch = super_admin(&principal, Action::Read)?;
    one_delivery(&state, &ch, id).await
}

async fn instance_replay(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<Replay>,
) -> ApiResult<Json<Value>> {
    let ch = super_admin(&principal, Action::Admin)?;
    replay_events(&state, &ch, body).await
}
