//! Instance-wide state on PostgreSQL: settings every process must agree on,
//! and the worker heartbeats that tell how many job slots are alive.

use crate::types::WorkerPing;
use crate::{JobEvent, JobWatch, Result};
use orvanta_core::{JobId, Millis};
use sqlx::PgPool;
use tokio::sync::broadcast;

/// The setting `key`, stored as `init` first when unset; the first writer wins.
pub(super) async fn setting(pool: &PgPool, key: &str, init: &str) -> Result<String> {
    // `DO UPDATE` with no change returns the row whoever wrote it, in one
    // statement; `DO NOTHING` would return nothing to the losers of a race.
    let value: String = sqlx::query_scalar(
        "INSERT INTO instance_settings (key, value) VALUES ($1, $2) \
         ON CONFLICT (key) DO UPDATE SET value = instance_settings.value RETURNING value",
    )
    .bind(key)
    .bind(init)
    .fetch_one(pool)
    .await?;
    Ok(value)
}

pub(super) async fn worker_ping(pool: &PgPool, ping: &WorkerPing<'_>) -> Result<()> {
    sqlx::query(
        "INSERT INTO workers (id, slots, last_ping, tags) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (id) DO UPDATE SET slots = EXCLUDED.slots, last_ping = EXCLUDED.last_ping, tags = EXCLUDED.tags",
    )
    .bind(ping.worker)
    .bind(ping.slots)
    .bind(ping.now)
    .bind(ping.tags_text())
    .execute(pool)
    .await?;
    Ok(())
}

pub(super) async fn tag_served(pool: &PgPool, tag: &str, since: Millis) -> Result<bool> {
    let found: Option<i32> = sqlx::query_scalar(
        "SELECT 1 FROM workers WHERE last_ping >= $1 AND position(',' || $2 || ',' in tags) > 0 LIMIT 1",
    )
    .bind(since)
    .bind(tag)
    .fetch_optional(pool)
    .await?;
    Ok(found.is_some())
}

pub(super) async fn count_workers(pool: &PgPool, since: Millis) -> Result<i64> {
    // SUM of BIGINT is NUMERIC in PostgreSQL.
    let slots: i64 = sqlx::query_scalar("SELECT COALESCE(SUM(slots), 0)::BIGINT FROM workers WHERE last_ping >= $1")
        .bind(since)
        .fetch_one(pool)
        .await?;
    Ok(slots)
}

#[async_trait::async_trait]
impl crate::InstanceStore for super::PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn is_shared(&self) -> bool {
        true
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    fn watch(&self, id: JobId) -> JobWatch {
        self.events.watch(id)
    }

    async fn instance_setting(&self, key: &str, init: &str) -> Result<String> {
        setting(&self.pool, key, init).await
    }

    async fn worker_ping(&self, ping: &WorkerPing<'_>) -> Result<()> {
        worker_ping(&self.pool, ping).await
    }

    async fn count_workers(&self, since: Millis) -> Result<i64> {
        count_workers(&self.pool, since).await
    }

    async fn tag_served(&self, tag: &str, since: Millis) -> Result<bool> {
        tag_served(&self.pool, tag, since).await
    }
}
