//! The queue: enqueue and idempotency, claim, lease, complete, sweep, cancel.

use crate::fixtures::*;
use orvanta_core::{JobId, JobKind, JobStatus, Language};
use orvanta_store::{CancelOutcome, Claim, Completion, Enqueued, JobEvent, JobFilter, LeaseState, Store, Swept};
use std::collections::HashSet;
use std::sync::Arc;

const DAY_MS: i64 = 24 * 3600 * 1000;

pub async fn enqueue_round_trip(s: Arc<dyn Store>) {
    let parent = JobId::new();
    let mut job = new_job();
    job.parent_job = Some(parent);
    job.scheduled_for = T0 + 5;
    job.token_prefix = Some("orv_abcdef".into());
    job.scopes = Some(vec!["jobs:run:scripts:u/admin/hook".into()]);
    let id = enqueue_one(&*s, job.clone()).await;

    let got = s.get_job(&ws("demo"), id).await.unwrap().expect("the job is stored");
    assert_eq!((got.id, got.workspace.as_str(), got.kind), (id, "demo", JobKind::Script));
    assert_eq!(got.path.as_ref().map(|p| p.as_str()), Some("u/admin/hello"));
    assert_eq!((got.script_hash, got.language), (job.script_hash, Some(Language::Python3)));
    assert_eq!(got.args.as_ref(), Some(&job.args.to_value()), "args come back as given");
    assert_eq!((got.created_by.as_str(), got.permissioned_as.as_str()), ("admin", "admin"));
    assert_eq!((got.tag.as_str(), got.trigger.as_str()), ("default", "api"));
    assert_eq!(got.status, JobStatus::Queued);
    assert_eq!(got.token_prefix.as_deref(), Some("orv_abcdef"), "the starting token is kept");
    assert_eq!(got.scopes, Some(vec!["jobs:run:scripts:u/admin/hook".to_owned()]), "with its scopes");
    assert_eq!((got.created_at, got.scheduled_for), (T0, T0 + 5));
    assert_eq!((got.started_at, got.completed_at, got.result), (None, None, None));
    assert_eq!((got.parent_job, got.timeout_s), (Some(parent), Some(30)));
    assert_eq!((got.worker, got.retries, got.cancel_requested, got.purged), (None, 0, None, false));

    assert!(s.get_job(&ws("other"), id).await.unwrap().is_none(), "jobs are per workspace");
    assert!(s.get_job(&ws("demo"), JobId::new()).await.unwrap().is_none());

    let mut flow = new_job();
    flow.kind = JobKind::Flow;
    (flow.script_hash, flow.language, flow.timeout_s) = (None, None, None);
    let flow_id = enqueue_one(&*s, flow).await;
    let got = s.get_job(&ws("demo"), flow_id).await.unwrap().unwrap();
    assert_eq!((got.kind, got.script_hash, got.language, got.timeout_s), (JobKind::Flow, None, None, None));
}

fn keyed(key: &str, at: &str) -> orvanta_core::NewJob {
    let mut job = new_job();
    job.idempotency_key = Some(key.into());
    job.path = Some(path(at));
    job
}

pub async fn idempotency_keys(s: Arc<dyn Store>) {
    let first = keyed("k1", "u/admin/hello");
    let first_id = enqueue_one(&*s, first).await;
    let repeat = keyed("k1", "u/admin/hello");
    assert_eq!(s.enqueue(&[repeat]).await.unwrap(), [Enqueued::Existing(first_id)], "same key, same runnable");

    let other_runnable = keyed("k1", "u/admin/other");
    enqueue_one(&*s, other_runnable).await;
    let mut other_workspace = keyed("k1", "u/admin/hello");
    other_workspace.workspace = ws("other");
    enqueue_one(&*s, other_workspace).await;

    let (a, b) = (keyed("k2", "u/admin/hello"), keyed("k2", "u/admin/hello"));
    let a_id = a.id;
    assert_eq!(
        s.enqueue(&[a, b]).await.unwrap(),
        [Enqueued::Created(a_id), Enqueued::Existing(a_id)],
        "one key twice in one batch"
    );
    assert_eq!(s.list_jobs(&ws("demo"), &JobFilter::default()).await.unwrap().len(), 3);
}

