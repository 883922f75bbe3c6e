//! `/api/w/{ws}/jobs/run_and_stream/...` and `/jobs_u/getupdate_sse/{id}`:
//! job updates as server-sent events (contract §6).
//!
//! One [`Watch`] follows one job: it subscribes to the store's job events and
//! re-reads the job, its logs and its result stream only when an event about
//! that job arrives (or events may have been lost), with a re-read every
//! second as a safety net — every 50 ms during the first 2 s with `?fast=true`.
//! The SSE body is a `futures::stream::unfold` over the watch, so a client that
//! hangs up drops the watch with it: no task outlives its connection.

use super::extract::{PathParams, QueryParams};
use super::jobs_read::readable_job;
use super::jobs_run::{self, Mode, TargetKind};
use super::respond::only_result;
use super::routes::Routes;
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::response::sse::{Event, Sse};
use axum::response::{IntoResponse, Response};
use orvanta_core::{JobId, JobStatus, WorkspaceId};
use orvanta_store::{JobEvent, JobWatch, Store, StoreError};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// A `ping` event after this long without any other.
const PING_EVERY: Duration = Duration::from_secs(5);
/// Re-read the job this often even without an event.
const SAFETY_NET: Duration = Duration::from_secs(1);
/// With `?fast=true`: re-read this often ...
const FAST_EVERY: Duration = Duration::from_millis(50);
/// ... for this long after the stream opened.
const FAST_FOR: Duration = Duration::from_secs(2);

pub fn router() -> Routes {
    let mut run = Routes::new();
    for (kind, suffix) in TargetKind::ALL {
        let handler = move |s: State<AppState>, p: PathParams<(String, String)>, pr: Principal, r: Request| {
            run_and_stream(s, p, pr, r, kind)
        };
        run = run.add(&format!("/jobs/run_and_stream/{suffix}"), jobs_run::GET_POST_RUN, handler);
    }
    jobs_run::with_cors(run, jobs_run::GET_POST_RUN)
        .get("/jobs_u/getupdate_sse/{id}", getupdate_sse)
        .get("/job_u/getupdate_sse/{id}", getupdate_sse)
}

/// Starts the run, then streams it in only_result mode.
async fn run_and_stream(
    State(s): State<AppState>,
    PathParams((ws, rest)): PathParams<(String, String)>,
    principal: Principal,
    req: Request,
    kind: TargetKind,
) -> ApiResult<Response> {
    let started = jobs_run::start(&s, &ws, &principal, kind.parse(&rest)?, req, Mode::Stream).await?;
    Ok(stream_started(&s, &started).await)
}

/// The SSE answer of a started run, in only_result mode (503 with no worker for its tag).
pub async fn stream_started(s: &AppState, started: &jobs_run::Started) -> Response {
    if let Err(refused) = jobs_run::require_worker(s, started).await {
        return refused;
    }
    let id = started.ids[0];
    let opts = WatchOpts { only_result: true, ..WatchOpts::default() };
    let watch = Watch::new(s, started.runnable.workspace().clone(), id, opts);
    jobs_run::with_job_id(watch.into_sse(), id)
}

#[derive(Debug, Default, Deserialize)]
struct SseQuery {
    #[serde(default)]
    fast: bool,
    #[serde(default)]
    only_result: bool,
    log_offset: Option<i64>,
    stream_offset: Option<i64>,
}

/// Updates of an existing job. An unknown job (or one the caller may not
/// read, which is not revealed) of a workspace the caller is a member of is
/// a stream of one `notfound` event.
async fn getupdate_sse(
    State(s): State<AppState>,
    PathParams((ws, id)): PathParams<(String, String)>,
    principal: Principal,
    QueryParams(q): QueryParams<SseQuery>,
) -> ApiResult<Response> {
    // Not a member of the workspace: its 404, as every route answers it.
    principal.role_in(&s, &orvanta_core::WorkspaceId::parse(&ws)?).await?;
    let (ws, job) = match readable_job(&s, &principal, &ws, &id).await {
        Ok(found) => found,
        Err(ApiError::NotFound(_)) => return Ok(one_event(json!({"type": "notfound"}))),
        Err(e) => return Err(e),
    };
    let opts = WatchOpts {
        only_result: q.only_result,
        fast: q.fast,
        log_offset: q.log_offset.unwrap_or(0).max(0),
        stream_offset: q.stream_offset.unwrap_or(0).max(0),
    };
    Ok(Watch::new(&s, ws, job.id, opts).into_sse())
}

