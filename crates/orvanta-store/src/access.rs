//! [`crate::AccessStore`] for both backends, written once.
//!
//! The SQL below is common to SQLite and PostgreSQL but for its placeholders:
//! it is written with `?`, which [`numbered`] turns into `$1, $2, …` for
//! PostgreSQL. The [`access_store!`] macro then implements the trait over
//! a backend's read and write pools, so the two cannot drift apart.

use crate::{Folder, Group, Member, Result, Role, StoreError, Workspace};
use orvanta_core::{Username, WorkspaceId};
use std::collections::BTreeMap;

/// `?` placeholders as PostgreSQL's `$n`.
pub(crate) fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// SQLite takes `?` as written.
pub(crate) fn as_is(sql: &str) -> String {
    sql.to_owned()
}

pub(crate) const USER_BY_EMAIL: &str =
    "SELECT username, email, name, password_hash, super_admin, created_at FROM users WHERE lower(email) = lower(?)";
pub(crate) const LIST_USERS: &str =
    "SELECT username, email, name, password_hash, super_admin, created_at FROM users ORDER BY username";
pub(crate) const UPDATE_USER: &str = "UPDATE users SET name = COALESCE(?, name), \
     password_hash = COALESCE(?, password_hash), super_admin = COALESCE(?, super_admin) WHERE username = ?";
pub(crate) const DELETE_USER: &str = "DELETE FROM users WHERE username = ?";
pub(crate) const DELETE_USER_ROWS: [&str; 3] = [
    "DELETE FROM group_members WHERE username = ?",
    "DELETE FROM members WHERE username = ?",
    "DELETE FROM tokens WHERE owner = ?",
];
pub(crate) const RENAME_WORKSPACE: &str = "UPDATE workspaces SET name = ? WHERE id = ?";
pub(crate) const LIST_MEMBERS: &str = "SELECT u.username, u.email, u.name, m.role, u.super_admin, u.created_at \
     FROM members m JOIN users u ON u.username = m.username WHERE m.workspace = ? ORDER BY u.username";
pub(crate) const REMOVE_MEMBER: &str = "DELETE FROM members WHERE workspace = ? AND username = ?";
pub(crate) const REMOVE_MEMBER_GROUPS: &str = "DELETE FROM group_members WHERE workspace = ? AND username = ?";
pub(crate) const USER_WORKSPACES: &str = "SELECT w.id, w.name, w.created_by, w.created_at, m.role \
     FROM members m JOIN workspaces w ON w.id = m.workspace WHERE m.username = ? ORDER BY w.id";

pub(crate) const CREATE_GROUP: &str =
    "INSERT INTO user_groups (workspace, name, summary, created_by, created_at) VALUES (?, ?, ?, ?, ?)";
pub(crate) const GET_GROUP: &str =
    "SELECT workspace, name, summary, created_by, created_at FROM user_groups WHERE workspace = ? AND name = ?";
pub(crate) const LIST_GROUPS: &str =
    "SELECT workspace, name, summary, created_by, created_at FROM user_groups WHERE workspace = ? ORDER BY name";
pub(crate) const GROUP_MEMBERS: &str =
    "SELECT group_name, username FROM group_members WHERE workspace = ? ORDER BY group_name, username";
pub(crate) const UPDATE_GROUP: &str = "UPDATE user_groups SET summary = ? WHERE workspace = ? AND name = ?";
pub(crate) const DELETE_GROUP: &str = "DELETE FROM user_groups WHERE workspace = ? AND name = ?";
pub(crate) const DELETE_GROUP_MEMBERS: &str = "DELETE FROM group_members WHERE workspace = ? AND group_name = ?";
pub(crate) const ADD_GROUP_MEMBER: &str = "INSERT INTO group_members (workspace, group_name, username) \
     SELECT workspace, name, ? FROM user_groups WHERE workspace = ? AND name = ? \
     ON CONFLICT (workspace, group_name, username) DO NOTHING";
pub(crate) const REMOVE_GROUP_MEMBER: &str =
    "DELETE FROM group_members WHERE workspace = ? AND group_name = ? AND username = ?";
pub(crate) const GROUPS_OF: &str =
    "SELECT group_name FROM group_members WHERE workspace = ? AND username = ? ORDER BY group_name";

pub(crate) const CREATE_FOLDER: &str = "INSERT INTO folders \
     (workspace, name, summary, owners, extra_perms, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)";
