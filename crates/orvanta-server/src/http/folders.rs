//! `/api/w/{ws}/folders/...` and `/api/w/{ws}/acls/...`, in Windmill's
//! shapes: folders `f/{name}` with owners, writers and readers, and the
//! per-item sharing (`extra_perms`) of scripts and flows.
//!
//! Developers and admins make folders (the maker owns a folder made without
//! owners); a folder's owners and workspace admins change or delete it.

use super::extract::PathParams;
use super::routes::Routes;
use super::JsonBody;
use crate::auth::Principal;
use crate::authz::{self, Action, ItemKind, Resource};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use orvanta_core::{Grantee, RunnablePath, WorkspaceId};
use orvanta_store::Folder;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn router() -> Routes {
    Routes::new()
        .post("/folders/create", create)
        .get("/folders/list", list)
        .get("/folders/listnames", list_names)
        .get("/folders/get/{name}", get)
        .get("/folders/exists/{name}", exists)
        .post("/folders/update/{name}", update)
        .delete("/folders/delete/{name}", remove)
        .post("/folders/addowner/{name}", add_owner)
        .post("/folders/removeowner/{name}", remove_owner)
        .get("/acls/get/{kind}/{*path}", acl_get)
        .post("/acls/add/{kind}/{*path}", acl_add)
        .post("/acls/remove/{kind}/{*path}", acl_remove)
}

fn view(f: &Folder) -> Value {
    json!({
        "name": f.name,
        "summary": f.summary,
        "owners": f.owners,
        "extra_perms": f.extra_perms,
        "created_by": f.created_by,
        "created_at": orvanta_core::millis_to_rfc3339(f.created_at),
        "edited_at": orvanta_core::millis_to_rfc3339(f.created_at),
    })
}

/// 400 unless every entry is `u/{user}` or `g/{group}`.
fn check_grantees<'a>(field: &str, entries: impl IntoIterator<Item = &'a String>) -> ApiResult<()> {
    for e in entries {
        Grantee::parse(e).map_err(|err| ApiError::BadRequest(format!("{field}: {err}")))?;
    }
    Ok(())
}

fn not_found(name: &str, ws: &WorkspaceId) -> ApiError {
    ApiError::NotFound(format!("no folder '{name}' in workspace '{ws}'"))
}

/// The folder `name` of `ws`, after the check of `action` on it.
async fn folder_for(
    state: &AppState,
    principal: &Principal,
    ws: &str,
    name: &str,
    action: Action,
) -> ApiResult<(WorkspaceId, Folder)> {
    let ws = WorkspaceId::parse(ws)?;
    authz::check(state, principal, &ws, Action::Read, Resource::Folders).await?;
    let folder = state.store.get_folder(&ws, name).await?.ok_or_else(|| not_found(name, &ws))?;
    authz::check(state, principal, &ws, action, Resource::Folder(&folder)).await?;
    Ok((ws, folder))
}

#[derive(Deserialize)]
struct CreateFolder {
    name: String,
    #[serde(default)]
    summary: String,
    owners: Option<Vec<String>>,
    #[serde(default)]
    extra_perms: BTreeMap<String, bool>,
}

async fn create(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<CreateFolder>,
) -> ApiResult<(StatusCode, String)> {
    let ws = WorkspaceId::parse(&ws)?;
    authz::check(&state, &principal, &ws, Action::Create, Resource::Folders).await?;
    super::groups::check_name("folder", &body.name)?;
    super::extract::plain_text("summary", &body.summary)?;
    let owners = body.owners.unwrap_or_else(|| vec![format!("u/{}", principal.username)]);
    check_grantees("owners", &owners)?;
    check_grantees("extra_perms", body.extra_perms.keys())?;
    let folder = Folder {
        workspace: ws.clone(),
        name: body.name,
        summary: body.summary,
        owners,
        extra_perms: body.extra_perms,
        created_by: principal.username.clone(),
        created_at: orvanta_core::now_millis(),
    };
    state.store.create_folder(&folder).await?;
    state.caches.folders.forget(&(ws, folder.name.clone()));
    Ok((StatusCode::CREATED, format!("Created folder {}", folder.name)))
}

