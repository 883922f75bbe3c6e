//! Warm processes: long-lived interpreters (Python, Deno, Bun) that import
//! one script version once and then run its jobs, one at a time, so that a
//! job costs no process start.
//!
//! - **One version per process.** A process serves one key, which the
//!   caller makes from the script version (or the flow step) and workspace:
//!   two versions never share a process, even with the same code. The
//!   script's module-level state persists between its jobs, as in AWS
//!   Lambda; the docs say so.
//! - **The same sandbox** as a job of its own (`sandbox.rs`), with the
//!   script's limits: the process is the job's sandbox, reused.
//! - **Per job**: one JSON line on the process's `in.fifo`
//!   (`{"job", "token", "call", "end"}`: the job's id and token, what `main`
//!   is called with, and a random end marker). The wrapper sets
//!   `ORVANTA_JOB_ID` and `ORVANTA_TOKEN`, goes back to its folder, runs
//!   `main`, sends `{"stream"}`s and `{"result"}` or `{"error"}` on
//!   `out.fifo` as a job of its own does, then writes the end marker to
//!   stdout. Logs are stdout and stderr up to the marker: a job never sees
//!   another's. What a process prints between jobs (a background thread of
//!   an earlier job) is dropped.
//! - **The same outcomes** as a process of its own: missing arguments are
//!   refused before (in `run`), exceptions are `{name, message, stack}`,
//!   `sys.exit(n)` / `Deno.exit(n)` end the process with that code, a crash
//!   is a crash. Cancel, timeout and the process limit kill the process.
//! - **Recycled**: after `jobs_per_process` jobs, when its memory grew past
//!   `memory_bytes`, after a crash, a kill or a job that did not end its
//!   output properly, and after `idle` without a job. At most
//!   `max_processes` per pool, all keys together: the least recently used
//!   idle process makes room; when all are busy, the job runs in a process
//!   of its own.

use super::channel::{Channel, Final};
use super::logs::{EndMarker, LogSink, Utf8Decoder};
use super::prepare::{self, JobDir};
use super::spare::Spare;
use super::supervise::{self, Group, Left, Stop};
use super::sys::{self, Signal};
use super::{JobRequest, KillReason, Outcome, RunObserver, CANCELED};
use crate::sandbox::JobCgroup;
use crate::{Runtime, Runtimes};
use orvanta_core::Language;
use serde_json::{json, Map, Value};
use std::io;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long, after a job's outcome, its end marker may take to come.
const MARKER_WAIT: Duration = Duration::from_secs(2);
/// How long a successor may take to start and import its script.
const WARM_UP_LIMIT: Duration = Duration::from_secs(60);

/// The limits of a pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WarmConfig {
    /// Live processes, all keys together.
    pub max_processes: usize,
    /// A process is replaced after this many jobs.
    pub jobs_per_process: u64,
    /// A process idle this long ends.
    pub idle: Duration,
    /// A process whose memory grew past this is replaced after its job.
    pub memory_bytes: u64,
    /// Sandboxes kept started ahead, for jobs that run in a process of
    /// their own (see `run/spare.rs`); one per job slot is enough.
    pub spares: usize,
}

impl Default for WarmConfig {
    fn default() -> Self {
        Self {
            max_processes: 16,
            jobs_per_process: 1000,
            idle: Duration::from_secs(300),
            memory_bytes: 512 << 20,
            spares: 2,
        }
    }
}

/// What a pool holds and has done, for health and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct WarmStats {
    /// Processes alive: idle and busy.
    pub live: usize,
    pub idle: usize,
    /// Processes started, and jobs run by a process that had run one before.
    pub started: u64,
    pub reused: u64,
    /// Jobs run in a process of their own because every process was busy.
    pub overflowed: u64,
    /// Jobs in a process of their own that found their sandbox started.
    pub spares_used: u64,
}

/// The warm processes of one worker. Made and used in one tokio runtime
/// (its processes' pipes belong to it).
#[derive(Debug)]
pub struct WarmPool {
    pub(super) config: WarmConfig,
    // Shared with the tasks that start processes ahead (`ahead.rs`).
    pub(super) state: Arc<Mutex<State>>,
}

