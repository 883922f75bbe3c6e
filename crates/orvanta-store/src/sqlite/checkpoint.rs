//! WAL checkpoints, small and often, on the write connection. SQLite's own
//! checkpoint runs inside the commit that pushes the WAL past its threshold:
//! that commit, and every write queued behind the single write connection,
//! waits while a large WAL is copied back. Here the write connection copies
//! back what was committed since the last time (`PASSIVE`: readers are never
//! blocked) every [`EVERY`] after commits; its own checkpoint is a fallback
//! past [`FALLBACK_PAGES`].
//!
//! On the write connection, not on one of its own: a second connection
//! checkpointing while the writer commits can meet SQLite's WAL-reset bug
//! (versions 3.7.0 to 3.51.2; sqlx 0.8 bundles 3.46.0), which corrupts the
//! database. It did, once, under the test suite's load ("database disk
//! image is malformed"). Readers never write, so the write connection is the
//! only one that writes or checkpoints.

use super::lane::Lane;
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

/// Checkpoints in turns of the write lane (the one write connection),
/// after the commits that connection counts in `commits` (an idle database
/// is left alone).
pub(super) fn start(lane: Arc<Lane>, commits: Arc<AtomicU64>) -> Checkpointer {
    Checkpointer(tokio::spawn(async move {
        let mut seen = 0;
        let mut backoff = EVERY;
        loop {
            tokio::time::sleep(backoff).await;
            let now = commits.load(Ordering::Relaxed);
            if now == seen {
                continue;
            }
            // (busy, frames in the WAL, frames copied back)
            let checkpoint = async {
                let mut turn = lane.turn().await?;
                let started = std::time::Instant::now();
                let done = sqlx::query_as::<_, (i64, i64, i64)>("PRAGMA wal_checkpoint(PASSIVE)")
                    .fetch_one(&mut *turn)
                    .await?;
                Ok::<_, sqlx::Error>((done, started.elapsed()))
            };
            match checkpoint.await {
                Ok(((_, log, copied), took)) => {
                    // How long the writers waited for it (the bench's question).
                    tracing::debug!(log, copied, micros = took.as_micros() as u64, "WAL checkpoint");
                    backoff = EVERY;
                    // The commits counted before it are done with once all is copied.
                    if copied >= log {
                        seen = now;
                    }
                }
                Err(e) => backoff = failed(backoff, "checkpoint the WAL", &e),
            }
        }
    }))
}

/// Logs a failure (the write connection's own threshold covers meanwhile);
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
