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
            let settings = match settings(&record) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(route = %record.path, workspace = %record.workspace, error = %e, "a custom route is skipped");
                    continue;
                }
            };
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
            Some(_) if got.is_empty() => return None,
            Some(name) => {
                params.insert(name.to_owned(), Value::String(decode_segment(got)));
            }
            None if seg == got => {}
            None => return None,
        }
    }
    Some(params)
}

/// A path segment percent-decoded (a `+` stays a `+`; invalid UTF-8 is replaced).
fn decode_segment(seg: &str) -> String {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
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
        if served.is_empty() {
            return Err(no_cors(ApiError::NotFound(format!(
                "no custom route answers {shown}; routes are listed by /api/w/{{ws}}/http_triggers/list"
            ))));
        }
        let mut served = served;
        served.sort();
        served.dedup();
        let mut resp =
            ApiError::MethodNotAllowed(format!("the route {shown} takes {}, not {method}", served.join(", ")))
                .into_response();
        if let Ok(allow) = HeaderValue::from_str(&served.join(", ")) {
            resp.headers_mut().insert(header::ALLOW, allow);
        }
        return Ok(with_cors(resp, origin.as_ref(), None));
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
        let asked = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS).cloned();
        return Ok(with_cors(preflight(s, asked), origin.as_ref(), s.allowed_origins.as_deref()));
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
    if s.authentication_method != "windmill" {
        refuse_run_options(&req)?;
    }
    let mut query = Vec::new();
    if s.wrap_body {
        query.push(("wrap_body".to_owned(), "true".to_owned()));
    }
    if s.raw_string {
        query.push(("raw".to_owned(), "true".to_owned()));
    }
    let extra = Extra { query, args: params, trigger: Some(format!("http:{}", route.record.path)), job_id: None };
    let (events, extra) = jobs_run::sync_watch(state, mode, extra);
    let started = jobs_run::start_with(state, ws.as_str(), principal, target, req, mode, extra).await?;
    let mut resp = match mode {
        Mode::Async => jobs_run::async_answer(&started),
        Mode::Stream => super::jobs_stream::stream_started(state, &started).await,
        Mode::Sync => match jobs_run::require_worker(state, &started).await {
            Ok(()) => jobs_run::sync_answer(state, &started, events).await?,
            Err(refused) => refused,
        },
    };
    // A route answers on Orvanta's own origin, to anyone: its script sets no cookie there.
    resp.headers_mut().remove(header::SET_COOKIE);
    Ok(resp)
}

/// On a route that runs as its editor, the caller does not choose how the
/// job runs (`job_id`, `parent_job`, `tag`, schedules), nor sends a batch
/// of CloudEvents (one job each); with no authentication at all, callers
/// share one identity, so an `Idempotency-Key` would hand one caller
/// another's result: it is dropped.
fn refuse_run_options(req: &Request) -> ApiResult<()> {
    let query = super::request_args::parse_query(req.uri().query());
    if let Some((k, _)) = query
        .iter()
        .find(|(k, _)| matches!(k.as_str(), "job_id" | "parent_job" | "tag" | "scheduled_for" | "scheduled_in_secs"))
    {
        return Err(ApiError::BadRequest(format!(
            "?{k} is not taken by a custom route: it runs as the route's owner, who decides how it runs"
        )));
    }
    let batch = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with("application/cloudevents-batch+json"));
    if batch {
        return Err(ApiError::BadRequest("a custom route takes one event per request, not a CloudEvents batch".into()));
    }
    Ok(())
}

/// Who the run is made as, after the route's authentication; or an answer
/// to give at once (a platform's challenge under `signature`, a basic
/// credentials challenge).
async fn authenticate(
    state: &AppState,
    req: Request,
    route: &Loaded,
) -> ApiResult<(Request, Principal, Option<Response>)> {
    let s = &route.settings;
    if s.authentication_method == "windmill" {
        // A token the caller sends on purpose: not the session cookie, which a page of a sibling site could ride.
        let query = super::request_args::parse_query(req.uri().query());
        let sent = req.headers().contains_key(header::AUTHORIZATION) || query.iter().any(|(k, _)| k == "token");
        if !sent {
            return Err(ApiError::Unauthorized(
                "no token: this route takes 'Authorization: Bearer <token>' or '?token=<token>' (not the session cookie)"
                    .into(),
            ));
        }
        let (mut parts, body) = req.into_parts();
        let principal = Principal::from_request_parts(&mut parts, state).await?;
        return Ok((Request::from_parts(parts, body), principal, None));
    }
    let principal = owner(state, route).await?;
    if s.authentication_method == "none" {
        let (mut parts, body) = req.into_parts();
        parts.headers.remove("idempotency-key");
        return Ok((Request::from_parts(parts, body), principal, None));
    }
    let config = s
        .auth_sealed
        .as_deref()
        .ok_or_else(|| ApiError::Internal(format!("route {} has no authentication snapshot", route.record.path)))
        .and_then(|sealed| {
            let ctx = super::http_triggers::auth_context(&route.record.workspace);
            state.sealer.open(sealed, &ctx).map_err(|e| ApiError::Internal(e.0))
        })
        .and_then(|text| serde_json::from_str::<Value>(&text).map_err(|e| ApiError::Internal(e.to_string())))?;
    let client = crate::auth::throttle::client_of(req.extensions());
    let check = |ok: bool| -> ApiResult<()> {
        if ok {
            Ok(())
        } else {
            state.throttle.failed(client);
            Err(ApiError::Unauthorized("the credentials are missing or wrong; this route checks its callers".into()))
        }
    };
    match s.authentication_method.as_str() {
        "api_key" => {
            state.throttle.check(client)?;
            let (name, secret) = api_key(&config).map_err(ApiError::Internal)?;
            let got = req.headers().get(name.as_str()).and_then(|v| v.to_str().ok()).unwrap_or("");
            check(!got.is_empty() && same_secret(got, &secret))?;
            Ok((req, principal, None))
        }
        "basic_http" => {
            state.throttle.check(client)?;
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
            if let Err(e) = check(ok) {
                let mut resp = e.into_response();
                resp.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"orvanta\""));
                return Ok((req, principal, Some(resp)));
            }
            Ok((req, principal, None))
        }
        _ => signature(state, req, &config, route, principal).await,
    }
}

