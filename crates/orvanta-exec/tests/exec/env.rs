//! The job's environment, and the runtimes as discovered.

use crate::{error_of, runtimes, scratch, Job, Recorder, LEAK_MARKER};
use orvanta_core::Language::{self, Python3};
use orvanta_exec::{Outcome, Runtimes};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;

#[tokio::test]
async fn the_environment_is_scrubbed() {
    let code = "import os\ndef main():\n    return dict(os.environ)\n";
    let job = Job::new(Python3, code);
    let outcome = job.run(&Recorder::default()).await;
    let Outcome::Success(Value::Object(env)) = outcome else { panic!("{outcome:?}") };
    assert!(std::env::var_os(LEAK_MARKER).is_some(), "the marker is set here");
    assert!(!env.contains_key(LEAK_MARKER), "the server's environment leaked: {env:?}");
    assert_eq!(env["ORVANTA_JOB_ID"], job.job_id.to_string());
    assert_eq!(env["ORVANTA_WORKSPACE"], "test-ws");
    assert_eq!(env["ORVANTA_TOKEN"], "test-token");
    assert_eq!(env["ORVANTA_BASE_URL"], "http://127.0.0.1:9");
    assert_eq!(env["LANG"], "C.UTF-8");
    let allowed = [
        "ORVANTA_BASE_URL",
        "ORVANTA_WORKSPACE",
        "ORVANTA_JOB_ID",
        "ORVANTA_TOKEN",
        "PATH",
        "HOME",
        // Set by bubblewrap to the job folder, where it starts.
        "PWD",
        "TMPDIR",
        "LANG",
        "NO_COLOR",
        "PYTHONPATH",
        "PYTHONUNBUFFERED",
        "DENO_DIR",
        "DENO_NO_UPDATE_CHECK",
        "BUN_RUNTIME_TRANSPILER_CACHE_PATH",
        "DO_NOT_TRACK",
    ];
    for key in env.keys() {
        assert!(allowed.contains(&key.as_str()), "unexpected variable {key} in the job");
    }
    let path = env["PATH"].as_str().unwrap();
    assert!(path.ends_with("/usr/local/bin:/usr/bin:/bin"), "{path}");
}

#[tokio::test]
async fn interpreters_are_resolved_to_real_executables() {
    let report = runtimes().to_json();
    for language in Language::ALL {
        let entry = &report[language.as_str()];
        let path = PathBuf::from(entry["path"].as_str().unwrap());
        assert!(path.is_absolute(), "{language}: {entry}");
        assert!(!entry["version"].as_str().unwrap().is_empty(), "{language}: {entry}");
        // A shim is a script: the real interpreter is a binary.
        let head = std::fs::read(&path).unwrap();
        assert!(head.starts_with(b"\x7fELF"), "{language}: {} is not an executable", path.display());
    }
    assert!(report["python3"]["version"].as_str().unwrap().starts_with("Python 3"));
}

#[tokio::test]
async fn a_missing_runtime_fails_the_job_clearly() {
    let overrides = HashMap::from([(Python3, PathBuf::from("/nonexistent/python3"))]);
    let runtimes = Runtimes::discover(&scratch().join("support"), &overrides, Default::default()).unwrap();
    assert_eq!(runtimes.missing(), [Python3]);
    assert_eq!(runtimes.to_json()["python3"], json!(null));
    let outcome = Job::new(Python3, "def main():\n    return 1\n").run_with(&runtimes, &Recorder::default()).await;
    let error = error_of(&outcome);
    assert_eq!(error["name"], "RuntimeNotInstalled");
    assert!(error["message"].as_str().unwrap().contains("python3"));
}
