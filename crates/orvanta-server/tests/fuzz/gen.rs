//! The generator of hostile requests: for a route of the table, a valid
//! request (the right method, real parameters, a well-formed body), then a
//! few mutations of any part of it — method, path parameters, query, headers,
//! token, body of any content type. Seeded, so a failure can be replayed.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Deserialize;
use serde_json::{json, Value};

/// A route as `orvanta routes` prints it.
#[derive(Debug, Clone, Deserialize)]
pub struct Route {
    pub path: String,
    pub methods: Vec<String>,
}

/// What the generator draws valid values from, made by the setup.
#[derive(Debug, Clone)]
pub struct Ctx {
    pub token: String,
    /// A token scoped to running one script (a webhook-specific token).
    pub scoped_token: String,
    /// The prefix of a throwaway token (the delete route may take it).
    pub spare_prefix: String,
    /// Scripts to run, with their hashes; the first is cheap (bash).
    pub scripts: Vec<(String, String)>,
    /// A path that archive and delete may take.
    pub victim: String,
    pub job_ids: Vec<String>,
    pub file_keys: Vec<String>,
}

/// One request to send.
#[derive(Debug, Clone)]
pub struct Req {
    /// The route of the table it was made from.
    pub route: String,
    pub method: String,
    /// Path and query, already percent-encoded where needed.
    pub target: String,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// Send over a raw socket with broken framing instead of an HTTP client.
    pub raw: Option<RawBreak>,
}

/// How a raw request breaks the HTTP framing.
#[derive(Debug, Clone, Copy)]
pub enum RawBreak {
    BadChunkSize,
    ShortBody,
    GarbageRequestLine,
    HugeHeader,
    BadHeaderBytes,
}

impl Req {
    /// A one-line description to replay the request by hand.
    pub fn describe(&self) -> String {
        let body = String::from_utf8_lossy(&self.body[..self.body.len().min(160)]).into_owned();
        let heads: Vec<String> = self
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(&v[..v.len().min(60)])))
            .collect();
        format!(
            "{} {} [{}] raw={:?} body({}B)={body:?}",
            self.method,
            self.target,
            heads.join("; "),
            self.raw,
            self.body.len()
        )
    }
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"];

/// Draws one request for `route`.
pub fn request(rng: &mut StdRng, ctx: &Ctx, route: &Route) -> Req {
    let mut method = route.methods.choose(rng).cloned().unwrap_or_else(|| "GET".into());
    // The valid request first.
    let destructive = route.path.contains("/delete/") || route.path.contains("/archive/");
    let mut path = fill_path(rng, ctx, &route.path, destructive);
    let mut query = valid_query(rng, ctx, &route.path);
    let mut headers: Vec<(String, Vec<u8>)> =
        vec![("authorization".into(), format!("Bearer {}", ctx.token).into_bytes())];
    let (ct, mut body) = valid_body(rng, ctx, &route.path);
    if let Some(ct) = ct {
        headers.push(("content-type".into(), ct.into_bytes()));
    }
    // Then mutations of any part.
    let mutations = rng.gen_range(0..=4);
    for _ in 0..mutations {
        match rng.gen_range(0..100) {
            0..=9 => method = random_method(rng),
            10..=24 => {
                path = fill_path(rng, ctx, &route.path, true).replace('/', if rng.gen_bool(0.5) { "/" } else { "//" })
            }
            25..=29 => path = garbage_path(rng),
            30..=44 => query.push(hostile_query(rng)),
            45..=54 => headers.push(hostile_header(rng)),
            55..=64 => auth(rng, ctx, &mut headers, &mut query),
            65..=79 => body = mutate_bytes(rng, body),
            80..=94 => {
                let (ct, b) = hostile_body(rng);
                headers.retain(|(k, _)| k != "content-type");
                if let Some(ct) = ct {
                    headers.push(("content-type".into(), ct.into_bytes()));
                }
                body = b;
            }
            _ => headers.retain(|(k, _)| k != "content-type"),
        }
    }
    let target = if query.is_empty() { path } else { format!("{path}?{}", query.join("&")) };
    let raw = rng.gen_bool(0.03).then(|| {
        *[
            RawBreak::BadChunkSize,
            RawBreak::ShortBody,
            RawBreak::GarbageRequestLine,
            RawBreak::HugeHeader,
            RawBreak::BadHeaderBytes,
        ]
        .choose(rng)
        .unwrap()
    });
    Req { route: route.path.clone(), method, target, headers, body, raw }
}

