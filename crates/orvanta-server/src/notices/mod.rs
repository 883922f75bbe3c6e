//! Token expiry notices (contract §2). Every process runs [`run`]: it sweeps
//! the tokens, then mails what the sweeps recorded, over and over.
//!
//! - The sweep ([`sweep_step`]) is the store's: in one transaction it marks
//!   the user tokens that expire within 7 days and deletes the expired ones
//!   (sessions too, which get no notice), and records for each user token a
//!   notice to its owner and a `TokenExpiringSoon` / `TokenExpired` event
//!   for the workspace webhook. A token is marked or deleted in the commit
//!   that records its notice: one notice per token and kind, whatever the
//!   number of sweeps, processes or restarts.
//! - The mailer ([`deliver_step`]) claims pending notices (a claim keeps them
//!   from other processes for [`CLAIM_LEASE`]), sends each through SMTP, and
//!   records the outcome: sent, or tried again on the contract's schedule
//!   ([`RETRY_AFTER_S`]), then failed. Without `ORVANTA_SMTP_HOST` there is
//!   no mailer: notices stay recorded, and nothing fails.

pub mod mail;

pub use mail::Mailer;

use orvanta_core::Millis;
use orvanta_store::{NoticeKind, NoticeOutcome, Store, StoreError, TokenNotice, TokenSweep};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const DAY: Millis = 86_400_000;

/// How long before its expiry a token's owner is told.
pub const NOTICE_WINDOW: Millis = 7 * DAY;

/// Tokens one sweep transaction takes, of each kind.
const SWEEP_BATCH: i64 = 500;

/// How long a claimed notice is kept from other processes: longer than an
/// SMTP attempt may take, so that it is never sent twice at once; a process
/// that dies while sending leaves it to be tried again after that.
pub const CLAIM_LEASE: Millis = 300_000;

/// The waits after a failed attempt, in seconds (the contract's retry
/// schedule of outbound webhooks: the first attempt at once, then these);
/// when the last attempt fails too, the notice has failed.
pub const RETRY_AFTER_S: [i64; 7] = [5, 300, 1800, 7200, 18_000, 36_000, 36_000];

/// A notice not sent this long after it was recorded (SMTP configured late,
/// or down for a week) is skipped rather than mailed out of date.
pub const STALE_AFTER: Millis = 7 * DAY;

