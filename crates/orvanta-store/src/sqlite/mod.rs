//! The SQLite store: the embedded default, for one process.
//!
//! The database runs in WAL mode with `synchronous=NORMAL`: a committed
//! transaction survives the process dying at any instant (the WAL is written
//! before commit returns); only a power loss can take the last commits.
//! Writes go through a pool of one connection, so they queue in Rust instead
//! of spinning on `SQLITE_BUSY`; reads use their own small pool.

mod jobs;

use crate::events::JobEvent;
use crate::rows::{self, convert, ScriptRow, TokenRow, UserRow, WorkspaceRow, SCRIPT_COLUMNS};
use crate::shared::{check_parent, script_race_message, settings_text};
use crate::types::*;
use crate::{migrate, Result, Store, StoreError};
use async_trait::async_trait;
use orvanta_core::{Job, JobId, Millis, NewJob, NewScript, RunnablePath, Script, ScriptHash, Username, WorkspaceId};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::Row;
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
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<()> {
        let mut conn = self.write.acquire().await?;
        sqlx::query(migrate::BOOKKEEPING).execute(&mut *conn).await?;
        for m in migrate::SQLITE {
            let mut tx = sqlx::Connection::begin(&mut *conn).await?;
            let done: Option<i64> = sqlx::query_scalar("SELECT version FROM orvanta_migrations WHERE version = ?")
                .bind(m.version)
                .fetch_optional(&mut *tx)
                .await?;
            if done.is_none() {
                sqlx::Executor::execute(&mut *tx, m.sql).await?;
                sqlx::query("INSERT INTO orvanta_migrations (version, name, applied_at) VALUES (?, ?, ?)")
                    .bind(m.version)
                    .bind(m.name)
                    .bind(orvanta_core::now_millis())
                    .execute(&mut *tx)
                    .await?;
                tracing::info!(version = m.version, name = m.name, "applied SQLite migration");
            }
            tx.commit().await?;
        }
        Ok(())
    }

    fn publish(&self, e: JobEvent) {
        let _ = self.events.send(e);
    }
}

#[async_trait]
impl Store for SqliteStore {
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

    async fn count_workers(&self, since: Millis) -> Result<i64> {
        let n: Option<i64> = sqlx::query_scalar("SELECT SUM(slots) FROM workers WHERE last_ping >= ?")
            .bind(since)
            .fetch_one(&self.read)
            .await?;
        Ok(n.unwrap_or(0))
    }

    async fn create_workspace(&self, ws: &NewWorkspace) -> Result<()> {
        sqlx::query("INSERT INTO workspaces (id, name, created_by, created_at) VALUES (?, ?, ?, ?)")
            .bind(ws.id.as_str())
            .bind(&ws.name)
            .bind(ws.created_by.as_str())
            .bind(ws.created_at)
            .execute(&self.write)
            .await
            .map_err(|e| conflict_as(e, format!("the workspace '{}' exists already", ws.id)))?;
        Ok(())
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>> {
        let row: Option<WorkspaceRow> =
            sqlx::query_as("SELECT id, name, created_by, created_at FROM workspaces WHERE id = ?")
                .bind(id.as_str())
                .fetch_optional(&self.read)
                .await?;
        row.map(Workspace::try_from).transpose()
    }

    async fn list_workspaces(&self) -> Result<Vec<Workspace>> {
        let rows: Vec<WorkspaceRow> =
            sqlx::query_as("SELECT id, name, created_by, created_at FROM workspaces ORDER BY id")
                .fetch_all(&self.read)
                .await?;
        convert(rows)
    }

    async fn create_user(&self, u: &NewUser) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (username, email, password_hash, super_admin, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(u.username.as_str())
        .bind(&u.email)
        .bind(&u.password_hash)
        .bind(u.super_admin)
        .bind(u.created_at)
        .execute(&self.write)
        .await
        .map_err(|e| conflict_as(e, format!("the user '{}' or the email '{}' exists already", u.username, u.email)))?;
        Ok(())
    }

    async fn get_user(&self, username: &Username) -> Result<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT username, email, password_hash, super_admin, created_at FROM users WHERE username = ?",
        )
        .bind(username.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.map(User::try_from).transpose()
    }

    async fn set_member(&self, ws: &WorkspaceId, username: &Username, role: Role) -> Result<()> {
        sqlx::query(
            "INSERT INTO members (workspace, username, role) VALUES (?, ?, ?) \
             ON CONFLICT (workspace, username) DO UPDATE SET role = excluded.role",
        )
        .bind(ws.as_str())
        .bind(username.as_str())
        .bind(role.as_str())
        .execute(&self.write)
        .await
        .map_err(|e| conflict_as(e, format!("the workspace '{ws}' or the user '{username}' does not exist")))?;
        Ok(())
    }

