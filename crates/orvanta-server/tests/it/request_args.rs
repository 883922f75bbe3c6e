//! From request to arguments (contract §4), over real HTTP: a Python script
//! that returns its keyword arguments shows exactly what a job received.

use crate::harness::*;
use base64::Engine;
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

const ECHO: &str = "u/admin/echo";

/// An app with the echo script.
async fn echo_app(opts: Opts) -> TestApp {
    let app = start(opts);
    app.create_script(ECHO, "python3", "def main(**kwargs):\n    return kwargs\n").await;
    app
}

fn sync_url(app: &TestApp, query: &str) -> String {
    app.ws(&format!("/jobs/run_wait_result/p/{ECHO}?{query}"))
}

/// POSTs to the sync route; answers the raw response.
async fn post(app: &TestApp, ct: Option<&str>, query: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
    let mut req = app.client.post(sync_url(app, query)).bearer_auth(&app.token).body(body);
    if let Some(ct) = ct {
        req = req.header(CONTENT_TYPE, ct);
    }
    req.send().await.expect("POST")
}

/// POSTs to the sync route; answers the arguments the job received.
async fn args(app: &TestApp, ct: Option<&str>, query: &str, body: impl Into<reqwest::Body>) -> Value {
    ok_json(post(app, ct, query, body).await).await
}

async fn ok_json(r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

async fn get_args(app: &TestApp, query: &str) -> reqwest::Response {
    app.client.get(sync_url(app, query)).bearer_auth(&app.token).send().await.expect("GET")
}

async fn job_count(app: &TestApp) -> usize {
    let jobs: Value = app.get("/jobs/list").await.json().await.unwrap();
    jobs.as_array().unwrap().len()
}

/// Files under the local object folder.
fn stored_files(app: &TestApp) -> Vec<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                walk(&e.path(), out)
            } else {
                out.push(e.path())
            }
        }
    }
    let mut out = Vec::new();
    walk(&app.data_dir().join("objects"), &mut out);
    out
}

async fn download(app: &TestApp, key: &str) -> (String, Vec<u8>) {
    let r = app.get(&format!("/job_helpers/download_s3_file?file_key={key}")).await;
    assert_eq!(r.status(), 200, "download {key}");
    let ct = r.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
    (ct, r.bytes().await.unwrap().to_vec())
}

/// One part of a multipart body: name, filename, content type, bytes.
type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

