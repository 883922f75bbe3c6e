//! The queue on SQLite: enqueue, claim, lease, complete, sweep, cancel.
//! Every change goes through the single write connection, so each is one
//! transaction that no other writer interleaves with.

use super::lane::Lane;
use super::trip::in_one_round_trip;
use super::SqliteStore;
use crate::packed::pack;
use crate::rows;
use crate::rows::{JobRow, IDEMPOTENCY_WINDOW_MS, JOB_COLUMNS};
use crate::shared::{NEW_JOB_COLUMNS, NEW_JOB_VALUES};
use crate::types::*;
use crate::{JobEvent, Result};
use async_trait::async_trait;
use orvanta_core::JobStatus;
use orvanta_core::{Job, JobId, Millis, NewJob, WorkspaceId};
use sqlx::SqliteExecutor;

#[async_trait]
impl crate::QueueStore for SqliteStore {
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>> {
        let out = enqueue(&self.lane, jobs).await?;
        if out.iter().any(|e| matches!(e, Enqueued::Created(_))) {
            self.publish(JobEvent::Enqueued);
        }
        Ok(out)
    }

    async fn claim(&self, claim: &Claim<'_>) -> Result<Option<Job>> {
        let job = self::claim(&mut *self.lane.turn().await?, claim).await?;
        if let Some(j) = &job {
            self.publish(JobEvent::Started(j.id));
        }
        Ok(job)
    }

    async fn claim_flows(&self, claim: &Claim<'_>, limit: i64) -> Result<Vec<Job>> {
        let jobs = claim_flows(&self.lane, claim, limit).await?;
        for j in &jobs {
            self.publish(JobEvent::Started(j.id));
        }
        Ok(jobs)
    }

    async fn renew_lease(&self, id: JobId, worker: &str, lease_until: Millis) -> Result<LeaseState> {
        renew_lease(&self.lane, id, worker, lease_until).await
    }

    async fn complete_and_claim(&self, done: &Completion<'_>, claim: &Claim<'_>) -> Result<(bool, Option<Job>)> {
        let (completed, job) = complete_and_claim(&self.lane, done, claim).await?;
        if completed {
            self.publish(JobEvent::Completed(done.id));
        }
        if let Some(j) = &job {
            self.publish(JobEvent::Started(j.id));
        }
        Ok((completed, job))
    }

    async fn complete(&self, done: &Completion<'_>) -> Result<bool> {
        let ok = complete(&mut *self.lane.turn().await?, done).await?;
        if ok {
            self.publish(JobEvent::Completed(done.id));
        }
        Ok(ok)
    }

    async fn sweep_expired_leases(&self, now: Millis, max_retries: i32) -> Result<Vec<Swept>> {
        let swept = sweep(&self.lane, now, max_retries).await?;
        for s in &swept {
            match s {
                Swept::Requeued(_) => self.publish(JobEvent::Enqueued),
                Swept::Failed(id) | Swept::Canceled(id) => self.publish(JobEvent::Completed(*id)),
            }
        }
        Ok(swept)
    }

    async fn purge_idempotency_keys(&self, now: Millis, limit: i64) -> Result<u64> {
        let done = sqlx::query(PURGE_KEYS).bind(now).bind(limit).execute(&mut *self.lane.turn().await?).await?;
        Ok(done.rows_affected())
    }

    async fn cancel(&self, ws: &WorkspaceId, id: JobId, reason: &str, now: Millis) -> Result<CancelOutcome> {
        let (out, events) = cancel(&self.lane, ws, id, reason, now).await?;
        for e in events {
            self.publish(e);
        }
        Ok(out)
    }

    async fn commit_flow(&self, commit: &FlowCommit) -> Result<FlowCommitted> {
        let (out, events) = super::flow_runs::commit(&self.lane, commit).await?;
        for e in events {
            self.publish(e);
        }
        Ok(out)
    }

    async fn flow_children(&self, parent: JobId, step_id: Option<&str>) -> Result<Vec<FlowChild>> {
        super::flow_runs::children(&self.read, parent, step_id).await
    }

    async fn due_flow_wakes(&self, now: Millis) -> Result<Vec<(WorkspaceId, JobId)>> {
        super::flow_runs::due_wakes(&self.read, now).await
    }

