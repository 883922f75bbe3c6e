//! Token expiry notices: the sweep mails the owner through a real SMTP
//! server (`aiosmtpd`, see `smtp_sink`) once per token, not once per sweep,
//! not again after a restart, not twice with several processes on one
//! PostgreSQL database; without SMTP it records them all the same.

use crate::harness::*;
use crate::smtp_sink::{self, SmtpSink};
use orvanta_store::{NoticeKind, NoticeStatus, Store};
use serde_json::{json, Value};
use std::time::Duration;

/// An RFC 3339 time `secs` from now.
fn in_secs(secs: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::seconds(secs)).to_rfc3339()
}

const DAYS_3: i64 = 3 * 86_400;

/// Options that sweep every second, with `env` added.
fn sweeping(db: Db, env: Vec<(String, String)>) -> Opts {
    let mut o = Opts { db, env, ..Default::default() };
    o.env.push(("ORVANTA_TOKEN_SWEEP_S".into(), "1".into()));
    o
}

/// The prefixes and labels of the admin's tokens.
async fn token_list(app: &TestApp) -> Vec<(String, String)> {
    let r = app.client.get(app.url("/api/users/tokens/list")).bearer_auth(&app.token).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let list: Vec<Value> = r.json().await.unwrap();
    list.iter()
        .map(|t| (t["token_prefix"].as_str().unwrap().to_owned(), t["label"].as_str().unwrap_or("").to_owned()))
        .collect()
}

fn prefix_of(list: &[(String, String)], label: &str) -> String {
    list.iter().find(|(_, l)| l == label).unwrap_or_else(|| panic!("no token '{label}' in {list:?}")).0.clone()
}

/// The mails whose subject names `label` and says `says`.
fn about<'a>(mails: &'a [Value], label: &str, says: &str) -> Vec<&'a Value> {
    mails
        .iter()
        .filter(|m| {
            let subject = m["subject"].as_str().unwrap_or("");
            subject.contains(&format!("\"{label}\"")) && subject.contains(says)
        })
        .collect()
}

const SOON: &str = "expires on";
const GONE: &str = "expired and was deleted";

/// Creates the two tokens the mail tests follow: one expiring in three days
/// (restricted to `demo`) and one in two seconds. Answers their secrets.
async fn two_tokens(app: &TestApp, soon: &str, gone: &str) -> (String, String) {
    let a = app.create_token(&json!({"label": soon, "expiration": in_secs(DAYS_3), "workspace_id": "demo"})).await;
    let b = app.create_token(&json!({"label": gone, "expiration": in_secs(2)})).await;
    (a, b)
}

/// Waits for exactly the mails of [`two_tokens`], and checks them.
async fn expect_two_mails(app: &TestApp, sink: &SmtpSink, soon: &str, gone: &str, secrets: &[&str]) {
    let list = token_list(app).await;
    let (soon_prefix, gone_prefix) = (prefix_of(&list, soon), prefix_of(&list, gone));
    let mails = sink
        .wait_for(30, "the two notices", |m| !about(m, soon, SOON).is_empty() && !about(m, gone, GONE).is_empty())
        .await;
    let soon_mails = about(&mails, soon, SOON);
    assert_eq!(soon_mails.len(), 1, "one 'expiring soon' mail: {mails:#?}");
    let mail = soon_mails[0];
    assert_eq!(mail["rcpt_to"], json!(["admin@orvanta.local"]));
    assert_eq!(mail["mail_from"], "orvanta@tests.example");
    let body = mail["body"].as_str().unwrap();
    for needle in [soon, soon_prefix.as_str(), "workspace demo", "create a new token"] {
        assert!(body.contains(needle), "the mail does not name {needle:?}: {body}");
    }
    assert_eq!(about(&mails, gone, GONE).len(), 1, "one 'expired' mail: {mails:#?}");
    let body = about(&mails, gone, GONE)[0]["body"].as_str().unwrap();
    assert!(body.contains(&gone_prefix) && body.contains("all of your workspaces"), "{body}");
    // The short-lived token may have been noticed as expiring soon first
    // (when a sweep saw it before it expired), never twice.
    assert!(about(&mails, gone, SOON).len() <= 1, "{mails:#?}");
    assert!(about(&mails, soon, GONE).is_empty());
    for m in &mails {
        for secret in secrets {
            assert!(!m["raw"].as_str().unwrap().contains(secret), "a mail shows a token's secret: {m}");
        }
    }
}

