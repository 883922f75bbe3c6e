//! Watches a spawned job to its end: forwards its logs and stream chunks as
//! they come, kills its process group on timeout or cancel, and turns what
//! it left behind into an [`Outcome`].

use super::channel::{Channel, Final};
use super::logs::{LastLine, LogSink, Utf8Decoder};
use super::prepare::Spawned;
use super::sys::{self, Signal};
use super::{KillReason, Limits, Outcome, RunObserver, CANCELED};
use crate::sandbox::JobCgroup;
use orvanta_core::Language;
use serde_json::{json, Value};
use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::unix::pipe;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How long to keep reading logs once the job's process has ended. The
/// group is dead by then, so end-of-file comes at once; only a process that
/// left the group (setsid) can hold the pipe open, and it must not hold the
/// job with it.
pub(crate) const DRAIN_BOUND: Duration = Duration::from_millis(500);

pub(crate) async fn supervise(
    spawned: Spawned,
    language: Language,
    limits: Limits,
    observer: &dyn RunObserver,
    cancel: CancellationToken,
) -> Outcome {
    let Spawned { mut child, pgid, sandboxed, cgroup, out, err, channel, hold: _hold } = spawned;
    let mut group = Group::new(pgid, sandboxed);
    let mut pump = Pump::new(out, err, channel, limits.log_cap_bytes, language == Language::Bash);
    let deadline = deadline_after(limits.timeout);
    // A job at its process limit (a fork bomb) is stopped: it would
    // otherwise spin on failing forks until its timeout.
    let mut limit_check = limit_checks();
    let at_process_limit = || cgroup.as_ref().is_some_and(JobCgroup::hit_process_limit);

    // `biased`: an exit that is ready wins over a cancel or timeout that is
    // ready at the same moment, and both over more logs.
    let ended = loop {
        tokio::select! {
            biased;
            status = child.wait() => break Ok(status),
            () = cancel.cancelled() => break Err(Stop::Killed(KillReason::Canceled(CANCELED.to_owned()))),
            () = tokio::time::sleep_until(deadline) => break Err(Stop::Killed(KillReason::Timeout(limits.timeout))),
            _ = limit_check.tick(), if cgroup.is_some() => if at_process_limit() { break Err(Stop::ProcessLimit) },
            event = pump.next() => pump.handle(event, observer).await,
        }
    };
    let ended = match ended {
        Ok(status) => {
            // Whatever the job left running in its group ends with it.
            group.kill_all();
            Ok(status)
        }
        Err(stop) => {
            if stop == Stop::ProcessLimit {
                // Forks would go on failing: no grace.
                group.kill_all();
            }
            group.signal(Signal::Term);
            let grace = tokio::time::sleep(limits.kill_grace);
            tokio::pin!(grace);
            loop {
                tokio::select! {
                    biased;
                    _ = child.wait() => break,
                    () = &mut grace => break,
                    event = pump.next() => pump.handle(event, observer).await,
                }
            }
            group.kill_all();
            let _ = child.wait().await;
            Err(stop)
        }
    };
    if let Some(cgroup) = &cgroup {
        cgroup.kill_all_after_exit().await;
    }

    let until = Instant::now() + DRAIN_BOUND;
    while pump.logs_open() {
        tokio::select! {
            biased;
            event = pump.next() => pump.handle(event, observer).await,
            () = tokio::time::sleep_until(until) => break,
        }
    }
    let left = pump.finish(observer).await;

    // A job that reached its process limit fails, also when it ended
    // before the supervisor looked: which forks failed is not knowable.
    let ended = match ended {
        Ok(_) if at_process_limit() => Err(Stop::ProcessLimit),
        other => other,
    };
    let outcome = match ended {
        Err(Stop::Killed(reason)) => Outcome::Killed(reason),
        Err(Stop::ProcessLimit) => process_limit(cgroup.as_ref().map_or(0, |c| c.max_processes), left),
        Ok(Err(e)) => Outcome::error("WaitError", format!("could not wait for the job's process: {e}")),
        Ok(Ok(status)) => match &cgroup {
            Some(cgroup) if !status.success() && cgroup.hit_memory_limit() => memory_limit(cgroup.memory_bytes, left),
            _ => outcome(status, language, left, sandboxed),
        },
    };
    if let Some(cgroup) = cgroup {
        cgroup.remove_later();
    }
    outcome
}

/// How often the supervisor looks at the job's process count.
pub(crate) const LIMIT_CHECK: Duration = Duration::from_millis(100);

/// The process limit checks of a job: every [`LIMIT_CHECK`], the first one
/// after it (a job that ends sooner is checked once, at its end).
pub(crate) fn limit_checks() -> tokio::time::Interval {
    tokio::time::interval_at(tokio::time::Instant::now() + LIMIT_CHECK, LIMIT_CHECK)
}

