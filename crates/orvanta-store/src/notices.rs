//! [`crate::NoticeStore`] for both backends, written once (as `access` is):
//! the token sweep that records expiry notices and workspace events, and the
//! claims of the mail outbox.
//!
//! The SQL is common to SQLite and PostgreSQL but for its placeholders (see
//! [`crate::access::numbered`]) and its row locks: on PostgreSQL every claim
//! takes its rows `FOR UPDATE SKIP LOCKED`, so that servers sweeping at the
//! same moment never wait on each other and never take the same token or
//! notice twice; SQLite has one writer. A token is marked (or deleted) in the
//! transaction that records its notice: it is noticed once, whatever the
//! number of sweeps, servers or restarts.

use crate::{Result, StoreError};
use orvanta_core::{Millis, Username, WorkspaceId};

/// Which notice: the names of the workspace webhook's events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NoticeKind {
    /// The token expires within the notice window (7 days).
    TokenExpiringSoon,
    /// The token expired and the sweep deleted it.
    TokenExpired,
}

impl NoticeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TokenExpiringSoon => "TokenExpiringSoon",
            Self::TokenExpired => "TokenExpired",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "TokenExpiringSoon" => Some(Self::TokenExpiringSoon),
            "TokenExpired" => Some(Self::TokenExpired),
            _ => None,
        }
    }
}

/// Where a notice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoticeStatus {
    /// To be sent (again), at its next attempt time.
    Pending,
    Sent,
    /// Every attempt failed, or the address cannot take mail.
    Failed,
    /// Stale before it could be sent (see the mailer).
    Skipped,
}

impl NoticeStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "pending" => Ok(Self::Pending),
            "sent" => Ok(Self::Sent),
            "failed" => Ok(Self::Failed),
            "skipped" => Ok(Self::Skipped),
            _ => Err(StoreError::Corrupt(format!("unknown notice status '{s}'"))),
        }
    }
}

/// A mail to a token's owner, recorded by the sweep. It knows the token's
/// prefix and label, never its secret.
#[derive(Debug, Clone)]
pub struct TokenNotice {
    pub id: i64,
    pub kind: NoticeKind,
    pub owner: Username,
    /// The owner's address when the notice was recorded.
    pub email: String,
    pub label: String,
    pub token_prefix: String,
    pub expires_at: Millis,
    /// The workspace the token was restricted to; `None`: all of its owner's.
    pub workspace: Option<WorkspaceId>,
    pub created_at: Millis,
    pub status: NoticeStatus,
    /// Attempts begun, the one a claim begins included.
    pub attempts: i32,
    pub last_error: Option<String>,
    pub sent_at: Option<Millis>,
}

/// How an attempt at a claimed notice ended.
#[derive(Debug, Clone)]
pub enum NoticeOutcome {
    Sent {
        at: Millis,
    },
    /// Failed; to be tried again at `at`.
    Retry {
        at: Millis,
        error: String,
    },
    /// Failed for good.
    Failed {
        error: String,
    },
    /// Not sent, and never to be: `reason` says why.
    Skipped {
        reason: String,
    },
}

/// What one sweep step did.
#[derive(Debug, Clone, Default)]
pub struct TokenSweep {
    /// The notices it recorded, in order.
    pub notices: Vec<TokenNotice>,
    /// How many workspace events it recorded.
    pub events: usize,
    /// User tokens it marked as expiring soon.
    pub marked: usize,
    /// Tokens it deleted, sessions included.
    pub deleted: usize,
}

/// An event stored for the workspace webhook (contract §9).
#[derive(Debug, Clone)]
pub struct WorkspaceEvent {
    /// Increasing: the order of the workspace's events.
    pub id: i64,
    pub workspace: WorkspaceId,
    /// `TokenExpiringSoon`, `TokenExpired`, ...
    pub kind: String,
    /// The event's JSON text, as the webhook sends it (but its `timestamp`).
    pub payload: String,
    pub created_at: Millis,
}

/// Where PostgreSQL's claims lock their rows; SQLite takes the marker out.
pub(crate) const LOCK: &str = " FOR_UPDATE";
pub(crate) const PG_LOCK: &str = " FOR UPDATE SKIP LOCKED";

// Each claim picks its rows once, in a materialized CTE: as a subquery of
// `IN`, PostgreSQL may run it again for each row, see the rows it just
// changed as no longer matching, and take more than the limit.
pub(crate) const MARK_SOON: &str = "WITH picked AS MATERIALIZED (SELECT hash FROM tokens \
     WHERE kind = 'user' AND soon_notified_at IS NULL AND expires_at IS NOT NULL AND expires_at >= ? \
     AND expires_at <= ? ORDER BY expires_at, hash LIMIT ? FOR_UPDATE) \
     UPDATE tokens SET soon_notified_at = ? WHERE hash IN (SELECT hash FROM picked) AND soon_notified_at IS NULL \
     RETURNING prefix, owner, label, expires_at, workspace, kind";