fn event(v: &Value) -> Result<Event, Infallible> {
    Ok(Event::default().data(v.to_string()))
}

fn one_event(v: Value) -> Response {
    Sse::new(futures::stream::iter([event(&v)])).into_response()
}

/// How a watch reports.
#[derive(Debug, Default, Clone, Copy)]
struct WatchOpts {
    /// Only result-stream chunks and the final result: no `running`, no logs.
    only_result: bool,
    /// Re-read every 50 ms during the first 2 s (for a job that just started).
    fast: bool,
    /// Logs before this byte are not sent.
    log_offset: i64,
    /// Stream chunks before this byte are not sent.
    stream_offset: i64,
}

/// Follows one job and yields its SSE events, then ends.
struct Watch {
    store: Arc<dyn Store>,
    defs: Arc<crate::flows::FlowDefs>,
    ws: WorkspaceId,
    id: JobId,
    /// The job whose result stream is followed: the job itself, or for a
    /// flow run the step that streams (its last step).
    stream_source: JobId,
    /// The flow state revision last sent as `flow_status`.
    flow_rev: Option<i64>,
    only_result: bool,
    events: JobWatch,
    log_offset: i64,
    stream_offset: i64,
    /// The `running` value last sent.
    running: Option<bool>,
    fast_until: Option<Instant>,
    deadline: Option<Instant>,
    last_sent: Instant,
    /// Whether the job should be re-read before waiting again.
    stale: bool,
    queue: VecDeque<Value>,
    ended: bool,
}

impl Watch {
    /// Subscribes before the first read, so nothing that happens after it is missed.
    fn new(state: &AppState, ws: WorkspaceId, id: JobId, opts: WatchOpts) -> Self {
        let now = Instant::now();
        let timeout = state.cfg.server.sse_timeout_s;
        Self {
            events: state.store.watch(id),
            store: state.store.clone(),
            defs: state.defs.clone(),
            ws,
            id,
            stream_source: id,
            flow_rev: None,
            only_result: opts.only_result,
            log_offset: opts.log_offset,
            stream_offset: opts.stream_offset,
            running: None,
            fast_until: opts.fast.then(|| now + FAST_FOR),
            deadline: (timeout > 0).then(|| now + Duration::from_secs(timeout)),
            last_sent: now,
            stale: true,
            queue: VecDeque::new(),
            ended: false,
        }
    }

    fn into_sse(self) -> Response {
        let events = futures::stream::unfold(self, |mut w| async move {
            let v = w.next().await?;
            Some((event(&v), w))
        });
        Sse::new(events).into_response()
    }

