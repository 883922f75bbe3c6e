//! Authorization: the one place that decides who may do what.
//!
//! Every route asks one question, [`check`]: may this principal do this
//! [`Action`] on this [`Resource`] of this workspace? The answer follows the
//! contract's order:
//!
//! 1. 404 when the caller is not a member of the workspace, or may not read
//!    the resource (its existence is not revealed);
//! 2. 403 naming what lacks: the role (operators run and read, never write),
//!    the folder or owner rule of a path, or the token's scope.
//!
//! What a user may do at a path is the strongest of: the workspace admin role
//! (everything), owning `u/{user}/…`, being an owner, writer or reader of the
//! folder `f/{name}/…` (directly or through a group), and the item's own
//! `extra_perms`. Operators never get more than read. A token then narrows
//! that to its scopes: a webhook-specific token has its owner's rights on one
//! runnable, and loses them the moment its owner does.

use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use orvanta_core::{acl_perm, Job, JobKind, Perm, Role, RunnablePath, Scope, WorkspaceId};
use orvanta_store::Folder;
use std::sync::Arc;

/// What a caller wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// See it (a job, a script, a list).
    Read,
    /// Start it.
    Run,
    /// Make it: a new script version, a new folder. Unlike [`Action::Write`],
    /// a refusal is a 403 that says why (the caller named the path).
    Create,
    /// Change or delete what exists; cancel a job.
    Write,
    /// Manage the workspace: members, groups.
    Admin,
}

/// What lives at a path: its folder and owner rules and its `extra_perms` apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ItemKind {
    Script,
    Flow,
    Variable,
    Resource,
    App,
    /// A custom HTTP route (`http_triggers`).
    HttpTrigger,
}

impl ItemKind {
    /// The name `item_perms` and Windmill's ACL routes use.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Script => "script",
            Self::Flow => "flow",
            Self::Variable => "variable",
            Self::Resource => "resource",
            Self::App => "app",
            Self::HttpTrigger => "http_trigger",
        }
    }

    /// The scope domain (and run-scope kind): `scripts`, `flows`, `variables`, ...
    pub fn plural(self) -> &'static str {
        match self {
            Self::Script => "scripts",
            Self::Flow => "flows",
            Self::Variable => "variables",
            Self::Resource => "resources",
            Self::App => "apps",
            Self::HttpTrigger => "http_triggers",
        }
    }

    pub fn parse(s: &str) -> ApiResult<Self> {
        match s {
            "script" => Ok(Self::Script),
            "flow" => Ok(Self::Flow),
            "variable" => Ok(Self::Variable),
            "resource" => Ok(Self::Resource),
            "app" => Ok(Self::App),
            "http_trigger" => Ok(Self::HttpTrigger),
            _ => Err(ApiError::BadRequest(format!(
                "'{s}' is not a kind with permissions; use script, flow, variable, resource, app or http_trigger"
            ))),
        }
    }
}

