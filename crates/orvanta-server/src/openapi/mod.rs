//! The OpenAPI 3.1 export (contract §10): one document describing the webhook
//! endpoints of the runnables and the custom HTTP routes that a request's
//! filters select, each operation with its summary, description, request body
//! schema (the runnable's own, see [`schema`]), answers and errors, under
//! bearer auth.
//!
//! Pure: the HTTP handler (`http/openapi.rs`) reads the store, keeps what the
//! caller may read, and hands plain [`WebhookDoc`]s and [`RouteDoc`]s here, so
//! the document is built and tested without a server.
//!
//! Paths are absolute (`/api/w/{ws}/jobs/run/p/u/alice/hello`, literal: one
//! document per workspace), so the document works against any base URL a tool
//! is given; `servers` names the instance.

pub mod request;
pub mod schema;

pub use request::{parse, Format, Request, RunnableKind};

use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// The OpenAPI version written.
pub const OPENAPI_VERSION: &str = "3.1.0";
const BEARER: &str = "bearerAuth";

/// A script or flow whose webhooks the document may describe (its newest version).
#[derive(Debug, Clone)]
pub struct WebhookDoc {
    pub kind: RunnableKind,
    pub path: String,
    pub summary: String,
    pub description: String,
    /// The stored JSON Schema of its arguments.
    pub schema: Value,
    /// A script's `error_status_code`: the status of a failed sync run.
    pub error_status: Option<u16>,
}

/// A custom HTTP route (`http_triggers`) the document may describe, served at
/// `/api/r/{route_path}` (with the workspace first when `workspaced`).
#[derive(Debug, Clone)]
pub struct RouteDoc {
    /// `get`, `post`, `put`, `delete` or `patch` (any case).
    pub method: String,
    /// As stored: `orders/:id` (a leading `/` is ignored).
    pub route_path: String,
    /// The trigger's own path (`f/team/orders`), which `http_route_filters` select on.
    pub path: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    /// The JSON Schema of the runnable it starts, if known.
    pub schema: Option<Value>,
    /// `async`, `sync` or `sync_sse`.
    pub request_type: String,
    /// Served without authentication (`authentication_method: none`).
    pub public: bool,
    /// Served under `/api/r/{ws}/…`.
    pub workspaced: bool,
}

/// How a webhook or route answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Async,
    Sync,
    Stream,
}

impl Mode {
    fn of(request_type: &str) -> Mode {
        match request_type {
            "async" => Mode::Async,
            "sync_sse" | "stream" => Mode::Stream,
            _ => Mode::Sync,
        }
    }
}

/// The document for workspace `ws`; `None` when the filters select nothing.
pub fn document(
    ws: &str,
    req: &Request,
    server_url: Option<&str>,
    webhooks: &[WebhookDoc],
    routes: &[RouteDoc],
) -> Option<Value> {
    let mut hooks: Vec<&WebhookDoc> = webhooks.iter().filter(|w| req.wants_webhook(w.kind, &w.path)).collect();
    hooks.sort_by(|a, b| (&a.path, a.kind).cmp(&(&b.path, b.kind)));
    let mut routes: Vec<&RouteDoc> = routes.iter().filter(|r| req.wants_route(&r.path, &r.route_path)).collect();
    routes.sort_by(|a, b| (&a.route_path, &a.method).cmp(&(&b.route_path, &b.method)));
    if hooks.is_empty() && routes.is_empty() {
        return None;
    }
    let mut b = Builder::default();
    for w in hooks {
        b.webhook(ws, w);
    }
    for r in routes {
        b.route(ws, r);
    }
    let info = req
        .info
        .clone()
        .map(Value::Object)
        .unwrap_or_else(|| json!({"title": format!("Webhooks of the Orvanta workspace {ws}"), "version": "1.0.0"}));
    let mut doc = Map::new();
    doc.insert("openapi".into(), OPENAPI_VERSION.into());
    doc.insert("info".into(), info);
    if let Some(url) = req.url.as_deref().or(server_url) {
        doc.insert("servers".into(), json!([{"url": url.trim_end_matches('/')}]));
    }
    doc.insert("security".into(), json!([{BEARER: []}]));
    let tags: Vec<Value> = b.tags.into_iter().map(|(name, description)| tag(name, description)).collect();
    doc.insert("tags".into(), Value::Array(tags));
    doc.insert("paths".into(), Value::Object(b.paths));
    doc.insert("components".into(), components(b.schemas));
    Some(Value::Object(doc))
}

