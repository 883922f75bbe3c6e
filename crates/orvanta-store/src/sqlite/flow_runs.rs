//! The flow engine's writes on SQLite: one commit per engine step, the
//! children of a run, the runs whose wake time came, and the cancel of a run
//! with everything it started.

use super::trip::{Guard, Trip};
use crate::events::JobEvent;
use crate::packed::pack;
use crate::types::{canceled_error, FlowChild, FlowCommit, FlowCommitted};
use crate::Result;
use orvanta_core::{JobId, JobStatus, Millis, WorkspaceId};
use sqlx::{SqliteConnection, SqlitePool};

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

/// A finished step's end, only while `worker` holds it.
const FINISH: &str = "UPDATE jobs SET status = ?, result = ?, completed_at = ?, lease_until = NULL \
     WHERE id = ? AND worker = ? AND status = 'running'";
/// A flow run's new state, only at the revision it was read at.
const ADVANCE: &str = "UPDATE jobs SET flow_state = ?, flow_rev = flow_rev + 1, wake_at = ?, lease_until = NULL \
     WHERE id = ? AND flow_rev = ? AND status = 'running'";
/// A flow run's end, only at the revision it was read at.
const END: &str = "UPDATE jobs SET flow_state = ?, flow_rev = flow_rev + 1, wake_at = NULL, lease_until = NULL, \
     status = ?, result = ?, completed_at = ? WHERE id = ? AND flow_rev = ? AND status = 'running'";
/// The jobs below a run (`?` its id), at any depth.
const BELOW: &str = "WITH RECURSIVE tree(id) AS (SELECT id FROM jobs WHERE parent_job = ? \
     UNION ALL SELECT j.id FROM tree t JOIN jobs j ON j.parent_job = t.id) ";

/// Asks the running steps below a run to stop: its id, the reason.
pub(super) fn ask_below_sql() -> String {
    format!(
        "{BELOW}UPDATE jobs SET cancel_requested = ? WHERE id IN (SELECT id FROM tree) \
         AND status = 'running' AND kind <> 'flow' RETURNING id"
    )
}

/// Ends the queued jobs and the nested runs below a run canceled: its id,
/// the result, the time.
pub(super) fn cancel_below_sql() -> String {
    format!(
        "{BELOW}UPDATE jobs SET status = 'canceled', result = ?, completed_at = ?, lease_until = NULL, wake_at = NULL \
         WHERE id IN (SELECT id FROM tree) AND (status = 'queued' OR (status = 'running' AND kind = 'flow')) RETURNING id"
    )
}

/// What a statement of a flow commit is.
#[derive(Clone, Copy)]
enum Part {
    Finish,
    /// The update of `flows[i]`.
    Flow(usize),
    Asked,
    Canceled,
    Activate,
    Other,
}

