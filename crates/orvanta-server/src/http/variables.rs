//! `/api/w/{ws}/variables/...`, in Windmill's shapes. A secret variable's
//! value is sealed (ChaCha20-Poly1305 under the instance key, bound to its
//! workspace and path) before it reaches the database, never listed, and
//! shown in clear only to a job or a user who may read its path.

use super::extract::{PathParams, QueryParams};
use super::routes::Routes;
use super::JsonBody;
use crate::auth::Principal;
use crate::authz::{self, Action, ItemKind, Resource};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use orvanta_core::{millis_to_rfc3339, RunnablePath, WorkspaceId};
use orvanta_store::Variable;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::future::Future;

pub fn router() -> Routes {
    Routes::new()
        .post("/variables/create", create)
        .get("/variables/get/{*path}", get)
        .get("/variables/get_value/{*path}", get_value)
        .get("/variables/exists/{*path}", exists)
        .get("/variables/list", list)
        .post("/variables/update/{*path}", update)
        .add("/variables/delete/{*path}", &[Method::DELETE, Method::POST], remove)
}

/// The object of `kind` at `path` that `load` reads, if the caller may do
/// `action` to it: 404 when it does not exist or the caller may not read it.
pub(super) async fn item_at<T>(
    state: &AppState,
    principal: &Principal,
    ws: &WorkspaceId,
    kind: ItemKind,
    path: &RunnablePath,
    action: Action,
    load: impl Future<Output = Result<Option<T>, orvanta_store::StoreError>>,
) -> ApiResult<T> {
    principal.role_in(state, ws).await?;
    let found = load.await?.ok_or_else(|| authz::not_found(kind, path.as_str(), ws))?;
    authz::check(state, principal, ws, action, Resource::Item(kind, path)).await?;
    Ok(found)
}

/// What a `…/exists/{path}` route answers: false for what the caller may not see either.
pub(super) fn exists_answer<T>(found: ApiResult<T>, kind: ItemKind) -> ApiResult<Json<bool>> {
    match found {
        Ok(_) => Ok(Json(true)),
        Err(ApiError::NotFound(m)) if m.starts_with(kind.as_str()) => Ok(Json(false)),
        Err(e) => Err(e),
    }
}

fn context(ws: &WorkspaceId, path: &RunnablePath) -> String {
    format!("variable:{ws}:{path}")
}

/// The clear value of `v` (opening a secret one).
pub(crate) fn clear_value(state: &AppState, v: &Variable) -> ApiResult<String> {
    if !v.is_secret {
        return Ok(v.value.clone());
    }
    state.sealer.open(&v.value, &context(&v.workspace, &v.path)).map_err(|e| ApiError::Internal(e.0))
}

/// Windmill's `ListableVariable`; the value only when `clear` is given.
fn view(v: &Variable, clear: Option<String>, perms: &BTreeMap<String, bool>) -> Value {
    json!({
        "workspace_id": v.workspace,
        "path": v.path,
        "value": clear,
        "is_secret": v.is_secret,
        "description": v.description,
        "extra_perms": perms,
        "is_oauth": false,
        "is_draft": false,
        "account": null,
        "is_expired": false,
        "created_by": v.created_by,
        "created_at": millis_to_rfc3339(v.created_at),
        "updated_at": millis_to_rfc3339(v.updated_at),
    })
}

#[derive(Deserialize)]
struct CreateVariable {
    path: String,
    value: String,
    #[serde(default)]
    is_secret: bool,
    #[serde(default)]
    description: String,
}

async fn create(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<CreateVariable>,
) -> ApiResult<(StatusCode, String)> {
    let ws = WorkspaceId::parse(&ws)?;
    let path = RunnablePath::parse(&body.path)?;
    authz::check(&state, &principal, &ws, Action::Create, Resource::Item(ItemKind::Variable, &path)).await?;
    for (field, text) in [("value", &body.value), ("description", &body.description)] {
        super::extract::plain_text(field, text)?;
    }
    let now = orvanta_core::now_millis();
    let value = if body.is_secret { state.sealer.seal(&body.value, &context(&ws, &path)) } else { body.value };
    let v = Variable {
        workspace: ws,
        path: path.clone(),
        value,
        is_secret: body.is_secret,
        description: body.description,
        created_by: principal.username.clone(),
        created_at: now,
        updated_at: now,
    };
    state.store.create_variable(&v).await?;
    Ok((StatusCode::CREATED, path.to_string()))
}

