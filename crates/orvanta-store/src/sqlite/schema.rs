//! The SQLite schema: the numbered migrations of `sqlite/migrations/`, each
//! applied once in its own transaction and recorded in `orvanta_migrations`.

use crate::{migrate, Result};
use sqlx::SqlitePool;

pub(super) async fn migrate(pool: &SqlitePool) -> Result<()> {
    let mut conn = pool.acquire().await?;
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
