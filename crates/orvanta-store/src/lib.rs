//! Orvanta's storage.
//!
//! One [`Store`] interface with two implementations: [`sqlite`] (the embedded
//! default, one process) and [`postgres`] (several servers and workers on one
//! database). Both keep the same tables, migrated by the store itself at
//! start-up, and both pass the one conformance suite in `tests/`.
//!
//! Besides rows, a store carries the job events (enqueued, progressed,
//! completed, cancel asked) that wake waiting requests and idle workers: an
//! in-process channel for SQLite, `LISTEN/NOTIFY` for PostgreSQL. Callers see
//! one [`tokio::sync::broadcast`] receiver either way.

mod access;
mod config;
mod error;
mod events;
mod migrate;
mod notices;
mod outbox;
mod packed;
pub mod postgres;
mod rows;
mod shared;
pub mod sqlite;
mod triggers;
mod types;

use async_trait::async_trait;
use orvanta_core::{
    Flow, FlowVersion, Job, JobId, Millis, NewFlow, NewJob, NewScript, RunnablePath, Script, ScriptHash, Username,
    WorkspaceId,
};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use error::StoreError;
pub use events::{EventHub, JobEvent, JobWatch};
pub use notices::{NoticeKind, NoticeOutcome, NoticeStatus, TokenNotice, TokenSweep, WorkspaceEvent};
pub use outbox::{
    AfterFinish, ClaimedEvent, EventAttempt, EventDelivery, EventFinish, EventOutcome, FinishedEvents, WebhookSettings,
};
pub use triggers::HttpTriggerRecord;
pub use types::*;

/// A store result.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Everything Orvanta keeps, behind one interface made of one trait per
/// area. Each backend implements each area in a file of its own
/// (`sqlite/<area>.rs`, `postgres/<area>.rs`), and the conformance suite runs
/// the same tests on both.
///
/// A method that changes a job publishes the matching [`JobEvent`] once its
/// Custom HTTP routes (contract §10).
#[async_trait]
pub trait TriggerStore: Send + Sync + 'static {
    /// `Conflict` when the path is taken, or another route has the method and route key.
    async fn create_http_trigger(&self, t: &HttpTriggerRecord) -> Result<()>;
    /// Replaces the route at `old` (its path may change); false when there is none.
    async fn update_http_trigger(&self, old: &RunnablePath, t: &HttpTriggerRecord) -> Result<bool>;
    async fn get_http_trigger(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Option<HttpTriggerRecord>>;
    /// The routes of a workspace, or of every workspace (`None`: what the router serves).
    async fn list_http_triggers(&self, ws: Option<&WorkspaceId>) -> Result<Vec<HttpTriggerRecord>>;
    async fn delete_http_trigger(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool>;
}

/// transaction has committed.
pub trait Store:
    InstanceStore
    + AccountStore
    + AccessStore
    + NoticeStore
    + OutboxStore
    + ConfigStore
    + ScriptStore
    + FlowStore
    + QueueStore
    + OutputStore
    + HookStore
    + TriggerStore
{
}

impl<T> Store for T where
    T: InstanceStore
        + AccountStore
        + AccessStore
        + NoticeStore
        + OutboxStore
        + ConfigStore
        + ScriptStore
        + FlowStore
        + QueueStore
        + OutputStore
        + HookStore
        + TriggerStore
{
}

/// The instance: the backend itself, settings every process shares, worker heartbeats.
#[async_trait]
pub trait InstanceStore: Send + Sync + 'static {
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;

    /// Whether several processes may share this store (PostgreSQL).
    fn is_shared(&self) -> bool;

    /// A cheap round trip, for health checks.
    async fn ping(&self) -> Result<()>;

    /// Job events from every process using this store.
    fn subscribe(&self) -> tokio::sync::broadcast::Receiver<JobEvent>;
    /// The events of one job (and resyncs), from every process: a waiter's,
    /// a stream's or a lease's, woken by nothing else.
    fn watch(&self, id: orvanta_core::JobId) -> JobWatch;

    /// The instance setting `key`; when unset, stores `init` first. Every
    /// process on the database gets the same value (first writer wins).
    async fn instance_setting(&self, key: &str, init: &str) -> Result<String>;
    /// Records that a worker process is alive, with its job slots and tags.
    async fn worker_ping(&self, ping: &WorkerPing<'_>) -> Result<()>;
    /// Job slots of the workers that pinged at or after `since`.
    async fn count_workers(&self, since: Millis) -> Result<i64>;
    /// Whether a worker that pinged at or after `since` claims `tag`.
    async fn tag_served(&self, tag: &str, since: Millis) -> Result<bool>;
}

/// Workspaces, users, memberships and tokens.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Creates a workspace; `Conflict` when the id is taken.
    async fn create_workspace(&self, ws: &NewWorkspace) -> Result<()>;
    async fn get_workspace(&self, id: &WorkspaceId) -> Result<Option<Workspace>>;
    async fn list_workspaces(&self) -> Result<Vec<Workspace>>;

    /// Creates a user; `Conflict` when the username is taken.
    async fn create_user(&self, user: &NewUser) -> Result<()>;
    async fn get_user(&self, username: &Username) -> Result<Option<User>>;
    /// Sets (or replaces) a user's role in a workspace.
    async fn set_member(&self, ws: &WorkspaceId, username: &Username, role: Role) -> Result<()>;
    async fn get_role(&self, ws: &WorkspaceId, username: &Username) -> Result<Option<Role>>;

    async fn create_token(&self, token: &NewToken) -> Result<()>;
    /// The token with this SHA-256 hash (hex), whether or not it has expired.
    async fn get_token(&self, hash: &str) -> Result<Option<TokenRecord>>;
    /// Sets `last_used_at` of these tokens (SHA-256 hashes) in one statement.
    async fn touch_tokens(&self, hashes: &[String], now: Millis) -> Result<()>;
    async fn list_tokens(&self, owner: &Username) -> Result<Vec<TokenRecord>>;
    /// Deletes the owner's token with this prefix; false when there is none.
    async fn delete_token(&self, owner: &Username, prefix: &str) -> Result<bool>;
}

