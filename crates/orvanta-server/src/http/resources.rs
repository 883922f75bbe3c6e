//! `/api/w/{ws}/resources/...` and `/resources/type/...`, in Windmill's
//! shapes. A resource's value follows its type's JSON Schema (types are
//! looked up in the workspace, then in `admins`, where instance-wide types
//! live), and may refer to variables (`$var:{path}`) and other resources
//! (`$res:{path}`), resolved with the reader's rights by `get_value_interpolated`.

use super::extract::{PathParams, QueryParams};
use super::routes::Routes;
use super::variables::{clear_value, exists_answer, item_at};
use super::JsonBody;
use crate::auth::Principal;
use crate::authz::{self, Action, ItemKind, Resource as On};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use orvanta_core::{millis_to_rfc3339, RunnablePath, WorkspaceId};
use orvanta_store::{Resource, ResourceType};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn router() -> Routes {
    Routes::new()
        .post("/resources/create", create)
        .get("/resources/get/{*path}", get)
        .get("/resources/get_value/{*path}", get_value)
        .get("/resources/get_value_interpolated/{*path}", get_interpolated)
        .get("/resources/exists/{*path}", exists)
        .get("/resources/list", list)
        .post("/resources/update/{*path}", update)
        .post("/resources/update_value/{*path}", update_value)
        .add("/resources/delete/{*path}", &[Method::DELETE, Method::POST], remove)
        .post("/resources/type/create", type_create)
        .get("/resources/type/get/{name}", type_get)
        .get("/resources/type/exists/{name}", type_exists)
        .get("/resources/type/list", type_list)
        .get("/resources/type/listnames", type_names)
        .post("/resources/type/update/{name}", type_update)
        .delete("/resources/type/delete/{name}", type_delete)
}

/// Where instance-wide resource types live.
const SHARED_TYPES: &str = "admins";

fn view(r: &Resource, perms: &BTreeMap<String, bool>) -> Value {
    json!({
        "workspace_id": r.workspace,
        "path": r.path,
        "resource_type": r.resource_type,
        "value": r.value,
        "description": r.description,
        "extra_perms": perms,
        "is_oauth": false,
        "is_linked": false,
        "is_refreshed": false,
        "is_draft": false,
        "created_by": r.created_by,
        "created_at": millis_to_rfc3339(r.created_at),
        "updated_at": millis_to_rfc3339(r.updated_at),
    })
}

/// The type `name` of `ws` (or an instance-wide one); 400 when there is none.
async fn type_of(state: &AppState, ws: &WorkspaceId, name: &str) -> ApiResult<ResourceType> {
    if let Some(t) = state.store.get_resource_type(ws, name).await? {
        return Ok(t);
    }
    let shared = WorkspaceId::parse(SHARED_TYPES)?;
    state.store.get_resource_type(&shared, name).await?.ok_or_else(|| {
        ApiError::BadRequest(format!(
            "resource_type '{name}' does not exist; create it with POST /api/w/{ws}/resources/type/create"
        ))
    })
}

/// 400 unless `value` follows the schema of `resource_type`.
async fn check_value(state: &AppState, ws: &WorkspaceId, resource_type: &str, value: &Value) -> ApiResult<()> {
    let t = type_of(state, ws, resource_type).await?;
    orvanta_core::json_schema::check(&t.schema, value)
        .map_err(|why| ApiError::BadRequest(format!("value does not fit the resource type '{resource_type}': {why}")))
}

#[derive(Deserialize)]
struct CreateResource {
    path: String,
    value: Value,
    resource_type: String,
    #[serde(default)]
    description: String,
}

async fn create(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<CreateResource>,
) -> ApiResult<(StatusCode, String)> {
    let ws = WorkspaceId::parse(&ws)?;
    let path = RunnablePath::parse(&body.path)?;
    authz::check(&state, &principal, &ws, Action::Create, On::Item(ItemKind::Resource, &path)).await?;
    super::extract::plain_text("description", &body.description)?;
    check_value(&state, &ws, &body.resource_type, &body.value).await?;
    let now = orvanta_core::now_millis();
    let r = Resource {
        workspace: ws,
        path: path.clone(),
        resource_type: body.resource_type,
        value: body.value,
        description: body.description,
        created_by: principal.username.clone(),
        created_at: now,
        updated_at: now,
    };
    state.store.create_resource(&r).await?;
    Ok((StatusCode::CREATED, path.to_string()))
}

async fn load(
    state: &AppState,
    principal: &Principal,
    ws: &str,
    path: &str,
    action: Action,
) -> ApiResult<(WorkspaceId, Resource)> {
    let ws = WorkspaceId::parse(ws)?;
    let p = RunnablePath::parse(path)?;
    let r = item_at(state, principal, &ws, ItemKind::Resource, &p, action, state.store.get_resource(&ws, &p)).await?;
    Ok((ws, r))
}

async fn get(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let (ws, r) = load(&state, &principal, &ws, &path, Action::Read).await?;
    let perms = state.store.item_perms(&ws, ItemKind::Resource.as_str(), r.path.as_str()).await?;
    Ok(Json(view(&r, &perms)))
}