pub async fn idempotency_key_expires(s: Arc<dyn Store>) {
    let first_id = enqueue_one(&*s, keyed("k", "u/admin/hello")).await;
    let mut within = keyed("k", "u/admin/hello");
    within.created_at = T0 + DAY_MS - 1;
    assert_eq!(s.enqueue(&[within]).await.unwrap(), [Enqueued::Existing(first_id)]);

    let mut after = keyed("k", "u/admin/hello");
    after.created_at = T0 + DAY_MS;
    let after_id = enqueue_one(&*s, after).await;
    let mut again = keyed("k", "u/admin/hello");
    again.created_at = T0 + DAY_MS + 1;
    assert_eq!(s.enqueue(&[again]).await.unwrap(), [Enqueued::Existing(after_id)], "the key now names the new job");
}

/// Keys whose window ended are deleted a batch at a time; a key within its
/// window stays and still names its job, an ended one is free again.
pub async fn ended_idempotency_keys_are_purged(s: Arc<dyn Store>) {
    let ended = enqueue_one(&*s, keyed("ended", "u/admin/hello")).await;
    for k in ["e1", "e2"] {
        enqueue_one(&*s, keyed(k, "u/admin/hello")).await;
    }
    let mut later = keyed("held", "u/admin/hello");
    later.created_at = T0 + DAY_MS / 2;
    let held = enqueue_one(&*s, later).await;

    let now = T0 + DAY_MS;
    assert_eq!(s.purge_idempotency_keys(now, 2).await.unwrap(), 2, "a batch at most");
    assert_eq!(s.purge_idempotency_keys(now, 2).await.unwrap(), 1, "the rest of the ended keys");
    assert_eq!(s.purge_idempotency_keys(now, 2).await.unwrap(), 0, "the key within its window stays");

    let mut again = keyed("held", "u/admin/hello");
    again.created_at = now;
    assert_eq!(s.enqueue(&[again]).await.unwrap(), [Enqueued::Existing(held)]);
    let mut fresh = keyed("ended", "u/admin/hello");
    fresh.created_at = now;
    let fresh = enqueue_one(&*s, fresh).await;
    assert_ne!(fresh, ended, "the purged key is free for a new job");
}

pub async fn caller_chosen_id_twice(s: Arc<dyn Store>) {
    let job = new_job();
    let id = enqueue_one(&*s, job.clone()).await;
    let mut same_id = new_job();
    same_id.id = id;
    same_id.args = serde_json::json!({"different": true}).into();
    assert_eq!(s.enqueue(&[same_id.clone(), new_job()]).await.unwrap()[0], Enqueued::Existing(id));
    assert_eq!(
        s.get_job(&ws("demo"), id).await.unwrap().unwrap().args,
        Some(job.args.to_value()),
        "the first job stands"
    );

    let twice = new_job();
    let twice_id = twice.id;
    assert_eq!(
        s.enqueue(&[twice.clone(), twice]).await.unwrap(),
        [Enqueued::Created(twice_id), Enqueued::Existing(twice_id)]
    );
    assert_eq!(s.list_jobs(&ws("demo"), &JobFilter::default()).await.unwrap().len(), 3);
}

pub async fn claim_order(s: Arc<dyn Store>) {
    let tags = default_tags();
    for (n, due) in [(3, T0 + 2), (0, T0 + 10_000), (2, T0 + 1), (1, T0 + 1)] {
        let mut job = new_job();
        (job.id, job.scheduled_for) = (nth_id(n), due);
        enqueue_one(&*s, job).await;
    }
    let now = T0 + 5;
    let mut order = Vec::new();
    while let Some(job) = s.claim(&claim_at("w1", &tags, now)).await.unwrap() {
        assert_eq!((job.status, job.worker.as_deref(), job.started_at), (JobStatus::Running, Some("w1"), Some(now)));
        order.push(job.id);
    }
    assert_eq!(order, [nth_id(1), nth_id(2), nth_id(3)], "by scheduled_for, then id; the future job waits");

    let running = s.get_job(&ws("demo"), nth_id(1)).await.unwrap().unwrap();
    assert_eq!((running.status, running.worker.as_deref()), (JobStatus::Running, Some("w1")));
    let later = s.claim(&claim_at("w2", &tags, T0 + 10_000)).await.unwrap().expect("due now");
    assert_eq!(later.id, nth_id(0));
}

