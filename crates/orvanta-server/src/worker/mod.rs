//! The worker: claims a job, runs it, stores what it produced, completes it.
//!
//! One step is [`try_execute_step`], which returns a [`StepOutcome`]; the loop
//! around it only decides when to step again (at once after work, on an
//! `Enqueued` event or a short timeout when idle, with a backoff on errors).
//! Tests call the step directly instead of sleeping.

mod lease;
mod output;

use crate::auth::JobTokenKey;
use crate::cfg::Config;
use crate::flows::{Advanced, Engine, FlowDefs};
use orvanta_core::openflow::ModuleValue;
use orvanta_core::{FlowVersion, Job, JobId, JobKind, JobStatus, Language, ScriptHash, WorkspaceId};
use orvanta_exec::{JobRequest, KillReason, Limits, MainSignature, Outcome, Runtimes};
use orvanta_store::{Claim, Completion, JobEvent, Store, StoreError};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Code a job runs, with its parsed signature (or why it does not parse).
struct Code {
    language: Language,
    content: String,
    signature: Result<MainSignature, String>,
    /// Its warm processes' key: one per script version or flow step.
    warm_key: String,
    /// `false`: the script opted out of warm processes.
    warm: bool,
    /// The script's own limits.
    resources: orvanta_exec::JobLimits,
}

/// What code is cached by: a script version, or a flow step's inline code.
#[derive(Clone, PartialEq, Eq, Hash)]
enum CodeKey {
    Script(ScriptHash),
    Inline(WorkspaceId, FlowVersion, String, String),
}

/// What a worker needs, shared by its slots.
pub struct WorkerCtx {
    pub store: Arc<dyn Store>,
    pub cfg: Arc<Config>,
    pub runtimes: Arc<Runtimes>,
    pub job_key: Arc<JobTokenKey>,
    /// Where this process's job folders are made (`jobs/w<pid>-<time>`).
    pub work_root: PathBuf,
    /// Parsed flow versions, for flow runs and their inline steps.
    pub defs: FlowDefs,
    /// Script versions and flow versions are immutable: their code is cached
    /// with its parsed signature.
    cache: Mutex<HashMap<CodeKey, Arc<Code>>>,
    /// Warm processes, unless turned off.
    pub warm: Option<Arc<orvanta_exec::WarmPool>>,
}

impl WorkerCtx {
    pub fn new(store: Arc<dyn Store>, cfg: Arc<Config>, runtimes: Arc<Runtimes>, job_key: Arc<JobTokenKey>) -> Self {
        // Blocking, once, as the worker starts: clears what stopped workers left.
        let work_root = orvanta_exec::workroot::own_work_root(&cfg.storage.data_dir.join("jobs"));
        let warm = Some(Arc::new(orvanta_exec::WarmPool::new(cfg.warm())));
        Self {
            store,
            cfg,
            runtimes,
            job_key,
            work_root,
            defs: FlowDefs::default(),
            cache: Mutex::new(HashMap::new()),
            warm,
        }
    }

    /// A claim by `worker` now, of this worker's tags.
    fn claim<'a>(&'a self, worker: &'a str) -> Claim<'a> {
        let now = orvanta_core::now_millis();
        Claim { worker, tags: &self.cfg.worker.tags, now, lease_until: now + self.cfg.worker.lease_s as i64 * 1000 }
    }