/// The route's editor, who runs it (restricted to its workspace), once
/// checked that the script or flow it runs was not changed by someone else
/// since the route was saved: the editor consented to running what was
/// there then. A refusal names nothing to the caller; the log has why.
async fn owner(state: &AppState, route: &Loaded) -> ApiResult<Principal> {
    let r = &route.record;
    let s = &route.settings;
    let refuse = |why: String| {
        tracing::warn!(route = %r.path, workspace = %r.workspace, "a custom route cannot run: {why}");
        ApiError::Forbidden("this route cannot run now; its owner must save it again (the server log says why)".into())
    };
    let Some(mut principal) = crate::inbound::creator(state, &r.edited_by).await else {
        return Err(refuse(format!("its editor '{}' no longer exists", r.edited_by)));
    };
    principal.workspace = Some(r.workspace.clone());
    let path = RunnablePath::parse(&s.script_path)?;
    let changed_by = if s.is_flow {
        state.store.latest_flow(&r.workspace, &path).await?.map(|f| (f.created_by, f.created_at))
    } else {
        state.store.latest_script(&r.workspace, &path).await?.map(|v| (v.created_by, v.created_at))
    };
    if let Some((by, at)) = changed_by {
        if by != r.edited_by && at > r.edited_at {
            return Err(refuse(format!(
                "{} was changed by '{by}' after '{}' saved the route",
                s.script_path, r.edited_by
            )));
        }
    }
    Ok(principal)
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
    route: &Loaded,
    principal: Principal,
) -> ApiResult<(Request, Principal, Option<Response>)> {
    let k = signature_keys(config).map_err(ApiError::Internal)?;
    let (mut parts, body) = req.into_parts();
    let limit = super::body::Limit { bytes: state.cfg.server.body_limit_bytes, setting: "ORVANTA_BODY_LIMIT_BYTES" };
    let (bytes, _held) = super::body::read(&state.bodies, &parts.headers, body, limit).await?;
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
        orvanta_hooks::Verdict::Event { event_id } => {
            // A platform's delivery id makes its retries (and replays of a captured request) one job.
            parts.headers.remove("idempotency-key");
            if let Some(id) = event_id {
                let key = format!("http:{}:{id}", route.record.path);
                if let Ok(v) = HeaderValue::from_str(&key) {
                    parts.headers.insert("idempotency-key", v);
                }
            }
            None
        }
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
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, hops: usize) -> Option<IpAddr> {
    if hops == 0 {
        return Some(peer);
    }
    let peer_text = peer.to_string();
    let mut chain: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    chain.push(&peer_text);
    // The last `hops` entries were written by the trusted proxies; the one before them is the caller.
    // A chain too short, or an entry that is no address, identifies nobody.
    let entry = chain.len().checked_sub(hops + 1).map(|i| chain[i])?;
    parse_forwarded(entry)
}

/// An `X-Forwarded-For` entry: an address, with a port or IPv6 brackets if the proxy wrote them.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Ok(sock) = entry.parse::<std::net::SocketAddr>() {
        return Some(sock.ip());
    }
    entry.trim_start_matches('[').trim_end_matches(']').parse().ok()
}

fn check_ip(state: &AppState, req: &Request, s: &RouteSettings) -> ApiResult<()> {
    let Some(rules) = &s.allowed_ips else { return Ok(()) };
    let peer = crate::auth::throttle::client_of(req.extensions());
    let Some(ip) = client_ip(peer, req.headers(), state.cfg.server.trusted_proxy_hops) else {
        return Err(ApiError::Forbidden(
            "the caller's address is not known (X-Forwarded-For is shorter than the trusted proxies, or unreadable); this route lists the addresses it answers".into(),
        ));
    };
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

fn preflight(s: &RouteSettings, asked: Option<HeaderValue>) -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    if let Ok(m) = HeaderValue::from_str(&format!("{}, OPTIONS", s.http_method.to_uppercase())) {
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, m);
    }
    // The headers the browser asks for (a route's own API key header among them).
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        asked.unwrap_or(HeaderValue::from_static("authorization, content-type, idempotency-key, x-api-key")),
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
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(peer, &h, 0), Some(peer), "no trusted proxy: the header is the caller's to forge");
        assert_eq!(client_ip(peer, &h, 1), ip("1.2.3.4"));
        assert_eq!(client_ip(peer, &h, 2), ip("6.6.6.6"));
        assert_eq!(client_ip(peer, &h, 5), None, "a chain shorter than the trusted proxies identifies nobody");
        // A proxy that writes ports or brackets: the entry it wrote still counts as one.
        h.insert("x-forwarded-for", HeaderValue::from_static("10.1.2.3, 203.0.113.7:53122"));
        assert_eq!(client_ip(peer, &h, 1), ip("203.0.113.7"));
        h.insert("x-forwarded-for", HeaderValue::from_static("10.1.2.3, unknown"));
        assert_eq!(client_ip(peer, &h, 1), None);
        h.insert("x-forwarded-for", HeaderValue::from_static("[2001:db8::1]:443"));
        assert_eq!(client_ip(peer, &h, 1), ip("2001:db8::1"));
    }
}
