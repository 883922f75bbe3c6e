//! `/api/w/{ws}/http_triggers/...`, in Windmill's shapes: custom HTTP routes
//! (contract §10), which `custom_routes` serves at `/api/r/{route_path}` and
//! `/r/{route_path}`. A route is an item with a path (`u/…` or `f/…`), so
//! folders and sharing decide who may see and change it, as for scripts.

use super::extract::{PathParams, QueryParams};
use super::routes::Routes;
use super::variables::{exists_answer, item_at};
use super::JsonBody;
use crate::auth::Principal;
use crate::authz::{self, Action, ItemKind, Resource};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use orvanta_core::{millis_to_rfc3339, RunnablePath, WorkspaceId};
use orvanta_store::HttpTriggerRecord;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub fn router() -> Routes {
    Routes::new()
        .post("/http_triggers/create", create)
        .post("/http_triggers/update/{*path}", update)
        .get("/http_triggers/get/{*path}", get)
        .get("/http_triggers/exists/{*path}", exists)
        .get("/http_triggers/list", list)
        .delete("/http_triggers/delete/{*path}", remove)
        .post("/http_triggers/route_exists", route_exists)
}

pub const METHODS: [&str; 5] = ["get", "post", "put", "delete", "patch"];
pub const REQUEST_TYPES: [&str; 3] = ["async", "sync", "sync_sse"];
pub const AUTH_METHODS: [&str; 5] = ["none", "windmill", "api_key", "basic_http", "signature"];

/// A route's settings, as stored (the store keeps them as JSON).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteSettings {
    pub script_path: String,
    pub is_flow: bool,
    /// Without slashes at either end; `:name` segments are parameters.
    pub route_path: String,
    pub http_method: String,
    pub request_type: String,
    pub authentication_method: String,
    pub authentication_resource_path: Option<String>,
    pub workspaced_route: bool,
    pub wrap_body: bool,
    pub raw_string: bool,
    pub summary: Option<String>,
    pub description: Option<String>,
    /// `None`: any origin; `["*"]` too.
    pub allowed_origins: Option<Vec<String>>,
    /// `None`: any address; else IPs and CIDR ranges.
    pub allowed_ips: Option<Vec<String>>,
    /// The authentication resource's value as the route's editor read it
    /// when saving, sealed: requests are checked against this snapshot, so
    /// that no later change of the resource (or of the variables it names)
    /// by someone else changes who may call the route. Never shown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_sealed: Option<String>,
}

/// The context under which a route's authentication snapshot is sealed.
pub fn auth_context(ws: &WorkspaceId) -> String {
    format!("http_trigger_auth:{ws}")
}

/// A create or update body (Windmill's `NewHttpTrigger` / `EditHttpTrigger`,
/// and Orvanta's `allowed_ips`); fields Orvanta does not use are ignored.
#[derive(Debug, Deserialize)]
struct Save {
    path: Option<String>,
    script_path: Option<String>,
    route_path: Option<String>,
    is_flow: Option<bool>,
    http_method: Option<String>,
    authentication_method: Option<String>,
    authentication_resource_path: Option<String>,
    is_static_website: Option<bool>,
    workspaced_route: Option<bool>,
    is_async: Option<bool>,
    request_type: Option<String>,
    wrap_body: Option<bool>,
    raw_string: Option<bool>,
    summary: Option<String>,
    description: Option<String>,
    allowed_origins: Option<Vec<String>>,
    allowed_ips: Option<Vec<String>>,
}

fn one_of(field: &str, value: &str, allowed: &[&str]) -> ApiResult<String> {
    let v = value.trim().to_ascii_lowercase();
    if allowed.contains(&v.as_str()) {
        Ok(v)
    } else {
        Err(ApiError::BadRequest(format!("{field} '{value}' is not one of {}", allowed.join(", "))))
    }
}

/// The route path without slashes at either end, checked: segments of
/// `A-Z a-z 0-9 . _ ~ -`, or `:name` parameters (distinct names).
pub fn check_route_path(raw: &str) -> ApiResult<String> {
    let route = raw.trim().trim_matches('/').to_owned();
    let bad = |why: String| ApiError::BadRequest(format!("route_path '{raw}' {why}"));
    if route.is_empty() {
        return Err(bad("is empty: give a path such as 'orders/:id'".into()));
    }
    if route.len() > 255 {
        return Err(bad("is longer than 255 characters".into()));
    }
    let mut names = Vec::new();
    for seg in route.split('/') {
        if seg.is_empty() {
            return Err(bad("has an empty segment ('//')".into()));
        }
        if seg == "." || seg == ".." {
            return Err(bad("has a '.' or '..' segment, which clients and proxies resolve away".into()));
        }
        if let Some(name) = seg.strip_prefix(':') {
            let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !ok {
                return Err(bad(format!("has the parameter ':{name}': name parameters with a-z, 0-9 and '_'")));
            }
            if names.contains(&name) {
                return Err(bad(format!("names the parameter ':{name}' twice")));
            }
            names.push(name);
        } else if let Some(c) = seg.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-')))
        {
            return Err(bad(format!("has the character '{c}': use A-Z, a-z, 0-9, '.', '_', '~', '-' and :params")));
        }
    }
    Ok(route)
}

