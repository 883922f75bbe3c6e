//! The workspace webhook's outbox: events recorded with the changes they
//! report, claimed in runs oldest first per workspace, their attempts kept,
//! the dispatcher woken by their commits, settled ones purged with age.

use crate::fixtures::*;
use orvanta_store::{AfterFinish, ClaimedEvent, EventAttempt, EventFinish, EventOutcome, Store, Variable};
use std::sync::Arc;
use std::time::Duration;

fn ids(claimed: &[ClaimedEvent]) -> Vec<i64> {
    claimed.iter().map(|e| e.event.id).collect()
}

fn finish(id: i64, outcome: EventOutcome, attempt: Option<EventAttempt>) -> EventFinish {
    EventFinish { id, outcome, attempt }
}

/// Records outcomes of the claim `held` and gives back the rest; answers how many were written.
async fn settle(s: &dyn Store, workspace: &str, held: i64, done: &[EventFinish]) -> usize {
    let finished = s.finish_events(&ws(workspace), held, done, AfterFinish::Release).await.unwrap();
    assert!(finished.next.is_empty());
    finished.written
}

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
    let first = ids(&s.claim_events(T0, T0 + 1000, 10, 1).await.unwrap());
    let kinds = s.claim_events(T0 + 1, T0 + 1000, 10, 1).await.unwrap();
    assert!(kinds.is_empty(), "held by the claim");
    let demo_first = s.event_delivery(&ws("demo"), first[0]).await.unwrap().unwrap();
    assert_eq!(demo_first.event.kind, "CreateVariable");
    assert_eq!(s.event_delivery(&ws("other"), first[1]).await.unwrap().unwrap().event.kind, "CreateVariable");
    // A retry keeps the workspace's later events waiting behind it.
    let attempt =
        EventAttempt { event_id: first[0], n: 1, at: T0, status: Some(500), latency_ms: 3, excerpt: "boom".into() };
    let retry = EventOutcome::Retry { next_at: T0 + 5000 };
    assert_eq!(settle(&*s, "demo", T0 + 1000, &[finish(first[0], retry, Some(attempt.clone()))]).await, 1);
    assert_eq!(settle(&*s, "other", T0 + 1000, &[finish(first[1], EventOutcome::Delivered, None)]).await, 1);
    assert!(
        s.claim_events(T0 + 2, T0 + 1000, 10, 1).await.unwrap().is_empty(),
        "demo's first is not due, the rest waits"
    );
    let again = s.claim_events(T0 + 5000, T0 + 6000, 10, 1).await.unwrap();
    assert_eq!(ids(&again), [first[0]]);
    assert_eq!(again[0].tried, 1, "one attempt so far");
    let failed = finish(first[0], EventOutcome::Failed, Some(EventAttempt { n: 2, ..attempt.clone() }));
    settle(&*s, "demo", T0 + 6000, &[failed]).await;
    let next = s.claim_events(T0 + 5001, T0 + 6000, 10, 1).await.unwrap();
    assert_eq!(
        next.iter().map(|e| e.event.kind.as_str()).collect::<Vec<_>>(),
        ["UpdateVariable"],
        "a failed event lets the next go"
    );
    let next = ids(&next);
    settle(&*s, "demo", T0 + 6000, &[finish(next[0], EventOutcome::Delivered, None)]).await;
    assert_eq!(s.event_attempts(first[0]).await.unwrap().iter().map(|a| a.n).collect::<Vec<_>>(), [1, 2]);
    let one = s.event_delivery(&ws("demo"), first[0]).await.unwrap().unwrap();
    assert_eq!((one.state.as_str(), one.attempts), ("failed", 2));
    assert!(s.event_delivery(&ws("other"), first[0]).await.unwrap().is_none(), "another workspace's event");

    // Replays: one event, or every failed one since a time.
    assert_eq!(s.replay_events(&ws("demo"), None, Some(0), T0 + 7000).await.unwrap(), 1);
    let replayed = s.claim_events(T0 + 7000, T0 + 8000, 10, 1).await.unwrap();
    assert_eq!(ids(&replayed), [first[0]]);
    assert_eq!(replayed[0].tried, 2, "a replay numbers its attempts after the earlier ones");
    settle(&*s, "demo", T0 + 8000, &[finish(first[0], EventOutcome::Delivered, None)]).await;
    assert_eq!(s.replay_events(&ws("demo"), Some(next[0]), None, T0 + 9000).await.unwrap(), 1);
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
    let claimed = s.claim_events(i64::MAX - 1, i64::MAX, 10, 500).await.unwrap();
    assert_eq!(claimed.len(), 5, "the channel's events in one run");
    assert!(claimed.iter().all(|c| c.event.workspace.is_instance_channel()));
}

