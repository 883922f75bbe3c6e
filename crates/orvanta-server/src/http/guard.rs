//! The outermost layer of the API, the last word on every answer:
//!
//! - a handler that panics answers a JSON 500 (and the log says where),
//!   instead of a dropped connection;
//! - an error answer that is not JSON (an empty 4xx from a layer, a protocol
//!   rejection) gets the contract's `{"error": {"code", "message"}}` body, so
//!   that a client never has to parse anything else. A runnable's own custom
//!   answer (§5, e.g. a bare 404 a script chose) is marked [`RunnableAnswer`]
//!   and left as the script made it;
//! - a request body the handler did not read (a 404, a 401, a 405 answered
//!   before the body was needed) is read to its end and dropped, up to a
//!   bound, before the answer leaves: a client still sending its body would
//!   otherwise see the connection reset instead of the answer.

use crate::error::error_body;
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::FutureExt;
use http_body::Frame;
use http_body_util::BodyExt;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

/// Marks an answer whose status, headers and body a runnable chose.
#[derive(Debug, Clone, Copy)]
pub struct RunnableAnswer;

/// How much of an unread body is drained for the client's sake, and for how long.
const DRAIN_BYTES: usize = 16 * 1024 * 1024;
const DRAIN_TIME: Duration = Duration::from_secs(10);

/// A request body the handler reads through a shared slot, so that what it
/// left unread can still be drained after it answered.
struct SharedBody(Arc<Mutex<Body>>);

impl http_body::Body for SharedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut body = self.0.lock().unwrap_or_else(|p| p.into_inner());
        Pin::new(&mut *body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).size_hint()
    }
}

/// Reads and drops what is left of a body, within the bounds above.
async fn drain(slot: &Mutex<Body>) {
    let mut body = std::mem::replace(&mut *slot.lock().unwrap_or_else(|p| p.into_inner()), Body::empty());
    if http_body::Body::is_end_stream(&body) {
        return;
    }
    let _ = tokio::time::timeout(DRAIN_TIME, async {
        let mut seen = 0usize;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > DRAIN_BYTES {
                break;
            }
        }
    })
    .await;
}

/// The middleware; see the module documentation.
pub async fn guard(req: Request, next: Next) -> Response {
    let route = format!("{} {}", req.method(), req.uri().path());
    let (parts, body) = req.into_parts();
    let slot = Arc::new(Mutex::new(body));
    let req = Request::from_parts(parts, Body::new(SharedBody(slot.clone())));
    let resp = AssertUnwindSafe(next.run(req)).catch_unwind().await;
    drain(&slot).await;
    let resp = match resp {
        Ok(resp) => resp,
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a non-text panic".into());
            tracing::error!(%route, panic = %what, "a handler panicked");
            let body = error_body("internal", "something went wrong on the server; the server log has the details");
            return (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response();
        }
    };
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) || resp.extensions().get::<RunnableAnswer>().is_some() {
        return resp;
    }
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    // What the layer said, if anything, becomes the message (bounded: it is ours).
    let said = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let said = String::from_utf8_lossy(&said).trim().to_owned();
    let message = if said.is_empty() { status.canonical_reason().unwrap_or("error").to_lowercase() } else { said };
    tracing::debug!(%route, %status, %message, "a non-JSON error answer was rewritten as JSON");
    let code = status.canonical_reason().unwrap_or("error").to_lowercase().replace([' ', '\''], "-");
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    Response::from_parts(parts, axum::body::Body::from(error_body(&code, &message).to_string()))
}
