//! Python jobs: results, logs, errors, arguments, generators.

use crate::{error_of, release, run, Job, Recorder};
use orvanta_core::Language::Python3;
use orvanta_exec::Outcome;
use serde_json::json;
use tokio::time::Instant;

#[tokio::test]
async fn returns_the_value_of_main() {
    let (outcome, _) = run(Python3, "def main(x: int):\n    return x + 1\n", json!({"x": 41})).await;
    assert_eq!(outcome, Outcome::Success(json!(42)));
}

#[tokio::test]
async fn async_main_and_values_json_cannot_hold() {
    let code = r#"
import datetime
async def main():
    return {"bytes": b"hi", "when": datetime.date(2024, 1, 2), "set": {1}, "none": None}
"#;
    let (outcome, _) = run(Python3, code, json!({})).await;
    assert_eq!(outcome, Outcome::Success(json!({"bytes": "aGk=", "when": "2024-01-02", "set": [1], "none": null})));
}

#[tokio::test]
async fn no_return_is_null_and_prints_are_logs() {
    let code = "import sys\ndef main():\n    print('to stdout')\n    print('to stderr', file=sys.stderr)\n";
    let (outcome, recorder) = run(Python3, code, json!({})).await;
    assert_eq!(outcome, Outcome::Success(json!(null)));
    assert_eq!(recorder.logs(), "to stdout\nto stderr\n");
}

#[tokio::test]
async fn logs_arrive_while_the_job_runs() {
    // The job prints its job folder (the wrapper's second argument), then
    // waits for a file there that only the observer creates on seeing that
    // line: it can only finish if logs are delivered while it runs.
    let code = r#"
import os, sys, time
def main():
    print(sys.argv[2])
    while not os.path.exists(os.path.join(sys.argv[2], "go")):
        time.sleep(0.01)
    print("after")
    return "done"
"#;
    let recorder = Recorder {
        on_log: Some(Box::new(|chunk| {
            if chunk.starts_with('/') {
                release(chunk.lines().next().unwrap_or_default());
            }
        })),
        ..Recorder::default()
    };
    let outcome = Job::new(Python3, code).run(&recorder).await;
    assert_eq!(outcome, Outcome::Success(json!("done")));
    // Unbuffered print() writes the text and the newline apart: "after" may
    // be followed by a chunk of its own.
    assert!(recorder.logs.lock().unwrap().len() >= 2);
    assert!(recorder.logs().ends_with("after\n"), "{}", recorder.logs());
}

#[tokio::test]
async fn an_exception_is_an_error_with_name_message_and_stack() {
    let code = "def main():\n    helper()\n\ndef helper():\n    raise ValueError('bad input')\n";
    let (outcome, _) = run(Python3, code, json!({})).await;
    let error = error_of(&outcome);
    assert_eq!(error["name"], "ValueError");
    assert_eq!(error["message"], "bad input");
    let stack = error["stack"].as_str().unwrap();
    assert!(stack.contains("main.py") && stack.contains("in helper"), "{stack}");
    assert!(!stack.contains("wrapper.py"), "the wrapper's frames show: {stack}");
}

#[tokio::test]
async fn a_syntax_error_is_reported_as_such() {
    // The signature parser refuses such code; the wrapper must cope anyway.
    let job = Job::new(Python3, "def main():\n    return (\n").without_params();
    let outcome = job.run(&Recorder::default()).await;
    let error = error_of(&outcome);
    assert_eq!(error["name"], "SyntaxError");
}

#[tokio::test]
async fn a_missing_argument_fails_before_anything_runs() {
    let (outcome, recorder) = run(Python3, "def main(x: int, y: int = 2):\n    return x\n", json!({"y": 1})).await;
    let error = error_of(&outcome);
    assert_eq!(error["name"], "MissingArgument");
    assert!(error["message"].as_str().unwrap().contains("'x'"), "{error:?}");
    assert!(recorder.logs().is_empty());
}

