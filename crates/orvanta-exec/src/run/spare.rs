//! Spare sandboxes: sandboxes started ahead of their job, so that a job
//! that runs in a process of its own does not wait for its sandbox (bubblewrap's
//! namespaces and mounts, the switch of user: ~8 ms here) but only for its
//! interpreter.
//!
//! A spare is an empty job folder, a cgroup with the instance's limits, and a
//! sandbox around the folder in which `/bin/sh` waits on the folder's `go`
//! FIFO. To launch it, the worker writes the job's files, the result channel
//! and `cmd.sh` (the job's variables, then `exec` of its interpreter, each
//! argument single-quoted) into the folder, sets the script's own limits on
//! the cgroup, and writes a line to `go`: the shell sources `cmd.sh`. From
//! there the job is supervised as any other.
//!
//! Spares are used only where they give a job exactly the sandbox a fresh
//! one would: with cgroups (whose limits can be changed before the job
//! starts), and when the script keeps the instance's file size limit (an
//! rlimit, fixed when the sandbox starts).

use super::channel::Channel;
use super::prepare::{self, JobDir, SpawnError, Spawned};
use super::sys;
use crate::sandbox::{Confinement, JobCgroup, JobLimits};
use crate::{JobRequest, Runtime, Runtimes};
use orvanta_core::Language;
use serde_json::{Map, Value};
use std::ffi::OsString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};

/// A sandbox waiting for its job.
#[derive(Debug)]
pub(crate) struct Spare {
    // Dropped first: kill_on_drop.
    child: Child,
    go: pipe::Sender,
    out: pipe::Receiver,
    err: pipe::Receiver,
    cgroup: Option<JobCgroup>,
    dir: JobDir,
}

/// What the waiting shell does: wait for the go, then become the job.
const WAIT: &str = "read -r _ < \"$1/go\" && . \"$1/cmd.sh\"";

