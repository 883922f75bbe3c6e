//! Warm processes: reuse, isolation between versions, recycling, and the
//! cases where a process must be replaced. (Every other test of this binary
//! also runs in warm processes when `ORVANTA_TEST_WARM=1`.)

use crate::{error_of, Job, Recorder};
use orvanta_core::Language::{self, Bash, Bun, Deno, Python3};
use orvanta_exec::{KillReason, Outcome, WarmConfig, WarmPool};
use serde_json::{json, Value};
use std::time::Duration;

/// A script that counts its runs in module-level state, and says which job it runs.
fn counter(language: Language) -> &'static str {
    match language {
        Python3 => "import os\nRUNS = 0\ndef main():\n    global RUNS\n    RUNS += 1\n    return {'runs': RUNS, 'job': os.environ['ORVANTA_JOB_ID'], 'token': os.environ['ORVANTA_TOKEN']}\n",
        Deno => "let runs = 0;\nexport function main() {\n  runs += 1;\n  return { runs, job: Deno.env.get('ORVANTA_JOB_ID'), token: Deno.env.get('ORVANTA_TOKEN') };\n}\n",
        _ => "let runs = 0;\nexport function main() {\n  runs += 1;\n  return { runs, job: process.env.ORVANTA_JOB_ID, token: process.env.ORVANTA_TOKEN };\n}\n",
    }
}