/// One engine step's writes, in one round trip: if the finished job is no
/// longer this worker's, or a flow run changed since it was read, a guard
/// aborts it and nothing is written.
pub(super) async fn commit(lane: &super::lane::Lane, c: &FlowCommit) -> Result<(FlowCommitted, Vec<JobEvent>)> {
    let mut t = Trip::begin();
    if let Some(f) = &c.finish {
        t = t
            .statement(Part::Finish, FINISH)
            .bind(f.status.as_str())
            .bind(pack(f.result.to_string()))
            .bind(c.now)
            .bind(f.id.to_string())
            .bind(f.worker.clone())
            .guard(Guard::Lost);
    }
    for (i, u) in c.flows.iter().enumerate() {
        t = match &u.end {
            None => t.statement(Part::Flow(i), ADVANCE).bind(pack(u.state.clone())).bind(u.wake_at),
            Some((status, result)) => t
                .statement(Part::Flow(i), END)
                .bind(pack(u.state.clone()))
                .bind(status.as_str())
                .bind(pack(result.to_string()))
                .bind(c.now),
        };
        t = t.bind(u.id.to_string()).bind(u.rev).guard(Guard::Conflict);
        if u.end.is_some() {
            // What the ended run still had going ends with it.
            let reason = "the flow it belongs to ended";
            t = t
                .statement(Part::Asked, &ask_below_sql())
                .bind(u.id.to_string())
                .bind(reason)
                .statement(Part::Canceled, &cancel_below_sql())
                .bind(u.id.to_string())
                .bind(canceled_error(reason).to_string())
                .bind(c.now);
        }
    }
    for chunk in c.enqueue.chunks(super::queue::INSERT_CHUNK) {
        t = t.statement(Part::Other, &super::queue::insert_jobs_sql(chunk.len()));
        for job in chunk {
            t = crate::shared::bind_new_job!(t, job, crate::packed::pack);
        }
    }
    let insert_wait =
        format!("INSERT INTO hook_waits ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", crate::rows::HOOK_WAIT_COLUMNS);
    for w in &c.waits {
        t = t
            .statement(Part::Other, &insert_wait)
            .bind(w.job.to_string())
            .bind(w.hook_id.clone())
            .bind(w.workspace.as_str().to_owned())
            .bind(w.flow.to_string())
            .bind(w.step_id.clone())
            .bind(w.matches.to_string())
            .bind(w.deadline)
            .bind(w.created_at);
    }
    for a in &c.activate {
        t = t
            .statement(Part::Activate, ACTIVATE)
            .bind(c.now)
            .bind(a.parent.to_string())
            .bind(a.step_id.clone())
            .bind(a.index);
    }
    let answers = match t.commit(lane).await {
        Ok(a) => a,
        Err(e) => {
            return match Guard::failed(&e) {
                Some(Guard::Lost) => Ok((FlowCommitted::Lost, Vec::new())),
                Some(Guard::Conflict) => Ok((FlowCommitted::Conflict, Vec::new())),
                None => Err(e.into()),
            }
        }
    };
    let mut events = Vec::new();
    let mut activated = 0;
    for a in answers {
        match a.part {
            Part::Finish => events.extend(c.finish.as_ref().map(|f| JobEvent::Completed(f.id))),
            Part::Flow(i) => {
                let u = &c.flows[i];
                events.push(if u.end.is_some() { JobEvent::Completed(u.id) } else { JobEvent::Progress(u.id) });
            }
            Part::Asked => events.extend(returned_ids(&a.rows)?.into_iter().map(JobEvent::CancelRequested)),
            Part::Canceled => events.extend(returned_ids(&a.rows)?.into_iter().map(JobEvent::Completed)),
            Part::Activate => activated += a.rows_affected,
            Part::Other => {}
        }
    }
    if !c.enqueue.is_empty() || activated > 0 {
        events.push(JobEvent::Enqueued);
    }
    Ok((FlowCommitted::Done, events))
}

/// The ids a `RETURNING id` answered.
fn returned_ids(rows: &[sqlx::sqlite::SqliteRow]) -> Result<Vec<JobId>> {
    use sqlx::Row;
    rows.iter().map(|r| Ok(JobId::parse(&r.try_get::<String, _>(0)?)?)).collect()
}

/// Ends what a flow run started below it: queued jobs and nested runs end
/// canceled, running steps are asked to stop.
pub(super) async fn cancel_below(
    tx: &mut SqliteConnection,
    id: JobId,
    reason: &str,
    now: Millis,
) -> Result<Vec<JobEvent>> {
    // Asked first: the cancel that follows changes the statuses it reads.
    let asked: Vec<(String,)> =
        sqlx::query_as(&ask_below_sql()).bind(id.to_string()).bind(reason).fetch_all(&mut *tx).await?;
    let canceled: Vec<(String,)> = sqlx::query_as(&cancel_below_sql())
        .bind(id.to_string())
        .bind(canceled_error(reason).to_string())
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
    let mut events = Vec::with_capacity(asked.len() + canceled.len());
    for (job,) in asked {
        events.push(JobEvent::CancelRequested(JobId::parse(&job)?));
    }
    for (job,) in canceled {
        events.push(JobEvent::Completed(JobId::parse(&job)?));
    }
    Ok(events)
}

pub(super) async fn children(pool: &SqlitePool, parent: JobId, step_id: Option<&str>) -> Result<Vec<FlowChild>> {
    let rows: Vec<(String, Option<i64>, String, Option<crate::packed::StoredText>)> =
        sqlx::query_as(CHILDREN).bind(parent.to_string()).bind(step_id).fetch_all(pool).await?;
    rows.into_iter()
        .map(|(id, index, status, result)| {
            Ok(FlowChild {
                id: JobId::parse(&id)?,
                index,
                status: JobStatus::parse(&status)?,
                result: crate::rows::stored_job_json(&id, "result", result),
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