/// The key no two routes of one method may share: parameters' names erased,
/// the workspace in front for a route under it.
pub fn route_key(ws: &WorkspaceId, route: &str, workspaced: bool) -> String {
    let erased: Vec<&str> = route.split('/').map(|s| if s.starts_with(':') { ":" } else { s }).collect();
    let key = erased.join("/");
    if workspaced {
        format!("{ws}/{key}")
    } else {
        key
    }
}

/// An IP or a CIDR range, checked.
pub fn check_ip_rule(rule: &str) -> ApiResult<()> {
    if crate::http::custom_routes::IpRule::parse(rule).is_some() {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "allowed_ips: '{rule}' is not an IP address or a CIDR range such as 10.0.0.0/8 or 2001:db8::/32"
        )))
    }
}

/// The settings a save stores: `current` (an update) with what `body` changes, checked.
async fn settings_of(
    state: &AppState,
    principal: &Principal,
    ws: &WorkspaceId,
    body: Save,
    current: Option<RouteSettings>,
) -> ApiResult<RouteSettings> {
    if principal.job.is_some() || principal.scopes.is_some() {
        return Err(ApiError::Forbidden(
            "a route runs with its editor's rights, without expiry: save it with a user's session or full-rights token, not a job's or a scoped token"
                .into(),
        ));
    }
    if body.is_static_website == Some(true) {
        return Err(ApiError::BadRequest(
            "is_static_website: Orvanta serves no static websites from routes; serve them from a web server".into(),
        ));
    }
    let missing = |f: &str| ApiError::BadRequest(format!("{f} is missing"));
    let pick = |new: Option<String>, old: Option<String>, f: &str| new.or(old).ok_or_else(|| missing(f));
    let cur = current.as_ref();
    let script_path = pick(body.script_path, cur.map(|c| c.script_path.clone()), "script_path")?;
    let route_path = check_route_path(&pick(body.route_path, cur.map(|c| c.route_path.clone()), "route_path")?)?;
    let http_method = pick(body.http_method, cur.map(|c| c.http_method.clone()), "http_method")?;
    let http_method = one_of("http_method", &http_method, &METHODS)?;
    let is_flow = body.is_flow.or(cur.map(|c| c.is_flow)).unwrap_or(false);
    let request_type = match (body.request_type, body.is_async) {
        (Some(t), _) => one_of("request_type", &t, &REQUEST_TYPES)?,
        (None, Some(true)) => "async".into(),
        (None, Some(false)) => "sync".into(),
        (None, None) => cur.map(|c| c.request_type.clone()).unwrap_or_else(|| "sync".into()),
    };
    let auth = pick(body.authentication_method, cur.map(|c| c.authentication_method.clone()), "authentication_method")?;
    if auth == "custom_script" {
        return Err(ApiError::BadRequest(
            "authentication_method 'custom_script' is not served: check the request in the script, or use signature"
                .into(),
        ));
    }
    let auth = one_of("authentication_method", &auth, &AUTH_METHODS)?;
    let auth_resource = body.authentication_resource_path.or(cur.and_then(|c| c.authentication_resource_path.clone()));
    let auth_resource = auth_resource.filter(|p| !p.trim().is_empty());
    let mut auth_sealed = None;
    if matches!(auth.as_str(), "api_key" | "basic_http" | "signature") {
        let Some(p) = &auth_resource else {
            return Err(ApiError::BadRequest(format!(
                "authentication_resource_path is missing: a {auth} route checks requests against a resource (see docs/decisions.md)"
            )));
        };
        let p = RunnablePath::parse(p)?;
        let value = super::resources::interpolated_value(state, principal, ws, &p).await.map_err(|e| match e {
            ApiError::NotFound(m) => ApiError::BadRequest(format!("authentication_resource_path: {m}")),
            other => other,
        })?;
        crate::http::custom_routes::check_auth_resource(&auth, &value)
            .map_err(|m| ApiError::BadRequest(format!("authentication_resource_path '{p}': {m}")))?;
        auth_sealed = Some(state.sealer.seal(&value.to_string(), &auth_context(ws)));
    }
    let allowed_ips = body.allowed_ips.or(cur.and_then(|c| c.allowed_ips.clone())).filter(|l| !l.is_empty());
    for rule in allowed_ips.iter().flatten() {
        check_ip_rule(rule)?;
    }
    let allowed_origins =
        body.allowed_origins.or(cur.and_then(|c| c.allowed_origins.clone())).filter(|l| !l.is_empty());
    let allowed_origins = match allowed_origins {
        None => None,
        Some(list) => Some(list.iter().map(|o| origin_of(o)).collect::<ApiResult<Vec<String>>>()?),
    };
    for (f, v) in [("summary", &body.summary), ("description", &body.description)] {
        if let Some(v) = v {
            super::extract::plain_text(f, v)?;
        }
    }
    // The runnable exists, and the caller may run it: the route runs it.
    let target = RunnablePath::parse(&script_path)
        .map_err(|e| ApiError::BadRequest(format!("script_path '{script_path}': {e}")))?;
    let kind = if is_flow { ItemKind::Flow } else { ItemKind::Script };
    let exists = if is_flow {
        state.store.latest_flow(ws, &target).await?.is_some()
    } else {
        state.store.latest_script(ws, &target).await?.is_some()
    };
    if !exists {
        return Err(ApiError::BadRequest(format!(
            "script_path: no {} '{target}' in '{ws}' (is_flow is {is_flow})",
            kind.as_str()
        )));
    }
    authz::check(state, principal, ws, Action::Run, Resource::Item(kind, &target)).await?;
    Ok(RouteSettings {
        script_path,
        is_flow,
        route_path,
        http_method,
        request_type,
        authentication_method: auth,
        authentication_resource_path: auth_resource,
        workspaced_route: body.workspaced_route.or(cur.map(|c| c.workspaced_route)).unwrap_or(false),
        wrap_body: body.wrap_body.or(cur.map(|c| c.wrap_body)).unwrap_or(false),
        raw_string: body.raw_string.or(cur.map(|c| c.raw_string)).unwrap_or(false),
        summary: body.summary.or(cur.and_then(|c| c.summary.clone())),
        description: body.description.or(cur.and_then(|c| c.description.clone())),
        allowed_origins,
        allowed_ips,
        auth_sealed,
    })
}

