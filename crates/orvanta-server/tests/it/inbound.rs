//! Inbound webhooks (contract §8) through the real server: definitions with
//! write-only secrets, `/webhook/{id}` signed the way GitHub signs, the runs
//! an event starts, the history, retried deliveries and replay.

use crate::harness::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};

fn github_signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POSTs a GitHub-style event to a definition's URL.
async fn deliver(
    app: &TestApp,
    url: &str,
    secret: &str,
    event: &str,
    delivery: &str,
    body: &Value,
) -> reqwest::Response {
    let bytes = serde_json::to_vec(body).unwrap();
    app.client
        .post(url)
        .header("content-type", "application/json")
        .header("x-github-event", event)
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", github_signature(secret, &bytes))
        .body(bytes)
        .send()
        .await
        .unwrap()
}

const ON_PUSH: &str = "def main(ref: str, WEBHOOK__METADATA__: dict):\n    return {\"ref\": ref, \"event\": WEBHOOK__METADATA__[\"event_id\"], \"platform\": WEBHOOK__METADATA__[\"platform\"]}\n";

#[tokio::test]
async fn a_github_event_is_verified_recorded_and_starts_its_runs_once() {
    let app = spawn_app();
    app.create_script("u/admin/on_push", "python3", ON_PUSH).await;
    let r = app
        .post_json(
            "/inbound_webhooks/create",
            &json!({"name": "gh", "source_platform": "github", "secret": "It's a Secret to Everybody",
                    "flows_to_start": [{"path": "u/admin/on_push"}]}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let def: Value = r.json().await.unwrap();
    assert_eq!((def["verifier"].as_str(), def["secret"].as_str()), (Some("github"), Some("***")), "{def}");
    assert_eq!(def["url_verified"], false);
    let id = def["id"].as_str().unwrap().to_owned();
    let url = def["url"].as_str().unwrap().to_owned();
    assert_eq!(url, app.url(&format!("/webhook/{id}")));
    // At rest the secret is sealed with a key that is not in the database.
    let stored = run_sqlite(&app.data_dir().join("orvanta.db"), &["select config from hooks"]);
    assert!(stored.contains("enc:v1:") && !stored.contains("Secret to Everybody"), "{stored}");
    assert!(app.data_dir().join("secret.key").exists());

    // A ping, signed, verifies the URL and starts nothing.
    let r = deliver(&app, &url, "It's a Secret to Everybody", "ping", "p-1", &json!({"zen": "Keep it simple."})).await;
    assert_eq!(r.status(), 200);
    let got: Value = app.get(&format!("/inbound_webhooks/get/{id}")).await.json().await.unwrap();
    assert_eq!(got["url_verified"], true, "{got}");

    // A push starts the script with the event as input.
    let push = json!({"ref": "refs/heads/main", "commits": [{"id": "abc"}]});
    let r = deliver(&app, &url, "It's a Secret to Everybody", "push", "d-1", &push).await;
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    let job = answer["jobs"][0].as_str().expect("a job id").to_owned();
    let done = app.wait_done(&job, 60).await;
    assert_eq!(done["result"], json!({"ref": "refs/heads/main", "event": "d-1", "platform": "github"}), "{done}");

    // GitHub retries the delivery: recorded, nothing started again.
    let r = deliver(&app, &url, "It's a Secret to Everybody", "push", "d-1", &push).await;
    assert_eq!(r.status(), 200);
    let again: Value = r.json().await.unwrap();
    assert_eq!((again["duplicate"].as_bool(), again["jobs"].as_array().map(Vec::len)), (Some(true), Some(0)));

    // Wrong secret, tampered body, missing signature: 401, recorded, nothing runs.
    let r = deliver(&app, &url, "another secret", "push", "d-2", &push).await;
    assert_error(r, 401, "verification").await;
    let r = app.client.post(&url).header("x-github-event", "push").body("{}").send().await.unwrap();
    assert_error(r, 401, "X-Hub-Signature-256").await;

    // The history, newest first, secrets masked.
    let events: Value = app.get(&format!("/inbound_webhooks/events/{id}")).await.json().await.unwrap();
    let outcomes: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["refused", "refused", "duplicate", "verified", "answered"], "{events}");
    assert_eq!(events[3]["event_id"], "d-1");
    assert_eq!(events[3]["jobs"][0]["job_id"], job.as_str());
    let one: Value = app.get(&format!("/inbound_webhooks/event/{id}/d-1")).await.json().await.unwrap();
    assert_eq!(serde_json::from_str::<Value>(one["body"].as_str().unwrap()).unwrap(), push);
    let signature = one["headers"].as_array().unwrap().iter().find(|h| h[0] == "x-hub-signature-256").unwrap();
    assert_eq!(signature[1], "***", "{one}");

    // Replay runs it again, recorded as a replay.
    let r = app.post_json(&format!("/inbound_webhooks/replay/{id}/d-1"), &json!({})).await;
    assert_eq!(r.status(), 200);
    let replayed: Value = r.json().await.unwrap();
    let second = replayed["jobs"][0].as_str().expect("a job id").to_owned();
    assert_ne!(second, job);
    assert_eq!(app.wait_done(&second, 60).await["result"]["ref"], "refs/heads/main");
    let events: Value = app.get(&format!("/inbound_webhooks/events/{id}?per_page=1")).await.json().await.unwrap();
    assert_eq!(events[0]["replay_of"], one["id"], "{events}");

    // A rotation: the old secret still works while it is the previous one; "***" keeps the stored one.
    let r = app
        .post_json(
            &format!("/inbound_webhooks/update/{id}"),
            &json!({"name": "gh", "source_platform": "github", "secret": "new secret", "previous_secret": "***",
                    "flows_to_start": [{"path": "u/admin/on_push"}]}),
        )
        .await;
    assert_eq!(r.status(), 400, "no previous secret is stored yet: *** keeps nothing");
    let r = app
        .post_json(
            &format!("/inbound_webhooks/update/{id}"),
            &json!({"name": "gh", "source_platform": "github", "secret": "new secret",
                    "previous_secret": "It's a Secret to Everybody", "flows_to_start": [{"path": "u/admin/on_push"}]}),
        )
        .await;
    assert_eq!(r.status(), 200);
    for (secret, delivery) in [("It's a Secret to Everybody", "d-3"), ("new secret", "d-4")] {
        let r = deliver(&app, &url, secret, "push", delivery, &push).await;
        let status = r.status();
        assert_eq!(status, 200, "signed with {secret}: {}", r.text().await.unwrap());
    }

    // Deleted: the URL is gone.
    let r = app
        .client
        .delete(app.ws(&format!("/inbound_webhooks/delete/{id}")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = deliver(&app, &url, "new secret", "push", "d-5", &push).await;
    assert_error(r, 404, "no inbound webhook").await;
}

#[tokio::test]
async fn invalid_definitions_are_400s_naming_the_field() {
    let app = spawn_app();
    for (body, needle) in [
        (json!({"name": "s", "source_platform": "stripe", "flows_to_start": []}), "secret"),
        (json!({"name": "t", "source_platform": "teams", "secret": "not base64!!"}), "secret"),
        (json!({"name": "g", "source_platform": "sendgrid", "public_key": "bm90IGEga2V5"}), "public_key"),
        (
            json!({"name": "x", "source_platform": "github", "secret": "s", "flows_to_start": [{"path": "u/admin/nothing"}]}),
            "flows_to_start[0]",
        ),
        (
            json!({"name": "y", "source_platform": "github", "secret": "s",
                "flows_to_start": [{"path": "u/admin/hello", "idempotency_key": "$[[["}]}),
            "idempotency_key",
        ),
        (json!({"name": "z", "source_platform": "nowhere"}), "source_platform"),
        (json!({"name": "", "source_platform": "github", "secret": "s"}), "name"),
    ] {
        let r = app.post_json("/inbound_webhooks/create", &body).await;
        assert_error(r, 400, needle).await;
    }
    let r = app.client.post(app.url("/webhook/0123456789abcdef")).body("{}").send().await.unwrap();
    assert_error(r, 404, "no inbound webhook").await;
}

fn wait_for_pr_flow() -> Value {
    json!({"modules": [
        {"id": "wait", "value": {"type": "waitforwebhook", "webhook": "gh",
            "matches": {"$.pull_request.number": {"type": "javascript", "expr": "flow_input.pr"},
                        "$.action": "opened"},
            "timeout_s": 120}},
        {"id": "after", "value": {"type": "rawscript", "language": "python3",
            "content": "def main(x):\n    return {'title': x['pull_request']['title']}",
            "input_transforms": {"x": {"type": "javascript", "expr": "results.wait"}}}}
    ]})
}

async fn start_waiting(app: &TestApp, flow: &str, pr: i64) -> String {
    let id = app.run_async_target(&format!("/jobs/run/f/{flow}"), &json!({"pr": pr})).await;
    app.wait_for(&id, 60, "waiting for its event", |j| j["flow_status"]["modules"][0]["type"] == "WaitingForEvents")
        .await;
    id
}

fn pr_event(number: i64, title: &str) -> Value {
    json!({"action": "opened", "pull_request": {"number": number, "title": title}})
}

#[tokio::test]
async fn flows_wait_for_their_own_events_time_out_and_fail_when_the_definition_goes() {
    let app = spawn_app();
    let secret = "wait secret";
    let r = app
        .post_json("/inbound_webhooks/create", &json!({"name": "gh", "source_platform": "github", "secret": secret}))
        .await;
    assert_eq!(r.status(), 201);
    let def: Value = r.json().await.unwrap();
    let (id, url) = (def["id"].as_str().unwrap().to_owned(), def["url"].as_str().unwrap().to_owned());
    let r = app.post_json("/flows/create", &json!({"path": "u/admin/pr", "value": wait_for_pr_flow()})).await;
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());

    // An event that comes before a flow waits is not its.
    assert_eq!(deliver(&app, &url, secret, "pull_request", "early", &pr_event(3, "too early")).await.status(), 200);
    let flows: Vec<String> = futures::future::join_all([1, 2, 3].map(|pr| start_waiting(&app, "u/admin/pr", pr))).await;

    // PR 2's event wakes the flow waiting for PR 2, and no other.
    let r = deliver(&app, &url, secret, "pull_request", "e-2", &pr_event(2, "second")).await;
    assert_eq!(r.status(), 200);
    let done = app.wait_done(&flows[1], 60).await;
    assert_eq!((done["status"].as_str(), &done["result"]), (Some("success"), &json!({"title": "second"})), "{done}");
    for other in [&flows[0], &flows[2]] {
        let job = app.job(other).await;
        assert_eq!(job["flow_status"]["modules"][0]["type"], "WaitingForEvents", "{job}");
    }
    // A non-matching action wakes nobody; the event records what it woke.
    let mut closed = pr_event(1, "first");
    closed["action"] = "closed".into();
    assert_eq!(deliver(&app, &url, secret, "pull_request", "c-1", &closed).await.status(), 200);
    let e2: Value = app.get(&format!("/inbound_webhooks/event/{id}/e-2")).await.json().await.unwrap();
    assert_eq!(e2["waits"][0]["flow"], flows[1].as_str(), "{e2}");
    let c1: Value = app.get(&format!("/inbound_webhooks/event/{id}/c-1")).await.json().await.unwrap();
    assert_eq!(c1["waits"], json!([]), "{c1}");
    assert_eq!(app.job(&flows[0]).await["flow_status"]["modules"][0]["type"], "WaitingForEvents");

    // PR 1 matches now.
    assert_eq!(deliver(&app, &url, secret, "pull_request", "e-1", &pr_event(1, "first")).await.status(), 200);
    assert_eq!(app.wait_done(&flows[0], 60).await["result"], json!({"title": "first"}));

    // Deleting the definition fails the flow still waiting (PR 3), with a reason.
    let r = app
        .client
        .delete(app.ws(&format!("/inbound_webhooks/delete/{id}")))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let gone = app.wait_done(&flows[2], 60).await;
    assert_eq!(gone["status"], "failure", "{gone}");
    assert!(gone["result"].to_string().contains("was deleted"), "{gone}");
}

#[tokio::test]
async fn a_wait_times_out_and_an_unknown_webhook_fails_the_step() {
    let app = spawn_app();
    let r = app
        .post_json("/inbound_webhooks/create", &json!({"name": "gh", "source_platform": "github", "secret": "s"}))
        .await;
    assert_eq!(r.status(), 201);
    let mut flow = wait_for_pr_flow();
    flow["modules"][0]["value"]["timeout_s"] = 1.into();
    let r = app.post_json("/flows/create", &json!({"path": "u/admin/short", "value": flow})).await;
    assert_eq!(r.status(), 201);
    let id = app.run_async_target("/jobs/run/f/u/admin/short", &json!({"pr": 9})).await;
    let done = app.wait_done(&id, 60).await;
    assert_eq!(done["status"], "failure", "{done}");
    assert!(done["result"].to_string().contains("WebhookTimeout"), "{done}");

    let mut flow = wait_for_pr_flow();
    flow["modules"][0]["value"]["webhook"] = "nobody".into();
    let r = app.post_json("/flows/create", &json!({"path": "u/admin/lost", "value": flow})).await;
    assert_eq!(r.status(), 201);
    let id = app.run_async_target("/jobs/run/f/u/admin/lost", &json!({"pr": 9})).await;
    let done = app.wait_done(&id, 60).await;
    assert!(done["result"].to_string().contains("WebhookNotFound"), "{done}");

    // A match that is not a JSONPath is refused when the flow is saved.
    let mut flow = wait_for_pr_flow();
    flow["modules"][0]["value"]["matches"] = json!({"pull_request[": 1});
    let r = app.post_json("/flows/create", &json!({"path": "u/admin/bad", "value": flow})).await;
    assert_error(r, 400, "wait").await;
}

/// Creates a definition; answers its id and URL.
async fn define(app: &TestApp, body: Value) -> (String, String) {
    let r = app.post_json("/inbound_webhooks/create", &body).await;
    let status = r.status();
    let def: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "{def}");
    (def["id"].as_str().unwrap().to_owned(), def["url"].as_str().unwrap().to_owned())
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn now_s() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

const ECHO: &str = "def main(**kwargs):\n    return kwargs\n";

#[tokio::test]
async fn slack_answers_its_challenge_first_and_ignores_events_until_then() {
    let app = spawn_app();
    app.create_script("u/admin/echo", "python3", ECHO).await;
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let (id, url) = define(
        &app,
        json!({"name": "slack", "source_platform": "slack", "secret": secret, "flows_to_start": [{"path": "u/admin/echo"}]}),
    )
    .await;
    let post = |body: Value| {
        let bytes = serde_json::to_vec(&body).unwrap();
        let ts = now_s().to_string();
        let mut base = format!("v0:{ts}:").into_bytes();
        base.extend_from_slice(&bytes);
        let sig = format!("v0={}", hex::encode(hmac_sha256(secret.as_bytes(), &base)));
        app.client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .body(bytes)
            .send()
    };
    // Before the challenge: recorded, ignored with 200, nothing runs.
    let r = post(json!({"type": "event_callback", "event_id": "Ev1", "event": {"type": "message"}})).await.unwrap();
    assert_eq!(r.status(), 200);
    let r =
        post(json!({"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}))
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P");
    let def: Value = app.get(&format!("/inbound_webhooks/get/{id}")).await.json().await.unwrap();
    assert_eq!(def["url_verified"], true);
    let r = post(json!({"type": "event_callback", "event_id": "Ev2", "event": {"type": "message", "text": "hi"}}))
        .await
        .unwrap();
    let answer: Value = r.json().await.unwrap();
    let job = answer["jobs"][0].as_str().expect("a job").to_owned();
    let done = app.wait_done(&job, 60).await;
    assert_eq!(done["result"]["event"]["text"], "hi", "{done}");
    assert_eq!(done["result"]["WEBHOOK__METADATA__"]["event_id"], "Ev2", "{done}");
    let events: Value = app.get(&format!("/inbound_webhooks/events/{id}")).await.json().await.unwrap();
    let outcomes: Vec<&str> = events.as_array().unwrap().iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(outcomes, ["verified", "answered", "ignored"], "{events}");
}

#[tokio::test]
async fn stripe_standard_webhooks_and_header_verifiers_over_http() {
    let app = spawn_app();
    app.create_script("u/admin/echo", "python3", ECHO).await;
    let start = json!([{"path": "u/admin/echo"}]);

    // Stripe: any v1 may match; a stale timestamp is refused.
    let secret = "whsec_stripe_test_secret";
    let (_, url) =
        define(&app, json!({"name": "stripe", "source_platform": "stripe", "secret": secret, "flows_to_start": start}))
            .await;
    let body = br#"{"id": "evt_1", "type": "payment_intent.succeeded"}"#;
    let sign = |t: i64| {
        let mut base = format!("{t}.").into_bytes();
        base.extend_from_slice(body);
        hex::encode(hmac_sha256(secret.as_bytes(), &base))
    };
    let t = now_s();
    let header = format!("t={t},v1={},v1={}", "00".repeat(32), sign(t));
    let r = app.client.post(&url).header("stripe-signature", header).body(&body[..]).send().await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let old = t - 3600;
    let r = app
        .client
        .post(&url)
        .header("stripe-signature", format!("t={old},v1={}", sign(old)))
        .body(&body[..])
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "old").await;
    let r = app.client.post(&url).header("stripe-signature", "v1=zz").body(&body[..]).send().await.unwrap();
    assert_error(r, 401, "Stripe-Signature").await;

    // Standard Webhooks, signed by the reference Python package.
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let (id, url) = define(
        &app,
        json!({"name": "svix", "source_platform": "custom", "verifier": "standard_webhooks", "secret": secret, "flows_to_start": start}),
    )
    .await;
    let payload = r#"{"type": "invoice.paid", "amount": 42}"#;
    let signed = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, datetime\nfrom standardwebhooks.webhooks import Webhook\nnow = datetime.datetime.now(tz=datetime.timezone.utc)\nprint(int(now.timestamp()))\nprint(Webhook(sys.argv[1]).sign('msg_2KWPBgLlAfxdpx2AI54pPJ85f4W', now, sys.argv[2]))",
            secret,
            payload,
        ])
        .output()
        .unwrap();
    assert!(signed.status.success(), "{}", String::from_utf8_lossy(&signed.stderr));
    let out = String::from_utf8(signed.stdout).unwrap();
    let (ts, sig) = out.trim().split_once('\n').unwrap();
    let r = app
        .client
        .post(&url)
        .header("webhook-id", "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
        .header("webhook-timestamp", ts)
        .header("webhook-signature", format!("v1,bm90IHRoaXMgb25l {sig}"))
        .body(payload)
        .send()
        .await
        .unwrap();
    let answer: Value = r.json().await.unwrap();
    let job = answer["jobs"][0].as_str().expect("a job").to_owned();
    assert_eq!(app.wait_done(&job, 60).await["result"]["amount"], 42);
    let e: Value =
        app.get(&format!("/inbound_webhooks/event/{id}/msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")).await.json().await.unwrap();
    assert_eq!(e["outcome"], "verified", "{e}");
    let r = app
        .client
        .post(&url)
        .header("webhook-id", "msg_other")
        .header("webhook-timestamp", ts)
        .header("webhook-signature", sig)
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "signature").await;

    // A header verifier: the configured header with exactly its value; values read as ***.
    let r = app
        .post_json(
            "/inbound_webhooks/create",
            &json!({"name": "custom", "headers": {"X-Api-Token": "tok-123"}, "flows_to_start": start}),
        )
        .await;
    assert_eq!(r.status(), 201);
    let def: Value = r.json().await.unwrap();
    assert_eq!(def["headers"], json!({"X-Api-Token": "***"}));
    let url = def["url"].as_str().unwrap().to_owned();
    let r = app.client.post(&url).header("x-api-token", "tok-123").body("{\"n\": 1}").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    let job = answer["jobs"][0].as_str().expect("a job").to_owned();
    let done = app.wait_done(&job, 60).await;
    // The header's value is the shared secret: the job does not get it.
    assert!(!done["result"].to_string().contains("tok-123"), "{done}");
    assert_eq!(done["result"]["n"], 1);
    let r = app.client.post(&url).header("x-api-token", "tok-124").body("{\"n\": 1}").send().await.unwrap();
    let refused = assert_error(r, 401, "verification").await;
    assert!(
        !refused.to_string().to_lowercase().contains("x-api-token"),
        "the answer names no expected header: {refused}"
    );

    // An enormous body: 413, recorded, nothing runs.
    let big = vec![b'x'; 17 << 20];
    // A client of its own: the server closes the connection of an oversized request.
    // The server answers 413 and closes the connection without reading the body; a client still writing it may see
    // the broken pipe before the answer. Either way the request is recorded as too large and nothing runs.
    match reqwest::Client::new().post(&url).header("x-api-token", "tok-123").body(big).send().await {
        Ok(r) => assert_eq!(r.status(), 413),
        Err(e) => assert!(e.is_request() || e.is_body(), "{e:?}"),
    }
    let id = def["id"].as_str().unwrap();
    let events: Value = app.get(&format!("/inbound_webhooks/events/{id}")).await.json().await.unwrap();
    assert_eq!(events[0]["outcome"], "too_large", "{events}");
}

#[tokio::test]
async fn idempotency_keys_resolve_from_the_event_and_strategies_apply() {
    let app = spawn_app();
    app.create_script("u/admin/echo", "python3", ECHO).await;
    app.create_script("u/admin/slow", "bash", "sleep 2").await;
    let (_, url) = define(
        &app,
        json!({"name": "orders", "headers": {"x-token": "t"}, "flows_to_start": [
            {"path": "u/admin/echo", "idempotency_key": "order-${$.order.id}"},
            {"path": "u/admin/echo", "idempotency_key": "$.order.id", "idempotency_strategy": "fail"}
        ]}),
    )
    .await;
    let send =
        |id: i64| app.client.post(&url).header("x-token", "t").body(json!({"order": {"id": id}}).to_string()).send();
    let first: Value = send(7).await.unwrap().json().await.unwrap();
    let ids = first["jobs"].as_array().unwrap().clone();
    assert_eq!(ids.len(), 2, "{first}");
    // The same order again: return_existing answers the first run; fail answers none.
    let again: Value = send(7).await.unwrap().json().await.unwrap();
    assert_eq!(again["jobs"], json!([ids[0]]), "{again}");
    // Another order starts both.
    let other: Value = send(8).await.unwrap().json().await.unwrap();
    assert_eq!(other["jobs"].as_array().unwrap().len(), 2, "{other}");
    assert!(!other["jobs"].as_array().unwrap().contains(&ids[0]));
    // fail_on_running: a new run once the holder of the key has ended, none while it runs.
    let (_, url2) = define(
        &app,
        json!({"name": "slow", "headers": {"x-token": "t"}, "flows_to_start": [
            {"path": "u/admin/slow", "idempotency_key": "$.k", "idempotency_strategy": "fail_on_running"}]}),
    )
    .await;
    let send2 = |k: &str| app.client.post(&url2).header("x-token", "t").body(json!({"k": k}).to_string()).send();
    let a: Value = send2("x").await.unwrap().json().await.unwrap();
    let held = a["jobs"][0].as_str().expect("a run").to_owned();
    let b: Value = send2("x").await.unwrap().json().await.unwrap();
    assert_eq!(b["jobs"], json!([]), "the holder runs: {b}");
    app.wait_done(&held, 60).await;
    let c: Value = send2("x").await.unwrap().json().await.unwrap();
    let next = c["jobs"][0].as_str().expect("a new run after the holder ended").to_owned();
    assert_ne!(next, held);
    // A strategy without a key is refused at save time.
    let r = app
        .post_json(
            "/inbound_webhooks/create",
            &json!({"name": "x", "headers": {"x-token": "t"},
            "flows_to_start": [{"path": "u/admin/echo", "idempotency_strategy": "fail"}]}),
        )
        .await;
    assert_error(r, 400, "idempotency_strategy").await;
}

#[tokio::test]
async fn teams_and_sendgrid_requests_signed_as_the_platforms_sign_them() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let app = spawn_app();
    app.create_script("u/admin/echo", "python3", ECHO).await;
    let start = json!([{"path": "u/admin/echo"}]);

    // Teams: Authorization: HMAC <base64 HMAC-SHA256 of the body, keyed by the base64-decoded token>.
    let token = b64.encode(b"a teams security token of 32 b!");
    let (_, url) =
        define(&app, json!({"name": "teams", "source_platform": "teams", "secret": token, "flows_to_start": start}))
            .await;
    let body = br#"{"type": "message", "id": "1485983408511", "text": "<at>Orvanta</at> deploy"}"#;
    let mac = b64.encode(hmac_sha256(&b64.decode(&token).unwrap(), body));
    let r = app.client.post(&url).header("authorization", format!("HMAC {mac}")).body(&body[..]).send().await.unwrap();
    let answer: Value = r.json().await.unwrap();
    let job = answer["jobs"][0].as_str().expect("a job").to_owned();
    assert_eq!(app.wait_done(&job, 60).await["result"]["text"], "<at>Orvanta</at> deploy");
    let r = app.client.post(&url).header("authorization", format!("HMAC {mac}")).body("{}").send().await.unwrap();
    assert_error(r, 401, "verification").await;

    // SendGrid: ECDSA P-256 over timestamp + body, signed here with Python's `cryptography`.
    let signer = r#"
import base64, sys, time
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
key = ec.generate_private_key(ec.SECP256R1())
public = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
ts = str(int(time.time()))
body = sys.argv[1].encode()
sig = key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
print(base64.b64encode(public).decode()); print(ts); print(base64.b64encode(sig).decode())
"#;
    let body = r#"[{"email": "a@example.com", "event": "delivered", "sg_event_id": "sg-1"}]"#;
    let out = std::process::Command::new("python3").args(["-c", signer, body]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    let (public_key, ts, sig) = (lines[0], lines[1], lines[2]);
    let (id, url) = define(
        &app,
        json!({"name": "sendgrid", "source_platform": "sendgrid", "public_key": public_key, "flows_to_start": start}),
    )
    .await;
    let post = |sig: &str, body: &str| {
        app.client
            .post(&url)
            .header("x-twilio-email-event-webhook-signature", sig)
            .header("x-twilio-email-event-webhook-timestamp", ts)
            .body(body.to_owned())
            .send()
    };
    let answer: Value = post(sig, body).await.unwrap().json().await.unwrap();
    let job = answer["jobs"][0].as_str().expect("a job").to_owned();
    // A JSON array body arrives under `body`.
    assert_eq!(app.wait_done(&job, 60).await["result"]["body"][0]["event"], "delivered");
    assert_error(post(sig, "[]").await.unwrap(), 401, "signature").await;
    assert_error(post("not base64 !!", body).await.unwrap(), 401, "base64").await;
    // The public key reads back as given (it is not a secret).
    let def: Value = app.get(&format!("/inbound_webhooks/get/{id}")).await.json().await.unwrap();
    assert_eq!(def["public_key"], public_key);
}

#[tokio::test]
async fn a_twitter_crc_verifies_the_url_and_a_far_future_timestamp_is_refused() {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    let app = spawn_app();
    // Twitter's CRC: a GET with crc_token answered with its HMAC; it verifies the URL.
    let secret = "twitter consumer secret";
    let (id, url) =
        define(&app, json!({"name": "x", "source_platform": "custom", "verifier": "twitter", "secret": secret})).await;
    let r = app.client.get(format!("{url}?crc_token=challenge123")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = r.json().await.unwrap();
    let expected = format!("sha256={}", b64.encode(hmac_sha256(secret.as_bytes(), b"challenge123")));
    assert_eq!(answer["response_token"], expected.as_str());
    let def: Value = app.get(&format!("/inbound_webhooks/get/{id}")).await.json().await.unwrap();
    assert_eq!(def["url_verified"], true);

    // Slack with a timestamp an hour ahead, correctly signed: refused, recorded, nothing runs.
    let secret = "slack signing secret";
    let (id, url) = define(&app, json!({"name": "slack", "source_platform": "slack", "secret": secret})).await;
    let ts = (now_s() + 3600).to_string();
    let body = r#"{"type": "event_callback", "event_id": "Ev9"}"#;
    let sig = format!("v0={}", hex::encode(hmac_sha256(secret.as_bytes(), format!("v0:{ts}:{body}").as_bytes())));
    let r = app
        .client
        .post(&url)
        .header("x-slack-request-timestamp", ts)
        .header("x-slack-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_error(r, 401, "future").await;
    let events: Value = app.get(&format!("/inbound_webhooks/events/{id}")).await.json().await.unwrap();
    assert_eq!((events[0]["outcome"].as_str(), events[0]["jobs"].as_array().map(Vec::len)), (Some("refused"), Some(0)));
}

/// Starts `u/admin/on_push` with an idempotency key; the job's id.
async fn keyed(app: &TestApp, key: &str) -> String {
    let args = json!({"ref": "r", "WEBHOOK__METADATA__": {"event_id": "e", "platform": "p"}});
    let r = app.client.post(app.ws("/jobs/run/p/u/admin/on_push")).bearer_auth(TOKEN).header("Idempotency-Key", key);
    r.json(&args).send().await.unwrap().text().await.unwrap()
}

/// The sweep's purges through the binary (their SQL is tested on both
/// backends by the store's conformance suite): at its first pass after a
/// start, history older than the keeping time goes with its delivery ids (a
/// platform's retry of such a delivery acts again), and an idempotency key
/// whose window ended more than a minute ago is deleted. The ages are set in
/// the database while the server is stopped.
#[tokio::test]
async fn the_sweep_purges_old_history_and_ended_idempotency_keys() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Opts { data_dir: Some(dir.path().to_path_buf()), ..Default::default() };
    let db = dir.path().join("orvanta.db");
    let app = start(opts.clone());
    app.create_script("u/admin/on_push", "python3", ON_PUSH).await;
    let (id, url) = define(
        &app,
        json!({"name": "gh", "source_platform": "github", "secret": "s", "flows_to_start": [{"path": "u/admin/on_push"}]}),
    )
    .await;
    let push = json!({"ref": "refs/heads/main"});
    let first: Value = deliver(&app, &url, "s", "push", "d-old", &push).await.json().await.unwrap();
    app.wait_done(first["jobs"][0].as_str().expect("a job"), 60).await;
    let kept = keyed(&app, "kept").await;
    let ended = keyed(&app, "ended").await;
    app.wait_done(&kept, 60).await;
    app.wait_done(&ended, 60).await;
    drop(app);

    let day_ms = 86_400_000i64;
    let now_ms = chrono::Utc::now().timestamp_millis();
    run_sqlite(
        &db,
        &[
            &format!("UPDATE hook_events SET received_at = received_at - {}", 31 * day_ms),
            &format!("UPDATE hook_deliveries SET received_at = received_at - {}", 31 * day_ms),
            // Ended two minutes ago: past the minute of grace.
            &format!("UPDATE idempotency_keys SET expires_at = {} WHERE key = 'ended'", now_ms - 120_000),
        ],
    );
    let count = |what: &str| run_sqlite(&db, &[&format!("SELECT COUNT(*) FROM {what}")]);
    assert_eq!(count("idempotency_keys WHERE key IN ('kept', 'ended')"), "2");

    let app = start(opts);
    let mut left = String::new();
    for _ in 0..300 {
        left = count("hook_events");
        if left == "0" && count("idempotency_keys WHERE key = 'ended'") == "0" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(left, "0", "the history past 30 days is purged");
    assert_eq!(count("idempotency_keys WHERE key = 'ended'"), "0", "the ended key is purged");
    assert_eq!(count("idempotency_keys WHERE key = 'kept'"), "1", "a key in its window stays");
    assert_eq!(keyed(&app, "kept").await, kept, "and still finds its job");
    let events: Value = app.get(&format!("/inbound_webhooks/events/{id}")).await.json().await.unwrap();
    assert_eq!(events, json!([]));
    // The delivery id went with its history: the platform's retry acts again.
    let url = app.url(&format!("/webhook/{id}")); // a new port since the restart
    let again: Value = deliver(&app, &url, "s", "push", "d-old", &push).await.json().await.unwrap();
    assert_eq!(again["jobs"].as_array().map(Vec::len), Some(1), "{again}");
}
