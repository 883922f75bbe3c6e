//! Flow versions on PostgreSQL. Version numbers come from the `flows`
//! table's `BIGSERIAL` key: increasing and never reused, across the instance
//! (a number taken by a transaction that rolled back is skipped, not reused).

use super::unique_violation;
use crate::rows::{convert, FlowRow, FLOW_COLUMNS};
use crate::shared::flow_rename_conflict;
use crate::{Result, StoreError};
use orvanta_core::{Flow, FlowVersion, NewFlow, RunnablePath, WorkspaceId};

#[async_trait::async_trait]
impl crate::FlowStore for super::PgStore {
    async fn insert_flow(&self, f: &NewFlow, rename_from: Option<&RunnablePath>) -> Result<FlowVersion> {
        let mut tx = self.pool.begin().await?;
        if let Some(old) = rename_from.filter(|old| *old != &f.path) {
            // Both paths locked, in a fixed order, so that two renames cannot cross.
            let (a, b) = if old.as_str() < f.path.as_str() { (old, &f.path) } else { (&f.path, old) };
            for p in [a, b] {
                sqlx::query("SELECT pg_advisory_xact_lock(hashtext($1 || '/' || $2))")
                    .bind(f.workspace.as_str())
                    .bind(p.as_str())
                    .execute(&mut *tx)
                    .await?;
            }
            let taken: Option<i32> =
                sqlx::query_scalar("SELECT 1 FROM flows WHERE workspace = $1 AND path = $2 LIMIT 1")
                    .bind(f.workspace.as_str())
                    .bind(f.path.as_str())
                    .fetch_optional(&mut *tx)
                    .await?;
            if taken.is_some() {
                return Err(flow_rename_conflict(old, &f.path));
            }
            sqlx::query("UPDATE flows SET path = $1 WHERE workspace = $2 AND path = $3")
                .bind(f.path.as_str())
                .bind(f.workspace.as_str())
                .bind(old.as_str())
                .execute(&mut *tx)
                .await?;
        }
        let version: i64 = sqlx::query_scalar(
            "INSERT INTO flows (workspace, path, summary, description, value, schema, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING version",
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
        .map_err(|e| match unique_violation(&e) {
            Some(_) => {
                StoreError::Conflict(format!("the flow at {} could not be saved; reload it and save again", f.path))
            }
            None => e.into(),
        })?;
        super::emit(&mut tx, &f.workspace, crate::config::flow_saved(f, rename_from)).await?;
        tx.commit().await?;
        Ok(FlowVersion::from_i64(version))
    }

    async fn latest_flow(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Option<Flow>> {
        let row: Option<FlowRow> = sqlx::query_as(&format!(
            "SELECT {FLOW_COLUMNS} FROM flows WHERE workspace = $1 AND path = $2 ORDER BY version DESC LIMIT 1"
        ))
        .bind(ws.as_str())
        .bind(path.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(Flow::try_from).transpose()
    }

    async fn flow_by_version(&self, ws: &WorkspaceId, version: FlowVersion) -> Result<Option<Flow>> {
        let row: Option<FlowRow> =
            sqlx::query_as(&format!("SELECT {FLOW_COLUMNS} FROM flows WHERE workspace = $1 AND version = $2"))
                .bind(ws.as_str())
                .bind(version.get())
                .fetch_optional(&self.pool)
                .await?;
        row.map(Flow::try_from).transpose()
    }

    async fn list_flows(&self, ws: &WorkspaceId, include_archived: bool) -> Result<Vec<Flow>> {
        let rows: Vec<FlowRow> = sqlx::query_as(&format!(
            "SELECT DISTINCT ON (path) {FLOW_COLUMNS} FROM flows WHERE workspace = $1 ORDER BY path, version DESC"
        ))
        .bind(ws.as_str())
        .fetch_all(&self.pool)
        .await?;
        let flows: Vec<Flow> = convert(rows)?;
        Ok(flows.into_iter().filter(|f| include_archived || !f.archived).collect())
    }

    async fn flow_history(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Vec<Flow>> {
        let rows: Vec<FlowRow> = sqlx::query_as(&format!(
            "SELECT {FLOW_COLUMNS} FROM flows WHERE workspace = $1 AND path = $2 ORDER BY version DESC"
        ))
        .bind(ws.as_str())
        .bind(path.as_str())
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    async fn archive_flow(&self, ws: &WorkspaceId, path: &RunnablePath, archived: bool) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query("UPDATE flows SET archived = $1 WHERE workspace = $2 AND path = $3")
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
        let mut tx = self.pool.begin().await?;
        let r = sqlx::query("DELETE FROM flows WHERE workspace = $1 AND path = $2")
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
