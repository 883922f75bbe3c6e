//! The sandbox every job runs in: bubblewrap (`bwrap`), one per job.
//!
//! Inside, a job sees the system's programs and libraries, its interpreter,
//! Orvanta's wrappers, client libraries and its own code, and its job folder
//! (arguments and result channel) — all read-only — and a private `/tmp`,
//! its working directory and `HOME`: a tmpfs no larger than its memory
//! limit, whose pages count toward that limit, so that no job can fill the
//! disk. Nothing else of the host's files: not the data folder, not the
//! database, not the admin token, not other jobs' folders. It has its own pid, ipc, uts and mount
//! namespaces (it cannot see or signal the server's processes) and runs as
//! an unprivileged user:
//!
//! - when the worker runs as root, bubblewrap runs privileged and the job is
//!   switched to `uid`/`gid` (default 99999, an id of no account) by
//!   `setpriv` inside, with no capabilities and `no_new_privs`;
//! - otherwise bubblewrap makes a user namespace and the job keeps the
//!   worker's (unprivileged) uid.
//!
//! A system-call filter (`seccomp.rs`) refuses what no script needs and
//! most kernel exploits start from: new namespaces (so no nested user
//! namespace with its capabilities), the keyrings, bpf, io_uring,
//! userfaultfd, perf events, mounts.
//!
//! Limits: memory and processes through a cgroup per job when the machine
//! lets the worker make one (v2, or v1's `memory` and `pids` controllers);
//! otherwise rlimits (processes per user, address space for Python and
//! Bash). The file-size limit is always an rlimit. A job that ends, is
//! canceled or times out takes every process of its sandbox with it
//! (bubblewrap's pid namespace; the cgroup as a second net), including those
//! that called `setsid`; a worker that dies takes its jobs along
//! (`--die-with-parent`).
//!
//! `enabled: false` (`ORVANTA_SANDBOX=none`) runs jobs as plain processes,
//! for machines where bubblewrap cannot run; the server says so loudly.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

/// How jobs are isolated; from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxConfig {
    /// `false`: no isolation at all (an operator's explicit choice).
    pub enabled: bool,
    /// The bubblewrap program.
    pub bwrap: PathBuf,
    /// The user and group jobs run as when the worker is root: an id no
    /// account and no other program on the host uses.
    pub uid: u32,
    pub gid: u32,
    /// The user and group that fill Deno's cache (which jobs only read),
    /// when the worker is root; apart from the jobs' and used by nothing else.
    pub cache_uid: u32,
    pub cache_gid: u32,
    /// Whether jobs reach the network.
    pub network: bool,
    pub memory_bytes: u64,
    pub max_processes: u64,
    pub file_size_bytes: u64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            bwrap: PathBuf::from("bwrap"),
            uid: 99999,
            gid: 99999,
            cache_uid: 99998,
            cache_gid: 99998,
            network: true,
            memory_bytes: 2 << 30,
            max_processes: 512,
            file_size_bytes: 1 << 30,
        }
    }
}

/// Per-job overrides of the limits (a script's settings).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JobLimits {
    pub memory_bytes: Option<u64>,
    pub max_processes: Option<u64>,
    pub file_size_bytes: Option<u64>,
}

/// How limits are enforced on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitMode {
    /// A cgroup v2 per job under this directory.
    CgroupV2(PathBuf),
    /// cgroups v1: a `memory` and a `pids` cgroup per job under these.
    CgroupV1 { memory: PathBuf, pids: PathBuf },
    /// rlimits only.
    Rlimits,
}

/// Why the sandbox cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SandboxError(pub String);

/// The sandbox of this worker, ready to wrap jobs.
#[derive(Debug, Clone)]
pub struct Sandbox {
    config: SandboxConfig,
    /// Whether the worker is root (privileged bubblewrap, then `setpriv`).
    root: bool,
    limits: LimitMode,
    /// Host folders bound read-only at the same place.
    read_only: Vec<PathBuf>,
    bwrap: PathBuf,
    setpriv: Option<PathBuf>,
    /// Whether this bubblewrap can size a tmpfs (`--size`, 0.7 and later).
    sized_tmpfs: bool,
    /// The system-call filter's program (see `seccomp`), a file the shell
    /// before bubblewrap opens for it.
    seccomp: Option<PathBuf>,
}

