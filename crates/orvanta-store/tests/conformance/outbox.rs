//! The workspace webhook's outbox: events recorded with the changes they
//! report, claimed oldest first per workspace, their attempts kept.

use crate::fixtures::*;
use orvanta_store::{EventAttempt, EventOutcome, Store, Variable};
use std::sync::Arc;

fn variable(ws_id: &str, p: &str) -> Variable {
    Variable {
        workspace: ws(ws_id),
        path: path(p),
        value: "v".into(),
        is_secret: false,
        description: String::new(),
        created_by: user("admin"),
        created_at: T0,
        updated_at: T0,
    }
}

pub async fn changes_record_their_events_and_deliveries_go_in_order(s: Arc<dyn Store>) {
    s.create_workspace(&new_workspace("demo")).await.unwrap();
    s.create_workspace(&new_workspace("other")).await.unwrap();
    s.create_variable(&variable("demo", "u/admin/a")).await.unwrap();
    assert!(s.update_variable(&path("u/admin/a"), &variable("demo", "u/admin/b")).await.unwrap());
    assert!(s.delete_variable(&ws("demo"), &path("u/admin/b")).await.unwrap());
    assert!(!s.delete_variable(&ws("demo"), &path("u/admin/b")).await.unwrap(), "no change, no event");
    // A change that fails records nothing.
    s.create_variable(&variable("other", "u/admin/x")).await.unwrap();
    assert_conflict(s.create_variable(&variable("other", "u/admin/x")).await, "a second variable");

    let log = s.event_log(&ws("demo"), 10).await.unwrap();
    let kinds: Vec<&str> = log.iter().rev().map(|d| d.event.kind.as_str()).collect();
    assert_eq!(kinds, ["CreateVariable", "UpdateVariable", "DeleteVariable"]);
    let mut update: serde_json::Value = serde_json::from_str(&log[1].event.payload).unwrap();
    let stamp = update.as_object_mut().unwrap().remove("timestamp").expect("every event has its timestamp");
    assert!(stamp.as_str().is_some_and(|t| t.ends_with('Z')), "{stamp}");
    assert_eq!(
        update,
        serde_json::json!({"type": "UpdateVariable", "workspace": "demo", "old_path": "u/admin/a", "new_path": "u/admin/b"})
    );
    assert_eq!(s.event_log(&ws("other"), 10).await.unwrap().len(), 1);

    // One claim takes the oldest pending event of each workspace, and holds it.
    let first = s.claim_events(T0, T0 + 1000, 10).await.unwrap();
    assert_eq!(
        first.iter().map(|e| (e.workspace.as_str(), e.kind.as_str())).collect::<Vec<_>>(),
        [("demo", "CreateVariable"), ("other", "CreateVariable")]
    );
    assert!(s.claim_events(T0 + 1, T0 + 1000, 10).await.unwrap().is_empty(), "held by the claim");
    // A retry keeps the workspace's later events waiting behind it.
    let attempt =
        EventAttempt { event_id: first[0].id, n: 1, at: T0, status: Some(500), latency_ms: 3, excerpt: "boom".into() };
    s.finish_event(first[0].id, &EventOutcome::Retry { next_at: T0 + 5000 }, Some(&attempt)).await.unwrap();
    s.finish_event(first[1].id, &EventOutcome::Delivered, None).await.unwrap();
    assert!(s.claim_events(T0 + 2, T0 + 1000, 10).await.unwrap().is_empty(), "demo's first is not due, the rest waits");
    let again = s.claim_events(T0 + 5000, T0 + 6000, 10).await.unwrap();
    assert_eq!(again.iter().map(|e| e.id).collect::<Vec<_>>(), [first[0].id]);
    s.finish_event(first[0].id, &EventOutcome::Failed, Some(&EventAttempt { n: 2, ..attempt.clone() })).await.unwrap();
    let next = s.claim_events(T0 + 5001, T0 + 6000, 10).await.unwrap();
    assert_eq!(
        next.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["UpdateVariable"],
        "a failed event lets the next go"
    );
    s.finish_event(next[0].id, &EventOutcome::Delivered, None).await.unwrap();
    assert_eq!(s.event_attempts(first[0].id).await.unwrap().iter().map(|a| a.n).collect::<Vec<_>>(), [1, 2]);
    let one = s.event_delivery(&ws("demo"), first[0].id).await.unwrap().unwrap();
    assert_eq!((one.state.as_str(), one.attempts), ("failed", 2));
    assert!(s.event_delivery(&ws("other"), first[0].id).await.unwrap().is_none(), "another workspace's event");

    // Replays: one event, or every failed one since a time.
    assert_eq!(s.replay_events(&ws("demo"), None, Some(0), T0 + 7000).await.unwrap(), 1);
    let replayed = s.claim_events(T0 + 7000, T0 + 8000, 10).await.unwrap();
    assert_eq!(replayed.iter().map(|e| e.id).collect::<Vec<_>>(), [first[0].id]);
    s.finish_event(first[0].id, &EventOutcome::Delivered, None).await.unwrap();
    assert_eq!(s.replay_events(&ws("demo"), Some(next[0].id), None, T0 + 9000).await.unwrap(), 1);
    let states: Vec<String> = s.event_log(&ws("demo"), 10).await.unwrap().into_iter().map(|d| d.state).collect();
    assert_eq!(states, ["pending", "pending", "delivered"]);

    // Settings: a webhook and its sealed secret; a 410 disables it, saving it again enables it.
    assert!(s.webhook_settings(&ws("demo")).await.unwrap().is_none());
    s.set_webhook(&ws("demo"), Some("https://example.com/hook"), Some("sealed"), T0).await.unwrap();
    s.disable_webhook(&ws("demo"), "410 Gone").await.unwrap();
    assert_eq!(s.webhook_settings(&ws("demo")).await.unwrap().unwrap().disabled.as_deref(), Some("410 Gone"));
    s.set_webhook(&ws("demo"), Some("https://example.com/hook"), Some("sealed"), T0 + 1).await.unwrap();
    let got = s.webhook_settings(&ws("demo")).await.unwrap().unwrap();
    assert_eq!(
        (got.url.as_deref(), got.secret.as_deref(), got.disabled),
        (Some("https://example.com/hook"), Some("sealed"), None)
    );
}

