//! `/api/w/{ws}/flows/...`: save flow versions (each save a new immutable
//! version with an instance-wide increasing number), read, list, history,
//! archive, delete — in Windmill's route and body shapes, so that its
//! clients work. A flow's `value` is checked before it is saved
//! (`orvanta_flow::validate`): a 400 names the module and the problem.

use super::extract::{PathParams, QueryParams};
use super::routes::Routes;
use super::JsonBody;
use crate::auth::{Principal, Scope};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use orvanta_core::{Flow, FlowVersion, NewFlow, RunnablePath, WorkspaceId};
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
fn view(f: &Flow) -> Value {
    json!({
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

fn not_found(path: &str) -> ApiError {
    ApiError::NotFound(format!("flow not found at path '{path}'"))
}

/// The workspace and the caller's role in it, after the write checks for `path`.
async fn writer(state: &AppState, principal: &Principal, ws: &str, path: &RunnablePath) -> ApiResult<WorkspaceId> {
    let ws = WorkspaceId::parse(ws)?;
    let role = principal.role_in(state, &ws).await?;
    principal.require(&Scope::needed("flows", "write", None, Some(path.as_str())))?;
    crate::auth::may_write_path(principal, role, path)?;
    Ok(ws)
}

async fn create(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<SaveFlow>,
) -> ApiResult<(StatusCode, String)> {
    let path = RunnablePath::parse(&body.path)?;
    let ws = writer(&state, &principal, &ws, &path).await?;
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
    let old = RunnablePath::parse(&path)?;
    let ws = writer(&state, &principal, &ws, &old).await?;
    if state.store.latest_flow(&ws, &old).await?.is_none() {
        return Err(not_found(&path));
    }
    let new = prepare(&ws, &principal, body)?;
    if new.path != old {
        // A rename writes at the new path too.
        let role = principal.role_in(&state, &ws).await?;
        principal.require(&Scope::needed("flows", "write", None, Some(new.path.as_str())))?;
        crate::auth::may_write_path(&principal, role, &new.path)?;
    }
    state.store.insert_flow(&new, Some(&old)).await?;
    state.caches.forget_flow(&ws, &old);
    state.caches.forget_flow(&ws, &new.path);
    Ok(new.path.to_string())
}

/// The workspace, after checking the caller is a member of it and may read `path`.
async fn reader(state: &AppState, principal: &Principal, ws: &str) -> ApiResult<WorkspaceId> {
    let ws = WorkspaceId::parse(ws)?;
    principal.role_in(state, &ws).await?;
    Ok(ws)
}

fn may_read(principal: &Principal, path: &RunnablePath) -> ApiResult<()> {
    principal.require(&Scope::needed("flows", "read", None, Some(path.as_str())))
}

async fn get_by_path(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ws = reader(&state, &principal, &ws).await?;
    let p = RunnablePath::parse(&path)?;
    let flow = state.store.latest_flow(&ws, &p).await?.ok_or_else(|| not_found(&path))?;
    may_read(&principal, &p)?;
    Ok(Json(view(&flow)))
}

async fn get_version(
    State(state): State<AppState>,
    PathParams((ws, version)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ws = reader(&state, &principal, &ws).await?;
    let v = FlowVersion::parse(&version)?;
    let flow = state
        .store
        .flow_by_version(&ws, v)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no flow version {v} in workspace '{ws}'")))?;
    may_read(&principal, &flow.path)?;
    Ok(Json(view(&flow)))
}

async fn exists(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<bool>> {
    let ws = reader(&state, &principal, &ws).await?;
    let p = RunnablePath::parse(&path)?;
    Ok(Json(state.store.latest_flow(&ws, &p).await?.is_some()))
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
    let ws = reader(&state, &principal, &ws).await?;
    principal.require(&Scope::needed("flows", "read", None, None))?;
    let flows = state.store.list_flows(&ws, q.show_archived).await?;
    Ok(Json(flows.iter().map(view).collect()))
}

async fn history(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Vec<Value>>> {
    let ws = reader(&state, &principal, &ws).await?;
    let p = RunnablePath::parse(&path)?;
    let versions = state.store.flow_history(&ws, &p).await?;
    if versions.is_empty() {
        return Err(not_found(&path));
    }
    may_read(&principal, &p)?;
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
    let p = RunnablePath::parse(&path)?;
    let ws = writer(&state, &principal, &ws, &p).await?;
    let (body, _held) = super::extract::read_body(req, &state).await?;
    let body: ArchiveBody = if body.iter().all(u8::is_ascii_whitespace) {
        ArchiveBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("the body must be {{\"archived\"?: bool}}: {e}")))?
    };
    let archived = body.archived.unwrap_or(true);
    if !state.store.archive_flow(&ws, &p, archived).await? {
        return Err(not_found(&path));
    }
    state.caches.forget_flow(&ws, &p);
    Ok(Json(json!({"path": p, "archived": archived})))
}

async fn remove(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let p = RunnablePath::parse(&path)?;
    let ws = writer(&state, &principal, &ws, &p).await?;
    if !state.store.delete_flow(&ws, &p).await? {
        return Err(not_found(&path));
    }
    state.caches.forget_flow(&ws, &p);
    Ok(Json(json!({"path": p, "deleted": true})))
}