/// What a sandbox is, for `/api/health` and the start-up line.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SandboxReport {
    /// `bubblewrap` or `none`.
    pub isolation: &'static str,
    /// `cgroup v2`, `cgroup v1` or `rlimits`.
    pub limits: &'static str,
    /// The uid jobs run as, outside their namespace.
    pub uid: Option<u32>,
    pub network: bool,
    pub memory_bytes: u64,
    pub max_processes: u64,
    pub file_size_bytes: u64,
}

/// The system folders every job may read.
pub(crate) const SYSTEM: [&str; 7] = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/etc"];

/// `/`, `/tmp` and the system folders exist in every sandbox already.
fn is_mounted(path: &Path) -> bool {
    path == Path::new("/") || path == Path::new("/tmp") || SYSTEM.iter().any(|s| path.starts_with(s))
}

impl Sandbox {
    /// Checks that bubblewrap runs here and finds how limits can be
    /// enforced. `read_only` are the folders jobs need besides the system's:
    /// the interpreters' prefixes and Orvanta's support files. The filter's
    /// program is written to `filter_dir`.
    pub fn prepare(config: SandboxConfig, read_only: Vec<PathBuf>, filter_dir: &Path) -> Result<Self, SandboxError> {
        let root = is_root();
        let limits = if config.enabled { detect_cgroups() } else { LimitMode::Rlimits };
        let mut sandbox = Sandbox {
            bwrap: config.bwrap.clone(),
            config,
            root,
            limits,
            read_only: read_only.into_iter().filter(|p| p.exists()).collect(),
            setpriv: None,
            sized_tmpfs: false,
            seccomp: None,
        };
        if !sandbox.config.enabled {
            return Ok(sandbox);
        }
        sandbox.bwrap = which(&sandbox.config.bwrap).ok_or_else(|| {
            SandboxError(format!(
                "bubblewrap ({}) was not found: install it (Debian: apt-get install bubblewrap) or, to run jobs without isolation, set ORVANTA_SANDBOX=none",
                sandbox.config.bwrap.display()
            ))
        })?;
        if root {
            sandbox.setpriv = Some(which(Path::new("setpriv")).ok_or_else(|| {
                SandboxError("setpriv (util-linux) was not found: the worker runs as root and needs it to run jobs as an unprivileged user".into())
            })?);
        }
        sandbox.sized_tmpfs = StdCommand::new(&sandbox.bwrap)
            .arg("--help")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--size"));
        let filter = filter_dir.join("seccomp.bpf");
        std::fs::write(&filter, crate::seccomp::program()).map_err(|e| {
            SandboxError(format!("could not write the system-call filter to {}: {e}", filter.display()))
        })?;
        sandbox.seccomp = Some(filter.clone());
        // A real run of the smallest sandbox: refused namespaces show here, at start.
        let probe = tempdir_for_probe()?;
        let mut cmd = StdCommand::new("/bin/sh");
        cmd.args(["-c", "exec 9<\"$1\" && shift && exec \"$@\"", "orvanta-probe"]).arg(&filter).arg(&sandbox.bwrap);
        cmd.args(sandbox.bwrap_args(Some(&probe), None, 64 << 20)).arg("--").arg("/bin/true");
        let out = cmd.output().map_err(|e| SandboxError(format!("bubblewrap could not start: {e}")))?;
        let _ = std::fs::remove_dir(&probe);
        if !out.status.success() {
            return Err(SandboxError(format!(
                "bubblewrap cannot make a sandbox on this machine ({}); allow user namespaces (sysctl kernel.unprivileged_userns_clone=1) or run the worker as root, or set ORVANTA_SANDBOX=none to run jobs without isolation",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(sandbox)
    }

    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    pub fn report(&self) -> SandboxReport {
        SandboxReport {
            isolation: if self.config.enabled { "bubblewrap" } else { "none" },
            limits: match self.limits {
                LimitMode::CgroupV2(_) => "cgroup v2",
                LimitMode::CgroupV1 { .. } => "cgroup v1",
                LimitMode::Rlimits => "rlimits",
            },
            uid: self.config.enabled.then(|| if self.root { self.config.uid } else { current_uid() }),
            network: self.config.network,
            memory_bytes: self.config.memory_bytes,
            max_processes: self.config.max_processes,
            file_size_bytes: self.config.file_size_bytes,
        }
    }

    /// The owner a job's folder and files must have, when it is not the worker.
    pub(crate) fn job_owner(&self) -> Option<(u32, u32)> {
        (self.config.enabled && self.root).then_some((self.config.uid, self.config.gid))
    }

    /// The owner of Deno's cache, when it is not the worker.
    pub(crate) fn cache_owner(&self) -> Option<(u32, u32)> {
        (self.config.enabled && self.root).then_some((self.config.cache_uid, self.config.cache_gid))
    }

    /// Whether a spare sandbox (started before its job, see `run/spare.rs`)
    /// gives a job with `limits` the sandbox a fresh one would.
    pub(crate) fn spares_fit(&self, limits: &JobLimits) -> bool {
        self.config.enabled
            && !matches!(self.limits, LimitMode::Rlimits)
            && limits.file_size_bytes.is_none_or(|f| f == self.config.file_size_bytes)
    }

    /// Where a job works (its working directory, `HOME`, `TMPDIR`): the
    /// sandbox's `/tmp`, or without a sandbox its job folder.
    pub(crate) fn work_dir<'a>(&self, job_dir: &'a Path) -> &'a Path {
        if self.config.enabled {
            Path::new("/tmp")
        } else {
            job_dir
        }
    }

    /// The command that runs `program args` in a sandbox around `job.dir`,
    /// and the job's cgroup (kept by the caller until the job is over).
    pub(crate) fn wrap(
        &self,
        program: &Path,
        args: &[OsString],
        job: &Confinement<'_>,
    ) -> io::Result<(StdCommand, Option<JobCgroup>)> {
        let memory = job.limits.memory_bytes.unwrap_or(self.config.memory_bytes);
        let procs = job.limits.max_processes.unwrap_or(self.config.max_processes);
        let fsize = job.limits.file_size_bytes.unwrap_or(self.config.file_size_bytes);
        let cgroup = match (&self.limits, self.config.enabled) {
            (LimitMode::Rlimits, _) | (_, false) => None,
            (mode, true) => Some(JobCgroup::create(mode, job.name, memory, procs)?),
        };
        // A small shell runs first: it joins the cgroup (so that nothing the
        // job forks can start outside it), sets the rlimits, and becomes the sandbox.
        let mut script = String::from("unset PWD OLDPWD; ");
        // bubblewrap reads the system-call filter from descriptor 9.
        let filter = self.seccomp.as_ref().filter(|_| self.config.enabled);
        if filter.is_some() {
            script.push_str("exec 9<\"$1\" || exit 125; shift; ");
        }
        script.push_str("while [ \"$1\" != -- ]; do echo $$ > \"$1\" || exit 125; shift; done; shift; ");
        // dash counts the file size in 512-byte blocks.
        script.push_str(&format!("ulimit -f {} || exit 125; ", fsize.div_ceil(512)));
        // The cache is for every job to read; a job's own files are its own.
        script.push_str(if job.cache { "umask 022; " } else { "umask 077; " });
        if cgroup.is_none() && self.config.enabled {
            script.push_str(&format!("ulimit -u {procs} 2>/dev/null; "));
            if !job.reserves_address_space {
                script.push_str(&format!("ulimit -v {} 2>/dev/null; ", memory / 1024));
            }
        }
        script.push_str("exec \"$@\"");
        let mut cmd = StdCommand::new("/bin/sh");
        cmd.arg("-c").arg(script).arg("orvanta-sandbox");
        if let Some(filter) = filter {
            cmd.arg(filter);
        }
        if let Some(cg) = &cgroup {
            cmd.args(cg.procs_files());
        }
        cmd.arg("--");
        if self.config.enabled {
            cmd.arg(&self.bwrap).args(self.bwrap_args(Some(job.dir), job.writable, memory)).arg("--");
            if let Some(setpriv) = &self.setpriv {
                let (uid, gid) = if job.cache {
                    (self.config.cache_uid, self.config.cache_gid)
                } else {
                    (self.config.uid, self.config.gid)
                };
                cmd.arg(setpriv).args([
                    format!("--reuid={uid}"),
                    format!("--regid={gid}"),
                    "--clear-groups".into(),
                    "--inh-caps=-all".into(),
                    "--bounding-set=-all".into(),
                    "--no-new-privs".into(),
                    "--".into(),
                ]);
            }
        }
        cmd.arg(program).args(args).current_dir(job.dir);
        crate::run::confine_child(&mut cmd);
        Ok((cmd, cgroup))
    }

    /// bubblewrap's arguments: the job folder (read-only: arguments and
    /// channels), a folder it may write (the cache step's), and the size of
    /// its `/tmp`, where it works.
    fn bwrap_args(&self, job_dir: Option<&Path>, writable: Option<&Path>, tmp_bytes: u64) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        let mut push = |s: &str| a.push(s.into());
        for flag in [
            "--die-with-parent",
            "--new-session",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
        ] {
            push(flag);
        }
        if !self.config.network {
            push("--unshare-net");
        }
        if !self.root {
            push("--unshare-user");
        }
        if self.seccomp.is_some() {
            a.extend(["--seccomp".into(), "9".into()]);
        }
        // First the fresh file systems, then what is bound over them: a job
        // folder under /tmp stays visible. The job works in /tmp, a tmpfs
        // whose pages count toward its memory (cgroup), and no larger than
        // its memory limit: the disk is not the job's to fill.
        a.extend(["--dev".into(), "/dev".into(), "--proc".into(), "/proc".into()]);
        if self.sized_tmpfs {
            a.extend(["--size".into(), tmp_bytes.to_string().into()]);
        }
        a.extend(["--perms".into(), "1777".into(), "--tmpfs".into(), "/tmp".into()]);
        for dir in SYSTEM {
            a.extend(["--ro-bind-try".into(), dir.into(), dir.into()]);
        }
        let mut binds: Vec<(&str, &Path)> = Vec::new();
        // A resolv.conf that points into /run (systemd-resolved) still resolves.
        if Path::new("/run/systemd/resolve").is_dir() {
            binds.push(("--ro-bind", Path::new("/run/systemd/resolve")));
        }
        binds.extend(self.read_only.iter().map(|d| ("--ro-bind", d.as_path())));
        binds.extend(writable.map(|d| ("--bind", d)));
        if let Some(dir) = job_dir {
            binds.push(("--ro-bind", dir));
        }
        // bubblewrap makes missing parents of a mount point private (0700,
        // root's when privileged): made here first, they are 0755 and the
        // job's user can walk through them.
        let mut made: Vec<&Path> = Vec::new();
        for (_, target) in &binds {
            let mut parents: Vec<&Path> = target.ancestors().skip(1).filter(|p| !is_mounted(p)).collect();
            parents.reverse();
            for parent in parents {
                if !made.contains(&parent) {
                    made.push(parent);
                    a.extend(["--dir".into(), parent.into()]);
                }
            }
        }
        for (how, target) in binds {
            a.extend([how.into(), target.into(), target.into()]);
        }
        // bubblewrap sets PWD after its chdir, whatever it is told.
        a.extend(["--chdir".into(), "/tmp".into()]);
        a
    }
}

/// Where and how one process runs in its sandbox.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Confinement<'a> {
    /// Its folder: the working directory, bound read-write.
    pub(crate) dir: &'a Path,
    /// Its name among this worker's cgroups.
    pub(crate) name: &'a str,
    pub(crate) limits: JobLimits,
    /// V8 and JavaScriptCore reserve far more address space than they use:
    /// no address-space rlimit for them.
    pub(crate) reserves_address_space: bool,
    /// One more folder bound read-write (the Deno cache, for `deno cache`).
    pub(crate) writable: Option<&'a Path>,
    /// It fills Deno's cache: it runs as the cache's user, and what it
    /// writes is readable by every job.
    pub(crate) cache: bool,
}