#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) idle: Vec<WarmProcess>,
    pub(super) stats: WarmStats,
    /// Spare sandboxes ready, and how many are being started.
    pub(super) spares: Vec<Spare>,
    pub(super) spares_starting: usize,
    /// Cleared: what finishes starting is ended, not kept.
    pub(super) closed: bool,
}

/// Which process a job gets.
enum Take {
    Idle(Box<WarmProcess>),
    /// A slot is reserved for a new process.
    Spawn,
    /// Every process is busy.
    Full,
}

impl WarmPool {
    pub fn new(config: WarmConfig) -> Self {
        Self { config, state: Arc::new(Mutex::new(State::default())) }
    }

    pub fn config(&self) -> WarmConfig {
        self.config
    }

    pub fn stats(&self) -> WarmStats {
        let state = self.lock();
        WarmStats { idle: state.idle.len(), ..state.stats }
    }

    /// Ends the processes idle for longer than the pool's `idle`; returns
    /// how many. Call it now and then (jobs call it too).
    pub fn reap(&self) -> usize {
        let now = Instant::now();
        let idle = self.config.idle;
        let old: Vec<WarmProcess> = {
            let mut state = self.lock();
            let (old, keep): (Vec<_>, Vec<_>) =
                std::mem::take(&mut state.idle).into_iter().partition(|p| now.duration_since(p.last_used) >= idle);
            state.idle = keep;
            state.stats.live -= old.len();
            old
        };
        let n = old.len();
        retire(old);
        n
    }

    /// Ends every idle process and spare sandbox.
    pub fn clear(&self) {
        let (all, spares) = {
            let mut state = self.lock();
            let all = std::mem::take(&mut state.idle);
            state.stats.live -= all.len();
            state.closed = true;
            (all, std::mem::take(&mut state.spares))
        };
        retire(all);
        retire(spares);
    }

    /// A spare sandbox, if one is ready.
    pub(crate) fn take_spare(&self) -> Option<Spare> {
        loop {
            let mut spare = self.lock().spares.pop()?;
            if spare.alive() {
                self.lock().stats.spares_used += 1;
                return Some(spare);
            }
            retire(vec![spare]);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        lock(&self.state)
    }

    fn take(&self, key: &str) -> Take {
        self.reap();
        let mut victim = None;
        let mut succeeded = Vec::new();
        let worn_out = self.config.jobs_per_process;
        let take = {
            let mut state = self.lock();
            // The newest process of the key, a fresh one first: a worn one
            // serves only until its successor is ready.
            let newest = state
                .idle
                .iter()
                .enumerate()
                .filter(|(_, p)| p.key == key)
                .max_by_key(|(_, p)| (p.jobs < worn_out, p.last_used))
                .map(|(i, _)| i);
            if let Some(i) = newest {
                state.stats.reused += 1;
                let process = state.idle.swap_remove(i);
                if process.jobs < worn_out {
                    let (worn, keep) = std::mem::take(&mut state.idle)
                        .into_iter()
                        .partition(|p: &WarmProcess| p.key == key && p.jobs >= worn_out);
                    state.idle = keep;
                    state.stats.live -= worn.len();
                    succeeded = worn;
                }
                Take::Idle(Box::new(process))
            } else if state.stats.live < self.config.max_processes {
                state.stats.live += 1;
                state.stats.started += 1;
                Take::Spawn
            } else if let Some(i) = state.idle.iter().enumerate().min_by_key(|(_, p)| p.last_used).map(|(i, _)| i) {
                // The least recently used idle process makes room.
                victim = Some(state.idle.swap_remove(i));
                state.stats.started += 1;
                Take::Spawn
            } else {
                state.stats.overflowed += 1;
                Take::Full
            }
        };
        retire(victim.into_iter().chain(succeeded).collect());
        take
    }

    fn give_back(&self, mut process: WarmProcess) {
        process.last_used = Instant::now();
        self.lock().idle.push(process);
    }

    /// A live process ended (or a reserved slot was not used).
    fn forget(&self) {
        let mut state = self.lock();
        state.stats.live = state.stats.live.saturating_sub(1);
    }
}

impl Drop for WarmPool {
    fn drop(&mut self) {
        self.clear();
    }
}

pub(super) fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|p| p.into_inner())
}

