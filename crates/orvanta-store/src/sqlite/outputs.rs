//! Job reads and job outputs on SQLite: the job list, logs and the result
//! stream as appended chunks, and the purge of `delete_after_use`.

use super::SqliteStore;
use crate::rows;
use crate::rows::{JobRow, JOB_COLUMNS};
use crate::shared::slice_from;
use crate::{JobEvent, JobFilter, Result};
use async_trait::async_trait;
use orvanta_core::{Job, JobId, WorkspaceId};
use sqlx::SqlitePool;

#[async_trait]
impl crate::OutputStore for SqliteStore {
    async fn get_job(&self, ws: &WorkspaceId, id: JobId) -> Result<Option<Job>> {
        get(&self.read, ws, id).await
    }

    async fn job_by_id(&self, id: JobId) -> Result<Option<Job>> {
        let row: Option<JobRow> = sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?"))
            .bind(id.to_string())
            .fetch_optional(&self.read)
            .await?;
        row.map(Job::try_from).transpose()
    }

    async fn list_jobs(&self, ws: &WorkspaceId, filter: &JobFilter) -> Result<Vec<Job>> {
        list(&self.read, ws, filter).await
    }

    async fn append_logs(&self, id: JobId, offset: i64, chunk: &str) -> Result<()> {
        append_chunk(&self.write, "job_logs", id, offset, chunk).await?;
        self.publish(JobEvent::Progress(id));
        Ok(())
    }

    async fn read_logs(&self, id: JobId, from: i64) -> Result<String> {
        read_chunks(&self.read, "job_logs", id, from).await
    }

    async fn append_stream(&self, id: JobId, offset: i64, chunk: &str) -> Result<()> {
        append_chunk(&self.write, "job_stream", id, offset, chunk).await?;
        self.publish(JobEvent::Progress(id));
        Ok(())
    }

    async fn read_stream(&self, id: JobId, from: i64) -> Result<String> {
        read_chunks(&self.read, "job_stream", id, from).await
    }

    async fn get_job_and_stream(&self, ws: &WorkspaceId, id: JobId) -> Result<Option<(Job, String)>> {
        use futures::TryStreamExt;
        use sqlx::{Executor, FromRow, Row};
        // Both statements in one query: the job's row, then its chunks.
        let sql = format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1 AND workspace = ?2; \
             SELECT pos, chunk FROM job_stream WHERE job_id = ?1 ORDER BY pos"
        );
        let q = sqlx::query(&sql).bind(id.to_string()).bind(ws.as_str());
        let answers: Vec<_> = self.read.fetch_many(q).try_collect().await?;
        // The first statement's rows come before its result.
        let first_end = answers.iter().position(|a| a.is_left()).unwrap_or(answers.len());
        let Some(row) = answers[..first_end].iter().find_map(|a| a.as_ref().right()) else { return Ok(None) };
        let job = Job::try_from(JobRow::from_row(row)?)?;
        let mut chunks = Vec::new();
        for row in answers[first_end..].iter().filter_map(|a| a.as_ref().right()) {
            chunks.push((row.try_get::<i64, _>(0)?, row.try_get::<String, _>(1)?));
        }
        Ok(Some((job, slice_from(chunks, 0))))
    }

    async fn purge_job(&self, id: JobId) -> Result<()> {
        purge(&self.write, id).await
    }
}

pub(super) async fn get(pool: &SqlitePool, ws: &WorkspaceId, id: JobId) -> Result<Option<Job>> {
    let row: Option<JobRow> = sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ? AND workspace = ?"))
        .bind(id.to_string())
        .bind(ws.as_str())
        .fetch_optional(pool)
        .await?;
    row.map(Job::try_from).transpose()
}

pub(super) async fn list(pool: &SqlitePool, ws: &WorkspaceId, f: &JobFilter) -> Result<Vec<Job>> {
    let mut q = crate::shared::jobs_query::<sqlx::Sqlite>(ws, f);
    let rows: Vec<JobRow> = q.build_query_as().fetch_all(pool).await?;
    rows::convert(rows)
}

/// `table` is one of two constants (`job_logs`, `job_stream`), never user input.
pub(super) async fn append_chunk(pool: &SqlitePool, table: &str, id: JobId, offset: i64, chunk: &str) -> Result<()> {
    sqlx::query(&format!("INSERT INTO {table} (job_id, pos, chunk) VALUES (?, ?, ?)"))
        .bind(id.to_string())
        .bind(offset)
        .bind(chunk)
        .execute(pool)
        .await?;
    Ok(())
}

/// The chunks of a job's output in `table` (as [`append_chunk`]) that end past byte `from`.
pub(super) fn chunks_sql(table: &str) -> String {
    format!("SELECT pos, chunk FROM {table} WHERE job_id = ? AND pos + length(CAST(chunk AS BLOB)) > ? ORDER BY pos")
}

pub(super) async fn read_chunks(pool: &SqlitePool, table: &str, id: JobId, from: i64) -> Result<String> {
    let chunks: Vec<(i64, String)> =
        sqlx::query_as(&chunks_sql(table)).bind(id.to_string()).bind(from).fetch_all(pool).await?;
    Ok(slice_from(chunks, from))
}

pub(super) async fn purge(pool: &SqlitePool, id: JobId) -> Result<()> {
    let mut tx = pool.begin().await?;
    let id = id.to_string();
    sqlx::query("UPDATE jobs SET args = NULL, result = NULL, purged = 1 WHERE id = ?")
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM job_logs WHERE job_id = ?").bind(&id).execute(&mut *tx).await?;
    sqlx::query("DELETE FROM job_stream WHERE job_id = ?").bind(&id).execute(&mut *tx).await?;
    tx.commit().await?;
    // The old pages also sit in the WAL until a checkpoint: move them out now.
    // Best effort: a busy checkpoint leaves them for the next one.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await?;
    Ok(())
}