/// A job's cgroup(s), removed when dropped (after its processes are gone).
#[derive(Debug)]
pub(crate) struct JobCgroup {
    dirs: Vec<PathBuf>,
    v2: bool,
    /// The limits it was made with, for the messages of a job that hit one.
    pub(crate) memory_bytes: u64,
    pub(crate) max_processes: u64,
}

impl JobCgroup {
    fn create(mode: &LimitMode, name: &str, memory: u64, procs: u64) -> io::Result<Self> {
        let (dirs, v2) = match mode {
            LimitMode::CgroupV2(root) => (vec![root.join(name)], true),
            LimitMode::CgroupV1 { memory, pids } => (vec![memory.join(name), pids.join(name)], false),
            LimitMode::Rlimits => (Vec::new(), false),
        };
        for d in &dirs {
            std::fs::create_dir_all(d)?;
        }
        let cg = JobCgroup { dirs, v2, memory_bytes: memory, max_processes: procs };
        if v2 {
            write(&cg.dirs[0].join("memory.max"), &memory.to_string())?;
            let _ = write(&cg.dirs[0].join("memory.swap.max"), "0");
            write(&cg.dirs[0].join("pids.max"), &procs.to_string())?;
        } else {
            write(&cg.dirs[0].join("memory.limit_in_bytes"), &memory.to_string())?;
            let _ = write(&cg.dirs[0].join("memory.memsw.limit_in_bytes"), &memory.to_string());
            write(&cg.dirs[1].join("pids.max"), &procs.to_string())?;
        }
        // The shell that joins the cgroup runs as the worker: the job's
        // user never needs to write here.
        Ok(cg)
    }

