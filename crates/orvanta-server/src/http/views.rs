//! How scripts and jobs look in API answers.

use orvanta_core::{millis_to_rfc3339, Job, JobStatus, Script};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A script version as JSON.
pub fn script(s: &Script, extra_perms: &BTreeMap<String, bool>) -> Value {
    json!({
        "extra_perms": extra_perms,
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
        // The rest of Windmill's `Script`, which its clients require.
        "deleted": false,
        "is_template": s.settings.is_template,
        "kind": s.settings.kind.as_deref().unwrap_or("script"),
        "starred": false,
        "has_preprocessor": false,
        "is_draft": false,
        "deployment_message": s.settings.deployment_message,
    })
}

/// A script version in a history: Windmill's `ScriptHistory` and the version.
pub fn script_version(s: &Script) -> Value {
    let mut v = script(s, &BTreeMap::new());
    if let Some(o) = v.as_object_mut() {
        o.remove("content");
        o.insert("script_hash".into(), s.hash.to_string().into());
        o.insert("deployment_msg".into(), s.settings.deployment_message.clone().into());
    }
    v
}

/// A job as JSON, in the shape of Windmill's `CompletedJob` / `QueuedJob`
/// (whose clients parse it): times that are not known yet are left out
/// rather than `null`, a job that ended before it started started when it
/// ended, and `email` is its creator's (`""` when unknown to the caller).
pub fn job(j: &Job, email: &str) -> Value {
    let done = j.status.is_final();
    let started_at = j.started_at.or(if done { j.completed_at } else { None });
    let duration_ms = match (started_at, j.completed_at) {
        (Some(s), Some(c)) => Some((c - s).max(0)),
        _ => None,
    };
    let canceled = j.status == JobStatus::Canceled;
    let mut v = json!({
        "id": j.id,
        "workspace_id": j.workspace,
        "type": if done { "CompletedJob" } else { "QueuedJob" },
        // Windmill's kinds: a step of a flow is a `flowscript`.
        "job_kind": match j.kind { orvanta_core::JobKind::FlowStep => "flowscript", k => k.as_str() },
        "script_path": j.path,
        "script_hash": j.script_hash.map(|h| h.to_string()),
        "language": j.language,
        "args": j.args,
        "created_by": j.created_by,
        "email": email,
        "permissioned_as": format!("u/{}", j.permissioned_as),
        "visible_to_owner": true,
        "tag": j.tag,
        "trigger": j.trigger,
        "status": j.status,
        "running": j.status == JobStatus::Running,
        "success": if done { Some(j.status == JobStatus::Success) } else { None },
        "canceled": canceled,
        "canceled_by": if canceled { Some(&j.created_by) } else { None },
        "canceled_reason": if canceled { j.cancel_requested.as_deref() } else { None },
        "cancel_requested": j.cancel_requested,
        "is_skipped": false,
        "created_at": millis_to_rfc3339(j.created_at),
        "scheduled_for": millis_to_rfc3339(j.scheduled_for),
        "started_at": started_at.map(millis_to_rfc3339),
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
    });
    // Windmill's clients parse these as times or enums, where `null` fails: absent instead.
    if let Some(o) = v.as_object_mut() {
        for key in ["started_at", "completed_at", "duration_ms", "language", "args", "canceled_by", "canceled_reason"] {
            if o.get(key).is_some_and(Value::is_null) {
                o.remove(key);
            }
        }
    }
    v
}

/// A flow run as JSON: the job, with its `flow_status` (Windmill's shape)
/// and, for a run of a whole flow, its `raw_flow`.
pub fn flow_job(j: &Job, email: &str, def: Option<&crate::flows::Def>) -> Value {
    let mut v = job(j, email);
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
