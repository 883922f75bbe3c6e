//! Job reads and job outputs on PostgreSQL: the job list, logs and the
//! result stream, and the purge of `delete_after_use`.
//!
//! Logs and stream are stored as chunks keyed by the byte offset they were
//! written at, so an append is one insert however long the output grows, and
//! a reader that knows how far it got fetches only the chunks after that.

use super::notify;
use crate::rows::{convert, JobRow, JOB_COLUMNS};
use crate::shared::slice_from;
use crate::{JobEvent, JobFilter, Result};
use orvanta_core::{Job, JobId, WorkspaceId};
use sqlx::{PgPool, Postgres};

/// Which output of a job.
#[derive(Debug, Clone, Copy)]
pub(super) enum Output {
    Logs,
    Stream,
}

impl Output {
    fn table(self) -> &'static str {
        match self {
            Self::Logs => "job_logs",
            Self::Stream => "job_stream",
        }
    }
}

pub(super) async fn get_job(pool: &PgPool, ws: &WorkspaceId, id: JobId) -> Result<Option<Job>> {
    let row: Option<JobRow> =
        sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 AND workspace = $2"))
            .bind(id.to_string())
            .bind(ws.as_str())
            .fetch_optional(pool)
            .await?;
    row.map(Job::try_from).transpose()
}

/// Newest first; `limit` 0 (unset) means 100, and at most 1000 are returned.
pub(super) async fn list_jobs(pool: &PgPool, ws: &WorkspaceId, f: &JobFilter) -> Result<Vec<Job>> {
    let mut q = crate::shared::jobs_query::<Postgres>(ws, f);
    let rows: Vec<JobRow> = q.build_query_as().fetch_all(pool).await?;
    convert(rows)
}

/// Stores a chunk and tells waiting readers. Appending the same offset twice
/// (a worker retrying after a timeout) keeps the first chunk.
pub(super) async fn append(pool: &PgPool, out: Output, id: JobId, offset: i64, chunk: &str) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(&format!(
        "INSERT INTO {} (job_id, pos, chunk) VALUES ($1, $2, $3) ON CONFLICT (job_id, pos) DO NOTHING",
        out.table()
    ))
    .bind(id.to_string())
    .bind(offset)
    .bind(chunk)
    .execute(&mut *tx)
    .await?;
    notify(&mut tx, JobEvent::Progress(id)).await?;
    tx.commit().await?;
    Ok(())
}

/// The output from byte `from` on: only the chunks that end after it are
/// read, and the first is cut where `from` falls inside it.
pub(super) async fn read(pool: &PgPool, out: Output, id: JobId, from: i64) -> Result<String> {
    let from = from.max(0);
    let chunks: Vec<(i64, String)> = sqlx::query_as(&format!(
        "SELECT pos, chunk FROM {} WHERE job_id = $1 AND pos + octet_length(chunk) > $2 ORDER BY pos",
        out.table()
    ))
    .bind(id.to_string())
    .bind(from)
    .fetch_all(pool)
    .await?;
    Ok(slice_from(chunks, from))
}

pub(super) async fn purge(pool: &PgPool, id: JobId) -> Result<()> {
    let key = id.to_string();
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE jobs SET args = NULL, result = NULL, purged = TRUE WHERE id = $1")
        .bind(&key)
        .execute(&mut *tx)
        .await?;
    for table in ["job_logs", "job_stream"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE job_id = $1")).bind(&key).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

#[async_trait::async_trait]
impl crate::OutputStore for super::PgStore {
    async fn get_job(&self, ws: &WorkspaceId, id: JobId) -> Result<Option<Job>> {
        get_job(&self.pool, ws, id).await
    }

    async fn job_by_id(&self, id: JobId) -> Result<Option<Job>> {
        let row: Option<JobRow> = sqlx::query_as(&format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.map(Job::try_from).transpose()
    }

    async fn list_jobs(&self, ws: &WorkspaceId, filter: &JobFilter) -> Result<Vec<Job>> {
        list_jobs(&self.pool, ws, filter).await
    }

    async fn append_logs(&self, id: JobId, offset: i64, chunk: &str) -> Result<()> {
        append(&self.pool, Output::Logs, id, offset, chunk).await
    }

    async fn read_logs(&self, id: JobId, from: i64) -> Result<String> {
        read(&self.pool, Output::Logs, id, from).await
    }

    async fn append_stream(&self, id: JobId, offset: i64, chunk: &str) -> Result<()> {
        append(&self.pool, Output::Stream, id, offset, chunk).await
    }

    async fn read_stream(&self, id: JobId, from: i64) -> Result<String> {
        read(&self.pool, Output::Stream, id, from).await
    }

    async fn purge_job(&self, id: JobId) -> Result<()> {
        purge(&self.pool, id).await
    }
}
