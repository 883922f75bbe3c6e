//! `/api/w/{ws}/apps/...`, in Windmill's shapes: apps as stored JSON
//! definitions with versions (Orvanta has no app runtime). Each save is a new
//! version, numbered from 1 per app. The policy's `execution_mode` is kept and
//! shown as Windmill does (its clients require it), though nothing runs apps here.

use super::extract::{PathParams, QueryParams};
use super::routes::Routes;
use super::variables::{exists_answer, item_at};
use super::JsonBody;
use crate::auth::Principal;
use crate::authz::{self, Action, ItemKind, Resource};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use orvanta_core::{millis_to_rfc3339, RunnablePath, WorkspaceId};
use orvanta_store::App;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn router() -> Routes {
    Routes::new()
        .post("/apps/create", create)
        .post("/apps/update/{*path}", update)
        .get("/apps/get/p/{*path}", get)
        .get("/apps/exists/{*path}", exists)
        .get("/apps/history/p/{*path}", history)
        .get("/apps/list", list)
        .delete("/apps/delete/{*path}", remove)
}

/// Windmill's execution modes.
const EXECUTION_MODES: [&str; 4] = ["anonymous", "guest", "publisher", "viewer"];

/// The policy's mode; Windmill's default when it names none (or one saved before modes were checked).
fn execution_mode(policy: &Value) -> &str {
    match policy.get("execution_mode").and_then(Value::as_str) {
        Some(m) if EXECUTION_MODES.contains(&m) => m,
        _ => "publisher",
    }
}

fn view(a: &App, perms: &BTreeMap<String, bool>, with_value: bool) -> Value {
    let mut v = json!({
        "id": a.version,
        "version": a.version,
        "workspace_id": a.workspace,
        "path": a.path,
        "summary": a.summary,
        "policy": a.policy,
        "execution_mode": execution_mode(&a.policy),
        "extra_perms": perms,
        "created_by": a.created_by,
        "created_at": millis_to_rfc3339(a.created_at),
        "edited_at": millis_to_rfc3339(a.created_at),
    });
    if with_value {
        v["value"] = a.value.clone();
    }
    v
}

#[derive(Deserialize)]
struct SaveApp {
    path: Option<String>,
    summary: Option<String>,
    value: Option<Value>,
    policy: Option<Value>,
    /// Windmill's update field: a new mode, the rest of the policy kept (not with `policy`).
    execution_mode: Option<String>,
}

/// What an update answers (Windmill's `AppDeployed`): where the app lives and the version this save wrote.
#[derive(Serialize)]
struct AppDeployed {
    path: String,
    version: i64,
}

fn check(body: &SaveApp) -> ApiResult<()> {
    if let Some(s) = &body.summary {
        super::extract::plain_text("summary", s)?;
    }
    if body.value.as_ref().is_some_and(|v| !v.is_object()) {
        return Err(ApiError::BadRequest("value must be a JSON object (the app's definition)".into()));
    }
    if let Some(policy) = &body.policy {
        if !policy.is_object() {
            return Err(ApiError::BadRequest("policy must be a JSON object".into()));
        }
        match policy.get("execution_mode") {
            None | Some(Value::Null) => {}
            Some(mode) => check_mode(mode.as_str())?,
        }
    }
    if let Some(mode) = &body.execution_mode {
        if body.policy.is_some() {
            return Err(ApiError::BadRequest(
                "send execution_mode or policy, not both: the policy states its own execution_mode".into(),
            ));
        }
        check_mode(Some(mode))?;
    }
    Ok(())
}

fn check_mode(mode: Option<&str>) -> ApiResult<()> {
    match mode {
        Some(m) if EXECUTION_MODES.contains(&m) => Ok(()),
        _ => Err(ApiError::BadRequest(format!("execution_mode must be one of {}", EXECUTION_MODES.join(", ")))),
    }
}

/// The policy a save stores: the one sent, else `current` with the mode sent (if any).
fn policy_of(body_policy: Option<Value>, mode: Option<String>, current: &Value) -> Value {
    let mut policy = body_policy.unwrap_or_else(|| current.clone());
    if let Some(mode) = mode {
        if !policy.is_object() {
            policy = json!({});
        }
        policy["execution_mode"] = Value::String(mode);
    }
    policy
}