    async fn get_role(&self, ws: &WorkspaceId, username: &Username) -> Result<Option<Role>> {
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM members WHERE workspace = ? AND username = ?")
            .bind(ws.as_str())
            .bind(username.as_str())
            .fetch_optional(&self.read)
            .await?;
        role.as_deref().map(rows::parse_role).transpose()
    }

    async fn create_token(&self, t: &NewToken) -> Result<()> {
        sqlx::query(
            "INSERT INTO tokens (hash, prefix, owner, label, created_at, expires_at, scopes, workspace) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&t.hash)
        .bind(&t.prefix)
        .bind(t.owner.as_str())
        .bind(&t.label)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(rows::scopes_text(&t.scopes))
        .bind(t.workspace.as_ref().map(|w| w.as_str()))
        .execute(&self.write)
        .await
        .map_err(|e| {
            conflict_as(e, format!("a token with this secret exists already, or the user '{}' does not exist", t.owner))
        })?;
        Ok(())
    }

    async fn get_token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let row: Option<TokenRow> = sqlx::query_as(TOKEN_SELECT_BY_HASH).bind(hash).fetch_optional(&self.read).await?;
        row.map(TokenRecord::try_from).transpose()
    }

    async fn touch_token(&self, hash: &str, now: Millis) -> Result<()> {
        sqlx::query("UPDATE tokens SET last_used_at = ? WHERE hash = ?")
            .bind(now)
            .bind(hash)
            .execute(&self.write)
            .await?;
        Ok(())
    }

    async fn list_tokens(&self, owner: &Username) -> Result<Vec<TokenRecord>> {
        let rows: Vec<TokenRow> = sqlx::query_as(
            "SELECT hash, prefix, owner, label, created_at, expires_at, last_used_at, scopes, workspace \
             FROM tokens WHERE owner = ? ORDER BY created_at DESC",
        )
        .bind(owner.as_str())
        .fetch_all(&self.read)
        .await?;
        convert(rows)
    }

