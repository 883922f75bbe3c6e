//! The body of `openapi/generate` and `openapi/download`, in Windmill's shape,
//! read into checked values: every refusal names the field, so a caller (or
//! Windmill's UI) knows what to change.
//!
//! Windmill calls its filters `*_regex` but treats them as globs: `*` is any
//! run of characters (`/` included), every other character stands for itself.
//! Orvanta does the same, so a filter selects here what it selects there. A
//! pattern with a character no path can hold (`[a-z]+`, `^u/.*$`) is refused
//! rather than silently matching nothing: it was meant as a regex.

use serde_json::{Map, Value};

/// How the document is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Yaml,
}

impl Format {
    /// The file extension of a download.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Yaml => "yaml",
        }
    }
}

/// A script or a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RunnableKind {
    Script,
    Flow,
}

/// One of `webhook_filters`: runnables of one kind whose path matches
/// `{owner}/{owner_value}/{path}` (`owner`: `u`, `f` or `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookFilter {
    pub kind: RunnableKind,
    glob: String,
}

impl WebhookFilter {
    pub fn matches(&self, kind: RunnableKind, path: &str) -> bool {
        self.kind == kind && glob_match(&self.glob, path)
    }
}

/// One of `http_route_filters`: routes whose path matches `f/{folder}/{path}`
/// and whose route path matches `route_path` (both globs, as in Windmill).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteFilter {
    path_glob: String,
    route_glob: String,
}

impl RouteFilter {
    pub fn matches(&self, path: &str, route_path: &str) -> bool {
        glob_match(&self.path_glob, path) && glob_match(&self.route_glob, route_path.trim_start_matches('/'))
    }
}

/// What the caller asked for, checked.
#[derive(Debug, Clone)]
pub struct Request {
    /// The document's `info` object, as it will be written.
    pub info: Option<Map<String, Value>>,
    /// The server the document names (`servers[0].url`), if any.
    pub url: Option<String>,
    pub format: Format,
    pub webhook_filters: Vec<WebhookFilter>,
    pub route_filters: Vec<RouteFilter>,
}

impl Request {
    /// Whether any webhook filter selects this runnable.
    pub fn wants_webhook(&self, kind: RunnableKind, path: &str) -> bool {
        self.webhook_filters.iter().any(|f| f.matches(kind, path))
    }

    /// Whether any route filter selects this route.
    pub fn wants_route(&self, path: &str, route_path: &str) -> bool {
        self.route_filters.iter().any(|f| f.matches(path, route_path))
    }

    /// Whether the filters can select runnables of `kind` at all.
    pub fn asks_for(&self, kind: RunnableKind) -> bool {
        self.webhook_filters.iter().any(|f| f.kind == kind)
    }
}

/// Filters beyond this many are refused: each is tried on every runnable.
pub const MAX_FILTERS: usize = 100;
/// The longest pattern taken (paths are at most 255 characters).
const MAX_PATTERN: usize = 255;

/// Reads a request body; the error names the field and what it takes.
pub fn parse(body: &Value) -> Result<Request, String> {
    let Some(body) = body.as_object() else {
        return Err("the body must be a JSON object: {info?, url?, openapi_spec_format?, http_route_filters?, webhook_filters?}".into());
    };
    let format = match body.get("openapi_spec_format") {
        None | Some(Value::Null) => Format::Yaml,
        Some(Value::String(s)) if s == "yaml" => Format::Yaml,
        Some(Value::String(s)) if s == "json" => Format::Json,
        Some(other) => return Err(format!("openapi_spec_format must be \"json\" or \"yaml\", not {other}")),
    };
    let webhook_filters = list(body, "webhook_filters")?
        .iter()
        .enumerate()
        .map(|(i, f)| webhook_filter(&format!("webhook_filters[{i}]"), f))
        .collect::<Result<Vec<_>, _>>()?;
    let route_filters = list(body, "http_route_filters")?
        .iter()
        .enumerate()
        .map(|(i, f)| route_filter(&format!("http_route_filters[{i}]"), f))
        .collect::<Result<Vec<_>, _>>()?;
    if webhook_filters.is_empty() && route_filters.is_empty() {
        return Err("give webhook_filters and/or http_route_filters: the document describes what they select, e.g. \
             webhook_filters: [{\"user_or_folder_regex\": \"*\", \"user_or_folder_regex_value\": \"*\", \"path\": \"*\", \"runnable_kind\": \"script\"}]"
            .into());
    }
    let url = match body.get("url") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(v) => Some(http_url("url", v)?),
    };
    let info = match body.get("info") {
        None | Some(Value::Null) => None,
        Some(v) => Some(info(v)?),
    };
    Ok(Request { info, url, format, webhook_filters, route_filters })
}