/// The document as text.
pub fn render(doc: &Value, format: Format) -> Result<String, String> {
    match format {
        Format::Json => serde_json::to_string_pretty(doc).map_err(|e| e.to_string()),
        Format::Yaml => yaml_serde::to_string(doc).map_err(|e| e.to_string()),
    }
}

fn tag(name: String, description: String) -> Value {
    if description.is_empty() {
        json!({"name": name})
    } else {
        json!({"name": name, "description": description})
    }
}

/// Paths, schemas and tags, gathered operation by operation.
#[derive(Default)]
struct Builder {
    paths: Map<String, Value>,
    schemas: Map<String, Value>,
    tags: std::collections::BTreeMap<String, String>,
    operation_ids: BTreeSet<String>,
    /// Each templated path by its shape (see [`shape`]).
    shapes: std::collections::BTreeMap<String, String>,
}

impl Builder {
    fn webhook(&mut self, ws: &str, w: &WebhookDoc) {
        let (kind, letter) = match w.kind {
            RunnableKind::Script => ("script", "p"),
            RunnableKind::Flow => ("flow", "f"),
        };
        let name = self.schema_name(&format!("{}_{}", capitalized(kind), ident(&w.path)));
        let body_schema = schema::sanitize(&w.schema, &name);
        let body = request_body(&name, &body_schema, &format!("The arguments of the {kind} {}.", w.path));
        self.schemas.insert(name.clone(), body_schema);
        self.tags.entry(w.path.clone()).or_insert_with(|| w.summary.clone());
        let title = if w.summary.trim().is_empty() { w.path.clone() } else { w.summary.clone() };
        for (mode, route, verb) in [
            (Mode::Async, "run", "Starts"),
            (Mode::Sync, "run_wait_result", "Runs"),
            (Mode::Stream, "run_and_stream", "Runs"),
        ] {
            let what = match mode {
                Mode::Async => format!("{verb} the {kind} `{}` and answers the new job's id at once.", w.path),
                Mode::Sync => format!("{verb} the {kind} `{}` and answers its result once it has finished.", w.path),
                Mode::Stream => {
                    format!("{verb} the {kind} `{}` and streams its progress and result as server-sent events.", w.path)
                }
            };
            let mut op = Map::new();
            op.insert("operationId".into(), self.operation_id(&format!("{route}_{kind}_{}", ident(&w.path))).into());
            op.insert("summary".into(), format!("{title} ({})", mode_word(mode)).into());
            op.insert("description".into(), join(&w.description, &what).into());
            op.insert("tags".into(), json!([w.path]));
            op.insert("security".into(), json!([{BEARER: []}]));
            op.insert("requestBody".into(), body.clone());
            op.insert("responses".into(), responses(mode, false, w.error_status));
            let mut item = Map::new();
            if mode != Mode::Async {
                // The GET form: the same run, its arguments in `?payload=`.
                let mut get = op.clone();
                get.remove("requestBody");
                let id = self.operation_id(&format!("{route}_{kind}_{}_get", ident(&w.path)));
                get.insert("operationId".into(), id.into());
                get.insert("parameters".into(), json!([payload_param(&name)]));
                item.insert("get".into(), Value::Object(get));
            }
            item.insert("post".into(), Value::Object(op));
            let path = format!("/api/w/{ws}/jobs/{route}/{letter}/{}", w.path);
            self.paths.insert(path, Value::Object(item));
        }
    }

