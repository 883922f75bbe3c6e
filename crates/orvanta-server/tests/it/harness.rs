//! Starts the real `orvanta` binary on a free port with a fresh database, and
//! talks HTTP to it.

use reqwest::{Client, Response};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

pub const TOKEN: &str = "orv_test_admin_token_0123456789abcdef";

/// Runs `statements` on a server's SQLite file apart from the server, with
/// python3's own `sqlite3` module (a reader nobody here wrote; python3 is a
/// runtime the tests need anyway), and commits. Answers the last
/// statement's rows, a line each, columns joined by `|` (NULL as nothing).
pub fn run_sqlite(db: &Path, statements: &[&str]) -> String {
    let script = "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nrows = []\nfor s in sys.argv[2:]:\n    rows = c.execute(s).fetchall()\nc.commit()\nfor row in rows:\n    print('|'.join('' if v is None else str(v) for v in row))\n";
    let out = Command::new("python3").arg("-c").arg(script).arg(db).args(statements).output().expect("python3");
    assert!(out.status.success(), "sqlite3 {statements:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The PostgreSQL server the tests use.
pub fn pg_base_url() -> String {
    std::env::var("ORVANTA_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A fresh PostgreSQL database for one test; fails loudly when the server is down.
pub async fn fresh_pg_database() -> String {
    let admin_url = format!("{}/postgres", pg_base_url());
    let name = format!("orvanta_it_{}", uuid::Uuid::new_v4().simple());
    let out = Command::new("psql")
        .args([&admin_url, "-qAtc", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql must be installed to run the PostgreSQL tests");
    assert!(
        out.status.success(),
        "cannot create a PostgreSQL test database at {admin_url} (is PostgreSQL running? .ci/run starts it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("{}/{name}", pg_base_url())
}

/// Which database a test app runs on.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite,
    Postgres(String),
}

/// How to start the binary.
#[derive(Clone, Debug)]
pub struct Opts {
    pub role: &'static str,
    pub db: Db,
    pub env: Vec<(String, String)>,
    pub data_dir: Option<PathBuf>,
    /// Where the process's stderr goes (its log); `None`: the test's stderr.
    pub stderr_to: Option<PathBuf>,
    /// A file the process inherits open as fd 7, as a careless launcher may leave one.
    pub inherited_fd7: Option<PathBuf>,
}

impl Default for Opts {
    fn default() -> Self {
        Self { role: "up", db: Db::Sqlite, env: Vec::new(), data_dir: None, stderr_to: None, inherited_fd7: None }
    }
}

/// A running `orvanta` process.
pub struct TestApp {
    pub base: String,
    pub token: String,
    pub client: Client,
    pub child: Child,
    pub data_dir: PathBuf,
    pub stdout: Vec<String>,
    _tmp: Option<tempfile::TempDir>,
}

pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_orvanta")
}

/// Starts a process of `opts.role` and waits until it listens (or, for a
/// worker, until it says it started).
pub fn start(opts: Opts) -> TestApp {
    let (tmp, data_dir) = match &opts.data_dir {
        Some(d) => (None, d.clone()),
        None => {
            let t = tempfile::tempdir().expect("tempdir");
            let d = t.path().to_path_buf();
            (Some(t), d)
        }
    };
    let mut cmd = match &opts.inherited_fd7 {
        Some(file) => {
            let mut c = Command::new("bash");
            c.args(["-c", "exec 7<\"$0\"; exec \"$@\""]).arg(file).arg(binary());
            c
        }
        None => Command::new(binary()),
    };
    cmd.arg(opts.role)
        .arg("--data-dir")
        .arg(&data_dir)
        .env_remove("DATABASE_URL")
        .env("ORVANTA_ADMIN_TOKEN", TOKEN)
        .env("ORVANTA_KILL_GRACE_MS", "1000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped());
    match &opts.stderr_to {
        Some(path) => cmd.stderr(std::fs::File::create(path).expect("the stderr file")),
        None => cmd.stderr(Stdio::inherit()),
    };
    if opts.role != "worker" {
        cmd.args(["--port", "0"]);
    }
    if let Db::Postgres(url) = &opts.db {
        cmd.env("DATABASE_URL", url);
    }
    for (k, v) in &opts.env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn orvanta");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let base = loop {
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => {
                let found = line
                    .strip_prefix("Orvanta is listening on ")
                    .and_then(|r| r.split_whitespace().next())
                    .map(str::to_owned);
                let worker_ready = line.starts_with("orvanta worker started");
                lines.push(line);
                if let Some(b) = found {
                    break b;
                }
                if worker_ready {
                    break String::new();
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!("orvanta {} did not start; its output: {lines:?}", opts.role);
            }
        }
    };
    // Keep draining stdout so the process never blocks on a full pipe.
    std::thread::spawn(move || while rx.recv().is_ok() {});
    TestApp {
        base,
        token: TOKEN.into(),
        client: Client::builder().timeout(Duration::from_secs(120)).build().expect("client"),
        child,
        data_dir,
        stdout: lines,
        _tmp: tmp,
    }
}

/// Starts `orvanta up` on a fresh SQLite database.
pub fn spawn_app() -> TestApp {
    start(Opts::default())
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn ws(&self, path: &str) -> String {
        format!("{}/api/w/demo{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Response {
        self.client.get(self.ws(path)).bearer_auth(&self.token).send().await.expect("GET")
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Response {
        self.client.post(self.ws(path)).bearer_auth(&self.token).json(body).send().await.expect("POST")
    }

    /// Creates a script; answers its hash.
    pub async fn create_script(&self, path: &str, language: &str, content: &str) -> String {
        self.create_script_with(serde_json::json!({"path": path, "language": language, "content": content})).await
    }

    pub async fn create_script_with(&self, body: Value) -> String {
        let r = self.post_json("/scripts/create", &body).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, 201, "create script {body}: {text}");
        text
    }

    /// `POST /api/users/tokens/create` with the admin token.
    pub async fn token_request(&self, body: &Value) -> Response {
        self.client
            .post(self.url("/api/users/tokens/create"))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("POST")
    }

    /// Creates a token with the admin token; answers its secret.
    pub async fn create_token(&self, body: &Value) -> String {
        let r = self.token_request(body).await;
        assert_eq!(r.status(), 201, "create token {body}");
        r.text().await.unwrap()
    }

    /// Starts a job asynchronously; answers its id.
    pub async fn run_async(&self, path: &str, args: &Value) -> String {
        let r = self.post_json(&format!("/jobs/run/p/{path}"), args).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, 201, "run {path}: {text}");
        text
    }

    /// Starts a run on an async route (`/jobs/run/...`); answers its job id.
    pub async fn run_async_target(&self, route: &str, args: &Value) -> String {
        let r = self.post_json(route, args).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, 201, "{route}: {text}");
        text
    }

    pub async fn job(&self, id: &str) -> Value {
        let r = self.get(&format!("/jobs_u/get/{id}")).await;
        assert_eq!(r.status(), 200);
        r.json().await.unwrap()
    }

    /// Waits until the job has finished (checking every 50 ms, at most `secs`).
    pub async fn wait_done(&self, id: &str, secs: u64) -> Value {
        let until = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let job = self.job(id).await;
            if job["type"] == "CompletedJob" {
                return job;
            }
            assert!(std::time::Instant::now() < until, "job {id} did not finish in {secs}s: {job}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until `check` holds for the job.
    pub async fn wait_for(&self, id: &str, secs: u64, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let until = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let job = self.job(id).await;
            if check(&job) {
                return job;
            }
            assert!(std::time::Instant::now() < until, "job {id}: {what} did not happen in {secs}s: {job}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

/// Asserts an error answer: status, and a JSON `{"error": {"code", "message"}}` whose message contains `needle`.
pub async fn assert_error(r: Response, status: u16, needle: &str) -> Value {
    let got = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "unexpected status; body: {text}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("error body is not JSON: {text}"));
    let msg = v["error"]["message"].as_str().unwrap_or_else(|| panic!("no error.message in {v}"));
    assert!(v["error"]["code"].is_string(), "no error.code in {v}");
    assert!(msg.to_lowercase().contains(&needle.to_lowercase()), "message {msg:?} does not mention {needle:?}");
    v
}

/// Reads a `text/event-stream` answer one `data: <json>` event at a time.
pub struct SseReader {
    body: std::pin::Pin<Box<dyn futures::Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>>,
    buf: Vec<u8>,
}

impl SseReader {
    pub fn new(r: Response) -> Self {
        Self { body: Box::pin(r.bytes_stream()), buf: Vec::new() }
    }

    /// The next event's JSON; `None` once the server closed the stream. Panics
    /// when nothing comes for `secs`.
    pub async fn next_within(&mut self, secs: u64) -> Option<Value> {
        use futures::StreamExt;
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                let block = String::from_utf8(block).expect("SSE events are UTF-8");
                let data: Vec<&str> =
                    block.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
                if data.is_empty() {
                    continue;
                }
                let text = data.join("\n");
                return Some(serde_json::from_str(&text).unwrap_or_else(|_| panic!("SSE data is not JSON: {text}")));
            }
            let chunk = tokio::time::timeout(Duration::from_secs(secs), self.body.next()).await.unwrap_or_else(|_| {
                panic!("no SSE event within {secs}s; buffered: {:?}", String::from_utf8_lossy(&self.buf))
            });
            match chunk {
                Some(bytes) => self.buf.extend_from_slice(&bytes.expect("SSE body")),
                None => {
                    let left = String::from_utf8_lossy(&self.buf);
                    assert!(left.trim().is_empty(), "the stream ended inside an event: {left:?}");
                    return None;
                }
            }
        }
    }

    /// The next event within 60 s.
    pub async fn next(&mut self) -> Option<Value> {
        self.next_within(60).await
    }

    /// Every remaining event until the server closes the stream.
    pub async fn rest(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        while let Some(v) = self.next().await {
            out.push(v);
        }
        out
    }
}

/// A local S3-compatible server (`moto_server`, from PyPI `moto[server]`) on
/// a free port, with one bucket; killed when dropped.
pub struct Moto {
    pub endpoint: String,
    pub bucket: String,
    child: Child,
}

impl Moto {
    /// Starts `moto_server` and creates `bucket`; fails the test, saying
    /// how to install it, when `moto_server` is not on the PATH.
    pub async fn start(bucket: &str) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().unwrap().port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("moto_server is needed for the S3 tests and could not be started ({e}); install it with: python3 -m pip install 'moto[server]'")
            });
        let moto = Moto { endpoint: format!("http://127.0.0.1:{port}"), bucket: bucket.to_owned(), child };
        let client = Client::new();
        let until = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if client.get(&moto.endpoint).send().await.is_ok() {
                break;
            }
            assert!(std::time::Instant::now() < until, "moto_server did not answer on {} within 60 s", moto.endpoint);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = client.put(format!("{}/{bucket}", moto.endpoint)).send().await.expect("create bucket");
        assert!(r.status().is_success(), "creating the bucket {bucket} in moto failed: {}", r.status());
        moto
    }

    /// The environment that points `orvanta` at this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("ORVANTA_S3_BUCKET", self.bucket.as_str()),
            ("ORVANTA_S3_ENDPOINT", self.endpoint.as_str()),
            ("ORVANTA_S3_ACCESS_KEY_ID", "testing"),
            ("ORVANTA_S3_SECRET_ACCESS_KEY", "testing"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// An object's bytes, read straight from the server with a client of
    /// its own (not through Orvanta), or `None` when it is absent.
    pub async fn object(&self, key: &str) -> Option<Vec<u8>> {
        use object_store::ObjectStoreExt;
        let store = object_store::aws::AmazonS3Builder::new()
            .with_endpoint(&self.endpoint)
            .with_allow_http(true)
            .with_bucket_name(&self.bucket)
            .with_region("us-east-1")
            .with_access_key_id("testing")
            .with_secret_access_key("testing")
            .build()
            .expect("S3 client");
        match store.get(&object_store::path::Path::from(key)).await {
            Ok(r) => Some(r.bytes().await.expect("object bytes").to_vec()),
            Err(object_store::Error::NotFound { .. }) => None,
            Err(e) => panic!("reading {key} from moto: {e}"),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
