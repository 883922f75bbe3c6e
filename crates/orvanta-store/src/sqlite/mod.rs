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
//! (the migrations). `plans` (tests only) checks the query plans of the
//! statements on the tables that grow with use. `trip` sends a transaction's
//! statements to the write connection in one round trip, with guards; `lane`
//! hands the write connection from one busy writer's turn to the next. Large
//! job values are stored packed (`crate::packed`).
//!
//! The write connection carries SQLite's update and commit hooks: a commit of
//! a transaction that inserted into `workspace_events` wakes the webhook
//! dispatcher (`event_signal`), whatever code path wrote the events. The hook
//! runs while the commit still holds the one write connection, and the
//! dispatcher claims through that same connection, so its claim always sees
//! the committed events.

mod accounts;
mod checkpoint;
mod flow_runs;
mod flows;
mod hooks;
mod instance;
mod lane;
mod outputs;
#[cfg(test)]
mod plans;
mod queue;
mod schema;
mod scripts;
mod trip;

use crate::events::{EventHub, JobEvent};
use crate::types::ConnectOptions;
use crate::{Result, StoreError};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// How many answers (rows, statement results) the write connection's thread
/// may send ahead of the task reading them. sqlx's default, 50, made that
/// thread stop part way through a claim of many runs or a batch's trip and
/// wait, holding the write lock, until the reading task was next polled:
/// under load, milliseconds in which no other writer could write.
const WRITE_ROWS_AHEAD: usize = 1 << 14;

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    write: SqlitePool,
    /// The busy writers' turns on `write`'s one connection.
    lane: Arc<lane::Lane>,
    read: SqlitePool,
    events: Arc<EventHub>,
    /// Bumped after each commit that recorded workspace events.
    outbox_signal: Arc<watch::Sender<u64>>,
    _checkpointer: checkpoint::Checkpointer,
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
        let outbox_signal = Arc::new(watch::channel(0u64).0);
        let signal = outbox_signal.clone();
        let commits = Arc::new(AtomicU64::new(0));
        let counted = commits.clone();
        // A connection to a local file does not go stale: no ping round trip
        // to its thread before each use (one per statement otherwise).
        let write = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(opts.acquire_timeout.max(Duration::from_secs(30)))
            .after_connect(move |conn, _| {
                let (signal, counted) = (signal.clone(), counted.clone());
                Box::pin(async move { signal_outbox_commits(conn, signal, counted).await })
            })
            .connect_with(
                base.clone().pragma("wal_autocheckpoint", checkpoint::FALLBACK_PAGES).row_buffer_size(WRITE_ROWS_AHEAD),
            )
            .await
            .map_err(|e| StoreError::Config(format!("cannot open the SQLite database '{url}': {e}")))?;
        let read = SqlitePoolOptions::new()
            .max_connections(4)
            .test_before_acquire(false)
            .acquire_timeout(opts.acquire_timeout)
            .connect_with(base.clone().read_only(true))
            .await
            .map_err(|e| StoreError::Config(format!("cannot open the SQLite database '{url}': {e}")))?;
        let lane = Arc::new(lane::Lane::new(write.clone()));
        let store = Self {
            lane: lane.clone(),
            _checkpointer: checkpoint::start(lane, commits),
            write,
            read,
            events: EventHub::new(4096),
            outbox_signal,
        };
        schema::migrate(&store.write).await?;
        Ok(store)
    }

    /// The outbox signal (bumped by the write connection's hooks).
    fn outbox_subscribe(&self) -> watch::Receiver<u64> {
        self.outbox_signal.subscribe()
    }

    fn publish(&self, e: JobEvent) {
        self.events.publish(e);
    }
}

/// Bumps `signal` after every commit of `conn` that inserted into
/// `workspace_events`, and counts every commit in `commits`.
async fn signal_outbox_commits(
    conn: &mut sqlx::SqliteConnection,
    signal: Arc<watch::Sender<u64>>,
    commits: Arc<AtomicU64>,
) -> std::result::Result<(), sqlx::Error> {
    let inserted = Arc::new(AtomicBool::new(false));
    let mut handle = conn.lock_handle().await?;
    let seen = inserted.clone();
    handle.set_update_hook(move |change| {
        if change.table == "workspace_events" && matches!(change.operation, sqlx::sqlite::SqliteOperation::Insert) {
            seen.store(true, Ordering::Relaxed);
        }
    });
    let committed = inserted.clone();
    handle.set_commit_hook(move || {
        commits.fetch_add(1, Ordering::Relaxed);
        if committed.swap(false, Ordering::Relaxed) {
            signal.send_modify(|n| *n = n.wrapping_add(1));
        }
        true
    });
    handle.set_rollback_hook(move || inserted.store(false, Ordering::Relaxed));
    Ok(())
}

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

