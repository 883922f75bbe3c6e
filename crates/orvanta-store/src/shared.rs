//! Logic both backends share: checks and conversions that do not depend on
//! the SQL dialect, kept here so the two implementations cannot drift.

use crate::{Result, StoreError};
use orvanta_core::{NewScript, RunnablePath, ScriptHash};

/// Checks a save's `parent_hash` against the newest version; answers the parent to store.
pub(crate) fn check_parent(
    path: &RunnablePath,
    given: Option<ScriptHash>,
    newest: Option<ScriptHash>,
) -> Result<Option<ScriptHash>> {
    match (given, newest) {
        (Some(p), Some(n)) if p != n => Err(StoreError::Conflict(format!(
            "the script at {path} changed since version {p}: its newest version is {n}; reload it and save again"
        ))),
        (Some(p), None) => Err(StoreError::Conflict(format!(
            "parent_hash {p} is not a version of the script at {path}, which has none yet; leave parent_hash out"
        ))),
        (Some(p), Some(_)) => Ok(Some(p)),
        (None, newest) => Ok(newest),
    }
}

pub(crate) fn settings_text(s: &NewScript) -> String {
    serde_json::to_string(&s.settings).unwrap_or_else(|_| "{}".into())
}

pub(crate) fn script_race_message(s: &NewScript) -> String {
    format!(
        "the script at {} was saved by someone else at the same time (or the hash {} is taken); reload it and save again",
        s.path, s.hash
    )
}

/// The columns a new job is inserted with, in the order [`bind_new_job`] binds them.
pub(crate) const NEW_JOB_COLUMNS: &str = "id, workspace, kind, path, script_hash, language, args, created_by, \
     permissioned_as, tag, trigger, created_at, scheduled_for, parent_job, timeout_s, token_prefix, flow_version, \
     flow_node, step_id, flow_index, root_job, scopes, concurrency_key, concurrency_limit";

/// How many values [`bind_new_job`] binds.
pub(crate) const NEW_JOB_VALUES: usize = 24;

/// Binds the values of a new job, in the order of [`NEW_JOB_COLUMNS`], on a
/// query of either backend; SQLite's pass `$pack` for the arguments
/// ([`crate::packed::pack`]).
macro_rules! bind_new_job {
    ($q:expr, $job:expr) => {
        $crate::shared::bind_new_job!($q, $job, std::convert::identity)
    };
    ($q:expr, $job:expr, $pack:expr) => {{
        let job: &orvanta_core::NewJob = $job;
        $q.bind(job.id.to_string())
            .bind(job.workspace.as_str().to_owned())
            .bind(job.kind.as_str())
            .bind(job.path.as_ref().map(|p| p.as_str().to_owned()))
            .bind(job.script_hash.map(|h| h.to_string()))
            .bind(job.language.map(|l| l.as_str()))
            .bind($pack(job.args.to_string()))
            .bind(job.created_by.as_str().to_owned())
            .bind(job.permissioned_as.as_str().to_owned())
            .bind(job.tag.clone())
            .bind(job.trigger.as_str().to_owned())
            .bind(job.created_at)
            .bind(job.scheduled_for)
            .bind(job.parent_job.map(|p| p.to_string()))
            .bind(job.timeout_s.map(|t| i64::try_from(t).unwrap_or(i64::MAX)))
            .bind(job.token_prefix.clone())
            .bind(job.flow.as_ref().map(|f| f.version.get()))
            .bind(job.flow.as_ref().map(|f| f.node.clone()))
            .bind(job.flow.as_ref().and_then(|f| f.step_id.clone()))
            .bind(job.flow.as_ref().and_then(|f| f.index))
            .bind(job.flow.as_ref().map(|f| f.root.to_string()))
            .bind(job.scopes.as_ref().map(|s| serde_json::Value::from(s.clone()).to_string()))
            .bind(job.concurrency.as_ref().map(|c| c.key.clone()))
            .bind(job.concurrency.as_ref().map(|c| i64::from(c.limit)))
    }};
}
pub(crate) use bind_new_job;

/// The page size of lists: 100 by default, at most 1000.
pub(crate) fn clamp_limit(limit: i64) -> i64 {
    if limit <= 0 {
        100
    } else {
        limit.min(1000)
    }
}

/// Joins chunks `(pos, text)` ordered by `pos` into the text from byte `from` on.
///
/// `from` normally falls on a chunk boundary (it is a length handed out
/// earlier); if it falls inside a character, the text starts at the next one.
pub(crate) fn slice_from(chunks: Vec<(i64, String)>, from: i64) -> String {
    let mut out = String::new();
    for (pos, chunk) in chunks {
        if pos >= from {
            out.push_str(&chunk);
        } else {
            let mut cut = usize::try_from(from - pos).unwrap_or(usize::MAX).min(chunk.len());
            while !chunk.is_char_boundary(cut) {
                cut += 1;
            }
            out.push_str(&chunk[cut..]);
        }
    }
    out
}

/// The conflict of a flow renamed onto a path that has versions of its own.
pub(crate) fn flow_rename_conflict(old: &orvanta_core::RunnablePath, new: &orvanta_core::RunnablePath) -> StoreError {
    StoreError::Conflict(format!(
        "cannot move the flow at {old} to {new}: a flow exists there already; choose another path or delete that flow"
    ))
}

