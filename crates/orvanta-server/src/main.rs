//! `orvanta`: one binary with four commands.
//!
//! - `up`: everything in one process on SQLite and a local folder (the newcomer's path).
//! - `server` / `worker`: the roles apart, on PostgreSQL.
//! - `migrate`: bring the database schema up to date and exit.

use clap::{Parser, Subcommand};
use orvanta_server::app;
use orvanta_server::cfg::{Config, Overrides};
use std::process::ExitCode;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
