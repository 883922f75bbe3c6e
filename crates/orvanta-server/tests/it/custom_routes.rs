//! Custom HTTP routes (contract §10): `http_triggers/*` in Windmill's shape,
//! served at `/api/r/{route}` and `/r/{route}` with path parameters as
//! arguments; clashes refused with 409; authentication by token, API key,
//! basic credentials or a platform's signature; async, sync and stream;
//! CORS origins and an IP allow-list behind trusted proxies.

use crate::harness::*;
use serde_json::{json, Value};

const ECHO: &str = "def main(id: str = '', name: str = '', body=None, raw_string=None):\n    return {'id': id, 'name': name, 'body': body, 'raw': raw_string}\n";

fn route(path: &str, route_path: &str, method: &str, extra: Value) -> Value {
    let mut r = json!({
        "path": path, "script_path": "u/admin/echo", "route_path": route_path, "is_flow": false,
        "http_method": method, "authentication_method": "none", "is_static_website": false, "request_type": "sync",
    });
    r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    r
}

async fn made(app: &TestApp, body: Value) {
    let r = app.post_json("/http_triggers/create", &body).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
}

async fn call(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut req = app.client.request(method.parse().unwrap(), app.url(path));
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn routes_run_their_script_with_path_parameters_and_refuse_clashes() {
    let app = spawn_app();
    app.create_script("u/admin/echo", "python3", ECHO).await;
    made(&app, route("u/admin/orders", "orders/:id", "post", json!({"summary": "Orders"}))).await;

    // No token: the route's authentication is none; the path parameter is an argument.
    for prefix in ["/api/r", "/r"] {
        let r = call(&app, "POST", &format!("{prefix}/orders/42"), Some(json!({"name": "ann"}))).await;
        assert_eq!(r.status(), 200, "{prefix}");
        assert!(r.headers().contains_key("x-orvanta-job-id"));
        let v: Value = r.json().await.unwrap();
        assert_eq!((v["id"].clone(), v["name"].clone()), (json!("42"), json!("ann")), "{v}");
    }
    // The job records the route as its trigger.
    let jobs: Value = app.get("/jobs/list").await.json().await.unwrap();
    assert!(jobs.as_array().unwrap().iter().any(|j| j.to_string().contains("http:u/admin/orders")), "{jobs}");
    // Percent-encoded parameters are decoded.
    let v: Value = call(&app, "POST", "/r/orders/a%20b", Some(json!({}))).await.json().await.unwrap();
    assert_eq!(v["id"], "a b");

    // Another route on the same method and shape clashes, whatever its parameter's name; another method does not.
    let r = app.post_json("/http_triggers/create", &route("u/admin/o2", "/orders/:order/", "post", json!({}))).await;
    assert_error(r, 409, "another route answers POST /api/r/orders/:order").await;
    made(&app, route("u/admin/o3", "orders/:id", "get", json!({}))).await;
    // Static segments beat parameters.
    made(&app, route("u/admin/o4", "orders/special", "post", json!({"wrap_body": true}))).await;
    let v: Value = call(&app, "POST", "/r/orders/special", Some(json!({"name": "x"}))).await.json().await.unwrap();
    assert_eq!(v["body"], json!({"name": "x"}), "wrap_body wraps: {v}");
    // Unknown routes and methods.
    assert_error(call(&app, "POST", "/r/nothing/here", Some(json!({}))).await, 404, "no custom route answers").await;
    assert_error(call(&app, "PUT", "/r/orders/1", Some(json!({}))).await, 405, "takes").await;
    // route_exists, exists, get, list, update, delete in Windmill's shapes.
    let r =
        app.post_json("/http_triggers/route_exists", &json!({"route_path": "orders/:x", "http_method": "post"})).await;
    assert_eq!(r.json::<Value>().await.unwrap(), json!(true));
    let t: Value = app.get("/http_triggers/get/u/admin/orders").await.json().await.unwrap();
    assert_eq!((t["route_path"].clone(), t["request_type"].clone()), (json!("orders/:id"), json!("sync")));
    assert!(t["url"].as_str().unwrap().ends_with("/api/r/orders/:id"), "{t}");
    let list: Value = app.get("/http_triggers/list").await.json().await.unwrap();
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    let upd = json!({"path": "u/admin/orders", "script_path": "u/admin/echo", "is_flow": false,
                     "is_static_website": false, "request_type": "async"});
    assert_eq!(app.post_json("/http_triggers/update/u/admin/orders", &upd).await.status(), 200);
    let r = call(&app, "POST", "/r/orders/7", Some(json!({}))).await;
    assert_eq!(r.status(), 201, "async now: the job id");
    assert_eq!(r.text().await.unwrap().len(), 36);
    let r = app.client.delete(app.ws("/http_triggers/delete/u/admin/orders")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_error(call(&app, "POST", "/r/orders/7", Some(json!({}))).await, 405, "takes GET, not POST").await;
    // Bad definitions name their field.
    for (extra, needle) in [
        (json!({"route_path": "a b"}), "route_path 'a b' has the character ' '"),
        (json!({"http_method": "trace"}), "http_method 'trace' is not one of"),
        (json!({"authentication_method": "custom_script"}), "custom_script"),
        (json!({"authentication_method": "api_key"}), "authentication_resource_path is missing"),
        (json!({"script_path": "u/admin/none"}), "script_path: no script"),
        (json!({"allowed_ips": ["10.0.0.0/40"]}), "allowed_ips"),
        (json!({"allowed_origins": ["not an origin"]}), "allowed_origins"),
        (json!({"is_static_website": true}), "is_static_website"),
    ] {
        let r = app.post_json("/http_triggers/create", &route("u/admin/bad", "bad", "post", extra)).await;
        assert_error(r, 400, needle).await;
    }
}

#[tokio::test]
async fn the_seeds_rewrite_works_without_a_proxy() {
    let app = spawn_app();
    app.create_script("u/admin/echo", "python3", ECHO).await;
    made(&app, route("u/admin/mywebhook", "mywebhook", "post", json!({}))).await;
    // curl -X POST --data '{}' -H "Content-Type: application/json" ".../mywebhook"
    let r = app.client.post(app.url("/r/mywebhook")).header("content-type", "application/json").body("{}");
    let r = r.send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], "");
}