fn list<'a>(body: &'a Map<String, Value>, field: &str) -> Result<&'a [Value], String> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(items)) if items.len() > MAX_FILTERS => {
            Err(format!("{field} has {} filters; at most {MAX_FILTERS} are taken", items.len()))
        }
        Some(Value::Array(items)) => Ok(items),
        Some(_) => Err(format!("{field} must be an array of filters")),
    }
}

fn object<'a>(field: &str, v: &'a Value) -> Result<&'a Map<String, Value>, String> {
    v.as_object().ok_or_else(|| format!("{field} must be a JSON object"))
}

fn string<'a>(field: &str, obj: &'a Map<String, Value>, key: &str) -> Result<&'a str, String> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s),
        None | Some(Value::Null) => Err(format!("{field}.{key} is missing")),
        Some(_) => Err(format!("{field}.{key} must be a string")),
    }
}

/// A glob of a path: what paths are made of, and `*`.
fn path_glob(field: &str, pattern: &str) -> Result<String, String> {
    glob(field, pattern, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.' | '/'))
}

/// A glob of a route path: route paths also hold `:params` and capitals.
fn route_glob(field: &str, pattern: &str) -> Result<String, String> {
    glob(field, pattern, |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':' | '~' | '@'))
}

fn glob(field: &str, pattern: &str, allowed: impl Fn(char) -> bool) -> Result<String, String> {
    if pattern.chars().count() > MAX_PATTERN {
        return Err(format!("{field} is longer than {MAX_PATTERN} characters"));
    }
    if let Some(c) = pattern.chars().find(|&c| c != '*' && !allowed(c)) {
        return Err(format!(
            "{field} '{pattern}' has the character {c:?}, which no path holds: filters are globs, where '*' \
             stands for any characters and every other character for itself (e.g. \"hello*\"), not regular expressions"
        ));
    }
    // An empty pattern selects everything, as '*' does, rather than nothing.
    Ok(if pattern.is_empty() { "*".to_owned() } else { pattern.to_owned() })
}

fn webhook_filter(field: &str, v: &Value) -> Result<WebhookFilter, String> {
    let f = object(field, v)?;
    let owner = match string(field, f, "user_or_folder_regex")? {
        o @ ("u" | "f" | "*") => o,
        other => {
            return Err(format!(
                "{field}.user_or_folder_regex must be \"u\" (users' paths), \"f\" (folders') or \"*\" (both), not {other:?}"
            ))
        }
    };
    let value =
        path_glob(&format!("{field}.user_or_folder_regex_value"), string(field, f, "user_or_folder_regex_value")?)?;
    let path = path_glob(&format!("{field}.path"), string(field, f, "path")?)?;
    let kind = match string(field, f, "runnable_kind")? {
        "script" => RunnableKind::Script,
        "flow" => RunnableKind::Flow,
        other => return Err(format!("{field}.runnable_kind must be \"script\" or \"flow\", not {other:?}")),
    };
    Ok(WebhookFilter { kind, glob: format!("{owner}/{value}/{path}") })
}

fn route_filter(field: &str, v: &Value) -> Result<RouteFilter, String> {
    let f = object(field, v)?;
    let folder = path_glob(&format!("{field}.folder_regex"), string(field, f, "folder_regex")?)?;
    let path = path_glob(&format!("{field}.path_regex"), string(field, f, "path_regex")?)?;
    let route = route_glob(&format!("{field}.route_path_regex"), string(field, f, "route_path_regex")?)?;
    Ok(RouteFilter { path_glob: format!("f/{folder}/{path}"), route_glob: route.trim_start_matches('/').to_owned() })
}