    fn procs_files(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|d| d.join("cgroup.procs")).collect()
    }

    /// Kills every process still in the cgroup.
    pub(crate) fn kill_all(&self) {
        for _ in 0..50 {
            if self.kill_listed() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }

    /// As `kill_all`, for a job's supervisor, once the job's process has
    /// ended: what it left leaves the cgroup within a millisecond, so the
    /// first looks come microseconds apart, and the longer waits yield the thread.
    pub(crate) async fn kill_all_after_exit(&self) {
        let mut pause = std::time::Duration::from_micros(50);
        for _ in 0..60 {
            if self.kill_listed() {
                return;
            }
            if pause < std::time::Duration::from_millis(1) {
                std::thread::sleep(pause);
            } else {
                tokio::time::sleep(pause).await;
            }
            pause = (pause * 2).min(std::time::Duration::from_millis(2));
        }
    }

    /// Kills what the cgroup holds (v2: all of it at once); true when
    /// nothing is left to wait for.
    fn kill_listed(&self) -> bool {
        if self.v2 && write(&self.dirs[0].join("cgroup.kill"), "1").is_ok() {
            return true;
        }
        let pids = self.pids();
        for &pid in &pids {
            let _ = crate::run::kill_pid(pid, crate::run::Signal::Kill);
        }
        pids.is_empty()
    }

    fn pids(&self) -> Vec<u32> {
        self.dirs
            .iter()
            .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
            .flat_map(|s| s.lines().filter_map(|l| l.trim().parse().ok()).collect::<Vec<u32>>())
            .collect()
    }

    /// Sets the job's own limits (a spare sandbox's cgroup was made with the
    /// instance's).
    pub(crate) fn set_limits(&mut self, memory: Option<u64>, procs: Option<u64>) -> io::Result<()> {
        if let Some(memory) = memory.filter(|&m| m != self.memory_bytes) {
            if self.v2 {
                write(&self.dirs[0].join("memory.max"), &memory.to_string())?;
            } else {
                // memsw must stay at least the memory limit: raise in the right order.
                let memsw = self.dirs[0].join("memory.memsw.limit_in_bytes");
                if memory > self.memory_bytes {
                    let _ = write(&memsw, &memory.to_string());
                    write(&self.dirs[0].join("memory.limit_in_bytes"), &memory.to_string())?;
                } else {
                    write(&self.dirs[0].join("memory.limit_in_bytes"), &memory.to_string())?;
                    let _ = write(&memsw, &memory.to_string());
                }
            }
            self.memory_bytes = memory;
        }
        if let Some(procs) = procs.filter(|&p| p != self.max_processes) {
            let dir = if self.v2 { &self.dirs[0] } else { &self.dirs[1] };
            write(&dir.join("pids.max"), &procs.to_string())?;
            self.max_processes = procs;
        }
        Ok(())
    }

    /// The anonymous memory the job's processes use now (not the page
    /// cache, which the kernel reclaims), if known.
    pub(crate) fn memory_usage(&self) -> Option<u64> {
        let stat = std::fs::read_to_string(self.dirs.first()?.join("memory.stat")).ok()?;
        let key = if self.v2 { "anon " } else { "total_rss " };
        stat.lines().find_map(|l| l.strip_prefix(key)).and_then(|v| v.trim().parse().ok())
    }

    /// Whether the kernel killed a process of the job for going over its
    /// memory limit.
    pub(crate) fn hit_memory_limit(&self) -> bool {
        let Some(dir) = self.dirs.first() else { return false };
        let file = if self.v2 { "memory.events" } else { "memory.oom_control" };
        std::fs::read_to_string(dir.join(file))
            .map(|s| s.lines().any(|l| l.starts_with("oom_kill ") && !l.ends_with(" 0")))
            .unwrap_or(false)
    }

    /// Whether the job hit its process limit (a fork was refused).
    pub(crate) fn hit_process_limit(&self) -> bool {
        let dir = if self.v2 { self.dirs.first() } else { self.dirs.get(1) };
        dir.and_then(|d| std::fs::read_to_string(d.join("pids.events")).ok())
            .map(|s| s.lines().any(|l| l.starts_with("max ") && !l.ends_with(" 0")))
            .unwrap_or(false)
    }
}