/// Token expiry notices (the mail outbox) and the workspace events (the
/// outbox of the workspace webhook). One implementation for both backends
/// (`notices.rs`).
#[async_trait]
pub trait NoticeStore: Send + Sync + 'static {
    /// One step of the token sweep, in one transaction: marks the user
    /// tokens (not sessions) that expire within `soon` of `now` and were not
    /// marked yet, deletes the tokens that expired before `now` (sessions
    /// too), at most `limit` of each, and records for each user token among
    /// them a notice to its owner and an event in each workspace it was
    /// valid in (its own, or every one its owner is a member of).
    async fn sweep_tokens(&self, now: Millis, soon: Millis, limit: i64) -> Result<TokenSweep>;
    /// Claims up to `limit` pending notices due at `now`, oldest first,
    /// counting an attempt each; a claimed notice is not due again before
    /// `lease_until`, so that no other process takes it while this one sends
    /// it, and one that dies sending leaves it to be tried again.
    async fn claim_notices(&self, now: Millis, lease_until: Millis, limit: i64) -> Result<Vec<TokenNotice>>;
    /// Records how the attempt at a claimed notice ended; false when the
    /// notice is no longer pending.
    async fn finish_notice(&self, id: i64, outcome: &NoticeOutcome) -> Result<bool>;
    /// Deletes up to `limit` sent, skipped or failed notices recorded before
    /// `before` (never a pending one); answers how many.
    async fn purge_notices(&self, before: Millis, limit: i64) -> Result<u64>;
    /// Notices with an id above `after`, oldest first.
    async fn list_token_notices(&self, after: i64, limit: i64) -> Result<Vec<TokenNotice>>;
    /// A workspace's events with an id above `after`, in order.
    async fn list_workspace_events(&self, ws: &WorkspaceId, after: i64, limit: i64) -> Result<Vec<WorkspaceEvent>>;
}

