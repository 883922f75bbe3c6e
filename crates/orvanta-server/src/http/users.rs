//! Users and sessions, in Windmill's route shapes: `/api/users/...` (the
//! instance's users, managed by super admins; one's own password and
//! identity), `/api/auth/login|logout`, and per workspace
//! `/api/w/{ws}/users/...` (its members, managed by its admins).

use super::extract::PathParams;
use super::routes::Routes;
use super::JsonBody;
use crate::auth::{generate_token, hash_token, password, token_prefix, Principal};
use crate::authz::{self, Action, Instance, Resource};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use orvanta_core::{millis_to_rfc3339, Role, Username, WorkspaceId};
use orvanta_store::{NewToken, NewUser, User, UserUpdate};
use serde::Deserialize;
use serde_json::{json, Value};

/// How long a login session lasts.
pub const SESSION_DAYS: i64 = 7;

pub fn router() -> Routes {
    Routes::new()
        .post("/api/users/create", create)
        .get("/api/users/whoami", global_whoami)
        .post("/api/users/setpassword", set_password)
        .get("/api/users/list_as_super_admin", list_all)
        .post("/api/users/update/{email}", update_global)
        .delete("/api/users/delete/{email}", delete_global)
        .post("/api/auth/login", login)
        .post("/api/auth/logout", logout)
}

/// Routes under `/api/w/{ws}`.
pub fn workspace_router() -> Routes {
    Routes::new()
        .get("/users/whoami", whoami)
        .get("/users/list", list_members)
        .get("/users/get/{username}", get_member)
        .get("/users/listusernames", list_usernames)
        .post("/users/update/{username}", update_member)
        .delete("/users/delete/{username}", remove_member)
        .post("/workspaces/add_user", add_user)
        .post("/workspaces/change_workspace_name", rename_workspace)
}

/// Windmill's body of `users/create`; its other fields are accepted and ignored.
#[derive(Deserialize)]
struct CreateUser {
    email: String,
    password: Option<String>,
    #[serde(default)]
    super_admin: bool,
    name: Option<String>,
    /// Orvanta's addition: the username; by default made from the email.
    username: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<CreateUser>,
) -> ApiResult<(StatusCode, String)> {
    authz::check_instance(&principal, Action::Create, Instance::Users)?;
    let email = check_email(&body.email)?;
    let password = body.password.ok_or_else(|| {
        ApiError::BadRequest("password is missing: send {\"email\", \"password\", \"super_admin\"}".into())
    })?;
    password::check_strength(&password)?;
    if let Some(name) = &body.name {
        super::extract::plain_text("name", name)?;
    }
    let username = match &body.username {
        Some(u) => Username::parse(u)?,
        None => free_username(&state, &email).await?,
    };
    if state.store.user_by_email(&email).await?.is_some() {
        return Err(ApiError::Conflict(format!("a user with the email '{email}' exists already")));
    }
    let user = NewUser {
        username: username.clone(),
        email,
        name: body.name,
        password_hash: password::hash(password).await?,
        super_admin: body.super_admin,
        created_at: orvanta_core::now_millis(),
    };
    state.store.create_user(&user).await?;
    Ok((StatusCode::CREATED, username.to_string()))
}

/// A lowercased email with one `@` and no control characters.
pub(super) fn check_email(email: &str) -> ApiResult<String> {
    let e = email.trim().to_lowercase();
    let ok = e.len() <= 254
        && e.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
        && !e.chars().any(|c| c.is_control() || c.is_whitespace());
    if ok {
        Ok(e)
    } else {
        Err(ApiError::BadRequest(format!("'{email}' is not an email address; write name@example.com")))
    }
}

/// A username from the email's local part (`[a-z0-9_]`), numbered when taken.
async fn free_username(state: &AppState, email: &str) -> ApiResult<Username> {
    let local = email.split('@').next().unwrap_or_default();
    let mut base: String =
        local.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' }).take(40).collect();
    if base.is_empty() {
        base = "user".into();
    }
    for n in 0..100 {
        let candidate = if n == 0 { base.clone() } else { format!("{base}{n}") };
        let name = Username::parse(&candidate)?;
        if state.store.get_user(&name).await?.is_none() {
            return Ok(name);
        }
    }
    Err(ApiError::Conflict(format!("no free username starts with '{base}'; send a username")))
}

/// Windmill's `GlobalUserInfo`.
fn global_view(user: &User) -> Value {
    json!({
        "email": user.email,
        "username": user.username,
        "name": user.name,
        "super_admin": user.super_admin,
        "login_type": "password",
        "verified": true,
        "first_time_user": false,
        "role_source": "manual",
        "disabled": false,
        "created_at": millis_to_rfc3339(user.created_at),
    })
}

async fn me(state: &AppState, principal: &Principal) -> ApiResult<User> {
    state
        .store
        .get_user(&principal.username)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("the token's owner no longer exists".into()))
}

