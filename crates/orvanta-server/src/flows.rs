//! The flow engine at work: loads what `orvanta_flow::advance` needs (the
//! flow run's job and state, its enclosing runs, the flow version), turns
//! the actions it answers into one `FlowCommit` (the finished step, every
//! flow state it changed, the jobs it starts), and commits it, reading again
//! and retrying when another worker advanced the same run meanwhile.
//!
//! Called by the worker (a flow job claimed, a step finished), by the resume
//! and cancel URLs of suspended steps, and by the sweep (a step failed by a
//! lost worker, a suspend past its deadline).

use orvanta_core::openflow::{FlowModule, FlowValue, ModuleValue};
use orvanta_core::{
    FlowLink, FlowVersion, Job, JobId, JobKind, JobStatus, Language, NewJob, RunnablePath, Trigger, WorkspaceId,
};
use orvanta_flow::engine::{Action, Ctx, Event, StepCode};
use orvanta_flow::{locate, Evaluator, FlowState};
use orvanta_store::{Activation, Finish, FlowCommit, FlowCommitted, FlowUpdate, Store, StoreError, PARKED};
use serde_json::{json, Map, Value};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// How often an advance is retried when other workers keep changing the run.
const ATTEMPTS: usize = 20;
/// How deep flows may call flows.
const MAX_SUBFLOW_DEPTH: usize = 16;

/// Parsed flow versions (immutable, so cached without expiry, bounded).
#[derive(Default)]
pub struct FlowDefs {
    cache: Mutex<HashMap<(WorkspaceId, FlowVersion), Arc<Def>>>,
}

/// A flow version, parsed.
pub struct Def {
    pub path: RunnablePath,
    pub value: FlowValue,
    /// The value as saved (fields Orvanta does not use included).
    pub raw: Value,
    /// The JSON Schema of the flow's input.
    pub schema: Value,
}

impl FlowDefs {
    /// The parsed flow version, or `None` when it no longer exists.
    pub async fn get(
        &self,
        store: &dyn Store,
        ws: &WorkspaceId,
        v: FlowVersion,
    ) -> Result<Option<Arc<Def>>, StoreError> {
        if let Some(d) = self.cache.lock().unwrap_or_else(|p| p.into_inner()).get(&(ws.clone(), v)) {
            return Ok(Some(d.clone()));
        }
        let Some(flow) = store.flow_by_version(ws, v).await? else { return Ok(None) };
        let value = FlowValue::parse(&flow.value)
            .map_err(|e| StoreError::Corrupt(format!("flow version {v} no longer parses: {e}")))?;
        let def = Arc::new(Def { path: flow.path, value, raw: flow.value, schema: flow.schema });
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() > 1000 {
            cache.clear();
        }
        cache.insert((ws.clone(), v), def.clone());
        Ok(Some(def))
    }
}

/// What the engine needs from the process.
pub struct Engine<'a> {
    pub store: &'a dyn Store,
    pub defs: &'a FlowDefs,
}

/// How an advance went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advanced {
    Done,
    /// The finished job was not this worker's any more: nothing was written.
    Lost,
}

/// The early-return result of a flow run, once its early step finished.
pub fn early_result(job: &Job) -> Option<&Value> {
    job.flow_state.as_ref().and_then(orvanta_flow::state::early_result)
}

/// The module a step job runs, and its code when it is inline.
pub fn step_module<'d>(def: &'d Def, link: &FlowLink) -> Option<&'d FlowModule> {
    locate::module(&def.value, &link.node, link.step_id.as_deref()?)
}

