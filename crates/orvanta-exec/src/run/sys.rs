//! The two system calls that neither std nor tokio wraps: signalling a whole
//! process group, and making a FIFO. The workspace denies `unsafe`; these two
//! small functions are the exceptions, each with its reason.

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
#[allow(unsafe_code)]
pub(crate) fn kill_group(pgid: u32, signal: Signal) -> io::Result<()> {
    let pgid = i32::try_from(pgid)
        .ok()
        .filter(|&id| id > 1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "not a process group id"))?;
    let signal = match signal {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    // SAFETY: kill(2) takes two integers and touches no memory of this
    // process; `-pgid` (pgid > 1, checked above) addresses that group only.
    let rc = unsafe { libc::kill(-pgid, signal) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
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
