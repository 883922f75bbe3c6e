//! The workspace webhook against a receiver that hangs, then answers
//! slowly: an endpoint that does not answer within `ORVANTA_WEBHOOK_TIMEOUT_S`
//! is a failed attempt (recorded with no status) and is retried; a slow
//! answer within the timeout is a delivery.

use crate::harness::*;
use crate::outbound::{opts, point_at};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn a_hanging_endpoint_is_a_failed_attempt_and_a_slow_one_a_delivery() {
    // Delays to answer with, in turn: the first request hangs past the timeout, the second is slow but in time.
    let delays = Arc::new(Mutex::new(vec![Duration::from_secs(30), Duration::from_millis(600)]));
    let got = Arc::new(Mutex::new(0usize));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (d, g) = (delays.clone(), got.clone());
    let app_router = axum::Router::new().route(
        "/hook",
        axum::routing::post(move || {
            let (d, g) = (d.clone(), g.clone());
            async move {
                *g.lock().unwrap() += 1;
                let wait = { d.lock().unwrap().pop_front_or_zero() };
                tokio::time::sleep(wait).await;
                "ok"
            }
        }),
    );
    tokio::spawn(async move { axum::serve(listener, app_router).await.unwrap() });

    let mut o = opts(None);
    o.env.push(("ORVANTA_WEBHOOK_TIMEOUT_S".into(), "1".into()));
    let app = start(o);
    point_at(&app, &url).await;
    let r = app.post_json("/variables/create", &json!({"path": "u/admin/slow", "value": "v"})).await;
    assert_eq!(r.status(), 201);

    let until = std::time::Instant::now() + Duration::from_secs(60);
    let event = loop {
        let log: Value = app.get("/workspaces/webhook_deliveries").await.json().await.unwrap();
        let e = log.as_array().unwrap().iter().find(|e| e["type"] == "CreateVariable").cloned();
        if let Some(e) = e.filter(|e| e["state"] == "delivered") {
            break e;
        }
        assert!(std::time::Instant::now() < until, "not delivered: {log}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let one: Value = app.get(&format!("/workspaces/webhook_deliveries/{}", event["id"])).await.json().await.unwrap();
    let attempts = one["attempt_log"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{one}");
    assert_eq!(attempts[0]["status"], Value::Null, "the hanging attempt has no answer: {one}");
    assert!(attempts[0]["response"].as_str().unwrap().contains("no answer"), "{one}");
    assert!(attempts[0]["latency_ms"].as_i64().unwrap() >= 900, "cut at the timeout: {one}");
    assert_eq!(attempts[1]["status"], 200, "{one}");
    assert!(attempts[1]["latency_ms"].as_i64().unwrap() >= 500, "the slow answer, within the timeout: {one}");
    assert_eq!(*got.lock().unwrap(), 2);
}

trait PopFront {
    fn pop_front_or_zero(&mut self) -> Duration;
}

impl PopFront for Vec<Duration> {
    fn pop_front_or_zero(&mut self) -> Duration {
        if self.is_empty() {
            Duration::ZERO
        } else {
            self.remove(0)
        }
    }
}
