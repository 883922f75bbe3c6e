//! Queue benchmark: jobs per second through enqueue → claim → run → complete,
//! all four timed together through the real paths (the group-commit batcher
//! the HTTP routes use, the worker's own step), for a no-op Bash script and a
//! Python `return x + 1`, with 1 and 2 worker slots, on SQLite and PostgreSQL
//! — next to the cost of spawning the bare interpreters (`python3 -c pass`,
//! `bash -c :`) measured around each run. Several runs per case; the median
//! and the spread are printed. PostgreSQL databases are dropped after use.
//!
//! Run: `cargo bench -p orvanta-server --bench queue` (PostgreSQL at
//! `ORVANTA_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432`;
//! `BENCH_JOBS` jobs per run, default 400; `BENCH_RUNS` runs per case, default 3).

use orvanta_core::{
    JobId, JobKind, Language, NewJob, NewScript, RunnablePath, ScriptHash, ScriptSettings, Trigger, Username,
    WorkspaceId,
};
use orvanta_exec::Runtimes;
use orvanta_server::auth::JobTokenKey;
use orvanta_server::cfg::{Config, Overrides};
use orvanta_server::enqueue::Enqueuer;
use orvanta_server::worker::{try_execute_step, StepOutcome, WorkerCtx};
use orvanta_store::{ConnectOptions, NewWorkspace, Store};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn floor(program: &std::path::Path, args: &[&str], n: usize) -> Duration {
    let start = Instant::now();
    for _ in 0..n {
        let ok = std::process::Command::new(program).args(args).status().map(|s| s.success()).unwrap_or(false);
        assert!(ok, "{} failed", program.display());
    }
    start.elapsed() / n as u32
}

struct Case {
    backend: &'static str,
    language: Language,
    code: &'static str,
    args: serde_json::Value,
    workers: usize,
}

/// A fresh store; for PostgreSQL also the database's name, to drop it after.
async fn store_for(backend: &str, dir: &std::path::Path) -> (Arc<dyn Store>, Option<String>) {
    let (url, name) = match backend {
        "sqlite" => (format!("sqlite:{}", dir.join("bench.db").display()), None),
        _ => {
            let base = pg_base();
            let name = format!("orvanta_bench_{}", uuid::Uuid::new_v4().simple());
            let out = std::process::Command::new("psql")
                .args([&format!("{base}/postgres"), "-qAtc", &format!("CREATE DATABASE {name}")])
                .output()
                .expect("psql");
            assert!(out.status.success(), "cannot create the bench database: {}", String::from_utf8_lossy(&out.stderr));
            (format!("{base}/{name}"), Some(name))
        }
    };
    (orvanta_store::connect(&url, &ConnectOptions::default()).await.expect("store"), name)
}

