//! Custom HTTP routes served (contract §10): `/api/r/{route_path}`
//! (Windmill's place) and `/r/{route_path}` — the seed's reverse-proxy
//! rewrite with no proxy. A request finds its route (static segments beat
//! parameters), passes the route's IP allow-list and authentication, and
//! runs the route's script or flow as the run routes do (§4, §5), with the
//! path parameters as arguments. CORS follows the route's `allowed_origins`.

use super::http_triggers::{settings, RouteSettings};
use super::jobs_run::{self, Extra, Mode};
use super::routes::Routes;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::runs::Target;
use crate::state::AppState;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use orvanta_core::{RunnablePath, WorkspaceId};
use orvanta_store::HttpTriggerRecord;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::Arc;

const ANY: &[Method] =
    &[Method::GET, Method::POST, Method::PUT, Method::DELETE, Method::PATCH, Method::HEAD, Method::OPTIONS];

pub fn router() -> Routes {
    Routes::new().add("/api/r/{*route}", ANY, serve).add("/r/{*route}", ANY, serve)
}

/// A loaded route: its record, settings and segments.
#[derive(Debug)]
pub struct Loaded {
    record: HttpTriggerRecord,
    settings: RouteSettings,
    /// The workspace first for a route under it.
    segments: Vec<String>,
}

/// Every route of the instance, cached for 2 s (and dropped at once on a change here).
async fn routes(state: &AppState) -> ApiResult<Arc<Vec<Loaded>>> {
    let load = async {
        let mut out = Vec::new();
        for record in state.store.list_http_triggers(None).await? {
            let settings = settings(&record)?;
            let mut segments: Vec<String> = Vec::new();
            if settings.workspaced_route {
                segments.push(record.workspace.to_string());
            }
            segments.extend(settings.route_path.split('/').map(str::to_owned));
            out.push(Loaded { record, settings, segments });
        }
        Ok::<_, ApiError>(Arc::new(out))
    };
    state.caches.http_routes.get_or_load((), load).await
}

/// Drops the cached routes (after a change).
pub fn forget(state: &AppState) {
    state.caches.http_routes.forget(&());
}

/// The path parameters of `route` for `path`, if it matches.
fn matches(route: &Loaded, path: &[&str]) -> Option<Map<String, Value>> {
    if route.segments.len() != path.len() {
        return None;
    }
    let mut params = Map::new();
    for (seg, got) in route.segments.iter().zip(path) {
        match seg.strip_prefix(':') {
            Some(name) => {
                params.insert(name.to_owned(), Value::String(crate::auth::percent_decode(got)));
            }
            None if seg == got => {}
            None => return None,
        }
    }
    Some(params)
}

/// The route of `method` that matches `path` best (most static segments, leftmost first).
fn find<'a>(routes: &'a [Loaded], method: &str, path: &[&str]) -> Option<(&'a Loaded, Map<String, Value>)> {
    routes
        .iter()
        .filter(|r| r.record.method == method)
        .filter_map(|r| matches(r, path).map(|p| (r, p)))
        .max_by_key(|(r, _)| r.segments.iter().map(|s| !s.starts_with(':')).collect::<Vec<bool>>())
}

async fn serve(State(state): State<AppState>, req: Request) -> Response {
    let origin = req.headers().get(header::ORIGIN).cloned();
    match route_request(&state, req).await {
        Ok(resp) => resp,
        Err((e, cors)) => with_cors(e.into_response(), origin.as_ref(), cors.as_deref()),
    }
}

type Refused = (ApiError, Option<Vec<String>>);

