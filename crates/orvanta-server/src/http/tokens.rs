//! `/api/users/tokens/...`: create, list and delete the caller's tokens.

use super::extract::PathParams;
use super::routes::Routes;
use super::JsonBody;
use crate::auth::{generate_token, hash_token, token_prefix, Principal, Scope};
use crate::authz::{Action, Instance};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use orvanta_core::{millis_to_rfc3339, WorkspaceId};
use orvanta_store::NewToken;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Routes {
    Routes::new()
        .post("/api/users/tokens/create", create)
        .get("/api/users/tokens/list", list)
        .delete("/api/users/tokens/delete/{prefix}", remove)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateToken {
    #[serde(default)]
    label: String,
    /// RFC 3339.
    expiration: Option<String>,
    scopes: Option<Vec<String>>,
    workspace_id: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    principal: Principal,
    JsonBody(body): JsonBody<CreateToken>,
) -> ApiResult<(StatusCode, String)> {
    may_manage_tokens(&principal, "write")?;
    super::extract::plain_text("label", &body.label)?;
    let now = orvanta_core::now_millis();
    let expires_at = match &body.expiration {
        Some(e) => {
            let t = chrono::DateTime::parse_from_rfc3339(e)
                .map_err(|_| {
                    ApiError::BadRequest(format!("expiration '{e}' is not an RFC 3339 time, e.g. 2027-01-31T12:00:00Z"))
                })?
                .timestamp_millis();
            if t <= now {
                return Err(ApiError::BadRequest(format!("expiration '{e}' is in the past")));
            }
            Some(t)
        }
        None => None,
    };
    // A token cannot outlive the token that made it.
    let expires_at = match (expires_at, principal.expires_at) {
        (Some(mine), Some(parent)) => Some(mine.min(parent)),
        (None, parent) => parent,
        (mine, None) => mine,
    };
    let scopes = match body.scopes {
        Some(list) => {
            for s in &list {
                Scope::parse(s)?;
            }
            // A token can only narrow its creator's rights.
            if let Some(mine) = &principal.scopes {
                for s in &list {
                    let wanted = Scope::parse(s)?;
                    if !mine.iter().any(|g| g.allows(&wanted)) {
                        return Err(ApiError::Forbidden(format!(
                            "your token cannot grant the scope '{s}' it does not have"
                        )));
                    }
                }
            }
            Some(list)
        }
        None => principal.scopes.as_ref().map(|s| s.iter().map(|x| x.to_string()).collect()),
    };
    let workspace = body.workspace_id.as_deref().map(WorkspaceId::parse).transpose()?;
    if let Some(ws) = &workspace {
        principal.role_in(&state, ws).await?;
    }
    let workspace = workspace.or_else(|| principal.workspace.clone());
    let secret = generate_token();
    state
        .store
        .create_token(&NewToken {
            hash: hash_token(&secret),
            prefix: token_prefix(&secret),
            owner: principal.username.clone(),
            label: body.label,
            created_at: now,
            expires_at,
            scopes,
            workspace,
            session: false,
        })
        .await?;
    Ok((StatusCode::CREATED, secret))
}

fn may_manage_tokens(principal: &Principal, action: &str) -> ApiResult<()> {
    let action = if action == "read" { Action::Read } else { Action::Write };
    crate::authz::check_instance(principal, action, Instance::OwnTokens)
}

/// `tokens/list`: the caller's tokens (never a secret; login sessions are
/// not listed). `?runnable_kind=script|flow&runnable_path=...` lists the
/// webhook-specific tokens of one runnable: those whose only scope runs it.
#[derive(Deserialize)]
struct ListQuery {
    runnable_kind: Option<String>,
    runnable_path: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    principal: Principal,
    super::extract::QueryParams(q): super::extract::QueryParams<ListQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    may_manage_tokens(&principal, "read")?;
    let runnable =
        match (&q.runnable_kind, &q.runnable_path) {
            (None, None) => None,
            (Some(kind), Some(path)) => {
                let kind = crate::authz::ItemKind::parse(kind)?;
                if !matches!(kind, crate::authz::ItemKind::Script | crate::authz::ItemKind::Flow) {
                    return Err(ApiError::BadRequest("runnable_kind is script or flow".into()));
                }
                let path = orvanta_core::RunnablePath::parse(path)?;
                Some(format!("jobs:run:{}:{path}", kind.plural()))
            }
            _ => return Err(ApiError::BadRequest(
                "runnable_kind and runnable_path go together, e.g. ?runnable_kind=script&runnable_path=u/admin/hello"
                    .into(),
            )),
        };
    let tokens = state.store.list_tokens(&principal.username).await?;
    let shown = tokens
        .iter()
        .filter(|t| !t.session)
        .filter(|t| runnable.as_ref().is_none_or(|r| t.scopes.as_deref() == Some(std::slice::from_ref(r))))
        .map(|t| {
            json!({
                "token_prefix": t.prefix,
                "label": t.label,
                "created_at": millis_to_rfc3339(t.created_at),
                "expiration": t.expires_at.map(millis_to_rfc3339),
                "last_used_at": t.last_used_at.map(millis_to_rfc3339),
                "scopes": t.scopes,
                "workspace_id": t.workspace,
            })
        })
        .collect();
    Ok(Json(shown))
}

async fn remove(
    State(state): State<AppState>,
    PathParams(prefix): PathParams<String>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    may_manage_tokens(&principal, "write")?;
    let tokens = state.store.list_tokens(&principal.username).await?;
    let Some(t) = tokens.iter().find(|t| t.prefix == prefix) else {
        return Err(ApiError::NotFound(format!("you have no token with the prefix '{prefix}'")));
    };
    state.store.delete_token(&principal.username, &prefix).await?;
    state.tokens.forget(&t.hash);
    Ok(Json(json!({"deleted": prefix})))
}
