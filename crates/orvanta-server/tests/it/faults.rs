//! Faults: a worker killed mid-job (kill -9), an acknowledged job surviving
//! the process dying the next instant.

use crate::harness::*;
use serde_json::{json, Value};
use std::path::Path;

const ONCE: &str = r#"import os, time
def main(marker: str):
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        time.sleep(300)
    return "ran again"
"#;

fn up_on(dir: &Path) -> TestApp {
    let mut opts = Opts { data_dir: Some(dir.to_path_buf()), ..Default::default() };
    opts.env.push(("ORVANTA_LEASE_S".into(), "6".into()));
    start(opts)
}

fn kill9(app: &mut TestApp) {
    let _ = app.child.kill();
    let _ = app.child.wait();
}

/// Kills the orphaned job process a killed worker left behind.
fn kill_orphan(marker: &Path) {
    if let Ok(pid) = std::fs::read_to_string(marker) {
        let _ = std::process::Command::new("kill").args(["-9", pid.trim()]).status();
    }
}

async fn wait_running(app: &TestApp, id: &str, retries: i64) {
    app.wait_for(id, 30, "running", |j| j["status"] == "running" && j["retries"] == retries).await;
}

#[tokio::test]
async fn a_killed_worker_job_is_requeued_once_then_failed() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("marker");
    let mut app = up_on(dir.path());
    app.create_script("u/admin/once", "python3", ONCE).await;
    let id = app.run_async("u/admin/once", &json!({"marker": marker})).await;
    wait_running(&app, &id, 0).await;
    wait_for_file(&marker, 60).await;
    kill9(&mut app);
    kill_orphan(&marker);
    let app = up_on(dir.path());
    let job = app.wait_done(&id, 60).await;
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["result"], "ran again");
    assert_eq!(job["retries"], 1);
    let logs = app.get(&format!("/jobs_u/get_logs/{id}")).await.text().await.unwrap();
    assert!(logs.contains("previous worker"), "{logs}");

    // A job whose worker dies twice fails with a clear error.
    std::fs::remove_file(&marker).unwrap();
    let code = "import os, time\ndef main(marker: str):\n    open(marker, 'a').write(str(os.getpid()) + ' ')\n    time.sleep(300)\n";
    app.create_script("u/admin/always", "python3", code).await;
    let mut app = app;
    let id = app.run_async("u/admin/always", &json!({"marker": marker})).await;
    wait_running(&app, &id, 0).await;
    kill9(&mut app);
    let mut app = up_on(dir.path());
    wait_running(&app, &id, 1).await;
    kill9(&mut app);
    let app = up_on(dir.path());
    let job = app.wait_done(&id, 60).await;
    assert_eq!(job["status"], "failure", "{job}");
    assert_eq!(job["result"]["error"]["name"], "WorkerLost", "{job}");
    for pid in std::fs::read_to_string(&marker).unwrap_or_default().split_whitespace() {
        let _ = std::process::Command::new("kill").args(["-9", pid]).status();
    }
}

#[tokio::test]
async fn an_acknowledged_job_survives_an_immediate_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = up_on(dir.path());
    app.create_script("u/admin/later", "bash", "sleep 1\necho done").await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.run_async("u/admin/later", &json!({})).await);
    }
    kill9(&mut app);
    let app = up_on(dir.path());
    for id in &ids {
        let job: Value = app.wait_done(id, 60).await;
        assert_eq!(job["status"], "success", "{job}");
        assert_eq!(job["result"], "done");
    }
}

/// Group commit under fire: 16 connections send async runs at once, the
/// process is killed (SIGKILL) in the middle of the burst, and after a
/// restart every id that was acknowledged has its row and runs.
async fn acknowledged_burst_survives_a_kill(db: Db) {
    use std::sync::{Arc, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let opts = Opts { data_dir: Some(dir.path().to_path_buf()), db, ..Default::default() };
    let mut app = start(opts.clone());
    app.create_script("u/admin/fast", "bash", "echo ok").await;
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (acked, stop, url) = (acked.clone(), stop.clone(), app.ws("/jobs/run/p/u/admin/fast"));
        senders.push(tokio::spawn(async move {
            let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(30)).build().unwrap();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let Ok(r) = client.post(&url).bearer_auth(TOKEN).json(&json!({})).send().await else { return };
                if r.status() != 201 {
                    return;
                }
                let Ok(id) = r.text().await else { return };
                acked.lock().unwrap().push(id);
            }
        }));
    }
    let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while acked.lock().unwrap().len() < 300 {
        assert!(std::time::Instant::now() < until, "the burst did not get 300 acknowledgements within 60 s");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    kill9(&mut app);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for s in senders {
        let _ = s.await;
    }
    let ids = acked.lock().unwrap().clone();
    let app = start(opts);
    for id in &ids {
        let job = app.wait_done(id, 120).await;
        assert_eq!(job["status"], "success", "{job}");
    }
    let all: Vec<Value> = app.get("/jobs/list?per_page=100").await.json().await.unwrap();
    assert!(!all.is_empty());
    println!("{} acknowledged jobs survived the kill and ran", ids.len());
}

#[tokio::test]
async fn an_acknowledged_burst_survives_a_kill_on_sqlite() {
    acknowledged_burst_survives_a_kill(Db::Sqlite).await;
}

#[tokio::test]
async fn an_acknowledged_burst_survives_a_kill_on_postgres() {
    acknowledged_burst_survives_a_kill(Db::Postgres(fresh_pg_database().await)).await;
}