/// Users beyond their tokens, workspace members, groups, folders and the
/// per-item permissions of scripts and flows. One implementation for both
/// backends (`access.rs`), written once over their common SQL.
#[async_trait]
pub trait AccessStore: Send + Sync + 'static {
    async fn user_by_email(&self, email: &str) -> Result<Option<User>>;
    async fn list_users(&self) -> Result<Vec<User>>;
    /// Applies `update`; false when there is no such user.
    async fn update_user(&self, username: &Username, update: &UserUpdate) -> Result<bool>;
    /// Deletes a user with their memberships and tokens; false when there is none.
    async fn delete_user(&self, username: &Username) -> Result<bool>;

    /// Renames a workspace (its id stays); false when there is none.
    async fn rename_workspace(&self, ws: &WorkspaceId, name: &str) -> Result<bool>;
    /// The members of a workspace, by username.
    async fn list_members(&self, ws: &WorkspaceId) -> Result<Vec<Member>>;
    /// Removes a user from a workspace and from its groups; false when not a member.
    async fn remove_member(&self, ws: &WorkspaceId, username: &Username) -> Result<bool>;
    /// The workspaces a user is a member of, with the role in each.
    async fn user_workspaces(&self, username: &Username) -> Result<Vec<(Workspace, Role)>>;

    /// Creates an empty group; `Conflict` when the name is taken.
    async fn create_group(&self, group: &Group) -> Result<()>;
    async fn get_group(&self, ws: &WorkspaceId, name: &str) -> Result<Option<Group>>;
    async fn list_groups(&self, ws: &WorkspaceId) -> Result<Vec<Group>>;
    /// Changes a group's summary; false when there is no such group.
    async fn update_group(&self, ws: &WorkspaceId, name: &str, summary: &str) -> Result<bool>;
    async fn delete_group(&self, ws: &WorkspaceId, name: &str) -> Result<bool>;
    /// Adds (`member`) or removes a user; false when the group does not exist
    /// (or, to remove, the user was not in it).
    async fn set_group_member(&self, ws: &WorkspaceId, group: &str, username: &Username, member: bool) -> Result<bool>;
    /// The groups of `ws` that `username` is in, sorted.
    async fn groups_of(&self, ws: &WorkspaceId, username: &Username) -> Result<Vec<String>>;

    /// Creates a folder; `Conflict` when the name is taken.
    async fn create_folder(&self, folder: &Folder) -> Result<()>;
    async fn get_folder(&self, ws: &WorkspaceId, name: &str) -> Result<Option<Folder>>;
    async fn list_folders(&self, ws: &WorkspaceId) -> Result<Vec<Folder>>;
    /// Replaces a folder's summary, owners and extra_perms; false when there is none.
    async fn update_folder(&self, folder: &Folder) -> Result<bool>;
    async fn delete_folder(&self, ws: &WorkspaceId, name: &str) -> Result<bool>;

    /// Invites `invite.email` to its workspace (again: the new role replaces the old).
    async fn put_invite(&self, invite: &Invite) -> Result<()>;
    /// The pending invitations of a workspace, or (`email` set) of one email in every workspace.
    async fn list_invites(&self, ws: Option<&WorkspaceId>, email: Option<&str>) -> Result<Vec<Invite>>;
    /// Withdraws (or declines) an invitation; false when there is none.
    async fn delete_invite(&self, ws: &WorkspaceId, email: &str) -> Result<bool>;
    /// Accepts the invitation of `email` to `ws` as `username`, in one
    /// transaction: the invitation goes, the membership comes. `None`: no invitation.
    async fn accept_invite(&self, ws: &WorkspaceId, email: &str, username: &Username) -> Result<Option<Role>>;

    /// The `extra_perms` of a script or flow path (`kind`: `script`, `flow`).
    async fn item_perms(&self, ws: &WorkspaceId, kind: &str, path: &str) -> Result<BTreeMap<String, bool>>;
    /// Replaces them; an empty map deletes them.
    async fn set_item_perms(
        &self,
        ws: &WorkspaceId,
        kind: &str,
        path: &str,
        perms: &BTreeMap<String, bool>,
    ) -> Result<()>;
}

