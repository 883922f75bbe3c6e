//! The repair pass: a flow run whose step ended without the run hearing of
//! it (the process died between a sweep and the advance that follows) is
//! found and advanced; one that did hear is left as it is.

use orvanta_core::{
    FlowLink, JobId, JobKind, JobStatus, NewFlow, NewJob, RunnablePath, Trigger, Username, WorkspaceId,
};
use orvanta_server::flows::{Engine, FlowDefs};
use orvanta_store::{Claim, Completion, NewWorkspace};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flow_that_missed_its_steps_end_is_advanced_by_the_repair_pass() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("o.db").display());
    let store = orvanta_store::connect(&url, &Default::default()).await.unwrap();
    let ws = WorkspaceId::parse("demo").unwrap();
    let admin = Username::parse("admin").unwrap();
    store
        .create_workspace(&NewWorkspace { id: ws.clone(), name: "d".into(), created_by: admin.clone(), created_at: 0 })
        .await
        .unwrap();
    let path = RunnablePath::parse("u/admin/f").unwrap();
    let step = |id: &str| json!({"id": id, "value": {"type": "rawscript", "language": "bash", "content": "echo 1"}});
    let flow = NewFlow {
        workspace: ws.clone(),
        path: path.clone(),
        summary: String::new(),
        description: String::new(),
        value: json!({"modules": [step("a"), step("b")]}),
        schema: json!({}),
        created_by: admin.clone(),
        created_at: 0,
    };
    let version = store.insert_flow(&flow, None).await.unwrap();
    let id = JobId::new();
    let now = orvanta_core::now_millis();
    let job = NewJob {
        id,
        workspace: ws.clone(),
        kind: JobKind::Flow,
        path: Some(path),
        script_hash: None,
        language: None,
        args: json!({}).into(),
        created_by: admin.clone(),
        permissioned_as: admin,
        tag: "default".into(),
        trigger: Trigger::parse("api").unwrap(),
        scheduled_for: now,
        parent_job: None,
        timeout_s: None,
        idempotency_key: None,
        created_at: now,
        token_prefix: None,
        scopes: None,
        concurrency: None,
        flow: Some(FlowLink { version, node: String::new(), step_id: None, index: None, root: id }),
    };
    store.enqueue(&[job]).await.unwrap();
    let defs = FlowDefs::default();
    let engine = Engine { store: &*store, defs: &defs };
    let tags = vec!["default".to_owned()];
    // Claims a little later than `now`: the steps are due from when the engine made them.
    let claim = |at: i64| Claim { worker: "w", tags: &tags, now: at + 5_000, lease_until: at + 60_000 };
    let flow_job = store.claim(&claim(now)).await.unwrap().expect("the flow");
    engine.start(flow_job).await.unwrap();

    // Step a ends, a minute ago, and its flow does not hear of it.
    let a = store.claim(&claim(now)).await.unwrap().expect("step a");
    let result = json!(1);
    let done = Completion { id: a.id, worker: "w", status: JobStatus::Success, result: &result, now: now - 60_000 };
    assert!(store.complete(&done).await.unwrap());
    assert!(store.claim(&claim(now)).await.unwrap().is_none(), "b is not queued: the flow missed a's end");

    orvanta_server::worker::repair_flows(&engine, &*store).await;
    let b = store.claim(&claim(now)).await.unwrap().expect("the repair advanced the flow to b");
    assert_eq!(b.flow.as_ref().and_then(|l| l.step_id.as_deref()), Some("b"));
    // A second pass changes nothing: the run heard of a's end.
    orvanta_server::worker::repair_flows(&engine, &*store).await;
    assert!(store.claim(&claim(now)).await.unwrap().is_none());
    let run = store.get_job(&ws, id).await.unwrap().unwrap();
    assert_eq!(run.status, JobStatus::Running);
}