pub async fn claim_tags(s: Arc<dyn Store>) {
    let mut job = new_job();
    job.tag = "gpu".into();
    let id = enqueue_one(&*s, job).await;
    assert!(s.claim(&claim_at("w1", &default_tags(), T0)).await.unwrap().is_none(), "wrong tag");
    assert!(s.claim(&claim_at("w1", &[], T0)).await.unwrap().is_none(), "no tag");
    let tags = vec!["cpu".to_owned(), "gpu".to_owned()];
    assert_eq!(s.claim(&claim_at("w1", &tags, T0)).await.unwrap().map(|j| j.id), Some(id));
}

pub async fn concurrent_claimers(s: Arc<dyn Store>) {
    let jobs: Vec<_> = (0..200).map(|_| new_job()).collect();
    let created = s.enqueue(&jobs).await.unwrap();
    assert!(created.iter().all(|e| matches!(e, Enqueued::Created(_))));

    let claimers: Vec<_> = (0..4)
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                let (worker, tags) = (format!("w{w}"), default_tags());
                let mut mine = Vec::new();
                while let Some(job) = s.claim(&claim_at(&worker, &tags, T0)).await.unwrap() {
                    assert_eq!(job.worker.as_deref(), Some(worker.as_str()));
                    mine.push(job.id);
                }
                (worker, mine)
            })
        })
        .collect();
    let mut seen = HashSet::new();
    for claimer in claimers {
        let (worker, mine) = claimer.await.unwrap();
        for id in mine {
            assert!(seen.insert(id), "job {id} was claimed twice");
            let stored = s.get_job(&ws("demo"), id).await.unwrap().unwrap();
            assert_eq!(stored.worker.as_deref(), Some(worker.as_str()), "the stored worker is the claimer");
        }
    }
    assert_eq!(seen.len(), 200, "every job was claimed");
}

fn limited(limit: u32) -> orvanta_core::NewJob {
    let mut job = new_job();
    job.concurrency = Some(orvanta_core::Concurrency { key: "demo/u/admin/hello".into(), limit });
    job
}

pub async fn concurrency_limits_hold_across_claimers(s: Arc<dyn Store>) {
    let tags = default_tags();
    // Two limited jobs first in line, then a free one: the second limited
    // job waits, the free one is claimed past it.
    let first = enqueue_one(&*s, limited(1)).await;
    let second = enqueue_one(&*s, limited(1)).await;
    let free = enqueue_one(&*s, new_job()).await;
    let got = s.get_job(&ws("demo"), first).await.unwrap().unwrap();
    assert_eq!(got.concurrency, Some(orvanta_core::Concurrency { key: "demo/u/admin/hello".into(), limit: 1 }));
    assert_eq!(s.claim(&claim_at("w1", &tags, T0)).await.unwrap().map(|j| j.id), Some(first));
    assert_eq!(s.claim(&claim_at("w2", &tags, T0)).await.unwrap().map(|j| j.id), Some(free), "the limited one waits");
    assert_eq!(s.claim(&claim_at("w2", &tags, T0)).await.unwrap().map(|j| j.id), None);
    let result = serde_json::json!(1);
    let done = Completion { id: first, worker: "w1", status: JobStatus::Success, result: &result, now: T0 + 1 };
    assert!(s.complete(&done).await.unwrap());
    assert_eq!(s.claim(&claim_at("w2", &tags, T0 + 2)).await.unwrap().map(|j| j.id), Some(second));

    // Many claimers at once never run more than the limit.
    let jobs: Vec<_> = (0..40).map(|_| limited(3)).collect();
    s.enqueue(&jobs).await.unwrap();
    let done = Completion { id: second, worker: "w2", status: JobStatus::Success, result: &result, now: T0 + 3 };
    assert!(s.complete(&done).await.unwrap());
    let claimers: Vec<_> = (0..6)
        .map(|w| {
            let s = s.clone();
            tokio::spawn(async move {
                let (worker, tags) = (format!("c{w}"), default_tags());
                let mut mine = Vec::new();
                for _ in 0..10 {
                    if let Some(job) = s.claim(&claim_at(&worker, &tags, T0 + 10)).await.unwrap() {
                        mine.push(job.id);
                    }
                }
                mine
            })
        })
        .collect();
    let mut claimed = 0;
    for claimer in claimers {
        claimed += claimer.await.unwrap().len();
    }
    assert_eq!(claimed, 3, "at most the limit runs at once, and the limit is reached");
}

