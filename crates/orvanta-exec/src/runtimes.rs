//! The interpreters Orvanta runs scripts with, found once at start-up.
//!
//! Each one is resolved to the real executable, not to a launcher in front of
//! it: `python3` on a PATH is often a pyenv shim (a bash script costing
//! ~140 ms per spawn) and `deno`/`bun` installed through npm may be Node
//! scripts. So the interpreter is asked for its own path once
//! (`sys.executable`, `Deno.execPath()`, `process.execPath`, `$BASH`), and
//! every job spawns that path directly.
//!
//! Where to look comes from the caller (the config module owns the
//! environment): an override path per language, else the name on the
//! server's PATH.

use crate::run::support::SupportDir;
use crate::sandbox::{Sandbox, SandboxConfig};
use orvanta_core::Language;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one probe of an interpreter may take before it counts as absent.
const PROBE_TIMEOUT: Duration = Duration::from_secs(20);

/// One interpreter, as found at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runtime {
    pub language: Language,
    /// The real executable: what jobs of this language spawn.
    pub program: PathBuf,
    /// As the interpreter prints it (`Python 3.11.7`, `deno 2.1.4 (...)`, `1.1.38`, `GNU bash, ...`).
    pub version: String,
    /// The folders the interpreter needs (its installation: standard
    /// library, bundled files), bound read-only into job sandboxes.
    pub prefixes: Vec<PathBuf>,
}

/// The interpreters of this worker, its installed support files, and the
/// sandbox its jobs run in.
#[derive(Debug, Clone)]
pub struct Runtimes {
    found: HashMap<Language, Runtime>,
    pub(crate) support: SupportDir,
    pub(crate) sandbox: Sandbox,
}

