//! `/api/w/{ws}/scripts/...`: create versions, read, list, archive, delete.

use super::extract::PathParams;
use super::routes::Routes;
use super::{views, JsonBody};
use crate::auth::Principal;
use crate::authz::{self, Action, ItemKind, Resource};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::Json;
use orvanta_core::{Language, NewScript, Perm, RunnablePath, Script, ScriptHash, ScriptSettings, WorkspaceId};
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
        .add("/scripts/delete/p/{*path}", &[Method::POST, Method::DELETE], remove)
        .get("/scripts/exists/p/{*path}", exists)
        .get("/scripts/raw/p/{*path}", raw)
}

/// The body of `scripts/create`: Orvanta's fields, and Windmill's names for
/// them (`timeout`, `concurrent_limit`). Windmill's other fields are
/// accepted and ignored, so that its clients can save scripts unchanged.
#[derive(Debug, Deserialize)]
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
    #[serde(alias = "timeout")]
    timeout_s: Option<u64>,
    tag: Option<String>,
    error_status_code: Option<u16>,
    #[serde(alias = "concurrent_limit")]
    concurrency_limit: Option<u32>,
    /// `false`: each job in a process of its own (no warm process).
    warm: Option<bool>,
    memory_bytes: Option<u64>,
    max_processes: Option<u64>,
    file_size_bytes: Option<u64>,
    parent_hash: Option<String>,
    /// Kept for Windmill's clients, which read them back.
    is_template: Option<bool>,
    kind: Option<String>,
    deployment_message: Option<String>,
}

/// Windmill's kinds of script.
const KINDS: [&str; 6] = ["script", "failure", "trigger", "command", "approval", "preprocessor"];

async fn create(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<CreateScript>,
) -> ApiResult<(StatusCode, String)> {
    let ws = WorkspaceId::parse(&ws)?;
    let path = RunnablePath::parse(&body.path)?;
    authz::check(&state, &principal, &ws, Action::Create, Resource::Item(ItemKind::Script, &path)).await?;
    let new = prepare(&ws, &principal, path, body)?;
    state.store.insert_script(&new).await?;
    state.caches.forget_path(&ws, &new.path);
    Ok((StatusCode::CREATED, new.hash.to_string()))
}