impl Engine<'_> {
    /// A claimed flow job: starts its first module(s).
    pub async fn start(&self, job: Job) -> Result<Advanced, StoreError> {
        let (ws, id) = (job.workspace.clone(), job.id);
        self.advance_from(&ws, id, Event::Start, None, Some(job)).await
    }

    /// Claimed flow jobs: starts them all in one commit. If a run changed
    /// meanwhile (or two share a parent they both end), nothing of the
    /// commit is written and each starts on its own, as [`Self::start`].
    pub async fn start_all(&self, mut jobs: Vec<Job>) -> Result<(), StoreError> {
        if jobs.len() == 1 {
            return self.start(jobs.remove(0)).await.map(drop);
        }
        let runs: Vec<(WorkspaceId, JobId)> = jobs.iter().map(|j| (j.workspace.clone(), j.id)).collect();
        let mut commit = FlowCommit { now: orvanta_core::now_millis(), ..Default::default() };
        for job in jobs {
            let ws = job.workspace.clone();
            self.advance_up(&ws, job, Event::Start, &mut commit).await?;
        }
        if self.store.commit_flow(&commit).await? == FlowCommitted::Done {
            return Ok(());
        }
        tracing::debug!(runs = runs.len(), "a batch of flow starts conflicted; each starts on its own");
        for (ws, id) in runs {
            self.advance(&ws, id, Event::Start, None).await?;
        }
        Ok(())
    }

    /// A job of a flow run ended: completes it (when `finish` says this
    /// worker holds it) and advances its parent, in one commit.
    pub async fn ended(
        &self,
        job: &Job,
        status: JobStatus,
        result: Value,
        finish: Option<String>,
    ) -> Result<Advanced, StoreError> {
        let finish = finish.map(|worker| Finish { id: job.id, worker, status, result: result.clone() });
        let (Some(parent), Some(link)) = (job.parent_job, job.flow.as_ref()) else {
            return self.commit_alone(finish).await;
        };
        let Some(step_id) = link.step_id.clone() else { return self.commit_alone(finish).await };
        let event = Event::Ended { step_id, job: job.id, index: link.index, status, result };
        self.advance(&job.workspace, parent, event, finish).await
    }

    /// A resume event for the suspend step that ran as `job` in the flow run `flow`.
    pub async fn resume(
        &self,
        ws: &WorkspaceId,
        flow: JobId,
        job: JobId,
        resume_id: u32,
        payload: Value,
    ) -> Result<Advanced, StoreError> {
        self.advance(ws, flow, Event::Resumed { job, resume_id, payload }, None).await
    }

    /// Ends a `waitforwebhook` step: an event matched (success, the payload),
    /// or it timed out or lost its webhook (failure). Whoever takes the wait
    /// ends it, so it ends once: false when another already did.
    pub async fn end_wait(
        &self,
        wait: &orvanta_store::HookWait,
        status: JobStatus,
        result: Value,
    ) -> Result<bool, StoreError> {
        if !self.store.take_hook_wait(wait.job).await? {
            return Ok(false);
        }
        let event = Event::Ended { step_id: wait.step_id.clone(), job: wait.job, index: None, status, result };
        self.advance(&wait.workspace, wait.flow, event, None).await?;
        Ok(true)
    }

    /// An inbound webhook of `ws` by id, else by name.
    async fn find_hook(&self, ws: &WorkspaceId, webhook: &str) -> Result<Option<orvanta_store::Hook>, StoreError> {
        if let Some(h) = self.store.get_hook(webhook).await?.filter(|h| &h.workspace == ws) {
            return Ok(Some(h));
        }
        Ok(self.store.list_hooks(ws).await?.into_iter().find(|h| h.name == webhook))
    }

    /// A flow run whose wake time came: a suspend past its deadline.
    pub async fn wake(&self, ws: &WorkspaceId, flow: JobId) -> Result<Advanced, StoreError> {
        self.advance(ws, flow, Event::TimedOut, None).await
    }

    async fn commit_alone(&self, finish: Option<Finish>) -> Result<Advanced, StoreError> {
        let Some(finish) = finish else { return Ok(Advanced::Done) };
        let commit = FlowCommit { finish: Some(finish), now: orvanta_core::now_millis(), ..Default::default() };
        match self.store.commit_flow(&commit).await? {
            FlowCommitted::Lost => Ok(Advanced::Lost),
            _ => Ok(Advanced::Done),
        }
    }

    async fn advance(
        &self,
        ws: &WorkspaceId,
        flow: JobId,
        event: Event,
        finish: Option<Finish>,
    ) -> Result<Advanced, StoreError> {
        self.advance_from(ws, flow, event, finish, None).await
    }

    /// [`Self::advance`], with the run's job as the caller just read it
    /// (a claim): the first attempt starts from it instead of reading it
    /// again; a retry after a conflict reads it afresh.
    async fn advance_from(
        &self,
        ws: &WorkspaceId,
        flow: JobId,
        event: Event,
        finish: Option<Finish>,
        mut known: Option<Job>,
    ) -> Result<Advanced, StoreError> {
        for _ in 0..ATTEMPTS {
            let now = orvanta_core::now_millis();
            let mut commit = FlowCommit { finish: finish.clone(), now, ..Default::default() };
            let job = match known.take().filter(|j| j.id == flow) {
                Some(j) => Some(j),
                None => self.store.get_job(ws, flow).await?,
            };
            if let Some(job) = job {
                self.advance_up(ws, job, event.clone(), &mut commit).await?;
            }
            match self.store.commit_flow(&commit).await? {
                FlowCommitted::Done => return Ok(Advanced::Done),
                FlowCommitted::Lost => return Ok(Advanced::Lost),
                FlowCommitted::Conflict => {
                    tokio::task::yield_now().await;
                    continue;
                }
            }
        }
        Err(StoreError::Conflict(format!("flow run {flow} kept changing while it was advanced; it will be retried")))
    }

    /// Applies `event` to the run `job`, adding its writes to `commit`; a
    /// run that ends hands its end to its parent, in the same commit.
    async fn advance_up(
        &self,
        ws: &WorkspaceId,
        job: Job,
        event: Event,
        commit: &mut FlowCommit,
    ) -> Result<(), StoreError> {
        let mut next = self.advance_one(ws, job, event, commit).await?;
        while let Some((id, ev)) = next.take() {
            let Some(parent) = self.store.get_job(ws, id).await? else { break };
            next = self.advance_one(ws, parent, ev, commit).await?;
        }
        Ok(())
    }

    /// Applies `event` to the run `id`, adding its writes to `commit`;
    /// answers the event for its parent when the run ended.
    async fn advance_one(
        &self,
        ws: &WorkspaceId,
        mut job: Job,
        event: Event,
        commit: &mut FlowCommit,
    ) -> Result<Option<(JobId, Event)>, StoreError> {
        if job.status.is_final() || job.kind != JobKind::Flow {
            return Ok(None);
        }
        let Some(link) = job.flow.clone() else { return Ok(None) };
        let chain = self.ancestors(ws, &job).await?;
        let Some(def) = self.defs.get(self.store, ws, link.version).await? else {
            let error = json!({"error": {"name": "FlowNotFound", "message": format!("flow version {} no longer exists", link.version)}});
            return self.end_now(&job, &link, JobStatus::Failure, error, commit);
        };
        let Some(list) = locate::list(&def.value, &link.node) else {
            let error = json!({"error": {"name": "FlowNotFound", "message": format!("flow version {} has no module list '{}'", link.version, link.node)}});
            return self.end_now(&job, &link, JobStatus::Failure, error, commit);
        };
        let top = link.node.is_empty();
        let failure = if top { def.value.failure_module.as_deref() } else { None };
        let scope = Scope::of(&mut job, &chain);
        // A flow's input is checked against its schema, as a script's arguments are.
        if top && matches!(event, Event::Start) {
            if let Some(missing) = missing_required(&def.schema, &scope.flow_input) {
                let message = format!(
                    "the flow {} needs the argument '{missing}', which the run did not get; pass it in the request",
                    def.path
                );
                let error = json!({"error": {"name": "MissingArgument", "message": message}});
                return self.end_now(&job, &link, JobStatus::Failure, error, commit);
            }
        }
        let ctx = Ctx {
            flow_input: &scope.flow_input,
            outer_results: &scope.outer,
            initial_previous: scope.previous(),
            is_root: top,
            early_return: if top { def.value.early_return.as_deref() } else { None },
            now: commit.now,
        };
        let mut state = FlowState::from_json(job.flow_state.as_ref());
        let evaluator = Evaluator::new();
        let mut events = VecDeque::from([event]);
        let mut wake_at = None;
        let mut end = None;
        while let Some(ev) = events.pop_front() {
            let actions = orvanta_flow::advance(list, failure, &mut state, ev, &ctx, &evaluator);
            for action in actions {
                match action {
                    Action::RunStep {
                        step_id, job: step_job, code, args, timeout_s, tag, delay_ms, failure, ..
                    } => {
                        let node = if failure { locate::FAILURE_NODE.to_owned() } else { link.node.clone() };
                        let module = locate::module(&def.value, &node, &step_id);
                        match self
                            .step_job(
                                &job,
                                &link,
                                &def,
                                module,
                                StepSpec {
                                    step_id: &step_id,
                                    id: step_job,
                                    node,
                                    code,
                                    args,
                                    timeout_s,
                                    tag,
                                    delay_ms,
                                },
                            )
                            .await?
                        {
                            Ok(new) => commit.enqueue.push(new),
                            Err(error) => events.push_back(Event::Ended {
                                step_id,
                                job: step_job,
                                index: None,
                                status: JobStatus::Failure,
                                result: error,
                            }),
                        }
                    }
                    Action::RunNested { step_id, job: nested, node, index, iter, previous, parked, delay_ms } => {
                        let mut args = Map::new();
                        if let Some(iter) = iter {
                            args.insert("iter".into(), iter);
                        }
                        args.insert("previous_result".into(), previous);
                        let when = if parked { PARKED } else { commit.now + delay_ms.max(0) };
                        let nested_link = FlowLink {
                            version: link.version,
                            node,
                            step_id: Some(step_id),
                            index: Some(index),
                            root: link.root,
                        };
                        commit.enqueue.push(child_job(
                            &job,
                            nested,
                            JobKind::Flow,
                            &def.path,
                            Value::Object(args),
                            when,
                            nested_link,
                        ));
                    }
                    Action::RunSubflow { step_id, job: sub, path, args, delay_ms } => {
                        match self
                            .subflow_job(
                                ws,
                                &job,
                                &link,
                                &chain,
                                &step_id,
                                sub,
                                &path,
                                args,
                                commit.now + delay_ms.max(0),
                            )
                            .await?
                        {
                            Ok(new) => commit.enqueue.push(new),
                            Err(error) => events.push_back(Event::Ended {
                                step_id,
                                job: sub,
                                index: None,
                                status: JobStatus::Failure,
                                result: error,
                            }),
                        }
                    }
                    Action::WaitWebhook { step_id, job: wait, webhook, matches, timeout_s } => {
                        match self.find_hook(ws, &webhook).await? {
                            Some(hook) => commit.waits.push(orvanta_store::HookWait {
                                job: wait,
                                hook_id: hook.id,
                                workspace: ws.clone(),
                                flow: job.id,
                                step_id,
                                matches: Value::Array(
                                    matches.into_iter().map(|(path, v)| Value::Array(vec![path.into(), v])).collect(),
                                ),
                                deadline: timeout_s.map(|t| commit.now + (t as i64).saturating_mul(1000)),
                                created_at: commit.now,
                            }),
                            None => {
                                let message = format!(
                                    "step '{step_id}' waits for the inbound webhook '{webhook}', which does not exist in workspace '{ws}'"
                                );
                                events.push_back(Event::Ended {
                                    step_id,
                                    job: wait,
                                    index: None,
                                    status: JobStatus::Failure,
                                    result: json!({"error": {"name": "WebhookNotFound", "message": message}}),
                                });
                            }
                        }
                    }
                    Action::Activate { step_id, index } => {
                        commit.activate.push(Activation { parent: job.id, step_id, index })
                    }
                    Action::Collect { step_id } => {
                        let children = self.store.flow_children(job.id, Some(&step_id)).await?;
                        // The child whose end this very commit records is not final in the
                        // database yet: take its end from the commit.
                        let ending = |id: JobId| -> Option<(JobStatus, Value)> {
                            commit.flows.iter().find(|u| u.id == id).and_then(|u| u.end.clone()).or_else(|| {
                                commit.finish.as_ref().filter(|f| f.id == id).map(|f| (f.status, f.result.clone()))
                            })
                        };
                        let results = children
                            .into_iter()
                            .filter_map(|c| match ending(c.id) {
                                Some(end) => Some(end),
                                None => c.status.is_final().then(|| (c.status, c.result.unwrap_or(Value::Null))),
                            })
                            .collect();
                        events.push_back(Event::Collected { step_id, results });
                    }
                    Action::EarlyReturn { .. } => {}
                    Action::Suspend { until } => wake_at = until,
                    Action::End { status, result } => end = Some((status, result)),
                }
            }
        }
        let parent_event = end.as_ref().and_then(|(status, result)| parent_event(&job, &link, *status, result));
        commit.flows.push(FlowUpdate { id: job.id, rev: job.flow_rev, state: state.to_text(), wake_at, end });
        Ok(parent_event)
    }

    /// Ends a run at once (its flow is gone): its parent hears of it.
    fn end_now(
        &self,
        job: &Job,
        link: &FlowLink,
        status: JobStatus,
        result: Value,
        commit: &mut FlowCommit,
    ) -> Result<Option<(JobId, Event)>, StoreError> {
        let mut state = FlowState::from_json(job.flow_state.as_ref());
        state.ended = true;
        let parent = parent_event(job, link, status, &result);
        commit.flows.push(FlowUpdate {
            id: job.id,
            rev: job.flow_rev,
            state: state.to_text(),
            wake_at: None,
            end: Some((status, result)),
        });
        Ok(parent)
    }

    /// The enclosing runs of `job`, nearest first, up to the run that has a
    /// flow input of its own (a root or a sub-flow), inclusive.
    async fn ancestors(&self, ws: &WorkspaceId, job: &Job) -> Result<Vec<Job>, StoreError> {
        let mut chain: Vec<Job> = Vec::new();
        loop {
            let current = chain.last().unwrap_or(job);
            if current.flow.as_ref().is_none_or(|l| l.node.is_empty()) {
                break;
            }
            let Some(parent) = current.parent_job else { break };
            let Some(p) = self.store.get_job(ws, parent).await? else { break };
            chain.push(p);
        }
        Ok(chain)
    }

    async fn step_job(
        &self,
        flow: &Job,
        link: &FlowLink,
        def: &Def,
        module: Option<&FlowModule>,
        spec: StepSpec<'_>,
    ) -> Result<Result<NewJob, Value>, StoreError> {
        let ws = &flow.workspace;
        let step_link = FlowLink {
            version: link.version,
            node: spec.node,
            step_id: Some(spec.step_id.to_owned()),
            index: None,
            root: link.root,
        };
        let when = orvanta_core::now_millis() + spec.delay_ms.max(0);
        let (path, hash, language, timeout, tag) = match spec.code {
            StepCode::Inline => {
                let Some(ModuleValue::RawScript { language, .. }) = module.map(|m| &m.value) else {
                    return Ok(Err(
                        json!({"error": {"name": "StepNotFound", "message": format!("step '{}' is not in flow version {}", spec.step_id, link.version), "step_id": spec.step_id}}),
                    ));
                };
                (def.path.clone(), None, *language, spec.timeout_s, spec.tag)
            }
            StepCode::Saved { path, hash } => {
                let script = match (&hash, RunnablePath::parse(&path)) {
                    (Some(h), _) => match orvanta_core::ScriptHash::parse(h) {
                        Ok(h) => self.store.script_by_hash(ws, h).await?,
                        Err(_) => None,
                    },
                    (None, Ok(p)) => self.store.latest_script(ws, &p).await?.filter(|s| !s.archived),
                    (None, Err(_)) => None,
                };
                let Some(script) = script else {
                    let what = hash.map(|h| format!("{path} (version {h})")).unwrap_or(path);
                    return Ok(Err(
                        json!({"error": {"name": "ScriptNotFound", "message": format!("step '{}' runs the script {what}, which does not exist (deleted or archived?)", spec.step_id), "step_id": spec.step_id}}),
                    ));
                };
                let tag = spec.tag.or(script.settings.tag.clone());
                (
                    script.path.clone(),
                    Some(script.hash),
                    script.language,
                    spec.timeout_s.or(script.settings.timeout_s),
                    tag,
                )
            }
        };
        let mut new = child_job(flow, spec.id, JobKind::FlowStep, &path, Value::Object(spec.args), when, step_link);
        new.script_hash = hash;
        new.language = Some(language);
        new.timeout_s = timeout;
        new.tag = tag.unwrap_or_else(|| "default".into());
        Ok(Ok(new))
    }

    #[allow(clippy::too_many_arguments)]
    async fn subflow_job(
        &self,
        ws: &WorkspaceId,
        flow: &Job,
        link: &FlowLink,
        chain: &[Job],
        step_id: &str,
        id: JobId,
        path: &str,
        args: Map<String, Value>,
        when: i64,
    ) -> Result<Result<NewJob, Value>, StoreError> {
        let fail = |name: &str, message: String| {
            Ok(Err(json!({"error": {"name": name, "message": message, "step_id": step_id}})))
        };
        let Ok(target) = RunnablePath::parse(path) else {
            return fail(
                "FlowNotFound",
                format!("step '{step_id}' calls the flow '{path}', which is not a valid path"),
            );
        };
        // The flows this run is inside of, from the nearest outwards.
        let mut calls: Vec<RunnablePath> = Vec::new();
        let mut current = Some(chain.last().cloned().unwrap_or_else(|| flow.clone()));
        while let Some(j) = current.take() {
            if let Some(p) = &j.path {
                calls.push(p.clone());
            }
            if calls.len() > MAX_SUBFLOW_DEPTH {
                return fail(
                    "SubflowCycle",
                    format!("step '{step_id}': flows call flows more than {MAX_SUBFLOW_DEPTH} levels deep"),
                );
            }
            current = match j.parent_job {
                Some(p) => self.store.get_job(ws, p).await?,
                None => None,
            };
        }
        if calls.contains(&target) {
            let mut cycle: Vec<String> = calls.iter().rev().map(|p| p.to_string()).collect();
            cycle.push(target.to_string());
            return fail(
                "SubflowCycle",
                format!("step '{step_id}' would call the flow {target} inside itself: {}", cycle.join(" -> ")),
            );
        }
        let Some(sub) = self.store.latest_flow(ws, &target).await?.filter(|f| !f.archived) else {
            return fail(
                "FlowNotFound",
                format!("step '{step_id}' calls the flow {target}, which does not exist (deleted or archived?)"),
            );
        };
        let sub_link = FlowLink {
            version: sub.version,
            node: String::new(),
            step_id: Some(step_id.to_owned()),
            index: None,
            root: link.root,
        };
        Ok(Ok(child_job(flow, id, JobKind::Flow, &sub.path, Value::Object(args), when, sub_link)))
    }
}

