//! Flows over HTTP: the flow API (versions, validation), every webhook for
//! flows, the modules, failures, suspend and resume, early return,
//! streaming, flow status — on the real binary with real runtimes.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::Duration;

fn bash(id: &str, code: &str, transforms: Value) -> Value {
    json!({"id": id, "value": {"type": "rawscript", "language": "bash", "content": code, "input_transforms": transforms}})
}

fn py(id: &str, code: &str, transforms: Value) -> Value {
    json!({"id": id, "value": {"type": "rawscript", "language": "python3", "content": code, "input_transforms": transforms}})
}

fn js(expr: &str) -> Value {
    json!({"type": "javascript", "expr": expr})
}

impl TestApp {
    async fn save_flow(&self, path: &str, value: Value) -> reqwest::Response {
        self.post_json("/flows/create", &json!({"path": path, "summary": "s", "value": value})).await
    }

    async fn create_flow(&self, path: &str, value: Value) {
        let r = self.save_flow(path, value).await;
        let status = r.status();
        let text = r.text().await.unwrap();
        assert_eq!(status, 201, "create flow {path}: {text}");
        assert_eq!(text, path);
    }

    async fn run_flow_sync(&self, path: &str, args: Value) -> (u16, Value) {
        let r = self.post_json(&format!("/jobs/run_wait_result/f/{path}"), &args).await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }
}

/// Adds one to `$1` (bash steps read positional arguments).
const INC: &str = "x=\"$1\"\necho $((x + 1))";

#[tokio::test]
async fn the_flow_api_saves_versions_and_refuses_what_cannot_run() {
    let app = spawn_app();
    let v1 = json!({"modules": [bash("a", INC, json!({"x": js("flow_input.n")}))]});
    app.create_flow("u/admin/calc", v1.clone()).await;
    assert_error(app.save_flow("u/admin/calc", v1).await, 409, "already").await;

    let got: Value = app.get("/flows/get/u/admin/calc").await.json().await.unwrap();
    let first = got["version_id"].as_i64().unwrap();
    assert_eq!(
        (got["path"].as_str(), got["summary"].as_str(), got["archived"].as_bool()),
        (Some("u/admin/calc"), Some("s"), Some(false))
    );
    let v2 = json!({"modules": [bash("a", INC, json!({"x": js("flow_input.n * 10")}))]});
    let r = app
        .post_json("/flows/update/u/admin/calc", &json!({"path": "u/admin/calc", "summary": "s2", "value": v2}))
        .await;
    assert_eq!(r.status(), 200);
    let got: Value = app.get("/flows/get/u/admin/calc").await.json().await.unwrap();
    let second = got["version_id"].as_i64().unwrap();
    assert!(second > first, "a save is a new, higher version");
    let history: Vec<Value> = app.get("/flows/history/p/u/admin/calc").await.json().await.unwrap();
    assert_eq!(history.iter().map(|h| h["version_id"].as_i64().unwrap()).collect::<Vec<_>>(), [second, first]);
    let old: Value = app.get(&format!("/flows/get/v/{first}")).await.json().await.unwrap();
    assert_eq!(old["value"]["modules"][0]["value"]["input_transforms"]["x"]["expr"], "flow_input.n");
    assert!(app.get("/flows/exists/u/admin/calc").await.json::<bool>().await.unwrap());
    let list: Vec<Value> = app.get("/flows/list").await.json().await.unwrap();
    assert_eq!(list.len(), 1);

    // By path the newest runs, by version that version, even after an update.
    assert_eq!(app.run_flow_sync("u/admin/calc", json!({"n": 2})).await, (200, json!(21)));
    let r = app.post_json(&format!("/jobs/run_wait_result/fv/{first}"), &json!({"n": 2})).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!(3));

    // Archived: 404 by path, still runs by version; unarchived: back.
    let r = app.post_json("/flows/archive/u/admin/calc", &json!({})).await;
    assert_eq!(r.status(), 200);
    assert_error(app.post_json("/jobs/run/f/u/admin/calc", &json!({})).await, 404, "flow not found").await;
    let r = app.post_json(&format!("/jobs/run_wait_result/fv/{second}"), &json!({"n": 1})).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!(11));
    assert!(app.get("/flows/list").await.json::<Vec<Value>>().await.unwrap().is_empty());
    app.post_json("/flows/archive/u/admin/calc", &json!({"archived": false})).await;
    assert_eq!(app.run_flow_sync("u/admin/calc", json!({"n": 0})).await, (200, json!(1)));

    // A rename moves every version.
    let r =
        app.post_json("/flows/update/u/admin/calc", &json!({"path": "u/admin/calc2", "value": {"modules": []}})).await;
    assert_eq!(r.text().await.unwrap(), "u/admin/calc2");
    assert_error(app.get("/flows/get/u/admin/calc").await, 404, "flow not found").await;
    assert_eq!(app.get("/flows/history/p/u/admin/calc2").await.json::<Vec<Value>>().await.unwrap().len(), 3);

    let r = app.client.delete(app.ws("/flows/delete/u/admin/calc2")).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_error(app.get(&format!("/flows/get/v/{first}")).await, 404, "no flow version").await;

    // What cannot run is refused, naming the module.
    let bad = [
        (json!({"modules": [{"id": "x", "value": {"type": "teleport"}}]}), "'x'"),
        (json!({"modules": [bash("a", "", json!({})), bash("a", "", json!({}))]}), "two modules"),
        (json!({"modules": [bash("a", "", json!({"v": js("flow_input.(")}))]}), "not valid JavaScript"),
        (json!({"modules": [bash("a", "", json!({"v": js("results.nope")}))]}), "nope"),
        (json!({"modules": [{"id": "w", "value": {"type": "whileloopflow", "modules": []}}]}), "stop_after_if"),
        (json!({"modules": [bash("a", "", json!({}))], "early_return": "zz"}), "early_return"),
        (json!({"modules": [{"id": "s", "value": {"type": "script"}}]}), "path"),
        (json!({"modules": "nope"}), "array"),
    ];
    for (value, needle) in bad {
        assert_error(app.save_flow("u/admin/bad", value).await, 400, needle).await;
    }
    assert_error(app.get("/flows/get/u/admin/bad").await, 404, "flow not found").await;
}