/// Turns a unique violation into a `Conflict` with a message that names the object.
pub(super) fn conflict_as(e: sqlx::Error, message: String) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(message),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use crate::QueueStore;

    /// A large argument is stored packed (a BLOB a fraction of its text), a
    /// small one as text; both read back as written (the conformance tests
    /// cover every path).
    #[tokio::test]
    async fn large_job_values_are_stored_packed() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("packed.db").display());
        let store = super::SqliteStore::open(&url, &Default::default()).await.unwrap();
        let commit = serde_json::json!({"url": "https://github.com/orvanta/orvanta/commit/1", "message": "fix"});
        let big = serde_json::json!({"commits": vec![commit; 80]});
        let mut jobs = Vec::new();
        for args in [big.clone(), serde_json::json!({"n": 1})] {
            use orvanta_core::*;
            jobs.push(NewJob {
                token_prefix: None,
                scopes: None,
                concurrency: None,
                flow: None,
                id: JobId::new(),
                workspace: WorkspaceId::parse("demo").unwrap(),
                kind: JobKind::Script,
                path: Some(RunnablePath::parse("u/admin/hello").unwrap()),
                script_hash: Some(ScriptHash::from_u64(0xabc)),
                language: Some(Language::Python3),
                args: args.into(),
                created_by: Username::parse("admin").unwrap(),
                permissioned_as: Username::parse("admin").unwrap(),
                tag: "default".into(),
                trigger: Trigger::parse("api").unwrap(),
                scheduled_for: 0,
                parent_job: None,
                timeout_s: None,
                idempotency_key: None,
                created_at: 0,
            });
        }
        store.enqueue(&jobs).await.unwrap();
        let rows: Vec<(String, String, i64)> =
            sqlx::query_as("SELECT id, typeof(args), length(CAST(args AS BLOB)) FROM jobs")
                .fetch_all(&store.read)
                .await
                .unwrap();
        let of = |id: orvanta_core::JobId| rows.iter().find(|r| r.0 == id.to_string()).unwrap().clone();
        let (_, kind, len) = of(jobs[0].id);
        assert_eq!(kind, "blob");
        assert!((len as usize) * 4 < big.to_string().len(), "{len} bytes for {}", big.to_string().len());
        assert_eq!(of(jobs[1].id).1, "text");

        // An inbound event's large body is packed too, with its format.
        let hook = crate::Hook {
            id: "h".into(),
            workspace: orvanta_core::WorkspaceId::parse("demo").unwrap(),
            name: "gh".into(),
            config: serde_json::json!({}),
            url_verified: false,
            created_by: orvanta_core::Username::parse("admin").unwrap(),
            edited_by: orvanta_core::Username::parse("admin").unwrap(),
            created_at: 0,
            updated_at: 0,
        };
        let ws = crate::NewWorkspace {
            id: hook.workspace.clone(),
            name: "demo".into(),
            created_by: hook.created_by.clone(),
            created_at: 0,
        };
        crate::AccountStore::create_workspace(&store, &ws).await.unwrap();
        crate::HookStore::create_hook(&store, &hook).await.unwrap();
        let event = crate::HookEvent {
            id: "e".into(),
            hook_id: "h".into(),
            workspace: hook.workspace.clone(),
            event_id: "d".into(),
            received_at: 0,
            outcome: "verified".into(),
            reason: None,
            headers_matched: None,
            method: "POST".into(),
            query: String::new(),
            headers: serde_json::json!([]),
            body: big.to_string().into_bytes(),
            jobs: serde_json::json!([]),
            waits: serde_json::json!([]),
            replay_of: None,
        };
        crate::HookStore::record_hook_event(&store, &event, None, &[]).await.unwrap();
        let (format, len): (i64, i64) =
            sqlx::query_as("SELECT body_format, length(body) FROM hook_events WHERE id = 'e'")
                .fetch_one(&store.read)
                .await
                .unwrap();
        assert_eq!(format, 1);
        assert!((len as usize) * 4 < event.body.len());

        // A damaged packed value loses that value, not the read of its job.
        sqlx::query("UPDATE jobs SET args = X'0110270000ff' WHERE id = ?")
            .bind(jobs[0].id.to_string())
            .execute(&store.write)
            .await
            .unwrap();
        let job = crate::OutputStore::job_by_id(&store, jobs[0].id).await.unwrap().expect("the job reads");
        let said = job.args.as_ref().and_then(|a| a.as_str()).unwrap_or_default();
        assert!(said.contains("the stored args of this job cannot be read"), "{said}");
    }
}