/// An allowed origin as browsers send it (`https://app.example.com`, no path, default port dropped), or `*`.
fn origin_of(o: &str) -> ApiResult<String> {
    if o == "*" {
        return Ok(o.to_owned());
    }
    match reqwest::Url::parse(o).map(|u| u.origin()) {
        Ok(origin) if origin.is_tuple() => Ok(origin.ascii_serialization()),
        _ => Err(ApiError::BadRequest(format!(
            "allowed_origins: '{o}' is not an origin such as https://app.example.com, nor '*'"
        ))),
    }
}

pub fn settings(r: &HttpTriggerRecord) -> ApiResult<RouteSettings> {
    serde_json::from_value(r.settings.clone())
        .map_err(|e| ApiError::Internal(format!("http trigger {} has settings that do not parse: {e}", r.path)))
}

fn record(
    ws: &WorkspaceId,
    path: RunnablePath,
    s: &RouteSettings,
    principal: &Principal,
) -> ApiResult<HttpTriggerRecord> {
    Ok(HttpTriggerRecord {
        workspace: ws.clone(),
        path,
        method: s.http_method.clone(),
        route_key: route_key(ws, &s.route_path, s.workspaced_route),
        settings: serde_json::to_value(s).map_err(|e| ApiError::Internal(e.to_string()))?,
        edited_by: principal.username.clone(),
        edited_at: orvanta_core::now_millis(),
    })
}

/// Whether two route keys can answer one request: as long, and every pair
/// of segments equal or a parameter on either side.
fn overlap(a: &str, b: &str) -> bool {
    let (a, b): (Vec<&str>, Vec<&str>) = (a.split('/').collect(), b.split('/').collect());
    a.len() == b.len() && a.iter().zip(&b).all(|(x, y)| x == y || *x == ":" || *y == ":")
}