async fn route_request(state: &AppState, req: Request) -> Result<Response, Refused> {
    let no_cors = |e: ApiError| (e, None);
    let full = req.uri().path().to_owned();
    let rest = full.strip_prefix("/api/r/").or_else(|| full.strip_prefix("/r/")).unwrap_or("");
    let path: Vec<&str> = rest.trim_matches('/').split('/').collect();
    let routes = routes(state).await.map_err(no_cors)?;
    let origin = req.headers().get(header::ORIGIN).cloned();
    let method = req.method().clone();
    // A preflight asks for the method it will send; HEAD is GET's.
    let wanted = match method {
        Method::OPTIONS => req
            .headers()
            .get(header::ACCESS_CONTROL_REQUEST_METHOD)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase(),
        Method::HEAD => "get".into(),
        ref m => m.as_str().to_ascii_lowercase(),
    };
    let Some((route, params)) = find(&routes, &wanted, &path) else {
        let served: Vec<String> =
            routes.iter().filter(|r| matches(r, &path).is_some()).map(|r| r.record.method.to_uppercase()).collect();
        let shown = format!("/{}", path.join("/"));
        return Err(no_cors(if served.is_empty() {
            ApiError::NotFound(format!(
                "no custom route answers {shown}; routes are listed by /api/w/{{ws}}/http_triggers/list"
            ))
        } else {
            ApiError::MethodNotAllowed(format!("the route {shown} takes {}, not {method}", served.join(", ")))
        }));
    };
    let s = &route.settings;
    let cors = s.allowed_origins.clone();
    let refuse = |e: ApiError| (e, cors.clone());
    check_ip(state, &req, s).map_err(refuse)?;
    if let (Some(allowed), Some(o)) = (&s.allowed_origins, &origin) {
        if !origin_allowed(allowed, o) {
            return Err(refuse(ApiError::Forbidden(format!(
                "the origin {} may not call this route: its allowed_origins do not list it",
                o.to_str().unwrap_or("?")
            ))));
        }
    }
    if method == Method::OPTIONS {
        return Ok(with_cors(preflight(s), origin.as_ref(), s.allowed_origins.as_deref()));
    }
    if method == Method::HEAD {
        return Ok(with_cors(StatusCode::OK.into_response(), origin.as_ref(), s.allowed_origins.as_deref()));
    }
    let ws = route.record.workspace.clone();
    let (req, principal, early) = authenticate(state, req, route).await.map_err(refuse)?;
    if let Some(answer) = early {
        return Ok(with_cors(answer, origin.as_ref(), s.allowed_origins.as_deref()));
    }
    let resp = run(state, &ws, &principal, route, params, req).await.map_err(refuse)?;
    Ok(with_cors(resp, origin.as_ref(), s.allowed_origins.as_deref()))
}

/// Starts the route's runnable and answers as its request type says.
async fn run(
    state: &AppState,
    ws: &WorkspaceId,
    principal: &Principal,
    route: &Loaded,
    params: Map<String, Value>,
    req: Request,
) -> ApiResult<Response> {
    let s = &route.settings;
    let path = RunnablePath::parse(&s.script_path)?;
    let target = if s.is_flow { Target::FlowPath(path) } else { Target::ScriptPath(path) };
    let mode = match s.request_type.as_str() {
        "async" => Mode::Async,
        "sync_sse" => Mode::Stream,
        _ => Mode::Sync,
    };
    let mut query = Vec::new();
    if s.wrap_body {
        query.push(("wrap_body".to_owned(), "true".to_owned()));
    }
    if s.raw_string {
        query.push(("raw".to_owned(), "true".to_owned()));
    }
    let extra = Extra { query, args: params, trigger: Some(format!("http:{}", route.record.path)) };
    let events = (mode == Mode::Sync).then(|| state.store.subscribe());
    let started = jobs_run::start_with(state, ws.as_str(), principal, target, req, mode, extra).await?;
    match mode {
        Mode::Async => Ok(jobs_run::async_answer(&started)),
        Mode::Stream => Ok(super::jobs_stream::stream_started(state, &started).await),
        Mode::Sync => match jobs_run::require_worker(state, &started).await {
            Ok(()) => jobs_run::sync_answer(state, &started, events).await,
            Err(refused) => Ok(refused),
        },
    }
}

