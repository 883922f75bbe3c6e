//! Variables, resource types, resources and apps.

use crate::fixtures::*;
use orvanta_store::{App, Resource, ResourceType, Store, Variable};
use serde_json::json;
use std::sync::Arc;

fn variable(p: &str, value: &str) -> Variable {
    Variable {
        workspace: ws("demo"),
        path: path(p),
        value: value.into(),
        is_secret: false,
        description: String::new(),
        created_by: user("admin"),
        created_at: T0,
        updated_at: T0,
    }
}

pub async fn variables_are_created_renamed_and_deleted(s: Arc<dyn Store>) {
    s.create_variable(&variable("u/admin/a", "1")).await.unwrap();
    s.create_variable(&variable("u/admin/b", "2")).await.unwrap();
    assert_conflict(s.create_variable(&variable("u/admin/a", "3")).await, "a second variable at u/admin/a");
    let mut other = variable("u/admin/a", "elsewhere");
    other.workspace = ws("other");
    s.create_variable(&other).await.unwrap();
    assert_eq!(s.get_variable(&ws("demo"), &path("u/admin/a")).await.unwrap().unwrap().value, "1");

    let mut renamed = variable("u/admin/c", "sealed");
    (renamed.is_secret, renamed.description, renamed.updated_at) = (true, "now secret".into(), T0 + 5);
    assert!(s.update_variable(&path("u/admin/a"), &renamed).await.unwrap());
    assert!(s.get_variable(&ws("demo"), &path("u/admin/a")).await.unwrap().is_none());
    let got = s.get_variable(&ws("demo"), &path("u/admin/c")).await.unwrap().unwrap();
    assert_eq!((got.is_secret, got.created_at, got.updated_at), (true, T0, T0 + 5), "the creation time stays");
    assert_conflict(
        s.update_variable(&path("u/admin/b"), &variable("u/admin/c", "x")).await,
        "a rename onto a taken path",
    );
    assert!(!s.update_variable(&path("u/admin/none"), &variable("u/admin/none", "x")).await.unwrap());
    let paths: Vec<String> =
        s.list_variables(&ws("demo")).await.unwrap().into_iter().map(|v| v.path.to_string()).collect();
    assert_eq!(paths, ["u/admin/b", "u/admin/c"]);
    assert!(s.delete_variable(&ws("demo"), &path("u/admin/b")).await.unwrap());
    assert!(!s.delete_variable(&ws("demo"), &path("u/admin/b")).await.unwrap());
    assert_eq!(s.list_variables(&ws("other")).await.unwrap().len(), 1);
}

pub async fn resources_and_their_types(s: Arc<dyn Store>) {
    let t = ResourceType {
        workspace: ws("demo"),
        name: "postgresql".into(),
        schema: json!({"type": "object", "required": ["host"]}),
        description: "a database".into(),
        created_by: user("admin"),
        created_at: T0,
    };
    s.create_resource_type(&t).await.unwrap();
    assert_conflict(s.create_resource_type(&t).await, "a second type 'postgresql'");
    let mut changed = t.clone();
    changed.schema = json!({"type": "object"});
    assert!(s.update_resource_type(&changed).await.unwrap());
    assert_eq!(
        s.get_resource_type(&ws("demo"), "postgresql").await.unwrap().unwrap().schema,
        json!({"type": "object"})
    );
    assert_eq!(s.list_resource_types(&ws("demo")).await.unwrap().len(), 1);

    let r = Resource {
        workspace: ws("demo"),
        path: path("f/db/main"),
        resource_type: "postgresql".into(),
        value: json!({"host": "db", "password": "$var:f/db/pw"}),
        description: String::new(),
        created_by: user("admin"),
        created_at: T0,
        updated_at: T0,
    };
    s.create_resource(&r).await.unwrap();
    assert_conflict(s.create_resource(&r).await, "a second resource at f/db/main");
    assert_eq!(s.get_resource(&ws("demo"), &path("f/db/main")).await.unwrap().unwrap(), r);
    let mut moved = r.clone();
    (moved.path, moved.value) = (path("f/db/replica"), json!({"host": "replica"}));
    assert!(s.update_resource(&path("f/db/main"), &moved).await.unwrap());
    assert_eq!(s.list_resources(&ws("demo")).await.unwrap(), [moved.clone()]);
    assert!(s.delete_resource(&ws("demo"), &path("f/db/replica")).await.unwrap());
    assert!(s.delete_resource_type(&ws("demo"), "postgresql").await.unwrap());
    assert!(!s.delete_resource_type(&ws("demo"), "postgresql").await.unwrap());
}

