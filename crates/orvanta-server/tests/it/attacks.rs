//! Jobs as attackers, through the real server: each test is a script that
//! tries to do harm, and what it must find instead. (The sandbox's own
//! tests, one job at a time, are in `orvanta-exec`'s `sandbox` tests.)

use crate::harness::*;
use base64::Engine;
use serde_json::{json, Value};

async fn run_sync(app: &TestApp, path: &str, args: Value) -> Value {
    let r = app.post_json(&format!("/jobs/run_wait_result/p/{path}"), &args).await;
    r.json().await.unwrap()
}

async fn healthy(app: &TestApp) {
    let r = app.client.get(app.url("/api/health")).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(r.status(), 200, "the server is down after the attack");
}

#[tokio::test]
async fn a_job_cannot_read_the_database_the_admin_token_or_the_servers_environment() {
    let app = spawn_app();
    let code = r#"import os
def main(data_dir: str, server_pid: int):
    found = {}
    for name in ["orvanta.db", "admin-token"]:
        try:
            found[name] = open(os.path.join(data_dir, name), "rb").read()[:16].hex()
        except OSError as e:
            found[name] = type(e).__name__
    try:
        found["environ"] = open(f"/proc/{server_pid}/environ", "rb").read().decode(errors="replace")
    except OSError as e:
        found["environ"] = type(e).__name__
    leaked = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                env = open(f"/proc/{pid}/environ", "rb").read()
                if b"ORVANTA_ADMIN_TOKEN" in env:
                    leaked.append(pid)
            except OSError:
                pass
    found["leaked"] = leaked
    found["uid"] = os.getuid()
    return found
"#;
    app.create_script("u/admin/thief", "python3", code).await;
    let args = json!({"data_dir": app.data_dir(), "server_pid": app.child.id()});
    let got = run_sync(&app, "u/admin/thief", args).await;
    assert_eq!(got["orvanta.db"], "FileNotFoundError", "{got}");
    assert_eq!(got["admin-token"], "FileNotFoundError", "{got}");
    assert!(got["environ"] == "FileNotFoundError" || got["environ"] == "PermissionError", "{got}");
    assert!(!got.to_string().contains(TOKEN), "{got}");
    assert_eq!(got["leaked"], json!([]), "{got}");
    assert_ne!(got["uid"], 0, "{got}");

    // The data folder is the server's alone.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(app.data_dir()), 0o700);
    assert_eq!(mode(&app.data_dir().join("orvanta.db")), 0o600);
    assert_eq!(mode(&app.data_dir().join("jobs")), 0o700);
}

#[tokio::test]
async fn a_job_inherits_no_file_descriptor_of_the_server() {
    // A launcher that leaves a file open in the server (fd 7).
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "TOP-SECRET").unwrap();
    let app = start(Opts { inherited_fd7: Some(secret), ..Opts::default() });
    let code = r#"import os
def main():
    fds = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError as e:
            fds[fd] = type(e).__name__
    try:
        leaked = os.pread(7, 100, 0).decode()
    except OSError as e:
        leaked = type(e).__name__
    return {"fds": fds, "fd7": leaked}
"#;
    for language in ["python3"] {
        app.create_script("u/admin/fds", language, code).await;
        let got = run_sync(&app, "u/admin/fds", json!({})).await;
        assert!(!got.to_string().contains("TOP-SECRET"), "{got}");
        assert!(!got.to_string().contains("secret"), "{got}");
        // stdin, stdout, stderr, the result (and request) channels, and the listing itself.
        for fd in got["fds"].as_object().unwrap().keys() {
            let n: u32 = fd.parse().unwrap();
            assert!(n <= 5, "the job holds fd {fd}: {got}");
        }
    }
}

#[tokio::test]
async fn a_job_cannot_signal_the_server() {
    let app = spawn_app();
    let code = r#"import os, signal
def main(server_pid: int):
    out = {}
    for target in [server_pid, os.getppid(), 1]:
        try:
            os.kill(target, signal.SIGKILL)
            out[str(target)] = "sent"
        except OSError as e:
            out[str(target)] = type(e).__name__
    return out
"#;
    app.create_script("u/admin/killer", "python3", code).await;
    let got = run_sync(&app, "u/admin/killer", json!({"server_pid": app.child.id()})).await;
    assert_ne!(got[app.child.id().to_string()], "sent", "{got}");
    healthy(&app).await;
    let bash = "kill -9 -1 2>/dev/null; kill -9 $PPID 2>/dev/null; echo '\"still here\"'";
    app.create_script("u/admin/killall", "bash", bash).await;
    run_sync(&app, "u/admin/killall", json!({})).await;
    healthy(&app).await;
}