/// What an action is done to, in the workspace of the check.
#[derive(Debug, Clone, Copy)]
pub enum Resource<'a> {
    /// The workspace itself: being a member (read) or managing it (admin).
    Workspace,
    /// One script or flow path.
    Item(ItemKind, &'a RunnablePath),
    /// Every script or flow (a list, filtered with [`Grant::perm`]).
    Items(ItemKind),
    Job(&'a Job),
    /// Every job (a list, filtered with [`Grant::may_read_job`]).
    Jobs,
    /// The members of the workspace.
    Members,
    Groups,
    /// Every folder (read: list them; create: make one).
    Folders,
    Folder(&'a Folder),
    /// Resource types: members read them, developers and admins write them.
    ResourceTypes,
    /// Files of the object storage (`job_helpers`).
    Files,
    /// Inbound webhook definitions and their history.
    InboundHooks,
}

/// A granted check: the caller's role, and what it takes to filter lists.
pub struct Grant<'p> {
    pub role: Role,
    principal: &'p Principal,
    ws: WorkspaceId,
    groups: Option<Arc<Vec<String>>>,
}

/// The 404 of a script or flow that does not exist or that the caller may
/// not read: the same words either way.
pub fn not_found(kind: ItemKind, path: &str, ws: &WorkspaceId) -> ApiError {
    ApiError::NotFound(format!("{} not found at path '{path}' in workspace '{ws}'", kind.as_str()))
}

/// The 404 of a job that does not exist or that the caller may not read.
pub fn job_not_found(id: orvanta_core::JobId, ws: &WorkspaceId) -> ApiError {
    ApiError::NotFound(format!("job {id} not found in workspace '{ws}'"))
}

/// May `principal` do `action` on `resource` in `ws`? The one question.
pub async fn check<'p>(
    state: &AppState,
    principal: &'p Principal,
    ws: &WorkspaceId,
    action: Action,
    resource: Resource<'_>,
) -> ApiResult<Grant<'p>> {
    let role = principal.role_in(state, ws).await?;
    let mut grant = Grant { role, principal, ws: ws.clone(), groups: None };
    match resource {
        Resource::Item(kind, path) => {
            let perm = grant.perm(state, kind, path).await?;
            if perm == Perm::None && action != Action::Create {
                return Err(not_found(kind, path.as_str(), ws));
            }
            if matches!(action, Action::Create | Action::Write) {
                writer(role)?;
                if perm < Perm::Write {
                    return Err(path_refusal(principal, path, perm));
                }
            }
        }
        Resource::Job(job) => grant.require_visible_job(state, job).await?,
        Resource::Folder(folder) if action != Action::Read && role != Role::Admin => {
            grant.require_folder_owner(state, folder).await?
        }
        Resource::Members | Resource::Groups if action != Action::Read => admin(role)?,
        Resource::Workspace if action == Action::Admin => admin(role)?,
        Resource::Folders | Resource::Files | Resource::ResourceTypes if action != Action::Read => {
            writer_unless_job(principal, role)?
        }
        Resource::InboundHooks => writer(role)?,
        _ => {}
    }
    if action == Action::Admin {
        admin(role)?;
    }
    if let Some(scope) = needed_scope(action, resource) {
        // A job is read by the token that started it even without `jobs:read` (webhook-specific tokens).
        let started_it =
            matches!(resource, Resource::Job(job) if action == Action::Read && started_by_token(principal, job));
        // A job reads the variables and resources its user may read, whatever
        // token started it: the code, not the caller, chooses what it reads.
        let job_reads_config = principal.job.is_some()
            && action == Action::Read
            && matches!(resource, Resource::Item(ItemKind::Variable | ItemKind::Resource, _) | Resource::ResourceTypes);
        if !started_it && !job_reads_config {
            principal.require(&scope)?;
        }
    }
    Ok(grant)
}

/// What lives outside any workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Instance {
    /// The caller's own tokens.
    OwnTokens,
    /// The caller's own account: its password, its name.
    OwnAccount,
    /// Every user of the instance.
    Users,
    /// Making workspaces.
    Workspaces,
    /// The instance's settings (the instance events webhook and its secret):
    /// super admins only, even to read.
    Settings,
}

/// May `principal` do `action` on an instance-wide `resource`? Job tokens
/// never manage accounts or tokens; users and workspaces are managed by super
/// admins; a scoped token needs the matching scope.
pub fn check_instance(principal: &Principal, action: Action, resource: Instance) -> ApiResult<()> {
    let (domain, own) = match resource {
        Instance::OwnTokens => ("tokens", true),
        Instance::OwnAccount => ("users", true),
        Instance::Users => ("users", false),
        Instance::Workspaces => ("workspaces", false),
        Instance::Settings => ("settings", false),
    };
    if principal.job.is_some() && (action != Action::Read || resource == Instance::Settings) {
        return Err(ApiError::Forbidden(format!("a job token cannot manage {domain}; use a user token")));
    }
    if principal.job.is_some() && resource == Instance::OwnTokens {
        return Err(ApiError::Forbidden("a job token cannot manage tokens; use a user token".into()));
    }
    if resource == Instance::Settings && principal.workspace.is_some() {
        return Err(ApiError::Forbidden(
            "a token restricted to one workspace cannot manage the instance's settings; use an unrestricted token"
                .into(),
        ));
    }
    if !own && (action != Action::Read || resource == Instance::Settings) && !principal.super_admin {
        return Err(ApiError::Forbidden(format!(
            "only super admins may manage the instance's {domain}; ask one of them"
        )));
    }
    let verb = if action == Action::Read { "read" } else { "write" };
    principal.require(&Scope::needed(domain, verb, None, None))
}