/// A slot's turn: its job's end and its next claim together. The end frees
/// the concurrency slot the claim then takes; an end the worker no longer
/// holds is refused and the claim still happens.
pub async fn complete_and_claim_is_a_slots_turn(s: Arc<dyn Store>) {
    let tags = default_tags();
    let first = enqueue_one(&*s, limited(1)).await;
    let second = enqueue_one(&*s, limited(1)).await;
    let mut events = s.subscribe();
    assert_eq!(s.claim(&claim_at("w1", &tags, T0)).await.unwrap().map(|j| j.id), Some(first));
    assert!(s.claim(&claim_at("w1", &tags, T0)).await.unwrap().is_none(), "the limit holds the second back");
    let result = serde_json::json!({"y": 2});
    let done = Completion { id: first, worker: "w1", status: JobStatus::Success, result: &result, now: T0 + 1 };
    let (completed, next) = s.complete_and_claim(&done, &claim_at("w1", &tags, T0 + 1)).await.unwrap();
    assert!(completed);
    assert_eq!(next.map(|j| j.id), Some(second), "the end freed the slot the claim took");
    let got = s.get_job(&ws("demo"), first).await.unwrap().unwrap();
    assert_eq!((got.status, got.result), (JobStatus::Success, Some(result.clone())));
    expect_event(&mut events, "the end", |e| *e == JobEvent::Completed(first)).await;
    expect_event(&mut events, "the claim", |e| *e == JobEvent::Started(second)).await;

    // Not this worker's job: refused, and nothing is claimed when nothing is due.
    let foreign = Completion { id: second, worker: "w2", status: JobStatus::Success, result: &result, now: T0 + 2 };
    let (completed, next) = s.complete_and_claim(&foreign, &claim_at("w2", &tags, T0 + 2)).await.unwrap();
    assert!(!completed, "another worker's job is not completed");
    assert!(next.is_none());
    assert_eq!(s.get_job(&ws("demo"), second).await.unwrap().unwrap().status, JobStatus::Running);
}

pub async fn lease_renewal(s: Arc<dyn Store>) {
    let tags = default_tags();
    let id = enqueue_one(&*s, new_job()).await;
    s.claim(&claim_at("w1", &tags, T0)).await.unwrap().expect("claimed");

    assert_eq!(s.renew_lease(id, "w1", T0 + 120_000).await.unwrap(), LeaseState::Held);
    assert_eq!(s.renew_lease(id, "w2", T0 + 120_000).await.unwrap(), LeaseState::Lost, "another worker");
    assert_eq!(s.renew_lease(JobId::new(), "w1", T0).await.unwrap(), LeaseState::Lost, "an unknown job");
    assert!(s.sweep_expired_leases(T0 + 90_000, 3).await.unwrap().is_empty(), "the renewed lease holds");

    assert_eq!(s.cancel(&ws("demo"), id, "asked by alice", T0).await.unwrap(), CancelOutcome::Requested);
    assert_eq!(
        s.renew_lease(id, "w1", T0 + 180_000).await.unwrap(),
        LeaseState::CancelRequested("asked by alice".into())
    );
    let result = serde_json::json!({"error": {"name": "Canceled", "message": "stopped"}});
    let done = Completion { id, worker: "w1", status: JobStatus::Canceled, result: &result, now: T0 + 1 };
    assert!(s.complete(&done).await.unwrap());
    assert_eq!(s.renew_lease(id, "w1", T0 + 240_000).await.unwrap(), LeaseState::Lost, "a finished job");
}

