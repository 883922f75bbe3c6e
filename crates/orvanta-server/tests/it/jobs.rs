//! The queue over HTTP: run, read, logs while running, cancel, timeout, lists.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;

#[tokio::test]
async fn an_async_run_is_committed_and_completes() {
    let app = spawn_app();
    app.create_script("u/admin/inc", "python3", "def main(x: int):\n    print('adding')\n    return x + 1\n").await;
    let r = app.post_json("/jobs/run/p/u/admin/inc", &json!({"x": 41})).await;
    assert_eq!(r.status(), 201);
    let header = r.headers()["x-orvanta-job-id"].to_str().unwrap().to_owned();
    assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");
    let id = r.text().await.unwrap();
    assert_eq!(id, header);
    let job = app.wait_done(&id, 30).await;
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["result"], 42);
    assert_eq!(job["args"], json!({"x": 41}));
    assert_eq!(job["trigger"], "webhook");
    assert_eq!(job["script_path"], "u/admin/inc");
    assert!(job["worker"].is_string());
    let result: Value = app.get(&format!("/jobs_u/completed/get_result/{id}")).await.json().await.unwrap();
    assert_eq!(result, 42);
    let maybe: Value = app.get(&format!("/jobs_u/completed/get_result_maybe/{id}")).await.json().await.unwrap();
    assert_eq!(maybe, json!({"completed": true, "success": true, "started": null, "result": 42}));
    let logs = app.get(&format!("/jobs_u/get_logs/{id}")).await.text().await.unwrap();
    assert!(logs.contains("adding"), "{logs}");
}