/// Ends processes off the async threads: removing a cgroup and a folder
/// may wait a little.
pub(super) fn retire<T: Send + 'static>(processes: Vec<T>) {
    if processes.is_empty() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(handle) => {
            handle.spawn_blocking(move || drop(processes));
        }
        Err(_) => drop(processes),
    }
}

/// A pool's claim on a slot, and the process in it once there is one. A
/// lease dropped with its process (a crash, a kill, the run's future
/// dropped) ends the process and frees the slot.
struct Lease<'a> {
    pool: &'a WarmPool,
    process: Option<WarmProcess>,
}

impl Lease<'_> {
    fn give_back(mut self) {
        if let Some(process) = self.process.take() {
            self.pool.give_back(process);
        }
        std::mem::forget(self);
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        self.pool.forget();
        retire(self.process.take().into_iter().collect());
    }
}

/// Runs one job in a warm process of `key`; `None` when every process of
/// the pool is busy (the caller runs the job in a process of its own).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn run(
    pool: &WarmPool,
    key: &str,
    runtimes: &Runtimes,
    runtime: &Runtime,
    req: &JobRequest<'_>,
    args: &Map<String, Value>,
    observer: &dyn RunObserver,
    cancel: CancellationToken,
) -> Option<Outcome> {
    let mut lease = loop {
        match pool.take(key) {
            Take::Idle(mut process) => {
                if process.alive() {
                    break Lease { pool, process: Some(*process) };
                }
                pool.forget();
                retire(vec![*process]);
            }
            Take::Spawn => break Lease { pool, process: None },
            Take::Full => return None,
        }
    };
    let process = match lease.process.as_mut() {
        Some(process) => process,
        None => match WarmProcess::start(runtimes, runtime, req, key).await {
            Ok(process) => lease.process.insert(process),
            Err(e) => {
                tracing::error!(job_id = %req.job_id, "could not start a warm {}: {e}", req.language);
                return Some(Outcome::error(
                    "SpawnError",
                    format!("could not start {} ({}): {e}", req.language, runtime.program.display()),
                ));
            }
        },
    };
    let call = prepare::call(req, args, &runtimes.support);
    let (outcome, healthy) = process.run_job(req, call, observer, cancel, &pool.config).await;
    let worn_out = pool.config.jobs_per_process;
    if healthy && process.jobs >= worn_out {
        // Worn out: its successor starts now, off this job's path, and it
        // serves on until the successor is ready, at most as many jobs again.
        if !process.succeeded && process.jobs < 2 * worn_out {
            process.succeeded = pool.start_successor(runtimes, runtime, req, key);
        }
        if !process.succeeded || process.jobs >= 2 * worn_out {
            return Some(outcome);
        }
    }
    if healthy {
        lease.give_back();
    }
    Some(outcome)
}

/// One warm process. Dropping it kills it and everything in its sandbox.
#[derive(Debug)]
pub(super) struct WarmProcess {
    // Dropped first: kill_on_drop, then the group's SIGKILL.
    child: Child,
    group: Group,
    key: String,
    language: Language,
    sandboxed: bool,
    requests: pipe::Sender,
    channel: Channel,
    logs: pipe::Receiver,
    buf: Vec<u8>,
    cgroup: Option<JobCgroup>,
    /// The jobs it ran.
    jobs: u64,
    /// Worn out, its successor was started.
    succeeded: bool,
    /// The interpreter's pid, once known.
    interpreter: Option<u32>,
    pub(super) last_used: Instant,
    // Last: removed once the processes are gone.
    /// Held until the processes are gone, then removed.
    _dir: JobDir,
}

/// How a job in a warm process ended.
enum Ended {
    /// Its outcome and its end marker came: the process may serve again.
    Done,
    /// Its outcome came but not its end marker: the process's output is
    /// not trusted any more.
    Unmarked,
    /// The process ended.
    Exited(io::Result<ExitStatus>),
    /// Orvanta stopped it.
    Stopped(Stop),
}

