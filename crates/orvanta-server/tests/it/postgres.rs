//! The roles apart on PostgreSQL: `orvanta server` plus several `orvanta worker`s.

use crate::harness::*;
use serde_json::{json, Value};
use std::collections::HashSet;

fn pg_opts(role: &'static str, url: &str) -> Opts {
    let mut o = Opts { role, db: Db::Postgres(url.to_owned()), ..Default::default() };
    o.env.push(("ORVANTA_LEASE_S".into(), "6".into()));
    o
}

#[tokio::test]
async fn server_and_two_workers_share_the_queue() {
    let url = fresh_pg_database().await;
    let server = start(pg_opts("server", &url));
    let mut w1 = pg_opts("worker", &url);
    w1.env.push(("ORVANTA_BASE_URL".into(), server.base.clone()));
    let mut w2 = w1.clone();
    w2.data_dir = None;
    let _w1 = start(w1);
    let _w2 = start(w2);
    server
        .create_script("u/admin/nap", "python3", "import time\ndef main(i: int):\n    time.sleep(0.3)\n    return i\n")
        .await;
    let mut ids = Vec::new();
    for i in 0..12 {
        ids.push(server.run_async("u/admin/nap", &json!({"i": i})).await);
    }
    let mut workers = HashSet::new();
    for (i, id) in ids.iter().enumerate() {
        let job: Value = server.wait_done(id, 60).await;
        assert_eq!(job["status"], "success", "{job}");
        assert_eq!(job["result"], i);
        workers.insert(job["worker"].as_str().unwrap().split('/').next().unwrap().to_owned());
    }
    assert_eq!(workers.len(), 2, "both worker processes took jobs: {workers:?}");
    // Sync waits are woken through LISTEN/NOTIFY across processes.
    let v: Value =
        server.post_json("/jobs/run_wait_result/p/u/admin/nap", &json!({"i": 7})).await.json().await.unwrap();
    assert_eq!(v, 7);
    let health: Value = server
        .client
        .get(server.url("/api/health"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // Job slots: one per core in each worker process.
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(health["workers"], 2 * cores, "{health}");
    assert_eq!(health["backend"], "postgres");
}

#[tokio::test]
async fn a_killed_worker_process_job_is_requeued_on_postgres() {
    let url = fresh_pg_database().await;
    let server = start(pg_opts("server", &url));
    let mut wopts = pg_opts("worker", &url);
    wopts.env.push(("ORVANTA_BASE_URL".into(), server.base.clone()));
    let mut w1 = start(wopts.clone());
    let rv = crate::rendezvous::Rendezvous::start().await;
    let mark = crate::faults::sleep_mark();
    let code = "import subprocess, urllib.request\ndef main(attempts: str, mark: str):\n    if urllib.request.urlopen(attempts, b'run').read() == b'1':\n        subprocess.run(['sleep', mark])\n    return 'second'\n";
    server.create_script("u/admin/once", "python3", code).await;
    let id = server.run_async("u/admin/once", &json!({"attempts": rv.url("once"), "mark": mark})).await;
    server.wait_for(&id, 30, "running", |j| j["status"] == "running").await;
    rv.wait("once", 60).await;
    let _ = w1.child.kill();
    let _ = w1.child.wait();
    crate::faults::assert_gone_with_its_worker(&mark).await;
    let _w2 = start(wopts);
    let job = server.wait_done(&id, 60).await;
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["result"], "second");
    assert_eq!(job["retries"], 1);
}

#[tokio::test]
async fn server_and_worker_refuse_sqlite() {
    let out = std::process::Command::new(binary())
        .args(["server", "--port", "0", "--data-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("postgres://"));
}