async fn get_value(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    Ok(Json(load(&state, &principal, &ws, &path, Action::Read).await?.1.value))
}

/// The value with every `$var:{path}` and `$res:{path}` string replaced by
/// what it names, read with the caller's rights (a reference the caller may
/// not read is a 404 naming it). References nest at most 8 deep.
async fn get_interpolated(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let (ws, r) = load(&state, &principal, &ws, &path, Action::Read).await?;
    Ok(Json(interpolate(&state, &principal, &ws, r.value, 0).await?))
}

/// The value of the resource at `path`, interpolated, read with `principal`'s rights.
pub(crate) async fn interpolated_value(
    state: &AppState,
    principal: &Principal,
    ws: &WorkspaceId,
    path: &RunnablePath,
) -> ApiResult<Value> {
    let r = item_at(state, principal, ws, ItemKind::Resource, path, Action::Read, state.store.get_resource(ws, path))
        .await?;
    interpolate(state, principal, ws, r.value, 0).await
}

fn interpolate<'a>(
    state: &'a AppState,
    principal: &'a Principal,
    ws: &'a WorkspaceId,
    value: Value,
    depth: usize,
) -> futures::future::BoxFuture<'a, ApiResult<Value>> {
    Box::pin(async move {
        if depth > 8 {
            return Err(ApiError::BadRequest("resources refer to each other more than 8 deep (a cycle?)".into()));
        }
        Ok(match value {
            Value::String(s) if s.starts_with("$var:") => {
                let p = RunnablePath::parse(&s["$var:".len()..])?;
                let load = state.store.get_variable(ws, &p);
                let v = item_at(state, principal, ws, ItemKind::Variable, &p, Action::Read, load).await?;
                Value::String(clear_value(state, &v)?)
            }
            Value::String(s) if s.starts_with("$res:") => {
                let p = RunnablePath::parse(&s["$res:".len()..])?;
                let load = state.store.get_resource(ws, &p);
                let r = item_at(state, principal, ws, ItemKind::Resource, &p, Action::Read, load).await?;
                interpolate(state, principal, ws, r.value, depth + 1).await?
            }
            Value::Object(map) => {
                let mut out = serde_json::Map::new();
                for (k, v) in map {
                    out.insert(k, interpolate(state, principal, ws, v, depth).await?);
                }
                Value::Object(out)
            }
            Value::Array(list) => {
                let mut out = Vec::with_capacity(list.len());
                for v in list {
                    out.push(interpolate(state, principal, ws, v, depth).await?);
                }
                Value::Array(out)
            }
            other => other,
        })
    })
}

