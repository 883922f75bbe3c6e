//! The flow engine's writes on SQLite: one commit per engine step, the
//! children of a run, the runs whose wake time came, and the cancel of a run
//! with everything it started.

use crate::events::JobEvent;
use crate::types::{canceled_error, FlowChild, FlowCommit, FlowCommitted};
use crate::Result;
use orvanta_core::{JobId, JobStatus, Millis, WorkspaceId};
use sqlx::{SqliteConnection, SqlitePool};

/// The jobs a flow run started, at any depth, with their status and kind.
/// The tree carries the columns it needs, so that no join back to `jobs`
/// follows it: SQLite 3.46 plans such a join as a scan of every job with a
/// Bloom filter on the tree (9 ms per ended flow with 26,000 queued jobs).
pub(super) const TREE: &str = "WITH RECURSIVE tree(id, status, kind) AS (SELECT id, status, kind FROM jobs \
     WHERE parent_job = ? UNION ALL SELECT j.id, j.status, j.kind FROM tree t JOIN jobs j ON j.parent_job = t.id) \
     SELECT id, status, kind FROM tree";

/// Makes a parked job of a run due (an activation).
pub(super) const ACTIVATE: &str =
    "UPDATE jobs SET scheduled_for = ? WHERE parent_job = ? AND step_id = ? AND flow_index = ? AND status = 'queued'";
/// The jobs a run started, of one step or of all.
pub(super) const CHILDREN: &str = "SELECT id, flow_index, status, result FROM jobs WHERE parent_job = ?1 \
     AND (?2 IS NULL OR step_id = ?2) ORDER BY flow_index, created_at, id";
/// The flow runs whose wake time came.
pub(super) const DUE_WAKES: &str =
    "SELECT workspace, id FROM jobs WHERE wake_at IS NOT NULL AND wake_at <= ? AND status = 'running' AND kind = 'flow'";

/// The running flow runs, a page after `?1`, `?2` at most.
pub(super) fn running_sql() -> String {
    format!(
        "SELECT {} FROM jobs WHERE kind = 'flow' AND status = 'running' AND lease_until IS NULL \
         AND (?1 IS NULL OR id > ?1) ORDER BY id LIMIT ?2",
        crate::rows::JOB_COLUMNS
    )
}

pub(super) async fn commit(pool: &SqlitePool, c: &FlowCommit) -> Result<(FlowCommitted, Vec<JobEvent>)> {
    let mut tx = pool.begin().await?;
    let mut events = Vec::new();
    if let Some(f) = &c.finish {
        let r = sqlx::query(
            "UPDATE jobs SET status = ?, result = ?, completed_at = ?, lease_until = NULL \
             WHERE id = ? AND worker = ? AND status = 'running'",
        )
        .bind(f.status.as_str())
        .bind(f.result.to_string())
        .bind(c.now)
        .bind(f.id.to_string())
        .bind(&f.worker)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            return Ok((FlowCommitted::Lost, Vec::new()));
        }
        events.push(JobEvent::Completed(f.id));
    }
    for u in &c.flows {
        let r = match &u.end {
            None => {
                sqlx::query(
                    "UPDATE jobs SET flow_state = ?, flow_rev = flow_rev + 1, wake_at = ?, lease_until = NULL \
                     WHERE id = ? AND flow_rev = ? AND status = 'running'",
                )
                .bind(u.state.to_string())
                .bind(u.wake_at)
                .bind(u.id.to_string())
                .bind(u.rev)
                .execute(&mut *tx)
                .await?
            }
            Some((status, result)) => {
                sqlx::query(
                    "UPDATE jobs SET flow_state = ?, flow_rev = flow_rev + 1, wake_at = NULL, lease_until = NULL, \
                     status = ?, result = ?, completed_at = ? WHERE id = ? AND flow_rev = ? AND status = 'running'",
                )
                .bind(u.state.to_string())
                .bind(status.as_str())
                .bind(result.to_string())
                .bind(c.now)
                .bind(u.id.to_string())
                .bind(u.rev)
                .execute(&mut *tx)
                .await?
            }
        };
        if r.rows_affected() != 1 {
            return Ok((FlowCommitted::Conflict, Vec::new()));
        }
        match &u.end {
            None => events.push(JobEvent::Progress(u.id)),
            Some(_) => {
                events.push(JobEvent::Completed(u.id));
                // What the ended run still had going ends with it.
                events.extend(cancel_below(&mut tx, u.id, "the flow it belongs to ended", c.now).await?);
            }
        }
    }
    let refs: Vec<&orvanta_core::NewJob> = c.enqueue.iter().collect();
    for chunk in refs.chunks(super::queue::INSERT_CHUNK) {
        super::queue::insert_jobs(&mut tx, chunk).await?;
    }
    for w in &c.waits {
        sqlx::query(&format!(
            "INSERT INTO hook_waits ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            crate::rows::HOOK_WAIT_COLUMNS
        ))
        .bind(w.job.to_string())
        .bind(&w.hook_id)
        .bind(w.workspace.as_str())
        .bind(w.flow.to_string())
        .bind(&w.step_id)
        .bind(w.matches.to_string())
        .bind(w.deadline)
        .bind(w.created_at)
        .execute(&mut *tx)
        .await?;
    }
    let mut activated = 0;
    for a in &c.activate {
        let r = sqlx::query(ACTIVATE)
            .bind(c.now)
            .bind(a.parent.to_string())
            .bind(&a.step_id)
            .bind(a.index)
            .execute(&mut *tx)
            .await?;
        activated += r.rows_affected();
    }
    if !c.enqueue.is_empty() || activated > 0 {
        events.push(JobEvent::Enqueued);
    }
    tx.commit().await?;
    Ok((FlowCommitted::Done, events))
}

