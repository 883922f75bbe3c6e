//! Script versions on SQLite. Versions of one path are numbered by `seq`;
//! saves go through the single write connection, so they are serialized.

use super::{conflict_as, SqliteStore};
use crate::rows::{convert, ScriptRow, SCRIPT_COLUMNS};
use crate::shared::{check_parent, script_race_message, settings_text};
use crate::Result;
use async_trait::async_trait;
use orvanta_core::{NewScript, RunnablePath, Script, ScriptHash, WorkspaceId};
use sqlx::Row;

#[async_trait]
impl crate::ScriptStore for SqliteStore {
    async fn insert_script(&self, s: &NewScript) -> Result<Option<ScriptHash>> {
        let mut tx = self.write.begin().await?;
        let newest =
            sqlx::query("SELECT hash, seq FROM scripts WHERE workspace = ? AND path = ? ORDER BY seq DESC LIMIT 1")
                .bind(s.workspace.as_str())
                .bind(s.path.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let (newest_hash, seq) = match newest {
            Some(r) => (Some(ScriptHash::parse(&r.try_get::<String, _>(0)?)?), r.try_get::<i64, _>(1)? + 1),
            None => (None, 1),
        };
        let parent = check_parent(&s.path, s.parent_hash, newest_hash)?;
        sqlx::query(&format!(
            "INSERT INTO scripts ({SCRIPT_COLUMNS}, seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?)"
        ))
        .bind(s.hash.to_string())
        .bind(s.workspace.as_str())
        .bind(s.path.as_str())
        .bind(parent.map(|h| h.to_string()))
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
        .map_err(|e| conflict_as(e, script_race_message(s)))?;
        super::emit(&mut tx, &s.workspace, crate::config::script_saved(s, seq == 1)).await?;
        tx.commit().await?;
        Ok(parent)
    }

    async fn latest_script(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Option<Script>> {
        let row: Option<ScriptRow> = sqlx::query_as(&format!(
            "SELECT {SCRIPT_COLUMNS} FROM scripts WHERE workspace = ? AND path = ? ORDER BY seq DESC LIMIT 1"
        ))
        .bind(ws.as_str())
        .bind(path.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.map(Script::try_from).transpose()
    }

    async fn script_by_hash(&self, ws: &WorkspaceId, hash: ScriptHash) -> Result<Option<Script>> {
        let row: Option<ScriptRow> =
            sqlx::query_as(&format!("SELECT {SCRIPT_COLUMNS} FROM scripts WHERE workspace = ? AND hash = ?"))
                .bind(ws.as_str())
                .bind(hash.to_string())
                .fetch_optional(&self.read)
                .await?;
        row.map(Script::try_from).transpose()
    }

    async fn list_scripts(&self, ws: &WorkspaceId, include_archived: bool) -> Result<Vec<Script>> {
        let rows: Vec<ScriptRow> = sqlx::query_as(&format!(
            "SELECT {SCRIPT_COLUMNS} FROM scripts s WHERE workspace = ?1 \
             AND seq = (SELECT MAX(seq) FROM scripts t WHERE t.workspace = s.workspace AND t.path = s.path) \
             AND (?2 OR archived = 0) ORDER BY path"
        ))
        .bind(ws.as_str())
        .bind(include_archived)
        .fetch_all(&self.read)
        .await?;
        convert(rows)
    }

    async fn script_history(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Vec<Script>> {
        let rows: Vec<ScriptRow> = sqlx::query_as(&format!(
            "SELECT {SCRIPT_COLUMNS} FROM scripts WHERE workspace = ? AND path = ? ORDER BY seq DESC"
        ))
        .bind(ws.as_str())
        .bind(path.as_str())
        .fetch_all(&self.read)
        .await?;
        convert(rows)
    }

    async fn archive_script(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let r = sqlx::query("UPDATE scripts SET archived = 1 WHERE workspace = ? AND path = ?")
            .bind(ws.as_str())
            .bind(path.as_str())
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        let ev = crate::config::event("ArchiveScript", ws, serde_json::json!({"path": path.as_str()}));
        super::emit(&mut tx, ws, ev).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_script(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let r = sqlx::query("DELETE FROM scripts WHERE workspace = ? AND path = ?")
            .bind(ws.as_str())
            .bind(path.as_str())
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        let ev = crate::config::event("DeleteScriptPath", ws, serde_json::json!({"path": path.as_str()}));
        super::emit(&mut tx, ws, ev).await?;
        tx.commit().await?;
        Ok(true)
    }
}