/// A multipart body with boundary `XyZ`.
fn multipart(parts: &[Part<'_>]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, file, ct, data) in parts {
        body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"");
        body.extend_from_slice(name.as_bytes());
        body.push(b'"');
        if let Some(f) = file {
            body.extend_from_slice(format!("; filename=\"{f}\"").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        if let Some(ct) = ct {
            body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--XyZ--\r\n");
    body
}

const MULTIPART: &str = "multipart/form-data; boundary=XyZ";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary";

#[tokio::test]
async fn json_bodies_object_array_scalar_and_empty() {
    let app = echo_app(Opts::default()).await;
    let j = Some("application/json");
    assert_eq!(args(&app, j, "", r#"{"a": 1, "b": [true]}"#).await, json!({"a": 1, "b": [true]}));
    assert_eq!(args(&app, None, "", r#"{"a": 1}"#).await, json!({"a": 1}), "no content type is JSON");
    assert_eq!(args(&app, j, "", "[1,2,3]").await, json!({"body": [1, 2, 3]}));
    assert_eq!(args(&app, j, "", "\"hi\"").await, json!({"body": "hi"}));
    assert_eq!(args(&app, j, "", "42").await, json!({"body": 42}));
    assert_eq!(args(&app, j, "", "").await, json!({}));
    assert_eq!(args(&app, Some("Application/JSON; charset=utf-8"), "", "").await, json!({}));
    assert_eq!(args(&app, Some("application/vnd.custom+json"), "", r#"{"v": 2}"#).await, json!({"v": 2}));
}

#[tokio::test]
async fn invalid_json_is_a_400_with_the_position() {
    let app = echo_app(Opts::default()).await;
    let r = post(&app, Some("application/json"), "", "{\"a\": 1,\n  \"b\": }").await;
    assert_error(r, 400, "line 2 column").await;
    let r = post(&app, Some("application/problem+json"), "", "{oops").await;
    assert_error(r, 400, "not valid JSON").await;
    assert_eq!(job_count(&app).await, 0);
}

#[tokio::test]
async fn wrap_body_wraps_an_object_too() {
    let app = echo_app(Opts::default()).await;
    let j = Some("application/json");
    assert_eq!(args(&app, j, "wrap_body=true", r#"{"a": 1}"#).await, json!({"body": {"a": 1}}));
    assert_eq!(args(&app, j, "wrap_body=true", "[1]").await, json!({"body": [1]}));
    assert_eq!(args(&app, j, "wrap_body=false", r#"{"a": 1}"#).await, json!({"a": 1}));
}

#[tokio::test]
async fn raw_true_passes_the_body_byte_for_byte() {
    let app = echo_app(Opts::default()).await;
    let body = "{ \"a\" :  1 ,\r\n\t\"é\": \"日本 \\u00e9 😀\"   }  \n";
    let got = args(&app, Some("application/json"), "raw=true", body).await;
    assert_eq!(got["raw_string"], body);
    assert_eq!(got["a"], 1);
    assert_eq!(got["é"], "日本 é 😀");
    let got = args(&app, Some("text/xml"), "raw=true", "<a x='1'>  é </a>").await;
    assert_eq!(got, json!({"raw_string": "<a x='1'>  é </a>"}));
    let got = args(&app, Some("application/json"), "", body).await;
    assert!(got.get("raw_string").is_none(), "{got}");
}

#[tokio::test]
async fn form_fields_are_strings_and_repeats_are_arrays() {
    let app = echo_app(Opts::default()).await;
    let got = args(&app, Some("application/x-www-form-urlencoded"), "", "name=Ada+L&tag=a&tag=b%26c&n=1&e=").await;
    assert_eq!(got, json!({"name": "Ada L", "tag": ["a", "b&c"], "n": "1", "e": ""}));
}

#[tokio::test]
async fn other_content_types_try_json_then_raw_string() {
    let app = echo_app(Opts::default()).await;
    assert_eq!(args(&app, Some("text/plain"), "", r#"{"a": [1]}"#).await, json!({"a": [1]}));
    assert_eq!(args(&app, Some("text/plain"), "", "[1, 2]").await, json!({"body": [1, 2]}));
    assert_eq!(args(&app, Some("text/plain"), "", "hello world").await, json!({"raw_string": "hello world"}));
    let xml = "<?xml version=\"1.0\"?><order id=\"7\"/>";
    assert_eq!(args(&app, Some("application/xml; charset=utf-8"), "", xml).await, json!({"raw_string": xml}));
}

#[tokio::test]
async fn a_binary_body_goes_to_object_storage() {
    let app = echo_app(Opts::default()).await;
    let got = args(&app, Some("image/png"), "", PNG.to_vec()).await;
    let key = got["body"]["s3"].as_str().unwrap_or_else(|| panic!("{got}"));
    assert_eq!(got.as_object().unwrap().len(), 1, "{got}");
    assert_eq!(download(&app, key).await, ("image/png".to_owned(), PNG.to_vec()));
    let got = args(&app, Some("application/octet-stream"), "", vec![0u8, 159, 146, 150]).await;
    let key = got["body"]["s3"].as_str().unwrap();
    assert_eq!(download(&app, key).await.1, vec![0u8, 159, 146, 150]);
}

#[tokio::test]
async fn multipart_text_and_files_go_to_the_local_folder() {
    let app = echo_app(Opts::default()).await;
    let body = multipart(&[
        ("title", None, None, "Quarterly é".as_bytes()),
        ("docs", Some("report 1.pdf"), Some("application/pdf"), b"%PDF-1.4 one"),
        ("docs", Some("two.txt"), None, b"second file"),
        ("image", None, Some("image/png"), PNG),
        ("title", None, None, b"again"),
    ]);
    let got = args(&app, Some(MULTIPART), "", body).await;
    assert_eq!(got["title"], json!(["Quarterly é", "again"]));
    let docs = got["docs"].as_array().unwrap_or_else(|| panic!("{got}"));
    assert_eq!(docs.len(), 2);
    let (k1, k2) = (docs[0]["s3"].as_str().unwrap(), docs[1]["s3"].as_str().unwrap());
    assert!(k1.starts_with("uploads/") && k1.ends_with("/report_1.pdf"), "{k1}");
    assert_eq!(download(&app, k1).await, ("application/pdf".to_owned(), b"%PDF-1.4 one".to_vec()));
    assert_eq!(download(&app, k2).await, ("application/octet-stream".to_owned(), b"second file".to_vec()));
    let image = got["image"].as_array().unwrap();
    assert_eq!(image.len(), 1);
    assert_eq!(download(&app, image[0]["s3"].as_str().unwrap()).await.1, PNG);
}

#[tokio::test]
async fn multipart_files_go_to_a_real_s3_server() {
    let moto = Moto::start("orvanta-it").await;
    let app = echo_app(Opts { env: moto.env(), ..Default::default() }).await;
    let body = multipart(&[("note", None, None, b"hi"), ("f", Some("data.bin"), Some("application/x-thing"), PNG)]);
    let got = args(&app, Some(MULTIPART), "", body).await;
    assert_eq!(got["note"], "hi");
    let key = got["f"][0]["s3"].as_str().unwrap_or_else(|| panic!("{got}"));
    // In the bucket, under the workspace's prefix, and back through the API.
    assert_eq!(moto.object(&format!("demo/{key}")).await.as_deref(), Some(PNG));
    assert_eq!(download(&app, key).await, ("application/x-thing".to_owned(), PNG.to_vec()));
    let got = args(&app, Some("application/octet-stream"), "", PNG.to_vec()).await;
    let key = got["body"]["s3"].as_str().unwrap();
    assert_eq!(moto.object(&format!("demo/{key}")).await.as_deref(), Some(PNG));
    assert!(!app.data_dir().join("objects").exists(), "nothing goes to the local folder");
}

#[tokio::test]
async fn an_unreachable_object_store_is_a_503_naming_it() {
    let env = [
        ("ORVANTA_S3_BUCKET", "uploads-b"),
        ("ORVANTA_S3_ENDPOINT", "http://127.0.0.1:1"),
        ("ORVANTA_S3_ACCESS_KEY_ID", "k"),
        ("ORVANTA_S3_SECRET_ACCESS_KEY", "secret-never-shown"),
    ];
    let env = env.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let app = echo_app(Opts { env, ..Default::default() }).await;
    let body = multipart(&[("f", Some("a.txt"), Some("text/plain"), b"x")]);
    let v = assert_error(post(&app, Some(MULTIPART), "", body).await, 503, "127.0.0.1:1").await;
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("uploads-b") && !msg.contains("secret-never-shown"), "{msg}");
    assert_error(post(&app, Some("image/png"), "", PNG.to_vec()).await, 503, "uploads-b").await;
    assert_eq!(job_count(&app).await, 0, "no job for a refused request");
    // Requests without files do not need the store.
    assert_eq!(args(&app, Some(MULTIPART), "", multipart(&[("t", None, None, b"ok")])).await, json!({"t": "ok"}));
}

#[tokio::test]
async fn include_header_and_the_include_headers_setting() {
    let env = vec![("INCLUDE_HEADERS".into(), "x-extra".into())];
    let app = echo_app(Opts { env, ..Default::default() }).await;
    // A credential (or a proxy's identity header) is refused, never stored as an argument.
    let r = app.client.post(sync_url(&app, "include_header=X-Sign,Authorization")).bearer_auth(&app.token);
    assert_error(r.json(&json!({})).send().await.unwrap(), 400, "include_header=Authorization is refused").await;
    let r = app
        .client
        .post(sync_url(&app, "include_header=X-Sign,foo"))
        .bearer_auth(&app.token)
        .header("X-Sign", "sha256=abc")
        .header("X-Extra", "always")
        .header("X-Other", "not asked")
        .json(&json!({"a": 1, "x_sign": "forged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok_json(r).await, json!({"a": 1, "x_sign": "sha256=abc", "x_extra": "always"}));
    let got = args(&app, None, "", "{}").await;
    assert_eq!(got, json!({}), "x-extra is absent, so not passed");
}

#[tokio::test]
async fn include_query_adds_query_parameters() {
    let app = echo_app(Opts::default()).await;
    let got = args(&app, None, "include_query=a,b,c,missing&a=foo&b=bar&c=foo%20bar&d=not", r#"{"z": 0}"#).await;
    assert_eq!(got, json!({"z": 0, "a": "foo", "b": "bar", "c": "foo bar"}));
    let got = ok_json(get_args(&app, "include_query=a&a=1").await).await;
    assert_eq!(got, json!({"a": "1"}));
}

#[tokio::test]
async fn get_payload_in_every_alphabet() {
    let app = echo_app(Opts::default()).await;
    // `??>>` makes `+` and `/` in the standard alphabet, `-` and `_` in the URL-safe one.
    let json = json!({"q": "??>>", "n": [1, 2]});
    let bytes = json.to_string();
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let std = STANDARD.encode(&bytes);
    assert!(std.contains('+') || std.contains('/'), "{std}");
    let encoded = std.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
    for payload in
        [encoded, std.clone(), STANDARD_NO_PAD.encode(&bytes), URL_SAFE.encode(&bytes), URL_SAFE_NO_PAD.encode(&bytes)]
    {
        assert_eq!(ok_json(get_args(&app, &format!("payload={payload}")).await).await, json, "{payload}");
    }
    assert_eq!(ok_json(get_args(&app, "").await).await, json!({}));
    let arr = STANDARD.encode("[1]");
    assert_eq!(
        ok_json(get_args(&app, &format!("payload={arr}&wrap_body=true&raw=true")).await).await,
        json!({"body": [1], "raw_string": "[1]"})
    );
    assert_error(get_args(&app, "payload=%21%21not-base64%21").await, 400, "not base64").await;
    let text = URL_SAFE_NO_PAD.encode("hello");
    assert_error(get_args(&app, &format!("payload={text}")).await, 400, "base64 but not JSON").await;
    assert_eq!(job_count(&app).await, 7);
}

fn event(data: Value) -> Value {
    json!({"specversion": "1.0", "id": "ev-1", "source": "/orders", "type": "order.created",
           "time": "2026-01-01T00:00:00Z", "subject": "o/7", "myext": "x", "data": data})
}

const CE: &str = "application/cloudevents+json; charset=utf-8";
const CE_BATCH: &str = "application/cloudevents-batch+json";

fn meta() -> Value {
    json!({"specversion": "1.0", "id": "ev-1", "source": "/orders", "type": "order.created",
           "time": "2026-01-01T00:00:00Z", "subject": "o/7", "myext": "x"})
}

#[tokio::test]
async fn cloudevents_structured_mode() {
    let app = echo_app(Opts::default()).await;
    let got = args(&app, Some(CE), "", event(json!({"order": 7})).to_string()).await;
    assert_eq!(got, json!({"order": 7, "WEBHOOK__METADATA__": meta()}));
    let got = args(&app, Some(CE), "", event(json!([1, 2])).to_string()).await;
    assert_eq!(got, json!({"body": [1, 2], "WEBHOOK__METADATA__": meta()}));
    // data_base64: the decoded bytes go to object storage.
    let mut e = event(Value::Null);
    e.as_object_mut().unwrap().remove("data");
    e["data_base64"] = json!(base64::engine::general_purpose::STANDARD.encode(PNG));
    e["datacontenttype"] = json!("image/png");
    let got = args(&app, Some(CE), "", e.to_string()).await;
    let key = got["body"]["s3"].as_str().unwrap_or_else(|| panic!("{got}"));
    assert_eq!(download(&app, key).await, ("image/png".to_owned(), PNG.to_vec()));
    assert_eq!(got["WEBHOOK__METADATA__"]["datacontenttype"], "image/png");
    assert!(got["WEBHOOK__METADATA__"].get("data_base64").is_none());
}

#[tokio::test]
async fn cloudevents_binary_mode_percent_decodes_headers() {
    let app = echo_app(Opts::default()).await;
    let r = app
        .client
        .post(sync_url(&app, ""))
        .bearer_auth(&app.token)
        .header("ce-specversion", "1.0")
        .header("ce-id", "b-1")
        .header("ce-source", "/shop%20one/caf%C3%A9+more")
        .header("ce-type", "order.paid")
        .header("CE-Traceparent", "00-abc")
        .header(CONTENT_TYPE, "application/json")
        .body(r#"{"amount": 12}"#)
        .send()
        .await
        .unwrap();
    let want = json!({"amount": 12, "WEBHOOK__METADATA__": {
        "specversion": "1.0", "id": "b-1", "source": "/shop one/café+more", "type": "order.paid",
        "traceparent": "00-abc", "datacontenttype": "application/json"}});
    assert_eq!(ok_json(r).await, want);
    let r = app
        .client
        .post(sync_url(&app, ""))
        .bearer_auth(&app.token)
        .header("ce-specversion", "1.0")
        .header("ce-id", "b-2")
        .header("ce-source", "/s")
        .header(CONTENT_TYPE, "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "'type'").await;
}

#[tokio::test]
async fn cloudevents_batch_async_gives_ids_sync_refuses() {
    let app = echo_app(Opts::default()).await;
    let mut second = event(json!("text data"));
    second["id"] = json!("ev-2");
    let batch = json!([event(json!({"order": 7})), second]).to_string();
    let r = app
        .client
        .post(app.ws(&format!("/jobs/run/p/{ECHO}")))
        .bearer_auth(&app.token)
        .header(CONTENT_TYPE, CE_BATCH)
        .body(batch.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let ids: Vec<String> = r.json().await.unwrap();
    assert_eq!(ids.len(), 2);
    let one = app.wait_done(&ids[0], 30).await;
    assert_eq!(one["result"], json!({"order": 7, "WEBHOOK__METADATA__": meta()}));
    let two = app.wait_done(&ids[1], 30).await;
    assert_eq!(two["result"]["body"], "text data");
    assert_eq!(two["result"]["WEBHOOK__METADATA__"]["id"], "ev-2");
    assert_error(post(&app, Some(CE_BATCH), "", batch).await, 400, "batch").await;
    assert_error(post(&app, Some(CE_BATCH), "", "[]").await, 400, "empty").await;
    assert_eq!(job_count(&app).await, 2);
}

#[tokio::test]
async fn cloudevents_missing_attributes_are_named() {
    let app = echo_app(Opts::default()).await;
    for attr in ["id", "source", "type", "specversion"] {
        let mut e = event(json!({}));
        e.as_object_mut().unwrap().remove(attr);
        assert_error(post(&app, Some(CE), "", e.to_string()).await, 400, &format!("'{attr}'")).await;
        let mut e = event(json!({}));
        e[attr] = json!("");
        assert_error(post(&app, Some(CE), "", e.to_string()).await, 400, &format!("'{attr}'")).await;
    }
    let mut e = event(json!({}));
    e["specversion"] = json!("0.3");
    let v = assert_error(post(&app, Some(CE), "", e.to_string()).await, 400, "'specversion'").await;
    assert!(v["error"]["message"].as_str().unwrap().contains("0.3"), "{v}");
    // In a batch, the faulty event is pointed at.
    let bad = json!([event(json!({})), {"specversion": "1.0", "id": "2", "type": "t"}]);
    assert_error(post(&app, Some(CE_BATCH), "", bad.to_string()).await, 400, "event 2").await;
    assert_error(post(&app, Some(CE), "", "{\"id\": ").await, 400, "line 1 column").await;
    assert_eq!(job_count(&app).await, 0);
}

#[tokio::test]
async fn a_refused_request_stores_nothing() {
    let app = echo_app(Opts::default()).await;
    // A multipart body cut short, after a complete file part.
    let mut body = multipart(&[("f", Some("a.txt"), Some("text/plain"), b"one")]);
    body.truncate(body.len() - "--XyZ--\r\n".len());
    body.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"g\"\r\n\r\nunterminated");
    assert_error(post(&app, Some(MULTIPART), "", body).await, 400, "multipart").await;
    // A batch whose first event carries a file and whose second is invalid.
    let mut first = event(Value::Null);
    first.as_object_mut().unwrap().remove("data");
    first["data_base64"] = json!("aGVsbG8=");
    let bad = json!([first, {"specversion": "1.0", "source": "/s", "type": "t"}]);
    let r = app
        .client
        .post(app.ws(&format!("/jobs/run/p/{ECHO}")))
        .bearer_auth(&app.token)
        .header(CONTENT_TYPE, CE_BATCH)
        .body(bad.to_string())
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "'id'").await;
    // A part without a name.
    let nameless = b"--XyZ\r\nContent-Disposition: form-data; filename=\"x\"\r\n\r\nx\r\n--XyZ--\r\n".to_vec();
    assert_error(post(&app, Some(MULTIPART), "", nameless).await, 400, "no name").await;
    assert_eq!(stored_files(&app), Vec::<std::path::PathBuf>::new());
    assert_eq!(job_count(&app).await, 0);
}