impl WarmProcess {
    pub(super) async fn start(
        runtimes: &Runtimes,
        runtime: &Runtime,
        req: &JobRequest<'_>,
        key: &str,
    ) -> io::Result<Self> {
        let support = &runtimes.support;
        let sandbox = &runtimes.sandbox;
        let files = prepare::script_files(req, support);
        let owner = sandbox.job_owner();
        let python = (req.language == Language::Python3).then(|| (runtime.program.clone(), support.clone()));
        let work_root = req.work_root.to_path_buf();
        let name = format!("warm-{}", orvanta_core::JobId::new());
        let dir = tokio::task::spawn_blocking(move || {
            JobDir::create(&work_root, &name, &files, owner, python.as_ref().map(|(p, s)| (p.as_path(), s)))
        })
        .await
        .map_err(io::Error::other)??;
        prepare::cache_new_deno_script(runtimes, runtime, req, &dir).await;
        let name = dir.name();
        let confinement = prepare::job_confinement(req, dir.path(), &name);
        let (command, cgroup) = sandbox.wrap(
            &runtime.program,
            &prepare::interpreter_arguments(req, support, "serve", dir.path()),
            &confinement,
        )?;
        let mut command = Command::from(command);
        let mut env = prepare::base_environment(runtimes, dir.path());
        env.push(("ORVANTA_BASE_URL", req.base_url.into()));
        env.push(("ORVANTA_WORKSPACE", req.workspace.into()));
        env.push(("ORVANTA_WARM", "1".into()));
        command.env_clear().envs(env).stdin(Stdio::null()).process_group(0).kill_on_drop(true);

        let fifo = |name: &str| -> io::Result<std::path::PathBuf> {
            let path = dir.path().join(name);
            sys::mkfifo(&path)?;
            prepare::chown(&path, owner)?;
            Ok(path)
        };
        let requests = pipe::OpenOptions::new().read_write(true).open_sender(fifo("in.fifo")?)?;
        let out = dir.path().join("out.fifo");
        let channel = Channel::create(&out)?;
        prepare::chown(&out, owner)?;
        let (writer, logs) = pipe::pipe()?;
        let writer = writer.into_blocking_fd()?;
        command.stderr(writer.try_clone()?);
        command.stdout(writer);
        let child = command.spawn()?;
        drop(command);
        Ok(WarmProcess {
            group: Group::new(child.id(), sandbox.enabled()),
            child,
            key: key.to_owned(),
            language: req.language,
            sandboxed: sandbox.enabled(),
            requests,
            channel,
            logs,
            buf: vec![0; 64 * 1024],
            cgroup,
            jobs: 0,
            succeeded: false,
            interpreter: None,
            last_used: Instant::now(),
            _dir: dir,
        })
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Runs one job; says how it ended and whether the process may serve again.
    async fn run_job(
        &mut self,
        req: &JobRequest<'_>,
        call: Value,
        observer: &dyn RunObserver,
        cancel: CancellationToken,
        config: &WarmConfig,
    ) -> (Outcome, bool) {
        self.drop_stale_output();
        let marker = end_marker();
        let request = json!({ "job": req.job_id.to_string(), "token": req.token, "call": call, "end": marker });
        let mut line = serde_json::to_vec(&request).unwrap_or_default();
        line.push(b'\n');
        let mut sink = LogSink::new(req.limits.log_cap_bytes);
        let mut decoder = Utf8Decoder::default();
        let mut end = EndMarker::new(marker.as_bytes());
        let deadline = supervise::deadline_after(req.limits.timeout);
        let mut limit_check = supervise::limit_checks();
        let (mut written, mut outcome_seen, mut marker_seen) = (0, false, false);
        let mut marker_deadline: Option<Instant> = None;
        self.jobs += 1;

        let WarmProcess { child, requests, channel, logs, buf, cgroup, .. } = self;
        let at_process_limit = || cgroup.as_ref().is_some_and(JobCgroup::hit_process_limit);
        let ended = loop {
            tokio::select! {
                biased;
                status = child.wait() => break Ended::Exited(status),
                () = cancel.cancelled() => break Ended::Stopped(Stop::Killed(KillReason::Canceled(CANCELED.to_owned()))),
                () = tokio::time::sleep_until(deadline) => break Ended::Stopped(Stop::Killed(KillReason::Timeout(req.limits.timeout))),
                _ = limit_check.tick(), if cgroup.is_some() => if at_process_limit() { break Ended::Stopped(Stop::ProcessLimit) },
                sent = requests.write(&line[written..]), if written < line.len() => match sent {
                    Ok(n) => written += n,
                    // The process closed its request pipe: it is going away.
                    Err(_) => written = line.len(),
                },
                read = channel.read() => {
                    if let Ok(n) = read {
                        channel.consume(n, observer).await;
                    }
                    if channel.has_final() && !outcome_seen {
                        outcome_seen = true;
                        if marker_seen {
                            break Ended::Done;
                        }
                        marker_deadline = Some(Instant::now() + MARKER_WAIT);
                    }
                },
                read = logs.read(buf) => match read {
                    Ok(n) if n > 0 => {
                        let (mine, found) = end.feed(&buf[..n]);
                        sink.push(&decoder.decode(&mine), observer).await;
                        if found {
                            marker_seen = true;
                            if outcome_seen {
                                break Ended::Done;
                            }
                        }
                    }
                    // The process closed its output: it cannot end a job properly any more.
                    _ if outcome_seen => break Ended::Unmarked,
                    _ => {}
                },
                () = sleep_until_some(marker_deadline) => break Ended::Unmarked,
            }
        };
        // A job at its process limit fails, also when it ended before the
        // supervisor looked (as in a process of its own).
        let ended = match ended {
            Ended::Done | Ended::Unmarked if at_process_limit() => Ended::Stopped(Stop::ProcessLimit),
            other => other,
        };
        let reusable = matches!(ended, Ended::Done);
        let outcome = match ended {
            Ended::Done | Ended::Unmarked => {
                let rest = decoder.finish();
                sink.push(&rest, observer).await;
                match channel.take_final() {
                    Some(Final::Result(value)) => Outcome::Success(value),
                    Some(Final::Error(error)) => Outcome::Failure(json!({ "error": supervise::error_object(error) })),
                    None => Outcome::error("ExitCode", "the warm process ended the job without an outcome"),
                }
            }
            Ended::Exited(status) => {
                let left = self.drain(sink, decoder, end, observer).await;
                match (status, &self.cgroup) {
                    (Ok(status), Some(cg)) if !status.success() && cg.hit_memory_limit() => {
                        supervise::memory_limit(cg.memory_bytes, left)
                    }
                    (Ok(status), _) => supervise::outcome(status, self.language, left, self.sandboxed),
                    (Err(e), _) => Outcome::error("WaitError", format!("could not wait for the job's process: {e}")),
                }
            }
            Ended::Stopped(stop) => {
                if stop == Stop::ProcessLimit {
                    self.group.kill_all();
                }
                self.group.signal(Signal::Term);
                let grace = tokio::time::sleep(req.limits.kill_grace);
                tokio::pin!(grace);
                tokio::select! {
                    _ = self.child.wait() => {}
                    () = &mut grace => {}
                }
                self.group.kill_all();
                let _ = self.child.wait().await;
                let left = self.drain(sink, decoder, end, observer).await;
                match stop {
                    Stop::Killed(reason) => Outcome::Killed(reason),
                    Stop::ProcessLimit => {
                        supervise::process_limit(self.cgroup.as_ref().map_or(0, |c| c.max_processes), left)
                    }
                }
            }
        };
        if reusable {
            // Processes end with the job that started them, also here.
            self.end_strays();
        }
        let healthy = reusable && self.memory().is_none_or(|m| m <= config.memory_bytes) && self.alive();
        (outcome, healthy)
    }

    /// Waits until the process's interpreter is up, off any job's path: true
    /// once the end marker of a warm-up line came (what it printed before is
    /// dropped, as output between jobs is). Nothing of the script runs.
    pub(super) async fn warm_up(&mut self) -> bool {
        let marker = end_marker();
        let mut line = serde_json::to_vec(&json!({ "warmup": true, "end": marker })).unwrap_or_default();
        line.push(b'\n');
        let mut end = EndMarker::new(marker.as_bytes());
        let until = Instant::now() + WARM_UP_LIMIT;
        let mut written = 0;
        let WarmProcess { child, requests, logs, buf, .. } = self;
        loop {
            tokio::select! {
                biased;
                _ = child.wait() => return false,
                () = tokio::time::sleep_until(until) => return false,
                sent = requests.write(&line[written..]), if written < line.len() => match sent {
                    Ok(n) => written += n,
                    Err(_) => return false,
                },
                read = logs.read(buf) => match read {
                    Ok(n) if n > 0 => {
                        if end.feed(&buf[..n]).1 {
                            return true;
                        }
                    }
                    _ => return false,
                },
            }
        }
    }

    /// Kills the processes a job left in the sandbox: every process but
    /// the sandbox's init and the interpreter. (Threads a job started live
    /// on in the interpreter, like its module state.) Cheap when there are
    /// none: a few reads of `/proc/<pid>/task/<tid>/children`.
    fn end_strays(&mut self) {
        let Some(outer) = self.child.id() else { return };
        let mut strays = Vec::new();
        let interpreter = if self.sandboxed {
            // bubblewrap, its init in the sandbox, then the interpreter.
            let Some(&init) = children_of(outer).first() else { return };
            let init_children = children_of(init);
            let Some(&first) = init_children.first() else { return };
            let interpreter = *self.interpreter.get_or_insert(first);
            strays.extend(init_children.into_iter().filter(|&p| p != interpreter));
            interpreter
        } else {
            outer
        };
        strays.extend(children_of(interpreter));
        if strays.is_empty() {
            return;
        }
        // Rare: a full walk, for the strays' own children too.
        let mut all = strays.clone();
        for pid in &strays {
            all.extend(sys::descendants(*pid));
        }
        for pid in all {
            let _ = sys::kill_pid(pid, Signal::Kill);
        }
    }

    /// Drops what the process printed since its last job (a background
    /// thread of an earlier job): it is nobody's log.
    fn drop_stale_output(&mut self) {
        while let Ok(n) = self.logs.try_read(&mut self.buf) {
            if n == 0 {
                break;
            }
        }
    }

    /// The logs and messages left once the process ended or was stopped.
    async fn drain(
        &mut self,
        mut sink: LogSink,
        mut decoder: Utf8Decoder,
        mut end: EndMarker,
        observer: &dyn RunObserver,
    ) -> Left {
        let until = Instant::now() + supervise::DRAIN_BOUND;
        loop {
            tokio::select! {
                read = self.logs.read(&mut self.buf) => match read {
                    Ok(n) if n > 0 => {
                        let (mine, found) = end.feed(&self.buf[..n]);
                        sink.push(&decoder.decode(&mine), observer).await;
                        if found {
                            break;
                        }
                    }
                    _ => break,
                },
                () = tokio::time::sleep_until(until) => break,
            }
        }
        let rest = end.rest();
        sink.push(&decoder.decode(&rest), observer).await;
        sink.push(&decoder.finish(), observer).await;
        self.channel.read_rest(observer).await;
        Left { final_message: self.channel.take_final(), last_logs: sink.last_lines(), last_line: None }
    }

    /// The memory the process uses: its cgroup's, else the resident memory
    /// of its sandbox's processes, looked at every 16th job (a walk of /proc).
    fn memory(&self) -> Option<u64> {
        if let Some(cgroup) = &self.cgroup {
            return cgroup.memory_usage();
        }
        if !self.jobs.is_multiple_of(16) {
            return None;
        }
        let pid = self.child.id()?;
        Some(sys::descendants(pid).into_iter().filter_map(resident_bytes).sum())
    }
}

/// The children of every thread of `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    let mut found = Vec::new();
    for task in tasks.flatten() {
        if let Ok(list) = std::fs::read_to_string(task.path().join("children")) {
            found.extend(list.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
        }
    }
    found
}

/// VmRSS of a process, from `/proc/<pid>/status`.
fn resident_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A marker no job can guess: it ends the job's output on stdout.
fn end_marker() -> String {
    format!("\u{1e}orvanta-end-{}\u{1e}", orvanta_core::JobId::new())
}

async fn sleep_until_some(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
