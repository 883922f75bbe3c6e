//! Variables, resources, resource types and apps over HTTP, and scripts that
//! read them through the client libraries with their job token.

use crate::harness::*;
use serde_json::{json, Value};

/// Every file of the data folder (database, WAL, objects), as one byte string.
fn data_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in walk(dir) {
        out.extend(std::fs::read(entry).unwrap_or_default());
    }
    out
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        // Regular files only: a warm process's job folder holds FIFOs, which block a reader.
        match e.file_type() {
            Ok(t) if t.is_dir() => files.extend(walk(&p)),
            Ok(t) if t.is_file() => files.push(p),
            _ => {}
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn secret_variables_are_sealed_at_rest_never_listed_and_read_by_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("stderr.log");
    let mut opts = Opts { stderr_to: Some(log.clone()), ..Default::default() };
    opts.env.push(("RUST_LOG".into(), "debug".into()));
    let app = start(opts);
    let secret = "hunter-42-very-secret";
    let r =
        app.post_json("/variables/create", &json!({"path": "u/admin/db_pw", "value": secret, "is_secret": true})).await;
    assert_eq!(r.status(), 201);
    let r = app.post_json("/variables/create", &json!({"path": "u/admin/region", "value": "eu-west"})).await;
    assert_eq!(r.status(), 201);
    let r = app.post_json("/variables/create", &json!({"path": "u/admin/region", "value": "x"})).await;
    assert_error(r, 409, "exists at 'u/admin/region'").await;

    let listed: Value = app.get("/variables/list").await.json().await.unwrap();
    assert!(!listed.to_string().contains(secret), "{listed}");
    let values: Vec<Value> = listed.as_array().unwrap().iter().map(|v| v["value"].clone()).collect();
    assert_eq!(values, [Value::Null, json!("eu-west")], "a list shows no secret");
    let got: Value = app.get("/variables/get/u/admin/db_pw").await.json().await.unwrap();
    assert_eq!((got["value"].as_str(), got["is_secret"].as_bool()), (Some(secret), Some(true)));
    let hidden: Value = app.get("/variables/get/u/admin/db_pw?decrypt_secret=false").await.json().await.unwrap();
    assert!(hidden["value"].is_null());

    // A renamed secret still opens (its seal follows the path).
    let r =
        app.post_json("/variables/update/u/admin/db_pw", &json!({"path": "u/admin/pw", "description": "the db"})).await;
    assert_eq!(r.status(), 200);
    let value: Value = app.get("/variables/get_value/u/admin/pw").await.json().await.unwrap();
    assert_eq!(value, json!(secret));

    // Jobs read with their user's rights, through both client libraries.
    let rt = json!({"name": "api", "schema": {"type": "object", "required": ["url", "key"], "properties": {"url": {"type": "string"}}}});
    assert_eq!(app.post_json("/resources/type/create", &rt).await.status(), 201);
    let res =
        json!({"path": "u/admin/api", "resource_type": "api", "value": {"url": "https://x", "key": "$var:u/admin/pw"}});
    assert_eq!(app.post_json("/resources/create", &res).await.status(), 201);
    // The jobs answer the secret reversed: a result is stored, and the secret must be nowhere in clear.
    let py = "import orvanta\ndef main():\n    orvanta.set_variable('u/admin/made', 'by a job')\n    api = orvanta.get_resource('u/admin/api')\n    return {'pw': orvanta.get_variable('u/admin/pw')[::-1], 'url': api['url'], 'key': api['key'][::-1]}\n";
    app.create_script("u/admin/reader", "python3", py).await;
    let r = app.post_json("/jobs/run_wait_result/p/u/admin/reader", &json!({})).await;
    let body: Value = r.json().await.unwrap();
    let reversed: String = secret.chars().rev().collect();
    assert_eq!(body, json!({"pw": reversed, "url": "https://x", "key": reversed}));
    let made: Value = app.get("/variables/get_value/u/admin/made").await.json().await.unwrap();
    assert_eq!(made, json!("by a job"));
    let ts = "import { getVariable, getResource } from \"orvanta-client\";\nexport async function main() {\n  const api = (await getResource(\"u/admin/api\")) as { key: string };\n  return { pw: [...(await getVariable(\"u/admin/pw\"))].reverse().join(\"\"), key: [...api.key].reverse().join(\"\") };\n}\n";
    app.create_script("u/admin/ts_reader", "deno", ts).await;
    let r = app.post_json("/jobs/run_wait_result/p/u/admin/ts_reader", &json!({})).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"pw": reversed, "key": reversed}));

    // The secret is nowhere in clear: not in the database files, not in the log.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!contains(&data_bytes(app.data_dir()), secret), "the secret is stored in clear");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains(secret), "the secret reached the log");
}

