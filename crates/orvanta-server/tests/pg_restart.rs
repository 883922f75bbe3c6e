//! The database restarted while Orvanta is idle: the server and its worker
//! reconnect without a restart of their own.
//!
//! Restarting PostgreSQL disturbs every other test using it, so this test is
//! `#[ignore]`d and `.ci/run` runs it alone, after the rest.

#[path = "it/harness.rs"]
#[allow(dead_code)]
mod harness;

use harness::*;
use serde_json::{json, Value};
use std::time::Duration;

fn restart_postgres() {
    let versions = std::fs::read_dir("/etc/postgresql").expect("PostgreSQL is installed from Debian's packages");
    let version = versions.filter_map(Result::ok).next().expect("one cluster").file_name();
    let status = std::process::Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version.to_string_lossy(), "main", "restart"])
        .status()
        .expect("pg_ctlcluster");
    assert!(status.success(), "pg_ctlcluster restart failed");
}

#[tokio::test]
#[ignore = "restarts PostgreSQL; run alone by .ci/run"]
async fn the_server_reconnects_after_a_database_restart() {
    let url = fresh_pg_database().await;
    let mut opts = Opts { db: Db::Postgres(url), ..Default::default() };
    opts.env.push(("ORVANTA_LEASE_S".into(), "3".into()));
    let app = start(opts);
    app.create_script("u/admin/inc", "python3", "def main(x: int):\n    return x + 1\n").await;
    let v: Value = app.post_json("/jobs/run_wait_result/p/u/admin/inc", &json!({"x": 1})).await.json().await.unwrap();
    assert_eq!(v, 2);
    restart_postgres();
    // Give the pool a moment; then every request must work again without restarting Orvanta.
    let until = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let r = app.post_json("/jobs/run_wait_result/p/u/admin/inc", &json!({"x": 2})).await;
        if r.status() == 200 {
            assert_eq!(r.json::<Value>().await.unwrap(), 3);
            break;
        }
        assert!(std::time::Instant::now() < until, "the server did not recover: {}", r.text().await.unwrap());
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let h: Value =
        app.client.get(app.url("/api/health")).bearer_auth(&app.token).send().await.unwrap().json().await.unwrap();
    assert_eq!(h["database"], "ok");
}