/// Why the supervisor stopped a job.
#[derive(Debug, PartialEq)]
pub(crate) enum Stop {
    Killed(KillReason),
    /// It tried to run more processes than its limit.
    ProcessLimit,
}

pub(crate) fn process_limit(max: u64, left: Left) -> Outcome {
    Outcome::Failure(json!({ "error": {
        "name": "ProcessLimit",
        "message": format!("the job tried to run more than {max} processes at once and was stopped; raise the script's process limit if it needs more"),
        "max_processes": max,
        "last_logs": left.last_logs,
    }}))
}

pub(crate) fn memory_limit(bytes: u64, left: Left) -> Outcome {
    Outcome::Failure(json!({ "error": {
        "name": "MemoryLimit",
        "message": format!("the job used more than its memory limit ({} MiB) and was killed; raise the script's memory limit if it needs more", bytes >> 20),
        "memory_bytes": bytes,
        "last_logs": left.last_logs,
    }}))
}

/// What the job left: its last message, the tail of its logs, and for Bash
/// the last line of stdout.
pub(crate) struct Left {
    pub(crate) final_message: Option<Final>,
    pub(crate) last_logs: String,
    pub(crate) last_line: Option<String>,
}

pub(crate) fn outcome(status: ExitStatus, language: Language, left: Left, sandboxed: bool) -> Outcome {
    if let Some(Final::Error(error)) = left.final_message {
        return Outcome::Failure(json!({ "error": error_object(error) }));
    }
    if status.success() {
        return Outcome::Success(match (language, left.final_message) {
            (Language::Bash, _) => {
                left.last_line.map_or(Value::Null, |line| serde_json::from_str(&line).unwrap_or(Value::String(line)))
            }
            (_, Some(Final::Result(result))) => result,
            (_, _) => Value::Null,
        });
    }
    // bubblewrap exits with 128 + n when the job died of signal n.
    let signal = match (status.code(), status.signal()) {
        (Some(code), None) if sandboxed && (129..=128 + 64).contains(&code) => Some(code - 128),
        (_, signal) => signal,
    };
    let code = status.code().filter(|_| signal.is_none());
    let error = match (code, signal) {
        (Some(code), _) => json!({
            "name": "ExitCode",
            "message": format!("the process exited with code {code}"),
            "exit_code": code,
            "last_logs": left.last_logs,
        }),
        (None, Some(signal)) => json!({
            "name": "Signal",
            "message": format!("the process was killed by signal {signal}{}", signal_name(signal)),
            "signal": signal,
            "last_logs": left.last_logs,
        }),
        (None, None) => json!({
            "name": "ExitCode",
            "message": format!("the process ended abnormally ({status})"),
            "last_logs": left.last_logs,
        }),
    };
    Outcome::Failure(json!({ "error": error }))
}

/// The wrapper's error as the contract shapes it: an object with a `name`
/// and a `message`, whatever the script threw.
pub(crate) fn error_object(error: Value) -> Value {
    match error {
        Value::Object(mut fields) => {
            if !fields.get("name").is_some_and(Value::is_string) {
                fields.insert("name".into(), "Error".into());
            }
            if !fields.get("message").is_some_and(Value::is_string) {
                let message = fields.get("message").map(Value::to_string).unwrap_or_default();
                fields.insert("message".into(), message.into());
            }
            Value::Object(fields)
        }
        Value::String(message) => json!({ "name": "Error", "message": message }),
        other => json!({ "name": "Error", "message": other.to_string() }),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        libc::SIGKILL => " (SIGKILL: out of memory, or killed from outside)",
        libc::SIGSEGV => " (SIGSEGV: the interpreter crashed)",
        libc::SIGABRT => " (SIGABRT)",
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGINT => " (SIGINT)",
        libc::SIGBUS => " (SIGBUS)",
        libc::SIGXFSZ => " (SIGXFSZ: a file grew past the file size limit)",
        _ => "",
    }
}

/// `now + timeout`, or a year from now for a timeout too large to add.
pub(crate) fn deadline_after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout).unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

/// The job's process group. Dropping it (the run's future dropped) kills
/// whatever is left of the job.
///
/// In a sandbox the group holds bubblewrap alone: SIGKILL to it takes the
/// whole sandbox along (its init dies with it, and the kernel ends every
/// process of a pid namespace whose init ends), but SIGTERM would too, with
/// no grace for the job. So SIGTERM goes to the job's processes themselves.
#[derive(Debug)]
pub(crate) struct Group {
    pgid: Option<u32>,
    sandboxed: bool,
}

impl Group {
    pub(crate) fn new(pgid: Option<u32>, sandboxed: bool) -> Self {
        Self { pgid, sandboxed }
    }

