//! The instance on SQLite: the store's identity, settings every process
//! shares, and worker heartbeats.

use super::SqliteStore;
use crate::{JobEvent, JobWatch, Result, WorkerPing};
use async_trait::async_trait;
use orvanta_core::{JobId, Millis};
use tokio::sync::broadcast;

#[async_trait]
impl crate::InstanceStore for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn is_shared(&self) -> bool {
        false
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.read).await?;
        Ok(())
    }

    fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    fn watch(&self, id: JobId) -> JobWatch {
        self.events.watch(id)
    }

    async fn instance_setting(&self, key: &str, init: &str) -> Result<String> {
        sqlx::query("INSERT INTO instance_settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING")
            .bind(key)
            .bind(init)
            .execute(&self.write)
            .await?;
        Ok(sqlx::query_scalar("SELECT value FROM instance_settings WHERE key = ?")
            .bind(key)
            .fetch_one(&self.write)
            .await?)
    }

    async fn worker_ping(&self, ping: &WorkerPing<'_>) -> Result<()> {
        sqlx::query(
            "INSERT INTO workers (id, slots, last_ping, tags) VALUES (?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET slots = excluded.slots, last_ping = excluded.last_ping, tags = excluded.tags",
        )
        .bind(ping.worker)
        .bind(ping.slots)
        .bind(ping.now)
        .bind(ping.tags_text())
        .execute(&self.write)
        .await?;
        Ok(())
    }

    async fn count_workers(&self, since: Millis) -> Result<i64> {
        let n: Option<i64> = sqlx::query_scalar("SELECT SUM(slots) FROM workers WHERE last_ping >= ?")
            .bind(since)
            .fetch_one(&self.read)
            .await?;
        Ok(n.unwrap_or(0))
    }

    async fn tag_served(&self, tag: &str, since: Millis) -> Result<bool> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM workers WHERE last_ping >= ? AND instr(tags, ',' || ? || ',') > 0 LIMIT 1",
        )
        .bind(since)
        .bind(tag)
        .fetch_optional(&self.read)
        .await?;
        Ok(found.is_some())
    }
}
