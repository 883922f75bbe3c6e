//! The run routes' own rules (contract §3): ids, idempotency, schedules,
//! HEAD/OPTIONS/CORS, the CloudEvents handshake, flows not yet there.

use crate::harness::*;
use serde_json::{json, Value};

#[tokio::test]
async fn a_caller_chosen_job_id_and_an_idempotency_key_return_the_first_job() {
    let app = spawn_app();
    app.create_script("u/admin/inc", "python3", "def main(x: int):\n    return x + 1\n").await;
    let id = "01930000-0000-7000-8000-00000000abcd";
    let first = app.post_json(&format!("/jobs/run/p/u/admin/inc?job_id={id}"), &json!({"x": 1})).await;
    assert_eq!(first.status(), 201);
    assert_eq!(first.text().await.unwrap(), id);
    let again = app.post_json(&format!("/jobs/run/p/u/admin/inc?job_id={id}"), &json!({"x": 100})).await;
    assert_eq!(again.text().await.unwrap(), id);
    assert_eq!(app.wait_done(id, 30).await["result"], 2, "the first job's arguments stand");

    let post = |x: i64, key: &'static str| {
        app.client
            .post(app.ws("/jobs/run/p/u/admin/inc"))
            .bearer_auth(TOKEN)
            .header("Idempotency-Key", key)
            .json(&json!({"x": x}))
            .send()
    };
    let a = post(1, "order-1").await.unwrap().text().await.unwrap();
    let b = post(2, "order-1").await.unwrap().text().await.unwrap();
    let c = post(3, "order-2").await.unwrap().text().await.unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
    // A sync repeat answers the first job's result.
    let sync = |x: i64| {
        app.client
            .post(app.ws("/jobs/run_wait_result/p/u/admin/inc"))
            .bearer_auth(TOKEN)
            .header("Idempotency-Key", "sync-1")
            .json(&json!({"x": x}))
            .send()
    };
    let r1 = sync(10).await.unwrap();
    let id1 = r1.headers()["x-orvanta-job-id"].to_str().unwrap().to_owned();
    assert_eq!(r1.json::<Value>().await.unwrap(), 11);
    let r2 = sync(20).await.unwrap();
    assert_eq!(r2.headers()["x-orvanta-job-id"].to_str().unwrap(), id1);
    assert_eq!(r2.json::<Value>().await.unwrap(), 11);
    // A job id taken in another workspace is a conflict, not a leak.
    let r = app
        .client
        .post(app.url("/api/w/admins/scripts/create"))
        .bearer_auth(TOKEN)
        .json(&json!({"path": "u/admin/inc", "language": "bash", "content": "echo 1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = app
        .client
        .post(app.url(&format!("/api/w/admins/jobs/run/p/u/admin/inc?job_id={id}")))
        .bearer_auth(TOKEN)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_error(r, 409, "is taken").await;
    assert_error(app.post_json("/jobs/run/p/u/admin/inc?job_id=nope", &json!({})).await, 400, "not a UUID").await;
}

#[tokio::test]
async fn scheduled_jobs_wait_and_sync_routes_refuse_schedules() {
    let app = spawn_app();
    app.create_script("u/admin/echo", "bash", "echo hi").await;
    let id = app.run_async("u/admin/echo?scheduled_in_secs=2", &json!({})).await;
    let job = app.job(&id).await;
    assert_eq!(job["status"], "queued");
    let done = app.wait_done(&id, 30).await;
    assert_eq!(done["status"], "success");
    let r = app.post_json("/jobs/run_wait_result/p/u/admin/echo?scheduled_in_secs=2", &json!({})).await;
    assert_error(r, 400, "async route").await;
    let r = app.post_json("/jobs/run/p/u/admin/echo?scheduled_for=tomorrow", &json!({})).await;
    assert_error(r, 400, "RFC 3339").await;
    // A tag no worker serves keeps the job queued.
    let id = app.run_async("u/admin/echo?tag=gpu", &json!({})).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let job = app.job(&id).await;
    assert_eq!((job["status"].as_str(), job["tag"].as_str()), (Some("queued"), Some("gpu")));
}

#[tokio::test]
async fn head_options_cors_and_the_cloudevents_handshake() {
    let app = spawn_app();
    for route in
        ["/jobs/run/p/u/admin/hello", "/jobs/run_wait_result/p/u/admin/hello", "/jobs/run_and_stream/p/u/admin/hello"]
    {
        let r = app.client.head(app.ws(route)).send().await.unwrap();
        assert_eq!(r.status(), 200, "HEAD {route}");
        let r = app
            .client
            .request(reqwest::Method::OPTIONS, app.ws(route))
            .header("Origin", "https://example.com")
            .header("Access-Control-Request-Method", "POST")
            .header("Access-Control-Request-Headers", "authorization, content-type")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "OPTIONS {route}");
        assert_eq!(r.headers()["access-control-allow-origin"], "https://example.com");
        assert!(r.headers()["access-control-allow-methods"].to_str().unwrap().contains("POST"));
        assert_eq!(r.headers()["access-control-allow-headers"], "authorization, content-type");
        // Exactly the methods the route takes: the async one has no GET form.
        let methods = if route.contains("/jobs/run/") { "POST, HEAD, OPTIONS" } else { "GET, POST, HEAD, OPTIONS" };
        assert_eq!(r.headers()["allow"], methods, "{route}");
        assert_eq!(r.headers()["access-control-allow-methods"], methods, "{route}");
    }
    let r = app
        .client
        .request(reqwest::Method::OPTIONS, app.ws("/jobs/run/p/u/admin/hello"))
        .header("WebHook-Request-Origin", "eventemitter.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["webhook-allowed-origin"], "eventemitter.example.com");
    assert_eq!(r.headers()["webhook-allowed-rate"], "*");
    assert_eq!(r.headers()["allow"], "POST");
    let r = app
        .client
        .post(app.ws("/jobs/run/p/u/admin/hello"))
        .bearer_auth(TOKEN)
        .header("Origin", "https://x.test")
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://x.test");
    assert!(r.headers()["access-control-expose-headers"].to_str().unwrap().contains("x-orvanta-job-id"));
}

#[tokio::test]
async fn unknown_flow_targets_answer_404() {
    let app = spawn_app();
    for route in
        ["/jobs/run/f/u/admin/flow", "/jobs/run_wait_result/f/u/admin/flow", "/jobs/run_and_stream/f/u/admin/flow"]
    {
        assert_error(app.post_json(route, &json!({})).await, 404, "flow not found").await;
    }
    for route in ["/jobs/run/fv/12", "/jobs/run_wait_result/fv/12", "/jobs/run_and_stream/fv/12"] {
        assert_error(app.post_json(route, &json!({})).await, 404, "no flow version 12").await;
    }
    assert_error(app.get("/jobs/run_wait_result/fv/12").await, 404, "no flow version").await;
    assert_error(app.get("/jobs/run_wait_result/fv/0").await, 400, "positive whole number").await;
}

#[tokio::test]
async fn every_run_answer_names_its_job() {
    let app = spawn_app();
    let r = app.post_json("/jobs/run_wait_result/p/u/admin/hello", &json!({"name": "x"})).await;
    let id = r.headers()["x-orvanta-job-id"].to_str().unwrap().to_owned();
    assert_eq!(app.job(&id).await["trigger"], "webhook_sync");
    let r = app.post_json("/jobs/run/h/0123456789abcdef", &json!({})).await;
    assert_error(r, 404, "0123456789abcdef").await;
}

#[tokio::test]
async fn a_sync_call_of_a_streaming_script_answers_its_stream() {
    let app = spawn_app();
    app.create_script("u/admin/gen", "python3", "def main():\n    yield 'a'\n    yield 'b'\n").await;
    let v: Value = app.post_json("/jobs/run_wait_result/p/u/admin/gen", &json!({})).await.json().await.unwrap();
    assert_eq!(v, "ab");
    app.create_script("u/admin/gen2", "python3", "def main():\n    yield 'a'\n    return {'n': 1}\n").await;
    let v: Value = app.post_json("/jobs/run_wait_result/p/u/admin/gen2", &json!({})).await.json().await.unwrap();
    assert_eq!(v, json!({"n": 1, "wm_stream": "a"}));
}

#[tokio::test]
async fn a_job_id_of_another_runnable_is_not_attached_to() {
    let app = spawn_app();
    app.create_script("u/admin/secret", "python3", "def main():\n    return 'secret'\n").await;
    app.create_script("u/admin/public", "python3", "def main():\n    return 'public'\n").await;
    let id = "01930000-0000-7000-8000-00000000beef";
    app.post_json(&format!("/jobs/run/p/u/admin/secret?job_id={id}"), &json!({})).await;
    app.wait_done(id, 30).await;
    let r = app.post_json(&format!("/jobs/run_wait_result/p/u/admin/public?job_id={id}"), &json!({})).await;
    assert_error(r, 409, "is taken").await;
    let r = app.post_json("/jobs/run/p/u/admin/public?scheduled_in_secs=9223372036854775", &json!({})).await;
    assert_error(r, 400, "up to 10 years").await;
    let r = app.post_json("/jobs/run/p/u/admin/public?scheduled_in_secs=-5", &json!({})).await;
    assert_error(r, 400, "up to 10 years").await;
    let r = app
        .post_json(
            "/scripts/create",
            &json!({"path": "u/admin/t", "language": "bash", "content": "echo", "timeout_s": 9223372036854775u64}),
        )
        .await;
    assert_error(r, 400, "timeout_s").await;
}