fn random_method(rng: &mut StdRng) -> String {
    if rng.gen_bool(0.8) {
        METHODS.choose(rng).unwrap().to_string()
    } else {
        ["FOO", "PROPFIND", "TRACE", "CONNECTX", "get"].choose(rng).unwrap().to_string()
    }
}

/// The route's path with each `{param}` / `{*param}` filled, mostly with real values.
fn fill_path(rng: &mut StdRng, ctx: &Ctx, pattern: &str, destructive: bool) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map(|e| start + e).unwrap_or(rest.len() - 1);
        let name = rest[start + 1..end].trim_start_matches('*');
        out.push_str(&param(rng, ctx, name, destructive));
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

fn param(rng: &mut StdRng, ctx: &Ctx, name: &str, destructive: bool) -> String {
    let good = rng.gen_bool(0.8);
    match name {
        "ws" if good => "demo".into(),
        "path" if good && destructive => ctx.victim.clone(),
        "path" if good => ctx.scripts.choose(rng).unwrap().0.clone(),
        "hash" if good => ctx.scripts.choose(rng).unwrap().1.clone(),
        "id" if good && !ctx.job_ids.is_empty() => ctx.job_ids.choose(rng).unwrap().clone(),
        "version" if good => rng.gen_range(0..5).to_string(),
        "prefix" if good => ctx.spare_prefix.clone(),
        _ => garbage_segment(rng, name == "path"),
    }
}

fn garbage_segment(rng: &mut StdRng, multi: bool) -> String {
    let pool = [
        "",
        "%FF",
        "%C3",
        "%00",
        "..",
        "%2e%2e",
        "DEMO",
        "admins",
        "nope",
        "u/admin/..",
        "u//x",
        "f/",
        "x",
        "0123456789abcdef",
        "not-a-uuid",
        "00000000-0000-0000-0000-000000000000",
        "-1",
        "99999999999999999999",
        "%F0%9F%98%80",
        "u/admin/%C0%AF",
        "a%2Fb",
        "%25",
        "%",
        "%ZZ",
        "\u{1F600}",
    ];
    let mut s = pool.choose(rng).unwrap().to_string();
    if rng.gen_bool(0.15) {
        s = "a".repeat(rng.gen_range(50..3000));
    }
    if multi && rng.gen_bool(0.3) {
        s = format!("u/admin/{s}/{}", pool.choose(rng).unwrap());
    }
    s.replace(' ', "%20")
}

fn garbage_path(rng: &mut StdRng) -> String {
    let pool = [
        "/",
        "/api",
        "/api/w",
        "/api/w/demo",
        "/api/w/demo/jobs",
        "/api/w/demo/jobs/run",
        "/%FF/%FE",
        "/api/w/demo/jobs_u/get",
        "//api//w//demo",
    ];
    format!("{}/{}", pool.choose(rng).unwrap(), garbage_segment(rng, true))
}

/// Query parameters a valid request of this route might carry.
fn valid_query(rng: &mut StdRng, ctx: &Ctx, path: &str) -> Vec<String> {
    let mut q = Vec::new();
    if path.contains("run_wait_result") || path.contains("run_and_stream") || path.contains("/jobs/run/") {
        if rng.gen_bool(0.2) {
            q.push("include_header=x-a,user-agent".into());
        }
        if rng.gen_bool(0.2) {
            q.push("raw=true".into());
        }
        if rng.gen_bool(0.1) {
            q.push(format!("payload={}", b64(&json!({"a": rng.gen::<u32>()}).to_string())));
        }
    }
    if path.contains("job_helpers") && rng.gen_bool(0.8) {
        let key = ctx.file_keys.choose(rng).cloned().unwrap_or_else(|| "fz/a.txt".into());
        q.push(format!("file_key={key}"));
    }
    if path.ends_with("/jobs/list") && rng.gen_bool(0.5) {
        q.push(format!("per_page={}&page={}", rng.gen_range(1..50), rng.gen_range(1..5)));
    }
    if path.contains("getupdate_sse") && rng.gen_bool(0.5) {
        q.push("fast=true".into());
    }
    q
}

