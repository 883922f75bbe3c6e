//! The one typed configuration: defaults, then an optional TOML file, then
//! `ORVANTA_*` environment variables (and `DATABASE_URL`), then command-line
//! flags. Validated once at start-up; nothing else in the server reads the
//! environment.
//!
//! Every setting is one line of the [`settings!`] table below: its section
//! and key (the file's `[section] key = ...`), its type, its default, its
//! environment name(s) and its documentation. The file and environment
//! layers, and the table in `docs/configuration.md` (compared by a test),
//! all come from that line.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// A secret that never prints.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

/// Whether jobs run in a sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxMode {
    /// Each job in its own bubblewrap sandbox (the default).
    Bubblewrap,
    /// No isolation: jobs run as the worker's user, seeing what it sees.
    None,
}

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text, then `STARTTLS`, required: no mail (nor password) goes out unencrypted.
    Starttls,
    /// TLS from the first byte (SMTPS, usually port 465).
    Tls,
    /// Plain text only.
    None,
}

/// A value read from one environment variable.
trait FromEnv: Sized {
    fn from_env(name: &str, value: &str) -> Result<Self, ConfigError>;
}

macro_rules! numbers_from_env {
    ($($t:ty),*) => {$(
        impl FromEnv for $t {
            fn from_env(name: &str, value: &str) -> Result<Self, ConfigError> {
                value.trim().parse().map_err(|_| ConfigError(format!("{name}='{value}' is not a valid number")))
            }
        }
    )*};
}
numbers_from_env!(u16, u32, u64, usize, i32);

impl FromEnv for String {
    fn from_env(_: &str, value: &str) -> Result<Self, ConfigError> {
        Ok(value.to_owned())
    }
}

impl FromEnv for PathBuf {
    fn from_env(_: &str, value: &str) -> Result<Self, ConfigError> {
        Ok(PathBuf::from(value))
    }
}

impl FromEnv for Secret {
    fn from_env(_: &str, value: &str) -> Result<Self, ConfigError> {
        Ok(Secret::new(value))
    }
}

impl FromEnv for bool {
    fn from_env(name: &str, value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(ConfigError(format!("{name}='{value}' is neither true nor false"))),
        }
    }
}

/// Comma-separated; blanks dropped.
impl FromEnv for Vec<String> {
    fn from_env(_: &str, value: &str) -> Result<Self, ConfigError> {
        Ok(value.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect())
    }
}

/// Empty means unset.
impl<T: FromEnv> FromEnv for Option<T> {
    fn from_env(name: &str, value: &str) -> Result<Self, ConfigError> {
        if value.is_empty() {
            Ok(None)
        } else {
            T::from_env(name, value).map(Some)
        }
    }
}

impl FromEnv for SandboxMode {
    fn from_env(name: &str, value: &str) -> Result<Self, ConfigError> {
        match value.trim() {
            "bubblewrap" | "bwrap" | "" => Ok(SandboxMode::Bubblewrap),
            "none" => Ok(SandboxMode::None),
            _ => Err(ConfigError(format!("{name}='{value}' is neither bubblewrap nor none"))),
        }
    }
}

impl FromEnv for SmtpTls {
    fn from_env(name: &str, value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "starttls" | "" => Ok(SmtpTls::Starttls),
            "tls" | "smtps" => Ok(SmtpTls::Tls),
            "none" => Ok(SmtpTls::None),
            _ => Err(ConfigError(format!("{name}='{value}' is none of starttls, tls and none"))),
        }
    }
}

/// One setting, as documented.
#[derive(Debug, Clone, Copy)]
pub struct Setting {
    /// `section.key`, as in the file.
    pub key: &'static str,
    /// The environment variables that set it, the first one preferred.
    pub env: &'static [&'static str],
    pub doc: &'static str,
}