pub async fn scripts_flows_and_folders_record_their_events(s: Arc<dyn Store>) {
    s.create_workspace(&new_workspace("demo")).await.unwrap();
    let first = new_script("demo", "u/admin/s", "echo 1", None);
    s.insert_script(&first).await.unwrap();
    s.insert_script(&new_script("demo", "u/admin/s", "echo 2", Some(first.hash))).await.unwrap();
    assert!(s.archive_script(&ws("demo"), &path("u/admin/s")).await.unwrap());
    assert!(s.delete_script(&ws("demo"), &path("u/admin/s")).await.unwrap());
    assert!(!s.delete_script(&ws("demo"), &path("u/admin/s")).await.unwrap());
    let folder = orvanta_store::Folder {
        workspace: ws("demo"),
        name: "team".into(),
        summary: String::new(),
        owners: vec![],
        extra_perms: Default::default(),
        created_by: user("admin"),
        created_at: T0,
    };
    s.create_folder(&folder).await.unwrap();
    assert!(s.update_folder(&folder).await.unwrap());
    assert!(s.delete_folder(&ws("demo"), "team").await.unwrap());
    let kinds: Vec<String> =
        s.event_log(&ws("demo"), 100).await.unwrap().into_iter().rev().map(|d| d.event.kind).collect();
    assert_eq!(
        kinds,
        [
            "CreateScript",
            "UpdateScript",
            "ArchiveScript",
            "DeleteScriptPath",
            "CreateFolder",
            "UpdateFolder",
            "DeleteFolder"
        ]
    );
}

pub async fn users_joining_record_instance_events(s: Arc<dyn Store>) {
    use orvanta_core::WorkspaceId;
    use orvanta_store::{Invite, Role};
    s.create_workspace(&new_workspace("demo")).await.unwrap();
    s.create_user(&new_user("bob")).await.unwrap();
    s.set_member(&ws("demo"), &user("bob"), Role::Developer).await.unwrap();
    s.set_member(&ws("demo"), &user("bob"), Role::Operator).await.unwrap();
    let invite = Invite {
        workspace: ws("demo"),
        email: "carol@example.com".into(),
        role: Role::Developer,
        invited_by: user("bob"),
        created_at: T0,
    };
    s.put_invite(&invite).await.unwrap();
    s.create_user(&new_user("carol")).await.unwrap();
    assert!(s.accept_invite(&ws("demo"), "carol@example.com", &user("carol")).await.unwrap().is_some());
    // A second user with bob's name changes nothing and records nothing.
    assert!(s.create_user(&new_user("bob")).await.is_err());

    let channel = WorkspaceId::instance_channel();
    let log = s.event_log(&channel, 20).await.unwrap();
    let events: Vec<serde_json::Value> =
        log.iter().rev().map(|d| serde_json::from_str(&d.event.payload).unwrap()).collect();
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["UserAdded", "UserAddedWorkspace", "UserInvitedWorkspace", "UserAdded", "UserJoinedWorkspace"]);
    assert!(log.iter().all(|d| d.event.workspace.is_instance_channel()));
    assert_eq!((events[1]["username"].as_str(), events[1]["role"].as_str()), (Some("bob"), Some("developer")));
    assert_eq!(events[4]["email"], "carol@example.com");
    assert!(s.event_log(&ws("demo"), 20).await.unwrap().is_empty(), "no workspace event");
    // The instance webhook is a row like a workspace's, with no workspace behind it.
    s.set_webhook(&channel, Some("https://example.com/i"), Some("sealed"), T0).await.unwrap();
    assert_eq!(s.webhook_settings(&channel).await.unwrap().unwrap().url.as_deref(), Some("https://example.com/i"));
    let claimed = s.claim_events(T0 * 10, T0 * 10 + 1, 10).await.unwrap();
    assert_eq!(claimed.len(), 1, "one at a time per channel");
    assert!(claimed[0].workspace.is_instance_channel());
}
