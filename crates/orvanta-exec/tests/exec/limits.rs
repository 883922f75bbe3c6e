//! Timeout, cancel and the log cap: the job's whole process group goes.

use crate::{Job, Recorder};
use orvanta_core::Language::{Bash, Python3};
use orvanta_exec::{KillReason, Outcome};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A `sleep` duration no other process on the machine uses: jobs run in a
/// pid namespace of their own, so the pids they print mean nothing here,
/// and their processes are found by their command line instead.
fn marker() -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("1000.{}{:04}{:09}", std::process::id(), n, nanos)
}

/// The processes (not zombies) whose command line holds `marker`.
pub fn running_with(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else { continue };
        if !String::from_utf8_lossy(&cmdline).contains(marker) {
            continue;
        }
        // The state follows the command name in parentheses.
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X')) {
            found.push(pid);
        }
    }
    found
}

pub async fn assert_gone(marker: &str) {
    // SIGKILL has been sent and its pipe closed before run returned; allow
    // the kernel a moment to finish the exit.
    for _ in 0..100 {
        if running_with(marker).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("a process ({marker}) survived the end of its job: {:?}", running_with(marker));
}

#[tokio::test]
async fn a_timeout_kills_the_job_and_its_grandchildren() {
    // The background sleep keeps stdout open: the run must not wait for it.
    let mark = marker();
    let code = format!("sleep {mark} &\nsleep 1000\n");
    let recorder = Recorder::default();
    let started = Instant::now();
    let job = Job::new(Bash, &code).timeout(Duration::from_secs(1));
    let outcome = job.run(&recorder).await;
    assert_eq!(outcome, Outcome::Killed(KillReason::Timeout(Duration::from_secs(1))));
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
    assert_gone(&mark).await;
}

#[tokio::test]
async fn a_timeout_kills_a_python_subprocess_that_ignores_sigterm() {
    let mark = marker();
    let code = format!(
        r#"
import subprocess, time
def main():
    child = subprocess.Popen(["bash", "-c", "trap '' TERM; sleep {mark}"])
    time.sleep(1000)
"#
    );
    let recorder = Recorder::default();
    let outcome = Job::new(Python3, &code).timeout(Duration::from_secs(2)).run(&recorder).await;
    assert_eq!(outcome, Outcome::Killed(KillReason::Timeout(Duration::from_secs(2))));
    assert_gone(&mark).await;
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
    // The job folder holds main.sh; the job writes where it works (/tmp).
    let outcome = Job::new(Bash, "dirname \"$0\"\ntouch leftover\n").run(&recorder).await;
    assert!(matches!(outcome, Outcome::Success(_)), "{outcome:?}");
    let dir = dirs.lock().unwrap().trim().to_owned();
    assert!(dir.starts_with('/'), "{dir}");
    // Removed off the job's path: soon after its end.
    for _ in 0..200 {
        if !std::path::Path::new(&dir).exists() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{dir} is still there");
}

#[tokio::test]
async fn a_process_that_called_setsid_ends_with_its_job() {
    // setsid leaves the process group and keeps stdout open: the run still
    // returns at once, and the process is gone with the job's sandbox.
    let mark = marker();
    let code = format!("setsid sleep {mark} &\nsleep 0.2\necho done\n");
    let recorder = Recorder::default();
    let started = Instant::now();
    let outcome = Job::new(Bash, &code).run(&recorder).await;
    let took = started.elapsed();
    assert_eq!(outcome, Outcome::Success("done".into()));
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert_gone(&mark).await;
}

#[tokio::test]
async fn a_daemon_that_called_setsid_ends_when_its_job_is_canceled() {
    // The classic double fork: a grandchild in a session of its own, its
    // parent gone, ignoring SIGTERM.
    let mark = marker();
    let code = format!(
        r#"
import os, subprocess, time
def main():
    subprocess.Popen(["setsid", "bash", "-c", "trap '' TERM HUP; (sleep {mark} &) ; sleep {mark}"], start_new_session=True)
    print("started", flush=True)
    time.sleep(1000)
"#
    );
    let job = Job::new(Python3, &code);
    let cancel = job.cancel.clone();
    let mark_seen = mark.clone();
    let recorder = Recorder {
        on_log: Some(Box::new(move |_| {
            // Canceled once the daemon runs.
            for _ in 0..200 {
                if running_with(&mark_seen).len() >= 2 {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            cancel.cancel();
        })),
        ..Recorder::default()
    };
    let outcome = job.run(&recorder).await;
    assert!(matches!(outcome, Outcome::Killed(KillReason::Canceled(_))), "{outcome:?}");
    assert_gone(&mark).await;
}
