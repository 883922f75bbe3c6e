//! The API's one error type and its one mapping to HTTP.
//!
//! Every error answer is `{"error": {"code": "<kebab-case>", "message": "..."}}`.
//! 4xx messages say what was wrong and what to do; 5xx messages are generic
//! and the cause goes to the log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use orvanta_store::StoreError;

/// An error the API answers with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    /// What the request names existed once and is over (an expired resume URL).
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unprocessable(String),
    /// Slowed down; the number is the seconds of `Retry-After`.
    #[error("{0}")]
    TooManyRequests(String, u64),
    /// A dependency (database, object store) is down; the message names it.
    #[error("{0}")]
    Unavailable(String),
    /// A bug or an unexpected failure; the cause is logged, not shown.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        match self {
            Self::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad-request"),
            Self::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            Self::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            Self::NotFound(_) => (StatusCode::NOT_FOUND, "not-found"),
            Self::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method-not-allowed"),
            Self::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            Self::Gone(_) => (StatusCode::GONE, "gone"),
            Self::PayloadTooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large"),
            Self::UnsupportedMediaType(_) => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type"),
            Self::Unprocessable(_) => (StatusCode::UNPROCESSABLE_ENTITY, "unprocessable"),
            Self::TooManyRequests(..) => (StatusCode::TOO_MANY_REQUESTS, "too-many-requests"),
            Self::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            Self::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }

    pub fn status(&self) -> StatusCode {
        self.parts().0
    }
}

/// The JSON body of an error answer.
pub fn error_body(code: &str, message: &str) -> serde_json::Value {
    serde_json::json!({"error": {"code": code, "message": message}})
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let message = match &self {
            Self::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                "something went wrong on the server; the server log has the details".to_owned()
            }
            Self::Unavailable(cause) => {
                tracing::warn!(%cause, "dependency unavailable");
                cause.clone()
            }
            other => other.to_string(),
        };
        let mut answer = (status, axum::Json(error_body(code, &message))).into_response();
        if let Self::TooManyRequests(_, secs) = &self {
            answer.headers_mut().insert(axum::http::header::RETRY_AFTER, (*secs).into());
        }
        answer
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Self::Conflict(m),
            StoreError::Invalid(m) => Self::BadRequest(m),
            StoreError::Unavailable(m) => {
                tracing::warn!(cause = %m, "database unavailable");
                Self::Unavailable("the database is unavailable right now; try again shortly".into())
            }
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<orvanta_core::ParseError> for ApiError {
    fn from(e: orvanta_core::ParseError) -> Self {
        Self::BadRequest(e.0)
    }
}

/// The API's result type.
pub type ApiResult<T> = Result<T, ApiError>;
