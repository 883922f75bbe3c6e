//! [`crate::OutboxStore`] for both backends, written once (as
//! [`crate::access`]): the workspace webhook's settings, and the delivery of
//! `workspace_events`.
//!
//! A claim takes, for each workspace whose oldest pending event is due and
//! unclaimed, a run of its pending events from that one on, in id order: the
//! run stops before the first event that is not due or is held by another
//! claim, and after `per_workspace` events. The oldest pending event is the
//! workspace's lock: while it is claimed no other claim takes any of the
//! workspace's events, so one claimer at a time sends them, in order. A run's
//! outcomes are written in one transaction that also either gives back what
//! the claim still holds, or claims the workspace's next run under the same
//! claim, so that a busy workspace is never unheld between two runs.
//! Outcomes are written only while the claim that took the event still holds
//! it (its `claimed_until` is the claim's token), so a claimer whose hold
//! lapsed and was taken over records nothing over the new one.

use crate::{Result, StoreError};
use orvanta_core::Millis;

/// A workspace's webhook: where its events go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WebhookSettings {
    pub url: Option<String>,
    /// Sealed by the server; the store never sees it in clear.
    pub secret: Option<String>,
    /// Why deliveries stopped (the endpoint answered 410), if they did.
    pub disabled: Option<String>,
}

/// One delivery attempt of an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventAttempt {
    pub event_id: i64,
    /// 1 for the first attempt.
    pub n: i32,
    pub at: Millis,
    /// The answer's status; `None` when there was no answer.
    pub status: Option<i32>,
    pub latency_ms: i64,
    /// The start of the answer, or why there was none.
    pub excerpt: String,
}

/// What became of an event after an attempt (or without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventOutcome {
    Delivered,
    /// Another attempt at `next_at`.
    Retry {
        next_at: Millis,
    },
    /// No attempt left, or the endpoint is gone.
    Failed,
    /// No webhook when it was due: not delivered, ever.
    Skipped,
}

/// An event with its delivery state.
#[derive(Debug, Clone)]
pub struct EventDelivery {
    pub event: crate::WorkspaceEvent,
    /// `pending`, `delivered`, `failed` or `skipped`.
    pub state: String,
    pub attempts: i32,
    pub next_at: Millis,
}

/// A claimed event, with what its next attempt needs.
#[derive(Debug, Clone)]
pub struct ClaimedEvent {
    pub event: crate::WorkspaceEvent,
    /// The attempts recorded for it so far (replays included): the next is this plus one.
    pub tried: i32,
}

/// The outcome of one claimed event, and its attempt if one was made.
#[derive(Debug, Clone)]
pub struct EventFinish {
    pub id: i64,
    pub outcome: EventOutcome,
    pub attempt: Option<EventAttempt>,
}

/// What a run's last write does besides recording outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterFinish {
    /// Gives back the workspace's events the claim still holds: the run ends.
    Release,
    /// Claims the workspace's next run under the same claim (token and hold),
    /// as [`crate::OutboxStore::claim_events`] would for this workspace, in
    /// the same transaction: the workspace is never left unheld in between.
    /// When there is none, releases as `Release` does.
    Continue { now: Millis, per_workspace: i64 },
}

/// What [`crate::OutboxStore::finish_events`] did.
#[derive(Debug, Clone, Default)]
pub struct FinishedEvents {
    /// The outcomes written (those of events the claim still held).
    pub written: usize,
    /// The next run, after [`AfterFinish::Continue`]; empty when there is none.
    pub next: Vec<ClaimedEvent>,
}

pub(crate) const GET_SETTINGS: &str =
    "SELECT webhook, webhook_secret, webhook_disabled FROM workspace_settings WHERE workspace = ?";
pub(crate) const SET_WEBHOOK: &str = "INSERT INTO workspace_settings \
     (workspace, webhook, webhook_secret, webhook_disabled, updated_at) VALUES (?, ?, ?, NULL, ?) \
     ON CONFLICT (workspace) DO UPDATE SET webhook = excluded.webhook, webhook_secret = excluded.webhook_secret, \
     webhook_disabled = NULL, updated_at = excluded.updated_at";
pub(crate) const DISABLE_WEBHOOK: &str = "UPDATE workspace_settings SET webhook_disabled = ? WHERE workspace = ?";
pub(crate) const INSERT_EVENT: &str =
    "INSERT INTO workspace_events (workspace, kind, payload, created_at) VALUES (?, ?, ?, ?)";