pub(crate) const DELETE_EXPIRED: &str = "WITH picked AS MATERIALIZED (SELECT hash FROM tokens \
     WHERE expires_at IS NOT NULL AND expires_at < ? ORDER BY expires_at, hash LIMIT ? FOR_UPDATE) \
     DELETE FROM tokens WHERE hash IN (SELECT hash FROM picked) RETURNING prefix, owner, label, expires_at, workspace, kind";
pub(crate) const OWNER_EMAIL: &str = "SELECT email FROM users WHERE username = ?";
pub(crate) const WORKSPACE_EXISTS: &str = "SELECT id FROM workspaces WHERE id = ?";
pub(crate) const MEMBER_WORKSPACES: &str = "SELECT workspace FROM members WHERE username = ? ORDER BY workspace";
pub(crate) const INSERT_NOTICE: &str = "INSERT INTO token_notices \
     (kind, owner, email, label, token_prefix, expires_at, workspace, created_at, next_attempt_at) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id";
pub(crate) const INSERT_EVENT: &str =
    "INSERT INTO workspace_events (workspace, kind, payload, created_at) VALUES (?, ?, ?, ?)";

const NOTICE_COLUMNS: &str = "id, kind, owner, email, label, token_prefix, expires_at, workspace, created_at, \
     status, attempts, last_error, sent_at";
/// Oldest first, as `+id`: ordered by `id` itself, SQLite 3.46 walked every
/// notice in id order, settled ones included, rather than sort the few due.
pub(crate) const CLAIM_NOTICES: &str = "WITH picked AS MATERIALIZED (SELECT id FROM token_notices \
     WHERE status = 'pending' AND next_attempt_at <= ? ORDER BY +id LIMIT ? FOR_UPDATE) \
     UPDATE token_notices SET attempts = attempts + 1, next_attempt_at = ? \
     WHERE id IN (SELECT id FROM picked) AND status = 'pending' RETURNING COLUMNS";
pub(crate) const FINISH_NOTICE: &str = "UPDATE token_notices SET status = ?, \
     next_attempt_at = COALESCE(?, next_attempt_at), last_error = COALESCE(?, last_error), sent_at = ? \
     WHERE id = ? AND status = 'pending'";
/// Settled notices past their keeping time, a batch at a time.
pub(crate) const PURGE_NOTICES: &str = "WITH picked AS MATERIALIZED (SELECT id FROM token_notices \
     WHERE created_at < ? AND status <> 'pending' ORDER BY created_at LIMIT ? FOR_UPDATE) \
     DELETE FROM token_notices WHERE id IN (SELECT id FROM picked) AND status <> 'pending'";
pub(crate) const LIST_NOTICES: &str = "SELECT COLUMNS FROM token_notices WHERE id > ? ORDER BY id LIMIT ?";
pub(crate) const LIST_EVENTS: &str = "SELECT id, workspace, kind, payload, created_at FROM workspace_events \
     WHERE workspace = ? AND id > ? ORDER BY id LIMIT ?";

/// `sql` with the lock marker replaced by `lock` and the notice columns filled in.
pub(crate) fn with_lock(sql: &str, lock: &str) -> String {
    sql.replace(LOCK, lock).replace("COLUMNS", NOTICE_COLUMNS)
}

/// A token the sweep marked or deleted.
#[derive(sqlx::FromRow)]
pub(crate) struct SweptRow {
    pub prefix: String,
    pub owner: String,
    pub label: String,
    pub expires_at: i64,
    pub workspace: Option<String>,
    pub kind: String,
}

#[derive(sqlx::FromRow)]
pub(crate) struct NoticeRow {
    id: i64,
    kind: String,
    owner: String,
    email: String,
    label: String,
    token_prefix: String,
    expires_at: i64,
    workspace: Option<String>,
    created_at: i64,
    status: String,
    attempts: i32,
    last_error: Option<String>,
    sent_at: Option<i64>,
}

