//! The queue on PostgreSQL: enqueue, claim, lease, complete, sweep, cancel.
//!
//! Several servers and workers share the table, so each state change is one
//! conditional statement whose `WHERE` re-checks the state it expects (the
//! status, the worker): whoever loses a race changes nothing and hears so.
//! The claim picks its row with `FOR UPDATE SKIP LOCKED`, so claimers never
//! wait on each other. Each change notifies in its own transaction, so the
//! event goes out exactly when the change is visible.

use super::notify;
use crate::rows::{runnable_key, JobRow, IDEMPOTENCY_WINDOW_MS, JOB_COLUMNS};
use crate::shared::{NEW_JOB_COLUMNS, NEW_JOB_VALUES};
use crate::types::{canceled_error, worker_lost_error};
use crate::{
    CancelOutcome, Claim, Completion, Enqueued, FlowChild, FlowCommit, FlowCommitted, JobEvent, LeaseState, Result,
    StoreError, Swept,
};
use orvanta_core::{Job, JobId, JobStatus, Millis, NewJob, WorkspaceId};
use sqlx::{PgConnection, PgPool};

pub(super) async fn enqueue(pool: &PgPool, new: &[NewJob]) -> Result<Vec<Enqueued>> {
    let mut tx = pool.begin().await?;
    let refs: Vec<&NewJob> = new.iter().collect();
    let answers = enqueue_in(&mut tx, &refs).await?;
    tx.commit().await?;
    Ok(answers)
}

/// Enqueues within the caller's transaction, the event included (sent at commit).
pub(super) async fn enqueue_in(tx: &mut PgConnection, new: &[&NewJob]) -> Result<Vec<Enqueued>> {
    let mut answers: Vec<Option<Enqueued>> = vec![None; new.len()];
    // Jobs without an idempotency key go in multi-row inserts: one statement
    // for many jobs is what makes group commit pay off.
    let plain: Vec<usize> = (0..new.len()).filter(|&i| new[i].idempotency_key.is_none()).collect();
    for chunk in plain.chunks(INSERT_CHUNK) {
        let rows: Vec<&NewJob> = chunk.iter().map(|&i| new[i]).collect();
        let mut created: std::collections::HashSet<JobId> = insert_many(tx, &rows).await?.into_iter().collect();
        for &i in chunk {
            let id = new[i].id;
            // `remove`: the same id twice in a batch is created once, then exists.
            answers[i] = Some(if created.remove(&id) { Enqueued::Created(id) } else { Enqueued::Existing(id) });
        }
    }
    for (i, &job) in new.iter().enumerate() {
        let Some(key) = &job.idempotency_key else { continue };
        answers[i] = Some(match take_idempotency_key(tx, job, key).await? {
            Some(existing) => Enqueued::Existing(existing),
            None => insert(tx, job).await?,
        });
    }
    let answers: Vec<Enqueued> = answers.into_iter().flatten().collect();
    if answers.iter().any(|a| matches!(a, Enqueued::Created(_))) {
        notify(tx, JobEvent::Enqueued).await?;
    }
    Ok(answers)
}

/// Jobs per multi-row insert (21 parameters each, far under PostgreSQL's 65,535).
pub(super) const INSERT_CHUNK: usize = 256;

