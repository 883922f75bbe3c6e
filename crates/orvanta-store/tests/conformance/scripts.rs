//! Script versions: hashes, parent chaining, conflicts, history, archive, delete.

use crate::fixtures::*;
use orvanta_core::Language;
use orvanta_store::Store;
use std::sync::Arc;

pub async fn versions_chain(s: Arc<dyn Store>) {
    let v1 = new_script("demo", "u/admin/hello", "print(1)", None);
    assert_eq!(s.insert_script(&v1).await.unwrap(), None, "the first version has no parent");
    // No parent given: the newest version becomes the parent.
    let v2 = new_script("demo", "u/admin/hello", "print(2)", None);
    assert_eq!(s.insert_script(&v2).await.unwrap(), Some(v1.hash));
    let v3 = new_script("demo", "u/admin/hello", "print(3)", Some(v2.hash));
    assert_eq!(s.insert_script(&v3).await.unwrap(), Some(v2.hash));

    let latest = s.latest_script(&ws("demo"), &path("u/admin/hello")).await.unwrap().expect("a newest version");
    assert_eq!((latest.hash, latest.parent_hash), (v3.hash, Some(v2.hash)));

    let first = s.script_by_hash(&ws("demo"), v1.hash).await.unwrap().expect("v1 by its hash");
    assert_eq!((first.workspace.as_str(), first.path.as_str()), ("demo", "u/admin/hello"));
    assert_eq!((first.hash, first.parent_hash, first.language), (v1.hash, None, Language::Python3));
    assert_eq!((first.content.as_str(), first.summary.as_str()), ("print(1)", "summary of print(1)"));
    assert_eq!(first.description, "");
    assert_eq!(first.schema, v1.schema);
    assert_eq!(first.settings, v1.settings);
    assert_eq!((first.created_by.as_str(), first.created_at, first.archived), ("admin", T0, false));
    let second = s.script_by_hash(&ws("demo"), v2.hash).await.unwrap().unwrap();
    assert_eq!(second.parent_hash, Some(v1.hash), "the stored parent of a save without one");

    assert!(s.script_by_hash(&ws("other"), v1.hash).await.unwrap().is_none(), "hashes are per workspace");
    assert!(s.latest_script(&ws("demo"), &path("u/admin/nothing")).await.unwrap().is_none());

    let history: Vec<_> =
        s.script_history(&ws("demo"), &path("u/admin/hello")).await.unwrap().into_iter().map(|v| v.hash).collect();
    assert_eq!(history, [v3.hash, v2.hash, v1.hash], "newest first");
    assert!(s.script_history(&ws("demo"), &path("u/admin/nothing")).await.unwrap().is_empty());
}

pub async fn stale_parent_conflicts(s: Arc<dyn Store>) {
    let v1 = new_script("demo", "u/admin/hello", "print(1)", None);
    s.insert_script(&v1).await.unwrap();
    let v2 = new_script("demo", "u/admin/hello", "print(2)", Some(v1.hash));
    s.insert_script(&v2).await.unwrap();

    let stale = new_script("demo", "u/admin/hello", "print('stale')", Some(v1.hash));
    assert_conflict(s.insert_script(&stale).await, "a save on top of an old version");
    assert!(s.script_by_hash(&ws("demo"), stale.hash).await.unwrap().is_none(), "nothing stored");

    let orphan = new_script("demo", "u/admin/new", "print(0)", Some(v1.hash));
    assert_conflict(s.insert_script(&orphan).await, "a parent given for a path with no version");
    assert!(s.latest_script(&ws("demo"), &path("u/admin/new")).await.unwrap().is_none());
}

pub async fn hash_clash_conflicts(s: Arc<dyn Store>) {
    let v1 = new_script("demo", "u/admin/hello", "print(1)", None);
    s.insert_script(&v1).await.unwrap();
    let mut elsewhere = new_script("demo", "u/admin/other", "print(9)", None);
    elsewhere.hash = v1.hash;
    assert_conflict(s.insert_script(&elsewhere).await, "a second version with a taken hash");
    assert!(s.latest_script(&ws("demo"), &path("u/admin/other")).await.unwrap().is_none());
}