/// An absolute `http` or `https` URL.
fn http_url(field: &str, v: &Value) -> Result<String, String> {
    let s = v.as_str().ok_or_else(|| format!("{field} must be a string: an absolute http(s) URL"))?;
    match reqwest::Url::parse(s) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(s.to_owned()),
        _ => Err(format!("{field} '{s}' is not an absolute http(s) URL, e.g. https://orvanta.example.com")),
    }
}

/// Windmill's `info`, as OpenAPI's Info object: title and version required;
/// description, terms of service, contact and license optional.
fn info(v: &Value) -> Result<Map<String, Value>, String> {
    let i = object("info", v)?;
    let mut out = Map::new();
    out.insert("title".into(), string("info", i, "title")?.into());
    out.insert("version".into(), string("info", i, "version")?.into());
    if let Some(d) = optional_string("info", i, "description")? {
        out.insert("description".into(), d.into());
    }
    let terms = i.get("termsOfService").or_else(|| i.get("terms_of_service"));
    if let Some(t) = terms.filter(|t| !is_blank(t)) {
        out.insert("termsOfService".into(), http_url("info.terms_of_service", t)?.into());
    }
    if let Some(c) = i.get("contact").filter(|c| !c.is_null()) {
        let c = object("info.contact", c)?;
        let mut contact = Map::new();
        if let Some(name) = optional_string("info.contact", c, "name")? {
            contact.insert("name".into(), name.into());
        }
        if let Some(u) = c.get("url").filter(|u| !is_blank(u)) {
            contact.insert("url".into(), http_url("info.contact.url", u)?.into());
        }
        if let Some(email) = optional_string("info.contact", c, "email")? {
            if !email.contains('@') || email.chars().any(char::is_whitespace) {
                return Err(format!("info.contact.email '{email}' is not an email address"));
            }
            contact.insert("email".into(), email.into());
        }
        out.insert("contact".into(), contact.into());
    }
    if let Some(l) = i.get("license").filter(|l| !l.is_null()) {
        let l = object("info.license", l)?;
        let mut license = Map::new();
        license.insert("name".into(), string("info.license", l, "name")?.into());
        let identifier = optional_string("info.license", l, "identifier")?;
        let url = l.get("url").filter(|u| !is_blank(u));
        if identifier.is_some() && url.is_some() {
            return Err("info.license takes an identifier (SPDX) or a url, not both (OpenAPI 3.1)".into());
        }
        if let Some(id) = identifier {
            license.insert("identifier".into(), id.into());
        }
        if let Some(u) = url {
            license.insert("url".into(), http_url("info.license.url", u)?.into());
        }
        out.insert("license".into(), license.into());
    }
    Ok(out)
}

fn is_blank(v: &Value) -> bool {
    v.is_null() || v.as_str() == Some("")
}

/// A string field that may be absent, null or empty (all three: absent).
fn optional_string<'a>(field: &str, obj: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, String> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("{field}.{key} must be a string")),
    }
}