#[tokio::test]
async fn fork_bombs_disk_fillers_and_memory_hogs_fail_at_their_limits_and_the_server_goes_on() {
    let mut opts = Opts::default();
    opts.env.push(("ORVANTA_SANDBOX_MAX_PROCESSES".into(), "64".into()));
    opts.env.push(("ORVANTA_SANDBOX_FILE_SIZE_BYTES".into(), (4 << 20).to_string()));
    opts.env.push(("ORVANTA_SANDBOX_MEMORY_BYTES".into(), (256 << 20).to_string()));
    let app = start(opts);
    let health: Value =
        app.client.get(app.url("/api/health")).bearer_auth(&app.token).send().await.unwrap().json().await.unwrap();
    let limits = health["sandbox"]["limits"].as_str().unwrap().to_owned();
    assert_eq!(health["sandbox"]["isolation"], "bubblewrap", "{health}");
    assert_eq!(health["sandbox"]["max_processes"], 64, "{health}");

    app.create_script("u/admin/bomb", "bash", "bomb() { bomb | bomb & }\nbomb\nsleep 20\n").await;
    let got = run_sync(&app, "u/admin/bomb", json!({})).await;
    if limits != "rlimits" {
        assert_eq!(got["error"]["name"], "ProcessLimit", "{got}");
    }
    healthy(&app).await;

    let fill = "def main():\n    with open('big', 'wb') as f:\n        for _ in range(8):\n            f.write(b'x' * (1 << 20))\n";
    app.create_script("u/admin/fill", "python3", fill).await;
    let got = run_sync(&app, "u/admin/fill", json!({})).await;
    assert!(got["error"]["message"].as_str().unwrap_or_default().contains("File too large"), "{got}");

    let hog = "def main():\n    keep = [bytearray(32 << 20) for _ in range(32)]\n    return len(keep)\n";
    app.create_script("u/admin/hog", "python3", hog).await;
    let got = run_sync(&app, "u/admin/hog", json!({})).await;
    let name = got["error"]["name"].as_str().unwrap_or_default();
    assert!(name == "MemoryLimit" || name == "MemoryError", "{got}");
    healthy(&app).await;
    // And jobs still run.
    assert_eq!(run_sync(&app, "u/admin/hello", json!({"name": "after"})).await["greeting"], "Hello, after!");
}

#[tokio::test]
async fn a_job_cannot_change_what_other_jobs_run() {
    let app = spawn_app();
    // First a Python and a TypeScript job, so that their files and caches exist.
    app.create_script("u/admin/victim_py", "python3", "def main():\n    return 'clean'\n").await;
    app.create_script("u/admin/victim_ts", "deno", "export function main() { return 'clean'; }\n").await;
    assert_eq!(run_sync(&app, "u/admin/victim_py", json!({})).await, "clean");
    assert_eq!(run_sync(&app, "u/admin/victim_ts", json!({})).await, "clean");
    let code = r#"import os
def main(runtime: str):
    payload = "\nimport os\nprint('STOLEN', os.environ.get('ORVANTA_TOKEN'))\n"
    results = {}
    for root, dirs, files in os.walk(runtime):
        for name in files:
            path = os.path.join(root, name)
            try:
                with open(path, "a") as f:
                    f.write(payload)
                results[path] = "written"
            except OSError as e:
                pass
        for name in dirs:
            try:
                open(os.path.join(root, name, "sitecustomize.py"), "w").write(payload)
                results[name] = "planted"
            except OSError:
                pass
    return results
"#;
    app.create_script("u/admin/poisoner", "python3", code).await;
    let runtime = app.data_dir().join("runtime");
    let got = run_sync(&app, "u/admin/poisoner", json!({"runtime": runtime})).await;
    assert_eq!(got, json!({}), "the job wrote to the runtime support files: {got}");
    for path in ["u/admin/victim_py", "u/admin/victim_ts", "u/admin/hello"] {
        let id = app.run_async(path, &json!({"name": "x"})).await;
        app.wait_done(&id, 60).await;
        let logs = app.get(&format!("/jobs_u/get_logs/{id}")).await.text().await.unwrap();
        assert!(!logs.contains("STOLEN"), "{path}: {logs}");
    }
}

