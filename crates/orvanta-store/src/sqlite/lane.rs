//! The write lane: the busy writers (group commits, claims, flow commits,
//! job ends, checkpoints) take turns on the one write connection, handed
//! from one turn to the next without going back to the pool.
//!
//! A connection given back to sqlx's pool is first pinged from a task of
//! its own, then the next waiter is woken: three tasks to be polled and a
//! round trip to the connection's thread between two writes, during which
//! nothing is written. Under inbound load that idle time was half the
//! write connection's time (a median gap of 1 ms, 10 ms at p90). A turn
//! ends by waking the next turn directly; the connection goes back to the
//! pool only when no turn waits, or after it was held [`MAX_HOLD`], so that
//! the other writers (saving a script, a token) get it in time.

use sqlx::pool::PoolConnection;
use sqlx::{Sqlite, SqliteConnection, SqlitePool};
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, MutexGuard};

/// How long the lane keeps the write connection while turns keep coming.
const MAX_HOLD: Duration = Duration::from_millis(20);

pub(super) struct Lane {
    pool: SqlitePool,
    held: Mutex<Held>,
    /// Turns asked for and not begun yet.
    waiting: AtomicUsize,
}

struct Held {
    conn: Option<PoolConnection<Sqlite>>,
    since: Instant,
}

/// One writer's turn: the write connection, until dropped.
pub(super) struct Turn<'a> {
    held: MutexGuard<'a, Held>,
    waiting: &'a AtomicUsize,
    /// False while a statement that began a transaction of its own has not
    /// settled: dropped then, the connection is closed rather than passed on
    /// inside that transaction.
    pub settled: bool,
}

impl Lane {
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool, held: Mutex::new(Held { conn: None, since: Instant::now() }), waiting: AtomicUsize::new(0) }
    }

    /// Waits for the write connection; turns are served in the order asked.
    pub async fn turn(&self) -> Result<Turn<'_>, sqlx::Error> {
        /// Counts a turn waiting until dropped, so that a caller that stops
        /// waiting is not counted for ever (the connection would then stay
        /// out of the pool with no turn coming).
        struct Waiting<'a>(&'a AtomicUsize);
        impl Drop for Waiting<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.waiting.fetch_add(1, Ordering::AcqRel);
        let waiting = Waiting(&self.waiting);
        let mut held = self.held.lock().await;
        drop(waiting);
        if held.conn.is_none() {
            held.conn = Some(self.pool.acquire().await?);
            held.since = Instant::now();
        }
        Ok(Turn { held, waiting: &self.waiting, settled: true })
    }
}

impl Deref for Turn<'_> {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        self.held.conn.as_ref().expect("a turn holds the connection")
    }
}

impl DerefMut for Turn<'_> {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.held.conn.as_mut().expect("a turn holds the connection")
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        if !self.settled {
            if let Some(mut conn) = self.held.conn.take() {
                conn.close_on_drop();
            }
            return;
        }
        let next_waits = self.waiting.load(Ordering::Acquire) > 0;
        if !next_waits || self.held.since.elapsed() >= MAX_HOLD {
            // Back to the pool, where the other writers wait.
            self.held.conn = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::SqliteStore;
    use sqlx::Executor;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    async fn store(dir: &tempfile::TempDir) -> Arc<SqliteStore> {
        let url = format!("sqlite:{}", dir.path().join("lane.db").display());
        Arc::new(SqliteStore::open(&url, &Default::default()).await.unwrap())
    }

    /// A writer outside the lane (the pool's other users) gets the
    /// connection while turns keep coming, within the lane's hold limit.
    #[tokio::test]
    async fn turns_that_keep_coming_do_not_starve_the_pool() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        let stop = Arc::new(AtomicBool::new(false));
        let mut busy = Vec::new();
        for _ in 0..4 {
            let (s, stop) = (s.clone(), stop.clone());
            busy.push(tokio::spawn(async move {
                let mut turns = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let mut turn = s.lane.turn().await.unwrap();
                    turn.execute("SELECT 1").await.unwrap();
                    turns += 1;
                }
                turns
            }));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        let outside = tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::query("INSERT INTO instance_settings (key, value) VALUES ('lane', 'ok')").execute(&s.write),
        )
        .await;
        stop.store(true, Ordering::Relaxed);
        let mut turns = 0;
        for b in busy {
            turns += b.await.unwrap();
        }
        outside.expect("the pool's writer waited past the lane's hold limit").unwrap();
        assert!(turns > 0);
    }

    /// A caller that stops waiting for its turn is not counted as waiting:
    /// the connection goes back to the pool when the turn before it ends.
    #[tokio::test]
    async fn a_turn_given_up_is_not_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        // A lane of its own over the store's write pool: the store's
        // checkpointer may be waiting in the store's lane meanwhile.
        let lane = super::Lane::new(s.write.clone());
        let first = lane.turn().await.unwrap();
        let given_up = tokio::time::timeout(Duration::from_millis(2), lane.turn()).await;
        assert!(given_up.is_err(), "the second turn waits behind the first");
        assert_eq!(lane.waiting.load(std::sync::atomic::Ordering::Acquire), 0, "the turn given up is not counted");
        drop(first);
        let outside = tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::query("INSERT INTO instance_settings (key, value) VALUES ('after', 'ok')").execute(&s.write),
        )
        .await;
        outside.expect("the connection stayed in the lane for a turn nobody waits for").unwrap();
    }

    /// A turn dropped while a transaction it began by statement is open
    /// does not hand that transaction to the next turn.
    #[tokio::test]
    async fn an_unsettled_turn_closes_its_connection() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(&dir).await;
        {
            let mut turn = s.lane.turn().await.unwrap();
            turn.execute("BEGIN IMMEDIATE").await.unwrap();
            turn.execute("INSERT INTO instance_settings (key, value) VALUES ('half', 'done')").await.unwrap();
            turn.settled = false;
        }
        let mut next = s.lane.turn().await.unwrap();
        next.execute("BEGIN IMMEDIATE").await.expect("a fresh connection, in no transaction");
        next.execute("ROLLBACK").await.unwrap();
        let half: Option<(String,)> = sqlx::query_as("SELECT value FROM instance_settings WHERE key = 'half'")
            .fetch_optional(&mut *next)
            .await
            .unwrap();
        assert!(half.is_none(), "what the dropped turn began was rolled back");
    }
}
