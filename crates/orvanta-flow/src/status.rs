//! A flow run's state as Windmill shows it in `flow_status` (so clients that
//! read Windmill's job JSON read Orvanta's): `step`, and per module its `id`,
//! `type` (`WaitingForPriorSteps`, `WaitingForEvents`, `InProgress`,
//! `Success`, `Failure`), `job`, and where it applies `iterator`,
//! `branch_chosen`, `flow_jobs`, `skipped`, plus Orvanta's `result`.

use crate::state::{FlowState, ModuleState, ModuleStatus};
use orvanta_core::openflow::FlowModule;
use serde_json::{json, Map, Value};

/// `flow_status` of a run of `list` in `state`.
pub fn flow_status(list: &[FlowModule], failure: Option<&FlowModule>, state: &FlowState) -> Value {
    let modules: Vec<Value> = list
        .iter()
        .enumerate()
        .map(|(i, m)| match state.modules.get(i) {
            Some(s) => module(s, m.value.type_name()),
            None => json!({"id": m.id, "type": "WaitingForPriorSteps", "module_type": m.value.type_name()}),
        })
        .collect();
    let mut out = Map::new();
    out.insert("step".into(), json!(state.step));
    out.insert("modules".into(), Value::Array(modules));
    if let Some(f) = failure {
        let v = match &state.failure {
            Some(s) => module(s, f.value.type_name()),
            None => json!({"id": f.id, "type": "WaitingForPriorSteps", "module_type": f.value.type_name()}),
        };
        out.insert("failure_module".into(), v);
    }
    if let Some(s) = &state.suspend {
        out.insert(
            "suspend".into(),
            json!({"step": s.module, "required_events": s.required, "received_events": s.events.len(), "until": s.until}),
        );
    }
    Value::Object(out)
}

fn module(s: &ModuleState, kind: &str) -> Value {
    let ty = match s.status {
        // A waitforwebhook step runs no job: it waits for an event.
        ModuleStatus::Running if kind == "waitforwebhook" => "WaitingForEvents",
        ModuleStatus::Running => "InProgress",
        ModuleStatus::Suspended => "WaitingForEvents",
        ModuleStatus::Success | ModuleStatus::Skipped => "Success",
        ModuleStatus::Failure => "Failure",
    };
    let mut v = json!({"id": s.id, "type": ty, "module_type": kind});
    let o = v.as_object_mut().expect("an object");
    if let Some(job) = s.job {
        o.insert("job".into(), json!(job));
    }
    if s.status == ModuleStatus::Skipped {
        o.insert("skipped".into(), json!(true));
    }
    if let Some(it) = &s.iter {
        o.insert("iterator".into(), json!({"index": it.done, "total": it.total, "failed": it.failed}));
    }
    if let Some(b) = s.branch {
        let chosen = match b {
            crate::state::BranchChosen::Branch(k) => json!({"type": "branch", "branch": k}),
            crate::state::BranchChosen::Default => json!({"type": "default"}),
        };
        o.insert("branch_chosen".into(), chosen);
    }
    if s.attempts > 0 {
        o.insert("retries".into(), json!(s.attempts));
    }
    if let Some(r) = &s.result {
        o.insert("result".into(), r.clone());
    }
    if let Some(t) = s.started_at {
        o.insert("started_at".into(), json!(orvanta_core::millis_to_rfc3339(t)));
    }
    if let Some(t) = s.completed_at {
        o.insert("completed_at".into(), json!(orvanta_core::millis_to_rfc3339(t)));
    }
    v
}