/// 409 when another route answers the same method and route, or when a
/// route of another workspace could answer some of the same requests (a
/// workspace never takes another's requests; within one, static segments
/// beat parameters). 400 for a plain route whose first segment names a
/// workspace: `/api/r/{ws}/...` belongs to that workspace's routes.
async fn check_clash(state: &AppState, t: &HttpTriggerRecord, s: &RouteSettings) -> ApiResult<()> {
    if !s.workspaced_route {
        let first = s.route_path.split('/').next().unwrap_or_default();
        if let Ok(named) = WorkspaceId::parse(first) {
            if state.store.get_workspace(&named).await?.is_some() {
                return Err(ApiError::BadRequest(format!(
                    "route_path '{}' starts with '{first}', the name of a workspace: /api/r/{first}/... is where that workspace's own routes live; choose another first segment",
                    s.route_path
                )));
            }
        }
    }
    let routes = state.store.list_http_triggers(None).await?;
    let clash = routes.iter().find(|o| {
        let same_route = o.workspace == t.workspace && o.path == t.path;
        let exact = o.route_key == t.route_key;
        let across = o.workspace != t.workspace && overlap(&o.route_key, &t.route_key);
        o.method == t.method && !same_route && (exact || across)
    });
    match clash {
        Some(_) => Err(ApiError::Conflict(format!(
            "another route answers {} {} already: change route_path or http_method{}",
            t.method.to_uppercase(),
            public_route(&t.workspace, s),
            if s.workspaced_route { "" } else { ", or set workspaced_route to serve it under /api/r/{ws}/" }
        ))),
        None => Ok(()),
    }
}

/// Where a route is served (under `/api/r/`, and `/r/`).
pub fn public_route(ws: &WorkspaceId, s: &RouteSettings) -> String {
    if s.workspaced_route {
        format!("/api/r/{ws}/{}", s.route_path)
    } else {
        format!("/api/r/{}", s.route_path)
    }
}

async fn create(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(mut body): JsonBody<Save>,
) -> ApiResult<(StatusCode, String)> {
    let ws = WorkspaceId::parse(&ws)?;
    let path = body.path.take().ok_or_else(|| ApiError::BadRequest("path is missing".into()))?;
    let path = RunnablePath::parse(&path)?;
    authz::check(&state, &principal, &ws, Action::Create, Resource::Item(ItemKind::HttpTrigger, &path)).await?;
    let s = settings_of(&state, &principal, &ws, body, None).await?;
    let t = record(&ws, path.clone(), &s, &principal)?;
    check_clash(&state, &t, &s).await?;
    state.store.create_http_trigger(&t).await?;
    crate::http::custom_routes::forget(&state);
    Ok((StatusCode::CREATED, path.to_string()))
}

async fn load(
    state: &AppState,
    principal: &Principal,
    ws: &str,
    path: &str,
    action: Action,
) -> ApiResult<(WorkspaceId, HttpTriggerRecord)> {
    let ws = WorkspaceId::parse(ws)?;
    let p = RunnablePath::parse(path)?;
    let load = state.store.get_http_trigger(&ws, &p);
    let t = item_at(state, principal, &ws, ItemKind::HttpTrigger, &p, action, load).await?;
    Ok((ws, t))
}

async fn update(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
    JsonBody(mut body): JsonBody<Save>,
) -> ApiResult<String> {
    let (ws, old) = load(&state, &principal, &ws, &path, Action::Write).await?;
    let new_path = match body.path.take() {
        Some(p) if p != old.path.as_str() => {
            let p = RunnablePath::parse(&p)?;
            authz::check(&state, &principal, &ws, Action::Create, Resource::Item(ItemKind::HttpTrigger, &p)).await?;
            p
        }
        _ => old.path.clone(),
    };
    let s = settings_of(&state, &principal, &ws, body, Some(settings(&old)?)).await?;
    let t = record(&ws, new_path.clone(), &s, &principal)?;
    check_clash(&state, &t, &s).await?;
    if !state.store.update_http_trigger(&old.path, &t).await? {
        return Err(authz::not_found(ItemKind::HttpTrigger, old.path.as_str(), &ws));
    }
    if new_path != old.path {
        authz::forget_item(&state, &ws, ItemKind::HttpTrigger, &old.path).await?;
    }
    crate::http::custom_routes::forget(&state);
    Ok(new_path.to_string())
}