async fn exists(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<bool>> {
    exists_answer(load(&state, &principal, &ws, &path, Action::Read).await, ItemKind::Resource)
}

#[derive(Deserialize)]
struct ListQuery {
    /// Comma-separated types.
    resource_type: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let ws = WorkspaceId::parse(&ws)?;
    let mut grant = authz::check(&state, &principal, &ws, Action::Read, On::Items(ItemKind::Resource)).await?;
    let types: Option<Vec<&str>> = q.resource_type.as_deref().map(|t| t.split(',').map(str::trim).collect());
    let mut shown = Vec::new();
    for r in state.store.list_resources(&ws).await? {
        if types.as_ref().is_some_and(|t| !t.contains(&r.resource_type.as_str())) {
            continue;
        }
        if grant.perm(&state, ItemKind::Resource, &r.path).await? >= orvanta_core::Perm::Read {
            shown.push(view(&r, &BTreeMap::new()));
        }
    }
    Ok(Json(shown))
}

#[derive(Deserialize)]
struct UpdateResource {
    path: Option<String>,
    value: Option<Value>,
    description: Option<String>,
    resource_type: Option<String>,
}

async fn save(
    state: &AppState,
    principal: &Principal,
    ws: &str,
    path: &str,
    body: UpdateResource,
) -> ApiResult<String> {
    let (ws, old) = load(state, principal, ws, path, Action::Write).await?;
    let new_path = match &body.path {
        Some(p) if p != old.path.as_str() => {
            let p = RunnablePath::parse(p)?;
            authz::check(state, principal, &ws, Action::Create, On::Item(ItemKind::Resource, &p)).await?;
            p
        }
        _ => old.path.clone(),
    };
    if let Some(d) = &body.description {
        super::extract::plain_text("description", d)?;
    }
    let r = Resource {
        path: new_path.clone(),
        resource_type: body.resource_type.unwrap_or(old.resource_type.clone()),
        value: body.value.unwrap_or(old.value.clone()),
        description: body.description.unwrap_or(old.description.clone()),
        updated_at: orvanta_core::now_millis(),
        ..old.clone()
    };
    check_value(state, &ws, &r.resource_type, &r.value).await?;
    if !state.store.update_resource(&old.path, &r).await? {
        return Err(authz::not_found(ItemKind::Resource, old.path.as_str(), &ws));
    }
    Ok(new_path.to_string())
}

async fn update(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
    JsonBody(body): JsonBody<UpdateResource>,
) -> ApiResult<String> {
    save(&state, &principal, &ws, &path, body).await
}

#[derive(Deserialize)]
struct UpdateValue {
    value: Value,
}

async fn update_value(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
    JsonBody(body): JsonBody<UpdateValue>,
) -> ApiResult<String> {
    let body = UpdateResource { path: None, value: Some(body.value), description: None, resource_type: None };
    save(&state, &principal, &ws, &path, body).await
}

async fn remove(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<String> {
    let (ws, r) = load(&state, &principal, &ws, &path, Action::Write).await?;
    state.store.delete_resource(&ws, &r.path).await?;
    authz::forget_item(&state, &ws, ItemKind::Resource, &r.path).await?;
    Ok(format!("resource {} deleted", r.path))
}

fn type_view(t: &ResourceType) -> Value {
    json!({
        "workspace_id": t.workspace,
        "name": t.name,
        "schema": t.schema,
        "description": t.description,
        "created_by": t.created_by,
        "created_at": millis_to_rfc3339(t.created_at),
    })
}

async fn types_of(state: &AppState, principal: &Principal, ws: &str, action: Action) -> ApiResult<WorkspaceId> {
    let ws = WorkspaceId::parse(ws)?;
    authz::check(state, principal, &ws, action, On::ResourceTypes).await?;
    Ok(ws)
}

#[derive(Deserialize)]
struct CreateType {
    name: String,
    schema: Option<Value>,
    #[serde(default)]
    description: String,
}

/// A schema must be a JSON object (a JSON Schema).
fn check_schema(schema: &Value) -> ApiResult<()> {
    if schema.is_object() {
        Ok(())
    } else {
        Err(ApiError::BadRequest("schema must be a JSON object (a JSON Schema)".into()))
    }
}

async fn type_create(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<CreateType>,
) -> ApiResult<(StatusCode, String)> {
    let ws = types_of(&state, &principal, &ws, Action::Create).await?;
    super::groups::check_name("resource type", &body.name)?;
    super::extract::plain_text("description", &body.description)?;
    let schema = body.schema.unwrap_or_else(|| json!({"type": "object"}));
    check_schema(&schema)?;
    let t = ResourceType {
        workspace: ws,
        name: body.name.clone(),
        schema,
        description: body.description,
        created_by: principal.username.clone(),
        created_at: orvanta_core::now_millis(),
    };
    state.store.create_resource_type(&t).await?;
    Ok((StatusCode::CREATED, body.name))
}

async fn type_get(
    State(state): State<AppState>,
    PathParams((ws, name)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ws = types_of(&state, &principal, &ws, Action::Read).await?;
    let t = state.store.get_resource_type(&ws, &name).await?.ok_or_else(|| no_type(&name, &ws))?;
    Ok(Json(type_view(&t)))
}

fn no_type(name: &str, ws: &WorkspaceId) -> ApiError {
    ApiError::NotFound(format!("no resource type '{name}' in workspace '{ws}'"))
}

async fn type_exists(
    State(state): State<AppState>,
    PathParams((ws, name)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<bool>> {
    let ws = types_of(&state, &principal, &ws, Action::Read).await?;
    Ok(Json(state.store.get_resource_type(&ws, &name).await?.is_some()))
}

async fn type_list(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
) -> ApiResult<Json<Vec<Value>>> {
    let ws = types_of(&state, &principal, &ws, Action::Read).await?;
    Ok(Json(state.store.list_resource_types(&ws).await?.iter().map(type_view).collect()))
}

async fn type_names(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
) -> ApiResult<Json<Vec<String>>> {
    let ws = types_of(&state, &principal, &ws, Action::Read).await?;
    Ok(Json(state.store.list_resource_types(&ws).await?.into_iter().map(|t| t.name).collect()))
}

#[derive(Deserialize)]
struct UpdateType {
    schema: Option<Value>,
    description: Option<String>,
}

async fn type_update(
    State(state): State<AppState>,
    PathParams((ws, name)): PathParams<(String, String)>,
    principal: Principal,
    JsonBody(body): JsonBody<UpdateType>,
) -> ApiResult<String> {
    let ws = types_of(&state, &principal, &ws, Action::Write).await?;
    let mut t = state.store.get_resource_type(&ws, &name).await?.ok_or_else(|| no_type(&name, &ws))?;
    if let Some(schema) = body.schema {
        check_schema(&schema)?;
        t.schema = schema;
    }
    if let Some(d) = body.description {
        super::extract::plain_text("description", &d)?;
        t.description = d;
    }
    state.store.update_resource_type(&t).await?;
    Ok(format!("resource type {name} updated"))
}

async fn type_delete(
    State(state): State<AppState>,
    PathParams((ws, name)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<String> {
    let ws = types_of(&state, &principal, &ws, Action::Write).await?;
    let used = state.store.list_resources(&ws).await?.iter().filter(|r| r.resource_type == name).count();
    if used > 0 {
        return Err(ApiError::Conflict(format!(
            "{used} resource(s) of workspace '{ws}' are of type '{name}'; delete them first"
        )));
    }
    if !state.store.delete_resource_type(&ws, &name).await? {
        return Err(no_type(&name, &ws));
    }
    Ok(format!("resource type {name} deleted"))
}