    async fn running_flows(&self, after: Option<JobId>, limit: i64) -> Result<Vec<Job>> {
        super::flow_runs::running(&self.read, after, limit).await
    }
}

pub(super) async fn enqueue(lane: &Lane, jobs: &[NewJob]) -> Result<Vec<Enqueued>> {
    if !jobs.is_empty() && jobs.len() <= INSERT_CHUNK && jobs.iter().all(|j| j.idempotency_key.is_none()) {
        return enqueue_plain(lane, jobs).await;
    }
    let mut turn = lane.turn().await?;
    let mut tx = sqlx::Connection::begin(&mut *turn).await?;
    let refs: Vec<&NewJob> = jobs.iter().collect();
    let out = enqueue_in(&mut tx, &refs).await?;
    tx.commit().await?;
    Ok(out)
}

/// Jobs without idempotency keys, one multi-row insert: its transaction in
/// one round trip to the write connection's thread.
async fn enqueue_plain(lane: &Lane, jobs: &[NewJob]) -> Result<Vec<Enqueued>> {
    use sqlx::Row;
    let sql = format!("BEGIN IMMEDIATE; {}; COMMIT", insert_jobs_sql(jobs.len()));
    let mut q = sqlx::query(&sql);
    for job in jobs {
        q = crate::shared::bind_new_job!(q, job, crate::packed::pack);
    }
    let mut created = std::collections::HashSet::new();
    for row in in_one_round_trip(lane, q).await?.iter().filter_map(|a| a.as_ref().right()) {
        created.insert(JobId::parse(&row.try_get::<String, _>(0)?)?);
    }
    // `remove`: the same id twice in a batch is created once, then exists.
    Ok(jobs
        .iter()
        .map(|j| if created.remove(&j.id) { Enqueued::Created(j.id) } else { Enqueued::Existing(j.id) })
        .collect())
}

/// Enqueues within the caller's transaction (who publishes the event after commit).
pub(super) async fn enqueue_in(tx: &mut sqlx::SqliteConnection, jobs: &[&NewJob]) -> Result<Vec<Enqueued>> {
    let mut out: Vec<Option<Enqueued>> = vec![None; jobs.len()];
    // Jobs without an idempotency key go in multi-row inserts: one statement
    // for many jobs is what makes group commit pay off.
    let plain: Vec<usize> = (0..jobs.len()).filter(|&i| jobs[i].idempotency_key.is_none()).collect();
    for chunk in plain.chunks(INSERT_CHUNK) {
        let rows: Vec<&NewJob> = chunk.iter().map(|&i| jobs[i]).collect();
        let mut created: std::collections::HashSet<JobId> = insert_jobs(tx, &rows).await?.into_iter().collect();
        for &i in chunk {
            let id = jobs[i].id;
            // `remove`: the same id twice in a batch is created once, then exists.
            out[i] = Some(if created.remove(&id) { Enqueued::Created(id) } else { Enqueued::Existing(id) });
        }
    }
    for (i, &job) in jobs.iter().enumerate() {
        let Some(key) = &job.idempotency_key else { continue };
        let runnable = rows::runnable_key(job);
        let existing: Option<String> = sqlx::query_scalar(KEY_LOOKUP)
            .bind(job.workspace.as_str())
            .bind(&runnable)
            .bind(key)
            .bind(job.created_at)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(existing) = existing {
            out[i] = Some(Enqueued::Existing(JobId::parse(&existing)?));
            continue;
        }
        sqlx::query(
            "INSERT INTO idempotency_keys (workspace, runnable, key, job_id, expires_at) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (workspace, runnable, key) DO UPDATE SET job_id = excluded.job_id, expires_at = excluded.expires_at",
        )
        .bind(job.workspace.as_str())
        .bind(&runnable)
        .bind(key)
        .bind(job.id.to_string())
        .bind(job.created_at + IDEMPOTENCY_WINDOW_MS)
        .execute(&mut *tx)
        .await?;
        let created = insert_jobs(tx, &[job]).await?;
        out[i] = Some(if created.is_empty() { Enqueued::Existing(job.id) } else { Enqueued::Created(job.id) });
    }
    Ok(out.into_iter().flatten().collect())
}

