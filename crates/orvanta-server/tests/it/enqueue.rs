//! The group-commit batcher (`enqueue.rs`) on the real stores: many
//! concurrent enqueues share transactions, each is answered after the commit
//! that holds it, and one job the database refuses does not fail the jobs it
//! was batched with (the one-by-one fallback).

use crate::harness::*;
use orvanta_core::{JobId, JobKind, Language, NewJob, RunnablePath, ScriptHash, Trigger, Username, WorkspaceId};
use orvanta_server::enqueue::Enqueuer;
use orvanta_store::{Enqueued, Store};
use std::sync::Arc;

fn job(tag: &str) -> NewJob {
    let now = orvanta_core::now_millis();
    NewJob {
        id: JobId::new(),
        workspace: WorkspaceId::parse("demo").unwrap(),
        kind: JobKind::Script,
        path: Some(RunnablePath::parse("u/admin/x").unwrap()),
        script_hash: Some(ScriptHash::from_u64(7)),
        language: Some(Language::Bash),
        args: serde_json::json!({"a": 1}).into(),
        created_by: Username::parse("admin").unwrap(),
        permissioned_as: Username::parse("admin").unwrap(),
        tag: tag.into(),
        trigger: Trigger::parse("api").unwrap(),
        scheduled_for: now + 86_400_000,
        parent_job: None,
        timeout_s: None,
        idempotency_key: None,
        created_at: now,
        token_prefix: None,
        scopes: None,
        concurrency: None,
        flow: None,
    }
}

/// Fires `n` enqueues at once, the job at `bad` (if any) with a tag the
/// database refuses; answers each job and its outcome.
async fn burst(store: Arc<dyn Store>, n: usize, bad: Option<usize>) -> Vec<(NewJob, Result<Enqueued, String>)> {
    let enqueuer = Arc::new(Enqueuer::start(store));
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            // PostgreSQL text cannot hold a NUL character: a job it refuses.
            let j = job(if Some(i) == bad { "bad\0tag" } else { "default" });
            let e = enqueuer.clone();
            tokio::spawn(async move {
                let r = e.enqueue(j.clone()).await.map_err(|e| e.to_string());
                (j, r)
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_enqueues_are_each_committed_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("o.db").display());
    let store = orvanta_store::connect(&url, &Default::default()).await.unwrap();
    let ws = WorkspaceId::parse("demo").unwrap();
    for (j, r) in burst(store.clone(), 300, None).await {
        assert_eq!(r, Ok(Enqueued::Created(j.id)));
        assert!(store.get_job(&ws, j.id).await.unwrap().is_some(), "an acknowledged job is stored");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_job_does_not_fail_its_batch_on_postgres() {
    let url = fresh_pg_database().await;
    let store = orvanta_store::connect(&url, &Default::default()).await.unwrap();
    let ws = WorkspaceId::parse("demo").unwrap();
    let results = burst(store.clone(), 200, Some(57)).await;
    let mut refused = 0;
    for (j, r) in results {
        let stored = store.get_job(&ws, j.id).await.unwrap().is_some();
        if j.tag == "default" {
            assert_eq!(r, Ok(Enqueued::Created(j.id)), "a good job in a batch with a bad one");
            assert!(stored);
        } else {
            assert!(r.is_err(), "the refused job gets its error");
            assert!(!stored);
            refused += 1;
        }
    }
    assert_eq!(refused, 1);
}
