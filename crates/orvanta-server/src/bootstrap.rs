//! First start: the admin user, the workspaces `admins` and the default one,
//! the admin token, and an example script. Every step checks first, so a
//! second start changes nothing and prints the same facts.

use crate::auth::{generate_token, hash_token, token_prefix};
use crate::cfg::Config;
use argon2::password_hash::{PasswordHasher, SaltString};
use orvanta_core::{Language, NewScript, RunnablePath, ScriptHash, ScriptSettings, Username, WorkspaceId};
use orvanta_store::{NewToken, NewUser, NewWorkspace, Role, Store, StoreError};
use std::path::Path;

/// What a start prints.
#[derive(Debug, Clone)]
pub struct Facts {
    pub admin_token: String,
    pub workspace: WorkspaceId,
    pub example_path: RunnablePath,
}

const ADMIN: &str = "admin";
const EXAMPLE_PATH: &str = "u/admin/hello";
const EXAMPLE: &str = r#"def main(name: str = "world"):
    """Orvanta's example: call it with {"name": "you"}."""
    return {"greeting": f"Hello, {name}!"}
"#;

/// Makes sure the bootstrap objects exist; answers the facts to print.
pub async fn ensure(store: &dyn Store, cfg: &Config) -> Result<Facts, BootstrapError> {
    let admin = Username::parse(ADMIN).map_err(|e| BootstrapError(e.0))?;
    let now = orvanta_core::now_millis();
    if store.get_user(&admin).await?.is_none() {
        store
            .create_user(&NewUser {
                username: admin.clone(),
                email: "admin@orvanta.local".into(),
                name: Some("Admin".into()),
                password_hash: random_password_hash()?,
                super_admin: true,
                created_at: now,
            })
            .await?;
    }
    let workspace = WorkspaceId::parse(&cfg.server.default_workspace).map_err(|e| BootstrapError(e.0))?;
    for (id, name) in [("admins", "Admins"), (workspace.as_str(), "Demo")] {
        let id = WorkspaceId::parse(id).map_err(|e| BootstrapError(e.0))?;
        if store.get_workspace(&id).await?.is_none() {
            let ws = NewWorkspace { id: id.clone(), name: name.into(), created_by: admin.clone(), created_at: now };
            ignore_conflict(store.create_workspace(&ws).await)?;
        }
        if store.get_role(&id, &admin).await?.is_none() {
            store.set_member(&id, &admin, Role::Admin).await?;
        }
    }
    let admin_token = ensure_token(store, cfg, &admin).await?;
    let example_path = RunnablePath::parse(EXAMPLE_PATH).map_err(|e| BootstrapError(e.0))?;
    if store.script_history(&workspace, &example_path).await?.is_empty() {
        ensure_example(store, &workspace, &example_path, &admin).await?;
    }
    Ok(Facts { admin_token, workspace, example_path })
}

/// The admin token: `ORVANTA_ADMIN_TOKEN` when set, else the one kept in
/// `{data_dir}/admin-token` (made on the first start, readable by its owner only).
async fn ensure_token(store: &dyn Store, cfg: &Config, admin: &Username) -> Result<String, BootstrapError> {
    let file = cfg.storage.data_dir.join("admin-token");
    let secret = match &cfg.server.admin_token {
        Some(t) => t.expose().to_owned(),
        None => match std::fs::read_to_string(&file) {
            Ok(s) if !s.trim().is_empty() => s.trim().to_owned(),
            _ => {
                let t = generate_token();
                write_private(&file, &t)?;
                t
            }
        },
    };
    let hash = hash_token(&secret);
    if store.get_token(&hash).await?.is_none() {
        let token = NewToken {
            hash,
            prefix: token_prefix(&secret),
            owner: admin.clone(),
            label: "bootstrap admin token".into(),
            created_at: orvanta_core::now_millis(),
            expires_at: None,
            scopes: None,
            workspace: None,
            session: false,
        };
        ignore_conflict(store.create_token(&token).await)?;
    }
    Ok(secret)
}

async fn ensure_example(
    store: &dyn Store,
    ws: &WorkspaceId,
    path: &RunnablePath,
    admin: &Username,
) -> Result<(), BootstrapError> {
    let signature = orvanta_exec::parse_main(Language::Python3, EXAMPLE).map_err(|e| BootstrapError(e.to_string()))?;
    let script = NewScript {
        workspace: ws.clone(),
        path: path.clone(),
        hash: ScriptHash::from_u64(rand::random::<u64>()),
        parent_hash: None,
        language: Language::Python3,
        content: EXAMPLE.into(),
        summary: "Say hello".into(),
        description: "The example script made by `orvanta up`.".into(),
        schema: signature.to_json_schema(),
        settings: ScriptSettings::default(),
        created_by: admin.clone(),
        created_at: orvanta_core::now_millis(),
    };
    ignore_conflict(store.insert_script(&script).await.map(|_| ()))
}

/// Another process bootstrapping at the same moment is fine.
fn ignore_conflict(r: Result<(), StoreError>) -> Result<(), BootstrapError> {
    match r {
        Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn random_password_hash() -> Result<String, BootstrapError> {
    let password = generate_token();
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| BootstrapError(format!("cannot hash the admin password: {e}")))
}

fn write_private(path: &Path, content: &str) -> Result<(), BootstrapError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| BootstrapError(format!("cannot write {}: {e}", path.display())))?;
    f.write_all(content.as_bytes()).map_err(|e| BootstrapError(format!("cannot write {}: {e}", path.display())))
}

/// Bootstrap failed; the message says why.
#[derive(Debug, thiserror::Error)]
#[error("bootstrap failed: {0}")]
pub struct BootstrapError(pub String);

impl From<StoreError> for BootstrapError {
    fn from(e: StoreError) -> Self {
        Self(e.to_string())
    }
}
