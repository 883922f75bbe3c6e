//! Inbound webhook definitions and their history on SQLite.

use super::SqliteStore;
use crate::rows::{convert, HookEventRow, HookRow, HOOK_COLUMNS, HOOK_EVENT_COLUMNS};
use crate::{Hook, HookEvent, HookRecorded, JobEvent, Result};
use async_trait::async_trait;
use orvanta_core::{Millis, NewJob, WorkspaceId};

#[async_trait]
impl crate::HookStore for SqliteStore {
    async fn create_hook(&self, h: &Hook) -> Result<()> {
        sqlx::query(
            "INSERT INTO hooks (id, workspace, name, config, url_verified, created_by, created_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&h.id)
        .bind(h.workspace.as_str())
        .bind(&h.name)
        .bind(h.config.to_string())
        .bind(h.url_verified)
        .bind(h.created_by.as_str())
        .bind(h.created_at)
        .bind(h.updated_at)
        .execute(&self.write)
        .await
        .map_err(|e| crate::shared::conflict_as(e, crate::shared::hook_name_taken(h)))?;
        Ok(())
    }

    async fn get_hook(&self, id: &str) -> Result<Option<Hook>> {
        let row: Option<HookRow> = sqlx::query_as(&format!("SELECT {HOOK_COLUMNS} FROM hooks WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.read)
            .await?;
        row.map(Hook::try_from).transpose()
    }

    async fn list_hooks(&self, ws: &WorkspaceId) -> Result<Vec<Hook>> {
        let rows: Vec<HookRow> =
            sqlx::query_as(&format!("SELECT {HOOK_COLUMNS} FROM hooks WHERE workspace = ? ORDER BY name"))
                .bind(ws.as_str())
                .fetch_all(&self.read)
                .await?;
        convert(rows)
    }

    async fn update_hook(&self, h: &Hook) -> Result<bool> {
        let done = sqlx::query("UPDATE hooks SET name = ?, config = ?, updated_at = ? WHERE id = ? AND workspace = ?")
            .bind(&h.name)
            .bind(h.config.to_string())
            .bind(h.updated_at)
            .bind(&h.id)
            .bind(h.workspace.as_str())
            .execute(&self.write)
            .await
            .map_err(|e| crate::shared::conflict_as(e, crate::shared::hook_name_taken(h)))?;
        Ok(done.rows_affected() == 1)
    }

    async fn delete_hook(&self, ws: &WorkspaceId, id: &str) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query("DELETE FROM hooks WHERE id = ? AND workspace = ?")
            .bind(id)
            .bind(ws.as_str())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 1 {
            for table in ["hook_events", "hook_deliveries"] {
                sqlx::query(&format!("DELETE FROM {table} WHERE hook_id = ?")).bind(id).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    async fn set_hook_verified(&self, id: &str) -> Result<()> {
        sqlx::query("UPDATE hooks SET url_verified = 1 WHERE id = ? AND url_verified = 0")
            .bind(id)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn record_hook_event(&self, e: &HookEvent, delivery: Option<&str>, jobs: &[NewJob]) -> Result<HookRecorded> {
        let mut tx = self.write.begin().await?;
        let fresh = match delivery {
            None => true,
            Some(d) => {
                sqlx::query(
                    "INSERT INTO hook_deliveries (hook_id, delivery_id, received_at) VALUES (?, ?, ?) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&e.hook_id)
                .bind(d)
                .bind(e.received_at)
                .execute(&mut *tx)
                .await?
                .rows_affected()
                    == 1
            }
        };
        let (outcome, enqueued) = if fresh {
            (e.outcome.as_str(), super::queue::enqueue_in(&mut tx, jobs).await?)
        } else {
            ("duplicate", Vec::new())
        };
        let jobs_json = crate::shared::hook_jobs_json(&e.jobs, jobs, &enqueued);
        sqlx::query(&format!(
            "INSERT INTO hook_events ({HOOK_EVENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ))
        .bind(&e.id)
        .bind(&e.hook_id)
        .bind(e.workspace.as_str())
        .bind(&e.event_id)
        .bind(e.received_at)
        .bind(outcome)
        .bind(if fresh { e.reason.clone() } else { Some(crate::shared::duplicate_reason(delivery)) })
        .bind(e.headers_matched)
        .bind(&e.method)
        .bind(&e.query)
        .bind(e.headers.to_string())
        .bind(&e.body)
        .bind(jobs_json.to_string())
        .bind(e.waits.to_string())
        .bind(&e.replay_of)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if enqueued.iter().any(|q| matches!(q, crate::Enqueued::Created(_))) {
            self.publish(JobEvent::Enqueued);
        }
        Ok(if fresh { HookRecorded::New(enqueued) } else { HookRecorded::Duplicate })
    }

    async fn list_hook_events(&self, hook_id: &str, before: Option<&str>, limit: i64) -> Result<Vec<HookEvent>> {
        let rows: Vec<HookEventRow> = sqlx::query_as(&format!(
            "SELECT {HOOK_EVENT_COLUMNS} FROM hook_events WHERE hook_id = ?1 AND (?2 IS NULL OR id < ?2) \
             ORDER BY id DESC LIMIT ?3"
        ))
        .bind(hook_id)
        .bind(before)
        .bind(limit)
        .fetch_all(&self.read)
        .await?;
        convert(rows)
    }

    async fn get_hook_event(&self, hook_id: &str, id: &str) -> Result<Option<HookEvent>> {
        let row: Option<HookEventRow> = sqlx::query_as(&format!(
            "SELECT {HOOK_EVENT_COLUMNS} FROM hook_events WHERE hook_id = ?1 AND (id = ?2 OR event_id = ?2) \
             ORDER BY id = ?2 DESC, id DESC LIMIT 1"
        ))
        .bind(hook_id)
        .bind(id)
        .fetch_optional(&self.read)
        .await?;
        row.map(HookEvent::try_from).transpose()
    }

    async fn purge_hook_events(&self, before: Millis) -> Result<u64> {
        let mut tx = self.write.begin().await?;
        let done = sqlx::query("DELETE FROM hook_events WHERE received_at < ?").bind(before).execute(&mut *tx).await?;
        sqlx::query("DELETE FROM hook_deliveries WHERE received_at < ?").bind(before).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(done.rows_affected())
    }
}
