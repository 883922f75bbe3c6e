//! Bash jobs: positional arguments, the last line of stdout as result.

use crate::{error_of, run};
use orvanta_core::Language::Bash;
use orvanta_exec::Outcome;
use serde_json::json;

#[tokio::test]
async fn positional_arguments_and_the_last_line_as_json() {
    let code = r#"
name="$1"
count="$2"
greeting="${3:-hello}"
echo "$greeting $name" >&2
echo "{\"name\": \"$name\", \"count\": $count}"
echo
"#;
    let (outcome, recorder) = run(Bash, code, json!({"name": "bob smith", "count": 3})).await;
    assert_eq!(outcome, Outcome::Success(json!({"name": "bob smith", "count": 3})));
    let logs = recorder.logs();
    assert!(logs.contains("hello bob smith\n"), "{logs}");
}

#[tokio::test]
async fn a_last_line_that_is_not_json_is_a_string_and_stderr_is_not_the_result() {
    let (outcome, _) = run(Bash, "echo 'plain text '\necho oops >&2\n", json!({})).await;
    assert_eq!(outcome, Outcome::Success(json!("plain text")));
    let (outcome, _) = run(Bash, "true\n", json!({})).await;
    assert_eq!(outcome, Outcome::Success(json!(null)));
}

#[tokio::test]
async fn non_string_arguments_arrive_as_json_text() {
    let code = "data=\"$1\"\necho \"$data\"\n";
    let (outcome, _) = run(Bash, code, json!({"data": {"a": [1, 2]}})).await;
    assert_eq!(outcome, Outcome::Success(json!({"a": [1, 2]})));
}

#[tokio::test]
async fn a_non_zero_exit_is_a_failure_with_the_last_logs() {
    let (outcome, _) = run(Bash, "echo 'something broke'\nexit 4\n", json!({})).await;
    let error = error_of(&outcome);
    assert_eq!(error["name"], "ExitCode");
    assert_eq!(error["exit_code"], 4);
    assert_eq!(error["last_logs"], "something broke");
}

#[tokio::test]
async fn death_by_signal_is_a_signal_failure() {
    let (outcome, _) = run(Bash, "kill -SEGV $$\n", json!({})).await;
    let error = error_of(&outcome);
    assert_eq!(error["name"], "Signal");
    assert_eq!(error["signal"], 11);
}