/// Claims runs (see the module's comment). `heads`: the oldest pending
/// event of each workspace (`HEADS`), if due and unclaimed (or held by the
/// claim that continues, `own`); PostgreSQL locks them, so two claims never
/// take the same workspace. `spans`: the id after the run's longest extent;
/// `runs`: cut at the first event not due or held by another claim.
pub(crate) const CLAIM_EVENTS: &str = "WITH heads AS MATERIALIZED (SELECT e.id, e.workspace FROM workspace_events e \
     WHERE HEADS AND e.state = 'pending' AND e.next_at <= ? \
     AND (e.claimed_until IS NULL OR e.claimed_until < ? OR e.claimed_until = ?) ORDER BY e.id LIMIT ? FOR_UPDATE), \
     spans AS MATERIALIZED (SELECT h.workspace, h.id AS first, COALESCE((SELECT b.id FROM workspace_events b \
     WHERE b.workspace = h.workspace AND b.state = 'pending' AND b.id > h.id ORDER BY b.id LIMIT 1 OFFSET ?), ?) \
     AS past FROM heads h), \
     runs AS MATERIALIZED (SELECT s.workspace, s.first, COALESCE((SELECT MIN(b.id) FROM workspace_events b \
     WHERE b.workspace = s.workspace AND b.state = 'pending' AND b.id > s.first AND b.id < s.past \
     AND (b.next_at > ? OR (b.claimed_until >= ? AND b.claimed_until <> ?))), s.past) AS stop FROM spans s) \
     UPDATE workspace_events SET claimed_until = ? WHERE state = 'pending' AND id IN (SELECT p.id FROM runs r \
     JOIN workspace_events p ON p.workspace = r.workspace AND p.state = 'pending' AND p.id >= r.first AND p.id < r.stop) \
     RETURNING id, workspace, kind, payload, created_at, \
     (SELECT MAX(a.n) FROM event_attempts a WHERE a.event_id = workspace_events.id) AS tried";
/// The heads of every workspace.
pub(crate) const HEADS_ALL: &str =
    "e.id IN (SELECT MIN(p.id) FROM workspace_events p WHERE p.state = 'pending' GROUP BY p.workspace)";
/// The head of one workspace.
pub(crate) const HEAD_OF: &str =
    "e.id = (SELECT MIN(p.id) FROM workspace_events p WHERE p.state = 'pending' AND p.workspace = ?)";

/// The claim's SQL with `?`: for every workspace, or (`one`) for one whose
/// workspace is the first parameter.
///
/// Claims are not kept as prepared statements: PostgreSQL would settle on a
/// generic plan made while `workspace_events` was small (a fresh database,
/// an idle dispatcher claiming five times a second), and keep it once the
/// table holds a backlog of thousands of events: nested loops that scan it
/// once per row, a second per claim. Planned each time, a claim takes
/// milliseconds (the planning included) whatever the table's history.
pub(crate) fn claim_sql(one: bool, lock: &str) -> String {
    CLAIM_EVENTS.replace("HEADS", if one { HEAD_OF } else { HEADS_ALL }).replace(" FOR_UPDATE", lock)
}

/// Outcomes that set the same columns, written only under the claim that
/// took the events (`claimed_until = ?`), for the ids `IN (IDS)`.
const FINISH_EVENTS: &str = "UPDATE workspace_events SET state = ?, next_at = ?, attempts = attempts + ?, \
     claimed_until = NULL WHERE claimed_until = ? AND id IN (IDS) RETURNING id";
/// Most rows one outcome or attempt statement writes.
pub(crate) const WRITE_CHUNK: usize = 500;

/// The outcome statement for `n` ids.
pub(crate) fn finish_sql(n: usize) -> String {
    FINISH_EVENTS.replace("IDS", &vec!["?"; n].join(", "))
}

/// One statement inserting `n` attempts.
pub(crate) fn attempts_sql(n: usize) -> String {
    let rows = vec!["(?, ?, ?, ?, ?, ?)"; n].join(", ");
    format!("INSERT INTO event_attempts (event_id, n, at, status, latency_ms, excerpt) VALUES {rows}")
}

