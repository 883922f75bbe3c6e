//! Script versions on PostgreSQL.
//!
//! Versions of one path are numbered by `seq`; the unique index on
//! `(workspace, path, seq)` is what serializes two saves of the same path
//! (a row lock cannot, when the path has no version yet): the second to
//! commit the same `seq` gets a `Conflict` and must reload.

use super::unique_violation;
use crate::rows::{convert, ScriptRow, SCRIPT_COLUMNS};
use crate::shared::{check_parent, script_race_message, settings_text};
use crate::{Result, StoreError};
use orvanta_core::{NewScript, RunnablePath, Script, ScriptHash, WorkspaceId};
use sqlx::PgPool;

/// Stores a new version and answers the parent it recorded.
pub(super) async fn insert(pool: &PgPool, s: &NewScript) -> Result<Option<ScriptHash>> {
    let mut tx = pool.begin().await?;
    let newest: Option<(String, i64)> = sqlx::query_as(
        "SELECT hash, seq FROM scripts WHERE workspace = $1 AND path = $2 ORDER BY seq DESC LIMIT 1 FOR UPDATE",
    )
    .bind(s.workspace.as_str())
    .bind(s.path.as_str())
    .fetch_optional(&mut *tx)
    .await?;
    let newest_hash = newest.as_ref().map(|(h, _)| ScriptHash::parse(h)).transpose()?;
    let parent = check_parent(&s.path, s.parent_hash, newest_hash)?;
    let seq = newest.map_or(1, |(_, seq)| seq + 1);

    sqlx::query(
        "INSERT INTO scripts (hash, workspace, path, parent_hash, language, content, summary, description, \
         schema, settings, created_by, created_at, seq, archived) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, FALSE)",
    )
    .bind(s.hash.to_string())
    .bind(s.workspace.as_str())
    .bind(s.path.as_str())
    .bind(parent.map(|p| p.to_string()))
    .bind(s.language.as_str())
    .bind(&s.content)
    .bind(&s.summary)
    .bind(&s.description)
    .bind(s.schema.to_string())
    .bind(settings_text(s))
    .bind(s.created_by.as_str())
    .bind(s.created_at)
    .bind(seq)
    .execute(&mut *tx)
    .await
    .map_err(|e| match unique_violation(&e) {
        // The same `seq` (a concurrent save) or the same hash.
        Some(_) => StoreError::Conflict(script_race_message(s)),
        None => e.into(),
    })?;
    super::emit(&mut tx, &s.workspace, crate::config::script_saved(s, seq == 1)).await?;
    tx.commit().await?;
    Ok(parent)
}

pub(super) async fn latest(pool: &PgPool, ws: &WorkspaceId, path: &RunnablePath) -> Result<Option<Script>> {
    let row: Option<ScriptRow> = sqlx::query_as(&format!(
        "SELECT {SCRIPT_COLUMNS} FROM scripts WHERE workspace = $1 AND path = $2 ORDER BY seq DESC LIMIT 1"
    ))
    .bind(ws.as_str())
    .bind(path.as_str())
    .fetch_optional(pool)
    .await?;
    row.map(Script::try_from).transpose()
}

pub(super) async fn by_hash(pool: &PgPool, ws: &WorkspaceId, hash: ScriptHash) -> Result<Option<Script>> {
    let row: Option<ScriptRow> =
        sqlx::query_as(&format!("SELECT {SCRIPT_COLUMNS} FROM scripts WHERE workspace = $1 AND hash = $2"))
            .bind(ws.as_str())
            .bind(hash.to_string())
            .fetch_optional(pool)
            .await?;
    row.map(Script::try_from).transpose()
}

/// The newest version of each path; a path whose newest version is archived
/// is left out unless asked for.
pub(super) async fn list(pool: &PgPool, ws: &WorkspaceId, include_archived: bool) -> Result<Vec<Script>> {
    let rows: Vec<ScriptRow> = sqlx::query_as(&format!(
        "SELECT {SCRIPT_COLUMNS} FROM ( \
             SELECT DISTINCT ON (path) {SCRIPT_COLUMNS} FROM scripts WHERE workspace = $1 ORDER BY path, seq DESC \
         ) newest WHERE $2 OR NOT archived ORDER BY path"
    ))
    .bind(ws.as_str())
    .bind(include_archived)
    .fetch_all(pool)
    .await?;
    convert(rows)
}

pub(super) async fn history(pool: &PgPool, ws: &WorkspaceId, path: &RunnablePath) -> Result<Vec<Script>> {
    let rows: Vec<ScriptRow> = sqlx::query_as(&format!(
        "SELECT {SCRIPT_COLUMNS} FROM scripts WHERE workspace = $1 AND path = $2 ORDER BY seq DESC"
    ))
    .bind(ws.as_str())
    .bind(path.as_str())
    .fetch_all(pool)
    .await?;
    convert(rows)
}

pub(super) async fn archive(pool: &PgPool, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query("UPDATE scripts SET archived = TRUE WHERE workspace = $1 AND path = $2")
        .bind(ws.as_str())
        .bind(path.as_str())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let ev = crate::config::event("ArchiveScript", ws, serde_json::json!({"path": path.as_str()}));
    super::emit(&mut tx, ws, ev).await?;
    tx.commit().await?;
    Ok(true)
}

pub(super) async fn delete(pool: &PgPool, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let done = sqlx::query("DELETE FROM scripts WHERE workspace = $1 AND path = $2")
        .bind(ws.as_str())
        .bind(path.as_str())
        .execute(&mut *tx)
        .await?;
    if done.rows_affected() == 0 {
        return Ok(false);
    }
    let ev = crate::config::event("DeleteScriptPath", ws, serde_json::json!({"path": path.as_str()}));
    super::emit(&mut tx, ws, ev).await?;
    tx.commit().await?;
    Ok(true)
}

#[async_trait::async_trait]
impl crate::ScriptStore for super::PgStore {
    async fn insert_script(&self, script: &NewScript) -> Result<Option<ScriptHash>> {
        insert(&self.pool, script).await
    }

    async fn latest_script(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Option<Script>> {
        latest(&self.pool, ws, path).await
    }

    async fn script_by_hash(&self, ws: &WorkspaceId, hash: ScriptHash) -> Result<Option<Script>> {
        by_hash(&self.pool, ws, hash).await
    }

    async fn list_scripts(&self, ws: &WorkspaceId, include_archived: bool) -> Result<Vec<Script>> {
        list(&self.pool, ws, include_archived).await
    }

    async fn script_history(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Vec<Script>> {
        history(&self.pool, ws, path).await
    }

    async fn archive_script(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool> {
        archive(&self.pool, ws, path).await
    }

    async fn delete_script(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool> {
        delete(&self.pool, ws, path).await
    }
}