/// Who the run is made as, after the route's authentication; or an answer
/// to give at once (a platform's challenge under `signature`).
async fn authenticate(
    state: &AppState,
    req: Request,
    route: &Loaded,
) -> ApiResult<(Request, Principal, Option<Response>)> {
    let s = &route.settings;
    let ws = &route.record.workspace;
    let owner = || async {
        crate::inbound::creator(state, &route.record.edited_by).await.map(|mut p| {
            p.workspace = Some(ws.clone());
            p
        })
    };
    let gone = || {
        ApiError::Forbidden(format!(
            "the route's owner '{}' no longer exists; save the route again as another user",
            route.record.edited_by
        ))
    };
    if s.authentication_method == "windmill" {
        let (mut parts, body) = req.into_parts();
        let principal = Principal::from_request_parts(&mut parts, state).await?;
        return Ok((Request::from_parts(parts, body), principal, None));
    }
    let principal = owner().await.ok_or_else(gone)?;
    if s.authentication_method == "none" {
        return Ok((req, principal, None));
    }
    let resource = s.authentication_resource_path.as_deref().unwrap_or_default();
    let resource = RunnablePath::parse(resource)?;
    let config = super::resources::interpolated_value(state, &principal, ws, &resource).await.map_err(|e| {
        tracing::warn!(route = %route.record.path, error = %e, "a custom route's authentication resource cannot be read");
        ApiError::Forbidden(format!(
            "the route's authentication resource '{resource}' cannot be read by its owner; fix the route"
        ))
    })?;
    let denied = |why: &str| ApiError::Unauthorized(format!("{why}; this route checks its callers"));
    match s.authentication_method.as_str() {
        "api_key" => {
            let (name, secret) = api_key(&config).map_err(ApiError::Internal)?;
            let got = req.headers().get(name.as_str()).and_then(|v| v.to_str().ok()).unwrap_or("");
            if got.is_empty() || !same_secret(got, &secret) {
                return Err(denied(&format!("the header {name} is missing or wrong")));
            }
            Ok((req, principal, None))
        }
        "basic_http" => {
            let (user, password) = basic(&config).map_err(ApiError::Internal)?;
            let sent = req
                .headers()
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Basic ").or_else(|| v.strip_prefix("basic ")))
                .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b.trim()).ok())
                .and_then(|b| String::from_utf8(b).ok());
            let ok = sent.as_deref().and_then(|s| s.split_once(':')).is_some_and(|(u, p)| {
                let user_ok = same_secret(u, &user);
                let password_ok = same_secret(p, &password);
                user_ok & password_ok
            });
            if !ok {
                return Err(denied("the basic credentials are missing or wrong"));
            }
            Ok((req, principal, None))
        }
        _ => signature(state, req, &config, principal).await,
    }
}

/// `api_key`: the resource's `{api_key_header?, api_key_secret}` (header `x-api-key` by default).
fn api_key(config: &Value) -> Result<(String, String), String> {
    let name = config.get("api_key_header").and_then(Value::as_str).unwrap_or("x-api-key").to_ascii_lowercase();
    let secret = config
        .get("api_key_secret")
        .or_else(|| config.get("api_key"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("the resource has no api_key_secret")?;
    axum::http::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| format!("api_key_header '{name}' is no header name"))?;
    Ok((name, secret.to_owned()))
}

/// `basic_http`: the resource's `{username, password}`.
fn basic(config: &Value) -> Result<(String, String), String> {
    let field =
        |f: &str| config.get(f).and_then(Value::as_str).map(str::to_owned).ok_or(format!("the resource has no {f}"));
    Ok((field("username")?, field("password")?))
}

/// Whether `config` suits an authentication method: the message says what is missing.
pub fn check_auth_resource(method: &str, config: &Value) -> Result<(), String> {
    match method {
        "api_key" => api_key(config).map(drop),
        "basic_http" => basic(config).map(drop),
        _ => signature_keys(config).and_then(|k| {
            let keys = k.keys();
            orvanta_hooks::validate_keys(k.kind, &keys).map_err(|e| e.to_string())
        }),
    }
}

/// `signature`: the resource's `{verifier, secret | secrets, public_key, headers, tolerance_s}`, checked by
/// the inbound verifiers (contract §8) over the raw body.
struct SignatureKeys {
    kind: orvanta_hooks::VerifierKind,
    secrets: Vec<String>,
    public_key: Option<String>,
    headers: Vec<(String, String)>,
    tolerance_s: u64,
}

impl SignatureKeys {
    fn keys(&self) -> orvanta_hooks::Keys<'_> {
        orvanta_hooks::Keys { secrets: &self.secrets, public_key: self.public_key.as_deref(), headers: &self.headers }
    }
}

