//! Windmill's published clients, unchanged, against Orvanta: `windmill-api`
//! (PyPI) and `windmill-client` (npm) create, read and run flows. `.ci/test`
//! installs both (the npm one into `target/compat-node`); the scripts that
//! drive them are in `tests/compat/`.

use crate::harness::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

fn compat(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/compat").join(file)
}

/// Runs a client script and answers the JSON it printed.
fn run(program: &str, script: &std::path::Path, app: &TestApp) -> Value {
    let out = Command::new(program)
        .arg(script)
        .args([app.base.as_str(), app.token.as_str(), "demo"])
        .output()
        .unwrap_or_else(|e| panic!("{program} could not run: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{} failed:\n{stdout}\n{stderr}", script.display());
    serde_json::from_str(stdout.trim().lines().last().unwrap_or_default())
        .unwrap_or_else(|_| panic!("{} printed no JSON:\n{stdout}\n{stderr}", script.display()))
}

#[tokio::test]
async fn windmill_api_from_pypi_drives_flows() {
    let probe = Command::new("python3").args(["-c", "import windmill_api"]).output().expect("python3");
    assert!(
        probe.status.success(),
        "the windmill-api package is missing: .ci/test installs it (python3 -m pip install windmill-api)"
    );
    let app = spawn_app();
    let seen = run("python3", &compat("windmill_api_flows.py"), &app);
    assert_eq!(seen["create"], json!([201, "u/admin/wm_client_flow"]), "{seen}");
    assert_eq!(seen["get_summary"], "made by windmill-api 2");
    assert_eq!((seen["update"].clone(), seen["exists"].clone()), (json!(200), json!(true)));
    assert_eq!((seen["list"].clone(), seen["history"].clone()), (json!(["u/admin/wm_client_flow"]), json!(2)));
    assert_eq!(seen["version_status"], 200);
    assert_eq!((seen["sync"].clone(), seen["async_status"].clone()), (json!(21), json!(201)));
    assert_eq!((seen["async_result"].clone(), seen["step_result"].clone()), (json!("15"), json!(15)));
    assert_eq!((seen["archive"].clone(), seen["delete"].clone()), (json!(200), json!(200)));
}

#[tokio::test]
async fn windmill_client_from_npm_drives_flows() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/compat-node");
    assert!(
        dir.join("node_modules/windmill-client").is_dir(),
        "windmill-client is missing from {}: .ci/test installs it (npm install --prefix target/compat-node windmill-client)",
        dir.display()
    );
    // ES modules resolve packages from the script's own folder.
    let script = dir.join("windmill_client_flows.mjs");
    std::fs::copy(compat("windmill_client_flows.mjs"), &script).expect("copy the client script");
    let app = spawn_app();
    let seen = run("node", &script, &app);
    assert_eq!(seen["create"], "u/admin/wm_ts_flow", "{seen}");
    assert_eq!(
        (seen["summary"].clone(), seen["list"].clone()),
        (json!("made by windmill-client"), json!(["u/admin/wm_ts_flow"]))
    );
    assert_eq!(seen["run"], json!({"doubled": 42}));
    assert_eq!((seen["waited"].clone(), seen["result"].clone()), (json!({"doubled": 4}), json!({"doubled": 4})));
}
