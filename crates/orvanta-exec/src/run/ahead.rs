//! What a warm pool starts ahead of the jobs that need it, in tasks of their
//! own: spare sandboxes (`spare.rs`) for jobs in a process of their own, and
//! the successor of a warm process that is worn out (`jobs_per_process`), so
//! that no job waits for a process to start when one is replaced.

use super::spare::Spare;
use super::warm::{lock, retire, State, WarmPool, WarmProcess};
use super::{JobRequest, Limits};
use crate::schema::MainSignature;
use crate::{Runtime, Runtimes};
use orvanta_core::{JobId, Language};
use serde_json::Map;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tokio::time::Instant;

impl WarmPool {
    /// Starts spare sandboxes until the pool has its number, ready or
    /// starting, and returns when they are. Call it from the runtime the
    /// jobs run in.
    pub async fn fill_spares(&self, runtimes: &Runtimes, work_root: &Path) {
        if runtimes.sandbox.spares_fit(&Default::default()) {
            fill(&self.state, self.config.spares, runtimes, work_root).await;
        }
    }

    /// As `fill_spares`, in a task of its own: a job that took a spare
    /// does not wait for the next one to start (forking from the worker
    /// and bubblewrap's set-up take milliseconds, sometimes tens).
    pub(crate) fn refill_spares(&self, runtimes: &Runtimes, work_root: &Path) {
        if !runtimes.sandbox.spares_fit(&Default::default()) || !wants_spare(&lock(&self.state), self.config.spares) {
            return;
        }
        let (state, wanted, runtimes, work_root) =
            (self.state.clone(), self.config.spares, runtimes.clone(), work_root.to_path_buf());
        tokio::spawn(async move { fill(&state, wanted, &runtimes, &work_root).await });
    }

    /// Starts the successor of a worn-out process of `key` (the script
    /// version of `req`): in a task of its own, its interpreter starts and,
    /// once up, it goes idle in the pool, where the next job of `key` finds
    /// it before the worn one (and imports the script, as a first job
    /// does). False when the pool has no room for it.
    pub(super) fn start_successor(
        &self,
        runtimes: &Runtimes,
        runtime: &Runtime,
        req: &JobRequest<'_>,
        key: &str,
    ) -> bool {
        {
            let mut state = lock(&self.state);
            if state.closed || state.stats.live >= self.config.max_processes {
                return false;
            }
            state.stats.live += 1;
            state.stats.started += 1;
        }
        let version = Version::of(req);
        let (state, runtimes, runtime, key) = (self.state.clone(), runtimes.clone(), runtime.clone(), key.to_owned());
        tokio::spawn(async move {
            let req = version.request();
            let ready = match WarmProcess::start(&runtimes, &runtime, &req, &key).await {
                Ok(mut process) => {
                    if process.warm_up().await {
                        Some(process)
                    } else {
                        tracing::warn!(%key, "a warm process's successor did not get ready; the worn one serves on");
                        retire(vec![process]);
                        None
                    }
                }
                Err(e) => {
                    tracing::warn!(%key, "could not start a warm process's successor: {e}");
                    None
                }
            };
            let mut state = lock(&state);
            match ready {
                Some(mut process) if !state.closed => {
                    process.last_used = Instant::now();
                    state.idle.push(process);
                }
                other => {
                    state.stats.live = state.stats.live.saturating_sub(1);
                    retire(other.into_iter().collect());
                }
            }
        });
        true
    }
}

/// What a successor is started from: the script version of the job that
/// wore its predecessor out, none of that job's own (no arguments, no token).
struct Version {
    workspace: String,
    language: Language,
    code: String,
    signature: MainSignature,
    args: Map<String, serde_json::Value>,
    base_url: String,
    limits: Limits,
    work_root: PathBuf,
}

impl Version {
    fn of(req: &JobRequest<'_>) -> Self {
        Self {
            workspace: req.workspace.to_owned(),
            language: req.language,
            code: req.code.to_owned(),
            signature: req.signature.clone(),
            args: Map::new(),
            base_url: req.base_url.to_owned(),
            limits: req.limits,
            work_root: req.work_root.to_path_buf(),
        }
    }

    fn request(&self) -> JobRequest<'_> {
        JobRequest {
            job_id: JobId::new(),
            workspace: &self.workspace,
            language: self.language,
            code: &self.code,
            signature: &self.signature,
            args: &self.args,
            base_url: &self.base_url,
            token: "",
            limits: self.limits,
            work_root: &self.work_root,
            warm: None,
        }
    }
}

fn wants_spare(state: &State, wanted: usize) -> bool {
    !state.closed && state.spares.len() + state.spares_starting < wanted
}

/// Starts spares into `state` until it has `wanted`, ready or starting.
async fn fill(state: &Mutex<State>, wanted: usize, runtimes: &Runtimes, work_root: &Path) {
    loop {
        {
            let mut state = lock(state);
            if !wants_spare(&state, wanted) {
                return;
            }
            state.spares_starting += 1;
        }
        let started = Spare::start(runtimes, work_root).await;
        let mut state = lock(state);
        state.spares_starting -= 1;
        match started {
            Ok(spare) if state.closed => retire(vec![spare]),
            Ok(spare) => state.spares.push(spare),
            Err(e) => {
                tracing::warn!("could not start a spare sandbox: {e}");
                return;
            }
        }
    }
}