fn hostile_query(rng: &mut StdRng) -> String {
    let keys = [
        "payload",
        "tag",
        "job_id",
        "parent_job",
        "scheduled_for",
        "scheduled_in_secs",
        "include_header",
        "include_query",
        "raw",
        "wrap_body",
        "page",
        "per_page",
        "file_key",
        "fast",
        "only_result",
        "log_offset",
        "stream_offset",
        "status",
        "since",
        "before",
        "path",
        "trigger",
        "created_by",
        "token",
        "%FF",
        "",
        "a",
    ];
    let values = [
        "",
        "true",
        "false",
        "1",
        "-1",
        "0",
        "9223372036854775807",
        "-9223372036854775808",
        "99999999999999999999999",
        "1e999",
        "NaN",
        "%FF",
        "%ZZ",
        "%00",
        "not-base64!",
        "e30",
        "W10",
        "eyJhIjo",
        "2027-01-31T12:00:00Z",
        "1970-01-01T00:00:00Z",
        "garbage",
        "u/admin/x",
        "../../etc/passwd",
        "a,b,,c",
        "gpu-nowhere",
        "default",
        "00000000-0000-0000-0000-000000000000",
        "queued",
        "%E2%82%AC",
    ];
    let key = keys.choose(rng).unwrap();
    let mut value = values.choose(rng).unwrap().to_string();
    if rng.gen_bool(0.05) {
        value = "x".repeat(rng.gen_range(100..20_000));
    }
    if rng.gen_bool(0.05) {
        return key.to_string();
    }
    format!("{key}={value}")
}

fn hostile_header(rng: &mut StdRng) -> (String, Vec<u8>) {
    let names = [
        "content-type",
        "content-length",
        "idempotency-key",
        "ce-specversion",
        "ce-id",
        "ce-source",
        "ce-type",
        "origin",
        "webhook-request-origin",
        "access-control-request-headers",
        "cookie",
        "x-a",
        "accept",
        "transfer-encoding",
        "content-encoding",
        "expect",
    ];
    let values: [&[u8]; 16] = [
        b"",
        b"application/json",
        b"multipart/form-data",
        b"multipart/form-data; boundary=",
        b"text/plain",
        b"application/cloudevents+json",
        b"application/cloudevents-batch+json",
        b"1.0",
        b"0.3",
        b"%FF%00",
        b"\xff\xfe",
        b"token=garbage",
        b"gzip",
        b"100-continue",
        b"identity",
        b"chunked",
    ];
    let name = names.choose(rng).unwrap().to_string();
    let mut value = values.choose(rng).unwrap().to_vec();
    if rng.gen_bool(0.05) {
        value = vec![b'k'; rng.gen_range(100..9000)];
    }
    // These two would make the HTTP client frame the request wrongly; raw mode covers framing.
    if name == "content-length" || name == "transfer-encoding" {
        return ("x-fuzz".into(), value);
    }
    (name, value)
}

fn auth(rng: &mut StdRng, ctx: &Ctx, headers: &mut Vec<(String, Vec<u8>)>, query: &mut Vec<String>) {
    headers.retain(|(k, _)| k != "authorization");
    match rng.gen_range(0..8) {
        0 => {}
        1 => headers.push(("authorization".into(), b"Bearer orv_garbage_token_that_is_not_real".to_vec())),
        2 => headers.push(("authorization".into(), format!("Bearer {}", ctx.scoped_token).into_bytes())),
        3 => query.push(format!("token={}", ctx.token)),
        4 => headers.push(("cookie".into(), format!("token={}", ctx.token).into_bytes())),
        5 => headers.push(("authorization".into(), b"Bearer ".to_vec())),
        6 => headers.push(("authorization".into(), b"Basic YTpi".to_vec())),
        _ => headers.push(("authorization".into(), format!("Bearer {}.{}", "eyJ3cyI6ImRlbW8ifQ", "c2ln").into_bytes())),
    }
}