#[tokio::test]
async fn a_job_reading_what_its_user_may_not_read_gets_a_clear_error() {
    let app = spawn_app();
    let r =
        app.post_json("/variables/create", &json!({"path": "u/admin/private", "value": "p", "is_secret": true})).await;
    assert_eq!(r.status(), 201);
    let alice = app.user("alice").await;
    app.add_member(&alice, "developer").await;
    let code = "import orvanta\ndef main():\n    try:\n        orvanta.get_variable('u/admin/private')\n    except orvanta.OrvantaError as e:\n        return {'status': e.status, 'message': str(e)}\n";
    let r = app
        .as_user(
            &alice.token,
            "POST",
            "/scripts/create",
            Some(json!({"path": "u/alice/peek", "language": "python3", "content": code})),
        )
        .await;
    assert_eq!(r.status(), 201);
    let r = app.as_user(&alice.token, "POST", "/jobs/run_wait_result/p/u/alice/peek", Some(json!({}))).await;
    let seen: Value = r.json().await.unwrap();
    assert_eq!(seen["status"], 404, "{seen}");
    assert!(seen["message"].as_str().unwrap().contains("variable not found at path 'u/admin/private'"), "{seen}");
}

#[tokio::test]
async fn resources_follow_their_types_and_apps_keep_versions() {
    let app = spawn_app();
    let rt = json!({"name": "pg", "schema": {"type": "object", "required": ["host"], "properties": {"port": {"type": "integer"}}}});
    assert_eq!(app.post_json("/resources/type/create", &rt).await.status(), 201);
    let bad = json!({"path": "u/admin/db", "resource_type": "pg", "value": {"host": "h", "port": "five"}});
    assert_error(app.post_json("/resources/create", &bad).await, 400, "'/port' is not of type integer").await;
    let none = json!({"path": "u/admin/db", "resource_type": "nope", "value": {}});
    assert_error(app.post_json("/resources/create", &none).await, 400, "resource_type 'nope' does not exist").await;
    let good = json!({"path": "u/admin/db", "resource_type": "pg", "value": {"host": "h", "port": 5432}});
    assert_eq!(app.post_json("/resources/create", &good).await.status(), 201);
    let r = app.post_json("/resources/update_value/u/admin/db", &json!({"value": {"port": 1}})).await;
    assert_error(r, 400, "lacks the required property 'host'").await;
    let r = app.client.delete(app.ws("/resources/type/delete/pg")).bearer_auth(TOKEN).send().await.unwrap();
    assert_error(r, 409, "of type 'pg'").await;
    let listed: Value = app.get("/resources/list?resource_type=pg").await.json().await.unwrap();
    assert_eq!(listed[0]["value"], json!({"host": "h", "port": 5432}));

    let a =
        json!({"path": "u/admin/dash", "summary": "v1", "value": {"grid": []}, "policy": {"execution_mode": "viewer"}});
    assert_eq!(app.post_json("/apps/create", &a).await.status(), 201);
    let r = app.post_json("/apps/update/u/admin/dash", &json!({"summary": "v2", "value": {"grid": [1]}})).await;
    assert_eq!(r.status(), 200);
    let got: Value = app.get("/apps/get/p/u/admin/dash").await.json().await.unwrap();
    assert_eq!(
        (got["summary"].clone(), got["versions"].clone(), got["value"].clone()),
        (json!("v2"), json!([1, 2]), json!({"grid": [1]}))
    );
    let first: Value = app.get("/apps/get/p/u/admin/dash?version=1").await.json().await.unwrap();
    assert_eq!(first["summary"], "v1");
    let history: Value = app.get("/apps/history/p/u/admin/dash").await.json().await.unwrap();
    assert_eq!(history.as_array().unwrap().len(), 2);
    let bad = json!({"path": "u/admin/dash2", "summary": "", "value": {}, "policy": {"execution_mode": "everyone"}});
    assert_error(app.post_json("/apps/create", &bad).await, 400, "execution_mode must be one of").await;
}
