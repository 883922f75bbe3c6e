//! The flow engine's commit: a finished step, the flow's new state and the
//! next step(s) in one transaction, all or nothing; parked iterations made
//! due; an ended run taking its leftovers with it; cancel of a run
//! cascading to everything it started; wake times.

use crate::fixtures::*;
use orvanta_core::{FlowLink, FlowVersion, JobId, JobKind, JobStatus, NewJob};
use orvanta_store::{
    Activation, CancelOutcome, Finish, FlowCommit, FlowCommitted, FlowUpdate, JobEvent, Store, PARKED,
};
use serde_json::json;
use std::sync::Arc;

fn flow_job() -> NewJob {
    let mut j = new_job();
    j.kind = JobKind::Flow;
    (j.script_hash, j.language, j.timeout_s) = (None, None, None);
    j.flow = Some(FlowLink {
        version: FlowVersion::from_i64(1),
        node: String::new(),
        step_id: None,
        index: None,
        root: j.id,
    });
    j
}

fn child(parent: JobId, kind: JobKind, step: &str, index: Option<i64>) -> NewJob {
    let mut j = new_job();
    j.kind = kind;
    j.parent_job = Some(parent);
    j.flow = Some(FlowLink {
        version: FlowVersion::from_i64(1),
        node: String::new(),
        step_id: Some(step.into()),
        index,
        root: parent,
    });
    j
}

fn update(id: JobId, rev: i64, state: serde_json::Value) -> FlowUpdate {
    FlowUpdate { id, rev, state: state.to_string(), wake_at: None, end: None }
}

/// Enqueues a flow and claims it as `w1`; answers its id.
async fn started_flow(s: &dyn Store) -> JobId {
    let id = enqueue_one(s, flow_job()).await;
    let claimed = s.claim(&claim_at("w1", &default_tags(), T0)).await.unwrap().expect("the flow is claimed");
    assert_eq!(claimed.id, id);
    id
}

/// A repetitive JSON value of about `kb` kB (SQLite packs such values).
fn large(kb: usize, tag: &str) -> serde_json::Value {
    let commit = json!({"url": format!("https://github.com/orvanta/orvanta/commit/{tag}"), "message": "fix the queue"});
    json!({"tag": tag, "commits": vec![commit; kb * 1024 / 90], "ünïcode": "✓"})
}

/// Values large enough to be packed on SQLite (arguments, a step's result,
/// a flow state, a run's result) come back as written on every path that
/// writes or reads them: enqueue and claim, a step's end in a flow commit,
/// the children's results, a run's end, a plain job's end.
pub async fn large_values_come_back_as_written(s: Arc<dyn Store>) {
    let mut run = flow_job();
    let args = large(6, "args");
    run.args = args.clone().into();
    let flow = enqueue_one(&*s, run).await;
    let claimed = s.claim(&claim_at("w1", &default_tags(), T0)).await.unwrap().expect("the flow is claimed");
    assert_eq!(claimed.args.as_ref(), Some(&args), "claimed");
    let mut a = child(flow, JobKind::FlowStep, "a", None);
    a.args = large(5, "step args").into();
    let a_id = a.id;
    let start = FlowCommit {
        flows: vec![update(flow, 0, large(4, "state 1"))],
        enqueue: vec![a],
        now: T0,
        ..Default::default()
    };
    assert_eq!(s.commit_flow(&start).await.unwrap(), FlowCommitted::Done);
    let step = s.claim(&claim_at("w2", &default_tags(), T0 + 1)).await.unwrap().expect("the step");
    assert_eq!(step.args, Some(large(5, "step args")));
    let end = FlowCommit {
        finish: Some(Finish {
            id: a_id,
            worker: "w2".into(),
            status: JobStatus::Success,
            result: large(7, "result a"),
        }),
        flows: vec![FlowUpdate {
            id: flow,
            rev: 1,
            state: large(8, "state 2").to_string(),
            wake_at: None,
            end: Some((JobStatus::Success, large(3, "run result"))),
        }],
        now: T0 + 2,
        ..Default::default()
    };
    assert_eq!(s.commit_flow(&end).await.unwrap(), FlowCommitted::Done);
    let children = s.flow_children(flow, Some("a")).await.unwrap();
    assert_eq!(children[0].result, Some(large(7, "result a")));
    let done = s.job_by_id(flow).await.unwrap().unwrap();
    assert_eq!(
        (done.args, done.result, done.flow_state),
        (Some(args), Some(large(3, "run result")), Some(large(8, "state 2")))
    );
    let mut plain = new_job();
    plain.args = large(5, "plain").into();
    let plain = enqueue_one(&*s, plain).await;
    let claimed = s.claim(&claim_at("w3", &default_tags(), T0 + 3)).await.unwrap().expect("the plain job");
    assert_eq!(claimed.id, plain);
    let result = large(9, "plain result");
    let done =
        orvanta_store::Completion { id: plain, worker: "w3", status: JobStatus::Success, result: &result, now: T0 + 4 };
    assert!(s.complete(&done).await.unwrap());
    assert_eq!(s.job_by_id(plain).await.unwrap().unwrap().result, Some(result));
}