/// The table of settings: each becomes a field of its section's struct,
/// with its default, its environment name(s) and its documentation.
macro_rules! settings {
    ($(
        $(#[doc = $sdoc:literal])*
        $section:ident: $Section:ident {
            $( $(#[doc = $doc:literal])* $field:ident: $ty:ty = $default:expr, env $($env:literal)|+; )*
        }
    )*) => {
        $(
            $(#[doc = $sdoc])*
            #[derive(Debug, Clone, Deserialize, Serialize)]
            #[serde(default, deny_unknown_fields)]
            pub struct $Section {
                $( $(#[doc = $doc])* pub $field: $ty, )*
            }

            impl Default for $Section {
                fn default() -> Self {
                    Self { $( $field: $default, )* }
                }
            }
        )*

        /// Everything the server and workers are configured with.
        #[derive(Debug, Clone, Default, Deserialize, Serialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct Config {
            $( pub $section: $Section, )*
        }

        /// Every setting, in the table's order.
        pub const SETTINGS: &[Setting] = &[
            $( $( Setting {
                key: concat!(stringify!($section), ".", stringify!($field)),
                env: &[$($env),+],
                doc: concat!($($doc, "\n"),*),
            }, )* )*
        ];

        impl Config {
            fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
                $( $(
                    if let Some((name, value)) = [$($env),+].into_iter().find_map(|n| get(n).map(|v| (n, v))) {
                        self.$section.$field = FromEnv::from_env(name, &value)?;
                    }
                )* )*
                Ok(())
            }
        }
    };
}

settings! {
    /// The HTTP side.
    server: ServerSettings {
        /// Address to listen on.
        host: String = "0.0.0.0".into(), env "ORVANTA_HOST";
        /// Port to listen on (`0`: any free port, printed).
        port: u16 = 8000, env "ORVANTA_PORT";
        /// The URL jobs call back (`ORVANTA_BASE_URL` inside jobs); default `http://127.0.0.1:{port}`.
        base_url: Option<String> = None, env "ORVANTA_BASE_URL";
        /// The bootstrap admin token (at least 32 characters); default: generated, kept in `{data_dir}/admin-token`.
        admin_token: Option<Secret> = None, env "ORVANTA_ADMIN_TOKEN";
        /// The first workspace, made at bootstrap.
        default_workspace: String = "demo".into(), env "ORVANTA_DEFAULT_WORKSPACE";
        /// Request body limit in bytes (413 beyond).
        body_limit_bytes: usize = 16 << 20, env "ORVANTA_BODY_LIMIT_BYTES";
        /// Body limit of multipart run requests and `upload_s3_file`, in bytes.
        multipart_limit_bytes: usize = 256 << 20, env "ORVANTA_MULTIPART_LIMIT_BYTES";
        /// Body bytes all requests in flight may hold together; a request that finds it spent waits up to 10 s, then gets 503 (at least the larger limit above).
        body_budget_bytes: usize = 256 << 20, env "ORVANTA_BODY_BUDGET_BYTES";
        /// Sync routes answer 504 after this many seconds; the job goes on.
        sync_timeout_s: u64 = 600, env "ORVANTA_SYNC_TIMEOUT_S";
        /// SSE streams end with a `timeout` event after this many seconds; 0 = never.
        sse_timeout_s: u64 = 60, env "ORVANTA_SSE_TIMEOUT_S";
        /// Request headers added as arguments to every run request (comma-separated).
        include_headers: Vec<String> = Vec::new(), env "INCLUDE_HEADERS" | "ORVANTA_INCLUDE_HEADERS";
        /// Failed token or password checks one client address may make per minute before it gets 429.
        auth_failures_per_minute: u32 = 20, env "ORVANTA_AUTH_FAILURES_PER_MINUTE";
        /// Proxies in front of Orvanta that append to `X-Forwarded-For`: a custom route's IP allow-list checks the address they saw (0: the peer's own).
        trusted_proxy_hops: usize = 0, env "ORVANTA_TRUSTED_PROXY_HOPS";
        /// Let workspace webhooks reach loopback, private and link-local addresses (`true` for tests and closed networks).
        webhook_allow_private: bool = false, env "ORVANTA_WEBHOOK_ALLOW_PRIVATE";
        /// Seconds a workspace webhook's endpoint has to answer 2xx.
        webhook_timeout_s: u64 = 15, env "ORVANTA_WEBHOOK_TIMEOUT_S";
        /// Milliseconds one second of the retry ladder lasts (1000; tests shrink the ladder).
        webhook_ms_per_ladder_second: u64 = 1000, env "ORVANTA_WEBHOOK_MS_PER_LADDER_SECOND";
        /// Days delivered, skipped and failed workspace events (with their attempts) and settled token notices are kept; pending ones always are; 0 keeps everything.
        event_retention_days: u64 = 30, env "ORVANTA_EVENT_RETENTION_DAYS";
    }

    /// Where data lives.
    storage: StorageSettings {
        /// Data folder: SQLite database, admin token file, objects, runtime support files, job folders (made `0700`).
        data_dir: PathBuf = PathBuf::from("./orvanta-data"), env "ORVANTA_DATA_DIR";
        /// `sqlite:...` or `postgres://...`; default `sqlite:{data_dir}/orvanta.db`. A secret: printed with its password as `***`.
        database_url: Option<Secret> = None, env "DATABASE_URL";
        /// Most connections a PostgreSQL pool opens.
        db_max_connections: u32 = 10, env "ORVANTA_DB_MAX_CONNECTIONS";
        /// S3-compatible object storage: the bucket; unset means the local folder `{data_dir}/objects`.
        s3_bucket: Option<String> = None, env "ORVANTA_S3_BUCKET";
        /// Endpoint of an S3-compatible server, e.g. `http://127.0.0.1:9000`; unset means AWS.
        s3_endpoint: Option<String> = None, env "ORVANTA_S3_ENDPOINT";
        /// Region of the bucket.
        s3_region: String = "us-east-1".into(), env "ORVANTA_S3_REGION";
        /// Access key id; unset means the usual AWS sources (environment, profile, instance role).
        s3_access_key_id: Option<String> = None, env "ORVANTA_S3_ACCESS_KEY_ID";
        /// Secret access key.
        s3_secret_access_key: Option<Secret> = None, env "ORVANTA_S3_SECRET_ACCESS_KEY";
        /// The key that seals secrets in the database (base64 of 32 bytes); unset means the file `{data_dir}/secret.key`, made on first start. Every process on one database needs the same.
        secret_key: Option<Secret> = None, env "ORVANTA_SECRET_KEY";
    }

    /// Running jobs.
    worker: WorkerSettings {
        /// Job slots of the embedded worker (`up`) or of `orvanta worker`; 0 = one per CPU core.
        slots: usize = 0, env "ORVANTA_WORKERS";
        /// Tags the workers claim (comma-separated).
        tags: Vec<String> = vec!["default".into()], env "ORVANTA_WORKER_TAGS";
        /// A worker's hold on a job, in seconds; renewed every third of it.
        lease_s: u64 = 30, env "ORVANTA_LEASE_S";
        /// Re-queues of a job whose worker vanished, before it fails.
        max_retries: i32 = 1, env "ORVANTA_MAX_RETRIES";
        /// Job timeout in seconds, when the script sets none.
        job_timeout_s: u64 = 900, env "ORVANTA_JOB_TIMEOUT_S";
        /// Logs kept per job, in bytes; the rest is dropped with a note.
        log_cap_bytes: usize = 10 << 20, env "ORVANTA_LOG_CAP_BYTES";
        /// SIGTERM → SIGKILL grace on cancel and timeout, in milliseconds.
        kill_grace_ms: u64 = 5000, env "ORVANTA_KILL_GRACE_MS";
        /// The Python interpreter; default `python3` on PATH.
        python3: Option<PathBuf> = None, env "ORVANTA_PYTHON3";
        /// The Deno executable; default `deno` on PATH.
        deno: Option<PathBuf> = None, env "ORVANTA_DENO";
        /// The Bun executable; default `bun` on PATH.
        bun: Option<PathBuf> = None, env "ORVANTA_BUN";
        /// The Bash executable; default `bash` on PATH.
        bash: Option<PathBuf> = None, env "ORVANTA_BASH";
    }

    /// The sandbox every job runs in, and its limits.
    sandbox: SandboxSettings {
        /// `bubblewrap`, or `none` to run jobs without any isolation (an explicit choice: jobs then see all the worker sees).
        mode: SandboxMode = SandboxMode::Bubblewrap, env "ORVANTA_SANDBOX";
        /// The bubblewrap program.
        bwrap: PathBuf = PathBuf::from("bwrap"), env "ORVANTA_SANDBOX_BWRAP";
        /// The user jobs run as when the worker runs as root: an id no account and no other program uses (never 0).
        uid: u32 = 99999, env "ORVANTA_SANDBOX_UID";
        /// The group jobs run as when the worker runs as root (never 0).
        gid: u32 = 99999, env "ORVANTA_SANDBOX_GID";
        /// The user that fills Deno's cache, which jobs only read, when the worker runs as root: another id of Orvanta's alone.
        cache_uid: u32 = 99998, env "ORVANTA_SANDBOX_CACHE_UID";
        /// The group that fills Deno's cache.
        cache_gid: u32 = 99998, env "ORVANTA_SANDBOX_CACHE_GID";
        /// Whether jobs reach the network.
        network: bool = true, env "ORVANTA_SANDBOX_NETWORK";
        /// Memory of one job (all its processes), in bytes.
        memory_bytes: u64 = 2 << 30, env "ORVANTA_SANDBOX_MEMORY_BYTES";
        /// Processes (and threads) one job may run at once; a job that reaches it is stopped.
        max_processes: u64 = 512, env "ORVANTA_SANDBOX_MAX_PROCESSES";
        /// Largest file a job may write, in bytes.
        file_size_bytes: u64 = 1 << 30, env "ORVANTA_SANDBOX_FILE_SIZE_BYTES";
    }

    /// Warm processes: Python, Deno and Bun interpreters that import a script version once and run many of its jobs.
    warm: WarmSettings {
        /// Whether jobs run in warm processes (a script may opt out with `warm: false`).
        enabled: bool = true, env "ORVANTA_WARM";
        /// Warm processes one worker keeps, all scripts together; the least recently used idle one makes room.
        max_processes: usize = 16, env "ORVANTA_WARM_MAX_PROCESSES";
        /// A warm process is replaced after this many jobs; its successor starts first, off the jobs' path.
        jobs_per_process: u64 = 1000, env "ORVANTA_WARM_JOBS_PER_PROCESS";
        /// A warm process idle this many seconds ends.
        idle_s: u64 = 300, env "ORVANTA_WARM_IDLE_S";
        /// A warm process whose memory grew past this many bytes is replaced after its job.
        memory_bytes: u64 = 512 << 20, env "ORVANTA_WARM_MEMORY_BYTES";
    }

    /// Inbound webhooks: what platforms send to `/webhook/{id}`.
    inbound: InboundSettings {
        /// Days an inbound webhook's history (every request, its headers and body) is kept; 0 keeps it forever.
        history_days: u64 = 30, env "ORVANTA_INBOUND_HISTORY_DAYS";
    }

    /// API tokens: the sweep that deletes expired ones and records their expiry notices.
    tokens: TokenSettings {
        /// Seconds between two token sweeps (every process sweeps; each token is noticed once).
        sweep_s: u64 = 60, env "ORVANTA_TOKEN_SWEEP_S";
    }

    /// The SMTP server that mails token expiry notices to their owners; without a host, notices are recorded and not mailed.
    smtp: SmtpSettings {
        /// The SMTP server's host name or address; unset: no mail is sent.
        host: Option<String> = None, env "ORVANTA_SMTP_HOST";
        /// Its port (`465` for `tls`, `587` or `25` for `starttls`).
        port: u16 = 25, env "ORVANTA_SMTP_PORT";
        /// `starttls` (the connection must be upgraded to TLS), `tls` (TLS from the first byte) or `none` (plain text: for a relay on this machine or a trusted network only).
        tls: SmtpTls = SmtpTls::Starttls, env "ORVANTA_SMTP_TLS";
        /// User name to log in with; unset: no login.
        username: Option<String> = None, env "ORVANTA_SMTP_USERNAME";
        /// Password to log in with (a secret: printed as `***`).
        password: Option<Secret> = None, env "ORVANTA_SMTP_PASSWORD";
        /// The sender address (`Name <address>` or an address); default `Orvanta <orvanta@{host}>`.
        from: Option<String> = None, env "ORVANTA_SMTP_FROM";
    }
}

/// A configuration that cannot be used; the message says what to change.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone, clap::Args)]
pub struct Overrides {
    /// Port to listen on [env: ORVANTA_PORT]
    #[arg(long)]
    pub port: Option<u16>,
    /// Data folder [env: ORVANTA_DATA_DIR]
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// sqlite:... or postgres://... [env: DATABASE_URL]
    #[arg(long)]
    pub database_url: Option<String>,
    /// Value of the bootstrap admin token [env: ORVANTA_ADMIN_TOKEN]
    #[arg(long)]
    pub admin_token: Option<String>,
    /// A TOML configuration file [env: ORVANTA_CONFIG]
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Job slots of the worker; 0 = one per core [env: ORVANTA_WORKERS]
    #[arg(long)]
    pub workers: Option<usize>,
}

impl Config {
    /// Loads defaults → file → environment → flags, and validates.
    pub fn load(flags: &Overrides) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(flags, &env)
    }

    /// [`Config::load`] with the environment given, for tests.
    pub fn load_from(flags: &Overrides, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let file = flags.config.clone().or_else(|| get("ORVANTA_CONFIG").map(PathBuf::from));
        let mut cfg = match file {
            Some(path) => Self::from_file(&path)?,
            None => Self::default(),
        };
        cfg.apply_env(&get)?;
        if let Some(p) = flags.port {
            cfg.server.port = p;
        }
        if let Some(d) = &flags.data_dir {
            cfg.storage.data_dir = d.clone();
        }
        if let Some(u) = &flags.database_url {
            cfg.storage.database_url = Some(Secret::new(u.clone()));
        }
        if let Some(t) = &flags.admin_token {
            cfg.server.admin_token = Some(Secret::new(t.clone()));
        }
        if let Some(w) = flags.workers {
            cfg.worker.slots = w;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read the config file {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| ConfigError(format!("the config file {} is not valid: {e}", path.display())))
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        if let Some(url) = &self.storage.database_url {
            let url = url.expose();
            let ok = url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://");
            if !ok {
                return Err(ConfigError(format!(
                    "DATABASE_URL '{}' is neither sqlite:... nor postgres://...; for example sqlite:./orvanta-data/orvanta.db or postgres://postgres@127.0.0.1:5432/orvanta",
                    orvanta_store::redact_url(url)
                )));
            }
        }
        if orvanta_core::WorkspaceId::parse(&self.server.default_workspace).is_err() {
            return Err(ConfigError(format!(
                "ORVANTA_DEFAULT_WORKSPACE '{}' is not a valid workspace id (a-z, 0-9, '-')",
                self.server.default_workspace
            )));
        }
        if self.worker.lease_s < 2 {
            return Err(ConfigError("ORVANTA_LEASE_S must be at least 2 seconds".into()));
        }
        let server = &self.server;
        let largest = server.body_limit_bytes.max(server.multipart_limit_bytes);
        if server.body_budget_bytes < largest {
            return Err(ConfigError(format!(
                "ORVANTA_BODY_BUDGET_BYTES ({}) must be at least the largest body limit ({largest}), or no such body could ever be read",
                server.body_budget_bytes
            )));
        }
        if self.worker.tags.is_empty() {
            return Err(ConfigError("ORVANTA_WORKER_TAGS must name at least one tag".into()));
        }
        if let Some(t) = &server.admin_token {
            if t.expose().len() < 32 {
                return Err(ConfigError(
                    "ORVANTA_ADMIN_TOKEN must be at least 32 characters long; generate one with `openssl rand -hex 32`"
                        .into(),
                ));
            }
        }
        let sandbox = &self.sandbox;
        if [sandbox.uid, sandbox.gid, sandbox.cache_uid, sandbox.cache_gid].contains(&0) {
            return Err(ConfigError(
                "ORVANTA_SANDBOX_UID, _GID, _CACHE_UID and _CACHE_GID must not be 0: jobs never run as root".into(),
            ));
        }
        if sandbox.uid == sandbox.cache_uid {
            return Err(ConfigError(
                "ORVANTA_SANDBOX_CACHE_UID must differ from ORVANTA_SANDBOX_UID: jobs must not write what other jobs run"
                    .into(),
            ));
        }
        if sandbox.memory_bytes < 32 << 20 {
            return Err(ConfigError("ORVANTA_SANDBOX_MEMORY_BYTES must be at least 33554432 (32 MiB)".into()));
        }
        if sandbox.max_processes < 8 {
            return Err(ConfigError("ORVANTA_SANDBOX_MAX_PROCESSES must be at least 8".into()));
        }
        if self.warm.jobs_per_process == 0 || self.warm.max_processes == 0 {
            return Err(ConfigError(
                "ORVANTA_WARM_JOBS_PER_PROCESS and ORVANTA_WARM_MAX_PROCESSES must be at least 1; ORVANTA_WARM=false turns warm processes off".into(),
            ));
        }
        if self.tokens.sweep_s == 0 {
            return Err(ConfigError("ORVANTA_TOKEN_SWEEP_S must be at least 1 second".into()));
        }
        if self.smtp.host.is_none() && (self.smtp.username.is_some() || self.smtp.from.is_some()) {
            return Err(ConfigError(
                "ORVANTA_SMTP_USERNAME or ORVANTA_SMTP_FROM is set but ORVANTA_SMTP_HOST is not: set the host, or no mail is sent".into(),
            ));
        }
        if self.smtp.username.is_some() != self.smtp.password.is_some() {
            return Err(ConfigError(
                "ORVANTA_SMTP_USERNAME and ORVANTA_SMTP_PASSWORD go together: set both or neither".into(),
            ));
        }
        if sandbox.file_size_bytes < 1 << 20 {
            return Err(ConfigError("ORVANTA_SANDBOX_FILE_SIZE_BYTES must be at least 1048576 (1 MiB)".into()));
        }
        Ok(())
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        &self.storage.data_dir
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        match &self.storage.database_url {
            Some(url) => url.expose().to_owned(),
            None => format!("sqlite:{}", self.storage.data_dir.join("orvanta.db").display()),
        }
    }

    /// The URL scripts and printed examples use.
    pub fn base_url(&self) -> String {
        self.server.base_url.clone().unwrap_or_else(|| format!("http://127.0.0.1:{}", self.server.port))
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        format!("{}:{}", self.server.host, self.server.port)
            .parse()
            .map_err(|_| ConfigError(format!("ORVANTA_HOST '{}' is not an IP address", self.server.host)))
    }

    /// Job slots of a worker: as set, or one per core.
    pub fn worker_slots(&self) -> usize {
        match self.worker.slots {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            n => n,
        }
    }

    /// The sandbox of this worker's jobs.
    pub fn sandbox(&self) -> orvanta_exec::SandboxConfig {
        let s = &self.sandbox;
        orvanta_exec::SandboxConfig {
            enabled: s.mode == SandboxMode::Bubblewrap,
            bwrap: s.bwrap.clone(),
            uid: s.uid,
            gid: s.gid,
            cache_uid: s.cache_uid,
            cache_gid: s.cache_gid,
            network: s.network,
            memory_bytes: s.memory_bytes,
            max_processes: s.max_processes,
            file_size_bytes: s.file_size_bytes,
        }
    }

    /// A worker's pool: its warm processes (used when `warm.enabled`), and
    /// a spare sandbox per job slot.
    pub fn warm(&self) -> orvanta_exec::WarmConfig {
        let w = &self.warm;
        orvanta_exec::WarmConfig {
            max_processes: w.max_processes,
            jobs_per_process: w.jobs_per_process,
            idle: std::time::Duration::from_secs(w.idle_s),
            memory_bytes: w.memory_bytes,
            spares: self.worker_slots(),
        }
    }

    /// The interpreters configured by path, instead of their names on PATH.
    pub fn runtime_overrides(&self) -> std::collections::HashMap<orvanta_core::Language, PathBuf> {
        use orvanta_core::Language;
        let w = &self.worker;
        [(Language::Python3, &w.python3), (Language::Deno, &w.deno), (Language::Bun, &w.bun), (Language::Bash, &w.bash)]
            .into_iter()
            .filter_map(|(language, path)| path.clone().map(|p| (language, p)))
            .collect()
    }
}

/// The settings table of `docs/configuration.md`, from [`SETTINGS`].
pub fn settings_table() -> String {
    let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
    let mut out = String::from("| key (file) | environment | default | meaning |\n|---|---|---|---|\n");
    let mut section = "";
    for setting in SETTINGS {
        let (sec, key) = setting.key.split_once('.').unwrap_or(("", setting.key));
        if sec != section {
            out.push_str(&format!("| **`[{sec}]`** | | | |\n"));
            section = sec;
        }
        let default = match &defaults[sec][key] {
            serde_json::Value::Null => "unset".to_owned(),
            serde_json::Value::String(s) => format!("`{s}`"),
            serde_json::Value::Array(items) if items.is_empty() => "none".to_owned(),
            serde_json::Value::Array(items) => {
                format!("`{}`", items.iter().filter_map(|i| i.as_str()).collect::<Vec<_>>().join(","))
            }
            other => format!("`{other}`"),
        };
        let env: Vec<String> = setting.env.iter().map(|e| format!("`{e}`")).collect();
        let doc = setting.doc.split_whitespace().collect::<Vec<_>>().join(" ");
        out.push_str(&format!("| `{key}` | {} | {default} | {doc} |\n", env.join(" or ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    #[test]
    fn env_overrides_defaults_and_flags_override_env() {
        let cfg = Config::load_from(&Overrides::default(), &env(&[("ORVANTA_PORT", "9001")])).unwrap();
        assert_eq!(cfg.server.port, 9001);
        let flags = Overrides { port: Some(9002), ..Default::default() };
        let cfg = Config::load_from(&flags, &env(&[("ORVANTA_PORT", "9001")])).unwrap();
        assert_eq!(cfg.server.port, 9002);
    }

    #[test]
    fn every_kind_of_value_reads_from_the_environment() {
        let cfg = Config::load_from(
            &Overrides::default(),
            &env(&[
                ("ORVANTA_SANDBOX", "none"),
                ("ORVANTA_SANDBOX_NETWORK", "off"),
                ("ORVANTA_WORKER_TAGS", "a, b,,c"),
                ("INCLUDE_HEADERS", "X-One"),
                ("ORVANTA_S3_BUCKET", ""),
                ("DATABASE_URL", "postgres://u:pw@h/db"),
            ]),
        )
        .unwrap();
        assert_eq!(cfg.sandbox.mode, SandboxMode::None);
        assert!(!cfg.sandbox.network);
        assert!(!cfg.sandbox().enabled);
        assert_eq!(cfg.worker.tags, ["a", "b", "c"]);
        assert_eq!(cfg.server.include_headers, ["X-One"]);
        assert_eq!(cfg.storage.s3_bucket, None, "empty means unset");
        assert_eq!(cfg.database_url(), "postgres://u:pw@h/db");
        assert!(!format!("{cfg:?}").contains("pw"), "DATABASE_URL is a secret");
        assert!(cfg.worker_slots() >= 1);
    }

    #[test]
    fn bad_values_are_named() {
        let e = Config::load_from(&Overrides::default(), &env(&[("ORVANTA_PORT", "eighty")])).unwrap_err();
        assert!(e.0.contains("ORVANTA_PORT"), "{e}");
        let e = Config::load_from(&Overrides::default(), &env(&[("DATABASE_URL", "mysql://u:pw@h/db")])).unwrap_err();
        assert!(e.0.contains("DATABASE_URL") && !e.0.contains("pw"), "{e}");
        let e = Config::load_from(&Overrides::default(), &env(&[("ORVANTA_SANDBOX", "docker")])).unwrap_err();
        assert!(e.0.contains("ORVANTA_SANDBOX"), "{e}");
        let e = Config::load_from(&Overrides::default(), &env(&[("ORVANTA_SANDBOX_UID", "0")])).unwrap_err();
        assert!(e.0.contains("root"), "{e}");
        let e = Config::load_from(&Overrides::default(), &env(&[("ORVANTA_SANDBOX_NETWORK", "maybe")])).unwrap_err();
        assert!(e.0.contains("ORVANTA_SANDBOX_NETWORK"), "{e}");
    }

    #[test]
    fn smtp_settings() {
        let cfg = Config::load_from(&Overrides::default(), &env(&[])).unwrap();
        assert_eq!((cfg.smtp.host.as_deref(), cfg.smtp.port, cfg.smtp.tls), (None, 25, SmtpTls::Starttls));
        let cfg = Config::load_from(
            &Overrides::default(),
            &env(&[
                ("ORVANTA_SMTP_HOST", "mail.example.com"),
                ("ORVANTA_SMTP_PORT", "465"),
                ("ORVANTA_SMTP_TLS", "TLS"),
                ("ORVANTA_SMTP_USERNAME", "orvanta"),
                ("ORVANTA_SMTP_PASSWORD", "mail-password-123"),
                ("ORVANTA_TOKEN_SWEEP_S", "2"),
            ]),
        )
        .unwrap();
        assert_eq!((cfg.smtp.port, cfg.smtp.tls, cfg.tokens.sweep_s), (465, SmtpTls::Tls, 2));
        assert_eq!(cfg.smtp.password.as_ref().map(Secret::expose), Some("mail-password-123"));
        let dump = format!("{cfg:?} {}", serde_json::to_string(&cfg).unwrap());
        assert!(!dump.contains("mail-password-123"), "the SMTP password is a secret: {dump}");
        for bad in [
            vec![("ORVANTA_SMTP_TLS", "ssl3")],
            vec![("ORVANTA_SMTP_USERNAME", "orvanta"), ("ORVANTA_SMTP_PASSWORD", "x")],
            vec![("ORVANTA_SMTP_HOST", "mail.example.com"), ("ORVANTA_SMTP_USERNAME", "orvanta")],
            vec![("ORVANTA_TOKEN_SWEEP_S", "0")],
        ] {
            let e = Config::load_from(&Overrides::default(), &env(&bad)).unwrap_err();
            assert!(e.0.contains("ORVANTA_"), "{e}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2hunter2hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(!serde_json::to_string(&s).unwrap().contains("hunter2"));
    }

    #[test]
    fn file_layer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orvanta.toml");
        std::fs::write(&path, "[server]\nport = 7000\n[worker]\nslots = 3\n[sandbox]\nmode = \"none\"\n").unwrap();
        let cfg =
            Config::load_from(&Overrides::default(), &env(&[("ORVANTA_CONFIG", path.to_str().unwrap())])).unwrap();
        assert_eq!((cfg.server.port, cfg.worker.slots, cfg.sandbox.mode), (7000, 3, SandboxMode::None));
        std::fs::write(&path, "[server]\nprot = 7000\n").unwrap();
        let e =
            Config::load_from(&Overrides::default(), &env(&[("ORVANTA_CONFIG", path.to_str().unwrap())])).unwrap_err();
        assert!(e.0.contains("prot"), "{e}");
    }

    #[test]
    fn every_setting_has_an_environment_name_of_its_own() {
        let mut names: Vec<&str> = SETTINGS.iter().flat_map(|s| s.env.iter().copied()).collect();
        let count = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), count, "two settings share an environment name");
        for setting in SETTINGS {
            assert!(!setting.doc.trim().is_empty(), "{} has no documentation", setting.key);
        }
    }

    /// The table in `docs/configuration.md` is this one; rewrite it with
    /// `ORVANTA_WRITE_DOCS=1 cargo test -p orvanta-server docs_list_every_setting`.
    #[test]
    fn docs_list_every_setting() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/configuration.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        let (begin, end) = ("<!-- settings:begin -->\n", "<!-- settings:end -->");
        let start = doc.find(begin).expect("docs/configuration.md has no settings:begin marker") + begin.len();
        let stop = doc.find(end).expect("docs/configuration.md has no settings:end marker");
        let table = settings_table();
        if doc[start..stop] != table {
            if std::env::var_os("ORVANTA_WRITE_DOCS").is_some() {
                std::fs::write(&path, format!("{}{table}{}", &doc[..start], &doc[stop..])).unwrap();
                return;
            }
            panic!(
                "docs/configuration.md does not list the settings as cfg.rs defines them; run \
                 ORVANTA_WRITE_DOCS=1 cargo test -p orvanta-server docs_list_every_setting"
            );
        }
    }
}
