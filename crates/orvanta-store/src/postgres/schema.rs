//! Applies the PostgreSQL migrations of [`crate::migrate::POSTGRES`].
//!
//! Several servers may start at once against one fresh database, so each
//! migration runs in its own transaction under a transaction-scoped advisory
//! lock: the first process applies it, the others wait, then find it
//! recorded and move on.

use crate::migrate::{BOOKKEEPING, POSTGRES};
use crate::{Result, StoreError};
use sqlx::{Executor, PgPool};

/// The advisory lock key every Orvanta process migrates under ("orvanta" in ASCII).
const MIGRATION_LOCK: i64 = 0x006f_7276_616e_7461;

/// Brings the database up to the newest migration this binary knows.
pub(super) async fn migrate(pool: &PgPool) -> Result<()> {
    for m in POSTGRES {
        let mut tx = pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(MIGRATION_LOCK).execute(&mut *tx).await?;
        // Under the lock: a concurrent CREATE TABLE IF NOT EXISTS can still fail.
        // (`tx.execute(&str)` rather than `raw_sql`: both run several statements,
        // but `raw_sql` makes the future of `open` one that `tokio::spawn` refuses.)
        tx.execute(BOOKKEEPING).await?;
        let applied: Option<i64> = sqlx::query_scalar("SELECT version FROM orvanta_migrations WHERE version = $1")
            .bind(m.version)
            .fetch_optional(&mut *tx)
            .await?;
        if applied.is_some() {
            tx.commit().await?;
            continue;
        }
        tx.execute(m.sql).await.map_err(|e| {
            StoreError::Internal(format!("PostgreSQL migration {} ({}) failed: {e}", m.version, m.name))
        })?;
        sqlx::query("INSERT INTO orvanta_migrations (version, name, applied_at) VALUES ($1, $2, $3)")
            .bind(m.version)
            .bind(m.name)
            .bind(orvanta_core::now_millis())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        tracing::info!(version = m.version, name = m.name, "applied PostgreSQL migration");
    }

    let newest: Option<i64> = sqlx::query_scalar("SELECT max(version) FROM orvanta_migrations").fetch_one(pool).await?;
    let known = POSTGRES.last().map_or(0, |m| m.version);
    if newest.is_some_and(|v| v > known) {
        tracing::warn!(
            database = newest,
            binary = known,
            "the database was migrated by a newer Orvanta than this one; run the newer version"
        );
    }
    Ok(())
}
