//! The OpenAPI export (`openapi/generate`, `openapi/download`): what the
//! filters select, the document's shape in JSON and YAML, the download, the
//! refusals; then the exported document checked by two tools nobody here
//! wrote: `openapi-spec-validator` (is it valid OpenAPI 3.1?) and
//! `schemathesis` run against this server with it (no 500s, every answer as
//! the document says). `.ci/test` installs both from PyPI.

use crate::harness::*;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::process::Command;

const GREET: &str = "def main(name: str, times: int = 1, point: dict = None):\n    return {\"hi\": name * times}\n";
const PICKY: &str = "def main(n: int):\n    if n > 5:\n        raise ValueError('too big')\n    return n\n";
const FLOW: &str = r#"{"modules": [{"id": "a", "value": {"type": "rawscript", "language": "bash", "content": "echo step", "input_transforms": {}}}]}"#;

fn filter(owner: &str, value: &str, path: &str, kind: &str) -> Value {
    json!({"user_or_folder_regex": owner, "user_or_folder_regex_value": value, "path": path, "runnable_kind": kind})
}

fn everything() -> Value {
    json!([filter("*", "*", "*", "script"), filter("*", "*", "*", "flow")])
}

/// Scripts and flows with and without schemas, one archived, in `u/admin` and `f/team`.
async fn fixture(app: &TestApp) {
    let r = app.post_json("/folders/create", &json!({"name": "team"})).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "definitions": {"point": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}}}},
        "properties": {
            "name": {"type": "string", "maxLength": 20, "description": "Who to greet"},
            "times": {"type": "integer", "minimum": 1, "maximum": 3, "default": 1},
            "point": {"$ref": "#/definitions/point"}
        },
        "required": ["name"],
        "order": ["name", "times", "point"]
    });
    app.create_script_with(json!({"path": "u/admin/greet", "language": "python3", "content": GREET,
        "summary": "Greet", "description": "Greets someone, a few times.", "schema": schema}))
        .await;
    let picky = json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]});
    app.create_script_with(json!({"path": "u/admin/picky", "language": "python3", "content": PICKY,
        "summary": "Picky", "schema": picky, "error_status_code": 422}))
        .await;
    // No schema given: the one inferred from `main` (no arguments, `required: []`).
    app.create_script("f/team/report", "bash", "echo report").await;
    app.create_script("f/team/old", "bash", "echo old").await;
    let r = app.post_json("/scripts/archive/p/f/team/old", &json!({})).await;
    assert_eq!(r.status(), 200);
    let flow: Value = serde_json::from_str(FLOW).unwrap();
    let with_schema = json!({"path": "f/team/pipeline", "summary": "Pipeline", "value": flow,
        "schema": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}});
    let r = app.post_json("/flows/create", &with_schema).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = app.post_json("/flows/create", &json!({"path": "u/admin/plain", "summary": "Plain", "value": flow})).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    // Custom routes in f/team (Windmill's route filters select folders): one public, one under the token.
    for (path, route, script, auth, kind) in [
        ("f/team/greet_route", "greet/:name", "u/admin/greet", "none", "sync"),
        ("f/team/report_route", "reports/:id", "f/team/report", "windmill", "async"),
    ] {
        let body = json!({"path": path, "script_path": script, "route_path": route, "is_flow": false,
            "http_method": "post", "authentication_method": auth, "is_static_website": false, "request_type": kind,
            "summary": format!("Route {route}")});
        let r = app.post_json("/http_triggers/create", &body).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
}

/// Every custom route of the workspace.
fn all_routes() -> Value {
    json!([{"folder_regex": "*", "path_regex": "*", "route_path_regex": "*"}])
}

async fn generate(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.client.post(app.ws("/openapi/generate")).bearer_auth(token).json(&body).send().await.unwrap()
}

/// The JSON document of `filters`, as the admin.
async fn json_doc(app: &TestApp, filters: Value) -> Value {
    let r = generate(app, TOKEN, json!({"openapi_spec_format": "json", "webhook_filters": filters})).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"), "Windmill's clients take text");
    serde_json::from_str(&r.text().await.unwrap()).expect("the JSON format is JSON")
}

