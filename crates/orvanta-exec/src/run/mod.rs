//! Runs one job: a temporary directory, a scrubbed environment, the language
//! wrapper, limits (timeout, log cap), cancel, and the capture of logs,
//! stream chunks and the result.
//!
//! The way of a job, and where each step lives:
//! 1. the arguments are checked against `main`'s signature (a missing
//!    required one fails the job before anything is spawned);
//! 2. `prepare` makes the job directory (`main.py` or `main.sh`,
//!    `args.json`, the result channel `out.fifo`; TypeScript code goes to
//!    the support directory's script cache, see `support`) and spawns the interpreter in its own process
//!    group, with only the `ORVANTA_*` variables and what the interpreters
//!    need in its environment;
//! 3. `supervise` forwards logs and stream chunks as they come, and on
//!    timeout or cancel stops the whole group: SIGTERM, then SIGKILL after
//!    the grace period; a job that ends by itself takes along whatever it
//!    left running in its group;
//! 4. the outcome is built from the wrapper's last message (`channel`) and
//!    the exit status, and the directory is removed.
//!
//! Decisions the wrappers implement (see `wrappers/`): Python calls
//! `main(**args)`; TypeScript calls `main(...)` with the arguments in
//! parameter order, `undefined` for an absent one so its default applies,
//! and, when `main` takes extra arguments (`...rest`), one more: an object
//! of the arguments no parameter names (so `rest` is `[{...extras}]`). A generator (Python) or async iterable
//! (TypeScript) streams each yielded value (strings as they are, the rest as
//! JSON text) and its return value, if any, is the result (else `null`).
//! Python results that are not JSON travel as: bytes → base64 text, sets →
//! lists, dates → ISO 8601, anything else → `str()`. Bash gets its arguments
//! positionally in parameter order (strings as they are, other values as
//! JSON text, an absent one as an empty string) and its result is the last
//! non-blank line of stdout: JSON if it parses, else that text.

mod ahead;
mod channel;
mod logs;
mod prepare;
mod spare;
mod supervise;
pub(crate) mod support;
mod sys;
mod warm;

pub use warm::{WarmConfig, WarmPool, WarmStats};

pub(crate) use prepare::cache_deno;
pub(crate) use sys::{confine_child, kill_pid, Signal};

use crate::sandbox::JobLimits;
use crate::schema::MainSignature;
use crate::{Runtime, Runtimes};
use orvanta_core::{JobId, Language};
use serde_json::{Map, Value};
use std::fmt;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The default cap on the logs kept for one job: 10 MiB.
pub const DEFAULT_LOG_CAP_BYTES: usize = 10 * 1024 * 1024;
/// The default time between SIGTERM and SIGKILL.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(5);

/// The limits one job runs under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// From the spawn to the kill.
    pub timeout: Duration,
    /// Logs past this many bytes are dropped (after one note); the job goes on.
    pub log_cap_bytes: usize,
    /// How long the job's processes get between SIGTERM and SIGKILL.
    pub kill_grace: Duration,
    /// Memory, processes and file size: the sandbox's defaults where `None`.
    pub resources: JobLimits,
}

impl Limits {
    /// `timeout` with the default log cap and kill grace.
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            log_cap_bytes: DEFAULT_LOG_CAP_BYTES,
            kill_grace: DEFAULT_KILL_GRACE,
            resources: JobLimits::default(),
        }
    }
}

/// One job to run. Not `Debug`: it holds the job's token.
pub struct JobRequest<'a> {
    pub job_id: JobId,
    pub workspace: &'a str,
    pub language: Language,
    pub code: &'a str,
    /// `main`'s signature, parsed from `code`.
    pub signature: &'a MainSignature,
    /// The arguments as the request gave them; undeclared ones are dropped
    /// here unless `main` takes extra arguments.
    pub args: &'a Map<String, Value>,
    /// `ORVANTA_BASE_URL` of the job.
    pub base_url: &'a str,
    /// `ORVANTA_TOKEN` of the job: a short-lived token with the job's rights.
    pub token: &'a str,
    pub limits: Limits,
    /// The job's temporary directory is made inside.
    pub work_root: &'a Path,
    /// The worker's pool: warm processes, and spare sandboxes for jobs
    /// that run in a process of their own; `None`: neither.
    pub warm: Option<Warm<'a>>,
}

/// Where a job's process comes from: a pool, and the key of the script
/// version whose warm processes it may use (two versions must never share
/// a key); `key: None` (or Bash): a process of its own, in a spare sandbox
/// when the pool has one.
#[derive(Debug, Clone, Copy)]
pub struct Warm<'a> {
    pub pool: &'a WarmPool,
    pub key: Option<&'a str>,
}

/// Receives what a job produces while it runs.
#[async_trait::async_trait]
pub trait RunObserver: Send + Sync {
    /// Output of the job (stdout and stderr), in chunks as they arrive, not
    /// split on lines. Python and TypeScript jobs write both to one pipe, so
    /// their order is exact; Bash's stdout is read apart (its last line is
    /// the result), so between its stdout and stderr the order is that of
    /// arrival, which can differ for writes a few microseconds apart.
    async fn on_logs(&self, chunk: &str);
    /// One chunk of the job's result stream (each value its `main` yielded).
    async fn on_stream(&self, chunk: &str);
}

/// Why a job was killed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KillReason {
    /// It ran longer than [`Limits::timeout`].
    Timeout(Duration),
    /// The cancel token fired; the text says so (the caller, who canceled,
    /// knows the user's reason).
    Canceled(String),
}

