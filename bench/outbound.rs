//! Workspace webhook benchmark (figures, not a test): the real `orvanta up`
//! (release build) with a local receiver that notes when each event arrives,
//! all on this machine (the callers, the receiver, the server and the
//! database share its cores).
//!
//! 1. Baseline: `BENCH_CHANGES` variables created by concurrent callers (8,
//!    then 32: `BENCH_CLIENTS`) as fast as they go, with no webhook set
//!    (events are recorded and skipped): changes per second.
//! 2. Live: the same with the webhook set and the receiver up: changes per
//!    second (and their ratio to the mean of the baseline measured before and
//!    after, as this machine's rate drifts), events delivered per second
//!    (first change sent to last event received), and latency percentiles to
//!    the reception from the event's `timestamp` (taken in the change's
//!    transaction, just before its commit) and from the API's answer (just
//!    after it): the commit lies between the two.
//! 3. Paced: up to 5,000 changes at `BENCH_RATE` a second (1,000), the same
//!    latencies when the machine is not saturated by the callers.
//! 4. Outage: the receiver is stopped (its port refuses connections),
//!    `BENCH_CHANGES` changes are made, and the receiver comes back
//!    `BENCH_OUTAGE_S` (10) after it stopped. The first event waits for its
//!    next retry on the ladder (shrunk 1000× here, as in the tests:
//!    `ORVANTA_WEBHOOK_MS_PER_LADDER_SECOND=1`), then the backlog drains:
//!    time to the first delivery, time to drain, deliveries per second.
//!
//! On SQLite, and on PostgreSQL when it answers at `ORVANTA_TEST_PG_URL`
//! (default `postgres://postgres@127.0.0.1:5432`; a database is made and
//! dropped). Run: `cargo bench -p orvanta-server --bench outbound`
//! (`BENCH_BACKENDS` default `sqlite,postgres`).

use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const TOKEN: &str = "orv_bench_token_0123456789abcdefghij";

/// Milliseconds since the epoch, to the microsecond.
fn wall_ms() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as f64 / 1000.0
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What arrived: when (wall ms) and the body.
type Arrivals = Arc<Mutex<Vec<(f64, String)>>>;