fn runnables(doc: &Value) -> BTreeSet<String> {
    let paths = doc["paths"].as_object().unwrap().keys();
    paths.filter_map(|p| p.strip_prefix("/api/w/demo/jobs/run/")).map(str::to_owned).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn generate_describes_the_webhooks_the_filters_select() {
    let app = spawn_app();
    fixture(&app).await;

    let doc = json_doc(&app, everything()).await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], "Webhooks of the Orvanta workspace demo");
    assert_eq!(doc["servers"][0]["url"], app.base, "the instance names itself");
    assert_eq!(
        runnables(&doc),
        set(&[
            "p/u/admin/greet",
            "p/u/admin/picky",
            "p/u/admin/hello",
            "p/f/team/report",
            "f/f/team/pipeline",
            "f/u/admin/plain"
        ]),
        "the newest version of every script and flow, archived ones left out"
    );
    let scheme = &doc["components"]["securitySchemes"]["bearerAuth"];
    assert_eq!((scheme["type"].as_str(), scheme["scheme"].as_str()), (Some("http"), Some("bearer")));
    assert_eq!(scheme["bearerFormat"], "JWT");
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            assert_eq!(op["security"], json!([{"bearerAuth": []}]), "{method} {path}");
            for code in ["400", "401", "403", "404"] {
                assert!(op["responses"][code].is_object(), "{method} {path} documents {code}");
            }
        }
    }

    // One runnable's three routes: summary, description, and its schema as the body.
    let run = &doc["paths"]["/api/w/demo/jobs/run/p/u/admin/greet"]["post"];
    assert_eq!(run["summary"], "Greet (async)");
    assert!(run["description"].as_str().unwrap().starts_with("Greets someone, a few times."), "{run}");
    assert_eq!(run["requestBody"]["required"], true);
    assert_eq!(run["responses"]["201"]["content"]["text/plain"]["schema"]["format"], "uuid");
    let sync = &doc["paths"]["/api/w/demo/jobs/run_wait_result/p/u/admin/greet"];
    assert!(sync["post"]["responses"]["200"]["content"]["application/json"].is_object());
    assert_eq!(sync["get"]["parameters"][0]["name"], "payload", "the GET form takes ?payload=");
    assert!(doc["paths"]["/api/w/demo/jobs/run_and_stream/p/u/admin/greet"]["post"]["responses"]["200"]["content"]
        ["text/event-stream"]
        .is_object());
    let greet = &doc["components"]["schemas"]["Script_u_admin_greet"];
    assert!(greet.get("$schema").is_none(), "the document's dialect applies: {greet}");
    assert_eq!(greet["required"], json!(["name"]));
    assert_eq!(greet["properties"]["name"]["description"], "Who to greet");
    assert_eq!(
        greet["properties"]["point"]["$ref"], "#/components/schemas/Script_u_admin_greet/definitions/point",
        "a ref into the runnable's schema follows it into the document"
    );
    let picky = &doc["paths"]["/api/w/demo/jobs/run_wait_result/p/u/admin/picky"]["post"];
    assert!(picky["responses"]["422"].is_object(), "the script's error_status_code is an answer: {picky}");
    // No schema given: the inferred one, without its empty `required`.
    let report = &doc["components"]["schemas"]["Script_f_team_report"];
    assert_eq!(report["type"], "object");
    assert!(report.get("required").is_none(), "{report}");
    assert_eq!(doc["paths"]["/api/w/demo/jobs/run/p/f/team/report"]["post"]["requestBody"]["required"], false);
    assert_eq!(doc["components"]["schemas"]["Flow_f_team_pipeline"]["required"], json!(["x"]));

    // By folder, by user and name glob, by kind.
    let team = json_doc(&app, json!([filter("f", "team", "*", "script")])).await;
    assert_eq!(runnables(&team), set(&["p/f/team/report"]));
    let mine = json_doc(&app, json!([filter("u", "admin", "gr*", "script")])).await;
    assert_eq!(runnables(&mine), set(&["p/u/admin/greet"]));
    let flows = json_doc(&app, json!([filter("*", "*", "*", "flow")])).await;
    assert_eq!(runnables(&flows), set(&["f/f/team/pipeline", "f/u/admin/plain"]));
    let two = json_doc(&app, json!([filter("u", "*", "p*", "script"), filter("f", "te*", "pipe*", "flow")])).await;
    assert_eq!(runnables(&two), set(&["p/u/admin/picky", "f/f/team/pipeline"]));

    // YAML, Windmill's default: the same document.
    let r = generate(&app, TOKEN, json!({"webhook_filters": everything()})).await;
    assert_eq!(r.status(), 200);
    let yaml: Value = yaml_serde::from_str(&r.text().await.unwrap()).expect("the default format is YAML");
    assert_eq!(yaml, doc);

    // The download: a file, with the caller's info and server.
    let info = json!({"title": "Team hooks", "version": "2.1", "description": "For partners.",
        "contact": {"name": "Ops", "email": "ops@example.com"}, "license": {"name": "MIT", "identifier": "MIT"}});
    let body = json!({"openapi_spec_format": "json", "url": "https://orvanta.example.com/", "info": info,
        "webhook_filters": [filter("f", "team", "*", "flow")]});
    let r = app.post_json("/openapi/download", &body).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/octet-stream");
    assert_eq!(r.headers()["content-disposition"], "attachment; filename=\"openapi-demo.json\"");
    let file: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(file["info"], info);
    assert_eq!(file["servers"], json!([{"url": "https://orvanta.example.com"}]));
    assert_eq!(runnables(&file), set(&["f/f/team/pipeline"]));
    let r = app.post_json("/openapi/download", &json!({"webhook_filters": everything()})).await;
    assert_eq!(r.headers()["content-disposition"], "attachment; filename=\"openapi-demo.yaml\"");

    // Refusals name the field.
    let bad_format = json!({"openapi_spec_format": "xml", "webhook_filters": everything()});
    assert_error(generate(&app, TOKEN, bad_format).await, 400, "openapi_spec_format").await;
    let regex = json!({"webhook_filters": [filter("u", "admin", "^gr.*$", "script")]});
    assert_error(generate(&app, TOKEN, regex).await, 400, "webhook_filters[0].path").await;
    let kind = json!({"webhook_filters": [filter("u", "admin", "*", "app")]});
    assert_error(app.post_json("/openapi/download", &kind).await, 400, "webhook_filters[0].runnable_kind").await;
    let owner = json!({"webhook_filters": [filter("x", "admin", "*", "script")]});
    assert_error(generate(&app, TOKEN, owner).await, 400, "user_or_folder_regex").await;
    let route = json!({"http_route_filters": [{"folder_regex": "*", "path_regex": "a b", "route_path_regex": "*"}]});
    assert_error(generate(&app, TOKEN, route).await, 400, "http_route_filters[0].path_regex").await;
    assert_error(generate(&app, TOKEN, json!({})).await, 400, "webhook_filters and/or http_route_filters").await;
    let url = json!({"url": "ftp://x", "webhook_filters": everything()});
    assert_error(generate(&app, TOKEN, url).await, 400, "url").await;
    let r = app.client.post(app.ws("/openapi/generate")).bearer_auth(TOKEN).body("{").send().await.unwrap();
    assert_error(r, 415, "application/json").await;
    let none = json!({"webhook_filters": [filter("u", "nobody", "*", "script")]});
    assert_error(generate(&app, TOKEN, none).await, 404, "matches the filters").await;
    // Route filters that select no route select nothing.
    let routes =
        json!({"http_route_filters": [{"folder_regex": "*", "path_regex": "*", "route_path_regex": "nothing/*"}]});
    assert_error(generate(&app, TOKEN, routes).await, 404, "matches the filters").await;

    // Each caller sees what it may read, and no more.
    let rita = app.user("rita").await;
    app.add_member(&rita, "developer").await;
    assert_error(generate(&app, &rita.token, json!({"webhook_filters": everything()})).await, 404, "filters").await;
    app.create_script("u/rita/mine", "bash", "echo mine").await;
    let r = generate(&app, &rita.token, json!({"openapi_spec_format": "json", "webhook_filters": everything()})).await;
    assert_eq!(r.status(), 200);
    let hers: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(runnables(&hers), set(&["p/u/rita/mine"]));
    let r = app.client.post(app.ws("/openapi/generate")).json(&json!({"webhook_filters": everything()})).send();
    assert_error(r.await.unwrap(), 401, "").await;
}

