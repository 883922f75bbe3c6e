//! From a run request to the job's arguments (contract §4): the body by
//! content type, wrapping, `raw`, included headers and query parameters,
//! CloudEvents, and files to the workspace object storage.
//!
//! [`build`] works in two phases so that a refused request stores nothing:
//! first the whole request is read and checked, files are only *planned*
//! ([`Uploads`]); then, when every check has passed, the planned files are
//! written and the arguments answered.
//!
//! - `content`: the body by content type (JSON, other text, binary).
//! - `form`: `application/x-www-form-urlencoded`.
//! - `multipart`: `multipart/form-data`, files to object storage.
//! - `cloudevents`: CloudEvents 1.0, structured, binary and batch modes.
//! - `headers`: `include_header`, `INCLUDE_HEADERS`, `ce-*` header decoding.

mod cloudevents;
pub use cloudevents::METADATA;
mod content;
mod form;
mod headers;
mod multipart;

use crate::error::{ApiError, ApiResult};
use crate::objects::{Object, ObjectStore};
use axum::body::Bytes;
use axum::http::{HeaderMap, Method};
use orvanta_core::WorkspaceId;
use serde_json::{Map, Value};

/// What a run request brings.
pub struct RequestInput<'a> {
    pub method: &'a Method,
    pub headers: &'a HeaderMap,
    /// The query string, decoded, in order.
    pub query: &'a [(String, String)],
    pub body: Bytes,
    pub ws: &'a WorkspaceId,
}

/// The arguments of one job, or of one job per event of a CloudEvents batch.
#[derive(Debug, Clone, PartialEq)]
pub enum RunArgs {
    One(Map<String, Value>),
    Batch(Vec<Map<String, Value>>),
}

/// Settings of the instance that shape every request's arguments.
#[derive(Debug, Clone, Default)]
pub struct ArgsSettings {
    /// `INCLUDE_HEADERS`: headers added as arguments to every request.
    pub include_headers: Vec<String>,
}

/// The query parameters of §4 that shape the arguments.
#[derive(Debug, Default)]
struct Options {
    /// `wrap_body=true`: a JSON object body becomes `{"body": {...}}` too.
    wrap_body: bool,
    /// `raw=true`: add `raw_string`, the body text byte for byte.
    raw: bool,
    /// `include_header=a,b` (may be repeated).
    include_header: Vec<String>,
    /// `include_query=a,b` (may be repeated).
    include_query: Vec<String>,
}

impl Options {
    fn from_query(query: &[(String, String)]) -> Self {
        let flag = |v: &str| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "");
        let list =
            |v: &str| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<_>>();
        let mut o = Options::default();
        for (k, v) in query {
            match k.as_str() {
                "wrap_body" => o.wrap_body = flag(v),
                "raw" => o.raw = flag(v),
                "include_header" => o.include_header.extend(list(v)),
                "include_query" => o.include_query.extend(list(v)),
                _ => {}
            }
        }
        o
    }
}

/// Files a request brings, planned while the request is checked and written
/// only once every check has passed.
#[derive(Default)]
pub(crate) struct Uploads {
    planned: Vec<(String, Object)>,
}

impl Uploads {
    /// Plans a file and answers the argument that refers to it, `{"s3": "<key>"}`.
    fn add(&mut self, name: &str, bytes: Bytes, content_type: Option<String>) -> Value {
        let key = crate::objects::upload_key(name);
        let content_type = Some(content_type.unwrap_or_else(|| "application/octet-stream".into()));
        self.planned.push((key.clone(), Object { bytes, content_type }));
        serde_json::json!({ "s3": key })
    }

    async fn write(self, objects: &dyn ObjectStore, ws: &WorkspaceId) -> ApiResult<()> {
        for (key, object) in self.planned {
            objects.put(ws, &key, object).await?;
        }
        Ok(())
    }
}

/// Builds the arguments of a run request.
pub async fn build(input: RequestInput<'_>, objects: &dyn ObjectStore, settings: &ArgsSettings) -> ApiResult<RunArgs> {
    let opts = Options::from_query(input.query);
    if let Some(name) = opts.include_header.iter().find(|n| headers::is_identity(n)) {
        return Err(ApiError::BadRequest(format!(
            "include_header={name} is refused: it carries a credential or a proxy's identity of the caller, \
             which would be stored in the job's arguments; pass what the script needs in the body"
        )));
    }
    let mut uploads = Uploads::default();
    let (mut list, raw_text, batch) = if *input.method == Method::GET {
        let payload = match input.query.iter().find(|(k, _)| k == "payload") {
            Some((_, p)) => Bytes::from(decode_payload(p)?),
            None => Bytes::new(),
        };
        let value = content::json_value(&payload).map_err(|e| {
            ApiError::BadRequest(format!(
                "the payload query parameter is base64 but not JSON ({e}); encode a JSON object, e.g. btoa(JSON.stringify({{\"a\": 1}}))"
            ))
        })?;
        let args = value.map(|v| into_args(v, opts.wrap_body)).unwrap_or_default();
        (vec![args], opts.raw.then(|| text_of(&payload)).flatten(), false)
    } else {
        let body = &input.body;
        let ctx = content::Body { headers: input.headers, bytes: body, wrap_body: opts.wrap_body };
        let (list, batch) = match content::Kind::of(input.headers) {
            content::Kind::CloudEvent => (vec![cloudevents::structured(body, opts.wrap_body, &mut uploads)?], false),
            content::Kind::CloudEventBatch => (cloudevents::batch(body, opts.wrap_body, &mut uploads)?, true),
            _ if input.headers.contains_key("ce-specversion") => {
                (vec![cloudevents::binary(&ctx, &mut uploads).await?], false)
            }
            _ => (vec![content::args(&ctx, &mut uploads).await?], false),
        };
        (list, opts.raw.then(|| text_of(body)).flatten(), batch)
    };
    let extras = extras(&input, &opts, settings, raw_text);
    for args in &mut list {
        args.extend(extras.clone());
        check_depth(args)?;
    }
    // Every check has passed: from here on only the store can fail (503).
    uploads.write(objects, input.ws).await?;
    Ok(if batch { RunArgs::Batch(list) } else { RunArgs::One(list.pop().unwrap_or_default()) })
}

