//! Workspaces, users, memberships and API tokens on PostgreSQL.
//!
//! Plain rows; the only care taken is to turn constraint violations into
//! `Conflict`s that name the object, where the query runs.

use super::{foreign_key_violation, unique_violation};
use crate::rows::{convert, parse_role, scopes_text, TokenRow, UserRow, WorkspaceRow};
use crate::{NewToken, NewUser, NewWorkspace, Result, Role, StoreError, TokenRecord, User, Workspace};
use orvanta_core::{Millis, Username, WorkspaceId};
use sqlx::PgPool;

const WORKSPACE_COLUMNS: &str = "id, name, created_by, created_at";
const USER_COLUMNS: &str = "username, email, name, password_hash, super_admin, created_at";
const TOKEN_COLUMNS: &str = "hash, prefix, owner, label, created_at, expires_at, last_used_at, scopes, workspace, kind";

pub(super) async fn create_workspace(pool: &PgPool, ws: &NewWorkspace) -> Result<()> {
    sqlx::query("INSERT INTO workspaces (id, name, created_by, created_at) VALUES ($1, $2, $3, $4)")
        .bind(ws.id.as_str())
        .bind(&ws.name)
        .bind(ws.created_by.as_str())
        .bind(ws.created_at)
        .execute(pool)
        .await
        .map_err(|e| match unique_violation(&e) {
            Some(_) => StoreError::Conflict(format!("a workspace with the id '{}' already exists", ws.id)),
            None => e.into(),
        })?;
    Ok(())
}

pub(super) async fn get_workspace(pool: &PgPool, id: &WorkspaceId) -> Result<Option<Workspace>> {
    let row: Option<WorkspaceRow> =
        sqlx::query_as(&format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces WHERE id = $1"))
            .bind(id.as_str())
            .fetch_optional(pool)
            .await?;
    row.map(Workspace::try_from).transpose()
}

pub(super) async fn list_workspaces(pool: &PgPool) -> Result<Vec<Workspace>> {
    let rows: Vec<WorkspaceRow> =
        sqlx::query_as(&format!("SELECT {WORKSPACE_COLUMNS} FROM workspaces ORDER BY id")).fetch_all(pool).await?;
    convert(rows)
}

pub(super) async fn create_user(pool: &PgPool, user: &NewUser) -> Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO users (username, email, name, password_hash, super_admin, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user.username.as_str())
    .bind(&user.email)
    .bind(&user.name)
    .bind(&user.password_hash)
    .bind(user.super_admin)
    .bind(user.created_at)
    .execute(&mut *tx)
    .await
    .map_err(|e| match unique_violation(&e) {
        Some("users_email_key") => {
            StoreError::Conflict(format!("the email address '{}' is already used by another user", user.email))
        }
        Some(_) => StoreError::Conflict(format!("a user named '{}' already exists", user.username)),
        None => e.into(),
    })?;
    super::emit(&mut tx, &WorkspaceId::instance_channel(), crate::config::user_added(user)).await?;
    tx.commit().await?;
    Ok(())
}

pub(super) async fn get_user(pool: &PgPool, username: &Username) -> Result<Option<User>> {
    let row: Option<UserRow> = sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1"))
        .bind(username.as_str())
        .fetch_optional(pool)
        .await?;
    row.map(User::try_from).transpose()
}