#[tokio::test]
async fn logs_are_readable_while_the_job_runs() {
    let app = spawn_app();
    let code = "import time\ndef main():\n    print('first', flush=True)\n    time.sleep(30)\n    return 1\n";
    app.create_script("u/admin/slow", "python3", code).await;
    let id = app.run_async("u/admin/slow", &json!({})).await;
    let until = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let logs = app.get(&format!("/jobs_u/get_logs/{id}")).await.text().await.unwrap();
        if logs.contains("first") {
            break;
        }
        assert!(std::time::Instant::now() < until, "logs never showed 'first': {logs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let r = app.get(&format!("/jobs_u/completed/get_result/{id}")).await;
    assert_error(r, 404, "not finished").await;
    let maybe: Value = app.get(&format!("/jobs_u/completed/get_result_maybe/{id}")).await.json().await.unwrap();
    assert_eq!(maybe, json!({"completed": false, "success": null, "started": true, "result": null}));
    let r = app.post_json(&format!("/jobs_u/queue/cancel/{id}"), &json!({"reason": "enough"})).await;
    assert_eq!(r.status(), 200);
    let job = app.wait_done(&id, 20).await;
    assert_eq!(job["status"], "canceled");
    assert!(job["result"]["error"]["message"].as_str().unwrap().contains("enough"), "{job}");
}

#[tokio::test]
async fn cancel_kills_the_whole_sandbox() {
    let app = spawn_app();
    let rv = crate::rendezvous::Rendezvous::start().await;
    let mark = crate::faults::sleep_mark();
    // A grandchild in a session of its own, ignoring SIGTERM and SIGHUP.
    let code = format!(
        "setsid bash -c \"trap '' TERM HUP; sleep {mark}\" &\ncurl -sf -d started {}\nwait\n",
        rv.url("started")
    );
    app.create_script("u/admin/tree", "bash", &code).await;
    let id = app.run_async("u/admin/tree", &json!({})).await;
    rv.wait("started", 30).await;
    assert!(crate::faults::running(&mark));
    let r = app.client.post(app.ws(&format!("/jobs_u/queue/cancel/{id}"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let job = app.wait_done(&id, 20).await;
    assert_eq!(job["status"], "canceled");
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while crate::faults::running(&mark) {
        assert!(std::time::Instant::now() < until, "the setsid grandchild survived the cancel");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A finished job cannot be canceled again.
    let r = app.client.post(app.ws(&format!("/jobs_u/queue/cancel/{id}"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_error(r, 409, "already finished").await;
}

#[tokio::test]
async fn a_timeout_fails_the_job_with_a_reason() {
    let app = spawn_app();
    app.create_script_with(
        json!({"path": "u/admin/forever", "language": "bash", "content": "sleep 300", "timeout_s": 1}),
    )
    .await;
    let id = app.run_async("u/admin/forever", &json!({})).await;
    let job = app.wait_done(&id, 30).await;
    assert_eq!(job["status"], "failure");
    assert_eq!(job["result"]["error"]["name"], "Timeout", "{job}");
}

#[tokio::test]
async fn failures_missing_arguments_and_extra_arguments() {
    let app = spawn_app();
    app.create_script("u/admin/boom", "python3", "def main():\n    raise ValueError('bad value')\n").await;
    let r = app.post_json("/jobs/run_wait_result/p/u/admin/boom", &json!({})).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["error"]["name"], "ValueError");
    assert_eq!(v["error"]["message"], "bad value");
    assert!(v["error"]["stack"].as_str().unwrap().contains("raise ValueError"));
    app.create_script("u/admin/needs", "python3", "def main(a: int, b: str = 'x'):\n    return [a, b]\n").await;
    let v: Value =
        app.post_json("/jobs/run_wait_result/p/u/admin/needs", &json!({"b": "y"})).await.json().await.unwrap();
    assert!(v["error"]["message"].as_str().unwrap().contains("'a'"), "{v}");
    let v: Value =
        app.post_json("/jobs/run_wait_result/p/u/admin/needs", &json!({"a": 1, "zzz": 2})).await.json().await.unwrap();
    assert_eq!(v, json!([1, "x"]));
    app.create_script("u/admin/kw", "python3", "def main(a: int, **kwargs):\n    return kwargs\n").await;
    let v: Value =
        app.post_json("/jobs/run_wait_result/p/u/admin/kw", &json!({"a": 1, "zzz": 2})).await.json().await.unwrap();
    assert_eq!(v, json!({"zzz": 2}));
    app.create_script("u/admin/exit", "bash", "echo about to fail\nexit 3").await;
    let v: Value = app.post_json("/jobs/run_wait_result/p/u/admin/exit", &json!({})).await.json().await.unwrap();
    assert_eq!(v["error"]["exit_code"], 3, "{v}");
    assert!(v.to_string().contains("about to fail"), "{v}");
}

#[tokio::test]
async fn job_lists_filter_and_page() {
    let app = spawn_app();
    app.create_script("u/admin/a", "bash", "echo a").await;
    app.create_script("u/admin/b", "bash", "exit 1").await;
    let a1 = app.run_async("u/admin/a", &json!({})).await;
    let a2 = app.run_async("u/admin/a", &json!({})).await;
    let b1 = app.run_async("u/admin/b", &json!({})).await;
    for id in [&a1, &a2, &b1] {
        app.wait_done(id, 30).await;
    }
    let ids = |v: Value| -> Vec<String> {
        v.as_array().unwrap().iter().map(|j| j["id"].as_str().unwrap().to_owned()).collect()
    };
    let all: Value = app.get("/jobs/list").await.json().await.unwrap();
    assert_eq!(ids(all), vec![b1.clone(), a2.clone(), a1.clone()]);
    let only_a: Value = app.get("/jobs/list?path=u/admin/a").await.json().await.unwrap();
    assert_eq!(ids(only_a), vec![a2.clone(), a1.clone()]);
    let failed: Value = app.get("/jobs/list?status=failure").await.json().await.unwrap();
    assert_eq!(ids(failed), vec![b1.clone()]);
    let page2: Value = app.get("/jobs/list?per_page=1&page=2").await.json().await.unwrap();
    assert_eq!(ids(page2), vec![a2.clone()]);
    let none: Value = app.get("/jobs/list?before=2000-01-01T00:00:00Z").await.json().await.unwrap();
    assert_eq!(ids(none), Vec::<String>::new());
    assert_error(app.get("/jobs/list?status=done").await, 400, "unknown job status").await;
    assert_error(app.get("/jobs/list?since=yesterday").await, 400, "RFC 3339").await;
}

#[tokio::test]
async fn unknown_jobs_and_bad_ids() {
    let app = spawn_app();
    let missing = "0190f5b8-0000-7000-8000-000000000000";
    assert_error(app.get(&format!("/jobs_u/get/{missing}")).await, 404, "not found").await;
    assert_error(app.get(&format!("/jobs_u/get_logs/{missing}")).await, 404, "not found").await;
    assert_error(app.get("/jobs_u/get/not-a-uuid").await, 400, "not a UUID").await;
    let r =
        app.client.post(app.ws(&format!("/jobs_u/queue/cancel/{missing}"))).bearer_auth(TOKEN).send().await.unwrap();
    assert_error(r, 404, "not found").await;
    assert_error(app.post_json("/jobs/run/p/u/admin/nope", &json!({})).await, 404, "not found").await;
    let r = app
        .client
        .post(app.ws("/jobs/run/p/u/admin/hello"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{\"name\": ")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "not valid JSON").await;
}
