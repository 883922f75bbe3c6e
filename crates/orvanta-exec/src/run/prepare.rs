//! Everything before the job's process runs: its directory and files, its
//! command line, its environment, and the pipes it writes to.

use super::channel::Channel;
use super::support::{self, SupportDir};
use crate::sandbox::{Confinement, JobCgroup, JobLimits};
use crate::{JobRequest, Runtime, Runtimes};
use orvanta_core::Language;
use serde_json::{Map, Value};
use std::ffi::OsString;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::net::unix::pipe;
use tokio::process::{Child, Command};

/// The job's own directory: its working directory, `HOME` and `TMPDIR`,
/// removed after the run with whatever the job left in it (also when the
/// run's future is dropped).
#[derive(Debug)]
pub(crate) struct JobDir {
    path: PathBuf,
    removed: bool,
    /// The job's code was written to the script cache by this call: the
    /// first run of this version on this worker.
    pub(crate) new_script: bool,
}

impl JobDir {
    /// Makes `work_root/<job id>` (`-2`, `-3`, … if a run of the same job
    /// is still there), private to the job's user (`owner`, when the worker
    /// is root and jobs run as another user), and writes the job's files.
    /// Python code new to this worker is compiled to bytecode first, since
    /// the job itself cannot write the cache.
    pub(crate) fn create(
        work_root: &Path,
        name: &str,
        files: &JobFiles,
        owner: Option<(u32, u32)>,
        python: Option<(&Path, &SupportDir)>,
    ) -> io::Result<Self> {
        let mut dir = Self::create_empty(work_root, name, owner)?;
        // On failure, dropping `dir` removes it.
        dir.write(files, owner, python)?;
        Ok(dir)
    }

    /// Makes the folder alone (see [`JobDir::create`]).
    pub(crate) fn create_empty(work_root: &Path, name: &str, owner: Option<(u32, u32)>) -> io::Result<Self> {
        std::fs::create_dir_all(work_root)?;
        let mut builder = std::fs::DirBuilder::new();
        builder.mode(0o700);
        let mut attempt = 1;
        let path = loop {
            let candidate = match attempt {
                1 => work_root.join(name),
                n => work_root.join(format!("{name}-{n}")),
            };
            match builder.create(&candidate) {
                Ok(()) => break candidate,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 100 => attempt += 1,
                Err(e) => return Err(e),
            }
        };
        // From here on, a failure drops `dir`, which removes the folder.
        let mut dir = Self { path, removed: false, new_script: false };
        dir.path = std::fs::canonicalize(&dir.path)?;
        chown(&dir.path, owner)?;
        Ok(dir)
    }

