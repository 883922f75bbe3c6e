//! The SQLite store: the embedded default, for one process.
//!
//! The database runs in WAL mode with `synchronous=NORMAL`: a committed
//! transaction survives the process dying at any instant (the WAL is written
//! before commit returns); only a power loss can take the last commits.
//! Writes go through a pool of one connection, so they queue in Rust instead
//! of spinning on `SQLITE_BUSY`; reads use their own small pool.
//!
//! One file per area of the store, mirroring the PostgreSQL tree file for
//! file: `instance`, `accounts`, `scripts`, `queue`, `outputs`, and `schema`
//! (the migrations).

mod accounts;
mod flow_runs;
mod flows;
mod hooks;
mod instance;
mod outputs;
mod queue;
mod schema;
mod scripts;

use crate::events::JobEvent;
use crate::types::ConnectOptions;
use crate::{Result, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;
use tokio::sync::broadcast;

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    write: SqlitePool,
    read: SqlitePool,
    events: broadcast::Sender<JobEvent>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file a `sqlite:` URL names, and migrates it.
    pub async fn open(url: &str, opts: &ConnectOptions) -> Result<Self> {
        let base = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Config(format!("DATABASE_URL '{url}' is not a valid SQLite URL: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Deleted content (delete_after_use) is overwritten, not left in free pages.
            .pragma("secure_delete", "ON")
            .busy_timeout(Duration::from_secs(10));
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(opts.acquire_timeout.max(Duration::from_secs(30)))
            .connect_with(base.clone())
            .await
            .map_err(|e| StoreError::Config(format!("cannot open the SQLite database '{url}': {e}")))?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(base.read_only(true))
            .await
            .map_err(|e| StoreError::Config(format!("cannot open the SQLite database '{url}': {e}")))?;
        let store = Self { write, read, events: broadcast::channel(4096).0 };
        schema::migrate(&store.write).await?;
        Ok(store)
    }

    fn publish(&self, e: JobEvent) {
        let _ = self.events.send(e);
    }
}

/// Turns a unique violation into a `Conflict` with a message that names the object.
/// Records a workspace event in `conn`, the transaction of the change it reports.
pub(super) async fn emit(
    conn: &mut sqlx::SqliteConnection,
    ws: &orvanta_core::WorkspaceId,
    ev: (String, String),
) -> Result<()> {
    sqlx::query(crate::outbox::INSERT_EVENT)
        .bind(ws.as_str())
        .bind(ev.0)
        .bind(ev.1)
        .bind(orvanta_core::now_millis())
        .execute(conn)
        .await?;
    Ok(())
}

pub(super) fn conflict_as(e: sqlx::Error, message: String) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(message),
        other => other,
    }
}
