//! Tokens: where they are read from, scopes, workspaces; 401/403/404 in order.

use crate::harness::*;
use serde_json::{json, Value};

#[tokio::test]
async fn tokens_from_header_cookie_and_query() {
    let app = spawn_app();
    let url = app.ws("/scripts/list");
    assert_eq!(app.client.get(&url).bearer_auth(TOKEN).send().await.unwrap().status(), 200);
    let r = app.client.get(&url).header("cookie", format!("other=1; token={TOKEN}")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.client.get(format!("{url}?token={TOKEN}")).send().await.unwrap().status(), 200);
    assert_error(app.client.get(&url).send().await.unwrap(), 401, "no token").await;
    assert_error(app.client.get(&url).bearer_auth("orv_wrong").send().await.unwrap(), 401, "not valid").await;
}

#[tokio::test]
async fn scoped_and_workspace_tokens() {
    let app = spawn_app();
    app.create_script("u/admin/other", "bash", "echo other").await;
    let hook = app.create_token(&json!({"label": "hook", "scopes": ["jobs:run:scripts:u/admin/hello"]})).await;
    assert!(hook.starts_with("orv_"));
    let run =
        |path: &str| app.client.post(app.ws(&format!("/jobs/run/p/{path}"))).bearer_auth(&hook).json(&json!({})).send();
    let r = run("u/admin/hello").await.unwrap();
    assert_eq!(r.status(), 201);
    let id = r.text().await.unwrap();
    // It may read the job it started...
    let r = app.client.get(app.ws(&format!("/jobs_u/get/{id}"))).bearer_auth(&hook).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Another token of the same scope cannot read it: it did not start it.
    let other = app.create_token(&json!({"label": "hook2", "scopes": ["jobs:run:scripts:u/admin/hello"]})).await;
    let r = app.client.get(app.ws(&format!("/jobs_u/get/{id}"))).bearer_auth(&other).send().await.unwrap();
    assert_error(r, 403, "jobs:read").await;
    // ...but not run anything else, nor list scripts.
    assert_error(run("u/admin/other").await.unwrap(), 403, "jobs:run:scripts:u/admin/other").await;
    let r = app.client.get(app.ws("/scripts/list")).bearer_auth(&hook).send().await.unwrap();
    assert_error(r, 403, "scripts:read").await;
    // A missing script is 404 before any scope check.
    assert_error(run("u/admin/missing").await.unwrap(), 404, "not found").await;

    let admins_only = app.create_token(&json!({"label": "admins only", "workspace_id": "admins"})).await;
    let r = app.client.get(app.ws("/scripts/list")).bearer_auth(&admins_only).send().await.unwrap();
    assert_error(r, 403, "restricted to the workspace 'admins'").await;
    let r = app.client.get(app.url("/api/w/nope/scripts/list")).bearer_auth(TOKEN).send().await.unwrap();
    assert_error(r, 404, "workspace 'nope' not found").await;

    let list: Value = app
        .client
        .get(app.url("/api/users/tokens/list"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!list.to_string().contains(&hook), "secrets are never listed");
    let prefix = list.as_array().unwrap().iter().find(|t| t["label"] == "hook").unwrap()["token_prefix"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = app
        .client
        .delete(app.url(&format!("/api/users/tokens/delete/{prefix}")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_error(run("u/admin/hello").await.unwrap(), 401, "not valid").await;
}

#[tokio::test]
async fn scripts_get_a_job_token_with_the_job_rights() {
    let app = spawn_app();
    let code = r#"import os, json, urllib.request
def main():
    base = os.environ["ORVANTA_BASE_URL"]
    ws = os.environ["ORVANTA_WORKSPACE"]
    job = os.environ["ORVANTA_JOB_ID"]
    req = urllib.request.Request(f"{base}/api/w/{ws}/jobs_u/get/{job}", headers={"Authorization": "Bearer " + os.environ["ORVANTA_TOKEN"]})
    me = json.load(urllib.request.urlopen(req))
    return {"status": me["status"], "leaked": "ORVANTA_ADMIN_TOKEN" in os.environ or "DATABASE_URL" in os.environ}
"#;
    app.create_script("u/admin/self", "python3", code).await;
    let v: Value = app.post_json("/jobs/run_wait_result/p/u/admin/self", &json!({})).await.json().await.unwrap();
    assert_eq!(v, json!({"status": "running", "leaked": false}));
}

#[tokio::test]
async fn an_expired_token_is_refused_then_swept() {
    let mut opts = Opts::default();
    opts.env.push(("ORVANTA_TOKEN_SWEEP_S".into(), "1".into()));
    let app = start(opts);
    let expiration = (chrono::Utc::now() + chrono::Duration::milliseconds(3000)).to_rfc3339();
    let short = app.create_token(&json!({"label": "short", "expiration": expiration})).await;
    let url = app.ws("/scripts/list");
    assert_eq!(app.client.get(&url).bearer_auth(&short).send().await.unwrap().status(), 200);
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    let r = app.client.get(&url).bearer_auth(&short).send().await.unwrap();
    assert!(r.status() == 401, "an expired token is refused");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let list: Value = app
            .client
            .get(app.url("/api/users/tokens/list"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if !list.to_string().contains("\"short\"") {
            break;
        }
        assert!(std::time::Instant::now() < until, "the expired token was never swept: {list}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let r = app.token_request(&json!({"label": "past", "expiration": "2001-01-01T00:00:00Z"})).await;
    assert_error(r, 400, "in the past").await;
}

#[tokio::test]
async fn scoped_tokens_cannot_manage_tokens_and_scripts_answer_404_first() {
    let app = spawn_app();
    let hook = app.create_token(&json!({"label": "hook", "scopes": ["jobs:run:scripts:u/admin/hello"], "expiration": "2099-01-01T00:00:00Z"})).await;
    let r = app.client.get(app.url("/api/users/tokens/list")).bearer_auth(&hook).send().await.unwrap();
    assert_error(r, 403, "tokens:read").await;
    let r =
        app.client.post(app.url("/api/users/tokens/create")).bearer_auth(&hook).json(&json!({})).send().await.unwrap();
    assert_error(r, 403, "tokens:write").await;
    let r = app.client.delete(app.url("/api/users/tokens/delete/orv_test_a")).bearer_auth(&hook).send().await.unwrap();
    assert_error(r, 403, "tokens:write").await;
    // Existence first (404), then the scope (403).
    let r = app.client.get(app.ws("/scripts/get/p/u/admin/nothing")).bearer_auth(&hook).send().await.unwrap();
    assert_error(r, 404, "not found").await;
    let r = app.client.get(app.ws("/scripts/get/p/u/admin/hello")).bearer_auth(&hook).send().await.unwrap();
    assert_error(r, 403, "scripts:read").await;
    let r = app.client.delete(app.ws("/scripts/delete/p/u/admin/nothing")).bearer_auth(&hook).send().await.unwrap();
    assert_error(r, 404, "not found").await;
}
