//! The client libraries scripts import (`import orvanta`, `from
//! "orvanta-client"`), run inside real jobs against the real server: the
//! job's context, and reading and writing files of the workspace object
//! storage through `job_helpers/upload_s3_file` and `download_s3_file`.

use crate::harness::*;
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

const PYTHON: &str = r#"import orvanta


def main(uploaded: orvanta.S3Object):
    named = orvanta.write_s3_file(orvanta.S3Object(s3="clients/greeting.txt"), "héllo from a job")
    fresh = orvanta.write_s3_file(None, b"\x00\x01\xfe\xff", "application/x-demo")
    return {
        "job_id": orvanta.get_job_id(),
        "workspace": orvanta.get_workspace(),
        "base_url": orvanta.get_base_url(),
        "has_token": bool(orvanta.get_token()),
        "named": named,
        "named_is_s3object": isinstance(named, orvanta.S3Object),
        "named_text": orvanta.load_s3_file_text(named),
        "by_key": orvanta.load_s3_file("clients/greeting.txt").decode(),
        "fresh": fresh,
        "fresh_bytes": list(orvanta.load_s3_file(fresh)),
        "uploaded_text": orvanta.load_s3_file_text(orvanta.S3Object(uploaded)),
        "from_dict": orvanta.S3Object({"s3": "k", "extra": 1}),
    }
"#;

const TYPESCRIPT: &str = r#"import {
  getBaseUrl, getJobId, getToken, getWorkspace, loadS3File, loadS3FileText, S3Object, writeS3File,
} from "orvanta-client";

export async function main(uploaded: S3Object) {
  const named: S3Object = await writeS3File({ s3: "clients/greeting.txt" }, "héllo from a job");
  const fresh = await writeS3File(undefined, new Uint8Array([0, 1, 254, 255]), "application/x-demo");
  return {
    job_id: getJobId(),
    workspace: getWorkspace(),
    base_url: getBaseUrl(),
    has_token: getToken().length > 0,
    named,
    named_text: await loadS3FileText(named),
    by_key: new TextDecoder().decode(await loadS3File("clients/greeting.txt")),
    fresh,
    fresh_bytes: Array.from(await loadS3File(fresh)),
    uploaded_text: await loadS3FileText(uploaded),
    made: S3Object("k"),
  };
}
"#;

/// Runs `path` synchronously with `args`; answers the job id and the result.
async fn run_sync(app: &TestApp, path: &str, args: &Value) -> (String, Value) {
    let r = app.post_json(&format!("/jobs/run_wait_result/p/{path}"), args).await;
    let status = r.status();
    let id = r.headers()["x-orvanta-job-id"].to_str().unwrap().to_owned();
    let text = r.text().await.unwrap();
    assert_eq!(status, 200, "run {path}: {text}");
    (id, serde_json::from_str(&text).unwrap_or_else(|_| panic!("result of {path} is not JSON: {text}")))
}

/// A file's bytes and content type, read through the download endpoint.
async fn download(app: &TestApp, key: &str) -> (Vec<u8>, String) {
    let r = app.get(&format!("/job_helpers/download_s3_file?file_key={key}")).await;
    assert_eq!(r.status(), 200, "download {key}");
    let ct = r.headers()[CONTENT_TYPE].to_str().unwrap().to_owned();
    (r.bytes().await.unwrap().to_vec(), ct)
}

/// Puts a file in the workspace storage from outside, as a caller would.
async fn upload_from_outside(app: &TestApp, key: &str, body: &'static str) {
    let r = app
        .client
        .post(app.ws(&format!("/job_helpers/upload_s3_file?file_key={key}")))
        .bearer_auth(&app.token)
        .header(CONTENT_TYPE, "text/plain")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "upload {key}: {}", r.text().await.unwrap());
}

