//! Timeout, cancel and the log cap: the job's whole process group goes.

use crate::{Job, Recorder};
use orvanta_core::Language::{Bash, Python3};
use orvanta_exec::{KillReason, Outcome};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Whether `pid` still runs (a zombie waiting for its reaper does not).
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name in parentheses.
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')),
        Err(_) => false,
    }
}

/// The pid a job printed as `pid <n>`.
fn printed_pid(logs: &str) -> u32 {
    logs.lines()
        .find_map(|line| line.strip_prefix("pid "))
        .and_then(|pid| pid.trim().parse().ok())
        .unwrap_or_else(|| panic!("the job did not print its grandchild's pid: {logs:?}"))
}

async fn assert_gone(pid: u32) {
    // SIGKILL has been sent and its pipe closed before run returned; allow
    // the kernel a moment to finish the exit.
    for _ in 0..100 {
        if !alive(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("process {pid} survived the kill of its job");
}

#[tokio::test]
async fn a_timeout_kills_the_job_and_its_grandchildren() {
    // The background sleep keeps stdout open: the run must not wait for it.
    let code = "sleep 1000 &\necho \"pid $!\"\nsleep 1000\n";
    let recorder = Recorder::default();
    let started = Instant::now();
    let outcome = Job::new(Bash, code).timeout(Duration::from_secs(1)).run(&recorder).await;
    assert_eq!(outcome, Outcome::Killed(KillReason::Timeout(Duration::from_secs(1))));
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_gone(printed_pid(&recorder.logs())).await;
}

#[tokio::test]
async fn a_timeout_kills_a_python_subprocess_that_ignores_sigterm() {
    let code = r#"
import subprocess, time
def main():
    child = subprocess.Popen(["bash", "-c", "trap '' TERM; sleep 1000"])
    print("pid", child.pid, flush=True)
    time.sleep(1000)
"#;
    let recorder = Recorder::default();
    let outcome = Job::new(Python3, code).timeout(Duration::from_secs(2)).run(&recorder).await;
    assert_eq!(outcome, Outcome::Killed(KillReason::Timeout(Duration::from_secs(2))));
    assert_gone(printed_pid(&recorder.logs())).await;
}

#[tokio::test]
async fn cancel_mid_run_kills_the_job() {
    let job = Job::new(Bash, "echo started\nsleep 1000\necho never\n");
    let cancel = job.cancel.clone();
    let recorder = Recorder { on_log: Some(Box::new(move |_| cancel.cancel())), ..Recorder::default() };
    let outcome = job.run(&recorder).await;
    assert!(matches!(outcome, Outcome::Killed(KillReason::Canceled(_))), "{outcome:?}");
    assert_eq!(recorder.logs(), "started\n");
}

#[tokio::test]
async fn logs_past_the_cap_are_dropped_with_one_note_and_the_job_goes_on() {
    let code = "def main():\n    for i in range(2000):\n        print('x' * 99)\n    return 'finished'\n";
    let mut job = Job::new(Python3, code);
    job.limits.log_cap_bytes = 10 * 1024;
    let recorder = Recorder::default();
    let outcome = job.run(&recorder).await;
    assert_eq!(outcome, Outcome::Success("finished".into()));
    let logs = recorder.logs();
    let note = "\n[orvanta] logs truncated: over the 10 KiB cap; the job goes on\n";
    assert!(logs.ends_with(note), "{}", &logs[logs.len().saturating_sub(200)..]);
    assert_eq!(logs.len(), 10 * 1024 + note.len());
    assert_eq!(logs.matches("[orvanta]").count(), 1);
}

#[tokio::test]
async fn the_job_directory_is_removed_afterwards() {
    let dirs = Arc::new(Mutex::new(String::new()));
    let seen = dirs.clone();
    let recorder =
        Recorder { on_log: Some(Box::new(move |chunk| seen.lock().unwrap().push_str(chunk))), ..Recorder::default() };
    let outcome = Job::new(Bash, "pwd\ntouch leftover\n").run(&recorder).await;
    assert!(matches!(outcome, Outcome::Success(_)), "{outcome:?}");
    let dir = dirs.lock().unwrap().trim().to_owned();
    assert!(dir.starts_with('/'), "{dir}");
    assert!(!std::path::Path::new(&dir).exists(), "{dir} is still there");
}

#[tokio::test]
async fn a_process_that_left_the_group_does_not_hold_the_job() {
    // setsid escapes the group kill and keeps stdout open; the run still
    // returns, after a bounded wait for the pipe.
    let code = "setsid sleep 30 &\necho \"pid $!\"\necho done\n";
    let recorder = Recorder::default();
    let started = Instant::now();
    let outcome = Job::new(Bash, code).run(&recorder).await;
    let took = started.elapsed();
    let logs = recorder.logs();
    // Clean up what this test started on purpose.
    let _ = std::process::Command::new("kill").arg(printed_pid(&logs).to_string()).status();
    assert_eq!(outcome, Outcome::Success("done".into()));
    assert!(took < Duration::from_secs(5), "took {took:?}");
}