impl Spare {
    /// Starts a spare sandbox under `work_root`. Its folder and cgroup are
    /// made on a blocking thread (milliseconds of system calls, sometimes
    /// tens); the process is spawned from the runtime's own thread, which
    /// lives as long as the worker: a child's parent-death signal follows
    /// the thread that spawned it (`sys::confine_child`), and a blocking
    /// thread ends when idle.
    pub(crate) async fn start(runtimes: &Runtimes, work_root: &Path) -> io::Result<Spare> {
        let (prepared, root) = (runtimes.clone(), work_root.to_path_buf());
        let (dir, command, cgroup) =
            tokio::task::spawn_blocking(move || Self::prepare(&prepared, &root)).await.map_err(io::Error::other)??;
        let owner = runtimes.sandbox.job_owner();
        let mut command = Command::from(command);
        command
            .env_clear()
            .envs(prepare::base_environment(runtimes, dir.path()))
            .stdin(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        let go_path = dir.path().join("go");
        sys::mkfifo(&go_path)?;
        prepare::chown(&go_path, owner)?;
        let go = pipe::OpenOptions::new().read_write(true).open_sender(&go_path)?;
        let (out_writer, out) = pipe::pipe()?;
        let (err_writer, err) = pipe::pipe()?;
        command.stdout(out_writer.into_blocking_fd()?);
        command.stderr(err_writer.into_blocking_fd()?);
        let child = command.spawn()?;
        drop(command);
        Ok(Spare { child, go, out, err, cgroup, dir })
    }

    /// The spare's folder, its cgroup, and the command of its sandbox.
    fn prepare(
        runtimes: &Runtimes,
        work_root: &Path,
    ) -> io::Result<(JobDir, std::process::Command, Option<JobCgroup>)> {
        let sandbox = &runtimes.sandbox;
        let dir =
            JobDir::create_empty(work_root, &format!("spare-{}", orvanta_core::JobId::new()), sandbox.job_owner())?;
        let name = dir.name();
        let confinement = Confinement {
            dir: dir.path(),
            name: &name,
            limits: JobLimits::default(),
            reserves_address_space: true,
            writable: None,
            cache: false,
        };
        let args: Vec<OsString> = vec!["-c".into(), WAIT.into(), "orvanta-spare".into(), dir.path().into()];
        let (command, cgroup) = sandbox.wrap(Path::new("/bin/sh"), &args, &confinement)?;
        Ok((dir, command, cgroup))
    }

    /// Whether the waiting shell still waits.
    pub(crate) fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Gives the spare its job and lets it go; answers what `supervise`
    /// watches, and the job's folder.
    pub(crate) async fn launch(
        self,
        runtimes: &Runtimes,
        runtime: &Runtime,
        req: &JobRequest<'_>,
        args: &Map<String, Value>,
    ) -> Result<(Spawned, JobDir), SpawnError> {
        let Spare { child, mut go, out, err, mut cgroup, mut dir } = self;
        let owner = runtimes.sandbox.job_owner();
        let files = prepare::job_files(req, args, &runtimes.support);
        let python = (req.language == Language::Python3).then(|| (runtime.program.clone(), runtimes.support.clone()));
        let written = tokio::task::spawn_blocking(move || {
            let written = dir.write(&files, owner, python.as_ref().map(|(p, s)| (p.as_path(), s)));
            (dir, written)
        })
        .await
        .map_err(|e| SpawnError::Start(io::Error::other(e)))?;
        let dir = written.0;
        written.1.map_err(SpawnError::Start)?;
        prepare::cache_new_deno_script(runtimes, runtime, req, &dir).await;
        if let Some(cgroup) = &mut cgroup {
            let limits = req.limits.resources;
            cgroup.set_limits(limits.memory_bytes, limits.max_processes).map_err(SpawnError::Limits)?;
        }
        let channel = match req.language {
            Language::Bash => None,
            _ => {
                let fifo = dir.path().join("out.fifo");
                let channel = Channel::create(&fifo).map_err(SpawnError::Start)?;
                prepare::chown(&fifo, owner).map_err(SpawnError::Start)?;
                Some(channel)
            }
        };
        let script = command_file(runtimes, runtime, req, args, dir.path()).map_err(SpawnError::Start)?;
        let cmd = dir.path().join("cmd.sh");
        std::fs::write(&cmd, script).and_then(|()| prepare::chown(&cmd, owner)).map_err(SpawnError::Start)?;
        go.write_all(b"go\n").await.map_err(SpawnError::Start)?;
        let spawned =
            Spawned { pgid: child.id(), child, sandboxed: true, cgroup, out, err: Some(err), channel, hold: Some(go) };
        Ok((spawned, dir))
    }
}

/// `cmd.sh`: the job's own variables, stderr onto stdout for Python and
/// TypeScript (one pipe keeps prints and errors in order), then `exec` of
/// its command line.
fn command_file(
    runtimes: &Runtimes,
    runtime: &Runtime,
    req: &JobRequest<'_>,
    args: &Map<String, Value>,
    dir: &Path,
) -> io::Result<Vec<u8>> {
    let mut script = Vec::new();
    for (name, value) in prepare::job_variables(req) {
        script.extend_from_slice(format!("export {name}=").as_bytes());
        quote(&mut script, &value)?;
        script.push(b'\n');
    }
    if req.language != Language::Bash {
        script.extend_from_slice(b"exec 2>&1\n");
    }
    script.extend_from_slice(b"exec");
    let program: OsString = runtime.program.clone().into();
    for arg in std::iter::once(program).chain(prepare::arguments(req, args, &runtimes.support, dir)) {
        script.push(b' ');
        quote(&mut script, &arg)?;
    }
    script.push(b'\n');
    Ok(script)
}

/// Appends `value` single-quoted for the shell: every byte as it is, a
/// quote as `'\''`. A NUL cannot be passed to a program at all.
fn quote(out: &mut Vec<u8>, value: &std::ffi::OsStr) -> io::Result<()> {
    let bytes = value.as_bytes();
    if bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "an argument holds a NUL byte, which no program can receive",
        ));
    }
    out.push(b'\'');
    for &b in bytes {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_every_byte() {
        let mut out = Vec::new();
        quote(&mut out, std::ffi::OsStr::new("it's $HOME\n`x`")).unwrap();
        assert_eq!(out, b"'it'\\''s $HOME\n`x`'");
        assert!(quote(&mut Vec::new(), std::ffi::OsStr::new("a\0b")).is_err());
    }
}
