//! Orvanta's HTTP fuzz suite: hostile requests against every route the
//! server registers, taken from `orvanta routes` (so a new route is fuzzed
//! without anyone remembering to add it), on the real binary.
//!
//! Every answer must be a success, or an error in the contract's JSON shape
//! with a 4xx status; a 5xx only where the contract orders one (a sync call's
//! 504 timeout, a 503 for a tag no worker serves or a spent body budget, a
//! script's own invalid control key). No panic may be logged, the server
//! must answer its health check afterwards, and its memory must come back
//! near where it started.
//!
//! CI runs a bounded run (`cargo test`: 3,000 requests). The long run:
//!
//! ```sh
//! ORVANTA_FUZZ_REQUESTS=1000000 cargo test --release -p orvanta-server --test fuzz
//! ```
//!
//! Settings: `ORVANTA_FUZZ_REQUESTS` (per backend), `ORVANTA_FUZZ_SEED`
//! (printed by every run, to replay it), `ORVANTA_FUZZ_CONCURRENCY` (4),
//! `ORVANTA_FUZZ_BACKENDS` (`sqlite,postgres`), `ORVANTA_FUZZ_SERVER_ENV`
//! (`K=V,...` for the server under test), `ORVANTA_FUZZ_ROUTES` (set: print
//! the answers per route).

#[allow(dead_code)]
#[path = "../it/harness.rs"]
mod harness;

mod gen;

