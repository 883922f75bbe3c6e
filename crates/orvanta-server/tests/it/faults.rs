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

/// A flow whose middle step's process is killed with its worker: after a
/// restart the step runs again, the flow finishes, and the steps that had
/// finished before the kill did not run twice.
fn flow_with_a_fragile_middle(dir: &Path) -> (Value, std::path::PathBuf, std::path::PathBuf) {
    let log = dir.join("steps.log");
    let marker = dir.join("marker");
    let b = format!(
        "import os, time\ndef main():\n    if not os.path.exists('{m}'):\n        open('{m}', 'w').write(str(os.getpid()))\n        time.sleep(300)\n    return 'b done'\n",
        m = marker.display()
    );
    let flow = json!({"modules": [
        {"id": "a", "value": {"type": "rawscript", "language": "bash", "content": format!("echo a >> {}\necho 1", log.display())}},
        {"id": "b", "value": {"type": "rawscript", "language": "python3", "content": b}},
        {"id": "c", "value": {"type": "rawscript", "language": "bash", "content": format!("echo c >> {}\necho '\"end\"'", log.display())}},
    ]});
    (flow, log, marker)
}

fn assert_each_step_once(log: &Path) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    assert_eq!(text.lines().collect::<Vec<_>>(), ["a", "c"], "a finished step never runs again");
}

#[tokio::test]
async fn a_flow_killed_mid_step_resumes_after_a_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let (flow, log, marker) = flow_with_a_fragile_middle(dir.path());
    let mut app = up_on(dir.path());
    let r = app.post_json("/flows/create", &json!({"path": "u/admin/fragile", "value": flow})).await;
    assert_eq!(r.status(), 201);
    let id = app.run_async_target("/jobs/run/f/u/admin/fragile", &json!({})).await;
    wait_for_file(&marker, 60).await;
    kill9(&mut app);
    kill_orphan(&marker);
    let app = up_on(dir.path());
    let job = app.wait_done(&id, 90).await;
    assert_eq!((job["status"].as_str(), job["result"].clone()), (Some("success"), json!("end")), "{job}");
    assert_each_step_once(&log);
}

#[tokio::test]
async fn a_flow_whose_worker_dies_resumes_on_another_worker_on_postgres() {
    let url = fresh_pg_database().await;
    let dir = tempfile::tempdir().unwrap();
    let (flow, log, marker) = flow_with_a_fragile_middle(dir.path());
    let opts = |role: &'static str| {
        let mut o = Opts { role, db: Db::Postgres(url.clone()), ..Default::default() };
        o.env.push(("ORVANTA_LEASE_S".into(), "6".into()));
        o
    };
    let server = start(opts("server"));
    let mut wopts = opts("worker");
    wopts.env.push(("ORVANTA_BASE_URL".into(), server.base.clone()));
    let mut w1 = start(wopts.clone());
    let r = server.post_json("/flows/create", &json!({"path": "u/admin/fragile", "value": flow})).await;
    assert_eq!(r.status(), 201);
    let id = server.run_async_target("/jobs/run/f/u/admin/fragile", &json!({})).await;
    wait_for_file(&marker, 60).await;
    kill9(&mut w1);
    kill_orphan(&marker);
    let _w2 = start(wopts);
    let job = server.wait_done(&id, 90).await;
    assert_eq!((job["status"].as_str(), job["result"].clone()), (Some("success"), json!("end")), "{job}");
    assert_each_step_once(&log);
}

#[tokio::test]
async fn a_suspended_flow_still_resumes_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = up_on(dir.path());
    let flow = json!({"modules": [
        {"id": "ask", "suspend": {"required_events": 1}, "value": {"type": "rawscript", "language": "bash", "content": "echo 1"}},
        {"id": "after", "value": {"type": "rawscript", "language": "bash", "content": "echo '\"resumed\"'"}},
    ]});
    let r = app.post_json("/flows/create", &json!({"path": "u/admin/waits", "value": flow})).await;
    assert_eq!(r.status(), 201);
    let id = app.run_async_target("/jobs/run/f/u/admin/waits", &json!({})).await;
    let job =
        app.wait_for(&id, 60, "suspended", |j| j["flow_status"]["modules"][0]["type"] == "WaitingForEvents").await;
    let step = job["flow_status"]["modules"][0]["job"].as_str().unwrap().to_owned();
    let urls: Value = app.get(&format!("/jobs/resume_urls/{step}/1")).await.json().await.unwrap();
    let old_base = app.base.clone();
    kill9(&mut app);
    let app = up_on(dir.path());
    // The test's server listens on a new port after the restart; a real one keeps its base URL.
    let resume = urls["resume"].as_str().unwrap().replace(&old_base, &app.base);
    let r = app.client.post(resume).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(app.wait_done(&id, 60).await["result"], json!("resumed"));
}