/// Why the runtimes are not ready.
#[derive(Debug, thiserror::Error)]
pub enum SupportError {
    /// The support files (wrappers, client libraries) could not be written.
    #[error("could not install Orvanta's support files in {path}: {source}")]
    Install {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Jobs cannot be sandboxed here; the message says how to fix it.
    #[error("{0}")]
    Sandbox(#[from] crate::sandbox::SandboxError),
}

impl Runtimes {
    /// Finds every interpreter (in parallel: each probe spawns it) and
    /// installs the wrappers and client libraries into `support_dir`.
    ///
    /// `overrides` names the executable to use for a language instead of its
    /// name on PATH. A missing interpreter is not an error: its jobs fail
    /// with a clear message, and [`Runtimes::missing`] lists it.
    ///
    /// Blocks while the probes run (~150 ms): call it at start-up, or from
    /// `spawn_blocking`.
    pub fn discover(
        support_dir: &Path,
        overrides: &HashMap<Language, PathBuf>,
        sandbox: SandboxConfig,
    ) -> Result<Runtimes, SupportError> {
        let support = SupportDir::install(support_dir)
            .map_err(|source| SupportError::Install { path: support_dir.to_path_buf(), source })?;
        let found: HashMap<Language, Runtime> = std::thread::scope(|scope| {
            let probes: Vec<_> = Language::ALL
                .into_iter()
                .map(|language| {
                    let program = overrides.get(&language).cloned().unwrap_or_else(|| PathBuf::from(language.as_str()));
                    scope.spawn(move || (language, find(language, &program)))
                })
                .collect();
            probes
                .into_iter()
                .filter_map(|probe| probe.join().ok())
                .filter_map(|(language, found)| match found {
                    Ok(runtime) => {
                        tracing::info!(%language, program = %runtime.program.display(), version = %runtime.version, "runtime found");
                        Some((language, runtime))
                    }
                    Err(why) => {
                        tracing::warn!(%language, "runtime not available, its jobs will fail: {why}");
                        None
                    }
                })
                .collect()
        });
        // Jobs read the interpreters' installations and the support files, nothing more.
        let mut read_only: Vec<PathBuf> = vec![support.root().to_path_buf()];
        for runtime in found.values() {
            for p in &runtime.prefixes {
                if !read_only.iter().any(|r| p.starts_with(r)) {
                    read_only.push(p.clone());
                }
            }
        }
        let sandbox = Sandbox::prepare(sandbox, read_only, support.root())?;
        // Jobs cannot write the caches: they are filled here for the
        // wrappers and the client libraries, and per script version later.
        if let Some(python) = found.get(&Language::Python3) {
            support.compile_python(&python.program);
        }
        let runtimes = Runtimes { found, support, sandbox };
        if let (Some(deno), true) = (runtimes.get(Language::Deno), runtimes.sandbox.enabled()) {
            let cache = runtimes.support.deno_cache();
            if let Err(e) = crate::run::support::chown_tree(&cache, runtimes.sandbox.cache_owner()) {
                tracing::warn!("could not hand Deno's cache to its user: {e}");
            }
            crate::run::cache_deno(&runtimes, deno, &runtimes.support.wrapper_ts(), &std::env::temp_dir());
        }
        Ok(runtimes)
    }

    /// The sandbox jobs run in.
    pub fn sandbox(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The interpreter for `language`, if this worker has one.
    pub fn get(&self, language: Language) -> Option<&Runtime> {
        self.found.get(&language)
    }

    /// The languages this worker cannot run.
    pub fn missing(&self) -> Vec<Language> {
        Language::ALL.into_iter().filter(|language| !self.found.contains_key(language)).collect()
    }

    /// Every language with its interpreter or `None`, in [`Language::ALL`] order.
    pub fn report(&self) -> Vec<(Language, Option<&Runtime>)> {
        Language::ALL.into_iter().map(|language| (language, self.get(language))).collect()
    }

    /// The report as JSON: `{"python3": {"path", "version"} | null, ...}`.
    pub fn to_json(&self) -> serde_json::Value {
        let entries = self.report().into_iter().map(|(language, runtime)| {
            let value = runtime.map_or(
                serde_json::Value::Null,
                |r| serde_json::json!({ "path": r.program.display().to_string(), "version": r.version }),
            );
            (language.as_str().to_owned(), value)
        });
        serde_json::Value::Object(entries.collect())
    }

    /// The support directory, absolute.
    pub fn support_dir(&self) -> &Path {
        self.support.root()
    }
}

/// Asks `program` for the path of the executable really running, then for
/// its version.
fn find(language: Language, program: &Path) -> Result<Runtime, String> {
    let (args, canonicalize): (&[&str], bool) = match language {
        // Not canonicalized: a virtualenv's python is a symlink whose
        // location is what makes it that virtualenv.
        Language::Python3 => {
            (&["-c", "import sys; print(sys.base_prefix); print(sys.prefix); print(sys.executable)"], false)
        }
        Language::Deno => (&["eval", "console.log(Deno.execPath())"], true),
        Language::Bun => (&["-e", "console.log(process.execPath)"], true),
        Language::Bash => (&["-c", "printf '%s\\n' \"$BASH\""], true),
    };
    let printed = probe(program, args)?;
    let path = PathBuf::from(printed.lines().last().unwrap_or_default().trim());
    if !path.is_absolute() {
        return Err(format!("{} did not tell where its executable is (it printed {printed:?})", program.display()));
    }
    let path = if canonicalize {
        std::fs::canonicalize(&path).map_err(|e| format!("cannot resolve {}: {e}", path.display()))?
    } else {
        path
    };
    let version = probe(&path, &["--version"])?.lines().next().unwrap_or_default().trim().to_owned();
    let mut prefixes: Vec<PathBuf> = match language {
        // sys.base_prefix and sys.prefix: the installation and the virtualenv.
        Language::Python3 => printed.lines().rev().skip(1).map(|l| PathBuf::from(l.trim())).collect(),
        _ => Vec::new(),
    };
    // The executable's own installation folder (`<prefix>/bin/<program>`).
    let real = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    if let Some(install) = real.parent().and_then(Path::parent) {
        prefixes.push(install.to_path_buf());
    }
    prefixes.retain(|p| p.is_absolute() && p.exists() && !is_system(p));
    prefixes.dedup();
    Ok(Runtime { language, program: path, version, prefixes })
}

/// Runs `program args` with the server's environment and returns what it
/// printed, or why it could not. Bounded by [`PROBE_TIMEOUT`] so that a hung
/// interpreter cannot stop the start-up.
fn probe(program: &Path, args: &[&str]) -> Result<String, String> {
    let shown = program.display();
    let mut child = Command::new(program)
        .args(args)
        .env("DENO_NO_UPDATE_CHECK", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > PROBE_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{shown} did not answer within {PROBE_TIMEOUT:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(format!("cannot wait for {shown}: {e}")),
        }
    };
    // The probes print a line or two: the pipes never fill, so reading after
    // the exit cannot deadlock.
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    if !status.success() {
        return Err(format!("{shown} failed ({status}): {}", stderr.trim()));
    }
    // Python 2 printed its version on stderr; nothing else should.
    Ok(if stdout.trim().is_empty() { stderr } else { stdout })
}

/// Folders every sandbox binds already (`/usr`, `/bin`, ...), or `/` itself.
fn is_system(path: &Path) -> bool {
    path == Path::new("/") || crate::sandbox::SYSTEM.iter().any(|s| path.starts_with(s))
}
