//! Warm processes through the server, per-script limits, and concurrency limits.

use crate::harness::*;
use crate::rendezvous::Rendezvous;
use serde_json::{json, Value};

const PY_COUNTER: &str = "RUNS = 0\ndef main():\n    global RUNS\n    RUNS += 1\n    return RUNS\n";
const TS_COUNTER: &str = "let runs = 0;\nexport function main() {\n  runs += 1;\n  return runs;\n}\n";

async fn run(app: &TestApp, path: &str, args: Value) -> Value {
    let r = app.post_json(&format!("/jobs/run_wait_result/p/{path}"), &args).await;
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

async fn three_runs(app: &TestApp, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for _ in 0..3 {
        out.push(run(app, path, json!({})).await);
    }
    out
}

#[tokio::test]
async fn jobs_run_warm_by_default_and_a_script_or_the_instance_can_turn_it_off() {
    let app = spawn_app();
    for (path, language, code) in [
        ("u/admin/py", "python3", PY_COUNTER),
        ("u/admin/deno", "deno", TS_COUNTER),
        ("u/admin/bun", "bun", TS_COUNTER),
    ] {
        app.create_script(path, language, code).await;
        assert_eq!(three_runs(&app, path).await, [json!(1), json!(2), json!(3)], "{language}: one warm process");
    }
    let health: Value =
        app.client.get(app.url("/api/health")).bearer_auth(&app.token).send().await.unwrap().json().await.unwrap();
    assert_eq!(health["warm"]["live"], 3, "{health}");
    assert_eq!(health["warm"]["reused"], 6, "{health}");

    // A new version gets a new process: module state never crosses versions.
    app.create_script("u/admin/py", "python3", PY_COUNTER).await;
    assert_eq!(run(&app, "u/admin/py", json!({})).await, 1);

    // A script may opt out.
    let body = json!({"path": "u/admin/cold", "language": "python3", "content": PY_COUNTER, "warm": false});
    app.create_script_with(body).await;
    assert_eq!(three_runs(&app, "u/admin/cold").await, [json!(1), json!(1), json!(1)]);
    let script: Value = app.get("/scripts/get/p/u/admin/cold").await.json().await.unwrap();
    assert_eq!(script["warm"], false);

    // And so may the instance.
    let mut opts = Opts::default();
    opts.env.push(("ORVANTA_WARM".into(), "false".into()));
    let off = start(opts);
    off.create_script("u/admin/py", "python3", PY_COUNTER).await;
    assert_eq!(three_runs(&off, "u/admin/py").await, [json!(1), json!(1), json!(1)]);
    let health: Value =
        off.client.get(off.url("/api/health")).bearer_auth(&off.token).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        (health["warm"]["enabled"].as_bool(), health["warm"]["live"].as_u64()),
        (Some(false), Some(0)),
        "{health}"
    );
}

#[tokio::test]
async fn flow_steps_run_warm_too() {
    let app = spawn_app();
    let step =
        |id: &str| json!({"id": id, "value": {"type": "rawscript", "language": "python3", "content": PY_COUNTER}});
    let flow = json!({"modules": [
        {"id": "loop", "value": {"type": "forloopflow", "iterator": {"type": "javascript", "expr": "[1, 2, 3]"},
            "modules": [step("count")]}},
    ]});
    let r = app.post_json("/flows/create", &json!({"path": "u/admin/counts", "value": flow})).await;
    assert_eq!(r.status(), 201);
    let r = app.post_json("/jobs/run_wait_result/f/u/admin/counts", &json!({})).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!([1, 2, 3]), "one warm process for the step");
}

#[tokio::test]
async fn a_scripts_own_memory_limit_applies_to_its_jobs() {
    let app = spawn_app();
    let code = "def main():\n    keep = bytearray(192 << 20)\n    return len(keep)\n";
    app.create_script("u/admin/big", "python3", code).await;
    assert_eq!(run(&app, "u/admin/big", json!({})).await, 192 << 20, "fits the instance's 2 GiB");
    let body = json!({"path": "u/admin/small", "language": "python3", "content": code, "memory_bytes": 96 << 20});
    app.create_script_with(body).await;
    let got = run(&app, "u/admin/small", json!({})).await;
    let name = got["error"]["name"].as_str().unwrap_or_default();
    assert!(name == "MemoryLimit" || name == "MemoryError", "{got}");
    let script: Value = app.get("/scripts/get/p/u/admin/small").await.json().await.unwrap();
    assert_eq!(script["memory_bytes"], 96 << 20);
    let body = json!({"path": "u/admin/tiny", "language": "python3", "content": code, "memory_bytes": 1024});
    let r = app.post_json("/scripts/create", &body).await;
    assert_error(r, 400, "memory_bytes must be at least").await;
}

#[tokio::test]
async fn a_concurrency_limit_holds_across_worker_slots() {
    let app = spawn_app();
    let rv = Rendezvous::start().await;
    let code = "import time, urllib.request\ndef main(enter: str, leave: str):\n    urllib.request.urlopen(enter, b'1')\n    time.sleep(0.4)\n    urllib.request.urlopen(leave, b'1')\n";
    let limited =
        json!({"path": "u/admin/one_at_a_time", "language": "python3", "content": code, "concurrency_limit": 1});
    app.create_script_with(limited).await;
    app.create_script("u/admin/free", "python3", code).await;
    // One script at a time, so that the other's jobs do not fill the slots.
    for (path, name) in [("u/admin/one_at_a_time", "limited"), ("u/admin/free", "free")] {
        let mut ids = Vec::new();
        for _ in 0..4 {
            let args = json!({"enter": rv.url(&format!("enter-{name}")), "leave": rv.url(&format!("leave-{name}"))});
            ids.push(app.run_async(path, &args).await);
        }
        for id in &ids {
            assert_eq!(app.wait_done(id, 60).await["status"], "success");
        }
    }
    assert_eq!(rv.most_at_once("limited"), 1, "concurrency_limit 1: one job at a time");
    let slots = std::thread::available_parallelism().unwrap().get() as i64;
    if slots > 1 {
        assert!(rv.most_at_once("free") > 1, "without a limit, jobs overlap on {slots} slots");
    }
    let r = app
        .post_json(
            "/scripts/create",
            &json!({"path": "u/admin/never", "language": "bash", "content": "echo", "concurrency_limit": 0}),
        )
        .await;
    assert_error(r, 400, "concurrency_limit 0").await;
}
