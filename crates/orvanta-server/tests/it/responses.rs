//! Sync answers over HTTP (contract §5): custom responses, failures,
//! delete_after_use, the sync timeout.

use crate::harness::*;
use serde_json::{json, Value};

/// A script that returns its argument `r`: every rule below is driven by the request.
async fn echo_app() -> TestApp {
    let app = spawn_app();
    app.create_script("u/admin/echo", "python3", "def main(r):\n    return r\n").await;
    app
}

async fn echo(app: &TestApp, r: Value) -> reqwest::Response {
    app.post_json("/jobs/run_wait_result/p/u/admin/echo", &json!({ "r": r })).await
}

#[tokio::test]
async fn the_three_seed_examples() {
    let app = echo_app().await;
    let r = echo(&app, json!({"wm_status_code": 201, "result": {"Hello": "World"}})).await;
    assert_eq!(r.status(), 201);
    assert!(r.headers().contains_key("x-orvanta-job-id"));
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"Hello": "World"}));

    let r = echo(&app, json!({"wm_content_type": "text/csv", "result": "Hello;World"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv");
    assert_eq!(r.text().await.unwrap(), "Hello;World");

    let r = echo(&app, json!({"wm_headers": {"X-Custom-Header": "foo"}, "result": {"Hello": "World"}})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["x-custom-header"], "foo");
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"Hello": "World"}));
}

#[tokio::test]
async fn every_spelling_of_every_control_key() {
    let app = echo_app().await;
    for p in ["wm_", "orvanta_", "windmill_"] {
        let body = json!({
            format!("{p}status_code"): 202,
            format!("{p}content_type"): "text/plain; charset=utf-8",
            format!("{p}headers"): {"X-Spelling": p},
            "result": {"a": 1},
        });
        let r = echo(&app, body).await;
        assert_eq!(r.status(), 202, "{p}");
        assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8", "{p}");
        assert_eq!(r.headers()["x-spelling"], p);
        assert_eq!(r.text().await.unwrap(), r#"{"a":1}"#, "{p}: a non-string result is its JSON text");
    }
}

#[tokio::test]
async fn invalid_status_codes_and_headers_are_500s_that_name_them() {
    let app = echo_app().await;
    for (key, code) in [("wm_status_code", 42), ("orvanta_status_code", 600), ("windmill_status_code", 1000)] {
        let v = assert_error(echo(&app, json!({key: code, "result": 1})).await, 500, key).await;
        assert_eq!(v["error"]["code"], "invalid-status-code");
        assert!(v["error"]["message"].as_str().unwrap().contains(&code.to_string()), "{v}");
    }
    let v =
        assert_error(echo(&app, json!({"wm_status_code": "201", "result": 1})).await, 500, "not a whole number").await;
    assert_eq!(v["error"]["code"], "invalid-status-code");
    let v = assert_error(echo(&app, json!({"wm_headers": {"bad header": "x"}, "result": 1})).await, 500, "bad header")
        .await;
    assert_eq!(v["error"]["code"], "invalid-header");
    let bad_value = json!({"orvanta_headers": {"x-a": "two\nlines"}, "result": 1});
    assert_error(echo(&app, bad_value).await, 500, "x-a").await;
    assert_error(echo(&app, json!({"wm_headers": "x-a: b", "result": 1})).await, 500, "wm_headers").await;
}

#[tokio::test]
async fn control_keys_without_result_answer_an_empty_body() {
    let app = echo_app().await;
    let r = echo(&app, json!({"wm_headers": {"x-a": "b"}})).await;
    assert_eq!((r.status().as_u16(), r.headers()["x-a"].to_str().unwrap().to_owned()), (204, "b".into()));
    assert_eq!(r.text().await.unwrap(), "");
    let r = echo(&app, json!({"orvanta_status_code": 202})).await;
    assert_eq!(r.status(), 202);
    assert_eq!(r.text().await.unwrap(), "");
    // Without control keys a `result` key is just data.
    let r = echo(&app, json!({"result": 1, "other": 2})).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"result": 1, "other": 2}));
}

#[tokio::test]
async fn a_failure_answers_200_by_default_and_the_error_status_code_when_set() {
    let app = spawn_app();
    let code = "def main():\n    raise ValueError('bad value')\n";
    app.create_script("u/admin/fails", "python3", code).await;
    app.create_script_with(
        json!({"path": "u/admin/fails422", "language": "python3", "content": code, "error_status_code": 422}),
    )
    .await;
    for (path, status) in [("u/admin/fails", 200), ("u/admin/fails422", 422)] {
        let r = app.post_json(&format!("/jobs/run_wait_result/p/{path}"), &json!({})).await;
        assert_eq!(r.status(), status, "{path}");
        assert!(r.headers().contains_key("x-orvanta-job-id"));
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            (v["error"]["name"].as_str(), v["error"]["message"].as_str()),
            (Some("ValueError"), Some("bad value"))
        );
    }
}

/// One row of the SQLite file, read apart from the server.
fn sqlite(app: &TestApp, sql: &str) -> String {
    run_sqlite(&app.data_dir().join("orvanta.db"), &[sql])
}

