//! A fresh, empty store per test: a SQLite file in a temporary folder, or a
//! PostgreSQL database created for the test and dropped after it.
//!
//! PostgreSQL is found at `ORVANTA_TEST_PG_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); when it cannot be reached
//! the PostgreSQL half fails, saying so, rather than passing without running.

use orvanta_store::{ConnectOptions, Store};
use sqlx::{Connection, Executor, PgConnection};
use std::sync::Arc;

const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The store under test and what to clean up after it; fields drop in
/// order, so the store closes before its database or folder goes.
pub struct Db {
    store: Arc<dyn Store>,
    _pg: Option<PgDatabase>,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("a temporary folder for the SQLite file");
        let url = format!("sqlite:{}", dir.path().join("orvanta.db").display());
        let store = orvanta_store::connect(&url, &options()).await.expect("opening a fresh SQLite store");
        Db { store, _pg: None, _dir: Some(dir) }
    }

    pub async fn postgres() -> Self {
        let db = PgDatabase::create().await;
        let store = orvanta_store::connect(&db.url(), &options()).await.expect("opening a fresh PostgreSQL store");
        Db { store, _pg: Some(db), _dir: None }
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }
}

/// Few connections per test: the tests run in parallel on one server.
pub fn options() -> ConnectOptions {
    ConnectOptions { max_connections: 5, ..ConnectOptions::default() }
}

/// The URL of the PostgreSQL server the tests create their databases on.
pub fn pg_admin_url() -> String {
    std::env::var("ORVANTA_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

/// `url` with its database replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[authority..].find('/').map_or(base.len(), |i| authority + i);
    format!("{}/{database}{query}", &base[..host_end])
}

/// A database created for one test, dropped (best effort) with this value,
/// also after a failed test.
pub struct PgDatabase {
    admin_url: String,
    name: String,
}

impl PgDatabase {
    pub async fn create() -> Self {
        let admin_url = pg_admin_url();
        let name = format!("orvanta_test_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&admin_url).await.unwrap_or_else(|e| {
            panic!(
                "the PostgreSQL conformance tests need a server: cannot connect to {} ({e}); \
                 start PostgreSQL or point ORVANTA_TEST_PG_URL at one",
                orvanta_store::redact_url(&admin_url)
            )
        });
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap_or_else(|e| panic!("cannot create the test database {name}: {e}"));
        let _ = admin.close().await;
        PgDatabase { admin_url, name }
    }

    pub fn url(&self) -> String {
        with_database(&self.admin_url, &self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        // On a thread of its own, since there is no async drop; FORCE ends
        // the connections the store's pool may still hold.
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut admin = PgConnection::connect(&admin_url).await.ok()?;
                admin.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str()).await.ok()?;
                admin.close().await.ok()
            })
        })
        .join();
        if !matches!(dropped, Ok(Some(()))) {
            eprintln!("could not drop the test database {}; drop it by hand", self.name);
        }
    }
}
