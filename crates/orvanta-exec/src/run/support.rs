//! The support directory: the wrappers and client libraries every job needs.
//!
//! They are compiled into the binary (`include_str!`) so that one `orvanta`
//! file works anywhere, and written out once at start-up by
//! [`Runtimes::discover`](crate::Runtimes::discover). The layout:
//!
//! ```text
//! <support>/wrappers/orvanta_wrapper.py, wrapper.ts
//! <support>/clients/python/orvanta/__init__.py          (PYTHONPATH)
//! <support>/clients/ts/orvanta-client/mod.ts, package.json
//! <support>/clients/ts/node_modules/orvanta-client -> ../orvanta-client   (Bun)
//! <support>/clients/ts/deno.json                        (Deno's import map)
//! <support>/cache/deno, cache/bun                       (transpile caches)
//! <support>/cache/scripts/<sha256>/main.{py,ts}         (jobs' code, by content)
//! <support>/cache/scripts/<sha256>/__pycache__/           (compiled before the first run)
//! <support>/cache/scripts/node_modules -> ../../clients/ts/node_modules
//! ```
//!
//! TypeScript code is not run from the job directory but from a file named
//! by the hash of its content: Deno caches the transpiled module and its V8
//! code per path, so a path per job would transpile every run and grow that
//! cache by an entry per job, forever. One path per content reuses the cache
//! for every run of a script version and bounds it by the versions run.
//!
//! Several workers may share one support directory, and jobs may be running
//! while another process starts: files are replaced by rename, and only when
//! their content changed.
//!
//! Jobs only read this folder (their sandbox binds it read-only) and run as
//! another user: everything here is readable by everyone and writable by
//! the worker alone. Caches are filled by the worker, never by a job: Python
//! bytecode is compiled before a script version first runs, Deno's cache is
//! filled by `deno cache` (which loads the module graph and runs nothing).

use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

const WRAPPER_PY: &str = include_str!("../../wrappers/wrapper.py");
const WRAPPER_TS: &str = include_str!("../../wrappers/wrapper.ts");
const CLIENT_PY: &str = include_str!("../../../../clients/python/orvanta/__init__.py");
const CLIENT_TS: &str = include_str!("../../../../clients/ts/orvanta-client/mod.ts");
const CLIENT_TS_PACKAGE: &str = include_str!("../../../../clients/ts/orvanta-client/package.json");

/// Where the support files of one installation live.
#[derive(Debug, Clone)]
pub(crate) struct SupportDir {
    root: PathBuf,
}

impl SupportDir {
    /// Writes the support files below `root` (created if needed) and returns
    /// the installed layout. `root` is made absolute: jobs run elsewhere.
    pub(crate) fn install(root: &Path) -> io::Result<Self> {
        make_dirs(root)?;
        let dir = Self { root: std::fs::canonicalize(root)? };
        // The support folder may predate the sandbox (files private to the
        // worker). Deno's cache is its own user's, who makes it readable.
        open_up(&dir.root, &dir.deno_cache())?;
        write_if_changed(&dir.wrapper_py(), WRAPPER_PY)?;
        write_if_changed(&dir.wrapper_ts(), WRAPPER_TS)?;
        write_if_changed(&dir.python_path().join("orvanta/__init__.py"), CLIENT_PY)?;
        let ts_client = dir.ts_clients().join("orvanta-client");
        write_if_changed(&ts_client.join("mod.ts"), CLIENT_TS)?;
        write_if_changed(&ts_client.join("package.json"), CLIENT_TS_PACKAGE)?;
        ensure_symlink(Path::new("../orvanta-client"), &dir.node_modules().join("orvanta-client"))?;
        let import_map = serde_json::json!({
            "imports": { "orvanta-client": file_url(&ts_client.join("mod.ts")) }
        });
        write_if_changed(&dir.deno_config(), &format!("{import_map:#}\n"))?;
        make_dirs(&dir.deno_cache())?;
        make_dirs(&dir.bun_cache())?;
        // Bun resolves `orvanta-client` from the script's folder upwards.
        ensure_symlink(Path::new("../../clients/ts/node_modules"), &dir.scripts().join("node_modules"))?;
        Ok(dir)
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The Python wrapper, a module (`orvanta_wrapper`) so that its bytecode is
    /// cached across jobs (a script Python runs directly is compiled each time).
    pub(crate) fn wrapper_py(&self) -> PathBuf {
        self.root.join("wrappers/orvanta_wrapper.py")
    }

    /// `PYTHONPATH`: the client library and the wrapper module.
    pub(crate) fn python_search_path(&self) -> std::ffi::OsString {
        let mut path = self.python_path().into_os_string();
        path.push(":");
        path.push(self.root.join("wrappers"));
        path
    }

    pub(crate) fn wrapper_ts(&self) -> PathBuf {
        self.root.join("wrappers/wrapper.ts")
    }

    /// The folder that goes on `PYTHONPATH`: it holds the `orvanta` package.
    pub(crate) fn python_path(&self) -> PathBuf {
        self.root.join("clients/python")
    }

    fn ts_clients(&self) -> PathBuf {
        self.root.join("clients/ts")
    }

    fn node_modules(&self) -> PathBuf {
        self.ts_clients().join("node_modules")
    }

    fn scripts(&self) -> PathBuf {
        self.root.join("cache/scripts")
    }

    /// Where Python and TypeScript `code` is run from:
    /// `cache/scripts/<sha256>/main.{py,ts}` (stack traces still say `main`),
    /// so that compiled and transpiled forms are cached once per version. A
    /// cryptographic hash, since two scripts sharing a path would run each
    /// other's code.
    pub(crate) fn script_path(&self, code: &str, file: &str) -> PathBuf {
        let digest = Sha256::digest(code.as_bytes());
        let mut name = String::with_capacity(digest.len() * 2);
        for byte in digest {
            let _ = write!(name, "{byte:02x}");
        }
        self.scripts().join(name).join(file)
    }

    /// Deno's configuration, whose import map resolves `orvanta-client`.
    pub(crate) fn deno_config(&self) -> PathBuf {
        self.ts_clients().join("deno.json")
    }

    /// `DENO_DIR`: kept across jobs so that Deno transpiles the wrapper and
    /// the client library once, not in every job.
    pub(crate) fn deno_cache(&self) -> PathBuf {
        self.root.join("cache/deno")
    }

    /// Compiles the wrapper and the client library to bytecode (their
    /// `__pycache__`), which jobs can only read. Best effort: without it
    /// Python compiles them in memory at each start.
    pub(crate) fn compile_python(&self, python: &Path) {
        let dirs = [self.root.join("wrappers"), self.python_path()];
        let status = python_tool(python).args(["-m", "compileall", "-q"]).args(&dirs).status();
        if !status.is_ok_and(|s| s.success()) {
            tracing::warn!("could not precompile the Python wrapper: jobs will compile it at each start");
        }
        for dir in dirs {
            let _ = open_up(&dir, &self.deno_cache());
        }
    }

    /// Compiles one script's code (`main.py`) to bytecode beside it. Only
    /// compiles: nothing of the script runs here.
    pub(crate) fn compile_script(&self, python: &Path, script: &Path) {
        let _ = python_tool(python).args(["-m", "py_compile"]).arg(script).status();
        if let Some(dir) = script.parent() {
            let _ = open_up(dir, &self.deno_cache());
        }
    }

    /// Bun's transpiler cache, kept across jobs for the same reason.
    pub(crate) fn bun_cache(&self) -> PathBuf {
        self.root.join("cache/bun")
    }
}

/// Python run as a tool (`-m compileall`): isolated from the environment
/// and the user's site folder, quiet.
fn python_tool(python: &Path) -> std::process::Command {
    let mut command = std::process::Command::new(python);
    command
        .args(["-I", "-S"])
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

/// Makes `path` and what is below it (but `skip`) readable, not writable,
/// by everyone: jobs run as another user and only read the support files.
pub(crate) fn open_up(path: &Path, skip: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.file_type().is_symlink() || path == skip {
        return Ok(());
    }
    let mode = if meta.is_dir() { 0o755 } else { 0o644 };
    if meta.permissions().mode() & 0o7777 != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            open_up(&entry?.path(), skip)?;
        }
    }
    Ok(())
}

