//! Inbound webhook definitions and their history on PostgreSQL.

use super::PgStore;
use crate::rows::{convert, HookEventRow, HookRow, HookWaitRow, HOOK_COLUMNS, HOOK_EVENT_COLUMNS, HOOK_WAIT_COLUMNS};
use crate::{Hook, HookEvent, HookRecord, HookRecorded, HookWait, Result};
use async_trait::async_trait;
use orvanta_core::{JobId, Millis, NewJob, WorkspaceId};

/// Event records per multi-row insert (16 values each, under both databases' limits).
const EVENTS_PER_INSERT: usize = 64;

#[async_trait]
impl crate::HookStore for PgStore {
    async fn create_hook(&self, h: &Hook) -> Result<()> {
        sqlx::query(
            "INSERT INTO hooks (id, workspace, name, config, url_verified, created_by, created_at, updated_at, edited_by) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&h.id)
        .bind(h.workspace.as_str())
        .bind(&h.name)
        .bind(h.config.to_string())
        .bind(h.url_verified)
        .bind(h.created_by.as_str())
        .bind(h.created_at)
        .bind(h.updated_at)
        .bind(h.edited_by.as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| crate::shared::conflict_as(e, crate::shared::hook_name_taken(h)))?;
        Ok(())
    }

    async fn get_hook(&self, id: &str) -> Result<Option<Hook>> {
        let row: Option<HookRow> = sqlx::query_as(&format!("SELECT {HOOK_COLUMNS} FROM hooks WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(Hook::try_from).transpose()
    }

    async fn list_hooks(&self, ws: &WorkspaceId) -> Result<Vec<Hook>> {
        let rows: Vec<HookRow> =
            sqlx::query_as(&format!("SELECT {HOOK_COLUMNS} FROM hooks WHERE workspace = $1 ORDER BY name"))
                .bind(ws.as_str())
                .fetch_all(&self.pool)
                .await?;
        convert(rows)
    }

    async fn update_hook(&self, h: &Hook) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE hooks SET name = $1, config = $2, updated_at = $3, edited_by = $4 WHERE id = $5 AND workspace = $6",
        )
        .bind(&h.name)
        .bind(h.config.to_string())
        .bind(h.updated_at)
        .bind(h.edited_by.as_str())
        .bind(&h.id)
        .bind(h.workspace.as_str())
        .execute(&self.pool)
        .await
        .map_err(|e| crate::shared::conflict_as(e, crate::shared::hook_name_taken(h)))?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_hook(&self, ws: &WorkspaceId, id: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM hooks WHERE id = $1 AND workspace = $2")
            .bind(id)
            .bind(ws.as_str())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 1 {
            for table in ["hook_events", "hook_deliveries"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE hook_id = $1")).bind(id).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_hook_verified(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE hooks SET url_verified = TRUE WHERE id = $1 AND NOT url_verified")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn record_hook_events(&self, events: &[HookRecord]) -> Result<Vec<HookRecorded>> {
        let mut tx = self.pool.begin().await?;
        // Which events act: those whose delivery id was not acted on before
        // (nor earlier in this batch).
        let mut fresh = Vec::with_capacity(events.len());
        for r in events {
            let new = match &r.delivery {
                None => true,
                Some(d) => {
                    sqlx::query(
                        "INSERT INTO hook_deliveries (hook_id, delivery_id, received_at) VALUES ($1, $2, $3) \
                         ON CONFLICT DO NOTHING",
                    )
                    .bind(&r.event.hook_id)
                    .bind(d)
                    .bind(r.event.received_at)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1
                }
            };
            fresh.push(new);
        }
        for (r, _) in events.iter().zip(&fresh).filter(|(_, f)| **f) {
            for (job, _) in r.jobs.iter().zip(&r.release_ended_keys).filter(|(_, release)| **release) {
                release_ended_key(&mut tx, job).await?;
            }
        }
        // The jobs of every acting event in one enqueue (multi-row inserts).
        let refs: Vec<&NewJob> =
            events.iter().zip(&fresh).filter(|(_, f)| **f).flat_map(|(r, _)| r.jobs.iter()).collect();
        let mut enqueued = super::queue::enqueue_in(&mut tx, &refs).await?.into_iter();
        let mut per_event: Vec<Vec<crate::Enqueued>> = Vec::with_capacity(events.len());
        for (r, f) in events.iter().zip(&fresh) {
            per_event.push(if *f { enqueued.by_ref().take(r.jobs.len()).collect() } else { Vec::new() });
        }
        // The records, many rows per statement.
        for chunk in events.iter().zip(&fresh).zip(&per_event).collect::<Vec<_>>().chunks(EVENTS_PER_INSERT) {
            let mut q =
                sqlx::QueryBuilder::<sqlx::Postgres>::new(format!("INSERT INTO hook_events ({HOOK_EVENT_COLUMNS}) "));
            q.push_values(chunk, |mut row, ((r, f), enq)| {
                let e = &r.event;
                let (outcome, reason) = if **f {
                    (e.outcome.clone(), e.reason.clone())
                } else {
                    ("duplicate".to_owned(), Some(crate::shared::duplicate_reason(r.delivery.as_deref())))
                };
                row.push_bind(e.id.clone())
                    .push_bind(e.hook_id.clone())
                    .push_bind(e.workspace.as_str().to_owned())
                    .push_bind(e.event_id.clone())
                    .push_bind(e.received_at)
                    .push_bind(outcome)
                    .push_bind(reason)
                    .push_bind(e.headers_matched)
                    .push_bind(e.method.clone())
                    .push_bind(e.query.clone())
                    .push_bind(e.headers.to_string())
                    .push_bind(e.body.clone())
                    .push_bind(crate::shared::hook_jobs_json(&e.jobs, &r.jobs, enq).to_string())
                    .push_bind(e.waits.to_string())
                    .push_bind(e.replay_of.clone())
                    .push_bind(0_i32);
            });
            q.build().execute(&mut *tx).await?;
        }
        // The waits as this transaction sees them: one read per hook and batch.
        let mut waits: Vec<(String, Vec<HookWait>)> = Vec::new();
        let mut answers = Vec::with_capacity(events.len());
        for ((r, f), enq) in events.iter().zip(&fresh).zip(per_event) {
            if !*f {
                answers.push(HookRecorded::Duplicate);
                continue;
            }
            let hook = &r.event.hook_id;
            if !waits.iter().any(|(h, _)| h == hook) {
                let rows: Vec<HookWaitRow> = sqlx::query_as(&format!(
                    "SELECT {HOOK_WAIT_COLUMNS} FROM hook_waits WHERE hook_id = $1 ORDER BY created_at"
                ))
                .bind(hook)
                .fetch_all(&mut *tx)
                .await?;
                waits.push((hook.clone(), convert(rows)?));
            }
            let of_hook = waits.iter().find(|(h, _)| h == hook).map(|(_, w)| w.clone()).unwrap_or_default();
            answers.push(HookRecorded::New(enq, of_hook));
        }
        tx.commit().await?;
        Ok(answers)
    }

    async fn list_hook_events(&self, hook_id: &str, before: Option<&str>, limit: i64) -> Result<Vec<HookEvent>> {
        let rows: Vec<HookEventRow> = sqlx::query_as(&format!(
            "SELECT {HOOK_EVENT_COLUMNS} FROM hook_events WHERE hook_id = $1 AND ($2::TEXT IS NULL OR id < $2) \
             ORDER BY id DESC LIMIT $3"
        ))
        .bind(hook_id)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    async fn get_hook_event(&self, hook_id: &str, id: &str) -> Result<Option<HookEvent>> {
        let row: Option<HookEventRow> = sqlx::query_as(&format!(
            "SELECT {HOOK_EVENT_COLUMNS} FROM hook_events WHERE hook_id = $1 AND (id = $2 OR event_id = $2) \
             ORDER BY id = $2 DESC, id DESC LIMIT 1"
        ))
        .bind(hook_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(HookEvent::try_from).transpose()
    }

    async fn purge_hook_events(&self, before: Millis) -> Result<u64> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM hook_events WHERE received_at < $1").bind(before).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM hook_deliveries WHERE received_at < $1").bind(before).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }

    async fn set_hook_event_waits(&self, id: &str, waits: &serde_json::Value) -> Result<()> {
        sqlx::query("UPDATE hook_events SET waits = $1 WHERE id = $2")
            .bind(waits.to_string())
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn hook_waits(&self, hook_id: &str) -> Result<Vec<HookWait>> {
        let rows: Vec<HookWaitRow> = sqlx::query_as(&format!(
            "SELECT {HOOK_WAIT_COLUMNS} FROM hook_waits WHERE hook_id = $1 ORDER BY created_at"
        ))
        .bind(hook_id)
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    async fn expired_hook_waits(&self, now: Millis, limit: i64) -> Result<Vec<HookWait>> {
        let rows: Vec<HookWaitRow> = sqlx::query_as(&format!(
            "SELECT {HOOK_WAIT_COLUMNS} FROM hook_waits WHERE deadline IS NOT NULL AND deadline <= $1 \
             ORDER BY deadline LIMIT $2"
        ))
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    async fn take_hook_wait(&self, job: JobId) -> Result<bool> {
        let done =
            sqlx::query("DELETE FROM hook_waits WHERE job_id = $1").bind(job.to_string()).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }
}

/// Frees `job`'s idempotency key when the run holding it has ended, so that
/// enqueuing `job` starts a new run; a queued or running holder keeps it.
async fn release_ended_key(tx: &mut sqlx::PgConnection, job: &NewJob) -> Result<()> {
    let Some(key) = &job.idempotency_key else { return Ok(()) };
    sqlx::query(
        "DELETE FROM idempotency_keys WHERE workspace = $1 AND runnable = $2 AND key = $3 \
         AND job_id IN (SELECT id FROM jobs WHERE status IN ('success', 'failure', 'canceled'))",
    )
    .bind(job.workspace.as_str())
    .bind(crate::rows::runnable_key(job))
    .bind(key)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