/// Variables, resource types, resources and apps: what scripts read and
/// what the workspace webhook reports. One implementation for both backends
/// (`config.rs`). Paths are unique per workspace; a create that finds the
/// path taken is a `Conflict`, and so is a rename onto a taken path.
#[async_trait]
pub trait ConfigStore: Send + Sync + 'static {
    async fn create_variable(&self, v: &Variable) -> Result<()>;
    /// Replaces the variable at `old_path` (which `v.path` may rename); false when there is none.
    async fn update_variable(&self, old_path: &RunnablePath, v: &Variable) -> Result<bool>;
    async fn get_variable(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Option<Variable>>;
    async fn list_variables(&self, ws: &WorkspaceId) -> Result<Vec<Variable>>;
    async fn delete_variable(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool>;

    async fn create_resource_type(&self, t: &ResourceType) -> Result<()>;
    /// Replaces a resource type's schema and description; false when there is none.
    async fn update_resource_type(&self, t: &ResourceType) -> Result<bool>;
    async fn get_resource_type(&self, ws: &WorkspaceId, name: &str) -> Result<Option<ResourceType>>;
    async fn list_resource_types(&self, ws: &WorkspaceId) -> Result<Vec<ResourceType>>;
    async fn delete_resource_type(&self, ws: &WorkspaceId, name: &str) -> Result<bool>;

    async fn create_resource(&self, r: &Resource) -> Result<()>;
    /// Replaces the resource at `old_path` (which `r.path` may rename); false when there is none.
    async fn update_resource(&self, old_path: &RunnablePath, r: &Resource) -> Result<bool>;
    async fn get_resource(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Option<Resource>>;
    async fn list_resources(&self, ws: &WorkspaceId) -> Result<Vec<Resource>>;
    async fn delete_resource(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool>;

    /// Saves a new version of an app: version 1 when `create` (a `Conflict`
    /// if the path has an app), else the newest plus one (`None` when the
    /// path has no app). Answers the version.
    async fn save_app(&self, app: &App, create: bool) -> Result<Option<i64>>;
    /// The newest version, or the given one.
    async fn get_app(&self, ws: &WorkspaceId, path: &RunnablePath, version: Option<i64>) -> Result<Option<App>>;
    /// The newest version of every app.
    async fn list_apps(&self, ws: &WorkspaceId) -> Result<Vec<App>>;
    /// Every version of an app, newest first.
    async fn app_history(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Vec<App>>;
    /// Deletes every version; false when there was none.
    async fn delete_app(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool>;
}

/// The workspace webhook (contract §9): its settings, and the delivery of
/// the workspace's events, oldest first per workspace, every attempt kept.
#[async_trait]
pub trait OutboxStore: Send + Sync + 'static {
    async fn webhook_settings(&self, ws: &WorkspaceId) -> Result<Option<WebhookSettings>>;
    /// Sets (or, with `None`, clears) the webhook and its sealed secret; enables it again.
    async fn set_webhook(&self, ws: &WorkspaceId, url: Option<&str>, secret: Option<&str>, now: Millis) -> Result<()>;
    /// Stops deliveries to the webhook, saying why (its endpoint answered 410).
    async fn disable_webhook(&self, ws: &WorkspaceId, reason: &str) -> Result<()>;
    /// Records an event that no other change carries in its own transaction.
    async fn record_event(&self, ws: &WorkspaceId, kind: &str, payload: &str, now: Millis) -> Result<()>;
    /// Claims, until `hold_until`, a run of pending events in each of at most
    /// `workspaces` workspaces whose oldest pending event is due and
    /// unclaimed: from that event on, in id order, at most `per_workspace`,
    /// ending before the first that is not due or is held. No other claim
    /// takes any of a workspace's events while its run is held. `hold_until`
    /// is the claim's token: outcomes and releases name it.
    async fn claim_events(
        &self,
        now: Millis,
        hold_until: Millis,
        workspaces: i64,
        per_workspace: i64,
    ) -> Result<Vec<ClaimedEvent>>;
    /// Records, in one transaction, the outcomes of events of `ws` claimed
    /// with the token `held_until` (each with its attempt, if one was made;
    /// an event no longer held by that claim is left as it is), then
    /// releases what the claim still holds of the workspace or claims the
    /// workspace's next run under the same claim (see [`AfterFinish`]).
    async fn finish_events(
        &self,
        ws: &WorkspaceId,
        held_until: Millis,
        done: &[EventFinish],
        then: AfterFinish,
    ) -> Result<FinishedEvents>;
    /// Deletes up to `limit` delivered, skipped or failed events created
    /// before `before`, with their attempts (never a pending one); answers how many.
    async fn purge_events(&self, before: Millis, limit: i64) -> Result<u64>;
    /// Changes after transactions that recorded workspace events committed:
    /// at the commit in this process (SQLite), or within 10 ms of a commit in
    /// any process on the database (PostgreSQL: a probe of the newest event,
    /// started by the first call).
    fn event_signal(&self) -> tokio::sync::watch::Receiver<u64>;
    /// The newest events of a workspace with their delivery state.
    async fn event_log(&self, ws: &WorkspaceId, limit: i64) -> Result<Vec<EventDelivery>>;
    /// One event of a workspace with its delivery state.
    async fn event_delivery(&self, ws: &WorkspaceId, id: i64) -> Result<Option<EventDelivery>>;
    async fn event_attempts(&self, event_id: i64) -> Result<Vec<EventAttempt>>;
    /// Sends again one event (`id`), or every failed one created since `failed_since`; answers how many.
    async fn replay_events(
        &self,
        ws: &WorkspaceId,
        id: Option<i64>,
        failed_since: Option<Millis>,
        now: Millis,
    ) -> Result<u64>;
}

/// Script versions.
#[async_trait]
pub trait ScriptStore: Send + Sync + 'static {
    /// Stores a new version. `Conflict` when its hash is taken or when
    /// `parent_hash` is not the newest version of the path. Answers the
    /// parent actually stored: the given one, or the newest version's hash.
    async fn insert_script(&self, script: &NewScript) -> Result<Option<ScriptHash>>;
    /// The newest version at `path`, archived or not.
    async fn latest_script(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Option<Script>>;
    async fn script_by_hash(&self, ws: &WorkspaceId, hash: ScriptHash) -> Result<Option<Script>>;
    /// The newest version of every path, archived ones included only when asked.
    async fn list_scripts(&self, ws: &WorkspaceId, include_archived: bool) -> Result<Vec<Script>>;
    /// Every version at `path`, newest first.
    async fn script_history(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Vec<Script>>;
    /// Archives every version at `path`; false when the path has none.
    async fn archive_script(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool>;
    /// Deletes every version at `path`; false when the path has none.
    async fn delete_script(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool>;
}

/// Flow versions.
#[async_trait]
pub trait FlowStore: Send + Sync + 'static {
    /// Stores a new version and answers its number. With `rename_from`, the
    /// earlier versions at that path move to the new path first, in the same
    /// transaction (`Conflict` when the new path has versions of its own).
    async fn insert_flow(&self, flow: &NewFlow, rename_from: Option<&RunnablePath>) -> Result<FlowVersion>;
    /// The newest version at `path`, archived or not.
    async fn latest_flow(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Option<Flow>>;
    async fn flow_by_version(&self, ws: &WorkspaceId, version: FlowVersion) -> Result<Option<Flow>>;
    /// The newest version of every path, archived ones included only when asked.
    async fn list_flows(&self, ws: &WorkspaceId, include_archived: bool) -> Result<Vec<Flow>>;
    /// Every version at `path`, newest first.
    async fn flow_history(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<Vec<Flow>>;
    /// Archives (or unarchives) every version at `path`; false when the path has none.
    async fn archive_flow(&self, ws: &WorkspaceId, path: &RunnablePath, archived: bool) -> Result<bool>;
    /// Deletes every version at `path`; false when the path has none.
    async fn delete_flow(&self, ws: &WorkspaceId, path: &RunnablePath) -> Result<bool>;
}

/// The queue: jobs from enqueue to their end.
#[async_trait]
pub trait QueueStore: Send + Sync + 'static {
    /// Commits new jobs in one transaction. Each answer says whether the job
    /// was created or an earlier one (same id or idempotency key) stands.
    async fn enqueue(&self, jobs: &[NewJob]) -> Result<Vec<Enqueued>>;
    /// Claims the oldest due queued job with one of `tags`, in one atomic statement.
    async fn claim(&self, claim: &Claim<'_>) -> Result<Option<Job>>;
    /// Claims up to `limit` more due flow runs (jobs of kind `flow` with no
    /// concurrency limit) with one of `tags`, oldest first, in one atomic
    /// statement: a flow run's start holds no slot, so a worker starts many
    /// in one commit.
    async fn claim_flows(&self, claim: &Claim<'_>, limit: i64) -> Result<Vec<Job>>;
    /// Extends the lease of a running job this worker holds.
    async fn renew_lease(&self, id: JobId, worker: &str, lease_until: Millis) -> Result<LeaseState>;
    /// Finishes a running job this worker holds; false when the worker lost it.
    async fn complete(&self, done: &Completion<'_>) -> Result<bool>;
    /// `complete`, then `claim`: a worker slot's turn. One transaction where
    /// the store gains by it (SQLite: one commit instead of two through its
    /// one write connection); all or nothing there.
    async fn complete_and_claim(&self, done: &Completion<'_>, claim: &Claim<'_>) -> Result<(bool, Option<Job>)> {
        let completed = self.complete(done).await?;
        Ok((completed, self.claim(claim).await?))
    }
    /// Re-queues (once) or fails running jobs whose lease ended before `now`.
    async fn sweep_expired_leases(&self, now: Millis, max_retries: i32) -> Result<Vec<Swept>>;
    /// Deletes up to `limit` idempotency keys whose window ended by `now`
    /// (an ended key finds nothing already); answers how many.
    async fn purge_idempotency_keys(&self, now: Millis, limit: i64) -> Result<u64>;
    /// Cancels a queued job at once, or asks the worker of a running one.
    /// A flow run is canceled with everything it started: its queued jobs
    /// and nested runs end canceled, its running steps are asked to stop.
    async fn cancel(&self, ws: &WorkspaceId, id: JobId, reason: &str, now: Millis) -> Result<CancelOutcome>;
    /// Commits one step of the flow engine, all or nothing.
    async fn commit_flow(&self, commit: &FlowCommit) -> Result<FlowCommitted>;
    /// The child jobs of a flow run for step `step_id` (all steps when
    /// `None`), in index order.
    async fn flow_children(&self, parent: JobId, step_id: Option<&str>) -> Result<Vec<FlowChild>>;
    /// Flow runs whose `wake_at` came (suspends past their deadline).
    async fn due_flow_wakes(&self, now: Millis) -> Result<Vec<(WorkspaceId, JobId)>>;
    /// Started flow runs still running (parked, no worker holds them), by
    /// id, `limit` at a time after `after`: the repair pass reads them.
    async fn running_flows(&self, after: Option<JobId>, limit: i64) -> Result<Vec<Job>>;
}

/// Job reads and what jobs produce: logs and result streams.
#[async_trait]
pub trait OutputStore: Send + Sync + 'static {
    async fn get_job(&self, ws: &WorkspaceId, id: JobId) -> Result<Option<Job>>;
    /// A job by id alone, whatever its workspace: for the server's own
    /// bookkeeping (the sweep), never for a request.
    async fn job_by_id(&self, id: JobId) -> Result<Option<Job>>;
    async fn list_jobs(&self, ws: &WorkspaceId, filter: &JobFilter) -> Result<Vec<Job>>;
    /// Appends a chunk of logs written at byte `offset`.
    async fn append_logs(&self, id: JobId, offset: i64, chunk: &str) -> Result<()>;
    /// The logs from byte `from` on.
    async fn read_logs(&self, id: JobId, from: i64) -> Result<String>;
    /// Appends a chunk of the result stream written at byte `offset`.
    async fn append_stream(&self, id: JobId, offset: i64, chunk: &str) -> Result<()>;
    /// The result stream from byte `from` on.
    async fn read_stream(&self, id: JobId, from: i64) -> Result<String>;
    /// A job and its whole result stream: what a sync caller answers with.
    /// One read where the store gains by it (SQLite: one round trip to a
    /// connection's thread instead of two).
    async fn get_job_and_stream(&self, ws: &WorkspaceId, id: JobId) -> Result<Option<(Job, String)>> {
        let Some(job) = self.get_job(ws, id).await? else { return Ok(None) };
        let stream = self.read_stream(id, 0).await?;
        Ok(Some((job, stream)))
    }
    /// Wipes args, logs, stream and result of a finished job (`delete_after_use`).
    async fn purge_job(&self, id: JobId) -> Result<()>;
}

/// Inbound webhook definitions and their history.
#[async_trait]
pub trait HookStore: Send + Sync + 'static {
    /// Saves a new definition; `Conflict` when its name is taken in the workspace.
    async fn create_hook(&self, hook: &Hook) -> Result<()>;
    /// A definition by its URL id, in any workspace.
    async fn get_hook(&self, id: &str) -> Result<Option<Hook>>;
    async fn list_hooks(&self, ws: &WorkspaceId) -> Result<Vec<Hook>>;
    /// Replaces name, config and `updated_at`; false when it does not exist.
    async fn update_hook(&self, hook: &Hook) -> Result<bool>;
    /// Deletes a definition with its history and delivery ids.
    async fn delete_hook(&self, ws: &WorkspaceId, id: &str) -> Result<bool>;
    async fn set_hook_verified(&self, id: &str) -> Result<()>;
    /// Records events and enqueues their jobs in one transaction (group
    /// commit). An event whose `delivery` id was acted on (before, or earlier
    /// in the batch) is recorded as `duplicate` and enqueues nothing.
    async fn record_hook_events(&self, events: &[HookRecord]) -> Result<Vec<HookRecorded>>;

    /// [`HookStore::record_hook_events`] for one event.
    async fn record_hook_event(
        &self,
        event: &HookEvent,
        delivery: Option<&str>,
        jobs: &[NewJob],
    ) -> Result<HookRecorded> {
        let record = HookRecord {
            event: event.clone(),
            delivery: delivery.map(str::to_owned),
            jobs: jobs.to_vec(),
            release_ended_keys: Vec::new(),
        };
        let mut answers = self.record_hook_events(&[record]).await?;
        answers.pop().ok_or_else(|| StoreError::Internal("recording an event answered nothing".into()))
    }
    /// A hook's events, newest first, older than the record id `before`.
    async fn list_hook_events(&self, hook_id: &str, before: Option<&str>, limit: i64) -> Result<Vec<HookEvent>>;
    /// One event by its record id, or the newest with that event id.
    async fn get_hook_event(&self, hook_id: &str, id: &str) -> Result<Option<HookEvent>>;
    /// Deletes the events (and delivery ids) received before `before`; answers how many.
    async fn purge_hook_events(&self, before: Millis) -> Result<u64>;
    /// Sets the waits an event completed, on its record.
    async fn set_hook_event_waits(&self, id: &str, waits: &serde_json::Value) -> Result<()>;
    /// The steps waiting on a hook (written by [`QueueStore::commit_flow`]).
    async fn hook_waits(&self, hook_id: &str) -> Result<Vec<HookWait>>;
    /// Waits whose deadline is at or before `now`.
    async fn expired_hook_waits(&self, now: Millis, limit: i64) -> Result<Vec<HookWait>>;
    /// Ends a wait: true for the one caller that removed it.
    async fn take_hook_wait(&self, job: JobId) -> Result<bool>;
}

/// Opens the store a URL names (`sqlite:...` or `postgres://...`) and migrates it.
pub async fn connect(url: &str, opts: &ConnectOptions) -> Result<Arc<dyn Store>> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(sqlite::SqliteStore::open(url, opts).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(postgres::PgStore::open(url, opts).await?))
    } else {
        Err(StoreError::Config(format!(
            "DATABASE_URL '{}' is neither sqlite:... nor postgres://...; use e.g. sqlite:./orvanta-data/orvanta.db or postgres://user@host:5432/db",
            redact_url(url)
        )))
    }
}

/// A URL with its password replaced by `***`, safe to print.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacts_passwords() {
        assert_eq!(super::redact_url("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(super::redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(super::redact_url("sqlite:x.db"), "sqlite:x.db");
    }
}
