//! `/api/w/{ws}/scripts/...`: create versions, read, list, archive, delete.

use super::extract::PathParams;
use super::routes::Routes;
use super::{views, JsonBody};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use orvanta_core::{Language, NewScript, RunnablePath, ScriptHash, ScriptSettings, WorkspaceId};
use orvanta_store::Role;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

pub fn router() -> Routes {
    Routes::new()
        .post("/scripts/create", create)
        .get("/scripts/get/p/{*path}", get_by_path)
        .get("/scripts/get/h/{hash}", get_by_hash)
        .get("/scripts/list", list)
        .get("/scripts/history/p/{*path}", history)
        .post("/scripts/archive/p/{*path}", archive)
        .delete("/scripts/delete/p/{*path}", remove)
}

/// The body of `scripts/create`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateScript {
    path: String,
    content: String,
    language: String,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    description: String,
    schema: Option<Value>,
    #[serde(default)]
    delete_after_use: bool,
    timeout_s: Option<u64>,
    tag: Option<String>,
    error_status_code: Option<u16>,
    concurrency_limit: Option<u32>,
    /// `false`: each job in a process of its own (no warm process).
    warm: Option<bool>,
    memory_bytes: Option<u64>,
    max_processes: Option<u64>,
    file_size_bytes: Option<u64>,
    parent_hash: Option<String>,
    /// Accepted for compatibility with Windmill clients; ignored.
    #[serde(default)]
    #[allow(dead_code)]
    is_template: Option<bool>,
    #[serde(default)]
    #[allow(dead_code)]
    kind: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<CreateScript>,
) -> ApiResult<(StatusCode, String)> {
    let ws = WorkspaceId::parse(&ws)?;
    let role = principal.role_in(&state, &ws).await?;
    principal.require(&crate::auth::Scope::needed("scripts", "write", None, Some(&body.path)))?;
    let new = prepare(&ws, &principal, role, body)?;
    state.store.insert_script(&new).await?;
    state.caches.forget_path(&ws, &new.path);
    Ok((StatusCode::CREATED, new.hash.to_string()))
}

/// Checks a create request and turns it into a new version.
fn prepare(ws: &WorkspaceId, principal: &Principal, role: Role, body: CreateScript) -> ApiResult<NewScript> {
    let path = RunnablePath::parse(&body.path)?;
    crate::auth::may_write_path(principal, role, &path)?;
    let language = Language::parse(&body.language)?;
    for (field, text) in [("content", &body.content), ("summary", &body.summary), ("description", &body.description)] {
        super::extract::plain_text(field, text)?;
    }
    let signature =
        orvanta_exec::parse_main(language, &body.content).map_err(|e| ApiError::Unprocessable(e.to_string()))?;
    let schema = match body.schema {
        Some(s) if s.is_object() => s,
        Some(_) => return Err(ApiError::BadRequest("schema must be a JSON object (a JSON Schema)".into())),
        None => signature.to_json_schema(),
    };
    if let Some(t) = body.timeout_s {
        if !(1..=MAX_TIMEOUT_S).contains(&t) {
            return Err(ApiError::BadRequest(format!(
                "timeout_s {t} is out of range; use 1 to {MAX_TIMEOUT_S} seconds (7 days)"
            )));
        }
    }
    if let Some(code) = body.error_status_code {
        if !(100..=599).contains(&code) {
            return Err(ApiError::BadRequest(format!(
                "error_status_code {code} is not an HTTP status code; use a number from 100 to 599"
            )));
        }
    }
    if body.concurrency_limit == Some(0) {
        return Err(ApiError::BadRequest(
            "concurrency_limit 0 would never run a job; use at least 1, or leave it out for no limit".into(),
        ));
    }
    for (field, value, least) in [
        ("memory_bytes", body.memory_bytes, 32 << 20),
        ("max_processes", body.max_processes, 8),
        ("file_size_bytes", body.file_size_bytes, 1 << 20),
    ] {
        if value.is_some_and(|v| v < least) {
            return Err(ApiError::BadRequest(format!(
                "{field} must be at least {least}, or left out for the instance's default"
            )));
        }
    }
    let parent_hash = body.parent_hash.as_deref().map(ScriptHash::parse).transpose()?;
    let created_at = orvanta_core::now_millis();
    let hash = version_hash(ws, &path, language, &body.content, created_at);
    Ok(NewScript {
        workspace: ws.clone(),
        path,
        hash,
        parent_hash,
        language,
        content: body.content,
        summary: body.summary,
        description: body.description,
        schema,
        settings: ScriptSettings {
            delete_after_use: body.delete_after_use,
            timeout_s: body.timeout_s,
            tag: body.tag,
            error_status_code: body.error_status_code,
            concurrency_limit: body.concurrency_limit,
            warm: body.warm,
            memory_bytes: body.memory_bytes,
            max_processes: body.max_processes,
            file_size_bytes: body.file_size_bytes,
        },
        created_by: principal.username.clone(),
        created_at,
    })
}

