//! Orvanta's language runtimes.
//!
//! - [`schema`]: reads a script's `main` signature (Python, TypeScript, Bash)
//!   and derives the JSON Schema of its arguments, plus the call plan the
//!   wrappers use.
//! - [`runtimes`]: finds each interpreter once at start, with its version.
//! - [`sandbox`]: the bubblewrap sandbox and the limits every job runs under.
//! - [`run`]: runs one job: a temporary directory, a scrubbed environment, the
//!   language wrapper, limits (timeout, output cap), cancel, and the capture of
//!   logs, stream chunks and the result.
//! - [`workroot`]: each worker process's folder of job folders, and the sweep
//!   of what stopped workers left.
//!
//! Knows nothing of HTTP or SQL: the worker hands it a [`run::JobRequest`] and
//! a [`run::RunObserver`] and gets back a [`run::Outcome`].

pub mod run;
pub mod runtimes;
pub mod sandbox;
pub mod schema;
mod seccomp;
pub mod workroot;

pub use run::{JobRequest, KillReason, Limits, Outcome, RunObserver, Warm, WarmConfig, WarmPool, WarmStats};
pub use runtimes::{Runtime, Runtimes};
pub use sandbox::{JobLimits, Sandbox, SandboxConfig, SandboxReport};
pub use schema::{parse_main, ArgError, MainSignature, Param, SchemaError};
