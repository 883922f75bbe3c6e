//! `/api/w/{ws}/flows/...`: save flow versions (each save a new immutable
//! version with an instance-wide increasing number), read, list, history,
//! archive, delete — in Windmill's route and body shapes, so that its
//! clients work. A flow's `value` is checked before it is saved
//! (`orvanta_flow::validate`): a 400 names the module and the problem.

use super::extract::{PathParams, QueryParams};
use super::routes::Routes;
use super::JsonBody;
use crate::auth::Principal;
use crate::authz::{self, Action, ItemKind, Resource};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use orvanta_core::{Flow, FlowVersion, NewFlow, Perm, RunnablePath, WorkspaceId};
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Routes {
    Routes::new()
        .post("/flows/create", create)
        .post("/flows/update/{*path}", update)
        .get("/flows/get/v/{version}", get_version)
        .get("/flows/get/{*path}", get_by_path)
        .get("/flows/exists/{*path}", exists)
        .get("/flows/list", list)
        .get("/flows/history/p/{*path}", history)
        .post("/flows/archive/{*path}", archive)
        .delete("/flows/delete/{*path}", remove)
}

/// The body of `flows/create` and `flows/update`: Windmill's `OpenFlowWPath`.
/// Fields Orvanta does not use (`tag`, `ws_error_handler_muted`, ...) are
/// accepted and ignored.
#[derive(Debug, Deserialize)]
pub struct SaveFlow {
    path: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    description: String,
    value: Value,
    #[serde(default)]
    schema: Option<Value>,
}

/// A flow version as JSON: Windmill's `Flow`, with Orvanta's `version_id`.
fn view(f: &Flow, extra_perms: &std::collections::BTreeMap<String, bool>) -> Value {
    json!({
        "extra_perms": extra_perms,
        "workspace_id": f.workspace,
        "path": f.path,
        "summary": f.summary,
        "description": f.description,
        "value": f.value,
        "schema": f.schema,
        "version_id": f.version,
        "edited_by": f.created_by,
        "edited_at": orvanta_core::millis_to_rfc3339(f.created_at),
        "created_by": f.created_by,
        "created_at": orvanta_core::millis_to_rfc3339(f.created_at),
        "archived": f.archived,
        "extra_perms": {},
        "is_draft": false,
        "draft_only": false,
    })
}

/// Checks a save and turns it into a new version.
fn prepare(ws: &WorkspaceId, principal: &Principal, body: SaveFlow) -> ApiResult<NewFlow> {
    let path = RunnablePath::parse(&body.path)?;
    for (field, text) in [("summary", &body.summary), ("description", &body.description)] {
        super::extract::plain_text(field, text)?;
    }
    orvanta_flow::validate(&body.value)
        .map_err(|e| ApiError::BadRequest(format!("the flow's value is not valid: {e}")))?;
    let schema = match body.schema {
        Some(Value::Object(s)) => Value::Object(s),
        Some(Value::Null) | None => {
            json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "properties": {}, "required": []})
        }
        Some(_) => {
            return Err(ApiError::BadRequest("schema must be a JSON object (a JSON Schema of the flow's input)".into()))
        }
    };
    Ok(NewFlow {
        workspace: ws.clone(),
        path,
        summary: body.summary,
        description: body.description,
        value: body.value,
        schema,
        created_by: principal.username.clone(),
        created_at: orvanta_core::now_millis(),
    })
}

fn not_found(path: &str, ws: &WorkspaceId) -> ApiError {
    authz::not_found(ItemKind::Flow, path, ws)
}

/// The flow at `path` if the caller may do `action` to it (404 when it does
/// not exist or the caller may not read it).
async fn flow_at(
    state: &AppState,
    principal: &Principal,
    ws: &str,
    path: &str,
    action: Action,
) -> ApiResult<(WorkspaceId, RunnablePath, Flow)> {
    let ws = WorkspaceId::parse(ws)?;
    let p = RunnablePath::parse(path)?;
    principal.role_in(state, &ws).await?;
    let flow = state.store.latest_flow(&ws, &p).await?.ok_or_else(|| not_found(path, &ws))?;
    authz::check(state, principal, &ws, action, Resource::Item(ItemKind::Flow, &p)).await?;
    Ok((ws, p, flow))
}

async fn create(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<SaveFlow>,
) -> ApiResult<(StatusCode, String)> {
    let path = RunnablePath::parse(&body.path)?;
    let ws = WorkspaceId::parse(&ws)?;
    authz::check(&state, &principal, &ws, Action::Create, Resource::Item(ItemKind::Flow, &path)).await?;
    let new = prepare(&ws, &principal, body)?;
    if state.store.latest_flow(&ws, &new.path).await?.is_some() {
        return Err(ApiError::Conflict(format!(
            "a flow exists at {} already; change it with POST /api/w/{ws}/flows/update/{}",
            new.path, new.path
        )));
    }
    state.store.insert_flow(&new, None).await?;
    state.caches.forget_flow(&ws, &new.path);
    Ok((StatusCode::CREATED, new.path.to_string()))
}