/// The scope a token needs for `action` on `resource`; `None`: membership is enough.
fn needed_scope(action: Action, resource: Resource<'_>) -> Option<Scope> {
    let verb = match action {
        Action::Read => "read",
        Action::Run => "run",
        Action::Create | Action::Write | Action::Admin => "write",
    };
    let scope = |domain: &str, verb: &str, resource: Option<&str>| Some(Scope::needed(domain, verb, None, resource));
    match resource {
        // Whoami and the like: a webhook-specific token reads nothing of the workspace.
        Resource::Workspace => scope("users", verb, None),
        Resource::Item(kind, path) if action == Action::Run => {
            Some(Scope::needed("jobs", "run", Some(kind.plural()), Some(path.as_str())))
        }
        Resource::Item(kind, path) => scope(kind.plural(), verb, Some(path.as_str())),
        Resource::Items(kind) => scope(kind.plural(), verb, None),
        Resource::Job(job) if action == Action::Write => scope("jobs", "cancel", job.path.as_ref().map(|p| p.as_str())),
        Resource::Job(_) | Resource::Jobs => scope("jobs", verb, None),
        Resource::Members => scope("users", verb, None),
        Resource::Groups => scope("groups", verb, None),
        Resource::Folders | Resource::Folder(_) => scope("folders", verb, None),
        Resource::Files => scope("job_helpers", verb, None),
        Resource::InboundHooks => scope("inbound_webhooks", "write", None),
        Resource::ResourceTypes => scope("resources", verb, None),
    }
}

impl Grant<'_> {
    /// The groups of the caller in the workspace, loaded once per request.
    async fn groups(&mut self, state: &AppState) -> ApiResult<Arc<Vec<String>>> {
        if let Some(g) = &self.groups {
            return Ok(g.clone());
        }
        let key = (self.ws.clone(), self.principal.username.clone());
        let load = async { state.store.groups_of(&self.ws, &self.principal.username).await.map(Arc::new) };
        let groups = state.caches.groups_of.get_or_load(key, load).await?;
        self.groups = Some(groups.clone());
        Ok(groups)
    }

    /// What the caller (not its token) may do at `path`: admins and the
    /// owner of `u/{user}/` write; folders and the item's `extra_perms` grant
    /// the rest; operators read at most.
    pub async fn perm(&mut self, state: &AppState, kind: ItemKind, path: &RunnablePath) -> ApiResult<Perm> {
        if self.role == Role::Admin {
            return Ok(Perm::Write);
        }
        let me = self.principal.username.as_str();
        let mut perm = if path.user_owner() == Some(me) { Perm::Write } else { Perm::None };
        if perm < Perm::Write {
            if let Some(name) = path.folder() {
                if let Some(folder) = self.folder(state, name).await? {
                    let groups = self.groups(state).await?;
                    perm = perm.max(folder_perm(&folder, me, &groups));
                }
            }
        }
        if perm < Perm::Write {
            let key = (self.ws.clone(), kind, path.clone());
            let load = async { state.store.item_perms(&self.ws, kind.as_str(), path.as_str()).await.map(Arc::new) };
            let acl = state.caches.item_perms.get_or_load(key, load).await?;
            if !acl.is_empty() {
                let groups = self.groups(state).await?;
                perm = perm.max(acl_perm(acl.iter(), me, &groups));
            }
        }
        Ok(if self.role == Role::Operator { perm.min(Perm::Read) } else { perm })
    }

    async fn folder(&self, state: &AppState, name: &str) -> ApiResult<Option<Arc<Folder>>> {
        let key = (self.ws.clone(), name.to_owned());
        let load = async { state.store.get_folder(&self.ws, name).await.map(|f| f.map(Arc::new)) };
        Ok(state.caches.folders.get_or_load(key, load).await?)
    }

    /// 403 unless the caller owns `folder` (directly or through a group).
    async fn require_folder_owner(&mut self, state: &AppState, folder: &Folder) -> ApiResult<()> {
        let groups = self.groups(state).await?;
        let me = self.principal.username.as_str();
        if folder.owners.iter().any(|o| orvanta_core::Grantee::parse(o).is_ok_and(|g| g.covers(me, &groups))) {
            return Ok(());
        }
        Err(ApiError::Forbidden(format!(
            "only the owners of the folder '{}' and workspace admins may change it",
            folder.name
        )))
    }

    /// 404 unless the caller's user may see `job`.
    async fn require_visible_job(&mut self, state: &AppState, job: &Job) -> ApiResult<()> {
        if self.job_visible(state, job).await? {
            Ok(())
        } else {
            Err(job_not_found(job.id, &self.ws))
        }
    }

    /// Whether the caller may see `job`: admins see every job, users the jobs
    /// they started and the jobs of what they may read; a token besides needs
    /// `jobs:read`, unless it is the very token that started the job.
    pub async fn may_read_job(&mut self, state: &AppState, job: &Job) -> ApiResult<bool> {
        Ok(self.job_visible(state, job).await?
            && (self.principal.allows(&Scope::needed("jobs", "read", None, None))
                || started_by_token(self.principal, job)))
    }

    /// Whether the caller's user (not its token) may see `job`.
    async fn job_visible(&mut self, state: &AppState, job: &Job) -> ApiResult<bool> {
        let mine = job.created_by == self.principal.username || job.permissioned_as == self.principal.username;
        Ok(self.role == Role::Admin
            || mine
            || match (&job.path, job.kind) {
                (Some(path), JobKind::Script) => self.perm(state, ItemKind::Script, path).await? >= Perm::Read,
                (Some(path), JobKind::Flow) => self.perm(state, ItemKind::Flow, path).await? >= Perm::Read,
                _ => false,
            })
    }
}

