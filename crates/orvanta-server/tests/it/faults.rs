//! Faults: a worker killed mid-job (kill -9), an acknowledged job surviving
//! the process dying the next instant.

use crate::harness::*;
use crate::rendezvous::Rendezvous;
use serde_json::{json, Value};
use std::path::Path;

/// Sleeps the first time (its worker is killed meanwhile), returns the
/// second. `attempts` counts the runs; `mark` names its `sleep` process, so
/// that the test can tell it is gone.
const ONCE: &str = r#"import subprocess, urllib.request
def main(attempts: str, mark: str):
    if urllib.request.urlopen(attempts, b"run").read() == b"1":
        subprocess.run(["sleep", mark])
    return "ran again"
"#;

/// A `sleep` duration that names a job's process on this machine.
pub fn sleep_mark() -> String {
    format!("1000.{}", uuid::Uuid::new_v4().as_u128() % 1_000_000_000_000)
}

/// Whether a process with `mark` in its command line runs (not a zombie).
pub fn running(mark: &str) -> bool {
    std::fs::read_dir("/proc").unwrap().flatten().any(|entry| {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        String::from_utf8_lossy(&cmdline).contains(mark) && !stat.contains(") Z ")
    })
}

/// A job's processes die with its worker: no second copy of the job may
/// run beside the one the lease sweep starts again. `mark` is in the
/// command line of a process of the job: its `sleep`, or its worker's data
/// folder (in the sandbox's and the interpreter's).
pub async fn assert_gone_with_its_worker(mark: &str) {
    // A process that escaped lives on for good (one was found 7 minutes
    // later); one that dies with its worker is gone within moments, or
    // within seconds on a machine loaded by the whole suite.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while running(mark) {
        assert!(
            std::time::Instant::now() < until,
            "the job ({mark}) outlived its worker, killed with SIGKILL: {}",
            survivors(mark)
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// The processes with `mark` in their command line: pid, state and parent, and the command.
fn survivors(mark: &str) -> String {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmd.contains(mark) {
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let after = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
            let fields: Vec<&str> = after.split_whitespace().take(2).collect();
            out.push(format!(
                "[{} state {:?} ppid {:?}] {}",
                entry.file_name().to_string_lossy(),
                fields.first(),
                fields.get(1),
                cmd.chars().take(300).collect::<String>()
            ));
        }
    }
    out.join("\n")
}

fn up_on(dir: &Path) -> TestApp {
    let mut opts = Opts { data_dir: Some(dir.to_path_buf()), ..Default::default() };
    opts.env.push(("ORVANTA_LEASE_S".into(), "6".into()));
    start(opts)
}

fn kill9(app: &mut TestApp) {
    let _ = app.child.kill();
    let _ = app.child.wait();
}

/// The worker folders in a data folder's `jobs`.
fn worker_folders(data: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(data.join("jobs")).into_iter().flatten().flatten().map(|e| e.path()).collect()
}

async fn wait_running(app: &TestApp, id: &str, retries: i64) {
    app.wait_for(id, 30, "running", |j| j["status"] == "running" && j["retries"] == retries).await;
}

#[tokio::test]
async fn a_killed_worker_job_is_requeued_once_then_failed() {
    let dir = tempfile::tempdir().unwrap();
    let rv = Rendezvous::start().await;
    let mark = sleep_mark();
    let mut app = up_on(dir.path());
    app.create_script("u/admin/once", "python3", ONCE).await;
    let id = app.run_async("u/admin/once", &json!({"attempts": rv.url("once"), "mark": mark})).await;
    wait_running(&app, &id, 0).await;
    rv.wait("once", 60).await;
    kill9(&mut app);
    assert_gone_with_its_worker(&mark).await;
    // The killed worker's folder still holds its job's folder; the next start removes it.
    let left = worker_folders(dir.path());
    assert!(left.iter().any(|f| std::fs::read_dir(f).unwrap().count() > 0), "{left:?}");
    let app = up_on(dir.path());
    assert!(left.iter().all(|f| !f.exists()), "{left:?}: {:?}", worker_folders(dir.path()));
    let job = app.wait_done(&id, 60).await;
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["result"], "ran again");
    assert_eq!(job["retries"], 1);
    let logs = app.get(&format!("/jobs_u/get_logs/{id}")).await.text().await.unwrap();
    assert!(logs.contains("previous worker"), "{logs}");

    // A job whose worker dies twice fails with a clear error.
    let code = "import time\ndef main():\n    time.sleep(300)\n";
    app.create_script("u/admin/always", "python3", code).await;
    let mut app = app;
    let id = app.run_async("u/admin/always", &json!({})).await;
    wait_running(&app, &id, 0).await;
    // Killed as soon as the job is claimed: maybe while its sandbox is
    // being started, before bubblewrap could arrange to die with its parent.
    kill9(&mut app);
    // The interpreter and its sandbox, named by the data folder, die with the worker.
    let data = dir.path().to_string_lossy().into_owned();
    assert_gone_with_its_worker(&data).await;
    let mut app = up_on(dir.path());
    wait_running(&app, &id, 1).await;
    kill9(&mut app);
    assert_gone_with_its_worker(&data).await;
    let app = up_on(dir.path());
    let job = app.wait_done(&id, 60).await;
    assert_eq!(job["status"], "failure", "{job}");
    assert_eq!(job["result"]["error"]["name"], "WorkerLost", "{job}");
}

