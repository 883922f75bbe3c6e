//! Every runtime end to end over HTTP: python3, deno, bun, bash.

use crate::harness::*;
use serde_json::{json, Value};

#[tokio::test]
async fn all_four_runtimes_run() {
    let app = spawn_app();
    let ts = "export async function main(a: number, b?: string, c: string[] = []) {\n  console.log('ts log');\n  return { sum: a + 1, b: b ?? null, c };\n}\n";
    app.create_script("u/admin/deno", "deno", ts).await;
    app.create_script("u/admin/bun", "bun", ts).await;
    app.create_script("u/admin/sh", "bash", "name=\"$1\"\ncount=\"${2:-3}\"\necho \"log line\"\necho \"{\\\"name\\\": \\\"$name\\\", \\\"count\\\": $count}\"\n").await;
    app.create_script("u/admin/py", "python3", "def main(x: int):\n    return {'x': x}\n").await;
    for path in ["u/admin/deno", "u/admin/bun"] {
        let v: Value = app
            .post_json(&format!("/jobs/run_wait_result/p/{path}"), &json!({"a": 1, "c": ["z"]}))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(v, json!({"sum": 2, "b": null, "c": ["z"]}), "{path}");
    }
    let v: Value =
        app.post_json("/jobs/run_wait_result/p/u/admin/sh", &json!({"name": "bob"})).await.json().await.unwrap();
    assert_eq!(v, json!({"name": "bob", "count": 3}));
    let v: Value = app.post_json("/jobs/run_wait_result/p/u/admin/py", &json!({"x": 5})).await.json().await.unwrap();
    assert_eq!(v, json!({"x": 5}));
    let schema: Value = app.get("/scripts/get/p/u/admin/deno").await.json().await.unwrap();
    assert_eq!(schema["schema"]["required"], json!(["a"]));
    let schema: Value = app.get("/scripts/get/p/u/admin/sh").await.json().await.unwrap();
    assert_eq!(schema["schema"]["required"], json!(["name"]));
}
