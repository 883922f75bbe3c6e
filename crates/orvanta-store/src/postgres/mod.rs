//! The PostgreSQL store: several servers and workers on one database.
//!
//! Every query is plain SQL with the shared column lists of `rows`,
//! so rows parse the same way as SQLite's. What differs from SQLite is
//! concurrency: the queue claims with `FOR UPDATE SKIP LOCKED`, every other
//! change is a conditional `UPDATE`, and job events travel through
//! `LISTEN/NOTIFY` so that every process sees every other's (see `listen`).
//!
//! The work is split by the object it touches: `instance` (settings,
//! worker heartbeats), `auth` (workspaces, users, tokens), `scripts`,
//! `jobs` (the queue) and `outputs` (job reads, logs and stream); this
//! module opens the pool, migrates (`schema`), and maps the trait onto
//! them.

mod auth;
mod instance;
mod jobs;
mod listen;
mod outputs;
mod schema;
mod scripts;

use crate::{
    CancelOutcome, Claim, Completion, ConnectOptions, Enqueued, JobEvent, JobFilter, LeaseState, NewToken, NewUser,
    NewWorkspace, Result, Role, Store, StoreError, Swept, TokenRecord, User, WorkerPing, Workspace,
};
use async_trait::async_trait;
use orvanta_core::{Job, JobId, Millis, NewJob, NewScript, RunnablePath, Script, ScriptHash, Username, WorkspaceId};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::Connection;
use std::str::FromStr;
use tokio::sync::broadcast;

/// The channel every Orvanta process `LISTEN`s on.
const CHANNEL: &str = "orvanta_jobs";

/// How many events a slow subscriber may fall behind before it lags.
const EVENT_CAPACITY: usize = 4096;

/// A [`Store`] on PostgreSQL.
pub struct PgStore {
    pool: PgPool,
    events: broadcast::Sender<JobEvent>,
    /// Aborts the listener task when the store is dropped.
    _listener: listen::ListenerTask,
}

impl PgStore {
    /// Connects to the database `url` names, migrates it, and starts
    /// listening for job events.
    ///
    /// A URL that does not parse is `Config`; a server that cannot be reached
    /// is `Unavailable`. Neither message shows the password.
    pub async fn open(url: &str, opts: &ConnectOptions) -> Result<Self> {
        let connect = PgConnectOptions::from_str(url).map_err(|e| {
            StoreError::Config(format!(
                "DATABASE_URL '{}' is not a valid PostgreSQL URL ({e}); use postgres://user:password@host:5432/database",
                crate::redact_url(url)
            ))
        })?;
        let target = describe(&connect);
        // One connection first, by hand: a pool that cannot connect only
        // says it timed out, where this says why (refused, no such database).
        let probe = tokio::time::timeout(opts.acquire_timeout, PgConnection::connect_with(&connect)).await;
        match probe {
            Ok(Ok(conn)) => _ = conn.close().await,
            Ok(Err(e)) => return Err(connect_error(&target, e)),
            Err(_) => {
                return Err(StoreError::Unavailable(format!(
                    "cannot connect to PostgreSQL at {target}: no answer within {} ms",
                    opts.acquire_timeout.as_millis()
                )))
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.max(1))
            .acquire_timeout(opts.acquire_timeout)
            .connect_lazy_with(connect.clone());
        schema::migrate(&pool).await?;

        // The listener gets a pool of its own, so that it never takes one of
        // the connections `max_connections` promises to the queries.
        let listener_pool =
            PgPoolOptions::new().max_connections(1).acquire_timeout(opts.acquire_timeout).connect_lazy_with(connect);
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let listener = listen::start(listener_pool, events.clone()).await.map_err(|e| connect_error(&target, e))?;
        Ok(Self { pool, events, _listener: listener })
    }
}

/// `host:port/database` (or the socket), for messages: never the password.
fn describe(o: &PgConnectOptions) -> String {
    let db = o.get_database().unwrap_or(o.get_username());
    match o.get_socket() {
        Some(socket) => format!("{} (database {db})", socket.display()),
        None => format!("{}:{} (database {db})", o.get_host(), o.get_port()),
    }
}

/// Sorts a failed first connection into a wrong setting or an unreachable server.
fn connect_error(target: &str, e: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &e {
        // 28: authentication failed; 3D000: no such database. Retrying will
        // not help, the settings must change.
        let code = db.code().unwrap_or_default();
        if code.starts_with("28") || code == "3D000" {
            return StoreError::Config(format!("cannot use PostgreSQL at {target}: {}", db.message()));
        }
    }
    StoreError::Unavailable(format!("cannot connect to PostgreSQL at {target}: {e}"))
}

/// Sends `event` to every listening process once the surrounding transaction commits.
async fn notify(conn: &mut PgConnection, event: JobEvent) -> Result<()> {
    sqlx::query("SELECT pg_notify($1, $2)").bind(CHANNEL).bind(event.encode()).execute(conn).await?;
    Ok(())
}

/// The name of the unique constraint `e` violated, if that is what it is.
fn unique_violation(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) if db.is_unique_violation() => Some(db.constraint().unwrap_or("")),
        _ => None,
    }
}

/// Whether `e` is a foreign key violation.
fn foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}

#[async_trait]
impl Store for PgStore {
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

