//! Unit tests of [`build`] with a local object store; the HTTP-level tests
//! are in `tests/it/request_args.rs`.

use super::*;
use crate::objects::LocalObjects;
use serde_json::json;

#[test]
fn payloads_decode_in_every_alphabet() {
    let json = br#"{"a":"??>>"}"#;
    use base64::Engine;
    for enc in [
        base64::engine::general_purpose::STANDARD.encode(json),
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(json),
        base64::engine::general_purpose::URL_SAFE.encode(json),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json),
    ] {
        assert_eq!(decode_payload(&enc).unwrap(), json.to_vec(), "{enc}");
    }
    assert!(decode_payload("not base64!").is_err());
}

#[test]
fn queries() {
    assert_eq!(
        parse_query(Some("a=1&b=x%20y&c&d=e=f")),
        vec![("a".into(), "1".into()), ("b".into(), "x y".into()), ("c".into(), "".into()), ("d".into(), "e=f".into())]
    );
}

struct Req {
    method: Method,
    headers: HeaderMap,
    query: Vec<(String, String)>,
    body: &'static [u8],
}

fn post(ct: Option<&str>, query: &str, body: &'static [u8]) -> Req {
    let mut headers = HeaderMap::new();
    if let Some(ct) = ct {
        headers.insert("content-type", ct.parse().unwrap());
    }
    Req { method: Method::POST, headers, query: parse_query(Some(query)), body }
}

async fn run(req: &Req, settings: &ArgsSettings) -> (ApiResult<RunArgs>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalObjects::new(dir.path().to_path_buf());
    let ws = WorkspaceId::parse("demo").unwrap();
    let input = RequestInput {
        method: &req.method,
        headers: &req.headers,
        query: &req.query,
        body: Bytes::from_static(req.body),
        ws: &ws,
    };
    (build(input, &store, settings).await, dir)
}

async fn one(req: Req) -> Value {
    match run(&req, &ArgsSettings::default()).await.0.unwrap() {
        RunArgs::One(m) => Value::Object(m),
        other => panic!("{other:?}"),
    }
}