#[tokio::test]
async fn undeclared_arguments_are_dropped_unless_main_takes_kwargs() {
    let (outcome, _) = run(Python3, "def main(a, b=5):\n    return [a, b]\n", json!({"a": 1, "z": 2})).await;
    assert_eq!(outcome, Outcome::Success(json!([1, 5])));
    let (outcome, _) = run(Python3, "def main(a, **kw):\n    return kw\n", json!({"a": 1, "z": 2})).await;
    assert_eq!(outcome, Outcome::Success(json!({"z": 2})));
}

#[tokio::test]
async fn a_generator_streams_live_and_returns_its_value() {
    // The first chunk is the job folder; the generator then waits for a
    // file that the observer creates there on receiving it.
    let code = r#"
import os, sys, time
def main():
    yield sys.argv[2]
    while not os.path.exists(os.path.join(sys.argv[2], "go")):
        time.sleep(0.01)
    yield {"n": 2}
    return "final"
"#;
    let recorder = Recorder {
        on_stream: Some(Box::new(|chunk| {
            if chunk.starts_with('/') {
                release(chunk);
            }
        })),
        ..Recorder::default()
    };
    let outcome = Job::new(Python3, code).run(&recorder).await;
    let ended = Instant::now();
    assert_eq!(outcome, Outcome::Success(json!("final")));
    let streams = recorder.streams.lock().unwrap();
    assert_eq!(streams.len(), 2, "{streams:?}");
    assert!(streams[0].0 < streams[1].0 && streams[1].0 < ended);
    assert_eq!(streams[1].1, r#"{"n": 2}"#);
}

#[tokio::test]
async fn an_async_generator_streams_and_its_result_is_null() {
    let code = "async def main():\n    for word in ['a', 'b']:\n        yield word\n";
    let (outcome, recorder) = run(Python3, code, json!({})).await;
    assert_eq!(outcome, Outcome::Success(json!(null)));
    assert_eq!(recorder.streams(), ["a", "b"]);
}

#[tokio::test]
async fn sys_exit_with_a_code_is_an_exit_code_failure() {
    let code = "import sys\ndef main():\n    print('about to fail')\n    sys.exit(3)\n";
    let (outcome, _) = run(Python3, code, json!({})).await;
    let error = error_of(&outcome);
    assert_eq!(error["name"], "ExitCode");
    assert_eq!(error["exit_code"], 3);
    assert_eq!(error["message"], "the process exited with code 3");
    assert!(error["last_logs"].as_str().unwrap().contains("about to fail"));
}

#[tokio::test]
async fn the_orvanta_module_is_importable() {
    let code = r#"
import orvanta
def main(f: orvanta.S3Object):
    return {"job": orvanta.get_job_id(), "ws": orvanta.get_workspace(), "key": orvanta.S3Object(s3=f["s3"]).key}
"#;
    let job = Job::new(Python3, code).args(json!({"f": {"s3": "a/b.txt"}}));
    let outcome = job.run(&Recorder::default()).await;
    assert_eq!(outcome, Outcome::Success(json!({"job": job.job_id.to_string(), "ws": "test-ws", "key": "a/b.txt"})));
}

#[tokio::test]
async fn large_results_and_many_chunks_arrive_whole() {
    // Both exceed a pipe's buffer (64 KiB): the wrapper blocks until read.
    let code =
        "def main():\n    for i in range(3000):\n        yield f'chunk {i} ' + 'y' * 100\n    return 'x' * 1_000_000\n";
    let (outcome, recorder) = run(Python3, code, json!({})).await;
    assert_eq!(outcome, Outcome::Success(json!("x".repeat(1_000_000))));
    let streams = recorder.streams();
    assert_eq!(streams.len(), 3000);
    assert!(streams.iter().enumerate().all(|(i, s)| s.starts_with(&format!("chunk {i} "))));
}

/// A result past the channel's 64 MiB is refused, and the refusal is quick:
/// each byte is looked through for a newline once (the fuzz suite's 200 MB
/// result, in 64 KiB reads each scanned from the start, took over a minute).
#[tokio::test]
async fn a_result_over_the_limit_is_refused() {
    let code = "def main():\n    return 'é' * (100 << 20)\n";
    let outcome = Job::new(Python3, code).timeout(std::time::Duration::from_secs(120)).run(&Recorder::default()).await;
    assert_eq!(error_of(&outcome)["name"], "ResultTooLarge", "{outcome:?}");
}