impl JobCgroup {
    /// Removes the cgroup off the job's path: the kernel may take a few
    /// milliseconds to let go of an emptied memory cgroup.
    pub(crate) fn remove_later(self) {
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn_blocking(move || drop(self));
            }
            Err(_) => drop(self),
        }
    }
}

impl Drop for JobCgroup {
    fn drop(&mut self) {
        self.kill_all();
        for d in &self.dirs {
            // Empty now; a cgroup directory is removed with rmdir.
            for _ in 0..20 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    std::fs::write(path, value)
}

/// Where per-job cgroups can be made, if anywhere: a folder of this worker
/// process's own, `orvanta-jobs/w<pid>-<time>`, under the worker's cgroup.
/// Several workers may share the worker's cgroup (processes of one
/// machine or container): each sweeps only what dead workers left.
fn detect_cgroups() -> LimitMode {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let base = Path::new("/sys/fs/cgroup");
    let mine = format!(
        "w{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
    );
    // cgroup v2 (unified): `0::/path`.
    if base.join("cgroup.controllers").exists() {
        let rel = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("/").trim_start_matches('/');
        let jobs = base.join(rel).join("orvanta-jobs");
        let controllers = std::fs::read_to_string(base.join(rel).join("cgroup.controllers")).unwrap_or_default();
        let enable = |dir: &Path| write(&dir.join("cgroup.subtree_control"), "+memory +pids").is_ok();
        if controllers.contains("memory") && controllers.contains("pids") && std::fs::create_dir_all(&jobs).is_ok() {
            sweep_dead_workers(&jobs);
            let dir = jobs.join(&mine);
            if enable(&jobs) && std::fs::create_dir_all(&dir).is_ok() && enable(&dir) {
                return LimitMode::CgroupV2(dir);
            }
        }
        return LimitMode::Rlimits;
    }
    // cgroups v1: one hierarchy per controller, `N:memory:/path`.
    let v1 = |controller: &str| -> Option<PathBuf> {
        let rel = own.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, names, path) = (parts.next()?, parts.next()?, parts.next()?);
            names.split(',').any(|n| n == controller).then(|| path.trim_start_matches('/').to_owned())
        })?;
        let jobs = base.join(controller).join(rel).join("orvanta-jobs");
        std::fs::create_dir_all(&jobs).ok()?;
        sweep_dead_workers(&jobs);
        let dir = jobs.join(&mine);
        std::fs::create_dir_all(&dir).ok()?;
        Some(dir)
    };
    match (v1("memory"), v1("pids")) {
        (Some(memory), Some(pids)) => LimitMode::CgroupV1 { memory, pids },
        _ => LimitMode::Rlimits,
    }
}

