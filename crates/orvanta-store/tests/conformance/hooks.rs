//! Inbound webhook definitions and their history: names unique per
//! workspace, an event and its jobs committed together, a delivery id acted
//! on once, newest-first paging, purge.

use crate::fixtures::*;
use orvanta_store::{Enqueued, Hook, HookEvent, HookRecorded, Store};
use serde_json::json;
use std::sync::Arc;

fn hook(id: &str, name: &str) -> Hook {
    Hook {
        id: id.into(),
        workspace: ws("demo"),
        name: name.into(),
        config: json!({"verifier": "github", "secret": "sealed"}),
        url_verified: false,
        created_by: user("admin"),
        edited_by: user("admin"),
        created_at: T0,
        updated_at: T0,
    }
}

fn event(id: &str, hook_id: &str, at: i64) -> HookEvent {
    HookEvent {
        id: id.into(),
        hook_id: hook_id.into(),
        workspace: ws("demo"),
        event_id: format!("delivery-{id}"),
        received_at: at,
        outcome: "verified".into(),
        reason: None,
        headers_matched: Some(true),
        method: "POST".into(),
        query: String::new(),
        headers: json!([["x-github-event", "push"]]),
        body: b"{\"a\": 1}\xff".to_vec(),
        jobs: json!([]),
        waits: json!([]),
        replay_of: None,
    }
}

pub async fn definitions(store: Arc<dyn Store>) {
    store.create_workspace(&new_workspace("demo")).await.unwrap();
    store.create_hook(&hook("h1", "gh")).await.unwrap();
    assert_conflict(store.create_hook(&hook("h2", "gh")).await, "a second hook of the same name");
    store.create_hook(&hook("h2", "stripe")).await.unwrap();
    let got = store.get_hook("h1").await.unwrap().unwrap();
    assert_eq!(got, hook("h1", "gh"));
    assert_eq!(store.list_hooks(&ws("demo")).await.unwrap().len(), 2);
    assert!(store.list_hooks(&ws("other")).await.unwrap().is_empty());

    let mut changed = hook("h1", "github");
    changed.config = json!({"verifier": "header"});
    changed.updated_at = T0 + 5;
    changed.edited_by = user("bob");
    assert!(store.update_hook(&changed).await.unwrap());
    let mut clash = changed.clone();
    clash.name = "stripe".into();
    assert_conflict(store.update_hook(&clash).await, "renaming onto another hook");
    store.set_hook_verified("h1").await.unwrap();
    let got = store.get_hook("h1").await.unwrap().unwrap();
    assert_eq!((got.name.as_str(), got.url_verified, got.updated_at), ("github", true, T0 + 5));
    assert_eq!(got.created_at, T0, "created_at stays");
    assert_eq!((got.created_by.as_str(), got.edited_by.as_str()), ("admin", "bob"));

    assert!(!store.delete_hook(&ws("other"), "h1").await.unwrap(), "another workspace's hook");
    assert!(store.delete_hook(&ws("demo"), "h1").await.unwrap());
    assert!(store.get_hook("h1").await.unwrap().is_none());
}

pub async fn events_jobs_and_deliveries(store: Arc<dyn Store>) {
    store.create_workspace(&new_workspace("demo")).await.unwrap();
    store.create_hook(&hook("h1", "gh")).await.unwrap();
    let job = new_job();
    let id = job.id;
    let first = store.record_hook_event(&event("e1", "h1", T0), Some("d-1"), &[job]).await.unwrap();
    assert_eq!(first, HookRecorded::New(vec![Enqueued::Created(id)], vec![]));
    assert!(store.job_by_id(id).await.unwrap().is_some(), "the job is queued with the event");
    // The platform retries the same delivery: recorded, nothing enqueued.
    let retry_job = new_job();
    let again = store
        .record_hook_event(&event("e2", "h1", T0 + 1), Some("d-1"), std::slice::from_ref(&retry_job))
        .await
        .unwrap();
    assert_eq!(again, HookRecorded::Duplicate);
    assert!(store.job_by_id(retry_job.id).await.unwrap().is_none());
    // No delivery id: every request acts.
    store.record_hook_event(&event("e3", "h1", T0 + 2), None, &[]).await.unwrap();

    let all = store.list_hook_events("h1", None, 10).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e3", "e2", "e1"], "newest first");
    assert_eq!(all[1].outcome, "duplicate");
    assert_eq!(all[2].jobs, json!([{"path": "u/admin/hello", "job_id": id.to_string()}]));
    assert_eq!(all[2].body, b"{\"a\": 1}\xff".to_vec(), "the body's bytes as received");
    let page = store.list_hook_events("h1", Some("e2"), 10).await.unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].id, "e1");
    assert_eq!(store.list_hook_events("h1", None, 1).await.unwrap().len(), 1);

    let by_id = store.get_hook_event("h1", "e1").await.unwrap().unwrap();
    assert_eq!(by_id.event_id, "delivery-e1");
    let by_event = store.get_hook_event("h1", "delivery-e3").await.unwrap().unwrap();
    assert_eq!(by_event.id, "e3");
    assert!(store.get_hook_event("h2", "e1").await.unwrap().is_none(), "another hook's event");

    assert_eq!(store.purge_hook_events(T0 + 2).await.unwrap(), 2);
    assert_eq!(store.list_hook_events("h1", None, 10).await.unwrap().len(), 1);
    // The purged delivery id may act again.
    let later = new_job();
    let later_id = later.id;
    let fresh = store.record_hook_event(&event("e4", "h1", T0 + 3), Some("d-1"), &[later]).await.unwrap();
    assert_eq!(fresh, HookRecorded::New(vec![Enqueued::Created(later_id)], vec![]));
    assert!(store.delete_hook(&ws("demo"), "h1").await.unwrap());
    assert!(store.list_hook_events("h1", None, 10).await.unwrap().is_empty(), "history goes with its hook");
}

