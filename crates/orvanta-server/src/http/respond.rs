//! From a finished job to the answer of a sync route (contract §5).
//!
//! A successful job answers its result as JSON with 200, unless the result is
//! an object with control keys (`wm_*`, `orvanta_*`, `windmill_*` spellings of
//! `status_code`, `content_type`, `headers`): then those keys shape the
//! answer and its body is the object's `result`. A failed job answers its
//! error result, with the script's `error_status_code` or 200.
//!
//! A control key with an unusable value is the script's mistake, not the
//! server's, so its 500 names the key and the value instead of hiding them.

use crate::error::error_body;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use orvanta_core::JobStatus;
use serde_json::{json, Map, Value};

/// The spellings of the control keys, in order of precedence when a result
/// carries more than one spelling of the same key.
const PREFIXES: [&str; 3] = ["orvanta_", "wm_", "windmill_"];

/// Headers a script may not set: the server frames the answer itself.
const FRAMING: [HeaderName; 3] = [header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::CONNECTION];

/// The answer of a sync route for a run that ended with `status` and
/// `result`; `error_status` is the runnable's `error_status_code`.
pub fn sync_result(status: JobStatus, result: &Value, error_status: Option<u16>) -> Response {
    if status == JobStatus::Success {
        success(result)
    } else {
        failure(result, error_status)
    }
}

/// A failed (or canceled) job: its error result, 200 unless the script sets
/// `error_status_code`.
fn failure(result: &Value, error_status: Option<u16>) -> Response {
    let status = error_status.and_then(|c| valid_status(c.into())).unwrap_or(StatusCode::OK);
    (status, Json(result)).into_response()
}

fn success(result: &Value) -> Response {
    let Some(obj) = result.as_object().filter(|o| has_control_keys(o)) else {
        return (StatusCode::OK, Json(result)).into_response();
    };
    match custom(obj) {
        Ok(resp) => resp,
        Err(bad) => bad.into_response(),
    }
}

fn has_control_keys(obj: &Map<String, Value>) -> bool {
    ["status_code", "content_type", "headers"].iter().any(|k| control(obj, k).is_some())
}

/// The value of a control key under its first spelling present, with that spelling.
fn control<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<(String, &'a Value)> {
    PREFIXES.iter().map(|p| format!("{p}{key}")).find_map(|k| obj.get(&k).map(|v| (k, v)))
}

/// A control key the script set to something unusable.
#[derive(Debug)]
struct BadControl {
    code: &'static str,
    message: String,
}

impl IntoResponse for BadControl {
    fn into_response(self) -> Response {
        (StatusCode::INTERNAL_SERVER_ERROR, Json(error_body(self.code, &self.message))).into_response()
    }
}

