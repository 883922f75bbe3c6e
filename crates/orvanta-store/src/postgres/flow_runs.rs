//! The flow engine's writes on PostgreSQL: one commit per engine step, the
//! children of a run, the runs whose wake time came, and the cancel of a run
//! with everything it started. Every flow update re-checks `flow_rev`, so
//! two workers advancing the same run (two branches ending at once) cannot
//! both win: the loser's transaction writes nothing and it reads again.

use super::notify;
use crate::events::JobEvent;
use crate::types::{canceled_error, FlowChild, FlowCommit, FlowCommitted};
use crate::Result;
use orvanta_core::{JobId, JobStatus, Millis, WorkspaceId};
use sqlx::{PgConnection, PgPool};

/// The jobs a flow run started, itself included, at any depth.
const TREE: &str =
    "WITH RECURSIVE tree(id) AS (SELECT $1::TEXT UNION ALL SELECT j.id FROM jobs j JOIN tree t ON j.parent_job = t.id) ";

pub(super) async fn commit(pool: &PgPool, c: &FlowCommit) -> Result<FlowCommitted> {
    let mut tx = pool.begin().await?;
    if let Some(f) = &c.finish {
        let r = sqlx::query(
            "UPDATE jobs SET status = $1, result = $2, completed_at = $3, lease_until = NULL \
             WHERE id = $4 AND worker = $5 AND status = 'running'",
        )
        .bind(f.status.as_str())
        .bind(f.result.to_string())
        .bind(c.now)
        .bind(f.id.to_string())
        .bind(&f.worker)
        .execute(&mut *tx)
        .await?;
        if r.rows_affected() != 1 {
            return Ok(FlowCommitted::Lost);
        }
        notify(&mut tx, JobEvent::Completed(f.id)).await?;
    }
    for u in &c.flows {
        let r = match &u.end {
            None => {
                sqlx::query(
                    "UPDATE jobs SET flow_state = $1, flow_rev = flow_rev + 1, wake_at = $2, lease_until = NULL \
                     WHERE id = $3 AND flow_rev = $4 AND status = 'running'",
                )
                .bind(u.state.as_str())
                .bind(u.wake_at)
                .bind(u.id.to_string())
                .bind(u.rev)
                .execute(&mut *tx)
                .await?
            }
            Some((status, result)) => {
                sqlx::query(
                    "UPDATE jobs SET flow_state = $1, flow_rev = flow_rev + 1, wake_at = NULL, lease_until = NULL, \
                     status = $2, result = $3, completed_at = $4 WHERE id = $5 AND flow_rev = $6 AND status = 'running'",
                )
                .bind(u.state.as_str())
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
            return Ok(FlowCommitted::Conflict);
        }
        match &u.end {
            None => notify(&mut tx, JobEvent::Progress(u.id)).await?,
            Some(_) => {
                notify(&mut tx, JobEvent::Completed(u.id)).await?;
                cancel_below(&mut tx, u.id, "the flow it belongs to ended", c.now).await?;
            }
        }
    }
    let refs: Vec<&orvanta_core::NewJob> = c.enqueue.iter().collect();
    for chunk in refs.chunks(super::queue::INSERT_CHUNK) {
        super::queue::insert_many(&mut tx, chunk).await?;
    }
    for w in &c.waits {
        sqlx::query(&format!(
            "INSERT INTO hook_waits ({}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
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
        let r = sqlx::query(
            "UPDATE jobs SET scheduled_for = $1 WHERE parent_job = $2 AND step_id = $3 AND flow_index = $4 \
             AND status = 'queued'",
        )
        .bind(c.now)
        .bind(a.parent.to_string())
        .bind(&a.step_id)
        .bind(a.index)
        .execute(&mut *tx)
        .await?;
        activated += r.rows_affected();
    }
    if !c.enqueue.is_empty() || activated > 0 {
        notify(&mut tx, JobEvent::Enqueued).await?;
    }
    tx.commit().await?;
    Ok(FlowCommitted::Done)
}

/// Ends what a flow run started below it: queued jobs and nested runs end
/// canceled, running steps are asked to stop.
pub(super) async fn cancel_below(tx: &mut PgConnection, id: JobId, reason: &str, now: Millis) -> Result<()> {
    let rows: Vec<(String, String, String)> = sqlx::query_as(&format!(
        "{TREE}SELECT j.id, j.status, j.kind FROM jobs j JOIN tree t ON j.id = t.id WHERE j.id != $1 FOR UPDATE OF j"
    ))
    .bind(id.to_string())
    .fetch_all(&mut *tx)
    .await?;
    for (job, status, kind) in rows {
        let parsed = JobId::parse(&job)?;
        match (status.as_str(), kind.as_str()) {
            ("queued", _) | ("running", "flow") => {
                sqlx::query(
                    "UPDATE jobs SET status = 'canceled', result = $1, completed_at = $2, lease_until = NULL, \
                     wake_at = NULL WHERE id = $3 AND status IN ('queued', 'running')",
                )
                .bind(canceled_error(reason).to_string())
                .bind(now)
                .bind(&job)
                .execute(&mut *tx)
                .await?;
                notify(&mut *tx, JobEvent::Completed(parsed)).await?;
            }
            ("running", _) => {
                sqlx::query("UPDATE jobs SET cancel_requested = $1 WHERE id = $2 AND status = 'running'")
                    .bind(reason)
                    .bind(&job)
                    .execute(&mut *tx)
                    .await?;
                notify(&mut *tx, JobEvent::CancelRequested(parsed)).await?;
            }
            _ => {}
        }
    }
    Ok(())
}

pub(super) async fn children(pool: &PgPool, parent: JobId, step_id: Option<&str>) -> Result<Vec<FlowChild>> {
    let rows: Vec<(String, Option<i64>, String, Option<String>)> = sqlx::query_as(
        "SELECT id, flow_index, status, result FROM jobs WHERE parent_job = $1 AND ($2::TEXT IS NULL OR step_id = $2) \
         ORDER BY flow_index, created_at, id",
    )
    .bind(parent.to_string())
    .bind(step_id)
    .fetch_all(pool)
    .await?;
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

pub(super) async fn due_wakes(pool: &PgPool, now: Millis) -> Result<Vec<(WorkspaceId, JobId)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT workspace, id FROM jobs WHERE wake_at IS NOT NULL AND wake_at <= $1 AND status = 'running' \
         AND kind = 'flow'",
    )
    .bind(now)
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(|(ws, id)| Ok((WorkspaceId::parse(&ws)?, JobId::parse(&id)?))).collect()
}

pub(super) async fn running(pool: &PgPool, after: Option<JobId>, limit: i64) -> Result<Vec<orvanta_core::Job>> {
    let rows: Vec<crate::rows::JobRow> = sqlx::query_as(&format!(
        "SELECT {JOB_COLUMNS} FROM jobs WHERE kind = 'flow' AND status = 'running' AND lease_until IS NULL \
         AND ($1::TEXT IS NULL OR id > $1) ORDER BY id LIMIT $2",
        JOB_COLUMNS = crate::rows::JOB_COLUMNS
    ))
    .bind(after.map(|a| a.to_string()))
    .bind(limit)
    .fetch_all(pool)
    .await?;
    crate::rows::convert(rows)
}
