//! TypeScript jobs, each test on Deno and on Bun.

use crate::{error_of, release, run, Job, Recorder};
use orvanta_core::Language::{self, Bun, Deno};
use orvanta_exec::Outcome;
use serde_json::json;
use tokio::time::Instant;

const BOTH: [Language; 2] = [Deno, Bun];

#[tokio::test]
async fn returns_the_value_of_main() {
    for language in BOTH {
        let code = "export async function main(x: number) {\n  return x + 1;\n}\n";
        let (outcome, _) = run(language, code, json!({"x": 1})).await;
        assert_eq!(outcome, Outcome::Success(json!(2)), "{language}");
    }
}

#[tokio::test]
async fn absent_arguments_take_their_defaults_and_extras_come_last() {
    for language in BOTH {
        let code = r#"
export function main(a: string, b = "default", c?: number) {
  return [a, b, c ?? null];
}
"#;
        let (outcome, _) = run(language, code, json!({"a": "x", "z": 1})).await;
        assert_eq!(outcome, Outcome::Success(json!(["x", "default", null])), "{language}");
        let code = "export function main(a: string, ...rest: unknown[]) {\n  return rest;\n}\n";
        let (outcome, _) = run(language, code, json!({"a": "x", "z": 1})).await;
        assert_eq!(outcome, Outcome::Success(json!([{"z": 1}])), "{language}");
    }
}

#[tokio::test]
async fn a_throw_is_an_error_with_name_message_and_stack() {
    for language in BOTH {
        let code = "export function main() {\n  throw new TypeError(\"nope\");\n}\n";
        let (outcome, _) = run(language, code, json!({})).await;
        let error = error_of(&outcome);
        assert_eq!(error["name"], "TypeError", "{language}");
        assert_eq!(error["message"], "nope", "{language}");
        assert!(error["stack"].as_str().unwrap().contains("main.ts"), "{language}: {error:?}");
    }
}

#[tokio::test]
async fn an_async_generator_streams_live_in_deno_and_bun() {
    for language in BOTH {
        let code = r#"
import { existsSync } from "node:fs";
import process from "node:process";
export async function* main() {
  yield process.argv[2];
  while (!existsSync(`${process.argv[2]}/go`)) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  yield { n: 2 };
  return "final";
}
"#;
        let recorder = Recorder {
            on_stream: Some(Box::new(|chunk| {
                if chunk.starts_with('/') {
                    release(chunk);
                }
            })),
            ..Recorder::default()
        };
        // The signature parser does not take `function*` for main yet.
        let outcome = Job::new(language, code).without_params().run(&recorder).await;
        let ended = Instant::now();
        assert_eq!(outcome, Outcome::Success(json!("final")), "{language}");
        let streams = recorder.streams.lock().unwrap();
        assert_eq!(streams.len(), 2, "{language}: {streams:?}");
        assert!(streams[0].0 < streams[1].0 && streams[1].0 < ended, "{language}");
        assert_eq!(streams[1].1, r#"{"n":2}"#, "{language}");
    }
}

#[tokio::test]
async fn the_client_library_resolves_without_network() {
    for language in BOTH {
        let code = r#"
import { S3Object, getJobId, getWorkspace } from "orvanta-client";
export async function main(file: S3Object) {
  console.log("log line");
  return { job: getJobId(), ws: getWorkspace(), key: file.s3, made: S3Object("k") };
}
"#;
        let job = Job::new(language, code).args(json!({"file": {"s3": "a/b"}}));
        let recorder = Recorder::default();
        let outcome = job.run(&recorder).await;
        assert_eq!(
            outcome,
            Outcome::Success(
                json!({"job": job.job_id.to_string(), "ws": "test-ws", "key": "a/b", "made": {"s3": "k"}})
            ),
            "{language}: {}",
            recorder.logs()
        );
        assert_eq!(recorder.logs(), "log line\n", "{language}");
    }
}

#[tokio::test]
async fn a_module_that_does_not_load_is_an_error() {
    for language in BOTH {
        let code = "export function main() {\n  return 1;\n}\nthrow new Error(\"at load\");\n";
        let (outcome, _) = run(language, code, json!({})).await;
        let error = error_of(&outcome);
        assert_eq!(error["message"], "at load", "{language}: {error:?}");
    }
}

#[tokio::test]
async fn logs_arrive_while_the_job_runs() {
    for language in BOTH {
        let code = r#"
import { existsSync } from "node:fs";
import process from "node:process";
export async function main() {
  console.log(process.argv[2]);
  while (!existsSync(`${process.argv[2]}/go`)) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  console.error("after");
  return "done";
}
"#;
        let recorder = Recorder {
            on_log: Some(Box::new(|chunk| {
                if chunk.starts_with('/') {
                    release(chunk.lines().next().unwrap_or_default());
                }
            })),
            ..Recorder::default()
        };
        let outcome = Job::new(language, code).timeout(std::time::Duration::from_secs(20)).run(&recorder).await;
        assert_eq!(outcome, Outcome::Success(json!("done")), "{language}: {}", recorder.logs());
        assert!(recorder.logs().ends_with("after\n"), "{language}");
    }
}

#[tokio::test]
async fn a_result_larger_than_a_pipe_arrives_whole() {
    for language in BOTH {
        let code = "export function main() {\n  return \"x\".repeat(1_000_000);\n}\n";
        let (outcome, _) = run(language, code, json!({})).await;
        assert_eq!(outcome, Outcome::Success(json!("x".repeat(1_000_000))), "{language}");
    }
}