#[tokio::test]
async fn windmill_api_from_pypi_generates_and_downloads() {
    require_module("windmill_api", "windmill-api");
    let app = spawn_app();
    let seen =
        crate::windmill_clients::run("python3", &crate::windmill_clients::compat("windmill_api_openapi.py"), &app);
    assert_eq!(seen["generate"], json!([200, "From windmill-api", "/api/w/demo/jobs/run/p/u/admin/hello"]), "{seen}");
    assert_eq!(seen["download"], json!([200, true, "attachment; filename=\"openapi-demo.yaml\""]), "{seen}");
}

/// Runs a Python tool in a scratch folder (schemathesis leaves its cache in the current one).
fn python(args: &[&str], package: &str) -> std::process::Output {
    let scratch = tempfile::tempdir().expect("a scratch folder");
    Command::new("python3")
        .args(args)
        .current_dir(scratch.path())
        .output()
        .unwrap_or_else(|e| panic!("python3 could not run {package}: {e}"))
}

fn require_module(module: &str, package: &str) {
    let probe = python(&["-c", &format!("import {module}")], package);
    assert!(
        probe.status.success(),
        "the Python package {package} is needed for this test; .ci/test installs it: python3 -m pip install {package}"
    );
}

#[tokio::test]
async fn the_export_is_valid_openapi_and_the_server_answers_as_it_says() {
    require_module("openapi_spec_validator", "openapi-spec-validator");
    require_module("schemathesis", "schemathesis");
    let mut opts = Opts::default();
    // Schemathesis sends requests without a token and with a wrong one: the guesser's budget must not end the test.
    opts.env.push(("ORVANTA_AUTH_FAILURES_PER_MINUTE".into(), "100000".into()));
    let app = start(opts);
    fixture(&app).await;
    let dir = tempfile::tempdir().unwrap();

    for format in ["json", "yaml"] {
        let body =
            json!({"openapi_spec_format": format, "webhook_filters": everything(), "http_route_filters": all_routes()});
        let r = app.post_json("/openapi/download", &body).await;
        assert_eq!(r.status(), 200);
        let file = dir.path().join(format!("openapi.{format}"));
        std::fs::write(&file, r.bytes().await.unwrap()).unwrap();
        let out = python(
            &["-m", "openapi_spec_validator", "--schema", "3.1", file.to_str().unwrap()],
            "openapi-spec-validator",
        );
        assert!(
            out.status.success(),
            "openapi-spec-validator refuses the {format} export:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Two checks are tuned, for reasons of the contract, not of the document:
    // - negative_data_rejection is off: run routes do not refuse arguments that
    //   break the schema (§4: the job fails and says why, as in Windmill), so
    //   a 2xx for them is the contract, not a mismatch;
    // - on the GET forms a `payload` the generator makes up is rarely base64 of
    //   a JSON object (the document says so, but generators ignore
    //   contentEncoding): the server's 400 for it is the right answer;
    // - `u/admin/picky` fails for n > 5 with its error_status_code 422, as the
    //   document says: valid arguments, a failed run.
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(
        &config,
        "[[operations]]\ninclude-path-regex = \"/picky$\"\n\
         checks.positive_data_acceptance.expected-statuses = [\"2xx\", \"400\", \"401\", \"403\", \"404\", \"422\"]\n\
         [[operations]]\ninclude-method = \"GET\"\n\
         checks.positive_data_acceptance.expected-statuses = [\"2xx\", \"400\", \"401\", \"403\", \"404\"]\n",
    )
    .unwrap();
    let seed =
        std::env::var("ORVANTA_SCHEMATHESIS_SEED").unwrap_or_else(|_| (rand::random::<u32>() % 100_000).to_string());
    println!("schemathesis seed: {seed} (replay with ORVANTA_SCHEMATHESIS_SEED={seed})");
    let auth = format!("Authorization: Bearer {TOKEN}");
    let doc = dir.path().join("openapi.json");
    let out = python(
        &[
            "-c",
            "import sys; from schemathesis.cli import schemathesis; sys.argv[0] = 'schemathesis'; schemathesis()",
            "--no-color",
            "--config-file",
            config.to_str().unwrap(),
            "run",
            doc.to_str().unwrap(),
            "--url",
            &app.base,
            "-H",
            &auth,
            "--checks",
            "all",
            "--exclude-checks",
            "negative_data_rejection",
            "--max-examples",
            "15",
            "--request-timeout",
            "60",
            "--workers",
            "1",
            "--seed",
            &seed,
        ],
        "schemathesis",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let summary: Vec<&str> = stdout.lines().filter(|l| l.contains("generated") || l.contains("found")).collect();
    println!("schemathesis: {}", summary.join(" | "));
    assert!(
        out.status.success(),
        "schemathesis found answers that do not match the document (seed {seed}):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn custom_routes_are_described_with_their_parameters_and_auth() {
    let app = spawn_app();
    fixture(&app).await;
    let body = json!({"openapi_spec_format": "json", "http_route_filters": all_routes()});
    let r = generate(&app, TOKEN, body).await;
    assert_eq!(r.status(), 200);
    let doc: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    let public = &doc["paths"]["/api/r/greet/{name}"]["post"];
    assert_eq!(public["security"], json!([]), "a public route needs no token: {doc}");
    assert_eq!(public["parameters"][0]["name"], "name", "{public}");
    assert!(public["requestBody"].is_object(), "the script's schema is the body: {public}");
    let token = &doc["paths"]["/api/r/reports/{id}"]["post"];
    assert!(token["security"].is_null() || token["security"] != json!([]), "a token route is under bearer: {token}");
    assert!(token["responses"]["201"].is_object(), "async: 201 and the job id: {token}");
    // Route filters select by folder and route path.
    let only = json!({"openapi_spec_format": "json",
        "http_route_filters": [{"folder_regex": "team", "path_regex": "*", "route_path_regex": "greet/*"}]});
    let doc: Value = serde_json::from_str(&generate(&app, TOKEN, only).await.text().await.unwrap()).unwrap();
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert_eq!(paths, ["/api/r/greet/{name}"]);
}