/// The receiver: answers 204 to every POST and notes it; stops on demand
/// (closing its connections, so the port refuses) and starts again on the
/// same port. It runs on a thread of its own, as a receiver elsewhere
/// would, not behind the callers' tasks.
struct Receiver {
    got: Arrivals,
    port: u16,
    runtime: tokio::runtime::Handle,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Receiver {
    async fn start() -> Self {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            tx.send(rt.handle().clone()).unwrap();
            rt.block_on(std::future::pending::<()>());
        });
        let runtime = rx.recv().unwrap();
        let mut r = Receiver { got: Arrivals::default(), port: 0, runtime, stop: None, task: None };
        r.up().await;
        r
    }

    async fn up(&mut self) {
        let listener = std::net::TcpListener::bind(("127.0.0.1", self.port)).expect("the receiver's port");
        listener.set_nonblocking(true).unwrap();
        self.port = listener.local_addr().unwrap().port();
        let got = self.got.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |body: String| {
                let got = got.clone();
                async move {
                    got.lock().unwrap().push((wall_ms(), body));
                    axum::http::StatusCode::NO_CONTENT
                }
            }),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(stop);
        self.task = Some(self.runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                _ = stopped.await;
            });
            serve.await.expect("the receiver")
        }));
    }

    async fn down(&mut self) {
        if let (Some(stop), Some(task)) = (self.stop.take(), self.task.take()) {
            _ = stop.send(());
            _ = task.await;
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}/hook", self.port)
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    async fn wait_for(&self, n: usize, secs: u64) {
        let until = Instant::now() + Duration::from_secs(secs);
        while self.count() < n {
            assert!(Instant::now() < until, "only {} of {n} events arrived within {secs} s", self.count());
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
}

/// `orvanta up`, killed when dropped.
struct Server {
    base: String,
    child: Child,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(database_url: Option<&str>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_orvanta"));
        cmd.args(["up", "--port", "0", "--data-dir"])
            .arg(dir.path())
            .env_remove("DATABASE_URL")
            .env("ORVANTA_ADMIN_TOKEN", TOKEN)
            .env("ORVANTA_WEBHOOK_ALLOW_PRIVATE", "true")
            .env("ORVANTA_WEBHOOK_MS_PER_LADDER_SECOND", "1")
            .env("ORVANTA_WORKER_TAGS", "bench-none")
            .env("RUST_LOG", "error")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(url) = database_url {
            cmd.env("DATABASE_URL", url);
        }
        let mut child = cmd.spawn().expect("orvanta");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let base = loop {
            let line = lines.next().expect("orvanta stopped before it listened").unwrap();
            if let Some(rest) = line.strip_prefix("Orvanta is listening on ") {
                break rest.split_whitespace().next().unwrap().to_owned();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let client = reqwest::Client::builder().pool_max_idle_per_host(256).build().unwrap();
        Server { base, child, client, _dir: dir }
    }

    fn ws(&self, path: &str) -> String {
        format!("{}/api/w/demo{path}", self.base)
    }

    /// Sets the webhook, or turns it off.
    async fn set_webhook(&self, url: Option<&str>) {
        let r = self.client.post(self.ws("/workspaces/edit_webhook")).bearer_auth(TOKEN).json(&json!({"webhook": url}));
        let r = r.send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    /// Waits until no event of the workspace is pending.
    async fn settle(&self) {
        loop {
            let route = self.ws("/workspaces/webhook_deliveries?per_page=1000");
            let log: Value = self.client.get(route).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
            if log.as_array().unwrap().iter().all(|e| e["state"] != "pending") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Creates `n` variables `u/admin/{tag}{i}` from `clients` callers at
    /// once, as fast as they go or `rate` a second; answers the seconds it
    /// took and when each answer came (wall ms, by i).
    async fn changes(&self, tag: &str, n: usize, clients: usize, rate: Option<f64>) -> (f64, Vec<f64>) {
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let answered = Arc::new(Mutex::new(vec![0.0; n]));
        let started = Instant::now();
        let start = tokio::time::Instant::now();
        let callers: Vec<_> = (0..clients)
            .map(|_| {
                let (client, route, next, answered, tag) =
                    (self.client.clone(), self.ws("/variables/create"), next.clone(), answered.clone(), tag.to_owned());
                tokio::spawn(async move {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if i >= n {
                            return;
                        }
                        if let Some(rate) = rate {
                            tokio::time::sleep_until(start + Duration::from_secs_f64(i as f64 / rate)).await;
                        }
                        let body = json!({"path": format!("u/admin/{tag}{i}"), "value": "x"});
                        let r = client.post(&route).bearer_auth(TOKEN).json(&body).send().await;
                        let r = r.unwrap_or_else(|e| panic!("variables/create of {tag}{i} got no answer: {e}"));
                        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
                        answered.lock().unwrap()[i] = wall_ms();
                    }
                })
            })
            .collect();
        for c in callers {
            c.await.unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        let answered = answered.lock().unwrap().clone();
        (secs, answered)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        _ = self.child.kill();
        _ = self.child.wait();
    }
}

/// The `p`-th percentile of sorted values.
fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p / 100.0).round() as usize]
}

/// For the events of `tag` among `got`: (reception − timestamp, reception − answer) in ms, sorted.
fn latencies(got: &[(f64, String)], tag: &str, answered: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let (mut from_commit, mut from_answer) = (Vec::new(), Vec::new());
    for (at, body) in got {
        let v: Value = serde_json::from_str(body).unwrap();
        let Some(i) = v["path"].as_str().and_then(|p| p.strip_prefix("u/admin/")).and_then(|p| p.strip_prefix(tag))
        else {
            continue;
        };
        let ts = chrono::DateTime::parse_from_rfc3339(v["timestamp"].as_str().unwrap()).unwrap();
        from_commit.push(at - ts.timestamp_millis() as f64);
        from_answer.push(at - answered[i.parse::<usize>().unwrap()]);
    }
    from_commit.sort_by(f64::total_cmp);
    from_answer.sort_by(f64::total_cmp);
    (from_commit, from_answer)
}

/// Prints the percentiles of both latencies.
fn print_latencies(recorded: &[f64], answer: &[f64]) {
    let line = |what: &str, v: &[f64]| {
        println!(
            "  {what} p50 {:>7.1} ms   p90 {:>7.1} ms   p99 {:>7.1} ms   max {:>7.1} ms",
            pct(v, 50.0),
            pct(v, 90.0),
            pct(v, 99.0),
            pct(v, 100.0)
        )
    };
    line("recorded -> reception  ", recorded);
    line("API answer -> reception", answer);
}

async fn bench(backend: &str, database_url: Option<&str>, n: usize, levels: &[usize], pace: f64, outage: Duration) {
    let mut receiver = Receiver::start().await;
    let server = Server::start(database_url);
    // Not measured: the first changes after a start are slower (caches, connections).
    server.changes("warm", 2_000, levels[0], None).await;
    for &clients in levels {
        println!("\n== {backend}: {n} changes (variables/create) from {clients} callers at once");
        server.set_webhook(None).await;
        server.settle().await;
        let (secs, _) = server.changes(&format!("base{clients}_"), n, clients, None).await;
        let baseline = n as f64 / secs;
        println!("baseline, no webhook set:  {baseline:>8.0} changes/s");
        server.settle().await;

        server.set_webhook(Some(&receiver.url())).await;
        let before = receiver.count();
        let first_sent = wall_ms();
        let tag = format!("live{clients}_");
        let (secs, answered) = server.changes(&tag, n, clients, None).await;
        let rate = n as f64 / secs;
        receiver.wait_for(before + n, 300).await;
        let got = receiver.got.lock().unwrap()[before..].to_vec();
        let last = got.iter().map(|(at, _)| *at).fold(0.0, f64::max);
        let delivered = n as f64 / ((last - first_sent) / 1000.0);
        let (recorded, answer) = latencies(&got, &tag, &answered);
        // The baseline again: this machine's rate drifts; the ratio is to the mean of both.
        server.set_webhook(None).await;
        server.settle().await;
        let (secs, _) = server.changes(&format!("again{clients}_"), n, clients, None).await;
        let again = n as f64 / secs;
        let mean = (baseline + again) / 2.0;
        println!("baseline again:            {again:>8.0} changes/s");
        println!(
            "receiver up:               {rate:>8.0} changes/s ({:.0} % of the baselines' mean)",
            100.0 * rate / mean
        );
        println!(
            "                           {delivered:>8.0} events delivered/s (first change sent to last event received)"
        );
        print_latencies(&recorded, &answer);
        server.set_webhook(Some(&receiver.url())).await;
    }

    let paced = n.min(5_000);
    let clients = levels[0];
    println!("\n== {backend}: {paced} changes at {pace:.0} a second ({clients} callers), receiver up");
    let before = receiver.count();
    let (_, answered) = server.changes("paced", paced, clients, Some(pace)).await;
    receiver.wait_for(before + paced, 300).await;
    let got = receiver.got.lock().unwrap()[before..].to_vec();
    let (recorded, answer) = latencies(&got, "paced", &answered);
    print_latencies(&recorded, &answer);

    println!("\n== {backend}: receiver down for {} s while {n} changes are made ({clients} callers)", outage.as_secs());
    receiver.down().await;
    let down_at = Instant::now();
    let before = receiver.count();
    let (secs, _) = server.changes("out", n, clients, None).await;
    println!("receiver down:             {:>8.0} changes/s", n as f64 / secs);
    tokio::time::sleep(outage.saturating_sub(down_at.elapsed())).await;
    receiver.up().await;
    let back = wall_ms();
    receiver.wait_for(before + n, 600).await;
    let got = receiver.got.lock().unwrap().clone();
    let times: Vec<f64> = got[before..].iter().map(|(at, _)| *at).collect();
    let (first, last) = (times.iter().copied().fold(f64::MAX, f64::min), times.iter().copied().fold(0.0, f64::max));
    println!(
        "receiver back:             first delivery {:.2} s later (the first event's next retry on the ladder)",
        (first - back) / 1000.0
    );
    println!(
        "                           {n} events drained in {:.2} s: {:>6.0} deliveries/s ({:.2} s after the receiver's return)",
        (last - first) / 1000.0,
        n as f64 / ((last - first) / 1000.0),
        (last - back) / 1000.0
    );
    receiver.down().await;
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let n: usize = env_or("BENCH_CHANGES", 10_000);
        let levels: String = env_or("BENCH_CLIENTS", "8,32".to_owned());
        let levels: Vec<usize> = levels.split(',').map(|l| l.trim().parse().expect("BENCH_CLIENTS: numbers")).collect();
        let outage = Duration::from_secs(env_or("BENCH_OUTAGE_S", 10));
        let pace: f64 = env_or("BENCH_RATE", 1000.0);
        let backends: String = env_or("BENCH_BACKENDS", "sqlite,postgres".to_owned());
        println!("Workspace webhook: release build of `orvanta up`, receiver in this process, all on this machine.");
        for backend in backends.split(',') {
            match backend {
                "sqlite" => bench("SQLite", None, n, &levels, pace, outage).await,
                "postgres" => {
                    let base = std::env::var("ORVANTA_TEST_PG_URL")
                        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
                    let name = format!("orvanta_bench_{}", uuid::Uuid::new_v4().simple());
                    let made = Command::new("psql")
                        .args([&format!("{base}/postgres"), "-qAtc", &format!("CREATE DATABASE {name}")])
                        .output();
                    if !made.is_ok_and(|o| o.status.success()) {
                        println!("\n== PostgreSQL: skipped (no server at {base})");
                        continue;
                    }
                    bench("PostgreSQL", Some(&format!("{base}/{name}")), n, &levels, pace, outage).await;
                    _ = Command::new("psql")
                        .args([&format!("{base}/postgres"), "-qAtc", &format!("DROP DATABASE {name} WITH (FORCE)")])
                        .output();
                }
                other => println!("unknown backend {other}: sqlite or postgres"),
            }
        }
    });
}
