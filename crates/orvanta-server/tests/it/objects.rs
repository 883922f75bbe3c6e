//! The workspace object storage over HTTP: `job_helpers/upload_s3_file` and
//! `job_helpers/download_s3_file`, on the local folder and on a real
//! S3-compatible server.

use crate::harness::*;
use reqwest::header::CONTENT_TYPE;
use serde_json::{json, Value};

async fn upload(app: &TestApp, query: &str, ct: &str, body: &'static [u8]) -> reqwest::Response {
    app.client
        .post(app.ws(&format!("/job_helpers/upload_s3_file{query}")))
        .bearer_auth(&app.token)
        .header(CONTENT_TYPE, ct)
        .body(body)
        .send()
        .await
        .unwrap()
}

/// Uploads, downloads, and checks bytes and content type.
async fn round_trip(app: &TestApp) -> String {
    let r = upload(app, "?file_key=reports/2026/q1.csv", "text/csv", b"a,b\n1,2\n").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"file_key": "reports/2026/q1.csv"}));
    let r = app.get("/job_helpers/download_s3_file?file_key=reports/2026/q1.csv").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()[CONTENT_TYPE], "text/csv");
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"a,b\n1,2\n");

    let r = upload(app, "", "application/octet-stream", b"\x00\xff").await;
    assert_eq!(r.status(), 200);
    let key = r.json::<Value>().await.unwrap()["file_key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("uploads/") && key.ends_with("/file"), "{key}");
    let r = app.get(&format!("/job_helpers/download_s3_file?file_key={key}")).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), b"\x00\xff");
    key
}

#[tokio::test]
async fn upload_then_download_in_the_local_folder() {
    let app = spawn_app();
    let key = round_trip(&app).await;
    assert!(app.data_dir().join("objects/demo").join(key).is_file());
}

#[tokio::test]
async fn upload_then_download_in_a_real_s3_server() {
    let moto = Moto::start("orvanta-objects").await;
    let app = start(Opts { env: moto.env(), ..Default::default() });
    let key = round_trip(&app).await;
    assert_eq!(moto.object(&format!("demo/{key}")).await.as_deref(), Some(&b"\x00\xff"[..]));
    assert_eq!(moto.object("demo/reports/2026/q1.csv").await.as_deref(), Some(&b"a,b\n1,2\n"[..]));
    let r = app.get("/job_helpers/download_s3_file?file_key=no/such.txt").await;
    assert_error(r, 404, "no/such.txt").await;
}

#[tokio::test]
async fn missing_token_missing_key_and_bad_keys() {
    let app = spawn_app();
    let r = app.client.get(app.ws("/job_helpers/download_s3_file?file_key=a.txt")).send().await.unwrap();
    assert_error(r, 401, "").await;
    let r = app.client.post(app.ws("/job_helpers/upload_s3_file?file_key=a.txt")).body("x").send().await.unwrap();
    assert_error(r, 401, "").await;
    assert_error(app.get("/job_helpers/download_s3_file?file_key=none/here.txt").await, 404, "none/here.txt").await;
    assert_error(app.get("/job_helpers/download_s3_file").await, 400, "file_key").await;
    assert_error(app.get("/job_helpers/download_s3_file?file_key=../etc/passwd").await, 400, "not valid").await;
    assert_error(upload(&app, "?file_key=/abs", "text/plain", b"x").await, 400, "not valid").await;
    assert!(!app.data_dir().join("objects").exists(), "a refused upload stores nothing");
}

#[tokio::test]
async fn an_unreachable_store_is_a_503_naming_it() {
    let env = [
        ("ORVANTA_S3_BUCKET", "files-b"),
        ("ORVANTA_S3_ENDPOINT", "http://127.0.0.1:1"),
        ("ORVANTA_S3_ACCESS_KEY_ID", "k"),
        ("ORVANTA_S3_SECRET_ACCESS_KEY", "secret-never-shown"),
    ];
    let env = env.into_iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect();
    let app = start(Opts { env, ..Default::default() });
    let v = assert_error(upload(&app, "?file_key=a.txt", "text/plain", b"x").await, 503, "files-b").await;
    assert!(v["error"]["message"].as_str().unwrap().contains("127.0.0.1:1"), "{v}");
    assert_error(app.get("/job_helpers/download_s3_file?file_key=a.txt").await, 503, "127.0.0.1:1").await;
}

#[tokio::test]
async fn a_job_token_may_upload_and_read() {
    let app = spawn_app();
    let code = r#"import json, os, urllib.request
def main():
    base = os.environ["ORVANTA_BASE_URL"] + "/api/w/" + os.environ["ORVANTA_WORKSPACE"] + "/job_helpers/"
    auth = {"Authorization": "Bearer " + os.environ["ORVANTA_TOKEN"]}
    req = urllib.request.Request(base + "upload_s3_file?file_key=from/job.txt", data=b"made by a job", method="POST",
                                 headers={**auth, "Content-Type": "text/plain"})
    up = json.loads(urllib.request.urlopen(req).read())
    down = urllib.request.urlopen(urllib.request.Request(base + "download_s3_file?file_key=from/job.txt", headers=auth))
    return {"up": up, "down": down.read().decode()}
"#;
    app.create_script("u/admin/uploader", "python3", code).await;
    let r = app.post_json("/jobs/run_wait_result/p/u/admin/uploader", &json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"up": {"file_key": "from/job.txt"}, "down": "made by a job"}));
}

#[tokio::test]
async fn downloads_are_attachments_never_rendered() {
    let app = spawn_app();
    let r = app
        .client
        .post(app.ws("/job_helpers/upload_s3_file?file_key=pages/a.html"))
        .bearer_auth(TOKEN)
        .header("content-type", "text/html")
        .body("<script>alert(1)</script>")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = app.get("/job_helpers/download_s3_file?file_key=pages/a.html").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-disposition"], "attachment");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    let r = app
        .client
        .post(app.ws("/job_helpers/upload_s3_file?file_key=pages/a.html.orvanta-meta"))
        .bearer_auth(TOKEN)
        .body("text/html")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "not valid").await;
}
