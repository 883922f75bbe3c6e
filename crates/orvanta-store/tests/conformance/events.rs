//! Job events: every change a waiter may wait for reaches subscribers.

use crate::fixtures::*;
use orvanta_core::JobStatus;
use orvanta_store::{CancelOutcome, Claim, Completion, JobEvent, Store, Swept};
use std::sync::Arc;

pub async fn enqueue_then_complete(s: Arc<dyn Store>) {
    let mut rx = s.subscribe();
    let id = enqueue_one(&*s, new_job()).await;
    expect_event(&mut rx, "enqueue", |e| *e == JobEvent::Enqueued).await;

    s.claim(&claim_at("w1", &default_tags(), T0)).await.unwrap().expect("claimed");
    expect_event(&mut rx, "claim", |e| *e == JobEvent::Started(id)).await;

    let result = serde_json::json!("done");
    let done = Completion { id, worker: "w1", status: JobStatus::Success, result: &result, now: T0 + 1 };
    assert!(s.complete(&done).await.unwrap());
    expect_event(&mut rx, "complete", |e| *e == JobEvent::Completed(id)).await;
}

pub async fn claim_cancel_progress(s: Arc<dyn Store>) {
    let tags = default_tags();
    let mut rx = s.subscribe();
    let running = enqueue_one(&*s, new_job()).await;
    let claim = Claim { worker: "w1", tags: &tags, now: T0, lease_until: T0 + 10 };
    s.claim(&claim).await.unwrap().expect("claimed");
    let queued = enqueue_one(&*s, new_job()).await;

    assert_eq!(s.cancel(&ws("demo"), queued, "no", T0).await.unwrap(), CancelOutcome::Canceled);
    expect_event(&mut rx, "cancel of a queued job", |e| *e == JobEvent::Completed(queued)).await;
    assert_eq!(s.cancel(&ws("demo"), running, "stop", T0).await.unwrap(), CancelOutcome::Requested);
    expect_event(&mut rx, "cancel of a running job", |e| *e == JobEvent::CancelRequested(running)).await;

    s.append_logs(running, 0, "line\n").await.unwrap();
    expect_event(&mut rx, "logs", |e| *e == JobEvent::Progress(running)).await;
    s.append_stream(running, 0, "chunk").await.unwrap();
    expect_event(&mut rx, "stream", |e| *e == JobEvent::Progress(running)).await;

    assert_eq!(s.sweep_expired_leases(T0 + 11, 1).await.unwrap(), [Swept::Canceled(running)]);
    expect_event(&mut rx, "a sweep that ends a canceled job", |e| *e == JobEvent::Completed(running)).await;

    let other = enqueue_one(&*s, new_job()).await;
    // Every event up to the claim is consumed first, so that the `Enqueued`
    // awaited below can only be the sweep's own.
    expect_event(&mut rx, "the enqueue of another job", |e| *e == JobEvent::Enqueued).await;
    let claim = Claim { worker: "w1", tags: &tags, now: T0 + 20, lease_until: T0 + 30 };
    assert_eq!(s.claim(&claim).await.unwrap().map(|j| j.id), Some(other));
    expect_event(&mut rx, "its claim", |e| *e == JobEvent::Started(other)).await;
    assert_eq!(s.sweep_expired_leases(T0 + 31, 1).await.unwrap(), [Swept::Requeued(other)]);
    expect_event(&mut rx, "a sweep that re-queues", |e| *e == JobEvent::Enqueued).await;
    let claim = Claim { worker: "w1", tags: &tags, now: T0 + 40, lease_until: T0 + 50 };
    s.claim(&claim).await.unwrap().expect("claimed again");
    assert_eq!(s.sweep_expired_leases(T0 + 51, 1).await.unwrap(), [Swept::Failed(other)]);
    expect_event(&mut rx, "a sweep that fails", |e| *e == JobEvent::Completed(other)).await;
}
