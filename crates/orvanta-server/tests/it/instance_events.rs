//! The instance events webhook (contract §9): users added, invited, added
//! to and joining a workspace arrive once, in order, signed as the
//! workspace webhook's events are; only super admins see or set it.

use crate::harness::*;
use crate::outbound::{opts, until_settled, verify_all, Receiver};
use serde_json::{json, Value};
use std::time::Duration;

const HOOK: &str = "/api/settings/global/instance_events_webhook";
const SETTINGS: &str = "/api/settings/instance_events_webhook";

async fn as_admin(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> reqwest::Response {
    let mut req = app.client.request(method.parse().unwrap(), app.url(path)).bearer_auth(TOKEN);
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

#[tokio::test]
async fn users_added_invited_and_joining_arrive_once_in_order_and_signed() {
    let receiver = Receiver::default();
    let url = receiver.clone().start().await;
    let app = start(opts(None));
    // The first start's own events (its admin, the demo workspace) settle first: skipped, with no webhook.
    let deliveries = format!("{SETTINGS}/deliveries");
    until_settled(|| async { as_admin(&app, "GET", &deliveries, None).await.json().await.unwrap() }).await;
    assert_eq!(as_admin(&app, "GET", HOOK, None).await.json::<Value>().await.unwrap(), Value::Null);
    let r = as_admin(&app, "POST", HOOK, Some(json!({"value": url}))).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(as_admin(&app, "GET", HOOK, None).await.json::<Value>().await.unwrap(), json!(url));
    let settings: Value = as_admin(&app, "GET", SETTINGS, None).await.json().await.unwrap();
    let secret = settings["webhook_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{settings}");

    // A user made, then added to demo; an email invited, whose user accepts.
    let bob = app.user("bob").await;
    app.add_member(&bob, "developer").await;
    let invite = json!({"email": "erin@example.com", "is_admin": false});
    assert_eq!(app.post_json("/workspaces/invite_user", &invite).await.status(), 201);
    let erin = app.user("erin").await;
    let r = app.client.post(app.url("/api/users/accept_invite")).bearer_auth(&erin.token);
    assert_eq!(r.json(&json!({"workspace_id": "demo"})).send().await.unwrap().status(), 200);
    // A role change is no new member: no event.
    app.add_member(&bob, "operator").await;

    let kinds = receiver.wait_for(5, 30).await;
    assert_eq!(kinds, ["UserAdded", "UserAddedWorkspace", "UserInvitedWorkspace", "UserAdded", "UserJoinedWorkspace"]);
    let got = receiver.got.lock().unwrap().clone();
    verify_all(&secret, &got);
    let bodies: Vec<Value> = got.iter().map(|(_, b)| serde_json::from_str(b).unwrap()).collect();
    assert_eq!((bodies[0]["email"].clone(), bodies[0]["username"].clone()), (json!("bob@example.com"), json!("bob")));
    assert_eq!(bodies[1]["workspace"], "demo");
    assert_eq!(bodies[1]["role"], "developer");
    assert_eq!(bodies[2]["email"], "erin@example.com");
    assert_eq!(bodies[4]["username"], "erin");
    assert!(bodies.iter().all(|b| b["timestamp"].is_string()), "{bodies:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.got.lock().unwrap().len(), 5, "once: {:?}", receiver.kinds());

    // The log, one event's attempts, a replay.
    until_settled(|| async { as_admin(&app, "GET", &deliveries, None).await.json().await.unwrap() }).await;
    let log: Value = as_admin(&app, "GET", &format!("{SETTINGS}/deliveries"), None).await.json().await.unwrap();
    let delivered: Vec<&Value> = log.as_array().unwrap().iter().filter(|e| e["state"] == "delivered").collect();
    assert_eq!(delivered.len(), 5, "{log}");
    let id = delivered[0]["id"].as_i64().unwrap();
    let one: Value = as_admin(&app, "GET", &format!("{SETTINGS}/deliveries/{id}"), None).await.json().await.unwrap();
    assert_eq!(one["attempt_log"][0]["status"], 200, "{one}");
    let r = as_admin(&app, "POST", &format!("{SETTINGS}/deliveries/replay"), Some(json!({"id": id}))).await;
    assert_eq!(r.status(), 200);
    receiver.wait_for(6, 30).await;
    let missing = as_admin(&app, "GET", &format!("{SETTINGS}/deliveries/999999"), None).await;
    assert_error(missing, 404, "no event 999999 in the instance").await;

    // Only super admins: not bob, not a workspace admin, not a job.
    for (method, path) in [("GET", HOOK), ("POST", HOOK), ("GET", SETTINGS), ("GET", &format!("{SETTINGS}/deliveries"))]
    {
        let mut req = app.client.request(method.parse().unwrap(), app.url(path)).bearer_auth(&bob.token);
        if method == "POST" {
            req = req.json(&json!({"value": null}));
        }
        assert_eq!(req.send().await.unwrap().status(), 403, "{method} {path}");
    }
    // Not a super admin's token restricted to one workspace either.
    let r = app.client.post(app.url("/api/users/tokens/create")).bearer_auth(TOKEN);
    let restricted =
        r.json(&json!({"label": "ci", "workspace_id": "demo"})).send().await.unwrap().text().await.unwrap();
    let r = app.client.get(app.url(SETTINGS)).bearer_auth(&restricted).send().await.unwrap();
    assert_error(r, 403, "restricted to one workspace").await;
    let r = as_admin(&app, "POST", HOOK, Some(json!({"value": 3}))).await;
    assert_error(r, 400, "value must be the webhook's URL").await;
    let r = as_admin(&app, "POST", HOOK, Some(json!({"value": "http://169.254.169.254/x"}))).await;
    assert_eq!(r.status(), 200, "the tests allow internal addresses");
    // Off: later events are skipped.
    assert_eq!(as_admin(&app, "POST", HOOK, Some(json!({"value": null}))).await.status(), 200);
    assert_eq!(as_admin(&app, "GET", HOOK, None).await.json::<Value>().await.unwrap(), Value::Null);
}

#[tokio::test]
async fn workspace_events_never_reach_the_instance_webhook_nor_the_reverse() {
    let receiver = Receiver::default();
    let url = receiver.clone().start().await;
    let app = start(opts(None));
    let r = as_admin(&app, "POST", HOOK, Some(json!({"value": url}))).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.post_json("/folders/create", &json!({"name": "team"})).await.status(), 201);
    app.user("carol").await;
    // The bootstrap's events may arrive too (the webhook was set before they were settled); carol's must.
    let until = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let bodies: Vec<String> = receiver.got.lock().unwrap().iter().map(|(_, b)| b.clone()).collect();
        if bodies.iter().any(|b| b.contains("carol@example.com")) {
            break;
        }
        assert!(std::time::Instant::now() < until, "carol's UserAdded never arrived: {:?}", receiver.kinds());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!receiver.kinds().contains(&"CreateFolder".to_owned()), "{:?}", receiver.kinds());
    let ws_log: Value = app.get("/workspaces/webhook_deliveries").await.json().await.unwrap();
    assert!(ws_log.as_array().unwrap().iter().all(|e| !e["type"].as_str().unwrap().starts_with("User")), "{ws_log}");
}