async fn global_whoami(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Value>> {
    Ok(Json(whoami_value(&state, &principal).await?))
}

/// What `GET /api/users/whoami` answers (the web UI's shell embeds it too).
pub(crate) async fn whoami_value(state: &AppState, principal: &Principal) -> ApiResult<Value> {
    authz::check_instance(principal, Action::Read, Instance::OwnAccount)?;
    Ok(global_view(&me(state, principal).await?))
}

#[derive(Deserialize)]
struct SetPassword {
    password: String,
}

async fn set_password(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<SetPassword>,
) -> ApiResult<String> {
    authz::check_instance(&principal, Action::Write, Instance::OwnAccount)?;
    password::check_strength(&body.password)?;
    let update = UserUpdate { password_hash: Some(password::hash(body.password).await?), ..Default::default() };
    state.store.update_user(&principal.username, &update).await?;
    Ok("password changed".into())
}

async fn list_all(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Vec<Value>>> {
    authz::check_instance(&principal, Action::Read, Instance::Users)?;
    if !principal.super_admin {
        return Err(ApiError::Forbidden("only super admins may list every user of the instance".into()));
    }
    Ok(Json(state.store.list_users().await?.iter().map(global_view).collect()))
}

/// The user with this email, for super admins (404 otherwise).
async fn user_by_email(state: &AppState, email: &str) -> ApiResult<User> {
    state
        .store
        .user_by_email(email)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no user has the email '{email}'")))
}

#[derive(Deserialize)]
struct UpdateGlobal {
    is_super_admin: Option<bool>,
    name: Option<String>,
}

async fn update_global(
    State(state): State<AppState>,
    PathParams(email): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<UpdateGlobal>,
) -> ApiResult<String> {
    authz::check_instance(&principal, Action::Write, Instance::Users)?;
    let user = user_by_email(&state, &email).await?;
    if body.is_super_admin == Some(false) && user.username == principal.username {
        return Err(ApiError::BadRequest("you cannot take away your own super admin rights; ask another".into()));
    }
    if let Some(name) = &body.name {
        super::extract::plain_text("name", name)?;
    }
    let update = UserUpdate { name: body.name, super_admin: body.is_super_admin, ..Default::default() };
    state.store.update_user(&user.username, &update).await?;
    state.caches.users.forget(&user.username);
    Ok(format!("user {} updated", user.username))
}

async fn delete_global(
    State(state): State<AppState>,
    PathParams(email): PathParams<String>,
    principal: Principal,
) -> ApiResult<String> {
    authz::check_instance(&principal, Action::Write, Instance::Users)?;
    let user = user_by_email(&state, &email).await?;
    if user.username == principal.username {
        return Err(ApiError::BadRequest("you cannot delete yourself; ask another super admin".into()));
    }
    state.store.delete_user(&user.username).await?;
    state.caches.forget_user(&user.username);
    Ok(format!("user {} deleted", user.username))
}

/// Windmill's `{email, password}`, or Orvanta's `{token}`: a token of one's
/// own without scopes (the admin token `orvanta up` printed), so that a
/// fresh instance can be logged into from the browser.
#[derive(Deserialize)]
struct Login {
    email: Option<String>,
    password: Option<String>,
    token: Option<String>,
}

/// `POST /api/auth/login`: a session token, as text and as the `token`
/// cookie (HttpOnly, SameSite=Strict). A wrong email or password is one 401
/// that does not say which; the password is never logged.
async fn login(
    State(state): State<AppState>,
    extensions: axum::http::Extensions,
    JsonBody(body): JsonBody<Login>,
) -> ApiResult<Response> {
    let client = crate::auth::throttle::client_of(&extensions);
    state.throttle.check(client)?;
    let now = orvanta_core::now_millis();
    let (owner, until) = match (body.email, body.password, body.token) {
        (Some(email), Some(pw), None) => {
            let user = state.store.user_by_email(email.trim()).await?;
            let phc = user.as_ref().map(|u| u.password_hash.clone()).unwrap_or_else(password::decoy);
            let ok = password::verify(pw, phc).await;
            let Some(user) = user.filter(|_| ok) else {
                state.throttle.failed(client);
                return Err(ApiError::Unauthorized("the email or the password is wrong".into()));
            };
            (user.username, None)
        }
        (None, None, Some(token)) => {
            let record = state.store.get_token(&hash_token(token.trim())).await?;
            let Some(t) = record.filter(|t| t.expires_at.is_none_or(|e| e > now)) else {
                state.throttle.failed(client);
                return Err(ApiError::Unauthorized("the token is not valid; create a new one".into()));
            };
            if t.session || t.scopes.is_some() || t.workspace.is_some() {
                return Err(ApiError::Forbidden(
                    "this token is a session, has scopes or is restricted to a workspace: only a token with all of \
                     its owner's rights opens a session; log in with your password or such a token"
                        .into(),
                ));
            }
            (t.owner, t.expires_at)
        }
        _ => {
            return Err(ApiError::BadRequest(
                "send {\"email\", \"password\"}, or {\"token\"} with a token of yours that has no scopes".into(),
            ))
        }
    };
    let expires_at = (now + SESSION_DAYS * 86_400_000).min(until.unwrap_or(i64::MAX));
    let secret = generate_token();
    state
        .store
        .create_token(&NewToken {
            hash: hash_token(&secret),
            prefix: token_prefix(&secret),
            owner,
            label: "session".into(),
            created_at: now,
            expires_at: Some(expires_at),
            scopes: None,
            workspace: None,
            session: true,
        })
        .await?;
    let max_age = ((expires_at - now) / 1000).max(1);
    let cookie = format!("token={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}");
    let cookie = HeaderValue::from_str(&cookie).map_err(|e| ApiError::Internal(format!("session cookie: {e}")))?;
    Ok(([(header::SET_COOKIE, cookie)], secret).into_response())
}

/// `POST /api/auth/logout`: ends the session of the request's token (a
/// user token made on purpose is left alone) and clears the cookie.
async fn logout(State(state): State<AppState>, principal: Principal) -> ApiResult<Response> {
    if let Some(prefix) = &principal.token_prefix {
        let tokens = state.store.list_tokens(&principal.username).await?;
        if let Some(t) = tokens.iter().find(|t| &t.prefix == prefix && t.session) {
            state.store.delete_token(&principal.username, prefix).await?;
            state.tokens.forget(&t.hash);
        }
    }
    let clear = HeaderValue::from_static("token=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    Ok(([(header::SET_COOKIE, clear)], "logged out").into_response())
}

/// Windmill's workspace `User`: the member's role and folders.
async fn member_view(state: &AppState, ws: &WorkspaceId, user: &User, role: Role) -> ApiResult<Value> {
    let groups = state.store.groups_of(ws, &user.username).await?;
    let me = user.username.as_str();
    let (mut owned, mut writable, mut readable) = (Vec::new(), Vec::new(), Vec::new());
    for f in state.store.list_folders(ws).await? {
        let covers = |who: &String| orvanta_core::Grantee::parse(who).is_ok_and(|g| g.covers(me, &groups));
        let perm = orvanta_core::acl_perm(f.extra_perms.iter(), me, &groups);
        if f.owners.iter().any(covers) {
            owned.push(f.name.clone());
            writable.push(f.name);
        } else if perm == orvanta_core::Perm::Write {
            writable.push(f.name);
        } else if perm == orvanta_core::Perm::Read {
            readable.push(f.name);
        }
    }
    Ok(json!({
        "email": user.email,
        "username": user.username,
        "name": user.name,
        "is_admin": role == Role::Admin,
        "is_super_admin": user.super_admin,
        "operator": role == Role::Operator,
        "role": role,
        "disabled": false,
        "created_at": millis_to_rfc3339(user.created_at),
        "groups": groups,
        "folders": writable,
        "folders_read": readable,
        "folders_owners": owned,
    }))
}

async fn whoami(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ws = WorkspaceId::parse(&ws)?;
    let grant = authz::check(&state, &principal, &ws, Action::Read, Resource::Workspace).await?;
    let user = me(&state, &principal).await?;
    Ok(Json(member_view(&state, &ws, &user, grant.role).await?))
}

async fn list_members(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
) -> ApiResult<Json<Vec<Value>>> {
    let ws = WorkspaceId::parse(&ws)?;
    authz::check(&state, &principal, &ws, Action::Read, Resource::Members).await?;
    let mut shown = Vec::new();
    for m in state.store.list_members(&ws).await? {
        let user = User {
            username: m.username,
            email: m.email,
            name: m.name,
            password_hash: String::new(),
            super_admin: m.super_admin,
            created_at: m.created_at,
        };
        shown.push(member_view(&state, &ws, &user, m.role).await?);
    }
    Ok(Json(shown))
}

async fn get_member(
    State(state): State<AppState>,
    PathParams((ws, username)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let ws = WorkspaceId::parse(&ws)?;
    authz::check(&state, &principal, &ws, Action::Read, Resource::Members).await?;
    let username = Username::parse(&username)?;
    let role = state.store.get_role(&ws, &username).await?.ok_or_else(|| not_member(&username, &ws))?;
    let user = state.store.get_user(&username).await?.ok_or_else(|| not_member(&username, &ws))?;
    Ok(Json(member_view(&state, &ws, &user, role).await?))
}

async fn list_usernames(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
) -> ApiResult<Json<Vec<String>>> {
    let ws = WorkspaceId::parse(&ws)?;
    authz::check(&state, &principal, &ws, Action::Read, Resource::Members).await?;
    Ok(Json(state.store.list_members(&ws).await?.into_iter().map(|m| m.username.to_string()).collect()))
}

/// Windmill's role fields: `role` (`admin`, `developer`, `operator`) or the
/// flags `is_admin` / `operator`.
pub(super) fn role_of(role: Option<&str>, is_admin: Option<bool>, operator: Option<bool>) -> ApiResult<Option<Role>> {
    if let Some(r) = role {
        return Role::parse(r)
            .map(Some)
            .ok_or_else(|| ApiError::BadRequest(format!("role '{r}' is not one of admin, developer, operator")));
    }
    Ok(match (is_admin, operator) {
        (Some(true), _) => Some(Role::Admin),
        (_, Some(true)) => Some(Role::Operator),
        (Some(false), _) | (_, Some(false)) => Some(Role::Developer),
        (None, None) => None,
    })
}

#[derive(Deserialize)]
struct AddUser {
    email: String,
    #[serde(default)]
    is_admin: bool,
    /// Ignored: usernames are instance-wide in Orvanta, chosen when the user is created.
    #[allow(dead_code)]
    username: Option<String>,
    #[serde(default)]
    operator: bool,
    role: Option<String>,
}

async fn add_user(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<AddUser>,
) -> ApiResult<(StatusCode, String)> {
    let ws = WorkspaceId::parse(&ws)?;
    authz::check(&state, &principal, &ws, Action::Admin, Resource::Members).await?;
    let user = state.store.user_by_email(body.email.trim()).await?.ok_or_else(|| {
        ApiError::NotFound(format!(
            "no user has the email '{}'; a super admin creates users with POST /api/users/create",
            body.email
        ))
    })?;
    let role = role_of(body.role.as_deref(), Some(body.is_admin), Some(body.operator))?.unwrap_or(Role::Developer);
    state.store.set_member(&ws, &user.username, role).await?;
    state.caches.roles.forget(&(ws.clone(), user.username.clone()));
    Ok((StatusCode::CREATED, format!("user {} added to {ws} as {}", user.username, role.as_str())))
}

#[derive(Deserialize)]
struct UpdateMember {
    is_admin: Option<bool>,
    operator: Option<bool>,
    role: Option<String>,
}

async fn update_member(
    State(state): State<AppState>,
    PathParams((ws, username)): PathParams<(String, String)>,
    principal: Principal,
    JsonBody(body): JsonBody<UpdateMember>,
) -> ApiResult<String> {
    let ws = WorkspaceId::parse(&ws)?;
    authz::check(&state, &principal, &ws, Action::Admin, Resource::Members).await?;
    let username = Username::parse(&username)?;
    if state.store.get_role(&ws, &username).await?.is_none() {
        return Err(not_member(&username, &ws));
    }
    let Some(role) = role_of(body.role.as_deref(), body.is_admin, body.operator)? else {
        return Err(ApiError::BadRequest(
            "nothing to change: send {\"role\": \"admin\" | \"developer\" | \"operator\"}".into(),
        ));
    };
    state.store.set_member(&ws, &username, role).await?;
    state.caches.roles.forget(&(ws.clone(), username.clone()));
    Ok(format!("user {username} is {} in {ws}", role.as_str()))
}

fn not_member(username: &Username, ws: &WorkspaceId) -> ApiError {
    ApiError::NotFound(format!("the user '{username}' is not a member of the workspace '{ws}'"))
}

async fn remove_member(
    State(state): State<AppState>,
    PathParams((ws, username)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<String> {
    let ws = WorkspaceId::parse(&ws)?;
    authz::check(&state, &principal, &ws, Action::Admin, Resource::Members).await?;
    let username = Username::parse(&username)?;
    if !state.store.remove_member(&ws, &username).await? {
        return Err(not_member(&username, &ws));
    }
    state.caches.roles.forget(&(ws.clone(), username.clone()));
    state.caches.groups_of.forget(&(ws.clone(), username.clone()));
    Ok(format!("user {username} removed from {ws}"))
}

#[derive(Deserialize)]
struct Rename {
    new_name: String,
}

/// Windmill's `workspaces/change_workspace_name`: admins rename; the id stays.
async fn rename_workspace(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<Rename>,
) -> ApiResult<String> {
    let ws = WorkspaceId::parse(&ws)?;
    authz::check(&state, &principal, &ws, Action::Admin, Resource::Workspace).await?;
    super::extract::plain_text("new_name", &body.new_name)?;
    if body.new_name.trim().is_empty() {
        return Err(ApiError::BadRequest("new_name is empty; give the workspace a name".into()));
    }
    state.store.rename_workspace(&ws, body.new_name.trim()).await?;
    Ok(format!("workspace {ws} renamed"))
}