pub async fn complete_by_worker_only(s: Arc<dyn Store>) {
    let tags = default_tags();
    let id = enqueue_one(&*s, new_job()).await;
    let result = serde_json::json!({"ok": true, "values": [1, 2.5, "ß"]});
    let done = |worker, now| Completion { id, worker, status: JobStatus::Success, result: &result, now };
    assert!(!s.complete(&done("w1", T0)).await.unwrap(), "a queued job cannot complete");

    s.claim(&claim_at("w1", &tags, T0)).await.unwrap().expect("claimed");
    assert!(!s.complete(&done("w2", T0 + 1)).await.unwrap(), "not w2's job");
    assert_eq!(s.get_job(&ws("demo"), id).await.unwrap().unwrap().status, JobStatus::Running);

    assert!(s.complete(&done("w1", T0 + 2)).await.unwrap());
    let job = s.get_job(&ws("demo"), id).await.unwrap().unwrap();
    assert_eq!((job.status, job.completed_at), (JobStatus::Success, Some(T0 + 2)));
    assert_eq!(job.result.as_ref(), Some(&result));
    assert!(!s.complete(&done("w1", T0 + 3)).await.unwrap(), "already complete");
    assert_eq!(s.get_job(&ws("demo"), id).await.unwrap().unwrap().completed_at, Some(T0 + 2));
}

pub async fn sweep_requeues_once_then_fails(s: Arc<dyn Store>) {
    let tags = default_tags();
    let short = enqueue_one(&*s, new_job()).await;
    let claim = |worker, now, lease_until| Claim { worker, tags: &tags, now, lease_until };
    assert_eq!(s.claim(&claim("w1", T0, T0 + 10)).await.unwrap().map(|j| j.id), Some(short));
    let long = enqueue_one(&*s, new_job()).await;
    assert_eq!(s.claim(&claim("w2", T0, T0 + 1_000)).await.unwrap().map(|j| j.id), Some(long));

    assert!(s.sweep_expired_leases(T0 + 5, 1).await.unwrap().is_empty(), "no lease has ended");
    assert_eq!(s.sweep_expired_leases(T0 + 11, 1).await.unwrap(), [Swept::Requeued(short)]);
    let job = s.get_job(&ws("demo"), short).await.unwrap().unwrap();
    assert_eq!((job.status, job.worker, job.started_at, job.retries), (JobStatus::Queued, None, None, 1));
    assert_eq!(s.get_job(&ws("demo"), long).await.unwrap().unwrap().status, JobStatus::Running);
    assert_eq!(s.renew_lease(short, "w1", T0 + 100).await.unwrap(), LeaseState::Lost, "w1 lost it");

    assert_eq!(s.claim(&claim("w3", T0 + 20, T0 + 30)).await.unwrap().map(|j| j.id), Some(short));
    assert_eq!(s.sweep_expired_leases(T0 + 31, 1).await.unwrap(), [Swept::Failed(short)]);
    let job = s.get_job(&ws("demo"), short).await.unwrap().unwrap();
    assert_eq!((job.status, job.completed_at, job.retries), (JobStatus::Failure, Some(T0 + 31), 1));
    let error = &job.result.expect("a failure result")["error"];
    assert_eq!(error["name"], "WorkerLost");
    assert!(error["message"].as_str().is_some_and(|m| m.contains("1 time")), "{error}");
    let result = serde_json::json!({});
    let late = Completion { id: short, worker: "w3", status: JobStatus::Success, result: &result, now: T0 + 40 };
    assert!(!s.complete(&late).await.unwrap(), "a swept job cannot complete");

    assert_eq!(s.sweep_expired_leases(T0 + 2_000, 0).await.unwrap(), [Swept::Failed(long)], "no retry allowed");
    assert!(s.sweep_expired_leases(T0 + 3_000, 1).await.unwrap().is_empty());
}

pub async fn a_canceled_job_whose_worker_vanished_is_not_run_again(s: Arc<dyn Store>) {
    let tags = default_tags();
    let id = enqueue_one(&*s, new_job()).await;
    let claim = Claim { worker: "w1", tags: &tags, now: T0, lease_until: T0 + 10 };
    assert_eq!(s.claim(&claim).await.unwrap().map(|j| j.id), Some(id));
    assert_eq!(s.cancel(&ws("demo"), id, "stop it", T0 + 1).await.unwrap(), CancelOutcome::Requested);
    assert_eq!(s.sweep_expired_leases(T0 + 11, 1).await.unwrap(), [Swept::Canceled(id)]);
    let job = s.get_job(&ws("demo"), id).await.unwrap().unwrap();
    assert_eq!((job.status, job.completed_at), (JobStatus::Canceled, Some(T0 + 11)));
    assert!(job.result.unwrap()["error"]["message"].as_str().unwrap().contains("stop it"));
}