#[derive(Deserialize)]
struct GetQuery {
    /// Windmill's flag: false leaves a secret's value out.
    decrypt_secret: Option<bool>,
}

async fn load(
    state: &AppState,
    principal: &Principal,
    ws: &str,
    path: &str,
    action: Action,
) -> ApiResult<(WorkspaceId, Variable)> {
    let ws = WorkspaceId::parse(ws)?;
    let p = RunnablePath::parse(path)?;
    let v = item_at(state, principal, &ws, ItemKind::Variable, &p, action, state.store.get_variable(&ws, &p)).await?;
    Ok((ws, v))
}

async fn get(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
    QueryParams(q): QueryParams<GetQuery>,
) -> ApiResult<Json<Value>> {
    let (ws, v) = load(&state, &principal, &ws, &path, Action::Read).await?;
    let clear = if v.is_secret && q.decrypt_secret == Some(false) { None } else { Some(clear_value(&state, &v)?) };
    let perms = state.store.item_perms(&ws, ItemKind::Variable.as_str(), v.path.as_str()).await?;
    Ok(Json(view(&v, clear, &perms)))
}

async fn get_value(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<String>> {
    let (_, v) = load(&state, &principal, &ws, &path, Action::Read).await?;
    Ok(Json(clear_value(&state, &v)?))
}

async fn exists(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<bool>> {
    exists_answer(load(&state, &principal, &ws, &path, Action::Read).await, ItemKind::Variable)
}

async fn list(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
) -> ApiResult<Json<Vec<Value>>> {
    let ws = WorkspaceId::parse(&ws)?;
    let mut grant = authz::check(&state, &principal, &ws, Action::Read, Resource::Items(ItemKind::Variable)).await?;
    let mut shown = Vec::new();
    for v in state.store.list_variables(&ws).await? {
        if grant.perm(&state, ItemKind::Variable, &v.path).await? >= orvanta_core::Perm::Read {
            // A list never carries a secret in clear.
            let clear = if v.is_secret { None } else { Some(v.value.clone()) };
            shown.push(view(&v, clear, &BTreeMap::new()));
        }
    }
    Ok(Json(shown))
}

#[derive(Deserialize)]
struct UpdateVariable {
    path: Option<String>,
    value: Option<String>,
    is_secret: Option<bool>,
    description: Option<String>,
}

async fn update(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
    JsonBody(body): JsonBody<UpdateVariable>,
) -> ApiResult<String> {
    let (ws, old) = load(&state, &principal, &ws, &path, Action::Write).await?;
    let new_path = match &body.path {
        Some(p) if p != old.path.as_str() => {
            let p = RunnablePath::parse(p)?;
            authz::check(&state, &principal, &ws, Action::Create, Resource::Item(ItemKind::Variable, &p)).await?;
            p
        }
        _ => old.path.clone(),
    };
    let clear = match body.value {
        Some(v) => {
            super::extract::plain_text("value", &v)?;
            v
        }
        None => clear_value(&state, &old)?,
    };
    if let Some(d) = &body.description {
        super::extract::plain_text("description", d)?;
    }
    let is_secret = body.is_secret.unwrap_or(old.is_secret);
    // Sealed again: the seal is bound to the path, which may have changed.
    let value = if is_secret { state.sealer.seal(&clear, &context(&ws, &new_path)) } else { clear };
    let v = Variable {
        path: new_path.clone(),
        value,
        is_secret,
        description: body.description.unwrap_or(old.description.clone()),
        updated_at: orvanta_core::now_millis(),
        ..old.clone()
    };
    if !state.store.update_variable(&old.path, &v).await? {
        return Err(authz::not_found(ItemKind::Variable, old.path.as_str(), &ws));
    }
    Ok(new_path.to_string())
}

async fn remove(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<String> {
    let (ws, v) = load(&state, &principal, &ws, &path, Action::Write).await?;
    state.store.delete_variable(&ws, &v.path).await?;
    authz::forget_item(&state, &ws, ItemKind::Variable, &v.path).await?;
    Ok(format!("variable {} deleted", v.path))
}
