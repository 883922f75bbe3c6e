//! Extractors whose rejections are the API's JSON errors, not axum's text.

use super::body::{Held, Limit};
use crate::error::ApiError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// A JSON body; invalid JSON is a 400 that says where, an oversized body a 413.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        require_json(req.headers())?;
        let (bytes, _held) = read_body(req, state).await?;
        orvanta_core::json::parse_limited(&bytes, orvanta_core::json::MAX_DEPTH)
            .map(JsonBody)
            .map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON for this route: {e}")))
    }
}

/// 415 unless the request says its body is JSON (`application/json` or a
/// `+json` type). A form or `text/plain` body, which a browser sends across
/// sites without asking, never reaches a JSON route.
pub fn require_json(headers: &axum::http::HeaderMap) -> Result<(), ApiError> {
    let ct = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json")) {
        return Ok(());
    }
    let got = if ct.is_empty() { "no Content-Type".to_owned() } else { format!("Content-Type '{ct}'") };
    Err(ApiError::UnsupportedMediaType(format!(
        "this route takes a JSON body, and the request has {got}; send 'Content-Type: application/json'"
    )))
}

/// Reads the whole body under the general limit and the shared budget.
pub async fn read_body(req: Request, state: &AppState) -> Result<(Bytes, Held), ApiError> {
    let (parts, body) = req.into_parts();
    let limit = Limit { bytes: state.cfg.server.body_limit_bytes, setting: "ORVANTA_BODY_LIMIT_BYTES" };
    super::body::read(&state.bodies, &parts.headers, body, limit).await
}

/// Query parameters; a malformed query is a 400 that names the problem.
pub struct QueryParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> axum::extract::FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state).await.map(|q| QueryParams(q.0)).map_err(|e| {
            ApiError::BadRequest(format!("the query string is not valid for this route: {}", e.body_text()))
        })
    }
}

/// Path parameters; a segment that is not valid UTF-8 (or otherwise does not
/// fit) is a 400 in the API's JSON shape, not axum's text.
pub struct PathParams<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> axum::extract::FromRequestParts<S> for PathParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::path::ErrorKind;
        use axum::extract::rejection::PathRejection;
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(p) => Ok(PathParams(p.0)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(match e.kind() {
                ErrorKind::InvalidUtf8InPathParam { key } => ApiError::BadRequest(format!(
                    "the URL's '{key}' segment is not valid UTF-8 once percent-decoded; percent-encode UTF-8 text"
                )),
                _ => ApiError::BadRequest(format!("the URL path does not fit this route: {}", e.body_text())),
            }),
            Err(e) => Err(ApiError::BadRequest(format!("the URL path does not fit this route: {}", e.body_text()))),
        }
    }
}

/// 400 when a text field holds a NUL character: PostgreSQL cannot store one,
/// so neither backend takes it, and the answer names the field.
pub fn plain_text(field: &str, value: &str) -> Result<(), ApiError> {
    if value.contains('\0') {
        return Err(ApiError::BadRequest(format!(
            "{field} contains a NUL character (\\u0000), which cannot be stored; remove it"
        )));
    }
    Ok(())
}