/// What a folder grants `user`, a member of `groups`.
fn folder_perm(folder: &Folder, user: &str, groups: &[String]) -> Perm {
    let owner = folder.owners.iter().any(|o| orvanta_core::Grantee::parse(o).is_ok_and(|g| g.covers(user, groups)));
    if owner {
        Perm::Write
    } else {
        acl_perm(folder.extra_perms.iter(), user, groups)
    }
}

/// Whether `principal` is the token that started `job` and may still run
/// what it ran (a webhook-specific token reads the jobs it started).
fn started_by_token(principal: &Principal, job: &Job) -> bool {
    let Some(path) = &job.path else { return false };
    let kind = if job.kind == JobKind::Script { "scripts" } else { "flows" };
    principal.allows(&Scope::needed("jobs", "run", Some(kind), Some(path.as_str())))
        && job.created_by == principal.username
        && principal.token_prefix.is_some()
        && job.token_prefix == principal.token_prefix
}

/// Drops the `extra_perms` of a deleted item: what is made again at its path starts unshared.
pub async fn forget_item(state: &AppState, ws: &WorkspaceId, kind: ItemKind, path: &RunnablePath) -> ApiResult<()> {
    state.store.set_item_perms(ws, kind.as_str(), path.as_str(), &Default::default()).await?;
    state.caches.item_perms.forget(&(ws.clone(), kind, path.clone()));
    Ok(())
}

/// 403 unless the role may write (admin or developer).
fn writer(role: Role) -> ApiResult<()> {
    match role {
        Role::Admin | Role::Developer => Ok(()),
        Role::Operator => Err(ApiError::Forbidden(
            "operators can run and read only; ask a workspace admin for the developer role".into(),
        )),
    }
}

/// As [`writer`], except for a job's own token (a job may store files whoever started it).
fn writer_unless_job(principal: &Principal, role: Role) -> ApiResult<()> {
    if principal.job.is_some() {
        Ok(())
    } else {
        writer(role)
    }
}

fn admin(role: Role) -> ApiResult<()> {
    match role {
        Role::Admin => Ok(()),
        _ => Err(ApiError::Forbidden("only workspace admins may do this; ask one of them".into())),
    }
}

/// Why a developer may not write at `path`.
fn path_refusal(principal: &Principal, path: &RunnablePath, perm: Perm) -> ApiError {
    let me = &principal.username;
    if let Some(owner) = path.user_owner() {
        return ApiError::Forbidden(format!(
            "only the user '{owner}' and workspace admins may write under u/{owner}/; use u/{me}/ or a folder you may write"
        ));
    }
    let folder = path.folder().unwrap_or_default();
    let why = if perm == Perm::Read { "you may only read it" } else { "it does not exist or is not shared with you" };
    ApiError::Forbidden(format!(
        "you may not write in the folder '{folder}' ({why}); ask one of its owners or a workspace admin to make you a writer"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_owners_write_and_readers_read() {
        let folder = Folder {
            workspace: WorkspaceId::parse("demo").unwrap(),
            name: "team".into(),
            summary: String::new(),
            owners: vec!["g/leads".into()],
            extra_perms: [("u/bob".to_owned(), false), ("g/dev".to_owned(), true)].into_iter().collect(),
            created_by: orvanta_core::Username::parse("admin").unwrap(),
            created_at: 0,
        };
        assert_eq!(folder_perm(&folder, "alice", &["leads".into()]), Perm::Write);
        assert_eq!(folder_perm(&folder, "bob", &[]), Perm::Read);
        assert_eq!(folder_perm(&folder, "bob", &["dev".into()]), Perm::Write);
        assert_eq!(folder_perm(&folder, "carol", &[]), Perm::None);
    }

    #[test]
    fn run_scopes_name_the_runnable() {
        let path = RunnablePath::parse("f/team/x").unwrap();
        let s = needed_scope(Action::Run, Resource::Item(ItemKind::Flow, &path)).unwrap();
        assert_eq!(s.to_string(), "jobs:run:flows:f/team/x");
        let s = needed_scope(Action::Create, Resource::Item(ItemKind::Script, &path)).unwrap();
        assert_eq!(s.to_string(), "scripts:write:f/team/x");
        assert_eq!(needed_scope(Action::Read, Resource::Workspace).unwrap().to_string(), "users:read");
    }
}