/// Sweeps and mails every `every` until `shutdown`.
pub async fn run(store: Arc<dyn Store>, mailer: Option<Arc<Mailer>>, every: Duration, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        let now = orvanta_core::now_millis();
        match sweep_step(&*store, now).await {
            Ok(sweep) if sweep.marked + sweep.deleted > 0 => tracing::info!(
                expiring_soon = sweep.marked,
                deleted = sweep.deleted,
                notices = sweep.notices.len(),
                events = sweep.events,
                "token sweep"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "the token sweep failed; it runs again at the next interval"),
        }
        if let Some(mailer) = &mailer {
            match deliver_step(&*store, mailer, now).await {
                Ok(d) if d != Delivery::default() => tracing::info!(
                    sent = d.sent,
                    retrying = d.retrying,
                    failed = d.failed,
                    skipped = d.skipped,
                    "token expiry notices mailed"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "token expiry notices could not be read or updated"),
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

/// Sweeps the tokens at `now`, batch after batch, until a batch finds
/// nothing more; answers everything it did.
pub async fn sweep_step(store: &dyn Store, now: Millis) -> Result<TokenSweep, StoreError> {
    let mut total = TokenSweep::default();
    loop {
        let sweep = store.sweep_tokens(now, NOTICE_WINDOW, SWEEP_BATCH).await?;
        let full = sweep.marked as i64 == SWEEP_BATCH || sweep.deleted as i64 == SWEEP_BATCH;
        total.marked += sweep.marked;
        total.deleted += sweep.deleted;
        total.events += sweep.events;
        total.notices.extend(sweep.notices);
        if !full {
            return Ok(total);
        }
    }
}

/// What one delivery step did with the notices it claimed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivery {
    pub sent: usize,
    /// Failed, to be tried again.
    pub retrying: usize,
    /// Failed for good.
    pub failed: usize,
    /// Stale: not sent.
    pub skipped: usize,
}

/// Sends the notices due at `now`, one claim at a time, and records each
/// outcome. Stops at the first attempt that fails and will be tried again:
/// the server is likely down, and the other notices would each wait for it.
pub async fn deliver_step(store: &dyn Store, mailer: &Mailer, now: Millis) -> Result<Delivery, StoreError> {
    let mut done = Delivery::default();
    loop {
        let Some(notice) = store.claim_notices(now, now + CLAIM_LEASE, 1).await?.pop() else {
            return Ok(done);
        };
        let outcome = match stale(&notice, now) {
            Some(reason) => NoticeOutcome::Skipped { reason },
            None => {
                let result = mailer.send(&notice).await;
                outcome(&notice, result, orvanta_core::now_millis(), mailer.server())
            }
        };
        store.finish_notice(notice.id, &outcome).await?;
        match outcome {
            NoticeOutcome::Sent { .. } => done.sent += 1,
            NoticeOutcome::Retry { .. } => {
                done.retrying += 1;
                return Ok(done);
            }
            NoticeOutcome::Failed { .. } => done.failed += 1,
            NoticeOutcome::Skipped { .. } => done.skipped += 1,
        }
    }
}

/// Why `notice` is not worth sending any more, if it is not.
pub fn stale(notice: &TokenNotice, now: Millis) -> Option<String> {
    if notice.kind == NoticeKind::TokenExpiringSoon && notice.expires_at <= now {
        return Some("the token expired before its notice could be sent; its expiry notice follows".into());
    }
    if now - notice.created_at > STALE_AFTER {
        return Some("not sent within 7 days of being recorded".into());
    }
    None
}

/// The outcome of the attempt `notice.attempts` that ended at `now` with
/// `result`, logged (by owner and token prefix: never an address's
/// content beyond the notice, never a secret, which a notice does not have).
pub fn outcome(notice: &TokenNotice, result: Result<(), mail::SendError>, now: Millis, server: &str) -> NoticeOutcome {
    let error = match result {
        Ok(()) => return NoticeOutcome::Sent { at: now },
        Err(e) => e,
    };
    let wait = usize::try_from(notice.attempts - 1).ok().and_then(|i| RETRY_AFTER_S.get(i));
    match wait {
        Some(wait) if error.is_retryable() => {
            tracing::warn!(
                notice = notice.id, owner = %notice.owner, token_prefix = %notice.token_prefix, attempt = notice.attempts,
                retry_in_s = wait, error = %error,
                "a token expiry notice could not be mailed through {server}; check ORVANTA_SMTP_* (ORVANTA_SMTP_TLS=none for a plain relay)"
            );
            NoticeOutcome::Retry { at: now + wait * 1000, error: error.to_string() }
        }
        _ => {
            tracing::warn!(
                notice = notice.id, owner = %notice.owner, token_prefix = %notice.token_prefix, attempt = notice.attempts,
                error = %error, "a token expiry notice could not be mailed; no more attempts"
            );
            NoticeOutcome::Failed { error: error.to_string() }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use orvanta_core::Username;
    use orvanta_store::NoticeStatus;

    const T0: Millis = 1_700_000_000_000;

    fn notice(kind: NoticeKind, attempts: i32) -> TokenNotice {
        TokenNotice {
            id: 7,
            kind,
            owner: Username::parse("alice").unwrap(),
            email: "alice@example.com".into(),
            label: "ci".into(),
            token_prefix: "orv_abc123".into(),
            expires_at: T0 + DAY,
            workspace: None,
            created_at: T0,
            status: NoticeStatus::Pending,
            attempts,
            last_error: None,
            sent_at: None,
        }
    }

    fn smtp_error() -> mail::SendError {
        // A real refusal: nothing listens on port 1.
        let transport: lettre::AsyncSmtpTransport<lettre::Tokio1Executor> =
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1")
                .port(1)
                .timeout(Some(Duration::from_secs(5)))
                .build();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let e = rt.block_on(transport.test_connection()).expect_err("nothing listens on port 1");
        mail::SendError::Smtp(e)
    }

    #[test]
    fn failures_are_retried_on_the_schedule_then_fail() {
        let sent = outcome(&notice(NoticeKind::TokenExpired, 1), Ok(()), T0 + 9, "h:25");
        assert!(matches!(sent, NoticeOutcome::Sent { at } if at == T0 + 9));
        let err = smtp_error();
        let msg = err.to_string();
        match outcome(&notice(NoticeKind::TokenExpired, 1), Err(err), T0, "h:25") {
            NoticeOutcome::Retry { at, error } => assert_eq!((at, error), (T0 + 5_000, msg)),
            other => panic!("{other:?}"),
        }
        match outcome(&notice(NoticeKind::TokenExpired, 2), Err(smtp_error()), T0, "h:25") {
            NoticeOutcome::Retry { at, .. } => assert_eq!(at, T0 + 300_000),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            outcome(&notice(NoticeKind::TokenExpired, 8), Err(smtp_error()), T0, "h:25"),
            NoticeOutcome::Failed { .. }
        ));
        let bad_address = mail::SendError::Address("nobody".into());
        assert!(matches!(
            outcome(&notice(NoticeKind::TokenExpired, 1), Err(bad_address), T0, "h:25"),
            NoticeOutcome::Failed { .. }
        ));
    }

    #[test]
    fn stale_notices_are_skipped() {
        assert_eq!(stale(&notice(NoticeKind::TokenExpiringSoon, 1), T0 + 1), None);
        assert!(stale(&notice(NoticeKind::TokenExpiringSoon, 1), T0 + DAY).is_some(), "the token expired meanwhile");
        assert_eq!(stale(&notice(NoticeKind::TokenExpired, 1), T0 + STALE_AFTER), None);
        assert!(stale(&notice(NoticeKind::TokenExpired, 1), T0 + STALE_AFTER + 1).is_some());
    }
}
