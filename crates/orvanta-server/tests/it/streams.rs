//! Server-sent events (contract §6): `run_and_stream` and `getupdate_sse`.
//!
//! Liveness is proven without timing thresholds: a script yields its first
//! chunk, then waits for the test's go (see `rendezvous`), which the test
//! gives only once it has received that chunk, so the chunk necessarily
//! arrived while the job ran.

use crate::harness::*;
use crate::rendezvous::Rendezvous;
use serde_json::{json, Value};

/// Waits (up to 120 s) for the go; the job fails if it never comes.
const PY_STREAM: &str = r#"import urllib.request
def main(go: str):
    yield "first "
    urllib.request.urlopen(go, timeout=130).read()
    yield "second"
"#;

fn ts_stream(ret: &str) -> String {
    format!(
        r#"export async function* main(go: string) {{
  yield "first ";
  const r = await fetch(go);
  if (!r.ok) throw new Error("the go never came");
  await r.text();
  yield "second";
  return {ret};
}}
"#
    )
}

/// Posts to run_and_stream and checks the SSE answer's headers.
async fn open_stream(app: &TestApp, path: &str, args: &Value) -> (String, SseReader) {
    let r = app.post_json(&format!("/jobs/run_and_stream/p/{path}"), args).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/event-stream");
    assert_eq!(r.headers()["cache-control"], "no-cache");
    let id = r.headers()["x-orvanta-job-id"].to_str().unwrap().to_owned();
    (id, SseReader::new(r))
}

/// The next event that is not a ping.
async fn next_update(sse: &mut SseReader) -> Value {
    loop {
        let e = sse.next().await.expect("the stream ended early");
        if e["type"] != "ping" {
            return e;
        }
    }
}

/// Reads the first chunk, releases the script, and answers the events after it.
async fn first_chunk_then_release(sse: &mut SseReader, rv: &Rendezvous, what: &str) -> Vec<Value> {
    let first = next_update(sse).await;
    assert_eq!(first, json!({"type": "update", "new_result_stream": "first ", "stream_offset": 6}), "{what}");
    rv.release(what);
    let rest: Vec<Value> = sse.rest().await.into_iter().filter(|e| e["type"] != "ping").collect();
    assert_eq!(rest.len(), 2, "{what}: {rest:?}");
    assert_eq!(rest[0], json!({"type": "update", "new_result_stream": "second", "stream_offset": 12}), "{what}");
    rest
}

#[tokio::test]
async fn a_python_generator_streams_live_then_completes_with_the_whole_stream() {
    let app = spawn_app();
    app.create_script("u/admin/gen", "python3", PY_STREAM).await;
    let rv = Rendezvous::start().await;
    let (id, mut sse) = open_stream(&app, "u/admin/gen", &json!({"go": rv.url("python")})).await;
    let rest = first_chunk_then_release(&mut sse, &rv, "python").await;
    assert_eq!(rest[1], json!({"type": "update", "completed": true, "only_result": "first second"}));
    let job = app.job(&id).await;
    assert_eq!((job["status"].as_str(), job["trigger"].as_str()), (Some("success"), Some("stream")), "{job}");
}

#[tokio::test]
async fn typescript_async_generators_stream_live_in_deno_and_bun_with_their_return_value() {
    let app = spawn_app();
    for (lang, ret, only_result) in [
        ("deno", r#"{ n: 1 }"#, json!({"n": 1, "wm_stream": "first second"})),
        ("bun", "7", json!({"result": 7, "wm_stream": "first second"})),
    ] {
        let path = format!("u/admin/gen_{lang}");
        app.create_script(&path, lang, &ts_stream(ret)).await;
        let rv = Rendezvous::start().await;
        let (_, mut sse) = open_stream(&app, &path, &json!({"go": rv.url(lang)})).await;
        let rest = first_chunk_then_release(&mut sse, &rv, lang).await;
        assert_eq!(rest[1], json!({"type": "update", "completed": true, "only_result": only_result}), "{lang}");
    }
}

#[tokio::test]
async fn a_failed_stream_ends_with_its_error_and_get_takes_the_payload() {
    use base64::Engine;
    let app = spawn_app();
    let code = "def main(word: str):\n    yield word\n    raise ValueError('boom')\n";
    app.create_script("u/admin/fails", "python3", code).await;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"word": "hi"}"#);
    let url = app.ws(&format!("/jobs/run_and_stream/p/u/admin/fails?payload={payload}"));
    let r = app.client.get(url).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let events: Vec<Value> = SseReader::new(r).rest().await.into_iter().filter(|e| e["type"] != "ping").collect();
    let last = events.last().unwrap();
    assert_eq!(last["completed"], true, "{events:?}");
    assert_eq!(last["only_result"]["error"]["name"], "ValueError", "{last}");
    assert_eq!(last["only_result"]["error"]["message"], "boom", "{last}");
    let streamed: String = events.iter().filter_map(|e| e["new_result_stream"].as_str()).collect();
    assert_eq!(streamed, "hi");
}