/// Checks a create request and turns it into a new version.
fn prepare(ws: &WorkspaceId, principal: &Principal, path: RunnablePath, body: CreateScript) -> ApiResult<NewScript> {
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
    if let Some(kind) = body.kind.as_deref().filter(|k| !KINDS.contains(k)) {
        return Err(ApiError::BadRequest(format!("kind '{kind}' is not one of {}", KINDS.join(", "))));
    }
    if let Some(m) = &body.deployment_message {
        super::extract::plain_text("deployment_message", m)?;
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
            kind: body.kind.filter(|k| k != "script"),
            is_template: body.is_template.unwrap_or(false),
            deployment_message: body.deployment_message.filter(|m| !m.is_empty()),
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

/// The script at `path` if the caller may do `action` to it (404 when it
/// does not exist or the caller may not read it).
async fn script_at(
    state: &AppState,
    principal: &Principal,
    ws: &str,
    path: &str,
    action: Action,
) -> ApiResult<(WorkspaceId, RunnablePath, Script)> {
    let ws = WorkspaceId::parse(ws)?;
    let p = RunnablePath::parse(path)?;
    principal.role_in(state, &ws).await?;
    let script =
        state.store.latest_script(&ws, &p).await?.ok_or_else(|| authz::not_found(ItemKind::Script, path, &ws))?;
    authz::check(state, principal, &ws, action, Resource::Item(ItemKind::Script, &p)).await?;
    Ok((ws, p, script))
}

async fn get_by_path(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let (ws, p, script) = script_at(&state, &principal, &ws, &path, Action::Read).await?;
    let perms = state.store.item_perms(&ws, ItemKind::Script.as_str(), p.as_str()).await?;
    Ok(Json(views::script(&script, &perms)))
}

async fn get_by_hash(
    State(state): State<AppState>,
    PathParams((ws, hash)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ws = WorkspaceId::parse(&ws)?;
    let h = ScriptHash::parse(&hash)?;
    principal.role_in(&state, &ws).await?;
    let missing = || ApiError::NotFound(format!("no script version with hash '{hash}' in workspace '{ws}'"));
    let script = state.store.script_by_hash(&ws, h).await?.ok_or_else(missing)?;
    // An unreadable version is as missing as an absent one: the path is not revealed.
    authz::check(&state, &principal, &ws, Action::Read, Resource::Item(ItemKind::Script, &script.path))
        .await
        .map_err(|e| if matches!(e, ApiError::NotFound(_)) { missing() } else { e })?;
    let perms = state.store.item_perms(&ws, ItemKind::Script.as_str(), script.path.as_str()).await?;
    Ok(Json(views::script(&script, &perms)))
}

/// `scripts/list`'s query (Windmill's names).
#[derive(Deserialize)]
struct ListQuery {
    #[serde(default)]
    show_archived: bool,
    path_exact: Option<String>,
    path_start: Option<String>,
    created_by: Option<String>,
    /// Comma-separated Windmill kinds.
    kinds: Option<String>,
    page: Option<usize>,
    per_page: Option<usize>,
}

async fn list(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    super::extract::QueryParams(q): super::extract::QueryParams<ListQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let ws = WorkspaceId::parse(&ws)?;
    let mut grant = authz::check(&state, &principal, &ws, Action::Read, Resource::Items(ItemKind::Script)).await?;
    let kinds: Option<Vec<&str>> = q.kinds.as_deref().map(|k| k.split(',').map(str::trim).collect());
    let passes = |s: &Script| {
        q.path_exact.as_deref().is_none_or(|p| s.path.as_str() == p)
            && q.path_start.as_deref().is_none_or(|p| s.path.as_str().starts_with(p))
            && q.created_by.as_deref().is_none_or(|u| s.created_by.as_str() == u)
            && kinds.as_ref().is_none_or(|k| k.contains(&s.settings.kind.as_deref().unwrap_or("script")))
    };
    let per_page = q.per_page.filter(|&n| n > 0).unwrap_or(usize::MAX);
    let skip = q.page.unwrap_or(1).saturating_sub(1).saturating_mul(per_page);
    let mut shown = Vec::new();
    for script in state.store.list_scripts(&ws, q.show_archived).await?.into_iter().filter(passes) {
        if grant.perm(&state, ItemKind::Script, &script.path).await? >= Perm::Read {
            shown.push(views::script(&script, &Default::default()));
        }
    }
    Ok(Json(shown.into_iter().skip(skip).take(per_page).collect()))
}

async fn history(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Vec<Value>>> {
    let (ws, p, _) = script_at(&state, &principal, &ws, &path, Action::Read).await?;
    let versions = state.store.script_history(&ws, &p).await?;
    Ok(Json(versions.iter().map(views::script_version).collect()))
}

/// A path the caller may change: 404 when it has no script or the caller
/// may not read it, then 403 for role, folder or owner rule, and scopes.
async fn writable(
    state: &AppState,
    principal: &Principal,
    ws: &str,
    path: &str,
) -> ApiResult<(WorkspaceId, RunnablePath)> {
    let (ws, p, _) = script_at(state, principal, ws, path, Action::Write).await?;
    Ok((ws, p))
}

fn not_found(path: &str, ws: &WorkspaceId) -> ApiError {
    authz::not_found(ItemKind::Script, path, ws)
}

async fn archive(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let (ws, p) = writable(&state, &principal, &ws, &path).await?;
    state.caches.forget_path(&ws, &p);
    if !state.store.archive_script(&ws, &p).await? {
        return Err(not_found(&path, &ws));
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
        return Err(not_found(&path, &ws));
    }
    authz::forget_item(&state, &ws, ItemKind::Script, &p).await?;
    Ok(Json(serde_json::json!({"path": p, "deleted": true})))
}

/// `scripts/exists/p`: whether the caller sees a script at the path.
async fn exists(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<bool>> {
    match script_at(&state, &principal, &ws, &path, Action::Read).await {
        Ok((_, _, script)) => Ok(Json(!script.archived)),
        // Neither a missing nor an unreadable script exists for the caller.
        Err(ApiError::NotFound(m)) if m.starts_with("script ") => Ok(Json(false)),
        Err(e) => Err(e),
    }
}

/// `scripts/raw/p`: the newest version's code as text. A path may end in
/// the language's file extension, as Deno and Bun imports write it.
async fn raw(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<String> {
    let found = script_at(&state, &principal, &ws, &path, Action::Read).await;
    let bare = [".ts", ".py", ".sh"].iter().find_map(|ext| path.strip_suffix(ext));
    let (_, _, script) = match (found, bare) {
        (Err(ApiError::NotFound(_)), Some(bare)) => script_at(&state, &principal, &ws, bare, Action::Read).await?,
        (found, _) => found?,
    };
    Ok(script.content)
}
