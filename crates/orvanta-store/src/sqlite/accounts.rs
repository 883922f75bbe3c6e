//! Workspaces, users, memberships and API tokens on SQLite.

use super::{conflict_as, SqliteStore};
use crate::rows::{self, convert, TokenRow, UserRow, WorkspaceRow};
use crate::{NewToken, NewUser, NewWorkspace, Result, Role, TokenRecord, User, Workspace};
use async_trait::async_trait;
use orvanta_core::{Millis, Username, WorkspaceId};

#[async_trait]
impl crate::AccountStore for SqliteStore {
    async fn create_workspace(&self, ws: &NewWorkspace) -> Result<()> {
        sqlx::query("INSERT INTO workspaces (id, name, created_by, created_at) VALUES (?, ?, ?, ?)")
            .bind(ws.id.as_str())
            .bind(&ws.name)
            .bind(ws.created_by.as_str())
            .bind(ws.created_at)
            .execute(&self.write)
            .await
            .map_err(|e| conflict_as(e, format!("the workspace '{}' exists already", ws.id)))?;
        Ok(())
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>> {
        let row: Option<WorkspaceRow> =
            sqlx::query_as("SELECT id, name, created_by, created_at FROM workspaces WHERE id = ?")
                .bind(id.as_str())
                .fetch_optional(&self.read)
                .await?;
        row.map(Workspace::try_from).transpose()
    }

    async fn list_workspaces(&self) -> Result<Vec<Workspace>> {
        let rows: Vec<WorkspaceRow> =
            sqlx::query_as("SELECT id, name, created_by, created_at FROM workspaces ORDER BY id")
                .fetch_all(&self.read)
                .await?;
        convert(rows)
    }

    async fn create_user(&self, u: &NewUser) -> Result<()> {
        let mut tx = self.write.begin().await?;
        sqlx::query(
            "INSERT INTO users (username, email, name, password_hash, super_admin, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(u.username.as_str())
        .bind(&u.email)
        .bind(&u.name)
        .bind(&u.password_hash)
        .bind(u.super_admin)
        .bind(u.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_as(e, format!("the user '{}' or the email '{}' exists already", u.username, u.email)))?;
        super::emit(&mut tx, &WorkspaceId::instance_channel(), crate::config::user_added(u)).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn get_user(&self, username: &Username) -> Result<Option<User>> {
        let row: Option<UserRow> = sqlx::query_as(
            "SELECT username, email, name, password_hash, super_admin, created_at FROM users WHERE username = ?",
        )
        .bind(username.as_str())
        .fetch_optional(&self.read)
        .await?;
        row.map(User::try_from).transpose()
    }

    async fn set_member(&self, ws: &WorkspaceId, username: &Username, role: Role) -> Result<()> {
        let mut tx = self.write.begin().await?;
        let email: Option<String> = sqlx::query_scalar(crate::access::NEW_MEMBER_EMAIL)
            .bind(username.as_str())
            .bind(ws.as_str())
            .bind(username.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO members (workspace, username, role) VALUES (?, ?, ?) \
             ON CONFLICT (workspace, username) DO UPDATE SET role = excluded.role",
        )
        .bind(ws.as_str())
        .bind(username.as_str())
        .bind(role.as_str())
        .execute(&mut *tx)
        .await
        .map_err(|e| conflict_as(e, format!("the workspace '{ws}' or the user '{username}' does not exist")))?;
        if let Some(email) = email {
            super::emit(
                &mut tx,
                &WorkspaceId::instance_channel(),
                crate::config::member_added(ws, username, &email, role),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn get_role(&self, ws: &WorkspaceId, username: &Username) -> Result<Option<Role>> {
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM members WHERE workspace = ? AND username = ?")
            .bind(ws.as_str())
            .bind(username.as_str())
            .fetch_optional(&self.read)
            .await?;
        role.as_deref().map(rows::parse_role).transpose()
    }

    async fn create_token(&self, t: &NewToken) -> Result<()> {
        sqlx::query(
            "INSERT INTO tokens (hash, prefix, owner, label, created_at, expires_at, scopes, workspace, kind) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&t.hash)
        .bind(&t.prefix)
        .bind(t.owner.as_str())
        .bind(&t.label)
        .bind(t.created_at)
        .bind(t.expires_at)
        .bind(rows::scopes_text(&t.scopes))
        .bind(t.workspace.as_ref().map(|w| w.as_str()))
        .bind(if t.session { "session" } else { "user" })
        .execute(&self.write)
        .await
        .map_err(|e| {
            conflict_as(e, format!("a token with this secret exists already, or the user '{}' does not exist", t.owner))
        })?;
        Ok(())
    }

    async fn get_token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        let row: Option<TokenRow> = sqlx::query_as(TOKEN_SELECT_BY_HASH).bind(hash).fetch_optional(&self.read).await?;
        row.map(TokenRecord::try_from).transpose()
    }

    async fn touch_tokens(&self, hashes: &[String], now: Millis) -> Result<()> {
        if !hashes.is_empty() {
            crate::shared::touch_query::<sqlx::Sqlite>(hashes, now).build().execute(&self.write).await?;
        }
        Ok(())
    }

    async fn list_tokens(&self, owner: &Username) -> Result<Vec<TokenRecord>> {
        let rows: Vec<TokenRow> = sqlx::query_as(TOKENS_OF).bind(owner.as_str()).fetch_all(&self.read).await?;
        convert(rows)
    }

    async fn delete_token(&self, owner: &Username, prefix: &str) -> Result<bool> {
        let r = sqlx::query(DELETE_TOKEN).bind(owner.as_str()).bind(prefix).execute(&self.write).await?;
        Ok(r.rows_affected() > 0)
    }
}

/// A user's tokens, newest first.
pub(super) const TOKENS_OF: &str = "SELECT hash, prefix, owner, label, created_at, expires_at, last_used_at, \
     scopes, workspace, kind FROM tokens WHERE owner = ? ORDER BY created_at DESC";
pub(super) const DELETE_TOKEN: &str = "DELETE FROM tokens WHERE owner = ? AND prefix = ?";
const TOKEN_SELECT_BY_HASH: &str = "SELECT hash, prefix, owner, label, created_at, expires_at, last_used_at, \
     scopes, workspace, kind FROM tokens WHERE hash = ?";

crate::access::access_store!(SqliteStore, read, write, crate::access::as_is);
crate::notices::notice_store!(SqliteStore, read, write, crate::access::as_is, "");
crate::config::config_store!(SqliteStore, read, write, crate::access::as_is);
crate::outbox::outbox_store!(SqliteStore, read, write, crate::access::as_is, "");
crate::triggers::trigger_store!(SqliteStore, read, write, crate::access::as_is);