#[tokio::test]
async fn a_windmill_export_loads_and_runs_unchanged() {
    let app = spawn_app();
    // As Windmill's editor saves it: fields Orvanta does not use included.
    let body = json!({
        "path": "f/shared/exported",
        "summary": "exported",
        "description": "",
        "tag": null,
        "ws_error_handler_muted": false,
        "dedicated_worker": false,
        "visible_to_runner_only": false,
        "value": {
            "modules": [{
                "id": "a", "summary": "", "suspend": null, "mock": {"enabled": false},
                "value": {"type": "rawscript", "content": "def main(x: int = 1):\n    return x * 2\n",
                    "language": "python3", "lock": "", "tag": null, "is_trigger": false, "assets": [],
                    "input_transforms": {"x": {"type": "javascript", "expr": "flow_input.x"}}},
                "stop_after_if": null, "continue_on_error": false
            }],
            "same_worker": false, "concurrent_limit": null, "priority": null, "preprocessor_module": null
        },
        "schema": {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
            "properties": {"x": {"type": "integer", "default": 1, "description": ""}}, "required": [], "order": ["x"]},
        "extra_perms": {}
    });
    let r = app.post_json("/flows/create", &body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    assert_eq!(app.run_flow_sync("f/shared/exported", json!({"x": 21})).await, (200, json!(42)));
    let got: Value = app.get("/flows/get/f/shared/exported").await.json().await.unwrap();
    assert_eq!(got["value"]["modules"][0]["value"]["lock"], "", "unused fields are kept");
    assert_eq!(got["schema"]["order"], json!(["x"]));
}

#[tokio::test]
async fn flows_have_every_webhook() {
    let app = spawn_app();
    let flow = json!({"modules": [
        py("a", "def main(x):\n    return x + 1\n", json!({"x": js("flow_input.n")})),
        bash("b", INC, json!({"x": js("results.a")})),
    ]});
    app.create_flow("u/admin/two", flow).await;

    // Async: 201 and the id; the job is a flow run.
    let id = app.run_async_target("/jobs/run/f/u/admin/two", &json!({"n": 1})).await;
    let job = app.wait_done(&id, 60).await;
    assert_eq!(
        (job["job_kind"].as_str(), job["status"].as_str(), job["result"].clone()),
        (Some("flow"), Some("success"), json!(3))
    );
    let modules = job["flow_status"]["modules"].as_array().unwrap();
    assert_eq!(modules.iter().map(|m| m["type"].as_str().unwrap()).collect::<Vec<_>>(), ["Success", "Success"]);
    assert!(modules[0]["job"].is_string());
    assert_eq!(job["raw_flow"]["modules"][0]["id"], "a");
    let step_b: Value = app.get(&format!("/jobs/result_by_id/{id}/b")).await.json().await.unwrap();
    assert_eq!(step_b, json!(3));
    assert_error(app.get(&format!("/jobs/result_by_id/{id}/zz")).await, 404, "no result").await;

    // Sync by POST and by GET ?payload=, with the run-route rules.
    assert_eq!(app.run_flow_sync("u/admin/two", json!({"n": 5})).await, (200, json!(7)));
    let payload = base64_url(&json!({"n": 10}));
    let r = app.get(&format!("/jobs/run_wait_result/f/u/admin/two?payload={payload}")).await;
    assert!(r.headers().contains_key("x-orvanta-job-id"));
    assert_eq!(r.json::<Value>().await.unwrap(), json!(12));
    let r = app.client.head(app.ws("/jobs/run_wait_result/f/u/admin/two")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // A caller-chosen job id and an idempotency key return the first run.
    let chosen = uuid::Uuid::new_v4().to_string();
    let first = app.run_async_target(&format!("/jobs/run/f/u/admin/two?job_id={chosen}"), &json!({"n": 1})).await;
    let again = app.run_async_target(&format!("/jobs/run/f/u/admin/two?job_id={chosen}"), &json!({"n": 2})).await;
    assert_eq!((first.as_str(), again.as_str()), (chosen.as_str(), chosen.as_str()));
    let key = |n: i64| {
        app.client
            .post(app.ws("/jobs/run/f/u/admin/two"))
            .bearer_auth(&app.token)
            .header("idempotency-key", "k-1")
            .json(&json!({"n": n}))
            .send()
    };
    let a = key(1).await.unwrap().text().await.unwrap();
    let b = key(2).await.unwrap().text().await.unwrap();
    assert_eq!(a, b);

    // A missing required argument fails the run clearly.
    let schema = json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]});
    let r = app
        .post_json(
            "/flows/create",
            &json!({"path": "u/admin/needs", "value": {"modules": [bash("a", INC, json!({}))]}, "schema": schema}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let (status, v) = app.run_flow_sync("u/admin/needs", json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(v["error"]["name"], "MissingArgument", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("'n'"));

    // A custom response from the flow's last step shapes the sync answer; a CloudEvent's data are the input.
    let custom = py(
        "answer",
        "def main(n: int):\n    return {'wm_status_code': 202, 'wm_headers': {'x-flow': 'yes'}, 'result': {'n': n}}\n",
        json!({"n": js("flow_input.n")}),
    );
    app.create_flow("u/admin/custom", json!({"modules": [custom]})).await;
    let r = app
        .client
        .post(app.ws("/jobs/run_wait_result/f/u/admin/custom"))
        .bearer_auth(&app.token)
        .header("content-type", "application/cloudevents+json")
        .body(json!({"specversion": "1.0", "id": "e1", "source": "/t", "type": "t", "data": {"n": 4}}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!((r.status().as_u16(), r.headers()["x-flow"].to_str().unwrap().to_owned()), (202, "yes".to_owned()));
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"n": 4}));

    // Stream route: the final update carries the result.
    let r = app.post_json("/jobs/run_and_stream/f/u/admin/two", &json!({"n": 0})).await;
    let events = SseReader::new(r).rest().await;
    assert_eq!(events.last().unwrap()["only_result"], json!(2), "{events:?}");
}

#[tokio::test]
async fn loops_branches_subflows_and_identity() {
    let app = spawn_app();
    app.create_flow(
        "u/admin/double",
        json!({"modules": [bash("d", "x=\"$1\"\necho $((x * 2))", json!({"x": js("flow_input.v")}))]}),
    )
    .await;
    let flow = json!({"modules": [
        {"id": "each", "value": {"type": "forloopflow", "iterator": js("flow_input.items"), "parallel": true,
            "parallelism": 2, "skip_failures": false,
            "modules": [bash("sq", "x=\"$1\"\necho $((x * x))", json!({"x": js("flow_input.iter.value")}))]}},
        {"id": "seq", "value": {"type": "forloopflow", "iterator": js("[1, 2, 3]"), "parallel": false,
            "modules": [bash("plus", INC, json!({"x": js("flow_input.iter.value + results.each[0]")}))]}},
        {"id": "count", "stop_after_if": {"expr": "result >= 3"}, "value": {"type": "whileloopflow",
            "modules": [bash("tick", INC, json!({"x": js("flow_input.iter.index")}))]}},
        {"id": "pick", "value": {"type": "branchone", "default": [bash("small", "echo '\"small\"'", json!({}))],
            "branches": [{"expr": "results.each.length > 2", "modules": [bash("big", "echo '\"big\"'", json!({}))]}]}},
        {"id": "both", "value": {"type": "branchall", "parallel": true, "branches": [
            {"modules": [bash("l", "echo 1", json!({}))]}, {"modules": [bash("r", "echo 2", json!({}))]}]}},
        {"id": "sub", "value": {"type": "flow", "path": "u/admin/double", "input_transforms": {"v": js("results.each.length")}}},
        {"id": "same", "value": {"type": "identity"}},
        bash("all", "x=\"$1\"\necho \"$x\"", json!({"x": js("JSON.stringify([results.each, results.seq, results.count, results.pick, results.both, results.same])")})),
    ]});
    app.create_flow("u/admin/shapes", flow).await;
    let (status, v) = app.run_flow_sync("u/admin/shapes", json!({"items": [1, 2, 3]})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v, json!([[1, 4, 9], [3, 4, 5], [1, 2, 3], "big", [1, 2], 6]));
    let id = app.run_async_target("/jobs/run/f/u/admin/shapes", &json!({"items": [5, 6]})).await;
    let job = app.wait_done(&id, 60).await;
    let each = &job["flow_status"]["modules"][0];
    assert_eq!((each["id"].as_str(), each["flow_jobs"].as_array().map(Vec::len)), (Some("each"), Some(2)), "{job}");
    assert_eq!(job["flow_status"]["modules"][3]["branch_chosen"], json!({"type": "default"}));

    // A loop over what is not an array fails the run with a clear error.
    app.create_flow(
        "u/admin/notarray",
        json!({"modules": [{"id": "l", "value": {"type": "forloopflow",
        "iterator": js("flow_input.n"), "modules": [bash("x", "echo 1", json!({}))]}}]}),
    )
    .await;
    let (_, v) = app.run_flow_sync("u/admin/notarray", json!({"n": 5})).await;
    assert_eq!(
        (v["error"]["name"].as_str(), v["error"]["step_id"].as_str()),
        (Some("IteratorError"), Some("l")),
        "{v}"
    );
}

#[tokio::test]
async fn retries_stops_skips_continue_on_error_and_the_failure_module() {
    let app = spawn_app();
    let rv = crate::rendezvous::Rendezvous::start().await;
    let flaky = format!("n=$(curl -sf -d try {})\nif [ $n -lt 3 ]; then exit 1; fi\necho $n", rv.url("tries"));
    let flow = json!({
        "modules": [
            {"id": "flaky", "retry": {"constant": {"attempts": 3, "seconds": 0}},
             "value": {"type": "rawscript", "language": "bash", "content": flaky}},
            {"id": "skipped", "skip_if": {"expr": "results.flaky === 3"}, "value": {"type": "rawscript", "language": "bash", "content": "exit 1"}},
            {"id": "tolerant", "continue_on_error": true, "value": {"type": "rawscript", "language": "bash", "content": "exit 7"}},
            bash("after", "x=\"$1\"\necho \"$x\"", json!({"x": js("JSON.stringify([results.flaky, previous_result.error.name])")})),
        ]
    });
    app.create_flow("u/admin/resilient", flow).await;
    let (status, v) = app.run_flow_sync("u/admin/resilient", json!({})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v[0], 3, "two failures, then a success: {v}");
    assert!(v[1].is_string(), "the tolerated failure's error reaches the next step: {v}");

    let stops = json!({"modules": [
        {"id": "check", "stop_after_if": {"expr": "result > 5"}, "value": {"type": "rawscript", "language": "bash", "content": "echo 9"}},
        bash("never", "exit 1", json!({})),
    ]});
    app.create_flow("u/admin/stops", stops).await;
    assert_eq!(app.run_flow_sync("u/admin/stops", json!({})).await, (200, json!(9)));

    let failing = json!({
        "modules": [bash("boom", "echo oops >&2\nexit 3", json!({})), bash("never", "echo no", json!({}))],
        "failure_module": py("failure", "def main(message: str, step: str):\n    return {'handled': message[:40], 'step': step}\n",
            json!({"message": js("previous_result.error.message"), "step": js("previous_result.error.step_id")})),
    });
    app.create_flow("u/admin/failing", failing).await;
    let r = app.post_json("/jobs/run/f/u/admin/failing", &json!({})).await;
    let id = r.text().await.unwrap();
    let job = app.wait_done(&id, 60).await;
    assert_eq!(job["status"], "failure", "{job}");
    assert_eq!(job["result"]["step"], "boom", "{job}");
    assert!(job["flow_status"]["failure_module"]["type"] == "Success", "{job}");
}

#[tokio::test]
async fn failures_name_their_cause() {
    let app = spawn_app();
    let throws = json!({"modules": [bash("a", "echo 1", json!({"x": js("flow_input.missing.deep")}))]});
    app.create_flow("u/admin/throws", throws).await;
    let (_, v) = app.run_flow_sync("u/admin/throws", json!({})).await;
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("step 'a'") && msg.contains("argument 'x'") && msg.contains("flow_input.missing.deep"),
        "{msg}"
    );

    let forever = json!({"modules": [bash("a", "echo 1", json!({"x": js("(() => { while (true) {} })()")}))]});
    app.create_flow("u/admin/forever", forever).await;
    let (_, v) = app.run_flow_sync("u/admin/forever", json!({})).await;
    assert!(v["error"]["message"].as_str().unwrap().contains("stopped"), "{v}");
    let hog = json!({"modules": [bash("a", "echo 1", json!({"x": js("(() => { const a = []; while (true) a.push(new Array(1e5).fill(7)); })()")}))]});
    app.create_flow("u/admin/hog", hog).await;
    let (_, v) = app.run_flow_sync("u/admin/hog", json!({})).await;
    assert!(v["error"]["message"].as_str().unwrap().contains("memory"), "{v}");

    // A sub-flow cycle is refused when it would recurse.
    app.create_flow(
        "u/admin/ping",
        json!({"modules": [{"id": "call", "value": {"type": "flow", "path": "u/admin/pong"}}]}),
    )
    .await;
    app.create_flow(
        "u/admin/pong",
        json!({"modules": [{"id": "back", "value": {"type": "flow", "path": "u/admin/ping"}}]}),
    )
    .await;
    let (_, v) = app.run_flow_sync("u/admin/ping", json!({})).await;
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("u/admin/ping -> u/admin/pong -> u/admin/ping"), "{v}");

    // A step that reads the result of a step that has not run yet.
    app.create_flow(
        "u/admin/ahead",
        json!({"modules": [
            bash("first", "echo 1", json!({"x": js("results.later.value")})),
            bash("later", "echo 2", json!({})),
        ]}),
    )
    .await;
    let (_, v) = app.run_flow_sync("u/admin/ahead", json!({})).await;
    let msg = v["error"]["message"].as_str().unwrap_or_default();
    assert!(msg.contains("step 'first'") && msg.contains("results.later.value"), "{v}");

    // A step over its timeout is killed and fails the flow; a sleep delays a step.
    app.create_flow(
        "u/admin/slow",
        json!({"modules": [
            {"id": "nap", "sleep": 1, "value": {"type": "rawscript", "language": "bash", "content": "date +%s%N"}},
            {"id": "stuck", "timeout": 1, "value": {"type": "rawscript", "language": "bash", "content": "sleep 30"}},
        ]}),
    )
    .await;
    let started = std::time::Instant::now();
    let (_, v) = app.run_flow_sync("u/admin/slow", json!({})).await;
    assert_eq!((v["error"]["name"].as_str(), v["error"]["step_id"].as_str()), (Some("Timeout"), Some("stuck")), "{v}");
    assert!(started.elapsed() >= Duration::from_secs(2), "the sleep and the timeout both took their second");

    // A flow step calling a script that was deleted fails clearly.
    app.create_script("u/admin/gone", "bash", "echo hi").await;
    app.create_flow(
        "u/admin/caller",
        json!({"modules": [{"id": "s", "value": {"type": "script", "path": "u/admin/gone"}}]}),
    )
    .await;
    assert_eq!(app.run_flow_sync("u/admin/caller", json!({})).await, (200, json!("hi")));
    app.client.delete(app.ws("/scripts/delete/p/u/admin/gone")).bearer_auth(&app.token).send().await.unwrap();
    let (_, v) = app.run_flow_sync("u/admin/caller", json!({})).await;
    assert_eq!(v["error"]["name"], "ScriptNotFound", "{v}");
}

