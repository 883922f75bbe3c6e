//! The web UI: plain HTML, CSS and JavaScript modules from `web/`, embedded
//! in the binary (no build step, nothing to serve beside it).
//!
//! `GET /` is the page shell; every page is drawn in it by `web/js/app.js`
//! from the address's `#/...` part, so the server has one page to serve.
//! The files are served under `/ui/{build}/...`, where `build` is a hash of
//! all of them: a file asked for under the current build is cached for a
//! year (its address changes with its content), under another build it is
//! revalidated. Modules import each other by relative paths, so they stay
//! within the build they were loaded from.
//!
//! When `GET /` comes with a valid session cookie, the shell carries what the
//! UI would otherwise ask first — `GET /api/users/whoami` and
//! `GET /api/workspaces/list` — as a data block, `<script
//! type="application/json" id="orvanta-boot">` (not executed, so the policy
//! allows it; `<`, `>` and `&` are escaped as `\u003c`...), so that a page's own
//! requests start at once: one round trip of API calls per page. Such a
//! shell is the caller's alone: `Cache-Control: no-store`, no ETag, and every
//! shell answer `Vary: Cookie`. No token is in it.
//!
//! Every answer carries a strict Content-Security-Policy (scripts, styles and
//! requests to this origin only; no inline code, no frames), `nosniff`, and a
//! referrer policy that keeps the `Origin` header of the page's own requests:
//! the API accepts cookie-authenticated changes only from its own origin.

use super::extract::PathParams;
use super::routes::Routes;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

pub fn router() -> Routes {
    Routes::new().get("/", shell).get("/ui/{build}/{*file}", asset)
}

/// One embedded file.
struct Asset {
    path: &'static str,
    bytes: &'static [u8],
}

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(Asset { path: $path, bytes: include_bytes!(concat!("../../web/", $path)) }),*]
    };
}

/// Every file of `web/` but the shell (a test checks that none is missing).
static ASSETS: &[Asset] = assets![
    "app.css",
    "favicon.svg",
    "js/api.js",
    "js/app.js",
    "js/dom.js",
    "js/pages/account.js",
    "js/pages/flow.js",
    "js/pages/flows.js",
    "js/pages/inbound.js",
    "js/pages/inbound_hook.js",
    "js/pages/login.js",
    "js/pages/openapi.js",
    "js/pages/routes.js",
    "js/pages/runs.js",
    "js/pages/job.js",
    "js/pages/scripts.js",
    "js/pages/triggers.js",
    "js/pages/script.js",
    "js/pages/settings.js",
    "js/pages/ws_webhook.js",
    "js/schema_form.js",
    "js/webhooks.js",
];

const SHELL: &str = include_str!("../../web/index.html");

/// The policy of every UI answer.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; \
                   form-action 'self'; frame-ancestors 'none'";

/// A hash of every file: part of the files' addresses.
fn build() -> &'static str {
    static BUILD: OnceLock<String> = OnceLock::new();
    BUILD.get_or_init(|| {
        let mut h = Sha256::new();
        h.update(SHELL.as_bytes());
        for a in ASSETS {
            h.update(a.path.as_bytes());
            h.update((a.bytes.len() as u64).to_le_bytes());
            h.update(a.bytes);
        }
        hex::encode(&h.finalize()[..6])
    })
}

/// Where the shell's data block goes.
const BOOT_MARK: &str = "<!--boot-->";

/// The shell with its files' addresses, cut where the data block goes.
fn shell_parts() -> &'static (String, String) {
    static PARTS: OnceLock<(String, String)> = OnceLock::new();
    PARTS.get_or_init(|| {
        let html = SHELL.replace("{{build}}", build());
        let (before, after) = html.split_once(BOOT_MARK).expect("web/index.html has the <!--boot--> mark");
        (before.to_owned(), after.to_owned())
    })
}

/// The shell without a data block.
fn shell_html() -> &'static str {
    static HTML: OnceLock<String> = OnceLock::new();
    HTML.get_or_init(|| {
        let (before, after) = shell_parts();
        format!("{before}{after}")
    })
}