#[tokio::test]
async fn delete_after_use_leaves_no_args_logs_or_result_behind_a_sync_run() {
    let app = spawn_app();
    let code = "def main(secret: str):\n    print('the secret is', secret)\n    return {'echo': secret}\n";
    app.create_script_with(
        json!({"path": "u/admin/once", "language": "python3", "content": code, "delete_after_use": true}),
    )
    .await;
    let r = app.post_json("/jobs/run_wait_result/p/u/admin/once", &json!({"secret": "s3cr3t"})).await;
    assert_eq!(r.status(), 200);
    let id = r.headers()["x-orvanta-job-id"].to_str().unwrap().to_owned();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"echo": "s3cr3t"}));

    let job = app.job(&id).await;
    assert_eq!(
        (job["args"].clone(), job["result"].clone(), job["deleted"].clone()),
        (json!(null), json!(null), json!(true))
    );
    assert_eq!((job["status"].as_str(), job["script_path"].as_str()), (Some("success"), Some("u/admin/once")), "{job}");
    assert_eq!(app.get(&format!("/jobs_u/get_logs/{id}")).await.text().await.unwrap(), "");
    let row = sqlite(&app, &format!("SELECT args IS NULL, result IS NULL, purged, status FROM jobs WHERE id = '{id}'"));
    assert_eq!(row, "1|1|1|success");
    let chunks = sqlite(
        &app,
        &format!("SELECT (SELECT count(*) FROM job_logs WHERE job_id = '{id}') + (SELECT count(*) FROM job_stream WHERE job_id = '{id}')"),
    );
    assert_eq!(chunks, "0");
    // LIKE reads text only: a packed value (a BLOB, 512 bytes or more) would
    // hide the secret from it, so none may be packed here.
    let packed = sqlite(&app, "SELECT count(*) FROM jobs WHERE typeof(args) = 'blob' OR typeof(result) = 'blob'");
    assert_eq!(packed, "0", "a packed value would make the search below blind");
    let hits = sqlite(&app, "SELECT count(*) FROM jobs WHERE args LIKE '%s3cr3t%' OR result LIKE '%s3cr3t%'");
    let log_hits = sqlite(&app, "SELECT count(*) FROM job_logs WHERE chunk LIKE '%s3cr3t%'");
    assert_eq!((hits.as_str(), log_hits.as_str()), ("0", "0"));

    // The async route ignores the setting.
    let id = app.run_async("u/admin/once", &json!({"secret": "kept"})).await;
    let job = app.wait_done(&id, 30).await;
    assert_eq!((job["args"].clone(), job["result"].clone()), (json!({"secret": "kept"}), json!({"echo": "kept"})));
    assert_eq!(job["deleted"], false);
    assert!(app.get(&format!("/jobs_u/get_logs/{id}")).await.text().await.unwrap().contains("kept"));
}

#[tokio::test]
async fn a_sync_timeout_answers_504_and_the_job_goes_on() {
    let app = start(Opts { env: vec![("ORVANTA_SYNC_TIMEOUT_S".into(), "1".into())], ..Opts::default() });
    app.create_script("u/admin/slow", "bash", "sleep 5\necho finished").await;
    let r = app.post_json("/jobs/run_wait_result/p/u/admin/slow", &json!({})).await;
    assert_eq!(r.status(), 504);
    let id = r.headers()["x-orvanta-job-id"].to_str().unwrap().to_owned();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["error"]["name"].as_str(), v["error"]["job_id"].as_str()),
        (Some("Timeout"), Some(id.as_str())),
        "{v}"
    );
    assert!(v["error"]["message"].as_str().unwrap().contains("timeout"), "{v}");
    assert_eq!(v["error"]["code"], "sync-timeout", "an error body like every other: {v}");
    let job = app.wait_done(&id, 30).await;
    assert_eq!((job["status"].as_str(), job["result"].as_str()), (Some("success"), Some("finished")), "{job}");
}

#[tokio::test]
async fn a_caller_that_hangs_up_still_leaves_nothing_behind() {
    let app = spawn_app();
    let code = "import time\ndef main(secret: str):\n    print(secret)\n    time.sleep(3)\n    return secret\n";
    app.create_script_with(
        json!({"path": "u/admin/gone", "language": "python3", "content": code, "delete_after_use": true}),
    )
    .await;
    let id = uuid::Uuid::new_v4().to_string();
    let impatient = reqwest::Client::builder().timeout(std::time::Duration::from_millis(500)).build().unwrap();
    let sent = impatient
        .post(app.ws(&format!("/jobs/run_wait_result/p/u/admin/gone?job_id={id}")))
        .bearer_auth(TOKEN)
        .json(&json!({"secret": "s3cr3t"}))
        .send()
        .await;
    assert!(sent.is_err(), "the caller should have given up before the job ended");
    let job = app.wait_for(&id, 30, "the purge", |j| j["deleted"] == true).await;
    assert_eq!(
        (job["status"].as_str(), job["args"].clone(), job["result"].clone()),
        (Some("success"), json!(null), json!(null))
    );
    assert_eq!(app.get(&format!("/jobs_u/get_logs/{id}")).await.text().await.unwrap(), "");
}