pub async fn cancel_outcomes(s: Arc<dyn Store>) {
    let tags = default_tags();
    let running = enqueue_one(&*s, new_job()).await;
    s.claim(&claim_at("w1", &tags, T0)).await.unwrap().expect("claimed");
    let finished = enqueue_one(&*s, new_job()).await;
    s.claim(&claim_at("w1", &tags, T0)).await.unwrap().expect("claimed");
    let ok = serde_json::json!(42);
    let done = Completion { id: finished, worker: "w1", status: JobStatus::Success, result: &ok, now: T0 + 1 };
    assert!(s.complete(&done).await.unwrap());
    let queued = enqueue_one(&*s, new_job()).await;

    assert_eq!(s.cancel(&ws("demo"), queued, "not needed", T0 + 7).await.unwrap(), CancelOutcome::Canceled);
    let job = s.get_job(&ws("demo"), queued).await.unwrap().unwrap();
    assert_eq!((job.status, job.completed_at), (JobStatus::Canceled, Some(T0 + 7)));
    let error = &job.result.expect("a cancel result")["error"];
    assert_eq!(error["name"], "Canceled");
    assert!(error["message"].as_str().is_some_and(|m| m.contains("not needed")), "{error}");
    assert!(s.claim(&claim_at("w2", &tags, T0 + 8)).await.unwrap().is_none(), "a canceled job is not claimed");

    assert_eq!(s.cancel(&ws("demo"), running, "too slow", T0 + 8).await.unwrap(), CancelOutcome::Requested);
    let job = s.get_job(&ws("demo"), running).await.unwrap().unwrap();
    assert_eq!((job.status, job.cancel_requested.as_deref()), (JobStatus::Running, Some("too slow")));

    assert_eq!(
        s.cancel(&ws("demo"), finished, "late", T0 + 9).await.unwrap(),
        CancelOutcome::AlreadyFinished(JobStatus::Success)
    );
    assert_eq!(
        s.cancel(&ws("demo"), queued, "again", T0 + 9).await.unwrap(),
        CancelOutcome::AlreadyFinished(JobStatus::Canceled)
    );
    assert_eq!(s.cancel(&ws("demo"), JobId::new(), "?", T0).await.unwrap(), CancelOutcome::NotFound);
    assert_eq!(s.cancel(&ws("other"), running, "?", T0).await.unwrap(), CancelOutcome::NotFound, "another workspace");
    assert_eq!(s.get_job(&ws("demo"), running).await.unwrap().unwrap().cancel_requested.as_deref(), Some("too slow"));
}

/// Servers sweeping at once: each lapsed job is swept by exactly one of them.
pub async fn concurrent_sweepers(s: Arc<dyn Store>) {
    let tags = default_tags();
    let jobs: Vec<_> = (0..60).map(|_| new_job()).collect();
    s.enqueue(&jobs).await.unwrap();
    let mut claimed = HashSet::new();
    while let Some(job) = s.claim(&Claim { worker: "w1", tags: &tags, now: T0, lease_until: T0 + 10 }).await.unwrap() {
        claimed.insert(job.id);
    }
    assert_eq!(claimed.len(), 60);

    let sweepers: Vec<_> = (0..4)
        .map(|_| {
            let s = s.clone();
            tokio::spawn(async move { s.sweep_expired_leases(T0 + 11, 3).await.unwrap() })
        })
        .collect();
    let mut swept = HashSet::new();
    for sweeper in sweepers {
        for outcome in sweeper.await.unwrap() {
            let Swept::Requeued(id) = outcome else { panic!("{outcome:?}: a first sweep re-queues") };
            assert!(swept.insert(id), "job {id} was swept twice");
        }
    }
    assert_eq!(swept, claimed, "every lapsed job was swept once");
    let queued = JobFilter { statuses: vec![JobStatus::Queued], limit: 1000, ..JobFilter::default() };
    let requeued = s.list_jobs(&ws("demo"), &queued).await.unwrap();
    assert_eq!(requeued.len(), 60);
    assert!(requeued.iter().all(|j| j.retries == 1), "each job was re-queued once");
}