/// Gives `path` and what is below it to `owner` (the user that fills
/// Deno's cache in a sandbox), readable by everyone. Symbolic links are
/// not followed. Runs at start, when no process of that user may run: the
/// user is Orvanta's alone.
pub(crate) fn chown_tree(path: &Path, owner: Option<(u32, u32)>) -> io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let Some((uid, gid)) = owner else { return Ok(()) };
    let meta = std::fs::symlink_metadata(path)?;
    if meta.uid() != uid || meta.gid() != gid {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    }
    if meta.file_type().is_symlink() {
        return Ok(());
    }
    let mode = if meta.is_dir() { 0o755 } else { 0o644 };
    if meta.permissions().mode() & 0o777 != mode {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), owner)?;
        }
    }
    Ok(())
}

/// Makes `dir` and its missing parents, each readable by everyone.
fn make_dirs(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if dir.is_dir() {
        return Ok(());
    }
    if let Some(parent) = dir.parent() {
        make_dirs(parent)?;
    }
    match std::fs::create_dir(dir) {
        Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Replaces `path` by `content` through a rename, so that a job starting
/// meanwhile sees the old file or the new one, never half of one. Reading
/// first also repairs a file that something else changed. Says whether it
/// wrote. The file and the folders made for it are readable by everyone.
pub(crate) fn write_if_changed(path: &Path, content: &str) -> io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    if std::fs::read(path).is_ok_and(|old| old == content.as_bytes()) {
        return Ok(false);
    }
    if let Some(parent) = path.parent() {
        make_dirs(parent)?;
    }
    // Unique per call: two job slots may write the same new script at once.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".{}-{n}.tmp", std::process::id()));
    std::fs::write(&temp, content)?;
    std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&temp, path)?;
    Ok(true)
}

fn ensure_symlink(target: &Path, link: &Path) -> io::Result<()> {
    if std::fs::read_link(link).is_ok_and(|old| old == target) {
        return Ok(());
    }
    if let Some(parent) = link.parent() {
        make_dirs(parent)?;
    }
    match std::fs::symlink_metadata(link) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(link)?,
        Ok(_) => std::fs::remove_file(link)?,
        Err(_) => {}
    }
    std::os::unix::fs::symlink(target, link)
}

/// `file://` URL of an absolute path, percent-encoding what a URL path may
/// not hold (a support directory may contain spaces).
pub(crate) fn file_url(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut url = String::from("file://");
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-_.~".contains(&byte) {
            url.push(char::from(byte));
        } else {
            url.push_str(&format!("%{byte:02X}"));
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_named_by_their_sha256() {
        let dir = SupportDir { root: PathBuf::from("/s") };
        assert_eq!(
            dir.script_path("abc", "main.ts"),
            Path::new("/s/cache/scripts/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad/main.ts")
        );
    }

    #[test]
    fn file_url_encodes_what_a_path_may_hold() {
        assert_eq!(file_url(Path::new("/srv/my data/mod.ts")), "file:///srv/my%20data/mod.ts");
    }
}
