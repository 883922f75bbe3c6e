//! Starting a role: connect the store, bootstrap, find the runtimes, bind,
//! and run the HTTP server and/or the worker until a shutdown signal.

use crate::bootstrap::{self, Facts, TokenSource};
use crate::cfg::{Config, ConfigError};
use crate::state::AppState;
use crate::worker::{self, WorkerCtx};
use orvanta_exec::Runtimes;
use orvanta_store::{ConnectOptions, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Which role this process plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Up,
    Server,
    Worker,
    Migrate,
}

/// Why a start failed; the message says what to change.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct AppError(String);

impl From<ConfigError> for AppError {
    fn from(e: ConfigError) -> Self {
        Self(e.to_string())
    }
}
impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        Self(e.to_string())
    }
}
impl From<bootstrap::BootstrapError> for AppError {
    fn from(e: bootstrap::BootstrapError) -> Self {
        Self(e.to_string())
    }
}

/// Logs to stderr; `RUST_LOG` filters (default `info`).
pub fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Runs `role` until SIGINT/SIGTERM.
pub async fn run(role: Role, mut cfg: Config) -> Result<(), AppError> {
    make_private_dir(cfg.data_dir())
        .map_err(|e| AppError(format!("cannot create the data folder {}: {e}", cfg.data_dir().display())))?;
    let url = cfg.database_url();
    if matches!(role, Role::Server | Role::Worker) && url.starts_with("sqlite:") {
        return Err(AppError(
            "`orvanta server` and `orvanta worker` run apart and share one database: set DATABASE_URL=postgres://...; \
             on one machine, `orvanta up` runs both on SQLite"
                .into(),
        ));
    }
    let listener = match role {
        Role::Up | Role::Server => Some(bind(&cfg).await?),
        Role::Worker | Role::Migrate => None,
    };
    if let (Some(l), None) = (&listener, &cfg.server.base_url) {
        let port = l.local_addr().map(|a| a.port()).unwrap_or(cfg.server.port);
        cfg.server.base_url = Some(format!("http://127.0.0.1:{port}"));
    }
    let cfg = Arc::new(cfg);
    let opts = ConnectOptions { max_connections: cfg.storage.db_max_connections, ..Default::default() };
    let store = orvanta_store::connect(&url, &opts).await?;
    if role == Role::Migrate {
        println!("database migrated: {}", orvanta_store::redact_url(&url));
        return Ok(());
    }
    let job_key = Arc::new(AppState::job_key(&*store).await?);
    let runs_jobs = matches!(role, Role::Up | Role::Worker) && cfg.worker_slots() > 0;
    let runtimes = Arc::new(discover_runtimes(&cfg, runs_jobs).await?);
    if runs_jobs && !runtimes.sandbox().enabled() {
        tracing::warn!(
            "ORVANTA_SANDBOX=none: jobs run WITHOUT ISOLATION, as this process's user; any script can read the \
             database, the admin token and every other job's files, and signal this process"
        );
        eprintln!("WARNING: ORVANTA_SANDBOX=none: jobs run without isolation (see /api/health)");
    }
    let shutdown = CancellationToken::new();
    tokio::spawn(signal_shutdown(shutdown.clone()));
    let mut tasks = Vec::new();
    tasks.push(tokio::spawn(worker::sweep_loop(store.clone(), cfg.clone(), shutdown.clone())));
    let mailer = crate::notices::Mailer::from_config(&cfg)?.map(Arc::new);
    if let Some(m) = &mailer {
        if cfg.smtp.tls == crate::cfg::SmtpTls::None && cfg.smtp.password.is_some() && !is_loopback(m.server()) {
            tracing::warn!("ORVANTA_SMTP_TLS=none: the SMTP password goes to {} in plain text", m.server());
        }
    }
    let every = Duration::from_secs(cfg.tokens.sweep_s);
    tasks.push(tokio::spawn(crate::notices::run(store.clone(), mailer, every, shutdown.clone())));
    let embedded = if runs_jobs { cfg.worker_slots() } else { 0 };
    let mut warm = None;
    if embedded > 0 {
        let name = worker_name();
        let ctx = Arc::new(WorkerCtx::new(store.clone(), cfg.clone(), runtimes.clone(), job_key.clone()));
        warm = ctx.warm.clone();
        // The first heartbeat is in before any request is served: a sync call
        // asks the heartbeats whether a worker serves its tag.
        let tags = cfg.worker.tags.clone();
        ping(&*store, &name, embedded as i64, &tags).await;
        tasks.push(tokio::spawn(heartbeat(store.clone(), name.clone(), embedded as i64, tags, shutdown.clone())));
        tasks.push(tokio::spawn(worker::run(ctx, name, shutdown.clone())));
    }
    if let Some(listener) = listener {
        let facts = bootstrap::ensure(&*store, &cfg).await?;
        let sealer = Arc::new(
            crate::secrets::Sealer::load(cfg.storage.secret_key.as_ref().map(|k| k.expose()), &cfg.storage.data_dir)
                .map_err(|e| AppError(e.to_string()))?,
        );
        let state = AppState {
            cfg: cfg.clone(),
            store: store.clone(),
            tokens: Default::default(),
            throttle: Arc::new(crate::auth::throttle::Throttle::new(cfg.server.auth_failures_per_minute)),
            job_key,
            runtimes,
            objects: crate::objects::from_config(&cfg)?,
            caches: Default::default(),
            enqueuer: Arc::new(crate::enqueue::Enqueuer::start(store.clone())),
            hook_recorder: Arc::new(crate::enqueue::HookRecorder::start(store.clone())),
            bodies: Arc::new(crate::http::body::BodyBudget::new(cfg.server.body_budget_bytes)),
            defs: Default::default(),
            embedded_workers: embedded,
            warm,
            sealer,
        };
        tasks.push(tokio::spawn(state.tokens.clone().flush_every(store.clone(), shutdown.clone())));
        let outbound = crate::outbound::Settings {
            allow_private: cfg.server.webhook_allow_private,
            timeout: Duration::from_secs(cfg.server.webhook_timeout_s.max(1)),
            ms_per_ladder_second: cfg.server.webhook_ms_per_ladder_second,
        };
        tasks.push(tokio::spawn(crate::outbound::run(store.clone(), state.sealer.clone(), outbound, shutdown.clone())));
        print_facts(&cfg, &facts, store.backend(), role);
        let app = crate::http::router(state);
        let stop = shutdown.clone();
        axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await
            .map_err(|e| AppError(format!("the HTTP server stopped: {e}")))?;
    } else {
        println!("orvanta worker started: {} job slot(s) on {}", embedded, store.backend());
        shutdown.cancelled().await;
    }
    shutdown.cancel();
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(30), t).await;
    }
    Ok(())
}

