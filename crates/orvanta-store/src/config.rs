//! [`crate::ConfigStore`] for both backends, written once over the SQL they
//! share (as [`crate::access`]): variables, resource types, resources, apps.

pub(crate) use crate::access::json_text;
use crate::{App, Resource, ResourceType, Result, StoreError, Variable};
use orvanta_core::{RunnablePath, Username, WorkspaceId};

const VARIABLE_COLUMNS: &str = "workspace, path, value, is_secret, description, created_by, created_at, updated_at";
pub(crate) const CREATE_VARIABLE: &str = "INSERT INTO variables \
     (workspace, path, value, is_secret, description, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
pub(crate) const UPDATE_VARIABLE: &str = "UPDATE variables SET path = ?, value = ?, is_secret = ?, description = ?, \
     updated_at = ? WHERE workspace = ? AND path = ?";
pub(crate) const DELETE_VARIABLE: &str = "DELETE FROM variables WHERE workspace = ? AND path = ?";

const RESOURCE_COLUMNS: &str = "workspace, path, resource_type, value, description, created_by, created_at, updated_at";
pub(crate) const CREATE_RESOURCE: &str = "INSERT INTO resources \
     (workspace, path, resource_type, value, description, created_by, created_at, updated_at) \
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
pub(crate) const UPDATE_RESOURCE: &str = "UPDATE resources SET path = ?, resource_type = ?, value = ?, \
     description = ?, updated_at = ? WHERE workspace = ? AND path = ?";
pub(crate) const DELETE_RESOURCE: &str = "DELETE FROM resources WHERE workspace = ? AND path = ?";

const TYPE_COLUMNS: &str = "workspace, name, schema, description, created_by, created_at";
pub(crate) const CREATE_TYPE: &str = "INSERT INTO resource_types \
     (workspace, name, schema, description, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?)";
pub(crate) const UPDATE_TYPE: &str =
    "UPDATE resource_types SET schema = ?, description = ? WHERE workspace = ? AND name = ?";
pub(crate) const DELETE_TYPE: &str = "DELETE FROM resource_types WHERE workspace = ? AND name = ?";

const APP_COLUMNS: &str = "workspace, path, version, summary, value, policy, created_by, created_at";
pub(crate) const INSERT_APP: &str = "INSERT INTO apps \
     (workspace, path, version, summary, value, policy, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)";
pub(crate) const NEWEST_APP_VERSION: &str = "SELECT MAX(version) FROM apps WHERE workspace = ? AND path = ?";
pub(crate) const DELETE_APP: &str = "DELETE FROM apps WHERE workspace = ? AND path = ?";

pub(crate) fn select(table: &str, filter: &str) -> String {
    let columns = match table {
        "variables" => VARIABLE_COLUMNS,
        "resources" => RESOURCE_COLUMNS,
        "resource_types" => TYPE_COLUMNS,
        _ => APP_COLUMNS,
    };
    format!("SELECT {columns} FROM {table} WHERE {filter}")
}

/// The newest version of every app of a workspace.
pub(crate) const LIST_APPS: &str = "workspace = ? AND version = \
     (SELECT MAX(version) FROM apps b WHERE b.workspace = apps.workspace AND b.path = apps.path) ORDER BY path";

