//! The body by content type (§4 rule 1): JSON, form, multipart, and anything
//! else (JSON if it parses, else `raw_string`; not UTF-8: object storage).

use super::{form, into_args, multipart, Uploads};
use crate::error::{ApiError, ApiResult};
use axum::body::Bytes;
use axum::http::{header, HeaderMap};
use orvanta_core::json::JsonError;
use serde_json::{Map, Value};

/// What the `Content-Type` says the body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// None, `application/json`, or any `*/*+json`.
    Json,
    Form,
    Multipart,
    /// `application/cloudevents+json`: one structured event.
    CloudEvent,
    /// `application/cloudevents-batch+json`.
    CloudEventBatch,
    /// Anything else: text, XML, images, ...
    Other,
}

impl Kind {
    pub(super) fn of(headers: &HeaderMap) -> Self {
        match media_type(headers).as_deref() {
            None | Some("") | Some("application/json") => Kind::Json,
            Some("application/cloudevents+json") => Kind::CloudEvent,
            Some("application/cloudevents-batch+json") => Kind::CloudEventBatch,
            Some("application/x-www-form-urlencoded") => Kind::Form,
            Some("multipart/form-data") => Kind::Multipart,
            Some(mt) if mt.contains('/') && mt.ends_with("+json") => Kind::Json,
            Some(_) => Kind::Other,
        }
    }
}

/// The media type of the request: lower-case, without parameters.
pub(super) fn media_type(headers: &HeaderMap) -> Option<String> {
    let ct = headers.get(header::CONTENT_TYPE)?;
    let ct = String::from_utf8_lossy(ct.as_bytes());
    Some(ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
}

/// The `Content-Type` header as sent, when there is one.
pub(super) fn content_type(headers: &HeaderMap) -> Option<String> {
    headers.get(header::CONTENT_TYPE).map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned())
}

/// A request body to turn into arguments.
pub(super) struct Body<'a> {
    pub headers: &'a HeaderMap,
    pub bytes: &'a Bytes,
    pub wrap_body: bool,
}

/// The arguments of a (non-CloudEvents) body, by its content type.
pub(super) async fn args(body: &Body<'_>, uploads: &mut Uploads) -> ApiResult<Map<String, Value>> {
    if body.bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match Kind::of(body.headers) {
        Kind::Json | Kind::CloudEvent | Kind::CloudEventBatch => {
            let value = json_value(body.bytes).map_err(|e| invalid_json("the request body", &e))?;
            Ok(value.map(|v| into_args(v, body.wrap_body)).unwrap_or_default())
        }
        Kind::Form => Ok(form::args(body.bytes)),
        Kind::Multipart => multipart::args(body.headers, body.bytes.clone(), uploads).await,
        Kind::Other => Ok(other(body, uploads)),
    }
}

/// Any other content type: JSON if it parses, else the text as `raw_string`;
/// a body that is not UTF-8 goes to object storage as `{"body": {"s3": key}}`.
fn other(body: &Body<'_>, uploads: &mut Uploads) -> Map<String, Value> {
    match std::str::from_utf8(body.bytes) {
        Ok(text) => match parse(text.as_bytes()) {
            Ok(value) => into_args(value, body.wrap_body),
            Err(_) => Map::from_iter([("raw_string".to_owned(), Value::String(text.to_owned()))]),
        },
        Err(_) => {
            let file = uploads.add("body", body.bytes.clone(), content_type(body.headers));
            Map::from_iter([("body".to_owned(), file)])
        }
    }
}

/// Parses JSON; `None` for an empty (or all-whitespace) body.
pub(super) fn json_value(bytes: &[u8]) -> Result<Option<Value>, JsonError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    parse(bytes).map(Some)
}

/// Parses JSON that nests at most [`orvanta_core::json::MAX_DEPTH`] levels.
pub(super) fn parse(bytes: &[u8]) -> Result<Value, JsonError> {
    orvanta_core::json::parse_limited(bytes, orvanta_core::json::MAX_DEPTH)
}

/// The 400 for invalid JSON: serde's message says where (line and column).
pub(super) fn invalid_json(what: &str, e: &JsonError) -> ApiError {
    match e {
        JsonError::TooDeep { .. } => ApiError::BadRequest(format!("{what} is refused: {e}; flatten the data")),
        JsonError::Syntax(_) => ApiError::BadRequest(format!(
            "{what} is not valid JSON: {e}; fix the JSON, or send the body with another Content-Type (e.g. text/plain, which passes it as raw_string)"
        )),
    }
}