#[tokio::test]
async fn forged_and_stale_job_tokens_are_refused() {
    let app = spawn_app();
    // A job token with an admin claim, signed with a guessed key.
    let claims = json!({"w": "demo", "u": "admin", "j": uuid::Uuid::new_v4(), "a": true, "e": 4102444800000_i64});
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
    let forged = format!("ojt_{body}.{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0u8; 32]));
    let r = app.client.get(app.ws("/scripts/list")).bearer_auth(&forged).send().await.unwrap();
    assert_error(r, 401, "job token").await;

    // A job's own token, used after the job ended.
    let code = "import os\ndef main():\n    return os.environ['ORVANTA_TOKEN']\n";
    app.create_script("u/admin/leak", "python3", code).await;
    let r = app.post_json("/jobs/run_wait_result/p/u/admin/leak", &json!({})).await;
    let token: String = r.json().await.unwrap();
    assert!(token.starts_with("ojt_"), "{token}");
    let r = app.client.get(app.ws("/scripts/list")).bearer_auth(&token).send().await.unwrap();
    assert_error(r, 401, "not running").await;
}

#[tokio::test]
async fn a_job_started_by_a_webhook_token_has_that_tokens_rights_only() {
    let app = spawn_app();
    // A job the admin started, which the webhook's job must not read.
    let other = app.run_async("u/admin/hello", &json!({"name": "private"})).await;
    app.wait_done(&other, 60).await;
    let code = r#"import os, urllib.request, urllib.error
def main(other: str):
    base = os.environ["ORVANTA_BASE_URL"] + "/api/w/" + os.environ["ORVANTA_WORKSPACE"]
    def status(path, data=None):
        req = urllib.request.Request(base + path, data=data, headers={"Authorization": "Bearer " + os.environ["ORVANTA_TOKEN"], "Content-Type": "application/json"})
        try:
            return urllib.request.urlopen(req).status
        except urllib.error.HTTPError as e:
            return e.code
    return {
        "own": status("/jobs_u/get/" + os.environ["ORVANTA_JOB_ID"]),
        "other": status("/jobs_u/get/" + other),
        "list": status("/jobs/list"),
        "scripts": status("/scripts/list"),
        "run_other": status("/jobs/run/p/u/admin/hello", b"{}"),
    }
"#;
    app.create_script("u/admin/hooked", "python3", code).await;
    let hook = app.create_token(&json!({"label": "hook", "scopes": ["jobs:run:scripts:u/admin/hooked"]})).await;
    let r = app
        .client
        .post(app.ws("/jobs/run_wait_result/p/u/admin/hooked"))
        .bearer_auth(&hook)
        .json(&json!({"other": other}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got: Value = r.json().await.unwrap();
    assert_eq!(got["own"], 200, "{got}");
    assert_eq!(got["other"], 403, "{got}");
    assert_eq!(got["list"], 403, "{got}");
    assert_eq!(got["scripts"], 403, "{got}");
    assert_eq!(got["run_other"], 403, "{got}");
}

/// A job that floods its result stream with tiny chunks, and writes lines
/// that are not Orvanta's messages to the channel, neither takes the worker
/// down nor costs a database row per chunk: what queued up while a write
/// went on is stored together.
#[tokio::test]
async fn a_stream_flood_is_stored_in_few_rows_and_the_job_completes() {
    let app = spawn_app();
    let flood = r#"import os
def main():
    # The result channel the wrapper holds open, written to directly.
    for fd in os.listdir('/proc/self/fd'):
        try:
            if os.readlink(f'/proc/self/fd/{fd}').endswith('out.fifo'):
                os.write(int(fd), b'garbage\n' * 10000)
                break
        except OSError:
            pass
    for _ in range(50000):
        yield 'x'
"#;
    app.create_script("u/admin/flood", "python3", flood).await;
    let r = app.post_json("/jobs/run_wait_result/p/u/admin/flood", &json!({})).await;
    assert_eq!(r.status(), 200);
    let got: Value = r.json().await.unwrap();
    let got = got.as_str().unwrap_or_default();
    assert!(got.len() == 50000 && got.bytes().all(|b| b == b'x'), "the stream came back as {} bytes", got.len());
    healthy(&app).await;
    let db = app.data_dir().join("orvanta.db");
    let rows: u64 = run_sqlite(&db, &["select count(*) from job_stream"]).parse().expect("the row count");
    assert!(rows < 50000 / 10, "{rows} stream rows for 50,000 chunks");
}