fn parse_json(what: &str, text: &str) -> Result<serde_json::Value> {
    serde_json::from_str(text).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

#[derive(sqlx::FromRow)]
pub(crate) struct VariableRow {
    workspace: String,
    path: String,
    value: String,
    is_secret: bool,
    description: String,
    created_by: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<VariableRow> for Variable {
    type Error = StoreError;
    fn try_from(r: VariableRow) -> Result<Self> {
        Ok(Variable {
            workspace: WorkspaceId::parse(&r.workspace)?,
            path: RunnablePath::parse(&r.path)?,
            value: r.value,
            is_secret: r.is_secret,
            description: r.description,
            created_by: Username::parse(&r.created_by)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct ResourceRow {
    workspace: String,
    path: String,
    resource_type: String,
    value: String,
    description: String,
    created_by: String,
    created_at: i64,
    updated_at: i64,
}

impl TryFrom<ResourceRow> for Resource {
    type Error = StoreError;
    fn try_from(r: ResourceRow) -> Result<Self> {
        Ok(Resource {
            value: parse_json("resource value", &r.value)?,
            workspace: WorkspaceId::parse(&r.workspace)?,
            path: RunnablePath::parse(&r.path)?,
            resource_type: r.resource_type,
            description: r.description,
            created_by: Username::parse(&r.created_by)?,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct TypeRow {
    workspace: String,
    name: String,
    schema: String,
    description: String,
    created_by: String,
    created_at: i64,
}

impl TryFrom<TypeRow> for ResourceType {
    type Error = StoreError;
    fn try_from(r: TypeRow) -> Result<Self> {
        Ok(ResourceType {
            schema: parse_json("resource type schema", &r.schema)?,
            workspace: WorkspaceId::parse(&r.workspace)?,
            name: r.name,
            description: r.description,
            created_by: Username::parse(&r.created_by)?,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct AppRow {
    workspace: String,
    path: String,
    version: i64,
    summary: String,
    value: String,
    policy: String,
    created_by: String,
    created_at: i64,
}

impl TryFrom<AppRow> for App {
    type Error = StoreError;
    fn try_from(r: AppRow) -> Result<Self> {
        Ok(App {
            value: parse_json("app value", &r.value)?,
            policy: parse_json("app policy", &r.policy)?,
            workspace: WorkspaceId::parse(&r.workspace)?,
            path: RunnablePath::parse(&r.path)?,
            version: r.version,
            summary: r.summary,
            created_by: Username::parse(&r.created_by)?,
            created_at: r.created_at,
        })
    }
}

/// A workspace event (Windmill's webhook payload): its kind, and its JSON
/// text `{"type": kind, "workspace": ws, ...fields}`.
pub(crate) fn event(kind: &str, ws: &WorkspaceId, fields: serde_json::Value) -> (String, String) {
    let mut payload = serde_json::json!({"type": kind, "workspace": ws.as_str()});
    if let (Some(p), serde_json::Value::Object(f)) = (payload.as_object_mut(), fields) {
        p.extend(f);
    }
    stamped(payload, kind)
}

/// The event's kind and its JSON text, with its `timestamp` (contract §9):
/// the time of the change, the same in every attempt and replay.
fn stamped(mut payload: serde_json::Value, kind: &str) -> (String, String) {
    payload["timestamp"] = serde_json::json!(orvanta_core::millis_to_rfc3339(orvanta_core::now_millis()));
    (kind.to_owned(), payload.to_string())
}

/// An instance event (contract §9) in Windmill's `InstanceEvent` shape,
/// `{"type": kind, ...fields}`: it goes to the instance events webhook.
pub(crate) fn instance_event(kind: &str, fields: serde_json::Value) -> (String, String) {
    let mut payload = serde_json::json!({"type": kind});
    if let (Some(p), serde_json::Value::Object(f)) = (payload.as_object_mut(), fields) {
        p.extend(f);
    }
    stamped(payload, kind)
}

/// `UserAdded`, when a user is created.
pub(crate) fn user_added(u: &crate::NewUser) -> (String, String) {
    instance_event("UserAdded", serde_json::json!({"email": u.email, "username": u.username.as_str()}))
}

/// `UserAddedWorkspace`, when `username` became a member of `ws`.
pub(crate) fn member_added(
    ws: &WorkspaceId,
    username: &orvanta_core::Username,
    email: &str,
    role: crate::Role,
) -> (String, String) {
    instance_event(
        "UserAddedWorkspace",
        serde_json::json!({"workspace": ws.as_str(), "email": email, "username": username.as_str(), "role": role.as_str()}),
    )
}

/// The event of a saved script version: `CreateScript` for a new path, else `UpdateScript`.
pub(crate) fn script_saved(s: &orvanta_core::NewScript, first: bool) -> (String, String) {
    let kind = if first { "CreateScript" } else { "UpdateScript" };
    event(kind, &s.workspace, serde_json::json!({"path": s.path.as_str(), "hash": s.hash.to_string()}))
}

/// The event of a saved flow version: `CreateFlow`, or `UpdateFlow` from the path it had.
pub(crate) fn flow_saved(f: &orvanta_core::NewFlow, from: Option<&RunnablePath>) -> (String, String) {
    match from {
        None => event("CreateFlow", &f.workspace, serde_json::json!({"path": f.path.as_str()})),
        Some(old) => event("UpdateFlow", &f.workspace, moved(old.as_str(), f.path.as_str())),
    }
}

/// The event of an archived (or restored) flow.
pub(crate) fn flow_archived(ws: &WorkspaceId, path: &RunnablePath, archived: bool) -> (String, String) {
    if archived {
        event("ArchiveFlow", ws, serde_json::json!({"path": path.as_str()}))
    } else {
        event("UpdateFlow", ws, moved(path.as_str(), path.as_str()))
    }
}

/// The fields of an update event: the path before and after.
pub(crate) fn moved(old: &str, new: &str) -> serde_json::Value {
    serde_json::json!({"old_path": old, "new_path": new})
}

pub(crate) fn taken(kind: &str, path: &str) -> String {
    format!("a {kind} exists at '{path}' already; choose another path")
}

/// Implements [`crate::ConfigStore`] for `$store` over its pools `$read` and
/// `$write`, with `$sql` turning the `?` SQL above into the backend's.
/// Records a workspace event in the transaction `$tx` of the change it reports.
macro_rules! emit_event {
    ($sql:path, $tx:ident, $ws:expr, $ev:expr) => {{
        let (kind, payload) = $ev;
        sqlx::query(&$sql(crate::outbox::INSERT_EVENT))
            .bind($ws.as_str())
            .bind(kind)
            .bind(payload)
            .bind(orvanta_core::now_millis())
            .execute(&mut *$tx)
            .await?;
    }};
}

pub(crate) use emit_event;

macro_rules! config_store {
    ($store:ty, $read:ident, $write:ident, $sql:path) => {
        #[async_trait::async_trait]
        impl crate::ConfigStore for $store {
            async fn create_variable(&self, v: &crate::Variable) -> crate::Result<()> {
                use crate::config::*;
                let mut tx = self.$write.begin().await?;
                sqlx::query(&$sql(CREATE_VARIABLE))
                    .bind(v.workspace.as_str())
                    .bind(v.path.as_str())
                    .bind(&v.value)
                    .bind(v.is_secret)
                    .bind(&v.description)
                    .bind(v.created_by.as_str())
                    .bind(v.created_at)
                    .bind(v.updated_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| crate::access::conflict(e, taken("variable", v.path.as_str())))?;
                emit_event!($sql, tx, v.workspace, event("CreateVariable", &v.workspace, serde_json::json!({"path": v.path.as_str()})));
                tx.commit().await?;
                Ok(())
            }

            async fn update_variable(&self, old: &orvanta_core::RunnablePath, v: &crate::Variable) -> crate::Result<bool> {
                use crate::config::*;
                let mut tx = self.$write.begin().await?;
                let r = sqlx::query(&$sql(UPDATE_VARIABLE))
                    .bind(v.path.as_str())
                    .bind(&v.value)
                    .bind(v.is_secret)
                    .bind(&v.description)
                    .bind(v.updated_at)
                    .bind(v.workspace.as_str())
                    .bind(old.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| crate::access::conflict(e, taken("variable", v.path.as_str())))?;
                if r.rows_affected() == 0 {
                    return Ok(false);
                }
                emit_event!($sql, tx, v.workspace, event("UpdateVariable", &v.workspace, moved(old.as_str(), v.path.as_str())));
                tx.commit().await?;
                Ok(true)
            }

            async fn get_variable(&self, ws: &orvanta_core::WorkspaceId, path: &orvanta_core::RunnablePath) -> crate::Result<Option<crate::Variable>> {
                use crate::config::*;
                let sql = $sql(&select("variables", "workspace = ? AND path = ?"));
                let row: Option<VariableRow> =
                    sqlx::query_as(&sql).bind(ws.as_str()).bind(path.as_str()).fetch_optional(&self.$read).await?;
                row.map(crate::Variable::try_from).transpose()
            }

            async fn list_variables(&self, ws: &orvanta_core::WorkspaceId) -> crate::Result<Vec<crate::Variable>> {
                use crate::config::*;
                let sql = $sql(&select("variables", "workspace = ? ORDER BY path"));
                let rows: Vec<VariableRow> = sqlx::query_as(&sql).bind(ws.as_str()).fetch_all(&self.$read).await?;
                crate::rows::convert(rows)
            }

            async fn delete_variable(&self, ws: &orvanta_core::WorkspaceId, path: &orvanta_core::RunnablePath) -> crate::Result<bool> {
                use crate::config::*;
                let mut tx = self.$write.begin().await?;
                let r = sqlx::query(&$sql(DELETE_VARIABLE)).bind(ws.as_str()).bind(path.as_str()).execute(&mut *tx).await?;
                if r.rows_affected() == 0 {
                    return Ok(false);
                }
                emit_event!($sql, tx, ws, event("DeleteVariable", ws, serde_json::json!({"path": path.as_str()})));
                tx.commit().await?;
                Ok(true)
            }

            async fn create_resource_type(&self, t: &crate::ResourceType) -> crate::Result<()> {
                use crate::config::*;
                let mut tx = self.$write.begin().await?;
                sqlx::query(&$sql(CREATE_TYPE))
                    .bind(t.workspace.as_str())
                    .bind(&t.name)
                    .bind(json_text(&t.schema))
                    .bind(&t.description)
                    .bind(t.created_by.as_str())
                    .bind(t.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| crate::access::conflict(e, format!("the resource type '{}' exists already", t.name)))?;
                emit_event!($sql, tx, t.workspace, event("CreateResourceType", &t.workspace, serde_json::json!({"name": t.name})));
                tx.commit().await?;
                Ok(())
            }

            async fn update_resource_type(&self, t: &crate::ResourceType) -> crate::Result<bool> {
                use crate::config::*;
                let mut tx = self.$write.begin().await?;
                let r = sqlx::query(&$sql(UPDATE_TYPE))
                    .bind(json_text(&t.schema))
                    .bind(&t.description)
                    .bind(t.workspace.as_str())
                    .bind(&t.name)
                    .execute(&mut *tx)
                    .await?;
                if r.rows_affected() == 0 {
                    return Ok(false);
                }
                emit_event!($sql, tx, t.workspace, event("UpdateResourceType", &t.workspace, serde_json::json!({"name": t.name})));
                tx.commit().await?;
                Ok(true)
            }

            async fn get_resource_type(&self, ws: &orvanta_core::WorkspaceId, name: &str) -> crate::Result<Option<crate::ResourceType>> {
                use crate::config::*;
                let sql = $sql(&select("resource_types", "workspace = ? AND name = ?"));
                let row: Option<TypeRow> =
                    sqlx::query_as(&sql).bind(ws.as_str()).bind(name).fetch_optional(&self.$read).await?;
                row.map(crate::ResourceType::try_from).transpose()
            }

            async fn list_resource_types(&self, ws: &orvanta_core::WorkspaceId) -> crate::Result<Vec<crate::ResourceType>> {
                use crate::config::*;
                let sql = $sql(&select("resource_types", "workspace = ? ORDER BY name"));
                let rows: Vec<TypeRow> = sqlx::query_as(&sql).bind(ws.as_str()).fetch_all(&self.$read).await?;
                crate::rows::convert(rows)
            }

            async fn delete_resource_type(&self, ws: &orvanta_core::WorkspaceId, name: &str) -> crate::Result<bool> {
                use crate::config::*;
                let mut tx = self.$write.begin().await?;
                let r = sqlx::query(&$sql(DELETE_TYPE)).bind(ws.as_str()).bind(name).execute(&mut *tx).await?;
                if r.rows_affected() == 0 {
                    return Ok(false);
                }
                emit_event!($sql, tx, ws, event("DeleteResourceType", ws, serde_json::json!({"name": name})));
                tx.commit().await?;
                Ok(true)
            }

            async fn create_resource(&self, r: &crate::Resource) -> crate::Result<()> {
                use crate::config::*;
                let mut tx = self.$write.begin().await?;
                sqlx::query(&$sql(CREATE_RESOURCE))
                    .bind(r.workspace.as_str())
                    .bind(r.path.as_str())
                    .bind(&r.resource_type)
                    .bind(json_text(&r.value))
                    .bind(&r.description)
                    .bind(r.created_by.as_str())
                    .bind(r.created_at)
                    .bind(r.updated_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| crate::access::conflict(e, taken("resource", r.path.as_str())))?;
                emit_event!($sql, tx, r.workspace, event("CreateResource", &r.workspace, serde_json::json!({"path": r.path.as_str()})));
                tx.commit().await?;
                Ok(())
            }

            async fn update_resource(&self, old: &orvanta_core::RunnablePath, r: &crate::Resource) -> crate::Result<bool> {
                use crate::config::*;
                let mut tx = self.$write.begin().await?;
                let done = sqlx::query(&$sql(UPDATE_RESOURCE))
                    .bind(r.path.as_str())
                    .bind(&r.resource_type)
                    .bind(json_text(&r.value))
                    .bind(&r.description)
                    .bind(r.updated_at)
                    .bind(r.workspace.as_str())
                    .bind(old.as_str())
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| crate::access::conflict(e, taken("resource", r.path.as_str())))?;
                if done.rows_affected() == 0 {
                    return Ok(false);
                }
                emit_event!($sql, tx, r.workspace, event("UpdateResource", &r.workspace, moved(old.as_str(), r.path.as_str())));
                tx.commit().await?;
                Ok(true)
            }

            async fn get_resource(&self, ws: &orvanta_core::WorkspaceId, path: &orvanta_core::RunnablePath) -> crate::Result<Option<crate::Resource>> {
                use crate::config::*;
                let sql = $sql(&select("resources", "workspace = ? AND path = ?"));
                let row: Option<ResourceRow> =
                    sqlx::query_as(&sql).bind(ws.as_str()).bind(path.as_str()).fetch_optional(&self.$read).await?;
                row.map(crate::Resource::try_from).transpose()
            }

            async fn list_resources(&self, ws: &orvanta_core::WorkspaceId) -> crate::Result<Vec<crate::Resource>> {
                use crate::config::*;
                let sql = $sql(&select("resources", "workspace = ? ORDER BY path"));
                let rows: Vec<ResourceRow> = sqlx::query_as(&sql).bind(ws.as_str()).fetch_all(&self.$read).await?;
                crate::rows::convert(rows)
            }

            async fn delete_resource(&self, ws: &orvanta_core::WorkspaceId, path: &orvanta_core::RunnablePath) -> crate::Result<bool> {
                use crate::config::*;
                let mut tx = self.$write.begin().await?;
                let r = sqlx::query(&$sql(DELETE_RESOURCE)).bind(ws.as_str()).bind(path.as_str()).execute(&mut *tx).await?;
                if r.rows_affected() == 0 {
                    return Ok(false);
                }
                emit_event!($sql, tx, ws, event("DeleteResource", ws, serde_json::json!({"path": path.as_str()})));
                tx.commit().await?;
                Ok(true)
            }

            async fn save_app(&self, app: &crate::App, create: bool) -> crate::Result<Option<i64>> {
                use crate::config::*;
                let mut tx = self.$write.begin().await?;
                let newest: Option<i64> = sqlx::query_scalar(&$sql(NEWEST_APP_VERSION))
                    .bind(app.workspace.as_str())
                    .bind(app.path.as_str())
                    .fetch_one(&mut *tx)
                    .await?;
                let version = match (newest, create) {
                    (Some(_), true) => return Err(crate::StoreError::Conflict(taken("app", app.path.as_str()))),
                    (None, false) => return Ok(None),
                    (None, true) => 1,
                    (Some(n), false) => n + 1,
                };
                sqlx::query(&$sql(INSERT_APP))
                    .bind(app.workspace.as_str())
                    .bind(app.path.as_str())
                    .bind(version)
                    .bind(&app.summary)
                    .bind(json_text(&app.value))
                    .bind(json_text(&app.policy))
                    .bind(app.created_by.as_str())
                    .bind(app.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| {
                        crate::access::conflict(e, format!("the app at '{}' was saved by someone else at the same time; save again", app.path))
                    })?;
                let fields = if create {
                    serde_json::json!({"path": app.path.as_str()})
                } else {
                    moved(app.path.as_str(), app.path.as_str())
                };
                emit_event!($sql, tx, app.workspace, event(if create { "CreateApp" } else { "UpdateApp" }, &app.workspace, fields));
                tx.commit().await?;
                Ok(Some(version))
            }

            async fn get_app(
                &self,
                ws: &orvanta_core::WorkspaceId,
                path: &orvanta_core::RunnablePath,
                version: Option<i64>,
            ) -> crate::Result<Option<crate::App>> {
                use crate::config::*;
                let sql = $sql(&select(
                    "apps",
                    "workspace = ? AND path = ? AND (CAST(? AS BIGINT) IS NULL OR version = ?) ORDER BY version DESC LIMIT 1",
                ));
                let row: Option<AppRow> = sqlx::query_as(&sql)
                    .bind(ws.as_str())
                    .bind(path.as_str())
                    .bind(version)
                    .bind(version)
                    .fetch_optional(&self.$read)
                    .await?;
                row.map(crate::App::try_from).transpose()
            }

            async fn list_apps(&self, ws: &orvanta_core::WorkspaceId) -> crate::Result<Vec<crate::App>> {
                use crate::config::*;
                let sql = $sql(&select("apps", LIST_APPS));
                let rows: Vec<AppRow> = sqlx::query_as(&sql).bind(ws.as_str()).fetch_all(&self.$read).await?;
                crate::rows::convert(rows)
            }

            async fn app_history(&self, ws: &orvanta_core::WorkspaceId, path: &orvanta_core::RunnablePath) -> crate::Result<Vec<crate::App>> {
                use crate::config::*;
                let sql = $sql(&select("apps", "workspace = ? AND path = ? ORDER BY version DESC"));
                let rows: Vec<AppRow> =
                    sqlx::query_as(&sql).bind(ws.as_str()).bind(path.as_str()).fetch_all(&self.$read).await?;
                crate::rows::convert(rows)
            }

            async fn delete_app(&self, ws: &orvanta_core::WorkspaceId, path: &orvanta_core::RunnablePath) -> crate::Result<bool> {
                use crate::config::*;
                let mut tx = self.$write.begin().await?;
                let r = sqlx::query(&$sql(DELETE_APP)).bind(ws.as_str()).bind(path.as_str()).execute(&mut *tx).await?;
                if r.rows_affected() == 0 {
                    return Ok(false);
                }
                emit_event!($sql, tx, ws, event("DeleteApp", ws, serde_json::json!({"path": path.as_str()})));
                tx.commit().await?;
                Ok(true)
            }
        }
    };
}

pub(crate) use config_store;