/// Windmill's `HttpTrigger`, and Orvanta's `allowed_ips` and `url`.
fn view(state: &AppState, t: &HttpTriggerRecord, s: &RouteSettings) -> Value {
    json!({
        "workspace_id": t.workspace,
        "path": t.path,
        "script_path": s.script_path,
        "is_flow": s.is_flow,
        "route_path": s.route_path,
        "http_method": s.http_method,
        "request_type": s.request_type,
        "is_async": s.request_type == "async",
        "authentication_method": s.authentication_method,
        "authentication_resource_path": s.authentication_resource_path,
        "is_static_website": false,
        "workspaced_route": s.workspaced_route,
        "wrap_body": s.wrap_body,
        "raw_string": s.raw_string,
        "summary": s.summary,
        "description": s.description,
        "allowed_origins": s.allowed_origins,
        "allowed_ips": s.allowed_ips,
        "permissioned_as": format!("u/{}", t.edited_by),
        "edited_by": t.edited_by,
        "edited_at": millis_to_rfc3339(t.edited_at),
        "extra_perms": {},
        "mode": "enabled",
        "is_draft": false,
        "url": format!("{}{}", state.cfg.base_url().trim_end_matches('/'), public_route(&t.workspace, s)),
    })
}

async fn get(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<Value>> {
    let (ws, t) = load(&state, &principal, &ws, &path, Action::Read).await?;
    let mut shown = view(&state, &t, &settings(&t)?);
    shown["extra_perms"] = json!(state.store.item_perms(&ws, ItemKind::HttpTrigger.as_str(), t.path.as_str()).await?);
    Ok(Json(shown))
}

async fn exists(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<Json<bool>> {
    exists_answer(load(&state, &principal, &ws, &path, Action::Read).await, ItemKind::HttpTrigger)
}

#[derive(Deserialize)]
struct ListQuery {
    page: Option<usize>,
    per_page: Option<usize>,
    path: Option<String>,
    path_start: Option<String>,
    is_flow: Option<bool>,
}

async fn list(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    QueryParams(q): QueryParams<ListQuery>,
) -> ApiResult<Json<Vec<Value>>> {
    let ws = WorkspaceId::parse(&ws)?;
    let mut grant = authz::check(&state, &principal, &ws, Action::Read, Resource::Items(ItemKind::HttpTrigger)).await?;
    let mut shown = Vec::new();
    for t in state.store.list_http_triggers(Some(&ws)).await? {
        let s = settings(&t)?;
        let keep = q.path.as_ref().is_none_or(|p| *p == s.script_path)
            && q.path_start.as_ref().is_none_or(|p| t.path.as_str().starts_with(p.as_str()))
            && q.is_flow.is_none_or(|f| f == s.is_flow);
        if keep && grant.perm(&state, ItemKind::HttpTrigger, &t.path).await? >= orvanta_core::Perm::Read {
            shown.push(view(&state, &t, &s));
        }
    }
    let per_page = q.per_page.unwrap_or(1000).clamp(1, 1000);
    let page = q.page.unwrap_or(1).max(1);
    Ok(Json(shown.into_iter().skip((page - 1) * per_page).take(per_page).collect()))
}

async fn remove(
    State(state): State<AppState>,
    PathParams((ws, path)): PathParams<(String, String)>,
    principal: Principal,
) -> ApiResult<String> {
    let (ws, t) = load(&state, &principal, &ws, &path, Action::Write).await?;
    state.store.delete_http_trigger(&ws, &t.path).await?;
    authz::forget_item(&state, &ws, ItemKind::HttpTrigger, &t.path).await?;
    crate::http::custom_routes::forget(&state);
    Ok(format!("http trigger {} deleted", t.path))
}

#[derive(Deserialize)]
struct RouteExists {
    route_path: String,
    http_method: Option<String>,
    trigger_path: Option<String>,
    workspaced_route: Option<bool>,
}

/// Whether a route with this path (and method, if given) is taken by another trigger.
async fn route_exists(
    State(state): State<AppState>,
    PathParams(ws): PathParams<String>,
    principal: Principal,
    JsonBody(body): JsonBody<RouteExists>,
) -> ApiResult<Json<bool>> {
    let ws = WorkspaceId::parse(&ws)?;
    authz::check(&state, &principal, &ws, Action::Read, Resource::Items(ItemKind::HttpTrigger)).await?;
    let route = check_route_path(&body.route_path)?;
    let method = body.http_method.map(|m| one_of("http_method", &m, &METHODS)).transpose()?;
    let key = route_key(&ws, &route, body.workspaced_route.unwrap_or(false));
    let routes = state.store.list_http_triggers(None).await?;
    Ok(Json(routes.iter().any(|o| {
        o.route_key == key
            && method.as_ref().is_none_or(|m| *m == o.method)
            && !(o.workspace == ws && body.trigger_path.as_deref() == Some(o.path.as_str()))
    })))
}