/// The body a valid request of this route carries.
fn valid_body(rng: &mut StdRng, ctx: &Ctx, path: &str) -> (Option<String>, Vec<u8>) {
    if path.ends_with("/scripts/create") {
        let lang = ["bash", "python3", "deno", "bun"].choose(rng).unwrap();
        let content = match *lang {
            "bash" => "echo hi",
            "python3" => "def main(a: int = 1):\n    return a\n",
            _ => "export function main(a: number = 1) { return a }",
        };
        let body =
            json!({"path": format!("u/admin/fz_new_{}", rng.gen_range(0..20)), "language": lang, "content": content});
        return (Some("application/json".into()), body.to_string().into_bytes());
    }
    if path.ends_with("/tokens/create") {
        let body = json!({"label": "fz", "scopes": ["jobs:run:scripts:u/admin/fz_bash"]});
        return (Some("application/json".into()), body.to_string().into_bytes());
    }
    if path.contains("upload_s3_file") {
        return (Some("text/plain".into()), b"fuzz file".to_vec());
    }
    if path.contains("/openapi/") {
        let filter = json!({"user_or_folder_regex": "*", "user_or_folder_regex_value": "*", "path": "*", "runnable_kind": "script"});
        let format = ["json", "yaml"].choose(rng).unwrap();
        let body = json!({"openapi_spec_format": format, "webhook_filters": [filter]});
        return (Some("application/json".into()), body.to_string().into_bytes());
    }
    if path.contains("/queue/cancel/") {
        return (Some("application/json".into()), br#"{"reason": "fuzz"}"#.to_vec());
    }
    let _ = ctx;
    (Some("application/json".into()), json!({"a": rng.gen::<i32>(), "b": "text"}).to_string().into_bytes())
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

/// A hostile body of any content type.
fn hostile_body(rng: &mut StdRng) -> (Option<String>, Vec<u8>) {
    match rng.gen_range(0..12) {
        0 => {
            let d = rng.gen_range(100..400);
            let (open, close) = if rng.gen_bool(0.5) { ("[", "]") } else { ("{\"a\":", "}") };
            let mut s = open.repeat(d);
            s.push('1');
            s.push_str(&close.repeat(d));
            (Some("application/json".into()), s.into_bytes())
        }
        1 => (
            Some("application/json".into()),
            format!("{{\"s\": \"{}\"}}", "z".repeat(rng.gen_range(1000..2_000_000))).into_bytes(),
        ),
        2 => (Some("application/octet-stream".into()), (0..rng.gen_range(1..4096)).map(|_| rng.gen()).collect()),
        3 => (Some("application/x-www-form-urlencoded".into()), b"a=1&b=%ZZ&&=&c=%FF%FE&a=2&=x".to_vec()),
        4 => {
            let b = "XyZ";
            let body = format!(
                "--{b}\r\nContent-Disposition: form-data; name=\"f\"; filename=\"../../{}\"\r\nContent-Type: text/plain\r\n\r\nhello\r\n--{b}\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\nv\r\n--{b}--\r\n",
                "n".repeat(rng.gen_range(1..400))
            );
            let ct = if rng.gen_bool(0.8) {
                format!("multipart/form-data; boundary={b}")
            } else {
                "multipart/form-data".into()
            };
            (Some(ct), mutate_bytes(rng, body.into_bytes()))
        }
        5 => {
            let version = *["1.0", "0.3", ""].choose(rng).unwrap();
            let ev = json!({"specversion": version, "id": "1", "source": "/s", "type": "t",
                "data": {"a": 1}, "data_base64": if rng.gen_bool(0.3) { json!("!!notbase64") } else { Value::Null }});
            (Some("application/cloudevents+json".into()), mutate_bytes(rng, ev.to_string().into_bytes()))
        }
        6 => {
            let ev = json!({"specversion": "1.0", "id": "1", "source": "/s", "type": "t", "data": [1, 2]});
            let batch = json!([ev, {"specversion": "1.0"}, 3, []]);
            (Some("application/cloudevents-batch+json".into()), batch.to_string().into_bytes())
        }
        7 => (Some("text/plain".into()), "\u{0}\u{1}héllo\u{FFFD}".as_bytes().to_vec()),
        8 => (
            Some("application/json".into()),
            br#"{"a": "\ud800", "b": 1e999, "c": -0, "d": 123456789012345678901234567890}"#.to_vec(),
        ),
        9 => (Some("application/merge-patch+json".into()), b"[1, 2, 3]".to_vec()),
        10 => (None, b"".to_vec()),
        _ => (Some(String::from_utf8_lossy(&[rng.gen::<u8>() | 0x20; 8]).into_owned()), b"{}".to_vec()),
    }
}

/// Flips, drops, inserts, truncates or repeats bytes.
fn mutate_bytes(rng: &mut StdRng, mut b: Vec<u8>) -> Vec<u8> {
    if b.is_empty() {
        b.push(rng.gen());
        return b;
    }
    match rng.gen_range(0..5) {
        0 => {
            let i = rng.gen_range(0..b.len());
            b[i] ^= 1 << rng.gen_range(0..8);
        }
        1 => {
            let i = rng.gen_range(0..b.len());
            b.remove(i);
        }
        2 => {
            let i = rng.gen_range(0..=b.len());
            let junk = [b'"', b'{', b'}', b'[', b']', b',', b':', b'\\', 0, 0xff];
            b.insert(i, *junk.choose(rng).unwrap());
        }
        3 => b.truncate(rng.gen_range(0..b.len())),
        _ => {
            let i = rng.gen_range(0..b.len());
            let piece = b[i..].to_vec();
            b.extend_from_slice(&piece);
        }
    }
    b
}