/// The columns an outcome sets: state, next_at, attempts added.
pub(crate) type OutcomeColumns = (&'static str, Millis, i32);

/// The ids of `done` grouped by the columns their outcomes set.
pub(crate) fn outcome_groups(done: &[EventFinish]) -> Vec<(OutcomeColumns, Vec<i64>)> {
    let mut groups: Vec<(OutcomeColumns, Vec<i64>)> = Vec::new();
    for f in done {
        let columns = outcome_columns(&f.outcome, f.attempt.is_some());
        match groups.iter_mut().find(|(c, _)| *c == columns) {
            Some((_, ids)) => ids.push(f.id),
            None => groups.push((columns, vec![f.id])),
        }
    }
    groups
}

pub(crate) const RELEASE_EVENTS: &str = "UPDATE workspace_events SET claimed_until = NULL \
     WHERE workspace = ? AND state = 'pending' AND claimed_until = ?";
/// Settled events past their keeping time, a batch at a time (never a pending one).
pub(crate) const PURGE_EVENTS: &str = "WITH picked AS MATERIALIZED (SELECT id FROM workspace_events \
     WHERE created_at < ? AND state <> 'pending' ORDER BY created_at LIMIT ? FOR_UPDATE) \
     DELETE FROM workspace_events WHERE id IN (SELECT id FROM picked) AND state <> 'pending' RETURNING id";
/// The attempts of events that are gone, among the ids a purge deleted.
pub(crate) const PURGE_ATTEMPTS: &str = "DELETE FROM event_attempts WHERE event_id >= ? AND event_id <= ? \
     AND NOT EXISTS (SELECT 1 FROM workspace_events w WHERE w.id = event_attempts.event_id)";
pub(crate) const EVENT_LOG: &str = "SELECT id, workspace, kind, payload, created_at, state, attempts, next_at \
     FROM workspace_events WHERE workspace = ? ORDER BY id DESC LIMIT ?";
pub(crate) const EVENT_ONE: &str = "SELECT id, workspace, kind, payload, created_at, state, attempts, next_at \
     FROM workspace_events WHERE workspace = ? AND id = ?";
pub(crate) const ATTEMPTS: &str =
    "SELECT event_id, n, at, status, latency_ms, excerpt FROM event_attempts WHERE event_id = ? ORDER BY n";
pub(crate) const REPLAY_ONE: &str = "UPDATE workspace_events SET state = 'pending', next_at = ?, attempts = 0, \
     claimed_until = NULL WHERE workspace = ? AND id = ?";
pub(crate) const REPLAY_FAILED: &str = "UPDATE workspace_events SET state = 'pending', next_at = ?, attempts = 0, \
     claimed_until = NULL WHERE workspace = ? AND state = 'failed' AND created_at >= ?";

#[derive(sqlx::FromRow)]
pub(crate) struct SettingsRow {
    webhook: Option<String>,
    webhook_secret: Option<String>,
    webhook_disabled: Option<String>,
}

impl From<SettingsRow> for WebhookSettings {
    fn from(r: SettingsRow) -> Self {
        WebhookSettings { url: r.webhook, secret: r.webhook_secret, disabled: r.webhook_disabled }
    }
}

/// An event row (read as the outbox's [`crate::notices::EventRow`], the one
/// place a row becomes a [`crate::WorkspaceEvent`]) with its delivery state.
#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    #[sqlx(flatten)]
    event: crate::notices::EventRow,
    state: String,
    attempts: i32,
    next_at: i64,
}