/// Runs the round trip script `code` in `language` and checks what it saw and wrote.
async fn round_trip(language: &str, code: &str) -> Value {
    let app = spawn_app();
    upload_from_outside(&app, "inbox/hello.txt", "written by the caller").await;
    app.create_script("u/admin/client_round_trip", language, code).await;
    let (id, out) = run_sync(&app, "u/admin/client_round_trip", &json!({"uploaded": {"s3": "inbox/hello.txt"}})).await;
    assert!(out.get("error").is_none(), "{language} job failed: {out}");
    assert_eq!(out["job_id"], id.as_str(), "{out}");
    assert_eq!(out["workspace"], "demo");
    assert_eq!(out["base_url"], app.base.as_str());
    assert_eq!(out["has_token"], true);
    assert_eq!(out["named"], json!({"s3": "clients/greeting.txt"}));
    assert_eq!(out["named_text"], "héllo from a job");
    assert_eq!(out["by_key"], "héllo from a job");
    assert_eq!(out["fresh_bytes"], json!([0, 1, 254, 255]));
    assert_eq!(out["uploaded_text"], "written by the caller");

    // What the job wrote is in the workspace storage for everyone else.
    let (bytes, ct) = download(&app, "clients/greeting.txt").await;
    assert_eq!(bytes, "héllo from a job".as_bytes());
    assert_eq!(ct, "text/plain; charset=utf-8");
    let fresh = out["fresh"]["s3"].as_str().unwrap_or_else(|| panic!("no key chosen by the server: {out}"));
    let (bytes, ct) = download(&app, fresh).await;
    assert_eq!(bytes, [0, 1, 254, 255]);
    assert_eq!(ct, "application/x-demo");
    out
}

#[tokio::test]
async fn python_client_writes_reads_and_knows_its_job() {
    let out = round_trip("python3", PYTHON).await;
    assert_eq!(out["named_is_s3object"], true);
    assert_eq!(out["from_dict"], json!({"s3": "k", "extra": 1}));
}

#[tokio::test]
async fn deno_client_writes_reads_and_knows_its_job() {
    let out = round_trip("deno", TYPESCRIPT).await;
    assert_eq!(out["made"], json!({"s3": "k"}));
}

#[tokio::test]
async fn bun_client_writes_reads_and_knows_its_job() {
    let out = round_trip("bun", TYPESCRIPT).await;
    assert_eq!(out["made"], json!({"s3": "k"}));
}

/// The error result of a job that loads a key nobody wrote.
async fn load_missing(language: &str, code: &str) -> Value {
    let app = spawn_app();
    app.create_script("u/admin/load_missing", language, code).await;
    let (_, out) = run_sync(&app, "u/admin/load_missing", &json!({})).await;
    let error = &out["error"];
    assert_eq!(error["name"], "OrvantaError", "{out}");
    let message = error["message"].as_str().unwrap_or_else(|| panic!("no error message: {out}"));
    // The server's own words, the key, and the status.
    assert!(message.contains("no file 'no/such/file.txt'"), "{message}");
    assert!(message.contains("404"), "{message}");
    out
}

#[tokio::test]
async fn python_client_raises_the_servers_message_for_a_missing_file() {
    load_missing("python3", "import orvanta\n\n\ndef main():\n    return orvanta.load_s3_file('no/such/file.txt')\n")
        .await;
}

#[tokio::test]
async fn python_client_error_carries_status_and_code() {
    let app = spawn_app();
    let code = r#"import orvanta


def main():
    try:
        orvanta.load_s3_file_text({"s3": "no/such/file.txt"})
    except orvanta.OrvantaError as e:
        return {"status": e.status, "code": e.code, "message": e.message}
"#;
    app.create_script("u/admin/status", "python3", code).await;
    let (_, out) = run_sync(&app, "u/admin/status", &json!({})).await;
    assert_eq!(out["status"], 404, "{out}");
    assert_eq!(out["code"], "not-found");
}

const TS_MISSING: &str = r#"import { loadS3File } from "orvanta-client";

export async function main() {
  return await loadS3File({ s3: "no/such/file.txt" });
}
"#;

#[tokio::test]
async fn deno_client_throws_the_servers_message_for_a_missing_file() {
    load_missing("deno", TS_MISSING).await;
}

#[tokio::test]
async fn bun_client_throws_the_servers_message_for_a_missing_file() {
    load_missing("bun", TS_MISSING).await;
}

/// Every Python job imports the client: importing it must not pull in an
/// HTTP client or other heavy modules (they load on first use).
#[test]
fn importing_the_python_client_loads_nothing_heavy() {
    let clients = concat!(env!("CARGO_MANIFEST_DIR"), "/../../clients/python");
    let probe =
        "import sys; before = set(sys.modules); import orvanta; print(' '.join(sorted(set(sys.modules) - before)))";
    let out = std::process::Command::new("python3")
        .args(["-c", probe])
        .env("PYTHONPATH", clients)
        .output()
        .expect("python3 must be installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let loaded = String::from_utf8(out.stdout).unwrap();
    let loaded: Vec<&str> = loaded.split_whitespace().collect();
    assert!(loaded.contains(&"orvanta"), "{loaded:?}");
    for heavy in ["urllib.request", "http.client", "json", "typing", "ssl", "email"] {
        assert!(!loaded.contains(&heavy), "importing orvanta loaded {heavy}: {loaded:?}");
    }
}
