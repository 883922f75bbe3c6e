//! The workspace webhook against a real local receiver that the test
//! controls: every event once and in order, signatures that the
//! `standardwebhooks` package (PyPI) accepts, retries, 410, replays, a kill
//! between the change and the delivery, no internal address without the
//! instance's consent, milliseconds from a change to its delivery, and two
//! servers on one PostgreSQL database delivering each event once, in order.

use crate::harness::*;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<(HeaderMap, String)>>>,
    /// When each of `got` arrived.
    pub times: Arc<Mutex<Vec<Instant>>>,
    /// Answers to give, in turn; then 200.
    pub answers: Arc<Mutex<Vec<u16>>>,
}

impl Receiver {
    pub async fn start(self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let me = self.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let me = me.clone();
                async move {
                    me.times.lock().unwrap().push(Instant::now());
                    me.got.lock().unwrap().push((headers, body));
                    let mut answers = me.answers.lock().unwrap();
                    let code = if answers.is_empty() { 200 } else { answers.remove(0) };
                    StatusCode::from_u16(code).unwrap()
                }
            }),
        );
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        format!("http://{addr}/hook")
    }

    pub fn kinds(&self) -> Vec<String> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|(_, b)| serde_json::from_str::<Value>(b).unwrap()["type"].as_str().unwrap().to_owned())
            .collect()
    }

    pub async fn wait_for(&self, n: usize, secs: u64) -> Vec<String> {
        let until = Instant::now() + Duration::from_secs(secs);
        while self.got.lock().unwrap().len() < n {
            assert!(Instant::now() < until, "only {} arrived: {:?}", self.count(), self.kinds());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.kinds()
    }

    fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    /// `(workspace, event id)` of what arrived, in order.
    fn ids(&self) -> Vec<(String, i64)> {
        let got = self.got.lock().unwrap();
        got.iter()
            .map(|(h, b)| {
                let id = h["webhook-id"].to_str().unwrap().strip_prefix("evt_").unwrap().parse().unwrap();
                let body: Value = serde_json::from_str(b).unwrap();
                (body["workspace"].as_str().unwrap().to_owned(), id)
            })
            .collect()
    }
}

pub fn opts(dir: Option<&std::path::Path>) -> Opts {
    let mut o = Opts { data_dir: dir.map(|d| d.to_path_buf()), ..Default::default() };
    o.env.push(("ORVANTA_WEBHOOK_ALLOW_PRIVATE".into(), "true".into()));
    // One second of the retry ladder lasts 1 ms: 5 s, 5 min, 30 min become 5 ms, 300 ms, 1.8 s.
    o.env.push(("ORVANTA_WEBHOOK_MS_PER_LADDER_SECOND".into(), "1".into()));
    o
}

pub async fn point_at(app: &TestApp, url: &str) -> String {
    point_workspace_at(app, "demo", url).await
}