#[tokio::test]
async fn suspend_resume_cancel_and_their_urls() {
    let app = spawn_app();
    let ask = "import orvanta\ndef main():\n    return orvanta.get_resume_urls(approver='ann')\n";
    let flow = json!({"modules": [
        {"id": "ask", "suspend": {"required_events": 1, "timeout": 300}, "value": {"type": "rawscript", "language": "python3", "content": ask}},
        bash("after", "x=\"$1\"\necho \"$x\"", json!({"x": js("JSON.stringify(resume)")})),
    ]});
    app.create_flow("u/admin/approve", flow).await;
    let id = app.run_async_target("/jobs/run/f/u/admin/approve", &json!({})).await;
    let job =
        app.wait_for(&id, 60, "suspended", |j| j["flow_status"]["modules"][0]["type"] == "WaitingForEvents").await;
    let urls = &job["flow_status"]["modules"][0]["result"];
    let (resume, cancel, page) =
        (urls["resume"].as_str().unwrap(), urls["cancel"].as_str().unwrap(), urls["approvalPage"].as_str().unwrap());
    assert!(resume.contains("/jobs_u/resume/") && resume.contains("approver=ann"), "{urls}");

    // The approval page; a forged signature; then the resume, once.
    let html = app.client.get(page).send().await.unwrap();
    assert_eq!(html.status(), 200);
    assert!(html.text().await.unwrap().contains("Approve"));
    let forged = resume.replacen("approver=ann", "approver=bob", 1);
    assert_error(app.client.post(&forged).json(&json!({})).send().await.unwrap(), 403, "signature").await;
    let r = app.client.post(resume).json(&json!({"ok": true, "by": "ann"})).send().await.unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let done = app.wait_done(&id, 60).await;
    assert_eq!(done["result"], json!({"ok": true, "by": "ann"}), "{done}");
    assert_error(app.client.post(resume).json(&json!({})).send().await.unwrap(), 410, "ended").await;

    // Cancel through the cancel URL; a second flow shows a reused resume id.
    let id = app.run_async_target("/jobs/run/f/u/admin/approve", &json!({})).await;
    let job =
        app.wait_for(&id, 60, "suspended", |j| j["flow_status"]["modules"][0]["type"] == "WaitingForEvents").await;
    let cancel_url = job["flow_status"]["modules"][0]["result"]["cancel"].as_str().unwrap().to_owned();
    let r = app.client.get(&cancel_url).send().await.unwrap();
    assert_eq!(r.status(), 201);
    let done = app.wait_done(&id, 30).await;
    assert_eq!(done["status"], "canceled", "{done}");
    let _ = cancel;

    // A resume URL read with the API (jobs/resume_urls) works the same.
    let two = json!({"modules": [
        {"id": "ask", "suspend": {"required_events": 2}, "value": {"type": "rawscript", "language": "bash", "content": "echo 1"}},
        bash("after", "x=\"$1\"\necho \"$x\"", json!({"x": js("resumes.length")})),
    ]});
    app.create_flow("u/admin/two_approvals", two).await;
    let id = app.run_async_target("/jobs/run/f/u/admin/two_approvals", &json!({})).await;
    let job =
        app.wait_for(&id, 60, "suspended", |j| j["flow_status"]["modules"][0]["type"] == "WaitingForEvents").await;
    let step = job["flow_status"]["modules"][0]["job"].as_str().unwrap().to_owned();
    let urls: Value = app.get(&format!("/jobs/resume_urls/{step}/7")).await.json().await.unwrap();
    let resume = urls["resume"].as_str().unwrap().to_owned();
    assert_eq!(app.client.get(&resume).send().await.unwrap().status(), 201);
    assert_error(app.client.get(&resume).send().await.unwrap(), 409, "used already").await;
    let urls: Value = app.get(&format!("/jobs/resume_urls/{step}/8")).await.json().await.unwrap();
    let payload = base64_url(&json!({"second": 1}));
    let second = format!("{}?payload={payload}", urls["resume"].as_str().unwrap());
    assert_eq!(app.client.get(&second).send().await.unwrap().status(), 201);
    assert_eq!(app.wait_done(&id, 60).await["result"], json!(2));
}

