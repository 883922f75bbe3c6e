//! What a review of the request handling found, each closed and kept closed:
//! cookie requests from other sites, non-JSON bodies on JSON routes, pages a
//! script serves, identity headers as arguments, tag overrides, job ids of
//! other workspaces, and token secrets in logs.

use crate::harness::*;
use serde_json::{json, Value};

#[tokio::test]
async fn cookie_requests_that_change_something_must_come_from_our_own_page() {
    let app = spawn_app();
    let cookie = format!("token={TOKEN}");
    let body = json!({"path": "u/admin/c", "language": "bash", "content": "echo c"});
    let post = || app.client.post(app.ws("/scripts/create")).header("cookie", &cookie).json(&body);
    // Another site's form or fetch: no Origin of ours, no X-Requested-With.
    assert_error(post().send().await.unwrap(), 403, "session cookie").await;
    let r = post().header("origin", "https://evil.example").send().await.unwrap();
    assert_error(r, 403, "session cookie").await;
    // Our own page: its Origin is this server; or the header a page of ours adds.
    let host = app.base.trim_start_matches("http://").to_owned();
    let r = post().header("origin", format!("http://{host}")).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let r = post().header("x-requested-with", "orvanta").send().await.unwrap();
    assert_eq!(r.status(), 201);
    // Reading with the cookie needs none of it; a bearer token never does.
    let r = app.client.get(app.ws("/scripts/list")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.post_json("/scripts/create", &body).await.status(), 201);
}

#[tokio::test]
async fn json_routes_take_json_only() {
    let app = spawn_app();
    let body = r#"{"path": "u/admin/j", "language": "bash", "content": "echo j"}"#;
    for ct in [None, Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("multipart/form-data")] {
        let mut req = app.client.post(app.ws("/scripts/create")).bearer_auth(TOKEN).body(body);
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        assert_error(req.send().await.unwrap(), 415, "application/json").await;
    }
    let r = app
        .client
        .post(app.ws("/scripts/create"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json; charset=utf-8");
    assert_eq!(r.body(body).send().await.unwrap().status(), 201);
    // A method a route does not take is a JSON 405 too.
    let r = app.client.put(app.ws("/scripts/create")).bearer_auth(TOKEN).send().await.unwrap();
    assert_error(r, 405, "takes POST").await;
}

#[tokio::test]
async fn a_page_a_script_serves_is_sandboxed() {
    let app = spawn_app();
    let code = "def main():\n    return {\"wm_content_type\": \"text/html\", \"headers\": {\"Content-Security-Policy\": \"default-src *\"}, \"result\": \"<script>alert(document.cookie)</script>\"}\n";
    app.create_script("u/admin/page", "python3", code).await;
    let r = app.post_json("/jobs/run_wait_result/p/u/admin/page", &json!({})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/html");
    assert_eq!(r.headers()["content-security-policy"], "sandbox", "a script cannot lift the sandbox");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn identity_headers_tags_and_job_ids_stay_in_their_place() {
    let app = spawn_app();
    app.create_script("u/admin/sh", "bash", "echo hi").await;
    // A proxy's identity headers are never stored as arguments.
    let r = app.post_json("/jobs/run/p/u/admin/sh?include_header=x-forwarded-user", &json!({})).await;
    assert_error(r, 400, "x-forwarded-user").await;
    // Choosing a tag is for those who may change the script; a webhook token may not.
    let hook = app.create_token(&json!({"label": "hook", "scopes": ["jobs:run:scripts:u/admin/sh"]})).await;
    let r = app.client.post(app.ws("/jobs/run/p/u/admin/sh?tag=gpu")).bearer_auth(&hook).json(&json!({})).send();
    assert_error(r.await.unwrap(), 403, "?tag=gpu").await;
    let r = app.client.post(app.ws("/jobs/run/p/u/admin/sh")).bearer_auth(&hook).json(&json!({})).send();
    assert_eq!(r.await.unwrap().status(), 201);
    let r = app.post_json("/jobs/run/p/u/admin/sh?tag=gpu", &json!({})).await;
    assert_eq!(r.status(), 201, "the admin may");
    // A job id taken in another workspace is not that job: a conflict that shows nothing of it.
    let r = app.client.post(app.url("/api/w/admins/scripts/create")).bearer_auth(TOKEN);
    let r = r.json(&json!({"path": "u/admin/other", "language": "bash", "content": "echo secret-output"})).send();
    assert_eq!(r.await.unwrap().status(), 201);
    let id = "01a22cb0-0000-7000-8000-000000000001";
    let r = app.client.post(app.url(&format!("/api/w/admins/jobs/run/p/u/admin/other?job_id={id}"))).bearer_auth(TOKEN);
    assert_eq!(r.json(&json!({})).send().await.unwrap().status(), 201);
    let r = app.post_json(&format!("/jobs/run_wait_result/p/u/admin/sh?job_id={id}"), &json!({})).await;
    let v = assert_error(r, 409, "is taken").await;
    assert!(!v.to_string().contains("secret-output") && !v.to_string().contains("admins"), "{v}");
    let r = app.get(&format!("/jobs_u/get/{id}")).await;
    assert_error(r, 404, "not found").await;
}

#[tokio::test]
async fn token_secrets_never_reach_a_log_line_or_an_answer() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut opts = Opts { stderr_to: Some(log.clone()), ..Default::default() };
    opts.env.push(("RUST_LOG".into(), "debug".into()));
    let app = start(opts);
    let secret = app.create_token(&json!({"label": "watched"})).await;
    app.create_script("u/admin/fail", "bash", "echo boom; exit 3").await;
    // Every way a token travels, valid or not, in successes and in errors.
    let ws = |p: &str| app.ws(p);
    let _ = app.client.get(ws("/scripts/list")).bearer_auth(&secret).send().await.unwrap();
    let _ = app.client.get(format!("{}?token={secret}", ws("/scripts/list"))).send().await.unwrap();
    let _ = app.client.get(ws("/scripts/list")).header("cookie", format!("token={secret}")).send().await.unwrap();
    let _ =
        app.client.post(ws("/jobs/run_wait_result/p/u/admin/fail")).bearer_auth(&secret).json(&json!({})).send().await;
    let _ = app.client.post(format!("{}?token={secret}x", ws("/jobs/run/p/u/admin/nope"))).send().await.unwrap();
    let _ = app.client.get(ws("/scripts/list")).bearer_auth(format!("{secret}x")).send().await.unwrap();
    // A wrong password is never logged either.
    let wrong = json!({"email": "admin@orvanta.local", "password": "hunter2-wrong-password"});
    let r = app.client.post(app.url("/api/auth/login")).json(&wrong).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app.client.post(format!("{}?token={secret}", ws("/scripts/create"))).body("not json").send().await.unwrap();
    assert!(!r.text().await.unwrap().contains(&secret));
    let listed: Value = app
        .client
        .get(app.url("/api/users/tokens/list"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!listed.to_string().contains(&secret), "{listed}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.len() > 100, "the debug log was captured: {logged}");
    assert!(!logged.contains(&secret[4..]), "a token secret reached the log:\n{logged}");
    assert!(!logged.contains("hunter2-wrong-password"), "a password reached the log:\n{logged}");
    assert!(!app.stdout.join("\n").contains(&secret[4..]));
}