/// A unique violation, told in the caller's words; any other error as is.
pub(crate) fn conflict_as(e: sqlx::Error, message: String) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(message),
        other => other,
    }
}

pub(crate) fn hook_name_taken(h: &crate::Hook) -> String {
    format!("an inbound webhook named '{}' exists in workspace '{}' already; choose another name", h.name, h.workspace)
}

pub(crate) fn duplicate_reason(delivery: Option<&str>) -> String {
    format!("delivery {} was received before: recorded, nothing started again", delivery.unwrap_or_default())
}

/// The event's `jobs` with the ids the queue answered: each job given
/// becomes `{"path", "job_id", "existing"?}`; entries the caller recorded
/// already (runs that could not be started) stay.
pub(crate) fn hook_jobs_json(
    recorded: &serde_json::Value,
    jobs: &[orvanta_core::NewJob],
    enqueued: &[crate::Enqueued],
) -> serde_json::Value {
    let mut out: Vec<serde_json::Value> = recorded.as_array().cloned().unwrap_or_default();
    for (job, q) in jobs.iter().zip(enqueued) {
        let (id, existing) = match q {
            crate::Enqueued::Created(id) => (*id, false),
            crate::Enqueued::Existing(id) => (*id, true),
        };
        let mut entry = serde_json::json!({
            "path": job.path.as_ref().map(|p| p.as_str()),
            "job_id": id.to_string(),
        });
        if existing {
            entry["existing"] = true.into();
        }
        out.push(entry);
    }
    serde_json::Value::Array(out)
}

/// `SELECT` of the jobs of `ws` that pass `f`, newest first, for either backend.
pub(crate) fn jobs_query<'a, DB>(
    ws: &'a orvanta_core::WorkspaceId,
    f: &'a crate::JobFilter,
) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    String: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    // A parent's jobs are read through the children index. With the
    // workspace's list index at hand, SQLite 3.46 would walk every job of the
    // workspace, newest first, to find a parent's few: `|| ''` keeps the
    // workspace check off that index (on PostgreSQL too, where it is as true).
    let workspace = if f.parent_job.is_some() { "workspace || ''" } else { "workspace" };
    let mut q =
        sqlx::QueryBuilder::<DB>::new(format!("SELECT {} FROM jobs WHERE {workspace} = ", crate::rows::JOB_COLUMNS));
    q.push_bind(ws.as_str());
    if let Some(path) = &f.path {
        q.push(" AND path = ").push_bind(path.as_str());
    }
    if let Some(prefix) = &f.path_prefix {
        // substr, not LIKE: a prefix with % or _ means those characters.
        q.push(" AND substr(path, 1, CAST(")
            .push_bind(prefix.chars().count() as i64)
            .push(" AS INTEGER)) = ")
            .push_bind(prefix.as_str());
    }
    if let Some(hash) = f.script_hash {
        q.push(" AND script_hash = ").push_bind(hash.to_string());
    }
    let mut any_of = |column: &str, values: Vec<&'a str>| {
        if !values.is_empty() {
            q.push(format!(" AND {column} IN ("));
            let mut list = q.separated(", ");
            for v in values {
                list.push_bind(v);
            }
            q.push(")");
        }
    };
    any_of("status", f.statuses.iter().map(|s| s.as_str()).collect());
    any_of("kind", f.kinds.iter().map(|k| k.as_str()).collect());
    if let Some(trigger) = &f.trigger {
        q.push(" AND trigger = ").push_bind(trigger.as_str());
    }
    if let Some(user) = &f.created_by {
        q.push(" AND created_by = ").push_bind(user.as_str());
    }
    if let Some(since) = f.since {
        q.push(" AND created_at >= ").push_bind(since);
    }
    if let Some(before) = f.before {
        q.push(" AND created_at < ").push_bind(before);
    }
    if let Some(parent) = f.parent_job {
        q.push(" AND parent_job = ").push_bind(parent.to_string());
    }
    if f.root_only {
        q.push(" AND parent_job IS NULL");
    }
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ").push_bind(clamp_limit(f.limit));
    q.push(" OFFSET ").push_bind(f.offset.max(0));
    q
}

/// `UPDATE` of `last_used_at` of the tokens with these hashes, for either backend.
pub(crate) fn touch_query<'a, DB>(hashes: &'a [String], now: i64) -> sqlx::QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    &'a str: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'a, DB> + sqlx::Type<DB>,
{
    let mut q = sqlx::QueryBuilder::<DB>::new("UPDATE tokens SET last_used_at = ");
    q.push_bind(now).push(" WHERE hash IN (");
    let mut list = q.separated(", ");
    for h in hashes {
        list.push_bind(h.as_str());
    }
    q.push(")");
    q
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_chunks() {
        let chunks = vec![(0, "héllo".to_string()), (6, " world".to_string())];
        assert_eq!(slice_from(chunks.clone(), 0), "héllo world");
        assert_eq!(slice_from(chunks.clone(), 3), "llo world");
        assert_eq!(slice_from(chunks.clone(), 2), "llo world");
        assert_eq!(slice_from(chunks, 6), " world");
    }
}