pub async fn a_step_and_the_next_commit_together(s: Arc<dyn Store>) {
    let flow = started_flow(&*s).await;
    let a = child(flow, JobKind::FlowStep, "a", None);
    let a_id = a.id;
    let start = FlowCommit {
        flows: vec![update(flow, 0, json!({"step": 0}))],
        enqueue: vec![a],
        now: T0,
        ..Default::default()
    };
    assert_eq!(s.commit_flow(&start).await.unwrap(), FlowCommitted::Done);
    let parked_flow = s.get_job(&ws("demo"), flow).await.unwrap().unwrap();
    assert_eq!((parked_flow.status, parked_flow.flow_rev), (JobStatus::Running, 1));
    assert_eq!(parked_flow.flow_state, Some(json!({"step": 0})));
    let link = parked_flow.flow.expect("a flow link");
    assert_eq!((link.version.get(), link.root), (1, flow));

    let step = s.claim(&claim_at("w2", &default_tags(), T0 + 1)).await.unwrap().expect("the step is due");
    assert_eq!((step.id, step.kind, step.parent_job), (a_id, JobKind::FlowStep, Some(flow)));
    assert_eq!(step.flow.as_ref().and_then(|l| l.step_id.as_deref()), Some("a"));
    assert!(s.claim(&claim_at("w3", &default_tags(), T0 + 1)).await.unwrap().is_none(), "a parked flow is not claimed");

    let mut rx = s.subscribe();
    let done = FlowCommit {
        finish: Some(Finish { id: a_id, worker: "w2".into(), status: JobStatus::Success, result: json!(42) }),
        flows: vec![FlowUpdate {
            id: flow,
            rev: 1,
            state: json!({"step": 1}).to_string(),
            wake_at: None,
            end: Some((JobStatus::Success, json!(42))),
        }],
        now: T0 + 2,
        ..Default::default()
    };
    assert_eq!(s.commit_flow(&done).await.unwrap(), FlowCommitted::Done);
    expect_event(&mut rx, "the step's completion", |e| *e == JobEvent::Completed(a_id)).await;
    expect_event(&mut rx, "the flow's completion", |e| *e == JobEvent::Completed(flow)).await;
    let f = s.get_job(&ws("demo"), flow).await.unwrap().unwrap();
    assert_eq!((f.status, f.result, f.flow_rev), (JobStatus::Success, Some(json!(42)), 2));
    let a = s.get_job(&ws("demo"), a_id).await.unwrap().unwrap();
    assert_eq!((a.status, a.result), (JobStatus::Success, Some(json!(42))));
}

pub async fn a_stale_state_or_a_lost_step_writes_nothing(s: Arc<dyn Store>) {
    let flow = started_flow(&*s).await;
    let a = child(flow, JobKind::FlowStep, "a", None);
    let a_id = a.id;
    let start =
        FlowCommit { flows: vec![update(flow, 0, json!({"v": 1}))], enqueue: vec![a], now: T0, ..Default::default() };
    assert_eq!(s.commit_flow(&start).await.unwrap(), FlowCommitted::Done);
    s.claim(&claim_at("w2", &default_tags(), T0)).await.unwrap().expect("the step");

    let next = child(flow, JobKind::FlowStep, "b", None);
    let next_id = next.id;
    let stale = FlowCommit {
        finish: Some(Finish { id: a_id, worker: "w2".into(), status: JobStatus::Success, result: json!(1) }),
        flows: vec![update(flow, 0, json!({"v": "stale"}))],
        enqueue: vec![next.clone()],
        now: T0,
        ..Default::default()
    };
    assert_eq!(s.commit_flow(&stale).await.unwrap(), FlowCommitted::Conflict);
    let a = s.get_job(&ws("demo"), a_id).await.unwrap().unwrap();
    assert_eq!(a.status, JobStatus::Running, "the step's completion was not written either");
    assert!(s.get_job(&ws("demo"), next_id).await.unwrap().is_none(), "nor the next step");
    assert_eq!(s.get_job(&ws("demo"), flow).await.unwrap().unwrap().flow_state, Some(json!({"v": 1})));

    let lost = FlowCommit {
        finish: Some(Finish { id: a_id, worker: "someone-else".into(), status: JobStatus::Success, result: json!(1) }),
        flows: vec![update(flow, 1, json!({"v": 2}))],
        enqueue: vec![next],
        now: T0,
        ..Default::default()
    };
    assert_eq!(s.commit_flow(&lost).await.unwrap(), FlowCommitted::Lost);
    assert!(s.get_job(&ws("demo"), next_id).await.unwrap().is_none());
    assert_eq!(s.get_job(&ws("demo"), flow).await.unwrap().unwrap().flow_rev, 1);
}