#[tokio::test]
async fn getupdate_sse_follows_the_logs_of_a_running_job_until_it_completes() {
    let app = spawn_app();
    let code = r#"import urllib.request
def main(go: str):
    print("line one", flush=True)
    urllib.request.urlopen(go, timeout=130).read()
    print("line two", flush=True)
    return 5
"#;
    app.create_script("u/admin/logs", "python3", code).await;
    let rv = Rendezvous::start().await;
    let id = app.run_async("u/admin/logs", &json!({"go": rv.url("logs")})).await;
    let r = app.get(&format!("/jobs_u/getupdate_sse/{id}?fast=true")).await;
    assert_eq!((r.status().as_u16(), r.headers()["content-type"].to_str().unwrap()), (200, "text/event-stream"));
    let mut sse = SseReader::new(r);
    let (mut logs, mut saw_running) = (String::new(), false);
    let mut released = false;
    let last = loop {
        let e = next_update(&mut sse).await;
        assert_eq!(e["type"], "update", "{e}");
        saw_running |= e["running"] == true;
        if let Some(new) = e["new_logs"].as_str() {
            logs.push_str(new);
            assert_eq!(e["log_offset"], logs.len(), "the offset counts the bytes sent so far: {e}");
        }
        if logs.contains("line one") && !released {
            assert!(!logs.contains("line two"), "{logs}");
            rv.release("logs");
            released = true;
        }
        if e["completed"] == true {
            break e;
        }
    };
    assert!(released && saw_running, "logs {logs:?}, running seen {saw_running}");
    assert!(logs.contains("line two"), "{logs}");
    assert_eq!((last["only_result"].clone(), last["running"].clone()), (json!(5), json!(false)), "{last}");
    assert_eq!(sse.next().await, None, "the stream closes after completion");
}

#[tokio::test]
async fn the_alias_route_replays_a_finished_job_and_unknown_jobs_are_notfound() {
    let app = spawn_app();
    app.create_script("u/admin/done", "bash", "echo hello\necho '{\"ok\": true}'").await;
    let id = app.run_async("u/admin/done", &json!({})).await;
    app.wait_done(&id, 30).await;
    let events = SseReader::new(app.get(&format!("/job_u/getupdate_sse/{id}")).await).rest().await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events[0]["new_logs"].as_str().unwrap().contains("hello"), "{events:?}");
    assert_eq!(events[1], json!({"type": "update", "running": false, "completed": true, "only_result": {"ok": true}}));
    let only = SseReader::new(app.get(&format!("/jobs_u/getupdate_sse/{id}?only_result=true")).await).rest().await;
    assert_eq!(only, vec![json!({"type": "update", "completed": true, "only_result": {"ok": true}})]);
    let missing = "0190f5b8-0000-7000-8000-000000000000";
    for route in ["jobs_u", "job_u"] {
        let r = app.get(&format!("/{route}/getupdate_sse/{missing}")).await;
        assert_eq!(r.status(), 200);
        assert_eq!(SseReader::new(r).rest().await, vec![json!({"type": "notfound"})], "{route}");
    }
    assert_error(app.get("/jobs_u/getupdate_sse/not-a-uuid").await, 400, "UUID").await;
}

#[tokio::test]
async fn run_and_stream_answers_head_options_and_flows() {
    let app = spawn_app();
    app.create_script("u/admin/s", "bash", "echo hi").await;
    let url = app.ws("/jobs/run_and_stream/p/u/admin/s");
    let r = app.client.head(&url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app
        .client
        .request(reqwest::Method::OPTIONS, &url)
        .header("origin", "https://example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["access-control-allow-origin"], "https://example.com");
    assert!(r.headers()["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    let r = app.post_json("/jobs/run_and_stream/p/u/admin/s", &json!({})).await;
    assert_eq!(r.headers()["access-control-allow-origin"], "*");
    assert_eq!(r.headers()["access-control-expose-headers"], "x-orvanta-job-id");
    let events = SseReader::new(r).rest().await;
    assert_eq!(events, vec![json!({"type": "update", "completed": true, "only_result": "hi"})]);
    assert_error(app.post_json("/jobs/run_and_stream/f/u/admin/flow", &json!({})).await, 404, "flow not found").await;
    assert_error(app.get("/jobs/run_and_stream/fv/3").await, 404, "no flow version 3").await;
    assert_error(app.post_json("/jobs/run_and_stream/p/u/admin/nope", &json!({})).await, 404, "not found").await;
}

#[tokio::test]
async fn the_stream_times_out_after_sse_timeout_s() {
    let app = start(Opts { env: vec![("ORVANTA_SSE_TIMEOUT_S".into(), "1".into())], ..Opts::default() });
    app.create_script("u/admin/slow", "bash", "sleep 4\necho late").await;
    let (id, mut sse) = open_stream(&app, "u/admin/slow", &json!({})).await;
    assert_eq!(sse.rest().await, vec![json!({"type": "timeout"})]);
    // The job goes on without its listener.
    let job = app.wait_done(&id, 30).await;
    assert_eq!((job["status"].as_str(), job["result"].as_str()), (Some("success"), Some("late")), "{job}");
}

#[tokio::test]
async fn silence_is_broken_by_pings() {
    let app = spawn_app();
    app.create_script("u/admin/quiet", "bash", "sleep 6\necho done").await;
    let (_, mut sse) = open_stream(&app, "u/admin/quiet", &json!({})).await;
    let events = sse.rest().await;
    assert_eq!(events.first(), Some(&json!({"type": "ping"})), "{events:?}");
    assert_eq!(events.last(), Some(&json!({"type": "update", "completed": true, "only_result": "done"})));
}
