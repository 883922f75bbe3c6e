//! The examples of the seed page 000 (Webhooks), one test each, run against
//! the real server. Requests are the page's own, adapted only in host,
//! workspace (`demo`), token and script path; scripts are written as the
//! page shows them (`wmill` → `orvanta`, as the page already does).

use crate::harness::*;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use reqwest::Response;
use serde_json::{json, Value};

/// The page's webhook example, `u/bot/hello_world_deno` (its code is not on
/// the page: a Deno hello world that also reports the `a` it was given).
const HELLO_WORLD_DENO: &str = r#"export async function main(name = "world", a?: number) {
  return { greeting: `Hello ${name}!`, a: a ?? null };
}
"#;

async fn hello_world_app() -> TestApp {
    let app = spawn_app();
    app.create_script("u/bot/hello_world_deno", "deno", HELLO_WORLD_DENO).await;
    app
}

/// The status, the job id header and the body of an answer, checked to be 200.
async fn ok_json(r: Response) -> (String, Value) {
    let status = r.status();
    let id = r.headers().get("x-orvanta-job-id").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "body: {text}");
    (id, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}")))
}

/// The job's arguments and logs, read back by its id.
async fn args_and_logs(app: &TestApp, id: &str) -> (Value, String) {
    let job = app.job(id).await;
    let logs = app.get(&format!("/jobs_u/get_logs/{id}")).await.text().await.unwrap();
    (job["args"].clone(), logs)
}