use gen::{Ctx, RawBreak, Req, Route};
use harness::{start, Db, Opts, TestApp};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() -> ExitCode {
    let requests = env_num("ORVANTA_FUZZ_REQUESTS", 3000);
    let seed = env_num("ORVANTA_FUZZ_SEED", rand::random::<u32>() as u64);
    let concurrency = env_num("ORVANTA_FUZZ_CONCURRENCY", 4).max(1) as usize;
    println!("fuzz: {requests} requests, seed {seed} (ORVANTA_FUZZ_SEED={seed} replays it), {concurrency} connections");
    let backends = std::env::var("ORVANTA_FUZZ_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mut failures = Vec::new();
    for backend in backends.split(',').map(str::trim) {
        let db = match backend {
            "sqlite" => Db::Sqlite,
            "postgres" => Db::Postgres(rt.block_on(harness::fresh_pg_database())),
            other => panic!("ORVANTA_FUZZ_BACKENDS: unknown backend {other}; use sqlite and/or postgres"),
        };
        println!("fuzz on {backend}:");
        let found = rt.block_on(run(requests, seed, concurrency, db));
        failures.extend(found.into_iter().map(|f| format!("[{backend}] {f}")));
    }
    if failures.is_empty() {
        println!("fuzz: passed");
        ExitCode::SUCCESS
    } else {
        println!("fuzz: FAILED");
        for f in &failures {
            println!("  - {f}");
        }
        ExitCode::FAILURE
    }
}

/// What the run saw.
#[derive(Default)]
struct Report {
    by_status: BTreeMap<u16, u64>,
    /// Per route of the table: answers 2xx, 4xx, 5xx.
    by_route: BTreeMap<String, [u64; 3]>,
    /// Answers that break the contract, with the request that got them.
    bad: Vec<String>,
    bad_count: u64,
    /// Non-JSON error answers of hyper itself, for requests too broken to reach the API.
    protocol_errors: u64,
    /// Connections closed without an answer (raw mode only).
    closed: u64,
}

impl Report {
    fn flag(&mut self, what: String) {
        self.bad_count += 1;
        if self.bad.len() < 20 {
            self.bad.push(what);
        }
    }
}

fn routes() -> Vec<Route> {
    let out = std::process::Command::new(harness::binary()).arg("routes").output().expect("orvanta routes");
    assert!(out.status.success(), "orvanta routes failed");
    serde_json::from_slice(&out.stdout).expect("orvanta routes prints JSON")
}

fn rss_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

async fn run(requests: u64, seed: u64, concurrency: usize, db: Db) -> Vec<String> {
    let mut failures = Vec::new();
    let table = routes();
    println!("fuzz: {} routes from `orvanta routes`", table.len());
    let log = tempfile::NamedTempFile::new().expect("log file");
    let env = [
        ("ORVANTA_SYNC_TIMEOUT_S", "3"),
        ("ORVANTA_SSE_TIMEOUT_S", "2"),
        ("ORVANTA_WORKERS", "2"),
        ("ORVANTA_JOB_TIMEOUT_S", "10"),
        ("RUST_LOG", "warn"),
    ];
    let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    // Extra settings for the server under test, `K=V,K=V` (for experiments).
    if let Ok(extra) = std::env::var("ORVANTA_FUZZ_SERVER_ENV") {
        env.extend(extra.split(',').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())));
    }
    let app = start(Opts { env, stderr_to: Some(log.path().to_path_buf()), db, ..Default::default() });
    let ctx = setup(&app).await;
    let pid = app.child.id();
    let baseline = rss_kib(pid, "VmRSS:");

    let report = Arc::new(Mutex::new(Report::default()));
    let sent = Arc::new(AtomicU64::new(0));
    let peak = Arc::new(AtomicU64::new(baseline));
    let sampler = {
        let peak = peak.clone();
        tokio::spawn(async move {
            loop {
                peak.fetch_max(rss_kib(pid, "VmRSS:"), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut tasks = Vec::new();
    for worker in 0..concurrency {
        let (ctx, table, report, sent, client, base) =
            (ctx.clone(), table.clone(), report.clone(), sent.clone(), client.clone(), app.base.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(seed.wrapping_add(worker as u64));
            loop {
                let n = sent.fetch_add(1, Ordering::Relaxed);
                if n >= requests {
                    break;
                }
                if n > 0 && n % (requests / 10).max(1) == 0 {
                    println!("fuzz: {n} requests sent");
                }
                let req = if rng.gen_bool(0.02) {
                    // A route that does not exist at all.
                    let route = Route { path: "/api/w/{ws}/nowhere/{id}".into(), methods: vec!["GET".into()] };
                    gen::request(&mut rng, &ctx, &route)
                } else {
                    let route = table.choose(&mut rng).unwrap().clone();
                    gen::request(&mut rng, &ctx, &route)
                };
                let outcome = send(&client, &base, &req).await;
                let mut r = report.lock().unwrap();
                judge(&mut r, &req, outcome);
            }
        }));
    }
    for t in tasks {
        t.await.expect("a fuzz task");
    }
    let elapsed = started.elapsed();
    // Let queued jobs drain and buffers go, then look at the memory again.
    let health = wait_healthy(&app).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    sampler.abort();
    let after = rss_kib(pid, "VmRSS:");
    let hwm = rss_kib(pid, "VmHWM:").max(peak.load(Ordering::Relaxed));
    let logged = std::fs::read_to_string(log.path()).unwrap_or_default();
    let panics: Vec<&str> =
        logged.lines().filter(|l| l.contains("panicked") || l.contains("a handler panicked")).collect();

    let r = report.lock().unwrap();
    let total: u64 = r.by_status.values().sum();
    let class = |c: u16| r.by_status.iter().filter(|(s, _)| **s / 100 == c).map(|(_, n)| n).sum::<u64>();
    println!("fuzz: {total} answers in {:.1} s ({:.0}/s)", elapsed.as_secs_f64(), total as f64 / elapsed.as_secs_f64());
    println!("  by class: 2xx {}  3xx {}  4xx {}  5xx {}", class(2), class(3), class(4), class(5));
    println!("  by status: {:?}", r.by_status);
    if std::env::var("ORVANTA_FUZZ_ROUTES").is_ok() {
        for (route, [ok, client, server]) in &r.by_route {
            println!("    {route}: 2xx {ok}, 4xx {client}, 5xx {server}");
        }
    }
    println!("  answers outside the contract: {}", r.bad_count);
    println!(
        "  non-JSON errors of the protocol layer (raw broken framing): {}; closed without answer: {}",
        r.protocol_errors, r.closed
    );
    println!("  panics logged: {}", panics.len());
    println!("  RSS: baseline {} MiB, peak {} MiB, after {} MiB", baseline / 1024, hwm / 1024, after / 1024);
    for b in &r.bad {
        failures.push(format!("answer outside the contract: {b}"));
    }
    for p in panics.iter().take(5) {
        failures.push(format!("panic logged: {p}"));
    }
    if let Err(e) = health {
        failures.push(format!("the server is not healthy after the run: {e}"));
    }
    // Near the baseline: what the run allocated has gone back, give or take
    // what caches and the allocator keep (bounded, not proportional to the run).
    let allowed = baseline + 96 * 1024;
    if after > allowed {
        failures.push(format!(
            "memory did not come back: {} MiB after the run, baseline {} MiB (allowed {} MiB)",
            after / 1024,
            baseline / 1024,
            allowed / 1024
        ));
    }
    failures
}

async fn wait_healthy(app: &TestApp) -> Result<(), String> {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        match app.client.get(app.url("/api/health")).send().await {
            Ok(r) if r.status() == 200 => return Ok(()),
            Ok(r) if Instant::now() > until => return Err(format!("health answered {}", r.status())),
            Err(e) if Instant::now() > until => return Err(e.to_string()),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// Scripts, jobs, tokens and files for the generator to aim at.
async fn setup(app: &TestApp) -> Ctx {
    let bash = app.create_script("u/admin/fz_bash", "bash", "x=\"$1\"\necho \"{\\\"x\\\": 1}\"").await;
    let py = app
        .create_script(
            "u/admin/fz_py",
            "python3",
            "def main(a=None, b: int = 0, **kw):\n    return {\"a\": a, \"b\": b}\n",
        )
        .await;
    let stream = app
        .create_script("u/admin/fz_stream", "python3", "def main():\n    for i in range(3):\n        yield str(i)\n")
        .await;
    let custom = app
        .create_script(
            "u/admin/fz_custom",
            "python3",
            "def main(code=201, ct=None, h=None):\n    return {\"wm_status_code\": code, \"wm_content_type\": ct, \"wm_headers\": h or {}, \"result\": \"r\"}\n",
        )
        .await;
    app.create_script("u/admin/fz_victim", "bash", "echo victim").await;
    let scoped = app.create_token(&json!({"label": "fz-scoped", "scopes": ["jobs:run:scripts:u/admin/fz_bash"]})).await;
    let spare = app.create_token(&json!({"label": "fz-spare"})).await;
    let mut job_ids = Vec::new();
    for _ in 0..3 {
        job_ids.push(app.run_async("u/admin/fz_bash", &json!({})).await);
    }
    let r = app
        .client
        .post(app.ws("/jobs/run/p/u/admin/fz_bash?scheduled_in_secs=86400"))
        .bearer_auth(&app.token)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    job_ids.push(r.text().await.unwrap());
    let r = app
        .client
        .post(app.ws("/job_helpers/upload_s3_file?file_key=fz/a.txt"))
        .bearer_auth(&app.token)
        .body("a")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // Finished jobs give the read routes more to read; with idle workers (the
    // long run) they stay queued, which is fine too.
    let until = Instant::now() + Duration::from_secs(30);
    for id in &job_ids[..3] {
        while app.job(id).await["type"] != "CompletedJob" && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ctx {
        token: app.token.clone(),
        scoped_token: scoped,
        spare_prefix: spare.chars().take(10).collect(),
        scripts: vec![
            ("u/admin/fz_bash".into(), bash.clone()),
            ("u/admin/fz_bash".into(), bash),
            ("u/admin/fz_py".into(), py),
            ("u/admin/fz_stream".into(), stream),
            ("u/admin/fz_custom".into(), custom),
        ],
        victim: "u/admin/fz_victim".into(),
        job_ids,
        file_keys: vec!["fz/a.txt".into(), "fz".into(), "fz/a.txt/b".into()],
    }
}

/// What came back for one request.
enum Outcome {
    Answer {
        status: u16,
        content_type: Option<String>,
        body: Vec<u8>,
        head: bool,
    },
    /// The server closed the connection without an answer (raw mode).
    Closed,
    /// The HTTP client failed (timeout, reset): always a finding.
    ClientError(String),
}

async fn send(client: &reqwest::Client, base: &str, req: &Req) -> Outcome {
    if let Some(kind) = req.raw {
        let base = base.to_owned();
        let req = req.clone();
        return tokio::task::spawn_blocking(move || send_raw(&base, &req, kind)).await.unwrap_or(Outcome::Closed);
    }
    let Ok(method) = reqwest::Method::from_bytes(req.method.as_bytes()) else {
        return Outcome::Closed;
    };
    let resp = match request(client, base, &method, req).send().await {
        Ok(r) => r,
        Err(e) if e.is_builder() => return Outcome::Closed,
        // A pooled connection the server closed after its previous answer:
        // once more, on a connection of its own.
        Err(_) => {
            let fresh = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
            match request(&fresh, base, &method, req).send().await {
                Ok(r) => r,
                Err(e) => return Outcome::ClientError(format!("{e}")),
            }
        }
    };
    let status = resp.status().as_u16();
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let is_sse = content_type.as_deref().is_some_and(|c| c.starts_with("text/event-stream"));
    // Streams end with the job or the SSE timeout; bodies are read up to 8 MiB.
    let mut body = Vec::new();
    let mut stream = resp;
    let limit = Duration::from_secs(if is_sse { 30 } else { 60 });
    let read = tokio::time::timeout(limit, async {
        while let Some(chunk) = stream.chunk().await.map_err(|e| e.to_string())? {
            if body.len() < 8 << 20 {
                body.extend_from_slice(&chunk);
            }
        }
        Ok::<_, String>(())
    })
    .await;
    match read {
        Ok(Ok(())) => Outcome::Answer { status, content_type, body, head: method == reqwest::Method::HEAD },
        Ok(Err(e)) => Outcome::ClientError(format!("reading the body: {e}")),
        Err(_) => Outcome::ClientError("the body did not end within its time".into()),
    }
}

fn request(client: &reqwest::Client, base: &str, method: &reqwest::Method, req: &Req) -> reqwest::RequestBuilder {
    let mut rb = client.request(method.clone(), format!("{base}{}", req.target));
    for (k, v) in &req.headers {
        if let (Ok(name), Ok(value)) =
            (reqwest::header::HeaderName::from_bytes(k.as_bytes()), reqwest::header::HeaderValue::from_bytes(v))
        {
            rb = rb.header(name, value);
        }
    }
    rb.body(req.body.clone())
}

fn send_raw(base: &str, req: &Req, kind: RawBreak) -> Outcome {
    let addr = base.trim_start_matches("http://");
    let Ok(mut s) = std::net::TcpStream::connect(addr) else { return Outcome::ClientError("connect".into()) };
    let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
    let target = req.target.replace(' ', "%20");
    let mut head = format!("{} {} HTTP/1.1\r\nHost: fuzz\r\n", req.method, target).into_bytes();
    for (k, v) in &req.headers {
        if k != "content-length" && k != "transfer-encoding" {
            head.extend_from_slice(format!("{k}: ").as_bytes());
            head.extend_from_slice(v);
            head.extend_from_slice(b"\r\n");
        }
    }
    let mut bytes = Vec::new();
    match kind {
        RawBreak::BadChunkSize => {
            bytes.extend_from_slice(&head);
            bytes.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n");
        }
        RawBreak::ShortBody => {
            bytes.extend_from_slice(&head);
            bytes.extend_from_slice(format!("Content-Length: {}\r\n\r\n", req.body.len() + 50).as_bytes());
            bytes.extend_from_slice(&req.body);
        }
        RawBreak::GarbageRequestLine => bytes.extend_from_slice(b"\x00\xffGET /api/health\r\n\r\n"),
        RawBreak::HugeHeader => {
            bytes.extend_from_slice(&head);
            bytes.extend_from_slice(format!("X-Big: {}\r\n\r\n", "h".repeat(200_000)).as_bytes());
        }
        RawBreak::BadHeaderBytes => {
            bytes.extend_from_slice(&head);
            bytes.extend_from_slice(b"X-Bad\x01: \x00\x7f\r\nno-colon-here\r\n\r\n");
        }
    }
    if s.write_all(&bytes).is_err() {
        return Outcome::Closed;
    }
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    if out.is_empty() {
        return Outcome::Closed;
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let (headers, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let content_type =
        headers.lines().find_map(|l| l.to_ascii_lowercase().strip_prefix("content-type:").map(|v| v.trim().to_owned()));
    Outcome::Answer { status, content_type, body: body.as_bytes().to_vec(), head: false }
}

/// Checks one answer against the contract.
fn judge(r: &mut Report, req: &Req, outcome: Outcome) {
    let (status, content_type, body, head) = match outcome {
        Outcome::Answer { status, content_type, body, head } => (status, content_type, body, head),
        Outcome::Closed => {
            r.closed += 1;
            return;
        }
        Outcome::ClientError(e) => {
            *r.by_status.entry(0).or_default() += 1;
            r.flag(format!("no answer ({e}) to {}", req.describe()));
            return;
        }
    };
    *r.by_status.entry(status).or_default() += 1;
    let slot = match status / 100 {
        2 => Some(0),
        4 => Some(1),
        5 => Some(2),
        _ => None,
    };
    if let Some(i) = slot {
        r.by_route.entry(req.route.clone()).or_default()[i] += 1;
    }
    if status < 400 {
        return;
    }
    let json: Option<Value> = serde_json::from_slice(&body).ok();
    let error = json.as_ref().and_then(|v| v.get("error"));
    let code = error.and_then(|e| e.get("code")).and_then(Value::as_str);
    let has_shape = code.is_some() && error.and_then(|e| e.get("message")).is_some_and(Value::is_string);
    let shown = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    if req.raw.is_some() && !has_shape {
        // hyper refused it before the API saw it: a protocol-layer answer.
        r.protocol_errors += 1;
        return;
    }
    // The contract's sync timeout answer (§5) has a name, not a code.
    let sync_timeout = status == 504 && error.and_then(|e| e.get("name")).and_then(Value::as_str) == Some("Timeout");
    if !(has_shape || sync_timeout || head) {
        r.flag(format!(
            "{status} error that is not the contract's JSON ({content_type:?}: {shown}) for {}",
            req.describe()
        ));
        return;
    }
    if status >= 500 {
        let allowed = sync_timeout
            || (status == 503 && code == Some("no-worker-for-tag"))
            || (status == 503 && shown.contains("ORVANTA_BODY_BUDGET_BYTES"))
            || (status == 500
                && matches!(code, Some("invalid-status-code" | "invalid-header" | "invalid-content-type")));
        if !allowed {
            r.flag(format!("{status} outside the contract ({shown}) for {}", req.describe()));
        }
    }
}