fn custom(obj: &Map<String, Value>) -> Result<Response, BadControl> {
    let status = match control(obj, "status_code") {
        Some((key, v)) => Some(status_of(&key, v)?),
        None => None,
    };
    let content_type = match control(obj, "content_type") {
        Some((key, v)) => Some(content_type_of(&key, v)?),
        None => None,
    };
    let headers = match control(obj, "headers") {
        Some((key, v)) => headers_of(&key, v)?,
        None => Vec::new(),
    };
    let mut resp = match obj.get("result") {
        None => status.unwrap_or(StatusCode::NO_CONTENT).into_response(),
        Some(body) => {
            let status = status.unwrap_or(StatusCode::OK);
            match content_type {
                Some(_) => (status, as_text(body)).into_response(),
                None => (status, Json(body)).into_response(),
            }
        }
    };
    let h = resp.headers_mut();
    for (name, value) in headers {
        h.insert(name, value);
    }
    // The explicit content type wins over one given among the headers.
    if let Some(ct) = content_type {
        h.insert(header::CONTENT_TYPE, ct);
    }
    // What a script serves (HTML, SVG, ...) never runs as the API's own page:
    // no scripts, no same-origin access to the session cookie. Set last, so a
    // script's own headers cannot lift it.
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("sandbox"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // The runnable chose this answer: the API's error shaping leaves it alone.
    resp.extensions_mut().insert(crate::http::guard::RunnableAnswer);
    Ok(resp)
}

/// The body of a custom content type: a JSON string as its text, anything else as JSON text.
fn as_text(body: &Value) -> String {
    match body {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A status code RFC 9110 allows as a final answer.
fn valid_status(code: u64) -> Option<StatusCode> {
    u16::try_from(code).ok().filter(|c| (200..=599).contains(c)).and_then(|c| StatusCode::from_u16(c).ok())
}

fn status_of(key: &str, v: &Value) -> Result<StatusCode, BadControl> {
    let bad = |why: &str| BadControl {
        code: "invalid-status-code",
        message: format!("the script returned {key} = {v}, which {why}; return a number from 200 to 599"),
    };
    let code = v.as_u64().ok_or_else(|| bad("is not a whole number"))?;
    if (100..200).contains(&code) {
        return Err(bad("is an informational (1xx) status that cannot be a final answer"));
    }
    valid_status(code).ok_or_else(|| bad("is not a valid HTTP status code (RFC 9110: 100 to 599)"))
}

fn content_type_of(key: &str, v: &Value) -> Result<HeaderValue, BadControl> {
    let bad = || BadControl {
        code: "invalid-content-type",
        message: format!(
            "the script returned {key} = {v}, which is not a valid content type; return a string such as \"text/csv\""
        ),
    };
    v.as_str().and_then(|s| HeaderValue::from_str(s).ok()).ok_or_else(bad)
}

fn headers_of(key: &str, v: &Value) -> Result<Vec<(HeaderName, HeaderValue)>, BadControl> {
    let bad = |message: String| BadControl { code: "invalid-header", message };
    let obj = v.as_object().ok_or_else(|| {
        bad(format!("the script returned {key} = {v}, which is not an object of header name to value"))
    })?;
    let mut out = Vec::with_capacity(obj.len());
    for (name, value) in obj {
        let parsed = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| bad(format!("the script returned {key} with '{name}', which is not a valid header name")))?;
        if FRAMING.contains(&parsed) {
            return Err(bad(format!(
                "the script returned {key} with '{name}', a header the server sets itself; leave it out"
            )));
        }
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(_) | Value::Bool(_) => value.to_string(),
            _ => {
                return Err(bad(format!(
                    "the script returned {key} with '{name}' = {value}; a header value must be a string"
                )))
            }
        };
        let value = HeaderValue::from_str(&text).map_err(|_| {
            bad(format!("the script returned {key} with '{name}' = {value}, which is not a valid header value"))
        })?;
        out.push((parsed, value));
    }
    Ok(out)
}

/// The `only_result` of the final update: a failed job's error result; for a
/// success, the result when nothing was streamed, the stream as a string when
/// nothing was returned, else the result with the stream under `wm_stream`
/// (added to an object result, `{"result", "wm_stream"}` around any other).
pub fn only_result(status: JobStatus, result: Option<Value>, stream: String) -> Value {
    let result = result.unwrap_or(Value::Null);
    if status != JobStatus::Success || stream.is_empty() {
        return result;
    }
    match result {
        Value::Null => Value::String(stream),
        Value::Object(mut m) => {
            m.insert("wm_stream".into(), stream.into());
            Value::Object(m)
        }
        other => json!({"result": other, "wm_stream": stream}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    async fn parts(resp: Response) -> (u16, axum::http::HeaderMap, String) {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), usize::MAX).await.unwrap();
        (status, headers, String::from_utf8(body.to_vec()).unwrap())
    }

    async fn ok(result: Value) -> (u16, axum::http::HeaderMap, String) {
        parts(success(&result)).await
    }

    #[tokio::test]
    async fn a_plain_result_is_json_with_200() {
        let (status, h, body) = ok(json!({"a": 1, "result": 2})).await;
        assert_eq!((status, h[header::CONTENT_TYPE].to_str().unwrap()), (200, "application/json"));
        assert_eq!(body, r#"{"a":1,"result":2}"#);
        let (status, _, body) = ok(json!("text")).await;
        assert_eq!((status, body.as_str()), (200, "\"text\""));
    }

    #[tokio::test]
    async fn every_spelling_of_the_status_code_sets_it() {
        for key in ["wm_status_code", "orvanta_status_code", "windmill_status_code"] {
            let (status, h, body) = ok(json!({key: 201, "result": {"Hello": "World"}})).await;
            assert_eq!((status, body.as_str()), (201, r#"{"Hello":"World"}"#), "{key}");
            assert_eq!(h[header::CONTENT_TYPE], "application/json");
        }
    }

    #[tokio::test]
    async fn the_orvanta_spelling_wins_over_the_others() {
        let (status, _, _) = ok(json!({"wm_status_code": 202, "orvanta_status_code": 201, "result": 1})).await;
        assert_eq!(status, 201);
    }

    #[tokio::test]
    async fn invalid_status_codes_are_a_500_naming_key_and_value() {
        for (key, v) in [
            ("wm_status_code", json!(42)),
            ("orvanta_status_code", json!(600)),
            ("wm_status_code", json!("201")),
            ("windmill_status_code", json!(101)),
        ] {
            let (status, _, body) = ok(json!({key: v, "result": 1})).await;
            assert_eq!(status, 500, "{key} {v}");
            let e: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(e["error"]["code"], "invalid-status-code");
            let msg = e["error"]["message"].as_str().unwrap();
            assert!(msg.contains(key) && msg.contains(&v.to_string()), "{msg}");
        }
    }

    #[tokio::test]
    async fn a_content_type_makes_the_body_text() {
        for key in ["wm_content_type", "orvanta_content_type", "windmill_content_type"] {
            let (status, h, body) = ok(json!({key: "text/csv", "result": "Hello;World"})).await;
            assert_eq!((status, body.as_str()), (200, "Hello;World"), "{key}");
            assert_eq!(h[header::CONTENT_TYPE], "text/csv");
            assert_eq!(h[header::CONTENT_SECURITY_POLICY], "sandbox");
        }
        let (_, h, body) = ok(json!({"wm_content_type": "text/plain", "result": {"a": [1, 2]}})).await;
        assert_eq!((body.as_str(), h[header::CONTENT_TYPE].to_str().unwrap()), (r#"{"a":[1,2]}"#, "text/plain"));
        let (status, _, body) = ok(json!({"wm_content_type": 5, "result": "x"})).await;
        assert_eq!(status, 500);
        assert!(body.contains("invalid-content-type") && body.contains("wm_content_type"), "{body}");
    }

    #[tokio::test]
    async fn headers_are_added_and_invalid_ones_named() {
        for key in ["wm_headers", "orvanta_headers", "windmill_headers"] {
            let (status, h, body) =
                ok(json!({key: {"X-Custom-Header": "foo", "x-n": 3}, "result": {"Hello": "World"}})).await;
            assert_eq!((status, body.as_str()), (200, r#"{"Hello":"World"}"#), "{key}");
            assert_eq!((h["x-custom-header"].to_str().unwrap(), h["x-n"].to_str().unwrap()), ("foo", "3"));
            assert_eq!(h[header::CONTENT_TYPE], "application/json");
        }
        for (headers, needle) in [
            (json!({"bad name": "x"}), "bad name"),
            (json!({"x-a": "line\nbreak"}), "x-a"),
            (json!({"x-a": {"nested": 1}}), "x-a"),
            (json!({"content-length": "3"}), "content-length"),
            (json!(["x-a"]), "not an object"),
        ] {
            let (status, _, body) = ok(json!({"wm_headers": headers, "result": 1})).await;
            assert_eq!(status, 500, "{headers}");
            assert!(body.contains("invalid-header") && body.contains(needle), "{body}");
        }
    }

    #[tokio::test]
    async fn the_content_type_key_wins_over_a_content_type_header() {
        let r = json!({"wm_headers": {"content-type": "text/html"}, "wm_content_type": "text/csv", "result": "a"});
        let (_, h, _) = ok(r).await;
        assert_eq!(h[header::CONTENT_TYPE], "text/csv");
        let (_, h, body) = ok(json!({"wm_headers": {"content-type": "text/html"}, "result": "a"})).await;
        assert_eq!((h[header::CONTENT_TYPE].to_str().unwrap(), body.as_str()), ("text/html", "\"a\""));
    }

    #[tokio::test]
    async fn control_keys_without_result_answer_an_empty_body() {
        let (status, h, body) = ok(json!({"wm_headers": {"x-a": "b"}})).await;
        assert_eq!((status, body.as_str(), h["x-a"].to_str().unwrap()), (204, "", "b"));
        let (status, _, body) = ok(json!({"wm_status_code": 202})).await;
        assert_eq!((status, body.as_str()), (202, ""));
        let (status, _, body) = ok(json!({"wm_status_code": 200, "result": null})).await;
        assert_eq!((status, body.as_str()), (200, "null"));
    }

    #[tokio::test]
    async fn a_failure_answers_its_error_with_200_or_the_error_status_code() {
        let err = json!({"error": {"name": "ValueError", "message": "bad"}});
        let (status, _, body) = parts(sync_result(JobStatus::Failure, &err, None)).await;
        assert_eq!((status, serde_json::from_str::<Value>(&body).unwrap()), (200, err.clone()));
        let settings = Some(422);
        let (status, _, _) = parts(sync_result(JobStatus::Failure, &err, settings)).await;
        assert_eq!(status, 422);
        let (status, _, _) = parts(sync_result(JobStatus::Canceled, &err, settings)).await;
        assert_eq!(status, 422);
        // A failed job's result never shapes the answer, even with control keys.
        let tricky = json!({"wm_status_code": 201, "result": 1});
        let (status, _, body) = parts(sync_result(JobStatus::Failure, &tricky, None)).await;
        assert_eq!((status, body.as_str()), (200, r#"{"wm_status_code":201,"result":1}"#));
        let (status, _, body) = parts(sync_result(JobStatus::Success, &json!(7), settings)).await;
        assert_eq!((status, body.as_str()), (200, "7"));
    }
}