pub(crate) const GET_FOLDER: &str = "SELECT workspace, name, summary, owners, extra_perms, created_by, created_at \
     FROM folders WHERE workspace = ? AND name = ?";
pub(crate) const LIST_FOLDERS: &str = "SELECT workspace, name, summary, owners, extra_perms, created_by, \
     created_at FROM folders WHERE workspace = ? ORDER BY name";
pub(crate) const UPDATE_FOLDER: &str =
    "UPDATE folders SET summary = ?, owners = ?, extra_perms = ? WHERE workspace = ? AND name = ?";
pub(crate) const DELETE_FOLDER: &str = "DELETE FROM folders WHERE workspace = ? AND name = ?";

pub(crate) const PUT_INVITE: &str = "INSERT INTO workspace_invites (workspace, email, role, invited_by, created_at) \
     VALUES (?, ?, ?, ?, ?) ON CONFLICT (workspace, email) DO UPDATE SET role = excluded.role, \
     invited_by = excluded.invited_by, created_at = excluded.created_at";
pub(crate) const LIST_INVITES: &str = "SELECT workspace, email, role, invited_by, created_at FROM workspace_invites \
     WHERE (CAST(? AS TEXT) IS NULL OR workspace = ?) AND (CAST(? AS TEXT) IS NULL OR email = ?) \
     ORDER BY workspace, email";
pub(crate) const DELETE_INVITE: &str = "DELETE FROM workspace_invites WHERE workspace = ? AND email = ?";
pub(crate) const TAKE_INVITE: &str = "DELETE FROM workspace_invites WHERE workspace = ? AND email = ? RETURNING role";
/// The email of a user who is not yet a member of a workspace (user, workspace, user).
pub(crate) const NEW_MEMBER_EMAIL: &str = "SELECT email FROM users WHERE username = ? \
     AND NOT EXISTS (SELECT 1 FROM members WHERE workspace = ? AND username = ?)";
pub(crate) const ADD_MEMBER: &str = "INSERT INTO members (workspace, username, role) VALUES (?, ?, ?) \
     ON CONFLICT (workspace, username) DO UPDATE SET role = excluded.role";

#[derive(sqlx::FromRow)]
pub(crate) struct InviteRow {
    workspace: String,
    email: String,
    role: String,
    invited_by: String,
    created_at: i64,
}

impl TryFrom<InviteRow> for crate::Invite {
    type Error = StoreError;
    fn try_from(r: InviteRow) -> Result<Self> {
        Ok(crate::Invite {
            workspace: WorkspaceId::parse(&r.workspace)?,
            email: r.email,
            role: crate::rows::parse_role(&r.role)?,
            invited_by: Username::parse(&r.invited_by)?,
            created_at: r.created_at,
        })
    }
}

pub(crate) const ITEM_PERMS: &str = "SELECT perms FROM item_perms WHERE workspace = ? AND kind = ? AND path = ?";
pub(crate) const SET_ITEM_PERMS: &str = "INSERT INTO item_perms (workspace, kind, path, perms) VALUES (?, ?, ?, ?) \
     ON CONFLICT (workspace, kind, path) DO UPDATE SET perms = excluded.perms";
pub(crate) const DELETE_ITEM_PERMS: &str = "DELETE FROM item_perms WHERE workspace = ? AND kind = ? AND path = ?";

#[derive(sqlx::FromRow)]
pub(crate) struct MemberRow {
    username: String,
    email: String,
    name: Option<String>,
    role: String,
    super_admin: bool,
    created_at: i64,
}

