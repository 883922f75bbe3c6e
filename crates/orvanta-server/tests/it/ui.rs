//! The web UI in a real browser: `tests/ui/e2e.py` drives Debian's Chromium
//! through Playwright against the real server (see that file for what it
//! does). Screenshots go to `target/tmp/ui-screenshots/` (under
//! `CARGO_TARGET_DIR` when set), one per step, and `failed.png` when a step
//! fails.

use crate::harness::*;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

/// The page shell and a file, with their content types, caching and policy.
#[tokio::test]
async fn pages_are_served_with_their_headers() {
    let app = spawn_app();
    let shell = app.client.get(app.url("/")).send().await.unwrap();
    assert_eq!(shell.status(), 200);
    let h = shell.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-cache");
    let csp = h["content-security-policy"].to_str().unwrap().to_owned();
    for part in ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"] {
        assert!(csp.contains(part), "{csp}");
    }
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "same-origin");
    let etag = h["etag"].to_str().unwrap().to_owned();
    let html = shell.text().await.unwrap();
    let app_js = html.split('"').find(|s| s.ends_with("/js/app.js")).expect("the shell loads app.js").to_owned();

    // Unchanged: 304.
    let again = app.client.get(app.url("/")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(again.status(), 304);
    // Without a session nothing is embedded; the shell varies with the cookie.
    assert!(!html.contains("orvanta-boot"), "{html}");
    assert_eq!(h["vary"], "Cookie");
    let bad = app.client.get(app.url("/")).header("cookie", "token=orv_nope").send().await.unwrap();
    assert_eq!(bad.headers()["cache-control"], "no-cache");
    assert!(!bad.text().await.unwrap().contains("orvanta-boot"));

    // A file of this build: cached for good, with its type.
    let js = app.client.get(app.url(&app_js)).send().await.unwrap();
    assert_eq!(js.status(), 200);
    assert_eq!(js.headers()["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(js.headers()["cache-control"], "public, max-age=31536000, immutable");
    assert!(js.headers().contains_key("content-security-policy"));
    // Of another build: revalidated.
    let old = app.client.get(app.url("/ui/0ld/app.css")).send().await.unwrap();
    assert_eq!(old.status(), 200);
    assert_eq!(old.headers()["content-type"], "text/css; charset=utf-8");
    assert_eq!(old.headers()["cache-control"], "no-cache");
    // No such file: the API's JSON 404.
    let missing = app.client.get(app.url("/ui/0ld/../Cargo.toml")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert!(body["error"]["message"].is_string(), "{body}");
}

/// `GET /` with the session cookie: the shell carries the caller's whoami and
/// workspaces (what the UI would otherwise ask first), escaped so that no
/// value can end its `<script>` element, no token, and is stored nowhere.
#[tokio::test]
async fn the_shell_embeds_the_session_s_user_and_workspaces() {
    let app = spawn_app();
    let evil = "</script><script>alert(1)</script>";
    let r = app
        .client
        .post(app.url("/api/workspaces/create"))
        .bearer_auth(TOKEN)
        .json(&json!({"id": "evil", "name": evil}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = app.client.post(app.url("/api/auth/login")).json(&json!({"token": TOKEN})).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().split(';').next().unwrap().to_owned();
    let session = cookie.trim_start_matches("token=").to_owned();

    let anonymous = app.client.get(app.url("/")).send().await.unwrap();
    let etag = anonymous.headers()["etag"].to_str().unwrap().to_owned();
    // Even with the anonymous shell's ETag: the caller's own shell, never a 304.
    let shell =
        app.client.get(app.url("/")).header("cookie", &cookie).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(shell.status(), 200);
    let h = shell.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["vary"], "Cookie");
    assert!(!h.contains_key("etag"));
    assert!(h["content-security-policy"].to_str().unwrap().contains("script-src 'self'"));
    let html = shell.text().await.unwrap();
    assert!(!html.contains("</script><script>"), "the workspace name broke out: {html}");
    assert!(!html.contains("alert(1)</script>"), "{html}");
    assert!(!html.contains(&session) && !html.contains(TOKEN), "a token is in the shell");
    let block = html
        .split(r#"<script type="application/json" id="orvanta-boot">"#)
        .nth(1)
        .expect("the shell has the data block")
        .split("</script>")
        .next()
        .unwrap();
    assert!(!block.contains('<') && !block.contains('>') && !block.contains('&'), "{block}");
    let boot: serde_json::Value = serde_json::from_str(block).unwrap();
    // The same as the API answers.
    let whoami: serde_json::Value =
        app.client.get(app.url("/api/users/whoami")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let list: serde_json::Value =
        app.client.get(app.url("/api/workspaces/list")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert_eq!(boot["user"], whoami);
    assert_eq!(boot["user"]["username"], "admin");
    assert_eq!(boot["workspaces"], list);
    let names: Vec<_> = boot["workspaces"].as_array().unwrap().iter().map(|w| w["name"].as_str().unwrap()).collect();
    assert!(names.contains(&evil), "{names:?}");
    assert!(boot["at"].is_i64(), "{boot}");
    assert_eq!(boot.as_object().unwrap().len(), 3, "only user, workspaces and at: {boot}");

    // A bearer token on a page load (no browser sends one) embeds nothing.
    let bearer = app.client.get(app.url("/")).bearer_auth(TOKEN).send().await.unwrap();
    assert!(!bearer.text().await.unwrap().contains("orvanta-boot"));
}

/// `auth/login` with a token: a session for its owner, only from a token
/// with all of its owner's rights.
#[tokio::test]
async fn login_with_a_token_opens_a_session() {
    let app = spawn_app();
    let login = |body: serde_json::Value| app.client.post(app.url("/api/auth/login")).json(&body).send();
    let r = login(json!({"token": TOKEN})).await.unwrap();
    assert_eq!(r.status(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(cookie.starts_with("token=orv_") && cookie.contains("HttpOnly"), "{cookie}");
    let session = cookie.trim_start_matches("token=").split(';').next().unwrap().to_owned();
    let me = app.client.get(app.url("/api/users/whoami")).header("cookie", format!("token={session}")).send().await;
    assert_eq!(me.unwrap().json::<serde_json::Value>().await.unwrap()["username"], "admin");

    // A token made in the session keeps the expiry chosen for it (none), not the session's 7 days.
    let made = app
        .client
        .post(app.url("/api/users/tokens/create"))
        .header("cookie", format!("token={session}"))
        .header("x-requested-with", "orvanta-ui")
        .json(&json!({"label": "from the ui"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let list: serde_json::Value = app
        .client
        .get(app.url("/api/users/tokens/list"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let made = list.as_array().unwrap().iter().find(|t| t["label"] == "from the ui").expect("listed");
    assert!(made["expiration"].is_null(), "{made}");

    let wrong = login(json!({"token": "orv_nope"})).await.unwrap();
    assert_eq!(wrong.status(), 401);
    let scoped = app
        .client
        .post(app.url("/api/users/tokens/create"))
        .bearer_auth(TOKEN)
        .json(&json!({"label": "hook", "scopes": ["jobs:run:scripts:u/admin/hello"]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = login(json!({"token": scoped})).await.unwrap();
    assert_eq!(r.status(), 403);
    let r = login(json!({"token": session})).await.unwrap();
    assert_eq!(r.status(), 403, "a session does not make another");
    let r = login(json!({"email": "admin@orvanta.local"})).await.unwrap();
    assert_eq!(r.status(), 400);
}

/// Where the screenshots go.
fn screenshots(test: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("ui-screenshots").join(test)
}

#[tokio::test]
async fn a_person_uses_the_ui_in_chromium() {
    let chromium = std::env::var("ORVANTA_UI_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "Chromium is missing at {chromium}: `apt-get install chromium chromium-driver` (.ci/test does)"
    );
    let mut opts = Opts::default();
    // The workspace webhook goes to a receiver the browser test runs on this machine.
    opts.env.push(("ORVANTA_WEBHOOK_ALLOW_PRIVATE".into(), "true".into()));
    let app = start(opts);
    let password = "ui-test-password-1";
    // A user the Workspace settings page adds to `demo`.
    let r = app
        .client
        .post(app.url("/api/users/create"))
        .bearer_auth(TOKEN)
        .json(&json!({"email": "dev@example.com", "password": "dev-password-1", "super_admin": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let r = app
        .client
        .post(app.url("/api/users/setpassword"))
        .bearer_auth(TOKEN)
        .json(&json!({"password": password}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "setpassword: {}", r.text().await.unwrap());
    // A token the Account page must show with the amber badge.
    let soon = chrono::Utc::now() + chrono::Duration::days(20);
    let r = app
        .client
        .post(app.url("/api/users/tokens/create"))
        .bearer_auth(TOKEN)
        .json(&json!({"label": "in twenty days", "expiration": soon.to_rfc3339()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let shots = screenshots("a_person_uses_the_ui_in_chromium");
    let _ = std::fs::remove_dir_all(&shots);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/ui/e2e.py");
    let base = app.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .env("ORVANTA_UI_BASE", base)
            .env("ORVANTA_UI_EMAIL", "admin@orvanta.local")
            .env("ORVANTA_UI_PASSWORD", password)
            .env("ORVANTA_UI_ADMIN_TOKEN", TOKEN)
            .env("ORVANTA_UI_SHOTS", &shots)
            .env("ORVANTA_UI_CHROMIUM", chromium)
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .output()
            .expect("python3 runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser test failed (screenshots in {}):\n{stdout}\n{stderr}",
        screenshots("a_person_uses_the_ui_in_chromium").display()
    );
    println!("{stdout}");
}
