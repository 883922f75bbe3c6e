//! How scripts and jobs look in API answers.

use orvanta_core::{millis_to_rfc3339, Job, JobStatus, Script};
use serde_json::{json, Value};

/// A script version as JSON.
pub fn script(s: &Script) -> Value {
    json!({
        "workspace_id": s.workspace,
        "hash": s.hash.to_string(),
        "path": s.path,
        "parent_hash": s.parent_hash.map(|h| h.to_string()),
        "parent_hashes": s.parent_hash.map(|h| vec![h.to_string()]).unwrap_or_default(),
        "language": s.language,
        "content": s.content,
        "summary": s.summary,
        "description": s.description,
        "schema": s.schema,
        "delete_after_use": s.settings.delete_after_use,
        "timeout_s": s.settings.timeout_s,
        "tag": s.settings.tag,
        "error_status_code": s.settings.error_status_code,
        "concurrency_limit": s.settings.concurrency_limit,
        "warm": s.settings.warm.unwrap_or(true),
        "memory_bytes": s.settings.memory_bytes,
        "max_processes": s.settings.max_processes,
        "file_size_bytes": s.settings.file_size_bytes,
        "created_by": s.created_by,
        "created_at": millis_to_rfc3339(s.created_at),
        "archived": s.archived,
    })
}

/// A script version in lists: everything but the content.
pub fn script_summary(s: &Script) -> Value {
    let mut v = script(s);
    if let Some(o) = v.as_object_mut() {
        o.remove("content");
    }
    v
}

/// A job as JSON.
pub fn job(j: &Job) -> Value {
    let duration_ms = match (j.started_at, j.completed_at) {
        (Some(s), Some(c)) => Some(c - s),
        _ => None,
    };
    json!({
        "id": j.id,
        "workspace_id": j.workspace,
        "type": if j.status.is_final() { "CompletedJob" } else { "QueuedJob" },
        "job_kind": j.kind.as_str(),
        "script_path": j.path,
        "script_hash": j.script_hash.map(|h| h.to_string()),
        "language": j.language,
        "args": j.args,
        "created_by": j.created_by,
        "permissioned_as": j.permissioned_as,
        "tag": j.tag,
        "trigger": j.trigger,
        "status": j.status,
        "running": j.status == JobStatus::Running,
        "success": if j.status.is_final() { Some(j.status == JobStatus::Success) } else { None },
        "canceled": j.status == JobStatus::Canceled,
        "cancel_requested": j.cancel_requested,
        "created_at": millis_to_rfc3339(j.created_at),
        "scheduled_for": millis_to_rfc3339(j.scheduled_for),
        "started_at": j.started_at.map(millis_to_rfc3339),
        "completed_at": j.completed_at.map(millis_to_rfc3339),
        "duration_ms": duration_ms,
        "result": j.result,
        "parent_job": j.parent_job,
        "worker": j.worker,
        "retries": j.retries,
        "deleted": j.purged,
        "is_flow_step": j.kind == orvanta_core::JobKind::FlowStep,
        "flow_version": j.flow.as_ref().map(|l| l.version),
        "flow_step_id": j.flow.as_ref().and_then(|l| l.step_id.clone()),
        "root_job": j.flow.as_ref().map(|l| l.root),
    })
}

/// A flow run as JSON: the job, with its `flow_status` (Windmill's shape)
/// and, for a run of a whole flow, its `raw_flow`.
pub fn flow_job(j: &Job, def: Option<&crate::flows::Def>) -> Value {
    let mut v = job(j);
    let state = orvanta_flow::FlowState::from_json(j.flow_state.as_ref());
    let node = j.flow.as_ref().map(|l| l.node.as_str()).unwrap_or("");
    let (list, failure) = match def {
        Some(d) => (
            orvanta_flow::locate::list(&d.value, node).unwrap_or(&[]),
            if node.is_empty() { d.value.failure_module.as_deref() } else { None },
        ),
        None => (&[][..], None),
    };
    if let Some(o) = v.as_object_mut() {
        o.insert("flow_status".into(), orvanta_flow::status::flow_status(list, failure, &state));
        if let (Some(d), true) = (def, node.is_empty()) {
            o.insert("raw_flow".into(), d.raw.clone());
        }
    }
    v
}
