//! `orvanta`: one binary with four commands.
//!
//! - `up`: everything in one process on SQLite and a local folder (the newcomer's path).
//! - `server` / `worker`: the roles apart, on PostgreSQL.
//! - `migrate`: bring the database schema up to date and exit.
//! - `routes`: print every route the API serves, with its methods, as JSON
//!   (what the fuzz suite attacks and what `docs/API.md` must name).
//! - `settings`: print the table of settings (`docs/configuration.md`).

use clap::{Parser, Subcommand};
use orvanta_server::app;
use orvanta_server::cfg::{Config, Overrides};
use std::process::ExitCode;

/// mimalloc: the request path allocates and frees many short-lived buffers
/// (bodies, JSON); glibc's allocator spent a third of the server's time on
/// them under load (see bench/inbound.sh).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(name = "orvanta", version, about = "Orvanta: a webhook-first runner for scripts and flows")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start everything on this machine: SQLite, a local object folder, one embedded worker.
    Up(Overrides),
    /// Run the API server only (PostgreSQL; workers run apart).
    Server(Overrides),
    /// Run a worker only (PostgreSQL).
    Worker(Overrides),
    /// Migrate the database and exit.
    Migrate(Overrides),
    /// Print every route of the API with its methods, as JSON.
    Routes,
    /// Print every setting: its file key, environment name, default and meaning.
    Settings,
}

/// mimalloc, tuned so that memory comes back: freed pages are returned to
/// the system 100 ms after they were freed (`purge_delay`), and arenas are
/// committed as they are used, not up front (`arena_eager_commit` 0): idle
/// `orvanta up` is 52 MiB resident with mimalloc's defaults, 32–45 MiB with
/// these. A purge at once (`purge_delay` 0: 23 MiB idle) cost the server a
/// sixth of its time under bench/inbound.sh's load, freeing pages with
/// madvise and faulting them back in at the next request; the delay accepts
/// about a quarter more events there (docs/decisions.md, "Memory comes
/// back"). Set from the program's constructors (`.init_array`), before
/// Rust's runtime makes its first allocation and with it mimalloc's first
/// arena. (The numbers are `mi_option_t` values, which libmimalloc-sys does
/// not name; mimalloc 3, which it builds, has them where mimalloc 2 had
/// them: 4 = arena_eager_commit, 15 = purge_delay.)
#[allow(unsafe_code)]
#[used]
#[link_section = ".init_array"]
static TUNE_MALLOC: extern "C" fn() = tune_malloc;

#[allow(unsafe_code)]
extern "C" fn tune_malloc() {
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: mi_option_set only stores an option value (mimalloc initializes
    // itself on first use); this runs before main, on the only thread.
    unsafe {
        libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 100);
    }
}

/// Files this process makes are its user's alone (`0600`, folders `0700`):
/// the database, the admin token, objects, logs. What jobs must read (the
/// runtime support files) is opened up explicitly.
#[allow(unsafe_code)]
fn private_files() {
    // SAFETY: umask(2) takes an integer and cannot fail; called before any thread exists.
    unsafe {
        libc::umask(0o077);
    }
}

/// Marks every file descriptor this process inherited beyond stdin, stdout
/// and stderr close-on-exec: what a launcher left open (a file, a pipe, a
/// socket) must not reach the jobs this process starts.
#[allow(unsafe_code)]
fn keep_inherited_files() {
    let Ok(entries) = std::fs::read_dir("/proc/self/fd") else { return };
    let fds: Vec<i32> = entries.flatten().filter_map(|e| e.file_name().to_str()?.parse().ok()).collect();
    for fd in fds.into_iter().filter(|&fd| fd > 2) {
        // SAFETY: fcntl(2) with F_SETFD only sets a flag of a descriptor
        // number; a number that is not (or no longer) open fails with EBADF.
        unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
}

fn main() -> ExitCode {
    private_files();
    keep_inherited_files();
    let cli = Cli::parse();
    if let Command::Routes = cli.command {
        let table = orvanta_server::http::route_table();
        println!("{}", serde_json::to_string_pretty(&table).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    if let Command::Settings = cli.command {
        print!("{}", orvanta_server::cfg::settings_table());
        return ExitCode::SUCCESS;
    }
    app::init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (role, flags) = match cli.command {
        Command::Up(f) => (app::Role::Up, f),
        Command::Server(f) => (app::Role::Server, f),
        Command::Worker(f) => (app::Role::Worker, f),
        Command::Migrate(f) => (app::Role::Migrate, f),
        Command::Routes | Command::Settings => return ExitCode::SUCCESS,
    };
    let result = runtime.block_on(async move {
        let cfg = Config::load(&flags)?;
        app::run(role, cfg).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
