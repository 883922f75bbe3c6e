//! Flow versions on SQLite. Version numbers come from the `flows` table's
//! `AUTOINCREMENT` key: increasing and never reused, across the instance.

use super::{conflict_as, SqliteStore};
use crate::rows::{convert, FlowRow, FLOW_COLUMNS};
use crate::shared::flow_rename_conflict;
use crate::Result;
use async_trait::async_trait;
use orvanta_core::{Flow, FlowVersion, NewFlow, RunnablePath, WorkspaceId};

#[async_trait]
impl crate::FlowStore for SqliteStore {
    async fn insert_flow(&self, f: &NewFlow, rename_from: Option<&RunnablePath>) -> Result<FlowVersion> {
        let mut tx = self.write.begin().await?;
        if let Some(old) = rename_from.filter(|old| *old != &f.path) {
            let taken: Option<i64> = sqlx::query_scalar("SELECT 1 FROM flows WHERE workspace = ? AND path = ? LIMIT 1")
                .bind(f.workspace.as_str())
                .bind(f.path.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_some() {
                return Err(flow_rename_conflict(old, &f.path));
            }
            sqlx::query("UPDATE flows SET path = ? WHERE workspace = ? AND path = ?")
                .bind(f.path.as_str())
                .bind(f.workspace.as_str())
                .bind(old.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO flows (workspace, path, summary, description, value, schema, created_by, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING version",
        )
        .bind(f.workspace.as_str())
        .bind(f.path.as_str())
        .bind(&f.summary)
        .bind(&f.description)
        .bind(f.value.to_string())
        .bind(f.schema.to_string())
        .bind(f.created_by.as_str())
        .bind(f.created_at)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| conflict_as(e, format!("the flow at {} could not be saved; reload it and save again", f.path)))?;
        super::emit(&mut tx, &f.workspace, crate::config::flow_saved(f, rename_from)).await?;
        tx.commit().await?;
        Ok(FlowVersion::from_i64(version))
    }

    async fn latest_flow(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Option<Flow>> {
        let row: Option<FlowRow> = sqlx::query_as(&format!(
            "SELECT {FLOW_COLUMNS} FROM flows WHERE workspace = ? AND path = ? ORDER BY version DESC LIMIT 1"
        ))
        .bind(ws.as_str())
        .bind(path.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.map(Flow::try_from).transpose()
    }

    async fn flow_by_version(&self, ws: &WorkspaceId, version: FlowVersion) -> Result<Option<Flow>> {
        let row: Option<FlowRow> =
            sqlx::query_as(&format!("SELECT {FLOW_COLUMNS} FROM flows WHERE workspace = ? AND version = ?"))
                .bind(ws.as_str())
                .bind(version.get())
                .fetch_optional(&self.read)
                .await?;
        row.map(Flow::try_from).transpose()
    }

    async fn list_flows(&self, ws: &WorkspaceId, include_archived: bool) -> Result<Vec<Flow>> {
        let rows: Vec<FlowRow> = sqlx::query_as(&format!(
            "SELECT {FLOW_COLUMNS} FROM flows f WHERE workspace = ?1 \
             AND version = (SELECT MAX(version) FROM flows g WHERE g.workspace = f.workspace AND g.path = f.path) \
             AND (?2 OR archived = 0) ORDER BY path"
        ))
        .bind(ws.as_str())
        .bind(include_archived)
        .fetch_all(&self.read)
        .await?;
        convert(rows)
    }

    async fn flow_history(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Vec<Flow>> {
        let rows: Vec<FlowRow> = sqlx::query_as(&format!(
            "SELECT {FLOW_COLUMNS} FROM flows WHERE workspace = ? AND path = ? ORDER BY version DESC"
        ))
        .bind(ws.as_str())
        .bind(path.as_str())
        .fetch_all(&self.read)
        .await?;
        convert(rows)
    }

    async fn archive_flow(&self, ws: &WorkspaceId, path: &RunnablePath, archived: bool) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let r = sqlx::query("UPDATE flows SET archived = ? WHERE workspace = ? AND path = ?")
            .bind(archived)
            .bind(ws.as_str())
            .bind(path.as_str())
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        super::emit(&mut tx, ws, crate::config::flow_archived(ws, path, archived)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn delete_flow(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool> {
        let mut tx = self.write.begin().await?;
        let r = sqlx::query("DELETE FROM flows WHERE workspace = ? AND path = ?")
            .bind(ws.as_str())
            .bind(path.as_str())
            .execute(&mut *tx)
            .await?;
        if r.rows_affected() == 0 {
            return Ok(false);
        }
        let ev = crate::config::event("DeleteFlow", ws, serde_json::json!({"path": path.as_str()}));
        super::emit(&mut tx, ws, ev).await?;
        tx.commit().await?;
        Ok(true)
    }
}