/// The first property the schema requires that the input lacks (or holds `null` for).
fn missing_required(schema: &Value, input: &Value) -> Option<String> {
    let required = schema.get("required")?.as_array()?;
    required
        .iter()
        .filter_map(Value::as_str)
        .find(|name| input.get(*name).is_none_or(Value::is_null))
        .map(str::to_owned)
}

/// What a step job is made of.
struct StepSpec<'a> {
    step_id: &'a str,
    id: JobId,
    node: String,
    code: StepCode,
    args: Map<String, Value>,
    timeout_s: Option<u64>,
    tag: Option<String>,
    delay_ms: i64,
}

/// The event a run's parent gets when the run ends.
fn parent_event(job: &Job, link: &FlowLink, status: JobStatus, result: &Value) -> Option<(JobId, Event)> {
    let parent = job.parent_job?;
    let step_id = link.step_id.clone()?;
    // Copied only for a parent: a top-level run's result can be large.
    Some((parent, Event::Ended { step_id, job: job.id, index: link.index, status, result: result.clone() }))
}

/// A job started by the run `flow`.
fn child_job(
    flow: &Job,
    id: JobId,
    kind: JobKind,
    path: &RunnablePath,
    args: Value,
    when: i64,
    link: FlowLink,
) -> NewJob {
    let now = orvanta_core::now_millis();
    NewJob {
        id,
        workspace: flow.workspace.clone(),
        kind,
        path: Some(path.clone()),
        script_hash: None,
        language: None,
        args: args.into(),
        created_by: flow.created_by.clone(),
        permissioned_as: flow.permissioned_as.clone(),
        tag: flow.tag.clone(),
        trigger: Trigger::parse("flow").unwrap_or_else(|_| flow.trigger.clone()),
        scheduled_for: when,
        parent_job: Some(flow.id),
        timeout_s: None,
        idempotency_key: None,
        created_at: now,
        token_prefix: flow.token_prefix.clone(),
        scopes: flow.scopes.clone(),
        concurrency: None,
        flow: Some(link),
    }
}