/// Idempotency keys whose window ended, a batch at a time, oldest first.
pub(super) const PURGE_KEYS: &str = "DELETE FROM idempotency_keys WHERE rowid IN \
     (SELECT rowid FROM idempotency_keys WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)";

/// The job an idempotency key still holds.
pub(super) const KEY_LOOKUP: &str =
    "SELECT job_id FROM idempotency_keys WHERE workspace = ? AND runnable = ? AND key = ? AND expires_at > ?";

/// Jobs per multi-row insert (21 bound values each, well under SQLite's limit of 32,766).
pub(super) const INSERT_CHUNK: usize = 256;

/// Inserts jobs (skipping ids that exist); answers the ids inserted.
pub(super) async fn insert_jobs(tx: &mut sqlx::SqliteConnection, jobs: &[&NewJob]) -> Result<Vec<JobId>> {
    let sql = insert_jobs_sql(jobs.len());
    let mut q = sqlx::query_scalar::<_, String>(&sql);
    for job in jobs {
        q = crate::shared::bind_new_job!(q, job, crate::packed::pack);
    }
    let ids = q.fetch_all(&mut *tx).await?;
    ids.iter().map(|s| JobId::parse(s).map_err(Into::into)).collect()
}

/// The insert of `n` new jobs (skipping ids that exist), answering the ids inserted.
pub(super) fn insert_jobs_sql(n: usize) -> String {
    let row = format!("({}'queued')", "?, ".repeat(NEW_JOB_VALUES));
    let values = vec![row; n].join(", ");
    format!("INSERT INTO jobs ({NEW_JOB_COLUMNS}, status) VALUES {values} ON CONFLICT (id) DO NOTHING RETURNING id")
}

/// A queued job `q` whose concurrency key is not at its limit. Exact: a
/// claim is one statement, and SQLite runs one writer at a time.
const UNDER_LIMIT: &str = "(q.concurrency_key IS NULL OR (SELECT COUNT(*) FROM jobs r \
     WHERE r.concurrency_key = q.concurrency_key AND r.status = 'running') < q.concurrency_limit)";

/// The due queued jobs `q` of `tags` tags (bound from `?first` on) that
/// `filter` keeps, the `limit` oldest of each tag, as `(id, scheduled_for)`:
/// one ordered index range per tag (the indexes are (tag, scheduled_for, id)),
/// so a claim reads a row or a few however long the queue of other tags is.
fn due_per_tag(tags: usize, first: usize, filter: &str, limit: &str) -> String {
    let per_tag: Vec<String> = (0..tags)
        .map(|i| {
            format!(
                "SELECT * FROM (SELECT id, scheduled_for FROM jobs q WHERE status = 'queued' {filter} AND tag = ?{} \
                 AND scheduled_for <= ?2 ORDER BY scheduled_for, id LIMIT {limit})",
                i + first
            )
        })
        .collect();
    per_tag.join(" UNION ALL ")
}

/// The claim of the first due job of `tags` tags (bound from `?4` on).
pub(super) fn claim_sql(tags: usize) -> String {
    format!(
        "UPDATE jobs SET status = 'running', worker = ?1, started_at = ?2, lease_until = ?3 \
         WHERE id = (SELECT id FROM ({}) ORDER BY scheduled_for, id LIMIT 1) RETURNING {JOB_COLUMNS}",
        due_per_tag(tags, 4, &format!("AND {UNDER_LIMIT}"), "1")
    )
}

pub(super) async fn claim<'e>(db: impl SqliteExecutor<'e>, c: &Claim<'_>) -> Result<Option<Job>> {
    if c.tags.is_empty() {
        return Ok(None);
    }
    let sql = claim_sql(c.tags.len());
    let mut q = sqlx::query_as::<_, JobRow>(&sql).bind(c.worker).bind(c.now).bind(c.lease_until);
    for tag in c.tags {
        q = q.bind(tag);
    }
    let row = q.fetch_optional(db).await?;
    row.map(Job::try_from).transpose()
}

/// The claim of up to `?4` due flow runs of `tags` tags (bound from `?5` on).
pub(super) fn claim_flows_sql(tags: usize) -> String {
    format!(
        "UPDATE jobs SET status = 'running', worker = ?1, started_at = ?2, lease_until = ?3 \
         WHERE id IN (SELECT id FROM ({}) ORDER BY scheduled_for, id LIMIT ?4) RETURNING {JOB_COLUMNS}",
        due_per_tag(tags, 5, "AND kind = 'flow' AND concurrency_key IS NULL", "?4")
    )
}