    /// The flow engine on this worker's store.
    pub fn engine(&self) -> Engine<'_> {
        Engine { store: &*self.store, defs: &self.defs }
    }

    /// The code a job runs: its script version, or its flow step's inline code.
    async fn code(&self, job: &Job) -> Result<Option<Arc<Code>>, StoreError> {
        let key = match (job.script_hash, &job.flow) {
            (Some(hash), _) => CodeKey::Script(hash),
            (None, Some(link)) => CodeKey::Inline(
                job.workspace.clone(),
                link.version,
                link.node.clone(),
                link.step_id.clone().unwrap_or_default(),
            ),
            (None, None) => return Ok(None),
        };
        if let Some(hit) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&key) {
            return Ok(Some(hit.clone()));
        }
        let (language, content, settings) = match &key {
            CodeKey::Script(hash) => match self.store.script_by_hash(&job.workspace, *hash).await? {
                Some(s) => (s.language, s.content, s.settings),
                None => return Ok(None),
            },
            CodeKey::Inline(ws, version, _, _) => {
                let Some(def) = self.defs.get(&*self.store, ws, *version).await? else { return Ok(None) };
                let module = job.flow.as_ref().and_then(|l| crate::flows::step_module(&def, l));
                match module.map(|m| &m.value) {
                    Some(ModuleValue::RawScript { language, content, .. }) => {
                        (*language, content.clone(), Default::default())
                    }
                    _ => return Ok(None),
                }
            }
        };
        let signature = orvanta_exec::parse_main(language, &content).map_err(|e| e.to_string());
        // A script version; a flow version's inline code, by content: the
        // steps of one flow version with the same code share their processes.
        let warm_key = match &key {
            CodeKey::Script(hash) => format!("{}/script/{hash}", job.workspace),
            CodeKey::Inline(ws, version, _, _) => {
                use sha2::Digest;
                let digest = sha2::Sha256::digest(content.as_bytes());
                format!("{ws}/flow/{}/{}", version.get(), hex::encode(&digest[..16]))
            }
        };
        let entry = Arc::new(Code {
            language,
            content,
            signature,
            warm_key,
            warm: settings.warm != Some(false),
            resources: orvanta_exec::JobLimits {
                memory_bytes: settings.memory_bytes,
                max_processes: settings.max_processes,
                file_size_bytes: settings.file_size_bytes,
            },
        });
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 1000 {
            cache.clear();
        }
        cache.insert(key, entry.clone());
        Ok(Some(entry))
    }
}

/// Most flow runs one slot starts in one commit, with the run it claimed.
const FLOW_BATCH: i64 = 63;

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    /// Nothing was due.
    Idle,
    /// A job ran and was completed with this status.
    Ran(JobId, JobStatus),
    /// A job ran but its lease was lost (swept or finished elsewhere): not completed here.
    Lost(JobId),
    /// A flow run was started: its first steps are queued (it runs on without a worker slot).
    FlowStarted(JobId),
}

/// Claims one due job and runs it to the end.
pub async fn try_execute_step(ctx: &WorkerCtx, worker: &str) -> Result<StepOutcome, StoreError> {
    match run_step(ctx, worker, &mut None).await? {
        Step::Settled(outcome) => Ok(outcome),
        Step::Ran(ended) => ended.complete(ctx, worker).await,
    }
}

/// What a step left to do.
enum Step {
    /// Nothing: the outcome is final.
    Settled(StepOutcome),
    /// A job ran: its end is still to be stored.
    Ran(Ended),
}

/// A job that ran, its end not yet stored.
struct Ended {
    id: JobId,
    status: JobStatus,
    result: Value,
}

impl Ended {
    fn completion<'a>(&'a self, worker: &'a str) -> Completion<'a> {
        Completion { id: self.id, worker, status: self.status, result: &self.result, now: orvanta_core::now_millis() }
    }

    async fn complete(&self, ctx: &WorkerCtx, worker: &str) -> Result<StepOutcome, StoreError> {
        if ctx.store.complete(&self.completion(worker)).await? {
            Ok(StepOutcome::Ran(self.id, self.status))
        } else {
            Ok(StepOutcome::Lost(self.id))
        }
    }
}