/// One measured run: `jobs` jobs enqueued through the batcher the HTTP routes
/// use (group commit, many callers at once) while the worker slots claim,
/// run and complete them; timed from the first enqueue to the last completion.
async fn run_case(case: &Case, runtimes: Arc<Runtimes>, jobs: usize) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (store, pg_name) = store_for(case.backend, dir.path()).await;
    let ws = WorkspaceId::parse("bench").unwrap();
    let admin = Username::parse("admin").unwrap();
    store
        .create_workspace(&NewWorkspace {
            id: ws.clone(),
            name: "bench".into(),
            created_by: admin.clone(),
            created_at: 0,
        })
        .await
        .unwrap();
    let path = RunnablePath::parse("u/admin/bench").unwrap();
    let hash = ScriptHash::from_u64(rand::random());
    let sig = orvanta_exec::parse_main(case.language, case.code).unwrap();
    store
        .insert_script(&NewScript {
            workspace: ws.clone(),
            path: path.clone(),
            hash,
            parent_hash: None,
            language: case.language,
            content: case.code.into(),
            summary: String::new(),
            description: String::new(),
            schema: sig.to_json_schema(),
            settings: ScriptSettings::default(),
            created_by: admin.clone(),
            created_at: 0,
        })
        .await
        .unwrap();
    let mut cfg = Config::load_from(&Overrides::default(), &[]).unwrap();
    cfg.storage.data_dir = dir.path().to_path_buf();
    cfg.worker.slots = case.workers;
    let ctx = Arc::new(WorkerCtx::new(store.clone(), Arc::new(cfg), runtimes, Arc::new(JobTokenKey::generate())));
    let enqueuer = Arc::new(Enqueuer::start(store.clone()));
    let done = Arc::new(AtomicUsize::new(0));

    let start = Instant::now();
    let mut slots = Vec::new();
    for slot in 0..case.workers {
        let (ctx, done) = (ctx.clone(), done.clone());
        slots.push(tokio::spawn(async move {
            let name = format!("bench/{slot}");
            let mut events = ctx.store.subscribe();
            while done.load(Ordering::Relaxed) < jobs {
                match try_execute_step(&ctx, &name).await.unwrap() {
                    StepOutcome::Idle => {
                        let _ = tokio::time::timeout(Duration::from_millis(20), events.recv()).await;
                    }
                    StepOutcome::Ran(_, status) => {
                        assert_eq!(status, orvanta_core::JobStatus::Success);
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    StepOutcome::Lost(id) => panic!("lost {id}"),
                    StepOutcome::FlowStarted(id) => panic!("the queue bench runs no flows, yet {id} is one"),
                }
            }
        }));
    }
    // 32 callers at once, as concurrent webhook requests would be.
    let callers: Vec<_> = (0..32)
        .map(|c| {
            let (enqueuer, ws, admin, path, args) =
                (enqueuer.clone(), ws.clone(), admin.clone(), path.clone(), case.args.clone());
            let language = case.language;
            tokio::spawn(async move {
                let mut spent = Duration::ZERO;
                for _ in (c..jobs).step_by(32) {
                    let now = orvanta_core::now_millis();
                    let job = NewJob {
                        id: JobId::new(),
                        workspace: ws.clone(),
                        kind: JobKind::Script,
                        path: Some(path.clone()),
                        script_hash: Some(hash),
                        language: Some(language),
                        args: args.clone().into(),
                        created_by: admin.clone(),
                        permissioned_as: admin.clone(),
                        tag: "default".into(),
                        trigger: Trigger::parse("webhook").unwrap(),
                        scheduled_for: now,
                        parent_job: None,
                        timeout_s: None,
                        idempotency_key: None,
                        created_at: now,
                        token_prefix: None,
                        scopes: None,
                        concurrency: None,
                        flow: None,
                    };
                    let t = Instant::now();
                    enqueuer.enqueue(job).await.unwrap();
                    spent += t.elapsed();
                }
                spent
            })
        })
        .collect();
    let mut accept_total = Duration::ZERO;
    for c in callers {
        accept_total += c.await.unwrap();
    }
    for s in slots {
        s.await.unwrap();
    }
    let wall = start.elapsed();
    drop((ctx, enqueuer, store));
    if let Some(name) = pg_name {
        drop_pg_database(&name);
    }
    Run {
        jobs_per_s: jobs as f64 / wall.as_secs_f64(),
        per_job: wall / jobs as u32,
        accept: accept_total / jobs as u32,
    }
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
struct Run {
    jobs_per_s: f64,
    /// Wall time per job, enqueue to completion.
    per_job: Duration,
    /// Mean time an enqueue waited for its commit.
    accept: Duration,
}

fn pg_base() -> String {
    std::env::var("ORVANTA_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn drop_pg_database(name: &str) {
    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    let out = std::process::Command::new("psql").args([&format!("{}/postgres", pg_base()), "-qAtc", &sql]).output();
    if !out.map(|o| o.status.success()).unwrap_or(false) {
        eprintln!("warning: the bench database {name} could not be dropped");
    }
}

/// The median and the spread (lowest, highest) of some figures.
fn median_spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = if v.len() % 2 == 1 { v[v.len() / 2] } else { (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0 };
    (mid, v[0], v[v.len() - 1])
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let jobs: usize = std::env::var("BENCH_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
        let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
        let support = tempfile::tempdir().unwrap();
        let runtimes =
            Arc::new(Runtimes::discover(support.path(), &Default::default(), Default::default()).expect("runtimes"));
        let python = runtimes.get(Language::Python3).expect("python3").program.clone();
        let bash = runtimes.get(Language::Bash).expect("bash").program.clone();
        println!(
            "{jobs} jobs per run, {runs} runs per case: median [lowest-highest]. Each run times enqueue (32 callers"
        );
        println!("through the group-commit batcher) -> claim -> run -> complete, first enqueue to last completion.");
        println!("The spawn floor (python3 -c pass, bash -c :) is measured around each run, in the same invocation.\n");
        println!(
            "{:<9} {:<8} {:>7} {:>24} {:>22} {:>9} {:>14} {:>11}",
            "backend", "script", "workers", "jobs/s", "ms/job wall", "floor ms", "overhead ms*", "accept ms"
        );
        for backend in ["sqlite", "postgres"] {
            for (language, code, args) in [
                (Language::Bash, ":\n", json!({})),
                (Language::Python3, "def main(x: int):\n    return x + 1\n", json!({"x": 1})),
            ] {
                for workers in [1, 2] {
                    let measure_floor = || match language {
                        Language::Bash => floor(&bash, &["-c", ":"], 200),
                        _ => floor(&python, &["-c", "pass"], 40),
                    };
                    let case = Case { backend, language, code, args: args.clone(), workers };
                    let (mut rates, mut walls, mut floors, mut accepts) = (vec![], vec![], vec![], vec![]);
                    for _ in 0..runs {
                        let before = measure_floor();
                        let run = run_case(&case, runtimes.clone(), jobs).await;
                        floors.push(ms((before + measure_floor()) / 2));
                        rates.push(run.jobs_per_s);
                        walls.push(ms(run.per_job));
                        accepts.push(ms(run.accept));
                    }
                    let (rate, rate_lo, rate_hi) = median_spread(rates);
                    let (wall, wall_lo, wall_hi) = median_spread(walls);
                    let (fl, _, _) = median_spread(floors);
                    let (accept, _, _) = median_spread(accepts);
                    let overhead = if workers == 1 { format!("{:.2}", wall - fl) } else { "-".into() };
                    println!(
                        "{:<9} {:<8} {:>7} {:>24} {:>22} {:>9.2} {:>14} {:>11.3}",
                        backend,
                        language.as_str(),
                        workers,
                        format!("{rate:.1} [{rate_lo:.1}-{rate_hi:.1}]"),
                        format!("{wall:.2} [{wall_lo:.2}-{wall_hi:.2}]"),
                        fl,
                        overhead,
                        accept
                    );
                }
            }
        }
        println!(
            "\n* overhead = median wall time per job with 1 worker minus the median spawn floor of the interpreter"
        );
    });
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