impl TryFrom<DeliveryRow> for EventDelivery {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> Result<Self> {
        Ok(EventDelivery { event: r.event.try_into()?, state: r.state, attempts: r.attempts, next_at: r.next_at })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ClaimedRow {
    #[sqlx(flatten)]
    event: crate::notices::EventRow,
    tried: Option<i32>,
}

impl TryFrom<ClaimedRow> for ClaimedEvent {
    type Error = StoreError;
    fn try_from(r: ClaimedRow) -> Result<Self> {
        Ok(ClaimedEvent { event: r.event.try_into()?, tried: r.tried.unwrap_or(0) })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AttemptRow {
    event_id: i64,
    n: i32,
    at: i64,
    status: Option<i32>,
    latency_ms: i64,
    excerpt: String,
}

impl From<AttemptRow> for EventAttempt {
    fn from(r: AttemptRow) -> Self {
        EventAttempt {
            event_id: r.event_id,
            n: r.n,
            at: r.at,
            status: r.status,
            latency_ms: r.latency_ms,
            excerpt: r.excerpt,
        }
    }
}

/// Claimed rows as events, in id order.
pub(crate) fn claimed(rows: Vec<ClaimedRow>) -> Result<Vec<ClaimedEvent>> {
    let mut events: Vec<ClaimedEvent> = crate::rows::convert(rows)?;
    events.sort_by_key(|e| e.event.id);
    Ok(events)
}

/// The state column and the attempts added for an outcome.
pub(crate) fn outcome_columns(outcome: &EventOutcome, attempted: bool) -> OutcomeColumns {
    let n = i32::from(attempted);
    match outcome {
        EventOutcome::Delivered => ("delivered", 0, n),
        EventOutcome::Retry { next_at } => ("pending", *next_at, n),
        EventOutcome::Failed => ("failed", 0, n),
        EventOutcome::Skipped => ("skipped", 0, n),
    }
}

/// Implements [`crate::OutboxStore`] for `$store` (pools `$read`, `$write`),
/// with `$sql` turning the `?` SQL into the backend's and `$lock` the
/// row lock of a claim (`""` on SQLite, whose writer is alone).
macro_rules! outbox_store {
    ($store:ty, $read:ident, $write:ident, $sql:path, $lock:expr) => {
        #[async_trait::async_trait]
        impl crate::OutboxStore for $store {
            async fn webhook_settings(
                &self,
                ws: &orvanta_core::WorkspaceId,
            ) -> crate::Result<Option<crate::WebhookSettings>> {
                use crate::outbox::*;
                let row: Option<SettingsRow> =
                    sqlx::query_as(&$sql(GET_SETTINGS)).bind(ws.as_str()).fetch_optional(&self.$read).await?;
                Ok(row.map(crate::WebhookSettings::from))
            }

            async fn set_webhook(
                &self,
                ws: &orvanta_core::WorkspaceId,
                url: Option<&str>,
                secret: Option<&str>,
                now: orvanta_core::Millis,
            ) -> crate::Result<()> {
                use crate::outbox::*;
                sqlx::query(&$sql(SET_WEBHOOK))
                    .bind(ws.as_str())
                    .bind(url)
                    .bind(secret)
                    .bind(now)
                    .execute(&self.$write)
                    .await
                    .map_err(|e| crate::access::conflict(e, format!("the workspace '{ws}' does not exist")))?;
                Ok(())
            }

            async fn disable_webhook(&self, ws: &orvanta_core::WorkspaceId, reason: &str) -> crate::Result<()> {
                use crate::outbox::*;
                sqlx::query(&$sql(DISABLE_WEBHOOK)).bind(reason).bind(ws.as_str()).execute(&self.$write).await?;
                Ok(())
            }

            async fn record_event(
                &self,
                ws: &orvanta_core::WorkspaceId,
                kind: &str,
                payload: &str,
                now: orvanta_core::Millis,
            ) -> crate::Result<()> {
                use crate::outbox::*;
                sqlx::query(&$sql(INSERT_EVENT))
                    .bind(ws.as_str())
                    .bind(kind)
                    .bind(payload)
                    .bind(now)
                    .execute(&self.$write)
                    .await?;
                Ok(())
            }

            async fn claim_events(
                &self,
                now: orvanta_core::Millis,
                hold_until: orvanta_core::Millis,
                workspaces: i64,
                per_workspace: i64,
            ) -> crate::Result<Vec<crate::ClaimedEvent>> {
                use crate::outbox::*;
                let sql = $sql(&claim_sql(false, $lock));
                // Planned afresh each time (see `claim_sql`).
                let rows: Vec<ClaimedRow> = sqlx::query_as(&sql)
                    .persistent(false)
                    .bind(now)
                    .bind(now)
                    .bind(-1i64)
                    .bind(workspaces)
                    .bind((per_workspace - 1).max(0))
                    .bind(i64::MAX)
                    .bind(now)
                    .bind(now)
                    .bind(-1i64)
                    .bind(hold_until)
                    .fetch_all(&self.$write)
                    .await?;
                claimed(rows)
            }

            async fn finish_events(
                &self,
                ws: &orvanta_core::WorkspaceId,
                held_until: orvanta_core::Millis,
                done: &[crate::EventFinish],
                then: crate::AfterFinish,
            ) -> crate::Result<crate::FinishedEvents> {
                use crate::outbox::*;
                let mut tx = self.$write.begin().await?;
                if crate::InstanceStore::backend(self) == "postgres" {
                    // Outcomes and claims lost to a crash of PostgreSQL mean
                    // events sent again, which delivery allows anyway: no
                    // dispatcher waits for their flush to disk.
                    sqlx::query("SET LOCAL synchronous_commit = off").execute(&mut *tx).await?;
                }
                let mut kept = std::collections::HashSet::new();
                for ((state, next_at, added), ids) in outcome_groups(done) {
                    for chunk in ids.chunks(WRITE_CHUNK) {
                        let sql = $sql(&finish_sql(chunk.len()));
                        let mut q = sqlx::query_scalar::<_, i64>(&sql)
                            .persistent(false)
                            .bind(state)
                            .bind(next_at)
                            .bind(added)
                            .bind(held_until);
                        for id in chunk {
                            q = q.bind(*id);
                        }
                        // An event another claim took over is left out: its outcome is the one kept.
                        kept.extend(q.fetch_all(&mut *tx).await?);
                    }
                }
                let attempts: Vec<&crate::EventAttempt> =
                    done.iter().filter(|f| kept.contains(&f.id)).filter_map(|f| f.attempt.as_ref()).collect();
                for chunk in attempts.chunks(WRITE_CHUNK) {
                    let sql = $sql(&attempts_sql(chunk.len()));
                    let mut q = sqlx::query(&sql).persistent(false);
                    for a in chunk {
                        q = q.bind(a.event_id).bind(a.n).bind(a.at).bind(a.status).bind(a.latency_ms).bind(&a.excerpt);
                    }
                    q.execute(&mut *tx).await?;
                }
                let written = kept.len();
                let next = match then {
                    crate::AfterFinish::Release => Vec::new(),
                    crate::AfterFinish::Continue { now, per_workspace } => {
                        let rows: Vec<ClaimedRow> = sqlx::query_as(&$sql(&claim_sql(true, $lock)))
                            .persistent(false)
                            .bind(ws.as_str())
                            .bind(now)
                            .bind(now)
                            .bind(held_until)
                            .bind(1i64)
                            .bind((per_workspace - 1).max(0))
                            .bind(i64::MAX)
                            .bind(now)
                            .bind(now)
                            .bind(held_until)
                            .bind(held_until)
                            .fetch_all(&mut *tx)
                            .await?;
                        claimed(rows)?
                    }
                };
                // The run ends: whatever the claim still holds goes back.
                if next.is_empty() {
                    sqlx::query(&$sql(RELEASE_EVENTS)).bind(ws.as_str()).bind(held_until).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(crate::FinishedEvents { written, next })
            }

            async fn purge_events(&self, before: orvanta_core::Millis, limit: i64) -> crate::Result<u64> {
                use crate::outbox::*;
                let mut tx = self.$write.begin().await?;
                let sql = $sql(&PURGE_EVENTS.replace(" FOR_UPDATE", $lock));
                let ids: Vec<i64> = sqlx::query_scalar(&sql).bind(before).bind(limit).fetch_all(&mut *tx).await?;
                if let (Some(first), Some(last)) = (ids.iter().min(), ids.iter().max()) {
                    sqlx::query(&$sql(PURGE_ATTEMPTS)).bind(first).bind(last).execute(&mut *tx).await?;
                }
                tx.commit().await?;
                Ok(ids.len() as u64)
            }

            fn event_signal(&self) -> tokio::sync::watch::Receiver<u64> {
                self.outbox_subscribe()
            }

            async fn event_log(
                &self,
                ws: &orvanta_core::WorkspaceId,
                limit: i64,
            ) -> crate::Result<Vec<crate::EventDelivery>> {
                use crate::outbox::*;
                let rows: Vec<DeliveryRow> =
                    sqlx::query_as(&$sql(EVENT_LOG)).bind(ws.as_str()).bind(limit).fetch_all(&self.$read).await?;
                crate::rows::convert(rows)
            }

            async fn event_delivery(
                &self,
                ws: &orvanta_core::WorkspaceId,
                id: i64,
            ) -> crate::Result<Option<crate::EventDelivery>> {
                use crate::outbox::*;
                let row: Option<DeliveryRow> =
                    sqlx::query_as(&$sql(EVENT_ONE)).bind(ws.as_str()).bind(id).fetch_optional(&self.$read).await?;
                row.map(crate::EventDelivery::try_from).transpose()
            }

            async fn event_attempts(&self, event_id: i64) -> crate::Result<Vec<crate::EventAttempt>> {
                use crate::outbox::*;
                let rows: Vec<AttemptRow> =
                    sqlx::query_as(&$sql(ATTEMPTS)).bind(event_id).fetch_all(&self.$read).await?;
                Ok(rows.into_iter().map(crate::EventAttempt::from).collect())
            }

            async fn replay_events(
                &self,
                ws: &orvanta_core::WorkspaceId,
                id: Option<i64>,
                failed_since: Option<orvanta_core::Millis>,
                now: orvanta_core::Millis,
            ) -> crate::Result<u64> {
                use crate::outbox::*;
                let r = match (id, failed_since) {
                    (Some(id), _) => {
                        sqlx::query(&$sql(REPLAY_ONE))
                            .bind(now)
                            .bind(ws.as_str())
                            .bind(id)
                            .execute(&self.$write)
                            .await?
                    }
                    (None, since) => {
                        let sql = $sql(REPLAY_FAILED);
                        let q = sqlx::query(&sql).bind(now).bind(ws.as_str()).bind(since.unwrap_or(0));
                        q.execute(&self.$write).await?
                    }
                };
                Ok(r.rows_affected())
            }
        }
    };
}

pub(crate) use outbox_store;