/// Ends what a flow run started below it: queued jobs and nested runs end
/// canceled, running steps are asked to stop.
pub(super) async fn cancel_below(
    tx: &mut SqliteConnection,
    id: JobId,
    reason: &str,
    now: Millis,
) -> Result<Vec<JobEvent>> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(TREE).bind(id.to_string()).fetch_all(&mut *tx).await?;
    let mut events = Vec::new();
    for (job, status, kind) in rows {
        let parsed = JobId::parse(&job)?;
        match (status.as_str(), kind.as_str()) {
            ("queued", _) | ("running", "flow") => {
                sqlx::query(
                    "UPDATE jobs SET status = 'canceled', result = ?, completed_at = ?, lease_until = NULL, wake_at = NULL \
                     WHERE id = ? AND status IN ('queued', 'running')",
                )
                .bind(canceled_error(reason).to_string())
                .bind(now)
                .bind(&job)
                .execute(&mut *tx)
                .await?;
                events.push(JobEvent::Completed(parsed));
            }
            ("running", _) => {
                sqlx::query("UPDATE jobs SET cancel_requested = ? WHERE id = ? AND status = 'running'")
                    .bind(reason)
                    .bind(&job)
                    .execute(&mut *tx)
                    .await?;
                events.push(JobEvent::CancelRequested(parsed));
            }
            _ => {}
        }
    }
    Ok(events)
}

pub(super) async fn children(pool: &SqlitePool, parent: JobId, step_id: Option<&str>) -> Result<Vec<FlowChild>> {
    let rows: Vec<(String, Option<i64>, String, Option<String>)> =
        sqlx::query_as(CHILDREN).bind(parent.to_string()).bind(step_id).fetch_all(pool).await?;
    rows.into_iter()
        .map(|(id, index, status, result)| {
            Ok(FlowChild {
                id: JobId::parse(&id)?,
                index,
                status: JobStatus::parse(&status)?,
                result: result.as_deref().map(crate::rows::stored_json).transpose()?,
            })
        })
        .collect()
}

pub(super) async fn due_wakes(pool: &SqlitePool, now: Millis) -> Result<Vec<(WorkspaceId, JobId)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(DUE_WAKES).bind(now).fetch_all(pool).await?;
    rows.into_iter().map(|(ws, id)| Ok((WorkspaceId::parse(&ws)?, JobId::parse(&id)?))).collect()
}

pub(super) async fn running(pool: &SqlitePool, after: Option<JobId>, limit: i64) -> Result<Vec<orvanta_core::Job>> {
    let rows: Vec<crate::rows::JobRow> =
        sqlx::query_as(&running_sql()).bind(after.map(|a| a.to_string())).bind(limit).fetch_all(pool).await?;
    crate::rows::convert(rows)
}
