//! Queue benchmark: jobs per second through enqueue → claim → run → complete,
//! for a no-op Bash script and a Python `return x + 1`, with 1 and 2 worker
//! slots, on SQLite and PostgreSQL — next to the cost of spawning the bare
//! interpreters (`python3 -c pass`, `bash -c :`) measured in the same run.
//!
//! Run: `cargo bench -p orvanta-server --bench queue` (PostgreSQL at
//! `ORVANTA_TEST_PG_URL`, default `postgres://postgres@127.0.0.1:5432`;
//! `BENCH_JOBS` jobs per case, default 400).

use orvanta_core::{
    JobId, JobKind, Language, NewJob, NewScript, RunnablePath, ScriptHash, ScriptSettings, Trigger, Username,
    WorkspaceId,
};
use orvanta_exec::Runtimes;
use orvanta_server::auth::JobTokenKey;
use orvanta_server::cfg::{Config, Overrides};
use orvanta_server::worker::{try_execute_step, StepOutcome, WorkerCtx};
use orvanta_store::{ConnectOptions, NewWorkspace, Store};
use serde_json::json;
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

async fn store_for(backend: &str, dir: &std::path::Path) -> Arc<dyn Store> {
    let url = match backend {
        "sqlite" => format!("sqlite:{}", dir.join("bench.db").display()),
        _ => {
            let base =
                std::env::var("ORVANTA_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
            let name = format!("orvanta_bench_{}", uuid::Uuid::new_v4().simple());
            let out = std::process::Command::new("psql")
                .args([&format!("{base}/postgres"), "-qAtc", &format!("CREATE DATABASE {name}")])
                .output()
                .expect("psql");
            assert!(out.status.success(), "cannot create the bench database: {}", String::from_utf8_lossy(&out.stderr));
            format!("{base}/{name}")
        }
    };
    orvanta_store::connect(&url, &ConnectOptions::default()).await.expect("store")
}

async fn run_case(case: &Case, runtimes: Arc<Runtimes>, jobs: usize) -> (f64, Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let store = store_for(case.backend, dir.path()).await;
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
    cfg.data_dir = dir.path().to_path_buf();
    cfg.workers = case.workers;
    let ctx = Arc::new(WorkerCtx::new(store.clone(), Arc::new(cfg), runtimes, Arc::new(JobTokenKey::generate())));
    let enqueue_start = Instant::now();
    for _ in 0..jobs {
        let now = orvanta_core::now_millis();
        let job = NewJob {
            id: JobId::new(),
            workspace: ws.clone(),
            kind: JobKind::Script,
            path: Some(path.clone()),
            script_hash: Some(hash),
            language: Some(case.language),
            args: case.args.clone(),
            created_by: admin.clone(),
            permissioned_as: admin.clone(),
            tag: "default".into(),
            trigger: Trigger::parse("api").unwrap(),
            scheduled_for: now,
            parent_job: None,
            timeout_s: None,
            idempotency_key: None,
            created_at: now,
            token_prefix: None,
        };
        store.enqueue(&[job]).await.unwrap();
    }
    let enqueue = enqueue_start.elapsed() / jobs as u32;
    let start = Instant::now();
    let mut slots = Vec::new();
    for slot in 0..case.workers {
        let ctx = ctx.clone();
        slots.push(tokio::spawn(async move {
            let name = format!("bench/{slot}");
            loop {
                match try_execute_step(&ctx, &name).await.unwrap() {
                    StepOutcome::Idle => break,
                    StepOutcome::Ran(_, status) => assert_eq!(status, orvanta_core::JobStatus::Success),
                    StepOutcome::Lost(id) => panic!("lost {id}"),
                }
            }
        }));
    }
    for s in slots {
        s.await.unwrap();
    }
    let wall = start.elapsed();
    (jobs as f64 / wall.as_secs_f64(), wall / jobs as u32, enqueue)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let jobs: usize = std::env::var("BENCH_JOBS").ok().and_then(|v| v.parse().ok()).unwrap_or(400);
        let support = tempfile::tempdir().unwrap();
        let runtimes = Arc::new(Runtimes::discover(support.path(), &Default::default()).expect("runtimes"));
        let python = runtimes.get(Language::Python3).expect("python3").program.clone();
        let bash = runtimes.get(Language::Bash).expect("bash").program.clone();
        println!("{jobs} jobs per case; the spawn floor (python3 -c pass, bash -c :) is measured before and after each case\n");
        println!(
            "{:<9} {:<8} {:>7} {:>9} {:>12} {:>9} {:>14} {:>12}",
            "backend", "script", "workers", "jobs/s", "ms/job wall", "floor ms", "overhead ms*", "enqueue ms"
        );
        for backend in ["sqlite", "postgres"] {
            for (language, code, args) in [
                (Language::Bash, ":\n", json!({})),
                (Language::Python3, "def main(x: int):\n    return x + 1\n", json!({"x": 1})),
            ] {
                for workers in [1, 2] {
                    // The floor of this interpreter under the machine's conditions of
                    // the moment: the mean of a measure before and one after the case.
                    let measure_floor = || match language {
                        Language::Bash => floor(&bash, &["-c", ":"], 200),
                        _ => floor(&python, &["-c", "pass"], 40),
                    };
                    let before = measure_floor();
                    let case = Case { backend, language, code, args: args.clone(), workers };
                    let (rate, per_job, enqueue) = run_case(&case, runtimes.clone(), jobs).await;
                    let fl = (before + measure_floor()) / 2;
                    let overhead = if workers == 1 { format!("{:.2}", ms(per_job) - ms(fl)) } else { "-".into() };
                    println!(
                        "{:<9} {:<8} {:>7} {:>9.1} {:>12.2} {:>9.2} {:>14} {:>12.3}",
                        backend,
                        language.as_str(),
                        workers,
                        rate,
                        ms(per_job),
                        ms(fl),
                        overhead,
                        ms(enqueue)
                    );
                }
            }
        }
        println!("\n* overhead = wall time per job with 1 worker minus the spawn floor of the interpreter");
    });
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