    async fn delete_token(&self, owner: &Username, prefix: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM tokens WHERE owner = ? AND prefix = ?")
            .bind(owner.as_str())
            .bind(prefix)
            .execute(&self.write)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_expired_tokens(&self, now: Millis) -> Result<Vec<TokenRecord>> {
        let rows: Vec<TokenRow> = sqlx::query_as(
            "DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at < ? \
             RETURNING hash, prefix, owner, label, created_at, expires_at, last_used_at, scopes, workspace",
        )
        .bind(now)
        .fetch_all(&self.write)
        .await?;
        convert(rows)
    }

    async fn insert_script(&self, s: &NewScript) -> Result<Option<ScriptHash>> {
        let mut tx = self.write.begin().await?;
        let newest =
            sqlx::query("SELECT hash, seq FROM scripts WHERE workspace = ? AND path = ? ORDER BY seq DESC LIMIT 1")
                .bind(s.workspace.as_str())
                .bind(s.path.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let (newest_hash, seq) = match newest {
            Some(r) => (Some(ScriptHash::parse(&r.try_get::<String, _>(0)?)?), r.try_get::<i64, _>(1)? + 1),
            None => (None, 1),
        };
        let parent = check_parent(&s.path, s.parent_hash, newest_hash)?;
        sqlx::query(&format!(
            "INSERT INTO scripts ({SCRIPT_COLUMNS}, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)"
        ))
        .bind(s.hash.to_string())
        .bind(s.workspace.as_str())
        .bind(s.path.as_str())
        .bind(parent.map(|h| h.to_string()))
        .bind(s.language.as_str())
        .bind(&s.content)
        .bind(&s.summary)
        .bind(&s.description)
        .bind(s.schema.to_string())
        .bind(settings_text(s))
        .bind(s.created_by.as_str())
        .bind(s.created_at)
        .bind(seq)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_as(e, script_race_message(s)))?;
        tx.commit().await?;
        Ok(parent)
    }

    async fn latest_script(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Option<Script>> {
        let row: Option<ScriptRow> = sqlx::query_as(&format!(
            "SELECT {SCRIPT_COLUMNS} FROM scripts WHERE workspace = ? AND path = ? ORDER BY seq DESC LIMIT 1"
        ))
        .bind(ws.as_str())
        .bind(path.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.map(Script::try_from).transpose()
    }

    async fn script_by_hash(&self, ws: &WorkspaceId, hash: ScriptHash) -> Result<Option<Script>> {
        let row: Option<ScriptRow> =
            sqlx::query_as(&format!("SELECT {SCRIPT_COLUMNS} FROM scripts WHERE workspace = ? AND hash = ?"))
                .bind(ws.as_str())
                .bind(hash.to_string())
                .fetch_optional(&self.read)
                .await?;
        row.map(Script::try_from).transpose()
    }

    async fn list_scripts(&self, ws: &WorkspaceId, include_archived: bool) -> Result<Vec<Script>> {
        let rows: Vec<ScriptRow> = sqlx::query_as(&format!(
            "SELECT {SCRIPT_COLUMNS} FROM scripts s WHERE workspace = ?1 \
             AND seq = (SELECT MAX(seq) FROM scripts t WHERE t.workspace = s.workspace AND t.path = s.path) \
             AND (?2 OR archived = 0) ORDER BY path"
        ))
        .bind(ws.as_str())
        .bind(include_archived)
        .fetch_all(&self.read)
        .await?;
        convert(rows)
    }

    async fn script_history(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Vec<Script>> {
        let rows: Vec<ScriptRow> = sqlx::query_as(&format!(
            "SELECT {SCRIPT_COLUMNS} FROM scripts WHERE workspace = ? AND path = ? ORDER BY seq DESC"
        ))
        .bind(ws.as_str())
        .bind(path.as_str())
        .fetch_all(&self.read)
        .await?;
        convert(rows)
    }

    async fn archive_script(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool> {
        let r = sqlx::query("UPDATE scripts SET archived = 1 WHERE workspace = ? AND path = ?")
            .bind(ws.as_str())
            .bind(path.as_str())
            .execute(&self.write)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn delete_script(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool> {
        let r = sqlx::query("DELETE FROM scripts WHERE workspace = ? AND path = ?")
            .bind(ws.as_str())
            .bind(path.as_str())
            .execute(&self.write)
            .await?;
        Ok(r.rows_affected() > 0)
    }

    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>> {
        let out = jobs::enqueue(&self.write, jobs).await?;
        if out.iter().any(|e| matches!(e, Enqueued::Created(_))) {
            self.publish(JobEvent::Enqueued);
        }
        Ok(out)
    }

    async fn claim(&self, claim: &Claim<'_>) -> Result<Option<Job>> {
        let job = jobs::claim(&self.write, claim).await?;
        if let Some(j) = &job {
            self.publish(JobEvent::Started(j.id));
        }
        Ok(job)
    }

    async fn renew_lease(&self, id: JobId, worker: &str, lease_until: Millis) -> Result<LeaseState> {
        jobs::renew_lease(&self.write, id, worker, lease_until).await
    }

    async fn complete(&self, done: &Completion<'_>) -> Result<bool> {
        let ok = jobs::complete(&self.write, done).await?;
        if ok {
            self.publish(JobEvent::Completed(done.id));
        }
        Ok(ok)
    }

    async fn sweep_expired_leases(&self, now: Millis, max_retries: i32) -> Result<Vec<Swept>> {
        let swept = jobs::sweep(&self.write, now, max_retries).await?;
        for s in &swept {
            match s {
                Swept::Requeued(_) => self.publish(JobEvent::Enqueued),
                Swept::Failed(id) | Swept::Canceled(id) => self.publish(JobEvent::Completed(*id)),
            }
        }
        Ok(swept)
    }

    async fn cancel(&self, ws: &WorkspaceId, id: JobId, reason: &str, now: Millis) -> Result<CancelOutcome> {
        let out = jobs::cancel(&self.write, ws, id, reason, now).await?;
        match out {
            CancelOutcome::Canceled => self.publish(JobEvent::Completed(id)),
            CancelOutcome::Requested => self.publish(JobEvent::CancelRequested(id)),
            _ => {}
        }
        Ok(out)
    }

    async fn get_job(&self, ws: &WorkspaceId, id: JobId) -> Result<Option<Job>> {
        jobs::get(&self.read, ws, id).await
    }

    async fn list_jobs(&self, ws: &WorkspaceId, filter: &JobFilter) -> Result<Vec<Job>> {
        jobs::list(&self.read, ws, filter).await
    }

    async fn append_logs(&self, id: JobId, offset: i64, chunk: &str) -> Result<()> {
        jobs::append_chunk(&self.write, "job_logs", id, offset, chunk).await?;
        self.publish(JobEvent::Progress(id));
        Ok(())
    }

    async fn read_logs(&self, id: JobId, from: i64) -> Result<String> {
        jobs::read_chunks(&self.read, "job_logs", id, from).await
    }

    async fn append_stream(&self, id: JobId, offset: i64, chunk: &str) -> Result<()> {
        jobs::append_chunk(&self.write, "job_stream", id, offset, chunk).await?;
        self.publish(JobEvent::Progress(id));
        Ok(())
    }

    async fn read_stream(&self, id: JobId, from: i64) -> Result<String> {
        jobs::read_chunks(&self.read, "job_stream", id, from).await
    }

    async fn purge_job(&self, id: JobId) -> Result<()> {
        jobs::purge(&self.write, id).await
    }
}

const TOKEN_SELECT_BY_HASH: &str = "SELECT hash, prefix, owner, label, created_at, expires_at, last_used_at, \
     scopes, workspace FROM tokens WHERE hash = ?";

/// Turns a unique violation into a `Conflict` with a message that names the object.
fn conflict_as(e: sqlx::Error, message: String) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(message),
        other => other,
    }
}
