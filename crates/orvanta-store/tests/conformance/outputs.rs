//! Job outputs and reads: logs and stream by byte offset, purge, the job list.

use crate::fixtures::*;
use orvanta_core::{JobId, JobStatus, Millis, NewJob};
use orvanta_store::{Completion, JobFilter, Store};
use std::sync::Arc;

/// Three chunks, two of them with multi-byte characters: "hello " (6 bytes),
/// "wörld\n" (7), "end ✓" (7).
async fn write_three_chunks(s: &dyn Store, id: JobId, logs: bool) {
    for (offset, chunk) in [(0, "hello "), (6, "wörld\n"), (13, "end ✓")] {
        if logs {
            s.append_logs(id, offset, chunk).await.unwrap();
        } else {
            s.append_stream(id, offset, chunk).await.unwrap();
        }
    }
}

pub async fn logs_from_offsets(s: Arc<dyn Store>) {
    let id = enqueue_one(&*s, new_job()).await;
    assert_eq!(s.read_logs(id, 0).await.unwrap(), "", "no logs yet");
    write_three_chunks(&*s, id, true).await;
    for (from, want) in [
        (0, "hello wörld\nend ✓"),
        (3, "lo wörld\nend ✓"),
        (6, "wörld\nend ✓"),
        (7, "örld\nend ✓"),
        (9, "rld\nend ✓"),
        (13, "end ✓"),
        (17, "✓"),
        (20, ""),
        (100, ""),
    ] {
        assert_eq!(s.read_logs(id, from).await.unwrap(), want, "logs from byte {from}");
    }
    // An offset inside a character starts at the next one.
    assert_eq!(s.read_logs(id, 8).await.unwrap(), "rld\nend ✓");

    s.append_logs(id, 20, "!").await.unwrap();
    assert_eq!(s.read_logs(id, 20).await.unwrap(), "!");
    assert_eq!(s.read_logs(JobId::new(), 0).await.unwrap(), "", "an unknown job has no logs");
    assert_eq!(s.read_stream(id, 0).await.unwrap(), "", "logs are not the stream");
}

pub async fn stream_apart_from_logs(s: Arc<dyn Store>) {
    let id = enqueue_one(&*s, new_job()).await;
    write_three_chunks(&*s, id, false).await;
    s.append_logs(id, 0, "a log line\n").await.unwrap();
    assert_eq!(s.read_stream(id, 0).await.unwrap(), "hello wörld\nend ✓");
    assert_eq!(s.read_stream(id, 9).await.unwrap(), "rld\nend ✓");
    assert_eq!(s.read_stream(id, 17).await.unwrap(), "✓");
    assert_eq!(s.read_stream(id, 20).await.unwrap(), "");
    assert_eq!(s.read_logs(id, 0).await.unwrap(), "a log line\n");
}

/// What a sync caller reads once its job ended: the job and its stream, in
/// one read; nothing for another workspace's job; an empty stream for a job
/// that streamed nothing.
pub async fn job_with_its_stream(s: Arc<dyn Store>) {
    let id = enqueue_one(&*s, new_job()).await;
    write_three_chunks(&*s, id, false).await;
    let (job, stream) = s.get_job_and_stream(&ws("demo"), id).await.unwrap().expect("the job");
    assert_eq!((job.id, stream.as_str()), (id, "hello wörld\nend ✓"));
    assert!(s.get_job_and_stream(&ws("other"), id).await.unwrap().is_none(), "not in another workspace");
    assert!(s.get_job_and_stream(&ws("demo"), JobId::new()).await.unwrap().is_none(), "an unknown job");
    let quiet = enqueue_one(&*s, new_job()).await;
    let (job, stream) = s.get_job_and_stream(&ws("demo"), quiet).await.unwrap().expect("the job");
    assert_eq!((job.id, stream.as_str()), (quiet, ""));
}

pub async fn purge(s: Arc<dyn Store>) {
    let id = enqueue_one(&*s, new_job()).await;
    let kept = enqueue_one(&*s, new_job()).await;
    s.claim(&claim_at("w1", &default_tags(), T0)).await.unwrap().expect("claimed");
    s.append_logs(id, 0, "secret log").await.unwrap();
    s.append_stream(id, 0, "secret stream").await.unwrap();
    s.append_logs(kept, 0, "other log").await.unwrap();
    let result = serde_json::json!({"secret": 1});
    let done = Completion { id, worker: "w1", status: JobStatus::Success, result: &result, now: T0 + 1 };
    assert!(s.complete(&done).await.unwrap());

    s.purge_job(id).await.unwrap();
    let job = s.get_job(&ws("demo"), id).await.unwrap().unwrap();
    assert_eq!((job.args, job.result, job.purged), (None, None, true));
    assert_eq!((job.status, job.completed_at), (JobStatus::Success, Some(T0 + 1)), "the rest stays");
    assert_eq!(s.read_logs(id, 0).await.unwrap(), "");
    assert_eq!(s.read_stream(id, 0).await.unwrap(), "");

    let other = s.get_job(&ws("demo"), kept).await.unwrap().unwrap();
    assert!(!other.purged && other.args.is_some());
    assert_eq!(s.read_logs(kept, 0).await.unwrap(), "other log");
}

fn job_at(id: JobId, at: &str, created_at: Millis) -> NewJob {
    let mut job = new_job();
    (job.id, job.path, job.created_at) = (id, Some(path(at)), created_at);
    job
}