async fn create(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<SaveApp>,
) -> ApiResult<(StatusCode, String)> {
    let ws = WorkspaceId::parse(&ws)?;
    let path = body.path.as_deref().ok_or_else(|| ApiError::BadRequest("path is missing".into()))?;
    let path = RunnablePath::parse(path)?;
    authz::check(&state, &principal, &ws, Action::Create, Resource::Item(ItemKind::App, &path)).await?;
    check(&body)?;
    let value = body.value.ok_or_else(|| ApiError::BadRequest("value is missing: the app's definition".into()))?;
    let app = App {
        workspace: ws,
        path: path.clone(),
        version: 1,
        summary: body.summary.unwrap_or_default(),
        value,
        policy: policy_of(body.policy, body.execution_mode, &json!({})),
        created_by: principal.username.clone(),
        created_at: orvanta_core::now_millis(),
    };
    state.store.save_app(&app, true).await?;
    Ok((StatusCode::CREATED, path.to_string()))
}

async fn load(
    state: &AppState,
    principal: &Principal,
    ws: &str,
    path: &str,
    action: Action,
    version: Option<i64>,
) -> ApiResult<(WorkspaceId, App)> {
    let ws = WorkspaceId::parse(ws)?;
    let p = RunnablePath::parse(path)?;
    let a = item_at(state, principal, &ws, ItemKind::App, &p, action, state.store.get_app(&ws, &p, version)).await?;
    Ok((ws, a))
}

async fn update(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
    JsonBody(body): JsonBody<SaveApp>,
) -> ApiResult<Json<AppDeployed>> {
    let (ws, old) = load(&state, &principal, &ws, &path, Action::Write, None).await?;
    check(&body)?;
    if body.path.as_deref().is_some_and(|p| p != old.path.as_str()) {
        return Err(ApiError::BadRequest(
            "an app cannot be moved to another path; create it there and delete this one".into(),
        ));
    }
    let app = App {
        summary: body.summary.unwrap_or(old.summary.clone()),
        value: body.value.unwrap_or(old.value.clone()),
        policy: policy_of(body.policy, body.execution_mode, &old.policy),
        created_by: principal.username.clone(),
        created_at: orvanta_core::now_millis(),
        ..old.clone()
    };
    match state.store.save_app(&app, false).await? {
        Some(version) => Ok(Json(AppDeployed { path: old.path.to_string(), version })),
        None => Err(authz::not_found(ItemKind::App, old.path.as_str(), &ws)),
    }
}

#[derive(Deserialize)]
struct GetQuery {
    version: Option<i64>,
}

async fn get(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
    QueryParams(q): QueryParams<GetQuery>,
) -> ApiResult<Json<Value>> {
    let (ws, a) = load(&state, &principal, &ws, &path, Action::Read, q.version).await?;
    let perms = state.store.item_perms(&ws, ItemKind::App.as_str(), a.path.as_str()).await?;
    let versions: Vec<i64> = state.store.app_history(&ws, &a.path).await?.iter().map(|v| v.version).rev().collect();
    let mut shown = view(&a, &perms, true);
    shown["versions"] = json!(versions);
    // Windmill's clients require these: no raw (bundled) apps and no drafts here.
    shown["raw_app"] = json!(false);
    shown["is_draft"] = json!(false);
    Ok(Json(shown))
}

async fn exists(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<bool>> {
    exists_answer(load(&state, &principal, &ws, &path, Action::Read, None).await, ItemKind::App)
}

async fn history(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Vec<Value>>> {
    let (ws, a) = load(&state, &principal, &ws, &path, Action::Read, None).await?;
    let versions = state.store.app_history(&ws, &a.path).await?;
    Ok(Json(versions.iter().map(|v| view(v, &BTreeMap::new(), false)).collect()))
}

async fn list(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
) -> ApiResult<Json<Vec<Value>>> {
    let ws = WorkspaceId::parse(&ws)?;
    let mut grant = authz::check(&state, &principal, &ws, Action::Read, Resource::Items(ItemKind::App)).await?;
    let mut shown = Vec::new();
    for a in state.store.list_apps(&ws).await? {
        if grant.perm(&state, ItemKind::App, &a.path).await? >= orvanta_core::Perm::Read {
            shown.push(view(&a, &BTreeMap::new(), false));
        }
    }
    Ok(Json(shown))
}

async fn remove(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<String> {
    let (ws, a) = load(&state, &principal, &ws, &path, Action::Write, None).await?;
    state.store.delete_app(&ws, &a.path).await?;
    authz::forget_item(&state, &ws, ItemKind::App, &a.path).await?;
    Ok(format!("app {} deleted", a.path))
}