pub async fn waits_commit_with_the_flow_and_end_once(store: Arc<dyn Store>) {
    use orvanta_core::JobId;
    use orvanta_store::{FlowCommit, HookWait};
    store.create_workspace(&new_workspace("demo")).await.unwrap();
    store.create_hook(&hook("h1", "gh")).await.unwrap();
    let wait = |deadline: Option<i64>| HookWait {
        job: JobId::new(),
        hook_id: "h1".into(),
        workspace: ws("demo"),
        flow: JobId::new(),
        step_id: "wait".into(),
        matches: json!([["$.n", 1]]),
        deadline,
        created_at: T0,
    };
    let (a, b) = (wait(None), wait(Some(T0 + 1000)));
    let commit = FlowCommit { waits: vec![a.clone(), b.clone()], now: T0, ..Default::default() };
    store.commit_flow(&commit).await.unwrap();
    let listed = store.hook_waits("h1").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.contains(&a) && listed.contains(&b), "{listed:?}");
    assert!(store.expired_hook_waits(T0 + 999, 10).await.unwrap().is_empty());
    assert_eq!(store.expired_hook_waits(T0 + 1000, 10).await.unwrap(), vec![b.clone()]);
    assert!(store.take_hook_wait(b.job).await.unwrap(), "the first taker ends it");
    assert!(!store.take_hook_wait(b.job).await.unwrap(), "and only once");
    assert_eq!(store.hook_waits("h1").await.unwrap(), vec![a]);
}

pub async fn a_batch_of_events_commits_together_and_dedupes_within(store: Arc<dyn Store>) {
    use orvanta_store::HookRecord;
    store.create_workspace(&new_workspace("demo")).await.unwrap();
    store.create_hook(&hook("h1", "gh")).await.unwrap();
    let (a, b, c) = (new_job(), new_job(), new_job());
    let records = vec![
        HookRecord {
            event: event("e1", "h1", T0),
            delivery: Some("d-1".into()),
            jobs: vec![a.clone(), b.clone()],
            release_ended_keys: vec![],
        },
        HookRecord {
            event: event("e2", "h1", T0),
            delivery: Some("d-1".into()),
            jobs: vec![new_job()],
            release_ended_keys: vec![],
        },
        HookRecord { event: event("e3", "h1", T0), delivery: None, jobs: vec![c.clone()], release_ended_keys: vec![] },
    ];
    let answers = store.record_hook_events(&records).await.unwrap();
    assert_eq!(
        answers,
        vec![
            HookRecorded::New(vec![Enqueued::Created(a.id), Enqueued::Created(b.id)], vec![]),
            HookRecorded::Duplicate,
            HookRecorded::New(vec![Enqueued::Created(c.id)], vec![]),
        ]
    );
    let listed = store.list_hook_events("h1", None, 10).await.unwrap();
    let outcomes: Vec<&str> = listed.iter().map(|e| e.outcome.as_str()).collect();
    assert_eq!(outcomes, ["verified", "duplicate", "verified"]);
    assert_eq!(listed[2].jobs.as_array().unwrap().len(), 2, "e1 lists its two jobs");
    assert_eq!(listed[0].jobs[0]["job_id"], c.id.to_string());
    assert!(store.job_by_id(records[1].jobs[0].id).await.unwrap().is_none(), "the duplicate enqueued nothing");
}

