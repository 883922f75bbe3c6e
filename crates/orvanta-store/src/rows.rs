//! Rows as both databases return them, and their conversion to domain types.
//!
//! The two backends share these structs (the column types are chosen so that
//! one `FromRow` fits both), so a row parses the same way whichever database
//! it came from.

use crate::packed::StoredText;
use crate::types::{Role, TokenRecord, User, Workspace};
use crate::StoreError;
use orvanta_core::{
    Flow, FlowVersion, Job, JobId, JobKind, JobStatus, Language, RunnablePath, Script, ScriptHash, ScriptSettings,
    Trigger, Username, WorkspaceId,
};

/// The job columns, in the order every job query selects them.
pub(crate) const JOB_COLUMNS: &str = "id, workspace, kind, path, script_hash, language, args, created_by, \
     permissioned_as, tag, trigger, status, created_at, scheduled_for, started_at, completed_at, result, \
     parent_job, timeout_s, worker, retries, cancel_requested, purged, token_prefix, flow_version, flow_node, \
     step_id, flow_index, root_job, flow_state, flow_rev, scopes, concurrency_key, concurrency_limit";

/// The script columns, in the order every script query selects them.
pub(crate) const SCRIPT_COLUMNS: &str = "hash, workspace, path, parent_hash, language, content, summary, \
     description, schema, settings, created_by, created_at, archived";

#[derive(sqlx::FromRow)]
pub(crate) struct JobRow {
    id: String,
    workspace: String,
    kind: String,
    path: Option<String>,
    script_hash: Option<String>,
    language: Option<String>,
    args: Option<StoredText>,
    created_by: String,
    permissioned_as: String,
    tag: String,
    trigger: String,
    status: String,
    created_at: i64,
    scheduled_for: i64,
    started_at: Option<i64>,
    completed_at: Option<i64>,
    result: Option<StoredText>,
    parent_job: Option<String>,
    timeout_s: Option<i64>,
    worker: Option<String>,
    retries: i32,
    cancel_requested: Option<String>,
    purged: bool,
    token_prefix: Option<String>,
    flow_version: Option<i64>,
    flow_node: Option<String>,
    step_id: Option<String>,
    flow_index: Option<i64>,
    root_job: Option<String>,
    flow_state: Option<StoredText>,
    flow_rev: i64,
    scopes: Option<String>,
    concurrency_key: Option<String>,
    concurrency_limit: Option<i64>,
}

fn json(s: Option<String>) -> Result<Option<serde_json::Value>, StoreError> {
    s.map(|s| orvanta_core::json::parse_stored(&s).map_err(|e| StoreError::Corrupt(format!("stored JSON: {e}"))))
        .transpose()
}

/// A stored JSON value, for other modules of the store.
pub(crate) fn stored_json(s: &str) -> Result<serde_json::Value, StoreError> {
    orvanta_core::json::parse_stored(s).map_err(|e| StoreError::Corrupt(format!("stored JSON: {e}")))
}

/// A job's stored JSON (args, result). What cannot be read must not take a
/// listing or a worker down with it: the value becomes a string that says
/// so, and the log has the job.
fn job_json(id: &str, field: &str, s: Option<String>) -> Option<serde_json::Value> {
    json(s).unwrap_or_else(|e| Some(unreadable(id, field, &e)))
}

/// [`job_json`] of a value as the store read it (text, or unpacked).
pub(crate) fn stored_job_json(id: &str, field: &str, s: Option<StoredText>) -> Option<serde_json::Value> {
    match s?.0 {
        Ok(text) => job_json(id, field, Some(text)),
        Err(e) => Some(unreadable(id, field, &e)),
    }
}

/// What a job's field says when its stored value cannot be read (logged).
fn unreadable(id: &str, field: &str, e: &dyn std::fmt::Display) -> serde_json::Value {
    tracing::error!(job = id, field, error = %e, "a stored value of this job cannot be read");
    serde_json::Value::String(format!("[orvanta: the stored {field} of this job cannot be read: {e}]"))
}