pub async fn parked_iterations_wait_for_activation(s: Arc<dyn Store>) {
    let flow = started_flow(&*s).await;
    let mut jobs = Vec::new();
    for k in 0..3 {
        let mut it = child(flow, JobKind::Flow, "loop", Some(k));
        if k > 0 {
            it.scheduled_for = PARKED;
        }
        jobs.push(it);
    }
    let ids: Vec<JobId> = jobs.iter().map(|j| j.id).collect();
    let start = FlowCommit { flows: vec![update(flow, 0, json!({}))], enqueue: jobs, now: T0, ..Default::default() };
    assert_eq!(s.commit_flow(&start).await.unwrap(), FlowCommitted::Done);
    let tags = default_tags();
    assert_eq!(s.claim(&claim_at("w", &tags, T0 + 10)).await.unwrap().map(|j| j.id), Some(ids[0]));
    assert!(s.claim(&claim_at("w", &tags, T0 + 10)).await.unwrap().is_none(), "parked iterations are not due");

    let activate = FlowCommit {
        flows: vec![update(flow, 1, json!({"next": 2}))],
        activate: vec![Activation { parent: flow, step_id: "loop".into(), index: 1 }],
        now: T0 + 20,
        ..Default::default()
    };
    assert_eq!(s.commit_flow(&activate).await.unwrap(), FlowCommitted::Done);
    assert_eq!(s.claim(&claim_at("w", &tags, T0 + 20)).await.unwrap().map(|j| j.id), Some(ids[1]));
    assert!(s.claim(&claim_at("w", &tags, T0 + 20)).await.unwrap().is_none());

    let children = s.flow_children(flow, Some("loop")).await.unwrap();
    assert_eq!(children.iter().map(|c| c.index).collect::<Vec<_>>(), [Some(0), Some(1), Some(2)]);
    assert!(s.flow_children(flow, Some("other")).await.unwrap().is_empty());
    assert_eq!(s.flow_children(flow, None).await.unwrap().len(), 3);

    // The run ends: the parked iteration is canceled with it, a running one asked to stop.
    let end = FlowCommit {
        flows: vec![FlowUpdate {
            id: flow,
            rev: 2,
            state: json!({}).to_string(),
            wake_at: None,
            end: Some((JobStatus::Failure, json!({"error": {"name": "E", "message": "m"}}))),
        }],
        now: T0 + 30,
        ..Default::default()
    };
    assert_eq!(s.commit_flow(&end).await.unwrap(), FlowCommitted::Done);
    let left = s.get_job(&ws("demo"), ids[2]).await.unwrap().unwrap();
    assert_eq!(left.status, JobStatus::Canceled);
    let running = s.get_job(&ws("demo"), ids[1]).await.unwrap().unwrap();
    assert_eq!(running.status, JobStatus::Canceled, "a running nested run ends with its parent");
}