#[tokio::test]
async fn routes_check_tokens_api_keys_basic_credentials_and_signatures() {
    let app = spawn_app();
    app.create_script("u/admin/echo", "python3", ECHO).await;
    // A token route runs as its caller.
    made(&app, route("u/admin/t", "tok", "post", json!({"authentication_method": "windmill"}))).await;
    assert_error(call(&app, "POST", "/r/tok", Some(json!({}))).await, 401, "no token").await;
    let r = app.client.post(app.url("/r/tok")).bearer_auth(TOKEN).json(&json!({"name": "t"})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = app.client.post(app.url(&format!("/r/tok?token={TOKEN}"))).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Not the session cookie: a page of a sibling site could make the browser send it.
    let r = app.client.post(app.url("/r/tok")).header("cookie", format!("token={TOKEN}")).json(&json!({}));
    assert_error(r.send().await.unwrap(), 401, "not the session cookie").await;

    // Secrets live in a secret variable; the resources refer to it.
    let var = json!({"path": "u/admin/key", "value": "s3cret-key", "is_secret": true, "description": ""});
    assert_eq!(app.post_json("/variables/create", &var).await.status(), 201);
    assert_eq!(app.post_json("/resources/type/create", &json!({"name": "any"})).await.status(), 201);
    for (name, value) in [
        ("u/admin/apikey", json!({"api_key_header": "X-Api-Key", "api_key_secret": "$var:u/admin/key"})),
        ("u/admin/basic", json!({"username": "bot", "password": "$var:u/admin/key"})),
        ("u/admin/gh", json!({"verifier": "github", "secret": "$var:u/admin/key"})),
        ("u/admin/broken", json!({"verifier": "github"})),
    ] {
        let body = json!({"path": name, "resource_type": "any", "value": value});
        let r = app.post_json("/resources/create", &body).await;
        assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    }
    let auth = |m: &str, res: &str| json!({"authentication_method": m, "authentication_resource_path": res});
    made(&app, route("u/admin/k", "key", "post", auth("api_key", "u/admin/apikey"))).await;
    made(&app, route("u/admin/b", "basic", "post", auth("basic_http", "u/admin/basic"))).await;
    made(&app, route("u/admin/g", "gh", "post", auth("signature", "u/admin/gh"))).await;
    let r = app
        .post_json("/http_triggers/create", &route("u/admin/x", "x", "post", auth("signature", "u/admin/broken")))
        .await;
    assert_error(r, 400, "authentication_resource_path 'u/admin/broken'").await;

    let post = |path: &str| app.client.post(app.url(path)).header("content-type", "application/json");
    assert_error(post("/r/key").body("{}").send().await.unwrap(), 401, "credentials are missing or wrong").await;
    assert_eq!(post("/r/key").header("x-api-key", "wrong").body("{}").send().await.unwrap().status(), 401);
    assert_eq!(post("/r/key").header("x-api-key", "s3cret-key").body("{}").send().await.unwrap().status(), 200);

    let r = post("/r/basic").basic_auth("bot", Some("no")).body("{}").send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Basic realm=\"orvanta\"");
    assert_error(r, 401, "credentials are missing or wrong").await;
    assert_eq!(post("/r/basic").basic_auth("bot", Some("s3cret-key")).body("{}").send().await.unwrap().status(), 200);

    let body = r#"{"name":"push"}"#;
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, b"s3cret-key");
    let sig = format!("sha256={}", hex::encode(ring::hmac::sign(&key, body.as_bytes()).as_ref()));
    let gh = |sig: &str, event: &str| {
        post("/r/gh")
            .header("x-hub-signature-256", sig.to_owned())
            .header("x-github-event", event.to_owned())
            .body(body)
    };
    assert_error(gh("sha256=00", "push").send().await.unwrap(), 401, "signature").await;
    let r = gh(&sig, "push").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "push");
    // GitHub's ping is answered and runs nothing.
    let r = gh(&sig, "ping").send().await.unwrap();
    assert_eq!((r.status().as_u16(), r.text().await.unwrap()), (200, r#"{"ok":true}"#.to_owned()));
    // The route checks the credentials its editor saved: a later change of the variable (by anyone) changes
    // nothing until the route is saved again.
    let r = app.post_json("/variables/update/u/admin/key", &json!({"value": "changed"})).await;
    assert_eq!(r.status(), 200);
    assert_eq!(post("/r/key").header("x-api-key", "s3cret-key").body("{}").send().await.unwrap().status(), 200);
    assert_eq!(post("/r/key").header("x-api-key", "changed").body("{}").send().await.unwrap().status(), 401);
    let resave =
        json!({"path": "u/admin/k", "script_path": "u/admin/echo", "is_flow": false, "is_static_website": false});
    assert_eq!(app.post_json("/http_triggers/update/u/admin/k", &resave).await.status(), 200);
    assert_eq!(post("/r/key").header("x-api-key", "changed").body("{}").send().await.unwrap().status(), 200);
    // A platform's delivery id makes its retries one job.
    let delivery = |id: &str| gh(&sig, "push").header("x-github-delivery", id.to_owned());
    let first = delivery("d-1").send().await.unwrap().headers()["x-orvanta-job-id"].clone();
    let again = delivery("d-1").send().await.unwrap().headers()["x-orvanta-job-id"].clone();
    assert_eq!(first, again, "a redelivery answers the first job");
    // The secret is never in an answer.
    let t: Value = app.get("/http_triggers/get/u/admin/k").await.json().await.unwrap();
    assert!(!t.to_string().contains("s3cret"), "{t}");
}

#[tokio::test]
async fn cors_origins_and_ip_allow_lists_behind_trusted_proxies() {
    let mut opts = Opts::default();
    opts.env.push(("ORVANTA_TRUSTED_PROXY_HOPS".into(), "1".into()));
    let app = start(opts);
    app.create_script("u/admin/echo", "python3", ECHO).await;
    made(&app, route("u/admin/c", "cors", "post", json!({"allowed_origins": ["https://app.example.com"]}))).await;
    made(&app, route("u/admin/open", "open", "post", json!({}))).await;
    made(&app, route("u/admin/ip", "ip", "post", json!({"allowed_ips": ["10.0.0.0/8", "2001:db8::/32"]}))).await;

    let preflight = |origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/r/cors"))
            .header("origin", origin.to_owned())
            .header("access-control-request-method", "POST")
            .send()
    };
    let r = preflight("https://APP.example.com").await.unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(r.headers()["access-control-allow-origin"], "https://APP.example.com");
    assert!(r.headers()["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    let r = preflight("https://evil.example.com").await.unwrap();
    assert_eq!(r.status(), 403);
    assert!(!r.headers().contains_key("access-control-allow-origin"));
    let r = app.client.post(app.url("/r/cors")).header("origin", "https://app.example.com").json(&json!({})).send();
    let r = r.await.unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["access-control-allow-origin"].to_str().unwrap()),
        (200, "https://app.example.com")
    );
    // A route that lists no origins answers any.
    let r = app.client.post(app.url("/r/open")).header("origin", "https://x.example").json(&json!({})).send();
    assert_eq!(r.await.unwrap().headers()["access-control-allow-origin"], "https://x.example");

    // One trusted proxy: the address it appended is the caller's; what the caller wrote before it is not trusted.
    let from =
        |xff: &str| app.client.post(app.url("/r/ip")).header("x-forwarded-for", xff.to_owned()).json(&json!({})).send();
    assert_eq!(from("10.1.2.3").await.unwrap().status(), 200);
    assert_eq!(from("2001:db8::7").await.unwrap().status(), 200);
    assert_error(from("10.1.2.3, 8.8.8.8").await.unwrap(), 403, "the address 8.8.8.8 may not call").await;
    let r = app.client.post(app.url("/r/ip")).json(&json!({})).send().await.unwrap();
    assert_error(r, 403, "the caller's address is not known").await;
}

