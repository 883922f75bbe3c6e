//! WAL checkpoints off the write path. SQLite's own checkpoint runs inside
//! the commit that pushes the WAL past its threshold: that commit, and every
//! write queued behind the single write connection, waits while pages are
//! copied back into the database and the files synced. Here a connection of
//! its own does it (`PASSIVE`: it never blocks the writer or readers) every
//! [`EVERY`]; the write connection checkpoints by itself only when the WAL
//! grows past [`FALLBACK_PAGES`] (this task stopped, or cannot keep up).

use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the WAL is copied back.
const EVERY: Duration = Duration::from_millis(25);

/// The write connection's own threshold, in pages (64 MiB at 4 KiB).
pub(super) const FALLBACK_PAGES: &str = "16384";

/// The checkpoint task; aborted when dropped, that is when its store is.
pub(super) struct Checkpointer(JoinHandle<()>);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts checkpointing the database `options` opens, after the commits
/// the write connection counts in `commits` (an idle database is left alone).
pub(super) fn start(options: SqliteConnectOptions, commits: Arc<AtomicU64>) -> Checkpointer {
    Checkpointer(tokio::spawn(async move {
        let mut conn = None;
        let mut seen = 0;
        let mut backoff = EVERY;
        loop {
            tokio::time::sleep(backoff).await;
            let now = commits.load(Ordering::Relaxed);
            if now == seen {
                continue;
            }
            if conn.is_none() {
                match options.connect().await {
                    Ok(c) => conn = Some(c),
                    Err(e) => {
                        backoff = failed(backoff, "open the database", &e);
                        continue;
                    }
                }
            }
            let Some(c) = conn.as_mut() else { continue };
            // (busy, frames in the WAL, frames copied back)
            match sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)").fetch_one(&mut *c).await {
                Ok((_, log, copied)) => {
                    backoff = EVERY;
                    // The commit hook counts a commit before its pages are in
                    // the WAL: the count is done with once all is copied.
                    if copied >= log {
                        seen = now;
                    }
                }
                Err(e) => {
                    backoff = failed(backoff, "checkpoint the WAL", &e);
                    if let Some(c) = conn.take() {
                        let _ = c.close().await;
                    }
                }
            }
        }
    }))
}

/// Logs a failure (the write connection's own checkpoint covers meanwhile);
/// answers the next wait, doubled up to 5 s.
fn failed(backoff: Duration, what: &str, e: &sqlx::Error) -> Duration {
    let next = (backoff * 2).min(Duration::from_secs(5));
    if next != backoff {
        tracing::warn!(error = %e, "the WAL checkpointer could not {what}; retrying, the write connection checkpoints meanwhile");
    }
    next
}

#[cfg(test)]
mod tests {
    /// What is committed reaches the database file itself within moments,
    /// with no write pushing the WAL past the write connection's threshold.
    #[tokio::test]
    async fn commits_reach_the_database_file_without_a_large_wal() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("c.db");
        let store =
            super::super::SqliteStore::open(&format!("sqlite:{}", db.display()), &Default::default()).await.unwrap();
        sqlx::query("INSERT INTO instance_settings (key, value) VALUES ('checkpointed', 'yes')")
            .execute(&store.write)
            .await
            .unwrap();
        let copy = dir.path().join("copy.db");
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            // The database file alone, without its WAL: what was checkpointed
            // (until the schema is, there is no table to read).
            std::fs::copy(&db, &copy).unwrap();
            let url = format!("sqlite:{}", copy.display());
            let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url).await.unwrap();
            let found: Option<(String,)> =
                sqlx::query_as("SELECT value FROM instance_settings WHERE key = 'checkpointed'")
                    .fetch_optional(&mut conn)
                    .await
                    .ok()
                    .flatten();
            drop(conn);
            let _ = std::fs::remove_file(dir.path().join("copy.db-wal"));
            if found.is_some() {
                return;
            }
            assert!(std::time::Instant::now() < until, "the commit never reached the database file");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}
