//! [`crate::OutboxStore`] for both backends, written once (as
//! [`crate::access`]): the workspace webhook's settings, and the delivery of
//! `workspace_events` — claimed oldest first per workspace (one at a time, so
//! a workspace's events arrive in order), each attempt recorded.

use crate::{Result, StoreError};
use orvanta_core::{Millis, WorkspaceId};

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

pub(crate) const GET_SETTINGS: &str =
    "SELECT webhook, webhook_secret, webhook_disabled FROM workspace_settings WHERE workspace = ?";
pub(crate) const SET_WEBHOOK: &str = "INSERT INTO workspace_settings \
     (workspace, webhook, webhook_secret, webhook_disabled, updated_at) VALUES (?, ?, ?, NULL, ?) \
     ON CONFLICT (workspace) DO UPDATE SET webhook = excluded.webhook, webhook_secret = excluded.webhook_secret, \
     webhook_disabled = NULL, updated_at = excluded.updated_at";
pub(crate) const DISABLE_WEBHOOK: &str = "UPDATE workspace_settings SET webhook_disabled = ? WHERE workspace = ?";
pub(crate) const INSERT_EVENT: &str =
    "INSERT INTO workspace_events (workspace, kind, payload, created_at) VALUES (?, ?, ?, ?)";
/// The oldest pending event of each workspace that is due and not held by a claim.
pub(crate) const CLAIM_EVENTS: &str = "WITH picked AS MATERIALIZED (SELECT e.id FROM workspace_events e \
     WHERE e.state = 'pending' AND e.next_at <= ? AND (e.claimed_until IS NULL OR e.claimed_until < ?) \
     AND e.id = (SELECT MIN(p.id) FROM workspace_events p WHERE p.workspace = e.workspace AND p.state = 'pending') \
     ORDER BY e.id LIMIT ? FOR_UPDATE) \
     UPDATE workspace_events SET claimed_until = ? WHERE id IN (SELECT id FROM picked) \
     RETURNING id, workspace, kind, payload, created_at";
pub(crate) const FINISH_EVENT: &str = "UPDATE workspace_events SET state = ?, next_at = ?, \
     attempts = attempts + ?, claimed_until = NULL WHERE id = ?";
pub(crate) const INSERT_ATTEMPT: &str =
    "INSERT INTO event_attempts (event_id, n, at, status, latency_ms, excerpt) VALUES (?, ?, ?, ?, ?, ?)";
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

#[derive(sqlx::FromRow)]
pub(crate) struct DeliveryRow {
    id: i64,
    workspace: String,
    kind: String,
    payload: String,
    created_at: i64,
    state: String,
    attempts: i32,
    next_at: i64,
}

impl TryFrom<DeliveryRow> for EventDelivery {
    type Error = StoreError;
    fn try_from(r: DeliveryRow) -> Result<Self> {
        Ok(EventDelivery {
            event: crate::WorkspaceEvent {
                id: r.id,
                workspace: WorkspaceId::parse_channel(&r.workspace)?,
                kind: r.kind,
                payload: r.payload,
                created_at: r.created_at,
            },
            state: r.state,
            attempts: r.attempts,
            next_at: r.next_at,
        })
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

/// The state column and the attempts added for an outcome.
pub(crate) fn outcome_columns(outcome: &EventOutcome, attempted: bool) -> (&'static str, Millis, i32) {
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
                limit: i64,
            ) -> crate::Result<Vec<crate::WorkspaceEvent>> {
                use crate::outbox::*;
                let sql = $sql(&CLAIM_EVENTS.replace(" FOR_UPDATE", $lock));
                let rows: Vec<crate::notices::EventRow> = sqlx::query_as(&sql)
                    .bind(now)
                    .bind(now)
                    .bind(limit)
                    .bind(hold_until)
                    .fetch_all(&self.$write)
                    .await?;
                let mut events: Vec<crate::WorkspaceEvent> = crate::rows::convert(rows)?;
                events.sort_by_key(|e| e.id);
                Ok(events)
            }

            async fn finish_event(
                &self,
                id: i64,
                outcome: &crate::EventOutcome,
                attempt: Option<&crate::EventAttempt>,
            ) -> crate::Result<()> {
                use crate::outbox::*;
                let (state, next_at, added) = outcome_columns(outcome, attempt.is_some());
                let mut tx = self.$write.begin().await?;
                sqlx::query(&$sql(FINISH_EVENT))
                    .bind(state)
                    .bind(next_at)
                    .bind(added)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if let Some(a) = attempt {
                    sqlx::query(&$sql(INSERT_ATTEMPT))
                        .bind(a.event_id)
                        .bind(a.n)
                        .bind(a.at)
                        .bind(a.status)
                        .bind(a.latency_ms)
                        .bind(&a.excerpt)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
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