/// Claims one due job, storing `ended` (the slot's job before) with the
/// claim, and runs it; a script job's end is left to store.
async fn run_step(ctx: &WorkerCtx, worker: &str, ended: &mut Option<Ended>) -> Result<Step, StoreError> {
    let Some(job) = claim(ctx, worker, ended).await? else { return Ok(Step::Settled(StepOutcome::Idle)) };
    tracing::debug!(job = %job.id, path = ?job.path, kind = job.kind.as_str(), "claimed");
    if job.kind == JobKind::Flow {
        // A flow run holds no slot: its start queues its first steps and
        // parks it. The runs queued behind it start in the same commit.
        let id = job.id;
        let mut runs = vec![job];
        match ctx.store.claim_flows(&ctx.claim(worker), FLOW_BATCH).await {
            Ok(more) => runs.extend(more),
            Err(e) => tracing::warn!(error = %e, "more flow runs could not be claimed; starting one"),
        }
        ctx.engine().start_all(runs).await?;
        return Ok(Step::Settled(StepOutcome::FlowStarted(id)));
    }
    let lease = lease::Lease::hold(ctx, &job, worker);
    let (status, result) = execute(ctx, &job, lease.cancel.clone()).await;
    let kept = lease.release().await;
    if !kept {
        tracing::warn!(job = %job.id, "lost the lease while running; not completing");
        return Ok(Step::Settled(StepOutcome::Lost(job.id)));
    }
    if job.kind == JobKind::FlowStep {
        // The step's end and its flow's next step(s) commit together.
        return Ok(Step::Settled(match ctx.engine().ended(&job, status, result, Some(worker.to_owned())).await? {
            Advanced::Done => StepOutcome::Ran(job.id, status),
            Advanced::Lost => StepOutcome::Lost(job.id),
        }));
    }
    Ok(Step::Ran(Ended { id: job.id, status, result }))
}

/// Claims one due job. A job `ended` before is completed in the claim's
/// transaction, so the slot's turn is one commit; if that fails, the end
/// is stored alone (a claim that cannot be read must not hold it back), and
/// what cannot be stored is kept for the next turn.
async fn claim(ctx: &WorkerCtx, worker: &str, ended: &mut Option<Ended>) -> Result<Option<Job>, StoreError> {
    let claim = ctx.claim(worker);
    let Some(end) = ended.as_ref() else { return ctx.store.claim(&claim).await };
    let failed = match ctx.store.complete_and_claim(&end.completion(worker), &claim).await {
        Ok((completed, job)) => {
            if !completed {
                tracing::warn!(job = %end.id, "lost the lease while its end was stored; not completed");
            }
            *ended = None;
            return Ok(job);
        }
        Err(e) => e,
    };
    match end.complete(ctx, worker).await {
        Ok(_) => *ended = None,
        Err(e) => {
            tracing::warn!(job = %end.id, error = %e, "the end of a job could not be stored; the slot tries again")
        }
    }
    Err(failed)
}

fn failure(name: &str, message: impl Into<String>) -> (JobStatus, Value) {
    (JobStatus::Failure, json!({"error": {"name": name, "message": message.into()}}))
}

/// Runs a claimed job; answers its final status and result.
async fn execute(ctx: &WorkerCtx, job: &Job, cancel: lease::CancelSignal) -> (JobStatus, Value) {
    let code = match ctx.code(job).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return failure(
                "ScriptNotFound",
                "the code of this job no longer exists (its script or flow version was deleted)",
            )
        }
        Err(e) => return failure("StoreError", format!("the code could not be loaded: {e}")),
    };
    let signature = match &code.signature {
        Ok(s) => s,
        Err(e) => return failure("InvalidScript", e.clone()),
    };
    let empty = serde_json::Map::new();
    let args = job.args.as_ref().and_then(Value::as_object).unwrap_or(&empty);
    let timeout = Duration::from_secs(job.timeout_s.unwrap_or(ctx.cfg.worker.job_timeout_s).max(1));
    let timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
    let token_until = orvanta_core::now_millis().saturating_add(timeout_ms).saturating_add(300_000);
    let token = ctx.job_key.mint(job.id, token_until);
    let sink = match output::Sink::start(ctx.store.clone(), job, ctx.cfg.worker.log_cap_bytes).await {
        Ok(s) => s,
        Err(e) => return failure("StoreError", format!("the job's output could not be prepared: {e}")),
    };
    let base_url = ctx.cfg.base_url();
    let request = JobRequest {
        job_id: job.id,
        workspace: job.workspace.as_str(),
        language: code.language,
        code: &code.content,
        signature,
        args,
        base_url: &base_url,
        token: &token,
        limits: Limits {
            timeout,
            log_cap_bytes: ctx.cfg.worker.log_cap_bytes,
            kill_grace: Duration::from_millis(ctx.cfg.worker.kill_grace_ms),
            resources: code.resources,
        },
        work_root: &ctx.work_root,
        warm: ctx.warm.as_ref().map(|pool| orvanta_exec::Warm {
            pool,
            key: (code.warm && ctx.cfg.warm.enabled).then_some(code.warm_key.as_str()),
        }),
    };
    let outcome = orvanta_exec::run::run(&ctx.runtimes, request, &sink, cancel.token()).await;
    sink.finish().await;
    match outcome {
        Outcome::Success(v) => (JobStatus::Success, v),
        Outcome::Failure(v) => (JobStatus::Failure, v),
        Outcome::Killed(KillReason::Timeout(d)) => {
            failure("Timeout", format!("the job ran longer than its timeout of {} s and was killed", d.as_secs()))
        }
        Outcome::Killed(KillReason::Canceled(reason)) => {
            let reason = cancel.reason().unwrap_or(reason);
            (
                JobStatus::Canceled,
                json!({"error": {"name": "Canceled", "message": format!("the job was canceled: {reason}")}}),
            )
        }
    }
}