impl TryFrom<NoticeRow> for TokenNotice {
    type Error = StoreError;
    fn try_from(r: NoticeRow) -> Result<Self> {
        Ok(TokenNotice {
            id: r.id,
            kind: NoticeKind::parse(&r.kind)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown notice kind '{}'", r.kind)))?,
            owner: Username::parse(&r.owner)?,
            email: r.email,
            label: r.label,
            token_prefix: r.token_prefix,
            expires_at: r.expires_at,
            workspace: r.workspace.as_deref().map(WorkspaceId::parse).transpose()?,
            created_at: r.created_at,
            status: NoticeStatus::parse(&r.status)?,
            attempts: r.attempts,
            last_error: r.last_error,
            sent_at: r.sent_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct EventRow {
    id: i64,
    workspace: String,
    kind: String,
    payload: String,
    created_at: i64,
}

impl TryFrom<EventRow> for WorkspaceEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self> {
        Ok(WorkspaceEvent {
            id: r.id,
            workspace: WorkspaceId::parse_channel(&r.workspace)?,
            kind: r.kind,
            payload: r.payload,
            created_at: r.created_at,
        })
    }
}

/// A new notice for `row`, before it has an id.
pub(crate) fn new_notice(kind: NoticeKind, row: &SweptRow, email: String, now: Millis) -> Result<TokenNotice> {
    Ok(TokenNotice {
        id: 0,
        kind,
        owner: Username::parse(&row.owner)?,
        email,
        label: row.label.clone(),
        token_prefix: row.prefix.clone(),
        expires_at: row.expires_at,
        workspace: row.workspace.as_deref().map(WorkspaceId::parse).transpose()?,
        created_at: now,
        status: NoticeStatus::Pending,
        attempts: 0,
        last_error: None,
        sent_at: None,
    })
}

/// The workspace webhook's event for `notice` in `workspace`, in the shape
/// of Windmill's webhook events; keys in this order.
pub(crate) fn event_payload(notice: &TokenNotice, workspace: &str) -> String {
    serde_json::json!({
        "type": notice.kind.as_str(),
        "workspace": workspace,
        "owner": notice.owner.as_str(),
        "label": notice.label,
        "token_prefix": notice.token_prefix,
        "expires_at": orvanta_core::millis_to_rfc3339(notice.expires_at),
        "timestamp": orvanta_core::millis_to_rfc3339(notice.created_at),
    })
    .to_string()
}

/// The columns [`FINISH_NOTICE`] sets for `outcome`: status,
/// next attempt, error, sent at.
pub(crate) fn finish_values(outcome: &NoticeOutcome) -> (&'static str, Option<Millis>, Option<&str>, Option<Millis>) {
    match outcome {
        NoticeOutcome::Sent { at } => (NoticeStatus::Sent.as_str(), None, None, Some(*at)),
        NoticeOutcome::Retry { at, error } => (NoticeStatus::Pending.as_str(), Some(*at), Some(error), None),
        NoticeOutcome::Failed { error } => (NoticeStatus::Failed.as_str(), None, Some(error), None),
        NoticeOutcome::Skipped { reason } => (NoticeStatus::Skipped.as_str(), None, Some(reason), None),
    }
}

/// Implements [`crate::NoticeStore`] for `$store`, whose pools are the
/// fields `$read` and `$write`; `$sql` turns the `?` SQL above into the
/// backend's and `$lock` is its row lock for claims.
macro_rules! notice_store {
    ($store:ty, $read:ident, $write:ident, $sql:path, $lock:expr) => {
        #[async_trait::async_trait]
        impl crate::NoticeStore for $store {
            async fn sweep_tokens(
                &self,
                now: orvanta_core::Millis,
                soon: orvanta_core::Millis,
                limit: i64,
            ) -> crate::Result<crate::TokenSweep> {
                use crate::notices::*;
                let mut tx = self.$write.begin().await?;
                let mut marked: Vec<SweptRow> = sqlx::query_as(&$sql(&with_lock(MARK_SOON, $lock)))
                    .bind(now)
                    .bind(now.saturating_add(soon))
                    .bind(limit)
                    .bind(now)
                    .fetch_all(&mut *tx)
                    .await?;
                let mut deleted: Vec<SweptRow> = sqlx::query_as(&$sql(&with_lock(DELETE_EXPIRED, $lock)))
                    .bind(now)
                    .bind(limit)
                    .fetch_all(&mut *tx)
                    .await?;
                // RETURNING keeps no order: soonest first, as the claims chose them.
                marked.sort_by(|a, b| (a.expires_at, &a.prefix).cmp(&(b.expires_at, &b.prefix)));
                deleted.sort_by(|a, b| (a.expires_at, &a.prefix).cmp(&(b.expires_at, &b.prefix)));
                let mut sweep =
                    crate::TokenSweep { marked: marked.len(), deleted: deleted.len(), ..Default::default() };
                let swept = marked
                    .iter()
                    .map(|r| (NoticeKind::TokenExpiringSoon, r))
                    .chain(deleted.iter().map(|r| (NoticeKind::TokenExpired, r)))
                    .filter(|(_, r)| r.kind == "user");
                for (kind, row) in swept {
                    let email: Option<String> =
                        sqlx::query_scalar(&$sql(OWNER_EMAIL)).bind(&row.owner).fetch_optional(&mut *tx).await?;
                    let Some(email) = email else { continue };
                    let mut notice = new_notice(kind, row, email, now)?;
                    notice.id = sqlx::query_scalar(&$sql(INSERT_NOTICE))
                        .bind(kind.as_str())
                        .bind(&row.owner)
                        .bind(&notice.email)
                        .bind(&row.label)
                        .bind(&row.prefix)
                        .bind(row.expires_at)
                        .bind(&row.workspace)
                        .bind(now)
                        .bind(now)
                        .fetch_one(&mut *tx)
                        .await?;
                    let workspaces: Vec<String> = match &row.workspace {
                        Some(ws) => sqlx::query_scalar(&$sql(WORKSPACE_EXISTS)).bind(ws).fetch_all(&mut *tx).await?,
                        None => {
                            sqlx::query_scalar(&$sql(MEMBER_WORKSPACES)).bind(&row.owner).fetch_all(&mut *tx).await?
                        }
                    };
                    for ws in &workspaces {
                        sqlx::query(&$sql(INSERT_EVENT))
                            .bind(ws)
                            .bind(kind.as_str())
                            .bind(event_payload(&notice, ws))
                            .bind(now)
                            .execute(&mut *tx)
                            .await?;
                    }
                    sweep.events += workspaces.len();
                    sweep.notices.push(notice);
                }
                tx.commit().await?;
                Ok(sweep)
            }

            async fn claim_notices(
                &self,
                now: orvanta_core::Millis,
                lease_until: orvanta_core::Millis,
                limit: i64,
            ) -> crate::Result<Vec<crate::TokenNotice>> {
                use crate::notices::*;
                let rows: Vec<NoticeRow> = sqlx::query_as(&$sql(&with_lock(CLAIM_NOTICES, $lock)))
                    .bind(now)
                    .bind(limit)
                    .bind(lease_until)
                    .fetch_all(&self.$write)
                    .await?;
                let mut notices: Vec<crate::TokenNotice> = crate::rows::convert(rows)?;
                notices.sort_by_key(|n| n.id);
                Ok(notices)
            }

            async fn finish_notice(&self, id: i64, outcome: &crate::NoticeOutcome) -> crate::Result<bool> {
                use crate::notices::*;
                let (status, next, error, sent_at) = finish_values(outcome);
                let done = sqlx::query(&$sql(FINISH_NOTICE))
                    .bind(status)
                    .bind(next)
                    .bind(error)
                    .bind(sent_at)
                    .bind(id)
                    .execute(&self.$write)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn purge_notices(&self, before: orvanta_core::Millis, limit: i64) -> crate::Result<u64> {
                use crate::notices::*;
                let done = sqlx::query(&$sql(&with_lock(PURGE_NOTICES, $lock)))
                    .bind(before)
                    .bind(limit)
                    .execute(&self.$write)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn list_token_notices(&self, after: i64, limit: i64) -> crate::Result<Vec<crate::TokenNotice>> {
                use crate::notices::*;
                let rows: Vec<NoticeRow> = sqlx::query_as(&$sql(&with_lock(LIST_NOTICES, "")))
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.$read)
                    .await?;
                crate::rows::convert(rows)
            }

            async fn list_workspace_events(
                &self,
                ws: &orvanta_core::WorkspaceId,
                after: i64,
                limit: i64,
            ) -> crate::Result<Vec<crate::WorkspaceEvent>> {
                use crate::notices::*;
                let rows: Vec<EventRow> = sqlx::query_as(&$sql(LIST_EVENTS))
                    .bind(ws.as_str())
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&self.$read)
                    .await?;
                crate::rows::convert(rows)
            }
        }
    };
}

pub(crate) use notice_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_drops_the_lock_and_postgres_takes_it() {
        let sqlite = with_lock(CLAIM_NOTICES, "");
        assert!(!sqlite.contains("FOR") && sqlite.contains("RETURNING id, kind"), "{sqlite}");
        let pg = crate::access::numbered(&with_lock(MARK_SOON, PG_LOCK));
        assert!(pg.contains("LIMIT $3 FOR UPDATE SKIP LOCKED)"), "{pg}");
    }

    #[test]
    fn kinds_round_trip() {
        for k in [NoticeKind::TokenExpiringSoon, NoticeKind::TokenExpired] {
            assert_eq!(NoticeKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(NoticeKind::parse("CreateScript"), None);
    }
}
