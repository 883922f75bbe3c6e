//! What only PostgreSQL has: clear errors when opening fails, several
//! processes migrating and listening on one database, and a listener that
//! survives a server restart.

use crate::fixtures::*;
use crate::harness::{options, pg_admin_url, with_database, PgDatabase};
use orvanta_store::{ConnectOptions, JobEvent, StoreError};
use std::time::Duration;

fn quick() -> ConnectOptions {
    ConnectOptions { max_connections: 2, acquire_timeout: Duration::from_secs(2) }
}

#[tokio::test]
async fn bad_url_is_a_config_error() {
    let url = "postgres://orvanta:hunter2@127.0.0.1:notaport/db";
    match orvanta_store::connect(url, &quick()).await.map(|_| ()) {
        Err(StoreError::Config(msg)) => {
            assert!(!msg.contains("hunter2"), "the password leaked: {msg}");
            assert!(msg.contains("orvanta:***@127.0.0.1"), "{msg}");
        }
        other => panic!("expected a Config error, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_server_is_unavailable_and_named() {
    let url = "postgres://orvanta:hunter2@127.0.0.1:1/db";
    match orvanta_store::connect(url, &quick()).await.map(|_| ()) {
        Err(StoreError::Unavailable(msg)) => {
            assert!(!msg.contains("hunter2"), "the password leaked: {msg}");
            assert!(msg.contains("127.0.0.1:1"), "the message names host and port: {msg}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
}

#[tokio::test]
async fn missing_database_is_a_config_error() {
    let url = with_database(&pg_admin_url(), "orvanta_no_such_database");
    match orvanta_store::connect(&url, &quick()).await.map(|_| ()) {
        Err(StoreError::Config(msg)) => assert!(msg.contains("orvanta_no_such_database"), "{msg}"),
        other => panic!("expected a Config error, got {other:?}"),
    }
}

/// Several processes starting at once on a fresh database migrate it once,
/// and each hears the others' events.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn processes_share_migrations_and_events() {
    let db = PgDatabase::create().await;
    let url = db.url();
    let opening: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { orvanta_store::postgres::PgStore::open(&url, &options()).await })
        })
        .collect();
    let mut stores = Vec::new();
    for o in opening {
        stores.push(std::sync::Arc::new(o.await.unwrap().expect("every process opens the database"))
            as std::sync::Arc<dyn orvanta_store::Store>);
    }

    let mut rx = stores[1].subscribe();
    let id = enqueue_one(&*stores[0], new_job()).await;
    expect_event(&mut rx, "an enqueue in another process", |e| *e == JobEvent::Enqueued).await;
    let job = stores[2].claim(&claim_at("w1", &default_tags(), T0)).await.unwrap().expect("claimed elsewhere");
    assert_eq!(job.id, id);
    expect_event(&mut rx, "a claim in another process", |e| *e == JobEvent::Started(id)).await;
}

/// Restarts the PostgreSQL server, so it runs only when asked, alone:
/// `cargo test -p orvanta-store --test conformance -- --ignored --exact pg_only::listener_survives_restart`.
/// Set `ORVANTA_TEST_PG_RESTART` to the command that restarts the server
/// (default: `pg_ctlcluster --skip-systemctl-redirect <the installed version> main restart`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "restarts the PostgreSQL server"]
async fn listener_survives_restart() {
    let db = PgDatabase::create().await;
    let store = orvanta_store::connect(&db.url(), &options()).await.unwrap();
    let mut rx = store.subscribe();

    let restart = std::env::var("ORVANTA_TEST_PG_RESTART").unwrap_or_else(|_| {
        "pg_ctlcluster --skip-systemctl-redirect \"$(ls /etc/postgresql)\" main restart".to_owned()
    });
    let status = tokio::process::Command::new("sh").arg("-c").arg(&restart).status().await.unwrap();
    assert!(status.success(), "`{restart}` failed");

    let resync = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if let Ok(JobEvent::Resync) = rx.recv().await {
                return;
            }
        }
    });
    resync.await.expect("a Resync once the listener is back");

    // The pool reconnects too; then events flow again.
    let mut enqueued = None;
    for _ in 0..50 {
        match store.enqueue(&[new_job()]).await {
            Ok(answer) => {
                enqueued = Some(answer);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    assert!(enqueued.is_some(), "the store works again after the restart");
    expect_event(&mut rx, "an enqueue after the restart", |e| *e == JobEvent::Enqueued).await;
    drop(store);
}

/// The listener task ends with its store: subscribers then see the channel close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_ends_with_the_store() {
    let db = PgDatabase::create().await;
    let store = orvanta_store::connect(&db.url(), &options()).await.unwrap();
    let mut rx = store.subscribe();
    drop(store);
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            if let Err(tokio::sync::broadcast::error::RecvError::Closed) = rx.recv().await {
                return;
            }
        }
    });
    closed.await.expect("the event channel closes once the store is dropped");
}