/// 400 unless the arguments nest at most [`orvanta_core::json::MAX_DEPTH`]
/// levels, the `{"body": ...}` wrapper included: what is stored must read back.
fn check_depth(args: &Map<String, Value>) -> ApiResult<()> {
    let limit = orvanta_core::json::MAX_DEPTH;
    let depth = 1 + args.values().map(orvanta_core::json::depth).max().unwrap_or(0);
    if depth > limit {
        return Err(ApiError::BadRequest(format!(
            "the arguments would nest {depth} levels deep (a body that is not an object is wrapped as {{\"body\": ...}}, one more level); at most {limit} are accepted: flatten the data"
        )));
    }
    Ok(())
}

/// The body as text, when it is UTF-8 (for `raw_string`).
fn text_of(body: &[u8]) -> Option<String> {
    std::str::from_utf8(body).ok().map(str::to_owned)
}

/// The arguments the caller asked for beside the body: `raw_string`, headers,
/// query parameters. They win over body keys of the same name, so that a body
/// cannot forge, say, the signature header a script checks.
fn extras(
    input: &RequestInput<'_>,
    opts: &Options,
    settings: &ArgsSettings,
    raw_text: Option<String>,
) -> Map<String, Value> {
    let mut out = Map::new();
    if let Some(text) = raw_text {
        out.insert("raw_string".into(), Value::String(text));
    }
    let names = settings.include_headers.iter().chain(&opts.include_header);
    out.extend(headers::header_args(input.headers, names));
    for name in &opts.include_query {
        // The token is a credential: it never becomes a (readable, stored) argument.
        if name == "token" {
            continue;
        }
        if let Some((_, v)) = input.query.iter().find(|(k, _)| k == name) {
            out.insert(name.clone(), Value::String(v.clone()));
        }
    }
    out
}

/// A JSON value as arguments: an object is the arguments (unless `wrap`);
/// anything else is `{"body": value}`.
fn into_args(value: Value, wrap: bool) -> Map<String, Value> {
    match value {
        Value::Object(m) if !wrap => m,
        other => Map::from_iter([("body".to_owned(), other)]),
    }
}

/// Adds a string to an argument: the first makes a string, the next ones an array.
fn push_text(args: &mut Map<String, Value>, name: &str, value: String) {
    match args.get_mut(name) {
        None => {
            args.insert(name.to_owned(), Value::String(value));
        }
        Some(Value::Array(a)) => a.push(Value::String(value)),
        Some(other) => *other = Value::Array(vec![other.take(), Value::String(value)]),
    }
}

/// Adds a file reference to an argument, which is always an array.
fn push_file(args: &mut Map<String, Value>, name: &str, file: Value) {
    match args.get_mut(name) {
        None => {
            args.insert(name.to_owned(), Value::Array(vec![file]));
        }
        Some(Value::Array(a)) => a.push(file),
        Some(other) => *other = Value::Array(vec![other.take(), file]),
    }
}

/// Arguments from a JSON body: an object is the arguments; any other value
/// is wrapped as `{"body": value}`; an empty body is `{}`.
pub fn args_from_json(body: &[u8]) -> ApiResult<Map<String, Value>> {
    let value = content::json_value(body).map_err(|e| content::invalid_json("the request body", &e))?;
    Ok(value.map(|v| into_args(v, false)).unwrap_or_default())
}

/// `payload`: base64 of JSON, standard or URL-safe alphabet, padding optional.
pub fn decode_payload(p: &str) -> ApiResult<Vec<u8>> {
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    use base64::Engine;
    // A `+` that became a space through form decoding is put back.
    let cleaned: String = p.trim_end_matches('=').chars().map(|c| if c == ' ' { '+' } else { c }).collect();
    STANDARD_NO_PAD.decode(&cleaned).or_else(|_| URL_SAFE_NO_PAD.decode(&cleaned)).map_err(|_| {
        ApiError::BadRequest(
            "the payload query parameter is not base64; encode the JSON arguments with base64 (standard or URL-safe)"
                .into(),
        )
    })
}

/// Splits and decodes a query string into its pairs, in order.
/// A form-encoded body as arguments (repeats become arrays).
pub fn form_args(body: &[u8]) -> Map<String, Value> {
    form::args(body)
}

pub fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    query
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (crate::auth::percent_decode(k), crate::auth::percent_decode(v)),
            None => (crate::auth::percent_decode(kv), String::new()),
        })
        .collect()
}

#[cfg(test)]
mod tests;