    fn route(&mut self, ws: &str, r: &RouteDoc) {
        let method = r.method.to_ascii_lowercase();
        if !matches!(method.as_str(), "get" | "post" | "put" | "delete" | "patch") {
            return;
        }
        let (templated, params) = template(&r.route_path);
        let path = if r.workspaced { format!("/api/r/{ws}{templated}") } else { format!("/api/r{templated}") };
        // Paths that differ only in their parameters' names are one path to OpenAPI: the first route stays.
        let shape = shape(&path);
        let first = self.shapes.entry(shape).or_insert_with(|| path.clone());
        if *first != path || self.paths.get(&path).is_some_and(|item| item.get(&method).is_some()) {
            return;
        }
        let mode = Mode::of(&r.request_type);
        let summary = r.summary.clone().filter(|s| !s.trim().is_empty()).unwrap_or_else(|| r.route_path.clone());
        let what = format!(
            "The custom route `{} /api/r/{}` of `{}`, answered {}.",
            method.to_ascii_uppercase(),
            r.route_path.trim_start_matches('/'),
            r.path,
            match mode {
                Mode::Async => "at once with the new job's id",
                Mode::Sync => "with the result once the job has finished",
                Mode::Stream => "as server-sent events",
            }
        );
        let mut op = Map::new();
        let id = self.operation_id(&format!("{method}_route_{}", ident(r.route_path.trim_start_matches('/'))));
        op.insert("operationId".into(), id.into());
        op.insert("summary".into(), summary.into());
        op.insert("description".into(), join(r.description.as_deref().unwrap_or(""), &what).into());
        op.insert("tags".into(), json!([r.path]));
        op.insert("security".into(), if r.public { json!([]) } else { json!([{BEARER: []}]) });
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if method != "get" {
            let body = match &r.schema {
                Some(s) => {
                    let name = self.schema_name(&format!("Route_{method}_{}", ident(&r.route_path)));
                    let body_schema = schema::sanitize(s, &name);
                    let body = request_body(&name, &body_schema, "The request's arguments.");
                    self.schemas.insert(name, body_schema);
                    body
                }
                None => json!({"required": false, "content": {"application/json": {"schema": {}}}}),
            };
            op.insert("requestBody".into(), body);
        }
        op.insert("responses".into(), responses(mode, r.public, None));
        self.paths.entry(path).or_insert_with(|| json!({}))[method.as_str()] = Value::Object(op);
        self.tags.entry(r.path.clone()).or_default();
    }

    /// A schema name not taken yet (`[A-Za-z0-9._-]`, as OpenAPI requires).
    fn schema_name(&self, base: &str) -> String {
        unique(base, |n| self.schemas.contains_key(n))
    }

    fn operation_id(&mut self, base: &str) -> String {
        let id = unique(base, |n| self.operation_ids.contains(n));
        self.operation_ids.insert(id.clone());
        id
    }
}

fn unique(base: &str, taken: impl Fn(&str) -> bool) -> String {
    let mut name = base.to_owned();
    let mut n = 2;
    while taken(&name) {
        name = format!("{base}_{n}");
        n += 1;
    }
    name
}

/// `u/alice/hello-world` → `u_alice_hello-world`: a name part OpenAPI takes.
fn ident(path: &str) -> String {
    path.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '.') { c } else { '_' }).collect()
}

fn capitalized(word: &str) -> String {
    let mut c = word.chars();
    c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
}

fn mode_word(mode: Mode) -> &'static str {
    match mode {
        Mode::Async => "async",
        Mode::Sync => "sync",
        Mode::Stream => "stream",
    }
}

/// The runnable's own description, then what the operation does.
fn join(own: &str, what: &str) -> String {
    if own.trim().is_empty() {
        what.to_owned()
    } else {
        format!("{}\n\n{what}", own.trim_end())
    }
}

fn request_body(name: &str, schema: &Value, description: &str) -> Value {
    json!({
        "description": description,
        "required": schema::required(schema),
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{name}")}}}
    })
}

/// `?payload=`: the arguments of a GET run, a JSON object in base64.
fn payload_param(schema_name: &str) -> Value {
    json!({
        "name": "payload",
        "in": "query",
        "required": false,
        "description": "The arguments: the JSON object, base64-encoded (URL-safe or standard alphabet, padding optional). Without it the arguments are {}.",
        "schema": {
            "type": "string",
            "contentEncoding": "base64",
            "contentMediaType": "application/json",
            "contentSchema": {"$ref": format!("#/components/schemas/{schema_name}")}
        }
    })
}

/// `orders/:id/items` → (`/orders/{id}/items`, the `id` path parameter).
fn template(route_path: &str) -> (String, Vec<Value>) {
    let mut path = String::new();
    let mut params = Vec::new();
    let mut seen = BTreeSet::new();
    for segment in route_path.trim_start_matches('/').split('/') {
        path.push('/');
        match segment.strip_prefix(':').filter(|n| !n.is_empty() && seen.insert(n.to_string())) {
            Some(name) => {
                let name = name.replace(['{', '}'], "_");
                path.push_str(&format!("{{{name}}}"));
                params.push(json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}));
            }
            None => path.push_str(&segment.replace('{', "%7B").replace('}', "%7D")),
        }
    }
    (path, params)
}

/// A templated path with its parameters' names left out: `/a/{x}` → `/a/{}`.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('{');
            }
            '}' => {
                in_param = false;
                out.push('}');
            }
            _ if in_param => {}
            c => out.push(c),
        }
    }
    out
}