#[tokio::test]
async fn a_stopped_worker_removes_its_job_folders() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = up_on(dir.path());
    app.create_script("u/admin/quick", "bash", "echo done").await;
    let id = app.run_async("u/admin/quick", &json!({})).await;
    app.wait_done(&id, 60).await;
    assert_eq!(worker_folders(dir.path()).len(), 1, "one folder per worker process");
    let term = std::process::Command::new("kill").args(["-TERM", &app.child.id().to_string()]).status().unwrap();
    assert!(term.success());
    let status = app.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(worker_folders(dir.path()), Vec::<std::path::PathBuf>::new());
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
fn flow_with_a_fragile_middle(rv: &Rendezvous, mark: &str) -> Value {
    let steps = rv.url("steps");
    let b = format!(
        "import subprocess, urllib.request\ndef main():\n    if urllib.request.urlopen('{attempts}', b'b').read() == b'1':\n        subprocess.run(['sleep', '{mark}'])\n    return 'b done'\n",
        attempts = rv.url("b")
    );
    json!({"modules": [
        {"id": "a", "value": {"type": "rawscript", "language": "bash", "content": format!("curl -sf -d a {steps} > /dev/null\necho 1")}},
        {"id": "b", "value": {"type": "rawscript", "language": "python3", "content": b}},
        {"id": "c", "value": {"type": "rawscript", "language": "bash", "content": format!("curl -sf -d c {steps} > /dev/null\necho '\"end\"'")}},
    ]})
}

fn assert_each_step_once(rv: &Rendezvous) {
    assert_eq!(rv.values("steps"), ["a", "c"], "a finished step never runs again");
}

#[tokio::test]
async fn a_flow_killed_mid_step_resumes_after_a_restart_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let rv = Rendezvous::start().await;
    let mark = sleep_mark();
    let flow = flow_with_a_fragile_middle(&rv, &mark);
    let mut app = up_on(dir.path());
    let r = app.post_json("/flows/create", &json!({"path": "u/admin/fragile", "value": flow})).await;
    assert_eq!(r.status(), 201);
    let id = app.run_async_target("/jobs/run/f/u/admin/fragile", &json!({})).await;
    rv.wait("b", 60).await;
    kill9(&mut app);
    assert_gone_with_its_worker(&mark).await;
    let app = up_on(dir.path());
    let job = app.wait_done(&id, 90).await;
    assert_eq!((job["status"].as_str(), job["result"].clone()), (Some("success"), json!("end")), "{job}");
    assert_each_step_once(&rv);
}

#[tokio::test]
async fn a_flow_whose_worker_dies_resumes_on_another_worker_on_postgres() {
    let url = fresh_pg_database().await;
    let rv = Rendezvous::start().await;
    let mark = sleep_mark();
    let flow = flow_with_a_fragile_middle(&rv, &mark);
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
    rv.wait("b", 60).await;
    kill9(&mut w1);
    assert_gone_with_its_worker(&mark).await;
    let _w2 = start(wopts);
    let job = server.wait_done(&id, 90).await;
    assert_eq!((job["status"].as_str(), job["result"].clone()), (Some("success"), json!("end")), "{job}");
    assert_each_step_once(&rv);
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

/// A job that runs for several leases while its own logs (and other jobs)
/// keep the event channels busy keeps its lease: renewals come at fixed
/// times, whatever events arrive between them. It runs once and succeeds.
#[tokio::test]
async fn a_chatty_job_longer_than_its_lease_keeps_it_and_runs_once() {
    let mut opts = Opts::default();
    opts.env.push(("ORVANTA_LEASE_S".into(), "2".into()));
    let app = start(opts);
    let code = "for i in $(seq 1 60); do echo \"line $i\"; sleep 0.1; done\necho '\"done\"'\n";
    app.create_script("u/admin/chatty", "bash", code).await;
    app.create_script("u/admin/noop", "bash", "echo 1\n").await;
    let id = app.run_async("u/admin/chatty", &json!({})).await;
    // Other jobs come and go meanwhile.
    for _ in 0..20 {
        app.run_async("u/admin/noop", &json!({})).await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let job = app.wait_done(&id, 60).await;
    assert_eq!(job["status"], "success", "{job}");
    assert_eq!(job["retries"], 0, "the lease ran out under a running job: {job}");
    let logs = app.get(&format!("/jobs_u/get_logs/{id}")).await.text().await.unwrap();
    assert!(!logs.contains("previous worker"), "{logs}");
    assert_eq!(logs.matches("line 60").count(), 1, "{logs}");
}