/// Waits until no event of the delivery log `log` reads is pending (at most 5 s).
pub async fn until_settled<F: std::future::Future<Output = Value>>(log: impl Fn() -> F) {
    for _ in 0..200 {
        if log().await.as_array().unwrap().iter().all(|e| e["state"] != "pending") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Sets the webhook of workspace `ws` once its earlier events are settled; answers the secret.
async fn point_workspace_at(app: &TestApp, ws: &str, url: &str) -> String {
    let route = |path: &str| app.url(&format!("/api/w/{ws}/workspaces{path}"));
    let get = |path: &'static str| app.client.get(route(path)).bearer_auth(TOKEN).send();
    // What happened before (the example script of the first start) is settled first: skipped, with no webhook.
    until_settled(|| async { get("/webhook_deliveries").await.unwrap().json().await.unwrap() }).await;
    let body = json!({"webhook": url});
    let r = app.client.post(route("/edit_webhook")).bearer_auth(TOKEN).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let s: Value = get("/get_settings").await.unwrap().json().await.unwrap();
    assert_eq!(s["webhook"], url);
    s["webhook_secret"].as_str().unwrap().to_owned()
}

/// Checks every received request with the `standardwebhooks` reference verifier.
pub fn verify_all(secret: &str, got: &[(HeaderMap, String)]) {
    let messages: Vec<Value> = got
        .iter()
        .map(|(h, body)| {
            let header = |n: &str| h.get(n).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
            json!({"id": header("webhook-id"), "timestamp": header("webhook-timestamp"), "signature": header("webhook-signature"), "body": body})
        })
        .collect();
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
secret, messages = sys.argv[1], json.loads(sys.stdin.read())
wh = Webhook(secret)
for m in messages:
    wh.verify(m["body"], {"webhook-id": m["id"], "webhook-timestamp": m["timestamp"], "webhook-signature": m["signature"]})
print(len(messages))
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, secret])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(serde_json::to_string(&messages).unwrap().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "standardwebhooks refused a signature: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn every_change_arrives_once_in_order_and_signed() {
    let receiver = Receiver::default();
    let url = receiver.clone().start().await;
    let app = start(opts(None));
    let secret = point_at(&app, &url).await;
    assert!(secret.starts_with("whsec_"));
    let steps: [(&str, Value); 7] = [
        ("/variables/create", json!({"path": "u/admin/a", "value": "1", "is_secret": true})),
        ("/variables/update/u/admin/a", json!({"path": "u/admin/b"})),
        ("/resources/type/create", json!({"name": "kv"})),
        ("/resources/create", json!({"path": "u/admin/r", "resource_type": "kv", "value": {"k": "$var:u/admin/b"}})),
        ("/apps/create", json!({"path": "u/admin/app", "summary": "s", "value": {}})),
        ("/apps/update/u/admin/app", json!({"summary": "t"})),
        ("/resources/update_value/u/admin/r", json!({"value": {"k": 2}})),
    ];
    for (route, body) in &steps {
        let r = app.post_json(route, body).await;
        assert!(r.status().is_success(), "{route}: {}", r.text().await.unwrap());
    }
    let r = app.client.delete(app.ws("/variables/delete/u/admin/b")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Scripts, flows and folders too.
    app.create_script("u/admin/s", "bash", "echo 1").await;
    app.create_script("u/admin/s", "bash", "echo 2").await;
    let r = app.client.post(app.ws("/scripts/archive/p/u/admin/s")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(app.post_json("/folders/create", &json!({"name": "team"})).await.status(), 201);
    let flow = json!({"path": "f/team/fl", "summary": "f", "value": {"modules": []}});
    assert_eq!(app.post_json("/flows/create", &flow).await.status(), 201);
    let r = app.client.delete(app.ws("/flows/delete/f/team/fl")).bearer_auth(TOKEN).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let kinds = receiver.wait_for(14, 30).await;
    let expected = [
        "CreateVariable",
        "UpdateVariable",
        "CreateResourceType",
        "CreateResource",
        "CreateApp",
        "UpdateApp",
        "UpdateResource",
        "DeleteVariable",
        "CreateScript",
        "UpdateScript",
        "ArchiveScript",
        "CreateFolder",
        "CreateFlow",
        "DeleteFlow",
    ];
    assert_eq!(kinds, expected);
    let got = receiver.got.lock().unwrap().clone();
    verify_all(&secret, &got);
    let mut first: Value = serde_json::from_str(&got[1].1).unwrap();
    let timestamp = first.as_object_mut().unwrap().remove("timestamp").expect("every event carries its timestamp");
    let recorded = chrono::DateTime::parse_from_rfc3339(timestamp.as_str().unwrap()).expect("an RFC 3339 timestamp");
    assert!((chrono::Utc::now() - recorded.to_utc()).num_seconds().abs() < 60, "{timestamp}");
    assert_eq!(
        first,
        json!({"type": "UpdateVariable", "workspace": "demo", "old_path": "u/admin/a", "new_path": "u/admin/b"})
    );
    assert!(!got.iter().any(|(_, b)| b.contains("\"1\"")), "a secret's value is never in an event");
    // Once: nothing more arrives.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.got.lock().unwrap().len(), 14);
    until_settled(|| async { app.get("/workspaces/webhook_deliveries").await.json().await.unwrap() }).await;
    let log: Value = app.get("/workspaces/webhook_deliveries").await.json().await.unwrap();
    let states: Vec<&str> = log.as_array().unwrap().iter().map(|e| e["state"].as_str().unwrap()).collect();
    assert_eq!(states.iter().filter(|s| **s == "delivered").count(), 14, "{log}");
    assert_eq!(states.last(), Some(&"skipped"), "the example script's event came before the webhook: {log}");
}

#[tokio::test]
async fn failures_are_retried_on_the_ladder_a_410_stops_and_replays_send_again() {
    let receiver = Receiver::default();
    *receiver.answers.lock().unwrap() = vec![500, 503];
    let url = receiver.clone().start().await;
    let app = start(opts(None));
    point_at(&app, &url).await;
    assert_eq!(app.post_json("/variables/create", &json!({"path": "u/admin/x", "value": "v"})).await.status(), 201);
    receiver.wait_for(3, 30).await;
    // The receiver counts a request before the server has written the attempt's answer.
    until_settled(|| async { app.get("/workspaces/webhook_deliveries").await.json().await.unwrap() }).await;
    let log: Value = app.get("/workspaces/webhook_deliveries").await.json().await.unwrap();
    let id = log[0]["id"].as_i64().unwrap();
    let one: Value = app.get(&format!("/workspaces/webhook_deliveries/{id}")).await.json().await.unwrap();
    let statuses: Vec<Value> = one["attempt_log"].as_array().unwrap().iter().map(|a| a["status"].clone()).collect();
    assert_eq!(statuses, [json!(500), json!(503), json!(200)]);
    assert_eq!(one["state"], "delivered");

    // A replay sends it once more.
    let r = app.post_json("/workspaces/webhook_deliveries/replay", &json!({"id": id})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["replayed"], 1);
    receiver.wait_for(4, 30).await;

    // 410: the endpoint is gone; deliveries stop until the webhook is saved again.
    *receiver.answers.lock().unwrap() = vec![410];
    assert_eq!(app.post_json("/variables/create", &json!({"path": "u/admin/y", "value": "v"})).await.status(), 201);
    receiver.wait_for(5, 30).await;
    until_settled(|| async { app.get("/workspaces/webhook_deliveries").await.json().await.unwrap() }).await;
    let s: Value = app.get("/workspaces/get_settings").await.json().await.unwrap();
    assert!(s["webhook_disabled"].as_str().unwrap().contains("410"), "{s}");
    assert_eq!(app.post_json("/variables/create", &json!({"path": "u/admin/z", "value": "v"})).await.status(), 201);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(receiver.got.lock().unwrap().len(), 5, "nothing goes to a disabled webhook");
    let log: Value = app.get("/workspaces/webhook_deliveries").await.json().await.unwrap();
    assert_eq!((log[0]["state"].clone(), log[1]["state"].clone()), (json!("skipped"), json!("failed")));
    // Everything that failed since a time, again, once the endpoint is back.
    point_at(&app, &url).await;
    let r =
        app.post_json("/workspaces/webhook_deliveries/replay", &json!({"failed_since": "2000-01-01T00:00:00Z"})).await;
    assert_eq!(r.json::<Value>().await.unwrap()["replayed"], 1);
    assert_eq!(receiver.wait_for(6, 30).await.len(), 6);
}

#[tokio::test]
async fn an_event_survives_a_kill_before_its_delivery() {
    let receiver = Receiver::default();
    // The receiver refuses until the server has been killed.
    *receiver.answers.lock().unwrap() = vec![500; 1000];
    let url = receiver.clone().start().await;
    let dir = tempfile::tempdir().unwrap();
    {
        let app = start(opts(Some(dir.path())));
        point_at(&app, &url).await;
        assert_eq!(app.post_json("/variables/create", &json!({"path": "u/admin/k", "value": "v"})).await.status(), 201);
        receiver.wait_for(1, 30).await;
        // Dropping the app kills the server with SIGKILL.
    }
    receiver.answers.lock().unwrap().clear();
    let before = receiver.got.lock().unwrap().len();
    let _app = start(opts(Some(dir.path())));
    let kinds = receiver.wait_for(before + 1, 60).await;
    assert_eq!(kinds.last().map(String::as_str), Some("CreateVariable"));
}

#[tokio::test]
async fn a_webhook_to_an_internal_address_is_refused_without_consent() {
    let app = spawn_app();
    for url in [
        "http://127.0.0.1:9/hook",
        "http://localhost/hook",
        "http://169.254.169.254/latest",
        "http://[::1]/x",
        "ftp://example.com/x",
    ] {
        let r = app.post_json("/workspaces/edit_webhook", &json!({"webhook": url})).await;
        let v = assert_error(r, 400, "webhook").await;
        assert!(v.to_string().contains("internal") || v.to_string().contains("http"), "{v}");
    }
    // Operators and developers never touch the settings.
    let dev = app.user("dev").await;
    app.add_member(&dev, "developer").await;
    let r = app.as_user(&dev.token, "GET", "/workspaces/get_settings", None).await;
    assert_error(r, 403, "admins").await;
}

/// Asserts that every change's event arrived exactly once, and each
/// workspace's in the order of their ids (the order of their commits).
fn assert_once_in_order(receiver: &Receiver, expected: usize) {
    let ids = receiver.ids();
    let mut seen = std::collections::HashSet::new();
    let duplicates: Vec<&(String, i64)> = ids.iter().filter(|e| !seen.insert((*e).clone())).collect();
    assert!(duplicates.is_empty(), "events delivered twice: {duplicates:?}");
    assert_eq!(ids.len(), expected, "{ids:?}");
    let mut last = std::collections::HashMap::new();
    for (ws, id) in &ids {
        let before = last.insert(ws.clone(), *id).unwrap_or(0);
        assert!(*id > before, "workspace {ws}: event {id} arrived after {before}: {ids:?}");
    }
}

#[tokio::test]
async fn an_event_arrives_milliseconds_after_its_commit_and_a_burst_drains_in_order() {
    let receiver = Receiver::default();
    let url = receiver.clone().start().await;
    let app = start(opts(None));
    point_at(&app, &url).await;
    // One change at a time: the dispatcher is woken by the commit, not by its 200 ms poll.
    let mut latencies = Vec::new();
    for i in 0..30 {
        let sent = Instant::now();
        let r = app.post_json("/variables/create", &json!({"path": format!("u/admin/l{i}"), "value": "v"})).await;
        assert_eq!(r.status(), 201);
        receiver.wait_for(i + 1, 30).await;
        latencies.push(receiver.times.lock().unwrap()[i] - sent);
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    assert!(
        median < Duration::from_millis(50),
        "median from the request to the reception: {median:?}; all: {latencies:?}"
    );

    // A burst from 8 clients at once: every event once, in order.
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let (client, base) = (app.client.clone(), app.ws("/variables/create"));
            tokio::spawn(async move {
                for i in 0..40 {
                    let body = json!({"path": format!("u/admin/b{c}_{i}"), "value": "v"});
                    let r = client.post(&base).bearer_auth(TOKEN).json(&body).send().await.unwrap();
                    assert_eq!(r.status(), 201);
                }
            })
        })
        .collect();
    for c in clients {
        c.await.unwrap();
    }
    receiver.wait_for(30 + 320, 60).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_once_in_order(&receiver, 350);
}

#[tokio::test]
async fn two_servers_on_postgres_deliver_each_event_once_and_in_order() {
    let receiver = Receiver::default();
    let url = receiver.clone().start().await;
    let db = fresh_pg_database().await;
    let server = || {
        let mut o = opts(None);
        o.role = "server";
        o.db = Db::Postgres(db.clone());
        // Both seal and open the webhook's secret with the same key.
        o.env.push(("ORVANTA_SECRET_KEY".into(), "b3J2YW50YS1vdXRib3VuZC10ZXN0LWtleS0zMmJ5dGU=".into()));
        start(o)
    };
    let (a, b) = (server(), server());
    let r = a
        .client
        .post(a.url("/api/workspaces/create"))
        .bearer_auth(TOKEN)
        .json(&json!({"id": "second", "name": "Second"}));
    assert_eq!(r.send().await.unwrap().status(), 201);
    point_workspace_at(&a, "demo", &url).await;
    point_workspace_at(&b, "second", &url).await;
    // Each workspace's changes one after the other, alternating between the servers; the two workspaces at once.
    let per_workspace = 150;
    let apps = Arc::new([a, b]);
    let writers: Vec<_> = ["demo", "second"]
        .into_iter()
        .map(|ws| {
            let apps = apps.clone();
            tokio::spawn(async move {
                for i in 0..per_workspace {
                    let app = &apps[i % 2];
                    let body = json!({"path": format!("u/admin/v{i}"), "value": "v"});
                    let route = app.url(&format!("/api/w/{ws}/variables/create"));
                    let r = app.client.post(route).bearer_auth(TOKEN).json(&body).send().await.unwrap();
                    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
                }
            })
        })
        .collect();
    for w in writers {
        w.await.unwrap();
    }
    receiver.wait_for(2 * per_workspace, 60).await;
    // Both servers' dispatchers were awake all along: anything delivered twice would have arrived by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_once_in_order(&receiver, 2 * per_workspace);
    for ws in ["demo", "second"] {
        let route = apps[1].url(&format!("/api/w/{ws}/workspaces/webhook_deliveries?per_page=1000"));
        let get = || apps[1].client.get(route.clone()).bearer_auth(TOKEN).send();
        until_settled(|| async { get().await.unwrap().json().await.unwrap() }).await;
        let log: Value = get().await.unwrap().json().await.unwrap();
        let delivered = log.as_array().unwrap().iter().filter(|e| e["state"] == "delivered").count();
        assert_eq!(delivered, per_workspace, "{ws}: {log}");
    }
}
