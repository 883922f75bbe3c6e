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