#[tokio::test]
async fn early_return_answers_before_the_flow_ends() {
    let app = spawn_app();
    let flow = json!({
        "modules": [bash("fast", "echo '{\"early\": true}'", json!({})), bash("slow", "sleep 3\necho '\"late\"'", json!({}))],
        "early_return": "fast"
    });
    app.create_flow("u/admin/early", flow).await;
    let started = std::time::Instant::now();
    let r = app.post_json("/jobs/run_wait_result/f/u/admin/early", &json!({})).await;
    let id = r.headers()["x-orvanta-job-id"].to_str().unwrap().to_owned();
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"early": true}));
    let job = app.job(&id).await;
    assert_eq!(job["status"], "running", "the answer came while the last step still ran: {job}");
    let _ = started;
    let done = app.wait_done(&id, 60).await;
    assert_eq!((done["status"].as_str(), done["result"].clone()), (Some("success"), json!("late")));
}

#[tokio::test]
async fn a_flow_whose_last_step_streams_is_streamed() {
    let app = spawn_app();
    let gen =
        "import time\ndef main(n: int):\n    for i in range(n):\n        yield f'chunk{i} '\n        time.sleep(0.1)\n";
    let flow = json!({"modules": [bash("a", "echo 3", json!({})), py("stream", gen, json!({"n": js("results.a")}))]});
    app.create_flow("u/admin/streams", flow).await;
    let r = app.post_json("/jobs/run_and_stream/f/u/admin/streams", &json!({})).await;
    let events = SseReader::new(r).rest().await;
    let chunks: Vec<&str> = events.iter().filter_map(|e| e["new_result_stream"].as_str()).collect();
    assert!(!chunks.is_empty(), "chunks come as they are yielded: {events:?}");
    assert_eq!(events.last().unwrap()["only_result"], "chunk0 chunk1 chunk2 ", "{events:?}");
    let r = app.post_json("/jobs/run_wait_result/f/u/admin/streams", &json!({})).await;
    assert_eq!(r.json::<Value>().await.unwrap(), "chunk0 chunk1 chunk2 ");
}

