//! Windmill's published clients, unchanged, against Orvanta: `windmill-api`
//! (PyPI) and `windmill-client` (npm) drive scripts, jobs, flows, users,
//! workspaces, variables, resources, apps and the webhook settings. `.ci/test`
//! installs both (the npm one into `target/compat-node`); the scripts that
//! drive them are in `tests/compat/`.

use crate::harness::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

pub(crate) fn compat(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/compat").join(file)
}

/// The npm client's script `file`, copied beside `target/compat-node/node_modules`:
/// ES modules resolve packages from the script's own folder.
fn npm_script(file: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/compat-node");
    assert!(
        dir.join("node_modules/windmill-client").is_dir(),
        "windmill-client is missing from {}: .ci/test installs it (npm install --prefix target/compat-node windmill-client)",
        dir.display()
    );
    let script = dir.join(file);
    std::fs::copy(compat(file), &script).expect("copy the client script");
    script
}

/// Runs a client script and answers the JSON it printed.
pub(crate) fn run(program: &str, script: &std::path::Path, app: &TestApp) -> Value {
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
    let script = npm_script("windmill_client_flows.mjs");
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

/// The Python client on scripts, jobs, users and workspaces: every call
/// parses (a refused body would show as a status or an error in `seen`).
#[tokio::test]
async fn windmill_api_from_pypi_drives_scripts_jobs_and_users() {
    let app = spawn_app();
    let seen = run("python3", &compat("windmill_api_scripts.py"), &app);
    let (first, second) = (seen["hashes"]["first"].clone(), seen["hashes"]["second"].clone());
    assert_eq!(seen["create"]["status"], 201, "{seen}");
    assert_eq!((seen["exists"]["value"].clone(), seen["get_by_path"]["kind"].clone()), (json!(true), json!("script")));
    assert_eq!(seen["get_by_path"]["is_draft"], false);
    assert_eq!(seen["get_by_hash"]["hash"], first);
    assert_eq!(seen["raw"]["content"], "def main(x: int = 1):\n    return x * 2\n");
    assert_eq!(seen["history"]["hashes"], json!([second, first]));
    assert_eq!(seen["history"]["deployment_msgs"], json!(["v2", "v1"]));
    assert_eq!(seen["list_path_exact"]["hashes"], json!([second]));
    assert_eq!(
        (seen["run_wait_result"]["result"].clone(), seen["run_async"]["status"].clone()),
        (json!(42), json!(201))
    );
    assert_eq!(seen["wait"], json!({"completed": true, "success": true, "result": 10}));
    assert_eq!(seen["updates_done"]["completed"], true);
    assert_eq!(
        (seen["get_job"]["type"].clone(), seen["get_job"]["result"].clone()),
        (json!("CompletedJob"), json!(10))
    );
    assert_eq!(seen["get_completed_job"]["duration_ms_is_int"], true);
    assert_eq!(seen["get_completed_job_result"]["result"], 10);
    let lists = &seen["list_jobs"];
    for (filter, has) in [
        ("path_exact", true),
        ("path_start", true),
        ("success", true),
        ("job_kinds", true),
        ("created_after", true),
        ("script_hash", true),
        ("failed", false),
        ("running", false),
        ("job_kinds_flow", false),
        ("created_before", false),
    ] {
        assert_eq!(
            (lists[filter]["status"].clone(), lists[filter]["has_job"].clone()),
            (json!(200), json!(has)),
            "{filter}: {seen}"
        );
    }
    assert_eq!(lists["per_page"]["count"], 1);
    assert_eq!(
        (seen["global_whoami"]["status"].clone(), seen["whoami"]["username"].clone()),
        (json!(200), json!("admin"))
    );
    assert!(seen["list_workspaces"]["ids"].as_array().unwrap().contains(&json!("demo")));
    assert!(seen["list_user_workspaces"]["ids"].as_array().unwrap().contains(&json!("demo")), "{seen}");
    assert_eq!((seen["archive"]["status"].clone(), seen["delete"]["status"].clone()), (json!(200), json!(200)));
    assert_eq!(seen["exists_after_delete"]["value"], false);
}

/// The npm client on the same routes: no answer lacks a field its types require.
#[tokio::test]
async fn windmill_client_from_npm_drives_scripts_jobs_and_users() {
    let script = npm_script("windmill_client_scripts.mjs");
    let app = spawn_app();
    let seen = run("node", &script, &app);
    for (key, v) in seen.as_object().unwrap() {
        if let Some(missing) = v.get("missing") {
            assert_eq!(missing, &json!([]), "{key} lacks fields: {seen}");
        }
        assert!(v.get("error").is_none(), "{key} failed: {seen}");
    }
    assert_eq!((seen["exists"]["value"].clone(), seen["run_wait_result"]["value"].clone()), (json!(true), json!(42)));
    assert_eq!((seen["sdk_run"]["value"].clone(), seen["sdk_wait"]["value"].clone()), (json!(8), json!(6)));
    assert_eq!((seen["wait"]["value"].clone(), seen["get_job"]["type"].clone()), (json!(10), json!("CompletedJob")));
    assert_eq!(seen["list_jobs"]["has_job"], true);
    assert_eq!(seen["exists_after_delete"]["value"], false);
}

/// The Python client on variables, resources and the workspace webhook's settings.
#[tokio::test]
async fn windmill_api_from_pypi_drives_variables_resources_and_settings() {
    let app = spawn_app();
    let seen = run("python3", &compat("windmill_api_objects.py"), &app);
    for (step, status) in
        [("create_variable", 201), ("create_resource_type", 201), ("create_resource", 201), ("edit_webhook", 200)]
    {
        assert_eq!(seen[step]["status"], status, "{step}: {seen}");
    }
    assert_eq!(seen["get_variable"]["is_secret"], true, "{seen}");
    assert_eq!(seen["get_variable_value"]["value"], "s3cr3t-value");
    assert_eq!(seen["list_variable"]["paths"], json!(["u/admin/wm_secret"]));
    assert_eq!(seen["get_resource"]["resource_type"], "wm_api");
    assert_eq!(seen["get_resource_value_interpolated"]["value"], json!({"url": "https://x", "key": "s3cr3t-value"}));
    assert_eq!(seen["list_resource"]["paths"], json!(["u/admin/wm_res"]));
    assert_eq!(seen["get_settings"]["has_secret"], true, "{seen}");
}

/// The npm client on variables (secret and not), resource types, resources,
/// apps and the webhook settings, and the SDK's getVariable / setVariable /
/// getResource / setResource: no answer lacks a field its types require.
#[tokio::test]
async fn windmill_client_from_npm_drives_variables_resources_apps_and_settings() {
    let script = npm_script("windmill_client_objects.mjs");
    // The script points the workspace webhook at this machine (a closed port), then turns it off.
    let mut opts = Opts::default();
    opts.env.push(("ORVANTA_WEBHOOK_ALLOW_PRIVATE".into(), "true".into()));
    let app = start(opts);
    let seen = run("node", &script, &app);
    for (key, v) in seen.as_object().unwrap() {
        if let Some(missing) = v.get("missing") {
            assert_eq!(missing, &json!([]), "{key} lacks fields: {seen}");
        }
        if key != "refused_resource" {
            assert!(v.get("error").is_none(), "{key} failed: {seen}");
        }
    }
    let value = |key: &str| seen[key]["value"].clone();

    assert_eq!((value("get_secret"), seen["get_secret"]["is_secret"].clone()), (json!("s3cr3t-ts"), json!(true)));
    assert_eq!(seen["get_secret_sealed"]["has_value"], false, "decryptSecret=false leaves the value out: {seen}");
    assert_eq!((value("get_plain"), value("get_secret_value")), (json!("plain-ts"), json!("s3cr3t-ts")));
    assert_eq!(seen["list_variables"]["paths"], json!(["u/admin/wm_ts_plain", "u/admin/wm_ts_secret"]));
    assert_eq!(seen["list_variables"]["secret_values_listed"], 0, "a list never carries a secret: {seen}");
    assert_eq!(value("get_secret_value_after_update"), "s3cr3t-ts-2");
    assert_eq!(seen["get_plain_after_update"], json!({"value": "plain-ts-2", "description": "moved"}));
    assert_eq!(value("exists_plain_old_path"), false);
    assert_eq!((value("sdk_get_variable"), value("sdk_get_secret")), (json!("plain-ts-3"), json!("s3cr3t-ts-2")));

    assert_eq!(
        (value("exists_resource_type"), seen["get_resource_type"]["name"].clone()),
        (json!(true), json!("wm_ts_api"))
    );
    assert_eq!(seen["list_resource_types"]["description"], "edited by windmill-client");
    assert_eq!(value("list_resource_type_names"), json!(["wm_ts_api"]));
    let stored = json!({"url": "https://x", "key": "$var:u/admin/wm_ts_secret"});
    assert_eq!((value("exists_resource"), value("get_resource_value")), (json!(true), stored.clone()));
    assert_eq!(value("get_resource"), stored);
    assert_eq!(value("get_resource_value_interpolated"), json!({"url": "https://x", "key": "s3cr3t-ts-2"}));
    assert_eq!(seen["list_resources"]["paths"], json!(["u/admin/wm_ts_res"]));
    assert_eq!(seen["get_resource_after_update"]["value"], json!({"url": "https://y"}));
    assert_eq!(seen["get_resource_after_update"]["description"], "moved by windmill-client");
    assert_eq!(value("sdk_get_resource"), json!({"url": "https://z", "key": "s3cr3t-ts-2"}));
    assert_eq!(seen["refused_resource"]["status"], 400, "a value that does not fit its type: {seen}");

    assert_eq!((value("create_app"), value("exists_app")), (json!("u/admin/wm_ts_app"), json!(true)));
    assert_eq!(seen["update_app"], json!({"path": "u/admin/wm_ts_app", "version": 2, "missing": []}));
    assert_eq!(
        (seen["get_app"]["versions"].clone(), seen["get_app"]["execution_mode"].clone()),
        (json!([1, 2]), json!("viewer"))
    );
    assert_eq!(seen["list_apps"]["versions"], json!([2]));
    assert_eq!(seen["app_history"]["versions"], json!([2, 1]));
    assert_eq!(value("exists_app_after_delete"), false);

    assert_eq!(seen["get_settings"]["webhook"], "http://127.0.0.1:9/wm-ts-hook", "{seen}");
    assert_eq!(seen["get_settings"]["has_secret"], true);
    assert_eq!(seen["get_settings_off"]["webhook"], Value::Null);

    for gone in ["exists_resource_after_delete", "exists_resource_type_after_delete"] {
        assert_eq!(value(gone), false, "{gone}: {seen}");
    }
    assert_eq!(seen["list_variables_after_delete"]["paths"], json!([]));
}

/// The Python client on apps: its models parse every answer (a missing field raises).
#[tokio::test]
async fn windmill_api_from_pypi_drives_apps() {
    let app = spawn_app();
    let seen = run("python3", &compat("windmill_api_apps.py"), &app);
    assert_eq!(seen["create"], json!({"status": 201, "path": "u/admin/wm_py_app"}), "{seen}");
    assert_eq!(seen["exists"]["value"], true);
    assert_eq!(seen["update"], json!({"status": 200, "path": "u/admin/wm_py_app", "version": 2}), "{seen}");
    assert_eq!(seen["update_mode"], json!({"status": 200, "version": 3}), "{seen}");
    assert_eq!(seen["update_mode_and_policy"]["status"], 400, "{seen}");
    let got = &seen["get"];
    assert_eq!((got["summary"].clone(), got["versions"].clone()), (json!("edited by windmill-api"), json!([1, 2, 3])));
    assert_eq!(got["value"], json!({"grid": [1]}));
    assert_eq!(
        (got["execution_mode"].clone(), got["policy_mode"].clone(), got["raw_app"].clone()),
        (json!("publisher"), json!("publisher"), json!(false))
    );
    assert_eq!(seen["list"]["apps"], json!([["u/admin/wm_py_app", 3, "publisher"]]), "{seen}");
    assert_eq!(seen["history"]["versions"], json!([3, 2, 1]));
    assert_eq!(
        (seen["delete"]["status"].clone(), seen["exists_after_delete"]["value"].clone()),
        (json!(200), json!(false))
    );
}

#[tokio::test]
async fn windmill_api_from_pypi_drives_http_triggers() {
    let app = spawn_app();
    let echo = "def main(id: str = '', name: str = ''):\n    return {'id': id, 'name': name}\n";
    app.create_script("u/admin/echo", "python3", echo).await;
    let seen = run("python3", &compat("windmill_api_http_triggers.py"), &app);
    assert_eq!(seen["create"], json!({"status": 201, "path": "u/admin/wm_py_route"}), "{seen}");
    assert_eq!(seen["exists"]["value"], true, "{seen}");
    assert_eq!(seen["route_exists"]["value"], true, "{seen}");
    let got = &seen["get"];
    assert_eq!(
        got,
        &json!({"status": 200, "route_path": "wm/:id", "http_method": "post", "request_type": "sync",
                "authentication_method": "none", "summary": "made by windmill-api"}),
        "{seen}"
    );
    assert_eq!(seen["list"]["routes"], json!([["u/admin/wm_py_route", "wm/:id", "u/admin/echo", false, "enabled"]]));
    assert_eq!(seen["update"]["status"], 200, "{seen}");
    assert_eq!(seen["served"], json!({"status": 200, "body": {"id": "7", "name": "py"}}), "{seen}");
    assert_eq!(seen["delete"]["status"], 200);
    assert_eq!(seen["exists_after_delete"]["value"], false);
}

/// The npm client on custom HTTP routes and the OpenAPI export.
#[tokio::test]
async fn windmill_client_from_npm_drives_http_triggers_and_openapi() {
    let script = npm_script("windmill_client_routes.mjs");
    let app = spawn_app();
    let echo = "def main(id: str = '', name: str = ''):\n    return {'id': id, 'name': name}\n";
    app.create_script("u/admin/echo", "python3", echo).await;
    let seen = run("node", &script, &app);
    for (key, v) in seen.as_object().unwrap() {
        assert!(v.get("error").is_none(), "{key} failed: {seen}");
        if let Some(missing) = v.get("missing") {
            assert_eq!(missing, &json!([]), "{key} lacks fields: {seen}");
        }
    }
    assert_eq!(seen["create"]["value"], "u/admin/wm_ts_route", "{seen}");
    assert_eq!((seen["exists"]["value"].clone(), seen["route_exists"]["value"].clone()), (json!(true), json!(true)));
    assert_eq!(seen["get"]["route_path"], "ts/:id");
    assert_eq!(seen["list"]["paths"], json!(["u/admin/wm_ts_route"]));
    assert_eq!(seen["served"], json!({"status": 200, "body": {"id": "5", "name": "ts"}}), "{seen}");
    assert_eq!(seen["openapi"]["openapi"], "3.1.0", "{seen}");
    let paths = seen["openapi"]["paths"].as_array().unwrap();
    assert!(paths.iter().any(|p| p == "/api/w/demo/jobs/run/p/u/admin/echo"), "{seen}");
    assert_eq!(seen["exists_after_delete"]["value"], false);
}