async fn record(s: &dyn Store, workspace: &str, n: usize, at: i64) {
    for i in 0..n {
        s.record_event(&ws(workspace), "CreateVariable", &format!(r#"{{"type":"CreateVariable","i":{i}}}"#), at)
            .await
            .unwrap();
    }
}

pub async fn runs_hold_the_workspace_and_stop_where_order_requires(s: Arc<dyn Store>) {
    s.create_workspace(&new_workspace("demo")).await.unwrap();
    s.create_workspace(&new_workspace("other")).await.unwrap();
    record(&*s, "demo", 6, T0).await;
    record(&*s, "other", 2, T0).await;
    let all: Vec<i64> = s.event_log(&ws("demo"), 10).await.unwrap().iter().rev().map(|d| d.event.id).collect();

    // A run per workspace, in order, at most `per_workspace` long.
    let run = s.claim_events(T0, T0 + 1000, 10, 4).await.unwrap();
    let demo: Vec<i64> = run.iter().filter(|e| e.event.workspace.as_str() == "demo").map(|e| e.event.id).collect();
    assert_eq!(demo, all[..4]);
    assert_eq!(run.iter().filter(|e| e.event.workspace.as_str() == "other").count(), 2);
    assert!(s.claim_events(T0 + 1, T0 + 2000, 10, 4).await.unwrap().is_empty(), "the runs hold both workspaces");
    let other: Vec<EventFinish> = run
        .iter()
        .filter(|e| e.event.workspace.as_str() == "other")
        .map(|e| finish(e.event.id, EventOutcome::Delivered, None))
        .collect();
    assert_eq!(settle(&*s, "other", T0 + 1000, &other).await, 2);

    // Outcomes as the run goes: the first two delivered, the third to be retried; the rest given back.
    let done = [
        finish(all[0], EventOutcome::Delivered, None),
        finish(all[1], EventOutcome::Delivered, None),
        finish(all[2], EventOutcome::Retry { next_at: T0 + 500 }, None),
    ];
    assert_eq!(settle(&*s, "demo", T0 + 1000, &done).await, 3, "the fourth, not sent, is given back");
    assert!(s.claim_events(T0 + 2, T0 + 2000, 10, 4).await.unwrap().is_empty(), "the retried one is not due: all wait");
    let again = s.claim_events(T0 + 500, T0 + 3000, 10, 4).await.unwrap();
    assert_eq!(ids(&again), all[2..]);

    // A claim that lapsed and was taken over writes nothing.
    let later = s.claim_events(T0 + 3001, T0 + 9000, 10, 1).await.unwrap();
    assert_eq!(ids(&later), [all[2]], "the lapsed claim is taken over");
    assert_eq!(settle(&*s, "demo", T0 + 3000, &[finish(all[2], EventOutcome::Delivered, None)]).await, 0);
    assert_eq!(s.event_delivery(&ws("demo"), all[2]).await.unwrap().unwrap().state, "pending");
    assert_eq!(settle(&*s, "demo", T0 + 9000, &[finish(all[2], EventOutcome::Delivered, None)]).await, 1);

    // A replayed event goes ahead of the run in progress, alone: the run holds the events after it.
    let run = s.claim_events(T0 + 9001, T0 + 20_000, 10, 10).await.unwrap();
    assert_eq!(ids(&run), all[3..], "a lapsed claim holds nothing");
    assert_eq!(s.replay_events(&ws("demo"), Some(all[0]), None, T0 + 9002).await.unwrap(), 1);
    let replayed = s.claim_events(T0 + 9003, T0 + 20_000, 10, 10).await.unwrap();
    assert_eq!(ids(&replayed), [all[0]]);
}

pub async fn a_run_continues_under_its_claim_with_what_was_recorded_meanwhile(s: Arc<dyn Store>) {
    s.create_workspace(&new_workspace("demo")).await.unwrap();
    record(&*s, "demo", 2, T0).await;
    let held = T0 + 1000;
    let first = ids(&s.claim_events(T0, held, 10, 10).await.unwrap());
    record(&*s, "demo", 2, T0).await;
    let delivered: Vec<EventFinish> = first.iter().map(|id| finish(*id, EventOutcome::Delivered, None)).collect();
    let more = AfterFinish::Continue { now: T0 + 1, per_workspace: 10 };
    let finished = s.finish_events(&ws("demo"), held, &delivered, more).await.unwrap();
    assert_eq!(finished.written, 2);
    let next = ids(&finished.next);
    assert_eq!(next.len(), 2);
    assert!(next[0] > first[1], "the events recorded meanwhile, in order: {next:?}");
    assert!(s.claim_events(T0 + 2, T0 + 2000, 10, 10).await.unwrap().is_empty(), "the workspace stayed held");
    // A retry ends the run: continuing finds nothing due, and gives back what the claim held.
    let retry = [finish(next[0], EventOutcome::Retry { next_at: T0 + 500 }, None)];
    let more = AfterFinish::Continue { now: T0 + 3, per_workspace: 10 };
    let finished = s.finish_events(&ws("demo"), held, &retry, more).await.unwrap();
    assert!(finished.next.is_empty());
    assert_eq!(ids(&s.claim_events(T0 + 500, T0 + 3000, 10, 10).await.unwrap()), next, "all given back");
}

pub async fn commits_that_record_events_wake_the_dispatcher(s: Arc<dyn Store>) {
    s.create_workspace(&new_workspace("demo")).await.unwrap();
    let mut signal = s.event_signal();
    s.create_variable(&variable("demo", "u/admin/a")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), signal.changed())
        .await
        .expect("a committed change wakes the dispatcher")
        .unwrap();
    // A change that fails (and records nothing) wakes nobody; nor does a change of something else.
    assert_conflict(s.create_variable(&variable("demo", "u/admin/a")).await, "a second variable");
    s.set_webhook(&ws("demo"), Some("https://example.com/hook"), Some("sealed"), T0).await.unwrap();
    assert!(tokio::time::timeout(Duration::from_millis(300), signal.changed()).await.is_err(), "no event was recorded");
    s.record_event(&ws("demo"), "CreateVariable", r#"{"type":"CreateVariable"}"#, T0).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), signal.changed()).await.expect("an event recorded alone").unwrap();
}

pub async fn settled_events_are_purged_with_age_pending_ones_never(s: Arc<dyn Store>) {
    const DAY: i64 = 86_400_000;
    s.create_workspace(&new_workspace("demo")).await.unwrap();
    s.create_workspace(&new_workspace("other")).await.unwrap();
    record(&*s, "demo", 4, T0 - 40 * DAY).await;
    record(&*s, "other", 1, T0).await;
    let log = |w: &'static str| {
        let s = s.clone();
        async move {
            let log = s.event_log(&ws(w), 10).await.unwrap();
            log.into_iter().rev().map(|d| (d.event.id, d.state)).collect::<Vec<_>>()
        }
    };
    let old: Vec<i64> = log("demo").await.into_iter().map(|(id, _)| id).collect();
    let new = log("other").await[0].0;
    assert_eq!(s.claim_events(T0, T0 + 1000, 10, 10).await.unwrap().len(), 5);
    let attempt = |id: i64| {
        Some(EventAttempt { event_id: id, n: 1, at: T0, status: Some(200), latency_ms: 1, excerpt: String::new() })
    };
    // Old: delivered, failed, skipped, and one to be retried (pending); new: delivered.
    let done = [
        finish(old[0], EventOutcome::Delivered, attempt(old[0])),
        finish(old[1], EventOutcome::Failed, attempt(old[1])),
        finish(old[2], EventOutcome::Skipped, None),
        finish(old[3], EventOutcome::Retry { next_at: T0 + DAY }, attempt(old[3])),
        finish(new, EventOutcome::Delivered, attempt(new)),
    ];
    assert_eq!(settle(&*s, "demo", T0 + 1000, &done[..4]).await, 4);
    assert_eq!(settle(&*s, "other", T0 + 1000, &done[4..]).await, 1);

    let before = T0 - 30 * DAY;
    assert_eq!(s.purge_events(before, 2).await.unwrap(), 2, "a batch at a time");
    assert_eq!(s.purge_events(before, 2).await.unwrap(), 1);
    assert_eq!(s.purge_events(before, 2).await.unwrap(), 0);
    assert_eq!(log("demo").await, [(old[3], "pending".to_owned())], "a pending event is kept, however old");
    assert_eq!(log("other").await, [(new, "delivered".to_owned())]);
    for id in &old[..3] {
        assert!(s.event_attempts(*id).await.unwrap().is_empty(), "the attempts went with their event");
    }
    assert_eq!(s.event_attempts(old[3]).await.unwrap().len(), 1);
    assert_eq!(s.event_attempts(new).await.unwrap().len(), 1);
    // Ids are never given again: a new event comes after every purged one.
    record(&*s, "demo", 1, T0).await;
    assert!(log("demo").await.last().unwrap().0 > new);
}