/// What a run's expressions see from outside its own state.
struct Scope {
    flow_input: Value,
    outer: Map<String, Value>,
    /// The first `previous_result`; `None`: the flow input.
    previous: Option<Value>,
}

impl Scope {
    /// `job`'s flow input (its own args at a root or sub-flow; the nearest
    /// such run's, with the innermost loop's `iter`, when nested), the
    /// results of the enclosing runs, and its first `previous_result`.
    /// A run's own args are taken, not copied (they can be large, and the
    /// run's job is read only for what `advance_one` keeps of it).
    fn of(job: &mut Job, chain: &[Job]) -> Self {
        let nested = job.flow.as_ref().is_some_and(|l| !l.node.is_empty());
        if !nested {
            let input = job.args.take().unwrap_or_else(|| json!({}));
            return Self { previous: None, flow_input: input, outer: Map::new() };
        }
        let arg = |j: &Job, k: &str| j.args.as_ref().and_then(|a| a.get(k)).cloned();
        let input_root = chain.last();
        let mut flow_input = input_root.and_then(|r| r.args.clone()).unwrap_or_else(|| json!({}));
        let iter = std::iter::once(&*job).chain(chain.iter()).find_map(|j| arg(j, "iter"));
        if let (Some(iter), Some(o)) = (iter, flow_input.as_object_mut()) {
            o.insert("iter".into(), iter);
        }
        let mut outer = Map::new();
        for j in chain.iter().rev() {
            outer.extend(FlowState::from_json(j.flow_state.as_ref()).results());
        }
        Self { flow_input, outer, previous: Some(arg(job, "previous_result").unwrap_or(Value::Null)) }
    }

    fn previous(&self) -> &Value {
        self.previous.as_ref().unwrap_or(&self.flow_input)
    }
}

/// The language of an inline step, for jobs listed before they run.
pub fn inline_language(def: &Def, link: &FlowLink) -> Option<Language> {
    match step_module(def, link).map(|m| &m.value) {
        Some(ModuleValue::RawScript { language, .. }) => Some(*language),
        _ => None,
    }
}
