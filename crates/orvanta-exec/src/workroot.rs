//! The folder a worker process makes its job folders in.
//!
//! Each worker process works in a folder of its own under the data folder's
//! `jobs`: `w<pid>-<start time>`. A job folder is removed when its job ends,
//! off the async threads; a process that is killed (or stops while removals
//! are still queued) leaves its folder behind. So a worker process, as it
//! starts, removes the folders of worker processes that are no longer
//! running, and at a clean stop removes its own. Several worker processes
//! may share one data folder: each removes only what dead ones left.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// A job folder of the layout before per-process folders (named by its job
/// alone) is removed once this old: an older worker sharing the data folder
/// during an upgrade may still be running it.
const OLD_LAYOUT_AGE: Duration = Duration::from_secs(24 * 3600);

/// This process's work folder under `jobs` (made when the first job needs
/// it), after removing what worker processes that are gone left there.
/// Blocking: call it once, as the worker starts.
pub fn own_work_root(jobs: &Path) -> PathBuf {
    sweep(jobs, SystemTime::now());
    let started = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    jobs.join(format!("w{}-{started}", std::process::id()))
}

/// Removes `root` and everything in it (a worker's own folder, at its stop).
pub fn remove_work_root(root: &Path) {
    match std::fs::remove_dir_all(root) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(folder = %root.display(), "could not remove the worker's job folder: {e}"),
    }
}

/// The pid a worker folder's name carries (`w<pid>-<time>`).
fn worker_pid(name: &str) -> Option<u32> {
    let (pid, time) = name.strip_prefix('w')?.split_once('-')?;
    time.parse::<u128>().ok()?;
    pid.parse().ok()
}

/// Removes under `jobs` the folders of worker processes not running, and
/// job folders of the old layout older than [`OLD_LAYOUT_AGE`].
fn sweep(jobs: &Path, now: SystemTime) {
    let me = std::process::id();
    for entry in std::fs::read_dir(jobs).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let gone = match worker_pid(&name) {
            // Our own pid is a folder of this process (or of a dead one
            // whose pid we took): left alone either way.
            Some(pid) => pid != me && !Path::new(&format!("/proc/{pid}")).exists(),
            None => entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age > OLD_LAYOUT_AGE)),
        };
        if gone && entry.file_type().is_ok_and(|t| t.is_dir()) {
            tracing::info!(folder = %entry.path().display(), "removing the job folders a stopped worker left");
            remove_work_root(&entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_their_pid() {
        assert_eq!(worker_pid("w123-1700000000000000000"), Some(123));
        assert_eq!(worker_pid("w123"), None);
        assert_eq!(worker_pid("w12x-1"), None);
        assert_eq!(worker_pid("01a230ee-c127-725c-ac68-94fbbb588798"), None);
        assert_eq!(worker_pid("cache-01a230ee"), None);
    }

    #[test]
    fn what_dead_workers_left_goes_and_the_living_stays() {
        let jobs = tempfile::tempdir().unwrap();
        let j = jobs.path();
        // pid_max is at most 2^22: this pid runs nowhere.
        let dead = j.join("w4194399-1");
        std::fs::create_dir_all(dead.join("01a2-job/sub")).unwrap();
        std::fs::write(dead.join("01a2-job/sub/file"), "x").unwrap();
        let alive = j.join("w1-1"); // init
        std::fs::create_dir_all(alive.join("job")).unwrap();
        let mine = j.join(format!("w{}-1", std::process::id()));
        std::fs::create_dir_all(&mine).unwrap();
        let old = j.join("01a230ee-c127-725c-ac68-94fbbb588798");
        std::fs::create_dir_all(&old).unwrap();

        sweep(j, SystemTime::now());
        assert!(!dead.exists());
        assert!(alive.join("job").exists() && mine.exists());
        assert!(old.exists(), "an old-layout folder of today is kept");

        sweep(j, SystemTime::now() + OLD_LAYOUT_AGE + Duration::from_secs(60));
        assert!(!old.exists(), "an old-layout folder of yesterday goes");

        let root = own_work_root(j);
        assert!(root.starts_with(j) && !root.exists(), "made when a job needs it");
        assert_eq!(worker_pid(&root.file_name().unwrap().to_string_lossy()), Some(std::process::id()));
    }
}