pub async fn canceling_a_flow_cancels_what_it_started(s: Arc<dyn Store>) {
    let flow = started_flow(&*s).await;
    let nested = child(flow, JobKind::Flow, "loop", Some(0));
    let nested_id = nested.id;
    let step = child(flow, JobKind::FlowStep, "a", None);
    let step_id = step.id;
    let start = FlowCommit {
        flows: vec![update(flow, 0, json!({}))],
        enqueue: vec![nested, step],
        now: T0,
        ..Default::default()
    };
    assert_eq!(s.commit_flow(&start).await.unwrap(), FlowCommitted::Done);
    let claimed = s.claim(&claim_at("w", &default_tags(), T0)).await.unwrap().unwrap();
    let deep = child(nested_id, JobKind::FlowStep, "inner", None);
    let deep_id = deep.id;
    s.enqueue(&[deep]).await.unwrap();

    let mut rx = s.subscribe();
    assert_eq!(s.cancel(&ws("demo"), flow, "stop it", T0 + 5).await.unwrap(), CancelOutcome::Canceled);
    expect_event(&mut rx, "the flow's end", |e| *e == JobEvent::Completed(flow)).await;
    assert_eq!(s.get_job(&ws("demo"), flow).await.unwrap().unwrap().status, JobStatus::Canceled);
    for id in [nested_id, step_id, deep_id] {
        let j = s.get_job(&ws("demo"), id).await.unwrap().unwrap();
        if id == claimed.id && j.kind == JobKind::FlowStep {
            assert_eq!(j.cancel_requested.as_deref(), Some("stop it"), "a running step is asked to stop");
        } else {
            assert_eq!(j.status, JobStatus::Canceled, "{:?} {}", j.kind, j.id);
        }
    }
    assert!(matches!(s.cancel(&ws("demo"), flow, "again", T0).await.unwrap(), CancelOutcome::AlreadyFinished(_)));
}

pub async fn wake_times_come_due(s: Arc<dyn Store>) {
    let flow = started_flow(&*s).await;
    let suspend = FlowCommit {
        flows: vec![FlowUpdate { wake_at: Some(T0 + 100), ..update(flow, 0, json!({})) }],
        now: T0,
        ..Default::default()
    };
    assert_eq!(s.commit_flow(&suspend).await.unwrap(), FlowCommitted::Done);
    assert!(s.due_flow_wakes(T0 + 99).await.unwrap().is_empty());
    assert_eq!(s.due_flow_wakes(T0 + 100).await.unwrap(), [(ws("demo"), flow)]);
    s.cancel(&ws("demo"), flow, "no", T0 + 101).await.unwrap();
    assert!(s.due_flow_wakes(T0 + 200).await.unwrap().is_empty(), "an ended run has no wake time");
}

pub async fn flow_runs_are_claimed_many_at_once(s: Arc<dyn Store>) {
    let tags = default_tags();
    // Before and between the runs: a script, a run under a concurrency
    // limit, a run not due yet and a run of another tag; none is taken.
    enqueue_one(&*s, new_job()).await;
    let mut runs = Vec::new();
    for k in 0..3 {
        let mut run = flow_job();
        run.scheduled_for = T0 + k;
        runs.push(enqueue_one(&*s, run).await);
    }
    let mut limited = flow_job();
    limited.concurrency = Some(orvanta_core::Concurrency { key: "demo/f/limited".into(), limit: 5 });
    let limited = enqueue_one(&*s, limited).await;
    let mut later = flow_job();
    later.scheduled_for = T0 + 60_000;
    enqueue_one(&*s, later).await;
    let mut other = flow_job();
    other.tag = "gpu".into();
    enqueue_one(&*s, other).await;

    let mut rx = s.subscribe();
    let two = s.claim_flows(&claim_at("w", &tags, T0 + 10), 2).await.unwrap();
    assert_eq!(two.iter().map(|j| j.id).collect::<Vec<_>>(), runs[..2], "the oldest first, `limit` at most");
    assert!(two.iter().all(|j| j.status == JobStatus::Running && j.worker.as_deref() == Some("w")));
    expect_event(&mut rx, "the claim's start", |e| *e == JobEvent::Started(runs[0])).await;
    let rest = s.claim_flows(&claim_at("w", &tags, T0 + 10), 10).await.unwrap();
    assert_eq!(rest.iter().map(|j| j.id).collect::<Vec<_>>(), runs[2..]);
    assert!(s.claim_flows(&claim_at("w", &tags, T0 + 10), 10).await.unwrap().is_empty());
    // The single claim still takes what the many-claim leaves.
    let next = s.claim(&claim_at("w", &tags, T0 + 10)).await.unwrap().expect("the script");
    assert_eq!(next.kind, JobKind::Script);
    let next = s.claim(&claim_at("w", &tags, T0 + 10)).await.unwrap().expect("the limited run");
    assert_eq!(next.id, limited);
    assert!(s.claim(&claim_at("w", &tags, T0 + 10)).await.unwrap().is_none());
}