fn files(dir: &std::path::Path) -> usize {
    walk(dir).len()
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn json_bodies() {
    assert_eq!(one(post(None, "", br#"{"a":1}"#)).await, json!({"a": 1}));
    assert_eq!(one(post(Some("application/json; charset=utf-8"), "", b"[1,2]")).await, json!({"body": [1, 2]}));
    assert_eq!(one(post(Some("application/vnd.api+json"), "", b"3")).await, json!({"body": 3}));
    assert_eq!(one(post(Some("application/json"), "", b"")).await, json!({}));
    assert_eq!(one(post(Some("application/json"), "wrap_body=true", br#"{"a":1}"#)).await, json!({"body": {"a": 1}}));
    let (r, _) = run(&post(Some("application/json"), "", b"{\"a\":\n 1,}"), &ArgsSettings::default()).await;
    let e = r.unwrap_err();
    assert!(matches!(e, ApiError::BadRequest(_)) && e.to_string().contains("line 2 column"), "{e}");
}

#[tokio::test]
async fn other_content_types() {
    assert_eq!(one(post(Some("text/plain"), "", br#"{"a":1}"#)).await, json!({"a": 1}));
    assert_eq!(one(post(Some("TEXT/XML"), "", b"<a/>")).await, json!({"raw_string": "<a/>"}));
    assert_eq!(
        one(post(Some("application/x-www-form-urlencoded"), "", b"a=1&a=2&b=%C3%A9")).await,
        json!({"a": ["1", "2"], "b": "é"})
    );
    let req = post(Some("application/octet-stream"), "raw=true", b"\xff\x00\x01");
    let (r, dir) = run(&req, &ArgsSettings::default()).await;
    let RunArgs::One(args) = r.unwrap() else { panic!() };
    let key = args["body"]["s3"].as_str().unwrap();
    assert!(key.starts_with("uploads/") && !args.contains_key("raw_string"), "{args:?}");
    assert_eq!(std::fs::read(dir.path().join("demo").join(key)).unwrap(), b"\xff\x00\x01");
}

#[tokio::test]
async fn extras_win_over_the_body() {
    let mut req = post(
        None,
        "raw=true&include_header=X-Sign,absent&include_query=a,token,missing&a=q&token=secret",
        br#"{"x_sign":"forged","a":"body"}"#,
    );
    req.headers.insert("x-sign", "real".parse().unwrap());
    req.headers.insert("x-extra", "e".parse().unwrap());
    let settings = ArgsSettings { include_headers: vec!["X-Extra".into()] };
    let RunArgs::One(args) = run(&req, &settings).await.0.unwrap() else { panic!() };
    assert_eq!(
        Value::Object(args),
        json!({"x_sign": "real", "a": "q", "raw_string": r#"{"x_sign":"forged","a":"body"}"#, "x_extra": "e"})
    );
}

#[tokio::test]
async fn get_payloads() {
    let get = |q: &str| Req { method: Method::GET, headers: HeaderMap::new(), query: parse_query(Some(q)), body: b"" };
    assert_eq!(one(get("payload=eyJhIjoxfQ")).await, json!({"a": 1}));
    assert_eq!(one(get("")).await, json!({}));
    assert_eq!(one(get("payload=WzFd&raw=true")).await, json!({"body": [1], "raw_string": "[1]"}));
    let (r, _) = run(&get("payload=aGVsbG8"), &ArgsSettings::default()).await;
    assert!(r.unwrap_err().to_string().contains("base64 but not JSON"));
}

#[tokio::test]
async fn multipart_plans_files_and_refuses_before_writing() {
    let body: &'static [u8] = b"--X\r\nContent-Disposition: form-data; name=\"t\"\r\n\r\nhello\r\n\
--X\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a b.txt\"\r\nContent-Type: text/plain\r\n\r\nfile1\r\n\
--X\r\nContent-Disposition: form-data; name=\"f\"; filename=\"c.bin\"\r\n\r\nfile2\r\n--X--\r\n";
    let req = post(Some("multipart/form-data; boundary=X"), "", body);
    let (r, dir) = run(&req, &ArgsSettings::default()).await;
    let RunArgs::One(args) = r.unwrap() else { panic!() };
    assert_eq!(args["t"], "hello");
    let f = args["f"].as_array().unwrap();
    assert_eq!(f.len(), 2);
    assert!(f[0]["s3"].as_str().unwrap().ends_with("/a_b.txt"), "{f:?}");
    // Two files, one of them with its content type beside it.
    assert_eq!(files(dir.path()), 4);

    let truncated: &'static [u8] =
        b"--X\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\nfile1\r\n--X\r\n";
    let (r, dir) = run(&post(Some("multipart/form-data; boundary=X"), "", truncated), &ArgsSettings::default()).await;
    assert!(matches!(r.unwrap_err(), ApiError::BadRequest(_)));
    assert_eq!(files(dir.path()), 0, "nothing is stored for a refused request");

    let (r, _) = run(&post(Some("multipart/form-data"), "", body), &ArgsSettings::default()).await;
    assert!(r.unwrap_err().to_string().contains("boundary"));
}

#[tokio::test]
async fn cloudevents_binary_mode() {
    let mut req = post(Some("text/plain"), "", b"hi");
    for (k, v) in [("ce-specversion", "1.0"), ("ce-id", "1"), ("ce-source", "/a%20b"), ("ce-type", "t")] {
        req.headers.insert(k, v.parse().unwrap());
    }
    assert_eq!(
        one(req).await,
        json!({"raw_string": "hi", "WEBHOOK__METADATA__": {
            "specversion": "1.0", "id": "1", "source": "/a b", "type": "t", "datacontenttype": "text/plain"}})
    );
    let mut req = post(None, "", b"{}");
    req.headers.insert("ce-specversion", "1.0".parse().unwrap());
    let (r, _) = run(&req, &ArgsSettings::default()).await;
    assert!(r.unwrap_err().to_string().contains("'id'"));
}

#[tokio::test]
async fn identity_headers_are_refused() {
    for name in ["Proxy-Authorization", "x-forwarded-user", "X-Auth-Request-Email", "cookie"] {
        let req = post(None, &format!("include_header=x-sign,{name}"), b"{}");
        let Err(err) = run(&req, &ArgsSettings::default()).await.0 else { panic!("{name} was not refused") };
        assert!(matches!(&err, ApiError::BadRequest(m) if m.contains(name)), "{name}: {err:?}");
    }
}