async fn claim_flows(lane: &Lane, c: &Claim<'_>, limit: i64) -> Result<Vec<Job>> {
    if c.tags.is_empty() || limit <= 0 {
        return Ok(Vec::new());
    }
    let sql = claim_flows_sql(c.tags.len());
    let mut q = sqlx::query_as::<_, JobRow>(&sql).bind(c.worker).bind(c.now).bind(c.lease_until).bind(limit);
    for tag in c.tags {
        q = q.bind(tag);
    }
    let rows = q.fetch_all(&mut *lane.turn().await?).await?;
    let mut jobs = rows::convert(rows)?;
    jobs.sort_by_key(|j: &Job| (j.scheduled_for, j.id));
    Ok(jobs)
}

/// A slot's turn in one round trip to the write connection's thread: one
/// transaction of the end and the claim, sent as one multi-statement query
/// (each statement otherwise costs two thread switches, a fifth to a quarter of the
/// server's time under load). The claim binds `?1..`, the end after the tags.
async fn complete_and_claim(lane: &Lane, d: &Completion<'_>, c: &Claim<'_>) -> Result<(bool, Option<Job>)> {
    use sqlx::FromRow;
    if c.tags.is_empty() || d.worker != c.worker {
        let mut turn = lane.turn().await?;
        return Ok((complete(&mut *turn, d).await?, claim(&mut *turn, c).await?));
    }
    let n = c.tags.len() + 4;
    let sql = format!(
        "BEGIN IMMEDIATE; UPDATE jobs SET status = ?{n}, result = ?{}, completed_at = ?{}, lease_until = NULL \
         WHERE id = ?{} AND worker = ?1 AND status = 'running'; {}; COMMIT",
        n + 1,
        n + 2,
        n + 3,
        claim_sql(c.tags.len())
    );
    let mut q = sqlx::query(&sql).bind(c.worker).bind(c.now).bind(c.lease_until);
    for tag in c.tags {
        q = q.bind(tag);
    }
    let q = q.bind(d.status.as_str()).bind(pack(d.result.to_string())).bind(d.now).bind(d.id.to_string());
    let answers = in_one_round_trip(lane, q).await?;
    // In order: BEGIN's, the end's, then the claimed row (if any) and the claim's, then COMMIT's.
    let completed = answers.iter().filter_map(|a| a.as_ref().left()).nth(1).is_some_and(|r| r.rows_affected() == 1);
    let job = answers.iter().find_map(|a| a.as_ref().right()).map(JobRow::from_row).transpose()?;
    Ok((completed, job.map(Job::try_from).transpose()?))
}

pub(super) async fn renew_lease(lane: &Lane, id: JobId, worker: &str, until: Millis) -> Result<LeaseState> {
    let row: Option<(Option<String>,)> = sqlx::query_as(
        "UPDATE jobs SET lease_until = ? WHERE id = ? AND worker = ? AND status = 'running' RETURNING cancel_requested",
    )
    .bind(until)
    .bind(id.to_string())
    .bind(worker)
    .fetch_optional(&mut *lane.turn().await?)
    .await?;
    Ok(match row {
        None => LeaseState::Lost,
        Some((Some(reason),)) => LeaseState::CancelRequested(reason),
        Some((None,)) => LeaseState::Held,
    })
}

pub(super) async fn complete<'e>(db: impl SqliteExecutor<'e>, d: &Completion<'_>) -> Result<bool> {
    let r = sqlx::query(
        "UPDATE jobs SET status = ?, result = ?, completed_at = ?, lease_until = NULL \
         WHERE id = ? AND worker = ? AND status = 'running'",
    )
    .bind(d.status.as_str())
    .bind(pack(d.result.to_string()))
    .bind(d.now)
    .bind(d.id.to_string())
    .bind(d.worker)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Running jobs whose lease lapsed and whose cancel was asked.
pub(super) const SWEEP_CANCELED: &str =
    "SELECT id, cancel_requested FROM jobs WHERE status = 'running' AND lease_until < ? AND cancel_requested IS NOT NULL";