impl TryFrom<MemberRow> for Member {
    type Error = StoreError;
    fn try_from(r: MemberRow) -> Result<Self> {
        Ok(Member {
            username: Username::parse(&r.username)?,
            email: r.email,
            name: r.name,
            role: crate::rows::parse_role(&r.role)?,
            super_admin: r.super_admin,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct UserWorkspaceRow {
    id: String,
    name: String,
    created_by: String,
    created_at: i64,
    role: String,
}

impl TryFrom<UserWorkspaceRow> for (Workspace, Role) {
    type Error = StoreError;
    fn try_from(r: UserWorkspaceRow) -> Result<Self> {
        let ws = Workspace {
            id: WorkspaceId::parse(&r.id)?,
            name: r.name,
            created_by: Username::parse(&r.created_by)?,
            created_at: r.created_at,
        };
        Ok((ws, crate::rows::parse_role(&r.role)?))
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct GroupRow {
    workspace: String,
    name: String,
    summary: String,
    created_by: String,
    created_at: i64,
}

impl GroupRow {
    pub(crate) fn into_group(self, members: Vec<Username>) -> Result<Group> {
        Ok(Group {
            workspace: WorkspaceId::parse(&self.workspace)?,
            name: self.name,
            summary: self.summary,
            members,
            created_by: Username::parse(&self.created_by)?,
            created_at: self.created_at,
        })
    }
}

/// Groups with their members, from the group rows and the `(group, user)` pairs of [`GROUP_MEMBERS`].
pub(crate) fn groups_with_members(rows: Vec<GroupRow>, pairs: Vec<(String, String)>) -> Result<Vec<Group>> {
    let mut by_group: BTreeMap<String, Vec<Username>> = BTreeMap::new();
    for (group, user) in pairs {
        by_group.entry(group).or_default().push(Username::parse(&user)?);
    }
    rows.into_iter()
        .map(|r| {
            let members = by_group.remove(&r.name).unwrap_or_default();
            r.into_group(members)
        })
        .collect()
}

#[derive(sqlx::FromRow)]
pub(crate) struct FolderRow {
    workspace: String,
    name: String,
    summary: String,
    owners: String,
    extra_perms: String,
    created_by: String,
    created_at: i64,
}

impl TryFrom<FolderRow> for Folder {
    type Error = StoreError;
    fn try_from(r: FolderRow) -> Result<Self> {
        let corrupt = |e: serde_json::Error| StoreError::Corrupt(format!("folder '{}': {e}", r.name));
        Ok(Folder {
            workspace: WorkspaceId::parse(&r.workspace)?,
            owners: serde_json::from_str(&r.owners).map_err(corrupt)?,
            extra_perms: serde_json::from_str(&r.extra_perms).map_err(corrupt)?,
            name: r.name,
            summary: r.summary,
            created_by: Username::parse(&r.created_by)?,
            created_at: r.created_at,
        })
    }
}

pub(crate) fn json_text<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub(crate) fn perms_from_text(text: Option<String>) -> Result<BTreeMap<String, bool>> {
    match text {
        None => Ok(BTreeMap::new()),
        Some(t) => serde_json::from_str(&t).map_err(|e| StoreError::Corrupt(format!("item perms: {e}"))),
    }
}

/// A unique violation as a `Conflict` with `message`; anything else as is.
pub(crate) fn conflict(e: sqlx::Error, message: String) -> StoreError {
    match StoreError::from(e) {
        StoreError::Conflict(_) => StoreError::Conflict(message),
        other => other,
    }
}

/// Implements [`crate::AccessStore`] for `$store`, whose pools are the fields
/// `$read` and `$write`, with `$sql` turning the `?` SQL above into the backend's.
macro_rules! access_store {
    ($store:ty, $read:ident, $write:ident, $sql:path) => {
        #[async_trait::async_trait]
        impl crate::AccessStore for $store {
            async fn user_by_email(&self, email: &str) -> crate::Result<Option<crate::User>> {
                use crate::access::*;
                let row: Option<crate::rows::UserRow> =
                    sqlx::query_as(&$sql(USER_BY_EMAIL)).bind(email).fetch_optional(&self.$read).await?;
                row.map(crate::User::try_from).transpose()
            }

            async fn list_users(&self) -> crate::Result<Vec<crate::User>> {
                use crate::access::*;
                let rows: Vec<crate::rows::UserRow> = sqlx::query_as(&$sql(LIST_USERS)).fetch_all(&self.$read).await?;
                crate::rows::convert(rows)
            }

            async fn update_user(&self, username: &Username, u: &crate::UserUpdate) -> crate::Result<bool> {
                use crate::access::*;
                let r = sqlx::query(&$sql(UPDATE_USER))
                    .bind(&u.name)
                    .bind(&u.password_hash)
                    .bind(u.super_admin)
                    .bind(username.as_str())
                    .execute(&self.$write)
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn delete_user(&self, username: &Username) -> crate::Result<bool> {
                use crate::access::*;
                let mut tx = self.$write.begin().await?;
                for sql in DELETE_USER_ROWS {
                    sqlx::query(&$sql(sql)).bind(username.as_str()).execute(&mut *tx).await?;
                }
                let r = sqlx::query(&$sql(DELETE_USER)).bind(username.as_str()).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(r.rows_affected() > 0)
            }

            async fn rename_workspace(&self, ws: &WorkspaceId, name: &str) -> crate::Result<bool> {
                use crate::access::*;
                let r = sqlx::query(&$sql(RENAME_WORKSPACE)).bind(name).bind(ws.as_str()).execute(&self.$write).await?;
                Ok(r.rows_affected() > 0)
            }

            async fn list_members(&self, ws: &WorkspaceId) -> crate::Result<Vec<crate::Member>> {
                use crate::access::*;
                let rows: Vec<MemberRow> =
                    sqlx::query_as(&$sql(LIST_MEMBERS)).bind(ws.as_str()).fetch_all(&self.$read).await?;
                crate::rows::convert(rows)
            }

            async fn remove_member(&self, ws: &WorkspaceId, username: &Username) -> crate::Result<bool> {
                use crate::access::*;
                let mut tx = self.$write.begin().await?;
                sqlx::query(&$sql(REMOVE_MEMBER_GROUPS))
                    .bind(ws.as_str())
                    .bind(username.as_str())
                    .execute(&mut *tx)
                    .await?;
                let r = sqlx::query(&$sql(REMOVE_MEMBER))
                    .bind(ws.as_str())
                    .bind(username.as_str())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(r.rows_affected() > 0)
            }

            async fn user_workspaces(
                &self,
                username: &Username,
            ) -> crate::Result<Vec<(crate::Workspace, crate::Role)>> {
                use crate::access::*;
                let rows: Vec<UserWorkspaceRow> =
                    sqlx::query_as(&$sql(USER_WORKSPACES)).bind(username.as_str()).fetch_all(&self.$read).await?;
                crate::rows::convert(rows)
            }

            async fn create_group(&self, g: &crate::Group) -> crate::Result<()> {
                use crate::access::*;
                sqlx::query(&$sql(CREATE_GROUP))
                    .bind(g.workspace.as_str())
                    .bind(&g.name)
                    .bind(&g.summary)
                    .bind(g.created_by.as_str())
                    .bind(g.created_at)
                    .execute(&self.$write)
                    .await
                    .map_err(|e| conflict(e, format!("the group '{}' exists already", g.name)))?;
                Ok(())
            }

            async fn get_group(&self, ws: &WorkspaceId, name: &str) -> crate::Result<Option<crate::Group>> {
                use crate::access::*;
                let row: Option<GroupRow> =
                    sqlx::query_as(&$sql(GET_GROUP)).bind(ws.as_str()).bind(name).fetch_optional(&self.$read).await?;
                let Some(row) = row else { return Ok(None) };
                let pairs: Vec<(String, String)> =
                    sqlx::query_as(&$sql(GROUP_MEMBERS)).bind(ws.as_str()).fetch_all(&self.$read).await?;
                Ok(groups_with_members(vec![row], pairs)?.pop())
            }

            async fn list_groups(&self, ws: &WorkspaceId) -> crate::Result<Vec<crate::Group>> {
                use crate::access::*;
                let rows: Vec<GroupRow> =
                    sqlx::query_as(&$sql(LIST_GROUPS)).bind(ws.as_str()).fetch_all(&self.$read).await?;
                let pairs: Vec<(String, String)> =
                    sqlx::query_as(&$sql(GROUP_MEMBERS)).bind(ws.as_str()).fetch_all(&self.$read).await?;
                groups_with_members(rows, pairs)
            }

            async fn update_group(&self, ws: &WorkspaceId, name: &str, summary: &str) -> crate::Result<bool> {
                use crate::access::*;
                let r = sqlx::query(&$sql(UPDATE_GROUP))
                    .bind(summary)
                    .bind(ws.as_str())
                    .bind(name)
                    .execute(&self.$write)
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn delete_group(&self, ws: &WorkspaceId, name: &str) -> crate::Result<bool> {
                use crate::access::*;
                let mut tx = self.$write.begin().await?;
                sqlx::query(&$sql(DELETE_GROUP_MEMBERS)).bind(ws.as_str()).bind(name).execute(&mut *tx).await?;
                let r = sqlx::query(&$sql(DELETE_GROUP)).bind(ws.as_str()).bind(name).execute(&mut *tx).await?;
                tx.commit().await?;
                Ok(r.rows_affected() > 0)
            }

            async fn set_group_member(
                &self,
                ws: &WorkspaceId,
                group: &str,
                username: &Username,
                member: bool,
            ) -> crate::Result<bool> {
                use crate::access::*;
                if member {
                    sqlx::query(&$sql(ADD_GROUP_MEMBER))
                        .bind(username.as_str())
                        .bind(ws.as_str())
                        .bind(group)
                        .execute(&self.$write)
                        .await
                        .map_err(|e| conflict(e, format!("the user '{username}' does not exist")))?;
                    // The insert is a no-op both for a missing group and an existing member.
                    let exists: Option<GroupRow> = sqlx::query_as(&$sql(GET_GROUP))
                        .bind(ws.as_str())
                        .bind(group)
                        .fetch_optional(&self.$write)
                        .await?;
                    Ok(exists.is_some())
                } else {
                    let r = sqlx::query(&$sql(REMOVE_GROUP_MEMBER))
                        .bind(ws.as_str())
                        .bind(group)
                        .bind(username.as_str())
                        .execute(&self.$write)
                        .await?;
                    Ok(r.rows_affected() > 0)
                }
            }

            async fn groups_of(&self, ws: &WorkspaceId, username: &Username) -> crate::Result<Vec<String>> {
                use crate::access::*;
                Ok(sqlx::query_scalar(&$sql(GROUPS_OF))
                    .bind(ws.as_str())
                    .bind(username.as_str())
                    .fetch_all(&self.$read)
                    .await?)
            }

            async fn create_folder(&self, f: &crate::Folder) -> crate::Result<()> {
                use crate::access::*;
                let mut tx = self.$write.begin().await?;
                sqlx::query(&$sql(CREATE_FOLDER))
                    .bind(f.workspace.as_str())
                    .bind(&f.name)
                    .bind(&f.summary)
                    .bind(json_text(&f.owners))
                    .bind(json_text(&f.extra_perms))
                    .bind(f.created_by.as_str())
                    .bind(f.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| conflict(e, format!("the folder '{}' exists already", f.name)))?;
                let ev = crate::config::event("CreateFolder", &f.workspace, serde_json::json!({"name": f.name}));
                crate::config::emit_event!($sql, tx, f.workspace, ev);
                tx.commit().await?;
                Ok(())
            }

            async fn get_folder(&self, ws: &WorkspaceId, name: &str) -> crate::Result<Option<crate::Folder>> {
                use crate::access::*;
                let row: Option<FolderRow> =
                    sqlx::query_as(&$sql(GET_FOLDER)).bind(ws.as_str()).bind(name).fetch_optional(&self.$read).await?;
                row.map(crate::Folder::try_from).transpose()
            }

            async fn list_folders(&self, ws: &WorkspaceId) -> crate::Result<Vec<crate::Folder>> {
                use crate::access::*;
                let rows: Vec<FolderRow> =
                    sqlx::query_as(&$sql(LIST_FOLDERS)).bind(ws.as_str()).fetch_all(&self.$read).await?;
                crate::rows::convert(rows)
            }

            async fn update_folder(&self, f: &crate::Folder) -> crate::Result<bool> {
                use crate::access::*;
                let mut tx = self.$write.begin().await?;
                let r = sqlx::query(&$sql(UPDATE_FOLDER))
                    .bind(&f.summary)
                    .bind(json_text(&f.owners))
                    .bind(json_text(&f.extra_perms))
                    .bind(f.workspace.as_str())
                    .bind(&f.name)
                    .execute(&mut *tx)
                    .await?;
                if r.rows_affected() == 0 {
                    return Ok(false);
                }
                let ev = crate::config::event("UpdateFolder", &f.workspace, serde_json::json!({"name": f.name}));
                crate::config::emit_event!($sql, tx, f.workspace, ev);
                tx.commit().await?;
                Ok(true)
            }

            async fn delete_folder(&self, ws: &WorkspaceId, name: &str) -> crate::Result<bool> {
                use crate::access::*;
                let mut tx = self.$write.begin().await?;
                let r = sqlx::query(&$sql(DELETE_FOLDER)).bind(ws.as_str()).bind(name).execute(&mut *tx).await?;
                if r.rows_affected() == 0 {
                    return Ok(false);
                }
                let ev = crate::config::event("DeleteFolder", ws, serde_json::json!({"name": name}));
                crate::config::emit_event!($sql, tx, ws, ev);
                tx.commit().await?;
                Ok(true)
            }

            async fn put_invite(&self, i: &crate::Invite) -> crate::Result<()> {
                use crate::access::*;
                let mut tx = self.$write.begin().await?;
                sqlx::query(&$sql(PUT_INVITE))
                    .bind(i.workspace.as_str())
                    .bind(&i.email)
                    .bind(i.role.as_str())
                    .bind(i.invited_by.as_str())
                    .bind(i.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| conflict(e, format!("the workspace '{}' does not exist", i.workspace)))?;
                let fields = serde_json::json!({
                    "workspace": i.workspace.as_str(), "email": i.email, "role": i.role.as_str(), "invited_by": i.invited_by.as_str()
                });
                let ev = crate::config::instance_event("UserInvitedWorkspace", fields);
                crate::config::emit_event!($sql, tx, WorkspaceId::instance_channel(), ev);
                tx.commit().await?;
                Ok(())
            }

            async fn list_invites(
                &self,
                ws: Option<&WorkspaceId>,
                email: Option<&str>,
            ) -> crate::Result<Vec<crate::Invite>> {
                use crate::access::*;
                let ws = ws.map(|w| w.as_str());
                let rows: Vec<InviteRow> = sqlx::query_as(&$sql(LIST_INVITES))
                    .bind(ws)
                    .bind(ws)
                    .bind(email)
                    .bind(email)
                    .fetch_all(&self.$read)
                    .await?;
                crate::rows::convert(rows)
            }

            async fn delete_invite(&self, ws: &WorkspaceId, email: &str) -> crate::Result<bool> {
                use crate::access::*;
                let r = sqlx::query(&$sql(DELETE_INVITE)).bind(ws.as_str()).bind(email).execute(&self.$write).await?;
                Ok(r.rows_affected() > 0)
            }

            async fn accept_invite(
                &self,
                ws: &WorkspaceId,
                email: &str,
                username: &Username,
            ) -> crate::Result<Option<crate::Role>> {
                use crate::access::*;
                let mut tx = self.$write.begin().await?;
                let role: Option<String> = sqlx::query_scalar(&$sql(TAKE_INVITE))
                    .bind(ws.as_str())
                    .bind(email)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(role) = role else { return Ok(None) };
                let role = crate::rows::parse_role(&role)?;
                sqlx::query(&$sql(ADD_MEMBER))
                    .bind(ws.as_str())
                    .bind(username.as_str())
                    .bind(role.as_str())
                    .execute(&mut *tx)
                    .await?;
                let fields = serde_json::json!({
                    "workspace": ws.as_str(), "email": email, "username": username.as_str(), "role": role.as_str()
                });
                let ev = crate::config::instance_event("UserJoinedWorkspace", fields);
                crate::config::emit_event!($sql, tx, WorkspaceId::instance_channel(), ev);
                tx.commit().await?;
                Ok(Some(role))
            }

            async fn item_perms(
                &self,
                ws: &WorkspaceId,
                kind: &str,
                path: &str,
            ) -> crate::Result<std::collections::BTreeMap<String, bool>> {
                use crate::access::*;
                let text: Option<String> = sqlx::query_scalar(&$sql(ITEM_PERMS))
                    .bind(ws.as_str())
                    .bind(kind)
                    .bind(path)
                    .fetch_optional(&self.$read)
                    .await?;
                perms_from_text(text)
            }

            async fn set_item_perms(
                &self,
                ws: &WorkspaceId,
                kind: &str,
                path: &str,
                perms: &std::collections::BTreeMap<String, bool>,
            ) -> crate::Result<()> {
                use crate::access::*;
                if perms.is_empty() {
                    let sql = $sql(DELETE_ITEM_PERMS);
                    sqlx::query(&sql).bind(ws.as_str()).bind(kind).bind(path).execute(&self.$write).await?;
                } else {
                    let sql = $sql(SET_ITEM_PERMS);
                    let q = sqlx::query(&sql).bind(ws.as_str()).bind(kind).bind(path).bind(json_text(perms));
                    q.execute(&self.$write).await?;
                }
                Ok(())
            }
        }
    };
}

pub(crate) use access_store;
