//! The one typed configuration: defaults, then an optional TOML file, then
//! `ORVANTA_*` environment variables (and `DATABASE_URL`), then command-line
//! flags. Validated once at start-up; nothing else in the server reads the
//! environment.

use serde::Deserialize;
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

/// Everything the server and workers are configured with.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on.
    pub host: String,
    /// Port to listen on (`ORVANTA_PORT`, default 8000).
    pub port: u16,
    /// Data folder: SQLite database, objects, runtime support files (`ORVANTA_DATA_DIR`).
    pub data_dir: PathBuf,
    /// `sqlite:...` or `postgres://...` (`DATABASE_URL`); default the SQLite file in the data folder.
    pub database_url: Option<String>,
    /// The bootstrap admin token's value (`ORVANTA_ADMIN_TOKEN`).
    pub admin_token: Option<Secret>,
    /// The URL scripts use to call back (`ORVANTA_BASE_URL`); default `http://127.0.0.1:{port}`.
    pub base_url: Option<String>,
    /// The first workspace made at bootstrap.
    pub default_workspace: String,
    /// Job slots of the embedded worker (`up`) or of `orvanta worker`.
    pub workers: usize,
    /// Tags the workers claim.
    pub worker_tags: Vec<String>,
    /// A worker's hold on a job; renewed every third of it.
    pub lease_s: u64,
    /// How often a job whose worker vanished is re-queued before it fails.
    pub max_retries: i32,
    /// Default job timeout, when the script sets none.
    pub job_timeout_s: u64,
    /// Log cap per job, in bytes.
    pub log_cap_bytes: usize,
    /// SIGTERM → SIGKILL grace, in milliseconds.
    pub kill_grace_ms: u64,
    /// Request body limit, in bytes.
    pub body_limit_bytes: usize,
    /// Sync routes answer 504 after this long.
    pub sync_timeout_s: u64,
    /// SSE streams end with a `timeout` event after this long; 0 = never (`ORVANTA_SSE_TIMEOUT_S`).
    pub sse_timeout_s: u64,
    /// Most connections a PostgreSQL pool opens.
    pub db_max_connections: u32,
    /// Request body limit of multipart uploads, in bytes.
    pub multipart_limit_bytes: usize,
    /// Body bytes all requests in flight may hold together (`ORVANTA_BODY_BUDGET_BYTES`);
    /// at least the larger of the two limits above.
    pub body_budget_bytes: usize,
    /// Headers added as arguments to every run request (`INCLUDE_HEADERS`, comma-separated).
    pub include_headers: Vec<String>,
    /// S3-compatible object storage: the bucket (`ORVANTA_S3_BUCKET`); unset means the local folder.
    pub s3_bucket: Option<String>,
    /// Endpoint of an S3-compatible server (`ORVANTA_S3_ENDPOINT`), e.g. `http://127.0.0.1:9000`.
    pub s3_endpoint: Option<String>,
    /// Region (`ORVANTA_S3_REGION`, default `us-east-1`).
    pub s3_region: String,
    /// Access key id (`ORVANTA_S3_ACCESS_KEY_ID`).
    pub s3_access_key_id: Option<String>,
    /// Secret access key (`ORVANTA_S3_SECRET_ACCESS_KEY`).
    pub s3_secret_access_key: Option<Secret>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            host: "0.0.0.0".into(),
            port: 8000,
            data_dir: PathBuf::from("./orvanta-data"),
            database_url: None,
            admin_token: None,
            base_url: None,
            default_workspace: "demo".into(),
            workers: 1,
            worker_tags: vec!["default".into()],
            lease_s: 30,
            max_retries: 1,
            job_timeout_s: 900,
            log_cap_bytes: 10 * 1024 * 1024,
            kill_grace_ms: 5000,
            body_limit_bytes: 16 * 1024 * 1024,
            sync_timeout_s: 600,
            sse_timeout_s: 60,
            db_max_connections: 10,
            multipart_limit_bytes: 256 * 1024 * 1024,
            body_budget_bytes: 256 * 1024 * 1024,
            include_headers: Vec::new(),
            s3_bucket: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
        }
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
    /// Job slots of the worker [env: ORVANTA_WORKERS]
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
            cfg.port = p;
        }
        if let Some(d) = &flags.data_dir {
            cfg.data_dir = d.clone();
        }
        if let Some(u) = &flags.database_url {
            cfg.database_url = Some(u.clone());
        }
        if let Some(t) = &flags.admin_token {
            cfg.admin_token = Some(Secret::new(t.clone()));
        }
        if let Some(w) = flags.workers {
            cfg.workers = w;
        }
        cfg.validate()?;
        Ok(cfg)
    }

    fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read the config file {}: {e}", path.display())))?;
        toml::from_str(&text).map_err(|e| ConfigError(format!("the config file {} is not valid: {e}", path.display())))
    }

    fn apply_env(&mut self, get: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn num<T: std::str::FromStr>(name: &str, v: String) -> Result<T, ConfigError> {
            v.trim().parse().map_err(|_| ConfigError(format!("{name}='{v}' is not a valid number")))
        }
        if let Some(v) = get("ORVANTA_HOST") {
            self.host = v;
        }
        if let Some(v) = get("ORVANTA_PORT") {
            self.port = num("ORVANTA_PORT", v)?;
        }
        if let Some(v) = get("ORVANTA_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = get("DATABASE_URL").filter(|v| !v.is_empty()) {
            self.database_url = Some(v);
        }
        if let Some(v) = get("ORVANTA_ADMIN_TOKEN").filter(|v| !v.is_empty()) {
            self.admin_token = Some(Secret::new(v));
        }
        if let Some(v) = get("ORVANTA_BASE_URL").filter(|v| !v.is_empty()) {
            self.base_url = Some(v);
        }
        if let Some(v) = get("ORVANTA_WORKERS") {
            self.workers = num("ORVANTA_WORKERS", v)?;
        }
        if let Some(v) = get("ORVANTA_WORKER_TAGS") {
            self.worker_tags = v.split(',').map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect();
        }
        if let Some(v) = get("ORVANTA_LEASE_S") {
            self.lease_s = num("ORVANTA_LEASE_S", v)?;
        }
        if let Some(v) = get("ORVANTA_MAX_RETRIES") {
            self.max_retries = num("ORVANTA_MAX_RETRIES", v)?;
        }
        if let Some(v) = get("ORVANTA_JOB_TIMEOUT_S") {
            self.job_timeout_s = num("ORVANTA_JOB_TIMEOUT_S", v)?;
        }
        if let Some(v) = get("ORVANTA_LOG_CAP_BYTES") {
            self.log_cap_bytes = num("ORVANTA_LOG_CAP_BYTES", v)?;
        }
        if let Some(v) = get("ORVANTA_KILL_GRACE_MS") {
            self.kill_grace_ms = num("ORVANTA_KILL_GRACE_MS", v)?;
        }
        if let Some(v) = get("ORVANTA_BODY_LIMIT_BYTES") {
            self.body_limit_bytes = num("ORVANTA_BODY_LIMIT_BYTES", v)?;
        }
        if let Some(v) = get("ORVANTA_SYNC_TIMEOUT_S") {
            self.sync_timeout_s = num("ORVANTA_SYNC_TIMEOUT_S", v)?;
        }
        if let Some(v) = get("ORVANTA_SSE_TIMEOUT_S") {
            self.sse_timeout_s = num("ORVANTA_SSE_TIMEOUT_S", v)?;
        }
        if let Some(v) = get("ORVANTA_DB_MAX_CONNECTIONS") {
            self.db_max_connections = num("ORVANTA_DB_MAX_CONNECTIONS", v)?;
        }
        if let Some(v) = get("ORVANTA_MULTIPART_LIMIT_BYTES") {
            self.multipart_limit_bytes = num("ORVANTA_MULTIPART_LIMIT_BYTES", v)?;
        }
        if let Some(v) = get("ORVANTA_BODY_BUDGET_BYTES") {
            self.body_budget_bytes = num("ORVANTA_BODY_BUDGET_BYTES", v)?;
        }
        // The seed page names this one without the ORVANTA_ prefix.
        if let Some(v) = get("INCLUDE_HEADERS").or_else(|| get("ORVANTA_INCLUDE_HEADERS")) {
            self.include_headers = v.split(',').map(|h| h.trim().to_owned()).filter(|h| !h.is_empty()).collect();
        }
        let nonempty = |k: &str| get(k).filter(|v| !v.is_empty());
        if let Some(v) = nonempty("ORVANTA_S3_BUCKET") {
            self.s3_bucket = Some(v);
        }
        if let Some(v) = nonempty("ORVANTA_S3_ENDPOINT") {
            self.s3_endpoint = Some(v);
        }
        if let Some(v) = nonempty("ORVANTA_S3_REGION") {
            self.s3_region = v;
        }
        if let Some(v) = nonempty("ORVANTA_S3_ACCESS_KEY_ID") {
            self.s3_access_key_id = Some(v);
        }
        if let Some(v) = nonempty("ORVANTA_S3_SECRET_ACCESS_KEY") {
            self.s3_secret_access_key = Some(Secret::new(v));
        }
        Ok(())
    }

    fn validate(&mut self) -> Result<(), ConfigError> {
        if let Some(url) = &self.database_url {
            let ok = url.starts_with("sqlite:") || url.starts_with("postgres://") || url.starts_with("postgresql://");
            if !ok {
                return Err(ConfigError(format!(
                    "DATABASE_URL '{}' is neither sqlite:... nor postgres://...; for example sqlite:./orvanta-data/orvanta.db or postgres://postgres@127.0.0.1:5432/orvanta",
                    orvanta_store::redact_url(url)
                )));
            }
        }
        if orvanta_core::WorkspaceId::parse(&self.default_workspace).is_err() {
            return Err(ConfigError(format!(
                "default_workspace '{}' is not a valid workspace id (a-z, 0-9, '-')",
                self.default_workspace
            )));
        }
        if self.lease_s < 2 {
            return Err(ConfigError("ORVANTA_LEASE_S must be at least 2 seconds".into()));
        }
        let largest = self.body_limit_bytes.max(self.multipart_limit_bytes);
        if self.body_budget_bytes < largest {
            return Err(ConfigError(format!(
                "ORVANTA_BODY_BUDGET_BYTES ({}) must be at least the largest body limit ({largest}), or no such body could ever be read",
                self.body_budget_bytes
            )));
        }
        if self.worker_tags.is_empty() {
            return Err(ConfigError("ORVANTA_WORKER_TAGS must name at least one tag".into()));
        }
        if let Some(t) = &self.admin_token {
            if t.expose().len() < 16 {
                return Err(ConfigError("ORVANTA_ADMIN_TOKEN must be at least 16 characters long".into()));
            }
        }
        Ok(())
    }

    /// The database URL in force.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| format!("sqlite:{}", self.data_dir.join("orvanta.db").display()))
    }

    /// The URL scripts and printed examples use.
    pub fn base_url(&self) -> String {
        self.base_url.clone().unwrap_or_else(|| format!("http://127.0.0.1:{}", self.port))
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        format!("{}:{}", self.host, self.port)
            .parse()
            .map_err(|_| ConfigError(format!("ORVANTA_HOST '{}' is not an IP address", self.host)))
    }
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
        assert_eq!(cfg.port, 9001);
        let flags = Overrides { port: Some(9002), ..Default::default() };
        let cfg = Config::load_from(&flags, &env(&[("ORVANTA_PORT", "9001")])).unwrap();
        assert_eq!(cfg.port, 9002);
    }

    #[test]
    fn bad_values_are_named() {
        let e = Config::load_from(&Overrides::default(), &env(&[("ORVANTA_PORT", "eighty")])).unwrap_err();
        assert!(e.0.contains("ORVANTA_PORT"), "{e}");
        let e = Config::load_from(&Overrides::default(), &env(&[("DATABASE_URL", "mysql://u:pw@h/db")])).unwrap_err();
        assert!(e.0.contains("DATABASE_URL") && !e.0.contains("pw"), "{e}");
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Secret::new("hunter2hunter2hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn file_layer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("orvanta.toml");
        std::fs::write(&path, "port = 7000\nworkers = 3\n").unwrap();
        let cfg =
            Config::load_from(&Overrides::default(), &env(&[("ORVANTA_CONFIG", path.to_str().unwrap())])).unwrap();
        assert_eq!((cfg.port, cfg.workers), (7000, 3));
        std::fs::write(&path, "prot = 7000\n").unwrap();
        let e =
            Config::load_from(&Overrides::default(), &env(&[("ORVANTA_CONFIG", path.to_str().unwrap())])).unwrap_err();
        assert!(e.0.contains("prot"), "{e}");
    }
}
