//! Builders for the records the tests store, with plain defaults each test
//! overrides where it matters.

use orvanta_core::{
    JobId, JobKind, Language, Millis, NewJob, NewScript, RunnablePath, ScriptHash, ScriptSettings, Trigger, Username,
    WorkspaceId,
};
use orvanta_store::{Claim, JobEvent, NewUser, NewWorkspace, Store, StoreError};
use std::time::Duration;
use tokio::sync::broadcast;

/// A fixed "now" for the tests: 2023-11-14.
pub const T0: Millis = 1_700_000_000_000;

pub fn ws(s: &str) -> WorkspaceId {
    WorkspaceId::parse(s).unwrap()
}

pub fn user(s: &str) -> Username {
    Username::parse(s).unwrap()
}

pub fn path(s: &str) -> RunnablePath {
    RunnablePath::parse(s).unwrap()
}

/// A job id that sorts as `n` does (UUIDs compare as their text).
pub fn nth_id(n: u32) -> JobId {
    JobId::parse(&format!("00000000-0000-4000-8000-{n:012}")).unwrap()
}

pub fn new_workspace(id: &str) -> NewWorkspace {
    NewWorkspace { id: ws(id), name: format!("The {id} workspace"), created_by: user("admin"), created_at: T0 }
}

pub fn new_user(name: &str) -> NewUser {
    NewUser {
        username: user(name),
        email: format!("{name}@example.com"),
        name: None,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        super_admin: false,
        created_at: T0,
    }
}

/// A queued script job on `u/admin/hello` in workspace `demo`, tag `default`.
pub fn new_job() -> NewJob {
    NewJob {
        token_prefix: None,
        scopes: None,
        concurrency: None,
        flow: None,
        id: JobId::new(),
        workspace: ws("demo"),
        kind: JobKind::Script,
        path: Some(path("u/admin/hello")),
        script_hash: Some(ScriptHash::from_u64(0xabc)),
        language: Some(Language::Python3),
        args: serde_json::json!({"name": "world", "n": 1.5, "nested": {"ü": [1, 2, 3]}}).into(),
        created_by: user("admin"),
        permissioned_as: user("admin"),
        tag: "default".into(),
        trigger: Trigger::parse("api").unwrap(),
        scheduled_for: T0,
        parent_job: None,
        timeout_s: Some(30),
        idempotency_key: None,
        created_at: T0,
    }
}

/// A script version whose hash derives from where it is, its content and its parent (FNV-1a).
pub fn new_script(workspace: &str, at: &str, content: &str, parent: Option<ScriptHash>) -> NewScript {
    let parent_text = parent.map(|p| p.to_string()).unwrap_or_default();
    let digest = [workspace, at, content, &parent_text]
        .iter()
        .flat_map(|s| s.bytes().chain([0]))
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    NewScript {
        workspace: ws(workspace),
        path: path(at),
        hash: ScriptHash::from_u64(digest),
        parent_hash: parent,
        language: Language::Python3,
        content: content.into(),
        summary: format!("summary of {content}"),
        description: String::new(),
        schema: serde_json::json!({"type": "object", "properties": {"x": {"type": "integer"}}}),
        settings: ScriptSettings { timeout_s: Some(5), tag: Some("py".into()), ..ScriptSettings::default() },
        created_by: user("admin"),
        created_at: T0,
    }
}

/// A claim by `worker` for the `default` tag at `now`, leased for a minute.
pub fn claim_at<'a>(worker: &'a str, tags: &'a [String], now: Millis) -> Claim<'a> {
    Claim { worker, tags, now, lease_until: now + 60_000 }
}

pub fn default_tags() -> Vec<String> {
    vec!["default".to_owned()]
}

/// Enqueues one job and answers its id, asserting it was created.
pub async fn enqueue_one(store: &dyn Store, job: NewJob) -> JobId {
    let id = job.id;
    let answer = store.enqueue(&[job]).await.unwrap();
    assert_eq!(answer, vec![orvanta_store::Enqueued::Created(id)]);
    id
}

pub fn assert_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>, what: &str) {
    match r {
        Err(StoreError::Conflict(msg)) => assert!(!msg.is_empty(), "{what}: an empty conflict message"),
        other => panic!("{what}: expected a Conflict, got {other:?}"),
    }
}

/// The next event `want` accepts, skipping others; fails after 5 seconds.
pub async fn expect_event(
    rx: &mut broadcast::Receiver<JobEvent>,
    what: &str,
    want: impl Fn(&JobEvent) -> bool,
) -> JobEvent {
    let wait = async {
        loop {
            match rx.recv().await {
                Ok(e) if want(&e) => return e,
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => panic!("{what}: the event channel closed"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .unwrap_or_else(|_| panic!("{what}: no such event within 5 seconds"))
}