pub(super) async fn set_member(pool: &PgPool, ws: &WorkspaceId, username: &Username, role: Role) -> Result<()> {
    let mut tx = pool.begin().await?;
    let email: Option<String> = sqlx::query_scalar(&crate::access::numbered(crate::access::NEW_MEMBER_EMAIL))
        .bind(username.as_str())
        .bind(ws.as_str())
        .bind(username.as_str())
        .fetch_optional(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO members (workspace, username, role) VALUES ($1, $2, $3) \
         ON CONFLICT (workspace, username) DO UPDATE SET role = EXCLUDED.role",
    )
    .bind(ws.as_str())
    .bind(username.as_str())
    .bind(role.as_str())
    .execute(&mut *tx)
    .await
    .map_err(|e| {
        if foreign_key_violation(&e) {
            StoreError::Conflict(format!(
                "cannot make '{username}' a member of workspace '{ws}': the workspace or the user does not exist"
            ))
        } else {
            e.into()
        }
    })?;
    if let Some(email) = email {
        super::emit(&mut tx, &WorkspaceId::instance_channel(), crate::config::member_added(ws, username, &email, role))
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub(super) async fn get_role(pool: &PgPool, ws: &WorkspaceId, username: &Username) -> Result<Option<Role>> {
    let role: Option<String> = sqlx::query_scalar("SELECT role FROM members WHERE workspace = $1 AND username = $2")
        .bind(ws.as_str())
        .bind(username.as_str())
        .fetch_optional(pool)
        .await?;
    role.as_deref().map(parse_role).transpose()
}

pub(super) async fn create_token(pool: &PgPool, t: &NewToken) -> Result<()> {
    sqlx::query(
        "INSERT INTO tokens (hash, prefix, owner, label, created_at, expires_at, scopes, workspace, kind) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&t.hash)
    .bind(&t.prefix)
    .bind(t.owner.as_str())
    .bind(&t.label)
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(scopes_text(&t.scopes))
    .bind(t.workspace.as_ref().map(WorkspaceId::as_str))
    .bind(if t.session { "session" } else { "user" })
    .execute(pool)
    .await
    .map_err(|e| {
        if unique_violation(&e).is_some() {
            StoreError::Conflict(format!("a token with the prefix '{}' and the same secret already exists", t.prefix))
        } else if foreign_key_violation(&e) {
            StoreError::Conflict(format!("cannot create a token for '{}': there is no such user", t.owner))
        } else {
            e.into()
        }
    })?;
    Ok(())
}

pub(super) async fn get_token(pool: &PgPool, hash: &str) -> Result<Option<TokenRecord>> {
    let row: Option<TokenRow> = sqlx::query_as(&format!("SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1"))
        .bind(hash)
        .fetch_optional(pool)
        .await?;
    row.map(TokenRecord::try_from).transpose()
}

pub(super) async fn touch_tokens(pool: &PgPool, hashes: &[String], now: Millis) -> Result<()> {
    if !hashes.is_empty() {
        crate::shared::touch_query::<sqlx::Postgres>(hashes, now).build().execute(pool).await?;
    }
    Ok(())
}

pub(super) async fn list_tokens(pool: &PgPool, owner: &Username) -> Result<Vec<TokenRecord>> {
    let rows: Vec<TokenRow> = sqlx::query_as(&format!(
        "SELECT {TOKEN_COLUMNS} FROM tokens WHERE owner = $1 ORDER BY created_at DESC, prefix"
    ))
    .bind(owner.as_str())
    .fetch_all(pool)
    .await?;
    convert(rows)
}

pub(super) async fn delete_token(pool: &PgPool, owner: &Username, prefix: &str) -> Result<bool> {
    let done = sqlx::query("DELETE FROM tokens WHERE owner = $1 AND prefix = $2")
        .bind(owner.as_str())
        .bind(prefix)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() > 0)
}

#[async_trait::async_trait]
impl crate::AccountStore for super::PgStore {
    async fn create_workspace(&self, ws: &NewWorkspace) -> Result<()> {
        create_workspace(&self.pool, ws).await
    }

    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>> {
        get_workspace(&self.pool, id).await
    }

    async fn list_workspaces(&self) -> Result<Vec<Workspace>> {
        list_workspaces(&self.pool).await
    }

    async fn create_user(&self, user: &NewUser) -> Result<()> {
        create_user(&self.pool, user).await
    }

    async fn get_user(&self, username: &Username) -> Result<Option<User>> {
        get_user(&self.pool, username).await
    }

    async fn set_member(&self, ws: &WorkspaceId, username: &Username, role: Role) -> Result<()> {
        set_member(&self.pool, ws, username, role).await
    }

    async fn get_role(&self, ws: &WorkspaceId, username: &Username) -> Result<Option<Role>> {
        get_role(&self.pool, ws, username).await
    }

    async fn create_token(&self, token: &NewToken) -> Result<()> {
        create_token(&self.pool, token).await
    }

    async fn get_token(&self, hash: &str) -> Result<Option<TokenRecord>> {
        get_token(&self.pool, hash).await
    }

    async fn touch_tokens(&self, hashes: &[String], now: Millis) -> Result<()> {
        touch_tokens(&self.pool, hashes, now).await
    }

    async fn list_tokens(&self, owner: &Username) -> Result<Vec<TokenRecord>> {
        list_tokens(&self.pool, owner).await
    }

    async fn delete_token(&self, owner: &Username, prefix: &str) -> Result<bool> {
        delete_token(&self.pool, owner, prefix).await
    }
}

crate::access::access_store!(super::PgStore, pool, pool, crate::access::numbered);
crate::notices::notice_store!(super::PgStore, pool, pool, crate::access::numbered, crate::notices::PG_LOCK);
crate::config::config_store!(super::PgStore, pool, pool, crate::access::numbered);
crate::outbox::outbox_store!(super::PgStore, pool, pool, crate::access::numbered, crate::notices::PG_LOCK);
crate::triggers::trigger_store!(super::PgStore, pool, pool, crate::access::numbered);
