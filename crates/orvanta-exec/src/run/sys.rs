//! The two system calls that neither std nor tokio wraps: signalling a
//! process or a whole process group, and making a FIFO. The workspace denies
//! `unsafe`; these two small functions are the exceptions, each with its
//! reason. And the walk of `/proc` that finds a job's processes.

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The signals the supervisor sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Asks the job to stop; it may clean up during the grace period.
    Term,
    /// Ends whatever is left.
    Kill,
}

/// Sends `signal` to every process of the group `pgid`.
///
/// Refuses group ids below 2: `kill(-1)` would signal every process we may
/// signal, and `kill(0)` our own group.
pub(crate) fn kill_group(pgid: u32, signal: Signal) -> io::Result<()> {
    send(pgid, signal, true)
}

/// Sends `signal` to one process.
pub(crate) fn kill_pid(pid: u32, signal: Signal) -> io::Result<()> {
    send(pid, signal, false)
}

#[allow(unsafe_code)]
fn send(id: u32, signal: Signal, group: bool) -> io::Result<()> {
    let id = i32::try_from(id)
        .ok()
        .filter(|&id| id > 1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a process id"))?;
    let signal = match signal {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    // SAFETY: kill(2) takes two integers and touches no memory of this
    // process; `id > 1` (checked above) addresses one process, or with
    // `-id` that group only.
    let rc = unsafe { libc::kill(if group { -id } else { id }, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Every process below `pid` (children, theirs, ...), from `/proc`. In a
/// sandbox, orphans are adopted by the sandbox's own init, itself below the
/// process Orvanta spawned: this finds all of a job's processes, also those
/// that called `setsid`.
pub(crate) fn descendants(pid: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(id) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
            // `pid (comm) state ppid ...`: comm may hold spaces and parentheses.
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            let ppid = stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse().ok());
            if let Some(ppid) = ppid {
                parents.push((id, ppid));
            }
        }
    }
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|(_, ppid)| *ppid == parent).map(|(id, _)| *id));
        i += 1;
    }
    found.remove(0);
    found
}

/// Makes the process `command` starts die (SIGKILL) when this process dies,
/// and inherit no descriptor but its stdin, stdout and stderr;
/// however it dies: a worker killed with SIGKILL takes its jobs along, and
/// the lease sweep that runs a job again elsewhere never finds a second
/// copy still running. (bubblewrap's own `--die-with-parent` covers the
/// sandbox's inside, relative to bubblewrap.)
///
/// The signal comes when the *thread* that spawned the process ends: jobs
/// are spawned from the async runtime's threads, which live as long as the
/// worker, or from a blocking thread that waits for the process.
#[allow(unsafe_code)]
pub(crate) fn confine_child(command: &mut std::process::Command) {
    use std::os::unix::process::CommandExt;
    let parent = i32::try_from(std::process::id()).unwrap_or(0);
    // SAFETY: the closure runs in the child between fork and exec and calls
    // only prctl(2) and getppid(2), both async-signal-safe; it allocates
    // nothing and touches no lock.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the prctl: then nobody would signal.
            if libc::getppid() != parent {
                return Err(io::Error::other("the worker ended while starting the job"));
            }
            // Nothing but stdin, stdout and stderr reaches a job: not a file
            // the worker's launcher left open, not a descriptor of another
            // job that another thread was spawning at this instant.
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) != 0 {
                for fd in 3..4096 {
                    libc::close(fd);
                }
            }
            Ok(())
        });
    }
}

/// Creates a FIFO at `path`, readable and writable by this user only.
#[allow(unsafe_code)]
pub(crate) fn mkfifo(path: &Path) -> io::Result<()> {
    let path = CString::new(path.as_os_str().as_bytes())?;
    // SAFETY: `path` is a NUL-terminated string that lives across the call,
    // and mkfifo(3) only reads it.
    let rc = unsafe { libc::mkfifo(path.as_ptr(), 0o600) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