/// A batch larger than one insert of jobs or of events (SQLite writes it
/// in one round trip) commits whole and answers the waits its transaction
/// saw; a job id that exists already comes back as existing (on SQLite, the
/// one-trip write's guard sends the batch the step-by-step way).
pub async fn a_large_batch_sees_the_waits_and_a_taken_job_id_is_existing(store: Arc<dyn Store>) {
    use orvanta_core::JobId;
    use orvanta_store::{FlowCommit, HookRecord, HookWait};
    store.create_workspace(&new_workspace("demo")).await.unwrap();
    store.create_hook(&hook("h1", "gh")).await.unwrap();
    store.create_hook(&hook("h2", "other")).await.unwrap();
    let wait = HookWait {
        job: JobId::new(),
        hook_id: "h1".into(),
        workspace: ws("demo"),
        flow: JobId::new(),
        step_id: "wait".into(),
        matches: json!([]),
        deadline: None,
        created_at: T0,
    };
    store.commit_flow(&FlowCommit { waits: vec![wait.clone()], now: T0, ..Default::default() }).await.unwrap();
    let records: Vec<HookRecord> = (0..300)
        .map(|i| HookRecord {
            event: event(&format!("e{i:03}"), if i % 2 == 0 { "h1" } else { "h2" }, T0 + i),
            delivery: Some(format!("d-{i}")),
            jobs: vec![new_job()],
            release_ended_keys: vec![],
        })
        .collect();
    let answers = store.record_hook_events(&records).await.unwrap();
    for (i, (r, a)) in records.iter().zip(&answers).enumerate() {
        let waits = if i % 2 == 0 { vec![wait.clone()] } else { vec![] };
        assert_eq!(*a, HookRecorded::New(vec![Enqueued::Created(r.jobs[0].id)], waits), "event {i}");
    }
    assert!(store.job_by_id(records[299].jobs[0].id).await.unwrap().is_some());
    assert_eq!(store.list_hook_events("h1", None, 1000).await.unwrap().len(), 150);

    // A large body (SQLite stores it packed) reads back byte for byte.
    let mut big = event("zbig", "h1", T0 + 300);
    big.body = [&b"\xff\x00"[..], "{\"commit\": \"https://github.com/o/r\"}, ".repeat(200).as_bytes()].concat();
    let body = big.body.clone();
    store.record_hook_event(&big, None, &[]).await.unwrap();
    assert_eq!(store.get_hook_event("h1", "zbig").await.unwrap().unwrap().body, body);
    assert_eq!(store.list_hook_events("h1", None, 1).await.unwrap()[0].body, body);

    let taken = records[0].jobs[0].clone();
    let fresh = new_job();
    let again = vec![
        HookRecord {
            event: event("x1", "h1", T0 + 400),
            delivery: None,
            jobs: vec![taken.clone()],
            release_ended_keys: vec![],
        },
        HookRecord {
            event: event("x2", "h1", T0 + 401),
            delivery: None,
            jobs: vec![fresh.clone()],
            release_ended_keys: vec![],
        },
    ];
    let answers = store.record_hook_events(&again).await.unwrap();
    assert_eq!(
        answers,
        vec![
            HookRecorded::New(vec![Enqueued::Existing(taken.id)], vec![wait.clone()]),
            HookRecorded::New(vec![Enqueued::Created(fresh.id)], vec![wait]),
        ]
    );
    let x1 = store.get_hook_event("h1", "x1").await.unwrap().unwrap();
    assert_eq!(x1.jobs[0]["existing"], true, "{}", x1.jobs);
}

pub async fn an_ended_runs_key_is_freed_only_by_an_acting_event(store: Arc<dyn Store>) {
    use orvanta_store::HookRecord;
    store.create_workspace(&new_workspace("demo")).await.unwrap();
    store.create_hook(&hook("h1", "gh")).await.unwrap();
    let keyed = || {
        let mut j = new_job();
        j.idempotency_key = Some("inbound:h1:order-7".into());
        j
    };
    let record = |id: &str, delivery: Option<&str>, job: orvanta_core::NewJob, release: bool| HookRecord {
        event: event(id, "h1", T0),
        delivery: delivery.map(str::to_owned),
        jobs: vec![job],
        release_ended_keys: vec![release],
    };
    let first = keyed();
    store.record_hook_events(&[record("e1", Some("d-1"), first.clone(), true)]).await.unwrap();
    // While the holder is queued, a release frees nothing.
    let second = keyed();
    let got = store.record_hook_events(&[record("e2", None, second.clone(), true)]).await.unwrap();
    assert_eq!(got, vec![HookRecorded::New(vec![Enqueued::Existing(first.id)], vec![])]);
    store.cancel(&ws("demo"), first.id, "test", T0 + 1).await.unwrap();
    // A duplicate delivery does not free the ended holder's key.
    let third = keyed();
    let got = store.record_hook_events(&[record("e3", Some("d-1"), third.clone(), true)]).await.unwrap();
    assert_eq!(got, vec![HookRecorded::Duplicate]);
    let fourth = keyed();
    let got = store.record_hook_events(&[record("e4", None, fourth.clone(), false)]).await.unwrap();
    assert_eq!(got, vec![HookRecorded::New(vec![Enqueued::Existing(first.id)], vec![])], "no release asked");
    // An acting event that asks frees it: a new run.
    let fifth = keyed();
    let got = store.record_hook_events(&[record("e5", None, fifth.clone(), true)]).await.unwrap();
    assert_eq!(got, vec![HookRecorded::New(vec![Enqueued::Created(fifth.id)], vec![])]);
}