async fn bind(cfg: &Config) -> Result<tokio::net::TcpListener, AppError> {
    let addr = cfg.listen_addr()?;
    tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            AppError(format!(
                "port {} is in use (another Orvanta, or another program); stop it or choose another port with ORVANTA_PORT or --port",
                cfg.server.port
            ))
        } else {
            AppError(format!("cannot listen on {addr}: {e}"))
        }
    })
}

/// Whether `host:port` names this machine.
fn is_loopback(server: &str) -> bool {
    let host = server.rsplit_once(':').map_or(server, |(h, _)| h);
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

fn worker_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname").unwrap_or_else(|_| "host".into());
    format!("{}-{}", host.trim(), std::process::id())
}

async fn ping(store: &dyn Store, name: &str, slots: i64, tags: &[String]) {
    let ping = orvanta_store::WorkerPing { worker: name, slots, tags, now: orvanta_core::now_millis() };
    if let Err(e) = store.worker_ping(&ping).await {
        tracing::warn!(error = %e, "worker heartbeat failed");
    }
}

async fn heartbeat(store: Arc<dyn Store>, name: String, slots: i64, tags: Vec<String>, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        ping(&*store, &name, slots, &tags).await;
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(5)) => {}
            _ = shutdown.cancelled() => {}
        }
    }
}

async fn signal_shutdown(shutdown: CancellationToken) {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM");
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    shutdown.cancel();
}

/// Finds the interpreters, installs the support files (wrappers, client
/// libraries) and, where jobs run, checks that their sandbox works here.
pub async fn discover_runtimes(cfg: &Config, runs_jobs: bool) -> Result<Runtimes, AppError> {
    let dir = cfg.data_dir().join("runtime");
    let overrides = cfg.runtime_overrides();
    // A server without a worker runs no job: it needs no sandbox.
    let sandbox =
        if runs_jobs { cfg.sandbox() } else { orvanta_exec::SandboxConfig { enabled: false, ..cfg.sandbox() } };
    tokio::task::spawn_blocking(move || Runtimes::discover(&dir, &overrides, sandbox))
        .await
        .map_err(|e| AppError(format!("runtime discovery panicked: {e}")))?
        .map_err(|e| match e {
            orvanta_exec::runtimes::SupportError::Sandbox(e) => AppError(format!("jobs cannot be sandboxed: {e}")),
            e => AppError(e.to_string()),
        })
}

/// Makes `dir` (and its parents) readable by this user alone; tightens an
/// existing one that is not.
fn make_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    let meta = std::fs::metadata(dir)?;
    if meta.permissions().mode() & 0o077 != 0 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

fn print_facts(cfg: &Config, facts: &Facts, backend: &str, role: Role) {
    let base = cfg.base_url();
    let ws = &facts.workspace;
    let roles = if role == Role::Up { "server + worker" } else { "server" };
    println!("Orvanta {} ({backend}, {roles})", env!("CARGO_PKG_VERSION"));
    println!("  workspace:   {ws}");
    let file = cfg.storage.data_dir.join("admin-token");
    // The token is printed once, when it is made; later starts say where it is.
    let token_shown = match facts.token_source {
        TokenSource::New => {
            println!("  admin token: {}", facts.admin_token);
            println!("  (shown this once; it is kept in {}, readable by you only)", file.display());
            facts.admin_token.clone()
        }
        TokenSource::File => {
            println!("  admin token: kept in {} (printed when it was made)", file.display());
            format!("$(cat {})", file.display())
        }
        TokenSource::Env => {
            println!("  admin token: the value of ORVANTA_ADMIN_TOKEN");
            "$ORVANTA_ADMIN_TOKEN".to_owned()
        }
    };
    println!("  data folder: {}", cfg.storage.data_dir.display());
    println!("Run the example script {} and get its result:", facts.example_path);
    println!(
        "  curl -X POST -H \"Authorization: Bearer {token_shown}\" -H 'Content-Type: application/json' -d '{{\"name\": \"you\"}}' {base}/api/w/{ws}/jobs/run_wait_result/p/{}",
        facts.example_path
    );
    println!("Open {base}/ in a browser and log in with the admin token (the web UI).");
    // Last, so that whoever waits for this line has seen the facts.
    println!("Orvanta is listening on {base}");
}
