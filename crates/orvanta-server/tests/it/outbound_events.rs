//! Every event type of the contract (§9) reaches the workspace webhook once,
//! in the order of the changes, signed so that the `standardwebhooks`
//! package accepts it, each with its own fields and its `timestamp`.

use crate::harness::*;
use crate::outbound::{opts, point_at, verify_all, Receiver};
use serde_json::{json, Value};
use std::time::Duration;

fn in_secs(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

#[tokio::test]
async fn every_event_type_arrives_once_in_order_with_its_fields() {
    let receiver = Receiver::default();
    let url = receiver.clone().start().await;
    let mut o = opts(None);
    o.env.push(("ORVANTA_TOKEN_SWEEP_S".into(), "1".into()));
    let app = start(o);
    // The first start's own event (its example script) settles first, with no webhook.
    let secret = point_at(&app, &url).await;

    let ok = |r: reqwest::Response, what: &str| {
        assert!(r.status().is_success(), "{what}: {}", r.status());
    };
    let delete = |path: &str| app.client.delete(app.ws(path)).bearer_auth(TOKEN).send();
    let app_ref = &app;
    let post = |path: &'static str, body: Value| async move { app_ref.post_json(path, &body).await };
    ok(post("/variables/create", json!({"path": "u/admin/v", "value": "1"})).await, "variable");
    ok(post("/variables/update/u/admin/v", json!({"path": "u/admin/v2"})).await, "variable update");
    ok(delete("/variables/delete/u/admin/v2").await.unwrap(), "variable delete");
    ok(post("/resources/type/create", json!({"name": "kv"})).await, "type");
    ok(post("/resources/type/update/kv", json!({"description": "d"})).await, "type update");
    ok(post("/resources/create", json!({"path": "u/admin/r", "resource_type": "kv", "value": {}})).await, "resource");
    ok(post("/resources/update/u/admin/r", json!({"path": "u/admin/r2"})).await, "resource update");
    ok(delete("/resources/delete/u/admin/r2").await.unwrap(), "resource delete");
    ok(delete("/resources/type/delete/kv").await.unwrap(), "type delete");
    ok(post("/apps/create", json!({"path": "u/admin/app", "summary": "a", "value": {}})).await, "app");
    ok(post("/apps/update/u/admin/app", json!({"summary": "b"})).await, "app update");
    ok(delete("/apps/delete/u/admin/app").await.unwrap(), "app delete");
    ok(post("/folders/create", json!({"name": "tmp"})).await, "folder");
    ok(post("/folders/update/tmp", json!({"summary": "s"})).await, "folder update");
    ok(delete("/folders/delete/tmp").await.unwrap(), "folder delete");
    app.create_script("u/admin/s", "bash", "echo 1").await;
    app.create_script("u/admin/s", "bash", "echo 2").await;
    ok(post("/scripts/archive/p/u/admin/s", json!({})).await, "script archive");
    ok(delete("/scripts/delete/p/u/admin/s").await.unwrap(), "script delete");
    let flow = json!({"path": "u/admin/f", "summary": "f", "value": {"modules": []}});
    ok(post("/flows/create", flow).await, "flow");
    ok(
        post("/flows/update/u/admin/f", json!({"path": "u/admin/f2", "summary": "g", "value": {"modules": []}})).await,
        "flow update",
    );
    ok(post("/flows/archive/u/admin/f2", json!({})).await, "flow archive");
    ok(delete("/flows/delete/u/admin/f2").await.unwrap(), "flow delete");
    let expected = [
        "CreateVariable",
        "UpdateVariable",
        "DeleteVariable",
        "CreateResourceType",
        "UpdateResourceType",
        "CreateResource",
        "UpdateResource",
        "DeleteResource",
        "DeleteResourceType",
        "CreateApp",
        "UpdateApp",
        "DeleteApp",
        "CreateFolder",
        "UpdateFolder",
        "DeleteFolder",
        "CreateScript",
        "UpdateScript",
        "ArchiveScript",
        "DeleteScriptPath",
        "CreateFlow",
        "UpdateFlow",
        "ArchiveFlow",
        "DeleteFlow",
    ];
    assert_eq!(receiver.wait_for(expected.len(), 30).await, expected);

    // The token notices: one expiring within 7 days, one expired (both restricted to demo).
    app.create_token(&json!({"label": "soon", "expiration": in_secs(3 * 86_400), "workspace_id": "demo"})).await;
    app.create_token(&json!({"label": "gone", "expiration": in_secs(2), "workspace_id": "demo"})).await;
    let kinds = receiver.wait_for(expected.len() + 3, 60).await;
    let tail = &kinds[expected.len()..];
    assert_eq!(tail.iter().filter(|k| *k == "TokenExpiringSoon").count(), 2, "soon, and gone before it went: {tail:?}");
    assert_eq!(tail.last().map(String::as_str), Some("TokenExpired"), "{tail:?}");

    let got = receiver.got.lock().unwrap().clone();
    verify_all(&secret, &got);
    let bodies: Vec<Value> = got.iter().map(|(_, b)| serde_json::from_str(b).unwrap()).collect();
    assert!(bodies.iter().all(|b| b["workspace"] == "demo" && b["timestamp"].is_string()), "{bodies:?}");
    let by_kind = |k: &str| bodies.iter().find(|b| b["type"] == k).unwrap().clone();
    assert_eq!(
        (by_kind("UpdateVariable")["old_path"].clone(), by_kind("UpdateVariable")["new_path"].clone()),
        (json!("u/admin/v"), json!("u/admin/v2"))
    );
    assert_eq!(by_kind("UpdateFlow")["new_path"], "u/admin/f2");
    assert_eq!(by_kind("UpdateResourceType")["name"], "kv");
    assert_eq!(by_kind("UpdateFolder")["name"], "tmp");
    assert!(by_kind("UpdateScript")["hash"].is_string());
    assert_eq!(by_kind("TokenExpired")["label"], "gone");
    // Once: nothing more arrives.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(receiver.got.lock().unwrap().len(), expected.len() + 3, "{:?}", receiver.kinds());
}