/// What JavaScript's `encodeURIComponent` makes of a string.
fn encode_uri_component(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

// ## Request with Header
// curl -X POST --data '{}' -H "Content-Type: application/json" -H "Authorization: Bearer supersecret" \
//   ".../w/demo/jobs/run_wait_result/p/u/bot/hello_world_deno"
#[tokio::test]
async fn post_with_the_token_in_the_authorization_header() {
    let app = hello_world_app().await;
    let r = app
        .client
        .post(app.ws("/jobs/run_wait_result/p/u/bot/hello_world_deno"))
        .body("{}")
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    let (_, out) = ok_json(r).await;
    assert_eq!(out, json!({"greeting": "Hello world!", "a": null}));
}

// ## Query parameter
// curl -X POST --data '{}' -H "Content-Type: application/json" \
//   ".../w/demo/jobs/run_wait_result/p/u/bot/hello_world_deno?token=supersecret"
#[tokio::test]
async fn post_with_the_token_as_a_query_parameter() {
    let app = hello_world_app().await;
    let r = app
        .client
        .post(app.ws(&format!("/jobs/run_wait_result/p/u/bot/hello_world_deno?token={TOKEN}")))
        .body("{}")
        .header(CONTENT_TYPE, "application/json")
        .send()
        .await
        .unwrap();
    let (_, out) = ok_json(r).await;
    assert_eq!(out, json!({"greeting": "Hello world!", "a": null}));
}

/// The page's synchronous GET: `-H "Content-Type: application/json"`, the
/// token in the header, `?payload=<URL_SAFE_BASE64_ENCODED_JSON>`.
async fn get_with_payload(app: &TestApp, payload: &str) -> Value {
    let r = app
        .client
        .get(app.ws(&format!("/jobs/run_wait_result/p/u/bot/hello_world_deno?payload={payload}")))
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    ok_json(r).await.1
}

// encodeURIComponent(btoa(JSON.stringify({a: 2}))): the standard alphabet, its padding percent-encoded.
#[tokio::test]
async fn get_with_a_payload_made_by_encode_uri_component_btoa() {
    let app = hello_world_app().await;
    let payload = encode_uri_component(&STANDARD.encode(r#"{"a":2}"#));
    assert_eq!(payload, "eyJhIjoyfQ%3D%3D");
    assert_eq!(get_with_payload(&app, &payload).await, json!({"greeting": "Hello world!", "a": 2}));

    // A payload whose standard encoding has `+` and `/` (percent-encoded by encodeURIComponent).
    let json = r#"{"a":2,"name":"w??rld>>>"}"#;
    let standard = STANDARD.encode(json);
    assert!(standard.contains('+') && standard.contains('/'), "{standard}");
    let out = get_with_payload(&app, &encode_uri_component(&standard)).await;
    assert_eq!(out, json!({"greeting": "Hello w??rld>>>!", "a": 2}));
}

// The same GET with the URL-safe alphabet (`-` and `_`, no padding) the page names.
#[tokio::test]
async fn get_with_a_url_safe_base64_payload() {
    let app = hello_world_app().await;
    let json = r#"{"a":2,"name":"w??rld>>>"}"#;
    let url_safe = URL_SAFE_NO_PAD.encode(json);
    assert!(url_safe.contains('-') && url_safe.contains('_'), "{url_safe}");
    let out = get_with_payload(&app, &url_safe).await;
    assert_eq!(out, json!({"greeting": "Hello w??rld>>>!", "a": 2}));
}

// [1,2,3] => {"body": [1,2,3]}, read by `def main(body: List[int]): print(body)`.
#[tokio::test]
async fn a_non_object_body_is_passed_at_body() {
    let app = spawn_app();
    let code = "from typing import List\n\ndef main(body: List[int]):\n    print(body)\n";
    app.create_script("u/user/new_script", "python3", code).await;
    let (id, out) = ok_json(app.post_json("/jobs/run_wait_result/p/u/user/new_script", &json!([1, 2, 3])).await).await;
    assert_eq!(out, Value::Null);
    let (args, logs) = args_and_logs(&app, &id).await;
    assert_eq!(args, json!({"body": [1, 2, 3]}));
    assert!(logs.contains("[1, 2, 3]"), "logs: {logs}");
}

/// Runs `code` with `?wrap_body=true` on an object body and checks that the
/// object arrived whole at `body` and was printed.
async fn wrap_body(language: &str, code: &str) {
    let app = spawn_app();
    app.create_script("u/user/new_script", language, code).await;
    let r = app.post_json("/jobs/run_wait_result/p/u/user/new_script?wrap_body=true", &json!({"who": "seed"})).await;
    let (id, out) = ok_json(r).await;
    assert_eq!(out, Value::Null);
    let (args, logs) = args_and_logs(&app, &id).await;
    assert_eq!(args, json!({"body": {"who": "seed"}}));
    assert!(logs.contains("who") && logs.contains("seed"), "logs: {logs}");
}

#[tokio::test]
async fn wrap_body_true_python() {
    wrap_body("python3", "from typing import Any\n\ndef main(body: Any):\n    print(body)\n").await;
}

const WRAP_BODY_TS: &str = "export async function main(body: any) {\n  console.log(body);\n}\n";

#[tokio::test]
async fn wrap_body_true_deno() {
    wrap_body("deno", WRAP_BODY_TS).await;
}

#[tokio::test]
async fn wrap_body_true_bun() {
    wrap_body("bun", WRAP_BODY_TS).await;
}

// raw=true: `raw_string` is the whole payload, unparsed (to verify a signature).
#[tokio::test]
async fn raw_true_adds_the_body_byte_for_byte() {
    let app = spawn_app();
    let code = "def main(raw_string: str, event: dict):\n    return {\"raw_string\": raw_string, \"event\": event}\n";
    app.create_script("u/user/new_script", "python3", code).await;
    let body = "{ \"event\" :{\"type\":\"ping\",  \"amount\": 1.50,\n \"name\": \"caf\\u00e9\"} }";
    let r = app
        .client
        .post(app.ws("/jobs/run_wait_result/p/u/user/new_script?raw=true"))
        .bearer_auth(TOKEN)
        .header(CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let (_, out) = ok_json(r).await;
    assert_eq!(out["raw_string"], body);
    assert_eq!(out["event"], json!({"type": "ping", "amount": 1.5, "name": "café"}));
}

/// Two files in `myfilefield` (one not UTF-8) and a text in `mytextfield`;
/// the script returns `myfilefield`, whose files are downloaded and compared.
async fn form_data(language: &str, code: &str) {
    use reqwest::multipart::{Form, Part};
    let app = spawn_app();
    app.create_script("u/user/new_script", language, code).await;
    let png: &[u8] = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe";
    let csv: &[u8] = b"a;b\n1;2\n";
    let form = Form::new()
        .text("mytextfield", "some text")
        .part("myfilefield", Part::bytes(png).file_name("pic.png").mime_str("image/png").unwrap())
        .part("myfilefield", Part::bytes(csv).file_name("table.csv").mime_str("text/csv").unwrap());
    let r = app
        .client
        .post(app.ws("/jobs/run_wait_result/p/u/user/new_script"))
        .bearer_auth(TOKEN)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let (id, out) = ok_json(r).await;
    let files = out.as_array().unwrap_or_else(|| panic!("myfilefield is not an array: {out}"));
    assert_eq!(files.len(), 2, "{out}");
    for (file, (bytes, ct)) in files.iter().zip([(png, "image/png"), (csv, "text/csv")]) {
        let key = file["s3"].as_str().unwrap_or_else(|| panic!("not an S3 object: {file}"));
        let r = app.get(&format!("/job_helpers/download_s3_file?file_key={}", encode_uri_component(key))).await;
        assert_eq!(r.status(), 200, "download {key}");
        assert_eq!(r.headers()[CONTENT_TYPE], ct);
        assert_eq!(r.bytes().await.unwrap().as_ref(), bytes, "{key}");
    }
    let (args, _) = args_and_logs(&app, &id).await;
    assert_eq!(args["mytextfield"], "some text");
}

#[tokio::test]
async fn form_data_upload_python() {
    let code = "import orvanta\nfrom typing import List\n\ndef main(mytextfield: str, myfilefield: List[orvanta.S3Object]):\n    return myfilefield\n";
    form_data("python3", code).await;
}

const FORM_DATA_TS: &str = "import { S3Object } from 'orvanta-client';\n\nexport async function main(mytextfield: string, myfilefield: S3Object[]) {\n  return myfilefield;\n}\n";

#[tokio::test]
async fn form_data_upload_deno() {
    form_data("deno", FORM_DATA_TS).await;
}

#[tokio::test]
async fn form_data_upload_bun() {
    form_data("bun", FORM_DATA_TS).await;
}

// /api/w/workspace/jobs/run_wait_result/p/u/user/new_script?include_header=X-Sign,foo
#[tokio::test]
async fn include_header_passes_x_sign_and_foo() {
    let app = spawn_app();
    let code = "def main(x_sign: str, foo: str):\n    return {\"x_sign\": x_sign, \"foo\": foo}\n";
    app.create_script("u/user/new_script", "python3", code).await;
    let r = app
        .client
        .post(app.ws("/jobs/run_wait_result/p/u/user/new_script?include_header=X-Sign,foo"))
        .bearer_auth(TOKEN)
        .header(CONTENT_TYPE, "application/json")
        .header("X-Sign", "sha256=abc123")
        .header("foo", "bar")
        .body("{}")
        .send()
        .await
        .unwrap();
    let (_, out) = ok_json(r).await;
    assert_eq!(out, json!({"x_sign": "sha256=abc123", "foo": "bar"}));
}

// /api/w/workspace/jobs/run_wait_result/p/u/user/new_script?include_query=a,b,c&a=foo&b=bar&c=foobar (a sync GET)
#[tokio::test]
async fn include_query_passes_a_b_c() {
    let app = spawn_app();
    let code = "def main(a: str, b: str, c: str):\n    return {\"a\": a, \"b\": b, \"c\": c}\n";
    app.create_script("u/user/new_script", "python3", code).await;
    let r = app.get("/jobs/run_wait_result/p/u/user/new_script?include_query=a,b,c&a=foo&b=bar&c=foobar").await;
    let (_, out) = ok_json(r).await;
    assert_eq!(out, json!({"a": "foo", "b": "bar", "c": "foobar"}));
}

/// A sync answer, read whole.
struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

/// Runs a script that returns `returned` (a Python literal) synchronously.
async fn custom_response(returned: &str) -> Answer {
    let app = spawn_app();
    app.create_script("u/user/new_script", "python3", &format!("def main():\n    return {returned}\n")).await;
    let r = app.post_json("/jobs/run_wait_result/p/u/user/new_script", &json!({})).await;
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    Answer { status, headers, body: r.text().await.unwrap() }
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

#[tokio::test]
async fn custom_response_code_201() {
    let r = custom_response(r#"{"wm_status_code": 201, "result": {"Hello": "World"}}"#).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(json_of(&r.body), json!({"Hello": "World"}));
}

#[tokio::test]
async fn custom_response_content_type_text_csv() {
    let r = custom_response(r#"{"wm_content_type": "text/csv", "result": "Hello;World"}"#).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers[CONTENT_TYPE], "text/csv");
    // Decided in the contract (§5): a string result goes out as text, without JSON quotes.
    assert_eq!(r.body, "Hello;World");
}

#[tokio::test]
async fn custom_response_headers_x_custom_header() {
    let r = custom_response(r#"{"wm_headers": {"X-Custom-Header": "foo"}, "result": {"Hello": "World"}}"#).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.headers["x-custom-header"], "foo");
    assert_eq!(r.headers[CONTENT_TYPE], "application/json");
    assert_eq!(json_of(&r.body), json!({"Hello": "World"}));
}

// Asynchronous: the webhook answers the job's uuid; the get job call gives its status and result.
#[tokio::test]
async fn async_run_answers_the_job_id_then_get_job_has_the_result() {
    let app = hello_world_app().await;
    let r = app
        .client
        .post(app.ws("/jobs/run/p/u/bot/hello_world_deno"))
        .body("{}")
        .header(CONTENT_TYPE, "application/json")
        .header(AUTHORIZATION, format!("Bearer {TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert!(r.headers()[CONTENT_TYPE].to_str().unwrap().starts_with("text/plain"));
    let id = r.text().await.unwrap();
    uuid::Uuid::parse_str(&id).unwrap_or_else(|_| panic!("not a uuid: {id:?}"));
    let job = app.wait_done(&id, 60).await;
    assert_eq!(job["id"], id.as_str());
    assert_eq!(job["success"], true, "{job}");
    assert_eq!(job["result"], json!({"greeting": "Hello world!", "a": null}));
    let r = app.get(&format!("/jobs_u/completed/get_result/{id}")).await;
    assert_eq!(ok_json(r).await.1, json!({"greeting": "Hello world!", "a": null}));
}
