//! [`crate::TriggerStore`] for both backends, written once (as
//! [`crate::access`]): custom HTTP routes (`http_triggers`). The store keeps
//! a route's settings as the server's JSON, beside the columns it needs
//! itself: the workspace and path (the route's name), and the method and
//! route key that no two routes may share.

use crate::{Result, StoreError};
use orvanta_core::{Millis, RunnablePath, Username, WorkspaceId};

/// A custom HTTP route as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpTriggerRecord {
    pub workspace: WorkspaceId,
    pub path: RunnablePath,
    /// Lower-case: `get`, `post`, `put`, `delete`, `patch`.
    pub method: String,
    /// The route with its parameters' names erased (`users/:/orders`), and
    /// the workspace in front when the route is under it: two routes with
    /// one method and one key would answer the same requests.
    pub route_key: String,
    /// Everything else, as the server's JSON.
    pub settings: serde_json::Value,
    pub edited_by: Username,
    pub edited_at: Millis,
}

pub(crate) const COLUMNS: &str = "workspace, path, method, route_key, settings, edited_by, edited_at";
pub(crate) const INSERT: &str = "INSERT INTO http_triggers \
     (workspace, path, method, route_key, settings, edited_by, edited_at) VALUES (?, ?, ?, ?, ?, ?, ?)";
pub(crate) const UPDATE: &str = "UPDATE http_triggers SET path = ?, method = ?, route_key = ?, settings = ?, \
     edited_by = ?, edited_at = ? WHERE workspace = ? AND path = ?";
pub(crate) const DELETE: &str = "DELETE FROM http_triggers WHERE workspace = ? AND path = ?";

pub(crate) fn select(filter: &str) -> String {
    format!("SELECT {COLUMNS} FROM http_triggers WHERE {filter} ORDER BY workspace, path")
}

#[derive(sqlx::FromRow)]
pub(crate) struct TriggerRow {
    workspace: String,
    path: String,
    method: String,
    route_key: String,
    settings: String,
    edited_by: String,
    edited_at: i64,
}

impl TryFrom<TriggerRow> for HttpTriggerRecord {
    type Error = StoreError;
    fn try_from(r: TriggerRow) -> Result<Self> {
        Ok(HttpTriggerRecord {
            workspace: WorkspaceId::parse(&r.workspace)?,
            path: RunnablePath::parse(&r.path)?,
            method: r.method,
            route_key: r.route_key,
            settings: serde_json::from_str(&r.settings)
                .map_err(|e| StoreError::Corrupt(format!("http trigger {}: settings are not JSON: {e}", r.path)))?,
            edited_by: Username::parse(&r.edited_by)?,
            edited_at: r.edited_at,
        })
    }
}

/// The conflict of a save: the path is taken, or the route is.
pub(crate) fn taken(e: sqlx::Error, t: &HttpTriggerRecord) -> StoreError {
    crate::access::conflict(
        e,
        format!(
            "an HTTP route '{}' exists already in '{}', or another route answers {} {} already",
            t.path,
            t.workspace,
            t.method.to_uppercase(),
            t.route_key
        ),
    )
}

/// Implements [`crate::TriggerStore`] for `$store` (pools `$read`, `$write`),
/// with `$sql` turning the `?` SQL into the backend's.
macro_rules! trigger_store {
    ($store:ty, $read:ident, $write:ident, $sql:path) => {
        #[async_trait::async_trait]
        impl crate::TriggerStore for $store {
            async fn create_http_trigger(&self, t: &crate::HttpTriggerRecord) -> crate::Result<()> {
                use crate::triggers::*;
                sqlx::query(&$sql(INSERT))
                    .bind(t.workspace.as_str())
                    .bind(t.path.as_str())
                    .bind(&t.method)
                    .bind(&t.route_key)
                    .bind(t.settings.to_string())
                    .bind(t.edited_by.as_str())
                    .bind(t.edited_at)
                    .execute(&self.$write)
                    .await
                    .map_err(|e| taken(e, t))?;
                Ok(())
            }

            async fn update_http_trigger(
                &self,
                old: &orvanta_core::RunnablePath,
                t: &crate::HttpTriggerRecord,
            ) -> crate::Result<bool> {
                use crate::triggers::*;
                let r = sqlx::query(&$sql(UPDATE))
                    .bind(t.path.as_str())
                    .bind(&t.method)
                    .bind(&t.route_key)
                    .bind(t.settings.to_string())
                    .bind(t.edited_by.as_str())
                    .bind(t.edited_at)
                    .bind(t.workspace.as_str())
                    .bind(old.as_str())
                    .execute(&self.$write)
                    .await
                    .map_err(|e| taken(e, t))?;
                Ok(r.rows_affected() > 0)
            }

            async fn get_http_trigger(
                &self,
                ws: &orvanta_core::WorkspaceId,
                path: &orvanta_core::RunnablePath,
            ) -> crate::Result<Option<crate::HttpTriggerRecord>> {
                use crate::triggers::*;
                let row: Option<TriggerRow> = sqlx::query_as(&$sql(&select("workspace = ? AND path = ?")))
                    .bind(ws.as_str())
                    .bind(path.as_str())
                    .fetch_optional(&self.$read)
                    .await?;
                row.map(crate::HttpTriggerRecord::try_from).transpose()
            }

            async fn list_http_triggers(
                &self,
                ws: Option<&orvanta_core::WorkspaceId>,
            ) -> crate::Result<Vec<crate::HttpTriggerRecord>> {
                use crate::triggers::*;
                let ws = ws.map(|w| w.as_str());
                let rows: Vec<TriggerRow> =
                    sqlx::query_as(&$sql(&select("(CAST(? AS TEXT) IS NULL OR workspace = ?)")))
                        .bind(ws)
                        .bind(ws)
                        .fetch_all(&self.$read)
                        .await?;
                crate::rows::convert(rows)
            }

            async fn delete_http_trigger(
                &self,
                ws: &orvanta_core::WorkspaceId,
                path: &orvanta_core::RunnablePath,
            ) -> crate::Result<bool> {
                use crate::triggers::*;
                let r = sqlx::query(&$sql(DELETE)).bind(ws.as_str()).bind(path.as_str()).execute(&self.$write).await?;
                Ok(r.rows_affected() > 0)
            }
        }
    };
}

pub(crate) use trigger_store;