async fn ids(s: &dyn Store, filter: JobFilter) -> Vec<JobId> {
    s.list_jobs(&ws("demo"), &filter).await.unwrap().into_iter().map(|j| j.id).collect()
}

pub async fn list_filters(s: Arc<dyn Store>) {
    let [j1, j2, j3, j5] = [nth_id(1), nth_id(2), nth_id(10), nth_id(11)];
    let webhook = orvanta_core::Trigger::parse("webhook").unwrap();
    let mut second = job_at(j2, "u/admin/b", T0 + 2);
    (second.trigger, second.created_by, second.parent_job) = (webhook.clone(), user("alice"), Some(j1));
    let mut third = job_at(j3, "u/admin/a", T0 + 3);
    (third.trigger, third.created_by, third.tag) = (webhook, user("alice"), "special".into());
    let mut elsewhere = job_at(nth_id(4), "u/admin/a", T0 + 4);
    elsewhere.workspace = ws("other");
    let all = [job_at(j1, "u/admin/a", T0 + 1), second, third, job_at(j5, "u/admin/c", T0 + 3), elsewhere];
    s.enqueue(&all).await.unwrap();
    let special = vec!["special".to_owned()];
    assert_eq!(s.claim(&claim_at("w1", &special, T0 + 5)).await.unwrap().map(|j| j.id), Some(j3));

    let f = JobFilter::default;
    assert_eq!(ids(&*s, f()).await, [j5, j3, j2, j1], "newest first, then by id descending");
    assert_eq!(ids(&*s, JobFilter { path: Some(path("u/admin/a")), ..f() }).await, [j3, j1]);
    assert_eq!(ids(&*s, JobFilter { statuses: vec![JobStatus::Running], ..f() }).await, [j3]);
    assert_eq!(ids(&*s, JobFilter { statuses: vec![JobStatus::Queued], ..f() }).await, [j5, j2, j1]);
    assert_eq!(ids(&*s, JobFilter { trigger: Some("webhook".into()), ..f() }).await, [j3, j2]);
    assert_eq!(ids(&*s, JobFilter { created_by: Some(user("alice")), ..f() }).await, [j3, j2]);
    assert_eq!(ids(&*s, JobFilter { since: Some(T0 + 2), ..f() }).await, [j5, j3, j2]);
    assert_eq!(ids(&*s, JobFilter { before: Some(T0 + 3), ..f() }).await, [j2, j1]);
    assert_eq!(ids(&*s, JobFilter { since: Some(T0 + 2), before: Some(T0 + 3), ..f() }).await, [j2]);
    assert_eq!(ids(&*s, JobFilter { parent_job: Some(j1), ..f() }).await, [j2]);
    let both = JobFilter { path: Some(path("u/admin/a")), created_by: Some(user("alice")), ..f() };
    assert_eq!(ids(&*s, both).await, [j3]);
    assert!(ids(&*s, JobFilter { path: Some(path("u/admin/none")), ..f() }).await.is_empty());
    assert_eq!(s.list_jobs(&ws("other"), &f()).await.unwrap().len(), 1);
    // Windmill's filters: a path prefix (taken literally), any of some statuses or kinds, root jobs only.
    assert_eq!(ids(&*s, JobFilter { path_prefix: Some("u/admin/".into()), ..f() }).await, [j5, j3, j2, j1]);
    assert_eq!(ids(&*s, JobFilter { path_prefix: Some("u/admin/c".into()), ..f() }).await, [j5]);
    assert!(ids(&*s, JobFilter { path_prefix: Some("u/admin/%".into()), ..f() }).await.is_empty());
    let either = JobFilter { statuses: vec![JobStatus::Running, JobStatus::Success], ..f() };
    assert_eq!(ids(&*s, either).await, [j3]);
    assert_eq!(ids(&*s, JobFilter { kinds: vec![orvanta_core::JobKind::Script], ..f() }).await, [j5, j3, j2, j1]);
    assert!(ids(&*s, JobFilter { kinds: vec![orvanta_core::JobKind::Flow], ..f() }).await.is_empty());
    assert_eq!(ids(&*s, JobFilter { root_only: true, ..f() }).await, [j5, j3, j1]);
    let hash = new_job().script_hash;
    assert_eq!(ids(&*s, JobFilter { script_hash: hash, ..f() }).await.len(), 4);
}

pub async fn list_paging(s: Arc<dyn Store>) {
    let jobs: Vec<NewJob> = (0..150).map(|i| job_at(JobId::new(), "u/admin/a", T0 + i)).collect();
    s.enqueue(&jobs).await.unwrap();
    let page = |limit, offset| JobFilter { limit, offset, ..JobFilter::default() };
    let newest: Vec<JobId> = jobs.iter().rev().map(|j| j.id).collect();

    assert_eq!(ids(&*s, page(2, 0)).await, newest[..2]);
    assert_eq!(ids(&*s, page(2, 2)).await, newest[2..4]);
    assert_eq!(ids(&*s, page(10, 145)).await, newest[145..]);
    assert!(ids(&*s, page(10, 150)).await.is_empty());
    assert_eq!(ids(&*s, page(0, 0)).await.len(), 100, "no limit means 100");
    assert_eq!(ids(&*s, page(-5, 0)).await.len(), 100, "a negative limit means 100");
    assert_eq!(ids(&*s, page(5_000, 0)).await, newest, "at most 1000, here all");
    assert_eq!(ids(&*s, page(3, -4)).await, newest[..3], "a negative offset is 0");
}