/// Runs worker slots until `shutdown`; each slot steps in a loop.
pub async fn run(ctx: Arc<WorkerCtx>, name: String, shutdown: CancellationToken) {
    let slots = ctx.cfg.worker_slots();
    let mut tasks = Vec::with_capacity(slots);
    for slot in 0..slots {
        let ctx = ctx.clone();
        let id = format!("{name}/{slot}");
        let shutdown = shutdown.clone();
        tasks.push(tokio::spawn(async move { slot_loop(&ctx, &id, shutdown).await }));
    }
    if let Some(pool) = &ctx.warm {
        // The first jobs find their sandboxes started.
        pool.fill_spares(&ctx.runtimes, &ctx.work_root).await;
        let (ctx, shutdown) = (ctx.clone(), shutdown.clone());
        tasks.push(tokio::spawn(async move { reap_loop(&ctx, shutdown).await }));
    }
    for t in tasks {
        let _ = t.await;
    }
    if let Some(pool) = &ctx.warm {
        pool.clear();
    }
    // Every slot has ended: what is left in the folder is removals still queued.
    let root = ctx.work_root.clone();
    let _ = tokio::task::spawn_blocking(move || orvanta_exec::workroot::remove_work_root(&root)).await;
}

/// Ends warm processes idle for too long, every few seconds.
async fn reap_loop(ctx: &WorkerCtx, shutdown: CancellationToken) {
    let Some(pool) = &ctx.warm else { return };
    let every = (pool.config().idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(15));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        pool.reap();
    }
}

/// Steps until `shutdown`. A job's end is stored with the slot's next
/// claim, in one transaction: the slot's turn is its claim and its run.
async fn slot_loop(ctx: &Arc<WorkerCtx>, id: &str, shutdown: CancellationToken) {
    let mut events = ctx.store.subscribe();
    let mut backoff = Duration::from_millis(100);
    let mut ended: Option<Ended> = None;
    while !shutdown.is_cancelled() {
        match run_step(ctx, id, &mut ended).await {
            Ok(Step::Ran(end)) => {
                ended = Some(end);
                backoff = Duration::from_millis(100);
            }
            Ok(Step::Settled(StepOutcome::Idle)) => {
                backoff = Duration::from_millis(100);
                wait_for_work(&mut events, &shutdown).await;
            }
            Ok(Step::Settled(_)) => backoff = Duration::from_millis(100),
            Err(e) => {
                tracing::warn!(worker = id, error = %e, "worker step failed; retrying");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    if let Some(end) = ended {
        let job = end.id;
        if let Err(e) = end.complete(ctx, id).await {
            // The job stays running; its lease runs out and the sweep runs it again.
            tracing::warn!(%job, error = %e, "the end of a job could not be stored");
        }
    }
}

/// Waits for an `Enqueued` event, at most a second (a scheduled job may come due).
async fn wait_for_work(events: &mut tokio::sync::broadcast::Receiver<JobEvent>, shutdown: &CancellationToken) {
    let deadline = tokio::time::sleep(Duration::from_secs(1));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => return,
            _ = shutdown.cancelled() => return,
            e = events.recv() => match e {
                Ok(JobEvent::Enqueued | JobEvent::Resync) => return,
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                    tokio::select! {
                        _ = &mut deadline => return,
                        _ = shutdown.cancelled() => return,
                    }
                }
            },
        }
    }
}