/// The longest timeout a script may set: 7 days.
const MAX_TIMEOUT_S: u64 = 7 * 24 * 3600;

/// A version's hash: its content and place, plus randomness so that saving
/// the same code twice still makes two versions.
fn version_hash(ws: &WorkspaceId, path: &RunnablePath, lang: Language, content: &str, at: i64) -> ScriptHash {
    let mut h = Sha256::new();
    for part in [ws.as_str(), path.as_str(), lang.as_str(), content] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    h.update(at.to_le_bytes());
    h.update(rand::random::<[u8; 16]>());
    let d = h.finalize();
    ScriptHash::from_u64(u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]]))
}

/// The workspace, after checking the caller is a member of it.
async fn member(state: &AppState, principal: &Principal, ws: &str) -> ApiResult<WorkspaceId> {
    let ws = WorkspaceId::parse(ws)?;
    principal.role_in(state, &ws).await?;
    Ok(ws)
}

/// 403 unless the token may read the script at `path` (checked after the 404s).
fn may_read(principal: &Principal, path: &RunnablePath) -> ApiResult<()> {
    principal.require(&crate::auth::Scope::needed("scripts", "read", None, Some(path.as_str())))
}

fn not_found(path: &str) -> ApiError {
    ApiError::NotFound(format!("script not found at path '{path}'"))
}

async fn get_by_path(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ws = member(&state, &principal, &ws).await?;
    let p = RunnablePath::parse(&path)?;
    let script = state.store.latest_script(&ws, &p).await?.ok_or_else(|| not_found(&path))?;
    may_read(&principal, &p)?;
    Ok(Json(views::script(&script)))
}

async fn get_by_hash(
    State(state): State<AppState>,
    PathParams((ws, hash)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ws = member(&state, &principal, &ws).await?;
    let h = ScriptHash::parse(&hash)?;
    let script = state
        .store
        .script_by_hash(&ws, h)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no script version with hash '{hash}'")))?;
    may_read(&principal, &script.path)?;
    Ok(Json(views::script(&script)))
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
    super::extract::QueryParams(q): super::extract::QueryParams<ListQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let ws = member(&state, &principal, &ws).await?;
    principal.require(&crate::auth::Scope::needed("scripts", "read", None, None))?;
    let scripts = state.store.list_scripts(&ws, q.show_archived).await?;
    Ok(Json(scripts.iter().map(views::script_summary).collect()))
}

async fn history(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Vec<Value>>> {
    let ws = member(&state, &principal, &ws).await?;
    let p = RunnablePath::parse(&path)?;
    let versions = state.store.script_history(&ws, &p).await?;
    if versions.is_empty() {
        return Err(not_found(&path));
    }
    may_read(&principal, &p)?;
    Ok(Json(versions.iter().map(views::script_summary).collect()))
}

/// A path the caller may change: 404 when it has no script, then 403 for
/// scopes, role and the owner of `u/{user}/`.
async fn writable(
    state: &AppState,
    principal: &Principal,
    ws: &str,
    path: &str,
) -> ApiResult<(WorkspaceId, RunnablePath)> {
    let ws = WorkspaceId::parse(ws)?;
    let role = principal.role_in(state, &ws).await?;
    let p = RunnablePath::parse(path)?;
    if state.store.latest_script(&ws, &p).await?.is_none() {
        return Err(not_found(path));
    }
    principal.require(&crate::auth::Scope::needed("scripts", "write", None, Some(path)))?;
    crate::auth::may_write_path(principal, role, &p)?;
    Ok((ws, p))
}

async fn archive(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let (ws, p) = writable(&state, &principal, &ws, &path).await?;
    state.caches.forget_path(&ws, &p);
    if !state.store.archive_script(&ws, &p).await? {
        return Err(not_found(&path));
    }
    Ok(Json(serde_json::json!({"path": p, "archived": true})))
}

async fn remove(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let (ws, p) = writable(&state, &principal, &ws, &path).await?;
    state.caches.forget_path(&ws, &p);
    if !state.store.delete_script(&ws, &p).await? {
        return Err(not_found(&path));
    }
    Ok(Json(serde_json::json!({"path": p, "deleted": true})))
}