/// Inserts jobs (skipping ids that exist); answers the ids inserted.
pub(super) async fn insert_many(conn: &mut PgConnection, jobs: &[&NewJob]) -> Result<Vec<JobId>> {
    let values: Vec<String> = (0..jobs.len())
        .map(|j| {
            let params: Vec<String> = (1..=NEW_JOB_VALUES).map(|k| format!("${}", j * NEW_JOB_VALUES + k)).collect();
            format!("({}, 'queued')", params.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO jobs ({NEW_JOB_COLUMNS}, status) VALUES {} ON CONFLICT (id) DO NOTHING RETURNING id",
        values.join(", ")
    );
    let mut q = sqlx::query_scalar::<_, String>(&sql);
    for job in jobs {
        q = crate::shared::bind_new_job!(q, job);
    }
    let ids = q.fetch_all(&mut *conn).await?;
    ids.iter().map(|s| JobId::parse(s).map_err(Into::into)).collect()
}

/// Claims `key` for `job`, or answers the job that holds it.
///
/// One statement decides, so two requests with the same key racing each
/// other cannot both win: the insert either takes the key (new, or expired
/// by the time of `job`) or leaves the live holder's row alone.
async fn take_idempotency_key(conn: &mut PgConnection, job: &NewJob, key: &str) -> Result<Option<JobId>> {
    let runnable = runnable_key(job);
    let taken: Option<String> = sqlx::query_scalar(
        "INSERT INTO idempotency_keys (workspace, runnable, key, job_id, expires_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (workspace, runnable, key) DO UPDATE SET job_id = EXCLUDED.job_id, expires_at = EXCLUDED.expires_at \
         WHERE idempotency_keys.expires_at <= $6 \
         RETURNING job_id",
    )
    .bind(job.workspace.as_str())
    .bind(&runnable)
    .bind(key)
    .bind(job.id.to_string())
    .bind(job.created_at.saturating_add(IDEMPOTENCY_WINDOW_MS))
    .bind(job.created_at)
    .fetch_optional(&mut *conn)
    .await?;
    if taken.is_some() {
        return Ok(None);
    }
    let holder: String =
        sqlx::query_scalar("SELECT job_id FROM idempotency_keys WHERE workspace = $1 AND runnable = $2 AND key = $3")
            .bind(job.workspace.as_str())
            .bind(&runnable)
            .bind(key)
            .fetch_one(&mut *conn)
            .await?;
    Ok(Some(JobId::parse(&holder)?))
}

async fn insert(conn: &mut PgConnection, job: &NewJob) -> Result<Enqueued> {
    let params: Vec<String> = (1..=NEW_JOB_VALUES).map(|k| format!("${k}")).collect();
    let sql = format!(
        "INSERT INTO jobs ({NEW_JOB_COLUMNS}, status) VALUES ({}, 'queued') ON CONFLICT (id) DO NOTHING",
        params.join(", ")
    );
    let insert = sqlx::query(&sql);
    let done = crate::shared::bind_new_job!(insert, job).execute(conn).await?;
    Ok(if done.rows_affected() == 1 { Enqueued::Created(job.id) } else { Enqueued::Existing(job.id) })
}

/// A queued job `q` whose concurrency key is not at its limit. Two claims
/// may pass it at once for two jobs of one key: the claim then counts again
/// under the key's lock (see [`claim`]).
const UNDER_LIMIT: &str = "(q.concurrency_key IS NULL OR (SELECT COUNT(*) FROM jobs r \
     WHERE r.concurrency_key = q.concurrency_key AND r.status = 'running') < q.concurrency_limit)";

pub(super) async fn claim(pool: &PgPool, c: &Claim<'_>) -> Result<Option<Job>> {
    let mut tx = pool.begin().await?;
    let row: Option<JobRow> = sqlx::query_as(&format!(
        "UPDATE jobs SET status = 'running', worker = $1, started_at = $2, lease_until = $3 \
         WHERE id = ( \
             SELECT id FROM jobs q WHERE status = 'queued' AND scheduled_for <= $2 AND tag = ANY($4) \
             AND {UNDER_LIMIT} ORDER BY scheduled_for, id LIMIT 1 FOR UPDATE SKIP LOCKED \
         ) RETURNING {JOB_COLUMNS}"
    ))
    .bind(c.worker)
    .bind(c.now)
    .bind(c.lease_until)
    .bind(c.tags)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        tx.commit().await?;
        return Ok(None);
    };
    let job = Job::try_from(row)?;
    if let Some(limit) = &job.concurrency {
        // Claims of one key count one after another: the lock is held until
        // this transaction ends, when its count is visible to the next.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 7))").bind(&limit.key).execute(&mut *tx).await?;
        let running: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE concurrency_key = $1 AND status = 'running'")
                .bind(&limit.key)
                .fetch_one(&mut *tx)
                .await?;
        if running > i64::from(limit.limit) {
            // Another worker took the last place meanwhile: the job stays queued.
            tx.rollback().await?;
            return Ok(None);
        }
    }
    notify(&mut tx, JobEvent::Started(job.id)).await?;
    tx.commit().await?;
    Ok(Some(job))
}

/// Up to `limit` due flow runs without a concurrency limit, oldest first,
/// skipping rows another claim holds.
pub(super) async fn claim_flows(pool: &PgPool, c: &Claim<'_>, limit: i64) -> Result<Vec<Job>> {
    if c.tags.is_empty() || limit <= 0 {
        return Ok(Vec::new());
    }
    let mut tx = pool.begin().await?;
    let rows: Vec<JobRow> = sqlx::query_as(&format!(
        "UPDATE jobs SET status = 'running', worker = $1, started_at = $2, lease_until = $3 \
         WHERE id IN ( \
             SELECT id FROM jobs q WHERE status = 'queued' AND kind = 'flow' AND scheduled_for <= $2 \
             AND tag = ANY($4) AND concurrency_key IS NULL ORDER BY scheduled_for, id LIMIT $5 FOR UPDATE SKIP LOCKED \
         ) RETURNING {JOB_COLUMNS}"
    ))
    .bind(c.worker)
    .bind(c.now)
    .bind(c.lease_until)
    .bind(c.tags)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let mut jobs = crate::rows::convert(rows)?;
    jobs.sort_by_key(|j: &Job| (j.scheduled_for, j.id));
    for j in &jobs {
        notify(&mut tx, JobEvent::Started(j.id)).await?;
    }
    tx.commit().await?;
    Ok(jobs)
}

pub(super) async fn renew_lease(pool: &PgPool, id: JobId, worker: &str, lease_until: Millis) -> Result<LeaseState> {
    let found: Option<Option<String>> = sqlx::query_scalar(
        "UPDATE jobs SET lease_until = $3 WHERE id = $1 AND worker = $2 AND status = 'running' \
         RETURNING cancel_requested",
    )
    .bind(id.to_string())
    .bind(worker)
    .bind(lease_until)
    .fetch_optional(pool)
    .await?;
    Ok(match found {
        None => LeaseState::Lost,
        Some(Some(reason)) => LeaseState::CancelRequested(reason),
        Some(None) => LeaseState::Held,
    })
}

pub(super) async fn complete(pool: &PgPool, done: &Completion<'_>) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let updated = sqlx::query(
        "UPDATE jobs SET status = $3, result = $4, completed_at = $5, lease_until = NULL \
         WHERE id = $1 AND worker = $2 AND status = 'running'",
    )
    .bind(done.id.to_string())
    .bind(done.worker)
    .bind(done.status.as_str())
    .bind(done.result.to_string())
    .bind(done.now)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if updated {
        notify(&mut tx, JobEvent::Completed(done.id)).await?;
    }
    tx.commit().await?;
    Ok(updated)
}

