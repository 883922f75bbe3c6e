//! Extractors whose rejections are the API's JSON errors, not axum's text.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;

/// A JSON body; invalid JSON is a 400 that says where, an oversized body a 413.
pub struct JsonBody<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let bytes = read_body(req, state).await?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| ApiError::BadRequest(format!("the request body is not valid JSON for this route: {e}")))
    }
}

/// Reads the whole body under the configured limit.
pub async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge(
                "the request body is over the size limit (ORVANTA_BODY_LIMIT_BYTES); nothing was stored".into(),
            )
        } else {
            ApiError::BadRequest(format!("the request body could not be read: {e}"))
        }
    })
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
