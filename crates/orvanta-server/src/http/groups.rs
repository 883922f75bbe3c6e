//! `/api/w/{ws}/groups/...`: groups of users, for folder and item
//! permissions, in Windmill's shapes. Members read them; admins change them.

use super::extract::PathParams;
use super::routes::Routes;
use super::JsonBody;
use crate::auth::Principal;
use crate::authz::{self, Action, Resource};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use orvanta_core::{Username, WorkspaceId};
use orvanta_store::Group;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Routes {
    Routes::new()
        .post("/groups/create", create)
        .get("/groups/list", list)
        .get("/groups/listnames", list_names)
        .get("/groups/get/{name}", get)
        .post("/groups/update/{name}", update)
        .delete("/groups/delete/{name}", remove)
        .post("/groups/adduser/{name}", add_user)
        .post("/groups/removeuser/{name}", remove_user)
}

/// A group name: `[a-z0-9_-]`, 1 to 50 characters.
pub fn check_name(kind: &str, name: &str) -> ApiResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 50
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "the {kind} name '{name}' is not valid; use 1 to 50 of a-z, 0-9, '_' and '-'"
        )))
    }
}

fn view(g: &Group) -> Value {
    json!({
        "name": g.name,
        "summary": g.summary,
        "members": g.members,
        "extra_perms": {},
        "created_by": g.created_by,
        "created_at": orvanta_core::millis_to_rfc3339(g.created_at),
    })
}

fn not_found(name: &str, ws: &WorkspaceId) -> ApiError {
    ApiError::NotFound(format!("no group '{name}' in workspace '{ws}'"))
}

async fn checked(state: &AppState, principal: &Principal, ws: &str, action: Action) -> ApiResult<WorkspaceId> {
    let ws = WorkspaceId::parse(ws)?;
    authz::check(state, principal, &ws, action, Resource::Groups).await?;
    Ok(ws)
}

#[derive(Deserialize)]
struct CreateGroup {
    name: String,
    #[serde(default)]
    summary: String,
}

async fn create(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<CreateGroup>,
) -> ApiResult<(StatusCode, String)> {
    let ws = checked(&state, &principal, &ws, Action::Admin).await?;
    check_name("group", &body.name)?;
    super::extract::plain_text("summary", &body.summary)?;
    let group = Group {
        workspace: ws,
        name: body.name,
        summary: body.summary,
        members: vec![],
        created_by: principal.username.clone(),
        created_at: orvanta_core::now_millis(),
    };
    state.store.create_group(&group).await?;
    Ok((StatusCode::CREATED, format!("Created group {}", group.name)))
}

async fn list(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
) -> ApiResult<Json<Vec<Value>>> {
    let ws = checked(&state, &principal, &ws, Action::Read).await?;
    Ok(Json(state.store.list_groups(&ws).await?.iter().map(view).collect()))
}

async fn list_names(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
) -> ApiResult<Json<Vec<String>>> {
    let ws = checked(&state, &principal, &ws, Action::Read).await?;
    Ok(Json(state.store.list_groups(&ws).await?.into_iter().map(|g| g.name).collect()))
}

async fn get(
    State(state): State<AppState>,
    PathParams((ws, name)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ws = checked(&state, &principal, &ws, Action::Read).await?;
    let group = state.store.get_group(&ws, &name).await?.ok_or_else(|| not_found(&name, &ws))?;
    Ok(Json(view(&group)))
}

#[derive(Deserialize)]
struct UpdateGroup {
    #[serde(default)]
    summary: String,
}

async fn update(
    State(state): State<AppState>,
    PathParams((ws, name)): PathParams<(String, String)>,
    principal: Principal,
    JsonBody(body): JsonBody<UpdateGroup>,
) -> ApiResult<String> {
    let ws = checked(&state, &principal, &ws, Action::Admin).await?;
    super::extract::plain_text("summary", &body.summary)?;
    if !state.store.update_group(&ws, &name, &body.summary).await? {
        return Err(not_found(&name, &ws));
    }
    Ok(format!("Updated group {name}"))
}

async fn remove(
    State(state): State<AppState>,
    PathParams((ws, name)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<String> {
    let ws = checked(&state, &principal, &ws, Action::Admin).await?;
    if !state.store.delete_group(&ws, &name).await? {
        return Err(not_found(&name, &ws));
    }
    // Every member's groups changed.
    state.caches.groups_of.retain(|(w, _)| w != &ws);
    Ok(format!("Deleted group {name}"))
}

#[derive(Deserialize)]
struct Member {
    username: Option<String>,
}

async fn set_member(
    state: &AppState,
    principal: &Principal,
    ws: &str,
    name: &str,
    body: Member,
    add: bool,
) -> ApiResult<(WorkspaceId, Username)> {
    let ws = checked(state, principal, ws, Action::Admin).await?;
    let username = body
        .username
        .ok_or_else(|| ApiError::BadRequest("username is missing: send {\"username\": \"alice\"}".into()))?;
    let username = Username::parse(&username)?;
    if add && state.store.get_role(&ws, &username).await?.is_none() {
        return Err(ApiError::BadRequest(format!(
            "the user '{username}' is not a member of the workspace '{ws}'; add them with workspaces/add_user first"
        )));
    }
    if !state.store.set_group_member(&ws, name, &username, add).await? {
        return Err(match state.store.get_group(&ws, name).await? {
            None => not_found(name, &ws),
            Some(_) => ApiError::NotFound(format!("the user '{username}' is not in the group '{name}'")),
        });
    }
    state.caches.groups_of.forget(&(ws.clone(), username.clone()));
    Ok((ws, username))
}

async fn add_user(
    State(state): State<AppState>,
    PathParams((ws, name)): PathParams<(String, String)>,
    principal: Principal,
    JsonBody(body): JsonBody<Member>,
) -> ApiResult<String> {
    let (_, username) = set_member(&state, &principal, &ws, &name, body, true).await?;
    Ok(format!("Added {username} to group {name}"))
}

async fn remove_user(
    State(state): State<AppState>,
    PathParams((ws, name)): PathParams<(String, String)>,
    principal: Principal,
    JsonBody(body): JsonBody<Member>,
) -> ApiResult<String> {
    let (_, username) = set_member(&state, &principal, &ws, &name, body, false).await?;
    Ok(format!("Removed {username} from group {name}"))
}