async fn list(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
) -> ApiResult<Json<Vec<Value>>> {
    let ws = WorkspaceId::parse(&ws)?;
    authz::check(&state, &principal, &ws, Action::Read, Resource::Folders).await?;
    Ok(Json(state.store.list_folders(&ws).await?.iter().map(view).collect()))
}

async fn list_names(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
) -> ApiResult<Json<Vec<String>>> {
    let ws = WorkspaceId::parse(&ws)?;
    authz::check(&state, &principal, &ws, Action::Read, Resource::Folders).await?;
    Ok(Json(state.store.list_folders(&ws).await?.into_iter().map(|f| f.name).collect()))
}

async fn get(
    State(state): State<AppState>,
    PathParams((ws, name)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let (_, folder) = folder_for(&state, &principal, &ws, &name, Action::Read).await?;
    Ok(Json(view(&folder)))
}

async fn exists(
    State(state): State<AppState>,
    PathParams((ws, name)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<bool>> {
    let ws = WorkspaceId::parse(&ws)?;
    authz::check(&state, &principal, &ws, Action::Read, Resource::Folders).await?;
    Ok(Json(state.store.get_folder(&ws, &name).await?.is_some()))
}

#[derive(Deserialize)]
struct UpdateFolder {
    summary: Option<String>,
    owners: Option<Vec<String>>,
    extra_perms: Option<BTreeMap<String, bool>>,
}

/// Saves a changed folder and forgets what was cached of it.
async fn save(state: &AppState, folder: &Folder) -> ApiResult<()> {
    if !state.store.update_folder(folder).await? {
        return Err(not_found(&folder.name, &folder.workspace));
    }
    state.caches.folders.forget(&(folder.workspace.clone(), folder.name.clone()));
    Ok(())
}

async fn update(
    State(state): State<AppState>,
    PathParams((ws, name)): PathParams<(String, String)>,
    principal: Principal,
    JsonBody(body): JsonBody<UpdateFolder>,
) -> ApiResult<String> {
    let (_, mut folder) = folder_for(&state, &principal, &ws, &name, Action::Write).await?;
    if let Some(summary) = body.summary {
        super::extract::plain_text("summary", &summary)?;
        folder.summary = summary;
    }
    if let Some(owners) = body.owners {
        check_grantees("owners", &owners)?;
        folder.owners = owners;
    }
    if let Some(perms) = body.extra_perms {
        check_grantees("extra_perms", perms.keys())?;
        folder.extra_perms = perms;
    }
    save(&state, &folder).await?;
    Ok(format!("Updated folder {name}"))
}

async fn remove(
    State(state): State<AppState>,
    PathParams((ws, name)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<String> {
    let (ws, folder) = folder_for(&state, &principal, &ws, &name, Action::Write).await?;
    let prefix = format!("f/{}/", folder.name);
    let scripts =
        state.store.list_scripts(&ws, true).await?.into_iter().filter(|s| s.path.as_str().starts_with(&prefix));
    let flows = state.store.list_flows(&ws, true).await?.into_iter().filter(|f| f.path.as_str().starts_with(&prefix));
    let held = scripts.count() + flows.count();
    if held > 0 {
        return Err(ApiError::Conflict(format!(
            "the folder '{name}' still holds {held} script(s) or flow(s); delete or move them first"
        )));
    }
    state.store.delete_folder(&ws, &name).await?;
    state.caches.folders.forget(&(ws, name.clone()));
    Ok(format!("Deleted folder {name}"))
}

#[derive(Deserialize)]
struct Owner {
    owner: String,
    #[serde(default)]
    write: Option<bool>,
}

async fn add_owner(
    State(state): State<AppState>,
    PathParams((ws, name)): PathParams<(String, String)>,
    principal: Principal,
    JsonBody(body): JsonBody<Owner>,
) -> ApiResult<String> {
    let (_, mut folder) = folder_for(&state, &principal, &ws, &name, Action::Write).await?;
    check_grantees("owner", [&body.owner])?;
    if !folder.owners.contains(&body.owner) {
        folder.owners.push(body.owner.clone());
    }
    save(&state, &folder).await?;
    Ok(format!("Added {} to the owners of folder {name}", body.owner))
}

/// Windmill's `removeowner`: the owner stays a writer (`write: true`) or a reader.
async fn remove_owner(
    State(state): State<AppState>,
    PathParams((ws, name)): PathParams<(String, String)>,
    principal: Principal,
    JsonBody(body): JsonBody<Owner>,
) -> ApiResult<String> {
    let (_, mut folder) = folder_for(&state, &principal, &ws, &name, Action::Write).await?;
    check_grantees("owner", [&body.owner])?;
    folder.owners.retain(|o| o != &body.owner);
    folder.extra_perms.insert(body.owner.clone(), body.write.unwrap_or(false));
    save(&state, &folder).await?;
    Ok(format!("Removed {} from the owners of folder {name}", body.owner))
}

/// The item of an ACL route after the check of `action` on it: 404 when it
/// does not exist or the caller may not read it.
async fn acl_item(
    state: &AppState,
    principal: &Principal,
    ws: &str,
    kind: &str,
    path: &str,
    action: Action,
) -> ApiResult<(WorkspaceId, ItemKind, RunnablePath, BTreeMap<String, bool>)> {
    let ws = WorkspaceId::parse(ws)?;
    let kind = ItemKind::parse(kind)?;
    let p = RunnablePath::parse(path)?;
    principal.role_in(state, &ws).await?;
    let exists = match kind {
        ItemKind::Script => state.store.latest_script(&ws, &p).await?.is_some(),
        ItemKind::Flow => state.store.latest_flow(&ws, &p).await?.is_some(),
        ItemKind::Variable => state.store.get_variable(&ws, &p).await?.is_some(),
        ItemKind::Resource => state.store.get_resource(&ws, &p).await?.is_some(),
        ItemKind::App => state.store.get_app(&ws, &p, None).await?.is_some(),
        ItemKind::HttpTrigger => state.store.get_http_trigger(&ws, &p).await?.is_some(),
    };
    if !exists {
        return Err(authz::not_found(kind, path, &ws));
    }
    authz::check(state, principal, &ws, action, Resource::Item(kind, &p)).await?;
    let perms = state.store.item_perms(&ws, kind.as_str(), p.as_str()).await?;
    Ok((ws, kind, p, perms))
}

async fn acl_get(
    State(state): State<AppState>,
    PathParams((ws, kind, path)): PathParams<(String, String, String)>,
    principal: Principal,
) -> ApiResult<Json<BTreeMap<String, bool>>> {
    let (_, _, _, perms) = acl_item(&state, &principal, &ws, &kind, &path, Action::Read).await?;
    Ok(Json(perms))
}

async fn acl_set(
    state: &AppState,
    principal: &Principal,
    (ws, kind, path): (String, String, String),
    owner: &str,
    write: Option<bool>,
) -> ApiResult<()> {
    let (ws, kind, p, mut perms) = acl_item(state, principal, &ws, &kind, &path, Action::Write).await?;
    check_grantees("owner", [&owner.to_owned()])?;
    match write {
        Some(w) => perms.insert(owner.to_owned(), w),
        None => perms.remove(owner),
    };
    state.store.set_item_perms(&ws, kind.as_str(), p.as_str(), &perms).await?;
    state.caches.item_perms.forget(&(ws, kind, p));
    Ok(())
}

async fn acl_add(
    State(state): State<AppState>,
    PathParams(params): PathParams<(String, String, String)>,
    principal: Principal,
    JsonBody(body): JsonBody<Owner>,
) -> ApiResult<String> {
    acl_set(&state, &principal, params, &body.owner, Some(body.write.unwrap_or(false))).await?;
    Ok(format!("Added {} to the permissions", body.owner))
}

async fn acl_remove(
    State(state): State<AppState>,
    PathParams(params): PathParams<(String, String, String)>,
    principal: Principal,
    JsonBody(body): JsonBody<Owner>,
) -> ApiResult<String> {
    acl_set(&state, &principal, params, &body.owner, None).await?;
    Ok(format!("Removed {} from the permissions", body.owner))
}
