//! Flow benchmark: Windmill's published workflow-engine benchmark, run here.
//!
//! Two flows of Python `rawscript` steps (naive recursive Fibonacci): 40
//! sequential steps of fibo(10) (lightweight: the engine's cost shows) and
//! 10 sequential steps of fibo(33) (long: the work shows). Each run enqueues
//! the flow as a webhook would and lets one worker slot run it through the
//! real paths (claim, run, complete-and-advance in one commit); it prints the
//! total time, the sum of the steps' own run times (each step's job from
//! start to end, its Python process included), and the per-step overhead:
//! (total - sum of step times) / steps, the time the engine adds between
//! steps. In the same run, the floor: 40 `python3` spawns of fibo(10).
//!
//! Published for the 40-step flow on Windmill's hardware (AWS m4.large, one
//! worker): Windmill 4.38 s, Windmill dedicated workers 2.09 s, Temporal
//! 2.97 s, Hatchet 1.22 s.
//!
//! Run: `cargo bench -p orvanta-server --bench flows` (PostgreSQL at
//! `ORVANTA_TEST_PG_URL`; `BENCH_RUNS` runs per case, default 3).

use orvanta_core::{
    FlowLink, FlowVersion, JobId, JobKind, JobStatus, NewFlow, NewJob, RunnablePath, Trigger, Username, WorkspaceId,
};
use orvanta_exec::Runtimes;
use orvanta_server::auth::JobTokenKey;
use orvanta_server::cfg::{Config, Overrides};
use orvanta_server::worker::WorkerCtx;
use orvanta_store::{ConnectOptions, JobEvent, NewWorkspace, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

const FIBO: &str = "def fibo(n: int) -> int:\n    return n if n < 2 else fibo(n - 1) + fibo(n - 2)\n\ndef main(n: int):\n    return fibo(n)\n";

fn pg_base() -> String {
    std::env::var("ORVANTA_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

fn psql(sql: &str) -> bool {
    std::process::Command::new("psql")
        .args([&format!("{}/postgres", pg_base()), "-qAtc", sql])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A flow of `steps` sequential fibo(`n`) steps.
fn flow_value(steps: usize, n: u32) -> serde_json::Value {
    let modules: Vec<_> = (0..steps)
        .map(|i| {
            json!({"id": format!("s{i}"), "value": {"type": "rawscript", "language": "python3", "content": FIBO,
                "input_transforms": {"n": {"type": "static", "value": n}}}})
        })
        .collect();
    json!({ "modules": modules })
}

/// What one run measured.
struct Run {
    total: Duration,
    steps_sum: Duration,
    steps: usize,
}

async fn run_once(backend: &str, steps: usize, n: u32, runtimes: Arc<Runtimes>) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (url, pg_name) = match backend {
        "sqlite" => (format!("sqlite:{}", dir.path().join("bench.db").display()), None),
        _ => {
            let name = format!("orvanta_bench_{}", uuid::Uuid::new_v4().simple());
            assert!(psql(&format!("CREATE DATABASE {name}")), "cannot create the bench database");
            (format!("{}/{name}", pg_base()), Some(name))
        }
    };
    let store: Arc<dyn Store> = orvanta_store::connect(&url, &ConnectOptions::default()).await.expect("store");
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
    let path = RunnablePath::parse("u/admin/fibo").unwrap();
    let new = NewFlow {
        workspace: ws.clone(),
        path: path.clone(),
        summary: String::new(),
        description: String::new(),
        value: flow_value(steps, n),
        schema: json!({"type": "object"}),
        created_by: admin.clone(),
        created_at: 0,
    };
    let version: FlowVersion = store.insert_flow(&new, None).await.unwrap();
    let mut cfg = Config::load_from(&Overrides::default(), &[]).unwrap();
    cfg.storage.data_dir = dir.path().to_path_buf();
    cfg.worker.slots = 1;
    let ctx = Arc::new(WorkerCtx::new(store.clone(), Arc::new(cfg), runtimes, Arc::new(JobTokenKey::generate())));
    // Warm: the Python bytecode cache of the wrapper, as on a running instance.
    let shutdown = CancellationToken::new();
    let worker = tokio::spawn(orvanta_server::worker::run(ctx.clone(), "bench".into(), shutdown.clone()));

    let id = JobId::new();
    let now = orvanta_core::now_millis();
    let job = NewJob {
        id,
        workspace: ws.clone(),
        kind: JobKind::Flow,
        path: Some(path),
        script_hash: None,
        language: None,
        args: json!({}).into(),
        created_by: admin.clone(),
        permissioned_as: admin,
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
        flow: Some(FlowLink { version, node: String::new(), step_id: None, index: None, root: id }),
    };
    let mut events = store.subscribe();
    let started = Instant::now();
    store.enqueue(&[job]).await.unwrap();
    loop {
        let done = store.get_job(&ws, id).await.unwrap().is_some_and(|j| j.status.is_final());
        if done {
            break;
        }
        // Read again at the run's own end (or every 200 ms): a read at each
        // of its steps' events (about four a step) would compete with the
        // worker being measured.
        let recheck = tokio::time::Instant::now() + Duration::from_millis(200);
        loop {
            match tokio::time::timeout_at(recheck, events.recv()).await {
                Ok(Ok(JobEvent::Completed(j))) if j == id => break,
                Ok(Ok(_)) => {}
                _ => break,
            }
        }
    }
    let total = started.elapsed();
    let flow = store.get_job(&ws, id).await.unwrap().unwrap();
    assert_eq!(flow.status, JobStatus::Success, "the bench flow failed: {:?}", flow.result);
    let mut steps_sum = Duration::ZERO;
    let children = store.flow_children(id, None).await.unwrap();
    for c in &children {
        let j = store.job_by_id(c.id).await.unwrap().unwrap();
        if let (Some(s), Some(e)) = (j.started_at, j.completed_at) {
            steps_sum += Duration::from_millis((e - s).max(0) as u64);
        }
    }
    shutdown.cancel();
    let _ = worker.await;
    drop((ctx, store));
    if let Some(name) = pg_name {
        psql(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
    }
    Run { total, steps_sum, steps: children.len() }
}

fn median(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = if v.len() % 2 == 1 { v[v.len() / 2] } else { (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0 };
    (mid, v[0], v[v.len() - 1])
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(3).max(1);
        let support = tempfile::tempdir().unwrap();
        let runtimes = Arc::new(Runtimes::discover(support.path(), &Default::default(), Default::default()).expect("runtimes"));
        let python = runtimes.get(orvanta_core::Language::Python3).expect("python3").program.clone();
        let script = support.path().join("fibo.py");
        std::fs::write(&script, format!("{FIBO}\nmain(10)\n")).unwrap();
        let floor = || {
            let t = Instant::now();
            for _ in 0..40 {
                assert!(std::process::Command::new(&python).arg(&script).status().unwrap().success());
            }
            t.elapsed()
        };
        println!("{runs} runs per case, median [lowest-highest]; one worker slot; the floor is 40 python3 spawns of fibo(10)");
        println!(
            "{:<9} {:<18} {:>22} {:>22} {:>26}",
            "backend", "flow", "total s", "steps' own time s", "overhead per step ms"
        );
        for backend in ["sqlite", "postgres"] {
            for (steps, n) in [(40usize, 10u32), (10, 33)] {
                let (mut totals, mut owns, mut overheads) = (vec![], vec![], vec![]);
                for _ in 0..runs {
                    let r = run_once(backend, steps, n, runtimes.clone()).await;
                    assert_eq!(r.steps, steps);
                    totals.push(r.total.as_secs_f64());
                    owns.push(r.steps_sum.as_secs_f64());
                    overheads.push((r.total.as_secs_f64() - r.steps_sum.as_secs_f64()) * 1000.0 / steps as f64);
                }
                let ((t, tl, th), (o, ol, oh), (p, pl, ph)) = (median(totals), median(owns), median(overheads));
                println!(
                    "{:<9} {:<18} {:>22} {:>22} {:>26}",
                    backend,
                    format!("{steps} x fibo({n})"),
                    format!("{t:.3} [{tl:.3}-{th:.3}]"),
                    format!("{o:.3} [{ol:.3}-{oh:.3}]"),
                    format!("{p:.2} [{pl:.2}-{ph:.2}]"),
                );
            }
        }
        let f = floor();
        println!("\nfloor: 40 python3 spawns of fibo(10): {:.3} s ({:.1} ms each)", f.as_secs_f64(), f.as_secs_f64() * 25.0);
    });
}