fn signature_keys(config: &Value) -> Result<SignatureKeys, String> {
    let verifier = config.get("verifier").and_then(Value::as_str).ok_or("the resource has no verifier")?;
    let kind: orvanta_hooks::VerifierKind = verifier.parse().map_err(|e: orvanta_hooks::UnknownName| e.to_string())?;
    let mut secrets: Vec<String> =
        config.get("secret").and_then(Value::as_str).map(str::to_owned).into_iter().collect();
    if let Some(list) = config.get("secrets").and_then(Value::as_array) {
        secrets.extend(list.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    let headers = config
        .get("headers")
        .and_then(Value::as_object)
        .map(|m| m.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned()))).collect())
        .unwrap_or_default();
    Ok(SignatureKeys {
        kind,
        secrets,
        public_key: config.get("public_key").and_then(Value::as_str).map(str::to_owned),
        headers,
        tolerance_s: config.get("tolerance_s").and_then(Value::as_u64).unwrap_or(300),
    })
}

async fn signature(
    state: &AppState,
    req: Request,
    config: &Value,
    principal: Principal,
) -> ApiResult<(Request, Principal, Option<Response>)> {
    let k = signature_keys(config).map_err(ApiError::Internal)?;
    let (parts, body) = req.into_parts();
    let limit = state.cfg.server.body_limit_bytes;
    let bytes = axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::PayloadTooLarge(format!("the body is larger than {limit} bytes (ORVANTA_BODY_LIMIT_BYTES)"))
    })?;
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(n, v)| v.to_str().ok().map(|v| (n.as_str().to_owned(), v.to_owned())))
        .collect();
    let request = orvanta_hooks::Request {
        method: parts.method.as_str(),
        headers: &headers,
        query: parts.uri.query().unwrap_or(""),
        body: &bytes,
    };
    let verdict = orvanta_hooks::verify(k.kind, &k.keys(), &request, chrono::Utc::now().timestamp(), k.tolerance_s)
        .map_err(|r| ApiError::Unauthorized(format!("the signature check failed: {r}")))?;
    let early = match verdict {
        orvanta_hooks::Verdict::Event { .. } => None,
        orvanta_hooks::Verdict::Answer { status, content_type, body, .. } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            Some((status, [(header::CONTENT_TYPE, content_type)], body).into_response())
        }
    };
    Ok((Request::from_parts(parts, axum::body::Body::from(bytes)), principal, early))
}

/// Equal secrets, compared by their digests so that the time taken says nothing of where they differ.
fn same_secret(got: &str, wanted: &str) -> bool {
    Sha256::digest(got.as_bytes()) == Sha256::digest(wanted.as_bytes())
}

/// An allow-list entry: an address, or a range in CIDR notation.
#[derive(Debug, Clone, Copy)]
pub struct IpRule {
    net: IpAddr,
    bits: u8,
}