/// Removes what workers that are gone left under `jobs`: their folders
/// (`w<pid>-...`, the pid no longer running) and the cgroups of their jobs,
/// killing any process still in them.
fn sweep_dead_workers(jobs: &Path) {
    for entry in std::fs::read_dir(jobs).into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix('w').and_then(|r| r.split('-').next()).and_then(|p| p.parse::<u32>().ok())
        else {
            // A job cgroup of an older layout: removed if empty.
            let _ = std::fs::remove_dir(entry.path());
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let worker = entry.path();
        for job in std::fs::read_dir(&worker).into_iter().flatten().flatten() {
            if job.file_type().is_ok_and(|t| t.is_dir()) {
                let leftover = JobCgroup { dirs: vec![job.path()], v2: false, memory_bytes: 0, max_processes: 0 };
                // Dropping it kills what is left and removes it.
                drop(leftover);
            }
        }
        let _ = std::fs::remove_dir(&worker);
    }
}

fn which(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.exists().then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).map(|d| d.join(program)).find(|p| p.is_file())
}

fn tempdir_for_probe() -> Result<PathBuf, SandboxError> {
    let dir = std::env::temp_dir().join(format!("orvanta-sandbox-probe-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| SandboxError(format!("cannot make {}: {e}", dir.display())))?;
    Ok(dir)
}

fn is_root() -> bool {
    current_uid() == 0
}

fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    // The owner of a file this process just made is its effective uid,
    // without an unsafe call.
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}
