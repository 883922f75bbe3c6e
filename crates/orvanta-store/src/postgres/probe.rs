//! Wakes the workspace webhook's dispatcher when any process records
//! workspace events: a probe of the newest event id, every 10 ms, on its own
//! connection, started by the first `event_signal` (processes that deliver
//! nothing never probe).
//!
//! Not `NOTIFY`: a transaction that notifies takes PostgreSQL's notification
//! lock at commit and keeps it until the commit is on disk, so every change
//! that records an event would commit one after the other (and after every
//! job enqueue's notification): a third fewer changes per second in
//! `bench/outbound.rs`. The probe costs one index-only query per 10 ms.
//!
//! An event whose id is below the newest (its transaction took its id before
//! another's, and committed after) wakes nobody: the dispatcher's 200 ms poll
//! finds it.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

const EVERY: Duration = Duration::from_millis(10);

/// The probe task; aborted when dropped, that is when its store is.
pub(super) struct ProbeTask(JoinHandle<()>);

impl Drop for ProbeTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts probing through a pool of one connection of its own.
pub(super) fn start(connect: PgConnectOptions, signal: Arc<watch::Sender<u64>>) -> ProbeTask {
    let pool = PgPoolOptions::new().max_connections(1).connect_lazy_with(connect);
    ProbeTask(tokio::spawn(async move {
        let mut newest: Option<i64> = None;
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            // A failed probe (the database is away) is tried again at the next tick.
            let Ok(now) =
                sqlx::query_scalar::<_, Option<i64>>("SELECT max(id) FROM workspace_events").fetch_one(&pool).await
            else {
                continue;
            };
            if now != newest {
                newest = now;
                signal.send_modify(|n| *n = n.wrapping_add(1));
            }
        }
    }))
}