/// The most jobs one sweep handles; the next sweep takes the rest.
const SWEEP_BATCH: i64 = 1000;

pub(super) async fn sweep_expired_leases(pool: &PgPool, now: Millis, max_retries: i32) -> Result<Vec<Swept>> {
    let mut tx = pool.begin().await?;
    // Lock the lapsed jobs; another sweeper skips them, a renewal waits and
    // then finds the job no longer its own.
    let lapsed: Vec<(String, i32, Option<String>)> = sqlx::query_as(
        "SELECT id, retries, cancel_requested FROM jobs WHERE status = 'running' AND lease_until < $1 \
         ORDER BY lease_until, id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(now)
    .bind(SWEEP_BATCH)
    .fetch_all(&mut *tx)
    .await?;

    let mut swept = Vec::with_capacity(lapsed.len());
    let (canceled, lapsed): (Vec<_>, Vec<_>) = lapsed.into_iter().partition(|(_, _, c)| c.is_some());
    for (id, _, reason) in canceled {
        sqlx::query(
            "UPDATE jobs SET status = 'canceled', result = $2, completed_at = $3, lease_until = NULL WHERE id = $1",
        )
        .bind(&id)
        .bind(canceled_error(reason.as_deref().unwrap_or_default()).to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let id = JobId::parse(&id)?;
        notify(&mut tx, JobEvent::Completed(id)).await?;
        swept.push(Swept::Canceled(id));
    }
    let (requeue, fail): (Vec<_>, Vec<_>) = lapsed.into_iter().partition(|(_, retries, _)| *retries < max_retries);
    if !requeue.is_empty() {
        let ids: Vec<String> = requeue.into_iter().map(|(id, _, _)| id).collect();
        sqlx::query(
            "UPDATE jobs SET status = 'queued', worker = NULL, lease_until = NULL, started_at = NULL, \
             retries = retries + 1 WHERE id = ANY($1)",
        )
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
        for id in &ids {
            swept.push(Swept::Requeued(JobId::parse(id)?));
        }
        notify(&mut tx, JobEvent::Enqueued).await?;
    }
    for (id, retries, _) in fail {
        sqlx::query(
            "UPDATE jobs SET status = 'failure', result = $2, completed_at = $3, lease_until = NULL WHERE id = $1",
        )
        .bind(&id)
        .bind(worker_lost_error(retries).to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let id = JobId::parse(&id)?;
        notify(&mut tx, JobEvent::Completed(id)).await?;
        swept.push(Swept::Failed(id));
    }
    tx.commit().await?;
    Ok(swept)
}

/// How often a cancel re-reads a job that keeps changing under it.
const CANCEL_ATTEMPTS: usize = 5;

pub(super) async fn cancel(
    pool: &PgPool,
    ws: &WorkspaceId,
    id: JobId,
    reason: &str,
    now: Millis,
) -> Result<CancelOutcome> {
    let mut tx = pool.begin().await?;
    let key = id.to_string();
    // A flow run ends at once, and everything it started with it.
    let flow = sqlx::query(
        "UPDATE jobs SET status = 'canceled', result = $3, completed_at = $4, lease_until = NULL, wake_at = NULL \
         WHERE id = $1 AND workspace = $2 AND kind = 'flow' AND status IN ('queued', 'running')",
    )
    .bind(&key)
    .bind(ws.as_str())
    .bind(canceled_error(reason).to_string())
    .bind(now)
    .execute(&mut *tx)
    .await?;
    if flow.rows_affected() == 1 {
        notify(&mut tx, JobEvent::Completed(id)).await?;
        super::flow_runs::cancel_below(&mut tx, id, reason, now).await?;
        tx.commit().await?;
        return Ok(CancelOutcome::Canceled);
    }
    for _ in 0..CANCEL_ATTEMPTS {
        let canceled = sqlx::query(
            "UPDATE jobs SET status = 'canceled', result = $3, completed_at = $4 \
             WHERE id = $1 AND workspace = $2 AND status = 'queued'",
        )
        .bind(&key)
        .bind(ws.as_str())
        .bind(canceled_error(reason).to_string())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if canceled.rows_affected() == 1 {
            notify(&mut tx, JobEvent::Completed(id)).await?;
            tx.commit().await?;
            return Ok(CancelOutcome::Canceled);
        }

        let asked = sqlx::query(
            "UPDATE jobs SET cancel_requested = $3 WHERE id = $1 AND workspace = $2 AND status = 'running'",
        )
        .bind(&key)
        .bind(ws.as_str())
        .bind(reason)
        .execute(&mut *tx)
        .await?;
        if asked.rows_affected() == 1 {
            notify(&mut tx, JobEvent::CancelRequested(id)).await?;
            tx.commit().await?;
            return Ok(CancelOutcome::Requested);
        }

        let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1 AND workspace = $2")
            .bind(&key)
            .bind(ws.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        match status.as_deref().map(JobStatus::parse).transpose()? {
            None => return Ok(CancelOutcome::NotFound),
            Some(s) if s.is_final() => return Ok(CancelOutcome::AlreadyFinished(s)),
            // Swept back to the queue (or claimed) since the updates above: again.
            Some(_) => continue,
        }
    }
    Err(StoreError::Conflict(format!("job {id} kept changing state while it was being canceled; try again")))
}

#[async_trait::async_trait]
impl crate::QueueStore for super::PgStore {
    async fn enqueue(&self, new: &[NewJob]) -> Result<Vec<Enqueued>> {
        enqueue(&self.pool, new).await
    }

    async fn claim(&self, claim: &Claim<'_>) -> Result<Option<Job>> {
        self::claim(&self.pool, claim).await
    }

    async fn claim_flows(&self, claim: &Claim<'_>, limit: i64) -> Result<Vec<Job>> {
        claim_flows(&self.pool, claim, limit).await
    }

    async fn renew_lease(&self, id: JobId, worker: &str, lease_until: Millis) -> Result<LeaseState> {
        renew_lease(&self.pool, id, worker, lease_until).await
    }

    async fn complete(&self, done: &Completion<'_>) -> Result<bool> {
        complete(&self.pool, done).await
    }

    async fn sweep_expired_leases(&self, now: Millis, max_retries: i32) -> Result<Vec<Swept>> {
        sweep_expired_leases(&self.pool, now, max_retries).await
    }

    async fn purge_idempotency_keys(&self, now: Millis, limit: i64) -> Result<u64> {
        // Rows another purge holds are skipped, not waited for.
        let done = sqlx::query(
            "DELETE FROM idempotency_keys WHERE ctid IN (SELECT ctid FROM idempotency_keys \
             WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(now)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    async fn cancel(&self, ws: &WorkspaceId, id: JobId, reason: &str, now: Millis) -> Result<CancelOutcome> {
        cancel(&self.pool, ws, id, reason, now).await
    }

    async fn commit_flow(&self, commit: &FlowCommit) -> Result<FlowCommitted> {
        super::flow_runs::commit(&self.pool, commit).await
    }

    async fn flow_children(&self, parent: JobId, step_id: Option<&str>) -> Result<Vec<FlowChild>> {
        super::flow_runs::children(&self.pool, parent, step_id).await
    }

    async fn due_flow_wakes(&self, now: Millis) -> Result<Vec<(WorkspaceId, JobId)>> {
        super::flow_runs::due_wakes(&self.pool, now).await
    }

    async fn running_flows(&self, after: Option<JobId>, limit: i64) -> Result<Vec<Job>> {
        super::flow_runs::running(&self.pool, after, limit).await
    }
}