impl fmt::Display for KillReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KillReason::Timeout(limit) if limit.subsec_millis() == 0 => {
                write!(f, "timed out after {}s", limit.as_secs())
            }
            KillReason::Timeout(limit) => write!(f, "timed out after {}ms", limit.as_millis()),
            KillReason::Canceled(why) => f.write_str(why),
        }
    }
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `main` returned this value.
    Success(Value),
    /// `{"error": {"name", "message", "stack"?, ...}}`: an exception, a missing
    /// argument, a non-zero exit (`exit_code`, `last_logs`), a crash by signal.
    Failure(Value),
    /// Stopped by Orvanta; its processes are gone.
    Killed(KillReason),
}

impl Outcome {
    fn error(name: &str, message: impl Into<String>) -> Self {
        Outcome::Failure(serde_json::json!({ "error": { "name": name, "message": message.into() } }))
    }
}

/// Runs one job to its end and says how it ended. Never panics on what the
/// job does; setup failures (disk full, spawn refused) are failures too.
///
/// Dropping the returned future kills the job's process group and removes
/// its directory.
pub async fn run(
    runtimes: &Runtimes,
    req: JobRequest<'_>,
    observer: &dyn RunObserver,
    cancel: CancellationToken,
) -> Outcome {
    let args = match req.signature.prepare_args(req.args) {
        Ok(args) => args,
        Err(e) => return Outcome::error("MissingArgument", e.to_string()),
    };
    let Some(runtime) = runtimes.get(req.language) else {
        let language = req.language;
        return Outcome::error(
            "RuntimeNotInstalled",
            format!(
                "this worker cannot run {language} scripts: no {language} interpreter was found \
                 when it started; install it (or configure its path) and restart the worker"
            ),
        );
    };
    if cancel.is_cancelled() {
        return Outcome::Killed(KillReason::Canceled(CANCELED.to_owned()));
    }
    if let (Some(warm), Some(key)) = (req.warm, req.warm.and_then(|w| w.key)) {
        if req.language != Language::Bash {
            let outcome = warm::run(warm.pool, key, runtimes, runtime, &req, &args, observer, cancel.clone()).await;
            if let Some(outcome) = outcome {
                return outcome;
            }
            // Every warm process is busy: a process of its own.
        }
    }
    let pool = req.warm.map(|w| w.pool).filter(|_| runtimes.sandbox.spares_fit(&req.limits.resources));
    if let Some(spare) = pool.and_then(WarmPool::take_spare) {
        let launched = spare.launch(runtimes, runtime, &req, &args).await;
        // The next job's sandbox starts beside this job.
        if let Some(pool) = pool {
            pool.refill_spares(runtimes, req.work_root);
        }
        return match launched {
            Ok((spawned, dir)) => {
                let outcome = supervise::supervise(spawned, req.language, req.limits, observer, cancel).await;
                // The job's processes are gone: its folder goes off the job's path.
                dir.remove_later();
                outcome
            }
            Err(e) => spawn_failed(&req, runtime, e),
        };
    }

    let files = prepare::job_files(&req, &args, &runtimes.support);
    let work_root = req.work_root.to_path_buf();
    let name = req.job_id.to_string();
    let owner = runtimes.sandbox.job_owner();
    let python = (req.language == Language::Python3).then(|| (runtime.program.clone(), runtimes.support.clone()));
    let created = tokio::task::spawn_blocking(move || {
        prepare::JobDir::create(&work_root, &name, &files, owner, python.as_ref().map(|(p, s)| (p.as_path(), s)))
    })
    .await;
    let dir = match created {
        Ok(Ok(dir)) => dir,
        Ok(Err(e)) => return setup_failed(&req, &e),
        Err(e) => return setup_failed(&req, &e),
    };
    prepare::cache_new_deno_script(runtimes, runtime, &req, &dir).await;
    let spawned = prepare::spawn(runtimes, runtime, &req, &args, &dir);
    if let Some(pool) = pool {
        // Spares for the jobs to come, beside this one.
        pool.refill_spares(runtimes, req.work_root);
    }
    let outcome = match spawned {
        Ok(spawned) => supervise::supervise(spawned, req.language, req.limits, observer, cancel).await,
        Err(e) => spawn_failed(&req, runtime, e),
    };
    dir.remove().await;
    outcome
}

fn spawn_failed(req: &JobRequest<'_>, runtime: &Runtime, e: prepare::SpawnError) -> Outcome {
    match e {
        prepare::SpawnError::Limits(e) => {
            tracing::error!(job_id = %req.job_id, "could not make the job's cgroup: {e}");
            Outcome::error("SandboxError", format!("the worker could not set the job's limits (cgroup): {e}"))
        }
        prepare::SpawnError::Start(e) => {
            tracing::error!(job_id = %req.job_id, "could not start {}: {e}", runtime.program.display());
            Outcome::error(
                "SpawnError",
                format!("could not start {} ({}): {e}", req.language, runtime.program.display()),
            )
        }
    }
}

/// The text of [`KillReason::Canceled`].
const CANCELED: &str = "canceled while running";

fn setup_failed(req: &JobRequest<'_>, e: &dyn fmt::Display) -> Outcome {
    tracing::error!(job_id = %req.job_id, work_root = %req.work_root.display(), "could not prepare the job directory: {e}");
    Outcome::error("JobSetupError", format!("the worker could not prepare the job's directory: {e}"))
}
