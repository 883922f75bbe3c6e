//! The PostgreSQL store: several servers and workers on one database.
//!
//! Every query is plain SQL with the shared column lists of `rows`,
//! so rows parse the same way as SQLite's. What differs from SQLite is
//! concurrency: the queue claims with `FOR UPDATE SKIP LOCKED`, every other
//! change is a conditional `UPDATE`, and job events travel through
//! `LISTEN/NOTIFY` so that every process sees every other's (see `listen`).
//!
//! The work is split by area, one file per trait of the store, mirrored
//! file for file by the SQLite tree: `instance` (settings, worker
//! heartbeats), `accounts` (workspaces, users, tokens), `scripts`, `queue`
//! and `outputs` (job reads, logs and stream). This module opens the pool
//! and migrates (`schema`); `flows` holds the flow versions; `listen` carries job events between processes;
//! `probe` wakes the workspace webhook's dispatcher when any process records events.

mod accounts;
mod flow_runs;
mod flows;
mod hooks;
mod instance;
mod listen;
mod outputs;
mod probe;
mod queue;
mod schema;
mod scripts;

use crate::{ConnectOptions, EventHub, JobEvent, Result, StoreError};
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::Connection;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use tokio::sync::watch;

/// The channel every Orvanta process `LISTEN`s on.
const CHANNEL: &str = "orvanta_jobs";

/// How many events a slow subscriber may fall behind before it lags.
const EVENT_CAPACITY: usize = 4096;

/// A [`Store`] on PostgreSQL.
pub struct PgStore {
    pool: PgPool,
    events: Arc<EventHub>,
    /// Bumped when the probe sees new workspace events (see `probe`).
    outbox_signal: Arc<watch::Sender<u64>>,
    /// How the probe connects; it starts with the first subscriber.
    probe_connect: PgConnectOptions,
    probe: OnceLock<probe::ProbeTask>,
    /// Aborts the listener task when the store is dropped.
    _listener: listen::ListenerTask,
}

impl PgStore {
    /// The outbox signal, the probe started if it was not.
    fn outbox_subscribe(&self) -> watch::Receiver<u64> {
        let receiver = self.outbox_signal.subscribe();
        self.probe.get_or_init(|| probe::start(self.probe_connect.clone(), self.outbox_signal.clone()));
        receiver
    }
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
        let listener_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(opts.acquire_timeout)
            .connect_lazy_with(connect.clone());
        let events = EventHub::new(EVENT_CAPACITY);
        let listener = listen::start(listener_pool, events.clone()).await.map_err(|e| connect_error(&target, e))?;
        let outbox_signal = Arc::new(watch::channel(0u64).0);
        Ok(Self { pool, events, outbox_signal, probe_connect: connect, probe: OnceLock::new(), _listener: listener })
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

/// Records a workspace event in `conn`, the transaction of the change it reports.
pub(super) async fn emit(
    conn: &mut sqlx::PgConnection,
    ws: &orvanta_core::WorkspaceId,
    ev: (String, String),
) -> Result<()> {
    sqlx::query(&crate::access::numbered(crate::outbox::INSERT_EVENT))
        .bind(ws.as_str())
        .bind(ev.0)
        .bind(ev.1)
        .bind(orvanta_core::now_millis())
        .execute(conn)
        .await?;
    Ok(())
}

/// Whether `e` is a foreign key violation.
fn foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_foreign_key_violation())
}