#[tokio::test]
async fn flows_streams_and_routes_under_a_workspace() {
    let app = spawn_app();
    app.create_script("u/admin/echo", "python3", ECHO).await;
    let step = json!({"id": "a", "value": {"type": "rawscript", "language": "python3",
        "content": "def main(id: str = ''):\n    return {'twice': id * 2}\n",
        "input_transforms": {"id": {"type": "javascript", "expr": "flow_input.id"}}}});
    let flow = json!({"path": "u/admin/fl", "summary": "f", "value": {"modules": [step]}});
    assert_eq!(app.post_json("/flows/create", &flow).await.status(), 201);
    let fl = json!({"script_path": "u/admin/fl", "is_flow": true, "workspaced_route": true});
    made(&app, route("u/admin/fr", "double/:id", "get", fl)).await;
    // Under the workspace: /api/r/demo/double/ab; the same path without it is no route.
    let r = call(&app, "GET", "/api/r/demo/double/ab", None).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap(), json!({"twice": "abab"}));
    assert_eq!(call(&app, "GET", "/api/r/double/ab", None).await.status(), 404);
    // The same route outside the workspace is another route.
    made(&app, route("u/admin/plain", "double/:id", "get", json!({}))).await;
    assert_eq!(call(&app, "GET", "/r/double/zz", None).await.json::<Value>().await.unwrap()["id"], "zz");

    made(&app, route("u/admin/s", "stream/:id", "post", json!({"request_type": "sync_sse"}))).await;
    let r = call(&app, "POST", "/r/stream/9", Some(json!({}))).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let text = r.text().await.unwrap();
    assert!(text.contains("\"completed\":true"), "{text}");
    assert!(text.contains("\"id\":\"9\"") || text.contains("\\\"id\\\": \\\"9\\\""), "{text}");
}

