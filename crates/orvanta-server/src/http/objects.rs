//! `/api/w/{ws}/job_helpers/...`: read and write files of the workspace
//! object storage (uploads of run requests, files scripts share).
//!
//! Reads need membership of the workspace; writes need the developer or
//! admin role, or the token of a running job.

use super::body::Limit;
use super::extract::{PathParams, QueryParams};
use super::routes::Routes;
use crate::auth::Principal;
use crate::authz::{self, Action, Resource};
use crate::error::{ApiError, ApiResult};
use crate::objects::{self, Object};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use orvanta_core::WorkspaceId;
use serde::Deserialize;
use serde_json::{json, Value};

pub fn router() -> Routes {
    Routes::new().get("/job_helpers/download_s3_file", download).post("/job_helpers/upload_s3_file", upload)
}

#[derive(Deserialize)]
struct FileQuery {
    file_key: Option<String>,
}

async fn download(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    QueryParams(q): QueryParams<FileQuery>,
) -> ApiResult<Response> {
    let ws = WorkspaceId::parse(&ws)?;
    authz::check(&state, &principal, &ws, Action::Read, Resource::Files).await?;
    let key = q.file_key.ok_or_else(|| {
        ApiError::BadRequest(
            "file_key is missing: ask for ?file_key=<key>, the key of an {\"s3\": key} argument".into(),
        )
    })?;
    objects::check_key(&key)?;
    let Some(object) = state.objects.get(&ws, &key).await? else {
        return Err(ApiError::NotFound(format!("no file '{key}' in the object storage of workspace '{ws}'")));
    };
    let content_type = object
        .content_type
        .and_then(|ct| HeaderValue::from_str(&ct).ok())
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    // Served as a download, never rendered: an uploaded HTML file must not run
    // scripts on the API's origin (stored XSS through cookie auth).
    let headers = [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment")),
        (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox")),
    ];
    Ok((headers, object.bytes).into_response())
}

async fn upload(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    QueryParams(q): QueryParams<FileQuery>,
    req: Request,
) -> ApiResult<Json<Value>> {
    let ws = WorkspaceId::parse(&ws)?;
    authz::check(&state, &principal, &ws, Action::Create, Resource::Files).await?;
    let key = q.file_key.filter(|k| !k.is_empty()).unwrap_or_else(|| objects::upload_key("file"));
    // Checked before the body is read: a bad key stores nothing.
    objects::check_key(&key)?;
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    // Files take the upload limit, like multipart run requests.
    let limit = Limit { bytes: state.cfg.server.multipart_limit_bytes, setting: "ORVANTA_MULTIPART_LIMIT_BYTES" };
    let (parts, body) = req.into_parts();
    let (bytes, _held) = super::body::read(&state.bodies, &parts.headers, body, limit).await?;
    state.objects.put(&ws, &key, Object { bytes, content_type }).await?;
    Ok(Json(json!({ "file_key": key })))
}
