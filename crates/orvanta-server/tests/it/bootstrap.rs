//! `orvanta up`: health, the bootstrap facts, the example script, a second start.

use crate::harness::*;
use serde_json::json;

#[tokio::test]
async fn health_and_version_need_no_token() {
    let app = spawn_app();
    let r = app.client.get(app.url("/api/version")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().starts_with("Orvanta v"));
    // Without a token: the contract's fields, nothing about runtimes, sandbox or backend.
    let h: serde_json::Value = app.client.get(app.url("/api/health")).send().await.unwrap().json().await.unwrap();
    let mut keys: Vec<&String> = h.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, ["database", "status", "workers"], "{h}");
    let h: serde_json::Value =
        app.client.get(app.url("/api/health")).bearer_auth(&app.token).send().await.unwrap().json().await.unwrap();
    assert_eq!(h["status"], "ok");
    assert_eq!(h["database"], "ok");
    // One job slot per core by default.
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(h["workers"], cores, "{h}");
    for lang in ["python3", "deno", "bun", "bash"] {
        assert!(h["runtimes"][lang]["version"].is_string(), "runtime {lang} missing in {h}");
    }
    // Jobs run sandboxed, and health says how.
    assert_eq!(h["sandbox"]["isolation"], "bubblewrap", "{h}");
    assert!(["cgroup v2", "cgroup v1", "rlimits"].contains(&h["sandbox"]["limits"].as_str().unwrap()), "{h}");
    assert_eq!(h["sandbox"]["network"], true, "{h}");
    assert_eq!(h["sandbox"]["memory_bytes"], 2u64 << 30, "{h}");
}

#[tokio::test]
async fn up_prints_the_facts_and_the_example_runs() {
    let app = spawn_app();
    let out = app.stdout.join("\n");
    // A token the operator chose is never printed.
    assert!(!out.contains(TOKEN) && out.contains("admin token: the value of ORVANTA_ADMIN_TOKEN"), "{out}");
    assert!(out.contains("curl") && out.contains("Bearer $ORVANTA_ADMIN_TOKEN"), "{out}");
    assert!(out.contains("/api/w/demo/jobs/run_wait_result/p/u/admin/hello"), "{out}");
    // Where the web UI is.
    assert!(out.contains(&format!("Open {}/ in a browser", app.base)), "{out}");
    let r = app.post_json("/jobs/run_wait_result/p/u/admin/hello", &json!({"name": "you"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<serde_json::Value>().await.unwrap(), json!({"greeting": "Hello, you!"}));
}

#[tokio::test]
async fn a_second_start_reuses_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let first_token;
    {
        let mut opts = Opts { data_dir: Some(dir.path().to_path_buf()), ..Default::default() };
        opts.env.push(("ORVANTA_ADMIN_TOKEN".into(), String::new()));
        let app = start(opts);
        first_token = token_of(&app.stdout);
        assert!(first_token.starts_with("orv_"));
    }
    let mut opts = Opts { data_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    opts.env.push(("ORVANTA_ADMIN_TOKEN".into(), String::new()));
    let mut app = start(opts);
    // Printed once, when made: the second start says where it is kept.
    let out = app.stdout.join("\n");
    assert!(!out.contains(&first_token) && token_of(&app.stdout).starts_with("kept in"), "{out}");
    let kept = std::fs::read_to_string(dir.path().join("admin-token")).unwrap();
    assert_eq!(kept.trim(), first_token);
    app.token = first_token.clone();
    let history: serde_json::Value = app.get("/scripts/history/p/u/admin/hello").await.json().await.unwrap();
    assert_eq!(history.as_array().unwrap().len(), 1, "the example was not made twice: {history}");
}

#[tokio::test]
async fn changing_the_admin_token_revokes_the_previous_one() {
    let dir = tempfile::tempdir().unwrap();
    let first = "orv_first_admin_token_0123456789abcdef";
    let second = "orv_second_admin_token_0123456789abcdef";
    {
        let mut opts = Opts { data_dir: Some(dir.path().to_path_buf()), ..Default::default() };
        opts.env.push(("ORVANTA_ADMIN_TOKEN".into(), first.into()));
        let app = start(opts);
        let r = app.client.get(app.url("/api/users/whoami")).bearer_auth(first).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    let mut opts = Opts { data_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    opts.env.push(("ORVANTA_ADMIN_TOKEN".into(), second.into()));
    let app = start(opts);
    let r = app.client.get(app.url("/api/users/whoami")).bearer_auth(second).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.client.get(app.url("/api/users/whoami")).bearer_auth(first).send().await.unwrap();
    assert_eq!(r.status(), 401, "the previous bootstrap token no longer works");
    // A short admin token is refused at start.
    let out = std::process::Command::new(binary())
        .args(["up", "--port", "0", "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .env("ORVANTA_ADMIN_TOKEN", "orv_too_short_token")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 32 characters"));
}

fn token_of(lines: &[String]) -> String {
    lines
        .iter()
        .find_map(|l| l.trim().strip_prefix("admin token:").map(|t| t.trim().to_owned()))
        .unwrap_or_else(|| panic!("no admin token line in {lines:?}"))
}

#[tokio::test]
async fn a_port_in_use_is_named() {
    let app = spawn_app();
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let out = std::process::Command::new(binary())
        .args(["up", "--port", &port, "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("port {port} is in use")), "{err}");
}

#[tokio::test]
async fn a_bad_database_url_is_named() {
    let out = std::process::Command::new(binary())
        .args(["up", "--port", "0", "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .env("DATABASE_URL", "mysql://u:hunter2@h/db")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("DATABASE_URL") && !err.contains("hunter2"), "{err}");
    let out = std::process::Command::new(binary())
        .args(["up", "--port", "0", "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/nope")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("127.0.0.1:1") || err.to_lowercase().contains("connect"), "{err}");
}