/// JSON that can sit inside a `<script>` element: no `<`, `>` or `&` (they
/// only occur inside strings, where `\u003c`... mean the same), so neither
/// `</script>` nor `<!--` can end or change the element.
fn script_safe_json(value: &serde_json::Value) -> String {
    let json = value.to_string();
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            // Valid in JSON, but a line end to older JavaScript parsers.
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// The shell with `boot` as its data block.
fn shell_with_boot(boot: &serde_json::Value) -> String {
    let (before, after) = shell_parts();
    format!("{before}<script type=\"application/json\" id=\"orvanta-boot\">{}</script>{after}", script_safe_json(boot))
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("html") => "text/html; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The headers every UI answer carries.
fn security_headers(h: &mut HeaderMap) {
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // `same-origin`, not `no-referrer`: under `no-referrer` a browser sends `Origin: null` with a POST.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert("cross-origin-opener-policy", HeaderValue::from_static("same-origin"));
}

/// A 200 with `body`, or a 304 when the client holds this `etag`.
fn answer(req: &HeaderMap, etag: &str, cache: &'static str, ctype: &'static str, body: &'static [u8]) -> Response {
    let etag_value = HeaderValue::from_str(etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    let fresh = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut resp = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { body.into_response() };
    let h = resp.headers_mut();
    h.insert(header::ETAG, etag_value);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if !fresh {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    }
    security_headers(h);
    resp
}

/// `GET /`: the page shell. Revalidated on every load, so that a new
/// binary's files are picked up at once; with the caller's whoami and
/// workspaces in it when the session cookie is valid, and then not stored.
async fn shell(State(state): State<AppState>, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let mut resp = match boot_data(&state, &mut parts).await {
        Some(boot) => {
            let mut resp = shell_with_boot(&boot).into_response();
            let h = resp.headers_mut();
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
            security_headers(h);
            resp
        }
        None => {
            let etag = format!("\"{}\"", build());
            answer(&parts.headers, &etag, "no-cache", "text/html; charset=utf-8", shell_html().as_bytes())
        }
    };
    resp.headers_mut().insert(header::VARY, HeaderValue::from_static("Cookie"));
    resp
}

/// What the shell embeds for the caller: `{user, workspaces, at}` (the two
/// API answers and the server's time in millis), when the request carries
/// a valid session cookie (and no `Authorization`, which a browser does not
/// send with a page load). `None` otherwise: the UI then asks the API.
async fn boot_data(state: &AppState, parts: &mut axum::http::request::Parts) -> Option<serde_json::Value> {
    let has_cookie = parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|c| c.split(';').any(|p| p.trim().starts_with("token=")));
    if !has_cookie || parts.headers.contains_key(header::AUTHORIZATION) {
        return None;
    }
    let principal = Principal::from_request_parts(parts, state).await.ok()?;
    let user = super::users::whoami_value(state, &principal).await.ok()?;
    let workspaces = super::workspaces::list_value(state, &principal).await.ok()?;
    Some(serde_json::json!({"user": user, "workspaces": workspaces, "at": orvanta_core::now_millis()}))
}

/// `GET /ui/{build}/{*file}`: one file of the UI.
async fn asset(headers: HeaderMap, PathParams((asked, file)): PathParams<(String, String)>) -> Response {
    let Some(a) = ASSETS.iter().find(|a| a.path == file) else {
        return ApiError::NotFound(format!("the UI has no file '{file}'")).into_response();
    };
    let current = asked == build();
    let cache = if current { "public, max-age=31536000, immutable" } else { "no-cache" };
    let etag = format!("\"{}\"", build());
    answer(&headers, &etag, cache, content_type(a.path), a.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of `web/` is embedded; a new file added there and not to
    /// [`ASSETS`] would be a 404 in the browser only.
    #[test]
    fn every_web_file_is_embedded() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
        let mut found = Vec::new();
        let mut dirs = vec![root.clone()];
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    dirs.push(p);
                } else {
                    found.push(p.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/"));
                }
            }
        }
        let missing: Vec<_> =
            found.iter().filter(|f| *f != "index.html" && !ASSETS.iter().any(|a| a.path == *f)).collect();
        assert!(missing.is_empty(), "files of web/ not in ui::ASSETS: {missing:?}");
    }

    #[test]
    fn shell_names_its_files_by_build() {
        let html = shell_html();
        assert!(!html.contains("{{build}}"));
        assert!(html.contains(&format!("/ui/{}/js/app.js", build())));
        assert!(html.contains(&format!("/ui/{}/app.css", build())));
        // No inline script or style: the policy would refuse them.
        assert!(!html.contains("<script>") && !html.contains("style="));
    }

    #[test]
    fn the_data_block_cannot_end_its_element() {
        let boot = serde_json::json!({"name": "</script><script>alert(1)</script> & <!-- \u{2028}"});
        let html = shell_with_boot(&boot);
        let block = html.split("id=\"orvanta-boot\">").nth(1).unwrap().split("</script>").next().unwrap();
        assert!(!block.contains('<') && !block.contains('>') && !block.contains('&'), "{block}");
        let back: serde_json::Value = serde_json::from_str(block).unwrap();
        assert_eq!(back, boot);
        assert!(!shell_html().contains(BOOT_MARK) && !shell_html().contains("orvanta-boot"));
    }

    #[test]
    fn files_have_their_content_types() {
        for a in ASSETS {
            assert_ne!(content_type(a.path), "application/octet-stream", "{}", a.path);
        }
    }
}