/// Two saves on top of the same version at once: one is stored, the other conflicts.
pub async fn concurrent_saves_one_wins(s: Arc<dyn Store>) {
    let v1 = new_script("demo", "u/admin/hello", "print(1)", None);
    s.insert_script(&v1).await.unwrap();
    let saves: Vec<_> = (0..4)
        .map(|i| {
            let s = s.clone();
            let next = new_script("demo", "u/admin/hello", &format!("print('writer {i}')"), Some(v1.hash));
            tokio::spawn(async move { s.insert_script(&next).await })
        })
        .collect();
    let mut stored = 0;
    for save in saves {
        match save.await.unwrap() {
            Ok(parent) => {
                assert_eq!(parent, Some(v1.hash));
                stored += 1;
            }
            Err(e) => assert_conflict::<()>(Err(e), "a losing concurrent save"),
        }
    }
    assert_eq!(stored, 1, "exactly one concurrent save wins");
    assert_eq!(s.script_history(&ws("demo"), &path("u/admin/hello")).await.unwrap().len(), 2);
}

pub async fn list_archive_delete(s: Arc<dyn Store>) {
    let b1 = new_script("demo", "u/admin/b", "b1", None);
    let a1 = new_script("demo", "u/admin/a", "a1", None);
    let b2 = new_script("demo", "u/admin/b", "b2", Some(b1.hash));
    let c1 = new_script("demo", "f/team/c", "c1", None);
    for v in [&b1, &a1, &b2, &c1] {
        s.insert_script(v).await.unwrap();
    }
    s.insert_script(&new_script("other", "u/admin/z", "z1", None)).await.unwrap();

    let listed = |all| {
        let s = s.clone();
        async move {
            s.list_scripts(&ws("demo"), all)
                .await
                .unwrap()
                .into_iter()
                .map(|v| (v.path.to_string(), v.content, v.archived))
                .collect::<Vec<_>>()
        }
    };
    let row = |p: &str, c: &str, archived| (p.to_owned(), c.to_owned(), archived);
    assert_eq!(
        listed(false).await,
        [row("f/team/c", "c1", false), row("u/admin/a", "a1", false), row("u/admin/b", "b2", false)],
        "the newest version of each path, by path"
    );

    assert!(s.archive_script(&ws("demo"), &path("u/admin/b")).await.unwrap());
    assert!(!s.archive_script(&ws("demo"), &path("u/admin/none")).await.unwrap());
    assert_eq!(listed(false).await, [row("f/team/c", "c1", false), row("u/admin/a", "a1", false)]);
    assert_eq!(
        listed(true).await,
        [row("f/team/c", "c1", false), row("u/admin/a", "a1", false), row("u/admin/b", "b2", true)]
    );
    let latest = s.latest_script(&ws("demo"), &path("u/admin/b")).await.unwrap().expect("archived still readable");
    assert!(latest.archived);
    assert!(s.script_history(&ws("demo"), &path("u/admin/b")).await.unwrap().iter().all(|v| v.archived));

    // A new version of an archived path is live again.
    let b3 = new_script("demo", "u/admin/b", "b3", Some(b2.hash));
    s.insert_script(&b3).await.unwrap();
    assert_eq!(listed(false).await.last(), Some(&row("u/admin/b", "b3", false)));

    assert!(s.delete_script(&ws("demo"), &path("u/admin/b")).await.unwrap());
    assert!(!s.delete_script(&ws("demo"), &path("u/admin/b")).await.unwrap(), "already deleted");
    assert!(s.script_history(&ws("demo"), &path("u/admin/b")).await.unwrap().is_empty());
    assert!(s.script_by_hash(&ws("demo"), b1.hash).await.unwrap().is_none());
    assert_eq!(listed(true).await, [row("f/team/c", "c1", false), row("u/admin/a", "a1", false)]);
    assert_eq!(s.list_scripts(&ws("other"), false).await.unwrap().len(), 1);
}