/// Every third of a lease: re-queues or fails jobs whose worker vanished
/// (a flow step that fails so advances its flow), wakes flow runs whose
/// suspend passed its deadline, ends timed-out webhook waits and purges old
/// inbound history, and (every minute) settled workspace events and token
/// notices past their keeping time. (Expired tokens are swept by [`crate::notices`].)
pub async fn sweep_loop(store: Arc<dyn Store>, cfg: Arc<Config>, shutdown: CancellationToken) {
    let every = Duration::from_millis((cfg.worker.lease_s * 1000 / 3).max(500));
    let defs = FlowDefs::default();
    let engine = Engine { store: &*store, defs: &defs };
    let mut last_repair: Option<std::time::Instant> = None;
    let mut last_purge: Option<std::time::Instant> = None;
    let mut last_outbox_purge: Option<std::time::Instant> = None;
    let mut last_key_purge: Option<std::time::Instant> = None;
    while !shutdown.is_cancelled() {
        if last_repair.is_none_or(|t| t.elapsed() >= REPAIR_EVERY) {
            last_repair = Some(std::time::Instant::now());
            repair_flows(&engine, &*store).await;
        }
        let now = orvanta_core::now_millis();
        match store.sweep_expired_leases(now, cfg.worker.max_retries).await {
            Ok(swept) if !swept.is_empty() => {
                tracing::warn!(?swept, "jobs of vanished workers swept");
                for s in swept {
                    if let orvanta_store::Swept::Failed(id) | orvanta_store::Swept::Canceled(id) = s {
                        after_external_end(&engine, &*store, id).await;
                    }
                }
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "lease sweep failed"),
        }
        match store.due_flow_wakes(now).await {
            Ok(due) => {
                for (ws, id) in due {
                    if let Err(e) = engine.wake(&ws, id).await {
                        tracing::warn!(flow = %id, error = %e, "a flow run past its deadline could not be woken");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "the flow wake check failed"),
        }
        end_expired_waits(&engine, &*store, now).await;
        if cfg.inbound.history_days > 0 && last_purge.is_none_or(|t| t.elapsed() >= REPAIR_EVERY) {
            last_purge = Some(std::time::Instant::now());
            let before = now - (cfg.inbound.history_days as i64).saturating_mul(86_400_000);
            match store.purge_hook_events(before).await {
                Ok(n) if n > 0 => tracing::info!(count = n, "inbound webhook history past its keeping time purged"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "the inbound webhook history purge failed"),
            }
        }
        if last_key_purge.is_none_or(|t| t.elapsed() >= REPAIR_EVERY) {
            last_key_purge = Some(std::time::Instant::now());
            purge_idempotency_keys(&*store, now).await;
        }
        if cfg.server.event_retention_days > 0 && last_outbox_purge.is_none_or(|t| t.elapsed() >= REPAIR_EVERY) {
            last_outbox_purge = Some(std::time::Instant::now());
            crate::outbound::purge(&*store, cfg.server.event_retention_days, now).await;
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

/// Idempotency keys deleted per statement: each batch is one short turn of
/// SQLite's one writer.
const KEY_PURGE_BATCH: i64 = 5_000;

/// Most batches per pass: a backlog (the first pass after an upgrade) is
/// worked off over several minutes instead of holding up the sweep.
const KEY_PURGE_BATCHES: usize = 20;

/// How long after its window a key is kept: a request stamped just before
/// the window ended still finds it when it commits a moment later.
const KEY_PURGE_GRACE_MS: i64 = 60_000;

/// Deletes the idempotency keys whose window ended (they find nothing
/// already; without this the table only grew, by one row per key ever used),
/// a batch at a time.
async fn purge_idempotency_keys(store: &dyn Store, now: orvanta_core::Millis) {
    let mut total = 0;
    for _ in 0..KEY_PURGE_BATCHES {
        match store.purge_idempotency_keys(now - KEY_PURGE_GRACE_MS, KEY_PURGE_BATCH).await {
            Ok(n) => {
                total += n;
                if n < KEY_PURGE_BATCH as u64 {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the purge of ended idempotency keys failed");
                break;
            }
        }
        tokio::task::yield_now().await;
    }
    if total > 0 {
        tracing::info!(count = total, "idempotency keys past their window purged");
    }
}

/// Fails the `waitforwebhook` steps whose timeout passed with no matching event.
async fn end_expired_waits(engine: &Engine<'_>, store: &dyn Store, now: orvanta_core::Millis) {
    let expired = match store.expired_hook_waits(now, 500).await {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "the inbound webhook wait check failed");
            return;
        }
    };
    for wait in expired {
        let secs = (wait.deadline.unwrap_or(now) - wait.created_at) / 1000;
        let message =
            format!("step '{}' waited {secs} s for a matching inbound webhook event; none came", wait.step_id);
        let error = json!({"error": {"name": "WebhookTimeout", "message": message}});
        if let Err(e) = engine.end_wait(&wait, JobStatus::Failure, error).await {
            tracing::warn!(flow = %wait.flow, error = %e, "a timed-out inbound webhook wait could not end its step");
        }
    }
}

/// A job of a flow run ended outside the worker (swept, canceled): its flow
/// hears of it as of any end.
pub async fn after_external_end(engine: &Engine<'_>, store: &dyn Store, id: JobId) {
    let job = match store.job_by_id(id).await {
        Ok(Some(j)) if j.parent_job.is_some() && j.status.is_final() => j,
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(job = %id, error = %e, "a flow could not hear of its job's end");
            return;
        }
    };
    let result = job.result.clone().unwrap_or(Value::Null);
    if let Err(e) = engine.ended(&job, job.status, result, None).await {
        tracing::warn!(job = %id, error = %e, "a flow could not hear of its job's end");
    }
}

/// How often the running flow runs are checked for an end they missed.
const REPAIR_EVERY: Duration = Duration::from_secs(60);

/// Finds flow runs whose current step ended without the run hearing of it
/// (the process died between a sweep or a cancel and the advance that
/// follows it) and advances them. Ends are idempotent in the engine, so a
/// run that did hear changes nothing.
pub async fn repair_flows(engine: &Engine<'_>, store: &dyn Store) {
    let grace = 10_000;
    let now = orvanta_core::now_millis();
    let mut after = None;
    loop {
        let batch = match store.running_flows(after, 200).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "the flow repair pass could not list running flows");
                return;
            }
        };
        let Some(last) = batch.last() else { return };
        after = Some(last.id);
        for run in &batch {
            let state = orvanta_flow::FlowState::from_json(run.flow_state.as_ref());
            let current = state.modules.get(state.step).filter(|m| m.iter.is_none() && m.branch.is_none());
            let waiting = current
                .into_iter()
                .chain(state.failure.iter())
                .filter(|m| m.status == orvanta_flow::state::ModuleStatus::Running)
                .filter_map(|m| m.job);
            for id in waiting {
                let Ok(Some(job)) = store.job_by_id(id).await else { continue };
                if job.status.is_final() && job.completed_at.is_some_and(|t| t < now - grace) {
                    tracing::warn!(flow = %run.id, job = %id, "a flow run missed the end of its step; advancing it now");
                    after_external_end(engine, store, id).await;
                }
            }
        }
        if batch.len() < 200 {
            return;
        }
    }
}