pub async fn apps_keep_every_version(s: Arc<dyn Store>) {
    let app = |p: &str, summary: &str| App {
        workspace: ws("demo"),
        path: path(p),
        version: 0,
        summary: summary.into(),
        value: json!({"grid": []}),
        policy: json!({"execution_mode": "viewer"}),
        created_by: user("admin"),
        created_at: T0,
    };
    assert_eq!(s.save_app(&app("u/admin/dash", "v1"), true).await.unwrap(), Some(1));
    assert_conflict(s.save_app(&app("u/admin/dash", "again"), true).await, "a second app at u/admin/dash");
    assert_eq!(s.save_app(&app("u/admin/dash", "v2"), false).await.unwrap(), Some(2));
    assert_eq!(s.save_app(&app("u/admin/none", "x"), false).await.unwrap(), None);
    s.save_app(&app("u/admin/other", "o"), true).await.unwrap();
    let newest = s.get_app(&ws("demo"), &path("u/admin/dash"), None).await.unwrap().unwrap();
    assert_eq!((newest.version, newest.summary.as_str()), (2, "v2"));
    assert_eq!(s.get_app(&ws("demo"), &path("u/admin/dash"), Some(1)).await.unwrap().unwrap().summary, "v1");
    assert!(s.get_app(&ws("demo"), &path("u/admin/dash"), Some(9)).await.unwrap().is_none());
    let listed: Vec<(String, i64)> =
        s.list_apps(&ws("demo")).await.unwrap().into_iter().map(|a| (a.path.to_string(), a.version)).collect();
    assert_eq!(listed, [("u/admin/dash".to_owned(), 2), ("u/admin/other".to_owned(), 1)]);
    let versions: Vec<i64> =
        s.app_history(&ws("demo"), &path("u/admin/dash")).await.unwrap().iter().map(|a| a.version).collect();
    assert_eq!(versions, [2, 1]);
    assert!(s.delete_app(&ws("demo"), &path("u/admin/dash")).await.unwrap());
    assert!(s.get_app(&ws("demo"), &path("u/admin/dash"), None).await.unwrap().is_none());
}

pub async fn http_triggers_are_saved_renamed_listed_and_deleted(s: std::sync::Arc<dyn orvanta_store::Store>) {
    use orvanta_store::HttpTriggerRecord;
    s.create_workspace(&new_workspace("demo")).await.unwrap();
    s.create_workspace(&new_workspace("other")).await.unwrap();
    let t = |ws_id: &str, p: &str, method: &str, key: &str| HttpTriggerRecord {
        workspace: ws(ws_id),
        path: path(p),
        method: method.into(),
        route_key: key.into(),
        settings: serde_json::json!({"route_path": key, "n": 1}),
        edited_by: user("admin"),
        edited_at: T0,
    };
    s.create_http_trigger(&t("demo", "u/admin/a", "post", "orders/:")).await.unwrap();
    assert_conflict(s.create_http_trigger(&t("demo", "u/admin/a", "get", "x")).await, "the same path");
    assert_conflict(s.create_http_trigger(&t("other", "u/admin/b", "post", "orders/:")).await, "the same route");
    s.create_http_trigger(&t("other", "u/admin/b", "get", "orders/:")).await.unwrap();
    s.create_http_trigger(&t("other", "u/admin/c", "post", "other/orders/:")).await.unwrap();

    let got = s.get_http_trigger(&ws("demo"), &path("u/admin/a")).await.unwrap().unwrap();
    assert_eq!(got, t("demo", "u/admin/a", "post", "orders/:"));
    assert_eq!(s.list_http_triggers(None).await.unwrap().len(), 3);
    assert_eq!(s.list_http_triggers(Some(&ws("other"))).await.unwrap().len(), 2);

    let mut moved = t("demo", "u/admin/z", "post", "orders/:/items");
    moved.settings = serde_json::json!({"n": 2});
    assert!(s.update_http_trigger(&path("u/admin/a"), &moved).await.unwrap());
    assert!(s.get_http_trigger(&ws("demo"), &path("u/admin/a")).await.unwrap().is_none());
    assert_eq!(s.get_http_trigger(&ws("demo"), &path("u/admin/z")).await.unwrap().unwrap().settings["n"], 2);
    assert_conflict(
        s.update_http_trigger(&path("u/admin/z"), &t("demo", "u/admin/z", "get", "orders/:")).await,
        "onto another's route",
    );
    assert!(!s.update_http_trigger(&path("u/admin/nope"), &moved).await.unwrap());
    assert!(s.delete_http_trigger(&ws("demo"), &path("u/admin/z")).await.unwrap());
    assert!(!s.delete_http_trigger(&ws("demo"), &path("u/admin/z")).await.unwrap());
    assert_eq!(s.list_http_triggers(Some(&ws("demo"))).await.unwrap().len(), 0);
}
