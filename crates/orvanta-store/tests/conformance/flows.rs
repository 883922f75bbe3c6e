//! Flow versions: numbers increasing and unique in the instance, newest by
//! path, history, list, archive, delete, rename.

use crate::fixtures::*;
use orvanta_core::{FlowVersion, NewFlow};
use orvanta_store::Store;
use serde_json::json;
use std::sync::Arc;

fn new_flow(workspace: &str, at: &str, step: &str) -> NewFlow {
    NewFlow {
        workspace: ws(workspace),
        path: path(at),
        summary: format!("summary of {step}"),
        description: String::new(),
        value: json!({"modules": [{"id": step, "value": {"type": "identity"}, "lock": "kept"}]}),
        schema: json!({"type": "object", "properties": {}}),
        created_by: user("admin"),
        created_at: T0,
    }
}

pub async fn versions_increase_across_the_instance(s: Arc<dyn Store>) {
    let v1 = s.insert_flow(&new_flow("demo", "u/admin/f", "a"), None).await.unwrap();
    let v2 = s.insert_flow(&new_flow("other", "u/admin/f", "b"), None).await.unwrap();
    let v3 = s.insert_flow(&new_flow("demo", "u/admin/f", "c"), None).await.unwrap();
    assert!(v1 < v2 && v2 < v3, "{v1} {v2} {v3}");

    let latest = s.latest_flow(&ws("demo"), &path("u/admin/f")).await.unwrap().expect("newest");
    assert_eq!(latest.version, v3);
    assert_eq!(latest.value["modules"][0]["id"], "c");
    assert_eq!(latest.value["modules"][0]["lock"], "kept", "fields Orvanta does not use are kept");
    assert_eq!(
        (latest.summary.as_str(), latest.created_by.as_str(), latest.archived),
        ("summary of c", "admin", false)
    );

    let first = s.flow_by_version(&ws("demo"), v1).await.unwrap().expect("v1 by number");
    assert_eq!(first.value["modules"][0]["id"], "a");
    assert!(s.flow_by_version(&ws("demo"), v2).await.unwrap().is_none(), "versions are per workspace");
    assert!(s.flow_by_version(&ws("demo"), FlowVersion::from_i64(v3.get() + 100)).await.unwrap().is_none());

    let history: Vec<_> =
        s.flow_history(&ws("demo"), &path("u/admin/f")).await.unwrap().into_iter().map(|f| f.version).collect();
    assert_eq!(history, [v3, v1], "newest first");
}

pub async fn concurrent_saves_get_distinct_versions(s: Arc<dyn Store>) {
    let saves: Vec<_> = (0..16)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move { s.insert_flow(&new_flow("demo", "u/admin/race", &format!("s{i}")), None).await })
        })
        .collect();
    let mut versions = Vec::new();
    for t in saves {
        versions.push(t.await.unwrap().unwrap());
    }
    versions.sort();
    versions.dedup();
    assert_eq!(versions.len(), 16);
    let newest = s.latest_flow(&ws("demo"), &path("u/admin/race")).await.unwrap().unwrap();
    assert_eq!(Some(&newest.version), versions.last());
}

pub async fn flows_list_archive_delete(s: Arc<dyn Store>) {
    s.insert_flow(&new_flow("demo", "u/admin/a", "a1"), None).await.unwrap();
    s.insert_flow(&new_flow("demo", "u/admin/a", "a2"), None).await.unwrap();
    let b = s.insert_flow(&new_flow("demo", "u/admin/b", "b1"), None).await.unwrap();
    let list: Vec<_> = s.list_flows(&ws("demo"), false).await.unwrap();
    let shown: Vec<(&str, &str)> =
        list.iter().map(|f| (f.path.as_str(), f.value["modules"][0]["id"].as_str().unwrap())).collect();
    assert_eq!(shown, [("u/admin/a", "a2"), ("u/admin/b", "b1")], "the newest version of each path, by path");

    assert!(s.archive_flow(&ws("demo"), &path("u/admin/b"), true).await.unwrap());
    assert_eq!(s.list_flows(&ws("demo"), false).await.unwrap().len(), 1);
    assert_eq!(s.list_flows(&ws("demo"), true).await.unwrap().len(), 2);
    let archived = s.flow_by_version(&ws("demo"), b).await.unwrap().unwrap();
    assert!(archived.archived, "an archived version is still there by number");
    assert!(s.archive_flow(&ws("demo"), &path("u/admin/b"), false).await.unwrap());
    assert_eq!(s.list_flows(&ws("demo"), false).await.unwrap().len(), 2);
    assert!(!s.archive_flow(&ws("demo"), &path("u/admin/none"), true).await.unwrap());

    assert!(s.delete_flow(&ws("demo"), &path("u/admin/a")).await.unwrap());
    assert!(s.latest_flow(&ws("demo"), &path("u/admin/a")).await.unwrap().is_none());
    assert!(!s.delete_flow(&ws("demo"), &path("u/admin/a")).await.unwrap());
}

pub async fn rename_moves_every_version(s: Arc<dyn Store>) {
    let v1 = s.insert_flow(&new_flow("demo", "u/admin/old", "x"), None).await.unwrap();
    let v2 = s.insert_flow(&new_flow("demo", "u/admin/new", "y"), Some(&path("u/admin/old"))).await.unwrap();
    assert!(s.latest_flow(&ws("demo"), &path("u/admin/old")).await.unwrap().is_none());
    let history: Vec<_> =
        s.flow_history(&ws("demo"), &path("u/admin/new")).await.unwrap().into_iter().map(|f| f.version).collect();
    assert_eq!(history, [v2, v1]);

    s.insert_flow(&new_flow("demo", "u/admin/taken", "t"), None).await.unwrap();
    let r = s.insert_flow(&new_flow("demo", "u/admin/taken", "z"), Some(&path("u/admin/new"))).await;
    assert_conflict(r, "a rename onto a path with versions");
    assert_eq!(s.flow_history(&ws("demo"), &path("u/admin/new")).await.unwrap().len(), 2, "nothing moved");
}
