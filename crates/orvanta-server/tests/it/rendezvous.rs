//! Where tests and their jobs meet. Jobs run in a sandbox that sees none of
//! the test's files, but they reach the network: a small HTTP server on
//! 127.0.0.1 holds named values.
//!
//! - `POST /<name>` (body: a value) adds a value and answers how many
//!   `<name>` now has: a job says it started, counts its attempts, logs a step;
//! - `GET /<name>` waits (up to 120 s) until `<name>` has a value and answers
//!   the last one: a job waits for the test's go.
//!
//! - `POST /enter-<name>` and `POST /leave-<name>` count how many jobs are
//!   between the two at once: [`Rendezvous::most_at_once`].
//!
//! Bash: `curl -sf -d started "$URL"`; Python: `urllib.request.urlopen(url, b"started")`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Default)]
struct Shared {
    values: Mutex<HashMap<String, Vec<String>>>,
    /// Per name: (inside now, most inside at once).
    inside: Mutex<HashMap<String, (i64, i64)>>,
    changed: Notify,
}

impl Shared {
    fn last(&self, name: &str) -> Option<String> {
        self.values.lock().unwrap().get(name).and_then(|v| v.last().cloned())
    }

    async fn wait(&self, name: &str, limit: Duration) -> Option<String> {
        let until = tokio::time::Instant::now() + limit;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(value) = self.last(name) {
                return Some(value);
            }
            if tokio::time::timeout_at(until, changed).await.is_err() {
                return None;
            }
        }
    }
}

pub struct Rendezvous {
    base: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Rendezvous {
    pub async fn start() -> Self {
        let shared = Arc::new(Shared::default());
        let app = Router::new().route("/{name}", get(wait).post(add)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, shared, task }
    }

    /// The URL of `name`, for a job.
    pub fn url(&self, name: &str) -> String {
        format!("{}/{name}", self.base)
    }

    /// Every value `name` was given, in order.
    pub fn values(&self, name: &str) -> Vec<String> {
        self.shared.values.lock().unwrap().get(name).cloned().unwrap_or_default()
    }

    /// Waits until a job gives `name` a value; fails the test after `secs`.
    pub async fn wait(&self, name: &str, secs: u64) -> String {
        match self.shared.wait(name, Duration::from_secs(secs)).await {
            Some(value) => value,
            None => panic!("no job said '{name}' within {secs} s"),
        }
    }

    /// The most jobs that were between `enter-<name>` and `leave-<name>` at once.
    pub fn most_at_once(&self, name: &str) -> i64 {
        self.shared.inside.lock().unwrap().get(name).map_or(0, |(_, most)| *most)
    }

    /// Lets the jobs waiting on `name` go on.
    pub fn release(&self, name: &str) {
        self.shared.values.lock().unwrap().entry(name.to_owned()).or_default().push("go".into());
        self.shared.changed.notify_waiters();
    }
}

impl Drop for Rendezvous {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn wait(State(shared): State<Arc<Shared>>, Path(name): Path<String>) -> (StatusCode, String) {
    match shared.wait(&name, Duration::from_secs(120)).await {
        Some(value) => (StatusCode::OK, value),
        None => (StatusCode::REQUEST_TIMEOUT, "nobody said it".into()),
    }
}

async fn add(State(shared): State<Arc<Shared>>, Path(name): Path<String>, body: String) -> String {
    for (prefix, step) in [("enter-", 1), ("leave-", -1)] {
        if let Some(counter) = name.strip_prefix(prefix) {
            let mut inside = shared.inside.lock().unwrap();
            let (now, most) = inside.entry(counter.to_owned()).or_default();
            *now += step;
            *most = (*most).max(*now);
        }
    }
    let count = {
        let mut values = shared.values.lock().unwrap();
        let list = values.entry(name).or_default();
        list.push(body);
        list.len()
    };
    shared.changed.notify_waiters();
    count.to_string()
}