/// Whether `text` matches `pattern`, where `*` is any run of characters.
/// Greedy with one backtrack point: linear in practice, never exponential.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hook(owner: &str, value: &str, path: &str, kind: &str) -> Value {
        json!({"user_or_folder_regex": owner, "user_or_folder_regex_value": value, "path": path, "runnable_kind": kind})
    }

    #[test]
    fn globs_match_as_windmill_does() {
        assert!(glob_match("*", ""));
        assert!(glob_match("u/*/*", "u/alice/hello"));
        assert!(glob_match("*/*/*", "f/team/deep/er"));
        assert!(glob_match("f/team/hel*o", "f/team/hello"));
        assert!(!glob_match("f/team/hel*o", "f/team/help"));
        assert!(glob_match("f/*/a*b*c", "f/x/aXbYbZc"));
        assert!(!glob_match("u/alice/hello", "u/alice/hello2"));
        assert!(glob_match("u/alice/hello*", "u/alice/hello2"));
    }

    #[test]
    fn webhook_filters_select_by_owner_path_and_kind() {
        let req = parse(&json!({"webhook_filters": [hook("u", "alice", "*", "script"), hook("f", "*", "b*", "flow")]}))
            .unwrap();
        assert!(req.wants_webhook(RunnableKind::Script, "u/alice/x"));
        assert!(!req.wants_webhook(RunnableKind::Flow, "u/alice/x"));
        assert!(!req.wants_webhook(RunnableKind::Script, "u/bob/x"));
        assert!(req.wants_webhook(RunnableKind::Flow, "f/team/beta"));
        assert!(!req.wants_webhook(RunnableKind::Flow, "f/team/alpha"));
        assert!(req.asks_for(RunnableKind::Flow));
        assert_eq!(req.format, Format::Yaml, "Windmill's default format");
    }

    #[test]
    fn route_filters_take_folder_path_and_route() {
        let f = json!({"folder_regex": "team", "path_regex": "*", "route_path_regex": "/orders/*"});
        let req = parse(&json!({"http_route_filters": [f]})).unwrap();
        assert!(req.wants_route("f/team/orders", "orders/:id"));
        assert!(req.wants_route("f/team/orders", "/orders/:id"));
        assert!(!req.wants_route("f/other/orders", "orders/:id"));
        assert!(!req.wants_route("f/team/orders", "users/:id"));
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (json!([]), "JSON object"),
            (json!({}), "give webhook_filters"),
            (json!({"webhook_filters": []}), "give webhook_filters"),
            (json!({"webhook_filters": {}}), "webhook_filters must be an array"),
            (json!({"webhook_filters": [hook("x", "*", "*", "script")]}), "webhook_filters[0].user_or_folder_regex"),
            (json!({"webhook_filters": [hook("u", "*", "^u/.*$", "script")]}), "webhook_filters[0].path"),
            (json!({"webhook_filters": [hook("u", "[a-z]+", "*", "script")]}), "user_or_folder_regex_value"),
            (json!({"webhook_filters": [hook("u", "*", "*", "app")]}), "webhook_filters[0].runnable_kind"),
            (json!({"webhook_filters": [{"user_or_folder_regex": "u"}]}), "user_or_folder_regex_value is missing"),
            (json!({"http_route_filters": [{"folder_regex": "*", "path_regex": "*"}]}), "route_path_regex is missing"),
            (
                json!({"webhook_filters": [hook("u", "*", "*", "flow")], "openapi_spec_format": "xml"}),
                "openapi_spec_format",
            ),
            (json!({"webhook_filters": [hook("u", "*", "*", "flow")], "url": "not a url"}), "url"),
            (
                json!({"webhook_filters": [hook("u", "*", "*", "flow")], "info": {"title": "t"}}),
                "info.version is missing",
            ),
            (
                json!({"webhook_filters": [hook("u", "*", "*", "flow")], "info": {"title": "t", "version": "1", "license": {"name": "MIT", "identifier": "MIT", "url": "https://x.org"}}}),
                "info.license",
            ),
        ];
        for (body, needle) in cases {
            let err = parse(&body).expect_err(&body.to_string());
            assert!(err.contains(needle), "{body}: {err:?} does not name {needle:?}");
        }
        let many: Vec<Value> = (0..=MAX_FILTERS).map(|_| hook("u", "*", "*", "script")).collect();
        assert!(parse(&json!({"webhook_filters": many})).unwrap_err().contains("at most"));
    }

    #[test]
    fn info_becomes_openapi_info() {
        let body = json!({
            "webhook_filters": [hook("*", "*", "*", "script")],
            "openapi_spec_format": "json",
            "url": "https://orvanta.example.com",
            "info": {"title": "T", "version": "2", "description": "", "terms_of_service": "https://t.example.com",
                     "contact": {"name": "Ops", "email": "ops@example.com", "url": ""},
                     "license": {"name": "MIT", "identifier": "MIT"}},
        });
        let req = parse(&body).unwrap();
        assert_eq!(req.format, Format::Json);
        assert_eq!(req.url.as_deref(), Some("https://orvanta.example.com"));
        assert_eq!(
            Value::Object(req.info.unwrap()),
            json!({"title": "T", "version": "2", "termsOfService": "https://t.example.com",
                   "contact": {"name": "Ops", "email": "ops@example.com"},
                   "license": {"name": "MIT", "identifier": "MIT"}})
        );
    }
}