    async fn instance_setting(&self, key: &str, init: &str) -> Result<String> {
        instance::setting(&self.pool, key, init).await
    }
    async fn worker_ping(&self, ping: &WorkerPing<'_>) -> Result<()> {
        instance::worker_ping(&self.pool, ping).await
    }
    async fn count_workers(&self, since: Millis) -> Result<i64> {
        instance::count_workers(&self.pool, since).await
    }

    async fn tag_served(&self, tag: &str, since: Millis) -> Result<bool> {
        instance::tag_served(&self.pool, tag, since).await
    }

    async fn create_workspace(&self, ws: &NewWorkspace) -> Result<()> {
        auth::create_workspace(&self.pool, ws).await
    }
    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>> {
        auth::get_workspace(&self.pool, id).await
    }
    async fn list_workspaces(&self) -> Result<Vec<Workspace>> {
        auth::list_workspaces(&self.pool).await
    }
    async fn create_user(&self, user: &NewUser) -> Result<()> {
        auth::create_user(&self.pool, user).await
    }
    async fn get_user(&self, username: &Username) -> Result<Option<User>> {
        auth::get_user(&self.pool, username).await
    }
    async fn set_member(&self, ws: &WorkspaceId, username: &Username, role: Role) -> Result<()> {
        auth::set_member(&self.pool, ws, username, role).await
    }
    async fn get_role(&self, ws: &WorkspaceId, username: &Username) -> Result<Option<Role>> {
        auth::get_role(&self.pool, ws, username).await
    }

    async fn create_token(&self, token: &NewToken) -> Result<()> {
        auth::create_token(&self.pool, token).await
    }
    async fn get_token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        auth::get_token(&self.pool, hash).await
    }
    async fn touch_token(&self, hash: &str, now: Millis) -> Result<()> {
        auth::touch_token(&self.pool, hash, now).await
    }
    async fn list_tokens(&self, owner: &Username) -> Result<Vec<TokenRecord>> {
        auth::list_tokens(&self.pool, owner).await
    }
    async fn delete_token(&self, owner: &Username, prefix: &str) -> Result<bool> {
        auth::delete_token(&self.pool, owner, prefix).await
    }
    async fn delete_expired_tokens(&self, now: Millis) -> Result<Vec<TokenRecord>> {
        auth::delete_expired_tokens(&self.pool, now).await
    }

    async fn insert_script(&self, script: &NewScript) -> Result<Option<ScriptHash>> {
        scripts::insert(&self.pool, script).await
    }
    async fn latest_script(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Option<Script>> {
        scripts::latest(&self.pool, ws, path).await
    }
    async fn script_by_hash(&self, ws: &WorkspaceId, hash: ScriptHash) -> Result<Option<Script>> {
        scripts::by_hash(&self.pool, ws, hash).await
    }
    async fn list_scripts(&self, ws: &WorkspaceId, include_archived: bool) -> Result<Vec<Script>> {
        scripts::list(&self.pool, ws, include_archived).await
    }
    async fn script_history(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Vec<Script>> {
        scripts::history(&self.pool, ws, path).await
    }
    async fn archive_script(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool> {
        scripts::archive(&self.pool, ws, path).await
    }
    async fn delete_script(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool> {
        scripts::delete(&self.pool, ws, path).await
    }

    async fn enqueue(&self, new: &[NewJob]) -> Result<Vec<Enqueued>> {
        jobs::enqueue(&self.pool, new).await
    }
    async fn claim(&self, claim: &Claim<'_>) -> Result<Option<Job>> {
        jobs::claim(&self.pool, claim).await
    }
    async fn renew_lease(&self, id: JobId, worker: &str, lease_until: Millis) -> Result<LeaseState> {
        jobs::renew_lease(&self.pool, id, worker, lease_until).await
    }
    async fn complete(&self, done: &Completion<'_>) -> Result<bool> {
        jobs::complete(&self.pool, done).await
    }
    async fn sweep_expired_leases(&self, now: Millis, max_retries: i32) -> Result<Vec<Swept>> {
        jobs::sweep_expired_leases(&self.pool, now, max_retries).await
    }
    async fn cancel(&self, ws: &WorkspaceId, id: JobId, reason: &str, now: Millis) -> Result<CancelOutcome> {
        jobs::cancel(&self.pool, ws, id, reason, now).await
    }

    async fn get_job(&self, ws: &WorkspaceId, id: JobId) -> Result<Option<Job>> {
        outputs::get_job(&self.pool, ws, id).await
    }
    async fn list_jobs(&self, ws: &WorkspaceId, filter: &JobFilter) -> Result<Vec<Job>> {
        outputs::list_jobs(&self.pool, ws, filter).await
    }
    async fn append_logs(&self, id: JobId, offset: i64, chunk: &str) -> Result<()> {
        outputs::append(&self.pool, outputs::Output::Logs, id, offset, chunk).await
    }
    async fn read_logs(&self, id: JobId, from: i64) -> Result<String> {
        outputs::read(&self.pool, outputs::Output::Logs, id, from).await
    }
    async fn append_stream(&self, id: JobId, offset: i64, chunk: &str) -> Result<()> {
        outputs::append(&self.pool, outputs::Output::Stream, id, offset, chunk).await
    }
    async fn read_stream(&self, id: JobId, from: i64) -> Result<String> {
        outputs::read(&self.pool, outputs::Output::Stream, id, from).await
    }
    async fn purge_job(&self, id: JobId) -> Result<()> {
        outputs::purge(&self.pool, id).await
    }
}
