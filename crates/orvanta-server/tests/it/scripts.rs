//! The scripts API: versions, reads, lists, archive, delete, and bad input.

use crate::harness::*;
use serde_json::{json, Value};

#[tokio::test]
async fn versions_chain_and_read_back() {
    let app = spawn_app();
    let v1 = app.create_script("u/admin/add", "python3", "def main(x: int, y: int = 2):\n    return x + y\n").await;
    assert_eq!(v1.len(), 16);
    let v2 = app
        .create_script_with(json!({"path": "u/admin/add", "language": "python3", "content": "def main(x: int):\n    return x + 10\n", "parent_hash": v1}))
        .await;
    assert_ne!(v1, v2);
    let latest: Value = app.get("/scripts/get/p/u/admin/add").await.json().await.unwrap();
    assert_eq!(latest["hash"], v2);
    assert_eq!(latest["parent_hash"], v1);
    assert_eq!(latest["schema"]["required"], json!(["x"]));
    assert_eq!(latest["schema"]["properties"]["x"]["type"], "integer");
    let old: Value = app.get(&format!("/scripts/get/h/{v1}")).await.json().await.unwrap();
    assert_eq!(old["schema"]["properties"]["y"]["default"], 2);
    let history: Value = app.get("/scripts/history/p/u/admin/add").await.json().await.unwrap();
    let hashes: Vec<&str> = history.as_array().unwrap().iter().map(|s| s["hash"].as_str().unwrap()).collect();
    assert_eq!(hashes, vec![v2.as_str(), v1.as_str()]);
    let list: Value = app.get("/scripts/list").await.json().await.unwrap();
    let paths: Vec<&str> = list.as_array().unwrap().iter().map(|s| s["path"].as_str().unwrap()).collect();
    assert_eq!(paths, vec!["u/admin/add", "u/admin/hello"]);
    // h/ runs exactly that version, even after the overwrite.
    let r = app.post_json(&format!("/jobs/run_wait_result/h/{v1}"), &json!({"x": 1})).await;
    assert_eq!(r.json::<Value>().await.unwrap(), 3);
    let r = app.post_json("/jobs/run_wait_result/p/u/admin/add", &json!({"x": 1})).await;
    assert_eq!(r.json::<Value>().await.unwrap(), 11);
}

#[tokio::test]
async fn a_stale_parent_is_a_conflict() {
    let app = spawn_app();
    let v1 = app.create_script("u/admin/s", "bash", "echo 1").await;
    app.create_script_with(json!({"path": "u/admin/s", "language": "bash", "content": "echo 2", "parent_hash": v1}))
        .await;
    let r = app
        .post_json(
            "/scripts/create",
            &json!({"path": "u/admin/s", "language": "bash", "content": "echo 3", "parent_hash": v1}),
        )
        .await;
    assert_error(r, 409, "changed since").await;
}

#[tokio::test]
async fn archive_and_delete() {
    let app = spawn_app();
    let h = app.create_script("u/admin/gone", "bash", "echo hi").await;
    let r = app.client.post(app.ws("/scripts/archive/p/u/admin/gone")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_error(app.post_json("/jobs/run/p/u/admin/gone", &json!({})).await, 404, "not found").await;
    let list: Value = app.get("/scripts/list").await.json().await.unwrap();
    assert!(!list.to_string().contains("u/admin/gone"));
    // The exact version still runs by hash.
    let r = app.post_json(&format!("/jobs/run/h/{h}"), &json!({})).await;
    assert_eq!(r.status(), 201);
    let r = app.client.delete(app.ws("/scripts/delete/p/u/admin/gone")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_error(app.get("/scripts/get/p/u/admin/gone").await, 404, "not found").await;
    let r = app.client.delete(app.ws("/scripts/delete/p/u/admin/gone")).bearer_auth(TOKEN).send().await.unwrap();
    assert_error(r, 404, "not found").await;
}

#[tokio::test]
async fn bad_input_is_a_clear_error_and_nothing_is_written() {
    let app = spawn_app();
    let r = app
        .client
        .post(app.ws("/scripts/create"))
        .bearer_auth(TOKEN)
        .header("content-type", "application/json")
        .body("{\"path\": \"u/admin/x\", ")
        .send()
        .await
        .unwrap();
    assert_error(r, 400, "line 1").await;
    let r = app.post_json("/scripts/create", &json!({"path": "u/admin/x", "language": "cobol", "content": "x"})).await;
    assert_error(r, 400, "unknown language 'cobol'").await;
    let r = app
        .post_json(
            "/scripts/create",
            &json!({"path": "u/admin/x", "language": "python3", "content": "def helper():\n    pass\n"}),
        )
        .await;
    assert_error(r, 422, "main").await;
    let r =
        app.post_json("/scripts/create", &json!({"path": "u/admin/X y", "language": "bash", "content": "echo"})).await;
    assert_error(r, 400, "'X'").await;
    let r = app.post_json("/scripts/create", &json!({"path": "u/admin/x", "language": "bash"})).await;
    assert_error(r, 400, "content").await;
    let huge = "#".repeat(17 * 1024 * 1024);
    // A client of its own: the server closes the connection of an oversized request. A client still writing the
    // body may see that close (a broken pipe) before the 413; either way nothing is stored.
    let sent = reqwest::Client::new()
        .post(app.ws("/scripts/create"))
        .bearer_auth(TOKEN)
        .json(&json!({"path": "u/admin/x", "language": "bash", "content": huge}))
        .send()
        .await;
    match sent {
        Ok(r) => drop(assert_error(r, 413, "size limit").await),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e:?}"),
    }
    assert_error(app.get("/scripts/get/p/u/admin/x").await, 404, "not found").await;
    assert_error(app.get("/scripts/get/h/0123456789abcdef").await, 404, "0123456789abcdef").await;
    assert_error(app.get("/scripts/get/h/nothex").await, 400, "16 lowercase hexadecimal").await;
    assert_error(app.get("/no/such/route").await, 404, "no such route").await;
}