#[tokio::test]
async fn routes_cannot_be_turned_against_their_owner_or_another_workspace() {
    let app = spawn_app();
    app.create_script("u/admin/echo", "python3", ECHO).await;
    made(&app, route("u/admin/pub", "pub/:id", "post", json!({}))).await;
    // Callers of a route that runs as its owner do not choose how it runs, nor send batches.
    for q in [
        "tag=gpu",
        "job_id=0190f1a2-0000-7000-8000-000000000000",
        "scheduled_in_secs=100",
        "parent_job=0190f1a2-0000-7000-8000-000000000000",
    ] {
        assert_error(
            call(&app, "POST", &format!("/r/pub/1?{q}"), Some(json!({}))).await,
            400,
            "is not taken by a custom route",
        )
        .await;
    }
    let batch =
        app.client.post(app.url("/r/pub/1")).header("content-type", "application/cloudevents-batch+json").body("[]");
    assert_error(batch.send().await.unwrap(), 400, "not a CloudEvents batch").await;
    // A route's answer sets no cookie on Orvanta's origin.
    let cookie = "def main():
    return {'wm_headers': {'set-cookie': 'token=evil; Path=/', 'x-ok': '1'}, 'result': 'hi'}
";
    app.create_script("u/admin/cookie", "python3", cookie).await;
    made(&app, route("u/admin/ck", "ck", "get", json!({"script_path": "u/admin/cookie"}))).await;
    let r = call(&app, "GET", "/r/ck", None).await;
    assert_eq!(r.status(), 200);
    assert!(!r.headers().contains_key("set-cookie"), "{:?}", r.headers());
    assert_eq!(r.headers()["x-ok"], "1");

    // Another workspace cannot take requests of this one's routes, nor squat its /api/r/{ws}/ space.
    let r =
        app.client.post(app.url("/api/workspaces/create")).bearer_auth(TOKEN).json(&json!({"id": "evil", "name": "E"}));
    assert_eq!(r.send().await.unwrap().status(), 201);
    let evil_script = json!({"path": "u/admin/steal", "language": "python3", "content": ECHO});
    let r = app.client.post(app.url("/api/w/evil/scripts/create")).bearer_auth(TOKEN).json(&evil_script);
    assert_eq!(r.send().await.unwrap().status(), 201);
    let in_evil = |body: Value| {
        app.client.post(app.url("/api/w/evil/http_triggers/create")).bearer_auth(TOKEN).json(&body).send()
    };
    let steal = json!({"script_path": "u/admin/steal"});
    let mut shadow = route("u/admin/shadow", "pub/special", "post", steal.clone());
    assert_error(in_evil(shadow.clone()).await.unwrap(), 409, "another route answers").await;
    shadow["route_path"] = json!("demo/orders/1");
    assert_error(in_evil(shadow.clone()).await.unwrap(), 400, "the name of a workspace").await;
    shadow["route_path"] = json!("other/:x");
    assert_eq!(in_evil(shadow).await.unwrap().status(), 201, "what no one else answers is free");

    // Job tokens and scoped tokens cannot make routes, which would run with rights they do not hold.
    let scoped = app.client.post(app.url("/api/users/tokens/create")).bearer_auth(TOKEN);
    let scoped: String = scoped
        .json(&json!({"label": "s", "scopes": ["http_triggers:write", "jobs:run"]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let r = app.client.post(app.ws("/http_triggers/create")).bearer_auth(&scoped).json(&route(
        "u/admin/sc",
        "sc",
        "post",
        json!({}),
    ));
    assert_error(r.send().await.unwrap(), 403, "not a job's or a scoped token").await;

    // A script changed by someone else after the route was saved does not run with the route owner's rights.
    let bob = app.user("bob").await;
    app.add_member(&bob, "admin").await;
    made(&app, route("u/admin/own", "own", "post", json!({}))).await;
    assert_eq!(call(&app, "POST", "/r/own", Some(json!({}))).await.status(), 200);
    let r = app.client.post(app.ws("/scripts/create")).bearer_auth(&bob.token);
    let r = r.json(&json!({"path": "u/admin/echo", "language": "python3", "content": ECHO})).send().await.unwrap();
    assert_eq!(r.status(), 201, "an admin may change another's script");
    assert_error(call(&app, "POST", "/r/own", Some(json!({}))).await, 403, "its owner must save it again").await;
    let resave =
        json!({"path": "u/admin/own", "script_path": "u/admin/echo", "is_flow": false, "is_static_website": false});
    assert_eq!(app.post_json("/http_triggers/update/u/admin/own", &resave).await.status(), 200);
    assert_eq!(call(&app, "POST", "/r/own", Some(json!({}))).await.status(), 200, "the owner consented again");
}