#[tokio::test]
async fn canceling_a_flow_stops_its_running_step() {
    let app = spawn_app();
    let rv = crate::rendezvous::Rendezvous::start().await;
    let code = format!("curl -sf -d started {}\nsleep 300", rv.url("started"));
    app.create_flow(
        "u/admin/long",
        json!({"modules": [bash("wait", &code, json!({})), bash("never", "echo no", json!({}))]}),
    )
    .await;
    let id = app.run_async_target("/jobs/run/f/u/admin/long", &json!({})).await;
    rv.wait("started", 60).await;
    let r = app.post_json(&format!("/jobs_u/queue/cancel/{id}"), &json!({"reason": "enough"})).await;
    assert_eq!(r.status(), 200);
    let done = app.wait_done(&id, 30).await;
    assert_eq!(done["status"], "canceled");
    let step = done["flow_status"]["modules"][0]["job"].as_str().unwrap().to_owned();
    let step_job = app.wait_done(&step, 30).await;
    assert_eq!(step_job["status"], "canceled", "{step_job}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let list: Vec<Value> = app.get("/jobs/list").await.json().await.unwrap();
    assert!(!list.iter().any(|j| j["flow_step_id"] == "never"), "no later step ran");
}

fn base64_url(v: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn a_null_result_is_a_result() {
    let app = spawn_app();
    let flow = json!({"modules": [
        bash("five", "echo 5", json!({})),
        py("nothing", "def main():\n    return None\n", json!({})),
        py("seen", "def main(p=1):\n    return {'previous': p}\n", json!({"p": js("previous_result")})),
    ], "early_return": "nothing"});
    app.create_flow("u/admin/nulls", flow).await;
    let r = app.post_json("/jobs/run_wait_result/f/u/admin/nulls", &json!({})).await;
    assert_eq!(r.json::<Value>().await.unwrap(), Value::Null, "an early result that is null still answers");
    let id = app.run_async_target("/jobs/run/f/u/admin/nulls", &json!({})).await;
    assert_eq!(app.wait_done(&id, 60).await["result"], json!({"previous": null}));
}

/// Many iterations ending at once on several worker slots advance the same
/// run concurrently: every end counts once, whatever the interleaving.
async fn parallel_ends_race(db: Db) {
    let opts = Opts { db, env: vec![("ORVANTA_WORKERS".into(), "4".into())], ..Default::default() };
    let app = start(opts);
    let flow = json!({"modules": [
        {"id": "fan", "value": {"type": "forloopflow", "iterator": js("[...Array(24).keys()]"), "parallel": true,
            "modules": [bash("sq", "x=\"$1\"\necho $((x * x))", json!({"x": js("flow_input.iter.value")}))]}},
        {"id": "both", "value": {"type": "branchall", "parallel": true, "branches": [
            {"modules": [bash("l", "echo 1", json!({}))]}, {"modules": [bash("m", "echo 2", json!({}))]},
            {"modules": [bash("r", "echo 3", json!({}))]}]}},
        bash("sum", "x=\"$1\"\necho $x", json!({"x": js("results.fan.reduce((a, b) => a + b, 0) + results.both.length")})),
    ]});
    app.create_flow("u/admin/fan", flow).await;
    let empty = json!({});
    let ids: Vec<String> =
        futures::future::join_all((0..3).map(|_| app.run_async_target("/jobs/run/f/u/admin/fan", &empty))).await;
    let want: i64 = (0..24).map(|x: i64| x * x).sum::<i64>() + 3;
    for id in ids {
        let job = app.wait_done(&id, 120).await;
        assert_eq!((job["status"].as_str(), job["result"].clone()), (Some("success"), json!(want)), "{job}");
    }
}

/// Parallel iterations whose body ends as it starts (identity steps) are
/// nested runs queued together: a slot claims them in one batch, whose one
/// commit conflicts on the parent they all end into; each then starts on its
/// own, and every end counts once.
async fn nested_runs_claimed_together(db: Db) {
    let app = start(Opts { db, ..Default::default() });
    let flow = json!({"modules": [
        {"id": "each", "value": {"type": "forloopflow", "iterator": js("[...Array(12).keys()]"), "parallel": true,
            "modules": [{"id": "a", "value": {"type": "identity"}}, {"id": "b", "value": {"type": "identity"}}]}},
        bash("n", "n=\"$1\"\necho $n", json!({"n": js("results.each.length")})),
    ]});
    app.create_flow("u/admin/nested", flow).await;
    let empty = json!({});
    let ids: Vec<String> =
        futures::future::join_all((0..3).map(|_| app.run_async_target("/jobs/run/f/u/admin/nested", &empty))).await;
    for id in ids {
        let job = app.wait_done(&id, 120).await;
        assert_eq!((job["status"].as_str(), job["result"].clone()), (Some("success"), json!(12)), "{job}");
    }
}

#[tokio::test]
async fn nested_runs_claimed_together_on_sqlite() {
    nested_runs_claimed_together(Db::Sqlite).await;
}

#[tokio::test]
async fn nested_runs_claimed_together_on_postgres() {
    nested_runs_claimed_together(Db::Postgres(fresh_pg_database().await)).await;
}

#[tokio::test]
async fn parallel_ends_race_on_sqlite() {
    parallel_ends_race(Db::Sqlite).await;
}

#[tokio::test]
async fn parallel_ends_race_on_postgres() {
    parallel_ends_race(Db::Postgres(fresh_pg_database().await)).await;
}
