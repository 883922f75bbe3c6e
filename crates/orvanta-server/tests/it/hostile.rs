//! Hostile input found by a fuzz run (issue "hostile input never breaks a
//! workspace"): each finding reproduced, then held fixed.

use crate::harness::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::time::Duration;

/// `depth` levels of nested arrays.
fn nested(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

/// How deep a JSON value nests (a scalar is 0, `[]` is 1).
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Parses an answer that may nest deeper than serde_json's default limit
/// (a listing wraps the 128 levels of a job's arguments in three more).
fn parse_deep(text: &str) -> Value {
    use serde::Deserialize;
    let mut de = serde_json::Deserializer::from_str(text);
    de.disable_recursion_limit();
    Value::deserialize(&mut de).unwrap_or_else(|e| panic!("not JSON ({e}): {}", &text[..text.len().min(300)]))
}

async fn post_raw(app: &TestApp, path: &str, body: String) -> reqwest::Response {
    app.client
        .post(app.ws(path))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_deeply_nested_body_is_readable_everywhere_and_runs() {
    let app = spawn_app();
    app.create_script("u/admin/sh", "bash", "echo hi").await;
    let r = post_raw(&app, "/jobs/run/p/u/admin/sh?scheduled_in_secs=864000", nested(127)).await;
    assert_eq!(r.status(), 201);
    let id = r.text().await.unwrap();

    for list in ["/jobs/list", "/jobs/list?status=queued", "/jobs/list?per_page=5"] {
        let r = app.get(list).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, 200, "{list}: {text}");
        let jobs = parse_deep(&text);
        let jobs = jobs.as_array().unwrap();
        assert!(jobs.iter().any(|j| j["id"] == id.as_str()), "{list} lists the job");
    }
    let job = parse_deep(&app.get(&format!("/jobs_u/get/{id}")).await.text().await.unwrap());
    assert_eq!(depth(&job["args"]), 128, "the wrapper adds a level: {{\"body\": ...}}");
    let maybe = app.get(&format!("/jobs_u/completed/get_result_maybe/{id}")).await;
    assert_eq!(maybe.status(), 200);
    assert_eq!(app.get(&format!("/jobs_u/get_logs/{id}")).await.status(), 200);
    assert_error(app.get(&format!("/jobs_u/completed/get_result/{id}")).await, 404, "not finished").await;
    let r = app.post_json(&format!("/jobs_u/queue/cancel/{id}"), &json!({})).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // Run at once: the worker reads the arguments and the script gets them whole.
    let py = "def main(body):\n    d = 0\n    while isinstance(body, list):\n        d += 1\n        body = body[0] if body else None\n    return d\n";
    app.create_script("u/admin/depth", "python3", py).await;
    let r = post_raw(&app, "/jobs/run_wait_result/p/u/admin/depth", nested(127)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!(127));

    // Deeper than the parser takes: a clear 400, and nothing stored.
    let count = || async { parse_deep(&app.get("/jobs/list").await.text().await.unwrap()).as_array().unwrap().len() };
    let before = count().await;
    let r = post_raw(&app, "/jobs/run/p/u/admin/sh", nested(200)).await;
    assert_error(r, 400, "nest").await;
    let after = count().await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn a_deeply_nested_result_is_readable() {
    let app = spawn_app();
    let py = "def main():\n    v = []\n    for _ in range(126):\n        v = [v]\n    return {\"r\": v}\n";
    app.create_script("u/admin/deep", "python3", py).await;
    let r = app.post_json("/jobs/run_wait_result/p/u/admin/deep", &json!({})).await;
    assert_eq!(r.status(), 200);
    let v = parse_deep(&r.text().await.unwrap());
    assert_eq!(depth(&v), 128);
    let jobs = app.get("/jobs/list").await;
    assert_eq!(jobs.status(), 200);
}

async fn upload(app: &TestApp, key: &str, body: &'static str) -> reqwest::Response {
    let url = app.ws(&format!("/job_helpers/upload_s3_file?file_key={key}"));
    app.client.post(url).bearer_auth(&app.token).body(body).send().await.unwrap()
}

/// Asserts an error answer that names no path of the server.
async fn assert_clean_error(app: &TestApp, r: reqwest::Response, status: u16, needle: &str) {
    let v = assert_error(r, status, needle).await;
    let dir = app.data_dir().to_string_lossy().into_owned();
    assert!(!v.to_string().contains(&dir), "the answer names the server's data folder: {v}");
}

#[tokio::test]
async fn bad_object_keys_are_client_errors_that_name_no_server_path() {
    let app = spawn_app();
    assert_eq!(upload(&app, "fz/m.txt", "x").await.status(), 200);
    // A key that names a folder, or sits under a file, does not exist as a file.
    let r = app.get("/job_helpers/download_s3_file?file_key=fz").await;
    assert_clean_error(&app, r, 404, "fz").await;
    let r = app.get("/job_helpers/download_s3_file?file_key=fz/m.txt/under").await;
    assert_clean_error(&app, r, 404, "fz/m.txt/under").await;
    // Writing there conflicts with what exists.
    assert_clean_error(&app, upload(&app, "fz", "y").await, 409, "fz").await;
    assert_clean_error(&app, upload(&app, "fz/m.txt/under", "y").await, 409, "fz/m.txt").await;
    // A segment longer than a file name may be.
    let long = "a".repeat(300);
    let r = app.get(&format!("/job_helpers/download_s3_file?file_key=x/{long}")).await;
    assert_clean_error(&app, r, 400, "240").await;
    assert_clean_error(&app, upload(&app, &format!("x/{long}"), "y").await, 400, "240").await;
    // What was there is intact.
    let r = app.get("/job_helpers/download_s3_file?file_key=fz/m.txt").await;
    assert_eq!(r.text().await.unwrap(), "x");
}

#[tokio::test]
async fn wrong_methods_and_bad_path_bytes_are_json_errors() {
    let app = spawn_app();
    let r = app.client.delete(app.ws("/jobs/list")).bearer_auth(&app.token).send().await.unwrap();
    let allow = r.headers().get("allow").map(|v| v.to_str().unwrap().to_owned());
    assert_error(r, 405, "GET").await;
    assert!(allow.is_some_and(|a| a.contains("GET")), "405 carries Allow");
    let r = app.client.put(app.ws("/jobs/run/p/u/admin/x")).bearer_auth(&app.token).send().await.unwrap();
    assert_error(r, 405, "POST").await;
    let r = app.client.get(app.url("/api/users/tokens/create")).bearer_auth(&app.token).send().await.unwrap();
    assert_error(r, 405, "POST").await;
    for path in ["/api/w/demo/jobs_u/get/%FF", "/api/w/%FF%FE/jobs/list", "/api/w/demo/scripts/get/p/u/a%C3/x"] {
        let r = app.client.get(app.url(path)).bearer_auth(&app.token).send().await.unwrap();
        assert_error(r, 400, "UTF-8").await;
    }
}

/// Sends raw bytes over TCP and answers the status line and body of the answer.
fn raw_http(app: &TestApp, request: &[u8], half_close: bool) -> (u16, String) {
    let addr = app.base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request).unwrap();
    if half_close {
        s.shutdown(std::net::Shutdown::Write).unwrap();
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&out);
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                        })
                        .and_then(|v| v.parse::<usize>().ok());
                    if len.is_some_and(|l| out.len() >= head_end + 4 + l) {
                        break;
                    }
                }
            }
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