    pub(crate) fn signal(&self, signal: Signal) {
        let Some(pgid) = self.pgid else { return };
        if self.sandboxed && signal == Signal::Term {
            // The sandbox's init ignores it; the job's processes get it.
            for pid in sys::descendants(pgid) {
                let _ = sys::kill_pid(pid, Signal::Term);
            }
            return;
        }
        if let Err(e) = sys::kill_group(pgid, signal) {
            // ESRCH: the group is already gone, which is what we wanted.
            if e.raw_os_error() != Some(libc::ESRCH) {
                tracing::warn!(pgid, "could not signal the job's process group: {e}");
            }
        }
    }

    /// SIGKILL to the group, once. Sent right after the group leader was
    /// reaped: its id cannot be reused while stragglers still carry it as
    /// their group id, and an empty group has nobody to hit, barring a pid
    /// wrap-around within that instant.
    pub(crate) fn kill_all(&mut self) {
        self.signal(Signal::Kill);
        self.pgid = None;
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.signal(Signal::Kill);
    }
}

/// One pipe of log output.
struct Source {
    reader: Option<pipe::Receiver>,
    buf: Vec<u8>,
    decoder: Utf8Decoder,
}

impl Source {
    fn new(reader: pipe::Receiver) -> Self {
        Self { reader: Some(reader), buf: vec![0; 64 * 1024], decoder: Utf8Decoder::default() }
    }

    /// Cancel-safe: nothing is lost when another branch of a select wins.
    async fn read(&mut self) -> io::Result<usize> {
        match &mut self.reader {
            Some(reader) => reader.read(&mut self.buf).await,
            None => std::future::pending().await,
        }
    }
}

enum Event {
    Out(io::Result<usize>),
    Err(io::Result<usize>),
    Channel(io::Result<usize>),
}

/// Moves the job's output along: its log pipes and its result channel.
struct Pump {
    out: Source,
    err: Option<Source>,
    channel: Option<Channel>,
    sink: LogSink,
    /// Bash only: its result is the last line of stdout (`out`).
    last_line: Option<LastLine>,
}

impl Pump {
    fn new(
        out: pipe::Receiver,
        err: Option<pipe::Receiver>,
        channel: Option<Channel>,
        log_cap: usize,
        track_last_line: bool,
    ) -> Self {
        Self {
            out: Source::new(out),
            err: err.map(Source::new),
            channel,
            sink: LogSink::new(log_cap),
            last_line: track_last_line.then(LastLine::default),
        }
    }

    fn logs_open(&self) -> bool {
        self.out.reader.is_some() || self.err.as_ref().is_some_and(|s| s.reader.is_some())
    }

    /// Waits until some pipe has bytes (or ended). Cancel-safe; the bytes
    /// are handled by [`Pump::handle`], which is not raced against anything,
    /// so a chunk is never half-delivered.
    async fn next(&mut self) -> Event {
        let Self { out, err, channel, .. } = self;
        tokio::select! {
            read = out.read() => Event::Out(read),
            read = async { match err { Some(err) => err.read().await, None => std::future::pending().await } } => Event::Err(read),
            read = async { match channel { Some(c) => c.read().await, None => std::future::pending().await } } => Event::Channel(read),
        }
    }

    async fn handle(&mut self, event: Event, observer: &dyn RunObserver) {
        let (source, read, is_stdout) = match event {
            Event::Channel(Ok(n)) => {
                if let Some(channel) = &mut self.channel {
                    channel.consume(n, observer).await;
                }
                return;
            }
            Event::Channel(Err(e)) => {
                tracing::warn!("the result channel failed: {e}");
                return;
            }
            Event::Out(read) => (&mut self.out, read, true),
            Event::Err(read) => match &mut self.err {
                Some(err) => (err, read, false),
                None => return,
            },
        };
        match read {
            Ok(n) if n > 0 => {
                let bytes = &source.buf[..n];
                if is_stdout {
                    if let Some(last_line) = &mut self.last_line {
                        last_line.push(bytes);
                    }
                }
                let text = source.decoder.decode(bytes);
                self.sink.push(&text, observer).await;
            }
            // End of file, or a broken pipe: this source has said all it will.
            _ => {
                source.reader = None;
                let rest = source.decoder.finish();
                self.sink.push(&rest, observer).await;
            }
        }
    }

    async fn finish(self, observer: &dyn RunObserver) -> Left {
        let Self { mut out, err, channel, mut sink, last_line } = self;
        sink.push(&out.decoder.finish(), observer).await;
        if let Some(mut err) = err {
            sink.push(&err.decoder.finish(), observer).await;
        }
        let final_message = match channel {
            Some(channel) => channel.finish(observer).await,
            None => None,
        };
        Left { final_message, last_logs: sink.last_lines(), last_line: last_line.and_then(LastLine::finish) }
    }
}