async fn runs(pool: &WarmPool, key: &str, job: Job) -> i64 {
    let id = job.job_id.to_string();
    match job.run_warm(pool, key, &Recorder::default()).await {
        Outcome::Success(v) => {
            assert_eq!(v["job"], id, "each job sees its own id: {v}");
            assert_eq!(v["token"], "test-token");
            v["runs"].as_i64().unwrap()
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_warm_process_runs_many_jobs_of_its_version_keeping_module_state() {
    for language in [Python3, Deno, Bun] {
        let pool = WarmPool::new(WarmConfig::default());
        for expected in 1..=3 {
            assert_eq!(runs(&pool, "v1", Job::new(language, counter(language))).await, expected, "{language}");
        }
        let stats = pool.stats();
        assert_eq!((stats.started, stats.reused, stats.live, stats.idle), (1, 2, 1, 1), "{language}: {stats:?}");
    }
}

#[tokio::test]
async fn two_versions_never_share_a_process() {
    let pool = WarmPool::new(WarmConfig::default());
    // The same code under two keys (two versions, or two workspaces).
    assert_eq!(runs(&pool, "ws-a/v1", Job::new(Python3, counter(Python3))).await, 1);
    assert_eq!(runs(&pool, "ws-b/v1", Job::new(Python3, counter(Python3))).await, 1);
    assert_eq!(runs(&pool, "ws-a/v1", Job::new(Python3, counter(Python3))).await, 2);
    assert_eq!(pool.stats().live, 2);
}

#[tokio::test]
async fn a_process_that_crashes_is_replaced_and_the_next_job_succeeds() {
    let pool = WarmPool::new(WarmConfig::default());
    let code = "import os\nRUNS = 0\ndef main(crash: bool = False):\n    global RUNS\n    RUNS += 1\n    if crash:\n        os.abort()\n    return {'runs': RUNS, 'job': os.environ['ORVANTA_JOB_ID'], 'token': os.environ['ORVANTA_TOKEN']}\n";
    assert_eq!(runs(&pool, "k", Job::new(Python3, code)).await, 1);
    let outcome = Job::new(Python3, code).args(json!({"crash": true})).run_warm(&pool, "k", &Recorder::default()).await;
    let error = error_of(&outcome);
    assert_eq!(error["name"], "Signal", "{outcome:?}");
    assert_eq!(error["signal"], 6, "{outcome:?}");
    assert_eq!(runs(&pool, "k", Job::new(Python3, code)).await, 1, "a new process");
    // sys.exit ends the process with its code, as in a process of its own.
    let code_exit = "import sys\ndef main():\n    print('bye')\n    sys.exit(3)\n";
    let outcome = Job::new(Python3, code_exit).run_warm(&pool, "exit", &Recorder::default()).await;
    let error = error_of(&outcome);
    assert_eq!((error["name"].as_str(), error["exit_code"].as_i64()), (Some("ExitCode"), Some(3)), "{outcome:?}");
    assert_eq!(error["last_logs"], "bye");
    let code_exit = "export function main() { console.log('bye'); Deno.exit(4); }\n";
    let outcome = Job::new(Deno, code_exit).run_warm(&pool, "deno-exit", &Recorder::default()).await;
    assert_eq!(error_of(&outcome)["exit_code"], 4, "{outcome:?}");
}

#[tokio::test]
async fn an_exception_keeps_the_process_and_a_timeout_replaces_it() {
    let pool = WarmPool::new(WarmConfig::default());
    let code = "import os, time\nRUNS = 0\ndef main(fail: bool = False, sleep: float = 0):\n    global RUNS\n    RUNS += 1\n    if fail:\n        raise ValueError('no')\n    time.sleep(sleep)\n    return {'runs': RUNS, 'job': os.environ['ORVANTA_JOB_ID'], 'token': os.environ['ORVANTA_TOKEN']}\n";
    assert_eq!(runs(&pool, "k", Job::new(Python3, code)).await, 1);
    let outcome = Job::new(Python3, code).args(json!({"fail": true})).run_warm(&pool, "k", &Recorder::default()).await;
    let error = error_of(&outcome);
    assert_eq!((error["name"].as_str(), error["message"].as_str()), (Some("ValueError"), Some("no")));
    assert!(error["stack"].as_str().unwrap().contains("main.py"), "{outcome:?}");
    assert_eq!(runs(&pool, "k", Job::new(Python3, code)).await, 3, "the same process");
    let slow = Job::new(Python3, code).args(json!({"sleep": 30})).timeout(Duration::from_secs(1));
    let outcome = slow.run_warm(&pool, "k", &Recorder::default()).await;
    assert_eq!(outcome, Outcome::Killed(KillReason::Timeout(Duration::from_secs(1))));
    assert_eq!(runs(&pool, "k", Job::new(Python3, code)).await, 1, "a new process after the kill");
}

#[tokio::test]
async fn logs_belong_to_their_job_only() {
    let pool = WarmPool::new(WarmConfig::default());
    let code = r#"import threading, time
def late():
    time.sleep(0.3)
    print("LEAKED from the first job", flush=True)
def main(first: bool = False):
    print("mine", flush=True)
    if first:
        threading.Thread(target=late).start()
    return "ok"
"#;
    let first = Recorder::default();
    let outcome = Job::new(Python3, code).args(json!({"first": true})).run_warm(&pool, "k", &first).await;
    assert_eq!(outcome, Outcome::Success("ok".into()));
    assert_eq!(first.logs(), "mine\n");
    tokio::time::sleep(Duration::from_millis(600)).await;
    let second = Recorder::default();
    assert_eq!(Job::new(Python3, code).run_warm(&pool, "k", &second).await, Outcome::Success("ok".into()));
    assert_eq!(second.logs(), "mine\n", "another job's output is not this job's log");
    assert_eq!(pool.stats().reused, 1);
}

/// Waits until the worn process and its successor are both idle.
async fn successor_ready(pool: &WarmPool) {
    for _ in 0..600 {
        if pool.stats().idle == 2 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the successor never got ready: {:?}", pool.stats());
}

#[tokio::test]
async fn processes_are_recycled_after_n_jobs_when_idle_and_past_their_memory() {
    // A worn-out process starts its successor and serves on until it is
    // ready (here: waited for), then the successor takes over and the worn
    // one ends.
    let config = WarmConfig { jobs_per_process: 2, ..WarmConfig::default() };
    let pool = WarmPool::new(config);
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(runs(&pool, "k", Job::new(Python3, counter(Python3))).await);
        if seen.last() == Some(&2) {
            successor_ready(&pool).await;
        }
    }
    assert_eq!(seen, [1, 2, 1, 2, 1]);
    assert_eq!(pool.stats().live, 1, "each worn process ended once its successor served");
    // No room for a successor: the worn process ends after its job.
    let pool = WarmPool::new(WarmConfig { max_processes: 1, ..config });
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(runs(&pool, "k", Job::new(Python3, counter(Python3))).await);
    }
    assert_eq!(seen, [1, 2, 1]);
    // A script whose import reads a job's variables: a successor imports it
    // at its first job, with that job's variables, as any new process does.
    let needs_token = [
        (Python3, "import os\nTOKEN = os.environ['ORVANTA_TOKEN']\ndef main():\n    return len(TOKEN) > 0\n"),
        (
            Deno,
            "const token = Deno.env.get('ORVANTA_TOKEN')!;\nexport function main() {\n  return token.length > 0;\n}\n",
        ),
        (Bun, "const token = process.env.ORVANTA_TOKEN!;\nexport function main() {\n  return token.length > 0;\n}\n"),
    ];
    for (language, code) in needs_token {
        let pool = WarmPool::new(WarmConfig { jobs_per_process: 1, ..WarmConfig::default() });
        for round in 0..4 {
            let outcome = Job::new(language, code).run_warm(&pool, "t", &Recorder::default()).await;
            assert_eq!(outcome, Outcome::Success(json!(true)), "{language}, job {round}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    // The TypeScript wrapper's warm-up, on Deno and on Bun.
    for language in [Deno, Bun] {
        let pool = WarmPool::new(WarmConfig { jobs_per_process: 1, ..WarmConfig::default() });
        assert_eq!(runs(&pool, "k", Job::new(language, counter(language))).await, 1);
        successor_ready(&pool).await;
        assert_eq!(
            runs(&pool, "k", Job::new(language, counter(language))).await,
            1,
            "{language}: the successor ran it"
        );
        assert_eq!(pool.stats().started, 3, "{language}: the successor's successor is starting");
    }

    let pool = WarmPool::new(WarmConfig { idle: Duration::ZERO, ..WarmConfig::default() });
    assert_eq!(runs(&pool, "k", Job::new(Python3, counter(Python3))).await, 1);
    assert_eq!(pool.reap(), 1);
    assert_eq!(pool.stats().live, 0);
    assert_eq!(runs(&pool, "k", Job::new(Python3, counter(Python3))).await, 1);

    // A process whose memory grew past the limit is not kept (checked at
    // each job with a cgroup, every 16th without).
    let pool = WarmPool::new(WarmConfig { memory_bytes: 1, ..WarmConfig::default() });
    let hog = "import os\nKEEP = []\ndef main():\n    KEEP.append(bytearray(64 << 20))\n    return {'runs': len(KEEP), 'job': os.environ['ORVANTA_JOB_ID'], 'token': os.environ['ORVANTA_TOKEN']}\n";
    assert_eq!(runs(&pool, "k", Job::new(Python3, hog)).await, 1);
    if crate::runtimes().sandbox().report().limits != "rlimits" {
        assert_eq!(runs(&pool, "k", Job::new(Python3, hog)).await, 1, "replaced: over its memory");
    }
}

#[tokio::test]
async fn the_least_recently_used_process_makes_room_and_a_full_pool_runs_jobs_apart() {
    let pool = WarmPool::new(WarmConfig { max_processes: 1, ..WarmConfig::default() });
    assert_eq!(runs(&pool, "a", Job::new(Python3, counter(Python3))).await, 1);
    assert_eq!(runs(&pool, "b", Job::new(Python3, counter(Python3))).await, 1);
    assert_eq!(runs(&pool, "a", Job::new(Python3, counter(Python3))).await, 1, "a's process was evicted");
    assert_eq!(pool.stats().live, 1);
    // Two jobs at once in a pool of one: the second runs in a process of its own.
    let slow = "import os, time\ndef main():\n    time.sleep(0.5)\n    return {'runs': 1, 'job': os.environ['ORVANTA_JOB_ID'], 'token': os.environ['ORVANTA_TOKEN']}\n";
    let (one, two) = tokio::join!(runs(&pool, "s", Job::new(Python3, slow)), runs(&pool, "s", Job::new(Python3, slow)));
    assert_eq!((one, two), (1, 1));
    assert_eq!(pool.stats().overflowed, 1);
    assert_eq!(pool.stats().live, 1);
}

#[tokio::test]
async fn a_script_that_does_not_import_fails_each_job_like_a_process_of_its_own() {
    let pool = WarmPool::new(WarmConfig::default());
    for _ in 0..2 {
        let outcome =
            Job::new(Python3, "def main(:\n").without_params().run_warm(&pool, "broken", &Recorder::default()).await;
        assert_eq!(error_of(&outcome)["name"], "SyntaxError", "{outcome:?}");
    }
    let outcome = Job::new(Bun, "export const main = 1;\n")
        .without_params()
        .run_warm(&pool, "nomain", &Recorder::default())
        .await;
    assert_eq!(error_of(&outcome)["name"], "TypeError", "{outcome:?}");
    let value: Value = match Job::new(Deno, "export function main(x = 2) { return x * 21; }\n")
        .run_warm(&pool, "fine", &Recorder::default())
        .await
    {
        Outcome::Success(v) => v,
        other => panic!("{other:?}"),
    };
    assert_eq!(value, 42);
}

/// A spare's parent-death signal follows the thread that spawned it: one
/// spawned from a blocking thread was killed when that thread ended idle,
/// with whatever job it ran by then. Here the runtime's blocking threads
/// end 50 ms after their work; the spares must outlive them.
#[test]
fn spares_outlive_the_threads_that_prepared_them() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .thread_keep_alive(Duration::from_millis(50))
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let pool = WarmPool::new(WarmConfig::default());
        pool.fill_spares(crate::runtimes(), &crate::work_root()).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        for _ in 0..2 {
            let job = Job::new(Bash, "sleep 0.3\necho fine\n").timeout(Duration::from_secs(10));
            assert_eq!(job.run_spare(&pool, &Recorder::default()).await, Outcome::Success(json!("fine")));
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        if crate::runtimes().sandbox().report().limits != "rlimits" {
            assert_eq!(pool.stats().spares_used, 2, "{:?}", pool.stats());
        }
    });
}

#[tokio::test]
async fn jobs_of_their_own_start_in_spare_sandboxes_with_the_same_results() {
    let pool = WarmPool::new(WarmConfig::default());
    let tricky = "it's $HOME `x` \\ \"q\"\nline two";
    let code = "x=\"$1\"\necho \"$x\" >&2\nprintf '%s\\n' \"$(printf '%s' \"$x\" | base64 -w0)\"\n";
    for round in 0..3 {
        let recorder = Recorder::default();
        let outcome = Job::new(Bash, code)
            .args(json!({"x": tricky}))
            .timeout(Duration::from_secs(10))
            .run_spare(&pool, &recorder)
            .await;
        use base64::Engine;
        let expected = base64::engine::general_purpose::STANDARD.encode(tricky);
        assert_eq!(outcome, Outcome::Success(json!(expected)), "round {round}");
        // Bash's stdout and stderr are two pipes: their order is that of arrival.
        let logs = recorder.logs();
        assert!(
            logs.contains(&format!("{tricky}\n")) && logs.contains(&format!("{expected}\n")),
            "round {round}: {logs}"
        );
        assert_eq!(logs.len(), tricky.len() + expected.len() + 2, "round {round}: {logs}");
    }
    assert!(pool.stats().spares_used >= 2, "{:?}", pool.stats());
    // Python, stdout and stderr in order, in a spare.
    let code =
        "import sys\ndef main():\n    print('to stdout')\n    print('to stderr', file=sys.stderr)\n    return 7\n";
    for _ in 0..2 {
        let recorder = Recorder::default();
        assert_eq!(Job::new(Python3, code).run_spare(&pool, &recorder).await, Outcome::Success(json!(7)));
        assert_eq!(recorder.logs(), "to stdout\nto stderr\n");
    }
    // A script's own memory limit applies in a spare too.
    if crate::runtimes().sandbox().report().limits != "rlimits" {
        let hog = "def main():\n    keep = bytearray(192 << 20)\n    return len(keep)\n";
        let mut job = Job::new(Python3, hog);
        job.limits.resources.memory_bytes = Some(96 << 20);
        let outcome = job.run_spare(&pool, &Recorder::default()).await;
        assert_eq!(error_of(&outcome)["name"], "MemoryLimit", "{outcome:?}");
        let used = pool.stats().spares_used;
        // Its own file size limit needs a sandbox of its own.
        let mut job = Job::new(Bash, "echo fine\n");
        job.limits.resources.file_size_bytes = Some(2 << 20);
        assert_eq!(job.run_spare(&pool, &Recorder::default()).await, Outcome::Success(json!("fine")));
        assert_eq!(pool.stats().spares_used, used, "not a spare");
    }
}
