//! Invitations, in Windmill's shapes: a workspace admin invites an email
//! (`workspaces/invite_user`), whose user, once it exists, accepts or
//! declines (`users/accept_invite`, `users/decline_invite`). An invited email
//! need not be a user yet: a super admin may create it later.

use super::extract::PathParams;
use super::routes::Routes;
use super::users::{check_email, role_of};
use super::JsonBody;
use crate::auth::Principal;
use crate::authz::{self, Action, Instance, Resource};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use orvanta_core::{Role, WorkspaceId};
use orvanta_store::Invite;
use serde::Deserialize;
use serde_json::{json, Value};

/// Routes under `/api/w/{ws}`.
pub fn workspace_router() -> Routes {
    Routes::new()
        .post("/workspaces/invite_user", invite)
        .get("/workspaces/list_pending_invites", list_pending)
        .post("/workspaces/delete_invite", withdraw)
}

pub fn router() -> Routes {
    Routes::new()
        .get("/api/users/list_invites", list_mine)
        .post("/api/users/accept_invite", accept)
        .post("/api/users/decline_invite", decline)
}

fn view(i: &Invite) -> Value {
    json!({
        "workspace_id": i.workspace,
        "email": i.email,
        "is_admin": i.role == Role::Admin,
        "operator": i.role == Role::Operator,
        "role": i.role,
        "invited_by": i.invited_by,
        "created_at": orvanta_core::millis_to_rfc3339(i.created_at),
    })
}

#[derive(Deserialize)]
struct InviteBody {
    email: String,
    #[serde(default)]
    is_admin: bool,
    #[serde(default)]
    operator: bool,
    role: Option<String>,
}

async fn admin_of(state: &AppState, principal: &Principal, ws: &str) -> ApiResult<WorkspaceId> {
    let ws = WorkspaceId::parse(ws)?;
    authz::check(state, principal, &ws, Action::Admin, Resource::Members).await?;
    Ok(ws)
}

async fn invite(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<InviteBody>,
) -> ApiResult<(StatusCode, String)> {
    let ws = admin_of(&state, &principal, &ws).await?;
    let email = check_email(&body.email)?;
    if let Some(user) = state.store.user_by_email(&email).await? {
        if state.store.get_role(&ws, &user.username).await?.is_some() {
            return Err(ApiError::Conflict(format!("'{email}' is a member of '{ws}' already")));
        }
    }
    let role = role_of(body.role.as_deref(), Some(body.is_admin), Some(body.operator))?.unwrap_or(Role::Developer);
    let invite = Invite {
        workspace: ws.clone(),
        email: email.clone(),
        role,
        invited_by: principal.username.clone(),
        created_at: orvanta_core::now_millis(),
    };
    state.store.put_invite(&invite).await?;
    Ok((StatusCode::CREATED, format!("invited {email} to {ws} as {}", role.as_str())))
}

async fn list_pending(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
) -> ApiResult<Json<Vec<Value>>> {
    let ws = admin_of(&state, &principal, &ws).await?;
    Ok(Json(state.store.list_invites(Some(&ws), None).await?.iter().map(view).collect()))
}

#[derive(Deserialize)]
struct Withdraw {
    email: String,
}

async fn withdraw(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<Withdraw>,
) -> ApiResult<String> {
    let ws = admin_of(&state, &principal, &ws).await?;
    let email = check_email(&body.email)?;
    if !state.store.delete_invite(&ws, &email).await? {
        return Err(ApiError::NotFound(format!("'{email}' has no pending invitation to '{ws}'")));
    }
    Ok(format!("invitation of {email} to {ws} withdrawn"))
}

/// The caller's email, for the routes of their own invitations.
async fn my_email(state: &AppState, principal: &Principal, action: Action) -> ApiResult<String> {
    authz::check_instance(principal, action, Instance::OwnAccount)?;
    let user = state.store.get_user(&principal.username).await?;
    let user = user.ok_or_else(|| ApiError::Unauthorized("the token's owner no longer exists".into()))?;
    Ok(user.email.to_lowercase())
}

async fn list_mine(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Vec<Value>>> {
    let email = my_email(&state, &principal, Action::Read).await?;
    Ok(Json(state.store.list_invites(None, Some(&email)).await?.iter().map(view).collect()))
}

#[derive(Deserialize)]
struct Answer {
    workspace_id: String,
}

fn no_invite(ws: &WorkspaceId) -> ApiError {
    ApiError::NotFound(format!("you have no invitation to the workspace '{ws}'"))
}

async fn accept(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<Answer>,
) -> ApiResult<String> {
    let email = my_email(&state, &principal, Action::Write).await?;
    let ws = WorkspaceId::parse(&body.workspace_id)?;
    let role = state.store.accept_invite(&ws, &email, &principal.username).await?.ok_or_else(|| no_invite(&ws))?;
    state.caches.roles.forget(&(ws.clone(), principal.username.clone()));
    Ok(format!("you joined {ws} as {}", role.as_str()))
}

async fn decline(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<Answer>,
) -> ApiResult<String> {
    let email = my_email(&state, &principal, Action::Write).await?;
    let ws = WorkspaceId::parse(&body.workspace_id)?;
    if !state.store.delete_invite(&ws, &email).await? {
        return Err(no_invite(&ws));
    }
    Ok(format!("invitation to {ws} declined"))
}