    /// The next event to send; `None` once the stream is over.
    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(v) = self.queue.pop_front() {
                self.last_sent = Instant::now();
                return Some(v);
            }
            if self.ended {
                return None;
            }
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                self.ended = true;
                self.queue.push_back(json!({"type": "timeout"}));
                continue;
            }
            if self.stale {
                self.stale = false;
                if let Err(e) = self.read().await {
                    // A database hiccup: try again at the next wake-up.
                    tracing::warn!(job = %self.id, error = %e, "an SSE stream could not read its job");
                }
                continue;
            }
            self.wait().await;
        }
    }

    /// Re-reads the job and queues what changed.
    async fn read(&mut self) -> Result<(), StoreError> {
        let Some(job) = self.store.get_job(&self.ws, self.id).await? else {
            self.ended = true;
            self.queue.push_back(json!({"type": "notfound"}));
            return Ok(());
        };
        let done = job.status.is_final();
        let mut update = Map::new();
        update.insert("type".into(), "update".into());
        // A flow run's stream is its last step's, once that step exists.
        if let Some(source) = job.flow_state.as_ref().and_then(orvanta_flow::state::stream_job) {
            if source != self.stream_source {
                self.stream_source = source;
                self.events.follow(source);
                self.stream_offset = 0;
            }
        }
        if !self.only_result && job.kind == orvanta_core::JobKind::Flow && self.flow_rev != Some(job.flow_rev) {
            self.flow_rev = Some(job.flow_rev);
            let def = match &job.flow {
                Some(l) => self.defs.get(&*self.store, &self.ws, l.version).await?,
                None => None,
            };
            let shown = super::views::flow_job(&job, "", def.as_deref());
            update.insert("flow_status".into(), shown["flow_status"].clone());
        }
        if !self.only_result {
            let running = job.status == JobStatus::Running;
            if !done && self.running != Some(running) {
                self.running = Some(running);
                update.insert("running".into(), running.into());
            }
            let logs = self.store.read_logs(self.id, self.log_offset).await?;
            if !logs.is_empty() {
                self.log_offset += logs.len() as i64;
                update.insert("new_logs".into(), logs.into());
                update.insert("log_offset".into(), self.log_offset.into());
            }
        }
        let chunk = self.store.read_stream(self.stream_source, self.stream_offset).await?;
        if !chunk.is_empty() {
            self.stream_offset += chunk.len() as i64;
            update.insert("new_result_stream".into(), chunk.into());
            update.insert("stream_offset".into(), self.stream_offset.into());
        }
        if update.len() > 1 {
            self.queue.push_back(Value::Object(update));
        }
        if done {
            // The worker stores the whole stream before it completes the job.
            let stream = self.store.read_stream(self.stream_source, 0).await?;
            let mut last = Map::new();
            last.insert("type".into(), "update".into());
            if !self.only_result && self.running != Some(false) {
                last.insert("running".into(), false.into());
            }
            last.insert("completed".into(), true.into());
            last.insert("only_result".into(), only_result(job.status, job.result, stream));
            self.queue.push_back(Value::Object(last));
            self.ended = true;
        }
        Ok(())
    }

    /// Sleeps until an event about the job, a re-read, a ping or the deadline is due.
    async fn wait(&mut self) {
        let now = Instant::now();
        let every = if self.fast_until.is_some_and(|f| now < f) { FAST_EVERY } else { SAFETY_NET };
        let read_at = now + every;
        let ping_at = self.last_sent + PING_EVERY;
        let wake = [Some(read_at), Some(ping_at), self.deadline].into_iter().flatten().min().unwrap_or(read_at);
        let nap = tokio::time::sleep_until(wake);
        tokio::pin!(nap);
        loop {
            tokio::select! {
                _ = &mut nap => break,
                e = self.events.recv() => match e {
                    JobEvent::Resync => {
                        self.stale = true;
                        return;
                    }
                    e if e.job() == Some(self.id) || e.job() == Some(self.stream_source) => {
                        self.stale = true;
                        return;
                    }
                    _ => {}
                },
            }
        }
        let now = Instant::now();
        if now >= ping_at {
            self.queue.push_back(json!({"type": "ping"}));
        }
        if now >= read_at {
            self.stale = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_result_combines_result_and_stream() {
        let ok = JobStatus::Success;
        assert_eq!(only_result(ok, Some(Value::Null), "ab".into()), json!("ab"));
        assert_eq!(only_result(ok, None, "ab".into()), json!("ab"));
        assert_eq!(only_result(ok, Some(json!({"n": 1})), "ab".into()), json!({"n": 1, "wm_stream": "ab"}));
        assert_eq!(only_result(ok, Some(json!(3)), "ab".into()), json!({"result": 3, "wm_stream": "ab"}));
        assert_eq!(only_result(ok, Some(json!([1])), "ab".into()), json!({"result": [1], "wm_stream": "ab"}));
        assert_eq!(only_result(ok, Some(json!({"n": 1})), String::new()), json!({"n": 1}));
        assert_eq!(only_result(ok, None, String::new()), Value::Null);
        let err = json!({"error": {"name": "E", "message": "m"}});
        assert_eq!(only_result(JobStatus::Failure, Some(err.clone()), "ab".into()), err);
    }
}
