//! Runs real jobs through `orvanta_exec::run` with the real interpreters
//! (python3, deno, bun, bash): no mocks where the real part runs here. A
//! missing interpreter fails the tests loudly instead of skipping them.

mod bash;
mod env;
mod limits;
mod python;
mod sandbox;
mod typescript;
mod warm;

use orvanta_core::{JobId, Language};
use orvanta_exec::{
    parse_main, JobRequest, Limits, MainSignature, Outcome, RunObserver, Runtimes, Warm, WarmConfig, WarmPool,
};
use serde_json::{Map, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Whether jobs run in warm processes (`ORVANTA_TEST_WARM=1`).
pub fn warm_mode() -> bool {
    std::env::var_os("ORVANTA_TEST_WARM").is_some_and(|v| v == "1")
}

/// Set in this process before anything is spawned; no job may see it.
pub const LEAK_MARKER: &str = "ORVANTA_EXEC_TEST_SERVER_SECRET";

pub fn scratch() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("orvanta-exec-it")
}

pub fn work_root() -> PathBuf {
    scratch().join("work")
}

/// The runtimes, discovered once for the whole binary.
pub fn runtimes() -> &'static Runtimes {
    static RUNTIMES: OnceLock<Runtimes> = OnceLock::new();
    RUNTIMES.get_or_init(|| {
        // Before the first spawn, while the other tests wait on this lock.
        std::env::set_var(LEAK_MARKER, "must-not-leak");
        let runtimes = Runtimes::discover(&scratch().join("support"), &HashMap::new(), Default::default())
            .expect("installing the support files");
        let missing = runtimes.missing();
        assert!(
            missing.is_empty(),
            "these tests run real interpreters, and {missing:?} could not be found on PATH \
             (found: {}); install them",
            runtimes.to_json()
        );
        runtimes
    })
}

/// Called with each chunk as it arrives, while the job runs.
pub type Hook = Box<dyn Fn(&str) + Send + Sync>;

/// Records what a job produced, with when it arrived, and lets a test react
/// to a chunk while the job is still running.
#[derive(Default)]
pub struct Recorder {
    pub logs: Mutex<Vec<(Instant, String)>>,
    pub streams: Mutex<Vec<(Instant, String)>>,
    pub on_log: Option<Hook>,
    pub on_stream: Option<Hook>,
}

impl Recorder {
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().iter().map(|(_, c)| c.as_str()).collect()
    }

    pub fn streams(&self) -> Vec<String> {
        self.streams.lock().unwrap().iter().map(|(_, c)| c.clone()).collect()
    }
}

#[async_trait::async_trait]
impl RunObserver for Recorder {
    async fn on_logs(&self, chunk: &str) {
        self.logs.lock().unwrap().push((Instant::now(), chunk.to_owned()));
        if let Some(hook) = &self.on_log {
            hook(chunk);
        }
    }

    async fn on_stream(&self, chunk: &str) {
        self.streams.lock().unwrap().push((Instant::now(), chunk.to_owned()));
        if let Some(hook) = &self.on_stream {
            hook(chunk);
        }
    }
}

/// One job to run, with the defaults tests want.
pub struct Job {
    pub language: Language,
    pub code: String,
    pub args: Value,
    pub limits: Limits,
    pub job_id: JobId,
    pub cancel: CancellationToken,
    /// Parsed from the code unless given.
    pub signature: Option<MainSignature>,
}

impl Job {
    pub fn new(language: Language, code: &str) -> Self {
        Self {
            language,
            code: code.to_owned(),
            args: Value::Object(Map::new()),
            limits: Limits { kill_grace: Duration::from_millis(500), ..Limits::new(Duration::from_secs(60)) },
            job_id: JobId::new(),
            cancel: CancellationToken::new(),
            signature: None,
        }
    }

    /// For code whose signature the parser does not read (on purpose).
    pub fn without_params(mut self) -> Self {
        self.signature = Some(MainSignature { params: Vec::new(), accepts_extra: false, is_async: false });
        self
    }

    pub fn args(mut self, args: Value) -> Self {
        self.args = args;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.limits.timeout = timeout;
        self
    }

    pub async fn run(&self, observer: &Recorder) -> Outcome {
        self.run_with(runtimes(), observer).await
    }

    /// Runs the job: in a process of its own, or, with `ORVANTA_TEST_WARM=1`
    /// (`.ci/test` runs these tests both ways), in a warm process of a pool of its own.
    pub async fn run_with(&self, runtimes: &Runtimes, observer: &Recorder) -> Outcome {
        if warm_mode() {
            let pool = WarmPool::new(WarmConfig::default());
            return self.run_in(runtimes, Some(Warm { pool: &pool, key: Some("test") }), observer).await;
        }
        self.run_in(runtimes, None, observer).await
    }

    /// Runs the job in a warm process of `pool` under `key`.
    pub async fn run_warm(&self, pool: &WarmPool, key: &str, observer: &Recorder) -> Outcome {
        self.run_in(runtimes(), Some(Warm { pool, key: Some(key) }), observer).await
    }

    /// Runs the job in a process of its own, in a spare sandbox of `pool` if it has one.
    pub async fn run_spare(&self, pool: &WarmPool, observer: &Recorder) -> Outcome {
        self.run_in(runtimes(), Some(Warm { pool, key: None }), observer).await
    }

    async fn run_in(&self, runtimes: &Runtimes, warm: Option<Warm<'_>>, observer: &Recorder) -> Outcome {
        let signature = match &self.signature {
            Some(signature) => signature.clone(),
            None => parse_main(self.language, &self.code).expect("the test script's main parses"),
        };
        let Value::Object(args) = &self.args else { panic!("test arguments must be an object") };
        let work_root = work_root();
        let req = JobRequest {
            job_id: self.job_id,
            workspace: "test-ws",
            language: self.language,
            code: &self.code,
            signature: &signature,
            args,
            base_url: "http://127.0.0.1:9",
            token: "test-token",
            limits: self.limits,
            work_root: &work_root,
            warm,
        };
        orvanta_exec::run::run(runtimes, req, observer, self.cancel.clone()).await
    }
}

/// Runs `code` with `args` and returns the outcome and what was observed.
pub async fn run(language: Language, code: &str, args: Value) -> (Outcome, Recorder) {
    let recorder = Recorder::default();
    let outcome = Job::new(language, code).args(args).run(&recorder).await;
    (outcome, recorder)
}

/// The `error` object of a failure, or a panic naming what came instead.
pub fn error_of(outcome: &Outcome) -> &Map<String, Value> {
    match outcome {
        Outcome::Failure(Value::Object(failure)) => failure
            .get("error")
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("a failure without an error object: {failure:?}")),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// Makes `<dir>/go` in a job folder: scripts wait for it to prove that what
/// they printed or yielded before reached the observer while they were
/// still running. (The job folder is read-only to the job, but what the
/// worker writes there, the job sees.)
pub fn release(dir: &str) {
    std::fs::write(PathBuf::from(dir.trim()).join("go"), b"").expect("writing the go file");
}

#[test]
fn the_run_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let signature = parse_main(Language::Bash, "").unwrap();
    let args = Map::new();
    let recorder = Recorder::default();
    let work_root = work_root();
    let req = JobRequest {
        job_id: JobId::new(),
        workspace: "w",
        language: Language::Bash,
        code: "",
        signature: &signature,
        args: &args,
        base_url: "",
        token: "",
        limits: Limits::new(Duration::from_secs(1)),
        work_root: &work_root,
        warm: None,
    };
    let future = orvanta_exec::run::run(runtimes(), req, &recorder, CancellationToken::new());
    assert_send(&future);
}
