//! `/api/workspaces/...`: make workspaces (super admins; the maker is their
//! first admin) and list the caller's, in Windmill's shapes.

use super::routes::Routes;
use super::JsonBody;
use crate::auth::Principal;
use crate::authz::{self, Action, Instance};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use orvanta_core::{Role, WorkspaceId};
use orvanta_store::NewWorkspace;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Routes {
    Routes::new()
        .post("/api/workspaces/create", create)
        .get("/api/workspaces/list", list)
        .post("/api/workspaces/exists", exists)
        .get("/api/workspaces/users", user_workspaces)
}

#[derive(Deserialize)]
struct CreateWorkspace {
    id: String,
    name: String,
}

async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<CreateWorkspace>,
) -> ApiResult<(StatusCode, String)> {
    authz::check_instance(&principal, Action::Create, Instance::Workspaces)?;
    let id = WorkspaceId::parse(&body.id)?;
    super::extract::plain_text("name", &body.name)?;
    if body.name.trim().is_empty() {
        return Err(ApiError::BadRequest("name is empty; give the workspace a name".into()));
    }
    let ws = NewWorkspace {
        id: id.clone(),
        name: body.name,
        created_by: principal.username.clone(),
        created_at: orvanta_core::now_millis(),
    };
    state.store.create_workspace(&ws).await?;
    state.store.set_member(&id, &principal.username, Role::Admin).await?;
    state.caches.workspaces.forget(&id);
    state.caches.roles.forget(&(id.clone(), principal.username.clone()));
    Ok((StatusCode::CREATED, id.to_string()))
}

/// The workspaces the caller is a member of (a token restricted to one: that one).
async fn list(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Vec<Value>>> {
    Ok(Json(list_value(&state, &principal).await?))
}

/// What `GET /api/workspaces/list` answers (the web UI's shell embeds it too).
pub(crate) async fn list_value(state: &AppState, principal: &Principal) -> ApiResult<Vec<Value>> {
    authz::check_instance(principal, Action::Read, Instance::Workspaces)?;
    let mine = state.store.user_workspaces(&principal.username).await?;
    let shown = mine
        .into_iter()
        .filter(|(w, _)| principal.workspace.as_ref().is_none_or(|only| only == &w.id))
        .map(|(w, role)| json!({"id": w.id, "name": w.name, "owner": w.created_by, "role": role}))
        .collect();
    Ok(shown)
}

#[derive(Deserialize)]
struct Exists {
    id: String,
}

async fn exists(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<Exists>,
) -> ApiResult<Json<bool>> {
    authz::check_instance(&principal, Action::Read, Instance::Workspaces)?;
    let id = WorkspaceId::parse(&body.id)?;
    Ok(Json(state.store.get_workspace(&id).await?.is_some()))
}

/// Windmill's `UserWorkspaceList`: the caller's email and, per workspace,
/// its username, role and what the role may do.
async fn user_workspaces(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
    authz::check_instance(&principal, Action::Read, Instance::Workspaces)?;
    let email = state.store.get_user(&principal.username).await?.map(|u| u.email).unwrap_or_default();
    let mine = state.store.user_workspaces(&principal.username).await?;
    let workspaces: Vec<Value> = mine
        .into_iter()
        .filter(|(w, _)| principal.workspace.as_ref().is_none_or(|only| only == &w.id))
        .map(|(w, role)| {
            let writes = role != Role::Operator;
            let all = |on: bool| {
                json!({"runs": true, "schedules": on, "resources": on, "variables": on, "assets": on,
                       "triggers": on, "audit_logs": role == Role::Admin, "groups": true, "folders": true,
                       "workers": role == Role::Admin})
            };
            json!({
                "id": w.id, "name": w.name, "username": principal.username, "color": "",
                "is_dev_workspace": false, "disabled": false, "role": role, "created_by": w.created_by,
                "capabilities": {
                    "code": writes,
                    "flows": if writes { "full" } else { "none" },
                    "apps": if writes { "full" } else { "none" },
                    "manage_schedules": writes,
                    "manage_triggers": writes,
                    "visibility": all(writes),
                },
            })
        })
        .collect();
    Ok(Json(json!({"email": email, "workspaces": workspaces})))
}