/// The answers of one operation: its success, then the errors it can meet.
fn responses(mode: Mode, public: bool, error_status: Option<u16>) -> Value {
    let mut r = Map::new();
    match mode {
        Mode::Async => {
            r.insert(
                "201".into(),
                json!({
                    "description": "The job is stored and will run; the body is its id.",
                    "headers": {"x-orvanta-job-id": {"$ref": "#/components/headers/JobId"}},
                    "content": {"text/plain": {"schema": {"type": "string", "format": "uuid"}}}
                }),
            );
        }
        Mode::Sync => {
            r.insert(
                "200".into(),
                json!({
                    "description": "The job's result as JSON; a failed job answers its error here too (unless it sets an error status). A runnable may shape its own answer with the `wm_status_code`, `wm_content_type` and `wm_headers` keys of its result.",
                    "headers": {"x-orvanta-job-id": {"$ref": "#/components/headers/JobId"}},
                    "content": {"application/json": {"schema": {}}}
                }),
            );
        }
        Mode::Stream => {
            r.insert(
                "200".into(),
                json!({
                    "description": "Server-sent events of the job until it ends; the last carries its result.",
                    "headers": {"x-orvanta-job-id": {"$ref": "#/components/headers/JobId"}},
                    "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/Event"}}}
                }),
            );
        }
    }
    let mut errors = vec![("400", "BadRequest"), ("404", "NotFound"), ("413", "PayloadTooLarge")];
    if !public {
        errors.extend([("401", "Unauthorized"), ("403", "Forbidden"), ("429", "TooManyRequests")]);
    }
    errors.push(("503", "Unavailable"));
    if mode == Mode::Sync {
        errors.push(("504", "Timeout"));
    }
    errors.sort();
    for (code, name) in errors {
        r.insert(code.into(), json!({"$ref": format!("#/components/responses/{name}")}));
    }
    if let Some(code) = error_status.filter(|c| (100..=599).contains(c) && *c != 200 && mode != Mode::Async) {
        r.insert(
            code.to_string(),
            json!({
                "description": "The job failed: the body is its error (the script's error_status_code), or an error of the request.",
                "headers": {"x-orvanta-job-id": {"$ref": "#/components/headers/JobId"}},
                "content": {"application/json": {"schema": {}}}
            }),
        );
    }
    Value::Object(r)
}

fn components(schemas: Map<String, Value>) -> Value {
    let mut all = Map::new();
    all.insert(
        "Error".into(),
        json!({
            "type": "object",
            "description": "Every error answer of Orvanta.",
            "required": ["error"],
            "properties": {"error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "description": "What went wrong, in kebab-case (e.g. not-found)."},
                    "message": {"type": "string", "description": "What was wrong, and what to do."},
                    "job_id": {"type": "string", "format": "uuid", "description": "The job, when one was started."}
                }
            }}
        }),
    );
    all.insert(
        "Event".into(),
        json!({
            "type": "object",
            "description": "One server-sent event (OpenAPI 3.1 describes a stream by its events).",
            "properties": {
                "event": {"type": "string"},
                "data": {"type": "string", "description": "JSON: `{\"type\": \"update\", \"completed\": bool, \"only_result\": …}`, or a ping."},
                "id": {"type": "string"},
                "retry": {"type": "integer", "minimum": 0}
            }
        }),
    );
    all.extend(schemas);
    let error = |description: &str| json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}});
    json!({
        "securitySchemes": {BEARER: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An Orvanta token (`Authorization: Bearer orv_…`): a user's, or a webhook-specific one that may run this runnable."
        }},
        "headers": {"JobId": {
            "description": "The id of the job this request started.",
            "schema": {"type": "string", "format": "uuid"}
        }},
        "responses": {
            "BadRequest": error("The request is malformed (its body, a query parameter); the message says what to change."),
            "Unauthorized": error("No valid token."),
            "Forbidden": error("The token may not do this (its scopes, or the caller's role)."),
            "NotFound": error("No such runnable, or the caller may not see it."),
            "PayloadTooLarge": error("The body is over the instance's limit."),
            "TooManyRequests": error("Too many failed authentications; wait as Retry-After says."),
            "Unavailable": error("The database is down, or no worker serves the job's tag; the job, if started, stays queued."),
            "Timeout": error("The job did not finish within the sync timeout; it goes on (read it by its id).")
        },
        "schemas": all
    })
}

#[cfg(test)]
mod tests;