impl IpRule {
    pub fn parse(rule: &str) -> Option<Self> {
        let (addr, bits) = match rule.trim().split_once('/') {
            Some((a, b)) => (a.parse::<IpAddr>().ok()?, Some(b.parse::<u8>().ok()?)),
            None => (rule.trim().parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = bits.unwrap_or(max);
        (bits <= max).then_some(IpRule { net: addr, bits })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            (IpAddr::V6(n), IpAddr::V6(a)) => prefix_eq(&n.octets(), &a.octets(), self.bits),
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let (full, rest) = ((bits / 8) as usize, bits % 8);
    if a[..full] != b[..full] {
        return false;
    }
    rest == 0 || (a[full] ^ b[full]) >> (8 - rest) == 0
}

/// The caller's address: the peer's, or with `hops` trusted proxies in
/// front, the address the outermost of them saw (from `X-Forwarded-For`).
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, hops: usize) -> IpAddr {
    if hops == 0 {
        return peer;
    }
    let mut chain: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|a| a.trim().parse().ok())
        .collect();
    chain.push(peer);
    // The last `hops` entries were written by the trusted proxies; the one before them is the caller.
    chain.len().checked_sub(hops + 1).map(|i| chain[i]).unwrap_or(chain[0])
}

fn check_ip(state: &AppState, req: &Request, s: &RouteSettings) -> ApiResult<()> {
    let Some(rules) = &s.allowed_ips else { return Ok(()) };
    let peer = crate::auth::throttle::client_of(req.extensions());
    let ip = client_ip(peer, req.headers(), state.cfg.server.trusted_proxy_hops);
    if rules.iter().filter_map(|r| IpRule::parse(r)).any(|r| r.contains(ip)) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("the address {ip} may not call this route: its allowed_ips do not list it")))
    }
}

fn origin_allowed(allowed: &[String], origin: &HeaderValue) -> bool {
    let o = origin.to_str().unwrap_or("");
    allowed.iter().any(|a| a == "*" || a.eq_ignore_ascii_case(o))
}

fn preflight(s: &RouteSettings) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    if let Ok(m) = HeaderValue::from_str(&format!("{}, OPTIONS", s.http_method.to_uppercase())) {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, m);
    }
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type, idempotency-key, x-api-key"),
    );
    h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    resp
}

/// CORS headers: the origin echoed when the route allows it (any, when it lists none).
fn with_cors(mut resp: Response, origin: Option<&HeaderValue>, allowed: Option<&[String]>) -> Response {
    let h = resp.headers_mut();
    let allow = match (origin, allowed) {
        (Some(o), None) => Some(o.clone()),
        (Some(o), Some(list)) if origin_allowed(list, o) => Some(o.clone()),
        (None, None) => Some(HeaderValue::from_static("*")),
        _ => None,
    };
    if let Some(a) = allow {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, a);
        h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static("x-orvanta-job-id"));
    }
    h.insert(header::VARY, HeaderValue::from_static("origin"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_rules() {
        let r = IpRule::parse("10.0.0.0/8").unwrap();
        assert!(r.contains("10.1.2.3".parse().unwrap()));
        assert!(r.contains("::ffff:10.9.9.9".parse().unwrap()));
        assert!(!r.contains("11.0.0.1".parse().unwrap()));
        assert!(IpRule::parse("192.168.1.7").unwrap().contains("192.168.1.7".parse().unwrap()));
        assert!(!IpRule::parse("192.168.1.7").unwrap().contains("192.168.1.8".parse().unwrap()));
        assert!(IpRule::parse("2001:db8::/32").unwrap().contains("2001:db8:1::5".parse().unwrap()));
        assert!(IpRule::parse("10.0.0.0/33").is_none());
        assert!(IpRule::parse("nope").is_none());
        assert!(IpRule::parse("0.0.0.0/0").unwrap().contains("8.8.8.8".parse().unwrap()));
        assert!(IpRule::parse("172.16.0.0/12").unwrap().contains("172.31.255.1".parse().unwrap()));
        assert!(!IpRule::parse("172.16.0.0/12").unwrap().contains("172.32.0.1".parse().unwrap()));
    }

    #[test]
    fn forwarded_for_honours_trusted_hops_only() {
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("6.6.6.6, 1.2.3.4"));
        assert_eq!(client_ip(peer, &h, 0), peer, "no trusted proxy: the header is the caller's to forge");
        assert_eq!(client_ip(peer, &h, 1), "1.2.3.4".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(peer, &h, 2), "6.6.6.6".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(peer, &h, 5), "6.6.6.6".parse::<IpAddr>().unwrap());
    }
}