async fn assert_no_more_mails(sink: &SmtpSink, count: usize, secs: u64) {
    tokio::time::sleep(Duration::from_secs(secs)).await;
    assert_eq!(sink.mails().len(), count, "no notice twice: {:#?}", sink.mails());
}

#[tokio::test]
async fn expiry_notices_are_mailed_once_and_not_again_after_a_restart() {
    let sink = SmtpSink::start();
    let data = tempfile::tempdir().unwrap();
    let mut opts = sweeping(Db::Sqlite, sink.env());
    opts.data_dir = Some(data.path().to_path_buf());
    let app = start(opts.clone());
    // Bob's login makes a session that expires in 7 days: sessions get no
    // notice. The token he makes himself does, mailed to him.
    let bob = app.user("bob").await;
    let r = app
        .client
        .post(app.url("/api/users/tokens/create"))
        .bearer_auth(&bob.token)
        .json(&json!({"label": "bob-soon", "expiration": in_secs(DAYS_3)}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let bobs = r.text().await.unwrap();
    let (a, b) = two_tokens(&app, "deploy-soon", "ci-gone").await;
    expect_two_mails(&app, &sink, "deploy-soon", "ci-gone", &[&a, &b, &bobs, &bob.token]).await;
    let mails = sink.wait_for(30, "bob's notice", |m| !about(m, "bob-soon", SOON).is_empty()).await;
    let to_bob: Vec<&Value> = mails.iter().filter(|m| m["rcpt_to"] == json!(["bob@example.com"])).collect();
    assert_eq!(to_bob.len(), 1, "one notice for bob's token, none for his session: {mails:#?}");
    assert!(to_bob[0]["body"].as_str().unwrap().contains("Hello bob,"));
    let count = mails.len();
    let left = token_list(&app).await;
    assert!(left.iter().any(|(_, l)| l == "deploy-soon"));
    assert!(!left.iter().any(|(_, l)| l == "ci-gone"), "the expired token is deleted: {left:?}");
    // Further sweeps send nothing more...
    assert_no_more_mails(&sink, count, 3).await;
    drop(app);
    // ...and neither does a restart on the same data.
    let again = start(opts);
    assert_eq!(token_list(&again).await.len(), left.len());
    assert_no_more_mails(&sink, count, 3).await;
}

#[tokio::test]
async fn several_processes_on_postgres_mail_each_notice_once() {
    let sink = SmtpSink::start();
    let url = fresh_pg_database().await;
    let mut server = sweeping(Db::Postgres(url.clone()), sink.env());
    server.role = "server";
    let app = start(server.clone());
    let mut worker = server.clone();
    worker.role = "worker";
    worker.env.push(("ORVANTA_BASE_URL".into(), app.base.clone()));
    let w1 = start(worker.clone());
    let w2 = start(worker);
    let (a, b) = two_tokens(&app, "pg-soon", "pg-gone").await;
    expect_two_mails(&app, &sink, "pg-soon", "pg-gone", &[&a, &b]).await;
    let count = sink.mails().len();
    assert_no_more_mails(&sink, count, 3).await;
    drop((app, w1, w2));
    let _again = start(server);
    assert_no_more_mails(&sink, count, 3).await;
}

/// The store of a running app on SQLite, opened beside it.
async fn store_of(app: &TestApp) -> std::sync::Arc<dyn Store> {
    let url = format!("sqlite:{}", app.data_dir().join("orvanta.db").display());
    orvanta_store::connect(&url, &Default::default()).await.unwrap()
}

#[tokio::test]
async fn without_smtp_notices_and_events_are_recorded_and_nothing_fails() {
    let app = start(sweeping(Db::Sqlite, Vec::new()));
    app.create_token(&json!({"label": "quiet-soon", "expiration": in_secs(DAYS_3)})).await;
    app.create_token(&json!({"label": "quiet-gone", "expiration": in_secs(2), "workspace_id": "demo"})).await;
    let until = std::time::Instant::now() + Duration::from_secs(30);
    while token_list(&app).await.iter().any(|(_, l)| l == "quiet-gone") {
        assert!(std::time::Instant::now() < until, "the expired token was not deleted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let store = store_of(&app).await;
    let notices = store.list_token_notices(0, 100).await.unwrap();
    let find = |kind: NoticeKind, label: &str| notices.iter().filter(|n| n.kind == kind && n.label == label).count();
    assert_eq!(find(NoticeKind::TokenExpiringSoon, "quiet-soon"), 1, "{notices:?}");
    assert_eq!(find(NoticeKind::TokenExpired, "quiet-gone"), 1, "{notices:?}");
    assert!(
        notices.iter().all(|n| n.status == NoticeStatus::Pending && n.attempts == 0),
        "nothing is sent: {notices:?}"
    );

    let events = store.list_workspace_events(&orvanta_core::WorkspaceId::parse("demo").unwrap(), 0, 100).await.unwrap();
    let payloads: Vec<Value> = events.iter().map(|e| serde_json::from_str(&e.payload).unwrap()).collect();
    let gone = payloads.iter().find(|p| p["type"] == "TokenExpired" && p["label"] == "quiet-gone").expect("an event");
    assert_eq!(gone["workspace"], "demo");
    assert_eq!(gone["owner"], "admin");
    assert!(gone["token_prefix"].as_str().unwrap().starts_with("orv_"));
    assert!(chrono::DateTime::parse_from_rfc3339(gone["expires_at"].as_str().unwrap()).is_ok(), "{gone}");
    assert!(payloads.iter().any(|p| p["type"] == "TokenExpiringSoon" && p["label"] == "quiet-soon"), "{payloads:?}");
    let r = app.client.get(app.url("/api/health")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn a_mail_that_fails_is_tried_again() {
    let port = smtp_sink::free_port();
    let app = start(sweeping(Db::Sqlite, smtp_sink::env_for(port)));
    app.create_token(&json!({"label": "retry-soon", "expiration": in_secs(DAYS_3)})).await;
    let store = store_of(&app).await;
    let until = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let notices = store.list_token_notices(0, 10).await.unwrap();
        if let Some(n) = notices.iter().find(|n| n.label == "retry-soon" && n.attempts >= 1) {
            assert_eq!(n.status, NoticeStatus::Pending, "a refused connection is tried again: {n:?}");
            assert!(n.last_error.is_some(), "{n:?}");
            break;
        }
        assert!(std::time::Instant::now() < until, "no attempt was made: {notices:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The server comes up: the next attempt (5 s after the first) delivers.
    let sink = SmtpSink::start_on(port);
    let mails = sink.wait_for(30, "the retried notice", |m| !about(m, "retry-soon", SOON).is_empty()).await;
    assert_eq!(mails.len(), 1);
    // The server marks it sent once the sink answered: moments after the
    // sink has the mail, not before (a read at once raced that write).
    let until = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let notices = store.list_token_notices(0, 10).await.unwrap();
        let notice = notices.into_iter().find(|n| n.label == "retry-soon").unwrap();
        if notice.status != NoticeStatus::Pending || std::time::Instant::now() >= until {
            assert_eq!((notice.status, notice.attempts), (NoticeStatus::Sent, 2), "{notice:?}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