#[tokio::test]
async fn a_broken_body_is_a_400_not_a_413() {
    let app = spawn_app();
    app.create_script("u/admin/sh", "bash", "echo hi").await;
    let head = |extra: &str| {
        format!(
            "POST /api/w/demo/jobs/run/p/u/admin/sh HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\n{extra}\r\n"
        )
    };
    let chunked = format!("{}zz\r\n{{}}\r\n0\r\n\r\n", head("Transfer-Encoding: chunked\r\n"));
    let (status, body) = raw_http(&app, chunked.as_bytes(), false);
    assert_eq!(status, 400, "malformed chunk size: {body}");
    assert!(body.contains("\"code\""), "{body}");
    let short = format!("{}{{\"a\": 1}}", head("Content-Length: 100\r\n"));
    let (status, body) = raw_http(&app, short.as_bytes(), true);
    assert_eq!(status, 400, "a body shorter than its Content-Length: {body}");
    assert!(body.contains("\"code\""), "{body}");
}

#[tokio::test]
async fn paging_never_overflows_and_pages_are_capped() {
    let app = spawn_app();
    app.create_script("u/admin/sh", "bash", "echo hi").await;
    for _ in 0..3 {
        post_raw(&app, "/jobs/run/p/u/admin/sh?scheduled_in_secs=86400", "{}".into()).await;
    }
    let r = app.get("/jobs/list?page=9223372036854775807&per_page=1000").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Vec<Value>>().await.unwrap(), Vec::<Value>::new(), "a page past the end is empty");
    let r = app.get("/jobs/list?page=-5&per_page=-1").await;
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 3);
    let r = app.get("/jobs/list?page=2&per_page=2").await;
    assert_eq!(r.json::<Vec<Value>>().await.unwrap().len(), 1);
    let r = app.get("/jobs/list?per_page=99999999999999999999").await;
    assert_error(r, 400, "per_page").await;
}

#[tokio::test]
async fn a_sync_call_for_a_tag_no_worker_serves_answers_at_once() {
    let app = spawn_app();
    app.create_script("u/admin/sh", "bash", "echo hi").await;
    for route in ["run_wait_result", "run_and_stream"] {
        let started = std::time::Instant::now();
        let r = app.post_json(&format!("/jobs/{route}/p/u/admin/sh?tag=gpu-nowhere"), &json!({})).await;
        assert!(started.elapsed() < Duration::from_secs(60), "{route} answered at once");
        let id = r.headers()["x-orvanta-job-id"].to_str().unwrap().to_owned();
        let v = assert_error(r, 503, "gpu-nowhere").await;
        assert_eq!(v["error"]["job_id"], id.as_str(), "{v}");
        assert_eq!(app.job(&id).await["status"], "queued", "the job waits for a worker that may come");
    }
    // The async route takes it, as before.
    let r = app.post_json("/jobs/run/p/u/admin/sh?tag=gpu-nowhere", &json!({})).await;
    assert_eq!(r.status(), 201);
    // A served tag still runs synchronously.
    let r = app.post_json("/jobs/run_wait_result/p/u/admin/sh?tag=default", &json!({})).await;
    assert_eq!(r.status(), 200);
}