    /// Writes the job's files into the folder, and its code into the
    /// script cache (compiled, for Python, when new to this worker).
    pub(crate) fn write(
        &mut self,
        files: &JobFiles,
        owner: Option<(u32, u32)>,
        python: Option<(&Path, &SupportDir)>,
    ) -> io::Result<()> {
        if let Some((path, code)) = &files.script {
            self.new_script = support::write_if_changed(path, code)?;
            if let (true, Some((program, support))) = (self.new_script, python) {
                support.compile_script(program, path);
            }
        }
        for (name, content) in &files.in_dir {
            std::fs::write(self.path.join(name), content)?;
            chown(&self.path.join(name), owner)?;
        }
        Ok(())
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The last path component: the job's name for its cgroup.
    pub(crate) fn name(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// Removes the folder on a blocking thread, without waiting for it.
    pub(crate) fn remove_later(mut self) {
        self.removed = true;
        let path = self.path.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => drop(handle.spawn_blocking(move || remove_dir(&path))),
            Err(_) => remove_dir(&path),
        }
    }

    /// Removes the directory off the async threads: a job may leave many files.
    pub(crate) async fn remove(mut self) {
        self.removed = true;
        let path = self.path.clone();
        if let Err(e) = tokio::task::spawn_blocking(move || remove_dir(&path)).await {
            tracing::warn!("could not remove a job directory: {e}");
        }
    }
}

impl Drop for JobDir {
    fn drop(&mut self) {
        if !self.removed {
            remove_dir(&self.path);
        }
    }
}

/// Hands `path` to the job's user, when jobs run as another user.
pub(crate) fn chown(path: &Path, owner: Option<(u32, u32)>) -> io::Result<()> {
    match owner {
        Some((uid, gid)) => std::os::unix::fs::chown(path, Some(uid), Some(gid)),
        None => Ok(()),
    }
}

fn remove_dir(path: &Path) {
    match std::fs::remove_dir_all(path) {
        // Gone with its worker's folder, at a stop.
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!("could not remove the job directory {}: {e}", path.display()),
        Ok(()) => {}
    }
}

/// How long `deno cache` may take (it downloads the script's imports).
const DENO_CACHE_TIMEOUT: Duration = Duration::from_secs(120);

/// Fills Deno's cache for `script`: its module graph (the file, what it
/// imports, the client library), downloaded and transpiled, in a sandbox
/// that may write the cache and nothing else of the host's. `deno cache`
/// runs nothing of the script. Blocking; best effort: a job whose script
/// is not cached transpiles it in memory.
pub(crate) fn cache_deno(runtimes: &Runtimes, deno: &Runtime, script: &Path, work_root: &Path) {
    if let Err(e) = try_cache_deno(runtimes, deno, script, work_root) {
        tracing::warn!(script = %script.display(), "could not fill Deno's cache: {e}");
    }
}

fn try_cache_deno(runtimes: &Runtimes, deno: &Runtime, script: &Path, work_root: &Path) -> io::Result<()> {
    let support = &runtimes.support;
    let sandbox = &runtimes.sandbox;
    let files = JobFiles { in_dir: Vec::new(), script: None };
    let dir = JobDir::create(
        work_root,
        &format!("cache-{}", orvanta_core::JobId::new()),
        &files,
        sandbox.cache_owner(),
        None,
    )?;
    let name = dir.name();
    let cache = support.deno_cache();
    let confinement = Confinement {
        dir: dir.path(),
        name: &name,
        limits: JobLimits::default(),
        reserves_address_space: true,
        writable: Some(&cache),
        cache: true,
    };
    let args: Vec<OsString> = vec![
        "cache".into(),
        "--quiet".into(),
        "--no-lock".into(),
        format!("--config={}", support.deno_config().display()).into(),
        script.into(),
    ];
    let (mut command, cgroup) = sandbox.wrap(&deno.program, &args, &confinement)?;
    command
        .env_clear()
        .envs(base_environment(runtimes, dir.path()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = command.spawn()?;
    let started = std::time::Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if started.elapsed() > DENO_CACHE_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::new(io::ErrorKind::TimedOut, "deno cache took too long"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    drop(cgroup);
    if !status.success() {
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            use std::io::Read;
            let _ = stderr.by_ref().take(4096).read_to_string(&mut err);
        }
        return Err(io::Error::other(format!("{status}: {}", err.trim())));
    }
    Ok(())
}

/// The files a job starts from: its code and its arguments.
#[derive(Debug)]
pub(crate) struct JobFiles {
    /// Written into the job directory.
    in_dir: Vec<(&'static str, Vec<u8>)>,
    /// TypeScript code, kept at a path named by its hash (see [`support`]).
    script: Option<(PathBuf, String)>,
}

pub(crate) fn job_files(req: &JobRequest<'_>, args: &Map<String, Value>, support: &SupportDir) -> JobFiles {
    match req.language {
        Language::Bash => JobFiles { in_dir: vec![("main.sh", req.code.as_bytes().to_vec())], script: None },
        _ => {
            let mut files = script_files(req, support);
            files.in_dir.push(("args.json", to_json(&call(req, args, support))));
            files
        }
    }
}

/// A script's code in the support folder's cache (Python and TypeScript),
/// and nothing in the job's folder: what a warm process starts from.
pub(crate) fn script_files(req: &JobRequest<'_>, support: &SupportDir) -> JobFiles {
    let file = if req.language == Language::Python3 { "main.py" } else { "main.ts" };
    JobFiles { in_dir: Vec::new(), script: Some((support.script_path(req.code, file), req.code.to_owned())) }
}

/// What the wrapper calls `main` with: keyword arguments for Python; for
/// TypeScript the script's file, its parameters in order and the arguments.
pub(crate) fn call(req: &JobRequest<'_>, args: &Map<String, Value>, support: &SupportDir) -> Value {
    match req.language {
        Language::Deno | Language::Bun => serde_json::json!({
            "main": support.script_path(req.code, "main.ts").display().to_string(),
            "params": req.signature.params.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            "extra": req.signature.accepts_extra,
            "args": args,
        }),
        _ => Value::Object(args.clone()),
    }
}

fn to_json(value: &Value) -> Vec<u8> {
    // Serialising a Value cannot fail: its keys are strings already.
    serde_json::to_vec(value).unwrap_or_default()
}

/// A spawned job with the ends of its pipes.
#[derive(Debug)]
pub(crate) struct Spawned {
    pub(crate) child: Child,
    /// The child's pid, which `process_group(0)` made its group's id.
    pub(crate) pgid: Option<u32>,
    /// Whether the child is bubblewrap: the job's processes are below it,
    /// in a session and pid namespace of their own.
    pub(crate) sandboxed: bool,
    /// The job's cgroup, if limits are enforced through one.
    pub(crate) cgroup: Option<JobCgroup>,
    /// stdout and stderr merged, or stdout alone for Bash.
    pub(crate) out: pipe::Receiver,
    /// stderr for Bash, whose result is the last line of stdout alone.
    pub(crate) err: Option<pipe::Receiver>,
    /// The result channel; Bash has none.
    pub(crate) channel: Option<Channel>,
    /// Held while the job runs: a spare sandbox's `go`, whose line would
    /// vanish if the FIFO had no writer left when the sandbox opens it.
    pub(crate) hold: Option<tokio::net::unix::pipe::Sender>,
}

/// How a job (or a warm process of its script) is confined: in `dir`,
/// with the script's limits.
pub(crate) fn job_confinement<'a>(req: &JobRequest<'_>, dir: &'a Path, name: &'a str) -> Confinement<'a> {
    Confinement {
        dir,
        name,
        limits: req.limits.resources,
        // V8 and JavaScriptCore reserve far more address space than they use.
        reserves_address_space: matches!(req.language, Language::Deno | Language::Bun),
        writable: None,
        cache: false,
    }
}

/// Fills Deno's cache for the job's script when this worker just wrote it
/// (its version's first run here): jobs only read the cache.
pub(crate) async fn cache_new_deno_script(runtimes: &Runtimes, deno: &Runtime, req: &JobRequest<'_>, dir: &JobDir) {
    if req.language == Language::Deno && dir.new_script && runtimes.sandbox.enabled() {
        let (runtimes, deno, work_root) = (runtimes.clone(), deno.clone(), req.work_root.to_path_buf());
        let script = runtimes.support.script_path(req.code, "main.ts");
        let _ = tokio::task::spawn_blocking(move || cache_deno(&runtimes, &deno, &script, &work_root)).await;
    }
}

/// Why a job could not start.
#[derive(Debug)]
pub(crate) enum SpawnError {
    /// Its cgroup could not be made.
    Limits(io::Error),
    /// Its pipes or its process.
    Start(io::Error),
}

/// Starts the job's process in its sandbox, with a scrubbed environment.
pub(crate) fn spawn(
    runtimes: &Runtimes,
    runtime: &Runtime,
    req: &JobRequest<'_>,
    args: &Map<String, Value>,
    dir: &JobDir,
) -> Result<Spawned, SpawnError> {
    let support = &runtimes.support;
    let sandbox = &runtimes.sandbox;
    let name = dir.name();
    let confinement = job_confinement(req, dir.path(), &name);
    let (command, cgroup) = sandbox
        .wrap(&runtime.program, &arguments(req, args, support, dir.path()), &confinement)
        .map_err(SpawnError::Limits)?;
    let mut command = Command::from(command);
    command
        .env_clear()
        .envs(environment(runtimes, req, dir.path()))
        .stdin(Stdio::null())
        .process_group(0)
        .kill_on_drop(true);
    let start = |command: &mut Command| -> io::Result<Spawned> {
        let channel = match req.language {
            Language::Bash => None,
            _ => {
                let fifo = dir.path().join("out.fifo");
                let channel = Channel::create(&fifo)?;
                chown(&fifo, sandbox.job_owner())?;
                Some(channel)
            }
        };
        let (out_writer, out) = pipe::pipe()?;
        let out_writer = out_writer.into_blocking_fd()?;
        let err = if req.language == Language::Bash {
            let (err_writer, err) = pipe::pipe()?;
            command.stderr(err_writer.into_blocking_fd()?);
            Some(err)
        } else {
            // One pipe for both keeps prints and errors in the order they happened.
            command.stderr(out_writer.try_clone()?);
            None
        };
        command.stdout(out_writer);
        let child = command.spawn()?;
        Ok(Spawned {
            pgid: child.id(),
            child,
            sandboxed: sandbox.enabled(),
            cgroup: None,
            out,
            err,
            channel,
            hold: None,
        })
    };
    let mut spawned = start(&mut command).map_err(SpawnError::Start)?;
    // `command` still holds our copies of the pipes' write ends: dropping it
    // lets end-of-file come when the job's processes have closed theirs.
    drop(command);
    spawned.cgroup = cgroup;
    Ok(spawned)
}

pub(crate) fn arguments(
    req: &JobRequest<'_>,
    args: &Map<String, Value>,
    support: &SupportDir,
    dir: &Path,
) -> Vec<OsString> {
    match req.language {
        Language::Bash => bash_arguments(req, args, dir),
        _ => interpreter_arguments(req, support, "run", dir),
    }
}

/// The interpreter's arguments for Python and TypeScript; `entry` is the
/// Python wrapper's function: `run` (one job) or `serve` (a warm process).
/// The wrappers find their channels in the job folder `dir`, named last.
pub(crate) fn interpreter_arguments(
    req: &JobRequest<'_>,
    support: &SupportDir,
    entry: &str,
    dir: &Path,
) -> Vec<OsString> {
    let mut args: Vec<OsString> = match req.language {
        // `-c import`: the wrapper is a module, so its bytecode is cached; it
        // imports `main` from the folder given after it.
        Language::Python3 => {
            let script_dir =
                support.script_path(req.code, "main.py").parent().map(Path::to_path_buf).unwrap_or_default();
            vec!["-c".into(), format!("import orvanta_wrapper as w; w.{entry}()").into(), script_dir.into()]
        }
        Language::Deno => vec![
            "run".into(),
            "--allow-all".into(),
            "--no-prompt".into(),
            "--quiet".into(),
            "--no-check".into(),
            "--no-lock".into(),
            format!("--config={}", support.deno_config().display()).into(),
            support.wrapper_ts().into(),
        ],
        _ => vec!["run".into(), "--no-install".into(), support.wrapper_ts().into()],
    };
    args.push(dir.into());
    args
}

/// Bash gets its arguments positionally, in parameter order: strings as
/// they are, the rest as JSON text; an absent optional argument is empty,
/// so `${1:-default}` applies.
fn bash_arguments(req: &JobRequest<'_>, args: &Map<String, Value>, dir: &Path) -> Vec<OsString> {
    let mut line: Vec<OsString> = vec![dir.join("main.sh").into()];
    line.extend(req.signature.params.iter().map(|param| match args.get(&param.name) {
        None => OsString::new(),
        Some(Value::String(text)) => text.into(),
        Some(other) => other.to_string().into(),
    }));
    line
}

/// The job's whole environment: nothing of the server's own.
pub(crate) fn environment(runtimes: &Runtimes, req: &JobRequest<'_>, dir: &Path) -> Vec<(&'static str, OsString)> {
    let mut env = job_variables(req);
    env.extend(base_environment(runtimes, dir));
    env
}

/// The variables that name the job: where it calls back, as whom.
pub(crate) fn job_variables(req: &JobRequest<'_>) -> Vec<(&'static str, OsString)> {
    vec![
        ("ORVANTA_BASE_URL", req.base_url.into()),
        ("ORVANTA_WORKSPACE", req.workspace.into()),
        ("ORVANTA_JOB_ID", req.job_id.to_string().into()),
        ("ORVANTA_TOKEN", req.token.into()),
    ]
}

/// What every process in a sandbox gets: the interpreters' settings.
pub(crate) fn base_environment(runtimes: &Runtimes, dir: &Path) -> Vec<(&'static str, OsString)> {
    let support = &runtimes.support;
    vec![
        ("PATH", search_path(runtimes)),
        ("HOME", runtimes.sandbox.work_dir(dir).into()),
        ("TMPDIR", runtimes.sandbox.work_dir(dir).into()),
        ("LANG", "C.UTF-8".into()),
        ("NO_COLOR", "1".into()),
        ("PYTHONPATH", support.python_search_path()),
        ("PYTHONUNBUFFERED", "1".into()),
        ("DENO_DIR", support.deno_cache().into()),
        ("DENO_NO_UPDATE_CHECK", "1".into()),
        ("BUN_RUNTIME_TRANSPILER_CACHE_PATH", support.bun_cache().into()),
        ("DO_NOT_TRACK", "1".into()),
    ]
}

/// The folders of the interpreters found at start, then the system's: a
/// script that runs `python3` gets the Python Orvanta runs.
fn search_path(runtimes: &Runtimes) -> OsString {
    const SYSTEM: [&str; 3] = ["/usr/local/bin", "/usr/bin", "/bin"];
    let mut dirs: Vec<&Path> = Vec::new();
    for (_, runtime) in runtimes.report() {
        if let Some(dir) = runtime.and_then(|r| r.program.parent()) {
            if !dirs.contains(&dir) && !SYSTEM.iter().any(|system| dir == Path::new(system)) {
                dirs.push(dir);
            }
        }
    }
    dirs.extend(SYSTEM.iter().map(Path::new));
    std::env::join_paths(dirs).unwrap_or_else(|_| SYSTEM.join(":").into())
}