async fn update(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
    JsonBody(body): JsonBody<SaveFlow>,
) -> ApiResult<String> {
    let (ws, old, _) = flow_at(&state, &principal, &ws, &path, Action::Write).await?;
    let new = prepare(&ws, &principal, body)?;
    if new.path != old {
        // A rename writes at the new path too.
        authz::check(&state, &principal, &ws, Action::Create, Resource::Item(ItemKind::Flow, &new.path)).await?;
    }
    state.store.insert_flow(&new, Some(&old)).await?;
    state.caches.forget_flow(&ws, &old);
    state.caches.forget_flow(&ws, &new.path);
    Ok(new.path.to_string())
}

async fn get_by_path(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let (ws, p, flow) = flow_at(&state, &principal, &ws, &path, Action::Read).await?;
    let perms = state.store.item_perms(&ws, ItemKind::Flow.as_str(), p.as_str()).await?;
    Ok(Json(view(&flow, &perms)))
}

async fn get_version(
    State(state): State<AppState>,
    PathParams((ws, version)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ws = WorkspaceId::parse(&ws)?;
    let v = FlowVersion::parse(&version)?;
    principal.role_in(&state, &ws).await?;
    let missing = || ApiError::NotFound(format!("no flow version {v} in workspace '{ws}'"));
    let flow = state.store.flow_by_version(&ws, v).await?.ok_or_else(missing)?;
    // An unreadable version is as missing as an absent one: the path is not revealed.
    authz::check(&state, &principal, &ws, Action::Read, Resource::Item(ItemKind::Flow, &flow.path))
        .await
        .map_err(|e| if matches!(e, ApiError::NotFound(_)) { missing() } else { e })?;
    let perms = state.store.item_perms(&ws, ItemKind::Flow.as_str(), flow.path.as_str()).await?;
    Ok(Json(view(&flow, &perms)))
}

async fn exists(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<bool>> {
    match flow_at(&state, &principal, &ws, &path, Action::Read).await {
        Ok(_) => Ok(Json(true)),
        // Neither a missing nor an unreadable flow exists for the caller.
        Err(ApiError::NotFound(m)) if m.starts_with("flow ") => Ok(Json(false)),
        Err(e) => Err(e),
    }
}

#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    show_archived: bool,
}

async fn list(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let ws = WorkspaceId::parse(&ws)?;
    let mut grant = authz::check(&state, &principal, &ws, Action::Read, Resource::Items(ItemKind::Flow)).await?;
    let mut shown = Vec::new();
    for flow in state.store.list_flows(&ws, q.show_archived).await? {
        if grant.perm(&state, ItemKind::Flow, &flow.path).await? >= Perm::Read {
            shown.push(view(&flow, &Default::default()));
        }
    }
    Ok(Json(shown))
}

async fn history(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Vec<Value>>> {
    let (ws, p, _) = flow_at(&state, &principal, &ws, &path, Action::Read).await?;
    let versions = state.store.flow_history(&ws, &p).await?;
    let shown = versions
        .iter()
        .map(|f| {
            json!({
                "id": f.version,
                "version_id": f.version,
                "created_at": orvanta_core::millis_to_rfc3339(f.created_at),
                "created_by": f.created_by,
                "summary": f.summary,
                "deployment_msg": null,
            })
        })
        .collect();
    Ok(Json(shown))
}

#[derive(Deserialize, Default)]
struct ArchiveBody {
    archived: Option<bool>,
}

async fn archive(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
    req: axum::extract::Request,
) -> ApiResult<Json<Value>> {
    let (ws, p, _) = flow_at(&state, &principal, &ws, &path, Action::Write).await?;
    let (body, _held) = super::extract::read_body(req, &state).await?;
    let body: ArchiveBody = if body.iter().all(u8::is_ascii_whitespace) {
        ArchiveBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("the body must be {{\"archived\"?: bool}}: {e}")))?
    };
    let archived = body.archived.unwrap_or(true);
    if !state.store.archive_flow(&ws, &p, archived).await? {
        return Err(not_found(&path, &ws));
    }
    state.caches.forget_flow(&ws, &p);
    Ok(Json(json!({"path": p, "archived": archived})))
}

async fn remove(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let (ws, p, _) = flow_at(&state, &principal, &ws, &path, Action::Write).await?;
    if !state.store.delete_flow(&ws, &p).await? {
        return Err(not_found(&path, &ws));
    }
    authz::forget_item(&state, &ws, ItemKind::Flow, &p).await?;
    state.caches.forget_flow(&ws, &p);
    Ok(Json(json!({"path": p, "deleted": true})))
}