/// Running jobs whose lease lapsed, queued again while they have retries left.
pub(super) const SWEEP_REQUEUE: &str = "UPDATE jobs SET status = 'queued', worker = NULL, lease_until = NULL, \
     started_at = NULL, retries = retries + 1 WHERE status = 'running' AND lease_until < ? AND retries < ? RETURNING id";
/// Running jobs whose lease lapsed with no retry left.
pub(super) const SWEEP_STALE: &str = "SELECT id, retries FROM jobs WHERE status = 'running' AND lease_until < ?";

pub(super) async fn sweep(lane: &Lane, now: Millis, max_retries: i32) -> Result<Vec<Swept>> {
    let mut turn = lane.turn().await?;
    let mut tx = sqlx::Connection::begin(&mut *turn).await?;
    // A job whose cancel was asked is not run again: it ends canceled.
    let canceled: Vec<(String, String)> = sqlx::query_as(SWEEP_CANCELED).bind(now).fetch_all(&mut *tx).await?;
    let mut out: Vec<Swept> = Vec::new();
    for (id, reason) in canceled {
        sqlx::query(
            "UPDATE jobs SET status = 'canceled', result = ?, completed_at = ?, lease_until = NULL \
             WHERE id = ? AND status = 'running'",
        )
        .bind(canceled_error(&reason).to_string())
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        out.push(Swept::Canceled(JobId::parse(&id)?));
    }
    let requeued: Vec<(String,)> =
        sqlx::query_as(SWEEP_REQUEUE).bind(now).bind(max_retries).fetch_all(&mut *tx).await?;
    let stale: Vec<(String, i32)> = sqlx::query_as(SWEEP_STALE).bind(now).fetch_all(&mut *tx).await?;
    for (id,) in requeued {
        out.push(Swept::Requeued(JobId::parse(&id)?));
    }
    for (id, retries) in stale {
        sqlx::query(
            "UPDATE jobs SET status = 'failure', result = ?, completed_at = ?, lease_until = NULL \
             WHERE id = ? AND status = 'running'",
        )
        .bind(worker_lost_error(retries).to_string())
        .bind(now)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
        out.push(Swept::Failed(JobId::parse(&id)?));
    }
    tx.commit().await?;
    Ok(out)
}

pub(super) async fn cancel(
    lane: &Lane,
    ws: &WorkspaceId,
    id: JobId,
    reason: &str,
    now: Millis,
) -> Result<(CancelOutcome, Vec<JobEvent>)> {
    let mut turn = lane.turn().await?;
    let mut tx = sqlx::Connection::begin(&mut *turn).await?;
    let row: Option<(String, String)> = sqlx::query_as("SELECT status, kind FROM jobs WHERE id = ? AND workspace = ?")
        .bind(id.to_string())
        .bind(ws.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    let Some((status, kind)) = row else { return Ok((CancelOutcome::NotFound, Vec::new())) };
    let status = JobStatus::parse(&status)?;
    let mut events = Vec::new();
    let out = match status {
        _ if status.is_final() => CancelOutcome::AlreadyFinished(status),
        // A flow run ends at once, and everything it started with it.
        _ if kind == "flow" => {
            sqlx::query(
                "UPDATE jobs SET status = 'canceled', result = ?, completed_at = ?, lease_until = NULL, wake_at = NULL                  WHERE id = ?",
            )
            .bind(canceled_error(reason).to_string())
            .bind(now)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
            events.push(JobEvent::Completed(id));
            events.extend(super::flow_runs::cancel_below(&mut tx, id, reason, now).await?);
            CancelOutcome::Canceled
        }
        JobStatus::Queued => {
            sqlx::query("UPDATE jobs SET status = 'canceled', result = ?, completed_at = ? WHERE id = ?")
                .bind(canceled_error(reason).to_string())
                .bind(now)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            events.push(JobEvent::Completed(id));
            CancelOutcome::Canceled
        }
        _ => {
            sqlx::query("UPDATE jobs SET cancel_requested = ? WHERE id = ?")
                .bind(reason)
                .bind(id.to_string())
                .execute(&mut *tx)
                .await?;
            events.push(JobEvent::CancelRequested(id));
            CancelOutcome::Requested
        }
    };
    tx.commit().await?;
    Ok((out, events))
}