impl TryFrom<JobRow> for Job {
    type Error = StoreError;
    fn try_from(r: JobRow) -> Result<Self, StoreError> {
        Ok(Job {
            id: JobId::parse(&r.id)?,
            workspace: WorkspaceId::parse(&r.workspace)?,
            kind: JobKind::parse(&r.kind)?,
            path: r.path.as_deref().map(RunnablePath::parse).transpose()?,
            script_hash: r.script_hash.as_deref().map(ScriptHash::parse).transpose()?,
            language: r.language.as_deref().map(Language::parse).transpose()?,
            args: stored_job_json(&r.id, "args", r.args),
            created_by: Username::parse(&r.created_by)?,
            permissioned_as: Username::parse(&r.permissioned_as)?,
            tag: r.tag,
            trigger: Trigger::parse(&r.trigger)?,
            status: JobStatus::parse(&r.status)?,
            created_at: r.created_at,
            scheduled_for: r.scheduled_for,
            started_at: r.started_at,
            completed_at: r.completed_at,
            result: stored_job_json(&r.id, "result", r.result),
            parent_job: r.parent_job.as_deref().map(JobId::parse).transpose()?,
            timeout_s: r.timeout_s.map(|t| t.max(0) as u64),
            worker: r.worker,
            retries: r.retries,
            cancel_requested: r.cancel_requested,
            purged: r.purged,
            token_prefix: r.token_prefix,
            // Unreadable scopes grant nothing.
            scopes: r.scopes.as_deref().map(|s| serde_json::from_str(s).unwrap_or_default()),
            concurrency: match (r.concurrency_key, r.concurrency_limit) {
                (Some(key), Some(limit)) => {
                    Some(orvanta_core::Concurrency { key, limit: u32::try_from(limit.max(1)).unwrap_or(u32::MAX) })
                }
                _ => None,
            },
            flow: match (r.flow_version, &r.root_job) {
                (Some(v), Some(root)) => Some(orvanta_core::FlowLink {
                    version: orvanta_core::FlowVersion::from_i64(v),
                    node: r.flow_node.clone().unwrap_or_default(),
                    step_id: r.step_id.clone(),
                    index: r.flow_index,
                    root: JobId::parse(root)?,
                }),
                _ => None,
            },
            flow_state: stored_job_json(&r.id, "flow_state", r.flow_state),
            flow_rev: r.flow_rev,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ScriptRow {
    hash: String,
    workspace: String,
    path: String,
    parent_hash: Option<String>,
    language: String,
    content: String,
    summary: String,
    description: String,
    schema: String,
    settings: String,
    created_by: String,
    created_at: i64,
    archived: bool,
}

impl TryFrom<ScriptRow> for Script {
    type Error = StoreError;
    fn try_from(r: ScriptRow) -> Result<Self, StoreError> {
        let settings: ScriptSettings = orvanta_core::json::parse_stored(&r.settings)
            .map_err(|e| StoreError::Corrupt(format!("script settings: {e}")))?;
        Ok(Script {
            workspace: WorkspaceId::parse(&r.workspace)?,
            path: RunnablePath::parse(&r.path)?,
            hash: ScriptHash::parse(&r.hash)?,
            parent_hash: r.parent_hash.as_deref().map(ScriptHash::parse).transpose()?,
            language: Language::parse(&r.language)?,
            content: r.content,
            summary: r.summary,
            description: r.description,
            schema: json(Some(r.schema))?.unwrap_or_default(),
            settings,
            created_by: Username::parse(&r.created_by)?,
            created_at: r.created_at,
            archived: r.archived,
        })
    }
}

/// The flow columns, in the order every flow query selects them.
pub(crate) const FLOW_COLUMNS: &str =
    "version, workspace, path, summary, description, value, schema, created_by, created_at, archived";

#[derive(sqlx::FromRow)]
pub(crate) struct FlowRow {
    version: i64,
    workspace: String,
    path: String,
    summary: String,
    description: String,
    value: String,
    schema: String,
    created_by: String,
    created_at: i64,
    archived: bool,
}

impl TryFrom<FlowRow> for Flow {
    type Error = StoreError;
    fn try_from(r: FlowRow) -> Result<Self, StoreError> {
        Ok(Flow {
            workspace: WorkspaceId::parse(&r.workspace)?,
            path: RunnablePath::parse(&r.path)?,
            version: FlowVersion::from_i64(r.version),
            summary: r.summary,
            description: r.description,
            value: json(Some(r.value))?.unwrap_or_default(),
            schema: json(Some(r.schema))?.unwrap_or_default(),
            created_by: Username::parse(&r.created_by)?,
            created_at: r.created_at,
            archived: r.archived,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct WorkspaceRow {
    id: String,
    name: String,
    created_by: String,
    created_at: i64,
}

impl TryFrom<WorkspaceRow> for Workspace {
    type Error = StoreError;
    fn try_from(r: WorkspaceRow) -> Result<Self, StoreError> {
        Ok(Workspace {
            id: WorkspaceId::parse(&r.id)?,
            name: r.name,
            created_by: Username::parse(&r.created_by)?,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserRow {
    username: String,
    email: String,
    name: Option<String>,
    password_hash: String,
    super_admin: bool,
    created_at: i64,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;
    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(User {
            username: Username::parse(&r.username)?,
            email: r.email,
            name: r.name,
            password_hash: r.password_hash,
            super_admin: r.super_admin,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TokenRow {
    hash: String,
    prefix: String,
    owner: String,
    label: String,
    created_at: i64,
    expires_at: Option<i64>,
    last_used_at: Option<i64>,
    scopes: Option<String>,
    workspace: Option<String>,
    kind: String,
}

impl TryFrom<TokenRow> for TokenRecord {
    type Error = StoreError;
    fn try_from(r: TokenRow) -> Result<Self, StoreError> {
        let scopes = match r.scopes {
            Some(s) => Some(serde_json::from_str(&s).map_err(|e| StoreError::Corrupt(format!("token scopes: {e}")))?),
            None => None,
        };
        Ok(TokenRecord {
            hash: r.hash,
            prefix: r.prefix,
            owner: Username::parse(&r.owner)?,
            label: r.label,
            created_at: r.created_at,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            scopes,
            workspace: r.workspace.as_deref().map(WorkspaceId::parse).transpose()?,
            session: r.kind == "session",
        })
    }
}

pub(crate) fn parse_role(s: &str) -> Result<Role, StoreError> {
    Role::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown role '{s}'")))
}

/// Converts a list of rows, failing on the first that does not parse.
pub(crate) fn convert<R, T: TryFrom<R, Error = StoreError>>(rows: Vec<R>) -> Result<Vec<T>, StoreError> {
    rows.into_iter().map(T::try_from).collect()
}

/// JSON text of scopes for the `tokens.scopes` column.
pub(crate) fn scopes_text(scopes: &Option<Vec<String>>) -> Option<String> {
    scopes.as_ref().map(|s| serde_json::Value::from(s.clone()).to_string())
}

/// The idempotency scope of a job: its runnable.
pub(crate) fn runnable_key(job: &orvanta_core::NewJob) -> String {
    match (&job.path, &job.script_hash) {
        (Some(p), _) => format!("p/{p}"),
        (None, Some(h)) => format!("h/{h}"),
        (None, None) => String::new(),
    }
}

/// How long an idempotency key holds: 24 hours.
pub(crate) const IDEMPOTENCY_WINDOW_MS: i64 = 24 * 3600 * 1000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreadable_stored_value_becomes_a_note_not_an_error() {
        let deep = format!("{}{}", "[".repeat(300), "]".repeat(300));
        let v = job_json("j1", "args", Some(deep)).unwrap();
        assert!(v.as_str().is_some_and(|s| s.contains("cannot be read")), "{v}");
        assert_eq!(job_json("j1", "args", Some("{\"a\": 1}".into())), Some(serde_json::json!({"a": 1})));
        assert_eq!(job_json("j1", "result", None), None);
        // What the API accepts (128 levels and a wrapper) reads back whole.
        let wrapped = format!("{{\"body\": {}{}}}", "[".repeat(127), "]".repeat(127));
        assert!(job_json("j1", "args", Some(wrapped)).unwrap().is_object());
    }
}

/// The hook columns, in the order every hook query selects them.
pub(crate) const HOOK_COLUMNS: &str =
    "id, workspace, name, config, url_verified, created_by, COALESCE(edited_by, created_by) AS edited_by, created_at, updated_at";

#[derive(sqlx::FromRow)]
pub(crate) struct HookRow {
    id: String,
    workspace: String,
    name: String,
    config: String,
    url_verified: bool,
    created_by: String,
    edited_by: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<HookRow> for crate::Hook {
    type Error = StoreError;
    fn try_from(r: HookRow) -> Result<Self, StoreError> {
        Ok(crate::Hook {
            id: r.id,
            workspace: WorkspaceId::parse(&r.workspace)?,
            name: r.name,
            config: json(Some(r.config))?.unwrap_or_default(),
            url_verified: r.url_verified,
            created_by: Username::parse(&r.created_by)?,
            edited_by: Username::parse(&r.edited_by)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

/// The hook event columns, in the order every event query selects them.
pub(crate) const HOOK_EVENT_COLUMNS: &str = "id, hook_id, workspace, event_id, received_at, outcome, reason, \
     headers_matched, method, query, headers, body, jobs, waits, replay_of, body_format";

#[derive(sqlx::FromRow)]
pub(crate) struct HookEventRow {
    id: String,
    hook_id: String,
    workspace: String,
    event_id: String,
    received_at: i64,
    outcome: String,
    reason: Option<String>,
    headers_matched: Option<bool>,
    method: String,
    query: String,
    headers: String,
    body: Vec<u8>,
    jobs: String,
    waits: String,
    replay_of: Option<String>,
    body_format: i32,
}

impl TryFrom<HookEventRow> for crate::HookEvent {
    type Error = StoreError;
    fn try_from(r: HookEventRow) -> Result<Self, StoreError> {
        let id = r.id.clone();
        Ok(crate::HookEvent {
            id: r.id,
            hook_id: r.hook_id,
            workspace: WorkspaceId::parse(&r.workspace)?,
            event_id: r.event_id,
            received_at: r.received_at,
            outcome: r.outcome,
            reason: r.reason,
            headers_matched: r.headers_matched,
            method: r.method,
            query: r.query,
            headers: json(Some(r.headers))?.unwrap_or_default(),
            body: crate::packed::stored_body(&id, r.body, r.body_format),
            jobs: json(Some(r.jobs))?.unwrap_or_default(),
            waits: json(Some(r.waits))?.unwrap_or_default(),
            replay_of: r.replay_of,
        })
    }
}

pub(crate) const HOOK_WAIT_COLUMNS: &str =
    "job_id, hook_id, workspace, flow_job, step_id, matches, deadline, created_at";

#[derive(sqlx::FromRow)]
pub(crate) struct HookWaitRow {
    job_id: String,
    hook_id: String,
    workspace: String,
    flow_job: String,
    step_id: String,
    matches: String,
    deadline: Option<i64>,
    created_at: i64,
}

impl TryFrom<HookWaitRow> for crate::HookWait {
    type Error = StoreError;
    fn try_from(r: HookWaitRow) -> Result<Self, StoreError> {
        Ok(crate::HookWait {
            job: JobId::parse(&r.job_id)?,
            hook_id: r.hook_id,
            workspace: WorkspaceId::parse(&r.workspace)?,
            flow: JobId::parse(&r.flow_job)?,
            step_id: r.step_id,
            matches: json(Some(r.matches))?.unwrap_or_default(),
            deadline: r.deadline,
            created_at: r.created_at,
        })
    }
}
