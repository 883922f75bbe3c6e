//! `/api/w/{ws}/openapi/generate` and `/openapi/download`, in Windmill's
//! shapes: the OpenAPI 3.1 document of the webhooks (and custom routes) the
//! body's filters select, among what the caller may read. `generate` answers
//! the document as text, `download` as a file; both in YAML unless the body
//! asks for `"openapi_spec_format": "json"` (Windmill's default).
//!
//! The document itself is built by [`crate::openapi`], from plain values.

use super::extract::PathParams;
use super::routes::Routes;
use super::JsonBody;
use crate::auth::Principal;
use crate::authz::{self, Action, ItemKind, Resource};
use crate::error::{ApiError, ApiResult};
use crate::openapi::{self, Format, RouteDoc, RunnableKind, WebhookDoc};
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use orvanta_core::{Perm, WorkspaceId};
use serde_json::Value;

pub fn router() -> Routes {
    Routes::new().post("/openapi/generate", generate).post("/openapi/download", download)
}

/// The document as text (`text/plain`, as Windmill answers: its clients take it as a string).
async fn generate(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let (text, _, _) = export(&state, &principal, &ws, &body).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

/// The document as a file to save: `openapi-{ws}.yaml` or `.json`.
async fn download(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<Value>,
) -> ApiResult<Response> {
    let (text, ws, format) = export(&state, &principal, &ws, &body).await?;
    let disposition = format!("attachment; filename=\"openapi-{ws}.{}\"", format.extension());
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        text,
    )
        .into_response())
}

async fn export(
    state: &AppState,
    principal: &Principal,
    ws: &str,
    body: &Value,
) -> ApiResult<(String, WorkspaceId, Format)> {
    let ws = WorkspaceId::parse(ws)?;
    let req = openapi::parse(body).map_err(ApiError::BadRequest)?;
    if !req.asks_for(RunnableKind::Script) && !req.asks_for(RunnableKind::Flow) {
        authz::check(state, principal, &ws, Action::Read, Resource::Workspace).await?;
    }
    let mut webhooks = Vec::new();
    if req.asks_for(RunnableKind::Script) {
        let mut grant = authz::check(state, principal, &ws, Action::Read, Resource::Items(ItemKind::Script)).await?;
        for s in state.store.list_scripts(&ws, false).await? {
            if req.wants_webhook(RunnableKind::Script, s.path.as_str())
                && grant.perm(state, ItemKind::Script, &s.path).await? >= Perm::Read
            {
                webhooks.push(WebhookDoc {
                    kind: RunnableKind::Script,
                    path: s.path.to_string(),
                    summary: s.summary,
                    description: s.description,
                    schema: s.schema,
                    error_status: s.settings.error_status_code,
                });
            }
        }
    }
    if req.asks_for(RunnableKind::Flow) {
        let mut grant = authz::check(state, principal, &ws, Action::Read, Resource::Items(ItemKind::Flow)).await?;
        for f in state.store.list_flows(&ws, false).await? {
            if req.wants_webhook(RunnableKind::Flow, f.path.as_str())
                && grant.perm(state, ItemKind::Flow, &f.path).await? >= Perm::Read
            {
                webhooks.push(WebhookDoc {
                    kind: RunnableKind::Flow,
                    path: f.path.to_string(),
                    summary: f.summary,
                    description: f.description,
                    schema: f.schema,
                    error_status: None,
                });
            }
        }
    }
    let mut routes: Vec<RouteDoc> = Vec::new();
    if !req.route_filters.is_empty() {
        let items = Resource::Items(ItemKind::HttpTrigger);
        let mut grant = authz::check(state, principal, &ws, Action::Read, items).await?;
        for t in state.store.list_http_triggers(Some(&ws)).await? {
            let Ok(s) = super::http_triggers::settings(&t) else { continue };
            if !req.wants_route(t.path.as_str(), &s.route_path)
                || grant.perm(state, ItemKind::HttpTrigger, &t.path).await? < Perm::Read
            {
                continue;
            }
            let target = orvanta_core::RunnablePath::parse(&s.script_path)?;
            let schema = if s.is_flow {
                state.store.latest_flow(&ws, &target).await?.map(|f| f.schema)
            } else {
                state.store.latest_script(&ws, &target).await?.map(|v| v.schema)
            };
            routes.push(RouteDoc {
                method: s.http_method,
                route_path: s.route_path,
                path: t.path.to_string(),
                summary: s.summary,
                description: s.description,
                schema,
                request_type: s.request_type,
                // Only token routes take the bearer token; the others check their own credentials.
                public: s.authentication_method != "windmill",
                workspaced: s.workspaced_route,
            });
        }
    }
    let doc = openapi::document(ws.as_str(), &req, Some(&state.cfg.base_url()), &webhooks, &routes).ok_or_else(|| {
        ApiError::NotFound(format!(
            "no script, flow or route of workspace '{ws}' that you may read matches the filters; widen them (\"*\" matches anything)"
        ))
    })?;
    let text = openapi::render(&doc, req.format).map_err(|e| ApiError::Internal(format!("rendering OpenAPI: {e}")))?;
    Ok((text, ws, req.format))
}
